/* dbstore.c - see dbstore.h. */
#include "store/dbstore.h"
#include "source/server.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dbstore {
  struct conn_opts conn;
  char *database, *name;
  char where[400];
  double lease;
  atomic_ullong epoch; /* the lease this process holds; 0: none */
};

/* The tables, as docs/DESIGN.md shows them. */
static const char *const tables_sql[] = {
    "CREATE TABLE IF NOT EXISTS binhook_meta ("
    " name VARCHAR(64) NOT NULL,"
    " k VARCHAR(64) NOT NULL,"
    " v LONGBLOB NOT NULL,"
    " PRIMARY KEY (name, k)"
    ") ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS binhook_lease ("
    " name VARCHAR(64) NOT NULL PRIMARY KEY,"
    " owner VARCHAR(128) NOT NULL,"
    " host VARCHAR(128) NOT NULL,"
    " pid BIGINT NOT NULL,"
    " epoch BIGINT UNSIGNED NOT NULL,"
    " expires DATETIME(6) NOT NULL,"
    " renewed DATETIME(6) NOT NULL,"
    " takeovers BIGINT UNSIGNED NOT NULL DEFAULT 0"
    ") ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS binhook_queue ("
    " name VARCHAR(64) NOT NULL,"
    " seq BIGINT UNSIGNED NOT NULL,"
    " endpoint VARCHAR(255) NOT NULL,"
    " rule VARCHAR(255) NOT NULL,"
    " webhook_id VARCHAR(255) NOT NULL,"
    " okey VARBINARY(3072) NULL,"
    " created BIGINT NOT NULL,"
    " attempts INT UNSIGNED NOT NULL,"
    " due BIGINT NOT NULL,"
    " dead TINYINT NOT NULL,"
    " dead_at BIGINT NOT NULL,"
    " reason TEXT NULL,"
    " binlog VARCHAR(512) NULL,"
    " binlog_pos BIGINT UNSIGNED NOT NULL,"
    " gtid VARCHAR(4096) NULL,"
    " payload LONGBLOB NOT NULL,"
    " PRIMARY KEY (name, seq)"
    ") ENGINE=InnoDB",
};

void dbstore_quote(MYSQL *m, struct buf *q, const char *s, size_t n)
{
  char *esc = xmalloc(2 * n + 1);
  unsigned long k = mysql_real_escape_string(m, esc, s, (unsigned long)n);
  buf_addc(q, '\'');
  buf_add(q, esc, k);
  buf_addc(q, '\'');
  free(esc);
}

int dbstore_exec(struct dbstore *db, MYSQL *m, const char *sql, size_t len, char *err, size_t errsz)
{
  if (!mysql_real_query(m, sql, (unsigned long)len)) {
    MYSQL_RES *res = mysql_store_result(m);
    if (res) mysql_free_result(res);
    return 0;
  }
  return bh_err(err, errsz, "the state store '%s' failed: %s (error %u)", db->where, mysql_error(m), mysql_errno(m));
}

static int exec_str(struct dbstore *db, MYSQL *m, const char *sql, char *err, size_t errsz)
{
  return dbstore_exec(db, m, sql, strlen(sql), err, errsz);
}

/* A connection with read timeout rt (seconds; 0: the options'). The
 * server ends a session idle for half the lease and gives its row locks
 * back: a frozen or cut-off active cannot hold the lease row locked inside
 * a write transaction for hours (wait_timeout, TCP keepalive) and keep a
 * standby from taking over; a lock is waited for two seconds at most. */
static MYSQL *connect_rt(struct dbstore *db, unsigned rt, char *err, size_t errsz)
{
  struct conn_opts co = db->conn;
  if (rt) co.read_timeout = rt;
  MYSQL *m = conn_open(&co, err, errsz);
  if (!m) return NULL;
  char sql[160];
  unsigned idle = db->lease / 2 >= 1 ? (unsigned)(db->lease / 2) : 1;
  snprintf(sql, sizeof sql, "SET SESSION wait_timeout = %u, SESSION innodb_lock_wait_timeout = 2", idle);
  if (mysql_select_db(m, db->database) || mysql_query(m, sql)) {
    bh_err(err, errsz, "the state store '%s': cannot use database '%s': %s", db->where, db->database, mysql_error(m));
    mysql_close(m);
    return NULL;
  }
  return m;
}

