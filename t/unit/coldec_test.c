/* coldec_test.c - column values from row images (coldec.h), on images built
 * by hand from the server's documented storage formats: binary DECIMAL,
 * TIME2/DATETIME2/TIMESTAMP2 with their fractions, little-endian integers,
 * length-prefixed strings, ENUM/SET/BIT, and WKB geometries. Values are
 * checked as the JSON text of the canonical event (value_to_json), which is
 * the contract of docs/DESIGN.md. Every image lives in a buffer of exactly its
 * size, so that a read past its end is caught by the sanitizers. */
#include "source/coldec.h"
#include "event/change.h"
#include "tap.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct charset_conv *cs;

/* ---- DECIMAL ---------------------------------------------------------- */

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static size_t decimal_size(int precision, int scale)
{
  int intg = precision - scale;
  return (size_t)((intg / 9) * 4 + dig2bytes[intg % 9] + (scale / 9) * 4 + dig2bytes[scale % 9]);
}

static void put_be(unsigned char *p, uint64_t v, size_t n)
{
  for (size_t i = n; i-- > 0; v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

static uint32_t digits_value(const char *d, int n)
{
  uint32_t v = 0;
  for (int i = 0; i < n; i++) v = v * 10 + (uint32_t)(d[i] - '0');
  return v;
}

/* The binary image of the decimal text s in DECIMAL(precision, scale), as
 * MySQL's decimal2bin writes it: the integer digits right-aligned and the
 * fraction digits left-aligned in groups of nine, each group a big-endian
 * integer of 4 bytes, the leftover digits (the most significant ones of the
 * integer part, the least significant ones of the fraction) in as few bytes
 * as they need; a negative value has every byte inverted; then the top bit
 * of the first byte is flipped. Returns the size. */
static size_t decimal_image(const char *s, int precision, int scale, unsigned char *out)
{
  int neg = *s == '-';
  if (neg || *s == '+') s++;
  const char *dot = strchr(s, '.');
  int nint = dot ? (int)(dot - s) : (int)strlen(s);
  int nfrac = dot ? (int)strlen(dot + 1) : 0;
  while (nint > 0 && *s == '0') s++, nint--;
  int intg = precision - scale;
  char idig[80], fdig[80];
  memset(idig, '0', sizeof idig);
  memset(fdig, '0', sizeof fdig);
  memcpy(idig + intg - nint, s, (size_t)nint);
  if (nfrac) memcpy(fdig, dot + 1, (size_t)nfrac);

  size_t o = 0;
  int intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
  const char *d = idig;
  if (intg0x) {
    put_be(out + o, digits_value(d, intg0x), (size_t)dig2bytes[intg0x]);
    o += (size_t)dig2bytes[intg0x];
    d += intg0x;
  }
  for (int i = 0; i < intg0; i++, d += 9, o += 4) put_be(out + o, digits_value(d, 9), 4);
  d = fdig;
  for (int i = 0; i < frac0; i++, d += 9, o += 4) put_be(out + o, digits_value(d, 9), 4);
  if (frac0x) {
    put_be(out + o, digits_value(d, frac0x), (size_t)dig2bytes[frac0x]);
    o += (size_t)dig2bytes[frac0x];
  }
  if (neg)
    for (size_t i = 0; i < o; i++) out[i] = (unsigned char)~out[i];
  out[0] ^= 0x80;
  return o;
}

/* coldec_decimal on an exact-size copy of img; the text or "error". */
static void check_decimal_bytes(const unsigned char *img, size_t n, int precision, int scale, const char *want,
                                const char *name)
{
  unsigned char *p = malloc(n ? n : 1);
  memcpy(p, img, n);
  struct buf out = BUF_INIT;
  buf_adds(&out, "<");
  int used = coldec_decimal(p, n, precision, scale, &out);
  char label[200];
  snprintf(label, sizeof label, "%s: DECIMAL(%d,%d) %s", name, precision, scale, want);
  if (used < 0) {
    ok(0, label);
    diag("coldec_decimal returned %d", used);
  } else {
    is_str(out.p + 1, want, label);
    snprintf(label, sizeof label, "%s: DECIMAL(%d,%d) takes %zu bytes", name, precision, scale,
             decimal_size(precision, scale));
    is_int(used, decimal_size(precision, scale), label);
  }
  buf_free(&out);
  free(p);
}

/* text: what the server stores, want: what it prints. */
static void check_decimal(const char *text, int precision, int scale, const char *want)
{
  unsigned char img[64];
  size_t n = decimal_image(text, precision, scale, img);
  check_decimal_bytes(img, n, precision, scale, want, "image");
}

static void test_decimal(void)
{
  /* The example of MySQL's decimal2bin documentation, byte for byte. */
  static const unsigned char pos[] = {0x81, 0x0d, 0xfb, 0x38, 0xd2, 0x04, 0xd2};
  static const unsigned char neg[] = {0x7e, 0xf2, 0x04, 0xc7, 0x2d, 0xfb, 0x2d};
  check_decimal_bytes(pos, sizeof pos, 14, 4, "1234567890.1234", "documented bytes");
  check_decimal_bytes(neg, sizeof neg, 14, 4, "-1234567890.1234", "documented bytes");
  /* -12.30 in DECIMAL(5,2): 12 in 2 bytes, 30 in 1, inverted, top bit flipped. */
  static const unsigned char m1230[] = {0x7f, 0xf3, 0xe1};
  check_decimal_bytes(m1230, sizeof m1230, 5, 2, "-12.30", "hand-built bytes");
  static const unsigned char p005[] = {0x80, 0x00, 0x05};
  check_decimal_bytes(p005, sizeof p005, 5, 2, "0.05", "hand-built bytes");
  static const unsigned char zero10[] = {0x80, 0x00, 0x00, 0x00, 0x00};
  check_decimal_bytes(zero10, sizeof zero10, 10, 0, "0", "hand-built bytes");
  static const unsigned char m1234567890[] = {0x7e, 0xf2, 0x04, 0xc7, 0x2d};
  check_decimal_bytes(m1234567890, sizeof m1234567890, 10, 0, "-1234567890", "hand-built bytes");

  /* Zero scale. */
  check_decimal("9999999999", 10, 0, "9999999999");
  check_decimal("-1", 10, 0, "-1");
  check_decimal("9", 1, 0, "9");
  check_decimal("-9", 1, 0, "-9");
  check_decimal("0", 1, 0, "0");
  check_decimal("123456789", 9, 0, "123456789");
  check_decimal("-123456789012345678", 18, 0, "-123456789012345678");
  /* The column's scale, trailing zeros kept. */
  check_decimal("-12.3", 5, 2, "-12.30");
  check_decimal("999.99", 5, 2, "999.99");
  check_decimal("-999.99", 5, 2, "-999.99");
  check_decimal("0", 5, 2, "0.00");
  check_decimal("1.5", 12, 4, "1.5000");
  check_decimal("-100.5", 20, 10, "-100.5000000000");
  /* No integer digits at all. */
  check_decimal("0.12345", 5, 5, "0.12345");
  check_decimal("-0.00001", 5, 5, "-0.00001");
  check_decimal("0", 5, 5, "0.00000");
  /* Leading zeros inside the groups of nine, and exactly two groups. */
  check_decimal("0.0000000001", 20, 10, "0.0000000001");
  check_decimal("1.000000001", 18, 9, "1.000000001");
  check_decimal("-0.000000001", 18, 9, "-0.000000001");
  check_decimal("100000000.000000001", 18, 9, "100000000.000000001");
  check_decimal("123456789.123456789", 18, 9, "123456789.123456789");
  check_decimal("1000000000.000000001", 19, 9, "1000000000.000000001");
  /* DECIMAL(65,30): the largest, the smallest, the smallest step. */
  check_decimal("99999999999999999999999999999999999.999999999999999999999999999999", 65, 30,
                "99999999999999999999999999999999999.999999999999999999999999999999");
  check_decimal("-99999999999999999999999999999999999.999999999999999999999999999999", 65, 30,
                "-99999999999999999999999999999999999.999999999999999999999999999999");
  check_decimal("-0.000000000000000000000000000001", 65, 30, "-0.000000000000000000000000000001");
  check_decimal("0", 65, 30, "0.000000000000000000000000000000");
  check_decimal("12345678901234567890123456789012345.123456789012345678901234567890", 65, 30,
                "12345678901234567890123456789012345.123456789012345678901234567890");
  /* MariaDB's largest scale. */
  check_decimal("1.00000000000000000000000000000000000001", 65, 38,
                "1.00000000000000000000000000000000000001");
  check_decimal("-999999999999999999999999999.99999999999999999999999999999999999999", 65, 38,
                "-999999999999999999999999999.99999999999999999999999999999999999999");

  /* Bytes after the value are not the value's. */
  unsigned char img[16];
  size_t n = decimal_image("-12.3", 5, 2, img);
  img[n] = 0xaa, img[n + 1] = 0xbb;
  check_decimal_bytes(img, n + 2, 5, 2, "-12.30", "followed by other bytes");

  /* Too few bytes, impossible precisions and scales: -1, nothing written. */
  struct buf out = BUF_INIT;
  buf_adds(&out, "x");
  unsigned char *p = malloc(6);
  memcpy(p, pos, 6);
  is_int(coldec_decimal(p, 6, 14, 4, &out), -1, "a DECIMAL(14,4) cut to 6 of its 7 bytes is refused");
  is_int(coldec_decimal(p, 0, 14, 4, &out), -1, "no bytes at all is refused");
  is_int(coldec_decimal(p, 6, 0, 0, &out), -1, "precision 0 is refused");
  is_int(coldec_decimal(p, 6, 66, 0, &out), -1, "precision 66 is refused");
  is_int(coldec_decimal(p, 6, 5, 6, &out), -1, "a scale above the precision is refused");
  is_str(out.p, "x", "nothing is appended on error");
  free(p);
  buf_free(&out);
}

/* ---- coldec_time_text ------------------------------------------------- */

static void check_time_text(int neg, unsigned h, unsigned m, unsigned s, unsigned usec, int fsp,
                            const char *want)
{
  struct buf out = BUF_INIT;
  coldec_time_text(neg, h, m, s, usec, fsp, &out);
  char label[100];
  snprintf(label, sizeof label, "coldec_time_text at precision %d: %s", fsp, want);
  is_str(out.p, want, label);
  buf_free(&out);
}

static void test_time_text(void)
{
  check_time_text(1, 838, 59, 59, 0, 0, "-838:59:59");
  check_time_text(0, 838, 59, 59, 0, 6, "838:59:59.000000");
  check_time_text(1, 838, 59, 59, 0, 3, "-838:59:59.000");
  check_time_text(0, 0, 0, 0, 0, 0, "00:00:00");
  check_time_text(1, 0, 0, 0, 500000, 1, "-00:00:00.5");
  check_time_text(1, 0, 0, 0, 1, 6, "-00:00:00.000001");
  check_time_text(0, 1, 2, 3, 456789, 6, "01:02:03.456789");
  check_time_text(0, 1, 2, 3, 456789, 4, "01:02:03.4567");
  check_time_text(0, 1, 2, 3, 50000, 2, "01:02:03.05");
  check_time_text(0, 1, 2, 3, 10, 5, "01:02:03.00001");
  check_time_text(0, 24, 0, 0, 0, 0, "24:00:00");
  check_time_text(1, 100, 0, 0, 10000, 2, "-100:00:00.01");
}

/* ---- WKB to WKT ------------------------------------------------------- */

struct wkb {
  unsigned char b[2048];
  size_t n;
  int little;
};

static void wkb_u32(struct wkb *w, uint32_t v)
{
  for (int i = 0; i < 4; i++) w->b[w->n + (size_t)(w->little ? i : 3 - i)] = (unsigned char)(v >> (8 * i));
  w->n += 4;
}

static void wkb_f64(struct wkb *w, double d)
{
  uint64_t v;
  memcpy(&v, &d, 8);
  for (int i = 0; i < 8; i++) w->b[w->n + (size_t)(w->little ? i : 7 - i)] = (unsigned char)(v >> (8 * i));
  w->n += 8;
}

/* A geometry header: the byte order, then the type. */
static void wkb_head(struct wkb *w, int little, uint32_t type)
{
  w->little = little;
  w->b[w->n++] = (unsigned char)little;
  wkb_u32(w, type);
}

static void wkb_pts(struct wkb *w, int n, const double *xy)
{
  wkb_u32(w, (uint32_t)n);
  for (int i = 0; i < 2 * n; i++) wkb_f64(w, xy[i]);
}

static void wkb_point(struct wkb *w, int little, double x, double y)
{
  wkb_head(w, little, 1);
  wkb_f64(w, x);
  wkb_f64(w, y);
}

static void wkb_line(struct wkb *w, int little, int n, const double *xy)
{
  wkb_head(w, little, 2);
  wkb_pts(w, n, xy);
}

/* Fills the text of coldec_wkb_to_wkt, "error", or "error, output changed". */
static const char *wkt_of(const unsigned char *b, size_t n)
{
  static char res[1024];
  unsigned char *p = malloc(n ? n : 1);
  memcpy(p, b, n);
  struct buf out = BUF_INIT;
  buf_adds(&out, "kept");
  if (coldec_wkb_to_wkt(p, n, &out))
    snprintf(res, sizeof res, "%s", strcmp(out.p, "kept") || out.len != 4 ? "error, output changed" : "error");
  else
    snprintf(res, sizeof res, "%s", out.p + 4);
  buf_free(&out);
  free(p);
  return res;
}

static void test_wkb(void)
{
  struct wkb w;
  static const double sq[] = {0, 0, 10, 0, 10, 10, 0, 10, 0, 0};
  static const double hole[] = {2, 2, 3, 2, 3, 3, 2, 2};
  static const double line[] = {0, 0, 1, 1, 2, 0.5};
  static const double tri[] = {0, 0, 1, 0, 1, 1, 0, 0};
  static const double tri5[] = {5, 5, 6, 5, 6, 6, 5, 5};

  memset(&w, 0, sizeof w);
  wkb_point(&w, 1, 1, 2);
  is_str(wkt_of(w.b, w.n), "POINT(1 2)", "POINT, little-endian");

  memset(&w, 0, sizeof w);
  wkb_point(&w, 0, -1.5, 0.25);
  is_str(wkt_of(w.b, w.n), "POINT(-1.5 0.25)", "POINT, big-endian");

  memset(&w, 0, sizeof w);
  wkb_point(&w, 1, 0.1, 123456.789);
  is_str(wkt_of(w.b, w.n), "POINT(0.1 123456.789)", "POINT: the shortest text of each coordinate");

  memset(&w, 0, sizeof w);
  wkb_line(&w, 1, 3, line);
  is_str(wkt_of(w.b, w.n), "LINESTRING(0 0,1 1,2 0.5)", "LINESTRING");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 0, 3);
  wkb_u32(&w, 2);
  wkb_pts(&w, 5, sq);
  wkb_pts(&w, 4, hole);
  is_str(wkt_of(w.b, w.n), "POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))", "POLYGON with a hole, big-endian");

  /* MariaDB's ST_AsText writes the points of a MULTIPOINT without their own
   * parentheses. */
  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 4);
  wkb_u32(&w, 2);
  wkb_point(&w, 1, 1, 1);
  wkb_point(&w, 1, 2, 2);
  is_str(wkt_of(w.b, w.n), "MULTIPOINT(1 1,2 2)", "MULTIPOINT as the server prints it");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 5);
  wkb_u32(&w, 2);
  wkb_line(&w, 1, 2, line);
  wkb_line(&w, 0, 3, line);
  is_str(wkt_of(w.b, w.n), "MULTILINESTRING((0 0,1 1),(0 0,1 1,2 0.5))",
         "MULTILINESTRING, members of either byte order");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 6);
  wkb_u32(&w, 2);
  wkb_head(&w, 1, 3);
  wkb_u32(&w, 1);
  wkb_pts(&w, 4, tri);
  wkb_head(&w, 1, 3);
  wkb_u32(&w, 1);
  wkb_pts(&w, 4, tri5);
  is_str(wkt_of(w.b, w.n), "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))", "MULTIPOLYGON");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 7);
  wkb_u32(&w, 3);
  wkb_point(&w, 0, 1, 1);
  wkb_line(&w, 1, 2, line);
  wkb_head(&w, 1, 7);
  wkb_u32(&w, 1);
  wkb_point(&w, 1, 3, 4);
  size_t gc_len = w.n;
  is_str(wkt_of(w.b, w.n), "GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1),GEOMETRYCOLLECTION(POINT(3 4)))",
         "GEOMETRYCOLLECTION with a nested collection; members name their type");

  /* Every prefix of the collection is refused, the output left as it was. */
  int bad = 0;
  for (size_t n = 0; n < gc_len; n++)
    if (strcmp(wkt_of(w.b, n), "error")) {
      if (!bad) diag("a prefix of %zu bytes gives '%s'", n, wkt_of(w.b, n));
      bad++;
    }
  is_int(bad, 0, "every truncated WKB is refused and leaves the output as it was");

  memset(&w, 0, sizeof w);
  wkb_point(&w, 1, 1, 2);
  w.b[0] = 2;
  is_str(wkt_of(w.b, w.n), "error", "a byte order other than 0 or 1 is refused");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 8);
  wkb_f64(&w, 1);
  wkb_f64(&w, 2);
  is_str(wkt_of(w.b, w.n), "error", "an unknown geometry type is refused");

  memset(&w, 0, sizeof w);
  wkb_head(&w, 1, 2);
  wkb_u32(&w, 0x40000000);
  wkb_f64(&w, 1);
  wkb_f64(&w, 2);
  is_str(wkt_of(w.b, w.n), "error", "a LINESTRING claiming a billion points is refused");

  /* Collections nested deeper than any real geometry: refused, no overflow. */
  memset(&w, 0, sizeof w);
  for (int i = 0; i < 100; i++) {
    wkb_head(&w, 1, 7);
    wkb_u32(&w, 1);
  }
  wkb_point(&w, 1, 0, 0);
  is_str(wkt_of(w.b, w.n), "error", "collections nested 100 deep are refused");
}

