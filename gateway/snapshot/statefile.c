/* statefile.c - the snapshot's files in the state directory (or, where
 * the state is in a database, values there: state_file_read and the
 * others of store/state.h decide): the state
 * (STATE_NAME: the handover, each table's segments and bands, the rows
 * done), rewritten whole and atomically at each commit, and the chunks sent
 * whose state is not committed yet (SENT_NAME), made durable before their
 * rows go out.
 *
 * Threads: the snapshot thread makes the state text at each chunk's end
 * (statefile_pend) and announces chunks (statefile_announce); the consumer
 * commits (snapshot_commit), which writes the text kept for that marker.
 * The pending texts, the sent chunks and committed_rows cross between them
 * under s->lock; the fsync happens outside it. snapshot_begin (the
 * caller's thread, before the snapshot thread exists) loads both files,
 * and snapshot_status and snapshot_forget need no snapshot at all. */
#include "snapshot/snapshot_int.h"
#include "store/state.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAX (64u << 20)

static void pos_json(const struct position *p, struct buf *b)
{
  buf_adds(b, "{\"file\":");
  buf_add_json_str(b, p->file, strlen(p->file));
  buf_adds(b, ",\"pos\":");
  buf_add_u64(b, p->pos);
  buf_addc(b, '}');
}

static void opt_key_json(const struct key *k, struct buf *b)
{
  if (k)
    key_to_json(k, b);
  else
    buf_adds(b, "null");
}

static void band_json(const struct band *g, struct buf *b)
{
  buf_adds(b, "{\"at\":");
  pos_json(&g->pos, b);
  buf_adds(b, ",\"after\":");
  opt_key_json(g->after, b);
  buf_adds(b, ",\"upto\":");
  opt_key_json(g->upto, b);
  buf_addc(b, '}');
}

void statefile_json(struct snapshot *s, int done, struct buf *b)
{
  buf_printf(b, "{\"format\":%d,\"handover\":", STATE_FORMAT_SNAPSHOT);
  pos_json(&s->handover, b);
  buf_printf(b, ",\"ts\":%" PRIu32 ",\"ordinal\":%" PRIu64 ",\"done\":%s,\"tables\":[", s->ts, s->ordinal,
             done ? "true" : "false");
  int first = 1;
  for (size_t i = 0; i < s->ntabs; i++) {
    const struct stab *t = &s->tabs[i];
    if (!t->nsegs && !t->nbands) continue;
    if (!first) buf_addc(b, ',');
    first = 0;
    buf_adds(b, "\n{\"schema\":");
    buf_add_json_str(b, t->schema, strlen(t->schema));
    buf_adds(b, ",\"name\":");
    buf_add_json_str(b, t->name, strlen(t->name));
    buf_printf(b, ",\"rows\":%" PRIu64 ",\"segments\":[", t->rows);
    for (size_t k = 0; k < t->nsegs; k++) {
      if (k) buf_addc(b, ',');
      buf_adds(b, "{\"at\":");
      pos_json(&t->segs[k].pos, b);
      buf_adds(b, ",\"upto\":");
      if (t->segs[k].upto)
        key_to_json(t->segs[k].upto, b);
      else
        buf_adds(b, "null");
      buf_addc(b, '}');
    }
    buf_addc(b, ']');
    if (t->nbands) {
      buf_adds(b, ",\"bands\":[");
      for (size_t k = 0; k < t->nbands; k++) {
        if (k) buf_addc(b, ',');
        band_json(&t->bands[k], b);
      }
      buf_adds(b, "],\"present\":[");
      for (size_t k = 0; k < t->npresent; k++) {
        if (k) buf_addc(b, ',');
        buf_adds(b, t->present[k]);
      }
      buf_addc(b, ']');
    }
    buf_addc(b, '}');
  }
  buf_adds(b, "]}\n");
}

static int read_pos(const struct jv *o, struct position *p)
{
  const struct jv *f = jv_member(o, "file"), *n = jv_member(o, "pos");
  if (!f || f->k != J_STR || !n || n->k != J_NUM || f->n >= sizeof p->file) return -1;
  memset(p, 0, sizeof *p);
  memcpy(p->file, f->s, f->n);
  char *end;
  errno = 0;
  p->pos = strtoull(n->s, &end, 10);
  return *end || errno ? -1 : 0;
}

