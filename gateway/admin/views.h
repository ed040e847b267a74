/* views.h - the admin server's pages as text: the Prometheus metrics and
 * the /status document, rendered from a struct stats (daemon/stats.h) and
 * appended to a buffer. Pure functions: nothing here reads the daemon. */
#ifndef BH_VIEWS_H
#define BH_VIEWS_H

#include "daemon/stats.h"
#include "util/buf.h"

/* GET /metrics: the Prometheus text exposition format. */
void view_metrics(const struct stats *s, struct buf *out);

/* GET /status: one JSON object and a newline. */
void view_status(const struct stats *s, struct buf *out);

#endif
