/* run.c - `binhook run`: the daemon. The source thread reads the binlog
 * into the bounded queue; the main libevent loop takes changes from it,
 * matches them against the rules, renders the requests and hands them to
 * the delivery engine (deliver.h).
 *
 * Durability (DESIGN.md, "the checkpoint moves past a change only when
 * every delivery it caused is acknowledged or durably queued"):
 *   - Every delivery belongs to a mark, the transaction boundary after the
 *     change that caused it. A mark is released when its deliveries are all
 *     acknowledged or written to the retry queue (store/retryq.h) and fsynced; the
 *     checkpoint then moves to the newest released mark, and is saved once
 *     a second by the queue's writer, after the records it depends on.
 *   - A delivery goes into the queue when its first attempt fails, or when
 *     it is still unfinished a second after it was made (a slow or closed
 *     endpoint, a key held by an earlier failure), or at a stop. A delivery
 *     acknowledged at once never touches the disk.
 *   - Once in the queue and not in flight, a delivery keeps only its names
 *     and place in memory: the request is read back when it is sent, so a
 *     long outage fills the disk, not the memory.
 *   - At start the queue is read back: waiting deliveries are scheduled
 *     (per key, in the order they were made) and the binlog resumes at the
 *     checkpoint. Deliveries that the binlog produces again carry the same
 *     webhook-id; those already in the queue are not made twice.
 *   - Exhausted retries, non-retryable answers and disabled endpoints send
 *     deliveries to the dead letters (the same queue, marked dead), which
 *     `binhook dlq` lists, replays and drops.
 *
 * Signals: SIGHUP reloads the configuration, the rule files and the
 * templates (a broken one is refused and the old one kept). SIGTERM and
 * SIGINT stop reading, give deliveries in flight a grace period, queue what
 * is left and save the checkpoint.
 *
 * Backpressure: while too many deliveries are held in memory, or the queue
 * is full or cannot be written, the loop stops taking changes; the source
 * queue fills and the source stops reading the binlog. Nothing is dropped. */
#include "admin/admin.h"
#include "cmd/commands.h"
#include "config/config.h"
#include "deliver/deliver.h"
#include "util/log.h"
#include "deliver/order.h"
#include "store/retryq.h"
#include "deliver/request.h"
#include "deliver/retry.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/source.h"
#include "store/state.h"
#include "util/util.h"

#include <event2/event.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Memory: requests made and not yet handed to the engine are at most
 * INTAKE_MAX (beyond, reading the binlog waits); an endpoint keeps at most
 * LANE_MAX unfinished deliveries in memory, and all endpoints JOBS_MAX
 * (beyond, an endpoint over LANE_MIN keeps its new deliveries on disk only,
 * "parked", and reads them back in order as it drains). */
#define INTAKE_MAX 2048
#define LANE_MAX 10000
#define JOBS_MAX 100000
#define LANE_MIN 256
#define GRACE_SECONDS 10.0 /* how long a stop waits for deliveries in flight */
#define SPILL_AFTER 1.0    /* seconds before an unfinished delivery goes into the queue */
#define NOT_SENT "not sent: binhook is stopping" /* a request a stop took back from the engine */

/* A transaction boundary the checkpoint may move to once its deliveries are
 * released. The newest mark is open (no position yet) until its COMMIT. */
struct mark {
  struct position pos;
  int closed, safe; /* safe: not while an XA transaction is prepared */
  uint64_t snapseq; /* the snapshot chunk marker closing it, or 0 */
  size_t open;      /* deliveries neither acknowledged nor durable */
  struct mark *next;
};

/* Upper bounds of the delivery latency histogram, in seconds. */
static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800,
                                    3600, 21600, 86400};
#define NLAT (sizeof lat_bounds / sizeof lat_bounds[0])

/* Deliveries to one endpoint: how many are in the engine, and those ready
 * to go that wait for room there (so that a slow endpoint holds a few
 * requests in memory, not all of them); and what /metrics shows of it. */
struct lane {
  char *endpoint;
  size_t inengine;
  struct job *head, *tail;
  struct job *live, *live_tail; /* every unfinished delivery, oldest first */
  size_t depth;                 /* how many */
  uint64_t *parked;             /* the seqs of those on disk only, oldest first: parked[pk0 .. pk0+npk) */
  size_t pk0, npk, pkcap;
  double rate, rate_t;          /* deliveries a second (smoothed), and when it was last taken */
  double born;                  /* when the lane was made */
  unsigned long long rate_seen; /* delivered then */
  size_t nwait;                 /* scratch: requests in memory waiting for the engine */
  size_t dead_now;              /* dead letters in the queue */
  unsigned long long delivered, failed, dead;
  unsigned long long lat_count, lat_bucket[NLAT];
  double lat_sum;
  struct lane *next;
};

/* Matches per rule, by name (they outlive reloads). */
struct rulecount {
  char *rule;
  unsigned long long n;
  struct rulecount *next;
};

enum where { W_NEW, W_ENGINE, W_READY, W_RETRY, W_HELD, W_PARKED };

/* One delivery across its attempts. */
struct job {
  struct run *run;
  struct request *q;  /* NULL while in the engine, or when only on disk */
  struct request *sent; /* while in the engine: its request (the engine's) */
  struct ruleset *rs; /* holds q's rule and endpoint */
  const char *endpoint, *rule; /* the lane's and the rule count's names, shared */
  char *id;
  unsigned attempts;
  time_t first;
  enum where where;
  double due;                /* W_RETRY: when (monotonic seconds) */
  size_t heapi;              /* W_RETRY: its place in run->retry, plus 1 */
  struct job *next, *prev;   /* the lane's ready list, or run->waiting */
  struct job *fnext, *fprev; /* run->fresh: not in the queue, oldest first */
  struct job *unext;         /* run->unsynced: written, not yet durable */
  double born;               /* monotonic seconds */
  char *okey;                /* its key in run->order, or NULL when unordered */
  size_t okeylen;
  struct mark *mark;         /* NULL once released */
  uint64_t seq, ticket;      /* in the queue when seq != 0 */
  int dead;                  /* going to the dead letters */
  int dead_written;          /* and its DEAD record was written */
  int done;                  /* finished, kept until the writer is through with it */
  struct job *anext, *aprev; /* run->all */
  struct job *lnext, *lprev; /* its lane's live list */
  int live;                  /* on it */
};

/* The webhook-ids of the queue at start: the binlog from the checkpoint
 * makes some of them again, and they are not delivered twice. */
struct idset {
  char **slot;
  size_t cap, n;
};

struct run {
  const char *config_path;
  const char *source_url; /* --source, over [source] url */
  const char *from;       /* --from, over the checkpoint */
  const char *state_dir;  /* --state, over [state] dir */
  struct event_base *base;
  struct ruleset *rs;
  struct matcher *m;
  struct deliver *d;
  struct source *src;
  struct changeq *q;
  struct state *st;
  struct retryq *dq;
  struct event *qev, *dqev, *sighup, *sigterm, *sigint, *grace, *tick;
  size_t jobs, inmem, inengine;
  struct job *all;                     /* every job, for the stop */
  struct job **retry;                  /* waiting for a retry: a heap by due time, one timer for all */
  size_t nretry, capretry;
  struct event *retry_ev;
  struct job *fresh, *fresh_tail;      /* not in the queue yet */
  struct job *unsynced, *unsynced_tail;
  struct lane *lanes;
  struct order *order;
  struct mark *marks, *marks_tail;
  struct checkpoint cp;
  int cp_dirty;
  struct idset known;
  char **disabled; /* endpoints that answered 410 Gone, NULL-terminated, until a reload */
  size_t ndisabled;
  int paused, stopping, failed, pumping, queue_bad, refilling;
  int from_cp, seen; /* started at the checkpoint; an event came since */
  unsigned long long matched, delivered, failures, dead, spilled, restored, skipped;
  struct admin *admin;
  struct rulecount *rulecounts;
  unsigned long long events[EVENT_ALERT + 1]; /* by type */
  double lag;                                 /* seconds behind the server, at the last event */
  struct snapshot *snap;                      /* the initial snapshot (or its segments), or NULL */
  uint64_t snap_ready, snap_saved;            /* chunk markers released / committed */
  int snapshotting;                           /* rows still to come */
  /* A snapshot asked for while running (binhook snapshot): its rows are
   * taken when the stream reaches its position, the stream waiting. */
  struct snapshot *od;
  struct source *odsrc; /* never started: its queue carries the rows */
  struct event *odev;
  struct position odpos;
  int odhold;            /* the stream reached odpos: it waits for the rows */
  struct change *held;   /* stream events waiting meanwhile, in order */
  struct change *backlog; /* events taken from the source, not fed yet (reading waits) */
  unsigned long long odrows;
  struct coal **coal, *coals;                 /* updates being coalesced: by row, and all */
  size_t ncoalslots, ncoal;
  time_t started;
};

static int purged(const char *msg);
static void sd_notify_msg(const char *msg);
static void refuse_purged(const struct run *r, const char *why);

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook run [-c gateway.toml] [--source URL] [--from POS] [--state DIR]\n\n"
             "Reads the binary log and delivers what the rules match. SIGHUP reloads the\n"
             "configuration (a broken one is refused and the running one kept); SIGTERM or SIGINT\n"
             "stop it.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  --source URL        read from this server instead of [source] url (mysql://user@host:port)\n"
             "  --from POS          start here instead of at the checkpoint: end, start, FILE:OFFSET or\n"
             "                      gtid:SET (the changes between are skipped or delivered again; logged)\n"
             "  --state DIR         the state directory instead of [state] dir\n");
}

/* ---- the id set ---- */

static void idset_add(struct idset *s, const char *id)
{
  if ((s->n + 1) * 2 > s->cap) {
    struct idset big = {xcalloc(s->cap ? s->cap * 2 : 256, sizeof(char *)), s->cap ? s->cap * 2 : 256, 0};
    for (size_t i = 0; i < s->cap; i++)
      if (s->slot[i]) {
        size_t j = bh_fnv1a(s->slot[i], strlen(s->slot[i])) & (big.cap - 1);
        while (big.slot[j]) j = (j + 1) & (big.cap - 1);
        big.slot[j] = s->slot[i];
        big.n++;
      }
    free(s->slot);
    *s = big;
  }
  size_t j = bh_fnv1a(id, strlen(id)) & (s->cap - 1);
  while (s->slot[j]) j = (j + 1) & (s->cap - 1);
  s->slot[j] = xstrdup(id);
  s->n++;
}

