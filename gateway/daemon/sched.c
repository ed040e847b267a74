/* sched.c - see sched.h. */
#include "daemon/sched.h"
#include "daemon/attempts.h"
#include "daemon/daemon.h"
#include "daemon/epstate.h"
#include "daemon/job.h"
#include "daemon/lane.h"
#include "daemon/spool.h"
#include "deliver/order.h"
#include "deliver/request.h"
#include "deliver/retry.h"
#include "event/change_json.h"
#include "match/rules.h"
#include "store/dbstore.h"
#include "store/retryq.h"
#include "util/log.h"
#include "util/util.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_OF_TIMER(it) ((struct job *)((char *)(it)-offsetof(struct job, timer)))

void sched_row_key(const char *endpoint, const struct change *e, struct buf *k)
{
  buf_adds(k, endpoint);
  buf_addc(k, '\n');
  buf_adds(k, e->table->schema);
  buf_addc(k, '.');
  buf_adds(k, e->table->name);
  buf_addc(k, '\n');
  change_key_to_json(e, k);
}

/* The longest ordering key kept as it is; a longer one (a primary key of
 * long strings) is kept as its SHA-256, so that it always fits the store's
 * okey column (VARBINARY(3072)) and the state directory's records stay
 * small. */
#define ORDER_KEY_MAX 1024

/* The key that orders a delivery: the endpoint and the row (ordering =
 * "key"; rows without a primary key, statements and alerts go unordered),
 * the endpoint alone ("endpoint"), or none. Returns 1 with the key in k. */
static int ordering_key(const struct endpoint *ep, const struct change *e, struct buf *k)
{
  if (ep->cfg->ordering == CONFIG_ORDER_NONE) return 0;
  if (ep->cfg->ordering != CONFIG_ORDER_KEY) {
    buf_adds(k, ep->name);
    return 1;
  }
  if (!e->table || !e->table->npk || e->type == EVENT_ALERT) return 0;
  sched_row_key(ep->name, e, k);
  if (k->len > ORDER_KEY_MAX) { /* a key of long strings: its digest orders the same rows */
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_Digest(k->p, k->len, md, &mdlen, EVP_sha256(), NULL);
    buf_reset(k);
    buf_adds(k, "#sha256:");
    for (unsigned i = 0; i < mdlen; i++) buf_printf(k, "%02x", md[i]);
  }
  return 1;
}

/* ---- the retry heap ---- */

/* The one timer goes off when the earliest retry is due. */
static void retry_arm(struct daemon *dm)
{
  struct theap_item *top = theap_top(&dm->retry);
  if (!top) {
    event_del(dm->retry_ev);
    return;
  }
  struct timeval tv = bh_timeval(top->due - bh_mono());
  evtimer_add(dm->retry_ev, &tv);
}

/* j waits delay seconds for its next attempt. */
static void wait_link(struct daemon *dm, struct job *j, double delay)
{
  theap_push(&dm->retry, &j->timer, bh_mono() + delay);
  if (theap_top(&dm->retry) == &j->timer) retry_arm(dm);
}

static void wait_unlink(struct daemon *dm, struct job *j)
{
  if (!theap_has(&j->timer)) return;
  int first = theap_top(&dm->retry) == &j->timer;
  theap_remove(&dm->retry, &j->timer);
  if (first) retry_arm(dm);
}

void sched_on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)fd, (void)what;
  double now = bh_mono() + 0.001;
  struct theap_item *top;
  while ((top = theap_top(&dm->retry)) && top->due <= now) {
    struct job *j = JOB_OF_TIMER(top);
    theap_remove(&dm->retry, top);
    sched_enqueue(dm, j);
  }
  retry_arm(dm);
}

/* ---- jobs ---- */

static void job_link(struct daemon *dm, struct job *j)
{
  dm->jobs++;
  j->aprev = NULL;
  j->anext = dm->all;
  if (dm->all) dm->all->aprev = j;
  dm->all = j;
}

void sched_unload(struct daemon *dm, struct job *j)
{
  if (!j->q) return;
  request_free(j->q);
  free(j->q);
  j->q = NULL;
  ruleset_free(j->rs);
  j->rs = NULL;
  dm->inmem--;
}

