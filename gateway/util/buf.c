/* buf.c - see buf.h. */
#include "util/buf.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void buf_reserve(struct buf *b, size_t extra)
{
  if (b->len + extra + 1 > b->cap) buf_grow(b, extra);
}

void buf_grow(struct buf *b, size_t extra)
{
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->p = xrealloc(b->p, cap);
  b->cap = cap;
}

void buf_free(struct buf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

enum { MOD_NONE, MOD_L, MOD_LL, MOD_Z };

/* The conversion at f (after its '%'), when it is one buf_printf does
 * itself: s, or d, i, u with no length modifier, l, ll or z; no flags,
 * width or precision. Returns its modifier, with the letter in *conv and
 * its length in *len, or -1 for anything else. */
static int simple_conv(const char *f, char *conv, size_t *len)
{
  int mod = MOD_NONE;
  size_t k = 0;
  if (f[0] == 'l' && f[1] == 'l') mod = MOD_LL, k = 2;
  else if (f[0] == 'l') mod = MOD_L, k = 1;
  else if (f[0] == 'z') mod = MOD_Z, k = 1;
  char c = f[k];
  if (!(c == 's' && mod == MOD_NONE) && c != 'd' && c != 'i' && c != 'u') return -1;
  *conv = c;
  *len = k + 1;
  return mod;
}

/* Formats made of text, %%, %s, and %d, %i or %u (with l, ll or z), the
 * most of those binhook uses (headers, names, counts), without vsnprintf and
 * with the same text. Returns 0, or -1 for other formats, having written
 * nothing. */
static int simple_printf(struct buf *b, const char *fmt, va_list ap)
{
  char conv = 0;
  size_t len = 0;
  for (const char *c = fmt; *c; c++) {
    if (*c != '%') continue;
    if (c[1] == '%') {
      c++;
      continue;
    }
    if (simple_conv(c + 1, &conv, &len) < 0) return -1;
    c += len;
  }
  const char *run = fmt, *c = fmt;
  for (; *c; c++) {
    if (*c != '%') continue;
    buf_add(b, run, (size_t)(c - run));
    if (c[1] == '%') {
      buf_addc(b, '%');
      c++;
      run = c + 1;
      continue;
    }
    int mod = simple_conv(c + 1, &conv, &len);
    if (conv == 's') {
      const char *str = va_arg(ap, const char *);
      buf_adds(b, str ? str : "(null)"); /* what glibc prints */
    } else if (conv == 'u') {
      uint64_t v = mod == MOD_LL ? va_arg(ap, unsigned long long)
                   : mod == MOD_L ? va_arg(ap, unsigned long)
                   : mod == MOD_Z ? va_arg(ap, size_t)
                                  : va_arg(ap, unsigned);
      buf_add_u64(b, v);
    } else {
      int64_t v = mod == MOD_LL ? va_arg(ap, long long)
                  : mod == MOD_L ? va_arg(ap, long)
                  : mod == MOD_Z ? va_arg(ap, ssize_t)
                                 : va_arg(ap, int);
      buf_add_i64(b, v);
    }
    c += len;
    run = c + 1;
  }
  buf_add(b, run, (size_t)(c - run));
  return 0;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int done = simple_printf(b, fmt, ap) == 0;
  va_end(ap);
  if (done) return;
  va_start(ap, fmt);
  int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
  va_end(ap);
  bh_assert(n >= 0);
  if (b->p && (size_t)n < b->cap - b->len) {
    b->len += (size_t)n;
    return;
  }
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* "00" to "99": integers are written two digits at a time. */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v, below 2^32, as exactly n digits ending at o + n (zero-padded,
 * higher digits cut); 32-bit arithmetic, two digits a step. */
static inline void u32_fixed(char *o, uint32_t v, unsigned n)
{
  char *p = o + n;
  while (n >= 2) {
    uint32_t r = v % 100;
    v /= 100;
    p -= 2;
    memcpy(p, digit_pairs + 2 * r, 2);
    n -= 2;
  }
  if (n) p[-1] = (char)('0' + v % 10);
}

/* v, below 10000, as exactly four digits. */
static inline char *put4(char *o, uint32_t v)
{
  memcpy(o, digit_pairs + 2 * (v / 100), 2);
  memcpy(o + 2, digit_pairs + 2 * (v % 100), 2);
  return o + 4;
}

/* v, below 10000, without leading zeros. */
static inline char *put_small(char *o, uint32_t v)
{
  if (v < 100) {
    if (v < 10) {
      *o = (char)('0' + v);
      return o + 1;
    }
    memcpy(o, digit_pairs + 2 * v, 2);
    return o + 2;
  }
  uint32_t hi = v / 100, lo = v % 100;
  if (hi < 10) {
    o[0] = (char)('0' + hi);
    memcpy(o + 1, digit_pairs + 2 * lo, 2);
    return o + 3;
  }
  memcpy(o, digit_pairs + 2 * hi, 2);
  memcpy(o + 2, digit_pairs + 2 * lo, 2);
  return o + 4;
}

/* v without leading zeros: groups of four digits, the first one short. */
static inline char *u32_put(char *o, uint32_t v)
{
  if (v < 10000) return put_small(o, v);
  if (v < 100000000) return put4(put_small(o, v / 10000), v % 10000);
  uint32_t low8 = v % 100000000;
  o = put_small(o, v / 100000000);
  return put4(put4(o, low8 / 10000), low8 % 10000);
}

char *json_put_u64(char *o, uint64_t v)
{
  if (v <= UINT32_MAX) return u32_put(o, (uint32_t)v);
  /* Eight digits at a time from the low end, each part below 2^32. */
  uint64_t hi = v / 100000000;
  uint32_t lo = (uint32_t)(v % 100000000);
  if (hi <= UINT32_MAX) {
    o = u32_put(o, (uint32_t)hi);
  } else {
    o = u32_put(o, (uint32_t)(hi / 100000000));
    u32_fixed(o, (uint32_t)(hi % 100000000), 8);
    o += 8;
  }
  u32_fixed(o, lo, 8);
  return o + 8;
}

char *json_put_i64(char *o, int64_t v)
{
  if (v < 0) {
    *o++ = '-';
    return json_put_u64(o, (uint64_t)0 - (uint64_t)v);
  }
  return json_put_u64(o, (uint64_t)v);
}

void buf_add_u64(struct buf *b, uint64_t v)
{
  buf_reserve(b, 20);
  b->len = (size_t)(json_put_u64(b->p + b->len, v) - b->p);
  b->p[b->len] = 0;
}

void buf_add_i64(struct buf *b, int64_t v)
{
  buf_reserve(b, 20);
  b->len = (size_t)(json_put_i64(b->p + b->len, v) - b->p);
  b->p[b->len] = 0;
}

/* The powers of ten a double holds exactly. */
static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The common case of buf_add_double without printf: v has a decimal form
 * of at most 15 significant digits (6 for a float) that %g prints without
 * an exponent (from 1e-4 up to 1e15, 1e6 for a float). The fewest fraction
 * digits k for which m = round(|v| * 10^k) reads back as v give that form,
 * the one %.15g (%.6g) prints: m < 2^53 and 10^k are exact, so m / 10^k is
 * correctly rounded, which is what strtod makes of the text, and the check
 * is the round trip itself. Returns the length written to out (at least 24
 * bytes), or 0 when v is not such a number. */
static size_t short_double(char *out, double v, int is_float)
{
  /* 10^k as integers, for splitting m into its integer and fraction parts */
  static const uint64_t pow10_int[16] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
                                         10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
                                         100000000000ULL, 1000000000000ULL, 10000000000000ULL,
                                         100000000000000ULL, 1000000000000000ULL};
  double a = fabs(v), lim = is_float ? 1e6 : 1e15;
  if (!(a >= 1e-4 && a < lim)) return 0;
  /* k = 0 would be a whole number, which json_put_double has written */
  for (int k = 1; k <= 22; k++) {
    /* floor(x) >= lim exactly when x >= lim (lim is whole); below it the
     * conversion to an integer is floor, x being positive */
    double x = a * exact_pow10[k] + 0.5;
    if (x >= lim) return 0; /* more digits than %g's precision */
    double m = (double)(int64_t)x;
    double back = m / exact_pow10[k];
    if (is_float ? (float)back != (float)a : back != a) continue;
    /* m < 10^15 and k <= 19 here (a >= 1e-4): the integer part, a point
     * and the k digits of the fraction with their leading zeros */
    uint64_t mi = (uint64_t)m, p = k < 16 ? pow10_int[k] : 0;
    uint64_t ip = p ? mi / p : 0, frac = p ? mi % p : mi;
    char *o = out;
    if (v < 0) *o++ = '-';
    o = json_put_u64(o, ip);
    *o++ = '.';
    unsigned ku = (unsigned)k;
    while (ku > 8) {
      *o++ = '0' + (char)(ku > 15 ? 0 : (frac / pow10_int[ku - 1]) % 10);
      ku--;
    }
    u32_fixed(o, (uint32_t)(frac % 100000000), ku);
    return (size_t)(o + ku - out);
  }
  return 0;
}

char *json_put_double(char *o, double v, int is_float)
{
  if (!isfinite(v)) {
    memcpy(o, "null", 4);
    return o + 4;
  }
  /* Whole numbers print as integers, as %g prints them below 1e15 (the
   * range is checked before the conversion: a double beyond int64_t's range
   * converted to it is undefined behaviour). */
  if (fabs(v) < (is_float ? 1e6 : 1e15) && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
    return json_put_i64(o, (int64_t)v);
  size_t n = short_double(o, v, is_float);
  if (n) return o + n;
  /* %g at increasing precision: the first text that reads back exactly is the
   * shortest; %g drops trailing zeros, so starting near the limit is enough. */
  int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
  /* Subnormals have fewer significant bits: their shortest form can be short. */
  if (v != 0 && fabs(v) < (is_float ? FLT_MIN : DBL_MIN)) lo = 1;
  for (int prec = lo; prec <= hi; prec++) {
    snprintf(o, JSON_NUM_ROOM, "%.*g", prec, v);
    double back = strtod(o, NULL);
    if (is_float ? (float)back == (float)v : back == v) break;
  }
  return o + strlen(o);
}

void buf_add_double(struct buf *b, double v, int is_float)
{
  buf_reserve(b, JSON_NUM_ROOM);
  b->len = (size_t)(json_put_double(b->p + b->len, v, is_float) - b->p);
  b->p[b->len] = 0;
}

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  unsigned cp = c & (0xff >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* Bytes that can be copied into a JSON string as they are. */
static const unsigned char json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* 1 when none of the 8 bytes in w needs attention: each is >= 0x20, < 0x80,
 * and neither '"' nor '\\'. */
static inline int plain8(uint64_t w)
{
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  uint64_t ctl = (w - ones * 0x20) & ~w;           /* bytes below 0x20 */
  uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
  uint64_t quote = (q - ones) & ~q, back = (bs - ones) & ~bs;
  return !((ctl | quote | back | w) & highs);
}

#ifdef __SSE2__
/* The bytes of w that need attention, as a bit mask: below 0x20 or from
 * 0x80 (negative as signed bytes), '"' and '\\'. */
static inline unsigned special_vec(__m128i w)
{
  __m128i bad = _mm_or_si128(_mm_cmplt_epi8(w, _mm_set1_epi8(0x20)),
                             _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(w, _mm_set1_epi8('\\'))));
  return (unsigned)_mm_movemask_epi8(bad);
}

/* The same for the 16 bytes at s. */
static inline unsigned special16(const unsigned char *s)
{
  return special_vec(_mm_loadu_si128((const __m128i *)(const void *)s));
}
#endif

/* The bytes of w (in memory order) that need attention, as the high bit of
 * each: plain8's test, kept per byte. Borrows may set bits above the lowest
 * one that is set; the lowest is always right, and it is the one used. */
static inline uint64_t special8(uint64_t w)
{
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  uint64_t ctl = (w - ones * 0x20) & ~w;
  uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
  uint64_t quote = (q - ones) & ~q, back = (bs - ones) & ~bs;
  return (ctl | quote | back | w) & highs;
}

/* How many bytes at the start of s (n of them) go into a JSON string as they
 * are. Whole words are tested at a time; the last, partial one is tested as
 * the word that ends the text, overlapping bytes already known to be plain. */
static size_t plain_run(const unsigned char *s, size_t n)
{
  size_t j = 0;
#ifdef __SSE2__
  if (n >= 16) {
    for (; j + 16 <= n; j += 16) {
      unsigned m = special16(s + j);
      if (m) return j + (size_t)__builtin_ctz(m);
    }
    if (j == n) return n;
    unsigned m = special16(s + n - 16);
    return m ? n - 16 + (size_t)__builtin_ctz(m) : n;
  }
#endif
  uint64_t w;
  if (n < 8) {
    /* Short text: two 4-byte halves that may overlap make one word. */
    if (n >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, s, 4);
      memcpy(&hi, s + n - 4, 4);
      if (plain8((uint64_t)hi << 32 | lo)) return n;
    }
  } else {
    for (; j + 8 <= n; j += 8) {
      memcpy(&w, s + j, 8);
      if (!plain8(w)) break;
    }
    if (j == n) return n;
    if (j + 8 > n) {
      memcpy(&w, s + n - 8, 8);
      if (plain8(w)) return n;
    }
  }
  while (j < n && json_plain[s[j]]) j++;
  return j;
}

/* Copies n bytes; short runs, the most common, without a call. */
static inline void copy_run(char *d, const unsigned char *s, size_t n)
{
  if (n > 16) {
    memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t a, z;
    memcpy(&a, s, 8);
    memcpy(&z, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &z, 8);
  } else if (n >= 4) {
    uint32_t a, z;
    memcpy(&a, s, 4);
    memcpy(&z, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &z, 4);
  } else {
    for (size_t i = 0; i < n; i++) d[i] = (char)s[i];
  }
}

/* The letter after the backslash of the two-byte escapes; 0: \u00XX. */
static const char short_escape[128] = {
    ['"'] = '"', ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['\b'] = 'b', ['\f'] = 'f',
};

/* Text longer than this is escaped into a buf that grows as it goes, not
 * into room reserved for the worst case (six bytes a byte). */
#define JSON_STR_RESERVED_MAX 4096

/* json_put_str for text that needs no escaping, the most common: the text
 * is copied in blocks that overlap where its length is not a multiple of
 * theirs, each tested as it is copied. Returns the end of the string
 * written (closing quote included), or NULL, having written only bytes
 * json_put_str writes over, when some byte needs attention. */
static inline char *plain_put(char *o, const unsigned char *s, size_t n)
{
  o[0] = '"';
  char *d = o + 1;
#ifdef __SSE2__
  if (n >= 16) {
    __m128i w;
    for (size_t i = 0; i + 16 <= n; i += 16) {
      w = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
      _mm_storeu_si128((__m128i *)(void *)(d + i), w);
      if (special_vec(w)) return NULL;
    }
    if (n % 16) {
      w = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
      _mm_storeu_si128((__m128i *)(void *)(d + n - 16), w);
      if (special_vec(w)) return NULL;
    }
    d[n] = '"';
    return d + n + 1;
  }
  /* Shorter text: its first and last 8 (or 4) bytes, which may overlap, in
   * one vector. */
  if (n >= 4) {
    uint64_t a, z;
    unsigned used;
    if (n >= 8) {
      memcpy(&a, s, 8);
      memcpy(&z, s + n - 8, 8);
      used = 0xffff;
    } else {
      uint32_t a4, z4;
      memcpy(&a4, s, 4);
      memcpy(&z4, s + n - 4, 4);
      a = a4 | (uint64_t)z4 << 32;
      z = 0;
      used = 0xff;
    }
    if (special_vec(_mm_set_epi64x((long long)z, (long long)a)) & used) return NULL;
    if (n >= 8) {
      memcpy(d, &a, 8);
      memcpy(d + n - 8, &z, 8);
    } else {
      memcpy(d, &a, 4);
      memcpy(d + n - 4, (const char *)&a + 4, 4);
    }
    d[n] = '"';
    return d + n + 1;
  }
#endif
  if (n >= 8) {
    uint64_t a;
    for (size_t i = 0; i + 8 <= n; i += 8) {
      memcpy(&a, s + i, 8);
      if (special8(a)) return NULL;
      memcpy(d + i, &a, 8);
    }
    if (n % 8) {
      memcpy(&a, s + n - 8, 8);
      if (special8(a)) return NULL;
      memcpy(d + n - 8, &a, 8);
    }
  } else if (n >= 4) {
    uint32_t a, z;
    memcpy(&a, s, 4);
    memcpy(&z, s + n - 4, 4);
    if ((special8(a) | special8(z)) & 0x80808080u) return NULL;
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &z, 4);
  } else {
    for (size_t i = 0; i < n; i++) {
      if (!json_plain[s[i]]) return NULL;
      d[i] = (char)s[i];
    }
  }
  d[n] = '"';
  return d + n + 1;
}

