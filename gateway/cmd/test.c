/* test.c - `binhook test`: a dry run of the rules. Events come from a
 * JSON file (one canonical event, or several one after another as `binhook
 * tail` prints them) or from binlog files; every match prints the exact
 * request it would send. Nothing is sent. */
#include "source/binfile.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "config/config.h"
#include "source/decoder.h"
#include "event/change_json.h"
#include "util/json.h"
#include "util/log.h"
#include "deliver/request.h"
#include "match/rules.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tester {
  struct matcher *m;
  int json;
  int64_t now;
  const char *only_rule;
  unsigned long events, matches;
  int failed;
  int matched_this; /* the current event matched something */
  struct buf out;
};

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook test [-c gateway.toml] [--json] [--now SECONDS] [--rule NAME] --event FILE\n"
             "       binhook test [-c gateway.toml] [--json] [--now SECONDS] [--rule NAME] --binlog FILE...\n\n"
             "Runs the rules on events and prints, for every match, the exact request it would send\n"
             "(method, URL, headers with the signature, body) or the e-mail. Sends nothing.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  --event FILE        canonical events as JSON (as binhook tail prints them); - for stdin\n"
             "  --binlog FILE...    events from binlog files (all remaining arguments)\n"
             "  --json              one JSON object per request: rule, endpoint, method, url, id,\n"
             "                      headers, body (and mail_from, mail_to for e-mail)\n"
             "  --now SECONDS       the signing time (default: now), for output that can be compared\n"
             "  --rule NAME         only this rule\n");
}

static void on_match(void *arg, const struct rule *r, const struct change *e)
{
  struct tester *t = arg;
  char err[1024];
  if (t->only_rule && strcmp(t->only_rule, r->name)) return;
  t->matched_this = 1;
  for (size_t i = 0; i < r->nendpoints; i++) {
    struct request q;
    buf_reset(&t->out);
    if (request_build(r, r->endpoints[i], e, t->now, 1, &q, err, sizeof err)) {
      struct buf id = BUF_INIT;
      change_id(e, &id);
      fprintf(stderr, "binhook test: event %s: %s\n", id.p, err);
      buf_free(&id);
      t->failed = 1;
      continue;
    }
    t->matches++;
    if (t->json) {
      request_to_json(&q, &t->out);
      buf_addc(&t->out, '\n');
    } else {
      struct buf id = BUF_INIT;
      change_id(e, &id);
      buf_printf(&t->out, "# rule '%s' matches %s (%s", r->name, id.p, change_type_name(e->type));
      if (e->table) buf_printf(&t->out, " %s.%s", e->table->schema, e->table->name);
      buf_printf(&t->out, ") -> endpoint '%s'\n", r->endpoints[i]->name);
      request_to_text(&q, &t->out);
      buf_addc(&t->out, '\n');
      buf_free(&id);
    }
    fwrite(t->out.p, 1, t->out.len, stdout);
    request_free(&q);
  }
}

static void feed(struct tester *t, struct change *e)
{
  if (e->type != EVENT_COMMIT && e->type != EVENT_HEARTBEAT) t->events++;
  t->matched_this = 0;
  matcher_feed(t->m, e, on_match, t);
  if (!t->json && !t->matched_this && e->type != EVENT_COMMIT && e->type != EVENT_HEARTBEAT) {
    struct buf id = BUF_INIT;
    change_id(e, &id);
    printf("# no rule matches %s (%s", id.p, change_type_name(e->type));
    if (e->table) printf(" %s.%s", e->table->schema, e->table->name);
    printf(")\n\n");
    buf_free(&id);
  }
}

static int emit(void *ctx, struct change *e, char *err, size_t errsz)
{
  (void)err, (void)errsz;
  feed(ctx, e);
  change_free(e);
  return 0;
}

static void warn(void *ctx, const char *msg)
{
  (void)ctx;
  log_warn("%s", msg);
}

static int read_all(const char *path, struct buf *out, char *err, size_t errsz)
{
  char ebuf[128], chunk[65536];
  FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!f) return bh_err(err, errsz, "cannot open '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    buf_add(out, chunk, n);
  int bad = ferror(f);
  if (f != stdin) fclose(f);
  if (bad) return bh_err(err, errsz, "cannot read '%s'", path);
  return 0;
}

/* The events of a JSON file, one value after another; the file counts as
 * one transaction (a COMMIT follows its last event). */
