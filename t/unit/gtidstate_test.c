/* gtidstate_test.c - the full GTID state a stream reaches, transaction by
 * transaction: MariaDB domain positions, and MySQL's executed set tracked
 * through binlog files (the shared ones that carry GTIDs, whose directory
 * is the first argument, and events built here) and compared after every
 * transaction with what the file says: the set before it (PREVIOUS_GTIDS,
 * GTID_LIST) plus the GTIDs read. */
#include "source/binfile.h"
#include "source/decoder.h"
#include "source/gtidpos.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* The state carried by each COMMIT event, in order ("-" for none). */
struct seen {
  struct buf states;
  int commits;
};

static int emit(void *ctx, struct change *e, char *err, size_t errsz)
{
  struct seen *s = ctx;
  (void)err, (void)errsz;
  if (e->type == EVENT_COMMIT) {
    buf_adds(&s->states, e->gtid_state ? e->gtid_state->s : "-");
    buf_addc(&s->states, '\n');
    s->commits++;
  }
  change_free(e);
  return 0;
}

static void quiet(void *ctx, const char *msg)
{
  (void)ctx, (void)msg;
}

static void check_file(const char *dir, const char *name, const char *want, const char *what)
{
  char path[4096], err[512];
  struct seen s = {BUF_INIT, 0};
  struct decoder_cb cb = {.ctx = &s, .emit = emit, .warn = quiet};
  struct decoder *d = decoder_new(NULL, &cb);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = binfile_read(path, d, err, sizeof err);
  if (!ok(rc == 0, name)) diag("%s", err);
  is_str(s.states.p ? s.states.p : "", want, what);
  decoder_free(d);
  buf_free(&s.states);
}

/* ---- events built by hand ---- */

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* One event of type with body, at offset *at (moved past it). */
static int feed(struct decoder *d, unsigned type, uint32_t server, const unsigned char *body, size_t n, uint64_t *at)
{
  unsigned char ev[512];
  char err[256];
  size_t len = 19 + n;
  put_le(ev, 1700000000, 4);
  ev[4] = (unsigned char)type;
  put_le(ev + 5, server, 4);
  put_le(ev + 9, len, 4);
  put_le(ev + 13, *at + len, 4);
  put_le(ev + 17, 0, 2);
  memcpy(ev + 19, body, n);
  int rc = decoder_feed(d, ev, len, (int64_t)*at, err, sizeof err);
  if (rc) diag("%s", err);
  *at += len;
  return rc;
}

static int xid(struct decoder *d, uint64_t *at)
{
  unsigned char b[8] = {1};
  return feed(d, 16, 1, b, sizeof b, at);
}

static int mysql_gtid(struct decoder *d, const unsigned char *uuid, uint64_t gno, uint64_t *at)
{
  unsigned char b[42] = {0};
  memcpy(b + 1, uuid, 16);
  put_le(b + 17, gno, 8);
  return feed(d, 33, 1, b, sizeof b, at) || xid(d, at);
}

static int maria_gtid(struct decoder *d, uint32_t domain, uint32_t server, uint64_t seq, uint64_t *at)
{
  unsigned char b[13] = {0};
  put_le(b, seq, 8);
  put_le(b + 8, domain, 4);
  return feed(d, 162, server, b, sizeof b, at) || xid(d, at);
}

