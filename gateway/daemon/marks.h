/* marks.h - the checkpoint rule: the checkpoint moves past a change only
 * when every delivery it caused is acknowledged or durably queued.
 *
 * Every delivery holds a mark, the transaction boundary after the change
 * that caused it. The newest mark is open (deliveries join it) until the
 * boundary arrives (marks_boundary closes it with the position); a closed
 * mark whose deliveries are all released is passed, and the checkpoint
 * moves to its position. Marks are passed strictly in order, so the
 * checkpoint never goes past a delivery that is still unfinished, whatever
 * the order in which deliveries finish.
 *
 * A boundary with no delivery before it moves the checkpoint at once. A
 * boundary that is not safe (a prepared XA transaction is held: its changes
 * come later, at its XA COMMIT) closes its mark without moving the
 * checkpoint there. The chunk markers of a snapshot close marks the same
 * way, and marks_boundary's caller learns through snap_ready which chunks
 * have all their deliveries released.
 *
 * Pure bookkeeping: no I/O, no clock, no event loop. The marks are the
 * module's; the caller holds struct mark pointers between marks_hold and
 * marks_release. */
#ifndef BH_MARKS_H
#define BH_MARKS_H

#include "store/state.h"

#include <stddef.h>
#include <stdint.h>

struct mark {
  struct position pos;
  struct rcstr *gtid_state; /* the full GTID state at pos (a reference), or NULL */
  int closed; /* its boundary came */
  int safe;   /* the checkpoint may move to pos */
  uint64_t snapseq; /* the snapshot chunk marker that closed it, or 0 */
  size_t open;      /* deliveries holding it */
  struct mark *next;
};

struct marks {
  struct mark *head, *tail;
  struct checkpoint cp; /* where the checkpoint may be now (its GTID state a reference of the marks') */
  int dirty;            /* cp moved since the caller last cleared it */
  uint64_t snap_ready;  /* the newest snapshot chunk marker passed */
};

/* Starts with cp (or none), taking a reference to its GTID state. */
void marks_init(struct marks *m, const struct checkpoint *cp);
/* marks_init over marks that hold a checkpoint already (its GTID state and
 * any marks are released first). */
void marks_reset(struct marks *m, const struct checkpoint *cp);

/* One more delivery holds the open mark (made when there is none); returns
 * it for marks_release. */
struct mark *marks_hold(struct marks *m);

/* A delivery holding k is acknowledged or durable (or was never made). */
void marks_release(struct marks *m, struct mark *k);

/* A transaction boundary (a COMMIT, a heartbeat) at pos, with the full
 * GTID state there (NULL: not known; a reference is taken): closes the
 * open mark, or, when every mark is closed, gives the newest one this later
 * position (no delivery came between). safe = 0: a held XA transaction,
 * the checkpoint must not move here. The checkpoint takes the GTID state
 * with the position, so the two always name the same boundary. */
void marks_boundary(struct marks *m, const struct position *pos, struct rcstr *gtid_state, int safe);

/* A snapshot chunk marker seq: passed at once when no delivery waits,
 * else when the deliveries made before it are released. */
void marks_snapshot(struct marks *m, uint64_t seq);

/* Marks not passed yet. */
size_t marks_pending(const struct marks *m);

void marks_free(struct marks *m);

#endif
