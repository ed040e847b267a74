/* open.c - opening the snapshot: the session, the consistent-snapshot
 * transaction and its binlog position (MariaDB's snapshot status, or a
 * global read lock, or LOCK TABLES from a second connection while the
 * transaction starts), the list of the selected tables, and snapshot_begin,
 * which settles the handover of a new or a resumed snapshot.
 *
 * snapshot_begin runs on the caller's thread before the snapshot thread
 * exists; open_tx runs again in the snapshot thread when an ALTER TABLE
 * broke the transaction (read.c), and open_session on the consumer's
 * thread when the filter needs a table's columns after the snapshot ended
 * (filter.c). The connection m is set and cleared under s->lock, so that
 * snapshot_stop can shut it down from any thread. */
#include "snapshot/snapshot_int.h"
#include "source/decoder.h"
#include "source/server.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/* The binlog position where the transaction starts, read under a lock. */
static int master_position(struct snapshot *s, struct position *p, char *err, size_t errsz)
{
  int have = server_binlog_position(s->m, p, err, errsz);
  if (have < 0) {
    bh_err(err, errsz,
           "cannot read the binlog position (SHOW MASTER STATUS): %s; the user needs REPLICATION CLIENT "
           "(BINLOG MONITOR on MariaDB)",
           mysql_error(s->m));
    return snap_fail(s, server_errc(mysql_errno(s->m)));
  }
  if (!have)
    return bh_err(err, errsz,
                  "the server reports no binlog position: is log_bin on? ('binhook doctor' checks)");
  return 0;
}

static int start_tx(struct snapshot *s, char *err, size_t errsz)
{
  return snap_exec(s, s->m, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err, errsz);
}

int open_session(struct snapshot *s, char *err, size_t errsz)
{
  char where[300];
  struct conn_opts co = s->o.conn;
  co.read_timeout = 0; /* a chunk may wait long for a slow consumer */
  unsigned code;
  MYSQL *m = conn_open_code(&co, &code, err, errsz);
  if (!m) return snap_fail(s, server_errc(code));
  pthread_mutex_lock(&s->lock);
  s->m = m;
  pthread_mutex_unlock(&s->lock);
  MYSQL_RES *res = snap_query(s, m, "SELECT @@log_bin, @@version", err, errsz);
  if (!res) return -1;
  MYSQL_ROW row = mysql_fetch_row(res);
  int log_bin = row && row[0] && atoi(row[0]) == 1;
  s->mariadb = row && row[1] && strstr(row[1], "MariaDB") != NULL;
  mysql_free_result(res);
  if (!log_bin)
    return bh_err(err, errsz,
                  "binary logging is off on '%s': a snapshot needs the binlog to hand over to; set "
                  "log_bin in the server's my.cnf and restart it",
                  conn_where(&s->o.conn, where, sizeof where));
  /* Values in UTC and in their own charset, whole CHAR values, and no
   * timeout while the consumer makes the reading wait. */
  if (snap_exec(s, m, "SET NAMES utf8mb4", err, errsz) ||
      snap_exec(s, m,
                "SET SESSION time_zone = '+00:00', character_set_results = NULL, sql_mode = '', "
                "net_write_timeout = 31536000, wait_timeout = 31536000, net_read_timeout = 3600",
                err, errsz) ||
      snap_exec(s, m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err, errsz))
    return -1;
  return 0;
}

/* The selected base tables, in name order; *added counts those not known
 * before, which are added only with add (a new transaction within a run
 * does not add tables: one made since the handover is in the stream whole). */
static int list_tables(struct snapshot *s, MYSQL *m, int add, size_t *added, char *err, size_t errsz)
{
  MYSQL_RES *res = snap_query(
      s, m,
      "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0), ENGINE FROM information_schema.TABLES "
      "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
      "'performance_schema', 'sys') ORDER BY TABLE_SCHEMA, TABLE_NAME",
      err, errsz);
  if (!res) return -1;
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res))) {
    if (!row[0] || !row[1] || !decoder_table_selected(s->include, s->exclude, row[0], row[1])) continue;
    struct stab *t = stab_find(s, row[0], row[1]);
    if (!t) {
      if (added) (*added)++;
      if (!add) continue;
      t = stab_add(s, row[0], row[1]);
    }
    t->listed = 1;
    t->estimated = row[2] ? strtoull(row[2], NULL, 10) : 0;
    if (add && row[3] && strcasecmp(row[3], "InnoDB") && strcasecmp(row[3], "ROCKSDB") && !t->warned) {
      t->warned = 1;
      log_warn(
          "'%s.%s' is a %s table, which has no consistent snapshot: rows changed while it is read may not "
          "match the handover position (convert it to InnoDB)",
          t->schema, t->name, row[3]);
    }
  }
  mysql_free_result(res);
  return 0;
}

/* LOCK TABLES ... READ on the listed tables from a second connection, while
 * m starts its transaction and the position is read. */
