/* util.c - see util.h. */
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void bh_assert_fail(const char *expr, const char *file, int line)
{
  fprintf(stderr, "binhook: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  abort();
}

static void oom(size_t n)
{
  fprintf(stderr, "binhook: out of memory allocating %zu bytes\n", n);
  abort();
}

void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size);
  return p;
}

void *xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *xstrdup(const char *s)
{
  return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char **bh_strv_copy(char *const *v)
{
  if (!v) return NULL;
  size_t n = 0;
  while (v[n]) n++;
  char **c = xcalloc(n + 1, sizeof *c);
  for (size_t i = 0; i < n; i++) c[i] = xstrdup(v[i]);
  return c;
}

void bh_strv_free(char **v)
{
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

const char *bh_strerror(int errnum, char *buf, size_t size)
{
  /* _GNU_SOURCE gives the GNU variant, which may return a static string. */
  const char *s = strerror_r(errnum, buf, size);
  if (s != buf) snprintf(buf, size, "%s", s);
  return buf;
}

int bh_err(char *err, size_t errsz, const char *fmt, ...)
{
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return -1;
}

#define NEAREST_MAX 32 /* longer words are no typos of the short names offered */

static int fold(int c, int fold_case)
{
  return fold_case && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Optimal string alignment distance between two words of at most
 * NEAREST_MAX bytes (a transposition of two neighbours is one edit);
 * SIZE_MAX for longer words. */
static size_t distance(const char *a, size_t n, const char *b, size_t m, int fold_case)
{
  size_t d[NEAREST_MAX + 1][NEAREST_MAX + 1];
  if (n > NEAREST_MAX || m > NEAREST_MAX) return SIZE_MAX;
  for (size_t i = 0; i <= n; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= m; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int ca = fold(a[i - 1], fold_case), cb = fold(b[j - 1], fold_case);
      size_t best = d[i - 1][j - 1] + (ca != cb);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ca == fold(b[j - 2], fold_case) && fold(a[i - 2], fold_case) == cb &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[n][m];
}

const char *bh_nearest_within(const char *word, size_t n, const char *const *known, size_t max_edits,
                              int fold_case)
{
  size_t best = SIZE_MAX;
  const char *found = NULL;
  for (const char *const *k = known; *k; k++) {
    size_t d = distance(word, n, *k, strlen(*k), fold_case);
    if (d < best) best = d, found = *k;
  }
  return best <= max_edits ? found : NULL;
}

const char *bh_nearest(const char *word, const char *const *known)
{
  size_t n = strlen(word), edits = n <= 3 ? 1 : n <= 6 ? 2 : 3;
  return bh_nearest_within(word, n, known, edits, 1);
}

int bh_write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

void bh_wake(int fd)
{
  uint64_t one = 1;
  while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void bh_wake_drain(int fd)
{
  uint64_t n;
  while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {
  }
}

double bh_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
