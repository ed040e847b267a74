/* config.c - see config.h. The file is parsed by toml.c into a tree; this
 * module walks the tree section by section, checks every key against the
 * list of keys it knows, converts the values into struct config and collects
 * every problem, with the position toml.c kept for it, into the caller's
 * buffer. Relative paths (state dir, password and TLS files) are taken from
 * the directory of the file. The `include` globs name rule files, read after
 * the main file, in name order, each holding only [[rule]] and
 * [endpoint.NAME] sections. Rules and endpoints are read into plain data
 * with the positions of their texts; rules.c compiles them. */
#include "config/config.h"

#include "admin/admin.h"
#include "util/log.h"
#include "source/source.h"
#include "config/toml.h"
#include "util/util.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_URL "mysql://binhook@127.0.0.1:3306"
#define DEFAULT_PASSWORD_ENV "BINHOOK_MYSQL_PASSWORD"
#define MAX_FILE_SIZE (64u << 20)

static const char *const top_keys[] = {"include", "templates", "source", "state", "log",
                                       "admin",   "endpoint",  "rule",   NULL};
static const char *const include_keys[] = {"endpoint", "rule", NULL};
static const char *const source_keys[] = {
    "url",      "password_env", "password_file",   "tls",          "tls_ca",
    "tls_cert", "tls_key",      "server_id",       "start",        "tables",
    "exclude",  "heartbeat",    "connect_timeout", "queue_events", "queue_bytes",
    "snapshot", "snapshot_chunk", "snapshot_rate", "snapshot_lock", NULL};
static const char *const state_keys[] = {"dir", "queue_max", "segment_size", NULL};
static const char *const log_keys[] = {"level", "format", NULL};
static const char *const admin_keys[] = {"listen", "token", "token_env", "token_file", NULL};
static const char *const endpoint_keys[] = {
    "url",         "method",   "headers",    "signing",   "secret",       "secret_env",
    "secret_file", "timeout",  "retry",      "max_age",   "concurrency",  "ordering",
    "mail_from",   "mail_to",  "mail_cc",    "username",  "password_env", "password_file",
    "subject",     "no_retry", "rate_limit", "burst",    "breaker_failures", "breaker_cooldown",
    "aws_sigv4",   "aws_access_key_env", "aws_secret_key_env", "aws_session_token_env", "coalesce", "tls_ca", NULL};
static const char *const rule_keys[] = {"name",      "description", "enabled",  "table",   "on",
                                        "kind",      "when",        "statement", "threshold", "sample",
                                        "endpoint",  "template",    "subject",  "method",  "url",
                                        "path",      "headers",     NULL};

static const struct section {
  const char *name;
  const char *const *keys;
} sections[] = {{"source", source_keys}, {"state", state_keys}, {"log", log_keys}, {"admin", admin_keys}};

/* ---- defaults and freeing ---- */

void config_defaults(struct config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->source.url = xstrdup(DEFAULT_URL);
  cfg->source.password_env = xstrdup(DEFAULT_PASSWORD_ENV);
  cfg->source.server_id = 4242;
  cfg->source.start = xstrdup("end");
  cfg->source.heartbeat = 5;
  cfg->source.connect_timeout = 10;
  cfg->source.queue_events = 10000;
  cfg->source.queue_bytes = 64u << 20;
  cfg->source.snapshot = xstrdup("never");
  cfg->source.snapshot_chunk = 10000;
  cfg->source.snapshot_lock = xstrdup("auto");
  cfg->state.dir = xstrdup("/var/lib/binhook");
  cfg->state.queue_max = 1ull << 30;
  cfg->state.segment_size = 64ull << 20;
  cfg->log.level = xstrdup("info");
}

static void strv_free(char **v)
{
  if (!v) return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

/* Frees a vector of secrets, wiping them first. */
static void secrets_free(char **v)
{
  if (!v) return;
  for (char **p = v; *p; p++) {
    volatile char *c = *p;
    while (*c)
      *c++ = 0;
    free(*p);
  }
  free(v);
}

static void text_free(struct config_text *t)
{
  free(t->s);
  free(t->cols);
  t->s = NULL;
  t->cols = NULL;
  t->ncols = 0;
}

int config_text_col(const struct config_text *t, int line, int col)
{
  if (!t->cols || line != t->line || col < t->col || (size_t)(col - t->col) >= t->ncols) return col;
  return t->cols[col - t->col];
}

static void headers_free(struct config_header *h, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(h[i].name);
    text_free(&h[i].value);
  }
  free(h);
}

static void endpoint_free(struct config_endpoint *ep)
{
  free(ep->name);
  text_free(&ep->url);
  free(ep->method);
  headers_free(ep->headers, ep->nheaders);
  free(ep->signing);
  secrets_free(ep->secrets);
  free(ep->secret_problem);
  free(ep->retry);
  free(ep->no_retry);
  free(ep->ordering);
  free(ep->mail_from);
  strv_free(ep->mail_to);
  strv_free(ep->mail_cc);
  free(ep->username);
  free(ep->tls_ca);
  if (ep->password) {
    volatile char *c = ep->password;
    while (*c)
      *c++ = 0;
    free(ep->password);
  }
  text_free(&ep->subject);
  free(ep->aws_sigv4);
  char *aws[] = {ep->aws_access_key, ep->aws_secret_key, ep->aws_session_token};
  for (size_t i = 0; i < sizeof aws / sizeof *aws; i++) {
    for (volatile char *c = aws[i]; c && *c; c++)
      *c = 0;
    free(aws[i]);
  }
}

static void rule_free(struct config_rule *r)
{
  free(r->name);
  free(r->description);
  strv_free(r->tables);
  text_free(&r->when);
  text_free(&r->statement);
  strv_free(r->endpoints);
  text_free(&r->template);
  for (size_t i = 0; i < r->nendpoint_templates; i++) {
    text_free(&r->endpoint_templates[i]);
    free(r->endpoint_template_names[i]);
  }
  free(r->endpoint_templates);
  free(r->endpoint_template_names);
  text_free(&r->subject);
  text_free(&r->method);
  text_free(&r->url);
  text_free(&r->path);
  headers_free(r->headers, r->nheaders);
}

void config_free(struct config *cfg)
{
  struct config_source *s = &cfg->source;
  free(cfg->path);
  free(s->url);
  free(s->password_env);
  free(s->password_file);
  free(s->tls);
  free(s->tls_ca);
  free(s->tls_cert);
  free(s->tls_key);
  free(s->start);
  strv_free(s->tables);
  strv_free(s->exclude);
  free(s->snapshot);
  free(s->snapshot_lock);
  free(cfg->state.dir);
  free(cfg->log.level);
  free(cfg->log.format);
  free(cfg->admin.listen);
  free(cfg->admin.token);
  free(cfg->templates);
  for (size_t i = 0; i < cfg->nendpoints; i++)
    endpoint_free(&cfg->endpoints[i]);
  free(cfg->endpoints);
  for (size_t i = 0; i < cfg->nrules; i++)
    rule_free(&cfg->rules[i]);
  free(cfg->rules);
  strv_free(cfg->files);
  memset(cfg, 0, sizeof *cfg);
}

const struct config_endpoint *config_endpoint(const struct config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->nendpoints; i++)
    if (!strcmp(cfg->endpoints[i].name, name)) return &cfg->endpoints[i];
  return NULL;
}

/* ---- durations ---- */

int config_parse_duration(const char *s, double *seconds)
{
  double total = 0;
  if (!s || !*s) return -1;
  while (*s) {
    if (*s < '0' || *s > '9') return -1;
    double v = 0;
    while (*s >= '0' && *s <= '9')
      v = v * 10 + (*s++ - '0');
    if (*s == '.') {
      double scale = 0.1;
      s++;
      if (*s < '0' || *s > '9') return -1;
      while (*s >= '0' && *s <= '9')
        v += (*s++ - '0') * scale, scale /= 10;
    }
    double unit;
    if (s[0] == 'm' && s[1] == 's')
      unit = 0.001, s += 2;
    else if (*s == 's')
      unit = 1, s++;
    else if (*s == 'm')
      unit = 60, s++;
    else if (*s == 'h')
      unit = 3600, s++;
    else if (*s == 'd')
      unit = 86400, s++;
    else
      return -1;
    total += v * unit;
  }
  if (!isfinite(total)) return -1;
  *seconds = total;
  return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
  static const struct {
    const char *unit;
    double mult;
  } units[] = {{"", 1},           {"B", 1},         {"kB", 1e3},          {"KB", 1e3},
               {"MB", 1e6},       {"GB", 1e9},      {"KiB", 1024.0},      {"MiB", 1048576.0},
               {"GiB", 1073741824.0}};
  if (!s || *s < '0' || *s > '9') return -1;
  char *end;
  double v = strtod(s, &end);
  while (*end == ' ')
    end++;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit)) continue;
    double b = v * units[i].mult;
    if (!(b >= 0 && b <= 9007199254740992.0)) return -1;
    *bytes = (uint64_t)b;
    return 0;
  }
  return -1;
}

/* ---- secrets ---- */

/* A copy of a mysql:// URL with its password, if any, replaced by "***", so
 * that messages can show the URL. Caller frees. */