static int open_with_table_locks(struct snapshot *s, int add, char *err, size_t errsz)
{
  char where[300];
  for (int attempt = 0; attempt < 4; attempt++) {
    size_t nlisted = 0;
    for (size_t i = 0; i < s->ntabs; i++)
      nlisted += s->tabs[i].listed;
    unsigned code;
    MYSQL *lk = conn_open_code(&s->o.conn, &code, err, errsz);
    if (!lk) return snap_fail(s, server_errc(code));
    int rc = -1;
    struct buf sql = BUF_INIT;
    if (snap_exec(s, lk, "SET SESSION lock_wait_timeout = 120", err, errsz)) goto done;
    if (nlisted) {
      buf_adds(&sql, "LOCK TABLES ");
      int first = 1;
      for (size_t i = 0; i < s->ntabs; i++) {
        if (!s->tabs[i].listed) continue;
        if (!first) buf_adds(&sql, ", ");
        first = 0;
        server_add_table(&sql, s->tabs[i].schema, s->tabs[i].name);
        buf_adds(&sql, " READ");
      }
      if (mysql_query(lk, sql.p)) {
        bh_err(err, errsz,
               "cannot lock the tables to snapshot on '%s': %s; the user needs LOCK TABLES (or RELOAD "
               "for a global read lock)",
               conn_where(&s->o.conn, where, sizeof where), mysql_error(lk));
        snap_fail(s, server_errc(mysql_errno(lk)));
        goto done;
      }
    }
    if (start_tx(s, err, errsz) || master_position(s, &s->cur, err, errsz)) goto done;
    /* a table made since the list was taken is not locked: take it again */
    size_t added = 0;
    if (list_tables(s, s->m, add, &added, err, errsz)) goto done;
    if (!add || !added)
      rc = 0;
    else {
      server_exec(s->m, "ROLLBACK", err, errsz);
      rc = 1;
    }
  done:
    if (nlisted) mysql_query(lk, "UNLOCK TABLES");
    mysql_close(lk);
    buf_free(&sql);
    if (rc <= 0) return rc;
  }
  return bh_err(err, errsz, "tables kept being created while the snapshot was opened: try again");
}

int open_tx(struct snapshot *s, int add, char *err, size_t errsz)
{
  char where[300];
  enum snapshot_lock how = s->o.lock;
  if (how == SNAPSHOT_LOCK_AUTO) how = s->mariadb ? SNAPSHOT_LOCK_MARIADB : SNAPSHOT_LOCK_GLOBAL;
  for (size_t i = 0; i < s->ntabs; i++)
    s->tabs[i].listed = 0;
  if (how == SNAPSHOT_LOCK_MARIADB) {
    if (!s->mariadb)
      return bh_err(err, errsz,
                    "the server on '%s' is not MariaDB: its consistent snapshot has no position; use "
                    "the lock way (auto, global or tables)",
                    conn_where(&s->o.conn, where, sizeof where));
    if (start_tx(s, err, errsz)) return -1;
    MYSQL_RES *res = snap_query(s, s->m, "SHOW STATUS LIKE 'binlog_snapshot_%'", err, errsz);
    if (!res) return -1;
    MYSQL_ROW row;
    memset(&s->cur, 0, sizeof s->cur);
    int have = 0;
    while ((row = mysql_fetch_row(res))) {
      if (!row[0] || !row[1]) continue;
      if (!strcasecmp(row[0], "binlog_snapshot_file"))
        snprintf(s->cur.file, sizeof s->cur.file, "%s", row[1]), have |= 1;
      if (!strcasecmp(row[0], "binlog_snapshot_position")) s->cur.pos = strtoull(row[1], NULL, 10), have |= 2;
    }
    mysql_free_result(res);
    if (have != 3 || !s->cur.file[0])
      return bh_err(err, errsz,
                    "the server on '%s' reports no binlog_snapshot_file: is log_bin on? ('binhook "
                    "doctor' checks)",
                    conn_where(&s->o.conn, where, sizeof where));
    s->used_lock = SNAPSHOT_LOCK_MARIADB;
    return list_tables(s, s->m, add, NULL, err, errsz);
  }
  if (how == SNAPSHOT_LOCK_GLOBAL) {
    if (snap_exec(s, s->m, "SET SESSION lock_wait_timeout = 120", err, errsz)) return -1;
    if (mysql_query(s->m, "FLUSH TABLES WITH READ LOCK") == 0) {
      int rc = start_tx(s, err, errsz) || master_position(s, &s->cur, err, errsz) ? -1 : 0;
      char e2[256];
      if (snap_exec(s, s->m, "UNLOCK TABLES", e2, sizeof e2) && !rc) rc = bh_err(err, errsz, "%s", e2);
      if (rc) return -1;
      s->used_lock = SNAPSHOT_LOCK_GLOBAL;
      return list_tables(s, s->m, add, NULL, err, errsz);
    }
    enum bh_errc code = server_errc(mysql_errno(s->m));
    if (s->o.lock == SNAPSHOT_LOCK_GLOBAL || code != BH_E_ACCESS) {
      bh_err(err, errsz,
             "cannot take the global read lock on '%s': %s (the user needs RELOAD; or use table locks)",
             conn_where(&s->o.conn, where, sizeof where), mysql_error(s->m));
      return snap_fail(s, code);
    }
    log_notice("the global read lock is refused on '%s' (%s): locking the snapshot's tables instead",
               conn_where(&s->o.conn, where, sizeof where), mysql_error(s->m));
  }
  /* per-table locks: the tables first */
  if (list_tables(s, s->m, add, NULL, err, errsz)) return -1;
  if (open_with_table_locks(s, add, err, errsz)) return -1;
  s->used_lock = SNAPSHOT_LOCK_TABLES;
  return 0;
}

