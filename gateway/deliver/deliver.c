/* deliver.c - see deliver.h. Two threads share the work:
 *
 *  - the caller's loop (the main thread) keeps the endpoints' lanes: the
 *    waiting lists, the limits of requests in flight, the rate limit's
 *    buckets and the circuit breakers; it signs a request when its turn
 *    comes and hands it to the engine, and it turns the engine's results
 *    into done callbacks;
 *  - the engine threads (one per core, up to MAX_ENGINES) run libcurl,
 *    each in the pattern of curl's hiperfifo.c: its own libevent base and
 *    multi handle, one struct sock per socket curl watches; the socket
 *    callback adds and removes libevent events, the timer callback arms
 *    one libevent timer, both lead to curl_multi_socket_action, and
 *    check_done collects finished transfers, which post_done moves to the
 *    outbox once per pass of the loop. libcurl's work per request is
 *    most of the CPU a delivery takes, which one thread cannot give.
 *
 * Between them, lists under one mutex (an inbox per engine: to start; one
 * outbox: finished), each with an eventfd that wakes the other side when
 * its list stops being empty. A request goes to the engine with the fewest
 * in flight (its endpoint's usual one on a tie, so that a quiet endpoint
 * keeps its connection). A request in an engine is only read on both
 * sides (the caller may write a copy of it to its queue meanwhile);
 * everything that changes it (signing) happens before it is handed over.
 *
 * What a delivery costs besides libcurl is kept small: the requests a pass
 * of the caller's loop starts are staged and handed over together at the
 * end of the pass (one lock and at most one wake-up per engine, not one per
 * request); transfers are reused (a struct transfer holds the answer's
 * first KiB, too large for the allocator's per-thread cache, and every
 * allocation of that size made it sort its free lists again); the header
 * list is laid out in the transfer's own memory, not a node and a string
 * per header. */
#include "deliver/deliver.h"
#include "util/log.h"
#include "util/util.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct engine;

struct transfer {
  /* the caller's side */
  struct deliver_lane *lane;
  struct transfer *next; /* waiting list, staged, then inbox or outbox; the spares */
  struct request *q;
  void *user;
  double timeout;
  int probe; /* the request that tests a half-open circuit */
  struct engine *eng;
  /* the engine's side, until the transfer is in the outbox */
  struct transfer *prev_run, *next_run; /* in flight */
  CURL *easy;
  struct curl_slist *hlist;        /* the header list: nodes in hnode, text in htext */
  struct curl_slist *extra, *rcpt; /* made by curl_slist_append (freed when done) */
  struct curl_slist *hnode;        /* kept across reuse, grown when needed */
  size_t nhnode;
  char *htext;
  size_t htextcap;
  size_t sent; /* SMTP upload */
  double started;
  double retry_after;
  char errbuf[CURL_ERROR_SIZE];
  struct deliver_result res; /* filled in by the engine; res.body as the answer comes */
};
/* Transfers kept for reuse at most (each about 3 KiB). */
#define MAX_SPARE_TRANSFERS 256


struct sock {
  curl_socket_t fd;
  short kind; /* the libevent flags ev waits for */
  struct event *ev;
};

#define MAX_IDLE_HANDLES 64
#define MAX_ENGINES 4

/* One engine thread: its own state, but for what d->mu guards. */
struct engine {
  struct deliver *d;
  pthread_t thread;
  struct event_base *base;
  CURLM *multi;
  struct event *timer;
  struct event *inbox_ev;
  struct transfer *running; /* in flight, linked by next_run */
  CURL **idle;              /* easy handles kept for reuse (curl_easy_reset) */
  size_t nidle;
  struct transfer *done_head, *done_tail; /* finished in this pass, not yet in the outbox */
  size_t inflight;                        /* the caller's count: handed over, not back yet */
  long maxconns;                          /* the connection cache's size, as last set */
  struct transfer *staged, *staged_tail;  /* the caller's: to hand over at the end of its pass */
  /* under d->mu */
  struct transfer *inbox, *inbox_tail;
  int inbox_fd; /* eventfd: wakes the engine */
};

