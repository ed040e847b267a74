/* spool.c - see spool.h. */
#include "daemon/spool.h"
#include "daemon/daemon.h"
#include "daemon/job.h"
#include "daemon/lane.h"
#include "daemon/sched.h"
#include "deliver/request.h"
#include "store/retryq.h"
#include "util/log.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

void spool_fresh_add(struct daemon *dm, struct job *j)
{
  j->fnext = NULL;
  j->fprev = dm->fresh_tail;
  if (dm->fresh_tail) dm->fresh_tail->fnext = j;
  else dm->fresh = j;
  dm->fresh_tail = j;
}

void spool_fresh_unlink(struct daemon *dm, struct job *j)
{
  if (j->fprev) j->fprev->fnext = j->fnext;
  else dm->fresh = j->fnext;
  if (j->fnext) j->fnext->fprev = j->fprev;
  else dm->fresh_tail = j->fprev;
  j->fnext = j->fprev = NULL;
}

int spool_tracked(const struct daemon *dm, const struct job *j) { return j->unext || dm->unsynced_tail == j; }

void spool_track(struct daemon *dm, struct job *j, uint64_t ticket)
{
  j->ticket = ticket;
  if (spool_tracked(dm, j)) return; /* already waiting: the later ticket counts */
  j->unext = NULL;
  if (dm->unsynced_tail) dm->unsynced_tail->unext = j;
  else dm->unsynced = j;
  dm->unsynced_tail = j;
}

void spool_spill(struct daemon *dm, struct job *j, int64_t due)
{
  if (j->seq) return;
  struct buf payload = BUF_INIT;
  struct retryq_rec rec;
  memset(&rec, 0, sizeof rec);
  bh_assert(j->q || j->sent);
  request_encode(j->q ? j->q : j->sent, &payload);
  rec.endpoint = j->lane->endpoint; /* only read: retryq_add copies */
  rec.rule = (char *)j->rule;
  rec.id = j->id;
  rec.okey = j->okey;
  rec.okeylen = j->okeylen;
  rec.created = (int64_t)j->first;
  rec.attempts = j->attempts;
  rec.due = due;
  rec.payload = payload.p;
  rec.payloadlen = payload.len;
  rec.binlog = j->binlog;
  rec.binlog_pos = j->binlog_pos;
  rec.gtid = j->gtid;
  uint64_t t = retryq_add(dm->dq, &rec);
  j->seq = rec.seq;
  buf_free(&payload);
  spool_fresh_unlink(dm, j);
  dm->cnt.spilled++;
  spool_track(dm, j, t);
}

void spool_on_durable(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  char err[512];
  (void)fd, (void)what;
  retryq_ack_fd(dm->dq);
  uint64_t d = retryq_durable(dm->dq);
  while (dm->unsynced && dm->unsynced->ticket <= d) {
    struct job *j = dm->unsynced;
    dm->unsynced = j->unext;
    if (!dm->unsynced) dm->unsynced_tail = NULL;
    j->unext = NULL;
    sched_release(dm, j);
    if (j->state == JOB_DONE || j->state == JOB_PARKED) sched_job_free(dm, j);
    else if (j->state != JOB_ENGINE) sched_unload(dm, j); /* on disk now: read back when it is sent */
  }
  int bad = retryq_error(dm->dq, err, sizeof err);
  if (bad && retryq_fenced(dm->dq)) {
    daemon_step_down(dm, err);
    return;
  }
  if (bad && !dm->queue_bad)
    log_error("the %s cannot be written: %s; reading the binlog waits, nothing is lost, and it resumes by itself "
              "when writing works again%s",
              dm->db ? "state store" : "state directory", err, dm->db ? "" : " (free space or fix the disk)");
  else if (!bad && dm->queue_bad)
    log_notice("the %s can be written again: reading the binlog resumes", dm->db ? "state store" : "state directory");
  dm->queue_bad = bad;
  daemon_update_pause(dm);
}

/* ---- parking: an endpoint's deliveries on disk only ---- */

/* l keeps its new deliveries on disk only: it holds its share of memory,
 * or it did and has not read them all back yet (their order is kept). */
int spool_lane_parks(const struct daemon *dm, const struct lane *l)
{
  return l->npk || l->depth >= LANE_MAX || (dm->jobs >= JOBS_MAX && l->depth >= LANE_MIN);
}