MYSQL *dbstore_connect(struct dbstore *db, char *err, size_t errsz)
{
  return connect_rt(db, 0, err, errsz);
}

int dbstore_alive(struct dbstore *db, MYSQL **m, char *err, size_t errsz)
{
  if (*m && !mysql_ping(*m)) return 0;
  if (*m) mysql_close(*m);
  *m = dbstore_connect(db, err, errsz);
  return *m ? 0 : -1;
}

/* Creates what is missing and checks the version of what is there. */
static int prepare(struct dbstore *db, char *err, size_t errsz)
{
  MYSQL *m = conn_open(&db->conn, err, errsz);
  if (!m) return -1;
  struct buf q = BUF_INIT;
  int rc = -1;
  /* CREATE only for what is missing: a DBA who made the tables by hand
   * need not grant it (the server asks for it even with IF NOT EXISTS) */
  if (mysql_select_db(m, db->database)) {
    buf_printf(&q, "CREATE DATABASE IF NOT EXISTS `%s`", db->database);
    if (exec_str(db, m, q.p, err, errsz) || mysql_select_db(m, db->database)) {
      bh_err(err, errsz, "the state store '%s': cannot create or use database '%s': %s (create it, and GRANT "
             "SELECT, INSERT, UPDATE, DELETE, CREATE ON `%s`.* to binhook's user; 'binhook doctor' checks)",
             db->where, db->database, mysql_error(m), db->database);
      goto out;
    }
  }
  static const char *const names[] = {"binhook_meta", "binhook_lease", "binhook_queue"};
  for (size_t i = 0; i < sizeof tables_sql / sizeof tables_sql[0]; i++) {
    buf_reset(&q);
    buf_printf(&q, "SHOW TABLES LIKE '%s'", names[i]);
    MYSQL_RES *res = mysql_real_query(m, q.p, (unsigned long)q.len) ? NULL : mysql_store_result(m);
    int there = res && mysql_num_rows(res) > 0;
    if (res) mysql_free_result(res);
    if (!there && exec_str(db, m, tables_sql[i], err, errsz)) goto out;
  }
  /* the version: written once, checked after */
  buf_reset(&q);
  buf_adds(&q, "INSERT IGNORE INTO binhook_meta (name, k, v) VALUES (");
  dbstore_quote(m, &q, db->name, strlen(db->name));
  buf_printf(&q, ", 'schema', '%d')", DBSTORE_SCHEMA);
  if (exec_str(db, m, q.p, err, errsz)) goto out;
  struct buf v = BUF_INIT;
  int have = dbstore_get(db, m, "schema", &v, err, errsz);
  long ver = have > 0 ? strtol(v.p ? v.p : "0", NULL, 10) : 0;
  buf_free(&v);
  if (have <= 0) {
    if (!have) bh_err(err, errsz, "the state store '%s' has no schema version for '%s'", db->where, db->name);
    goto out;
  }
  if (ver > DBSTORE_SCHEMA) {
    bh_err(err, errsz, "the state store '%s' was written by a newer binhook (tables version %ld, this one knows %d): "
           "run that version, or give this one its own [state] name", db->where, ver, DBSTORE_SCHEMA);
    goto out;
  }
  rc = 0;
out:
  buf_free(&q);
  mysql_close(m);
  return rc;
}

struct dbstore *dbstore_open(const struct conn_opts *conn, const char *database, const char *name, double lease,
                             char *err, size_t errsz)
{
  struct dbstore *db = xcalloc(1, sizeof *db);
  conn_opts_copy(&db->conn, conn);
  db->database = xstrdup(database);
  db->name = xstrdup(name);
  db->lease = lease > 0 ? lease : 10;
  atomic_init(&db->epoch, 0);
  char w[300];
  snprintf(db->where, sizeof db->where, "%s/%s", conn_where(conn, w, sizeof w), database);
  if (prepare(db, err, errsz)) {
    dbstore_free(db);
    return NULL;
  }
  return db;
}

void dbstore_free(struct dbstore *db)
{
  if (!db) return;
  conn_opts_free(&db->conn);
  free(db->database);
  free(db->name);
  free(db);
}

const char *dbstore_database(const struct dbstore *db) { return db->database; }
const char *dbstore_name(const struct dbstore *db) { return db->name; }
const char *dbstore_where(const struct dbstore *db) { return db->where; }