struct deliver {
  struct event_base *base; /* the caller's */
  deliver_done_fn done;
  void *arg;
  struct deliver_lane **lanes; /* the caller's, registered by deliver_lane_init */
  size_t nlanes;
  size_t pending;
  int closing; /* deliver_free is handing requests back */
  struct event *outbox_ev;
  struct event *flush_ev; /* hands the staged transfers over, after the loop's current callbacks */
  int staging;            /* something is staged: flush_ev is active */
  struct transfer *spare; /* transfers to reuse */
  size_t nspare;
  struct engine eng[MAX_ENGINES];
  size_t neng;
  /* shared, under mu */
  pthread_mutex_t mu;
  struct transfer *outbox, *outbox_tail;
  int stop;
  long maxconns; /* idle connections an engine keeps: every lane's concurrency */
  int outbox_fd; /* eventfd: wakes the caller */
};

/* ==== the engine thread ==== */

static void check_done(struct engine *g);

/* Moves the transfers finished in this pass to the outbox at once. */
static void post_done(struct engine *g)
{
  struct deliver *d = g->d;
  if (!g->done_head) return;
  pthread_mutex_lock(&d->mu);
  int was_empty = !d->outbox;
  if (d->outbox_tail) d->outbox_tail->next = g->done_head;
  else d->outbox = g->done_head;
  d->outbox_tail = g->done_tail;
  pthread_mutex_unlock(&d->mu);
  g->done_head = g->done_tail = NULL;
  if (was_empty) bh_wake(d->outbox_fd);
}

/* Ends t in the engine: its handle goes back to the pool, the result to
 * the outbox (at the end of this pass). */
static void engine_finish(struct engine *g, struct transfer *t)
{
  if (t->prev_run || g->running == t) {
    if (t->prev_run) t->prev_run->next_run = t->next_run;
    else g->running = t->next_run;
    if (t->next_run) t->next_run->prev_run = t->prev_run;
  }
  t->prev_run = t->next_run = NULL;
  if (t->easy && g->nidle < MAX_IDLE_HANDLES) {
    if (!g->idle) g->idle = xcalloc(MAX_IDLE_HANDLES, sizeof *g->idle);
    g->idle[g->nidle++] = t->easy;
  } else if (t->easy) {
    curl_easy_cleanup(t->easy);
  }
  t->easy = NULL;
  curl_slist_free_all(t->extra);
  curl_slist_free_all(t->rcpt);
  t->hlist = t->extra = t->rcpt = NULL;
  t->next = NULL;
  if (g->done_tail) g->done_tail->next = t;
  else g->done_head = t;
  g->done_tail = t;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
  struct engine *g = arg;
  int running;
  (void)fd, (void)what;
  curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(g);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
  struct engine *g = arg;
  (void)multi;
  if (timeout_ms < 0) {
    evtimer_del(g->timer);
  } else {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(g->timer, &tv);
  }
  return 0;
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
  struct engine *g = arg;
  int running, flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
  curl_multi_socket_action(g->multi, fd, flags, &running);
  check_done(g);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
  struct engine *g = arg;
  struct sock *s = sockp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      event_free(s->ev);
      free(s);
    }
    curl_multi_assign(g->multi, fd, NULL);
    return 0;
  }
  short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
  if (!s) {
    s = xcalloc(1, sizeof *s);
    s->fd = fd;
    s->kind = kind;
    s->ev = event_new(g->base, fd, kind, on_socket, g);
    curl_multi_assign(g->multi, fd, s);
    event_add(s->ev, NULL);
  } else if (s->kind != kind) {
    /* the same event, waiting for something else now */
    event_del(s->ev);
    event_assign(s->ev, g->base, fd, kind, on_socket, g);
    s->kind = kind;
    event_add(s->ev, NULL);
  }
  return 0;
}