/* ---- coldec_row ------------------------------------------------------- */

/* A column of a hand-built table. */
static struct column col(const char *name, uint8_t type, uint16_t meta, int is_unsigned, uint16_t charset)
{
  struct column c;
  memset(&c, 0, sizeof c);
  c.name = (char *)name;
  c.type = type;
  c.meta = meta;
  c.nullable = 1;
  c.is_unsigned = (int8_t)is_unsigned;
  c.charset = charset;
  return c;
}

static struct table table_of(struct column *cols, uint32_t n)
{
  struct table t;
  memset(&t, 0, sizeof t);
  t.schema = "db";
  t.name = "t";
  t.ncols = n;
  t.cols = cols;
  return t;
}

/* Decodes the image (null bitmap and values) of table t with every column
 * present; writes the JSON of each value, comma-separated, to res, or
 * "error: MESSAGE". Also fails when bytes are left over. */
static const char *decode_row(const struct table *t, const unsigned char *img, size_t n)
{
  static char res[70000];
  unsigned char *p = malloc(n ? n : 1);
  memcpy(p, img, n);
  unsigned char present[64];
  memset(present, 0xff, sizeof present);
  struct value *vals = calloc(t->ncols, sizeof *vals);
  struct change ev;
  memset(&ev, 0, sizeof ev);
  struct reader r;
  reader_init(&r, p, n);
  char err[256] = "";
  if (coldec_row(&r, t, present, vals, &ev.arena, cs, err, sizeof err)) {
    snprintf(res, sizeof res, "error: %s", err);
  } else {
    struct buf out = BUF_INIT;
    for (uint32_t i = 0; i < t->ncols; i++) {
      if (i) buf_addc(&out, ',');
      value_to_json(&ev, &t->cols[i], &vals[i], &out);
    }
    if (reader_left(&r)) buf_printf(&out, " (%zu bytes left over)", reader_left(&r));
    snprintf(res, sizeof res, "%s", out.p);
    buf_free(&out);
  }
  buf_free(&ev.arena);
  free(vals);
  free(p);
  return res;
}

