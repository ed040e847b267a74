/* rules.c - see rules.h. ruleset_build walks the config's rules and
 * endpoints, compiling what they hold and collecting every problem; the
 * matcher looks candidates up in the table index (a hash of schema.table
 * names, each entry filled the first time a table is seen by testing every
 * rule's globs once), then evaluates only those. */
#include "match/rules.h"
#include "match/expr.h"
#include "util/util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- problems ---- */

/* A message that already starts with its position. */
static void problem_raw(struct buf *errs, const char *msg)
{
  if (errs->len) buf_addc(errs, '\n');
  buf_adds(errs, msg);
}

/* A message about a position inside text t ("file:line:col: ..."), with the
 * column moved to where the character is in the file (escapes). */
static void problem_in(struct buf *errs, const struct config_text *t, const char *msg)
{
  size_t fl = strlen(t->file);
  int line, col, used = 0;
  if (t->cols && !strncmp(msg, t->file, fl) && sscanf(msg + fl, ":%d:%d:%n", &line, &col, &used) == 2 && used) {
    if (errs->len) buf_addc(errs, '\n');
    buf_printf(errs, "%s:%d:%d:%s", t->file, line, config_text_col(t, line, col), msg + fl + used);
    return;
  }
  problem_raw(errs, msg);
}

/* ---- the table index ---- */

enum { NTYPES = 4 }; /* insert, update, delete, snapshot */

struct cand {
  char *name; /* schema.table */
  size_t *rules[NTYPES];
  size_t n[NTYPES];
};

struct rule_index {
  struct cand *slots;
  size_t nslots, used;
  size_t *stmt_rules; /* rules for statement events */
  size_t nstmt;
  size_t *beat_rules; /* rules for heartbeat events */
  size_t nbeat;
  struct tmpl **tmpls; /* the body templates, shared by the rules naming them */
  char **tmpl_names;
  size_t ntmpls;
};

static int type_slot(enum event_type t)
{
  switch (t) {
  case EVENT_INSERT: return 0;
  case EVENT_UPDATE: return 1;
  case EVENT_DELETE: return 2;
  case EVENT_SNAPSHOT: return 3;
  default: return -1;
  }
}

static int rule_wants_table(const struct rule *r, const char *name)
{
  if (!r->cfg->tables) return 1;
  for (char **g = r->cfg->tables; *g; g++)
    if (!fnmatch(*g, name, 0)) return 1;
  return 0;
}

static void fill_cand(const struct ruleset *rs, struct cand *c)
{
  for (size_t i = 0; i < rs->nrules; i++) {
    const struct rule *r = &rs->rules[i];
    if (!rule_wants_table(r, c->name)) continue;
    for (int t = 0; t < NTYPES; t++) {
      if (!(r->on & (1u << t))) continue;
      c->rules[t] = xrealloc(c->rules[t], (c->n[t] + 1) * sizeof *c->rules[t]);
      c->rules[t][c->n[t]++] = i;
    }
  }
}

static void index_grow(struct rule_index *x)
{
  size_t n = x->nslots ? x->nslots * 2 : 64;
  struct cand *slots = xcalloc(n, sizeof *slots);
  for (size_t i = 0; i < x->nslots; i++) {
    if (!x->slots[i].name) continue;
    size_t j = bh_fnv1a(x->slots[i].name, strlen(x->slots[i].name)) & (n - 1);
    while (slots[j].name)
      j = (j + 1) & (n - 1);
    slots[j] = x->slots[i];
  }
  free(x->slots);
  x->slots = slots;
  x->nslots = n;
}

/* The candidates for schema.table, filled on first use. */
static const struct cand *candidates(const struct ruleset *rs, const char *schema, const char *table)
{
  struct rule_index *x = rs->index;
  char stack[256], *name = stack;
  size_t ls = strlen(schema), lt = strlen(table);
  if (ls + lt + 2 > sizeof stack) name = xmalloc(ls + lt + 2);
  memcpy(name, schema, ls);
  name[ls] = '.';
  memcpy(name + ls + 1, table, lt + 1);
  if ((x->used + 1) * 2 > x->nslots) index_grow(x);
  size_t j = bh_fnv1a(name, strlen(name)) & (x->nslots - 1);
  while (x->slots[j].name && strcmp(x->slots[j].name, name))
    j = (j + 1) & (x->nslots - 1);
  struct cand *c = &x->slots[j];
  if (!c->name) {
    c->name = xstrdup(name);
    x->used++;
    fill_cand(rs, c);
  }
  if (name != stack) free(name);
  return c;
}

