/* expr_lex.c - the tokens of the expression language (see expr_impl.h):
 * names, `quoted names`, strings with their escapes decoded (and, for
 * regexes, where each decoded byte came from, so a regex error points into
 * the text), numbers checked for exactness, and the operators. The error
 * messages of the language are made here too (expr_perr), with the
 * file:line:col of the text position. */
#include "match/expr_impl.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *expr_perr(struct parser *P, size_t pos, const char *fmt, ...)
{
  if (P->failed) return NULL;
  P->failed = 1;
  int line = P->line, col = P->col;
  for (size_t i = 0; i < pos && i < P->n; i++) {
    unsigned char b = (unsigned char)P->s[i];
    if (b == '\n')
      line++, col = 1;
    else if ((b & 0xc0) != 0x80)
      col++;
  }
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (P->file)
    bh_err(P->err, P->errsz, "%s:%d:%d: %s", P->file, line, col, msg);
  else
    bh_err(P->err, P->errsz, "%d:%d: %s", line, col, msg);
  return NULL;
}

static int is_name_start(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static int is_name_char(unsigned char c)
{
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '$';
}

void expr_tok_clear(struct token *t)
{
  free(t->val);
  free(t->offs);
  memset(t, 0, sizeof *t);
}

static int lex_string(struct parser *P, struct token *t)
{
  const char *s = P->s;
  char q = s[P->p];
  size_t i = P->p + 1;
  struct buf b = BUF_INIT;
  size_t *offs = NULL, noffs = 0, cap = 0;
  for (;;) {
    if (i >= P->n) {
      buf_free(&b);
      free(offs);
      expr_perr(P, t->pos, "unterminated string");
      return -1;
    }
    if (s[i] == q) break;
    size_t start = i, before = b.len;
    if (s[i] != '\\' || i + 1 >= P->n) {
      buf_addc(&b, s[i++]);
    } else {
      char e = s[i + 1];
      i += 2;
      switch (e) {
      case '\\': buf_addc(&b, '\\'); break;
      case '"': buf_addc(&b, '"'); break;
      case '\'': buf_addc(&b, '\''); break;
      case 'n': buf_addc(&b, '\n'); break;
      case 'r': buf_addc(&b, '\r'); break;
      case 't': buf_addc(&b, '\t'); break;
      case '0': buf_addc(&b, '\0'); break;
      case 'u': {
        long cp = 0;
        int nd = 0, brace = i < P->n && s[i] == '{';
        if (brace) i++;
        while (i < P->n && bh_hexval(s[i]) >= 0 && nd < (brace ? 6 : 4))
          cp = cp * 16 + bh_hexval(s[i++]), nd++;
        int ok = brace ? nd > 0 && i < P->n && s[i] == '}' : nd == 4;
        if (brace && ok) i++;
        if (!ok || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
          buf_free(&b);
          free(offs);
          expr_perr(P, start,
                    "invalid \\u escape: expected \\uXXXX or \\u{X...} naming a Unicode scalar value");
          return -1;
        }
        buf_add_utf8(&b, cp);
        break;
      }
      default: /* kept as written: "\d" is a regex's \d */
        buf_addc(&b, '\\');
        buf_addc(&b, e);
        if (b.len - before == 2) {
          /* the kept escape maps byte by byte */
          if (noffs + 2 + 1 > cap) cap = 2 * cap + 16, offs = xrealloc(offs, cap * sizeof *offs);
          offs[noffs++] = start;
          offs[noffs++] = start + 1;
          continue;
        }
      }
    }
    while (noffs < b.len) {
      if (noffs + 2 > cap) cap = 2 * cap + 16, offs = xrealloc(offs, cap * sizeof *offs);
      offs[noffs++] = start;
    }
  }
  if (noffs + 1 > cap) cap = cap + 1, offs = xrealloc(offs, cap * sizeof *offs);
  offs[noffs] = i; /* the closing quote */
  t->t = T_STR;
  t->vlen = b.len;
  t->val = b.p ? buf_steal(&b) : xstrdup("");
  t->offs = offs;
  P->p = i + 1;
  return 0;
}

/* A number: the longest run that could be meant as one, then checked. */
static int lex_number(struct parser *P, struct token *t)
{
  const char *s = P->s;
  size_t i = P->p, e = i + 1;
  while (e < P->n && (is_name_char((unsigned char)s[e]) || s[e] == '.' ||
                      ((s[e] == '+' || s[e] == '-') && (s[e - 1] == 'e' || s[e - 1] == 'E'))))
    e++;
  t->t = T_NUM;
  t->len = e - i;
  P->p = e;
  struct dec d;
  struct buf tmp = BUF_INIT;
  int bad = expr_dec_parse(s + i, e - i, &d, &tmp) < 0;
  buf_free(&tmp);
  if (!bad) return 0;
  /* Tell a huge exponent from a malformed number. */
  size_t k = i + (s[i] == '-');
  while (k < e && ((s[k] >= '0' && s[k] <= '9') || s[k] == '.'))
    k++;
  if (k < e && (s[k] == 'e' || s[k] == 'E') && expr_dec_parse(s + i, k - i, &d, &tmp) == 0) {
    size_t x = k + 1;
    if (x < e && (s[x] == '+' || s[x] == '-')) x++;
    int digits = x < e;
    while (x < e && s[x] >= '0' && s[x] <= '9')
      x++;
    buf_free(&tmp);
    if (digits && x == e)
      return expr_perr(P, i, "number '%.*s' is out of range (exponent beyond %d)", (int)(e - i), s + i,
                       EXPR_MAX_EXPONENT),
             -1;
  }
  buf_free(&tmp);
  return expr_perr(P, i, "invalid number '%.*s'", (int)(e - i), s + i), -1;
}

/* The first token of P->s from P->p on. */
int expr_lex(struct parser *P)
{
  const char *s = P->s;
  expr_tok_clear(&P->tok);
  while (P->p < P->n && (s[P->p] == ' ' || s[P->p] == '\t' || s[P->p] == '\n' || s[P->p] == '\r'))
    P->p++;
  struct token *t = &P->tok;
  t->pos = P->p;
  if (P->p >= P->n) {
    t->t = T_EOF;
    return 0;
  }
  unsigned char c = (unsigned char)s[P->p];
  size_t i = P->p;
  if (c == '"' || c == '\'') {
    if (lex_string(P, t) < 0) return -1;
    t->len = P->p - t->pos;
    return 0;
  }
  if (c == '`') {
    size_t e = i + 1;
    while (e < P->n && s[e] != '`')
      e++;
    if (e >= P->n) return expr_perr(P, i, "unterminated quoted name"), -1;
    if (e == i + 1) return expr_perr(P, i, "empty column name"), -1;
    t->t = T_QNAME;
    t->val = xstrndup(s + i + 1, e - i - 1);
    t->vlen = e - i - 1;
    P->p = e + 1;
    t->len = P->p - t->pos;
    return 0;
  }
  if ((c >= '0' && c <= '9') || (c == '-' && i + 1 < P->n && s[i + 1] >= '0' && s[i + 1] <= '9'))
    return lex_number(P, t);
  if (is_name_start(c)) {
    size_t e = i + 1;
    while (e < P->n && is_name_char((unsigned char)s[e]))
      e++;
    t->t = T_NAME;
    t->len = e - i;
    P->p = e;
    return 0;
  }
  char c1 = i + 1 < P->n ? s[i + 1] : 0;
  enum tok two = T_EOF;
  if (c == '=' && c1 == '=')
    two = T_EQ;
  else if (c == '!' && c1 == '=')
    two = T_NE;
  else if (c == '<' && c1 == '=')
    two = T_LE;
  else if (c == '>' && c1 == '=')
    two = T_GE;
  else if (c == '<' && c1 == '>')
    return expr_perr(P, i, "unexpected '<>'; did you mean '!='?"), -1;
  else if (c == '&' && c1 == '&')
    return expr_perr(P, i, "unexpected '&&'; did you mean 'and'?"), -1;
  else if (c == '|' && c1 == '|')
    return expr_perr(P, i, "unexpected '||'; did you mean 'or'?"), -1;
  if (two != T_EOF) {
    t->t = two;
    t->len = 2;
    P->p += 2;
    return 0;
  }
  t->len = 1;
  P->p++;
  switch (c) {
  case '.': t->t = T_DOT; return 0;
  case '(': t->t = T_LP; return 0;
  case ')': t->t = T_RP; return 0;
  case '[': t->t = T_LB; return 0;
  case ']': t->t = T_RB; return 0;
  case ',': t->t = T_COMMA; return 0;
  case '<': t->t = T_LT; return 0;
  case '>': t->t = T_GT; return 0;
  case '=': return expr_perr(P, i, "unexpected '='; did you mean '=='?"), -1;
  case '!': return expr_perr(P, i, "unexpected '!'; did you mean 'not'?"), -1;
  default:
    if (c >= 0x20 && c < 0x7f) return expr_perr(P, i, "unexpected character '%c'", c), -1;
    return expr_perr(P, i, "unexpected byte 0x%02x", c), -1;
  }
}
