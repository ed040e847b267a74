/* lpcodec.h - the length-prefixed field codec of what binhook stores (the
 * retry queue's records, the requests inside them): fixed-width integers,
 * little-endian, and fields of bytes each preceded by their length as a
 * u32. A field may be absent (a NULL string), which is written as the
 * length LP_ABSENT with no bytes.
 *
 * The writers append to a caller's buffer. A reader walks a caller's bytes
 * and never reads past their end: a read that would sets rd->bad and
 * returns 0 or NULL, and every later read then fails too, so a decoder
 * may read a whole record and look at rd->bad once. Fields read are new
 * NUL-terminated copies the caller frees. */
#ifndef BH_LPCODEC_H
#define BH_LPCODEC_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define LP_ABSENT 0xFFFFFFFFu /* the length of an absent field */

void lp_put_u32(struct buf *b, uint32_t v);
void lp_put_u64(struct buf *b, uint64_t v);

/* The u32 length n, then the n bytes of p (p may be NULL when n is 0).
 * n must be below LP_ABSENT. */
void lp_put_bytes(struct buf *b, const void *p, size_t n);

/* As lp_put_bytes, but a NULL p is written as absent. */
void lp_put_field(struct buf *b, const void *p, size_t n);

/* lp_put_field of the string s (NULL: absent). */
void lp_put_str(struct buf *b, const char *s);

struct lp_reader {
  const unsigned char *p, *end; /* the next byte to read, the end of the bytes */
  int bad;                      /* a read went past the end */
};

/* A reader of the n bytes at p (which must outlive it). */
void lp_reader_init(struct lp_reader *rd, const void *p, size_t n);

/* The next integer, or 0 with rd->bad set when fewer bytes are left. */
uint8_t lp_get_u8(struct lp_reader *rd);
uint32_t lp_get_u32(struct lp_reader *rd);
uint64_t lp_get_u64(struct lp_reader *rd);

/* The next field as a new NUL-terminated copy (the caller frees it), its
 * length in *len when len is not NULL. NULL with *len 0 for an absent
 * field (rd->bad unchanged), and when the field's length or its bytes are
 * cut short (rd->bad set). */
char *lp_get_field(struct lp_reader *rd, size_t *len);

#endif
