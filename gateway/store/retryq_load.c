/* retryq_load.c - the retry queue read back at open (see retryq.h):
 * every segment is read and its damaged records cut out, then what was
 * read is compared with the manifest (manifest.h), which also gets written
 * here as the writer asks. */
#include "store/retryq_int.h"

#include "source/server.h"
#include "store/manifest.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A good record at p (n bytes left), at offset off of segment segno: its
 * whole length, or 0. */
size_t rq_good_record(const unsigned char *p, size_t n, uint64_t segno, uint64_t off)
{
  if (n < HDR || le32(p) != MAGIC) return 0;
  uint32_t len = le32(p + 4);
  if (len > MAX_BODY || len > n - HDR || len < 9) return 0;
  return rq_record_crc(p + HDR, len, segno, off) == le32(p + 8) ? HDR + (size_t)len : 0;
}

static void apply(struct retryq *q, const struct decoded *d, uint64_t segno, uint64_t off, uint32_t len)
{
  struct item *it = rq_find(q, d->seq);
  if (d->seq >= q->next_seq) q->next_seq = d->seq + 1;
  switch (d->type) {
  case R_ADD:
    if (it) { /* a copy made by compaction: it replaces the older one */
      if (it->r.dead) q->ndead--;
      retryq_rec_free(&it->r);
    } else {
      it = xcalloc(1, sizeof *it);
      it->r.seq = d->seq;
      it->r = d->r;
      rq_item_link(q, it);
      rq_place(q, it, segno, off, len);
      return;
    }
    it->r = d->r;
    if (it->r.dead) q->ndead++;
    rq_place(q, it, segno, off, len);
    return;
  case R_ATTEMPT:
    if (!it) return;
    it->r.attempts = d->attempts;
    it->r.due = d->t;
    return;
  case R_DEAD:
    if (!it) return;
    if (!it->r.dead) q->ndead++;
    it->r.dead = 1;
    it->r.dead_at = d->t;
    free(it->r.reason);
    it->r.reason = d->reason ? xstrdup(d->reason) : NULL;
    return;
  case R_REVIVE:
    if (!it) return;
    if (it->r.dead) q->ndead--;
    it->r.dead = 0;
    it->r.attempts = 0;
    it->r.due = d->t;
    return;
  case R_DONE:
    /* noted either way: a manifest written before it may still list the
     * delivery, which then finished, not went missing. Without its ADD it
     * finished long ago, or was lost (the accounting asks). */
    if (it) rq_item_drop(q, it);
    if (q->ndone == q->done_cap) {
      q->done_cap = q->done_cap ? q->done_cap * 2 : 64;
      q->done_seen = xrealloc(q->done_seen, q->done_cap * sizeof *q->done_seen);
    }
    q->done_seen[q->ndone++] = d->seq;
    return;
  case R_SEQ: return; /* next_seq moved above */
  }
}

/* Reads one segment; damaged parts are skipped (and, unless readonly, cut
 * out of the file, which is rewritten with its good records only). */
static int load_segment(struct retryq *q, uint64_t no, struct retryq_report *rep, struct seen *sn, char *err,
                        size_t errsz)
{
  char path[4096];
  rq_seg_path(q, no, path, sizeof path);
  struct buf raw = BUF_INIT, good = BUF_INIT;
  if (buf_read_file(&raw, path, 0, err, errsz)) {
    buf_free(&raw);
    return -1;
  }
  *sn = (struct seen){.no = no, .raw = raw.len, .bad_from = UINT64_MAX};
  q->segs = xrealloc(q->segs, (q->nsegs + 1) * sizeof *q->segs);
  q->segs[q->nsegs++] = (struct seg){.no = no};
  const unsigned char *p = (const unsigned char *)raw.p;
  size_t n = raw.len, o = 0;
  int damaged = 0;
  while (o < n) {
    size_t len = rq_good_record(p + o, n - o, no, o);
    if (!len) {
      /* skip to the next good record, if any */
      size_t from = o;
      for (o++; o < n && !rq_good_record(p + o, n - o, no, o); o++) {}
      rep->bad_records++;
      rep->bad_bytes += o - from;
      sn->bad++;
      sn->bad_bytes += o - from;
      if (sn->bad_from == UINT64_MAX) sn->bad_from = from;
      damaged = 1;
      continue;
    }
    struct decoded d;
    if (rq_decode(p + o + HDR, len - HDR, &d, 0)) { /* a good CRC over a body it cannot read: a newer format? */
      rep->bad_records++;
      rep->bad_bytes += len;
      sn->bad++;
      sn->bad_bytes += len;
      if (sn->bad_from == UINT64_MAX) sn->bad_from = o;
      damaged = 1;
      o += len;
      continue;
    }
    if (d.type == R_SEQ && d.prev) sn->prev = d.prev;
    /* where it stays: in the file as it is (readonly), or in the file
     * rewritten with the good records only */
    uint64_t at = q->readonly ? o : good.len;
    size_t gat = good.len;
    buf_add(&good, p + o, len);
    rq_seal((unsigned char *)good.p + gat, len, no, gat);
    apply(q, &d, no, at, (uint32_t)len);
    free(d.reason);
    o += len;
  }
  q->segs[q->nsegs - 1].size = good.len;
  int rc = 0;
  if (!good.len && !q->readonly) { /* nothing in it (a start that wrote nothing, or all damaged) */
    unlink(path);
    q->nsegs--;
    damaged = 0;
  }
  if (damaged && !q->readonly) { /* the good records only, replacing the file atomically */
    const char *name = strrchr(path, '/') + 1;
    if (state_write_file(q->dir, name, good.p, good.len, err, errsz)) rc = -1;
  }
  buf_free(&raw);
  buf_free(&good);
  return rc;
}


