/* tmpl.h - payload templates: compiled once when the config is loaded,
 * rendered for every delivery straight into a buffer.
 *
 * Four modes, one placeholder syntax, {{ expression }}:
 *   TMPL_JSON    a JSON document (the file must be valid JSON). A string that
 *                is exactly one placeholder, "{{ after }}", becomes the value
 *                itself (an object, a number, null...); a placeholder inside a
 *                longer string, "order {{ key.id }} paid", is interpolated and
 *                escaped. The output is valid JSON whatever the data.
 *   TMPL_TEXT    plain text (e-mail subjects and bodies): placeholders as text.
 *   TMPL_URL     a URL: every placeholder is percent-encoded (all but
 *                A-Z a-z 0-9 - . _ ~), so a value can never add a path
 *                segment, a query or a fragment.
 *   TMPL_HEADER  an HTTP header value: rendering fails when the result holds
 *                a CR, an LF or a NUL, so no value can inject a header.
 *
 * Expressions
 *   Values    event (the canonical event), id, type, schema, table, ts (ISO
 *             8601 text), ts_unix (seconds), position (.file .pos .gtid),
 *             tx (.index), key, before, after, row (after, or before for a
 *             delete), each alone (an object) or with a column: after.status,
 *             after.`odd name`; changed (the list of changed columns),
 *             changes (one "col: before → after" line per changed column),
 *             sql, kind, thread_id, user (statements; user is "user@host"
 *             of the connection that ran it, or "unknown" when the server
 *             no longer had it or the binlog was read from files), rule
 *             and endpoint (the
 *             names of the rule and endpoint rendering), counts, threshold,
 *             sample_keys (alerts of threshold rules), now (seconds since
 *             the epoch when the template is rendered). A member of an
 *             object or an item of a list: position.file, sample_keys.0.
 *   Literals  "text" or 'text' (escapes \\ \" \' \n \r \t \uXXXX), numbers,
 *             true, false, null, lists ["a", "b"].
 *   Filters   x | f or x | f(args), left to right:
 *             json (the JSON text of x, as a string), upper, lower,
 *             default(y) (y when x is null), truncate(n) or truncate(n, end)
 *             (at most n characters, then end), join(sep) (the items of a
 *             list as text), base64, sha256 (hex), number (a string holding a
 *             number becomes that number, exactly; otherwise null), iso8601
 *             (seconds since the epoch as "2024-01-02T03:04:05Z"), keys (the
 *             member names of an object), values (the member values of an
 *             object, as a list) or values(list) (the values of the members
 *             named in list, in its order, null for a name not there: key
 *             order from another image, before | values(key | keys)),
 *             pick(list) (the object with only the members named in list,
 *             in the object's order), urlencode (the text percent-encoded,
 *             all but A-Z a-z 0-9 - . _ ~; on a list, each item: a key
 *             that is a path, key | values | urlencode | join('/')).
 *   ~         concatenates the text of two values: "orders/" ~ key.id
 *   c ? a : b a when c is true, else b (only the one taken is evaluated);
 *             false are null, false, a number equal to 0, "", [] and {},
 *             anything else is true (a DECIMAL column is a string, so
 *             "0.00" is true: after.total | number ? ... tests its value).
 *             The loosest of all: c ? a : b | f is c ? a : (b | f);
 *             parentheses group.
 *   As text   a string is its characters, null is empty, a number its
 *             digits, anything else its JSON.
 *
 * Ownership: tmpl_compile returns a template the caller frees with
 * tmpl_free; rendering only reads it (several threads may render one
 * template at once). */
#ifndef BH_TMPL_H
#define BH_TMPL_H

#include "util/buf.h"
#include "event/change.h"

#include <stddef.h>
#include <stdint.h>

enum tmpl_mode { TMPL_JSON, TMPL_TEXT, TMPL_URL, TMPL_HEADER };

/* What a template sees besides the event. */
struct tmpl_ctx {
  const struct change *e;
  const char *rule;     /* may be NULL */
  const char *endpoint; /* may be NULL */
  int64_t now;          /* what `now` gives, in seconds since the epoch; 0: the clock */
};

/* Compiles len bytes of text written in file at line:col (the position of
 * its first character; JSON templates are whole files: 1:1). Returns the
 * template, or NULL with "file:line:col: message" in err. */
struct tmpl *tmpl_compile(enum tmpl_mode mode, const char *text, size_t len, const char *file, int line, int col,
                          char *err, size_t errsz);

/* Reads and compiles a template file; NULL with "file:line:col: message" or
 * "cannot open ..." in err. */
struct tmpl *tmpl_load(enum tmpl_mode mode, const char *path, char *err, size_t errsz);

/* Appends the rendering for c to out. Returns 0, or -1 with err (only a
 * header value holding a line break fails; out is then left as it was). */
int tmpl_render(const struct tmpl *t, const struct tmpl_ctx *c, struct buf *out, char *err, size_t errsz);

/* 1 when the template renders the canonical event and nothing else. */
int tmpl_is_event(const struct tmpl *t);

void tmpl_free(struct tmpl *t);

#endif
