/* conn.c - see conn.h. */
#include "source/conn.h"
#include "util/util.h"

#include <errno.h>
#include <errmsg.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tls_names[] = {"preferred", "disabled", "required", "verify_ca", "verify_identity"};

int conn_parse_tls(const char *name, enum conn_tls *out)
{
  for (int i = 0; i < (int)(sizeof tls_names / sizeof tls_names[0]); i++) {
    if (!strcmp(name, tls_names[i])) {
      *out = (enum conn_tls)i;
      return 0;
    }
  }
  return -1;
}

/* Decodes %XX escapes (passwords may hold '@' or ':'). */
static char *url_unescape(const char *s, size_t n)
{
  char *out = xmalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n) {
      char hex[3] = {s[i + 1], s[i + 2], 0};
      char *end;
      long v = strtol(hex, &end, 16);
      if (*end == 0) {
        *o++ = (char)v;
        i += 2;
        continue;
      }
    }
    *o++ = s[i];
  }
  *o = 0;
  return out;
}

static int set_param(struct conn_opts *o, const char *key, size_t klen, const char *val, size_t vlen,
                     char *err, size_t errsz)
{
  char *v = url_unescape(val, vlen);
  int rc = 0;
  if (klen == 6 && !strncmp(key, "socket", 6)) {
    free(o->socket), o->socket = v;
  } else if (klen == 2 && !strncmp(key, "ca", 2)) {
    free(o->tls_ca), o->tls_ca = v;
  } else if (klen == 4 && !strncmp(key, "cert", 4)) {
    free(o->tls_cert), o->tls_cert = v;
  } else if (klen == 3 && !strncmp(key, "key", 3)) {
    free(o->tls_key), o->tls_key = v;
  } else if (klen == 3 && !strncmp(key, "tls", 3)) {
    if (conn_parse_tls(v, &o->tls))
      rc = bh_err(err, errsz,
                  "unknown tls mode '%s' (use disabled, preferred, required, verify_ca or verify_identity)",
                  v);
    free(v);
  } else {
    rc = bh_err(err, errsz, "unknown URL parameter '%.*s' (known: socket, tls, ca, cert, key)", (int)klen,
                key);
    free(v);
  }
  return rc;
}

int conn_parse_url(const char *url, struct conn_opts *o, char *err, size_t errsz)
{
  const char *p;
  o->postgres = 0;
  if (!strncmp(url, "mysql://", 8)) p = url + 8;
  else if (!strncmp(url, "mariadb://", 10)) p = url + 10;
  else if (!strncmp(url, "postgresql://", 13)) p = url + 13, o->postgres = 1;
  else if (!strncmp(url, "postgres://", 11)) p = url + 11, o->postgres = 1;
  else
    return bh_err(err, errsz, "source URL '%s' must start with mysql:// (mysql://user@host:port) or "
                  "postgresql:// (postgresql://user@host:port/database)", url);

  const char *end = p + strcspn(p, "?/");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  free(o->user);
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      o->user = url_unescape(p, (size_t)(colon - p));
      free(o->password);
      o->password = url_unescape(colon + 1, (size_t)(at - colon - 1));
    } else {
      o->user = url_unescape(p, (size_t)(at - p));
    }
    p = at + 1;
  } else {
    o->user = xstrdup("binhook");
  }
  if (!*o->user) {
    free(o->user);
    o->user = xstrdup("binhook");
  }

  const char *hend = end;
  const char *colon = NULL;
  if (*p == '[') { /* [::1]:3306 */
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb) return bh_err(err, errsz, "source URL '%s': missing ']' after IPv6 address", url);
    free(o->host);
    o->host = xstrndup(p + 1, (size_t)(rb - p - 1));
    colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    free(o->host);
    o->host = xstrndup(p, (size_t)((colon ? colon : hend) - p));
  }
  o->port = o->postgres ? 5432 : 3306;
  if (colon) {
    char *e;
    errno = 0;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535 || errno)
      return bh_err(err, errsz, "source URL '%s': port '%.*s' is not a number from 1 to 65535", url,
                    (int)(end - colon - 1), colon + 1);
    o->port = (unsigned)port;
  }
  if (!*o->host && !o->socket) {
    free(o->host);
    o->host = xstrdup("127.0.0.1");
  }

  p = end;
  if (*p == '/') { /* a database name: PostgreSQL's; MySQL's is accepted and ignored */
    size_t dlen = strcspn(p + 1, "?");
    free(o->database);
    o->database = o->postgres && dlen ? url_unescape(p + 1, dlen) : NULL;
    p += 1 + dlen;
  }
  if (*p == '?') {
    p++;
    while (*p) {
      size_t n = strcspn(p, "&");
      const char *eq = memchr(p, '=', n);
      if (!eq) return bh_err(err, errsz, "source URL '%s': parameter '%.*s' needs a value", url, (int)n, p);
      if (set_param(o, p, (size_t)(eq - p), eq + 1, (size_t)(p + n - eq - 1), err, errsz)) return -1;
      p += n;
      if (*p == '&') p++;
    }
  }
  if (!o->connect_timeout) o->connect_timeout = 10;
  return 0;
}

