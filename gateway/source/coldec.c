/* coldec.c - see coldec.h. The storage formats are the server's
 * Field::pack() images: little-endian integers, big-endian "binary sortable"
 * DECIMAL and temporal types (with an offset so that negative values sort
 * first), and length-prefixed strings. */
#include "source/coldec.h"
#include "source/jsonb.h"
#include "util/util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

/* The reader's take and uint (binlog.h), inline: they run for every value. */
static inline const unsigned char *take(struct reader *r, size_t n)
{
  if (r->overrun || (size_t)(r->end - r->p) < n) {
    r->overrun = 1;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  return p;
}

static inline uint64_t take_uint(struct reader *r, size_t n)
{
  const unsigned char *p = take(r, n);
  if (!p) return 0;
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

/* "00" to "99": digits are written two at a time. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v as exactly width decimal digits (zero-padded, high digits cut). */
static char *put_digits(char *o, uint32_t v, int width)
{
  int i = width;
  for (; i >= 2; i -= 2) {
    unsigned r = v % 100;
    v /= 100;
    o[i - 2] = digit_pairs[2 * r], o[i - 1] = digit_pairs[2 * r + 1];
  }
  if (i) o[0] = (char)('0' + v % 10);
  return o + width;
}

/* Writes v, below 100, as two digits. */
static inline char *put2(char *o, unsigned v)
{
  o[0] = digit_pairs[2 * v], o[1] = digit_pairs[2 * v + 1];
  return o + 2;
}

/* Writes v with at least width digits (zero-padded), as %0*u does. */
static char *put_number(char *o, uint32_t v, int width)
{
  int n = v < 100000 ? (v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : v < 10000 ? 4 : 5)
                     : v < 10000000 ? (v < 1000000 ? 6 : 7) : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
  return put_digits(o, v, n > width ? n : width);
}

/* A DECIMAL's chunk of nb (1 to 4) big-endian bytes at p, its bits xor
 * flip; the first chunk of a value has its sign bit cleared. */
static inline uint32_t chunk(const unsigned char *p, int nb, uint32_t flip, int first)
{
  uint32_t v;
  switch (nb) {
  case 1: v = p[0]; break;
  case 2: v = (uint32_t)p[0] << 8 | p[1]; break;
  case 3: v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; break;
  default: v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; break;
  }
  int bits = 8 * nb;
  v ^= flip >> (32 - bits);
  if (first) v ^= 1u << (bits - 1);
  return v;
}

int coldec_decimal(const unsigned char *p, size_t n, int precision, int scale, struct buf *out)
{
  static const uint32_t pow10[10] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};
  if (precision <= 0 || precision > 65 || scale < 0 || scale > 38 || scale > precision) return -1;
  int intg = precision - scale;
  int intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
  size_t size = (size_t)(intg0 * 4 + dig2bytes[intg0x] + frac0 * 4 + dig2bytes[frac0x]);
  if (size > n || size == 0 || size > 40) return -1;
  /* The sign is the top bit (set for positive); negatives are stored
   * inverted: chunks are read with the bits flipped back, the sign bit
   * cleared in the first one. */
  int neg = !(p[0] & 0x80);
  uint32_t flip = neg ? 0xffffffffu : 0;

  /* The text is written straight into out: a sign, at most 65 integer
   * digits, a point and at most 38 fraction digits. The integer part is its
   * chunks of digits (the first of intg0x digits, then 9 each) with the
   * leading zeros dropped, one kept: the first chunk that is not zero
   * without its zeros, the others whole. A chunk holds no more digits than
   * its width (a malformed one loses its higher ones). */
  buf_reserve(out, 112);
  char *o = out->p + out->len;
  if (neg) *o++ = '-';
  int started = 0;
  size_t off = 0;
  if (intg0x) {
    uint32_t v = chunk(p, dig2bytes[intg0x], flip, 1) % pow10[intg0x];
    off += (size_t)dig2bytes[intg0x];
    if (v) o = put_number(o, v, 1), started = 1;
  }
  for (int i = 0; i < intg0; i++, off += 4) {
    uint32_t v = chunk(p + off, 4, flip, off == 0) % pow10[9];
    if (started) o = put_digits(o, v, 9);
    else if (v) o = put_number(o, v, 1), started = 1;
  }
  if (!started) *o++ = '0';
  if (scale) {
    *o++ = '.';
    for (int i = 0; i < frac0; i++, off += 4) o = put_digits(o, chunk(p + off, 4, flip, off == 0), 9);
    if (frac0x) o = put_digits(o, chunk(p + off, dig2bytes[frac0x], flip, off == 0), frac0x);
  }
  out->len = (size_t)(o - out->p);
  out->p[out->len] = 0;
  return (int)size;
}

/* The fraction of a second: '.' and fsp digits of usec (none for fsp 0). */
static char *put_frac(char *o, unsigned usec, int fsp)
{
  if (fsp <= 0) return o;
  static const unsigned div[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
  *o++ = '.';
  return put_digits(o, usec / div[fsp], fsp);
}

void coldec_time_text(int neg, unsigned hours, unsigned min, unsigned sec, unsigned usec, int fsp,
                      struct buf *out)
{
  char s[40], *o = s;
  if (neg) *o++ = '-';
  o = put_number(o, hours, 2), *o++ = ':';
  o = put_number(o, min, 2), *o++ = ':';
  o = put_number(o, sec, 2);
  o = put_frac(o, usec, fsp > 6 ? 6 : fsp);
  buf_add(out, s, (size_t)(o - s));
}

static void add_datetime(struct buf *out, unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi,
                         unsigned s, unsigned usec, int fsp)
{
  buf_reserve(out, 32);
  char *t = out->p + out->len, *o = t;
  /* Zero or partial dates are printed as the server prints them. */
  o = put2(o, y / 100 % 100);
  o = put2(o, y % 100), *o++ = '-';
  /* the callers' fields below the year are below 100 already */
  o = put2(o, mo), *o++ = '-';
  o = put2(o, d), *o++ = (y == 0 || mo == 0 || d == 0) ? ' ' : 'T';
  o = put2(o, h), *o++ = ':';
  o = put2(o, mi), *o++ = ':';
  o = put2(o, s);
  o = put_frac(o, usec, fsp);
  out->len += (size_t)(o - t);
  out->p[out->len] = 0;
}

/* Fraction of the MySQL 5.6 temporal types: (fsp+1)/2 big-endian bytes. */
static unsigned read_frac(const unsigned char *p, int fsp)
{
  switch (fsp) {
  case 1: case 2: return p[0] * 10000u;
  case 3: case 4: return (unsigned)be_n(p, 2) * 100u;
  case 5: case 6: return (unsigned)be_n(p, 3);
  default: return 0;
  }
}

static size_t frac_bytes(int fsp)
{
  return (size_t)((fsp + 1) / 2);
}

/* The DATETIME2 image at p (5 bytes, then the fraction) as text. */
static __attribute__((noinline)) void add_datetime2(struct buf *out, const unsigned char *p, int fsp)
{
  uint64_t intpart = be_n(p, 5) - 0x8000000000ULL;
  unsigned usec = read_frac(p + 5, fsp);
  uint64_t ymd = intpart >> 17, ym = ymd >> 5, hms = intpart % (1 << 17);
  add_datetime(out, (unsigned)(ym / 13), (unsigned)(ym % 13), (unsigned)(ymd % 32), (unsigned)(hms >> 12),
               (unsigned)((hms >> 6) % 64), (unsigned)(hms % 64), usec, fsp);
}

/* Appends text as a string value. */
static void set_text(struct value *v, struct buf *arena, size_t start)
{
  v->kind = VAL_STRING;
  v->off = start;
  v->len = (uint32_t)(arena->len - start);
}

/* A coordinate as the server's ST_AsText prints it: the shortest digits that
 * read back, in fixed notation for exponents from -15 to 14, otherwise as
 * 1.5e15 (no plus sign, no leading zeros); -0 is 0. */
static void wkt_num(struct buf *out, double d)
{
  char t[40];
  if (d == 0 || !isfinite(d)) {
    buf_addc(out, '0');
    return;
  }
  int lo = fabs(d) < DBL_MIN ? 1 : 15;
  for (int prec = lo; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*e", prec - 1, d);
    if (strtod(t, NULL) == d) break;
  }
  /* t is [-]D[.DDD]e[+-]XX: split it into digits and exponent. */
  char digits[24];
  size_t nd = 0;
  const char *c = t;
  int neg = *c == '-';
  if (neg) c++;
  for (; *c && *c != 'e'; c++)
    if (*c != '.' && nd < sizeof digits - 1) digits[nd++] = *c;
  int e = atoi(c + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = 0;
  if (neg) buf_addc(out, '-');
  if (e >= -15 && e < 15) {
    if (e < 0) {
      buf_add(out, "0.", 2);
      for (int z = -1; z > e; z--) buf_addc(out, '0');
      buf_add(out, digits, nd);
    } else {
      size_t ip = (size_t)e + 1;
      for (size_t i = 0; i < ip; i++) buf_addc(out, i < nd ? digits[i] : '0');
      if (nd > ip) {
        buf_addc(out, '.');
        buf_add(out, digits + ip, nd - ip);
      }
    }
  } else {
    buf_addc(out, digits[0]);
    if (nd > 1) {
      buf_addc(out, '.');
      buf_add(out, digits + 1, nd - 1);
    }
    snprintf(t, sizeof t, "e%d", e);
    buf_adds(out, t);
  }
}

static int wkb_geom(struct reader *r, struct buf *out, int depth, int with_name);

static int wkb_points(struct reader *r, struct buf *out, int little, uint32_t n)
{
  for (uint32_t i = 0; i < n; i++) {
    const unsigned char *p = take(r, 16);
    if (!p) return -1;
    double xy[2];
    for (int k = 0; k < 2; k++) {
      uint64_t bits = little ? le64(p + 8 * k) : be_n(p + 8 * k, 8);
      memcpy(&xy[k], &bits, 8);
    }
    if (i) buf_addc(out, ',');
    wkt_num(out, xy[0]);
    buf_addc(out, ' ');
    wkt_num(out, xy[1]);
  }
  return 0;
}

static uint32_t wkb_u32(struct reader *r, int little)
{
  const unsigned char *p = take(r, 4);
  if (!p) return 0;
  return little ? le32(p) : (uint32_t)be_n(p, 4);
}

static int wkb_geom(struct reader *r, struct buf *out, int depth, int with_name)
{
  static const char *names[] = {NULL, "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING",
                                "MULTIPOLYGON", "GEOMETRYCOLLECTION"};
  if (depth > 32) return -1;
  const unsigned char *bo = take(r, 1);
  if (!bo || *bo > 1) return -1;
  int little = *bo == 1;
  uint32_t type = wkb_u32(r, little);
  if (r->overrun || type < 1 || type > 7) return -1;
  if (with_name) buf_adds(out, names[type]);
  uint32_t n, m;
  if (type > 1) {
    /* Peek at the count: an empty geometry prints as "NAME EMPTY". */
    struct reader peek = *r;
    if (wkb_u32(&peek, little) == 0 && !peek.overrun) {
      *r = peek;
      buf_adds(out, with_name ? " EMPTY" : "EMPTY");
      return 0;
    }
  }
  buf_addc(out, '(');
  switch (type) {
  case 1:
    if (wkb_points(r, out, little, 1)) return -1;
    break;
  case 2:
    n = wkb_u32(r, little);
    if (r->overrun || n > reader_left(r) / 16 || wkb_points(r, out, little, n)) return -1;
    break;
  case 3:
    n = wkb_u32(r, little);
    if (r->overrun || n > reader_left(r) / 4) return -1;
    for (uint32_t i = 0; i < n; i++) {
      m = wkb_u32(r, little);
      if (r->overrun || m > reader_left(r) / 16) return -1;
      buf_adds(out, i ? ",(" : "(");
      if (wkb_points(r, out, little, m)) return -1;
      buf_addc(out, ')');
    }
    break;
  case 4: /* MULTIPOINT(1 1,2 2): member points without parentheses */
    n = wkb_u32(r, little);
    if (r->overrun || n > reader_left(r) / 21) return -1;
    for (uint32_t i = 0; i < n; i++) {
      const unsigned char *mbo = take(r, 1);
      if (!mbo || *mbo > 1) return -1;
      if (wkb_u32(r, *mbo == 1) != 1 || r->overrun) return -1;
      if (i) buf_addc(out, ',');
      if (wkb_points(r, out, *mbo == 1, 1)) return -1;
    }
    break;
  default:
    n = wkb_u32(r, little);
    if (r->overrun || n > reader_left(r) / 5) return -1;
    for (uint32_t i = 0; i < n; i++) {
      if (i) buf_addc(out, ',');
      /* Members of MULTI* types are written without their type name. */
      if (wkb_geom(r, out, depth + 1, type == 7)) return -1;
    }
  }
  buf_addc(out, ')');
  return 0;
}

int coldec_wkb_to_wkt(const unsigned char *p, size_t n, struct buf *out)
{
  struct reader r;
  reader_init(&r, p, n);
  size_t start = out->len;
  if (wkb_geom(&r, out, 0, 1)) {
    out->len = start;
    if (out->p) out->p[start] = 0;
    return -1;
  }
  return 0;
}

/* Strings: binary collations keep their bytes, text becomes UTF-8. When the
 * binlog gave no charset, valid UTF-8 is taken as text and anything else as
 * bytes. */
static __attribute__((noinline)) void set_string(struct value *v, struct buf *arena, const unsigned char *s,
                                                 size_t len, const struct column *c, struct charset_conv *cs,
                                                 size_t pad_to)
{
  size_t start = arena->len;
  uint16_t collation = c->charset;
  enum charset_kind k = c->text_kind ? (enum charset_kind)(c->text_kind - 1) : charset_kind_of(cs, collation);
  if (k == CS_UNKNOWN && !utf8_valid((const char *)s, len)) k = CS_BINARY;
  if (k == CS_UTF8 || k == CS_UNKNOWN) {
    buf_add(arena, s, len); /* UTF-8 already, as charset_to_utf8 would find */
    v->kind = VAL_STRING;
  } else if (k == CS_BINARY) {
    buf_add(arena, s, len);
    if (pad_to > len) { /* BINARY(n) is logged without its trailing zero bytes */
      buf_reserve(arena, pad_to - len);
      memset(arena->p + arena->len, 0, pad_to - len);
      arena->len += pad_to - len;
      arena->p[arena->len] = 0;
    }
    v->kind = VAL_BYTES;
  } else {
    if (k == CS_LATIN1) charset_latin1_to_utf8((const char *)s, len, arena);
    else charset_to_utf8(cs, collation, (const char *)s, len, arena);
    v->kind = VAL_STRING;
  }
  v->off = start;
  v->len = (uint32_t)(arena->len - start);
}

static int cut_short(const struct column *c, char *err, size_t errsz)
{
  return bh_err(err, errsz, "value of column '%s' (%s) cut short", c->name, column_type_name(c));
}

static __attribute__((noinline)) int decode_value(struct reader *r, const struct column *c, struct value *v,
                                                  struct buf *arena, struct charset_conv *cs, char *err,
                                                  size_t errsz)
{
  const unsigned char *p;
  size_t start = arena->len;
  int uns = c->is_unsigned == 1;
  switch (c->type) {
  case MT_TINY:
    if (!(p = take(r, 1))) return cut_short(c, err, errsz);
    if (uns) v->kind = VAL_UINT, v->u = p[0];
    else v->kind = VAL_INT, v->i = (int8_t)p[0];
    return 0;
  case MT_SHORT:
    if (!(p = take(r, 2))) return cut_short(c, err, errsz);
    if (uns) v->kind = VAL_UINT, v->u = le16(p);
    else v->kind = VAL_INT, v->i = (int16_t)le16(p);
    return 0;
  case MT_INT24:
    if (!(p = take(r, 3))) return cut_short(c, err, errsz);
    if (uns) v->kind = VAL_UINT, v->u = le24(p);
    else v->kind = VAL_INT, v->i = (int32_t)(le24(p) << 8) >> 8;
    return 0;
  case MT_LONG:
    if (!(p = take(r, 4))) return cut_short(c, err, errsz);
    if (uns) v->kind = VAL_UINT, v->u = le32(p);
    else v->kind = VAL_INT, v->i = (int32_t)le32(p);
    return 0;
  case MT_LONGLONG:
    if (!(p = take(r, 8))) return cut_short(c, err, errsz);
    if (uns) v->kind = VAL_UINT, v->u = le64(p);
    else v->kind = VAL_INT, v->i = (int64_t)le64(p);
    return 0;
  case MT_FLOAT: {
    if (!(p = take(r, 4))) return cut_short(c, err, errsz);
    uint32_t bits = le32(p);
    float f;
    memcpy(&f, &bits, 4);
    v->kind = VAL_FLOAT, v->d = f;
    return 0;
  }
  case MT_DOUBLE: {
    if (!(p = take(r, 8))) return cut_short(c, err, errsz);
    uint64_t bits = le64(p);
    memcpy(&v->d, &bits, 8);
    v->kind = VAL_DOUBLE;
    return 0;
  }
  case MT_YEAR:
    if (!(p = take(r, 1))) return cut_short(c, err, errsz);
    v->kind = VAL_INT, v->i = p[0] ? 1900 + p[0] : 0;
    return 0;
  case MT_NEWDECIMAL: {
    int prec = c->meta >> 8, scale = c->meta & 0xff;
    int used = coldec_decimal(r->p, reader_left(r), prec, scale, arena);
    if (used < 0)
      return bh_err(err, errsz, "value of column '%s' (decimal(%d,%d)) cut short or malformed", c->name, prec,
                    scale);
    r->p += used;
    v->kind = VAL_DECIMAL, v->off = start, v->len = (uint32_t)(arena->len - start);
    return 0;
  }
  case MT_DATE:
  case MT_NEWDATE: {
    if (!(p = take(r, 3))) return cut_short(c, err, errsz);
    uint32_t d = le24(p);
    char t[16], *o = t;
    o = put_number(o, d >> 9, 4), *o++ = '-';
    o = put_digits(o, (d >> 5) & 15, 2), *o++ = '-';
    o = put_digits(o, d & 31, 2);
    buf_add(arena, t, (size_t)(o - t));
    set_text(v, arena, start);
    return 0;
  }
  case MT_TIME: { /* pre-5.6: HHMMSS as a signed 3-byte integer */
    if (!(p = take(r, 3))) return cut_short(c, err, errsz);
    int32_t t = (int32_t)(le24(p) << 8) >> 8;
    int neg = t < 0;
    uint32_t a = (uint32_t)(neg ? -t : t);
    coldec_time_text(neg, a / 10000, a / 100 % 100, a % 100, 0, 0, arena);
    set_text(v, arena, start);
    return 0;
  }
  case MT_TIME2: {
    int fsp = c->meta > 6 ? 6 : c->meta;
    if (!(p = take(r, 3 + frac_bytes(fsp)))) return cut_short(c, err, errsz);
    /* Packed as (intpart << 24) + microseconds, offset so that it sorts. */
    int64_t intpart = (int64_t)be_n(p, 3) - 0x800000;
    int64_t frac = 0;
    if (fsp == 1 || fsp == 2) {
      frac = p[3];
      if (intpart < 0 && frac) intpart++, frac -= 0x100;
      frac *= 10000;
    } else if (fsp == 3 || fsp == 4) {
      frac = (int64_t)be_n(p + 3, 2);
      if (intpart < 0 && frac) intpart++, frac -= 0x10000;
      frac *= 100;
    }
    int64_t packed = intpart * (1LL << 24) + frac;
    if (fsp >= 5) packed = (int64_t)be_n(p, 6) - 0x800000000000LL;
    int neg = packed < 0;
    int64_t mag = neg ? -packed : packed;
    uint64_t hms = (uint64_t)mag >> 24;
    coldec_time_text(neg, (unsigned)((hms >> 12) % 1024), (unsigned)((hms >> 6) % 64), (unsigned)(hms % 64),
                     (unsigned)(mag % (1 << 24)), fsp, arena);
    set_text(v, arena, start);
    return 0;
  }
  case MT_DATETIME: { /* pre-5.6: YYYYMMDDhhmmss as an 8-byte integer */
    if (!(p = take(r, 8))) return cut_short(c, err, errsz);
    uint64_t t = le64(p);
    uint64_t d = t / 1000000, h = t % 1000000;
    add_datetime(arena, (unsigned)(d / 10000), (unsigned)(d / 100 % 100), (unsigned)(d % 100),
                 (unsigned)(h / 10000), (unsigned)(h / 100 % 100), (unsigned)(h % 100), 0, 0);
    set_text(v, arena, start);
    return 0;
  }
  case MT_DATETIME2: {
    int fsp = c->meta > 6 ? 6 : c->meta;
    if (!(p = take(r, 5 + frac_bytes(fsp)))) return cut_short(c, err, errsz);
    add_datetime2(arena, p, fsp);
    set_text(v, arena, start);
    return 0;
  }
  case MT_TIMESTAMP:
  case MT_TIMESTAMP2: {
    int fsp = c->type == MT_TIMESTAMP2 ? (c->meta > 6 ? 6 : c->meta) : 0;
    uint64_t secs;
    unsigned usec = 0;
    if (c->type == MT_TIMESTAMP) {
      if (!(p = take(r, 4))) return cut_short(c, err, errsz);
      secs = le32(p);
    } else {
      if (!(p = take(r, 4 + frac_bytes(fsp)))) return cut_short(c, err, errsz);
      secs = be_n(p, 4);
      usec = read_frac(p + 4, fsp);
    }
    if (secs == 0 && usec == 0) {
      add_datetime(arena, 0, 0, 0, 0, 0, 0, 0, fsp);
    } else {
      time_t tt = (time_t)secs;
      struct tm tm;
      gmtime_r(&tt, &tm);
      add_datetime(arena, (unsigned)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday,
                   (unsigned)tm.tm_hour, (unsigned)tm.tm_min, (unsigned)tm.tm_sec, usec, fsp);
      buf_addc(arena, 'Z');
    }
    set_text(v, arena, start);
    return 0;
  }
  case MT_BIT: {
    size_t nbytes = (size_t)(c->meta >> 8) + ((c->meta & 0xff) ? 1 : 0);
    if (nbytes > 8 || !(p = take(r, nbytes))) return cut_short(c, err, errsz);
    v->kind = VAL_BIT, v->u = be_n(p, nbytes);
    return 0;
  }
  case MT_ENUM: {
    size_t nbytes = c->meta ? c->meta : 1;
    if (nbytes > 2 || !(p = take(r, nbytes))) return cut_short(c, err, errsz);
    v->kind = VAL_ENUM, v->u = nbytes == 1 ? p[0] : le16(p);
    return 0;
  }
  case MT_SET: {
    size_t nbytes = c->meta ? c->meta : 1;
    if (nbytes > 8 || !(p = take(r, nbytes))) return cut_short(c, err, errsz);
    v->kind = VAL_SET, v->u = 0;
    for (size_t i = nbytes; i-- > 0;) v->u = (v->u << 8) | p[i];
    return 0;
  }
  case MT_STRING: {
    size_t len = c->meta > 255 ? take_uint(r, 2) : take_uint(r, 1);
    if (r->overrun || !(p = take(r, len))) return cut_short(c, err, errsz);
    set_string(v, arena, p, len, c, cs, c->charset == CHARSET_BINARY ? c->meta : 0);
    return 0;
  }
  case MT_VARCHAR:
  case MT_VAR_STRING: {
    size_t len = c->meta > 255 ? take_uint(r, 2) : take_uint(r, 1);
    if (r->overrun || !(p = take(r, len))) return cut_short(c, err, errsz);
    set_string(v, arena, p, len, c, cs, 0);
    return 0;
  }
  case MT_BLOB:
  case MT_TINY_BLOB:
  case MT_MEDIUM_BLOB:
  case MT_LONG_BLOB:
  case MT_GEOMETRY:
  case MT_JSON:
  case MT_VECTOR: {
    size_t lb = c->meta;
    if (lb < 1 || lb > 4) return bh_err(err, errsz, "column '%s' (%s) has a length size of %zu", c->name,
                                        column_type_name(c), lb);
    size_t len = take_uint(r, lb);
    if (r->overrun || !(p = take(r, len))) return cut_short(c, err, errsz);
    if (c->type == MT_GEOMETRY) {
      /* 4 bytes of SRID, then WKB. */
      if (len < 4 || coldec_wkb_to_wkt(p + 4, len - 4, arena))
        return bh_err(err, errsz, "value of column '%s' (geometry) is not valid WKB", c->name);
      set_text(v, arena, start);
    } else if (c->type == MT_JSON) {
      char jerr[128];
      if (jsonb_to_json(p, len, arena, jerr, sizeof jerr))
        return bh_err(err, errsz, "value of column '%s' (json): %s", c->name, jerr);
      v->kind = VAL_JSON, v->off = start, v->len = (uint32_t)(arena->len - start);
    } else if (c->type == MT_VECTOR) {
      /* MySQL 9 VECTOR: an array of little-endian floats. */
      if (len % 4) return bh_err(err, errsz, "value of column '%s' (vector) is %zu bytes, not whole floats",
                                 c->name, len);
      buf_addc(arena, '[');
      for (size_t k = 0; k < len; k += 4) {
        uint32_t bits = le32(p + k);
        float f;
        memcpy(&f, &bits, 4);
        if (k) buf_addc(arena, ',');
        buf_add_double(arena, f, 1);
      }
      buf_addc(arena, ']');
      v->kind = VAL_JSON, v->off = start, v->len = (uint32_t)(arena->len - start);
    } else {
      set_string(v, arena, p, len, c, cs, 0);
    }
    return 0;
  }
  default:
    return bh_err(err, errsz, "column '%s' has type code %u, which binhook cannot decode", c->name, c->type);
  }
}

int coldec_row(struct reader *r, const struct table *t, const unsigned char *present, struct value *vals,
               struct buf *arena, struct charset_conv *cs, char *err, size_t errsz)
{
  return coldec_row_partial(r, t, present, vals, arena, cs, NULL, NULL, err, errsz);
}

/* A JSON column sent as a diff: applied to the before image when there is
 * one, otherwise kept as the diff under a key that says so. */
static int partial_json(struct reader *r, const struct column *c, struct value *v, const struct value *before,
                        struct buf *arena, char *err, size_t errsz)
{
  size_t lb = c->meta >= 1 && c->meta <= 4 ? c->meta : 4;
  size_t len = take_uint(r, lb);
  const unsigned char *p = take(r, len);
  if (!p) return cut_short(c, err, errsz);
  size_t start = arena->len;
  char jerr[200];
  if (before && before->kind == VAL_JSON) {
    /* The before text lives in the same arena, which may move as it grows. */
    char *copy = xstrndup(arena->p + before->off, before->len);
    int rc = jsonb_apply_diff(copy, before->len, p, len, arena, jerr, sizeof jerr);
    free(copy);
    if (!rc) {
      v->kind = VAL_JSON, v->off = start, v->len = (uint32_t)(arena->len - start);
      return 0;
    }
  }
  buf_addlit(arena, "{\"$partial_json_diff\":");
  if (jsonb_diff_to_json(p, len, arena, jerr, sizeof jerr))
    return bh_err(err, errsz, "value of column '%s' (json, partial): %s", c->name, jerr);
  buf_addc(arena, '}');
  v->kind = VAL_JSON, v->off = start, v->len = (uint32_t)(arena->len - start);
  return 0;
}

/* The most common columns (integers, DOUBLE, DECIMAL, DATETIME, ENUM,
 * VARCHAR, TEXT) whole in the image, decoded as decode_value decodes them,
 * in the row loop: 1 when done, 0 (nothing read) to let decode_value do it,
 * errors included. */
static inline __attribute__((always_inline)) int fast_value(struct reader *r, const struct column *c,
                                                            struct value *v, struct buf *arena,
                                                            struct charset_conv *cs)
{
  const unsigned char *p = r->p;
  size_t left = (size_t)(r->end - p), lb, len;
  int uns = c->is_unsigned == 1;
  switch (c->type) {
  case MT_TINY:
    if (left < 1) return 0;
    if (uns) v->kind = VAL_UINT, v->u = p[0];
    else v->kind = VAL_INT, v->i = (int8_t)p[0];
    r->p = p + 1;
    return 1;
  case MT_SHORT:
    if (left < 2) return 0;
    if (uns) v->kind = VAL_UINT, v->u = le16(p);
    else v->kind = VAL_INT, v->i = (int16_t)le16(p);
    r->p = p + 2;
    return 1;
  case MT_INT24:
    if (left < 3) return 0;
    if (uns) v->kind = VAL_UINT, v->u = le24(p);
    else v->kind = VAL_INT, v->i = (int32_t)(le24(p) << 8) >> 8;
    r->p = p + 3;
    return 1;
  case MT_LONG:
    if (left < 4) return 0;
    if (uns) v->kind = VAL_UINT, v->u = le32(p);
    else v->kind = VAL_INT, v->i = (int32_t)le32(p);
    r->p = p + 4;
    return 1;
  case MT_LONGLONG:
    if (left < 8) return 0;
    if (uns) v->kind = VAL_UINT, v->u = le64(p);
    else v->kind = VAL_INT, v->i = (int64_t)le64(p);
    r->p = p + 8;
    return 1;
  case MT_DOUBLE: {
    if (left < 8) return 0;
    uint64_t bits = le64(p);
    memcpy(&v->d, &bits, 8);
    v->kind = VAL_DOUBLE;
    r->p = p + 8;
    return 1;
  }
  case MT_ENUM:
    lb = c->meta ? c->meta : 1;
    if (lb > 2 || left < lb) return 0;
    v->kind = VAL_ENUM, v->u = lb == 1 ? p[0] : le16(p);
    r->p = p + lb;
    return 1;
  case MT_NEWDECIMAL: {
    size_t start = arena->len;
    int used = coldec_decimal(p, left, c->meta >> 8, c->meta & 0xff, arena);
    if (used < 0) return 0; /* nothing written: decode_value says why */
    v->kind = VAL_DECIMAL, v->off = start, v->len = (uint32_t)(arena->len - start);
    r->p = p + used;
    return 1;
  }
  case MT_DATETIME2: {
    int fsp = c->meta > 6 ? 6 : c->meta;
    size_t size = 5 + frac_bytes(fsp);
    if (left < size) return 0;
    size_t start = arena->len;
    add_datetime2(arena, p, fsp);
    set_text(v, arena, start);
    r->p = p + size;
    return 1;
  }
  case MT_VARCHAR:
  case MT_VAR_STRING:
    lb = c->meta > 255 ? 2 : 1;
    if (left < lb) return 0;
    len = lb == 1 ? p[0] : le16(p);
    break;
  case MT_BLOB:
  case MT_TINY_BLOB:
  case MT_MEDIUM_BLOB:
  case MT_LONG_BLOB:
    lb = c->meta;
    if (lb < 1 || lb > 4 || left < lb) return 0;
    len = lb == 1 ? p[0] : lb == 2 ? le16(p) : lb == 3 ? le24(p) : le32(p);
    break;
  default:
    return 0;
  }
  if (left - lb < len) return 0;
  set_string(v, arena, p + lb, len, c, cs, 0);
  r->p = p + lb + len;
  return 1;
}

/* The number of bits set among the first nbits of bm. */
static uint32_t bits_set(const unsigned char *bm, uint32_t nbits)
{
  static const uint8_t nibble[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
  uint32_t n = 0, whole = nbits / 8;
  for (uint32_t b = 0; b < whole; b++) n += nibble[bm[b] & 15] + nibble[bm[b] >> 4];
  if (nbits % 8) {
    unsigned last = bm[whole] & ((1u << (nbits % 8)) - 1);
    n += nibble[last & 15] + nibble[last >> 4];
  }
  return n;
}

int coldec_row_partial(struct reader *r, const struct table *t, const unsigned char *present, struct value *vals,
                       struct buf *arena, struct charset_conv *cs, const unsigned char *partial,
                       const struct value *before, char *err, size_t errsz)
{
  uint32_t ncols = t->ncols, npresent = bits_set(present, ncols);
  const unsigned char *nulls = take(r, (npresent + 7) / 8);
  if (!nulls) return bh_err(err, errsz, "row image of '%s.%s' cut short", t->schema, t->name);
  if (npresent == ncols && !partial) {
    /* A full image without JSON diffs, the common case: the k-th value is
     * column k's. */
    const struct column *c = t->cols;
    for (uint32_t i = 0; i < ncols; i++, c++) {
      if ((nulls[i / 8] >> (i % 8)) & 1) {
        vals[i].kind = VAL_NULL;
        continue;
      }
      if (fast_value(r, c, &vals[i], arena, cs)) continue;
      if (decode_value(r, c, &vals[i], arena, cs, err, errsz)) return -1;
    }
    return 0;
  }
  int all = npresent == ncols; /* a full image: no column to skip */
  uint32_t k = 0, j = 0;
  for (uint32_t i = 0; i < ncols; i++) {
    if (!all && !((present[i / 8] >> (i % 8)) & 1)) {
      vals[i].kind = VAL_ABSENT;
      continue;
    }
    int is_null = (nulls[k / 8] >> (k % 8)) & 1;
    k++;
    int is_partial = 0;
    if (partial && t->cols[i].type == MT_JSON) {
      is_partial = (partial[j / 8] >> (j % 8)) & 1;
      j++;
    }
    if (is_null) {
      vals[i].kind = VAL_NULL;
      continue;
    }
    if (is_partial) {
      if (partial_json(r, &t->cols[i], &vals[i], before ? &before[i] : NULL, arena, err, errsz)) return -1;
      continue;
    }
    if (fast_value(r, &t->cols[i], &vals[i], arena, cs)) continue;
    if (decode_value(r, &t->cols[i], &vals[i], arena, cs, err, errsz)) return -1;
  }
  return 0;
}
