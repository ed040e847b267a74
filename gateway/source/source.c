/* source.c - see source.h. */
#include "source/source.h"
#include "source/decoder.h"
#include "source/gtidpos.h"
#include "source/gtidset.h"
#include "source/pg_source.h"
#include "source/server.h"
#include "source/wire.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <errmsg.h>
#include <inttypes.h>
#include <ma_pvio.h>
#include <mariadb_rpl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define ER_MASTER_FATAL_READING_BINLOG 1236
#define ER_SLAVE_SAME_ID 4052
#define COM_BINLOG_DUMP_GTID 0x1e

struct name_cache_entry {
  char *key; /* schema.table */
  uint32_t ncols, npk;
  char **names;
  uint32_t *pk;
};

/* Who ran recent statements, by thread id (WHO_CACHE entries, reused in
 * turn), and the server the metadata connection talks to. */
#define WHO_CACHE 16
struct who {
  MYSQL *conn;           /* the s->meta the fields below were read on; NULL: none yet */
  unsigned long conn_id; /* its connection id, which changes when it reconnects */
  uint32_t server_id;    /* the server's @@server_id */
  int64_t started;       /* when the server started, seconds since the epoch */
  double retry_at;       /* after a failed connect: no new attempt before then (monotonic) */
  int told_unknown;      /* the notice about unknown users was logged */
  struct {
    uint32_t thread_id;
    char *user;
  } cache[WHO_CACHE];
  unsigned next;
};

struct source {
  struct pg_source *pg; /* a postgresql:// source: everything below is unused */
  struct source_opts o;
  struct conn_opts *srv; /* every server: o.conn, then o.more (borrowed) */
  size_t nsrv, cur;      /* the server tried or streamed from now */
  char (*srv_err)[600];  /* why each server failed last; "" once it streams (conn_lock) */
  uint32_t conn_server_id;  /* the server_id of the current (or last) stream's server; 0: none yet (conn_lock) */
  char conn_uuid[40];       /* its server_uuid (MySQL), "" (conn_lock) */
  char conn_where[300];     /* its host:port (conn_lock) */
  int by_gtid;              /* the current stream was requested by the GTID state */
  int mariadb;              /* the current stream's server is a MariaDB */
  uint32_t resume_server_id; /* whose binlog s->resume names; 0: not known (a checkpoint's) */
  struct changeq *q;
  pthread_t thread;
  int running; /* the reader thread was started */
  atomic_int stop;
  atomic_ullong incidents; /* INCIDENT events of LOST_EVENTS read */
  char retry_err[2048];     /* why the last reconnect failed; "" once streaming (conn_lock) */
  pthread_mutex_t conn_lock; /* guards m for source_stop's shutdown() */
  MYSQL *m;
  MARIADB_RPL *rpl;
  struct wire wire; /* the stream's packets read straight from m's socket (wire.fd >= 0), or by the library */
  MYSQL *meta; /* second connection for information_schema */
  struct decoder *dec;
  int failed;
  char err[2048];
  enum bh_errc errc; /* what kind of failure err is (source_errc) */
  /* Where to resume after a reconnect. */
  struct position resume;
  uint32_t resume_skip;
  int warned_minimal;
  int events_seen; /* events read on the current connection */
  struct position started; /* the first request, resolved */
  char *seed; /* the GTID state at the first request, for the first decoder; NULL: unknown */
  uint32_t started_skip;
  struct name_cache_entry *names;
  size_t nnames;
  struct who who; /* who ran statements: see lookup_user */
  /* the events decoded and not yet queued: whole binlog events, handed to
   * the queue together (flush_batch) */
  struct change *bhead, *btail;
  size_t bn, bbytes;
  size_t batch_max, batch_max_bytes; /* a batch goes out at this size, or when the stream pauses */
  /* events the consumer is done with (changeq_push_list_reclaim), freed one
   * per event emitted: each lands in this thread's cache of events just
   * before the decoder's next change_new takes one, so rows reuse events
   * instead of a free() of thousands at once and a malloc() per row. There
   * are never more than the most events in flight at once (the queue's
   * bound, and the list the consumer holds). */
  struct change *spare;
};

/* The most events, and bytes of them, the reader decodes before it hands
 * them to the queue while the server keeps sending: one lock and at most
 * one wake-up of the consumer per batch rather than per binlog event. */
#define BATCH_MAX 1024
#define BATCH_MAX_BYTES (1u << 20)

int start_pos_parse(const char *s, struct start_pos *out, char *err, size_t errsz)
{
  memset(out, 0, sizeof *out);
  if (!strcmp(s, "end")) {
    out->kind = START_END;
    return 0;
  }
  if (!strcmp(s, "start")) {
    out->kind = START_BEGINNING;
    return 0;
  }
  if (!strncmp(s, "gtid:", 5)) {
    if (!s[5]) return bh_err(err, errsz, "position '%s' names no GTID (gtid:0-1-100)", s);
    out->kind = START_GTID;
    snprintf(out->gtid, sizeof out->gtid, "%s", s + 5);
    if (strchr(out->gtid, ':')) { /* MySQL: uuid:intervals */
      struct gtidset set = {0};
      char gerr[256];
      int rc = gtidset_parse(out->gtid, &set, gerr, sizeof gerr);
      gtidset_free(&set);
      if (rc) return bh_err(err, errsz, "position '%s': %s", s, gerr);
      return 0;
    }
    /* MariaDB: domain-server-sequence, comma-separated */
    const char *p = out->gtid;
    while (*p) {
      unsigned long a, b;
      unsigned long long c;
      int used = 0;
      if (sscanf(p, "%lu-%lu-%llu%n", &a, &b, &c, &used) != 3 || used == 0 || (p[used] && p[used] != ','))
        return bh_err(err, errsz, "position '%s' is not a GTID: MariaDB GTIDs are domain-server-sequence "
                      "(gtid:0-1-100), MySQL ones uuid:N-M", s);
      p += used;
      if (*p == ',') p++;
    }
    return 0;
  }
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s)
    return bh_err(err, errsz, "position '%s' is not one of end, start, FILE:OFFSET or gtid:SET", s);
  if ((size_t)(colon - s) >= sizeof out->file) return bh_err(err, errsz, "file name in '%s' is too long", s);
  char *e;
  errno = 0;
  unsigned long long off = strtoull(colon + 1, &e, 10);
  if (e == colon + 1 || errno || (*e && *e != '+'))
    return bh_err(err, errsz, "position '%s': '%s' is not a byte offset", s, colon + 1);
  if (*e == '+') {
    char *e2;
    unsigned long k = strtoul(e + 1, &e2, 10);
    if (e2 == e + 1 || *e2) return bh_err(err, errsz, "position '%s': '+%s' is not a count of changes", s, e + 1);
    out->skip = (uint32_t)k;
  }
  if (off < 4) off = 4;
  out->kind = START_FILE;
  memcpy(out->file, s, (size_t)(colon - s));
  out->pos = off;
  return 0;
}

void source_opts_free(struct source_opts *o)
{
  conn_opts_free(&o->conn);
  for (size_t i = 0; i < o->nmore; i++) conn_opts_free(&o->more[i]);
  free(o->more);
  o->more = NULL;
  o->nmore = 0;
}

/* The server tried or streamed from now. */
static const struct conn_opts *cur_conn(const struct source *s)
{
  return &s->srv[s->cur];
}

