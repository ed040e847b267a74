/* sink.c - the receiving end of the delivery benchmark: an HTTP server on
 * 127.0.0.1 (libevent's evhttp) that answers 200 to everything as fast as
 * it can, counts requests, and can write the arrival time of each request
 * with the start of its body to a file for latency figures.
 *
 * usage: sink [-n N DONEFILE] PORTFILE [LOGFILE]
 *   PORTFILE  where the port it listens on is written
 *   LOGFILE   one line per request: arrival time in microseconds since the
 *             epoch, a space, the first 1200 bytes of the body
 *   -n N DONEFILE  when the Nth request arrives, writes DONEFILE: its
 *             arrival time and the first request's, in microseconds since
 *             the epoch (the clock of bash's EPOCHREALTIME); a harness
 *             waits for the file instead of asking /count, whose polling
 *             would take CPU from what is measured
 * GET /count answers the number of requests so far (not counting itself).
 * SIGTERM or SIGINT: prints "requests N" on stdout and exits. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static unsigned long long requests, expect;
static long long first_us;
static const char *donefile;
static FILE *bodylog;

static long long now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The Nth request has arrived: DONEFILE says when, written whole. */
static void write_done(void)
{
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", donefile);
  FILE *f = fopen(tmp, "w");
  if (!f || fprintf(f, "%lld %lld\n", now_us(), first_us) < 0 || fclose(f) || rename(tmp, donefile)) {
    perror(donefile);
    exit(1);
  }
}

static void on_request(struct evhttp_request *req, void *arg)
{
  (void)arg;
  if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && !strcmp(evhttp_request_get_uri(req), "/count")) {
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "%llu\n", requests);
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    return;
  }
  if (!requests++) first_us = now_us();
  if (donefile && requests == expect) write_done();
  if (bodylog) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char body[1201];
    ev_ssize_t n = evbuffer_copyout(in, body, sizeof body - 1);
    if (n < 0) n = 0;
    body[n] = 0;
    for (ev_ssize_t i = 0; i < n; i++)
      if (body[i] == '\n') body[i] = ' ';
    fprintf(bodylog, "%lld %s\n", (long long)tv.tv_sec * 1000000 + tv.tv_usec, body);
  }
  evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
  (void)fd, (void)what;
  event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
  if (argc > 3 && !strcmp(argv[1], "-n")) {
    char *end;
    expect = strtoull(argv[2], &end, 10);
    if (*end || !expect) {
      fprintf(stderr, "sink: -n wants a positive number of requests, not '%s'\n", argv[2]);
      return 2;
    }
    donefile = argv[3];
    argc -= 3;
    argv += 3;
  }
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: sink [-n N DONEFILE] PORTFILE [LOGFILE]\n");
    return 2;
  }
  if (argc > 2 && !(bodylog = fopen(argv[2], "w"))) {
    perror(argv[2]);
    return 1;
  }
  struct event_base *base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  evhttp_set_gencb(http, on_request, NULL);
  struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
  if (!sock) {
    fprintf(stderr, "sink: cannot listen on 127.0.0.1\n");
    return 1;
  }
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *pf = fopen(tmp, "w");
  if (!pf) return 1;
  fprintf(pf, "%d\n", ntohs(sin.sin_port));
  fclose(pf);
  rename(tmp, argv[1]);
  struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
  struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
  evsignal_add(term, NULL);
  evsignal_add(intr, NULL);
  event_base_dispatch(base);
  printf("requests %llu\n", requests);
  if (bodylog) fclose(bodylog);
  event_free(term);
  event_free(intr);
  evhttp_free(http);
  event_base_free(base);
  return 0;
}
