/* expr.c - see expr.h. Text enters expr_compile, a hand-written lexer and a
 * recursive-descent parser (one function per precedence level) build a tree
 * of nodes, with literals normalized and regexes compiled once; expr_eval
 * walks the tree against an event. Evaluation produces transient values
 * (struct rval) that point into the event, the tree or a per-evaluation
 * scratch list freed before expr_eval returns. */
#include "match/expr.h"
#include "util/util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200     /* nesting of the expression text */
#define MAX_EXPONENT 4000 /* |e| of an exact number: longer expansions are refused */

/* ---- values seen during evaluation ---- */

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

struct expr {
  struct node *root;
  unsigned reads;
  int uses_changed;
};

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

/* ---- exact decimal numbers ---- */

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
 * a number or its exponent is beyond MAX_EXPONENT. */
static int dec_parse(const char *s, size_t n, struct dec *d, struct buf *out)
{
  size_t i = 0;
  memset(d, 0, sizeof *d);
  if (i < n && s[i] == '-') d->neg = 1, i++;
  size_t is = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t ni = i - is, fs = i, nf = 0;
  if (!ni) return -1;
  if (i < n && s[i] == '.') {
    fs = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    nf = i - fs;
    if (!nf) return -1;
  }
  long exp = 0;
  int has_exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int eneg = 0;
    has_exp = 1;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t es = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (exp <= MAX_EXPONENT) exp = exp * 10 + (s[i] - '0');
      i++;
    }
    if (i == es) return -1;
    if (exp > MAX_EXPONENT) return -1;
    if (eneg) exp = -exp;
  }
  if (i != n) return -1;
  const char *ip = s + is, *fp = s + fs;
  if (has_exp && exp) {
    /* Move the point: the digits ip+fp with the point after ni + exp. */
    long point = (long)ni + exp;
    size_t total = ni + nf;
    buf_reset(out);
    if (point <= 0) {
      buf_addc(out, '.');
      for (long k = 0; k < -point; k++)
        buf_addc(out, '0');
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      d->ip = out->p, d->ni = 0;
      d->fp = out->p + 1, d->nf = out->len - 1;
    } else if ((size_t)point >= total) {
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      for (size_t k = total; k < (size_t)point; k++)
        buf_addc(out, '0');
      d->ip = out->p, d->ni = out->len;
      d->fp = out->p + out->len, d->nf = 0;
    } else {
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      d->ip = out->p, d->ni = (size_t)point;
      d->fp = out->p + point, d->nf = total - (size_t)point;
    }
  } else {
    d->ip = ip, d->ni = ni, d->fp = fp, d->nf = nf;
  }
  while (d->ni && d->ip[0] == '0')
    d->ip++, d->ni--;
  while (d->nf && d->fp[d->nf - 1] == '0')
    d->nf--;
  if (!d->ni && !d->nf) d->neg = 0;
  return 0;
}

static int dec_cmp(const struct dec *a, const struct dec *b)
{
  if (a->neg != b->neg) return a->neg ? -1 : 1;
  int m;
  if (a->ni != b->ni) {
    m = a->ni < b->ni ? -1 : 1;
  } else {
    m = memcmp(a->ip, b->ip, a->ni);
    if (!m) {
      size_t nf = a->nf < b->nf ? a->nf : b->nf;
      m = memcmp(a->fp, b->fp, nf);
      /* No trailing zeros: the one with more fraction digits is larger. */
      if (!m && a->nf != b->nf) m = a->nf < b->nf ? -1 : 1;
    }
    m = m < 0 ? -1 : m > 0;
  }
  return a->neg ? -m : m;
}

/* Writes a normalized literal: "-" when negative, integer digits ("0" when
 * none), "." and fraction digits when any. */
static void dec_format(const struct dec *d, struct buf *out)
{
  if (d->neg) buf_addc(out, '-');
  if (d->ni)
    buf_add(out, d->ip, d->ni);
  else
    buf_addc(out, '0');
  if (d->nf) {
    buf_addc(out, '.');
    buf_add(out, d->fp, d->nf);
  }
}

/* ---- evaluation ---- */

struct ctx {
  const struct change *e;
  void **mem; /* scratch allocations of this evaluation */
  size_t nmem, cap;
};

static void *ctx_keep(struct ctx *c, void *p)
{
  if (c->nmem == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 8;
    c->mem = xrealloc(c->mem, c->cap * sizeof *c->mem);
  }
  c->mem[c->nmem++] = p;
  return p;
}

static void *ctx_alloc(struct ctx *c, size_t n)
{
  return ctx_keep(c, xmalloc(n));
}

static struct rval rnull(void)
{
  return (struct rval){.k = R_NULL};
}
static struct rval rbool(int b)
{
  return (struct rval){.k = R_BOOL, .i = !!b};
}

static struct rval rstr(const char *s, size_t n)
{
  struct rval r = {.k = R_STR};
  r.s.s = s, r.s.n = n;
  return r;
}