struct source *source_new(const struct source_opts *o)
{
  struct source *s = xcalloc(1, sizeof *s);
  s->wire.fd = -1;
  if (o->conn.postgres) {
    s->pg = pg_source_new(o);
    return s;
  }
  s->o = *o;
  conn_opts_copy(&s->o.conn, &o->conn);
  s->nsrv = 1 + o->nmore;
  s->o.more = o->nmore ? xcalloc(o->nmore, sizeof *s->o.more) : NULL;
  for (size_t i = 0; i < o->nmore; i++) conn_opts_copy(&s->o.more[i], &o->more[i]);
  s->srv = xcalloc(s->nsrv, sizeof *s->srv);
  s->srv[0] = s->o.conn;
  for (size_t i = 0; i < o->nmore; i++) s->srv[i + 1] = s->o.more[i];
  s->srv_err = xcalloc(s->nsrv, sizeof *s->srv_err);
  s->o.include = bh_strv_copy(o->include);
  s->o.exclude = bh_strv_copy(o->exclude);
  s->o.gtid_state = o->gtid_state ? xstrdup(o->gtid_state) : NULL;
  if (!s->o.queue_events) s->o.queue_events = 10000;
  if (!s->o.queue_bytes) s->o.queue_bytes = 64u << 20;
  if (!s->o.server_id) s->o.server_id = 4242;
  /* a quarter of the queue at most, so that a batch waits for room no
   * longer than a quarter of the queue takes to drain */
  s->batch_max = s->o.queue_events / 4 < BATCH_MAX ? s->o.queue_events / 4 : BATCH_MAX;
  s->batch_max_bytes = s->o.queue_bytes / 4 < BATCH_MAX_BYTES ? s->o.queue_bytes / 4 : BATCH_MAX_BYTES;
  s->q = changeq_new(s->o.queue_events, s->o.queue_bytes);
  pthread_mutex_init(&s->conn_lock, NULL);
  atomic_init(&s->stop, 0);
  return s;
}

/* Resolves end/start to a file and offset. */
static int resolve_start(MYSQL *m, struct position *p, enum start_kind kind, char *err, size_t errsz)
{
  static const char none[] = "the server lists no binary log: is log_bin on? ('binhook doctor' checks)";
  if (kind == START_END) {
    int have = server_binlog_position(m, p, err, errsz);
    return have > 0 ? 0 : have < 0 ? -1 : bh_err(err, errsz, "%s", none);
  }
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  if (server_query_row(m, "SHOW BINARY LOGS", &row, &res, err, errsz)) return -1;
  if (!row || !row[0]) {
    mysql_free_result(res);
    return bh_err(err, errsz, "%s", none);
  }
  snprintf(p->file, sizeof p->file, "%s", row[0]);
  p->pos = 4;
  mysql_free_result(res);
  return 0;
}

static int emit_cb(void *ctx, struct change *e, char *err, size_t errsz);
static void names_cb(void *ctx, struct table *t);
static void warn_cb(void *ctx, const char *msg);
static void incident_cb(void *ctx);

/* What the server says of itself before a stream is requested from it. */
struct server_facts {
  int mariadb;
  int gtids;          /* every transaction has a GTID: MariaDB, or MySQL with gtid_mode = ON */
  uint32_t server_id;
  char uuid[40];      /* MySQL's server_uuid; "" on MariaDB, which has none */
};

/* A stream was requested on m: a fresh decoder, and the handles stored where
 * source_stop can reach them. */
static int attach_stream(struct source *s, MYSQL *m, MARIADB_RPL *rpl, const struct server_facts *f,
                         const char *where)
{
  struct decoder_opts dopts = {.include = s->o.include, .exclude = s->o.exclude, .skip_changes = s->resume_skip};
  struct decoder_cb cb = {.ctx = s, .emit = emit_cb, .lookup_names = names_cb, .warn = warn_cb, .incident = incident_cb};
  /* the GTID state goes on from decoder to decoder: a reconnect resumes at
   * the boundary it describes */
  struct rcstr *gs = s->dec ? decoder_gtid_state(s->dec) : NULL;
  const char *seed = s->dec ? (gs ? gs->s : NULL) : s->seed;
  decoder_free(s->dec);
  s->dec = decoder_new(&dopts, &cb);
  if (s->resume.file[0]) decoder_set_start(s->dec, s->resume.file, s->resume.pos);
  char serr[512];
  if (seed && decoder_seed_gtid_state(s->dec, seed, serr, sizeof serr)) warn_cb(s, serr);
  rcstr_unref(gs);
  s->events_seen = 0;
  pthread_mutex_lock(&s->conn_lock);
  s->m = m;
  s->rpl = rpl;
  s->conn_server_id = f->server_id;
  snprintf(s->conn_uuid, sizeof s->conn_uuid, "%s", f->uuid);
  snprintf(s->conn_where, sizeof s->conn_where, "%s", where);
  s->srv_err[s->cur][0] = 0;
  if (wire_attach(&s->wire, m, s->o.heartbeat > 0 ? (unsigned)(s->o.heartbeat * 3 + 5) : 0))
    log_debug("'%s': the stream is read by the client library (TLS or compression)", where);
  /* A stop that came while the connection was being opened found no socket
   * to shut down: the read that follows must not block. */
  if (atomic_load(&s->stop)) {
    int fd = (int)mysql_get_socket(m);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&s->conn_lock);
  return 0;
}

/* What kind of failure a server error on the replication connection is:
 * a 1236 (the server cannot read the binlog asked for) is told apart by
 * whether the binlog is still there (purged_or_other), so it is not here. */
static enum bh_errc failure_code(unsigned code)
{
  return code == ER_SLAVE_SAME_ID ? BH_E_SERVER_ID : server_errc(code);
}

/* The GTID state at the first request: the one given, the start GTIDs
 * (the server sends what they lack), or what the server says for the start
 * position. */
static void seed_state(struct source *s, MYSQL *m, int mariadb, int use_gtid)
{
  free(s->seed);
  s->seed = NULL;
  if (s->o.gtid_state || use_gtid) {
    s->seed = xstrdup(s->o.gtid_state ? s->o.gtid_state : s->o.start.gtid);
    return;
  }
  struct buf b = BUF_INIT;
  char why[512], msg[1200];
  int have = server_gtid_state_at(m, mariadb, s->resume.file, s->resume.pos, &b, why, sizeof why);
  if (have > 0) s->seed = xstrdup(b.p ? b.p : "");
  if (have < 0) { /* the stream still works; its checkpoints only lack the state until the next binlog file */
    snprintf(msg, sizeof msg, "cannot ask the server for the GTID state at %s:%" PRIu64 ": %s", s->resume.file,
             s->resume.pos, why);
    warn_cb(s, msg);
  }
  buf_free(&b);
}

/* Whether the server holds every transaction of expected (a GTID state
 * binhook has read up to: a checkpoint's, or the stream's before a
 * reconnect). BH_E_NONE when it does (or nothing is expected); else
 * BH_E_DIVERGED with err naming what it lacks: a server behind, or one that
 * diverged (a replica promoted before it caught up); binhook must not
 * stream from it, or changes it delivered would be contradicted or made
 * again differently. BH_E_OTHER with err when it cannot tell. */
