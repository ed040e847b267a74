/* coalesce.h - updates of one row to one endpoint (by one rule) within the
 * endpoint's coalesce window become one delivery at the end of the window,
 * with the first update's before image and the last one's after image.
 *
 * It holds the checkpoint mark of the first update, so the checkpoint stays
 * before that until the delivery is made; its id is the last update's, so
 * the same window read again after a crash gives the same delivery and a
 * different window a different id. Any other change of the row to the
 * endpoint (an insert, a delete, an update by another rule) makes the
 * pending one first, so per-row order holds. Main loop only. */
#ifndef BH_COALESCE_H
#define BH_COALESCE_H

struct change;
struct daemon;
struct endpoint;
struct rule;

/* Whether a match of e to ep is coalesced (the endpoint asks for it and e
 * is an update of a row with a key). */
int coalesce_wanted(const struct daemon *dm, const struct endpoint *ep, const struct change *e);

/* e, an update, joins the pending delivery of its row to ep (or starts one). */
void coalesce_add(struct daemon *dm, const struct rule *rule, const struct endpoint *ep, const struct change *e);

/* A change of a row to ep that is not coalesced: the row's pending delivery
 * is made first. */
void coalesce_before(struct daemon *dm, const struct endpoint *ep, const struct change *e);

/* Makes every pending delivery now (a stop). */
void coalesce_flush_all(struct daemon *dm);

#endif
