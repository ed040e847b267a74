/* standby.c - see standby.h. */
#include "daemon/standby.h"
#include "admin/admin.h"
#include "store/dbstore.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/util.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct wait {
  struct standby *sb;
  const struct config *cfg;
  struct event_base *base;
  int result;        /* -1 while waiting */
  int reachable;     /* the last try reached the store */
  char why[1024];    /* why it did not */
  double since;      /* waiting since (monotonic) */
  int told;          /* the holder was said */
  char said[1024];   /* the last failure logged, and when (monotonic): the same one again every 30 s */
  double said_at;
};

/* A failure to reach the store, logged when it is new or every 30 s (a
 * standby tries every second). */
static void say_failure(struct wait *w, const char *what)
{
  double now = bh_mono();
  if (!strcmp(w->said, w->why) && now - w->said_at < 30) return;
  snprintf(w->said, sizeof w->said, "%s", w->why);
  w->said_at = now;
  log_warn("standby: %s: %s; trying again every second", what, w->why);
}

static void wait_status(void *ctx, struct buf *b)
{
  struct wait *w = ctx;
  struct lease_info li = {0};
  if (w->sb->lease) lease_info(w->sb->lease, &li);
  buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"role\":\"standby\",\"store\":", BINHOOK_VERSION, (long)getpid());
  const char *where = w->sb->db ? dbstore_where(w->sb->db) : "";
  buf_add_json_str(b, where, strlen(where));
  buf_printf(b, ",\"reachable\":%s,\"lease\":{\"held\":%s,\"host\":", w->reachable ? "true" : "false",
             li.held ? "true" : "false");
  buf_add_json_str(b, li.host, strlen(li.host));
  buf_printf(b, ",\"pid\":%ld,\"epoch\":%llu,\"age_seconds\":%.1f,\"takeovers\":%llu}", li.pid,
             (unsigned long long)li.epoch, li.age, (unsigned long long)li.takeovers);
  if (!w->reachable && w->why[0]) {
    buf_adds(b, ",\"error\":");
    buf_add_json_str(b, w->why, strlen(w->why));
  }
  buf_adds(b, "}\n");
}

static void wait_metrics(void *ctx, struct buf *b)
{
  struct wait *w = ctx;
  struct lease_info li = {0};
  if (w->sb->lease) lease_info(w->sb->lease, &li);
  buf_adds(b, "# HELP binhook_active 1 while this binhook holds the lease and works, 0 as a standby.\n"
              "# TYPE binhook_active gauge\nbinhook_active 0\n");
  buf_printf(b, "# HELP binhook_lease_takeovers_total Times a binhook took the lease from another.\n"
                "# TYPE binhook_lease_takeovers_total counter\nbinhook_lease_takeovers_total %llu\n",
             (unsigned long long)li.takeovers);
  buf_printf(b, "# HELP binhook_lease_age_seconds Seconds since the active renewed the lease.\n"
                "# TYPE binhook_lease_age_seconds gauge\nbinhook_lease_age_seconds %.1f\n",
             li.age);
}

static int wait_healthy(void *ctx, char *why, size_t whysz)
{
  struct wait *w = ctx;
  if (!w->reachable) {
    bh_err(why, whysz, "standby: the state store cannot be reached: %s", w->why);
    return 0;
  }
  return 1; /* a standby ready to take over is healthy */
}

static int wait_busy(struct wait *w, struct buf *b)
{
  struct lease_info li = {0};
  if (w->sb->lease) lease_info(w->sb->lease, &li);
  buf_printf(b, "{\"error\":\"this binhook is a standby: ask the active one (on %s, pid %ld)\"}\n",
             li.host[0] ? li.host : "another host", li.pid);
  return 503;
}

static int wait_dlq(void *ctx, enum admin_dlq_op op, const struct admin_sel *sel, struct buf *b)
{
  (void)op, (void)sel;
  return wait_busy(ctx, b);
}

static int wait_snapshot(void *ctx, char *const *tables, struct buf *b)
{
  (void)tables;
  return wait_busy(ctx, b);
}

static int wait_enable(void *ctx, const char *endpoint, struct buf *b)
{
  (void)endpoint;
  return wait_busy(ctx, b);
}

static int wait_attempts(void *ctx, const char *query, struct buf *b)
{
  (void)query;
  return wait_busy(ctx, b);
}

