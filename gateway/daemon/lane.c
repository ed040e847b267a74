/* lane.c - see lane.h. */
#include "daemon/lane.h"
#include "daemon/daemon.h"
#include "daemon/job.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

const double lane_lat_bounds[LANE_NLAT] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800,
                                           3600, 21600, 86400};

struct lane *lane_get(struct daemon *dm, const char *endpoint)
{
  for (struct lane *l = dm->lanes; l; l = l->next)
    if (!strcmp(l->endpoint, endpoint)) return l;
  struct lane *l = xcalloc(1, sizeof *l);
  l->endpoint = xstrdup(endpoint);
  deliver_lane_init(dm->d, &l->out, l->endpoint);
  l->rate_t = l->born = bh_mono();
  l->next = dm->lanes;
  dm->lanes = l;
  return l;
}

/* A delivery is unfinished from when it is made (or read back) until it
 * is acknowledged or dead: the queue depth and oldest age per endpoint. */
void lane_live_add(struct lane *l, struct job *j)
{
  j->lnext = NULL;
  j->lprev = l->live_tail;
  if (l->live_tail) l->live_tail->lnext = j;
  else l->live = j;
  l->live_tail = j;
  l->depth++;
  j->live = 1;
}

void lane_live_del(struct lane *l, struct job *j)
{
  if (!j->live) return;
  if (j->lprev) j->lprev->lnext = j->lnext;
  else l->live = j->lnext;
  if (j->lnext) j->lnext->lprev = j->lprev;
  else l->live_tail = j->lprev;
  j->lnext = j->lprev = NULL;
  l->depth--;
  j->live = 0;
}

void lane_note_latency(struct lane *l, double lat)
{
  size_t b = 0;
  while (b < LANE_NLAT && lat > lane_lat_bounds[b]) b++;
  if (b < LANE_NLAT) l->lat_bucket[b]++;
  l->lat_count++;
  l->lat_sum += lat;
}

void lane_park_push(struct lane *l, uint64_t seq)
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

double lane_oldest_age(const struct lane *l, time_t now) { return l->live ? difftime(now, l->live->first) : 0; }

void lanes_free(struct lane *head)
{
  for (struct lane *l = head, *ln; l; l = ln) {
    ln = l->next;
    free(l->endpoint);
    free(l->parked);
    free(l);
  }
}
