/* tmpl_parse.c - the expressions inside a template's placeholders (tmpl.h
 * lists them): a recursive-descent parser, one function per precedence
 * level (c ? a : b, then ~, then filters), that builds the tree of
 * tmpl_impl.h. Messages carry the file:line:col of the offending byte, in
 * the file (a JSON template's strings map their escapes back to columns)
 * and suggest the name meant. */
#include "match/tmpl_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 100
#define MAX_CHAIN 100 /* filters and ~ in one placeholder: rendering recurses once per link */

/* The names of enum root, in its order. */
static const char *const root_names[] = {
    "event", "id",       "type",   "schema",    "table",       "ts",      "ts_unix", "position", "tx",
    "key",   "before",   "after",  "row",       "changed",     "changes", "sql",     "kind",     "thread_id",
    "rule",  "endpoint", "counts", "threshold", "sample_keys", "user",    "now",     NULL};

void tmpl_tx_free(struct tx *x)
{
  if (!x) return;
  for (size_t i = 0; i < x->npath; i++)
    free(x->path[i]);
  free(x->path);
  for (size_t i = 0; i < x->nkids; i++)
    tmpl_tx_free(x->kids[i]);
  free(x->kids);
  free(x->text);
  free(x);
}

static void tx_add(struct tx *x, struct tx *kid)
{
  x->kids = xrealloc(x->kids, (x->nkids + 1) * sizeof *x->kids);
  x->kids[x->nkids++] = kid;
}

void tmpl_advance_pos(const char *text, size_t off, int *line, int *col)
{
  for (size_t i = 0; i < off; i++) {
    if (text[i] == '\n')
      (*line)++, *col = 1;
    else if (((unsigned char)text[i] & 0xc0) != 0x80)
      (*col)++;
  }
}

/* One placeholder being parsed. */
struct parser {
  const char *s; /* the placeholder's text, from just after "{{" */
  size_t n, p;
  const char *file;
  int line, col; /* of s[0] */
  char *err;
  size_t errsz;
  int failed;
  int links;         /* filters and ~ so far */
  const int *colmap; /* a JSON string with escapes: the file column of each byte */
  size_t base;       /* where s starts in the text colmap describes */
};

/* "file:line:col: message" for the placeholder's byte at, once: the first
 * error is the one reported. */
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
  if (P->colmap)
    col = P->colmap[P->base + (at < P->n ? at : P->n)];
  else
    tmpl_advance_pos(P->s, at < P->n ? at : P->n, &line, &col);
  bh_err(P->err, P->errsz, "%s:%d:%d: %s", P->file, line, col, msg);
}

/* "unknown WHAT 'NAME'", with the name meant when near is not NULL, else
 * with what there is. */
static void unknown(struct parser *P, size_t at, const char *what, const char *name, const char *near,
                    const char *known)
{
  if (near)
    perr(P, at, "unknown %s '%s'; did you mean '%s'?", what, name, near);
  else
    perr(P, at, "unknown %s '%s' (%s)", what, name, known);
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
    case '\\':
    case '"':
    case '\'': buf_addc(&b, e); break;
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

/* Items separated by ',' up to close (a list's ']', a filter's ')'), added
 * to x; the opening bracket is behind. Returns 0 past close, -1 after an
 * error, 1 when something else follows an item (at P->p: the caller says
 * what it expected). */
static int parse_items(struct parser *P, struct tx *x, const char *close, int depth)
{
  if (at(P, close)) {
    P->p++;
    return 0;
  }
  for (;;) {
    struct tx *item = parse_cond(P, depth + 1);
    if (!item) return -1;
    tx_add(x, item);
    if (at(P, ",")) {
      P->p++;
      continue;
    }
    if (!at(P, close)) return 1;
    P->p++;
    return 0;
  }
}

size_t tmpl_number_len(const char *s, size_t n)
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
  return p;
}

/* A number in JSON's syntax, kept as written. */
static struct tx *parse_number(struct parser *P)
{
  size_t start = P->p, len = tmpl_number_len(P->s + start, P->n - start), p = start + len;
  if (!len || (p < P->n && is_name_char(P->s[p]))) {
    perr(P, start, "invalid number");
    return NULL;
  }
  struct tx *x = xcalloc(1, sizeof *x);
  x->k = X_LIT;
  x->text = xstrndup(P->s + start, len);
  x->lit = (struct tval){.k = T_NUM, .s = x->text, .n = len};
  P->p = p;
  return x;
}

/* true, false, null, or a path: a root name (tmpl.h's values) and its
 * .member steps. */
