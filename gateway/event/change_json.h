/* change_json.h - a struct change from the canonical event JSON that
 * `binhook tail` prints (docs/DESIGN.md): how tests, and `binhook test --event`,
 * feed hand-written changes to rules and templates.
 *
 * The event gets a table of its own, built from the JSON: its columns are the
 * names found in "before", "after" and "key" (in that order of first
 * appearance), its primary key the columns of "key", in their order.
 *
 * Values: a JSON string is a string (so a DECIMAL, printed as "99.90", stays
 * a string: expressions read strings that are numbers as numbers); an
 * integer is a signed 64-bit integer, an unsigned one above INT64_MAX, an
 * exact decimal beyond that; a number written with a fraction and no
 * exponent is an exact decimal ("1.10" keeps its digits), one with an
 * exponent a double; true and false are the integers 1 and 0; arrays and
 * objects are JSON values (their text as written); null is NULL. A column
 * missing from "before" or "after" is absent from that image. A key column
 * missing from the image that carries the key (after, or before for updates
 * and deletes) takes its value from "key".
 *
 * Read: type, schema, table, key, before, after, sql, position (file, pos,
 * gtid), tx.index, ts ("YYYY-MM-DDTHH:MM:SSZ"), and for statements kind,
 * thread_id, user, tag and object. Other fields (id, changed) are derived
 * and ignored; a position.file that is a PostgreSQL LSN ("0/16B3748") is
 * the commit LSN the id is made of, as the PostgreSQL source makes it. */
#ifndef BH_CHANGE_JSON_H
#define BH_CHANGE_JSON_H

#include "event/change.h"

#include <stddef.h>

/* Parses the JSON object in text (n bytes) into a new event (the caller frees
 * it with change_free). Returns NULL with a message in err when the text is
 * not JSON or not an event. */
struct change *change_from_json(const char *text, size_t n, char *err, size_t errsz);

#endif
