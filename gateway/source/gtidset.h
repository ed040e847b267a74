/* gtidset.h - MySQL GTID sets: "uuid:1-10:12,uuid2:tag:5" as text, and the
 * binary encoding that COM_BINLOG_DUMP_GTID carries (MySQL's
 * Gtid_set::encode: untagged, or the tagged format of MySQL 8.4+ when any
 * interval has a tag). A struct gtidset owns its arrays; gtidset_free. */
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

void gtidset_free(struct gtidset *set);

#endif
