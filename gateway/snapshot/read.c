/* read.c - reading the rows, in the snapshot thread (snapshot_main, or
 * the caller of snapshot_run): each table's columns from
 * information_schema, then its rows a chunk at a time in primary key
 * order over the transaction open.c opened, each chunk announced first
 * (statefile.c) and followed by a marker; a transaction broken by an
 * ALTER TABLE is replaced by a new one, and the rest read there.
 *
 * Events leave through opts.emit or the source's queue, whose push blocks
 * while the consumer is behind; snapshot_stop wakes it (stop, and the
 * socket of m shut down under lock). Everything else it touches is the
 * thread's own until the queue ends; see snapshot_int.h. */
#include "snapshot/snapshot_int.h"
#include "source/server.h"
#include "event/changeq.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ER_TABLE_DEF_CHANGED 1412
#define ER_NO_SUCH_TABLE 1146
#define MAX_REOPENS 8
#define CELL_INITIAL 64
#define ANNOUNCE_CHUNKS 4

enum { READ_OK = 0, READ_FAIL = -1, READ_REOPEN = 1, READ_GONE = 2 };

/* ---- tables and columns ---- */

/* 1 when s is a plain name (charsets and collations go into SQL unquoted). */
static int plain_name(const char *s)
{
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

/* Column c of the snapshot and col of its events, from a row of
 * read_load_table's first query. */
static void load_column(struct scol *c, struct column *col, MYSQL_ROW row)
{
  c->name = xstrdup(row[0] ? row[0] : "");
  c->data_type = xstrdup(row[1] ? row[1] : "");
  uint8_t mt;
  c->fk = conv_classify(c->data_type, &mt, &c->cast_len);
  c->uns = row[2] && strstr(row[2], "unsigned") != NULL;
  c->fsp = row[6] ? atoi(row[6]) : 0;
  if (c->fsp < 0 || c->fsp > 6) c->fsp = 0;
  if (row[4] && row[5] && plain_name(row[4]) && plain_name(row[5]) && c->fk == FK_STRING) {
    c->charset = xstrdup(row[4]);
    c->collation = xstrdup(row[5]);
  }
  c->server_cmp = (c->fk == FK_STRING && c->charset) || c->fk == FK_CASTBIN;
  col->name = xstrdup(c->name);
  col->type = mt;
  col->nullable = row[3] && !strcmp(row[3], "YES");
  col->is_unsigned = (int8_t)(c->fk == FK_INT ? c->uns : c->fk == FK_YEAR ? 0 : -1);
  col->meta = (uint16_t)c->fsp;
  if ((c->fk == FK_ENUM || c->fk == FK_SET) && row[2]) col->labels = conv_labels(row[2], &col->nlabels);
}

int read_load_table(struct snapshot *s, struct stab *t, char *err, size_t errsz)
{
  if (s->o.conn.postgres) return pg_snap_load_table(s, t, err, errsz);
  stab_unload(t);
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, "
                 "COLLATION_NAME, DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
  server_add_quoted(s->m, &sql, t->schema);
  buf_adds(&sql, " AND TABLE_NAME = ");
  server_add_quoted(s->m, &sql, t->name);
  buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
  MYSQL_RES *res = snap_query(s, s->m, sql.p, err, errsz);
  if (!res) {
    buf_free(&sql);
    return -1;
  }
  uint32_t n = (uint32_t)mysql_num_rows(res);
  if (!n) {
    mysql_free_result(res);
    buf_free(&sql);
    return 1;
  }
  struct table *tb = xcalloc(1, sizeof *tb);
  atomic_init((_Atomic int *)&tb->refs, 1);
  tb->schema = xstrdup(t->schema);
  tb->name = xstrdup(t->name);
  tb->ncols = n;
  tb->cols = xcalloc(n, sizeof *tb->cols);
  tb->names_known = 1;
  tb->has_metadata = 1;
  t->t = tb;
  t->cols = xcalloc(n, sizeof *t->cols);
  t->ncols = n;
  MYSQL_ROW row;
  for (uint32_t i = 0; i < n && (row = mysql_fetch_row(res)); i++)
    load_column(&t->cols[i], &tb->cols[i], row);
  mysql_free_result(res);

  buf_reset(&sql);
  buf_adds(&sql,
           "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' "
           "AND TABLE_SCHEMA = ");
  server_add_quoted(s->m, &sql, t->schema);
  buf_adds(&sql, " AND TABLE_NAME = ");
  server_add_quoted(s->m, &sql, t->name);
  buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
  res = snap_query(s, s->m, sql.p, err, errsz);
  buf_free(&sql);
  if (!res) return -1;
  t->pk = xcalloc(n, sizeof *t->pk);
  tb->pk = xcalloc(n, sizeof *tb->pk);
  while ((row = mysql_fetch_row(res)) && t->npk < n) {
    for (uint32_t i = 0; i < n; i++)
      if (row[0] && !strcmp(t->cols[i].name, row[0])) {
        t->pk[t->npk++] = i;
        tb->cols[i].in_pk = 1;
        break;
      }
  }
  mysql_free_result(res);
  memcpy(tb->pk, t->pk, t->npk * sizeof *t->pk);
  tb->npk = t->npk;
  t->cells = xcalloc(n, sizeof *t->cells);
  t->binds = xcalloc(n, sizeof *t->binds);
  for (uint32_t i = 0; i < n; i++) {
    t->cells[i].cap = CELL_INITIAL;
    t->cells[i].data = xmalloc(CELL_INITIAL + 1);
  }
  return 0;
}

/* The key of the row just fetched (values from the event e), into k. */
static void row_key(const struct stab *t, const struct change *e, struct key *k)
{
  key_reset(k);
  for (uint32_t j = 0; j < t->npk; j++) {
    uint32_t i = t->pk[j];
    const struct scol *c = &t->cols[i];
    if (c->fk == FK_STRING && c->server_cmp && !t->cells[i].null)
      key_set_text(k, j, VAL_BYTES, t->cells[i].data, t->cells[i].len);
    else
      key_set_value(k, j, &e->after[i], e->arena.p);
  }
}

/* ---- reading ---- */

static int emit(struct snapshot *s, struct change *e, char *err, size_t errsz)
{
  if (atomic_load(&s->stop)) {
    change_free(e);
    return bh_err(err, errsz, "stopped");
  }
  if (s->o.emit) return s->o.emit(s->o.ctx, e, err, errsz);
  if (changeq_push(s->q, e)) {
    /* the queue was closed: nobody takes rows any more, which is a stop */
    atomic_store(&s->stop, 1);
    return bh_err(err, errsz, "stopped");
  }
  return 0;
}

static void sleep_until(struct snapshot *s, double when)
{
  double now;
  while (!atomic_load(&s->stop) && (now = bh_mono()) < when) {
    double d = when - now > 0.1 ? 0.1 : when - now;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(d * 1e9)};
    nanosleep(&ts, NULL);
  }
}

