/* order.c - see order.h. An open-addressing hash of keys, each with a FIFO
 * of items (a growable ring); a key's slot is emptied when its last item
 * goes, with backward-shift deletion so that lookups stay short. */
#include "deliver/order.h"
#include "util/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct keyfifo {
  char *key; /* NULL: free slot */
  size_t keylen;
  uint64_t hash;
  void **items; /* ring */
  size_t head, len, cap;
};

struct order {
  struct keyfifo *slots;
  size_t nslots, used, waiting;
};

struct order *order_new(void)
{
  struct order *o = xcalloc(1, sizeof *o);
  o->nslots = 64;
  o->slots = xcalloc(o->nslots, sizeof *o->slots);
  return o;
}

static struct keyfifo *find(struct order *o, const char *key, size_t n, uint64_t h)
{
  size_t i = h & (o->nslots - 1);
  while (o->slots[i].key) {
    struct keyfifo *l = &o->slots[i];
    if (l->hash == h && l->keylen == n && !memcmp(l->key, key, n)) return l;
    i = (i + 1) & (o->nslots - 1);
  }
  return &o->slots[i]; /* the free slot where it would go */
}

static void grow(struct order *o)
{
  struct keyfifo *old = o->slots;
  size_t n = o->nslots;
  o->nslots *= 2;
  o->slots = xcalloc(o->nslots, sizeof *o->slots);
  for (size_t i = 0; i < n; i++) {
    if (!old[i].key) continue;
    size_t j = old[i].hash & (o->nslots - 1);
    while (o->slots[j].key)
      j = (j + 1) & (o->nslots - 1);
    o->slots[j] = old[i];
  }
  free(old);
}

int order_push(struct order *o, const char *key, size_t n, void *item)
{
  if ((o->used + 1) * 4 > o->nslots * 3) grow(o);
  uint64_t h = bh_fnv1a(key, n);
  struct keyfifo *l = find(o, key, n, h);
  if (!l->key) {
    l->key = xmalloc(n + 1);
    memcpy(l->key, key, n);
    l->key[n] = 0;
    l->keylen = n;
    l->hash = h;
    o->used++;
  }
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    void **items = xmalloc(cap * sizeof *items);
    for (size_t i = 0; i < l->len; i++)
      items[i] = l->items[(l->head + i) % l->cap];
    free(l->items);
    l->items = items;
    l->head = 0;
    l->cap = cap;
  }
  l->items[(l->head + l->len) % l->cap] = item;
  l->len++;
  if (l->len > 1) o->waiting++;
  return l->len == 1;
}

/* Empties slot i and moves later entries of its run back (linear probing
 * deletion without tombstones). */
static void remove_slot(struct order *o, size_t i)
{
  free(o->slots[i].key);
  free(o->slots[i].items);
  memset(&o->slots[i], 0, sizeof o->slots[i]);
  o->used--;
  size_t j = i;
  for (;;) {
    j = (j + 1) & (o->nslots - 1);
    if (!o->slots[j].key) return;
    size_t home = o->slots[j].hash & (o->nslots - 1);
    /* can the entry at j move to the hole at i? only if its home is not in (i, j] */
    int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (between) continue;
    o->slots[i] = o->slots[j];
    memset(&o->slots[j], 0, sizeof o->slots[j]);
    i = j;
  }
}

void *order_pop(struct order *o, const char *key, size_t n)
{
  uint64_t h = bh_fnv1a(key, n);
  struct keyfifo *l = find(o, key, n, h);
  if (!l->key || !l->len) return NULL;
  l->head = (l->head + 1) % l->cap;
  l->len--;
  if (!l->len) {
    remove_slot(o, (size_t)(l - o->slots));
    return NULL;
  }
  o->waiting--;
  return l->items[l->head];
}

size_t order_waiting(const struct order *o) { return o->waiting; }

void order_free(struct order *o, void (*fn)(void *arg, void *item), void *arg)
{
  if (!o) return;
  for (size_t i = 0; i < o->nslots; i++) {
    struct keyfifo *l = &o->slots[i];
    if (!l->key) continue;
    for (size_t k = 0; k < l->len; k++)
      if (fn) fn(arg, l->items[(l->head + k) % l->cap]);
    free(l->key);
    free(l->items);
  }
  free(o->slots);
  free(o);
}
