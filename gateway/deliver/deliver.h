/* deliver.h - sends requests (request.h) over HTTP(S) and SMTP for the
 * caller's libevent loop, through libcurl's multi-socket interface: curl
 * tells which sockets to watch and when to wake it, libevent does the
 * waiting, nothing blocks (names are resolved by curl's threaded resolver).
 * libcurl runs in engine threads of their own (one per core, up to four),
 * each with its own libevent loop; the caller's loop keeps the endpoints'
 * limits and gets every callback. Connections are kept alive and reused;
 * HTTP/2 is used where the server offers it.
 *
 * Each endpoint has its own limit of requests in flight; requests beyond it
 * wait in order. A finished request (answered, failed or timed out) comes
 * back through the done callback with what happened; deciding what to do
 * next (retry, give up) is the caller's.
 *
 * Ownership: deliver_submit takes the request and hands it back in done,
 * where the callee of done owns it again. The caller owns every struct
 * deliver_lane; deliver_free hands their waiting requests back and frees
 * what the engine made in them, not the lanes themselves. */
#ifndef BH_DELIVER_H
#define BH_DELIVER_H

#include "deliver/request.h"
#include "util/errcode.h"

#include <event2/event.h>

struct deliver_result {
  int ok;             /* a 2xx answer (HTTP) or an accepted message (SMTP) */
  enum bh_errc code;  /* BH_E_NOT_SENT: handed back by deliver_cancel with that code (never on the
                         wire); BH_E_OTHER for every other failure; BH_E_NONE on success */
  long status;        /* HTTP status or SMTP reply code; 0 when there was no answer */
  double retry_after; /* seconds the server asked to wait (Retry-After), or -1 */
  double seconds;     /* how long the attempt took */
  char error[512];    /* why it failed, for the log; "" on success */
  char body[1024];    /* the first bytes of the answer's body (HTTP), for the attempt log */
  size_t bodylen;
};

/* user is the caller's pointer given to deliver_submit. */
typedef void (*deliver_done_fn)(void *arg, void *user, struct request *q, const struct deliver_result *res);

struct deliver;

struct deliver *deliver_new(struct event_base *base, deliver_done_fn done, void *arg);

/* Aborts what is in flight or waiting, handing each request back through
 * done (not ok, "not sent: binhook stopped"; done must not submit again),
 * and frees everything. */
void deliver_free(struct deliver *d);

/* How one endpoint is sent to (the latest submit's values apply). */
struct deliver_limits {
  unsigned concurrency;     /* requests in flight at most */
  double timeout;           /* seconds per attempt */
  double rate;              /* requests per second started at most (a token bucket); 0: no limit */
  double burst;             /* the bucket's size; 0: max(1, rate) */
  unsigned breaker_failures; /* this many failures in a row open the circuit; 0: no breaker */
  double breaker_cooldown;  /* seconds the circuit stays open before one probe request */
};

/* One endpoint's place in the engine: its limits, its requests waiting for
 * a slot, its rate limit's bucket and its circuit breaker. The caller keeps
 * one per endpoint inside its own per-endpoint struct (daemon/lane.h), for
 * as long as the engine lives, and gives it with every request: the engine
 * never looks an endpoint up by name. Fields are the engine's; the caller
 * only reads circuit state through deliver_circuit_open. */
struct transfer;
struct deliver_lane {
  struct deliver *d;
  const char *endpoint;         /* the name, for messages (the caller's string) */
  struct deliver_limits lim;
  unsigned running;             /* in flight */
  struct transfer *head, *tail; /* waiting */
  double tokens, refilled;      /* the rate limit's bucket, and when it was last filled */
  unsigned failures;            /* in a row, for the breaker */
  double open_until;            /* the circuit is open until then (monotonic seconds); 0: closed */
  int probing;                  /* half open: one request is out to test the endpoint */
  struct event *wake;           /* pumps the lane when the bucket or the circuit allows again */
  size_t home;                  /* its engine thread on a tie */
  int limited;                  /* lim was set by a submit */
};

/* Makes l the engine's place for endpoint (a string that outlives l). l
 * lives until deliver_free. */
void deliver_lane_init(struct deliver *d, struct deliver_lane *l, const char *endpoint);

/* Sends q (taken) to the endpoint of l within lim; user comes
 * back in done. q is signed again (request_resign) when it is sent, so that
 * its timestamp is the attempt's, however long it waited for a slot.
 *
 * The rate limit and the circuit breaker only delay requests: while the
 * bucket is empty or the circuit open, requests wait their turn; no attempt
 * is made, none is used up. A failure, for the breaker, is no answer, a 5xx
 * or a 429; the first answer after the cooldown (the probe) closes the
 * circuit when it succeeds and opens it again when it fails. */
void deliver_submit(struct deliver *d, struct deliver_lane *l, const struct deliver_limits *lim, struct request *q,
                    void *user);

/* Hands back, through done (not ok, with code and why as the error), the
 * requests of l still waiting for a slot; those in flight finish as they
 * will. */
void deliver_cancel(struct deliver *d, struct deliver_lane *l, enum bh_errc code, const char *why);

/* Requests in flight or waiting for a slot. */
size_t deliver_pending(const struct deliver *d);

/* 1 while the endpoint's circuit breaker is open (or half-open, probing). */
int deliver_circuit_open(const struct deliver_lane *l);

#endif
