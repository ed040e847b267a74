/* cmd_run.c - `binhook run`: the daemon. The source thread reads the binlog
 * into the bounded queue; the main libevent loop takes changes from it,
 * matches them against the rules, renders the requests and hands them to
 * the delivery engine; failed deliveries wait on timers for their next
 * attempt (retry.h).
 *
 * Signals: SIGHUP reloads the configuration, the rule files and the
 * templates; when anything is wrong the old configuration keeps running and
 * every problem is logged as file:line:col. SIGTERM and SIGINT stop reading,
 * give deliveries in flight a grace period, and exit.
 *
 * Backpressure: while too many deliveries are pending, the loop stops taking
 * changes from the queue; the queue fills, and the source stops reading the
 * binlog. Memory stays bounded; nothing is dropped. */
#include "commands.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "order.h"
#include "request.h"
#include "retry.h"
#include "rules.h"
#include "source.h"
#include "util.h"

#include <event2/event.h>

#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING 20000   /* deliveries in flight, waiting or between attempts */
#define GRACE_SECONDS 10.0  /* how long a stop waits for deliveries in flight */

struct run {
  const char *config_path;
  const char *source_url; /* --source, over [source] url */
  struct event_base *base;
  struct ruleset *rs;
  struct matcher *m;
  struct deliver *d;
  struct source *src;
  struct evq *q;
  struct event *qev, *sighup, *sigterm, *sigint, *grace;
  size_t pending; /* deliveries not finished (in the engine or waiting for a retry) */
  struct job *waiting; /* between attempts, linked by next/prev */
  struct order *order; /* deliveries by endpoint and row key, one at a time each */
  char **disabled;     /* endpoints that answered 410 Gone, NULL-terminated, until a reload */
  size_t ndisabled;
  int paused, stopping, failed;
  unsigned long long matched, delivered, failures, given_up;
};

/* One delivery across its attempts. */
struct job {
  struct run *run;
  struct ruleset *rs; /* holds the rule and endpoint the request points to */
  struct request *q;
  unsigned attempts;
  time_t first;
  struct event *timer;
  struct job *next, *prev; /* run->waiting */
  char *okey;              /* its key in run->order, or NULL when unordered */
  size_t okeylen;
};

static void wait_link(struct run *r, struct job *j)
{
  j->prev = NULL;
  j->next = r->waiting;
  if (r->waiting) r->waiting->prev = j;
  r->waiting = j;
}

static void wait_unlink(struct run *r, struct job *j)
{
  if (j->prev) j->prev->next = j->next;
  else r->waiting = j->next;
  if (j->next) j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook run [-c gateway.toml] [--source URL]\n\n"
             "Reads the binary log and delivers what the rules match. SIGHUP reloads the\n"
             "configuration (a broken one is refused and the running one kept); SIGTERM or SIGINT\n"
             "stop it.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n"
             "  --source URL        read from this server instead of [source] url (mysql://user@host:port)\n");
}

static void take_changes(evutil_socket_t fd, short what, void *arg);

static void update_pause(struct run *r)
{
  if (r->stopping) return;
  if (!r->paused && r->pending >= MAX_PENDING) {
    event_del(r->qev);
    r->paused = 1;
    log_warn("%zu deliveries pending: reading the binlog waits until they drain", r->pending);
  } else if (r->paused && r->pending <= MAX_PENDING / 2) {
    event_add(r->qev, NULL);
    r->paused = 0;
    log_info("deliveries drained to %zu: reading the binlog again", r->pending);
    event_active(r->qev, EV_READ, 0);
  }
}

static void job_free(struct job *j)
{
  free(j->okey);
  if (j->timer) event_free(j->timer);
  if (j->q) {
    request_free(j->q);
    free(j->q);
  }
  ruleset_free(j->rs);
  free(j);
}

static void submit(struct job *j)
{
  struct run *r = j->run;
  const struct config_endpoint *c = j->q->endpoint->cfg;
  /* the limits of the configuration running now, also for a retry of a
   * delivery made before a reload */
  const struct config_endpoint *now = config_endpoint(&r->rs->cfg, c->name);
  if (!now) now = c;
  struct deliver_limits lim = {.concurrency = now->concurrency,
                               .timeout = now->timeout,
                               .rate = now->rate_limit,
                               .burst = now->burst,
                               .breaker_failures = now->breaker_failures,
                               .breaker_cooldown = now->breaker_cooldown};
  struct request *q = j->q;
  j->q = NULL; /* the engine's until done (which may come before this returns) */
  j->attempts++;
  deliver_submit(r->d, c->name, &lim, q, j);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
  struct job *j = arg;
  (void)fd, (void)what;
  wait_unlink(j->run, j);
  request_resign(j->q, (int64_t)time(NULL));
  submit(j);
}