void dbstore_hold(struct dbstore *db, uint64_t epoch) { atomic_store(&db->epoch, epoch); }
uint64_t dbstore_epoch(struct dbstore *db) { return atomic_load(&db->epoch); }

static enum bh_errc code_of(MYSQL *m)
{
  enum bh_errc c = server_errc(mysql_errno(m));
  return c == BH_E_NONE ? BH_E_OTHER : c;
}

int dbstore_fence(struct dbstore *db, MYSQL *m, enum bh_errc *code, char *err, size_t errsz)
{
  uint64_t mine = dbstore_epoch(db);
  if (!mine) {
    *code = BH_E_FENCED;
    return bh_err(err, errsz, "this binhook does not hold the lease of '%s' in the state store '%s'", db->name,
                  db->where);
  }
  struct buf q = BUF_INIT;
  buf_adds(&q, "SELECT epoch FROM binhook_lease WHERE name = ");
  dbstore_quote(m, &q, db->name, strlen(db->name));
  buf_adds(&q, " FOR UPDATE");
  int bad = mysql_real_query(m, q.p, (unsigned long)q.len);
  buf_free(&q);
  if (bad) {
    *code = code_of(m);
    return bh_err(err, errsz, "the state store '%s' failed: %s (error %u)", db->where, mysql_error(m), mysql_errno(m));
  }
  MYSQL_RES *res = mysql_store_result(m);
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  uint64_t epoch = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
  if (res) mysql_free_result(res);
  if (epoch != mine) {
    *code = BH_E_FENCED;
    dbstore_hold(db, 0);
    return bh_err(err, errsz, "another binhook took the lease of '%s' in the state store '%s' (epoch %" PRIu64
                  ", this one held %" PRIu64 "): this one writes nothing more",
                  db->name, db->where, epoch, mine);
  }
  return 0;
}

/* " WHERE name = ... AND k = ..." of this deployment's value key. */
static void where_key(struct dbstore *db, MYSQL *m, const char *key, struct buf *q)
{
  buf_adds(q, " WHERE name = ");
  dbstore_quote(m, q, db->name, strlen(db->name));
  buf_adds(q, " AND k = ");
  dbstore_quote(m, q, key, strlen(key));
}

int dbstore_get(struct dbstore *db, MYSQL *m, const char *key, struct buf *out, char *err, size_t errsz)
{
  struct buf q = BUF_INIT;
  buf_adds(&q, "SELECT v FROM binhook_meta");
  where_key(db, m, key, &q);
  int bad = mysql_real_query(m, q.p, (unsigned long)q.len);
  buf_free(&q);
  if (bad)
    return bh_err(err, errsz, "the state store '%s' failed: %s (error %u)", db->where, mysql_error(m), mysql_errno(m));
  MYSQL_RES *res = mysql_store_result(m);
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  int have = 0;
  if (row && row[0]) {
    unsigned long *len = mysql_fetch_lengths(res);
    buf_reset(out);
    buf_add(out, row[0], len[0]);
    have = 1;
  }
  if (res) mysql_free_result(res);
  return have;
}


/* sql alone in a fenced transaction; -1 with err and *code. */
static int fenced_one(struct dbstore *db, MYSQL *m, const struct buf *sql, enum bh_errc *code, char *err,
                      size_t errsz)
{
  *code = BH_E_NONE;
  if (exec_str(db, m, "BEGIN", err, errsz) || dbstore_fence(db, m, code, err, errsz) ||
      dbstore_exec(db, m, sql->p, sql->len, err, errsz) || exec_str(db, m, "COMMIT", err, errsz)) {
    if (*code == BH_E_NONE) *code = code_of(m);
    if (mysql_rollback(m)) {}
    return -1;
  }
  return 0;
}

/* The INSERT of a small value, upserted. */
static void put_sql(struct dbstore *db, MYSQL *m, const char *key, const void *v, size_t n, struct buf *q)
{
  buf_adds(q, "INSERT INTO binhook_meta (name, k, v) VALUES (");
  dbstore_quote(m, q, db->name, strlen(db->name));
  buf_adds(q, ", ");
  dbstore_quote(m, q, key, strlen(key));
  buf_adds(q, ", ");
  dbstore_quote(m, q, v, n);
  buf_adds(q, ") ON DUPLICATE KEY UPDATE v = VALUES(v)");
}

