/* pulse.h - heartbeat events for rules (`on = ["heartbeat"]`): every
 * [source] heartbeat_events seconds while binhook streams, one event with
 * the last transaction boundary read, its GTID, the server and the lag, so
 * that a receiver can tell a quiet database from a dead pipeline. None is
 * made while the stream is lost, during the initial snapshot or at a stop.
 * A heartbeat event is matched and delivered like a change (retried, queued,
 * a dead letter when it cannot go); its id ("heartbeat:TS@FILE:POS") never
 * equals a change's. Main loop only. */
#ifndef BH_PULSE_H
#define BH_PULSE_H

#include "event/change.h"

#include <stdint.h>

struct daemon;

/* What the heartbeat events say, kept as the stream goes. */
struct pulse_state {
  struct position pos; /* the last transaction boundary read */
  int pg_lsn;          /* pos is a PostgreSQL LSN (its text in pos.file): printed as {"lsn"} */
  struct rcstr *gtid_state; /* the full GTID state there (a reference), or NULL */
  uint32_t server_id;  /* of the last event read */
  double last;         /* when the last heartbeat event was made (monotonic); 0: none yet */
  char where[300];     /* the server read from, "host:port" */
};

/* Notes where the stream is: called for every event taken from it. */
void pulse_note(struct daemon *dm, const struct change *e);

/* Releases what the state holds (at the daemon's end). */
void pulse_free(struct daemon *dm);

/* Once a second: makes a heartbeat event and feeds it to the rules when
 * one is due. */
void pulse_tick(struct daemon *dm);

#endif
