/* jsonb_test.c - MySQL binary JSON to text, and partial JSON diffs. The
 * binary values are built here by a small encoder written from the format's
 * description (type byte; small containers with 2-byte counts, sizes and
 * offsets; inlined int16 and literals), first by hand, then (see "the
 * encoder" below) for every type, both container forms and nesting, and
 * every one of them is also cut short at each byte: the decoder must refuse
 * it, without reading past the end (run under the sanitizers too). */
#include "util/buf.h"
#include "source/jsonb.h"
#include "tap.h"

#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
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

/* ---- The encoder, from the description of MySQL's json_binary format:
 *   value      a type byte, then its body
 *   object,    element count, byte size (2 bytes each in the small form,
 *   array      4 in the large), then for objects one key entry per element
 *              (the key's offset, 2 or 4 bytes, and its length, 2 bytes),
 *              one value entry per element (a type byte, then in 2 or 4
 *              bytes the value itself when it is a literal or an int16 or
 *              uint16, and in the large form also an int32 or uint32, else
 *              the value's offset), then the keys, then the other values;
 *              offsets count from the start of the container (its count),
 *              the size covers all of it
 *   literal    1 byte: 0 null, 1 true, 2 false
 *   numbers    little-endian: int16, uint16, int32, uint32, int64, uint64,
 *              double (IEEE 754)
 *   string     its length in a variable-length integer (7 bits a byte, low
 *              bits first, the high bit set on every byte but the last),
 *              then the UTF-8 bytes
 *   opaque     the MySQL field type byte, the data length (variable-length),
 *              the data: DECIMAL (246) is precision, scale and the binary
 *              decimal; DATE (10), TIME (11), DATETIME (12) and TIMESTAMP (7)
 *              are MySQL's packed temporal integer, 8 bytes little-endian */
enum {
  J_SOBJ = 0, J_LOBJ = 1, J_SARR = 2, J_LARR = 3, J_LIT = 4, J_I16 = 5, J_U16 = 6, J_I32 = 7, J_U32 = 8,
  J_I64 = 9, J_U64 = 10, J_DBL = 11, J_STR = 12, J_OPQ = 15,
};

struct jv {
  int type;  /* J_*: containers are J_SOBJ or J_SARR, with large set for the large form */
  int large;
  uint64_t bits; /* literal, integers and the double's bits */
  char *s;       /* string bytes, opaque data (owned) */
  size_t slen;
  int mtype; /* opaque: the MySQL field type */
  size_t n;  /* container: elements */
  char **key;
  struct jv **kid;
};

/* Every value made is kept here, and freed by pool_free. */
static struct jv **pool;
static size_t npool;

static struct jv *node(int type)
{
  struct jv *v = calloc(1, sizeof *v);
  pool = realloc(pool, (npool + 1) * sizeof *pool);
  pool[npool++] = v;
  v->type = type;
  return v;
}

static void pool_free(void)
{
  for (size_t i = 0; i < npool; i++) {
    for (size_t k = 0; pool[i]->key && k < pool[i]->n; k++) free(pool[i]->key[k]);
    free(pool[i]->key);
    free(pool[i]->kid);
    free(pool[i]->s);
    free(pool[i]);
  }
  free(pool);
  pool = NULL;
  npool = 0;
}

static struct jv *jlit(int lit)
{
  struct jv *v = node(J_LIT);
  v->bits = (uint64_t)lit;
  return v;
}
#define jnull() jlit(0)
#define jtrue() jlit(1)
#define jfalse() jlit(2)

static struct jv *jnum(int type, uint64_t bits)
{
  struct jv *v = node(type);
  v->bits = bits;
  return v;
}
#define ji16(x) jnum(J_I16, (uint16_t)(int16_t)(x))
#define ju16(x) jnum(J_U16, (uint16_t)(x))
#define ji32(x) jnum(J_I32, (uint32_t)(int32_t)(x))
#define ju32(x) jnum(J_U32, (uint32_t)(x))
#define ji64(x) jnum(J_I64, (uint64_t)(int64_t)(x))
#define ju64(x) jnum(J_U64, (uint64_t)(x))

static struct jv *jdbl(double d)
{
  uint64_t bits;
  memcpy(&bits, &d, 8);
  return jnum(J_DBL, bits);
}

static struct jv *jstrn(const char *s, size_t n)
{
  struct jv *v = node(J_STR);
  v->s = malloc(n ? n : 1);
  memcpy(v->s, s, n);
  v->slen = n;
  return v;
}
#define jstr(s) jstrn((s), strlen(s))

static struct jv *jopq(int mtype, const void *data, size_t n)
{
  struct jv *v = jstrn(data, n);
  v->type = J_OPQ;
  v->mtype = mtype;
  return v;
}

/* jobj(large, n, "key", value, ...), jarr(large, n, value, ...) */
static struct jv *jobj(int large, size_t n, ...)
{
  struct jv *v = node(J_SOBJ);
  va_list ap;
  v->large = large;
  v->n = n;
  v->key = calloc(n + 1, sizeof *v->key);
  v->kid = calloc(n + 1, sizeof *v->kid);
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) {
    v->key[i] = strdup(va_arg(ap, const char *));
    v->kid[i] = va_arg(ap, struct jv *);
  }
  va_end(ap);
  return v;
}

static struct jv *jarr_of(int large, size_t n, struct jv **items)
{
  struct jv *v = node(J_SARR);
  v->large = large;
  v->n = n;
  v->kid = calloc(n + 1, sizeof *v->kid);
  memcpy(v->kid, items, n * sizeof *items);
  return v;
}

static struct jv *jarr(int large, size_t n, ...)
{
  struct jv *items[64];
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) items[i] = va_arg(ap, struct jv *);
  va_end(ap);
  return jarr_of(large, n, items);
}

static int type_of(const struct jv *v)
{
  return (v->type == J_SOBJ || v->type == J_SARR) ? v->type + v->large : v->type;
}