static char *redact_url(const char *url)
{
  const char *p = strstr(url, "://");
  if (!p) return xstrdup(url);
  p += 3;
  const char *end = p + strcspn(p, "/?");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
  if (!colon) return xstrdup(url);
  size_t head = (size_t)(colon + 1 - url), n = head + 3 + strlen(at) + 1;
  char *out = xmalloc(n);
  snprintf(out, n, "%.*s***%s", (int)head, url, at);
  return out;
}

/* ---- paths ---- */

/* A relative path in the file is taken from the file's own directory, so that
 * a configuration means the same whatever the working directory. Caller frees. */
static char *resolve_path(const char *cfgpath, const char *p)
{
  const char *slash = strrchr(cfgpath, '/');
  if (p[0] == '/' || !slash) return xstrdup(p);
  size_t n = (size_t)(slash - cfgpath) + 1 + strlen(p) + 1;
  char *out = xmalloc(n);
  snprintf(out, n, "%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
  return out;
}

static void set_path(const char *cfgpath, char **field, const char *p)
{
  if (!p) return;
  free(*field);
  *field = resolve_path(cfgpath, p);
}

/* ---- messages ---- */

struct loader {
  const char *file; /* interned in cfg->files */
  const char *text; /* the file's text, for the positions of string contents */
  size_t textlen;
  struct config *cfg;
  char *errs;
  size_t errsz, len;
  int nerr, dropped;
};

__attribute__((format(printf, 4, 5))) static void lerr(struct loader *l, int line, int col, const char *fmt,
                                                       ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* keys and values quoted from the file must not break the one-per-line shape */
  for (char *c = msg; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  l->nerr++;
  if (!l->errs || !l->errsz) return;
  int n = snprintf(l->errs + l->len, l->errsz - l->len, "%s%s:%d:%d: %s", l->len ? "\n" : "", l->file, line,
                   col, msg);
  if (n < 0 || (size_t)n >= l->errsz - l->len) {
    l->errs[l->len] = 0; /* keep whole lines only */
    l->dropped++;
    return;
  }
  l->len += (size_t)n;
}

static const char *a_type(enum toml_type t)
{
  switch (t) {
  case TOML_TABLE: return "a table";
  case TOML_ARRAY: return "an array";
  case TOML_STRING: return "a string";
  case TOML_INTEGER: return "an integer";
  case TOML_FLOAT: return "a float";
  case TOML_BOOLEAN: return "a boolean";
  case TOML_DATETIME: return "an offset date-time";
  case TOML_DATETIME_LOCAL: return "a local date-time";
  case TOML_DATE_LOCAL: return "a local date";
  case TOML_TIME_LOCAL: return "a local time";
  }
  return "a value";
}

/* "'key' in [section]", or "'key'" at the top level. */
static const char *key_where(char *buf, size_t size, const struct toml_key *k, const char *sect)
{
  if (sect)
    snprintf(buf, size, "'%.100s' in [%.150s]", k->key, sect);
  else
    snprintf(buf, size, "'%.100s'", k->key);
  return buf;
}

static void type_error(struct loader *l, const struct toml_key *k, const char *sect, const char *want)
{
  char w[300];
  lerr(l, k->value->line, k->value->col, "%s must be %s, not %s", key_where(w, sizeof w, k, sect), want,
       a_type(k->value->type));
}

static void unknown_key(struct loader *l, const struct toml_key *k, const char *sect,
                        const char *const *known)
{
  char where[200];
  if (sect)
    snprintf(where, sizeof where, "in [%s]", sect);
  else
    snprintf(where, sizeof where, "at the top level");
  /* a typo of a key of this section first, then a key of another section */
  const char *close = bh_nearest(k->key, known);
  if (close) {
    lerr(l, k->line, k->col, "unknown key '%s' %s; did you mean '%s'?", k->key, where, close);
    return;
  }
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
    if (sect && !strcmp(sect, sections[i].name)) continue;
    for (const char *const *kk = sections[i].keys; *kk; kk++) {
      if (!strcmp(*kk, k->key)) {
        lerr(l, k->line, k->col, "unknown key '%s' %s; did you mean '%s' in [%s]?", k->key, where, *kk,
             sections[i].name);
        return;
      }
    }
  }
  const char *near = bh_nearest(k->key, known);
  if (near) {
    lerr(l, k->line, k->col, "unknown key '%s' %s; did you mean '%s'?", k->key, where, near);
    return;
  }
  if (sect) {
    for (const char *const *kk = top_keys; *kk; kk++) {
      if (!strcmp(*kk, k->key)) {
        lerr(l, k->line, k->col, "unknown key '%s' %s; '%s' belongs at the top level, before any [section]",
             k->key, where, *kk);
        return;
      }
    }
  }
  char list[512];
  size_t len = 0;
  list[0] = 0;
  for (const char *const *kk = known; *kk && len < sizeof list; kk++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *kk);
  lerr(l, k->line, k->col, "unknown key '%s' %s (known keys: %s)", k->key, where, list);
}

/* ---- values ---- */

/* The string of k's value, or NULL after reporting why it is not one. */
static const char *get_string(struct loader *l, const struct toml_key *k, const char *sect, int nonempty)
{
  char w[300];
  const struct toml_value *v = k->value;
  if (v->type != TOML_STRING) {
    type_error(l, k, sect, "a string");
    return NULL;
  }
  if (strlen(v->u.str.ptr) != v->u.str.len) {
    lerr(l, v->line, v->col, "%s must not contain NUL characters", key_where(w, sizeof w, k, sect));
    return NULL;
  }
  if (nonempty && !v->u.str.len) {
    lerr(l, v->line, v->col, "%s must not be empty", key_where(w, sizeof w, k, sect));
    return NULL;
  }
  return v->u.str.ptr;
}

static void set_string(char **field, const char *s)
{
  if (!s) return;
  free(*field);
  *field = xstrdup(s);
}

/* An integer within [min, max], or -1 after reporting. */
static int get_integer(struct loader *l, const struct toml_key *k, const char *sect, int64_t min, int64_t max,
                       int64_t *out)
{
  char w[300], want[100];
  const struct toml_value *v = k->value;
  snprintf(want, sizeof want, "an integer from %" PRId64 " to %" PRId64, min, max);
  if (v->type != TOML_INTEGER) {
    type_error(l, k, sect, want);
    return -1;
  }
  if (v->u.integer < min || v->u.integer > max) {
    lerr(l, v->line, v->col, "%s must be from %" PRId64 " to %" PRId64 ", not %" PRId64,
         key_where(w, sizeof w, k, sect), min, max, v->u.integer);
    return -1;
  }
  *out = v->u.integer;
  return 0;
}

/* A duration (a string such as "15s", or a number of seconds) within
 * [min, max] seconds, or -1 after reporting. */
static int get_duration(struct loader *l, const struct toml_key *k, const char *sect, double min, double max,
                        double *out)
{
  char w[300];
  const struct toml_value *v = k->value;
  double d;
  if (v->type == TOML_STRING) {
    if (config_parse_duration(v->u.str.ptr, &d) || strlen(v->u.str.ptr) != v->u.str.len) {
      lerr(l, v->line, v->col,
           "%s: '%s' is not a duration (write it like \"500ms\", \"15s\", \"5m\", \"2h\" or \"1d\")",
           key_where(w, sizeof w, k, sect), v->u.str.ptr);
      return -1;
    }
  } else if (v->type == TOML_INTEGER) {
    d = (double)v->u.integer;
  } else if (v->type == TOML_FLOAT && isfinite(v->u.flt)) {
    d = v->u.flt;
  } else {
    type_error(l, k, sect, "a duration such as \"15s\" or a number of seconds");
    return -1;
  }
  if (d < min || d > max) {
    lerr(l, v->line, v->col, "%s must be from %gs to %gs, not %gs", key_where(w, sizeof w, k, sect), min, max,
         d);
    return -1;
  }
  *out = d;
  return 0;
}

/* The items of k's value when it is an array, or the value itself as the
 * only item when it is a string (a list of one may be written bare); NULL
 * for any other type. */
static const struct toml_value *const *string_items(const struct toml_key *k, size_t *n)
{
  if (k->value->type == TOML_ARRAY) {
    *n = k->value->u.array.len;
    /* an empty array is a list too (of no items) */
    return *n ? (const struct toml_value *const *)k->value->u.array.items
              : (const struct toml_value *const *)&k->value;
  }
  *n = 1;
  return k->value->type == TOML_STRING ? (const struct toml_value *const *)&k->value : NULL;
}

/* A list of schema.table globs: an array of strings, or one string. Returns
 * a NULL-terminated vector (caller frees), NULL for an empty list, or -1
 * after reporting. */
static int get_globs(struct loader *l, const struct toml_key *k, const char *sect, char ***out)
{
  char w[300];
  size_t n;
  const struct toml_value *const *items = string_items(k, &n);
  if (!items) {
    type_error(l, k, sect, "an array of \"schema.table\" patterns");
    return -1;
  }
  char **vec = xcalloc(n + 1, sizeof *vec);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const struct toml_value *it = items[i];
    if (it->type != TOML_STRING) {
      lerr(l, it->line, it->col, "%s must hold \"schema.table\" patterns (strings), not %s",
           key_where(w, sizeof w, k, sect), a_type(it->type));
      bad = 1;
      continue;
    }
    const char *s = it->u.str.ptr;
    const char *dot = strchr(s, '.');
    if (strlen(s) != it->u.str.len || !dot || dot == s || !dot[1]) {
      if (!dot && *s && strlen(s) == it->u.str.len)
        lerr(l, it->line, it->col,
             "%s: '%s' is not a \"schema.table\" pattern (for every table of '%s', write '%s.*')",
             key_where(w, sizeof w, k, sect), s, s, s);
      else
        lerr(l, it->line, it->col,
             "%s: '%s' is not a \"schema.table\" pattern (such as \"shop.orders\" or \"shop.*\")",
             key_where(w, sizeof w, k, sect), s);
      bad = 1;
      continue;
    }
    vec[i] = xstrdup(s);
  }
  if (bad) {
    for (size_t i = 0; i < n; i++)
      free(vec[i]);
    free(vec);
    return -1;
  }
  if (!n) {
    free(vec);
    vec = NULL;
  }
  *out = vec;
  return 0;
}

