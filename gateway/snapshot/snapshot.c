/* snapshot.c - see snapshot.h. Rows come through the binary protocol
 * (prepared statements), which gives FLOAT and DOUBLE bit for bit and
 * temporal values as fields; each value is then put in the form the binlog
 * decoder gives for the same column (coldec.c): a snapshot row and the
 * INSERT of the same row print the same JSON. */
#include "snapshot/snapshot.h"
#include "source/binlog.h"
#include "source/charset.h"
#include "source/coldec.h"
#include "source/decoder.h"
#include "event/changeq.h"
#include "util/json.h"
#include "util/log.h"
#include "store/state.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_NAME "snapshot.json"
#define SENT_NAME "snapshot-sent.json" /* chunks sent whose state is not yet committed */
#define STATE_FORMAT_SNAPSHOT 1
#define STATE_MAX (64u << 20)
#define MARKER_TAG UINT64_MAX /* tx_pos of a chunk marker: no transaction starts there */
#define ER_TABLE_DEF_CHANGED 1412
#define ER_NO_SUCH_TABLE 1146
#define ER_SPECIFIC_ACCESS_DENIED 1227
#define ER_DBACCESS_DENIED 1044
#define ER_ACCESS_DENIED 1045
#define MAX_REOPENS 8
#define CELL_INITIAL 64

/* How a column is fetched and turned into a value. */
enum fk {
  FK_INT,
  FK_YEAR,
  FK_FLOAT,
  FK_DOUBLE,
  FK_DECIMAL,
  FK_DATE,
  FK_DATETIME,
  FK_TIMESTAMP,
  FK_TIME,
  FK_BIT,
  FK_ENUM,
  FK_SET,
  FK_STRING,
  FK_GEOMETRY,
  FK_JSON,
  FK_VECTOR,
  FK_CASTBIN,
};

struct scol {
  char *name;
  char *data_type; /* information_schema DATA_TYPE, lowercase */
  enum fk fk;
  int uns;                   /* integer UNSIGNED */
  int fsp;                   /* fraction digits of temporal types */
  char *charset, *collation; /* text columns; NULL otherwise */
  int server_cmp;            /* ordered by the server's collation or type: compared by asking it */
  unsigned cast_len;         /* FK_CASTBIN: bytes of the binary form */
};

/* The primary key values of one row. Text ordered by the server is kept as
 * the column's raw bytes (VAL_BYTES), so that a bound is exact whatever its
 * charset; other values as the event has them. */
struct key {
  uint32_t n;
  struct value *v;
  struct buf arena;
};

/* Keys after the previous segment's bound up to upto (NULL: to the end)
 * were read by the snapshot at pos. */
struct seg {
  struct position pos;
  struct key *upto;
};

/* Keys after `after` up to `upto` (NULL: from the table's start, to its
 * end) were sent as read at pos by a run that stopped before that chunk's
 * state was committed: a receiver may hold those rows as they were at pos,
 * while the state has them read again later. */
struct band {
  struct position pos;
  struct key *after, *upto;
};

struct cell {
  union {
    long long ll;
    float f;
    double d;
    MYSQL_TIME tm;
  } n;
  char *data;
  unsigned long cap, len;
  my_bool null, error;
};

struct stab {
  char *schema, *name;
  uint64_t estimated;
  uint64_t rows; /* emitted, all runs */
  struct seg *segs;
  size_t nsegs;
  struct band *bands;
  size_t nbands;
  /* the keys (key_to_json of the event form) that the reads after the
   * bands found in them: a row of a band not among them was deleted before
   * it was read again, and its changes since the band's read are passed */
  char **present;
  size_t npresent, cpresent;
  int present_sorted, collecting;
  uint32_t announced; /* chunks after the current one in the range last announced */
  int done, listed, warned;
  /* while it is read */
  struct table *t;
  struct scol *cols;
  uint32_t ncols, npk;
  uint32_t *pk;
  struct cell *cells;
  MYSQL_BIND *binds;
  uint64_t rows_run;
  double started, ended;
};

/* A chunk announced before its rows are sent (SENT_NAME), until the state
 * at its marker is committed. */
struct sent {
  uint64_t seq; /* the marker after the chunk */
  char *json;
};

/* A state written at a marker, waiting for the caller's commit. */
struct pending {
  uint64_t seq, ordinal;
  char *json;
  struct pending *next;
};

struct snapshot {
  struct snapshot_opts o;
  char **include, **exclude;
  char *state_dir;
  struct charset_conv *cs;
  pthread_mutex_t lock; /* m (for stop), pending, progress */
  MYSQL *m;             /* the snapshot transaction */
  int mariadb;
  enum snapshot_lock used_lock;
  struct position handover; /* the first snapshot's position: where the stream starts */
  struct position cur;      /* this transaction's position */
  uint32_t ts;
  struct stab *tabs;
  size_t ntabs, current;
  uint64_t ordinal, seq;
  int begun, finished, resumed, reopens;
  struct pending *pend, **pend_tail;
  struct sent *sent; /* under lock */
  size_t nsent;
  uint64_t committed_rows;
  /* progress */
  struct snapshot_table_progress *prog;
  double t0;
  uint64_t rows_run;
  /* the filter */
  int window_open;
  struct position maxpos;
  MYSQL *cmp;
  const struct table *fmap_table; /* the table of the mapping below (a reference is held) */
  uint32_t *fmap;
  /* the thread */
  pthread_t thread;
  int thread_started;
  atomic_int stop, streaming, complete;
  struct source *src;
  struct changeq *q;
  int failed;
  char err[2048];
};

static void bar_break(void);

static char **copy_list(char *const *l)
{
  if (!l) return NULL;
  size_t n = 0;
  while (l[n])
    n++;
  char **c = xcalloc(n + 1, sizeof *c);
  for (size_t i = 0; i < n; i++)
    c[i] = xstrdup(l[i]);
  return c;
}

static void free_list(char **l)
{
  if (!l) return;
  for (char **p = l; *p; p++)
    free(*p);
  free(l);
}

int snapshot_parse_lock(const char *name, enum snapshot_lock *out)
{
  static const char *const names[] = {"auto", "mariadb", "global", "tables"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) {
      *out = (enum snapshot_lock)i;
      return 0;
    }
  return -1;
}

/* ---- SQL helpers ---- */

static void add_ident(struct buf *b, const char *name)
{
  buf_addc(b, '`');
  for (const char *p = name; *p; p++) {
    if (*p == '`') buf_addc(b, '`');
    buf_addc(b, *p);
  }
  buf_addc(b, '`');
}

static void add_table(struct buf *b, const struct stab *t)
{
  add_ident(b, t->schema);
  buf_addc(b, '.');
  add_ident(b, t->name);
}

static void add_hex(struct buf *b, const void *data, size_t n)
{
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p = data;
  buf_add(b, "X'", 2);
  for (size_t i = 0; i < n; i++) {
    buf_addc(b, hex[p[i] >> 4]);
    buf_addc(b, hex[p[i] & 15]);
  }
  buf_addc(b, '\'');
}

/* A string literal of s for information_schema lookups. */
static void add_quoted(MYSQL *m, struct buf *b, const char *s)
{
  size_t n = strlen(s);
  buf_reserve(b, 2 * n + 3);
  buf_addc(b, '\'');
  unsigned long w = mysql_real_escape_string(m, b->p + b->len, s, (unsigned long)n);
  b->len += w;
  b->p[b->len] = 0;
  buf_addc(b, '\'');
}

/* 1 when s is a plain name (charsets and collations go into SQL unquoted). */
static int plain_name(const char *s)
{
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

static int exec(MYSQL *m, const char *sql, char *err, size_t errsz)
{
  if (mysql_query(m, sql)) return bh_err(err, errsz, "query '%.300s' failed: %s", sql, mysql_error(m));
  MYSQL_RES *r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return 0;
}

static MYSQL_RES *query(MYSQL *m, const char *sql, char *err, size_t errsz)
{
  if (mysql_query(m, sql)) {
    bh_err(err, errsz, "query '%.300s' failed: %s", sql, mysql_error(m));
    return NULL;
  }
  MYSQL_RES *r = mysql_store_result(m);
  if (!r) bh_err(err, errsz, "query '%.300s' returned no result: %s", sql, mysql_error(m));
  return r;
}

/* ---- binlog positions ---- */

/* Orders binlog file names: the same base name compares by its numeric
 * extension (binlog.999999 < binlog.1000000). */
static int file_cmp(const char *a, const char *b)
{
  const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
  if (da && db && da - a == db - b && !memcmp(a, b, (size_t)(da - a))) {
    da++, db++;
    size_t la = strspn(da, "0123456789"), lb = strspn(db, "0123456789");
    if (la && lb && !da[la] && !db[lb]) {
      while (la > 1 && *da == '0')
        da++, la--;
      while (lb > 1 && *db == '0')
        db++, lb--;
      if (la != lb) return la < lb ? -1 : 1;
      int c = strcmp(da, db);
      return c < 0 ? -1 : c > 0;
    }
  }
  int c = strcmp(a, b);
  return c < 0 ? -1 : c > 0;
}

static int pos_cmp(const char *fa, uint64_t pa, const struct position *b)
{
  int c = file_cmp(fa, b->file);
  if (c) return c;
  return pa < b->pos ? -1 : pa > b->pos;
}

/* ---- keys ---- */

static struct key *key_new(uint32_t n)
{
  struct key *k = xcalloc(1, sizeof *k);
  k->n = n;
  k->v = xcalloc(n ? n : 1, sizeof *k->v);
  return k;
}

static void key_free(struct key *k)
{
  if (!k) return;
  buf_free(&k->arena);
  free(k->v);
  free(k);
}

static void key_reset(struct key *k)
{
  buf_reset(&k->arena);
  memset(k->v, 0, k->n * sizeof *k->v);
}

static void key_set_text(struct key *k, uint32_t j, uint8_t kind, const void *p, size_t n)
{
  k->v[j].kind = kind;
  k->v[j].off = k->arena.len;
  k->v[j].len = (uint32_t)n;
  buf_add(&k->arena, p, n);
  buf_addc(&k->arena, 0);
}

static int is_text_kind(uint8_t kind)
{
  return kind == VAL_DECIMAL || kind == VAL_STRING || kind == VAL_BYTES || kind == VAL_JSON;
}

/* Copies value v (text in arena) into slot j of k. */
static void key_set_value(struct key *k, uint32_t j, const struct value *v, const char *arena)
{
  if (is_text_kind(v->kind))
    key_set_text(k, j, v->kind, arena + v->off, v->len);
  else
    k->v[j] = *v;
}

static struct key *key_copy(const struct key *src)
{
  struct key *k = key_new(src->n);
  for (uint32_t j = 0; j < src->n; j++)
    key_set_value(k, j, &src->v[j], src->arena.p);
  return k;
}

static void hex_of(struct buf *b, const void *data, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    buf_addc(b, hex[p[i] >> 4]);
    buf_addc(b, hex[p[i] & 15]);
  }
}

static int unhex(const char *s, size_t n, struct buf *out)
{
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      int d = bh_hexval((unsigned char)s[i + k]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    buf_addc(out, (char)v);
  }
  return 0;
}

/* A key as a JSON array of strings "KIND:VALUE", exact for every kind. */
static void key_to_json(const struct key *k, struct buf *b)
{
  buf_addc(b, '[');
  for (uint32_t j = 0; j < k->n; j++) {
    const struct value *v = &k->v[j];
    const char *a = k->arena.p ? k->arena.p + v->off : "";
    uint64_t bits;
    if (j) buf_addc(b, ',');
    buf_addc(b, '"');
    switch (v->kind) {
    case VAL_INT: buf_add(b, "i:", 2), buf_add_i64(b, v->i); break;
    case VAL_UINT: buf_add(b, "u:", 2), buf_add_u64(b, v->u); break;
    case VAL_ENUM: buf_add(b, "e:", 2), buf_add_u64(b, v->u); break;
    case VAL_SET: buf_add(b, "s:", 2), buf_add_u64(b, v->u); break;
    case VAL_BIT: buf_add(b, "b:", 2), buf_add_u64(b, v->u); break;
    case VAL_FLOAT:
    case VAL_DOUBLE:
      memcpy(&bits, &v->d, 8);
      buf_add(b, v->kind == VAL_FLOAT ? "f:" : "d:", 2);
      hex_of(b, &bits, 8);
      break;
    case VAL_DECIMAL: buf_add(b, "m:", 2), hex_of(b, a, v->len); break;
    case VAL_STRING: buf_add(b, "t:", 2), hex_of(b, a, v->len); break;
    case VAL_BYTES: buf_add(b, "x:", 2), hex_of(b, a, v->len); break;
    case VAL_JSON: buf_add(b, "j:", 2), hex_of(b, a, v->len); break;
    default: buf_addc(b, 'n'); break;
    }
    buf_addc(b, '"');
  }
  buf_addc(b, ']');
}

