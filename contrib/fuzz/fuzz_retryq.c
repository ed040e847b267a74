/* fuzz_retryq.c - a libFuzzer target for reading the retry queue back
 * (store/retryq.c): segments, records, their repair. An input is one byte
 * of flags and the rest:
 *
 *   0x01  open the queue read-only (no repair, no writer), as `binhook dlq`
 *         does; otherwise as the daemon does, repairing the segment
 *   0x02  the rest is the segment file as it is (damage, torn tails);
 *         otherwise it is a list of record bodies, each a 16-bit
 *         little-endian length and that many bytes, which the target frames
 *         as the queue would (magic, length, CRC-32 of the place and the
 *         body), so that mutated bodies reach the record decoder
 *   0x04  the segment is written twice, as segments 1 and 2 (a copy made
 *         by compaction, seqs seen twice)
 *
 * Then every delivery is listed and read whole (payload included).
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "store/retryq.h"
#include "util/buf.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FL_READONLY 0x01
#define FL_RAW 0x02
#define FL_TWICE 0x04

static char dir[64];

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The framing of store/retryq.c, written again here from its description:
 * "BHQ1", the body's length, the CRC-32 of the segment number and offset
 * (8 bytes each, little-endian) followed by the body. */
static void frame(struct buf *seg, uint64_t segno, const uint8_t *body, size_t n)
{
  unsigned char h[12], where[16];
  uint64_t off = seg->len;
  for (int i = 0; i < 8; i++) {
    where[i] = (unsigned char)(segno >> (8 * i));
    where[8 + i] = (unsigned char)(off >> (8 * i));
  }
  uLong crc = crc32(crc32(0L, where, sizeof where), body, (uInt)n);
  put_le32(h, 0x31514842u);
  put_le32(h + 4, (uint32_t)n);
  put_le32(h + 8, (uint32_t)crc);
  buf_add(seg, h, sizeof h);
  buf_add(seg, body, n);
}

static void write_segment(uint64_t no, const uint8_t *data, size_t size, int raw)
{
  struct buf seg = BUF_INIT;
  if (raw) {
    buf_add(&seg, data, size);
  } else {
    for (size_t o = 0; o + 2 <= size;) {
      size_t n = (size_t)data[o] | (size_t)data[o + 1] << 8;
      o += 2;
      if (n > size - o) n = size - o;
      frame(&seg, no, data + o, n);
      o += n;
    }
  }
  char path[128];
  snprintf(path, sizeof path, "%s/%016llx.seg", dir, (unsigned long long)no);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (seg.len && fwrite(seg.p, 1, seg.len, f) != seg.len) abort();
  if (fclose(f)) abort();
  buf_free(&seg);
}

static void empty_dir(void)
{
  DIR *d = opendir(dir);
  if (!d) abort();
  struct dirent *de;
  char path[384];
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') {
      snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
      unlink(path);
    }
  closedir(d);
}

struct seqs {
  uint64_t *v;
  size_t n;
};

static int collect(void *arg, const struct retryq_rec *r)
{
  struct seqs *s = arg;
  if (!r->endpoint || !r->rule || !r->id) abort();
  s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
  s->v[s->n++] = r->seq;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-retryq-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
  }
  int flags = data[0];
  data++;
  size--;
  empty_dir();
  write_segment(1, data, size, flags & FL_RAW);
  if (flags & FL_TWICE) write_segment(2, data, size, flags & FL_RAW);

  char err[4096];
  struct retryq_report rep;
  struct retryq *q = retryq_open(dir, NULL, flags & FL_READONLY, &rep, err, sizeof err);
  if (!q) return 0;
  struct seqs s = {0};
  retryq_list(q, collect, &s);
  if (s.n != rep.live + rep.dead) abort();
  for (size_t i = 0; i < s.n; i++) {
    struct retryq_rec r;
    if (retryq_read(q, s.v[i], &r, err, sizeof err) == 0) retryq_rec_free(&r);
  }
  struct seqs again = {0};
  retryq_list_seqs(q, s.v, s.n, collect, &again);
  if (again.n != s.n) abort();
  free(again.v);
  free(s.v);
  (void)retryq_close(q, 1, err, sizeof err);
  return 0;
}
