/* timerheap.h - many timers behind one: a binary min-heap of items by due
 * time, so that thousands of deliveries waiting for a retry need one
 * libevent timer armed for the earliest of them, and adding or removing one
 * costs O(log n).
 *
 * Items are the caller's: it embeds a struct theap_item in its own struct
 * and gets it back from theap_top (container_of style). The heap only keeps
 * pointers; it never allocates or frees an item. No libevent here: the
 * caller arms its timer for theap_top's due time. */
#ifndef BH_TIMERHEAP_H
#define BH_TIMERHEAP_H

#include <stddef.h>

struct theap_item {
  double due; /* when it is due (the caller's clock, e.g. bh_mono) */
  size_t idx; /* its place in the heap plus 1; 0 while not in it */
};

struct theap {
  struct theap_item **v;
  size_t n, cap;
};

#define THEAP_INIT {NULL, 0, 0}

/* Adds it (not in the heap yet) due at due. */
void theap_push(struct theap *h, struct theap_item *it, double due);

/* Removes it; nothing when it is not in the heap. */
void theap_remove(struct theap *h, struct theap_item *it);

/* The item due first, or NULL when empty. */
static inline struct theap_item *theap_top(const struct theap *h) { return h->n ? h->v[0] : NULL; }

/* Whether it is in the heap. */
static inline int theap_has(const struct theap_item *it) { return it->idx != 0; }

/* Frees the heap's array (not the items). */
void theap_free(struct theap *h);

#endif
