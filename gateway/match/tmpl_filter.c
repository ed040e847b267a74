/* tmpl_filter.c - the filters of a placeholder, x | f(args) (tmpl.h says
 * what each does): one function each, and the table the parser looks them
 * up in. A filter gets its input evaluated and evaluates its arguments
 * itself, so default(y) evaluates y only when x is null. */
#include "match/tmpl_impl.h"
#include "deliver/sign.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Is s (n bytes) a number in JSON's syntax? */
static int is_json_number(const char *s, size_t n)
{
  size_t len = tmpl_number_len(s, n);
  return len && len == n;
}

void tmpl_url_encode(struct buf *out, const char *s, size_t n)
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

static struct tval f_json(struct rctx *r, struct tval in, const struct tx *call)
{
  struct buf b = BUF_INIT;
  tmpl_emit_json(&b, &in);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval change_case(struct rctx *r, struct tval in, int upper)
{
  if (in.k == T_NULL) return in;
  struct buf b = BUF_INIT;
  struct tval s = tmpl_as_text(r, &in);
  buf_add_case(&b, s.s, s.n, upper);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_upper(struct rctx *r, struct tval in, const struct tx *call)
{
  return change_case(r, in, 1);
}

static struct tval f_lower(struct rctx *r, struct tval in, const struct tx *call)
{
  return change_case(r, in, 0);
}

static struct tval f_default(struct rctx *r, struct tval in, const struct tx *call)
{
  return in.k == T_NULL ? tmpl_eval(r, call->kids[1]) : in;
}

static struct tval f_truncate(struct rctx *r, struct tval in, const struct tx *call)
{
  if (in.k == T_NULL) return in;
  struct tval s = tmpl_as_text(r, &in);
  size_t max = (size_t)strtoul(call->kids[1]->lit.s, NULL, 10), chars = 0, i = 0;
  while (i < s.n && chars < max) {
    size_t l;
    utf8_next((const unsigned char *)s.s + i, s.n - i, &l);
    i += l;
    chars++;
  }
  if (i == s.n) return s;
  struct buf b = BUF_INIT;
  buf_add(&b, s.s, i);
  if (call->nkids > 2) {
    struct tval end = tmpl_eval(r, call->kids[2]);
    tmpl_text_of(r, &end, &b);
  }
  return from_buf(&r->sc, T_STR, &b);
}

/* truncate's length is known when the template is compiled. */
static const char *check_truncate(const struct tx *call)
{
  const struct tx *n = call->kids[1];
  int ok = n->k == X_LIT && n->lit.k == T_NUM && strspn(n->lit.s, "0123456789") == n->lit.n && n->lit.n < 10;
  return ok ? NULL : "truncate takes a whole number of characters: truncate(80)";
}

static struct tval f_join(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  if (in.k != T_LIST) return in.k == T_NULL ? in : tmpl_as_text(r, &in);
  struct tval sep = call->nkids > 1 ? tmpl_eval(r, call->kids[1]) : tstr(",", 1);
  struct buf b = BUF_INIT;
  for (size_t i = 0; i < in.len; i++) {
    if (i) tmpl_text_of(r, &sep, &b);
    tmpl_text_of(r, &in.items[i], &b);
  }
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_base64(struct rctx *r, struct tval in, const struct tx *call)
{
  if (in.k == T_NULL) return in;
  struct buf b = BUF_INIT;
  struct tval s = tmpl_as_text(r, &in);
  buf_add_base64(&b, s.s, s.n);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_sha256(struct rctx *r, struct tval in, const struct tx *call)
{
  if (in.k == T_NULL) return in;
  struct buf b = BUF_INIT;
  struct tval s = tmpl_as_text(r, &in);
  sign_sha256_hex(s.s, s.n, &b);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_number(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  if (in.k == T_NUM) return in;
  if (in.k == T_BOOL) return (struct tval){.k = T_NUM, .s = in.b ? "1" : "0", .n = 1};
  if (in.k == T_STR && is_json_number(in.s, in.n)) return (struct tval){.k = T_NUM, .s = in.s, .n = in.n};
  return tnull();
}

static struct tval f_iso8601(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  struct tval s = in.k == T_STR || in.k == T_NUM ? in : tnull();
  if (s.k == T_NULL || !is_json_number(s.s, s.n)) return in;
  char num[64];
  snprintf(num, sizeof num, "%.*s", (int)(s.n < 63 ? s.n : 63), s.s);
  double secs = strtod(num, NULL);
  if (!(secs >= -62135596800.0 && secs < 253402300800.0)) return tnull(); /* years 1 to 9999 */
  time_t tt = (time_t)floor(secs); /* the second it falls in, before 1970 too */
  struct tm tm;
  gmtime_r(&tt, &tm);
  struct buf b = BUF_INIT;
  buf_printf(&b, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_keys(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  if (in.k != T_OBJ) return tnull();
  struct tval l = {.k = T_LIST, .len = in.len};
  l.items = sc_alloc(&r->sc, in.len * sizeof *l.items);
  for (size_t i = 0; i < in.len; i++)
    l.items[i] = tstr(in.keys[i], in.keylens[i]);
  return l;
}

/* The member of obj named by nm (a string), or null. */
static struct tval member_named(const struct tval *obj, const struct tval *nm)
{
  if (nm->k != T_STR) return tnull();
  for (size_t i = 0; i < obj->len; i++)
    if (nm->n == obj->keylens[i] && !memcmp(nm->s, obj->keys[i], nm->n)) return obj->items[i];
  return tnull();
}

static struct tval f_values(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  if (in.k != T_OBJ) return tnull();
  if (call->nkids < 2) return (struct tval){.k = T_LIST, .len = in.len, .items = in.items};
  /* the named members, in the order of the names */
  struct tval one = tmpl_norm(r, tmpl_eval(r, call->kids[1])), names = one;
  if (one.k == T_STR) names = (struct tval){.k = T_LIST, .len = 1, .items = &one};
  if (names.k != T_LIST) return tnull();
  struct tval l = {.k = T_LIST, .len = names.len};
  l.items = sc_alloc(&r->sc, names.len * sizeof *l.items);
  for (size_t j = 0; j < names.len; j++)
    l.items[j] = member_named(&in, &names.items[j]);
  return l;
}

static struct tval f_pick(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  struct tval names = tmpl_norm(r, tmpl_eval(r, call->kids[1]));
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

static struct tval url_encoded(struct rctx *r, const struct tval *v)
{
  struct tval s = tmpl_as_text(r, v);
  struct buf b = BUF_INIT;
  tmpl_url_encode(&b, s.s, s.n);
  return from_buf(&r->sc, T_STR, &b);
}

static struct tval f_urlencode(struct rctx *r, struct tval in, const struct tx *call)
{
  in = tmpl_norm(r, in);
  if (in.k == T_NULL) return in;
  if (in.k != T_LIST) return url_encoded(r, &in);
  struct tval l = {.k = T_LIST, .len = in.len};
  l.items = sc_alloc(&r->sc, in.len * sizeof *l.items);
  for (size_t i = 0; i < in.len; i++)
    l.items[i] = url_encoded(r, &in.items[i]);
  return l;
}

static const struct tmpl_filter filters[] = {
    {"json", 0, 0, f_json, NULL},
    {"upper", 0, 0, f_upper, NULL},
    {"lower", 0, 0, f_lower, NULL},
    {"default", 1, 1, f_default, NULL},
    {"truncate", 1, 2, f_truncate, check_truncate},
    {"join", 0, 1, f_join, NULL},
    {"base64", 0, 0, f_base64, NULL},
    {"sha256", 0, 0, f_sha256, NULL},
    {"number", 0, 0, f_number, NULL},
    {"iso8601", 0, 0, f_iso8601, NULL},
    {"keys", 0, 0, f_keys, NULL},
    {"values", 0, 1, f_values, NULL},
    {"pick", 1, 1, f_pick, NULL},
    {"urlencode", 0, 0, f_urlencode, NULL},
};
#define NFILTERS (sizeof filters / sizeof filters[0])

const struct tmpl_filter *tmpl_filter_find(const char *name)
{
  for (size_t i = 0; i < NFILTERS; i++)
    if (!strcmp(filters[i].name, name)) return &filters[i];
  return NULL;
}

const char *tmpl_filter_nearest(const char *name)
{
  const char *names[NFILTERS + 1];
  for (size_t i = 0; i < NFILTERS; i++)
    names[i] = filters[i].name;
  names[NFILTERS] = NULL;
  return bh_nearest(name, names);
}