/* One non-null value of column c: its bytes after a null bitmap of 0. */
static const char *decode1(struct column c, const unsigned char *bytes, size_t n)
{
  unsigned char *img = malloc(n + 1);
  img[0] = 0;
  if (n) memcpy(img + 1, bytes, n);
  struct table t = table_of(&c, 1);
  const char *res = decode_row(&t, img, n + 1);
  free(img);
  return res;
}

/* The image of a TIME2 value, as the server's my_time_packed_to_binary
 * writes it: packed = ±((h << 12 | m << 6 | s) << 24 | usec); three bytes of
 * the integer part (rounded down) plus 0x800000, then the fraction as a
 * signed 1- or 2-byte number of 1/100 or 1/10000 seconds; at precision 5
 * and 6, six bytes of packed plus 0x800000000000. */
static size_t time2_image(int neg, unsigned h, unsigned m, unsigned s, unsigned usec, int fsp, unsigned char *out)
{
  int64_t packed = ((int64_t)((h << 12) | (m << 6) | s) << 24) + usec;
  if (neg) packed = -packed;
  int64_t intpart = packed >= 0 ? packed / (1 << 24) : -((-packed + (1 << 24) - 1) / (1 << 24));
  int64_t frac = packed % (1 << 24); /* C's remainder: the sign of packed */
  switch (fsp) {
  case 1: case 2:
    put_be(out, (uint64_t)(intpart + 0x800000), 3);
    out[3] = (unsigned char)(int8_t)(frac / 10000);
    return 4;
  case 3: case 4:
    put_be(out, (uint64_t)(intpart + 0x800000), 3);
    put_be(out + 3, (uint16_t)(int16_t)(frac / 100), 2);
    return 5;
  case 5: case 6:
    put_be(out, (uint64_t)(packed + 0x800000000000LL), 6);
    return 6;
  default:
    put_be(out, (uint64_t)(intpart + 0x800000), 3);
    return 3;
  }
}