/* A two-byte escape (\" \\ \n ...) or \u00XX for the ASCII byte c. */
static inline char *put_escape(char *o, unsigned c)
{
  o[0] = '\\';
  if (short_escape[c]) {
    o[1] = short_escape[c];
    return o + 2;
  }
  o[1] = 'u', o[2] = '0', o[3] = '0', o[4] = hexdig[c >> 4], o[5] = hexdig[c & 15];
  return o + 6;
}

/* json_put_str for text with bytes to escape or to check as UTF-8. */
static __attribute__((noinline)) char *escaped_put(char *o, const unsigned char *s, const unsigned char *end)
{
  *o++ = '"';
  for (;;) {
    /* Plain bytes are stored a block at a time, before they are tested: the
     * block's first special byte and what follows are written again. */
    size_t left = (size_t)(end - s);
#ifdef __SSE2__
    if (left >= 16) {
      __m128i w = _mm_loadu_si128((const __m128i *)(const void *)s);
      _mm_storeu_si128((__m128i *)(void *)o, w);
      unsigned m = special_vec(w);
      if (!m) {
        s += 16, o += 16;
        continue;
      }
      /* The block's ASCII specials one after the other (JSON text in a
       * string has many): its mask says where the next one is, and the
       * plain bytes before it are stored again from the input, shifted. */
      unsigned k = (unsigned)__builtin_ctz(m);
      s += k, o += k;
      while (*s < 0x80) {
        o = put_escape(o, *s++);
        m >>= k + 1;
        if (!m || end - s < 16) break;
        _mm_storeu_si128((__m128i *)(void *)o, _mm_loadu_si128((const __m128i *)(const void *)s));
        k = (unsigned)__builtin_ctz(m);
        s += k, o += k;
      }
      if (s == end || *s < 0x80) continue; /* on from s; a byte from 0x80 is handled below */
    } else
#endif
    if (left >= 8) {
      uint64_t w;
      memcpy(&w, s, 8);
      memcpy(o, &w, 8);
      uint64_t m = special8(w);
      if (!m) {
        s += 8, o += 8;
        continue;
      }
      unsigned k = (unsigned)__builtin_ctzll(m) / 8;
      s += k, o += k;
    } else if (left >= 4) {
      uint32_t w;
      memcpy(&w, s, 4);
      memcpy(o, &w, 4);
      uint64_t m = special8(w) & 0x80808080u; /* the upper four bytes are not text */
      if (!m) {
        s += 4, o += 4;
        continue;
      }
      unsigned k = (unsigned)__builtin_ctzll(m) / 8;
      s += k, o += k;
    } else {
      while (s < end && json_plain[*s]) *o++ = (char)*s++;
      if (s == end) break;
    }
    unsigned c = *s;
    if (c >= 0x80) {
      size_t l = utf8_seq(s, (size_t)(end - s));
      if (!l) {
        o[0] = (char)0xef, o[1] = (char)0xbf, o[2] = (char)0xbd;
        o += 3;
        s++;
        continue;
      }
      for (size_t i = 0; i < l; i++) o[i] = (char)s[i];
      o += l, s += l;
      continue;
    }
    o = put_escape(o, c);
    s++;
  }
  *o++ = '"';
  return o;
}

