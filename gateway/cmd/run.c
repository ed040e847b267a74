/* run.c - `binhook run`: the daemon. Parses the command line, loads the
 * configuration, and hands over to daemon/ (daemon.h): open the parts, run
 * the loop until a stop, tear down. What happens between the binlog and
 * the receivers, and why nothing committed is lost, is told in daemon.h and
 * docs/DESIGN.md.
 *
 * Signals: SIGHUP reloads the configuration, the rule files and the
 * templates (a broken one is refused and the old one kept). SIGTERM and
 * SIGINT stop reading, give deliveries in flight a grace period, queue what
 * is left and save the checkpoint.
 *
 * With [state] store in a database, binhook is a standby until it holds
 * the lease (daemon/standby.h), then active until a signal stops it (it
 * gives the lease up) or it loses the lease (it steps down and is a
 * standby again). */
#include "cmd/commands.h"
#include "daemon/daemon.h"
#include "daemon/reload.h"
#include "daemon/standby.h"
#include "match/rules.h"
#include "store/dbstore.h"
#include "util/coredump.h"
#include "util/log.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook run [-c gateway.toml] [--source URL] [--from POS] [--state DIR]\n\n"
             "Reads the binary log and delivers what the rules match. SIGHUP reloads the\n"
             "configuration (a broken one is refused and the running one kept); SIGTERM or SIGINT\n"
             "stop it.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  --source URL        read from this server instead of [source] url (mysql://user@host:port;\n"
             "                      several of one topology separated by commas)\n"
             "  --from POS          start here instead of at the checkpoint: end, start, FILE:OFFSET or\n"
             "                      gtid:SET (the changes between are skipped or delivered again; logged);\n"
             "                      it replaces the checkpoint, a damaged one too\n"
             "  --state DIR         the state directory instead of [state] dir\n");
}

/* Fills args from the command line. Returns -1 to go on, else the exit
 * status. */
/* One turn as the active binhook: returns its exit status; *lost is 1
 * when it stepped down (the lease was lost) and another turn follows. */
static int active_turn(struct daemon *dm, struct standby *sb, int *lost)
{
  char err[1024];
  dm->db = sb->db;
  dm->lease = sb->lease;
  if (dm->lease && lease_keep(dm->lease, err, sizeof err)) {
    log_error("cannot start: %s", err);
    return 1;
  }
  int rc = daemon_open(dm);
  if (!rc) daemon_run(dm);
  *lost = dm->lost;
  int closed = daemon_close(dm);
  if (*lost) lease_end_turn(dm->lease); /* its keeper is done before the next wait uses the connection */
  return rc ? rc : closed;
}

/* [state] store in a database: standby until the lease is held, active
 * until it is lost or a signal stops it, and again. */
static int run_with_store(struct daemon *dm)
{
  struct standby sb = {0};
  struct daemon_args args = dm->args;
  int rc = 0;
  for (;;) {
    /* signals wait for the handlers of the turn; the threads started in it inherit the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    int w = standby_wait(&sb, &dm->rs->cfg);
    if (w) {
      rc = w == 1 ? 0 : w;
      ruleset_free(dm->rs);
      break;
    }
    int lost = 0;
    rc = active_turn(dm, &sb, &lost); /* frees dm->rs */
    if (!lost) break;
    memset(dm, 0, sizeof *dm);
    dm->args = args;
    if (!(dm->rs = reload_load(dm, dm->args.config_path))) {
      log_error("cannot go on as a standby: fix the configuration ('binhook check -c %s' lists every problem)",
                dm->args.config_path);
      rc = 2;
      break;
    }
    reload_apply_log(dm->rs);
  }
  standby_free(&sb); /* gives the lease up after a stop, so that a standby takes over at once */
  return rc;
}

static int parse_args(int argc, char **argv, struct daemon_args *args)
{
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"source", required_argument, NULL, 's'},
                                           {"from", required_argument, NULL, 'f'},
                                           {"state", required_argument, NULL, 'S'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': args->config_path = optarg; break;
    case 's': args->source_url = optarg; break;
    case 'f': args->from = optarg; break;
    case 'S': args->state_dir = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook run: unexpected argument '%s' (the file goes after -c)\n", argv[optind]);
    return 2;
  }
  return -1;
}

int cmd_run(int argc, char **argv)
{
  struct daemon dm;
  memset(&dm, 0, sizeof dm);
  dm.args.config_path = "gateway.toml";
  int rc = parse_args(argc, argv, &dm.args);
  if (rc >= 0) return rc;
  if (!(dm.rs = reload_load(&dm, dm.args.config_path))) {
    log_error("cannot start: fix the configuration ('binhook check -c %s' lists every problem)",
              dm.args.config_path);
    return 2;
  }
  reload_apply_log(dm.rs);
  /* main made the process undumpable; the configuration may allow cores */
  char err[256];
  if (coredump_policy(dm.rs->cfg.admin.allow_core_dumps, err, sizeof err)) log_warn("%s", err);
  else if (dm.rs->cfg.admin.allow_core_dumps)
    log_warn("[admin] allow_core_dumps = true: a crash may write a core file, and it holds secrets and row data; "
             "keep it safe, and turn this off again after debugging");
  if (config_state_in_db(&dm.rs->cfg)) return run_with_store(&dm);
  rc = daemon_open(&dm);
  if (!rc) daemon_run(&dm);
  int closed = daemon_close(&dm);
  return rc ? rc : closed;
}