static int idset_has(const struct idset *s, const char *id)
{
  if (!s->n) return 0;
  for (size_t j = bh_fnv1a(id, strlen(id)) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
    if (!strcmp(s->slot[j], id)) return 1;
  return 0;
}

static void idset_free(struct idset *s)
{
  for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
  free(s->slot);
  memset(s, 0, sizeof *s);
}

/* ---- lists ---- */

static void retry_swap(struct run *r, size_t a, size_t b)
{
  struct job *t = r->retry[a];
  r->retry[a] = r->retry[b];
  r->retry[b] = t;
  r->retry[a]->heapi = a + 1;
  r->retry[b]->heapi = b + 1;
}

static void retry_sift(struct run *r, size_t i)
{
  while (i > 0 && r->retry[(i - 1) / 2]->due > r->retry[i]->due) {
    retry_swap(r, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < r->nretry && r->retry[l]->due < r->retry[m]->due) m = l;
    if (l + 1 < r->nretry && r->retry[l + 1]->due < r->retry[m]->due) m = l + 1;
    if (m == i) break;
    retry_swap(r, i, m);
    i = m;
  }
}

/* The one timer goes off when the earliest retry is due. */
static void retry_arm(struct run *r)
{
  if (!r->nretry) {
    event_del(r->retry_ev);
    return;
  }
  double d = r->retry[0]->due - bh_mono();
  if (d < 0) d = 0;
  struct timeval tv = bh_timeval(d);
  evtimer_add(r->retry_ev, &tv);
}

/* j waits delay seconds for its next attempt. */
static void wait_link(struct run *r, struct job *j, double delay)
{
  if (r->nretry == r->capretry) {
    r->capretry = r->capretry ? r->capretry * 2 : 256;
    r->retry = xrealloc(r->retry, r->capretry * sizeof *r->retry);
  }
  j->due = bh_mono() + delay;
  r->retry[r->nretry++] = j;
  j->heapi = r->nretry;
  retry_sift(r, r->nretry - 1);
  if (r->retry[0] == j) retry_arm(r);
}

static void wait_unlink(struct run *r, struct job *j)
{
  if (!j->heapi) return;
  size_t i = j->heapi - 1;
  j->heapi = 0;
  if (i != --r->nretry) {
    r->retry[i] = r->retry[r->nretry];
    r->retry[i]->heapi = i + 1;
    retry_sift(r, i);
  }
  if (i == 0) retry_arm(r);
}

static void fresh_unlink(struct run *r, struct job *j)
{
  if (j->fprev) j->fprev->fnext = j->fnext;
  else r->fresh = j->fnext;
  if (j->fnext) j->fnext->fprev = j->fprev;
  else r->fresh_tail = j->fprev;
  j->fnext = j->fprev = NULL;
}

static struct lane *lane_of(struct run *r, const char *endpoint)
{
  for (struct lane *l = r->lanes; l; l = l->next)
    if (!strcmp(l->endpoint, endpoint)) return l;
  struct lane *l = xcalloc(1, sizeof *l);
  l->endpoint = xstrdup(endpoint);
  l->rate_t = l->born = bh_mono();
  l->next = r->lanes;
  r->lanes = l;
  return l;
}

/* A delivery is unfinished from when it is made (or read back) until it
 * is acknowledged or dead: the queue depth and oldest age per endpoint. */
static void live_add(struct run *r, struct job *j)
{
  struct lane *l = lane_of(r, j->endpoint);
  j->lnext = NULL;
  j->lprev = l->live_tail;
  if (l->live_tail) l->live_tail->lnext = j;
  else l->live = j;
  l->live_tail = j;
  l->depth++;
  j->live = 1;
}

static void live_del(struct run *r, struct job *j)
{
  if (!j->live) return;
  struct lane *l = lane_of(r, j->endpoint);
  if (j->lprev) j->lprev->lnext = j->lnext;
  else l->live = j->lnext;
  if (j->lnext) j->lnext->lprev = j->lprev;
  else l->live_tail = j->lprev;
  j->lnext = j->lprev = NULL;
  l->depth--;
  j->live = 0;
}

static void count_match(struct run *r, const char *rule)
{
  struct rulecount **p = &r->rulecounts;
  for (; *p; p = &(*p)->next)
    if (!strcmp((*p)->rule, rule)) break;
  struct rulecount *c = *p;
  if (!c) {
    c = xcalloc(1, sizeof *c);
    c->rule = xstrdup(rule);
  } else {
    *p = c->next;
  }
  c->n++;
  /* the busiest rules stay in front */
  c->next = r->rulecounts;
  r->rulecounts = c;
}

/* The one copy of a rule's name the jobs of that rule point to. */
static const char *intern_rule(struct run *r, const char *rule)
{
  for (struct rulecount *c = r->rulecounts; c; c = c->next)
    if (!strcmp(c->rule, rule)) return c->rule;
  struct rulecount *c = xcalloc(1, sizeof *c);
  c->rule = xstrdup(rule);
  c->next = r->rulecounts;
  r->rulecounts = c;
  return c->rule;
}

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

static int is_disabled(const struct run *r, const char *endpoint)
{
  for (size_t i = 0; i < r->ndisabled; i++)
    if (!strcmp(r->disabled[i], endpoint)) return 1;
  return 0;
}

/* ---- the checkpoint ---- */

static void advance(struct run *r)
{
  while (r->marks && r->marks->closed && !r->marks->open) {
    struct mark *m = r->marks;
    if (m->safe) {
      r->cp.pos = m->pos;
      r->cp_dirty = 1;
    }
    if (m->snapseq > r->snap_ready) r->snap_ready = m->snapseq;
    r->marks = m->next;
    if (!r->marks) r->marks_tail = NULL;
    free(m);
  }
}

static void release(struct run *r, struct job *j)
{
  if (!j->mark) return;
  j->mark->open--;
  j->mark = NULL;
  advance(r);
}

/* A transaction boundary (COMMIT) or a heartbeat: where the checkpoint can
 * go once the deliveries made before it are released. */
static struct mark *open_mark(struct run *r);

static void boundary(struct run *r, const struct change *e)
{
  struct mark *t = r->marks_tail;
  uint64_t seq = 0;
  if (r->snap && snapshot_marker(e, &seq)) {
    /* the snapshot's rows up to here are saved once their deliveries are
     * released; the checkpoint stays at the handover meanwhile */
    if (!t) {
      if (seq > r->snap_ready) r->snap_ready = seq;
      return;
    }
    t = open_mark(r);
    t->snapseq = seq;
    t->safe = 0;
    t->closed = 1;
    advance(r);
    return;
  }
  if (!t) {
    if (!e->xa_held) {
      memcpy(r->cp.pos.file, e->position.file, sizeof r->cp.pos.file);
      r->cp.pos.pos = e->end_pos;
      memcpy(r->cp.pos.gtid, e->position.gtid, sizeof r->cp.pos.gtid);
      r->cp_dirty = 1;
    }
    return;
  }
  /* the newest mark takes this position (no delivery was made between) */
  memcpy(t->pos.file, e->position.file, sizeof t->pos.file);
  t->pos.pos = e->end_pos;
  memcpy(t->pos.gtid, e->position.gtid, sizeof t->pos.gtid);
  t->safe = !e->xa_held;
  t->closed = 1;
  advance(r);
}

static struct mark *open_mark(struct run *r)
{
  struct mark *t = r->marks_tail;
  if (t && !t->closed) return t;
  t = xcalloc(1, sizeof *t);
  if (r->marks_tail) r->marks_tail->next = t;
  else r->marks = t;
  r->marks_tail = t;
  return t;
}

/* ---- jobs ---- */

static void update_pause(struct run *r);
static void lane_enqueue(struct run *r, struct job *j);
static void lane_pump(struct run *r, struct lane *l);
static void finished(struct run *r, struct job *j);
static void lane_refill(struct run *r, struct lane *l);

static void unload(struct run *r, struct job *j)
{
  if (!j->q) return;
  request_free(j->q);
  free(j->q);
  j->q = NULL;
  ruleset_free(j->rs);
  j->rs = NULL;
  r->inmem--;
}

static void job_free(struct run *r, struct job *j)
{
  unload(r, j);
  live_del(r, j);
  free(j->okey);
  free(j->id);
  wait_unlink(r, j);
  if (j->aprev) j->aprev->anext = j->anext;
  else r->all = j->anext;
  if (j->anext) j->anext->aprev = j->aprev;
  free(j);
  r->jobs--;
}

/* Waits for the queue's writer to make j durable. */
static int tracked(const struct run *r, const struct job *j) { return j->unext || r->unsynced_tail == j; }

static void job_link(struct run *r, struct job *j)
{
  r->jobs++;
  j->aprev = NULL;
  j->anext = r->all;
  if (r->all) r->all->aprev = j;
  r->all = j;
}

static void track(struct run *r, struct job *j, uint64_t ticket)
{
  j->ticket = ticket;
  if (tracked(r, j)) return; /* already waiting: the later ticket counts */
  j->unext = NULL;
  if (r->unsynced_tail) r->unsynced_tail->unext = j;
  else r->unsynced = j;
  r->unsynced_tail = j;
}

/* Writes j into the queue (its first record). */
static void spill(struct run *r, struct job *j, int64_t due)
{
  if (j->seq) return;
  struct buf payload = BUF_INIT;
  struct retryq_rec rec;
  memset(&rec, 0, sizeof rec);
  bh_assert(j->q || j->sent);
  request_encode(j->q ? j->q : j->sent, &payload);
  rec.endpoint = (char *)j->endpoint; /* only read: retryq_add copies */
  rec.rule = (char *)j->rule;
  rec.id = j->id;
  rec.okey = j->okey;
  rec.okeylen = j->okeylen;
  rec.created = (int64_t)j->first;
  rec.attempts = j->attempts;
  rec.due = due;
  rec.payload = payload.p;
  rec.payloadlen = payload.len;
  uint64_t t = retryq_add(r->dq, &rec);
  j->seq = rec.seq;
  buf_free(&payload);
  fresh_unlink(r, j);
  r->spilled++;
  track(r, j, t);
}

/* Loads the request of a job that is only on disk; 0, or -1 when it cannot
 * be sent (it went to the dead letters or was dropped). */
static int load_job(struct run *r, struct job *j)
{
  char err[512];
  if (j->q) return 0;
  const struct endpoint *ep = endpoint_named(r->rs, j->endpoint);
  struct retryq_rec rec;
  if (!ep) {
    j->dead = 1;
    snprintf(err, sizeof err, "endpoint '%s' is no longer in the configuration", j->endpoint);
  } else if (retryq_read(r->dq, j->seq, &rec, err, sizeof err)) {
    j->dead = 1;
  } else {
    struct request *q = xcalloc(1, sizeof *q);
    int rc = request_decode(rec.payload, rec.payloadlen, q, err, sizeof err);
    retryq_rec_free(&rec);
    if (!rc) {
      q->endpoint = ep;
      q->rule = rule_named(r->rs, j->rule); /* may be gone: only its name is needed */
      j->q = q;
      j->rs = ruleset_ref(r->rs);
      r->inmem++;
      return 0;
    }
    free(q);
    j->dead = 1;
  }
  log_error("delivery %s (rule '%s') to endpoint '%s': %s: moved to the dead letters", j->id, j->rule, j->endpoint,
            err);
  r->dead++;
  track(r, j, retryq_dead(r->dq, j->seq, (int64_t)time(NULL), err));
  j->dead_written = 1;
  finished(r, j);
  return -1;
}

static void submit(struct run *r, struct job *j)
{
  struct lane *l = lane_of(r, j->endpoint);
  const struct config_endpoint *c = j->q->endpoint->cfg;
  /* the limits of the configuration running now, also for a retry of a
   * delivery made before a reload */
  const struct config_endpoint *now = config_endpoint(&r->rs->cfg, j->endpoint);
  if (!now) now = c;
  struct deliver_limits lim = {.concurrency = now->concurrency,
                               .timeout = now->timeout,
                               .rate = now->rate_limit,
                               .burst = now->burst,
                               .breaker_failures = now->breaker_failures,
                               .breaker_cooldown = now->breaker_cooldown};
  struct request *q = j->q;
  j->q = NULL; /* the engine's until done (which may come before this returns) */
  j->sent = q;
  j->where = W_ENGINE;
  j->attempts++;
  l->inengine++;
  r->inengine++;
  deliver_submit(r->d, j->endpoint, &lim, q, j);
}

/* Room in the engine for a lane: a few requests beyond its concurrency, so
 * that the engine never idles while a slow endpoint holds few in memory. */
static size_t lane_room(struct run *r, const struct lane *l)
{
  const struct config_endpoint *c = config_endpoint(&r->rs->cfg, l->endpoint);
  size_t cap = (c ? c->concurrency : 8) * 2 + 16;
  return l->inengine < cap ? cap - l->inengine : 0;
}

static void lane_pump(struct run *r, struct lane *l)
{
  if (r->pumping || r->stopping) return;
  r->pumping = 1;
  while (l->head && lane_room(r, l)) {
    struct job *j = l->head;
    l->head = j->next;
    if (!l->head) l->tail = NULL;
    j->next = j->prev = NULL;
    if (is_disabled(r, j->endpoint)) {
      j->dead = 1;
      finished(r, j);
      continue;
    }
    if (load_job(r, j)) continue;
    submit(r, j);
  }
  r->pumping = 0;
}

/* j may be sent now (its key is free, its retry is due). */
static void lane_enqueue(struct run *r, struct job *j)
{
  struct lane *l = lane_of(r, j->endpoint);
  j->where = W_READY;
  j->next = NULL;
  j->prev = l->tail;
  if (l->tail) l->tail->next = j;
  else l->head = j;
  l->tail = j;
  lane_pump(r, l);
}

/* A delivery is over: acknowledged, or moved to the dead letters (j->dead),
 * or left in the queue at a stop. Its key goes to the next delivery of the
 * same row. */
static void finished(struct run *r, struct job *j)
{
  if (j->live) {
    struct lane *l = lane_of(r, j->endpoint);
    if (j->dead) {
      l->dead++;
      l->dead_now++;
    }
    live_del(r, j);
  }
  if (j->dead && !j->dead_written) {
    /* the dead letters hold it: durable before its mark is released */
    const char *why = is_disabled(r, j->endpoint) ? "the endpoint answered 410 Gone and is disabled until a reload"
                                                  : "given up";
    if (!j->seq) spill(r, j, 0);
    track(r, j, retryq_dead(r->dq, j->seq, (int64_t)time(NULL), why));
    j->dead_written = 1;
  }
  struct job *next = j->okey ? order_pop(r->order, j->okey, j->okeylen) : NULL;
  free(j->okey);
  j->okey = NULL;
  j->okeylen = 0;
  if (!j->seq) fresh_unlink(r, j);
  if (tracked(r, j)) { /* freed when the writer is through with it */
    j->done = 1;
    j->where = W_NEW;
    unload(r, j);
  } else {
    job_free(r, j);
  }
  if (next && !r->stopping) lane_enqueue(r, next);
  update_pause(r);
  if (r->stopping && !r->inengine) event_base_loopbreak(r->base);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  double now = bh_mono() + 0.001;
  while (r->nretry && r->retry[0]->due <= now) {
    struct job *j = r->retry[0];
    wait_unlink(r, j);
    lane_enqueue(r, j);
  }
  retry_arm(r);
}

static void on_done(void *arg, void *user, struct request *q, const struct deliver_result *res)
{
  struct run *r = arg;
  struct job *j = user;
  struct lane *l = lane_of(r, j->endpoint);
  l->inengine--;
  r->inengine--;
  j->q = q;
  j->sent = NULL;
  j->where = W_NEW;
  if (res->ok) {
    r->delivered++;
    l->delivered++;
    double lat = bh_mono() - j->born;
    size_t b = 0;
    while (b < NLAT && lat > lat_bounds[b]) b++;
    if (b < NLAT) l->lat_bucket[b]++;
    l->lat_count++;
    l->lat_sum += lat;
    log_debug("delivered %s (rule '%s') to endpoint '%s': %ld in %.0f ms", j->id, j->rule, j->endpoint,
              res->status, res->seconds * 1000);
    if (j->seq) retryq_done(r->dq, j->seq);
    release(r, j);
    finished(r, j);
    lane_pump(r, l);
    lane_refill(r, l);
    return;
  }
  if (r->stopping && !res->status && !strcmp(res->error, NOT_SENT)) {
    j->attempts--; /* never on the wire: not an attempt */
  } else {
    r->failures++;
    l->failed++;
  }
  if (res->status == 410 && !is_disabled(r, j->endpoint)) {
    log_error("endpoint '%s' answered 410 Gone: it is disabled, its deliveries go to the dead letters until a "
              "reload (SIGHUP) or a restart ('binhook dlq replay --endpoint %s' sends them again)",
              j->endpoint, j->endpoint);
    r->disabled = xrealloc(r->disabled, (r->ndisabled + 2) * sizeof *r->disabled);
    r->disabled[r->ndisabled++] = xstrdup(j->endpoint);
    r->disabled[r->ndisabled] = NULL;
    if (!r->stopping) /* what waits for a slot is not sent at all */
      deliver_cancel(r->d, j->endpoint, "the endpoint answered 410 Gone and is disabled until a reload");
  }
  time_t now = time(NULL);
  if (r->stopping) { /* the outcome is unknown: it stays in the queue, due now */
    if (j->seq) track(r, j, retryq_attempt(r->dq, j->seq, j->attempts, (int64_t)now));
    else spill(r, j, (int64_t)now);
    j->where = W_RETRY;
    if (!r->inengine) event_base_loopbreak(r->base);
    return;
  }
  double delay = is_disabled(r, j->endpoint)
                     ? -1
                     : retry_delay(q->endpoint->cfg, j->attempts, difftime(now, j->first), res,
                                   (double)random() / ((double)RAND_MAX + 1));
  if (delay < 0) {
    log_error("delivery %s (rule '%s') to endpoint '%s' failed after %u attempt%s: %s; moved to the dead "
              "letters",
              j->id, j->rule, j->endpoint, j->attempts, j->attempts == 1 ? "" : "s", res->error);
    r->dead++;
    j->dead = 1;
    char why[sizeof res->error + 64];
    snprintf(why, sizeof why, "given up after %u attempt%s: %s", j->attempts, j->attempts == 1 ? "" : "s",
             res->error);
    if (j->seq) retryq_attempt(r->dq, j->seq, j->attempts, (int64_t)now);
    else spill(r, j, (int64_t)now);
    track(r, j, retryq_dead(r->dq, j->seq, (int64_t)now, why));
    j->dead_written = 1;
    finished(r, j);
    lane_pump(r, l);
    lane_refill(r, l);
    return;
  }
  log_warn("delivery %s (rule '%s') to endpoint '%s' failed (attempt %u): %s; next attempt in %.1f s", j->id,
           j->rule, j->endpoint, j->attempts, res->error, delay);
  int64_t due = (int64_t)now + (int64_t)delay;
  if (j->seq) retryq_attempt(r->dq, j->seq, j->attempts, due);
  else spill(r, j, due);
  j->where = W_RETRY;
  wait_link(r, j, delay);
  lane_pump(r, l);
  lane_refill(r, l);
}

/* The writer made records durable (or failed to). */
static void on_durable(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  char err[512];
  (void)fd, (void)what;
  retryq_ack_fd(r->dq);
  uint64_t d = retryq_durable(r->dq);
  while (r->unsynced && r->unsynced->ticket <= d) {
    struct job *j = r->unsynced;
    r->unsynced = j->unext;
    if (!r->unsynced) r->unsynced_tail = NULL;
    j->unext = NULL;
    release(r, j);
    if (j->done || j->where == W_PARKED) job_free(r, j);
    else if (j->where != W_ENGINE) unload(r, j); /* on disk now: read back when it is sent */
  }
  int bad = retryq_error(r->dq, err, sizeof err);
  if (bad && !r->queue_bad)
    log_error("the state directory cannot be written: %s; reading the binlog waits, nothing is lost, and it "
              "resumes by itself when writing works again (free space or fix the disk)",
              err);
  else if (!bad && r->queue_bad)
    log_notice("the state directory can be written again: reading the binlog resumes");
  r->queue_bad = bad;
  update_pause(r);
}

static void take_changes(evutil_socket_t fd, short what, void *arg);

/* ---- parking: an endpoint's deliveries on disk only ---- */

/* l keeps its new deliveries on disk only: it holds its share of memory,
 * or it did and has not read them all back yet (their order is kept). */
static int lane_parks(const struct run *r, const struct lane *l)
{
  return l->npk || l->depth >= LANE_MAX || (r->jobs >= JOBS_MAX && l->depth >= LANE_MIN);
}

static void park_push(struct lane *l, uint64_t seq)
{
  if (l->pk0 + l->npk == l->pkcap) {
    if (l->pk0 > l->pkcap / 2) { /* room at the front: move down */
      memmove(l->parked, l->parked + l->pk0, l->npk * sizeof *l->parked);
      l->pk0 = 0;
    } else {
      l->pkcap = l->pkcap ? l->pkcap * 2 : 1024;
      l->parked = xrealloc(l->parked, l->pkcap * sizeof *l->parked);
    }
  }
  l->parked[l->pk0 + l->npk++] = seq;
}

/* j waits on disk only: its request is written now, and j is freed once
 * that is durable; lane_refill reads it back. */
static void park(struct run *r, struct lane *l, struct job *j)
{
  if (!l->npk) {
    /* what l has not written yet goes first, so that the queue's order
     * (read back at a restart, and here) stays the order of the changes */
    for (struct job *f = r->fresh, *n; f; f = n) {
      n = f->fnext;
      if (f != j && f->endpoint == l->endpoint) spill(r, f, (int64_t)time(NULL));
    }
    log_warn("endpoint '%s' has %zu deliveries unfinished in memory: its next ones wait on disk only, and are "
             "read back in order as it catches up",
             l->endpoint, l->depth);
  }
  live_del(r, j);
  spill(r, j, (int64_t)time(NULL));
  park_push(l, j->seq);
  j->where = W_PARKED;
}

static struct job *job_of_rec(struct run *r, const struct retryq_rec *rec, uint32_t attempts, double born);
static void job_resume(struct run *r, struct job *j, int64_t due, time_t now);

struct refill {
  struct run *r;
  time_t now;
};

static int refill_one(void *arg, const struct retryq_rec *rec)
{
  struct refill *f = arg;
  struct job *j = job_of_rec(f->r, rec, rec->attempts, bh_mono() - difftime(f->now, (time_t)rec->created));
  job_resume(f->r, j, rec->due, f->now);
  return 0;
}

/* Reads parked deliveries of l back, oldest first, while it has room. */
static void lane_refill(struct run *r, struct lane *l)
{
  if (!l->npk || r->stopping || r->refilling) return;
  size_t room;
  if (l->depth < LANE_MAX / 2 && r->jobs < JOBS_MAX * 3 / 4) room = LANE_MAX * 3 / 4 - l->depth;
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
  r->refilling = 1;
  struct refill f = {r, time(NULL)};
  retryq_list_seqs(r->dq, seqs, room, refill_one, &f);
  r->refilling = 0;
  free(seqs);
}

/* Reading waits for the engine to take the requests made. An endpoint
 * that would need more than SPILL_AFTER to send its share is slow: when
 * there are others, its requests go into the queue now (and leave memory
 * once durable), so that it does not hold back reading for them. (Alone,
 * it only waits: writing and reading back would slow it down further.) */
static void spill_slow(struct run *r)
{
  double now = bh_mono();
  if (!r->lanes || !r->lanes->next) return;
  for (struct lane *l = r->lanes; l; l = l->next) l->nwait = 0;
  for (struct job *j = r->fresh; j; j = j->fnext)
    if (j->where != W_ENGINE) lane_of(r, j->endpoint)->nwait++;
  int any = 0;
  for (struct lane *l = r->lanes; l; l = l->next) {
    double rate = l->rate, dt = now - l->rate_t;
    if (dt > 0.05 && (double)(l->delivered - l->rate_seen) / dt > rate) rate = (double)(l->delivered - l->rate_seen) / dt;
    if (l->nwait > LANE_MIN && (double)l->nwait > rate * SPILL_AFTER && now - l->born > 2) any = 1;
    else l->nwait = 0; /* not slow */
  }
  if (!any) return;
  for (struct job *j = r->fresh, *n; j; j = n) {
    n = j->fnext;
    if (j->where != W_ENGINE && lane_of(r, j->endpoint)->nwait) spill(r, j, (int64_t)time(NULL));
  }
}

static void update_pause(struct run *r)
{
  if (r->stopping) return;
  int full = retryq_full(r->dq);
  size_t waiting = r->inmem - r->inengine; /* requests in memory the engine does not hold */
  if (r->paused != 2 && (full || r->queue_bad)) {
    if (!r->paused) {
      event_del(r->qev);
      if (r->odev) event_del(r->odev);
    }
    r->paused = 2; /* said: the disk holds reading back */
    if (full && !r->queue_bad)
      log_warn("the retry queue is full ([state] queue_max): reading the binlog waits until deliveries drain");
  } else if (!r->paused && waiting >= INTAKE_MAX) {
    spill_slow(r);
    event_del(r->qev);
    if (r->odev) event_del(r->odev);
    r->paused = 1; /* the engine is busy: not worth a word */
    log_debug("%zu requests wait for the engine: reading the binlog waits", waiting);
  } else if (r->paused && waiting <= INTAKE_MAX / 2 && !full && !r->queue_bad) {
    if (r->paused == 2) log_info("reading the binlog again (%zu requests wait for the engine)", waiting);
    r->paused = 0;
    struct event *ev = r->odhold ? r->odev : r->qev; /* a snapshot asked for goes first */
    event_add(ev, NULL);
    event_active(ev, EV_READ, 0);
  }
}

/* Once a second: deliveries unfinished for a while go into the queue, and
 * the checkpoint is handed to the writer when it moved. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  double old = bh_mono() - SPILL_AFTER;
  while (r->fresh && r->fresh->born <= old) spill(r, r->fresh, (int64_t)time(NULL));
  if (r->snap && r->snap_ready > r->snap_saved) {
    /* every delivery of the rows up to that marker is acknowledged or
     * durable: the snapshot resumes after it */
    char err[512];
    if (snapshot_commit(r->snap, r->snap_ready, err, sizeof err))
      log_error("the snapshot's progress cannot be saved: %s (a restart reads those rows again)", err);
    else
      r->snap_saved = r->snap_ready;
  }
  if (r->snapshotting && !snapshot_unfinished(r->snap)) {
    r->snapshotting = 0;
    log_notice("the initial snapshot is done: streaming the binlog from its position");
  }
  if (r->cp_dirty) {
    r->cp.saved = (int64_t)time(NULL);
    retryq_set_checkpoint(r->dq, &r->cp);
    r->cp_dirty = 0;
  }
  double now = bh_mono();
  for (struct lane *l = r->lanes; l; l = l->next) {
    double dt = now - l->rate_t;
    if (dt >= 0.5) {
      double cur = (double)(l->delivered - l->rate_seen) / dt;
      l->rate = (l->rate + cur) / 2;
      l->rate_seen = l->delivered;
      l->rate_t = now;
    }
    lane_refill(r, l);
  }
  update_pause(r);
}

