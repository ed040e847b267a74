/* tmpl_eval.c - the value of a placeholder's expression for one render
 * (tmpl_impl.h): the roots read from the event and the render's context,
 * members of objects and lists, ~ and c ? a : b; filters are in
 * tmpl_filter.c. Values point into the event or into the render's scratch
 * list. */
#include "match/tmpl_impl.h"
#include "util/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int column_index(const struct table *t, const char *name)
{
  for (uint32_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return (int)i;
  return -1;
}

/* The image a root reads columns from, or NULL. */
static const struct value *image_of(const struct change *e, int root)
{
  if (!e->table || e->type == EVENT_STATEMENT || e->type == EVENT_ALERT) return NULL;
  switch (root) {
  case R_BEFORE: return e->type == EVENT_UPDATE || e->type == EVENT_DELETE ? e->before : NULL;
  case R_AFTER: return e->type != EVENT_DELETE ? e->after : NULL;
  case R_ROW:
  case R_KEY: return e->type == EVENT_DELETE ? e->before : e->after;
  }
  return NULL;
}

const struct value *tmpl_column_value(const struct change *e, int root, const char *name,
                                      const struct column **col)
{
  const struct value *img = image_of(e, root);
  if (!img) return NULL;
  int i = column_index(e->table, name);
  if (i < 0) return NULL;
  if (root == R_KEY) {
    if (!e->table->cols[i].in_pk) return NULL;
    if (img[i].kind == VAL_ABSENT && e->type == EVENT_UPDATE) img = e->before;
  }
  *col = &e->table->cols[i];
  return &img[i];
}

static struct tval raw_of(struct rctx *r, void (*fn)(const struct change *, struct buf *))
{
  struct buf b = BUF_INIT;
  fn(r->c->e, &b);
  return from_buf(&r->sc, T_RAW, &b);
}

static struct tval value_tval(struct rctx *r, const struct change *e, const struct column *c,
                              const struct value *v)
{
  switch (v->kind) {
  case VAL_ABSENT:
  case VAL_NULL: return tnull();
  case VAL_DECIMAL:
  case VAL_STRING: return tstr(e->arena.p + v->off, v->len);
  default: {
    struct buf b = BUF_INIT;
    value_to_json(e, c, v, &b);
    enum tk k = v->kind == VAL_INT || v->kind == VAL_UINT || v->kind == VAL_BIT ? T_NUM : T_RAW;
    if ((v->kind == VAL_FLOAT || v->kind == VAL_DOUBLE) && b.p && b.p[0] != 'n') k = T_NUM;
    return from_buf(&r->sc, k, &b);
  }
  }
}

static void image_json(const struct change *e, int root, struct buf *out)
{
  const struct value *img = image_of(e, root);
  if (root == R_KEY)
    change_key_to_json(e, out);
  else if (img)
    change_image_to_json(e, img, out);
  else
    buf_addlit(out, "null");
}

/* "col: before → after" for every changed column of an update. */
static struct tval changes_of(struct rctx *r, const struct change *e)
{
  if (e->type != EVENT_UPDATE || !e->table) return tnull();
  const struct table *t = e->table;
  struct tval list = {.k = T_LIST};
  list.items = sc_alloc(&r->sc, t->ncols * sizeof *list.items);
  struct buf line = BUF_INIT, tmp = BUF_INIT;
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (!change_column_changed(e, i)) continue;
    buf_reset(&line);
    buf_adds(&line, t->cols[i].name);
    buf_addlit(&line, ": ");
    for (int side = 0; side < 2; side++) {
      const struct value *v = side ? &e->after[i] : &e->before[i];
      if (side) buf_addlit(&line, " \xe2\x86\x92 ");
      if (v->kind == VAL_NULL || v->kind == VAL_ABSENT) {
        buf_adds(&line, v->kind == VAL_NULL ? "NULL" : "?");
      } else if (v->kind == VAL_STRING || v->kind == VAL_DECIMAL) {
        buf_add(&line, e->arena.p + v->off, v->len);
      } else {
        buf_reset(&tmp);
        value_to_json(e, &t->cols[i], v, &tmp);
        if (tmp.len >= 2 && tmp.p[0] == '"') /* an ENUM label, base64 bytes */
          buf_add(&line, tmp.p + 1, tmp.len - 2);
        else
          buf_add(&line, tmp.p, tmp.len);
      }
    }
    list.items[list.len++] = from_buf(&r->sc, T_STR, &line);
    line = (struct buf)BUF_INIT;
  }
  buf_free(&tmp);
  return list;
}