/* The end of a chunk: the state as it is now waits for its commit, and a
 * marker tells the consumer. */
static int chunk_end(struct snapshot *s, int done, char *err, size_t errsz)
{
  uint64_t seq = ++s->seq;
  if (s->state_dir) statefile_pend(s, seq, done);
  struct change *m = change_new(EVENT_HEARTBEAT, NULL);
  m->position = s->handover;
  m->end_pos = s->handover.pos;
  m->xa_held = 1;
  m->tx_pos = MARKER_TAG;
  m->tx_index = (uint32_t)seq;
  m->ts = s->ts;
  return emit(s, m, err, errsz);
}

int snapshot_marker(const struct change *e, uint64_t *seq)
{
  if (e->type != EVENT_HEARTBEAT || e->tx_pos != MARKER_TAG || e->table) return 0;
  if (seq) *seq = e->tx_index;
  return 1;
}

/* The segment of t this transaction writes into, made when needed. */
struct seg *read_cur_seg(struct snapshot *s, struct stab *t)
{
  if (t->nsegs && !t->segs[t->nsegs - 1].upto) return &t->segs[t->nsegs - 1]; /* not expected: a done table */
  if (t->nsegs && !server_pos_cmp(t->segs[t->nsegs - 1].pos.file, t->segs[t->nsegs - 1].pos.pos, &s->cur))
    return &t->segs[t->nsegs - 1];
  t->segs = xrealloc(t->segs, (t->nsegs + 1) * sizeof *t->segs);
  struct seg *g = &t->segs[t->nsegs++];
  memset(g, 0, sizeof *g);
  g->pos = s->cur;
  return g;
}

