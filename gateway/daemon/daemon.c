/* daemon.c - see daemon.h: the loop's own events (the tick, signals, the
 * grace period of a stop), the admin server's handlers, and the order in
 * which the parts are built and torn down. */
#include "daemon/daemon.h"
#include "admin/admin.h"
#include "admin/views.h"
#include "daemon/coalesce.h"
#include "daemon/dlq.h"
#include "daemon/epstate.h"
#include "daemon/intake.h"
#include "daemon/job.h"
#include "daemon/lane.h"
#include "daemon/ondemand.h"
#include "daemon/reload.h"
#include "daemon/sched.h"
#include "daemon/spool.h"
#include "daemon/startup.h"
#include "deliver/deliver.h"
#include "deliver/order.h"
#include "event/changeq.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/source.h"
#include "store/dbstore.h"
#include "store/retryq.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/util.h"

#include <event2/event.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The snapshot's progress is saved once the deliveries of its rows up to a
 * chunk marker are all acknowledged or durable. */
static void save_snapshot_progress(struct daemon *dm, const char *when)
{
  char err[512];
  if (!dm->snap || dm->marks.snap_ready <= dm->snap_saved) return;
  if (snapshot_commit(dm->snap, dm->marks.snap_ready, err, sizeof err))
    log_error("the snapshot's progress cannot be saved: %s (%s reads those rows again)", err, when);
  else
    dm->snap_saved = dm->marks.snap_ready;
}

/* The checkpoint, when it moved, goes to the retry queue's writer: saved
 * after the records it depends on. */
static void hand_checkpoint(struct daemon *dm)
{
  if (!dm->marks.dirty) return;
  dm->marks.cp.saved = (int64_t)time(NULL);
  retryq_set_checkpoint(dm->dq, &dm->marks.cp);
  dm->marks.dirty = 0;
}

/* The checkpoint saved durably is what a PostgreSQL source's slot may
 * confirm: the server keeps the WAL after it (nothing for a binlog source). */
static void confirm_checkpoint(struct daemon *dm)
{
  struct position saved;
  if (dm->src && dm->dq && retryq_saved_position(dm->dq, &saved)) source_confirm(dm->src, &saved);
}

/* Once a second: deliveries unfinished for a while go into the queue, the
 * snapshot's progress and the checkpoint are handed on, rates are taken. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)fd, (void)what;
  spool_spill_old(dm);
  save_snapshot_progress(dm, "a restart");
  if (dm->snapshotting && !snapshot_unfinished(dm->snap)) {
    dm->snapshotting = 0;
    log_notice("the initial snapshot is done: streaming the binlog from its position");
  }
  hand_checkpoint(dm);
  confirm_checkpoint(dm);
  pulse_tick(dm);
  series_tick(dm);
  double now = bh_mono();
  for (struct lane *l = dm->lanes; l; l = l->next) {
    if (l->not_before && (int64_t)time(NULL) >= l->not_before) { /* the receiver's Retry-After is over */
      l->not_before = 0;
      sched_pump(dm, l);
    }
    double dt = now - l->rate_t;
    if (dt >= 0.5) {
      double cur = (double)(l->delivered - l->rate_seen) / dt;
      l->rate = (l->rate + cur) / 2;
      l->rate_seen = l->delivered;
      l->rate_t = now;
    }
    spool_refill(dm, l);
  }
  daemon_update_pause(dm);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)fd, (void)what;
  log_warn("%zu deliveries still in flight after %.0f s: stopping; they stay in the retry queue", dm->inengine,
           GRACE_SECONDS);
  event_base_loopbreak(dm->base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)what;
  if (dm->stopping) {
    log_notice("second signal: stopping now (what is in flight stays in the retry queue)");
    event_base_loopbreak(dm->base);
    return;
  }
  log_notice("%s: stopping; %zu deliveries in flight", fd == SIGINT ? "SIGINT" : "SIGTERM", dm->inengine);
  sd_notify_msg("STOPPING=1");
  dm->stopping = 1;
  event_del(dm->qev);
  /* what waits in the engine for a slot, the rate limit or a closed
   * circuit is not on the wire: it goes back to the queue at once; only the
   * transfers under way get the grace period */
  for (struct lane *l = dm->lanes; l && dm->inengine; l = l->next)
    deliver_cancel(dm->d, &l->out, BH_E_NOT_SENT, "not sent: binhook is stopping");
  if (!dm->inengine) {
    event_base_loopbreak(dm->base);
    return;
  }
  log_notice("waiting up to %.0f s for %zu deliveries under way", GRACE_SECONDS, dm->inengine);
  struct timeval tv = bh_timeval(GRACE_SECONDS);
  if (!dm->grace) dm->grace = evtimer_new(dm->base, on_grace, dm);
  evtimer_add(dm->grace, &tv);
}

