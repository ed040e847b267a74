/* toml.c - see toml.h. A recursive-descent parser written from the TOML 1.0.0
 * specification and its ABNF: this file reads the document's structure
 * (key/value pairs, dotted keys, [tables], [[arrays of tables]], arrays and
 * inline tables) and builds the tree; toml_scan.c reads the parts they are
 * made of (strings, numbers, dates). Bytes enter through toml_parse, which
 * first checks that the whole text is valid UTF-8. The tree leaves through
 * the returned root. Tables keep their entries in document order and, once
 * they grow past a few keys, a hash index beside them, so that a big file
 * costs linear time. */
#include "config/toml.h"
#include "config/toml_scan.h"
#include "util/buf.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables smaller than this are searched linearly. */
#define INDEX_MIN 8

enum {
  F_IMPLICIT = 1, /* table made as a parent by a [header]: may be defined later, once */
  F_EXPLICIT = 2, /* table defined by its own [header] or [[header]] */
  F_DOTTED = 4,   /* table made (or first defined) by a dotted key: open to dotted keys of its section only */
  F_INLINE = 8,   /* inline table: complete once written */
  F_AOT = 16,     /* array of tables made by [[header]]; other arrays are complete once written */
  F_INCOMPLETE = 32, /* the table a partial parse was filling when it stopped */
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

/* ---- values and tables ---- */

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
    scan_error_at(p, line, col, "tables and arrays nested more than %d levels deep", MAX_DEPTH);
    return NULL;
  }
  struct toml_value *v = scan_new_value(type, line, col);
  v->depth_ = depth;
  return v;
}

const char *toml_type_article(enum toml_type t)
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
  const char *s = toml_type_article(t);
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