/* The last committed key of t, where reading goes on. */
const struct key *read_last_key(const struct stab *t)
{
  return t->nsegs ? t->segs[t->nsegs - 1].upto : NULL;
}

/* Whether a band of t reaches past key k (so that the rows after k are
 * still to be noted in present). */
static int bands_ahead(struct snapshot *s, const struct stab *t, const struct key *k)
{
  const struct value *vals[KEY_PARTS_MAX];
  for (uint32_t j = 0; j < t->npk; j++)
    vals[j] = &k->v[j];
  for (size_t i = 0; i < t->nbands; i++) {
    int c;
    if (!t->bands[i].upto || filter_key_order(s, t, vals, k->arena.p, t->bands[i].upto, &c) || c < 0)
      return 1;
  }
  return 0;
}

/* The SELECT of read_chunk: the columns (with probe only the key's) of
 * the rows after the last committed key, in key order, limit of them; with
 * probe only the limit-th (with limit 0 too, the table's last row). */
static void chunk_sql(const struct stab *t, uint64_t limit, int probe, struct buf *sql)
{
  buf_adds(sql, "SELECT ");
  for (uint32_t i = 0; i < t->ncols; i++) {
    const struct scol *c = &t->cols[i];
    if (i) buf_add(sql, ", ", 2);
    int key = 0;
    for (uint32_t j = 0; j < t->npk && !key; j++)
      key = t->pk[j] == i;
    if (probe && !key) {
      buf_adds(sql, "NULL"); /* only the key is wanted */
    } else if (c->fk == FK_ENUM || c->fk == FK_SET) {
      server_add_ident(sql, c->name); /* the index or the bits, not the labels */
      buf_add(sql, "+0", 2);
    } else if (c->fk == FK_CASTBIN) {
      buf_adds(sql, "CAST(");
      server_add_ident(sql, c->name);
      buf_printf(sql, " AS BINARY(%u))", c->cast_len);
    } else {
      server_add_ident(sql, c->name);
    }
  }
  buf_adds(sql, " FROM ");
  server_add_table(sql, t->schema, t->name);
  const struct key *after = read_last_key(t);
  if (t->npk && after) {
    /* (k1, k2) > (v1, v2), written so that the range optimizer uses the key */
    const struct scol *c0 = &t->cols[t->pk[0]];
    buf_adds(sql, " WHERE ");
    server_add_ident(sql, c0->name);
    buf_adds(sql, " >= ");
    key_add_literal(c0, &after->v[0], after->arena.p, sql);
    buf_adds(sql, " AND (");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_adds(sql, " OR ");
      buf_addc(sql, '(');
      for (uint32_t k = 0; k <= j; k++) {
        const struct scol *c = &t->cols[t->pk[k]];
        if (k) buf_adds(sql, " AND ");
        server_add_ident(sql, c->name);
        buf_adds(sql, k < j ? " = " : " > ");
        key_add_literal(c, &after->v[k], after->arena.p, sql);
      }
      buf_addc(sql, ')');
    }
    buf_addc(sql, ')');
  }
  if (t->npk) {
    buf_adds(sql, " ORDER BY ");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_add(sql, ", ", 2);
      server_add_ident(sql, t->cols[t->pk[j]].name);
      if (probe && !limit) buf_adds(sql, " DESC");
    }
    if (probe && !limit)
      buf_adds(sql, " LIMIT 1");
    else if (probe)
      buf_printf(sql, " LIMIT 1 OFFSET %" PRIu64, limit - 1);
    else
      buf_printf(sql, " LIMIT %" PRIu64, limit);
  }
}

/* After MYSQL_DATA_TRUNCATED: the cells too small for their value grow
 * and are fetched again. 0, or -1 with err. */
static int grow_cells(struct snapshot *s, MYSQL_STMT *st, struct stab *t, char *err, size_t errsz)
{
  int rebind = 0;
  for (uint32_t i = 0; i < t->ncols; i++) {
    struct cell *x = &t->cells[i];
    if (t->binds[i].buffer_type != MYSQL_TYPE_BLOB || x->null || x->len <= x->cap) continue;
    x->cap = x->len + x->len / 2;
    free(x->data);
    x->data = xmalloc(x->cap + 1);
    t->binds[i].buffer = x->data;
    t->binds[i].buffer_length = x->cap;
    if (mysql_stmt_fetch_column(st, &t->binds[i], i, 0)) {
      bh_err(err, errsz, "reading '%s.%s' failed: %s", t->schema, t->name, mysql_stmt_error(st));
      return snap_fail(s, server_errc(mysql_stmt_errno(st)));
    }
    rebind = 1;
  }
  if (rebind && mysql_stmt_bind_result(st, t->binds)) {
    bh_err(err, errsz, "cannot read '%s.%s': %s", t->schema, t->name, mysql_stmt_error(st));
    return snap_fail(s, server_errc(mysql_stmt_errno(st)));
  }
  return 0;
}

