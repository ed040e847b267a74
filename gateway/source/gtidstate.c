/* gtidstate.c - see gtidstate.h. */
#include "source/gtidstate.h"
#include "util/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void changed(struct gtidstate *st)
{
  rcstr_unref(st->text);
  st->text = NULL;
}

int gtidstate_seed(struct gtidstate *st, const char *text, char *err, size_t errsz)
{
  struct gtidset set = {0};
  struct gtidpos pos = {0};
  char why[300];
  int mysql = strchr(text, ':') != NULL;
  int rc = mysql ? gtidset_parse(text, &set, why, sizeof why) : gtidpos_parse(text, &pos, why, sizeof why);
  if (rc) {
    gtidset_free(&set);
    gtidpos_free(&pos);
    return bh_err(err, errsz, "the GTID state '%.200s' does not read: %s", text, why);
  }
  gtidset_normalize(&set);
  gtidset_free(&st->set);
  gtidpos_free(&st->pos);
  st->set = set;
  st->pos = pos;
  /* an empty seed says nothing of the flavour: the first GTID will */
  st->flavor = mysql ? GTID_MYSQL : pos.n ? GTID_MARIADB : st->flavor;
  st->known = 1;
  changed(st);
  return 0;
}

int gtidstate_previous_gtids(struct gtidstate *st, const unsigned char *body, size_t n, char *err, size_t errsz)
{
  struct gtidset prev = {0};
  char why[256];
  if (gtidset_decode(body, n, &prev, why, sizeof why)) {
    gtidset_free(&prev);
    return bh_err(err, errsz, "PREVIOUS_GTIDS event: %s", why);
  }
  gtidset_union(&st->set, &prev);
  gtidset_free(&prev);
  st->flavor = GTID_MYSQL;
  st->known = 1;
  changed(st);
  return 0;
}

int gtidstate_gtid_list(struct gtidstate *st, const unsigned char *body, size_t n, char *err, size_t errsz)
{
  struct gtidpos list = {0};
  if (gtidpos_decode_list(body, n, &list, err, errsz)) {
    gtidpos_free(&list);
    return -1;
  }
  gtidpos_merge(&st->pos, &list);
  gtidpos_free(&list);
  st->flavor = GTID_MARIADB;
  st->known = 1;
  changed(st);
  return 0;
}

void gtidstate_begin(struct gtidstate *st)
{
  st->pending = GTID_NONE;
}

void gtidstate_pending_mysql(struct gtidstate *st, const unsigned char uuid[16], const char *tag, uint64_t gno)
{
  st->pending = GTID_MYSQL;
  memcpy(st->uuid, uuid, 16);
  size_t i = 0;
  for (; tag[i] && i + 1 < sizeof st->tag; i++) st->tag[i] = (char)tolower((unsigned char)tag[i]);
  st->tag[i] = 0;
  st->gno = gno;
}

void gtidstate_pending_mariadb(struct gtidstate *st, uint32_t domain, uint32_t server, uint64_t seq)
{
  st->pending = GTID_MARIADB;
  st->domain = domain;
  st->server = server;
  st->seq = seq;
}

void gtidstate_commit(struct gtidstate *st)
{
  if (st->pending == GTID_MYSQL && st->gno > 0 && st->gno < INT64_MAX)
    gtidset_add(&st->set, st->uuid, st->tag, st->gno);
  else if (st->pending == GTID_MARIADB)
    gtidpos_update(&st->pos, st->domain, st->server, st->seq);
  else
    return;
  if (st->flavor == GTID_NONE) st->flavor = st->pending;
  st->pending = GTID_NONE;
  changed(st);
}

struct rcstr *gtidstate_text(struct gtidstate *st)
{
  if (!st->known) return NULL;
  if (!st->text) {
    struct buf b = BUF_INIT;
    if (st->flavor == GTID_MYSQL) gtidset_format(&st->set, &b);
    else gtidpos_format(&st->pos, &b);
    st->text = rcstr_new(b.p ? b.p : "", b.len);
    buf_free(&b);
  }
  return rcstr_ref(st->text);
}

void gtidstate_free(struct gtidstate *st)
{
  gtidset_free(&st->set);
  gtidpos_free(&st->pos);
  rcstr_unref(st->text);
  memset(st, 0, sizeof *st);
}
