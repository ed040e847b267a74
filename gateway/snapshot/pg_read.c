/* pg_read.c - the snapshot of a PostgreSQL source: the transaction open.c
 * opens and the queries read.c runs on MySQL, done the PostgreSQL way; the
 * rest (chunks, markers, the state file, the filter) is the snapshot's own.
 *
 * The consistent view is a logical replication slot's exported snapshot:
 * CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT on a
 * replication connection answers the slot's consistent point P and the
 * name of a snapshot that sees exactly the transactions committed before
 * P; a plain connection takes it (BEGIN ISOLATION LEVEL REPEATABLE READ;
 * SET TRANSACTION SNAPSHOT) and reads every table in it, while the slot
 * streams exactly the transactions committed from P on. The replication
 * connection is closed once the snapshot is taken: the reading transaction
 * holds it from then on.
 *
 * A new snapshot makes the configured slot (anew: a slot left from before
 * is at another position), so the stream starts at its consistent point,
 * the handover. A resumed one reads the rest in the snapshot of a
 * temporary slot of its own, at P2 >= P: the configured slot still stands
 * at P (nothing confirmed past it while the snapshot was unfinished), and
 * snapshot_filter drops the changes between P and P2 to the rows read at
 * P2, as for MySQL. Positions are LSNs: the file "0/16B3748", the pos the
 * same LSN as a number; a snapshot event prints {"lsn": "0/16B3748"}.
 *
 * Values are read as text in the session settings of the stream
 * (pg_source_connect) and turned into values by their type oid
 * (source/pg_types.c), so a row reads the same from the snapshot and from
 * pgoutput. Chunks follow the primary key when its columns are integers
 * (compared here), text (ordered with COLLATE "C", bytes) or uuid; a table
 * keyed otherwise, or without a key, is read in one pass. */
#include "snapshot/snapshot_int.h"
#include "source/decoder.h"
#include "source/pg_decode.h"
#include "source/pg_source.h"
#include "source/pg_types.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libpq's message on one line. */
static const char *one_line(const char *m, char *out, size_t size)
{
  size_t n = 0;
  for (; *m && n + 1 < size; m++)
    if (*m != '\n' || m[1]) out[n++] = *m == '\n' ? ' ' : *m;
  out[n] = 0;
  return out;
}

/* Runs sql on c; the result when its status is want, else NULL with err. */
static PGresult *pg_run(struct snapshot *s, PGconn *c, const char *sql, ExecStatusType want, char *err,
                        size_t errsz)
{
  char msg[1024];
  PGresult *r = PQexec(c, sql);
  if (r && PQresultStatus(r) == want) return r;
  bh_err(err, errsz, "%s", one_line(PQerrorMessage(c), msg, sizeof msg));
  snap_fail(s, PQstatus(c) == CONNECTION_OK ? BH_E_OTHER : BH_E_CONNECT);
  PQclear(r);
  return NULL;
}

/* Appends s quoted as an identifier ("...") or a literal ('...'). */
static void add_quoted(PGconn *c, struct buf *b, const char *s, int ident)
{
  char *q = ident ? PQescapeIdentifier(c, s, strlen(s)) : PQescapeLiteral(c, s, strlen(s));
  buf_adds(b, q ? q : "''");
  PQfreemem(q);
}

int pg_snap_session(struct snapshot *s, char *err, size_t errsz)
{
  enum bh_errc code = BH_E_OTHER;
  PGconn *c = pg_source_connect(&s->o.conn, 0, &code, err, errsz);
  if (!c) return snap_fail(s, code);
  pthread_mutex_lock(&s->lock);
  s->pg = c;
  pthread_mutex_unlock(&s->lock);
  return 0;
}

/* The publication, made FOR ALL TABLES when missing (the slot must come
 * after it to decode the changes of its tables). */
static int ensure_publication(struct snapshot *s, PGconn *c, char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = ");
  add_quoted(c, &sql, s->o.publication, 0);
  PGresult *r = pg_run(s, c, sql.p, PGRES_TUPLES_OK, err, errsz);
  int rc = r ? 0 : -1;
  if (r && !PQntuples(r)) {
    buf_reset(&sql);
    buf_adds(&sql, "CREATE PUBLICATION ");
    add_quoted(c, &sql, s->o.publication, 1);
    buf_adds(&sql, " FOR ALL TABLES");
    PGresult *m = pg_run(s, c, sql.p, PGRES_COMMAND_OK, err, errsz);
    if (m)
      log_notice("made the publication '%s' FOR ALL TABLES", s->o.publication);
    else
      rc = -1;
    PQclear(m);
  }
  PQclear(r);
  buf_free(&sql);
  return rc;
}

