/* jsonb_test.c - MySQL binary JSON to text, and partial JSON diffs. The
 * binary values are built here by a small encoder written from the format's
 * description (type byte; small containers with 2-byte counts, sizes and
 * offsets; inlined int16 and literals). */
#include "buf.h"
#include "jsonb.h"
#include "tap.h"

#include <string.h>

static char *text_of(const unsigned char *p, size_t n)
{
  static char out[4096];
  struct buf b = BUF_INIT;
  char err[128];
  if (jsonb_to_json(p, n, &b, err, sizeof err)) snprintf(out, sizeof out, "ERROR: %s", err);
  else snprintf(out, sizeof out, "%s", b.p);
  buf_free(&b);
  return out;
}

/* A small object {"a": int16 1, "b": "xy"} in binary form. */
static size_t small_object(unsigned char *o)
{
  /* type 0x00, count 2, size, key entries (off, len) x2, value entries x2, keys, values */
  unsigned char body[] = {
      2, 0,        /* count */
      0, 0,        /* size, patched below */
      18, 0, 1, 0, /* key "a" at 18 */
      19, 0, 1, 0, /* key "b" at 19 */
      5, 1, 0,     /* int16 1, inlined */
      12, 20, 0,   /* string at 20 */
      'a', 'b',
      2, 'x', 'y', /* varlen 2 "xy" */
  };
  body[2] = (unsigned char)sizeof body;
  o[0] = 0;
  memcpy(o + 1, body, sizeof body);
  return sizeof body + 1;
}

int main(void)
{
  unsigned char v[256];
  size_t n = small_object(v);
  is_str(text_of(v, n), "{\"a\":1,\"b\":\"xy\"}", "small object with an inlined int and a string");

  unsigned char lit[] = {4, 1};
  is_str(text_of(lit, 2), "true", "literal true");
  unsigned char nul[] = {4, 0};
  is_str(text_of(nul, 2), "null", "literal null");
  is_str(text_of(v, 0), "null", "an empty value is null");
  unsigned char i64[] = {9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  is_str(text_of(i64, 9), "-1", "int64 -1");
  unsigned char u64[] = {10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  is_str(text_of(u64, 9), "18446744073709551615", "uint64 max");
  unsigned char dbl[] = {11, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f}; /* 1.5 */
  is_str(text_of(dbl, 9), "1.5", "double");
  /* small array [int16 -2, true] */
  unsigned char arr[] = {2, 2, 0, 10, 0, 5, 0xfe, 0xff, 4, 1, 0};
  is_str(text_of(arr, sizeof arr), "[-2,true]", "small array of inlined values");
  /* opaque DECIMAL(4,2) 12.34: type 246, length 4, precision 4, scale 2, then binary decimal */
  unsigned char dec[] = {15, 246, 4, 4, 2, 0x8c, 0x22};
  is_str(text_of(dec, sizeof dec), "12.34", "opaque DECIMAL as a number");
  /* opaque DATE 2024-05-06: packed ((y*13+m)<<5|d)<<17 << 24 */
  unsigned long long ymd = ((2024ULL * 13 + 5) << 5) | 6;
  unsigned long long packed = (ymd << 17) << 24;
  unsigned char date[3 + 8] = {15, 10, 8};
  for (int i = 0; i < 8; i++) date[3 + i] = (unsigned char)(packed >> (8 * i));
  is_str(text_of(date, sizeof date), "\"2024-05-06\"", "opaque DATE as a string");
  unsigned char other[] = {15, 252, 2, 0xde, 0xad};
  is_str(text_of(other, sizeof other), "\"base64:type252:3q0=\"", "other opaque types as MySQL shows them");

  unsigned char bad[] = {0, 9, 0, 200, 0};
  ok(!strncmp(text_of(bad, sizeof bad), "ERROR", 5), "a count beyond the value is refused");
  unsigned char badtype[] = {42, 0};
  ok(!strncmp(text_of(badtype, sizeof badtype), "ERROR", 5), "an unknown type is refused");

  /* diff: replace $.a with 7; insert $.c = "z"; remove $.b */
  unsigned char diff[] = {0, 3, '$', '.', 'a', 3, 5, 7, 0,
                          1, 3, '$', '.', 'c', 3, 12, 1, 'z',
                          2, 3, '$', '.', 'b'};
  struct buf out = BUF_INIT;
  char err[200];
  const char *before = "{\"a\":1,\"b\":\"xy\"}";
  ok(!jsonb_apply_diff(before, strlen(before), diff, sizeof diff, &out, err, sizeof err), "diff applies");
  is_str(out.p, "{\"a\":7,\"c\":\"z\"}", "replace, insert and remove on an object");
  buf_reset(&out);
  ok(!jsonb_diff_to_json(diff, sizeof diff, &out, err, sizeof err), "diff prints");
  is_str(out.p,
         "[{\"op\":\"replace\",\"path\":\"$.a\",\"value\":7},{\"op\":\"insert\",\"path\":\"$.c\",\"value\":\"z\"},"
         "{\"op\":\"remove\",\"path\":\"$.b\"}]",
         "the diff itself, when there is no before image");
  buf_reset(&out);
  unsigned char adiff[] = {1, 4, '$', '[', '1', ']', 3, 5, 9, 0, 0, 4, '$', '[', '0', ']', 2, 4, 2};
  const char *abefore = "[1,2]";
  ok(!jsonb_apply_diff(abefore, strlen(abefore), adiff, sizeof adiff, &out, err, sizeof err), "array diff applies");
  is_str(out.p, "[false,9,2]", "insert into and replace in an array");
  buf_reset(&out);
  unsigned char missing[] = {0, 5, '$', '.', 'x', '.', 'y', 3, 5, 1, 0};
  ok(jsonb_apply_diff(before, strlen(before), missing, sizeof missing, &out, err, sizeof err) == -1,
     "a path that does not resolve is refused");
  ok(strstr(err, "$.x.y") != NULL, "and the message names the path");
  buf_free(&out);
  return done_testing();
}
