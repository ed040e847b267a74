/* config.h - the configuration binhook runs with, loaded from a TOML file
 * (gateway.toml) through toml.h. config_load fills a struct config the caller
 * owns and releases with config_free. Every error carries file:line:col, all
 * errors of every file are reported in one run (the part of a file before a
 * TOML syntax error is checked too), and an unknown key is answered with the
 * nearest known one.
 *
 * Values are checked and converted once, at load: a number is a number, a
 * duration seconds, a size bytes, a word from a fixed set (ordering, signing,
 * levels...) its enum, a relative path one taken from the directory of the
 * file that names it, and a secret named by *_env or *_file the secret
 * itself. Nothing downstream parses the configuration's text again. Secrets
 * are wiped when config_free releases them. */
#ifndef BH_CONFIG_H
#define BH_CONFIG_H

#include "deliver/sign.h"
#include "snapshot/snapshot.h"
#include "source/conn.h"
#include "util/buf.h"
#include "util/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* [source] resume: how a stream goes on after a restart or a lost
 * connection. */
enum config_resume {
  CONFIG_RESUME_AUTO, /* by the GTID state when the server has GTIDs and binhook knows the state, else file:pos */
  CONFIG_RESUME_GTID, /* by the GTID state always: a server without GTIDs is an error */
  CONFIG_RESUME_FILE, /* by file:pos always, on the server that wrote it only */
};

/* [source] snapshot: when the initial snapshot is taken. */
enum config_snapshot {
  CONFIG_SNAPSHOT_NEVER,       /* never: the stream starts at `start` or the checkpoint */
  CONFIG_SNAPSHOT_INITIAL,     /* when there is no checkpoint yet */
  CONFIG_SNAPSHOT_WHEN_NEEDED, /* also when the checkpoint's binlog is gone */
};

/* [endpoint.NAME] ordering: what a failing delivery holds back. */
enum config_ordering {
  CONFIG_ORDER_KEY,      /* later deliveries of the same row */
  CONFIG_ORDER_NONE,     /* nothing */
  CONFIG_ORDER_ENDPOINT, /* every later delivery to the endpoint */
};

/* struct config_source.tls when [source] has no tls: the URL's ?tls=, else
 * CONN_TLS_PREFERRED. */
#define CONFIG_TLS_URL (-1)

struct config_source {
  char **url;          /* mysql://user@host:port or postgresql://user@host:port/db (see conn.h), one or the servers of one topology in the
                          order they are tried; NULL-terminated, never empty after loading */
  char *password_env;  /* name of the environment variable holding the password */
  char *password_file; /* or a file whose first line is the password */
  int tls;             /* an enum conn_tls, or CONFIG_TLS_URL (the default) */
  char *tls_ca, *tls_cert, *tls_key;
  unsigned server_id;               /* replica id, unique among the server's replicas; default 4242 */
  char *start;                      /* end | start | FILE:OFFSET | gtid:SET; used only without a checkpoint */
  char **tables;                    /* include globs "schema.table"; NULL-terminated; NULL: all */
  char **exclude;                   /* exclude globs; NULL-terminated; may be NULL */
  double heartbeat;                 /* seconds between server heartbeats; default 5 */
  double heartbeat_events;          /* seconds between heartbeat events to rules (on = ["heartbeat"]); 0: none */
  double connect_timeout;           /* seconds; default 10 */
  enum config_resume resume;        /* default auto */
  size_t queue_events;              /* bound of the source -> main loop queue, in events; default 10000 */
  size_t queue_bytes;               /* and in bytes of decoded changes; default 64 MiB */
  enum config_snapshot snapshot;    /* when to take the initial snapshot; default never */
  uint64_t snapshot_chunk;          /* rows per snapshot chunk; default 10000 */
  double snapshot_rate;             /* snapshot rows per second at most; 0 (default): no limit */
  enum snapshot_lock snapshot_lock; /* how the snapshot's position is made exact; default auto */
  char *slot;                       /* PostgreSQL: the logical replication slot; default "binhook" */
  char *publication;                /* PostgreSQL: the publication streamed; default "binhook" */
};

struct config_state {
  char *dir;             /* state directory; default /var/lib/binhook */
  char *store;           /* "dir" (the default: everything in dir), or mysql://user@host:port/DATABASE: the
                            checkpoint, the queue and the dead letters in that database, with a lease that makes
                            one binhook of several active */
  char *name;            /* the deployment's name in the store (several share a database); default "default" */
  double lease;          /* seconds the active's lease lasts without renewal; default 10 */
  char *password_env;    /* the store's password: this variable (default BINHOOK_MYSQL_PASSWORD) */
  char *password_file;   /* or the first line of this file */
  uint64_t queue_max;    /* bytes the retry queue may use on disk; default 1 GiB */
  uint64_t segment_size; /* bytes per queue segment file; default 64 MiB */
};

