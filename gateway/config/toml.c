/* toml.c - see toml.h. A recursive-descent parser written from the TOML 1.0.0
 * specification and its ABNF. Bytes enter through toml_parse, which first
 * checks that the whole text is valid UTF-8, so that the scanner afterwards
 * deals with ASCII syntax only and treats other characters as opaque. The tree
 * leaves through the returned root. Tables keep their entries in document
 * order and, once they grow past a few keys, a hash index beside them, so that
 * a big file costs linear time. */
#include "config/toml.h"
#include "util/buf.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nested tables and arrays: deep enough for any real document, shallow
 * enough that walking a tree recursively never exhausts the stack. */
#define MAX_DEPTH 200

/* Tables smaller than this are searched linearly. */
#define INDEX_MIN 8

enum {
  F_IMPLICIT = 1, /* table made as a parent by a [header]: may be defined later, once */
  F_EXPLICIT = 2, /* table defined by its own [header] or [[header]] */
  F_DOTTED = 4,   /* table made (or first defined) by a dotted key: open to dotted keys of its section only */
  F_INLINE = 8,   /* inline table: complete once written */
  F_AOT = 16,     /* array of tables made by [[header]]; other arrays are complete once written */
};

/* One part of a possibly dotted key, as written. */
struct keyseg {
  char *s;
  size_t len;
  int line, col;
};

struct keypath {
  struct keyseg *v;
  size_t n, cap;
};

struct parser {
  const char *s;
  size_t len, i; /* the text and the scanner's offset in it */
  int line, col; /* the scanner's position, 1-based */
  const char *file;
  char *err;
  size_t errsz;
  int failed;
  struct toml_value *root;
  struct toml_value *cur; /* the table keys go to: the last [header]'s, or the root */
  unsigned section;       /* identifies the current [header]'s run of key/value lines */
  unsigned next_section;
  struct buf cur_name; /* the last header's key, for messages */
};

/* ---- characters and positions ---- */

static int peek(const struct parser *p)
{
  return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static int peek_at(const struct parser *p, size_t k)
{
  return p->i + k < p->len ? (unsigned char)p->s[p->i + k] : -1;
}

static void adv(struct parser *p)
{
  unsigned char c = (unsigned char)p->s[p->i++];
  if (c == '\n') {
    p->line++;
    p->col = 1;
  } else if ((c & 0xc0) != 0x80) {
    p->col++;
  }
}

static void advn(struct parser *p, size_t n)
{
  while (n--)
    adv(p);
}

static int is_ctrl(int c)
{
  return (c >= 0 && c < 0x20) || c == 0x7f;
}

static int at_newline(const struct parser *p)
{
  int c = peek(p);
  return c == '\n' || (c == '\r' && peek_at(p, 1) == '\n');
}

static int is_bare(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int is_digit(int c)
{
  return c >= '0' && c <= '9';
}

/* Length of the valid UTF-8 sequence at s (n bytes available) and its code
 * point in *cp; 0 when the bytes are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
  unsigned c = s[0], min;
  size_t len;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (len > n) return 0;
  unsigned v = c & (0xffu >> (len + 1));
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[k] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

/* The character at the scanner, for messages. */
static const char *describe(const struct parser *p, char *out, size_t size)
{
  int c = peek(p);
  unsigned cp;
  if (c < 0) return "the end of the file";
  if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) return "the end of the line";
  if (c == '\r') return "a carriage return not followed by a line feed";
  if (c >= 0x20 && c < 0x7f) {
    snprintf(out, size, "'%c'", c);
  } else if (c < 0x80) {
    snprintf(out, size, "control character U+%04X", (unsigned)c);
  } else {
    size_t l = utf8_decode((const unsigned char *)p->s + p->i, p->len - p->i, &cp);
    snprintf(out, size, "'%.*s' (U+%04X)", (int)l, p->s + p->i, cp);
  }
  return out;
}

__attribute__((format(printf, 4, 5))) static int perr_at(struct parser *p, int line, int col, const char *fmt,
                                                         ...)
{
  char msg[768];
  va_list ap;
  if (p->failed) return -1;
  p->failed = 1;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->file)
    bh_err(p->err, p->errsz, "%s:%d:%d: %s", p->file, line, col, msg);
  else
    bh_err(p->err, p->errsz, "%d:%d: %s", line, col, msg);
  return -1;
}

#define perr(p, ...) perr_at((p), (p)->line, (p)->col, __VA_ARGS__)

/* Checks the whole text for valid UTF-8 up front. */
static int check_utf8(struct parser *p)
{
  const unsigned char *s = (const unsigned char *)p->s;
  int line = 1, col = 1;
  size_t i = 0;
  unsigned cp;
  while (i < p->len) {
    if (s[i] < 0x80) {
      if (s[i] == '\n') line++, col = 0;
      i++, col++;
      continue;
    }
    size_t l = utf8_decode(s + i, p->len - i, &cp);
    if (!l) return perr_at(p, line, col, "invalid UTF-8 byte 0x%02x (a TOML file must be UTF-8)", s[i]);
    i += l, col++;
  }
  return 0;
}

/* ---- values and tables ---- */

static struct toml_value *new_value(enum toml_type type, int line, int col)
{
  struct toml_value *v = xcalloc(1, sizeof *v);
  v->type = type;
  v->line = line;
  v->col = col;
  return v;
}

