/* request.h - what one delivery sends: the HTTP request (method, URL,
 * headers with the signature, body) or the e-mail (envelope and message)
 * that a rule's match produces for one of its endpoints. `binhook test`
 * prints it; the delivery loop sends it.
 *
 * Headers, in order: content-type, user-agent, webhook-id (stable per
 * change, rule and endpoint, across retries, restarts and replays: receivers
 * dedupe on it), webhook-timestamp and webhook-signature (Standard
 * Webhooks) or X-Hub-Signature-256 (github), then the endpoint's headers and
 * the rule's (a rule's header replaces the endpoint's of the same name).
 *
 * Ownership: request_build fills a caller-owned struct request; request_free
 * releases what it holds. */
#ifndef BH_REQUEST_H
#define BH_REQUEST_H

#include "util/buf.h"
#include "event/change.h"
#include "match/rules.h"

#include <stdint.h>

struct header {
  char *name, *value;
};

struct request {
  const struct rule *rule;
  const struct endpoint *endpoint;
  int is_mail;
  int unbuilt;  /* request_unbuilt: body holds the change, to be built again */
  char *method; /* HTTP; "SMTP" for e-mail; "" when unbuilt */
  char *url;
  struct header *headers; /* HTTP only */
  size_t nheaders, hcap;  /* hcap: room in headers (0 when a caller filled them: exactly nheaders) */
  struct buf body;        /* HTTP: the body; e-mail: the whole message, CRLF line ends */
  char *id;               /* the webhook-id */
  char *mail_from;        /* e-mail envelope */
  char **rcpt;            /* NULL-terminated */
};

/* Renders the request rule r sends to ep for e at time now (seconds since
 * the epoch), signed then when sign is set; otherwise it is signed when sent
 * (request_resign), which spares signing twice. Returns 0, or -1 with err (a
 * header value that would hold a line break); q is then empty. */
int request_build(const struct rule *r, const struct endpoint *ep, const struct change *e, int64_t now, int sign,
                  struct request *q, char *err, size_t errsz);

/* What a delivery that request_build refused keeps, so that it can be a
 * dead letter and be built again at a replay (with the templates of then):
 * its webhook-id, no method, URL or headers, and the change itself as the
 * body (change_to_json). */
void request_unbuilt(const struct rule *r, const struct endpoint *ep, const struct change *e, struct request *q);

/* Gives q the webhook-id id (and its webhook-id header): a request built
 * again keeps the id it was first made with. */
void request_set_id(struct request *q, const char *id);

/* Signs q again at time now (a retry): webhook-timestamp and the signature
 * follow the attempt, so that receivers that refuse old timestamps accept
 * it. */
void request_resign(struct request *q, int64_t now);

/* Appends the stable delivery id of (e, rule, endpoint): "msg_" and 32 hex
 * digits. */
void request_id(const struct change *e, const char *rule, const char *endpoint, struct buf *out);

/* Appends q as one JSON object: rule, endpoint, method, url, headers (an
 * object), body (the exact string); e-mails also mail_from and mail_to. */
void request_to_json(const struct request *q, struct buf *out);

/* Appends q as text: "METHOD URL", the headers, a blank line, the body and
 * a newline; an e-mail as "SMTP URL", its envelope (MAIL FROM, RCPT TO), a
 * blank line and the message with plain line ends. */
void request_to_text(const struct request *q, struct buf *out);

/* The request alone, without what binhook adds about it (rule, endpoint,
 * id, an e-mail's envelope), as `binhook dlq show` prints it: "METHOD URL",
 * the headers, a blank line, the body exactly as held and a newline (an
 * e-mail: "SMTP URL", no headers, the message with its CRLF line ends). */
void request_bare_to_text(const struct request *q, struct buf *out);

/* Hides what q's copy shown to an operator must not carry: the values of
 * credential headers (Authorization, Proxy-Authorization, Cookie, and any
 * name with token, secret, password, session or api-key in it), the URL's
 * password and its query's values. For what the admin API serves (GET
 * /dlq/ID, and so the console): the signature headers stay, as they are
 * no secret. */
void request_hide_secrets(struct request *q);

/* The same parts as one JSON object: method, url, headers (an object),
 * body (the exact string). The admin server's dead-letter "show" gives it
 * as its "request" member. */
void request_bare_to_json(const struct request *q, struct buf *out);

/* Appends q in the form the retry queue stores it: everything but the
 * signature headers (a stored request is signed again when it is sent,
 * with the endpoint's keys of that moment). */
void request_encode(const struct request *q, struct buf *out);

/* Fills q from what request_encode wrote; q->rule and q->endpoint are left
 * NULL for the caller to set. Returns 0, or -1 with err (damaged). */
int request_decode(const char *data, size_t len, struct request *q, char *err, size_t errsz);

void request_free(struct request *q);

#endif
