/* jsonb.h - MySQL's binary JSON (the storage format of JSON columns in row
 * events) to JSON text. Objects and arrays in their small and large forms,
 * literals, integers, doubles, strings, and opaque values: DECIMAL, DATE,
 * TIME, DATETIME and TIMESTAMP as MySQL prints them inside JSON, other
 * opaque types as "base64:typeNN:..." strings, the way MySQL shows them. */
#ifndef BH_JSONB_H
#define BH_JSONB_H

#include "util/buf.h"

#include <stddef.h>

/* Appends the JSON text of the binary value p[0..n) to out. An empty value
 * is JSON null. Returns 0, or -1 with err when the value is malformed
 * (out is then left as it was). */
int jsonb_to_json(const unsigned char *p, size_t n, struct buf *out, char *err, size_t errsz);


/* Partial JSON updates (binlog_row_value_options=PARTIAL_JSON): a diff is a
 * list of (operation, path, binary value). jsonb_apply_diff applies it to
 * the JSON text before (the before image) and appends the whole new value,
 * leaving the text of everything the diff does not touch as it was; -1 with
 * err when it cannot (a path that does not resolve). jsonb_diff_to_json appends the diff itself, as
 * [{"op":"replace","path":"$.a","value":1},...], for when there is no
 * before image to apply it to. */
int jsonb_apply_diff(const char *before, size_t n, const unsigned char *diff, size_t dn, struct buf *out, char *err,
                     size_t errsz);
int jsonb_diff_to_json(const unsigned char *diff, size_t dn, struct buf *out, char *err, size_t errsz);

#endif
