/* retryq.c - the on-disk retry queue (see retryq.h for the layout and the
 * promises). The event loop's thread encodes records into `pend` under the
 * mutex and returns; the writer thread moves `pend` into its own batch,
 * appends the batch to the newest segment with one write and one fsync,
 * then publishes the new durable ticket and where each ADD record landed.
 *
 * Every delivery in the queue has an item in memory (metadata, no payload):
 * a hash by seq for lookups and a list in seq order for retryq_list. The
 * payload stays on disk until retryq_read asks for it. */
#include "store/retryq_int.h"

#include "util/buf.h"
#include "util/log.h"
#include "util/lpcodec.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

void retryq_rec_free(struct retryq_rec *r)
{
  free(r->endpoint);
  free(r->rule);
  free(r->id);
  free(r->okey);
  free(r->reason);
  free(r->payload);
  free(r->binlog);
  free(r->gtid);
  memset(r, 0, sizeof *r);
}

/* --- the seq hash (linear probing, backward-shift deletion) --- */

static size_t slot_of(uint64_t seq, size_t cap) { return (size_t)((seq * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1); }

struct item *rq_find(struct retryq *q, uint64_t seq)
{
  if (!q->cap) return NULL;
  for (size_t i = slot_of(seq, q->cap);; i = (i + 1) & (q->cap - 1)) {
    if (!q->tab[i]) return NULL;
    if (q->tab[i]->r.seq == seq) return q->tab[i];
  }
}

static void tab_put(struct retryq *q, struct item *it)
{
  if ((q->n + 1) * 2 > q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 1024;
    struct item **old = q->tab;
    size_t ocap = q->cap;
    q->tab = xcalloc(ncap, sizeof *q->tab);
    q->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
      if (!old[i]) continue;
      size_t j = slot_of(old[i]->r.seq, ncap);
      while (q->tab[j]) j = (j + 1) & (ncap - 1);
      q->tab[j] = old[i];
    }
    free(old);
  }
  size_t i = slot_of(it->r.seq, q->cap);
  while (q->tab[i]) i = (i + 1) & (q->cap - 1);
  q->tab[i] = it;
  q->n++;
}

static void tab_del(struct retryq *q, uint64_t seq)
{
  size_t i = slot_of(seq, q->cap);
  while (q->tab[i]->r.seq != seq) i = (i + 1) & (q->cap - 1);
  q->tab[i] = NULL;
  q->n--;
  for (size_t j = (i + 1) & (q->cap - 1); q->tab[j]; j = (j + 1) & (q->cap - 1)) {
    size_t home = slot_of(q->tab[j]->r.seq, q->cap);
    /* move it back when its home is not in (i, j] cyclically */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      q->tab[i] = q->tab[j];
      q->tab[j] = NULL;
      i = j;
    }
  }
}

static struct seg *seg_of(struct retryq *q, uint64_t no)
{
  for (size_t i = 0; i < q->nsegs; i++)
    if (q->segs[i].no == no) return &q->segs[i];
  return NULL;
}

static void unplace(struct retryq *q, struct item *it)
{
  struct seg *s = it->segno ? seg_of(q, it->segno) : NULL;
  if (s) {
    s->live--;
    s->live_bytes -= it->len;
  }
  it->segno = 0;
}

void rq_place(struct retryq *q, struct item *it, uint64_t segno, uint64_t off, uint32_t len)
{
  unplace(q, it);
  free(it->mem);
  it->mem = NULL;
  struct seg *s = seg_of(q, segno);
  bh_assert(s);
  s->live++;
  s->live_bytes += len;
  it->segno = segno;
  it->off = off;
  it->len = len;
}

void rq_item_link(struct retryq *q, struct item *it)
{
  /* seqs come in increasing order, except for copies read at open */
  struct item *after = q->tail;
  while (after && after->r.seq > it->r.seq) after = after->prev;
  it->prev = after;
  it->next = after ? after->next : q->head;
  if (it->next) it->next->prev = it;
  else q->tail = it;
  if (after) after->next = it;
  else q->head = it;
  tab_put(q, it);
  if (it->r.dead) q->ndead++;
}

void rq_item_drop(struct retryq *q, struct item *it)
{
  unplace(q, it);
  tab_del(q, it->r.seq);
  if (it->prev) it->prev->next = it->next;
  else q->head = it->next;
  if (it->next) it->next->prev = it->prev;
  else q->tail = it->prev;
  if (it->r.dead) q->ndead--;
  retryq_rec_free(&it->r);
  free(it->mem);
  free(it);
}

/* --- encoding --- */

/* Starts a record in b; returns where it starts, for end_rec. */
static size_t begin_rec(struct buf *b, enum rec_type t, uint64_t seq)
{
  size_t at = b->len;
  unsigned char zero[HDR] = {0};
  buf_add(b, zero, HDR);
  unsigned char ty = (unsigned char)t;
  buf_add(b, &ty, 1);
  lp_put_u64(b, seq);
  return at;
}

