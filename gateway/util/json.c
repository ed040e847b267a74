/* json.c - see json.h. A recursive-descent reader over the text. */
#include "util/json.h"
#include "util/buf.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200

struct jparser {
  const char *s;
  size_t n, p;
  char *err;
  size_t errsz;
};

void jv_free(struct jv *v)
{
  for (size_t i = 0; i < v->nkids; i++) {
    jv_free(&v->kids[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->kids);
  free(v->keys);
  free(v->keylens);
  free(v->keypos);
  free(v->s);
}

static int jerr(struct jparser *J, const char *what)
{
  return bh_err(J->err, J->errsz, "%s", what);
}

static void ws(struct jparser *J)
{
  while (J->p < J->n && (J->s[J->p] == ' ' || J->s[J->p] == '\t' || J->s[J->p] == '\n' || J->s[J->p] == '\r'))
    J->p++;
}

static int hex4(const char *s)
{
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int d = bh_hexval((unsigned char)s[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* A string at J->p (the opening quote), decoded into *out (caller frees). */
static int jstring(struct jparser *J, char **out, size_t *len)
{
  struct buf b = BUF_INIT;
  J->p++;
  for (;;) {
    if (J->p >= J->n) {
      buf_free(&b);
      return jerr(J, "unterminated string");
    }
    unsigned char c = (unsigned char)J->s[J->p];
    if (c == '"') break;
    if (c < 0x20) {
      buf_free(&b);
      return jerr(J, "control character in a string");
    }
    if (c != '\\') {
      buf_addc(&b, (char)c);
      J->p++;
      continue;
    }
    if (J->p + 1 >= J->n) {
      buf_free(&b);
      return jerr(J, "unterminated string");
    }
    char e = J->s[J->p + 1];
    J->p += 2;
    switch (e) {
    case '"': buf_addc(&b, '"'); break;
    case '\\': buf_addc(&b, '\\'); break;
    case '/': buf_addc(&b, '/'); break;
    case 'b': buf_addc(&b, '\b'); break;
    case 'f': buf_addc(&b, '\f'); break;
    case 'n': buf_addc(&b, '\n'); break;
    case 'r': buf_addc(&b, '\r'); break;
    case 't': buf_addc(&b, '\t'); break;
    case 'u': {
      int hi = J->p + 4 <= J->n ? hex4(J->s + J->p) : -1;
      if (hi < 0) {
        buf_free(&b);
        return jerr(J, "invalid \\u escape");
      }
      J->p += 4;
      unsigned long cp = (unsigned long)hi;
      if (hi >= 0xd800 && hi <= 0xdbff && J->p + 6 <= J->n && J->s[J->p] == '\\' && J->s[J->p + 1] == 'u') {
        int lo = hex4(J->s + J->p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + (((unsigned long)hi - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
          J->p += 6;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; /* a lone surrogate */
      buf_add_utf8(&b, cp);
      break;
    }
    default:
      buf_free(&b);
      J->p -= 2;
      return jerr(J, "invalid escape in a string");
    }
  }
  J->p++;
  *len = b.len;
  *out = b.p ? buf_steal(&b) : xstrdup("");
  return 0;
}

static int digits(struct jparser *J)
{
  size_t s = J->p;
  while (J->p < J->n && J->s[J->p] >= '0' && J->s[J->p] <= '9')
    J->p++;
  return J->p > s;
}

static int jvalue(struct jparser *J, struct jv *v, int depth)
{
  memset(v, 0, sizeof *v);
  ws(J);
  v->pos = J->p;
  if (depth > MAX_DEPTH) return jerr(J, "nested too deeply");
  if (J->p >= J->n) return jerr(J, "expected a value");
  char c = J->s[J->p];
  if (c == '{' || c == '[') {
    int obj = c == '{';
    char close = obj ? '}' : ']';
    v->k = obj ? J_OBJ : J_ARR;
    J->p++;
    ws(J);
    if (J->p < J->n && J->s[J->p] == close) {
      J->p++;
      v->end = J->p;
      return 0;
    }
    for (;;) {
      char *key = NULL;
      size_t klen = 0, kpos = 0;
      if (obj) {
        ws(J);
        kpos = J->p;
        if (J->p >= J->n || J->s[J->p] != '"') return jerr(J, "expected a member name");
        if (jstring(J, &key, &klen) < 0) return -1;
        ws(J);
        if (J->p >= J->n || J->s[J->p] != ':') {
          free(key);
          return jerr(J, "expected ':'");
        }
        J->p++;
      }
      v->kids = xrealloc(v->kids, (v->nkids + 1) * sizeof *v->kids);
      if (obj) {
        v->keys = xrealloc(v->keys, (v->nkids + 1) * sizeof *v->keys);
        v->keylens = xrealloc(v->keylens, (v->nkids + 1) * sizeof *v->keylens);
        v->keypos = xrealloc(v->keypos, (v->nkids + 1) * sizeof *v->keypos);
        v->keys[v->nkids] = key;
        v->keylens[v->nkids] = klen;
        v->keypos[v->nkids] = kpos;
      }
      struct jv *kid = &v->kids[v->nkids++];
      if (jvalue(J, kid, depth + 1) < 0) return -1;
      ws(J);
      if (J->p < J->n && J->s[J->p] == ',') {
        J->p++;
        continue;
      }
      if (J->p < J->n && J->s[J->p] == close) {
        J->p++;
        v->end = J->p;
        return 0;
      }
      return jerr(J, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"') {
    v->k = J_STR;
    if (jstring(J, &v->s, &v->n) < 0) return -1;
    v->end = J->p;
    return 0;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    if (c == '-') J->p++;
    if (J->p < J->n && J->s[J->p] == '0')
      J->p++;
    else if (!digits(J))
      return jerr(J, "invalid number");
    if (J->p < J->n && J->s[J->p] == '.') {
      J->p++;
      if (!digits(J)) return jerr(J, "invalid number");
    }
    if (J->p < J->n && (J->s[J->p] == 'e' || J->s[J->p] == 'E')) {
      J->p++;
      if (J->p < J->n && (J->s[J->p] == '+' || J->s[J->p] == '-')) J->p++;
      if (!digits(J)) return jerr(J, "invalid number");
    }
    v->k = J_NUM;
    v->end = J->p;
    v->n = v->end - v->pos;
    v->s = xstrndup(J->s + v->pos, v->n);
    return 0;
  }
  static const struct {
    const char *w;
    enum jkind k;
  } words[] = {{"true", J_TRUE}, {"false", J_FALSE}, {"null", J_NULL}};
  for (size_t i = 0; i < 3; i++) {
    size_t l = strlen(words[i].w);
    if (J->p + l <= J->n && !memcmp(J->s + J->p, words[i].w, l)) {
      v->k = words[i].k;
      J->p += l;
      v->end = J->p;
      return 0;
    }
  }
  return jerr(J, "expected a value");
}


int json_parse_value(const char *s, size_t n, size_t *pos, struct jv *out, char *err, size_t errsz)
{
  struct jparser J = {.s = s, .n = n, .p = *pos, .err = err, .errsz = errsz};
  int rc = jvalue(&J, out, 0);
  *pos = J.p;
  return rc;
}

void json_skip_ws(const char *s, size_t n, size_t *pos)
{
  struct jparser J = {.s = s, .n = n, .p = *pos};
  ws(&J);
  *pos = J.p;
}

const struct jv *jv_member(const struct jv *obj, const char *name)
{
  if (!obj || obj->k != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->nkids; i++)
    if (!strcmp(obj->keys[i], name)) return &obj->kids[i];
  return NULL;
}

void json_line_col(const char *s, size_t pos, int *line, int *col)
{
  int ln = 1, c = 1;
  for (size_t i = 0; i < pos && s[i]; i++) {
    if (s[i] == '\n') {
      ln++;
      c = 1;
    } else if (((unsigned char)s[i] & 0xc0) != 0x80) {
      c++;
    }
  }
  *line = ln;
  *col = c;
}