struct config_log {
  enum log_level level;   /* default info */
  enum log_format format; /* default text */
};

struct config_admin {
  char *listen; /* host:port of the admin HTTP server; NULL: none */
  char *token;  /* bearer token (from token, token_env or token_file); required when listen is not
                   on loopback; NULL: none; a secret */
  char **hosts;  /* more names the Host header may give (NULL-terminated); NULL: none */
  unsigned max_connections; /* connections at once; 0: an eighth of the open-file limit, 8 to 256 */
  int allow_core_dumps;     /* 1: a crash may write a core (which holds secrets); default 0 */
  size_t attempts;          /* delivery attempts the attempt log keeps (GET /attempts); 0: none; default 10000 */
};

/* A string from a file with where it was written, for messages about it
 * (a template, an expression, a regex). file points into config.files. */
struct config_text {
  char *s; /* NULL when the key was not given */
  const char *file;
  int line, col; /* of the first character of the string's contents */
  int *cols;     /* for a "..." string with escapes: the column where the
                    contents' character i was written (i up to its length,
                    in characters), so that a position inside the text can
                    be reported where it is in the file; else NULL */
  size_t ncols;
};

/* The column in the file of column col of t's text when both are on t's
 * first line (escapes make them differ); col itself otherwise. */
int config_text_col(const struct config_text *t, int line, int col);

struct config_header {
  char *name;
  struct config_text value; /* a template */
};

struct config_endpoint {
  char *name;
  const char *file;
  int line, col;          /* of its [endpoint.NAME] */
  struct config_text url; /* http(s)://, smtp(s)://; a template for http(s) */
  char *method;           /* default POST */
  struct config_header *headers;
  size_t nheaders;
  enum sign_scheme signing; /* default: standard-webhooks with a secret, none without */
  char **secrets;           /* NULL-terminated; from secret, secret_env or secret_file */
  char *secret_problem;     /* "file:line:col: message" when secret_env names an unset variable or
                               secret_file cannot be read: `check` warns, commands that sign fail */
  double timeout;           /* seconds per attempt; default 15 */
  double *retry;            /* delays after the first attempt */
  size_t nretry;
  double max_age;  /* seconds before a delivery goes to the dead letters; default 3 days */
  double coalesce; /* seconds: updates of one row within this window become one delivery
                      (the first before image, the last after image); 0 (default): off */
  int *no_retry;   /* HTTP statuses that end a delivery at once (no retry) */
  size_t nno_retry;
  unsigned concurrency;          /* requests in flight; default 8 */
  double rate_limit;             /* requests per second at most; 0 (default): no limit */
  unsigned burst;                /* of the rate limit; 0: max(1, rate_limit) */
  unsigned breaker_failures;     /* failures in a row that open the circuit; default 10; 0: no breaker */
  double breaker_cooldown;       /* seconds open before a probe; default 30 */
  enum config_ordering ordering; /* default key */
  char *mail_from;               /* smtp: envelope and From: */
  char **mail_to, **mail_cc;     /* NULL-terminated */
  char *username;                /* smtp AUTH, http basic auth */
  char *tls_ca;   /* PEM file of the CA certificates that verify the server's, or NULL: the system's */
  char *password; /* from password_env or password_file; never printed */
  struct config_text subject; /* smtp: the default subject template */
  char *aws_sigv4;            /* http(s): AWS Signature V4, "provider1[:provider2[:region[:service]]]"
                                 as libcurl's CURLOPT_AWS_SIGV4 takes it; NULL: not signed so */
  char *aws_access_key;       /* from aws_access_key_env; never printed */
  char *aws_secret_key;       /* from aws_secret_key_env; never printed */
  char *aws_session_token;    /* from aws_session_token_env (temporary credentials), or NULL */
};

/* Event types a rule listens to (struct config_rule.on). */
enum {
  RULE_ON_INSERT = 1,
  RULE_ON_UPDATE = 2,
  RULE_ON_DELETE = 4,
  RULE_ON_SNAPSHOT = 8,
  RULE_ON_STATEMENT = 16,
  RULE_ON_HEARTBEAT = 32, /* binhook run's heartbeat events ([source] heartbeat_events); never by default */
};
/* Statement kinds a rule listens to (struct config_rule.kinds). */
enum { RULE_KIND_DDL = 1, RULE_KIND_DCL = 2, RULE_KIND_OTHER = 4 };