static void index_free(struct rule_index *x)
{
  if (!x) return;
  for (size_t i = 0; i < x->nslots; i++) {
    free(x->slots[i].name);
    for (int t = 0; t < NTYPES; t++)
      free(x->slots[i].rules[t]);
  }
  free(x->slots);
  free(x->stmt_rules);
  free(x->beat_rules);
  for (size_t i = 0; i < x->ntmpls; i++) {
    tmpl_free(x->tmpls[i]);
    free(x->tmpl_names[i]);
  }
  free(x->tmpls);
  free(x->tmpl_names);
  free(x);
}

/* ---- building ---- */

static void rule_release(struct rule *r);

static struct tmpl *compile_text(const struct config_text *t, enum tmpl_mode mode, struct buf *errs, int *nerr)
{
  char err[1024];
  if (!t->s) return NULL;
  struct tmpl *x = tmpl_compile(mode, t->s, strlen(t->s), t->file, t->line, t->col, err, sizeof err);
  if (!x) {
    problem_in(errs, t, err);
    ++*nerr;
  }
  return x;
}

/* One template per header (NULL where one did not compile); free with
 * free_headers and the same n. */
static struct tmpl **compile_headers(const struct config_header *h, size_t n, struct buf *errs, int *nerr)
{
  struct tmpl **v = xcalloc(n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = compile_text(&h[i].value, TMPL_HEADER, errs, nerr);
  return v;
}

static void build_endpoint(struct endpoint *ep, const struct config_endpoint *c, int need_secrets,
                           struct buf *errs, int *nerr)
{
  char err[512];
  ep->cfg = c;
  ep->name = c->name;
  ep->is_mail = c->url.s && !strncmp(c->url.s, "smtp", 4);
  if (c->url.s && !ep->is_mail) ep->url = compile_text(&c->url, TMPL_URL, errs, nerr);
  ep->headers = compile_headers(c->headers, c->nheaders, errs, nerr);
  ep->subject = compile_text(&c->subject, TMPL_TEXT, errs, nerr);
  ep->scheme = c->signing;
  if (c->secret_problem && need_secrets) {
    problem_raw(errs, c->secret_problem);
    ++*nerr;
  }
  if (ep->scheme == SIGN_NONE || !c->secrets) return;
  size_t n = 0;
  while (c->secrets[n])
    n++;
  ep->keys = xcalloc(n, sizeof *ep->keys);
  for (size_t i = 0; i < n; i++) {
    if (sign_key_parse(ep->scheme, c->secrets[i], strlen(c->secrets[i]), &ep->keys[ep->nkeys], err, sizeof err)) {
      config_problem(errs, c->file, c->line, c->col, "endpoint '%s': secret %zu of %zu: %s", c->name, i + 1,
                     n, err);
      ++*nerr;
      continue;
    }
    ep->nkeys++;
  }
}

static const char *const tmpl_exts[] = {".json", NULL};

/* The body template a rule names, compiled once per file. */
static struct tmpl *body_template(struct ruleset *rs, const struct config_text *t, int *is_json, struct buf *errs,
                                  int *nerr)
{
  struct rule_index *x = rs->index;
  const char *dir = rs->cfg.templates ? rs->cfg.templates : "templates";
  size_t n = strlen(t->s);
  *is_json = n >= 5 && !strcmp(t->s + n - 5, tmpl_exts[0]);
  for (size_t i = 0; i < x->ntmpls; i++)
    if (!strcmp(x->tmpl_names[i], t->s)) return x->tmpls[i];
  int parent = !strcmp(t->s, "..") || !strncmp(t->s, "../", 3) || strstr(t->s, "/../") ||
               (n >= 3 && !strcmp(t->s + n - 3, "/.."));
  if (parent || t->s[0] == '/') {
    config_problem(errs, t->file, t->line, t->col,
                   "template '%s' must be a file name inside the templates directory '%s'", t->s, dir);
    ++*nerr;
    return NULL;
  }
  struct buf path = BUF_INIT;
  buf_printf(&path, "%s/%s", dir, t->s);
  char err[1024];
  struct tmpl *tp = NULL;
  FILE *f = fopen(path.p, "rb");
  if (!f) {
    config_problem(errs, t->file, t->line, t->col,
                   "template '%s' not found (looked for '%s'; the directory is set by "
                   "'templates' at the top of the main file)",
                   t->s, path.p);
    ++*nerr;
  } else {
    fclose(f);
    tp = tmpl_load(*is_json ? TMPL_JSON : TMPL_TEXT, path.p, err, sizeof err);
    if (!tp) {
      problem_raw(errs, err);
      ++*nerr;
    }
  }
  buf_free(&path);
  if (tp) {
    x->tmpls = xrealloc(x->tmpls, (x->ntmpls + 1) * sizeof *x->tmpls);
    x->tmpl_names = xrealloc(x->tmpl_names, (x->ntmpls + 1) * sizeof *x->tmpl_names);
    x->tmpls[x->ntmpls] = tp;
    x->tmpl_names[x->ntmpls++] = xstrdup(t->s);
  }
  return tp;
}

static void *compile_regex(const struct config_text *t, struct buf *errs, int *nerr)
{
  int code;
  PCRE2_SIZE off;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)t->s, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                 &code, &off, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    int col = t->col;
    for (size_t i = 0; i < off && t->s[i]; i++)
      if (((unsigned char)t->s[i] & 0xc0) != 0x80) col++;
    config_problem(errs, t->file, t->line, config_text_col(t, t->line, col), "bad regular expression: %s",
                   (const char *)msg);
    ++*nerr;
    return NULL;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* where available; the interpreter otherwise */
  return re;
}