/* j's request is written now, and j is freed once that is durable. */
void spool_park(struct daemon *dm, struct lane *l, struct job *j)
{
  if (!l->npk) {
    /* what l has not written yet goes first, so that the queue's order
     * (read back at a restart, and here) stays the order of the changes */
    for (struct job *f = dm->fresh, *n; f; f = n) {
      n = f->fnext;
      if (f != j && f->lane == l) spool_spill(dm, f, (int64_t)time(NULL));
    }
    log_warn("endpoint '%s' has %zu deliveries unfinished in memory: its next ones wait on disk only, and are "
             "read back in order as it catches up",
             l->endpoint, l->depth);
  }
  lane_live_del(l, j);
  spool_spill(dm, j, (int64_t)time(NULL));
  lane_park_push(l, j->seq);
  job_move(j, JOB_PARKED);
}

struct refill {
  struct daemon *dm;
  time_t now;
};

static int refill_one(void *arg, const struct retryq_rec *rec)
{
  struct refill *f = arg;
  struct job *j = sched_job_of_rec(f->dm, rec, rec->attempts, bh_mono() - difftime(f->now, (time_t)rec->created));
  sched_resume(f->dm, j, rec->due, f->now);
  return 0;
}

void spool_refill(struct daemon *dm, struct lane *l)
{
  if (!l->npk || dm->stopping || dm->refilling) return;
  size_t room;
  if (l->depth < LANE_MAX / 2 && dm->jobs < JOBS_MAX * 3 / 4) room = LANE_MAX * 3 / 4 - l->depth;
  else if (l->depth < LANE_MIN / 2) room = LANE_MIN - l->depth;
  else return;
  if (room > l->npk) room = l->npk;
  uint64_t *seqs = xmalloc(room * sizeof *seqs);
  memcpy(seqs, l->parked + l->pk0, room * sizeof *seqs);
  l->pk0 += room;
  l->npk -= room;
  if (!l->npk) {
    l->pk0 = 0;
    log_info("endpoint '%s' caught up: its deliveries are all in memory again", l->endpoint);
  }
  dm->refilling = 1;
  struct refill f = {dm, time(NULL)};
  retryq_list_seqs(dm->dq, seqs, room, refill_one, &f);
  dm->refilling = 0;
  free(seqs);
}

/* An endpoint that would need more than SPILL_AFTER to send its share is
 * slow: when there are others, its requests go into the queue now (and
 * leave memory once durable). (Alone, it only waits: writing and reading
 * back would slow it down further.) */
void spool_spill_slow(struct daemon *dm)
{
  double now = bh_mono();
  if (!dm->lanes || !dm->lanes->next) return;
  for (struct lane *l = dm->lanes; l; l = l->next) l->nwait = 0;
  for (struct job *j = dm->fresh; j; j = j->fnext)
    if (j->state != JOB_ENGINE) j->lane->nwait++;
  int any = 0;
  for (struct lane *l = dm->lanes; l; l = l->next) {
    double rate = l->rate, dt = now - l->rate_t;
    if (dt > 0.05 && (double)(l->delivered - l->rate_seen) / dt > rate) rate = (double)(l->delivered - l->rate_seen) / dt;
    if (l->nwait > LANE_MIN && (double)l->nwait > rate * SPILL_AFTER && now - l->born > 2) any = 1;
    else l->nwait = 0; /* not slow */
  }
  if (!any) return;
  for (struct job *j = dm->fresh, *n; j; j = n) {
    n = j->fnext;
    if (j->state != JOB_ENGINE && j->lane->nwait) spool_spill(dm, j, (int64_t)time(NULL));
  }
}

void spool_spill_old(struct daemon *dm)
{
  double old = bh_mono() - SPILL_AFTER;
  while (dm->fresh && dm->fresh->born <= old) spool_spill(dm, dm->fresh, (int64_t)time(NULL));
}

struct restore {
  struct daemon *dm;
  time_t now;
};

static int restore_one(void *arg, const struct retryq_rec *rec)
{
  struct restore *rs = arg;
  struct daemon *dm = rs->dm;
  strset_add(&dm->known, rec->id);
  struct lane *l = lane_get(dm, rec->endpoint);
  if (rec->dead) {
    l->dead_now++;
    return 0;
  }
  dm->cnt.restored++;
  if (spool_lane_parks(dm, l)) {
    lane_park_push(l, rec->seq);
    return 0;
  }
  struct job *j = sched_job_of_rec(dm, rec, rec->attempts, bh_mono() - difftime(rs->now, (time_t)rec->created));
  sched_resume(dm, j, rec->due, rs->now);
  return 0;
}

void spool_restore(struct daemon *dm)
{
  struct restore rst = {dm, time(NULL)};
  retryq_list(dm->dq, restore_one, &rst);
}
