/* keys_top.c - the spec tables of the main file's top level and of its
 * [source], [state], [log] and [admin] sections, with the checks and
 * handlers their keys need (see spec.h). [endpoint.NAME] and [[rule]] have
 * files of their own. */
#include "config/spec.h"

#include "admin/admin.h"
#include "source/source.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the top level ---- */

/* include = "rules/NAME.toml" patterns, one or a list: read after the main file. */
static int read_include(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, void *obj)
{
  const struct toml_value *v = k->value;
  int ok = v->type == TOML_ARRAY || v->type == TOML_STRING;
  for (size_t j = 0; ok && v->type == TOML_ARRAY && j < v->u.array.len; j++)
    ok = v->u.array.items[j]->type == TOML_STRING && v->u.array.items[j]->u.str.len &&
         strlen(v->u.array.items[j]->u.str.ptr) == v->u.array.items[j]->u.str.len;
  if (!ok) {
    spec_type_error(l, k, sect, "an array of file patterns (non-empty strings)");
    return -1;
  }
  l->include = v;
  return 0;
}

/* The [endpoint.NAME] and [[rule]] rows, which an included file has too. */
#define ENDPOINT_ROW                                                                                         \
  {                                                                                                          \
    "endpoint", SPEC_CUSTOM, .read = spec_read_endpoints                                                     \
  }
#define RULE_ROW                                                                                             \
  {                                                                                                          \
    "rule", SPEC_CUSTOM, .read = spec_read_rules                                                             \
  }

#define TOP(f) .offset = offsetof(struct config, f)
static const struct spec_key top_keys[] = {
    {"include", SPEC_CUSTOM, .read = read_include},
    {"templates", SPEC_PATH, TOP(templates)},
    {"source", SPEC_TABLE, TOP(source), .section = &spec_source},
    {"state", SPEC_TABLE, TOP(state), .section = &spec_state},
    {"log", SPEC_TABLE, TOP(log), .section = &spec_log},
    {"admin", SPEC_TABLE, TOP(admin), .section = &spec_admin},
    ENDPOINT_ROW,
    RULE_ROW,
    {NULL},
};
const struct spec_section spec_top = {NULL, top_keys, NULL};

/* What an included file may hold. */
static const struct spec_key include_keys[] = {ENDPOINT_ROW, RULE_ROW, {NULL}};
const struct spec_section spec_include = {NULL, include_keys, NULL};

/* ---- [source] ---- */

char *spec_redact_url(const char *url)
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

/* A mysql:// URL conn.h can read; the message shows it without its
 * password. */
static int check_mysql_url(const char *s, char *err, size_t errsz)
{
  char *shown = spec_redact_url(s);
  struct conn_opts o;
  memset(&o, 0, sizeof o);
  int rc = conn_parse_url(shown, &o, err, errsz);
  conn_opts_free(&o);
  free(shown);
  return rc;
}

int spec_check_env_name(const char *s, char *err, size_t errsz)
{
  size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
  if (!s[n] && !(s[0] >= '0' && s[0] <= '9')) return 0;
  return bh_err(err, errsz, "'%s' is not an environment variable name (letters, digits and '_')", s);
}

/* A PostgreSQL slot or publication name: a slot takes lower-case letters,
 * digits and '_' only, and binhook names both the same way. */
static int check_pg_name(const char *s, char *err, size_t errsz)
{
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
  if (n && !s[n] && n <= 63) return 0;
  return bh_err(err, errsz, "'%s' is not a slot or publication name (up to 63 lower-case letters, digits and '_')",
                s);
}

static int check_start(const char *s, char *err, size_t errsz)
{
  struct start_pos pos;
  return start_pos_parse(s, &pos, err, errsz);
}

static const struct spec_enum tls_modes = {
    "mode",
    (const struct spec_name[]){{"disabled", CONN_TLS_DISABLED},
                               {"preferred", CONN_TLS_PREFERRED},
                               {"required", CONN_TLS_REQUIRED},
                               {"verify_ca", CONN_TLS_VERIFY_CA},
                               {"verify_identity", CONN_TLS_VERIFY_IDENTITY},
                               {NULL, 0}},
    CONFIG_TLS_URL,
};

