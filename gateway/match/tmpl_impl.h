/* tmpl_impl.h - what the parts of the templates share (tmpl.h is the
 * public contract): the placeholder expression tree that tmpl_parse.c
 * builds, the values that tmpl_eval.c computes from it, and the filters of
 * tmpl_filter.c. tmpl.c compiles whole templates and renders them.
 *
 * Ownership: an expression node owns its kids, its path and its text
 * (tmpl_tx_free). A value (struct tval) owns nothing: it points into the
 * template, the event, or the render's scratch list (struct scratch), which
 * holds everything a render allocates and is freed when it ends. */
#ifndef BH_TMPL_IMPL_H
#define BH_TMPL_IMPL_H

#include "match/tmpl.h"
#include "util/buf.h"
#include "util/util.h"

#include <stddef.h>
#include <stdlib.h>

/* ---- values ---- */

enum tk { T_NULL, T_BOOL, T_NUM, T_STR, T_LIST, T_OBJ, T_RAW /* JSON text, parsed when needed */ };

struct tval {
  enum tk k;
  int b;
  const char *s; /* T_NUM: the number's text; T_STR: UTF-8 bytes; T_RAW: JSON text */
  size_t n;
  struct tval *items; /* T_LIST, T_OBJ */
  const char **keys;  /* T_OBJ */
  size_t *keylens;
  size_t len;
};

/* Everything a render allocates, freed at its end. */
struct scratch {
  void **p;
  size_t n, cap;
};

/* p, which the scratch list now holds. */
static inline void *keep(struct scratch *sc, void *p)
{
  if (sc->n == sc->cap) {
    sc->cap = sc->cap ? sc->cap * 2 : 16;
    sc->p = xrealloc(sc->p, sc->cap * sizeof *sc->p);
  }
  sc->p[sc->n++] = p;
  return p;
}

/* n zeroed bytes held by the scratch list. */
static inline void *sc_alloc(struct scratch *sc, size_t n)
{
  return keep(sc, xcalloc(1, n ? n : 1));
}

/* A tval of the bytes in b, which the scratch list takes. */
static inline struct tval from_buf(struct scratch *sc, enum tk k, struct buf *b)
{
  size_t n = b->len;
  char *s = b->p ? buf_steal(b) : xstrdup("");
  return (struct tval){.k = k, .s = keep(sc, s), .n = n};
}

static inline struct tval tnull(void)
{
  return (struct tval){.k = T_NULL};
}

static inline struct tval tstr(const char *s, size_t n)
{
  return (struct tval){.k = T_STR, .s = s, .n = n};
}

/* ---- expressions ---- */

/* The values a path starts from, in the order of tmpl_parse.c's names. */
enum root {
  R_EVENT,
  R_ID,
  R_TYPE,
  R_SCHEMA,
  R_TABLE,
  R_TS,
  R_TS_UNIX,
  R_POSITION,
  R_TX,
  R_KEY,
  R_BEFORE,
  R_AFTER,
  R_ROW,
  R_CHANGED,
  R_CHANGES,
  R_SQL,
  R_KIND,
  R_THREAD_ID,
  R_RULE,
  R_ENDPOINT,
  R_COUNTS,
  R_THRESHOLD,
  R_SAMPLE_KEYS,
  R_USER,
  R_NOW,
};

enum xkind { X_LIT, X_LIST, X_PATH, X_FILTER, X_CONCAT, X_COND };

struct tmpl_filter;

struct tx {
  enum xkind k;
  struct tval lit; /* X_LIT; its text owned by the node (text) */
  char *text;
  int root;    /* X_PATH */
  char **path; /* the segments after the root */
  size_t npath;
  const struct tmpl_filter *filter; /* X_FILTER: kids[0] is the input, the rest the arguments */
  struct tx **kids;                 /* X_FILTER, X_LIST, X_CONCAT (two), X_COND (condition, then, else) */
  size_t nkids;
};

void tmpl_tx_free(struct tx *x);

/* ---- the placeholder parser (tmpl_parse.c) ---- */

/* Parses the placeholder starting at s[*pos] (just after "{{") up to its
 * "}}", written in file at line:col; colmap, when not NULL, gives the file
 * column of every byte of s (a JSON string with escapes). Returns the
 * expression with *pos moved past the "}}", or NULL with
 * "file:line:col: message" in err. */
struct tx *tmpl_parse_placeholder(const char *s, size_t n, size_t *pos, const char *file, int line, int col,
                                  const int *colmap, char *err, size_t errsz);

/* Moves line:col (of text[0]) to where byte off of text starts. */
void tmpl_advance_pos(const char *text, size_t off, int *line, int *col);

/* The length of the number in JSON's syntax at the start of s (n bytes), or
 * 0 when what starts there is not one (no digit, a leading zero, a '.' or
 * an exponent without digits). */
size_t tmpl_number_len(const char *s, size_t n);

/* ---- evaluation (tmpl_eval.c) ---- */

/* One render: what the template sees, and what it allocates. */
struct rctx {
  const struct tmpl_ctx *c;
  struct scratch sc;
};

struct tval tmpl_eval(struct rctx *r, const struct tx *x);

/* A T_RAW value parsed into lists, objects and scalars; others as they are. */
struct tval tmpl_norm(struct rctx *r, struct tval v);

/* Appends the JSON of v. */
void tmpl_emit_json(struct buf *out, const struct tval *v);

/* Appends the text of v (tmpl.h: "As text"). */
void tmpl_text_of(struct rctx *r, const struct tval *v, struct buf *out);

/* The text of v as a T_STR value. */
struct tval tmpl_as_text(struct rctx *r, const struct tval *v);

/* The value of column name under root (R_BEFORE, R_AFTER, R_ROW, R_KEY),
 * or NULL when there is none; *col gets the column. */
const struct value *tmpl_column_value(const struct change *e, int root, const char *name,
                                      const struct column **col);

/* ---- filters (tmpl_filter.c) ---- */

struct tmpl_filter {
  const char *name;
  int min, max; /* arguments */
  /* The filter applied to in; call is the X_FILTER node (its arguments are
   * kids[1] on, evaluated by the filter when it needs them). */
  struct tval (*apply)(struct rctx *r, struct tval in, const struct tx *call);
  /* When not NULL: what is wrong with the arguments of call, for a message,
   * or NULL when they are fine (checked at compile time). */
  const char *(*check)(const struct tx *call);
};

/* The filter called name, or NULL. */
const struct tmpl_filter *tmpl_filter_find(const char *name);

/* The name of the filter closest to name, for "did you mean", or NULL. */
const char *tmpl_filter_nearest(const char *name);

/* Appends s percent-encoded: all but A-Z a-z 0-9 - . _ ~. */
void tmpl_url_encode(struct buf *out, const char *s, size_t n);

#endif
