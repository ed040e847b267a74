/* strset.c - see strset.h. Linear probing; the table doubles at half full. */
#include "util/strset.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

static size_t home(const struct strset *set, const char *s) { return bh_fnv1a(s, strlen(s)) & (set->cap - 1); }

void strset_add(struct strset *set, const char *s)
{
  if ((set->n + 1) * 2 > set->cap) {
    struct strset big = {xcalloc(set->cap ? set->cap * 2 : 256, sizeof(char *)), set->cap ? set->cap * 2 : 256, 0};
    for (size_t i = 0; i < set->cap; i++)
      if (set->slot[i]) {
        size_t j = home(&big, set->slot[i]);
        while (big.slot[j]) j = (j + 1) & (big.cap - 1);
        big.slot[j] = set->slot[i];
        big.n++;
      }
    free(set->slot);
    *set = big;
  }
  size_t j = home(set, s);
  while (set->slot[j]) j = (j + 1) & (set->cap - 1);
  set->slot[j] = xstrdup(s);
  set->n++;
}

int strset_has(const struct strset *set, const char *s)
{
  if (!set->n) return 0;
  for (size_t j = home(set, s); set->slot[j]; j = (j + 1) & (set->cap - 1))
    if (!strcmp(set->slot[j], s)) return 1;
  return 0;
}

void strset_free(struct strset *set)
{
  for (size_t i = 0; i < set->cap; i++) free(set->slot[i]);
  free(set->slot);
  memset(set, 0, sizeof *set);
}