static void value_free(struct toml_value *v)
{
  if (!v) return;
  switch (v->type) {
  case TOML_TABLE:
    for (size_t i = 0; i < v->u.table.len; i++) {
      free(v->u.table.entries[i].key);
      value_free(v->u.table.entries[i].value);
    }
    free(v->u.table.entries);
    free(v->u.table.index_);
    break;
  case TOML_ARRAY:
    for (size_t i = 0; i < v->u.array.len; i++)
      value_free(v->u.array.items[i]);
    free(v->u.array.items);
    break;
  case TOML_STRING:
  case TOML_DATETIME:
  case TOML_DATETIME_LOCAL:
  case TOML_DATE_LOCAL:
  case TOML_TIME_LOCAL: free(v->u.str.ptr); break;
  default: break;
  }
  free(v);
}

void toml_free(struct toml_value *root)
{
  value_free(root);
}

static uint32_t key_hash(const char *s, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void index_put(struct toml_value *t, size_t entry)
{
  const struct toml_key *e = &t->u.table.entries[entry];
  size_t mask = t->u.table.nslots_ - 1;
  size_t h = key_hash(e->key, e->keylen) & mask;
  while (t->u.table.index_[h])
    h = (h + 1) & mask;
  t->u.table.index_[h] = (uint32_t)(entry + 1);
}

static void index_rebuild(struct toml_value *t, size_t nslots)
{
  free(t->u.table.index_);
  t->u.table.index_ = xcalloc(nslots, sizeof *t->u.table.index_);
  t->u.table.nslots_ = nslots;
  for (size_t i = 0; i < t->u.table.len; i++)
    index_put(t, i);
}

static struct toml_key *table_find(const struct toml_value *t, const char *k, size_t n)
{
  if (t->u.table.index_) {
    size_t mask = t->u.table.nslots_ - 1;
    size_t h = key_hash(k, n) & mask;
    uint32_t slot;
    while ((slot = t->u.table.index_[h])) {
      struct toml_key *e = &t->u.table.entries[slot - 1];
      if (e->keylen == n && !memcmp(e->key, k, n)) return e;
      h = (h + 1) & mask;
    }
    return NULL;
  }
  for (size_t i = 0; i < t->u.table.len; i++) {
    struct toml_key *e = &t->u.table.entries[i];
    if (e->keylen == n && !memcmp(e->key, k, n)) return e;
  }
  return NULL;
}

/* Adds key seg (a copy of it) with value v to table t. */
static void table_add(struct toml_value *t, const struct keyseg *seg, struct toml_value *v)
{
  if (t->u.table.len == t->u.table.cap_) {
    t->u.table.cap_ = t->u.table.cap_ ? t->u.table.cap_ * 2 : 4;
    t->u.table.entries = xrealloc(t->u.table.entries, t->u.table.cap_ * sizeof *t->u.table.entries);
  }
  size_t i = t->u.table.len++;
  t->u.table.entries[i] = (struct toml_key){xstrndup(seg->s, seg->len), seg->len, seg->line, seg->col, v};
  if (t->u.table.len <= INDEX_MIN) return;
  if (!t->u.table.index_ || t->u.table.len * 2 > t->u.table.nslots_)
    index_rebuild(t, t->u.table.nslots_ ? t->u.table.nslots_ * 2 : 32);
  else
    index_put(t, i);
}

static void array_push(struct toml_value *a, struct toml_value *v)
{
  if (a->u.array.len == a->u.array.cap_) {
    a->u.array.cap_ = a->u.array.cap_ ? a->u.array.cap_ * 2 : 4;
    a->u.array.items = xrealloc(a->u.array.items, a->u.array.cap_ * sizeof *a->u.array.items);
  }
  a->u.array.items[a->u.array.len++] = v;
}

/* A new table or array at depth, or NULL with an error when too deep. */
static struct toml_value *new_container(struct parser *p, enum toml_type type, int depth, int line, int col)
{
  if (depth > MAX_DEPTH) {
    perr_at(p, line, col, "tables and arrays nested more than %d levels deep", MAX_DEPTH);
    return NULL;
  }
  struct toml_value *v = new_value(type, line, col);
  v->depth_ = depth;
  return v;
}

static const char *a_type_name(enum toml_type t)
{
  switch (t) {
  case TOML_TABLE: return "a table";
  case TOML_ARRAY: return "an array";
  case TOML_STRING: return "a string";
  case TOML_INTEGER: return "an integer";
  case TOML_FLOAT: return "a float";
  case TOML_BOOLEAN: return "a boolean";
  case TOML_DATETIME: return "an offset date-time";
  case TOML_DATETIME_LOCAL: return "a local date-time";
  case TOML_DATE_LOCAL: return "a local date";
  case TOML_TIME_LOCAL: return "a local time";
  }
  return "a value";
}

const char *toml_type_name(enum toml_type t)
{
  const char *s = a_type_name(t);
  return s + (s[1] == 'n' && s[2] == ' ' ? 3 : 2); /* without the article */
}

/* ---- keys ---- */

static void keypath_free(struct keypath *kp)
{
  for (size_t i = 0; i < kp->n; i++)
    free(kp->v[i].s);
  free(kp->v);
}

/* Appends key s to b as written in TOML: bare when it can be, quoted if not. */
static void add_key_text(struct buf *b, const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && is_bare((unsigned char)s[i]))
    i++;
  if (n && i == n)
    buf_add(b, s, n);
  else
    buf_add_json_str(b, s, n);
}