int dbstore_put_in(struct dbstore *db, MYSQL *m, const char *key, const void *v, size_t n, char *err, size_t errsz)
{
  struct buf q = BUF_INIT;
  put_sql(db, m, key, v, n, &q);
  int rc = dbstore_exec(db, m, q.p, q.len, err, errsz);
  buf_free(&q);
  return rc;
}

int dbstore_put(struct dbstore *db, MYSQL *m, const char *key, const void *v, size_t n, enum bh_errc *code,
                char *err, size_t errsz)
{
  struct buf q = BUF_INIT;
  put_sql(db, m, key, v, n, &q);
  int rc = fenced_one(db, m, &q, code, err, errsz);
  buf_free(&q);
  return rc;
}

int dbstore_del(struct dbstore *db, MYSQL *m, const char *key, enum bh_errc *code, char *err, size_t errsz)
{
  struct buf q = BUF_INIT;
  buf_adds(&q, "DELETE FROM binhook_meta");
  where_key(db, m, key, &q);
  int rc = fenced_one(db, m, &q, code, err, errsz);
  buf_free(&q);
  return rc;
}

/* ---- the lease ---- */

struct lease {
  struct dbstore *db;
  char owner[128], host[128];
  MYSQL *m;              /* the keeper's (or the tries') connection */
  pthread_t keeper;
  int keeping;
  atomic_int stop, held;
  atomic_llong last_ok_ms; /* monotonic ms when the last renewal (or the take) was asked */
  int lost[2];           /* the pipe lease_lost_fd reads */
  pthread_mutex_t mu;    /* info */
  struct lease_info info;
};

struct lease *lease_new(struct dbstore *db)
{
  struct lease *l = xcalloc(1, sizeof *l);
  l->db = db;
  if (gethostname(l->host, sizeof l->host)) snprintf(l->host, sizeof l->host, "unknown");
  l->host[sizeof l->host - 1] = 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(l->owner, sizeof l->owner, "%.80s:%ld:%08lx", l->host, (long)getpid(),
           (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 12) ^ (unsigned long)random()));
  l->lost[0] = l->lost[1] = -1;
  atomic_init(&l->stop, 0);
  atomic_init(&l->held, 0);
  pthread_mutex_init(&l->mu, NULL);
  return l;
}

/* A connection for the lease's queries, opened again when it broke. */
static MYSQL *lease_conn(struct lease *l, char *err, size_t errsz)
{
  if (l->m && !mysql_ping(l->m)) return l->m;
  if (l->m) mysql_close(l->m);
  /* an answer later than a fifth of the lease is no use to the keeper */
  unsigned rt = l->db->lease / 5 >= 1 ? (unsigned)(l->db->lease / 5) : 1;
  l->m = connect_rt(l->db, rt, err, errsz);
  return l->m;
}

/* Reads the lease row into the info (under l->mu). */
static int read_info(struct lease *l, MYSQL *m, char *err, size_t errsz)
{
  struct buf q = BUF_INIT;
  buf_adds(&q, "SELECT owner, host, pid, epoch, expires > NOW(6), TIMESTAMPDIFF(MICROSECOND, renewed, NOW(6)), "
               "takeovers FROM binhook_lease WHERE name = ");
  dbstore_quote(m, &q, l->db->name, strlen(l->db->name));
  int bad = mysql_real_query(m, q.p, (unsigned long)q.len);
  buf_free(&q);
  if (bad)
    return bh_err(err, errsz, "the state store '%s' failed: %s (error %u)", l->db->where, mysql_error(m),
                  mysql_errno(m));
  MYSQL_RES *res = mysql_store_result(m);
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  pthread_mutex_lock(&l->mu);
  memset(&l->info, 0, sizeof l->info);
  if (row) {
    snprintf(l->info.owner, sizeof l->info.owner, "%s", row[0] ? row[0] : "");
    snprintf(l->info.host, sizeof l->info.host, "%s", row[1] ? row[1] : "");
    l->info.pid = row[2] ? strtol(row[2], NULL, 10) : 0;
    l->info.epoch = row[3] ? strtoull(row[3], NULL, 10) : 0;
    l->info.held = row[4] && atoi(row[4]) == 1;
    l->info.age = row[5] ? strtod(row[5], NULL) / 1e6 : 0;
    l->info.takeovers = row[6] ? strtoull(row[6], NULL, 10) : 0;
    l->info.mine = l->info.held && !strcmp(l->info.owner, l->owner);
  }
  pthread_mutex_unlock(&l->mu);
  if (res) mysql_free_result(res);
  return 0;
}