static struct rval from_json(struct ctx *c, json_t *j)
{
  struct rval r = rnull();
  switch (json_typeof(j)) {
  case JSON_STRING: {
    size_t n = json_string_length(j);
    char *s = ctx_alloc(c, n + 1);
    memcpy(s, json_string_value(j), n + 1);
    return rstr(s, n);
  }
  case JSON_INTEGER: r.k = R_INT, r.i = json_integer_value(j); return r;
  case JSON_REAL: r.k = R_DBL, r.d = json_real_value(j); return r;
  case JSON_TRUE: return rbool(1);
  case JSON_FALSE: return rbool(0);
  case JSON_NULL: return r;
  case JSON_ARRAY: {
    size_t n = json_array_size(j);
    r.k = R_LIST;
    r.l.n = n;
    r.l.v = ctx_alloc(c, (n ? n : 1) * sizeof *r.l.v);
    for (size_t i = 0; i < n; i++)
      r.l.v[i] = from_json(c, json_array_get(j, i));
    return r;
  }
  case JSON_OBJECT: {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return r;
    ctx_keep(c, s);
    return rstr(s, strlen(s));
  }
  }
  return r;
}

/* A column value as an rval. */
static struct rval from_value(struct ctx *c, const struct column *col, const struct value *v)
{
  const struct change *e = c->e;
  struct rval r = rnull();
  switch ((enum val_kind)v->kind) {
  case VAL_ABSENT:
  case VAL_NULL: return r;
  case VAL_INT: r.k = R_INT, r.i = v->i; return r;
  case VAL_UINT:
  case VAL_BIT: r.k = R_UINT, r.u = v->u; return r;
  case VAL_FLOAT: r.k = R_FLT, r.d = v->d; return r;
  case VAL_DOUBLE: r.k = R_DBL, r.d = v->d; return r;
  case VAL_DECIMAL:
    r = rstr(e->arena.p + v->off, v->len);
    r.k = R_DEC;
    return r;
  case VAL_STRING:
  case VAL_BYTES: return rstr(e->arena.p + v->off, v->len);
  case VAL_JSON: {
    json_error_t jerr;
    json_t *j = json_loadb(e->arena.p + v->off, v->len, JSON_DECODE_ANY, &jerr);
    if (!j) return rstr(e->arena.p + v->off, v->len); /* e.g. integers beyond 64 bits */
    if (json_is_object(j))
      r = rstr(e->arena.p + v->off, v->len);
    else
      r = from_json(c, j);
    json_decref(j);
    return r;
  }
  case VAL_ENUM:
    if (v->u == 0) return rstr("", 0);
    if (col->labels && v->u <= col->nlabels)
      return rstr(col->labels[v->u - 1], strlen(col->labels[v->u - 1]));
    r.k = R_UINT, r.u = v->u;
    return r;
  case VAL_SET: {
    if (!col->labels) {
      r.k = R_UINT, r.u = v->u;
      return r;
    }
    r.k = R_LIST;
    r.l.v = ctx_alloc(c, (col->nlabels ? col->nlabels : 1) * sizeof *r.l.v);
    r.l.n = 0;
    for (uint32_t k = 0; k < col->nlabels && k < 64; k++)
      if (v->u >> k & 1) r.l.v[r.l.n++] = rstr(col->labels[k], strlen(col->labels[k]));
    return r;
  }
  }
  return r;
}

static int is_num(enum rkind k)
{
  return k >= R_BOOL && k <= R_FLT;
}

/* The text of an exact number or a string, for matches and starts_with;
 * NULL for other values. */
static const char *text_of(struct ctx *c, const struct rval *r, size_t *n)
{
  char tmp[32];
  switch (r->k) {
  case R_STR:
  case R_DEC: *n = r->s.n; return r->s.s;
  case R_INT: snprintf(tmp, sizeof tmp, "%" PRId64, r->i); break;
  case R_UINT: snprintf(tmp, sizeof tmp, "%" PRIu64, r->u); break;
  case R_DBL:
  case R_FLT: {
    struct buf b = BUF_INIT;
    buf_add_double(&b, r->d, r->k == R_FLT);
    *n = b.len;
    return ctx_keep(c, buf_steal(&b));
  }
  default: return NULL;
  }
  *n = strlen(tmp);
  char *s = ctx_alloc(c, *n + 1);
  memcpy(s, tmp, *n + 1);
  return s;
}

/* An exact number as a decimal; tmp (32 bytes) and out hold its digits.
 * Returns -1 for a string that is not a number. */
static int to_dec(const struct rval *r, struct dec *d, char *tmp, struct buf *out)
{
  switch (r->k) {
  case R_BOOL:
  case R_INT: snprintf(tmp, 32, "%" PRId64, r->i); return dec_parse(tmp, strlen(tmp), d, out);
  case R_UINT: snprintf(tmp, 32, "%" PRIu64, r->u); return dec_parse(tmp, strlen(tmp), d, out);
  case R_DEC:
  case R_STR: return dec_parse(r->s.s, r->s.n, d, out);
  default: return -1;
  }
}

static double to_double(const struct rval *r)
{
  switch (r->k) {
  case R_BOOL:
  case R_INT: return (double)r->i;
  case R_UINT: return (double)r->u;
  case R_DBL:
  case R_FLT: return r->d;
  default: {
    char *s = xstrndup(r->s.s, r->s.n);
    double d = strtod(s, NULL);
    free(s);
    return d;
  }
  }
}