static size_t frac_image(unsigned usec, int fsp, unsigned char *out)
{
  switch (fsp) {
  case 1: case 2: out[0] = (unsigned char)(usec / 10000); return 1;
  case 3: case 4: put_be(out, usec / 100, 2); return 2;
  case 5: case 6: put_be(out, usec, 3); return 3;
  default: return 0;
  }
}

static size_t datetime2_image(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                              unsigned usec, int fsp, unsigned char *out)
{
  uint64_t ym = (uint64_t)y * 13 + mo;
  uint64_t intpart = (ym << 22) | ((uint64_t)d << 17) | (h << 12) | (mi << 6) | s;
  put_be(out, intpart + 0x8000000000ULL, 5);
  return 5 + frac_image(usec, fsp, out + 5);
}

static size_t timestamp2_image(uint32_t secs, unsigned usec, int fsp, unsigned char *out)
{
  put_be(out, secs, 4);
  return 4 + frac_image(usec, fsp, out + 4);
}

/* Decodes in a child process, so that a value that crashes the decoder
 * fails its own test and the others still run. */
static void check1(struct column c, const unsigned char *bytes, size_t n, const char *want, const char *name)
{
  int fds[2];
  if (pipe(fds)) {
    ok(0, name);
    diag("pipe failed");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const char *res = decode1(c, bytes, n);
    size_t len = strlen(res), off = 0;
    while (off < len) {
      ssize_t w = write(fds[1], res + off, len - off);
      if (w <= 0) break;
      off += (size_t)w;
    }
    close(fds[1]);
    charset_conv_free(cs);
    exit(off == len ? 0 : 1);
  }
  close(fds[1]);
  struct buf got = BUF_INIT;
  char chunk[4096];
  ssize_t r;
  while ((r = read(fds[0], chunk, sizeof chunk)) > 0) buf_add(&got, chunk, (size_t)r);
  buf_addc(&got, 0);
  close(fds[0]);
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) {
    ok(0, name);
    diag("fork or waitpid failed");
  } else if (WIFSIGNALED(st)) {
    ok(0, name);
    diag("decoding the value killed the process with signal %d", WTERMSIG(st));
  } else if (WEXITSTATUS(st) != 0) {
    ok(0, name);
    diag("decoding the value ended with status %d (99: a sanitizer report)", WEXITSTATUS(st));
  } else {
    is_str(got.p, want, name);
  }
  buf_free(&got);
}

static void check_time2(int neg, unsigned h, unsigned m, unsigned s, unsigned usec, int fsp, const char *want)
{
  unsigned char img[8];
  size_t n = time2_image(neg, h, m, s, usec, fsp, img);
  char label[100];
  snprintf(label, sizeof label, "TIME(%d) %s", fsp, want);
  check1(col("t", MT_TIME2, (uint16_t)fsp, -1, 63), img, n, want, label);
}

