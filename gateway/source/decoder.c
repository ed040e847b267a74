/* decoder.c - see decoder.h. */
#include "source/decoder.h"
#include "source/binlog.h"
#include "source/charset.h"
#include "source/coldec.h"
#include "source/gtidstate.h"
#include "util/util.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

/* MariaDB GTID event flags. */
#define GTID_FL_STANDALONE 0x01
#define GTID_FL_GROUP_COMMIT_ID 0x02
#define GTID_FL_PREPARED_XA 0x40
/* Rows event flags. */
#define ROWS_F_STMT_END 0x0001

struct decoder {
  struct decoder_opts opts;
  struct decoder_cb cb;
  struct binlog_format fmt;
  int have_format;
  int warned_names;
  struct table_map *tables;
  struct charset_conv *cs;

  struct position pos;      /* current file; pos = offset after the last event */
  struct position boundary; /* last transaction boundary */
  struct gtidstate gs;      /* the full GTID state at the boundary */

  /* The open transaction. */
  int in_tx;
  int standalone;      /* a GTID group without COMMIT: ends after its statement */
  int explicit_begin;  /* saw BEGIN */
  uint64_t tx_pos;
  char gtid[GTID_MAX];
  uint32_t tx_index;
  uint32_t skip;       /* changes still to drop (resume) */
  /* XA: changes of a transaction between XA START and XA PREPARE are held
   * until its XA COMMIT (emitted) or XA ROLLBACK (dropped). */
  int xa_open;
  char xa_xid[256];
  struct change *xa_head, **xa_tail;
  struct xa_prepared {
    char xid[256];
    struct change *head;
  } *xa;
  size_t nxa;
  struct rcstr *sql;   /* annotated SQL of the current statement */
  struct buf scratch;  /* uncompressed parts of MariaDB compressed events */
  struct buf payload;  /* uncompressed TRANSACTION_PAYLOAD not yet fed */
  size_t arena_hint;   /* what the last row's values took: the next one's arena is sized once */
  /* Inside a TRANSACTION_PAYLOAD: inner events take the payload's place. */
  int inner;
  uint64_t inner_at, inner_end;
};

/* The file name of from into to (both POS_FILE_MAX): a copy for each
 * event outside a transaction, so not through snprintf. */
static void copy_file(char *to, const char *from)
{
  size_t n = strnlen(from, POS_FILE_MAX - 1);
  memcpy(to, from, n);
  to[n] = 0;
}

static void free_list(struct change *e)
{
  while (e) {
    struct change *next = e->next;
    change_free(e);
    e = next;
  }
}

struct decoder *decoder_new(const struct decoder_opts *o, const struct decoder_cb *cb)
{
  struct decoder *d = xcalloc(1, sizeof *d);
  if (o) d->opts = *o;
  d->cb = *cb;
  binlog_format_default(&d->fmt);
  d->tables = table_map_new();
  d->cs = charset_conv_new();
  d->skip = d->opts.skip_changes;
  return d;
}

void decoder_free(struct decoder *d)
{
  if (!d) return;
  table_map_free(d->tables);
  charset_conv_free(d->cs);
  rcstr_unref(d->sql);
  buf_free(&d->scratch);
  buf_free(&d->payload);
  free_list(d->xa_head);
  for (size_t i = 0; i < d->nxa; i++) free_list(d->xa[i].head);
  free(d->xa);
  gtidstate_free(&d->gs);
  free(d);
}

void decoder_set_file(struct decoder *d, const char *file)
{
  snprintf(d->pos.file, sizeof d->pos.file, "%s", file);
  snprintf(d->boundary.file, sizeof d->boundary.file, "%s", file);
}

void decoder_set_start(struct decoder *d, const char *file, uint64_t pos)
{
  decoder_set_file(d, file);
  d->pos.pos = pos;
  d->boundary.pos = pos;
}

const struct position *decoder_boundary(const struct decoder *d)
{
  return &d->boundary;
}

int decoder_seed_gtid_state(struct decoder *d, const char *text, char *err, size_t errsz)
{
  return gtidstate_seed(&d->gs, text, err, errsz);
}

struct rcstr *decoder_gtid_state(struct decoder *d)
{
  return gtidstate_text(&d->gs);
}

const struct position *decoder_position(const struct decoder *d)
{
  return &d->pos;
}

int decoder_in_tx(const struct decoder *d, uint64_t *tx_start, uint32_t *emitted)
{
  if (d->in_tx) {
    if (tx_start) *tx_start = d->tx_pos;
    if (emitted) *emitted = d->tx_index;
  }
  return d->in_tx;
}

int decoder_table_selected(char *const *include, char *const *exclude, const char *schema, const char *table)
{
  char full[512];
  snprintf(full, sizeof full, "%s.%s", schema, table);
  if (include && include[0]) {
    int hit = 0;
    for (char *const *g = include; *g && !hit; g++) hit = fnmatch(*g, full, 0) == 0;
    if (!hit) return 0;
  }
  if (exclude)
    for (char *const *g = exclude; *g; g++)
      if (fnmatch(*g, full, 0) == 0) return 0;
  return 1;
}

/* Skips blanks and comments; executable comments (slash-star-bang) are
 * entered, since their body is the statement. */
static const char *skip_noise(const char *s, const char *end)
{
  for (;;) {
    while (s < end && isspace((unsigned char)*s)) s++;
    if (end - s >= 3 && s[0] == '/' && s[1] == '*' && s[2] == '!') {
      s += 3;
      while (s < end && (isdigit((unsigned char)*s) || *s == 'M')) s++;
      continue;
    }
    if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
      const char *c = s + 2;
      while (c + 1 < end && !(c[0] == '*' && c[1] == '/')) c++;
      s = c + 1 < end ? c + 2 : end;
      continue;
    }
    if ((end - s >= 2 && s[0] == '-' && s[1] == '-') || (s < end && *s == '#')) {
      while (s < end && *s != '\n') s++;
      continue;
    }
    return s;
  }
}

/* Reads the next word into w (upper case); returns the position after it. */
static const char *next_word(const char *s, const char *end, char *w, size_t wsz)
{
  s = skip_noise(s, end);
  size_t n = 0;
  while (s < end && (isalnum((unsigned char)*s) || *s == '_')) {
    if (n + 1 < wsz) w[n++] = (char)toupper((unsigned char)*s);
    s++;
  }
  w[n] = 0;
  return s;
}

