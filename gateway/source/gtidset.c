/* gtidset.c - see gtidset.h. The binary layout: an 8-byte count of sids (in
 * the tagged format the top byte is 1, the count sits in bits 8..55 and the
 * low byte repeats the format), then per sid: 16 bytes of UUID, in the
 * tagged format the tag as a length (serialization varlen) and its bytes,
 * an 8-byte count of intervals and two 8-byte bounds per interval, the upper
 * one exclusive. All integers little-endian. */
#include "source/gtidset.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MySQL's GNO_END: transaction numbers are below 2^63 - 1. */
#define GTID_GNO_END INT64_MAX

static int parse_uuid(const char *s, size_t n, unsigned char *out)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '-') continue;
    int hi = bh_hexval((unsigned char)s[i]);
    if (hi < 0 || i + 1 >= n) return -1;
    int lo = bh_hexval((unsigned char)s[++i]);
    if (lo < 0 || k >= 16) return -1;
    out[k++] = (unsigned char)(hi << 4 | lo);
  }
  return k == 16 ? 0 : -1;
}

static struct gtid_tsid *tsid_for(struct gtidset *set, const unsigned char *uuid, const char *tag)
{
  for (size_t i = 0; i < set->n; i++)
    if (!memcmp(set->sids[i].uuid, uuid, 16) && !strcmp(set->sids[i].tag, tag)) return &set->sids[i];
  set->sids = xrealloc(set->sids, (set->n + 1) * sizeof *set->sids);
  struct gtid_tsid *t = &set->sids[set->n++];
  memset(t, 0, sizeof *t);
  memcpy(t->uuid, uuid, 16);
  snprintf(t->tag, sizeof t->tag, "%s", tag);
  return t;
}

int gtidset_parse(const char *text, struct gtidset *set, char *err, size_t errsz)
{
  char *copy = xstrdup(text), *save = NULL;
  int rc = 0;
  for (char *member = strtok_r(copy, ",", &save); member && !rc; member = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*member)) member++;
    char *end = member + strlen(member);
    while (end > member && isspace((unsigned char)end[-1])) *--end = 0;
    if (!*member) continue;
    char whole[512];
    snprintf(whole, sizeof whole, "%s", member); /* member is cut up below */
    char *colon = strchr(member, ':');
    unsigned char uuid[16];
    if (!colon || parse_uuid(member, (size_t)(colon - member), uuid)) {
      rc = bh_err(err, errsz, "'%s' is not a MySQL GTID (uuid:N, uuid:N-M or uuid:tag:N)", member);
      break;
    }
    const char *tag = "";
    char *p = colon + 1, *save2 = NULL;
    struct gtid_tsid *cur = NULL;
    size_t intervals = 0;
    for (char *part = strtok_r(p, ":", &save2); part; part = strtok_r(NULL, ":", &save2)) {
      if (isalpha((unsigned char)part[0]) || part[0] == '_') {
        if (strlen(part) > 32) {
          rc = bh_err(err, errsz, "GTID tag '%s' is longer than 32 characters", part);
          break;
        }
        for (char *c = part; *c; c++) *c = (char)tolower((unsigned char)*c);
        tag = part;
        cur = NULL;
        continue;
      }
      char *e;
      errno = 0;
      unsigned long long a = strtoull(part, &e, 10), b = a;
      if (*e == '-') b = strtoull(e + 1, &e, 10);
      if (*e || errno || a == 0 || b < a || b >= GTID_GNO_END) {
        rc = bh_err(err, errsz, "'%s' in GTID '%s' is not an interval (N or N-M, from 1)", part, whole);
        break;
      }
      if (!cur) cur = tsid_for(set, uuid, tag);
      cur->iv = xrealloc(cur->iv, (cur->n + 1) * sizeof *cur->iv);
      cur->iv[cur->n].start = a;
      cur->iv[cur->n].end = b;
      cur->n++;
      intervals++;
    }
    if (!rc && !intervals) rc = bh_err(err, errsz, "GTID '%s' has no transaction numbers (uuid:N or uuid:N-M)", whole);
  }
  free(copy);
  return rc;
}

void gtidset_format(const struct gtidset *set, struct buf *out)
{
  for (size_t i = 0; i < set->n; i++) {
    const struct gtid_tsid *t = &set->sids[i];
    const unsigned char *u = t->uuid;
    if (i) buf_addc(out, ',');
    buf_printf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
               u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    if (t->tag[0]) buf_printf(out, ":%s", t->tag);
    for (size_t k = 0; k < t->n; k++) {
      buf_addc(out, ':');
      buf_add_u64(out, t->iv[k].start);
      if (t->iv[k].end != t->iv[k].start) {
        buf_addc(out, '-');
        buf_add_u64(out, t->iv[k].end);
      }
    }
  }
}