/* ---- sections ---- */

/* A size: a number of bytes or a string such as "64MiB", within [lo, hi]
 * (named lo_s and hi_s in the message). Returns 0, or -1 after an error. */
static int get_size(struct loader *l, const struct toml_key *k, const char *section, uint64_t lo, uint64_t hi,
                    const char *lo_s, const char *hi_s, uint64_t *out)
{
  char w[300];
  const struct toml_value *v = k->value;
  uint64_t b;
  if (v->type == TOML_INTEGER && v->u.integer >= 0) {
    b = (uint64_t)v->u.integer;
  } else if (v->type != TOML_STRING || config_parse_size(v->u.str.ptr, &b)) {
    lerr(l, v->line, v->col, "%s must be a size such as \"64MiB\", \"500MB\" or a number of bytes",
         key_where(w, sizeof w, k, section));
    return -1;
  }
  if (b < lo || b > hi) {
    lerr(l, v->line, v->col, "%s must be from %s to %s", key_where(w, sizeof w, k, section), lo_s, hi_s);
    return -1;
  }
  *out = b;
  return 0;
}

static void load_source(struct loader *l, const struct toml_value *t, struct config_source *src)
{
  static const char *const S = "source";
  char w[300], err[512];
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    const struct toml_value *v = k->value;
    const char *name = k->key, *s;
    int64_t n;
    double d;
    if (!strcmp(name, "url")) {
      if (!(s = get_string(l, k, S, 1))) continue;
      char *shown = redact_url(s);
      struct conn_opts o;
      memset(&o, 0, sizeof o);
      if (conn_parse_url(shown, &o, err, sizeof err))
        lerr(l, v->line, v->col, "%s: %s", key_where(w, sizeof w, k, S), err);
      else
        set_string(&src->url, s);
      conn_opts_free(&o);
      free(shown);
    } else if (!strcmp(name, "password_env")) {
      if (!(s = get_string(l, k, S, 0))) continue;
      size_t bad = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
      if (s[bad] || (s[0] >= '0' && s[0] <= '9'))
        lerr(l, v->line, v->col, "%s: '%s' is not an environment variable name (letters, digits and '_')",
             key_where(w, sizeof w, k, S), s);
      else
        set_string(&src->password_env, s);
    } else if (!strcmp(name, "password_file")) {
      set_path(l->file, &src->password_file, get_string(l, k, S, 1));
    } else if (!strcmp(name, "tls")) {
      enum conn_tls mode;
      if (!(s = get_string(l, k, S, 1))) continue;
      if (conn_parse_tls(s, &mode))
        lerr(l, v->line, v->col,
             "%s: unknown mode '%s' (use disabled, preferred, required, verify_ca or verify_identity)",
             key_where(w, sizeof w, k, S), s);
      else
        set_string(&src->tls, s);
    } else if (!strcmp(name, "tls_ca")) {
      set_path(l->file, &src->tls_ca, get_string(l, k, S, 1));
    } else if (!strcmp(name, "tls_cert")) {
      set_path(l->file, &src->tls_cert, get_string(l, k, S, 1));
    } else if (!strcmp(name, "tls_key")) {
      set_path(l->file, &src->tls_key, get_string(l, k, S, 1));
    } else if (!strcmp(name, "server_id")) {
      if (!get_integer(l, k, S, 1, UINT32_MAX, &n)) src->server_id = (unsigned)n;
    } else if (!strcmp(name, "start")) {
      struct start_pos pos;
      if (!(s = get_string(l, k, S, 1))) continue;
      if (start_pos_parse(s, &pos, err, sizeof err))
        lerr(l, v->line, v->col, "%s: %s", key_where(w, sizeof w, k, S), err);
      else
        set_string(&src->start, s);
    } else if (!strcmp(name, "tables") || !strcmp(name, "exclude")) {
      char **vec, ***field = name[0] == 't' ? &src->tables : &src->exclude;
      if (get_globs(l, k, S, &vec)) continue;
      if (!vec && field == &src->tables) {
        lerr(l, v->line, v->col, "%s is empty: leave it out to read every table",
             key_where(w, sizeof w, k, S));
        continue;
      }
      strv_free(*field);
      *field = vec;
    } else if (!strcmp(name, "heartbeat")) {
      /* 0 turns heartbeats off; the server takes at most 4294967 s */
      if (!get_duration(l, k, S, 0, 4294967, &d)) src->heartbeat = d;
    } else if (!strcmp(name, "connect_timeout")) {
      if (!get_duration(l, k, S, 0.001, 86400, &d)) src->connect_timeout = d;
    } else if (!strcmp(name, "queue_events")) {
      if (!get_integer(l, k, S, 1, 100000000, &n)) src->queue_events = (size_t)n;
    } else if (!strcmp(name, "queue_bytes")) {
      uint64_t b;
      if (!get_size(l, k, S, 1ull << 20, 64ull << 30, "1MiB", "64GiB", &b)) src->queue_bytes = (size_t)b;
    } else if (!strcmp(name, "snapshot")) {
      if (!(s = get_string(l, k, S, 1))) continue;
      if (strcmp(s, "never") && strcmp(s, "initial") && strcmp(s, "when_needed"))
        lerr(l, v->line, v->col, "%s: unknown value '%s' (use never, initial or when_needed)",
             key_where(w, sizeof w, k, S), s);
      else
        set_string(&src->snapshot, s);
    } else if (!strcmp(name, "snapshot_chunk")) {
      if (!get_integer(l, k, S, 1, 100000000, &n)) src->snapshot_chunk = (uint64_t)n;
    } else if (!strcmp(name, "snapshot_rate")) {
      if (!get_integer(l, k, S, 0, 1000000000, &n)) src->snapshot_rate = (double)n;
    } else if (!strcmp(name, "snapshot_lock")) {
      if (!(s = get_string(l, k, S, 1))) continue;
      if (strcmp(s, "auto") && strcmp(s, "mariadb") && strcmp(s, "global") && strcmp(s, "tables"))
        lerr(l, v->line, v->col, "%s: unknown way '%s' (use auto, mariadb, global or tables)",
             key_where(w, sizeof w, k, S), s);
      else
        set_string(&src->snapshot_lock, s);
    } else {
      unknown_key(l, k, S, source_keys);
    }
  }
}

static void load_state(struct loader *l, const struct toml_value *t, struct config_state *st)
{
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    uint64_t b;
    if (!strcmp(k->key, "dir"))
      set_path(l->file, &st->dir, get_string(l, k, "state", 1));
    else if (!strcmp(k->key, "queue_max")) {
      if (!get_size(l, k, "state", 1ull << 20, 1ull << 50, "1MiB", "1PiB", &b)) st->queue_max = b;
    } else if (!strcmp(k->key, "segment_size")) {
      if (!get_size(l, k, "state", 4096, 1ull << 30, "4KiB", "1GiB", &b)) st->segment_size = b;
    } else
      unknown_key(l, k, "state", state_keys);
  }
}

static void load_log(struct loader *l, const struct toml_value *t, struct config_log *lg)
{
  char w[300];
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    const char *s;
    enum log_level lvl;
    enum log_format fmt;
    if (!strcmp(k->key, "format")) {
      if (!(s = get_string(l, k, "log", 1))) continue;
      if (log_parse_format(s, &fmt))
        lerr(l, k->value->line, k->value->col, "%s: unknown format '%s' (use text, logfmt or json)",
             key_where(w, sizeof w, k, "log"), s);
      else
        set_string(&lg->format, s);
    } else if (strcmp(k->key, "level")) {
      unknown_key(l, k, "log", log_keys);
    } else if ((s = get_string(l, k, "log", 1))) {
      if (log_parse_level(s, &lvl))
        lerr(l, k->value->line, k->value->col,
             "%s: unknown level '%s' (use debug, info, notice, warning or error)",
             key_where(w, sizeof w, k, "log"), s);
      else
        set_string(&lg->level, s);
    }
  }
}


