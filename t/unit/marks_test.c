/* marks_test.c - the checkpoint rule (gateway/daemon/marks.c) without a
 * server: the checkpoint moves past a change only when every delivery it
 * caused is released, whatever the order in which deliveries finish. */
#include "daemon/marks.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct position at(uint64_t pos)
{
  struct position p;
  memset(&p, 0, sizeof p);
  snprintf(p.file, sizeof p.file, "binlog.000001");
  p.pos = pos;
  snprintf(p.gtid, sizeof p.gtid, "0-1-%llu", (unsigned long long)pos);
  return p;
}

static void test_no_delivery(void)
{
  struct marks m;
  marks_init(&m, NULL);
  struct position p = at(100);
  marks_boundary(&m, &p, NULL, 1);
  ok(m.dirty, "a boundary with no delivery before it moves the checkpoint at once");
  is_int(m.cp.pos.pos, 100, "to that boundary");
  is_str(m.cp.pos.gtid, "0-1-100", "with its GTID");
  m.dirty = 0;
  p = at(200);
  marks_boundary(&m, &p, NULL, 0);
  ok(!m.dirty && m.cp.pos.pos == 100, "an unsafe boundary (held XA) does not move it");
  is_int(marks_pending(&m), 0, "and leaves no mark behind");
  marks_free(&m);
}

static void test_hold_release(void)
{
  struct marks m;
  struct checkpoint start = {.pos = at(4)};
  marks_init(&m, &start);
  struct mark *a = marks_hold(&m), *b = marks_hold(&m);
  ok(a == b, "deliveries of one transaction hold the same mark");
  struct position p = at(300);
  marks_boundary(&m, &p, NULL, 1);
  ok(!m.dirty && m.cp.pos.pos == 4, "the checkpoint waits for the transaction's deliveries");
  marks_release(&m, a);
  ok(!m.dirty && m.cp.pos.pos == 4, "one of two released: it still waits");
  marks_release(&m, b);
  ok(m.dirty && m.cp.pos.pos == 300, "both released: it moves to the boundary");
  is_int(marks_pending(&m), 0, "the mark is gone");
  marks_free(&m);
}

/* The GTID state travels with the position: the checkpoint takes the
 * state of the boundary it moves to, never a later or an earlier one. */
static void test_gtid_state(void)
{
  struct marks m;
  struct checkpoint start = {.pos = at(4), .gtid_state = rcstr_new("0-1-4", 5)};
  marks_init(&m, &start);
  checkpoint_clear(&start);
  is_str(m.cp.gtid_state ? m.cp.gtid_state->s : NULL, "0-1-4", "the start's GTID state is kept");
  struct mark *a = marks_hold(&m);
  struct position p = at(300);
  struct rcstr *s300 = rcstr_new("0-1-300,7-3-9", 13), *s400 = rcstr_new("0-1-300,7-3-10", 14);
  marks_boundary(&m, &p, s300, 1);
  struct mark *b = marks_hold(&m);
  p = at(400);
  marks_boundary(&m, &p, s400, 1);
  rcstr_unref(s300);
  rcstr_unref(s400);
  marks_release(&m, b);
  is_str(m.cp.gtid_state ? m.cp.gtid_state->s : NULL, "0-1-4", "a later boundary released first: neither moves");
  marks_release(&m, a);
  ok(m.cp.pos.pos == 400, "both released: the checkpoint is at the later boundary");
  is_str(m.cp.gtid_state ? m.cp.gtid_state->s : NULL, "0-1-300,7-3-10", "  with that boundary's state");
  p = at(500);
  marks_boundary(&m, &p, NULL, 1);
  ok(m.cp.pos.pos == 500 && m.cp.gtid_state == NULL, "a boundary whose state is unknown leaves none behind");
  marks_free(&m);
}

static void test_order(void)
{
  struct marks m;
  marks_init(&m, NULL);
  struct mark *a = marks_hold(&m);
  struct position p1 = at(100), p2 = at(200), p3 = at(300);
  marks_boundary(&m, &p1, NULL, 1);
  struct mark *b = marks_hold(&m);
  ok(a != b, "a new transaction holds a new mark");
  marks_boundary(&m, &p2, NULL, 1);
  struct mark *c = marks_hold(&m);
  marks_boundary(&m, &p3, NULL, 1);
  marks_release(&m, c);
  marks_release(&m, b);
  ok(!m.dirty, "later transactions released first: the checkpoint stays before the first");
  is_int(marks_pending(&m), 3, "three marks wait");
  marks_release(&m, a);
  is_int(m.cp.pos.pos, 300, "the first released: it moves past all three at once");
  is_int(marks_pending(&m), 0, "none wait");
  marks_free(&m);
}