static int is_disabled(const struct run *r, const char *endpoint)
{
  for (size_t i = 0; i < r->ndisabled; i++)
    if (!strcmp(r->disabled[i], endpoint)) return 1;
  return 0;
}

static void finished(struct run *r, struct job *j);

/* Gives up a delivery that never got (another) attempt. */
static void drop(struct run *r, struct job *j, const char *why)
{
  r->given_up++;
  log_error("gave up on delivery %s (rule '%s') to endpoint '%s' after %u attempt%s: %s", j->q->id,
            j->q->rule->name, j->q->endpoint->name, j->attempts, j->attempts == 1 ? "" : "s", why);
  finished(r, j);
}

/* A delivery is over: its key goes to the next delivery of the same row,
 * which is sent now, or given up (with those behind it) when binhook is
 * stopping or the endpoint is disabled. */
static void finished(struct run *r, struct job *j)
{
  for (;;) {
    struct job *next = j->okey ? order_pop(r->order, j->okey, j->okeylen) : NULL;
    job_free(j);
    r->pending--;
    if (!next) break;
    const char *why = r->stopping                                ? "binhook stopped"
                      : is_disabled(r, next->q->endpoint->name) ? "the endpoint answered 410 Gone and is disabled "
                                                                  "until a reload"
                                                                : NULL;
    if (!why) {
      submit(next);
      break;
    }
    r->given_up++;
    log_error("gave up on delivery %s (rule '%s') to endpoint '%s' after %u attempt%s: %s", next->q->id,
              next->q->rule->name, next->q->endpoint->name, next->attempts, next->attempts == 1 ? "" : "s", why);
    j = next;
  }
  update_pause(r);
  if (r->stopping && !r->pending) event_base_loopbreak(r->base);
}

static void give_up_waiting(struct run *r)
{
  while (r->waiting) {
    struct job *j = r->waiting;
    wait_unlink(r, j);
    r->given_up++;
    log_error("gave up on delivery %s (rule '%s') to endpoint '%s' waiting for attempt %u: binhook stopped", j->q->id,
              j->q->rule->name, j->q->endpoint->name, j->attempts + 1);
    finished(r, j); /* the deliveries queued behind it follow (given up too) */
  }
}

static void on_grace(evutil_socket_t fd, short what, void *arg);

/* Stops taking changes; deliveries waiting for a retry are given up (there
 * is no durable queue yet), those in flight get a grace period. */
static void begin_stop(struct run *r)
{
  r->stopping = 1;
  event_del(r->qev);
  give_up_waiting(r);
  if (!r->pending) {
    event_base_loopbreak(r->base);
    return;
  }
  struct timeval tv = {(time_t)GRACE_SECONDS, 0};
  if (!r->grace) r->grace = evtimer_new(r->base, on_grace, r);
  evtimer_add(r->grace, &tv);
}

static void on_done(void *arg, void *user, struct request *q, const struct deliver_result *res)
{
  struct run *r = arg;
  struct job *j = user;
  j->q = q;
  if (res->ok) {
    r->delivered++;
    log_debug("delivered %s (rule '%s') to endpoint '%s': %ld in %.0f ms", q->id, q->rule->name, q->endpoint->name,
              res->status, res->seconds * 1000);
    finished(r, j);
    return;
  }
  r->failures++;
  if (res->status == 410 && !is_disabled(r, q->endpoint->name)) {
    log_error("endpoint '%s' answered 410 Gone: it is disabled, its deliveries are given up until a reload "
              "(SIGHUP) or a restart",
              q->endpoint->name);
    r->disabled = xrealloc(r->disabled, (r->ndisabled + 2) * sizeof *r->disabled);
    r->disabled[r->ndisabled++] = xstrdup(q->endpoint->name);
    r->disabled[r->ndisabled] = NULL;
    /* what waits for a slot is not sent at all */
    deliver_cancel(r->d, q->endpoint->name, "the endpoint answered 410 Gone and is disabled until a reload");
  }
  double delay = r->stopping || is_disabled(r, q->endpoint->name)
                     ? -1
                     : retry_delay(q->endpoint->cfg, j->attempts, difftime(time(NULL), j->first), res,
                                   (double)random() / ((double)RAND_MAX + 1));
  if (delay < 0) {
    drop(r, j, res->error);
    return;
  }
  log_warn("delivery %s (rule '%s') to endpoint '%s' failed (attempt %u): %s; next attempt in %.1f s", q->id,
           q->rule->name, q->endpoint->name, j->attempts, res->error, delay);
  if (!j->timer) j->timer = evtimer_new(r->base, on_retry_timer, j);
  wait_link(r, j);
  struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
  evtimer_add(j->timer, &tv);
}

