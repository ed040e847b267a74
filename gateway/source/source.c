/* source.c - see source.h. */
#include "source/source.h"
#include "source/decoder.h"
#include "source/gtidpos.h"
#include "source/gtidset.h"
#include "source/server.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <errmsg.h>
#include <inttypes.h>
#include <mariadb_rpl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  struct source_opts o;
  struct changeq *q;
  pthread_t thread;
  int running; /* the reader thread was started */
  atomic_int stop;
  atomic_ullong incidents; /* INCIDENT events of LOST_EVENTS read */
  char retry_err[1024];     /* why the last reconnect failed; "" once streaming (conn_lock) */
  pthread_mutex_t conn_lock; /* guards m for source_stop's shutdown() */
  MYSQL *m;
  MARIADB_RPL *rpl;
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
  /* the events of one binlog event, handed to the queue together */
  struct change *bhead, *btail;
  size_t bn, bbytes;
};

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

static char **copy_list(char **l)
{
  if (!l) return NULL;
  size_t n = 0;
  while (l[n]) n++;
  char **c = xcalloc(n + 1, sizeof *c);
  for (size_t i = 0; i < n; i++) c[i] = xstrdup(l[i]);
  return c;
}

static void free_list(char **l)
{
  if (!l) return;
  for (char **p = l; *p; p++) free(*p);
  free(l);
}

struct source *source_new(const struct source_opts *o)
{
  struct source *s = xcalloc(1, sizeof *s);
  s->o = *o;
  conn_opts_copy(&s->o.conn, &o->conn);
  s->o.include = copy_list(o->include);
  s->o.exclude = copy_list(o->exclude);
  s->o.gtid_state = o->gtid_state ? xstrdup(o->gtid_state) : NULL;
  if (!s->o.queue_events) s->o.queue_events = 10000;
  if (!s->o.queue_bytes) s->o.queue_bytes = 64u << 20;
  if (!s->o.server_id) s->o.server_id = 4242;
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

/* A stream was requested on m: a fresh decoder, and the handles stored where
 * source_stop can reach them. */
static int attach_stream(struct source *s, MYSQL *m, MARIADB_RPL *rpl)
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
  char why[512], msg[700];
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
           conn_where(&s->o.conn, where, sizeof where), lacks.p, has.len ? has.p : "none", expected,
           has.len ? has.p : "...");
  buf_free(&has);
  buf_free(&lacks);
  return rc;
}

/* Opens a connection and requests the stream at s->resume (or the configured
 * start when first). */