void sched_job_free(struct daemon *dm, struct job *j)
{
  sched_unload(dm, j);
  lane_live_del(j->lane, j);
  free(j->okey); /* its strings are in its own block (job_new) */
  wait_unlink(dm, j);
  if (j->aprev) j->aprev->anext = j->anext;
  else dm->all = j->anext;
  if (j->anext) j->anext->aprev = j->aprev;
  free(j);
  dm->jobs--;
}

void sched_release(struct daemon *dm, struct job *j)
{
  if (!j->mark) return;
  struct mark *k = j->mark;
  j->mark = NULL;
  marks_release(&dm->marks, k);
}

/* The strings a job keeps (job_new). */
enum { JS_ID, JS_CHANGE, JS_TABLE, JS_KEY, JS_BINLOG, JS_GTID, JS_N };

/* A job for a new delivery, in memory and on no list yet but every job's.
 * Its strings (str[JS_...], NULL for none; str[JS_ID] is required) are
 * copied into the job's own block, after the struct: one allocation, not
 * one per string, and freed with it. */
static struct job *job_new(struct daemon *dm, struct lane *l, const char *rule, const char *const str[JS_N],
                           double born)
{
  size_t len[JS_N], total = 0;
  for (int i = 0; i < JS_N; i++) {
    len[i] = str[i] ? strlen(str[i]) + 1 : 0;
    total += len[i];
  }
  struct job *j = xcalloc(1, sizeof *j + total);
  char *p = (char *)(j + 1), **dst[JS_N] = {&j->id, &j->change, &j->table, &j->key, &j->binlog, &j->gtid};
  for (int i = 0; i < JS_N; i++) {
    if (!str[i]) continue;
    memcpy(p, str[i], len[i]);
    *dst[i] = p;
    p += len[i];
  }
  j->state = JOB_NEW;
  job_link(dm, j);
  j->lane = l;
  j->rule = counters_intern(&dm->cnt, rule);
  j->born = born;
  lane_live_add(l, j);
  return j;
}

/* Where sched_make puts the strings of a job together (the main loop's). */
static struct buf job_scratch;

void sched_make(struct daemon *dm, struct ruleset *rs, const struct rule *rule, const struct endpoint *ep,
                const struct change *e, struct mark *mark)
{
  char err[1024] = "";
  struct request *q = xcalloc(1, sizeof *q);
  time_t first = time(NULL);
  /* one that cannot be built (a template fails, a header value would hold
   * a line break) is a dead letter that keeps the change: a replay builds
   * it again, with the templates of then */
  int bad = request_build(rule, ep, e, (int64_t)first, 0, q, err, sizeof err);
  if (bad) request_unbuilt(rule, ep, e, q);
  if (dm->known.n && strset_has(&dm->known, q->id)) {
    dm->cnt.skipped++; /* in the queue already, from before the restart */
    request_free(q);
    free(q);
    if (mark) marks_release(&dm->marks, mark);
    return;
  }
  struct lane *l = lane_get(dm, ep->name);
  const char *str[JS_N] = {q->id};
  size_t at[JS_N] = {0};
  struct buf *b = &job_scratch;
  buf_reset(b);
  if (dm->attempts.cap) { /* what the attempt log shows of the change */
    change_id(e, b);
    buf_addc(b, 0);
    if (e->table) {
      at[JS_TABLE] = b->len;
      buf_adds(b, e->table->schema);
      buf_addc(b, '.');
      buf_adds(b, e->table->name);
      buf_addc(b, 0);
      at[JS_KEY] = b->len;
      change_key_to_json(e, b);
      buf_addc(b, 0);
    }
    str[JS_CHANGE] = b->p;
    if (e->table) str[JS_TABLE] = b->p + at[JS_TABLE], str[JS_KEY] = b->p + at[JS_KEY];
  }
  /* reading the binlog again from here makes it again */
  int reread = e->type != EVENT_SNAPSHOT && e->position.file[0];
  if (reread) {
    str[JS_BINLOG] = e->position.file;
    str[JS_GTID] = e->position.gtid[0] ? e->position.gtid : NULL;
  }
  struct job *j = job_new(dm, l, rule->name, str, bh_mono());
  if (reread) j->binlog_pos = e->tx_pos;
  j->q = q;
  j->first = first;
  dm->inmem++;
  j->rs = ruleset_ref(rs);
  j->mark = mark ? mark : marks_hold(&dm->marks);
  spool_fresh_add(dm, j);
  if (bad) {
    char why[1100];
    snprintf(why, sizeof why, "cannot build the request: %s", err);
    log_error("delivery %s (rule '%s') to endpoint '%s': %s; moved to the dead letters with the change (fix the "
              "template, reload, then binhook dlq replay)",
              j->id, j->rule, l->endpoint, why);
    sched_dead_now(dm, j, why);
    return;
  }
  if (l->disabled) {
    log_error("delivery %s (rule '%s') to endpoint '%s': the endpoint is disabled (410 Gone); moved to the "
              "dead letters",
              j->id, j->rule, l->endpoint);
    dm->cnt.dead++;
    j->dead = 1;
    sched_finish(dm, j);
    return;
  }
  struct buf k = BUF_INIT;
  if (ordering_key(ep, e, &k)) {
    j->okeylen = k.len;
    j->okey = buf_steal(&k);
  }
  if (spool_lane_parks(dm, l)) {
    spool_park(dm, l, j);
    return;
  }
  if (j->okey && !order_push(dm->order, j->okey, j->okeylen, j)) { /* behind the same row's */
    job_move(j, JOB_HELD);
    return;
  }
  sched_enqueue(dm, j);
}

