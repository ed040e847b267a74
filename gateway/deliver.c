/* deliver.c - see deliver.h. The pattern of curl's hiperfifo.c: one struct
 * deliver for the loop and the multi handle, one struct transfer per
 * request in flight, one struct sock per socket curl watches. The socket
 * callback adds and removes libevent events, the timer callback arms one
 * libevent timer, both lead to curl_multi_socket_action, and check_done
 * turns finished transfers into done callbacks. */
#include "deliver.h"
#include "log.h"
#include "util.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct lane; /* one endpoint's queue */

struct transfer {
  struct deliver *d;
  struct lane *lane;
  struct transfer *next;       /* waiting list */
  struct transfer *prev_run, *next_run; /* in flight */
  CURL *easy;
  struct curl_slist *headers, *rcpt;
  struct request *q;
  void *user;
  double timeout;
  int probe;   /* the request that tests a half-open circuit */
  size_t sent; /* SMTP upload */
  double started;
  double retry_after;
  int failed_start; /* curl_multi_add_handle refused it */
  char errbuf[CURL_ERROR_SIZE];
};

struct lane {
  struct deliver *d;
  char *endpoint;
  struct deliver_limits lim;
  unsigned running;
  struct transfer *head, *tail; /* waiting */
  double tokens, refilled;      /* the rate limit's bucket, and when it was last filled */
  unsigned failures;            /* in a row, for the breaker */
  double open_until;            /* the circuit is open until then (monotonic seconds); 0: closed */
  int probing;                  /* half open: one request is out to test the endpoint */
  struct event *wake;           /* pumps the lane when the bucket or the circuit allows again */
};

struct sock {
  curl_socket_t fd;
  short kind; /* the libevent flags ev waits for */
  struct event *ev;
};

struct deliver {
  struct event_base *base;
  CURLM *multi;
  struct event *timer;
  deliver_done_fn done;
  void *arg;
  struct lane **lanes; /* each allocated on its own: transfers point to them */
  size_t nlanes;
  size_t pending;
  struct transfer *running; /* in flight, linked by next_run */
  struct event *failed;     /* finishes transfers that could not start */
  CURL **idle;              /* easy handles kept for reuse (curl_easy_reset) */
  size_t nidle;
  int closing;              /* deliver_free is handing requests back */
};

static double mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_done(struct deliver *d);

/* ---- libevent <-> curl ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
  struct deliver *d = arg;
  int running;
  (void)fd, (void)what;
  curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(d);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
  struct deliver *d = arg;
  (void)multi;
  if (timeout_ms < 0) {
    evtimer_del(d->timer);
  } else {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(d->timer, &tv);
  }
  return 0;
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
  struct deliver *d = arg;
  int running, flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
  curl_multi_socket_action(d->multi, fd, flags, &running);
  check_done(d);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
  struct deliver *d = arg;
  struct sock *s = sockp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      event_free(s->ev);
      free(s);
    }
    curl_multi_assign(d->multi, fd, NULL);
    return 0;
  }
  short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
  if (!s) {
    s = xcalloc(1, sizeof *s);
    s->fd = fd;
    s->kind = kind;
    s->ev = event_new(d->base, fd, kind, on_socket, d);
    curl_multi_assign(d->multi, fd, s);
    event_add(s->ev, NULL);
  } else if (s->kind != kind) {
    /* the same event, waiting for something else now */
    event_del(s->ev);
    event_assign(s->ev, d->base, fd, kind, on_socket, d);
    s->kind = kind;
    event_add(s->ev, NULL);
  }
  return 0;
}

/* ---- transfers ---- */

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

static size_t discard(char *buf, size_t size, size_t n, void *arg)
{
  (void)buf, (void)arg;
  return size * n;
}

#define MAX_IDLE_HANDLES 64

