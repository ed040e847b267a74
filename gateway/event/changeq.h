/* changeq.h - the bounded queue that carries events from the source thread to
 * the main loop. Bounded in events and in bytes: when full, the producer
 * blocks, so a slow consumer slows the binlog reader instead of growing
 * memory (backpressure, never loss). The consumer can wait on a file
 * descriptor (for an event loop) or block in changeq_pop. */
#ifndef BH_CHANGEQ_H
#define BH_CHANGEQ_H

#include "event/change.h"

#include <stddef.h>

struct changeq;

/* max_events and max_bytes bound the queue; one event larger than max_bytes
 * is still let through alone. */
struct changeq *changeq_new(size_t max_events, size_t max_bytes);
void changeq_free(struct changeq *q); /* frees queued events too */

/* Appends e (the queue takes it). Blocks while full. Returns 0, or -1 when the
 * queue was closed (e is then freed). */
int changeq_push(struct changeq *q, struct change *e);

/* Appends the n events head..tail (linked by next, sz bytes by change_size
 * in all) at once: one wake-up of the consumer for all of them. Blocks while
 * they do not fit (they go in alone into an empty queue). Returns 0, or -1
 * when the queue was closed (they are then freed). */
int changeq_push_list(struct changeq *q, struct change *head, struct change *tail, size_t n, size_t sz);

/* changeq_push_list, but the events the consumer handed back
 * (changeq_recycle) come back through *recycled (a list linked by next,
 * its last in *recycled_tail; NULL when none) for the producer to reuse or
 * free, instead of being freed here. On -1, both are NULL (changeq_free
 * frees them). */
int changeq_push_list_reclaim(struct changeq *q, struct change *head, struct change *tail, size_t n, size_t sz,
                              struct change **recycled, struct change **recycled_tail);

/* Hands consumed events head..tail (linked by next) back: the producer
 * frees them at its next push (or changeq_free does), so that memory goes back
 * in the thread that allocated it, without contention between the two. */
void changeq_recycle(struct changeq *q, struct change *head, struct change *tail);

/* Takes the oldest event (caller frees), blocking until there is one or the
 * queue is closed and empty (then NULL). */
struct change *changeq_pop(struct changeq *q);
/* Same without blocking: NULL when empty. */
struct change *changeq_trypop(struct changeq *q);

/* Takes everything queued, as a list linked by next (caller frees each),
 * waiting up to timeout_ms (-1: forever, 0: not at all) for the first event.
 * NULL on timeout, or when closed and empty. */
struct change *changeq_pop_all(struct changeq *q, int timeout_ms);

/* 1 once the queue is closed and drained. */
int changeq_closed(struct changeq *q);

/* Closes the queue: producers fail, the consumer drains what is left and then
 * gets NULL. */
void changeq_close(struct changeq *q);

/* A descriptor that is readable while events are queued (or after close);
 * kept up to date only once asked for. */
int changeq_fd(struct changeq *q);

/* Current depth, for metrics; *blocked_ms is how long producers waited in all. */
size_t changeq_depth(struct changeq *q, size_t *bytes, unsigned long long *blocked_ms);

#endif
