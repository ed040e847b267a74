/* buf_test.c - the growable buffer and its encoders (buf.h): JSON strings,
 * base64, integers and doubles. Besides exact expected texts, every JSON
 * output is parsed back with jansson, so "valid JSON whatever the input" is
 * checked on random bytes too. */
#include "util/buf.h"
#include "tap.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The quoted JSON text buf_add_json_str makes of s[0..n); caller frees. */
static char *json_of(const char *s, size_t n)
{
  struct buf b = BUF_INIT;
  buf_add_json_str(&b, s, n);
  return buf_steal(&b);
}

static void check_json(const char *in, size_t n, const char *want, const char *name)
{
  char *got = json_of(in, n);
  is_str(got, want, name);
  free(got);
}

/* Parses text as one JSON string; returns the decoded value or NULL. */
static json_t *parse_json_string(const char *text)
{
  json_error_t err;
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (j && !json_is_string(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static void test_basics(void)
{
  struct buf b = BUF_INIT;
  ok(b.p == NULL && b.len == 0, "BUF_INIT is empty and allocates nothing");

  buf_adds(&b, "abc");
  buf_addc(&b, '-');
  buf_add(&b, "xyz", 2);
  buf_add(&b, NULL, 0);
  is_str(b.p, "abc-xy", "buf_add, buf_adds, buf_addc append");
  is_int(b.len, 6, "len counts the bytes, not the NUL");

  buf_reset(&b);
  ok(b.len == 0 && b.p && b.p[0] == 0, "buf_reset empties but keeps the memory");

  char big[1000];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = 0;
  buf_printf(&b, "<%s>", big);
  buf_printf(&b, "%d", 42);
  ok(b.len == 1003 && b.p[0] == '<' && b.p[999] == 'q' && !strcmp(b.p + 1000, ">42"),
     "buf_printf grows the buffer past its capacity");
  ok(b.cap > b.len && b.p[b.len] == 0, "the content stays NUL-terminated");
  buf_free(&b);
  ok(b.p == NULL && b.len == 0 && b.cap == 0, "buf_free leaves an empty buf");

  buf_printf(&b, "%s=%u", "n", 7u);
  is_str(b.p, "n=7", "buf_printf on an empty buf allocates");
  char *s = buf_steal(&b);
  is_str(s, "n=7", "buf_steal hands over the bytes");
  ok(b.p == NULL && b.len == 0, "buf_steal leaves the buf empty");
  free(s);

  s = buf_steal(&b);
  is_str(s, "", "buf_steal of an empty buf is an empty string");
  free(s);

  for (int i = 0; i < 10000; i++)
    buf_addc(&b, (char)('a' + i % 26));
  ok(b.len == 10000 && b.p[9999] == 'a' + 9999 % 26 && b.p[10000] == 0, "ten thousand buf_addc calls");
  buf_free(&b);
}

static void test_integers(void)
{
  static const struct {
    uint64_t v;
    const char *want;
  } u[] = {
      {0, "0"}, {1, "1"}, {10, "10"}, {4294967296u, "4294967296"}, {UINT64_MAX, "18446744073709551615"},
  };
  static const struct {
    int64_t v;
    const char *want;
  } s[] = {
      {0, "0"},
      {-1, "-1"},
      {127, "127"},
      {-128, "-128"},
      {INT64_MAX, "9223372036854775807"},
      {INT64_MIN, "-9223372036854775808"},
  };
  struct buf b = BUF_INIT;
  char name[80];
  for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
    buf_reset(&b);
    buf_add_u64(&b, u[i].v);
    snprintf(name, sizeof name, "buf_add_u64 %s", u[i].want);
    is_str(b.p, u[i].want, name);
  }
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    buf_reset(&b);
    buf_add_i64(&b, s[i].v);
    snprintf(name, sizeof name, "buf_add_i64 %s", s[i].want);
    is_str(b.p, s[i].want, name);
  }
  buf_free(&b);
}

static void test_json_escapes(void)
{
  check_json("", 0, "\"\"", "empty string");
  check_json("hello, world", 12, "\"hello, world\"", "plain ASCII is copied");
  check_json("say \"hi\"", 8, "\"say \\\"hi\\\"\"", "quotes are escaped");
  check_json("a\\b", 3, "\"a\\\\b\"", "backslash is escaped");
  check_json("a/b", 3, "\"a/b\"", "slash is not escaped");
  check_json("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"", "the short escapes");
  check_json("a\0b", 3, "\"a\\u0000b\"", "an embedded NUL becomes \\u0000");
  check_json("\x7f", 1, "\"\x7f\"", "DEL needs no escape");

  /* Every control character, each alone. */
  int all = 1;
  for (int c = 0; c < 0x20; c++) {
    char in = (char)c, want[16];
    switch (c) {
    case '\b': snprintf(want, sizeof want, "\"\\b\""); break;
    case '\t': snprintf(want, sizeof want, "\"\\t\""); break;
    case '\n': snprintf(want, sizeof want, "\"\\n\""); break;
    case '\f': snprintf(want, sizeof want, "\"\\f\""); break;
    case '\r': snprintf(want, sizeof want, "\"\\r\""); break;
    default: snprintf(want, sizeof want, "\"\\u%04x\"", c);
    }
    char *got = json_of(&in, 1);
    if (strcmp(got, want)) {
      diag("control 0x%02x: got %s, want %s", c, got, want);
      all = 0;
    }
    free(got);
  }
  ok(all, "all 32 control characters are escaped");

  struct buf b = BUF_INIT;
  buf_adds(&b, "{\"k\":");
  buf_add_json_str(&b, "v", 1);
  buf_addc(&b, '}');
  is_str(b.p, "{\"k\":\"v\"}", "appends to what the buf holds");
  buf_free(&b);

  /* Long input with escapes throughout: grows correctly and reads back. */
  char longin[3000];
  for (size_t i = 0; i < sizeof longin; i++)
    longin[i] = "ab\"c\\d\ne\x01"[i % 9];
  char *got = json_of(longin, sizeof longin);
  json_t *j = parse_json_string(got);
  ok(j && json_string_length(j) == sizeof longin && !memcmp(json_string_value(j), longin, sizeof longin),
     "a 3000-byte string with escapes reads back the same");
  json_decref(j);
  free(got);
}

static void test_json_utf8(void)
{
  check_json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"", "2-byte UTF-8 passes through");
  check_json("\xe2\x82\xac", 3, "\"\xe2\x82\xac\"", "3-byte UTF-8 passes through");
  check_json("\xf0\x9f\x98\x80!", 5, "\"\xf0\x9f\x98\x80!\"", "4-byte emoji passes through");
  check_json("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"", "U+10FFFF passes through");
  check_json("\xef\xbf\xbd", 3, "\"\xef\xbf\xbd\"", "U+FFFD itself passes through");

#define FFFD "\xef\xbf\xbd"
  check_json("\xff", 1, "\"" FFFD "\"", "byte 0xff becomes U+FFFD");
  check_json("\x80", 1, "\"" FFFD "\"", "a lone continuation byte becomes U+FFFD");
  check_json("a\376b", 3, "\"a" FFFD "b\"", "an invalid byte between ASCII");
  check_json("caf\xe9", 4, "\"caf" FFFD "\"", "Latin-1 at the end of the input");
  check_json("caf\xe9 ok", 7, "\"caf" FFFD " ok\"", "Latin-1 before ASCII keeps the ASCII");
  check_json("\xc0\xaf", 2, "\"" FFFD FFFD "\"", "overlong 2-byte sequence");
  check_json("\xe0\x80\xaf", 3, "\"" FFFD FFFD FFFD "\"", "overlong 3-byte sequence");
  check_json("\xed\xa0\x80", 3, "\"" FFFD FFFD FFFD "\"", "UTF-16 surrogate encoded in UTF-8");
  check_json("\xf4\x90\x80\x80", 4, "\"" FFFD FFFD FFFD FFFD "\"", "code point above U+10FFFF");
  check_json("\xf8\x88\x80\x80\x80", 5, "\"" FFFD FFFD FFFD FFFD FFFD "\"", "5-byte form");

  /* A sequence cut short: how many U+FFFD it becomes is a choice (one per
   * byte or one per maximal subpart); what must hold is that the output is
   * valid, marks the damage and keeps what follows. */
  char *got = json_of("\xf0\x9f\x98", 3);
  json_t *j = parse_json_string(got);
  ok(j && !strncmp(got, "\"" FFFD, 4) && !strstr(got, "\xf0"), "an emoji cut at the end becomes U+FFFD");
  json_decref(j);
  free(got);
  got = json_of("\xf0\x9f\x98!x", 5);
  j = parse_json_string(got);
  size_t len = strlen(got);
  ok(j && !strncmp(got, "\"" FFFD, 4) && len >= 7 && !strcmp(got + len - 3, "!x\""),
     "an emoji cut before ASCII keeps the ASCII");
  json_decref(j);
  free(got);
  got = json_of("\xe2\x82", 2);
  j = parse_json_string(got);
  ok(j && !strncmp(got, "\"" FFFD, 4), "a 3-byte sequence cut at the end");
  json_decref(j);
  free(got);
#undef FFFD
}

/* Random bytes, biased to the interesting ones: the output must always be a
 * valid JSON string, and when the input was valid UTF-8 it must read back to
 * exactly the input. */
static void test_json_random(void)
{
  static const unsigned char pick[] = {
      0x00, 0x01, 0x1f, 0x20, '"',  '\\', 'a',  0x7f, 0x80, 0xbf, 0xc0, 0xc2,
      0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90,
  };
  uint64_t seed = 0x9e3779b97f4a7c15u;
  int invalid_json = 0, mismatch = 0, valid_inputs = 0;
  for (int round = 0; round < 20000; round++) {
    unsigned char in[24];
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    size_t n = seed % (sizeof in + 1);
    uint64_t r = seed;
    for (size_t i = 0; i < n; i++) {
      r = r * 6364136223846793005u + 1442695040888963407u;
      in[i] = (r >> 40) & 1 ? pick[(r >> 48) % sizeof pick] : (unsigned char)(r >> 56);
    }
    char *got = json_of((const char *)in, n);
    json_t *j = parse_json_string(got);
    if (!j) {
      if (invalid_json++ < 3) diag("not valid JSON: %s", got);
    } else {
      json_t *ref = json_stringn((const char *)in, n); /* NULL if not UTF-8 */
      if (ref) {
        valid_inputs++;
        if (!json_equal(ref, j) && mismatch++ < 3) diag("valid UTF-8 changed: %s", got);
        json_decref(ref);
      }
      json_decref(j);
    }
    free(got);
  }
  ok(!invalid_json, "20000 random byte strings all give valid JSON");
  ok(!mismatch && valid_inputs > 100, "random valid UTF-8 reads back unchanged");
}

static void test_base64(void)
{
  static const struct {
    const char *in, *want;
  } rfc[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  struct buf b = BUF_INIT;
  char name[64];
  for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
    buf_free(&b);
    buf_add_base64(&b, rfc[i].in, strlen(rfc[i].in));
    snprintf(name, sizeof name, "base64 RFC 4648 \"%s\"", rfc[i].in);
    is_str(b.p, rfc[i].want, name);
  }

  buf_reset(&b);
  buf_add_base64(&b, "\xfb\xff", 2);
  is_str(b.p, "+/8=", "base64 uses + and /");
  buf_reset(&b);
  buf_add_base64(&b, "\0\0\0", 3);
  is_str(b.p, "AAAA", "base64 of NUL bytes");

  unsigned char all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (unsigned char)i;
  buf_reset(&b);
  buf_adds(&b, "x:");
  buf_add_base64(&b, all, sizeof all);
  is_str(b.p,
         "x:"
         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
         "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f"
         "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6P"
         "kJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/"
         "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v"
         "8PHy8/T19vf4+fr7/P3+/w==",
         "base64 of all 256 bytes, appended");
  is_int(b.len, 2 + 344, "len after base64");
  buf_free(&b);

  buf_add_base64(&b, "", 0);
  ok(b.p && b.len == 0 && b.p[0] == 0, "base64 of nothing on an empty buf is an empty string");
  buf_free(&b);
}

/* The number of significant digits of a %g-style text. */
static int sig_digits(const char *s)
{
  int n = 0, trailing = 0, started = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s < '0' || *s > '9') continue;
    if (*s == '0' && !started) continue;
    started = 1;
    n++;
    trailing = *s == '0' ? trailing + 1 : 0;
  }
  return n - trailing;
}

