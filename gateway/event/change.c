/* change.c - see change.h. */
#include "event/change.h"
#include "util/util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rcstr *rcstr_new(const char *s, size_t n)
{
  struct rcstr *r = xmalloc(sizeof *r + n + 1);
  atomic_init((_Atomic int *)&r->refs, 1);
  r->len = n;
  r->json = NULL;
  memcpy(r->s, s, n);
  r->s[n] = 0;
  return r;
}

struct rcstr *rcstr_ref(struct rcstr *r)
{
  if (r) atomic_fetch_add((_Atomic int *)&r->refs, 1);
  return r;
}

void rcstr_unref(struct rcstr *r)
{
  if (r && atomic_fetch_sub((_Atomic int *)&r->refs, 1) == 1) {
    free(r->json);
    free(r);
  }
}

const char *rcstr_json(struct rcstr *r, size_t *len)
{
  char *j = atomic_load((char *_Atomic *)&r->json);
  if (!j) {
    struct buf b = BUF_INIT;
    buf_add_json_str(&b, r->s, r->len);
    char *mine = buf_steal(&b), *expected = NULL;
    if (atomic_compare_exchange_strong((char *_Atomic *)&r->json, &expected, mine)) j = mine;
    else {
      free(mine); /* another thread made it first */
      j = expected;
    }
  }
  *len = strlen(j);
  return j;
}

struct change *change_new(enum event_type type, struct table *table)
{
  size_t nv = table ? table->ncols : 0;
  /* One allocation for the event and both value arrays. */
  struct change *e = xmalloc(sizeof *e + 2 * nv * sizeof(struct value));
  memset(e, 0, sizeof *e);
  e->type = type;
  if (table) {
    e->table = table_ref(table);
    struct value *vals = (struct value *)(e + 1);
    memset(vals, 0, 2 * nv * sizeof *vals);
    e->before = vals;
    e->after = vals + nv;
  }
  return e;
}

void change_free(struct change *e)
{
  if (!e) return;
  table_unref(e->table);
  rcstr_unref(e->sql);
  if (e->pulse) {
    free(e->pulse->server);
    free(e->pulse);
  }
  rcstr_unref(e->gtid_state);
  if (e->alert) {
    free(e->alert->rule);
    free(e->alert->sample_keys);
    free(e->alert);
  }
  buf_free(&e->arena);
  free(e);
}

void change_set_user(struct change *e, const char *s, size_t n)
{
  e->user_off = e->arena.len;
  e->user_len = n;
  buf_add(&e->arena, s, n);
  buf_addc(&e->arena, 0);
}

void change_set_ddl(struct change *e, const char *tag, const char *object)
{
  if (tag && *tag) {
    e->tag_off = e->arena.len;
    e->tag_len = strlen(tag);
    buf_add(&e->arena, tag, e->tag_len + 1);
  }
  if (object && *object) {
    e->object_off = e->arena.len;
    e->object_len = strlen(object);
    buf_add(&e->arena, object, e->object_len + 1);
  }
}

const char *change_user(const struct change *e, size_t *len)
{
  if (e->type != EVENT_STATEMENT) return NULL;
  if (!e->user_len) {
    *len = 7;
    return "unknown";
  }
  *len = e->user_len;
  return e->arena.p + e->user_off;
}

size_t change_size(const struct change *e)
{
  size_t n = sizeof *e + e->arena.cap;
  if (e->table) n += 2 * e->table->ncols * sizeof(struct value);
  return n;
}

const char *change_type_name(enum event_type t)
{
  switch (t) {
  case EVENT_INSERT: return "insert";
  case EVENT_UPDATE: return "update";
  case EVENT_DELETE: return "delete";
  case EVENT_SNAPSHOT: return "snapshot";
  case EVENT_STATEMENT: return "statement";
  case EVENT_COMMIT: return "commit";
  case EVENT_HEARTBEAT: return "heartbeat";
  case EVENT_ALERT: return "alert";
  case EVENT_PULSE: return "heartbeat";
  }
  return "unknown";
}

const char *statement_kind_name(enum statement_kind k)
{
  switch (k) {
  case STMT_DDL: return "ddl";
  case STMT_DCL: return "dcl";
  case STMT_OTHER: return "other";
  }
  return "other";
}

