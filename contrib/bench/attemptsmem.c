/* attemptsmem.c - the attempt log's memory (daemon/attempts.h): pushes N
 * attempts, each with a 1 KiB answer, an error and the strings a delivery
 * has, through a ring of CAP, and prints the resident memory (KiB, from
 * /proc/self/statm) after CAP, 10 x CAP ... and N attempts:
 *
 *   attemptsmem CAP N      e.g. attemptsmem 10000 1000000
 *
 * Lines: "ATTEMPTS RSS_KIB". The ring holds the newest CAP, so the figure
 * must stop growing once it is full. The last line, "ns_per_attempt X",
 * is what keeping one attempt costs the main loop (copying its strings
 * and its answer into the ring, freeing the one it replaces): against the
 * time a delivery takes, the log's share of the loop. */
#include "daemon/attempts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(void)
{
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: attemptsmem CAP N\n");
    return 2;
  }
  size_t cap = strtoul(argv[1], NULL, 10), n = strtoul(argv[2], NULL, 10);
  struct attempt_log log;
  attempts_init(&log, cap);
  char body[1024], id[64], change[64], key[64];
  memset(body, 'a', sizeof body);
  size_t next = cap;
  double spent = 0;
  for (size_t i = 1; i <= n; i++) {
    snprintf(id, sizeof id, "msg_2Q8sYv0b1n4o0k%010zu", i);
    snprintf(change, sizeof change, "0-1-%zu:mysql-bin.000001:%zu/0", i, i * 300);
    snprintf(key, sizeof key, "{\"id\":%zu}", i);
    body[i % sizeof body] = (char)('a' + i % 26);
    struct attempt a = {.id = id, .change = change, .rule = "all", .endpoint = "sink", .table = "bench.t",
                        .key = key, .attempt = 1, .started = 1.8e9 + (double)i, .seconds = 0.002,
                        .status = i % 3 ? 200 : 503, .error = i % 3 ? NULL : "HTTP status 503",
                        .body = body, .bodylen = i % 4 ? sizeof body : 17,
                        .outcome = i % 3 ? ATTEMPT_DELIVERED : ATTEMPT_RETRYING};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    attempts_add(&log, &a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    spent += (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    if (i == next || i == n) {
      printf("%zu %ld\n", i, rss_kib());
      next *= 10;
    }
  }
  printf("ns_per_attempt %.0f\n", spent / (double)n);
  attempts_free(&log);
  return 0;
}
