/* charset.c - see charset.h. Collation ids are mapped to charsets with
 * Connector/C's tables; conversions other than latin1 go through iconv, one
 * descriptor per charset, opened on first use. */
#include "source/charset.h"
#include "util/util.h"

#include <errno.h>
#include <iconv.h>
#include <mysql.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_COLLATION 4096

struct charset_conv {
  uint8_t kind[MAX_COLLATION]; /* 0: not looked up yet, else enum charset_kind + 1 */
  iconv_t cd[MAX_COLLATION];
};

/* Windows-1252 0x80..0x9f as MySQL's latin1 maps them (undefined bytes map
 * to the C1 control with the same number, as MySQL does). */
static const uint16_t cp1252_c1[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* A latin1 byte of 0x80 and above as UTF-8: its length, then its bytes
 * (2 or 3 of them). */
static unsigned char high_utf8[128][4];
static pthread_once_t high_once = PTHREAD_ONCE_INIT;

static void make_high(void)
{
  for (unsigned ch = 0x80; ch < 0x100; ch++) {
    unsigned long cp = ch < 0xa0 ? cp1252_c1[ch - 0x80] : ch;
    struct buf b = BUF_INIT;
    buf_add_utf8(&b, cp);
    high_utf8[ch - 0x80][0] = (unsigned char)b.len;
    memcpy(high_utf8[ch - 0x80] + 1, b.p, b.len);
    buf_free(&b);
  }
}

/* Runs of ASCII (most text in latin1 columns) are copied eight bytes at a
 * time; the other bytes come from the table. Only what is written is
 * reserved: a row's buffer is sized from the row before, and reserving for
 * the worst case (three bytes a byte) would grow it at every row. */
void charset_latin1_to_utf8(const char *str, size_t n, struct buf *out)
{
  const unsigned char *s = (const unsigned char *)str;
  /* Text that is all ASCII, the most common, is copied as it is. */
  size_t i = 0;
  uint64_t high = 0;
#ifdef __SSE2__
  for (; i + 16 <= n && !high; i += 16)
    high = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i)));
#endif
  for (uint64_t word; i + 8 <= n && !high; i += 8) {
    memcpy(&word, s + i, 8);
    high = word & 0x8080808080808080ull;
  }
  if (!high) {
    for (; i < n; i++) high |= s[i] & 0x80;
    if (!high) {
      buf_add(out, str, n);
      return;
    }
  }
  pthread_once(&high_once, make_high);
  buf_reserve(out, n); /* at least: an empty string leaves a terminated buffer too */
  i = 0;
  while (i < n) {
    size_t j = i;
    for (uint64_t w; j + 8 <= n; j += 8) {
      memcpy(&w, s + j, 8);
      if (w & 0x8080808080808080ull) break;
    }
    while (j < n && s[j] < 0x80) j++;
    if (j > i) buf_add(out, (const char *)s + i, j - i);
    for (i = j; i < n && s[i] >= 0x80; i++) {
      const unsigned char *t = high_utf8[s[i] - 0x80];
      buf_add(out, (const char *)t + 1, t[0]);
    }
  }
}

struct charset_conv *charset_conv_new(void)
{
  struct charset_conv *c = xcalloc(1, sizeof *c);
  for (size_t i = 0; i < MAX_COLLATION; i++) c->cd[i] = (iconv_t)-1;
  return c;
}

void charset_conv_free(struct charset_conv *c)
{
  if (!c) return;
  for (size_t i = 0; i < MAX_COLLATION; i++)
    if (c->cd[i] != (iconv_t)-1) iconv_close(c->cd[i]);
  free(c);
}

static enum charset_kind classify(struct charset_conv *c, uint16_t id)
{
  if (id == 0) return CS_UNKNOWN;
  if (id == CHARSET_BINARY) return CS_BINARY;
  MARIADB_CHARSET_INFO *cs = mariadb_get_charset_by_nr(id);
  if (!cs || !cs->csname) {
    /* Collations newer than the client library's tables (MariaDB's UCA 14
     * ids are above 2048 and encode the charset in their low bits) are all
     * utf8mb3/utf8mb4 or ucs/utf16/utf32 in practice; take them as UTF-8. */
    return CS_UTF8;
  }
  const char *n = cs->csname;
  if (!strncmp(n, "utf8", 4) || !strcmp(n, "ascii")) return CS_UTF8;
  if (!strcmp(n, "latin1")) return CS_LATIN1;
  if (!strcmp(n, "binary")) return CS_BINARY;
  const char *enc = cs->encoding && *cs->encoding ? cs->encoding : n;
  if (!strcmp(n, "utf16le")) enc = "UTF-16LE";
  else if (!strcmp(n, "utf16") || !strcmp(n, "ucs2")) enc = "UTF-16BE";
  else if (!strcmp(n, "utf32")) enc = "UTF-32BE";
  c->cd[id] = iconv_open("UTF-8", enc);
  return c->cd[id] == (iconv_t)-1 ? CS_UNKNOWN : CS_OTHER;
}

enum charset_kind charset_kind_of(struct charset_conv *c, uint16_t id)
{
  if (id >= MAX_COLLATION) return CS_UTF8;
  if (!c->kind[id]) c->kind[id] = (uint8_t)(classify(c, id) + 1);
  return (enum charset_kind)(c->kind[id] - 1);
}

void charset_to_utf8(struct charset_conv *c, uint16_t id, const char *s, size_t n, struct buf *out)
{
  enum charset_kind k = charset_kind_of(c, id);
  if (k == CS_LATIN1) {
    charset_latin1_to_utf8(s, n, out);
    return;
  }
  if (k != CS_OTHER) {
    buf_add(out, s, n); /* UTF-8 already; the JSON writer replaces invalid bytes */
    return;
  }
  iconv_t cd = c->cd[id];
  buf_reserve(out, n * 4 + 16);
  iconv(cd, NULL, NULL, NULL, NULL);
  char *in = (char *)s;
  size_t inleft = n;
  while (inleft > 0) {
    buf_reserve(out, inleft * 4 + 16);
    char *o = out->p + out->len;
    size_t oleft = out->cap - out->len - 1;
    size_t rc = iconv(cd, &in, &inleft, &o, &oleft);
    out->len = (size_t)(o - out->p);
    if (rc == (size_t)-1 && errno != E2BIG) {
      buf_add(out, "\xef\xbf\xbd", 3); /* skip one undecodable byte */
      in++;
      inleft--;
      iconv(cd, NULL, NULL, NULL, NULL);
    }
  }
  out->p[out->len] = 0;
}

int utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || i + len > n) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[i + 1] < 0xa0) return 0;
    if (c == 0xed && s[i + 1] > 0x9f) return 0;
    if (c == 0xf0 && s[i + 1] < 0x90) return 0;
    if (c == 0xf4 && s[i + 1] > 0x8f) return 0;
    i += len;
  }
  return 1;
}
