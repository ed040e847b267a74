/* toml.h - a TOML 1.0.0 parser: text in, a tree of toml_value nodes out.
 *
 * Ownership: toml_parse returns a tree the caller owns and releases with one
 * toml_free on the root; nodes are never freed one by one, and every pointer
 * into the tree (values, keys, strings) stays valid until that toml_free. The
 * caller reads the tree and never modifies it.
 *
 * Positions: every value and every key remembers where it was written, as a
 * 1-based line and column (columns count characters, a tab counts as one), so
 * that the layers above can report "file:line:col: message". A table made
 * implicitly by a header or a dotted key carries the position of the key that
 * made it; a table made by a [header] the position of its '['.
 *
 * Errors: parsing stops at the first error, reported as
 * "file:line:col: message" (or "line:col: message" without a file name).
 * toml_parse then returns nothing; toml_parse_partial returns the tree read
 * up to the error, for a checker that reports the problems of what was read
 * besides the syntax error.
 *
 * Where the specification leaves a choice: integers must fit in 64 bits and
 * floats in a double (a larger one is an error, not infinity); a line break
 * inside a multi-line string reads as "\n" whether written LF or CRLF; tables
 * and arrays nest at most 200 levels deep. */
#ifndef BH_TOML_H
#define BH_TOML_H

#include <stddef.h>
#include <stdint.h>

enum toml_type {
  TOML_TABLE,
  TOML_ARRAY,
  TOML_STRING,
  TOML_INTEGER,
  TOML_FLOAT,
  TOML_BOOLEAN,
  TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z, 1979-05-27T00:32:00.5-07:00 */
  TOML_DATETIME_LOCAL, /* local date-time: 1979-05-27T07:32:00 */
  TOML_DATE_LOCAL,     /* local date: 1979-05-27 */
  TOML_TIME_LOCAL,     /* local time: 07:32:00.999 */
};

struct toml_value;

/* One entry of a table. */
struct toml_key {
  char *key; /* NUL-terminated; a quoted key may also hold NUL bytes, see keylen */
  size_t keylen;
  int line, col; /* where the key was written (its own segment of a dotted key) */
  struct toml_value *value;
};

struct toml_value {
  enum toml_type type;
  int line, col; /* where the value starts */
  union {
    /* TOML_STRING, and the four date and time types as normalized text: 'T'
     * between date and time, 'Z' upper case, the fraction of a second kept as
     * written. NUL-terminated; a string may also hold NUL bytes (\u0000). */
    struct {
      char *ptr;
      size_t len;
    } str;
    int64_t integer;
    double flt;
    int boolean; /* 0 or 1 */
    struct {
      struct toml_value **items;
      size_t len;
      size_t cap_; /* private */
    } array;
    /* Entries in document order; look keys up with toml_get. */
    struct {
      struct toml_key *entries;
      size_t len;
      size_t cap_;      /* private: the rest is the parser's bookkeeping */
      uint32_t *index_; /* hash slots holding entry index + 1, or NULL for small tables */
      size_t nslots_;
    } table;
  } u;
  unsigned flags_;   /* private */
  unsigned section_; /* private */
  int depth_;        /* private */
};

/* Parses len bytes of text (UTF-8, no NUL needed at the end). filename, which
 * may be NULL, only prefixes error messages. Returns the root table, or NULL
 * with "file:line:col: message" in err (caller-owned, size errsz). */
struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char *err, size_t errsz);

/* As toml_parse, but the tree is kept when the text has an error: *root is
 * always set to a tree the caller frees with toml_free. Returns 0, or -1
 * with "file:line:col: message" in err when the text stopped being valid
 * there: the tree then holds every value read before the error, each one
 * whole, and the table that was being filled (toml_incomplete) lacks the
 * keys that came after it. Such a tree is for reporting problems only: what
 * follows the error is missing from it. */
int toml_parse_partial(const char *text, size_t len, const char *filename, struct toml_value **root, char *err,
                       size_t errsz);

/* 1 when tab is the table a partial parse was filling when it stopped (the
 * keys after the error are missing from it, so a key it lacks may have been
 * there), else 0. */
int toml_incomplete(const struct toml_value *tab);

/* Frees a tree returned by toml_parse or toml_parse_partial; NULL is fine. */
void toml_free(struct toml_value *root);

/* The value of key in table tab, or NULL when tab is not a table or has no
 * such key. toml_getn takes a key of n bytes. The result belongs to the tree. */
const struct toml_value *toml_get(const struct toml_value *tab, const char *key);
const struct toml_value *toml_getn(const struct toml_value *tab, const char *key, size_t n);

/* The entry of key in tab (for the key's own position), or NULL. */
const struct toml_key *toml_get_key(const struct toml_value *tab, const char *key);

/* Follows a dotted path of bare keys ("source.url") through nested tables;
 * NULL when any step is missing or not a table. */
const struct toml_value *toml_get_path(const struct toml_value *root, const char *path);

/* A name for messages: "table", "array", "string", "integer", "float",
 * "boolean", "offset date-time", "local date-time", "local date", "local time". */
const char *toml_type_name(enum toml_type t);

/* The same with its article, for "must be X, not Y" messages: "a table",
 * "an integer", "an offset date-time", ... */
const char *toml_type_article(enum toml_type t);

#endif
