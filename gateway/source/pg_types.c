/* pg_types.c - see pg_types.h. */
#include "source/pg_types.h"
#include "source/binlog.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How the text of a type is read. */
enum read_as {
  AS_TEXT,
  AS_INT,
  AS_UINT,
  AS_NUMERIC,
  AS_FLOAT4,
  AS_FLOAT8,
  AS_BOOL,
  AS_BYTEA,
  AS_JSON,
  AS_TIMESTAMP,
  AS_TIMESTAMPTZ,
};

static enum read_as read_as(uint32_t oid)
{
  switch (oid) {
  case PG_INT2:
  case PG_INT4:
  case PG_INT8: return AS_INT;
  case PG_OID: return AS_UINT;
  case PG_NUMERIC: return AS_NUMERIC;
  case PG_FLOAT4: return AS_FLOAT4;
  case PG_FLOAT8: return AS_FLOAT8;
  case PG_BOOL: return AS_BOOL;
  case PG_BYTEA: return AS_BYTEA;
  case PG_JSON:
  case PG_JSONB: return AS_JSON;
  case PG_TIMESTAMP: return AS_TIMESTAMP;
  case PG_TIMESTAMPTZ: return AS_TIMESTAMPTZ;
  default: return AS_TEXT;
  }
}

/* Built-in array types and their elements (pg_type.dat: typarray). */
static const uint32_t array_types[][2] = {
    {1000, PG_BOOL},
    {1001, PG_BYTEA},
    {1002, 18},
    {1003, 19},
    {1005, PG_INT2},
    {1007, PG_INT4},
    {1016, PG_INT8},
    {1028, PG_OID},
    {1009, PG_TEXT},
    {1014, 1042},
    {1015, 1043},
    {1021, PG_FLOAT4},
    {1022, PG_FLOAT8},
    {1231, PG_NUMERIC},
    {1182, PG_DATE},
    {1115, PG_TIMESTAMP},
    {1185, PG_TIMESTAMPTZ},
    {1183, PG_TIME},
    {1270, 1266},
    {1187, PG_INTERVAL},
    {2951, 2950},
    {199, PG_JSON},
    {3807, PG_JSONB},
    {1041, 869},
    {651, 650},
    {1040, 829},
    {791, 790},
    {1561, 1560},
    {1563, 1562},
    {143, 142},
};

uint32_t pg_array_elem(uint32_t oid)
{
  for (size_t i = 0; i < sizeof array_types / sizeof array_types[0]; i++)
    if (array_types[i][0] == oid) return array_types[i][1];
  return 0;
}

uint8_t pg_mysql_type(uint32_t oid, uint32_t elem)
{
  if (elem) return MT_JSON;
  switch (oid) {
  case PG_INT2: return MT_SHORT;
  case PG_INT4: return MT_LONG;
  case PG_INT8:
  case PG_OID: return MT_LONGLONG;
  case PG_NUMERIC: return MT_NEWDECIMAL;
  case PG_FLOAT4: return MT_FLOAT;
  case PG_FLOAT8: return MT_DOUBLE;
  case PG_BYTEA: return MT_BLOB;
  case PG_BOOL: /* true and false are JSON values */
  case PG_JSON:
  case PG_JSONB: return MT_JSON;
  case PG_DATE: return MT_DATE;
  case PG_TIME: return MT_TIME2;
  case PG_TIMESTAMP: return MT_DATETIME2;
  case PG_TIMESTAMPTZ: return MT_TIMESTAMP2;
  default: return MT_VARCHAR;
  }
}

void pg_json_compact(const char *s, size_t n, struct buf *out)
{
  size_t i = 0;
  while (i < n) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
      continue;
    }
    if (c != '"') {
      buf_addc(out, c);
      i++;
      continue;
    }
    size_t start = i++; /* a string, copied as it is */
    while (i < n && s[i] != '"')
      i += s[i] == '\\' ? 2 : 1;
    if (i < n) i++;
    if (i > n) i = n;
    buf_add(out, s + start, i - start);
  }
}

/* An integer's text: digits with an optional sign, nothing else. */
static int parse_int(const char *s, size_t n, int is_unsigned, struct value *v)
{
  char tmp[32], *end;
  if (!n || n >= sizeof tmp) return -1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  errno = 0;
  if (is_unsigned) {
    v->kind = VAL_UINT;
    v->u = strtoull(tmp, &end, 10);
  } else {
    v->kind = VAL_INT;
    v->i = strtoll(tmp, &end, 10);
  }
  return errno || *end ? -1 : 0;
}

/* A float's text; a float4 is read as a float, so that it prints back as
 * the same shortest text. */
static int parse_float(const char *s, size_t n, int is_float, double *d)
{
  char tmp[512], *end;
  if (!n || n >= sizeof tmp) return -1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  *d = is_float ? (double)strtof(tmp, &end) : strtod(tmp, &end);
  return *end ? -1 : 0;
}