static void load_admin(struct loader *l, const struct toml_value *t, struct config_admin *ad)
{
  char w[300];
  const struct toml_key *listen = NULL;
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    const char *s;
    if (!strcmp(k->key, "listen")) {
      if (!(s = get_string(l, k, "admin", 1))) continue;
      const char *colon = strrchr(s, ':');
      char *end = NULL;
      long port = colon ? strtol(colon + 1, &end, 10) : -1;
      if (!colon || colon == s || !colon[1] || *end || port < 1 || port > 65535)
        lerr(l, k->value->line, k->value->col, "%s: '%s' is not HOST:PORT (such as \"127.0.0.1:9465\")",
             key_where(w, sizeof w, k, "admin"), s);
      else {
        set_string(&ad->listen, s);
        listen = k;
      }
    } else if (!strcmp(k->key, "token")) {
      if ((s = get_string(l, k, "admin", 1))) set_string(&ad->token, s);
    } else if (!strcmp(k->key, "token_env")) {
      if (!(s = get_string(l, k, "admin", 1))) continue;
      const char *val = getenv(s);
      if (!val || !*val)
        lerr(l, k->value->line, k->value->col, "%s: the environment variable '%s' is not set (export it, or "
             "use token_file)", key_where(w, sizeof w, k, "admin"), s);
      else
        set_string(&ad->token, val);
    } else if (!strcmp(k->key, "token_file")) {
      if (!(s = get_string(l, k, "admin", 1))) continue;
      char line[512];
      FILE *f = fopen(s, "r");
      if (!f || !fgets(line, sizeof line, f)) {
        lerr(l, k->value->line, k->value->col, "%s: cannot read '%s': %s", key_where(w, sizeof w, k, "admin"), s,
             f ? "it is empty" : strerror(errno));
      } else {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
          lerr(l, k->value->line, k->value->col, "%s: the first line of '%s' is empty",
               key_where(w, sizeof w, k, "admin"), s);
        else
          set_string(&ad->token, line);
      }
      if (f) fclose(f);
    } else {
      unknown_key(l, k, "admin", admin_keys);
    }
  }
  if (listen && !ad->token) {
    char host[256];
    const char *colon = strrchr(ad->listen, ':');
    size_t n = (size_t)(colon - ad->listen);
    const char *h = ad->listen;
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') h++, n -= 2;
    snprintf(host, sizeof host, "%.*s", (int)n, h);
    if (!admin_is_loopback(host))
      lerr(l, listen->value->line, listen->value->col,
           "%s: '%s' is not a loopback address: anyone who reaches it could read the metrics and replay or drop "
           "dead letters; set a bearer token (token_env or token_file), or listen on 127.0.0.1",
           key_where(w, sizeof w, listen, "admin"), ad->listen);
  }
}

/* Where the contents of string value v start: after its opening quotes (and
 * the newline a multi-line string trims), so that messages about a position
 * inside an expression or a template point at the right character. */
static void text_start(const struct loader *l, const struct toml_value *v, int *line, int *col)
{
  *line = v->line;
  *col = v->col + 1;
  const char *p = l->text, *end = l->text + l->textlen;
  for (int ln = 1; ln < v->line && p < end; p++)
    if (*p == '\n') ln++;
  for (int c = 1; c < v->col && p < end; c++) /* columns count characters */
    do
      p++;
    while (p < end && ((unsigned char)*p & 0xc0) == 0x80);
  if (end - p >= 3 && (!strncmp(p, "\"\"\"", 3) || !strncmp(p, "'''", 3))) {
    p += 3;
    *col = v->col + 3;
    if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) *line += 1, *col = 1;
  }
}

/* For a one-line "..." string with escapes: the file column of each of its
 * characters (see struct config_text). */
static void map_columns(const struct loader *l, const struct toml_value *v, struct config_text *t)
{
  const char *p = l->text, *end = l->text + l->textlen;
  for (int ln = 1; ln < v->line && p < end; p++)
    if (*p == '\n') ln++;
  for (int c = 1; c < v->col && p < end; c++)
    do
      p++;
    while (p < end && ((unsigned char)*p & 0xc0) == 0x80);
  if (p >= end || *p != '"' || (end - p >= 3 && !strncmp(p, "\"\"\"", 3))) return;
  const char *q = p + 1;
  int col = v->col + 1, escaped = 0;
  size_t n = 0, cap = 64;
  int *cols = xmalloc(cap * sizeof *cols);
  while (q < end && *q != '"' && *q != '\n') {
    if (n + 1 >= cap) cols = xrealloc(cols, (cap *= 2) * sizeof *cols);
    cols[n++] = col;
    if (*q == '\\') { /* an escape: ASCII, one column per byte */
      escaped = 1;
      size_t len = q + 1 < end && q[1] == 'u' ? 6 : q + 1 < end && q[1] == 'U' ? 10 : 2;
      q += len;
      col += (int)len;
    } else { /* one character, one column */
      q++;
      while (q < end && ((unsigned char)*q & 0xc0) == 0x80)
        q++;
      col++;
    }
  }
  cols[n++] = col;
  if (!escaped) {
    free(cols);
    return;
  }
  t->cols = cols;
  t->ncols = n;
}

/* Reads string key k into t with its position; 0, or -1 after reporting. */
static int get_text(struct loader *l, const struct toml_key *k, const char *sect, int nonempty,
                    struct config_text *t)
{
  const char *s = get_string(l, k, sect, nonempty);
  if (!s) return -1;
  text_free(t);
  t->s = xstrdup(s);
  t->file = l->file;
  text_start(l, k->value, &t->line, &t->col);
  map_columns(l, k->value, t);
  return 0;
}

/* An array of strings, or one string: a NULL-terminated vector (caller
 * frees; an empty array gives an empty vector), or NULL after reporting. */
static char **get_strings(struct loader *l, const struct toml_key *k, const char *sect, const char *what)
{
  char w[300];
  size_t n;
  const struct toml_value *const *items = string_items(k, &n);
  if (!items) {
    type_error(l, k, sect, what);
    return NULL;
  }
  char **vec = xcalloc(n + 1, sizeof *vec);
  size_t j = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const struct toml_value *it = items[i];
    if (it->type != TOML_STRING || strlen(it->u.str.ptr) != it->u.str.len || !it->u.str.len) {
      lerr(l, it->line, it->col, "%s must be %s; this item is %s", key_where(w, sizeof w, k, sect), what,
           it->type != TOML_STRING ? a_type(it->type)
           : it->u.str.len         ? "a string with NUL characters"
                                   : "an empty string");
      bad = 1;
      continue;
    }
    vec[j++] = xstrdup(it->u.str.ptr);
  }
  if (bad) {
    strv_free(vec);
    return NULL;
  }
  return vec;
}

