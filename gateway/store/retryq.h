/* retryq.h - the on-disk retry queue and the dead letters: deliveries that
 * were not acknowledged at once, kept across crashes and restarts.
 *
 * Layout: append-only segment files (NNNNNNNNNNNNNNNN.seg) in one
 * directory. Every change of state is a record appended to the newest
 * segment: ADD (a delivery, with its metadata and its request as an opaque
 * payload), ATTEMPT (attempts made, next one due), DEAD (moved to the dead
 * letters, with why), REVIVE (back from the dead letters) and DONE
 * (finished: acknowledged, dropped or given up). A record is a header
 * (magic, length, CRC-32 of the body and of where the record sits: a record
 * inside another's payload is never taken for a real one) and a body, so that a torn or
 * damaged write is detected when the queue is opened again: the tail of a
 * segment after the last good record is cut off, and damage in the middle
 * is skipped up to the next good record; both are counted and reported.
 *
 * Accounting: every segment opens with a mark holding the next seq and the
 * number of the segment before it (a gap in that chain is a missing
 * segment), and the manifest (manifest.h) lists the segments with their
 * lengths and every delivery with the binlog position and GTID of its
 * change, and keeps the low-water mark. Opening compares the segments with
 * it: a missing or shortened segment, damaged records, and the deliveries
 * that were lost with them are reported (retryq_damage), never silent.
 * The manifest is written again when segments are added or deleted and at
 * retryq_close; after damage it is kept as it was until retryq_healed, so
 * that the lost deliveries stay named until the caller has dealt with them.
 *
 * Format: the ADD record carries a versioned extension after its payload
 * (the change's binlog file, position and GTID) and the segment mark one
 * after the seq: readers of the older format skip both, and records of the
 * older format open as deliveries without a position.
 *
 * Writing: retryq_add and the others only encode the record into memory and
 * return at once; a writer thread appends what has accumulated and fsyncs
 * it in one go (group commit), then makes retryq_fd readable. A record is
 * durable when retryq_durable reaches the ticket its call returned. Write
 * errors (a full disk, EIO) keep the records in memory and are retried
 * every second; retryq_error says what failed meanwhile. Nothing is dropped.
 *
 * Compaction: a segment is deleted once it and every older one hold no
 * live delivery; the oldest segment, when mostly finished or when the old
 * segments hold more finished records than live ones, has its live records
 * copied forward (the copies are durable before it is deleted).
 * So a DONE record never outlives the ADD it finishes. Every segment opens
 * with the next seq at its creation, so seqs are never given twice.
 *
 * The checkpoint goes through the writer too (retryq_set_checkpoint): it is
 * saved after the records submitted before it are durable.
 *
 * Threads: all calls but retryq_open/retryq_close come from one thread (the
 * event loop's); the writer thread is internal. */
#ifndef BH_RETRYQ_H
#define BH_RETRYQ_H

#include "store/manifest.h"
#include "store/state.h"

#include <stddef.h>
#include <stdint.h>

/* One delivery as stored. Strings are NUL-terminated; okey and payload are
 * byte strings with lengths. */
struct retryq_rec {
  uint64_t seq;     /* given by retryq_add; increasing, never reused */
  char *endpoint;   /* the endpoint's name */
  char *rule;       /* the rule's name */
  char *id;         /* the webhook-id */
  char *okey;       /* the ordering key, or NULL */
  size_t okeylen;
  int64_t created;  /* when the delivery was made (seconds since the epoch) */
  uint32_t attempts; /* attempts made so far */
  int64_t due;      /* when the next attempt is due */
  int dead;         /* in the dead letters */
  int64_t dead_at;
  char *reason;     /* why it is dead, or NULL */
  char *payload;    /* the request, encoded by the caller (request_encode) */
  size_t payloadlen;
  char *binlog;     /* the binlog file of the change it was made from, or NULL (a snapshot row, an old record) */
  uint64_t binlog_pos; /* where that change's transaction starts: reading again from here makes it again */
  char *gtid;       /* the change's GTID, or NULL */
};

void retryq_rec_free(struct retryq_rec *r); /* frees the fields, not r */

struct retryq_opts {
  uint64_t max_bytes;     /* retryq_full beyond this many bytes on disk and pending; 0: no bound */
  uint64_t segment_bytes; /* a new segment after this many bytes; 0: 64 MiB */
  struct state *state;    /* for retryq_set_checkpoint; may be NULL */
};

/* What opening found. */
struct retryq_report {
  size_t segments;         /* segment files read */
  size_t live, dead;       /* deliveries waiting, dead letters */
  size_t bad_records;      /* damaged records skipped */
  uint64_t bad_bytes;      /* bytes skipped or cut off */
  uint64_t bytes;          /* segment bytes on disk */
  size_t missing_segments; /* listed or chained but not on disk */
  size_t short_segments;   /* shorter than the manifest says */
  size_t lost;             /* deliveries named in the manifest that no record holds any more */
};

/* What opening found damaged, beyond the counts of the report. */
struct retryq_damage {
  char **what;             /* one sentence each, for the log */
  size_t nwhat;
  struct manifest_entry *lost; /* the deliveries lost with it, in seq order */
  size_t nlost;
  int unnamed;             /* some damage lies where the manifest names nothing: deliveries may be lost that
                              cannot be named */
  int has_low;             /* low is known */
  struct position low;     /* the oldest binlog position a delivery of the damaged queue depends on */
};