int decoder_classify_sql(const char *sql, size_t n)
{
  const char *end = sql + n;
  char w[32], w2[32];
  const char *s = next_word(sql, end, w, sizeof w);
  if (!strcmp(w, "BEGIN") || !strcmp(w, "COMMIT") || !strcmp(w, "ROLLBACK") || !strcmp(w, "SAVEPOINT") ||
      !strcmp(w, "RELEASE") || !strcmp(w, "XA"))
    return -1;
  if (!strcmp(w, "GRANT") || !strcmp(w, "REVOKE")) return STMT_DCL;
  if (!strcmp(w, "TRUNCATE")) return STMT_DDL;
  if (!strcmp(w, "SET")) {
    next_word(s, end, w2, sizeof w2);
    return !strcmp(w2, "PASSWORD") || !strcmp(w2, "DEFAULT") ? STMT_DCL : STMT_OTHER;
  }
  if (!strcmp(w, "CREATE") || !strcmp(w, "ALTER") || !strcmp(w, "DROP") || !strcmp(w, "RENAME")) {
    s = next_word(s, end, w2, sizeof w2);
    if (!strcmp(w2, "OR")) { /* CREATE OR REPLACE */
      s = next_word(s, end, w2, sizeof w2);
      s = next_word(s, end, w2, sizeof w2);
    }
    if (!strcmp(w2, "USER") || !strcmp(w2, "ROLE")) return STMT_DCL;
    return STMT_DDL;
  }
  return STMT_OTHER;
}

/* MariaDB's compressed event parts: a header byte 0x8N (N = bytes of length),
 * the uncompressed length big-endian, then a zlib stream. */
static int maria_uncompress(const unsigned char *p, size_t n, struct buf *out)
{
  if (n < 1 || (p[0] & 0xe0) != 0x80) return -1;
  size_t lb = p[0] & 0x07;
  if (lb < 1 || lb > 4 || n < 1 + lb) return -1;
  uLongf len = (uLongf)be_n(p + 1, lb);
  if (len > (1u << 30)) return -1;
  buf_reset(out);
  buf_reserve(out, len);
  if (uncompress((Bytef *)out->p, &len, p + 1 + lb, (uLong)(n - 1 - lb)) != Z_OK) return -1;
  out->len = len;
  out->p[len] = 0;
  return 0;
}

static int fail(struct decoder *d, uint64_t at, char *err, size_t errsz, const char *what)
{
  return bh_err(err, errsz, "%s:%" PRIu64 ": %s", d->pos.file[0] ? d->pos.file : "(binlog)", at, what);
}

static void warn(struct decoder *d, uint64_t at, const char *msg)
{
  if (!d->cb.warn) return;
  char line[1024];
  snprintf(line, sizeof line, "%s:%" PRIu64 ": %s", d->pos.file, at, msg);
  d->cb.warn(d->cb.ctx, line);
}

static void begin_tx(struct decoder *d, uint64_t at)
{
  if (d->xa_open) { /* held changes of a group that never reached PREPARE or COMMIT */
    free_list(d->xa_head);
    d->xa_head = NULL;
    d->xa_tail = &d->xa_head;
    d->xa_open = 0;
  }
  d->in_tx = 1;
  d->tx_pos = at;
  d->tx_index = 0;
  d->explicit_begin = 0;
  d->standalone = 0;
  d->gtid[0] = 0;
  gtidstate_begin(&d->gs);
}

static void fill_common(struct decoder *d, struct change *e, const struct binlog_header *h, uint64_t at)
{
  e->ts = h->timestamp;
  e->server_id = h->server_id;
  memcpy(e->position.file, d->pos.file, sizeof e->position.file);
  e->position.pos = at;
  memcpy(e->position.gtid, d->gtid, sizeof e->position.gtid);
  e->tx_pos = d->tx_pos;
  e->tx_index = d->tx_index;
}

/* Counts a change of the transaction; 1 when a resume skips it. Changes of
 * filtered-out tables are counted too, so that ids and resume counts do not
 * depend on the filters. */
static int count_change(struct decoder *d)
{
  d->tx_index++;
  if (d->skip) {
    d->skip--;
    return 1;
  }
  return 0;
}

/* Hands an event out, unless a resume skips it or an XA transaction holds it. */
static int emit_change(struct decoder *d, struct change *e, char *err, size_t errsz)
{
  if (count_change(d)) {
    change_free(e);
    return 0;
  }
  if (d->xa_open) {
    e->next = NULL;
    *d->xa_tail = e;
    d->xa_tail = &e->next;
    return 0;
  }
  return d->cb.emit(d->cb.ctx, e, err, errsz);
}

/* The XA transaction id of "XA <verb> xid [ONE PHASE]", as written. */
static void xa_xid(const char *sql, size_t n, char *out, size_t size)
{
  const char *end = sql + n, *s = sql;
  char w[16];
  s = next_word(s, end, w, sizeof w); /* XA */
  s = next_word(s, end, w, sizeof w); /* the verb */
  while (s < end && isspace((unsigned char)*s)) s++;
  while (end > s && isspace((unsigned char)end[-1])) end--;
  if (end - s > 9 && !strncasecmp(end - 9, "ONE PHASE", 9)) {
    end -= 9;
    while (end > s && isspace((unsigned char)end[-1])) end--;
  }
  snprintf(out, size, "%.*s", (int)(end - s), s);
}

static int emit_list(struct decoder *d, struct change *e, char *err, size_t errsz)
{
  while (e) {
    struct change *next = e->next;
    e->next = NULL;
    if (d->cb.emit(d->cb.ctx, e, err, errsz)) {
      free_list(next);
      return -1;
    }
    e = next;
  }
  return 0;
}

/* The held changes of the open XA transaction become prepared ones. */
static void xa_prepare(struct decoder *d)
{
  if (!d->xa_open) return;
  d->xa = xrealloc(d->xa, (d->nxa + 1) * sizeof *d->xa);
  snprintf(d->xa[d->nxa].xid, sizeof d->xa[d->nxa].xid, "%s", d->xa_xid);
  d->xa[d->nxa].head = d->xa_head;
  d->nxa++;
  d->xa_head = NULL;
  d->xa_tail = &d->xa_head;
  d->xa_open = 0;
}

/* XA COMMIT (commit = 1) or XA ROLLBACK of a prepared transaction. */
static int xa_finish(struct decoder *d, const char *xid, int commit, uint64_t at, char *err, size_t errsz)
{
  for (size_t i = 0; i < d->nxa; i++) {
    if (strcasecmp(d->xa[i].xid, xid)) continue;
    struct change *head = d->xa[i].head;
    d->xa[i] = d->xa[--d->nxa];
    if (!commit) {
      free_list(head);
      return 0;
    }
    return emit_list(d, head, err, errsz);
  }
  if (commit) {
    char msg[400];
    snprintf(msg, sizeof msg, "XA COMMIT %s: its changes were prepared before the point this stream started "
             "from and are not in it", xid);
    warn(d, at, msg);
  }
  return 0;
}