static struct key *key_from_json(const struct jv *arr, char *err, size_t errsz)
{
  if (arr->k != J_ARR || !arr->nkids) return bh_err(err, errsz, "a key is not a non-empty array"), NULL;
  struct key *k = key_new((uint32_t)arr->nkids);
  struct buf tmp = BUF_INIT;
  for (uint32_t j = 0; j < k->n; j++) {
    const struct jv *x = &arr->kids[j];
    if (x->k != J_STR || x->n < 1 || (x->n > 1 && x->s[1] != ':')) goto bad;
    const char *p = x->s + 2;
    size_t pn = x->n > 2 ? x->n - 2 : 0;
    char *end;
    uint64_t bits;
    struct value *v = &k->v[j];
    errno = 0;
    switch (x->s[0]) {
    case 'i':
      v->kind = VAL_INT, v->i = strtoll(p, &end, 10);
      if (*end || errno || !pn) goto bad;
      break;
    case 'u':
    case 'e':
    case 's':
    case 'b':
      v->kind = x->s[0] == 'u' ? VAL_UINT : x->s[0] == 'e' ? VAL_ENUM : x->s[0] == 's' ? VAL_SET : VAL_BIT;
      v->u = strtoull(p, &end, 10);
      if (*end || errno || !pn) goto bad;
      break;
    case 'f':
    case 'd':
      buf_reset(&tmp);
      if (pn != 16 || unhex(p, pn, &tmp)) goto bad;
      memcpy(&bits, tmp.p, 8);
      memcpy(&v->d, &bits, 8);
      v->kind = x->s[0] == 'f' ? VAL_FLOAT : VAL_DOUBLE;
      break;
    case 'm':
    case 't':
    case 'x':
    case 'j':
      buf_reset(&tmp);
      if (unhex(p, pn, &tmp)) goto bad;
      key_set_text(k, j,
                   x->s[0] == 'm'   ? VAL_DECIMAL
                   : x->s[0] == 't' ? VAL_STRING
                   : x->s[0] == 'x' ? VAL_BYTES
                                    : VAL_JSON,
                   tmp.p ? tmp.p : "", tmp.len);
      break;
    case 'n': v->kind = VAL_NULL; break;
    default: goto bad;
    }
  }
  buf_free(&tmp);
  return k;
bad:
  buf_free(&tmp);
  key_free(k);
  bh_err(err, errsz, "a key value is not one binhook wrote");
  return NULL;
}

/* Decimal texts compared as numbers. */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  int na = an && a[0] == '-', nb = bn && b[0] == '-';
  if (na) a++, an--;
  if (nb) b++, bn--;
  while (an > 1 && a[0] == '0' && a[1] != '.')
    a++, an--;
  while (bn > 1 && b[0] == '0' && b[1] != '.')
    b++, bn--;
  size_t ia = 0, ib = 0;
  while (ia < an && a[ia] != '.')
    ia++;
  while (ib < bn && b[ib] != '.')
    ib++;
  int c = 0;
  if (ia != ib)
    c = ia < ib ? -1 : 1;
  else {
    c = memcmp(a, b, ia);
    c = c < 0 ? -1 : c > 0;
    /* fractions, the shorter padded with zeros */
    for (size_t k = 1; !c && (ia + k < an || ib + k < bn); k++) {
      char x = ia + k < an ? a[ia + k] : '0', y = ib + k < bn ? b[ib + k] : '0';
      if (x != y) c = x < y ? -1 : 1;
    }
  }
  /* -0 and 0 are equal */
  int zero_a = 1, zero_b = 1;
  for (size_t k = 0; k < an; k++)
    if (a[k] >= '1' && a[k] <= '9') zero_a = 0;
  for (size_t k = 0; k < bn; k++)
    if (b[k] >= '1' && b[k] <= '9') zero_b = 0;
  if (zero_a) na = 0;
  if (zero_b) nb = 0;
  if (na != nb) return na ? -1 : 1;
  return na ? -c : c;
}

/* "-838:59:59.000000" as signed microseconds. */
static int64_t time_usec(const char *s, size_t n)
{
  int neg = n && s[0] == '-';
  unsigned long long h = 0, mi = 0, se = 0, us = 0;
  size_t i = neg;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    h = h * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == ':') i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    mi = mi * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == ':') i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    se = se * 10 + (unsigned)(s[i++] - '0');
  if (i < n && s[i] == '.') {
    i++;
    unsigned digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 6)
      us = us * 10 + (unsigned)(s[i++] - '0'), digits++;
    while (digits++ < 6)
      us *= 10;
  }
  int64_t v = (int64_t)(((h * 60 + mi) * 60 + se) * 1000000 + us);
  return neg ? -v : v;
}

static int mem_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  int c = memcmp(a, b, an < bn ? an : bn);
  if (c) return c < 0 ? -1 : 1;
  return an < bn ? -1 : an > bn;
}

/* Compares two values of column c here (not for columns the server
 * orders: see server_cmp). */
static int value_cmp(const struct scol *c, const struct value *a, const char *aa, const struct value *b,
                     const char *ba)
{
  if (a->kind == VAL_NULL || b->kind == VAL_NULL || a->kind == VAL_ABSENT || b->kind == VAL_ABSENT)
    return (a->kind > VAL_NULL) - (b->kind > VAL_NULL);
  if ((a->kind == VAL_INT || a->kind == VAL_UINT) && (b->kind == VAL_INT || b->kind == VAL_UINT)) {
    if (a->kind == VAL_INT && a->i < 0 && !(b->kind == VAL_INT && b->i < 0)) return -1;
    if (b->kind == VAL_INT && b->i < 0 && !(a->kind == VAL_INT && a->i < 0)) return 1;
    if (a->kind == VAL_INT && b->kind == VAL_INT) return a->i < b->i ? -1 : a->i > b->i;
    uint64_t x = a->kind == VAL_INT ? (uint64_t)a->i : a->u, y = b->kind == VAL_INT ? (uint64_t)b->i : b->u;
    return x < y ? -1 : x > y;
  }
  switch (a->kind) {
  case VAL_ENUM:
  case VAL_SET:
  case VAL_BIT: return a->u < b->u ? -1 : a->u > b->u;
  case VAL_FLOAT:
  case VAL_DOUBLE: return a->d < b->d ? -1 : a->d > b->d;
  case VAL_DECIMAL: return dec_cmp(aa + a->off, a->len, ba + b->off, b->len);
  case VAL_STRING:
    if (c->fk == FK_TIME) {
      int64_t x = time_usec(aa + a->off, a->len), y = time_usec(ba + b->off, b->len);
      return x < y ? -1 : x > y;
    }
    return mem_cmp(aa + a->off, a->len, ba + b->off, b->len);
  default: return mem_cmp(aa + a->off, a->len, ba + b->off, b->len);
  }
}

/* The SQL literal of value v of column c (a key bound). */
static void add_literal(const struct scol *c, const struct value *v, const char *arena, struct buf *b)
{
  const char *s = arena ? arena + v->off : "";
  char tmp[64];
  switch (v->kind) {
  case VAL_INT: buf_add_i64(b, v->i); return;
  case VAL_UINT:
  case VAL_ENUM:
  case VAL_SET:
  case VAL_BIT: buf_add_u64(b, v->u); return;
  case VAL_FLOAT:
  case VAL_DOUBLE:
    snprintf(tmp, sizeof tmp, "%.17e", v->d);
    buf_adds(b, tmp);
    return;
  case VAL_DECIMAL: buf_add(b, s, v->len); return;
  case VAL_STRING: /* temporal: the server's own text form */
    buf_addc(b, '\'');
    for (uint32_t i = 0; i < v->len; i++) {
      char ch = s[i];
      if (ch == 'T') ch = ' ';
      if (ch == 'Z' || ch == '\'' || ch == '\\') continue;
      buf_addc(b, ch);
    }
    buf_addc(b, '\'');
    return;
  case VAL_BYTES:
    if (c->fk == FK_STRING && c->charset) {
      buf_addc(b, '_');
      buf_adds(b, c->charset);
      buf_addc(b, ' ');
      add_hex(b, s, v->len);
      buf_add(b, " COLLATE ", 9);
      buf_adds(b, c->collation);
    } else if (c->fk == FK_CASTBIN) {
      buf_add(b, "CAST(", 5);
      add_hex(b, s, v->len);
      buf_add(b, " AS ", 4);
      buf_adds(b, c->data_type);
      buf_addc(b, ')');
    } else {
      add_hex(b, s, v->len);
    }
    return;
  default: buf_add(b, "NULL", 4); return;
  }
}

/* ---- tables and columns ---- */

static void stab_unload(struct stab *t)
{
  for (uint32_t i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].data_type);
    free(t->cols[i].charset);
    free(t->cols[i].collation);
    if (t->cells) free(t->cells[i].data);
  }
  free(t->cols);
  free(t->cells);
  free(t->binds);
  free(t->pk);
  table_unref(t->t);
  t->cols = NULL, t->cells = NULL, t->binds = NULL, t->pk = NULL, t->t = NULL;
  t->ncols = t->npk = 0;
}

static void stab_free(struct stab *t)
{
  stab_unload(t);
  for (size_t i = 0; i < t->nsegs; i++)
    key_free(t->segs[i].upto);
  free(t->segs);
  for (size_t i = 0; i < t->nbands; i++) {
    key_free(t->bands[i].after);
    key_free(t->bands[i].upto);
  }
  free(t->bands);
  for (size_t i = 0; i < t->npresent; i++)
    free(t->present[i]);
  free(t->present);
  free(t->schema);
  free(t->name);
}

static struct stab *find_stab(struct snapshot *s, const char *schema, const char *name)
{
  for (size_t i = 0; i < s->ntabs; i++)
    if (!strcmp(s->tabs[i].schema, schema) && !strcmp(s->tabs[i].name, name)) return &s->tabs[i];
  return NULL;
}

static struct stab *add_stab(struct snapshot *s, const char *schema, const char *name)
{
  s->tabs = xrealloc(s->tabs, (s->ntabs + 1) * sizeof *s->tabs);
  struct stab *t = &s->tabs[s->ntabs++];
  memset(t, 0, sizeof *t);
  t->schema = xstrdup(schema);
  t->name = xstrdup(name);
  return t;
}

/* The type family of an information_schema DATA_TYPE: how it is fetched and
 * the binlog type code its values would have. */
static enum fk classify(const char *dt, uint8_t *mt, unsigned *cast_len)
{
  static const struct {
    const char *name;
    enum fk fk;
    uint8_t mt;
  } map[] = {
      {"tinyint", FK_INT, MT_TINY},
      {"smallint", FK_INT, MT_SHORT},
      {"mediumint", FK_INT, MT_INT24},
      {"int", FK_INT, MT_LONG},
      {"integer", FK_INT, MT_LONG},
      {"bigint", FK_INT, MT_LONGLONG},
      {"year", FK_YEAR, MT_YEAR},
      {"float", FK_FLOAT, MT_FLOAT},
      {"double", FK_DOUBLE, MT_DOUBLE},
      {"real", FK_DOUBLE, MT_DOUBLE},
      {"double precision", FK_DOUBLE, MT_DOUBLE},
      {"decimal", FK_DECIMAL, MT_NEWDECIMAL},
      {"numeric", FK_DECIMAL, MT_NEWDECIMAL},
      {"date", FK_DATE, MT_DATE},
      {"datetime", FK_DATETIME, MT_DATETIME2},
      {"timestamp", FK_TIMESTAMP, MT_TIMESTAMP2},
      {"time", FK_TIME, MT_TIME2},
      {"bit", FK_BIT, MT_BIT},
      {"enum", FK_ENUM, MT_ENUM},
      {"set", FK_SET, MT_SET},
      {"json", FK_JSON, MT_JSON},
      {"vector", FK_VECTOR, MT_VECTOR},
      {"geometry", FK_GEOMETRY, MT_GEOMETRY},
      {"point", FK_GEOMETRY, MT_GEOMETRY},
      {"linestring", FK_GEOMETRY, MT_GEOMETRY},
      {"polygon", FK_GEOMETRY, MT_GEOMETRY},
      {"multipoint", FK_GEOMETRY, MT_GEOMETRY},
      {"multilinestring", FK_GEOMETRY, MT_GEOMETRY},
      {"multipolygon", FK_GEOMETRY, MT_GEOMETRY},
      {"geometrycollection", FK_GEOMETRY, MT_GEOMETRY},
      {"geomcollection", FK_GEOMETRY, MT_GEOMETRY},
      {"char", FK_STRING, MT_STRING},
      {"binary", FK_STRING, MT_STRING},
      {"varchar", FK_STRING, MT_VARCHAR},
      {"varbinary", FK_STRING, MT_VARCHAR},
  };
  *cast_len = 0;
  *mt = MT_BLOB;
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (!strcmp(dt, map[i].name)) {
      *mt = map[i].mt;
      return map[i].fk;
    }
  /* MariaDB's own types, logged as their binary form */
  if (!strcmp(dt, "inet6") || !strcmp(dt, "uuid") || !strcmp(dt, "inet4")) {
    *mt = MT_STRING;
    *cast_len = dt[4] == '4' ? 4 : 16;
    return FK_CASTBIN;
  }
  return FK_STRING; /* text and blob types, and anything new: as bytes or text */
}