static void test_later_boundary(void)
{
  struct marks m;
  marks_init(&m, NULL);
  struct mark *a = marks_hold(&m);
  struct position p1 = at(100), p2 = at(200);
  marks_boundary(&m, &p1, NULL, 1);
  marks_boundary(&m, &p2, NULL, 1); /* a transaction that made no delivery */
  is_int(marks_pending(&m), 1, "a boundary with nothing before it since makes no new mark");
  marks_release(&m, a);
  is_int(m.cp.pos.pos, 200, "the newest mark took the later position");
  marks_free(&m);
}

static void test_xa(void)
{
  struct marks m;
  marks_init(&m, NULL);
  struct mark *a = marks_hold(&m);
  struct position p1 = at(100), p2 = at(200);
  marks_boundary(&m, &p1, NULL, 0); /* an XA PREPARE: its changes come at the XA COMMIT */
  marks_release(&m, a);
  ok(!m.dirty, "a mark closed at an unsafe boundary does not move the checkpoint");
  struct mark *b = marks_hold(&m);
  marks_boundary(&m, &p2, NULL, 1);
  marks_release(&m, b);
  is_int(m.cp.pos.pos, 200, "the next safe boundary does");
  marks_free(&m);
}

static void test_snapshot(void)
{
  struct marks m;
  struct checkpoint start = {.pos = at(4)};
  marks_init(&m, &start);
  marks_snapshot(&m, 1);
  is_int(m.snap_ready, 1, "a chunk marker with nothing waiting is passed at once");
  struct mark *a = marks_hold(&m);
  marks_snapshot(&m, 2);
  is_int(m.snap_ready, 1, "a chunk marker waits for the rows delivered before it");
  struct mark *b = marks_hold(&m);
  marks_snapshot(&m, 3);
  marks_release(&m, b);
  is_int(m.snap_ready, 1, "the later chunk's rows released first: neither is passed");
  marks_release(&m, a);
  is_int(m.snap_ready, 3, "then both");
  ok(!m.dirty && m.cp.pos.pos == 4, "chunk markers never move the checkpoint");
  marks_free(&m);
}

/* Random transactions with random numbers of deliveries, released in a
 * random order: after every release the checkpoint is the boundary of the
 * longest prefix of transactions whose deliveries are all released. */
static void test_random(void)
{
  enum { NTX = 200, MAXD = 4 };
  int failures = 0;
  for (unsigned seed = 1; seed <= 50; seed++) {
    srand(seed);
    struct marks m;
    marks_init(&m, NULL);
    struct mark *held[NTX * MAXD];
    int tx_of[NTX * MAXD], left[NTX], n = 0;
    for (int t = 0; t < NTX; t++) {
      int d = rand() % (MAXD + 1);
      left[t] = d;
      for (int k = 0; k < d; k++) {
        tx_of[n] = t;
        held[n++] = marks_hold(&m);
      }
      struct position p = at((uint64_t)(t + 1) * 10);
      marks_boundary(&m, &p, NULL, 1);
    }
    for (int i = n - 1; i > 0; i--) { /* shuffle */
      int j = rand() % (i + 1);
      struct mark *hm = held[i];
      held[i] = held[j];
      held[j] = hm;
      int ht = tx_of[i];
      tx_of[i] = tx_of[j];
      tx_of[j] = ht;
    }
    for (int i = 0; i < n; i++) {
      marks_release(&m, held[i]);
      left[tx_of[i]]--;
      int t = 0;
      while (t < NTX && !left[t]) t++;
      /* every transaction before t is released (or made no delivery): the
       * checkpoint is t's start, the boundary of t - 1 */
      if (m.cp.pos.pos != (uint64_t)t * 10) failures++;
    }
    if (m.cp.pos.pos != (uint64_t)NTX * 10) failures++;
    marks_free(&m);
  }
  is_int(failures, 0, "random releases: the checkpoint is always the end of the released prefix");
}

/* Setting marks again over a checkpoint that holds a GTID state (a queue
 * rebuilt after damage, a resume given up for a new snapshot) releases
 * that state: the sanitizer build reports the reference otherwise. */
static void test_reset(void)
{
  struct marks m;
  struct checkpoint loaded = {.pos = at(4), .gtid_state = rcstr_new("0-1-7", 5)};
  marks_init(&m, &loaded);
  checkpoint_clear(&loaded);
  marks_hold(&m);
  struct checkpoint back = {.pos = at(120)};
  marks_reset(&m, &back);
  ok(m.cp.pos.pos == 120 && !m.cp.gtid_state && !marks_pending(&m), "reset: the new checkpoint, no state, no marks");
  marks_free(&m);
}

int main(void)
{
  test_reset();
  test_no_delivery();
  test_hold_release();
  test_gtid_state();
  test_order();
  test_later_boundary();
  test_xa();
  test_snapshot();
  test_random();
  return done_testing();
}
