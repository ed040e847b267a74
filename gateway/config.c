/* config.c - see config.h. The file is parsed by toml.c into a tree; this
 * module walks the tree section by section, checks every key against the
 * list of keys it knows, converts the values into struct config and collects
 * every problem, with the position toml.c kept for it, into the caller's
 * buffer. Relative paths (state dir, password and TLS files) are taken from
 * the directory of the file. Sections later work will fill ([admin],
 * [endpoint.*], [[rule]]) are accepted as they are for now. */
#include "config.h"
#include "log.h"
#include "source.h"
#include "toml.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "mysql://binhook@127.0.0.1:3306"
#define DEFAULT_PASSWORD_ENV "BINHOOK_MYSQL_PASSWORD"
#define MAX_FILE_SIZE (64u << 20)

static const char *const top_keys[] = {"include", "templates", "source", "state", "log",
                                       "admin",   "endpoint",  "rule",   NULL};
static const char *const source_keys[] = {
    "url",      "password_env", "password_file",   "tls",          "tls_ca",
    "tls_cert", "tls_key",      "server_id",       "start",        "tables",
    "exclude",  "heartbeat",    "connect_timeout", "queue_events", NULL};
static const char *const state_keys[] = {"dir", NULL};
static const char *const log_keys[] = {"level", NULL};

static const struct section {
  const char *name;
  const char *const *keys;
} sections[] = {{"source", source_keys}, {"state", state_keys}, {"log", log_keys}};

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
  cfg->state.dir = xstrdup("/var/lib/binhook");
  cfg->log.level = xstrdup("info");
}

static void strv_free(char **v)
{
  if (!v) return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
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
  free(cfg->state.dir);
  free(cfg->log.level);
  memset(cfg, 0, sizeof *cfg);
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
  const char *file;
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
    snprintf(buf, size, "'%s' in [%s]", k->key, sect);
  else
    snprintf(buf, size, "'%s'", k->key);
  return buf;
}

static void type_error(struct loader *l, const struct toml_key *k, const char *sect, const char *want)
{
  char w[300];
  lerr(l, k->value->line, k->value->col, "%s must be %s, not %s", key_where(w, sizeof w, k, sect), want,
       a_type(k->value->type));
}

/* Edit distance (with transpositions) between two short keys, ignoring case. */
static size_t distance(const char *a, const char *b)
{
  size_t n = strlen(a), m = strlen(b);
  size_t d[33][33];
  if (n > 32 || m > 32) return SIZE_MAX;
  for (size_t i = 0; i <= n; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= m; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int ca = a[i - 1] >= 'A' && a[i - 1] <= 'Z' ? a[i - 1] + 32 : a[i - 1];
      int cb = b[j - 1] >= 'A' && b[j - 1] <= 'Z' ? b[j - 1] + 32 : b[j - 1];
      size_t best = d[i - 1][j - 1] + (ca != cb);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[n][m];
}

/* The known key closest to key, when it is close enough to be a typo. */
static const char *nearest(const char *key, const char *const *known)
{
  size_t n = strlen(key), limit = n <= 3 ? 1 : n <= 6 ? 2 : 3, best = SIZE_MAX;
  const char *found = NULL;
  for (const char *const *k = known; *k; k++) {
    size_t d = distance(key, *k);
    if (d < best) best = d, found = *k;
  }
  return best <= limit ? found : NULL;
}

static void unknown_key(struct loader *l, const struct toml_key *k, const char *sect,
                        const char *const *known)
{
  char where[200];
  if (sect)
    snprintf(where, sizeof where, "in [%s]", sect);
  else
    snprintf(where, sizeof where, "at the top level");
  /* a known key in the wrong place */
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
  const char *near = nearest(k->key, known);
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

/* A list of schema.table globs: an array of strings, or one string. Returns
 * a NULL-terminated vector (caller frees), NULL for an empty list, or -1
 * after reporting. */
static int get_globs(struct loader *l, const struct toml_key *k, const char *sect, char ***out)
{
  char w[300];
  const struct toml_value *v = k->value;
  const struct toml_value *const *items = (const struct toml_value *const *)&k->value;
  size_t n = 1;
  if (v->type == TOML_ARRAY) {
    items = (const struct toml_value *const *)v->u.array.items;
    n = v->u.array.len;
  } else if (v->type != TOML_STRING) {
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
    } else {
      unknown_key(l, k, S, source_keys);
    }
  }
}

static void load_state(struct loader *l, const struct toml_value *t, struct config_state *st)
{
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    if (!strcmp(k->key, "dir"))
      set_path(l->file, &st->dir, get_string(l, k, "state", 1));
    else
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
    if (strcmp(k->key, "level")) {
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

int config_load(const char *path, struct config *cfg, char *errs, size_t errsz)
{
  struct loader l = {.file = path, .errs = errs, .errsz = errsz};
  char *text = NULL;
  size_t len = 0;
  if (errs && errsz) errs[0] = 0;
  if (read_file(path, &text, &len, errs, errsz)) return -1;
  struct toml_value *root = toml_parse(text, len, path, errs, errsz);
  free(text);
  if (!root) return -1;
  set_string(&cfg->path, path);

  for (size_t i = 0; i < root->u.table.len; i++) {
    const struct toml_key *k = &root->u.table.entries[i];
    const struct toml_value *v = k->value;
    const char *name = k->key;
    if (!strcmp(name, "source") || !strcmp(name, "state") || !strcmp(name, "log") || !strcmp(name, "admin") ||
        !strcmp(name, "endpoint")) {
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
      /* [admin] and [endpoint.*]: read by the modules that will use them */
    } else if (!strcmp(name, "rule")) {
      if (v->type != TOML_ARRAY) type_error(&l, k, NULL, "an array of tables ([[rule]])");
    } else if (!strcmp(name, "include")) {
      int ok = v->type == TOML_ARRAY;
      for (size_t j = 0; ok && j < v->u.array.len; j++)
        ok = v->u.array.items[j]->type == TOML_STRING;
      if (!ok) type_error(&l, k, NULL, "an array of file patterns (strings)");
    } else if (!strcmp(name, "templates")) {
      get_string(&l, k, NULL, 1);
    } else {
      unknown_key(&l, k, NULL, top_keys);
    }
  }
  toml_free(root);

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