int statefile_read(const char *dir, const char *name, struct buf *out, char *err, size_t errsz)
{
  int have = state_file_read(dir, name, out, STATE_MAX, err, errsz);
  if (have > 0 && out->len > STATE_MAX)
    return bh_err(err, errsz, "'%s/%s' is too large to be a snapshot state", dir, name);
  return have;
}

/* Reads a band ({"at", "after", "upto"}) into t. */
static int band_load(struct stab *t, const struct jv *o)
{
  const struct jv *at = jv_member(o, "at"), *af = jv_member(o, "after"), *up = jv_member(o, "upto");
  struct band g;
  char kerr[128];
  memset(&g, 0, sizeof g);
  if (!at || read_pos(at, &g.pos) || !af || !up) return -1;
  if (af->k != J_NULL && !(g.after = key_from_json(af, kerr, sizeof kerr))) return -1;
  if (up->k != J_NULL && !(g.upto = key_from_json(up, kerr, sizeof kerr))) {
    key_free(g.after);
    return -1;
  }
  t->bands = xrealloc(t->bands, (t->nbands + 1) * sizeof *t->bands);
  t->bands[t->nbands++] = g;
  return 0;
}

/* Loads table entry o (the i-th) of the state into s. */
static int load_entry(struct snapshot *s, const struct jv *o, size_t i, char *err, size_t errsz)
{
  const struct jv *sc = jv_member(o, "schema"), *nm = jv_member(o, "name"), *rows = jv_member(o, "rows"),
                  *segs = jv_member(o, "segments");
  const struct jv *bands = jv_member(o, "bands"), *present = jv_member(o, "present");
  if (!sc || sc->k != J_STR || !nm || nm->k != J_STR || !segs || segs->k != J_ARR ||
      (!segs->nkids && (!bands || bands->k != J_ARR || !bands->nkids))) {
    bh_err(err, errsz, "%s/%s: table entry %zu is damaged", s->state_dir, STATE_NAME, i + 1);
    return -1;
  }
  struct stab *t = stab_add(s, sc->s, nm->s);
  if (rows && rows->k == J_NUM) t->rows = strtoull(rows->s, NULL, 10);
  t->segs = segs->nkids ? xcalloc(segs->nkids, sizeof *t->segs) : NULL;
  for (size_t k = 0; k < segs->nkids; k++) {
    const struct jv *at = jv_member(&segs->kids[k], "at"), *up = jv_member(&segs->kids[k], "upto");
    struct seg *g = &t->segs[t->nsegs++];
    char kerr[128];
    if (!at || read_pos(at, &g->pos) || !up ||
        (up->k != J_NULL && !(g->upto = key_from_json(up, kerr, sizeof kerr)))) {
      bh_err(err, errsz, "%s/%s: a segment of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
             t->name);
      return -1;
    }
  }
  t->done = t->nsegs && t->segs[t->nsegs - 1].upto == NULL;
  if (bands && bands->k == J_ARR)
    for (size_t k = 0; k < bands->nkids; k++)
      if (band_load(t, &bands->kids[k])) {
        bh_err(err, errsz, "%s/%s: a band of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
               t->name);
        return -1;
      }
  if (present && present->k == J_ARR)
    for (size_t k = 0; k < present->nkids; k++) {
      char kerr[128];
      struct key *key = key_from_json(&present->kids[k], kerr, sizeof kerr);
      if (!key) {
        bh_err(err, errsz, "%s/%s: a key of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
               t->name);
        return -1;
      }
      struct buf kb = BUF_INIT;
      key_to_json(key, &kb);
      stab_present_add(t, buf_steal(&kb));
      key_free(key);
    }
  return 0;
}