static enum bh_errc check_holds(struct source *s, MYSQL *m, int mariadb, const char *expected, char *err, size_t errsz)
{
  char where[300], why[300];
  if (!expected || !*expected) return BH_E_NONE;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  if (server_query_row(m, mariadb ? "SELECT @@gtid_binlog_pos" : "SELECT @@gtid_executed", &row, &res, err, errsz))
    return BH_E_OTHER;
  struct buf has = BUF_INIT, lacks = BUF_INIT;
  buf_adds(&has, row && row[0] ? row[0] : "");
  mysql_free_result(res);
  enum bh_errc rc = BH_E_NONE;
  if (mariadb) {
    struct gtidpos srv = {0}, want = {0}, miss = {0};
    if (gtidpos_parse(has.p, &srv, why, sizeof why) || gtidpos_parse(expected, &want, why, sizeof why)) {
      bh_err(err, errsz, "cannot compare the server's GTID position with binhook's: %s", why);
      rc = BH_E_OTHER;
    } else if (!gtidpos_contains(&srv, &want)) {
      gtidpos_missing(&want, &srv, &miss);
      gtidpos_format(&miss, &lacks);
      rc = BH_E_DIVERGED;
    }
    gtidpos_free(&srv);
    gtidpos_free(&want);
    gtidpos_free(&miss);
  } else {
    struct gtidset srv = {0}, want = {0}, miss = {0};
    if (gtidset_parse(has.p, &srv, why, sizeof why) || gtidset_parse(expected, &want, why, sizeof why)) {
      bh_err(err, errsz, "cannot compare the server's executed GTIDs with binhook's: %s", why);
      rc = BH_E_OTHER;
    } else if (!gtidset_contains(&srv, &want)) {
      gtidset_subtract(&want, &srv, &miss);
      gtidset_format(&miss, &lacks);
      rc = BH_E_DIVERGED;
    }
    gtidset_free(&srv);
    gtidset_free(&want);
    gtidset_free(&miss);
  }
  if (rc == BH_E_DIVERGED)
    bh_err(err, errsz,
           "'%s' lacks transactions binhook already read from this topology: %s (it has %s, binhook read up "
           "to %s); the server is behind, or diverged (a replica promoted before it caught up?): binhook does "
           "not stream from it. Point [source] url at a server that has them; if they are lost for good, check "
           "what the receivers hold, then start again with --from gtid:%s",
           conn_where(cur_conn(s), where, sizeof where), lacks.p, has.len ? has.p : "none", expected,
           has.len ? has.p : "...");
  buf_free(&has);
  buf_free(&lacks);
  return rc;
}

/* Asks m for its facts; 0, or -1 with err (binary logging off among them). */
static int server_facts(struct source *s, MYSQL *m, struct server_facts *f, char *err, size_t errsz)
{
  char where[300];
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  memset(f, 0, sizeof *f);
  if (server_query_row(m, "SELECT @@log_bin, @@version, @@server_id", &row, &res, err, errsz)) return -1;
  int log_bin = row && row[0] && atoi(row[0]) == 1;
  f->mariadb = row && row[1] && strstr(row[1], "MariaDB");
  f->server_id = row && row[2] ? (uint32_t)strtoul(row[2], NULL, 10) : 0;
  mysql_free_result(res);
  if (!log_bin)
    return bh_err(err, errsz, "binary logging is off on '%s': set log_bin in the server's my.cnf and restart it "
                  "('binhook doctor' lists every setting binhook needs)", conn_where(cur_conn(s), where, sizeof where));
  f->gtids = f->mariadb;
  if (!f->mariadb) {
    /* gtid_mode is not there before MySQL 5.6: then no GTIDs */
    char why[300];
    if (server_query_row(m, "SELECT @@gtid_mode", &row, &res, why, sizeof why) == 0) {
      f->gtids = row && row[0] && !strcasecmp(row[0], "ON");
      mysql_free_result(res);
    }
    if (server_query_row(m, "SELECT @@server_uuid", &row, &res, why, sizeof why) == 0) {
      if (row && row[0]) snprintf(f->uuid, sizeof f->uuid, "%s", row[0]);
      mysql_free_result(res);
    }
  }
  return 0;
}

/* The GTID state the stream is requested by, or NULL for file:pos: a
 * --from gtid: start until the stream has told a position; else the state
 * binhook has read up to (the checkpoint's at the start, the stream's at a
 * reconnect) wherever the server has GTIDs, unless [source] resume says
 * file. Returns -1 with err when resume = "gtid" and the server has none,
 * or when a file:pos would be asked of a server whose binlog it is not. */
static int request_by(struct source *s, const struct server_facts *f, int gtid_start, const char *state,
                      const char **req, char *err, size_t errsz)
{
  char where[300];
  *req = NULL;
  if (gtid_start) {
    *req = s->o.start.gtid;
    return 0;
  }
  conn_where(cur_conn(s), where, sizeof where);
  if (s->o.resume == SOURCE_RESUME_GTID && !f->gtids)
    return bh_err(err, errsz, "[source] resume = \"gtid\", but '%s' has no GTIDs (MySQL: gtid_mode = OFF): turn "
                  "them on (gtid_mode = ON, enforce_gtid_consistency = ON), or set resume = \"auto\" to resume "
                  "there by file:pos", where);
  if (s->o.resume != SOURCE_RESUME_FILE && f->gtids && state && *state) {
    *req = state;
    return 0;
  }
  /* a checkpoint's file:pos does not say whose binlog it is: only the
   * first server of the list is trusted with it */
  if (!s->resume_server_id && s->cur != 0 && s->resume.file[0])
    return bh_err(err, errsz, "'%s' is not the first server of [source] url, and the position to resume at "
                  "(%s:%" PRIu64 ") is a binlog position of unknown origin (no GTID state): it is asked only of the "
                  "first server. Resuming on another needs GTIDs (MySQL: gtid_mode = ON) and [source] resume = "
                  "\"auto\" or \"gtid\"", where, s->resume.file, s->resume.pos);
  if (s->resume_server_id && f->server_id != s->resume_server_id)
    return bh_err(err, errsz, "'%s' is server_id %u, but the position to resume at (%s:%" PRIu64 ") is in the "
                  "binlog of server_id %u: a binlog position means nothing on another server. Resuming there "
                  "needs GTIDs (MySQL: gtid_mode = ON) and [source] resume = \"auto\" or \"gtid\"; else point "
                  "[source] url at the server that wrote the position",
                  where, f->server_id, s->resume.file, s->resume.pos, s->resume_server_id);
  return 0;
}

/* Opens a connection to the current server and requests the stream at
 * s->resume (or the configured start when first), by GTID where it can. */
