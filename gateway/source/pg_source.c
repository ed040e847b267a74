/* pg_source.c - see pg_source.h. The replication protocol is PostgreSQL's
 * ("Streaming Replication Protocol" in its manual): after
 * START_REPLICATION the connection is in COPY BOTH mode; the server sends
 * XLogData ('w': the LSN of the data, its WAL end, the send time, one
 * pgoutput message) and keepalives ('k': its WAL end, the send time, whether
 * it wants an answer); binhook sends standby status updates ('r': the LSNs
 * written, flushed and applied, and its clock). */
#include "source/pg_source.h"
#include "source/pg_decode.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define STATUS_EVERY 10.0 /* seconds between status updates, well under wal_sender_timeout */
#define BEAT_EVERY 1.0    /* seconds between heartbeat events of an idle stream */
#define BATCH_EVENTS 1000 /* events handed to the queue at once at most */
#define SLOT_WAIT_TRIES 50 /* tenths of a second a slot held by a reader that ended is waited for */

struct pg_source {
  struct source_opts o; /* conn, include, exclude, slot and publication: copies */
  struct changeq *q;
  struct pg_decoder *dec;
  PGconn *conn;    /* the replication connection; the reader thread's once it runs */
  PGconn *meta;    /* a plain connection for the catalog, opened when first needed */
  int meta_failed; /* it could not be opened: told once */
  pthread_t thread;
  int running;
  atomic_int stop;
  int wake;             /* an eventfd: pg_source_stop wakes the reader's wait */
  pthread_mutex_t lock; /* guards connected and retry_err */
  int connected;
  char retry_err[2048];
  atomic_ullong confirmed; /* pg_source_confirm */
  uint64_t resume;         /* the last boundary pushed: where a new connection asks from */
  uint64_t received;       /* the highest LSN the server sent */
  uint64_t beat_lsn;       /* the LSN of the last heartbeat event */
  double last_status, last_beat;
  struct position started;
  uint32_t started_skip;
  int failed;
  char err[2048];
  enum bh_errc errc;
  struct change *bhead, *btail; /* the batch not yet in the queue */
  size_t bn, bbytes;
};

static int emit_cb(void *ctx, struct change *e, char *err, size_t errsz);
static void table_cb(void *ctx, struct table *t, char identity);

struct pg_source *pg_source_new(const struct source_opts *o)
{
  struct pg_source *s = xcalloc(1, sizeof *s);
  s->o = *o;
  conn_opts_copy(&s->o.conn, &o->conn);
  s->o.more = NULL;
  s->o.nmore = 0;
  s->o.gtid_state = NULL;
  s->o.include = bh_strv_copy(o->include);
  s->o.exclude = bh_strv_copy(o->exclude);
  s->o.slot = xstrdup(o->slot ? o->slot : "binhook");
  s->o.publication = xstrdup(o->publication ? o->publication : "binhook");
  s->q = changeq_new(o->queue_events ? o->queue_events : 10000, o->queue_bytes ? o->queue_bytes : 64u << 20);
  s->dec = pg_decoder_new(emit_cb, table_cb, s, s->o.include, s->o.exclude);
  s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  pthread_mutex_init(&s->lock, NULL);
  atomic_init(&s->stop, 0);
  atomic_init(&s->confirmed, 0);
  return s;
}

/* libpq's message without its line breaks: "FATAL:  password ..." */
static const char *pq_message(const char *m, char *out, size_t size)
{
  size_t n = 0;
  for (; *m && n + 3 < size; m++) {
    if (*m == '\n') {
      if (m[1]) out[n++] = ';', out[n++] = ' ';
      while (m[1] == '\t' || m[1] == ' ') m++; /* libpq indents its hint lines */
    } else {
      out[n++] = *m;
    }
  }
  out[n] = 0;
  return out;
}

static const char *sslmode(enum conn_tls t)
{
  switch (t) {
  case CONN_TLS_DISABLED: return "disable";
  case CONN_TLS_REQUIRED: return "require";
  case CONN_TLS_VERIFY_CA: return "verify-ca";
  case CONN_TLS_VERIFY_IDENTITY: return "verify-full";
  case CONN_TLS_PREFERRED: break;
  }
  return "prefer";
}