/* The unfinished snapshot of the state goes on at cur: said once, and the
 * tables with bands note the keys they read again. */
static void resume_notice(struct snapshot *s)
{
  s->resumed = 1;
  for (size_t i = 0; i < s->ntabs; i++)
    if (s->tabs[i].nbands && !s->tabs[i].done) s->tabs[i].collecting = 1;
  size_t ndone = 0;
  for (size_t i = 0; i < s->ntabs; i++)
    ndone += s->tabs[i].done;
  log_notice("resuming the snapshot begun at %s:%" PRIu64 " (%" PRIu64
             " rows done, %zu of %zu tables finished): "
             "the rest is read at %s:%" PRIu64 " and the stream still starts at %s:%" PRIu64,
             s->handover.file, s->handover.pos, s->ordinal, ndone, s->ntabs, s->cur.file, s->cur.pos,
             s->handover.file, s->handover.pos);
}

/* A table of the state that is gone (or no longer selected) reads as
 * empty from here: its changes between the snapshots are dropped. */
static void drop_gone(struct snapshot *s)
{
  for (size_t i = 0; i < s->ntabs; i++) {
    struct stab *t = &s->tabs[i];
    if (t->listed || t->done) continue;
    log_warn(
        "'%s.%s' of the unfinished snapshot is gone or no longer selected: its snapshot stops at the rows "
        "read so far",
        t->schema, t->name);
    t->segs = xrealloc(t->segs, (t->nsegs + 1) * sizeof *t->segs);
    t->segs[t->nsegs++] = (struct seg){.pos = s->cur, .upto = NULL};
    t->done = 1;
  }
}

/* The state directory made, the state written where it is new or holds the
 * bands of the chunks the last run sent, and the sent file removed. */
static int prepare_state_dir(struct snapshot *s, int have, char *err, size_t errsz)
{
  struct stat st;
  if (stat(s->state_dir, &st) < 0 && mkdir(s->state_dir, 0700) < 0 && errno != EEXIST) {
    char ebuf[128];
    return bh_err(err, errsz, "cannot make the state directory '%s': %s", s->state_dir,
                  bh_strerror(errno, ebuf, sizeof ebuf));
  }
  if (!have || s->taken_sent) {
    /* a new state, or one with the bands of the chunks the last run sent:
     * written before this run sends anything, which overwrites SENT_NAME */
    if (statefile_write(s, err, errsz)) return -1;
    s->taken_sent = 0;
  }
  return statefile_remove_sent(s->state_dir, err, errsz);
}

int snapshot_begin(struct snapshot *s, char *err, size_t errsz)
{
  char where[300];
  s->code = BH_E_NONE;
  if (s->begun) {
    bh_err(err, errsz, "the snapshot was begun already");
    return snap_failed(s);
  }
  s->begun = 1;
  int done = 0, have = 0;
  if (s->state_dir) {
    struct buf text = BUF_INIT;
    have = statefile_read(s->state_dir, STATE_NAME, &text, err, errsz);
    if (have > 0 && statefile_load(s, &text, &done, err, errsz)) have = -1;
    buf_free(&text);
    if (have < 0) return snap_failed(s);
  }
  if (done) {
    s->finished = 1;
    filter_window(s);
    progress_setup(s);
    return 0;
  }
  if (have && s->state_dir && statefile_take_sent(s, err, errsz)) return snap_failed(s);
  if (s->o.conn.postgres ? pg_snap_session(s, err, errsz) || pg_snap_open_tx(s, !have && !s->o.beside, err, errsz)
                         : open_session(s, err, errsz) || open_tx(s, 1, err, errsz))
    goto fail;
  s->ts = (uint32_t)time(NULL);
  if (!have)
    s->handover = s->cur;
  else
    resume_notice(s);
  drop_gone(s);
  if (s->state_dir && prepare_state_dir(s, have, err, errsz)) goto fail;
  progress_setup(s);
  log_info("snapshot of %zu table%s at %s:%" PRIu64 " (%s) on '%s'", s->ntabs, s->ntabs == 1 ? "" : "s",
           s->cur.file, s->cur.pos,
           s->pg                                  ? "the slot's exported snapshot, no lock"
           : s->used_lock == SNAPSHOT_LOCK_MARIADB ? "MariaDB's consistent snapshot, no lock"
           : s->used_lock == SNAPSHOT_LOCK_GLOBAL ? "global read lock while it opened"
                                                  : "table locks while it opened",
           conn_where(&s->o.conn, where, sizeof where));
  return 1;
fail:
  snap_close(s);
  return snap_failed(s);
}

const struct position *snapshot_handover(const struct snapshot *s)
{
  return &s->handover;
}
