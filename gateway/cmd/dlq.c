/* dlq.c - `binhook dlq list|show|replay|drop`: the dead letters in the
 * state directory's retry queue (store/retryq.h). Deliveries are picked by webhook-id or
 * queue number, by endpoint, by rule and by the time they died.
 *
 * list and show only read, so they work while the daemon runs. replay and
 * drop change the queue, which only one process may write: they take the
 * state directory's lock, and while the daemon holds it they ask the daemon
 * to do it through its admin server ([admin] listen). A replayed delivery is
 * due at once, with its attempts counted from zero. */
#include "admin/admin.h"
#include "cmd/commands.h"
#include "config/config.h"
#include "store/dbstore.h"
#include "store/retryq.h"
#include "deliver/request.h"
#include "store/state.h"
#include "util/util.h"

#include <event2/http.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sel {
  struct admin_sel a; /* ids: argv's rest, NULL-terminated */
  size_t nids;
  int json;
};

struct walk {
  struct sel *s;
  struct retryq *q;
  const char *verb;
  size_t n;
  uint64_t *seqs;
};

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook dlq list|show|replay|drop [-c gateway.toml] [ID...] [--endpoint NAME] [--rule NAME]\n"
             "                 [--since TIME] [--until TIME] [--all] [--json] [--waiting]\n\n"
             "The dead letters: deliveries that ran out of retries, got an answer that is not retried, or\n"
             "were for an endpoint that answered 410 Gone.\n\n"
             "  list            one line per dead letter (--json: one JSON object each)\n"
             "  show            the whole delivery: metadata, then the request (method, URL, headers, body)\n"
             "  replay          send them again: due at once, attempts from zero (when the daemon starts)\n"
             "  drop            delete them for good\n\n"
             "  ID              a webhook-id (msg_...) or a queue number, as list prints them\n"
             "  --endpoint, --rule   only those of this endpoint or rule\n"
             "  --since, --until     only those that died in this range: 2026-11-21T10:00:00Z, seconds since\n"
             "                       the epoch, or an age such as 90m, 2h or 3d\n"
             "  --all           replay or drop every one (they refuse to act on nothing chosen)\n"
             "  --waiting       list the deliveries waiting for a retry instead of the dead letters\n\n"
             "list and show read the queue while the daemon runs. replay and drop change it: with the daemon\n"
             "running, they ask it through its admin server ([admin] listen), else they do it themselves.\n");
}

static void print_json(const struct retryq_rec *r)
{
  struct buf b = BUF_INIT;
  admin_rec_json(r, &b);
  puts(b.p);
  buf_free(&b);
}

