/* change.c - see change.h. */
#include "event/change.h"
#include "util/util.h"

#include <pthread.h>
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

static void rcstr_unref_n(struct rcstr *r, int n);

/* The JSON form is one allocation: its length, then the text; r->json
 * points at the text. */
static size_t *json_block(char *json)
{
  return (size_t *)(void *)(json - sizeof(size_t));
}

static void rcstr_unref_n(struct rcstr *r, int n)
{
  if (r && n && atomic_fetch_sub((_Atomic int *)&r->refs, n) == n) {
    if (r->json) free(json_block(r->json));
    free(r);
  }
}

void rcstr_unref(struct rcstr *r) { rcstr_unref_n(r, 1); }

const char *rcstr_json(struct rcstr *r, size_t *len)
{
  char *j = atomic_load((char *_Atomic *)&r->json);
  if (!j) {
    struct buf b = BUF_INIT;
    /* room once, as buf_add_json_str asks for it (a long text grows) */
    buf_reserve(&b, sizeof(size_t) + (r->len <= 4096 ? JSON_STR_ROOM(r->len) : r->len + 2));
    buf_add(&b, &(size_t){0}, sizeof(size_t));
    buf_add_json_str(&b, r->s, r->len);
    size_t n = b.len - sizeof(size_t);
    memcpy(b.p, &n, sizeof n);
    char *mine = buf_steal(&b) + sizeof(size_t), *expected = NULL;
    if (atomic_compare_exchange_strong((char *_Atomic *)&r->json, &expected, mine)) j = mine;
    else {
      free(json_block(mine)); /* another thread made it first */
      j = expected;
    }
  }
  *len = *json_block(j);
  return j;
}

/* Events freed are kept for the thread's next change_new, with their
 * arena when it is small, their table and their statement text: a stream
 * of rows then allocates nothing and takes no reference per row.
 * A thread keeps a few (CACHE_MAX), given back when it ends.
 *
 * An event reused for the next statement's row holds the text of an
 * earlier one (the events come back from the consumer a batch later): the
 * thread takes its references to a statement's text SQL_REFS_AHEAD at a
 * time (paid) and drops those of an earlier text together (owed), not one
 * atomic operation each way per row. */
#define CACHE_MAX 64
#define CACHE_ARENA_MAX 2048
#define CACHE_SQL_MAX 65536
#define SQL_REFS_AHEAD 256

struct change_cache {
  struct change *head;
  unsigned n;
  int registered; /* with cache_key, whose destructor empties it */
  struct rcstr *paid; /* references to it taken ahead: paid_left (it may be gone when 0) */
  int paid_left;
  struct rcstr *owed; /* references to it to drop: owed_n (> 0 when owed is set) */
  int owed_n;
};
static _Thread_local struct change_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(void *arg)
{
  struct change_cache *c = arg;
  rcstr_unref_n(c->paid, c->paid_left);
  rcstr_unref_n(c->owed, c->owed_n);
  c->paid = c->owed = NULL;
  c->paid_left = c->owed_n = 0;
  while (c->head) {
    struct change *e = c->head;
    c->head = e->next;
    table_unref(e->table);
    rcstr_unref(e->sql);
    buf_free(&e->arena);
    free(e);
  }
  c->n = 0;
}

static void cache_init(void)
{
  bh_assert(pthread_key_create(&cache_key, cache_drop) == 0);
}

/* So that the thread's end gives back what its cache holds. */
static void cache_register(void)
{
  if (cache.registered) return;
  pthread_once(&cache_once, cache_init);
  pthread_setspecific(cache_key, &cache);
  cache.registered = 1;
}

struct change *change_new(enum event_type type, struct table *table)
{
  uint32_t nv = table ? table->ncols : 0;
  struct change *e = cache.head;
  struct table *had = NULL;
  if (e && e->nvals >= nv) {
    cache.head = e->next;
    cache.n--;
    struct buf arena = e->arena;
    uint32_t room = e->nvals;
    struct rcstr *sql = e->sql;
    had = e->table;
    memset(e, 0, sizeof *e);
    e->arena = arena;
    buf_reset(&e->arena);
    e->nvals = room;
    e->kept_sql = sql; /* for change_set_sql, or dropped by change_free */
  } else {
    /* One allocation for the event and both value arrays. */
    e = xmalloc(sizeof *e + 2 * (size_t)nv * sizeof(struct value));
    memset(e, 0, sizeof *e);
    e->nvals = nv;
  }
  e->type = type;
  if (had != table) {
    table_unref(had);
    if (table) table_ref(table);
  }
  if (table) {
    e->table = table;
    struct value *vals = (struct value *)(e + 1);
    e->before = vals;
    e->after = vals + e->nvals;
    memset(e->before, 0, nv * sizeof *vals);
    memset(e->after, 0, nv * sizeof *vals);
  }
  return e;
}

