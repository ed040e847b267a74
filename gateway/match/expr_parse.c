/* expr_parse.c - compiling a `when` expression (expr.h): a
 * recursive-descent parser over the tokens of expr_lex.c, one function per
 * precedence level, builds the tree of expr_impl.h with literals
 * normalized, regexes compiled once and the literal type errors refused.
 * Its messages suggest the word meant ("did you mean"). The tree's
 * accessors (expr_reads, expr_foreach_column...) are here too. */
#include "match/expr_impl.h"
#include "util/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int min, max;
} funcs[] = {
    [F_CHANGED] = {"changed", 0, 1},   [F_LOWER] = {"lower", 1, 1},
    [F_UPPER] = {"upper", 1, 1},       [F_LEN] = {"len", 1, 1},
    [F_CONTAINS] = {"contains", 2, 2}, [F_STARTS_WITH] = {"starts_with", 2, 2},
};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

static const char *const op_names[] = {"==", "!=", "<", "<=", ">", ">="};

/* ---- the tree ---- */

static struct node *node_new(enum node_kind kind)
{
  struct node *n = xcalloc(1, sizeof *n);
  n->kind = kind;
  return n;
}

static void node_add(struct node *n, struct node *kid)
{
  n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof *n->kids);
  n->kids[n->nkids++] = kid;
}

static void node_free(struct node *n)
{
  if (!n) return;
  for (size_t i = 0; i < n->nkids; i++)
    node_free(n->kids[i]);
  free(n->kids);
  free(n->text);
  if (n->re) pcre2_code_free(n->re);
  free(n);
}

void expr_free(struct expr *x)
{
  if (!x) return;
  node_free(x->root);
  free(x);
}
/* ---- what an expression reads ---- */

unsigned expr_reads(const struct expr *x)
{
  return x->reads;
}

int expr_uses_changed(const struct expr *x)
{
  return x->uses_changed;
}

static void walk_columns(const struct node *n, void (*fn)(void *, enum expr_scope, const char *), void *arg)
{
  if (n->kind == N_FIELD) fn(arg, (enum expr_scope)n->op, n->text);
  if (n->kind == N_CALL && n->op == F_CHANGED) fn(arg, EXPR_CHANGED, n->text);
  for (size_t i = 0; i < n->nkids; i++)
    walk_columns(n->kids[i], fn, arg);
}

void expr_foreach_column(const struct expr *x, void (*fn)(void *arg, enum expr_scope scope, const char *name),
                         void *arg)
{
  walk_columns(x->root, fn, arg);
}

/* ---- the parser ---- */

static int tok_is(const struct parser *P, const char *word)
{
  return P->tok.t == T_NAME && P->tok.len == strlen(word) && !memcmp(P->s + P->tok.pos, word, P->tok.len);
}

/* How a token reads in a message. */
static const char *tok_desc(const struct parser *P, char *buf, size_t size)
{
  if (P->tok.t == T_EOF) return "the end of the expression";
  size_t n = P->tok.len > 40 ? 40 : P->tok.len;
  snprintf(buf, size, "'%.*s%s'", (int)n, P->s + P->tok.pos, n < P->tok.len ? "..." : "");
  return buf;
}

/* The known word closest to the n bytes of word, or NULL when none is close
 * enough. Case counts (the language's words are lowercase, and 'AND' is not
 * 'and'); a longer word may be further off than a config key ('lenght' for
 * 'len', 'startswith' for 'starts_with'): up to half its length. */
static const char *suggest(const char *word, size_t n, const char *const *known)
{
  return bh_nearest_within(word, n, known, n <= 3 ? 1 : n / 2, 0);
}

static const char *const names[] = {"before", "after", "key",  "table", "schema", "type",
                                    "true",   "false", "null", "user",  NULL};
static const char *const ops_words[] = {"and", "or", "in", "is", "matches", "not", NULL};
static const char *const join_words[] = {"and", "or", NULL}; /* what may follow a complete expression */

static struct node *parse_or(struct parser *P, const char *after, int depth);

static int advance(struct parser *P)
{
  return expr_lex(P);
}