struct job *sched_job_of_rec(struct daemon *dm, const struct retryq_rec *rec, uint32_t attempts, double born)
{
  const char *str[JS_N] = {[JS_ID] = rec->id, [JS_BINLOG] = rec->binlog, [JS_GTID] = rec->gtid};
  struct job *j = job_new(dm, lane_get(dm, rec->endpoint), rec->rule, str, born);
  j->attempts = attempts;
  j->first = (time_t)rec->created;
  j->seq = rec->seq;
  j->binlog_pos = rec->binlog_pos;
  if (rec->okey) {
    j->okey = xmalloc(rec->okeylen + 1);
    memcpy(j->okey, rec->okey, rec->okeylen + 1);
    j->okeylen = rec->okeylen;
    if (!order_push(dm->order, j->okey, j->okeylen, j)) job_move(j, JOB_HELD);
  }
  return j;
}

void sched_resume(struct daemon *dm, struct job *j, int64_t due, time_t now)
{
  if (j->state == JOB_HELD) return;
  if (due > (int64_t)now) {
    job_move(j, JOB_RETRY);
    wait_link(dm, j, (double)(due - (int64_t)now));
  } else {
    sched_enqueue(dm, j);
  }
}

/* ---- to the engine ---- */

static const struct endpoint *endpoint_named(const struct ruleset *rs, const char *name)
{
  for (size_t i = 0; i < rs->nendpoints; i++)
    if (!strcmp(rs->endpoints[i].name, name)) return &rs->endpoints[i];
  return NULL;
}

static const struct rule *rule_named(const struct ruleset *rs, const char *name)
{
  for (size_t i = 0; i < rs->nrules; i++)
    if (!strcmp(rs->rules[i].name, name)) return &rs->rules[i];
  return NULL;
}

/* A dead letter kept unbuilt (sched_make), replayed: built from its change
 * with the rule and templates of now, under the id it was made with.
 * Returns 0 with *qp replaced, or -1 with err (*qp freed). */