int lease_try(struct lease *l, struct lease_info *info, char *err, size_t errsz)
{
  MYSQL *m = lease_conn(l, err, errsz);
  if (!m) return -1;
  struct dbstore *db = l->db;
  struct buf q = BUF_INIT;
  /* a row to take, expired from the start */
  buf_adds(&q, "INSERT IGNORE INTO binhook_lease (name, owner, host, pid, epoch, expires, renewed) VALUES (");
  dbstore_quote(m, &q, db->name, strlen(db->name));
  buf_adds(&q, ", '', '', 0, 0, '1970-01-02', '1970-01-02')");
  int rc = -1;
  double asked = bh_mono();
  if (dbstore_exec(db, m, q.p, q.len, err, errsz)) goto out;
  buf_reset(&q);
  /* assignments run left to right: takeovers counts before owner changes
   * (taking it from another, not a first take or one's own given up) */
  buf_adds(&q, "UPDATE binhook_lease SET takeovers = takeovers + (owner <> '' AND owner <> ");
  dbstore_quote(m, &q, l->owner, strlen(l->owner));
  buf_adds(&q, "), owner = ");
  dbstore_quote(m, &q, l->owner, strlen(l->owner));
  buf_adds(&q, ", host = ");
  dbstore_quote(m, &q, l->host, strlen(l->host));
  buf_printf(&q, ", pid = %ld, epoch = epoch + 1, expires = NOW(6) + INTERVAL %.0f MICROSECOND, renewed = NOW(6) "
                 "WHERE name = ",
             (long)getpid(), db->lease * 1e6);
  dbstore_quote(m, &q, db->name, strlen(db->name));
  buf_adds(&q, " AND expires < NOW(6)");
  if (dbstore_exec(db, m, q.p, q.len, err, errsz)) goto out;
  int took = mysql_affected_rows(m) == 1;
  if (read_info(l, m, err, errsz)) goto out;
  pthread_mutex_lock(&l->mu);
  if (took && l->info.mine) {
    dbstore_hold(db, l->info.epoch);
    atomic_store(&l->last_ok_ms, (long long)(asked * 1000));
    atomic_store(&l->held, 1);
  }
  if (info) *info = l->info;
  pthread_mutex_unlock(&l->mu);
  rc = took;
out:
  buf_free(&q);
  return rc;
}

static void say_lost(struct lease *l)
{
  if (atomic_exchange(&l->held, 0)) {
    dbstore_hold(l->db, 0);
    ssize_t w = write(l->lost[1], "", 1);
    (void)w;
  }
}

/* Renews the lease (1), finds it taken (0), or cannot ask (-1, err). */
static int renew(struct lease *l, char *err, size_t errsz)
{
  MYSQL *m = lease_conn(l, err, errsz);
  if (!m) return -1;
  struct buf q = BUF_INIT;
  buf_printf(&q, "UPDATE binhook_lease SET expires = NOW(6) + INTERVAL %.0f MICROSECOND, renewed = NOW(6) "
                 "WHERE name = ", l->db->lease * 1e6);
  dbstore_quote(m, &q, l->db->name, strlen(l->db->name));
  buf_adds(&q, " AND owner = ");
  dbstore_quote(m, &q, l->owner, strlen(l->owner));
  buf_printf(&q, " AND epoch = %" PRIu64, dbstore_epoch(l->db));
  int rc = dbstore_exec(l->db, m, q.p, q.len, err, errsz);
  buf_free(&q);
  if (rc) return -1;
  int ok = mysql_affected_rows(m) == 1;
  if (read_info(l, m, err, errsz)) return ok;
  return ok;
}

