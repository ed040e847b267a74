/* retry.h - the retry policy: after a failed attempt, how long to wait
 * before the next one, or whether to stop trying.
 *
 * The schedule is the endpoint's `retry` list (docs/DESIGN.md: 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 10 h), each delay with ±20 % jitter so that
 * deliveries failed together do not come back together. A Retry-After on a
 * 429 or 503 answer is honoured when it asks for longer. A delivery older
 * than the endpoint's max_age, or past the end of the schedule, is not
 * retried. */
#ifndef BH_RETRY_H
#define BH_RETRY_H

#include "config/config.h"
#include "deliver/deliver.h"

/* Seconds to wait before the next attempt of a delivery to ep after attempt
 * number `attempts` (1 = the first) failed with res, age seconds after the
 * first attempt; jitter is a number in [0, 1) (random in use, fixed in
 * tests). Returns -1 when there is to be no next attempt. */
double retry_delay(const struct config_endpoint *ep, unsigned attempts, double age,
                   const struct deliver_result *res, double jitter);

#endif
