/* retryq_db.c - the retry queue and the dead letters in a database
 * ([state] store, dbstore.h): a row of binhook_queue a delivery. The items
 * in memory, the tickets and the calls are retryq.c's; what differs is
 * where a change goes. Each call notes its delivery (dbop); the writer
 * thread takes what accumulated and writes, in one fenced transaction, each
 * delivery's state as it is then (INSERT for a new one, UPDATE, DELETE once
 * finished; a delivery added and finished within one batch never reaches
 * the database), the next seq, and the checkpoint asked for before. So a
 * checkpoint is durable with the rows it depends on, in the same commit;
 * once committed it is the saved position (retryq_saved_position). */
#include "source/server.h"
#include "store/dbstore.h"
#include "store/retryq_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void rq_db_op(struct retryq *q, uint64_t seq, unsigned kind)
{
  /* the same delivery again in this batch: one op with both kinds */
  for (size_t i = q->nops; i-- > 0 && i + 16 >= q->nops;)
    if (q->ops[i].seq == seq) {
      q->ops[i].kinds |= kind;
      return;
    }
  if (q->nops == q->opscap) {
    q->opscap = q->opscap ? q->opscap * 2 : 256;
    q->ops = xrealloc(q->ops, q->opscap * sizeof *q->ops);
  }
  q->ops[q->nops++] = (struct dbop){seq, kind};
}

static void add_str(MYSQL *m, struct buf *b, const char *s, size_t n)
{
  if (!s) buf_adds(b, "NULL");
  else dbstore_quote(m, b, s, n);
}

/* The row of it, as the values of an INSERT. */
static void row_values(struct retryq *q, MYSQL *m, struct buf *b, const struct item *it)
{
  const struct retryq_rec *r = &it->r;
  const char *name = dbstore_name(q->db);
  buf_addc(b, '(');
  dbstore_quote(m, b, name, strlen(name));
  buf_printf(b, ",%" PRIu64 ",", r->seq);
  add_str(m, b, r->endpoint, strlen(r->endpoint));
  buf_addc(b, ',');
  add_str(m, b, r->rule, strlen(r->rule));
  buf_addc(b, ',');
  add_str(m, b, r->id, strlen(r->id));
  buf_addc(b, ',');
  add_str(m, b, r->okey, r->okeylen);
  buf_printf(b, ",%" PRId64 ",%" PRIu32 ",%" PRId64 ",%d,%" PRId64 ",", r->created, r->attempts, r->due, r->dead ? 1 : 0,
             r->dead_at);
  add_str(m, b, r->reason, r->reason ? strlen(r->reason) : 0);
  buf_addc(b, ',');
  add_str(m, b, r->binlog, r->binlog ? strlen(r->binlog) : 0);
  buf_printf(b, ",%" PRIu64 ",", r->binlog_pos);
  add_str(m, b, r->gtid, r->gtid ? strlen(r->gtid) : 0);
  buf_addc(b, ',');
  dbstore_quote(m, b, it->mem ? it->mem : "", it->mem ? it->memlen : 0);
  buf_addc(b, ')');
}

/* Ends the INSERT in ins and appends it to out. A row already there takes
 * the new state: a batch is tried again after a commit whose answer was
 * lost (the store's server went away), and it may have committed. */
static void end_insert(const struct buf *ins, struct buf *out)
{
  buf_add(out, ins->p, ins->len);
  buf_adds(out, " ON DUPLICATE KEY UPDATE attempts = VALUES(attempts), due = VALUES(due), dead = VALUES(dead), "
                "dead_at = VALUES(dead_at), reason = VALUES(reason)");
  buf_addc(out, 0);
}

/* The store's max_allowed_packet for the session m (asked once per
 * connection): no statement may be longer. 1 MiB, MySQL's smallest
 * default, when the server does not say. */
