/* manifest.c - see manifest.h. The file: "BHQM", the format version (u32),
 * the body's length (u32) and its CRC-32 (u32), then the body in the
 * lpcodec encoding. A reader refuses a newer version rather than guess. */
#include "store/manifest.h"

#include "util/lpcodec.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAN_MAGIC "BHQM"
#define MAN_VERSION 1u
#define MAN_HDR 16
#define MAN_MAX (1u << 30)

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void manifest_encode(const struct manifest *m, struct buf *out)
{
  size_t at = out->len;
  unsigned char hdr[MAN_HDR] = {0};
  buf_add(out, hdr, sizeof hdr);
  unsigned char flags[2] = {(unsigned char)(m->clean ? 1 : 0), (unsigned char)(m->has_low ? 1 : 0)};
  buf_add(out, flags, 2);
  lp_put_u64(out, m->next_seq);
  lp_put_str(out, m->low.file);
  lp_put_u64(out, m->low.pos);
  lp_put_str(out, m->low.gtid);
  lp_put_u32(out, (uint32_t)m->nsegs);
  for (size_t i = 0; i < m->nsegs; i++) {
    lp_put_u64(out, m->segs[i].no);
    lp_put_u64(out, m->segs[i].size);
  }
  lp_put_u32(out, (uint32_t)m->nents);
  for (size_t i = 0; i < m->nents; i++) {
    const struct manifest_entry *e = &m->ents[i];
    lp_put_u64(out, e->seq);
    lp_put_u64(out, e->segno);
    unsigned char dead = e->dead ? 1 : 0;
    buf_add(out, &dead, 1);
    lp_put_str(out, e->endpoint);
    lp_put_str(out, e->rule);
    lp_put_str(out, e->id);
    lp_put_str(out, e->binlog);
    lp_put_u64(out, e->binlog_pos);
    lp_put_str(out, e->gtid);
  }
  unsigned char *h = (unsigned char *)out->p + at;
  size_t body = out->len - at - MAN_HDR;
  memcpy(h, MAN_MAGIC, 4);
  put_le32(h + 4, MAN_VERSION);
  put_le32(h + 8, (uint32_t)body);
  put_le32(h + 12, (uint32_t)crc32(0L, h + MAN_HDR, (uInt)body));
}

/* A string field into a fixed buffer (cut to fit: a position's fields
 * have bounds). */
static void get_fixed(struct lp_reader *rd, char *out, size_t n)
{
  char *s = lp_get_field(rd, NULL);
  snprintf(out, n, "%s", s ? s : "");
  free(s);
}

static int decode(const unsigned char *p, size_t n, struct manifest *m)
{
  struct lp_reader rd;
  lp_reader_init(&rd, p, n);
  m->clean = lp_get_u8(&rd) != 0;
  m->has_low = lp_get_u8(&rd) != 0;
  m->next_seq = lp_get_u64(&rd);
  get_fixed(&rd, m->low.file, sizeof m->low.file);
  m->low.pos = lp_get_u64(&rd);
  get_fixed(&rd, m->low.gtid, sizeof m->low.gtid);
  uint32_t ns = lp_get_u32(&rd);
  if (rd.bad || ns > n / 16) return -1;
  m->segs = xcalloc(ns + 1, sizeof *m->segs);
  for (uint32_t i = 0; i < ns && !rd.bad; i++, m->nsegs++) {
    m->segs[i].no = lp_get_u64(&rd);
    m->segs[i].size = lp_get_u64(&rd);
  }
  uint32_t ne = lp_get_u32(&rd);
  if (rd.bad || ne > n / 16) return -1;
  m->ents = xcalloc(ne + 1, sizeof *m->ents);
  for (uint32_t i = 0; i < ne && !rd.bad; i++, m->nents++) {
    struct manifest_entry *e = &m->ents[i];
    e->seq = lp_get_u64(&rd);
    e->segno = lp_get_u64(&rd);
    e->dead = lp_get_u8(&rd) != 0;
    e->endpoint = lp_get_field(&rd, NULL);
    e->rule = lp_get_field(&rd, NULL);
    e->id = lp_get_field(&rd, NULL);
    e->binlog = lp_get_field(&rd, NULL);
    e->binlog_pos = lp_get_u64(&rd);
    e->gtid = lp_get_field(&rd, NULL);
    if (!rd.bad && (!e->endpoint || !e->rule || !e->id)) rd.bad = 1;
  }
  return rd.bad ? -1 : 0;
}

int manifest_load(const char *dir, struct manifest *m, char *err, size_t errsz)
{
  char path[4200];
  memset(m, 0, sizeof *m);
  snprintf(path, sizeof path, "%s/%s", dir, MANIFEST_NAME);
  struct buf raw = BUF_INIT;
  if (buf_read_file(&raw, path, MAN_MAX, err, errsz)) {
    int none = errno == ENOENT;
    buf_free(&raw);
    return none ? 0 : -1;
  }
  const unsigned char *p = (const unsigned char *)raw.p;
  int rc = 0;
  if (raw.len < MAN_HDR || memcmp(p, MAN_MAGIC, 4)) {
    rc = bh_err(err, errsz, "'%s' is not a queue manifest", path);
  } else if (le32(p + 4) > MAN_VERSION) {
    rc = bh_err(err, errsz, "'%s' is of a newer format (%u; this binhook reads %u): upgrade binhook", path,
                (unsigned)le32(p + 4), MAN_VERSION);
  } else if (le32(p + 8) != raw.len - MAN_HDR || (uint32_t)crc32(0L, p + MAN_HDR, (uInt)(raw.len - MAN_HDR)) != le32(p + 12)) {
    rc = bh_err(err, errsz, "'%s' is damaged (its length or checksum does not match)", path);
  } else if (decode(p + MAN_HDR, raw.len - MAN_HDR, m)) {
    rc = bh_err(err, errsz, "'%s' is damaged (its contents cannot be read)", path);
  }
  buf_free(&raw);
  if (rc) {
    manifest_free(m);
    return -1;
  }
  return 1;
}

const struct manifest_seg *manifest_seg(const struct manifest *m, uint64_t no)
{
  for (size_t i = 0; i < m->nsegs; i++)
    if (m->segs[i].no == no) return &m->segs[i];
  return NULL;
}

void manifest_entry_free(struct manifest_entry *e)
{
  free(e->endpoint);
  free(e->rule);
  free(e->id);
  free(e->binlog);
  free(e->gtid);
  memset(e, 0, sizeof *e);
}

void manifest_free(struct manifest *m)
{
  for (size_t i = 0; i < m->nents; i++) manifest_entry_free(&m->ents[i]);
  free(m->ents);
  free(m->segs);
  memset(m, 0, sizeof *m);
}
