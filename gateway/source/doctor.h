/* doctor.h - `binhook doctor`: whether a MySQL or MariaDB server can serve
 * binhook, and what to change when it cannot. Facts are read from a live
 * server once (doctor_gather: variables, CURRENT_USER(), SHOW GRANTS, SHOW
 * BINARY LOGS) into a struct doctor_server; doctor_evaluate turns them into a
 * report of checks without touching the network, so the judgement for either
 * server family can be exercised from plain data. When [state] store names
 * a database, the store is asked the same way (doctor_gather_store, then
 * doctor_evaluate_store: its privileges, tables and lease). The report is
 * printed as text for people or as a JSON array for scripts. A
 * postgresql:// source is checked by source/pg_doctor.h instead, into the
 * same report.
 *
 * Ownership: every string in these structs is owned by the struct holding it
 * and released by the matching _free function. */
#ifndef BH_DOCTOR_H
#define BH_DOCTOR_H

#include "util/buf.h"

#include <mysql.h>
#include <stddef.h>

enum doctor_status {
  DOCTOR_OK,
  DOCTOR_INFO,    /* worth knowing, nothing to change */
  DOCTOR_WARNING, /* binhook works, with a limitation the message names */
  DOCTOR_ERROR,   /* binhook cannot stream (correctly) until it is fixed */
  DOCTOR_SKIPPED, /* not checkable because of a problem reported elsewhere */
};

struct doctor_check {
  char *name; /* "binlog_format", "privilege REPLICATION SLAVE", ... */
  enum doctor_status status;
  char *value;   /* what the server has; NULL when there is nothing to show */
  char *message; /* why it matters; NULL for a plain ok */
  char *fix;     /* the statement to run and the my.cnf line; NULL when none */
};

struct doctor_report {
  struct doctor_check *checks;
  size_t n, cap;
};

/* What the checks are computed from. Variables are SHOW GLOBAL VARIABLES
 * rows; a variable the server does not have is simply absent. */
struct doctor_server {
  int mariadb;                  /* 1 MariaDB, 0 MySQL (and its forks) */
  unsigned major, minor, patch; /* from the version string */
  char *version, *version_comment;
  char *user, *host;              /* CURRENT_USER(), split at the last '@' */
  char **var_names, **var_values; /* nvars each */
  size_t nvars;
  char **grants; /* SHOW GRANTS lines */
  size_t ngrants;
  char *grants_error;     /* SHOW GRANTS failed: why; grants is empty */
  char *active_roles;     /* CURRENT_ROLE() at login, NULL when none */
  size_t nbinlogs;        /* SHOW BINARY LOGS rows */
  char *binlog_last;      /* the newest file's name, NULL when none */
  char *binlogs_error;    /* SHOW BINARY LOGS failed: the server's message */
  unsigned binlogs_errno; /* and its error code */
};

/* Reads the facts from an open connection into s (zeroed by the caller).
 * Returns 0, or -1 with err when the server cannot even be asked (the
 * variables or the current user); a failing SHOW GRANTS or SHOW BINARY LOGS
 * is a fact, recorded in s, not a failure. */
int doctor_gather(MYSQL *m, struct doctor_server *s, char *err, size_t errsz);

/* Detects the family and the version number from s->version and
 * s->version_comment (both set); doctor_gather calls it. */
void doctor_detect(struct doctor_server *s);

/* Sets a variable in s, replacing an earlier value (for gathering and for
 * building facts by hand). */
void doctor_server_set(struct doctor_server *s, const char *name, const char *value);

/* Appends one check per concern to r (zeroed by the caller), in a fixed order. */
void doctor_evaluate(const struct doctor_server *s, struct doctor_report *r);

/* Appends a check to r; takes value, message and fix (each may be NULL). */
void doctor_add(struct doctor_report *r, const char *name, enum doctor_status status, char *value,
                char *message, char *fix);

/* Counts of checks with a status. */
size_t doctor_count(const struct doctor_report *r, enum doctor_status status);