static void check_datetime2(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                            unsigned usec, int fsp, const char *want)
{
  unsigned char img[8];
  size_t n = datetime2_image(y, mo, d, h, mi, s, usec, fsp, img);
  char label[100];
  snprintf(label, sizeof label, "DATETIME(%d) %s", fsp, want);
  check1(col("dt", MT_DATETIME2, (uint16_t)fsp, -1, 63), img, n, want, label);
}

static void check_timestamp2(uint32_t secs, unsigned usec, int fsp, const char *want)
{
  unsigned char img[8];
  size_t n = timestamp2_image(secs, usec, fsp, img);
  char label[100];
  snprintf(label, sizeof label, "TIMESTAMP(%d) %s", fsp, want);
  check1(col("ts", MT_TIMESTAMP2, (uint16_t)fsp, -1, 63), img, n, want, label);
}

static void test_temporal(void)
{
  /* TIME2 at every precision, negative ones with fractions included. */
  check_time2(1, 838, 59, 59, 0, 0, "\"-838:59:59\"");
  check_time2(0, 838, 59, 59, 0, 0, "\"838:59:59\"");
  check_time2(0, 0, 0, 0, 0, 0, "\"00:00:00\"");
  check_time2(1, 0, 0, 1, 0, 0, "\"-00:00:01\"");
  check_time2(1, 0, 0, 0, 500000, 1, "\"-00:00:00.5\"");
  check_time2(1, 0, 0, 1, 500000, 1, "\"-00:00:01.5\"");
  check_time2(0, 100, 0, 0, 100000, 1, "\"100:00:00.1\"");
  check_time2(1, 838, 59, 59, 900000, 1, "\"-838:59:59.9\"");
  check_time2(1, 12, 34, 56, 780000, 2, "\"-12:34:56.78\"");
  check_time2(1, 0, 0, 0, 10000, 2, "\"-00:00:00.01\"");
  check_time2(1, 0, 0, 0, 1000, 3, "\"-00:00:00.001\"");
  check_time2(1, 1, 2, 3, 456000, 3, "\"-01:02:03.456\"");
  check_time2(0, 838, 59, 59, 0, 3, "\"838:59:59.000\"");
  check_time2(1, 24, 0, 0, 100, 4, "\"-24:00:00.0001\"");
  check_time2(1, 838, 59, 59, 999900, 4, "\"-838:59:59.9999\"");
  check_time2(1, 0, 0, 0, 10, 5, "\"-00:00:00.00001\"");
  check_time2(0, 34, 56, 7, 10, 5, "\"34:56:07.00001\"");
  check_time2(1, 0, 0, 0, 1, 6, "\"-00:00:00.000001\"");
  check_time2(1, 34, 56, 7, 123456, 6, "\"-34:56:07.123456\"");
  check_time2(1, 838, 59, 59, 999999, 6, "\"-838:59:59.999999\"");
  check_time2(0, 838, 59, 59, 0, 6, "\"838:59:59.000000\"");

  /* DATETIME2: 'T', the column's fraction digits, zero and partial dates as
   * the server prints them. */
  check_datetime2(2024, 1, 2, 3, 4, 5, 678000, 3, "\"2024-01-02T03:04:05.678\"");
  check_datetime2(2024, 1, 2, 3, 4, 5, 0, 0, "\"2024-01-02T03:04:05\"");
  check_datetime2(1000, 1, 1, 0, 0, 0, 100000, 1, "\"1000-01-01T00:00:00.1\"");
  check_datetime2(1000, 1, 1, 0, 0, 0, 10000, 2, "\"1000-01-01T00:00:00.01\"");
  check_datetime2(9999, 12, 31, 23, 59, 59, 999900, 4, "\"9999-12-31T23:59:59.9999\"");
  check_datetime2(2001, 2, 3, 4, 5, 6, 123450, 5, "\"2001-02-03T04:05:06.12345\"");
  check_datetime2(9999, 12, 31, 23, 59, 59, 999999, 6, "\"9999-12-31T23:59:59.999999\"");
  check_datetime2(1, 1, 1, 0, 0, 0, 1, 6, "\"0001-01-01T00:00:00.000001\"");
  check_datetime2(0, 0, 0, 0, 0, 0, 0, 0, "\"0000-00-00 00:00:00\"");
  check_datetime2(0, 0, 0, 0, 0, 0, 0, 6, "\"0000-00-00 00:00:00.000000\"");
  check_datetime2(2024, 0, 10, 11, 12, 13, 500000, 1, "\"2024-00-10 11:12:13.5\"");
  check_datetime2(2024, 5, 0, 11, 12, 13, 0, 0, "\"2024-05-00 11:12:13\"");

  /* TIMESTAMP2: seconds since the epoch, in UTC with 'Z'; 0 is the zero
   * date. */
  check_timestamp2(0, 0, 0, "\"0000-00-00 00:00:00\"");
  check_timestamp2(0, 0, 3, "\"0000-00-00 00:00:00.000\"");
  check_timestamp2(1, 0, 0, "\"1970-01-01T00:00:01Z\"");
  check_timestamp2(1, 100000, 1, "\"1970-01-01T00:00:01.1Z\"");
  check_timestamp2(1704164645, 670000, 2, "\"2024-01-02T03:04:05.67Z\"");
  check_timestamp2(1704164645, 678000, 3, "\"2024-01-02T03:04:05.678Z\"");
  check_timestamp2(946684799, 500000, 4, "\"1999-12-31T23:59:59.5000Z\"");
  check_timestamp2(946684799, 50, 5, "\"1999-12-31T23:59:59.00005Z\"");
  check_timestamp2(2147483647, 999999, 6, "\"2038-01-19T03:14:07.999999Z\"");

  /* DATE: day + month * 32 + year * 512 in 3 little-endian bytes. */
  unsigned char d[3];
  uint32_t v = 6 + 5 * 32 + 2024 * 512;
  d[0] = (unsigned char)v, d[1] = (unsigned char)(v >> 8), d[2] = (unsigned char)(v >> 16);
  check1(col("d", MT_DATE, 0, -1, 63), d, 3, "\"2024-05-06\"", "DATE 2024-05-06");
  memset(d, 0, 3);
  check1(col("d", MT_DATE, 0, -1, 63), d, 3, "\"0000-00-00\"", "DATE 0000-00-00");

  /* YEAR: one byte, years since 1900, 0 for 0000. */
  unsigned char y = 0;
  check1(col("y", MT_YEAR, 0, -1, 63), &y, 1, "0", "YEAR 0000 is 0");
  y = 1;
  check1(col("y", MT_YEAR, 0, -1, 63), &y, 1, "1901", "YEAR 1901");
  y = 255;
  check1(col("y", MT_YEAR, 0, -1, 63), &y, 1, "2155", "YEAR 2155");
}

