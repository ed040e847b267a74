/* queuebench.c - the on-disk retry queue's group commit, next to the disk
 * itself, in one run on the same file system:
 *
 *   queue   RECORDS deliveries of 512 bytes of payload added from one
 *           thread as fast as it goes, then retryq_sync: appends/s and MB/s
 *           of what landed on disk (the writer thread batches the records
 *           and fsyncs each batch once);
 *   (a)     the same bytes, one write() + one fsync() per record: what a
 *           queue without group commit does (run for a bounded time: a
 *           disk does a few hundred to a few thousand fsyncs a second);
 *   (b)     the same bytes, one write() + one fsync(): the disk's ceiling
 *           (the best of three).
 *
 * Then the durable latency: records added at a steady 10,000/s, the time
 * from retryq_add until retryq_durable reaches its ticket, observed as the
 * event loop does (woken by retryq_fd), p50 and p99.
 *
 * usage: queuebench DIR [RECORDS | --smoke]   (run by contrib/bench/queue.sh)
 *        DIR must exist and is left as found; --smoke is 2,000 records and
 *        short runs, under 2 s in all. */
#include "store/retryq.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PAYLOAD = 512, RATE = 10000 };

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
  fprintf(stderr, "queuebench: %s: %s\n", what, err);
  exit(1);
}

static void die_errno(const char *what, const char *path)
{
  char eb[128];
  fprintf(stderr, "queuebench: %s '%s': %s\n", what, path, bh_strerror(errno, eb, sizeof eb));
  exit(1);
}

/* A delivery as binhook adds one: names, an id, an ordering key, and the
 * encoded request as payload. */
static void make_rec(struct retryq_rec *r, char *id, size_t idsz, char *payload, unsigned long i)
{
  memset(r, 0, sizeof *r);
  snprintf(id, idsz, "msg_%016lx", i * 2654435761ul);
  r->endpoint = "orders-api";
  r->rule = "paid-orders";
  r->id = id;
  r->okey = "shop.orders:42";
  r->okeylen = 14;
  r->created = 1750000000 + (int64_t)i / 1000;
  r->attempts = 1;
  r->due = r->created + 5;
  memcpy(payload, id, strlen(id)); /* payloads differ */
  r->payload = payload;
  r->payloadlen = PAYLOAD;
}

static struct retryq *open_queue(const char *dir)
{
  char err[512];
  struct retryq_opts o = {0};
  struct retryq *q = retryq_open(dir, &o, 0, NULL, err, sizeof err);
  if (!q) die("retryq_open", err);
  return q;
}

static void close_queue(struct retryq *q)
{
  char err[512];
  if (retryq_close(q, 60, err, sizeof err)) die("retryq_close", err);
}

