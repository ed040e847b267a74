/* keys_endpoint.c - the spec table of [endpoint.NAME] (see spec.h), with
 * the checks and handlers of its keys, and the finish that takes the
 * endpoint's secrets (the signing secrets, the password, the AWS
 * credentials) through secret.h and checks the keys that need each other.
 *
 * A secret that cannot be read here (an unset variable, a missing file) is
 * not an error of the file: it becomes the endpoint's secret_problem, which
 * `check` shows as a warning (the machine that checks is often not the one
 * that runs) and the commands that send refuse. */
#include "config/spec.h"

#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- checks ---- */

static int check_url(const char *s, char *err, size_t errsz)
{
  if (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "smtp://", 7) ||
      !strncmp(s, "smtps://", 8))
    return 0;
  return bh_err(err, errsz, "'%s' must start with http://, https://, smtp:// or smtps://", s);
}

int spec_check_http_method(const char *s, char *err, size_t errsz)
{
  if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(s)) return 0;
  return bh_err(err, errsz, "'%s' is not an HTTP method (such as POST, PUT or DELETE)", s);
}

static int check_mail_address(const char *s, char *err, size_t errsz)
{
  const char *at = strchr(s, '@');
  if (at && at != s && at[1] && !strpbrk(s, "\r\n<>, \t\"")) return 0;
  return bh_err(err, errsz, "'%s' is not an e-mail address", s);
}

/* PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]], as CURLOPT_AWS_SIGV4 takes it. */
static int check_aws_sigv4(const char *s, char *err, size_t errsz)
{
  int parts = 0;
  for (const char *p = s;; p++) {
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
    if (!n || n > 64 || ++parts > 4) break;
    p += n;
    if (!*p) return 0;
    if (*p != ':') break;
  }
  return bh_err(
      err, errsz,
      "'%s' is not PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]] (letters, digits, '-', '_' and '.'), such "
      "as \"aws:amz:us-east-1:kinesis\"",
      s);
}

static int check_readable(const char *s, char *err, size_t errsz)
{
  char ebuf[128];
  if (!access(s, R_OK)) return 0;
  return bh_err(err, errsz, "cannot read '%s': %s", s, bh_strerror(errno, ebuf, sizeof ebuf));
}

/* ---- handlers ---- */

static int read_headers(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, void *obj)
{
  struct config_endpoint *ep = obj;
  return spec_get_headers(l, k, sect, &ep->headers, &ep->nheaders);
}

/* retry = ["5s", "5m", ...]: the delays after the first attempt. */
static int read_retry(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                      const char *sect, void *obj)
{
  struct config_endpoint *ep = obj;
  const struct toml_value *v = k->value;
  if (v->type != TOML_ARRAY) {
    spec_type_error(l, k, sect, "an array of durations (such as [\"5s\", \"5m\", \"30m\"])");
    return -1;
  }
  double *delays = xcalloc(v->u.array.len + 1, sizeof *delays);
  int bad = 0;
  for (size_t j = 0; j < v->u.array.len; j++) {
    struct toml_key item = {
        .key = k->key, .keylen = k->keylen, .line = k->line, .col = k->col, .value = v->u.array.items[j]};
    bad |= spec_get_duration(l, &item, sect, 0, 30 * 86400.0, &delays[j]) != 0;
  }
  if (bad) {
    free(delays);
    return -1;
  }
  free(ep->retry);
  ep->retry = delays;
  ep->nretry = v->u.array.len;
  return 0;
}

/* no_retry = [400, 401, ...]: statuses that end a delivery at once. */
static int read_no_retry(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                         const char *sect, void *obj)
{
  char w[300];
  struct config_endpoint *ep = obj;
  const struct toml_value *v = k->value;
  if (v->type != TOML_ARRAY) {
    spec_type_error(l, k, sect, "an array of HTTP statuses (such as [400, 401, 403, 404, 422])");
    return -1;
  }
  int *st = xcalloc(v->u.array.len + 1, sizeof *st), bad = 0;
  for (size_t j = 0; j < v->u.array.len; j++) {
    const struct toml_value *it = v->u.array.items[j];
    if (it->type != TOML_INTEGER || it->u.integer < 100 || it->u.integer > 599 ||
        (it->u.integer >= 200 && it->u.integer < 300)) {
      spec_error(l, it->line, it->col, "%s must hold HTTP statuses from 300 to 599 (2xx is success)",
                 spec_where(w, sizeof w, k, sect));
      bad = 1;
      continue;
    }
    st[j] = (int)it->u.integer;
  }
  if (bad) {
    free(st);
    return -1;
  }
  free(ep->no_retry);
  ep->no_retry = st;
  ep->nno_retry = v->u.array.len;
  return 0;
}

