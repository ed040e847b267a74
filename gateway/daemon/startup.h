/* startup.h - where the daemon starts reading, and the parts it reads
 * with: the state directory and its lock, the retry queue (read back; a
 * damaged one is cut to its intact records and healed: heal.h), the start
 * position (--from, else the checkpoint, else [source] start), the initial
 * snapshot when one is asked for, resumed or needed, and the source. The start is saved as
 * the checkpoint at once, so that a crash before the first commit resumes
 * there and not at a later end.
 *
 * A failure is logged here with what to do; the functions return the exit
 * status the daemon ends with (1 runtime, 2 configuration) or 0. */
#ifndef BH_STARTUP_H
#define BH_STARTUP_H

struct daemon;

/* Opens the state directory and the retry queue. */
int startup_state(struct daemon *dm);

/* Decides where to start, takes or resumes the initial snapshot when the
 * configuration asks for it, and starts the source. */
int startup_source(struct daemon *dm);

/* The checkpoint's binlog is gone (why: the server's answer): says so with
 * the ways out. */
void startup_refuse_purged(const struct daemon *dm, const char *why);

#endif