static void end_rec(struct buf *b, size_t at)
{
  size_t body = b->len - at - HDR;
  unsigned char *h = (unsigned char *)b->p + at;
  uint32_t v[2] = {MAGIC, (uint32_t)body};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 4; i++) h[k * 4 + i] = (unsigned char)(v[k] >> (8 * i));
}

/* The CRC of a record covers the segment and the offset it is written at
 * too, so that a record that happens to sit inside another's payload (row
 * data can hold anything) is never taken for a real one. */
uint32_t rq_record_crc(const unsigned char *body, size_t n, uint64_t segno, uint64_t off)
{
  unsigned char where[16];
  for (int i = 0; i < 8; i++) {
    where[i] = (unsigned char)(segno >> (8 * i));
    where[8 + i] = (unsigned char)(off >> (8 * i));
  }
  uLong crc = crc32(0L, where, sizeof where);
  return (uint32_t)crc32(crc, body, (uInt)n);
}

/* Writes the CRCs of the records in [p, p+n), which go to segment segno at
 * offset off. */
void rq_seal(unsigned char *p, size_t n, uint64_t segno, uint64_t off)
{
  for (size_t o = 0; o + HDR <= n;) {
    uint32_t len = le32(p + o + 4);
    uint32_t crc = rq_record_crc(p + o + HDR, len, segno, off + o);
    for (int i = 0; i < 4; i++) p[o + 8 + i] = (unsigned char)(crc >> (8 * i));
    o += HDR + len;
  }
}

static void encode_add(struct buf *b, const struct retryq_rec *r, const char *payload, size_t payloadlen)
{
  size_t at = begin_rec(b, R_ADD, r->seq);
  lp_put_u64(b, (uint64_t)r->created);
  lp_put_u32(b, r->attempts);
  lp_put_u64(b, (uint64_t)r->due);
  unsigned char dead = r->dead ? 1 : 0;
  buf_add(b, &dead, 1);
  lp_put_u64(b, (uint64_t)r->dead_at);
  lp_put_str(b, r->endpoint);
  lp_put_str(b, r->rule);
  lp_put_str(b, r->id);
  lp_put_field(b, r->okey, r->okeylen);
  lp_put_str(b, r->reason);
  lp_put_field(b, payload ? payload : "", payloadlen);
  unsigned char ext = EXT_V1;
  buf_add(b, &ext, 1);
  lp_put_str(b, r->binlog);
  lp_put_u64(b, r->binlog_pos);
  lp_put_str(b, r->gtid);
  end_rec(b, at);
}

/* Skips a field without copying it. */
static void skip_field(struct lp_reader *rd)
{
  uint32_t n = lp_get_u32(rd);
  if (n == LP_ABSENT || rd->bad) return;
  if ((size_t)(rd->end - rd->p) < n) rd->bad = 1;
  else rd->p += n;
}

int rq_decode(const unsigned char *body, size_t n, struct decoded *d, int want_payload)
{
  struct lp_reader rd;
  lp_reader_init(&rd, body, n);
  memset(d, 0, sizeof *d);
  d->type = (enum rec_type)lp_get_u8(&rd);
  d->seq = lp_get_u64(&rd);
  switch (d->type) {
  case R_ADD:
    d->r.seq = d->seq;
    d->r.created = (int64_t)lp_get_u64(&rd);
    d->r.attempts = (uint32_t)lp_get_u32(&rd);
    d->r.due = (int64_t)lp_get_u64(&rd);
    d->r.dead = (int)lp_get_u8(&rd);
    d->r.dead_at = (int64_t)lp_get_u64(&rd);
    d->r.endpoint = lp_get_field(&rd, NULL);
    d->r.rule = lp_get_field(&rd, NULL);
    d->r.id = lp_get_field(&rd, NULL);
    d->r.okey = lp_get_field(&rd, &d->r.okeylen);
    d->r.reason = lp_get_field(&rd, NULL);
    if (want_payload) {
      d->r.payload = lp_get_field(&rd, &d->r.payloadlen);
      if (!d->r.payload && !rd.bad) d->r.payload = xstrdup("");
    } else {
      skip_field(&rd);
    }
    if (rd.p < rd.end && lp_get_u8(&rd) == EXT_V1) { /* a newer extension is not ours to read */
      d->r.binlog = lp_get_field(&rd, NULL);
      d->r.binlog_pos = lp_get_u64(&rd);
      d->r.gtid = lp_get_field(&rd, NULL);
    }
    if (!rd.bad && (!d->r.endpoint || !d->r.rule || !d->r.id)) rd.bad = 1;
    break;
  case R_ATTEMPT:
    d->attempts = (uint32_t)lp_get_u32(&rd);
    d->t = (int64_t)lp_get_u64(&rd);
    break;
  case R_DEAD:
    d->t = (int64_t)lp_get_u64(&rd);
    d->reason = lp_get_field(&rd, NULL);
    break;
  case R_REVIVE: d->t = (int64_t)lp_get_u64(&rd); break;
  case R_DONE: break;
  case R_SEQ:
    if (rd.p < rd.end && lp_get_u8(&rd) == EXT_V1) d->prev = lp_get_u64(&rd);
    break;
  default: rd.bad = 1;
  }
  if (rd.bad) {
    retryq_rec_free(&d->r);
    free(d->reason);
    return -1;
  }
  return 0;
}