static int is_inlined(const struct jv *v, int large)
{
  return v->type == J_LIT || v->type == J_I16 || v->type == J_U16 ||
         (large && (v->type == J_I32 || v->type == J_U32));
}

static void put_le(struct buf *b, uint64_t v, int n)
{
  for (int i = 0; i < n; i++) buf_addc(b, (char)(v >> (8 * i)));
}

static void store_le(char *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++) p[i] = (char)(v >> (8 * i));
}

static void put_varlen(struct buf *b, size_t n)
{
  do {
    unsigned char c = n & 0x7f;
    n >>= 7;
    if (n) c |= 0x80;
    buf_addc(b, (char)c);
  } while (n);
}

static void body(struct buf *b, const struct jv *v);

static void container_body(struct buf *out, const struct jv *v)
{
  int obj = v->type == J_SOBJ, w = v->large ? 4 : 2;
  size_t n = v->n, kent = obj ? n * (size_t)(w + 2) : 0;
  size_t hdr = 2 * (size_t)w + kent + n * (size_t)(1 + w);
  size_t *koff = calloc(n + 1, sizeof *koff), *voff = calloc(n + 1, sizeof *voff);
  struct buf c = BUF_INIT;
  for (size_t i = 0; i < hdr; i++) buf_addc(&c, 0);
  for (size_t i = 0; obj && i < n; i++) {
    koff[i] = c.len;
    buf_adds(&c, v->key[i]);
  }
  for (size_t i = 0; i < n; i++) {
    if (is_inlined(v->kid[i], v->large)) continue;
    voff[i] = c.len;
    body(&c, v->kid[i]);
  }
  store_le(c.p, n, w);
  store_le(c.p + w, c.len, w);
  for (size_t i = 0; obj && i < n; i++) {
    store_le(c.p + 2 * w + i * (size_t)(w + 2), koff[i], w);
    store_le(c.p + 2 * w + i * (size_t)(w + 2) + w, strlen(v->key[i]), 2);
  }
  for (size_t i = 0; i < n; i++) {
    char *e = c.p + 2 * w + kent + i * (size_t)(1 + w);
    e[0] = (char)type_of(v->kid[i]);
    store_le(e + 1, is_inlined(v->kid[i], v->large) ? v->kid[i]->bits : voff[i], w);
  }
  buf_add(out, c.p, c.len);
  buf_free(&c);
  free(koff);
  free(voff);
}

static void body(struct buf *b, const struct jv *v)
{
  switch (v->type) {
  case J_LIT: put_le(b, v->bits, 1); break;
  case J_I16:
  case J_U16: put_le(b, v->bits, 2); break;
  case J_I32:
  case J_U32: put_le(b, v->bits, 4); break;
  case J_I64:
  case J_U64:
  case J_DBL: put_le(b, v->bits, 8); break;
  case J_STR:
    put_varlen(b, v->slen);
    buf_add(b, v->s, v->slen);
    break;
  case J_OPQ:
    buf_addc(b, (char)v->mtype);
    put_varlen(b, v->slen);
    buf_add(b, v->s, v->slen);
    break;
  default: container_body(b, v);
  }
}

/* The whole binary value: type byte and body. */
static struct buf encode(const struct jv *v)
{
  struct buf b = BUF_INIT;
  buf_addc(&b, (char)type_of(v));
  body(&b, v);
  return b;
}

/* MySQL's binary DECIMAL of the text num ("-12.30") at precision and scale:
 * 9 digits in 4 big-endian bytes, the leftover leading integer digits and
 * trailing fraction digits in 1 to 4 bytes, all bytes inverted when
 * negative, then the top bit of the first byte flipped. */
static size_t decimal_bin(const char *num, int prec, int scale, unsigned char *out)
{
  static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
  int neg = *num == '-';
  if (neg) num++;
  const char *dot = strchr(num, '.');
  size_t ilen = dot ? (size_t)(dot - num) : strlen(num), flen = dot ? strlen(dot + 1) : 0;
  while (ilen && *num == '0') num++, ilen--; /* "0.5": no integer digits */
  int intg = prec - scale;
  char idig[80], fdig[80];
  /* the integer digits right-aligned in intg, the fraction left-aligned in scale */
  memset(idig, '0', (size_t)intg);
  memcpy(idig + intg - (int)ilen, num, ilen);
  memset(fdig, '0', (size_t)scale);
  memcpy(fdig, dot ? dot + 1 : "", flen);
  size_t n = 0;
  int intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
  const char *d = idig;
  uint32_t mask = neg ? 0xffffffffu : 0;
#define CHUNK(ndig, nbytes)                                                                                    \
  do {                                                                                                         \
    uint32_t x = 0;                                                                                            \
    for (int k_ = 0; k_ < (ndig); k_++) x = x * 10 + (uint32_t)(*d++ - '0');                                  \
    x ^= mask;                                                                                                 \
    for (int k_ = (nbytes)-1; k_ >= 0; k_--) out[n++] = (unsigned char)(x >> (8 * k_));                        \
  } while (0)
  if (intg0x) CHUNK(intg0x, dig2bytes[intg0x]);
  for (int i = 0; i < intg0; i++) CHUNK(9, 4);
  d = fdig;
  for (int i = 0; i < frac0; i++) CHUNK(9, 4);
  if (frac0x) CHUNK(frac0x, dig2bytes[frac0x]);
#undef CHUNK
  out[0] ^= 0x80;
  return n;
}

static struct jv *jdecimal(const char *num, int prec, int scale)
{
  unsigned char data[64];
  data[0] = (unsigned char)prec;
  data[1] = (unsigned char)scale;
  size_t n = decimal_bin(num, prec, scale, data + 2);
  return jopq(246, data, n + 2);
}