static struct node *literal(enum rkind k)
{
  struct node *n = node_new(N_LIT);
  n->lit.k = k;
  return n;
}

/* The column name after "before." (or in changed()): a name, `quoted` or
 * "quoted"; takes it from the current token and moves on. */
static char *column_name(struct parser *P, const char *after)
{
  char *name;
  if (P->tok.t == T_NAME)
    name = xstrndup(P->s + P->tok.pos, P->tok.len);
  else if (P->tok.t == T_QNAME || P->tok.t == T_STR) {
    if (!P->tok.vlen) return expr_perr(P, P->tok.pos, "empty column name");
    name = P->tok.val, P->tok.val = NULL;
  } else {
    return expr_perr(P, P->tok.pos, "expected a column name after '%s'", after);
  }
  if (advance(P) < 0) {
    free(name);
    return NULL;
  }
  return name;
}

/* What a literal operand is, for type errors; NULL when not a literal. */
static const char *literal_type(const struct node *n)
{
  if (n->kind == N_LIST) return "a list";
  if (n->kind != N_LIT) return NULL;
  switch (n->lit.k) {
  case R_NULL: return "null";
  case R_BOOL: return "a boolean";
  case R_STR: return "a string";
  case R_LIST: return "a list";
  default: return "a number";
  }
}

/* The argument of changed(): changed(COL), changed(after.COL) (a column
 * COL; changed(after) names a column "after") or changed(); the current
 * token is the one after '('. Leaves the ')' as the current token. */
static int parse_changed_arg(struct parser *P, struct node *n, size_t name_pos)
{
  P->x->uses_changed = 1;
  if (P->tok.t == T_RP) {
    P->x->reads |= EXPR_READS_CHANGED_ANY;
    return 0;
  }
  if (P->tok.t == T_NAME && (tok_is(P, "before") || tok_is(P, "after"))) {
    char *word = xstrndup(P->s + P->tok.pos, P->tok.len), what[16];
    snprintf(what, sizeof what, "%s.", word);
    if (advance(P) < 0) {
      free(word);
      return -1;
    }
    if (P->tok.t != T_DOT) {
      n->text = word;
    } else {
      free(word);
      if (advance(P) < 0 || !(n->text = column_name(P, what))) return -1;
    }
  } else if (P->tok.t == T_NAME || P->tok.t == T_QNAME || P->tok.t == T_STR) {
    if (!(n->text = column_name(P, "changed("))) return -1;
  } else {
    expr_perr(P, P->tok.pos, "expected a column name in 'changed()'");
    return -1;
  }
  if (P->tok.t == T_COMMA) {
    expr_perr(P, name_pos, "'changed' takes one column name or none");
    return -1;
  }
  return 0;
}

/* The arguments of a function other than changed, up to the ')' (left as
 * the current token); apos gets the positions of the first two. */
static int parse_args(struct parser *P, struct node *n, size_t apos[2], int depth)
{
  if (P->tok.t == T_RP) return 0;
  for (;;) {
    if (n->nkids < 2) apos[n->nkids] = P->tok.pos;
    struct node *a = parse_or(P, n->nkids ? "," : "(", depth + 1);
    if (!a) return -1;
    node_add(n, a);
    if (P->tok.t == T_RP) return 0;
    if (P->tok.t != T_COMMA) {
      char d[64];
      expr_perr(P, P->tok.pos, "expected ',' or ')' in the arguments of '%s', got %s", funcs[n->op].name,
                tok_desc(P, d, sizeof d));
      return -1;
    }
    if (advance(P) < 0) return -1;
  }
}

/* The number of arguments, and the text functions' need of a string (len
 * and contains: or a list) where an argument is a literal. */
