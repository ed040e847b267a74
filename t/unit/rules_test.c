/* rules_test.c - rule matching (tables, on, when, statements, thresholds,
 * several rules and endpoints, templates) and the messages of wrong rule
 * configurations, from config_load through ruleset_build to matcher_feed.
 *
 * Usage: rules_test CASES-FILE (t/data/rules.cases; t1201-unit-rules.sh
 * passes it). Every case of the file is one test (its format is described at
 * the top of the file); then a ruleset of 1,000 rules on distinct tables
 * checks that the table index gives each table its own rule only.
 *
 * Every case runs in a directory of its own under a scratch directory
 * (mkdtemp in $TMPDIR, else /tmp; removed at exit unless BINHOOK_TEST_KEEP=1):
 * the configuration is DIR/gateway.toml, other files DIR/PATH, templates
 * DIR/templates/NAME. Messages are compared with the case's directory
 * written DIR and its main file FILE.
 *
 * Events are fed as the decoder hands them over: the rows of one statement
 * share one struct rcstr for their SQL (the matcher fires a statement rule
 * once per statement by comparing those pointers) and, per schema.table, one
 * struct table (as one TABLE_MAP serves all the rows of a statement). */
#include "tap.h"
#include "casefile.h"
#include "util/buf.h"
#include "config/config.h"
#include "event/change.h"
#include "event/change_json.h"
#include "deliver/request.h"
#include "match/rules.h"
#include "source/schema.h"
#include "util/util.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIGN_NOW 1700000000 /* the signing time of the requests a case shows */

static char root[4096];                        /* the scratch directory */
static const char *cases_name = "rules.cases"; /* the cases file, in messages */

