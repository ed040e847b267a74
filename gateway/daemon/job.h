/* job.h - one delivery across its attempts, and its life cycle as an
 * explicit state machine:
 *
 *            +-----------------------------------------------+
 *            |                                               v
 *   NEW --> READY --> ENGINE --> RETRY --> READY ...       DONE
 *    |  \     ^          |                                   ^
 *    |   HELD-+          +-----------------------------------+
 *    +--> PARKED                      (acknowledged, or dead)
 *
 *   NEW     made from a match, or read back from the retry queue
 *   HELD    waits behind an earlier delivery of the same row (order.h)
 *   READY   in its lane's list, waiting for room in the engine
 *   ENGINE  handed to the delivery engine (deliver.h): on the wire or
 *           waiting there for a slot, the rate limit or a closed circuit
 *   RETRY   failed; waits in the timer heap for its next attempt (or, at a
 *           stop, stays in the retry queue due now); also READY -> RETRY
 *           when its request cannot be read now (a state store in a
 *           database whose server restarts)
 *   PARKED  on disk only: its lane holds too many in memory; read back in
 *           order as the lane drains (a new job is made then)
 *   DONE    acknowledged or dead; kept until the retry queue's writer has
 *           made its last record durable, then freed
 *
 * job_move is the one way to change a job's state; it asserts that the move
 * is legal, so a scheduling bug stops the daemon at once instead of losing
 * a delivery quietly. Who owns what: a job owns its id, its ordering key, its
 * change's binlog file and GTID, and its request while it holds one (q); the scheduler (sched.h) owns jobs. */
#ifndef BH_JOB_H
#define BH_JOB_H

#include "daemon/timerheap.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum job_state { JOB_NEW, JOB_HELD, JOB_READY, JOB_ENGINE, JOB_RETRY, JOB_PARKED, JOB_DONE };
#define JOB_NSTATES (JOB_DONE + 1)

struct lane;
struct mark;
struct request;
struct ruleset;

struct job {
  enum job_state state;
  struct lane *lane;    /* its endpoint's */
  const char *rule;     /* the rule's name, interned (stats.h) */
  char *id;             /* webhook-id */
  struct request *q;    /* its request, or NULL while in the engine or only on disk */
  struct request *sent; /* JOB_ENGINE: the request the engine holds */
  struct ruleset *rs;   /* a reference that keeps q's rule and endpoint alive */
  unsigned attempts;
  time_t first;         /* when it was made (wall clock: max_age, the queue) */
  double born;          /* when it was made (monotonic: latency, spilling) */
  struct theap_item timer; /* JOB_RETRY: in the retry heap */
  char *okey;           /* its key in the order map, or NULL when unordered */
  size_t okeylen;
  struct mark *mark;    /* the checkpoint mark it holds, NULL once released */
  char *binlog;         /* its change's binlog file (NULL: a snapshot row), for the queue's low-water mark */
  uint64_t binlog_pos;  /* where that change's transaction starts */
  char *gtid;           /* its change's GTID, or NULL */
  char *change;         /* its change's id, schema.table and key (JSON), for the attempt log; NULL when */
  char *table, *key;    /* not known (read back from the queue) */
  uint64_t seq;         /* its number in the retry queue; 0 while not written */
  uint64_t ticket;      /* the queue's ticket of its last record, made durable when */
  int dead;             /* going to the dead letters */
  int dead_written;     /* and its DEAD record was written */
  int live;             /* on its lane's list of unfinished deliveries */
  struct job *next, *prev;   /* the lane's ready list */
  struct job *fnext, *fprev; /* the fresh list: not in the queue, oldest first */
  struct job *unext;         /* the unsynced list: written, not durable yet */
  struct job *anext, *aprev; /* every job */
  struct job *lnext, *lprev; /* the lane's unfinished deliveries */
};

/* Whether a job may go from one state to the other. */
int job_legal(enum job_state from, enum job_state to);

/* Moves j to state to; asserts that the move is legal. */
void job_move_at(struct job *j, enum job_state to, const char *file, int line);
#define job_move(j, to) job_move_at((j), (to), __FILE__, __LINE__)

/* "new", "held", ... */
const char *job_state_name(enum job_state s);

#endif
