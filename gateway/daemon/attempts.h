/* attempts.h - the attempt log: every delivery attempt (its webhook-id,
 * change, rule, endpoint, table and key, attempt number, when it started,
 * how long it took, the HTTP status or the transport error, the first 1 KiB
 * of the answer's body, and what came of it: delivered, retrying at T,
 * dead, not sent) in a bounded ring in memory ([admin] attempts), newest
 * kept, for the admin API (GET /attempts) and the console. */
#ifndef BH_ATTEMPTS_H
#define BH_ATTEMPTS_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

enum attempt_outcome { ATTEMPT_DELIVERED, ATTEMPT_RETRYING, ATTEMPT_DEAD, ATTEMPT_NOT_SENT };

struct attempt {
  uint64_t no;         /* numbered from 1 in the order they ended */
  char *id;            /* webhook-id */
  char *change;        /* the change's id; NULL for a delivery read back from the queue */
  char *rule, *endpoint;
  char *table;         /* schema.table; NULL when not known */
  char *key;           /* the key as JSON; NULL when not known */
  unsigned attempt;    /* 1 for the first */
  double started;      /* seconds since the epoch */
  double seconds;      /* how long it took */
  long status;         /* HTTP status or SMTP reply; 0: none */
  char *error;         /* the transport error, or why it failed; NULL when it succeeded */
  char *body;          /* the first bytes of the answer's body */
  size_t bodylen;
  enum attempt_outcome outcome;
  int64_t retry_at;    /* ATTEMPT_RETRYING: when the next attempt is due */
};

struct attempt_log {
  struct attempt *ring;
  size_t cap, n, head; /* head: where the next one goes */
  uint64_t next_no;
};

/* cap 0: nothing is kept. */
void attempts_init(struct attempt_log *l, size_t cap);
void attempts_free(struct attempt_log *l);

/* Keeps a copy of a (its strings are copied; a->no is set here). */
void attempts_add(struct attempt_log *l, const struct attempt *a);

/* What the log says of one endpoint's last attempts (those the ring still
 * holds): for the console's endpoint view, in /status. */
struct attempt_figures {
  size_t n, ok;           /* attempts, and those delivered */
  int newest_ok;          /* the newest attempt delivered: 1, failed: 0, none held: -1 */
  double p50, p99;        /* seconds an attempt took; 0 without attempts */
  const char *last_error; /* the newest failed attempt's error, or NULL (points into the log) */
  long last_status;       /* its HTTP status or SMTP reply; 0: none */
  double last_error_at;   /* when it started; 0: no failure held */
};

/* Fills f for endpoint from the attempts in l. */
void attempts_figures(const struct attempt_log *l, const char *endpoint, struct attempt_figures *f);

/* GET /attempts?QUERY: the attempts that match, newest first, as JSON
 * {"attempts":[...],"next":N|null} (next: the before= of the next page).
 * Filters: endpoint, rule, table, id (webhook-id), change, status (a code,
 * or 2xx, 3xx, 4xx, 5xx, error), outcome; paging: before=NO, limit=N
 * (default 100, at most 1000). Returns an HTTP status (400 with an error
 * for a bad parameter). */
int attempts_query(const struct attempt_log *l, const char *query, struct buf *out);

#endif
