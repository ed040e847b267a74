/* startup.c - see startup.h. */
#include "daemon/startup.h"
#include "daemon/daemon.h"
#include "daemon/heal.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/options.h"
#include "source/server.h"
#include "source/source.h"
#include "store/dbstore.h"
#include "store/retryq.h"
#include "store/state.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int startup_state(struct daemon *dm)
{
  char err[1024];
  struct config *cfg = &dm->rs->cfg;
  if (!(dm->st = dm->db ? state_open_db(dm->db, cfg->state.dir, err, sizeof err)
                        : state_open(cfg->state.dir, 0, err, sizeof err))) {
    log_error("cannot start: %s", err);
    return 1;
  }
  struct retryq_report rep;
  char qdir[4200];
  if (dm->db) snprintf(qdir, sizeof qdir, "the state store '%s'", dbstore_where(dm->db));
  else snprintf(qdir, sizeof qdir, "%s/queue", state_dir(dm->st));
  struct retryq_opts qo = {.max_bytes = cfg->state.queue_max, .segment_bytes = cfg->state.segment_size, .state = dm->st};
  if (!(dm->dq = dm->db ? retryq_open_db(dm->db, &qo, 0, &rep, err, sizeof err)
                        : retryq_open(qdir, &qo, 0, &rep, err, sizeof err))) {
    log_error("cannot start: %s", err);
    return 1;
  }
  const struct retryq_damage *dg = retryq_damage(dm->dq);
  if (dg) {
    for (size_t i = 0; i < dg->nwhat; i++) log_error("the retry queue in '%s' is damaged: %s", qdir, dg->what[i]);
    log_error("the retry queue in '%s' was damaged (a torn write, a disk error, a file removed): every intact "
              "record was kept; %zu waiting deliveries named in its manifest were lost%s",
              qdir, dg->nlost, dg->unnamed ? ", and maybe more that it cannot name" : "");
  }
  dm->queue_live = rep.live;
  dm->queue_dead = rep.dead;
  return 0;
}

/* g as the GTID to give --from to start after it: MariaDB's
 * domain-server-sequence as it is; MySQL's uuid:N as the set uuid:1-N
 * (MySQL sends what is not in the set). */
static const char *gtid_advice(const char *g, char *out, size_t outsz)
{
  const char *colon = strrchr(g, ':');
  if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) return g;
  snprintf(out, outsz, "%.*s:1-%s", (int)(colon - g), g, colon + 1);
  return out;
}

/* Where cp is, for a message: FILE:OFFSET, or gtid:SET before the first
 * boundary of a GTID start. */
static const char *where_cp(const struct position *cp, char *out, size_t outsz)
{
  if (cp->file[0]) snprintf(out, outsz, "%s:%" PRIu64, cp->file, cp->pos);
  else snprintf(out, outsz, "gtid:%s", cp->gtid);
  return out;
}

void startup_refuse_checkpoint(const struct daemon *dm, enum bh_errc code, const char *why)
{
  const struct position *cp = &dm->marks.cp.pos;
  char at[600], g[200], by_gtid[1600] = "";
  where_cp(cp, at, sizeof at);
  const struct rcstr *gs = dm->marks.cp.gtid_state;
  const char *renamed = code == BH_E_PURGED ? " (when the server was replaced or its binlogs renamed, not purged)" : "";
  if (gs && gs->s[0] && dm->rs->cfg.source.resume == CONFIG_RESUME_FILE)
    snprintf(by_gtid, sizeof by_gtid, "[source] resume = \"auto\" resumes by the checkpoint's GTID state (%.1000s)%s; ",
             gs->s, renamed);
  else if (gs && gs->s[0])
    snprintf(by_gtid, sizeof by_gtid, "'binhook run --from gtid:%.1000s' resumes after the checkpoint's GTID state%s; ",
             gs->s, renamed);
  else if (cp->gtid[0] && cp->file[0])
    snprintf(by_gtid, sizeof by_gtid, "'binhook run --from gtid:%s' resumes after the checkpoint's last "
             "transaction, found by its GTID%s; ", gtid_advice(cp->gtid, g, sizeof g), renamed);
  if (code == BH_E_REJECTED) {
    log_error("cannot resume at the checkpoint %s: %s. Ways out: %s'binhook run --from %s:OFFSET' with the "
              "offset of an event boundary before it (SHOW BINLOG EVENTS IN '%s' lists them; changes after it may "
              "be delivered again); 'binhook run --from start' reads from the oldest binlog the server has "
              "(changes may be delivered again); each is logged and becomes the new checkpoint",
              at, why, by_gtid, cp->file, cp->file);
    return;
  }
  log_error("cannot resume at the checkpoint %s: %s. The server no longer has that binlog (it was purged), so the "
            "changes after it cannot be read. Ways out: %s'binhook run --from start' reads from the oldest binlog "
            "the server has (changes may be delivered again); 'binhook run --from end' skips to now (changes in "
            "between are never delivered); both are logged. Keep binlogs longer (binlog_expire_logs_seconds) so "
            "that this does not happen again",
            at, why, by_gtid);
}