/* --- opening: reading the segments back --- */

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

void rq_seg_path(const struct retryq *q, uint64_t no, char *out, size_t n)
{
  snprintf(out, n, "%s/%016" PRIx64 ".seg", q->dir, no);
}

static int open_segment(struct retryq *q, char *err, size_t errsz)
{
  char path[4096], eb[128];
  uint64_t no = q->nsegs ? q->segs[q->nsegs - 1].no + 1 : 1;
  rq_seg_path(q, no, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return bh_err(err, errsz, "cannot create queue segment '%s': %s", path, bh_strerror(errno, eb, sizeof eb));
  if (state_sync_dir(q->dir, err, errsz)) {
    close(fd);
    unlink(path);
    return -1;
  }
  pthread_mutex_lock(&q->mu);
  uint64_t next = q->next_seq, prev = q->nsegs ? q->segs[q->nsegs - 1].no : 0;
  pthread_mutex_unlock(&q->mu);
  struct buf mark = BUF_INIT;
  size_t at = begin_rec(&mark, R_SEQ, next);
  unsigned char ext = EXT_V1;
  buf_add(&mark, &ext, 1);
  lp_put_u64(&mark, prev);
  end_rec(&mark, at);
  rq_seal((unsigned char *)mark.p, mark.len, no, 0);
  if (bh_write_all(fd, mark.p, mark.len) || fdatasync(fd)) {
    bh_err(err, errsz, "cannot write queue segment '%s': %s", path, bh_strerror(errno, eb, sizeof eb));
    buf_free(&mark);
    close(fd);
    unlink(path);
    return -1;
  }
  if (q->active_fd >= 0) close(q->active_fd);
  q->active_fd = fd;
  pthread_mutex_lock(&q->mu);
  q->segs = xrealloc(q->segs, (q->nsegs + 1) * sizeof *q->segs);
  q->segs[q->nsegs++] = (struct seg){.no = no, .size = mark.len};
  q->man_due = 1;
  pthread_mutex_unlock(&q->mu);
  buf_free(&mark);
  return 0;
}

static void *writer_main(void *arg);

struct retryq *rq_alloc(const struct retryq_opts *o, int readonly)
{
  struct retryq *q = xcalloc(1, sizeof *q);
  if (o) q->o = *o;
  q->readonly = readonly;
  q->active_fd = -1;
  q->notify[0] = q->notify[1] = -1;
  q->next_seq = 1;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->wake, NULL);
  pthread_cond_init(&q->written, NULL);
  return q;
}

int rq_make_notify(struct retryq *q, char *err, size_t errsz)
{
  char eb[128];
  if (pipe(q->notify)) return bh_err(err, errsz, "cannot make a pipe: %s", bh_strerror(errno, eb, sizeof eb));
  for (int i = 0; i < 2; i++) {
    fcntl(q->notify[i], F_SETFL, fcntl(q->notify[i], F_GETFL) | O_NONBLOCK);
    fcntl(q->notify[i], F_SETFD, FD_CLOEXEC);
  }
  return 0;
}

struct retryq *retryq_open(const char *dir, const struct retryq_opts *o, int readonly, struct retryq_report *report,
                         char *err, size_t errsz)
{
  char eb[128];
  int rc;
  struct retryq_report rep;
  memset(&rep, 0, sizeof rep);
  if (!readonly && mkdir(dir, 0700) && errno != EEXIST) {
    bh_err(err, errsz, "cannot create '%s': %s", dir, bh_strerror(errno, eb, sizeof eb));
    return NULL;
  }
  DIR *dh = opendir(dir);
  if (!dh) {
    bh_err(err, errsz, "cannot open queue directory '%s': %s", dir, bh_strerror(errno, eb, sizeof eb));
    return NULL;
  }
  struct retryq *q = rq_alloc(o, readonly);
  q->dir = xstrdup(dir);
  if (!q->o.segment_bytes) q->o.segment_bytes = DEFAULT_SEGMENT;
  uint64_t *nos = NULL;
  size_t nnos = 0;
  struct dirent *de;
  while ((de = readdir(dh))) {
    size_t l = strlen(de->d_name);
    char *end;
    if (l != 20 || strcmp(de->d_name + 16, ".seg")) continue;
    uint64_t no = strtoull(de->d_name, &end, 16);
    if (end != de->d_name + 16 || !no) continue;
    nos = xrealloc(nos, (nnos + 1) * sizeof *nos);
    nos[nnos++] = no;
  }
  closedir(dh);
  if (nnos) qsort(nos, nnos, sizeof *nos, cmp_u64);
  if (rq_load(q, nos, nnos, &rep, err, errsz)) goto fail;
  free(nos);
  nos = NULL;
  rep.segments = q->nsegs;
  for (size_t i = 0; i < q->nsegs; i++) rep.bytes += q->segs[i].size;
  rep.dead = q->ndead;
  rep.live = q->n - q->ndead;
  if (report) *report = rep;
  if (readonly) return q;
  if (rq_make_notify(q, err, errsz)) goto fail;
  if (open_segment(q, err, errsz)) goto fail;
  pthread_mutex_lock(&q->mu);
  rc = q->man_hold ? 0 : rq_manifest_write(q, 0, err, errsz);
  pthread_mutex_unlock(&q->mu);
  if (rc) goto fail;
  if (pthread_create(&q->writer, NULL, writer_main, q)) {
    bh_err(err, errsz, "cannot start the queue writer thread");
    goto fail;
  }
  q->started = 1;
  return q;
fail:
  free(nos);
  retryq_close(q, 0, NULL, 0);
  return NULL;
}

