/* gtidset.h - MySQL GTID sets: "uuid:1-10:12,uuid2:tag:5" as text, and the
 * binary encoding that COM_BINLOG_DUMP_GTID and PREVIOUS_GTIDS carry
 * (MySQL's Gtid_set::encode: untagged, or the tagged format of MySQL 8.4+
 * when any interval has a tag). The set arithmetic a stream's executed set
 * needs: one transaction added, containment, the part missing.
 *
 * A struct gtidset owns its arrays (gtidset_free). A set is "normal" when its
 * sids are sorted by UUID then tag and each sid's intervals are ascending,
 * disjoint and not adjacent: MySQL's own form, so that its text equals what
 * the server prints. gtidset_normalize makes one; gtidset_add, _union and
 * _subtract keep a normal set normal. */
#ifndef BH_GTIDSET_H
#define BH_GTIDSET_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

struct gtid_interval {
  uint64_t start, end; /* inclusive, as written; encoded as [start, end + 1) */
};

struct gtid_tsid {
  unsigned char uuid[16];
  char tag[33]; /* "" when untagged; MySQL tags are at most 32 characters */
  size_t n;
  struct gtid_interval *iv;
};

struct gtidset {
  size_t n;
  struct gtid_tsid *sids;
};

/* Parses text into set (zeroed by the caller). Whitespace and newlines
 * between members are allowed, as SHOW BINARY LOG STATUS prints them.
 * Returns 0 or -1 with err. */
int gtidset_parse(const char *text, struct gtidset *set, char *err, size_t errsz);

/* Appends the canonical text (sorted as given, intervals as "a-b" or "a"). */
void gtidset_format(const struct gtidset *set, struct buf *out);

/* Appends the binary encoding of set. */
void gtidset_encode(const struct gtidset *set, struct buf *out);

/* Appends the COM_BINLOG_DUMP_GTID arguments (after the command byte):
 * flags, server_id, file name, position, and the encoded set. */
void gtidset_dump_command(const struct gtidset *set, uint32_t server_id, const char *file, uint64_t pos,
                          struct buf *out);

/* Reads the binary encoding (PREVIOUS_GTIDS' body, both formats) into set
 * (zeroed by the caller), normalized. Returns 0 or -1 with err. */
int gtidset_decode(const unsigned char *p, size_t n, struct gtidset *set, char *err, size_t errsz);

/* Sorts and merges set into its normal form (see above). */
void gtidset_normalize(struct gtidset *set);

/* Adds transaction gno (>= 1) of uuid with tag ("" untagged) to a normal
 * set, merging it with the intervals it touches. */
void gtidset_add(struct gtidset *set, const unsigned char uuid[16], const char *tag, uint64_t gno);

/* Adds every transaction of src to dst (both normal). */
void gtidset_union(struct gtidset *dst, const struct gtidset *src);

/* 1 when every transaction of b is in a (both normal), else 0. */
int gtidset_contains(const struct gtidset *a, const struct gtidset *b);

/* Sets out (zeroed by the caller) to the transactions of a that are not in
 * b (both normal): what a has that b misses. */
void gtidset_subtract(const struct gtidset *a, const struct gtidset *b, struct gtidset *out);

/* 1 when the sets hold the same transactions (both normal). */
int gtidset_equal(const struct gtidset *a, const struct gtidset *b);

void gtidset_free(struct gtidset *set);

#endif