int statefile_load(struct snapshot *s, const struct buf *text, int *done, char *err, size_t errsz)
{
  struct jv root;
  size_t pos = 0;
  char what[128];
  int rc = -1;
  if (json_parse_value(text->p, text->len, &pos, &root, what, sizeof what) < 0) {
    bh_err(err, errsz, "%s/%s is damaged (%s at byte %zu): remove it to take a new snapshot", s->state_dir,
           STATE_NAME, what, pos);
    goto out;
  }
  const struct jv *fmt = jv_member(&root, "format"), *h = jv_member(&root, "handover"),
                  *ord = jv_member(&root, "ordinal"), *dn = jv_member(&root, "done"),
                  *ts = jv_member(&root, "ts"), *tabs = jv_member(&root, "tables");
  if (!fmt || fmt->k != J_NUM || atoi(fmt->s) != STATE_FORMAT_SNAPSHOT || !h || read_pos(h, &s->handover) ||
      !ord || ord->k != J_NUM || !tabs || tabs->k != J_ARR || !dn) {
    bh_err(err, errsz, "%s/%s is not a snapshot state this binhook wrote: remove it to take a new snapshot",
           s->state_dir, STATE_NAME);
    goto out;
  }
  s->ordinal = strtoull(ord->s, NULL, 10);
  s->committed_rows = s->ordinal;
  if (ts && ts->k == J_NUM) s->ts = (uint32_t)strtoul(ts->s, NULL, 10);
  *done = dn->k == J_TRUE;
  for (size_t i = 0; i < tabs->nkids; i++)
    if (load_entry(s, &tabs->kids[i], i, err, errsz)) goto out;
  rc = 0;
out:
  jv_free(&root);
  return rc;
}

int snapshot_status(const char *state_dir, enum snapshot_status *out, char *err, size_t errsz)
{
  struct buf text = BUF_INIT;
  *out = SNAPSHOT_NONE;
  int r = statefile_read(state_dir, STATE_NAME, &text, err, errsz);
  if (r <= 0) {
    buf_free(&text);
    return r;
  }
  struct snapshot_opts o;
  memset(&o, 0, sizeof o);
  o.state_dir = state_dir;
  struct snapshot *s = snapshot_new(&o);
  int done = 0;
  r = statefile_load(s, &text, &done, err, errsz);
  snapshot_free(s);
  buf_free(&text);
  if (r) return -1;
  *out = done ? SNAPSHOT_FINISHED : SNAPSHOT_UNFINISHED;
  return 0;
}

int statefile_remove_sent(const char *dir, char *err, size_t errsz)
{
  return state_file_remove(dir, SENT_NAME, err, errsz);
}

int snapshot_forget(const char *state_dir, char *err, size_t errsz)
{
  if (statefile_remove_sent(state_dir, err, errsz)) return -1;
  if (state_file_remove(state_dir, STATE_NAME, err, errsz)) return -1;
  return state_sync_dir(state_dir, err, errsz);
}

int statefile_take_sent(struct snapshot *s, char *err, size_t errsz)
{
  char path[PATH_MAX], what[128];
  snprintf(path, sizeof path, "%s/%s", s->state_dir, SENT_NAME);
  struct buf text = BUF_INIT;
  int have = statefile_read(s->state_dir, SENT_NAME, &text, err, errsz);
  if (have <= 0) {
    buf_free(&text);
    return have;
  }
  struct jv root;
  size_t pos = 0;
  int rc = -1;
  if (json_parse_value(text.p, text.len, &pos, &root, what, sizeof what) < 0) {
    /* written whole or not at all: a damaged one was not written here */
    bh_err(err, errsz,
           "%s is damaged (%s at byte %zu): remove it and the snapshot state to take a new snapshot", path,
           what, pos);
    goto out;
  }
  const struct jv *chunks = jv_member(&root, "chunks");
  if (!chunks || chunks->k != J_ARR) {
    bh_err(err, errsz,
           "%s is not one this binhook wrote: remove it and the snapshot state to take a new snapshot", path);
    goto out;
  }
  for (size_t i = 0; i < chunks->nkids; i++) {
    const struct jv *o = &chunks->kids[i], *sc = jv_member(o, "schema"), *nm = jv_member(o, "name"),
                    *band = jv_member(o, "band");
    if (!sc || sc->k != J_STR || !nm || nm->k != J_STR || !band) {
      bh_err(err, errsz, "%s: chunk %zu is damaged (remove it and the snapshot state to take a new snapshot)",
             path, i + 1);
      goto out;
    }
    struct stab *t = stab_find(s, sc->s, nm->s);
    if (!t) t = stab_add(s, sc->s, nm->s);
    if (t->done) continue; /* committed whole meanwhile */
    if (band_load(t, band)) {
      bh_err(err, errsz, "%s: chunk %zu is damaged (remove it and the snapshot state to take a new snapshot)",
             path, i + 1);
      goto out;
    }
    t->collecting = 1;
    s->taken_sent++;
  }
  rc = 0;
out:
  jv_free(&root); /* the parser leaves it to be freed either way */
  buf_free(&text);
  return rc;
}