/* --- the writer --- */

void rq_notify(struct retryq *q)
{
  if (q->notify[1] >= 0) {
    ssize_t w = write(q->notify[1], "", 1);
    (void)w; /* a full pipe already says it */
  }
}

/* Deletes the oldest segments with nothing live; copies the live records of
 * the oldest one forward when it is mostly finished. Called with the mutex
 * held; returns with it held. */
static void compact(struct retryq *q, struct buf *batch, struct placed **pl, size_t *npl, size_t *plcap)
{
  while (q->nsegs > 1) {
    struct seg *s = &q->segs[0];
    if (s->live) {
      /* copied when that is worth it: little of it is live, or the old
       * segments are more garbage than live (a few long-lived deliveries
       * must not keep every newer segment on disk) */
      uint64_t live = 0, garbage = 0; /* over the segments no longer written to */
      for (size_t i = 0; i + 1 < q->nsegs; i++) {
        live += q->segs[i].live_bytes;
        garbage += q->segs[i].size - q->segs[i].live_bytes;
      }
      if ((s->live_bytes * 4 > s->size && garbage < live) || *npl) return;
      /* copy its live records forward; it goes once they are durable */
      char path[4096];
      rq_seg_path(q, s->no, path, sizeof path);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return;
      for (struct item *it = q->head; it; it = it->next) {
        if (it->segno != s->no) continue;
        char *raw = xmalloc(it->len);
        struct decoded d;
        if (pread(fd, raw, it->len, (off_t)it->off) != (ssize_t)it->len || !rq_good_record((unsigned char *)raw, it->len, s->no, it->off) ||
            rq_decode((unsigned char *)raw + HDR, it->len - HDR, &d, 1)) {
          free(raw);
          close(fd);
          return; /* leave it; the segment stays */
        }
        size_t at = batch->len;
        encode_add(batch, &it->r, d.r.payload, d.r.payloadlen); /* the current state, with the payload */
        retryq_rec_free(&d.r);
        free(raw);
        if (*npl == *plcap) {
          *plcap = *plcap ? *plcap * 2 : 64;
          *pl = xrealloc(*pl, *plcap * sizeof **pl);
        }
        (*pl)[(*npl)++] = (struct placed){it->r.seq, at, (uint32_t)(batch->len - at)};
      }
      close(fd);
      return;
    }
    /* deleted once a manifest without it is written: a listed segment
     * that is not there is damage */
    q->unlinks = xrealloc(q->unlinks, (q->nunlinks + 1) * sizeof *q->unlinks);
    q->unlinks[q->nunlinks++] = s->no;
    q->man_due = 1;
    memmove(q->segs, q->segs + 1, (q->nsegs - 1) * sizeof *q->segs);
    q->nsegs--;
  }
}

/* A write failed: says so, then waits a second before the next try (the
 * mutex held). Returns 1 when retryq_close gave up waiting. */
int rq_failed(struct retryq *q, const char *err)
{
  snprintf(q->error, sizeof q->error, "%s", err);
  rq_notify(q);
  pthread_cond_broadcast(&q->written);
  if (q->stop == 2) return 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 1;
  pthread_cond_timedwait(&q->wake, &q->mu, &ts);
  return 0;
}