static int open_stream(struct source *s, int first, char *err, size_t errsz)
{
  char where[300];
  struct conn_opts co = s->o.conn;
  /* A read timeout well above the heartbeat period detects dead connections. */
  co.read_timeout = s->o.heartbeat > 0 ? (unsigned)(s->o.heartbeat * 3 + 5) : 0;
  unsigned num = 0;
  MYSQL *m = conn_open_code(&co, &num, err, errsz);
  if (!m) {
    s->errc = server_errc(num) == BH_E_NONE ? BH_E_OTHER : server_errc(num);
    return -1;
  }

  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  if (server_query_row(m, "SELECT @@log_bin, @@version", &row, &res, err, errsz)) goto fail;
  int log_bin = row && row[0] && atoi(row[0]) == 1;
  int mariadb = row && row[1] && strstr(row[1], "MariaDB");
  mysql_free_result(res);
  if (!log_bin) {
    bh_err(err, errsz, "binary logging is off on '%s': set log_bin in the server's my.cnf and restart it "
           "('binhook doctor' lists every setting binhook needs)", conn_where(&s->o.conn, where, sizeof where));
    goto fail;
  }

  /* A GTID start stays the request until the stream has told us a file position. */
  int use_gtid = s->o.start.kind == START_GTID && (first || !s->resume.file[0] || s->resume.pos < 4);
  if (first) {
    memset(&s->resume, 0, sizeof s->resume);
    s->resume_skip = 0;
    if (s->o.start.kind == START_FILE) {
      snprintf(s->resume.file, sizeof s->resume.file, "%s", s->o.start.file);
      s->resume.pos = s->o.start.pos;
      s->resume_skip = s->o.start.skip;
    } else if (s->o.start.kind == START_END || s->o.start.kind == START_BEGINNING) {
      if (resolve_start(m, &s->resume, s->o.start.kind, err, errsz)) goto fail;
    }
    seed_state(s, m, mariadb, use_gtid);
  }
  /* before streaming: the server holds what binhook read already (the
   * checkpoint's state at the start, the stream's at a reconnect) */
  struct rcstr *gs = s->dec ? decoder_gtid_state(s->dec) : NULL;
  enum bh_errc holds = check_holds(s, m, mariadb, s->dec ? (gs ? gs->s : NULL) : s->o.gtid_state, err, errsz);
  rcstr_unref(gs);
  if (holds != BH_E_NONE) {
    mysql_close(m);
    s->errc = holds;
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
  if (use_gtid && !mariadb) {
    /* MySQL: COM_BINLOG_DUMP_GTID with the executed set, sent as the
     * client library's own commands are. */
    struct gtidset set = {0};
    if (gtidset_parse(s->o.start.gtid, &set, err, errsz)) goto fail;
    struct buf cmd = BUF_INIT;
    gtidset_dump_command(&set, s->o.server_id, "", 4, &cmd);
    gtidset_free(&set);
    int sent = m->methods->db_command(m, (enum enum_server_command)COM_BINLOG_DUMP_GTID, cmd.p, cmd.len, 1, NULL);
    buf_free(&cmd);
    if (sent) {
      bh_err(err, errsz, "cannot start the GTID dump on '%s': %s", conn_where(&s->o.conn, where, sizeof where),
             mysql_error(m));
      goto fail;
    }
    return attach_stream(s, m, NULL);
  }
  if (use_gtid) {
    char esc[1100];
    mysql_real_escape_string(m, esc, s->o.start.gtid, (unsigned long)strlen(s->o.start.gtid));
    snprintf(sql, sizeof sql, "SET @slave_connect_state = '%s', @slave_gtid_strict_mode = 0, "
             "@slave_gtid_ignore_duplicates = 0", esc);
    if (server_exec(m, sql, err, errsz)) goto fail;
  }

  MARIADB_RPL *rpl = mariadb_rpl_init(m);
  if (!rpl) {
    bh_err(err, errsz, "cannot start replication on '%s': %s", conn_where(&s->o.conn, where, sizeof where),
           mysql_error(m));
    goto fail;
  }
  const char *file = use_gtid ? "" : s->resume.file;
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, file, strlen(file));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)(use_gtid ? 4 : s->resume.pos));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, s->o.server_id);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_HOST, "binhook");
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_PORT, 0);
  if (mariadb_rpl_open(rpl)) {
    bh_err(err, errsz, "cannot register as replica %u on '%s': %s (server_id must be unique among the "
           "server's replicas)", s->o.server_id, conn_where(&s->o.conn, where, sizeof where),
           mysql_error(m)[0] ? mysql_error(m) : mariadb_rpl_error(rpl));
    mariadb_rpl_close(rpl);
    goto fail;
  }

  return attach_stream(s, m, rpl);

fail:
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
    struct conn_opts co = s->o.conn;
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
  return 0;
}

/* Hands what the last binlog event gave to the queue: one lock and one
 * wake-up for all its rows. -1 when the queue was closed. */