static void add_le(struct buf *out, uint64_t v, size_t n)
{
  unsigned char b[8];
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
  buf_add(out, b, n);
}

/* The serialization library's unsigned varlen: (value << n) with n-1 low one
 * bits marking n bytes; 0xff and eight bytes for the largest values. */
static void add_varlen(struct buf *out, uint64_t v)
{
  for (int n = 1; n <= 8; n++) {
    if (v < (1ULL << (7 * n))) {
      uint64_t w = (v << n) | ((1ULL << (n - 1)) - 1);
      add_le(out, w, (size_t)n);
      return;
    }
  }
  buf_addc(out, (char)0xff);
  add_le(out, v, 8);
}

void gtidset_encode(const struct gtidset *set, struct buf *out)
{
  int tagged = 0;
  for (size_t i = 0; i < set->n; i++) tagged |= set->sids[i].tag[0] != 0;
  if (tagged) add_le(out, (1ULL << 56) | ((uint64_t)set->n << 8) | 1, 8);
  else add_le(out, set->n, 8);
  for (size_t i = 0; i < set->n; i++) {
    const struct gtid_tsid *t = &set->sids[i];
    buf_add(out, t->uuid, 16);
    if (tagged) {
      size_t l = strlen(t->tag);
      add_varlen(out, l);
      buf_add(out, t->tag, l);
    }
    add_le(out, t->n, 8);
    for (size_t k = 0; k < t->n; k++) {
      add_le(out, t->iv[k].start, 8);
      add_le(out, t->iv[k].end + 1, 8);
    }
  }
}

#define BINLOG_THROUGH_GTID 0x04

void gtidset_dump_command(const struct gtidset *set, uint32_t server_id, const char *file, uint64_t pos,
                          struct buf *out)
{
  struct buf enc = BUF_INIT;
  gtidset_encode(set, &enc);
  size_t fl = file ? strlen(file) : 0;
  add_le(out, BINLOG_THROUGH_GTID, 2);
  add_le(out, server_id, 4);
  add_le(out, fl, 4);
  buf_add(out, file ? file : "", fl);
  add_le(out, pos, 8);
  add_le(out, enc.len, 4);
  buf_add(out, enc.p, enc.len);
  buf_free(&enc);
}

/* A bounded reader of the encoding; over = 1 once a read ran past the end. */
struct rd {
  const unsigned char *p;
  size_t left;
  int over;
};