static void *writer_main(void *arg)
{
  struct retryq *q = arg;
  struct buf batch = BUF_INIT;
  struct placed *pl = NULL;
  size_t npl = 0, plcap = 0;
  uint64_t batch_ticket = 0;
  char err[4400], eb[128];
  pthread_mutex_lock(&q->mu);
  for (;;) {
    /* take what was submitted */
    if (q->pend.len) {
      uint64_t base = batch.len;
      buf_add(&batch, q->pend.p, q->pend.len);
      for (size_t i = 0; i < q->npplaced; i++) {
        if (npl == plcap) {
          plcap = plcap ? plcap * 2 : 64;
          pl = xrealloc(pl, plcap * sizeof *pl);
        }
        pl[npl] = q->pplaced[i];
        pl[npl++].off += base;
      }
      q->pend.len = 0;
      q->npplaced = 0;
      batch_ticket = q->submitted;
      q->batch_bytes = batch.len;
    }
    if (q->man_due && !q->man_hold) {
      if (rq_manifest_write(q, 0, err, sizeof err)) {
        if (rq_failed(q, err)) break;
      } else if (q->error[0] && !batch.len && !q->pend.len) {
        /* writable again only when no record waits: a small manifest fits
         * where a failed segment write was cut off, records may not */
        q->error[0] = 0;
        rq_notify(q);
      }
      continue;
    }
    int cp_due = q->cp_gen > q->cp_saved && q->durable >= q->cp_ticket && !batch.len;
    if (!batch.len && !cp_due && rq_save_endpoints(q)) continue;
    if (!batch.len && !cp_due) {
      if (q->stop) break;
      pthread_cond_wait(&q->wake, &q->mu);
      continue;
    }
    if (cp_due) {
      struct checkpoint cp = {.gtid_state = NULL};
      checkpoint_copy(&cp, &q->cp); /* its own reference: q->cp may be replaced meanwhile */
      uint64_t gen = q->cp_gen;
      pthread_mutex_unlock(&q->mu);
      int rc = q->o.state ? state_checkpoint_save(q->o.state, &cp, err, sizeof err) : 0;
      checkpoint_clear(&cp);
      pthread_mutex_lock(&q->mu);
      if (rc) { /* tried again in a second (a newer one, if one came) */
        if (rq_failed(q, err)) break;
      } else {
        q->cp_saved = gen;
        q->cp_pos = cp.pos;
        q->has_cp = 1;
        if (q->error[0]) q->error[0] = 0;
        rq_notify(q);
        pthread_cond_broadcast(&q->written);
      }
      continue;
    }
    /* write the batch: a new segment first when this one is full */
    struct seg *act = &q->segs[q->nsegs - 1];
    int roll = act->size && act->size + batch.len > q->o.segment_bytes;
    uint64_t at = act->size, segno = act->no;
    pthread_mutex_unlock(&q->mu);
    int rc = 0;
    err[0] = 0;
    if (roll) {
      rc = open_segment(q, err, sizeof err);
      if (!rc) {
        pthread_mutex_lock(&q->mu);
        at = q->segs[q->nsegs - 1].size; /* after its seq mark */
        segno = q->segs[q->nsegs - 1].no;
        pthread_mutex_unlock(&q->mu);
      }
    }
    if (!rc) rq_seal((unsigned char *)batch.p, batch.len, segno, at);
    if (!rc && (bh_write_all(q->active_fd, batch.p, batch.len) || fdatasync(q->active_fd))) {
      int e = errno;
      char path[4096];
      rq_seg_path(q, segno, path, sizeof path);
      snprintf(err, sizeof err, "cannot write queue segment '%s': %s", path, bh_strerror(e, eb, sizeof eb));
      /* cut off what may have been written, so that the next try appends
       * whole records only */
      if (ftruncate(q->active_fd, (off_t)at)) {}
      rc = -1;
    }
    pthread_mutex_lock(&q->mu);
    if (rc) {
      if (rq_failed(q, err)) break; /* retryq_close gave up waiting */
      continue;
    }
    struct seg *s = seg_of(q, segno);
    s->size = at + batch.len;
    for (size_t i = 0; i < npl; i++) {
      struct item *it = rq_find(q, pl[i].seq);
      if (it) rq_place(q, it, segno, at + pl[i].off, pl[i].len);
    }
    npl = 0;
    batch.len = 0;
    q->batch_bytes = 0;
    q->durable = batch_ticket;
    if (q->error[0]) q->error[0] = 0; /* a checkpoint that still fails sets it again */
    compact(q, &batch, &pl, &npl, &plcap);
    rq_notify(q);
    pthread_cond_broadcast(&q->written);
  }
  pthread_cond_broadcast(&q->written);
  pthread_mutex_unlock(&q->mu);
  buf_free(&batch);
  free(pl);
  return NULL;
}

/* --- the calls of the event loop's thread --- */

static uint64_t submitted(struct retryq *q)
{
  uint64_t t = ++q->submitted;
  pthread_cond_signal(&q->wake);
  pthread_mutex_unlock(&q->mu);
  return t;
}

uint64_t retryq_add(struct retryq *q, struct retryq_rec *r)
{
  bh_assert(!q->readonly);
  pthread_mutex_lock(&q->mu);
  struct item *it = xcalloc(1, sizeof *it);
  r->seq = q->next_seq++;
  it->r.seq = r->seq;
  it->r.endpoint = xstrdup(r->endpoint);
  it->r.rule = xstrdup(r->rule);
  it->r.id = xstrdup(r->id);
  if (r->okey) {
    it->r.okey = xmalloc(r->okeylen + 1);
    memcpy(it->r.okey, r->okey, r->okeylen);
    it->r.okey[r->okeylen] = 0;
    it->r.okeylen = r->okeylen;
  }
  it->r.created = r->created;
  it->r.attempts = r->attempts;
  it->r.due = r->due;
  it->r.dead = r->dead;
  it->r.dead_at = r->dead_at;
  it->r.reason = r->reason ? xstrdup(r->reason) : NULL;
  it->r.binlog = r->binlog ? xstrdup(r->binlog) : NULL;
  it->r.binlog_pos = r->binlog_pos;
  it->r.gtid = r->gtid ? xstrdup(r->gtid) : NULL;
  it->mem = xmalloc(r->payloadlen + 1);
  if (r->payloadlen) memcpy(it->mem, r->payload, r->payloadlen);
  it->memlen = r->payloadlen;
  rq_item_link(q, it);
  if (q->db) {
    q->db_pending += it->memlen;
    rq_db_op(q, r->seq, DBOP_ADD);
    return submitted(q);
  }
  size_t at = q->pend.len;
  encode_add(&q->pend, r, r->payload, r->payloadlen);
  if (q->npplaced == q->pplaced_cap) {
    q->pplaced_cap = q->pplaced_cap ? q->pplaced_cap * 2 : 256;
    q->pplaced = xrealloc(q->pplaced, q->pplaced_cap * sizeof *q->pplaced);
  }
  q->pplaced[q->npplaced++] = (struct placed){r->seq, at, (uint32_t)(q->pend.len - at)};
  return submitted(q);
}