static void rm_dir(const char *dir)
{
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) fprintf(stderr, "queuebench: cannot remove '%s'\n", dir);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: queuebench DIR [RECORDS | --smoke]\n");
    return 2;
  }
  const char *top = argv[1];
  int smoke = argc == 3 && !strcmp(argv[2], "--smoke");
  unsigned long count = smoke ? 2000 : argc == 3 ? strtoul(argv[2], NULL, 10) : 200000;
  if (!count) {
    fprintf(stderr, "queuebench: RECORDS must be a positive number\n");
    return 2;
  }
  int small = count <= 20000; /* short runs for (a) and the latency */
  double a_cap = small ? 0.3 : 3.0;
  unsigned long lat_n = count < 2ul * RATE ? count : 2ul * RATE;
  if (smoke) lat_n = RATE / 5;
  char dir[4096], path[4200], err[512], id[64];
  char *payload = calloc(1, PAYLOAD);
  if (!payload) die("calloc", "out of memory");
  for (size_t k = 0; k < PAYLOAD; k++)
    payload[k] = (char)("{\"type\":\"update\",\"table\":\"shop.orders\"}"[k % 40]);

  /* the queue, as fast as one thread adds */
  snprintf(dir, sizeof dir, "%s/queue", top);
  struct retryq *q = open_queue(dir);
  struct retryq_rec r;
  double t0 = now();
  for (unsigned long i = 0; i < count; i++) {
    make_rec(&r, id, sizeof id, payload, i);
    retryq_add(q, &r);
  }
  double t_add = now() - t0;
  if (retryq_sync(q, 600, err, sizeof err)) die("retryq_sync", err);
  double tq = now() - t0;
  struct retryq_stats st;
  retryq_stats(q, &st);
  close_queue(q);
  rm_dir(dir);
  uint64_t bytes = st.bytes;
  if (!bytes) die("retryq_stats", "no bytes on disk after retryq_sync");
  size_t recsz = (size_t)(bytes / count);
  double rq = (double)count / tq, mq = (double)bytes / tq / 1e6;

  /* (a) one write + one fsync per record, for a bounded time */
  snprintf(path, sizeof path, "%s/naive", top);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (fd < 0) die_errno("cannot create", path);
  char *rec = malloc(recsz);
  if (!rec) die("malloc", "out of memory");
  memset(rec, 'r', recsz);
  unsigned long na = 0;
  t0 = now();
  double ta;
  do {
    if (bh_write_all(fd, rec, recsz) || fsync(fd)) die_errno("cannot write", path);
    na++;
    ta = now() - t0;
  } while (na < count && ta < a_cap);
  close(fd);
  unlink(path);
  double ra = (double)na / ta, ma = (double)na * (double)recsz / ta / 1e6;

  /* (b) the same bytes as the queue in one write and one fsync: the best
   * of three, as a ceiling should be */
  snprintf(path, sizeof path, "%s/ceiling", top);
  char *all = malloc((size_t)bytes);
  if (!all) die("malloc", "out of memory");
  memset(all, 'b', (size_t)bytes);
  double tb = 0;
  for (int k = 0; k < 3; k++) {
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die_errno("cannot create", path);
    t0 = now();
    if (bh_write_all(fd, all, (size_t)bytes) || fsync(fd)) die_errno("cannot write", path);
    double t = now() - t0;
    if (!k || t < tb) tb = t;
    close(fd);
    unlink(path);
  }
  free(all);
  double rb = (double)count / tb, mb = (double)bytes / tb / 1e6;

  printf("queue: %lu records, %d bytes of payload (%zu bytes each on disk), one thread adding\n", count,
         PAYLOAD, recsz);
  printf("  queue, group commit            %10.0f appends/s %8.1f MB/s  (%.2f s, of which adding %.2f s)\n",
         rq, mq, tq, t_add);
  printf("  (a) write+fsync per record     %10.0f appends/s %8.1f MB/s  (%lu records in %.2f s)\n", ra, ma,
         na, ta);
  printf("  (b) one write, one fsync       %10.0f appends/s %8.1f MB/s  (%.2f s)\n", rb, mb, tb);
  printf("  queue/(a) %.2f\n", rq / ra);
  printf("  queue/(b) %.2f\n", rq / rb);
  fflush(stdout);

  /* durable latency at a steady rate, woken by retryq_fd */
  snprintf(dir, sizeof dir, "%s/latency", top);
  q = open_queue(dir);
  int qfd = retryq_fd(q);
  double *added = malloc(lat_n * sizeof *added), *lat = malloc(lat_n * sizeof *lat);
  uint64_t *ticket = malloc(lat_n * sizeof *ticket);
  if (!added || !lat || !ticket) die("malloc", "out of memory");
  unsigned long next = 0, first = 0, nlat = 0;
  double start = now(), deadline = start + (double)lat_n / RATE + 10;
  while (first < lat_n && now() < deadline) {
    double t = now();
    while (next < lat_n && start + (double)next / RATE <= t) {
      make_rec(&r, id, sizeof id, payload, next);
      added[next] = now();
      ticket[next] = retryq_add(q, &r);
      next++;
    }
    double wait = next < lat_n ? start + (double)next / RATE - now() : 0.1;
    struct pollfd p = {.fd = qfd, .events = POLLIN};
    struct timespec ts = {0, 0};
    if (wait > 0) ts = (struct timespec){(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    if (ppoll(&p, 1, &ts, NULL) > 0) retryq_ack_fd(q);
    uint64_t d = retryq_durable(q);
    double tn = now();
    while (first < next && ticket[first] <= d)
      lat[nlat++] = tn - added[first++];
  }
  if (retryq_error(q, err, sizeof err)) die("queue", err);
  close_queue(q);
  rm_dir(dir);
  if (nlat < lat_n) die("latency", "records did not become durable within 10 s");
  qsort(lat, nlat, sizeof *lat, cmp_double);
  double p50 = lat[nlat / 2], p99 = lat[(size_t)((double)nlat * 0.99)], max = lat[nlat - 1];
  printf("  durable latency at %d/s: p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%lu records)\n", RATE, p50 * 1e3,
         p99 * 1e3, max * 1e3, nlat);

  /* the verdict: group commit should beat an fsync per record by far and
   * come near what the disk does with one fsync */
  const char *v = rq / ra >= 10 && rq / rb >= 0.5 ? "good" : rq / ra >= 10 ? "fair" : "poor";
  printf("verdict: %s: group commit is %.0fx a per-record fsync and %.2f of the disk's ceiling; "
         "p99 %.1f ms from add to durable at %d/s\n",
         v, rq / ra, rq / rb, p99 * 1e3, RATE);
  free(added), free(lat), free(ticket), free(rec), free(payload);
  return 0;
}