/* headers = { "X-Name" = "template", ... } */
static int get_headers(struct loader *l, const struct toml_key *k, const char *sect, struct config_header **out,
                       size_t *nout)
{
  char w[300];
  const struct toml_value *v = k->value;
  if (v->type != TOML_TABLE) {
    type_error(l, k, sect, "a table of header names and values ({ \"X-Name\" = \"value\" })");
    return -1;
  }
  struct config_header *h = xcalloc(v->u.table.len + 1, sizeof *h);
  size_t n = 0;
  int bad = 0;
  for (size_t i = 0; i < v->u.table.len; i++) {
    const struct toml_key *hk = &v->u.table.entries[i];
    size_t tok =
        strspn(hk->key, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (!hk->keylen || tok != hk->keylen) {
      lerr(l, hk->line, hk->col, "%s: '%s' is not a valid HTTP header name", key_where(w, sizeof w, k, sect),
           hk->key);
      bad = 1;
      continue;
    }
    if (get_text(l, hk, sect, 0, &h[n].value)) {
      bad = 1;
      continue;
    }
    h[n++].name = xstrdup(hk->key);
  }
  if (bad) {
    headers_free(h, n);
    return -1;
  }
  headers_free(*out, *nout);
  *out = h;
  *nout = n;
  return 0;
}

/* Appends the n bytes of s to vec, as one secret (when not empty). */
static char **add_secret(char **vec, const char *s, size_t len)
{
  size_t n = 0;
  while (vec && vec[n])
    n++;
  if (!len) return vec;
  vec = xrealloc(vec, (n + 2) * sizeof *vec);
  vec[n] = xmalloc(len + 1);
  memcpy(vec[n], s, len);
  vec[n][len] = 0;
  vec[n + 1] = NULL;
  return vec;
}

/* Appends the secrets in text, separated by white space, to vec. */
static char **add_secrets(char **vec, const char *text)
{
  for (const char *p = text;;) {
    p += strspn(p, " \t\r\n");
    size_t len = strcspn(p, " \t\r\n");
    if (!len) break;
    vec = add_secret(vec, p, len);
    p += len;
  }
  return vec;
}

static int env_name_ok(const char *s)
{
  size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
  return *s && !s[n] && !(s[0] >= '0' && s[0] <= '9');
}

/* Reads a small secret file (at most 64 KiB) whole; NULL with errno. */
static char *slurp_secret(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *p = xmalloc(65537);
  size_t n = fread(p, 1, 65536, f);
  int e = ferror(f) ? errno : 0;
  fclose(f);
  if (e) {
    free(p);
    errno = e;
    return NULL;
  }
  p[n] = 0;
  return p;
}

static void wipe_free(char *s)
{
  if (!s) return;
  volatile char *c = s;
  while (*c)
    *c++ = 0;
  free(s);
}

__attribute__((format(printf, 5, 6))) static void set_problem(struct loader *l, char **field, int line, int col,
                                                              const char *fmt, ...)
{
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(*field);
  size_t n = strlen(l->file) + strlen(msg) + 32;
  *field = xmalloc(n);
  snprintf(*field, n, "%s:%d:%d: %s", l->file, line, col, msg);
}

static int one_of(const char *s, const char *const *known)
{
  for (const char *const *p = known; *p; p++)
    if (!strcmp(*p, s)) return 1;
  return 0;
}

static const char *const ordering_names[] = {"key", "none", "endpoint", NULL};
static const char *const signing_names[] = {"none", "standard-webhooks", "github", NULL};

static int is_mail_address(const char *s)
{
  const char *at = strchr(s, '@');
  return at && at != s && at[1] && !strpbrk(s, "\r\n<>, \t\"");
}

/* PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]], as CURLOPT_AWS_SIGV4 takes it. */
static int aws_sigv4_ok(const char *s)
{
  int parts = 0;
  for (const char *p = s;; p++) {
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
    if (!n || n > 64 || ++parts > 4) return 0;
    p += n;
    if (!*p) return 1;
    if (*p != ':') return 0;
  }
}

/* The AWS credentials of an endpoint that has aws_sigv4, from the
 * environment variables its aws_*_env keys name (env: access key, secret
 * key, session token). As with secret_env, an unset variable is a problem
 * that `check` only warns about and commands that send refuse. */
static void load_aws_credentials(struct loader *l, struct config_endpoint *ep, const struct toml_key *aws_key,
                                 const struct toml_key *const env[3])
{
  static const char *const keys[] = {"aws_access_key_env", "aws_secret_key_env", "aws_session_token_env"};
  char **fields[] = {&ep->aws_access_key, &ep->aws_secret_key, &ep->aws_session_token};
  if (!aws_key) {
    for (int i = 0; i < 3; i++)
      if (env[i])
        lerr(l, env[i]->line, env[i]->col, "%s has no effect without aws_sigv4 (such as aws_sigv4 = "
             "\"aws:amz:us-east-1:kinesis\") in [endpoint.%s]", keys[i], ep->name);
    return;
  }
  if (!env[0] || !env[1]) {
    lerr(l, aws_key->line, aws_key->col, "endpoint '%s' signs with aws_sigv4 but has no %s; name the "
         "environment variables holding the credentials with aws_access_key_env and aws_secret_key_env",
         ep->name, !env[0] && !env[1] ? "credentials" : !env[0] ? "access key" : "secret key");
    return;
  }
  /* every unset variable in one message */
  struct buf unset = BUF_INIT;
  const struct toml_key *first = NULL;
  int nunset = 0;
  for (int i = 0; i < 3; i++) {
    if (!env[i]) continue;
    const char *var = env[i]->value->u.str.ptr, *val = getenv(var);
    if (val && *val) {
      free(*fields[i]);
      *fields[i] = xstrdup(val);
      continue;
    }
    if (!first) first = env[i];
    buf_printf(&unset, "%s'%s' (%s)", nunset ? ", " : "", var, keys[i]);
    nunset++;
  }
  if (first && !ep->secret_problem)
    set_problem(l, &ep->secret_problem, first->value->line, first->value->col,
                "the environment variable%s %s of endpoint '%s' %s not set; export %s before starting binhook",
                nunset > 1 ? "s" : "", unset.p, ep->name, nunset > 1 ? "are" : "is", nunset > 1 ? "them" : "it");
  buf_free(&unset);
}

static void load_endpoint(struct loader *l, const char *name, const struct toml_key *ek)
{
  char sect[200], w[300], ebuf[128];
  struct config *cfg = l->cfg;
  const struct toml_value *t = ek->value;
  snprintf(sect, sizeof sect, "endpoint.%.150s", name);
  if (t->type != TOML_TABLE) {
    lerr(l, t->line, t->col, "[endpoint.%s] must be a table, not %s", name, a_type(t->type));
    return;
  }
  const struct config_endpoint *dup = config_endpoint(cfg, name);
  if (dup) {
    lerr(l, ek->line, ek->col, "endpoint '%s' is defined twice (first at %s:%d:%d)", name, dup->file, dup->line,
         dup->col);
    return;
  }
  cfg->endpoints = xrealloc(cfg->endpoints, (cfg->nendpoints + 1) * sizeof *cfg->endpoints);
  struct config_endpoint *ep = &cfg->endpoints[cfg->nendpoints++];
  memset(ep, 0, sizeof *ep);
  ep->name = xstrdup(name);
  ep->file = l->file;
  ep->line = ek->line;
  ep->col = ek->col;
  ep->method = xstrdup("POST");
  ep->timeout = 15;
  ep->max_age = 3 * 86400;
  ep->concurrency = 8;
  ep->breaker_failures = 10;
  ep->breaker_cooldown = 30;
  ep->ordering = xstrdup("key");
  static const double default_retry[] = {5, 300, 1800, 7200, 18000, 36000, 36000};
  ep->nretry = sizeof default_retry / sizeof default_retry[0];
  ep->retry = xmalloc(sizeof default_retry);
  memcpy(ep->retry, default_retry, sizeof default_retry);

  const struct toml_key *secret_env = NULL, *secret_file = NULL, *pw_env = NULL, *pw_file = NULL;
  const struct toml_key *aws_key = NULL, *aws_env[3] = {NULL, NULL, NULL}; /* access, secret, token */
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    const struct toml_value *v = k->value;
    const char *key = k->key, *s;
    int64_t n;
    double d;
    char **vec;
    if (!strcmp(key, "url")) {
      if (get_text(l, k, sect, 1, &ep->url)) continue;
      if (strncmp(ep->url.s, "http://", 7) && strncmp(ep->url.s, "https://", 8) &&
          strncmp(ep->url.s, "smtp://", 7) && strncmp(ep->url.s, "smtps://", 8)) {
        lerr(l, v->line, v->col, "%s: '%s' must start with http://, https://, smtp:// or smtps://",
             key_where(w, sizeof w, k, sect), ep->url.s);
        text_free(&ep->url);
      }
    } else if (!strcmp(key, "method")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(s))
        lerr(l, v->line, v->col, "%s: '%s' is not an HTTP method (such as POST, PUT or DELETE)",
             key_where(w, sizeof w, k, sect), s);
      else
        set_string(&ep->method, s);
    } else if (!strcmp(key, "headers")) {
      get_headers(l, k, sect, &ep->headers, &ep->nheaders);
    } else if (!strcmp(key, "signing")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      const char *near = bh_nearest(s, signing_names);
      if (!one_of(s, signing_names)) {
        lerr(l, v->line, v->col, "%s: unknown scheme '%s'%s%s%s (use none, standard-webhooks or github)",
             key_where(w, sizeof w, k, sect), s, near ? "; did you mean '" : "", near ? near : "",
             near ? "'?" : "");
        set_string(&ep->signing, "none"); /* no follow-on errors about its secret */
      } else {
        set_string(&ep->signing, s);
      }
    } else if (!strcmp(key, "secret")) {
      if (!(vec = get_strings(l, k, sect, "a secret (a string) or a list of them"))) continue;
      secrets_free(ep->secrets);
      ep->secrets = vec;
    } else if (!strcmp(key, "secret_env") || !strcmp(key, "password_env")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (!env_name_ok(s))
        lerr(l, v->line, v->col, "%s: '%s' is not an environment variable name (letters, digits and '_')",
             key_where(w, sizeof w, k, sect), s);
      else if (key[0] == 's')
        secret_env = k;
      else
        pw_env = k;
    } else if (!strcmp(key, "secret_file") || !strcmp(key, "password_file")) {
      if (get_string(l, k, sect, 1)) *(key[0] == 's' ? &secret_file : &pw_file) = k;
    } else if (!strcmp(key, "timeout")) {
      if (!get_duration(l, k, sect, 0.001, 86400, &d)) ep->timeout = d;
    } else if (!strcmp(key, "max_age")) {
      if (!get_duration(l, k, sect, 1, 366 * 86400.0, &d)) ep->max_age = d;
    } else if (!strcmp(key, "coalesce")) {
      if (!get_duration(l, k, sect, 0, 3600, &d)) ep->coalesce = d;
    } else if (!strcmp(key, "retry")) {
      if (v->type != TOML_ARRAY) {
        type_error(l, k, sect, "an array of durations (such as [\"5s\", \"5m\", \"30m\"])");
        continue;
      }
      double *delays = xcalloc(v->u.array.len + 1, sizeof *delays);
      int bad = 0;
      for (size_t j = 0; j < v->u.array.len; j++) {
        struct toml_key item = {.key = k->key, .keylen = k->keylen, .line = k->line, .col = k->col,
                                .value = v->u.array.items[j]};
        bad |= get_duration(l, &item, sect, 0, 30 * 86400.0, &delays[j]) != 0;
      }
      if (bad) {
        free(delays);
        continue;
      }
      free(ep->retry);
      ep->retry = delays;
      ep->nretry = v->u.array.len;
    } else if (!strcmp(key, "no_retry")) {
      if (v->type != TOML_ARRAY) {
        type_error(l, k, sect, "an array of HTTP statuses (such as [400, 401, 403, 404, 422])");
        continue;
      }
      int *st = xcalloc(v->u.array.len + 1, sizeof *st), bad = 0;
      for (size_t j = 0; j < v->u.array.len; j++) {
        const struct toml_value *it = v->u.array.items[j];
        if (it->type != TOML_INTEGER || it->u.integer < 100 || it->u.integer > 599 ||
            (it->u.integer >= 200 && it->u.integer < 300)) {
          lerr(l, it->line, it->col, "%s must hold HTTP statuses from 300 to 599 (2xx is success)",
               key_where(w, sizeof w, k, sect));
          bad = 1;
          continue;
        }
        st[j] = (int)it->u.integer;
      }
      if (bad) {
        free(st);
        continue;
      }
      free(ep->no_retry);
      ep->no_retry = st;
      ep->nno_retry = v->u.array.len;
    } else if (!strcmp(key, "concurrency")) {
      if (!get_integer(l, k, sect, 1, 10000, &n)) ep->concurrency = (unsigned)n;
    } else if (!strcmp(key, "rate_limit")) {
      double rate = v->type == TOML_INTEGER ? (double)v->u.integer : v->type == TOML_FLOAT ? v->u.flt : -1;
      if (!(rate > 0 && rate <= 1e6))
        lerr(l, v->line, v->col, "%s must be a number of requests per second above 0 (such as 50 or 0.5)",
             key_where(w, sizeof w, k, sect));
      else
        ep->rate_limit = rate;
    } else if (!strcmp(key, "burst")) {
      if (!get_integer(l, k, sect, 1, 1000000, &n)) ep->burst = (unsigned)n;
    } else if (!strcmp(key, "breaker_failures")) {
      if (!get_integer(l, k, sect, 0, 1000000, &n)) ep->breaker_failures = (unsigned)n;
    } else if (!strcmp(key, "breaker_cooldown")) {
      if (!get_duration(l, k, sect, 0.001, 86400, &d)) ep->breaker_cooldown = d;
    } else if (!strcmp(key, "ordering")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (!one_of(s, ordering_names))
        lerr(l, v->line, v->col, "%s: unknown ordering '%s' (use key, none or endpoint)",
             key_where(w, sizeof w, k, sect), s);
      else
        set_string(&ep->ordering, s);
    } else if (!strcmp(key, "mail_from")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (!is_mail_address(s))
        lerr(l, v->line, v->col, "%s: '%s' is not an e-mail address", key_where(w, sizeof w, k, sect), s);
      else
        set_string(&ep->mail_from, s);
    } else if (!strcmp(key, "mail_to") || !strcmp(key, "mail_cc")) {
      if (!(vec = get_strings(l, k, sect, "an e-mail address or a list of them"))) continue;
      int bad = 0;
      for (char **p = vec; *p; p++) {
        if (!is_mail_address(*p)) {
          lerr(l, v->line, v->col, "%s: '%s' is not an e-mail address", key_where(w, sizeof w, k, sect), *p);
          bad = 1;
        }
      }
      if (bad || !vec[0]) {
        if (!vec[0]) lerr(l, v->line, v->col, "%s is empty", key_where(w, sizeof w, k, sect));
        strv_free(vec);
        continue;
      }
      char ***field = key[5] == 't' ? &ep->mail_to : &ep->mail_cc;
      strv_free(*field);
      *field = vec;
    } else if (!strcmp(key, "username")) {
      set_string(&ep->username, get_string(l, k, sect, 1));
    } else if (!strcmp(key, "tls_ca")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      set_path(l->file, &ep->tls_ca, s);
      if (access(ep->tls_ca, R_OK))
        lerr(l, v->line, v->col, "%s: cannot read '%s': %s", key_where(w, sizeof w, k, sect), ep->tls_ca,
             strerror(errno));
    } else if (!strcmp(key, "subject")) {
      get_text(l, k, sect, 1, &ep->subject);
    } else if (!strcmp(key, "aws_sigv4")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (!aws_sigv4_ok(s))
        lerr(l, v->line, v->col, "%s: '%s' is not PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]] (letters, digits, "
             "'-', '_' and '.'), such as \"aws:amz:us-east-1:kinesis\"", key_where(w, sizeof w, k, sect), s);
      else
        set_string(&ep->aws_sigv4, s);
      aws_key = k;
    } else if (!strcmp(key, "aws_access_key_env") || !strcmp(key, "aws_secret_key_env") ||
               !strcmp(key, "aws_session_token_env")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (!env_name_ok(s))
        lerr(l, v->line, v->col, "%s: '%s' is not an environment variable name (letters, digits and '_')",
             key_where(w, sizeof w, k, sect), s);
      else
        aws_env[!strcmp(key, "aws_access_key_env") ? 0 : !strcmp(key, "aws_secret_key_env") ? 1 : 2] = k;
    } else {
      unknown_key(l, k, sect, endpoint_keys);
    }
  }

  /* secrets: the literal ones, else the environment, else the file. The
   * variable or file may hold several, separated by white space, for
   * Standard Webhooks (base64 has no spaces); a GitHub secret is the whole
   * value (a file's first line). */
  int whole = ep->signing && !strcmp(ep->signing, "github");
  if (!ep->secrets && secret_env) {
    const char *val = getenv(secret_env->value->u.str.ptr);
    if (val && *val) {
      ep->secrets = whole ? add_secret(NULL, val, strlen(val)) : add_secrets(NULL, val);
    } else if (!secret_file) {
      set_problem(l, &ep->secret_problem, secret_env->value->line, secret_env->value->col,
                  "the environment variable '%s' (secret_env of endpoint '%s') is not set; export it before "
                  "starting binhook",
                  secret_env->value->u.str.ptr, name);
    }
  }
  if (!ep->secrets && secret_file) {
    char *path = resolve_path(l->file, secret_file->value->u.str.ptr);
    char *text = slurp_secret(path);
    if (text) {
      ep->secrets = whole ? add_secret(NULL, text, strcspn(text, "\r\n")) : add_secrets(NULL, text);
      wipe_free(text);
      if (!ep->secrets)
        set_problem(l, &ep->secret_problem, secret_file->value->line, secret_file->value->col,
                    "the secret file '%s' of endpoint '%s' is empty", path, name);
    } else {
      set_problem(l, &ep->secret_problem, secret_file->value->line, secret_file->value->col,
                  "cannot read the secret file '%s' of endpoint '%s': %s", path, name,
                  bh_strerror(errno, ebuf, sizeof ebuf));
    }
    free(path);
  }
  int secret_given = ep->secrets || secret_env || secret_file;
  if (!ep->signing) ep->signing = xstrdup(secret_given ? "standard-webhooks" : "none");
  if (strcmp(ep->signing, "none") && !secret_given)
    lerr(l, ek->line, ek->col,
         "endpoint '%s' signs with %s but has no secret; set secret_env, secret_file or secret, or "
         "signing = \"none\"",
         name, ep->signing);

  /* the SMTP password */
  if (pw_env) {
    const char *val = getenv(pw_env->value->u.str.ptr);
    if (val) ep->password = xstrdup(val);
  }
  if (!ep->password && pw_file) {
    char *path = resolve_path(l->file, pw_file->value->u.str.ptr);
    char *text = slurp_secret(path);
    if (text) {
      text[strcspn(text, "\r\n")] = 0;
      ep->password = xstrdup(text);
      wipe_free(text);
    } else {
      set_problem(l, &ep->secret_problem, pw_file->value->line, pw_file->value->col,
                  "cannot read the password file '%s' of endpoint '%s': %s", path, name,
                  bh_strerror(errno, ebuf, sizeof ebuf));
    }
    free(path);
  }

  load_aws_credentials(l, ep, aws_key, aws_env);

  if (aws_key && ep->url.s && !strncmp(ep->url.s, "smtp", 4))
    lerr(l, aws_key->line, aws_key->col,
         "endpoint '%s' sends e-mail, and aws_sigv4 signs HTTP requests only; remove aws_sigv4 or use an "
         "http:// or https:// url", name);
  else if (aws_key && strcmp(ep->signing, "none"))
    lerr(l, aws_key->line, aws_key->col,
         "endpoint '%s' signs with both %s and aws_sigv4; AWS checks only its own signature: set "
         "signing = \"none\" and drop the secret", name, ep->signing);

  if (!ep->url.s) {
    if (!toml_get_key(t, "url")) lerr(l, ek->line, ek->col, "endpoint '%s' has no url", name);
  } else if (!strncmp(ep->url.s, "smtp", 4)) {
    if (!ep->mail_from && !toml_get_key(t, "mail_from"))
      lerr(l, ep->url.line, ep->url.col, "endpoint '%s' sends e-mail but has no mail_from", name);
    if (!ep->mail_to && !toml_get_key(t, "mail_to"))
      lerr(l, ep->url.line, ep->url.col, "endpoint '%s' sends e-mail but has no mail_to", name);
  } else if (ep->mail_from || ep->mail_to || ep->mail_cc) {
    lerr(l, ep->url.line, ep->url.col,
         "endpoint '%s' has mail_from or mail_to but its url is not smtp:// or smtps://", name);
  }
}

