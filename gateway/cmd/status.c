/* status.c - the commands that ask the running daemon through its admin
 * server ([admin] listen). `binhook status` gets /status and prints it for
 * people, or as it came with --json: exit 0 when the daemon answered and is
 * healthy, 1 when it is not running or not healthy (so that scripts can use
 * it). `binhook snapshot` starts a snapshot of tables (POST /snapshot). Both
 * exit 2 for usage. */
#include "admin/admin.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "config/config.h"
#include "util/util.h"

#include <event2/http.h>

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook status [-c gateway.toml] [--json]\n\n"
             "Asks the running daemon (through [admin] listen) how it is: streaming or not, the checkpoint,\n"
             "the retry queue and each endpoint. Exit 0 when it is healthy, 1 when it is not running or not\n"
             "healthy.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  --json              print the daemon's /status answer as it is\n");
}

static const char *str(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static const char *age(double s, char *out, size_t n)
{
  if (s < 120) snprintf(out, n, "%.0fs", s);
  else if (s < 7200) snprintf(out, n, "%.0fm", s / 60);
  else if (s < 172800) snprintf(out, n, "%.1fh", s / 3600);
  else snprintf(out, n, "%.1fd", s / 86400);
  return out;
}

/* The role line of a binhook whose state is in a database. */
static void print_role(json_t *st)
{
  json_t *l = json_object_get(st, "lease");
  char a[32];
  if (!*str(st, "role")) return;
  printf("role:       %s, store %s; lease held by %s pid %.0f (epoch %.0f), renewed %s ago, %.0f takeovers\n",
         str(st, "role"), str(st, "store"), *str(l, "host") ? str(l, "host") : "nobody", num(l, "pid"),
         num(l, "epoch"), age(num(l, "age_seconds"), a, sizeof a), num(l, "takeovers"));
}

static void print_human(json_t *st, int healthy, const char *why)
{
  json_t *src = json_object_get(st, "source"), *cp = json_object_get(st, "checkpoint");
  json_t *q = json_object_get(st, "queue"), *tot = json_object_get(st, "totals");
  char a[32];
  if (!strcmp(str(st, "role"), "standby")) {
    printf("binhook %s, pid %.0f: a standby (%s)\n", str(st, "version"), num(st, "pid"),
           healthy ? "ready to take over" : why);
    print_role(st);
    return;
  }
  printf("binhook %s, pid %.0f, up %s: %s\n", str(st, "version"), num(st, "pid"), age(num(st, "uptime_seconds"), a, sizeof a),
         healthy ? "healthy" : why);
  print_role(st);
  printf("source:     %s, %.0f s behind%s\n", json_is_true(json_object_get(src, "streaming")) ? "streaming" : "not connected",
         num(src, "lag_seconds"), json_is_true(json_object_get(src, "paused")) ? ", paused (backpressure)" : "");
  if (*str(cp, "file")) /* a start at a GTID has no file until its first transaction */
    printf("checkpoint: %s:%.0f%s%s\n", str(cp, "file"), num(cp, "pos"),
           json_is_string(json_object_get(cp, "gtid")) ? " gtid " : "", str(cp, "gtid"));
  else
    printf("checkpoint: gtid %s (no binlog position until the first transaction)\n", str(cp, "gtid"));
  json_t *sn = json_object_get(st, "snapshot");
  if (sn)
    printf("snapshot:   %s, %.0f of about %.0f rows%s\n",
           json_is_true(json_object_get(sn, "running")) ? "running" : "done", num(sn, "rows_done"),
           num(sn, "rows_estimated"), json_is_true(json_object_get(sn, "running")) ? "" : " (the stream follows)");
  printf("queue:      %.0f waiting, %.0f dead letters, %.0f bytes on disk%s\n", num(q, "waiting"), num(q, "dead"),
         num(q, "bytes"), json_is_false(json_object_get(q, "writable")) ? ", NOT WRITABLE" : "");
  printf("totals:     %.0f matches, %.0f delivered, %.0f failed attempts, %.0f to the dead letters\n",
         num(tot, "matches"), num(tot, "delivered"), num(tot, "failed_attempts"), num(tot, "dead"));
  json_t *eps = json_object_get(st, "endpoints"), *ep;
  size_t i;
  if (json_array_size(eps)) printf("%-20s %-8s %9s %9s %8s %10s %9s\n", "endpoint", "state", "in flight", "waiting",
                                   "oldest", "delivered", "dead");
  json_array_foreach(eps, i, ep) {
    const char *state = json_is_true(json_object_get(ep, "disabled"))       ? "disabled"
                        : json_is_true(json_object_get(ep, "circuit_open")) ? "open"
                                                                            : "up";
    printf("%-20s %-8s %9.0f %9.0f %8s %10.0f %9.0f\n", str(ep, "name"), state, num(ep, "in_flight"), num(ep, "depth"),
           age(num(ep, "oldest_age_seconds"), a, sizeof a), num(ep, "delivered"), num(ep, "dead_letters"));
  }
}

/* Loads the configuration of command cmd, which asks the daemon through its
 * admin server; 0, or -1 after saying why it cannot (without [admin] listen,
 * what is lacking). cfg is freed on -1. */
static int load_admin(struct config *cfg, const char *path, const char *cmd, const char *lacking)
{
  if (load_config(path, cfg)) {
    fprintf(stderr, "binhook %s: fix the configuration first ('binhook check -c %s')\n", cmd, path);
    config_free(cfg);
    return -1;
  }
  if (!cfg->admin.listen) {
    fprintf(stderr,
            "binhook %s: '%s' has no [admin] listen, so %s: set it (such as listen = \"127.0.0.1:9465\") "
            "and restart binhook run\n",
            cmd, path, lacking);
    config_free(cfg);
    return -1;
  }
  return 0;
}

int cmd_status(int argc, char **argv)
{
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *config_path = "gateway.toml";
  int json = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': config_path = optarg; break;
    case 'j': json = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook status: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  struct config cfg;
  char err[4400];
  if (load_admin(&cfg, config_path, "status", "the daemon serves no status")) return 2;
  int rc = 1;
  struct buf body = BUF_INIT, health = BUF_INIT;
  long code = admin_request(cfg.admin.listen, cfg.admin.token, "GET", "/status", &body, err, sizeof err);
  if (code < 0) {
    fprintf(stderr, "binhook status: %s\n", err);
    goto out;
  }
  if (code != 200) {
    fprintf(stderr, "binhook status: the admin server at %s answered %ld: %.*s\n", cfg.admin.listen, code,
            (int)body.len, body.p ? body.p : "");
    goto out;
  }
  long hc = admin_request(cfg.admin.listen, cfg.admin.token, "GET", "/healthz", &health, err, sizeof err);
  int healthy = hc == 200;
  if (json) {
    fwrite(body.p, 1, body.len, stdout);
  } else {
    json_error_t jerr;
    json_t *st = json_loadb(body.p, body.len, 0, &jerr);
    if (!st) {
      fprintf(stderr, "binhook status: the daemon's answer is not JSON: %s\n", jerr.text);
      goto out;
    }
    if (health.len && health.p[health.len - 1] == '\n') health.p[--health.len] = 0;
    print_human(st, healthy, health.p ? health.p : "no answer from /healthz");
    json_decref(st);
  }
  rc = healthy ? 0 : 1;
out:
  buf_free(&body);
  buf_free(&health);
  config_free(&cfg);
  return rc;
}

static void endpoint_usage(FILE *f)
{
  fprintf(f, "usage: binhook endpoint enable NAME [-c gateway.toml]\n\n"
             "Asks the running daemon (through [admin] listen) to enable an endpoint that answered 410 Gone\n"
             "and was disabled (it stays disabled across restarts and takeovers until then). Its dead\n"
             "letters stay where they are: 'binhook dlq replay --endpoint NAME' sends them again.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n");
}

int cmd_endpoint(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *config_path = "gateway.toml";
  int opt;
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    endpoint_usage(stdout);
    return 0;
  }
  if (argc < 2 || strcmp(argv[1], "enable")) {
    if (argc >= 2 && argv[1][0] == '-') fprintf(stderr, "binhook endpoint: unknown option '%s'\n", argv[1]);
    else fprintf(stderr, "binhook endpoint: %s\n", argc < 2 ? "say what to do: enable NAME" : "the one action is enable");
    endpoint_usage(stderr);
    return 2;
  }
  optind = 2;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': config_path = optarg; break;
    case 'h': endpoint_usage(stdout); return 0;
    default: endpoint_usage(stderr); return 2;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "binhook endpoint enable: name one endpoint\n");
    return 2;
  }
  struct config cfg;
  char err[4400];
  if (load_admin(&cfg, config_path, "endpoint", "the daemon cannot be asked")) return 2;
  struct buf path = BUF_INIT, body = BUF_INIT;
  char *enc = evhttp_encode_uri(argv[optind]);
  buf_printf(&path, "/endpoints/%s/enable", enc);
  free(enc);
  int rc = 1;
  long code = admin_request(cfg.admin.listen, cfg.admin.token, "POST", path.p, &body, err, sizeof err);
  if (code < 0) {
    fprintf(stderr, "binhook endpoint enable: %s\n", err);
  } else if (code != 200) {
    fprintf(stderr, "binhook endpoint enable: the daemon answered %ld: %.*s", code, (int)body.len, body.p ? body.p : "");
  } else {
    int was = body.p && strstr(body.p, "\"was_disabled\":true");
    fprintf(stderr, "endpoint '%s' %s\n", argv[optind], was ? "is enabled again" : "was not disabled");
    rc = 0;
  }
  buf_free(&path);
  buf_free(&body);
  config_free(&cfg);
  return rc;
}

