/* util.c - see util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