static int open_stream(struct source *s, int first, char *err, size_t errsz)
{
  char where[300];
  struct conn_opts co = *cur_conn(s);
  conn_where(&co, where, sizeof where);
  /* A read timeout well above the heartbeat period detects dead connections. */
  co.read_timeout = s->o.heartbeat > 0 ? (unsigned)(s->o.heartbeat * 3 + 5) : 0;
  unsigned num = 0;
  MYSQL *m = conn_open_code(&co, &num, err, errsz);
  if (!m) {
    s->errc = server_errc(num) == BH_E_NONE ? BH_E_OTHER : server_errc(num);
    return -1;
  }
  struct server_facts f;
  char *want = NULL; /* the GTID state the stream is requested by; NULL: file:pos */
  if (server_facts(s, m, &f, err, errsz)) goto fail;

  /* A GTID start stays the request until the stream has told us a file position. */
  int gtid_start = s->o.start.kind == START_GTID && (first || !s->resume.file[0] || s->resume.pos < 4);
  if (first) {
    memset(&s->resume, 0, sizeof s->resume);
    s->resume_skip = 0;
    if (s->o.start.kind == START_FILE) {
      snprintf(s->resume.file, sizeof s->resume.file, "%s", s->o.start.file);
      s->resume.pos = s->o.start.pos;
      s->resume_skip = s->o.start.skip;
    } else if (s->o.start.kind == START_END || s->o.start.kind == START_BEGINNING) {
      if (resolve_start(m, &s->resume, s->o.start.kind, err, errsz)) goto fail;
      s->resume_server_id = f.server_id;
    }
    seed_state(s, m, f.mariadb, gtid_start);
  }
  /* before streaming: the server holds what binhook read already (the
   * checkpoint's state at the start, the stream's at a reconnect) */
  struct rcstr *gs = s->dec ? decoder_gtid_state(s->dec) : NULL;
  const char *state = s->dec ? (gs ? gs->s : NULL) : s->o.gtid_state;
  enum bh_errc holds = check_holds(s, m, f.mariadb, state, err, errsz);
  const char *req = NULL;
  int bad = holds != BH_E_NONE || request_by(s, &f, gtid_start, state, &req, err, errsz);
  /* the request outlives gs: it is sent below */
  if (req) want = xstrdup(req);
  rcstr_unref(gs);
  if (bad) {
    free(want);
    mysql_close(m);
    s->errc = holds != BH_E_NONE ? holds : BH_E_OTHER;
    return -1;
  }

  char sql[1400];
  if (server_exec(m, "SET @master_binlog_checksum = @@global.binlog_checksum, "
              "@source_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4",
           err, errsz))
    goto fail;
  if (s->o.heartbeat > 0) {
    snprintf(sql, sizeof sql, "SET @master_heartbeat_period = %.0f", s->o.heartbeat * 1e9);
    if (server_exec(m, sql, err, errsz)) goto fail;
  }
  s->by_gtid = want != NULL;
  s->mariadb = f.mariadb;
  if (want && !f.mariadb) {
    /* MySQL: COM_BINLOG_DUMP_GTID with the executed set, sent as the
     * client library's own commands are. */
    struct gtidset set = {0};
    if (gtidset_parse(want, &set, err, errsz)) goto fail;
    struct buf cmd = BUF_INIT;
    gtidset_dump_command(&set, s->o.server_id, "", 4, &cmd);
    gtidset_free(&set);
    int sent = m->methods->db_command(m, (enum enum_server_command)COM_BINLOG_DUMP_GTID, cmd.p, cmd.len, 1, NULL);
    buf_free(&cmd);
    if (sent) {
      bh_err(err, errsz, "cannot start the GTID dump on '%s': %s", where, mysql_error(m));
      goto fail;
    }
    free(want);
    return attach_stream(s, m, NULL, &f, where);
  }
  if (want) {
    size_t n = strlen(want);
    char *esc = xmalloc(2 * n + 1);
    mysql_real_escape_string(m, esc, want, (unsigned long)n);
    struct buf q = BUF_INIT;
    buf_printf(&q, "SET @slave_connect_state = '%s', @slave_gtid_strict_mode = 0, "
               "@slave_gtid_ignore_duplicates = 0", esc);
    free(esc);
    int failed = server_exec(m, q.p, err, errsz);
    buf_free(&q);
    if (failed) goto fail;
  }

  MARIADB_RPL *rpl = mariadb_rpl_init(m);
  if (!rpl) {
    bh_err(err, errsz, "cannot start replication on '%s': %s", where, mysql_error(m));
    goto fail;
  }
  const char *file = want ? "" : s->resume.file;
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, file, strlen(file));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)(want ? 4 : s->resume.pos));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, s->o.server_id);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_HOST, "binhook");
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_PORT, 0);
  if (mariadb_rpl_open(rpl)) {
    bh_err(err, errsz, "cannot register as replica %u on '%s': %s (server_id must be unique among the "
           "server's replicas)", s->o.server_id, where,
           mysql_error(m)[0] ? mysql_error(m) : mariadb_rpl_error(rpl));
    mariadb_rpl_close(rpl);
    goto fail;
  }
  if (!want) s->resume_server_id = f.server_id;
  free(want);
  return attach_stream(s, m, rpl, &f, where);

fail:
  free(want);
  s->errc = failure_code(mysql_errno(m));
  mysql_close(m);
  return -1;
}

static void close_stream(struct source *s)
{
  pthread_mutex_lock(&s->conn_lock);
  MYSQL *m = s->m;
  MARIADB_RPL *rpl = s->rpl;
  s->m = NULL;
  s->rpl = NULL;
  pthread_mutex_unlock(&s->conn_lock);
  wire_detach(&s->wire);
  if (rpl) mariadb_rpl_close(rpl);
  if (m) mysql_close(m);
}

/* ---- who ran a statement ---- */

static void who_forget(struct who *w)
{
  for (int i = 0; i < WHO_CACHE; i++) {
    free(w->cache[i].user);
    w->cache[i].user = NULL;
  }
  w->conn = NULL;
}

/* Makes sure s->meta is open and knows which server it talks to (its
 * server_id, and when it started: a thread id from before a restart names
 * another connection now). Returns 0; -1 with err; -2 while a failed
 * attempt is still recent (err was given then: no new message). */
static int who_connect(struct source *s, char *err, size_t errsz)
{
  struct who *w = &s->who;
  if (s->meta && w->conn == s->meta && mysql_thread_id(s->meta) == w->conn_id) return 0;
  who_forget(w);
  if (!s->meta) {
    if (bh_mono() < w->retry_at) return -2;
    struct conn_opts co = *cur_conn(s);
    if (!co.read_timeout) co.read_timeout = 10; /* a lookup must not hold the stream for long */
    if (!(s->meta = conn_open(&co, err, errsz))) {
      w->retry_at = bh_mono() + 30;
      return -1;
    }
  }
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  int64_t now = 0, uptime = 0;
  uint32_t server_id = 0;
  int told = 0;
  if (server_query_row(s->meta, "SELECT @@server_id, UNIX_TIMESTAMP()", &row, &res, err, errsz)) goto fail;
  if (row && row[0] && row[1]) {
    server_id = (uint32_t)strtoul(row[0], NULL, 10);
    now = strtoll(row[1], NULL, 10);
    told++;
  }
  mysql_free_result(res);
  if (server_query_row(s->meta, "SHOW GLOBAL STATUS LIKE 'Uptime'", &row, &res, err, errsz)) goto fail;
  if (row && row[1]) {
    uptime = strtoll(row[1], NULL, 10);
    told++;
  }
  mysql_free_result(res);
  if (told != 2) {
    bh_err(err, errsz, "the server did not tell its server_id and uptime");
    goto fail;
  }
  w->conn = s->meta;
  w->conn_id = mysql_thread_id(s->meta);
  w->server_id = server_id;
  w->started = now - uptime;
  return 0;
fail:
  /* a new connection next time (the statements of a broken one all fail) */
  mysql_close(s->meta);
  s->meta = NULL;
  return -1;
}