/* The configured slot is made anew for a new snapshot: one left from
 * before stands at another position. Refused while a reader uses it. */
static int drop_old_slot(struct snapshot *s, PGconn *c, char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = ");
  add_quoted(c, &sql, s->o.slot, 0);
  PGresult *r = pg_run(s, c, sql.p, PGRES_TUPLES_OK, err, errsz);
  int rc = r ? 0 : -1;
  if (r && PQntuples(r) && !PQgetisnull(r, 0, 0)) {
    rc = bh_err(err, errsz, "the slot '%s' is in use by the process %s: the snapshot makes it anew", s->o.slot,
                PQgetvalue(r, 0, 0));
  } else if (r && PQntuples(r)) {
    buf_reset(&sql);
    buf_adds(&sql, "DROP_REPLICATION_SLOT ");
    add_quoted(c, &sql, s->o.slot, 1);
    PGresult *d = pg_run(s, c, sql.p, PGRES_COMMAND_OK, err, errsz);
    if (d)
      log_notice("dropped the replication slot '%s': a new snapshot makes it again at its position", s->o.slot);
    else
      rc = -1;
    PQclear(d);
  }
  PQclear(r);
  buf_free(&sql);
  return rc;
}

/* The published tables selected, into the snapshot's tables. */
static int list_tables(struct snapshot *s, char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT p.schemaname, p.tablename, GREATEST(c.reltuples, 0)::int8 FROM "
                 "pg_catalog.pg_publication_tables p JOIN pg_catalog.pg_namespace n ON n.nspname = "
                 "p.schemaname JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = "
                 "p.tablename WHERE p.pubname = ");
  add_quoted(s->pg, &sql, s->o.publication, 0);
  buf_adds(&sql, " ORDER BY 1, 2");
  PGresult *r = pg_run(s, s->pg, sql.p, PGRES_TUPLES_OK, err, errsz);
  buf_free(&sql);
  if (!r) return -1;
  for (int i = 0; i < PQntuples(r); i++) {
    const char *schema = PQgetvalue(r, i, 0), *name = PQgetvalue(r, i, 1);
    if (!decoder_table_selected(s->include, s->exclude, schema, name)) continue;
    struct stab *t = stab_find(s, schema, name);
    if (!t) t = stab_add(s, schema, name);
    t->listed = 1;
    t->estimated = strtoull(PQgetvalue(r, i, 2), NULL, 10);
  }
  PQclear(r);
  return 0;
}

int pg_snap_open_tx(struct snapshot *s, int first, char *err, size_t errsz)
{
  enum bh_errc code = BH_E_OTHER;
  char why[1200];
  PGconn *repl = pg_source_connect(&s->o.conn, 1, &code, err, errsz);
  if (!repl) return snap_fail(s, code);
  struct buf sql = BUF_INIT, slot = BUF_INIT;
  PGresult *r = NULL;
  int rc = -1;
  if (ensure_publication(s, repl, err, errsz)) goto out;
  if (first) {
    if (drop_old_slot(s, repl, err, errsz)) goto out;
    buf_adds(&slot, s->o.slot);
  } else {
    buf_printf(&slot, "%s_snapshot_%ld", s->o.slot, (long)getpid());
  }
  buf_adds(&sql, "CREATE_REPLICATION_SLOT ");
  add_quoted(repl, &sql, slot.p, 1);
  buf_adds(&sql, first ? " LOGICAL pgoutput EXPORT_SNAPSHOT" : " TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT");
  r = pg_run(s, repl, sql.p, PGRES_TUPLES_OK, why, sizeof why);
  if (!r || PQnfields(r) < 3 || PQntuples(r) < 1) {
    bh_err(err, errsz,
           "cannot make the replication slot '%s' for the snapshot (%s): the server needs wal_level = "
           "logical and a free slot (max_replication_slots), the user the REPLICATION attribute",
           slot.p, r ? "no snapshot exported" : why);
    goto out;
  }
  uint64_t lsn;
  if (pg_lsn_parse(PQgetvalue(r, 0, 1), &lsn)) {
    bh_err(err, errsz, "the server answered '%s' as the slot's consistent point", PQgetvalue(r, 0, 1));
    goto out;
  }
  char snapname[256];
  snprintf(snapname, sizeof snapname, "%s", PQgetvalue(r, 0, 2));
  if (first) log_notice("made the replication slot '%s' (pgoutput) at %s for the snapshot", slot.p,
                        PQgetvalue(r, 0, 1));
  PGresult *b = pg_run(s, s->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, err, errsz);
  if (!b) goto out;
  PQclear(b);
  buf_reset(&sql);
  buf_adds(&sql, "SET TRANSACTION SNAPSHOT ");
  add_quoted(s->pg, &sql, snapname, 0);
  if (!(b = pg_run(s, s->pg, sql.p, PGRES_COMMAND_OK, err, errsz))) goto out;
  PQclear(b);
  memset(&s->cur, 0, sizeof s->cur);
  pg_lsn_format(lsn, s->cur.file, sizeof s->cur.file);
  s->cur.pos = lsn;
  rc = list_tables(s, err, errsz);
out:
  PQclear(r);
  buf_free(&sql);
  buf_free(&slot);
  PQfinish(repl); /* the reading transaction holds the snapshot now; a temporary slot goes */
  return rc;
}