static size_t read_body(char *buf, size_t size, size_t n, void *arg)
{
  struct transfer *t = arg;
  size_t left = t->q->body.len - t->sent, want = size * n;
  if (want > left) want = left;
  memcpy(buf, t->q->body.p + t->sent, want);
  t->sent += want;
  return want;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
  struct transfer *t = arg;
  size_t len = size * n;
  if (len > 12 && !strncasecmp(buf, "retry-after:", 12)) {
    char v[64];
    size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
    memcpy(v, buf + 12, vl);
    v[vl] = 0;
    /* delta-seconds (digits only), or an HTTP-date */
    const char *d = v + strspn(v, " \t");
    size_t nd = strspn(d, "0123456789");
    if (nd && nd < 10 && strspn(d + nd, " \t\r\n") == strlen(d + nd)) {
      t->retry_after = strtod(d, NULL);
    } else {
      time_t when = curl_getdate(v + strspn(v, " \t"), NULL);
      if (when > 0) t->retry_after = difftime(when, time(NULL)) > 0 ? difftime(when, time(NULL)) : 0;
    }
  }
  return len;
}

/* The answer's body: its first bytes are kept (the attempt log shows
 * them), the rest is read and dropped. */
static size_t keep_body(char *buf, size_t size, size_t n, void *arg)
{
  struct transfer *t = arg;
  size_t len = size * n, room = sizeof t->res.body - t->res.bodylen;
  if (room) {
    size_t k = len < room ? len : room;
    memcpy(t->res.body + t->res.bodylen, buf, k);
    t->res.bodylen += k;
  }
  return len;
}

/* Lays q's headers out as a curl_slist in t's own memory: one node per
 * header, their text in one block ("Name: value", or "Name;" for an empty
 * value: "Name:" would remove the header), then "Expect:" unless aws. */
static void set_headers(struct transfer *t, const struct request *q, int aws)
{
  size_t need = 0, n = q->nheaders + 1;
  for (size_t i = 0; i < q->nheaders; i++)
    need += strlen(q->headers[i].name) + strlen(q->headers[i].value) + 3;
  need += sizeof "Expect:";
  if (need > t->htextcap) {
    free(t->htext);
    t->htextcap = need + 256;
    t->htext = xmalloc(t->htextcap);
  }
  if (n > t->nhnode) {
    free(t->hnode);
    t->nhnode = n + 4;
    t->hnode = xmalloc(t->nhnode * sizeof *t->hnode);
  }
  char *p = t->htext;
  size_t k = 0;
  for (size_t i = 0; i < q->nheaders; i++) {
    const struct header *h = &q->headers[i];
    size_t nl = strlen(h->name), vl = strlen(h->value);
    t->hnode[k].data = p;
    memcpy(p, h->name, nl);
    p += nl;
    if (vl) {
      *p++ = ':';
      *p++ = ' ';
      memcpy(p, h->value, vl);
      p += vl;
    } else {
      *p++ = ';';
    }
    *p++ = 0;
    t->hnode[k].next = &t->hnode[k + 1];
    k++;
  }
  /* no 100-continue round trip; but curl (7.88) would sign the removed
   * header as an empty one the request lacks, which AWS refuses */
  if (!aws) {
    t->hnode[k].data = p;
    memcpy(p, "Expect:", sizeof "Expect:");
    t->hnode[k].next = &t->hnode[k + 1];
    k++;
  }
  if (!k) {
    t->hlist = NULL;
    return;
  }
  t->hnode[k - 1].next = NULL;
  t->hlist = t->hnode;
}

/* r as a failure with no answer; the caller writes why into r->error. */
static void set_failed(struct deliver_result *r)
{
  r->ok = 0;
  r->code = BH_E_OTHER;
  r->status = 0;
  r->retry_after = -1;
  r->seconds = 0;
  r->error[0] = 0;
  r->bodylen = 0;
}