static void start(struct deliver *d, struct transfer *t)
{
  struct request *q = t->q;
  CURL *e;
  if (d->nidle) {
    e = d->idle[--d->nidle];
    curl_easy_reset(e);
  } else {
    e = curl_easy_init();
  }
  bh_assert(e);
  t->easy = e;
  t->lane->running++;
  t->started = mono();
  t->retry_after = -1;
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
    /* signed when sent, not when queued: the timestamp is the attempt's */
    request_resign(q, (int64_t)time(NULL));
    for (size_t i = 0; i < q->nheaders; i++) {
      struct buf h = BUF_INIT;
      if (q->headers[i].value[0])
        buf_printf(&h, "%s: %s", q->headers[i].name, q->headers[i].value);
      else
        buf_printf(&h, "%s;", q->headers[i].name); /* "Name:" would remove the header */
      t->headers = curl_slist_append(t->headers, h.p);
      buf_free(&h);
    }
    const struct config_endpoint *c = q->endpoint->cfg;
    int aws = c->aws_sigv4 && c->aws_access_key && c->aws_secret_key;
    if (aws) {
      /* curl signs at send time (X-Amz-Date is the attempt's), over the
       * headers above and the body; the credentials stay in memory only */
      curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->aws_sigv4);
      curl_easy_setopt(e, CURLOPT_USERNAME, c->aws_access_key);
      curl_easy_setopt(e, CURLOPT_PASSWORD, c->aws_secret_key);
      if (c->aws_session_token) {
        struct buf h = BUF_INIT;
        buf_printf(&h, "X-Amz-Security-Token: %s", c->aws_session_token);
        t->headers = curl_slist_append(t->headers, h.p);
        memset(h.p, 0, h.len);
        buf_free(&h);
      }
    }
    else if (c->username || c->password) {
      /* HTTP basic authentication (RabbitMQ's API, say): the password
       * comes from password_env or password_file, never from the file */
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
      if (c->username) curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
      if (c->password) curl_easy_setopt(e, CURLOPT_PASSWORD, c->password);
    }
    /* no 100-continue round trip; but curl (7.88) would sign the removed
     * header as an empty one the request lacks, which AWS refuses */
    if (!aws) t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body.p);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
    if (strcmp(q->method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is a failure */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  }
  t->next_run = d->running;
  if (d->running) d->running->prev_run = t;
  d->running = t;
  CURLMcode mc = curl_multi_add_handle(d->multi, e);
  if (mc != CURLM_OK) {
    /* finish it as failed; done runs later from the loop, not inside submit */
    snprintf(t->errbuf, sizeof t->errbuf, "cannot start the transfer: %s", curl_multi_strerror(mc));
    t->failed_start = 1;
    struct timeval now = {0, 0};
    evtimer_add(d->failed, &now);
  }
}

static void unlink_running(struct deliver *d, struct transfer *t)
{
  if (t->prev_run) t->prev_run->next_run = t->next_run;
  else d->running = t->next_run;
  if (t->next_run) t->next_run->prev_run = t->prev_run;
}

static struct lane *lane_of(struct deliver *d, const char *endpoint, const struct deliver_limits *lim)
{
  struct lane *l = NULL;
  for (size_t i = 0; i < d->nlanes && !l; i++)
    if (!strcmp(d->lanes[i]->endpoint, endpoint)) l = d->lanes[i];
  if (!l) {
    d->lanes = xrealloc(d->lanes, (d->nlanes + 1) * sizeof *d->lanes);
    l = d->lanes[d->nlanes++] = xcalloc(1, sizeof *l);
    l->d = d;
    l->endpoint = xstrdup(endpoint);
    l->refilled = mono();
    l->tokens = lim->burst > 0 ? lim->burst : lim->rate > 1 ? lim->rate : 1;
  }
  l->lim = *lim; /* a reload may change them */
  if (!l->lim.concurrency) l->lim.concurrency = 1;
  return l;
}

static void on_wake(evutil_socket_t fd, short what, void *arg);

/* Pumps l again after seconds. */
static void wake_in(struct lane *l, double seconds)
{
  if (!l->wake) l->wake = evtimer_new(l->d->base, on_wake, l);
  if (evtimer_pending(l->wake, NULL)) return;
  if (seconds < 0.001) seconds = 0.001;
  struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
  evtimer_add(l->wake, &tv);
}

static void pump(struct deliver *d, struct lane *l)
{
  while (l->head && l->running < l->lim.concurrency) {
    double now = mono();
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
  struct lane *l = arg;
  (void)fd, (void)what;
  pump(l->d, l);
}

/* The breaker's view of a result. */
static void breaker_note(struct lane *l, const struct transfer *t, const struct deliver_result *r)
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
    l->open_until = mono() + l->lim.breaker_cooldown;
  }
}

static void transfer_free(struct transfer *t)
{
  struct deliver *d = t->d;
  if (t->easy && d->nidle < MAX_IDLE_HANDLES && !d->closing) {
    if (!d->idle) d->idle = xcalloc(MAX_IDLE_HANDLES, sizeof *d->idle);
    d->idle[d->nidle++] = t->easy;
  } else if (t->easy) {
    curl_easy_cleanup(t->easy);
  }
  curl_slist_free_all(t->headers);
  curl_slist_free_all(t->rcpt);
  free(t);
}

/* Ends transfer t with result r: its slot goes to the next waiting. */
static void finish(struct deliver *d, struct transfer *t, const struct deliver_result *r)
{
  unlink_running(d, t);
  struct lane *l = t->lane;
  l->running--;
  d->pending--;
  breaker_note(l, t, r);
  struct request *q = t->q;
  void *user = t->user;
  transfer_free(t);
  /* done first: it may cancel what waits (a 410) before the slot is reused */
  d->done(d->arg, user, q, r);
  if (!d->closing) pump(d, l);
}

