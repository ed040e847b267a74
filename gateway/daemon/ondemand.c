/* ondemand.c - see ondemand.h. */
#include "daemon/ondemand.h"
#include "daemon/daemon.h"
#include "daemon/intake.h"
#include "event/changeq.h"
#include "match/rules.h"
#include "snapshot/snapshot.h"
#include "source/options.h"
#include "source/server.h"
#include "source/source.h"
#include "util/log.h"
#include "util/util.h"

#include <event2/event.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void finish(struct daemon *dm)
{
  struct ondemand *od = &dm->od;
  const char *why = snapshot_error(od->snap);
  if (why)
    log_error("the snapshot asked for failed after %llu rows: %s (ask again with binhook snapshot)", od->rows, why);
  else
    log_notice("the snapshot asked for is done: %llu rows; the stream goes on", od->rows);
  event_free(od->ev);
  od->ev = NULL;
  snapshot_free(od->snap);
  od->snap = NULL;
  source_free(od->src);
  od->src = NULL;
  od->hold = 0;
  /* the stream events that waited, then the stream */
  struct change *e = od->held;
  od->held = NULL;
  while (e) {
    struct change *next = e->next;
    intake_feed(dm, e);
    change_free(e);
    e = next;
  }
  if (!dm->paused && !dm->stopping) {
    event_add(dm->qev, NULL);
    event_active(dm->qev, EV_READ, 0);
  }
}

/* The snapshot's rows, taken once the stream has reached its position. */
static void take(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  struct ondemand *od = &dm->od;
  (void)fd, (void)what;
  if (!od->snap || !od->hold || dm->paused || dm->stopping) return;
  struct changeq *q = source_queue(od->src);
  struct change *e = changeq_pop_all(q, 0);
  if (!e && changeq_closed(q)) {
    finish(dm);
    return;
  }
  while (e) {
    struct change *next = e->next;
    if (e->type == EVENT_SNAPSHOT) {
      od->rows++;
      dm->cnt.events[EVENT_SNAPSHOT]++;
      matcher_feed(dm->m, e, intake_on_match, dm);
    }
    change_free(e);
    e = next;
  }
  /* the thread closes the queue after its last row */
  if (changeq_closed(q)) finish(dm);
  else daemon_update_pause(dm);
}

/* Whether the stream has reached the snapshot's position with e: a
 * binlog position, or a PostgreSQL LSN (the snapshot's consistent point:
 * a transaction that commits at or after it is not in the snapshot). */
static int reached(const struct ondemand *od, const struct change *e)
{
  if (e->pg_lsn) return server_file_cmp(e->position.file, od->pos.file) >= 0; /* LSNs, as numbers */
  return server_pos_cmp(e->position.file, e->type == EVENT_HEARTBEAT ? e->end_pos : e->position.pos, &od->pos) >= 0;
}

int ondemand_holds(struct daemon *dm, struct change *e)
{
  struct ondemand *od = &dm->od;
  if (!od->snap || od->hold || e->type == EVENT_SNAPSHOT || !e->position.file[0] || !reached(od, e)) return 0;
  od->hold = 1;
  od->held = e;
  event_del(dm->qev);
  event_add(od->ev, NULL);
  event_active(od->ev, EV_READ, 0);
  return 1;
}

static int answer_error(struct buf *b, const char *err)
{
  buf_adds(b, "{\"error\":");
  buf_add_json_str(b, err, strlen(err));
  buf_adds(b, "}\n");
  return 500;
}

int ondemand_start(struct daemon *dm, char *const *tables, struct buf *b)
{
  struct ondemand *od = &dm->od;
  char err[1024];
  if (od->snap || dm->snapshotting) {
    buf_printf(b, "{\"error\":\"a snapshot is running already (%s): wait for it\"}\n",
               od->snap ? "one asked for" : "the initial one");
    return 409;
  }
  if (dm->stopping) {
    buf_adds(b, "{\"error\":\"the daemon is stopping\"}\n");
    return 409;
  }
  const struct config_source *cs = &dm->rs->cfg.source;
  struct source_opts so;
  memset(&so, 0, sizeof so);
  if (config_source_conn(&dm->rs->cfg, &so.conn, err, sizeof err)) {
    conn_opts_free(&so.conn);
    return answer_error(b, err);
  }
  struct snapshot_opts sno;
  snapshot_opts_from_config(&dm->rs->cfg, &so.conn, &sno);
  if (tables && tables[0]) sno.include = tables;
  sno.no_stream = 1;
  sno.beside = 1;
  struct snapshot *sn = snapshot_new(&sno);
  struct source *q = NULL;
  int bad = snapshot_begin(sn, err, sizeof err) < 0;
  if (!bad) {
    so.queue_events = cs->queue_events;
    so.queue_bytes = cs->queue_bytes;
    q = source_new(&so);
    bad = snapshot_start(sn, q, err, sizeof err) != 0;
  }
  int pg = so.conn.postgres;
  conn_opts_free(&so.conn);
  if (bad) {
    snapshot_free(sn);
    source_free(q);
    return answer_error(b, err);
  }
  od->snap = sn;
  od->src = q;
  od->pos = *snapshot_handover(sn);
  od->rows = 0;
  od->ev = event_new(dm->base, changeq_fd(source_queue(q)), EV_READ | EV_PERSIST, take, dm);
  if (pg) {
    log_notice("a snapshot was asked for: its rows go out when the stream reaches %s", od->pos.file);
    buf_printf(b, "{\"started\":true,\"position\":{\"lsn\":\"%s\"}}\n", od->pos.file);
  } else {
    log_notice("a snapshot was asked for: its rows go out when the stream reaches %s:%" PRIu64, od->pos.file,
               od->pos.pos);
    buf_adds(b, "{\"started\":true,\"position\":");
    buf_printf(b, "{\"file\":\"%s\",\"pos\":%" PRIu64 "}}\n", od->pos.file, od->pos.pos);
  }
  return 200;
}

void ondemand_cut(struct daemon *dm)
{
  struct ondemand *od = &dm->od;
  if (od->snap) { /* cut: it is asked again (the stream it held is read again from the checkpoint) */
    log_warn("the snapshot asked for was cut by the stop after %llu rows: ask again with binhook snapshot", od->rows);
    snapshot_free(od->snap);
    source_free(od->src);
    event_free(od->ev);
    od->snap = NULL;
    od->src = NULL;
    od->ev = NULL;
  }
  while (od->held) {
    struct change *next = od->held->next;
    change_free(od->held);
    od->held = next;
  }
}
