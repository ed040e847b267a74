/* secret.c - see secret.h. Secrets are short; a file is read whole into one
 * buffer of SECRET_FILE_MAX bytes, so that no partial copy is left behind in
 * memory that is freed without being wiped. */
#include "config/secret.h"

#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file's first SECRET_FILE_MAX bytes; NULL with errno. */
static char *read_small_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *p = xmalloc(SECRET_FILE_MAX + 1);
  size_t n = fread(p, 1, SECRET_FILE_MAX, f);
  int e = ferror(f) ? errno : 0;
  fclose(f);
  p[n] = 0;
  if (e) {
    secret_free(p);
    errno = e;
    return NULL;
  }
  return p;
}

enum secret_status secret_fetch(enum secret_from from, const char *what, char **out)
{
  *out = NULL;
  switch (from) {
  case SECRET_INLINE: *out = xstrdup(what); return SECRET_OK;
  case SECRET_ENV: {
    const char *v = getenv(what);
    if (!v) return SECRET_UNSET;
    *out = xstrdup(v);
    return SECRET_OK;
  }
  case SECRET_FILE: *out = read_small_file(what); return *out ? SECRET_OK : SECRET_UNREADABLE;
  }
  return SECRET_UNSET;
}

char *secret_first_line(char *s)
{
  s[strcspn(s, "\r\n")] = 0;
  return s;
}

char **secret_add(char **vec, const char *s, size_t n)
{
  size_t len = 0;
  while (vec && vec[len])
    len++;
  if (!n) return vec;
  vec = xrealloc(vec, (len + 2) * sizeof *vec);
  vec[len] = xmalloc(n + 1);
  memcpy(vec[len], s, n);
  vec[len][n] = 0;
  vec[len + 1] = NULL;
  return vec;
}

char **secret_split(char **vec, const char *text)
{
  for (const char *p = text;;) {
    p += strspn(p, " \t\r\n");
    size_t n = strcspn(p, " \t\r\n");
    if (!n) break;
    vec = secret_add(vec, p, n);
    p += n;
  }
  return vec;
}

void secret_free(char *s)
{
  if (!s) return;
  for (volatile char *c = s; *c; c++)
    *c = 0;
  free(s);
}

void secret_vec_free(char **v)
{
  if (!v) return;
  for (char **p = v; *p; p++)
    secret_free(*p);
  free(v);
}
