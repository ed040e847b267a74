/* httpd.c - see httpd.h. One struct conn per connection, a bufferevent
 * over its socket and one timer for whichever deadline applies now:
 *
 *   HEAD   reading the request line and headers (deadline: head_timeout)
 *   BODY   reading Content-Length bytes of body (deadline: body_timeout)
 *   WRITE  the answer is going out (deadline: write_timeout); then HEAD
 *          again, or the connection is closed
 *   LINGER after an answer that ends the connection: the sending side is
 *          shut and what the client still sends is read and dropped for a
 *          moment, so that closing with unread bytes (a refused request's
 *          body) does not reset the connection before the answer is read
 *
 * Connections are on one list, oldest first, so that the one to close when
 * the cap is reached is found by walking from the front. */
#include "admin/httpd.h"
#include "util/log.h"
#include "util/util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum conn_state { C_HEAD, C_BODY, C_WRITE, C_LINGER };

struct conn {
  struct httpd *h;
  struct bufferevent *bev;
  char peer[80];
  char addr[INET6_ADDRSTRLEN]; /* the client's address, without the port */
  enum conn_state state;
  double since; /* when the current state began (monotonic) */
  unsigned long round; /* the round of accepts that took it in */
  struct event *deadline;
  int close_after;
  char *head;          /* the head's bytes, parsed in place */
  struct httpd_head hd; /* the request parsed from them */
  size_t need; /* BODY: bytes of body expected */
  struct conn *next, *prev;
};

struct httpd {
  struct event_base *base;
  struct evconnlistener *lis;
  struct event *resume; /* accepting again after a pause */
  struct httpd_limits lim;
  struct httpd_ops ops;
  struct conn *head, *tail;
  struct httpd_stats st;
  double evict_said, accept_said; /* when the last such message was logged */
  unsigned long long evict_unsaid;
  unsigned long round; /* rounds of accepts so far: one per turn of the loop that accepts */
  struct timeval round_tv; /* the loop's cached time of the current round: a new turn has a new one */
  unsigned in_round;   /* connections accepted in the current one */
};

/* Connections taken in one round of accepts. Then accepting pauses until
 * the loop has read what the connections taken so far sent: without the
 * pause, a backlog of clients that reconnect at once would be accepted in
 * one go, each closing the longest-waiting one to make room, and a prompt
 * client accepted amid them would be closed before its request, already
 * sent, was ever read. A connection is never closed to make room in the
 * round that took it in. */
#define ACCEPTS_PER_ROUND 8

const char *httpd_reason(int status)
{
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

const char *httpd_header(const struct httpd_req *r, const char *name)
{
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strcmp(r->headers[i].name, name)) return r->headers[i].value;
  return NULL;
}

void httpd_stats(const struct httpd *h, struct httpd_stats *out) { *out = h->st; }

/* ---- connections ---- */

static void request_reset(struct conn *c)
{
  free(c->head);
  c->head = NULL;
  httpd_head_free(&c->hd);
  c->need = 0;
}

static void conn_close(struct conn *c)
{
  struct httpd *h = c->h;
  if (c->prev) c->prev->next = c->next;
  else h->head = c->next;
  if (c->next) c->next->prev = c->prev;
  else h->tail = c->prev;
  h->st.open--;
  event_free(c->deadline);
  bufferevent_free(c->bev); /* closes the socket */
  request_reset(c);
  free(c);
}