static int build_again(struct daemon *dm, const struct endpoint *ep, struct job *j, struct request **qp, char *err,
                       size_t errsz)
{
  char why[768];
  struct request *old = *qp, *q = xcalloc(1, sizeof *q);
  const struct rule *rule = rule_named(dm->rs, j->rule);
  struct change *e = NULL;
  int rc = -1;
  if (!rule)
    bh_err(err, errsz, "cannot build the request: rule '%s' is no longer in the configuration", j->rule);
  else if (!(e = change_from_json(old->body.p, old->body.len, why, sizeof why)))
    bh_err(err, errsz, "cannot build the request: its change cannot be read: %s", why);
  else if (request_build(rule, ep, e, (int64_t)time(NULL), 0, q, why, sizeof why))
    bh_err(err, errsz, "cannot build the request: %s", why);
  else
    rc = 0;
  if (!rc) request_set_id(q, old->id);
  change_free(e);
  request_free(old);
  free(old);
  if (rc) {
    free(q);
    *qp = NULL;
    return -1;
  }
  *qp = q;
  return 0;
}

/* Loads the request of a job that is only on disk; 0, or -1 when it cannot
 * be sent (it went to the dead letters), or -2 when the store cannot be
 * read now (it waits a second). */
static int load_job(struct daemon *dm, struct job *j)
{
  char err[1024];
  int got;
  if (j->q) return 0;
  const struct endpoint *ep = endpoint_named(dm->rs, j->lane->endpoint);
  struct retryq_rec rec;
  if (!ep) {
    snprintf(err, sizeof err, "endpoint '%s' is no longer in the configuration", j->lane->endpoint);
  } else if ((got = retryq_read(dm->dq, j->seq, &rec, err, sizeof err)) == -2) {
    /* the store cannot be read now (its server restarts): later, not dead */
    log_warn("delivery %s (rule '%s') to endpoint '%s': %s; trying again in a second", j->id, j->rule,
             j->lane->endpoint, err);
    job_move(j, JOB_RETRY);
    wait_link(dm, j, 1.0);
    return -2;
  } else if (!got) {
    struct request *q = xcalloc(1, sizeof *q);
    int rc = request_decode(rec.payload, rec.payloadlen, q, err, sizeof err);
    retryq_rec_free(&rec);
    if (!rc && q->unbuilt) rc = build_again(dm, ep, j, &q, err, sizeof err);
    if (!rc) {
      q->endpoint = ep;
      q->rule = rule_named(dm->rs, j->rule); /* may be gone: only its name is needed */
      j->q = q;
      j->rs = ruleset_ref(dm->rs);
      dm->inmem++;
      return 0;
    }
    free(q);
  }
  log_error("delivery %s (rule '%s') to endpoint '%s': %s: moved to the dead letters", j->id, j->rule,
            j->lane->endpoint, err);
  sched_dead_now(dm, j, err);
  return -1;
}

static void submit(struct daemon *dm, struct job *j)
{
  struct lane *l = j->lane;
  /* the limits of the configuration running now, also for a retry of a
   * delivery made before a reload */
  const struct config_endpoint *now = config_endpoint(&dm->rs->cfg, l->endpoint);
  if (!now) now = j->q->endpoint->cfg;
  struct deliver_limits lim = {.concurrency = now->concurrency,
                               .timeout = now->timeout,
                               .rate = now->rate_limit,
                               .burst = now->burst,
                               .breaker_failures = now->breaker_failures,
                               .breaker_cooldown = now->breaker_cooldown};
  struct request *q = j->q;
  j->q = NULL; /* the engine's until done (which may come before this returns) */
  j->sent = q;
  job_move(j, JOB_ENGINE);
  j->attempts++;
  l->inengine++;
  dm->inengine++;
  deliver_submit(dm->d, &l->out, &lim, q, j);
}

/* Room in the engine for a lane: a few requests beyond its concurrency, so
 * that the engine never idles while a slow endpoint holds few in memory. */
static size_t lane_room(struct daemon *dm, const struct lane *l)
{
  const struct config_endpoint *c = config_endpoint(&dm->rs->cfg, l->endpoint);
  size_t cap = (c ? c->concurrency : 8) * 2 + 16;
  return l->inengine < cap ? cap - l->inengine : 0;
}