/* rate_limit: requests per second, a whole number or not. */
static int read_rate(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                     void *obj)
{
  char w[300];
  const struct toml_value *v = k->value;
  double rate = v->type == TOML_INTEGER ? (double)v->u.integer : v->type == TOML_FLOAT ? v->u.flt : -1;
  if (!(rate > 0 && rate <= 1e6)) {
    spec_error(l, v->line, v->col, "%s must be a number of requests per second above 0 (such as 50 or 0.5)",
               spec_where(w, sizeof w, k, sect));
    return -1;
  }
  ((struct config_endpoint *)obj)->rate_limit = rate;
  return 0;
}

/* ---- the finish: secrets and keys that need each other ---- */

/* Sets the endpoint's secret problem (the first one that matters). */
__attribute__((format(printf, 5, 6))) static void set_problem(struct loader *l, struct config_endpoint *ep,
                                                              int line, int col, const char *fmt, ...)
{
  struct buf b = BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  config_vproblem(&b, l->file, line, col, fmt, ap);
  va_end(ap);
  free(ep->secret_problem);
  ep->secret_problem = buf_steal(&b);
}

/* The signing secrets: those written in the file, else the environment's,
 * else the file's. The variable or file may hold several, separated by
 * white space, for Standard Webhooks (base64 has no spaces); a GitHub
 * secret is the whole value (a file's first line). */
static void take_secrets(struct loader *l, struct config_endpoint *ep, const struct toml_key *const *seen)
{
  char ebuf[128];
  const struct toml_key *inline_key = spec_seen(&spec_endpoint, seen, "secret");
  const struct toml_key *env = spec_seen(&spec_endpoint, seen, "secret_env");
  const struct toml_key *file = spec_seen(&spec_endpoint, seen, "secret_file");
  int whole = ep->signing == SIGN_GITHUB;
  char *text;
  if (inline_key) {
    const struct toml_value *v = inline_key->value;
    size_t n = v->type == TOML_ARRAY ? v->u.array.len : 1;
    ep->secrets = xcalloc(n + 1, sizeof *ep->secrets);
    for (size_t i = 0; i < n; i++)
      secret_fetch(SECRET_INLINE, (v->type == TOML_ARRAY ? v->u.array.items[i] : v)->u.str.ptr,
                   &ep->secrets[i]);
  }
  if (!ep->secrets && env) {
    const struct toml_value *v = env->value;
    if (secret_fetch(SECRET_ENV, v->u.str.ptr, &text) == SECRET_OK && *text)
      ep->secrets = whole ? secret_add(NULL, text, strlen(text)) : secret_split(NULL, text);
    else if (!file)
      set_problem(l, ep, v->line, v->col,
                  "the environment variable '%s' (secret_env of endpoint '%s') is not set; export it before "
                  "starting binhook",
                  v->u.str.ptr, ep->name);
    secret_free(text);
  }
  if (!ep->secrets && file) {
    const struct toml_value *v = file->value;
    char *path = spec_path(l->file, v->u.str.ptr);
    if (secret_fetch(SECRET_FILE, path, &text) == SECRET_OK) {
      ep->secrets = whole ? secret_add(NULL, text, strcspn(text, "\r\n")) : secret_split(NULL, text);
      if (!ep->secrets)
        set_problem(l, ep, v->line, v->col, "the secret file '%s' of endpoint '%s' is empty", path, ep->name);
    } else {
      set_problem(l, ep, v->line, v->col, "cannot read the secret file '%s' of endpoint '%s': %s", path,
                  ep->name, bh_strerror(errno, ebuf, sizeof ebuf));
    }
    secret_free(text);
    free(path);
  }
}