static int end_tx(struct decoder *d, const struct binlog_header *h, uint64_t at, uint64_t end, char *err,
                  size_t errsz)
{
  struct change *e = change_new(EVENT_COMMIT, NULL);
  fill_common(d, e, h, at);
  e->end_pos = end;
  e->xa_held = d->nxa > 0;
  d->in_tx = 0;
  d->skip = 0; /* a resume skips within its first transaction only */
  rcstr_unref(d->sql);
  d->sql = NULL;
  copy_file(d->boundary.file, d->pos.file);
  d->boundary.pos = end;
  if (d->gtid[0]) memcpy(d->boundary.gtid, d->gtid, sizeof d->boundary.gtid);
  gtidstate_commit(&d->gs);
  e->gtid_state = gtidstate_text(&d->gs);
  return d->cb.emit(d->cb.ctx, e, err, errsz);
}

static int on_query(struct decoder *d, const struct binlog_header *h, const unsigned char *body, size_t n,
                    uint64_t at, uint64_t end, char *err, size_t errsz)
{
  struct reader r;
  reader_init(&r, body, n);
  uint32_t thread_id = (uint32_t)reader_uint(&r, 4);
  (void)reader_uint(&r, 4); /* exec time */
  size_t dblen = reader_uint(&r, 1);
  (void)reader_uint(&r, 2); /* error code */
  size_t phl = d->fmt.post_header_len[BL_QUERY];
  size_t status_len = phl >= 13 ? reader_uint(&r, 2) : 0;
  if (phl > 13) reader_take(&r, phl - 13);
  reader_take(&r, status_len);
  const unsigned char *db = reader_take(&r, dblen + 1);
  if (r.overrun || !db) return fail(d, at, err, errsz, "QUERY event cut short");
  const char *sql = (const char *)r.p;
  size_t sqllen = reader_left(&r);
  if (h->type == BL_MARIA_QUERY_COMPRESSED) {
    if (maria_uncompress(r.p, sqllen, &d->scratch))
      return fail(d, at, err, errsz, "QUERY_COMPRESSED event: the statement text does not uncompress");
    sql = d->scratch.p;
    sqllen = d->scratch.len;
  }

  int kind = decoder_classify_sql(sql, sqllen);
  if (kind < 0) {
    char w[16];
    next_word(sql, sql + sqllen, w, sizeof w);
    if (!strcmp(w, "XA")) {
      char verb[16], xid[256];
      next_word(next_word(sql, sql + sqllen, verb, sizeof verb), sql + sqllen, verb, sizeof verb);
      xa_xid(sql, sqllen, xid, sizeof xid);
      int one_phase = sqllen > 9 && !strncasecmp(sql + sqllen - 9, "ONE PHASE", 9);
      if (!strcmp(verb, "START") || !strcmp(verb, "BEGIN")) {
        if (!d->in_tx) begin_tx(d, at);
        d->explicit_begin = 1;
        d->xa_open = 1;
        snprintf(d->xa_xid, sizeof d->xa_xid, "%s", xid);
        d->xa_head = NULL;
        d->xa_tail = &d->xa_head;
        return 0;
      }
      if (!strcmp(verb, "PREPARE")) {
        xa_prepare(d);
        return d->in_tx ? end_tx(d, h, at, end, err, errsz) : 0;
      }
      if (!strcmp(verb, "COMMIT") && one_phase && d->xa_open) {
        /* One phase: the changes of this very group commit now. */
        struct change *head = d->xa_head;
        d->xa_head = NULL;
        d->xa_tail = &d->xa_head;
        d->xa_open = 0;
        if (emit_list(d, head, err, errsz)) return -1;
        return d->in_tx ? end_tx(d, h, at, end, err, errsz) : 0;
      }
      if (!strcmp(verb, "COMMIT") || !strcmp(verb, "ROLLBACK")) {
        if (xa_finish(d, xid, !strcmp(verb, "COMMIT"), at, err, errsz)) return -1;
        return d->in_tx ? end_tx(d, h, at, end, err, errsz) : 0;
      }
      return 0; /* XA END, XA RECOVER */
    }
    if (!strcmp(w, "BEGIN")) {
      if (!d->in_tx) begin_tx(d, at);
      d->explicit_begin = 1;
      return 0;
    }
    if (!strcmp(w, "COMMIT") || (!strcmp(w, "ROLLBACK") && sqllen == 8)) {
      if (!d->in_tx) return 0;
      return end_tx(d, h, at, end, err, errsz);
    }
    return 0; /* SAVEPOINT, ROLLBACK TO, RELEASE: inside a transaction */
  }

  int own_tx = !d->in_tx || !d->explicit_begin;
  if (!d->in_tx) begin_tx(d, at);
  struct change *e = change_new(EVENT_STATEMENT, NULL);
  fill_common(d, e, h, at);
  e->kind = (enum statement_kind)kind;
  e->thread_id = thread_id;
  e->sql = rcstr_new(sql, sqllen);
  e->schema_off = 0;
  e->schema_len = dblen;
  buf_add(&e->arena, db, dblen);
  if (emit_change(d, e, err, errsz)) return -1;
  /* DDL and other statements logged outside BEGIN...COMMIT are their own transaction. */
  if (own_tx) return end_tx(d, h, at, end, err, errsz);
  return 0;
}

