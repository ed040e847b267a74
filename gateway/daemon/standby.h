/* standby.h - a binhook whose state is in a database waits here, as a
 * standby, until it holds the lease (store/dbstore.h): it tries to take it
 * every second, connects to nothing else, and answers the admin server
 * meanwhile (/healthz ready to take over, /status and /metrics with the
 * role and who is active; the dead letters are the active's to handle).
 *
 * The first turn opens the store (creating its tables), waiting while its
 * server cannot be reached. */
#ifndef BH_STANDBY_H
#define BH_STANDBY_H

#include "config/config.h"

struct dbstore;
struct lease;

struct standby {
  struct dbstore *db; /* NULL until the store was opened */
  struct lease *lease;
  unsigned long long turns; /* times this process became active */
};

/* Waits until this process holds the lease (0), or a SIGTERM or SIGINT
 * came (1), or the store cannot be used at all (2, after logging). */
int standby_wait(struct standby *sb, const struct config *cfg);

void standby_free(struct standby *sb);

#endif