static const struct spec_enum resume_modes = {
    "way",
    (const struct spec_name[]){{"auto", CONFIG_RESUME_AUTO},
                               {"gtid", CONFIG_RESUME_GTID},
                               {"file", CONFIG_RESUME_FILE},
                               {NULL, 0}},
    0,
};

static const struct spec_enum snapshot_modes = {
    "value",
    (const struct spec_name[]){{"never", CONFIG_SNAPSHOT_NEVER},
                               {"initial", CONFIG_SNAPSHOT_INITIAL},
                               {"when_needed", CONFIG_SNAPSHOT_WHEN_NEEDED},
                               {NULL, 0}},
    0,
};

static const struct spec_enum snapshot_locks = {
    "way",
    (const struct spec_name[]){{"auto", SNAPSHOT_LOCK_AUTO},
                               {"mariadb", SNAPSHOT_LOCK_MARIADB},
                               {"global", SNAPSHOT_LOCK_GLOBAL},
                               {"tables", SNAPSHOT_LOCK_TABLES},
                               {NULL, 0}},
    0,
};

#define SRC(f) .offset = offsetof(struct config_source, f)
static const struct spec_key source_keys[] = {
    {"url", SPEC_STRINGS, SRC(url), .def = "\"mysql://binhook@127.0.0.1:3306\"", .check = check_mysql_url,
     .what = "a mysql:// or postgresql:// URL, or a list of mysql:// ones (the servers of one topology)",
     .empty = "name at least one server"},
    {"password_env", SPEC_STRING, SRC(password_env), .def = "\"BINHOOK_MYSQL_PASSWORD\"",
     .check = spec_check_env_name, .flags = SPEC_EMPTY_OK},
    {"password_file", SPEC_PATH, SRC(password_file)},
    {"tls", SPEC_ENUM, SRC(tls), .names = &tls_modes},
    {"tls_ca", SPEC_PATH, SRC(tls_ca)},
    {"tls_cert", SPEC_PATH, SRC(tls_cert)},
    {"tls_key", SPEC_PATH, SRC(tls_key)},
    {"server_id", SPEC_INTEGER, SRC(server_id), SPEC_UNSIGNED, 1, UINT32_MAX, .def = "4242"},
    {"start", SPEC_STRING, SRC(start), .def = "\"end\"", .check = check_start},
    {"tables", SPEC_GLOBS, SRC(tables), .empty = "leave it out to read every table"},
    {"exclude", SPEC_GLOBS, SRC(exclude)},
    /* 0 turns heartbeats off; the server takes at most 4294967 s */
    {"heartbeat", SPEC_DURATION, SRC(heartbeat), .dmin = 0, .dmax = 4294967, .def = "\"5s\""},
    /* 0 turns them off; more than one a second would only be noise */
    {"heartbeat_events", SPEC_DURATION, SRC(heartbeat_events), .dmin = 0, .dmax = 86400, .def = "0"},
    {"connect_timeout", SPEC_DURATION, SRC(connect_timeout), .dmin = 0.001, .dmax = 86400, .def = "\"10s\""},
    {"resume", SPEC_ENUM, SRC(resume), .names = &resume_modes, .def = "\"auto\""},
    {"queue_events", SPEC_INTEGER, SRC(queue_events), SPEC_SIZE_T, 1, 100000000, .def = "10000"},
    {"queue_bytes", SPEC_SIZE, SRC(queue_bytes), SPEC_SIZE_T, 1ll << 20, 64ll << 30, .def = "\"64MiB\""},
    {"snapshot", SPEC_ENUM, SRC(snapshot), .names = &snapshot_modes, .def = "\"never\""},
    {"snapshot_chunk", SPEC_INTEGER, SRC(snapshot_chunk), SPEC_U64, 1, 100000000, .def = "10000"},
    {"snapshot_rate", SPEC_INTEGER, SRC(snapshot_rate), SPEC_DOUBLE, 0, 1000000000, .def = "0"},
    {"snapshot_lock", SPEC_ENUM, SRC(snapshot_lock), .names = &snapshot_locks, .def = "\"auto\""},
    {"slot", SPEC_STRING, SRC(slot), .def = "\"binhook\"", .check = check_pg_name},
    {"publication", SPEC_STRING, SRC(publication), .def = "\"binhook\"", .check = check_pg_name},
    {NULL},
};
const struct spec_section spec_source = {"source", source_keys, NULL};

