/* pg_decode.c - see pg_decode.h. The message layouts are those of
 * PostgreSQL's logical replication protocol ("Logical Replication Message
 * Formats" in the manual); integers are big-endian. */
#include "source/pg_decode.h"
#include "source/decoder.h"
#include "source/pg_types.h"
#include "util/json.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_OFFSET 946684800

/* What a Relation message told, by relation id. */
struct pg_rel {
  uint32_t relid;
  char identity;            /* d (primary key), f (full), i (an index), n (nothing) */
  struct table *table;      /* one reference; events take their own */
  struct pg_coltype *types; /* per column */
};

/* A type a Type message named (enums, domains, arrays of those). */
struct pg_usertype {
  uint32_t oid;
  int is_array;
};

struct pg_decoder {
  pg_emit_fn emit;
  pg_table_fn on_table;
  void *ctx;
  char *const *include, *const *exclude;
  struct pg_rel *rels;
  size_t nrels;
  struct pg_usertype *types;
  size_t ntypes;
  /* the open transaction */
  int in_tx;
  uint64_t commit_lsn;
  uint32_t xid, ts, index;
  /* pg_decoder_skip */
  uint64_t skip_lsn;
  uint32_t skip;
};

/* A reader over one message. Reading past the end sets bad and yields
 * zeros, so that a message is checked once, at its end. */
struct rd {
  const unsigned char *p, *end;
  int bad;
};

static int rd_has(struct rd *r, size_t n)
{
  if ((size_t)(r->end - r->p) >= n) return 1;
  r->bad = 1;
  r->p = r->end;
  return 0;
}

static uint64_t rd_uint(struct rd *r, size_t n)
{
  if (!rd_has(r, n)) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | r->p[i];
  r->p += n;
  return v;
}

static uint8_t rd_u8(struct rd *r)
{
  return (uint8_t)rd_uint(r, 1);
}
static uint16_t rd_u16(struct rd *r)
{
  return (uint16_t)rd_uint(r, 2);
}
static uint32_t rd_u32(struct rd *r)
{
  return (uint32_t)rd_uint(r, 4);
}
static uint64_t rd_u64(struct rd *r)
{
  return rd_uint(r, 8);
}

/* A NUL-terminated string, borrowed from the message. */
static const char *rd_str(struct rd *r)
{
  const unsigned char *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!nul) {
    r->bad = 1;
    r->p = r->end;
    return "";
  }
  const char *s = (const char *)r->p;
  r->p = nul + 1;
  return s;
}

