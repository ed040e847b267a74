/* gtidpos.c - see gtidpos.h. A position holds one entry per domain and
 * few domains (one per independent stream of writes), so a sorted array
 * searched by bisection is all it needs. */
#include "source/gtidpos.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The index of domain, or where it would go (*found = 0). */
static size_t find(const struct gtidpos *pos, uint32_t domain, int *found)
{
  size_t lo = 0, hi = pos->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pos->d[mid].domain == domain) {
      *found = 1;
      return mid;
    }
    if (pos->d[mid].domain < domain) lo = mid + 1;
    else hi = mid;
  }
  *found = 0;
  return lo;
}

const struct gtid_domain *gtidpos_get(const struct gtidpos *pos, uint32_t domain)
{
  int found;
  size_t at = find(pos, domain, &found);
  return found ? &pos->d[at] : NULL;
}

void gtidpos_update(struct gtidpos *pos, uint32_t domain, uint32_t server, uint64_t seq)
{
  int found;
  size_t at = find(pos, domain, &found);
  if (!found) {
    pos->d = xrealloc(pos->d, (pos->n + 1) * sizeof *pos->d);
    memmove(pos->d + at + 1, pos->d + at, (pos->n - at) * sizeof *pos->d);
    pos->n++;
  }
  pos->d[at] = (struct gtid_domain){domain, server, seq};
}

/* One unsigned number of at most max, with its end in *end. */
static int number(const char *s, uint64_t max, uint64_t *out, const char **end)
{
  if (!isdigit((unsigned char)*s)) return -1;
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || v > max) return -1;
  *out = v;
  *end = e;
  return 0;
}

int gtidpos_parse(const char *text, struct gtidpos *pos, char *err, size_t errsz)
{
  const char *p = text;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return 0;
    const char *start = p;
    uint64_t d, s, n;
    if (number(p, UINT32_MAX, &d, &p) || *p++ != '-' || number(p, UINT32_MAX, &s, &p) || *p++ != '-' ||
        number(p, UINT64_MAX, &n, &p)) {
      size_t len = strcspn(start, ",");
      return bh_err(err, errsz, "'%.*s' is not a MariaDB GTID (domain-server-sequence, such as 0-1-100)",
                    (int)(len > 64 ? 64 : len), start);
    }
    gtidpos_update(pos, (uint32_t)d, (uint32_t)s, n);
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return 0;
    if (*p++ != ',') {
      return bh_err(err, errsz, "'%s' is not a list of MariaDB GTIDs: they are separated by commas", text);
    }
  }
}

void gtidpos_format(const struct gtidpos *pos, struct buf *out)
{
  for (size_t i = 0; i < pos->n; i++)
    buf_printf(out, "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64, i ? "," : "", pos->d[i].domain, pos->d[i].server,
               pos->d[i].seq);
}

static uint64_t le(const unsigned char *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int gtidpos_decode_list(const unsigned char *p, size_t n, struct gtidpos *pos, char *err, size_t errsz)
{
  if (n < 4) return bh_err(err, errsz, "GTID_LIST event cut short (%zu bytes)", n);
  uint32_t count = (uint32_t)le(p, 4) & 0x0fffffff; /* the top four bits are flags */
  if ((n - 4) / 16 < count)
    return bh_err(err, errsz, "GTID_LIST event says it holds %" PRIu32 " GTIDs but has room for %zu", count,
                  (n - 4) / 16);
  /* entries come per domain, its newest last: each overwrites the one before */
  for (uint32_t i = 0; i < count; i++) {
    const unsigned char *e = p + 4 + 16 * (size_t)i;
    gtidpos_update(pos, (uint32_t)le(e, 4), (uint32_t)le(e + 4, 4), le(e + 8, 8));
  }
  return 0;
}

void gtidpos_merge(struct gtidpos *dst, const struct gtidpos *src)
{
  for (size_t i = 0; i < src->n; i++) {
    const struct gtid_domain *have = gtidpos_get(dst, src->d[i].domain);
    if (!have || have->seq < src->d[i].seq) gtidpos_update(dst, src->d[i].domain, src->d[i].server, src->d[i].seq);
  }
}

int gtidpos_contains(const struct gtidpos *a, const struct gtidpos *b)
{
  for (size_t i = 0; i < b->n; i++) {
    const struct gtid_domain *have = gtidpos_get(a, b->d[i].domain);
    if (!have || have->seq < b->d[i].seq) return 0;
  }
  return 1;
}

void gtidpos_missing(const struct gtidpos *a, const struct gtidpos *b, struct gtidpos *out)
{
  for (size_t i = 0; i < a->n; i++) {
    const struct gtid_domain *have = gtidpos_get(b, a->d[i].domain);
    if (!have || have->seq < a->d[i].seq) gtidpos_update(out, a->d[i].domain, a->d[i].server, a->d[i].seq);
  }
}

void gtidpos_free(struct gtidpos *pos)
{
  free(pos->d);
  pos->d = NULL;
  pos->n = 0;
}