static size_t packet_limit(struct retryq *q, MYSQL *m)
{
  if (q->db_packet) return q->db_packet;
  size_t limit = 1u << 20;
  if (!mysql_query(m, "SELECT @@max_allowed_packet")) {
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (row && row[0]) limit = strtoull(row[0], NULL, 10);
    if (res) mysql_free_result(res);
  }
  return q->db_packet = limit;
}

/* One batch as statements, NUL-separated in out (under q->mu): the seqs
 * added go into *added. Rows go many to an INSERT up to a quarter of the
 * store's max_allowed_packet (4 MiB at most). */
static void batch_sql(struct retryq *q, MYSQL *m, const struct dbop *ops, size_t n, struct buf *out,
                      uint64_t **added, size_t *nadded)
{
  size_t per_insert = packet_limit(q, m) / 4;
  if (per_insert > (4u << 20)) per_insert = 4u << 20;
  const char *name = dbstore_name(q->db);
  struct buf ins = BUF_INIT;
  *nadded = 0;
  *added = n ? xmalloc(n * sizeof **added) : NULL;
  for (size_t i = 0; i < n; i++) {
    const struct dbop *op = &ops[i];
    struct item *it = rq_find(q, op->seq);
    if (op->kinds & DBOP_DELETE) {
      if (op->kinds & DBOP_ADD) continue; /* never written */
      buf_adds(out, "DELETE FROM binhook_queue WHERE name = ");
      dbstore_quote(m, out, name, strlen(name));
      buf_printf(out, " AND seq = %" PRIu64, op->seq);
      buf_addc(out, 0);
    } else if (!it) {
      continue;
    } else if (op->kinds & DBOP_ADD) {
      /* many rows in one statement; a big payload gets one of its own */
      if (ins.len && ins.len + it->memlen * 2 + 1024 > per_insert) {
        end_insert(&ins, out);
        buf_reset(&ins);
      }
      buf_adds(&ins, ins.len ? "," : "INSERT INTO binhook_queue (name, seq, endpoint, rule, webhook_id, okey, created, "
                                      "attempts, due, dead, dead_at, reason, binlog, binlog_pos, gtid, payload) VALUES ");
      row_values(q, m, &ins, it);
      (*added)[(*nadded)++] = op->seq;
    } else {
      buf_printf(out, "UPDATE binhook_queue SET attempts = %" PRIu32 ", due = %" PRId64 ", dead = %d, dead_at = %" PRId64
                      ", reason = ",
                 it->r.attempts, it->r.due, it->r.dead ? 1 : 0, it->r.dead_at);
      add_str(m, out, it->r.reason, it->r.reason ? strlen(it->r.reason) : 0);
      buf_adds(out, " WHERE name = ");
      dbstore_quote(m, out, name, strlen(name));
      buf_printf(out, " AND seq = %" PRIu64, op->seq);
      buf_addc(out, 0);
    }
  }
  if (ins.len) end_insert(&ins, out);
  buf_free(&ins);
}

/* Runs the NUL-separated statements of sql, the next seq and the
 * checkpoint (cptext, may be empty) in one fenced transaction. */