char *json_put_str(char *o, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  char *done = plain_put(o, s, n);
  return done ? done : escaped_put(o, s, s + n);
}

void buf_add_json_str(struct buf *b, const char *str, size_t n)
{
  if (n <= JSON_STR_RESERVED_MAX) {
    buf_reserve(b, JSON_STR_ROOM(n));
    b->len = (size_t)(json_put_str(b->p + b->len, str, n) - b->p);
    b->p[b->len] = 0;
    return;
  }
  /* Most text needs no escaping: room for that case, and then one copy. */
  buf_reserve(b, n + 2);
  size_t run = plain_run((const unsigned char *)str, n);
  char *o = b->p + b->len;
  o[0] = '"';
  copy_run(o + 1, (const unsigned char *)str, run);
  b->len += run + 1;
  if (run < n) buf_add_json_inner(b, str + run, n - run);
  buf_addc(b, '"');
}

void buf_add_json_inner(struct buf *b, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  buf_reserve(b, n + 1);
  size_t i = 0;
  while (i < n) {
    /* Between escapes runs are often short (JSON text in a string): a few
     * bytes are looked at one by one before whole words are. */
    size_t j = i;
    while (j < n && j - i < 8 && json_plain[s[j]]) j++;
    if (j - i == 8) j += plain_run(s + j, n - j);
    if (j > i) {
      buf_reserve(b, j - i + 1);
      copy_run(b->p + b->len, s + i, j - i);
      b->len += j - i;
      i = j;
      if (i == n) break;
    }
    unsigned c = s[i];
    if (c >= 0x80) {
      size_t l = utf8_seq(s + i, n - i);
      if (l) {
        buf_add(b, s + i, l);
        i += l;
      } else {
        buf_add(b, "\xef\xbf\xbd", 3);
        i++;
      }
      continue;
    }
    char esc[7];
    switch (c) {
    case '"': buf_add(b, "\\\"", 2); break;
    case '\\': buf_add(b, "\\\\", 2); break;
    case '\n': buf_add(b, "\\n", 2); break;
    case '\r': buf_add(b, "\\r", 2); break;
    case '\t': buf_add(b, "\\t", 2); break;
    case '\b': buf_add(b, "\\b", 2); break;
    case '\f': buf_add(b, "\\f", 2); break;
    default:
      esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
      esc[4] = hexdig[c >> 4], esc[5] = hexdig[c & 15], esc[6] = 0;
      buf_add(b, esc, 6);
    }
    i++;
  }
  b->p[b->len] = 0;
}