struct config_rule {
  char *name;
  const char *file;
  int line, col; /* of its [[rule]] */
  char *description;
  int enabled;                  /* default 1 */
  char **tables;                /* "schema.table" globs, NULL-terminated; NULL: every table */
  unsigned on;                  /* RULE_ON_* mask; 0: the default (rows, or statements with `statement`) */
  unsigned kinds;               /* RULE_KIND_* mask; 0: every kind */
  struct config_text when;      /* expression */
  struct config_text statement; /* PCRE2 pattern on the SQL text */
  long long threshold;          /* > 0: a threshold rule (alert when more rows than this) */
  unsigned sample;              /* keys in a threshold alert; default 10 */
  char **endpoints;             /* NULL-terminated */
  const char *endpoints_file;
  int endpoints_line, endpoints_col;
  struct config_text template;            /* a file name in the templates directory */
  struct config_text *endpoint_templates; /* template = { ENDPOINT = "file", ... }: per endpoint */
  char **endpoint_template_names;         /* the ENDPOINT of each */
  size_t nendpoint_templates;
  struct config_text subject;    /* e-mail subject template, over the endpoint's */
  struct config_text method;     /* over the endpoint's */
  struct config_text url;        /* a template, over the endpoint's */
  struct config_text path;       /* a URL template appended to the endpoint's url */
  struct config_header *headers; /* added to the endpoint's (same name: replaced) */
  size_t nheaders;
};

struct config {
  char *path;      /* the file it was loaded from */
  int partial;     /* a file was read only up to a TOML syntax error (config_load then
                      returned -1): a name it would have defined after the error is
                      unknown, so references to unknown names are not problems */
  char **files;    /* every file read (path, then the included files), NULL-terminated; the
                      file pointers of rules, endpoints and texts point here */
  char *templates; /* the templates directory; default "templates" next to the file */
  struct config_source source;
  struct config_state state;
  struct config_log log;
  struct config_admin admin;
  struct config_endpoint *endpoints;
  size_t nendpoints;
  struct config_rule *rules;
  size_t nrules;
};

/* Fills cfg with the defaults above (no file needed). */
void config_defaults(struct config *cfg);

/* Loads path over the defaults, with the files its `include` globs name.
 * Returns 0, or -1 with every problem found in errs, one
 * "file:line:col: message" per line (errs is caller-owned, size errsz). On
 * -1 cfg still holds whatever could be read (config_free it), so that a
 * checker can look further and report more in the same run. */
int config_load(const char *path, struct config *cfg, char *errs, size_t errsz);

/* Builds the connection options for [source] (URL, password, TLS, timeouts);
 * the password is read here, from password_env or else password_file.
 * Returns 0 or -1 with err. */
int config_source_conn(const struct config *cfg, struct conn_opts *out, char *err, size_t errsz);

/* 1 when [state] store names a database, 0 for "dir". */
int config_state_in_db(const struct config *cfg);

/* The store's connection options (URL, password) and its database (the
 * URL's path, malloc'ed into *database). Returns 0, or -1 with err. */
int config_state_conn(const struct config *cfg, struct conn_opts *out, char **database, char *err, size_t errsz);

/* Splits "mysql://user@host:port/DATABASE?opts" into the URL without the
 * database (malloc'ed) and the database (malloc'ed; NULL when the URL names
 * none). */
char *config_url_database(const char *url, char **database);

/* How many servers [source] url names (1 when it names none: the default),
 * and the connection options of the i-th, as config_source_conn. */
size_t config_source_nurls(const struct config *cfg);
int config_source_conn_at(const struct config *cfg, size_t i, struct conn_opts *out, char *err, size_t errsz);

/* Replaces [source] url with the comma-separated list of URLs (a command's
 * --source): empty items are left out. */
void config_source_set_urls(struct config *cfg, const char *list);

void config_free(struct config *cfg);

/* The endpoint called name, or NULL. */
const struct config_endpoint *config_endpoint(const struct config *cfg, const char *name);

/* Appends "file:line:col: message" to list (after a line break when list is
 * not empty): the shape of every problem of a configuration, its rules and
 * templates. Control characters in the message (from keys and values quoted
 * from a file) become '?', so that a problem stays one line. */
void config_problem(struct buf *list, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void config_vproblem(struct buf *list, const char *file, int line, int col, const char *fmt, va_list ap);

/* Parses a duration: one or more <number><unit> parts ("15s", "500ms", "2h",
 * "1d", "1h30m", "1.5s"; units ms, s, m, h, d). Returns 0 with the total in
 * *seconds, or -1 when s is not a duration. */
int config_parse_duration(const char *s, double *seconds);

/* Parses a size: a number of bytes, or a number and a unit: kB, MB, GB
 * (powers of 1000) or KiB, MiB, GiB (powers of 1024), "64MiB", "1.5GB".
 * Returns 0 with *bytes, or -1 when s is not a size (or above 2^53). */
int config_parse_size(const char *s, uint64_t *bytes);

#endif