static void iso(int64_t t, char *out, size_t n)
{
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int on_list(void *arg, const struct retryq_rec *r)
{
  struct walk *w = arg;
  if (!admin_sel_match(&w->s->a, r)) return 0;
  w->n++;
  if (w->s->json) {
    print_json(r);
    return 0;
  }
  char t[40];
  iso(r->dead ? r->dead_at : r->due, t, sizeof t);
  printf("%-6" PRIu64 " %s  %s  endpoint=%s rule=%s attempts=%u%s%s\n", r->seq, r->id, t, r->endpoint, r->rule,
         r->attempts, r->dead ? " reason=" : "", r->dead && r->reason ? r->reason : "");
  return 0;
}

static int on_collect(void *arg, const struct retryq_rec *r)
{
  struct walk *w = arg;
  if (!admin_sel_match(&w->s->a, r)) return 0;
  w->seqs = xrealloc(w->seqs, (w->n + 1) * sizeof *w->seqs);
  w->seqs[w->n++] = r->seq;
  return 0;
}

static int show(struct retryq *q, uint64_t seq)
{
  struct retryq_rec r;
  struct request rq;
  char err[512];
  if (retryq_read(q, seq, &r, err, sizeof err)) {
    fprintf(stderr, "binhook dlq: %s\n", err);
    return -1;
  }
  print_json(&r);
  if (request_decode(r.payload, r.payloadlen, &rq, err, sizeof err)) {
    fprintf(stderr, "binhook dlq: delivery %" PRIu64 ": %s\n", seq, err);
    retryq_rec_free(&r);
    return -1;
  }
  struct buf text = BUF_INIT;
  request_bare_to_text(&rq, &text);
  buf_addc(&text, '\n'); /* a blank line between deliveries */
  fwrite(text.p, 1, text.len, stdout);
  buf_free(&text);
  request_free(&rq);
  retryq_rec_free(&r);
  return 0;
}

static void add_param(struct buf *b, const char *key, const char *value)
{
  char *enc = evhttp_encode_uri(value);
  buf_printf(b, "%c%s=%s", b->len ? '&' : '?', key, enc);
  free(enc);
}

/* replay or drop done by the running daemon (POST /dlq/VERB). */
static int through_daemon(const struct config *cfg, const char *verb, const struct sel *s)
{
  struct buf q = BUF_INIT, path = BUF_INIT, body = BUF_INIT;
  char err[1024], num[32];
  for (size_t i = 0; i < s->nids; i++) add_param(&q, "id", s->a.ids[i]);
  if (s->a.endpoint) add_param(&q, "endpoint", s->a.endpoint);
  if (s->a.rule) add_param(&q, "rule", s->a.rule);
  if (s->a.since) snprintf(num, sizeof num, "%" PRId64, s->a.since), add_param(&q, "since", num);
  if (s->a.until) snprintf(num, sizeof num, "%" PRId64, s->a.until), add_param(&q, "until", num);
  if (s->a.all) add_param(&q, "all", "1");
  buf_printf(&path, "/dlq/%s%s", verb, q.p ? q.p : "");
  long code = admin_request(cfg->admin.listen, cfg->admin.token, "POST", path.p, &body, err, sizeof err);
  int rc = 1;
  if (code < 0) {
    fprintf(stderr, "binhook dlq %s: the daemon holds the queue, and %s\n", verb, err);
  } else if (code != 200) {
    fprintf(stderr, "binhook dlq %s: the daemon answered %ld: %.*s", verb, code, (int)body.len, body.p ? body.p : "");
  } else {
    unsigned long n = 0;
    const char *p = body.p ? strchr(body.p, ':') : NULL;
    if (p) n = strtoul(p + 1, NULL, 10);
    if (!n) {
      fprintf(stderr, "binhook dlq %s: no dead letter matches\n", verb);
      rc = s->nids ? 1 : 0;
    } else {
      fprintf(stderr, "%s %lu deliver%s (by the running daemon)\n", !strcmp(verb, "replay") ? "replayed" : "dropped",
              n, n == 1 ? "y" : "ies");
      rc = 0;
    }
  }
  buf_free(&q);
  buf_free(&path);
  buf_free(&body);
  return rc;
}

int cmd_dlq(int argc, char **argv)
{
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"endpoint", required_argument, NULL, 'e'},
                                           {"rule", required_argument, NULL, 'r'},
                                           {"since", required_argument, NULL, 's'},
                                           {"until", required_argument, NULL, 'u'},
                                           {"all", no_argument, NULL, 'a'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"waiting", no_argument, NULL, 'w'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *config_path = "gateway.toml";
  struct sel s;
  memset(&s, 0, sizeof s);
  char err[4400];
  int opt;
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *verb = argv[1];
  int write = !strcmp(verb, "replay") || !strcmp(verb, "drop");
  if (!write && strcmp(verb, "list") && strcmp(verb, "show")) {
    fprintf(stderr, "binhook dlq: unknown action '%s' (list, show, replay or drop)\n", verb);
    return 2;
  }
  optind = 2;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': config_path = optarg; break;
    case 'e': s.a.endpoint = optarg; break;
    case 'r': s.a.rule = optarg; break;
    case 's':
    case 'u':
      if (admin_parse_time(optarg, opt == 's' ? &s.a.since : &s.a.until)) {
        fprintf(stderr, "binhook dlq: '%s' is not a time (2026-11-21T10:00:00Z, epoch seconds, or 90m, 2h, 3d)\n",
                optarg);
        return 2;
      }
      break;
    case 'a': s.a.all = 1; break;
    case 'j': s.json = 1; break;
    case 'w': s.a.waiting = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  s.a.ids = argv + optind;
  s.nids = (size_t)(argc - optind);
  if (write && !s.a.all && !s.nids && !s.a.endpoint && !s.a.rule && !s.a.since && !s.a.until) {
    fprintf(stderr, "binhook dlq %s: choose what (IDs, --endpoint, --rule, --since, --until) or say --all\n", verb);
    return 2;
  }
  if (!strcmp(verb, "show") && !s.nids && !s.a.endpoint && !s.a.rule && !s.a.since && !s.a.until) s.a.all = 1;

  struct config cfg;
  config_defaults(&cfg);
  if (config_load(config_path, &cfg, err, sizeof err)) {
    fputs(err, stderr);
    fprintf(stderr, "binhook dlq: fix the configuration first ('binhook check -c %s')\n", config_path);
    config_free(&cfg);
    return 2;
  }
  int rc = 1;
  enum bh_errc code = BH_E_OTHER;
  struct state *st = NULL;
  struct retryq *q = NULL;
  struct dbstore *db = NULL;
  struct walk w = {&s, NULL, verb, 0, NULL};
  if (config_state_in_db(&cfg)) {
    /* the queue in a database: the active binhook writes it; the store is read directly */
    if (write) {
      if (cfg.admin.listen) {
        rc = through_daemon(&cfg, verb, &s);
        goto out;
      }
      fprintf(stderr, "binhook dlq %s: the queue is in the state store and only the active binhook writes it: set "
                      "[admin] listen, and run this with the configuration of a binhook of that deployment\n",
              verb);
      goto out;
    }
    struct conn_opts co;
    char *database = NULL;
    if (config_state_conn(&cfg, &co, &database, err, sizeof err) ||
        !(db = dbstore_open(&co, database, cfg.state.name, cfg.state.lease, err, sizeof err))) {
      if (database) conn_opts_free(&co);
      free(database);
      fprintf(stderr, "binhook dlq: %s\n", err);
      goto out;
    }
    conn_opts_free(&co);
    free(database);
    struct retryq_report rep;
    if (!(q = retryq_open_db(db, NULL, 1, &rep, err, sizeof err))) {
      fprintf(stderr, "binhook dlq: %s\n", err);
      goto out;
    }
    goto opened;
  }
  st = state_open_code(cfg.state.dir, !write, &code, err, sizeof err);
  if (!st && write && code == BH_E_LOCKED) {
    /* the daemon has the queue: it does the work through its admin server */
    if (cfg.admin.listen) {
      rc = through_daemon(&cfg, verb, &s);
      goto out;
    }
    fprintf(stderr, "binhook dlq: %s\n(with [admin] listen set, binhook dlq %s asks the running daemon instead)\n",
            err, verb);
    goto out;
  }
  if (!st) {
    fprintf(stderr, "binhook dlq: %s\n", err);
    goto out;
  }
  char qdir[4200];
  snprintf(qdir, sizeof qdir, "%s/queue", state_dir(st));
  struct retryq_opts qo = {.max_bytes = 0, .segment_bytes = cfg.state.segment_size, .state = NULL};
  struct retryq_report rep;
  if (!(q = retryq_open(qdir, &qo, !write, &rep, err, sizeof err))) {
    fprintf(stderr, "binhook dlq: %s\n", err);
    goto out;
  }
opened:
  w.q = q;
  if (!strcmp(verb, "list")) {
    retryq_list(q, on_list, &w);
    fprintf(stderr, "%zu %s\n", w.n, s.a.waiting ? "waiting" : "dead letters");
    rc = 0;
    goto out;
  }
  retryq_list(q, on_collect, &w);
  if (!w.n) {
    fprintf(stderr, "binhook dlq %s: no %s matches\n", verb, s.a.waiting ? "waiting delivery" : "dead letter");
    rc = s.nids ? 1 : 0;
    goto out;
  }
  rc = 0;
  for (size_t i = 0; i < w.n; i++) {
    if (!strcmp(verb, "show")) {
      if (show(q, w.seqs[i])) rc = 1;
    } else if (!strcmp(verb, "replay")) {
      retryq_revive(q, w.seqs[i], (int64_t)time(NULL));
    } else {
      retryq_done(q, w.seqs[i]);
    }
  }
  if (write) {
    if (retryq_sync(q, 30, err, sizeof err)) {
      fprintf(stderr, "binhook dlq %s: %s\n", verb, err);
      rc = 1;
    } else {
      fprintf(stderr, "%s %zu deliver%s%s\n", !strcmp(verb, "replay") ? "replayed" : "dropped", w.n,
              w.n == 1 ? "y" : "ies", !strcmp(verb, "replay") ? " (sent when binhook runs)" : "");
    }
  }
out:
  free(w.seqs);
  if (q && retryq_close(q, 30, err, sizeof err)) {
    fprintf(stderr, "binhook dlq: %s\n", err);
    rc = 1;
  }
  if (st) state_close(st);
  dbstore_free(db);
  config_free(&cfg);
  return rc;
}