void buf_add_utf8(struct buf *b, unsigned long cp)
{
  char o[4];
  size_t n;
  if (cp < 0x80) {
    o[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  } else if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    o[0] = (char)(0xf0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  }
  buf_add(b, o, n);
}

char *base64_put(char *o, const void *data, size_t n)
{
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *s = data;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = tab[(v >> 6) & 63];
    *o++ = tab[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  return o;
}

void buf_add_base64(struct buf *b, const void *data, size_t n)
{
  buf_reserve(b, BASE64_ROOM(n));
  b->len = (size_t)(base64_put(b->p + b->len, data, n) - b->p);
  b->p[b->len] = 0;
}

char *buf_steal(struct buf *b)
{
  char *p = b->p ? b->p : xstrdup("");
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

/* One code point from s (n > 0 bytes left); *len its byte length. Invalid
 * bytes come back one at a time as -1. */
long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
  unsigned char b = s[0];
  size_t l = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
  *len = 1;
  if (!l || l > n) return -1;
  long cp = l == 1 ? b : l == 2 ? (b & 0x1f) : l == 3 ? (b & 0x0f) : (b & 0x07);
  for (size_t k = 1; k < l; k++) {
    if ((s[k] & 0xc0) != 0x80) return -1;
    cp = cp << 6 | (s[k] & 0x3f);
  }
  *len = l;
  return cp;
}

/* Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic: enough for the names and words rules usually test. */
static long to_lower(long c)
{
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) ||
      (c >= 0x410 && c <= 0x42f))
    return c + 32;
  if (c >= 0x400 && c <= 0x40f) return c + 80;
  if (((c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) && !(c & 1))
    return c + 1;
  if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) && (c & 1)) return c + 1;
  if (c == 0x178) return 0xff;
  if (c == 0x386) return 0x3ac;
  if (c >= 0x388 && c <= 0x38a) return c + 37;
  if (c == 0x38c) return 0x3cc;
  if (c == 0x38e || c == 0x38f) return c + 63;
  return c;
}