static void set_deadline(struct conn *c, enum conn_state st, double seconds)
{
  c->state = st;
  c->since = bh_mono();
  struct timeval tv = bh_timeval(seconds);
  evtimer_add(c->deadline, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
  struct conn *c = arg;
  (void)fd, (void)what;
  if (c->state == C_LINGER) {
    conn_close(c);
    return;
  }
  c->h->st.timed_out++;
  log_debug("admin server: %s took too long (%s): connection closed", c->peer,
            c->state == C_HEAD ? "request head" : c->state == C_BODY ? "request body" : "answer");
  conn_close(c);
}

/* Queues the answer; the connection reads the next request once it is out,
 * or closes. */
static void send_resp(struct conn *c, struct httpd_resp *r, int head_only)
{
  struct evbuffer *out = bufferevent_get_output(c->bev);
  evbuffer_add_printf(out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\nConnection: %s\r\n",
                      r->status, httpd_reason(r->status), r->type ? r->type : "text/plain; charset=utf-8",
                      r->body.len, c->close_after ? "close" : "keep-alive");
  if (r->extra.len) evbuffer_add(out, r->extra.p, r->extra.len);
  evbuffer_add(out, "\r\n", 2);
  if (!head_only && r->body.len) evbuffer_add(out, r->body.p, r->body.len);
  buf_free(&r->body);
  buf_free(&r->extra);
  request_reset(c);
  set_deadline(c, C_WRITE, c->h->lim.write_timeout);
  bufferevent_disable(c->bev, EV_READ);
}

/* Answers status with a one-line text and closes after it. */
static void refuse(struct conn *c, int status, const char *text)
{
  struct httpd_resp r = {.status = status};
  buf_adds(&r.body, text);
  c->close_after = 1;
  c->h->st.refused++;
  send_resp(c, &r, 0);
}

/* ---- the request head: a pure function of its bytes ---- */

/* Splits the head into the request line and headers. Returns 0, or an HTTP
 * status for a malformed one. */
static int split_head(char *head, struct httpd_head *h)
{
  char *save = NULL, *line = strtok_r(head, "\n", &save);
  if (!line) return 400;
  size_t n = strlen(line);
  if (n && line[n - 1] == '\r') line[--n] = 0;
  char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) return 400;
  *sp1 = *sp2 = 0;
  const char *version = sp2 + 1;
  if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0")) return 400;
  h->req.method = line;
  h->req.target = sp1 + 1;
  h->keep_alive = !strcmp(version, "HTTP/1.1");
  size_t nh = 0;
  while ((line = strtok_r(NULL, "\n", &save))) {
    n = strlen(line);
    if (n && line[n - 1] == '\r') line[--n] = 0;
    if (!n) break;
    char *colon = strchr(line, ':');
    if (!colon || colon == line || nh == HTTPD_MAX_HEADERS) return nh == HTTPD_MAX_HEADERS ? 431 : 400;
    *colon = 0;
    for (char *p = line; *p; p++) {
      if (*p == ' ' || *p == '\t') return 400; /* no space before the colon */
      *p = (char)tolower((unsigned char)*p);
    }
    char *v = colon + 1;
    v += strspn(v, " \t");
    for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = 0;
    h->hdrs[nh].name = line;
    h->hdrs[nh++].value = v;
  }
  h->req.headers = h->hdrs;
  h->req.nheaders = nh;
  return 0;
}

/* Percent-decodes the path of the target; -1 when it is not one. */
static int split_target(struct httpd_head *h)
{
  const char *t = h->req.target;
  if (t[0] != '/') return -1;
  const char *q = strchr(t, '?');
  size_t n = q ? (size_t)(q - t) : strlen(t);
  h->req.query = q ? q + 1 : NULL;
  h->path = xmalloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] == '%') {
      if (i + 2 >= n || bh_hexval(t[i + 1]) < 0 || bh_hexval(t[i + 2]) < 0) return -1;
      char ch = (char)(bh_hexval(t[i + 1]) * 16 + bh_hexval(t[i + 2]));
      if (!ch) return -1;
      h->path[o++] = ch;
      i += 2;
    } else {
      h->path[o++] = t[i];
    }
  }
  h->path[o] = 0;
  h->req.path = h->path;
  return 0;
}

int httpd_parse_head(char *head, struct httpd_head *h, const char **why)
{
  memset(h, 0, sizeof *h);
  int bad = split_head(head, h);
  if (bad) {
    *why = bad == 431 ? "too many headers\n" : "malformed request\n";
    return bad;
  }
  if (split_target(h)) {
    *why = "malformed request target\n";
    return 400;
  }
  const char *conn = httpd_header(&h->req, "connection");
  if (conn && !strcasecmp(conn, "close")) h->keep_alive = 0;
  else if (conn && !strcasecmp(conn, "keep-alive")) h->keep_alive = 1;
  if (httpd_header(&h->req, "transfer-encoding")) {
    *why = "a request body must have a Content-Length\n";
    return 501;
  }
  const char *cl = httpd_header(&h->req, "content-length");
  if (cl) {
    char *e;
    errno = 0;
    h->body_len = strtoull(cl, &e, 10);
    if (errno || e == cl || *e || cl[0] == '-') {
      *why = "malformed Content-Length\n";
      return 400;
    }
  }
  return 0;
}

void httpd_head_free(struct httpd_head *h)
{
  free(h->path);
  memset(h, 0, sizeof *h);
}

/* ---- requests ---- */

static void handle(struct conn *c)
{
  struct httpd_resp r = {.status = 500};
  c->h->ops.handle(c->h->ops.arg, &c->hd.req, &r);
  send_resp(c, &r, !strcmp(c->hd.req.method, "HEAD"));
}

/* A whole head is in the input: parse it, check it, then read the body or
 * answer. */