static int on_rows(struct decoder *d, const struct binlog_header *h, const unsigned char *body, size_t n,
                   uint64_t at, char *err, size_t errsz)
{
  uint8_t type = h->type;
  struct reader r;
  reader_init(&r, body, n);
  size_t phl = d->fmt.post_header_len[type];
  size_t idlen = phl == 6 ? 4 : 6;
  uint64_t table_id = reader_uint(&r, idlen);
  uint16_t flags = (uint16_t)reader_uint(&r, 2);
  int v2 = type == BL_WRITE_ROWS || type == BL_UPDATE_ROWS || type == BL_DELETE_ROWS ||
           type == BL_PARTIAL_UPDATE_ROWS || type == BL_MARIA_WRITE_ROWS_COMPRESSED ||
           type == BL_MARIA_UPDATE_ROWS_COMPRESSED || type == BL_MARIA_DELETE_ROWS_COMPRESSED;
  int compressed = type >= BL_MARIA_WRITE_ROWS_COMPRESSED_V1 && type <= BL_MARIA_DELETE_ROWS_COMPRESSED;
  if (v2) {
    size_t extra = reader_uint(&r, 2);
    if (extra >= 2) reader_take(&r, extra - 2);
  } else if (phl > idlen + 2) {
    reader_take(&r, phl - idlen - 2);
  }
  if (r.overrun) return fail(d, at, err, errsz, "rows event cut short in its header");

  struct table *t = table_map_get(d->tables, table_id);
  if (!t) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "%s for table id %" PRIu64 ", which no TABLE_MAP defined (the binlog is damaged, or reading started "
             "inside a transaction: start at a transaction boundary)",
             binlog_type_name(type), table_id);
    return fail(d, at, err, errsz, msg);
  }
  int stmt_end = flags & ROWS_F_STMT_END;

  int kind;
  switch (type) {
  case BL_PRE_GA_WRITE_ROWS: case BL_WRITE_ROWS_V1: case BL_WRITE_ROWS:
  case BL_MARIA_WRITE_ROWS_COMPRESSED_V1: case BL_MARIA_WRITE_ROWS_COMPRESSED: kind = EVENT_INSERT; break;
  case BL_PRE_GA_DELETE_ROWS: case BL_DELETE_ROWS_V1: case BL_DELETE_ROWS:
  case BL_MARIA_DELETE_ROWS_COMPRESSED_V1: case BL_MARIA_DELETE_ROWS_COMPRESSED: kind = EVENT_DELETE; break;
  default: kind = EVENT_UPDATE;
  }

  uint64_t ncols = reader_packed(&r);
  if (r.overrun || ncols != t->ncols) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s for '%s.%s' has %" PRIu64 " columns but its TABLE_MAP has %u",
             binlog_type_name(type), t->schema, t->name, ncols, t->ncols);
    return fail(d, at, err, errsz, msg);
  }
  size_t bmlen = (ncols + 7) / 8;
  const unsigned char *present1 = reader_take(&r, bmlen);
  const unsigned char *present2 = kind == EVENT_UPDATE ? reader_take(&r, bmlen) : present1;
  if (!present1 || !present2) return fail(d, at, err, errsz, "rows event cut short in its column bitmaps");
  uint32_t njson = 0;
  if (type == BL_PARTIAL_UPDATE_ROWS)
    for (uint32_t i = 0; i < t->ncols; i++)
      if (t->cols[i].type == MT_JSON && ((present2[i / 8] >> (i % 8)) & 1)) njson++;
  if (compressed) {
    /* The row images are one zlib stream. */
    if (maria_uncompress(r.p, reader_left(&r), &d->scratch))
      return fail(d, at, err, errsz, "compressed rows event: the row data does not uncompress");
    reader_init(&r, (const unsigned char *)d->scratch.p, d->scratch.len);
  }

  char derr[256];
  if (t->filtered) {
    /* Decoded only to be counted: ids must not depend on the filters. */
    struct change *scratch = change_new((enum event_type)kind, t);
    int rc = 0;
    while (!rc && reader_left(&r) > 0) {
      const unsigned char *before_row = r.p;
      buf_reset(&scratch->arena);
      rc = coldec_row(&r, t, present1, scratch->before, &scratch->arena, d->cs, derr, sizeof derr);
      if (!rc && kind == EVENT_UPDATE) {
        const unsigned char *partial = NULL;
        if (type == BL_PARTIAL_UPDATE_ROWS) {
          uint64_t opts = reader_packed(&r);
          if (opts & 1) partial = reader_take(&r, (njson + 7) / 8);
        }
        rc = coldec_row_partial(&r, t, present2, scratch->after, &scratch->arena, d->cs, partial, scratch->before,
                                derr, sizeof derr);
      }
      if (!rc && r.p == before_row) rc = bh_err(derr, sizeof derr, "a row that holds no column");
      if (!rc) count_change(d);
    }
    change_free(scratch);
    if (rc) {
      char msg[400];
      snprintf(msg, sizeof msg, "%s for '%s.%s': %s", binlog_type_name(type), t->schema, t->name, derr);
      return fail(d, at, err, errsz, msg);
    }
    if (stmt_end) {
      rcstr_unref(d->sql);
      d->sql = NULL;
    }
    return 0;
  }
  while (reader_left(&r) > 0) {
    /* A row takes at least one byte unless its bitmaps select no column,
     * which no server writes: refuse it rather than loop on nothing. */
    const unsigned char *row_start = r.p;
    struct change *e = change_new((enum event_type)kind, t);
    buf_reserve(&e->arena, d->arena_hint);
    fill_common(d, e, h, at);
    change_set_sql(e, d->sql);
    int rc = 0;
    if (kind == EVENT_INSERT) {
      rc = coldec_row(&r, t, present1, e->after, &e->arena, d->cs, derr, sizeof derr);
    } else if (kind == EVENT_DELETE) {
      rc = coldec_row(&r, t, present1, e->before, &e->arena, d->cs, derr, sizeof derr);
    } else {
      rc = coldec_row(&r, t, present1, e->before, &e->arena, d->cs, derr, sizeof derr);
      const unsigned char *partial = NULL;
      if (!rc && type == BL_PARTIAL_UPDATE_ROWS) {
        /* binlog_row_value_options, then which JSON columns hold a diff. */
        uint64_t opts = reader_packed(&r);
        if (opts & 1) partial = reader_take(&r, (njson + 7) / 8);
        if (r.overrun) rc = bh_err(derr, sizeof derr, "partial update header cut short");
      }
      if (!rc)
        rc = coldec_row_partial(&r, t, present2, e->after, &e->arena, d->cs, partial, e->before, derr,
                                sizeof derr);
    }
    if (!rc && r.p == row_start) rc = bh_err(derr, sizeof derr, "a row image that selects no column");
    /* Rows of a statement are alike: room for a quarter more than this one
     * took saves growing the next one's arena step by step. */
    d->arena_hint = e->arena.len + e->arena.len / 4;
    if (rc) {
      change_free(e);
      char msg[400];
      snprintf(msg, sizeof msg, "%s for '%s.%s': %s", binlog_type_name(type), t->schema, t->name, derr);
      return fail(d, at, err, errsz, msg);
    }
    if (emit_change(d, e, err, errsz)) return -1;
  }
  if (stmt_end) {
    rcstr_unref(d->sql);
    d->sql = NULL;
  }
  return 0;
}