void daemon_step_down(struct daemon *dm, const char *why)
{
  if (dm->lost) return;
  dm->lost = 1;
  log_error("stepping down to standby: %s; %zu deliveries in flight are abandoned (the new active makes them again)",
            why, dm->inengine);
  dm->stopping = 1;
  if (dm->qev) event_del(dm->qev);
  event_base_loopbreak(dm->base);
}

static void on_lease_lost(evutil_socket_t fd, short what, void *arg)
{
  (void)fd, (void)what;
  daemon_step_down(arg, "the lease is lost");
}

/* ---- the admin server's handlers ---- */

static void admin_metrics(void *ctx, struct buf *b)
{
  struct stats s;
  stats_collect(ctx, &s);
  view_metrics(&s, b);
  stats_free(&s);
}

static void admin_status(void *ctx, struct buf *b)
{
  struct stats s;
  stats_collect(ctx, &s);
  view_status(&s, b);
  stats_free(&s);
}

static int admin_healthy(void *ctx, char *why, size_t whysz)
{
  struct daemon *dm = ctx;
  if (dm->stopping) return bh_err(why, whysz, "stopping"), 0;
  if (dm->queue_bad) {
    char err[2048] = "";
    retryq_error(dm->dq, err, sizeof err);
    return bh_err(why, whysz, "the %s cannot be written: %s", dm->db ? "state store" : "state directory", err), 0;
  }
  if (dm->snapshotting) return bh_err(why, whysz, "taking the initial snapshot"), 0;
  if (!source_connected(dm->src)) {
    char last[3000];
    if (source_retry_error(dm->src, last, sizeof last))
      return bh_err(why, whysz, "not connected to the server (reconnecting): %s", last), 0;
    return bh_err(why, whysz, "not connected to the server (reconnecting)"), 0;
  }
  return 1;
}

static int admin_dlq(void *ctx, enum admin_dlq_op op, const struct admin_sel *sel, struct buf *b)
{
  return dlq_op(ctx, op, sel, b);
}

static int admin_snapshot(void *ctx, char *const *tables, struct buf *b) { return ondemand_start(ctx, tables, b); }

static int admin_enable(void *ctx, const char *endpoint, struct buf *b)
{
  return epstate_enable(ctx, endpoint, "asked through the admin server", b);
}

static int admin_attempts(void *ctx, const char *query, struct buf *b)
{
  struct daemon *dm = ctx;
  return attempts_query(&dm->attempts, query, b);
}

static int admin_rules(void *ctx, struct buf *b) { return console_rules(ctx, b); }

static int admin_series(void *ctx, struct buf *b) { return console_series(ctx, b); }

/* ---- open, run, close ---- */

/* libevent's own messages go through the daemon's log (its format, its
 * level), once a second at most for the same severity: a condition that
 * repeats (an error on every wake-up) must not flood the log. */
