/* timerheap.c - see timerheap.h. Each item remembers its place, so a
 * removal from the middle sifts from there instead of searching. */
#include "daemon/timerheap.h"
#include "util/util.h"

#include <stdlib.h>

static void swap(struct theap *h, size_t a, size_t b)
{
  struct theap_item *t = h->v[a];
  h->v[a] = h->v[b];
  h->v[b] = t;
  h->v[a]->idx = a + 1;
  h->v[b]->idx = b + 1;
}

static void sift(struct theap *h, size_t i)
{
  while (i > 0 && h->v[(i - 1) / 2]->due > h->v[i]->due) {
    swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < h->n && h->v[l]->due < h->v[m]->due) m = l;
    if (l + 1 < h->n && h->v[l + 1]->due < h->v[m]->due) m = l + 1;
    if (m == i) break;
    swap(h, i, m);
    i = m;
  }
}

void theap_push(struct theap *h, struct theap_item *it, double due)
{
  bh_assert(!it->idx);
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 256;
    h->v = xrealloc(h->v, h->cap * sizeof *h->v);
  }
  it->due = due;
  h->v[h->n++] = it;
  it->idx = h->n;
  sift(h, h->n - 1);
}

void theap_remove(struct theap *h, struct theap_item *it)
{
  if (!it->idx) return;
  size_t i = it->idx - 1;
  bh_assert(i < h->n && h->v[i] == it);
  it->idx = 0;
  if (i != --h->n) {
    h->v[i] = h->v[h->n];
    h->v[i]->idx = i + 1;
    sift(h, i);
  }
}

void theap_free(struct theap *h)
{
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}
