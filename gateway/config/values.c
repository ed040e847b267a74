/* values.c - the readers of the values a spec row can hold (see spec.h):
 * each checks the TOML value's type, its bounds or its words, reports what
 * is wrong at the value's position, and converts it into the row's field.
 * Texts (templates, expressions) keep where their characters are in the
 * file, so that rules.c can point into them. */
#include "config/spec.h"

#include "util/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- freeing ---- */

void spec_text_free(struct config_text *t)
{
  free(t->s);
  free(t->cols);
  t->s = NULL;
  t->cols = NULL;
  t->ncols = 0;
}

void spec_headers_free(struct config_header *h, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(h[i].name);
    spec_text_free(&h[i].value);
  }
  free(h);
}

/* ---- durations and sizes ---- */

int config_parse_duration(const char *s, double *seconds)
{
  double total = 0;
  if (!s || !*s) return -1;
  while (*s) {
    if (*s < '0' || *s > '9') return -1;
    double v = 0;
    while (*s >= '0' && *s <= '9')
      v = v * 10 + (*s++ - '0');
    if (*s == '.') {
      double scale = 0.1;
      s++;
      if (*s < '0' || *s > '9') return -1;
      while (*s >= '0' && *s <= '9')
        v += (*s++ - '0') * scale, scale /= 10;
    }
    double unit;
    if (s[0] == 'm' && s[1] == 's')
      unit = 0.001, s += 2;
    else if (*s == 's')
      unit = 1, s++;
    else if (*s == 'm')
      unit = 60, s++;
    else if (*s == 'h')
      unit = 3600, s++;
    else if (*s == 'd')
      unit = 86400, s++;
    else
      return -1;
    total += v * unit;
  }
  if (!isfinite(total)) return -1;
  *seconds = total;
  return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
  static const struct {
    const char *unit;
    double mult;
  } units[] = {{"", 1},     {"B", 1},        {"kB", 1e3},        {"KB", 1e3},          {"MB", 1e6},
               {"GB", 1e9}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
  if (!s || *s < '0' || *s > '9') return -1;
  char *end;
  double v = strtod(s, &end);
  while (*end == ' ')
    end++;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit)) continue;
    double b = v * units[i].mult;
    if (!(b >= 0 && b <= 9007199254740992.0)) return -1;
    *bytes = (uint64_t)b;
    return 0;
  }
  return -1;
}

/* A size for messages, in the largest binary unit that holds it whole
 * ("4KiB", "64GiB"). */
static const char *size_text(uint64_t b, char *buf, size_t size)
{
  static const char *const units[] = {"PiB", "TiB", "GiB", "MiB", "KiB"};
  for (int i = 0; i < 5; i++) {
    uint64_t u = 1ull << (10 * (5 - i));
    if (b >= u && b % u == 0) {
      snprintf(buf, size, "%" PRIu64 "%s", b / u, units[i]);
      return buf;
    }
  }
  snprintf(buf, size, "%" PRIu64, b);
  return buf;
}

/* ---- strings ---- */

const char *spec_get_string(struct loader *l, const struct toml_key *k, const char *sect, int nonempty)
{
  char w[300];
  const struct toml_value *v = k->value;
  if (v->type != TOML_STRING) {
    spec_type_error(l, k, sect, "a string");
    return NULL;
  }
  if (strlen(v->u.str.ptr) != v->u.str.len) {
    spec_error(l, v->line, v->col, "%s must not contain NUL characters", spec_where(w, sizeof w, k, sect));
    return NULL;
  }
  if (nonempty && !v->u.str.len) {
    spec_error(l, v->line, v->col, "%s must not be empty", spec_where(w, sizeof w, k, sect));
    return NULL;
  }
  return v->u.str.ptr;
}

/* Runs row's check on s; 0, or -1 after reporting at k's value. */
static int check(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                 const char *s)
{
  char w[300], err[1024];
  if (!row->check || !row->check(s, err, sizeof err)) return 0;
  spec_error(l, k->value->line, k->value->col, "%s: %s", spec_where(w, sizeof w, k, sect), err);
  return -1;
}

/* Moves p to the start of line:col of the file's text (columns count
 * characters). */
static const char *text_at(const struct loader *l, int line, int col)
{
  const char *p = l->text, *end = l->text + l->textlen;
  for (int ln = 1; ln < line && p < end; p++)
    if (*p == '\n') ln++;
  for (int c = 1; c < col && p < end; c++)
    do
      p++;
    while (p < end && ((unsigned char)*p & 0xc0) == 0x80);
  return p;
}

