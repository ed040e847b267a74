/* intake.h - changes taken from the source's queue into the daemon:
 * filtered by a resumed snapshot, counted, matched against the rules
 * (matches become deliveries: sched.h, coalesce.h), their transaction
 * boundaries handed to the checkpoint marks. And backpressure: while too
 * many requests wait for the engine, or the retry queue is full or cannot
 * be written, the loop stops taking changes; the source's queue fills and
 * the source stops reading the binlog. Nothing is dropped. */
#ifndef BH_INTAKE_H
#define BH_INTAKE_H

#include <event2/event.h>

struct change;
struct daemon;
struct rule;

/* The change queue's fd became readable (dm->qev). */
void intake_take(evutil_socket_t fd, short what, void *arg);

/* One stream event (the caller frees it). */
void intake_feed(struct daemon *dm, struct change *e);

/* The matcher's callback: rule matched e. */
void intake_on_match(void *arg, const struct rule *rule, const struct change *e);

#endif