/* ---- [state] and [log] ---- */

/* [state] store: "dir", or a mysql:// URL naming its database. */
static int check_store(const char *s, char *err, size_t errsz)
{
  if (!strcmp(s, "dir")) return 0;
  char *db = NULL, *bare = config_url_database(s, &db);
  int rc = check_mysql_url(bare, err, errsz);
  if (!rc && !db) {
    char *shown = spec_redact_url(s);
    rc = bh_err(err, errsz, "'%s' names no database: write \"dir\" or mysql://user@host:port/DATABASE", shown);
    free(shown);
  } else if (!rc && strspn(db, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") != strlen(db)) {
    rc = bh_err(err, errsz, "database '%s' in [state] store: letters, digits, '_' and '$' only", db);
  }
  free(db);
  free(bare);
  return rc;
}

static int check_deployment(const char *s, char *err, size_t errsz)
{
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");
  if (!s[n] && n <= 64) return 0;
  return bh_err(err, errsz, "'%s' is not a deployment name (up to 64 letters, digits, '_', '-' and '.')", s);
}

#define STATE(f) .offset = offsetof(struct config_state, f)
static const struct spec_key state_keys[] = {
    {"dir", SPEC_PATH, STATE(dir), .def = "\"/var/lib/binhook\""},
    {"store", SPEC_STRING, STATE(store), .def = "\"dir\"", .check = check_store},
    {"name", SPEC_STRING, STATE(name), .def = "\"default\"", .check = check_deployment},
    /* a standby takes over within lease plus a second of the active's death */
    {"lease", SPEC_DURATION, STATE(lease), .dmin = 2, .dmax = 300, .def = "\"10s\""},
    {"password_env", SPEC_STRING, STATE(password_env), .def = "\"BINHOOK_MYSQL_PASSWORD\"",
     .check = spec_check_env_name, .flags = SPEC_EMPTY_OK},
    {"password_file", SPEC_PATH, STATE(password_file)},
    {"queue_max", SPEC_SIZE, STATE(queue_max), SPEC_U64, 1ll << 20, 1ll << 50, .def = "\"1GiB\""},
    {"segment_size", SPEC_SIZE, STATE(segment_size), SPEC_U64, 4096, 1ll << 30, .def = "\"64MiB\""},
    {NULL},
};
const struct spec_section spec_state = {"state", state_keys, NULL};

static const struct spec_enum log_levels = {
    "level",
    (const struct spec_name[]){{"debug", LOG_DEBUG},
                               {"info", LOG_INFO},
                               {"notice", LOG_NOTICE},
                               {"warning", LOG_WARN},
                               {"error", LOG_ERROR},
                               {"warn", LOG_WARN},
                               {NULL, 0}},
    0,
};

static const struct spec_enum log_formats = {
    "format",
    (const struct spec_name[]){{"text", LOG_TEXT}, {"logfmt", LOG_LOGFMT}, {"json", LOG_JSON}, {NULL, 0}},
    0,
};

static const struct spec_key log_keys[] = {
    {"level", SPEC_ENUM, .offset = offsetof(struct config_log, level), .names = &log_levels,
     .def = "\"info\""},
    {"format", SPEC_ENUM, .offset = offsetof(struct config_log, format), .names = &log_formats,
     .def = "\"text\""},
    {NULL},
};
const struct spec_section spec_log = {"log", log_keys, NULL};

/* ---- [admin] ---- */

static int check_listen(const char *s, char *err, size_t errsz)
{
  const char *colon = strrchr(s, ':');
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == s || !colon[1] || *end || port < 1 || port > 65535)
    return bh_err(err, errsz, "'%s' is not HOST:PORT (such as \"127.0.0.1:9465\")", s);
  return 0;
}

