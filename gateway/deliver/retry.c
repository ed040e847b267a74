/* retry.c - see retry.h. */
#include "deliver/retry.h"

double retry_delay(const struct config_endpoint *ep, unsigned attempts, double age,
                   const struct deliver_result *res, double jitter)
{
  if (res->ok || attempts == 0 || attempts > ep->nretry) return -1;
  for (size_t i = 0; i < ep->nno_retry; i++)
    if (res->status == ep->no_retry[i]) return -1;
  double delay = ep->retry[attempts - 1] * (0.8 + 0.4 * jitter);
  double left = ep->max_age - age;
  if (delay > left) return -1;
  /* a longer wait the server asks for, as long as the max age allows: a
   * last attempt at the end of it rather than none */
  if ((res->status == 429 || res->status == 503) && res->retry_after > delay)
    delay = res->retry_after < left ? res->retry_after : left;
  return delay;
}