/* The password (SMTP AUTH, HTTP basic auth): the environment's, even
 * empty, else the first line of the file. */
static void take_password(struct loader *l, struct config_endpoint *ep, const struct toml_key *const *seen)
{
  char ebuf[128];
  const struct toml_key *env = spec_seen(&spec_endpoint, seen, "password_env");
  const struct toml_key *file = spec_seen(&spec_endpoint, seen, "password_file");
  if (env && secret_fetch(SECRET_ENV, env->value->u.str.ptr, &ep->password) == SECRET_OK) return;
  if (!file) return;
  char *path = spec_path(l->file, file->value->u.str.ptr);
  if (secret_fetch(SECRET_FILE, path, &ep->password) == SECRET_OK)
    secret_first_line(ep->password);
  else
    set_problem(l, ep, file->value->line, file->value->col,
                "cannot read the password file '%s' of endpoint '%s': %s", path, ep->name,
                bh_strerror(errno, ebuf, sizeof ebuf));
  free(path);
}

/* The AWS credentials of an endpoint that has aws_sigv4, from the
 * environment variables its aws_*_env keys name. */
static void take_aws(struct loader *l, struct config_endpoint *ep, const struct toml_value *t,
                     const struct toml_key *const *seen)
{
  static const char *const keys[] = {"aws_access_key_env", "aws_secret_key_env", "aws_session_token_env"};
  char **fields[] = {&ep->aws_access_key, &ep->aws_secret_key, &ep->aws_session_token};
  const struct toml_key *aws_key = toml_get_key(t, "aws_sigv4"), *env[3];
  for (int i = 0; i < 3; i++)
    env[i] = spec_seen(&spec_endpoint, seen, keys[i]);
  if (toml_incomplete(t) && (!aws_key || !env[0] || !env[1])) return; /* the rest may have come later */
  if (!aws_key) {
    for (int i = 0; i < 3; i++)
      if (env[i])
        spec_error(
            l, env[i]->line, env[i]->col,
            "%s has no effect without aws_sigv4 (such as aws_sigv4 = \"aws:amz:us-east-1:kinesis\") in "
            "[endpoint.%s]",
            keys[i], ep->name);
    return;
  }
  if (!env[0] || !env[1]) {
    spec_error(l, aws_key->line, aws_key->col,
               "endpoint '%s' signs with aws_sigv4 but has no %s; name the environment variables holding the "
               "credentials with aws_access_key_env and aws_secret_key_env",
               ep->name,
               !env[0] && !env[1] ? "credentials"
               : !env[0]          ? "access key"
                                  : "secret key");
    return;
  }
  /* every unset variable in one message */
  struct buf unset = BUF_INIT;
  const struct toml_key *first = NULL;
  int nunset = 0;
  for (int i = 0; i < 3; i++) {
    if (!env[i]) continue;
    const char *var = env[i]->value->u.str.ptr;
    char *val;
    if (secret_fetch(SECRET_ENV, var, &val) == SECRET_OK && *val) {
      secret_free(*fields[i]);
      *fields[i] = val;
      continue;
    }
    secret_free(val);
    if (!first) first = env[i];
    buf_printf(&unset, "%s'%s' (%s)", nunset ? ", " : "", var, keys[i]);
    nunset++;
  }
  if (first && !ep->secret_problem)
    set_problem(
        l, ep, first->value->line, first->value->col,
        "the environment variable%s %s of endpoint '%s' %s not set; export %s before starting binhook",
        nunset > 1 ? "s" : "", unset.p, ep->name, nunset > 1 ? "are" : "is", nunset > 1 ? "them" : "it");
  buf_free(&unset);
}

/* The keys that need each other. A key missing from a table that a syntax
 * error cut short may have come after the error: no message about it. */
