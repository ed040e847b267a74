/* snapshot.c - see snapshot.h: the life cycle of a snapshot, its thread
 * and the tables it holds.
 *
 * snapshot_new, snapshot_free, snapshot_start and snapshot_join run on the
 * caller's thread; snapshot_stop on any thread; snapshot_main is the
 * snapshot thread: it reads every chunk (read.c), then starts the source so
 * that the stream follows in the same queue. What it shares with the
 * consumer, and under which lock, is in snapshot_int.h. */
#include "snapshot/snapshot_int.h"
#include "source/server.h"
#include "event/changeq.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int snapshot_parse_lock(const char *name, enum snapshot_lock *out)
{
  static const char *const names[] = {"auto", "mariadb", "global", "tables"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) {
      *out = (enum snapshot_lock)i;
      return 0;
    }
  return -1;
}

/* ---- failures ---- */

int snap_fail(struct snapshot *s, enum bh_errc code)
{
  s->code = code;
  return -1;
}

int snap_exec(struct snapshot *s, MYSQL *m, const char *sql, char *err, size_t errsz)
{
  if (server_exec(m, sql, err, errsz)) return snap_fail(s, server_errc(mysql_errno(m)));
  return 0;
}

MYSQL_RES *snap_query(struct snapshot *s, MYSQL *m, const char *sql, char *err, size_t errsz)
{
  MYSQL_RES *r = server_query(m, sql, err, errsz);
  if (!r) snap_fail(s, server_errc(mysql_errno(m)));
  return r;
}

int snap_failed(struct snapshot *s)
{
  s->errc = atomic_load(&s->stop) ? BH_E_NONE : s->code ? s->code : BH_E_OTHER;
  return -1;
}

enum bh_errc snapshot_errc(struct snapshot *s)
{
  return s->errc;
}

/* ---- tables ---- */

void stab_unload(struct stab *t)
{
  for (uint32_t i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].data_type);
    free(t->cols[i].charset);
    free(t->cols[i].collation);
    if (t->cells) free(t->cells[i].data);
  }
  free(t->cols);
  free(t->cells);
  free(t->binds);
  free(t->pk);
  table_unref(t->t);
  t->cols = NULL, t->cells = NULL, t->binds = NULL, t->pk = NULL, t->t = NULL;
  t->ncols = t->npk = 0;
}

static void stab_free(struct stab *t)
{
  stab_unload(t);
  for (size_t i = 0; i < t->nsegs; i++)
    key_free(t->segs[i].upto);
  free(t->segs);
  for (size_t i = 0; i < t->nbands; i++) {
    key_free(t->bands[i].after);
    key_free(t->bands[i].upto);
  }
  free(t->bands);
  for (size_t i = 0; i < t->npresent; i++)
    free(t->present[i]);
  free(t->present);
  free(t->schema);
  free(t->name);
}

struct stab *stab_find(struct snapshot *s, const char *schema, const char *name)
{
  for (size_t i = 0; i < s->ntabs; i++)
    if (!strcmp(s->tabs[i].schema, schema) && !strcmp(s->tabs[i].name, name)) return &s->tabs[i];
  return NULL;
}

struct stab *stab_add(struct snapshot *s, const char *schema, const char *name)
{
  s->tabs = xrealloc(s->tabs, (s->ntabs + 1) * sizeof *s->tabs);
  struct stab *t = &s->tabs[s->ntabs++];
  memset(t, 0, sizeof *t);
  t->schema = xstrdup(schema);
  t->name = xstrdup(name);
  return t;
}

void stab_present_add(struct stab *t, char *text)
{
  if (t->npresent == t->cpresent) {
    t->cpresent = t->cpresent ? 2 * t->cpresent : 256;
    t->present = xrealloc(t->present, t->cpresent * sizeof *t->present);
  }
  t->present[t->npresent++] = text;
  t->present_sorted = 0;
}

/* ---- life cycle ---- */