/* Where the contents of string value v start: after its opening quotes (and
 * the newline a multi-line string trims), so that messages about a position
 * inside an expression or a template point at the right character. */
static void text_start(const struct loader *l, const struct toml_value *v, int *line, int *col)
{
  *line = v->line;
  *col = v->col + 1;
  const char *p = text_at(l, v->line, v->col), *end = l->text + l->textlen;
  if (end - p >= 3 && (!strncmp(p, "\"\"\"", 3) || !strncmp(p, "'''", 3))) {
    p += 3;
    *col = v->col + 3;
    if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) *line += 1, *col = 1;
  }
}

/* For a one-line "..." string with escapes: the file column of each of its
 * characters (see struct config_text). */
static void map_columns(const struct loader *l, const struct toml_value *v, struct config_text *t)
{
  const char *p = text_at(l, v->line, v->col), *end = l->text + l->textlen;
  if (p >= end || *p != '"' || (end - p >= 3 && !strncmp(p, "\"\"\"", 3))) return;
  const char *q = p + 1;
  int col = v->col + 1, escaped = 0;
  size_t n = 0, cap = 64;
  int *cols = xmalloc(cap * sizeof *cols);
  while (q < end && *q != '"' && *q != '\n') {
    if (n + 1 >= cap) cols = xrealloc(cols, (cap *= 2) * sizeof *cols);
    cols[n++] = col;
    if (*q == '\\') { /* an escape: ASCII, one column per byte */
      escaped = 1;
      size_t len = q + 1 < end && q[1] == 'u' ? 6 : q + 1 < end && q[1] == 'U' ? 10 : 2;
      q += len;
      col += (int)len;
    } else { /* one character, one column */
      q++;
      while (q < end && ((unsigned char)*q & 0xc0) == 0x80)
        q++;
      col++;
    }
  }
  cols[n++] = col;
  if (!escaped) {
    free(cols);
    return;
  }
  t->cols = cols;
  t->ncols = n;
}

int config_text_col(const struct config_text *t, int line, int col)
{
  if (!t->cols || line != t->line || col < t->col || (size_t)(col - t->col) >= t->ncols) return col;
  return t->cols[col - t->col];
}

int spec_get_text(struct loader *l, const struct toml_key *k, const char *sect, int nonempty,
                  struct config_text *t)
{
  const char *s = spec_get_string(l, k, sect, nonempty);
  if (!s) return -1;
  spec_text_free(t);
  t->s = xstrdup(s);
  t->file = l->file;
  text_start(l, k->value, &t->line, &t->col);
  map_columns(l, k->value, t);
  return 0;
}

/* The items of k's value when it is an array, or the value itself as the
 * only item when it is a string (a list of one may be written bare); NULL
 * for any other type. */
static const struct toml_value *const *string_items(const struct toml_key *k, size_t *n)
{
  if (k->value->type == TOML_ARRAY) {
    *n = k->value->u.array.len;
    /* an empty array is a list too (of no items) */
    return *n ? (const struct toml_value *const *)k->value->u.array.items
              : (const struct toml_value *const *)&k->value;
  }
  *n = 1;
  return k->value->type == TOML_STRING ? (const struct toml_value *const *)&k->value : NULL;
}

char **spec_get_strings(struct loader *l, const struct toml_key *k, const char *sect, const char *what)
{
  char w[300];
  size_t n;
  const struct toml_value *const *items = string_items(k, &n);
  if (!items) {
    spec_type_error(l, k, sect, what);
    return NULL;
  }
  char **vec = xcalloc(n + 1, sizeof *vec);
  size_t j = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const struct toml_value *it = items[i];
    if (it->type != TOML_STRING || strlen(it->u.str.ptr) != it->u.str.len || !it->u.str.len) {
      spec_error(l, it->line, it->col, "%s must be %s; this item is %s", spec_where(w, sizeof w, k, sect),
                 what,
                 it->type != TOML_STRING ? toml_type_article(it->type)
                 : it->u.str.len         ? "a string with NUL characters"
                                         : "an empty string");
      bad = 1;
      continue;
    }
    vec[j++] = xstrdup(it->u.str.ptr);
  }
  if (bad) {
    bh_strv_free(vec);
    return NULL;
  }
  return vec;
}

/* SPEC_STRINGS: the list, each item checked; an empty one refused when the
 * row says so. */