static void build_rule(struct ruleset *rs, struct rule *r, const struct config_rule *c, struct buf *errs, int *nerr)
{
  char err[1024];
  r->cfg = c;
  r->name = c->name;
  r->kinds = c->kinds;
  r->on = c->on;
  if (!r->on)
    r->on = c->threshold ? RULE_ON_DELETE
            : c->statement.s ? RULE_ON_STATEMENT
                             : RULE_ON_INSERT | RULE_ON_UPDATE | RULE_ON_DELETE | RULE_ON_SNAPSHOT;
  if (c->kinds) r->on |= RULE_ON_STATEMENT;
  if (c->when.s) {
    r->when = expr_compile(c->when.s, c->when.file, c->when.line, c->when.col, err, sizeof err);
    if (!r->when) {
      problem_in(errs, &c->when, err);
      ++*nerr;
    }
  }
  if (c->statement.s) r->statement = compile_regex(&c->statement, errs, nerr);
  if (r->when && expr_uses_changed(r->when) && !(r->on & RULE_ON_UPDATE)) {
    config_problem(errs, c->when.file, c->when.line, c->when.col,
                   "rule '%s': changed() holds only on updates, and 'on' leaves them out", c->name);
    ++*nerr;
  }
  for (char **name = c->endpoints; name && *name; name++) {
    struct endpoint *ep = NULL;
    for (size_t i = 0; i < rs->nendpoints; i++)
      if (!strcmp(rs->endpoints[i].name, *name)) ep = &rs->endpoints[i];
    if (!ep && rs->cfg.partial) continue; /* perhaps defined after a syntax error */
    if (!ep) {
      const char **names = xcalloc(rs->nendpoints + 1, sizeof *names);
      for (size_t i = 0; i < rs->nendpoints; i++)
        names[i] = rs->endpoints[i].name;
      const char *near = bh_nearest(*name, names);
      if (near)
        config_problem(errs, c->endpoints_file, c->endpoints_line, c->endpoints_col,
                       "rule '%s': unknown endpoint '%s'; did you mean '%s'?", c->name, *name, near);
      else
        config_problem(errs, c->endpoints_file, c->endpoints_line, c->endpoints_col,
                       "rule '%s': unknown endpoint '%s' (define it as [endpoint.%s])", c->name, *name,
                       *name);
      free(names);
      ++*nerr;
      continue;
    }
    r->endpoints = xrealloc(r->endpoints, (r->nendpoints + 1) * sizeof *r->endpoints);
    r->endpoints[r->nendpoints++] = ep;
  }
  r->bodies = xcalloc(r->nendpoints + 1, sizeof *r->bodies);
  r->bodies_json = xcalloc(r->nendpoints + 1, sizeof *r->bodies_json);
  struct tmpl *common = NULL;
  int common_json = 1;
  if (c->template.s) common = body_template(rs, &c->template, &common_json, errs, nerr);
  for (size_t i = 0; i < r->nendpoints; i++) {
    r->bodies[i] = common;
    r->bodies_json[i] = common_json;
  }
  for (size_t j = 0; j < c->nendpoint_templates; j++) {
    const struct config_text *t = &c->endpoint_templates[j];
    size_t i = 0;
    while (i < r->nendpoints && strcmp(r->endpoints[i]->name, c->endpoint_template_names[j]))
      i++;
    if (i == r->nendpoints && rs->cfg.partial && !config_endpoint(&rs->cfg, c->endpoint_template_names[j]))
      continue; /* its endpoint is perhaps defined after a syntax error */
    if (i == r->nendpoints) {
      config_problem(errs, t->file, t->line, t->col,
                     "rule '%s': a template for '%s', which is not one of its endpoints", c->name,
                     c->endpoint_template_names[j]);
      ++*nerr;
      continue;
    }
    r->bodies[i] = body_template(rs, t, &r->bodies_json[i], errs, nerr);
  }
  r->subject = compile_text(&c->subject, TMPL_TEXT, errs, nerr);
  r->url = compile_text(&c->url, TMPL_URL, errs, nerr);
  r->path = compile_text(&c->path, TMPL_URL, errs, nerr);
  if (c->path.s && c->path.s[0] != '/' && c->path.s[0] != '?') {
    config_problem(errs, c->path.file, c->path.line, c->path.col,
                   "rule '%s': path must start with '/' or '?'", c->name);
    ++*nerr;
  }
  r->headers = compile_headers(c->headers, c->nheaders, errs, nerr);
  for (size_t i = 0; (c->path.s || c->url.s) && i < r->nendpoints; i++) {
    if (!r->endpoints[i]->is_mail) continue;
    config_problem(errs, c->file, c->line, c->col,
                   "rule '%s': url and path apply to HTTP endpoints, and '%s' sends e-mail", c->name,
                   r->endpoints[i]->name);
    ++*nerr;
  }
  if (c->url.s && strncmp(c->url.s, "http://", 7) && strncmp(c->url.s, "https://", 8)) {
    config_problem(errs, c->url.file, c->url.line, c->url.col,
                   "rule '%s': url must start with http:// or https://", c->name);
    ++*nerr;
  }
}

