/* json.h - a small JSON reader that keeps what jansson would lose: the
 * exact text of numbers (18446744073709551615, 99.999999999999999999) and
 * where every value sits in the text. Text goes in, a tree of struct jv
 * comes out; the caller owns the tree and frees it with jv_free. */
#ifndef BH_JSON_H
#define BH_JSON_H

#include <stddef.h>

enum jkind { J_NULL, J_TRUE, J_FALSE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
  enum jkind k;
  size_t pos, end; /* the value's span in the text */
  char *s;         /* J_STR: decoded (NUL-terminated); J_NUM: the text */
  size_t n;
  struct jv *kids; /* J_ARR, J_OBJ */
  char **keys;     /* J_OBJ: decoded member names (NUL-terminated; a \u0000 in
                      one ends it early for strcmp: keylens has the length) */
  size_t *keylens;
  size_t *keypos;  /* where each member name starts (its quote) */
  size_t nkids;
};

/* Parses one value starting at byte *pos of s (white space before it is
 * skipped) and leaves *pos after it. Returns 0, or -1 with what is wrong in
 * err (no position) and *pos at the offending byte; out then holds a partial
 * tree that must still be freed. Nesting is limited to 200 levels. */
int json_parse_value(const char *s, size_t n, size_t *pos, struct jv *out, char *err, size_t errsz);

/* Moves *pos past JSON white space. */
void json_skip_ws(const char *s, size_t n, size_t *pos);

void jv_free(struct jv *v);

/* The member name of obj, or NULL (also when obj is not an object). */
const struct jv *jv_member(const struct jv *obj, const char *name);

/* The 1-based line and column (in characters) of byte pos of s. */
void json_line_col(const char *s, size_t pos, int *line, int *col);

#endif