/* Makes the delivery of a match to one endpoint. mark: the transaction
 * boundary it belongs to, already counted (coalescing), or NULL for the
 * open one. rs holds rule and ep. */
static void make_job(struct run *r, struct ruleset *rs, const struct rule *rule, const struct endpoint *ep,
                     const struct change *e, struct mark *mark)
{
  char err[1024] = "";
  struct job *j = xcalloc(1, sizeof *j);
  j->run = r;
  j->q = xcalloc(1, sizeof *j->q);
  j->first = time(NULL);
  int bad = request_build(rule, ep, e, (int64_t)j->first, 0, j->q, err, sizeof err);
  if (bad || (r->known.n && idset_has(&r->known, j->q->id))) {
    if (bad) {
      struct buf id = BUF_INIT;
      change_id(e, &id);
      log_error("change %s: %s", id.p, err);
      buf_free(&id);
    } else {
      r->skipped++; /* in the queue already, from before the restart */
      request_free(j->q);
    }
    free(j->q);
    free(j);
    if (mark) {
      mark->open--;
      advance(r);
    }
    return;
  }
  job_link(r, j);
  r->inmem++;
  j->rs = ruleset_ref(rs);
  j->endpoint = lane_of(r, ep->name)->endpoint;
  j->rule = intern_rule(r, rule->name);
  j->id = xstrdup(j->q->id);
  j->born = bh_mono();
  live_add(r, j);
  if (!mark) {
    mark = open_mark(r);
    mark->open++;
  }
  j->mark = mark;
  j->fprev = r->fresh_tail;
  if (r->fresh_tail) r->fresh_tail->fnext = j;
  else r->fresh = j;
  r->fresh_tail = j;
  if (is_disabled(r, ep->name)) {
    log_error("delivery %s (rule '%s') to endpoint '%s': the endpoint is disabled (410 Gone); moved to the "
              "dead letters",
              j->id, j->rule, j->endpoint);
    r->dead++;
    j->dead = 1;
    finished(r, j);
    return;
  }
  /* the key that orders it: the endpoint, and the row (ordering = "key";
   * rows without a primary key, statements and alerts go unordered) */
  enum config_ordering ordering = ep->cfg->ordering;
  if (ordering != CONFIG_ORDER_NONE && (ordering != CONFIG_ORDER_KEY || (e->table && e->table->npk && e->type != EVENT_ALERT))) {
    struct buf k = BUF_INIT;
    buf_adds(&k, ep->name);
    if (ordering == CONFIG_ORDER_KEY) {
      buf_addc(&k, '\n');
      buf_adds(&k, e->table->schema);
      buf_addc(&k, '.');
      buf_adds(&k, e->table->name);
      buf_addc(&k, '\n');
      change_key_to_json(e, &k);
    }
    j->okeylen = k.len;
    j->okey = buf_steal(&k);
  }
  struct lane *l = lane_of(r, j->endpoint);
  if (lane_parks(r, l)) {
    park(r, l, j);
    return;
  }
  if (j->okey && !order_push(r->order, j->okey, j->okeylen, j)) { /* behind the same row's */
    j->where = W_HELD;
    return;
  }
  lane_enqueue(r, j);
}