int ruleset_build(struct config *cfg, int need_secrets, struct ruleset **out, struct buf *errs)
{
  int nerr = 0;
  struct ruleset *rs = xcalloc(1, sizeof *rs);
  rs->refs = 1;
  rs->cfg = *cfg;
  memset(cfg, 0, sizeof *cfg);
  rs->index = xcalloc(1, sizeof *rs->index);
  rs->nendpoints = rs->cfg.nendpoints;
  rs->endpoints = xcalloc(rs->nendpoints + 1, sizeof *rs->endpoints);
  for (size_t i = 0; i < rs->nendpoints; i++)
    build_endpoint(&rs->endpoints[i], &rs->cfg.endpoints[i], need_secrets, errs, &nerr);
  rs->rules = xcalloc(rs->cfg.nrules + 1, sizeof *rs->rules);
  for (size_t i = 0; i < rs->cfg.nrules; i++) {
    if (!rs->cfg.rules[i].enabled) {
      /* checked like the others, then left out */
      struct rule off;
      memset(&off, 0, sizeof off);
      build_rule(rs, &off, &rs->cfg.rules[i], errs, &nerr);
      rule_release(&off);
      continue;
    }
    struct rule *r = &rs->rules[rs->nrules];
    build_rule(rs, r, &rs->cfg.rules[i], errs, &nerr);
    r->index = rs->nrules++;
    if (r->on & RULE_ON_STATEMENT) {
      struct rule_index *x = rs->index;
      x->stmt_rules = xrealloc(x->stmt_rules, (x->nstmt + 1) * sizeof *x->stmt_rules);
      x->stmt_rules[x->nstmt++] = r->index;
    }
    if (r->on & RULE_ON_HEARTBEAT) {
      struct rule_index *x = rs->index;
      x->beat_rules = xrealloc(x->beat_rules, (x->nbeat + 1) * sizeof *x->beat_rules);
      x->beat_rules[x->nbeat++] = r->index;
    }
  }
  if (nerr) {
    ruleset_free(rs);
    return nerr;
  }
  *out = rs;
  return 0;
}

static void free_headers(struct tmpl **h, size_t n)
{
  for (size_t i = 0; h && i < n; i++)
    tmpl_free(h[i]);
  free(h);
}

struct ruleset *ruleset_ref(struct ruleset *rs)
{
  rs->refs++;
  return rs;
}