static void finish_endpoint(struct loader *l, const struct toml_value *t, const char *sect, void *obj,
                            const struct toml_key *const *seen)
{
  struct config_endpoint *ep = obj;
  int cut = toml_incomplete(t);
  take_secrets(l, ep, seen);
  int secret_given = ep->secrets || spec_seen(&spec_endpoint, seen, "secret_env") ||
                     spec_seen(&spec_endpoint, seen, "secret_file");
  if (!toml_get_key(t, "signing")) ep->signing = secret_given ? SIGN_STANDARD : SIGN_NONE;
  if (ep->signing != SIGN_NONE && !secret_given && !cut)
    spec_error(l, ep->line, ep->col,
               "endpoint '%s' signs with %s but has no secret; set secret_env, secret_file or secret, or "
               "signing = \"none\"",
               ep->name, sign_scheme_name(ep->signing));
  take_password(l, ep, seen);
  take_aws(l, ep, t, seen);

  const struct toml_key *aws_key = toml_get_key(t, "aws_sigv4");
  if (aws_key && ep->url.s && !strncmp(ep->url.s, "smtp", 4))
    spec_error(
        l, aws_key->line, aws_key->col,
        "endpoint '%s' sends e-mail, and aws_sigv4 signs HTTP requests only; remove aws_sigv4 or use an "
        "http:// or https:// url",
        ep->name);
  else if (aws_key && ep->signing != SIGN_NONE)
    spec_error(l, aws_key->line, aws_key->col,
               "endpoint '%s' signs with both %s and aws_sigv4; AWS checks only its own signature: set "
               "signing = \"none\" and drop the secret",
               ep->name, sign_scheme_name(ep->signing));

  if (!ep->url.s) {
    if (!toml_get_key(t, "url") && !cut)
      spec_error(l, ep->line, ep->col, "endpoint '%s' has no url", ep->name);
  } else if (!strncmp(ep->url.s, "smtp", 4)) {
    if (!ep->mail_from && !toml_get_key(t, "mail_from") && !cut)
      spec_error(l, ep->url.line, ep->url.col, "endpoint '%s' sends e-mail but has no mail_from", ep->name);
    if (!ep->mail_to && !toml_get_key(t, "mail_to") && !cut)
      spec_error(l, ep->url.line, ep->url.col, "endpoint '%s' sends e-mail but has no mail_to", ep->name);
  } else if (ep->mail_from || ep->mail_to || ep->mail_cc) {
    spec_error(l, ep->url.line, ep->url.col,
               "endpoint '%s' has mail_from or mail_to but its url is not smtp:// or smtps://", ep->name);
  }
}

/* ---- the table ---- */

static const struct spec_enum sign_schemes = {
    "scheme",
    (const struct spec_name[]){
        {"none", SIGN_NONE}, {"standard-webhooks", SIGN_STANDARD}, {"github", SIGN_GITHUB}, {NULL, 0}},
    SIGN_NONE, /* until the finish applies the default */
};

static const struct spec_enum orderings = {
    "ordering",
    (const struct spec_name[]){{"key", CONFIG_ORDER_KEY},
                               {"none", CONFIG_ORDER_NONE},
                               {"endpoint", CONFIG_ORDER_ENDPOINT},
                               {NULL, 0}},
    0,
};

#define EP(f) .offset = offsetof(struct config_endpoint, f)
#define ENV_SECRET(name)                                                                                     \
  {                                                                                                          \
    name, SPEC_SECRET, .from = SECRET_ENV, .check = spec_check_env_name                                      \
  }
