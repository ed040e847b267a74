/* filter.c - the handover filter (snapshot_filter): which of the
 * stream's changes between the first snapshot's position and the last one
 * apply, by the segment that read each key (seg_of) and the bands a
 * receiver may hold (band_pass); keys are ordered here, or by the server
 * for text in a collation and MariaDB's UUID and INET types (server_cmp,
 * one query per change over a connection of the filter's own, cmp).
 *
 * Runs on the consumer's thread (the daemon's main loop), for each event
 * of the stream, after every snapshot event: window_open and maxpos were
 * set by the snapshot thread at the end of reading (filter_window) before
 * the stream's first event was queued. filter_key_order also serves the
 * snapshot thread while it reads the bands of a resumed snapshot, before
 * any stream event exists; cmp and the column map are used by one thread
 * at a time so. */
#include "snapshot/snapshot_int.h"
#include "source/server.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Asks the server how a (an event's value) orders against b (a bound). */
static int server_cmp(struct snapshot *s, const struct scol *c, const struct value *a, const char *aa,
                      const struct value *b, const char *ba, int *out)
{
  char err[512];
  if (!s->cmp) {
    s->cmp = conn_open(&s->o.conn, err, sizeof err);
    if (!s->cmp) {
      log_warn("cannot compare keys on the server: %s", err);
      return -1;
    }
    mysql_query(s->cmp, "SET NAMES utf8mb4");
  }
  struct buf sql = BUF_INIT, x = BUF_INIT;
  if (a->kind == VAL_STRING && c->charset) {
    buf_add(&x, "CONVERT(_utf8mb4 ", 17);
    server_add_hex(&x, aa + a->off, a->len);
    buf_printf(&x, " USING %s) COLLATE %s", c->charset, c->collation);
  } else {
    struct value raw = *a;
    raw.kind = VAL_BYTES;
    key_add_literal(c, &raw, aa, &x);
  }
  buf_adds(&sql, "SELECT (");
  buf_add(&sql, x.p, x.len);
  buf_adds(&sql, " > ");
  key_add_literal(c, b, ba, &sql);
  buf_adds(&sql, ") - (");
  buf_add(&sql, x.p, x.len);
  buf_adds(&sql, " < ");
  key_add_literal(c, b, ba, &sql);
  buf_addc(&sql, ')');
  int rc = -1;
  MYSQL_RES *res = server_query(s->cmp, sql.p, err, sizeof err);
  if (res) {
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row && row[0]) {
      *out = atoi(row[0]);
      rc = 0;
    }
    mysql_free_result(res);
  } else {
    log_warn("cannot compare keys on the server: %s", err);
    mysql_close(s->cmp);
    s->cmp = NULL;
  }
  buf_free(&sql);
  buf_free(&x);
  return rc;
}

/* Orders the key values vals (one per key part, text in arena; as an event
 * or a key has them) against bound u: *out < 0, 0 or > 0. -1 when it
 * cannot be told. */
int filter_key_order(struct snapshot *s, const struct stab *t, const struct value *const *vals,
                     const char *arena, const struct key *u, int *out)
{
  int c = 0;
  for (uint32_t j = 0; j < t->npk && !c; j++) {
    const struct scol *col = &t->cols[t->pk[j]];
    if (col->server_cmp) {
      if (server_cmp(s, col, vals[j], arena, &u->v[j], u->arena.p, &c)) return -1;
    } else {
      c = key_value_cmp(col, vals[j], arena, &u->v[j], u->arena.p);
    }
  }
  *out = c;
  return 0;
}

void filter_window(struct snapshot *s)
{
  s->maxpos = s->handover;
  for (size_t i = 0; i < s->ntabs; i++)
    for (size_t k = 0; k < s->tabs[i].nsegs; k++)
      if (server_pos_cmp(s->tabs[i].segs[k].pos.file, s->tabs[i].segs[k].pos.pos, &s->maxpos) > 0)
        s->maxpos = s->tabs[i].segs[k].pos;
  s->window_open = server_pos_cmp(s->maxpos.file, s->maxpos.pos, &s->handover) > 0;
}

