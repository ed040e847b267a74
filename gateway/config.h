/* config.h - the configuration binhook runs with, loaded from a TOML file
 * (gateway.toml) through toml.h. config_load fills a struct config the caller
 * owns and releases with config_free. Every error carries file:line:col, all
 * errors of a file are reported in one run, and an unknown key is answered
 * with the nearest known one. */
#ifndef BH_CONFIG_H
#define BH_CONFIG_H

#include "conn.h"

#include <stddef.h>

struct config_source {
  char *url;           /* mysql://user@host:port (see conn.h) */
  char *password_env;  /* name of the environment variable holding the password */
  char *password_file; /* or a file whose first line is the password */
  char *tls;           /* disabled | preferred | required | verify_ca | verify_identity */
  char *tls_ca, *tls_cert, *tls_key;
  unsigned server_id;  /* replica id, unique among the server's replicas; default 4242 */
  char *start;         /* end | start | FILE:OFFSET | gtid:SET; used only without a checkpoint */
  char **tables;       /* include globs "schema.table"; NULL-terminated; NULL: all */
  char **exclude;      /* exclude globs; NULL-terminated; may be NULL */
  double heartbeat;    /* seconds between server heartbeats; default 5 */
  double connect_timeout; /* seconds; default 10 */
  size_t queue_events; /* bound of the source -> main loop queue, in events; default 10000 */
};

struct config_state {
  char *dir; /* state directory; default /var/lib/binhook */
};

struct config_log {
  char *level; /* debug | info | notice | warning | error; default info */
};

struct config {
  char *path; /* the file it was loaded from */
  struct config_source source;
  struct config_state state;
  struct config_log log;
};

/* Fills cfg with the defaults above (no file needed). */
void config_defaults(struct config *cfg);

/* Loads path over the defaults. Returns 0, or -1 with every problem found in
 * errs, one "file:line:col: message" per line (errs is caller-owned, size errsz). */
int config_load(const char *path, struct config *cfg, char *errs, size_t errsz);

/* Builds the connection options for [source] (URL, password, TLS, timeouts).
 * Returns 0 or -1 with err. */
int config_source_conn(const struct config *cfg, struct conn_opts *out, char *err, size_t errsz);

void config_free(struct config *cfg);

/* Parses a duration: one or more <number><unit> parts ("15s", "500ms", "2h",
 * "1d", "1h30m", "1.5s"; units ms, s, m, h, d). Returns 0 with the total in
 * *seconds, or -1 when s is not a duration. */
int config_parse_duration(const char *s, double *seconds);

#endif