struct snapshot *snapshot_new(const struct snapshot_opts *o)
{
  struct snapshot *s = xcalloc(1, sizeof *s);
  s->o = *o;
  conn_opts_copy(&s->o.conn, &o->conn);
  s->include = bh_strv_copy(o->include);
  s->exclude = bh_strv_copy(o->exclude);
  s->state_dir = o->state_dir ? xstrdup(o->state_dir) : NULL;
  s->o.slot = xstrdup(o->slot ? o->slot : "binhook");
  s->o.publication = xstrdup(o->publication ? o->publication : "binhook");
  if (!s->o.chunk_rows) s->o.chunk_rows = 10000;
  s->cs = charset_conv_new();
  pthread_mutex_init(&s->lock, NULL);
  s->pend_tail = &s->pend;
  atomic_init(&s->stop, 0);
  atomic_init(&s->streaming, 0);
  atomic_init(&s->complete, 0);
  return s;
}

void snap_close(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  MYSQL *m = s->m;
  PGconn *pg = s->pg;
  s->m = NULL;
  s->pg = NULL;
  pthread_mutex_unlock(&s->lock);
  if (m) mysql_close(m);
  if (pg) PQfinish(pg);
}

void snapshot_free(struct snapshot *s)
{
  if (!s) return;
  snapshot_stop(s);
  snapshot_join(s);
  snap_close(s);
  if (s->cmp) mysql_close(s->cmp);
  table_unref((struct table *)s->fmap_table);
  free(s->fmap);
  for (size_t i = 0; i < s->ntabs; i++)
    stab_free(&s->tabs[i]);
  free(s->tabs);
  free(s->prog);
  while (s->pend) {
    struct pending *p = s->pend;
    s->pend = p->next;
    free(p->json);
    free(p);
  }
  for (size_t i = 0; i < s->nsent; i++)
    free(s->sent[i].json);
  free(s->sent);
  charset_conv_free(s->cs);
  bh_strv_free(s->include);
  bh_strv_free(s->exclude);
  free(s->state_dir);
  free((char *)s->o.slot);
  free((char *)s->o.publication);
  conn_opts_free(&s->o.conn);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* ---- the thread ---- */

/* The code of a failed source_start at the handover: the one a caller acts
 * on is that the server no longer has the handover's binlog. */
static enum bh_errc start_errc(struct snapshot *s)
{
  if (s->o.conn.postgres) return BH_E_OTHER; /* the slot keeps the WAL from the handover */
  return server_has_binlog(&s->o.conn, s->handover.file) == 0 ? BH_E_PURGED : BH_E_OTHER;
}

static void *snapshot_main(void *arg)
{
  struct snapshot *s = arg;
  char err[1500];
  int rc = snapshot_run(s, err, sizeof err);
  if (rc) {
    if (!atomic_load(&s->stop)) {
      snprintf(s->err, sizeof s->err, "snapshot: %s", err);
      s->failed = 1;
    }
    changeq_close(s->q);
    return NULL;
  }
  if (s->o.no_stream) {
    atomic_store(&s->streaming, 1);
    changeq_close(s->q);
    return NULL;
  }
  if (!atomic_load(&s->stop) && source_start(s->src, err, sizeof err)) {
    snprintf(s->err, sizeof s->err, "%s", err);
    s->errc = start_errc(s);
    s->failed = 1;
    changeq_close(s->q);
    return NULL;
  }
  atomic_store(&s->streaming, 1);
  return NULL;
}

int snapshot_start(struct snapshot *s, struct source *src, char *err, size_t errsz)
{
  if (!s->begun) return bh_err(err, errsz, "snapshot_start before snapshot_begin");
  s->src = src;
  s->q = source_queue(src);
  if (pthread_create(&s->thread, NULL, snapshot_main, s)) {
    return bh_err(err, errsz, "cannot start the snapshot thread");
  }
  s->thread_started = 1;
  return 0;
}

const char *snapshot_error(struct snapshot *s)
{
  return s->failed ? s->err : NULL;
}


int snapshot_unfinished(struct snapshot *s)
{
  return !atomic_load(&s->complete);
}

void snapshot_stop(struct snapshot *s)
{
  atomic_store(&s->stop, 1);
  pthread_mutex_lock(&s->lock);
  if (s->m) {
    int fd = (int)mysql_get_socket(s->m);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  if (s->pg && PQsocket(s->pg) >= 0) shutdown(PQsocket(s->pg), SHUT_RDWR);
  pthread_mutex_unlock(&s->lock);
  if (s->thread_started && s->q && !atomic_load(&s->streaming)) changeq_close(s->q);
}

void snapshot_join(struct snapshot *s)
{
  if (s->thread_started) {
    pthread_join(s->thread, NULL);
    s->thread_started = 0;
  }
}
