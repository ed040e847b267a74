/* retry_test.c - the retry policy: the schedule with its jitter, the end of
 * the schedule, max_age, Retry-After on 429 and 503 only (capped by what
 * max_age leaves), and the statuses that are never retried. */
#include "tap.h"
#include "deliver/retry.h"

#include <string.h>

int main(void)
{
  double sched[] = {5, 300, 1800};
  int no[] = {400, 422};
  struct config_endpoint ep;
  memset(&ep, 0, sizeof ep);
  ep.retry = sched;
  ep.nretry = 3;
  ep.max_age = 3600;
  struct deliver_result fail = {.status = 500, .retry_after = -1};

  ok(retry_delay(&ep, 1, 0, &fail, 0.5) == 5, "attempt 1 failed: the first delay, jitter in the middle");
  ok(retry_delay(&ep, 1, 0, &fail, 0) == 4, "  -20 % at the low end");
  ok(retry_delay(&ep, 1, 0, &fail, 0.999999) > 5.99 && retry_delay(&ep, 1, 0, &fail, 0.999999) < 6,
     "  just under +20 % at the high end");
  ok(retry_delay(&ep, 2, 10, &fail, 0.5) == 300, "attempt 2: the second delay");
  is_int((long)retry_delay(&ep, 4, 10, &fail, 0.5), -1, "past the schedule: no more attempts");
  is_int((long)retry_delay(&ep, 3, 2000, &fail, 0.5), -1, "a delay past max_age: no more attempts");
  is_int((long)retry_delay(&ep, 0, 0, &fail, 0.5), -1, "attempt 0 is not a failed attempt");
  struct deliver_result okr = {.ok = 1, .status = 200, .retry_after = -1};
  is_int((long)retry_delay(&ep, 1, 0, &okr, 0.5), -1, "success: nothing to retry");

  struct deliver_result r429 = {.status = 429, .retry_after = 120};
  ok(retry_delay(&ep, 1, 0, &r429, 0.5) == 120, "429 with Retry-After 120: wait 120 s");
  struct deliver_result r503 = {.status = 503, .retry_after = 60};
  ok(retry_delay(&ep, 1, 0, &r503, 0.5) == 60, "503 with Retry-After 60: wait 60 s");
  struct deliver_result r503s = {.status = 503, .retry_after = 1};
  ok(retry_delay(&ep, 1, 0, &r503s, 0.5) == 5, "a Retry-After shorter than the schedule: the schedule");
  struct deliver_result r500 = {.status = 500, .retry_after = 120};
  ok(retry_delay(&ep, 1, 0, &r500, 0.5) == 5, "Retry-After on a 500 is not honoured");
  struct deliver_result rlong = {.status = 429, .retry_after = 999999};
  ok(retry_delay(&ep, 1, 100, &rlong, 0.5) == 3500, "a huge Retry-After is capped by what max_age leaves");

  ep.no_retry = no;
  ep.nno_retry = 2;
  struct deliver_result r422 = {.status = 422, .retry_after = -1};
  is_int((long)retry_delay(&ep, 1, 0, &r422, 0.5), -1, "a status in no_retry ends the delivery");
  ok(retry_delay(&ep, 1, 0, &fail, 0.5) == 5, "  other statuses are still retried");
  struct deliver_result conn = {.status = 0, .retry_after = -1};
  ok(retry_delay(&ep, 1, 0, &conn, 0.5) == 5, "no answer at all (a connection error, a timeout) is retried");
  return done_testing();
}
