/* expr_eval.c - evaluation of a compiled `when` expression (expr.h has the
 * semantics): a walk of the tree against one event, and the built-in
 * functions. Evaluation produces transient values (struct rval) that point
 * into the event, the tree or a per-evaluation scratch list freed before
 * expr_eval returns; it never fails. */
#include "match/expr_impl.h"
#include "util/util.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  case R_INT: snprintf(tmp, 32, "%" PRId64, r->i); return expr_dec_parse(tmp, strlen(tmp), d, out);
  case R_UINT: snprintf(tmp, 32, "%" PRIu64, r->u); return expr_dec_parse(tmp, strlen(tmp), d, out);
  case R_DEC:
  case R_STR: return expr_dec_parse(r->s.s, r->s.n, d, out);
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
    int bad = (a->k == R_STR && expr_dec_parse(a->s.s, a->s.n, &d, &tmp) < 0) ||
              (b->k == R_STR && expr_dec_parse(b->s.s, b->s.n, &d, &tmp) < 0);
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
  if (to_dec(a, &da, ta, &ba) == 0 && to_dec(b, &db, tb, &bb) == 0) m = expr_dec_cmp(&da, &db);
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
    int nz = expr_dec_parse(r->s.s, r->s.n, &d, &b) == 0 && (d.ni || d.nf);
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

/* table, schema, type and user. */
static struct rval eval_meta(const struct change *e, int what)
{
  if (what == META_TYPE) {
    const char *t = change_type_name(e->type);
    return rstr(t, strlen(t));
  }
  if (what == META_USER) {
    size_t ul;
    const char *user = change_user(e, &ul);
    return user ? rstr(user, ul) : rnull();
  }
  if (e->table) {
    const char *s = what == META_TABLE ? e->table->name : e->table->schema;
    return s ? rstr(s, strlen(s)) : rnull();
  }
  if (what == META_SCHEMA && e->type == EVENT_STATEMENT && e->schema_len)
    return rstr(e->arena.p + e->schema_off, e->schema_len);
  return rnull();
}

/* x matches re: the text of a string or of a number. */
static int matches(struct ctx *c, const pcre2_code *re, const struct rval *x)
{
  size_t len;
  const char *s = text_of(c, x, &len);
  if (!s) return 0;
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  if (!md) return 0;
  int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  return rc >= 0;
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
  case N_META: return eval_meta(c->e, n->op);
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
    return rbool(matches(c, n->re, &a));
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