static int check_args(struct parser *P, const struct node *n, size_t name_pos, const size_t apos[2])
{
  int f = n->op;
  if ((int)n->nkids < funcs[f].min || (int)n->nkids > funcs[f].max) {
    expr_perr(P, name_pos, "'%s' takes %d argument%s, got %zu", funcs[f].name, funcs[f].min,
              funcs[f].min == 1 ? "" : "s", n->nkids);
    return -1;
  }
  for (size_t i = 0; i < n->nkids; i++) {
    const char *what = literal_type(n->kids[i]), *need = NULL;
    if (what && (f == F_LOWER || f == F_UPPER || f == F_STARTS_WITH) && strcmp(what, "a string"))
      need = "a string";
    else if (what && (f == F_LEN || (f == F_CONTAINS && i == 0)) && strcmp(what, "a string") &&
             strcmp(what, "a list"))
      need = "a string or a list";
    if (need) {
      expr_perr(P, apos[i], "type error: '%s' needs %s, not %s", funcs[f].name, need, what);
      return -1;
    }
  }
  return 0;
}

/* A call NAME(...): the current token is its '('. */
static struct node *parse_call(struct parser *P, size_t name_pos, size_t name_len, int depth)
{
  const char *name = P->s + name_pos;
  int f = -1;
  for (size_t i = 0; i < NFUNCS; i++)
    if (strlen(funcs[i].name) == name_len && !memcmp(funcs[i].name, name, name_len)) f = (int)i;
  if (f < 0) {
    const char *known[NFUNCS + 1] = {NULL};
    for (size_t i = 0; i < NFUNCS; i++)
      known[i] = funcs[i].name;
    const char *s = suggest(name, name_len, known);
    if (s)
      return expr_perr(P, name_pos, "unknown function '%.*s'; did you mean '%s'?", (int)name_len, name, s);
    return expr_perr(P, name_pos,
                     "unknown function '%.*s' (known: changed, contains, len, lower, starts_with, upper)",
                     (int)name_len, name);
  }
  struct node *n = node_new(N_CALL);
  size_t apos[2] = {0, 0};
  n->op = f;
  if (advance(P) < 0) goto fail; /* the '(' */
  if (f == F_CHANGED) {
    if (parse_changed_arg(P, n, name_pos)) goto fail;
    if (P->tok.t != T_RP) {
      char d[64];
      expr_perr(P, P->tok.pos, "expected ')' after the column name of 'changed', got %s",
                tok_desc(P, d, sizeof d));
      goto fail;
    }
  } else if (parse_args(P, n, apos, depth) || check_args(P, n, name_pos, apos)) {
    goto fail;
  }
  if (advance(P) < 0) goto fail; /* the ')' */
  return n;
fail:
  node_free(n);
  return NULL;
}

/* A number literal, normalized; small integers become integers. */
static struct node *parse_number(struct parser *P)
{
  struct token *t = &P->tok;
  struct dec d;
  struct buf tmp = BUF_INIT, out = BUF_INIT;
  if (expr_dec_parse(P->s + t->pos, t->len, &d, &tmp) < 0) bh_assert(0); /* the lexer checked it */
  expr_dec_format(&d, &out);
  buf_free(&tmp);
  struct node *n = literal(R_DEC);
  n->len = out.len;
  n->text = buf_steal(&out);
  char *end;
  if (!d.nf && n->len < 21) {
    /* Small integers take the fast integer comparisons. */
    if (d.neg) {
      long long v = strtoll(n->text, &end, 10);
      if (!*end && !(v == LLONG_MIN && strcmp(n->text, "-9223372036854775808")))
        n->lit.k = R_INT, n->lit.i = v;
    } else {
      unsigned long long v = strtoull(n->text, &end, 10);
      if (!*end && !(v == ULLONG_MAX && strcmp(n->text, "18446744073709551615"))) {
        if (v <= INT64_MAX)
          n->lit.k = R_INT, n->lit.i = (int64_t)v;
        else
          n->lit.k = R_UINT, n->lit.u = v;
      }
    }
  }
  if (n->lit.k == R_DEC) n->lit.s.s = n->text, n->lit.s.n = n->len;
  if (advance(P) < 0) return node_free(n), NULL;
  return n;
}