static void libevent_log(int severity, const char *msg)
{
  /* the engine threads' loops log here too */
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static double said[EVENT_LOG_ERR + 1];
  static unsigned long long unsaid[EVENT_LOG_ERR + 1];
  int s = severity < EVENT_LOG_DEBUG || severity > EVENT_LOG_ERR ? EVENT_LOG_ERR : severity;
  double now = bh_mono();
  pthread_mutex_lock(&mu);
  int quiet = now - said[s] < 1;
  unsigned long long more = unsaid[s];
  if (quiet) {
    unsaid[s]++;
  } else {
    said[s] = now;
    unsaid[s] = 0;
  }
  pthread_mutex_unlock(&mu);
  if (quiet) return;
  enum log_level lvl = s == EVENT_LOG_DEBUG ? LOG_DEBUG
                       : s == EVENT_LOG_MSG ? LOG_INFO
                       : s == EVENT_LOG_WARN ? LOG_WARN
                                             : LOG_ERROR;
  if (more) log_msg(lvl, "libevent: %s (and %llu more such messages in the last second)", msg, more);
  else log_msg(lvl, "libevent: %s", msg);
}

/* The loop and its events, the engine, the lanes, the queue read back. */
static void build_loop(struct daemon *dm)
{
  event_set_log_callback(libevent_log);
  dm->base = event_base_new();
  bh_assert(dm->base);
  dm->m = matcher_new(dm->rs);
  dm->order = order_new();
  dm->d = deliver_new(dm->base, sched_on_done, dm);
  dm->q = source_queue(dm->src);
  dm->qev = event_new(dm->base, changeq_fd(dm->q), EV_READ | EV_PERSIST, intake_take, dm);
  dm->dqev = event_new(dm->base, retryq_fd(dm->dq), EV_READ | EV_PERSIST, spool_on_durable, dm);
  event_add(dm->dqev, NULL);
  dm->tick = event_new(dm->base, -1, EV_PERSIST, on_tick, dm);
  dm->retry_ev = evtimer_new(dm->base, sched_on_retry_timer, dm);
  struct timeval sec = {1, 0};
  event_add(dm->tick, &sec);
  dm->started = time(NULL);
  for (size_t i = 0; i < dm->rs->nendpoints; i++) lane_get(dm, dm->rs->endpoints[i].name); /* in /metrics from the start */
  epstate_restore(dm); /* before the queue's deliveries: a disabled endpoint's go to the dead letters */
  spool_restore(dm);
  event_add(dm->qev, NULL);
  dm->sighup = evsignal_new(dm->base, SIGHUP, reload_on_sighup, dm);
  dm->sigterm = evsignal_new(dm->base, SIGTERM, on_stop, dm);
  dm->sigint = evsignal_new(dm->base, SIGINT, on_stop, dm);
  evsignal_add(dm->sighup, NULL);
  evsignal_add(dm->sigterm, NULL);
  evsignal_add(dm->sigint, NULL);
  if (dm->lease) {
    dm->lease_ev = event_new(dm->base, lease_lost_fd(dm->lease), EV_READ | EV_PERSIST, on_lease_lost, dm);
    event_add(dm->lease_ev, NULL);
    if (!lease_held(dm->lease)) daemon_step_down(dm, "the lease was lost while starting");
  }
}

int daemon_open(struct daemon *dm)
{
  char err[1024];
  srandom((unsigned)time(NULL) ^ (unsigned)getpid());
  signal(SIGPIPE, SIG_IGN);
  attempts_init(&dm->attempts, dm->rs->cfg.admin.attempts);
  int rc = startup_state(dm);
  if (rc) return rc;
  /* Signals wait until their handlers are in place; the reader, snapshot
   * and engine threads inherit the mask and never take them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  if ((rc = startup_source(dm))) return rc;
  build_loop(dm);
  const struct config_admin *ad = &dm->rs->cfg.admin;
  if (ad->listen) {
    struct admin_ops ops = {dm, admin_metrics, admin_status, admin_healthy, admin_dlq, admin_snapshot, admin_enable,
                            admin_attempts, admin_rules, admin_series};
    struct admin_conf ac = {.listen = ad->listen, .token = ad->token, .hosts = ad->hosts, .max_conns = ad->max_connections};
    if (!(dm->admin = admin_start(dm->base, &ac, &ops, err, sizeof err))) {
      log_error("cannot start: %s", err);
      dm->failed = 1;
      return 1;
    }
    log_info("admin server on http://%s (/metrics, /healthz, /status, /dlq)", ad->listen);
  }
  pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
  sd_notify_msg("READY=1");
  return 0;
}

void daemon_run(struct daemon *dm)
{
  if (dm->lost) return; /* stepped down while starting: a loopbreak then is forgotten by dispatch */
  event_base_dispatch(dm->base);
  if (!dm->stopping) sd_notify_msg("STOPPING=1"); /* a signal's on_stop has said it already */
}

