/* stats.h - what the daemon counts, and the view of it that the admin
 * server renders (/metrics, /status; admin/views.h): stats_collect copies
 * everything a page shows into a struct stats, so that the renderers read
 * plain data and never the daemon's internals.
 *
 * Ownership: struct counters owns its rule names (they outlive reloads:
 * jobs point to the interned copies). A struct stats points into the
 * daemon for strings (names of endpoints and rules) and owns its arrays;
 * it is valid until the loop runs again; stats_free releases it. */
#ifndef BH_STATS_H
#define BH_STATS_H

#include "daemon/attempts.h"
#include "daemon/lane.h"
#include "event/change.h"
#include "snapshot/snapshot.h"
#include "store/retryq.h"
#include "store/state.h"

#include <stddef.h>
#include <time.h>

/* Matches per rule, by name. */
struct rulecount {
  char *rule;
  unsigned long long n;
  struct rulecount *next;
};

struct counters {
  unsigned long long matched, delivered, failures, dead, spilled, restored, skipped;
  unsigned long long events[EVENT_ALERT + 1]; /* by type */
  double lag;                                 /* seconds behind the server, at the last event */
  time_t lag_at;                              /* when lag was measured; 0: never */
  struct rulecount *rules;                    /* the busiest first */
};

/* One more match of rule. */
void counters_match(struct counters *c, const char *rule);

/* The one copy of a rule's name that jobs of that rule point to. */
const char *counters_intern(struct counters *c, const char *rule);

void counters_free(struct counters *c);

struct stats_endpoint {
  const char *name;
  int up, disabled, circuit_open;
  size_t in_flight, depth, dead_letters;
  double oldest_age;
  unsigned long long delivered, failed, dead;
  unsigned long long lat_count, lat_bucket[LANE_NLAT];
  double lat_sum;
  char where[300];      /* scheme://host:port of its url, without credentials, path or query; "" when unknown */
  int is_mail;
  unsigned concurrency; /* 0: not configured now (a reload removed it) */
  struct attempt_figures fig; /* from the attempt log */
};

struct stats_rule {
  const char *name;
  unsigned long long matches;
};

struct stats {
  time_t started, now;
  long pid;
  const char *config_path;
  int streaming, paused;
  unsigned long long incidents; /* INCIDENT events of LOST_EVENTS read */
  char source_error[2048];      /* why reconnecting fails (to every server tried), or "" */
  char server[300];             /* host:port of the server streamed from (or last); "" before the first */
  unsigned server_id;           /* its server_id; 0 before the first */
  int by_gtid;                  /* the stream was requested by the GTID state, not file:pos */
  int in_db;                    /* the state is in a database: this binhook is the active one */
  char store[400];              /* host:port/DATABASE */
  char lease_host[128];
  long lease_pid;
  double lease_age;             /* seconds since the lease was renewed */
  unsigned long long lease_epoch, takeovers;
  double lag; /* counters' lag, plus the time since while reading is paused or the connection is down */
  struct checkpoint cp;
  struct retryq_stats queue;
  int writable; /* the retry queue can be written */
  unsigned long long events[EVENT_ALERT + 1];
  unsigned long long matched, delivered, failures, dead, restored;
  struct stats_rule *rules; /* the configured ones in order, then those a reload removed */
  size_t nrules;
  struct stats_endpoint *endpoints;
  size_t nendpoints;
  int has_snapshot, snapshot_running;
  struct snapshot_progress snapshot; /* when has_snapshot; its tables array owned */
};

struct daemon;

/* Where url goes, as a page may show it: "scheme://host:port", without
 * the user and password, the path and the query (a chat webhook's path is
 * its secret). */
void stats_url_origin(const char *url, char *out, size_t size);

/* Fills out from dm now. */
void stats_collect(struct daemon *dm, struct stats *out);

/* Seconds the stream is behind the server at now: the lag at the last
 * event read, plus the time since while reading is paused or the
 * connection is down (streaming 0). */
double stats_lag(const struct daemon *dm, time_t now, int streaming);
void stats_free(struct stats *s);

#endif