/* The fewest digits that read back to v: the reference for "shortest". */
static int shortest_digits(double v, int is_float)
{
  char t[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, v);
    double back = strtod(t, NULL);
    if (is_float ? (float)back == (float)v : back == v) return sig_digits(t);
  }
  return 17;
}

static char *double_text(double v, int is_float)
{
  struct buf b = BUF_INIT;
  buf_add_double(&b, v, is_float);
  return buf_steal(&b);
}

static void test_doubles(void)
{
  static const struct {
    double v;
    int is_float;
    const char *want;
  } t[] = {
      {0.0, 0, "0"},
      {-0.0, 0, "-0"},
      {1.0, 0, "1"},
      {-1.5, 0, "-1.5"},
      {0.1, 0, "0.1"},
      {0.1 + 0.2, 0, "0.30000000000000004"},
      {1.0 / 3, 0, "0.3333333333333333"},
      {2.0 / 3, 0, "0.6666666666666666"},
      {3.141592653589793, 0, "3.141592653589793"},
      {299792458.0, 0, "299792458"},
      {9007199254740992.0, 0, "9007199254740992"},
      {123456789012345678.0, 0, "1.2345678901234568e+17"},
      {1e15, 0, "1e+15"},
      {1e21, 0, "1e+21"},
      {1e300, 0, "1e+300"},
      {-1e300, 0, "-1e+300"},
      {1e-300, 0, "1e-300"},
      {1.5e-7, 0, "1.5e-07"},
      {DBL_MAX, 0, "1.7976931348623157e+308"},
      {DBL_MIN, 0, "2.2250738585072014e-308"},
      {0.1f, 1, "0.1"},
      {0.3f, 1, "0.3"},
      {-0.0f, 1, "-0"},
      {1.0f / 3, 1, "0.33333334"},
      {123.456f, 1, "123.456"},
      {2.718281828f, 1, "2.7182817"},
      {16777216.0f, 1, "16777216"},
      {1e10f, 1, "1e+10"},
      {FLT_MAX, 1, "3.4028235e+38"},
      {FLT_MIN, 1, "1.1754944e-38"},
  };
  char name[96];
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char *got = double_text(t[i].v, t[i].is_float);
    snprintf(name, sizeof name, "%s %s", t[i].is_float ? "float" : "double", t[i].want);
    is_str(got, t[i].want, name);
    free(got);
  }

  static const double nonfinite[] = {NAN, -NAN, INFINITY, -INFINITY};
  int nulls = 1;
  for (size_t i = 0; i < sizeof nonfinite / sizeof nonfinite[0]; i++) {
    for (int f = 0; f <= 1; f++) {
      char *got = double_text(nonfinite[i], f);
      nulls &= !strcmp(got, "null");
      free(got);
    }
  }
  ok(nulls, "NaN and the infinities become null, as double and as float");

  /* Subnormals carry fewer digits than DBL_DIG: the shortest text is shorter
   * than what a search starting at 15 (6 for float) digits finds. */
  char *got = double_text(4.9406564584124654e-324, 0);
  is_str(got, "5e-324", "double subnormal 5e-324 is shortest");
  free(got);
  got = double_text(1.4012984643e-45f, 1);
  is_str(got, "1e-45", "float subnormal 1e-45 is shortest");
  free(got);
}