/* The row just fetched: its key into lk, and, unless probing, its event
 * emitted. 0, or -1 with err. */
static int take_row(struct snapshot *s, struct stab *t, const MYSQL_FIELD *fields, struct key *lk, int probe,
                    char *err, size_t errsz)
{
  struct change *e = change_new(EVENT_SNAPSHOT, t->t);
  e->ts = s->ts;
  e->position = s->cur;
  e->tx_pos = 0;
  e->tx_index = (uint32_t)s->ordinal;
  for (uint32_t i = 0; i < t->ncols; i++)
    if (conv_cell(s->cs, &t->cols[i], &fields[i], &t->cells[i], &e->after[i], &e->arena, err, errsz)) {
      char msg[600];
      snprintf(msg, sizeof msg, "'%s.%s': %s", t->schema, t->name, err);
      bh_err(err, errsz, "%s", msg);
      change_free(e);
      return -1;
    }
  if (t->npk) row_key(t, e, lk);
  return read_take_event(s, t, e, lk, probe, err, errsz);
}

int read_take_event(struct snapshot *s, struct stab *t, struct change *e, struct key *lk, int probe, char *err,
                    size_t errsz)
{
  if (t->npk && s->pg) { /* PostgreSQL's keys as the events have them */
    key_reset(lk);
    for (uint32_t j = 0; j < t->npk; j++)
      key_set_value(lk, j, &e->after[t->pk[j]], e->arena.p);
  }
  if (probe) {
    change_free(e);
    return 0;
  }
  if (t->collecting && t->npk <= KEY_PARTS_MAX) {
    const struct value *vals[KEY_PARTS_MAX];
    for (uint32_t j = 0; j < t->npk; j++)
      vals[j] = &e->after[t->pk[j]];
    stab_present_add(t, key_image(t, vals, e->arena.p));
  }
  if (emit(s, e, err, errsz)) return -1;
  s->ordinal++;
  t->rows++;
  t->rows_run++;
  s->rows_run++;
  if (s->o.rate > 0 && (s->rows_run & 63) == 0) sleep_until(s, s->t0 + (double)s->rows_run / s->o.rate);
  if (!t->npk && (t->rows_run & 4095) == 0) progress_report(s, 0);
  return 0;
}

/* Reads one chunk of t (all of it without a key) and emits its rows. With
 * probe, emits nothing: *probe gets the key of the chunk's last row when the
 * chunk is full (*nrows 1), NULL otherwise; with limit 0, the key of the
 * table's last row (NULL when no row is left). */
