/* key.c - primary key values: a row's key, its exact JSON form (the state
 * file's segments and bands), the order of two values as the server
 * orders them, and the SQL literal of a bound.
 *
 * No thread of its own and no shared state: the snapshot thread uses it
 * while reading, the consumer's filter while comparing the stream's keys,
 * each on keys of its own. */
#include "snapshot/snapshot_int.h"
#include "source/server.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct key *key_new(uint32_t n)
{
  struct key *k = xcalloc(1, sizeof *k);
  k->n = n;
  k->v = xcalloc(n ? n : 1, sizeof *k->v);
  return k;
}

void key_free(struct key *k)
{
  if (!k) return;
  buf_free(&k->arena);
  free(k->v);
  free(k);
}

void key_reset(struct key *k)
{
  buf_reset(&k->arena);
  memset(k->v, 0, k->n * sizeof *k->v);
}

void key_set_text(struct key *k, uint32_t j, uint8_t kind, const void *p, size_t n)
{
  k->v[j].kind = kind;
  k->v[j].off = k->arena.len;
  k->v[j].len = (uint32_t)n;
  buf_add(&k->arena, p, n);
  buf_addc(&k->arena, 0);
}

static int is_text_kind(uint8_t kind)
{
  return kind == VAL_DECIMAL || kind == VAL_STRING || kind == VAL_BYTES || kind == VAL_JSON;
}

/* Copies value v (text in arena) into slot j of k. */
void key_set_value(struct key *k, uint32_t j, const struct value *v, const char *arena)
{
  if (is_text_kind(v->kind))
    key_set_text(k, j, v->kind, arena + v->off, v->len);
  else
    k->v[j] = *v;
}

struct key *key_copy(const struct key *src)
{
  struct key *k = key_new(src->n);
  for (uint32_t j = 0; j < src->n; j++)
    key_set_value(k, j, &src->v[j], src->arena.p);
  return k;
}

static void hex_of(struct buf *b, const void *data, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    buf_addc(b, hex[p[i] >> 4]);
    buf_addc(b, hex[p[i] & 15]);
  }
}

static int unhex(const char *s, size_t n, struct buf *out)
{
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      int d = bh_hexval((unsigned char)s[i + k]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    buf_addc(out, (char)v);
  }
  return 0;
}

/* A key as a JSON array of strings "KIND:VALUE", exact for every kind. */
void key_to_json(const struct key *k, struct buf *b)
{
  buf_addc(b, '[');
  for (uint32_t j = 0; j < k->n; j++) {
    const struct value *v = &k->v[j];
    /* off shares its place with the numbers: only text has an offset */
    const char *a = k->arena.p && is_text_kind(v->kind) ? k->arena.p + v->off : "";
    uint64_t bits;
    if (j) buf_addc(b, ',');
    buf_addc(b, '"');
    switch (v->kind) {
    case VAL_INT: buf_add(b, "i:", 2), buf_add_i64(b, v->i); break;
    case VAL_UINT: buf_add(b, "u:", 2), buf_add_u64(b, v->u); break;
    case VAL_ENUM: buf_add(b, "e:", 2), buf_add_u64(b, v->u); break;
    case VAL_SET: buf_add(b, "s:", 2), buf_add_u64(b, v->u); break;
    case VAL_BIT: buf_add(b, "b:", 2), buf_add_u64(b, v->u); break;
    case VAL_FLOAT:
    case VAL_DOUBLE:
      memcpy(&bits, &v->d, 8);
      buf_add(b, v->kind == VAL_FLOAT ? "f:" : "d:", 2);
      hex_of(b, &bits, 8);
      break;
    case VAL_DECIMAL: buf_add(b, "m:", 2), hex_of(b, a, v->len); break;
    case VAL_STRING: buf_add(b, "t:", 2), hex_of(b, a, v->len); break;
    case VAL_BYTES: buf_add(b, "x:", 2), hex_of(b, a, v->len); break;
    case VAL_JSON: buf_add(b, "j:", 2), hex_of(b, a, v->len); break;
    default: buf_addc(b, 'n'); break;
    }
    buf_addc(b, '"');
  }
  buf_addc(b, ']');
}

