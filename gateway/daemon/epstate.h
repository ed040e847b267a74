/* epstate.h - the endpoints' state that outlives a restart and a takeover:
 * which endpoints are disabled (they answered 410 Gone) and until when one
 * asked not to be sent anything (Retry-After, as a time). One JSON value in
 * the state (a file, endpoints.json, in the state directory; a value in a
 * database store), written by the retry queue's writer after a change:
 *
 *   {"disabled":["crm"],"not_before":{"slack":1796653704}}
 *
 * A disabled endpoint stays so until it is enabled again: POST
 * /endpoints/NAME/enable on the admin server (binhook endpoint enable
 * NAME), or a reload that changes its url. */
#ifndef BH_EPSTATE_H
#define BH_EPSTATE_H

#include "util/buf.h"

struct daemon;
struct lane;

/* Reads the stored state and applies it to the lanes (made for endpoints
 * of the configuration; an endpoint no longer configured is left out).
 * Logs what it restores. */
void epstate_restore(struct daemon *dm);

/* The lanes' state changed: hands it to the writer. */
void epstate_save(struct daemon *dm);

/* l answered with Retry-After: nothing goes to it before now + secs. */
void epstate_hold(struct daemon *dm, struct lane *l, double secs);

/* Enables endpoint name again; writes the answer (JSON) into out and
 * returns an HTTP status: 200, 404 (no such endpoint). */
int epstate_enable(struct daemon *dm, const char *name, const char *why, struct buf *out);

#endif
