/* tmpl.c - see tmpl.h. Compiling turns the text into a list of operations:
 * literal bytes to copy, and placeholders, each a small expression tree
 * (literals, paths into the event, filters, ~). Rendering walks the list;
 * a placeholder that is a plain path writes the event's value straight into
 * the output, anything else goes through transient values (struct tval)
 * allocated in a per-render scratch list freed before tmpl_render returns. */
#include "match/tmpl.h"
#include "util/json.h"
#include "deliver/sign.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TEMPLATE_SIZE (4u << 20)
#define MAX_DEPTH 100
#define MAX_CHAIN 100 /* filters and ~ in one placeholder: rendering recurses once per link */

/* ---- values ---- */

enum tk { T_NULL, T_BOOL, T_NUM, T_STR, T_LIST, T_OBJ, T_RAW /* JSON text, parsed when needed */ };

struct tval {
  enum tk k;
  int b;
  const char *s; /* T_NUM: the number's text; T_STR: UTF-8 bytes; T_RAW: JSON text */
  size_t n;
  struct tval *items; /* T_LIST, T_OBJ */
  const char **keys;  /* T_OBJ */
  size_t *keylens;
  size_t len;
};

/* Everything a render allocates, freed at its end. */
struct scratch {
  void **p;
  size_t n, cap;
};

static void *keep(struct scratch *sc, void *p)
{
  if (sc->n == sc->cap) {
    sc->cap = sc->cap ? sc->cap * 2 : 16;
    sc->p = xrealloc(sc->p, sc->cap * sizeof *sc->p);
  }
  sc->p[sc->n++] = p;
  return p;
}

static void *sc_alloc(struct scratch *sc, size_t n) { return keep(sc, xcalloc(1, n ? n : 1)); }

static void scratch_free(struct scratch *sc)
{
  for (size_t i = 0; i < sc->n; i++)
    free(sc->p[i]);
  free(sc->p);
}

/* A tval of the bytes in b, which the scratch list takes. */
static struct tval from_buf(struct scratch *sc, enum tk k, struct buf *b)
{
  size_t n = b->len;
  char *s = b->p ? buf_steal(b) : xstrdup("");
  return (struct tval){.k = k, .s = keep(sc, s), .n = n};
}

static struct tval tnull(void) { return (struct tval){.k = T_NULL}; }
static struct tval tstr(const char *s, size_t n) { return (struct tval){.k = T_STR, .s = s, .n = n}; }

/* ---- expressions ---- */

enum root {
  R_EVENT, R_ID, R_TYPE, R_SCHEMA, R_TABLE, R_TS, R_TS_UNIX, R_POSITION, R_TX, R_KEY, R_BEFORE, R_AFTER, R_ROW,
  R_CHANGED, R_CHANGES, R_SQL, R_KIND, R_THREAD_ID, R_RULE, R_ENDPOINT, R_COUNTS, R_THRESHOLD, R_SAMPLE_KEYS,
  R_USER, R_NOW,
};
static const char *const root_names[] = {
    "event", "id",      "type", "schema",  "table",   "ts",        "ts_unix",   "position",
    "tx",    "key",     "before", "after", "row",     "changed",   "changes",   "sql",
    "kind",  "thread_id", "rule", "endpoint", "counts", "threshold", "sample_keys", "user", "now", NULL};

enum filter {
  F_JSON, F_UPPER, F_LOWER, F_DEFAULT, F_TRUNCATE, F_JOIN, F_BASE64, F_SHA256, F_NUMBER, F_ISO8601, F_KEYS, F_VALUES,
  F_PICK, F_URLENCODE,
};
static const struct {
  const char *name;
  int min, max;
} filters[] = {
    [F_JSON] = {"json", 0, 0},         [F_UPPER] = {"upper", 0, 0},   [F_LOWER] = {"lower", 0, 0},
    [F_DEFAULT] = {"default", 1, 1},   [F_TRUNCATE] = {"truncate", 1, 2}, [F_JOIN] = {"join", 0, 1},
    [F_BASE64] = {"base64", 0, 0},     [F_SHA256] = {"sha256", 0, 0}, [F_NUMBER] = {"number", 0, 0},
    [F_ISO8601] = {"iso8601", 0, 0},   [F_KEYS] = {"keys", 0, 0},     [F_VALUES] = {"values", 0, 1},
    [F_PICK] = {"pick", 1, 1},         [F_URLENCODE] = {"urlencode", 0, 0},
};
#define NFILTERS (sizeof filters / sizeof filters[0])

enum xkind { X_LIT, X_LIST, X_PATH, X_FILTER, X_CONCAT, X_COND };

struct tx {
  enum xkind k;
  struct tval lit; /* X_LIT; its text owned by the node (text) */
  char *text;
  int root;        /* X_PATH */
  char **path;     /* the segments after the root */
  size_t npath;
  int filter;      /* X_FILTER: kids[0] is the input, the rest the arguments */
  struct tx **kids; /* X_FILTER, X_LIST, X_CONCAT (two), X_COND (condition, then, else) */
  size_t nkids;
};

static void tx_free(struct tx *x)
{
  if (!x) return;
  for (size_t i = 0; i < x->npath; i++)
    free(x->path[i]);
  free(x->path);
  for (size_t i = 0; i < x->nkids; i++)
    tx_free(x->kids[i]);
  free(x->kids);
  free(x->text);
  free(x);
}

static void tx_add(struct tx *x, struct tx *kid)
{
  x->kids = xrealloc(x->kids, (x->nkids + 1) * sizeof *x->kids);
  x->kids[x->nkids++] = kid;
}

/* ---- the template ---- */

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
    tx_free(t->ops[i].x);
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

/* ---- the expression parser ---- */