static int read_chunk(struct snapshot *s, struct stab *t, uint64_t limit, struct key **probe, uint64_t *nrows,
                      char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  int rc = READ_FAIL;
  MYSQL_STMT *st = NULL;
  MYSQL_RES *meta = NULL;
  struct key *lk = NULL;
  *nrows = 0;
  if (s->o.conn.postgres) return pg_snap_read_chunk(s, t, limit, probe, nrows, err, errsz);

  chunk_sql(t, limit, probe != NULL, &sql);
  if (probe) *probe = NULL;
  if (!probe && t->collecting && read_last_key(t) && !bands_ahead(s, t, read_last_key(t))) t->collecting = 0;

  st = mysql_stmt_init(s->m);
  if (!st) {
    bh_err(err, errsz, "out of memory for a statement");
    goto out;
  }
  if (mysql_stmt_prepare(st, sql.p, (unsigned long)sql.len) || mysql_stmt_execute(st)) {
    unsigned code = mysql_stmt_errno(st);
    if (code == ER_TABLE_DEF_CHANGED)
      rc = READ_REOPEN;
    else if (code == ER_NO_SUCH_TABLE)
      rc = READ_GONE;
    else {
      bh_err(err, errsz, "cannot read '%s.%s': %s (query: %.300s)", t->schema, t->name, mysql_stmt_error(st),
             sql.p);
      snap_fail(s, server_errc(code));
    }
    goto out;
  }
  meta = mysql_stmt_result_metadata(st);
  if (!meta || mysql_num_fields(meta) != t->ncols) {
    bh_err(err, errsz, "reading '%s.%s' gave %u columns, not %u", t->schema, t->name,
           meta ? mysql_num_fields(meta) : 0, t->ncols);
    goto out;
  }
  const MYSQL_FIELD *fields = mysql_fetch_fields(meta);
  conv_bind(t, fields);
  if (mysql_stmt_bind_result(st, t->binds)) {
    bh_err(err, errsz, "cannot read '%s.%s': %s", t->schema, t->name, mysql_stmt_error(st));
    snap_fail(s, server_errc(mysql_stmt_errno(st)));
    goto out;
  }
  lk = key_new(t->npk);
  for (;;) {
    int f = mysql_stmt_fetch(st);
    if (f == MYSQL_NO_DATA) break;
    if (f == 1) {
      /* an error at the first row (a table changed since the snapshot
       * began) may come with the rows rather than with execute */
      unsigned code = mysql_stmt_errno(st) ? mysql_stmt_errno(st) : mysql_errno(s->m);
      const char *msg = mysql_stmt_errno(st) ? mysql_stmt_error(st) : mysql_error(s->m);
      if (atomic_load(&s->stop))
        bh_err(err, errsz, "stopped");
      else if (code == ER_TABLE_DEF_CHANGED && !*nrows)
        rc = READ_REOPEN;
      else {
        bh_err(err, errsz, "reading '%s.%s' failed: %s (error %u)", t->schema, t->name, msg, code);
        snap_fail(s, server_errc(code));
      }
      goto out;
    }
    if (f == MYSQL_DATA_TRUNCATED && grow_cells(s, st, t, err, errsz)) goto out;
    if (take_row(s, t, fields, lk, probe != NULL, err, errsz)) goto out;
    if (probe) {
      if (t->npk && !*probe) *probe = key_copy(lk);
      *nrows = 1;
      continue;
    }
    (*nrows)++;
  }
  if (t->npk && *nrows && !probe) {
    struct seg *g = read_cur_seg(s, t);
    key_free(g->upto);
    g->upto = key_copy(lk);
  }
  rc = READ_OK;
out:
  key_free(lk);
  if (meta) mysql_free_result(meta);
  if (st) mysql_stmt_close(st);
  buf_free(&sql);
  return rc;
}

/* A new transaction after the old one was broken by DDL: what was read stays
 * in its segments; the rest is read at the new position. */
static int reopen(struct snapshot *s, char *err, size_t errsz)
{
  if (++s->reopens > MAX_REOPENS)
    return bh_err(err, errsz,
                  "the snapshot was broken by table changes (ALTER TABLE) %d times: run it again when "
                  "the schema is quiet",
                  MAX_REOPENS);
  if (snap_exec(s, s->m, "ROLLBACK", err, errsz)) return -1;
  struct position old = s->cur;
  if (open_tx(s, 0, err, errsz)) return -1;
  progress_bar_break();
  log_notice(
      "the snapshot transaction was broken by a table definition change: went on in a new one at %s:%" PRIu64
      " (was %s:%" PRIu64 ")",
      s->cur.file, s->cur.pos, old.file, old.pos);
  return 0;
}

/* Before the rows of t's next chunk go out, its key range and position
 * are made durable in SENT_NAME (with the other chunks sent whose state is
 * not committed yet): after a crash before that commit, the next run knows
 * which rows a receiver may hold as read here (snapshot_begin makes them
 * bands). The range covers ANNOUNCE_CHUNKS chunks, whose last key is asked
 * first in the same transaction, so that one fsync serves them all. */