/* The user of thread e->thread_id in information_schema.PROCESSLIST, as
 * "user@host" (the host without the client's port) in out; "" when the
 * server no longer has that connection. Returns 0, or -1 with err. */
static int who_query(struct source *s, const struct change *e, char *out, size_t outsz, char *err,
                     size_t errsz)
{
  char sql[128];
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  snprintf(sql, sizeof sql, "SELECT USER, HOST FROM information_schema.PROCESSLIST WHERE ID = %" PRIu32,
           e->thread_id);
  if (server_query_row(s->meta, sql, &row, &res, err, errsz)) return -1;
  out[0] = 0;
  if (row && row[0] && row[0][0]) {
    const char *host = row[1] ? row[1] : "";
    size_t hl = strlen(host);
    const char *colon = strrchr(host, ':');
    /* TCP clients show as host:port (IPv6 too, without brackets) */
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
      hl = (size_t)(colon - host);
    snprintf(out, outsz, "%s%s%.*s", row[0], hl ? "@" : "", (int)hl, host);
  }
  mysql_free_result(res);
  return 0;
}

/* Sets e's "user": who ran the statement, looked up by its thread id while
 * the server still has that connection, else "unknown". Only statements:
 * a lookup costs a round trip, rows come by the thousand. A failed lookup
 * makes "unknown" and a warning, never a stop. */
static void lookup_user(struct source *s, struct change *e)
{
  struct who *w = &s->who;
  char user[600] = "", err[600];
  int gone = 0;
  for (int attempt = 0; attempt < 2 && !atomic_load(&s->stop); attempt++) {
    int rc = who_connect(s, err, sizeof err);
    if (rc == -1)
      log_warn("cannot tell who ran the statement of thread %" PRIu32 ": %s; it shows as run by \"unknown\"",
               e->thread_id, err);
    if (rc) break;
    /* another server's thread (read through a replica), or one from before a restart */
    if (e->server_id != w->server_id || (int64_t)e->ts + 1 < w->started) break;
    for (int i = 0; i < WHO_CACHE && !user[0]; i++)
      if (w->cache[i].user && w->cache[i].thread_id == e->thread_id)
        snprintf(user, sizeof user, "%s", w->cache[i].user);
    if (user[0]) break;
    if (!who_query(s, e, user, sizeof user, err, sizeof err)) {
      gone = !user[0];
      if (user[0]) {
        free(w->cache[w->next].user);
        w->cache[w->next].thread_id = e->thread_id;
        w->cache[w->next].user = xstrdup(user);
        w->next = (w->next + 1) % WHO_CACHE;
      }
      break;
    }
    unsigned code = mysql_errno(s->meta);
    if (attempt || (code != CR_SERVER_LOST && code != CR_SERVER_GONE_ERROR)) {
      log_warn("cannot tell who ran the statement of thread %" PRIu32 ": %s", e->thread_id, err);
      break;
    }
    /* the connection went away (a server restart?): once more on a new one */
    mysql_close(s->meta);
    s->meta = NULL;
    who_forget(w);
  }
  if (gone && !w->told_unknown) {
    w->told_unknown = 1;
    log_notice("the connection that ran a statement (thread %" PRIu32 ") is gone: the statement shows as run "
               "by \"unknown\"; binhook sees other users' connections only with the PROCESS privilege "
               "(GRANT PROCESS ON *.* TO the binhook user)",
               e->thread_id);
  }
  if (user[0]) change_set_user(e, user, strlen(user)); /* else "unknown" */
}

static int emit_cb(void *ctx, struct change *e, char *err, size_t errsz)
{
  struct source *s = ctx;
  if (e->type == EVENT_STATEMENT) lookup_user(s, e);
  if (e->type == EVENT_STATEMENT && e->kind == STMT_DDL && s->nnames) {
    /* Column names from information_schema may have changed. */
    for (size_t i = 0; i < s->nnames; i++) {
      free(s->names[i].key);
      for (uint32_t k = 0; k < s->names[i].ncols; k++) free(s->names[i].names[k]);
      free(s->names[i].names);
      free(s->names[i].pk);
    }
    s->nnames = 0;
  }
  (void)err, (void)errsz;
  e->next = NULL;
  if (s->btail) s->btail->next = e;
  else s->bhead = e;
  s->btail = e;
  s->bn++;
  s->bbytes += change_size(e);
  if (s->spare) { /* one for the decoder's next change_new */
    struct change *r = s->spare;
    s->spare = r->next;
    change_free(r);
  }
  return 0;
}

/* Keeps the events the consumer handed back (linked by next, the last
 * of them last) as spares. */
static void keep_spares(struct source *s, struct change *r, struct change *last)
{
  if (!r) return;
  last->next = s->spare;
  s->spare = r;
}

/* Hands the events decoded to the queue: one lock and one wake-up for all
 * of them. -1 when the queue was closed. */
static int flush_batch(struct source *s)
{
  if (!s->bhead) return 0;
  struct change *recycled, *recycled_tail;
  int rc = changeq_push_list_reclaim(s->q, s->bhead, s->btail, s->bn, s->bbytes, &recycled, &recycled_tail);
  s->bhead = s->btail = NULL;
  s->bn = s->bbytes = 0;
  keep_spares(s, recycled, recycled_tail);
  return rc;
}

static void warn_cb(void *ctx, const char *msg)
{
  (void)ctx;
  log_warn("%s", msg);
}

static void incident_cb(void *ctx)
{
  struct source *s = ctx;
  atomic_fetch_add(&s->incidents, 1);
}

unsigned long long source_incidents(struct source *s) { return s ? atomic_load(&s->incidents) : 0; }

/* MINIMAL metadata: names and the primary key from information_schema,
 * cached until the next DDL statement. */