static int on_table_map(struct decoder *d, const unsigned char *body, size_t n, uint64_t at, char *err,
                        size_t errsz)
{
  char terr[256];
  size_t idlen = d->fmt.post_header_len[BL_TABLE_MAP] == 6 ? 4 : 6;
  /* Every transaction maps its tables again. The same map as before (the
   * same id and bytes) is the same table: the one built then is kept, with
   * what was made for it (the printer's pieces). */
  if (n >= idlen) {
    uint64_t id = 0;
    for (size_t i = idlen; i-- > 0;) id = id << 8 | body[i];
    const struct table *known = table_map_get(d->tables, id);
    if (known && known->map && known->map_len == n && !memcmp(known->map, body, n)) return 0;
  }
  struct table *t = table_from_map(body, n, (int)idlen, d->fmt.mariadb, terr, sizeof terr);
  if (!t) return fail(d, at, err, errsz, terr);
  /* Names the server is asked for (MINIMAL metadata) may change with the
   * same map (a column renamed): such a table is built again each time. */
  if (t->names_known || !d->cb.lookup_names) {
    t->map = xmalloc(n ? n : 1);
    memcpy(t->map, body, n);
    t->map_len = n;
  }
  /* ENUM and SET labels are in the column's charset; events carry UTF-8.
   * Each column's charset is looked up here once, not for every value. */
  for (uint32_t i = 0; i < t->ncols; i++) {
    struct column *c = &t->cols[i];
    c->text_kind = (uint8_t)(charset_kind_of(d->cs, c->charset) + 1);
    enum charset_kind k = c->labels ? charset_kind_of(d->cs, c->charset) : CS_UTF8;
    if (k != CS_LATIN1 && k != CS_OTHER) continue;
    for (uint32_t l = 0; l < c->nlabels; l++) {
      buf_reset(&d->scratch);
      charset_to_utf8(d->cs, c->charset, c->labels[l], strlen(c->labels[l]), &d->scratch);
      free(c->labels[l]);
      c->labels[l] = xstrndup(d->scratch.p, d->scratch.len);
    }
  }
  if (!decoder_table_selected(d->opts.include, d->opts.exclude, t->schema, t->name))
    t->filtered = 1; /* kept, so that its rows are recognised and skipped */
  else if (!t->names_known && d->cb.lookup_names)
    d->cb.lookup_names(d->cb.ctx, t);
  else if (!t->names_known && !d->warned_names) {
    d->warned_names = 1;
    char msg[400];
    snprintf(msg, sizeof msg, "'%s.%s' and other tables have no column names in this binlog "
             "(binlog_row_metadata=MINIMAL): columns are named @1, @2, ...; set binlog_row_metadata=FULL on the "
             "server, or read through the server (tail --source), which looks the names up", t->schema, t->name);
    warn(d, at, msg);
  }
  table_map_put(d->tables, t);
  return 0;
}


/* The 16 bytes of u as a UUID's text, 36 characters and a NUL (size at
 * least 37): one per transaction, so not through snprintf. */
static void format_uuid(const unsigned char *u, char *out, size_t size)
{
  static const char hex[] = "0123456789abcdef";
  bh_assert(size >= 37);
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hex[u[i] >> 4];
    *o++ = hex[u[i] & 15];
  }
  *o = 0;
}

/* MySQL's serialization library integers: the count of trailing one bits
 * in the first byte says how many more bytes follow (eight for 0xff). */
static uint64_t read_varlen(struct reader *r)
{
  const unsigned char *p = reader_take(r, 1);
  if (!p) return 0;
  int k = 0;
  while (k < 8 && ((p[0] >> k) & 1)) k++;
  if (k == 8) return reader_uint(r, 8);
  const unsigned char *rest = reader_take(r, (size_t)k);
  if (!rest && k) return 0;
  uint64_t v = p[0];
  for (int i = 0; i < k; i++) v |= (uint64_t)rest[i] << (8 * (i + 1));
  return v >> (k + 1);
}

/* GTID_TAGGED (MySQL 8.4+): a serialized message of (field id, value). */
static int tagged_gtid(struct decoder *d, const unsigned char *body, size_t n, uint64_t at, char *err, size_t errsz)
{
  struct reader r;
  reader_init(&r, body, n);
  (void)reader_uint(&r, 1); /* format version */
  (void)read_varlen(&r);    /* message size */
  (void)read_varlen(&r);    /* last non-ignorable field id */
  unsigned char sid[16] = {0};
  char tag[64] = "";
  int64_t gno = 0;
  while (!r.overrun && reader_left(&r) > 0) {
    uint64_t id = read_varlen(&r);
    if (id == 1) {
      for (int i = 0; i < 16; i++) sid[i] = (unsigned char)read_varlen(&r);
    } else if (id == 3) {
      uint64_t len = read_varlen(&r);
      const unsigned char *t = reader_take(&r, len);
      if (t) snprintf(tag, sizeof tag, "%.*s", (int)(len < sizeof tag ? len : sizeof tag - 1), t);
    } else if (id == 2) {
      uint64_t z = read_varlen(&r); /* signed: zig-zag */
      gno = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    } else {
      (void)read_varlen(&r); /* flags, clocks, timestamps, lengths, versions */
    }
  }
  if (r.overrun) return fail(d, at, err, errsz, "GTID_TAGGED event cut short");
  char uuid[40];
  format_uuid(sid, uuid, sizeof uuid);
  gtidstate_pending_mysql(&d->gs, sid, tag, (uint64_t)gno);
  if (tag[0]) snprintf(d->gtid, sizeof d->gtid, "%s:%s:%" PRId64, uuid, tag, gno);
  else snprintf(d->gtid, sizeof d->gtid, "%s:%" PRId64, uuid, gno);
  return 0;
}

static int on_gtid(struct decoder *d, const struct binlog_header *h, const unsigned char *body, size_t n,
                   uint64_t at, char *err, size_t errsz)
{
  struct reader r;
  reader_init(&r, body, n);
  if (d->in_tx) {
    /* A new group while one is open: the previous one was cut off (it can
     * only happen at a crash of the server); its rows were already emitted. */
    warn(d, at, "transaction group started before the previous one ended");
  }
  begin_tx(d, at);
  if (h->type == BL_MARIA_GTID) {
    uint64_t seq = reader_uint(&r, 8);
    uint32_t domain = (uint32_t)reader_uint(&r, 4);
    uint8_t flags = (uint8_t)reader_uint(&r, 1);
    if (r.overrun) return fail(d, at, err, errsz, "GTID event cut short");
    /* domain-server-seq, at most 42 bytes: one per transaction, not through snprintf */
    char *g = json_put_u64(d->gtid, domain);
    *g++ = '-';
    g = json_put_u64(g, h->server_id);
    *g++ = '-';
    *json_put_u64(g, seq) = 0;
    gtidstate_pending_mariadb(&d->gs, domain, h->server_id, seq);
    d->standalone = flags & GTID_FL_STANDALONE;
    if (flags & GTID_FL_GROUP_COMMIT_ID) (void)reader_uint(&r, 8);
    if (flags & GTID_FL_PREPARED_XA) {
      /* An XA transaction: its changes wait for XA COMMIT, which names the
       * xid as X'gtrid',X'bqual',format. */
      uint32_t format = (uint32_t)reader_uint(&r, 4);
      size_t gl = reader_uint(&r, 1), bl = reader_uint(&r, 1);
      const unsigned char *x = reader_take(&r, gl + bl);
      if (!x) return fail(d, at, err, errsz, "GTID event cut short in its XA id");
      struct buf id = BUF_INIT;
      buf_addlit(&id, "X'");
      for (size_t i = 0; i < gl; i++) buf_printf(&id, "%02x", x[i]);
      buf_addlit(&id, "',X'");
      for (size_t i = 0; i < bl; i++) buf_printf(&id, "%02x", x[gl + i]);
      buf_printf(&id, "',%u", format);
      d->xa_open = 1;
      snprintf(d->xa_xid, sizeof d->xa_xid, "%s", id.p);
      d->xa_head = NULL;
      d->xa_tail = &d->xa_head;
      buf_free(&id);
    }
    d->explicit_begin = !d->standalone; /* MariaDB's GTID event stands for BEGIN */
  } else if (h->type == BL_GTID_TAGGED) {
    return tagged_gtid(d, body, n, at, err, errsz);
  } else if (h->type == BL_GTID || h->type == BL_ANONYMOUS_GTID) {
    (void)reader_uint(&r, 1);
    const unsigned char *sid = reader_take(&r, 16);
    uint64_t gno = reader_uint(&r, 8);
    if (r.overrun || !sid) return fail(d, at, err, errsz, "GTID event cut short");
    if (h->type == BL_GTID) {
      format_uuid(sid, d->gtid, sizeof d->gtid); /* UUID:GNO, at most 57 bytes */
      d->gtid[36] = ':';
      *json_put_u64(d->gtid + 37, gno) = 0;
      gtidstate_pending_mysql(&d->gs, sid, "", gno);
    }
  }
  return 0;
}

