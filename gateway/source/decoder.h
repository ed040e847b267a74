/* decoder.h - binlog events to canonical events. The decoder is fed whole
 * raw events (live from the replication stream or read from files), keeps
 * the state that spans events (the format description, the table-id map,
 * the open transaction, the position) and emits struct change objects through
 * a callback as soon as each row is decoded: rows stream, a transaction is
 * never held in memory whole.
 *
 * Errors name the position: "binlog.000001:1234: rows for table id 71, which
 * no TABLE_MAP defined". */
#ifndef BH_DECODER_H
#define BH_DECODER_H

#include "event/change.h"

#include <stddef.h>
#include <stdint.h>

struct decoder;

struct decoder_cb {
  void *ctx;
  /* Takes ownership of ev. Returns 0, or -1 to stop (decoder_feed then fails
   * with the message the callback left in err). */
  int (*emit)(void *ctx, struct change *ev, char *err, size_t errsz);
  /* Optional: called for a table whose TABLE_MAP carried no column names
   * (binlog_row_metadata=MINIMAL); may fill them with table_set_names. */
  void (*lookup_names)(void *ctx, struct table *t);
  /* Optional: something the user should know that does not stop the stream. */
  void (*warn)(void *ctx, const char *msg);
  /* Optional: an INCIDENT of LOST_EVENTS was read (after its warning). */
  void (*incident)(void *ctx);
};

struct decoder_opts {
  char *const *include; /* "schema.table" globs, NULL-terminated; NULL: every table */
  char *const *exclude; /* globs; NULL: none */
  int skip_checksum;    /* do not verify CRC32 checksums */
  uint32_t skip_changes; /* drop this many changes of the first transaction (resume mid-transaction) */
};

struct decoder *decoder_new(const struct decoder_opts *o, const struct decoder_cb *cb);
void decoder_free(struct decoder *d);

/* Names the file the next events come from (reading files, or the start of
 * a live stream before its ROTATE arrives). */
void decoder_set_file(struct decoder *d, const char *file);

/* Names the file and offset a live stream was requested from: the boundary
 * until the first transaction ends. */
void decoder_set_start(struct decoder *d, const char *file, uint64_t pos);

/* Feeds one whole event of n bytes. offset is where it starts in its file,
 * or -1 to take it from the event's own header. Returns 0 or -1 with err. */
int decoder_feed(struct decoder *d, const unsigned char *ev, size_t n, int64_t offset, char *err, size_t errsz);

/* The last transaction boundary: resuming at this file and position (or after
 * this GTID) repeats and misses nothing. */
const struct position *decoder_boundary(const struct decoder *d);
/* The full GTID state at the last boundary (gtidstate.h) as text: a new
 * reference, the caller unrefs; NULL while the stream has not told it
 * whole. COMMIT and HEARTBEAT events carry the same in gtid_state. */
struct rcstr *decoder_gtid_state(struct decoder *d);
/* Gives the decoder the GTID state at its start (a checkpoint's, the
 * stream's start GTIDs, or what the server said for the start position;
 * a previous decoder's after a reconnect). Returns 0 or -1 with err. */
int decoder_seed_gtid_state(struct decoder *d, const char *text, char *err, size_t errsz);

/* 1 while inside a transaction; then *tx_start gets its first event's offset
 * and *emitted the number of changes already emitted from it. */
int decoder_in_tx(const struct decoder *d, uint64_t *tx_start, uint32_t *emitted);
/* The current file name and the offset after the last event fed. */
const struct position *decoder_position(const struct decoder *d);

/* Statement classification, exposed for tests: control statements (BEGIN,
 * COMMIT, ...) return -1, others their kind. */
int decoder_classify_sql(const char *sql, size_t n);

/* 1 when "schema.table" passes the include/exclude globs. */
int decoder_table_selected(char *const *include, char *const *exclude, const char *schema, const char *table);

#endif