/* Sets up t's easy handle and gives it to the multi handle. */
static void engine_start(struct engine *g, struct transfer *t)
{
  struct request *q = t->q;
  CURL *e;
  if (g->nidle) {
    e = g->idle[--g->nidle];
    curl_easy_reset(e);
  } else {
    e = curl_easy_init();
  }
  bh_assert(e);
  t->easy = e;
  t->started = bh_mono();
  t->retry_after = -1;
  t->errbuf[0] = 0;
  t->res.bodylen = 0;
  t->sent = 0;
  curl_easy_setopt(e, CURLOPT_URL, q->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(t->timeout * 1000));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(t->timeout * 1000));
  if (q->endpoint->cfg->tls_ca) curl_easy_setopt(e, CURLOPT_CAINFO, q->endpoint->cfg->tls_ca);
  if (q->is_mail) {
    const struct config_endpoint *c = q->endpoint->cfg;
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, q->mail_from);
    for (char **r = q->rcpt; r && *r; r++)
      t->rcpt = curl_slist_append(t->rcpt, *r);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body.len);
    /* STARTTLS when offered; required when a password would go over it */
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)(c->username || c->password ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    if (c->username) curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
    if (c->password) curl_easy_setopt(e, CURLOPT_PASSWORD, c->password);
  } else {
    const struct config_endpoint *c = q->endpoint->cfg;
    int aws = c->aws_sigv4 && c->aws_access_key && c->aws_secret_key;
    set_headers(t, q, aws);
    if (aws) {
      /* curl signs at send time (X-Amz-Date is the attempt's), over the
       * headers above and the body; the credentials stay in memory only */
      curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->aws_sigv4);
      curl_easy_setopt(e, CURLOPT_USERNAME, c->aws_access_key);
      curl_easy_setopt(e, CURLOPT_PASSWORD, c->aws_secret_key);
      if (c->aws_session_token) {
        struct buf h = BUF_INIT;
        buf_printf(&h, "X-Amz-Security-Token: %s", c->aws_session_token);
        t->extra = curl_slist_append(t->extra, h.p);
        memset(h.p, 0, h.len);
        buf_free(&h);
        /* after the request's own headers */
        if (t->hlist) t->hnode[q->nheaders - 1].next = t->extra;
        else t->hlist = t->extra;
      }
    }
    else if (c->username || c->password) {
      /* HTTP basic authentication (RabbitMQ's API, say): the password
       * comes from password_env or password_file, never from the file */
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
      if (c->username) curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
      if (c->password) curl_easy_setopt(e, CURLOPT_PASSWORD, c->password);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hlist);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body.p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
    if (strcmp(q->method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is a failure */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  }
  t->next_run = g->running;
  if (g->running) g->running->prev_run = t;
  g->running = t;
  CURLMcode mc = curl_multi_add_handle(g->multi, e);
  if (mc != CURLM_OK) {
    set_failed(&t->res);
    snprintf(t->res.error, sizeof t->res.error, "cannot start the transfer: %s", curl_multi_strerror(mc));
    engine_finish(g, t);
  }
}

/* What to do about the failures that a configuration fixes. */
static const char *hint(CURLcode rc)
{
  switch (rc) {
  case CURLE_LOGIN_DENIED: return " (check username and password_env or password_file)";
  case CURLE_PEER_FAILED_VERIFICATION:
    return " (set tls_ca to the PEM file of the CA that signed the server's certificate)";
  case CURLE_USE_SSL_FAILED:
    return " (the server offers no STARTTLS, and a password is never sent in the clear: use smtps:// or a "
           "server that offers STARTTLS)";
  default: return "";
  }
}

