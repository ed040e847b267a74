/* tmpl.c - see tmpl.h. Compiling turns the text into a list of operations:
 * literal bytes to copy, and placeholders, each a small expression tree
 * (tmpl_parse.c). Rendering walks the list; a placeholder that is a plain
 * path writes the event's value straight into the output, anything else is
 * evaluated (tmpl_eval.c, tmpl_filter.c) into transient values allocated
 * in a per-render scratch list freed before tmpl_render returns. */
#include "match/tmpl_impl.h"
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_TEMPLATE_SIZE (4u << 20)

enum op_kind { OP_LIT, OP_VALUE /* typed JSON value */, OP_TEXT /* text, escaped for the mode */ };

struct op {
  enum op_kind k;
  char *lit;
  size_t n;
  struct tx *x;
};

struct tmpl {
  enum tmpl_mode mode;
  struct op *ops;
  size_t nops;
};

void tmpl_free(struct tmpl *t)
{
  if (!t) return;
  for (size_t i = 0; i < t->nops; i++) {
    free(t->ops[i].lit);
    tmpl_tx_free(t->ops[i].x);
  }
  free(t->ops);
  free(t);
}

static void add_lit(struct tmpl *t, const char *s, size_t n)
{
  if (!n) return;
  if (t->nops && t->ops[t->nops - 1].k == OP_LIT) {
    struct op *o = &t->ops[t->nops - 1];
    o->lit = xrealloc(o->lit, o->n + n + 1);
    memcpy(o->lit + o->n, s, n);
    o->n += n;
    o->lit[o->n] = 0;
    return;
  }
  t->ops = xrealloc(t->ops, (t->nops + 1) * sizeof *t->ops);
  t->ops[t->nops++] = (struct op){.k = OP_LIT, .lit = xstrndup(s, n), .n = n};
}

static void add_placeholder(struct tmpl *t, enum op_kind k, struct tx *x)
{
  t->ops = xrealloc(t->ops, (t->nops + 1) * sizeof *t->ops);
  t->ops[t->nops++] = (struct op){.k = k, .x = x};
}

int tmpl_is_event(const struct tmpl *t)
{
  return t->mode == TMPL_JSON && t->nops == 1 && t->ops[0].k == OP_VALUE && t->ops[0].x->k == X_PATH &&
         t->ops[0].x->root == R_EVENT && !t->ops[0].x->npath;
}

/* The parts of a string with placeholders: literal runs go through lit(),
 * placeholders become ops of kind k. Returns 0 or -1 with err. */
static int compile_string(struct tmpl *t, const char *s, size_t n, const char *file, int line, int col,
                          const int *colmap, enum op_kind k, void (*lit)(struct tmpl *, const char *, size_t),
                          char *err, size_t errsz)
{
  size_t p = 0;
  while (p < n) {
    const char *open = NULL;
    for (size_t i = p; i + 1 < n; i++)
      if (s[i] == '{' && s[i + 1] == '{') {
        open = s + i;
        break;
      }
    size_t end = open ? (size_t)(open - s) : n;
    lit(t, s + p, end - p);
    if (!open) break;
    int l = line, c = col;
    if (!colmap) tmpl_advance_pos(s, end + 2, &l, &c); /* with a map, perr finds the column */
    size_t q = end + 2;
    struct tx *x = tmpl_parse_placeholder(s, n, &q, file, l, c, colmap, err, errsz);
    if (!x) return -1;
    add_placeholder(t, k, x);
    p = q;
  }
  return 0;
}

/* Literal text of JSON strings: escaped (the quotes are separate ops). */
static void lit_json_inner(struct tmpl *t, const char *s, size_t n)
{
  struct buf b = BUF_INIT;
  buf_add_json_inner(&b, s, n);
  add_lit(t, b.p ? b.p : "", b.len);
  buf_free(&b);
}

static void lit_raw(struct tmpl *t, const char *s, size_t n)
{
  add_lit(t, s, n);
}

/* Is s exactly one placeholder, "{{ x }}", with nothing around it? */
static int single_placeholder(const char *s, size_t n)
{
  if (n < 4 || memcmp(s, "{{", 2) || memcmp(s + n - 2, "}}", 2)) return 0;
  /* the first "}}" outside quotes must be the last one */
  char q = 0;
  for (size_t i = 2; i + 1 < n; i++) {
    if (q) {
      if (s[i] == '\\' && q != '`')
        i++;
      else if (s[i] == q)
        q = 0;
    } else if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
      q = s[i];
    } else if (s[i] == '}' && s[i + 1] == '}') {
      return i == n - 2;
    }
  }
  return 0;
}

/* The file column of every byte of the decoded JSON string whose quote is
 * at text[pos] (on line `line`, column col): JSON strings hold no raw line
 * breaks, so one line. NULL when the string has no escapes (the columns
 * then follow the decoded text). Caller frees. */
