/* pg_types.h - PostgreSQL column values into the values of a change event
 * (event/change.h). pgoutput sends each value as the type's text output, in
 * the session settings pg_source.c asks for (DateStyle ISO, TimeZone UTC,
 * IntervalStyle iso_8601, shortest floats); the column's type oid, from the
 * Relation message, says how to read it. The mapping is the one of
 * docs/DESIGN.md ("The PostgreSQL source"): exact integers, numeric as a
 * string, shortest floats, bytea as base64, bool, json and jsonb embedded,
 * arrays as JSON arrays of their element type, dates and times as ISO 8601
 * strings (timestamptz in UTC with Z), everything else (enums, domains,
 * inet, ...) as the server's text.
 *
 * Values never borrow the input: text goes into the event's arena. */
#ifndef BH_PG_TYPES_H
#define BH_PG_TYPES_H

#include "event/change.h"
#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Built-in type oids binhook reads other than as text (pg_type.dat). */
enum {
  PG_BOOL = 16,
  PG_BYTEA = 17,
  PG_INT8 = 20,
  PG_INT2 = 21,
  PG_INT4 = 23,
  PG_TEXT = 25,
  PG_OID = 26,
  PG_JSON = 114,
  PG_FLOAT4 = 700,
  PG_FLOAT8 = 701,
  PG_DATE = 1082,
  PG_TIME = 1083,
  PG_TIMESTAMP = 1114,
  PG_TIMESTAMPTZ = 1184,
  PG_INTERVAL = 1186,
  PG_NUMERIC = 1700,
  PG_JSONB = 3802,
};

/* How a column's values are read: its type oid, and for an array type
 * the element's type (0 when it is not an array). */
struct pg_coltype {
  uint32_t oid;
  uint32_t elem;
};

/* The element type of a built-in array type, or 0 when oid names none. */
uint32_t pg_array_elem(uint32_t oid);

/* The MySQL type code (source/binlog.h) closest to oid, for the column's
 * type in messages and for code that looks at a column's family. */
uint8_t pg_mysql_type(uint32_t oid, uint32_t elem);

/* Reads n bytes of text of a column of type t into v; text kinds go into
 * arena. Returns 0, or -1 with err when the text is not what the type
 * prints (a damaged stream: never asserted). */
int pg_value_from_text(const struct pg_coltype *t, const char *s, size_t n, struct value *v,
                       struct buf *arena, char *err, size_t errsz);

/* Appends the JSON text of json (n bytes, valid JSON as the server checked
 * it) without the whitespace between tokens, so that an event stays one
 * line. */
void pg_json_compact(const char *s, size_t n, struct buf *out);

#endif
