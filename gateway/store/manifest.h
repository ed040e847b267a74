/* manifest.h - the retry queue's account of itself (queue/MANIFEST): which
 * segments it holds and how long each is, which deliveries wait in them
 * with the binlog position and GTID of their change, and the low-water
 * mark: the oldest binlog position any of them (or any delivery written
 * after the manifest) depends on. retryq.c writes it; at open it compares
 * the segments on disk with it, so that a missing or shortened segment is
 * found, and names the deliveries that damage took (those listed that no
 * record holds any more).
 *
 * The file is one versioned, CRC-checked body, replaced whole
 * (state_write_file). Ownership: a struct manifest owns its arrays and
 * strings (manifest_free); manifest_load fills a caller's struct. */
#ifndef BH_MANIFEST_H
#define BH_MANIFEST_H

#include "event/change.h"
#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_NAME "MANIFEST"

struct manifest_seg {
  uint64_t no;   /* the segment's number (its file name) */
  uint64_t size; /* its length in bytes when the manifest was written */
};

/* A delivery in the queue when the manifest was written. */
struct manifest_entry {
  uint64_t seq, segno; /* its queue number; the segment of its ADD record */
  int dead;            /* a dead letter then */
  char *endpoint, *rule, *id;
  char *binlog;        /* the binlog file of its change, NULL when none (a snapshot row, an old record) */
  uint64_t binlog_pos; /* where the change's transaction starts */
  char *gtid;          /* the change's GTID, or NULL */
};

struct manifest {
  int clean;          /* written at a stop: nothing was appended after it */
  uint64_t next_seq;
  int has_low;        /* low is known */
  struct position low;
  struct manifest_seg *segs; /* oldest first */
  size_t nsegs;
  struct manifest_entry *ents; /* in seq order */
  size_t nents;
};

/* Appends m, ready for state_write_file. */
void manifest_encode(const struct manifest *m, struct buf *out);

/* Reads dir/MANIFEST into *m: 1, 0 when there is none, -1 with err when
 * it is damaged or of a newer format (*m is then empty). */
int manifest_load(const char *dir, struct manifest *m, char *err, size_t errsz);

/* The listed segment no, or NULL. */
const struct manifest_seg *manifest_seg(const struct manifest *m, uint64_t no);

/* Frees what m owns and empties it. */
void manifest_free(struct manifest *m);
void manifest_entry_free(struct manifest_entry *e);

#endif