/* Writes text to dir/rel, making the directories on the way. 0 or -1. */
static int write_file(const char *dir, const char *rel, const char *text)
{
  struct buf path = BUF_INIT;
  buf_printf(&path, "%s/%s", dir, rel);
  for (char *s = path.p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
    *s = 0;
    if (mkdir(path.p, 0700) && errno != EEXIST) {
      buf_free(&path);
      return -1;
    }
    *s = '/';
  }
  FILE *f = fopen(path.p, "w");
  buf_free(&path);
  if (!f) return -1;
  fputs(text, f);
  return fclose(f) ? -1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

static void remove_root(void)
{
  const char *keep = getenv("BINHOOK_TEST_KEEP");
  if (keep && !strcmp(keep, "1"))
    diag("scratch directory kept: %s", root);
  else if (root[0])
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Replaces every occurrence of from in s by to. Caller frees. */
static char *replace_all(const char *s, const char *from, const char *to)
{
  struct buf b = BUF_INIT;
  size_t n = strlen(from);
  for (const char *hit; (hit = strstr(s, from)); s = hit + n) {
    buf_add(&b, s, (size_t)(hit - s));
    buf_adds(&b, to);
  }
  buf_adds(&b, s);
  return buf_steal(&b);
}

/* ---- loading ---- */

/* Loads dir/gateway.toml and builds its ruleset as `binhook run` does (with
 * the secrets needed). Returns the ruleset, or NULL with every problem in
 * errs (config_load's first, then ruleset_build's), one a line. */
static struct ruleset *load_rules(const char *dir, struct buf *errs)
{
  struct config cfg;
  struct buf path = BUF_INIT, more = BUF_INIT;
  size_t errsz = 1 << 16;
  char *cerrs = xmalloc(errsz);
  struct ruleset *rs = NULL;
  buf_printf(&path, "%s/gateway.toml", dir);
  config_defaults(&cfg);
  if (config_load(path.p, &cfg, cerrs, errsz)) buf_adds(errs, cerrs);
  if (cfg.files && ruleset_build(&cfg, 1, &rs, &more)) {
    if (errs->len) buf_addc(errs, '\n');
    buf_add(errs, more.p ? more.p : "", more.len);
  }
  if (errs->len && rs) { /* config_load failed but the rules built */
    ruleset_free(rs);
    rs = NULL;
  }
  config_free(&cfg);
  buf_free(&more);
  buf_free(&path);
  free(cerrs);
  if (!errs->p) buf_addlit(errs, "");
  return rs;
}

/* ---- the cases file ---- */

struct named_text {
  char *name;
  struct buf text;
};

struct kase {
  int line; /* of case: */
  char *name;
  struct buf config;
  struct named_text *files, *templates;
  size_t nfiles, ntemplates;
  char **env; /* NAME=VALUE */
  size_t nenv;
  char **events; /* one line each */
  int *event_lines;
  size_t nevents;
  struct buf want;
  int has_config, has_want, has_errors, show_body;
};

static void kase_free(struct kase *k)
{
  free(k->name);
  buf_free(&k->config);
  for (size_t i = 0; i < k->nfiles; i++) {
    free(k->files[i].name);
    buf_free(&k->files[i].text);
  }
  free(k->files);
  for (size_t i = 0; i < k->ntemplates; i++) {
    free(k->templates[i].name);
    buf_free(&k->templates[i].text);
  }
  free(k->templates);
  for (size_t i = 0; i < k->nenv; i++)
    free(k->env[i]);
  free(k->env);
  for (size_t i = 0; i < k->nevents; i++)
    free(k->events[i]);
  free(k->events);
  free(k->event_lines);
  buf_free(&k->want);
  memset(k, 0, sizeof *k);
}

/* Drops the blank lines that end a text body (its lines all end with \n). */
static void trim_blank_tail(struct buf *b)
{
  while (b->len) {
    size_t end = b->len - 1, start = end;
    while (start && b->p[start - 1] != '\n')
      start--;
    if (start + strspn(b->p + start, " \t\r") < end) return;
    b->len = start;
    b->p[start] = 0;
  }
}

/* ---- running a case ---- */

struct run {
  struct buf out;
  int show_body;
};

static void on_match(void *arg, const struct rule *r, const struct change *e)
{
  struct run *run = arg;
  struct buf id = BUF_INIT;
  change_id(e, &id);
  for (size_t i = 0; i < r->nendpoints; i++) {
    buf_printf(&run->out, "%s %s %s", r->name, r->endpoints[i]->name, id.p);
    if (e->type == EVENT_ALERT && e->alert)
      buf_printf(&run->out, " insert=%llu update=%llu delete=%llu sample=%s",
                 (unsigned long long)e->alert->inserts, (unsigned long long)e->alert->updates,
                 (unsigned long long)e->alert->deletes, e->alert->sample_keys);
    buf_addc(&run->out, '\n');
    if (!run->show_body) continue;
    struct request q;
    char err[1024];
    if (request_build(r, r->endpoints[i], e, SIGN_NOW, 1, &q, err, sizeof err)) {
      buf_printf(&run->out, "request error: %s\n", err);
      continue;
    }
    buf_addlit(&run->out, "body: ");
    for (size_t j = 0; j < q.body.len; j++) {
      char c = q.body.p[j];
      if (c == '\n')
        buf_addlit(&run->out, "\\n");
      else if (c != '\r')
        buf_addc(&run->out, c);
    }
    buf_addc(&run->out, '\n');
    request_free(&q);
  }
  buf_free(&id);
}

/* The statement being fed: its SQL and its tables, shared by its rows. */
struct stmt {
  int open;
  struct rcstr *sql;
  struct table **tables;
  size_t ntables;
};

static void stmt_end(struct stmt *s)
{
  rcstr_unref(s->sql);
  for (size_t i = 0; i < s->ntables; i++)
    table_unref(s->tables[i]);
  free(s->tables);
  memset(s, 0, sizeof *s);
}

static int same_columns(const struct table *a, const struct table *b)
{
  if (a->ncols != b->ncols || a->npk != b->npk) return 0;
  for (uint32_t i = 0; i < a->ncols; i++)
    if (strcmp(a->cols[i].name, b->cols[i].name)) return 0;
  for (uint32_t i = 0; i < a->npk; i++)
    if (a->pk[i] != b->pk[i]) return 0;
  return 1;
}

static int is_row(const struct change *e)
{
  return e->type == EVENT_INSERT || e->type == EVENT_UPDATE || e->type == EVENT_DELETE ||
         e->type == EVENT_SNAPSHOT;
}

/* Makes row e part of the open statement, or opens one. 0, or -1 with err. */
static int join_statement(struct stmt *s, struct change *e, char *err, size_t errsz)
{
  int same =
      s->open &&
      (e->sql ? s->sql && e->sql->len == s->sql->len && !memcmp(e->sql->s, s->sql->s, e->sql->len) : !s->sql);
  if (!same) {
    stmt_end(s);
    s->open = 1;
    s->sql = e->sql ? rcstr_ref(e->sql) : NULL;
  } else if (e->sql) {
    rcstr_unref(e->sql);
    e->sql = rcstr_ref(s->sql);
  }
  for (size_t i = 0; i < s->ntables; i++) {
    struct table *t = s->tables[i];
    if (strcmp(t->schema, e->table->schema) || strcmp(t->name, e->table->name)) continue;
    if (!same_columns(t, e->table))
      return bh_err(err, errsz,
                    "this row of %s.%s has other columns than the statement's first one (rows of one "
                    "statement share one table: end the statement with --)",
                    t->schema, t->name);
    table_unref(e->table);
    e->table = table_ref(t);
    return 0;
  }
  s->tables = xrealloc(s->tables, (s->ntables + 1) * sizeof *s->tables);
  s->tables[s->ntables++] = table_ref(e->table);
  return 0;
}

/* Feeds the case's events; the matches go to run->out. 0, or -1 with err. */
static int feed_events(const struct kase *k, const struct ruleset *rs, struct run *run, char *err,
                       size_t errsz)
{
  struct matcher *m = matcher_new(rs);
  struct stmt s = {0};
  struct change last = {.type = EVENT_COMMIT};
  int rc = 0;
  for (size_t i = 0; i < k->nevents && !rc; i++) {
    const char *line = k->events[i];
    char why[512];
    if (!strcmp(line, "COMMIT")) {
      struct change commit = {.type = EVENT_COMMIT};
      commit.position = last.position;
      commit.ts = last.ts;
      commit.tx_pos = last.tx_pos;
      commit.tx_index = last.tx_index + 1;
      matcher_feed(m, &commit, on_match, run);
      stmt_end(&s);
      continue;
    }
    if (!strcmp(line, "--")) {
      stmt_end(&s);
      continue;
    }
    struct change *e = change_from_json(line, strlen(line), why, sizeof why);
    if (!e) {
      rc = bh_err(err, errsz, "%s:%d: %s", cases_name, k->event_lines[i], why);
      break;
    }
    if (is_row(e)) {
      if (join_statement(&s, e, why, sizeof why))
        rc = bh_err(err, errsz, "%s:%d: %s", cases_name, k->event_lines[i], why);
    } else {
      stmt_end(&s);
    }
    if (!rc) {
      last.position = e->position;
      last.ts = e->ts;
      last.tx_pos = e->tx_pos;
      last.tx_index = e->tx_index;
      matcher_feed(m, e, on_match, run);
    }
    change_free(e);
  }
  stmt_end(&s);
  matcher_free(m);
  return rc;
}

static void run_case(const struct kase *k, int number)
{
  char name[600], err[1024];
  snprintf(name, sizeof name, "%s:%d: %s", cases_name, k->line, k->name);
  if (!k->has_config || k->has_want == k->has_errors) {
    ok(0, name);
    diag("a case needs a config: and either a want: or an errors: section");
    return;
  }
  struct buf dir = BUF_INIT;
  buf_printf(&dir, "%s/c%d", root, number);
  int bad = mkdir(dir.p, 0700) || write_file(dir.p, "gateway.toml", k->config.p ? k->config.p : "");
  for (size_t i = 0; !bad && i < k->nfiles; i++)
    bad = write_file(dir.p, k->files[i].name, k->files[i].text.p ? k->files[i].text.p : "");
  for (size_t i = 0; !bad && i < k->ntemplates; i++) {
    struct buf rel = BUF_INIT;
    buf_printf(&rel, "templates/%s", k->templates[i].name);
    bad = write_file(dir.p, rel.p, k->templates[i].text.p ? k->templates[i].text.p : "");
    buf_free(&rel);
  }
  if (bad) {
    ok(0, name);
    diag("cannot write the files of the case in '%s'", dir.p);
    buf_free(&dir);
    return;
  }

  for (size_t i = 0; i < k->nenv; i++) {
    char *var = xstrndup(k->env[i], strcspn(k->env[i], "="));
    setenv(var, k->env[i] + strlen(var) + 1, 1);
    free(var);
  }
  struct buf errs = BUF_INIT;
  struct ruleset *rs = load_rules(dir.p, &errs);
  for (size_t i = 0; i < k->nenv; i++) {
    char *var = xstrndup(k->env[i], strcspn(k->env[i], "="));
    unsetenv(var);
    free(var);
  }

  struct buf file = BUF_INIT;
  buf_printf(&file, "%s/gateway.toml", dir.p);
  char *e1 = replace_all(errs.p, file.p, "FILE");
  char *got_errs = replace_all(e1, dir.p, "DIR");
  free(e1);
  buf_free(&file);
  buf_free(&errs);

  struct buf want = BUF_INIT;
  buf_add(&want, k->want.p ? k->want.p : "", k->want.len);
  if (want.len && want.p[want.len - 1] == '\n') want.p[--want.len] = 0;
  if (!want.p) buf_addlit(&want, "");

  if (k->has_errors) {
    if (!is_str(got_errs, want.p, name) && !*got_errs) diag("the configuration loaded without an error");
  } else if (!rs) {
    ok(0, name);
    diag("the configuration does not load:\n%s", got_errs);
  } else {
    struct run run = {.out = BUF_INIT, .show_body = k->show_body};
    if (feed_events(k, rs, &run, err, sizeof err)) {
      ok(0, name);
      diag("%s", err);
    } else {
      if (run.out.len && run.out.p[run.out.len - 1] == '\n') run.out.p[--run.out.len] = 0;
      if (!run.out.p) buf_addlit(&run.out, "");
      if (!is_str(run.out.p, want.p, name) && strchr(run.out.p, '\n'))
        diag("got, line by line:\n%s", run.out.p);
    }
    buf_free(&run.out);
  }
  ruleset_free(rs);
  free(got_errs);
  buf_free(&want);
  buf_free(&dir);
}

/* The section a line opens, or 0 for a body line. *arg: what follows "word: ". */
enum section { S_NONE, S_CASE, S_CONFIG, S_FILE, S_TEMPLATE, S_ENV, S_EVENTS, S_WANT, S_ERRORS, S_SHOW };

static enum section section_of(const char *line, const char **arg)
{
  static const struct {
    const char *word;
    enum section s;
    int takes_arg;
  } words[] = {{"case", S_CASE, 1},         {"config", S_CONFIG, 0}, {"file", S_FILE, 1},
               {"template", S_TEMPLATE, 1}, {"env", S_ENV, 1},       {"events", S_EVENTS, 0},
               {"want", S_WANT, 0},         {"errors", S_ERRORS, 0}, {"show", S_SHOW, 1}};
  for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
    size_t n = strlen(words[i].word);
    if (strncmp(line, words[i].word, n) || line[n] != ':') continue;
    const char *rest = line + n + 1;
    if (words[i].takes_arg) {
      if (*rest != ' ' || !rest[1]) continue;
      *arg = rest + 1;
      return words[i].s;
    }
    if (rest[strspn(rest, " ")]) continue;
    return words[i].s;
  }
  return S_NONE;
}

static int run_cases(const char *path)
{
  char *text = casefile_read(path, NULL);
  if (!text) {
    ok(0, "the cases file can be read");
    diag("cannot open '%s'", path);
    return 0;
  }
  struct kase k = {0};
  struct buf *body = NULL; /* the text body being read (config, file, template) */
  enum section cur = S_NONE;
  int lineno = 0, ncases = 0, in_case = 0;
  for (char *p = text;;) {
    char *nl = strchr(p, '\n');
    int at_end = !*p;
    char *line = at_end ? NULL : xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
    if (!at_end) {
      p += strlen(line) + (nl ? 1 : 0);
      lineno++;
    }
    const char *arg = NULL;
    enum section s = at_end ? S_CASE : section_of(line, &arg);
    if (s == S_CASE && in_case) { /* the previous case is complete */
      if (body) trim_blank_tail(body);
      run_case(&k, ++ncases);
      kase_free(&k);
      in_case = 0;
      body = NULL;
    }
    if (at_end) break;
    int blank = !line[strspn(line, " \t\r")];
    if (s == S_NONE) {
      if (body) {
        buf_adds(body, line);
        buf_addc(body, '\n');
      } else if (blank || line[0] == '#') {
        /* between sections */
      } else if (cur == S_EVENTS) {
        k.events = xrealloc(k.events, (k.nevents + 1) * sizeof *k.events);
        k.event_lines = xrealloc(k.event_lines, (k.nevents + 1) * sizeof *k.event_lines);
        k.event_lines[k.nevents] = lineno;
        k.events[k.nevents++] = xstrdup(line);
      } else if (cur == S_WANT || cur == S_ERRORS) {
        buf_adds(&k.want, line);
        buf_addc(&k.want, '\n');
      } else {
        ok(0, "every line of the cases file is understood");
        diag("%s:%d: %s", cases_name, lineno, line);
      }
      free(line);
      continue;
    }
    if (body) trim_blank_tail(body);
    body = NULL;
    cur = s;
    if (s != S_CASE && (!in_case || k.has_want || k.has_errors)) {
      ok(0, "every section of the cases file is in a case, before its want: or errors:");
      diag("%s:%d: %s", cases_name, lineno, line);
      free(line);
      continue;
    }
    switch (s) {
    case S_CASE:
      in_case = 1;
      k.line = lineno;
      k.name = xstrdup(arg);
      break;
    case S_CONFIG:
      k.has_config = 1;
      body = &k.config;
      break;
    case S_FILE:
    case S_TEMPLATE: {
      struct named_text **v = s == S_FILE ? &k.files : &k.templates;
      size_t *n = s == S_FILE ? &k.nfiles : &k.ntemplates;
      *v = xrealloc(*v, (*n + 1) * sizeof **v);
      (*v)[*n].name = xstrdup(arg);
      (*v)[*n].text = (struct buf)BUF_INIT;
      body = &(*v)[(*n)++].text;
      break;
    }
    case S_ENV:
      if (!strchr(arg, '=')) {
        ok(0, "an env: line is NAME=VALUE");
        diag("%s:%d: %s", cases_name, lineno, line);
        break;
      }
      k.env = xrealloc(k.env, (k.nenv + 1) * sizeof *k.env);
      k.env[k.nenv++] = xstrdup(arg);
      break;
    case S_SHOW:
      if (strcmp(arg, "body")) {
        ok(0, "show: says body");
        diag("%s:%d: %s", cases_name, lineno, line);
      }
      k.show_body = 1;
      break;
    case S_WANT: k.has_want = 1; break;
    case S_ERRORS: k.has_errors = 1; break;
    case S_EVENTS:
    case S_NONE: break;
    }
    free(line);
  }
  kase_free(&k);
  free(text);
  return ncases;
}

/* ---- 1,000 rules ---- */

static void test_many_rules(void)
{
  enum { N = 1000 };
  struct buf cfg = BUF_INIT, dir = BUF_INIT, errs = BUF_INIT, json = BUF_INIT;
  buf_printf(&dir, "%s/many", root);
  buf_addlit(&cfg, "[endpoint.x]\nurl = \"http://127.0.0.1:9/x\"\n");
  for (int i = 0; i < N; i++)
    buf_printf(&cfg, "[[rule]]\nname = \"r%04d\"\ntable = \"db.t%04d\"\nendpoint = \"x\"\n", i, i);
  if (mkdir(dir.p, 0700) || write_file(dir.p, "gateway.toml", cfg.p)) {
    ok(0, "1,000 rules: the file is written");
    goto out;
  }
  struct ruleset *rs = load_rules(dir.p, &errs);
  if (!ok(rs, "1,000 rules on distinct tables load")) {
    diag("%s", errs.p);
    goto out;
  }
  is_int(rs->nrules, N, "  all of them");
  struct run run = {.out = BUF_INIT};
  struct matcher *m = matcher_new(rs);
  char err[512];
  /* one table, twice (the second time from the index), then a table no rule names */
  static const char *const one[] = {
      "{\"type\":\"insert\",\"schema\":\"db\",\"table\":\"t0637\",\"position\":{\"gtid\":\"0-1-1\"},"
      "\"after\":{\"a\":1}}",
      "{\"type\":\"delete\",\"schema\":\"db\",\"table\":\"t0637\",\"position\":{\"gtid\":\"0-1-2\"},"
      "\"before\":{\"a\":1}}",
      "{\"type\":\"insert\",\"schema\":\"db\",\"table\":\"t1000\",\"position\":{\"gtid\":\"0-1-3\"},"
      "\"after\":{\"a\":1}}",
      "{\"type\":\"insert\",\"schema\":\"dbx\",\"table\":\"t0001\",\"position\":{\"gtid\":\"0-1-4\"},"
      "\"after\":{\"a\":1}}",
  };
  for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
    struct change *e = change_from_json(one[i], strlen(one[i]), err, sizeof err);
    if (!e) {
      ok(0, "1,000 rules: an event parses");
      diag("%s", err);
      continue;
    }
    matcher_feed(m, e, on_match, &run);
    change_free(e);
  }
  is_str(run.out.p, "r0637 x 0-1-1/0\nr0637 x 0-1-2/0\n", "1,000 rules: only the rule of the table fires");
  /* every table once: each fires its own rule, once */
  buf_reset(&run.out);
  struct buf want = BUF_INIT;
  int parsed = 1;
  for (int i = N - 1; i >= 0; i--) {
    buf_reset(&json);
    buf_printf(
        &json,
        "{\"type\":\"update\",\"schema\":\"db\",\"table\":\"t%04d\",\"position\":{\"gtid\":\"0-2-%d\"},"
        "\"key\":{\"id\":%d},\"before\":{\"id\":%d},\"after\":{\"id\":%d}}",
        i, i, i, i, i);
    buf_printf(&want, "r%04d x 0-2-%d/0\n", i, i);
    struct change *e = change_from_json(json.p, json.len, err, sizeof err);
    if (!e) {
      parsed = 0;
      continue;
    }
    matcher_feed(m, e, on_match, &run);
    change_free(e);
  }
  ok(parsed, "1,000 rules: the events parse");
  ok(run.out.p && !strcmp(run.out.p, want.p),
     "1,000 rules: a change on each table fires that table's rule once");
  matcher_free(m);
  ruleset_free(rs);
  buf_free(&want);
  buf_free(&run.out);
out:
  buf_free(&cfg);
  buf_free(&dir);
  buf_free(&errs);
  buf_free(&json);
}