/* MySQL's packed temporal integers: (intpart << 24) + microseconds, with
 * intpart ((year * 13 + month) << 5 | day) << 17 | hour << 12 | minute << 6 |
 * second for dates, hour << 12 | minute << 6 | second for times, negated for
 * negative times. */
static struct jv *jtemporal(int mtype, int64_t packed)
{
  unsigned char d[8];
  for (int i = 0; i < 8; i++) d[i] = (unsigned char)((uint64_t)packed >> (8 * i));
  return jopq(mtype, d, 8);
}

static int64_t pack_datetime(int y, int mo, int d, int h, int mi, int s, int us)
{
  int64_t ymd = ((int64_t)y * 13 + mo) << 5 | d;
  return ((ymd << 17 | h << 12 | mi << 6 | s) << 24) + us;
}

static int64_t pack_time(int neg, int h, int mi, int s, int us)
{
  int64_t v = ((int64_t)(h << 12 | mi << 6 | s) << 24) + us;
  return neg ? -v : v;
}

#define jdate(y, mo, d) jtemporal(10, pack_datetime(y, mo, d, 0, 0, 0, 0))
#define jdatetime(...) jtemporal(12, pack_datetime(__VA_ARGS__))
#define jtimestamp(...) jtemporal(7, pack_datetime(__VA_ARGS__))
#define jtime(...) jtemporal(11, pack_time(__VA_ARGS__))

/* The decoder's text of p[0..n), malloc'd, or NULL when it refuses it. The
 * bytes are copied to a block of exactly n bytes first, so that the
 * sanitizers see any read beyond the value. */
static char *decode(const unsigned char *p, size_t n)
{
  unsigned char *copy = malloc(n ? n : 1);
  struct buf b = BUF_INIT;
  char err[200];
  char *text = NULL;
  memcpy(copy, p, n);
  if (!jsonb_to_json(copy, n, &b, err, sizeof err)) text = buf_steal(&b);
  buf_free(&b);
  free(copy);
  return text;
}

/* Every prefix of the value (1 to n-1 bytes) is refused, and leaves the
 * output as it was. Returns the number of prefixes that were not. */
static int prefixes_refused(const unsigned char *p, size_t n, size_t *first)
{
  int bad = 0;
  struct buf b = BUF_INIT;
  buf_adds(&b, "kept");
  for (size_t k = 1; k < n; k++) {
    unsigned char *copy = malloc(k);
    char err[200];
    memcpy(copy, p, k);
    int r = jsonb_to_json(copy, k, &b, err, sizeof err);
    if (r != -1 || b.len != 4 || strcmp(b.p, "kept")) {
      if (!bad++) *first = k;
      b.len = 4;
      b.p[4] = 0;
    }
    free(copy);
  }
  buf_free(&b);
  return bad;
}

/* checkp: the value decodes to want (one test), and every prefix of it is
 * refused (a second test, named after the first; a failure shows the first
 * length accepted). */
static void checkp(const struct jv *v, const char *want, const char *name)
{
  struct buf doc = encode(v);
  char *got = decode((const unsigned char *)doc.p, doc.len);
  char pname[300];
  is_str(got ? got : "(refused)", want, name);
  size_t first = 0;
  int bad = prefixes_refused((const unsigned char *)doc.p, doc.len, &first);
  snprintf(pname, sizeof pname, "%s: refused when cut short at each of its %zu bytes", name, doc.len);
  ok(!bad, pname);
  if (bad) diag("%d prefixes accepted or the output changed, the first %zu bytes long", bad, first);
  free(got);
  buf_free(&doc);
}

static char *repeat(char c, size_t n)
{
  char *s = malloc(n + 1);
  memset(s, c, n);
  s[n] = 0;
  return s;
}

static void scalars(void)
{
  checkp(jnull(), "null", "literal null");
  checkp(jtrue(), "true", "literal true");
  checkp(jfalse(), "false", "literal false");
  checkp(ji16(INT16_MIN), "-32768", "int16 min");
  checkp(ji16(INT16_MAX), "32767", "int16 max");
  checkp(ji16(0), "0", "int16 0");
  checkp(ju16(UINT16_MAX), "65535", "uint16 max");
  checkp(ji32(INT32_MIN), "-2147483648", "int32 min");
  checkp(ji32(INT32_MAX), "2147483647", "int32 max");
  checkp(ju32(UINT32_MAX), "4294967295", "uint32 max");
  checkp(ji64(INT64_MIN), "-9223372036854775808", "int64 min");
  checkp(ji64(INT64_MAX), "9223372036854775807", "int64 max");
  checkp(ji64(0), "0", "int64 0");
  checkp(ju64(UINT64_MAX), "18446744073709551615", "uint64 max");
  checkp(ju64(0), "0", "uint64 0");
  checkp(jdbl(1.5), "1.5", "double 1.5");
  checkp(jdbl(-0.25), "-0.25", "a negative double");
  checkp(jdbl(0.1), "0.1", "double 0.1, the shortest text that reads back");
  checkp(jdbl(1.0 / 3), "0.3333333333333333", "double 1/3");
  checkp(jdbl(3.0), "3", "a whole double");
  checkp(jdbl(-2.5e-300), "-2.5e-300", "a negative double with a negative exponent");
  checkp(jdbl(1e300), "1e+300", "a double with a large exponent");
  checkp(jdbl(DBL_MAX), "1.7976931348623157e+308", "the largest double");
  checkp(jdbl(5e-324), "5e-324", "the smallest subnormal double");
  checkp(jdbl(123456789012345680.0), "1.2345678901234568e+17", "a whole double beyond 1e15");
}

