/* startup.h - where the daemon starts reading, and the parts it reads
 * with: the state directory and its lock, the retry queue (read back; a
 * damaged one is cut to its intact records and healed: heal.h), the start
 * position (--from, else the checkpoint, else [source] start), the initial
 * snapshot when one is asked for, resumed or needed, and the source. The start is saved as
 * the checkpoint at once, so that a crash before the first commit resumes
 * there and not at a later end (a start at a GTID is saved as that GTID
 * until the first boundary). A damaged checkpoint is never guessed past:
 * without --from the daemon refuses to start and names the positions the
 * damaged file still shows.
 *
 * A failure is logged here with what to do; the functions return the exit
 * status the daemon ends with (1 runtime, 2 configuration) or 0. */
#ifndef BH_STARTUP_H
#define BH_STARTUP_H

#include "util/errcode.h"

struct daemon;

/* Opens the state directory and the retry queue. */
int startup_state(struct daemon *dm);

/* Decides where to start, takes or resumes the initial snapshot when the
 * configuration asks for it, and starts the source. */
int startup_source(struct daemon *dm);

/* The server refused the checkpoint (why: its answer): code BH_E_PURGED
 * (its binlog is gone) or BH_E_REJECTED (the binlog is there but the
 * position is not an event boundary, or the binlog is damaged). Says so
 * with the ways out, the checkpoint's GTID among them when it has one. */
void startup_refuse_checkpoint(const struct daemon *dm, enum bh_errc code, const char *why);

#endif