struct key *key_from_json(const struct jv *arr, char *err, size_t errsz)
{
  if (arr->k != J_ARR || !arr->nkids) return bh_err(err, errsz, "a key is not a non-empty array"), NULL;
  struct key *k = key_new((uint32_t)arr->nkids);
  struct buf tmp = BUF_INIT;
  for (uint32_t j = 0; j < k->n; j++) {
    const struct jv *x = &arr->kids[j];
    if (x->k != J_STR || x->n < 1 || (x->n > 1 && x->s[1] != ':')) goto bad;
    const char *p = x->s + 2;
    size_t pn = x->n > 2 ? x->n - 2 : 0;
    char *end;
    uint64_t bits;
    struct value *v = &k->v[j];
    errno = 0;
    switch (x->s[0]) {
    case 'i':
      v->kind = VAL_INT, v->i = strtoll(p, &end, 10);
      if (*end || errno || !pn) goto bad;
      break;
    case 'u':
    case 'e':
    case 's':
    case 'b':
      v->kind = x->s[0] == 'u' ? VAL_UINT : x->s[0] == 'e' ? VAL_ENUM : x->s[0] == 's' ? VAL_SET : VAL_BIT;
      v->u = strtoull(p, &end, 10);
      if (*end || errno || !pn) goto bad;
      break;
    case 'f':
    case 'd':
      buf_reset(&tmp);
      if (pn != 16 || unhex(p, pn, &tmp)) goto bad;
      memcpy(&bits, tmp.p, 8);
      memcpy(&v->d, &bits, 8);
      v->kind = x->s[0] == 'f' ? VAL_FLOAT : VAL_DOUBLE;
      break;
    case 'm':
    case 't':
    case 'x':
    case 'j':
      buf_reset(&tmp);
      if (unhex(p, pn, &tmp)) goto bad;
      key_set_text(k, j,
                   x->s[0] == 'm'   ? VAL_DECIMAL
                   : x->s[0] == 't' ? VAL_STRING
                   : x->s[0] == 'x' ? VAL_BYTES
                                    : VAL_JSON,
                   tmp.p ? tmp.p : "", tmp.len);
      break;
    case 'n': v->kind = VAL_NULL; break;
    default: goto bad;
    }
  }
  buf_free(&tmp);
  return k;
bad:
  buf_free(&tmp);
  key_free(k);
  bh_err(err, errsz, "a key value is not one binhook wrote");
  return NULL;
}

/* Decimal texts compared as numbers. */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  int na = an && a[0] == '-', nb = bn && b[0] == '-';
  if (na) a++, an--;
  if (nb) b++, bn--;
  while (an > 1 && a[0] == '0' && a[1] != '.')
    a++, an--;
  while (bn > 1 && b[0] == '0' && b[1] != '.')
    b++, bn--;
  size_t ia = 0, ib = 0;
  while (ia < an && a[ia] != '.')
    ia++;
  while (ib < bn && b[ib] != '.')
    ib++;
  int c = 0;
  if (ia != ib)
    c = ia < ib ? -1 : 1;
  else {
    c = memcmp(a, b, ia);
    c = c < 0 ? -1 : c > 0;
    /* fractions, the shorter padded with zeros */
    for (size_t k = 1; !c && (ia + k < an || ib + k < bn); k++) {
      char x = ia + k < an ? a[ia + k] : '0', y = ib + k < bn ? b[ib + k] : '0';
      if (x != y) c = x < y ? -1 : 1;
    }
  }
  /* -0 and 0 are equal */
  int zero_a = 1, zero_b = 1;
  for (size_t k = 0; k < an; k++)
    if (a[k] >= '1' && a[k] <= '9') zero_a = 0;
  for (size_t k = 0; k < bn; k++)
    if (b[k] >= '1' && b[k] <= '9') zero_b = 0;
  if (zero_a) na = 0;
  if (zero_b) nb = 0;
  if (na != nb) return na ? -1 : 1;
  return na ? -c : c;
}

/* "-838:59:59.000000" as signed microseconds. */
static int64_t time_usec(const char *s, size_t n)
{
  int neg = n && s[0] == '-';
  unsigned long long h = 0, mi = 0, se = 0, us = 0;
  size_t i = neg;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    h = h * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == ':') i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    mi = mi * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == ':') i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    se = se * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == '.') {
    i++;
    unsigned digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 6)
      us = us * 10 + (unsigned)(s[i++] - '0'), digits++;
    while (digits++ < 6)
      us *= 10;
  }
  int64_t v = (int64_t)(((h * 60 + mi) * 60 + se) * 1000000 + us);
  return neg ? -v : v;
}

static int mem_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c < 0 ? -1 : 1;
  return an < bn ? -1 : an > bn;
}

/* Compares two values of column c here (not for columns the server
 * orders: filter.c asks the server). */