uint64_t retryq_attempt(struct retryq *q, uint64_t seq, uint32_t attempts, int64_t due)
{
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (it) {
    it->r.attempts = attempts;
    it->r.due = due;
  }
  if (q->db) {
    rq_db_op(q, seq, DBOP_UPDATE);
    return submitted(q);
  }
  size_t at = begin_rec(&q->pend, R_ATTEMPT, seq);
  lp_put_u32(&q->pend, attempts);
  lp_put_u64(&q->pend, (uint64_t)due);
  end_rec(&q->pend, at);
  return submitted(q);
}

uint64_t retryq_dead(struct retryq *q, uint64_t seq, int64_t when, const char *reason)
{
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (it) {
    if (!it->r.dead) q->ndead++;
    it->r.dead = 1;
    it->r.dead_at = when;
    free(it->r.reason);
    it->r.reason = reason ? xstrdup(reason) : NULL;
  }
  if (q->db) {
    rq_db_op(q, seq, DBOP_UPDATE);
    return submitted(q);
  }
  size_t at = begin_rec(&q->pend, R_DEAD, seq);
  lp_put_u64(&q->pend, (uint64_t)when);
  lp_put_str(&q->pend, reason);
  end_rec(&q->pend, at);
  return submitted(q);
}

uint64_t retryq_revive(struct retryq *q, uint64_t seq, int64_t due)
{
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (it) {
    if (it->r.dead) q->ndead--;
    it->r.dead = 0;
    it->r.attempts = 0;
    it->r.due = due;
  }
  if (q->db) {
    rq_db_op(q, seq, DBOP_UPDATE);
    return submitted(q);
  }
  size_t at = begin_rec(&q->pend, R_REVIVE, seq);
  lp_put_u64(&q->pend, (uint64_t)due);
  end_rec(&q->pend, at);
  return submitted(q);
}

uint64_t retryq_done(struct retryq *q, uint64_t seq)
{
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (it && q->db) {
    if (it->mem) q->db_pending -= it->memlen;
    else q->db_bytes -= it->memlen;
  }
  if (it) rq_item_drop(q, it);
  if (q->db) {
    rq_db_op(q, seq, DBOP_DELETE);
    return submitted(q);
  }
  size_t at = begin_rec(&q->pend, R_DONE, seq);
  end_rec(&q->pend, at);
  return submitted(q);
}

uint64_t retryq_durable(struct retryq *q)
{
  pthread_mutex_lock(&q->mu);
  uint64_t d = q->durable;
  pthread_mutex_unlock(&q->mu);
  return d;
}

int retryq_saved_position(struct retryq *q, struct position *pos)
{
  pthread_mutex_lock(&q->mu);
  int have = q->has_cp;
  if (have) *pos = q->cp_pos;
  pthread_mutex_unlock(&q->mu);
  return have;
}

void retryq_set_checkpoint(struct retryq *q, const struct checkpoint *cp)
{
  pthread_mutex_lock(&q->mu);
  checkpoint_copy(&q->cp, cp);
  q->cp_gen++;
  q->cp_ticket = q->submitted;
  pthread_cond_signal(&q->wake);
  pthread_mutex_unlock(&q->mu);
}

void retryq_set_endpoints(struct retryq *q, const char *text, size_t n)
{
  pthread_mutex_lock(&q->mu);
  buf_reset(&q->ep);
  buf_add(&q->ep, text, n);
  q->ep_gen++;
  pthread_cond_signal(&q->wake);
  pthread_mutex_unlock(&q->mu);
}

/* Saves the endpoints' state when asked (under q->mu, released meanwhile):
 * 1 when it tried (saved, or failed and said so), 0 when nothing was due. */
int rq_save_endpoints(struct retryq *q)
{
  if (q->ep_gen <= q->ep_saved || !q->o.state) return 0;
  char err[1024];
  struct buf copy = BUF_INIT;
  buf_add(&copy, q->ep.p, q->ep.len);
  uint64_t gen = q->ep_gen;
  pthread_mutex_unlock(&q->mu);
  int rc = state_endpoints_save(q->o.state, copy.p, copy.len, err, sizeof err);
  buf_free(&copy);
  pthread_mutex_lock(&q->mu);
  if (rc) log_warn("cannot save the endpoints' state: %s; it is tried again with the next change", err);
  q->ep_saved = gen; /* a failure is said once; the next change writes the whole state again */
  return 1;
}