/* Event column of key part j of t: by name, else by position. */
static int map_columns(struct snapshot *s, const struct stab *t, const struct table *et)
{
  if (s->fmap_table == et) return 0;
  table_unref((struct table *)s->fmap_table);
  s->fmap_table = table_ref((struct table *)et);
  free(s->fmap);
  s->fmap = xcalloc(t->npk ? t->npk : 1, sizeof *s->fmap);
  for (uint32_t j = 0; j < t->npk; j++) {
    s->fmap[j] = UINT32_MAX;
    for (uint32_t i = 0; i < et->ncols; i++)
      if (et->cols[i].name && !strcmp(et->cols[i].name, t->cols[t->pk[j]].name)) s->fmap[j] = i;
    if (s->fmap[j] == UINT32_MAX && t->pk[j] < et->ncols) s->fmap[j] = t->pk[j];
    if (s->fmap[j] == UINT32_MAX) return -1;
  }
  return 0;
}

/* The key values of image img of e (from other where img lacks one). */
static int image_vals(struct snapshot *s, const struct stab *t, const struct change *e,
                      const struct value *img, const struct value *other, const struct value **vals)
{
  if (t->npk > KEY_PARTS_MAX || map_columns(s, t, e->table)) return -1;
  for (uint32_t j = 0; j < t->npk; j++) {
    const struct value *v = &img[s->fmap[j]];
    if (v->kind == VAL_ABSENT && other) v = &other[s->fmap[j]];
    vals[j] = v;
  }
  return 0;
}

/* The position of the snapshot that read the row with the key in img (an
 * image of e); NULL when it cannot be told. */
static const struct position *seg_of(struct snapshot *s, struct stab *t, const struct change *e,
                                     const struct value *img, const struct value *other)
{
  if (t->nsegs == 1 || !t->npk) return &t->segs[0].pos;
  const struct value *vals[KEY_PARTS_MAX];
  if (image_vals(s, t, e, img, other, vals)) return NULL;
  for (size_t k = 0; k < t->nsegs; k++) {
    const struct key *u = t->segs[k].upto;
    if (!u) return &t->segs[k].pos;
    int c;
    if (filter_key_order(s, t, vals, e->arena.p, u, &c)) return NULL;
    if (c <= 0) return &t->segs[k].pos;
  }
  return &t->segs[t->nsegs - 1].pos;
}