/* "prefix.k1.k2..." for messages: the key path up to and including part upto. */
static const char *key_text(struct buf *b, const char *prefix, const struct keypath *kp, size_t upto)
{
  buf_reset(b);
  if (prefix && *prefix) buf_adds(b, prefix);
  for (size_t i = 0; i <= upto && i < kp->n; i++) {
    if (b->len) buf_addc(b, '.');
    add_key_text(b, kp->v[i].s, kp->v[i].len);
  }
  if (!b->p) buf_adds(b, "");
  return b->p;
}

static int scan_string(struct parser *p, char **out, size_t *outlen);

static int parse_key(struct parser *p, struct keypath *kp)
{
  char d[64];
  for (;;) {
    if (kp->n == kp->cap) {
      kp->cap = kp->cap ? kp->cap * 2 : 4;
      kp->v = xrealloc(kp->v, kp->cap * sizeof *kp->v);
    }
    if (kp->n >= MAX_DEPTH) return perr(p, "key with more than %d dotted parts", MAX_DEPTH);
    struct keyseg *k = &kp->v[kp->n];
    k->s = NULL;
    k->line = p->line;
    k->col = p->col;
    int c = peek(p);
    if (c == '"' || c == '\'') {
      if (peek_at(p, 1) == c && peek_at(p, 2) == c) return perr(p, "a key cannot be a multi-line string");
      if (scan_string(p, &k->s, &k->len)) return -1;
    } else {
      size_t start = p->i;
      while (is_bare(peek(p)))
        adv(p);
      if (p->i == start) return perr(p, "expected a key, found %s", describe(p, d, sizeof d));
      k->s = xstrndup(p->s + start, p->i - start);
      k->len = p->i - start;
    }
    kp->n++;
    while (peek(p) == ' ' || peek(p) == '\t')
      adv(p);
    if (peek(p) != '.') return 0;
    adv(p);
    while (peek(p) == ' ' || peek(p) == '\t')
      adv(p);
  }
}

/* ---- strings ---- */