static void names_cb(void *ctx, struct table *t)
{
  struct source *s = ctx;
  char key[600];
  snprintf(key, sizeof key, "%s.%s", t->schema, t->name);
  if (!s->warned_minimal) {
    s->warned_minimal = 1;
    log_warn("the server logs binlog_row_metadata=MINIMAL: column names come from information_schema, "
             "which is wrong for rows written before a later ALTER TABLE; set binlog_row_metadata=FULL");
  }
  for (size_t i = 0; i < s->nnames; i++) {
    struct name_cache_entry *c = &s->names[i];
    if (!strcmp(c->key, key)) {
      if (c->ncols == t->ncols) table_set_names(t, c->names, c->pk, c->npk);
      return;
    }
  }
  char err[512];
  if (!s->meta && !(s->meta = conn_open(cur_conn(s), err, sizeof err))) {
    log_warn("cannot look up column names of '%s': %s", key, err);
    return;
  }
  char sch[260], tab[260], sql[1200];
  mysql_real_escape_string(s->meta, sch, t->schema, (unsigned long)strlen(t->schema));
  mysql_real_escape_string(s->meta, tab, t->name, (unsigned long)strlen(t->name));
  snprintf(sql, sizeof sql,
           "SELECT c.COLUMN_NAME, k.ORDINAL_POSITION FROM information_schema.COLUMNS c "
           "LEFT JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND "
           "k.TABLE_NAME = c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY' "
           "WHERE c.TABLE_SCHEMA = '%s' AND c.TABLE_NAME = '%s' ORDER BY c.ORDINAL_POSITION",
           sch, tab);
  if (mysql_query(s->meta, sql)) {
    log_warn("cannot look up column names of '%s': %s", key, mysql_error(s->meta));
    mysql_close(s->meta);
    s->meta = NULL;
    return;
  }
  MYSQL_RES *res = mysql_store_result(s->meta);
  if (!res) return;
  struct name_cache_entry c = {.key = xstrdup(key)};
  uint32_t nrows = (uint32_t)mysql_num_rows(res);
  c.names = xcalloc(nrows + 1, sizeof *c.names);
  c.pk = xcalloc(nrows + 1, sizeof *c.pk);
  uint32_t *pkpos = xcalloc(nrows + 1, sizeof *pkpos);
  MYSQL_ROW row = NULL;
  while ((row = mysql_fetch_row(res))) {
    if (row[1]) {
      pkpos[c.npk] = (uint32_t)atoi(row[1]);
      c.pk[c.npk++] = c.ncols;
    }
    c.names[c.ncols++] = xstrdup(row[0] ? row[0] : "");
  }
  mysql_free_result(res);
  /* Order the key columns by their position in the key. */
  for (uint32_t i = 1; i < c.npk; i++)
    for (uint32_t j = i; j > 0 && pkpos[j - 1] > pkpos[j]; j--) {
      uint32_t tp = pkpos[j], tc = c.pk[j];
      pkpos[j] = pkpos[j - 1], c.pk[j] = c.pk[j - 1];
      pkpos[j - 1] = tp, c.pk[j - 1] = tc;
    }
  free(pkpos);
  s->names = xrealloc(s->names, (s->nnames + 1) * sizeof *s->names);
  s->names[s->nnames++] = c;
  if (c.ncols == t->ncols) table_set_names(t, c.names, c.pk, c.npk);
  else
    log_warn("'%s' has %u columns now but %u in the binlog (altered since?): columns are named @1, @2, ...", key,
             c.ncols, t->ncols);
}

static int transient(unsigned code)
{
  return code == CR_SERVER_LOST || code == CR_SERVER_GONE_ERROR || code == CR_CONNECTION_ERROR ||
         code == CR_CONN_HOST_ERROR || code == 0 || code == 1053 /* server shutdown */ ||
         code == 1927 /* connection killed */ || code == 1317 || code == 2026 || code == 1040 /* too many connections */ ||
         code == 1203;
}

static void sleep_backoff(struct source *s, double secs)
{
  struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
  for (double slept = 0; slept < secs && !atomic_load(&s->stop); slept += 0.1) nanosleep(&ts, NULL);
}

/* Remembers where to resume: the last transaction boundary, plus how many
 * changes of the open transaction were already handed out. */
static void note_resume(struct source *s)
{
  /* Nothing read on this connection: the same request again. */
  if (!s->dec || !s->events_seen || !decoder_position(s->dec)->file[0]) return;
  uint64_t txpos;
  uint32_t emitted;
  const struct position *b = decoder_boundary(s->dec);
  int in_tx = decoder_in_tx(s->dec, &txpos, &emitted);
  /* A stream requested by GTID before its first transaction: the boundary
   * is where the server began looking for the GTID (the start of a binlog),
   * not where it is; the GTID asks again for the right place. */
  if (!in_tx && !b->gtid[0] && s->by_gtid) return;
  if (in_tx) {
    snprintf(s->resume.file, sizeof s->resume.file, "%s", decoder_position(s->dec)->file);
    s->resume.pos = txpos;
    s->resume_skip = emitted;
  } else {
    s->resume = *b;
    s->resume_skip = 0;
  }
  s->resume_server_id = s->conn_server_id; /* the position is in its binlog now */
}

/* The server refused to send the binlog from where it was asked (error
 * 1236): BH_E_PURGED when that binlog is gone (the server no longer lists
 * the file, or the request was by GTID and no binlog holds it),
 * BH_E_REJECTED when the server still lists the file (the offset is not on
 * an event boundary, the binlog is damaged), BH_E_DIVERGED when a GTID
 * state binhook read is refused by a server whose binlogs reach back to
 * it, BH_E_OTHER when the server cannot be asked: the words of the
 * server's message decide nothing. */
static enum bh_errc purged_or_other(struct source *s, int by_gtid, const char *read)
{
  /* MariaDB compares GTIDs of a domain by sequence number alone: a server
   * that diverged and went on past the state binhook read (read: not a
   * start given by --from gtid:) passes check_holds, and refuses the state
   * here. Its binlogs still reaching back to before the state tell that
   * from a purge. (MySQL's sets are compared exactly before the request.) */
  if (by_gtid && s->mariadb && read && server_binlogs_reach(cur_conn(s), read) == 1) return BH_E_DIVERGED;
  if (by_gtid) return BH_E_PURGED;
  int has = server_has_binlog(cur_conn(s), s->resume.file);
  return has == 0 ? BH_E_PURGED : has > 0 ? BH_E_REJECTED : BH_E_OTHER;
}

/* s->err for a request the server refused (code 1236 and those that come
 * before any event): what was asked, the server's words, and what to do. */
static void refused(struct source *s, unsigned code, const char *msg)
{
  char from[1100];
  int by_gtid = s->by_gtid;
  struct rcstr *gs = s->dec ? decoder_gtid_state(s->dec) : NULL;
  int given = s->o.start.kind == START_GTID && (!s->resume.file[0] || s->resume.pos < 4); /* --from gtid: */
  const char *state = given ? s->o.start.gtid : gs ? gs->s : "";
  if (by_gtid)
    snprintf(from, sizeof from, "gtid:%.1000s", state);
  else
    snprintf(from, sizeof from, "%s:%" PRIu64, s->resume.file, s->resume.pos);
  s->errc = code == ER_MASTER_FATAL_READING_BINLOG ? purged_or_other(s, by_gtid, given ? NULL : state) : failure_code(code);
  const char *what;
  switch (s->errc) {
  case BH_E_PURGED:
    what = by_gtid ? "no binlog the server has holds that GTID (purged?): start from a position the server "
                     "still has (--from start)"
                   : "the server no longer has that binlog (purged): start from a position it still has "
                     "(--from start)";
    break;
  case BH_E_DIVERGED:
    what = "its binlogs reach back to before that state, but it does not hold binhook's last transactions there: "
           "it diverged from what binhook read (a replica promoted before it caught up, then written to?): "
           "binhook does not stream from it. Point [source] url at a server that has them; if they are lost "
           "for good, check what the receivers hold, then start again with --from gtid:...";
    break;
  case BH_E_REJECTED:
    what = "the server still has that binlog, so it was not purged: it refused the position itself (an offset "
           "that is not the start of an event, or a damaged binlog): start at an event boundary (SHOW BINLOG "
           "EVENTS lists them) or at a GTID (--from gtid:...)";
    break;
  default:
    what = "if the binlog was purged, start from a position the server still has (--from start)";
  }
  char where[300];
  snprintf(s->err, sizeof s->err, "'%s' cannot send the binlog from '%.600s': %.400s (error %u); %s",
           conn_where(cur_conn(s), where, sizeof where), from, msg, code, what);
  rcstr_unref(gs);
}

/* Why the server failed (err) is kept for it, and retry_err (what /healthz
 * and /status show) says it of every server that failed since the stream
 * was lost. */