static int commit_batch(struct retryq *q, MYSQL *m, const struct buf *sql, uint64_t next_seq, const struct buf *cptext,
                        const struct buf *eptext, enum bh_errc *code, char *err, size_t errsz)
{
  char seqtext[32];
  *code = BH_E_NONE;
  if (dbstore_exec(q->db, m, "BEGIN", 5, err, errsz)) goto fail;
  if (dbstore_fence(q->db, m, code, err, errsz)) goto fail;
  size_t limit = packet_limit(q, m);
  for (size_t at = 0; at < sql->len;) {
    size_t n = strlen(sql->p + at);
    if (n + 64 > limit) { /* the server would drop the connection with ER_NET_PACKET_TOO_LARGE */
      bh_err(err, errsz,
             "a delivery's row (%zu bytes of SQL) does not fit the store's max_allowed_packet (%zu bytes): raise "
             "it on the store's server (SET GLOBAL max_allowed_packet = %zu, and in its my.cnf)",
             n, limit, ((n + 64) / (1u << 20) + 1) * 2 * (1u << 20));
      *code = BH_E_OTHER;
      goto fail;
    }
    if (dbstore_exec(q->db, m, sql->p + at, n, err, errsz)) goto fail;
    at += n + 1;
  }
  int n = snprintf(seqtext, sizeof seqtext, "%" PRIu64, next_seq);
  if (dbstore_put_in(q->db, m, "next_seq", seqtext, (size_t)n, err, errsz)) goto fail;
  if (cptext->len && dbstore_put_in(q->db, m, "checkpoint", cptext->p, cptext->len, err, errsz)) goto fail;
  if (eptext->len && dbstore_put_in(q->db, m, "endpoints", eptext->p, eptext->len, err, errsz)) goto fail;
  if (dbstore_exec(q->db, m, "COMMIT", 6, err, errsz)) goto fail;
  return 0;
fail:
  if (*code == BH_E_NONE) *code = server_errc(mysql_errno(m)) == BH_E_NONE ? BH_E_OTHER : server_errc(mysql_errno(m));
  if (mysql_rollback(m)) {}
  return -1;
}

static void *db_writer(void *arg)
{
  struct retryq *q = arg;
  char err[4400];
  struct dbop *batch = NULL;
  size_t nbatch = 0;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    if (q->fenced) { /* nothing lands any more: wait for the close */
      if (q->stop) break;
      pthread_cond_wait(&q->wake, &q->mu);
      continue;
    }
    if (q->nops) { /* take what was submitted, after what a failed try left */
      batch = xrealloc(batch, (nbatch + q->nops) * sizeof *batch);
      memcpy(batch + nbatch, q->ops, q->nops * sizeof *batch);
      nbatch += q->nops;
      q->nops = 0;
    }
    int cp_due = q->cp_gen > q->cp_saved;
    if (!nbatch && !cp_due && rq_save_endpoints(q)) continue;
    if (!nbatch && !cp_due) {
      if (q->stop) break;
      pthread_cond_wait(&q->wake, &q->mu);
      continue;
    }
    uint64_t ticket = q->submitted, gen = q->cp_gen, next_seq = q->next_seq, epgen = q->ep_gen;
    struct buf cptext = BUF_INIT, sql = BUF_INIT, eptext = BUF_INIT;
    /* the endpoints' state rides along: under steady load no batch is ever the last */
    if (q->ep_gen > q->ep_saved) buf_add(&eptext, q->ep.p, q->ep.len);
    int bad_cp = 0;
    struct position cp_pos = q->cp.pos; /* what the batch commits, whatever q->cp becomes meanwhile */
    if (cp_due && state_checkpoint_text(&q->cp, &cptext, err, sizeof err)) bad_cp = 1;
    MYSQL *m = q->dbw;
    pthread_mutex_unlock(&q->mu);
    if (dbstore_alive(q->db, &m, err, sizeof err)) m = NULL; /* idle sessions are ended by the server */
    pthread_mutex_lock(&q->mu);
    if (m != q->dbw) q->db_packet = 0; /* another session: ask again */
    q->dbw = m;
    if (!m || bad_cp) {
      buf_free(&cptext);
      buf_free(&eptext);
      if (rq_failed(q, err)) break;
      continue;
    }
    uint64_t *added = NULL;
    size_t nadded = 0;
    batch_sql(q, m, batch, nbatch, &sql, &added, &nadded);
    pthread_mutex_unlock(&q->mu);
    enum bh_errc code;
    int rc = commit_batch(q, m, &sql, next_seq, &cptext, &eptext, &code, err, sizeof err);
    buf_free(&sql);
    buf_free(&cptext);
    buf_free(&eptext);
    pthread_mutex_lock(&q->mu);
    if (rc) {
      free(added);
      if (code == BH_E_FENCED) {
        q->fenced = 1;
        snprintf(q->error, sizeof q->error, "%s", err);
        rq_notify(q);
        pthread_cond_broadcast(&q->written);
        continue;
      }
      mysql_close(q->dbw); /* a new connection for the next try */
      q->dbw = NULL;
      q->db_packet = 0; /* asked again: it may have been raised */
      if (rq_failed(q, err)) break;
      continue;
    }
    for (size_t i = 0; i < nadded; i++) {
      struct item *it = rq_find(q, added[i]);
      if (it && it->mem) {
        q->db_pending -= it->memlen;
        q->db_bytes += it->memlen;
        free(it->mem);
        it->mem = NULL;
      }
    }
    free(added);
    nbatch = 0;
    q->durable = ticket;
    if (cp_due) { /* retryq_saved_position: a source may confirm it (a PostgreSQL slot) */
      q->cp_saved = gen;
      q->cp_pos = cp_pos;
      q->has_cp = 1;
    }
    if (epgen > q->ep_saved) q->ep_saved = epgen;
    q->error[0] = 0;
    rq_notify(q);
    pthread_cond_broadcast(&q->written);
  }
  pthread_cond_broadcast(&q->written);
  pthread_mutex_unlock(&q->mu);
  free(batch);
  return NULL;
}

