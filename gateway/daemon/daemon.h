/* daemon.h - `binhook run`'s daemon: the parts it is made of and the one
 * struct that ties them together. cmd/run.c parses the command line and
 * calls daemon_open, daemon_run and daemon_close; everything else happens
 * in the modules of this folder, on the main thread's libevent loop:
 *
 *   startup.c   where reading starts, the source and the initial snapshot
 *   intake.c    changes taken from the source's queue, backpressure
 *   sched.c     deliveries made from matches and driven through the engine
 *   spool.c     deliveries written to and read back from the retry queue
 *   heal.c      a damaged retry queue made whole again from the binlog
 *   marks.c     the checkpoint rule (no libevent: unit-tested alone)
 *   job.c       a delivery's life cycle as a state machine
 *   lane.c      one endpoint at run time
 *   coalesce.c  updates of a row merged into one delivery
 *   ondemand.c  snapshots asked for while running
 *   reload.c    loading the configuration, SIGHUP
 *   dlq.c       the dead letters through the admin server
 *   stats.c     the counters, and the view the admin server renders
 *   daemon.c    the loop's timers and signals, open, run and close
 *
 * Threads: the source thread (source.h) and the snapshot thread
 * (snapshot.h) push changes into the change queue; the delivery engine's
 * threads (deliver.h) and the retry queue's writer (retryq.h) talk to this
 * loop through their own lists and eventfds. Everything in struct daemon is
 * touched by the main thread only.
 *
 * The delivery promise (docs/DESIGN.md): the checkpoint moves past a change
 * only when every delivery it caused is acknowledged or durable in the
 * retry queue (marks.h); a delivery acknowledged at once never touches the
 * disk. */
#ifndef BH_DAEMON_H
#define BH_DAEMON_H

#include "daemon/attempts.h"
#include "daemon/console.h"
#include "daemon/marks.h"
#include "daemon/pulse.h"
#include "daemon/stats.h"
#include "daemon/timerheap.h"
#include "store/state.h"
#include "util/strset.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Memory: requests made and not yet handed to the engine are at most
 * INTAKE_MAX (beyond, reading the binlog waits); an endpoint keeps at most
 * LANE_MAX unfinished deliveries in memory, and all endpoints JOBS_MAX
 * (beyond, an endpoint over LANE_MIN keeps its new deliveries on disk only,
 * "parked", and reads them back in order as it drains). */
#define INTAKE_MAX 2048
#define LANE_MAX 10000
#define JOBS_MAX 100000
#define LANE_MIN 256
#define GRACE_SECONDS 10.0 /* how long a stop waits for deliveries in flight */
#define SPILL_AFTER 1.0    /* seconds before an unfinished delivery goes into the queue */

struct admin;
struct change;
struct changeq;
struct coal;
struct deliver;
struct event;
struct event_base;
struct job;
struct lane;
struct matcher;
struct order;
struct retryq;
struct ruleset;
struct snapshot;
struct source;

/* What the command line gives, over the configuration. */
struct daemon_args {
  const char *config_path;
  const char *source_url; /* --source, over [source] url */
  const char *from;       /* --from, over the checkpoint */
  const char *state_dir;  /* --state, over [state] dir */
};

/* A snapshot asked for while running (binhook snapshot): its rows are
 * taken when the stream reaches its position, the stream waiting. */
struct ondemand {
  struct snapshot *snap; /* NULL when none runs */
  struct source *src;    /* never started: its queue carries the rows */
  struct event *ev;
  struct position pos;
  int hold;             /* the stream reached pos: it waits for the rows */
  struct change *held;  /* stream events waiting meanwhile, in order */
  unsigned long long rows;
};

struct daemon {
  struct daemon_args args;
  struct ruleset *rs; /* the configuration running now (a reload swaps it) */
  struct matcher *m;

  /* the parts */
  struct event_base *base;
  struct state *st;
  struct retryq *dq;
  struct source *src;
  struct changeq *q; /* the source's */
  struct deliver *d;
  struct admin *admin;
  struct event *qev, *dqev, *tick, *retry_ev, *grace, *sighup, *sigterm, *sigint;

  /* the initial snapshot (or its segments, for the filter), or NULL */
  struct snapshot *snap;
  uint64_t snap_saved; /* the chunk marker committed */
  int snapshotting;    /* rows still to come */

  /* deliveries */
  struct lane *lanes;
  struct order *order;
  struct job *all;                      /* every job, for the stop */
  struct theap retry;                   /* waiting for a retry: one timer for all */
  struct job *fresh, *fresh_tail;       /* not in the queue yet, oldest first */
  struct job *unsynced, *unsynced_tail; /* written, not durable yet */
  struct strset known;                  /* webhook-ids in the queue at start */
  size_t jobs, inmem, inengine;
  int pumping, refilling;

  struct marks marks; /* the checkpoint */

  /* intake */
  struct change *backlog; /* taken from the source, not fed yet (reading waits) */
  int paused;             /* 1: the engine is busy; 2: the disk holds reading back (said) */
  int queue_bad;          /* the retry queue cannot be written */
  int from_cp, seen;      /* started at the checkpoint; an event came since */

  int stopping, failed;
  time_t started;
  size_t queue_live, queue_dead; /* in the retry queue at start */
  struct counters cnt;

  struct ondemand od;
  struct pulse_state beat; /* heartbeat events */

  /* updates being coalesced: by row, and all */
  struct coal **coal, *coals;
  size_t ncoalslots, ncoal;

  /* the state in a database ([state] store): borrowed from cmd_run, which
   * keeps them across the active and standby turns; NULL for "dir" */
  struct dbstore *db;
  struct lease *lease;
  struct event *lease_ev;
  int lost; /* the lease was lost: stepping down, nothing more lands */

  struct attempt_log attempts; /* [admin] attempts: the last delivery attempts */
  struct series series;        /* counters over the last minutes, for the console */
};

/* The lease was lost (another binhook took it, or it could not be renewed
 * in time): stops reading and delivering at once, without the grace a
 * signal gets; daemon_close then writes nothing that could land. */
void daemon_step_down(struct daemon *dm, const char *why);

/* Sets up everything daemon_run needs from dm->args and dm->rs (loaded by
 * daemon_load): the state directory, the retry queue, the source (and the
 * initial snapshot), the loop, the engine, the admin server. Returns 0, or
 * an exit status (1, 2) after logging why; daemon_close is called either
 * way. */
int daemon_open(struct daemon *dm);

/* Runs the loop until a stop (SIGTERM, SIGINT) or a failure. */
void daemon_run(struct daemon *dm);

/* Stops the source, hands back what is in flight, writes what is left to
 * the retry queue with the checkpoint, and frees everything. Returns the
 * exit status: 0, or 1 after a failure. */
int daemon_close(struct daemon *dm);

/* The loop's reaction when the unfinished deliveries change: reading the
 * binlog waits or goes on (intake.c). */
void daemon_update_pause(struct daemon *dm);

#endif
