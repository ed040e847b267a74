/* sched.h - the delivery scheduler: deliveries made from matches, ordered
 * per row, sent through the engine within each endpoint's room, retried on
 * the retry policy's schedule (one timer for all), and finished
 * (acknowledged or dead). Every change of a job's state happens here or in
 * spool.h, through job_move (job.h).
 *
 * Called on the main loop only. The daemon owns the jobs (struct
 * daemon.all); a job is freed when it is finished and the retry queue's
 * writer is through with it. */
#ifndef BH_SCHED_H
#define BH_SCHED_H

#include "deliver/deliver.h"
#include "util/buf.h"

#include <event2/event.h>
#include <stdint.h>
#include <time.h>

struct change;
struct daemon;
struct endpoint;
struct job;
struct lane;
struct mark;
struct retryq_rec;
struct rule;
struct ruleset;

/* The key of a row on an endpoint: "endpoint \n schema.table \n key JSON"
 * (the ordering key with ordering = "key", and the coalescing key). */
void sched_row_key(const char *endpoint, const struct change *e, struct buf *k);

/* Makes the delivery of a match of rule to ep (rs holds both). mark: the
 * checkpoint mark it holds, already counted (coalescing), or NULL to hold
 * the open one. A request that cannot be built is logged; one the retry
 * queue holds already (made before a restart) is skipped. */
void sched_make(struct daemon *dm, struct ruleset *rs, const struct rule *rule, const struct endpoint *ep,
                const struct change *e, struct mark *mark);

/* A job for a delivery of the retry queue (read back at start, a parked
 * one, or a dead letter sent again), its request left on disk; HELD when it
 * waits behind an earlier delivery of the same row. */
struct job *sched_job_of_rec(struct daemon *dm, const struct retryq_rec *rec, uint32_t attempts, double born);

/* j, read back from the queue, waits for its retry (due, seconds since the
 * epoch) or goes now, unless it is held. */
void sched_resume(struct daemon *dm, struct job *j, int64_t due, time_t now);

/* j may be sent now (its key is free, its retry is due). */
void sched_enqueue(struct daemon *dm, struct job *j);

/* Hands l's ready jobs to the engine while it has room. */
void sched_pump(struct daemon *dm, struct lane *l);

/* j cannot be sent (why): a dead letter now, durable before its mark goes;
 * counted as dead; then sched_finish. */
void sched_dead_now(struct daemon *dm, struct job *j, const char *why);

/* A delivery is over: acknowledged, or dead (j->dead), or left in the queue
 * at a stop. Its key goes to the next delivery of the same row. */
void sched_finish(struct daemon *dm, struct job *j);

/* The job gives up its checkpoint mark (acknowledged or durable). */
void sched_release(struct daemon *dm, struct job *j);

/* Drops j's request from memory (it is on disk, or finished). */
void sched_unload(struct daemon *dm, struct job *j);

/* Frees j and takes it off every list. */
void sched_job_free(struct daemon *dm, struct job *j);

/* The engine's done callback (deliver_new's). */
void sched_on_done(void *arg, void *user, struct request *q, const struct deliver_result *res);

/* The retry heap's timer (dm->retry_ev): due jobs go to their lanes. */
void sched_on_retry_timer(evutil_socket_t fd, short what, void *arg);

#endif
