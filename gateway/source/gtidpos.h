/* gtidpos.h - MariaDB GTID positions: the last transaction of every
 * replication domain, "0-1-1200,7-3-45" as @@gtid_binlog_pos writes it
 * (domain-server-sequence). It is what a stream has reached: resuming after
 * it repeats nothing and misses nothing in any domain.
 *
 * A struct gtidpos owns its array (gtidpos_free); its domains are kept
 * sorted by number, at most one entry each. */
#ifndef BH_GTIDPOS_H
#define BH_GTIDPOS_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

struct gtid_domain {
  uint32_t domain, server;
  uint64_t seq;
};

struct gtidpos {
  size_t n;
  struct gtid_domain *d;
};

/* Parses "D-S-N,D-S-N" (spaces around members allowed; "" is the empty
 * position) into pos (zeroed by the caller). A domain named twice keeps
 * its later entry, as MariaDB's own parser does. Returns 0 or -1 with
 * err. */
int gtidpos_parse(const char *text, struct gtidpos *pos, char *err, size_t errsz);

/* Appends "D-S-N,..." in domain order (nothing when empty). */
void gtidpos_format(const struct gtidpos *pos, struct buf *out);

/* One transaction was read: its domain's entry becomes it. */
void gtidpos_update(struct gtidpos *pos, uint32_t domain, uint32_t server, uint64_t seq);

/* Reads the body of a GTID_LIST event (a count whose low 28 bits count
 * the entries, then domain(4) server(4) seq(8) each, the newest of a
 * domain last) into pos (zeroed by the caller): the position before the
 * file it starts. Returns 0 or -1 with err. */
int gtidpos_decode_list(const unsigned char *p, size_t n, struct gtidpos *pos, char *err, size_t errsz);

/* Every domain of src that dst lacks, or holds at a lower sequence number,
 * takes src's entry. */
void gtidpos_merge(struct gtidpos *dst, const struct gtidpos *src);

/* 1 when a has reached b: every domain of b is in a at the same or a
 * higher sequence number. */
int gtidpos_contains(const struct gtidpos *a, const struct gtidpos *b);

/* Sets out (zeroed by the caller) to the entries of a that b has not
 * reached: its domains b lacks or holds at a lower sequence number. */
void gtidpos_missing(const struct gtidpos *a, const struct gtidpos *b, struct gtidpos *out);

/* The entry of domain, or NULL. */
const struct gtid_domain *gtidpos_get(const struct gtidpos *pos, uint32_t domain);

void gtidpos_free(struct gtidpos *pos);

#endif