static void note_failure(struct source *s, const char *err)
{
  pthread_mutex_lock(&s->conn_lock);
  snprintf(s->srv_err[s->cur], sizeof s->srv_err[s->cur], "%s", err);
  if (s->nsrv == 1) {
    snprintf(s->retry_err, sizeof s->retry_err, "%s", err);
  } else {
    size_t o = 0;
    s->retry_err[0] = 0;
    for (size_t i = 0; i < s->nsrv && o + 1 < sizeof s->retry_err; i++) {
      if (!s->srv_err[i][0]) continue;
      int n = snprintf(s->retry_err + o, sizeof s->retry_err - o, "%s%s", o ? " | " : "", s->srv_err[i]);
      if (n < 0) break;
      o += (size_t)n;
    }
  }
  pthread_mutex_unlock(&s->conn_lock);
}

static void forget_failures(struct source *s)
{
  pthread_mutex_lock(&s->conn_lock);
  s->retry_err[0] = 0;
  for (size_t i = 0; i < s->nsrv; i++) s->srv_err[i][0] = 0;
  pthread_mutex_unlock(&s->conn_lock);
}

/* Says where a new stream goes on: the same server again, or another one
 * (a failover: prev_id and prev_where are the server streamed from before). */
static void tell_stream(struct source *s, uint32_t prev_id, const char *prev_where, const char *prev_uuid)
{
  char at[1200];
  struct rcstr *gs = s->by_gtid && s->dec ? decoder_gtid_state(s->dec) : NULL;
  const char *mid = s->resume_skip ? " (mid-transaction)" : "";
  if (s->by_gtid)
    snprintf(at, sizeof at, "by the GTID state %.1000s%s", gs ? gs->s : s->o.start.gtid, mid);
  else
    snprintf(at, sizeof at, "at %s:%" PRIu64 "%s", s->resume.file, s->resume.pos, mid);
  rcstr_unref(gs);
  char uuid[64] = "", puuid[64] = "";
  if (s->conn_uuid[0]) snprintf(uuid, sizeof uuid, ", server_uuid %s", s->conn_uuid);
  if (prev_uuid[0]) snprintf(puuid, sizeof puuid, ", server_uuid %s", prev_uuid);
  if (prev_id && (prev_id != s->conn_server_id || strcmp(prev_where, s->conn_where) || strcmp(prev_uuid, s->conn_uuid)))
    log_notice("now streaming from '%s', server_id %u%s, after a failover from '%s' (server_id %u%s); resuming %s",
               s->conn_where, s->conn_server_id, uuid, prev_where, prev_id, puuid, at);
  else
    log_notice("reconnected to '%s', resuming %s", s->conn_where, at);
}

/* The current server did not serve the stream (why in s->err, its kind in
 * s->errc): the next attempt goes to the same server once more (a restart
 * is quick), then to the others in turn, at once for one that refused
 * (diverged, binlog off, a file:pos of another server's); the pause comes
 * after a round over every server. Returns 1 when it gives up
 * ([source] max retries): s->failed set. */
static int stream_refused(struct source *s, int *attempts, int *here, double *backoff, size_t round)
{
  char where[300], why[2048];
  snprintf(why, sizeof why, "%s", s->err);
  note_failure(s, why);
  ++*attempts;
  ++*here;
  if (s->o.max_retries && *attempts >= s->o.max_retries) {
    snprintf(s->err, sizeof s->err, "%.1900s (gave up after %d attempts)", why, *attempts);
    s->failed = 1; /* s->errc: the attempt's */
    return 1;
  }
  int next = s->nsrv > 1 && (*here >= 2 || s->errc == BH_E_DIVERGED || s->errc == BH_E_OTHER);
  if (next) {
    s->cur = (s->cur + 1) % s->nsrv;
    *here = 0;
    if (s->cur != round) {
      log_warn("%s; trying '%s' next", why, conn_where(cur_conn(s), where, sizeof where));
      return 0;
    }
  }
  log_warn("%s; retrying in %.1fs", why, *backoff);
  sleep_backoff(s, *backoff);
  *backoff = *backoff * 2 > 30 ? 30 : *backoff * 2;
  return 0;
}

/* Whether the next read finds data without waiting for the server: bytes
 * in the client library's read-ahead, or in the socket. (Its other buffers
 * are only ever early: TLS holds records it decrypted, which makes this say
 * no, and the batch goes out sooner than it had to.) */
static int stream_buffered(struct source *s)
{
  if (s->wire.fd >= 0) return wire_ready(&s->wire);
  MARIADB_PVIO *pvio = s->m->net.pvio;
  if (pvio && pvio->cache && pvio->cache_pos < pvio->cache + pvio->cache_size) return 1;
  struct pollfd pfd = {.fd = (int)mysql_get_socket(s->m), .events = POLLIN};
  return pfd.fd >= 0 && poll(&pfd, 1, 0) > 0;
}

/* The stream's next packet (*p at it): its length; or packet_error (or
 * 0) with the failure's code and message in *code and *msg. */
static unsigned long next_packet(struct source *s, const unsigned char **p, unsigned *code, const char **msg)
{
  if (s->wire.fd >= 0) {
    long n = wire_next(&s->wire, p);
    *code = s->wire.err_code;
    *msg = s->wire.err_msg;
    return n < 0 ? packet_error : (unsigned long)n;
  }
  unsigned long len = mysql_net_read_packet(s->m);
  *p = s->m->net.read_pos;
  *code = mysql_errno(s->m);
  *msg = mysql_error(s->m);
  return len;
}

