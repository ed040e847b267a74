/* config.c - see config.h. A file is parsed by toml.c into a tree, which
 * spec.c walks against the spec tables of its sections (keys_*.c): every key
 * is checked, converted into struct config and every problem collected, with
 * the position toml.c kept for it, in the loader's list. A file with a TOML
 * syntax error is checked up to the error, then the error is reported, in
 * the order of the file. The `include` globs name rule files, read after the
 * main file, in name order, each holding only [[rule]] and [endpoint.NAME]
 * sections. The problems go to the caller's buffer at the end. */
#include "config/config.h"

#include "config/spec.h"
#include "config/toml.h"
#include "util/util.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_SIZE (64u << 20)

/* ---- problems ---- */

void config_vproblem(struct buf *list, const char *file, int line, int col, const char *fmt, va_list ap)
{
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* keys and values quoted from the file must not break the one-per-line shape */
  for (char *c = msg; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  if (list->len) buf_addc(list, '\n');
  buf_printf(list, "%s:%d:%d: %s", file, line, col, msg);
}

void config_problem(struct buf *list, const char *file, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  config_vproblem(list, file, line, col, fmt, ap);
  va_end(ap);
}

/* Copies the problems into errs (size errsz), whole lines only, with a
 * count of those that did not fit. */
static void copy_problems(const struct buf *list, char *errs, size_t errsz)
{
  if (!errs || !errsz) return;
  size_t len = 0;
  int dropped = 0;
  errs[0] = 0;
  for (const char *p = list->p; p && *p;) {
    size_t n = strcspn(p, "\n");
    if (len + (len ? 1 : 0) + n < errsz) {
      len += (size_t)snprintf(errs + len, errsz - len, "%s%.*s", len ? "\n" : "", (int)n, p);
    } else {
      dropped++;
    }
    p += n + (p[n] == '\n');
  }
  if (dropped) {
    char more[64];
    snprintf(more, sizeof more, "\n(%d more error%s not shown)", dropped, dropped == 1 ? "" : "s");
    if (len + strlen(more) < errsz) memcpy(errs + len, more, strlen(more) + 1);
  }
}

/* ---- defaults and freeing ---- */

void config_defaults(struct config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  spec_defaults(&spec_top, cfg);
}

static void endpoint_free(struct config_endpoint *ep)
{
  spec_free(&spec_endpoint, ep);
  free(ep->name);
  spec_headers_free(ep->headers, ep->nheaders);
  secret_vec_free(ep->secrets);
  free(ep->secret_problem);
  free(ep->retry);
  free(ep->no_retry);
  secret_free(ep->password);
  secret_free(ep->aws_access_key);
  secret_free(ep->aws_secret_key);
  secret_free(ep->aws_session_token);
}

static void rule_free(struct config_rule *r)
{
  spec_free(&spec_rule, r);
  free(r->name);
  bh_strv_free(r->endpoints);
  spec_text_free(&r->template);
  for (size_t i = 0; i < r->nendpoint_templates; i++) {
    spec_text_free(&r->endpoint_templates[i]);
    free(r->endpoint_template_names[i]);
  }
  free(r->endpoint_templates);
  free(r->endpoint_template_names);
  spec_headers_free(r->headers, r->nheaders);
}

void config_free(struct config *cfg)
{
  spec_free(&spec_top, cfg);
  free(cfg->path);
  secret_free(cfg->admin.token);
  for (size_t i = 0; i < cfg->nendpoints; i++)
    endpoint_free(&cfg->endpoints[i]);
  free(cfg->endpoints);
  for (size_t i = 0; i < cfg->nrules; i++)
    rule_free(&cfg->rules[i]);
  free(cfg->rules);
  bh_strv_free(cfg->files);
  memset(cfg, 0, sizeof *cfg);
}

const struct config_endpoint *config_endpoint(const struct config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->nendpoints; i++)
    if (!strcmp(cfg->endpoints[i].name, name)) return &cfg->endpoints[i];
  return NULL;
}

/* ---- files ---- */

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

/* Reads and parses the file l->file, then reads its tree against sec (the
 * main file's top level, or an included file's): up to its syntax error, if
 * it has one, which is reported after what was found before it. Returns the
 * tree, which the caller frees with the text (*text) its positions are in,
 * or NULL when the file cannot be read (reported). */