void pg_lsn_format(uint64_t lsn, char *out, size_t size)
{
  snprintf(out, size, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

int pg_lsn_parse(const char *s, uint64_t *lsn)
{
  unsigned hi, lo;
  int used = 0;
  if (sscanf(s, "%X/%X%n", &hi, &lo, &used) != 2 || s[used]) return -1;
  *lsn = (uint64_t)hi << 32 | lo;
  return 0;
}

uint32_t pg_time_seconds(int64_t pg_us)
{
  int64_t s = pg_us / 1000000 + PG_EPOCH_OFFSET;
  return s < 0 ? 0 : s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

struct pg_decoder *pg_decoder_new(pg_emit_fn emit, pg_table_fn on_table, void *ctx, char *const *include,
                                  char *const *exclude)
{
  struct pg_decoder *d = xcalloc(1, sizeof *d);
  d->emit = emit;
  d->on_table = on_table;
  d->ctx = ctx;
  d->include = include;
  d->exclude = exclude;
  return d;
}

static void rel_clear(struct pg_rel *r)
{
  table_unref(r->table);
  free(r->types);
}

void pg_decoder_reset(struct pg_decoder *d)
{
  for (size_t i = 0; i < d->nrels; i++)
    rel_clear(&d->rels[i]);
  d->nrels = 0;
  d->ntypes = 0;
  d->in_tx = 0;
}

void pg_decoder_free(struct pg_decoder *d)
{
  if (!d) return;
  pg_decoder_reset(d);
  free(d->rels);
  free(d->types);
  free(d);
}

int pg_decoder_in_tx(const struct pg_decoder *d, uint64_t *commit_lsn, uint32_t *emitted)
{
  if (d->in_tx) {
    *commit_lsn = d->commit_lsn;
    *emitted = d->index;
  }
  return d->in_tx;
}

void pg_decoder_skip(struct pg_decoder *d, uint64_t commit_lsn, uint32_t k)
{
  d->skip_lsn = commit_lsn;
  d->skip = k;
}

static struct pg_rel *find_rel(struct pg_decoder *d, uint32_t relid)
{
  for (size_t i = 0; i < d->nrels; i++)
    if (d->rels[i].relid == relid) return &d->rels[i];
  return NULL;
}

static const struct pg_usertype *find_type(const struct pg_decoder *d, uint32_t oid)
{
  for (size_t i = 0; i < d->ntypes; i++)
    if (d->types[i].oid == oid) return &d->types[i];
  return NULL;
}

/* How a column of type oid is read: built-in arrays by their element, an
 * array of a user's type (its name starts with '_') as text elements. */
static struct pg_coltype coltype(const struct pg_decoder *d, uint32_t oid)
{
  struct pg_coltype t = {oid, pg_array_elem(oid)};
  const struct pg_usertype *u = t.elem ? NULL : find_type(d, oid);
  if (u && u->is_array) t.elem = PG_TEXT;
  return t;
}

/* Type: Int32 oid, String namespace, String name. */
static int on_type(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  uint32_t oid = rd_u32(r);
  rd_str(r);
  const char *name = rd_str(r);
  if (r->bad) return bh_err(err, errsz, "a Type message is cut short");
  struct pg_usertype *u = (struct pg_usertype *)find_type(d, oid);
  if (!u) {
    d->types = xrealloc(d->types, (d->ntypes + 1) * sizeof *d->types);
    u = &d->types[d->ntypes++];
  }
  u->oid = oid;
  u->is_array = name[0] == '_';
  return 0;
}

/* Relation: Int32 relid, String namespace, String name, Int8 replica
 * identity, Int16 columns; per column Int8 flags (1: part of the key),
 * String name, Int32 type oid, Int32 typmod. */
static int on_relation(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  uint32_t relid = rd_u32(r);
  const char *schema = rd_str(r), *name = rd_str(r);
  char identity = (char)rd_u8(r);
  uint16_t ncols = rd_u16(r);
  if (r->bad) return bh_err(err, errsz, "a Relation message is cut short");
  struct table *t = xcalloc(1, sizeof *t);
  t->refs = 1;
  t->id = relid;
  t->schema = xstrdup(schema);
  t->name = xstrdup(name);
  t->ncols = ncols;
  t->cols = xcalloc(ncols ? ncols : 1, sizeof *t->cols);
  t->pk = xcalloc(ncols ? ncols : 1, sizeof *t->pk);
  t->names_known = t->has_metadata = 1;
  struct pg_coltype *types = xcalloc(ncols ? ncols : 1, sizeof *types);
  for (uint16_t i = 0; i < ncols; i++) {
    uint8_t flags = rd_u8(r);
    const char *col = rd_str(r);
    uint32_t oid = rd_u32(r);
    rd_u32(r);
    struct column *c = &t->cols[i];
    c->name = xstrdup(col);
    types[i] = coltype(d, oid);
    c->type = pg_mysql_type(oid, types[i].elem);
    c->nullable = 1;
    c->in_pk = flags & 1;
    if (c->in_pk) t->pk[t->npk++] = i;
  }
  if (r->bad) {
    table_unref(t);
    free(types);
    return bh_err(err, errsz, "the Relation message of %s.%s is cut short", schema, name);
  }
  t->filtered = !decoder_table_selected(d->include, d->exclude, t->schema, t->name);
  if (d->on_table && !t->filtered) d->on_table(d->ctx, t, identity);
  struct pg_rel *rel = find_rel(d, relid);
  if (rel) {
    rel_clear(rel);
  } else {
    d->rels = xrealloc(d->rels, (d->nrels + 1) * sizeof *d->rels);
    rel = &d->rels[d->nrels++];
  }
  rel->relid = relid;
  rel->identity = identity;
  rel->table = t;
  rel->types = types;
  return 0;
}

/* Begin: Int64 the commit's LSN, Int64 commit time, Int32 xid. */
static int on_begin(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  d->commit_lsn = rd_u64(r);
  int64_t ts = (int64_t)rd_u64(r);
  d->xid = rd_u32(r);
  if (r->bad) return bh_err(err, errsz, "a Begin message is cut short");
  d->ts = pg_time_seconds(ts);
  d->index = 0;
  d->in_tx = 1;
  return 0;
}

/* Where an event of the open transaction is (pg_decode.h). */
static void set_position(const struct pg_decoder *d, struct change *e)
{
  pg_lsn_format(d->commit_lsn, e->position.file, sizeof e->position.file);
  e->position.pos = d->xid;
  e->pg_lsn = 1;
  e->tx_pos = d->commit_lsn;
  e->ts = d->ts;
}

/* Commit: Int8 flags, Int64 the commit's LSN, Int64 the LSN after it,
 * Int64 commit time. */
static int on_commit(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  rd_u8(r);
  uint64_t commit_lsn = rd_u64(r), end_lsn = rd_u64(r);
  int64_t ts = (int64_t)rd_u64(r);
  if (r->bad) return bh_err(err, errsz, "a Commit message is cut short");
  if (!d->in_tx || commit_lsn != d->commit_lsn) {
    char a[32], b[32];
    pg_lsn_format(commit_lsn, a, sizeof a);
    pg_lsn_format(d->commit_lsn, b, sizeof b);
    return bh_err(err, errsz, "a Commit at %s without its Begin (open: %s)", a, d->in_tx ? b : "none");
  }
  d->in_tx = 0;
  if (d->skip_lsn == commit_lsn) d->skip = 0, d->skip_lsn = 0;
  struct change *e = change_new(EVENT_COMMIT, NULL);
  set_position(d, e);
  e->ts = pg_time_seconds(ts);
  e->tx_index = d->index;
  pg_lsn_format(end_lsn, e->position.file, sizeof e->position.file);
  e->end_pos = end_lsn;
  return d->emit(d->ctx, e, err, errsz);
}

/* Hands e on, or drops it when it is one of the changes a resumed stream
 * skips. Every change counts towards the transaction's index. */
static int emit_change(struct pg_decoder *d, struct change *e, char *err, size_t errsz)
{
  e->tx_index = d->index++;
  if (d->skip && d->skip_lsn == d->commit_lsn && e->tx_index < d->skip) {
    change_free(e);
    return 0;
  }
  return d->emit(d->ctx, e, err, errsz);
}

static int need_tx(const struct pg_decoder *d, const char *what, char *err, size_t errsz)
{
  if (d->in_tx) return 0;
  return bh_err(err, errsz, "%s outside a transaction (no Begin before it)", what);
}

/* TupleData: Int16 columns, then per column 'n' (null), 'u' (an unchanged
 * TOASTed value, not sent) or 't' Int32 length and the text. key_only: a
 * key image ('K'), whose other columns are sent as nulls and stay absent.
 * Unchanged values stay VAL_ABSENT for the caller to resolve. */
static int read_tuple(struct rd *r, const struct pg_rel *rel, struct change *e, struct value *vals,
                      int key_only, char *err, size_t errsz)
{
  const struct table *t = rel->table;
  uint16_t n = rd_u16(r);
  if (!r->bad && n != t->ncols)
    return bh_err(err, errsz, "a row of %s.%s has %u columns, its Relation %u", t->schema, t->name, n,
                  t->ncols);
  for (uint32_t i = 0; i < t->ncols && !r->bad; i++) {
    uint8_t kind = rd_u8(r);
    int keep = !key_only || t->cols[i].in_pk;
    vals[i].kind = VAL_ABSENT;
    if (kind == 'n') {
      if (keep) vals[i].kind = VAL_NULL;
    } else if (kind == 't') {
      uint32_t len = rd_u32(r);
      if (!rd_has(r, len)) break;
      char why[256];
      if (keep &&
          pg_value_from_text(&rel->types[i], (const char *)r->p, len, &vals[i], &e->arena, why, sizeof why))
        return bh_err(err, errsz, "%s.%s column %s: %s", t->schema, t->name, t->cols[i].name, why);
      r->p += len;
    } else if (kind != 'u') {
      return bh_err(err, errsz, "%s.%s column %s: unknown value kind '%c' (binary values are not asked for)",
                    t->schema, t->name, t->cols[i].name, kind);
    }
  }
  if (r->bad) return bh_err(err, errsz, "a row of %s.%s is cut short", t->schema, t->name);
  return 0;
}

/* The relation a row message names, or NULL with err when no Relation came
 * before it. */
static struct pg_rel *row_rel(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  uint32_t relid = rd_u32(r);
  struct pg_rel *rel = find_rel(d, relid);
  if (!rel) bh_err(err, errsz, "a row of relation %u, which no Relation message described", relid);
  return rel;
}

/* Columns an update did not send (unchanged TOASTed values): the old value
 * when the old row came whole (REPLICA IDENTITY FULL), else left absent
 * from the after image, which marks them as unchanged and unknown. */
static void fill_unchanged(struct change *e, uint32_t ncols)
{
  for (uint32_t i = 0; i < ncols; i++)
    if (e->after[i].kind == VAL_ABSENT && e->before[i].kind != VAL_ABSENT) e->after[i] = e->before[i];
}

/* Insert: Int32 relid, 'N', TupleData. */
static int on_insert(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  if (need_tx(d, "an Insert", err, errsz)) return -1;
  struct pg_rel *rel = row_rel(d, r, err, errsz);
  if (!rel) return -1;
  if (rd_u8(r) != 'N')
    return bh_err(err, errsz, "an Insert into %s.%s without its row", rel->table->schema, rel->table->name);
  struct change *e = change_new(EVENT_INSERT, rel->table);
  set_position(d, e);
  if (read_tuple(r, rel, e, e->after, 0, err, errsz)) {
    change_free(e);
    return -1;
  }
  if (rel->table->filtered) {
    d->index++;
    change_free(e);
    return 0;
  }
  return emit_change(d, e, err, errsz);
}

/* The old row of an update or a delete: 'K' (the key) or 'O' (the whole
 * row, REPLICA IDENTITY FULL); *kind gets which, 0 when none came. */
static int read_old(struct rd *r, const struct pg_rel *rel, struct change *e, uint8_t *kind, char *err,
                    size_t errsz)
{
  *kind = r->p < r->end ? *r->p : 0;
  if (*kind != 'K' && *kind != 'O') {
    *kind = 0;
    return 0;
  }
  r->p++;
  return read_tuple(r, rel, e, e->before, *kind == 'K', err, errsz);
}

/* Update: Int32 relid, optionally 'K' or 'O' and the old row, 'N' and the
 * new row. Without an old row the key did not change: before gets the key
 * from the new row. */
static int on_update(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  if (need_tx(d, "an Update", err, errsz)) return -1;
  struct pg_rel *rel = row_rel(d, r, err, errsz);
  if (!rel) return -1;
  struct table *t = rel->table;
  struct change *e = change_new(EVENT_UPDATE, t);
  set_position(d, e);
  uint8_t old;
  if (read_old(r, rel, e, &old, err, errsz)) goto fail;
  if (rd_u8(r) != 'N') {
    bh_err(err, errsz, "an Update of %s.%s without its new row", t->schema, t->name);
    goto fail;
  }
  if (read_tuple(r, rel, e, e->after, 0, err, errsz)) goto fail;
  if (!old)
    for (uint32_t k = 0; k < t->npk; k++)
      e->before[t->pk[k]] = e->after[t->pk[k]];
  fill_unchanged(e, t->ncols);
  if (t->filtered) {
    d->index++;
    change_free(e);
    return 0;
  }
  return emit_change(d, e, err, errsz);
fail:
  change_free(e);
  return -1;
}

/* Delete: Int32 relid, 'K' or 'O' and the old row. */
static int on_delete(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  if (need_tx(d, "a Delete", err, errsz)) return -1;
  struct pg_rel *rel = row_rel(d, r, err, errsz);
  if (!rel) return -1;
  struct change *e = change_new(EVENT_DELETE, rel->table);
  set_position(d, e);
  uint8_t old;
  if (read_old(r, rel, e, &old, err, errsz)) {
    change_free(e);
    return -1;
  }
  if (!old || rel->table->filtered) {
    d->index++;
    change_free(e);
    return old ? 0
               : bh_err(err, errsz, "a Delete from %s.%s without its old row", rel->table->schema,
                        rel->table->name);
  }
  return emit_change(d, e, err, errsz);
}

/* A statement event of the open transaction with the SQL text sql. */
static struct change *new_statement(const struct pg_decoder *d, const char *sql, size_t n, const char *schema)
{
  struct change *e = change_new(EVENT_STATEMENT, NULL);
  set_position(d, e);
  e->sql = rcstr_new(sql, n);
  int kind = decoder_classify_sql(sql, n);
  e->kind = kind < 0 ? STMT_OTHER : (enum statement_kind)kind;
  if (schema) {
    e->schema_off = e->arena.len;
    e->schema_len = strlen(schema);
    buf_add(&e->arena, schema, e->schema_len);
    buf_addc(&e->arena, 0);
  }
  return e;
}

/* Appends "schema"."name" quoted as PostgreSQL quotes identifiers. */
static void add_ident(struct buf *b, const char *s)
{
  buf_addc(b, '"');
  for (; *s; s++) {
    if (*s == '"') buf_addc(b, '"');
    buf_addc(b, *s);
  }
  buf_addc(b, '"');
}

/* Truncate: Int32 relations, Int8 options (1 CASCADE, 2 RESTART IDENTITY),
 * Int32 relid each. One statement event for the selected tables among
 * them, "TRUNCATE TABLE "s"."t", ...". */
static int on_truncate(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  if (need_tx(d, "a Truncate", err, errsz)) return -1;
  uint32_t n = rd_u32(r);
  uint8_t options = rd_u8(r);
  struct buf sql = BUF_INIT;
  const char *schema = NULL;
  buf_addlit(&sql, "TRUNCATE TABLE ");
  size_t head = sql.len;
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    uint32_t relid = rd_u32(r);
    struct pg_rel *rel = find_rel(d, relid);
    if (r->bad || !rel || rel->table->filtered) continue;
    if (sql.len > head) buf_addlit(&sql, ", ");
    add_ident(&sql, rel->table->schema);
    buf_addc(&sql, '.');
    add_ident(&sql, rel->table->name);
    if (!schema) schema = rel->table->schema;
  }
  if (options & 2) buf_addlit(&sql, " RESTART IDENTITY");
  if (options & 1) buf_addlit(&sql, " CASCADE");
  int rc = 0;
  if (r->bad)
    rc = bh_err(err, errsz, "a Truncate message is cut short");
  else if (sql.len == head)
    d->index++; /* no table of ours */
  else
    rc = emit_change(d, new_statement(d, sql.p, sql.len, schema), err, errsz);
  buf_free(&sql);
  return rc;
}

/* The kind of a statement the event trigger told of, by its command tag:
 * GRANT, REVOKE and ALTER DEFAULT PRIVILEGES change privileges. */
static enum statement_kind tag_kind(const char *tag)
{
  if (!strcmp(tag, "GRANT") || !strcmp(tag, "REVOKE") || !strcmp(tag, "ALTER DEFAULT PRIVILEGES"))
    return STMT_DCL;
  return STMT_DDL;
}

/* The statement event of the JSON object that binhook's event trigger
 * sends (contrib/postgresql/ddl-alerts.sql): {"tag", "objects": [{"type",
 * "identity", "schema"}...], "user", "client", "sql"}. NULL when content is
 * not such an object (then it is plain SQL). */
static struct change *ddl_statement(const struct pg_decoder *d, const char *content, size_t n)
{
  struct jv root;
  char why[128];
  size_t pos = 0;
  struct change *e = NULL;
  memset(&root, 0, sizeof root);
  if (!n || content[0] != '{' || json_parse_value(content, n, &pos, &root, why, sizeof why)) goto out;
  const struct jv *tag = jv_member(&root, "tag"), *sql = jv_member(&root, "sql"),
                  *objects = jv_member(&root, "objects"), *user = jv_member(&root, "user"),
                  *client = jv_member(&root, "client");
  if (!tag || tag->k != J_STR || !sql || sql->k != J_STR) goto out;
  struct buf names = BUF_INIT;
  const char *schema = NULL;
  for (size_t i = 0; objects && objects->k == J_ARR && i < objects->nkids; i++) {
    const struct jv *id = jv_member(&objects->kids[i], "identity"),
                    *sch = jv_member(&objects->kids[i], "schema");
    if (!id || id->k != J_STR) continue;
    if (names.len) buf_addlit(&names, ", ");
    buf_add(&names, id->s, id->n);
    if (!schema && sch && sch->k == J_STR) schema = sch->s;
  }
  e = new_statement(d, sql->s, sql->n, schema);
  e->kind = tag_kind(tag->s);
  change_set_ddl(e, tag->s, names.len ? names.p : NULL);
  if (user && user->k == J_STR && user->n) {
    /* "user@host" as for MySQL; a socket's client is "[local]", as psql and the server's log say */
    struct buf who = BUF_INIT;
    buf_add(&who, user->s, user->n);
    buf_addc(&who, '@');
    if (client && client->k == J_STR && client->n)
      buf_add(&who, client->s, client->n);
    else
      buf_addlit(&who, "[local]");
    change_set_user(e, who.p, who.len);
    buf_free(&who);
  }
  buf_free(&names);
out:
  jv_free(&root);
  return e;
}

/* A statement event of a "binhook" message: the event trigger's JSON, or
 * the content as the SQL text. */
static struct change *message_statement(const struct pg_decoder *d, const char *content, size_t n)
{
  struct change *e = ddl_statement(d, content, n);
  return e ? e : new_statement(d, content, n, NULL);
}

/* Message: Int8 flags (1: transactional), Int64 LSN, String prefix, Int32
 * length, the content. Those with the prefix "binhook" are statements: the
 * JSON of binhook's event trigger (docs/DESIGN.md: DDL alerts) or SQL
 * text; others are not binhook's. A message outside a transaction is a
 * transaction of its own. */
static int on_message(struct pg_decoder *d, struct rd *r, char *err, size_t errsz)
{
  uint8_t flags = rd_u8(r);
  uint64_t lsn = rd_u64(r);
  const char *prefix = rd_str(r);
  uint32_t len = rd_u32(r);
  if (!rd_has(r, len)) return bh_err(err, errsz, "a Message is cut short");
  if (strcmp(prefix, "binhook")) return 0;
  const char *content = (const char *)r->p;
  if (flags & 1) {
    if (need_tx(d, "a transactional Message", err, errsz)) return -1;
    return emit_change(d, message_statement(d, content, len), err, errsz);
  }
  struct pg_decoder alone = *d; /* the position of a transaction of its own */
  alone.commit_lsn = lsn;
  alone.xid = 0;
  alone.ts = (uint32_t)time(NULL);
  struct change *e = message_statement(&alone, content, len);
  return d->emit(d->ctx, e, err, errsz);
}

int pg_decoder_feed(struct pg_decoder *d, uint64_t wal_start, const unsigned char *p, size_t n, char *err,
                    size_t errsz)
{
  (void)wal_start;
  if (!n) return bh_err(err, errsz, "an empty logical replication message");
  struct rd r = {p + 1, p + n, 0};
  switch (p[0]) {
  case 'B': return on_begin(d, &r, err, errsz);
  case 'C': return on_commit(d, &r, err, errsz);
  case 'O': return 0; /* the origin of a replicated transaction: not part of the event */
  case 'R': return on_relation(d, &r, err, errsz);
  case 'Y': return on_type(d, &r, err, errsz);
  case 'I': return on_insert(d, &r, err, errsz);
  case 'U': return on_update(d, &r, err, errsz);
  case 'D': return on_delete(d, &r, err, errsz);
  case 'T': return on_truncate(d, &r, err, errsz);
  case 'M': return on_message(d, &r, err, errsz);
  default: return bh_err(err, errsz, "unknown logical replication message '%c'", p[0]);
  }
}
