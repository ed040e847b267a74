/* dlq.h - the dead letters (and the waiting deliveries) of the running
 * daemon, for the admin server's /dlq: list, show, replay, drop. A replayed
 * dead letter becomes a delivery due now with no attempts made, in order
 * behind any delivery of the same row. Main loop only. */
#ifndef BH_DAEMON_DLQ_H
#define BH_DAEMON_DLQ_H

#include "admin/admin.h"
#include "util/buf.h"

struct daemon;

/* sel names the deliveries. Writes the answer's body (JSON) and returns an
 * HTTP status. */
int dlq_op(struct daemon *dm, enum admin_dlq_op op, const struct admin_sel *sel, struct buf *out);

#endif