/* The labels of "enum('a','it''s')" or "set(...)". */
static char **parse_labels(const char *ct, uint32_t *n)
{
  char **labels = NULL;
  *n = 0;
  const char *p = strchr(ct, '(');
  if (!p) return NULL;
  p++;
  struct buf b = BUF_INIT;
  while (*p == '\'') {
    p++;
    buf_reset(&b);
    while (*p) {
      if (*p == '\'' && p[1] == '\'')
        buf_addc(&b, '\''), p += 2;
      else if (*p == '\\' && p[1])
        buf_addc(&b, p[1]), p += 2;
      else if (*p == '\'')
        break;
      else
        buf_addc(&b, *p++);
    }
    if (*p != '\'') break;
    p++;
    labels = xrealloc(labels, (*n + 1) * sizeof *labels);
    labels[(*n)++] = xstrndup(b.p ? b.p : "", b.len);
    if (*p == ',') p++;
  }
  buf_free(&b);
  return labels;
}

/* Reads the columns and the primary key of t from information_schema and
 * builds the table its events carry. Returns 0, 1 when the table is gone,
 * -1 with err. */
static int load_table(struct snapshot *s, struct stab *t, char *err, size_t errsz)
{
  stab_unload(t);
  struct buf sql = BUF_INIT;
  buf_adds(&sql, "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, "
                 "COLLATION_NAME, DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
  add_quoted(s->m, &sql, t->schema);
  buf_adds(&sql, " AND TABLE_NAME = ");
  add_quoted(s->m, &sql, t->name);
  buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
  MYSQL_RES *res = query(s->m, sql.p, err, errsz);
  if (!res) {
    buf_free(&sql);
    return -1;
  }
  uint32_t n = (uint32_t)mysql_num_rows(res);
  if (!n) {
    mysql_free_result(res);
    buf_free(&sql);
    return 1;
  }
  struct table *tb = xcalloc(1, sizeof *tb);
  atomic_init((_Atomic int *)&tb->refs, 1);
  tb->schema = xstrdup(t->schema);
  tb->name = xstrdup(t->name);
  tb->ncols = n;
  tb->cols = xcalloc(n, sizeof *tb->cols);
  tb->names_known = 1;
  tb->has_metadata = 1;
  t->t = tb;
  t->cols = xcalloc(n, sizeof *t->cols);
  t->ncols = n;
  MYSQL_ROW row;
  for (uint32_t i = 0; i < n && (row = mysql_fetch_row(res)); i++) {
    struct scol *c = &t->cols[i];
    struct column *col = &tb->cols[i];
    c->name = xstrdup(row[0] ? row[0] : "");
    c->data_type = xstrdup(row[1] ? row[1] : "");
    uint8_t mt;
    c->fk = classify(c->data_type, &mt, &c->cast_len);
    c->uns = row[2] && strstr(row[2], "unsigned") != NULL;
    c->fsp = row[6] ? atoi(row[6]) : 0;
    if (c->fsp < 0 || c->fsp > 6) c->fsp = 0;
    if (row[4] && row[5] && plain_name(row[4]) && plain_name(row[5]) && c->fk == FK_STRING) {
      c->charset = xstrdup(row[4]);
      c->collation = xstrdup(row[5]);
    }
    c->server_cmp = (c->fk == FK_STRING && c->charset) || c->fk == FK_CASTBIN;
    col->name = xstrdup(c->name);
    col->type = mt;
    col->nullable = row[3] && !strcmp(row[3], "YES");
    col->is_unsigned = (int8_t)(c->fk == FK_INT ? c->uns : c->fk == FK_YEAR ? 0 : -1);
    col->meta = (uint16_t)c->fsp;
    if ((c->fk == FK_ENUM || c->fk == FK_SET) && row[2]) col->labels = parse_labels(row[2], &col->nlabels);
  }
  mysql_free_result(res);

  buf_reset(&sql);
  buf_adds(&sql,
           "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' "
           "AND TABLE_SCHEMA = ");
  add_quoted(s->m, &sql, t->schema);
  buf_adds(&sql, " AND TABLE_NAME = ");
  add_quoted(s->m, &sql, t->name);
  buf_adds(&sql, " ORDER BY ORDINAL_POSITION");
  res = query(s->m, sql.p, err, errsz);
  buf_free(&sql);
  if (!res) return -1;
  t->pk = xcalloc(n, sizeof *t->pk);
  tb->pk = xcalloc(n, sizeof *tb->pk);
  while ((row = mysql_fetch_row(res)) && t->npk < n) {
    for (uint32_t i = 0; i < n; i++)
      if (row[0] && !strcmp(t->cols[i].name, row[0])) {
        t->pk[t->npk++] = i;
        tb->cols[i].in_pk = 1;
        break;
      }
  }
  mysql_free_result(res);
  memcpy(tb->pk, t->pk, t->npk * sizeof *t->pk);
  tb->npk = t->npk;
  t->cells = xcalloc(n, sizeof *t->cells);
  t->binds = xcalloc(n, sizeof *t->binds);
  for (uint32_t i = 0; i < n; i++) {
    t->cells[i].cap = CELL_INITIAL;
    t->cells[i].data = xmalloc(CELL_INITIAL + 1);
  }
  return 0;
}

/* ---- values ---- */

static void put_digits(struct buf *b, unsigned v, int width)
{
  char d[12];
  for (int i = width - 1; i >= 0; i--)
    d[i] = (char)('0' + v % 10), v /= 10;
  buf_add(b, d, (size_t)width);
}

static void put_frac(struct buf *b, unsigned long usec, int fsp)
{
  static const unsigned div[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
  if (fsp <= 0) return;
  buf_addc(b, '.');
  put_digits(b, (unsigned)(usec / div[fsp]), fsp);
}

/* As the decoder prints DATETIME: a space instead of the T when the date
 * has a zero part. */
static void put_datetime(struct buf *b, const MYSQL_TIME *t, int fsp)
{
  put_digits(b, t->year, 4), buf_addc(b, '-');
  put_digits(b, t->month, 2), buf_addc(b, '-');
  put_digits(b, t->day, 2), buf_addc(b, (t->year == 0 || t->month == 0 || t->day == 0) ? ' ' : 'T');
  put_digits(b, t->hour, 2), buf_addc(b, ':');
  put_digits(b, t->minute, 2), buf_addc(b, ':');
  put_digits(b, t->second, 2);
  put_frac(b, t->second_part, fsp);
}

/* MySQL's JSON text ({"a": 1, "b": [2.5]}) in the compact form the binlog
 * decoder writes. */
static void json_compact(const struct jv *v, const char *text, struct buf *b)
{
  switch (v->k) {
  case J_OBJ:
    buf_addc(b, '{');
    for (size_t i = 0; i < v->nkids; i++) {
      if (i) buf_addc(b, ',');
      buf_add_json_str(b, v->keys[i], v->keylens ? v->keylens[i] : strlen(v->keys[i]));
      buf_addc(b, ':');
      json_compact(&v->kids[i], text, b);
    }
    buf_addc(b, '}');
    break;
  case J_ARR:
    buf_addc(b, '[');
    for (size_t i = 0; i < v->nkids; i++) {
      if (i) buf_addc(b, ',');
      json_compact(&v->kids[i], text, b);
    }
    buf_addc(b, ']');
    break;
  case J_STR: buf_add_json_str(b, v->s, v->n); break;
  case J_NUM:
    if (strpbrk(v->s, ".eE"))
      buf_add_double(b, strtod(v->s, NULL), 0);
    else
      buf_add(b, v->s, v->n);
    break;
  default: buf_add(b, text + v->pos, v->end - v->pos); break;
  }
}

static void set_text(struct value *v, uint8_t kind, struct buf *arena, size_t start)
{
  v->kind = kind;
  v->off = start;
  v->len = (uint32_t)(arena->len - start);
}

/* One fetched cell as the decoder would give the value. */
static int convert(struct snapshot *s, const struct scol *c, const MYSQL_FIELD *f, const struct cell *x,
                   struct value *v, struct buf *arena, char *err, size_t errsz)
{
  size_t start = arena->len;
  const MYSQL_TIME *tm = &x->n.tm;
  if (x->null) {
    v->kind = VAL_NULL;
    return 0;
  }
  switch (c->fk) {
  case FK_INT:
    if (c->uns)
      v->kind = VAL_UINT, v->u = (uint64_t)x->n.ll;
    else
      v->kind = VAL_INT, v->i = x->n.ll;
    return 0;
  case FK_YEAR: v->kind = VAL_INT, v->i = x->n.ll; return 0;
  case FK_ENUM: v->kind = VAL_ENUM, v->u = (uint64_t)x->n.ll; return 0;
  case FK_SET: v->kind = VAL_SET, v->u = (uint64_t)x->n.ll; return 0;
  case FK_FLOAT: v->kind = VAL_FLOAT, v->d = x->n.f; return 0;
  case FK_DOUBLE: v->kind = VAL_DOUBLE, v->d = x->n.d; return 0;
  case FK_BIT:
    if (x->len > 8) return bh_err(err, errsz, "column '%s' (bit) came back as %lu bytes", c->name, x->len);
    v->kind = VAL_BIT, v->u = be_n((const unsigned char *)x->data, x->len);
    return 0;
  case FK_DECIMAL:
    buf_add(arena, x->data, x->len);
    set_text(v, VAL_DECIMAL, arena, start);
    return 0;
  case FK_DATE:
    put_digits(arena, tm->year, 4), buf_addc(arena, '-');
    put_digits(arena, tm->month, 2), buf_addc(arena, '-');
    put_digits(arena, tm->day, 2);
    set_text(v, VAL_STRING, arena, start);
    return 0;
  case FK_DATETIME:
    put_datetime(arena, tm, c->fsp);
    set_text(v, VAL_STRING, arena, start);
    return 0;
  case FK_TIMESTAMP: {
    /* the session is in UTC; the zero timestamp has no zone */
    int zero =
        !tm->year && !tm->month && !tm->day && !tm->hour && !tm->minute && !tm->second && !tm->second_part;
    put_datetime(arena, tm, c->fsp);
    if (!zero) buf_addc(arena, 'Z');
    set_text(v, VAL_STRING, arena, start);
    return 0;
  }
  case FK_TIME:
    coldec_time_text(tm->neg, tm->day * 24 + tm->hour, tm->minute, tm->second, (unsigned)tm->second_part,
                     c->fsp, arena);
    set_text(v, VAL_STRING, arena, start);
    return 0;
  case FK_GEOMETRY:
    if (x->len < 4 || coldec_wkb_to_wkt((const unsigned char *)x->data + 4, x->len - 4, arena))
      return bh_err(err, errsz, "value of column '%s' (%s) is not valid WKB", c->name, c->data_type);
    set_text(v, VAL_STRING, arena, start);
    return 0;
  case FK_JSON: {
    struct jv root;
    size_t pos = 0;
    char what[128];
    if (json_parse_value(x->data, x->len, &pos, &root, what, sizeof what) < 0) {
      jv_free(&root);
      buf_add(arena, x->data, x->len); /* as the server printed it */
    } else {
      json_compact(&root, x->data, arena);
      jv_free(&root);
    }
    set_text(v, VAL_JSON, arena, start);
    return 0;
  }
  case FK_VECTOR:
    if (x->len % 4)
      return bh_err(err, errsz, "value of column '%s' (vector) is %lu bytes, not whole floats", c->name,
                    x->len);
    buf_addc(arena, '[');
    for (unsigned long k = 0; k < x->len; k += 4) {
      uint32_t bits = le32((const unsigned char *)x->data + k);
      float fl;
      memcpy(&fl, &bits, 4);
      if (k) buf_addc(arena, ',');
      buf_add_double(arena, fl, 1);
    }
    buf_addc(arena, ']');
    set_text(v, VAL_JSON, arena, start);
    return 0;
  case FK_CASTBIN:
    buf_add(arena, x->data, x->len);
    set_text(v, VAL_BYTES, arena, start);
    return 0;
  case FK_STRING:
    if (f->charsetnr == CHARSET_BINARY || charset_kind_of(s->cs, (uint16_t)f->charsetnr) == CS_BINARY) {
      buf_add(arena, x->data, x->len);
      set_text(v, VAL_BYTES, arena, start);
    } else {
      charset_to_utf8(s->cs, (uint16_t)f->charsetnr, x->data, x->len, arena);
      set_text(v, VAL_STRING, arena, start);
    }
    return 0;
  }
  return bh_err(err, errsz, "column '%s' has a type binhook cannot read", c->name);
}

/* Binds the result columns of st to t's cells. */
static void bind_cells(struct stab *t, const MYSQL_FIELD *fields)
{
  for (uint32_t i = 0; i < t->ncols; i++) {
    MYSQL_BIND *b = &t->binds[i];
    struct cell *x = &t->cells[i];
    memset(b, 0, sizeof *b);
    b->is_null = &x->null;
    b->error = &x->error;
    b->length = &x->len;
    switch (t->cols[i].fk) {
    case FK_INT:
    case FK_YEAR:
    case FK_ENUM:
    case FK_SET:
      b->buffer_type = MYSQL_TYPE_LONGLONG;
      b->buffer = &x->n.ll;
      b->is_unsigned = t->cols[i].fk != FK_YEAR && (t->cols[i].fk != FK_INT || t->cols[i].uns);
      break;
    case FK_FLOAT: b->buffer_type = MYSQL_TYPE_FLOAT, b->buffer = &x->n.f; break;
    case FK_DOUBLE: b->buffer_type = MYSQL_TYPE_DOUBLE, b->buffer = &x->n.d; break;
    case FK_DATE:
    case FK_DATETIME:
    case FK_TIMESTAMP:
    case FK_TIME:
      b->buffer_type = fields[i].type;
      b->buffer = &x->n.tm;
      break;
    default:
      b->buffer_type = MYSQL_TYPE_BLOB;
      b->buffer = x->data;
      b->buffer_length = x->cap;
      break;
    }
  }
}

/* The key of the row just fetched (values from the event e), into k. */
static void row_key(const struct stab *t, const struct change *e, struct key *k)
{
  key_reset(k);
  for (uint32_t j = 0; j < t->npk; j++) {
    uint32_t i = t->pk[j];
    const struct scol *c = &t->cols[i];
    if (c->fk == FK_STRING && c->server_cmp && !t->cells[i].null)
      key_set_text(k, j, VAL_BYTES, t->cells[i].data, t->cells[i].len);
    else
      key_set_value(k, j, &e->after[i], e->arena.p);
  }
}

/* ---- the state ---- */

static void pos_json(const struct position *p, struct buf *b)
{
  buf_adds(b, "{\"file\":");
  buf_add_json_str(b, p->file, strlen(p->file));
  buf_adds(b, ",\"pos\":");
  buf_add_u64(b, p->pos);
  buf_addc(b, '}');
}

static void opt_key_json(const struct key *k, struct buf *b)
{
  if (k)
    key_to_json(k, b);
  else
    buf_adds(b, "null");
}

static void band_json(const struct band *g, struct buf *b)
{
  buf_adds(b, "{\"at\":");
  pos_json(&g->pos, b);
  buf_adds(b, ",\"after\":");
  opt_key_json(g->after, b);
  buf_adds(b, ",\"upto\":");
  opt_key_json(g->upto, b);
  buf_addc(b, '}');
}

static void state_json(struct snapshot *s, int done, struct buf *b)
{
  buf_printf(b, "{\"format\":%d,\"handover\":", STATE_FORMAT_SNAPSHOT);
  pos_json(&s->handover, b);
  buf_printf(b, ",\"ts\":%" PRIu32 ",\"ordinal\":%" PRIu64 ",\"done\":%s,\"tables\":[", s->ts, s->ordinal,
             done ? "true" : "false");
  int first = 1;
  for (size_t i = 0; i < s->ntabs; i++) {
    const struct stab *t = &s->tabs[i];
    if (!t->nsegs && !t->nbands) continue;
    if (!first) buf_addc(b, ',');
    first = 0;
    buf_adds(b, "\n{\"schema\":");
    buf_add_json_str(b, t->schema, strlen(t->schema));
    buf_adds(b, ",\"name\":");
    buf_add_json_str(b, t->name, strlen(t->name));
    buf_printf(b, ",\"rows\":%" PRIu64 ",\"segments\":[", t->rows);
    for (size_t k = 0; k < t->nsegs; k++) {
      if (k) buf_addc(b, ',');
      buf_adds(b, "{\"at\":");
      pos_json(&t->segs[k].pos, b);
      buf_adds(b, ",\"upto\":");
      if (t->segs[k].upto)
        key_to_json(t->segs[k].upto, b);
      else
        buf_adds(b, "null");
      buf_addc(b, '}');
    }
    buf_addc(b, ']');
    if (t->nbands) {
      buf_adds(b, ",\"bands\":[");
      for (size_t k = 0; k < t->nbands; k++) {
        if (k) buf_addc(b, ',');
        band_json(&t->bands[k], b);
      }
      buf_adds(b, "],\"present\":[");
      for (size_t k = 0; k < t->npresent; k++) {
        if (k) buf_addc(b, ',');
        buf_adds(b, t->present[k]);
      }
      buf_addc(b, ']');
    }
    buf_addc(b, '}');
  }
  buf_adds(b, "]}\n");
}

static int read_pos(const struct jv *o, struct position *p)
{
  const struct jv *f = jv_member(o, "file"), *n = jv_member(o, "pos");
  if (!f || f->k != J_STR || !n || n->k != J_NUM || f->n >= sizeof p->file) return -1;
  memset(p, 0, sizeof *p);
  memcpy(p->file, f->s, f->n);
  char *end;
  errno = 0;
  p->pos = strtoull(n->s, &end, 10);
  return *end || errno ? -1 : 0;
}

/* Reads file name of the state directory dir into out: 1, or 0 when there
 * is none. */
static int read_state_file(const char *dir, const char *name, struct buf *out, char *err, size_t errsz)
{
  char path[PATH_MAX], ebuf[128];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
    return bh_err(err, errsz, "state directory path '%s' is too long", dir);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    return bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  }
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    buf_add(out, chunk, n);
    if (out->len > STATE_MAX) {
      fclose(f);
      return bh_err(err, errsz, "'%s' is too large to be a snapshot state", path);
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) return bh_err(err, errsz, "cannot read '%s'", path);
  return 1;
}

/* Reads a band ({"at", "after", "upto"}) into t. */
static int band_load(struct stab *t, const struct jv *o)
{
  const struct jv *at = jv_member(o, "at"), *af = jv_member(o, "after"), *up = jv_member(o, "upto");
  struct band g;
  char kerr[128];
  memset(&g, 0, sizeof g);
  if (!at || read_pos(at, &g.pos) || !af || !up) return -1;
  if (af->k != J_NULL && !(g.after = key_from_json(af, kerr, sizeof kerr))) return -1;
  if (up->k != J_NULL && !(g.upto = key_from_json(up, kerr, sizeof kerr))) {
    key_free(g.after);
    return -1;
  }
  t->bands = xrealloc(t->bands, (t->nbands + 1) * sizeof *t->bands);
  t->bands[t->nbands++] = g;
  return 0;
}

static void present_add(struct stab *t, char *text)
{
  if (t->npresent == t->cpresent) {
    t->cpresent = t->cpresent ? 2 * t->cpresent : 256;
    t->present = xrealloc(t->present, t->cpresent * sizeof *t->present);
  }
  t->present[t->npresent++] = text;
  t->present_sorted = 0;
}

/* Loads the state text into s (tables with their segments). */
static int state_load(struct snapshot *s, const struct buf *text, int *done, char *err, size_t errsz)
{
  struct jv root;
  size_t pos = 0;
  char what[128];
  int rc = -1;
  if (json_parse_value(text->p, text->len, &pos, &root, what, sizeof what) < 0) {
    bh_err(err, errsz, "%s/%s is damaged (%s at byte %zu): remove it to take a new snapshot", s->state_dir,
           STATE_NAME, what, pos);
    goto out;
  }
  const struct jv *fmt = jv_member(&root, "format"), *h = jv_member(&root, "handover"),
                  *ord = jv_member(&root, "ordinal"), *dn = jv_member(&root, "done"),
                  *ts = jv_member(&root, "ts"), *tabs = jv_member(&root, "tables");
  if (!fmt || fmt->k != J_NUM || atoi(fmt->s) != STATE_FORMAT_SNAPSHOT || !h || read_pos(h, &s->handover) ||
      !ord || ord->k != J_NUM || !tabs || tabs->k != J_ARR || !dn) {
    bh_err(err, errsz, "%s/%s is not a snapshot state this binhook wrote: remove it to take a new snapshot",
           s->state_dir, STATE_NAME);
    goto out;
  }
  s->ordinal = strtoull(ord->s, NULL, 10);
  s->committed_rows = s->ordinal;
  if (ts && ts->k == J_NUM) s->ts = (uint32_t)strtoul(ts->s, NULL, 10);
  *done = dn->k == J_TRUE;
  for (size_t i = 0; i < tabs->nkids; i++) {
    const struct jv *o = &tabs->kids[i], *sc = jv_member(o, "schema"), *nm = jv_member(o, "name"),
                    *rows = jv_member(o, "rows"), *segs = jv_member(o, "segments");
    const struct jv *bands = jv_member(o, "bands"), *present = jv_member(o, "present");
    if (!sc || sc->k != J_STR || !nm || nm->k != J_STR || !segs || segs->k != J_ARR ||
        (!segs->nkids && (!bands || bands->k != J_ARR || !bands->nkids))) {
      bh_err(err, errsz, "%s/%s: table entry %zu is damaged", s->state_dir, STATE_NAME, i + 1);
      goto out;
    }
    struct stab *t = add_stab(s, sc->s, nm->s);
    if (rows && rows->k == J_NUM) t->rows = strtoull(rows->s, NULL, 10);
    t->segs = segs->nkids ? xcalloc(segs->nkids, sizeof *t->segs) : NULL;
    for (size_t k = 0; k < segs->nkids; k++) {
      const struct jv *at = jv_member(&segs->kids[k], "at"), *up = jv_member(&segs->kids[k], "upto");
      struct seg *g = &t->segs[t->nsegs++];
      char kerr[128];
      if (!at || read_pos(at, &g->pos) || !up ||
          (up->k != J_NULL && !(g->upto = key_from_json(up, kerr, sizeof kerr)))) {
        bh_err(err, errsz, "%s/%s: a segment of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
               t->name);
        goto out;
      }
    }
    t->done = t->nsegs && t->segs[t->nsegs - 1].upto == NULL;
    if (bands && bands->k == J_ARR)
      for (size_t k = 0; k < bands->nkids; k++)
        if (band_load(t, &bands->kids[k])) {
          bh_err(err, errsz, "%s/%s: a band of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
                 t->name);
          goto out;
        }
    if (present && present->k == J_ARR)
      for (size_t k = 0; k < present->nkids; k++) {
        char kerr[128];
        struct key *key = key_from_json(&present->kids[k], kerr, sizeof kerr);
        if (!key) {
          bh_err(err, errsz, "%s/%s: a key of '%s.%s' is damaged", s->state_dir, STATE_NAME, t->schema,
                 t->name);
          goto out;
        }
        struct buf kb = BUF_INIT;
        key_to_json(key, &kb);
        present_add(t, buf_steal(&kb));
        key_free(key);
      }
  }
  rc = 0;
out:
  jv_free(&root);
  return rc;
}

int snapshot_status(const char *state_dir, enum snapshot_status *out, char *err, size_t errsz)
{
  struct buf text = BUF_INIT;
  *out = SNAPSHOT_NONE;
  int r = read_state_file(state_dir, STATE_NAME, &text, err, errsz);
  if (r <= 0) {
    buf_free(&text);
    return r;
  }
  struct snapshot_opts o;
  memset(&o, 0, sizeof o);
  o.state_dir = state_dir;
  struct snapshot *s = snapshot_new(&o);
  int done = 0;
  r = state_load(s, &text, &done, err, errsz);
  snapshot_free(s);
  buf_free(&text);
  if (r) return -1;
  *out = done ? SNAPSHOT_FINISHED : SNAPSHOT_UNFINISHED;
  return 0;
}

static int remove_sent(const char *dir, char *err, size_t errsz)
{
  char path[PATH_MAX], ebuf[128];
  snprintf(path, sizeof path, "%s/%s", dir, SENT_NAME);
  if (unlink(path) < 0 && errno != ENOENT)
    return bh_err(err, errsz, "cannot remove '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  return 0;
}

int snapshot_forget(const char *state_dir, char *err, size_t errsz)
{
  char path[PATH_MAX], ebuf[128];
  if (remove_sent(state_dir, err, errsz)) return -1;
  snprintf(path, sizeof path, "%s/%s", state_dir, STATE_NAME);
  if (unlink(path) < 0 && errno != ENOENT)
    return bh_err(err, errsz, "cannot remove '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  return state_sync_dir(state_dir, err, errsz);
}

/* ---- life cycle ---- */

struct snapshot *snapshot_new(const struct snapshot_opts *o)
{
  struct snapshot *s = xcalloc(1, sizeof *s);
  s->o = *o;
  conn_opts_copy(&s->o.conn, &o->conn);
  s->include = copy_list(o->include);
  s->exclude = copy_list(o->exclude);
  s->state_dir = o->state_dir ? xstrdup(o->state_dir) : NULL;
  if (!s->o.chunk_rows) s->o.chunk_rows = 10000;
  s->cs = charset_conv_new();
  pthread_mutex_init(&s->lock, NULL);
  s->pend_tail = &s->pend;
  atomic_init(&s->stop, 0);
  atomic_init(&s->streaming, 0);
  atomic_init(&s->complete, 0);
  return s;
}

static void close_conn(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  MYSQL *m = s->m;
  s->m = NULL;
  pthread_mutex_unlock(&s->lock);
  if (m) mysql_close(m);
}

void snapshot_free(struct snapshot *s)
{
  if (!s) return;
  snapshot_stop(s);
  snapshot_join(s);
  close_conn(s);
  if (s->cmp) mysql_close(s->cmp);
  table_unref((struct table *)s->fmap_table);
  free(s->fmap);
  for (size_t i = 0; i < s->ntabs; i++)
    stab_free(&s->tabs[i]);
  free(s->tabs);
  free(s->prog);
  while (s->pend) {
    struct pending *p = s->pend;
    s->pend = p->next;
    free(p->json);
    free(p);
  }
  for (size_t i = 0; i < s->nsent; i++)
    free(s->sent[i].json);
  free(s->sent);
  charset_conv_free(s->cs);
  free_list(s->include);
  free_list(s->exclude);
  free(s->state_dir);
  conn_opts_free(&s->o.conn);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* ---- opening the snapshot ---- */

/* The binlog position SHOW MASTER STATUS (SHOW BINARY LOG STATUS on MySQL
 * 8.4) reports. */
static int master_position(MYSQL *m, struct position *p, char *err, size_t errsz)
{
  MYSQL_RES *res = NULL;
  if (mysql_query(m, "SHOW MASTER STATUS") == 0) res = mysql_store_result(m);
  if (!res) {
    if (mysql_query(m, "SHOW BINARY LOG STATUS") || !(res = mysql_store_result(m)))
      return bh_err(err, errsz,
                    "cannot read the binlog position (SHOW MASTER STATUS): %s; the user needs "
                    "REPLICATION CLIENT (BINLOG MONITOR on MariaDB)",
                    mysql_error(m));
  }
  MYSQL_ROW row = mysql_fetch_row(res);
  if (!row || !row[0] || !row[1]) {
    mysql_free_result(res);
    return bh_err(err, errsz,
                  "the server reports no binlog position: is log_bin on? ('binhook doctor' checks)");
  }
  memset(p, 0, sizeof *p);
  snprintf(p->file, sizeof p->file, "%s", row[0]);
  p->pos = strtoull(row[1], NULL, 10);
  mysql_free_result(res);
  return 0;
}

static int start_tx(MYSQL *m, char *err, size_t errsz)
{
  return exec(m, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err, errsz);
}

/* The selected base tables, in name order; *added counts those not known
 * before, which are added only with add (a new transaction within a run
 * does not add tables: one made since the handover is in the stream whole). */
static int list_tables(struct snapshot *s, MYSQL *m, int add, size_t *added, char *err, size_t errsz)
{
  MYSQL_RES *res =
      query(m,
            "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0), ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
            "'performance_schema', 'sys') ORDER BY TABLE_SCHEMA, TABLE_NAME",
            err, errsz);
  if (!res) return -1;
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res))) {
    if (!row[0] || !row[1] || !decoder_table_selected(s->include, s->exclude, row[0], row[1])) continue;
    struct stab *t = find_stab(s, row[0], row[1]);
    if (!t) {
      if (added) (*added)++;
      if (!add) continue;
      t = add_stab(s, row[0], row[1]);
    }
    t->listed = 1;
    t->estimated = row[2] ? strtoull(row[2], NULL, 10) : 0;
    if (add && row[3] && strcasecmp(row[3], "InnoDB") && strcasecmp(row[3], "ROCKSDB") && !t->warned) {
      t->warned = 1;
      log_warn(
          "'%s.%s' is a %s table, which has no consistent snapshot: rows changed while it is read may not "
          "match the handover position (convert it to InnoDB)",
          t->schema, t->name, row[3]);
    }
  }
  mysql_free_result(res);
  return 0;
}

static int access_refused(unsigned code)
{
  return code == ER_SPECIFIC_ACCESS_DENIED || code == ER_DBACCESS_DENIED || code == ER_ACCESS_DENIED ||
         code == 1142 /* command denied */;
}

/* LOCK TABLES ... READ on the listed tables from a second connection, while
 * m starts its transaction and the position is read. */
static int open_with_table_locks(struct snapshot *s, int add, char *err, size_t errsz)
{
  char where[300];
  for (int attempt = 0; attempt < 4; attempt++) {
    size_t nlisted = 0;
    for (size_t i = 0; i < s->ntabs; i++)
      nlisted += s->tabs[i].listed;
    MYSQL *lk = conn_open(&s->o.conn, err, errsz);
    if (!lk) return -1;
    int rc = -1;
    struct buf sql = BUF_INIT;
    if (exec(lk, "SET SESSION lock_wait_timeout = 120", err, errsz)) goto done;
    if (nlisted) {
      buf_adds(&sql, "LOCK TABLES ");
      int first = 1;
      for (size_t i = 0; i < s->ntabs; i++) {
        if (!s->tabs[i].listed) continue;
        if (!first) buf_adds(&sql, ", ");
        first = 0;
        add_table(&sql, &s->tabs[i]);
        buf_adds(&sql, " READ");
      }
      if (mysql_query(lk, sql.p)) {
        bh_err(err, errsz,
               "cannot lock the tables to snapshot on '%s': %s; the user needs LOCK TABLES (or RELOAD "
               "for a global read lock)",
               conn_where(&s->o.conn, where, sizeof where), mysql_error(lk));
        goto done;
      }
    }
    if (start_tx(s->m, err, errsz) || master_position(s->m, &s->cur, err, errsz)) goto done;
    /* a table made since the list was taken is not locked: take it again */
    size_t added = 0;
    if (list_tables(s, s->m, add, &added, err, errsz)) goto done;
    if (!add || !added)
      rc = 0;
    else {
      exec(s->m, "ROLLBACK", err, errsz);
      rc = 1;
    }
  done:
    if (nlisted) mysql_query(lk, "UNLOCK TABLES");
    mysql_close(lk);
    buf_free(&sql);
    if (rc <= 0) return rc;
  }
  return bh_err(err, errsz, "tables kept being created while the snapshot was opened: try again");
}

/* Starts the consistent-snapshot transaction on s->m and sets s->cur. */
static int open_tx(struct snapshot *s, int add, char *err, size_t errsz)
{
  char where[300];
  enum snapshot_lock how = s->o.lock;
  if (how == SNAPSHOT_LOCK_AUTO) how = s->mariadb ? SNAPSHOT_LOCK_MARIADB : SNAPSHOT_LOCK_GLOBAL;
  for (size_t i = 0; i < s->ntabs; i++)
    s->tabs[i].listed = 0;
  if (how == SNAPSHOT_LOCK_MARIADB) {
    if (!s->mariadb)
      return bh_err(err, errsz,
                    "the server on '%s' is not MariaDB: its consistent snapshot has no position; use "
                    "the lock way (auto, global or tables)",
                    conn_where(&s->o.conn, where, sizeof where));
    if (start_tx(s->m, err, errsz)) return -1;
    MYSQL_RES *res = query(s->m, "SHOW STATUS LIKE 'binlog_snapshot_%'", err, errsz);
    if (!res) return -1;
    MYSQL_ROW row;
    memset(&s->cur, 0, sizeof s->cur);
    int have = 0;
    while ((row = mysql_fetch_row(res))) {
      if (!row[0] || !row[1]) continue;
      if (!strcasecmp(row[0], "binlog_snapshot_file"))
        snprintf(s->cur.file, sizeof s->cur.file, "%s", row[1]), have |= 1;
      if (!strcasecmp(row[0], "binlog_snapshot_position")) s->cur.pos = strtoull(row[1], NULL, 10), have |= 2;
    }
    mysql_free_result(res);
    if (have != 3 || !s->cur.file[0])
      return bh_err(err, errsz,
                    "the server on '%s' reports no binlog_snapshot_file: is log_bin on? ('binhook "
                    "doctor' checks)",
                    conn_where(&s->o.conn, where, sizeof where));
    s->used_lock = SNAPSHOT_LOCK_MARIADB;
    return list_tables(s, s->m, add, NULL, err, errsz);
  }
  if (how == SNAPSHOT_LOCK_GLOBAL) {
    if (exec(s->m, "SET SESSION lock_wait_timeout = 120", err, errsz)) return -1;
    if (mysql_query(s->m, "FLUSH TABLES WITH READ LOCK") == 0) {
      int rc = start_tx(s->m, err, errsz) || master_position(s->m, &s->cur, err, errsz) ? -1 : 0;
      char e2[256];
      if (exec(s->m, "UNLOCK TABLES", e2, sizeof e2) && !rc) rc = bh_err(err, errsz, "%s", e2);
      if (rc) return -1;
      s->used_lock = SNAPSHOT_LOCK_GLOBAL;
      return list_tables(s, s->m, add, NULL, err, errsz);
    }
    unsigned code = mysql_errno(s->m);
    if (s->o.lock == SNAPSHOT_LOCK_GLOBAL || !access_refused(code))
      return bh_err(err, errsz,
                    "cannot take the global read lock on '%s': %s (the user needs RELOAD; or use "
                    "table locks)",
                    conn_where(&s->o.conn, where, sizeof where), mysql_error(s->m));
    log_notice("the global read lock is refused on '%s' (%s): locking the snapshot's tables instead",
               conn_where(&s->o.conn, where, sizeof where), mysql_error(s->m));
  }
  /* per-table locks: the tables first */
  if (list_tables(s, s->m, add, NULL, err, errsz)) return -1;
  if (open_with_table_locks(s, add, err, errsz)) return -1;
  s->used_lock = SNAPSHOT_LOCK_TABLES;
  return 0;
}

static int connect_session(struct snapshot *s, char *err, size_t errsz)
{
  char where[300];
  struct conn_opts co = s->o.conn;
  co.read_timeout = 0; /* a chunk may wait long for a slow consumer */
  MYSQL *m = conn_open(&co, err, errsz);
  if (!m) return -1;
  pthread_mutex_lock(&s->lock);
  s->m = m;
  pthread_mutex_unlock(&s->lock);
  MYSQL_RES *res = query(m, "SELECT @@log_bin, @@version", err, errsz);
  if (!res) return -1;
  MYSQL_ROW row = mysql_fetch_row(res);
  int log_bin = row && row[0] && atoi(row[0]) == 1;
  s->mariadb = row && row[1] && strstr(row[1], "MariaDB") != NULL;
  mysql_free_result(res);
  if (!log_bin)
    return bh_err(err, errsz,
                  "binary logging is off on '%s': a snapshot needs the binlog to hand over to; set "
                  "log_bin in the server's my.cnf and restart it",
                  conn_where(&s->o.conn, where, sizeof where));
  /* Values in UTC and in their own charset, whole CHAR values, and no
   * timeout while the consumer makes the reading wait. */
  if (exec(m, "SET NAMES utf8mb4", err, errsz) ||
      exec(m,
           "SET SESSION time_zone = '+00:00', character_set_results = NULL, sql_mode = '', "
           "net_write_timeout = 31536000, wait_timeout = 31536000, net_read_timeout = 3600",
           err, errsz) ||
      exec(m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err, errsz))
    return -1;
  return 0;
}

static void window_setup(struct snapshot *s)
{
  s->maxpos = s->handover;
  for (size_t i = 0; i < s->ntabs; i++)
    for (size_t k = 0; k < s->tabs[i].nsegs; k++)
      if (pos_cmp(s->tabs[i].segs[k].pos.file, s->tabs[i].segs[k].pos.pos, &s->maxpos) > 0)
        s->maxpos = s->tabs[i].segs[k].pos;
  s->window_open = pos_cmp(s->maxpos.file, s->maxpos.pos, &s->handover) > 0;
}

static void progress_setup(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  free(s->prog);
  s->prog = xcalloc(s->ntabs ? s->ntabs : 1, sizeof *s->prog);
  for (size_t i = 0; i < s->ntabs; i++) {
    s->prog[i].schema = s->tabs[i].schema;
    s->prog[i].name = s->tabs[i].name;
    s->prog[i].done = s->tabs[i].rows;
    s->prog[i].estimated = s->tabs[i].estimated;
    s->prog[i].finished = s->tabs[i].done;
    s->prog[i].eta = -1;
  }
  pthread_mutex_unlock(&s->lock);
}

static void key_text(const struct stab *t, const struct key *k, struct buf *b)
{
  buf_addc(b, '(');
  for (uint32_t j = 0; j < k->n; j++) {
    if (j) buf_add(b, ", ", 2);
    const struct value *v = &k->v[j];
    if (v->kind == VAL_BYTES && t->ncols && j < t->npk && t->cols[t->pk[j]].charset) {
      buf_add(b, k->arena.p + v->off, v->len);
      continue;
    }
    struct scol dummy = {0};
    add_literal(t->ncols && j < t->npk ? &t->cols[t->pk[j]] : &dummy, v, k->arena.p, b);
  }
  buf_addc(b, ')');
}

/* The chunks the last run announced in SENT_NAME become bands of their
 * tables; s->nsent counts them until the state holds them. */
static int take_sent(struct snapshot *s, char *err, size_t errsz)
{
  char path[PATH_MAX], what[128];
  snprintf(path, sizeof path, "%s/%s", s->state_dir, SENT_NAME);
  struct buf text = BUF_INIT;
  int have = read_state_file(s->state_dir, SENT_NAME, &text, err, errsz);
  if (have <= 0) {
    buf_free(&text);
    return have;
  }
  struct jv root;
  size_t pos = 0;
  int rc = -1;
  if (json_parse_value(text.p, text.len, &pos, &root, what, sizeof what) < 0) {
    /* written whole or not at all: a damaged one was not written here */
    bh_err(err, errsz, "%s is damaged (%s at byte %zu): remove it and the snapshot state to take a new snapshot",
           path, what, pos);
    goto out;
  }
  const struct jv *chunks = jv_member(&root, "chunks");
  if (!chunks || chunks->k != J_ARR) {
    bh_err(err, errsz, "%s is not one this binhook wrote: remove it and the snapshot state to take a new snapshot",
           path);
    goto out;
  }
  for (size_t i = 0; i < chunks->nkids; i++) {
    const struct jv *o = &chunks->kids[i], *sc = jv_member(o, "schema"), *nm = jv_member(o, "name"),
                    *band = jv_member(o, "band");
    if (!sc || sc->k != J_STR || !nm || nm->k != J_STR || !band) {
      bh_err(err, errsz, "%s: chunk %zu is damaged (remove it and the snapshot state to take a new snapshot)",
             path, i + 1);
      goto out;
    }
    struct stab *t = find_stab(s, sc->s, nm->s);
    if (!t) t = add_stab(s, sc->s, nm->s);
    if (t->done) continue; /* committed whole meanwhile */
    if (band_load(t, band)) {
      bh_err(err, errsz, "%s: chunk %zu is damaged (remove it and the snapshot state to take a new snapshot)",
             path, i + 1);
      goto out;
    }
    t->collecting = 1;
    s->nsent++;
  }
  rc = 0;
out:
  jv_free(&root); /* the parser leaves it to be freed either way */
  buf_free(&text);
  return rc;
}

int snapshot_begin(struct snapshot *s, char *err, size_t errsz)
{
  char where[300];
  if (s->begun) return bh_err(err, errsz, "the snapshot was begun already");
  s->begun = 1;
  int done = 0, have = 0;
  if (s->state_dir) {
    struct buf text = BUF_INIT;
    have = read_state_file(s->state_dir, STATE_NAME, &text, err, errsz);
    if (have > 0 && state_load(s, &text, &done, err, errsz)) have = -1;
    buf_free(&text);
    if (have < 0) return -1;
  }
  if (done) {
    s->finished = 1;
    window_setup(s);
    progress_setup(s);
    return 0;
  }
  if (have && s->state_dir && take_sent(s, err, errsz)) return -1;
  if (connect_session(s, err, errsz)) goto fail;
  if (open_tx(s, 1, err, errsz)) goto fail;
  s->ts = (uint32_t)time(NULL);
  if (!have) {
    s->handover = s->cur;
  } else {
    s->resumed = 1;
    for (size_t i = 0; i < s->ntabs; i++)
      if (s->tabs[i].nbands && !s->tabs[i].done) s->tabs[i].collecting = 1;
    size_t ndone = 0;
    for (size_t i = 0; i < s->ntabs; i++)
      ndone += s->tabs[i].done;
    log_notice("resuming the snapshot begun at %s:%" PRIu64 " (%" PRIu64
               " rows done, %zu of %zu tables finished): "
               "the rest is read at %s:%" PRIu64 " and the stream still starts at %s:%" PRIu64,
               s->handover.file, s->handover.pos, s->ordinal, ndone, s->ntabs, s->cur.file, s->cur.pos,
               s->handover.file, s->handover.pos);
  }
  /* A table of the state that is gone (or no longer selected) reads as
   * empty from here: its changes between the snapshots are dropped. */
  for (size_t i = 0; i < s->ntabs; i++) {
    struct stab *t = &s->tabs[i];
    if (t->listed || t->done) continue;
    log_warn(
        "'%s.%s' of the unfinished snapshot is gone or no longer selected: its snapshot stops at the rows "
        "read so far",
        t->schema, t->name);
    t->segs = xrealloc(t->segs, (t->nsegs + 1) * sizeof *t->segs);
    t->segs[t->nsegs++] = (struct seg){.pos = s->cur, .upto = NULL};
    t->done = 1;
  }
  if (s->state_dir) {
    struct stat st;
    if (stat(s->state_dir, &st) < 0 && mkdir(s->state_dir, 0700) < 0 && errno != EEXIST) {
      char ebuf[128];
      bh_err(err, errsz, "cannot make the state directory '%s': %s", s->state_dir,
             bh_strerror(errno, ebuf, sizeof ebuf));
      goto fail;
    }
    if (!have || s->nsent) {
      /* a new state, or one with the bands of the chunks the last run sent:
       * written before this run sends anything, which overwrites SENT_NAME */
      struct buf b = BUF_INIT;
      state_json(s, 0, &b);
      int rc = state_write_file(s->state_dir, STATE_NAME, b.p, b.len, err, errsz);
      buf_free(&b);
      if (rc) goto fail;
      s->nsent = 0;
    }
    if (remove_sent(s->state_dir, err, errsz)) goto fail;
  }
  progress_setup(s);
  log_info("snapshot of %zu table%s at %s:%" PRIu64 " (%s) on '%s'", s->ntabs, s->ntabs == 1 ? "" : "s",
           s->cur.file, s->cur.pos,
           s->used_lock == SNAPSHOT_LOCK_MARIADB  ? "MariaDB's consistent snapshot, no lock"
           : s->used_lock == SNAPSHOT_LOCK_GLOBAL ? "global read lock while it opened"
                                                  : "table locks while it opened",
           conn_where(&s->o.conn, where, sizeof where));
  return 1;
fail:
  close_conn(s);
  return -1;
}

const struct position *snapshot_handover(const struct snapshot *s)
{
  return &s->handover;
}

/* ---- reading ---- */

static int emit(struct snapshot *s, struct change *e, char *err, size_t errsz)
{
  if (atomic_load(&s->stop)) {
    change_free(e);
    return bh_err(err, errsz, "stopped");
  }
  if (s->o.emit) return s->o.emit(s->o.ctx, e, err, errsz);
  if (changeq_push(s->q, e)) return bh_err(err, errsz, "stopped");
  return 0;
}

static void sleep_until(struct snapshot *s, double when)
{
  double now;
  while (!atomic_load(&s->stop) && (now = bh_mono()) < when) {
    double d = when - now > 0.1 ? 0.1 : when - now;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(d * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static void report(struct snapshot *s, int force)
{
  struct snapshot_progress p;
  static const double every = 0.2;
  double now = bh_mono();
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < s->ntabs; i++) {
    struct snapshot_table_progress *tp = &s->prog[i];
    const struct stab *t = &s->tabs[i];
    tp->done = t->rows;
    tp->finished = t->done;
    double el = (t->ended > 0 ? t->ended : now) - t->started;
    tp->rate = t->started > 0 && el > 0 ? (double)t->rows_run / el : 0;
    tp->eta = t->done                                    ? 0
              : tp->rate > 0 && tp->estimated > tp->done ? (double)(tp->estimated - tp->done) / tp->rate
                                                         : -1;
  }
  memset(&p, 0, sizeof p);
  p.tables = s->prog;
  p.ntables = s->ntabs;
  p.current = s->current;
  for (size_t i = 0; i < s->ntabs; i++) {
    p.done += s->prog[i].done;
    const struct snapshot_table_progress *tp = &s->prog[i];
    p.estimated += tp->finished || tp->done > tp->estimated ? tp->done : tp->estimated;
  }
  p.elapsed = now - s->t0;
  p.rate = p.elapsed > 0 ? (double)s->rows_run / p.elapsed : 0;
  p.finished = s->current >= s->ntabs;
  p.eta = p.finished ? 0 : p.rate > 0 && p.estimated > p.done ? (double)(p.estimated - p.done) / p.rate : -1;
  pthread_mutex_unlock(&s->lock);
  static _Thread_local double last;
  if (!force && now - last < every) return;
  last = now;
  if (s->o.progress)
    s->o.progress(s->o.ctx, &p);
  else if (!s->o.quiet)
    snapshot_progress_print(&p);
}

/* The end of a chunk: the state as it is now waits for its commit, and a
 * marker tells the consumer. */
static int chunk_end(struct snapshot *s, int done, char *err, size_t errsz)
{
  uint64_t seq = ++s->seq;
  if (s->state_dir) {
    struct pending *p = xcalloc(1, sizeof *p);
    struct buf b = BUF_INIT;
    state_json(s, done, &b);
    p->json = buf_steal(&b);
    p->seq = seq;
    p->ordinal = s->ordinal;
    pthread_mutex_lock(&s->lock);
    *s->pend_tail = p;
    s->pend_tail = &p->next;
    pthread_mutex_unlock(&s->lock);
  }
  struct change *m = change_new(EVENT_HEARTBEAT, NULL);
  m->position = s->handover;
  m->end_pos = s->handover.pos;
  m->xa_held = 1;
  m->tx_pos = MARKER_TAG;
  m->tx_index = (uint32_t)seq;
  m->ts = s->ts;
  return emit(s, m, err, errsz);
}

int snapshot_marker(const struct change *e, uint64_t *seq)
{
  if (e->type != EVENT_HEARTBEAT || e->tx_pos != MARKER_TAG || e->table) return 0;
  if (seq) *seq = e->tx_index;
  return 1;
}

int snapshot_commit(struct snapshot *s, uint64_t seq, char *err, size_t errsz)
{
  pthread_mutex_lock(&s->lock);
  struct pending *found = NULL;
  while (s->pend && s->pend->seq <= (uint32_t)seq) {
    struct pending *p = s->pend;
    s->pend = p->next;
    if (!s->pend) s->pend_tail = &s->pend;
    if (found) {
      free(found->json);
      free(found);
    }
    found = p;
  }
  pthread_mutex_unlock(&s->lock);
  if (!found) return 0;
  int rc = state_write_file(s->state_dir, STATE_NAME, found->json, strlen(found->json), err, errsz);
  if (!rc) { /* their chunks are in the state now; the file is rewritten at the next chunk */
    pthread_mutex_lock(&s->lock);
    size_t k = 0;
    for (size_t i = 0; i < s->nsent; i++)
      if (s->sent[i].seq <= found->seq)
        free(s->sent[i].json);
      else
        s->sent[k++] = s->sent[i];
    s->nsent = k;
    pthread_mutex_unlock(&s->lock);
  }
  if (!rc) {
    pthread_mutex_lock(&s->lock);
    s->committed_rows = found->ordinal;
    pthread_mutex_unlock(&s->lock);
  }
  free(found->json);
  free(found);
  return rc;
}

uint64_t snapshot_committed_rows(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  uint64_t n = s->committed_rows;
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* The segment of t this transaction writes into, made when needed. */
static struct seg *cur_seg(struct snapshot *s, struct stab *t)
{
  if (t->nsegs && !t->segs[t->nsegs - 1].upto) return &t->segs[t->nsegs - 1]; /* not expected: a done table */
  if (t->nsegs && !pos_cmp(t->segs[t->nsegs - 1].pos.file, t->segs[t->nsegs - 1].pos.pos, &s->cur))
    return &t->segs[t->nsegs - 1];
  t->segs = xrealloc(t->segs, (t->nsegs + 1) * sizeof *t->segs);
  struct seg *g = &t->segs[t->nsegs++];
  memset(g, 0, sizeof *g);
  g->pos = s->cur;
  return g;
}

/* The last committed key of t, where reading goes on. */
static const struct key *last_key(const struct stab *t)
{
  return t->nsegs ? t->segs[t->nsegs - 1].upto : NULL;
}

enum { READ_OK = 0, READ_FAIL = -1, READ_REOPEN = 1, READ_GONE = 2 };

#define KEY_PARTS_MAX 64
#define ANNOUNCE_CHUNKS 4

static int server_cmp(struct snapshot *s, const struct scol *c, const struct value *a, const char *aa,
                      const struct value *b, const char *ba, int *out);

/* Orders the key values vals (one per key part, text in arena; as an event
 * or a key has them) against bound u: *out < 0, 0 or > 0. -1 when it
 * cannot be told. */
static int key_order(struct snapshot *s, const struct stab *t, const struct value *const *vals, const char *arena,
                     const struct key *u, int *out)
{
  int c = 0;
  for (uint32_t j = 0; j < t->npk && !c; j++) {
    const struct scol *col = &t->cols[t->pk[j]];
    if (col->server_cmp) {
      if (server_cmp(s, col, vals[j], arena, &u->v[j], u->arena.p, &c)) return -1;
    } else {
      c = value_cmp(col, vals[j], arena, &u->v[j], u->arena.p);
    }
  }
  *out = c;
  return 0;
}

/* The text present holds for the key values vals: the event form, so that
 * a row read by the snapshot and a change of it give the same. */
static char *image_key(const struct stab *t, const struct value *const *vals, const char *arena)
{
  struct key *k = key_new(t->npk);
  for (uint32_t j = 0; j < t->npk; j++)
    key_set_value(k, j, vals[j], arena);
  struct buf b = BUF_INIT;
  key_to_json(k, &b);
  key_free(k);
  return buf_steal(&b);
}

/* Whether a band of t reaches past key k (so that the rows after k are
 * still to be noted in present). */
static int bands_ahead(struct snapshot *s, const struct stab *t, const struct key *k)
{
  const struct value *vals[KEY_PARTS_MAX];
  for (uint32_t j = 0; j < t->npk; j++)
    vals[j] = &k->v[j];
  for (size_t i = 0; i < t->nbands; i++) {
    int c;
    if (!t->bands[i].upto || key_order(s, t, vals, k->arena.p, t->bands[i].upto, &c) || c < 0) return 1;
  }
  return 0;
}

/* Reads one chunk of t (all of it without a key) and emits its rows. With
 * probe, emits nothing: *probe gets the key of the chunk's last row when the
 * chunk is full (*nrows 1), NULL otherwise; with limit 0, the key of the
 * table's last row (NULL when no row is left). */
static int read_chunk(struct snapshot *s, struct stab *t, uint64_t limit, struct key **probe, uint64_t *nrows,
                      char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  int rc = READ_FAIL;
  MYSQL_STMT *st = NULL;
  MYSQL_RES *meta = NULL;
  struct key *lk = NULL;
  *nrows = 0;

  buf_adds(&sql, "SELECT ");
  for (uint32_t i = 0; i < t->ncols; i++) {
    const struct scol *c = &t->cols[i];
    if (i) buf_add(&sql, ", ", 2);
    int key = 0;
    for (uint32_t j = 0; j < t->npk && !key; j++)
      key = t->pk[j] == i;
    if (probe && !key) {
      buf_adds(&sql, "NULL"); /* only the key is wanted */
    } else if (c->fk == FK_ENUM || c->fk == FK_SET) {
      add_ident(&sql, c->name); /* the index or the bits, not the labels */
      buf_add(&sql, "+0", 2);
    } else if (c->fk == FK_CASTBIN) {
      buf_adds(&sql, "CAST(");
      add_ident(&sql, c->name);
      buf_printf(&sql, " AS BINARY(%u))", c->cast_len);
    } else {
      add_ident(&sql, c->name);
    }
  }
  buf_adds(&sql, " FROM ");
  add_table(&sql, t);
  const struct key *after = last_key(t);
  if (t->npk && after) {
    /* (k1, k2) > (v1, v2), written so that the range optimizer uses the key */
    const struct scol *c0 = &t->cols[t->pk[0]];
    buf_adds(&sql, " WHERE ");
    add_ident(&sql, c0->name);
    buf_adds(&sql, " >= ");
    add_literal(c0, &after->v[0], after->arena.p, &sql);
    buf_adds(&sql, " AND (");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_adds(&sql, " OR ");
      buf_addc(&sql, '(');
      for (uint32_t k = 0; k <= j; k++) {
        const struct scol *c = &t->cols[t->pk[k]];
        if (k) buf_adds(&sql, " AND ");
        add_ident(&sql, c->name);
        buf_adds(&sql, k < j ? " = " : " > ");
        add_literal(c, &after->v[k], after->arena.p, &sql);
      }
      buf_addc(&sql, ')');
    }
    buf_addc(&sql, ')');
  }
  if (t->npk) {
    buf_adds(&sql, " ORDER BY ");
    for (uint32_t j = 0; j < t->npk; j++) {
      if (j) buf_add(&sql, ", ", 2);
      add_ident(&sql, t->cols[t->pk[j]].name);
      if (probe && !limit) buf_adds(&sql, " DESC");
    }
    if (probe && !limit)
      buf_adds(&sql, " LIMIT 1");
    else if (probe)
      buf_printf(&sql, " LIMIT 1 OFFSET %" PRIu64, limit - 1);
    else
      buf_printf(&sql, " LIMIT %" PRIu64, limit);
  }
  if (probe) *probe = NULL;
  if (!probe && t->collecting && after && !bands_ahead(s, t, after)) t->collecting = 0;

  st = mysql_stmt_init(s->m);
  if (!st) {
    bh_err(err, errsz, "out of memory for a statement");
    goto out;
  }
  if (mysql_stmt_prepare(st, sql.p, (unsigned long)sql.len) || mysql_stmt_execute(st)) {
    unsigned code = mysql_stmt_errno(st);
    if (code == ER_TABLE_DEF_CHANGED)
      rc = READ_REOPEN;
    else if (code == ER_NO_SUCH_TABLE)
      rc = READ_GONE;
    else
      bh_err(err, errsz, "cannot read '%s.%s': %s (query: %.300s)", t->schema, t->name, mysql_stmt_error(st),
             sql.p);
    goto out;
  }
  meta = mysql_stmt_result_metadata(st);
  if (!meta || mysql_num_fields(meta) != t->ncols) {
    bh_err(err, errsz, "reading '%s.%s' gave %u columns, not %u", t->schema, t->name,
           meta ? mysql_num_fields(meta) : 0, t->ncols);
    goto out;
  }
  const MYSQL_FIELD *fields = mysql_fetch_fields(meta);
  bind_cells(t, fields);
  if (mysql_stmt_bind_result(st, t->binds)) {
    bh_err(err, errsz, "cannot read '%s.%s': %s", t->schema, t->name, mysql_stmt_error(st));
    goto out;
  }
  lk = key_new(t->npk);
  for (;;) {
    int f = mysql_stmt_fetch(st);
    if (f == MYSQL_NO_DATA) break;
    if (f == 1) {
      /* an error at the first row (a table changed since the snapshot
       * began) may come with the rows rather than with execute */
      unsigned code = mysql_stmt_errno(st) ? mysql_stmt_errno(st) : mysql_errno(s->m);
      const char *msg = mysql_stmt_errno(st) ? mysql_stmt_error(st) : mysql_error(s->m);
      if (atomic_load(&s->stop))
        bh_err(err, errsz, "stopped");
      else if (code == ER_TABLE_DEF_CHANGED && !*nrows)
        rc = READ_REOPEN;
      else
        bh_err(err, errsz, "reading '%s.%s' failed: %s (error %u)", t->schema, t->name, msg, code);
      goto out;
    }
    if (f == MYSQL_DATA_TRUNCATED) {
      int rebind = 0;
      for (uint32_t i = 0; i < t->ncols; i++) {
        struct cell *x = &t->cells[i];
        if (t->binds[i].buffer_type != MYSQL_TYPE_BLOB || x->null || x->len <= x->cap) continue;
        x->cap = x->len + x->len / 2;
        free(x->data);
        x->data = xmalloc(x->cap + 1);
        t->binds[i].buffer = x->data;
        t->binds[i].buffer_length = x->cap;
        if (mysql_stmt_fetch_column(st, &t->binds[i], i, 0)) {
          bh_err(err, errsz, "reading '%s.%s' failed: %s", t->schema, t->name, mysql_stmt_error(st));
          goto out;
        }
        rebind = 1;
      }
      if (rebind && mysql_stmt_bind_result(st, t->binds)) {
        bh_err(err, errsz, "cannot read '%s.%s': %s", t->schema, t->name, mysql_stmt_error(st));
        goto out;
      }
    }
    struct change *e = change_new(EVENT_SNAPSHOT, t->t);
    e->ts = s->ts;
    e->position = s->cur;
    e->tx_pos = 0;
    e->tx_index = (uint32_t)s->ordinal;
    for (uint32_t i = 0; i < t->ncols; i++)
      if (convert(s, &t->cols[i], &fields[i], &t->cells[i], &e->after[i], &e->arena, err, errsz)) {
        char msg[600];
        snprintf(msg, sizeof msg, "'%s.%s': %s", t->schema, t->name, err);
        bh_err(err, errsz, "%s", msg);
        change_free(e);
        goto out;
      }
    if (t->npk) row_key(t, e, lk);
    if (probe) {
      change_free(e);
      if (t->npk && !*probe) *probe = key_copy(lk);
      *nrows = 1;
      continue;
    }
    if (t->collecting && t->npk <= KEY_PARTS_MAX) {
      const struct value *vals[KEY_PARTS_MAX];
      for (uint32_t j = 0; j < t->npk; j++)
        vals[j] = &e->after[t->pk[j]];
      present_add(t, image_key(t, vals, e->arena.p));
    }
    if (emit(s, e, err, errsz)) goto out;
    s->ordinal++;
    t->rows++;
    t->rows_run++;
    s->rows_run++;
    (*nrows)++;
    if (s->o.rate > 0 && (s->rows_run & 63) == 0) sleep_until(s, s->t0 + (double)s->rows_run / s->o.rate);
    if (!t->npk && (t->rows_run & 4095) == 0) report(s, 0);
  }
  if (t->npk && *nrows && !probe) {
    struct seg *g = cur_seg(s, t);
    key_free(g->upto);
    g->upto = key_copy(lk);
  }
  rc = READ_OK;
out:
  key_free(lk);
  if (meta) mysql_free_result(meta);
  if (st) mysql_stmt_close(st);
  buf_free(&sql);
  return rc;
}

/* A new transaction after the old one was broken by DDL: what was read stays
 * in its segments; the rest is read at the new position. */
static int reopen(struct snapshot *s, char *err, size_t errsz)
{
  if (++s->reopens > MAX_REOPENS)
    return bh_err(err, errsz,
                  "the snapshot was broken by table changes (ALTER TABLE) %d times: run it again when "
                  "the schema is quiet",
                  MAX_REOPENS);
  if (exec(s->m, "ROLLBACK", err, errsz)) return -1;
  struct position old = s->cur;
  if (open_tx(s, 0, err, errsz)) return -1;
  bar_break();
  log_notice(
      "the snapshot transaction was broken by a table definition change: went on in a new one at %s:%" PRIu64
      " (was %s:%" PRIu64 ")",
      s->cur.file, s->cur.pos, old.file, old.pos);
  return 0;
}

/* Writes SENT_NAME: the chunks sent whose state is not committed. Called
 * with lock held; the text is written by the caller. */
static void sent_json(struct snapshot *s, struct buf *b)
{
  buf_printf(b, "{\"format\":%d,\"chunks\":[", STATE_FORMAT_SNAPSHOT);
  for (size_t i = 0; i < s->nsent; i++) {
    if (i) buf_addc(b, ',');
    buf_adds(b, "\n");
    buf_adds(b, s->sent[i].json);
  }
  buf_adds(b, "]}\n");
}

/* Before the rows of t's next chunk go out, its key range and position
 * are made durable in SENT_NAME (with the other chunks sent whose state is
 * not committed yet): after a crash before that commit, the next run knows
 * which rows a receiver may hold as read here (snapshot_begin makes them
 * bands). The range covers ANNOUNCE_CHUNKS chunks, whose last key is asked
 * first in the same transaction, so that one fsync serves them all. */
static int announce(struct snapshot *s, struct stab *t, uint64_t limit, char *err, size_t errsz)
{
  struct key *upto;
  uint64_t n;
  if (t->announced) { /* the next chunk is in the range announced last */
    t->announced--;
    return READ_OK;
  }
  int r = read_chunk(s, t, limit * ANNOUNCE_CHUNKS, &upto, &n, err, errsz);
  if (r != READ_OK) return r;
  t->announced = upto ? ANNOUNCE_CHUNKS - 1 : UINT32_MAX;
  /* the range reaches the end: up to the last key, not beyond, so that a
   * resumed run notes no more keys than this one can send */
  if (!upto && ((r = read_chunk(s, t, 0, &upto, &n, err, errsz)) != READ_OK || !upto)) return r;
  struct band g = {.pos = s->cur, .after = (struct key *)last_key(t), .upto = upto};
  struct buf one = BUF_INIT, file = BUF_INIT;
  buf_adds(&one, "{\"schema\":");
  buf_add_json_str(&one, t->schema, strlen(t->schema));
  buf_adds(&one, ",\"name\":");
  buf_add_json_str(&one, t->name, strlen(t->name));
  buf_adds(&one, ",\"band\":");
  band_json(&g, &one);
  buf_addc(&one, '}');
  key_free(upto);
  /* the marker after the range's last chunk: a range that reaches the
   * table's end holds fewer rows than its chunks too */
  uint64_t seq = s->seq + ANNOUNCE_CHUNKS;
  pthread_mutex_lock(&s->lock);
  if (s->nsent && s->sent[s->nsent - 1].seq == seq) { /* nothing sent of it before a reopen: replaced */
    free(s->sent[s->nsent - 1].json);
    s->nsent--;
  }
  s->sent = xrealloc(s->sent, (s->nsent + 1) * sizeof *s->sent);
  s->sent[s->nsent++] = (struct sent){.seq = seq, .json = buf_steal(&one)};
  sent_json(s, &file);
  pthread_mutex_unlock(&s->lock);
  int rc = state_write_file(s->state_dir, SENT_NAME, file.p, file.len, err, errsz);
  buf_free(&file);
  return rc ? READ_FAIL : READ_OK;
}

static int read_table(struct snapshot *s, struct stab *t, char *err, size_t errsz)
{
  int l = load_table(s, t, err, errsz);
  if (l < 0) return -1;
  t->started = bh_mono();
  t->ended = 0;
  t->rows_run = 0;
  if (l == 1) goto gone;
  if (!t->npk) {
    bar_break();
    log_warn(
        "'%s.%s' has no primary key: it is read in one pass (a crash reads it again from the start), and its "
        "changes carry no key",
        t->schema, t->name);
  } else if (last_key(t)) {
    struct buf kb = BUF_INIT;
    key_text(t, last_key(t), &kb);
    bar_break();
    log_notice("the snapshot of '%s.%s' resumes after key %s (%" PRIu64 " rows done), at %s:%" PRIu64,
               t->schema, t->name, kb.p, t->rows, s->cur.file, s->cur.pos);
    buf_free(&kb);
  }
  for (;;) {
    uint64_t limit = s->o.chunk_rows, n = 0;
    int r = s->state_dir && t->npk ? announce(s, t, limit, err, errsz) : READ_OK;
    if (r == READ_OK) r = read_chunk(s, t, limit, NULL, &n, err, errsz);
    if (r == READ_REOPEN) {
      t->announced = 0; /* the rest is read at another position: announced again */
      if (reopen(s, err, errsz)) return -1;
      l = load_table(s, t, err, errsz);
      if (l < 0) return -1;
      if (l == 1) goto gone;
      continue;
    }
    if (r == READ_GONE) goto gone;
    if (r) return -1;
    int finished = !t->npk || n < limit;
    if (finished) {
      struct seg *g = cur_seg(s, t);
      key_free(g->upto);
      g->upto = NULL;
      t->done = 1;
      t->ended = bh_mono();
    }
    if (chunk_end(s, 0, err, errsz)) return -1;
    report(s, finished);
    if (finished) break;
  }
  stab_unload(t);
  return 0;
gone:
  bar_break();
  log_warn("'%s.%s' was dropped while the snapshot ran: its rows are not in it", t->schema, t->name);
  {
    struct seg *g = cur_seg(s, t);
    key_free(g->upto);
    g->upto = NULL;
  }
  t->done = 1;
  t->ended = bh_mono();
  stab_unload(t);
  if (chunk_end(s, 0, err, errsz)) return -1;
  report(s, 1);
  return 0;
}

int snapshot_run(struct snapshot *s, char *err, size_t errsz)
{
  if (!s->begun) return bh_err(err, errsz, "snapshot_run before snapshot_begin");
  s->t0 = bh_mono();
  int rc = 0;
  if (!s->finished) {
    for (s->current = 0; s->current < s->ntabs; s->current++) {
      struct stab *t = &s->tabs[s->current];
      if (t->done) continue;
      if ((rc = read_table(s, t, err, errsz))) break;
    }
    if (!rc) {
      s->finished = 1;
      char e2[256];
      if (s->m) exec(s->m, "ROLLBACK", e2, sizeof e2);
      close_conn(s);
      rc = chunk_end(s, 1, err, errsz);
      report(s, 1);
      bar_break();
      log_info("snapshot finished: %" PRIu64 " rows in %.1fs; the stream takes over at %s:%" PRIu64,
               s->rows_run, bh_mono() - s->t0, s->handover.file, s->handover.pos);
    }
  }
  close_conn(s);
  window_setup(s);
  if (!rc) atomic_store(&s->complete, 1);
  return rc;
}

/* ---- the thread ---- */

static void *snapshot_main(void *arg)
{
  struct snapshot *s = arg;
  char err[1500];
  int rc = snapshot_run(s, err, sizeof err);
  if (rc) {
    if (!atomic_load(&s->stop) && strcmp(err, "stopped")) {
      snprintf(s->err, sizeof s->err, "snapshot: %s", err);
      s->failed = 1;
    }
    changeq_close(s->q);
    return NULL;
  }
  if (s->o.no_stream) {
    atomic_store(&s->streaming, 1);
    changeq_close(s->q);
    return NULL;
  }
  if (!atomic_load(&s->stop) && source_start(s->src, err, sizeof err)) {
    snprintf(s->err, sizeof s->err, "%s", err);
    s->failed = 1;
    changeq_close(s->q);
    return NULL;
  }
  atomic_store(&s->streaming, 1);
  return NULL;
}

int snapshot_start(struct snapshot *s, struct source *src, char *err, size_t errsz)
{
  if (!s->begun) return bh_err(err, errsz, "snapshot_start before snapshot_begin");
  s->src = src;
  s->q = source_queue(src);
  if (pthread_create(&s->thread, NULL, snapshot_main, s)) {
    return bh_err(err, errsz, "cannot start the snapshot thread");
  }
  s->thread_started = 1;
  return 0;
}

const char *snapshot_error(struct snapshot *s)
{
  return s->failed ? s->err : NULL;
}

enum bh_errc snapshot_errc(struct snapshot *s) { return s->failed ? BH_E_OTHER : BH_E_NONE; }

int snapshot_unfinished(struct snapshot *s)
{
  return !atomic_load(&s->complete);
}

void snapshot_stop(struct snapshot *s)
{
  atomic_store(&s->stop, 1);
  pthread_mutex_lock(&s->lock);
  if (s->m) {
    int fd = (int)mysql_get_socket(s->m);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&s->lock);
  if (s->thread_started && s->q && !atomic_load(&s->streaming)) changeq_close(s->q);
}

void snapshot_join(struct snapshot *s)
{
  if (s->thread_started) {
    pthread_join(s->thread, NULL);
    s->thread_started = 0;
  }
}

/* ---- the filter ---- */

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
    add_hex(&x, aa + a->off, a->len);
    buf_printf(&x, " USING %s) COLLATE %s", c->charset, c->collation);
  } else {
    struct value raw = *a;
    raw.kind = VAL_BYTES;
    add_literal(c, &raw, aa, &x);
  }
  buf_adds(&sql, "SELECT (");
  buf_add(&sql, x.p, x.len);
  buf_adds(&sql, " > ");
  add_literal(c, b, ba, &sql);
  buf_adds(&sql, ") - (");
  buf_add(&sql, x.p, x.len);
  buf_adds(&sql, " < ");
  add_literal(c, b, ba, &sql);
  buf_addc(&sql, ')');
  int rc = -1;
  MYSQL_RES *res = query(s->cmp, sql.p, err, sizeof err);
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

/* The position of the snapshot that read the row with the key in img (an
 * image of e); NULL when it cannot be told. */
/* The key values of image img of e (from other where img lacks one). */
static int image_vals(struct snapshot *s, const struct stab *t, const struct change *e, const struct value *img,
                      const struct value *other, const struct value **vals)
{
  if (t->npk > KEY_PARTS_MAX || map_columns(s, t, e->table)) return -1;
  for (uint32_t j = 0; j < t->npk; j++) {
    const struct value *v = &img[s->fmap[j]];
    if (v->kind == VAL_ABSENT && other) v = &other[s->fmap[j]];
    vals[j] = v;
  }
  return 0;
}

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
    if (key_order(s, t, vals, e->arena.p, u, &c)) return NULL;
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
    if (pos_cmp(e->position.file, e->tx_pos, &g->pos) < 0) continue;
    if (g->after && (key_order(s, t, vals, e->arena.p, g->after, &c) || c <= 0)) continue;
    if (g->upto && (key_order(s, t, vals, e->arena.p, g->upto, &c) || c > 0)) continue;
    in = 1;
  }
  if (!in) return 0;
  if (!t->present_sorted) {
    if (t->npresent) qsort(t->present, t->npresent, sizeof *t->present, str_order);
    t->present_sorted = 1;
  }
  char *text = image_key(t, vals, e->arena.p);
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
  if (!s->m && connect_session(s, err, sizeof err)) {
    log_warn("cannot read the key of '%s.%s' for the handover: %s", t->schema, t->name, err);
    close_conn(s);
    return -1;
  }
  int rc = load_table(s, t, err, sizeof err);
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
        pos_cmp(e->position.file, e->end_pos, &s->maxpos) >= 0) {
      s->window_open = 0;
      close_conn(s);
      log_info("the stream passed %s:%" PRIu64 ", the last snapshot's position: the handover is complete",
               s->maxpos.file, s->maxpos.pos);
    }
    return 1;
  }
  if ((e->type != EVENT_INSERT && e->type != EVENT_UPDATE && e->type != EVENT_DELETE) || !e->table) return 1;
  if (pos_cmp(e->position.file, e->tx_pos, &s->maxpos) >= 0) {
    s->window_open = 0;
    close_conn(s);
    return 1;
  }
  struct stab *t = find_stab(s, e->table->schema, e->table->name);
  if (!t || !t->nsegs) return 1;
  if ((t->nsegs > 1 || t->nbands) && filter_table(s, t)) return 1;
  const struct position *pb = NULL, *pa = NULL;
  if (e->type != EVENT_INSERT) pb = seg_of(s, t, e, e->before, NULL);
  if (e->type != EVENT_DELETE) pa = seg_of(s, t, e, e->after, e->before);
  if ((e->type != EVENT_INSERT && !pb) || (e->type != EVENT_DELETE && !pa)) {
    log_warn("cannot tell which snapshot read a row of '%s.%s': its change is applied", t->schema, t->name);
    return 1;
  }
  int apply_b = pb && pos_cmp(e->position.file, e->tx_pos, pb) >= 0;
  int apply_a = pa && pos_cmp(e->position.file, e->tx_pos, pa) >= 0;
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

