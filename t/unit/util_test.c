/* util_test.c - the shared helpers of gateway/util/ that have no unit test
 * of their own: the typo suggester behind every "did you mean" message
 * (util.h) and the length-prefixed field codec of the stored requests and
 * the retry queue (lpcodec.h). */
#include "util/lpcodec.h"
#include "util/util.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {"table", "when", "secret", "endpoints", "update", NULL};

static const char *near_within(const char *word, size_t max_edits, int fold_case)
{
  return bh_nearest_within(word, strlen(word), keys, max_edits, fold_case);
}

static void test_nearest(void)
{
  /* bh_nearest: 1 edit up to 3 characters, 2 up to 6, 3 beyond */
  is_str(bh_nearest("tabel", keys), "table", "a transposition is one edit");
  is_str(bh_nearest("whne", keys), "when", "a transposition in a short word");
  is_str(bh_nearest("TABLE", keys), "table", "case is ignored");
  is_str(bh_nearest("wen", keys), "when", "3 characters: one edit is enough");
  is_str(bh_nearest("wn", keys), NULL, "3 characters or fewer: two edits are too many");
  is_str(bh_nearest("sxcrxt", keys), "secret", "up to 6 characters: two edits");
  is_str(bh_nearest("sxxrxt", keys), NULL, "up to 6 characters: three edits are too many");
  is_str(bh_nearest("enxxoixts", keys), "endpoints", "beyond 6 characters: three edits");
  is_str(bh_nearest("enxxoixxs", keys), NULL, "beyond 6 characters: four edits are too many");
  is_str(bh_nearest("xyzzy", keys), NULL, "nothing close: NULL");
  is_str(bh_nearest("", (const char *const[]){NULL}), NULL, "an empty list: NULL");

  /* bh_nearest_within: the threshold and the case are the caller's */
  is_str(near_within("tabel", 1, 0), "table", "within 1: a transposition");
  is_str(near_within("tble", 1, 0), "table", "within 1: a deletion");
  is_str(near_within("tbe", 1, 0), NULL, "within 1: two deletions are too many");
  is_str(near_within("tbe", 2, 0), "table", "within 2: two deletions");
  is_str(near_within("TABLE", 1, 0), NULL, "case counts without fold_case");
  is_str(near_within("TABLE", 0, 1), "table", "with fold_case, within 0: only case differs");
  is_str(near_within("table", 0, 0), "table", "within 0: the word itself");
  is_str(near_within("TaLbe", 1, 1), "table",
         "with fold_case, a transposition that differs in case is one edit");
  is_str(bh_nearest_within("tablexyz", 5, keys, 0, 0), "table", "n bytes of word, not its NUL");
  is_str(bh_nearest_within("abc", 3, (const char *const[]){"abd", "abe", NULL}, 1, 0), "abd",
         "of equally close words the first wins");
  char longw[40];
  memset(longw, 'a', 33);
  longw[33] = 0;
  const char *const longk[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 33 */, NULL};
  is_str(bh_nearest_within(longw, 33, longk, 3, 0), NULL, "words beyond 32 bytes have no near word");
  is_str(bh_nearest_within(longw, 32, (const char *const[]){"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", NULL}, 1, 0),
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "32 bytes are still compared");
}

/* The bytes of b as hex, for comparing layouts. */
static char *hex_of(const struct buf *b)
{
  static char out[512];
  size_t o = 0;
  for (size_t i = 0; i < b->len && o + 3 < sizeof out; i++)
    o += (size_t)snprintf(out + o, sizeof out - o, "%02x", (unsigned char)b->p[i]);
  out[o] = 0;
  return out;
}

static void test_codec_layout(void)
{
  struct buf b = BUF_INIT;
  lp_put_u32(&b, 0x01020304u);
  is_str(hex_of(&b), "04030201", "u32: little-endian");
  buf_reset(&b);
  lp_put_u64(&b, 0x0102030405060708ull);
  is_str(hex_of(&b), "0807060504030201", "u64: little-endian");
  buf_reset(&b);
  lp_put_bytes(&b, "ab", 2);
  is_str(hex_of(&b), "020000006162", "a field: its u32 length, then its bytes");
  buf_reset(&b);
  lp_put_bytes(&b, NULL, 0);
  is_str(hex_of(&b), "00000000", "an empty field from NULL: length 0, no bytes");
  buf_reset(&b);
  lp_put_field(&b, NULL, 0);
  is_str(hex_of(&b), "ffffffff", "an absent field: the length LP_ABSENT, no bytes");
  buf_reset(&b);
  lp_put_str(&b, NULL);
  lp_put_str(&b, "");
  lp_put_str(&b, "x");
  is_str(hex_of(&b),
         "ffffffff0000000001000000"
         "78",
         "strings: NULL absent, \"\" empty, \"x\"");
  buf_free(&b);
}

