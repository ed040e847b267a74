/* convert.c - column types and values. Rows come through the binary
 * protocol (prepared statements), which gives FLOAT and DOUBLE bit for bit
 * and temporal values as fields; each value is then put in the form the
 * binlog decoder gives for the same column (coldec.c): a snapshot row and
 * the INSERT of the same row print the same JSON.
 *
 * Runs in the snapshot thread (and for the filter's table columns on the
 * consumer's thread); no shared state. */
#include "snapshot/snapshot_int.h"
#include "source/binlog.h"
#include "source/charset.h"
#include "source/coldec.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type family of an information_schema DATA_TYPE: how it is fetched and
 * the binlog type code its values would have. */
enum fk conv_classify(const char *dt, uint8_t *mt, unsigned *cast_len)
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
char **conv_labels(const char *ct, uint32_t *n)
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
int conv_cell(struct charset_conv *cs, const struct scol *c, const MYSQL_FIELD *f, const struct cell *x,
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
    if (f->charsetnr == CHARSET_BINARY || charset_kind_of(cs, (uint16_t)f->charsetnr) == CS_BINARY) {
      buf_add(arena, x->data, x->len);
      set_text(v, VAL_BYTES, arena, start);
    } else {
      charset_to_utf8(cs, (uint16_t)f->charsetnr, x->data, x->len, arena);
      set_text(v, VAL_STRING, arena, start);
    }
    return 0;
  }
  return bh_err(err, errsz, "column '%s' has a type binhook cannot read", c->name);
}

/* Binds the result columns to t's cells: numbers and temporal values as
 * fields, the rest as bytes. */
void conv_bind(struct stab *t, const MYSQL_FIELD *fields)
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
