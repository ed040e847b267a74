/* conn.h - how binhook reaches a MySQL/MariaDB server: the connection options
 * parsed from a mysql:// URL plus the password and TLS settings, and opening a
 * Connector/C handle with them. A postgresql:// URL parses into the same
 * options with postgres set (source/pg_source.h opens those with libpq).
 * Strings in conn_opts are owned by it and freed by conn_opts_free. */
#ifndef BH_CONN_H
#define BH_CONN_H

#include <mysql.h>

enum conn_tls {
  CONN_TLS_PREFERRED, /* use TLS when the server offers it (the default) */
  CONN_TLS_DISABLED,
  CONN_TLS_REQUIRED,        /* encrypted, certificate not checked */
  CONN_TLS_VERIFY_CA,       /* encrypted, certificate chain checked */
  CONN_TLS_VERIFY_IDENTITY, /* and the host name too */
};

struct conn_opts {
  char *host;
  unsigned port;
  char *user;
  char *password; /* NULL: none */
  char *socket;   /* unix socket path instead of host:port */
  enum conn_tls tls;
  char *tls_ca, *tls_cert, *tls_key;
  unsigned connect_timeout; /* seconds */
  unsigned read_timeout;    /* seconds; 0: none (the replication stream) */
  int postgres;             /* the URL was postgresql:// (or postgres://) */
  char *database;           /* PostgreSQL: the database of the URL's path; NULL: the user's name */
};

/* Parses mysql://[user[:password]@]host[:port][?socket=P&tls=MODE&ca=P&cert=P&key=P]
 * (also mariadb://) into o, which the caller zeroed. Defaults: user "binhook",
 * port 3306. postgresql://[user[:password]@]host[:port][/database][?...]
 * (also postgres://) sets o->postgres and o->database, port 5432 by default;
 * its socket= names the directory of the server's socket. Returns 0, or -1
 * with a message in err. */
int conn_parse_url(const char *url, struct conn_opts *o, char *err, size_t errsz);

/* Parses a TLS mode name (disabled, preferred, required, verify_ca,
 * verify_identity); 0 or -1. */
int conn_parse_tls(const char *name, enum conn_tls *out);

/* Fills o->password from the environment variable env_name or the first line
 * of file (whichever is given and set), unless the URL already had one.
 * Returns 0, or -1 with err when the named source is unusable. */
int conn_load_password(struct conn_opts *o, const char *env_name, const char *file, char *err,
                       size_t errsz);

/* Connects; returns a handle the caller closes with mysql_close, or NULL with
 * a message naming the address and what to do. */
MYSQL *conn_open(const struct conn_opts *o, char *err, size_t errsz);

/* As conn_open; when it fails, *code gets the client's or the server's
 * error number (1045: access denied, 2003: nothing listens there), which
 * server_errc turns into the code a caller acts on; 0 otherwise. */
MYSQL *conn_open_code(const struct conn_opts *o, unsigned *code, char *err, size_t errsz);

/* "host:port" or the socket path, for messages. */
const char *conn_where(const struct conn_opts *o, char *buf, size_t size);

void conn_opts_copy(struct conn_opts *dst, const struct conn_opts *src);
void conn_opts_free(struct conn_opts *o);

#endif