/* How a key column is compared and bounded: 1 for integers, 2 for text
 * (ordered as bytes), 3 for uuid; 0 for a type chunks cannot follow. */
static int key_family(uint32_t oid)
{
  switch (oid) {
  case PG_INT2:
  case PG_INT4:
  case PG_INT8:
  case PG_OID: return 1;
  case PG_TEXT:
  case 1043: /* varchar */
  case 19:   /* name */
    return 2;
  case 2950: /* uuid */ return 3;
  default: return 0;
  }
}

int pg_snap_load_table(struct snapshot *s, struct stab *t, char *err, size_t errsz)
{
  stab_unload(t);
  struct buf sql = BUF_INIT, rel = BUF_INIT;
  add_quoted(s->pg, &rel, t->schema, 1);
  buf_addc(&rel, '.');
  add_quoted(s->pg, &rel, t->name, 1);
  buf_adds(&sql, "SELECT a.attname, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                 "COALESCE((SELECT k.n FROM pg_catalog.pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n) "
                 "WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.att = a.attnum), 0), t.typtype, t.typelem FROM "
                 "pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid WHERE a.attrelid = "
                 "to_regclass(");
  add_quoted(s->pg, &sql, rel.p, 0);
  buf_adds(&sql, ") AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
  PGresult *r = pg_run(s, s->pg, sql.p, PGRES_TUPLES_OK, err, errsz);
  buf_free(&sql);
  buf_free(&rel);
  if (!r) return -1;
  uint32_t n = (uint32_t)PQntuples(r);
  if (!n) {
    PQclear(r);
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
  tb->pk = xcalloc(n, sizeof *tb->pk);
  t->t = tb;
  t->cols = xcalloc(n, sizeof *t->cols);
  t->ncols = n;
  t->pk = xcalloc(n, sizeof *t->pk);
  int chunkable = 1;
  for (uint32_t i = 0; i < n; i++) {
    struct scol *c = &t->cols[i];
    c->name = xstrdup(PQgetvalue(r, (int)i, 0));
    c->data_type = xstrdup(PQgetvalue(r, (int)i, 2));
    c->pg_oid = (uint32_t)strtoul(PQgetvalue(r, (int)i, 1), NULL, 10);
    c->pg_elem = pg_array_elem(c->pg_oid);
    if (!c->pg_elem && !strcmp(PQgetvalue(r, (int)i, 5), "b")) { /* an array of a user's type: its strings */
      uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, (int)i, 6), NULL, 10);
      if (elem && c->data_type[0] && strstr(c->data_type, "[]")) c->pg_elem = PG_TEXT;
    }
    int fam = key_family(c->pg_oid);
    c->fk = fam == 1 ? FK_INT : FK_STRING;
    tb->cols[i].name = xstrdup(c->name);
    tb->cols[i].type = pg_mysql_type(c->pg_oid, c->pg_elem);
    tb->cols[i].nullable = strcmp(PQgetvalue(r, (int)i, 3), "t") != 0;
    tb->cols[i].is_unsigned = -1;
    int at = atoi(PQgetvalue(r, (int)i, 4));
    if (at > 0 && (uint32_t)at <= n) {
      tb->cols[i].in_pk = 1;
      tb->pk[at - 1] = i;
      tb->npk = tb->npk < (uint32_t)at ? (uint32_t)at : tb->npk;
      if (!fam) chunkable = 0;
    }
  }
  PQclear(r);
  /* chunks follow the key only where it is ordered the same here and there;
   * the events keep their key either way */
  if (chunkable) {
    memcpy(t->pk, tb->pk, tb->npk * sizeof *t->pk);
    t->npk = tb->npk;
  } else if (!t->warned) {
    t->warned = 1;
    log_warn("'%s.%s' is keyed by a type the snapshot does not chunk by: it is read in one pass", t->schema,
             t->name);
  }
  return 0;
}

/* Appends the bound of key part j, as the column compares it. */
static void add_key_literal(struct snapshot *s, const struct scol *c, const struct value *v, const char *arena,
                            struct buf *b)
{
  if (v->kind == VAL_INT) {
    buf_add_i64(b, v->i);
  } else if (v->kind == VAL_UINT) {
    buf_add_u64(b, v->u);
  } else {
    char *text = xstrndup(arena + v->off, v->len);
    add_quoted(s->pg, b, text, 0);
    free(text);
    if (key_family(c->pg_oid) == 2) buf_adds(b, " COLLATE \"C\"");
    else buf_adds(b, "::uuid");
  }
}

static void add_key_column(struct snapshot *s, const struct scol *c, struct buf *b)
{
  add_quoted(s->pg, b, c->name, 1);
  if (key_family(c->pg_oid) == 2) buf_adds(b, " COLLATE \"C\"");
}

/* The SELECT of a chunk, as read.c's chunk_sql: the rows after the last
 * committed key in key order, limit of them; with probe the limit-th only
 * (limit 0: the table's last row). */
static void chunk_sql(struct snapshot *s, const struct stab *t, uint64_t limit, int probe, struct buf *sql)
{
  buf_adds(sql, "SELECT ");
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (i) buf_add(sql, ", ", 2);
    add_quoted(s->pg, sql, t->cols[i].name, 1);
  }
  buf_adds(sql, " FROM ");
  add_quoted(s->pg, sql, t->schema, 1);
  buf_addc(sql, '.');
  add_quoted(s->pg, sql, t->name, 1);
  if (!t->npk) return;
  const struct key *after = read_last_key(t);
  if (after) { /* a row comparison, which the key's index serves */
    buf_adds(sql, " WHERE (");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_add(sql, ", ", 2);
      add_key_column(s, &t->cols[t->pk[j]], sql);
    }
    buf_adds(sql, ") > (");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_add(sql, ", ", 2);
      add_key_literal(s, &t->cols[t->pk[j]], &after->v[j], after->arena.p, sql);
    }
    buf_addc(sql, ')');
  }
  buf_adds(sql, " ORDER BY ");
  for (uint32_t j = 0; j < t->npk; j++) {
    if (j) buf_add(sql, ", ", 2);
    add_key_column(s, &t->cols[t->pk[j]], sql);
    if (probe && !limit) buf_adds(sql, " DESC");
  }
  if (probe && !limit)
    buf_adds(sql, " LIMIT 1");
  else if (probe)
    buf_printf(sql, " LIMIT 1 OFFSET %" PRIu64, limit - 1);
  else
    buf_printf(sql, " LIMIT %" PRIu64, limit);
}