static int *json_colmap(const char *text, size_t pos, int col, size_t decoded_len)
{
  const char *p = text + pos + 1;
  if (!memchr(text + pos + 1, '\\', strcspn(text + pos + 1, "\"\n") + 1)) return NULL;
  int *map = xmalloc((decoded_len + 1) * sizeof *map);
  size_t o = 0;
  int c = col + 1;
  while (*p && *p != '"' && o < decoded_len) {
    if (*p == '\\') {
      size_t len = 2, bytes = 1;
      if (p[1] == 'u') {
        unsigned long cp = strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        len = 6;
        if (cp >= 0xd800 && cp <= 0xdbff && p[6] == '\\' && p[7] == 'u') len = 12, cp = 0x10000;
        bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      }
      for (size_t b = 0; b < bytes && o < decoded_len; b++)
        map[o++] = c;
      p += len;
      c += (int)len;
    } else {
      map[o++] = c;
      p++;
      while (((unsigned char)*p & 0xc0) == 0x80 && o < decoded_len) {
        map[o++] = c;
        p++;
      }
      c++;
    }
  }
  while (o <= decoded_len)
    map[o++] = c;
  return map;
}

/* A JSON string (a value, or a member name when is_key) of the template. */
static int compile_json_string(struct tmpl *t, const char *text, size_t pos, const char *s, size_t n,
                               int is_key, const char *file, char *err, size_t errsz)
{
  int line, col;
  json_line_col(text, pos, &line, &col);
  int *map = json_colmap(text, pos, col, n);
  int rc = 0;
  if (!is_key && single_placeholder(s, n)) {
    size_t q = 2;
    struct tx *x = tmpl_parse_placeholder(s, n, &q, file, line, col + 3, map, err, errsz);
    if (x)
      add_placeholder(t, OP_VALUE, x);
    else
      rc = -1;
  } else {
    add_lit(t, "\"", 1);
    rc = compile_string(t, s, n, file, line, col + 1, map, OP_TEXT, lit_json_inner, err, errsz);
    add_lit(t, "\"", 1);
  }
  free(map);
  return rc;
}

static int compile_json_value(struct tmpl *t, const char *text, const struct jv *v, const char *file,
                              char *err, size_t errsz)
{
  switch (v->k) {
  case J_NULL: add_lit(t, "null", 4); return 0;
  case J_TRUE: add_lit(t, "true", 4); return 0;
  case J_FALSE: add_lit(t, "false", 5); return 0;
  case J_NUM: add_lit(t, v->s, v->n); return 0;
  case J_STR: return compile_json_string(t, text, v->pos, v->s, v->n, 0, file, err, errsz);
  case J_ARR:
  case J_OBJ:
    add_lit(t, v->k == J_ARR ? "[" : "{", 1);
    for (size_t i = 0; i < v->nkids; i++) {
      if (i) add_lit(t, ",", 1);
      if (v->k == J_OBJ) {
        /* member names may interpolate too */
        if (compile_json_string(t, text, v->keypos[i], v->keys[i], v->keylens[i], 1, file, err, errsz))
          return -1;
        add_lit(t, ":", 1);
      }
      if (compile_json_value(t, text, &v->kids[i], file, err, errsz)) return -1;
    }
    add_lit(t, v->k == J_ARR ? "]" : "}", 1);
    return 0;
  }
  return 0;
}

struct tmpl *tmpl_compile(enum tmpl_mode mode, const char *text, size_t len, const char *file, int line,
                          int col, char *err, size_t errsz)
{
  struct tmpl *t = xcalloc(1, sizeof *t);
  t->mode = mode;
  if (!file) file = "template";
  if (memchr(text, 0, len)) {
    bh_err(err, errsz, "%s:%d:%d: a template must not contain NUL bytes", file, line, col);
    goto fail;
  }
  if (mode == TMPL_JSON) {
    struct jv root;
    char what[160];
    size_t pos = 0;
    int rc = json_parse_value(text, len, &pos, &root, what, sizeof what);
    if (!rc) {
      json_skip_ws(text, len, &pos);
      if (pos != len) {
        snprintf(what, sizeof what, "text after the JSON value");
        rc = -1;
      }
    }
    if (rc) {
      int l, c;
      json_line_col(text, pos, &l, &c);
      bh_err(err, errsz,
             "%s:%d:%d: not valid JSON: %s (a JSON template must be a JSON document; "
             "placeholders go inside strings: \"{{ after.id }}\")",
             file, l, c, what);
      jv_free(&root);
      goto fail;
    }
    rc = compile_json_value(t, text, &root, file, err, errsz);
    jv_free(&root);
    if (rc) goto fail;
    return t;
  }
  if (compile_string(t, text, len, file, line, col, NULL, OP_TEXT, lit_raw, err, errsz)) goto fail;
  if (mode == TMPL_URL || mode == TMPL_HEADER) {
    /* the literal parts: the first bad character outside placeholders */
    int l = line, c = col;
    for (size_t i = 0; i < len; i++) {
      if (text[i] == '{' && i + 1 < len && text[i + 1] == '{') {
        /* skip the placeholder (it compiled, so its "}}" is there) */
        size_t q = i + 2;
        struct tx *x = tmpl_parse_placeholder(text, len, &q, file, l, c, NULL, err, errsz);
        tmpl_tx_free(x);
        tmpl_advance_pos(text + i, q - i, &l, &c);
        i = q - 1;
        continue;
      }
      unsigned char ch = (unsigned char)text[i];
      int bad = mode == TMPL_URL ? ch <= 0x20 || ch == 0x7f || strchr("\"<>\\^`{|}", ch)
                                 : ch == '\r' || ch == '\n' || ch == 0x7f || (ch < 0x20 && ch != '\t');
      if (bad) {
        bh_err(err, errsz, "%s:%d:%d: a %s must not contain %s", file, l, c,
               mode == TMPL_URL ? "URL" : "header value",
               mode == TMPL_URL ? "spaces, quotes or control characters (percent-encode them)"
                                : "line breaks or control characters");
        goto fail;
      }
      tmpl_advance_pos(text + i, 1, &l, &c);
    }
  }
  return t;
fail:
  tmpl_free(t);
  return NULL;
}