static void strings(void)
{
  checkp(jstr(""), "\"\"", "the empty string");
  checkp(jstr("hello"), "\"hello\"", "a string");
  checkp(jstr("q\"b\\s/n\nt\tr\rb\bf\f\x01\x1f\x7f"), "\"q\\\"b\\\\s/n\\nt\\tr\\rb\\bf\\f\\u0001\\u001f\x7f\"",
         "a string with every kind of escape");
  checkp(jstrn("nul\0byte", 8), "\"nul\\u0000byte\"", "a string with a NUL byte");
  checkp(jstr("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"",
         "UTF-8 of 2, 3 and 4 bytes, as it is");
  checkp(jstr("bad \xff \xc3"), "\"bad \xef\xbf\xbd \xef\xbf\xbd\"", "bytes that are not UTF-8 become U+FFFD");

  /* The length takes 1 byte up to 127, 2 up to 16383, 3 beyond. */
  static const size_t lens[] = {127, 128, 300, 16383, 16384, 70000};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    char *s = repeat('x', lens[i]), *want = malloc(lens[i] + 3), name[80];
    snprintf(want, lens[i] + 3, "\"%s\"", s);
    snprintf(name, sizeof name, "a string of %zu bytes (a %d-byte length)", lens[i],
             lens[i] < 128 ? 1 : lens[i] < 16384 ? 2 : 3);
    struct jv *v = jstr(s);
    struct buf doc = encode(v);
    size_t nl = lens[i] < 128 ? 1 : lens[i] < 16384 ? 2 : 3, k = 1;
    while (k < doc.len && ((unsigned char)doc.p[k] & 0x80)) k++;
    is_int(k, nl, "the encoder wrote that many length bytes");
    buf_free(&doc);
    checkp(v, want, name);
    free(s);
    free(want);
  }
  /* 2-byte UTF-8 characters across a long string: the length counts bytes */
  struct buf u = BUF_INIT, w = BUF_INIT;
  buf_addc(&w, '"');
  for (int i = 0; i < 200; i++) buf_adds(&u, "\xc3\xa9");
  buf_add(&w, u.p, u.len);
  buf_addc(&w, '"');
  checkp(jstrn(u.p, u.len), w.p, "a string of 200 two-byte characters (400 bytes)");
  buf_free(&u);
  buf_free(&w);
}

static void containers(void)
{
  checkp(jobj(0, 0), "{}", "an empty small object");
  checkp(jobj(1, 0), "{}", "an empty large object");
  checkp(jarr(0, 0), "[]", "an empty small array");
  checkp(jarr(1, 0), "[]", "an empty large array");

  /* every scalar as an element, inlined or not */
  struct jv *all[] = {jnull(), jtrue(), jfalse(), ji16(-1), ju16(65535), ji32(-70000), ju32(4000000000u),
                      ji64(-5000000000LL), ju64(UINT64_MAX), jdbl(-0.5), jstr("s"), jdecimal("-1.50", 5, 2)};
  size_t nall = sizeof all / sizeof *all;
  const char *want_all = "[null,true,false,-1,65535,-70000,4000000000,-5000000000,18446744073709551615,-0.5,\"s\",-1.50]";
  checkp(jarr_of(0, nall, all), want_all, "a small array of every scalar type (int32 and uint32 by offset)");
  checkp(jarr_of(1, nall, all), want_all, "a large array of every scalar type (int32 and uint32 inlined)");
  checkp(jobj(0, 4, "a", ji32(INT32_MIN), "b", ju32(UINT32_MAX), "c", ji16(-7), "d", jnull()),
         "{\"a\":-2147483648,\"b\":4294967295,\"c\":-7,\"d\":null}", "a small object, int32 and uint32 by offset");
  checkp(jobj(1, 4, "a", ji32(INT32_MIN), "b", ju32(UINT32_MAX), "c", ji16(-7), "d", jfalse()),
         "{\"a\":-2147483648,\"b\":4294967295,\"c\":-7,\"d\":false}", "a large object, int32 and uint32 inlined");

  /* keys: escapes, UTF-8, the empty key, a long key */
  char *longkey = repeat('k', 300), want[400];
  snprintf(want, sizeof want, "{\"\":1,\"a\\\"b\\n\":2,\"\xc3\xa9t\xc3\xa9\":3,\"%s\":4}", longkey);
  checkp(jobj(0, 4, "", ji16(1), "a\"b\n", ji16(2), "\xc3\xa9t\xc3\xa9", ji16(3), longkey, ji16(4)), want,
         "keys with escapes, UTF-8, empty and long");
  free(longkey);

  /* nesting: objects in arrays in objects, several levels, both forms */
  struct jv *deep = jobj(0, 2, "a",
                         jarr(0, 3, ji16(1),
                              jobj(0, 1, "b", jarr(1, 2, jtrue(), jobj(1, 1, "c", jstr("deep")))),
                              jnull()),
                         "d", jobj(1, 1, "e", jobj(0, 1, "f", jarr(0, 2, jarr(1, 0), jobj(0, 0)))));
  checkp(deep, "{\"a\":[1,{\"b\":[true,{\"c\":\"deep\"}]},null],\"d\":{\"e\":{\"f\":[[],{}]}}}",
         "objects in arrays in objects, five levels, small and large mixed");
  struct jv *level = jstr("bottom");
  struct buf wantn = BUF_INIT, tmp = BUF_INIT;
  buf_adds(&wantn, "\"bottom\"");
  for (int i = 0; i < 20; i++) {
    level = i % 2 ? jobj(i % 3 == 0, 2, "k", level, "n", ji16(i)) : jarr(i % 4 == 0, 2, ji16(i), level);
    buf_reset(&tmp);
    if (i % 2) buf_printf(&tmp, "{\"k\":%s,\"n\":%d}", wantn.p, i);
    else buf_printf(&tmp, "[%d,%s]", i, wantn.p);
    buf_reset(&wantn);
    buf_add(&wantn, tmp.p, tmp.len);
  }
  checkp(level, wantn.p, "twenty levels of arrays and objects");
  buf_free(&wantn);
  buf_free(&tmp);

  /* the large form for real: a container of more than 64 KiB */
  char *big = repeat('y', 30000);
  struct jv *bigarr = jarr(1, 3, jstr(big), jobj(1, 2, "k", jstr(big), "n", ju32(123456789)), jstr(big));
  struct buf doc = encode(bigarr);
  ok(doc.len > 90000, "a large array over 64 KiB");
  buf_free(&doc);
  struct buf wb = BUF_INIT;
  buf_printf(&wb, "[\"%s\",{\"k\":\"%s\",\"n\":123456789},\"%s\"]", big, big, big);
  checkp(bigarr, wb.p, "a large array of large strings, with a large object inside");
  buf_free(&wb);
  free(big);

  /* many elements */
  struct jv *many[60];
  struct buf wm = BUF_INIT;
  buf_addc(&wm, '[');
  for (int i = 0; i < 60; i++) {
    many[i] = i % 3 == 0 ? ji16(i) : i % 3 == 1 ? jstr("e") : jobj(0, 1, "i", ji16(i));
    if (i) buf_addc(&wm, ',');
    if (i % 3 == 0) buf_printf(&wm, "%d", i);
    else if (i % 3 == 1) buf_adds(&wm, "\"e\"");
    else buf_printf(&wm, "{\"i\":%d}", i);
  }
  buf_addc(&wm, ']');
  checkp(jarr_of(0, 60, many), wm.p, "a small array of 60 elements");
  checkp(jarr_of(1, 60, many), wm.p, "the same in the large form");
  buf_free(&wm);
}