/* What the loop leaves behind at a stop goes into the retry queue: what
 * the engine holds, what is being coalesced, what was never written; then
 * the checkpoint those records allow. */
static void drain(struct daemon *dm)
{
  char err[1024];
  ondemand_cut(dm);
  while (dm->backlog) { /* not fed: the checkpoint is before them */
    struct change *next = dm->backlog->next;
    change_free(dm->backlog);
    dm->backlog = next;
  }
  source_stop(dm->src);
  dm->stopping = 1;
  deliver_free(dm->d); /* hands back what is in flight: it stays in the queue */
  dm->d = NULL;
  /* updates being coalesced become their deliveries, and what was never
   * written goes into the queue now */
  coalesce_flush_all(dm);
  while (dm->fresh) spool_spill(dm, dm->fresh, (int64_t)time(NULL));
  if (dm->lost)
    log_notice("stepping down: nothing more is written to the state store (what was not written is made again by "
               "the new active)");
  else if (retryq_sync(dm->dq, 30, err, sizeof err))
    log_error("the retry queue could not be written at the stop: %s; the checkpoint stays where the written "
              "part allows, so the binlog gives the rest again at the next start",
              err);
  spool_on_durable(-1, 0, dm);
  if (!dm->lost) {
    save_snapshot_progress(dm, "the next start");
    hand_checkpoint(dm);
  }
  log_notice("stopped at %s:%" PRIu64 ": %llu matches, %llu delivered, %llu failed attempts, %llu to the dead "
             "letters, %llu queued; %llu restored at start, %llu made again and skipped",
             dm->marks.cp.pos.file, dm->marks.cp.pos.pos, dm->cnt.matched, dm->cnt.delivered, dm->cnt.failures,
             dm->cnt.dead, dm->cnt.spilled, dm->cnt.restored, dm->cnt.skipped);
}

static void free_loop(struct daemon *dm)
{
  /* every job is in the queue or finished */
  while (dm->all) sched_job_free(dm, dm->all);
  pulse_free(dm);
  lanes_free(dm->lanes);
  dm->lanes = NULL;
  order_free(dm->order, NULL, NULL);
  matcher_free(dm->m);
  struct event *evs[] = {dm->qev,    dm->dqev,    dm->tick,  dm->retry_ev, dm->sighup,
                         dm->sigterm, dm->sigint, dm->grace, dm->lease_ev};
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
    if (evs[i]) event_free(evs[i]);
  theap_free(&dm->retry);
  event_base_free(dm->base);
}

int daemon_close(struct daemon *dm)
{
  char err[1024];
  admin_free(dm->admin);
  dm->admin = NULL;
  if (dm->snap) { /* the snapshot thread pushes into the source's queue */
    snapshot_stop(dm->snap);
    snapshot_join(dm->snap);
  }
  if (dm->base) {
    drain(dm);
    free_loop(dm);
  }
  int rc = dm->failed ? 1 : 0;
  if (dm->src) source_free(dm->src);
  snapshot_free(dm->snap);
  if (dm->dq && retryq_close(dm->dq, dm->lost ? 0.5 : 30, err, sizeof err) && !dm->lost) {
    log_error("the retry queue could not be written at the stop: %s", err);
    rc = 1;
  }
  counters_free(&dm->cnt);
  attempts_free(&dm->attempts);
  marks_free(&dm->marks);
  strset_free(&dm->known);
  if (dm->st) state_close(dm->st);
  ruleset_free(dm->rs);
  return rc;
}