/* ---- coalescing ---- */

/* Updates of one row to one endpoint (by one rule) within the endpoint's
 * coalesce window become one delivery at the end of the window, with the
 * first update's before image and the last one's after image. It belongs
 * to the mark of the first update, so the checkpoint stays before that
 * until the delivery is made; its id is the last update's, so the same
 * window read again after a crash gives the same delivery and a different
 * window a different id. Any other change of the row to the endpoint (an
 * insert, a delete, an update by another rule) makes the pending one first,
 * so per-row order holds. */
struct coal {
  char *key; /* endpoint \n schema.table \n key */
  size_t keylen;
  struct ruleset *rs; /* holds rule and ep */
  const struct rule *rule;
  const struct endpoint *ep;
  struct change *merged;
  unsigned n;
  struct mark *mark;
  struct event *timer;
  struct run *run;
  struct coal *hnext;         /* hash chain */
  struct coal *anext, *aprev; /* every pending one */
};

static void row_key(const struct endpoint *ep, const struct change *e, struct buf *k)
{
  buf_adds(k, ep->name);
  buf_addc(k, '\n');
  buf_adds(k, e->table->schema);
  buf_addc(k, '.');
  buf_adds(k, e->table->name);
  buf_addc(k, '\n');
  change_key_to_json(e, k);
}

static struct coal **coal_slot(struct run *r, const char *key, size_t len)
{
  uint64_t h = bh_fnv1a(key, len);
  struct coal **p = &r->coal[h & (r->ncoalslots - 1)];
  while (*p && !((*p)->keylen == len && !memcmp((*p)->key, key, len))) p = &(*p)->hnext;
  return p;
}

/* Makes c's delivery and forgets c. */
static void coal_flush(struct run *r, struct coal *c)
{
  struct coal **p = coal_slot(r, c->key, c->keylen);
  bh_assert(*p == c);
  *p = c->hnext;
  if (c->aprev) c->aprev->anext = c->anext;
  else r->coals = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  r->ncoal--;
  r->inmem--;
  event_free(c->timer);
  if (c->n > 1)
    log_debug("rule '%s': %u updates of one row to endpoint '%s' coalesced into one delivery", c->rule->name, c->n,
              c->ep->name);
  make_job(r, c->rs, c->rule, c->ep, c->merged, c->mark);
  change_free(c->merged);
  ruleset_free(c->rs);
  free(c->key);
  free(c);
}

static void on_coal_timer(evutil_socket_t fd, short what, void *arg)
{
  struct coal *c = arg;
  (void)fd, (void)what;
  struct run *r = c->run;
  coal_flush(r, c);
  update_pause(r);
}

/* A change of a row to ep that is not coalesced with what is pending for
 * that row: the pending delivery goes first. */
static void coal_before(struct run *r, const struct endpoint *ep, const struct change *e)
{
  if (!r->ncoal || !e->table || !e->table->npk || (!e->before && !e->after)) return;
  struct buf k = BUF_INIT;
  row_key(ep, e, &k);
  struct coal *c = *coal_slot(r, k.p, k.len);
  buf_free(&k);
  if (c) coal_flush(r, c);
}

/* Every transaction's TABLE_MAP makes a new table: the same definition is
 * what counts (not across an ALTER TABLE). */
static int same_table(const struct table *a, const struct table *b)
{
  if (a == b) return 1;
  if (a->ncols != b->ncols || strcmp(a->schema, b->schema) || strcmp(a->name, b->name)) return 0;
  for (uint32_t i = 0; i < a->ncols; i++)
    if (a->cols[i].type != b->cols[i].type || a->cols[i].meta != b->cols[i].meta ||
        strcmp(a->cols[i].name, b->cols[i].name))
      return 0;
  return 1;
}

static void coal_add(struct run *r, const struct rule *rule, const struct endpoint *ep, const struct change *e)
{
  struct buf k = BUF_INIT;
  row_key(ep, e, &k);
  struct coal *c = r->ncoal ? *coal_slot(r, k.p, k.len) : NULL;
  if (c && (c->rule != rule || c->rs != r->rs || !same_table(c->merged->table, e->table))) {
    /* another rule's, from before a reload, or of another table version */
    coal_flush(r, c);
    c = NULL;
  }
  if (c) {
    struct change *m = change_merged(c->merged, e);
    change_free(c->merged);
    c->merged = m;
    c->n++;
    buf_free(&k);
    return;
  }
  if ((r->ncoal + 1) * 2 > r->ncoalslots) { /* grow and rehash */
    size_t n = r->ncoalslots ? r->ncoalslots * 2 : 1024, oldn = r->ncoalslots;
    struct coal **old = r->coal;
    r->coal = xcalloc(n, sizeof *r->coal);
    r->ncoalslots = n;
    for (size_t i = 0; i < oldn; i++)
      for (struct coal *x = old[i], *nx; x; x = nx) {
        nx = x->hnext;
        x->hnext = NULL;
        *coal_slot(r, x->key, x->keylen) = x;
      }
    free(old);
  }
  c = xcalloc(1, sizeof *c);
  c->run = r;
  c->keylen = k.len;
  c->key = buf_steal(&k);
  c->rs = ruleset_ref(r->rs);
  c->rule = rule;
  c->ep = ep;
  c->merged = change_merged(e, e);
  c->n = 1;
  c->mark = open_mark(r);
  c->mark->open++;
  c->timer = evtimer_new(r->base, on_coal_timer, c);
  double w = ep->cfg->coalesce;
  struct timeval tv = bh_timeval(w);
  evtimer_add(c->timer, &tv);
  *coal_slot(r, c->key, c->keylen) = c;
  c->anext = r->coals;
  if (r->coals) r->coals->aprev = c;
  r->coals = c;
  r->ncoal++;
  r->inmem++;
}

static void on_match(void *arg, const struct rule *rule, const struct change *e)
{
  struct run *r = arg;
  r->matched++;
  count_match(r, rule->name);
  for (size_t i = 0; i < rule->nendpoints; i++) {
    const struct endpoint *ep = rule->endpoints[i];
    if (ep->cfg->coalesce > 0 && e->type == EVENT_UPDATE && e->table && e->table->npk && !r->stopping &&
        !is_disabled(r, ep->name)) {
      coal_add(r, rule, ep, e);
      continue;
    }
    coal_before(r, ep, e);
    make_job(r, r->rs, rule, ep, e, NULL);
  }
}