static const char *const on_names[] = {"insert", "update", "delete", "snapshot", "statement", NULL};
static const char *const kind_names[] = {"ddl", "dcl", "other", NULL};

/* A list of words from known (or one word) as a bit mask; -1 after reporting. */
static long get_mask(struct loader *l, const struct toml_key *k, const char *sect, const char *const *known,
                     const char *what)
{
  char w[300], list[200] = "";
  size_t len = 0;
  for (const char *const *p = known; *p; p++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *p);
  char **vec = get_strings(l, k, sect, what);
  if (!vec) return -1;
  long mask = 0;
  int bad = 0;
  for (char **p = vec; *p; p++) {
    int bit = -1;
    for (int j = 0; known[j]; j++)
      if (!strcmp(known[j], *p)) bit = j;
    if (bit >= 0) {
      mask |= 1L << bit;
      continue;
    }
    const char *near = bh_nearest(*p, known);
    if (near)
      lerr(l, k->value->line, k->value->col, "%s: unknown value '%s'; did you mean '%s'?",
           key_where(w, sizeof w, k, sect), *p, near);
    else
      lerr(l, k->value->line, k->value->col, "%s: unknown value '%s' (use %s)", key_where(w, sizeof w, k, sect),
           *p, list);
    bad = 1;
  }
  if (!vec[0]) {
    lerr(l, k->value->line, k->value->col, "%s is empty: leave it out for the default",
         key_where(w, sizeof w, k, sect));
    bad = 1;
  }
  strv_free(vec);
  return bad ? -1 : mask;
}