static int announce(struct snapshot *s, struct stab *t, uint64_t limit, char *err, size_t errsz)
{
  struct key *upto;
  uint64_t n;
  if (t->announced) { /* the next chunk is in the range announced last */
    t->announced--;
    return READ_OK;
  }
  int r = read_chunk(s, t, limit * ANNOUNCE_CHUNKS, &upto, &n, err, errsz);
  if (r != READ_OK) return r;
  t->announced = upto ? ANNOUNCE_CHUNKS - 1 : UINT32_MAX;
  /* the range reaches the end: up to the last key, not beyond, so that a
   * resumed run notes no more keys than this one can send */
  if (!upto && ((r = read_chunk(s, t, 0, &upto, &n, err, errsz)) != READ_OK || !upto)) return r;
  struct band g = {.pos = s->cur, .after = (struct key *)read_last_key(t), .upto = upto};
  /* the marker after the range's last chunk: a range that reaches the
   * table's end holds fewer rows than its chunks too */
  int rc = statefile_announce(s, t, &g, s->seq + ANNOUNCE_CHUNKS, err, errsz);
  key_free(upto);
  return rc ? READ_FAIL : READ_OK;
}

static int read_table(struct snapshot *s, struct stab *t, char *err, size_t errsz)
{
  int l = read_load_table(s, t, err, errsz);
  if (l < 0) return -1;
  t->started = bh_mono();
  t->ended = 0;
  t->rows_run = 0;
  if (l == 1) goto gone;
  if (!t->npk) {
    progress_bar_break();
    log_warn(
        "'%s.%s' has no primary key: it is read in one pass (a crash reads it again from the start), and its "
        "changes carry no key",
        t->schema, t->name);
  } else if (read_last_key(t)) {
    struct buf kb = BUF_INIT;
    key_text(t, read_last_key(t), &kb);
    progress_bar_break();
    log_notice("the snapshot of '%s.%s' resumes after key %s (%" PRIu64 " rows done), at %s:%" PRIu64,
               t->schema, t->name, kb.p, t->rows, s->cur.file, s->cur.pos);
    buf_free(&kb);
  }
  for (;;) {
    uint64_t limit = s->o.chunk_rows, n = 0;
    int r = s->state_dir && t->npk ? announce(s, t, limit, err, errsz) : READ_OK;
    if (r == READ_OK) r = read_chunk(s, t, limit, NULL, &n, err, errsz);
    if (r == READ_REOPEN) {
      t->announced = 0; /* the rest is read at another position: announced again */
      if (reopen(s, err, errsz)) return -1;
      l = read_load_table(s, t, err, errsz);
      if (l < 0) return -1;
      if (l == 1) goto gone;
      continue;
    }
    if (r == READ_GONE) goto gone;
    if (r) return -1;
    int finished = !t->npk || n < limit;
    if (finished) {
      struct seg *g = read_cur_seg(s, t);
      key_free(g->upto);
      g->upto = NULL;
      t->done = 1;
      t->ended = bh_mono();
    }
    if (chunk_end(s, 0, err, errsz)) return -1;
    progress_report(s, finished);
    if (finished) break;
  }
  stab_unload(t);
  return 0;
gone:
  progress_bar_break();
  log_warn("'%s.%s' was dropped while the snapshot ran: its rows are not in it", t->schema, t->name);
  {
    struct seg *g = read_cur_seg(s, t);
    key_free(g->upto);
    g->upto = NULL;
  }
  t->done = 1;
  t->ended = bh_mono();
  stab_unload(t);
  if (chunk_end(s, 0, err, errsz)) return -1;
  progress_report(s, 1);
  return 0;
}

int snapshot_run(struct snapshot *s, char *err, size_t errsz)
{
  s->code = BH_E_NONE;
  if (!s->begun) {
    bh_err(err, errsz, "snapshot_run before snapshot_begin");
    return snap_failed(s);
  }
  s->t0 = bh_mono();
  int rc = 0;
  if (!s->finished) {
    for (s->current = 0; s->current < s->ntabs; s->current++) {
      struct stab *t = &s->tabs[s->current];
      if (t->done) continue;
      if ((rc = read_table(s, t, err, errsz))) break;
    }
    if (!rc) {
      s->finished = 1;
      char e2[256];
      if (s->m) server_exec(s->m, "ROLLBACK", e2, sizeof e2);
      snap_close(s);
      rc = chunk_end(s, 1, err, errsz);
      progress_report(s, 1);
      progress_bar_break();
      log_info("snapshot finished: %" PRIu64 " rows in %.1fs; the stream takes over at %s:%" PRIu64,
               s->rows_run, bh_mono() - s->t0, s->handover.file, s->handover.pos);
    }
  }
  snap_close(s);
  filter_window(s);
  if (rc) return snap_failed(s);
  atomic_store(&s->complete, 1);
  return 0;
}