static void rule_release(struct rule *r)
{
  expr_free(r->when);
  if (r->statement) pcre2_code_free(r->statement);
  free(r->endpoints);
  free(r->bodies); /* the templates belong to the index */
  free(r->bodies_json);
  tmpl_free(r->subject);
  tmpl_free(r->url);
  tmpl_free(r->path);
  free_headers(r->headers, r->cfg ? r->cfg->nheaders : 0);
}

void ruleset_free(struct ruleset *rs)
{
  if (!rs || --rs->refs > 0) return;
  for (size_t i = 0; i < rs->nrules; i++)
    rule_release(&rs->rules[i]);
  free(rs->rules);
  for (size_t i = 0; i < rs->nendpoints; i++) {
    struct endpoint *ep = &rs->endpoints[i];
    tmpl_free(ep->url);
    free_headers(ep->headers, ep->cfg ? ep->cfg->nheaders : 0);
    tmpl_free(ep->subject);
    for (size_t k = 0; k < ep->nkeys; k++)
      sign_key_free(&ep->keys[k]);
    free(ep->keys);
  }
  free(rs->endpoints);
  index_free(rs->index);
  config_free(&rs->cfg);
  free(rs);
}

size_t rule_endpoint_index(const struct rule *r, const struct endpoint *ep)
{
  for (size_t i = 0; i < r->nendpoints; i++)
    if (r->endpoints[i] == ep) return i;
  bh_assert(!"endpoint of the rule");
  return 0;
}

/* ---- matching ---- */

/* What a threshold rule counted for one table in the open transaction. */
struct tally {
  size_t rule;
  struct table *table;
  uint64_t counts[3]; /* insert, update, delete */
  unsigned sampled;
  struct buf keys;
};

struct matcher {
  const struct ruleset *rs;
  pcre2_match_data *md;
  struct rcstr **last_sql; /* per rule: the statement of the last row seen (held) */
  unsigned char *sql_state; /* per rule: SQL_* for last_sql */
  struct tally *tallies;
  size_t ntallies;
};

enum { SQL_NOMATCH, SQL_PENDING, SQL_FIRED };

struct matcher *matcher_new(const struct ruleset *rs)
{
  struct matcher *m = xcalloc(1, sizeof *m);
  m->rs = rs;
  m->md = pcre2_match_data_create(1, NULL);
  bh_assert(m->md);
  m->last_sql = xcalloc(rs->nrules + 1, sizeof *m->last_sql);
  m->sql_state = xcalloc(rs->nrules + 1, 1);
  return m;
}

static void clear_tx(struct matcher *m)
{
  for (size_t i = 0; i < m->ntallies; i++) {
    table_unref(m->tallies[i].table);
    buf_free(&m->tallies[i].keys);
  }
  m->ntallies = 0;
  for (size_t i = 0; i < m->rs->nrules; i++) {
    rcstr_unref(m->last_sql[i]);
    m->last_sql[i] = NULL;
  }
}

void matcher_free(struct matcher *m)
{
  if (!m) return;
  clear_tx(m);
  free(m->tallies);
  free(m->last_sql);
  free(m->sql_state);
  pcre2_match_data_free(m->md);
  free(m);
}

static int regex_finds(struct matcher *m, const struct rule *r, const struct rcstr *sql)
{
  return pcre2_match(r->statement, (PCRE2_SPTR)sql->s, sql->len, 0, 0, m->md, NULL) >= 0;
}

static void count(struct matcher *m, const struct rule *r, const struct change *e)
{
  struct tally *t = NULL;
  /* by name: every statement maps its table anew */
  for (size_t i = 0; i < m->ntallies && !t; i++)
    if (m->tallies[i].rule == r->index && !strcmp(m->tallies[i].table->name, e->table->name) &&
        !strcmp(m->tallies[i].table->schema, e->table->schema))
      t = &m->tallies[i];
  if (!t) {
    m->tallies = xrealloc(m->tallies, (m->ntallies + 1) * sizeof *m->tallies);
    t = &m->tallies[m->ntallies++];
    memset(t, 0, sizeof *t);
    t->rule = r->index;
    t->table = table_ref(e->table);
  }
  t->counts[e->type == EVENT_INSERT || e->type == EVENT_SNAPSHOT ? 0 : e->type == EVENT_UPDATE ? 1 : 2]++;
  if (t->sampled < r->cfg->sample) {
    buf_addc(&t->keys, t->sampled ? ',' : '[');
    if (e->table->npk)
      change_key_to_json(e, &t->keys);
    else
      change_image_to_json(e, e->type == EVENT_DELETE ? e->before : e->after, &t->keys);
    t->sampled++;
  }
}