void change_id(const struct change *e, struct buf *out)
{
  if (e->type == EVENT_PULSE) {
    buf_addlit(out, "heartbeat:");
    buf_add_u64(out, e->ts);
    buf_addc(out, '@');
    buf_adds(out, e->position.file);
    buf_addc(out, ':');
    buf_add_u64(out, e->position.pos);
    return;
  }
  if (e->type == EVENT_SNAPSHOT) {
    /* the position of the snapshot that read the row, and its ordinal
     * there: a snapshot resumed at a new position reads the rest again
     * under new ids, never the same id with other contents */
    buf_addlit(out, "snapshot:");
    if (e->position.gtid[0]) {
      buf_adds(out, e->position.gtid);
    } else {
      buf_adds(out, e->position.file);
      buf_addc(out, ':');
      buf_add_u64(out, e->position.pos);
    }
    buf_addc(out, '/');
    buf_add_u64(out, e->tx_index);
    return;
  }
  if (e->position.gtid[0]) {
    buf_adds(out, e->position.gtid);
  } else {
    buf_adds(out, e->position.file);
    buf_addc(out, ':');
    buf_add_u64(out, e->tx_pos);
  }
  buf_addc(out, '/');
  if (e->type == EVENT_ALERT && e->table && e->alert) {
    /* one alert per rule and table in a transaction */
    buf_addlit(out, "alert/");
    buf_adds(out, e->alert->rule);
    buf_addc(out, '/');
    buf_adds(out, e->table->schema);
    buf_addc(out, '.');
    buf_adds(out, e->table->name);
    return;
  }
  buf_add_u64(out, e->tx_index);
}

static const char *arena_str(const struct change *e, const struct value *v)
{
  return e->arena.p + v->off;
}

void value_to_json(const struct change *e, const struct column *c, const struct value *v, struct buf *out)
{
  switch (v->kind) {
  case VAL_ABSENT:
  case VAL_NULL: buf_add(out, "null", 4); break;
  case VAL_INT: buf_add_i64(out, v->i); break;
  case VAL_UINT:
  case VAL_BIT: buf_add_u64(out, v->u); break;
  case VAL_FLOAT: buf_add_double(out, v->d, 1); break;
  case VAL_DOUBLE: buf_add_double(out, v->d, 0); break;
  case VAL_DECIMAL:
  case VAL_STRING: buf_add_json_str(out, arena_str(e, v), v->len); break;
  case VAL_BYTES:
    buf_addc(out, '"');
    buf_add_base64(out, arena_str(e, v), v->len);
    buf_addc(out, '"');
    break;
  case VAL_JSON: buf_add(out, arena_str(e, v), v->len); break;
  case VAL_ENUM:
    if (v->u == 0) buf_add(out, "\"\"", 2);
    else if (c && c->labels && v->u <= c->nlabels) buf_add_json_str(out, c->labels[v->u - 1], strlen(c->labels[v->u - 1]));
    else buf_add_u64(out, v->u); /* labels unknown: the index */
    break;
  case VAL_SET:
    if (c && c->labels) {
      buf_addc(out, '[');
      int first = 1;
      for (uint32_t k = 0; k < c->nlabels && k < 64; k++) {
        if (!(v->u >> k & 1)) continue;
        if (!first) buf_addc(out, ',');
        first = 0;
        buf_add_json_str(out, c->labels[k], strlen(c->labels[k]));
      }
      buf_addc(out, ']');
    } else {
      buf_add_u64(out, v->u);
    }
    break;
  }
}

int value_equal(const struct change *e, const struct value *a, const struct value *b)
{
  if (a->kind != b->kind) return 0;
  switch (a->kind) {
  case VAL_ABSENT:
  case VAL_NULL: return 1;
  case VAL_INT: return a->i == b->i;
  case VAL_UINT:
  case VAL_BIT:
  case VAL_ENUM:
  case VAL_SET: return a->u == b->u;
  case VAL_FLOAT:
  case VAL_DOUBLE: return a->d == b->d || (a->d != a->d && b->d != b->d);
  default: return a->len == b->len && !memcmp(arena_str(e, a), arena_str(e, b), a->len);
  }
}

