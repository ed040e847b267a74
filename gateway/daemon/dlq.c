/* dlq.c - see dlq.h. */
#include "daemon/dlq.h"
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
  c->binlog = rec->binlog ? xstrdup(rec->binlog) : NULL;
  c->gtid = rec->gtid ? xstrdup(rec->gtid) : NULL;
  c->payload = NULL;
  c->payloadlen = 0;
  if (rec->okey) {
    c->okey = xmalloc(rec->okeylen + 1);
    memcpy(c->okey, rec->okey, rec->okeylen + 1);
  }
  return 0;
}

/* A dead letter sent again: a delivery due now with no attempts made. */
static void revive(struct daemon *dm, const struct retryq_rec *rec)
{
  struct lane *l = lane_get(dm, rec->endpoint);
  if (l->dead_now) l->dead_now--;
  retryq_revive(dm->dq, rec->seq, (int64_t)time(NULL));
  struct job *j = sched_job_of_rec(dm, rec, 0, bh_mono());
  if (j->state != JOB_HELD) sched_enqueue(dm, j);
}

static void add_error(struct buf *b, const char *err)
{
  buf_adds(b, "{\"error\":");
  buf_add_json_str(b, err, strlen(err));
  buf_adds(b, "}\n");
}

/* One delivery with its request. */
static int show(struct daemon *dm, const struct retryq_rec *pick, struct buf *b)
{
  char err[512];
  struct retryq_rec full;
  struct request rq;
  if (retryq_read(dm->dq, pick->seq, &full, err, sizeof err)) {
    add_error(b, err);
    return 500;
  }
  admin_rec_json(&full, b);
  if (!request_decode(full.payload, full.payloadlen, &rq, err, sizeof err)) {
    b->len--; /* the closing brace */
    buf_adds(b, ",\"request\":");
    request_hide_secrets(&rq);
    request_bare_to_json(&rq, b);
    buf_addc(b, '}');
    request_free(&rq);
  }
  buf_addc(b, '\n');
  retryq_rec_free(&full);
  return 200;
}

/* A reason to refuse a write (replay, drop), with its status; 0 when it
 * may go on. */
static int refuse_write(const struct daemon *dm, const struct admin_sel *sel, struct buf *b)
{
  if (sel->waiting) {
    buf_adds(b, "{\"error\":\"replay and drop act on dead letters only (waiting deliveries are retried on their "
                "own)\"}\n");
    return 400;
  }
  if (!sel->all && !(sel->ids && sel->ids[0]) && !sel->endpoint && !sel->rule && !sel->since && !sel->until) {
    buf_adds(b, "{\"error\":\"choose what (id, endpoint, rule, since, until) or say all=1\"}\n");
    return 400;
  }
  if (dm->stopping) {
    buf_adds(b, "{\"error\":\"the daemon is stopping\"}\n");
    return 409;
  }
  return 0;
}

int dlq_op(struct daemon *dm, enum admin_dlq_op op, const struct admin_sel *sel, struct buf *b)
{
  int write = op == ADMIN_DLQ_REPLAY || op == ADMIN_DLQ_DROP;
  int code = write ? refuse_write(dm, sel, b) : 0;
  if (code) return code;
  struct pick p = {sel, NULL, 0};
  retryq_list(dm->dq, pick_one, &p);
  code = 200;
  if (op == ADMIN_DLQ_LIST) {
    for (size_t i = 0; i < p.n; i++) {
      admin_rec_json(&p.recs[i], b);
      buf_addc(b, '\n');
    }
  } else if (op == ADMIN_DLQ_SHOW) {
    if (!p.n) {
      buf_adds(b, "{\"error\":\"no such delivery\"}\n");
      code = 404;
    } else {
      code = show(dm, &p.recs[0], b);
    }
  } else {
    int replay = op == ADMIN_DLQ_REPLAY;
    for (size_t i = 0; i < p.n; i++) {
      if (replay) {
        revive(dm, &p.recs[i]);
      } else {
        struct lane *l = lane_get(dm, p.recs[i].endpoint);
        if (l->dead_now) l->dead_now--;
        retryq_done(dm->dq, p.recs[i].seq);
      }
    }
    log_notice("admin: %s %zu dead letter%s", replay ? "replayed" : "dropped", p.n, p.n == 1 ? "" : "s");
    buf_printf(b, "{\"%s\":%zu}\n", replay ? "replayed" : "dropped", p.n);
    if (replay) daemon_update_pause(dm);
  }
  for (size_t i = 0; i < p.n; i++) retryq_rec_free(&p.recs[i]);
  free(p.recs);
  return code;
}