static void fire_alerts(struct matcher *m, const struct change *commit, match_fn fn, void *arg)
{
  for (size_t i = 0; i < m->ntallies; i++) {
    struct tally *t = &m->tallies[i];
    const struct rule *r = &m->rs->rules[t->rule];
    uint64_t total = t->counts[0] + t->counts[1] + t->counts[2];
    if (total <= (uint64_t)r->cfg->threshold) continue;
    struct change *e = change_new(EVENT_ALERT, t->table);
    e->ts = commit->ts;
    e->server_id = commit->server_id;
    e->position = commit->position;
    e->tx_pos = commit->tx_pos;
    e->tx_index = commit->tx_index;
    e->alert = xcalloc(1, sizeof *e->alert);
    e->alert->rule = xstrdup(r->name);
    e->alert->threshold = (uint64_t)r->cfg->threshold;
    e->alert->inserts = t->counts[0];
    e->alert->updates = t->counts[1];
    e->alert->deletes = t->counts[2];
    if (t->sampled) buf_addc(&t->keys, ']');
    e->alert->sample_keys = t->sampled ? buf_steal(&t->keys) : xstrdup("[]");
    fn(arg, r, e);
    change_free(e);
  }
}

/* Does the schema part of one of the rule's globs match a statement's
 * default database? (Statements name no table.) */
static int statement_schema_ok(const struct rule *r, const struct change *e)
{
  if (!r->cfg->tables) return 1;
  char schema[256];
  snprintf(schema, sizeof schema, "%.*s", (int)(e->schema_len < 255 ? e->schema_len : 255),
           e->schema_len ? e->arena.p + e->schema_off : "");
  for (char **g = r->cfg->tables; *g; g++) {
    const char *dot = strchr(*g, '.');
    char part[256];
    snprintf(part, sizeof part, "%.*s", (int)(dot ? dot - *g : (long)strlen(*g)), *g);
    if (!fnmatch(part, schema, 0)) return 1;
  }
  return 0;
}

static unsigned kind_bit(enum statement_kind k)
{
  return k == STMT_DDL ? RULE_KIND_DDL : k == STMT_DCL ? RULE_KIND_DCL : RULE_KIND_OTHER;
}

void matcher_feed(struct matcher *m, const struct change *e, match_fn fn, void *arg)
{
  const struct ruleset *rs = m->rs;
  if (e->type == EVENT_COMMIT) {
    fire_alerts(m, e, fn, arg);
    clear_tx(m);
    return;
  }
  if (e->type == EVENT_PULSE) {
    for (size_t i = 0; i < rs->index->nbeat; i++) {
      const struct rule *r = &rs->rules[rs->index->beat_rules[i]];
      if (r->when && !expr_eval(r->when, e)) continue;
      fn(arg, r, e);
    }
    return;
  }
  if (e->type == EVENT_STATEMENT) {
    for (size_t i = 0; i < rs->index->nstmt; i++) {
      const struct rule *r = &rs->rules[rs->index->stmt_rules[i]];
      if (r->kinds && !(r->kinds & kind_bit(e->kind))) continue;
      if (!statement_schema_ok(r, e)) continue;
      if (r->statement && (!e->sql || !regex_finds(m, r, e->sql))) continue;
      if (r->when && !expr_eval(r->when, e)) continue;
      fn(arg, r, e);
    }
    return;
  }
  int slot = type_slot(e->type);
  if (slot < 0 || !e->table) return;
  const struct cand *c = candidates(rs, e->table->schema, e->table->name);
  for (size_t i = 0; i < c->n[slot]; i++) {
    const struct rule *r = &rs->rules[c->rules[slot][i]];
    if (r->statement) {
      /* once per statement: on its first row `when` holds for; the pattern
       * is searched once per statement */
      if (!e->sql) continue;
      if (m->last_sql[r->index] != e->sql) {
        rcstr_unref(m->last_sql[r->index]);
        m->last_sql[r->index] = rcstr_ref(e->sql);
        m->sql_state[r->index] = regex_finds(m, r, e->sql) ? SQL_PENDING : SQL_NOMATCH;
      }
      if (m->sql_state[r->index] != SQL_PENDING) continue;
    }
    if (r->when && !expr_eval(r->when, e)) continue;
    if (r->cfg->threshold) {
      count(m, r, e);
      continue;
    }
    if (r->statement) m->sql_state[r->index] = SQL_FIRED;
    fn(arg, r, e);
  }
}