void change_image_to_json(const struct change *e, const struct value *vals, struct buf *out)
{
  struct table *t = e->table;
  buf_addc(out, '{');
  int first = 1;
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (vals[i].kind == VAL_ABSENT) continue;
    if (!first) buf_addc(out, ',');
    first = 0;
    size_t kl;
    const char *key = table_json_key(t, i, &kl);
    buf_add(out, key, kl);
    value_to_json(e, &t->cols[i], &vals[i], out);
  }
  buf_addc(out, '}');
}

void change_ts_to_json(uint32_t ts, struct buf *out)
{
  /* Rows of one transaction share their timestamp: format it once. */
  static _Thread_local uint32_t last = UINT32_MAX;
  static _Thread_local char s[32];
  if (ts != last) {
    time_t t = (time_t)ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    last = ts;
  }
  buf_adds(out, s);
}

void change_key_to_json(const struct change *e, struct buf *out)
{
  const struct table *t = e->table;
  if (!t || !t->npk || (!e->before && !e->after) || e->type == EVENT_ALERT) {
    buf_addlit(out, "null");
    return;
  }
  const struct value *img = e->type == EVENT_DELETE ? e->before : e->after;
  buf_addc(out, '{');
  for (uint32_t k = 0; k < t->npk; k++) {
    uint32_t c = t->pk[k];
    if (k) buf_addc(out, ',');
    size_t kl;
    const char *key = table_json_key(e->table, c, &kl);
    buf_add(out, key, kl);
    /* A partial image may lack the key in after: take it from before. */
    const struct value *v = img[c].kind == VAL_ABSENT && e->type == EVENT_UPDATE ? &e->before[c] : &img[c];
    value_to_json(e, &t->cols[c], v, out);
  }
  buf_addc(out, '}');
}

int change_column_changed(const struct change *e, uint32_t i)
{
  /* With binlog_row_image=MINIMAL the after image holds just the columns
   * the statement set: those count as changed. */
  if (e->type != EVENT_UPDATE || e->after[i].kind == VAL_ABSENT) return 0;
  return e->before[i].kind == VAL_ABSENT || !value_equal(e, &e->before[i], &e->after[i]);
}

void change_changed_to_json(const struct change *e, struct buf *out)
{
  if (e->type != EVENT_UPDATE || !e->table) {
    buf_addlit(out, "null");
    return;
  }
  const struct table *t = e->table;
  buf_addc(out, '[');
  int first = 1;
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (!change_column_changed(e, i)) continue;
    if (!first) buf_addc(out, ',');
    first = 0;
    buf_add_json_str(out, t->cols[i].name, strlen(t->cols[i].name));
  }
  buf_addc(out, ']');
}

