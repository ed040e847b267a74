/* snapshot.h - the initial snapshot: the rows the selected tables hold now,
 * as snapshot events, and the binlog position where the change stream takes
 * over, so that the snapshot events applied first and the stream's changes
 * after them reproduce every table exactly: no row missing, no change twice.
 *
 * Data enters from one connection to the server, in a consistent-snapshot
 * transaction, a chunk of rows at a time in primary key order; it leaves as
 * struct change events (EVENT_SNAPSHOT: "after" is the row, "key" its primary
 * key, values as the binlog decoder gives them) through a callback or into
 * the source's queue, and as a state file in the state directory.
 *
 * Why the handover is exact
 *
 * One snapshot. Every row is read inside one transaction started WITH
 * CONSISTENT SNAPSHOT, whose binlog position P is known exactly. MariaDB
 * reports it (binlog_snapshot_file and binlog_snapshot_position): no lock.
 * On MySQL a global read lock, or where that is refused LOCK TABLES ... READ
 * on the selected tables from a second connection, is held only while the
 * transaction starts and the position is read: no transaction that touches
 * these tables can commit in between. The rows read are then the tables'
 * state at P, and the binlog from P holds exactly the changes made after it.
 *
 * A resumed snapshot. A crash ends the transaction, and a snapshot cannot be
 * reopened at P1. The chunks already read stay as they were read (the state
 * at P1); the rest is read in a new transaction at P2 >= P1. The stream still
 * starts at P1, and a change at position x to the row with key k is applied
 * only when x is at or after the position of the snapshot that read k: rows
 * read at P1 need every change after P1; rows read at P2 already hold the
 * changes between P1 and P2, which are dropped (snapshot_filter). Which
 * snapshot read a key is written in the table's segments: keys up to the
 * last committed chunk's key at P1, the others at P2; a table finished at P1
 * is all P1, a table not started all P2; several crashes make several
 * segments. An UPDATE that moves a row from one segment to another counts on
 * each side for what it is there: the DELETE of the old key where changes to
 * that key count, the INSERT of the new key where changes to that key count.
 * Once the stream reaches the last snapshot's position nothing is dropped.
 * An ALTER TABLE that breaks the snapshot transaction (error 1412) is handled
 * the same way, within one run: a new transaction, new segments.
 *
 * Keys are compared as the server orders them: integers, decimals, floats,
 * temporal, ENUM, SET, BIT and binary strings here; text in a collation and
 * MariaDB's UUID and INET types by the server (one query per change, over a
 * connection of the filter's own, only for changes between P1 and P2 to a
 * table that was cut by a crash).
 *
 * Durability. After each chunk comes a marker event (snapshot_marker). The
 * caller calls snapshot_commit with the marker's number once everything
 * before it is durable (printed and flushed, delivered or queued): that
 * writes the state (the handover position, the segments, the rows done) as
 * it was at that marker, atomically. A crash loses only the work after the
 * last commit: the rows emitted after it are emitted again, from the new
 * snapshot, with the same ordinals (tx.index). A consumer that kept some of
 * those rows lets the new ones replace them; one that keeps only what was
 * committed (binhook tail: the rows up to the state's "ordinal") needs
 * nothing more.
 *
 * Limits: a snapshot transaction holds a metadata lock on every table it has
 * read until it ends, so ALTER TABLE on those tables waits for it (as with
 * mysqldump --single-transaction); the binlog from the handover must still
 * be on the server when the snapshot ends (binlog_expire_logs_seconds longer
 * than the snapshot takes); only InnoDB (and MyRocks) tables have a
 * consistent snapshot, others get a warning; XA transactions prepared before
 * the handover are not seen; a resume assumes full row images
 * (binlog_row_image=FULL).
 *
 * Ownership: strings and lists in snapshot_opts are copied; events handed to
 * emit belong to the callback. Functions return 0 / -1 with a message in err
 * and never print, except the built-in progress display (stderr); where a
 * caller acts on the cause of a failure, snapshot_errc gives it as a code.
 *
 * The files of gateway/snapshot/ (snapshot_int.h: the structures they share
 * and what crosses between the snapshot thread and the consumer):
 *   snapshot.c   life cycle, the thread (snapshot_start .. snapshot_join),
 *                failures and their codes, the snapshot's tables
 *   open.c       the session, the consistent-snapshot transaction and its
 *                position, the table list, snapshot_begin
 *   read.c       the snapshot thread's reading: columns, chunks, markers,
 *                announced ranges, a transaction broken by ALTER TABLE
 *   filter.c     snapshot_filter, on the consumer's thread: segments,
 *                bands, keys the server compares
 *   key.c        primary key values: JSON form, order, SQL literals
 *   convert.c    column types, fetched values as the binlog decoder
 *                gives them
 *   statefile.c  the state file and the sent file, snapshot_commit,
 *                snapshot_status, snapshot_forget
 *   progress.c   snapshot_progress_get and the built-in display */