/* A parsed JSON value as a tval, its text copied into the scratch list. */
static struct tval from_jv(struct rctx *r, const struct jv *v)
{
  switch (v->k) {
  case J_NULL: return tnull();
  case J_TRUE: return (struct tval){.k = T_BOOL, .b = 1};
  case J_FALSE: return (struct tval){.k = T_BOOL, .b = 0};
  case J_NUM: return (struct tval){.k = T_NUM, .s = keep(&r->sc, xstrndup(v->s, v->n)), .n = v->n};
  case J_STR: {
    char *s = xmalloc(v->n + 1);
    memcpy(s, v->s, v->n + 1);
    return tstr(keep(&r->sc, s), v->n);
  }
  case J_ARR:
  case J_OBJ: {
    struct tval t = {.k = v->k == J_ARR ? T_LIST : T_OBJ, .len = v->nkids};
    t.items = sc_alloc(&r->sc, v->nkids * sizeof *t.items);
    if (v->k == J_OBJ) {
      t.keys = sc_alloc(&r->sc, v->nkids * sizeof *t.keys);
      t.keylens = sc_alloc(&r->sc, v->nkids * sizeof *t.keylens);
    }
    for (size_t i = 0; i < v->nkids; i++) {
      t.items[i] = from_jv(r, &v->kids[i]);
      if (v->k == J_OBJ) {
        char *k = xmalloc(v->keylens[i] + 1);
        memcpy(k, v->keys[i], v->keylens[i] + 1);
        t.keys[i] = keep(&r->sc, k);
        t.keylens[i] = v->keylens[i];
      }
    }
    return t;
  }
  }
  return tnull();
}

struct tval tmpl_norm(struct rctx *r, struct tval v)
{
  if (v.k != T_RAW) return v;
  struct jv j;
  char what[64];
  size_t pos = 0;
  struct tval out = tnull();
  if (!json_parse_value(v.s, v.n, &pos, &j, what, sizeof what)) out = from_jv(r, &j);
  jv_free(&j);
  return out;
}

void tmpl_emit_json(struct buf *out, const struct tval *v)
{
  switch (v->k) {
  case T_NULL: buf_addlit(out, "null"); break;
  case T_BOOL: v->b ? buf_addlit(out, "true") : buf_addlit(out, "false"); break;
  case T_NUM:
  case T_RAW: buf_add(out, v->s, v->n); break;
  case T_STR: buf_add_json_str(out, v->s, v->n); break;
  case T_LIST:
  case T_OBJ:
    buf_addc(out, v->k == T_LIST ? '[' : '{');
    for (size_t i = 0; i < v->len; i++) {
      if (i) buf_addc(out, ',');
      if (v->k == T_OBJ) {
        buf_add_json_str(out, v->keys[i], v->keylens[i]);
        buf_addc(out, ':');
      }
      tmpl_emit_json(out, &v->items[i]);
    }
    buf_addc(out, v->k == T_LIST ? ']' : '}');
    break;
  }
}

void tmpl_text_of(struct rctx *r, const struct tval *v, struct buf *out)
{
  switch (v->k) {
  case T_NULL: break;
  case T_STR: buf_add(out, v->s, v->n); break;
  case T_RAW:
    if (v->n && v->s[0] == '"') {
      struct tval s = tmpl_norm(r, *v);
      buf_add(out, s.s, s.n);
      break;
    }
    buf_add(out, v->s, v->n);
    break;
  default: tmpl_emit_json(out, v);
  }
}