/* a at or after b in the binlog (files by their number) */
static int pos_at_or_after(const char *afile, uint64_t apos, const struct position *b)
{
  const char *da = strrchr(afile, '.'), *db = strrchr(b->file, '.');
  unsigned long long na = da ? strtoull(da + 1, NULL, 10) : 0, nb = db ? strtoull(db + 1, NULL, 10) : 0;
  if (na != nb) return na > nb;
  return apos >= b->pos;
}

static void feed(struct run *r, struct change *e);
static void od_finish(struct run *r);

/* The on-demand snapshot's rows, taken once the stream has reached the
 * snapshot's position (so that each row's snapshot comes after the changes
 * before it and before those after it). */
static void od_take(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  if (!r->od || !r->odhold || r->paused || r->stopping) return;
  struct changeq *q = source_queue(r->odsrc);
  struct change *e = changeq_pop_all(q, 0);
  if (!e && changeq_closed(q)) {
    od_finish(r);
    return;
  }
  while (e) {
    struct change *next = e->next;
    if (e->type == EVENT_SNAPSHOT) {
      r->odrows++;
      r->events[EVENT_SNAPSHOT]++;
      matcher_feed(r->m, e, on_match, r);
    }
    change_free(e);
    e = next;
  }
  /* the thread closes the queue after its last row */
  if (changeq_closed(q)) od_finish(r);
  else update_pause(r);
}

static void od_finish(struct run *r)
{
  const char *why = snapshot_error(r->od);
  if (why)
    log_error("the snapshot asked for failed after %llu rows: %s (ask again with binhook snapshot)", r->odrows, why);
  else
    log_notice("the snapshot asked for is done: %llu rows; the stream goes on", r->odrows);
  event_free(r->odev);
  r->odev = NULL;
  snapshot_free(r->od);
  r->od = NULL;
  source_free(r->odsrc);
  r->odsrc = NULL;
  r->odhold = 0;
  /* the stream events that waited, then the stream */
  struct change *e = r->held;
  r->held = NULL;
  while (e && !r->odhold) {
    struct change *next = e->next;
    feed(r, e);
    change_free(e);
    e = next;
  }
  if (e) r->held = e; /* cannot happen: no snapshot is running now */
  if (!r->paused && !r->stopping) {
    event_add(r->qev, NULL);
    event_active(r->qev, EV_READ, 0);
  }
}

/* One stream event: filtered by a resumed initial snapshot, counted, matched;
 * its transaction boundary noted. The caller frees e. */
static void feed(struct run *r, struct change *e)
{
  if (r->snap && e->type != EVENT_SNAPSHOT && !snapshot_marker(e, NULL) && !snapshot_filter(r->snap, e))
    return; /* a change the resumed snapshot read already */
  if (e->type <= EVENT_ALERT) r->events[e->type]++;
  if (e->type == EVENT_HEARTBEAT) r->lag = 0;
  else if (e->ts) r->lag = difftime(time(NULL), (time_t)e->ts) > 0 ? difftime(time(NULL), (time_t)e->ts) : 0;
  matcher_feed(r->m, e, on_match, r);
  if (e->type == EVENT_COMMIT || e->type == EVENT_HEARTBEAT) boundary(r, e);
}

static void take_changes(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  if (r->paused || r->stopping) return;
  struct change *e = r->backlog;
  r->backlog = NULL;
  if (!e) e = changeq_pop_all(r->q, 0);
  if (!e && changeq_closed(r->q)) {
    const char *why = r->snap && snapshot_error(r->snap) ? snapshot_error(r->snap) : source_error(r->src);
    if (why && r->from_cp && !r->seen && purged(why)) /* the server's answer to the request itself */
      refuse_purged(r, why);
    else
      log_error("the change stream ended: %s", why ? why : "stopped");
    r->failed = 1;
    event_base_loopbreak(r->base);
    return;
  }
  if (e) r->seen = 1;
  struct change *done = NULL, *done_tail = NULL; /* fed: freed by the thread that made them */
  while (e) {
    struct change *next = e->next;
    if (r->od && !r->odhold && e->type != EVENT_SNAPSHOT && e->position.file[0] &&
        pos_at_or_after(e->position.file, e->type == EVENT_HEARTBEAT ? e->end_pos : e->position.pos, &r->odpos)) {
      /* the snapshot asked for goes first; the stream waits */
      r->odhold = 1;
      r->held = e;
      event_del(r->qev);
      event_add(r->odev, NULL);
      event_active(r->odev, EV_READ, 0);
      break;
    }
    feed(r, e);
    e->next = NULL;
    if (done_tail) done_tail->next = e;
    else done = e;
    done_tail = e;
    e = next;
    if (e && r->inmem - r->inengine >= INTAKE_MAX) { /* the rest waits with reading */
      r->backlog = e;
      break;
    }
  }
  changeq_recycle(r->q, done, done_tail);
  update_pause(r);
}

/* ---- start: the queue read back ---- */

/* A job for a delivery of the queue (read back at start, or a dead letter
 * sent again), its request left on disk; W_HELD when it waits behind an
 * earlier delivery of the same row. */
static struct job *job_of_rec(struct run *r, const struct retryq_rec *rec, uint32_t attempts, double born)
{
  struct job *j = xcalloc(1, sizeof *j);
  job_link(r, j);
  j->run = r;
  j->endpoint = lane_of(r, rec->endpoint)->endpoint;
  j->rule = intern_rule(r, rec->rule);
  j->id = xstrdup(rec->id);
  j->attempts = attempts;
  j->first = (time_t)rec->created;
  j->seq = rec->seq;
  j->born = born;
  live_add(r, j);
  if (rec->okey) {
    j->okey = xmalloc(rec->okeylen + 1);
    memcpy(j->okey, rec->okey, rec->okeylen + 1);
    j->okeylen = rec->okeylen;
    if (!order_push(r->order, j->okey, j->okeylen, j)) j->where = W_HELD;
  }
  return j;
}

/* j, read back from the queue, waits for its retry or is sent, unless it
 * is behind the same row's. */
static void job_resume(struct run *r, struct job *j, int64_t due, time_t now)
{
  if (j->where == W_HELD) return;
  if (due > (int64_t)now) {
    j->where = W_RETRY;
    wait_link(r, j, (double)(due - (int64_t)now));
  } else {
    lane_enqueue(r, j);
  }
}

struct restore {
  struct run *r;
  time_t now;
};

static int restore_one(void *arg, const struct retryq_rec *rec)
{
  struct restore *rs = arg;
  struct run *r = rs->r;
  idset_add(&r->known, rec->id);
  if (rec->dead) {
    lane_of(r, rec->endpoint)->dead_now++;
    return 0;
  }
  r->restored++;
  struct lane *l = lane_of(r, rec->endpoint);
  if (lane_parks(r, l)) {
    park_push(l, rec->seq);
    return 0;
  }
  struct job *j = job_of_rec(r, rec, rec->attempts, bh_mono() - difftime(rs->now, (time_t)rec->created));
  job_resume(r, j, rec->due, rs->now);
  return 0;
}

/* ---- configuration ---- */

/* Loads path into a new ruleset; NULL after logging every problem (those
 * of the rules and templates too when the files themselves have some, as
 * `binhook check` does). */