struct retryq;

/* Opens (creating) the queue in dir, reads every segment, repairs torn or
 * damaged tails (cutting them off) and starts the writer thread. With
 * readonly, nothing is repaired and no writer is started (retryq_list and
 * retryq_read work; the writing calls must not be used). report may be
 * NULL. Returns NULL with err. */
struct retryq *retryq_open(const char *dir, const struct retryq_opts *o, int readonly, struct retryq_report *report,
                         char *err, size_t errsz);

struct dbstore;

/* The queue in a database ([state] store, store/dbstore.h): a row a
 * delivery, written by the writer thread in fenced transactions (with the
 * checkpoint, which goes into the same commit as the rows it depends on).
 * The calls are the same; there are no segments, no manifest and no
 * damage to heal (the database keeps what it committed). A write refused
 * because another binhook took the lease stops the writer for good:
 * retryq_error says so and retryq_fenced is 1. */
struct retryq *retryq_open_db(struct dbstore *db, const struct retryq_opts *o, int readonly,
                              struct retryq_report *report, char *err, size_t errsz);
/* 1 after a write was refused for the lease (a queue in a database). */
int retryq_fenced(struct retryq *q);

/* Writes what is pending (waiting up to timeout seconds while writes fail),
 * stops the writer and frees q. Returns 0, or -1 with err when records
 * could not be written (they are lost from this run; the checkpoint was
 * not moved past them). */
int retryq_close(struct retryq *q, double timeout, char *err, size_t errsz);

/* What opening found damaged, owned by q (valid until retryq_close); NULL
 * when nothing was. */
const struct retryq_damage *retryq_damage(const struct retryq *q);

/* The caller has dealt with the damage (made the lost deliveries again or
 * wrote them as dead letters, durably): the manifest is written anew. */
void retryq_healed(struct retryq *q);

/* Calls fn for every delivery in the queue (waiting and dead), in seq
 * order, with a record owned by the queue (valid during the call; payload
 * not loaded: use retryq_read). Stops when fn returns non-zero. */
void retryq_list(struct retryq *q, int (*fn)(void *arg, const struct retryq_rec *r), void *arg);

/* The same for those of seqs that are still in the queue, in the order
 * given (fn may call back into the queue). */
void retryq_list_seqs(struct retryq *q, const uint64_t *seqs, size_t n, int (*fn)(void *arg, const struct retryq_rec *r),
                     void *arg);

/* Reads the whole record of seq (payload included) into *out (caller frees
 * with retryq_rec_free). Returns 0, or -1 with err (unknown seq, I/O error,
 * damaged record), or -2 with err when a queue in a database cannot be
 * read now (its server cannot be reached: try again later). Records not
 * yet written are read from memory. */
int retryq_read(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz);

/* The writing calls return a ticket: the record is durable once
 * retryq_durable(q) >= ticket. */

/* Adds a delivery; r->seq is set. Its fields are copied. */
uint64_t retryq_add(struct retryq *q, struct retryq_rec *r);
/* Records that attempts were made and when the next is due. */
uint64_t retryq_attempt(struct retryq *q, uint64_t seq, uint32_t attempts, int64_t due);
/* Moves seq to the dead letters. */
uint64_t retryq_dead(struct retryq *q, uint64_t seq, int64_t at, const char *reason);
/* Takes seq out of the dead letters, due at `due` with attempts reset. */
uint64_t retryq_revive(struct retryq *q, uint64_t seq, int64_t due);
/* Finishes seq (delivered, dropped). */
uint64_t retryq_done(struct retryq *q, uint64_t seq);

/* The highest durable ticket. */
uint64_t retryq_durable(struct retryq *q);

/* Asks the writer to save cp once everything submitted so far is durable. */
void retryq_set_checkpoint(struct retryq *q, const struct checkpoint *cp);

/* The position of the last checkpoint saved (durable), into *pos: 1, or 0
 * when none was saved yet. What a PostgreSQL source may confirm to its
 * slot (source_confirm). */
int retryq_saved_position(struct retryq *q, struct position *pos);

/* Asks the writer to save the endpoints' state (state_endpoints_save). */
void retryq_set_endpoints(struct retryq *q, const char *text, size_t n);

/* Makes everything submitted so far durable now, waiting for it (up to
 * timeout seconds). Returns 0, or -1 with err. */
int retryq_sync(struct retryq *q, double timeout, char *err, size_t errsz);

/* Readable after the writer made records durable (or failed): the event
 * loop then calls retryq_durable and retryq_error; retryq_ack_fd drains it. */
int retryq_fd(struct retryq *q);
void retryq_ack_fd(struct retryq *q);

/* Why writing fails now (copied into err), or 0 when it works. */
int retryq_error(struct retryq *q, char *err, size_t errsz);

/* 1 while the bound of max_bytes is reached: the caller stops adding
 * (reading the binlog waits). */
int retryq_full(struct retryq *q);

struct retryq_stats {
  size_t live, dead;
  uint64_t bytes;      /* on disk */
  uint64_t pending;    /* encoded, not yet written */
  size_t segments;
};
void retryq_stats(struct retryq *q, struct retryq_stats *st);

#endif