int conn_load_password(struct conn_opts *o, const char *env_name, const char *file, char *err,
                       size_t errsz)
{
  if (o->password) return 0;
  if (env_name && *env_name) {
    const char *v = getenv(env_name);
    if (v) {
      o->password = xstrdup(v);
      return 0;
    }
  }
  if (file && *file) {
    FILE *f = fopen(file, "r");
    char ebuf[128];
    if (!f)
      return bh_err(err, errsz, "cannot read password file '%s': %s", file,
                    bh_strerror(errno, ebuf, sizeof ebuf));
    char line[1024];
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    o->password = xstrdup(line);
  }
  return 0;
}

const char *conn_where(const struct conn_opts *o, char *buf, size_t size)
{
  if (o->socket) snprintf(buf, size, "%s", o->socket);
  else if (o->host && strchr(o->host, ':')) snprintf(buf, size, "[%s]:%u", o->host, o->port);
  else snprintf(buf, size, "%s:%u", o->host ? o->host : "127.0.0.1", o->port);
  return buf;
}

static const char *connect_hint(unsigned code)
{
  switch (code) {
  case 1045: return "check the user name and the password (password_env / password_file)";
  case CR_CONN_HOST_ERROR:
  case CR_CONNECTION_ERROR: return "is the server running and listening there?";
  case CR_UNKNOWN_HOST: return "check the host name in the source URL";
  case 2026: return "check the TLS settings (tls, ca, cert, key)";
  default: return NULL;
  }
}

MYSQL *conn_open(const struct conn_opts *o, char *err, size_t errsz)
{
  return conn_open_code(o, NULL, err, errsz);
}

MYSQL *conn_open_code(const struct conn_opts *o, unsigned *code, char *err, size_t errsz)
{
  char where[300];
  if (code) *code = 0;
  MYSQL *m = mysql_init(NULL);
  if (!m) {
    bh_err(err, errsz, "cannot create a MySQL client handle: out of memory");
    return NULL;
  }
  unsigned timeout = o->connect_timeout ? o->connect_timeout : 10;
  mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (o->read_timeout) mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
  mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (o->tls != CONN_TLS_DISABLED && o->tls != CONN_TLS_PREFERRED) {
    my_bool on = 1;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
  }
  if (o->tls == CONN_TLS_VERIFY_CA || o->tls == CONN_TLS_VERIFY_IDENTITY) {
    my_bool on = 1;
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
  } else {
    my_bool off = 0;
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
  }
  if (o->tls_ca || o->tls_cert || o->tls_key) mysql_ssl_set(m, o->tls_key, o->tls_cert, o->tls_ca, NULL, NULL);
  if (o->tls == CONN_TLS_DISABLED) {
    my_bool off = 0;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &off);
  }
  unsigned proto = o->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
  mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);

  if (!mysql_real_connect(m, o->socket ? NULL : o->host, o->user, o->password ? o->password : "", NULL,
                          o->socket ? 0 : o->port, o->socket, 0)) {
    unsigned num = mysql_errno(m);
    const char *hint = connect_hint(num);
    if (code) *code = num;
    bh_err(err, errsz, "cannot connect to '%s' as '%s': %s%s%s", conn_where(o, where, sizeof where),
           o->user ? o->user : "", mysql_error(m), hint ? "; " : "", hint ? hint : "");
    mysql_close(m);
    return NULL;
  }
  return m;
}

static char *dup_or_null(const char *s)
{
  return s ? xstrdup(s) : NULL;
}

void conn_opts_copy(struct conn_opts *dst, const struct conn_opts *src)
{
  *dst = *src;
  dst->host = dup_or_null(src->host);
  dst->user = dup_or_null(src->user);
  dst->password = dup_or_null(src->password);
  dst->socket = dup_or_null(src->socket);
  dst->tls_ca = dup_or_null(src->tls_ca);
  dst->tls_cert = dup_or_null(src->tls_cert);
  dst->tls_key = dup_or_null(src->tls_key);
  dst->database = dup_or_null(src->database);
}

void conn_opts_free(struct conn_opts *o)
{
  free(o->host);
  free(o->user);
  if (o->password) {
    OPENSSL_cleanse(o->password, strlen(o->password)); /* a memset before free may be optimised away */
    free(o->password);
  }
  free(o->socket);
  free(o->tls_ca);
  free(o->tls_cert);
  free(o->tls_key);
  free(o->database);
  memset(o, 0, sizeof *o);
}