void sched_pump(struct daemon *dm, struct lane *l)
{
  if (dm->pumping || dm->stopping) return;
  if (dm->lease && !lease_held(dm->lease)) { /* sends nothing more: another may be active */
    daemon_step_down(dm, "the lease is lost");
    return;
  }
  if (l->not_before && (int64_t)time(NULL) < l->not_before) return; /* Retry-After: the tick pumps it then */
  dm->pumping = 1;
  while (l->head && lane_room(dm, l)) {
    struct job *j = l->head;
    l->head = j->next;
    if (!l->head) l->tail = NULL;
    j->next = j->prev = NULL;
    if (l->disabled) {
      j->dead = 1;
      sched_finish(dm, j);
      continue;
    }
    int loaded = load_job(dm, j);
    if (loaded == -2) break; /* the store cannot be read now: the others of the lane wait too */
    if (loaded) continue;
    submit(dm, j);
  }
  dm->pumping = 0;
}

void sched_enqueue(struct daemon *dm, struct job *j)
{
  struct lane *l = j->lane;
  job_move(j, JOB_READY);
  j->next = NULL;
  j->prev = l->tail;
  if (l->tail) l->tail->next = j;
  else l->head = j;
  l->tail = j;
  sched_pump(dm, l);
}

void sched_dead_now(struct daemon *dm, struct job *j, const char *why)
{
  dm->cnt.dead++;
  j->dead = 1;
  if (!j->seq) spool_spill(dm, j, 0);
  spool_track(dm, j, retryq_dead(dm->dq, j->seq, (int64_t)time(NULL), why));
  j->dead_written = 1;
  sched_finish(dm, j);
}

void sched_finish(struct daemon *dm, struct job *j)
{
  struct lane *l = j->lane;
  if (j->live) {
    if (j->dead) {
      l->dead++;
      l->dead_now++;
    }
    lane_live_del(l, j);
  }
  if (j->dead && !j->dead_written) {
    /* the dead letters hold it: durable before its mark is released */
    const char *why = l->disabled ? "the endpoint answered 410 Gone and is disabled until enabled again" : "given up";
    if (!j->seq) spool_spill(dm, j, 0);
    spool_track(dm, j, retryq_dead(dm->dq, j->seq, (int64_t)time(NULL), why));
    j->dead_written = 1;
  }
  struct job *next = j->okey ? order_pop(dm->order, j->okey, j->okeylen) : NULL;
  free(j->okey);
  j->okey = NULL;
  j->okeylen = 0;
  if (!j->seq) spool_fresh_unlink(dm, j);
  job_move(j, JOB_DONE);
  if (spool_tracked(dm, j)) /* freed when the writer is through with it */
    sched_unload(dm, j);
  else
    sched_job_free(dm, j);
  if (next && !dm->stopping) sched_enqueue(dm, next);
  daemon_update_pause(dm);
  if (dm->stopping && !dm->inengine) event_base_loopbreak(dm->base);
}

/* ---- back from the engine ---- */

static void delivered(struct daemon *dm, struct job *j, const struct deliver_result *res)
{
  struct lane *l = j->lane;
  dm->cnt.delivered++;
  l->delivered++;
  lane_note_latency(l, bh_mono() - j->born);
  log_debug("delivered %s (rule '%s') to endpoint '%s': %ld in %.0f ms", j->id, j->rule, l->endpoint, res->status,
            res->seconds * 1000);
  if (j->seq) retryq_done(dm->dq, j->seq);
  sched_release(dm, j);
  sched_finish(dm, j);
}

/* The endpoint answered 410 Gone: what waits for it goes to the dead
 * letters until a reload. */
static void disable(struct daemon *dm, struct lane *l)
{
  log_error("endpoint '%s' answered 410 Gone: it is disabled, also across restarts, and its deliveries go to the "
            "dead letters until it is enabled again ('binhook endpoint enable %s', or a reload that changes its "
            "url; then 'binhook dlq replay --endpoint %s' sends them again)",
            l->endpoint, l->endpoint, l->endpoint);
  l->disabled = 1;
  epstate_save(dm);
  if (!dm->stopping) /* what waits for a slot is not sent at all */
    deliver_cancel(dm->d, &l->out, BH_E_OTHER, "the endpoint answered 410 Gone and is disabled until enabled again");
}

