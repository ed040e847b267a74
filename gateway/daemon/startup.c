/* startup.c - see startup.h. */
#include "daemon/startup.h"
#include "daemon/daemon.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/options.h"
#include "source/server.h"
#include "source/source.h"
#include "store/retryq.h"
#include "store/state.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int startup_state(struct daemon *dm)
{
  char err[1024];
  struct config *cfg = &dm->rs->cfg;
  if (!(dm->st = state_open(cfg->state.dir, 0, err, sizeof err))) {
    log_error("cannot start: %s", err);
    return 1;
  }
  struct retryq_report rep;
  char qdir[4200];
  snprintf(qdir, sizeof qdir, "%s/queue", state_dir(dm->st));
  struct retryq_opts qo = {.max_bytes = cfg->state.queue_max, .segment_bytes = cfg->state.segment_size, .state = dm->st};
  if (!(dm->dq = retryq_open(qdir, &qo, 0, &rep, err, sizeof err))) {
    log_error("cannot start: %s", err);
    return 1;
  }
  if (rep.bad_records)
    log_error("the retry queue in '%s' was damaged (a torn write or a disk error): %zu damaged record%s, %" PRIu64
              " bytes, were cut out; every intact record was kept",
              qdir, rep.bad_records, rep.bad_records == 1 ? "" : "s", rep.bad_bytes);
  dm->queue_live = rep.live;
  dm->queue_dead = rep.dead;
  return 0;
}

void startup_refuse_purged(const struct daemon *dm, const char *why)
{
  log_error("cannot resume at the checkpoint %s:%" PRIu64 ": %s. The server no longer has that binlog (it was "
            "purged), so the changes after it cannot be read. Ways out: 'binhook run --from start' reads from "
            "the oldest binlog the server has (changes may be delivered again); 'binhook run --from end' skips "
            "to now (changes in between are never delivered); both are logged. Keep binlogs longer "
            "(binlog_expire_logs_seconds) so that this does not happen again",
            dm->marks.cp.pos.file, dm->marks.cp.pos.pos, why);
}

/* Where reading starts: --from, else the checkpoint (*from_cp = 1), else
 * [source] start. Returns 0, or -1 with err. */
static int start_from(struct daemon *dm, struct start_pos *sp, int *from_cp, char *err, size_t errsz)
{
  struct checkpoint cp;
  char why[512];
  *from_cp = 0;
  int have = state_checkpoint_load(dm->st, &cp, why, sizeof why);
  if (have < 0) return bh_err(err, errsz, "%s", why);
  if (dm->args.from) {
    if (start_pos_parse(dm->args.from, sp, err, errsz)) return -1;
    if (have)
      log_warn("--from %s: the checkpoint %s:%" PRIu64 " is not used; changes between it and %s are %s", dm->args.from,
               cp.pos.file, cp.pos.pos, dm->args.from, "skipped or delivered again, as that position says");
    checkpoint_clear(&cp);
    return 0;
  }
  if (have) {
    memset(sp, 0, sizeof *sp);
    sp->kind = START_FILE;
    snprintf(sp->file, sizeof sp->file, "%s", cp.pos.file);
    sp->pos = cp.pos.pos;
    marks_init(&dm->marks, &cp);
    checkpoint_clear(&cp);
    *from_cp = 1;
    return 0;
  }
  const char *s = dm->rs->cfg.source.start ? dm->rs->cfg.source.start : "end";
  return start_pos_parse(s, sp, err, errsz);
}

/* How the source starts: the plan startup_source follows. */
struct plan {
  struct source_opts so;
  enum config_snapshot mode; /* [source] snapshot */
  enum snapshot_status sst;
  int from_cp, take;
};

/* The checkpoint's binlog is gone and [source] snapshot = "when_needed":
 * a new snapshot (an unfinished one too: the stream after it would start
 * there). Returns 0, or 1 after logging. */
static int forget_snapshot(struct daemon *dm, struct plan *p)
{
  char err[1024];
  snapshot_free(dm->snap);
  dm->snap = NULL;
  if (snapshot_forget(state_dir(dm->st), err, sizeof err)) {
    log_error("cannot start: %s", err);
    return 1;
  }
  p->sst = SNAPSHOT_NONE;
  p->take = 1;
  p->from_cp = 0;
  return 0;
}

/* Makes dm->snap when the plan takes or resumes one (or keeps a finished
 * one for its segments); the stream then follows from its handover.
 * Returns 0, or 1 after logging. */
static int plan_snapshot(struct daemon *dm, struct plan *p)
{
  char err[1024];
  if (!p->take && !(p->sst == SNAPSHOT_FINISHED && !dm->args.from)) return 0;
  struct snapshot_opts sno;
  snapshot_opts_from_config(&dm->rs->cfg, &p->so.conn, &sno);
  sno.state_dir = state_dir(dm->st);
  dm->snap = snapshot_new(&sno);
  int more = snapshot_begin(dm->snap, err, sizeof err);
  if (more < 0) {
    log_error("cannot start the snapshot: %s", err);
    return 1;
  }
  if (more) {
    const struct position *hp = snapshot_handover(dm->snap);
    memset(&p->so.start, 0, sizeof p->so.start);
    p->so.start.kind = START_FILE;
    snprintf(p->so.start.file, sizeof p->so.start.file, "%s", hp->file);
    p->so.start.pos = hp->pos;
    p->so.gtid_state = NULL; /* the checkpoint's is not the handover's */
    dm->snapshotting = 1;
    log_notice("%s the initial snapshot; the stream follows from %s:%" PRIu64,
               p->sst == SNAPSHOT_UNFINISHED ? "resuming" : "taking", hp->file, hp->pos);
  }
  return 0;
}