void change_to_json(const struct change *e, struct buf *out)
{
  buf_addlit(out, "{\"id\":\"");
  change_id(e, out);
  buf_addlit(out, "\",\"type\":\"");
  buf_adds(out, change_type_name(e->type));
  buf_addc(out, '"');
  if (e->table) {
    buf_addlit(out, ",\"schema\":");
    buf_add_json_str(out, e->table->schema, strlen(e->table->schema));
    buf_addlit(out, ",\"table\":");
    buf_add_json_str(out, e->table->name, strlen(e->table->name));
  } else if (e->type == EVENT_STATEMENT) {
    buf_addlit(out, ",\"schema\":");
    if (e->schema_len) buf_add_json_str(out, e->arena.p + e->schema_off, e->schema_len);
    else buf_addlit(out, "null");
  }
  buf_addlit(out, ",\"ts\":");
  change_ts_to_json(e->ts, out);
  buf_addlit(out, ",\"position\":{\"file\":");
  buf_add_json_str(out, e->position.file, strlen(e->position.file));
  buf_addlit(out, ",\"pos\":");
  buf_add_u64(out, e->position.pos);
  if (e->position.gtid[0]) {
    buf_addlit(out, ",\"gtid\":");
    buf_add_json_str(out, e->position.gtid, strlen(e->position.gtid));
  }
  buf_addlit(out, "},\"tx\":{\"index\":");
  buf_add_u64(out, e->tx_index);
  buf_addc(out, '}');

  if (e->type == EVENT_ALERT && e->alert) {
    const struct alert *a = e->alert;
    buf_addlit(out, ",\"rule\":");
    buf_add_json_str(out, a->rule, strlen(a->rule));
    buf_addlit(out, ",\"threshold\":");
    buf_add_u64(out, a->threshold);
    buf_addlit(out, ",\"counts\":{\"insert\":");
    buf_add_u64(out, a->inserts);
    buf_addlit(out, ",\"update\":");
    buf_add_u64(out, a->updates);
    buf_addlit(out, ",\"delete\":");
    buf_add_u64(out, a->deletes);
    buf_addlit(out, "},\"sample_keys\":");
    buf_adds(out, a->sample_keys ? a->sample_keys : "[]");
  } else if (e->type == EVENT_PULSE && e->pulse) {
    buf_addlit(out, ",\"server\":{\"id\":");
    buf_add_u64(out, e->server_id);
    buf_addlit(out, ",\"address\":");
    buf_add_json_str(out, e->pulse->server ? e->pulse->server : "", e->pulse->server ? strlen(e->pulse->server) : 0);
    buf_addlit(out, "},\"lag_seconds\":");
    buf_add_u64(out, e->pulse->lag > 0 ? (uint64_t)(e->pulse->lag + 0.5) : 0);
    if (e->gtid_state) {
      buf_addlit(out, ",\"gtid_state\":");
      size_t jl;
      const char *j = rcstr_json(e->gtid_state, &jl);
      buf_add(out, j, jl);
    }
  } else if (e->type == EVENT_STATEMENT) {
    buf_addlit(out, ",\"kind\":\"");
    buf_adds(out, statement_kind_name(e->kind));
    buf_addlit(out, "\",\"thread_id\":");
    buf_add_u64(out, e->thread_id);
    size_t ul = 0;
    const char *user = change_user(e, &ul);
    buf_addlit(out, ",\"user\":");
    buf_add_json_str(out, user, ul);
    if (e->tag_len) {
      buf_addlit(out, ",\"tag\":");
      buf_add_json_str(out, e->arena.p + e->tag_off, e->tag_len);
    }
    if (e->object_len) {
      buf_addlit(out, ",\"object\":");
      buf_add_json_str(out, e->arena.p + e->object_off, e->object_len);
    }
  } else if (e->table) {
    const struct table *t = e->table;
    if (t->npk) {
      buf_addlit(out, ",\"key\":");
      change_key_to_json(e, out);
    }
    if (e->type == EVENT_UPDATE || e->type == EVENT_DELETE) {
      buf_addlit(out, ",\"before\":");
      change_image_to_json(e, e->before, out);
    }
    if (e->type != EVENT_DELETE) {
      buf_addlit(out, ",\"after\":");
      change_image_to_json(e, e->after, out);
    }
    if (e->type == EVENT_UPDATE) {
      buf_addlit(out, ",\"changed\":");
      change_changed_to_json(e, out);
    }
  }
  if (e->sql) {
    buf_addlit(out, ",\"sql\":");
    size_t jl;
    const char *j = rcstr_json(e->sql, &jl);
    buf_add(out, j, jl);
  }
  buf_addc(out, '}');
}

static int value_in_arena(uint8_t kind)
{
  return kind == VAL_DECIMAL || kind == VAL_STRING || kind == VAL_BYTES || kind == VAL_JSON;
}

struct change *change_merged(const struct change *first, const struct change *last)
{
  bh_assert(first->table->ncols == last->table->ncols && first->before && last->after);
  struct change *m = change_new(last->type, last->table);
  m->ts = last->ts;
  m->server_id = last->server_id;
  m->position = last->position;
  m->tx_pos = last->tx_pos;
  m->tx_index = last->tx_index;
  m->sql = last->sql ? rcstr_ref(last->sql) : NULL;
  /* first's arena, then last's: the before image keeps its offsets, the
   * after image's move by the length of the first */
  size_t shift = first->arena.len;
  if (first->arena.len) buf_add(&m->arena, first->arena.p, first->arena.len);
  if (last->arena.len) buf_add(&m->arena, last->arena.p, last->arena.len);
  uint32_t n = last->table->ncols;
  memcpy(m->before, first->before, n * sizeof *m->before);
  for (uint32_t i = 0; i < n; i++) {
    m->after[i] = last->after[i];
    if (value_in_arena(m->after[i].kind)) m->after[i].off += shift;
  }
  return m;
}