static struct toml_value *load_file(struct loader *l, const struct spec_section *sec, char **text)
{
  char err[1024];
  size_t len = 0;
  if (read_file(l->file, text, &len, err, sizeof err)) {
    spec_error_raw(l, err);
    return NULL;
  }
  struct toml_value *root;
  int bad = toml_parse_partial(*text, len, l->file, &root, err, sizeof err);
  l->text = *text;
  l->textlen = len;
  if (bad) l->cfg->partial = 1;
  if (sec == &spec_top) {
    if (!l->cfg->templates) l->cfg->templates = spec_path(l->file, "templates");
    spec_read(l, sec, NULL, root, l->cfg);
  } else {
    for (size_t j = 0; j < root->u.table.len; j++) {
      const struct toml_key *k = &root->u.table.entries[j];
      const struct spec_key *row = spec_find(sec, k->key, NULL);
      if (row)
        spec_read_value(l, row, k, NULL, l->cfg);
      else if (spec_find(&spec_top, k->key, NULL))
        spec_error(l, k->line, k->col,
                   "'%s' belongs in the main configuration file; an included file holds only [[rule]] and "
                   "[endpoint.NAME] sections",
                   k->key);
      else
        spec_unknown_key(l, k, NULL, sec);
    }
  }
  if (bad) spec_error_raw(l, err);
  return root;
}

static int has_glob_chars(const char *s)
{
  return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the rule files that one include pattern names, in name order. */
static void load_include(struct loader *l, const char *mainfile, const struct toml_value *pat)
{
  char ebuf[128];
  char *pattern = spec_path(mainfile, pat->u.str.ptr);
  glob_t g;
  memset(&g, 0, sizeof g);
  int rc = glob(pattern, 0, NULL, &g);
  if (rc == GLOB_NOMATCH && !has_glob_chars(pat->u.str.ptr)) {
    l->file = mainfile;
    spec_error(l, pat->line, pat->col, "cannot open included file '%s': %s", pattern,
               bh_strerror(ENOENT, ebuf, sizeof ebuf));
  } else if (rc && rc != GLOB_NOMATCH) {
    l->file = mainfile;
    spec_error(l, pat->line, pat->col, "cannot read the files of include pattern '%s'", pattern);
  }
  if (!rc) qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
  for (size_t i = 0; !rc && i < g.gl_pathc; i++) {
    const char *path = g.gl_pathv[i];
    int seen = 0;
    for (char **f = l->cfg->files; f && *f; f++)
      seen |= !strcmp(*f, path);
    if (seen) continue; /* named by two patterns: read once */
    l->file = intern_file(l->cfg, path);
    char *text = NULL;
    toml_free(load_file(l, &spec_include, &text));
    free(text);
  }
  globfree(&g);
  free(pattern);
}

int config_load(const char *path, struct config *cfg, char *errs, size_t errsz)
{
  struct loader l = {.cfg = cfg};
  char *text = NULL;
  if (errs && errsz) errs[0] = 0;
  free(cfg->path);
  cfg->path = xstrdup(path);
  const char *mainfile = l.file = intern_file(cfg, path);
  struct toml_value *root = load_file(&l, &spec_top, &text);
  /* rule files after the main file's own rules and endpoints (include
   * points into root) */
  const struct toml_value *include = l.include;
  if (include && include->type == TOML_STRING) {
    load_include(&l, mainfile, include);
  } else if (include) {
    for (size_t j = 0; j < include->u.array.len; j++)
      load_include(&l, mainfile, include->u.array.items[j]);
  }
  toml_free(root);
  free(text);
  copy_problems(&l.errs, errs, errsz);
  buf_free(&l.errs);
  return l.nerr ? -1 : 0;
}

/* ---- [source] as connection options ---- */

/* The password of [source]: from the variable password_env names (when set,
 * even to nothing), else the first line of password_file; none when neither
 * is given. 0, or -1 with err. */
static int source_password(const struct config_source *s, char **out, char *err, size_t errsz)
{
  char ebuf[128];
  const char *env = s->password_env ? s->password_env : "BINHOOK_MYSQL_PASSWORD";
  *out = NULL;
  if (*env && secret_fetch(SECRET_ENV, env, out) == SECRET_OK) return 0;
  if (!s->password_file || !*s->password_file) return 0;
  if (secret_fetch(SECRET_FILE, s->password_file, out) != SECRET_OK)
    return bh_err(err, errsz, "cannot read password file '%s': %s", s->password_file,
                  bh_strerror(errno, ebuf, sizeof ebuf));
  secret_first_line(*out);
  return 0;
}

size_t config_source_nurls(const struct config *cfg)
{
  size_t n = 0;
  while (cfg->source.url && cfg->source.url[n]) n++;
  return n ? n : 1;
}

void config_source_set_urls(struct config *cfg, const char *list)
{
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  char **v = xcalloc(n + 1, sizeof *v), *copy = xstrdup(list), *save = NULL;
  n = 0;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    t += strspn(t, " \t");
    size_t len = strlen(t);
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t')) t[--len] = 0;
    if (len) v[n++] = xstrdup(t);
  }
  free(copy);
  if (!n) { /* nothing given: the default, as for a config without url */
    free(v);
    v = NULL;
  }
  bh_strv_free(cfg->source.url);
  cfg->source.url = v;
}

