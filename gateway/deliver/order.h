/* order.h - delivery order by key: deliveries that share a key go one at a
 * time, in the order they were added; deliveries under different keys do
 * not wait for each other. The daemon keys a delivery by endpoint and row
 * (ordering = "key"), by endpoint alone ("endpoint"), or not at all
 * ("none"), so that a failing delivery holds back the later ones for the
 * same row on that endpoint and nothing else.
 *
 * Items are the caller's; the map only keeps pointers to them. */
#ifndef BH_ORDER_H
#define BH_ORDER_H

#include <stddef.h>

struct order;

struct order *order_new(void);

/* Adds item under the n bytes of key. Returns 1 when it is the first under
 * that key (it may go now), 0 when it waits behind others. */
int order_push(struct order *o, const char *key, size_t n, void *item);

/* The first item under key is finished: drops it and returns the next one,
 * which may go now, or NULL when none waits. */
void *order_pop(struct order *o, const char *key, size_t n);

/* Items waiting behind others (not counting the first of each key). */
size_t order_waiting(const struct order *o);

/* Calls fn on every item still held, first ones too, then frees the map. */
void order_free(struct order *o, void (*fn)(void *arg, void *item), void *arg);

#endif
