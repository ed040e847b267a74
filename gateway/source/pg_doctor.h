/* pg_doctor.h - `binhook doctor` for a postgresql:// source: whether a
 * PostgreSQL server can serve binhook's logical replication, and what to
 * change when it cannot. As for MySQL (source/doctor.h): the facts are read
 * from the server once (pg_doctor_gather) into a struct pg_doctor_server;
 * pg_doctor_evaluate turns them into the checks of a struct doctor_report
 * without touching the network, which doctor_format_text or _json print.
 *
 * It also holds the SQL of binhook's DDL alerts (an event trigger, the text
 * of contrib/postgresql/ddl-alerts.sql), which `binhook doctor --ddl-sql`
 * prints and the checks look for.
 *
 * Ownership: every string of struct pg_doctor_server is owned by it and
 * released by pg_doctor_server_free. */
#ifndef BH_PG_DOCTOR_H
#define BH_PG_DOCTOR_H

#include "source/conn.h"
#include "source/doctor.h"

#include <stddef.h>
#include <stdint.h>

/* A slot that holds back more WAL than this gets a warning. */
#define PG_DOCTOR_WAL_WARN ((int64_t)1 << 30)

/* What the checks are computed from. A count of -1 is unknown. */
struct pg_doctor_server {
  char *version;              /* server_version, "15.4 (Debian 15.4-1)" */
  int version_num;            /* server_version_num, 150004 */
  char *user;                 /* current_user */
  char *database;             /* current_database() */
  int superuser, replication; /* the user's attributes */
  char *wal_level;
  int max_slots, slots_used;     /* max_replication_slots; slots made */
  int max_senders, senders_used; /* max_wal_senders; replication connections open */
  char *replication_error;       /* a replication connection could not be opened: why; NULL: it could */

  char *publication; /* the name asked for */
  int pub_exists, pub_all_tables;
  int pub_insert, pub_update, pub_delete, pub_truncate; /* what it publishes */
  char **pub_tables; /* "schema.table" of the tables it covers (all of them when FOR ALL TABLES) */
  size_t npub_tables;
  char **no_identity; /* published tables without a replica identity (no primary key, or NOTHING) */
  size_t nno_identity;

  char *slot; /* the name asked for */
  int slot_exists;
  char *slot_plugin, *slot_type, *slot_database; /* "pgoutput", "logical", the database it decodes */
  char *slot_active_pid;                         /* the process streaming it; NULL: none */
  char *slot_wal_status; /* reserved, extended, unreserved, lost; NULL: not known (before 13) */
  char *slot_confirmed;  /* its confirmed flush LSN; NULL: none */
  int64_t slot_behind;   /* bytes of WAL from there to the server's current position; -1: unknown */

  int triggers;            /* binhook's event triggers there (0, 1 or 2) */
  char *triggers_disabled; /* the names of those disabled, NULL: none */
};

/* Reads the facts from a plain connection (a PGconn, as void * so that this
 * header does not need libpq's) and, for the replication check, opens a
 * replication connection with co. slot and publication are the names to
 * look for. Returns 0, or -1 with err when the server cannot be asked. */
int pg_doctor_gather(void *conn, const struct conn_opts *co, const char *slot, const char *publication,
                     struct pg_doctor_server *s, char *err, size_t errsz);

/* Appends one check per concern to r, in a fixed order. */
void pg_doctor_evaluate(const struct pg_doctor_server *s, struct doctor_report *r);

void pg_doctor_server_free(struct pg_doctor_server *s);

/* The SQL that installs the DDL alerts' event trigger (the text of
 * contrib/postgresql/ddl-alerts.sql), static. */
const char *pg_doctor_ddl_sql(void);

/* `binhook doctor` for co (a postgresql:// source): connects, checks, writes
 * the report (text, or JSON when json) to out. Returns the number of errors
 * found, or -1 with err when the server cannot be reached or asked. */
int pg_doctor_run(const struct conn_opts *co, const char *slot, const char *publication, int json,
                  struct buf *out, char *err, size_t errsz);

#endif