static void mysql_stream(void)
{
  static const unsigned char ua[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                       0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
  static const unsigned char ub[16] = {[15] = 1};
  struct seen s = {BUF_INIT, 0};
  struct decoder_cb cb = {.ctx = &s, .emit = emit, .warn = quiet};
  struct decoder *d = decoder_new(NULL, &cb);
  decoder_set_file(d, "mysql-bin.000009");
  uint64_t at = 4;
  /* a transaction before the state is known carries none */
  ok(!mysql_gtid(d, ua, 3, &at), "a GTID before any state event");
  /* PREVIOUS_GTIDS: ua:1-2:5-6,ub:10, encoded as the server writes it */
  unsigned char prev[8 + 24 + 32 + 24 + 16], *p = prev;
  put_le(p, 2, 8), p += 8;
  memcpy(p, ub, 16), put_le(p + 16, 1, 8), p += 24;
  put_le(p, 10, 8), put_le(p + 8, 11, 8), p += 16;
  memcpy(p, ua, 16), put_le(p + 16, 2, 8), p += 24;
  put_le(p, 1, 8), put_le(p + 8, 3, 8), p += 16;
  put_le(p, 5, 8), put_le(p + 8, 7, 8), p += 16;
  ok(!feed(d, 35, 1, prev, (size_t)(p - prev), &at), "PREVIOUS_GTIDS with two uuids, one with a gap");
  struct rcstr *st = decoder_gtid_state(d);
  is_str(st ? st->s : NULL, "00000000-0000-0000-0000-000000000001:10,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5-6",
         "the state is the set before the file, with the transaction read before it (3) added");
  rcstr_unref(st);
  ok(!mysql_gtid(d, ua, 7, &at), "7");
  ok(!mysql_gtid(d, ub, 11, &at), "another uuid");
  ok(!mysql_gtid(d, ua, 4, &at), "4, which closes the gap");
  is_str(s.states.p,
         "-\n"
         "00000000-0000-0000-0000-000000000001:10,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5-7\n"
         "00000000-0000-0000-0000-000000000001:10-11,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5-7\n"
         "00000000-0000-0000-0000-000000000001:10-11,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7\n",
         "after each transaction: the set, kept as few intervals as it can be");
  unsigned char bad[8] = {9};
  ok(feed(d, 35, 1, bad, sizeof bad, &at) == -1, "a PREVIOUS_GTIDS that says more than it holds stops reading");
  decoder_free(d);
  buf_free(&s.states);
}

static void mariadb_stream(void)
{
  struct seen s = {BUF_INIT, 0};
  struct decoder_cb cb = {.ctx = &s, .emit = emit, .warn = quiet};
  struct decoder *d = decoder_new(NULL, &cb);
  char err[256];
  decoder_set_file(d, "mariadb-bin.000004");
  uint64_t at = 4;
  /* GTID_LIST: domain 0 at 0-1-1200 (after an older 0-2-1100), domain 7 at 7-3-45 */
  unsigned char list[4 + 3 * 16];
  put_le(list, 3, 4);
  put_le(list + 4, 0, 4), put_le(list + 8, 2, 4), put_le(list + 12, 1100, 8);
  put_le(list + 20, 0, 4), put_le(list + 24, 1, 4), put_le(list + 28, 1200, 8);
  put_le(list + 36, 7, 4), put_le(list + 40, 3, 4), put_le(list + 44, 45, 8);
  ok(!feed(d, 163, 1, list, sizeof list, &at), "GTID_LIST of two domains");
  /* two domains written alternately, as SET gtid_domain_id does */
  ok(!maria_gtid(d, 0, 1, 1201, &at), "domain 0");
  ok(!maria_gtid(d, 7, 3, 46, &at), "domain 7");
  ok(!maria_gtid(d, 0, 1, 1202, &at), "domain 0 again");
  ok(!maria_gtid(d, 9, 1, 1, &at), "a new domain");
  ok(!maria_gtid(d, 7, 4, 47, &at), "domain 7 from another server");
  is_str(s.states.p,
         "0-1-1201,7-3-45\n"
         "0-1-1201,7-3-46\n"
         "0-1-1202,7-3-46\n"
         "0-1-1202,7-3-46,9-1-1\n"
         "0-1-1202,7-4-47,9-1-1\n",
         "after each transaction: the last GTID of every domain");
  decoder_free(d);
  buf_free(&s.states);

  /* a stream that starts after the state event knows it only from a seed */
  memset(&s, 0, sizeof s);
  d = decoder_new(NULL, &cb);
  at = 1000;
  ok(!maria_gtid(d, 1, 1, 5, &at), "a GTID with no state before it");
  ok(decoder_seed_gtid_state(d, "0-1-10, 1-1-5", err, sizeof err) == 0, "a seed");
  ok(!maria_gtid(d, 0, 1, 11, &at), "then domain 0");
  is_str(s.states.p, "-\n0-1-11,1-1-5\n", "none before the seed, the seed's domains after it");
  ok(decoder_seed_gtid_state(d, "0-1", err, sizeof err) == -1, "a seed that does not read is refused");
  ok(strstr(err, "0-1") && strstr(err, "domain-server-sequence"), "saying what it should be");
  struct rcstr *st = decoder_gtid_state(d);
  is_str(st ? st->s : NULL, "0-1-11,1-1-5", "and changes nothing");
  rcstr_unref(st);
  decoder_free(d);
  buf_free(&s.states);
}

static void positions(void)
{
  struct gtidpos a = {0}, b = {0}, m = {0};
  char err[256];
  struct buf t = BUF_INIT;
  ok(!gtidpos_parse("7-3-45,0-1-1200", &a, err, sizeof err), "a MariaDB position of two domains");
  gtidpos_format(&a, &t);
  is_str(t.p, "0-1-1200,7-3-45", "printed in domain order");
  ok(!gtidpos_parse("0-1-1100,7-3-45", &b, err, sizeof err), "an older one");
  ok(gtidpos_contains(&a, &b), "is reached");
  ok(!gtidpos_contains(&b, &a), "the newer is not");
  gtidpos_missing(&a, &b, &m);
  buf_reset(&t);
  gtidpos_format(&m, &t);
  is_str(t.p, "0-1-1200", "what the older misses: one domain");
  gtidpos_free(&m);
  gtidpos_update(&b, 8, 1, 3);
  ok(!gtidpos_contains(&a, &b), "a domain the newer lacks is not reached");
  gtidpos_missing(&b, &a, &m);
  buf_reset(&t);
  gtidpos_format(&m, &t);
  is_str(t.p, "8-1-3", "and is what it misses");
  gtidpos_free(&m);
  gtidpos_free(&a);
  ok(gtidpos_parse("0-1-x", &a, err, sizeof err) == -1, "a bad sequence number");
  ok(gtidpos_parse("0-1-2;1-1-1", &a, err, sizeof err) == -1, "a bad separator");
  ok(gtidpos_parse("4294967296-1-2", &a, err, sizeof err) == -1, "a domain beyond 32 bits");
  gtidpos_free(&a);
  ok(!gtidpos_parse("", &a, err, sizeof err) && a.n == 0, "the empty position");
  unsigned char list[8] = {2, 0, 0, 0};
  ok(gtidpos_decode_list(list, sizeof list, &a, err, sizeof err) == -1, "a GTID_LIST that says more than it holds");
  gtidpos_free(&a);
  gtidpos_free(&b);
  buf_free(&t);
}

int main(int argc, char **argv)
{
  positions();
  mysql_stream();
  mariadb_stream();
  if (argc < 2) {
    diag("no binlog directory given: the shared files are not read");
    return done_testing();
  }
  /* What each file says, read independently of binhook from its raw events
   * (the PREVIOUS_GTIDS or GTID_LIST body and each GTID event's uuid and
   * number) and, for the MariaDB one, as mariadb-binlog prints it. */
  check_file(argv[1], "binlog_transaction_with_GTID.000001",
             "006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1\n"
             "006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1-2\n"
             "006c2cf2-b1ea-11e4-9057-8c705a3d3e78:1-3\n",
             "MySQL 5.6, empty PREVIOUS_GTIDS, three transactions");
  check_file(argv[1], "binlog_56_gtid_reserved_word.000001",
             "11111111-1111-1111-1111-111111111111:1\n"
             "11111111-1111-1111-1111-111111111111:1-2\n"
             "11111111-1111-1111-1111-111111111111:1-3\n"
             "11111111-1111-1111-1111-111111111111:1-4\n"
             "11111111-1111-1111-1111-111111111111:1-5\n"
             "11111111-1111-1111-1111-111111111111:1-6\n",
             "six transactions, DDL among them");
  check_file(argv[1], "mysql-enum-string-set.000001",
             "93e95066-a2f4-11ec-9b69-9657f0ae95e2:1\n"
             "93e95066-a2f4-11ec-9b69-9657f0ae95e2:1-2\n"
             "93e95066-a2f4-11ec-9b69-9657f0ae95e2:1-3\n"
             "93e95066-a2f4-11ec-9b69-9657f0ae95e2:1-4\n"
             "93e95066-a2f4-11ec-9b69-9657f0ae95e2:1-5\n",
             "MySQL 8, five transactions");
  check_file(argv[1], "binlog_transaction_with_GTID_TAG.000001",
             "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13,55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:1-3\n",
             "MySQL 9: a tagged PREVIOUS_GTIDS (uuid:1-13 and uuid:mytag:1-2), then the tagged GTID 3");
  check_file(argv[1], "json.binlog.000001", "\n\n\n\n\n\n\n\n",
             "anonymous GTIDs (two DDL, six transactions): the state is the empty PREVIOUS_GTIDS, known and empty");
  check_file(argv[1], "mariadb-bin.000001", "0-1-1\n0-1-2\n",
             "MariaDB: an empty GTID_LIST ('Gtid list []'), then GTID 0-1-1 and 0-1-2");
  return done_testing();
}