static const struct spec_key endpoint_keys[] = {
    {"url", SPEC_TEXT, EP(url), .check = check_url},
    {"method", SPEC_STRING, EP(method), .def = "\"POST\"", .check = spec_check_http_method},
    {"headers", SPEC_CUSTOM, .read = read_headers},
    {"signing", SPEC_ENUM, EP(signing), .names = &sign_schemes},
    {"secret", SPEC_SECRET, .from = SECRET_INLINE, .what = "a secret (a string) or a list of them",
     .flags = SPEC_LIST},
    ENV_SECRET("secret_env"),
    {"secret_file", SPEC_SECRET, .from = SECRET_FILE},
    {"timeout", SPEC_DURATION, EP(timeout), .dmin = 0.001, .dmax = 86400, .def = "\"15s\""},
    {"retry", SPEC_CUSTOM, .read = read_retry,
     .def = "[\"5s\", \"5m\", \"30m\", \"2h\", \"5h\", \"10h\", \"10h\"]"},
    {"max_age", SPEC_DURATION, EP(max_age), .dmin = 1, .dmax = 366 * 86400.0, .def = "\"3d\""},
    {"concurrency", SPEC_INTEGER, EP(concurrency), SPEC_UNSIGNED, 1, 10000, .def = "8"},
    {"ordering", SPEC_ENUM, EP(ordering), .names = &orderings, .def = "\"key\""},
    {"mail_from", SPEC_STRING, EP(mail_from), .check = check_mail_address},
    {"mail_to", SPEC_STRINGS, EP(mail_to), .what = "an e-mail address or a list of them", .empty = "",
     .check = check_mail_address},
    {"mail_cc", SPEC_STRINGS, EP(mail_cc), .what = "an e-mail address or a list of them", .empty = "",
     .check = check_mail_address},
    {"username", SPEC_STRING, EP(username)},
    ENV_SECRET("password_env"),
    {"password_file", SPEC_SECRET, .from = SECRET_FILE},
    {"subject", SPEC_TEXT, EP(subject)},
    {"no_retry", SPEC_CUSTOM, .read = read_no_retry},
    {"rate_limit", SPEC_CUSTOM, .read = read_rate},
    {"burst", SPEC_INTEGER, EP(burst), SPEC_UNSIGNED, 1, 1000000},
    {"breaker_failures", SPEC_INTEGER, EP(breaker_failures), SPEC_UNSIGNED, 0, 1000000, .def = "10"},
    {"breaker_cooldown", SPEC_DURATION, EP(breaker_cooldown), .dmin = 0.001, .dmax = 86400, .def = "\"30s\""},
    {"aws_sigv4", SPEC_STRING, EP(aws_sigv4), .check = check_aws_sigv4},
    ENV_SECRET("aws_access_key_env"),
    ENV_SECRET("aws_secret_key_env"),
    ENV_SECRET("aws_session_token_env"),
    {"coalesce", SPEC_DURATION, EP(coalesce), .dmin = 0, .dmax = 3600, .def = "\"0s\""},
    {"tls_ca", SPEC_PATH, EP(tls_ca), .check = check_readable},
    {NULL},
};
const struct spec_section spec_endpoint = {"endpoint", endpoint_keys, finish_endpoint};

/* ---- [endpoint.NAME] ---- */

static void read_endpoint(struct loader *l, const struct toml_key *ek)
{
  char sect[200];
  struct config *cfg = l->cfg;
  const char *name = ek->key;
  const struct toml_value *t = ek->value;
  if (t->type != TOML_TABLE) {
    spec_error(l, t->line, t->col, "[endpoint.%s] must be a table, not %s", name, toml_type_article(t->type));
    return;
  }
  const struct config_endpoint *dup = config_endpoint(cfg, name);
  if (dup) {
    spec_error(l, ek->line, ek->col, "endpoint '%s' is defined twice (first at %s:%d:%d)", name, dup->file,
               dup->line, dup->col);
    return;
  }
  cfg->endpoints = xrealloc(cfg->endpoints, (cfg->nendpoints + 1) * sizeof *cfg->endpoints);
  struct config_endpoint *ep = &cfg->endpoints[cfg->nendpoints++];
  memset(ep, 0, sizeof *ep);
  ep->name = xstrdup(name);
  ep->file = l->file;
  ep->line = ek->line;
  ep->col = ek->col;
  spec_defaults(&spec_endpoint, ep);
  snprintf(sect, sizeof sect, "endpoint.%.150s", name);
  spec_read(l, &spec_endpoint, sect, t, ep);
}

int spec_read_endpoints(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, void *obj)
{
  const struct toml_value *v = k->value;
  if (v->type != TOML_TABLE) {
    spec_type_error(l, k, NULL, "a table of endpoints ([endpoint.NAME])");
    return -1;
  }
  for (size_t j = 0; j < v->u.table.len; j++)
    read_endpoint(l, &v->u.table.entries[j]);
  return 0;
}