/* Opens the store when not yet open: 0, 1 not reachable yet (why in w),
 * -1 unusable (logged). */
static int open_store(struct wait *w)
{
  if (w->sb->db) return 0;
  struct conn_opts co;
  char *database = NULL, err[1024];
  if (config_state_conn(w->cfg, &co, &database, err, sizeof err)) {
    log_error("cannot start: %s", err);
    return -1;
  }
  const struct config_state *st = &w->cfg->state;
  w->sb->db = dbstore_open(&co, database, st->name, st->lease, w->why, sizeof w->why);
  conn_opts_free(&co);
  free(database);
  if (!w->sb->db) return 1;
  w->sb->lease = lease_new(w->sb->db);
  return 0;
}

static void try_once(struct wait *w)
{
  int o = open_store(w);
  if (o < 0) {
    w->result = 2;
    event_base_loopbreak(w->base);
    return;
  }
  w->reachable = o == 0;
  if (o) {
    say_failure(w, "cannot open the state store");
    return;
  }
  struct lease_info li;
  int took = lease_try(w->sb->lease, &li, w->why, sizeof w->why);
  w->reachable = took >= 0;
  if (took < 0) {
    say_failure(w, "cannot take the lease");
    return;
  }
  w->said[0] = 0;
  if (took) {
    w->result = 0;
    event_base_loopbreak(w->base);
    return;
  }
  if (!w->told) {
    log_notice("standby: '%s' is active on %s (pid %ld, epoch %llu); taking over when its lease lapses",
               dbstore_name(w->sb->db), li.host, li.pid, (unsigned long long)li.epoch);
    w->told = 1;
  }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
  (void)fd, (void)what;
  try_once(arg);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
  struct wait *w = arg;
  (void)what;
  log_notice("%s: stopping (a standby, nothing to hand over)", fd == SIGINT ? "SIGINT" : "SIGTERM");
  w->result = 1;
  event_base_loopbreak(w->base);
}

int standby_wait(struct standby *sb, const struct config *cfg)
{
  struct wait w = {.sb = sb, .cfg = cfg, .result = -1, .since = bh_mono()};
  try_once(&w);
  if (w.result == 0) goto took;
  if (w.result == 2) return 2;
  w.base = event_base_new();
  bh_assert(w.base);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  struct event *tick = event_new(w.base, -1, EV_PERSIST, on_tick, &w);
  struct event *term = evsignal_new(w.base, SIGTERM, on_signal, &w);
  struct event *intr = evsignal_new(w.base, SIGINT, on_signal, &w);
  struct timeval sec = {1, 0};
  event_add(tick, &sec);
  evsignal_add(term, NULL);
  evsignal_add(intr, NULL);
  struct admin *ad = NULL;
  const struct config_admin *ac = &cfg->admin;
  if (ac->listen) {
    char err[1024];
    struct admin_ops ops = {&w, wait_metrics, wait_status, wait_healthy, wait_dlq, wait_snapshot, wait_enable, wait_attempts, NULL, NULL};
    struct admin_conf conf = {.listen = ac->listen, .token = ac->token, .hosts = ac->hosts, .max_conns = ac->max_connections};
    if (!(ad = admin_start(w.base, &conf, &ops, err, sizeof err))) {
      log_error("cannot start: %s", err);
      w.result = 2;
    }
  }
  if (w.result < 0) {
    sd_notify_msg("READY=1\nSTATUS=standby");
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    event_base_dispatch(w.base);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* until the active turn's handlers are in place */
  }
  admin_free(ad);
  event_free(tick);
  event_free(term);
  event_free(intr);
  event_base_free(w.base);
  if (w.result != 0) return w.result < 0 ? 1 : w.result;
took:;
  struct lease_info li;
  lease_info(sb->lease, &li);
  sb->turns++;
  log_notice("active: took the lease of '%s' in the state store '%s' (epoch %llu, %llu takeovers so far) after %.1fs "
             "as a standby",
             dbstore_name(sb->db), dbstore_where(sb->db), (unsigned long long)li.epoch,
             (unsigned long long)li.takeovers, bh_mono() - w.since);
  return 0;
}

void standby_free(struct standby *sb)
{
  if (sb->lease) {
    lease_release(sb->lease);
    lease_free(sb->lease);
  }
  dbstore_free(sb->db);
  memset(sb, 0, sizeof *sb);
}