static void check_done(struct engine *g)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(g->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    struct transfer *t;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    struct deliver_result *r = &t->res; /* its body is there already (keep_body) */
    r->ok = 0;
    r->code = BH_E_OTHER;
    r->status = 0;
    r->retry_after = t->retry_after;
    r->seconds = bh_mono() - t->started;
    r->error[0] = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
    CURLcode rc = m->data.result;
    if (rc != CURLE_OK) {
      snprintf(r->error, sizeof r->error, "%s%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc), hint(rc));
    } else if (t->q->is_mail) {
      r->ok = 1;
    } else if (r->status >= 200 && r->status < 300) {
      r->ok = 1;
    } else {
      snprintf(r->error, sizeof r->error, "HTTP status %ld", r->status);
    }
    if (r->ok) r->code = BH_E_NONE;
    curl_multi_remove_handle(g->multi, m->easy_handle);
    engine_finish(g, t);
  }
}

/* Hands t back unsent: the engine is stopping. */
static void engine_refuse(struct engine *g, struct transfer *t)
{
  set_failed(&t->res);
  snprintf(t->res.error, sizeof t->res.error, "not sent: binhook stopped");
  engine_finish(g, t);
}

static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
  struct engine *g = arg;
  struct deliver *d = g->d;
  (void)what;
  bh_wake_drain(fd);
  pthread_mutex_lock(&d->mu);
  struct transfer *t = g->inbox;
  g->inbox = g->inbox_tail = NULL;
  int stop = d->stop;
  long maxconns = d->maxconns;
  pthread_mutex_unlock(&d->mu);
  if (maxconns != g->maxconns) {
    /* left alone, libcurl keeps four connections per transfer in flight
     * at the moment, and closes the rest whenever fewer are running */
    curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, maxconns);
    g->maxconns = maxconns;
  }
  while (t) {
    struct transfer *next = t->next;
    t->next = NULL;
    if (stop) engine_refuse(g, t);
    else engine_start(g, t);
    t = next;
  }
  if (stop) {
    while (g->running) {
      struct transfer *r = g->running;
      curl_multi_remove_handle(g->multi, r->easy);
      engine_refuse(g, r);
    }
    event_base_loopbreak(g->base);
  }
}

static void *engine_main(void *arg)
{
  struct engine *g = arg;
  /* one pass of the loop at a time: what every socket ready at once
   * finished goes to the outbox together, one wake-up of the caller for
   * all of them, not one per socket */
  for (;;) {
    int rc = event_base_loop(g->base, EVLOOP_ONCE);
    post_done(g);
    if (rc || event_base_got_break(g->base)) break;
  }
  for (size_t i = 0; i < g->nidle; i++)
    curl_easy_cleanup(g->idle[i]);
  free(g->idle);
  curl_multi_cleanup(g->multi); /* frees the socket events through socket_cb */
  event_free(g->timer);
  event_free(g->inbox_ev);
  event_base_free(g->base);
  return NULL;
}

/* ==== the caller's loop ==== */

/* Hands t to an engine. */
static void start(struct deliver *d, struct transfer *t)
{
  struct request *q = t->q;
  t->lane->running++;
  /* signed when sent, not when queued: the timestamp is the attempt's */
  if (!q->is_mail) request_resign(q, (int64_t)time(NULL));
  struct engine *g = &d->eng[t->lane->home];
  for (size_t i = 0; i < d->neng; i++)
    if (d->eng[i].inflight < g->inflight) g = &d->eng[i];
  g->inflight++;
  t->eng = g;
  t->next = NULL;
  if (g->staged_tail) g->staged_tail->next = t;
  else g->staged = t;
  g->staged_tail = t;
  if (!d->staging) { /* handed over once the loop's current callbacks are through */
    d->staging = 1;
    event_active(d->flush_ev, EV_WRITE, 0);
  }
}

/* Hands every staged transfer to its engine: one lock for all, a wake-up
 * for an engine whose inbox was empty. */