struct parser {
  const char *s; /* the placeholder's text, from just after "{{" */
  size_t n, p;
  const char *file;
  int line, col; /* of s[0] */
  char *err;
  size_t errsz;
  int failed;
  int links;            /* filters and ~ so far */
  const int *colmap;    /* a JSON string with escapes: the file column of each byte */
  size_t base;          /* where s starts in the text colmap describes */
};

__attribute__((format(printf, 3, 4))) static void perr(struct parser *P, size_t at, const char *fmt, ...)
{
  if (P->failed) return;
  P->failed = 1;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int line = P->line, col = P->col;
  if (P->colmap) {
    col = P->colmap[P->base + (at < P->n ? at : P->n)];
  } else {
    for (size_t i = 0; i < at && i < P->n; i++) {
      if (P->s[i] == '\n')
        line++, col = 1;
      else if (((unsigned char)P->s[i] & 0xc0) != 0x80)
        col++;
    }
  }
  bh_err(P->err, P->errsz, "%s:%d:%d: %s", P->file, line, col, msg);
}

static void skip_ws(struct parser *P)
{
  while (P->p < P->n && (P->s[P->p] == ' ' || P->s[P->p] == '\t' || P->s[P->p] == '\n' || P->s[P->p] == '\r'))
    P->p++;
}

static int at(struct parser *P, const char *tok)
{
  skip_ws(P);
  size_t l = strlen(tok);
  return P->p + l <= P->n && !memcmp(P->s + P->p, tok, l);
}

static int is_name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A name, or a `quoted name`; NULL after reporting. */
static char *parse_name(struct parser *P, const char *what)
{
  skip_ws(P);
  size_t start = P->p;
  if (P->p < P->n && P->s[P->p] == '`') {
    const char *end = memchr(P->s + P->p + 1, '`', P->n - P->p - 1);
    if (!end) {
      perr(P, start, "unterminated `name`");
      return NULL;
    }
    size_t len = (size_t)(end - (P->s + P->p + 1));
    char *name = xstrndup(P->s + P->p + 1, len);
    P->p += len + 2;
    return name;
  }
  while (P->p < P->n && is_name_char(P->s[P->p]))
    P->p++;
  if (P->p == start) {
    perr(P, start, "expected %s", what);
    return NULL;
  }
  return xstrndup(P->s + start, P->p - start);
}

static struct tx *parse_string(struct parser *P)
{
  char q = P->s[P->p];
  size_t start = P->p++;
  struct buf b = BUF_INIT;
  for (;;) {
    if (P->p >= P->n) {
      perr(P, start, "unterminated string");
      buf_free(&b);
      return NULL;
    }
    char c = P->s[P->p++];
    if (c == q) break;
    if (c != '\\') {
      buf_addc(&b, c);
      continue;
    }
    char e = P->p < P->n ? P->s[P->p++] : 0;
    switch (e) {
    case 'n': buf_addc(&b, '\n'); break;
    case 'r': buf_addc(&b, '\r'); break;
    case 't': buf_addc(&b, '\t'); break;
    case '\\': case '"': case '\'': buf_addc(&b, e); break;
    case 'u': {
      unsigned long cp = 0;
      int ok = P->p + 4 <= P->n;
      for (int i = 0; ok && i < 4; i++) {
        int h = bh_hexval(P->s[P->p + (size_t)i]);
        ok = h >= 0;
        cp = cp * 16 + (unsigned long)(h < 0 ? 0 : h);
      }
      if (!ok || (cp >= 0xd800 && cp <= 0xdfff)) {
        perr(P, P->p - 2, "invalid \\u escape (four hex digits, not a surrogate)");
        buf_free(&b);
        return NULL;
      }
      P->p += 4;
      buf_add_utf8(&b, cp);
      break;
    }
    default:
      perr(P, P->p - 2, "unknown escape '\\%c' in a string (use \\\\ for a backslash)", e ? e : ' ');
      buf_free(&b);
      return NULL;
    }
  }
  struct tx *x = xcalloc(1, sizeof *x);
  x->k = X_LIT;
  x->lit.n = b.len;
  x->text = b.p ? buf_steal(&b) : xstrdup("");
  x->lit.k = T_STR;
  x->lit.s = x->text;
  return x;
}

static struct tx *parse_cond(struct parser *P, int depth);