/* bytea's hex output, "\x0a1b...", into raw bytes. */
static int unhex_bytea(const char *s, size_t n, struct buf *out)
{
  if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2) return -1;
  for (size_t i = 2; i < n; i += 2) {
    int hi = bh_hexval((unsigned char)s[i]), lo = bh_hexval((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    buf_addc(out, (char)(hi << 4 | lo));
  }
  return 0;
}

/* A timestamp's text with its date and time joined by 'T' and, for
 * timestamptz (printed in UTC), the "+00" offset written as 'Z':
 * "2024-01-02 03:04:05.5+00" -> "2024-01-02T03:04:05.5Z". infinity and
 * -infinity stay as they are. */
static void put_timestamp(const char *s, size_t n, int tz, struct buf *out)
{
  const char *sp = memchr(s, ' ', n);
  if (!sp) {
    buf_add(out, s, n);
    return;
  }
  size_t date = (size_t)(sp - s);
  buf_add(out, s, date);
  buf_addc(out, 'T');
  const char *t = sp + 1, *end = s + n;
  const char *bc = n > 3 && !memcmp(end - 3, " BC", 3) ? end - 3 : NULL;
  const char *tend = bc ? bc : end;
  if (tz && tend - t >= 3 && !memcmp(tend - 3, "+00", 3)) {
    buf_add(out, t, (size_t)(tend - 3 - t));
    buf_addc(out, 'Z');
  } else {
    buf_add(out, t, (size_t)(tend - t));
  }
  if (bc) buf_add(out, bc, 3);
}

/* Appends the text of a string-valued type as binhook prints it. */
static void put_text(enum read_as as, const char *s, size_t n, struct buf *out)
{
  if (as == AS_TIMESTAMP || as == AS_TIMESTAMPTZ)
    put_timestamp(s, n, as == AS_TIMESTAMPTZ, out);
  else
    buf_add(out, s, n);
}

/* Adds n bytes of s to the arena as the text of v (kind already set). */
static void to_arena(struct value *v, struct buf *arena, const char *s, size_t n)
{
  v->off = arena->len;
  v->len = (uint32_t)n;
  buf_add(arena, s, n);
}

/* The text of a float that JSON cannot hold as a number (NaN, Infinity). */
static int non_finite(double d)
{
  return isnan(d) || isinf(d);
}

static int scalar_value(enum read_as as, const char *s, size_t n, struct value *v, struct buf *arena)
{
  size_t start = arena->len;
  switch (as) {
  case AS_INT: return parse_int(s, n, 0, v);
  case AS_UINT: return parse_int(s, n, 1, v);
  case AS_NUMERIC:
    v->kind = VAL_DECIMAL;
    to_arena(v, arena, s, n);
    return 0;
  case AS_FLOAT4:
  case AS_FLOAT8:
    if (parse_float(s, n, as == AS_FLOAT4, &v->d)) return -1;
    if (non_finite(v->d)) {
      v->kind = VAL_STRING;
      to_arena(v, arena, s, n);
    } else {
      v->kind = as == AS_FLOAT4 ? VAL_FLOAT : VAL_DOUBLE;
    }
    return 0;
  case AS_BOOL:
    if (n != 1 || (s[0] != 't' && s[0] != 'f')) return -1;
    v->kind = VAL_JSON;
    if (s[0] == 't')
      to_arena(v, arena, "true", 4);
    else
      to_arena(v, arena, "false", 5);
    return 0;
  case AS_BYTEA:
    v->kind = VAL_BYTES;
    if (unhex_bytea(s, n, arena)) return -1;
    break;
  case AS_JSON:
    v->kind = VAL_JSON;
    pg_json_compact(s, n, arena);
    break;
  case AS_TEXT:
  case AS_TIMESTAMP:
  case AS_TIMESTAMPTZ:
    v->kind = VAL_STRING;
    put_text(as, s, n, arena);
    break;
  }
  v->off = start;
  v->len = (uint32_t)(arena->len - start);
  return 0;
}

/* Appends an array element's JSON: the same mapping as a column's value. */
static int elem_json(enum read_as as, const char *s, size_t n, struct buf *out)
{
  struct value v;
  double d;
  switch (as) {
  case AS_INT:
  case AS_UINT:
    if (parse_int(s, n, as == AS_UINT, &v)) return -1;
    buf_add(out, s, n);
    return 0;
  case AS_FLOAT4:
  case AS_FLOAT8:
    if (parse_float(s, n, as == AS_FLOAT4, &d)) return -1;
    if (non_finite(d))
      buf_add_json_str(out, s, n);
    else
      buf_add_double(out, d, as == AS_FLOAT4);
    return 0;
  case AS_BOOL:
    if (n != 1 || (s[0] != 't' && s[0] != 'f')) return -1;
    buf_adds(out, s[0] == 't' ? "true" : "false");
    return 0;
  case AS_BYTEA: {
    struct buf raw = BUF_INIT;
    int rc = unhex_bytea(s, n, &raw);
    if (!rc) {
      buf_addc(out, '"');
      buf_add_base64(out, raw.p, raw.len);
      buf_addc(out, '"');
    }
    buf_free(&raw);
    return rc;
  }
  case AS_JSON: pg_json_compact(s, n, out); return 0;
  case AS_NUMERIC:
  case AS_TEXT:
  case AS_TIMESTAMP:
  case AS_TIMESTAMPTZ: {
    struct buf t = BUF_INIT;
    put_text(as, s, n, &t);
    buf_add_json_str(out, t.p ? t.p : "", t.len);
    buf_free(&t);
    return 0;
  }
  }
  return -1;
}

/* The reader of an array's text (array_out): "{1,NULL,"a \"b\""}", nested
 * braces for more dimensions, an optional "[0:2]=" before them. */
struct arr {
  const char *p, *end;
  enum read_as as;
  struct buf item; /* the element being read, unescaped */
};

static void skip_space(struct arr *a)
{
  while (a->p < a->end && (*a->p == ' ' || *a->p == '\t' || *a->p == '\n' || *a->p == '\r'))
    a->p++;
}

/* One element into out; at the delimiter or '}' after it. */
static int arr_elem(struct arr *a, struct buf *out)
{
  buf_reset(&a->item);
  if (*a->p == '"') {
    a->p++;
    while (a->p < a->end && *a->p != '"') {
      if (*a->p == '\\' && a->p + 1 < a->end) a->p++;
      buf_addc(&a->item, *a->p++);
    }
    if (a->p >= a->end) return -1;
    a->p++;
    return elem_json(a->as, a->item.p ? a->item.p : "", a->item.len, out);
  }
  int escaped = 0;
  while (a->p < a->end && *a->p != ',' && *a->p != '}') {
    if (*a->p == '\\' && a->p + 1 < a->end) a->p++, escaped = 1;
    buf_addc(&a->item, *a->p++);
  }
  while (a->item.len && (a->item.p[a->item.len - 1] == ' ' || a->item.p[a->item.len - 1] == '\t'))
    a->item.len--;
  if (!a->item.len) return -1;
  if (!escaped && a->item.len == 4 && !strncasecmp(a->item.p, "NULL", 4)) {
    buf_addlit(out, "null");
    return 0;
  }
  return elem_json(a->as, a->item.p, a->item.len, out);
}

static int arr_list(struct arr *a, struct buf *out, int depth)
{
  if (depth > 6 || a->p >= a->end || *a->p != '{') return -1; /* PostgreSQL has at most 6 dimensions */
  a->p++;
  buf_addc(out, '[');
  skip_space(a);
  if (a->p < a->end && *a->p == '}') {
    a->p++;
    buf_addc(out, ']');
    return 0;
  }
  for (int first = 1;; first = 0) {
    skip_space(a);
    if (a->p >= a->end) return -1;
    if (!first) buf_addc(out, ',');
    int rc = *a->p == '{' ? arr_list(a, out, depth + 1) : arr_elem(a, out);
    if (rc) return -1;
    skip_space(a);
    if (a->p >= a->end) return -1;
    if (*a->p++ == '}') break;
    if (a->p[-1] != ',') return -1;
  }
  buf_addc(out, ']');
  return 0;
}

static int array_value(uint32_t elem, const char *s, size_t n, struct value *v, struct buf *arena)
{
  struct arr a = {.p = s, .end = s + n, .as = read_as(elem), .item = BUF_INIT};
  if (n && s[0] == '[') { /* bounds other than 1: the JSON array has the elements only */
    const char *eq = memchr(s, '=', n);
    if (!eq) return -1;
    a.p = eq + 1;
  }
  size_t start = arena->len;
  int rc = arr_list(&a, arena, 1);
  buf_free(&a.item);
  if (rc || a.p != a.end) return -1;
  v->kind = VAL_JSON;
  v->off = start;
  v->len = (uint32_t)(arena->len - start);
  return 0;
}

int pg_value_from_text(const struct pg_coltype *t, const char *s, size_t n, struct value *v,
                       struct buf *arena, char *err, size_t errsz)
{
  size_t mark = arena->len;
  int rc = t->elem ? array_value(t->elem, s, n, v, arena) : scalar_value(read_as(t->oid), s, n, v, arena);
  if (!rc) return 0;
  arena->len = mark;
  return bh_err(err, errsz, "a value of type %u is not what the server prints for it: '%.*s'", t->oid,
                n > 80 ? 80 : (int)n, s);
}
