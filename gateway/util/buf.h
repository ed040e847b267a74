/* buf.h - a growable byte buffer and the encoders that write into it (JSON
 * strings, base64). A buf owns its bytes; buf_free releases them. The content
 * is always NUL-terminated for convenience, the NUL not counted in len. */
#ifndef BH_BUF_H
#define BH_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
  char *p;
  size_t len;
  size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_reserve(struct buf *b, size_t extra);

void buf_free(struct buf *b);
static inline void buf_reset(struct buf *b) { b->len = 0; if (b->p) b->p[0] = 0; }

void buf_grow(struct buf *b, size_t extra); /* the slow path of buf_reserve */

static inline void buf_add(struct buf *b, const void *data, size_t n)
{
  if (b->len + n + 1 > b->cap) buf_grow(b, n);
  if (n) __builtin_memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}
static inline void buf_addc(struct buf *b, char c)
{
  if (b->len + 2 > b->cap) buf_grow(b, 1);
  b->p[b->len++] = c;
  b->p[b->len] = 0;
}
static inline void buf_adds(struct buf *b, const char *s) { buf_add(b, s, __builtin_strlen(s)); }
/* A string literal, its length known at compile time. */
#define buf_addlit(b, lit) buf_add((b), (lit), sizeof(lit) - 1)
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_add_u64(struct buf *b, uint64_t v);
void buf_add_i64(struct buf *b, int64_t v);
/* Shortest decimal text that reads back to the same double (or float when
 * is_float); NaN and infinities, which JSON cannot hold, become null. */
void buf_add_double(struct buf *b, double v, int is_float);

/* Appends s as a quoted JSON string. Invalid UTF-8 bytes become U+FFFD, so the
 * output is valid JSON whatever the input. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Appends code point cp (at most 0x10ffff) encoded as UTF-8. */
void buf_add_utf8(struct buf *b, unsigned long cp);

/* Appends s escaped as the inside of a JSON string, without the quotes. */
void buf_add_json_inner(struct buf *b, const char *s, size_t n);

/* One code point from s (n > 0 bytes left); *len its byte length. Invalid
 * bytes come back one at a time as -1. */
long utf8_next(const unsigned char *s, size_t n, size_t *len);

/* Appends s with its letters in upper (or lower) case: simple mappings of
 * ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other characters and
 * invalid bytes are kept as they are. */
void buf_add_case(struct buf *b, const char *s, size_t n, int upper);

/* Appends the base64 (RFC 4648, padded) of data, without quotes. */
void buf_add_base64(struct buf *b, const void *data, size_t n);

/* Writers for callers that reserve room once for many pieces (the change
 * printer): each writes at o, which must have the room its macro names, and
 * returns the end of what it wrote. They write no NUL. json_put_str may
 * store up to 16 bytes past its end, inside the room. */
#define JSON_STR_ROOM(n) (6 * (size_t)(n) + 2 + 16)
#define JSON_NUM_ROOM 40
#define BASE64_ROOM(n) (((size_t)(n) + 2) / 3 * 4)
/* s as a quoted JSON string, as buf_add_json_str writes it. */
char *json_put_str(char *o, const char *s, size_t n);
/* v in decimal, as buf_add_u64 and buf_add_i64 write it. */
char *json_put_u64(char *o, uint64_t v);
char *json_put_i64(char *o, int64_t v);
/* v as buf_add_double writes it. */
char *json_put_double(char *o, double v, int is_float);
/* The base64 of data, as buf_add_base64 writes it. */
char *base64_put(char *o, const void *data, size_t n);

/* Takes the bytes out of b (caller frees), leaving b empty. */
char *buf_steal(struct buf *b);

/* Appends the bytes of the file at path to b, at most max of them (0: no
 * bound; a longer file stops there, and b->len > max tells). Returns 0, or
 * -1 with err naming the file, errno kept (ENOENT: there is none); b then
 * holds what was read. */
int buf_read_file(struct buf *b, const char *path, size_t max, char *err, size_t errsz);

#endif