/* Random normal doubles and floats: the text is a JSON number, reads back to
 * the same value, and has no more digits than the shortest that does. */
static void test_doubles_random(void)
{
  uint64_t s = 88172645463325252u;
  int bad_json = 0, bad_back = 0, not_shortest = 0, n = 0;
  while (n < 20000) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    int is_float = n & 1;
    double v;
    if (is_float) {
      uint32_t bits = (uint32_t)(s >> 32);
      float f;
      memcpy(&f, &bits, sizeof f);
      v = f;
      if (!isfinite(f) || fabsf(f) < FLT_MIN) continue;
    } else if (n % 4 == 0) {
      v = (double)(s % 100000000) / (double)(1 + (s >> 40) % 100000);
    } else {
      memcpy(&v, &s, sizeof v);
      if (!isfinite(v) || fabs(v) < DBL_MIN) continue;
    }
    n++;
    char *got = double_text(v, is_float);
    json_error_t err;
    json_t *j = json_loads(got, JSON_DECODE_ANY, &err);
    if (!j || !json_is_number(j)) {
      if (bad_json++ < 3) diag("not a JSON number: %s", got);
    }
    json_decref(j);
    double back = strtod(got, NULL);
    if (is_float ? (float)back != (float)v : back != v) {
      if (bad_back++ < 3) diag("%s does not read back to %.17g", got, v);
    }
    if (sig_digits(got) > shortest_digits(v, is_float)) {
      if (not_shortest++ < 3) diag("%s is not the shortest text for %.17g", got, v);
    }
    free(got);
  }
  ok(!bad_json, "20000 random doubles and floats are JSON numbers");
  ok(!bad_back, "... that read back to the same value");
  ok(!not_shortest, "... with the fewest digits that do");
}

int main(void)
{
  test_basics();
  test_integers();
  test_json_escapes();
  test_json_utf8();
  test_json_random();
  test_base64();
  test_doubles();
  test_doubles_random();
  return done_testing();
}