/* Feeds the complete events at the start of d->payload; keeps the rest. */
static int feed_inner(struct decoder *d, char *err, size_t errsz)
{
  size_t off = 0;
  struct buf *b = &d->payload;
  while (b->len - off >= BL_HEADER_LEN) {
    uint32_t len = le32((const unsigned char *)b->p + off + 9);
    if (len < BL_HEADER_LEN) return fail(d, d->inner_at, err, errsz, "TRANSACTION_PAYLOAD holds a malformed event");
    if (b->len - off < len) break;
    if (decoder_feed(d, (const unsigned char *)b->p + off, len, -1, err, errsz)) return -1;
    off += len;
  }
  memmove(b->p, b->p + off, b->len - off);
  b->len -= off;
  return 0;
}

/* MySQL's binlog_transaction_compression: a header of type-length-value
 * fields, then the transaction's events compressed with zstd. They are
 * uncompressed in pieces and fed as they complete, so a large transaction
 * never sits in memory whole. */
static int on_payload(struct decoder *d, const unsigned char *body, size_t n, uint64_t at, uint64_t end, char *err,
                      size_t errsz)
{
  struct reader r;
  reader_init(&r, body, n);
  uint64_t ctype = 0, usize = 0;
  for (;;) {
    uint64_t type = reader_packed(&r);
    if (r.overrun) return fail(d, at, err, errsz, "TRANSACTION_PAYLOAD header cut short");
    if (type == 0) break; /* end of the header */
    uint64_t len = reader_packed(&r);
    const unsigned char *v = reader_take(&r, len);
    if (!v) return fail(d, at, err, errsz, "TRANSACTION_PAYLOAD header cut short");
    struct reader f;
    reader_init(&f, v, len);
    if (type == 2) ctype = reader_packed(&f);
    else if (type == 3) usize = reader_packed(&f);
  }
  (void)usize;
  if (ctype != 0 && ctype != 255) {
    char msg[96];
    snprintf(msg, sizeof msg, "TRANSACTION_PAYLOAD uses compression type %" PRIu64 ", which binhook does not know",
             ctype);
    return fail(d, at, err, errsz, msg);
  }
  d->inner = 1;
  d->inner_at = at;
  d->inner_end = end;
  buf_reset(&d->payload);
  int rc = 0;
  if (ctype == 255) {
    buf_add(&d->payload, r.p, reader_left(&r));
    rc = feed_inner(d, err, errsz);
  } else {
    ZSTD_DStream *zs = ZSTD_createDStream();
    ZSTD_initDStream(zs);
    ZSTD_inBuffer in = {r.p, reader_left(&r), 0};
    size_t zr = 1;
    while (!rc && (in.pos < in.size || zr != 0)) {
      buf_reserve(&d->payload, 1 << 16);
      ZSTD_outBuffer out = {d->payload.p + d->payload.len, d->payload.cap - d->payload.len - 1, 0};
      zr = ZSTD_decompressStream(zs, &out, &in);
      if (ZSTD_isError(zr)) {
        char msg[160];
        snprintf(msg, sizeof msg, "TRANSACTION_PAYLOAD does not uncompress: %s", ZSTD_getErrorName(zr));
        rc = fail(d, at, err, errsz, msg);
        break;
      }
      d->payload.len += out.pos;
      rc = feed_inner(d, err, errsz);
      if (!out.pos && in.pos >= in.size) break; /* no progress: input ended early */
    }
    ZSTD_freeDStream(zs);
  }
  if (!rc && d->payload.len) rc = fail(d, at, err, errsz, "TRANSACTION_PAYLOAD ends inside an event");
  d->inner = 0;
  buf_reset(&d->payload);
  return rc;
}

/* ---- feeding one event: where it sits, its checks, then a handler by type ---- */

/* One event being fed: its header, its body (between the common header
 * and the checksum), and where it sits in the file. */
struct event_in {
  const struct binlog_header *h;
  const unsigned char *body;
  size_t n;
  uint64_t at, end;
  int keep_pos; /* set by a handler: the stream's position does not move past this event */
};

/* What an event of one type does; 0, or what the failure returns. */
typedef int (*event_fn)(struct decoder *d, struct event_in *ev, char *err, size_t errsz);

/* Where the event of n bytes sits: at, and end just after it. */
static void event_place(const struct decoder *d, const struct binlog_header *h, size_t n, int64_t offset,
                        uint64_t *at, uint64_t *end)
{
  if (d->inner) { /* inside a TRANSACTION_PAYLOAD: report the payload's place */
    *at = d->inner_at;
    *end = d->inner_end;
  } else if (offset >= 0) {
    *at = (uint64_t)offset;
    *end = *at + n;
  } else if (h->log_pos >= n) {
    *at = h->log_pos - n;
    *end = h->log_pos;
  } else {
    *at = *end = d->pos.pos; /* artificial events occupy no place in the file */
  }
}

/* Reads a FORMAT_DESCRIPTION (which says how to read what follows) and
 * verifies the checksums. */