static long to_upper(long c)
{
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) ||
      (c >= 0x430 && c <= 0x44f))
    return c - 32;
  if (c == 0x3c2) return 0x3a3; /* final sigma */
  if (c >= 0x450 && c <= 0x45f) return c - 80;
  if (((c >= 0x101 && c <= 0x12f) || (c >= 0x133 && c <= 0x137) || (c >= 0x14b && c <= 0x177)) && (c & 1))
    return c - 1;
  if (((c >= 0x13a && c <= 0x148) || (c >= 0x17a && c <= 0x17e)) && !(c & 1)) return c - 1;
  if (c == 0xff) return 0x178;
  if (c == 0x3ac) return 0x386;
  if (c >= 0x3ad && c <= 0x3af) return c - 37;
  if (c == 0x3cc) return 0x38c;
  if (c == 0x3cd || c == 0x3ce) return c - 63;
  return c;
}

void buf_add_case(struct buf *b, const char *str, size_t n, int upper)
{
  const unsigned char *s = (const unsigned char *)str;
  buf_reserve(b, n);
  for (size_t i = 0; i < n;) {
    size_t l;
    long cp = utf8_next(s + i, n - i, &l);
    if (cp < 0)
      buf_addc(b, (char)s[i]);
    else
      buf_add_utf8(b, (unsigned long)(upper ? to_upper(cp) : to_lower(cp)));
    i += l;
  }
}

int buf_read_file(struct buf *b, const char *path, size_t max, char *err, size_t errsz)
{
  char eb[128], chunk[1 << 16];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    bh_err(err, errsz, "cannot open '%s': %s", path, bh_strerror(e, eb, sizeof eb));
    errno = e;
    return -1;
  }
  size_t start = b->len;
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(e, eb, sizeof eb));
      errno = e;
      return -1;
    }
    if (!r) break;
    buf_add(b, chunk, (size_t)r);
    if (max && b->len - start > max) break;
  }
  close(fd);
  return 0;
}