static int flush_batch(struct source *s)
{
  if (!s->bhead) return 0;
  int rc = changeq_push_list(s->q, s->bhead, s->btail, s->bn, s->bbytes);
  s->bhead = s->btail = NULL;
  s->bn = s->bbytes = 0;
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
  if (!s->meta && !(s->meta = conn_open(&s->o.conn, err, sizeof err))) {
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
  /* A GTID start before its first transaction: the boundary is where the
   * server began looking for the GTID (the start of a binlog), not where it
   * is; the GTID asks again for the right place. */
  if (!in_tx && !b->gtid[0] && s->o.start.kind == START_GTID && !s->resume.file[0]) return;
  if (in_tx) {
    snprintf(s->resume.file, sizeof s->resume.file, "%s", decoder_position(s->dec)->file);
    s->resume.pos = txpos;
    s->resume_skip = emitted;
  } else {
    s->resume = *b;
    s->resume_skip = 0;
  }
}

/* The server refused to send the binlog from where it was asked (error
 * 1236): BH_E_PURGED when that binlog is gone (the server no longer lists
 * the file, or the request was by GTID and no binlog holds it),
 * BH_E_REJECTED when the server still lists the file (the offset is not on
 * an event boundary, the binlog is damaged), BH_E_OTHER when the server
 * cannot be asked: the words of the server's message decide nothing. */
static enum bh_errc purged_or_other(struct source *s, int by_gtid)
{
  if (by_gtid) return BH_E_PURGED;
  int has = server_has_binlog(&s->o.conn, s->resume.file);
  return has == 0 ? BH_E_PURGED : has > 0 ? BH_E_REJECTED : BH_E_OTHER;
}

/* s->err for a request the server refused (code 1236 and those that come
 * before any event): what was asked, the server's words, and what to do. */
static void refused(struct source *s, unsigned code, const char *msg)
{
  char from[1100];
  int by_gtid = s->o.start.kind == START_GTID && (!s->resume.file[0] || s->resume.pos < 4);
  if (by_gtid)
    snprintf(from, sizeof from, "gtid:%s", s->o.start.gtid);
  else
    snprintf(from, sizeof from, "%s:%" PRIu64, s->resume.file, s->resume.pos);
  s->errc = code == ER_MASTER_FATAL_READING_BINLOG ? purged_or_other(s, by_gtid) : failure_code(code);
  const char *what;
  switch (s->errc) {
  case BH_E_PURGED:
    what = by_gtid ? "no binlog the server has holds that GTID (purged?): start from a position the server "
                     "still has (--from start)"
                   : "the server no longer has that binlog (purged): start from a position it still has "
                     "(--from start)";
    break;
  case BH_E_REJECTED:
    what = "the server still has that binlog, so it was not purged: it refused the position itself (an offset "
           "that is not the start of an event, or a damaged binlog): start at an event boundary (SHOW BINLOG "
           "EVENTS lists them) or at a GTID (--from gtid:...)";
    break;
  default:
    what = "if the binlog was purged, start from a position the server still has (--from start)";
  }
  snprintf(s->err, sizeof s->err, "the server cannot send the binlog from '%.600s': %.400s (error %u); %s", from,
           msg, code, what);
}

static void *reader_main(void *arg)
{
  struct source *s = arg;
  char err[1024], where[300];
  double backoff = 0.5;
  int attempts = 0;
  while (!atomic_load(&s->stop)) {
    if (!s->m) {
      if (open_stream(s, 0, err, sizeof err)) {
        pthread_mutex_lock(&s->conn_lock);
        snprintf(s->retry_err, sizeof s->retry_err, "%s", err);
        pthread_mutex_unlock(&s->conn_lock);
        attempts++;
        if (s->o.max_retries && attempts >= s->o.max_retries) {
          snprintf(s->err, sizeof s->err, "%.900s (gave up after %d attempts)", err, attempts);
          s->failed = 1; /* s->errc: open_stream's */
          break;
        }
        log_warn("%s; retrying in %.1fs", err, backoff);
        sleep_backoff(s, backoff);
        backoff = backoff * 2 > 30 ? 30 : backoff * 2;
        continue;
      }
      if (attempts || backoff > 0.5) log_notice("reconnected to '%s', resuming at %s:%" PRIu64 "%s", conn_where(&s->o.conn, where,
                               sizeof where), s->resume.file, s->resume.pos, s->resume_skip ? " (mid-transaction)" : "");
      attempts = 0;
      pthread_mutex_lock(&s->conn_lock);
      s->retry_err[0] = 0;
      pthread_mutex_unlock(&s->conn_lock);
    }
    if (s->events_seen > 1) backoff = 0.5; /* the stream works again */
    unsigned long len = mysql_net_read_packet(s->m);
    if (atomic_load(&s->stop)) break;
    if (len == packet_error || len == 0) {
      unsigned code = mysql_errno(s->m);
      const char *msg = mysql_error(s->m);
      if (code == ER_SLAVE_SAME_ID) {
        snprintf(s->err, sizeof s->err, "another replica connected to '%s' with server_id %u and the server "
                 "dropped this one: give each reader its own server_id ([source] server_id, --server-id)",
                 conn_where(&s->o.conn, where, sizeof where), s->o.server_id);
        s->errc = BH_E_SERVER_ID;
        s->failed = 1;
        break;
      }
      if (code == ER_MASTER_FATAL_READING_BINLOG || (code && code < 2000 && !s->events_seen && !transient(code))) {
        /* The server refused the request itself: asking again will not help. */
        refused(s, code, msg);
        s->failed = 1;
        break;
      }
      note_resume(s);
      log_warn("lost the replication connection to '%s': %s; reconnecting at %s:%" PRIu64,
               conn_where(&s->o.conn, where, sizeof where), msg[0] ? msg : "connection closed", s->resume.file,
               s->resume.pos);
      if (!transient(code)) log_warn("error %u is unexpected here; retrying anyway", code);
      int nothing = !s->events_seen;
      close_stream(s);
      if (nothing) { /* failed before any event: do not spin */
        sleep_backoff(s, backoff);
        backoff = backoff * 2 > 30 ? 30 : backoff * 2;
      }
      continue;
    }
    const unsigned char *p = s->m->net.read_pos;
    if (p[0] == 0xfe && len < 9) { /* end of stream: the server is shutting down */
      note_resume(s);
      log_warn("the server ended the stream (shutting down?); reconnecting to resume at %s:%" PRIu64, s->resume.file,
               s->resume.pos);
      close_stream(s);
      continue;
    }
    if (p[0] != 0) continue;
    s->events_seen++;
    int bad = decoder_feed(s->dec, p + 1, len - 1, -1, err, sizeof err);
    if (flush_batch(s)) break; /* closed: stopping */
    if (bad) {
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
  if (skip) *skip = s->started_skip;
  return &s->started;
}

int source_start(struct source *s, char *err, size_t errsz)
{
  if (open_stream(s, 1, err, errsz)) return -1;
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

int source_connected(struct source *s)
{
  pthread_mutex_lock(&s->conn_lock);
  int up = s->m != NULL;
  pthread_mutex_unlock(&s->conn_lock);
  return up;
}

struct change *source_next(struct source *s)
{
  return changeq_pop(s->q);
}

struct changeq *source_queue(struct source *s)
{
  return s->q;
}

const char *source_error(struct source *s)
{
  return s->failed ? s->err : NULL;
}

enum bh_errc source_errc(struct source *s) { return s->errc; }

int source_retry_error(struct source *s, char *out, size_t size)
{
  pthread_mutex_lock(&s->conn_lock);
  int have = s->retry_err[0] != 0;
  snprintf(out, size, "%s", s->retry_err);
  pthread_mutex_unlock(&s->conn_lock);
  return have;
}

void source_stop(struct source *s)
{
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
  free_list(s->o.include);
  free_list(s->o.exclude);
  free((char *)s->o.gtid_state);
  free(s->seed);
  conn_opts_free(&s->o.conn);
  while (s->bhead) { /* never handed over (a stop) */
    struct change *next = s->bhead->next;
    change_free(s->bhead);
    s->bhead = next;
  }
  changeq_free(s->q);
  pthread_mutex_destroy(&s->conn_lock);
  free(s);
}