static int check_event(struct decoder *d, const unsigned char *ev, size_t n, const struct binlog_header *h,
                       uint64_t at, char *err, size_t errsz)
{
  char herr[128];
  if (h->type == BL_FORMAT_DESCRIPTION) {
    if (binlog_parse_format(ev, n, &d->fmt, herr, sizeof herr)) return fail(d, at, err, errsz, herr);
    if (d->fmt.checksum && !d->opts.skip_checksum && binlog_verify_fde_checksum(ev, n))
      return fail(d, at, err, errsz, "checksum mismatch in FORMAT_DESCRIPTION: the binlog is damaged");
    table_map_clear(d->tables);
    d->have_format = 1;
  } else if (!d->inner && d->fmt.checksum && !d->opts.skip_checksum && binlog_verify_checksum(ev, n)) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "checksum mismatch in %s event: the binlog is damaged here (or was written with another "
             "binlog_checksum)",
             binlog_type_name(h->type));
    return fail(d, at, err, errsz, msg);
  }
  return 0;
}

/* The body of the event: after the common header, before the checksum.
 * -1 when the event is shorter than its header. */
static int event_body(const struct decoder *d, const unsigned char *ev, size_t n, struct event_in *in)
{
  const struct binlog_header *h = in->h;
  size_t hl = d->fmt.header_len ? d->fmt.header_len : BL_HEADER_LEN;
  size_t tail = d->fmt.checksum && h->type != BL_FORMAT_DESCRIPTION ? BL_CHECKSUM_LEN : 0;
  /* Events inside a payload carry no checksum of their own (the payload has one). */
  if (d->inner && tail && binlog_verify_checksum(ev, n)) tail = 0;
  /* A live stream opens with an artificial ROTATE before any format
   * description: it carries a checksum when the server uses them. */
  if (!d->have_format && h->type == BL_ROTATE && n >= hl + 8 + BL_CHECKSUM_LEN &&
      !binlog_verify_checksum(ev, n))
    tail = BL_CHECKSUM_LEN;
  if (n < hl + tail) return -1;
  in->body = ev + hl;
  in->n = n - hl - tail;
  return 0;
}

/* Events a row-based change stream needs nothing from (and the format
 * description, read by check_event). */
static int ev_nothing(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  return 0;
}

static int ev_rotate(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  struct reader r;
  reader_init(&r, ev->body, ev->n);
  uint64_t pos = d->fmt.post_header_len[BL_ROTATE] >= 8 ? reader_uint(&r, 8) : 4;
  if (r.overrun) return fail(d, ev->at, err, errsz, "ROTATE event cut short");
  size_t fl = reader_left(&r);
  if (fl >= POS_FILE_MAX) fl = POS_FILE_MAX - 1;
  memcpy(d->pos.file, r.p, fl);
  d->pos.file[fl] = 0;
  d->pos.pos = pos;
  table_map_clear(d->tables);
  if (!d->in_tx) {
    memcpy(d->boundary.file, d->pos.file, sizeof d->boundary.file);
    d->boundary.pos = d->pos.pos;
  }
  ev->keep_pos = 1; /* the position is the new file's, not derived from this event */
  return 0;
}

static int ev_stop(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  table_map_clear(d->tables);
  return 0;
}

/* QUERY, and MariaDB's compressed QUERY. */
static int ev_query(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  return on_query(d, ev->h, ev->body, ev->n, ev->at, ev->end, err, errsz);
}

static int ev_xa_prepare(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  xa_prepare(d);
  return d->in_tx ? end_tx(d, ev->h, ev->at, ev->end, err, errsz) : 0;
}

static int ev_xid(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  int rc = 0;
  if (d->xa_open) { /* an XA transaction committed in one phase */
    struct change *held = d->xa_head;
    d->xa_head = NULL;
    d->xa_tail = &d->xa_head;
    d->xa_open = 0;
    rc = emit_list(d, held, err, errsz);
  }
  if (!rc && d->in_tx) rc = end_tx(d, ev->h, ev->at, ev->end, err, errsz);
  return rc;
}

static int ev_table_map(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  return on_table_map(d, ev->body, ev->n, ev->at, err, errsz);
}

/* Every kind of rows event, MariaDB's compressed ones too. */
static int ev_rows(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  if (!d->in_tx) begin_tx(d, ev->at); /* row events outside BEGIN (non-transactional engines) */
  return on_rows(d, ev->h, ev->body, ev->n, ev->at, err, errsz);
}

static int ev_gtid(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  return on_gtid(d, ev->h, ev->body, ev->n, ev->at, err, errsz);
}

/* PREVIOUS_GTIDS, GTID_LIST: the GTID state before this file. */
static int ev_gtid_state(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  char why[300];
  int rc = ev->h->type == BL_PREVIOUS_GTIDS ? gtidstate_previous_gtids(&d->gs, ev->body, ev->n, why, sizeof why)
                                            : gtidstate_gtid_list(&d->gs, ev->body, ev->n, why, sizeof why);
  return rc ? fail(d, ev->at, err, errsz, why) : 0;
}

static int ev_annotate_rows(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  rcstr_unref(d->sql);
  d->sql = rcstr_new((const char *)ev->body, ev->n);
  return 0;
}

/* One length byte (truncated for long text), then the text. */
static int ev_rows_query(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  rcstr_unref(d->sql);
  d->sql = ev->n ? rcstr_new((const char *)ev->body + 1, ev->n - 1) : NULL;
  return 0;
}

static int ev_heartbeat(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  const struct binlog_header *h = ev->h;
  int rc = 0;
  if (!d->in_tx && h->log_pos) {
    struct change *e = change_new(EVENT_HEARTBEAT, NULL);
    fill_common(d, e, h, h->log_pos);
    e->end_pos = h->log_pos;
    e->xa_held = d->nxa > 0;
    e->gtid_state = gtidstate_text(&d->gs);
    rc = d->cb.emit(d->cb.ctx, e, err, errsz);
  }
  ev->keep_pos = 1; /* heartbeats are not in the file: the position stays */
  return rc;
}

/* An INCIDENT: a 2-byte kind (post-header), then a 1-byte length and a
 * message. LOST_EVENTS (1), the only kind servers write, says changes may
 * be missing here: warned and counted, reading goes on. Any other kind is
 * one binhook cannot judge, and the server's own replica refuses it too. */
