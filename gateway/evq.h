/* evq.h - the bounded queue that carries events from the source thread to
 * the main loop. Bounded in events and in bytes: when full, the producer
 * blocks, so a slow consumer slows the binlog reader instead of growing
 * memory (backpressure, never loss). The consumer can wait on a file
 * descriptor (for an event loop) or block in evq_pop. */
#ifndef BH_EVQ_H
#define BH_EVQ_H

#include "change.h"

#include <stddef.h>

struct evq;

/* max_events and max_bytes bound the queue; one event larger than max_bytes
 * is still let through alone. */
struct evq *evq_new(size_t max_events, size_t max_bytes);
void evq_free(struct evq *q); /* frees queued events too */

/* Appends e (the queue takes it). Blocks while full. Returns 0, or -1 when the
 * queue was closed (e is then freed). */
int evq_push(struct evq *q, struct change *e);

/* Appends the n events head..tail (linked by next, sz bytes by change_size
 * in all) at once: one wake-up of the consumer for all of them. Blocks while
 * they do not fit (they go in alone into an empty queue). Returns 0, or -1
 * when the queue was closed (they are then freed). */
int evq_push_list(struct evq *q, struct change *head, struct change *tail, size_t n, size_t sz);

/* Hands consumed events head..tail (linked by next) back: the producer
 * frees them at its next push (or evq_free does), so that memory goes back
 * in the thread that allocated it, without contention between the two. */
void evq_recycle(struct evq *q, struct change *head, struct change *tail);

/* Takes the oldest event (caller frees), blocking until there is one or the
 * queue is closed and empty (then NULL). */
struct change *evq_pop(struct evq *q);
/* Same without blocking: NULL when empty. */
struct change *evq_trypop(struct evq *q);

/* Takes everything queued, as a list linked by next (caller frees each),
 * waiting up to timeout_ms (-1: forever, 0: not at all) for the first event.
 * NULL on timeout, or when closed and empty. */
struct change *evq_pop_all(struct evq *q, int timeout_ms);

/* 1 once the queue is closed and drained. */
int evq_closed(struct evq *q);

/* Closes the queue: producers fail, the consumer drains what is left and then
 * gets NULL. */
void evq_close(struct evq *q);

/* A descriptor that is readable while events are queued (or after close);
 * kept up to date only once asked for. */
int evq_fd(struct evq *q);

/* Current depth, for metrics; *blocked_ms is how long producers waited in all. */
size_t evq_depth(struct evq *q, size_t *bytes, unsigned long long *blocked_ms);

#endif
