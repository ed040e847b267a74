/* charset.h - text from the binlog to UTF-8. Column data arrives in the
 * column's own character set (named by a collation id in the table map);
 * canonical events carry UTF-8. A struct charset_conv caches converters and
 * belongs to one thread. */
#ifndef BH_CHARSET_H
#define BH_CHARSET_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define CHARSET_BINARY 63

enum charset_kind {
  CS_UNKNOWN, /* no metadata: bytes are passed through as UTF-8 when they are valid */
  CS_BINARY,
  CS_UTF8,    /* utf8mb3, utf8mb4, ascii: no conversion */
  CS_LATIN1,  /* MySQL's latin1, which is Windows-1252 with the C1 gaps filled */
  CS_OTHER,   /* converted with iconv */
};

struct charset_conv;

struct charset_conv *charset_conv_new(void);
void charset_conv_free(struct charset_conv *c);

/* What kind of conversion collation id needs. */
enum charset_kind charset_kind_of(struct charset_conv *c, uint16_t collation);

/* Appends s (n bytes in collation's charset) to out as UTF-8. Bytes that do
 * not convert become U+FFFD; never fails. */
void charset_to_utf8(struct charset_conv *c, uint16_t collation, const char *s, size_t n, struct buf *out);

/* charset_to_utf8 for a CS_LATIN1 collation, known to be one. */
void charset_latin1_to_utf8(const char *s, size_t n, struct buf *out);

/* 1 when s is valid UTF-8. */
int utf8_valid(const char *s, size_t n);

#endif
