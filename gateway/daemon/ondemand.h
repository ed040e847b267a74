/* ondemand.h - snapshots asked for while running (POST /snapshot, `binhook
 * snapshot`): the tables are read again in one consistent snapshot by a
 * snapshot thread into a queue of their own; when the stream reaches the
 * snapshot's position it waits, the rows are matched and delivered, then
 * the stream goes on, so that each row's snapshot comes after the changes
 * before it and before those after it. Not resumable: one that a stop or a
 * crash cuts is asked again. Main loop only. */
#ifndef BH_ONDEMAND_H
#define BH_ONDEMAND_H

#include "util/buf.h"

struct change;
struct daemon;

/* Starts a snapshot of tables (globs; NULL or empty: the configured ones).
 * Writes the answer (JSON) and returns an HTTP status. */
int ondemand_start(struct daemon *dm, char *const *tables, struct buf *out);

/* Whether stream event e (and those after it, linked by next) must wait
 * for the snapshot asked for: then they are kept, and 1 is returned. */
int ondemand_holds(struct daemon *dm, struct change *e);

/* At a stop: a snapshot still running is cut and the events it held are
 * dropped (the checkpoint is before them). */
void ondemand_cut(struct daemon *dm);

#endif