static void on_failed_start(evutil_socket_t fd, short what, void *arg)
{
  struct deliver *d = arg;
  (void)fd, (void)what;
  for (struct transfer *t = d->running, *next; t; t = next) {
    next = t->next_run;
    if (!t->failed_start) continue;
    struct deliver_result r = {.retry_after = -1};
    snprintf(r.error, sizeof r.error, "%s", t->errbuf);
    finish(d, t, &r);
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

static void check_done(struct deliver *d)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(d->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    struct transfer *t;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    struct deliver_result r = {.retry_after = t->retry_after, .seconds = mono() - t->started};
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r.status);
    CURLcode rc = m->data.result;
    if (rc != CURLE_OK) {
      snprintf(r.error, sizeof r.error, "%s%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc), hint(rc));
    } else if (t->q->is_mail) {
      r.ok = 1;
    } else if (r.status >= 200 && r.status < 300) {
      r.ok = 1;
    } else {
      snprintf(r.error, sizeof r.error, "HTTP status %ld", r.status);
    }
    curl_multi_remove_handle(d->multi, m->easy_handle);
    finish(d, t, &r);
  }
}

struct deliver *deliver_new(struct event_base *base, deliver_done_fn done, void *arg)
{
  static int global;
  if (!global) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global = 1;
  }
  struct deliver *d = xcalloc(1, sizeof *d);
  d->base = base;
  d->done = done;
  d->arg = arg;
  d->multi = curl_multi_init();
  bh_assert(d->multi);
  d->timer = evtimer_new(base, on_timer, d);
  d->failed = evtimer_new(base, on_failed_start, d);
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
  curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  return d;
}

void deliver_submit(struct deliver *d, const char *endpoint, const struct deliver_limits *lim, struct request *q,
                    void *user)
{
  bh_assert(!d->closing); /* done callbacks of deliver_free must not submit */
  struct transfer *t = xcalloc(1, sizeof *t);
  t->d = d;
  t->q = q;
  t->user = user;
  t->timeout = lim->timeout > 0 ? lim->timeout : 15;
  t->lane = lane_of(d, endpoint, lim);
  d->pending++;
  if (t->lane->tail)
    t->lane->tail->next = t;
  else
    t->lane->head = t;
  t->lane->tail = t;
  pump(d, t->lane);
}

size_t deliver_pending(const struct deliver *d) { return d->pending; }

int deliver_circuit_open(const struct deliver *d, const char *endpoint)
{
  for (size_t i = 0; i < d->nlanes; i++)
    if (!strcmp(d->lanes[i]->endpoint, endpoint)) return d->lanes[i]->open_until != 0;
  return 0;
}

void deliver_cancel(struct deliver *d, const char *endpoint, const char *why)
{
  struct lane *l = NULL;
  for (size_t i = 0; i < d->nlanes && !l; i++)
    if (!strcmp(d->lanes[i]->endpoint, endpoint)) l = d->lanes[i];
  if (!l) return;
  /* detached first: done may submit to other endpoints meanwhile */
  struct transfer *t = l->head;
  l->head = l->tail = NULL;
  struct deliver_result r = {.retry_after = -1};
  snprintf(r.error, sizeof r.error, "%s", why);
  while (t) {
    struct transfer *next = t->next;
    struct request *q = t->q;
    void *user = t->user;
    d->pending--;
    transfer_free(t);
    d->done(d->arg, user, q, &r);
    t = next;
  }
}

void deliver_free(struct deliver *d)
{
  if (!d) return;
  struct deliver_result r = {.retry_after = -1};
  snprintf(r.error, sizeof r.error, "not sent: binhook stopped");
  d->closing = 1;
  while (d->running) {
    struct transfer *t = d->running;
    if (!t->failed_start) curl_multi_remove_handle(d->multi, t->easy);
    finish(d, t, &r);
  }
  for (size_t i = 0; i < d->nlanes; i++) {
    struct lane *l = d->lanes[i];
    for (struct transfer *t = l->head, *next; t; t = next) {
      next = t->next;
      struct request *q = t->q;
      void *user = t->user;
      d->pending--;
      transfer_free(t);
      d->done(d->arg, user, q, &r);
    }
    free(l->endpoint);
    if (l->wake) event_free(l->wake);
    free(l);
  }
  free(d->lanes);
  for (size_t i = 0; i < d->nidle; i++)
    curl_easy_cleanup(d->idle[i]);
  free(d->idle);
  curl_multi_cleanup(d->multi);
  event_free(d->timer);
  event_free(d->failed);
  free(d);
}