/* The session settings the values are read in (source/pg_types.h). */
#define SESSION_OPTIONS                                                                                      \
  "-c datestyle=ISO -c intervalstyle=iso_8601 -c timezone=UTC -c extra_float_digits=1 -c bytea_output=hex"

PGconn *pg_source_connect(const struct conn_opts *c, int replication, enum bh_errc *code, char *err,
                          size_t errsz)
{
  const char *keys[16], *vals[16];
  char port[16], timeout[16], where[300], msg[1024];
  int n = 0;
  snprintf(port, sizeof port, "%u", c->port);
  snprintf(timeout, sizeof timeout, "%u", c->connect_timeout ? c->connect_timeout : 10);
#define KV(k, v) (keys[n] = (k), vals[n] = (v), n++)
  KV("host", c->socket ? c->socket : c->host);
  KV("port", port);
  KV("user", c->user);
  if (c->password) KV("password", c->password);
  KV("dbname", c->database ? c->database : c->user);
  if (replication) KV("replication", "database");
  KV("sslmode", sslmode(c->tls));
  if (c->tls_ca) KV("sslrootcert", c->tls_ca);
  if (c->tls_cert) KV("sslcert", c->tls_cert);
  if (c->tls_key) KV("sslkey", c->tls_key);
  KV("connect_timeout", timeout);
  KV("application_name", "binhook");
  KV("options", SESSION_OPTIONS);
#undef KV
  keys[n] = vals[n] = NULL;
  PGconn *pg = PQconnectdbParams(keys, vals, 0);
  if (pg && PQstatus(pg) == CONNECTION_OK) return pg;
  const char *m = pg ? PQerrorMessage(pg) : "out of memory";
  int denied = strstr(m, "authentication") || strstr(m, "permission denied") || strstr(m, "no pg_hba.conf");
  *code = denied ? BH_E_ACCESS : BH_E_CONNECT;
  bh_err(err, errsz, "cannot connect to '%s' as '%s': %s%s", conn_where(c, where, sizeof where), c->user,
         pq_message(m, msg, sizeof msg),
         denied ? "; check the user, the password (password_env / password_file) and pg_hba.conf (a "
                  "replication connection needs a 'replication' line for a physical one, the database's for "
                  "logical)"
                : strstr(m, "Is the server running") ? "" /* libpq said so */
                                                      : "; is the server running and listening there?");
  PQfinish(pg);
  return NULL;
}

/* Runs one statement; the result when its status is want, else NULL with
 * the server's message in err. */
static PGresult *run(PGconn *c, const char *sql, ExecStatusType want, char *err, size_t errsz)
{
  char msg[1024];
  PGresult *r = PQexec(c, sql);
  if (r && PQresultStatus(r) == want) return r;
  bh_err(err, errsz, "%s", pq_message(PQerrorMessage(c), msg, sizeof msg));
  PQclear(r);
  return NULL;
}

/* s quoted as an SQL literal ('...') or identifier ("..."), into out. */
static void quote(PGconn *c, const char *s, int ident, char *out, size_t size)
{
  char *q = ident ? PQescapeIdentifier(c, s, strlen(s)) : PQescapeLiteral(c, s, strlen(s));
  snprintf(out, size, "%s", q ? q : "''");
  PQfreemem(q);
}

/* The publication, made FOR ALL TABLES when missing; when the user may not
 * make it, err says what a superuser runs. */
