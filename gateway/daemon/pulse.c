/* pulse.c - see pulse.h. */
#include "daemon/pulse.h"
#include "daemon/daemon.h"
#include "daemon/intake.h"
#include "match/rules.h"
#include "source/conn.h"
#include "source/source.h"
#include "util/util.h"

#include <string.h>
#include <time.h>

void pulse_note(struct daemon *dm, const struct change *e)
{
  struct pulse_state *ps = &dm->beat;
  if (e->server_id) ps->server_id = e->server_id;
  if ((e->type != EVENT_COMMIT && e->type != EVENT_HEARTBEAT) || !e->position.file[0]) return;
  memcpy(ps->pos.file, e->position.file, sizeof ps->pos.file);
  ps->pos.pos = e->end_pos;
  ps->pg_lsn = e->pg_lsn;
  if (e->position.gtid[0]) memcpy(ps->pos.gtid, e->position.gtid, sizeof ps->pos.gtid);
  if (e->gtid_state) {
    rcstr_unref(ps->gtid_state);
    ps->gtid_state = rcstr_ref(e->gtid_state);
  }
}

void pulse_free(struct daemon *dm)
{
  rcstr_unref(dm->beat.gtid_state);
  dm->beat.gtid_state = NULL;
}

void pulse_tick(struct daemon *dm)
{
  struct pulse_state *ps = &dm->beat;
  double every = dm->rs->cfg.source.heartbeat_events, now = bh_mono();
  if (every <= 0 || dm->stopping || dm->snapshotting || !source_connected(dm->src) || !ps->pos.file[0]) return;
  if (ps->last && now - ps->last < every - 0.5) return; /* the tick is a second: half of one is its jitter */
  ps->last = now;
  source_server(dm->src, ps->where, sizeof ps->where); /* the one streamed from: another after a failover */
  struct change *e = change_new(EVENT_PULSE, NULL);
  e->ts = (uint32_t)time(NULL);
  e->server_id = ps->server_id;
  e->position = ps->pos;
  e->pg_lsn = (uint8_t)ps->pg_lsn;
  if (ps->gtid_state) e->gtid_state = rcstr_ref(ps->gtid_state);
  e->pulse = xcalloc(1, sizeof *e->pulse);
  e->pulse->lag = stats_lag(dm, time(NULL), 1);
  e->pulse->server = xstrdup(ps->where);
  matcher_feed(dm->m, e, intake_on_match, dm);
  change_free(e);
}