static struct tx *parse_path(struct parser *P)
{
  size_t start = P->p;
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
    unknown(
        P, start, "value", name, bh_nearest(name, root_names),
        "use event, after.COLUMN, before.COLUMN, key.COLUMN, id, type, schema, table, ts, changed, changes, "
        "sql, rule, ...");
    free(name);
    tmpl_tx_free(x);
    return NULL;
  }
  free(name);
  /* .member steps, directly after the name */
  while (P->p < P->n && P->s[P->p] == '.') {
    P->p++;
    char *seg = parse_name(P, "a column or member name after '.'");
    if (!seg) {
      tmpl_tx_free(x);
      return NULL;
    }
    x->path = xrealloc(x->path, (x->npath + 1) * sizeof *x->path);
    x->path[x->npath++] = seg;
  }
  return x;
}

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
      tmpl_tx_free(x);
      return NULL;
    }
    P->p++;
    return x;
  }
  if (c == '[') {
    P->p++;
    struct tx *x = xcalloc(1, sizeof *x);
    x->k = X_LIST;
    int rc = parse_items(P, x, "]", depth);
    if (rc > 0) perr(P, P->p, "expected ',' or ']' in a list");
    if (!rc) return x;
    tmpl_tx_free(x);
    return NULL;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return parse_number(P);
  if (c == '`' || is_name_char(c)) return parse_path(P);
  perr(P, start, "unexpected '%c'", c);
  return NULL;
}

/* x | NAME or x | NAME(ARGS): the '|' is behind. Returns the filter's node
 * (which took x), or NULL after an error (x freed). */
static struct tx *parse_filter(struct parser *P, struct tx *x, int depth)
{
  skip_ws(P);
  size_t fstart = P->p;
  char *name = parse_name(P, "a filter name after '|'");
  if (!name) {
    tmpl_tx_free(x);
    return NULL;
  }
  const struct tmpl_filter *f = tmpl_filter_find(name);
  if (!f) {
    unknown(
        P, fstart, "filter", name, tmpl_filter_nearest(name),
        "json, upper, lower, default, truncate, join, base64, sha256, number, iso8601, keys, values, pick, "
        "urlencode");
    free(name);
    tmpl_tx_free(x);
    return NULL;
  }
  free(name);
  struct tx *call = xcalloc(1, sizeof *call);
  call->k = X_FILTER;
  call->filter = f;
  tx_add(call, x);
  if (P->p < P->n && P->s[P->p] == '(') {
    P->p++;
    int rc = parse_items(P, call, ")", depth);
    if (rc > 0) perr(P, P->p, "expected ',' or ')' after an argument of %s", f->name);
    if (rc) {
      tmpl_tx_free(call);
      return NULL;
    }
  }
  int nargs = (int)call->nkids - 1;
  const char *bad = NULL;
  if (nargs < f->min || nargs > f->max) {
    if (f->min == f->max)
      perr(P, fstart, "filter %s takes %d argument%s, not %d", f->name, f->min, f->min == 1 ? "" : "s",
           nargs);
    else
      perr(P, fstart, "filter %s takes %d to %d arguments, not %d", f->name, f->min, f->max, nargs);
    tmpl_tx_free(call);
    return NULL;
  }
  if (f->check && (bad = f->check(call))) {
    perr(P, fstart, "%s", bad);
    tmpl_tx_free(call);
    return NULL;
  }
  return call;
}

static struct tx *parse_piped(struct parser *P, int depth)
{
  struct tx *x = parse_primary(P, depth);
  while (x && at(P, "|") && !at(P, "||")) {
    if (++P->links > MAX_CHAIN) {
      perr(P, P->p, "more than %d filters and '~' in one placeholder", MAX_CHAIN);
      tmpl_tx_free(x);
      return NULL;
    }
    P->p++;
    x = parse_filter(P, x, depth);
  }
  return x;
}

static struct tx *parse_concat(struct parser *P, int depth)
{
  struct tx *x = parse_piped(P, depth);
  while (x && at(P, "~")) {
    if (++P->links > MAX_CHAIN) {
      perr(P, P->p, "more than %d filters and '~' in one placeholder", MAX_CHAIN);
      tmpl_tx_free(x);
      return NULL;
    }
    P->p++;
    struct tx *r = parse_piped(P, depth);
    if (!r) {
      tmpl_tx_free(x);
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
    tmpl_tx_free(c);
    return NULL;
  }
  tx_add(c, a);
  if (!at(P, ":")) {
    perr(P, P->p, "expected ':' after the value taken when the condition holds (c ? a : b)");
    tmpl_tx_free(c);
    return NULL;
  }
  P->p++;
  struct tx *b = parse_cond(P, depth + 1);
  if (!b) {
    tmpl_tx_free(c);
    return NULL;
  }
  tx_add(c, b);
  return c;
}

struct tx *tmpl_parse_placeholder(const char *s, size_t n, size_t *pos, const char *file, int line, int col,
                                  const int *colmap, char *err, size_t errsz)
{
  struct parser P = {.s = s + *pos,
                     .n = n - *pos,
                     .file = file,
                     .line = line,
                     .col = col,
                     .err = err,
                     .errsz = errsz,
                     .colmap = colmap,
                     .base = *pos};
  struct tx *x = parse_cond(&P, 0);
  if (x && !at(&P, "}}")) {
    if (P.p >= P.n)
      perr(&P, 0, "'{{' without its closing '}}'");
    else
      perr(&P, P.p, "unexpected '%c' in a placeholder (expected '}}', '|', '~' or '?')", P.s[P.p]);
    tmpl_tx_free(x);
    x = NULL;
  }
  if (x) *pos += P.p + 2;
  return x;
}