/* Starts the source (through the snapshot when one is taken), taking a new
 * snapshot instead when the checkpoint's binlog is gone and the
 * configuration says so. Returns 0, or 1 after logging. */
static int start_stream(struct daemon *dm, struct plan *p)
{
  char err[1024];
  for (;;) {
    if (plan_snapshot(dm, p)) return 1;
    dm->src = source_new(&p->so);
    int bad = dm->snapshotting ? snapshot_start(dm->snap, dm->src, err, sizeof err)
                               : source_start(dm->src, err, sizeof err);
    if (!bad) return 0;
    enum bh_errc code = dm->snapshotting ? snapshot_errc(dm->snap) : source_errc(dm->src);
    source_free(dm->src);
    dm->src = NULL;
    if (!dm->snapshotting && p->from_cp && code == BH_E_PURGED && p->mode == CONFIG_SNAPSHOT_WHEN_NEEDED) {
      log_warn("cannot resume at the checkpoint %s:%" PRIu64 " (%s): taking a new snapshot ([source] snapshot = "
               "\"when_needed\")",
               dm->marks.cp.pos.file, dm->marks.cp.pos.pos, err);
      if (forget_snapshot(dm, p)) return 1;
      continue;
    }
    if (p->from_cp && code == BH_E_PURGED) startup_refuse_purged(dm, err);
    else log_error("%s", err);
    return 1;
  }
}

/* The start saved as the checkpoint, and said. Returns 0, or 1. */
static int note_start(struct daemon *dm, const struct plan *p)
{
  char err[1024];
  uint32_t skip = 0;
  const struct position *sp =
      dm->snapshotting ? snapshot_handover(dm->snap) : source_start_position(dm->src, &skip);
  if (!p->from_cp && !skip) {
    /* the start is saved now, so that a crash before the first commit
     * resumes here and not at a later end */
    struct checkpoint cp = {.pos = *sp, .saved = (int64_t)time(NULL)};
    marks_init(&dm->marks, &cp);
    if (state_checkpoint_save(dm->st, &cp, err, sizeof err)) {
      log_error("cannot start: %s", err);
      return 1;
    }
  }
  if (dm->args.from) log_warn("started at --from %s instead of the checkpoint", dm->args.from);
  log_notice("binhook %s: reading from %s:%" PRIu64 "%s with %zu rules and %zu endpoints; %zu deliveries waiting "
             "and %zu dead letters in the queue",
             BINHOOK_VERSION, sp->file, sp->pos,
             dm->snapshotting ? " after the initial snapshot" : p->from_cp ? " (the checkpoint)" : "", dm->rs->nrules,
             dm->rs->nendpoints, dm->queue_live, dm->queue_dead);
  return 0;
}

int startup_source(struct daemon *dm)
{
  char err[1024];
  struct config *cfg = &dm->rs->cfg;
  struct plan p;
  memset(&p, 0, sizeof p);
  if (source_opts_from_config(cfg, &p.so, err, sizeof err)) {
    log_error("%s", err);
    return 2;
  }
  if (start_from(dm, &p.so.start, &p.from_cp, err, sizeof err)) {
    log_error("%s", err);
    conn_opts_free(&p.so.conn);
    return 2;
  }
  if (p.from_cp && dm->marks.cp.gtid_state) p.so.gtid_state = dm->marks.cp.gtid_state->s; /* copied by source_new */
  p.mode = cfg->source.snapshot;
  /* The initial snapshot: taken when [source] snapshot asks for it and
   * there is no checkpoint yet, or resumed when one was interrupted. A
   * finished one is kept too: a stream resumed inside its window needs its
   * segments (snapshot_filter). */
  int rc = 1;
  if (snapshot_status(state_dir(dm->st), &p.sst, err, sizeof err)) {
    log_error("cannot start: %s", err);
    goto out;
  }
  if (p.from_cp && p.mode == CONFIG_SNAPSHOT_WHEN_NEEDED && server_has_binlog(&p.so.conn, dm->marks.cp.pos.file) == 0) {
    log_warn("cannot resume at the checkpoint %s:%" PRIu64 ": the server no longer has that binlog; taking a new "
             "snapshot ([source] snapshot = \"when_needed\")",
             dm->marks.cp.pos.file, dm->marks.cp.pos.pos);
    if (forget_snapshot(dm, &p)) goto out;
  }
  p.take = !dm->args.from &&
           (p.sst == SNAPSHOT_UNFINISHED || (p.sst == SNAPSHOT_NONE && !p.from_cp && p.mode != CONFIG_SNAPSHOT_NEVER));
  if (p.sst == SNAPSHOT_UNFINISHED && dm->args.from)
    log_warn("--from %s: the unfinished snapshot in '%s' is not resumed", dm->args.from, state_dir(dm->st));
  if (start_stream(dm, &p)) goto out;
  dm->from_cp = p.from_cp;
  rc = note_start(dm, &p);
out:
  conn_opts_free(&p.so.conn);
  return rc;
}
