/* queue.c - `binhook queue verify`: checks the retry queue of a state
 * directory offline, against its manifest (store/retryq.h): every segment
 * there and whole, every record intact, and the deliveries that damage
 * took, each with the binlog position and GTID of its change. It only
 * reads (a readonly open repairs nothing), so it works while the daemon
 * runs, though it then sees a queue being written. Exit 0: intact; 1:
 * damaged or unreadable; 2: usage. */
#include "cmd/commands.h"
#include "cmd/load.h"
#include "store/retryq.h"
#include "store/state.h"
#include "util/util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook queue verify [-c gateway.toml] [--state DIR]\n\n"
             "Checks the retry queue of a state directory without changing it: every segment the manifest\n"
             "lists is there and as long as it was, every record is intact. Damage is described, with the\n"
             "deliveries it took (webhook-id, rule, endpoint, and the binlog position and GTID of the change),\n"
             "and the low-water mark from which 'binhook run' reads the binlog again to make them again.\n"
             "Exit 0 when the queue is intact, 1 when it is damaged or cannot be read.\n\n"
             "  -c, --config FILE   the configuration, for [state] dir (default: gateway.toml)\n"
             "  --state DIR         the state directory itself (no configuration is read)\n");
}

static void print_lost(const struct manifest_entry *e)
{
  printf("lost: %s rule=%s endpoint=%s", e->id, e->rule, e->endpoint);
  if (e->binlog) printf(" change=%s:%" PRIu64, e->binlog, e->binlog_pos);
  if (e->gtid) printf(" gtid=%s", e->gtid);
  printf("%s\n", e->dead ? " (a dead letter)" : "");
}

static int verify(const char *dir)
{
  char err[1024], qdir[4200];
  struct state *st = state_open(dir, 1, err, sizeof err);
  if (!st) {
    fprintf(stderr, "binhook queue verify: %s\n", err);
    return 1;
  }
  snprintf(qdir, sizeof qdir, "%s/queue", state_dir(st));
  struct retryq_opts qo = {0};
  struct retryq_report rep;
  struct retryq *q = retryq_open(qdir, &qo, 1, &rep, err, sizeof err);
  if (!q) {
    fprintf(stderr, "binhook queue verify: %s\n", err);
    state_close(st);
    return 1;
  }
  printf("queue '%s': %zu segments, %" PRIu64 " bytes; %zu waiting, %zu dead letters\n", qdir, rep.segments,
         rep.bytes, rep.live, rep.dead);
  const struct retryq_damage *dg = retryq_damage(q);
  int rc = 0;
  if (!dg) {
    printf("intact\n");
  } else {
    rc = 1;
    for (size_t i = 0; i < dg->nwhat; i++) printf("damaged: %s\n", dg->what[i]);
    for (size_t i = 0; i < dg->nlost; i++) print_lost(&dg->lost[i]);
    if (dg->unnamed) printf("more deliveries may be lost that the queue cannot name\n");
    if (dg->has_low)
      printf("low-water mark: %s:%" PRIu64 "%s%s ('binhook run' reads the binlog again from there)\n", dg->low.file,
             dg->low.pos, dg->low.gtid[0] ? " gtid " : "", dg->low.gtid);
    else
      printf("low-water mark: unknown (no manifest): the lost deliveries cannot be made again\n");
  }
  retryq_close(q, 0, NULL, 0);
  state_close(st);
  return rc;
}

int cmd_queue(int argc, char **argv)
{
  const char *config_path = "gateway.toml", *state = NULL;
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'}, {"state", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc < 2 || strcmp(argv[1], "verify")) {
    if (argc >= 2 && argv[1][0] == '-') fprintf(stderr, "binhook queue: unknown option '%s'\n", argv[1]);
    else fprintf(stderr, "binhook queue: %s\n", argc < 2 ? "say what to do: verify" : "unknown action (verify)");
    usage(stderr);
    return 2;
  }
  argc--, argv++;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': config_path = optarg; break;
    case 's': state = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook queue verify: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (state) return verify(state);
  struct config cfg;
  int bad = load_config(config_path, &cfg);
  int rc = 2;
  if (bad) {
    fprintf(stderr, "binhook queue verify: fix the configuration first ('binhook check -c %s')\n", config_path);
  } else if (config_state_in_db(&cfg)) {
    /* rows of a database: what it committed it keeps, there are no segments to check */
    fprintf(stderr, "binhook queue verify: the queue of '%s' is in the state store ([state] store), not in files: "
                    "the database keeps what it committed ('binhook dlq list' reads it there)\n",
            config_path);
    rc = 0;
  } else {
    rc = verify(cfg.state.dir);
  }
  config_free(&cfg);
  return rc;
}