static int sign(int m)
{
  return m < 0 ? -1 : m > 0;
}

#define NO_ORDER 2 /* compare(): the operands do not compare */

static int equal(struct ctx *c, const struct rval *a, const struct rval *b);

/* -1, 0 or 1, or NO_ORDER for operands of kinds that do not compare, NaN,
 * nulls and lists (ordered by nothing; equal() handles them). */
static int compare(const struct rval *a, const struct rval *b)
{
  if (a->k == R_NULL || b->k == R_NULL || a->k == R_LIST || b->k == R_LIST) return NO_ORDER;
  if (a->k == R_STR && b->k == R_STR) {
    size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
    int m = memcmp(a->s.s, b->s.s, n);
    if (m) return sign(m);
    return a->s.n == b->s.n ? 0 : a->s.n < b->s.n ? -1 : 1;
  }
  if (!is_num(a->k) && !is_num(b->k)) return NO_ORDER;
  if (a->k == R_DBL || a->k == R_FLT || b->k == R_DBL || b->k == R_FLT) {
    /* A string must still be a number to compare with one. */
    struct dec d;
    struct buf tmp = BUF_INIT;
    int bad = (a->k == R_STR && dec_parse(a->s.s, a->s.n, &d, &tmp) < 0) ||
              (b->k == R_STR && dec_parse(b->s.s, b->s.n, &d, &tmp) < 0);
    buf_free(&tmp);
    if (bad) return NO_ORDER;
    double x = to_double(a), y = to_double(b);
    if (a->k == R_FLT || b->k == R_FLT) x = (float)x, y = (float)y;
    if (x != x || y != y) return NO_ORDER;
    return x < y ? -1 : x > y;
  }
  int ai = a->k == R_INT || a->k == R_BOOL, bi = b->k == R_INT || b->k == R_BOOL;
  if ((ai || a->k == R_UINT) && (bi || b->k == R_UINT)) {
    if (ai && bi) return a->i < b->i ? -1 : a->i > b->i;
    if (!ai && !bi) return a->u < b->u ? -1 : a->u > b->u;
    if (ai) return a->i < 0 ? -1 : sign(((uint64_t)a->i > b->u) - ((uint64_t)a->i < b->u));
    return b->i < 0 ? 1 : sign((a->u > (uint64_t)b->i) - (a->u < (uint64_t)b->i));
  }
  char ta[32], tb[32];
  struct buf ba = BUF_INIT, bb = BUF_INIT;
  struct dec da, db;
  int m = NO_ORDER;
  if (to_dec(a, &da, ta, &ba) == 0 && to_dec(b, &db, tb, &bb) == 0) m = dec_cmp(&da, &db);
  buf_free(&ba);
  buf_free(&bb);
  return m;
}

static int equal(struct ctx *c, const struct rval *a, const struct rval *b)
{
  if (a->k == R_NULL || b->k == R_NULL) return a->k == b->k;
  if (a->k == R_LIST || b->k == R_LIST) {
    if (a->k != b->k || a->l.n != b->l.n) return 0;
    for (size_t i = 0; i < a->l.n; i++)
      if (!equal(c, &a->l.v[i], &b->l.v[i])) return 0;
    return 1;
  }
  return compare(a, b) == 0;
}

static int truthy(const struct rval *r)
{
  switch (r->k) {
  case R_NULL: return 0;
  case R_BOOL:
  case R_INT: return r->i != 0;
  case R_UINT: return r->u != 0;
  case R_DBL:
  case R_FLT: return r->d != 0;
  case R_DEC: {
    struct dec d;
    struct buf b = BUF_INIT;
    int nz = dec_parse(r->s.s, r->s.n, &d, &b) == 0 && (d.ni || d.nf);
    buf_free(&b);
    return nz;
  }
  case R_STR: return r->s.n != 0;
  case R_LIST: return r->l.n != 0;
  }
  return 0;
}