#ifndef BH_SNAPSHOT_H
#define BH_SNAPSHOT_H

#include "event/change.h"
#include "source/conn.h"
#include "source/source.h"
#include "util/errcode.h"

#include <stddef.h>
#include <stdint.h>

/* How the consistent position is obtained. AUTO: MariaDB's snapshot status,
 * else the global read lock, else table locks. The others force one way (the
 * lock ways also work on MariaDB, which is how they are tested). */
enum snapshot_lock { SNAPSHOT_LOCK_AUTO, SNAPSHOT_LOCK_MARIADB, SNAPSHOT_LOCK_GLOBAL, SNAPSHOT_LOCK_TABLES };

/* "auto", "mariadb", "global" or "tables"; 0 or -1. */
int snapshot_parse_lock(const char *name, enum snapshot_lock *out);

/* Progress of one table, and of the whole snapshot. Rates are rows per
 * second in this run; eta is seconds, or -1 when unknown. */
struct snapshot_table_progress {
  const char *schema, *name;
  uint64_t done;      /* rows emitted, all runs together */
  uint64_t estimated; /* information_schema.TABLES.TABLE_ROWS (an estimate) */
  double rate, eta;
  int finished;
};

struct snapshot_progress {
  const struct snapshot_table_progress *tables; /* ntables entries */
  size_t ntables;
  size_t current; /* index of the table being read; ntables when finished */
  uint64_t done, estimated;
  double elapsed, rate, eta;
  int finished;
};

/* The progress display of snapshot_opts.progress, for callers that want it
 * besides their own: a bar redrawn on stderr when it is a terminal, a log
 * line every few seconds and at each table's end otherwise. */
void snapshot_progress_print(const struct snapshot_progress *p);

struct snapshot_opts {
  struct conn_opts conn; /* copied */
  char *const *include;  /* "schema.table" globs; NULL: every table */
  char *const *exclude;  /* NULL: none */
  const char *state_dir; /* snapshot.json is kept there; NULL: not resumable */
  uint64_t chunk_rows;   /* rows per chunk; 0: 10000 */
  double rate;           /* rows per second at most; 0: no limit */
  enum snapshot_lock lock;
  /* PostgreSQL (conn.postgres): the slot the stream reads, made with the
   * exported snapshot, and the publication whose tables are read; copied;
   * NULL: "binhook" */
  const char *slot, *publication;
  /* Each event (rows and markers), taken by the callback; 0, or -1 to stop
   * with a message in err. NULL in snapshot_start: the source's queue. */
  int (*emit)(void *ctx, struct change *e, char *err, size_t errsz);
  /* After each chunk and at each table's end; NULL: snapshot_progress_print. */
  void (*progress)(void *ctx, const struct snapshot_progress *p);
  int quiet;     /* with progress NULL: no display at all */
  int no_stream; /* snapshot_start: close the queue at the end instead of starting
                    the source (a snapshot alone) */
  int beside;    /* PostgreSQL: a snapshot beside a running stream (asked for while running): read
                    through a temporary slot, the configured one left to the stream */
  void *ctx;
};

struct snapshot;

struct snapshot *snapshot_new(const struct snapshot_opts *o);
void snapshot_free(struct snapshot *s); /* stops and joins a thread first */

enum snapshot_status { SNAPSHOT_NONE, SNAPSHOT_UNFINISHED, SNAPSHOT_FINISHED };