/* ---- progress ---- */

void snapshot_progress_get(struct snapshot *s, struct snapshot_progress *out)
{
  pthread_mutex_lock(&s->lock);
  memset(out, 0, sizeof *out);
  out->ntables = s->ntabs;
  out->current = s->current;
  if (s->prog && s->ntabs) {
    struct snapshot_table_progress *c = xcalloc(s->ntabs, sizeof *c);
    memcpy(c, s->prog, s->ntabs * sizeof *c);
    out->tables = c;
    for (size_t i = 0; i < s->ntabs; i++) {
      out->done += c[i].done;
      out->estimated += c[i].estimated;
    }
  }
  out->elapsed = s->t0 > 0 ? bh_mono() - s->t0 : 0;
  out->rate = out->elapsed > 0 ? (double)s->rows_run / out->elapsed : 0;
  out->finished = s->finished;
  out->eta = -1;
  pthread_mutex_unlock(&s->lock);
}

static void fmt_eta(double eta, char *b, size_t n)
{
  if (eta < 0)
    snprintf(b, n, "?");
  else if (eta < 60)
    snprintf(b, n, "%.0fs", eta);
  else if (eta < 3600)
    snprintf(b, n, "%.0fm%02.0fs", floor(eta / 60), fmod(eta, 60));
  else
    snprintf(b, n, "%.0fh%02.0fm", floor(eta / 3600), floor(fmod(eta, 3600) / 60));
}

