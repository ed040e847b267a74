/* server.h - what binhook asks a MySQL/MariaDB server over SQL, written
 * once for the source, the snapshot and the daemon: run a statement, read
 * a row, the binlog position the server writes at, whether a binlog file is
 * still there; the order of binlog coordinates; the text of names and byte
 * strings in a statement; the code a caller acts on for an error number.
 *
 * Ownership: a MYSQL_RES handed back is the caller's (mysql_free_result);
 * the connection m stays the caller's. Functions return 0 / -1 with a
 * message in err (the statement quoted, then the server's words) and never
 * print; after a failure mysql_errno(m) and mysql_error(m) still tell the
 * server's answer. */
#ifndef BH_SERVER_H
#define BH_SERVER_H

#include "event/change.h"
#include "source/conn.h"
#include "util/buf.h"
#include "util/errcode.h"

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

/* Runs sql and discards any result. 0, or -1 with "query '...' failed". */
int server_exec(MYSQL *m, const char *sql, char *err, size_t errsz);

/* Runs sql and returns its whole result (caller frees), or NULL with err. */
MYSQL_RES *server_query(MYSQL *m, const char *sql, char *err, size_t errsz);

/* Runs sql: *res gets the result (caller frees) and *row its first row,
 * NULL when it has none. 0, or -1 with err (then *res is not set). */
int server_query_row(MYSQL *m, const char *sql, MYSQL_ROW *row, MYSQL_RES **res, char *err, size_t errsz);

/* The binlog position the server writes at: SHOW MASTER STATUS, or SHOW
 * BINARY LOG STATUS where MySQL 8.4 removed the first. 1 with *p set; 0
 * when the server reports none (binary logging is off); -1 with err when
 * neither statement could be run (mysql_error(m) has the server's words:
 * usually a missing privilege). */
int server_binlog_position(MYSQL *m, struct position *p, char *err, size_t errsz);

/* The full GTID state at file:pos, a transaction boundary, appended to out:
 * MariaDB says it for any position (BINLOG_GTID_POS); MySQL only for the
 * one it writes at now (SHOW BINARY LOG STATUS's executed set, read with
 * the position). 1 with out set, 0 when the server cannot tell, -1 with
 * err. */
int server_gtid_state_at(MYSQL *m, int mariadb, const char *file, uint64_t pos, struct buf *out, char *err,
                         size_t errsz);

/* Whether the server still has binlog file (SHOW BINARY LOGS over a
 * connection of its own): 1 yes, 0 no (it was purged), -1 when it cannot
 * be asked (the caller then goes by the stream's own answer). */
int server_has_binlog(const struct conn_opts *co, const char *file);

/* MariaDB: whether the server's binlogs reach back to the GTID state
 * (gtidpos text): the state its oldest binlog starts at is contained in it.
 * 1 yes (what follows state would be there, if the server has state's
 * transactions at all), 0 no (purged), -1 when it cannot be asked. */
int server_binlogs_reach(const struct conn_opts *co, const char *state);

/* The code a caller acts on for a client or server error number of an SQL
 * connection (mysql_errno, conn_open_code): BH_E_ACCESS when the user or a
 * privilege is refused, BH_E_CONNECT when the server cannot be reached or
 * the connection was lost, BH_E_OTHER for the rest, BH_E_NONE for 0. The
 * replication stream's errors are the source's to classify. */
enum bh_errc server_errc(unsigned code);

/* Orders binlog file names: names with the same base compare by their
 * numeric extension (binlog.999999 < binlog.1000000), PostgreSQL LSNs
 * ("0/16B3748") as numbers, others as text.
 * -1, 0 or 1. */
int server_file_cmp(const char *a, const char *b);

/* Orders the binlog coordinate file:pos against b: -1, 0 or 1. */
int server_pos_cmp(const char *file, uint64_t pos, const struct position *b);

/* Appends name as a quoted identifier (`a``b`). */
void server_add_ident(struct buf *b, const char *name);

/* Appends `schema`.`name`. */
void server_add_table(struct buf *b, const char *schema, const char *name);

/* Appends n bytes as a hexadecimal literal (X'0A1B'), exact whatever the
 * bytes and the connection's charset. */
void server_add_hex(struct buf *b, const void *data, size_t n);

/* Appends s as a string literal ('it\'s'), escaped for m's charset. */
void server_add_quoted(MYSQL *m, struct buf *b, const char *s);

#endif