static void test_numbers(void)
{
  static const unsigned char m8388608[] = {0x00, 0x00, 0x80}, m1[] = {0xff, 0xff, 0xff}, m2[] = {0xfe, 0xff, 0xff};
  static const unsigned char p8388607[] = {0xff, 0xff, 0x7f};
  check1(col("m", MT_INT24, 0, 0, 63), m8388608, 3, "-8388608", "MEDIUMINT -8388608");
  check1(col("m", MT_INT24, 0, 0, 63), m1, 3, "-1", "MEDIUMINT -1");
  check1(col("m", MT_INT24, 0, 0, 63), m2, 3, "-2", "MEDIUMINT -2");
  check1(col("m", MT_INT24, 0, 0, 63), p8388607, 3, "8388607", "MEDIUMINT 8388607");
  check1(col("m", MT_INT24, 0, 1, 63), m1, 3, "16777215", "MEDIUMINT UNSIGNED 16777215");
  check1(col("m", MT_INT24, 0, 1, 63), m8388608, 3, "8388608", "MEDIUMINT UNSIGNED 8388608");

  static const unsigned char ff8[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  static const unsigned char min8[] = {0, 0, 0, 0, 0, 0, 0, 0x80};
  check1(col("b", MT_LONGLONG, 0, 1, 63), ff8, 8, "18446744073709551615", "BIGINT UNSIGNED maximum");
  check1(col("b", MT_LONGLONG, 0, 0, 63), ff8, 8, "-1", "BIGINT -1");
  check1(col("b", MT_LONGLONG, 0, 0, 63), min8, 8, "-9223372036854775808", "BIGINT minimum");
  check1(col("b", MT_LONGLONG, 0, -1, 63), ff8, 8, "-1", "BIGINT of unknown signedness is signed");
  check1(col("i", MT_LONG, 0, 0, 63), min8 + 4, 4, "-2147483648", "INT minimum");
  check1(col("i", MT_LONG, 0, 1, 63), ff8, 4, "4294967295", "INT UNSIGNED maximum");
  check1(col("s", MT_SHORT, 0, 0, 63), min8 + 6, 2, "-32768", "SMALLINT minimum");
  check1(col("s", MT_SHORT, 0, 1, 63), ff8, 2, "65535", "SMALLINT UNSIGNED maximum");
  check1(col("t", MT_TINY, 0, 0, 63), min8 + 7, 1, "-128", "TINYINT minimum");
  check1(col("t", MT_TINY, 0, 1, 63), ff8, 1, "255", "TINYINT UNSIGNED maximum");

  float f = 0.1f;
  unsigned char fb[4];
  memcpy(fb, &f, 4); /* the test hosts are little-endian, like the binlog */
  check1(col("f", MT_FLOAT, 4, 0, 63), fb, 4, "0.1", "FLOAT 0.1 is the shortest text of the float");
  double dbl = 0.1;
  unsigned char db[8];
  memcpy(db, &dbl, 8);
  check1(col("d", MT_DOUBLE, 8, 0, 63), db, 8, "0.1", "DOUBLE 0.1");

  unsigned char dec[8];
  size_t n = decimal_image("-12.3", 5, 2, dec);
  check1(col("d", MT_NEWDECIMAL, (5 << 8) | 2, 0, 63), dec, n, "\"-12.30\"", "DECIMAL(5,2) column: a string");
}

static void test_enum_set_bit(void)
{
  char *abc[] = {"a", "b", "c", "d"};
  struct column e = col("e", MT_ENUM, 1, -1, 45);
  e.labels = abc, e.nlabels = 3;
  unsigned char i0 = 0, i2 = 2;
  check1(e, &i0, 1, "\"\"", "ENUM index 0 is the empty string");
  check1(e, &i2, 1, "\"b\"", "ENUM index 2 is its label");

  char *many[300], names[300][8];
  for (int i = 0; i < 300; i++) {
    snprintf(names[i], sizeof names[i], "v%d", i + 1);
    many[i] = names[i];
  }
  struct column e2 = col("e2", MT_ENUM, 2, -1, 45);
  e2.labels = many, e2.nlabels = 300;
  unsigned char i300[] = {300 & 0xff, 300 >> 8}, i256[] = {0, 1};
  check1(e2, i300, 2, "\"v300\"", "ENUM of 300 labels: 2 little-endian bytes");
  check1(e2, i256, 2, "\"v256\"", "ENUM of 300 labels: index 256");

  struct column s = col("s", MT_SET, 1, -1, 45);
  s.labels = abc, s.nlabels = 4;
  unsigned char none = 0, ac = 5, all = 15;
  check1(s, &none, 1, "[]", "SET, empty: an empty array");
  check1(s, &ac, 1, "[\"a\",\"c\"]", "SET of two labels");
  check1(s, &all, 1, "[\"a\",\"b\",\"c\",\"d\"]", "SET, full");

  struct column s64 = col("s64", MT_SET, 8, -1, 45);
  s64.labels = many, s64.nlabels = 64;
  static const unsigned char bits[] = {0x01, 0, 0, 0, 0, 0, 0, 0x80};
  check1(s64, bits, 8, "[\"v1\",\"v64\"]", "SET of 64 labels: the first and the last");
  static const unsigned char ones[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  struct buf want = BUF_INIT;
  buf_addc(&want, '[');
  for (int i = 0; i < 64; i++) buf_printf(&want, "%s\"v%d\"", i ? "," : "", i + 1);
  buf_addc(&want, ']');
  check1(s64, ones, 8, want.p, "SET of 64 labels, full");
  buf_free(&want);

  /* BIT metadata: bits % 8 in the low byte, whole bytes in the high byte. */
  unsigned char one = 1;
  check1(col("b1", MT_BIT, 1, -1, 63), &one, 1, "1", "BIT(1)");
  static const unsigned char b10[] = {0x02, 0xaa};
  check1(col("b10", MT_BIT, (1 << 8) | 2, -1, 63), b10, 2, "682", "BIT(10): 2 big-endian bytes");
  check1(col("b64", MT_BIT, 8 << 8, -1, 63), ones, 8, "18446744073709551615", "BIT(64) all ones");
  static const unsigned char top[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
  check1(col("b64", MT_BIT, 8 << 8, -1, 63), top, 8, "9223372036854775808", "BIT(64) top bit");
}

static void test_strings(void)
{
  static const unsigned char hello[] = {7, 'h', 0xc3, 0xa9, 'l', 'l', 'o', '!'};
  check1(col("v", MT_VARCHAR, 80, -1, 45), hello, sizeof hello, "\"héllo!\"", "VARCHAR(20) utf8mb4: 1-byte length");
  static const unsigned char hello2[] = {3, 0, 'a', 'b', 'c'};
  check1(col("v", MT_VARCHAR, 400, -1, 45), hello2, sizeof hello2, "\"abc\"", "VARCHAR(100) utf8mb4: 2-byte length");
  static const unsigned char latin1[] = {3, 0xe9, 0x80, 0xff};
  check1(col("l", MT_VARCHAR, 20, -1, 8), latin1, sizeof latin1, "\"é€ÿ\"", "latin1 becomes UTF-8 (0x80 is the euro)");
  static const unsigned char cp1251[] = {3, 0xcf, 0xf0, 0xe8};
  check1(col("c", MT_VARCHAR, 20, -1, 51), cp1251, sizeof cp1251, "\"При\"", "cp1251 becomes UTF-8");
  static const unsigned char empty[] = {0};
  /* Alone in its row: the first text of the event's arena. */
  check1(col("u", MT_VARCHAR, 40, -1, 54), empty, sizeof empty, "\"\"", "an empty utf16 string, alone in its row");
  check1(col("c", MT_VARCHAR, 20, -1, 51), empty, sizeof empty, "\"\"", "an empty cp1251 string, alone in its row");
  static const unsigned char utf16[] = {4, 0xd8, 0x3d, 0xde, 0x00};
  check1(col("u", MT_VARCHAR, 40, -1, 54), utf16, sizeof utf16, "\"😀\"", "utf16 with a surrogate pair");
  static const unsigned char bin[] = {2, 'a', 'b'};
  check1(col("b", MT_STRING, 4, -1, 63), bin, sizeof bin, "\"YWIAAA==\"",
         "BINARY(4) gets back the trailing zero bytes the binlog leaves out");
  static const unsigned char nul[] = {4, 0, 1, 0, 0xff};
  check1(col("b", MT_VARCHAR, 10, -1, 63), nul, sizeof nul, "\"AAEA/w==\"", "VARBINARY: base64 of the bytes, NUL kept");
  static const unsigned char blob[] = {2, 0, 0x00, 0xff};
  check1(col("bl", MT_BLOB, 2, -1, 63), blob, sizeof blob, "\"AP8=\"", "BLOB: base64");
  static const unsigned char text[] = {3, 0, 0, 0, 'a', '\t', 'b'};
  check1(col("tx", MT_BLOB, 4, -1, 45), text, sizeof text, "\"a\\tb\"", "LONGTEXT: 4-byte length, text");

  struct wkb w;
  memset(&w, 0, sizeof w);
  w.n = 8; /* room for the length and the SRID */
  wkb_point(&w, 1, 1, 2);
  w.b[0] = (unsigned char)(w.n - 4);
  w.b[4] = 0xe6, w.b[5] = 0x10; /* SRID 4326 */
  check1(col("g", MT_GEOMETRY, 4, -1, 63), w.b, w.n, "\"POINT(1 2)\"", "GEOMETRY: SRID skipped, WKT");
}

/* Several columns, NULLs among them, and columns left out of the image. */
static void test_rows(void)
{
  char *abc[] = {"a", "b", "c"};
  struct column cols[] = {
      col("id", MT_LONG, 0, 0, 63),        col("m", MT_INT24, 0, 0, 63),     col("y", MT_YEAR, 0, -1, 63),
      col("e", MT_ENUM, 1, -1, 45),        col("s", MT_SET, 1, -1, 45),      col("n", MT_VARCHAR, 80, -1, 45),
      col("t", MT_TIME2, 3, -1, 63),       col("bit", MT_BIT, 1, -1, 63),    col("v", MT_VARCHAR, 80, -1, 45),
      col("d", MT_NEWDECIMAL, (65 << 8) | 30, 0, 63),
  };
  cols[3].labels = cols[4].labels = abc;
  cols[3].nlabels = cols[4].nlabels = 3;
  uint32_t ncols = sizeof cols / sizeof cols[0];
  struct table t = table_of(cols, ncols);

  unsigned char img[128];
  size_t n = 0;
  img[n++] = 0x20; /* n is NULL */
  img[n++] = 0x00;
  img[n++] = 0x2a, img[n++] = 0, img[n++] = 0, img[n++] = 0;  /* id 42 */
  img[n++] = 0xfe, img[n++] = 0xff, img[n++] = 0xff;          /* m -2 */
  img[n++] = 0;                                               /* y 0000 */
  img[n++] = 0;                                               /* e '' */
  img[n++] = 6;                                               /* s b,c */
  n += time2_image(1, 0, 0, 0, 5000, 3, img + n);             /* t -00:00:00.005 */
  img[n++] = 1;                                               /* bit 1 */
  img[n++] = 2, img[n++] = 'o', img[n++] = 'k';               /* v */
  n += decimal_image("-0.000000000000000000000000000001", 65, 30, img + n);
  const char *want = "42,-2,0,\"\",[\"b\",\"c\"],null,\"-00:00:00.005\",1,\"ok\",\"-0.000000000000000000000000000001\"";
  is_str(decode_row(&t, img, n), want, "a row of ten columns, one NULL");

  /* Every shorter image is refused with a message, never read past. */
  int bad = 0;
  for (size_t k = 0; k < n; k++) {
    const char *res = decode_row(&t, img, k);
    int named = 0;
    for (uint32_t i = 0; i < ncols; i++) {
      char q[32];
      snprintf(q, sizeof q, "'%s'", cols[i].name);
      if (strstr(res, q)) named = 1;
    }
    /* Without its null bitmap the row has no column to name: the table then. */
    if (strncmp(res, "error: ", 7) || (k >= 2 && !named) || (k < 2 && !strstr(res, "db.t"))) {
      if (!bad) diag("cut to %zu of %zu bytes: %s", k, n, res);
      bad++;
    }
  }
  is_int(bad, 0, "every truncated image is refused, naming the column (or the table)");

  /* A value cut short names its column. */
  static const unsigned char cut_int[] = {0x00, 0x2a, 0x00};
  struct column ci = col("amount", MT_LONG, 0, 0, 63);
  struct table ti = table_of(&ci, 1);
  const char *res = decode_row(&ti, cut_int, sizeof cut_int);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'amount'"), "an INT cut to 2 bytes: -1, the column named");
  diag("%s", res);
  static const unsigned char cut_str[] = {0x00, 10, 'a', 'b', 'c'};
  struct column cv = col("label", MT_VARCHAR, 40, -1, 45);
  struct table tv = table_of(&cv, 1);
  res = decode_row(&tv, cut_str, sizeof cut_str);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'label'"), "a VARCHAR claiming 10 bytes of 3: -1, the column named");
  static const unsigned char cut_blob[] = {0x00, 0xff, 0xff, 0xff, 0x7f, 'x'};
  struct column cb = col("payload", MT_BLOB, 4, -1, 63);
  struct table tb = table_of(&cb, 1);
  res = decode_row(&tb, cut_blob, sizeof cut_blob);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'payload'"), "a BLOB claiming 2 GB: -1, the column named");
  static const unsigned char bad_geom[] = {0x00, 6, 0, 0, 0, 0, 0, 0, 0, 9, 0};
  struct column cg = col("shape", MT_GEOMETRY, 4, -1, 63);
  struct table tg = table_of(&cg, 1);
  res = decode_row(&tg, bad_geom, sizeof bad_geom);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'shape'"), "a GEOMETRY that is no WKB: -1, the column named");
  struct column cd = col("price", MT_NEWDECIMAL, (14 << 8) | 4, 0, 63);
  struct table td = table_of(&cd, 1);
  static const unsigned char cut_dec[] = {0x00, 0x81, 0x0d, 0xfb};
  res = decode_row(&td, cut_dec, sizeof cut_dec);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'price'"), "a DECIMAL cut short: -1, the column named");
  struct column ct = col("at", MT_DATETIME2, 6, -1, 63);
  struct table tt = table_of(&ct, 1);
  unsigned char dt[9];
  dt[0] = 0;
  datetime2_image(2024, 1, 2, 3, 4, 5, 6, 6, dt + 1);
  res = decode_row(&tt, dt, 7);
  ok(!strncmp(res, "error: ", 7) && strstr(res, "'at'"), "a DATETIME(6) without its fraction: -1, the column named");

  /* Columns not in the image are absent (JSON null here), and the null
   * bitmap counts only the columns that are there. */
  struct column pc[] = {col("a", MT_TINY, 0, 0, 63), col("b", MT_TINY, 0, 0, 63), col("c", MT_TINY, 0, 0, 63)};
  struct table tp = table_of(pc, 3);
  unsigned char present = 0x05; /* a and c */
  static const unsigned char pimg[] = {0x02, 7}; /* c is NULL, a is 7 */
  struct value vals[3];
  struct buf arena = BUF_INIT;
  struct reader r;
  reader_init(&r, pimg, sizeof pimg);
  char err[200] = "";
  int rc = coldec_row(&r, &tp, &present, vals, &arena, cs, err, sizeof err);
  is_int(rc, 0, "a partial image decodes");
  ok(vals[0].kind == VAL_INT && vals[0].i == 7, "its first present column has its value");
  is_int(vals[1].kind, VAL_ABSENT, "the column left out is absent");
  is_int(vals[2].kind, VAL_NULL, "the second null bit is the second present column's");
  is_int(reader_left(&r), 0, "the whole image is read");
  buf_free(&arena);
}

/* latin1 (collation 8) against iconv's CP1252, byte by byte, for every
 * byte at every alignment and in ASCII runs of every length around the
 * eight-byte steps; MySQL fills CP1252's five gaps with the C1 codes. */
static void test_latin1_all(void)
{
  iconv_t cd = iconv_open("UTF-8", "CP1252");
  if (cd == (iconv_t)-1) {
    ok(0, "iconv knows CP1252");
    return;
  }
  struct buf want = BUF_INIT, got = BUF_INIT, in = BUF_INIT;
  int bad = 0;
  for (size_t pre = 0; pre < 20 && !bad; pre++) {
    buf_reset(&in);
    buf_reset(&want);
    buf_reset(&got);
    for (unsigned ch = 0; ch < 256; ch++) {
      for (size_t k = 0; k < pre; k++) {
        buf_addc(&in, (char)('a' + k % 26));
        buf_addc(&want, (char)('a' + k % 26));
      }
      buf_addc(&in, (char)ch);
      if (ch == 0x81 || ch == 0x8d || ch == 0x8f || ch == 0x90 || ch == 0x9d) {
        buf_add_utf8(&want, ch);
        continue;
      }
      char one = (char)ch, out[8], *ip = &one, *op = out;
      size_t il = 1, ol = sizeof out;
      iconv(cd, NULL, NULL, NULL, NULL);
      if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) bad = 1;
      buf_add(&want, out, (size_t)(op - out));
    }
    charset_to_utf8(cs, 8, in.p, in.len, &got);
    if (got.len != want.len || memcmp(got.p, want.p, got.len)) bad = 1;
  }
  ok(!bad, "latin1: every byte, at every alignment, as iconv's CP1252 says (the gaps as C1 codes)");
  iconv_close(cd);
  buf_free(&want);
  buf_free(&got);
  buf_free(&in);
}

int main(void)
{
  cs = charset_conv_new();
  test_latin1_all();
  test_decimal();
  test_time_text();
  test_wkb();
  test_temporal();
  test_numbers();
  test_enum_set_bit();
  test_strings();
  test_rows();
  charset_conv_free(cs);
  return done_testing();
}