static void *keeper_main(void *arg)
{
  struct lease *l = arg;
  char err[1024] = "";
  double every = l->db->lease / 4, last = bh_mono();
  /* stop acting a margin before the row can expire for others: the
   * database's clock counts from the renewal, this one from before it */
  double margin = l->db->lease * 0.8;
  while (!atomic_load(&l->stop) && atomic_load(&l->held)) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
    nanosleep(&ts, NULL);
    double now = bh_mono();
    if (now - last > margin) {
      log_error("the lease of '%s' in the state store '%s' was not renewed for %.1fs (%s): stepping down before "
                "another binhook may take over",
                l->db->name, l->db->where, now - last, err[0] ? err : "no answer");
      say_lost(l);
      break;
    }
    if (now - last < every) continue;
    double asked = bh_mono();
    err[0] = 0;
    int r = renew(l, err, sizeof err);
    if (r > 0) {
      last = asked;
      atomic_store(&l->last_ok_ms, (long long)(asked * 1000));
    } else if (r == 0) {
      log_error("another binhook took the lease of '%s' in the state store '%s': stepping down", l->db->name,
                l->db->where);
      say_lost(l);
      break;
    } else {
      log_warn("cannot renew the lease of '%s': %s; retrying", l->db->name, err);
    }
  }
  return NULL;
}

int lease_keep(struct lease *l, char *err, size_t errsz)
{
  if (l->lost[0] < 0) {
    if (pipe(l->lost)) return bh_err(err, errsz, "cannot make a pipe: %s", strerror(errno));
    fcntl(l->lost[0], F_SETFL, O_NONBLOCK);
    fcntl(l->lost[0], F_SETFD, FD_CLOEXEC);
    fcntl(l->lost[1], F_SETFD, FD_CLOEXEC);
  }
  char drain[64];
  while (read(l->lost[0], drain, sizeof drain) > 0) {} /* a loss said before this turn */
  atomic_store(&l->stop, 0);
  if (pthread_create(&l->keeper, NULL, keeper_main, l)) return bh_err(err, errsz, "cannot start the lease thread");
  l->keeping = 1;
  return 0;
}

int lease_lost_fd(struct lease *l) { return l->lost[0]; }
int lease_held(struct lease *l)
{
  if (!l || !atomic_load(&l->held)) return 0;
  /* the keeper may not have run yet (a process stopped and continued):
   * the time since the last renewal says it at once */
  double since = bh_mono() - (double)atomic_load(&l->last_ok_ms) / 1000;
  return since <= l->db->lease * 0.8;
}

void lease_end_turn(struct lease *l)
{
  if (!l) return;
  atomic_store(&l->stop, 1);
  if (l->keeping) {
    pthread_join(l->keeper, NULL);
    l->keeping = 0;
  }
  atomic_store(&l->held, 0);
  dbstore_hold(l->db, 0);
}

void lease_release(struct lease *l)
{
  if (!l) return;
  atomic_store(&l->stop, 1);
  if (l->keeping) {
    pthread_join(l->keeper, NULL);
    l->keeping = 0;
  }
  if (!atomic_load(&l->held)) return;
  char err[512];
  MYSQL *m = lease_conn(l, err, sizeof err);
  if (m) {
    struct buf q = BUF_INIT;
    buf_adds(&q, "UPDATE binhook_lease SET expires = NOW(6) - INTERVAL 1 SECOND WHERE name = ");
    dbstore_quote(m, &q, l->db->name, strlen(l->db->name));
    buf_adds(&q, " AND owner = ");
    dbstore_quote(m, &q, l->owner, strlen(l->owner));
    buf_printf(&q, " AND epoch = %" PRIu64, dbstore_epoch(l->db));
    if (dbstore_exec(l->db, m, q.p, q.len, err, sizeof err)) log_warn("cannot give the lease up: %s", err);
    buf_free(&q);
  }
  atomic_store(&l->held, 0);
  dbstore_hold(l->db, 0);
}

void lease_info(struct lease *l, struct lease_info *out)
{
  pthread_mutex_lock(&l->mu);
  *out = l->info;
  out->mine = out->mine && atomic_load(&l->held);
  pthread_mutex_unlock(&l->mu);
}

void lease_free(struct lease *l)
{
  if (!l) return;
  atomic_store(&l->stop, 1);
  if (l->keeping) pthread_join(l->keeper, NULL);
  if (l->m) mysql_close(l->m);
  if (l->lost[0] >= 0) close(l->lost[0]);
  if (l->lost[1] >= 0) close(l->lost[1]);
  pthread_mutex_destroy(&l->mu);
  free(l);
}