static void flush_staged(struct deliver *d)
{
  int wake[MAX_ENGINES] = {0};
  d->staging = 0;
  pthread_mutex_lock(&d->mu);
  for (size_t i = 0; i < d->neng; i++) {
    struct engine *g = &d->eng[i];
    if (!g->staged) continue;
    wake[i] = !g->inbox;
    if (g->inbox_tail) g->inbox_tail->next = g->staged;
    else g->inbox = g->staged;
    g->inbox_tail = g->staged_tail;
    g->staged = g->staged_tail = NULL;
  }
  pthread_mutex_unlock(&d->mu);
  for (size_t i = 0; i < d->neng; i++)
    if (wake[i]) bh_wake(d->eng[i].inbox_fd);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
  (void)fd, (void)what;
  flush_staged(arg);
}

/* A transfer for a new request: a spare one, or a new one. */
static struct transfer *transfer_get(struct deliver *d)
{
  struct transfer *t = d->spare;
  if (!t) return xcalloc(1, sizeof *t);
  d->spare = t->next;
  d->nspare--;
  return t;
}

/* Keeps t for reuse (its header memory with it), or frees it. */
static void transfer_put(struct deliver *d, struct transfer *t)
{
  if (d->nspare < MAX_SPARE_TRANSFERS && !d->closing) {
    t->next = d->spare;
    d->spare = t;
    d->nspare++;
    return;
  }
  free(t->hnode);
  free(t->htext);
  free(t);
}

/* Sizes the engines' connection caches: any engine may carry any lane, so
 * each keeps room for every lane's concurrency, within a share of the
 * open-file limit. */
static void size_conn_cache(struct deliver *d)
{
  long sum = 0;
  for (size_t i = 0; i < d->nlanes; i++)
    sum += d->lanes[i]->lim.concurrency;
  struct rlimit rl;
  long cap = LONG_MAX;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) cap = (long)(rl.rlim_cur / 4 / d->neng);
  if (sum > cap) sum = cap;
  if (sum < 16) sum = 16;
  pthread_mutex_lock(&d->mu);
  d->maxconns = sum;
  pthread_mutex_unlock(&d->mu);
}

void deliver_lane_init(struct deliver *d, struct deliver_lane *l, const char *endpoint)
{
  memset(l, 0, sizeof *l);
  l->d = d;
  l->endpoint = endpoint;
  l->refilled = bh_mono();
  d->lanes = xrealloc(d->lanes, (d->nlanes + 1) * sizeof *d->lanes);
  d->lanes[d->nlanes++] = l;
  l->home = (d->nlanes - 1) % d->neng;
}

/* The limits of the latest submit (a reload may change them). */
static void set_limits(struct deliver *d, struct deliver_lane *l, const struct deliver_limits *lim)
{
  if (!l->limited) {
    l->tokens = lim->burst > 0 ? lim->burst : lim->rate > 1 ? lim->rate : 1;
    l->limited = 1;
  }
  unsigned was = l->lim.concurrency;
  l->lim = *lim;
  if (!l->lim.concurrency) l->lim.concurrency = 1;
  if (l->lim.concurrency != was) size_conn_cache(d);
}

static void on_wake(evutil_socket_t fd, short what, void *arg);

/* Pumps l again after seconds. */
static void wake_in(struct deliver_lane *l, double seconds)
{
  if (!l->wake) l->wake = evtimer_new(l->d->base, on_wake, l);
  if (evtimer_pending(l->wake, NULL)) return;
  if (seconds < 0.001) seconds = 0.001;
  struct timeval tv = bh_timeval(seconds);
  evtimer_add(l->wake, &tv);
}