static int ensure_publication(struct pg_source *s, char *err, size_t errsz)
{
  char lit[200], ident[200], sql[600], why[1024];
  quote(s->conn, s->o.publication, 0, lit, sizeof lit);
  quote(s->conn, s->o.publication, 1, ident, sizeof ident);
  snprintf(sql, sizeof sql, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s", lit);
  PGresult *r = run(s->conn, sql, PGRES_TUPLES_OK, why, sizeof why);
  if (!r) return bh_err(err, errsz, "cannot look for the publication '%s': %s", s->o.publication, why);
  int have = PQntuples(r) > 0;
  PQclear(r);
  if (have) return 0;
  snprintf(sql, sizeof sql, "CREATE PUBLICATION %s FOR ALL TABLES", ident);
  r = run(s->conn, sql, PGRES_COMMAND_OK, why, sizeof why);
  if (!r)
    return bh_err(err, errsz,
                  "the publication '%s' is missing and '%s' cannot make it (%s): a superuser makes it with "
                  "\"%s;\" (or FOR TABLE with the tables to stream, as their owner)",
                  s->o.publication, s->o.conn.user, why, sql);
  PQclear(r);
  log_notice("made the publication %s FOR ALL TABLES", ident);
  return 0;
}

/* The slot: this stream's temporary one, or the configured one, made when
 * missing. *lsn gets where it stands (its confirmed flush LSN). */
static int ensure_slot(struct pg_source *s, uint64_t *lsn, char *err, size_t errsz)
{
  char lit[200], ident[200], sql[600], why[1024];
  quote(s->conn, s->o.slot, 0, lit, sizeof lit);
  quote(s->conn, s->o.slot, 1, ident, sizeof ident);
  *lsn = 0;
  /* a slot held by the server process of a reader that has just died (a
   * kill, a lost connection) is let go once the server sees the end: wait
   * for that a little before calling it in use */
  for (int tries = 0; !s->o.temp_slot; tries++) {
    snprintf(sql, sizeof sql, "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s AND active",
             lit);
    PGresult *r = run(s->conn, sql, PGRES_TUPLES_OK, why, sizeof why);
    int busy = r && PQntuples(r) > 0;
    PQclear(r);
    if (!busy || tries >= SLOT_WAIT_TRIES) break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (!s->o.temp_slot) {
    snprintf(sql, sizeof sql,
             "SELECT plugin, confirmed_flush_lsn, active_pid FROM pg_catalog.pg_replication_slots "
             "WHERE slot_name = %s",
             lit);
    PGresult *r = run(s->conn, sql, PGRES_TUPLES_OK, why, sizeof why);
    if (!r) return bh_err(err, errsz, "cannot look for the slot '%s': %s", s->o.slot, why);
    int have = PQntuples(r) > 0, rc = 0;
    if (have && strcmp(PQgetvalue(r, 0, 0), "pgoutput"))
      rc = bh_err(err, errsz,
                  "the slot '%s' decodes with '%s', not pgoutput: give binhook a slot of its own "
                  "([source] slot)",
                  s->o.slot, PQgetvalue(r, 0, 0));
    else if (have && !PQgetisnull(r, 0, 2))
      rc = bh_err(err, errsz,
                  "the slot '%s' is in use by the process %s: give each reader a slot of its own "
                  "([source] slot)",
                  s->o.slot, PQgetvalue(r, 0, 2));
    else if (have && !PQgetisnull(r, 0, 1))
      pg_lsn_parse(PQgetvalue(r, 0, 1), lsn);
    PQclear(r);
    if (have || rc) return rc;
  }
  snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s %sLOGICAL pgoutput NOEXPORT_SNAPSHOT", ident,
           s->o.temp_slot ? "TEMPORARY " : "");
  PGresult *r = run(s->conn, sql, PGRES_TUPLES_OK, why, sizeof why);
  if (!r)
    return bh_err(
        err, errsz,
        "cannot make the replication slot '%s' (%s): the server needs wal_level = logical and a free "
        "slot (max_replication_slots), the user the REPLICATION attribute (ALTER ROLE %s "
        "REPLICATION); or a superuser makes the slot: SELECT "
        "pg_create_logical_replication_slot(%s, 'pgoutput');",
        s->o.slot, why, s->o.conn.user, lit);
  if (PQntuples(r) > 0 && PQnfields(r) > 1) pg_lsn_parse(PQgetvalue(r, 0, 1), lsn);
  PQclear(r);
  if (!s->o.temp_slot) log_notice("made the replication slot '%s' (pgoutput)", s->o.slot);
  return 0;
}

/* START_REPLICATION of the slot from lsn (0: where the slot stands). */
static int start_replication(struct pg_source *s, uint64_t lsn, char *err, size_t errsz)
{
  char slot[200], pub[200], names[300], sql[1200], why[1024];
  quote(s->conn, s->o.slot, 1, slot, sizeof slot);
  quote(s->conn, s->o.publication, 1, pub, sizeof pub);
  quote(s->conn, pub, 0, names, sizeof names);
  snprintf(sql, sizeof sql,
           "START_REPLICATION SLOT %s LOGICAL %" PRIX32 "/%" PRIX32
           " (proto_version '1', publication_names %s%s)",
           slot, (uint32_t)(lsn >> 32), (uint32_t)lsn, names,
           PQserverVersion(s->conn) >= 140000 ? ", messages 'true'" : "");
  PGresult *r = run(s->conn, sql, PGRES_COPY_BOTH, why, sizeof why);
  if (!r) return bh_err(err, errsz, "the server refused to stream the slot '%s': %s", s->o.slot, why);
  PQclear(r);
  return 0;
}

static void set_connected(struct pg_source *s, int up)
{
  pthread_mutex_lock(&s->lock);
  s->connected = up;
  if (up) s->retry_err[0] = 0;
  pthread_mutex_unlock(&s->lock);
}

static void close_stream(struct pg_source *s)
{
  set_connected(s, 0);
  if (s->conn) PQfinish(s->conn);
  s->conn = NULL;
}

/* The first request: where from, as the start position says. */
static int first_lsn(struct pg_source *s, uint64_t slot_lsn, uint64_t *lsn, char *err, size_t errsz)
{
  const struct start_pos *sp = &s->o.start;
  *lsn = 0;
  if (sp->kind == START_GTID)
    return bh_err(err, errsz, "a PostgreSQL source has no GTIDs: start at end, start or an LSN position");
  if (sp->kind == START_FILE) {
    /* LSN-TEXT:N, as tail prints where it stopped: N is what is asked for,
     * so an N that is not the text's LSN (an xid copied from an event's
     * position) would start elsewhere: refused */
    uint64_t text_lsn;
    if (sp->file[0] && !pg_lsn_parse(sp->file, &text_lsn) && text_lsn != sp->pos) {
      char want[32];
      pg_lsn_format(text_lsn, want, sizeof want);
      return bh_err(err, errsz,
                    "position '%s:%" PRIu64 "': %" PRIu64 " is not the LSN %s, whose number is %" PRIu64
                    ": start at '%s:%" PRIu64 "' (an event's position.lsn, as a number after the colon)",
                    sp->file, sp->pos, sp->pos, want, text_lsn, want, text_lsn);
    }
    *lsn = sp->pos;
    if (sp->skip) pg_decoder_skip(s->dec, sp->pos, sp->skip);
  }
  /* the server goes on from the slot's position when asked for an earlier one */
  uint64_t from = *lsn > slot_lsn ? *lsn : slot_lsn;
  pg_lsn_format(from, s->started.file, sizeof s->started.file);
  s->started.pos = from;
  s->started_skip = sp->kind == START_FILE && *lsn >= slot_lsn ? sp->skip : 0;
  return 0;
}

/* Connects and requests the stream: at the start (first) making the
 * publication and the slot, after a connection loss from the last boundary
 * (the slot must still be there: a new one would have missed changes). */
static int open_stream(struct pg_source *s, int first, char *err, size_t errsz)
{
  enum bh_errc code = BH_E_OTHER;
  s->conn = pg_source_connect(&s->o.conn, 1, &code, err, errsz);
  if (!s->conn) {
    s->errc = code;
    return -1;
  }
  uint64_t lsn = s->resume;
  s->errc = BH_E_OTHER;
  if (first) {
    uint64_t slot_lsn;
    if (ensure_publication(s, err, errsz) || ensure_slot(s, &slot_lsn, err, errsz) ||
        first_lsn(s, slot_lsn, &lsn, err, errsz))
      goto fail;
  } else if (s->o.temp_slot) {
    bh_err(err, errsz, "the temporary slot '%s' ended with the connection: start again", s->o.slot);
    goto fail;
  }
  if (start_replication(s, lsn, err, errsz)) goto fail;
  s->last_status = bh_mono();
  set_connected(s, 1);
  return 0;
fail:
  close_stream(s);
  return -1;
}

/* The names of the key's columns in the catalog's order: the primary key's
 * (identity d, or f), or the replica identity index's (i). NULL with err
 * when the catalog cannot be asked, *no_conn set when no connection could
 * be opened. */
static PGresult *key_columns(struct pg_source *s, const struct table *t, char identity, int *no_conn,
                             char *err, size_t errsz)
{
  char sql[400];
  *no_conn = 0;
  if (!s->meta) {
    enum bh_errc code;
    s->meta = pg_source_connect(&s->o.conn, 0, &code, err, errsz);
    if (!s->meta) {
      *no_conn = 1;
      return NULL;
    }
  }
  snprintf(sql, sizeof sql,
           "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = "
           "i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = %" PRIu64 " AND i.%s "
           "ORDER BY array_position(i.indkey::int2[], a.attnum)",
           t->id, identity == 'i' ? "indisreplident" : "indisprimary");
  PGresult *r = run(s->meta, sql, PGRES_TUPLES_OK, err, errsz);
  if (!r) { /* a new connection next time */
    PQfinish(s->meta);
    s->meta = NULL;
  }
  return r;
}

/* Makes t's key read as MySQL's: its columns in the primary key's order
 * (pgoutput flags the replica identity's columns, in the table's order),
 * and under REPLICA IDENTITY FULL, whose Relation flags every column, the
 * primary key itself. A key of one column needs no question. The catalog
 * is asked on a plain connection of the reader's own as the Relation
 * message comes, so after an ALTER TABLE it may have moved on: a key whose
 * columns are no longer the Relation's keeps the table's order. */
static void table_cb(void *ctx, struct table *t, char identity)
{
  struct pg_source *s = ctx;
  char err[1024];
  int full = identity == 'f', no_conn;
  if (s->meta_failed || (!full && ((identity != 'd' && identity != 'i') || t->npk < 2))) return;
  PGresult *r = key_columns(s, t, identity, &no_conn, err, sizeof err);
  if (!r) {
    if (no_conn) {
      s->meta_failed = 1;
      log_warn("%s: keys of several columns list them in the table's order, and tables with REPLICA "
               "IDENTITY FULL show their whole row as the key",
               err);
    } else {
      log_warn("cannot read the key of %s.%s: %s", t->schema, t->name, err);
    }
    return;
  }
  uint32_t n = (uint32_t)PQntuples(r), found = 0;
  uint32_t *order = xcalloc(n ? n : 1, sizeof *order);
  for (uint32_t row = 0; row < n; row++)
    for (uint32_t i = 0; i < t->ncols; i++)
      if (!strcmp(t->cols[i].name, PQgetvalue(r, (int)row, 0)) && (full || t->cols[i].in_pk)) {
        order[found++] = i;
        break;
      }
  PQclear(r);
  if (!full) {
    if (found == n && n == t->npk) memcpy(t->pk, order, n * sizeof *order);
  } else if (n && found == n) {
    for (uint32_t i = 0; i < t->ncols; i++)
      t->cols[i].in_pk = 0;
    for (uint32_t k = 0; k < n; k++)
      t->cols[order[k]].in_pk = 1;
    memcpy(t->pk, order, n * sizeof *order);
    t->npk = n;
  } else { /* no primary key: the whole row is the identity, as the Relation said */
    for (uint32_t i = 0; i < t->ncols; i++)
      t->pk[i] = i;
  }
  free(order);
}

/* Hands the batch to the queue; -1 when the queue was closed. */
static int flush_batch(struct pg_source *s)
{
  if (!s->bhead) return 0;
  int rc = changeq_push_list(s->q, s->bhead, s->btail, s->bn, s->bbytes);
  s->bhead = s->btail = NULL;
  s->bn = s->bbytes = 0;
  return rc;
}

static int emit_cb(void *ctx, struct change *e, char *err, size_t errsz)
{
  struct pg_source *s = ctx;
  (void)err, (void)errsz;
  if (e->type == EVENT_COMMIT || e->type == EVENT_HEARTBEAT) s->resume = e->end_pos;
  e->next = NULL;
  if (s->btail)
    s->btail->next = e;
  else
    s->bhead = e;
  s->btail = e;
  s->bn++;
  s->bbytes += change_size(e);
  return 0;
}

static void put64(unsigned char *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* A standby status update: received as written, the confirmed LSN as
 * flushed and applied (0, which the server ignores, until the consumer
 * confirms one). -1 when it cannot be sent. */
static int send_status(struct pg_source *s)
{
  unsigned char m[34];
  uint64_t flushed = atomic_load(&s->confirmed);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = ((int64_t)ts.tv_sec - 946684800) * 1000000 + ts.tv_nsec / 1000;
  m[0] = 'r';
  put64(m + 1, s->received > flushed ? s->received : flushed);
  put64(m + 9, flushed);
  put64(m + 17, flushed);
  put64(m + 25, (uint64_t)now);
  m[33] = 0;
  s->last_status = bh_mono();
  if (PQputCopyData(s->conn, (const char *)m, sizeof m) != 1 || PQflush(s->conn)) return -1;
  return 0;
}

/* A keepalive while no transaction is open: everything before its WAL end
 * was sent, so it is a boundary too (a heartbeat event, at most one a
 * second), which lets the checkpoint, and the slot, move while the tables
 * read see no change. */
static void beat(struct pg_source *s, uint64_t wal_end, int64_t send_time)
{
  uint64_t lsn;
  uint32_t n;
  if (pg_decoder_in_tx(s->dec, &lsn, &n) || wal_end <= s->beat_lsn || wal_end <= s->resume) return;
  if (bh_mono() - s->last_beat < BEAT_EVERY) return;
  struct change *e = change_new(EVENT_HEARTBEAT, NULL);
  pg_lsn_format(wal_end, e->position.file, sizeof e->position.file);
  e->pg_lsn = 1;
  e->end_pos = wal_end;
  e->ts = pg_time_seconds(send_time);
  s->beat_lsn = wal_end;
  s->last_beat = bh_mono();
  char err[8];
  emit_cb(s, e, err, sizeof err);
}

/* One message of the COPY stream. Returns 0, or -1 with err. */
static int on_copy(struct pg_source *s, const unsigned char *p, size_t n, char *err, size_t errsz)
{
  if (n >= 25 && p[0] == 'w') {
    uint64_t start = get64(p + 1);
    if (start > s->received) s->received = start;
    return pg_decoder_feed(s->dec, start, p + 25, n - 25, err, errsz);
  }
  if (n >= 18 && p[0] == 'k') {
    uint64_t wal_end = get64(p + 1);
    beat(s, wal_end, (int64_t)get64(p + 9));
    if (p[17] && send_status(s)) return bh_err(err, errsz, "cannot answer the server's keepalive");
    return 0;
  }
  return bh_err(err, errsz, "an unknown message '%c' in the replication stream", n ? p[0] : '?');
}

/* Waits until the socket is readable, the stop is asked, or a second
 * passed. -1 when the connection failed. */
static int wait_input(struct pg_source *s)
{
  struct pollfd fds[2] = {{PQsocket(s->conn), POLLIN, 0}, {s->wake, POLLIN, 0}};
  int rc = poll(fds, 2, 1000);
  if (rc < 0 && errno != EINTR) return -1;
  return PQconsumeInput(s->conn) ? 0 : -1;
}

/* A server error that another connection may not see: the server going
 * down (class 57, operator intervention), the connection (08), resources
 * (53). Others (a publication missing, a slot dropped) come back every
 * time. */
static int transient(const char *sqlstate)
{
  return !strncmp(sqlstate, "57", 2) || !strncmp(sqlstate, "08", 2) || !strncmp(sqlstate, "53", 2);
}

/* Why the server refused the stream for good, with what to do. */
static void stream_refused(struct pg_source *s, const char *sqlstate, const char *why, char *err,
                           size_t errsz)
{
  if (!strcmp(sqlstate, "42704") && strstr(why, "publication"))
    bh_err(err, errsz,
           "the slot '%s' cannot decode its changes: %s; a publication made after the slot's position is "
           "unknown to the changes before it: drop the slot (SELECT pg_drop_replication_slot('%s');) and "
           "start again, so that binhook makes it after the publication",
           s->o.slot, why, s->o.slot);
  else
    bh_err(err, errsz, "the server ended the stream of the slot '%s': %s", s->o.slot, why);
}

/* Reads what the connection has until it fails or the stop is asked:
 * -1 with err for a failure that ends the stream, 0 for a lost connection
 * (*why), 1 when stopping. */
static int stream(struct pg_source *s, double *backoff, char *why, size_t whysz, char *err, size_t errsz)
{
  char msg[1024];
  while (!atomic_load(&s->stop)) {
    char *buf = NULL;
    int n = PQgetCopyData(s->conn, &buf, 1);
    if (n > 0) {
      *backoff = 0.5; /* the stream works again */
      int bad = on_copy(s, (const unsigned char *)buf, (size_t)n, err, errsz);
      PQfreemem(buf);
      if (bad) return -1;
      if (s->bn >= BATCH_EVENTS && flush_batch(s)) return 1;
      continue;
    }
    if (flush_batch(s)) return 1; /* closed: stopping */
    if (n == 0) {
      uint64_t confirmed = atomic_load(&s->confirmed);
      int due = bh_mono() - s->last_status >= (confirmed ? 1.0 : STATUS_EVERY);
      if (due && send_status(s)) {
        snprintf(why, whysz, "%s", pq_message(PQerrorMessage(s->conn), msg, sizeof msg));
        return 0;
      }
      if (wait_input(s)) {
        snprintf(why, whysz, "%s", pq_message(PQerrorMessage(s->conn), msg, sizeof msg));
        return 0;
      }
      continue;
    }
    if (n == -1) { /* the server ended the COPY: its result says why */
      PGresult *r = PQgetResult(s->conn);
      int failed = r && PQresultStatus(r) == PGRES_FATAL_ERROR;
      snprintf(why, whysz, "%s",
               failed ? pq_message(PQresultErrorMessage(r), msg, sizeof msg) : "the server ended the stream");
      const char *state = failed ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
      int fatal = state && !transient(state);
      if (fatal) stream_refused(s, state, why, err, errsz);
      PQclear(r);
      return fatal ? -1 : 0;
    }
    snprintf(why, whysz, "%s", pq_message(PQerrorMessage(s->conn), msg, sizeof msg));
    return 0;
  }
  return 1;
}

static void sleep_backoff(struct pg_source *s, double secs)
{
  struct pollfd fd = {s->wake, POLLIN, 0};
  if (!atomic_load(&s->stop)) poll(&fd, 1, (int)(secs * 1000));
}

/* After a lost connection: the open transaction's changes pushed already
 * are dropped when it comes again, the relations are sent again. */
static void prepare_resume(struct pg_source *s)
{
  uint64_t lsn;
  uint32_t n;
  int open = pg_decoder_in_tx(s->dec, &lsn, &n);
  pg_decoder_reset(s->dec);
  if (open && n) pg_decoder_skip(s->dec, lsn, n);
  if (!s->resume) s->resume = s->started.pos;
}

static void *reader_main(void *arg)
{
  struct pg_source *s = arg;
  char err[2048], why[1024], where[300];
  double backoff = 0.5;
  int attempts = 0;
  while (!atomic_load(&s->stop)) {
    if (!s->conn) {
      if (open_stream(s, 0, err, sizeof err)) {
        pthread_mutex_lock(&s->lock);
        snprintf(s->retry_err, sizeof s->retry_err, "%s", err);
        pthread_mutex_unlock(&s->lock);
        attempts++;
        if ((s->o.max_retries && attempts >= s->o.max_retries) || s->o.temp_slot) {
          snprintf(s->err, sizeof s->err, "%s", err);
          s->failed = 1;
          break;
        }
        log_warn("%s; retrying in %.1fs", err, backoff);
        sleep_backoff(s, backoff);
        backoff = backoff * 2 > 30 ? 30 : backoff * 2;
        continue;
      }
      log_notice("streaming the slot '%s' of '%s' again", s->o.slot,
                 conn_where(&s->o.conn, where, sizeof where));
      attempts = 0;
    }
    uint64_t received_before = s->received;
    int rc = stream(s, &backoff, why, sizeof why, err, sizeof err);
    if (rc == 1) break;
    if (rc < 0) {
      if (atomic_load(&s->stop)) break;
      snprintf(s->err, sizeof s->err, "%s", err);
      s->errc = BH_E_OTHER;
      s->failed = 1;
      break;
    }
    log_warn("lost the replication connection to '%s': %s; reconnecting",
             conn_where(&s->o.conn, where, sizeof where), why);
    int nothing = s->received == received_before;
    close_stream(s);
    prepare_resume(s);
    if (nothing) { /* failed before any data: do not spin */
      sleep_backoff(s, backoff);
      backoff = backoff * 2 > 30 ? 30 : backoff * 2;
    }
    if (s->o.temp_slot) {
      snprintf(s->err, sizeof s->err,
               "lost the connection to '%s' (%s); its temporary slot '%s' is gone with it", where, why,
               s->o.slot);
      s->failed = 1;
      break;
    }
  }
  flush_batch(s);
  close_stream(s);
  changeq_close(s->q);
  return NULL;
}

int pg_source_start(struct pg_source *s, char *err, size_t errsz)
{
  if (open_stream(s, 1, err, errsz)) return -1;
  if (pthread_create(&s->thread, NULL, reader_main, s)) {
    close_stream(s);
    s->errc = BH_E_OTHER;
    return bh_err(err, errsz, "cannot start the reader thread");
  }
  s->running = 1;
  return 0;
}

const struct position *pg_source_start_position(struct pg_source *s, uint32_t *skip)
{
  if (skip) *skip = s->started_skip;
  return &s->started;
}

struct changeq *pg_source_queue(struct pg_source *s)
{
  return s->q;
}

int pg_source_connected(struct pg_source *s)
{
  pthread_mutex_lock(&s->lock);
  int up = s->connected;
  pthread_mutex_unlock(&s->lock);
  return up;
}

uint32_t pg_source_server(struct pg_source *s, char *where, size_t size)
{
  conn_where(&s->o.conn, where, size);
  return 0;
}

int pg_source_retry_error(struct pg_source *s, char *out, size_t size)
{
  pthread_mutex_lock(&s->lock);
  int have = s->retry_err[0] != 0;
  snprintf(out, size, "%s", s->retry_err);
  pthread_mutex_unlock(&s->lock);
  return have;
}

const char *pg_source_error(struct pg_source *s)
{
  return s->failed ? s->err : NULL;
}

enum bh_errc pg_source_errc(struct pg_source *s)
{
  return s->errc;
}

void pg_source_confirm(struct pg_source *s, uint64_t lsn)
{
  uint64_t cur = atomic_load(&s->confirmed);
  while (lsn > cur && !atomic_compare_exchange_weak(&s->confirmed, &cur, lsn)) {
  }
}

void pg_source_stop(struct pg_source *s)
{
  atomic_store(&s->stop, 1);
  changeq_close(s->q);
  bh_wake(s->wake);
  if (s->running) {
    pthread_join(s->thread, NULL);
    s->running = 0;
  }
}

void pg_source_free(struct pg_source *s)
{
  if (!s) return;
  pg_source_stop(s);
  close_stream(s);
  if (s->meta) PQfinish(s->meta);
  pg_decoder_free(s->dec);
  while (s->bhead) { /* never handed over (a stop) */
    struct change *next = s->bhead->next;
    change_free(s->bhead);
    s->bhead = next;
  }
  changeq_free(s->q);
  bh_strv_free(s->o.include);
  bh_strv_free(s->o.exclude);
  free((char *)s->o.slot);
  free((char *)s->o.publication);
  conn_opts_free(&s->o.conn);
  if (s->wake >= 0) close(s->wake);
  pthread_mutex_destroy(&s->lock);
  free(s);
}