/* token, token_env, token_file: the last one given wins; one that cannot
 * be read is an error (unlike an endpoint's secret, the admin server
 * cannot do without it). */
static int read_token(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                      const char *sect, void *obj)
{
  char w[300], ebuf[128];
  struct config_admin *ad = obj;
  const struct toml_value *v = k->value;
  char *path = row->from == SECRET_FILE ? spec_path(l->file, v->u.str.ptr) : NULL, *token;
  enum secret_status st = secret_fetch(row->from, path ? path : v->u.str.ptr, &token);
  int rc = -1, e = errno;
  if (st == SECRET_UNREADABLE)
    spec_error(l, v->line, v->col, "%s: cannot read '%s': %s", spec_where(w, sizeof w, k, sect), path,
               bh_strerror(e, ebuf, sizeof ebuf));
  else if (row->from == SECRET_FILE && !token[0])
    spec_error(l, v->line, v->col, "%s: cannot read '%s': it is empty", spec_where(w, sizeof w, k, sect),
               path);
  else if (row->from == SECRET_FILE && !secret_first_line(token)[0])
    spec_error(l, v->line, v->col, "%s: the first line of '%s' is empty", spec_where(w, sizeof w, k, sect),
               path);
  else if (st == SECRET_UNSET || !token[0])
    spec_error(l, v->line, v->col,
               "%s: the environment variable '%s' is not set (export it, or use token_file)",
               spec_where(w, sizeof w, k, sect), v->u.str.ptr);
  else
    rc = 0;
  if (!rc) {
    secret_free(ad->token);
    ad->token = token;
  } else {
    secret_free(token);
  }
  free(path);
  return rc;
}

/* Anywhere but loopback, the admin server needs a token. */
static void finish_admin(struct loader *l, const struct toml_value *t, const char *sect, void *obj,
                         const struct toml_key *const *seen)
{
  char w[300], host[256];
  struct config_admin *ad = obj;
  const struct toml_key *listen = spec_seen(&spec_admin, seen, "listen");
  if (!listen || ad->token || toml_incomplete(t)) return;
  const char *colon = strrchr(ad->listen, ':');
  size_t n = (size_t)(colon - ad->listen);
  const char *h = ad->listen;
  if (h[0] == '[' && n >= 2 && h[n - 1] == ']') h++, n -= 2;
  snprintf(host, sizeof host, "%.*s", (int)n, h);
  if (!admin_is_loopback(host))
    spec_error(
        l, listen->value->line, listen->value->col,
        "%s: '%s' is not a loopback address: anyone who reaches it could read the metrics and replay or "
        "drop dead letters; set a bearer token (token_env or token_file), or listen on 127.0.0.1",
        spec_where(w, sizeof w, listen, sect), ad->listen);
}

static const struct spec_key admin_keys[] = {
    {"listen", SPEC_STRING, .offset = offsetof(struct config_admin, listen), .check = check_listen},
    {"token", SPEC_SECRET, .from = SECRET_INLINE, .read = read_token},
    {"token_env", SPEC_SECRET, .from = SECRET_ENV, .read = read_token},
    {"token_file", SPEC_SECRET, .from = SECRET_FILE, .read = read_token},
    {"hosts", SPEC_STRINGS, .offset = offsetof(struct config_admin, hosts), .what = "a host name or a list of them"},
    {"max_connections", SPEC_INTEGER, .offset = offsetof(struct config_admin, max_connections), SPEC_UNSIGNED, 0,
     100000, .def = "0"},
    {"allow_core_dumps", SPEC_BOOL, .offset = offsetof(struct config_admin, allow_core_dumps), .def = "false"},
    {"attempts", SPEC_INTEGER, .offset = offsetof(struct config_admin, attempts), SPEC_SIZE_T, 0, 1000000,
     .def = "10000"},
    {NULL},
};
const struct spec_section spec_admin = {"admin", admin_keys, finish_admin};