static void load_rule(struct loader *l, const struct toml_value *t, size_t index)
{
  char sect[80], w[300];
  struct config *cfg = l->cfg;
  if (t->type != TOML_TABLE) {
    lerr(l, t->line, t->col, "each rule must be a table ([[rule]]), not %s", a_type(t->type));
    return;
  }
  cfg->rules = xrealloc(cfg->rules, (cfg->nrules + 1) * sizeof *cfg->rules);
  struct config_rule *r = &cfg->rules[cfg->nrules++];
  memset(r, 0, sizeof *r);
  r->file = l->file;
  r->line = t->line;
  r->col = t->col;
  r->enabled = 1;
  r->sample = 10;
  /* messages say 'key' in [rule 'name'] */
  snprintf(sect, sizeof sect, "rule #%zu", index + 1);
  const struct toml_key *name_key = toml_get_key(t, "name");
  if (name_key && name_key->value->type == TOML_STRING && name_key->value->u.str.len < 60)
    snprintf(sect, sizeof sect, "rule '%s'", name_key->value->u.str.ptr);
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    const struct toml_value *v = k->value;
    const char *key = k->key, *s;
    int64_t n;
    long mask;
    if (!strcmp(key, "name")) {
      if (!(s = get_string(l, k, sect, 1))) continue;
      if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s)) {
        lerr(l, v->line, v->col, "rule name '%s' may hold only letters, digits, '_', '.' and '-'", s);
        continue;
      }
      for (size_t j = 0; j + 1 < cfg->nrules; j++) {
        if (cfg->rules[j].name && !strcmp(cfg->rules[j].name, s)) {
          lerr(l, v->line, v->col, "rule name '%s' is used twice (first at %s:%d:%d)", s, cfg->rules[j].file,
               cfg->rules[j].line, cfg->rules[j].col);
          s = NULL;
          break;
        }
      }
      set_string(&r->name, s);
    } else if (!strcmp(key, "description")) {
      set_string(&r->description, get_string(l, k, sect, 0));
    } else if (!strcmp(key, "enabled")) {
      if (v->type != TOML_BOOLEAN)
        type_error(l, k, sect, "true or false");
      else
        r->enabled = v->u.boolean;
    } else if (!strcmp(key, "table")) {
      char **vec;
      if (get_globs(l, k, sect, &vec)) continue;
      if (!vec) {
        lerr(l, v->line, v->col, "%s is empty: leave it out to match every table",
             key_where(w, sizeof w, k, sect));
        continue;
      }
      strv_free(r->tables);
      r->tables = vec;
    } else if (!strcmp(key, "on")) {
      if ((mask = get_mask(l, k, sect, on_names, "an event type or a list of them")) >= 0) r->on = (unsigned)mask;
    } else if (!strcmp(key, "kind")) {
      if ((mask = get_mask(l, k, sect, kind_names, "a statement kind or a list of them")) >= 0)
        r->kinds = (unsigned)mask;
    } else if (!strcmp(key, "when")) {
      get_text(l, k, sect, 1, &r->when);
    } else if (!strcmp(key, "statement")) {
      get_text(l, k, sect, 1, &r->statement);
    } else if (!strcmp(key, "threshold")) {
      if (!get_integer(l, k, sect, 1, INT64_MAX, &n)) r->threshold = n;
    } else if (!strcmp(key, "sample")) {
      if (!get_integer(l, k, sect, 0, 1000, &n)) r->sample = (unsigned)n;
    } else if (!strcmp(key, "endpoint")) {
      char **vec = get_strings(l, k, sect, "an endpoint name or a list of them");
      if (!vec) continue;
      if (!vec[0]) {
        lerr(l, v->line, v->col, "%s is empty: name at least one endpoint", key_where(w, sizeof w, k, sect));
        strv_free(vec);
        continue;
      }
      strv_free(r->endpoints);
      r->endpoints = vec;
      r->endpoints_file = l->file;
      r->endpoints_line = v->line;
      r->endpoints_col = v->col;
    } else if (!strcmp(key, "template") && v->type == TOML_TABLE) {
      /* a template per endpoint */
      for (size_t j = 0; j < v->u.table.len; j++) {
        const struct toml_key *tk = &v->u.table.entries[j];
        struct config_text tt = {0};
        if (get_text(l, tk, sect, 1, &tt)) continue;
        r->endpoint_templates =
            xrealloc(r->endpoint_templates, (r->nendpoint_templates + 1) * sizeof *r->endpoint_templates);
        r->endpoint_template_names = xrealloc(r->endpoint_template_names,
                                              (r->nendpoint_templates + 1) * sizeof *r->endpoint_template_names);
        r->endpoint_templates[r->nendpoint_templates] = tt;
        r->endpoint_template_names[r->nendpoint_templates++] = xstrdup(tk->key);
      }
    } else if (!strcmp(key, "template")) {
      get_text(l, k, sect, 1, &r->template);
    } else if (!strcmp(key, "subject")) {
      get_text(l, k, sect, 1, &r->subject);
    } else if (!strcmp(key, "method")) {
      if (get_text(l, k, sect, 1, &r->method)) continue;
      if (strspn(r->method.s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(r->method.s)) {
        lerr(l, v->line, v->col, "%s: '%s' is not an HTTP method (such as POST, PUT or DELETE)",
             key_where(w, sizeof w, k, sect), r->method.s);
        text_free(&r->method);
      }
    } else if (!strcmp(key, "url")) {
      get_text(l, k, sect, 1, &r->url);
    } else if (!strcmp(key, "path")) {
      get_text(l, k, sect, 1, &r->path);
    } else if (!strcmp(key, "headers")) {
      get_headers(l, k, sect, &r->headers, &r->nheaders);
    } else {
      unknown_key(l, k, sect, rule_keys);
    }
  }
  if (!r->name) {
    if (!name_key) lerr(l, t->line, t->col, "a rule needs a name (name = \"...\")");
    char buf[64];
    snprintf(buf, sizeof buf, "rule-%zu", cfg->nrules);
    r->name = xstrdup(buf);
  }
  if (!r->endpoints && !toml_get_key(t, "endpoint"))
    lerr(l, t->line, t->col, "rule '%s' has no endpoint (endpoint = \"NAME\" of an [endpoint.NAME])", r->name);
  if (r->threshold && r->statement.s)
    lerr(l, r->statement.line, r->statement.col,
         "rule '%s': a threshold rule counts rows; it cannot also have a statement pattern", r->name);
  if (r->threshold && (r->on & RULE_ON_STATEMENT))
    lerr(l, t->line, t->col, "rule '%s': a threshold rule counts rows; 'on' cannot hold \"statement\"", r->name);
  if (r->kinds && !r->statement.s && !(r->on & RULE_ON_STATEMENT))
    lerr(l, t->line, t->col,
         "rule '%s': 'kind' applies to statements; add a statement pattern or on = [\"statement\"]", r->name);
}

/* Records path in cfg->files and returns the copy that stays. */
static const char *intern_file(struct config *cfg, const char *path)
{
  size_t n = 0;
  while (cfg->files && cfg->files[n])
    n++;
  cfg->files = xrealloc(cfg->files, (n + 2) * sizeof *cfg->files);
  cfg->files[n] = xstrdup(path);
  cfg->files[n + 1] = NULL;
  return cfg->files[n];
}