/* The checkpoint is damaged (why) and no --from says where to start:
 * never a guess (the end would skip changes in silence), but the ways out,
 * with what the damaged file still shows (seen), in err. */
static void refuse_damaged(const struct checkpoint *seen, const char *why, char *err, size_t errsz)
{
  char g[200], by_gtid[400] = "", by_file[600] = "";
  if (seen->pos.gtid[0])
    snprintf(by_gtid, sizeof by_gtid, "'binhook run --from gtid:%s' resumes after the last transaction the "
             "damaged file still names; ", gtid_advice(seen->pos.gtid, g, sizeof g));
  if (seen->pos.file[0])
    snprintf(by_file, sizeof by_file, "'binhook run --from %s:%" PRIu64 "' resumes at the position it still "
             "names; ", seen->pos.file, seen->pos.pos);
  bh_err(err, errsz,
         "cannot start: %s. binhook does not guess where to resume: starting at the end would "
         "skip the changes since the checkpoint. %s Ways out: %s%s'binhook run --from start' reads from the "
         "oldest binlog the server has (changes are delivered again, none skipped). The position given "
         "replaces the damaged checkpoint",
         why,
         by_gtid[0] || by_file[0] ? "The damaged file still shows where it was: check that against the "
                                    "last change the endpoints received."
                                  : "The damaged file shows no position: the GTID or binlog position of "
                                    "the last change the endpoints received is where to resume "
                                    "(--from gtid:D-S-N or --from FILE:OFFSET).",
         by_gtid, by_file);
}

/* Where reading starts: --from, else the checkpoint (*from_cp = 1), else
 * [source] start. Returns 0, or with err the exit status: 2 for a position
 * that does not parse, 1 for a damaged checkpoint. */
static int start_from(struct daemon *dm, struct start_pos *sp, int *from_cp, char *err, size_t errsz)
{
  struct checkpoint cp;
  char why[1024], at[600];
  *from_cp = 0;
  int have = state_checkpoint_load(dm->st, &cp, why, sizeof why);
  if (have < 0 && !dm->args.from) {
    refuse_damaged(&cp, why, err, errsz);
    checkpoint_clear(&cp);
    return 1;
  }
  if (dm->args.from) {
    if (start_pos_parse(dm->args.from, sp, err, errsz)) return 2;
    if (have < 0) log_warn("%s; --from %s replaces it", why, dm->args.from);
    if (have > 0)
      log_warn("--from %s: the checkpoint %s is not used; changes between it and %s are %s", dm->args.from,
               where_cp(&cp.pos, at, sizeof at), dm->args.from, "skipped or delivered again, as that position says");
    checkpoint_clear(&cp);
    return 0;
  }
  if (have) {
    memset(sp, 0, sizeof *sp);
    if (cp.pos.file[0]) {
      sp->kind = START_FILE;
      snprintf(sp->file, sizeof sp->file, "%s", cp.pos.file);
      sp->pos = cp.pos.pos;
    } else { /* a GTID start that had not reached a boundary */
      sp->kind = START_GTID;
      snprintf(sp->gtid, sizeof sp->gtid, "%s", cp.pos.gtid);
    }
    marks_init(&dm->marks, &cp);
    checkpoint_clear(&cp);
    *from_cp = 1;
    return 0;
  }
  const char *s = dm->rs->cfg.source.start ? dm->rs->cfg.source.start : "end";
  return start_pos_parse(s, sp, err, errsz) ? 2 : 0;
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
      char at[600];
      log_warn("cannot resume at the checkpoint %s (%s): taking a new snapshot ([source] snapshot = "
               "\"when_needed\")",
               where_cp(&dm->marks.cp.pos, at, sizeof at), err);
      if (forget_snapshot(dm, p)) return 1;
      continue;
    }
    if (p->from_cp && (code == BH_E_PURGED || code == BH_E_REJECTED)) startup_refuse_checkpoint(dm, code, err);
    else log_error("%s", err);
    return 1;
  }
}