static struct ruleset *load(const char *path)
{
  struct config cfg;
  config_defaults(&cfg);
  size_t errsz = 1 << 20;
  char *errs = xmalloc(errsz), *save = NULL;
  struct buf more = BUF_INIT;
  struct ruleset *rs = NULL;
  int bad = config_load(path, &cfg, errs, errsz);
  if (bad)
    for (char *line = strtok_r(errs, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
  if (cfg.files && ruleset_build(&cfg, 1, &rs, &more)) {
    save = NULL;
    for (char *line = strtok_r(more.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
    bad = 1;
  }
  if (bad) {
    ruleset_free(rs);
    rs = NULL;
  }
  free(errs);
  buf_free(&more);
  config_free(&cfg);
  return rs;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int same_strv(char **a, char **b)
{
  for (; a && b && *a && *b; a++, b++)
    if (strcmp(*a, *b)) return 0;
  return (!a || !*a) && (!b || !*b);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  log_notice("SIGHUP: reloading '%s'", r->config_path);
  struct ruleset *rs = load(r->config_path);
  if (!rs) {
    log_error("reload refused: the configuration loaded before keeps running (fix the problems above, then "
              "send SIGHUP again)");
    return;
  }
  if (r->source_url) {
    free(rs->cfg.source.url);
    rs->cfg.source.url = xstrdup(r->source_url);
  }
  if (r->state_dir) {
    free(rs->cfg.state.dir);
    rs->cfg.state.dir = xstrdup(r->state_dir);
  }
  log_set_level(rs->cfg.log.level);
  log_set_format(rs->cfg.log.format);
  const struct config_source *a = &r->rs->cfg.source, *b = &rs->cfg.source;
  if (!same_str(a->url, b->url) || a->server_id != b->server_id || !same_strv(a->tables, b->tables) ||
      !same_strv(a->exclude, b->exclude) || a->tls != b->tls || !same_str(r->rs->cfg.state.dir, rs->cfg.state.dir))
    log_warn("[source] or [state] changed: that takes effect at the next start; rules, endpoints and templates "
             "are reloaded now");
  /* Threshold counts of an open transaction start again with the new rules. */
  matcher_free(r->m);
  ruleset_free(r->rs);
  r->rs = rs;
  r->m = matcher_new(rs);
  for (size_t i = 0; i < r->ndisabled; i++) {
    log_notice("endpoint '%s' is enabled again", r->disabled[i]);
    free(r->disabled[i]);
  }
  r->ndisabled = 0;
  for (size_t i = 0; i < rs->nendpoints; i++) lane_of(r, rs->endpoints[i].name);
  log_notice("reloaded '%s': %zu rules, %zu endpoints", r->config_path, rs->nrules, rs->nendpoints);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  log_warn("%zu deliveries still in flight after %.0f s: stopping; they stay in the retry queue", r->inengine,
           GRACE_SECONDS);
  event_base_loopbreak(r->base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)what;
  if (r->stopping) {
    log_notice("second signal: stopping now (what is in flight stays in the retry queue)");
    event_base_loopbreak(r->base);
    return;
  }
  log_notice("%s: stopping; %zu deliveries in flight", fd == SIGINT ? "SIGINT" : "SIGTERM", r->inengine);
  sd_notify_msg("STOPPING=1");
  r->stopping = 1;
  event_del(r->qev);
  /* what waits in the engine for a slot, the rate limit or a closed
   * circuit is not on the wire: it goes back to the queue at once; only the
   * transfers under way get the grace period */
  for (struct lane *l = r->lanes; l && r->inengine; l = l->next) deliver_cancel(r->d, l->endpoint, NOT_SENT);
  if (!r->inengine) {
    event_base_loopbreak(r->base);
    return;
  }
  log_notice("waiting up to %.0f s for %zu deliveries under way", GRACE_SECONDS, r->inengine);
  struct timeval tv = {(time_t)GRACE_SECONDS, 0};
  if (!r->grace) r->grace = evtimer_new(r->base, on_grace, r);
  evtimer_add(r->grace, &tv);
}

/* ---- the admin server ---- */

/* A label value in the exposition format: \\, \" and \n escaped. */
static void add_label(struct buf *b, const char *v)
{
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') buf_addc(b, '\\');
    if (*v == '\n') {
      buf_adds(b, "\\n");
      continue;
    }
    buf_addc(b, *v);
  }
}

static void metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
  buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double oldest_age(const struct lane *l, time_t now)
{
  return l->live ? difftime(now, l->live->first) : 0;
}

static int endpoint_up(const struct run *r, const struct lane *l)
{
  return !is_disabled(r, l->endpoint) && !deliver_circuit_open(r->d, l->endpoint);
}

static void admin_metrics(void *ctx, struct buf *b)
{
  struct run *r = ctx;
  time_t now = time(NULL);
  struct retryq_stats qs;
  retryq_stats(r->dq, &qs);
  metric_head(b, "binhook_build_info", "gauge", "The running binhook's version.");
  buf_printf(b, "binhook_build_info{version=\"%s\"} 1\n", BINHOOK_VERSION);
  metric_head(b, "binhook_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.");
  buf_printf(b, "binhook_start_time_seconds %lld\n", (long long)r->started);
  metric_head(b, "binhook_streaming", "gauge", "1 while the replication connection is open.");
  buf_printf(b, "binhook_streaming %d\n", source_connected(r->src));
  metric_head(b, "binhook_binlog_lag_seconds", "gauge",
              "How far behind the server the last event read was (0 after a heartbeat).");
  buf_printf(b, "binhook_binlog_lag_seconds %.0f\n", r->lag);
  metric_head(b, "binhook_binlog_events_total", "counter", "Events read from the binlog, by type.");
  static const enum event_type shown[] = {EVENT_INSERT, EVENT_UPDATE, EVENT_DELETE, EVENT_SNAPSHOT, EVENT_STATEMENT,
                                          EVENT_COMMIT, EVENT_HEARTBEAT};
  for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
    buf_printf(b, "binhook_binlog_events_total{type=\"%s\"} %llu\n", change_type_name(shown[i]), r->events[shown[i]]);
  metric_head(b, "binhook_rule_matches_total", "counter", "Changes a rule matched, by rule.");
  for (size_t i = 0; i < r->rs->nrules; i++) { /* every rule, matched or not */
    unsigned long long n = 0;
    for (struct rulecount *c = r->rulecounts; c; c = c->next)
      if (!strcmp(c->rule, r->rs->rules[i].name)) n = c->n;
    buf_adds(b, "binhook_rule_matches_total{rule=\"");
    add_label(b, r->rs->rules[i].name);
    buf_printf(b, "\"} %llu\n", n);
  }
  for (struct rulecount *c = r->rulecounts; c; c = c->next)
    if (!rule_named(r->rs, c->rule)) { /* removed by a reload */
      buf_adds(b, "binhook_rule_matches_total{rule=\"");
      add_label(b, c->rule);
      buf_printf(b, "\"} %llu\n", c->n);
    }
  metric_head(b, "binhook_deliveries_total", "counter",
              "Deliveries by endpoint and result: delivered (2xx), failed (attempts that failed), dead (moved to "
              "the dead letters).");
  for (const struct lane *l = r->lanes; l; l = l->next) {
    const char *res[] = {"delivered", "failed", "dead"};
    unsigned long long v[] = {l->delivered, l->failed, l->dead};
    for (size_t i = 0; i < 3; i++) {
      buf_adds(b, "binhook_deliveries_total{endpoint=\"");
      add_label(b, l->endpoint);
      buf_printf(b, "\",result=\"%s\"} %llu\n", res[i], v[i]);
    }
  }
  metric_head(b, "binhook_delivery_latency_seconds", "histogram",
              "From the change reaching binhook to its acknowledgement, retries included.");
  for (const struct lane *l = r->lanes; l; l = l->next) {
    unsigned long long cum = 0;
    for (size_t i = 0; i <= NLAT; i++) {
      buf_adds(b, "binhook_delivery_latency_seconds_bucket{endpoint=\"");
      add_label(b, l->endpoint);
      if (i < NLAT) {
        cum += l->lat_bucket[i];
        buf_adds(b, "\",le=\"");
        buf_add_double(b, lat_bounds[i], 0);
        buf_printf(b, "\"} %llu\n", cum);
      } else {
        buf_printf(b, "\",le=\"+Inf\"} %llu\n", l->lat_count);
      }
    }
    buf_adds(b, "binhook_delivery_latency_seconds_sum{endpoint=\"");
    add_label(b, l->endpoint);
    buf_printf(b, "\"} %.6f\n", l->lat_sum);
    buf_adds(b, "binhook_delivery_latency_seconds_count{endpoint=\"");
    add_label(b, l->endpoint);
    buf_printf(b, "\"} %llu\n", l->lat_count);
  }
  struct {
    const char *name, *help;
  } gauges[] = {
      {"binhook_queue_depth", "Deliveries not finished yet (in flight, waiting for a retry or held behind the same row)."},
      {"binhook_queue_oldest_age_seconds", "Age of the oldest unfinished delivery."},
      {"binhook_dead_letters", "Dead letters in the queue."},
      {"binhook_endpoint_up", "0 while the endpoint is disabled (410 Gone) or its circuit breaker is open."},
  };
  for (size_t g = 0; g < 4; g++) {
    metric_head(b, gauges[g].name, "gauge", gauges[g].help);
    for (const struct lane *l = r->lanes; l; l = l->next) {
      buf_printf(b, "%s{endpoint=\"", gauges[g].name);
      add_label(b, l->endpoint);
      if (g == 0) buf_printf(b, "\"} %zu\n", l->depth + l->npk);
      else if (g == 1) buf_printf(b, "\"} %.0f\n", oldest_age(l, now));
      else if (g == 2) buf_printf(b, "\"} %zu\n", l->dead_now);
      else buf_printf(b, "\"} %d\n", endpoint_up(r, l));
    }
  }
  if (r->snap) {
    struct snapshot_progress p;
    snapshot_progress_get(r->snap, &p);
    static const struct {
      const char *name, *help;
    } per_table[] = {{"binhook_snapshot_rows_done", "Rows the initial snapshot has read, by table."},
                     {"binhook_snapshot_rows_estimated", "Rows the tables of the snapshot hold (an estimate)."}};
    for (size_t m = 0; m < 2; m++) {
      metric_head(b, per_table[m].name, "gauge", per_table[m].help);
      for (size_t i = 0; i < p.ntables; i++) {
        buf_printf(b, "%s{table=\"", per_table[m].name);
        add_label(b, p.tables[i].schema);
        buf_addc(b, '.');
        add_label(b, p.tables[i].name);
        buf_printf(b, "\"} %" PRIu64 "\n", m ? p.tables[i].estimated : p.tables[i].done);
      }
    }
    metric_head(b, "binhook_snapshot_running", "gauge", "1 while the initial snapshot reads rows.");
    buf_printf(b, "binhook_snapshot_running %d\n", !p.finished && snapshot_unfinished(r->snap));
    free((void *)p.tables);
  }
  metric_head(b, "binhook_queue_bytes", "gauge", "Bytes of the retry queue on disk.");
  buf_printf(b, "binhook_queue_bytes %" PRIu64 "\n", qs.bytes);
  metric_head(b, "binhook_state_writable", "gauge", "0 while the state directory cannot be written.");
  buf_printf(b, "binhook_state_writable %d\n", !r->queue_bad);
  const char *f = r->cp.pos.file, *dot = strrchr(f, '.');
  metric_head(b, "binhook_checkpoint_file_number", "gauge", "The number of the checkpoint's binlog file.");
  buf_printf(b, "binhook_checkpoint_file_number %llu\n", dot ? strtoull(dot + 1, NULL, 10) : 0ull);
  metric_head(b, "binhook_checkpoint_position_bytes", "gauge", "The checkpoint's offset in that file.");
  buf_printf(b, "binhook_checkpoint_position_bytes %" PRIu64 "\n", r->cp.pos.pos);
}

static void add_str_field(struct buf *b, const char *key, const char *v)
{
  buf_printf(b, "\"%s\":", key);
  if (v) buf_add_json_str(b, v, strlen(v));
  else buf_adds(b, "null");
}

static void admin_status(void *ctx, struct buf *b)
{
  struct run *r = ctx;
  time_t now = time(NULL);
  struct retryq_stats qs;
  retryq_stats(r->dq, &qs);
  buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"uptime_seconds\":%.0f,", BINHOOK_VERSION, (long)getpid(),
             difftime(now, r->started));
  add_str_field(b, "config", r->config_path);
  buf_printf(b, ",\"source\":{\"streaming\":%s,\"lag_seconds\":%.0f,\"paused\":%s},",
             source_connected(r->src) ? "true" : "false", r->lag, r->paused ? "true" : "false");
  buf_adds(b, "\"checkpoint\":{");
  add_str_field(b, "file", r->cp.pos.file);
  buf_printf(b, ",\"pos\":%" PRIu64 ",", r->cp.pos.pos);
  add_str_field(b, "gtid", r->cp.pos.gtid[0] ? r->cp.pos.gtid : NULL);
  buf_printf(b, "},\"queue\":{\"bytes\":%" PRIu64 ",\"waiting\":%zu,\"dead\":%zu,\"writable\":%s},", qs.bytes,
             qs.live, qs.dead, r->queue_bad ? "false" : "true");
  if (r->snap) {
    struct snapshot_progress p;
    snapshot_progress_get(r->snap, &p);
    buf_printf(b, "\"snapshot\":{\"running\":%s,\"rows_done\":%" PRIu64 ",\"rows_estimated\":%" PRIu64
               ",\"rate\":%.0f,\"eta_seconds\":%.0f,\"tables\":[",
               !p.finished && snapshot_unfinished(r->snap) ? "true" : "false", p.done, p.estimated, p.rate, p.eta);
    for (size_t i = 0; i < p.ntables; i++) {
      buf_printf(b, "%s{\"schema\":", i ? "," : "");
      buf_add_json_str(b, p.tables[i].schema, strlen(p.tables[i].schema));
      buf_adds(b, ",\"table\":");
      buf_add_json_str(b, p.tables[i].name, strlen(p.tables[i].name));
      buf_printf(b, ",\"rows_done\":%" PRIu64 ",\"rows_estimated\":%" PRIu64 ",\"finished\":%s}", p.tables[i].done,
                 p.tables[i].estimated, p.tables[i].finished ? "true" : "false");
    }
    buf_adds(b, "]},");
    free((void *)p.tables);
  }
  buf_printf(b, "\"totals\":{\"matches\":%llu,\"delivered\":%llu,\"failed_attempts\":%llu,\"dead\":%llu,"
             "\"restored\":%llu},\"endpoints\":[",
             r->matched, r->delivered, r->failures, r->dead, r->restored);
  for (const struct lane *l = r->lanes; l; l = l->next) {
    buf_adds(b, "{");
    add_str_field(b, "name", l->endpoint);
    buf_printf(b, ",\"up\":%s,\"disabled\":%s,\"circuit_open\":%s,\"in_flight\":%zu,\"depth\":%zu,"
               "\"oldest_age_seconds\":%.0f,\"dead_letters\":%zu,\"delivered\":%llu,\"failed_attempts\":%llu}%s",
               endpoint_up(r, l) ? "true" : "false", is_disabled(r, l->endpoint) ? "true" : "false",
               deliver_circuit_open(r->d, l->endpoint) ? "true" : "false", l->inengine, l->depth + l->npk,
               oldest_age(l, now), l->dead_now, l->delivered, l->failed, l->next ? "," : "");
  }
  buf_adds(b, "]}\n");
}

static int admin_healthy(void *ctx, char *why, size_t whysz)
{
  struct run *r = ctx;
  if (r->stopping) return bh_err(why, whysz, "stopping"), 0;
  if (r->queue_bad) return bh_err(why, whysz, "the state directory cannot be written"), 0;
  if (r->snapshotting) return bh_err(why, whysz, "taking the initial snapshot"), 0;
  if (!source_connected(r->src)) return bh_err(why, whysz, "not connected to the server (reconnecting)"), 0;
  return 1;
}

struct pick {
  const struct admin_sel *sel;
  struct retryq_rec *recs; /* copies without payload */
  size_t n;
};

static int pick_one(void *arg, const struct retryq_rec *rec)
{
  struct pick *p = arg;
  if (!admin_sel_match(p->sel, rec)) return 0;
  p->recs = xrealloc(p->recs, (p->n + 1) * sizeof *p->recs);
  struct retryq_rec *c = &p->recs[p->n++];
  *c = *rec;
  c->endpoint = xstrdup(rec->endpoint);
  c->rule = xstrdup(rec->rule);
  c->id = xstrdup(rec->id);
  c->reason = rec->reason ? xstrdup(rec->reason) : NULL;
  c->payload = NULL;
  c->payloadlen = 0;
  if (rec->okey) {
    c->okey = xmalloc(rec->okeylen + 1);
    memcpy(c->okey, rec->okey, rec->okeylen + 1);
  }
  return 0;
}

/* A dead letter sent again: a delivery due now with no attempts made. */
static void revive(struct run *r, const struct retryq_rec *rec)
{
  struct lane *l = lane_of(r, rec->endpoint);
  if (l->dead_now) l->dead_now--;
  retryq_revive(r->dq, rec->seq, (int64_t)time(NULL));
  struct job *j = job_of_rec(r, rec, 0, bh_mono());
  if (j->where != W_HELD) lane_enqueue(r, j);
}

static int admin_dlq(void *ctx, const char *op, const struct admin_sel *sel, struct buf *b)
{
  struct run *r = ctx;
  char err[512];
  int write = !strcmp(op, "replay") || !strcmp(op, "drop");
  if (write && sel->waiting) {
    buf_adds(b, "{\"error\":\"replay and drop act on dead letters only (waiting deliveries are retried on their "
                "own)\"}\n");
    return 400;
  }
  if (write && !sel->all && !(sel->ids && sel->ids[0]) && !sel->endpoint && !sel->rule && !sel->since && !sel->until) {
    buf_adds(b, "{\"error\":\"choose what (id, endpoint, rule, since, until) or say all=1\"}\n");
    return 400;
  }
  if (write && r->stopping) {
    buf_adds(b, "{\"error\":\"the daemon is stopping\"}\n");
    return 409;
  }
  struct pick p = {sel, NULL, 0};
  retryq_list(r->dq, pick_one, &p);
  int code = 200;
  if (!strcmp(op, "list")) {
    for (size_t i = 0; i < p.n; i++) {
      admin_rec_json(&p.recs[i], b);
      buf_addc(b, '\n');
    }
  } else if (!strcmp(op, "show")) {
    if (!p.n) {
      buf_adds(b, "{\"error\":\"no such delivery\"}\n");
      code = 404;
    } else {
      struct retryq_rec full;
      struct request rq;
      if (retryq_read(r->dq, p.recs[0].seq, &full, err, sizeof err)) {
        buf_adds(b, "{\"error\":");
        buf_add_json_str(b, err, strlen(err));
        buf_adds(b, "}\n");
        code = 500;
      } else {
        size_t start = b->len;
        admin_rec_json(&full, b);
        if (!request_decode(full.payload, full.payloadlen, &rq, err, sizeof err)) {
          b->len--; /* the closing brace */
          buf_adds(b, ",\"request\":{");
          add_str_field(b, "method", rq.method);
          buf_addc(b, ',');
          add_str_field(b, "url", rq.url);
          buf_adds(b, ",\"headers\":{");
          for (size_t i = 0; i < rq.nheaders; i++) {
            if (i) buf_addc(b, ',');
            add_str_field(b, rq.headers[i].name, rq.headers[i].value);
          }
          buf_adds(b, "},\"body\":");
          buf_add_json_str(b, rq.body.p ? rq.body.p : "", rq.body.len);
          buf_adds(b, "}}");
          request_free(&rq);
        }
        (void)start;
        buf_addc(b, '\n');
        retryq_rec_free(&full);
      }
    }
  } else {
    int replay = !strcmp(op, "replay");
    for (size_t i = 0; i < p.n; i++) {
      if (replay) {
        revive(r, &p.recs[i]);
      } else {
        struct lane *l = lane_of(r, p.recs[i].endpoint);
        if (l->dead_now) l->dead_now--;
        retryq_done(r->dq, p.recs[i].seq);
      }
    }
    log_notice("admin: %s %zu dead letter%s", replay ? "replayed" : "dropped", p.n, p.n == 1 ? "" : "s");
    buf_printf(b, "{\"%s\":%zu}\n", replay ? "replayed" : "dropped", p.n);
    if (replay) update_pause(r);
  }
  for (size_t i = 0; i < p.n; i++) retryq_rec_free(&p.recs[i]);
  free(p.recs);
  return code;
}

/* POST /snapshot: the tables (globs) read again as snapshot events, in one
 * consistent snapshot whose rows go out when the stream reaches its
 * position. Not resumable: one that a stop or a crash cuts is asked again. */
static int admin_snapshot(void *ctx, char *const *tables, struct buf *b)
{
  struct run *r = ctx;
  char err[1024];
  if (r->od || r->snapshotting) {
    buf_printf(b, "{\"error\":\"a snapshot is running already (%s): wait for it\"}\n",
               r->od ? "one asked for" : "the initial one");
    return 409;
  }
  if (r->stopping) {
    buf_adds(b, "{\"error\":\"the daemon is stopping\"}\n");
    return 409;
  }
  struct source_opts so;
  memset(&so, 0, sizeof so);
  if (config_source_conn(&r->rs->cfg, &so.conn, err, sizeof err)) goto fail;
  enum snapshot_lock lock = r->rs->cfg.source.snapshot_lock;
  struct snapshot_opts sno = {.conn = so.conn,
                              .include = tables && tables[0] ? tables : r->rs->cfg.source.tables,
                              .exclude = r->rs->cfg.source.exclude,
                              .chunk_rows = r->rs->cfg.source.snapshot_chunk,
                              .rate = r->rs->cfg.source.snapshot_rate,
                              .lock = lock,
                              .no_stream = 1};
  struct snapshot *sn = snapshot_new(&sno);
  if (snapshot_begin(sn, err, sizeof err) < 0) {
    snapshot_free(sn);
    goto fail;
  }
  so.queue_events = r->rs->cfg.source.queue_events;
  so.queue_bytes = r->rs->cfg.source.queue_bytes;
  struct source *q = source_new(&so);
  if (snapshot_start(sn, q, err, sizeof err)) {
    snapshot_free(sn);
    source_free(q);
    goto fail;
  }
  conn_opts_free(&so.conn);
  r->od = sn;
  r->odsrc = q;
  r->odpos = *snapshot_handover(sn);
  r->odrows = 0;
  r->odev = event_new(r->base, changeq_fd(source_queue(q)), EV_READ | EV_PERSIST, od_take, r);
  log_notice("a snapshot was asked for: its rows go out when the stream reaches %s:%" PRIu64, r->odpos.file,
             r->odpos.pos);
  buf_adds(b, "{\"started\":true,\"position\":");
  buf_printf(b, "{\"file\":\"%s\",\"pos\":%" PRIu64 "}}\n", r->odpos.file, r->odpos.pos);
  return 200;
fail:
  conn_opts_free(&so.conn);
  buf_adds(b, "{\"error\":");
  buf_add_json_str(b, err, strlen(err));
  buf_adds(b, "}\n");
  return 500;
}

/* Tells systemd (Type=notify) how the daemon is: READY=1, STOPPING=1. */
static void sd_notify_msg(const char *msg)
{
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@') sa.sun_path[0] = 0; /* an abstract socket */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
    log_warn("cannot notify systemd at '%s'", path);
  close(fd);
}

/* Where reading starts: --from, else the checkpoint, else [source] start.
 * Returns 0, or -1 with err. */
static int start_from(struct run *r, struct start_pos *sp, int *from_cp, char *err, size_t errsz)
{
  struct checkpoint cp;
  char why[512];
  *from_cp = 0;
  int have = state_checkpoint_load(r->st, &cp, why, sizeof why);
  if (have < 0) return bh_err(err, errsz, "%s", why);
  if (r->from) {
    if (start_pos_parse(r->from, sp, err, errsz)) return -1;
    if (have)
      log_warn("--from %s: the checkpoint %s:%" PRIu64 " is not used; changes between it and %s are %s", r->from,
               cp.pos.file, cp.pos.pos, r->from, "skipped or delivered again, as that position says");
    return 0;
  }
  if (have) {
    memset(sp, 0, sizeof *sp);
    sp->kind = START_FILE;
    snprintf(sp->file, sizeof sp->file, "%s", cp.pos.file);
    sp->pos = cp.pos.pos;
    r->cp = cp;
    *from_cp = 1;
    return 0;
  }
  const char *s = r->rs->cfg.source.start ? r->rs->cfg.source.start : "end";
  return start_pos_parse(s, sp, err, errsz);
}

static int purged(const char *msg)
{
  return strstr(msg, "1236") || strstr(msg, "first log file name") || strstr(msg, "purged") ||
         strstr(msg, "not found") || strstr(msg, "Could not find");
}

/* 1 when the server still has binlog file, 0 when it does not, -1 when
 * it cannot be asked (then the stream's own answer decides). */
static int binlog_present(const struct conn_opts *co, const char *file)
{
  char err[512];
  MYSQL *m = conn_open(co, err, sizeof err);
  if (!m) return -1;
  int found = -1;
  if (!mysql_query(m, "SHOW BINARY LOGS")) {
    MYSQL_RES *res = mysql_store_result(m);
    if (res) {
      MYSQL_ROW row;
      found = 0;
      while ((row = mysql_fetch_row(res)))
        if (row[0] && !strcmp(row[0], file)) found = 1;
      mysql_free_result(res);
    }
  }
  mysql_close(m);
  return found;
}

static void refuse_purged(const struct run *r, const char *why)
{
  log_error("cannot resume at the checkpoint %s:%" PRIu64 ": %s. The server no longer has that binlog (it was "
            "purged), so the changes after it cannot be read. Ways out: 'binhook run --from start' reads from "
            "the oldest binlog the server has (changes may be delivered again); 'binhook run --from end' skips "
            "to now (changes in between are never delivered); both are logged. Keep binlogs longer "
            "(binlog_expire_logs_seconds) so that this does not happen again",
            r->cp.pos.file, r->cp.pos.pos, why);
}

int cmd_run(int argc, char **argv)
{
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"source", required_argument, NULL, 's'},
                                           {"from", required_argument, NULL, 'f'},
                                           {"state", required_argument, NULL, 'S'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  struct run r = {.config_path = "gateway.toml"};
  char err[1024];
  int opt, rc = 1;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': r.config_path = optarg; break;
    case 's': r.source_url = optarg; break;
    case 'f': r.from = optarg; break;
    case 'S': r.state_dir = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook run: unexpected argument '%s' (the file goes after -c)\n", argv[optind]);
    return 2;
  }
  if (!(r.rs = load(r.config_path))) {
    log_error("cannot start: fix the configuration ('binhook check -c %s' lists every problem)", r.config_path);
    return 2;
  }
  log_set_level(r.rs->cfg.log.level);
  log_set_format(r.rs->cfg.log.format);
  srandom((unsigned)time(NULL) ^ (unsigned)getpid());
  signal(SIGPIPE, SIG_IGN);
  struct config *cfg = &r.rs->cfg;
  if (r.source_url) {
    free(cfg->source.url);
    cfg->source.url = xstrdup(r.source_url);
  }
  if (r.state_dir) {
    free(cfg->state.dir);
    cfg->state.dir = xstrdup(r.state_dir);
  }

  /* the state directory */
  if (!(r.st = state_open(cfg->state.dir, 0, err, sizeof err))) {
    log_error("cannot start: %s", err);
    ruleset_free(r.rs);
    return 1;
  }
  struct retryq_report rep;
  char qdir[4200];
  snprintf(qdir, sizeof qdir, "%s/queue", state_dir(r.st));
  struct retryq_opts qo = {.max_bytes = cfg->state.queue_max, .segment_bytes = cfg->state.segment_size, .state = r.st};
  if (!(r.dq = retryq_open(qdir, &qo, 0, &rep, err, sizeof err))) {
    log_error("cannot start: %s", err);
    state_close(r.st);
    ruleset_free(r.rs);
    return 1;
  }
  if (rep.bad_records)
    log_error("the retry queue in '%s' was damaged (a torn write or a disk error): %zu damaged record%s, %" PRIu64
              " bytes, were cut out; every intact record was kept",
              qdir, rep.bad_records, rep.bad_records == 1 ? "" : "s", rep.bad_bytes);

  /* the source */
  struct source_opts so;
  memset(&so, 0, sizeof so);
  int from_cp = 0;
  if (config_source_conn(cfg, &so.conn, err, sizeof err) || start_from(&r, &so.start, &from_cp, err, sizeof err)) {
    log_error("%s", err);
    conn_opts_free(&so.conn);
    rc = 2;
    goto out_queue;
  }
  so.server_id = cfg->source.server_id;
  so.include = cfg->source.tables;
  so.exclude = cfg->source.exclude;
  so.heartbeat = cfg->source.heartbeat;
  so.queue_events = cfg->source.queue_events;
  so.queue_bytes = cfg->source.queue_bytes;
  /* Signals wait until their handlers are in place; the reader thread
   * inherits the mask and never takes them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  /* The initial snapshot: taken when [source] snapshot asks for it and
   * there is no checkpoint yet, or resumed when one was interrupted. A
   * finished one is kept too: a stream resumed inside its window needs its
   * segments (snapshot_filter). */
  enum config_snapshot mode = cfg->source.snapshot;
  enum snapshot_status sst = SNAPSHOT_NONE;
  if (snapshot_status(state_dir(r.st), &sst, err, sizeof err)) {
    log_error("cannot start: %s", err);
    conn_opts_free(&so.conn);
    goto out_queue;
  }
  if (from_cp && mode == CONFIG_SNAPSHOT_WHEN_NEEDED && binlog_present(&so.conn, r.cp.pos.file) == 0) {
    /* the checkpoint's binlog is gone: a new snapshot, as configured (an
     * unfinished one too: the stream after it would start there) */
    log_warn("cannot resume at the checkpoint %s:%" PRIu64 ": the server no longer has that binlog; taking a new "
             "snapshot ([source] snapshot = \"when_needed\")", r.cp.pos.file, r.cp.pos.pos);
    if (snapshot_forget(state_dir(r.st), err, sizeof err)) {
      log_error("cannot start: %s", err);
      conn_opts_free(&so.conn);
      goto out_queue;
    }
    sst = SNAPSHOT_NONE;
    from_cp = 0;
  }
  int take = !r.from && (sst == SNAPSHOT_UNFINISHED || (sst == SNAPSHOT_NONE && !from_cp && mode != CONFIG_SNAPSHOT_NEVER));
  if (sst == SNAPSHOT_UNFINISHED && r.from)
    log_warn("--from %s: the unfinished snapshot in '%s' is not resumed", r.from, state_dir(r.st));
  const struct position *sp = NULL;
  uint32_t skip = 0;
  for (;;) {
    if (take || (sst == SNAPSHOT_FINISHED && !r.from)) {
      enum snapshot_lock lock = cfg->source.snapshot_lock;
      struct snapshot_opts sno = {.conn = so.conn,
                                  .include = cfg->source.tables,
                                  .exclude = cfg->source.exclude,
                                  .state_dir = state_dir(r.st),
                                  .chunk_rows = cfg->source.snapshot_chunk,
                                  .rate = cfg->source.snapshot_rate,
                                  .lock = lock};
      r.snap = snapshot_new(&sno);
      int more = snapshot_begin(r.snap, err, sizeof err);
      if (more < 0) {
        log_error("cannot start the snapshot: %s", err);
        conn_opts_free(&so.conn);
        goto out_snap;
      }
      if (more) {
        const struct position *hp = snapshot_handover(r.snap);
        memset(&so.start, 0, sizeof so.start);
        so.start.kind = START_FILE;
        snprintf(so.start.file, sizeof so.start.file, "%s", hp->file);
        so.start.pos = hp->pos;
        r.snapshotting = 1;
        log_notice("%s the initial snapshot; the stream follows from %s:%" PRIu64,
                   sst == SNAPSHOT_UNFINISHED ? "resuming" : "taking", hp->file, hp->pos);
      }
    }
    r.src = source_new(&so);
    int bad = r.snapshotting ? snapshot_start(r.snap, r.src, err, sizeof err) : source_start(r.src, err, sizeof err);
    if (!bad) break;
    source_free(r.src);
    r.src = NULL;
    if (!r.snapshotting && from_cp && purged(err) && mode == CONFIG_SNAPSHOT_WHEN_NEEDED) {
      /* the checkpoint's binlog is gone: a new snapshot, as configured */
      log_warn("cannot resume at the checkpoint %s:%" PRIu64 " (%s): taking a new snapshot ([source] snapshot = "
               "\"when_needed\")", r.cp.pos.file, r.cp.pos.pos, err);
      snapshot_free(r.snap);
      r.snap = NULL;
      if (snapshot_forget(state_dir(r.st), err, sizeof err)) {
        log_error("cannot start: %s", err);
        conn_opts_free(&so.conn);
        goto out_queue;
      }
      sst = SNAPSHOT_NONE;
      take = 1;
      from_cp = 0;
      continue;
    }
    if (from_cp && purged(err))
      refuse_purged(&r, err);
    else
      log_error("%s", err);
    conn_opts_free(&so.conn);
    goto out_snap;
  }
  conn_opts_free(&so.conn);
  r.from_cp = from_cp;
  if (r.snapshotting) sp = snapshot_handover(r.snap);
  else sp = source_start_position(r.src, &skip);
  if (!from_cp && !skip) {
    /* the start is saved now, so that a crash before the first commit
     * resumes here and not at a later end */
    r.cp.pos = *sp;
    r.cp.saved = (int64_t)time(NULL);
    if (state_checkpoint_save(r.st, &r.cp, err, sizeof err)) {
      log_error("cannot start: %s", err);
      goto out_source;
    }
  }
  if (r.from) log_warn("started at --from %s instead of the checkpoint", r.from);
  log_notice("binhook %s: reading from %s:%" PRIu64 "%s with %zu rules and %zu endpoints; %zu deliveries waiting "
             "and %zu dead letters in the queue",
             BINHOOK_VERSION, sp->file, sp->pos,
             r.snapshotting ? " after the initial snapshot" : from_cp ? " (the checkpoint)" : "", r.rs->nrules,
             r.rs->nendpoints, rep.live, rep.dead);

  r.base = event_base_new();
  bh_assert(r.base);
  r.m = matcher_new(r.rs);
  r.order = order_new();
  r.d = deliver_new(r.base, on_done, &r);
  r.q = source_queue(r.src);
  r.qev = event_new(r.base, changeq_fd(r.q), EV_READ | EV_PERSIST, take_changes, &r);
  r.dqev = event_new(r.base, retryq_fd(r.dq), EV_READ | EV_PERSIST, on_durable, &r);
  event_add(r.dqev, NULL);
  r.tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
  r.retry_ev = evtimer_new(r.base, on_retry_timer, &r);
  struct timeval sec = {1, 0};
  event_add(r.tick, &sec);
  r.started = time(NULL);
  for (size_t i = 0; i < r.rs->nendpoints; i++) lane_of(&r, r.rs->endpoints[i].name); /* in /metrics from the start */
  struct restore rst = {&r, time(NULL)};
  retryq_list(r.dq, restore_one, &rst);
  event_add(r.qev, NULL);
  r.sighup = evsignal_new(r.base, SIGHUP, on_sighup, &r);
  r.sigterm = evsignal_new(r.base, SIGTERM, on_stop, &r);
  r.sigint = evsignal_new(r.base, SIGINT, on_stop, &r);
  evsignal_add(r.sighup, NULL);
  evsignal_add(r.sigterm, NULL);
  evsignal_add(r.sigint, NULL);
  if (cfg->admin.listen) {
    struct admin_ops ops = {&r, admin_metrics, admin_status, admin_healthy, admin_dlq, admin_snapshot};
    if (!(r.admin = admin_start(r.base, cfg->admin.listen, cfg->admin.token, &ops, err, sizeof err))) {
      log_error("cannot start: %s", err);
      r.failed = 1;
      goto out_loop;
    }
    log_info("admin server on http://%s (/metrics, /healthz, /status, /dlq)", cfg->admin.listen);
  }
  pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
  sd_notify_msg("READY=1");

  event_base_dispatch(r.base);
  if (!r.stopping) sd_notify_msg("STOPPING=1"); /* a signal's on_stop has said it already */
out_loop:
  admin_free(r.admin);
  r.admin = NULL;

  if (r.snap) { /* the snapshot thread pushes into the source's queue */
    snapshot_stop(r.snap);
    snapshot_join(r.snap);
  }
  if (r.od) { /* cut: it is asked again (the stream it held is read again from the checkpoint) */
    log_warn("the snapshot asked for was cut by the stop after %llu rows: ask again with binhook snapshot", r.odrows);
    snapshot_free(r.od);
    source_free(r.odsrc);
    event_free(r.odev);
    r.od = NULL;
  }
  while (r.held) {
    struct change *next = r.held->next;
    change_free(r.held);
    r.held = next;
  }
  while (r.backlog) { /* not fed: the checkpoint is before them */
    struct change *next = r.backlog->next;
    change_free(r.backlog);
    r.backlog = next;
  }
  source_stop(r.src);
  r.stopping = 1;
  deliver_free(r.d); /* hands back what is in flight: it stays in the queue */
  /* updates being coalesced become their deliveries, and what was never
   * written goes into the queue now */
  while (r.coals) coal_flush(&r, r.coals);
  free(r.coal);
  while (r.fresh) spill(&r, r.fresh, (int64_t)time(NULL));
  if (retryq_sync(r.dq, 30, err, sizeof err))
    log_error("the retry queue could not be written at the stop: %s; the checkpoint stays where the written "
              "part allows, so the binlog gives the rest again at the next start",
              err);
  on_durable(-1, 0, &r);
  if (r.snap && r.snap_ready > r.snap_saved && snapshot_commit(r.snap, r.snap_ready, err, sizeof err))
    log_error("the snapshot's progress cannot be saved: %s (the next start reads those rows again)", err);
  if (r.cp_dirty) {
    r.cp.saved = (int64_t)time(NULL);
    retryq_set_checkpoint(r.dq, &r.cp);
  }
  rc = r.failed ? 1 : 0;
  log_notice("stopped at %s:%" PRIu64 ": %llu matches, %llu delivered, %llu failed attempts, %llu to the dead "
             "letters, %llu queued; %llu restored at start, %llu made again and skipped",
             r.cp.pos.file, r.cp.pos.pos, r.matched, r.delivered, r.failures, r.dead, r.spilled, r.restored,
             r.skipped);
  /* free what is left: every job is in the queue or finished */
  while (r.all) job_free(&r, r.all);
  for (struct lane *l = r.lanes, *ln; l; l = ln) {
    ln = l->next;
    free(l->endpoint);
    free(l->parked);
    free(l);
  }
  order_free(r.order, NULL, NULL);
  while (r.rulecounts) {
    struct rulecount *c = r.rulecounts;
    r.rulecounts = c->next;
    free(c->rule);
    free(c);
  }
  for (size_t i = 0; i < r.ndisabled; i++) free(r.disabled[i]);
  free(r.disabled);
  while (r.marks) {
    struct mark *m = r.marks;
    r.marks = m->next;
    free(m);
  }
  matcher_free(r.m);
  event_free(r.qev);
  event_free(r.dqev);
  event_free(r.tick);
  event_free(r.retry_ev);
  free(r.retry);
  event_free(r.sighup);
  event_free(r.sigterm);
  event_free(r.sigint);
  if (r.grace) event_free(r.grace);
  event_base_free(r.base);
out_source:
  if (r.snap) {
    snapshot_stop(r.snap);
    snapshot_join(r.snap);
  }
  if (r.src) source_free(r.src);
out_snap:
  snapshot_free(r.snap);
out_queue:
  if (retryq_close(r.dq, 30, err, sizeof err)) {
    log_error("the retry queue could not be written at the stop: %s", err);
    rc = 1;
  }
  idset_free(&r.known);
  state_close(r.st);
  ruleset_free(r.rs);
  return rc;
}