int key_value_cmp(const struct scol *c, const struct value *a, const char *aa, const struct value *b,
                  const char *ba)
{
  if (a->kind == VAL_NULL || b->kind == VAL_NULL || a->kind == VAL_ABSENT || b->kind == VAL_ABSENT)
    return (a->kind > VAL_NULL) - (b->kind > VAL_NULL);
  if ((a->kind == VAL_INT || a->kind == VAL_UINT) && (b->kind == VAL_INT || b->kind == VAL_UINT)) {
    if (a->kind == VAL_INT && a->i < 0 && !(b->kind == VAL_INT && b->i < 0)) return -1;
    if (b->kind == VAL_INT && b->i < 0 && !(a->kind == VAL_INT && a->i < 0)) return 1;
    if (a->kind == VAL_INT && b->kind == VAL_INT) return a->i < b->i ? -1 : a->i > b->i;
    uint64_t x = a->kind == VAL_INT ? (uint64_t)a->i : a->u, y = b->kind == VAL_INT ? (uint64_t)b->i : b->u;
    return x < y ? -1 : x > y;
  }
  switch (a->kind) {
  case VAL_ENUM:
  case VAL_SET:
  case VAL_BIT: return a->u < b->u ? -1 : a->u > b->u;
  case VAL_FLOAT:
  case VAL_DOUBLE: return a->d < b->d ? -1 : a->d > b->d;
  case VAL_DECIMAL: return dec_cmp(aa + a->off, a->len, ba + b->off, b->len);
  case VAL_STRING:
    if (c->fk == FK_TIME) {
      int64_t x = time_usec(aa + a->off, a->len), y = time_usec(ba + b->off, b->len);
      return x < y ? -1 : x > y;
    }
    return mem_cmp(aa + a->off, a->len, ba + b->off, b->len);
  default: return mem_cmp(aa + a->off, a->len, ba + b->off, b->len);
  }
}

/* The SQL literal of value v of column c (a key bound). */
void key_add_literal(const struct scol *c, const struct value *v, const char *arena, struct buf *b)
{
  const char *s = arena && is_text_kind(v->kind) ? arena + v->off : "";
  char tmp[64];
  switch (v->kind) {
  case VAL_INT: buf_add_i64(b, v->i); return;
  case VAL_UINT:
  case VAL_ENUM:
  case VAL_SET:
  case VAL_BIT: buf_add_u64(b, v->u); return;
  case VAL_FLOAT:
  case VAL_DOUBLE:
    snprintf(tmp, sizeof tmp, "%.17e", v->d);
    buf_adds(b, tmp);
    return;
  case VAL_DECIMAL: buf_add(b, s, v->len); return;
  case VAL_STRING: /* temporal: the server's own text form */
    buf_addc(b, '\'');
    for (uint32_t i = 0; i < v->len; i++) {
      char ch = s[i];
      if (ch == 'T') ch = ' ';
      if (ch == 'Z' || ch == '\'' || ch == '\\') continue;
      buf_addc(b, ch);
    }
    buf_addc(b, '\'');
    return;
  case VAL_BYTES:
    if (c->fk == FK_STRING && c->charset) {
      buf_addc(b, '_');
      buf_adds(b, c->charset);
      buf_addc(b, ' ');
      server_add_hex(b, s, v->len);
      buf_add(b, " COLLATE ", 9);
      buf_adds(b, c->collation);
    } else if (c->fk == FK_CASTBIN) {
      buf_add(b, "CAST(", 5);
      server_add_hex(b, s, v->len);
      buf_add(b, " AS ", 4);
      buf_adds(b, c->data_type);
      buf_addc(b, ')');
    } else {
      server_add_hex(b, s, v->len);
    }
    return;
  default: buf_add(b, "NULL", 4); return;
  }
}

/* For messages: text ordered by the server is shown as it is stored. */
void key_text(const struct stab *t, const struct key *k, struct buf *b)
{
  buf_addc(b, '(');
  for (uint32_t j = 0; j < k->n; j++) {
    if (j) buf_add(b, ", ", 2);
    const struct value *v = &k->v[j];
    if (v->kind == VAL_BYTES && t->ncols && j < t->npk && t->cols[t->pk[j]].charset) {
      buf_add(b, k->arena.p + v->off, v->len);
      continue;
    }
    struct scol dummy = {0};
    key_add_literal(t->ncols && j < t->npk ? &t->cols[t->pk[j]] : &dummy, v, k->arena.p, b);
  }
  buf_addc(b, ')');
}

/* The text present holds for the key values vals: the event form, so that
 * a row read by the snapshot and a change of it give the same. */
char *key_image(const struct stab *t, const struct value *const *vals, const char *arena)
{
  struct key *k = key_new(t->npk);
  for (uint32_t j = 0; j < t->npk; j++)
    key_set_value(k, j, vals[j], arena);
  struct buf b = BUF_INIT;
  key_to_json(k, &b);
  key_free(k);
  return buf_steal(&b);
}
