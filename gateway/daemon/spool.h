/* spool.h - deliveries between memory and the retry queue (store/retryq.h).
 *
 * A delivery goes into the queue ("spilled") when its first attempt fails,
 * when it is still unfinished SPILL_AFTER seconds after it was made (a slow
 * or closed endpoint, a key held by an earlier failure), when its endpoint
 * is slow while others wait, or at a stop; a delivery acknowledged at once
 * never touches the disk. Once its record is durable it releases its
 * checkpoint mark, and, when it is not in flight, its request leaves memory
 * (read back when it is sent). An endpoint holding too many deliveries in
 * memory parks its new ones on disk only and reads them back in order as
 * it drains. At start the queue is read back.
 *
 * Lists kept here: fresh (made, not in the queue yet, oldest first) and
 * unsynced (written, waiting for the writer to make them durable, in
 * ticket order). Main loop only. */
#ifndef BH_SPOOL_H
#define BH_SPOOL_H

#include <event2/event.h>
#include <stdint.h>

struct daemon;
struct job;
struct lane;

/* j is new: it joins the fresh list. */
void spool_fresh_add(struct daemon *dm, struct job *j);
void spool_fresh_unlink(struct daemon *dm, struct job *j);

/* Whether j waits for the writer (on the unsynced list). */
int spool_tracked(const struct daemon *dm, const struct job *j);

/* j's newest record has this ticket: released and unloaded once durable. */
void spool_track(struct daemon *dm, struct job *j, uint64_t ticket);

/* Writes j into the queue (its first record; nothing when it is there),
 * due at due (seconds since the epoch). */
void spool_spill(struct daemon *dm, struct job *j, int64_t due);

/* The writer made records durable (or failed to): the retry queue's fd. */
void spool_on_durable(evutil_socket_t fd, short what, void *arg);

/* Whether l keeps its new deliveries on disk only. */
int spool_lane_parks(const struct daemon *dm, const struct lane *l);

/* j (new) waits on disk only; spool_refill reads it back. */
void spool_park(struct daemon *dm, struct lane *l, struct job *j);

/* Reads parked deliveries of l back, oldest first, while it has room. */
void spool_refill(struct daemon *dm, struct lane *l);

/* Reading waits for the engine: the requests of slow endpoints go to the
 * queue now, so that they do not hold back reading for the others. */
void spool_spill_slow(struct daemon *dm);

/* Deliveries unfinished for SPILL_AFTER seconds go into the queue (the
 * loop's tick). */
void spool_spill_old(struct daemon *dm);

/* At start: the queue read back; waiting deliveries are scheduled (per
 * key, in the order they were made), their webhook-ids remembered. */
void spool_restore(struct daemon *dm);

#endif
