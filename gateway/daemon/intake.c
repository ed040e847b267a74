/* intake.c - see intake.h. */
#include "daemon/intake.h"
#include "daemon/coalesce.h"
#include "daemon/daemon.h"
#include "daemon/ondemand.h"
#include "daemon/sched.h"
#include "daemon/spool.h"
#include "daemon/startup.h"
#include "event/changeq.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/source.h"
#include "store/retryq.h"
#include "util/log.h"

#include <string.h>
#include <time.h>

void intake_on_match(void *arg, const struct rule *rule, const struct change *e)
{
  struct daemon *dm = arg;
  dm->cnt.matched++;
  counters_match(&dm->cnt, rule->name);
  for (size_t i = 0; i < rule->nendpoints; i++) {
    const struct endpoint *ep = rule->endpoints[i];
    if (coalesce_wanted(dm, ep, e)) {
      coalesce_add(dm, rule, ep, e);
      continue;
    }
    coalesce_before(dm, ep, e);
    sched_make(dm, dm->rs, rule, ep, e, NULL);
  }
}

/* A transaction boundary (COMMIT) or a heartbeat: where the checkpoint can
 * go once the deliveries made before it are released. */
static void boundary(struct daemon *dm, const struct change *e)
{
  uint64_t seq = 0;
  if (dm->snap && snapshot_marker(e, &seq)) {
    marks_snapshot(&dm->marks, seq);
    return;
  }
  struct position p;
  memcpy(p.file, e->position.file, sizeof p.file);
  p.pos = e->end_pos;
  memcpy(p.gtid, e->position.gtid, sizeof p.gtid);
  marks_boundary(&dm->marks, &p, e->gtid_state, !e->xa_held);
}

void intake_feed(struct daemon *dm, struct change *e)
{
  if (dm->snap && e->type != EVENT_SNAPSHOT && !snapshot_marker(e, NULL) && !snapshot_filter(dm->snap, e))
    return; /* a change the resumed snapshot read already */
  if (e->type <= EVENT_ALERT) dm->cnt.events[e->type]++;
  time_t now = time(NULL);
  if (e->type == EVENT_HEARTBEAT) {
    dm->cnt.lag = 0;
    dm->cnt.lag_at = now;
  } else if (e->ts) {
    dm->cnt.lag = difftime(now, (time_t)e->ts) > 0 ? difftime(now, (time_t)e->ts) : 0;
    dm->cnt.lag_at = now;
  }
  pulse_note(dm, e);
  matcher_feed(dm->m, e, intake_on_match, dm);
  if (e->type == EVENT_COMMIT || e->type == EVENT_HEARTBEAT) boundary(dm, e);
}

/* The stream ended (the source's queue is closed and empty). */
static void stream_ended(struct daemon *dm)
{
  int snapfail = dm->snap && snapshot_error(dm->snap);
  const char *why = snapfail ? snapshot_error(dm->snap) : source_error(dm->src);
  enum bh_errc code = snapfail ? snapshot_errc(dm->snap) : source_errc(dm->src);
  /* the server's answer to the request itself */
  if (why && dm->from_cp && !dm->seen && (code == BH_E_PURGED || code == BH_E_REJECTED))
    startup_refuse_checkpoint(dm, code, why);
  else
    log_error("the change stream ended: %s", why ? why : "stopped");
  dm->failed = 1;
  event_base_loopbreak(dm->base);
}

void intake_take(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)fd, (void)what;
  if (dm->paused || dm->stopping) return;
  struct change *e = dm->backlog;
  dm->backlog = NULL;
  if (!e) e = changeq_pop_all(dm->q, 0);
  if (!e && changeq_closed(dm->q)) {
    stream_ended(dm);
    return;
  }
  if (e) dm->seen = 1;
  struct change *done = NULL, *done_tail = NULL; /* fed: freed by the thread that made them */
  while (e) {
    struct change *next = e->next;
    if (ondemand_holds(dm, e)) break; /* the snapshot asked for goes first; the stream waits */
    intake_feed(dm, e);
    e->next = NULL;
    if (done_tail) done_tail->next = e;
    else done = e;
    done_tail = e;
    e = next;
    if (e && dm->inmem - dm->inengine >= INTAKE_MAX) { /* the rest waits with reading */
      dm->backlog = e;
      break;
    }
  }
  changeq_recycle(dm->q, done, done_tail);
  daemon_update_pause(dm);
}

void daemon_update_pause(struct daemon *dm)
{
  if (dm->stopping) return;
  int full = retryq_full(dm->dq);
  size_t waiting = dm->inmem - dm->inengine; /* requests in memory the engine does not hold */
  if (dm->paused != 2 && (full || dm->queue_bad)) {
    if (!dm->paused) {
      event_del(dm->qev);
      if (dm->od.ev) event_del(dm->od.ev);
    }
    dm->paused = 2; /* said: the disk holds reading back */
    if (full && !dm->queue_bad)
      log_warn("the retry queue is full ([state] queue_max): reading the binlog waits until deliveries drain");
  } else if (!dm->paused && waiting >= INTAKE_MAX) {
    spool_spill_slow(dm);
    event_del(dm->qev);
    if (dm->od.ev) event_del(dm->od.ev);
    dm->paused = 1; /* the engine is busy: not worth a word */
    log_debug("%zu requests wait for the engine: reading the binlog waits", waiting);
  } else if (dm->paused && waiting <= INTAKE_MAX / 2 && !full && !dm->queue_bad) {
    if (dm->paused == 2) log_info("reading the binlog again (%zu requests wait for the engine)", waiting);
    dm->paused = 0;
    struct event *ev = dm->od.hold ? dm->od.ev : dm->qev; /* a snapshot asked for goes first */
    event_add(ev, NULL);
    event_active(ev, EV_READ, 0);
  }
}