static void pump(struct deliver *d, struct deliver_lane *l)
{
  while (l->head && l->running < l->lim.concurrency) {
    double now = bh_mono();
    int probe = 0;
    if (l->open_until) {
      if (now < l->open_until) {
        wake_in(l, l->open_until - now);
        return;
      }
      if (l->probing) return; /* half open: one request tests the endpoint */
      probe = 1;
    }
    if (l->lim.rate > 0) {
      double burst = l->lim.burst > 0 ? l->lim.burst : l->lim.rate > 1 ? l->lim.rate : 1;
      l->tokens += (now - l->refilled) * l->lim.rate;
      if (l->tokens > burst) l->tokens = burst;
      l->refilled = now;
      if (l->tokens < 1) {
        wake_in(l, (1 - l->tokens) / l->lim.rate);
        return;
      }
      l->tokens -= 1;
    }
    struct transfer *t = l->head;
    l->head = t->next;
    if (!l->head) l->tail = NULL;
    t->probe = probe;
    if (probe) l->probing = 1;
    start(d, t);
  }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
  struct deliver_lane *l = arg;
  (void)fd, (void)what;
  pump(l->d, l);
}

/* The breaker's view of a result. */
static void breaker_note(struct deliver_lane *l, const struct transfer *t, const struct deliver_result *r)
{
  if (!l->lim.breaker_failures) return;
  int failed = !r->ok && (r->status == 0 || r->status >= 500 || r->status == 429);
  if (t->probe) l->probing = 0;
  if (!failed) {
    if (l->open_until && (t->probe || r->ok))
      log_notice("endpoint '%s' answers again: circuit closed", l->endpoint);
    if (t->probe || r->ok) l->open_until = 0;
    l->failures = 0;
    return;
  }
  l->failures++;
  if (t->probe || (!l->open_until && l->failures >= l->lim.breaker_failures)) {
    if (!l->open_until || t->probe)
      log_warn("endpoint '%s' failed %u times in a row: circuit open, requests wait %.0f s before a probe",
               l->endpoint, l->failures, l->lim.breaker_cooldown);
    l->open_until = bh_mono() + l->lim.breaker_cooldown;
  }
}

/* Ends transfer t, back from the engine: its slot goes to the next
 * waiting. */
static void finish(struct deliver *d, struct transfer *t)
{
  struct deliver_lane *l = t->lane;
  l->running--;
  t->eng->inflight--;
  d->pending--;
  breaker_note(l, t, &t->res);
  /* done first: it may cancel what waits (a 410) before the slot is reused */
  d->done(d->arg, t->user, t->q, &t->res);
  transfer_put(d, t);
  if (!d->closing) pump(d, l);
}

/* Finishes what the engine has handed back. */
static void take_outbox(struct deliver *d)
{
  pthread_mutex_lock(&d->mu);
  struct transfer *t = d->outbox;
  d->outbox = d->outbox_tail = NULL;
  pthread_mutex_unlock(&d->mu);
  while (t) {
    struct transfer *next = t->next;
    finish(d, t);
    t = next;
  }
}

static void on_outbox(evutil_socket_t fd, short what, void *arg)
{
  (void)what;
  bh_wake_drain(fd);
  take_outbox(arg);
}

