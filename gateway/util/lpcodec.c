/* lpcodec.c - see lpcodec.h. */
#include "util/lpcodec.h"
#include "util/util.h"

#include <string.h>

void lp_put_u32(struct buf *b, uint32_t v)
{
  unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  buf_add(b, p, 4);
}

void lp_put_u64(struct buf *b, uint64_t v)
{
  lp_put_u32(b, (uint32_t)v);
  lp_put_u32(b, (uint32_t)(v >> 32));
}

void lp_put_bytes(struct buf *b, const void *p, size_t n)
{
  bh_assert(n < LP_ABSENT);
  lp_put_u32(b, (uint32_t)n);
  if (n) buf_add(b, p, n);
}

void lp_put_field(struct buf *b, const void *p, size_t n)
{
  if (!p)
    lp_put_u32(b, LP_ABSENT);
  else
    lp_put_bytes(b, p, n);
}

void lp_put_str(struct buf *b, const char *s)
{
  lp_put_field(b, s, s ? strlen(s) : 0);
}

void lp_reader_init(struct lp_reader *rd, const void *p, size_t n)
{
  rd->p = p;
  rd->end = rd->p + n;
  rd->bad = 0;
}

/* The next n bytes, or NULL (rd->bad set) when fewer are left. */
static const unsigned char *take(struct lp_reader *rd, size_t n)
{
  if (rd->bad || (size_t)(rd->end - rd->p) < n) {
    rd->bad = 1;
    return NULL;
  }
  const unsigned char *p = rd->p;
  rd->p += n;
  return p;
}

uint8_t lp_get_u8(struct lp_reader *rd)
{
  const unsigned char *p = take(rd, 1);
  return p ? p[0] : 0;
}

uint32_t lp_get_u32(struct lp_reader *rd)
{
  const unsigned char *p = take(rd, 4);
  return p ? le32(p) : 0;
}

uint64_t lp_get_u64(struct lp_reader *rd)
{
  const unsigned char *p = take(rd, 8);
  return p ? le64(p) : 0;
}

char *lp_get_field(struct lp_reader *rd, size_t *len)
{
  if (len) *len = 0;
  uint32_t n = lp_get_u32(rd);
  if (rd->bad || n == LP_ABSENT) return NULL;
  const unsigned char *p = take(rd, n);
  if (!p) return NULL;
  char *s = xmalloc((size_t)n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  if (len) *len = n;
  return s;
}