/* The start saved as the checkpoint, and said. Returns 0, or 1. */
static int note_start(struct daemon *dm, const struct plan *p)
{
  char err[1024], at[600];
  uint32_t skip = 0;
  const struct position *sp =
      dm->snapshotting ? snapshot_handover(dm->snap) : source_start_position(dm->src, &skip);
  if (!p->from_cp && !skip) {
    /* the start is saved now, so that a crash before the first commit
     * resumes here and not at a later end */
    struct checkpoint cp = {.pos = *sp, .saved = (int64_t)time(NULL)};
    if (!sp->file[0]) { /* a GTID start: the GTID until the stream reaches a boundary */
      if (strlen(p->so.start.gtid) >= sizeof cp.pos.gtid) {
        log_error("cannot start: the GTID set 'gtid:%s' is longer than a checkpoint holds (%zu bytes); give "
                  "one GTID per replication domain, or a FILE:OFFSET",
                  p->so.start.gtid, sizeof cp.pos.gtid - 1);
        return 1;
      }
      memcpy(cp.pos.gtid, p->so.start.gtid, strlen(p->so.start.gtid) + 1); /* fits: checked above */
      cp.pos.pos = 0;
    }
    marks_reset(&dm->marks, &cp); /* over the checkpoint of a resume given up for a new snapshot */
    if (state_checkpoint_save(dm->st, &cp, err, sizeof err)) {
      log_error("cannot start: %s", err);
      return 1;
    }
  }
  if (dm->args.from) log_warn("started at --from %s instead of the checkpoint", dm->args.from);
  if (!sp->file[0]) snprintf(at, sizeof at, "gtid:%.590s", p->so.start.gtid);
  else snprintf(at, sizeof at, "%s:%" PRIu64, sp->file, sp->pos);
  char where[300], how[1200] = "";
  uint32_t id = dm->snapshotting ? 0 : source_server(dm->src, where, sizeof where);
  if (id && source_by_gtid(dm->src) && sp->file[0] && p->so.gtid_state)
    snprintf(how, sizeof how, " by its GTID state %.1000s", p->so.gtid_state);
  if (id) snprintf(how + strlen(how), sizeof how - strlen(how), " on '%s' (server_id %u)", where, id);
  log_notice("binhook %s: reading from %s%s%s with %zu rules and %zu endpoints; %zu deliveries waiting "
             "and %zu dead letters in the queue",
             BINHOOK_VERSION, at,
             dm->snapshotting ? " after the initial snapshot" : p->from_cp ? " (the checkpoint)" : "", how,
             dm->rs->nrules, dm->rs->nendpoints, dm->queue_live, dm->queue_dead);
  return 0;
}

int startup_source(struct daemon *dm)
{
  char err[2048];
  struct config *cfg = &dm->rs->cfg;
  struct plan p;
  memset(&p, 0, sizeof p);
  if (source_opts_from_config(cfg, &p.so, err, sizeof err)) {
    log_error("%s", err);
    return 2;
  }
  int bad = start_from(dm, &p.so.start, &p.from_cp, err, sizeof err);
  if (bad) {
    log_error("%s", err);
    source_opts_free(&p.so);
    return bad;
  }
  if (heal_start(dm, &p.so, p.from_cp)) {
    source_opts_free(&p.so);
    return 1;
  }
  if (p.from_cp && dm->marks.cp.gtid_state) p.so.gtid_state = dm->marks.cp.gtid_state->s; /* copied by source_new */
  /* binhook's own writes to a store in a database never come back as changes */
  char **exclude = NULL;
  if (dm->db) {
    size_t n = 0;
    while (cfg->source.exclude && cfg->source.exclude[n]) n++;
    exclude = xcalloc(n + 2, sizeof *exclude);
    for (size_t i = 0; i < n; i++) exclude[i] = cfg->source.exclude[i];
    char glob[200];
    snprintf(glob, sizeof glob, "%s.*", dbstore_database(dm->db));
    exclude[n] = xstrdup(glob);
    p.so.exclude = exclude;
  }
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
  /* by file:pos the binlog must be there (a resume by GTID finds out when
   * the server refuses the state: start_stream) */
  int by_gtid = p.so.gtid_state && *p.so.gtid_state && cfg->source.resume != CONFIG_RESUME_FILE;
  if (p.from_cp && p.mode == CONFIG_SNAPSHOT_WHEN_NEEDED && dm->marks.cp.pos.file[0] && !by_gtid &&
      server_has_binlog(&p.so.conn, dm->marks.cp.pos.file) == 0) {
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
  source_opts_free(&p.so);
  if (exclude) {
    size_t n = 0;
    while (exclude[n]) n++;
    free(exclude[n - 1]);
    free(exclude);
  }
  return rc;
}