/* The rows of this deployment into items (payloads stay in the table). */
static int load(struct retryq *q, MYSQL *m, char *err, size_t errsz)
{
  const char *name = dbstore_name(q->db);
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT seq, endpoint, rule, webhook_id, okey, created, attempts, due, dead, dead_at, reason, binlog, "
                 "binlog_pos, gtid, LENGTH(payload) FROM binhook_queue WHERE name = ");
  dbstore_quote(m, &sql, name, strlen(name));
  buf_adds(&sql, " ORDER BY seq");
  int bad = mysql_real_query(m, sql.p, (unsigned long)sql.len);
  buf_free(&sql);
  MYSQL_RES *res = bad ? NULL : mysql_use_result(m);
  if (!res)
    return bh_err(err, errsz, "cannot read the queue in the state store '%s': %s", dbstore_where(q->db), mysql_error(m));
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res))) {
    unsigned long *len = mysql_fetch_lengths(res);
    struct item *it = xcalloc(1, sizeof *it);
    struct retryq_rec *r = &it->r;
    r->seq = strtoull(row[0], NULL, 10);
    r->endpoint = xstrdup(row[1]);
    r->rule = xstrdup(row[2]);
    r->id = xstrdup(row[3]);
    if (row[4]) {
      r->okey = xmalloc(len[4] + 1);
      memcpy(r->okey, row[4], len[4]);
      r->okey[len[4]] = 0;
      r->okeylen = len[4];
    }
    r->created = strtoll(row[5], NULL, 10);
    r->attempts = (uint32_t)strtoul(row[6], NULL, 10);
    r->due = strtoll(row[7], NULL, 10);
    r->dead = atoi(row[8]) != 0;
    r->dead_at = strtoll(row[9], NULL, 10);
    r->reason = row[10] ? xstrdup(row[10]) : NULL;
    r->binlog = row[11] ? xstrdup(row[11]) : NULL;
    r->binlog_pos = strtoull(row[12], NULL, 10);
    r->gtid = row[13] ? xstrdup(row[13]) : NULL;
    it->memlen = row[14] ? (size_t)strtoull(row[14], NULL, 10) : 0;
    q->db_bytes += it->memlen;
    rq_item_link(q, it);
    if (r->seq >= q->next_seq) q->next_seq = r->seq + 1;
  }
  int failed = mysql_errno(m) != 0;
  mysql_free_result(res);
  if (failed)
    return bh_err(err, errsz, "cannot read the queue in the state store '%s': %s", dbstore_where(q->db), mysql_error(m));
  struct buf v = BUF_INIT;
  int have = dbstore_get(q->db, m, "next_seq", &v, err, errsz);
  if (have > 0) {
    uint64_t ns = strtoull(v.p, NULL, 10);
    if (ns > q->next_seq) q->next_seq = ns;
  }
  buf_free(&v);
  return have < 0 ? -1 : 0;
}