static void take_head(struct conn *c, size_t headlen)
{
  struct evbuffer *in = bufferevent_get_input(c->bev);
  c->head = xmalloc(headlen + 1);
  evbuffer_remove(in, c->head, headlen);
  c->head[headlen] = 0;
  const char *why = NULL;
  int bad = httpd_parse_head(c->head, &c->hd, &why);
  c->close_after = !c->hd.keep_alive;
  if (bad) {
    refuse(c, bad, why);
    return;
  }
  unsigned long long len = c->hd.body_len;
  struct httpd_resp r = {.status = 0};
  int status = c->h->ops.check ? c->h->ops.check(c->h->ops.arg, &c->hd.req, &r) : 0;
  if (status) { /* refused before the body: it is never read */
    r.status = status;
    c->close_after = 1;
    c->h->st.refused++;
    send_resp(c, &r, 0);
    return;
  }
  buf_free(&r.body);
  buf_free(&r.extra);
  if (len > c->h->lim.max_body) {
    refuse(c, 413, "the body is too large\n");
    return;
  }
  c->need = (size_t)len;
  set_deadline(c, C_BODY, c->h->lim.body_timeout);
}

static void on_read(struct bufferevent *bev, void *arg)
{
  struct conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (c->state == C_LINGER) {
    evbuffer_drain(in, evbuffer_get_length(in));
    return;
  }
  if (c->state == C_HEAD) {
    struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    size_t headlen = 0;
    if (p.pos >= 0) {
      headlen = (size_t)p.pos + 4;
    } else {
      p = evbuffer_search(in, "\n\n", 2, NULL);
      if (p.pos >= 0) headlen = (size_t)p.pos + 2;
    }
    if (!headlen || headlen > c->h->lim.max_head) {
      if (headlen || evbuffer_get_length(in) > c->h->lim.max_head) refuse(c, 431, "the request head is too large\n");
      return;
    }
    take_head(c, headlen);
    if (c->state != C_BODY) return;
  }
  if (c->state == C_BODY && evbuffer_get_length(in) >= c->need) {
    char *body = xmalloc(c->need + 1);
    evbuffer_remove(in, body, c->need);
    body[c->need] = 0;
    c->hd.req.body = body;
    c->hd.req.bodylen = c->need;
    c->hd.req.peer = c->peer;
    handle(c);
    free(body);
  }
}

static void on_write(struct bufferevent *bev, void *arg)
{
  struct conn *c = arg;
  if (c->state != C_WRITE || evbuffer_get_length(bufferevent_get_output(bev))) return;
  if (c->close_after) {
    /* the answer is out: no more from this side, and what the client still
     * sends is dropped until it closes or the moment passes */
    shutdown(bufferevent_getfd(bev), SHUT_WR);
    set_deadline(c, C_LINGER, 2);
    bufferevent_enable(bev, EV_READ);
    return;
  }
  set_deadline(c, C_HEAD, c->h->lim.head_timeout);
  bufferevent_enable(bev, EV_READ);
  if (evbuffer_get_length(bufferevent_get_input(bev))) on_read(bev, c); /* pipelined */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
  struct conn *c = arg;
  (void)bev, (void)what; /* the peer closed, or an error: either way it is over */
  conn_close(c);
}

/* Room for one more connection (from addr when given: then only that
 * address's own are closed): closes the one whose head has waited longest.
 * Returns 0, or -1 when every such connection is past its head. */
static int make_room(struct httpd *h, const char *addr)
{
  double now = bh_mono();
  struct conn *victim = NULL;
  for (struct conn *c = h->head; c; c = c->next)
    if (c->state == C_LINGER && (!addr || !strcmp(c->addr, addr))) { /* answered already: the first to go */
      conn_close(c);
      return 0;
    }
  for (struct conn *c = h->head; c; c = c->next)
    if (c->state == C_HEAD && c->round != h->round && (!addr || !strcmp(c->addr, addr)) &&
        (!victim || c->since < victim->since))
      victim = c;
  if (!victim) return -1;
  h->st.evicted++;
  h->evict_unsaid++;
  if (now - h->evict_said >= 1) {
    log_warn("admin server: %zu connections open, the most it takes: closed %llu unfinished request%s waiting "
             "longest (the last from %s) to make room since the last message; slow or idle clients are the cause",
             h->st.open, h->evict_unsaid, h->evict_unsaid == 1 ? "" : "s", victim->peer);
    h->evict_said = now;
    h->evict_unsaid = 0;
  }
  conn_close(victim);
  return 0;
}

