/* stats.c - see stats.h. */
#include "daemon/stats.h"
#include "daemon/daemon.h"
#include "daemon/lane.h"
#include "match/rules.h"
#include "source/source.h"
#include "store/dbstore.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void counters_match(struct counters *c, const char *rule)
{
  struct rulecount **p = &c->rules;
  for (; *p; p = &(*p)->next)
    if (!strcmp((*p)->rule, rule)) break;
  struct rulecount *rc = *p;
  if (!rc) {
    rc = xcalloc(1, sizeof *rc);
    rc->rule = xstrdup(rule);
  } else {
    *p = rc->next;
  }
  rc->n++;
  /* the busiest rules stay in front */
  rc->next = c->rules;
  c->rules = rc;
}

const char *counters_intern(struct counters *c, const char *rule)
{
  for (struct rulecount *rc = c->rules; rc; rc = rc->next)
    if (!strcmp(rc->rule, rule)) return rc->rule;
  struct rulecount *rc = xcalloc(1, sizeof *rc);
  rc->rule = xstrdup(rule);
  rc->next = c->rules;
  c->rules = rc;
  return rc->rule;
}

void counters_free(struct counters *c)
{
  while (c->rules) {
    struct rulecount *rc = c->rules;
    c->rules = rc->next;
    free(rc->rule);
    free(rc);
  }
}

static int rule_configured(const struct ruleset *rs, const char *name)
{
  for (size_t i = 0; i < rs->nrules; i++)
    if (!strcmp(rs->rules[i].name, name)) return 1;
  return 0;
}

static void collect_rules(const struct daemon *dm, struct stats *out)
{
  const struct ruleset *rs = dm->rs;
  size_t n = rs->nrules;
  for (struct rulecount *c = dm->cnt.rules; c; c = c->next)
    if (!rule_configured(rs, c->rule)) n++;
  out->rules = xcalloc(n ? n : 1, sizeof *out->rules);
  for (size_t i = 0; i < rs->nrules; i++) { /* every rule, matched or not */
    struct stats_rule *sr = &out->rules[out->nrules++];
    sr->name = rs->rules[i].name;
    for (struct rulecount *c = dm->cnt.rules; c; c = c->next)
      if (!strcmp(c->rule, sr->name)) sr->matches = c->n;
  }
  for (struct rulecount *c = dm->cnt.rules; c; c = c->next)
    if (!rule_configured(rs, c->rule)) /* removed by a reload */
      out->rules[out->nrules++] = (struct stats_rule){c->rule, c->n};
}

void stats_url_origin(const char *url, char *out, size_t size)
{
  const char *p = strstr(url, "://");
  if (!p) {
    snprintf(out, size, "%s", "");
    return;
  }
  const char *host = p + 3, *end = host + strcspn(host, "/?#");
  for (const char *at = host; at < end; at++) /* user:password@ */
    if (*at == '@') host = at + 1;
  snprintf(out, size, "%.*s://%.*s", (int)(p - url), url, (int)(end - host), host);
}

static void collect_endpoints(const struct daemon *dm, struct stats *out)
{
  size_t n = 0;
  for (const struct lane *l = dm->lanes; l; l = l->next) n++;
  out->endpoints = xcalloc(n ? n : 1, sizeof *out->endpoints);
  for (const struct lane *l = dm->lanes; l; l = l->next) {
    struct stats_endpoint *e = &out->endpoints[out->nendpoints++];
    e->name = l->endpoint;
    e->disabled = l->disabled;
    e->circuit_open = deliver_circuit_open(&l->out);
    e->up = !e->disabled && !e->circuit_open;
    e->in_flight = l->inengine;
    e->depth = l->depth + l->npk;
    e->dead_letters = l->dead_now;
    e->oldest_age = lane_oldest_age(l, out->now);
    e->delivered = l->delivered;
    e->failed = l->failed;
    e->dead = l->dead;
    e->lat_count = l->lat_count;
    memcpy(e->lat_bucket, l->lat_bucket, sizeof e->lat_bucket);
    e->lat_sum = l->lat_sum;
    const struct config_endpoint *c = config_endpoint(&dm->rs->cfg, l->endpoint);
    if (c) {
      stats_url_origin(c->url.s ? c->url.s : "", e->where, sizeof e->where);
      e->is_mail = !strncmp(e->where, "smtp", 4);
      e->concurrency = c->concurrency;
    }
    attempts_figures(&dm->attempts, l->endpoint, &e->fig);
  }
}

double stats_lag(const struct daemon *dm, time_t now, int streaming)
{
  double lag = dm->cnt.lag;
  /* Nothing is read while paused or disconnected: the lag seen at the last
   * event would stand still while the server moves on. */
  if ((dm->paused || !streaming) && dm->cnt.lag_at && now > dm->cnt.lag_at) lag += difftime(now, dm->cnt.lag_at);
  return lag;
}

void stats_collect(struct daemon *dm, struct stats *out)
{
  memset(out, 0, sizeof *out);
  out->started = dm->started;
  out->now = time(NULL);
  out->pid = (long)getpid();
  out->config_path = dm->args.config_path;
  out->streaming = source_connected(dm->src);
  out->incidents = source_incidents(dm->src);
  source_retry_error(dm->src, out->source_error, sizeof out->source_error);
  if (dm->lease) {
    struct lease_info li;
    lease_info(dm->lease, &li);
    out->in_db = 1;
    snprintf(out->store, sizeof out->store, "%s", dbstore_where(dm->db));
    snprintf(out->lease_host, sizeof out->lease_host, "%s", li.host);
    out->lease_pid = li.pid;
    out->lease_age = li.age;
    out->lease_epoch = li.epoch;
    out->takeovers = li.takeovers;
  }
  if (dm->src) {
    out->server_id = source_server(dm->src, out->server, sizeof out->server);
    out->by_gtid = source_by_gtid(dm->src);
  }
  out->paused = dm->paused != 0;
  out->lag = stats_lag(dm, out->now, out->streaming);
  out->cp = dm->marks.cp;
  retryq_stats(dm->dq, &out->queue);
  out->writable = !dm->queue_bad;
  memcpy(out->events, dm->cnt.events, sizeof out->events);
  out->matched = dm->cnt.matched;
  out->delivered = dm->cnt.delivered;
  out->failures = dm->cnt.failures;
  out->dead = dm->cnt.dead;
  out->restored = dm->cnt.restored;
  collect_rules(dm, out);
  collect_endpoints(dm, out);
  if (dm->snap) {
    out->has_snapshot = 1;
    snapshot_progress_get(dm->snap, &out->snapshot);
    out->snapshot_running = !out->snapshot.finished && snapshot_unfinished(dm->snap);
  }
}

void stats_free(struct stats *s)
{
  free(s->rules);
  free(s->endpoints);
  if (s->has_snapshot) free((void *)s->snapshot.tables);
  memset(s, 0, sizeof *s);
}