struct tmpl *tmpl_load(enum tmpl_mode mode, const char *path, char *err, size_t errsz)
{
  char ebuf[128];
  FILE *f = fopen(path, "rb");
  if (!f) {
    bh_err(err, errsz, "cannot open template '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
    return NULL;
  }
  struct buf b = BUF_INIT;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    buf_add(&b, chunk, n);
    if (b.len > MAX_TEMPLATE_SIZE) break;
  }
  int bad = ferror(f);
  fclose(f);
  struct tmpl *t = NULL;
  if (bad)
    bh_err(err, errsz, "cannot read template '%s'", path);
  else if (b.len > MAX_TEMPLATE_SIZE)
    bh_err(err, errsz, "template '%s' is larger than %u MiB", path, MAX_TEMPLATE_SIZE >> 20);
  else
    t = tmpl_compile(mode, b.p ? b.p : "", b.len, path, 1, 1, err, errsz);
  buf_free(&b);
  return t;
}

/* ---- rendering ---- */

static void scratch_free(struct scratch *sc)
{
  for (size_t i = 0; i < sc->n; i++)
    free(sc->p[i]);
  free(sc->p);
}

/* Writes text s for the template's mode. */
static void add_text(enum tmpl_mode mode, struct buf *out, const char *s, size_t n)
{
  switch (mode) {
  case TMPL_JSON: buf_add_json_inner(out, s, n); break;
  case TMPL_URL: tmpl_url_encode(out, s, n); break;
  case TMPL_TEXT:
  case TMPL_HEADER: buf_add(out, s, n); break;
  }
}

/* A placeholder that is a plain path, written straight from the event.
 * Returns 0 when it did, -1 when the general way must be taken. */
static int fast_path(const struct tmpl *t, const struct op *o, const struct change *e, struct buf *out)
{
  const struct tx *x = o->x;
  if (x->k != X_PATH) return -1;
  if (x->root == R_EVENT && !x->npath && o->k == OP_VALUE) {
    change_to_json(e, out);
    return 0;
  }
  if ((x->root == R_AFTER || x->root == R_BEFORE || x->root == R_KEY || x->root == R_ROW) && x->npath == 1) {
    const struct column *c = NULL;
    const struct value *v = tmpl_column_value(e, x->root, x->path[0], &c);
    if (o->k == OP_VALUE) {
      if (!v)
        buf_addlit(out, "null");
      else
        value_to_json(e, c, v, out);
      return 0;
    }
    if (!v || v->kind == VAL_NULL || v->kind == VAL_ABSENT) return 0;
    if (v->kind == VAL_STRING || v->kind == VAL_DECIMAL) {
      add_text(t->mode, out, e->arena.p + v->off, v->len);
      return 0;
    }
    if (v->kind == VAL_INT || v->kind == VAL_UINT) {
      value_to_json(e, c, v, out);
      return 0;
    }
  }
  return -1;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_ctx *c, struct buf *out, char *err, size_t errsz)
{
  size_t start = out->len;
  struct rctx r = {.c = c};
  buf_reserve(out, 1); /* out->p exists even when nothing is rendered */
  out->p[out->len] = 0;
  for (size_t i = 0; i < t->nops; i++) {
    const struct op *o = &t->ops[i];
    if (o->k == OP_LIT) {
      buf_add(out, o->lit, o->n);
      continue;
    }
    if (!fast_path(t, o, c->e, out)) continue;
    struct tval v = tmpl_eval(&r, o->x);
    if (o->k == OP_VALUE) {
      tmpl_emit_json(out, &v);
    } else {
      struct tval s = tmpl_as_text(&r, &v);
      add_text(t->mode, out, s.s, s.n);
    }
  }
  scratch_free(&r.sc);
  if (t->mode == TMPL_HEADER) {
    size_t n = out->len - start;
    if (memchr(out->p + start, '\r', n) || memchr(out->p + start, '\n', n) || memchr(out->p + start, 0, n)) {
      out->len = start;
      out->p[start] = 0;
      return bh_err(err, errsz, "the header value would contain a line break (a value holds CR, LF or NUL)");
    }
  }
  return 0;
}
