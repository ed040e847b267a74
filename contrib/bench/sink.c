/* sink.c - the receiving end of the delivery benchmark: an HTTP server on
 * 127.0.0.1 (libevent's evhttp) that answers 200 to everything as fast as
 * it can, counts requests, and can write the arrival time of each request
 * with the start of its body to a file for latency figures.
 *
 * usage: sink PORTFILE [LOGFILE]
 *   PORTFILE  where the port it listens on is written
 *   LOGFILE   one line per request: arrival time in microseconds since the
 *             epoch, a space, the first 1200 bytes of the body
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

static unsigned long long requests;
static FILE *bodylog;

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
  requests++;
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
  if (argc < 2) {
    fprintf(stderr, "usage: sink PORTFILE [LOGFILE]\n");
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
