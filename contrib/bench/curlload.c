/* curlload.c - libcurl's own ceiling for the delivery benchmark: POSTs the
 * same body with the same headers as binhook, CONCURRENCY at a time over
 * kept-alive connections, with the options binhook's engine sets (reused
 * easy handles, a header list per request, no Expect, a timeout, the
 * response discarded), and nothing else: no rules, no rendering, no
 * signing, no queue. binhook run cannot deliver faster than this through
 * libcurl on the same machine; run.sh prints the ratio.
 *
 * usage: curlload URL BODYFILE HEADERFILE SECONDS [CONCURRENCY]
 *   HEADERFILE  one "Name: value" line per header
 * Prints "requests N seconds S rate R" on stdout; exits 1 when a request
 * failed or was not answered 2xx. */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  size_t got;
  while (p && (got = fread(p + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) p = realloc(p, cap *= 2);
  }
  fclose(f);
  if (!p) exit(2);
  p[n] = 0;
  *len = n;
  return p;
}

static size_t discard(char *buf, size_t size, size_t n, void *arg)
{
  (void)buf, (void)arg;
  return size * n;
}

struct slot {
  CURL *easy;
  struct curl_slist *headers;
};

static const char *url, *body;
static size_t bodylen;
static char **hdr;
static size_t nhdr;

/* Sets e up for one request, as binhook's engine does per attempt. */
static void prepare(struct slot *s)
{
  curl_easy_reset(s->easy);
  curl_slist_free_all(s->headers);
  s->headers = NULL;
  for (size_t i = 0; i < nhdr; i++) s->headers = curl_slist_append(s->headers, hdr[i]);
  s->headers = curl_slist_append(s->headers, "Expect:");
  curl_easy_setopt(s->easy, CURLOPT_URL, url);
  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
  curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
  curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, discard);
  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
}

int main(int argc, char **argv)
{
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: curlload URL BODYFILE HEADERFILE SECONDS [CONCURRENCY]\n");
    return 2;
  }
  url = argv[1];
  body = slurp(argv[2], &bodylen);
  size_t hlen;
  char *hs = slurp(argv[3], &hlen);
  for (char *line = strtok(hs, "\n"); line; line = strtok(NULL, "\n")) {
    hdr = realloc(hdr, (nhdr + 1) * sizeof *hdr);
    if (!hdr) return 2;
    hdr[nhdr++] = line;
  }
  double secs = atof(argv[4]);
  int conc = argc == 6 ? atoi(argv[5]) : 32;
  if (secs <= 0 || conc <= 0) {
    fprintf(stderr, "curlload: SECONDS and CONCURRENCY must be positive\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  struct slot *slots = calloc((size_t)conc, sizeof *slots);
  if (!slots) return 2;
  for (int i = 0; i < conc; i++) {
    slots[i].easy = curl_easy_init();
    prepare(&slots[i]);
    curl_multi_add_handle(m, slots[i].easy);
  }
  unsigned long long done = 0, bad = 0;
  double t0 = now(), end = t0 + secs;
  int running = conc;
  while (running) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      struct slot *s;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      CURLcode rc = msg->data.result;
      curl_multi_remove_handle(m, s->easy);
      if (rc != CURLE_OK || status / 100 != 2) {
        if (!bad++)
          fprintf(stderr, "curlload: %s\n", rc != CURLE_OK ? curl_easy_strerror(rc) : "an answer other than 2xx");
      } else {
        done++;
      }
      if (now() < end) { /* the next request on the same handle */
        prepare(s);
        curl_multi_add_handle(m, s->easy);
        running++;
      }
    }
    if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  double took = now() - t0;
  printf("requests %llu seconds %.3f rate %.1f\n", done, took, (double)done / took);
  for (int i = 0; i < conc; i++) {
    curl_easy_cleanup(slots[i].easy);
    curl_slist_free_all(slots[i].headers);
  }
  curl_multi_cleanup(m);
  curl_global_cleanup();
  free(slots);
  free(hdr);
  free(hs);
  free((char *)body);
  return bad ? 1 : 0;
}
