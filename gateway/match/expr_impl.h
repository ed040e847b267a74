/* expr_impl.h - what the parts of the `when` expression language share
 * (expr.h is the public contract): the tree that expr_parse.c builds and
 * expr_eval.c walks, the values of evaluation, the exact decimal numbers
 * of expr_dec.c, and the token stream of expr_lex.c that the parser reads.
 *
 * Ownership: a tree node owns its kids, its text and its regex
 * (expr_free releases the whole tree); a token owns its decoded text
 * (expr_tok_clear); a struct dec only points into the text it was read
 * from or into the caller's buffer. */
#ifndef BH_EXPR_IMPL_H
#define BH_EXPR_IMPL_H

#include "match/expr.h"
#include "util/buf.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stddef.h>
#include <stdint.h>

#define EXPR_MAX_DEPTH 200     /* nesting of the expression text */
#define EXPR_MAX_EXPONENT 4000 /* |e| of an exact number: longer expansions are refused */

/* ---- values seen during evaluation (and held by literals) ---- */

enum rkind { R_NULL, R_BOOL, R_INT, R_UINT, R_DEC, R_DBL, R_FLT, R_STR, R_LIST };

struct rval {
  enum rkind k;
  union {
    int64_t i; /* R_BOOL (0/1), R_INT */
    uint64_t u;
    double d;
    struct {
      const char *s; /* R_DEC (exact decimal text), R_STR; not NUL-terminated */
      size_t n;
    } s;
    struct {
      struct rval *v;
      size_t n;
    } l;
  };
};

/* ---- the tree ---- */

enum node_kind {
  N_LIT,
  N_LIST,
  N_FIELD,
  N_META,
  N_NOT,
  N_AND,
  N_OR,
  N_CMP,
  N_IN,
  N_MATCHES,
  N_ISNULL,
  N_CALL
};
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum meta { META_TABLE, META_SCHEMA, META_TYPE, META_USER };
enum func { F_CHANGED, F_LOWER, F_UPPER, F_LEN, F_CONTAINS, F_STARTS_WITH };

struct node {
  enum node_kind kind;
  int op;  /* N_CMP: enum cmp_op; N_META: enum meta; N_CALL: enum func; N_FIELD: enum expr_scope */
  int neg; /* N_IN, N_ISNULL: the negated form */
  struct node **kids;
  size_t nkids;
  char *text; /* N_LIT strings and decimals; N_FIELD and changed(COL): the column name */
  size_t len;
  struct rval lit; /* N_LIT */
  pcre2_code *re;  /* N_MATCHES */
};

/* What expr_compile returns: the tree, and what it reads (for expr_reads
 * and expr_uses_changed). */
struct expr {
  struct node *root;
  unsigned reads;
  int uses_changed;
};

/* ---- exact decimal numbers (expr_dec.c) ---- */

/* A number as sign, integer digits without leading zeros and fraction digits
 * without trailing zeros; zero has no digits and no sign. */
struct dec {
  int neg;
  const char *ip, *fp;
  size_t ni, nf;
};

/* Reads s (JSON number syntax, leading zeros allowed) into d. An exponent is
 * applied by writing the plain digits into out, which d then points into (so
 * out must outlive d and must not be reused). Returns 0, or -1 when s is not
 * a number or its exponent is beyond EXPR_MAX_EXPONENT. */
int expr_dec_parse(const char *s, size_t n, struct dec *d, struct buf *out);

/* -1, 0 or 1 as a is less than, equal to or greater than b. */
int expr_dec_cmp(const struct dec *a, const struct dec *b);

/* Appends a normalized literal: "-" when negative, integer digits ("0" when
 * none), "." and fraction digits when any. */
void expr_dec_format(const struct dec *d, struct buf *out);

/* ---- the token stream (expr_lex.c) ---- */

enum tok {
  T_EOF,
  T_NAME,
  T_QNAME,
  T_STR,
  T_NUM,
  T_DOT,
  T_LP,
  T_RP,
  T_LB,
  T_RB,
  T_COMMA,
  T_EQ,
  T_NE,
  T_LT,
  T_LE,
  T_GT,
  T_GE, /* in enum cmp_op order */
};

struct token {
  enum tok t;
  size_t pos, len; /* in the text */
  char *val;       /* T_STR, T_QNAME: the decoded text (NUL-terminated) */
  size_t vlen;
  size_t *offs; /* T_STR: the text position of each decoded byte, and of the closing quote */
};

/* The state of one compilation: the lexer's position and token, where the
 * text sits in its file (for messages), the first error, and the
 * expression being built. */
struct parser {
  const char *s;
  size_t n, p; /* the text, its length, the lexer's position */
  struct token tok;
  const char *file;
  int line, col;
  char *err;
  size_t errsz;
  int failed;
  struct expr *x;
};

/* Reads the next token into P->tok (freeing the one before); 0, or -1
 * after reporting an error. */
int expr_lex(struct parser *P);

/* Reports "file:line:col: message" for the text position pos, once: the
 * first error is the one reported (P->failed is then set). Returns NULL for
 * tail calls. */
__attribute__((format(printf, 3, 4))) void *expr_perr(struct parser *P, size_t pos, const char *fmt, ...);

/* Frees what t holds and zeroes it. */
void expr_tok_clear(struct token *t);

#endif