/* "host:port" into out, the host alone into host (INET6_ADDRSTRLEN). */
static void peer_name(const struct sockaddr *sa, char *out, size_t n, char *host)
{
  unsigned port = 0;
  strcpy(host, "?");
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, host, INET6_ADDRSTRLEN);
    port = ntohs(s4->sin_port);
    snprintf(out, n, "%s:%u", host, port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, host, INET6_ADDRSTRLEN);
    port = ntohs(s6->sin6_port);
    snprintf(out, n, "[%s]:%u", host, port);
  } else {
    snprintf(out, n, "?");
  }
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
  struct httpd *h = arg;
  (void)lis, (void)salen;
  struct timeval tv;
  event_base_gettimeofday_cached(h->base, &tv);
  if (tv.tv_sec != h->round_tv.tv_sec || tv.tv_usec != h->round_tv.tv_usec) {
    h->round_tv = tv;
    h->round++;
    h->in_round = 0;
  }
  if (++h->in_round >= ACCEPTS_PER_ROUND) { /* the next round after the loop has read */
    evconnlistener_disable(h->lis);
    static const struct timeval now = {0, 0};
    evtimer_add(h->resume, &now);
  }
  char peer[80], addr[INET6_ADDRSTRLEN];
  peer_name(sa, peer, sizeof peer, addr);
  size_t mine = 0;
  if (h->lim.max_per_addr)
    for (struct conn *o = h->head; o; o = o->next) mine += !strcmp(o->addr, addr);
  /* one address over its share makes room among its own; the cap on all
   * takes the longest-waiting of anyone's */
  if ((h->lim.max_per_addr && mine >= h->lim.max_per_addr && make_room(h, addr)) ||
      (h->st.open >= h->lim.max_conns && make_room(h, NULL))) {
    evutil_closesocket(fd);
    h->st.refused++;
    return;
  }
  struct conn *c = xcalloc(1, sizeof *c);
  c->h = h;
  memcpy(c->peer, peer, sizeof peer);
  memcpy(c->addr, addr, sizeof addr);
  c->round = h->round;
  c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!c->bev) {
    evutil_closesocket(fd);
    free(c);
    return;
  }
  c->deadline = evtimer_new(h->base, on_deadline, c);
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  bufferevent_enable(c->bev, EV_READ);
  c->prev = h->tail;
  if (h->tail) h->tail->next = c;
  else h->head = c;
  h->tail = c;
  h->st.open++;
  h->st.accepted++;
  set_deadline(c, C_HEAD, h->lim.head_timeout);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
  struct httpd *h = arg;
  (void)fd, (void)what;
  evconnlistener_enable(h->lis);
}

/* accept failed (no descriptor left, say): said once a second at most, and
 * accepting waits a moment instead of failing again at once. */
static void on_accept_error(struct evconnlistener *lis, void *arg)
{
  struct httpd *h = arg;
  int e = EVUTIL_SOCKET_ERROR();
  char eb[128];
  double now = bh_mono();
  if (now - h->accept_said >= 1) {
    log_error("admin server: cannot accept a connection: %s (raise the limit of open files, ulimit -n, or "
              "LimitNOFILE in the unit)",
              bh_strerror(e, eb, sizeof eb));
    h->accept_said = now;
  }
  evconnlistener_disable(lis);
  struct timeval tv = bh_timeval(0.2);
  evtimer_add(h->resume, &tv);
}

struct httpd *httpd_start(struct event_base *base, const char *host, unsigned port, const struct httpd_limits *lim,
                          const struct httpd_ops *ops, char *err, size_t errsz)
{
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char ports[16];
  snprintf(ports, sizeof ports, "%u", port);
  int gai = getaddrinfo(host, ports, &hints, &ai);
  if (gai || !ai) {
    bh_err(err, errsz, "cannot resolve '%s': %s", host, gai_strerror(gai));
    return NULL;
  }
  struct httpd *h = xcalloc(1, sizeof *h);
  h->base = base;
  h->lim = *lim;
  h->ops = *ops;
  h->lis = evconnlistener_new_bind(base, on_accept, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                   128, ai->ai_addr, (int)ai->ai_addrlen);
  freeaddrinfo(ai);
  if (!h->lis) {
    char eb[128];
    bh_err(err, errsz, "%s", bh_strerror(EVUTIL_SOCKET_ERROR(), eb, sizeof eb));
    free(h);
    return NULL;
  }
  evconnlistener_set_error_cb(h->lis, on_accept_error);
  h->resume = evtimer_new(base, on_resume, h);
  return h;
}

void httpd_free(struct httpd *h)
{
  if (!h) return;
  while (h->head) conn_close(h->head);
  evconnlistener_free(h->lis);
  event_free(h->resume);
  free(h);
}