/* A list literal [a, b, ...]: the current token is its '['. */
static struct node *parse_list(struct parser *P, int depth)
{
  struct token *t = &P->tok;
  struct node *n = node_new(N_LIST);
  if (advance(P) < 0) return node_free(n), NULL;
  if (t->t == T_RB) {
    if (advance(P) < 0) return node_free(n), NULL;
    return n;
  }
  for (;;) {
    struct node *item = parse_or(P, n->nkids ? "," : "[", depth + 1);
    if (!item) return node_free(n), NULL;
    node_add(n, item);
    if (t->t == T_RB) break;
    if (t->t != T_COMMA) {
      char d[64];
      expr_perr(P, t->pos, "expected ',' or ']' in the list, got %s", tok_desc(P, d, sizeof d));
      return node_free(n), NULL;
    }
    if (advance(P) < 0) return node_free(n), NULL;
  }
  if (advance(P) < 0) return node_free(n), NULL;
  return n;
}

/* A value that starts with a name: a call, true, false, null, a column
 * (before.COL, after.COL, key.COL) or an event field. */
static struct node *parse_word(struct parser *P, const char *after, int depth)
{
  struct token *t = &P->tok;
  struct node *n;
  size_t pos = t->pos, len = t->len;
  const char *w = P->s + pos;
  if (advance(P) < 0) return NULL;
  if (t->t == T_LP) return parse_call(P, pos, len, depth);
#define IS(word) (len == sizeof(word) - 1 && !memcmp(w, word, len))
  if (IS("true") || IS("false")) {
    n = literal(R_BOOL);
    n->lit.i = IS("true");
    return n;
  }
  if (IS("null")) return literal(R_NULL);
  if (IS("before") || IS("after") || IS("key")) {
    if (t->t != T_DOT) return expr_perr(P, pos, "'%.*s' needs a column: %.*s.NAME", (int)len, w, (int)len, w);
    if (advance(P) < 0) return NULL;
    char what[16];
    snprintf(what, sizeof what, "%.*s.", (int)len, w);
    n = node_new(N_FIELD);
    n->op = IS("before") ? EXPR_BEFORE : IS("after") ? EXPR_AFTER : EXPR_KEY;
    if (!(n->text = column_name(P, what))) return node_free(n), NULL;
    return n;
  }
  if (IS("table") || IS("schema") || IS("type")) {
    n = node_new(N_META);
    n->op = IS("table") ? META_TABLE : IS("schema") ? META_SCHEMA : META_TYPE;
    P->x->reads |= IS("table") ? EXPR_READS_TABLE : IS("schema") ? EXPR_READS_SCHEMA : EXPR_READS_TYPE;
    return n;
  }
  if (IS("user")) {
    n = node_new(N_META);
    n->op = META_USER;
    P->x->reads |= EXPR_READS_USER;
    return n;
  }
#undef IS
  for (size_t i = 0; ops_words[i]; i++)
    if (len == strlen(ops_words[i]) && !memcmp(w, ops_words[i], len)) {
      if (after) return expr_perr(P, pos, "expected a value after '%s'", after);
      return expr_perr(P, pos, "expected a value, got '%.*s'", (int)len, w);
    }
  const char *s = suggest(w, len, names);
  if (s) return expr_perr(P, pos, "unknown name '%.*s'; did you mean '%s'?", (int)len, w, s);
  return expr_perr(P, pos, "unknown name '%.*s'; did you mean 'after.%.*s'?", (int)len, w, (int)len, w);
}

static struct node *parse_primary(struct parser *P, const char *after, int depth)
{
  if (depth >= EXPR_MAX_DEPTH)
    return expr_perr(P, P->tok.pos, "expression nested more than %d levels deep", EXPR_MAX_DEPTH);
  struct token *t = &P->tok;
  struct node *n;
  switch (t->t) {
  case T_STR:
    n = literal(R_STR);
    n->text = t->val, n->len = t->vlen;
    t->val = NULL;
    n->lit.s.s = n->text, n->lit.s.n = n->len;
    if (advance(P) < 0) return node_free(n), NULL;
    return n;
  case T_NUM: return parse_number(P);
  case T_LP: {
    if (advance(P) < 0) return NULL;
    n = parse_or(P, "(", depth + 1);
    if (!n) return NULL;
    if (t->t != T_RP) {
      char d[64];
      expr_perr(P, t->pos, "expected ')' to close the '(', got %s", tok_desc(P, d, sizeof d));
      return node_free(n), NULL;
    }
    if (advance(P) < 0) return node_free(n), NULL;
    return n;
  }
  case T_LB: return parse_list(P, depth);
  case T_NAME: return parse_word(P, after, depth);
  case T_QNAME:
    return expr_perr(P, t->pos, "a quoted name needs a prefix: after.%.*s, before.%.*s or key.%.*s",
                     (int)t->len, P->s + t->pos, (int)t->len, P->s + t->pos, (int)t->len, P->s + t->pos);
  default: {
    if (after) return expr_perr(P, t->pos, "expected a value after '%s'", after);
    if (t->t == T_EOF) return expr_perr(P, t->pos, "empty expression");
    char d[64];
    return expr_perr(P, t->pos, "expected a value, got %s", tok_desc(P, d, sizeof d));
  }
  }
}