static struct tx *parse_primary(struct parser *P, int depth)
{
  skip_ws(P);
  size_t start = P->p;
  if (depth > MAX_DEPTH) {
    perr(P, start, "expression nested too deeply");
    return NULL;
  }
  if (P->p >= P->n || at(P, "}}")) {
    perr(P, start, "expected a value (such as after.status, event or \"text\")");
    return NULL;
  }
  char c = P->s[P->p];
  if (c == '"' || c == '\'') return parse_string(P);
  if (c == '(') {
    P->p++;
    struct tx *x = parse_cond(P, depth + 1);
    if (!x) return NULL;
    if (!at(P, ")")) {
      perr(P, P->p, "expected ')'");
      tx_free(x);
      return NULL;
    }
    P->p++;
    return x;
  }
  if (c == '[') {
    P->p++;
    struct tx *x = xcalloc(1, sizeof *x);
    x->k = X_LIST;
    if (at(P, "]")) {
      P->p++;
      return x;
    }
    for (;;) {
      struct tx *item = parse_cond(P, depth + 1);
      if (!item) {
        tx_free(x);
        return NULL;
      }
      tx_add(x, item);
      if (at(P, ",")) {
        P->p++;
        continue;
      }
      if (at(P, "]")) {
        P->p++;
        return x;
      }
      perr(P, P->p, "expected ',' or ']' in a list");
      tx_free(x);
      return NULL;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    /* a number in JSON's syntax, kept as written */
    size_t p = P->p;
    if (P->s[p] == '-') p++;
    size_t d = p;
    while (p < P->n && P->s[p] >= '0' && P->s[p] <= '9')
      p++;
    int ok = p > d && !(P->s[d] == '0' && p - d > 1);
    if (ok && p < P->n && P->s[p] == '.') {
      size_t f = ++p;
      while (p < P->n && P->s[p] >= '0' && P->s[p] <= '9')
        p++;
      ok = p > f;
    }
    if (ok && p < P->n && (P->s[p] == 'e' || P->s[p] == 'E')) {
      p++;
      if (p < P->n && (P->s[p] == '+' || P->s[p] == '-')) p++;
      size_t f = p;
      while (p < P->n && P->s[p] >= '0' && P->s[p] <= '9')
        p++;
      ok = p > f;
    }
    if (!ok || (p < P->n && is_name_char(P->s[p]))) {
      perr(P, start, "invalid number");
      return NULL;
    }
    struct tx *x = xcalloc(1, sizeof *x);
    x->k = X_LIT;
    x->text = xstrndup(P->s + start, p - start);
    x->lit = (struct tval){.k = T_NUM, .s = x->text, .n = p - start};
    P->p = p;
    return x;
  }
  if (c == '`' || is_name_char(c)) {
    char *name = parse_name(P, "a name");
    if (!name) return NULL;
    struct tx *x = xcalloc(1, sizeof *x);
    if (!strcmp(name, "true") || !strcmp(name, "false") || !strcmp(name, "null")) {
      x->k = X_LIT;
      x->lit = name[0] == 'n' ? tnull() : (struct tval){.k = T_BOOL, .b = name[0] == 't'};
      free(name);
      return x;
    }
    x->k = X_PATH;
    x->root = -1;
    for (int i = 0; root_names[i]; i++)
      if (!strcmp(root_names[i], name)) x->root = i;
    if (x->root < 0) {
      const char *near = bh_nearest(name, root_names);
      if (near)
        perr(P, start, "unknown value '%s'; did you mean '%s'?", name, near);
      else
        perr(P, start, "unknown value '%s' (use event, after.COLUMN, before.COLUMN, key.COLUMN, id, type, "
             "schema, table, ts, changed, changes, sql, rule, ...)", name);
      free(name);
      tx_free(x);
      return NULL;
    }
    free(name);
    /* .member steps, directly after the name */
    while (P->p < P->n && P->s[P->p] == '.') {
      P->p++;
      char *seg = parse_name(P, "a column or member name after '.'");
      if (!seg) {
        tx_free(x);
        return NULL;
      }
      x->path = xrealloc(x->path, (x->npath + 1) * sizeof *x->path);
      x->path[x->npath++] = seg;
    }
    return x;
  }
  perr(P, start, "unexpected '%c'", c);
  return NULL;
}

static struct tx *parse_piped(struct parser *P, int depth)
{
  struct tx *x = parse_primary(P, depth);
  while (x && at(P, "|") && !at(P, "||")) {
    if (++P->links > MAX_CHAIN) {
      perr(P, P->p, "more than %d filters and '~' in one placeholder", MAX_CHAIN);
      tx_free(x);
      return NULL;
    }
    P->p++;
    skip_ws(P);
    size_t fstart = P->p;
    char *name = parse_name(P, "a filter name after '|'");
    if (!name) {
      tx_free(x);
      return NULL;
    }
    int f = -1;
    for (size_t i = 0; i < NFILTERS; i++)
      if (!strcmp(filters[i].name, name)) f = (int)i;
    if (f < 0) {
      const char *names[NFILTERS + 1];
      for (size_t i = 0; i < NFILTERS; i++)
        names[i] = filters[i].name;
      names[NFILTERS] = NULL;
      const char *near = bh_nearest(name, names);
      if (near)
        perr(P, fstart, "unknown filter '%s'; did you mean '%s'?", name, near);
      else
        perr(P, fstart, "unknown filter '%s' (json, upper, lower, default, truncate, join, base64, sha256, "
             "number, iso8601, keys, values, pick, urlencode)", name);
      free(name);
      tx_free(x);
      return NULL;
    }
    free(name);
    struct tx *call = xcalloc(1, sizeof *call);
    call->k = X_FILTER;
    call->filter = f;
    tx_add(call, x);
    x = call;
    if (P->p < P->n && P->s[P->p] == '(') {
      P->p++;
      if (!at(P, ")")) {
        for (;;) {
          struct tx *arg = parse_cond(P, depth + 1);
          if (!arg) {
            tx_free(x);
            return NULL;
          }
          tx_add(call, arg);
          if (at(P, ",")) {
            P->p++;
            continue;
          }
          break;
        }
      }
      if (!at(P, ")")) {
        perr(P, P->p, "expected ',' or ')' after an argument of %s", filters[f].name);
        tx_free(x);
        return NULL;
      }
      P->p++;
    }
    int nargs = (int)call->nkids - 1;
    if (nargs < filters[f].min || nargs > filters[f].max) {
      if (filters[f].min == filters[f].max)
        perr(P, fstart, "filter %s takes %d argument%s, not %d", filters[f].name, filters[f].min,
             filters[f].min == 1 ? "" : "s", nargs);
      else
        perr(P, fstart, "filter %s takes %d to %d arguments, not %d", filters[f].name, filters[f].min,
             filters[f].max, nargs);
      tx_free(x);
      return NULL;
    }
    if (f == F_TRUNCATE) {
      const struct tx *n = call->kids[1];
      int ok = n->k == X_LIT && n->lit.k == T_NUM && strspn(n->lit.s, "0123456789") == n->lit.n && n->lit.n < 10;
      if (!ok) {
        perr(P, fstart, "truncate takes a whole number of characters: truncate(80)");
        tx_free(x);
        return NULL;
      }
    }
  }
  return x;
}

static struct tx *parse_concat(struct parser *P, int depth)
{
  struct tx *x = parse_piped(P, depth);
  while (x && at(P, "~")) {
    if (++P->links > MAX_CHAIN) {
      perr(P, P->p, "more than %d filters and '~' in one placeholder", MAX_CHAIN);
      tx_free(x);
      return NULL;
    }
    P->p++;
    struct tx *r = parse_piped(P, depth);
    if (!r) {
      tx_free(x);
      return NULL;
    }
    struct tx *c = xcalloc(1, sizeof *c);
    c->k = X_CONCAT;
    tx_add(c, x);
    tx_add(c, r);
    x = c;
  }
  return x;
}

/* c ? a : b, the loosest: a chain of them nests to the right, each step
 * one level deeper. */
static struct tx *parse_cond(struct parser *P, int depth)
{
  struct tx *x = parse_concat(P, depth);
  if (!x || !at(P, "?")) return x;
  struct tx *c = xcalloc(1, sizeof *c);
  c->k = X_COND;
  tx_add(c, x);
  P->p++;
  struct tx *a = parse_cond(P, depth + 1);
  if (!a) {
    tx_free(c);
    return NULL;
  }
  tx_add(c, a);
  if (!at(P, ":")) {
    perr(P, P->p, "expected ':' after the value taken when the condition holds (c ? a : b)");
    tx_free(c);
    return NULL;
  }
  P->p++;
  struct tx *b = parse_cond(P, depth + 1);
  if (!b) {
    tx_free(c);
    return NULL;
  }
  tx_add(c, b);
  return c;
}

/* Parses the placeholder starting at s[*pos] (just after "{{") up to its
 * "}}"; *pos moves past the "}}". */
static struct tx *parse_placeholder(const char *s, size_t n, size_t *pos, const char *file, int line, int col,
                                    const int *colmap, char *err, size_t errsz)
{
  struct parser P = {.s = s + *pos, .n = n - *pos, .file = file, .line = line, .col = col, .err = err,
                     .errsz = errsz, .colmap = colmap, .base = *pos};
  struct tx *x = parse_cond(&P, 0);
  if (x && !at(&P, "}}")) {
    if (P.p >= P.n)
      perr(&P, 0, "'{{' without its closing '}}'");
    else
      perr(&P, P.p, "unexpected '%c' in a placeholder (expected '}}', '|', '~' or '?')", P.s[P.p]);
    tx_free(x);
    x = NULL;
  }
  if (x) *pos += P.p + 2;
  return x;
}

/* Where byte off of text starts, from the position of text[0]. */
static void advance_pos(const char *text, size_t off, int *line, int *col)
{
  for (size_t i = 0; i < off; i++) {
    if (text[i] == '\n')
      (*line)++, *col = 1;
    else if (((unsigned char)text[i] & 0xc0) != 0x80)
      (*col)++;
  }
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
    if (!colmap) advance_pos(s, end + 2, &l, &c); /* with a map, perr finds the column */
    size_t q = end + 2;
    struct tx *x = parse_placeholder(s, n, &q, file, l, c, colmap, err, errsz);
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

static void lit_raw(struct tmpl *t, const char *s, size_t n) { add_lit(t, s, n); }

/* Is s exactly one placeholder, "{{ x }}", with nothing around it? */
static int single_placeholder(const char *s, size_t n)
{
  if (n < 4 || memcmp(s, "{{", 2) || memcmp(s + n - 2, "}}", 2)) return 0;
  /* the first "}}" outside quotes must be the last one */
  char q = 0;
  for (size_t i = 2; i + 1 < n; i++) {
    if (q) {
      if (s[i] == '\\' && q != '`') i++;
      else if (s[i] == q) q = 0;
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
static int compile_json_string(struct tmpl *t, const char *text, size_t pos, const char *s, size_t n, int is_key,
                               const char *file, char *err, size_t errsz)
{
  int line, col;
  json_line_col(text, pos, &line, &col);
  int *map = json_colmap(text, pos, col, n);
  int rc = 0;
  if (!is_key && single_placeholder(s, n)) {
    size_t q = 2;
    struct tx *x = parse_placeholder(s, n, &q, file, line, col + 3, map, err, errsz);
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

static int compile_json_value(struct tmpl *t, const char *text, const struct jv *v, const char *file, char *err,
                              size_t errsz)
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
        if (compile_json_string(t, text, v->keypos[i], v->keys[i], v->keylens[i], 1, file, err, errsz)) return -1;
        add_lit(t, ":", 1);
      }
      if (compile_json_value(t, text, &v->kids[i], file, err, errsz)) return -1;
    }
    add_lit(t, v->k == J_ARR ? "]" : "}", 1);
    return 0;
  }
  return 0;
}

struct tmpl *tmpl_compile(enum tmpl_mode mode, const char *text, size_t len, const char *file, int line, int col,
                          char *err, size_t errsz)
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
      bh_err(err, errsz, "%s:%d:%d: not valid JSON: %s (a JSON template must be a JSON document; "
             "placeholders go inside strings: \"{{ after.id }}\")", file, l, c, what);
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
        struct tx *x = parse_placeholder(text, len, &q, file, l, c, NULL, err, errsz);
        tx_free(x);
        advance_pos(text + i, q - i, &l, &c);
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
      advance_pos(text + i, 1, &l, &c);
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

/* ---- evaluation ---- */

struct rctx {
  const struct tmpl_ctx *c;
  struct scratch sc;
};

static int column_index(const struct table *t, const char *name)
{
  for (uint32_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return (int)i;
  return -1;
}

/* The image a root reads columns from, or NULL. */
static const struct value *image_of(const struct change *e, int root)
{
  if (!e->table || e->type == EVENT_STATEMENT || e->type == EVENT_ALERT) return NULL;
  switch (root) {
  case R_BEFORE: return e->type == EVENT_UPDATE || e->type == EVENT_DELETE ? e->before : NULL;
  case R_AFTER: return e->type != EVENT_DELETE ? e->after : NULL;
  case R_ROW:
  case R_KEY: return e->type == EVENT_DELETE ? e->before : e->after;
  }
  return NULL;
}

/* The value of column name under root (before, after, row, key), or NULL
 * when there is none; *col gets the column. */
static const struct value *column_value(const struct change *e, int root, const char *name, const struct column **col)
{
  const struct value *img = image_of(e, root);
  if (!img) return NULL;
  int i = column_index(e->table, name);
  if (i < 0) return NULL;
  if (root == R_KEY) {
    if (!e->table->cols[i].in_pk) return NULL;
    if (img[i].kind == VAL_ABSENT && e->type == EVENT_UPDATE) img = e->before;
  }
  *col = &e->table->cols[i];
  return &img[i];
}

static struct tval raw_of(struct rctx *r, void (*fn)(const struct change *, struct buf *))
{
  struct buf b = BUF_INIT;
  fn(r->c->e, &b);
  return from_buf(&r->sc, T_RAW, &b);
}

static struct tval value_tval(struct rctx *r, const struct change *e, const struct column *c, const struct value *v)
{
  switch (v->kind) {
  case VAL_ABSENT:
  case VAL_NULL: return tnull();
  case VAL_DECIMAL:
  case VAL_STRING: return tstr(e->arena.p + v->off, v->len);
  default: {
    struct buf b = BUF_INIT;
    value_to_json(e, c, v, &b);
    enum tk k = v->kind == VAL_INT || v->kind == VAL_UINT || v->kind == VAL_BIT ? T_NUM : T_RAW;
    if ((v->kind == VAL_FLOAT || v->kind == VAL_DOUBLE) && b.p && b.p[0] != 'n') k = T_NUM;
    return from_buf(&r->sc, k, &b);
  }
  }
}

static void image_json(const struct change *e, int root, struct buf *out)
{
  const struct value *img = image_of(e, root);
  if (root == R_KEY)
    change_key_to_json(e, out);
  else if (img)
    change_image_to_json(e, img, out);
  else
    buf_addlit(out, "null");
}

/* "col: before → after" for every changed column of an update. */
static struct tval changes_of(struct rctx *r, const struct change *e)
{
  if (e->type != EVENT_UPDATE || !e->table) return tnull();
  const struct table *t = e->table;
  struct tval list = {.k = T_LIST};
  list.items = sc_alloc(&r->sc, t->ncols * sizeof *list.items);
  struct buf line = BUF_INIT, tmp = BUF_INIT;
  for (uint32_t i = 0; i < t->ncols; i++) {
    if (!change_column_changed(e, i)) continue;
    buf_reset(&line);
    buf_adds(&line, t->cols[i].name);
    buf_addlit(&line, ": ");
    for (int side = 0; side < 2; side++) {
      const struct value *v = side ? &e->after[i] : &e->before[i];
      if (side) buf_addlit(&line, " \xe2\x86\x92 ");
      if (v->kind == VAL_NULL || v->kind == VAL_ABSENT) {
        buf_adds(&line, v->kind == VAL_NULL ? "NULL" : "?");
      } else if (v->kind == VAL_STRING || v->kind == VAL_DECIMAL) {
        buf_add(&line, e->arena.p + v->off, v->len);
      } else {
        buf_reset(&tmp);
        value_to_json(e, &t->cols[i], v, &tmp);
        if (tmp.len >= 2 && tmp.p[0] == '"') /* an ENUM label, base64 bytes */
          buf_add(&line, tmp.p + 1, tmp.len - 2);
        else
          buf_add(&line, tmp.p, tmp.len);
      }
    }
    list.items[list.len++] = from_buf(&r->sc, T_STR, &line);
    line = (struct buf)BUF_INIT;
  }
  buf_free(&tmp);
  return list;
}

static struct tval eval(struct rctx *r, const struct tx *x);

/* A T_RAW value parsed into lists, objects and scalars. */
static struct tval from_jv(struct rctx *r, const struct jv *v)
{
  switch (v->k) {
  case J_NULL: return tnull();
  case J_TRUE: return (struct tval){.k = T_BOOL, .b = 1};
  case J_FALSE: return (struct tval){.k = T_BOOL, .b = 0};
  case J_NUM: return (struct tval){.k = T_NUM, .s = keep(&r->sc, xstrndup(v->s, v->n)), .n = v->n};
  case J_STR: {
    char *s = xmalloc(v->n + 1);
    memcpy(s, v->s, v->n + 1);
    return tstr(keep(&r->sc, s), v->n);
  }
  case J_ARR:
  case J_OBJ: {
    struct tval t = {.k = v->k == J_ARR ? T_LIST : T_OBJ, .len = v->nkids};
    t.items = sc_alloc(&r->sc, v->nkids * sizeof *t.items);
    if (v->k == J_OBJ) {
      t.keys = sc_alloc(&r->sc, v->nkids * sizeof *t.keys);
      t.keylens = sc_alloc(&r->sc, v->nkids * sizeof *t.keylens);
    }
    for (size_t i = 0; i < v->nkids; i++) {
      t.items[i] = from_jv(r, &v->kids[i]);
      if (v->k == J_OBJ) {
        char *k = xmalloc(v->keylens[i] + 1);
        memcpy(k, v->keys[i], v->keylens[i] + 1);
        t.keys[i] = keep(&r->sc, k);
        t.keylens[i] = v->keylens[i];
      }
    }
    return t;
  }
  }
  return tnull();
}

static struct tval norm(struct rctx *r, struct tval v)
{
  if (v.k != T_RAW) return v;
  struct jv j;
  char what[64];
  size_t pos = 0;
  struct tval out = tnull();
  if (!json_parse_value(v.s, v.n, &pos, &j, what, sizeof what)) out = from_jv(r, &j);
  jv_free(&j);
  return out;
}

static void emit_json(struct buf *out, const struct tval *v)
{
  switch (v->k) {
  case T_NULL: buf_addlit(out, "null"); break;
  case T_BOOL: v->b ? buf_addlit(out, "true") : buf_addlit(out, "false"); break;
  case T_NUM:
  case T_RAW: buf_add(out, v->s, v->n); break;
  case T_STR: buf_add_json_str(out, v->s, v->n); break;
  case T_LIST:
  case T_OBJ:
    buf_addc(out, v->k == T_LIST ? '[' : '{');
    for (size_t i = 0; i < v->len; i++) {
      if (i) buf_addc(out, ',');
      if (v->k == T_OBJ) {
        buf_add_json_str(out, v->keys[i], v->keylens[i]);
        buf_addc(out, ':');
      }
      emit_json(out, &v->items[i]);
    }
    buf_addc(out, v->k == T_LIST ? ']' : '}');
    break;
  }
}

/* The text of a value (tmpl.h: "As text"), appended to out. */
static void text_of(struct rctx *r, const struct tval *v, struct buf *out)
{
  switch (v->k) {
  case T_NULL: break;
  case T_STR: buf_add(out, v->s, v->n); break;
  case T_RAW:
    if (v->n && v->s[0] == '"') {
      struct tval s = norm(r, *v);
      buf_add(out, s.s, s.n);
      break;
    }
    buf_add(out, v->s, v->n);
    break;
  default: emit_json(out, v);
  }
}

static struct tval as_text(struct rctx *r, const struct tval *v)
{
  if (v->k == T_STR) return *v;
  struct buf b = BUF_INIT;
  text_of(r, v, &b);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval member(struct rctx *r, struct tval v, const char *name)
{
  v = norm(r, v);
  if (v.k == T_OBJ) {
    for (size_t i = 0; i < v.len; i++)
      if (v.keylens[i] == strlen(name) && !memcmp(v.keys[i], name, v.keylens[i])) return v.items[i];
  } else if (v.k == T_LIST && name[0] >= '0' && name[0] <= '9' && strlen(name) < 10) {
    size_t i = (size_t)strtoul(name, NULL, 10);
    if (i < v.len) return v.items[i];
  }
  return tnull();
}

static struct tval eval_root(struct rctx *r, const struct tx *x, size_t *used)
{
  const struct change *e = r->c->e;
  struct buf b = BUF_INIT;
  *used = 0;
  switch (x->root) {
  case R_EVENT: return raw_of(r, change_to_json);
  case R_ID: change_id(e, &b); return from_buf(&r->sc, T_STR, &b);
  case R_TYPE: return tstr(change_type_name(e->type), strlen(change_type_name(e->type)));
  case R_SCHEMA:
    if (e->table) return tstr(e->table->schema, strlen(e->table->schema));
    if (e->type == EVENT_STATEMENT && e->schema_len) return tstr(e->arena.p + e->schema_off, e->schema_len);
    return tnull();
  case R_TABLE: return e->table ? tstr(e->table->name, strlen(e->table->name)) : tnull();
  case R_TS: {
    change_ts_to_json(e->ts, &b);
    struct tval t = from_buf(&r->sc, T_STR, &b);
    t.s++, t.n -= 2; /* without the quotes */
    return t;
  }
  case R_TS_UNIX: buf_add_u64(&b, e->ts); return from_buf(&r->sc, T_NUM, &b);
  case R_POSITION:
    buf_addlit(&b, "{\"file\":");
    buf_add_json_str(&b, e->position.file, strlen(e->position.file));
    buf_addlit(&b, ",\"pos\":");
    buf_add_u64(&b, e->position.pos);
    if (e->position.gtid[0]) {
      buf_addlit(&b, ",\"gtid\":");
      buf_add_json_str(&b, e->position.gtid, strlen(e->position.gtid));
    }
    buf_addc(&b, '}');
    return from_buf(&r->sc, T_RAW, &b);
  case R_TX:
    buf_addlit(&b, "{\"index\":");
    buf_add_u64(&b, e->tx_index);
    buf_addc(&b, '}');
    return from_buf(&r->sc, T_RAW, &b);
  case R_KEY:
  case R_BEFORE:
  case R_AFTER:
  case R_ROW:
    if (x->npath) {
      const struct column *c = NULL;
      const struct value *v = column_value(e, x->root, x->path[0], &c);
      *used = 1;
      return v ? value_tval(r, e, c, v) : tnull();
    }
    if (!image_of(e, x->root) || (x->root == R_KEY && !e->table->npk)) return tnull();
    image_json(e, x->root, &b);
    return from_buf(&r->sc, T_RAW, &b);
  case R_CHANGED: return e->type == EVENT_UPDATE ? raw_of(r, change_changed_to_json) : tnull();
  case R_CHANGES: return changes_of(r, e);
  case R_SQL: return e->sql ? tstr(e->sql->s, e->sql->len) : tnull();
  case R_KIND:
    return e->type == EVENT_STATEMENT ? tstr(statement_kind_name(e->kind), strlen(statement_kind_name(e->kind)))
                                      : tnull();
  case R_THREAD_ID:
    if (e->type != EVENT_STATEMENT) return tnull();
    buf_add_u64(&b, e->thread_id);
    return from_buf(&r->sc, T_NUM, &b);
  case R_USER: {
    size_t ul;
    const char *user = change_user(e, &ul);
    return user ? tstr(user, ul) : tnull();
  }
  case R_NOW:
    buf_printf(&b, "%lld", (long long)(r->c->now ? r->c->now : (int64_t)time(NULL)));
    return from_buf(&r->sc, T_NUM, &b);
  case R_RULE: return r->c->rule ? tstr(r->c->rule, strlen(r->c->rule)) : tnull();
  case R_ENDPOINT: return r->c->endpoint ? tstr(r->c->endpoint, strlen(r->c->endpoint)) : tnull();
  case R_COUNTS:
    if (!e->alert) return tnull();
    buf_addlit(&b, "{\"insert\":");
    buf_add_u64(&b, e->alert->inserts);
    buf_addlit(&b, ",\"update\":");
    buf_add_u64(&b, e->alert->updates);
    buf_addlit(&b, ",\"delete\":");
    buf_add_u64(&b, e->alert->deletes);
    buf_addc(&b, '}');
    return from_buf(&r->sc, T_RAW, &b);
  case R_THRESHOLD:
    if (!e->alert) return tnull();
    buf_add_u64(&b, e->alert->threshold);
    return from_buf(&r->sc, T_NUM, &b);
  case R_SAMPLE_KEYS:
    if (!e->alert || !e->alert->sample_keys) return tnull();
    return (struct tval){.k = T_RAW, .s = e->alert->sample_keys, .n = strlen(e->alert->sample_keys)};
  }
  return tnull();
}

/* Is s (n bytes) a number in JSON's syntax? */
static int is_json_number(const char *s, size_t n)
{
  size_t p = 0;
  if (p < n && s[p] == '-') p++;
  size_t d = p;
  while (p < n && s[p] >= '0' && s[p] <= '9')
    p++;
  if (p == d || (s[d] == '0' && p - d > 1)) return 0;
  if (p < n && s[p] == '.') {
    size_t f = ++p;
    while (p < n && s[p] >= '0' && s[p] <= '9')
      p++;
    if (p == f) return 0;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    p++;
    if (p < n && (s[p] == '+' || s[p] == '-')) p++;
    size_t f = p;
    while (p < n && s[p] >= '0' && s[p] <= '9')
      p++;
    if (p == f) return 0;
  }
  return p == n;
}

static void add_url_encoded(struct buf *out, const char *s, size_t n);

/* Whether v counts as true for c ? a : b (tmpl.h). */
static int truthy(struct rctx *r, struct tval v)
{
  v = norm(r, v);
  switch (v.k) {
  case T_NULL: return 0;
  case T_BOOL: return v.b;
  case T_NUM:
    /* zero when no digit before the exponent is: exact for any size */
    for (size_t i = 0; i < v.n && v.s[i] != 'e' && v.s[i] != 'E'; i++)
      if (v.s[i] >= '1' && v.s[i] <= '9') return 1;
    return 0;
  case T_STR: return v.n > 0;
  case T_LIST:
  case T_OBJ: return v.len > 0;
  case T_RAW: return 1; /* norm leaves none */
  }
  return 0;
}

static struct tval apply_filter(struct rctx *r, int f, struct tval in, const struct tx *call)
{
  struct buf b = BUF_INIT;
  switch (f) {
  case F_JSON:
    emit_json(&b, &in);
    return from_buf(&r->sc, T_STR, &b);
  case F_UPPER:
  case F_LOWER: {
    if (in.k == T_NULL) return in;
    struct tval s = as_text(r, &in);
    buf_add_case(&b, s.s, s.n, f == F_UPPER);
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_DEFAULT: return in.k == T_NULL ? eval(r, call->kids[1]) : in;
  case F_TRUNCATE: {
    if (in.k == T_NULL) return in;
    struct tval s = as_text(r, &in);
    size_t max = (size_t)strtoul(call->kids[1]->lit.s, NULL, 10), chars = 0, i = 0;
    while (i < s.n && chars < max) {
      size_t l;
      utf8_next((const unsigned char *)s.s + i, s.n - i, &l);
      i += l;
      chars++;
    }
    if (i == s.n) return s;
    buf_add(&b, s.s, i);
    if (call->nkids > 2) {
      struct tval end = eval(r, call->kids[2]);
      text_of(r, &end, &b);
    }
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_JOIN: {
    in = norm(r, in);
    if (in.k != T_LIST) return in.k == T_NULL ? in : as_text(r, &in);
    struct tval sep = call->nkids > 1 ? eval(r, call->kids[1]) : tstr(",", 1);
    for (size_t i = 0; i < in.len; i++) {
      if (i) text_of(r, &sep, &b);
      text_of(r, &in.items[i], &b);
    }
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_BASE64: {
    if (in.k == T_NULL) return in;
    struct tval s = as_text(r, &in);
    buf_add_base64(&b, s.s, s.n);
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_SHA256: {
    if (in.k == T_NULL) return in;
    struct tval s = as_text(r, &in);
    sign_sha256_hex(s.s, s.n, &b);
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_NUMBER:
    in = norm(r, in);
    if (in.k == T_NUM) return in;
    if (in.k == T_BOOL) return (struct tval){.k = T_NUM, .s = in.b ? "1" : "0", .n = 1};
    if (in.k == T_STR && is_json_number(in.s, in.n)) return (struct tval){.k = T_NUM, .s = in.s, .n = in.n};
    return tnull();
  case F_ISO8601: {
    in = norm(r, in);
    struct tval s = in.k == T_STR || in.k == T_NUM ? in : tnull();
    if (s.k == T_NULL || !is_json_number(s.s, s.n)) return in;
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(s.n < 63 ? s.n : 63), s.s);
    double secs = strtod(num, NULL);
    if (!(secs >= -62135596800.0 && secs < 253402300800.0)) return tnull(); /* years 1 to 9999 */
    time_t tt = (time_t)floor(secs); /* the second it falls in, before 1970 too */
    struct tm tm;
    gmtime_r(&tt, &tm);
    buf_printf(&b, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec);
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_KEYS: {
    in = norm(r, in);
    if (in.k != T_OBJ) return tnull();
    struct tval l = {.k = T_LIST, .len = in.len};
    l.items = sc_alloc(&r->sc, in.len * sizeof *l.items);
    for (size_t i = 0; i < in.len; i++)
      l.items[i] = tstr(in.keys[i], in.keylens[i]);
    return l;
  }
  case F_VALUES: {
    in = norm(r, in);
    if (in.k != T_OBJ) return tnull();
    if (call->nkids < 2) {
      struct tval l = {.k = T_LIST, .len = in.len, .items = in.items};
      return l;
    }
    /* the named members, in the order of the names */
    struct tval one = norm(r, eval(r, call->kids[1])), names = one;
    if (one.k == T_STR) names = (struct tval){.k = T_LIST, .len = 1, .items = &one};
    if (names.k != T_LIST) return tnull();
    struct tval l = {.k = T_LIST, .len = names.len};
    l.items = sc_alloc(&r->sc, names.len * sizeof *l.items);
    for (size_t j = 0; j < names.len; j++) {
      l.items[j] = tnull();
      struct tval nm = names.items[j];
      if (nm.k != T_STR) continue;
      for (size_t i = 0; i < in.len; i++)
        if (nm.n == in.keylens[i] && !memcmp(nm.s, in.keys[i], nm.n)) {
          l.items[j] = in.items[i];
          break;
        }
    }
    return l;
  }
  case F_URLENCODE: {
    in = norm(r, in);
    if (in.k == T_NULL) return in;
    if (in.k == T_LIST) {
      struct tval l = {.k = T_LIST, .len = in.len};
      l.items = sc_alloc(&r->sc, in.len * sizeof *l.items);
      for (size_t i = 0; i < in.len; i++) {
        struct tval s = as_text(r, &in.items[i]);
        struct buf e = BUF_INIT;
        add_url_encoded(&e, s.s, s.n);
        l.items[i] = from_buf(&r->sc, T_STR, &e);
      }
      return l;
    }
    struct tval s = as_text(r, &in);
    add_url_encoded(&b, s.s, s.n);
    return from_buf(&r->sc, T_STR, &b);
  }
  case F_PICK: {
    in = norm(r, in);
    struct tval names = norm(r, eval(r, call->kids[1]));
    if (in.k != T_OBJ) return tnull();
    struct tval o = {.k = T_OBJ};
    o.items = sc_alloc(&r->sc, in.len * sizeof *o.items);
    o.keys = sc_alloc(&r->sc, in.len * sizeof *o.keys);
    o.keylens = sc_alloc(&r->sc, in.len * sizeof *o.keylens);
    for (size_t i = 0; i < in.len; i++) {
      int wanted = 0;
      for (size_t j = 0; names.k == T_LIST && j < names.len && !wanted; j++) {
        struct tval nm = names.items[j];
        wanted = nm.k == T_STR && nm.n == in.keylens[i] && !memcmp(nm.s, in.keys[i], nm.n);
      }
      if (names.k == T_STR) wanted = names.n == in.keylens[i] && !memcmp(names.s, in.keys[i], names.n);
      if (!wanted) continue;
      o.keys[o.len] = in.keys[i];
      o.keylens[o.len] = in.keylens[i];
      o.items[o.len++] = in.items[i];
    }
    return o;
  }
  }
  return tnull();
}

static struct tval eval(struct rctx *r, const struct tx *x)
{
  switch (x->k) {
  case X_LIT: return x->lit;
  case X_LIST: {
    struct tval l = {.k = T_LIST, .len = x->nkids};
    l.items = sc_alloc(&r->sc, x->nkids * sizeof *l.items);
    for (size_t i = 0; i < x->nkids; i++)
      l.items[i] = eval(r, x->kids[i]);
    return l;
  }
  case X_PATH: {
    size_t used;
    struct tval v = eval_root(r, x, &used);
    for (size_t i = used; i < x->npath; i++)
      v = member(r, v, x->path[i]);
    return v;
  }
  case X_FILTER: return apply_filter(r, x->filter, eval(r, x->kids[0]), x);
  case X_COND: return eval(r, x->kids[truthy(r, eval(r, x->kids[0])) ? 1 : 2]);
  case X_CONCAT: {
    struct tval a = eval(r, x->kids[0]), b = eval(r, x->kids[1]);
    struct buf out = BUF_INIT;
    text_of(r, &a, &out);
    text_of(r, &b, &out);
    return from_buf(&r->sc, T_STR, &out);
  }
  }
  return tnull();
}

/* ---- rendering ---- */

static void add_url_encoded(struct buf *out, const char *s, size_t n)
{
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      buf_addc(out, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      buf_add(out, e, 3);
    }
  }
}

/* Writes text s for the template's mode. */
static void add_text(enum tmpl_mode mode, struct buf *out, const char *s, size_t n)
{
  switch (mode) {
  case TMPL_JSON: buf_add_json_inner(out, s, n); break;
  case TMPL_URL: add_url_encoded(out, s, n); break;
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
    const struct value *v = column_value(e, x->root, x->path[0], &c);
    if (o->k == OP_VALUE) {
      if (!v) buf_addlit(out, "null");
      else value_to_json(e, c, v, out);
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
    struct tval v = eval(&r, o->x);
    if (o->k == OP_VALUE) {
      emit_json(out, &v);
    } else {
      struct tval s = as_text(&r, &v);
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