struct deliver *deliver_new(struct event_base *base, deliver_done_fn done, void *arg)
{
  static int global;
  if (!global) {
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any other thread uses curl */
    global = 1;
  }
  struct deliver *d = xcalloc(1, sizeof *d);
  d->base = base;
  d->done = done;
  d->arg = arg;
  pthread_mutex_init(&d->mu, NULL);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  d->neng = cores < 1 ? 1 : cores > MAX_ENGINES ? MAX_ENGINES : (size_t)cores;
  char eb[128];
  d->outbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (size_t i = 0; i < d->neng && d->outbox_fd >= 0; i++)
    if ((d->eng[i].inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) d->outbox_fd = -1;
  if (d->outbox_fd < 0) {
    /* as with memory: nothing to go on with */
    log_error("cannot create an eventfd for the delivery threads: %s (raise the limit of open files, ulimit -n)",
              bh_strerror(errno, eb, sizeof eb));
    abort();
  }
  d->outbox_ev = event_new(base, d->outbox_fd, EV_READ | EV_PERSIST, on_outbox, d);
  event_add(d->outbox_ev, NULL);
  d->flush_ev = event_new(base, -1, 0, on_flush, d);
  for (size_t i = 0; i < d->neng; i++) {
    struct engine *g = &d->eng[i];
    g->d = d;
    g->base = event_base_new();
    g->multi = curl_multi_init();
    bh_assert(g->base && g->multi);
    g->timer = evtimer_new(g->base, on_timer, g);
    g->inbox_ev = event_new(g->base, g->inbox_fd, EV_READ | EV_PERSIST, on_inbox, g);
    event_add(g->inbox_ev, NULL);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
    curl_multi_setopt(g->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    int rc = pthread_create(&g->thread, NULL, engine_main, g);
    if (rc) {
      log_error("cannot start a delivery thread: %s (raise the limit of processes, ulimit -u)",
                bh_strerror(rc, eb, sizeof eb));
      abort();
    }
  }
  return d;
}

void deliver_submit(struct deliver *d, struct deliver_lane *l, const struct deliver_limits *lim, struct request *q,
                    void *user)
{
  bh_assert(!d->closing); /* done callbacks of deliver_free must not submit */
  struct transfer *t = transfer_get(d);
  t->next = NULL;
  t->probe = 0;
  t->eng = NULL;
  t->q = q;
  t->user = user;
  t->timeout = lim->timeout > 0 ? lim->timeout : 15;
  bh_assert(l->d == d);
  set_limits(d, l, lim);
  t->lane = l;
  d->pending++;
  if (t->lane->tail)
    t->lane->tail->next = t;
  else
    t->lane->head = t;
  t->lane->tail = t;
  pump(d, t->lane);
}

size_t deliver_pending(const struct deliver *d) { return d->pending; }

int deliver_circuit_open(const struct deliver_lane *l) { return l->open_until != 0; }

/* Hands back the transfers of a list that never reached the engine. */
static void hand_back(struct deliver *d, struct transfer *t, enum bh_errc code, const char *why)
{
  struct deliver_result r = {.retry_after = -1, .code = code};
  snprintf(r.error, sizeof r.error, "%s", why);
  while (t) {
    struct transfer *next = t->next;
    struct request *q = t->q;
    void *user = t->user;
    d->pending--;
    transfer_put(d, t);
    d->done(d->arg, user, q, &r);
    t = next;
  }
}

void deliver_cancel(struct deliver *d, struct deliver_lane *l, enum bh_errc code, const char *why)
{
  /* detached first: done may submit to other endpoints meanwhile */
  struct transfer *t = l->head;
  l->head = l->tail = NULL;
  hand_back(d, t, code, why);
}

void deliver_free(struct deliver *d)
{
  if (!d) return;
  flush_staged(d); /* the engines refuse them, and hand them back as the rest */
  d->closing = 1;
  /* the engines hand back what they hold, then end */
  pthread_mutex_lock(&d->mu);
  d->stop = 1;
  pthread_mutex_unlock(&d->mu);
  for (size_t i = 0; i < d->neng; i++) bh_wake(d->eng[i].inbox_fd);
  for (size_t i = 0; i < d->neng; i++) pthread_join(d->eng[i].thread, NULL);
  take_outbox(d);
  for (size_t i = 0; i < d->nlanes; i++) {
    struct deliver_lane *l = d->lanes[i];
    struct transfer *t = l->head;
    l->head = l->tail = NULL;
    /* counted as an attempt by the caller: stopping cut it short */
    hand_back(d, t, BH_E_OTHER, "not sent: binhook stopped");
    if (l->wake) event_free(l->wake);
    l->wake = NULL;
  }
  free(d->lanes);
  while (d->spare) {
    struct transfer *t = d->spare;
    d->spare = t->next;
    transfer_put(d, t); /* closing: freed */
  }
  event_free(d->outbox_ev);
  event_free(d->flush_ev);
  for (size_t i = 0; i < d->neng; i++) close(d->eng[i].inbox_fd);
  close(d->outbox_fd);
  pthread_mutex_destroy(&d->mu);
  free(d);
}