int config_state_in_db(const struct config *cfg)
{
  return cfg->state.store && strcmp(cfg->state.store, "dir") != 0;
}

char *config_url_database(const char *url, char **database)
{
  *database = NULL;
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  size_t alen = strcspn(auth, "/?");
  if (auth[alen] != '/') return xstrdup(url);
  const char *db = auth + alen + 1;
  size_t dlen = strcspn(db, "?");
  if (dlen) *database = xstrndup(db, dlen);
  size_t head = (size_t)(auth + alen - url);
  size_t n = head + strlen(db + dlen) + 1;
  char *out = xmalloc(n);
  snprintf(out, n, "%.*s%s", (int)head, url, db + dlen);
  return out;
}

int config_state_conn(const struct config *cfg, struct conn_opts *out, char **database, char *err, size_t errsz)
{
  const struct config_state *st = &cfg->state;
  memset(out, 0, sizeof *out);
  *database = NULL;
  char *bare = config_url_database(st->store ? st->store : "", database);
  char *shown = spec_redact_url(bare);
  int rc = -1;
  if (!*database) {
    bh_err(err, errsz, "[state] store '%s' names no database: write mysql://user@host:port/DATABASE", shown);
    goto out;
  }
  if (conn_parse_url(bare, out, err, errsz)) {
    bh_err(err, errsz, "cannot parse [state] store '%s'", shown);
    goto out;
  }
  out->connect_timeout = 5;
  out->read_timeout = 30; /* a store that stops answering must not hold the writer for ever */
  if (!out->password) {
    struct config_source pw = {.password_env = st->password_env, .password_file = st->password_file};
    char *p = NULL;
    if (source_password(&pw, &p, err, errsz)) goto out;
    if (p) out->password = xstrdup(p);
    secret_free(p);
  }
  rc = 0;
out:
  if (rc) {
    conn_opts_free(out);
    free(*database);
    *database = NULL;
  }
  free(bare);
  free(shown);
  return rc;
}

int config_source_conn(const struct config *cfg, struct conn_opts *out, char *err, size_t errsz)
{
  return config_source_conn_at(cfg, 0, out, err, errsz);
}

int config_source_conn_at(const struct config *cfg, size_t i, struct conn_opts *out, char *err, size_t errsz)
{
  const struct config_source *s = &cfg->source;
  const char *url = s->url && i < config_source_nurls(cfg) ? s->url[i] : "mysql://binhook@127.0.0.1:3306";
  char *shown = spec_redact_url(url), *pw;
  memset(out, 0, sizeof *out);
  /* messages show the URL without its password */
  if (conn_parse_url(shown, out, err, errsz)) goto fail;
  conn_opts_free(out);
  if (conn_parse_url(url, out, err, errsz)) {
    bh_err(err, errsz, "cannot parse the source URL '%s'", shown);
    goto fail;
  }
  if (s->tls != CONFIG_TLS_URL) out->tls = (enum conn_tls)s->tls;
  const char *const from[] = {s->tls_ca, s->tls_cert, s->tls_key};
  char **to[] = {&out->tls_ca, &out->tls_cert, &out->tls_key};
  for (int k = 0; k < 3; k++) { /* over the URL's ca=, cert=, key= */
    if (!from[k]) continue;
    free(*to[k]);
    *to[k] = xstrdup(from[k]);
  }
  double ct = s->connect_timeout > 0 ? ceil(s->connect_timeout) : 10;
  out->connect_timeout = ct > 86400 ? 86400 : (unsigned)ct;
  out->read_timeout = 0;
  if (!out->password) { /* one in the URL comes first */
    if (source_password(s, &pw, err, errsz)) goto fail;
    if (pw) out->password = xstrdup(pw);
    secret_free(pw);
  }
  free(shown);
  return 0;
fail:
  free(shown);
  conn_opts_free(out);
  return -1;
}
