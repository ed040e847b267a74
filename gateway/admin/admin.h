/* admin.h - the admin HTTP server of `binhook run` (admin/httpd.h, in the
 * daemon's own event loop):
 *
 *   GET  /metrics          Prometheus text format
 *   GET  /healthz          200 "ok" when streaming and the state directory
 *                          can be written, else 503 with the reason
 *   GET  /status           JSON: source, checkpoint, queue, endpoints
 *   GET  /dlq              the dead letters as JSON lines (?waiting=1: the
 *                          deliveries waiting for a retry); filters
 *                          ?id=&endpoint=&rule=&since=&until=
 *   GET  /dlq/ID           one delivery with its request
 *   POST /dlq/replay       send the chosen dead letters again (same filters;
 *                          all=1 to take every one)
 *   POST /dlq/drop         delete the chosen dead letters
 *   POST /snapshot         read tables again as snapshot events
 *                          (?table=GLOB, repeatable; none: the configured)
 *   GET  /attempts         the attempt log (daemon/attempts.h)
 *   GET  /rules            the rules and their matches
 *   GET  /series           counters over the last minutes
 *   POST /endpoints/N/enable  enable an endpoint a 410 disabled
 *   GET  /                 the delivery console (admin/console.h), with
 *                          /console.js and /console.css: served without
 *                          the token (they hold no data), the API it
 *                          calls needs it as every client does
 *
 * The server knows nothing of the daemon: it calls the handlers it is given.
 * On an address other than loopback a bearer token is required (admin_start
 * refuses to start without one); with a token, every request must carry
 * "Authorization: Bearer TOKEN". Whatever the address, a request must name
 * this server in its Host header (a page served under another name cannot
 * reach it through DNS rebinding), an Origin header must be the server's
 * own, and a POST must say Content-Type: application/json or carry an
 * X-Binhook-Request header (an HTML form can do neither): 403 otherwise,
 * answered before any body is read. */
#ifndef BH_ADMIN_H
#define BH_ADMIN_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;

/* Which deliveries a /dlq request names. */
struct admin_sel {
  char **ids; /* webhook-ids or queue numbers; NULL-terminated, may be NULL */
  const char *endpoint, *rule;
  int64_t since, until; /* 0: open */
  int all, waiting;
};

/* What a /dlq request asks for. */
enum admin_dlq_op { ADMIN_DLQ_LIST, ADMIN_DLQ_SHOW, ADMIN_DLQ_REPLAY, ADMIN_DLQ_DROP };

struct admin_ops {
  void *ctx;
  void (*metrics)(void *ctx, struct buf *out);
  void (*status)(void *ctx, struct buf *out);
  /* 1 when ready; else 0 with the reason in why */
  int (*healthy)(void *ctx, char *why, size_t whysz);
  /* Writes the answer's body (JSON) and returns an HTTP status. */
  int (*dlq)(void *ctx, enum admin_dlq_op op, const struct admin_sel *sel, struct buf *out);
  /* POST /snapshot?table=GLOB...: starts a snapshot of those tables (NULL
   * or empty: the configured ones); writes the answer (JSON), returns an
   * HTTP status. */
  int (*snapshot)(void *ctx, char *const *tables, struct buf *out);
  /* POST /endpoints/NAME/enable: enables a disabled endpoint; writes the
   * answer (JSON), returns an HTTP status. */
  int (*enable)(void *ctx, const char *endpoint, struct buf *out);
  /* GET /attempts?QUERY: the attempt log (daemon/attempts.h); writes the
   * answer (JSON), returns an HTTP status. */
  int (*attempts)(void *ctx, const char *query, struct buf *out);
  /* GET /rules: every rule, what it matches, its endpoints, its matches.
   * NULL: 503. Returns an HTTP status. */
  int (*rules)(void *ctx, struct buf *out);
  /* GET /series: the counters sampled every few seconds over the last
   * minutes, for the console's chart. NULL: 503. Returns an HTTP status. */
  int (*series)(void *ctx, struct buf *out);
};

struct admin;

/* How the server is set up ([admin] in the configuration). */
struct admin_conf {
  const char *listen;  /* "HOST:PORT", "[::1]:PORT" */
  const char *token;   /* the bearer token, or NULL */
  char *const *hosts;  /* more names a Host header may give (NULL-terminated), or NULL */
  size_t max_conns;    /* connections at once; 0: an eighth of the open-file limit, 8 to 256 */
};

/* Listens on conf->listen. Returns NULL with err. */
struct admin *admin_start(struct event_base *base, const struct admin_conf *conf, const struct admin_ops *ops,
                          char *err, size_t errsz);
void admin_free(struct admin *a);

struct httpd_stats;
/* The server's connection counters (admin/httpd.h). */
void admin_server_stats(const struct admin *a, struct httpd_stats *out);

/* Whether host (as written in listen, without the port) is a loopback
 * address. */
int admin_is_loopback(const char *host);

/* A time as --since and --until take it: RFC 3339 UTC, seconds since the
 * epoch, or an age before now (90m, 2h, 3d). Returns 0, or -1. */
int admin_parse_time(const char *s, int64_t *out);

struct retryq_rec;

/* Whether the delivery r is one that sel names (dead letters, or with
 * sel->waiting those waiting for a retry). */
int admin_sel_match(const struct admin_sel *sel, const struct retryq_rec *r);

/* r's metadata as one JSON object (no request), appended to out. */
void admin_rec_json(const struct retryq_rec *r, struct buf *out);

/* A client for the commands that ask the daemon (status, dlq): sends
 * METHOD to http://LISTEN/PATH with the token, the answer's body into out.
 * Returns the HTTP status, or -1 with err when there is no answer. */
long admin_request(const char *listen, const char *token, const char *method, const char *path, struct buf *out,
                   char *err, size_t errsz);

#endif
