/* marks.c - see marks.h. A singly linked list, oldest first: deliveries
 * finish in any order, marks are passed in order. */
#include "daemon/marks.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

void marks_init(struct marks *m, const struct checkpoint *cp)
{
  memset(m, 0, sizeof *m);
  if (cp) checkpoint_copy(&m->cp, cp);
}

void marks_reset(struct marks *m, const struct checkpoint *cp)
{
  marks_free(m);
  marks_init(m, cp);
}

/* Passes the marks at the head that are closed and released. */
static void advance(struct marks *m)
{
  while (m->head && m->head->closed && !m->head->open) {
    struct mark *k = m->head;
    if (k->safe) {
      m->cp.pos = k->pos;
      rcstr_unref(m->cp.gtid_state);
      m->cp.gtid_state = k->gtid_state; /* the mark's reference moves */
      k->gtid_state = NULL;
      m->dirty = 1;
    }
    rcstr_unref(k->gtid_state);
    if (k->snapseq > m->snap_ready) m->snap_ready = k->snapseq;
    m->head = k->next;
    if (!m->head) m->tail = NULL;
    free(k);
  }
}

/* The open mark, made when the newest one is closed. */
static struct mark *open_mark(struct marks *m)
{
  struct mark *t = m->tail;
  if (t && !t->closed) return t;
  t = xcalloc(1, sizeof *t);
  if (m->tail) m->tail->next = t;
  else m->head = t;
  m->tail = t;
  return t;
}

struct mark *marks_hold(struct marks *m)
{
  struct mark *k = open_mark(m);
  k->open++;
  return k;
}

void marks_release(struct marks *m, struct mark *k)
{
  bh_assert(k && k->open > 0);
  k->open--;
  advance(m);
}

/* *slot becomes a new reference to s. */
static void set_state(struct rcstr **slot, struct rcstr *s)
{
  if (s) rcstr_ref(s);
  rcstr_unref(*slot);
  *slot = s;
}

void marks_boundary(struct marks *m, const struct position *pos, struct rcstr *gtid_state, int safe)
{
  struct mark *t = m->tail;
  if (!t) {
    if (safe) {
      m->cp.pos = *pos;
      set_state(&m->cp.gtid_state, gtid_state);
      m->dirty = 1;
    }
    return;
  }
  t->pos = *pos;
  set_state(&t->gtid_state, gtid_state);
  t->safe = safe;
  t->closed = 1;
  advance(m);
}

void marks_snapshot(struct marks *m, uint64_t seq)
{
  if (!m->tail) {
    if (seq > m->snap_ready) m->snap_ready = seq;
    return;
  }
  /* the snapshot's rows up to here are saved once their deliveries are
   * released; the checkpoint stays at the handover meanwhile */
  struct mark *t = open_mark(m);
  t->snapseq = seq;
  t->safe = 0;
  t->closed = 1;
  advance(m);
}

size_t marks_pending(const struct marks *m)
{
  size_t n = 0;
  for (const struct mark *k = m->head; k; k = k->next) n++;
  return n;
}

void marks_free(struct marks *m)
{
  while (m->head) {
    struct mark *k = m->head;
    m->head = k->next;
    rcstr_unref(k->gtid_state);
    free(k);
  }
  m->tail = NULL;
  checkpoint_clear(&m->cp);
}
