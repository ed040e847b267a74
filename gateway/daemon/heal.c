/* heal.c - see heal.h. */
#include "daemon/heal.h"
#include "daemon/daemon.h"
#include "source/server.h"
#include "source/source.h"
#include "store/retryq.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* " (GTID 0-1-5)", or "" */
static void gtid_note(const char *gtid, char *out, size_t n)
{
  if (gtid && *gtid) snprintf(out, n, " (GTID %s)", gtid);
  else if (n) out[0] = 0;
}

/* e is given up: named in the log and written as a dead letter. */
static void give_up(struct daemon *dm, const struct manifest_entry *e, const char *reason)
{
  char g[200];
  gtid_note(e->gtid, g, sizeof g);
  if (e->binlog)
    log_error("lost delivery %s (rule '%s', endpoint '%s'): its change at %s:%" PRIu64 "%s cannot be read again; "
              "listed as a dead letter (reason \"%s\")",
              e->id, e->rule, e->endpoint, e->binlog, e->binlog_pos, g, reason);
  else
    log_error("lost delivery %s (rule '%s', endpoint '%s'): it has no binlog position (a snapshot row or an older "
              "record); listed as a dead letter (reason \"%s\")",
              e->id, e->rule, e->endpoint, reason);
  struct retryq_rec r;
  memset(&r, 0, sizeof r);
  int64_t now = (int64_t)time(NULL);
  r.endpoint = e->endpoint;
  r.rule = e->rule;
  r.id = e->id;
  r.created = now;
  r.due = now;
  r.dead = 1;
  r.dead_at = now;
  r.reason = (char *)reason;
  r.payload = "";
  r.binlog = e->binlog;
  r.binlog_pos = e->binlog_pos;
  r.gtid = e->gtid;
  retryq_add(dm->dq, &r);
  dm->cnt.dead++;
}

struct survivors {
  uint64_t *seqs;
  size_t n;
};

static int pick_waiting(void *arg, const struct retryq_rec *r)
{
  struct survivors *s = arg;
  if (r->dead || !r->binlog) return 0;
  s->seqs = xrealloc(s->seqs, (s->n + 1) * sizeof *s->seqs);
  s->seqs[s->n++] = r->seq;
  return 0;
}

/* Reading again from low: the checkpoint goes back there first (durably),
 * then the waiting deliveries are finished, to be made again in binlog
 * order with the lost ones. Returns 0, or -1 with err. */
static int rebuild(struct daemon *dm, const struct retryq_damage *dg, struct source_opts *so, int from_cp, char *err,
                   size_t errsz)
{
  struct position was = dm->marks.cp.pos;
  struct checkpoint cp = {.pos = dg->low, .saved = (int64_t)time(NULL)};
  if (from_cp && server_pos_cmp(dg->low.file, dg->low.pos, &was) > 0) cp.pos = was; /* the earlier of the two */
  cp.pos.gtid[0] = 0; /* the GTID of the change after it, not of the transaction before */
  marks_reset(&dm->marks, &cp); /* the loaded checkpoint's GTID state is released */
  retryq_set_checkpoint(dm->dq, &cp);
  if (retryq_sync(dm->dq, 30, err, errsz)) return -1;
  memset(&so->start, 0, sizeof so->start);
  so->start.kind = START_FILE;
  snprintf(so->start.file, sizeof so->start.file, "%s", cp.pos.file);
  so->start.pos = cp.pos.pos;
  struct survivors s = {NULL, 0};
  retryq_list(dm->dq, pick_waiting, &s);
  for (size_t i = 0; i < s.n; i++) retryq_done(dm->dq, s.seqs[i]);
  free(s.seqs);
  dm->queue_live -= s.n < dm->queue_live ? s.n : dm->queue_live;
  for (size_t i = 0; i < dg->nlost; i++) {
    const struct manifest_entry *e = &dg->lost[i];
    char g[200];
    gtid_note(e->gtid, g, sizeof g);
    if (e->dead || !e->binlog || server_pos_cmp(e->binlog, e->binlog_pos, &cp.pos) < 0)
      give_up(dm, e, HEAL_REASON_DEAD); /* a dead letter: its change is before the re-read */
    else
      log_notice("rebuilding delivery %s (rule '%s', endpoint '%s') from its change at %s:%" PRIu64 "%s", e->id,
                 e->rule, e->endpoint, e->binlog, e->binlog_pos, g);
  }
  log_warn("rebuilding the retry queue from the binlog: reading again from %s:%" PRIu64 " (the queue's low-water "
           "mark; the checkpoint was %s:%" PRIu64 "); the %zu deliveries lost and the %zu that survived are made "
           "again with the same webhook-ids, in the order of their changes; some may arrive twice",
           cp.pos.file, cp.pos.pos, from_cp ? was.file : "(none)", from_cp ? was.pos : 0, dg->nlost, s.n);
  return 0;
}

/* The low-water binlog is gone: the lost deliveries are given up, but for
 * those at or after the checkpoint, which reading from there makes again. */
static void give_up_all(struct daemon *dm, const struct retryq_damage *dg, int from_cp, const char *why)
{
  size_t n = 0;
  for (size_t i = 0; i < dg->nlost; i++) {
    const struct manifest_entry *e = &dg->lost[i];
    if (!e->dead && e->binlog && from_cp && server_pos_cmp(e->binlog, e->binlog_pos, &dm->marks.cp.pos) >= 0)
      continue;
    give_up(dm, e, e->dead ? HEAL_REASON_DEAD : HEAL_REASON_PURGED);
    n++;
  }
  log_error("%s: %zu deliveries lost with the damaged retry queue cannot be made again; each is named above and "
            "listed as a dead letter ('binhook dlq list')",
            why, n);
  if (dg->unnamed)
    log_error("more deliveries may have been lost that the queue cannot name: those made from changes between "
              "%s:%" PRIu64 " and the checkpoint %s:%" PRIu64 " (look for them at the receivers)",
              dg->has_low ? dg->low.file : "(unknown)", dg->has_low ? dg->low.pos : 0, dm->marks.cp.pos.file,
              dm->marks.cp.pos.pos);
}

int heal_start(struct daemon *dm, struct source_opts *so, int from_cp)
{
  char err[1024], why[1200];
  const struct retryq_damage *dg = retryq_damage(dm->dq);
  if (!dg) return 0;
  if (!dg->nlost && !dg->unnamed) {
    log_notice("the damage to the retry queue took no delivery that was waiting: nothing to make again");
  } else if (dm->args.from) {
    give_up_all(dm, dg, 0, "started with --from");
  } else if (!dg->has_low) {
    give_up_all(dm, dg, from_cp,
                "the retry queue does not say where to read the binlog again (no manifest: a queue of an older "
                "binhook, or its manifest was lost too)");
  } else if (server_has_binlog(&so->conn, dg->low.file) == 0) {
    snprintf(why, sizeof why,
             "the server no longer has binlog '%s' (it was purged), where reading again would start "
             "(%s:%" PRIu64 ")",
             dg->low.file, dg->low.file, dg->low.pos);
    give_up_all(dm, dg, from_cp, why);
  } else if (rebuild(dm, dg, so, from_cp, err, sizeof err)) {
    log_error("cannot start: the retry queue cannot be rebuilt: %s", err);
    return 1;
  }
  if (retryq_sync(dm->dq, 30, err, sizeof err)) {
    log_error("cannot start: %s", err);
    return 1;
  }
  retryq_healed(dm->dq);
  return 0;
}