static void test_codec_round_trip(void)
{
  struct buf b = BUF_INIT;
  const char bin[] = {'a', 0, 'b'};
  lp_put_u32(&b, 7);
  lp_put_bytes(&b, bin, sizeof bin);
  lp_put_bytes(&b, "", 0);
  lp_put_str(&b, NULL);
  lp_put_u64(&b, UINT64_MAX);
  lp_put_str(&b, "last");
  buf_addc(&b, (char)0xab);

  struct lp_reader rd;
  size_t n = 99;
  lp_reader_init(&rd, b.p, b.len);
  is_int(lp_get_u32(&rd), 7, "round trip: a u32");
  char *f = lp_get_field(&rd, &n);
  ok(f && n == 3 && !memcmp(f, bin, 3) && f[3] == 0, "round trip: bytes with a NUL inside, NUL-terminated");
  free(f);
  n = 99;
  f = lp_get_field(&rd, &n);
  ok(f && n == 0 && f[0] == 0, "round trip: a zero-length field is an empty string, not NULL");
  free(f);
  n = 99;
  f = lp_get_field(&rd, &n);
  ok(!f && n == 0 && !rd.bad, "round trip: an absent field is NULL and not an error");
  ok(lp_get_u64(&rd) == UINT64_MAX, "round trip: a u64");
  f = lp_get_field(&rd, NULL);
  is_str(f, "last", "round trip: a string, len not wanted");
  free(f);
  is_int(lp_get_u8(&rd), 0xab, "round trip: a byte");
  ok(rd.p == rd.end && !rd.bad, "round trip: every byte read, no error");
  is_int(lp_get_u8(&rd), 0, "past the end: 0");
  ok(rd.bad, "past the end: the reader is bad");
  buf_free(&b);
}

static void test_codec_cut_short(void)
{
  struct buf b = BUF_INIT;
  struct lp_reader rd;
  size_t n = 99;
  lp_put_u32(&b, 5); /* says 5 bytes, holds 4 */
  buf_add(&b, "abcd", 4);
  lp_reader_init(&rd, b.p, b.len);
  ok(!lp_get_field(&rd, &n) && rd.bad && n == 0, "a length past the end is refused");
  lp_reader_init(&rd, b.p, b.len);
  ok(lp_get_u32(&rd) == 5 && !rd.bad, "the same bytes read as a u32: 5");

  buf_reset(&b);
  lp_put_u32(&b, 0xFFFFFFFEu); /* a huge length: no allocation, refused */
  lp_reader_init(&rd, b.p, b.len);
  ok(!lp_get_field(&rd, NULL) && rd.bad, "a huge length is refused");

  buf_reset(&b);
  buf_add(&b, "\x01\x00\x00", 3); /* a length cut short */
  lp_reader_init(&rd, b.p, b.len);
  ok(!lp_get_field(&rd, &n) && rd.bad, "a length cut short is refused");
  lp_reader_init(&rd, b.p, b.len);
  ok(lp_get_u64(&rd) == 0 && rd.bad, "a u64 cut short: 0 and bad");

  /* once bad, every later read fails, even where bytes are left */
  buf_reset(&b);
  lp_put_u32(&b, 100);
  lp_put_str(&b, "ok");
  lp_reader_init(&rd, b.p, b.len);
  ok(!lp_get_field(&rd, NULL) && rd.bad, "a field longer than the rest: refused");
  ok(!lp_get_field(&rd, NULL) && lp_get_u32(&rd) == 0 && rd.bad, "after an error, later reads fail too");

  lp_reader_init(&rd, "", 0);
  ok(!lp_get_field(&rd, NULL) && rd.bad, "nothing to read: refused");
  buf_free(&b);
}

int main(void)
{
  test_nearest();
  test_codec_layout();
  test_codec_round_trip();
  test_codec_cut_short();
  return done_testing();
}