static void on_match(void *arg, const struct rule *rule, const struct change *e)
{
  struct run *r = arg;
  char err[1024];
  r->matched++;
  for (size_t i = 0; i < rule->nendpoints; i++) {
    struct job *j = xcalloc(1, sizeof *j);
    j->run = r;
    j->q = xcalloc(1, sizeof *j->q);
    j->first = time(NULL);
    if (request_build(rule, rule->endpoints[i], e, (int64_t)j->first, j->q, err, sizeof err)) {
      struct buf id = BUF_INIT;
      change_id(e, &id);
      log_error("change %s: %s", id.p, err);
      buf_free(&id);
      free(j->q);
      free(j);
      continue;
    }
    j->rs = ruleset_ref(r->rs);
    r->pending++;
    const struct endpoint *ep = rule->endpoints[i];
    if (is_disabled(r, ep->name)) {
      drop(r, j, "the endpoint answered 410 Gone and is disabled until a reload");
      continue;
    }
    /* the key that orders it: the endpoint, and the row (ordering = "key";
     * rows without a primary key, statements and alerts go unordered) */
    const char *ordering = ep->cfg->ordering ? ep->cfg->ordering : "key";
    if (strcmp(ordering, "none") && (strcmp(ordering, "key") || (e->table && e->table->npk && e->type != EVENT_ALERT))) {
      struct buf k = BUF_INIT;
      buf_adds(&k, ep->name);
      if (!strcmp(ordering, "key")) {
        buf_addc(&k, '\n');
        buf_adds(&k, e->table->schema);
        buf_addc(&k, '.');
        buf_adds(&k, e->table->name);
        buf_addc(&k, '\n');
        change_key_to_json(e, &k);
      }
      j->okeylen = k.len;
      j->okey = buf_steal(&k);
      if (!order_push(r->order, j->okey, j->okeylen, j)) continue; /* behind the same row's */
    }
    submit(j);
  }
}

static void take_changes(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  if (r->paused || r->stopping) return;
  struct change *e = evq_pop_all(r->q, 0);
  if (!e && evq_closed(r->q)) {
    const char *why = source_error(r->src);
    log_error("the change stream ended: %s", why ? why : "stopped");
    r->failed = 1;
    begin_stop(r);
    return;
  }
  while (e) {
    struct change *next = e->next;
    matcher_feed(r->m, e, on_match, r);
    change_free(e);
    e = next;
  }
  update_pause(r);
}

/* Loads path into a new ruleset; NULL after logging every problem (those
 * of the rules and templates too when the files themselves have some, as
 * `binhook check` does). */