static void opaques(void)
{
  /* DECIMAL: as a number, with the column's scale */
  static const struct {
    const char *num;
    int prec, scale;
    const char *want;
  } decs[] = {
      {"12.34", 4, 2, "12.34"},
      {"-12.34", 4, 2, "-12.34"},
      {"-0.5", 3, 2, "-0.50"},
      {"1.5", 10, 4, "1.5000"},
      {"1234567890", 10, 0, "1234567890"},
      {"-1", 10, 0, "-1"},
      {"0", 1, 0, "0"},
      {"9", 1, 0, "9"},
      {"0.12345", 5, 5, "0.12345"},
      {"-0.00001", 5, 5, "-0.00001"},
      {"123456789.123456789", 18, 9, "123456789.123456789"},
      {"-1234567890.0123456789", 20, 10, "-1234567890.0123456789"},
      {"99999999999999999999999999999999999.999999999999999999999999999999", 65, 30,
       "99999999999999999999999999999999999.999999999999999999999999999999"},
      {"-12345678901234567890123456789012345.123456789012345678901234567890", 65, 30,
       "-12345678901234567890123456789012345.123456789012345678901234567890"},
      {"0.000000000000000000000000000001", 31, 30, "0.000000000000000000000000000001"},
  };
  for (size_t i = 0; i < sizeof decs / sizeof *decs; i++) {
    char name[160];
    snprintf(name, sizeof name, "opaque DECIMAL(%d,%d) %s", decs[i].prec, decs[i].scale, decs[i].num);
    checkp(jdecimal(decs[i].num, decs[i].prec, decs[i].scale), decs[i].want, name);
  }

  /* temporal types: as MySQL prints them inside JSON */
  checkp(jdate(2024, 5, 6), "\"2024-05-06\"", "opaque DATE");
  checkp(jdate(1, 1, 1), "\"0001-01-01\"", "opaque DATE, the first day");
  checkp(jdate(9999, 12, 31), "\"9999-12-31\"", "opaque DATE, the last day");
  checkp(jtime(0, 12, 34, 56, 0), "\"12:34:56.000000\"", "opaque TIME");
  checkp(jtime(1, 838, 59, 59, 0), "\"-838:59:59.000000\"", "opaque TIME, the most negative");
  checkp(jtime(0, 838, 59, 59, 999999), "\"838:59:59.999999\"", "opaque TIME, the largest, with a fraction");
  checkp(jtime(1, 0, 0, 0, 500000), "\"-00:00:00.500000\"", "opaque TIME, negative and under a second");
  checkp(jtime(1, 1, 2, 3, 4), "\"-01:02:03.000004\"", "opaque TIME, negative with microseconds");
  checkp(jdatetime(2024, 1, 2, 3, 4, 5, 678901), "\"2024-01-02 03:04:05.678901\"", "opaque DATETIME");
  checkp(jdatetime(1000, 1, 1, 0, 0, 0, 0), "\"1000-01-01 00:00:00.000000\"", "opaque DATETIME, whole seconds");
  checkp(jdatetime(9999, 12, 31, 23, 59, 59, 999999), "\"9999-12-31 23:59:59.999999\"", "opaque DATETIME, the last");
  checkp(jtimestamp(2038, 1, 19, 3, 14, 7, 999999), "\"2038-01-19 03:14:07.999999\"", "opaque TIMESTAMP");
  checkp(jtimestamp(1970, 1, 1, 0, 0, 1, 0), "\"1970-01-01 00:00:01.000000\"", "opaque TIMESTAMP, the first second");

  /* other opaque types: base64:typeNN:data, the way MySQL shows them */
  checkp(jopq(252, "\xde\xad", 2), "\"base64:type252:3q0=\"", "opaque BLOB");
  checkp(jopq(15, "hi", 2), "\"base64:type15:aGk=\"", "opaque VARCHAR");
  checkp(jopq(254, "", 0), "\"base64:type254:\"", "opaque STRING, empty");
  checkp(jopq(16, "\x05", 1), "\"base64:type16:BQ==\"", "opaque BIT");
  checkp(jopq(255, "\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40", 21),
         "\"base64:type255:AQEAAAAAAAAAAADwPwAAAAAAAABA\"", "opaque GEOMETRY");
  char *big = repeat('z', 200);
  struct jv *bigo = jopq(252, big, 200);
  struct buf want = BUF_INIT;
  buf_adds(&want, "\"base64:type252:");
  buf_add_base64(&want, big, 200);
  buf_addc(&want, '"');
  checkp(bigo, want.p, "opaque data of 200 bytes (a 2-byte length)");
  buf_free(&want);
  free(big);

  checkp(jobj(0, 3, "price", jdecimal("19.99", 5, 2), "when", jdatetime(2024, 2, 29, 12, 0, 0, 0), "day",
              jarr(0, 2, jdate(2024, 2, 29), jtime(0, 8, 30, 0, 0))),
         "{\"price\":19.99,\"when\":\"2024-02-29 12:00:00.000000\",\"day\":[\"2024-02-29\",\"08:30:00.000000\"]}",
         "opaque values inside an object and an array");
}

