/* strset.h - a set of strings (open addressing, FNV-1a): the webhook-ids of
 * the retry queue at start, so that deliveries the binlog makes again are
 * not made twice. The set owns copies of its strings. */
#ifndef BH_STRSET_H
#define BH_STRSET_H

#include <stddef.h>

struct strset {
  char **slot;
  size_t cap, n;
};

#define STRSET_INIT {NULL, 0, 0}

/* Adds a copy of s (no check for one already there). */
void strset_add(struct strset *set, const char *s);

/* 1 when s is in the set. */
int strset_has(const struct strset *set, const char *s);

void strset_free(struct strset *set);

#endif