struct retryq *retryq_open_db(struct dbstore *db, const struct retryq_opts *o, int readonly,
                              struct retryq_report *report, char *err, size_t errsz)
{
  struct retryq *q = rq_alloc(o, readonly);
  q->db = db;
  MYSQL *m = dbstore_connect(db, err, errsz);
  if (!m) goto fail;
  q->dbr = m;
  if (load(q, m, err, errsz)) goto fail;
  if (report) {
    memset(report, 0, sizeof *report);
    report->dead = q->ndead;
    report->live = q->n - q->ndead;
    report->bytes = q->db_bytes;
  }
  if (readonly) return q;
  if (rq_make_notify(q, err, errsz)) goto fail;
  if (pthread_create(&q->writer, NULL, db_writer, q)) {
    bh_err(err, errsz, "cannot start the queue writer thread");
    goto fail;
  }
  q->started = 1;
  return q;
fail:
  retryq_close(q, 0, NULL, 0);
  return NULL;
}

int rq_db_read(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz)
{
  const char *name = dbstore_name(q->db);
  MYSQL *m = q->dbr;
  if (dbstore_alive(q->db, &m, err, errsz)) {
    q->dbr = NULL;
    return -2;
  }
  q->dbr = m;
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT payload FROM binhook_queue WHERE name = ");
  dbstore_quote(m, &sql, name, strlen(name));
  buf_printf(&sql, " AND seq = %" PRIu64, seq);
  int bad = mysql_real_query(m, sql.p, (unsigned long)sql.len);
  buf_free(&sql);
  MYSQL_RES *res = bad ? NULL : mysql_store_result(m);
  if (!res) {
    bh_err(err, errsz, "cannot read delivery %" PRIu64 " from the state store '%s': %s", seq, dbstore_where(q->db),
           mysql_error(m));
    mysql_close(m);
    q->dbr = NULL;
    return -2;
  }
  MYSQL_ROW row = mysql_fetch_row(res);
  if (!row || !row[0]) {
    mysql_free_result(res);
    return bh_err(err, errsz, "no delivery %" PRIu64 " in the queue", seq);
  }
  unsigned long *len = mysql_fetch_lengths(res);
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (!it) {
    pthread_mutex_unlock(&q->mu);
    mysql_free_result(res);
    return bh_err(err, errsz, "no delivery %" PRIu64 " in the queue", seq);
  }
  const struct retryq_rec *r = &it->r;
  out->seq = seq;
  out->endpoint = xstrdup(r->endpoint);
  out->rule = xstrdup(r->rule);
  out->id = xstrdup(r->id);
  if (r->okey) {
    out->okey = xmalloc(r->okeylen + 1);
    memcpy(out->okey, r->okey, r->okeylen + 1);
    out->okeylen = r->okeylen;
  }
  out->created = r->created;
  out->attempts = r->attempts;
  out->due = r->due;
  out->dead = r->dead;
  out->dead_at = r->dead_at;
  out->reason = r->reason ? xstrdup(r->reason) : NULL;
  out->binlog = r->binlog ? xstrdup(r->binlog) : NULL;
  out->binlog_pos = r->binlog_pos;
  out->gtid = r->gtid ? xstrdup(r->gtid) : NULL;
  pthread_mutex_unlock(&q->mu);
  out->payload = xmalloc(len[0] + 1);
  memcpy(out->payload, row[0], len[0]);
  out->payload[len[0]] = 0;
  out->payloadlen = len[0];
  mysql_free_result(res);
  return 0;
}

void rq_db_close(struct retryq *q)
{
  if (q->dbw) mysql_close(q->dbw);
  if (q->dbr) mysql_close(q->dbr);
  q->dbw = q->dbr = NULL;
  free(q->ops);
  q->ops = NULL;
}