static int parse_key(struct parser *p, struct keypath *kp)
{
  char d[64];
  for (;;) {
    if (kp->n == kp->cap) {
      kp->cap = kp->cap ? kp->cap * 2 : 4;
      kp->v = xrealloc(kp->v, kp->cap * sizeof *kp->v);
    }
    if (kp->n >= MAX_DEPTH) return scan_error(p, "key with more than %d dotted parts", MAX_DEPTH);
    struct keyseg *k = &kp->v[kp->n];
    k->s = NULL;
    k->line = p->line;
    k->col = p->col;
    int c = peek(p);
    if (c == '"' || c == '\'') {
      if (peek_at(p, 1) == c && peek_at(p, 2) == c)
        return scan_error(p, "a key cannot be a multi-line string");
      if (scan_string(p, &k->s, &k->len)) return -1;
    } else {
      size_t start = p->i;
      while (is_bare(peek(p)))
        adv(p);
      if (p->i == start) return scan_error(p, "expected a key, found %s", scan_describe(p, d, sizeof d));
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

/* ---- arrays, inline tables, key/value pairs ---- */

static int parse_value(struct parser *p, int depth, const char *name, struct toml_value **out);
static int parse_keyval(struct parser *p, struct toml_value *tab, unsigned section, const char *prefix);

static int parse_array(struct parser *p, int depth, const char *name, struct toml_value **out)
{
  int line = p->line, col = p->col;
  char d[64];
  struct toml_value *a = new_container(p, TOML_ARRAY, depth, line, col);
  if (!a) return -1;
  adv(p); /* '[' */
  for (;;) {
    if (scan_blank(p)) goto fail;
    if (peek(p) == ']') break;
    struct toml_value *v;
    if (parse_value(p, depth + 1, name, &v)) goto fail;
    array_push(a, v);
    if (scan_blank(p)) goto fail;
    if (peek(p) == ',') {
      adv(p);
      continue;
    }
    if (peek(p) == ']') break;
    if (peek(p) < 0)
      scan_error_at(p, line, col, "unterminated array");
    else
      scan_error(p, "expected ',' or ']' in the array, found %s", scan_describe(p, d, sizeof d));
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
        scan_error(p, "an inline table must be on one line (TOML 1.0); use a [table] for more");
        goto fail;
      }
      if (peek(p) == '}') {
        scan_error(p, "a trailing comma is not allowed in an inline table");
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
        scan_error_at(p, line, col, "unterminated inline table");
      else if (at_newline(p))
        scan_error(p, "an inline table must be on one line (TOML 1.0); use a [table] for more");
      else
        scan_error(p, "expected ',' or '}' in the inline table, found %s", scan_describe(p, d, sizeof d));
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
  case '\'': return scan_string_value(p, out);
  case '[': return parse_array(p, depth, name, out);
  case '{': return parse_inline_table(p, depth, name, out);
  default: return scan_scalar(p, out);
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
      scan_error_at(p, k->line, k->col, "cannot use '%s' as a table: it is %s (set at %d:%d)",
                    key_text(&name, prefix, kp, i), toml_type_article(v->type), e->line, e->col);
      goto fail;
    }
    if (v->flags_ & F_INLINE) {
      scan_error_at(p, k->line, k->col, "cannot add keys to inline table '%s' (written at %d:%d)",
                    key_text(&name, prefix, kp, i), v->line, v->col);
      goto fail;
    }
    if (v->flags_ & F_IMPLICIT) {
      /* only made as the parent of a header so far: the dotted key defines it */
      v->flags_ = F_DOTTED;
      v->section_ = section;
    }
    if (!(v->flags_ & F_DOTTED) || v->section_ != section) {
      scan_error_at(
          p, k->line, k->col,
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
    scan_error(p, "expected '=' after the key '%s', found %s", key_text(&name, prefix, &kp, kp.n),
               scan_describe(p, d, sizeof d));
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
    scan_error_at(p, last->line, last->col, "duplicate key '%s' (first set at %d:%d)",
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
    scan_error(p, "expected '%s' to close the %s header, found %s", aot ? "]]" : "]",
               aot ? "array-of-tables" : "table", scan_describe(p, d, sizeof d));
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
      scan_error_at(p, k->line, k->col, "cannot add to inline table '%s' (written at %d:%d)",
                    key_text(&name, NULL, &kp, i), v->line, v->col);
      goto out;
    }
    if (v->type == TOML_TABLE) {
      tab = v;
    } else if (v->type == TOML_ARRAY && (v->flags_ & F_AOT)) {
      tab = v->u.array.items[v->u.array.len - 1]; /* the last table of the array */
    } else {
      scan_error_at(p, k->line, k->col, "cannot use '%s' as a table: it is %s (set at %d:%d)",
                    key_text(&name, NULL, &kp, i), toml_type_article(v->type), e->line, e->col);
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
          scan_error_at(p, line, col, "cannot define table '%s': it is an array of tables (first at %d:%d)",
                        full, e->line, e->col);
        else
          scan_error_at(p, line, col, "cannot define table '%s': the key is already %s (set at %d:%d)", full,
                        toml_type_article(t->type), e->line, e->col);
        goto out;
      }
      if (t->flags_ & F_INLINE) {
        scan_error_at(p, line, col, "cannot define table '%s': it is an inline table (written at %d:%d)",
                      full, t->line, t->col);
        goto out;
      }
      if (t->flags_ & F_DOTTED) {
        scan_error_at(p, line, col, "cannot define table '%s': it is already made by the dotted key at %d:%d",
                      full, e->line, e->col);
        goto out;
      }
      if (t->flags_ & F_EXPLICIT) {
        scan_error_at(p, line, col, "table '%s' is already defined at %d:%d", full, t->line, t->col);
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
        scan_error_at(p, line, col, "cannot append to '%s' as an array of tables: it is %s%s (set at %d:%d)",
                      full, a->type == TOML_ARRAY ? "a static " : "",
                      a->type == TOML_ARRAY ? "array" : toml_type_article(a->type), e->line, e->col);
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
  rc = scan_end_of_line(p, aot ? "the array-of-tables header" : "the table header");
out:
  buf_free(&name);
  keypath_free(&kp);
  return rc;
}

int toml_parse_partial(const char *text, size_t len, const char *filename, struct toml_value **root,
                       char *err, size_t errsz)
{
  struct parser p = {
      .s = text, .len = len, .line = 1, .col = 1, .file = filename, .err = err, .errsz = errsz};
  if (err && errsz) err[0] = 0;
  p.root = scan_new_value(TOML_TABLE, 1, 1);
  p.cur = p.root;
  buf_adds(&p.cur_name, "");
  if (scan_check_utf8(&p)) goto stop;
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) p.i = 3; /* a byte order mark */

  for (;;) {
    while (peek(&p) == ' ' || peek(&p) == '\t')
      adv(&p);
    int c = peek(&p);
    if (c < 0) break;
    if (c == '#') {
      if (scan_comment(&p)) goto stop;
    } else if (at_newline(&p)) {
      advn(&p, c == '\r' ? 2 : 1);
    } else if (c == '[') {
      if (parse_header(&p)) goto stop;
    } else {
      if (parse_keyval(&p, p.cur, p.section, p.cur_name.p)) goto stop;
      if (scan_end_of_line(&p, "a value")) goto stop;
    }
  }
stop:
  /* Every reader adds a value to the tree only once it is whole, so what
   * is there is consistent; only the table being filled may lack keys. */
  if (p.failed) p.cur->flags_ |= F_INCOMPLETE;
  buf_free(&p.cur_name);
  *root = p.root;
  return p.failed ? -1 : 0;
}

struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char *err, size_t errsz)
{
  struct toml_value *root;
  if (!toml_parse_partial(text, len, filename, &root, err, errsz)) return root;
  toml_free(root);
  return NULL;
}

int toml_incomplete(const struct toml_value *tab)
{
  return tab && tab->type == TOML_TABLE && (tab->flags_ & F_INCOMPLETE);
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