static int str_order(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a change at e of the row with key image img, read again by the
 * state after e, is passed all the same: the row lies in a band sent as
 * read before e (a receiver may hold it so), and the later read did not
 * find it, so that without this change the receiver would keep it. */
static int band_pass(struct snapshot *s, struct stab *t, const struct change *e, const struct value *img,
                     const struct value *other)
{
  if (!t->nbands || !t->npk) return 0;
  const struct value *vals[KEY_PARTS_MAX];
  if (image_vals(s, t, e, img, other, vals)) return 0;
  int in = 0;
  for (size_t i = 0; i < t->nbands && !in; i++) {
    const struct band *g = &t->bands[i];
    int c;
    if (server_pos_cmp(e->position.file, e->tx_pos, &g->pos) < 0) continue;
    if (g->after && (filter_key_order(s, t, vals, e->arena.p, g->after, &c) || c <= 0)) continue;
    if (g->upto && (filter_key_order(s, t, vals, e->arena.p, g->upto, &c) || c > 0)) continue;
    in = 1;
  }
  if (!in) return 0;
  if (!t->present_sorted) {
    if (t->npresent) qsort(t->present, t->npresent, sizeof *t->present, str_order);
    t->present_sorted = 1;
  }
  char *text = key_image(t, vals, e->arena.p);
  int found = t->npresent && bsearch(&text, t->present, t->npresent, sizeof *t->present, str_order) != NULL;
  free(text);
  return !found;
}

/* A table of the state whose columns are needed by the filter: loaded
 * from information_schema once, over the filter's connection. */
static int filter_table(struct snapshot *s, struct stab *t)
{
  if (t->ncols || (t->nsegs <= 1 && !t->nbands)) return 0;
  char err[512];
  if (!s->m && !s->pg &&
      (s->o.conn.postgres ? pg_snap_session(s, err, sizeof err) : open_session(s, err, sizeof err))) {
    log_warn("cannot read the key of '%s.%s' for the handover: %s", t->schema, t->name, err);
    snap_close(s);
    return -1;
  }
  int rc = read_load_table(s, t, err, sizeof err);
  if (rc) {
    if (rc < 0) log_warn("cannot read the key of '%s.%s' for the handover: %s", t->schema, t->name, err);
    return -1;
  }
  return 0;
}

int snapshot_filter(struct snapshot *s, struct change *e)
{
  /* the snapshot's own events come before the stream's; the window is set
   * up once they are all out */
  if (e->type == EVENT_SNAPSHOT || snapshot_marker(e, NULL)) return 1;
  if (!s->window_open) return 1;
  if (e->type == EVENT_COMMIT || e->type == EVENT_HEARTBEAT) {
    if (!snapshot_marker(e, NULL) && e->position.file[0] &&
        server_pos_cmp(e->position.file, e->end_pos, &s->maxpos) >= 0) {
      s->window_open = 0;
      snap_close(s);
      log_info("the stream passed %s:%" PRIu64 ", the last snapshot's position: the handover is complete",
               s->maxpos.file, s->maxpos.pos);
    }
    return 1;
  }
  if ((e->type != EVENT_INSERT && e->type != EVENT_UPDATE && e->type != EVENT_DELETE) || !e->table) return 1;
  if (server_pos_cmp(e->position.file, e->tx_pos, &s->maxpos) >= 0) {
    s->window_open = 0;
    snap_close(s);
    return 1;
  }
  struct stab *t = stab_find(s, e->table->schema, e->table->name);
  if (!t || !t->nsegs) return 1;
  if ((t->nsegs > 1 || t->nbands) && filter_table(s, t)) return 1;
  const struct position *pb = NULL, *pa = NULL;
  if (e->type != EVENT_INSERT) pb = seg_of(s, t, e, e->before, NULL);
  if (e->type != EVENT_DELETE) pa = seg_of(s, t, e, e->after, e->before);
  if ((e->type != EVENT_INSERT && !pb) || (e->type != EVENT_DELETE && !pa)) {
    log_warn("cannot tell which snapshot read a row of '%s.%s': its change is applied", t->schema, t->name);
    return 1;
  }
  int apply_b = pb && server_pos_cmp(e->position.file, e->tx_pos, pb) >= 0;
  int apply_a = pa && server_pos_cmp(e->position.file, e->tx_pos, pa) >= 0;
  if (pb && !apply_b) apply_b = band_pass(s, t, e, e->before, NULL);
  if (pa && !apply_a) apply_a = band_pass(s, t, e, e->after, e->before);
  if (e->type == EVENT_INSERT) return apply_a;
  if (e->type == EVENT_DELETE) return apply_b;
  if (apply_a && apply_b) return 1;
  if (!apply_a && !apply_b) return 0;
  if (apply_b) { /* the old key's row is tracked from before: it goes; the new one was read already */
    e->type = EVENT_DELETE;
    return 1;
  }
  /* the new key's row is read at an older snapshot than this change: it comes */
  for (uint32_t i = 0; i < e->table->ncols; i++)
    if (e->after[i].kind == VAL_ABSENT) e->after[i] = e->before[i];
  e->type = EVENT_INSERT;
  return 1;
}
