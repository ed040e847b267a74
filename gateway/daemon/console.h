/* console.h - what the delivery console (admin/console.h) asks the daemon
 * for beyond /status and the attempt log: the counters sampled every
 * SERIES_STEP seconds over the last SERIES_N samples (GET /series: the
 * chart of changes and deliveries per second), and the rules as they are
 * configured now with their matches (GET /rules). Main loop only. */
#ifndef BH_DAEMON_CONSOLE_H
#define BH_DAEMON_CONSOLE_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define SERIES_STEP 5 /* seconds between samples */
#define SERIES_N 120  /* samples kept: ten minutes */

struct series_point {
  int64_t t; /* seconds since the epoch */
  unsigned long long changes, matched, delivered, failed, dead;
  size_t waiting; /* deliveries not finished */
};

struct series {
  struct series_point p[SERIES_N];
  size_t n, head; /* head: where the next one goes */
  double last;    /* bh_mono of the last sample; 0: none yet */
};

struct daemon;

/* From the once-a-second tick: takes a sample when one is due. */
void series_tick(struct daemon *dm);

/* GET /series: {"step":5,"points":[{"t":..,"changes":..,...}, ...]},
 * oldest first, cumulative counters (a rate is the difference of two). */
int console_series(struct daemon *dm, struct buf *out);

/* GET /rules: {"rules":[{"name", "description", "enabled", "tables",
 * "on", "kinds", "when", "statement", "threshold", "endpoints",
 * "template", "defined_at", "matches"}, ...]}: config strings, shown by
 * the page as text. */
int console_rules(struct daemon *dm, struct buf *out);

#endif