/* ---- printing a stored request ---- */

/* request_bare_to_text is what `binhook dlq show` prints after a delivery's
 * metadata; request_bare_to_json the "request" member of the admin
 * server's dead-letter show. Both print a request as request_decode gives
 * it back from the retry queue. */
static void test_bare_request(void)
{
  struct request q, d;
  char err[256];
  memset(&q, 0, sizeof q);
  q.method = xstrdup("POST");
  q.url = xstrdup("http://127.0.0.1:8080/hook?a=1");
  q.id = xstrdup("msg_0123");
  q.nheaders = 2;
  q.headers = xcalloc(2, sizeof *q.headers);
  q.headers[0].name = xstrdup("content-type");
  q.headers[0].value = xstrdup("application/json");
  q.headers[1].name = xstrdup("X-Quote");
  q.headers[1].value = xstrdup("say \"hi\"");
  buf_adds(&q.body, "{\"a\":\"\xc3\xa9\\n\"}");

  struct buf enc = BUF_INIT, out = BUF_INIT;
  request_encode(&q, &enc);
  ok(!request_decode(enc.p, enc.len, &d, err, sizeof err), "a stored request decodes");
  request_bare_to_text(&d, &out);
  is_str(out.p,
         "POST http://127.0.0.1:8080/hook?a=1\ncontent-type: application/json\nX-Quote: say \"hi\"\n\n"
         "{\"a\":\"\xc3\xa9\\n\"}\n",
         "bare text: request line, headers, blank line, body, newline");
  buf_reset(&out);
  request_bare_to_json(&d, &out);
  is_str(
      out.p,
      "{\"method\":\"POST\",\"url\":\"http://127.0.0.1:8080/hook?a=1\",\"headers\":{\"content-type\":"
      "\"application/json\",\"X-Quote\":\"say \\\"hi\\\"\"},\"body\":\"{\\\"a\\\":\\\"\xc3\xa9\\\\n\\\"}\"}",
      "bare JSON: method, url, headers, body");
  request_free(&d);

  /* an e-mail: no headers, its message as held, with CRLF */
  request_free(&q);
  memset(&q, 0, sizeof q);
  q.is_mail = 1;
  q.method = xstrdup("SMTP");
  q.url = xstrdup("smtp://127.0.0.1:2525");
  q.id = xstrdup("msg_4567");
  q.mail_from = xstrdup("binhook@example.com");
  q.rcpt = xcalloc(2, sizeof *q.rcpt);
  q.rcpt[0] = xstrdup("ops@example.com");
  buf_adds(&q.body, "Subject: hi\r\n\r\nbody\r\n");
  buf_reset(&enc);
  request_encode(&q, &enc);
  ok(!request_decode(enc.p, enc.len, &d, err, sizeof err), "a stored e-mail decodes");
  buf_reset(&out);
  request_bare_to_text(&d, &out);
  is_str(out.p, "SMTP smtp://127.0.0.1:2525\n\nSubject: hi\r\n\r\nbody\r\n\n",
         "bare text of an e-mail: no envelope, the message with its CRLF");
  buf_reset(&out);
  request_bare_to_json(&d, &out);
  is_str(out.p,
         "{\"method\":\"SMTP\",\"url\":\"smtp://127.0.0.1:2525\",\"headers\":{},"
         "\"body\":\"Subject: hi\\r\\n\\r\\nbody\\r\\n\"}",
         "bare JSON of an e-mail: no headers");
  request_free(&d);
  request_free(&q);
  buf_free(&enc);
  buf_free(&out);
}

int main(int argc, char **argv)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/rules_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) {
    printf("Bail out! cannot create a scratch directory in '%s'\n", tmp && *tmp ? tmp : "/tmp");
    return 1;
  }
  if (argc > 1) {
    cases_name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    int n = run_cases(argv[1]);
    ok(n >= 80, "the cases file holds at least 80 cases");
    diag("%d cases", n);
  } else {
    ok(0, "the cases file is given");
    diag("usage: rules_test t/data/rules.cases");
  }
  test_many_rules();
  test_bare_request();
  remove_root();
  return done_testing();
}