static int wait_written(struct retryq *q, double timeout, char *err, size_t errsz)
{
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += (time_t)timeout;
  dl.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&q->mu);
  uint64_t want = q->submitted, cp = q->cp_gen;
  pthread_cond_signal(&q->wake);
  int rc = 0;
  while (q->durable < want || q->cp_saved < cp) {
    if (q->fenced) {
      rc = bh_err(err, errsz, "%s", q->error);
      break;
    }
    if (pthread_cond_timedwait(&q->written, &q->mu, &dl) == ETIMEDOUT) {
      rc = bh_err(err, errsz, "%s", q->error[0] ? q->error : "the queue writer did not finish in time");
      break;
    }
  }
  pthread_mutex_unlock(&q->mu);
  return rc;
}

int retryq_sync(struct retryq *q, double timeout, char *err, size_t errsz)
{
  if (!q->started) return 0;
  return wait_written(q, timeout, err, errsz);
}

static int read_placed(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz);

int retryq_read(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz)
{
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&q->mu);
  struct item *it = rq_find(q, seq);
  if (it && it->mem) { /* not written yet: from memory */
    out->seq = seq;
    out->endpoint = xstrdup(it->r.endpoint);
    out->rule = xstrdup(it->r.rule);
    out->id = xstrdup(it->r.id);
    if (it->r.okey) {
      out->okey = xmalloc(it->r.okeylen + 1);
      memcpy(out->okey, it->r.okey, it->r.okeylen + 1);
      out->okeylen = it->r.okeylen;
    }
    out->created = it->r.created;
    out->attempts = it->r.attempts;
    out->due = it->r.due;
    out->dead = it->r.dead;
    out->dead_at = it->r.dead_at;
    out->reason = it->r.reason ? xstrdup(it->r.reason) : NULL;
    out->binlog = it->r.binlog ? xstrdup(it->r.binlog) : NULL;
    out->binlog_pos = it->r.binlog_pos;
    out->gtid = it->r.gtid ? xstrdup(it->r.gtid) : NULL;
    out->payload = xmalloc(it->memlen + 1);
    memcpy(out->payload, it->mem, it->memlen);
    out->payload[it->memlen] = 0;
    out->payloadlen = it->memlen;
    pthread_mutex_unlock(&q->mu);
    return 0;
  }
  pthread_mutex_unlock(&q->mu);
  if (!it) return bh_err(err, errsz, "no delivery %" PRIu64 " in the queue", seq);
  if (q->db) return rq_db_read(q, seq, out, err, errsz);
  for (int tries = 0;; tries++) {
    int rc = read_placed(q, seq, out, err, errsz);
    if (rc != 1) return rc;
    if (tries == 3) return bh_err(err, errsz, "delivery %" PRIu64 " kept moving while being read", seq);
  }
}

/* retryq_read once: 1 when the record moved away (compaction) meanwhile. */
static int read_placed(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz)
{
  char path[4096], eb[128];
  pthread_mutex_lock(&q->mu);
  struct item *it;
  it = rq_find(q, seq);
  if (!it || !it->segno) {
    pthread_mutex_unlock(&q->mu);
    return bh_err(err, errsz, "no delivery %" PRIu64 " in the queue", seq);
  }
  uint64_t segno = it->segno, off = it->off;
  uint32_t len = it->len;
  struct retryq_rec meta = it->r;
  /* the state now, over what the record says */
  out->attempts = meta.attempts;
  out->due = meta.due;
  out->dead = meta.dead;
  out->dead_at = meta.dead_at;
  char *reason = meta.reason ? xstrdup(meta.reason) : NULL;
  pthread_mutex_unlock(&q->mu);
  /* compaction may move the record meanwhile, but it never deletes a
   * segment holding a live record before the copy is durable */
  rq_seg_path(q, segno, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    free(reason);
    return 1;
  }
  char *raw = xmalloc(len);
  ssize_t got = fd >= 0 ? pread(fd, raw, len, (off_t)off) : -1;
  int e = errno;
  if (fd >= 0) close(fd);
  struct decoded d;
  if (got != (ssize_t)len || !rq_good_record((unsigned char *)raw, len, segno, off) ||
      rq_decode((unsigned char *)raw + HDR, len - HDR, &d, 1) || d.type != R_ADD) {
    free(raw);
    free(reason);
    if (got < 0) return bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(e, eb, sizeof eb));
    return bh_err(err, errsz, "delivery %" PRIu64 " in '%s' is damaged", seq, path);
  }
  free(raw);
  *out = d.r;
  out->attempts = meta.attempts;
  out->due = meta.due;
  out->dead = meta.dead;
  out->dead_at = meta.dead_at;
  free(out->reason);
  out->reason = reason;
  return 0;
}

