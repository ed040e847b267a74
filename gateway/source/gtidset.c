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
      if (*e || errno || a == 0 || b < a) {
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

void gtidset_free(struct gtidset *set)
{
  for (size_t i = 0; i < set->n; i++) free(set->sids[i].iv);
  free(set->sids);
  set->sids = NULL;
  set->n = 0;
}