struct tval tmpl_as_text(struct rctx *r, const struct tval *v)
{
  if (v->k == T_STR) return *v;
  struct buf b = BUF_INIT;
  tmpl_text_of(r, v, &b);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval member(struct rctx *r, struct tval v, const char *name)
{
  v = tmpl_norm(r, v);
  if (v.k == T_OBJ) {
    for (size_t i = 0; i < v.len; i++)
      if (v.keylens[i] == strlen(name) && !memcmp(v.keys[i], name, v.keylens[i])) return v.items[i];
  } else if (v.k == T_LIST && name[0] >= '0' && name[0] <= '9' && strlen(name) < 10) {
    size_t i = (size_t)strtoul(name, NULL, 10);
    if (i < v.len) return v.items[i];
  }
  return tnull();
}

static struct tval eval_root(struct rctx *r, const struct tx *x, size_t *used)
{
  const struct change *e = r->c->e;
  struct buf b = BUF_INIT;
  *used = 0;
  switch (x->root) {
  case R_EVENT: return raw_of(r, change_to_json);
  case R_ID: change_id(e, &b); return from_buf(&r->sc, T_STR, &b);
  case R_TYPE: return tstr(change_type_name(e->type), strlen(change_type_name(e->type)));
  case R_SCHEMA:
    if (e->table) return tstr(e->table->schema, strlen(e->table->schema));
    if (e->type == EVENT_STATEMENT && e->schema_len) return tstr(e->arena.p + e->schema_off, e->schema_len);
    return tnull();
  case R_TABLE: return e->table ? tstr(e->table->name, strlen(e->table->name)) : tnull();
  case R_TS: {
    change_ts_to_json(e->ts, &b);
    struct tval t = from_buf(&r->sc, T_STR, &b);
    t.s++, t.n -= 2; /* without the quotes */
    return t;
  }
  case R_TS_UNIX: buf_add_u64(&b, e->ts); return from_buf(&r->sc, T_NUM, &b);
  case R_POSITION: /* as the event prints it */
    change_position_to_json(e, &b);
    return from_buf(&r->sc, T_RAW, &b);
  case R_TX:
    buf_addlit(&b, "{\"index\":");
    buf_add_u64(&b, e->tx_index);
    buf_addc(&b, '}');
    return from_buf(&r->sc, T_RAW, &b);
  case R_KEY:
  case R_BEFORE:
  case R_AFTER:
  case R_ROW:
    if (x->npath) {
      const struct column *c = NULL;
      const struct value *v = tmpl_column_value(e, x->root, x->path[0], &c);
      *used = 1;
      return v ? value_tval(r, e, c, v) : tnull();
    }
    if (!image_of(e, x->root) || (x->root == R_KEY && !e->table->npk)) return tnull();
    image_json(e, x->root, &b);
    return from_buf(&r->sc, T_RAW, &b);
  case R_CHANGED: return e->type == EVENT_UPDATE ? raw_of(r, change_changed_to_json) : tnull();
  case R_CHANGES: return changes_of(r, e);
  case R_SQL: return e->sql ? tstr(e->sql->s, e->sql->len) : tnull();
  case R_KIND:
    return e->type == EVENT_STATEMENT
               ? tstr(statement_kind_name(e->kind), strlen(statement_kind_name(e->kind)))
               : tnull();
  case R_THREAD_ID:
    if (e->type != EVENT_STATEMENT) return tnull();
    buf_add_u64(&b, e->thread_id);
    return from_buf(&r->sc, T_NUM, &b);
  case R_USER: {
    size_t ul;
    const char *user = change_user(e, &ul);
    return user ? tstr(user, ul) : tnull();
  }
  case R_NOW:
    buf_printf(&b, "%lld", (long long)(r->c->now ? r->c->now : (int64_t)time(NULL)));
    return from_buf(&r->sc, T_NUM, &b);
  case R_RULE: return r->c->rule ? tstr(r->c->rule, strlen(r->c->rule)) : tnull();
  case R_ENDPOINT: return r->c->endpoint ? tstr(r->c->endpoint, strlen(r->c->endpoint)) : tnull();
  case R_COUNTS:
    if (!e->alert) return tnull();
    buf_addlit(&b, "{\"insert\":");
    buf_add_u64(&b, e->alert->inserts);
    buf_addlit(&b, ",\"update\":");
    buf_add_u64(&b, e->alert->updates);
    buf_addlit(&b, ",\"delete\":");
    buf_add_u64(&b, e->alert->deletes);
    buf_addc(&b, '}');
    return from_buf(&r->sc, T_RAW, &b);
  case R_THRESHOLD:
    if (!e->alert) return tnull();
    buf_add_u64(&b, e->alert->threshold);
    return from_buf(&r->sc, T_NUM, &b);
  case R_SAMPLE_KEYS:
    if (!e->alert || !e->alert->sample_keys) return tnull();
    return (struct tval){.k = T_RAW, .s = e->alert->sample_keys, .n = strlen(e->alert->sample_keys)};
  }
  return tnull();
}

/* Whether v counts as true for c ? a : b (tmpl.h). */
static int truthy(struct rctx *r, struct tval v)
{
  v = tmpl_norm(r, v);
  switch (v.k) {
  case T_NULL: return 0;
  case T_BOOL: return v.b;
  case T_NUM:
    /* zero when no digit before the exponent is: exact for any size */
    for (size_t i = 0; i < v.n && v.s[i] != 'e' && v.s[i] != 'E'; i++)
      if (v.s[i] >= '1' && v.s[i] <= '9') return 1;
    return 0;
  case T_STR: return v.n > 0;
  case T_LIST:
  case T_OBJ: return v.len > 0;
  case T_RAW: return 1; /* norm leaves none */
  }
  return 0;
}

struct tval tmpl_eval(struct rctx *r, const struct tx *x)
{
  switch (x->k) {
  case X_LIT: return x->lit;
  case X_LIST: {
    struct tval l = {.k = T_LIST, .len = x->nkids};
    l.items = sc_alloc(&r->sc, x->nkids * sizeof *l.items);
    for (size_t i = 0; i < x->nkids; i++)
      l.items[i] = tmpl_eval(r, x->kids[i]);
    return l;
  }
  case X_PATH: {
    size_t used;
    struct tval v = eval_root(r, x, &used);
    for (size_t i = used; i < x->npath; i++)
      v = member(r, v, x->path[i]);
    return v;
  }
  case X_FILTER: return x->filter->apply(r, tmpl_eval(r, x->kids[0]), x);
  case X_COND: return tmpl_eval(r, x->kids[truthy(r, tmpl_eval(r, x->kids[0])) ? 1 : 2]);
  case X_CONCAT: {
    struct tval a = tmpl_eval(r, x->kids[0]), b = tmpl_eval(r, x->kids[1]);
    struct buf out = BUF_INIT;
    tmpl_text_of(r, &a, &out);
    tmpl_text_of(r, &b, &out);
    return from_buf(&r->sc, T_STR, &out);
  }
  }
  return tnull();
}
