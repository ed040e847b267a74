/* lane.h - one endpoint at run time: the only per-endpoint struct of the
 * daemon. The scheduler keeps here what waits for the endpoint (the ready
 * list, the unfinished deliveries, those parked on disk) and what /metrics
 * shows of it; the delivery engine keeps its own part (limits, waiting
 * transfers, rate limit, circuit breaker) in the embedded struct
 * deliver_lane, so that neither side looks an endpoint up by name on the
 * way of a delivery.
 *
 * Lanes are made the first time an endpoint name is seen (the config, a
 * delivery read back from the queue) and live until the daemon ends, across
 * reloads, so that counters and deliveries of a removed endpoint are kept.
 * The daemon owns them (struct daemon.lanes). */
#ifndef BH_LANE_H
#define BH_LANE_H

#include "deliver/deliver.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Upper bounds of the delivery latency histogram, in seconds. */
#define LANE_NLAT 18
extern const double lane_lat_bounds[LANE_NLAT];

struct job;
struct daemon;

struct lane {
  char *endpoint;
  struct deliver_lane out; /* the engine's part */
  int disabled;            /* answered 410 Gone: its deliveries go to the dead letters until enabled (epstate.h) */
  int64_t not_before;      /* Retry-After: nothing is sent before this time (seconds since the epoch); 0: none */
  size_t inengine;         /* jobs handed to the engine */
  struct job *head, *tail; /* ready to go, waiting for room in the engine */
  struct job *live, *live_tail; /* every unfinished delivery, oldest first */
  size_t depth;                 /* how many */
  uint64_t *parked;             /* seqs of those on disk only, oldest first: parked[pk0 .. pk0+npk) */
  size_t pk0, npk, pkcap;
  double rate, rate_t;          /* deliveries a second (smoothed), and when it was last taken */
  double born;                  /* when the lane was made */
  unsigned long long rate_seen; /* delivered then */
  size_t nwait;                 /* scratch: requests in memory waiting for the engine */
  size_t dead_now;              /* dead letters in the queue */
  unsigned long long delivered, failed, dead;
  unsigned long long lat_count, lat_bucket[LANE_NLAT];
  double lat_sum;
  struct lane *next;
};

/* The lane of endpoint, made when there is none. */
struct lane *lane_get(struct daemon *dm, const char *endpoint);

/* j joins / leaves l's unfinished deliveries (the depth and oldest age). */
void lane_live_add(struct lane *l, struct job *j);
void lane_live_del(struct lane *l, struct job *j);

/* A delivery of l took lat seconds from its change to its acknowledgement. */
void lane_note_latency(struct lane *l, double lat);

/* Appends seq to l's parked deliveries. */
void lane_park_push(struct lane *l, uint64_t seq);

/* Age of l's oldest unfinished delivery at now, in seconds. */
double lane_oldest_age(const struct lane *l, time_t now);

/* Frees every lane (after deliver_free). */
void lanes_free(struct lane *head);

#endif
