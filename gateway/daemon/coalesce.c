/* coalesce.c - see coalesce.h. A hash of pending deliveries by row key,
 * each with its own timer for the end of its window. */
#include "daemon/coalesce.h"
#include "daemon/daemon.h"
#include "daemon/lane.h"
#include "daemon/sched.h"
#include "event/change.h"
#include "match/rules.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/util.h"

#include <event2/event.h>

#include <stdlib.h>
#include <string.h>

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
  struct daemon *dm;
  struct coal *hnext;         /* hash chain */
  struct coal *anext, *aprev; /* every pending one */
};

static struct coal **slot(struct daemon *dm, const char *key, size_t len)
{
  struct coal **p = &dm->coal[bh_fnv1a(key, len) & (dm->ncoalslots - 1)];
  while (*p && !((*p)->keylen == len && !memcmp((*p)->key, key, len))) p = &(*p)->hnext;
  return p;
}

/* Makes c's delivery and forgets c. */
static void flush(struct daemon *dm, struct coal *c)
{
  struct coal **p = slot(dm, c->key, c->keylen);
  bh_assert(*p == c);
  *p = c->hnext;
  if (c->aprev) c->aprev->anext = c->anext;
  else dm->coals = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  dm->ncoal--;
  dm->inmem--;
  event_free(c->timer);
  if (c->n > 1)
    log_debug("rule '%s': %u updates of one row to endpoint '%s' coalesced into one delivery", c->rule->name, c->n,
              c->ep->name);
  sched_make(dm, c->rs, c->rule, c->ep, c->merged, c->mark);
  change_free(c->merged);
  ruleset_free(c->rs);
  free(c->key);
  free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
  struct coal *c = arg;
  (void)fd, (void)what;
  struct daemon *dm = c->dm;
  flush(dm, c);
  daemon_update_pause(dm);
}

int coalesce_wanted(const struct daemon *dm, const struct endpoint *ep, const struct change *e)
{
  return ep->cfg->coalesce > 0 && e->type == EVENT_UPDATE && e->table && e->table->npk && !dm->stopping &&
         !lane_get((struct daemon *)dm, ep->name)->disabled;
}

void coalesce_before(struct daemon *dm, const struct endpoint *ep, const struct change *e)
{
  if (!dm->ncoal || !e->table || !e->table->npk || (!e->before && !e->after)) return;
  struct buf k = BUF_INIT;
  sched_row_key(ep->name, e, &k);
  struct coal *c = *slot(dm, k.p, k.len);
  buf_free(&k);
  if (c) flush(dm, c);
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

static void grow(struct daemon *dm)
{
  size_t n = dm->ncoalslots ? dm->ncoalslots * 2 : 1024, oldn = dm->ncoalslots;
  struct coal **old = dm->coal;
  dm->coal = xcalloc(n, sizeof *dm->coal);
  dm->ncoalslots = n;
  for (size_t i = 0; i < oldn; i++)
    for (struct coal *x = old[i], *nx; x; x = nx) {
      nx = x->hnext;
      x->hnext = NULL;
      *slot(dm, x->key, x->keylen) = x;
    }
  free(old);
}

void coalesce_add(struct daemon *dm, const struct rule *rule, const struct endpoint *ep, const struct change *e)
{
  struct buf k = BUF_INIT;
  sched_row_key(ep->name, e, &k);
  struct coal *c = dm->ncoal ? *slot(dm, k.p, k.len) : NULL;
  if (c && (c->rule != rule || c->rs != dm->rs || !same_table(c->merged->table, e->table))) {
    /* another rule's, from before a reload, or of another table version */
    flush(dm, c);
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
  if ((dm->ncoal + 1) * 2 > dm->ncoalslots) grow(dm);
  c = xcalloc(1, sizeof *c);
  c->dm = dm;
  c->keylen = k.len;
  c->key = buf_steal(&k);
  c->rs = ruleset_ref(dm->rs);
  c->rule = rule;
  c->ep = ep;
  c->merged = change_merged(e, e);
  c->n = 1;
  c->mark = marks_hold(&dm->marks);
  c->timer = evtimer_new(dm->base, on_timer, c);
  struct timeval tv = bh_timeval(ep->cfg->coalesce);
  evtimer_add(c->timer, &tv);
  *slot(dm, c->key, c->keylen) = c;
  c->anext = dm->coals;
  if (dm->coals) dm->coals->aprev = c;
  dm->coals = c;
  dm->ncoal++;
  dm->inmem++;
}

void coalesce_flush_all(struct daemon *dm)
{
  while (dm->coals) flush(dm, dm->coals);
  free(dm->coal);
  dm->coal = NULL;
  dm->ncoalslots = 0;
}