static struct ruleset *load(const char *path)
{
  struct config cfg;
  config_defaults(&cfg);
  size_t errsz = 1 << 20;
  char *errs = xmalloc(errsz), *save = NULL;
  struct buf more = BUF_INIT;
  struct ruleset *rs = NULL;
  int bad = config_load(path, &cfg, errs, errsz);
  if (bad)
    for (char *line = strtok_r(errs, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
  if (cfg.files && ruleset_build(&cfg, 1, &rs, &more)) {
    save = NULL;
    for (char *line = strtok_r(more.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
    bad = 1;
  }
  if (bad) {
    ruleset_free(rs);
    rs = NULL;
  }
  free(errs);
  buf_free(&more);
  config_free(&cfg);
  return rs;
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int same_strv(char **a, char **b)
{
  for (; a && b && *a && *b; a++, b++)
    if (strcmp(*a, *b)) return 0;
  return (!a || !*a) && (!b || !*b);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  log_notice("SIGHUP: reloading '%s'", r->config_path);
  struct ruleset *rs = load(r->config_path);
  if (!rs) {
    log_error("reload refused: the configuration loaded before keeps running (fix the problems above, then "
              "send SIGHUP again)");
    return;
  }
  if (r->source_url) {
    free(rs->cfg.source.url);
    rs->cfg.source.url = xstrdup(r->source_url);
  }
  enum log_level lvl;
  if (!log_parse_level(rs->cfg.log.level, &lvl)) log_set_level(lvl);
  const struct config_source *a = &r->rs->cfg.source, *b = &rs->cfg.source;
  if (!same_str(a->url, b->url) || a->server_id != b->server_id || !same_strv(a->tables, b->tables) ||
      !same_strv(a->exclude, b->exclude) || !same_str(a->tls, b->tls))
    log_warn("[source] changed: that takes effect at the next start; rules, endpoints and templates are "
             "reloaded now");
  /* Threshold counts of an open transaction start again with the new rules. */
  matcher_free(r->m);
  ruleset_free(r->rs);
  r->rs = rs;
  r->m = matcher_new(rs);
  for (size_t i = 0; i < r->ndisabled; i++) {
    log_notice("endpoint '%s' is enabled again", r->disabled[i]);
    free(r->disabled[i]);
  }
  r->ndisabled = 0;
  log_notice("reloaded '%s': %zu rules, %zu endpoints", r->config_path, rs->nrules, rs->nendpoints);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)fd, (void)what;
  log_warn("%zu deliveries still pending after %.0f s: stopping without them", r->pending, GRACE_SECONDS);
  event_base_loopbreak(r->base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
  struct run *r = arg;
  (void)what;
  if (r->stopping) {
    log_notice("second signal: stopping now");
    event_base_loopbreak(r->base);
    return;
  }
  log_notice("%s: stopping; %zu deliveries pending", fd == SIGINT ? "SIGINT" : "SIGTERM", r->pending);
  begin_stop(r);
}

int cmd_run(int argc, char **argv)
{
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"source", required_argument, NULL, 's'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  struct run r = {.config_path = "gateway.toml"};
  char err[1024];
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': r.config_path = optarg; break;
    case 's': r.source_url = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook run: unexpected argument '%s' (the file goes after -c)\n", argv[optind]);
    return 2;
  }
  if (!(r.rs = load(r.config_path))) {
    log_error("cannot start: fix the configuration ('binhook check -c %s' lists every problem)", r.config_path);
    return 2;
  }
  enum log_level lvl;
  if (!log_parse_level(r.rs->cfg.log.level, &lvl)) log_set_level(lvl);
  srandom((unsigned)time(NULL) ^ (unsigned)getpid());
  signal(SIGPIPE, SIG_IGN);

  /* the source */
  struct config *cfg = &r.rs->cfg;
  if (r.source_url) {
    free(cfg->source.url);
    cfg->source.url = xstrdup(r.source_url);
  }
  struct source_opts so;
  memset(&so, 0, sizeof so);
  if (config_source_conn(cfg, &so.conn, err, sizeof err) ||
      start_pos_parse(cfg->source.start ? cfg->source.start : "end", &so.start, err, sizeof err)) {
    log_error("%s", err);
    conn_opts_free(&so.conn);
    ruleset_free(r.rs);
    return 2;
  }
  so.server_id = cfg->source.server_id;
  so.include = cfg->source.tables;
  so.exclude = cfg->source.exclude;
  so.heartbeat = cfg->source.heartbeat;
  so.queue_events = cfg->source.queue_events;
  so.queue_bytes = cfg->source.queue_bytes;
  /* Signals wait until their handlers are in place; the reader thread
   * inherits the mask and never takes them. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  r.src = source_new(&so);
  conn_opts_free(&so.conn);
  if (source_start(r.src, err, sizeof err)) {
    log_error("%s", err);
    source_free(r.src);
    ruleset_free(r.rs);
    return 1;
  }
  uint32_t skip;
  const struct position *sp = source_start_position(r.src, &skip);
  log_notice("binhook %s: reading from %s:%" PRIu64 " with %zu rules and %zu endpoints", BINHOOK_VERSION, sp->file,
             sp->pos, r.rs->nrules, r.rs->nendpoints);

  r.base = event_base_new();
  bh_assert(r.base);
  r.m = matcher_new(r.rs);
  r.order = order_new();
  r.d = deliver_new(r.base, on_done, &r);
  r.q = source_queue(r.src);
  r.qev = event_new(r.base, evq_fd(r.q), EV_READ | EV_PERSIST, take_changes, &r);
  event_add(r.qev, NULL);
  r.sighup = evsignal_new(r.base, SIGHUP, on_sighup, &r);
  r.sigterm = evsignal_new(r.base, SIGTERM, on_stop, &r);
  r.sigint = evsignal_new(r.base, SIGINT, on_stop, &r);
  evsignal_add(r.sighup, NULL);
  evsignal_add(r.sigterm, NULL);
  evsignal_add(r.sigint, NULL);
  pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

  event_base_dispatch(r.base);

  source_stop(r.src);
  r.stopping = 1;
  deliver_free(r.d); /* hands back what is in flight: given up (no durable queue yet) */
  give_up_waiting(&r);
  order_free(r.order, NULL, NULL); /* empty by now: every held delivery was given up with its first */
  for (size_t i = 0; i < r.ndisabled; i++)
    free(r.disabled[i]);
  free(r.disabled);
  log_notice("stopped: %llu matches, %llu delivered, %llu failed attempts, %llu given up", r.matched, r.delivered,
             r.failures, r.given_up);
  matcher_free(r.m);
  event_free(r.qev);
  event_free(r.sighup);
  event_free(r.sigterm);
  event_free(r.sigint);
  if (r.grace) event_free(r.grace);
  event_base_free(r.base);
  source_free(r.src);
  ruleset_free(r.rs);
  return r.failed ? 1 : 0;
}