int snapshot_commit(struct snapshot *s, uint64_t seq, char *err, size_t errsz)
{
  pthread_mutex_lock(&s->lock);
  struct pending *found = NULL;
  while (s->pend && s->pend->seq <= (uint32_t)seq) {
    struct pending *p = s->pend;
    s->pend = p->next;
    if (!s->pend) s->pend_tail = &s->pend;
    if (found) {
      free(found->json);
      free(found);
    }
    found = p;
  }
  pthread_mutex_unlock(&s->lock);
  if (!found) return 0;
  int rc = state_file_write(s->state_dir, STATE_NAME, found->json, strlen(found->json), err, errsz);
  if (!rc) { /* their chunks are in the state now; the file is rewritten at the next chunk */
    pthread_mutex_lock(&s->lock);
    size_t k = 0;
    for (size_t i = 0; i < s->nsent; i++)
      if (s->sent[i].seq <= found->seq)
        free(s->sent[i].json);
      else
        s->sent[k++] = s->sent[i];
    s->nsent = k;
    pthread_mutex_unlock(&s->lock);
  }
  if (!rc) {
    pthread_mutex_lock(&s->lock);
    s->committed_rows = found->ordinal;
    pthread_mutex_unlock(&s->lock);
  }
  free(found->json);
  free(found);
  return rc;
}

uint64_t snapshot_committed_rows(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  uint64_t n = s->committed_rows;
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* SENT_NAME's text: the chunks sent whose state is not committed. Called
 * with lock held; the text is written by the caller. */
static void sent_json(struct snapshot *s, struct buf *b)
{
  buf_printf(b, "{\"format\":%d,\"chunks\":[", STATE_FORMAT_SNAPSHOT);
  for (size_t i = 0; i < s->nsent; i++) {
    if (i) buf_addc(b, ',');
    buf_adds(b, "\n");
    buf_adds(b, s->sent[i].json);
  }
  buf_adds(b, "]}\n");
}

int statefile_announce(struct snapshot *s, const struct stab *t, const struct band *g, uint64_t seq,
                       char *err, size_t errsz)
{
  struct buf one = BUF_INIT, file = BUF_INIT;
  buf_adds(&one, "{\"schema\":");
  buf_add_json_str(&one, t->schema, strlen(t->schema));
  buf_adds(&one, ",\"name\":");
  buf_add_json_str(&one, t->name, strlen(t->name));
  buf_adds(&one, ",\"band\":");
  band_json(g, &one);
  buf_addc(&one, '}');
  pthread_mutex_lock(&s->lock);
  if (s->nsent && s->sent[s->nsent - 1].seq == seq) { /* nothing sent of it before a reopen: replaced */
    free(s->sent[s->nsent - 1].json);
    s->nsent--;
  }
  s->sent = xrealloc(s->sent, (s->nsent + 1) * sizeof *s->sent);
  s->sent[s->nsent++] = (struct sent){.seq = seq, .json = buf_steal(&one)};
  sent_json(s, &file);
  pthread_mutex_unlock(&s->lock);
  int rc = state_file_write(s->state_dir, SENT_NAME, file.p, file.len, err, errsz);
  buf_free(&file);
  return rc;
}

int statefile_write(struct snapshot *s, char *err, size_t errsz)
{
  struct buf b = BUF_INIT;
  statefile_json(s, 0, &b);
  int rc = state_file_write(s->state_dir, STATE_NAME, b.p, b.len, err, errsz);
  buf_free(&b);
  return rc;
}

void statefile_pend(struct snapshot *s, uint64_t seq, int done)
{
  struct pending *p = xcalloc(1, sizeof *p);
  struct buf b = BUF_INIT;
  statefile_json(s, done, &b);
  p->json = buf_steal(&b);
  p->seq = seq;
  p->ordinal = s->ordinal;
  pthread_mutex_lock(&s->lock);
  *s->pend_tail = p;
  s->pend_tail = &p->next;
  pthread_mutex_unlock(&s->lock);
}
