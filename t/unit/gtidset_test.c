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
