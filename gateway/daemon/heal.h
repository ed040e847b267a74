/* heal.h - the retry queue healed at start, after opening it found damage
 * (retryq_damage: a missing or shortened segment, damaged records).
 *
 * The deliveries lost with it are made again by reading the binlog again
 * from the queue's low-water mark, with the same webhook-ids (at least
 * once: some are delivered twice). The waiting deliveries that survived are
 * made again too, so that each row's deliveries keep the order of its
 * changes; dead letters stay as they are. Before anything else the
 * checkpoint is moved back to the low-water mark, so that a crash meanwhile
 * reads from there again. When the server no longer has that binlog, the
 * lost deliveries are given up: each is named in the log and written as a
 * dead letter (reason "lost: queue damaged, binlog purged"); what cannot be
 * named is said so. The queue's manifest is written anew (retryq_healed)
 * once all of that is durable.
 *
 * Main thread, before the source starts. */
#ifndef BH_HEAL_H
#define BH_HEAL_H

struct daemon;
struct source_opts;

#define HEAL_REASON_PURGED "lost: queue damaged, binlog purged"
#define HEAL_REASON_DEAD "lost: queue damaged, was a dead letter"

/* Decides where reading starts when the queue was damaged: so->start moved
 * back to the low-water mark (from_cp: it was the checkpoint's), or the
 * lost deliveries written as dead letters. Returns 0, or 1 after logging
 * (the queue cannot be written). */
int heal_start(struct daemon *dm, struct source_opts *so, int from_cp);

#endif