static void snapshot_usage(FILE *f)
{
  fprintf(f, "usage: binhook snapshot [-c gateway.toml] [TABLE...]\n\n"
             "Asks the running daemon (through [admin] listen) to read tables again, in one consistent\n"
             "snapshot, and deliver their rows as snapshot events to the rules that take them\n"
             "(on = [\"snapshot\"]). The rows go out when the stream reaches the snapshot's position, so\n"
             "each row comes after the changes before it and before those after it. A stop cuts it: ask\n"
             "again.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  TABLE               schema.table globs (default: [source] tables)\n");
}

int cmd_snapshot(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *config_path = "gateway.toml";
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': config_path = optarg; break;
    case 'h': snapshot_usage(stdout); return 0;
    default: snapshot_usage(stderr); return 2;
    }
  }
  struct config cfg;
  char err[4400];
  if (load_admin(&cfg, config_path, "snapshot", "the daemon cannot be asked")) return 2;
  struct buf path = BUF_INIT, body = BUF_INIT;
  buf_adds(&path, "/snapshot");
  for (int i = optind; i < argc; i++) {
    char *enc = evhttp_encode_uri(argv[i]);
    buf_printf(&path, "%ctable=%s", i == optind ? '?' : '&', enc);
    free(enc);
  }
  int rc = 1;
  long code = admin_request(cfg.admin.listen, cfg.admin.token, "POST", path.p, &body, err, sizeof err);
  if (code < 0) {
    fprintf(stderr, "binhook snapshot: %s\n", err);
  } else if (code != 200) {
    fprintf(stderr, "binhook snapshot: the daemon answered %ld: %.*s", code, (int)body.len, body.p ? body.p : "");
  } else {
    json_error_t jerr;
    json_t *o = json_loadb(body.p, body.len, 0, &jerr);
    json_t *pos = o ? json_object_get(o, "position") : NULL;
    if (json_object_get(pos, "lsn"))
      fprintf(stderr, "snapshot started at %s: its rows go out when the stream gets there (binhook status shows "
                      "the progress)\n", str(pos, "lsn"));
    else
      fprintf(stderr, "snapshot started at %s:%.0f: its rows go out when the stream gets there (binhook status "
                      "shows the progress)\n", str(pos, "file"), num(pos, "pos"));
    json_decref(o);
    rc = 0;
  }
  buf_free(&path);
  buf_free(&body);
  config_free(&cfg);
  return rc;
}
