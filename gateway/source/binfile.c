/* binfile.c - see binfile.h. */
#include "source/binfile.h"
#include "source/binlog.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int binfile_read(const char *path, struct decoder *d, char *err, size_t errsz)
{
  char ebuf[128];
  FILE *f = fopen(path, "rb");
  if (!f) return bh_err(err, errsz, "cannot open binlog file '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  const char *base = strrchr(path, '/');
  decoder_set_file(d, base ? base + 1 : path);

  unsigned char magic[4];
  size_t got = fread(magic, 1, 4, f);
  if (got != 4 || memcmp(magic, BL_MAGIC, 4)) {
    fclose(f);
    return bh_err(err, errsz, "%s:0: not a binlog file: it does not start with the binlog magic number%s",
                  base ? base + 1 : path, got == 0 ? " (the file is empty)" : "");
  }
  uint64_t off = 4;
  size_t cap = 1 << 16;
  unsigned char *ev = xmalloc(cap);
  int rc = 0;
  for (;;) {
    got = fread(ev, 1, BL_HEADER_LEN, f);
    if (got == 0) break;
    if (got < BL_HEADER_LEN) {
      rc = bh_err(err, errsz, "%s:%" PRIu64 ": event header cut short (%zu of 19 bytes): the file is truncated",
                  base ? base + 1 : path, off, got);
      break;
    }
    uint32_t len = le32(ev + 9);
    if (len < BL_HEADER_LEN || len > (1u << 30)) {
      rc = bh_err(err, errsz, "%s:%" PRIu64 ": event length %u is impossible: the file is damaged here",
                  base ? base + 1 : path, off, len);
      break;
    }
    if (len > cap) {
      while (cap < len) cap *= 2;
      ev = xrealloc(ev, cap);
    }
    got = fread(ev + BL_HEADER_LEN, 1, len - BL_HEADER_LEN, f);
    if (got < len - BL_HEADER_LEN) {
      rc = bh_err(err, errsz, "%s:%" PRIu64 ": %s event cut short (%zu of %u bytes): the file is truncated",
                  base ? base + 1 : path, off, binlog_type_name(ev[4]), got + BL_HEADER_LEN, len);
      break;
    }
    if (decoder_feed(d, ev, len, (int64_t)off, err, errsz)) {
      rc = -1;
      break;
    }
    off += len;
  }
  if (!rc && ferror(f)) rc = bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  free(ev);
  fclose(f);
  return rc;
}