/* [endpoint.*] or [[rule]] of a file's root table. */
static void load_endpoints_rules(struct loader *l, const struct toml_key *k)
{
  const struct toml_value *v = k->value;
  if (!strcmp(k->key, "endpoint")) {
    if (v->type != TOML_TABLE) {
      type_error(l, k, NULL, "a table of endpoints ([endpoint.NAME])");
      return;
    }
    for (size_t j = 0; j < v->u.table.len; j++)
      load_endpoint(l, v->u.table.entries[j].key, &v->u.table.entries[j]);
  } else {
    if (v->type != TOML_ARRAY) {
      type_error(l, k, NULL, "an array of tables ([[rule]])");
      return;
    }
    for (size_t j = 0; j < v->u.array.len; j++)
      load_rule(l, v->u.array.items[j], j);
  }
}

/* Reads the whole file; 0, or -1 with err. */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errsz)
{
  char ebuf[128];
  FILE *f = fopen(path, "rb");
  if (!f)
    return bh_err(err, errsz, "cannot open config file '%s': %s", path,
                  bh_strerror(errno, ebuf, sizeof ebuf));
  size_t cap = 4096, len = 0;
  char *p = xmalloc(cap);
  for (;;) {
    if (len == cap) {
      if (cap >= MAX_FILE_SIZE) {
        free(p);
        fclose(f);
        return bh_err(err, errsz, "config file '%s' is larger than %u MiB", path, MAX_FILE_SIZE >> 20);
      }
      cap *= 2;
      p = xrealloc(p, cap);
    }
    size_t n = fread(p + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  if (ferror(f)) {
    int e = errno;
    free(p);
    fclose(f);
    return bh_err(err, errsz, "cannot read config file '%s': %s", path, bh_strerror(e, ebuf, sizeof ebuf));
  }
  fclose(f);
  *out = p;
  *outlen = len;
  return 0;
}

/* Appends a message that already carries its position. */
static void lerr_raw(struct loader *l, const char *msg)
{
  l->nerr++;
  if (!l->errs || !l->errsz) return;
  int n = snprintf(l->errs + l->len, l->errsz - l->len, "%s%s", l->len ? "\n" : "", msg);
  if (n < 0 || (size_t)n >= l->errsz - l->len) {
    l->errs[l->len] = 0;
    l->dropped++;
    return;
  }
  l->len += (size_t)n;
}

/* Parses one file; NULL after reporting (the text is kept in *text for
 * positions, caller frees). */
static struct toml_value *parse_file(struct loader *l, const char *path, int line, int col, char **text)
{
  char err[1024];
  size_t len = 0;
  *text = NULL;
  if (read_file(path, text, &len, err, sizeof err)) {
    if (line) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%s:%d:%d: %s", l->file, line, col, err);
      lerr_raw(l, msg);
    } else {
      lerr_raw(l, err);
    }
    return NULL;
  }
  struct toml_value *root = toml_parse(*text, len, path, err, sizeof err);
  if (!root) lerr_raw(l, err);
  l->text = *text;
  l->textlen = len;
  return root;
}

static int has_glob_chars(const char *s) { return strpbrk(s, "*?[") != NULL; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Loads the rule files that one include pattern names, in name order. */
static void load_include(struct loader *l, const char *mainfile, const struct toml_value *pat)
{
  char ebuf[128];
  char *pattern = resolve_path(mainfile, pat->u.str.ptr);
  glob_t g;
  memset(&g, 0, sizeof g);
  int rc = glob(pattern, 0, NULL, &g);
  if (rc == GLOB_NOMATCH && !has_glob_chars(pat->u.str.ptr)) {
    l->file = mainfile;
    lerr(l, pat->line, pat->col, "cannot open included file '%s': %s", pattern, bh_strerror(ENOENT, ebuf, sizeof ebuf));
  } else if (rc && rc != GLOB_NOMATCH) {
    l->file = mainfile;
    lerr(l, pat->line, pat->col, "cannot read the files of include pattern '%s'", pattern);
  }
  if (!rc) qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
  for (size_t i = 0; !rc && i < g.gl_pathc; i++) {
    const char *path = g.gl_pathv[i];
    int seen = 0;
    for (char **f = l->cfg->files; f && *f; f++)
      seen |= !strcmp(*f, path);
    if (seen) continue; /* named by two patterns: read once */
    l->file = intern_file(l->cfg, path);
    char *text;
    struct toml_value *root = parse_file(l, path, 0, 0, &text);
    for (size_t j = 0; root && j < root->u.table.len; j++) {
      const struct toml_key *k = &root->u.table.entries[j];
      if (!strcmp(k->key, "endpoint") || !strcmp(k->key, "rule"))
        load_endpoints_rules(l, k);
      else if (one_of(k->key, top_keys))
        lerr(l, k->line, k->col, "'%s' belongs in the main configuration file; an included file holds only "
             "[[rule]] and [endpoint.NAME] sections", k->key);
      else
        unknown_key(l, k, NULL, include_keys);
    }
    toml_free(root);
    free(text);
  }
  globfree(&g);
  free(pattern);
}

int config_load(const char *path, struct config *cfg, char *errs, size_t errsz)
{
  struct loader l = {.cfg = cfg, .errs = errs, .errsz = errsz};
  char *text = NULL;
  if (errs && errsz) errs[0] = 0;
  set_string(&cfg->path, path);
  const char *mainfile = l.file = intern_file(cfg, path);
  struct toml_value *root = parse_file(&l, path, 0, 0, &text);
  if (!root) {
    free(text);
    return -1;
  }
  if (!cfg->templates) cfg->templates = resolve_path(mainfile, "templates");

  const struct toml_value *include = NULL;
  for (size_t i = 0; i < root->u.table.len; i++) {
    const struct toml_key *k = &root->u.table.entries[i];
    const struct toml_value *v = k->value;
    const char *name = k->key;
    if (!strcmp(name, "source") || !strcmp(name, "state") || !strcmp(name, "log") || !strcmp(name, "admin")) {
      char want[64];
      snprintf(want, sizeof want, "a table ([%s])", name);
      if (v->type != TOML_TABLE)
        type_error(&l, k, NULL, want);
      else if (!strcmp(name, "source"))
        load_source(&l, v, &cfg->source);
      else if (!strcmp(name, "state"))
        load_state(&l, v, &cfg->state);
      else if (!strcmp(name, "log"))
        load_log(&l, v, &cfg->log);
      else
        load_admin(&l, v, &cfg->admin);
    } else if (!strcmp(name, "endpoint") || !strcmp(name, "rule")) {
      load_endpoints_rules(&l, k);
    } else if (!strcmp(name, "include")) {
      int ok = v->type == TOML_ARRAY || v->type == TOML_STRING;
      for (size_t j = 0; ok && v->type == TOML_ARRAY && j < v->u.array.len; j++)
        ok = v->u.array.items[j]->type == TOML_STRING && v->u.array.items[j]->u.str.len &&
             strlen(v->u.array.items[j]->u.str.ptr) == v->u.array.items[j]->u.str.len;
      if (!ok)
        type_error(&l, k, NULL, "an array of file patterns (non-empty strings)");
      else
        include = v;
    } else if (!strcmp(name, "templates")) {
      set_path(mainfile, &cfg->templates, get_string(&l, k, NULL, 1));
    } else {
      unknown_key(&l, k, NULL, top_keys);
    }
  }
  /* rule files after the main file's own rules and endpoints */
  if (include && include->type == TOML_STRING) {
    load_include(&l, mainfile, include);
  } else if (include) {
    for (size_t j = 0; j < include->u.array.len; j++)
      load_include(&l, mainfile, include->u.array.items[j]);
  }
  toml_free(root);
  free(text);

  if (l.dropped && errs && errsz) {
    char more[64];
    snprintf(more, sizeof more, "\n(%d more error%s not shown)", l.dropped, l.dropped == 1 ? "" : "s");
    if (l.len + strlen(more) < errsz) memcpy(errs + l.len, more, strlen(more) + 1);
  }
  return l.nerr ? -1 : 0;
}

int config_source_conn(const struct config *cfg, struct conn_opts *out, char *err, size_t errsz)
{
  const struct config_source *s = &cfg->source;
  const char *url = s->url ? s->url : DEFAULT_URL;
  char *shown = redact_url(url);
  memset(out, 0, sizeof *out);
  /* messages show the URL without its password */
  if (conn_parse_url(shown, out, err, errsz)) goto fail;
  conn_opts_free(out);
  if (conn_parse_url(url, out, err, errsz)) {
    bh_err(err, errsz, "cannot parse the source URL '%s'", shown);
    goto fail;
  }
  if (s->tls && conn_parse_tls(s->tls, &out->tls)) {
    bh_err(err, errsz,
           "unknown tls mode '%s' (use disabled, preferred, required, verify_ca or verify_identity)", s->tls);
    goto fail;
  }
  if (s->tls_ca) set_string(&out->tls_ca, s->tls_ca);
  if (s->tls_cert) set_string(&out->tls_cert, s->tls_cert);
  if (s->tls_key) set_string(&out->tls_key, s->tls_key);
  double ct = s->connect_timeout > 0 ? ceil(s->connect_timeout) : 10;
  out->connect_timeout = ct > 86400 ? 86400 : (unsigned)ct;
  out->read_timeout = 0;
  if (conn_load_password(out, s->password_env ? s->password_env : DEFAULT_PASSWORD_ENV, s->password_file, err,
                         errsz))
    goto fail;
  free(shown);
  return 0;
fail:
  free(shown);
  conn_opts_free(out);
  return -1;
}