/* The lines people read: one per check, an indented fix under a problem, then
 * the summary line. */
void doctor_format_text(const struct doctor_report *r, struct buf *out);

/* A JSON array of {"name","status","value","message","fix"} objects, one a
 * line; absent fields are null. */
void doctor_format_json(const struct doctor_report *r, struct buf *out);

/* "ok", "info", "warning", "error", "skipped". */
const char *doctor_status_name(enum doctor_status status);

/* One server of [source] url's list (a topology to follow through a
 * failover), as the topology lines see it. */
struct doctor_peer {
  char *where;        /* host:port */
  char *error;        /* it cannot be reached or asked: why; the rest is unset */
  int mariadb;
  unsigned server_id;
  char *source;       /* a replica: host:port of the server it replicates from; NULL: none */
  char *role_error;   /* SHOW SLAVE STATUS failed (a privilege): the server's words; source unknown */
  int io_running, sql_running; /* a replica's threads */
  int read_only;
  char *log_updates;  /* log_slave_updates (log_replica_updates), NULL when unknown */
  char *gtid_strict;  /* MariaDB: gtid_strict_mode */
  char *gtid_mode;    /* MySQL: gtid_mode */
};

/* Reads p's facts (but where and error) from an open connection; 0, or -1
 * with p->error set. */
int doctor_gather_peer(MYSQL *m, struct doctor_peer *p);

/* Appends one line for p to r: its role, and whether binhook could resume
 * there by GTID were it promoted (a warning names what stands in the way). */
void doctor_evaluate_peer(const struct doctor_peer *p, struct doctor_report *r);

void doctor_peer_free(struct doctor_peer *p);

/* The tables of a state store, as bits of doctor_store.tables. */
#define DOCTOR_TABLE_META 1u
#define DOCTOR_TABLE_LEASE 2u
#define DOCTOR_TABLE_QUEUE 4u
#define DOCTOR_TABLES_ALL 7u

/* The state store of [state] store = "mysql://user@host:port/DATABASE", as
 * its own user sees it. */
struct doctor_store {
  char *where;                 /* host:port/DATABASE */
  char *database;              /* DATABASE */
  char *name;                  /* [state] name: the rows of this deployment */
  char *error;                 /* it cannot be reached or asked: why; the rest is unset */
  struct doctor_server server; /* the family, version, CURRENT_USER() and SHOW GRANTS; no variables */
  int db_exists;               /* 1 DATABASE is there, 0 it is not, -1 not known (db_error says why) */
  char *db_error;
  unsigned tables;    /* DOCTOR_TABLE_* bits of the tables there */
  char *tables_error; /* SHOW TABLES failed: why */
  char *schema;       /* binhook_meta's 'schema' row for name; NULL: none */
  char *schema_error; /* it could not be read: why */
  int lease;          /* 1: binhook_lease has a row for name, described by the lease_* fields */
  char *lease_owner, *lease_host;
  long lease_pid;
  unsigned long long lease_epoch;
  int lease_held;    /* unexpired, on the database's clock */
  double lease_age;  /* seconds since it was last renewed */
  char *lease_error; /* the row could not be read: why */
};

/* Reads the store's facts (but where, database, name and error) from an
 * open connection as the store's user; what cannot be read is recorded in
 * st. Returns 0, or -1 with st->error set when the server cannot even say
 * who the user is. */
int doctor_gather_store(MYSQL *m, struct doctor_store *st);

/* Appends the store's lines to r: reachable, each privilege binhook needs
 * on DATABASE (SELECT, INSERT, UPDATE, DELETE, CREATE) with the GRANT that
 * gives it, the tables and their schema version, the lease's holder. */
void doctor_evaluate_store(const struct doctor_store *st, struct doctor_report *r);

void doctor_store_free(struct doctor_store *st);

void doctor_server_free(struct doctor_server *s);
void doctor_report_free(struct doctor_report *r);

#endif
