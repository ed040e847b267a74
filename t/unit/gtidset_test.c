/* gtidset_test.c - MySQL GTID sets: parsing, text, and the binary encoding
 * carried by COM_BINLOG_DUMP_GTID, checked byte by byte against the layout
 * MySQL documents for Gtid_set::encode and the dump command. */
#include "source/gtidset.h"
#include "tap.h"

#include <string.h>

static void hex(const struct buf *b, char *out, size_t size)
{
  size_t o = 0;
  for (size_t i = 0; i < b->len && o + 3 < size; i++) o += (size_t)snprintf(out + o, size - o, "%02x", (unsigned char)b->p[i]);
  out[o] = 0;
}

int main(void)
{
  struct gtidset s = {0};
  char err[256], h[1024];
  struct buf b = BUF_INIT;

  ok(!gtidset_parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", &s, err, sizeof err), "one uuid, one interval");
  gtidset_format(&s, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "printed back in lower case");
  buf_reset(&b);
  gtidset_encode(&s, &b);
  hex(&b, h, sizeof h);
  is_str(h,
         "0100000000000000"                 /* one sid */
         "3e11fa4771ca11e19e33c80aa9429562" /* its UUID */
         "0100000000000000"                 /* one interval */
         "0100000000000000"                 /* from 1 */
         "0600000000000000",                /* to 6, exclusive */
         "untagged encoding");
  gtidset_free(&s);

  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:12,\n 00000000-0000-0000-0000-000000000001:7", &s,
                    err, sizeof err),
     "several uuids and intervals, with the newline SHOW BINARY LOG STATUS prints");
  buf_reset(&b);
  gtidset_format(&s, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:12,00000000-0000-0000-0000-000000000001:7", "text");
  is_int(s.n, 2, "two sids");
  is_int(s.sids[0].n, 2, "two intervals for the first");
  gtidset_free(&s);

  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:MyTag:3", &s, err, sizeof err), "a tagged GTID");
  buf_reset(&b);
  gtidset_format(&s, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:mytag:3", "tags are case-insensitive, printed lower case");
  buf_reset(&b);
  gtidset_encode(&s, &b);
  hex(&b, h, sizeof h);
  is_str(h,
         "0101000000000001"                 /* tagged format, one tsid */
         "3e11fa4771ca11e19e33c80aa9429562" /* UUID */
         "0a6d79746167"                     /* tag length 5 as varlen (5 << 1), "mytag" */
         "0100000000000000"
         "0300000000000000"
         "0400000000000000",
         "tagged encoding");
  gtidset_free(&s);

  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:5", &s, err, sizeof err), "a single transaction");
  buf_reset(&b);
  gtidset_dump_command(&s, 4242, "", 4, &b);
  hex(&b, h, sizeof h);
  is_str(h,
         "0400"             /* flags: BINLOG_THROUGH_GTID */
         "92100000"         /* server id 4242 */
         "00000000"         /* no file name */
         "0400000000000000" /* position 4 */
         "30000000"         /* 48 bytes of set */
         "0100000000000000"
         "3e11fa4771ca11e19e33c80aa9429562"
         "0100000000000000"
         "0500000000000000"
         "0600000000000000",
         "COM_BINLOG_DUMP_GTID arguments");
  gtidset_free(&s);

  /* A multi-UUID, multi-interval set, as a resume after a failover asks
   * for it. The expected bytes are written out from the documented layout:
   * flags(2) server_id(4) name_len(4) name pos(8) data_size(4), then the
   * set: n_sids(8), per sid uuid(16) n_intervals(8) and [start(8) end(8)]
   * per interval, end exclusive, all little-endian. */
  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:10-12,"
                    "00000000-0000-0000-0000-000000000001:1-100",
                    &s, err, sizeof err),
     "a set of two uuids with three and one intervals");
  buf_reset(&b);
  gtidset_dump_command(&s, 7, "mysql-bin.000003", 4, &b);
  hex(&b, h, sizeof h);
  is_str(h,
         "0400"                             /* flags: BINLOG_THROUGH_GTID */
         "07000000"                         /* server id 7 */
         "10000000"                         /* name of 16 bytes */
         "6d7973716c2d62696e2e303030303033" /* "mysql-bin.000003" */
         "0400000000000000"                 /* position 4 */
         "78000000"                         /* 8 + (16 + 8 + 3 * 16) + (16 + 8 + 16) = 120 bytes of set */
         "0200000000000000"                 /* two sids, in the order given */
         "3e11fa4771ca11e19e33c80aa9429562"
         "0300000000000000"                 /* three intervals */
         "0100000000000000" "0600000000000000" /* 1-5 */
         "0700000000000000" "0800000000000000" /* 7 */
         "0a00000000000000" "0d00000000000000" /* 10-12 */
         "00000000000000000000000000000001"
         "0100000000000000"
         "0100000000000000" "6500000000000000", /* 1-100 */
         "COM_BINLOG_DUMP_GTID arguments for a multi-interval set, byte by byte");
  struct gtidset back = {0};
  buf_reset(&b);
  gtidset_encode(&s, &b);
  ok(!gtidset_decode((const unsigned char *)b.p, b.len, &back, err, sizeof err), "the encoding decodes");
  buf_reset(&b);
  gtidset_format(&back, &b);
  is_str(b.p, "00000000-0000-0000-0000-000000000001:1-100,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:10-12",
         "back as the same set, sorted by uuid as MySQL prints it");
  gtidset_free(&back);
  ok(gtidset_decode((const unsigned char *)b.p, 20, &back, err, sizeof err) == -1, "a cut encoding is refused");
  gtidset_free(&back);
  buf_reset(&b);
  gtidset_encode(&s, &b);
  ok(gtidset_decode((const unsigned char *)b.p, b.len - 1, &back, err, sizeof err) == -1,
     "one byte short is refused too");
  ok(strstr(err, "cut short") != NULL, "as cut short");
  gtidset_free(&back);
  gtidset_free(&s);

  /* Set arithmetic on normal sets. */
  struct gtidset a = {0}, c = {0}, d = {0};
  const unsigned char u1[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5:9-10", &a, err, sizeof err), "a set with gaps");
  gtidset_normalize(&a);
  gtidset_add(&a, u1, "", 4);
  buf_reset(&b);
  gtidset_format(&a, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:9-10", "adding 4 joins 1-3 and 5 into one interval");
  gtidset_add(&a, u1, "", 4);
  gtidset_add(&a, u1, "", 11);
  gtidset_add(&a, u1, "", 7);
  gtidset_add(&a, u1, "t1", 1);
  buf_reset(&b);
  gtidset_format(&a, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:9-11,3e11fa47-71ca-11e1-9e33-c80aa9429562:t1:1",
         "a repeat changes nothing, 11 extends 9-10, 7 stands alone, a tag is its own sid");
  gtidset_add(&a, u1, "", 6);
  gtidset_add(&a, u1, "", 8);
  buf_reset(&b);
  gtidset_format(&a, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-11,3e11fa47-71ca-11e1-9e33-c80aa9429562:t1:1",
         "filling the gaps leaves one interval");
  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:2-4:11", &c, err, sizeof err), "a subset");
  gtidset_normalize(&c);
  ok(gtidset_contains(&a, &c), "is contained");
  ok(!gtidset_contains(&c, &a), "the larger set is not in the smaller");
  gtidset_subtract(&a, &c, &d);
  buf_reset(&b);
  gtidset_format(&d, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1:5-10,3e11fa47-71ca-11e1-9e33-c80aa9429562:t1:1",
         "what the subset misses");
  gtidset_free(&d);
  gtidset_subtract(&c, &a, &d);
  is_int(d.n, 0, "the subset has nothing the set misses");
  gtidset_free(&d);
  gtidset_free(&c);
  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:12,00000000-0000-0000-0000-000000000001:1", &c, err,
                    sizeof err),
     "a set with a transaction beyond and another uuid");
  gtidset_normalize(&c);
  ok(!gtidset_contains(&a, &c), "is not contained");
  gtidset_union(&c, &a);
  ok(gtidset_contains(&c, &a), "the union contains the set");
  buf_reset(&b);
  gtidset_format(&c, &b);
  is_str(b.p,
         "00000000-0000-0000-0000-000000000001:1,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-12,"
         "3e11fa47-71ca-11e1-9e33-c80aa9429562:t1:1",
         "and 12 joined 1-11");
  ok(!gtidset_equal(&a, &c), "they differ");
  gtidset_free(&d);
  gtidset_subtract(&c, &a, &d);
  gtidset_union(&d, &a);
  ok(gtidset_equal(&d, &c), "(c - a) + a = c");
  gtidset_free(&a);
  gtidset_free(&c);
  gtidset_free(&d);
  ok(!gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:10-12:1-3:4,3e11fa47-71ca-11e1-9e33-c80aa9429562:5-6",
                    &a, err, sizeof err),
     "a set written out of order");
  gtidset_normalize(&a);
  buf_reset(&b);
  gtidset_format(&a, &b);
  is_str(b.p, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6:10-12", "normalized: sorted, merged, one sid");
  gtidset_free(&a);
  ok(gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775807", &s, err, sizeof err) == -1,
     "a transaction number at MySQL's end is refused");
  gtidset_free(&s);

  ok(gtidset_parse("not-a-uuid:1", &s, err, sizeof err) == -1, "a bad uuid is refused");
  ok(strstr(err, "uuid:N") != NULL, "and the message shows the form");
  gtidset_free(&s);
  ok(gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:5-2", &s, err, sizeof err) == -1, "a reversed interval");
  ok(strstr(err, "5-2") != NULL, "names the interval");
  gtidset_free(&s);
  ok(gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag", &s, err, sizeof err) == -1, "a tag without numbers");
  gtidset_free(&s);
  ok(gtidset_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:0", &s, err, sizeof err) == -1, "transaction 0");
  gtidset_free(&s);
  buf_free(&b);
  return done_testing();
}