/* No more attempts: the dead letters. */
static void give_up(struct daemon *dm, struct job *j, const struct deliver_result *res, time_t now)
{
  log_error("delivery %s (rule '%s') to endpoint '%s' failed after %u attempt%s: %s; moved to the dead "
            "letters",
            j->id, j->rule, j->lane->endpoint, j->attempts, j->attempts == 1 ? "" : "s", res->error);
  dm->cnt.dead++;
  j->dead = 1;
  char why[sizeof res->error + 64];
  snprintf(why, sizeof why, "given up after %u attempt%s: %s", j->attempts, j->attempts == 1 ? "" : "s",
           res->error);
  if (j->seq) retryq_attempt(dm->dq, j->seq, j->attempts, (int64_t)now);
  else spool_spill(dm, j, (int64_t)now);
  spool_track(dm, j, retryq_dead(dm->dq, j->seq, (int64_t)now, why));
  j->dead_written = 1;
  sched_finish(dm, j);
}

/* The attempt log's entry for j's attempt that ended with res. */
static void note_attempt(struct daemon *dm, const struct job *j, const struct deliver_result *res,
                         enum attempt_outcome outcome, int64_t retry_at)
{
  if (!dm->attempts.cap) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct attempt a = {.id = j->id,
                      .change = j->change,
                      .rule = (char *)j->rule,
                      .endpoint = j->lane->endpoint,
                      .table = j->table,
                      .key = j->key,
                      .attempt = j->attempts,
                      .started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - res->seconds,
                      .seconds = res->seconds,
                      .status = res->status,
                      .error = res->ok ? NULL : (char *)res->error,
                      .body = (char *)res->body,
                      .bodylen = res->bodylen,
                      .outcome = outcome,
                      .retry_at = retry_at};
  attempts_add(&dm->attempts, &a);
}

void sched_on_done(void *arg, void *user, struct request *q, const struct deliver_result *res)
{
  struct daemon *dm = arg;
  struct job *j = user;
  struct lane *l = j->lane;
  bh_assert(j->state == JOB_ENGINE);
  l->inengine--;
  dm->inengine--;
  j->q = q;
  j->sent = NULL;
  if (res->ok) {
    note_attempt(dm, j, res, ATTEMPT_DELIVERED, 0);
    delivered(dm, j, res);
    sched_pump(dm, l);
    spool_refill(dm, l);
    return;
  }
  if (dm->stopping && res->code == BH_E_NOT_SENT) {
    j->attempts--; /* never on the wire: not an attempt */
  } else {
    dm->cnt.failures++;
    l->failed++;
  }
  if (res->status == 410 && !l->disabled) disable(dm, l);
  if (res->retry_after > 0 && !dm->stopping) epstate_hold(dm, l, res->retry_after);
  time_t now = time(NULL);
  if (dm->stopping) { /* the outcome is unknown: it stays in the queue, due now */
    note_attempt(dm, j, res, ATTEMPT_NOT_SENT, 0);
    if (j->seq) spool_track(dm, j, retryq_attempt(dm->dq, j->seq, j->attempts, (int64_t)now));
    else spool_spill(dm, j, (int64_t)now);
    job_move(j, JOB_RETRY);
    if (!dm->inengine) event_base_loopbreak(dm->base);
    return;
  }
  double delay = l->disabled ? -1
                             : retry_delay(q->endpoint->cfg, j->attempts, difftime(now, j->first), res,
                                           (double)random() / ((double)RAND_MAX + 1));
  if (delay < 0) {
    note_attempt(dm, j, res, ATTEMPT_DEAD, 0);
    give_up(dm, j, res, now);
  } else {
    note_attempt(dm, j, res, ATTEMPT_RETRYING, (int64_t)now + (int64_t)delay);
    log_warn("delivery %s (rule '%s') to endpoint '%s' failed (attempt %u): %s; next attempt in %.1f s", j->id,
             j->rule, l->endpoint, j->attempts, res->error, delay);
    int64_t due = (int64_t)now + (int64_t)delay;
    if (j->seq) retryq_attempt(dm->dq, j->seq, j->attempts, due);
    else spool_spill(dm, j, due);
    job_move(j, JOB_RETRY);
    wait_link(dm, j, delay);
  }
  sched_pump(dm, l);
  spool_refill(dm, l);
}