static void *reader_main(void *arg)
{
  struct source *s = arg;
  char err[1024], where[300], prev_where[300] = "";
  double backoff = 0.5;
  int attempts = 0, here = 0; /* attempts in a row; those on the current server */
  size_t round = s->cur;      /* the server this round of attempts began with */
  while (!atomic_load(&s->stop)) {
    if (!s->m) {
      uint32_t prev_id = s->conn_server_id;
      char prev_uuid[40];
      snprintf(prev_uuid, sizeof prev_uuid, "%s", s->conn_uuid);
      snprintf(prev_where, sizeof prev_where, "%s", s->conn_where);
      if (open_stream(s, 0, err, sizeof err)) {
        snprintf(s->err, sizeof s->err, "%s", err);
        if (stream_refused(s, &attempts, &here, &backoff, round)) break;
        continue;
      }
      if (attempts || backoff > 0.5 || prev_id != s->conn_server_id) tell_stream(s, prev_id, prev_where, prev_uuid);
      here = 0; /* attempts: only once events came (a server may accept, then refuse the position) */
      round = s->cur;
      forget_failures(s);
    }
    if (s->events_seen > 1) backoff = 0.5, attempts = 0; /* the stream works again */
    /* what is decoded waits for more only while the server's next event is
     * here already: a read that may wait for the server hands it over first */
    if (s->bhead && (s->bn >= s->batch_max || s->bbytes >= s->batch_max_bytes || !stream_buffered(s)) &&
        flush_batch(s))
      break; /* closed: stopping */
    const unsigned char *p = NULL;
    unsigned code = 0;
    const char *msg = "";
    unsigned long len = next_packet(s, &p, &code, &msg);
    if (atomic_load(&s->stop)) break;
    if ((len == packet_error || len == 0 || (p[0] == 0xfe && len < 9)) && flush_batch(s))
      break; /* what was decoded before goes out before the stream is given up or resumed */
    if (len == packet_error || len == 0) {
      if (code == ER_SLAVE_SAME_ID) {
        snprintf(s->err, sizeof s->err, "another replica connected to '%s' with server_id %u and the server "
                 "dropped this one: give each reader its own server_id ([source] server_id, --server-id)",
                 conn_where(cur_conn(s), where, sizeof where), s->o.server_id);
        s->errc = BH_E_SERVER_ID;
        s->failed = 1;
        break;
      }
      if (code == ER_MASTER_FATAL_READING_BINLOG || (code && code < 2000 && !s->events_seen && !transient(code))) {
        /* The server refused the request itself: asking again will not
         * help, but another server may serve it where this one diverged. */
        refused(s, code, msg);
        if (s->errc != BH_E_DIVERGED) {
          s->failed = 1;
          break;
        }
        close_stream(s);
        if (stream_refused(s, &attempts, &here, &backoff, round)) break;
        continue;
      }
      note_resume(s);
      log_warn("lost the replication connection to '%s': %s; reconnecting", conn_where(cur_conn(s), where, sizeof where),
               msg[0] ? msg : "connection closed");
      if (!transient(code)) log_warn("error %u is unexpected here; retrying anyway", code);
      int nothing = !s->events_seen;
      close_stream(s);
      if (nothing) { /* failed before any event: do not spin */
        sleep_backoff(s, backoff);
        backoff = backoff * 2 > 30 ? 30 : backoff * 2;
      }
      continue;
    }
    if (p[0] == 0xfe && len < 9) { /* end of stream: the server is shutting down */
      note_resume(s);
      log_warn("'%s' ended the stream (shutting down?); reconnecting", conn_where(cur_conn(s), where, sizeof where));
      close_stream(s);
      continue;
    }
    if (p[0] != 0) continue;
    s->events_seen++;
    int bad = decoder_feed(s->dec, p + 1, len - 1, -1, err, sizeof err);
    if (bad) {
      if (flush_batch(s)) break; /* the changes before the bad one */
      if (atomic_load(&s->stop)) break;
      snprintf(s->err, sizeof s->err, "%s", err);
      s->errc = BH_E_OTHER;
      s->failed = 1;
      break;
    }
  }
  close_stream(s);
  changeq_close(s->q);
  return NULL;
}

const struct position *source_start_position(struct source *s, uint32_t *skip)
{
  if (s->pg) return pg_source_start_position(s->pg, skip);
  if (skip) *skip = s->started_skip;
  return &s->started;
}

int source_start(struct source *s, char *err, size_t errsz)
{
  if (s->pg) return pg_source_start(s->pg, err, errsz);
  /* every server in turn; when none serves, the first reachable one's
   * failure decides (a purged binlog, a divergence), else the first's */
  struct buf all = BUF_INIT;
  enum bh_errc code = BH_E_NONE;
  int ok = 0;
  for (s->cur = 0; s->cur < s->nsrv && !ok; s->cur++) {
    ok = !open_stream(s, 1, err, errsz);
    if (ok) break;
    note_failure(s, err);
    if (s->nsrv > 1) buf_printf(&all, "%s%s", all.len ? " | " : "", err);
    if (code == BH_E_NONE || (code == BH_E_CONNECT && s->errc != BH_E_CONNECT)) code = s->errc;
    if (s->nsrv > 1 && s->cur + 1 < s->nsrv) {
      char where[300];
      log_warn("%s; trying '%s' next", err, conn_where(&s->srv[s->cur + 1], where, sizeof where));
    }
  }
  if (!ok) {
    s->cur = 0;
    s->errc = code;
    if (s->nsrv > 1) bh_err(err, errsz, "no server of [source] url serves the stream: %s", all.p);
    buf_free(&all);
    return -1;
  }
  buf_free(&all);
  forget_failures(s);
  s->started = s->resume;
  s->started_skip = s->resume_skip;
  if (pthread_create(&s->thread, NULL, reader_main, s)) {
    close_stream(s);
    s->errc = BH_E_OTHER;
    return bh_err(err, errsz, "cannot start the reader thread");
  }
  s->running = 1;
  return 0;
}

uint32_t source_server(struct source *s, char *where, size_t size)
{
  if (s->pg) return pg_source_server(s->pg, where, size);
  pthread_mutex_lock(&s->conn_lock);
  uint32_t id = s->conn_server_id;
  snprintf(where, size, "%s", s->conn_where);
  pthread_mutex_unlock(&s->conn_lock);
  return id;
}

int source_by_gtid(struct source *s)
{
  if (s->pg) return 0;
  return s->by_gtid;
}

int source_connected(struct source *s)
{
  if (s->pg) return pg_source_connected(s->pg);
  pthread_mutex_lock(&s->conn_lock);
  int up = s->m != NULL;
  pthread_mutex_unlock(&s->conn_lock);
  return up;
}

struct change *source_next(struct source *s)
{
  return changeq_pop(source_queue(s));
}

struct changeq *source_queue(struct source *s)
{
  if (s->pg) return pg_source_queue(s->pg);
  return s->q;
}

const char *source_error(struct source *s)
{
  if (s->pg) return pg_source_error(s->pg);
  return s->failed ? s->err : NULL;
}

enum bh_errc source_errc(struct source *s) { return s->pg ? pg_source_errc(s->pg) : s->errc; }

int source_retry_error(struct source *s, char *out, size_t size)
{
  if (s->pg) return pg_source_retry_error(s->pg, out, size);
  pthread_mutex_lock(&s->conn_lock);
  int have = s->retry_err[0] != 0;
  snprintf(out, size, "%s", s->retry_err);
  pthread_mutex_unlock(&s->conn_lock);
  return have;
}

void source_confirm(struct source *s, const struct position *p)
{
  if (s->pg) pg_source_confirm(s->pg, p->pos);
}

void source_stop(struct source *s)
{
  if (s->pg) {
    pg_source_stop(s->pg);
    return;
  }
  atomic_store(&s->stop, 1);
  changeq_close(s->q);
  pthread_mutex_lock(&s->conn_lock);
  if (s->m) {
    /* Wake the blocking read. */
    int fd = (int)mysql_get_socket(s->m);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&s->conn_lock);
  if (s->running) {
    pthread_join(s->thread, NULL);
    s->running = 0;
  }
}

void source_free(struct source *s)
{
  if (!s) return;
  if (s->pg) {
    pg_source_free(s->pg);
    free(s);
    return;
  }
  source_stop(s);
  close_stream(s);
  if (s->meta) mysql_close(s->meta);
  who_forget(&s->who);
  decoder_free(s->dec);
  for (size_t i = 0; i < s->nnames; i++) {
    free(s->names[i].key);
    for (uint32_t k = 0; k < s->names[i].ncols; k++) free(s->names[i].names[k]);
    free(s->names[i].names);
    free(s->names[i].pk);
  }
  free(s->names);
  bh_strv_free(s->o.include);
  bh_strv_free(s->o.exclude);
  free((char *)s->o.gtid_state);
  free(s->seed);
  source_opts_free(&s->o);
  free(s->srv);
  free(s->srv_err);
  while (s->bhead) { /* never handed over (a stop) */
    struct change *next = s->bhead->next;
    change_free(s->bhead);
    s->bhead = next;
  }
  while (s->spare) {
    struct change *next = s->spare->next;
    change_free(s->spare);
    s->spare = next;
  }
  changeq_free(s->q);
  pthread_mutex_destroy(&s->conn_lock);
  free(s);
}
