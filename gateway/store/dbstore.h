/* dbstore.h - binhook's state in a MySQL/MariaDB database ([state] store =
 * "mysql://user@host:port/DATABASE"): the tables, their creation and
 * migration, the small values (the checkpoint, the endpoints' state), and
 * the lease that makes one binhook of several active.
 *
 * Tables (InnoDB, in DATABASE; every row carries the deployment's name,
 * [state] name, so that several deployments share one database):
 *   binhook_meta   (name, k, v)       small values: "schema" (the version),
 *                                      "checkpoint", "endpoints", "next_seq"
 *   binhook_lease  (name, owner, host, pid, epoch, expires, renewed, takeovers)
 *   binhook_queue  (name, seq, ...)   the retry queue and the dead letters,
 *                                      a row a delivery (store/dbq.c)
 * docs/DESIGN.md has the SQL for those who create them by hand.
 *
 * The lease: the active holds the lease row (owner, epoch) and renews its
 * expiry (the database's clock: NOW(6) + lease) every lease/4 seconds; a
 * standby takes the row when it has expired, adding one to the epoch.
 * Fencing: every write of the active runs in a transaction that first
 * locks the lease row (SELECT ... FOR UPDATE) and goes on only while the
 * owner and epoch are its own, so that once another has taken the lease
 * nothing the old active writes lands (dbstore_fence).
 *
 * Threads: a struct dbstore is shared; each thread opens its own
 * connection (dbstore_connect). The lease's keeper is a thread of its own. */
#ifndef BH_DBSTORE_H
#define BH_DBSTORE_H

#include "source/conn.h"
#include "util/buf.h"
#include "util/errcode.h"

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#define DBSTORE_SCHEMA 1 /* the version of the tables this binhook writes */

struct dbstore;

/* Connects once to check the server, creates the database and the tables
 * when they are missing (and migrates older ones), and refuses tables of a
 * newer binhook. conn is copied. Returns NULL with err. */
struct dbstore *dbstore_open(const struct conn_opts *conn, const char *database, const char *name, double lease,
                             char *err, size_t errsz);
void dbstore_free(struct dbstore *db);

const char *dbstore_database(const struct dbstore *db);
const char *dbstore_name(const struct dbstore *db);
/* "host:port/DATABASE", for messages. */
const char *dbstore_where(const struct dbstore *db);

/* A new connection to the store, its database selected, autocommit on. */
MYSQL *dbstore_connect(struct dbstore *db, char *err, size_t errsz);

/* *m answers (a ping), or is replaced by a new connection: 0, or -1 with
 * err (*m NULL then). The server ends sessions idle for half the lease. */
int dbstore_alive(struct dbstore *db, MYSQL **m, char *err, size_t errsz);

/* Appends s to q as a quoted SQL string (escaped for m). */
void dbstore_quote(MYSQL *m, struct buf *q, const char *s, size_t n);
/* Runs sql on m; 0, or -1 with err naming the store. */
int dbstore_exec(struct dbstore *db, MYSQL *m, const char *sql, size_t len, char *err, size_t errsz);

/* Inside a transaction on m: locks the lease row and checks that this
 * process holds it (dbstore_hold). 0 when it does; -1 with err when not
 * (BH_E_FENCED: another took the lease, or none is held) or when the store
 * cannot be asked (BH_E_CONNECT / BH_E_OTHER), in *code. */
int dbstore_fence(struct dbstore *db, MYSQL *m, enum bh_errc *code, char *err, size_t errsz);

/* The epoch and owner this process holds the lease with (0: none): set by
 * the lease, read by dbstore_fence. */
void dbstore_hold(struct dbstore *db, uint64_t epoch);
uint64_t dbstore_epoch(struct dbstore *db);

/* The small values: 1 with *out set, 0 when there is none, -1 with err. */
int dbstore_get(struct dbstore *db, MYSQL *m, const char *key, struct buf *out, char *err, size_t errsz);
/* Sets a small value in its own fenced transaction; -1 with err and *code. */
int dbstore_put(struct dbstore *db, MYSQL *m, const char *key, const void *v, size_t n, enum bh_errc *code,
                char *err, size_t errsz);
/* Removes a small value in its own fenced transaction (none is no error). */
int dbstore_del(struct dbstore *db, MYSQL *m, const char *key, enum bh_errc *code, char *err, size_t errsz);
/* The same inside the caller's transaction (fenced by the caller). */
int dbstore_put_in(struct dbstore *db, MYSQL *m, const char *key, const void *v, size_t n, char *err,
                   size_t errsz);

/* ---- the lease ---- */

struct lease_info {
  int held;          /* by anyone, unexpired */
  int mine;          /* by this process */
  char owner[128];   /* "host:pid:random" of the holder */
  char host[128];
  long pid;
  uint64_t epoch;
  double age;        /* seconds since it was last renewed */
  uint64_t takeovers;
};

struct lease;

/* A lease on db for this process (owner "host:pid:random"). */
struct lease *lease_new(struct dbstore *db);
void lease_free(struct lease *l);

/* One try to take the lease (a standby's): 1 taken (dbstore_hold set), 0
 * held by another (*info says by whom), -1 with err (the store cannot be
 * reached). info may be NULL. */
int lease_try(struct lease *l, struct lease_info *info, char *err, size_t errsz);

/* Starts the keeper thread of a held lease: it renews every lease/4
 * seconds and writes a byte to lease_lost_fd once the lease is lost (taken,
 * or not renewed in time: then this process must stop acting before
 * another may take it). Returns 0, or -1 with err. */
int lease_keep(struct lease *l, char *err, size_t errsz);
/* Readable once the lease is lost; -1 before lease_keep. */
int lease_lost_fd(struct lease *l);
/* 1 while held: renewed within 0.8 of the lease (the keeper's margin, so
 * that the process stops acting before the row can expire for others,
 * also right after it was stopped and continued), 0 after. Any thread. */
int lease_held(struct lease *l);
/* The end of an active turn that lost the lease (or stops): the keeper is
 * stopped and joined, the lease no longer counts as held. */
void lease_end_turn(struct lease *l);
/* Stops the keeper and gives the lease up (expired now, so that a standby
 * takes over at once), when still held. */
void lease_release(struct lease *l);
/* What the keeper or the last try knows. Any thread. */
void lease_info(struct lease *l, struct lease_info *out);

#endif