int pg_snap_read_chunk(struct snapshot *s, struct stab *t, uint64_t limit, struct key **probe, uint64_t *nrows,
                       char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  struct key *lk = key_new(t->npk);
  int rc = -1;
  *nrows = 0;
  if (probe) *probe = NULL;
  chunk_sql(s, t, limit, probe != NULL, &sql);
  char why[1024];
  PGresult *r = pg_run(s, s->pg, sql.p, PGRES_TUPLES_OK, why, sizeof why);
  if (!r) {
    if (atomic_load(&s->stop))
      bh_err(err, errsz, "stopped");
    else
      bh_err(err, errsz, "cannot read '%s.%s': %s (query: %.300s)", t->schema, t->name, why, sql.p);
    goto out;
  }
  if ((uint32_t)PQnfields(r) != t->ncols) {
    bh_err(err, errsz, "reading '%s.%s' gave %d columns, not %u", t->schema, t->name, PQnfields(r), t->ncols);
    goto out;
  }
  for (int row = 0; row < PQntuples(r); row++) {
    struct change *e = change_new(EVENT_SNAPSHOT, t->t);
    e->ts = s->ts;
    e->position = s->cur;
    e->pg_lsn = 1; /* printed as {"lsn": the handover's}: no transaction */
    e->tx_pos = 0;
    e->tx_index = (uint32_t)s->ordinal;
    for (uint32_t i = 0; i < t->ncols; i++) {
      if (PQgetisnull(r, row, (int)i)) {
        e->after[i].kind = VAL_NULL;
        continue;
      }
      struct pg_coltype ct = {t->cols[i].pg_oid, t->cols[i].pg_elem};
      char msg[600];
      if (pg_value_from_text(&ct, PQgetvalue(r, row, (int)i), (size_t)PQgetlength(r, row, (int)i), &e->after[i],
                             &e->arena, msg, sizeof msg)) {
        bh_err(err, errsz, "'%s.%s': column '%s': %s", t->schema, t->name, t->cols[i].name, msg);
        change_free(e);
        goto out;
      }
    }
    if (read_take_event(s, t, e, lk, probe != NULL, err, errsz)) goto out;
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
  rc = 0;
out:
  PQclear(r);
  key_free(lk);
  buf_free(&sql);
  return rc;
}