/* --- the accounting at open --- */

static void say(struct retryq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct retryq *q, const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  q->dmg.what = xrealloc(q->dmg.what, (q->dmg.nwhat + 1) * sizeof *q->dmg.what);
  q->dmg.what[q->dmg.nwhat++] = xstrdup(line);
}

static int cmp_seq(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Whether a DONE record of seq was read (done_seen sorted). */
static int done_seen(const struct retryq *q, uint64_t seq)
{
  return q->ndone && bsearch(&seq, q->done_seen, q->ndone, sizeof seq, cmp_seq) != NULL;
}

/* Without a manifest (an older queue, or the manifest itself lost): the
 * chain of segment marks tells a segment missing between two others. */
static void account_chain(struct retryq *q, const struct seen *sn, size_t n, struct retryq_report *rep)
{
  for (size_t i = 1; i < n; i++)
    if (sn[i].prev > sn[i - 1].no) {
      say(q, "segment %016" PRIx64 ".seg is missing (the segment after it names it)", sn[i].prev);
      rep->missing_segments++;
    }
}

/* Compares what was read (sn, n segments) with the manifest: missing and
 * shortened segments, the deliveries lost, the low-water mark. */
static void account(struct retryq *q, const struct seen *sn, size_t n, struct retryq_report *rep)
{
  struct manifest m;
  char why[512];
  int have = manifest_load(q->dir, &m, why, sizeof why);
  /* A torn tail (the newest segment ends in one bad stretch, past what a
   * clean stop's manifest holds) is what a crash leaves: records that were
   * never durable, so nothing the checkpoint passed. Not damage. */
  const struct seen *t = n ? &sn[n - 1] : NULL;
  if (t && !(t->bad == 1 && t->bad_from + t->bad_bytes == t->raw)) t = NULL;
  if (t && have == 1) {
    const struct manifest_seg *ms = manifest_seg(&m, t->no);
    if (ms && (m.clean || t->bad_from < ms->size)) t = NULL;
  }
  for (size_t i = 0; i < n; i++)
    if (sn[i].bad && &sn[i] != t)
      say(q, "segment %016" PRIx64 ".seg: %zu damaged record%s (%" PRIu64 " bytes from offset %" PRIu64 ") cut out",
          sn[i].no, sn[i].bad, sn[i].bad == 1 ? "" : "s", sn[i].bad_bytes, sn[i].bad_from);
  int marked = 0;
  for (size_t i = 0; i < n; i++) marked |= sn[i].prev != 0;
  if (have <= 0) {
    if (have < 0) say(q, "%s", why);
    else if (marked) say(q, "the manifest '%s/%s' is missing", q->dir, MANIFEST_NAME);
    account_chain(q, sn, n, rep);
    q->dmg.unnamed = q->dmg.nwhat > 0; /* nothing names what was lost */
    return;
  }
  const struct manifest_seg *last = m.nsegs ? &m.segs[m.nsegs - 1] : NULL;
  for (size_t i = 0; i < m.nsegs; i++) {
    const struct manifest_seg *ms = &m.segs[i];
    const struct seen *s = NULL;
    for (size_t k = 0; k < n && !s; k++)
      if (sn[k].no == ms->no) s = &sn[k];
    /* what the newest segment got after an unclean stop is in no manifest */
    int beyond = ms == last && !m.clean;
    if (!s) {
      say(q, "segment %016" PRIx64 ".seg is missing", ms->no);
      rep->missing_segments++;
    } else if (s->raw < ms->size) {
      say(q, "segment %016" PRIx64 ".seg was cut short: %" PRIu64 " bytes of %" PRIu64, ms->no, s->raw, ms->size);
      rep->short_segments++;
    } else if (!(s->bad && s->bad_from >= ms->size) || s == t) {
      beyond = 0;
    }
    if (beyond) q->dmg.unnamed = 1;
  }
  for (size_t k = 0; k < n; k++)
    if (sn[k].bad && &sn[k] != t && (!last || sn[k].no > last->no)) q->dmg.unnamed = 1; /* newer than the manifest */
  if (q->ndone) qsort(q->done_seen, q->ndone, sizeof *q->done_seen, cmp_seq);
  for (size_t i = 0; i < m.nents; i++) {
    struct manifest_entry *e = &m.ents[i];
    if (rq_find(q, e->seq) || done_seen(q, e->seq)) continue;
    q->dmg.lost = xrealloc(q->dmg.lost, (q->dmg.nlost + 1) * sizeof *q->dmg.lost);
    q->dmg.lost[q->dmg.nlost++] = *e;
    memset(e, 0, sizeof *e); /* moved */
  }
  free(q->done_seen); /* asked only here */
  q->done_seen = NULL;
  q->ndone = q->done_cap = 0;
  rep->lost = q->dmg.nlost;
  if (q->dmg.nlost && !q->dmg.nwhat) /* records gone without a trace: whole ones cut from a segment's end */
    say(q, "%zu deliveries listed in the manifest are in no segment", q->dmg.nlost);
  q->dmg.has_low = m.has_low;
  q->dmg.low = m.low;
  if (m.next_seq > q->next_seq) q->next_seq = m.next_seq; /* seqs of lost records are not given again */
  manifest_free(&m);
}


/* --- the manifest --- */

/* q's manifest now (the mutex held): the segments, the deliveries on disk
 * and the low-water mark, the oldest position of a waiting delivery or of
 * the last checkpoint saved (a delivery written after this manifest comes
 * from a change at or after that checkpoint: the checkpoint never passes a
 * delivery that is not durable). Dead letters do not hold it back: they
 * wait for a person, not for the binlog. */
static void manifest_build(struct retryq *q, int clean, struct buf *out)
{
  struct manifest m;
  memset(&m, 0, sizeof m);
  m.clean = clean;
  m.next_seq = q->next_seq;
  m.segs = xcalloc(q->nsegs + 1, sizeof *m.segs);
  for (size_t i = 0; i < q->nsegs; i++) m.segs[m.nsegs++] = (struct manifest_seg){q->segs[i].no, q->segs[i].size};
  m.ents = xcalloc(q->n + 1, sizeof *m.ents);
  if (q->has_cp) {
    m.has_low = 1;
    m.low = q->cp_pos;
  }
  for (struct item *it = q->head; it; it = it->next) {
    const struct retryq_rec *r = &it->r;
    if (!r->dead && r->binlog && (!m.has_low || server_pos_cmp(r->binlog, r->binlog_pos, &m.low) < 0)) {
      m.has_low = 1;
      snprintf(m.low.file, sizeof m.low.file, "%s", r->binlog);
      m.low.pos = r->binlog_pos;
      snprintf(m.low.gtid, sizeof m.low.gtid, "%s", r->gtid ? r->gtid : "");
    }
    if (!it->segno) continue; /* not on disk yet: the checkpoint covers it */
    m.ents[m.nents++] = (struct manifest_entry){.seq = r->seq, .segno = it->segno, .dead = r->dead,
                                                .endpoint = r->endpoint, .rule = r->rule, .id = r->id,
                                                .binlog = r->binlog, .binlog_pos = r->binlog_pos, .gtid = r->gtid};
  }
  manifest_encode(&m, out);
  free(m.segs); /* the strings are the items' */
  free(m.ents);
}

/* Writes the manifest (called with the mutex held, released meanwhile),
 * then deletes the segments compaction gave up, which it no longer lists.
 * Returns 0, or -1 with err. */
int rq_manifest_write(struct retryq *q, int clean, char *err, size_t errsz)
{
  struct buf b = BUF_INIT;
  manifest_build(q, clean, &b);
  size_t n = q->nunlinks;
  uint64_t *gone = xmalloc((n + 1) * sizeof *gone);
  if (n) memcpy(gone, q->unlinks, n * sizeof *gone);
  q->man_due = 0;
  pthread_mutex_unlock(&q->mu);
  int rc = state_write_file(q->dir, MANIFEST_NAME, b.p, b.len, err, errsz);
  for (size_t i = 0; !rc && i < n; i++) {
    char path[4096];
    rq_seg_path(q, gone[i], path, sizeof path);
    unlink(path);
  }
  pthread_mutex_lock(&q->mu);
  if (rc) {
    q->man_due = 1;
  } else if (n) {
    memmove(q->unlinks, q->unlinks + n, (q->nunlinks - n) * sizeof *q->unlinks);
    q->nunlinks -= n;
  }
  buf_free(&b);
  free(gone);
  return rc;
}

int rq_load(struct retryq *q, const uint64_t *nos, size_t n, struct retryq_report *rep, char *err, size_t errsz)
{
  if (q->o.state) {
    struct checkpoint cp;
    char why[512];
    if (state_checkpoint_load(q->o.state, &cp, why, sizeof why) == 1) {
      q->has_cp = 1;
      q->cp_pos = cp.pos;
    }
    checkpoint_clear(&cp); /* only the position is kept here */
  }
  struct seen *sn = xcalloc(n + 1, sizeof *sn);
  for (size_t i = 0; i < n; i++)
    if (load_segment(q, nos[i], rep, &sn[i], err, errsz)) {
      free(sn);
      return -1;
    }
  account(q, sn, n, rep);
  free(sn);
  q->damaged = q->dmg.nwhat > 0;
  q->man_hold = q->damaged; /* the old manifest names the lost until retryq_healed */
  return 0;
}