void change_free(struct change *e)
{
  if (!e) return;
  rcstr_unref(e->kept_sql);
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
  if (e->arena.cap > CACHE_ARENA_MAX) buf_free(&e->arena);
  if (cache.n < CACHE_MAX) { /* kept with its table and its text (change_set_sql), a long text not */
    if (e->sql && e->sql->len > CACHE_SQL_MAX) {
      rcstr_unref(e->sql);
      e->sql = NULL;
    }
    cache_register();
    e->next = cache.head;
    cache.head = e;
    cache.n++;
    return;
  }
  table_unref(e->table);
  rcstr_unref(e->sql);
  buf_free(&e->arena);
  free(e);
}

void change_set_sql(struct change *e, struct rcstr *sql)
{
  struct rcstr *kept = e->kept_sql;
  e->kept_sql = NULL;
  e->sql = sql;
  if (kept == sql) return;
  cache_register();
  if (kept) {
    if (cache.owed != kept) {
      rcstr_unref_n(cache.owed, cache.owed_n);
      cache.owed = kept;
      cache.owed_n = 0;
    }
    cache.owed_n++;
  }
  if (!sql || sql->len > CACHE_SQL_MAX) { /* a long text is not kept alive by references taken ahead */
    if (cache.paid_left) rcstr_unref_n(cache.paid, cache.paid_left);
    cache.paid_left = 0;
    if (sql) rcstr_ref(sql);
    return;
  }
  if (cache.paid != sql || !cache.paid_left) {
    if (cache.paid != sql) rcstr_unref_n(cache.paid, cache.paid_left);
    atomic_fetch_add((_Atomic int *)&sql->refs, SQL_REFS_AHEAD);
    cache.paid = sql;
    cache.paid_left = SQL_REFS_AHEAD;
  }
  cache.paid_left--;
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

/* Whether e's position is a PostgreSQL LSN alone, with no transaction: a
 * snapshot row (the handover's) and a heartbeat event (where the stream
 * is). Other PostgreSQL events give the commit's LSN and transaction id. */
static int lsn_alone(const struct change *e)
{
  return e->pg_lsn && (e->type == EVENT_SNAPSHOT || e->type == EVENT_PULSE);
}

void change_position_to_json(const struct change *e, struct buf *out)
{
  buf_adds(out, e->pg_lsn ? "{\"lsn\":" : "{\"file\":");
  buf_add_json_str(out, e->position.file, strlen(e->position.file));
  if (!lsn_alone(e)) {
    buf_adds(out, e->pg_lsn ? ",\"xid\":" : ",\"pos\":");
    buf_add_u64(out, e->position.pos);
  }
  if (e->position.gtid[0]) {
    buf_addlit(out, ",\"gtid\":");
    buf_add_json_str(out, e->position.gtid, strlen(e->position.gtid));
  }
  buf_addc(out, '}');
}

void change_id(const struct change *e, struct buf *out)
{
  if (e->type == EVENT_PULSE) {
    buf_addlit(out, "heartbeat:");
    buf_add_u64(out, e->ts);
    buf_addc(out, '@');
    buf_adds(out, e->position.file);
    if (!lsn_alone(e)) {
      buf_addc(out, ':');
      buf_add_u64(out, e->position.pos);
    }
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

/* The printer writes at a cursor into room asked for ahead (out_room), one
 * check for each value rather than one for each piece of it; the buf's
 * length is set and its NUL written when it is done (out_close). */
struct out {
  struct buf *b;
  char *o;   /* where the next byte goes */
  char *end; /* the buffer's last byte, kept for the NUL */
};

/* Slack every request for room adds: a closing bracket or two, and the
 * 16-byte copies of table_json's strings. */
#define OUT_SLACK 24
/* A row's JSON longer than this grows its buffer as it goes: the next rows
 * of its table do not each ask for as much. */
#define ROW_ROOM_MAX 16384

static void out_open(struct out *w, struct buf *b, size_t room)
{
  buf_reserve(b, room + OUT_SLACK);
  w->b = b;
  w->o = b->p + b->len;
  w->end = b->p + b->cap - 1;
}

static __attribute__((noinline)) void out_grow(struct out *w, size_t n)
{
  struct buf *b = w->b;
  b->len = (size_t)(w->o - b->p);
  buf_grow(b, n);
  w->o = b->p + b->len;
  w->end = b->p + b->cap - 1;
}

static inline void out_room(struct out *w, size_t n)
{
  if ((size_t)(w->end - w->o) < n + OUT_SLACK) out_grow(w, n + OUT_SLACK);
}

static void out_close(struct out *w)
{
  w->b->len = (size_t)(w->o - w->b->p);
  *w->o = 0;
}

/* Hands the buf to a buf_add_* writer and takes it back after. */
static inline struct buf *out_lend(struct out *w)
{
  out_close(w);
  return w->b;
}

static inline void out_back(struct out *w)
{
  w->o = w->b->p + w->b->len;
  w->end = w->b->p + w->b->cap - 1;
}

/* Bytes the room was asked for. */
static inline void out_put(struct out *w, const void *s, size_t n)
{
  memcpy(w->o, s, n);
  w->o += n;
}
#define out_lit(w, lit) out_put((w), (lit), sizeof(lit) - 1)

/* A string of table_json, readable 16 bytes at a time; room for n + 16. */
static inline char *piece_at(char *o, const char *s, size_t n)
{
  if (n <= 16) memcpy(o, s, 16);
  else memcpy(o, s, n);
  return o + n;
}

static inline void out_piece(struct out *w, const char *s, size_t n)
{
  w->o = piece_at(w->o, s, n);
}

/* The writers of values keep the cursor in a variable, o, handed to w
 * only when the buffer must grow: room for n at o, and where o is then. */
static inline char *room_at(struct out *w, char *o, size_t n)
{
  if ((size_t)(w->end - o) >= n + OUT_SLACK) return o;
  w->o = o;
  out_grow(w, n + OUT_SLACK);
  return w->o;
}

/* Text longer than this is escaped through the buf, which grows as needed,
 * not into room for its worst case (six bytes a byte). */
#define TEXT_IN_PLACE_MAX 4096

/* Writes value v of column jc at o; room for jc->value_room was asked for,
 * text asks for its own. Returns where it ends. */
static inline char *put_value(struct out *w, char *o, const struct change *e, const struct table_json_col *jc,
                              const struct value *v)
{
  switch (v->kind) {
  case VAL_ABSENT:
  case VAL_NULL: memcpy(o, "null", 4); return o + 4;
  case VAL_INT: return json_put_i64(o, v->i);
  case VAL_UINT:
  case VAL_BIT: return json_put_u64(o, v->u);
  case VAL_FLOAT: return json_put_double(o, v->d, 1);
  case VAL_DOUBLE: return json_put_double(o, v->d, 0);
  case VAL_DECIMAL:
  case VAL_STRING:
    if (v->len > TEXT_IN_PLACE_MAX) {
      w->o = o;
      buf_add_json_str(out_lend(w), arena_str(e, v), v->len);
      out_back(w);
      return w->o;
    }
    o = room_at(w, o, JSON_STR_ROOM(v->len));
    return json_put_str(o, arena_str(e, v), v->len);
  case VAL_BYTES:
    o = room_at(w, o, BASE64_ROOM(v->len) + 2);
    *o++ = '"';
    o = base64_put(o, arena_str(e, v), v->len);
    *o++ = '"';
    return o;
  case VAL_JSON:
    o = room_at(w, o, v->len);
    memcpy(o, arena_str(e, v), v->len);
    return o + v->len;
  case VAL_ENUM:
    if (v->u == 0) {
      memcpy(o, "\"\"", 2);
      return o + 2;
    }
    if (jc->labels && v->u <= jc->nlabels) return piece_at(o, jc->labels[v->u - 1], jc->label_lens[v->u - 1]);
    return json_put_u64(o, v->u); /* labels unknown: the index */
  case VAL_SET:
    if (jc->labels) {
      char *first = ++o;
      o[-1] = '[';
      for (uint32_t k = 0; k < jc->nlabels && k < 64; k++) {
        if (!(v->u >> k & 1)) continue;
        if (o != first) *o++ = ',';
        o = piece_at(o, jc->labels[k], jc->label_lens[k]);
      }
      *o++ = ']';
      return o;
    }
    return json_put_u64(o, v->u);
  }
  return o;
}

/* "key":value for column i at o, after a comma unless it is the first. */
static inline char *put_member(struct out *w, char *o, const struct change *e,
                               const struct table_json_col *jc, const struct value *v, int first)
{
  o = room_at(w, o, 1 + jc->key_len + jc->value_room);
  *o = ',';
  o += !first;
  o = piece_at(o, jc->key, jc->key_len);
  return put_value(w, o, e, jc, v);
}

static void put_image(struct out *w, const struct change *e, const struct table_json *tj,
                      const struct value *vals)
{
  uint32_t n = e->table->ncols;
  char *o = w->o;
  *o++ = '{';
  int first = 1;
  for (uint32_t i = 0; i < n; i++) {
    if (vals[i].kind == VAL_ABSENT) continue;
    o = put_member(w, o, e, &tj->cols[i], &vals[i], first);
    first = 0;
  }
  o = room_at(w, o, 1);
  *o++ = '}';
  w->o = o;
}

void change_image_to_json(const struct change *e, const struct value *vals, struct buf *out)
{
  struct out w;
  out_open(&w, out, 2);
  put_image(&w, e, table_json(e->table), vals);
  out_close(&w);
}

/* The "ts" string of ts with its quotes, 22 bytes: rows of one transaction
 * share their timestamp, so it is formatted once. */
static const char *ts_text(uint32_t ts)
{
  static _Thread_local uint32_t last = UINT32_MAX;
  static _Thread_local char s[32];
  if (ts != last) {
    time_t t = (time_t)ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    last = ts;
  }
  return s;
}

void change_ts_to_json(uint32_t ts, struct buf *out)
{
  buf_adds(out, ts_text(ts));
}

/* The "key" object; the table has a primary key and the event an image. */
static void put_key(struct out *w, const struct change *e, const struct table_json *tj)
{
  const struct table *t = e->table;
  const struct value *img = e->type == EVENT_DELETE ? e->before : e->after;
  char *o = w->o;
  *o++ = '{';
  for (uint32_t k = 0; k < t->npk; k++) {
    uint32_t c = t->pk[k];
    /* A partial image may lack the key in after: take it from before. */
    const struct value *v = img[c].kind == VAL_ABSENT && e->type == EVENT_UPDATE ? &e->before[c] : &img[c];
    o = put_member(w, o, e, &tj->cols[c], v, k == 0);
  }
  o = room_at(w, o, 1);
  *o++ = '}';
  w->o = o;
}

void change_key_to_json(const struct change *e, struct buf *out)
{
  const struct table *t = e->table;
  if (!t || !t->npk || (!e->before && !e->after) || e->type == EVENT_ALERT) {
    buf_addlit(out, "null");
    return;
  }
  struct out w;
  out_open(&w, out, 2);
  put_key(&w, e, table_json(e->table));
  out_close(&w);
}

int change_column_changed(const struct change *e, uint32_t i)
{
  /* With binlog_row_image=MINIMAL the after image holds just the columns
   * the statement set: those count as changed. */
  if (e->type != EVENT_UPDATE || e->after[i].kind == VAL_ABSENT) return 0;
  return e->before[i].kind == VAL_ABSENT || !value_equal(e, &e->before[i], &e->after[i]);
}

/* The "changed" array of an update: each name is its key without the colon. */
static void put_changed(struct out *w, const struct change *e, const struct table_json *tj)
{
  const struct table *t = e->table;
  *w->o++ = '[';
  int first = 1;
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (!change_column_changed(e, i)) continue;
    const struct table_json_col *jc = &tj->cols[i];
    out_room(w, 1 + jc->key_len);
    *w->o = ',';
    w->o += !first;
    first = 0;
    out_piece(w, jc->key, jc->key_len - 1);
  }
  out_room(w, 1);
  *w->o++ = ']';
}

void change_changed_to_json(const struct change *e, struct buf *out)
{
  if (e->type != EVENT_UPDATE || !e->table) {
    buf_addlit(out, "null");
    return;
  }
  struct out w;
  out_open(&w, out, 2);
  put_changed(&w, e, table_json(e->table));
  out_close(&w);
}

/* The start of a row event, from {"id" to the "tx" object, written in one
 * piece: its id is the GTID or FILE:TXPOS, then the index (change_id). */
static void put_row_head(struct out *w, const struct change *e, const struct table_json *tj)
{
  static const struct {
    char s[24];
    uint8_t n;
  } types[] = {
      [EVENT_INSERT] = {"\",\"type\":\"insert\"", 17},
      [EVENT_UPDATE] = {"\",\"type\":\"update\"", 17},
      [EVENT_DELETE] = {"\",\"type\":\"delete\"", 17},
  };
  size_t flen = strlen(e->position.file), glen = strlen(e->position.gtid);
  /* the id's and the position's file and GTID, the head's 16-byte copies,
   * the literals, four numbers */
  char *o = room_at(w, w->o, 7 * (flen + glen) + tj->head_len + 320);
  memcpy(o, "{\"id\":\"", 7), o += 7;
  if (glen) {
    memcpy(o, e->position.gtid, glen), o += glen;
  } else {
    memcpy(o, e->position.file, flen), o += flen;
    *o++ = ':';
    o = json_put_u64(o, e->tx_pos);
  }
  *o++ = '/';
  /* the index, written again at the end */
  char *index = o;
  o = json_put_u64(o, e->tx_index);
  size_t index_len = (size_t)(o - index);
  memcpy(o, types[e->type].s, 24);
  o += types[e->type].n;
  o = piece_at(o, tj->head, tj->head_len);
  memcpy(o, ",\"ts\":", 6), o += 6;
  memcpy(o, ts_text(e->ts), 22), o += 22;
  if (e->pg_lsn) { /* a PostgreSQL position: an LSN, and the transaction id (lsn_alone) */
    memcpy(o, ",\"position\":{\"lsn\":", 19), o += 19;
    o = json_put_str(o, e->position.file, flen);
    if (!lsn_alone(e)) {
      memcpy(o, ",\"xid\":", 7), o += 7;
      o = json_put_u64(o, e->position.pos);
    }
  } else {
    memcpy(o, ",\"position\":{\"file\":", 20), o += 20;
    o = json_put_str(o, e->position.file, flen);
    memcpy(o, ",\"pos\":", 7), o += 7;
    o = json_put_u64(o, e->position.pos);
  }
  if (glen) {
    memcpy(o, ",\"gtid\":", 8), o += 8;
    o = json_put_str(o, e->position.gtid, glen);
  }
  memcpy(o, "},\"tx\":{\"index\":", 16), o += 16;
  memmove(o, index, index_len), o += index_len;
  *o++ = '}';
  w->o = o;
}

/* An insert, update or delete of a table. */
static void row_to_json(const struct change *e, struct buf *out)
{
  const struct table_json *tj = table_json(e->table);
  const struct table *t = e->table;
  struct out w;
  size_t room = atomic_load_explicit((_Atomic size_t *)&tj->row_room, memory_order_relaxed);
  out_open(&w, out, room);
  size_t start = out->len;
  put_row_head(&w, e, tj);
  if (t->npk) {
    out_room(&w, 8);
    out_lit(&w, ",\"key\":");
    if (!e->before && !e->after) out_lit(&w, "null");
    else put_key(&w, e, tj);
  }
  if (e->type != EVENT_INSERT) {
    out_room(&w, 12);
    out_lit(&w, ",\"before\":");
    put_image(&w, e, tj, e->before);
  }
  if (e->type != EVENT_DELETE) {
    out_room(&w, 12);
    out_lit(&w, ",\"after\":");
    put_image(&w, e, tj, e->after);
  }
  if (e->type == EVENT_UPDATE) {
    out_room(&w, 12);
    out_lit(&w, ",\"changed\":");
    put_changed(&w, e, tj);
  }
  if (e->sql) {
    size_t jl;
    const char *j = rcstr_json(e->sql, &jl);
    out_room(&w, 8 + jl);
    out_lit(&w, ",\"sql\":");
    out_put(&w, j, jl);
  }
  *w.o++ = '}';
  out_close(&w);
  size_t n = out->len - start;
  if (n > room && n <= ROW_ROOM_MAX)
    atomic_store_explicit((_Atomic size_t *)&tj->row_room, n + n / 4, memory_order_relaxed);
}

void change_to_json(const struct change *e, struct buf *out)
{
  if (e->table && e->before && e->after &&
      (e->type == EVENT_INSERT || e->type == EVENT_UPDATE || e->type == EVENT_DELETE)) {
    row_to_json(e, out);
    return;
  }
  buf_addlit(out, "{\"id\":\"");
  change_id(e, out);
  buf_addlit(out, "\",\"type\":\"");
  buf_adds(out, change_type_name(e->type));
  buf_addc(out, '"');
  if (e->table) {
    const struct table_json *tj = table_json(e->table);
    buf_add(out, tj->head, tj->head_len);
  } else if (e->type == EVENT_STATEMENT) {
    buf_addlit(out, ",\"schema\":");
    if (e->schema_len) buf_add_json_str(out, e->arena.p + e->schema_off, e->schema_len);
    else buf_addlit(out, "null");
  }
  buf_addlit(out, ",\"ts\":");
  change_ts_to_json(e->ts, out);
  buf_addlit(out, ",\"position\":");
  change_position_to_json(e, out);
  buf_addlit(out, ",\"tx\":{\"index\":");
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
  m->pg_lsn = last->pg_lsn;
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