static struct node *binary(enum node_kind kind, int op, struct node *l, struct node *r)
{
  struct node *n = node_new(kind);
  n->op = op;
  node_add(n, l);
  node_add(n, r);
  return n;
}

static int at_comparison(const struct parser *P)
{
  return (P->tok.t >= T_EQ && P->tok.t <= T_GE) || tok_is(P, "in") || tok_is(P, "matches") ||
         tok_is(P, "is") || tok_is(P, "not");
}

static struct node *parse_matches(struct parser *P, struct node *l)
{
  struct token *t = &P->tok;
  if (t->t != T_STR) {
    expr_perr(P, t->pos, "expected a regex string after 'matches'");
    return node_free(l), NULL;
  }
  int code;
  PCRE2_SIZE off;
  pcre2_code *re =
      pcre2_compile((PCRE2_SPTR)t->val, t->vlen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    expr_perr(P, t->offs[off <= t->vlen ? off : t->vlen], "invalid regex: %s", (const char *)msg);
    return node_free(l), NULL;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* no JIT on this machine: the interpreter does the job */
  struct node *n = node_new(N_MATCHES);
  n->re = re;
  node_add(n, l);
  if (advance(P) < 0) return node_free(n), NULL;
  return n;
}

/* Type errors a comparison can show in its literals: an ordering of null,
 * a boolean or a list is never true. */
static int check_cmp(struct parser *P, int op, const struct node *l, size_t lpos, const struct node *r,
                     size_t rpos)
{
  if (op == OP_EQ || op == OP_NE) return 0;
  for (int side = 0; side < 2; side++) {
    const char *what = literal_type(side ? r : l);
    /* booleans are the numbers 1 and 0: they order */
    if (!what || (strcmp(what, "null") && strcmp(what, "a list"))) continue;
    if (!strcmp(what, "null"))
      expr_perr(P, side ? rpos : lpos, "type error: '%s' cannot order null (use 'is null' or 'is not null')",
                op_names[op]);
    else
      expr_perr(P, side ? rpos : lpos, "type error: '%s' cannot order %s", op_names[op], what);
    return -1;
  }
  return 0;
}

static struct node *parse_cmp(struct parser *P, const char *after, int depth)
{
  size_t lpos = P->tok.pos;
  struct node *l = parse_primary(P, after, depth);
  if (!l) return NULL;
  struct token *t = &P->tok;
  struct node *n = NULL;
  if (t->t >= T_EQ && t->t <= T_GE) {
    int op = (int)(t->t - T_EQ);
    if (advance(P) < 0) return node_free(l), NULL;
    size_t rpos = P->tok.pos;
    struct node *r = parse_primary(P, op_names[op], depth + 1);
    if (!r) return node_free(l), NULL;
    if (check_cmp(P, op, l, lpos, r, rpos)) return node_free(l), node_free(r), NULL;
    n = binary(N_CMP, op, l, r);
  } else if (tok_is(P, "in") || tok_is(P, "not")) {
    int neg = tok_is(P, "not");
    if (advance(P) < 0) return node_free(l), NULL;
    if (neg) {
      if (!tok_is(P, "in")) {
        expr_perr(P, t->pos, "expected 'in' after 'not'");
        return node_free(l), NULL;
      }
      if (advance(P) < 0) return node_free(l), NULL;
    }
    size_t rpos = P->tok.pos;
    struct node *r = parse_primary(P, neg ? "not in" : "in", depth + 1);
    if (!r) return node_free(l), NULL;
    const char *what = literal_type(r);
    if (what && strcmp(what, "a list")) {
      expr_perr(P, rpos, "type error: '%s' needs a list on its right, not %s%s", neg ? "not in" : "in", what,
                !strcmp(what, "a string") ? " (for a substring, use contains(x, \"...\"))" : "");
      return node_free(l), node_free(r), NULL;
    }
    n = binary(N_IN, 0, l, r);
    n->neg = neg;
  } else if (tok_is(P, "matches")) {
    if (advance(P) < 0) return node_free(l), NULL;
    if (!(n = parse_matches(P, l))) return NULL;
  } else if (tok_is(P, "is")) {
    int neg = 0;
    if (advance(P) < 0) return node_free(l), NULL;
    if (tok_is(P, "not")) {
      neg = 1;
      if (advance(P) < 0) return node_free(l), NULL;
    }
    if (!tok_is(P, "null")) {
      expr_perr(P, t->pos,
                neg ? "expected 'null' after 'is not'" : "expected 'null' or 'not null' after 'is'");
      return node_free(l), NULL;
    }
    if (advance(P) < 0) return node_free(l), NULL;
    n = node_new(N_ISNULL);
    n->neg = neg;
    node_add(n, l);
  } else {
    return l;
  }
  if (at_comparison(P)) {
    expr_perr(P, t->pos, "comparisons do not chain; join them with 'and'");
    return node_free(n), NULL;
  }
  return n;
}

static struct node *parse_not(struct parser *P, const char *after, int depth)
{
  if (depth >= EXPR_MAX_DEPTH)
    return expr_perr(P, P->tok.pos, "expression nested more than %d levels deep", EXPR_MAX_DEPTH);
  if (!tok_is(P, "not")) return parse_cmp(P, after, depth);
  if (advance(P) < 0) return NULL;
  struct node *k = parse_not(P, "not", depth + 1);
  if (!k) return NULL;
  struct node *n = node_new(N_NOT);
  node_add(n, k);
  return n;
}

static struct node *parse_and(struct parser *P, const char *after, int depth)
{
  struct node *l = parse_not(P, after, depth);
  while (l && tok_is(P, "and")) {
    if (advance(P) < 0) return node_free(l), NULL;
    struct node *r = parse_not(P, "and", depth + 1);
    if (!r) return node_free(l), NULL;
    l = binary(N_AND, 0, l, r);
  }
  return l;
}

static struct node *parse_or(struct parser *P, const char *after, int depth)
{
  struct node *l = parse_and(P, after, depth);
  while (l && tok_is(P, "or")) {
    if (advance(P) < 0) return node_free(l), NULL;
    struct node *r = parse_and(P, "or", depth + 1);
    if (!r) return node_free(l), NULL;
    l = binary(N_OR, 0, l, r);
  }
  return l;
}

struct expr *expr_compile(const char *text, const char *file, int line, int col, char *err, size_t errsz)
{
  struct parser P = {
      .s = text, .n = strlen(text), .file = file, .line = line, .col = col, .err = err, .errsz = errsz};
  P.x = xcalloc(1, sizeof *P.x);
  struct node *root = NULL;
  if (expr_lex(&P) == 0) root = parse_or(&P, NULL, 0);
  if (root && P.tok.t != T_EOF) {
    char d[64];
    const char *s = P.tok.t == T_NAME ? suggest(P.s + P.tok.pos, P.tok.len, join_words) : NULL;
    if (s)
      expr_perr(&P, P.tok.pos, "unexpected %s; did you mean '%s'?", tok_desc(&P, d, sizeof d), s);
    else
      expr_perr(&P, P.tok.pos, "unexpected %s; expected 'and', 'or' or the end of the expression",
                tok_desc(&P, d, sizeof d));
  }
  expr_tok_clear(&P.tok);
  if (P.failed) {
    node_free(root);
    free(P.x);
    return NULL;
  }
  P.x->root = root;
  return P.x;
}
