/* casefile.h - reading the data-driven case files (the .cases files in t/data) of the
 * C unit tests. Header-only, like tap.h. */
#ifndef BH_CASEFILE_H
#define BH_CASEFILE_H

#include "util/buf.h"

#include <stdio.h>

/* The whole file at path, NUL-terminated (caller frees), its length in
 * *len when len is not NULL; NULL when it cannot be opened. */
static inline char *casefile_read(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct buf b = BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    buf_add(&b, chunk, n);
  fclose(f);
  if (!b.p) buf_addlit(&b, "");
  if (len) *len = b.len;
  return buf_steal(&b);
}

#endif
