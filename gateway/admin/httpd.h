/* httpd.h - a small HTTP/1.1 server on the caller's libevent loop, for the
 * admin endpoints, built to hold against hostile clients:
 *
 *   - a cap on open connections: when it is reached, a new connection
 *     closes the one whose request head has waited longest instead of
 *     being refused, so that slow clients (a byte every few seconds) never
 *     keep a prompt one such as a health check out;
 *   - an absolute deadline for a request head (from the connection's
 *     accept, or the end of the previous answer), and one for the body, that
 *     do not restart with each byte;
 *   - a check of the head (authentication, origin) before any byte of the
 *     body is read; a request refused there is answered and closed;
 *   - bounded heads and bodies; Transfer-Encoding in a request is refused;
 *   - accept errors (no descriptor left) logged once a second at most,
 *     accepting paused meanwhile instead of spinning.
 *
 * Requests are answered one at a time per connection, in order; kept alive
 * unless the client says otherwise (HTTP/1.0 closes unless it asks).
 *
 * Ownership: the server owns its connections; a struct httpd_req and
 * everything it points to is valid only during the callback it is given
 * to; the callee fills the caller's struct httpd_resp (its body buffer is
 * freed by the server). */
#ifndef BH_HTTPD_H
#define BH_HTTPD_H

#include "util/buf.h"

#include <stddef.h>

struct event_base;

struct httpd_limits {
  size_t max_conns;    /* connections open at once */
  size_t max_per_addr; /* of them from one client address; 0: no cap of its own */
  double head_timeout; /* seconds for a request's head, start to end */
  double body_timeout; /* seconds for its body after the head */
  double write_timeout; /* seconds an answer may take to go out */
  size_t max_head;     /* bytes of a request line and headers */
  size_t max_body;     /* bytes of a body */
};

struct httpd_header {
  const char *name; /* lower case */
  const char *value;
};

struct httpd_req {
  const char *method;  /* as sent: "GET", "POST", ... */
  const char *target;  /* the request target as sent */
  const char *path;    /* the target's path, percent-decoded */
  const char *query;   /* what follows '?', raw; NULL without one */
  const struct httpd_header *headers;
  size_t nheaders;
  const char *body; /* NUL-terminated; "" without one */
  size_t bodylen;
  const char *peer; /* the client's address and port, for messages */
};

/* The value of the header name (lower case), or NULL. */
const char *httpd_header(const struct httpd_req *r, const char *name);

struct httpd_resp {
  int status;
  const char *type;  /* Content-Type; NULL: text/plain; charset=utf-8 */
  struct buf body;
  struct buf extra;  /* more header lines, each "Name: value\r\n" */
};

struct httpd_ops {
  void *arg;
  /* After the head, before the body is read: 0 to go on, or an HTTP status
   * with resp's body filled in to answer now and close. NULL: no check. */
  int (*check)(void *arg, const struct httpd_req *req, struct httpd_resp *resp);
  /* The whole request: sets resp->status and fills resp. */
  void (*handle)(void *arg, const struct httpd_req *req, struct httpd_resp *resp);
};

struct httpd_stats {
  size_t open;                         /* connections open now */
  unsigned long long accepted, evicted; /* evicted: closed to make room */
  unsigned long long timed_out, refused; /* a deadline passed; a head was refused or malformed */
};

struct httpd;

/* Listens on host (an address, or "localhost") and port. Returns NULL with
 * err when it cannot. */
struct httpd *httpd_start(struct event_base *base, const char *host, unsigned port, const struct httpd_limits *lim,
                          const struct httpd_ops *ops, char *err, size_t errsz);

/* Closes every connection and the listener. */
void httpd_free(struct httpd *h);

void httpd_stats(const struct httpd *h, struct httpd_stats *out);

/* ---- a request head, parsed: what the server does with the bytes of a
 * head before anything else, callable alone (tests, the fuzzer) ---- */

#define HTTPD_MAX_HEADERS 64

struct httpd_head {
  struct httpd_req req; /* method, target, path, query, headers (body and peer unset) */
  struct httpd_header hdrs[HTTPD_MAX_HEADERS];
  char *path;                  /* req.path, owned: httpd_head_free frees it */
  int keep_alive;              /* what the version and a Connection header ask */
  unsigned long long body_len; /* Content-Length; 0 without one */
};

/* Parses head (the request line and the header lines, NUL-terminated, up
 * to the blank line) in place: h's pointers point into head, which must
 * outlive h. Returns 0, or the HTTP status that refuses it (400 malformed,
 * 431 too many headers, 501 Transfer-Encoding) with the one-line text to
 * answer in *why (static). h is to be freed with httpd_head_free either
 * way. */
int httpd_parse_head(char *head, struct httpd_head *h, const char **why);

/* Frees what httpd_parse_head allocated and clears h. */
void httpd_head_free(struct httpd_head *h);

/* The reason phrase of an HTTP status ("Not Found"). */
const char *httpd_reason(int status);

#endif