static int feed_json(struct tester *t, const char *path)
{
  char err[1024];
  struct buf text = BUF_INIT;
  if (read_all(path, &text, err, sizeof err)) {
    fprintf(stderr, "binhook test: %s\n", err);
    return 2;
  }
  size_t pos = 0;
  int rc = 0, n = 0;
  struct change last = {.type = EVENT_COMMIT};
  for (;;) {
    json_skip_ws(text.p ? text.p : "", text.len, &pos);
    if (pos >= text.len) break;
    size_t start = pos;
    struct jv v;
    char what[128];
    int bad = json_parse_value(text.p, text.len, &pos, &v, what, sizeof what);
    jv_free(&v);
    int line, col;
    json_line_col(text.p, bad ? pos : start, &line, &col);
    if (bad) {
      fprintf(stderr, "binhook test: %s:%d:%d: not valid JSON: %s\n", path, line, col, what);
      rc = 2;
      break;
    }
    struct change *e = change_from_json(text.p + start, pos - start, err, sizeof err);
    if (!e) {
      fprintf(stderr, "binhook test: %s:%d:%d: %s\n", path, line, col, err);
      rc = 2;
      break;
    }
    n++;
    last.position = e->position;
    last.ts = e->ts;
    last.tx_pos = e->tx_pos;
    last.tx_index = e->tx_index + 1;
    feed(t, e);
    change_free(e);
  }
  if (!rc && !n) {
    fprintf(stderr, "binhook test: '%s' holds no event\n", path);
    rc = 2;
  }
  if (n) matcher_feed(t->m, &last, on_match, t);
  buf_free(&text);
  return rc;
}

int cmd_test(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"event", required_argument, NULL, 'e'},
      {"binlog", no_argument, NULL, 'b'},       {"json", no_argument, NULL, 'j'},
      {"now", required_argument, NULL, 'n'},    {"rule", required_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *path = "gateway.toml", *event_file = NULL;
  int binlog = 0, opt;
  struct tester t = {.now = (int64_t)time(NULL)};
  optind = 1;
  while (!binlog && (opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 'e': event_file = optarg; break;
    case 'b': binlog = 1; break;
    case 'j': t.json = 1; break;
    case 'r': t.only_rule = optarg; break;
    case 'n': {
      char *end;
      errno = 0;
      long long v = strtoll(optarg, &end, 10);
      if (errno || *end || end == optarg || v < 0) {
        fprintf(stderr, "binhook test: --now takes seconds since the epoch, not '%s'\n", optarg);
        return 2;
      }
      t.now = v;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!binlog == !event_file) {
    fprintf(stderr, "binhook test: give either --event FILE or --binlog FILE...\n");
    usage(stderr);
    return 2;
  }
  if (binlog && optind >= argc) {
    fprintf(stderr, "binhook test: --binlog needs at least one file\n");
    return 2;
  }
  if (!binlog && optind < argc) {
    fprintf(stderr, "binhook test: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }

  struct config cfg;
  struct ruleset *rs = NULL;
  if (load_config(path, &cfg) || load_ruleset(&cfg, 1, &rs)) {
    fprintf(stderr, "binhook test: fix the configuration first ('binhook check -c %s' lists every problem)\n",
            path);
    config_free(&cfg);
    return 2;
  }
  if (t.only_rule) {
    int found = 0;
    for (size_t i = 0; i < rs->nrules; i++)
      found |= !strcmp(rs->rules[i].name, t.only_rule);
    if (!found) {
      fprintf(stderr, "binhook test: no enabled rule is called '%s'\n", t.only_rule);
      ruleset_free(rs);
      return 2;
    }
  }
  t.m = matcher_new(rs);
  int rc = 0;
  if (binlog) {
    char err[1024];
    struct decoder_opts dopts = {.include = rs->cfg.source.tables, .exclude = rs->cfg.source.exclude};
    struct decoder_cb cb = {.ctx = &t, .emit = emit, .warn = warn};
    for (int i = optind; i < argc && !rc; i++) {
      struct decoder *d = decoder_new(&dopts, &cb);
      if (binfile_read(argv[i], d, err, sizeof err)) {
        fprintf(stderr, "binhook test: %s\n", err);
        rc = 1;
      }
      decoder_free(d);
    }
  } else {
    rc = feed_json(&t, event_file);
  }
  if (!rc && t.failed) rc = 1;
  if (!t.json && !rc)
    printf("# %lu event%s, %lu request%s\n", t.events, t.events == 1 ? "" : "s", t.matches,
           t.matches == 1 ? "" : "s");
  fflush(stdout);
  matcher_free(t.m);
  buf_free(&t.out);
  ruleset_free(rs);
  return rc;
}