static int parse_escape(struct parser *p, struct buf *b)
{
  int line = p->line, col = p->col;
  char d[64];
  adv(p); /* the backslash */
  int c = peek(p);
  switch (c) {
  case 'b': buf_addc(b, '\b'); break;
  case 't': buf_addc(b, '\t'); break;
  case 'n': buf_addc(b, '\n'); break;
  case 'f': buf_addc(b, '\f'); break;
  case 'r': buf_addc(b, '\r'); break;
  case '"': buf_addc(b, '"'); break;
  case '\\': buf_addc(b, '\\'); break;
  case 'u':
  case 'U': {
    int ndig = c == 'u' ? 4 : 8;
    unsigned cp = 0;
    adv(p);
    for (int k = 0; k < ndig; k++) {
      int h = bh_hexval(peek(p));
      if (h < 0) return perr_at(p, line, col, "escape '\\%c' needs %d hexadecimal digits", c, ndig);
      cp = cp * 16 + (unsigned)h;
      adv(p);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return perr_at(p, line, col, "escape '\\%c%0*X' is not a Unicode scalar value", c, ndig, cp);
    buf_add_utf8(b, cp);
    return 0;
  }
  default:
    if (c > 0x20 && c < 0x7f) return perr_at(p, line, col, "invalid escape sequence '\\%c'", c);
    return perr_at(p, line, col, "invalid escape sequence: '\\' followed by %s", describe(p, d, sizeof d));
  }
  adv(p);
  return 0;
}

/* Reads a string of any of the four kinds at the scanner into *out (NUL-
 * terminated, caller frees) and *outlen. */
static int scan_string(struct parser *p, char **out, size_t *outlen)
{
  int line = p->line, col = p->col;
  int q = peek(p);
  int literal = q == '\'';
  int multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
  struct buf b = BUF_INIT;
  buf_add(&b, "", 0); /* allocated and NUL-terminated even when empty */

  advn(p, multi ? 3 : 1);
  if (multi) { /* a newline right after the opening delimiter is trimmed */
    if (peek(p) == '\n')
      adv(p);
    else if (peek(p) == '\r' && peek_at(p, 1) == '\n')
      advn(p, 2);
  }
  for (;;) {
    int c = peek(p);
    if (c < 0 || (!multi && at_newline(p))) {
      perr_at(p, line, col, "unterminated %s", multi ? "multi-line string" : "string");
      goto fail;
    }
    if (c == q) {
      if (!multi) {
        adv(p);
        break;
      }
      size_t n = 0;
      while (peek_at(p, n) == q)
        n++;
      if (n >= 3) {
        if (n > 5) {
          perr(p, "three quotes in a row inside a multi-line string must be escaped");
          goto fail;
        }
        for (size_t k = 3; k < n; k++)
          buf_addc(&b, (char)q); /* up to two quotes just before the end */
        advn(p, n);
        break;
      }
      for (size_t k = 0; k < n; k++)
        buf_addc(&b, (char)q);
      advn(p, n);
      continue;
    }
    if (c == '\\' && !literal) {
      if (multi) {
        /* a backslash ending a line trims it and all whitespace after it */
        size_t k = 1;
        while (peek_at(p, k) == ' ' || peek_at(p, k) == '\t')
          k++;
        if (peek_at(p, k) == '\n' || (peek_at(p, k) == '\r' && peek_at(p, k + 1) == '\n')) {
          advn(p, k);
          for (;;) {
            if (peek(p) == ' ' || peek(p) == '\t' || peek(p) == '\n')
              adv(p);
            else if (peek(p) == '\r' && peek_at(p, 1) == '\n')
              advn(p, 2);
            else
              break;
          }
          continue;
        }
      }
      if (parse_escape(p, &b)) goto fail;
      continue;
    }
    if (multi && at_newline(p)) {
      buf_addc(&b, '\n');
      advn(p, c == '\r' ? 2 : 1);
      continue;
    }
    if (is_ctrl(c) && c != '\t') {
      if (c == '\r')
        perr(p, "a carriage return not followed by a line feed is not allowed in a string");
      else
        perr(p, "control character U+%04X is not allowed in a string%s", (unsigned)c,
             literal ? "" : " (escape it)");
      goto fail;
    }
    /* copy the run of ordinary characters in one go */
    size_t start = p->i;
    while (p->i < p->len) {
      int ch = (unsigned char)p->s[p->i];
      if (ch == q || (ch == '\\' && !literal) || (is_ctrl(ch) && ch != '\t')) break;
      adv(p);
    }
    buf_add(&b, p->s + start, p->i - start);
  }
  *outlen = b.len;
  *out = buf_steal(&b);
  return 0;
fail:
  buf_free(&b);
  return -1;
}

static int parse_string(struct parser *p, struct toml_value **out)
{
  struct toml_value *v = new_value(TOML_STRING, p->line, p->col);
  if (scan_string(p, &v->u.str.ptr, &v->u.str.len)) {
    free(v);
    return -1;
  }
  *out = v;
  return 0;
}

/* ---- numbers, booleans, dates and times ---- */

static int digit_of(int c, int base)
{
  int d = bh_hexval(c);
  return d >= 0 && d < base ? d : -1;
}

/* Reads digits of base, single underscores allowed between two digits, from
 * t[*i]; returns 0 and moves *i past them, -1 when there is no digit, -2 on a
 * misplaced underscore. */
static int scan_digits(const char *t, size_t n, size_t *i, int base)
{
  size_t j = *i;
  if (j >= n || digit_of((unsigned char)t[j], base) < 0) return j < n && t[j] == '_' ? -2 : -1;
  while (j < n) {
    if (digit_of((unsigned char)t[j], base) >= 0) {
      j++;
    } else if (t[j] == '_') {
      if (j + 1 >= n || digit_of((unsigned char)t[j + 1], base) < 0) return -2;
      j++;
    } else {
      break;
    }
  }
  *i = j;
  return 0;
}

static int parse_number(struct parser *p, const char *t, size_t n, int line, int col, struct toml_value **out)
{
  static const char *const base_names[] = {[2] = "binary", [8] = "octal", [16] = "hexadecimal"};
  size_t i = 0;
  int neg = 0, rc;
  if (t[0] == '+' || t[0] == '-') neg = t[0] == '-', i = 1;

  if (n - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
    int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
    if (i)
      return perr_at(p, line, col, "%s %s integer cannot have a sign: '%.*s'", base == 8 ? "an" : "a",
                     base_names[base], (int)n, t);
    size_t start = i += 2;
    rc = scan_digits(t, n, &i, base);
    if (rc == -2) goto underscore;
    if (rc || i != n) return perr_at(p, line, col, "invalid %s integer '%.*s'", base_names[base], (int)n, t);
    uint64_t v = 0;
    for (size_t k = start; k < n; k++) {
      if (t[k] == '_') continue;
      uint64_t d = (uint64_t)digit_of((unsigned char)t[k], base);
      if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
        return perr_at(p, line, col, "integer '%.*s' does not fit in 64 bits", (int)n, t);
      v = v * (uint64_t)base + d;
    }
    *out = new_value(TOML_INTEGER, line, col);
    (*out)->u.integer = (int64_t)v;
    return 0;
  }

  size_t int_start = i;
  rc = scan_digits(t, n, &i, 10);
  if (rc == -2) goto underscore;
  if (rc) goto invalid;
  if (t[int_start] == '0' && i - int_start > 1)
    return perr_at(p, line, col, "leading zeros are not allowed in a number: '%.*s'", (int)n, t);
  int is_float = 0;
  if (i < n && t[i] == '.') {
    i++;
    is_float = 1;
    rc = scan_digits(t, n, &i, 10);
    if (rc == -2) goto underscore;
    if (rc) return perr_at(p, line, col, "a decimal point must be followed by digits: '%.*s'", (int)n, t);
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    is_float = 1;
    if (i < n && (t[i] == '+' || t[i] == '-')) i++;
    rc = scan_digits(t, n, &i, 10);
    if (rc == -2) goto underscore;
    if (rc) return perr_at(p, line, col, "an exponent needs digits: '%.*s'", (int)n, t);
  }
  if (i != n) goto invalid;

  if (is_float) {
    char tmp[128];
    struct buf b = BUF_INIT;
    for (size_t k = 0; k < n; k++)
      if (t[k] != '_') buf_addc(&b, t[k]);
    errno = 0;
    double d = strtod(b.p, NULL);
    int range = errno == ERANGE && isinf(d);
    snprintf(tmp, sizeof tmp, "%.*s", (int)n, t);
    buf_free(&b);
    if (range) return perr_at(p, line, col, "float '%s' is out of range", tmp);
    *out = new_value(TOML_FLOAT, line, col);
    (*out)->u.flt = d;
    return 0;
  }
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (size_t k = int_start; k < n; k++) {
    if (t[k] == '_') continue;
    uint64_t d = (uint64_t)(t[k] - '0');
    if (v > (limit - d) / 10)
      return perr_at(p, line, col, "integer '%.*s' does not fit in 64 bits", (int)n, t);
    v = v * 10 + d;
  }
  *out = new_value(TOML_INTEGER, line, col);
  (*out)->u.integer = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;

underscore:
  return perr_at(p, line, col, "an underscore in a number must be between two digits: '%.*s'", (int)n, t);
invalid:
  if ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z'))
    return perr_at(p, line, col, "invalid value '%.*s' (strings need quotes)", (int)n, t);
  return perr_at(p, line, col, "invalid number '%.*s'", (int)n, t);
}

static int two_digits(const char *t, size_t n, size_t i)
{
  if (i + 2 > n || !is_digit(t[i]) || !is_digit(t[i + 1])) return -1;
  return (t[i] - '0') * 10 + (t[i + 1] - '0');
}

/* Reads hh:mm:ss[.frac] from t[*i]; 0 or -1 with a message in why. */
static int scan_time(const char *t, size_t n, size_t *i, const char **why)
{
  size_t j = *i;
  int h = two_digits(t, n, j), m = -1, s = -1;
  if (h >= 0 && j + 2 < n && t[j + 2] == ':') m = two_digits(t, n, j + 3);
  if (m >= 0 && (j + 5 >= n || t[j + 5] != ':')) {
    *why = "seconds are required (hh:mm:ss)";
    return -1;
  }
  if (m >= 0) s = two_digits(t, n, j + 6);
  if (h < 0 || m < 0 || s < 0) {
    *why = "a time is written hh:mm:ss with two digits each";
    return -1;
  }
  if (h > 23) return *why = "hour out of range (00-23)", -1;
  if (m > 59) return *why = "minute out of range (00-59)", -1;
  if (s > 60) return *why = "second out of range (00-60)", -1;
  j += 8;
  if (j < n && t[j] == '.') {
    j++;
    if (j >= n || !is_digit(t[j])) return *why = "a decimal point must be followed by digits", -1;
    while (j < n && is_digit(t[j]))
      j++;
  }
  *i = j;
  return 0;
}

static int parse_datetime(struct parser *p, const char *t, size_t n, int line, int col,
                          struct toml_value **out)
{
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *why = NULL;
  enum toml_type type;
  size_t i = 0;

  if (t[2] == ':') {
    if (scan_time(t, n, &i, &why)) goto bad;
    if (i != n) goto trailing;
    type = TOML_TIME_LOCAL;
  } else {
    int y = 0;
    for (i = 0; i < 4; i++)
      y = y * 10 + (t[i] - '0');
    int mo = n > 4 && t[4] == '-' ? two_digits(t, n, 5) : -1;
    int d = mo >= 0 && n > 7 && t[7] == '-' ? two_digits(t, n, 8) : -1;
    if (mo < 0 || d < 0) {
      why = "a date is written yyyy-mm-dd";
      goto bad;
    }
    if (mo < 1 || mo > 12) {
      why = "month out of range (01-12)";
      goto bad;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
      why = "day out of range for its month";
      goto bad;
    }
    i = 10;
    if (i == n) {
      type = TOML_DATE_LOCAL;
    } else {
      if (t[i] != 'T' && t[i] != 't' && t[i] != ' ') goto trailing;
      i++;
      if (scan_time(t, n, &i, &why)) goto bad;
      type = TOML_DATETIME_LOCAL;
      if (i < n && (t[i] == 'Z' || t[i] == 'z')) {
        i++;
        type = TOML_DATETIME;
      } else if (i < n && (t[i] == '+' || t[i] == '-')) {
        int oh = two_digits(t, n, i + 1);
        int om = oh >= 0 && i + 3 < n && t[i + 3] == ':' ? two_digits(t, n, i + 4) : -1;
        if (oh < 0 || om < 0) {
          why = "a time offset is written +hh:mm or -hh:mm";
          goto bad;
        }
        if (oh > 23 || om > 59) {
          why = "time offset out of range";
          goto bad;
        }
        i += 6;
        type = TOML_DATETIME;
      }
      if (i != n) goto trailing;
    }
  }

  struct toml_value *v = new_value(type, line, col);
  v->u.str.ptr = xstrndup(t, n);
  v->u.str.len = n;
  if (n > 10 && type != TOML_TIME_LOCAL) v->u.str.ptr[10] = 'T';
  if (type == TOML_DATETIME && v->u.str.ptr[n - 1] == 'z') v->u.str.ptr[n - 1] = 'Z';
  *out = v;
  return 0;

trailing:
  why = "unexpected characters after it";
bad:
  return perr_at(p, line, col, "invalid date or time '%.*s': %s", (int)n, t, why);
}

static int token_char(int c)
{
  return c > 0x20 && c != 0x7f && !strchr(",[]{}#\"'=", c);
}

/* Booleans, numbers, dates and times: reads the whole token first, so that
 * messages can quote it, then decides what it is. */
static int parse_scalar(struct parser *p, struct toml_value **out)
{
  int line = p->line, col = p->col;
  size_t start = p->i;
  char d[64];
  while (token_char(peek(p)))
    adv(p);
  /* a date followed by a space and a time is one date-time */
  if (p->i - start == 10 && is_digit(p->s[start]) && p->s[start + 4] == '-' && peek(p) == ' ' &&
      is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':') {
    adv(p);
    while (token_char(peek(p)))
      adv(p);
  }
  const char *t = p->s + start;
  size_t n = p->i - start;
  if (n == 0) return perr(p, "expected a value, found %s", describe(p, d, sizeof d));

  if ((n == 4 && !memcmp(t, "true", 4)) || (n == 5 && !memcmp(t, "false", 5))) {
    *out = new_value(TOML_BOOLEAN, line, col);
    (*out)->u.boolean = n == 4;
    return 0;
  }
  size_t sign = t[0] == '+' || t[0] == '-';
  if (n - sign == 3 && (!memcmp(t + sign, "inf", 3) || !memcmp(t + sign, "nan", 3))) {
    *out = new_value(TOML_FLOAT, line, col);
    (*out)->u.flt = t[sign] == 'i' ? (t[0] == '-' ? -INFINITY : INFINITY) : (t[0] == '-' ? -NAN : NAN);
    return 0;
  }
  if (n >= 5 && is_digit(t[0]) && is_digit(t[1]) && is_digit(t[2]) && is_digit(t[3]) && t[4] == '-')
    return parse_datetime(p, t, n, line, col, out);
  if (n >= 3 && is_digit(t[0]) && is_digit(t[1]) && t[2] == ':')
    return parse_datetime(p, t, n, line, col, out);
  return parse_number(p, t, n, line, col, out);
}

/* ---- arrays, inline tables, key/value pairs ---- */

static int parse_value(struct parser *p, int depth, const char *name, struct toml_value **out);
static int parse_keyval(struct parser *p, struct toml_value *tab, unsigned section, const char *prefix);

static int skip_comment(struct parser *p)
{
  adv(p); /* '#' */
  for (;;) {
    int c = peek(p);
    if (c < 0 || at_newline(p)) return 0;
    if (is_ctrl(c) && c != '\t') {
      if (c == '\r')
        return perr(p, "a carriage return not followed by a line feed is not allowed in a comment");
      return perr(p, "control character U+%04X is not allowed in a comment", (unsigned)c);
    }
    adv(p);
  }
}

static int skip_blank(struct parser *p)
{
  for (;;) {
    int c = peek(p);
    if (c == ' ' || c == '\t' || c == '\n')
      adv(p);
    else if (c == '\r' && peek_at(p, 1) == '\n')
      advn(p, 2);
    else if (c == '#') {
      if (skip_comment(p)) return -1;
    } else
      return 0;
  }
}

static int parse_array(struct parser *p, int depth, const char *name, struct toml_value **out)
{
  int line = p->line, col = p->col;
  char d[64];
  struct toml_value *a = new_container(p, TOML_ARRAY, depth, line, col);
  if (!a) return -1;
  adv(p); /* '[' */
  for (;;) {
    if (skip_blank(p)) goto fail;
    if (peek(p) == ']') break;
    struct toml_value *v;
    if (parse_value(p, depth + 1, name, &v)) goto fail;
    array_push(a, v);
    if (skip_blank(p)) goto fail;
    if (peek(p) == ',') {
      adv(p);
      continue;
    }
    if (peek(p) == ']') break;
    if (peek(p) < 0)
      perr_at(p, line, col, "unterminated array");
    else
      perr(p, "expected ',' or ']' in the array, found %s", describe(p, d, sizeof d));
    goto fail;
  }
  adv(p); /* ']' */
  *out = a;
  return 0;
fail:
  value_free(a);
  return -1;
}

static int parse_inline_table(struct parser *p, int depth, const char *name, struct toml_value **out)
{
  int line = p->line, col = p->col;
  char d[64];
  struct toml_value *t = new_container(p, TOML_TABLE, depth, line, col);
  if (!t) return -1;
  t->flags_ = F_INLINE;
  unsigned section = ++p->next_section;
  adv(p); /* '{' */
  while (peek(p) == ' ' || peek(p) == '\t')
    adv(p);
  if (peek(p) != '}') {
    for (;;) {
      while (peek(p) == ' ' || peek(p) == '\t')
        adv(p);
      if (at_newline(p)) {
        perr(p, "an inline table must be on one line (TOML 1.0); use a [table] for more");
        goto fail;
      }
      if (peek(p) == '}') {
        perr(p, "a trailing comma is not allowed in an inline table");
        goto fail;
      }
      if (parse_keyval(p, t, section, name)) goto fail;
      while (peek(p) == ' ' || peek(p) == '\t')
        adv(p);
      if (peek(p) == ',') {
        adv(p);
        continue;
      }
      if (peek(p) == '}') break;
      if (peek(p) < 0)
        perr_at(p, line, col, "unterminated inline table");
      else if (at_newline(p))
        perr(p, "an inline table must be on one line (TOML 1.0); use a [table] for more");
      else
        perr(p, "expected ',' or '}' in the inline table, found %s", describe(p, d, sizeof d));
      goto fail;
    }
  }
  adv(p); /* '}' */
  *out = t;
  return 0;
fail:
  value_free(t);
  return -1;
}

static int parse_value(struct parser *p, int depth, const char *name, struct toml_value **out)
{
  switch (peek(p)) {
  case '"':
  case '\'': return parse_string(p, out);
  case '[': return parse_array(p, depth, name, out);
  case '{': return parse_inline_table(p, depth, name, out);
  default: return parse_scalar(p, out);
  }
}

/* Walks the dotted part of a key (all but its last part) down from tab,
 * making tables where there are none; returns the table the last part goes
 * into, or NULL with an error. */
static struct toml_value *walk_dotted(struct parser *p, struct toml_value *tab, struct keypath *kp,
                                      unsigned section, const char *prefix)
{
  struct buf name = BUF_INIT;
  for (size_t i = 0; i + 1 < kp->n; i++) {
    struct keyseg *k = &kp->v[i];
    struct toml_key *e = table_find(tab, k->s, k->len);
    if (!e) {
      struct toml_value *t = new_container(p, TOML_TABLE, tab->depth_ + 1, k->line, k->col);
      if (!t) goto fail;
      t->flags_ = F_DOTTED;
      t->section_ = section;
      table_add(tab, k, t);
      tab = t;
      continue;
    }
    struct toml_value *v = e->value;
    if (v->type != TOML_TABLE) {
      perr_at(p, k->line, k->col, "cannot use '%s' as a table: it is %s (set at %d:%d)",
              key_text(&name, prefix, kp, i), a_type_name(v->type), e->line, e->col);
      goto fail;
    }
    if (v->flags_ & F_INLINE) {
      perr_at(p, k->line, k->col, "cannot add keys to inline table '%s' (written at %d:%d)",
              key_text(&name, prefix, kp, i), v->line, v->col);
      goto fail;
    }
    if (v->flags_ & F_IMPLICIT) {
      /* only made as the parent of a header so far: the dotted key defines it */
      v->flags_ = F_DOTTED;
      v->section_ = section;
    }
    if (!(v->flags_ & F_DOTTED) || v->section_ != section) {
      perr_at(p, k->line, k->col,
              "cannot add keys to table '%s' with a dotted key here: it is defined by the header at %d:%d",
              key_text(&name, prefix, kp, i), v->line, v->col);
      goto fail;
    }
    tab = v;
  }
  buf_free(&name);
  return tab;
fail:
  buf_free(&name);
  return NULL;
}

static int parse_keyval(struct parser *p, struct toml_value *tab, unsigned section, const char *prefix)
{
  struct keypath kp = {0};
  struct buf name = BUF_INIT;
  char d[64];
  int rc = -1;
  if (parse_key(p, &kp)) goto out;
  if (peek(p) != '=') {
    perr(p, "expected '=' after the key '%s', found %s", key_text(&name, prefix, &kp, kp.n),
         describe(p, d, sizeof d));
    goto out;
  }
  adv(p);
  while (peek(p) == ' ' || peek(p) == '\t')
    adv(p);
  struct toml_value *t = walk_dotted(p, tab, &kp, section, prefix);
  if (!t) goto out;
  struct keyseg *last = &kp.v[kp.n - 1];
  const struct toml_key *e = table_find(t, last->s, last->len);
  if (e) {
    perr_at(p, last->line, last->col, "duplicate key '%s' (first set at %d:%d)",
            key_text(&name, prefix, &kp, kp.n), e->line, e->col);
    goto out;
  }
  const char *vname = "";
  if (peek(p) == '[' || peek(p) == '{') vname = key_text(&name, prefix, &kp, kp.n);
  struct toml_value *v;
  if (parse_value(p, t->depth_ + 1, vname, &v)) goto out;
  table_add(t, last, v);
  rc = 0;
out:
  buf_free(&name);
  keypath_free(&kp);
  return rc;
}

/* ---- the document ---- */

static int end_of_line(struct parser *p, const char *after)
{
  char d[64];
  while (peek(p) == ' ' || peek(p) == '\t')
    adv(p);
  if (peek(p) == '#' && skip_comment(p)) return -1;
  if (peek(p) < 0) return 0;
  if (at_newline(p)) {
    advn(p, peek(p) == '\r' ? 2 : 1);
    return 0;
  }
  return perr(p, "expected the end of the line after %s, found %s", after, describe(p, d, sizeof d));
}

static int parse_header(struct parser *p)
{
  int line = p->line, col = p->col;
  int aot = peek_at(p, 1) == '[';
  struct keypath kp = {0};
  struct buf name = BUF_INIT;
  char d[64];
  int rc = -1;

  advn(p, aot ? 2 : 1);
  while (peek(p) == ' ' || peek(p) == '\t')
    adv(p);
  if (parse_key(p, &kp)) goto out;
  if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
    if (aot && peek(p) == ']') adv(p);
    perr(p, "expected '%s' to close the %s header, found %s", aot ? "]]" : "]",
         aot ? "array-of-tables" : "table", describe(p, d, sizeof d));
    goto out;
  }
  advn(p, aot ? 2 : 1);

  struct toml_value *tab = p->root;
  for (size_t i = 0; i + 1 < kp.n; i++) {
    struct keyseg *k = &kp.v[i];
    struct toml_key *e = table_find(tab, k->s, k->len);
    if (!e) {
      struct toml_value *t = new_container(p, TOML_TABLE, tab->depth_ + 1, k->line, k->col);
      if (!t) goto out;
      t->flags_ = F_IMPLICIT;
      table_add(tab, k, t);
      tab = t;
      continue;
    }
    struct toml_value *v = e->value;
    if (v->type == TOML_TABLE && (v->flags_ & F_INLINE)) {
      perr_at(p, k->line, k->col, "cannot add to inline table '%s' (written at %d:%d)",
              key_text(&name, NULL, &kp, i), v->line, v->col);
      goto out;
    }
    if (v->type == TOML_TABLE) {
      tab = v;
    } else if (v->type == TOML_ARRAY && (v->flags_ & F_AOT)) {
      tab = v->u.array.items[v->u.array.len - 1]; /* the last table of the array */
    } else {
      perr_at(p, k->line, k->col, "cannot use '%s' as a table: it is %s (set at %d:%d)",
              key_text(&name, NULL, &kp, i), a_type_name(v->type), e->line, e->col);
      goto out;
    }
  }

  struct keyseg *last = &kp.v[kp.n - 1];
  struct toml_key *e = table_find(tab, last->s, last->len);
  struct toml_value *t;
  const char *full = key_text(&name, NULL, &kp, kp.n);
  if (!aot) {
    if (!e) {
      t = new_container(p, TOML_TABLE, tab->depth_ + 1, line, col);
      if (!t) goto out;
      t->flags_ = F_EXPLICIT;
      table_add(tab, last, t);
    } else {
      t = e->value;
      if (t->type != TOML_TABLE) {
        if (t->type == TOML_ARRAY && (t->flags_ & F_AOT))
          perr_at(p, line, col, "cannot define table '%s': it is an array of tables (first at %d:%d)", full,
                  e->line, e->col);
        else
          perr_at(p, line, col, "cannot define table '%s': the key is already %s (set at %d:%d)", full,
                  a_type_name(t->type), e->line, e->col);
        goto out;
      }
      if (t->flags_ & F_INLINE) {
        perr_at(p, line, col, "cannot define table '%s': it is an inline table (written at %d:%d)", full,
                t->line, t->col);
        goto out;
      }
      if (t->flags_ & F_DOTTED) {
        perr_at(p, line, col, "cannot define table '%s': it is already made by the dotted key at %d:%d", full,
                e->line, e->col);
        goto out;
      }
      if (t->flags_ & F_EXPLICIT) {
        perr_at(p, line, col, "table '%s' is already defined at %d:%d", full, t->line, t->col);
        goto out;
      }
      t->flags_ = F_EXPLICIT;
      t->line = line;
      t->col = col;
    }
  } else {
    struct toml_value *a;
    if (!e) {
      a = new_container(p, TOML_ARRAY, tab->depth_ + 1, line, col);
      if (!a) goto out;
      a->flags_ = F_AOT;
      table_add(tab, last, a);
    } else {
      a = e->value;
      if (a->type != TOML_ARRAY || !(a->flags_ & F_AOT)) {
        perr_at(p, line, col, "cannot append to '%s' as an array of tables: it is %s%s (set at %d:%d)", full,
                a->type == TOML_ARRAY ? "a static " : "",
                a->type == TOML_ARRAY ? "array" : a_type_name(a->type), e->line, e->col);
        goto out;
      }
    }
    t = new_container(p, TOML_TABLE, a->depth_ + 1, line, col);
    if (!t) goto out;
    t->flags_ = F_EXPLICIT;
    array_push(a, t);
  }
  p->cur = t;
  p->section = ++p->next_section;
  buf_reset(&p->cur_name);
  buf_adds(&p->cur_name, full);
  rc = end_of_line(p, aot ? "the array-of-tables header" : "the table header");
out:
  buf_free(&name);
  keypath_free(&kp);
  return rc;
}

struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char *err, size_t errsz)
{
  struct parser p = {
      .s = text, .len = len, .line = 1, .col = 1, .file = filename, .err = err, .errsz = errsz};
  if (err && errsz) err[0] = 0;
  p.root = new_value(TOML_TABLE, 1, 1);
  p.cur = p.root;
  buf_adds(&p.cur_name, "");
  if (check_utf8(&p)) goto fail;
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) p.i = 3; /* a byte order mark */

  for (;;) {
    while (peek(&p) == ' ' || peek(&p) == '\t')
      adv(&p);
    int c = peek(&p);
    if (c < 0) break;
    if (c == '#') {
      if (skip_comment(&p)) goto fail;
    } else if (at_newline(&p)) {
      advn(&p, c == '\r' ? 2 : 1);
    } else if (c == '[') {
      if (parse_header(&p)) goto fail;
    } else {
      if (parse_keyval(&p, p.cur, p.section, p.cur_name.p)) goto fail;
      if (end_of_line(&p, "a value")) goto fail;
    }
  }
  buf_free(&p.cur_name);
  return p.root;
fail:
  buf_free(&p.cur_name);
  value_free(p.root);
  return NULL;
}

/* ---- lookups ---- */

const struct toml_value *toml_getn(const struct toml_value *tab, const char *key, size_t n)
{
  if (!tab || tab->type != TOML_TABLE) return NULL;
  const struct toml_key *e = table_find(tab, key, n);
  return e ? e->value : NULL;
}

const struct toml_value *toml_get(const struct toml_value *tab, const char *key)
{
  return toml_getn(tab, key, strlen(key));
}

const struct toml_key *toml_get_key(const struct toml_value *tab, const char *key)
{
  if (!tab || tab->type != TOML_TABLE) return NULL;
  return table_find(tab, key, strlen(key));
}

const struct toml_value *toml_get_path(const struct toml_value *root, const char *path)
{
  const struct toml_value *v = root;
  for (;;) {
    size_t n = strcspn(path, ".");
    v = toml_getn(v, path, n);
    if (!v || !path[n]) return v;
    path += n + 1;
  }
}