void retryq_list_seqs(struct retryq *q, const uint64_t *seqs, size_t n, int (*fn)(void *arg, const struct retryq_rec *r),
                      void *arg)
{
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&q->mu);
    struct item *it = rq_find(q, seqs[i]);
    struct retryq_rec copy;
    memset(&copy, 0, sizeof copy);
    if (it) {
      copy = it->r;
      copy.endpoint = xstrdup(it->r.endpoint);
      copy.rule = xstrdup(it->r.rule);
      copy.id = xstrdup(it->r.id);
      copy.reason = it->r.reason ? xstrdup(it->r.reason) : NULL;
      copy.binlog = it->r.binlog ? xstrdup(it->r.binlog) : NULL;
      copy.gtid = it->r.gtid ? xstrdup(it->r.gtid) : NULL;
      if (it->r.okey) {
        copy.okey = xmalloc(it->r.okeylen + 1);
        memcpy(copy.okey, it->r.okey, it->r.okeylen + 1);
      }
      copy.payload = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    if (!it) continue;
    int stop = fn(arg, &copy);
    retryq_rec_free(&copy);
    if (stop) break;
  }
}

void retryq_list(struct retryq *q, int (*fn)(void *arg, const struct retryq_rec *r), void *arg)
{
  pthread_mutex_lock(&q->mu);
  uint64_t *seqs = xmalloc((q->n + 1) * sizeof *seqs);
  size_t n = 0;
  for (struct item *it = q->head; it; it = it->next) seqs[n++] = it->r.seq;
  pthread_mutex_unlock(&q->mu);
  retryq_list_seqs(q, seqs, n, fn, arg);
  free(seqs);
}

int retryq_fd(struct retryq *q) { return q->notify[0]; }

void retryq_ack_fd(struct retryq *q)
{
  char b[256];
  while (read(q->notify[0], b, sizeof b) > 0) {}
}

int retryq_error(struct retryq *q, char *err, size_t errsz)
{
  pthread_mutex_lock(&q->mu);
  int bad = q->error[0] != 0;
  if (bad && err) snprintf(err, errsz, "%s", q->error);
  pthread_mutex_unlock(&q->mu);
  return bad;
}

int retryq_full(struct retryq *q)
{
  if (!q->o.max_bytes) return 0;
  pthread_mutex_lock(&q->mu);
  uint64_t b = q->pend.len + q->batch_bytes + q->db_bytes + q->db_pending;
  for (size_t i = 0; i < q->nsegs; i++) b += q->segs[i].size;
  pthread_mutex_unlock(&q->mu);
  return b >= q->o.max_bytes;
}

void retryq_stats(struct retryq *q, struct retryq_stats *st)
{
  pthread_mutex_lock(&q->mu);
  st->live = q->n - q->ndead;
  st->dead = q->ndead;
  st->bytes = q->db_bytes;
  for (size_t i = 0; i < q->nsegs; i++) st->bytes += q->segs[i].size;
  st->pending = q->pend.len + q->batch_bytes + q->db_pending;
  st->segments = q->nsegs;
  pthread_mutex_unlock(&q->mu);
}

int retryq_close(struct retryq *q, double timeout, char *err, size_t errsz)
{
  int rc = 0;
  if (!q) return 0;
  if (q->started) {
    rc = wait_written(q, timeout, err, errsz);
    pthread_mutex_lock(&q->mu);
    q->stop = rc ? 2 : 1;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->writer, NULL);
    pthread_mutex_lock(&q->mu);
    /* the manifest of a stop: everything is in it */
    if (!rc && !q->db && !q->man_hold && rq_manifest_write(q, 1, err, errsz)) rc = -1;
    pthread_mutex_unlock(&q->mu);
  }
  if (q->active_fd >= 0) close(q->active_fd);
  if (q->db) rq_db_close(q);
  for (int i = 0; i < 2; i++)
    if (q->notify[i] >= 0) close(q->notify[i]);
  while (q->head) rq_item_drop(q, q->head);
  free(q->tab);
  free(q->segs);
  free(q->unlinks);
  free(q->done_seen);
  for (size_t i = 0; i < q->dmg.nwhat; i++) free(q->dmg.what[i]);
  free(q->dmg.what);
  for (size_t i = 0; i < q->dmg.nlost; i++) manifest_entry_free(&q->dmg.lost[i]);
  free(q->dmg.lost);
  buf_free(&q->pend);
  buf_free(&q->ep);
  free(q->pplaced);
  checkpoint_clear(&q->cp);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->wake);
  pthread_cond_destroy(&q->written);
  free(q->dir);
  free(q);
  return rc;
}

const struct retryq_damage *retryq_damage(const struct retryq *q) { return q->damaged ? &q->dmg : NULL; }

int retryq_fenced(struct retryq *q)
{
  pthread_mutex_lock(&q->mu);
  int f = q->fenced;
  pthread_mutex_unlock(&q->mu);
  return f;
}

void retryq_healed(struct retryq *q)
{
  if (q->readonly || q->db) return;
  pthread_mutex_lock(&q->mu);
  q->man_hold = 0;
  q->man_due = 1;
  pthread_cond_signal(&q->wake);
  pthread_mutex_unlock(&q->mu);
}
