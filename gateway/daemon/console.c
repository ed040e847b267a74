/* console.c - see console.h. */
#include "daemon/console.h"
#include "daemon/daemon.h"
#include "match/rules.h"
#include "util/util.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

void series_tick(struct daemon *dm)
{
  struct series *s = &dm->series;
  double now = bh_mono();
  if (s->last && now - s->last < SERIES_STEP - 0.5) return; /* the tick is a second: half of one is its jitter */
  s->last = now;
  const struct counters *c = &dm->cnt;
  struct series_point *p = &s->p[s->head];
  p->t = (int64_t)time(NULL);
  p->changes = c->events[EVENT_INSERT] + c->events[EVENT_UPDATE] + c->events[EVENT_DELETE] +
               c->events[EVENT_SNAPSHOT] + c->events[EVENT_STATEMENT];
  p->matched = c->matched;
  p->delivered = c->delivered;
  p->failed = c->failures;
  p->dead = c->dead;
  p->waiting = dm->jobs;
  s->head = (s->head + 1) % SERIES_N;
  if (s->n < SERIES_N) s->n++;
}

int console_series(struct daemon *dm, struct buf *b)
{
  const struct series *s = &dm->series;
  buf_printf(b, "{\"step\":%d,\"points\":[", SERIES_STEP);
  for (size_t k = 0; k < s->n; k++) { /* oldest first */
    const struct series_point *p = &s->p[(s->head + SERIES_N - s->n + k) % SERIES_N];
    buf_printf(b,
               "%s{\"t\":%" PRId64 ",\"changes\":%llu,\"matched\":%llu,\"delivered\":%llu,\"failed\":%llu,"
               "\"dead\":%llu,\"waiting\":%zu}",
               k ? "," : "", p->t, p->changes, p->matched, p->delivered, p->failed, p->dead, p->waiting);
  }
  buf_adds(b, "]}\n");
  return 200;
}

static void add_str(struct buf *b, const char *key, const char *v)
{
  buf_printf(b, ",\"%s\":", key);
  if (v) buf_add_json_str(b, v, strlen(v));
  else buf_adds(b, "null");
}

static void add_list(struct buf *b, const char *key, char *const *v)
{
  buf_printf(b, ",\"%s\":", key);
  if (!v) {
    buf_adds(b, "null");
    return;
  }
  buf_addc(b, '[');
  for (size_t i = 0; v[i]; i++) {
    if (i) buf_addc(b, ',');
    buf_add_json_str(b, v[i], strlen(v[i]));
  }
  buf_addc(b, ']');
}

/* The names of the bits of mask, from names (one per bit, lowest first). */
static void add_bits(struct buf *b, const char *key, unsigned mask, const char *const *names, size_t n)
{
  buf_printf(b, ",\"%s\":[", key);
  int first = 1;
  for (size_t i = 0; i < n; i++) {
    if (!(mask & (1u << i))) continue;
    buf_printf(b, "%s\"%s\"", first ? "" : ",", names[i]);
    first = 0;
  }
  buf_addc(b, ']');
}

static unsigned long long matches_of(const struct daemon *dm, const char *rule)
{
  for (const struct rulecount *c = dm->cnt.rules; c; c = c->next)
    if (!strcmp(c->rule, rule)) return c->n;
  return 0;
}

static void rule_json(const struct daemon *dm, const struct rule *r, struct buf *b)
{
  static const char *const on[] = {"insert", "update", "delete", "snapshot", "statement", "heartbeat"};
  static const char *const kinds[] = {"ddl", "dcl", "other"};
  const struct config_rule *c = r->cfg;
  buf_adds(b, "{\"name\":");
  buf_add_json_str(b, r->name, strlen(r->name));
  add_str(b, "description", c->description);
  buf_printf(b, ",\"enabled\":%s", c->enabled ? "true" : "false");
  add_list(b, "tables", c->tables);
  add_bits(b, "on", r->on, on, sizeof on / sizeof on[0]);
  add_bits(b, "kinds", r->kinds, kinds, sizeof kinds / sizeof kinds[0]);
  add_str(b, "when", c->when.s);
  add_str(b, "statement", c->statement.s);
  buf_printf(b, ",\"threshold\":%lld", c->threshold);
  add_list(b, "endpoints", c->endpoints);
  add_str(b, "template", c->template.s);
  buf_printf(b, ",\"defined_at\":");
  char at[1200];
  snprintf(at, sizeof at, "%s:%d", c->file ? c->file : "", c->line);
  buf_add_json_str(b, at, strlen(at));
  buf_printf(b, ",\"matches\":%llu}", matches_of(dm, r->name));
}

int console_rules(struct daemon *dm, struct buf *b)
{
  buf_adds(b, "{\"rules\":[");
  for (size_t i = 0; i < dm->rs->nrules; i++) {
    if (i) buf_addc(b, ',');
    rule_json(dm, &dm->rs->rules[i], b);
  }
  buf_adds(b, "]}\n");
  return 200;
}