/* The bar is on the last line of a terminal: a message starts below it. */
static int bar_drawn;

static void bar_break(void)
{
  if (!bar_drawn) return;
  fputc('\n', stderr);
  bar_drawn = 0;
}

void snapshot_progress_print(const struct snapshot_progress *p)
{
  static double last_log;
  static size_t last_table = SIZE_MAX;
  static int was_tty = -1;
  if (was_tty < 0) was_tty = isatty(2);
  size_t i = p->current < p->ntables ? p->current : p->ntables ? p->ntables - 1 : 0;
  if (!p->ntables) return;
  const struct snapshot_table_progress *t = &p->tables[i];
  double pct = t->estimated ? 100.0 * (double)t->done / (double)t->estimated : t->finished ? 100 : 0;
  if (pct > 100 || t->finished) pct = t->finished ? 100 : 99;
  char eta[32];
  fmt_eta(t->eta, eta, sizeof eta);
  if (was_tty) {
    if (t->finished && last_table == i + p->ntables) return; /* its last line is there */
    char bar[31];
    int filled = (int)(pct * 30 / 100);
    for (int k = 0; k < 30; k++)
      bar[k] = k < filled ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr,
            "\r\033[Ksnapshot %s.%s [%s] %3.0f%% %" PRIu64 "/~%" PRIu64
            " rows %.0f rows/s ETA %s (table %zu of %zu)",
            t->schema, t->name, bar, pct, t->done, t->estimated, t->rate, eta, i + 1, p->ntables);
    bar_drawn = 1;
    last_table = i;
    if (t->finished) {
      bar_break();
      last_table = i + p->ntables;
    }
    fflush(stderr);
    return;
  }
  double now = bh_mono();
  if (!p->finished && !t->finished && now - last_log < 5 && last_table == i) return;
  if (t->finished && last_table == i + p->ntables) return; /* said already */
  last_log = now;
  last_table = t->finished ? i + p->ntables : i;
  log_info("snapshot of '%s.%s' (table %zu of %zu): %" PRIu64 " of about %" PRIu64
           " rows (%.0f%%), %.0f rows/s, ETA %s%s",
           t->schema, t->name, i + 1, p->ntables, t->done, t->estimated, pct, t->rate, eta,
           t->finished ? ", finished" : "");
}