static int read_strings(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, char ***field)
{
  char w[300];
  char **vec = spec_get_strings(l, k, sect, row->what);
  if (!vec) return -1;
  int bad = 0;
  for (char **p = vec; *p; p++)
    bad |= check(l, row, k, sect, *p);
  if (!vec[0] && row->empty) {
    spec_error(l, k->value->line, k->value->col, "%s is empty%s%s", spec_where(w, sizeof w, k, sect),
               *row->empty ? ": " : "", row->empty);
    bad = 1;
  }
  if (bad) {
    bh_strv_free(vec);
    return -1;
  }
  bh_strv_free(*field);
  *field = vec;
  return 0;
}

/* SPEC_GLOBS: "schema.table" patterns; NULL for an empty list. */
static int read_globs(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                      const char *sect, char ***field)
{
  char w[300];
  size_t n;
  const struct toml_value *const *items = string_items(k, &n);
  if (!items) {
    spec_type_error(l, k, sect, "an array of \"schema.table\" patterns");
    return -1;
  }
  char **vec = xcalloc(n + 1, sizeof *vec);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const struct toml_value *it = items[i];
    if (it->type != TOML_STRING) {
      spec_error(l, it->line, it->col, "%s must hold \"schema.table\" patterns (strings), not %s",
                 spec_where(w, sizeof w, k, sect), toml_type_article(it->type));
      bad = 1;
      continue;
    }
    const char *s = it->u.str.ptr;
    const char *dot = strchr(s, '.');
    if (strlen(s) != it->u.str.len || !dot || dot == s || !dot[1]) {
      if (!dot && *s && strlen(s) == it->u.str.len)
        spec_error(l, it->line, it->col,
                   "%s: '%s' is not a \"schema.table\" pattern (for every table of '%s', write '%s.*')",
                   spec_where(w, sizeof w, k, sect), s, s, s);
      else
        spec_error(l, it->line, it->col,
                   "%s: '%s' is not a \"schema.table\" pattern (such as \"shop.orders\" or \"shop.*\")",
                   spec_where(w, sizeof w, k, sect), s);
      bad = 1;
      continue;
    }
    vec[i] = xstrdup(s);
  }
  if (!bad && !n && row->empty) {
    spec_error(l, k->value->line, k->value->col, "%s is empty: %s", spec_where(w, sizeof w, k, sect),
               row->empty);
    bad = 1;
  }
  if (bad) {
    for (size_t i = 0; i < n; i++)
      free(vec[i]);
    free(vec);
    return -1;
  }
  if (!n) {
    free(vec);
    vec = NULL;
  }
  bh_strv_free(*field);
  *field = vec;
  return 0;
}