static int col_index(const struct table *t, const char *name)
{
  for (uint32_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return (int)i;
  return -1;
}

static int in_pk(const struct table *t, uint32_t col)
{
  for (uint32_t k = 0; k < t->npk; k++)
    if (t->pk[k] == col) return 1;
  return 0;
}

static struct rval eval_field(struct ctx *c, const struct node *n)
{
  const struct change *e = c->e;
  const struct table *t = e->table;
  if (!t || !e->before || !e->after) return rnull();
  int i = col_index(t, n->text);
  if (i < 0) return rnull();
  const struct value *v;
  switch ((enum expr_scope)n->op) {
  case EXPR_BEFORE:
    if (e->type != EVENT_UPDATE && e->type != EVENT_DELETE) return rnull();
    v = &e->before[i];
    break;
  case EXPR_AFTER:
    if (e->type == EVENT_DELETE) return rnull();
    v = &e->after[i];
    break;
  case EXPR_KEY:
    if (!in_pk(t, (uint32_t)i)) return rnull();
    v = e->type == EVENT_DELETE ? &e->before[i] : &e->after[i];
    if (v->kind == VAL_ABSENT && e->type == EVENT_UPDATE) v = &e->before[i];
    break;
  default: return rnull();
  }
  return from_value(c, &t->cols[i], v);
}

/* changed(COL) and changed(): the rule of the event's "changed" list. */
static int eval_changed(const struct change *e, const char *name)
{
  if (e->type != EVENT_UPDATE || !e->table || !e->before || !e->after) return 0;
  if (name) {
    int i = col_index(e->table, name);
    return i >= 0 && change_column_changed(e, (uint32_t)i);
  }
  for (uint32_t i = 0; i < e->table->ncols; i++)
    if (change_column_changed(e, i)) return 1;
  return 0;
}

static struct rval map_case(struct ctx *c, const struct rval *r, int upper)
{
  if (r->k != R_STR) return rnull();
  struct buf b = BUF_INIT;
  buf_add_case(&b, r->s.s, r->s.n, upper);
  size_t n = b.len;
  return rstr(ctx_keep(c, buf_steal(&b)), n);
}

static struct rval eval(struct ctx *c, const struct node *n);

static int contains(struct ctx *c, const struct rval *x, const struct rval *y)
{
  if (x->k == R_LIST) {
    for (size_t i = 0; i < x->l.n; i++)
      if (equal(c, &x->l.v[i], y)) return 1;
    return 0;
  }
  if (x->k != R_STR || y->k != R_STR) return 0;
  if (!y->s.n) return 1;
  return memmem(x->s.s, x->s.n, y->s.s, y->s.n) != NULL;
}

static struct rval eval_call(struct ctx *c, const struct node *n)
{
  struct rval a[2] = {rnull(), rnull()};
  if (n->op == F_CHANGED) return rbool(eval_changed(c->e, n->text));
  for (size_t i = 0; i < n->nkids && i < 2; i++)
    a[i] = eval(c, n->kids[i]);
  switch ((enum func)n->op) {
  case F_LOWER: return map_case(c, &a[0], 0);
  case F_UPPER: return map_case(c, &a[0], 1);
  case F_LEN: {
    struct rval r = {.k = R_INT};
    if (a[0].k == R_LIST) {
      r.i = (int64_t)a[0].l.n;
    } else if (a[0].k == R_STR) {
      for (size_t i = 0; i < a[0].s.n; i++)
        r.i += ((unsigned char)a[0].s.s[i] & 0xc0) != 0x80;
    } else {
      return rnull();
    }
    return r;
  }
  case F_CONTAINS: return rbool(contains(c, &a[0], &a[1]));
  case F_STARTS_WITH: {
    size_t xn, yn;
    const char *xs = a[0].k == R_STR ? text_of(c, &a[0], &xn) : NULL;
    const char *ys = a[1].k == R_STR ? text_of(c, &a[1], &yn) : NULL;
    return rbool(xs && ys && yn <= xn && !memcmp(xs, ys, yn));
  }
  default: return rnull();
  }
}

static int eval_cmp(struct ctx *c, int op, const struct rval *a, const struct rval *b)
{
  if (op == OP_EQ) return equal(c, a, b);
  if (op == OP_NE) return !equal(c, a, b);
  int m = compare(a, b);
  if (m == NO_ORDER) return 0;
  switch (op) {
  case OP_LT: return m < 0;
  case OP_LE: return m <= 0;
  case OP_GT: return m > 0;
  default: return m >= 0;
  }
}

static struct rval eval(struct ctx *c, const struct node *n)
{
  switch (n->kind) {
  case N_LIT: return n->lit;
  case N_LIST: {
    struct rval r = {.k = R_LIST};
    r.l.n = n->nkids;
    r.l.v = ctx_alloc(c, (n->nkids ? n->nkids : 1) * sizeof *r.l.v);
    for (size_t i = 0; i < n->nkids; i++)
      r.l.v[i] = eval(c, n->kids[i]);
    return r;
  }
  case N_FIELD: return eval_field(c, n);
  case N_META: {
    const struct change *e = c->e;
    if (n->op == META_TYPE) {
      const char *t = change_type_name(e->type);
      return rstr(t, strlen(t));
    }
    if (n->op == META_USER) {
      size_t ul;
      const char *user = change_user(e, &ul);
      return user ? rstr(user, ul) : rnull();
    }
    if (e->table) {
      const char *s = n->op == META_TABLE ? e->table->name : e->table->schema;
      return s ? rstr(s, strlen(s)) : rnull();
    }
    if (n->op == META_SCHEMA && e->type == EVENT_STATEMENT && e->schema_len)
      return rstr(e->arena.p + e->schema_off, e->schema_len);
    return rnull();
  }
  case N_NOT: {
    struct rval a = eval(c, n->kids[0]);
    return rbool(!truthy(&a));
  }
  case N_AND: {
    struct rval a = eval(c, n->kids[0]);
    if (!truthy(&a)) return rbool(0);
    struct rval b = eval(c, n->kids[1]);
    return rbool(truthy(&b));
  }
  case N_OR: {
    struct rval a = eval(c, n->kids[0]);
    if (truthy(&a)) return rbool(1);
    struct rval b = eval(c, n->kids[1]);
    return rbool(truthy(&b));
  }
  case N_CMP: {
    struct rval a = eval(c, n->kids[0]), b = eval(c, n->kids[1]);
    return rbool(eval_cmp(c, n->op, &a, &b));
  }
  case N_IN: {
    struct rval a = eval(c, n->kids[0]), b = eval(c, n->kids[1]);
    int found = b.k == R_LIST && contains(c, &b, &a);
    return rbool(n->neg ? !found : found);
  }
  case N_MATCHES: {
    struct rval a = eval(c, n->kids[0]);
    size_t len;
    const char *s = text_of(c, &a, &len);
    if (!s) return rbool(0);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return rbool(0);
    int rc = pcre2_match(n->re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rbool(rc >= 0);
  }
  case N_ISNULL: {
    struct rval a = eval(c, n->kids[0]);
    return rbool((a.k == R_NULL) != n->neg);
  }
  case N_CALL: return eval_call(c, n);
  }
  return rnull();
}

int expr_eval(const struct expr *x, const struct change *e)
{
  struct ctx c = {.e = e};
  struct rval r = eval(&c, x->root);
  int res = truthy(&r);
  for (size_t i = 0; i < c.nmem; i++)
    free(c.mem[i]);
  free(c.mem);
  return res;
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

/* ---- the lexer ---- */

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

/* "file:line:col: message" for the text position pos, once: the first error
 * is the one reported. Returns NULL for tail calls. */
__attribute__((format(printf, 3, 4))) static void *perr(struct parser *P, size_t pos, const char *fmt, ...)
{
  if (P->failed) return NULL;
  P->failed = 1;
  int line = P->line, col = P->col;
  for (size_t i = 0; i < pos && i < P->n; i++) {
    unsigned char b = (unsigned char)P->s[i];
    if (b == '\n')
      line++, col = 1;
    else if ((b & 0xc0) != 0x80)
      col++;
  }
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (P->file)
    bh_err(P->err, P->errsz, "%s:%d:%d: %s", P->file, line, col, msg);
  else
    bh_err(P->err, P->errsz, "%d:%d: %s", line, col, msg);
  return NULL;
}

static int is_name_start(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static int is_name_char(unsigned char c)
{
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static void tok_clear(struct token *t)
{
  free(t->val);
  free(t->offs);
  memset(t, 0, sizeof *t);
}

static int lex_string(struct parser *P, struct token *t)
{
  const char *s = P->s;
  char q = s[P->p];
  size_t i = P->p + 1;
  struct buf b = BUF_INIT;
  size_t *offs = NULL, noffs = 0, cap = 0;
  for (;;) {
    if (i >= P->n) {
      buf_free(&b);
      free(offs);
      perr(P, t->pos, "unterminated string");
      return -1;
    }
    if (s[i] == q) break;
    size_t start = i, before = b.len;
    if (s[i] != '\\' || i + 1 >= P->n) {
      buf_addc(&b, s[i++]);
    } else {
      char e = s[i + 1];
      i += 2;
      switch (e) {
      case '\\': buf_addc(&b, '\\'); break;
      case '"': buf_addc(&b, '"'); break;
      case '\'': buf_addc(&b, '\''); break;
      case 'n': buf_addc(&b, '\n'); break;
      case 'r': buf_addc(&b, '\r'); break;
      case 't': buf_addc(&b, '\t'); break;
      case '0': buf_addc(&b, '\0'); break;
      case 'u': {
        long cp = 0;
        int nd = 0, brace = i < P->n && s[i] == '{';
        if (brace) i++;
        while (i < P->n && bh_hexval(s[i]) >= 0 && nd < (brace ? 6 : 4))
          cp = cp * 16 + bh_hexval(s[i++]), nd++;
        int ok = brace ? nd > 0 && i < P->n && s[i] == '}' : nd == 4;
        if (brace && ok) i++;
        if (!ok || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
          buf_free(&b);
          free(offs);
          perr(P, start, "invalid \\u escape: expected \\uXXXX or \\u{X...} naming a Unicode scalar value");
          return -1;
        }
        buf_add_utf8(&b, cp);
        break;
      }
      default: /* kept as written: "\d" is a regex's \d */
        buf_addc(&b, '\\');
        buf_addc(&b, e);
        if (b.len - before == 2) {
          /* the kept escape maps byte by byte */
          if (noffs + 2 + 1 > cap) cap = 2 * cap + 16, offs = xrealloc(offs, cap * sizeof *offs);
          offs[noffs++] = start;
          offs[noffs++] = start + 1;
          continue;
        }
      }
    }
    while (noffs < b.len) {
      if (noffs + 2 > cap) cap = 2 * cap + 16, offs = xrealloc(offs, cap * sizeof *offs);
      offs[noffs++] = start;
    }
  }
  if (noffs + 1 > cap) cap = cap + 1, offs = xrealloc(offs, cap * sizeof *offs);
  offs[noffs] = i; /* the closing quote */
  t->t = T_STR;
  t->vlen = b.len;
  t->val = b.p ? buf_steal(&b) : xstrdup("");
  t->offs = offs;
  P->p = i + 1;
  return 0;
}

/* Reads the next token into P->tok; -1 after an error. */
static int lex(struct parser *P)
{
  const char *s = P->s;
  tok_clear(&P->tok);
  while (P->p < P->n && (s[P->p] == ' ' || s[P->p] == '\t' || s[P->p] == '\n' || s[P->p] == '\r'))
    P->p++;
  struct token *t = &P->tok;
  t->pos = P->p;
  if (P->p >= P->n) {
    t->t = T_EOF;
    return 0;
  }
  unsigned char c = (unsigned char)s[P->p];
  size_t i = P->p;
  if (c == '"' || c == '\'') {
    if (lex_string(P, t) < 0) return -1;
    t->len = P->p - t->pos;
    return 0;
  }
  if (c == '`') {
    size_t e = i + 1;
    while (e < P->n && s[e] != '`')
      e++;
    if (e >= P->n) return perr(P, i, "unterminated quoted name"), -1;
    if (e == i + 1) return perr(P, i, "empty column name"), -1;
    t->t = T_QNAME;
    t->val = xstrndup(s + i + 1, e - i - 1);
    t->vlen = e - i - 1;
    P->p = e + 1;
    t->len = P->p - t->pos;
    return 0;
  }
  if ((c >= '0' && c <= '9') || (c == '-' && i + 1 < P->n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
    size_t e = i + 1;
    /* Take the longest run that could be meant as one number, then check it. */
    while (e < P->n && (is_name_char((unsigned char)s[e]) || s[e] == '.' ||
                        ((s[e] == '+' || s[e] == '-') && (s[e - 1] == 'e' || s[e - 1] == 'E'))))
      e++;
    t->t = T_NUM;
    t->len = e - i;
    P->p = e;
    struct dec d;
    struct buf tmp = BUF_INIT;
    int bad = dec_parse(s + i, e - i, &d, &tmp) < 0;
    buf_free(&tmp);
    if (bad) {
      /* Tell a huge exponent from a malformed number. */
      size_t k = i + (c == '-');
      while (k < e && ((s[k] >= '0' && s[k] <= '9') || s[k] == '.'))
        k++;
      if (k < e && (s[k] == 'e' || s[k] == 'E') && dec_parse(s + i, k - i, &d, &tmp) == 0) {
        size_t x = k + 1;
        if (x < e && (s[x] == '+' || s[x] == '-')) x++;
        int digits = x < e;
        while (x < e && s[x] >= '0' && s[x] <= '9')
          x++;
        buf_free(&tmp);
        if (digits && x == e)
          return perr(P, i, "number '%.*s' is out of range (exponent beyond %d)", (int)(e - i), s + i,
                      MAX_EXPONENT),
                 -1;
      }
      buf_free(&tmp);
      return perr(P, i, "invalid number '%.*s'", (int)(e - i), s + i), -1;
    }
    return 0;
  }
  if (is_name_start(c)) {
    size_t e = i + 1;
    while (e < P->n && is_name_char((unsigned char)s[e]))
      e++;
    t->t = T_NAME;
    t->len = e - i;
    P->p = e;
    return 0;
  }
  char c1 = i + 1 < P->n ? s[i + 1] : 0;
  enum tok two = T_EOF;
  if (c == '=' && c1 == '=')
    two = T_EQ;
  else if (c == '!' && c1 == '=')
    two = T_NE;
  else if (c == '<' && c1 == '=')
    two = T_LE;
  else if (c == '>' && c1 == '=')
    two = T_GE;
  else if (c == '<' && c1 == '>')
    return perr(P, i, "unexpected '<>'; did you mean '!='?"), -1;
  else if (c == '&' && c1 == '&')
    return perr(P, i, "unexpected '&&'; did you mean 'and'?"), -1;
  else if (c == '|' && c1 == '|')
    return perr(P, i, "unexpected '||'; did you mean 'or'?"), -1;
  if (two != T_EOF) {
    t->t = two;
    t->len = 2;
    P->p += 2;
    return 0;
  }
  t->len = 1;
  P->p++;
  switch (c) {
  case '.': t->t = T_DOT; return 0;
  case '(': t->t = T_LP; return 0;
  case ')': t->t = T_RP; return 0;
  case '[': t->t = T_LB; return 0;
  case ']': t->t = T_RB; return 0;
  case ',': t->t = T_COMMA; return 0;
  case '<': t->t = T_LT; return 0;
  case '>': t->t = T_GT; return 0;
  case '=': return perr(P, i, "unexpected '='; did you mean '=='?"), -1;
  case '!': return perr(P, i, "unexpected '!'; did you mean 'not'?"), -1;
  default:
    if (c >= 0x20 && c < 0x7f) return perr(P, i, "unexpected character '%c'", c), -1;
    return perr(P, i, "unexpected byte 0x%02x", c), -1;
  }
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
static const char *const func_names[] = {"changed", "lower", "upper", "len", "contains", "starts_with", NULL};
static const char *const ops_words[] = {"and", "or", "in", "is", "matches", "not", NULL};
static const char *const join_words[] = {"and", "or", NULL}; /* what may follow a complete expression */

static struct node *parse_or(struct parser *P, const char *after, int depth);

static int advance(struct parser *P)
{
  return lex(P);
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
    if (!P->tok.vlen) return perr(P, P->tok.pos, "empty column name");
    name = P->tok.val, P->tok.val = NULL;
  } else {
    return perr(P, P->tok.pos, "expected a column name after '%s'", after);
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

static struct node *parse_call(struct parser *P, size_t name_pos, size_t name_len, int depth)
{
  const char *name = P->s + name_pos;
  int f = -1;
  for (size_t i = 0; i < NFUNCS; i++)
    if (strlen(funcs[i].name) == name_len && !memcmp(funcs[i].name, name, name_len)) f = (int)i;
  if (f < 0) {
    const char *s = suggest(name, name_len, func_names);
    if (s) return perr(P, name_pos, "unknown function '%.*s'; did you mean '%s'?", (int)name_len, name, s);
    return perr(P, name_pos,
                "unknown function '%.*s' (known: changed, contains, len, lower, starts_with, upper)",
                (int)name_len, name);
  }
  struct node *n = node_new(N_CALL);
  size_t apos[2] = {0, 0};
  n->op = f;
  if (advance(P) < 0) goto fail; /* the '(' */
  if (f == F_CHANGED) {
    P->x->uses_changed = 1;
    if (P->tok.t != T_RP) {
      if (P->tok.t == T_NAME && (tok_is(P, "before") || tok_is(P, "after"))) {
        /* changed(after.COL) names COL; changed(after) a column "after" */
        char *word = xstrndup(P->s + P->tok.pos, P->tok.len), what[16];
        snprintf(what, sizeof what, "%s.", word);
        if (advance(P) < 0) {
          free(word);
          goto fail;
        }
        if (P->tok.t != T_DOT) {
          n->text = word;
        } else {
          free(word);
          if (advance(P) < 0 || !(n->text = column_name(P, what))) goto fail;
        }
      } else if (P->tok.t == T_NAME || P->tok.t == T_QNAME || P->tok.t == T_STR) {
        if (!(n->text = column_name(P, "changed("))) goto fail;
      } else {
        perr(P, P->tok.pos, "expected a column name in 'changed()'");
        goto fail;
      }
      if (P->tok.t == T_COMMA) {
        perr(P, name_pos, "'changed' takes one column name or none");
        goto fail;
      }
    } else {
      P->x->reads |= EXPR_READS_CHANGED_ANY;
    }
    if (P->tok.t != T_RP) {
      char d[64];
      perr(P, P->tok.pos, "expected ')' after the column name of 'changed', got %s",
           tok_desc(P, d, sizeof d));
      goto fail;
    }
    if (advance(P) < 0) goto fail;
    return n;
  }
  if (P->tok.t != T_RP) {
    for (;;) {
      if (n->nkids < 2) apos[n->nkids] = P->tok.pos;
      struct node *a = parse_or(P, n->nkids ? "," : "(", depth + 1);
      if (!a) goto fail;
      node_add(n, a);
      if (P->tok.t == T_RP) break;
      if (P->tok.t != T_COMMA) {
        char d[64];
        perr(P, P->tok.pos, "expected ',' or ')' in the arguments of '%s', got %s", funcs[f].name,
             tok_desc(P, d, sizeof d));
        goto fail;
      }
      if (advance(P) < 0) goto fail;
    }
  }
  if ((int)n->nkids < funcs[f].min || (int)n->nkids > funcs[f].max) {
    perr(P, name_pos, "'%s' takes %d argument%s, got %zu", funcs[f].name, funcs[f].min,
         funcs[f].min == 1 ? "" : "s", n->nkids);
    goto fail;
  }
  /* the text functions need a string (len and contains: or a list) */
  for (size_t i = 0; i < n->nkids; i++) {
    const char *what = literal_type(n->kids[i]), *need = NULL;
    if (what && (f == F_LOWER || f == F_UPPER || f == F_STARTS_WITH) && strcmp(what, "a string"))
      need = "a string";
    else if (what && (f == F_LEN || (f == F_CONTAINS && i == 0)) && strcmp(what, "a string") &&
             strcmp(what, "a list"))
      need = "a string or a list";
    if (need) {
      perr(P, apos[i], "type error: '%s' needs %s, not %s", funcs[f].name, need, what);
      goto fail;
    }
  }
  if (advance(P) < 0) goto fail;
  return n;
fail:
  node_free(n);
  return NULL;
}

static struct node *parse_primary(struct parser *P, const char *after, int depth)
{
  if (depth >= MAX_DEPTH) return perr(P, P->tok.pos, "expression nested more than %d levels deep", MAX_DEPTH);
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
  case T_NUM: {
    struct dec d;
    struct buf tmp = BUF_INIT, out = BUF_INIT;
    if (dec_parse(P->s + t->pos, t->len, &d, &tmp) < 0) bh_assert(0); /* the lexer checked it */
    dec_format(&d, &out);
    buf_free(&tmp);
    n = literal(R_DEC);
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
  case T_LP: {
    if (advance(P) < 0) return NULL;
    n = parse_or(P, "(", depth + 1);
    if (!n) return NULL;
    if (t->t != T_RP) {
      char d[64];
      perr(P, t->pos, "expected ')' to close the '(', got %s", tok_desc(P, d, sizeof d));
      return node_free(n), NULL;
    }
    if (advance(P) < 0) return node_free(n), NULL;
    return n;
  }
  case T_LB:
    n = node_new(N_LIST);
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
        perr(P, t->pos, "expected ',' or ']' in the list, got %s", tok_desc(P, d, sizeof d));
        return node_free(n), NULL;
      }
      if (advance(P) < 0) return node_free(n), NULL;
    }
    if (advance(P) < 0) return node_free(n), NULL;
    return n;
  case T_NAME: {
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
      if (t->t != T_DOT) return perr(P, pos, "'%.*s' needs a column: %.*s.NAME", (int)len, w, (int)len, w);
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
    for (size_t i = 0; ops_words[i]; i++)
      if (len == strlen(ops_words[i]) && !memcmp(w, ops_words[i], len)) {
        if (after) return perr(P, pos, "expected a value after '%s'", after);
        return perr(P, pos, "expected a value, got '%.*s'", (int)len, w);
      }
#undef IS
    const char *s = suggest(w, len, names);
    if (s) return perr(P, pos, "unknown name '%.*s'; did you mean '%s'?", (int)len, w, s);
    return perr(P, pos, "unknown name '%.*s'; did you mean 'after.%.*s'?", (int)len, w, (int)len, w);
  }
  case T_QNAME:
    return perr(P, t->pos, "a quoted name needs a prefix: after.%.*s, before.%.*s or key.%.*s", (int)t->len,
                P->s + t->pos, (int)t->len, P->s + t->pos, (int)t->len, P->s + t->pos);
  default: {
    if (after) return perr(P, t->pos, "expected a value after '%s'", after);
    if (t->t == T_EOF) return perr(P, t->pos, "empty expression");
    char d[64];
    return perr(P, t->pos, "expected a value, got %s", tok_desc(P, d, sizeof d));
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
    perr(P, t->pos, "expected a regex string after 'matches'");
    return node_free(l), NULL;
  }
  int code;
  PCRE2_SIZE off;
  pcre2_code *re =
      pcre2_compile((PCRE2_SPTR)t->val, t->vlen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    perr(P, t->offs[off <= t->vlen ? off : t->vlen], "invalid regex: %s", (const char *)msg);
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
static int check_cmp(struct parser *P, int op, const struct node *l, size_t lpos, const struct node *r, size_t rpos)
{
  if (op == OP_EQ || op == OP_NE) return 0;
  for (int side = 0; side < 2; side++) {
    const char *what = literal_type(side ? r : l);
    /* booleans are the numbers 1 and 0: they order */
    if (!what || (strcmp(what, "null") && strcmp(what, "a list"))) continue;
    if (!strcmp(what, "null"))
      perr(P, side ? rpos : lpos, "type error: '%s' cannot order null (use 'is null' or 'is not null')",
           op_names[op]);
    else
      perr(P, side ? rpos : lpos, "type error: '%s' cannot order %s", op_names[op], what);
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
        perr(P, t->pos, "expected 'in' after 'not'");
        return node_free(l), NULL;
      }
      if (advance(P) < 0) return node_free(l), NULL;
    }
    size_t rpos = P->tok.pos;
    struct node *r = parse_primary(P, neg ? "not in" : "in", depth + 1);
    if (!r) return node_free(l), NULL;
    const char *what = literal_type(r);
    if (what && strcmp(what, "a list")) {
      perr(P, rpos, "type error: '%s' needs a list on its right, not %s%s", neg ? "not in" : "in", what,
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
      perr(P, t->pos, neg ? "expected 'null' after 'is not'" : "expected 'null' or 'not null' after 'is'");
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
    perr(P, t->pos, "comparisons do not chain; join them with 'and'");
    return node_free(n), NULL;
  }
  return n;
}

static struct node *parse_not(struct parser *P, const char *after, int depth)
{
  if (depth >= MAX_DEPTH) return perr(P, P->tok.pos, "expression nested more than %d levels deep", MAX_DEPTH);
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
  if (lex(&P) == 0) root = parse_or(&P, NULL, 0);
  if (root && P.tok.t != T_EOF) {
    char d[64];
    const char *s = P.tok.t == T_NAME ? suggest(P.s + P.tok.pos, P.tok.len, join_words) : NULL;
    if (s)
      perr(&P, P.tok.pos, "unexpected %s; did you mean '%s'?", tok_desc(&P, d, sizeof d), s);
    else
      perr(&P, P.tok.pos, "unexpected %s; expected 'and', 'or' or the end of the expression",
           tok_desc(&P, d, sizeof d));
  }
  tok_clear(&P.tok);
  if (P.failed) {
    node_free(root);
    free(P.x);
    return NULL;
  }
  P.x->root = root;
  return P.x;
}