/* What the state directory holds: no snapshot, an unfinished one (start
 * resumes it), or a finished one. -1 with err when the file is damaged. */
int snapshot_status(const char *state_dir, enum snapshot_status *out, char *err, size_t errsz);

/* Removes the state file (to take a new snapshot after a finished one). */
int snapshot_forget(const char *state_dir, char *err, size_t errsz);

/* Opens the consistent snapshot and settles the handover: a new snapshot,
 * or the unfinished one of the state directory resumed (the handover stays
 * the first snapshot's position; the rest is read at a new one), and writes
 * the state. Returns 1 when there are rows to read, 0 when the state
 * directory holds a finished snapshot (then nothing is read, but
 * snapshot_filter still knows its segments: a stream resumed inside the
 * window needs them), -1 with err. */
int snapshot_begin(struct snapshot *s, char *err, size_t errsz);

/* Where the stream must start: the first snapshot's position. Valid after
 * snapshot_begin. */
const struct position *snapshot_handover(const struct snapshot *s);

/* Reads every remaining chunk in this thread and hands the events to emit.
 * Returns 0 when all was read, -1 with err (after snapshot_stop: "stopped"). */
int snapshot_run(struct snapshot *s, char *err, size_t errsz);

/* Runs snapshot_run in a thread of its own, its events pushed into the
 * source's queue (unless opts.emit is set), then starts the source
 * (source_start) so that the stream follows in the same queue: the consumer
 * reads one queue, snapshot first. src must be made with start = FILE:OFFSET
 * of snapshot_handover and not be started. If the snapshot or the start of
 * the source fails, the queue is closed and snapshot_error says why. */
int snapshot_start(struct snapshot *s, struct source *src, char *err, size_t errsz);

/* Why the thread failed, or NULL. Valid once the queue has ended. */
const char *snapshot_error(struct snapshot *s);

/* The cause of the last failure as a code, for a caller that acts on it
 * (never on the words of the message): after snapshot_begin or
 * snapshot_run returned -1, or once the queue has ended with
 * snapshot_error set. BH_E_PURGED: the stream could not start at the
 * handover because the server no longer has its binlog (a new snapshot is
 * needed; a purge the stream meets once it runs is the source's to
 * report); BH_E_ACCESS: the server refused the user or a privilege;
 * BH_E_CONNECT: the server could not be reached or the connection was
 * lost; BH_E_OTHER: anything else. BH_E_NONE before any failure and after
 * snapshot_stop. */
enum bh_errc snapshot_errc(struct snapshot *s);

/* 1 until every row has been emitted (also after a failure or a stop). */
int snapshot_unfinished(struct snapshot *s);

/* Asks snapshot_run (or the thread) to stop, from any thread: a blocked push
 * or read is woken. snapshot_join then waits for the thread; call both
 * before source_stop on the source it was given. */
void snapshot_stop(struct snapshot *s);
void snapshot_join(struct snapshot *s);

/* 1 when e is a snapshot's chunk marker, with its number in *seq. A marker
 * is an EVENT_HEARTBEAT at the handover position that never moves a
 * checkpoint (xa_held is set); consumers that do not know it can ignore it. */
int snapshot_marker(const struct change *e, uint64_t *seq);

/* Everything emitted up to marker seq is durable: writes the state as it was
 * there (fsync; not for an event loop's thread). Thread-safe. Without a
 * state directory it does nothing. */
int snapshot_commit(struct snapshot *s, uint64_t seq, char *err, size_t errsz);

/* Rows committed so far (the next ordinal after the last commit). */
uint64_t snapshot_committed_rows(struct snapshot *s);

/* For each event of the stream, from the consumer's thread, in order: 1 to
 * apply it (possibly changed: an UPDATE whose old and new keys fall on
 * different sides of a resume becomes the DELETE or the INSERT that counts),
 * 0 to drop it (the caller frees it). Events outside the snapshot's tables
 * and every event once the stream is past the last snapshot's position are
 * kept. May query the server (see above). */
int snapshot_filter(struct snapshot *s, struct change *e);

/* The progress now (for /metrics and status): a copy in *out whose tables
 * array the caller frees. Thread-safe. */
void snapshot_progress_get(struct snapshot *s, struct snapshot_progress *out);

#endif