static uint64_t rd_le(struct rd *r, size_t n)
{
  if (r->over || r->left < n) {
    r->over = 1;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  r->left -= n;
  return v;
}

/* The reverse of add_varlen. */
static uint64_t rd_varlen(struct rd *r)
{
  uint64_t first = rd_le(r, 1);
  if (first == 0xff) return rd_le(r, 8);
  size_t k = 0;
  while (k < 8 && ((first >> k) & 1)) k++;
  uint64_t v = first | (rd_le(r, k) << 8);
  return v >> (k + 1);
}

int gtidset_decode(const unsigned char *p, size_t n, struct gtidset *set, char *err, size_t errsz)
{
  struct rd r = {p, n, 0};
  uint64_t head = rd_le(&r, 8);
  int tagged = (head >> 56) == 1;
  if (tagged && (head & 0xff) != 1)
    return bh_err(err, errsz, "GTID set in format %u, which binhook does not know", (unsigned)(head & 0xff));
  if (!tagged && head >> 56) return bh_err(err, errsz, "GTID set of an unknown format (first word %#llx)",
                                           (unsigned long long)head);
  uint64_t nsids = tagged ? (head >> 8) & 0xffffffffffffULL : head;
  /* each sid takes at least 24 bytes: a count this large is damage */
  if (nsids > n / 24) return bh_err(err, errsz, "GTID set says it has %llu UUIDs in %zu bytes",
                                    (unsigned long long)nsids, n);
  for (uint64_t i = 0; i < nsids && !r.over; i++) {
    unsigned char uuid[16];
    for (int k = 0; k < 16; k++) uuid[k] = (unsigned char)rd_le(&r, 1);
    char tag[33] = "";
    if (tagged) {
      uint64_t tl = rd_varlen(&r);
      if (tl > 32) return bh_err(err, errsz, "GTID tag of %llu bytes (at most 32)", (unsigned long long)tl);
      for (uint64_t k = 0; k < tl; k++) {
        int c = (int)rd_le(&r, 1);
        if (!isalnum(c) && c != '_' && !r.over) return bh_err(err, errsz, "GTID tag holds the byte %#x", c);
        tag[k] = (char)tolower(c);
      }
    }
    uint64_t niv = rd_le(&r, 8);
    if (niv > r.left / 16) return bh_err(err, errsz, "GTID set cut short in the intervals of UUID %llu",
                                         (unsigned long long)i + 1);
    struct gtid_tsid *t = tsid_for(set, uuid, tag);
    t->iv = xrealloc(t->iv, (t->n + niv) * sizeof *t->iv);
    for (uint64_t k = 0; k < niv; k++) {
      uint64_t a = rd_le(&r, 8), b = rd_le(&r, 8);
      if (a == 0 || b <= a || b > GTID_GNO_END)
        return bh_err(err, errsz, "GTID set holds the interval [%llu, %llu), which is not one",
                      (unsigned long long)a, (unsigned long long)b);
      t->iv[t->n].start = a;
      t->iv[t->n++].end = b - 1;
    }
  }
  if (r.over) return bh_err(err, errsz, "GTID set cut short (%zu bytes)", n);
  gtidset_normalize(set);
  return 0;
}

static int sid_cmp(const unsigned char *uuid, const char *tag, const struct gtid_tsid *t)
{
  int c = memcmp(uuid, t->uuid, 16);
  return c ? c : strcmp(tag, t->tag);
}

static int tsid_order(const void *a, const void *b)
{
  const struct gtid_tsid *x = a, *y = b;
  return sid_cmp(x->uuid, x->tag, y);
}

static int iv_order(const void *a, const void *b)
{
  const struct gtid_interval *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorted intervals merged where they overlap or touch. */
static void merge_sorted(struct gtid_tsid *t)
{
  size_t o = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (o && t->iv[i].start <= t->iv[o - 1].end + 1) {
      if (t->iv[i].end > t->iv[o - 1].end) t->iv[o - 1].end = t->iv[i].end;
    } else {
      t->iv[o++] = t->iv[i];
    }
  }
  t->n = o;
}

void gtidset_normalize(struct gtidset *set)
{
  if (set->n > 1) qsort(set->sids, set->n, sizeof *set->sids, tsid_order);
  size_t o = 0;
  for (size_t i = 0; i < set->n; i++) { /* the same sid twice ("u:1,u:5"): one, with both's intervals */
    struct gtid_tsid *t = &set->sids[i];
    if (o && !sid_cmp(t->uuid, t->tag, &set->sids[o - 1])) {
      struct gtid_tsid *k = &set->sids[o - 1];
      k->iv = xrealloc(k->iv, (k->n + t->n) * sizeof *k->iv);
      memcpy(k->iv + k->n, t->iv, t->n * sizeof *t->iv);
      k->n += t->n;
      free(t->iv);
    } else {
      set->sids[o++] = *t;
    }
  }
  set->n = o;
  for (size_t i = 0; i < set->n; i++) {
    struct gtid_tsid *t = &set->sids[i];
    if (t->n > 1) qsort(t->iv, t->n, sizeof *t->iv, iv_order);
    merge_sorted(t);
  }
}

/* The sid of a normal set, or where it would go (*found = 0). */
static size_t find_sid(const struct gtidset *set, const unsigned char *uuid, const char *tag, int *found)
{
  size_t lo = 0, hi = set->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = sid_cmp(uuid, tag, &set->sids[mid]);
    if (!c) {
      *found = 1;
      return mid;
    }
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  *found = 0;
  return lo;
}

static struct gtid_tsid *sid_in(struct gtidset *set, const unsigned char *uuid, const char *tag)
{
  int found;
  size_t at = find_sid(set, uuid, tag, &found);
  if (found) return &set->sids[at];
  set->sids = xrealloc(set->sids, (set->n + 1) * sizeof *set->sids);
  memmove(set->sids + at + 1, set->sids + at, (set->n - at) * sizeof *set->sids);
  set->n++;
  struct gtid_tsid *t = &set->sids[at];
  memset(t, 0, sizeof *t);
  memcpy(t->uuid, uuid, 16);
  snprintf(t->tag, sizeof t->tag, "%s", tag);
  return t;
}

/* Adds [a, b] to the normal intervals of t: the ones it overlaps or
 * touches become one. */
static void add_range(struct gtid_tsid *t, uint64_t a, uint64_t b)
{
  size_t lo = 0, hi = t->n;
  while (lo < hi) { /* the first interval that ends at a - 1 or later */
    size_t mid = lo + (hi - lo) / 2;
    if (t->iv[mid].end + 1 < a) lo = mid + 1;
    else hi = mid;
  }
  size_t i = lo, j = lo;
  while (j < t->n && t->iv[j].start <= b + 1) j++;
  if (j == i) {
    t->iv = xrealloc(t->iv, (t->n + 1) * sizeof *t->iv);
    memmove(t->iv + i + 1, t->iv + i, (t->n - i) * sizeof *t->iv);
    t->iv[i].start = a;
    t->iv[i].end = b;
    t->n++;
    return;
  }
  if (t->iv[i].start < a) a = t->iv[i].start;
  if (t->iv[j - 1].end > b) b = t->iv[j - 1].end;
  t->iv[i].start = a;
  t->iv[i].end = b;
  memmove(t->iv + i + 1, t->iv + j, (t->n - j) * sizeof *t->iv);
  t->n -= j - i - 1;
}

void gtidset_add(struct gtidset *set, const unsigned char uuid[16], const char *tag, uint64_t gno)
{
  add_range(sid_in(set, uuid, tag), gno, gno);
}

void gtidset_union(struct gtidset *dst, const struct gtidset *src)
{
  for (size_t i = 0; i < src->n; i++) {
    const struct gtid_tsid *s = &src->sids[i];
    struct gtid_tsid *t = sid_in(dst, s->uuid, s->tag);
    for (size_t k = 0; k < s->n; k++) add_range(t, s->iv[k].start, s->iv[k].end);
  }
}

int gtidset_contains(const struct gtidset *a, const struct gtidset *b)
{
  for (size_t i = 0; i < b->n; i++) {
    const struct gtid_tsid *t = &b->sids[i];
    int found;
    size_t at = find_sid(a, t->uuid, t->tag, &found);
    if (!found) {
      if (t->n) return 0;
      continue;
    }
    const struct gtid_tsid *h = &a->sids[at];
    size_t k = 0;
    for (size_t j = 0; j < t->n; j++) { /* both ascending: one walk */
      while (k < h->n && h->iv[k].end < t->iv[j].start) k++;
      if (k == h->n || h->iv[k].start > t->iv[j].start || h->iv[k].end < t->iv[j].end) return 0;
    }
  }
  return 1;
}

static void push_iv(struct gtid_tsid *t, uint64_t a, uint64_t b)
{
  t->iv = xrealloc(t->iv, (t->n + 1) * sizeof *t->iv);
  t->iv[t->n].start = a;
  t->iv[t->n++].end = b;
}

void gtidset_subtract(const struct gtidset *a, const struct gtidset *b, struct gtidset *out)
{
  for (size_t i = 0; i < a->n; i++) {
    const struct gtid_tsid *t = &a->sids[i];
    int found;
    size_t at = find_sid(b, t->uuid, t->tag, &found);
    const struct gtid_tsid *h = found ? &b->sids[at] : NULL;
    struct gtid_tsid rest = {.n = 0};
    size_t k = 0;
    for (size_t j = 0; j < t->n; j++) {
      uint64_t s = t->iv[j].start, e = t->iv[j].end;
      while (h && k < h->n && h->iv[k].end < s) k++;
      /* the holes b's intervals leave in [s, e] */
      for (size_t m = k; h && m < h->n && h->iv[m].start <= e && s <= e; m++) {
        if (h->iv[m].start > s) push_iv(&rest, s, h->iv[m].start - 1);
        if (h->iv[m].end >= e) s = e + 1;
        else s = h->iv[m].end + 1;
      }
      if (s <= e) push_iv(&rest, s, e);
    }
    if (!rest.n) continue;
    struct gtid_tsid *o = sid_in(out, t->uuid, t->tag);
    free(o->iv);
    o->iv = rest.iv;
    o->n = rest.n;
  }
}

int gtidset_equal(const struct gtidset *a, const struct gtidset *b)
{
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++) {
    const struct gtid_tsid *x = &a->sids[i], *y = &b->sids[i];
    if (sid_cmp(x->uuid, x->tag, y) || x->n != y->n || memcmp(x->iv, y->iv, x->n * sizeof *x->iv)) return 0;
  }
  return 1;
}

void gtidset_free(struct gtidset *set)
{
  for (size_t i = 0; i < set->n; i++) free(set->sids[i].iv);
  free(set->sids);
  set->sids = NULL;
  set->n = 0;
}