static int refused(const unsigned char *p, size_t n)
{
  char *t = decode(p, n);
  if (t) diag("accepted as %s", t);
  free(t);
  return t == NULL;
}

static void malformed(void)
{
  unsigned char lit3[] = {4, 3};
  ok(refused(lit3, sizeof lit3), "a literal other than 0, 1 and 2 is refused");
  static const int types[] = {13, 14, 16, 0x80, 0xff};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    unsigned char t[] = {(unsigned char)types[i], 0, 0, 0, 0, 0, 0, 0, 0};
    char name[80];
    snprintf(name, sizeof name, "type %d is refused", types[i]);
    ok(refused(t, sizeof t), name);
  }
  /* a small array [1] whose element has the unknown type 13 */
  unsigned char elt[] = {2, 1, 0, 7, 0, 13, 1, 0};
  ok(refused(elt, sizeof elt), "an element of an unknown type is refused");
  /* {"a": 1} with its key offset, key length, value offset beyond the size */
  unsigned char obj[] = {0, 1, 0, 12, 0, 11, 0, 1, 0, 12, 9, 0, 'a'};
  unsigned char kbad[sizeof obj], lbad[sizeof obj], vbad[sizeof obj], sbad[sizeof obj], cbad[sizeof obj];
  memcpy(kbad, obj, sizeof obj);
  kbad[5] = 12;
  memcpy(lbad, obj, sizeof obj);
  lbad[7] = 2;
  memcpy(vbad, obj, sizeof obj);
  vbad[10] = 12;
  memcpy(sbad, obj, sizeof obj);
  sbad[3] = 13;
  memcpy(cbad, obj, sizeof obj);
  cbad[1] = 2;
  obj[9] = 5; /* the value, an inlined int16 1 */
  obj[10] = 1;
  char *tobj = decode(obj, sizeof obj);
  is_str(tobj ? tobj : "(refused)", "{\"a\":1}", "the object built by hand decodes");
  free(tobj);
  ok(refused(kbad, sizeof kbad), "a key beyond the object's size is refused");
  ok(refused(lbad, sizeof lbad), "a key running past the object's size is refused");
  ok(refused(vbad, sizeof vbad), "a value at the object's size is refused");
  ok(refused(sbad, sizeof sbad), "an object larger than the value is refused");
  ok(refused(cbad, sizeof cbad), "more elements than the object can hold is refused");
  unsigned char lcount[] = {3, 0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0};
  ok(refused(lcount, sizeof lcount), "a large array of 2^32-1 elements in 8 bytes is refused");
  unsigned char hugesize[] = {1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  ok(refused(hugesize, sizeof hugesize), "a large object of 4 GiB in 9 bytes is refused");

  /* variable-length lengths */
  unsigned char vl5[] = {12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 'x'};
  ok(refused(vl5, sizeof vl5), "a string length of more than 5 bytes is refused");
  unsigned char vlbig[] = {12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
  ok(refused(vlbig, sizeof vlbig), "a string longer than the value is refused");
  unsigned char vlcut[] = {12, 0x80};
  ok(refused(vlcut, sizeof vlcut), "a string length cut short is refused");
  unsigned char ovl[] = {15, 246, 0x80};
  ok(refused(ovl, sizeof ovl), "an opaque length cut short is refused");
  unsigned char onone[] = {15};
  ok(refused(onone, sizeof onone), "an opaque value without its type is refused");

  /* DECIMAL out of what MySQL can hold */
  unsigned char d0[] = {15, 246, 3, 0, 0, 0x80};
  ok(refused(d0, sizeof d0), "DECIMAL of precision 0 is refused");
  unsigned char d66[40] = {15, 246, 32, 66, 0};
  ok(refused(d66, 35), "DECIMAL of precision 66 is refused");
  unsigned char dscale[] = {15, 246, 4, 2, 3, 0x80, 0};
  ok(refused(dscale, sizeof dscale), "DECIMAL with a scale above its precision is refused");
  unsigned char dshort[] = {15, 246, 3, 10, 2, 0x80};
  ok(refused(dshort, sizeof dshort), "DECIMAL(10,2) with 1 byte of digits is refused");

  /* nesting far beyond what MySQL writes (100 levels), without exhausting
   * the stack: 100000 small arrays, each the only element of the previous */
  size_t depth = 100000, n = 1 + depth * 7 + 4;
  unsigned char *nest = malloc(n);
  nest[0] = 2;
  for (size_t i = 0; i < depth; i++) {
    size_t size = (depth - i) * 7 + 4;
    unsigned char *c = nest + 1 + i * 7;
    c[0] = 1, c[1] = 0, c[2] = (unsigned char)size, c[3] = (unsigned char)(size >> 8);
    c[4] = 2, c[5] = 7, c[6] = 0;
  }
  memcpy(nest + 1 + depth * 7, "\0\0\4\0", 4);
  ok(refused(nest, n), "arrays nested 100000 deep are refused (and the stack holds)");
  /* 20 levels decode: [[[...[]...]]] */
  size_t d20 = 20, n20 = 1 + d20 * 7 + 4;
  unsigned char *nest20 = malloc(n20);
  nest20[0] = 2;
  for (size_t i = 0; i < d20; i++) {
    size_t size = (d20 - i) * 7 + 4;
    unsigned char *c = nest20 + 1 + i * 7;
    c[0] = 1, c[1] = 0, c[2] = (unsigned char)size, c[3] = (unsigned char)(size >> 8);
    c[4] = 2, c[5] = 7, c[6] = 0;
  }
  memcpy(nest20 + 1 + d20 * 7, "\0\0\4\0", 4);
  char *t20 = decode(nest20, n20);
  is_str(t20 ? t20 : "(refused)", "[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]", "arrays nested 21 deep decode");
  free(t20);
  free(nest);
  free(nest20);

  /* A value entry pointing back at its own container is a loop: refused. */
  unsigned char loop[] = {2, 1, 0, 7, 0, 2, 0, 0};
  ok(refused(loop, sizeof loop), "an array that contains itself is refused");

  /* Values stored once but referenced twice: MySQL never writes that, and
   * each level doubles the text: 20 levels of two entries sharing the next
   * level make 5 MB of text out of 205 bytes, 40 levels 5 TB out of 405. */
  size_t levels = 20, nd = 1 + levels * 10 + 4;
  unsigned char *dag = malloc(nd);
  dag[0] = 2;
  for (size_t i = 0; i < levels; i++) {
    size_t size = (levels - i) * 10 + 4;
    unsigned char *c = dag + 1 + i * 10;
    c[0] = 2, c[1] = 0, c[2] = (unsigned char)size, c[3] = (unsigned char)(size >> 8);
    c[4] = 2, c[5] = 10, c[6] = 0, c[7] = 2, c[8] = 10, c[9] = 0;
  }
  memcpy(dag + 1 + levels * 10, "\0\0\4\0", 4);
  char *tdag = decode(dag, nd);
  ok(!tdag, "values shared between entries (a 205-byte value that would make 5 MB of text) are refused");
  if (tdag) diag("accepted: %zu bytes of text from %zu bytes", strlen(tdag), nd);
  free(tdag);
  free(dag);

  /* Every byte of a document with every type in it. */
  struct jv *doc = jobj(0, 6, "n", jarr(1, 4, ji32(-1), ju32(7), ji64(-9), jdbl(2.5)), "s", jstr("str\n"), "o",
                        jobj(1, 2, "d", jdecimal("-3.14", 4, 2), "t", jtime(1, 1, 0, 0, 1)), "l",
                        jarr(0, 3, jtrue(), jfalse(), jnull()), "u", ju64(UINT64_MAX), "x", jopq(252, "ab", 2));
  checkp(doc, "{\"n\":[-1,7,-9,2.5],\"s\":\"str\\n\",\"o\":{\"d\":-3.14,\"t\":\"-01:00:00.000001\"},"
              "\"l\":[true,false,null],\"u\":18446744073709551615,\"x\":\"base64:type252:YWI=\"}",
         "a document with every kind of value");
}

/* Partial JSON diffs: (operation, packed-length path, packed-length binary
 * value) entries; the packed lengths of 251 and more take 3 bytes here. */
static void diff_add(struct buf *d, int op, const char *path, const struct jv *v)
{
  size_t pl = strlen(path);
  buf_addc(d, (char)op);
  if (pl < 251) buf_addc(d, (char)pl);
  else buf_addc(d, (char)0xfc), put_le(d, pl, 2);
  buf_adds(d, path);
  if (op == 2) return;
  struct buf b = encode(v);
  if (b.len < 251) buf_addc(d, (char)b.len);
  else if (b.len < 65536) buf_addc(d, (char)0xfc), put_le(d, b.len, 2);
  else buf_addc(d, (char)0xfd), put_le(d, b.len, 3);
  buf_add(d, b.p, b.len);
  buf_free(&b);
}

static char *applied(const char *before, const struct buf *d)
{
  struct buf out = BUF_INIT;
  char err[300];
  if (jsonb_apply_diff(before, strlen(before), (const unsigned char *)d->p, d->len, &out, err, sizeof err)) {
    buf_free(&out);
    return NULL;
  }
  return buf_steal(&out);
}

static void diffs(void)
{
  struct buf d = BUF_INIT;
  diff_add(&d, 0, "$.a.\"b c\"[1]", jobj(0, 1, "x", jarr(0, 2, ji16(1), jstr("two"))));
  diff_add(&d, 1, "$.list[9]", jdecimal("2.50", 3, 2));
  diff_add(&d, 1, "$.list[0]", jdatetime(2024, 1, 2, 3, 4, 5, 0));
  diff_add(&d, 2, "$.gone", NULL);
  diff_add(&d, 0, "$.n", ju32(4000000000u));
  const char *before = "{\"a\":{\"b c\":[0,0,0]},\"list\":[\"x\"],\"gone\":true,\"n\":1}";
  char *got = applied(before, &d);
  is_str(got ? got : "(refused)",
         "{\"a\":{\"b c\":[0,{\"x\":[1,\"two\"]},0]},\"list\":[\"2024-01-02 03:04:05.000000\",\"x\",2.50],\"n\":4000000000}",
         "a diff with nested values, a quoted key, an insert beyond the end and opaque values, applied");
  free(got);
  struct buf out = BUF_INIT;
  char err[300];
  ok(!jsonb_diff_to_json((const unsigned char *)d.p, d.len, &out, err, sizeof err), "the same diff prints");
  is_str(out.p,
         "[{\"op\":\"replace\",\"path\":\"$.a.\\\"b c\\\"[1]\",\"value\":{\"x\":[1,\"two\"]}},"
         "{\"op\":\"insert\",\"path\":\"$.list[9]\",\"value\":2.50},"
         "{\"op\":\"insert\",\"path\":\"$.list[0]\",\"value\":\"2024-01-02 03:04:05.000000\"},"
         "{\"op\":\"remove\",\"path\":\"$.gone\"},{\"op\":\"replace\",\"path\":\"$.n\",\"value\":4000000000}]",
         "and the printed diff holds its values as JSON");
  buf_free(&out);

  /* Cut at every byte: refused, except where an entry ends (a shorter diff). */
  size_t ends[8], nends = 0;
  {
    const unsigned char *p = (const unsigned char *)d.p, *e = p + d.len;
    while (p < e) { /* entry boundaries, from the lengths written above */
      int op = *p++;
      size_t pl = *p < 251 ? *p++ : (p += 3, (size_t)p[-2] | (size_t)p[-1] << 8);
      p += pl;
      if (op != 2) {
        size_t vl;
        if (*p < 251) vl = *p++;
        else if (*p == 0xfc) vl = (size_t)p[1] | (size_t)p[2] << 8, p += 3;
        else vl = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16, p += 4;
        p += vl;
      }
      ends[nends++] = (size_t)(p - (const unsigned char *)d.p);
    }
  }
  int bad = 0;
  for (size_t k = 0; k < d.len; k++) {
    int at_end = k == 0;
    for (size_t i = 0; i < nends; i++) at_end |= ends[i] == k;
    unsigned char *copy = malloc(k ? k : 1);
    memcpy(copy, d.p, k);
    struct buf o = BUF_INIT;
    buf_adds(&o, "kept");
    int r = jsonb_diff_to_json(copy, k, &o, err, sizeof err);
    if (at_end ? r != 0 : (r != -1 || strcmp(o.p, "kept"))) {
      if (!bad++) diag("a diff cut at %zu bytes: %d, %s", k, r, o.p);
    }
    buf_reset(&o);
    r = jsonb_apply_diff(before, strlen(before), copy, k, &o, err, sizeof err);
    if (!at_end && r != -1) {
      if (!bad++) diag("a diff cut at %zu bytes applies: %s", k, o.p);
    }
    buf_free(&o);
    free(copy);
  }
  ok(!bad, "a diff cut short inside an entry is refused, printed or applied; at an entry's end it is a shorter diff");
  buf_free(&d);

  /* what cannot be applied */
  struct buf bad_op = BUF_INIT;
  buf_addc(&bad_op, 3);
  buf_addc(&bad_op, 3);
  buf_adds(&bad_op, "$.a");
  ok(!applied("{\"a\":1}", &bad_op), "an unknown operation is refused");
  buf_free(&bad_op);
  struct buf wild = BUF_INIT;
  diff_add(&wild, 0, "$.*", ji16(1));
  ok(!applied("{\"a\":1}", &wild), "a wildcard path is refused");
  buf_free(&wild);
  struct buf whole = BUF_INIT;
  diff_add(&whole, 0, "$", ji16(1));
  ok(!applied("{\"a\":1}", &whole), "replacing the whole document is not a diff");
  buf_free(&whole);
  struct buf past = BUF_INIT;
  diff_add(&past, 0, "$[5]", ji16(1));
  ok(!applied("[1,2]", &past), "replacing beyond the end of an array is refused");
  buf_free(&past);
  struct buf big = BUF_INIT;
  diff_add(&big, 0, "$.a", ju64(UINT64_MAX));
  got = applied("{\"a\":1}", &big);
  is_str(got ? got : "(refused)", "{\"a\":18446744073709551615}", "a value of 2^64-1 is set exactly");
  free(got);
  buf_free(&big);
  struct buf rm = BUF_INIT;
  diff_add(&rm, 2, "$[0]", NULL);
  got = applied("[[1],2]", &rm);
  is_str(got ? got : "(refused)", "[2]", "removing an array element");
  free(got);
  buf_free(&rm);

  /* The parts of the before image that the diff does not touch stay as they
   * were: numbers included (a DECIMAL inside JSON keeps all its digits, a
   * double its shortest text, as jsonb_to_json prints them). */
  struct buf one = BUF_INIT;
  diff_add(&one, 0, "$.b", ji16(7));
  got = applied("{\"a\":12345678901234567890.0123456789,\"b\":1}", &one);
  is_str(got ? got : "(refused)", "{\"a\":12345678901234567890.0123456789,\"b\":7}",
         "a DECIMAL of 30 digits the diff does not touch keeps its digits");
  free(got);
  got = applied("{\"a\":0.1,\"c\":1e+300,\"b\":1}", &one);
  is_str(got ? got : "(refused)", "{\"a\":0.1,\"c\":1e+300,\"b\":7}",
         "doubles the diff does not touch keep their text");
  free(got);
  buf_free(&one);
  struct buf dec = BUF_INIT;
  diff_add(&dec, 0, "$.b", jdecimal("-1234567890.0123456789", 20, 10));
  got = applied("{\"b\":1}", &dec);
  is_str(got ? got : "(refused)", "{\"b\":-1234567890.0123456789}", "a DECIMAL of 20 digits set by a diff keeps its digits");
  free(got);
  buf_free(&dec);
}

/* Temporal values at the edge of the packed integer: the decoder must not
 * negate INT64_MIN (undefined behaviour: UBSan stops the process here). */
static void temporal_extremes(void)
{
  static const int mtypes[] = {11, 12, 10, 7};
  for (size_t i = 0; i < sizeof mtypes / sizeof *mtypes; i++) {
    char name[120];
    struct buf doc = encode(jtemporal(mtypes[i], INT64_MIN));
    char *t = decode((const unsigned char *)doc.p, doc.len);
    snprintf(name, sizeof name, "opaque type %d with the packed value -2^63 decodes or is refused, and nothing more",
             mtypes[i]);
    ok(t == NULL || t[0] == '"', name);
    free(t);
    buf_free(&doc);
  }
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

  scalars();
  strings();
  containers();
  opaques();
  malformed();
  diffs();
  /* Last: under UBSan this one ends the process (see temporal_extremes). */
  temporal_extremes();
  pool_free();
  return done_testing();
}