int spec_get_headers(struct loader *l, const struct toml_key *k, const char *sect, struct config_header **out,
                     size_t *nout)
{
  char w[300];
  const struct toml_value *v = k->value;
  if (v->type != TOML_TABLE) {
    spec_type_error(l, k, sect, "a table of header names and values ({ \"X-Name\" = \"value\" })");
    return -1;
  }
  struct config_header *h = xcalloc(v->u.table.len + 1, sizeof *h);
  size_t n = 0;
  int bad = 0;
  for (size_t i = 0; i < v->u.table.len; i++) {
    const struct toml_key *hk = &v->u.table.entries[i];
    size_t tok =
        strspn(hk->key, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (!hk->keylen || tok != hk->keylen) {
      spec_error(l, hk->line, hk->col, "%s: '%s' is not a valid HTTP header name",
                 spec_where(w, sizeof w, k, sect), hk->key);
      bad = 1;
      continue;
    }
    if (spec_get_text(l, hk, sect, 0, &h[n].value)) {
      bad = 1;
      continue;
    }
    h[n++].name = xstrdup(hk->key);
  }
  if (bad) {
    spec_headers_free(h, n);
    return -1;
  }
  spec_headers_free(*out, *nout);
  *out = h;
  *nout = n;
  return 0;
}

/* ---- numbers ---- */

static void store(void *field, enum spec_store st, int64_t v)
{
  switch (st) {
  case SPEC_UNSIGNED: *(unsigned *)field = (unsigned)v; break;
  case SPEC_SIZE_T: *(size_t *)field = (size_t)v; break;
  case SPEC_U64: *(uint64_t *)field = (uint64_t)v; break;
  case SPEC_I64: *(int64_t *)field = v; break;
  case SPEC_DOUBLE: *(double *)field = (double)v; break;
  }
}

/* SPEC_INTEGER */
static int read_integer(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, void *field)
{
  char w[300], want[100];
  const struct toml_value *v = k->value;
  snprintf(want, sizeof want, "an integer from %" PRId64 " to %" PRId64, row->min, row->max);
  if (v->type != TOML_INTEGER) {
    spec_type_error(l, k, sect, want);
    return -1;
  }
  if (v->u.integer < row->min || v->u.integer > row->max) {
    spec_error(l, v->line, v->col, "%s must be from %" PRId64 " to %" PRId64 ", not %" PRId64,
               spec_where(w, sizeof w, k, sect), row->min, row->max, v->u.integer);
    return -1;
  }
  store(field, row->store, v->u.integer);
  return 0;
}

int spec_get_duration(struct loader *l, const struct toml_key *k, const char *sect, double min, double max,
                      double *out)
{
  char w[300];
  const struct toml_value *v = k->value;
  double d;
  if (v->type == TOML_STRING) {
    if (config_parse_duration(v->u.str.ptr, &d) || strlen(v->u.str.ptr) != v->u.str.len) {
      spec_error(l, v->line, v->col,
                 "%s: '%s' is not a duration (write it like \"500ms\", \"15s\", \"5m\", \"2h\" or \"1d\")",
                 spec_where(w, sizeof w, k, sect), v->u.str.ptr);
      return -1;
    }
  } else if (v->type == TOML_INTEGER) {
    d = (double)v->u.integer;
  } else if (v->type == TOML_FLOAT && isfinite(v->u.flt)) {
    d = v->u.flt;
  } else {
    spec_type_error(l, k, sect, "a duration such as \"15s\" or a number of seconds");
    return -1;
  }
  if (d < min || d > max) {
    spec_error(l, v->line, v->col, "%s must be from %gs to %gs, not %gs", spec_where(w, sizeof w, k, sect),
               min, max, d);
    return -1;
  }
  *out = d;
  return 0;
}

/* SPEC_SIZE: a number of bytes or a string such as "64MiB". */
static int read_size(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                     void *field)
{
  char w[300], lo[32], hi[32];
  const struct toml_value *v = k->value;
  uint64_t b;
  if (v->type == TOML_INTEGER && v->u.integer >= 0) {
    b = (uint64_t)v->u.integer;
  } else if (v->type != TOML_STRING || config_parse_size(v->u.str.ptr, &b)) {
    spec_error(l, v->line, v->col, "%s must be a size such as \"64MiB\", \"500MB\" or a number of bytes",
               spec_where(w, sizeof w, k, sect));
    return -1;
  }
  if (b < (uint64_t)row->min || b > (uint64_t)row->max) {
    spec_error(l, v->line, v->col, "%s must be from %s to %s", spec_where(w, sizeof w, k, sect),
               size_text((uint64_t)row->min, lo, sizeof lo), size_text((uint64_t)row->max, hi, sizeof hi));
    return -1;
  }
  store(field, row->store, (int64_t)b);
  return 0;
}

/* ---- words ---- */

/* 1 when n is an alias: an earlier name of e has its value. */
static int is_alias(const struct spec_enum *e, const struct spec_name *n)
{
  for (const struct spec_name *p = e->names; p < n; p++)
    if (p->value == n->value) return 1;
  return 0;
}

/* The names of e, aliases left out, NULL-terminated, into names; the list
 * for messages ("a, b or c" with or_last, else "a, b, c") into list. */
static void enum_names(const struct spec_enum *e, const char *names[SPEC_MAX_KEYS + 1], int or_last,
                       char *list, size_t size)
{
  size_t n = 0, len = 0;
  for (const struct spec_name *p = e->names; p->name && n < SPEC_MAX_KEYS; p++)
    if (!is_alias(e, p)) names[n++] = p->name;
  names[n] = NULL;
  list[0] = 0;
  for (size_t i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(list + len, size - len, "%s%s",
                            !i                      ? ""
                            : or_last && i == n - 1 ? " or "
                                                    : ", ",
                            names[i]);
}

static const struct spec_name *enum_find(const struct spec_enum *e, const char *s)
{
  for (const struct spec_name *p = e->names; p->name; p++)
    if (!strcmp(p->name, s)) return p;
  return NULL;
}

/* SPEC_ENUM */
static int read_enum(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                     int *field)
{
  char w[300], list[300];
  const char *names[SPEC_MAX_KEYS + 1];
  const char *s = spec_get_string(l, k, sect, 1);
  if (!s) return -1;
  const struct spec_name *n = enum_find(row->names, s);
  if (n) {
    *field = n->value;
    return 0;
  }
  enum_names(row->names, names, 1, list, sizeof list);
  const char *near = bh_nearest(s, names);
  spec_error(l, k->value->line, k->value->col, "%s: unknown %s '%s'%s%s%s (use %s)",
             spec_where(w, sizeof w, k, sect), row->names->what, s, near ? "; did you mean '" : "",
             near ? near : "", near ? "'?" : "", list);
  return -1;
}

/* SPEC_MASK: a word or a list of them. */
static int read_mask(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                     unsigned *field)
{
  char w[300], list[300];
  const char *names[SPEC_MAX_KEYS + 1];
  enum_names(row->names, names, 0, list, sizeof list);
  char **vec = spec_get_strings(l, k, sect, row->names->what);
  if (!vec) return -1;
  unsigned mask = 0;
  int bad = 0;
  for (char **p = vec; *p; p++) {
    const struct spec_name *n = enum_find(row->names, *p);
    if (n) {
      mask |= (unsigned)n->value;
      continue;
    }
    const char *near = bh_nearest(*p, names);
    if (near)
      spec_error(l, k->value->line, k->value->col, "%s: unknown value '%s'; did you mean '%s'?",
                 spec_where(w, sizeof w, k, sect), *p, near);
    else
      spec_error(l, k->value->line, k->value->col, "%s: unknown value '%s' (use %s)",
                 spec_where(w, sizeof w, k, sect), *p, list);
    bad = 1;
  }
  if (!vec[0]) {
    spec_error(l, k->value->line, k->value->col, "%s is empty: leave it out for the default",
               spec_where(w, sizeof w, k, sect));
    bad = 1;
  }
  bh_strv_free(vec);
  if (bad) return -1;
  *field = mask;
  return 0;
}

/* ---- one value ---- */

/* SPEC_STRING, SPEC_PATH, SPEC_TEXT */
static int read_string(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                       const char *sect, void *field)
{
  int nonempty = !(row->flags & SPEC_EMPTY_OK);
  if (row->type == SPEC_TEXT) {
    struct config_text *t = field;
    if (spec_get_text(l, k, sect, nonempty, t)) return -1;
    if (!check(l, row, k, sect, t->s)) return 0;
    spec_text_free(t);
    return -1;
  }
  const char *s = spec_get_string(l, k, sect, nonempty);
  if (!s) return -1;
  char *value = row->type == SPEC_PATH ? spec_path(l->file, s) : xstrdup(s);
  if (check(l, row, k, sect, value)) {
    free(value);
    return -1;
  }
  free(*(char **)field);
  *(char **)field = value;
  return 0;
}

/* SPEC_SECRET: where the secret is, checked; the handler, if any, takes it. */
static int read_secret(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                       const char *sect, void *obj)
{
  if (row->from == SECRET_INLINE && (row->flags & SPEC_LIST)) {
    char **vec = spec_get_strings(l, k, sect, row->what);
    if (!vec) return -1;
    bh_strv_free(vec);
  } else {
    const char *s = spec_get_string(l, k, sect, 1);
    if (!s || check(l, row, k, sect, s)) return -1;
  }
  return row->read ? row->read(l, row, k, sect, obj) : 0;
}

int spec_read_value(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                    void *obj)
{
  void *field = (char *)obj + row->offset;
  switch (row->type) {
  case SPEC_STRING:
  case SPEC_PATH:
  case SPEC_TEXT: return read_string(l, row, k, sect, field);
  case SPEC_STRINGS: return read_strings(l, row, k, sect, field);
  case SPEC_GLOBS: return read_globs(l, row, k, sect, field);
  case SPEC_INTEGER: return read_integer(l, row, k, sect, field);
  case SPEC_DURATION: return spec_get_duration(l, k, sect, row->dmin, row->dmax, field);
  case SPEC_SIZE: return read_size(l, row, k, sect, field);
  case SPEC_BOOL:
    if (k->value->type != TOML_BOOLEAN) {
      spec_type_error(l, k, sect, "true or false");
      return -1;
    }
    *(int *)field = k->value->u.boolean;
    return 0;
  case SPEC_ENUM: return read_enum(l, row, k, sect, field);
  case SPEC_MASK: return read_mask(l, row, k, sect, field);
  case SPEC_SECRET: return read_secret(l, row, k, sect, obj);
  case SPEC_TABLE: {
    char want[64];
    if (k->value->type != TOML_TABLE) {
      snprintf(want, sizeof want, "a table ([%s])", row->name);
      spec_type_error(l, k, sect, want);
      return -1;
    }
    spec_read(l, row->section, row->name, k->value, field);
    return 0;
  }
  case SPEC_CUSTOM: return row->read(l, row, k, sect, obj);
  }
  return -1;
}