static int ev_incident(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  char what[400];
  struct reader r;
  reader_init(&r, ev->body, ev->n);
  unsigned kind = (unsigned)reader_uint(&r, 2);
  size_t len = reader_left(&r) ? (size_t)reader_uint(&r, 1) : 0;
  const unsigned char *msg = len ? reader_take(&r, len) : NULL;
  if (r.overrun) return fail(d, ev->at, err, errsz, "INCIDENT event cut short");
  if (kind == 1) {
    snprintf(what, sizeof what,
             "INCIDENT event (LOST_EVENTS%s%.*s): the server reports that changes may be missing from its binlog "
             "here; compare the tables with their source, or take a snapshot",
             msg ? ": " : "", (int)len, msg ? (const char *)msg : "");
    warn(d, ev->at, what);
    if (d->cb.incident) d->cb.incident(d->cb.ctx);
    return 0;
  }
  snprintf(what, sizeof what,
           "INCIDENT event of an unknown kind %u%s%.*s: binhook cannot tell what it means for the changes after "
           "it, and stops here as a replica of the server would; read the server's error log, then resume after "
           "this event with --from FILE:POS once the tables are checked",
           kind, msg ? ": " : "", (int)len, msg ? (const char *)msg : "");
  return fail(d, ev->at, err, errsz, what);
}

static int ev_start_encryption(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  return fail(d, ev->at, err, errsz,
              "the binlog file is encrypted: read it through the server (binhook tail --source), which "
              "decrypts it");
}

static int ev_payload(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  if (d->inner) return fail(d, ev->at, err, errsz, "TRANSACTION_PAYLOAD nested in another one");
  return on_payload(d, ev->body, ev->n, ev->at, ev->end, err, errsz);
}

/* A type with no handler: skipped when the server marked it ignorable. */
static int ev_unknown(struct decoder *d, struct event_in *ev, char *err, size_t errsz)
{
  if (ev->h->flags & BL_F_IGNORABLE) return 0;
  char msg[160];
  snprintf(msg, sizeof msg,
           "unknown event type %u (%u bytes), not marked ignorable: binhook cannot tell what it changes",
           ev->h->type, ev->h->length);
  return fail(d, ev->at, err, errsz, msg);
}

static const event_fn handlers[256] = {
    [BL_FORMAT_DESCRIPTION] = ev_nothing,
    [BL_START_V3] = ev_nothing,
    [BL_ROTATE] = ev_rotate,
    [BL_STOP] = ev_stop,
    [BL_QUERY] = ev_query,
    [BL_MARIA_QUERY_COMPRESSED] = ev_query,
    [BL_XA_PREPARE] = ev_xa_prepare,
    [BL_XID] = ev_xid,
    [BL_TABLE_MAP] = ev_table_map,
    [BL_PRE_GA_WRITE_ROWS] = ev_rows,
    [BL_PRE_GA_UPDATE_ROWS] = ev_rows,
    [BL_PRE_GA_DELETE_ROWS] = ev_rows,
    [BL_WRITE_ROWS_V1] = ev_rows,
    [BL_UPDATE_ROWS_V1] = ev_rows,
    [BL_DELETE_ROWS_V1] = ev_rows,
    [BL_WRITE_ROWS] = ev_rows,
    [BL_UPDATE_ROWS] = ev_rows,
    [BL_DELETE_ROWS] = ev_rows,
    [BL_PARTIAL_UPDATE_ROWS] = ev_rows,
    [BL_MARIA_WRITE_ROWS_COMPRESSED_V1] = ev_rows,
    [BL_MARIA_UPDATE_ROWS_COMPRESSED_V1] = ev_rows,
    [BL_MARIA_DELETE_ROWS_COMPRESSED_V1] = ev_rows,
    [BL_MARIA_WRITE_ROWS_COMPRESSED] = ev_rows,
    [BL_MARIA_UPDATE_ROWS_COMPRESSED] = ev_rows,
    [BL_MARIA_DELETE_ROWS_COMPRESSED] = ev_rows,
    [BL_MARIA_GTID] = ev_gtid,
    [BL_GTID] = ev_gtid,
    [BL_ANONYMOUS_GTID] = ev_gtid,
    [BL_GTID_TAGGED] = ev_gtid,
    [BL_MARIA_ANNOTATE_ROWS] = ev_annotate_rows,
    [BL_ROWS_QUERY] = ev_rows_query,
    [BL_HEARTBEAT] = ev_heartbeat,
    [BL_HEARTBEAT_V2] = ev_heartbeat,
    [BL_INCIDENT] = ev_incident,
    [BL_MARIA_START_ENCRYPTION] = ev_start_encryption,
    [BL_TRANSACTION_PAYLOAD] = ev_payload,
    /* nothing a row-based change stream needs */
    [BL_INTVAR] = ev_nothing,
    [BL_RAND] = ev_nothing,
    [BL_USER_VAR] = ev_nothing,
    [BL_PREVIOUS_GTIDS] = ev_gtid_state,
    [BL_MARIA_GTID_LIST] = ev_gtid_state,
    [BL_MARIA_BINLOG_CHECKPOINT] = ev_nothing,
    [BL_TRANSACTION_CONTEXT] = ev_nothing,
    [BL_VIEW_CHANGE] = ev_nothing,
    [BL_IGNORABLE] = ev_nothing,
    [BL_BEGIN_LOAD_QUERY] = ev_nothing,
    [BL_EXECUTE_LOAD_QUERY] = ev_nothing,
    [BL_APPEND_BLOCK] = ev_nothing,
    [BL_DELETE_FILE] = ev_nothing,
    [BL_CREATE_FILE] = ev_nothing,
    [BL_EXEC_LOAD] = ev_nothing,
    [BL_LOAD] = ev_nothing,
    [BL_NEW_LOAD] = ev_nothing,
    [BL_SLAVE] = ev_nothing,
};

int decoder_feed(struct decoder *d, const unsigned char *ev, size_t n, int64_t offset, char *err, size_t errsz)
{
  struct binlog_header h;
  char herr[128];
  uint64_t here = offset >= 0 ? (uint64_t)offset : d->pos.pos;
  if (binlog_parse_header(ev, n, &h, herr, sizeof herr)) return fail(d, here, err, errsz, herr);
  if (h.length != n) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s event says it is %u bytes long but %zu were read", binlog_type_name(h.type),
             h.length, n);
    return fail(d, here, err, errsz, msg);
  }
  struct event_in in = {.h = &h};
  event_place(d, &h, n, offset, &in.at, &in.end);
  if (check_event(d, ev, n, &h, in.at, err, errsz)) return -1;
  if (event_body(d, ev, n, &in)) return fail(d, in.at, err, errsz, "event shorter than its header");
  event_fn handle = handlers[h.type] ? handlers[h.type] : ev_unknown;
  int rc = handle(d, &in, err, errsz);
  if (rc || in.keep_pos) return rc;
  if (d->inner) return 0;
  if (h.log_pos || offset >= 0) d->pos.pos = in.end;
  if (!d->in_tx) {
    copy_file(d->boundary.file, d->pos.file);
    d->boundary.pos = d->pos.pos;
  }
  return 0;
}
