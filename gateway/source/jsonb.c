/* jsonb.c - see jsonb.h. Layout (MySQL's json_binary): a type byte, then the
 * value. Objects and arrays start with an element count and a byte size (2
 * bytes each in the small form, 4 in the large), then key entries (offset,
 * 2-byte length) for objects, then value entries (type byte, then an offset
 * from the start of the container or, for small scalars, the value itself). */
#include "source/jsonb.h"
#include "source/coldec.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  JB_SMALL_OBJ = 0, JB_LARGE_OBJ, JB_SMALL_ARR, JB_LARGE_ARR, JB_LITERAL, JB_INT16, JB_UINT16, JB_INT32,
  JB_UINT32, JB_INT64, JB_UINT64, JB_DOUBLE, JB_STRING, JB_OPAQUE = 15,
};

#define JB_MAX_DEPTH 100

static int value(const unsigned char *p, size_t n, int type, struct buf *out, int depth);

/* MySQL never stores one value twice, but a crafted document could point
 * many entries at the same bytes: text far larger than the value is refused
 * (every real value prints in less than 8 bytes of text per byte). */
static _Thread_local size_t out_budget;

/* Variable-length length: 7 bits per byte, low bits first. */
static int read_varlen(const unsigned char *p, size_t n, size_t *len, size_t *used)
{
  size_t v = 0;
  for (size_t i = 0; i < 5 && i < n; i++) {
    v |= (size_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      *len = v;
      *used = i + 1;
      return 0;
    }
  }
  return -1;
}

static int inlined(int type, int large)
{
  return type == JB_LITERAL || type == JB_INT16 || type == JB_UINT16 ||
         (large && (type == JB_INT32 || type == JB_UINT32));
}

static int container(const unsigned char *p, size_t n, int is_obj, int large, struct buf *out, int depth)
{
  size_t w = large ? 4 : 2;
  if (n < 2 * w) return -1;
  size_t count = large ? le32(p) : le16(p);
  size_t size = large ? le32(p + w) : le16(p + w);
  if (size > n) return -1;
  size_t key_entry = w + 2, val_entry = 1 + w;
  size_t hdr = 2 * w + (is_obj ? count * key_entry : 0) + count * val_entry;
  if (count > size || hdr > size) return -1;
  buf_addc(out, is_obj ? '{' : '[');
  for (size_t i = 0; i < count; i++) {
    if (out->len > out_budget) return -1;
    if (i) buf_addc(out, ',');
    if (is_obj) {
      const unsigned char *ke = p + 2 * w + i * key_entry;
      size_t koff = large ? le32(ke) : le16(ke), klen = le16(ke + w);
      if (koff > size || klen > size - koff) return -1;
      buf_add_json_str(out, (const char *)p + koff, klen);
      buf_addc(out, ':');
    }
    const unsigned char *ve = p + 2 * w + (is_obj ? count * key_entry : 0) + i * val_entry;
    int t = ve[0];
    if (inlined(t, large)) {
      if (value(ve + 1, w, t, out, depth + 1)) return -1;
    } else {
      size_t off = large ? le32(ve + 1) : le16(ve + 1);
      if (off >= size) return -1;
      if (value(p + off, size - off, t, out, depth + 1)) return -1;
    }
  }
  buf_addc(out, is_obj ? '}' : ']');
  return 0;
}

/* MySQL's packed temporal longlong: (intpart << 24) + microseconds, with
 * intpart = ymd << 17 | hms for dates and hms for times. */
static void packed_temporal(int64_t packed, int mtype, struct buf *out)
{
  char s[48];
  int neg = packed < 0;
  uint64_t v = neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
  unsigned usec = (unsigned)(v % (1 << 24));
  uint64_t ip = v >> 24;
  if (mtype == 11) { /* TIME */
    unsigned h = (unsigned)((ip >> 12) % 1024), m = (unsigned)((ip >> 6) % 64), sec = (unsigned)(ip % 64);
    snprintf(s, sizeof s, "%s%02u:%02u:%02u.%06u", neg ? "-" : "", h, m, sec, usec);
  } else {
    uint64_t ymd = ip >> 17, ym = ymd >> 5, hms = ip % (1 << 17);
    unsigned y = (unsigned)(ym / 13), mo = (unsigned)(ym % 13), d = (unsigned)(ymd % 32);
    if (mtype == 10) /* DATE */
      snprintf(s, sizeof s, "%04u-%02u-%02u", y, mo, d);
    else
      snprintf(s, sizeof s, "%04u-%02u-%02u %02u:%02u:%02u.%06u", y, mo, d, (unsigned)(hms >> 12),
               (unsigned)((hms >> 6) % 64), (unsigned)(hms % 64), usec);
  }
  buf_add_json_str(out, s, strlen(s));
}

static int opaque(const unsigned char *p, size_t n, struct buf *out)
{
  if (n < 1) return -1;
  int mtype = p[0];
  size_t len, used;
  if (read_varlen(p + 1, n - 1, &len, &used) || len > n - 1 - used) return -1;
  const unsigned char *d = p + 1 + used;
  if (mtype == 246 && len >= 2) { /* DECIMAL: precision, scale, binary decimal */
    size_t start = out->len;
    if (coldec_decimal(d + 2, len - 2, d[0], d[1], out) < 0) {
      out->len = start;
      return -1;
    }
    return 0;
  }
  if ((mtype == 10 || mtype == 11 || mtype == 12 || mtype == 7 || mtype == 18 || mtype == 17 || mtype == 19) &&
      len >= 8) {
    int t = mtype == 18 ? 12 : mtype == 17 ? 7 : mtype == 19 ? 11 : mtype;
    packed_temporal((int64_t)le64(d), t, out);
    return 0;
  }
  char pre[32];
  snprintf(pre, sizeof pre, "base64:type%d:", mtype);
  struct buf s = BUF_INIT;
  buf_adds(&s, pre);
  buf_add_base64(&s, d, len);
  buf_add_json_str(out, s.p, s.len);
  buf_free(&s);
  return 0;
}

static int value(const unsigned char *p, size_t n, int type, struct buf *out, int depth)
{
  if (depth > JB_MAX_DEPTH) return -1;
  switch (type) {
  case JB_SMALL_OBJ: return container(p, n, 1, 0, out, depth);
  case JB_LARGE_OBJ: return container(p, n, 1, 1, out, depth);
  case JB_SMALL_ARR: return container(p, n, 0, 0, out, depth);
  case JB_LARGE_ARR: return container(p, n, 0, 1, out, depth);
  case JB_LITERAL:
    if (n < 1 || p[0] > 2) return -1;
    buf_adds(out, p[0] == 0 ? "null" : p[0] == 1 ? "true" : "false");
    return 0;
  case JB_INT16:
    if (n < 2) return -1;
    buf_add_i64(out, (int16_t)le16(p));
    return 0;
  case JB_UINT16:
    if (n < 2) return -1;
    buf_add_u64(out, le16(p));
    return 0;
  case JB_INT32:
    if (n < 4) return -1;
    buf_add_i64(out, (int32_t)le32(p));
    return 0;
  case JB_UINT32:
    if (n < 4) return -1;
    buf_add_u64(out, le32(p));
    return 0;
  case JB_INT64:
    if (n < 8) return -1;
    buf_add_i64(out, (int64_t)le64(p));
    return 0;
  case JB_UINT64:
    if (n < 8) return -1;
    buf_add_u64(out, le64(p));
    return 0;
  case JB_DOUBLE: {
    if (n < 8) return -1;
    uint64_t bits = le64(p);
    double d;
    memcpy(&d, &bits, 8);
    buf_add_double(out, d, 0);
    return 0;
  }
  case JB_STRING: {
    size_t len, used;
    if (read_varlen(p, n, &len, &used) || len > n - used) return -1;
    buf_add_json_str(out, (const char *)p + used, len);
    return 0;
  }
  case JB_OPAQUE: return opaque(p, n, out);
  default: return -1;
  }
}

int jsonb_to_json(const unsigned char *p, size_t n, struct buf *out, char *err, size_t errsz)
{
  size_t start = out->len;
  out_budget = start + 8 * n + 4096;
  if (n == 0) {
    buf_addlit(out, "null");
    return 0;
  }
  if (value(p + 1, n - 1, p[0], out, 0) || out->len > out_budget) {
    out->len = start;
    if (out->p) out->p[start] = 0;
    return bh_err(err, errsz, "malformed binary JSON value (%zu bytes)", n);
  }
  return 0;
}

/* One diff entry: operation (0 replace, 1 insert, 2 remove), a packed-length
 * path, and for all but remove a packed-length binary value. */
struct diff_op {
  int op;
  const char *path;
  size_t pathlen;
  const unsigned char *val;
  size_t vallen;
};

static int read_packed(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
  if (*p >= end) return -1;
  unsigned c = **p;
  size_t n = c < 0xfb ? 0 : c == 0xfc ? 2 : c == 0xfd ? 3 : c == 0xfe ? 8 : 9;
  if (n == 9 || (size_t)(end - *p) < n + 1) return -1;
  *v = n ? 0 : c;
  for (size_t i = 0; i < n; i++) *v |= (uint64_t)(*p)[1 + i] << (8 * i);
  *p += n + 1;
  return 0;
}

/* Reads the next op at *p; 1 when one was read, 0 at the end, -1 malformed. */
static int next_op(const unsigned char **p, const unsigned char *end, struct diff_op *o)
{
  if (*p >= end) return 0;
  o->op = *(*p)++;
  if (o->op > 2) return -1;
  uint64_t len;
  if (read_packed(p, end, &len) || len > (uint64_t)(end - *p)) return -1;
  o->path = (const char *)*p;
  o->pathlen = (size_t)len;
  *p += len;
  o->val = NULL;
  o->vallen = 0;
  if (o->op != 2) {
    if (read_packed(p, end, &len) || len > (uint64_t)(end - *p)) return -1;
    o->val = *p;
    o->vallen = (size_t)len;
    *p += len;
  }
  return 1;
}

static const char *op_names[] = {"replace", "insert", "remove"};

int jsonb_diff_to_json(const unsigned char *diff, size_t dn, struct buf *out, char *err, size_t errsz)
{
  size_t start = out->len;
  const unsigned char *p = diff, *end = diff + dn;
  struct diff_op o;
  int r, first = 1;
  buf_addc(out, '[');
  while ((r = next_op(&p, end, &o)) == 1) {
    if (!first) buf_addc(out, ',');
    first = 0;
    buf_addlit(out, "{\"op\":\"");
    buf_adds(out, op_names[o.op]);
    buf_addlit(out, "\",\"path\":");
    buf_add_json_str(out, o.path, o.pathlen);
    if (o.op != 2) {
      buf_addlit(out, ",\"value\":");
      if (jsonb_to_json(o.val, o.vallen, out, err, errsz)) r = -1;
    }
    buf_addc(out, '}');
    if (r < 0) break;
  }
  if (r < 0) {
    out->len = start;
    if (out->p) out->p[start] = 0;
    return bh_err(err, errsz, "malformed partial JSON diff");
  }
  buf_addc(out, ']');
  return 0;
}

/* A path leg: an object key or an array index. */
struct leg {
  int is_index;
  size_t index;
  char key[256];
};

/* Parses the next leg of a MySQL JSON path ($.a."b c"[3]); 1 read, 0 end,
 * -1 malformed or unsupported (wildcards). */
static int next_leg(const char **p, const char *end, struct leg *l)
{
  const char *s = *p;
  if (s >= end) return 0;
  if (*s == '.') {
    s++;
    size_t n = 0;
    if (s < end && *s == '"') {
      s++;
      while (s < end && *s != '"') {
        if (*s == '\\' && s + 1 < end) s++;
        if (n + 1 >= sizeof l->key) return -1;
        l->key[n++] = *s++;
      }
      if (s >= end) return -1;
      s++;
    } else {
      while (s < end && *s != '.' && *s != '[') {
        if (n + 1 >= sizeof l->key || *s == '*') return -1;
        l->key[n++] = *s++;
      }
    }
    l->key[n] = 0;
    l->is_index = 0;
  } else if (*s == '[') {
    s++;
    size_t v = 0;
    if (s >= end || *s < '0' || *s > '9') return -1;
    while (s < end && *s >= '0' && *s <= '9') v = v * 10 + (size_t)(*s++ - '0');
    if (s >= end || *s != ']') return -1;
    s++;
    l->is_index = 1;
    l->index = v;
  } else {
    return -1;
  }
  *p = s;
  return 1;
}

/* The before image as a tree whose scalars keep their exact text, so that
 * applying a diff changes nothing it does not touch. */
struct jnode {
  int kind; /* 0 scalar, 1 object, 2 array */
  const char *text; /* scalar: its JSON text; object member: its key, quoted */
  size_t len;
  const char *key;
  size_t keylen;
  struct jnode **kids;
  size_t nkids;
};

static void jfree(struct jnode *n)
{
  if (!n) return;
  for (size_t i = 0; i < n->nkids; i++) jfree(n->kids[i]);
  free(n->kids);
  free(n);
}

static const char *jws(const char *p, const char *e)
{
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static const char *jstring_end(const char *p, const char *e)
{
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

static void jadd(struct jnode *parent, struct jnode *kid)
{
  parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof *parent->kids);
  parent->kids[parent->nkids++] = kid;
}

static struct jnode *jparse(const char **pp, const char *e, int depth)
{
  const char *p = jws(*pp, e);
  if (p >= e || depth > JB_MAX_DEPTH) return NULL;
  struct jnode *n = xcalloc(1, sizeof *n);
  if (*p == '{' || *p == '[') {
    int obj = *p == '{';
    n->kind = obj ? 1 : 2;
    p = jws(p + 1, e);
    if (p < e && *p == (obj ? '}' : ']')) {
      *pp = p + 1;
      return n;
    }
    for (;;) {
      const char *key = NULL, *kend = NULL;
      if (obj) {
        p = jws(p, e);
        if (p >= e || *p != '"' || !(kend = jstring_end(p, e))) goto bad;
        key = p;
        p = jws(kend, e);
        if (p >= e || *p != ':') goto bad;
        p++;
      }
      struct jnode *kid = jparse(&p, e, depth + 1);
      if (!kid) goto bad;
      kid->key = key;
      kid->keylen = key ? (size_t)(kend - key) : 0;
      jadd(n, kid);
      p = jws(p, e);
      if (p < e && *p == ',') {
        p++;
        continue;
      }
      if (p < e && *p == (obj ? '}' : ']')) {
        *pp = p + 1;
        return n;
      }
      goto bad;
    }
  }
  const char *start = p;
  if (*p == '"') {
    if (!(p = jstring_end(p, e))) goto bad;
  } else {
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') p++;
    if (p == start) goto bad;
  }
  n->text = start;
  n->len = (size_t)(p - start);
  *pp = p;
  return n;
bad:
  jfree(n);
  return NULL;
}

static void jprint(const struct jnode *n, struct buf *out)
{
  if (n->kind == 0) {
    buf_add(out, n->text, n->len);
    return;
  }
  buf_addc(out, n->kind == 1 ? '{' : '[');
  for (size_t i = 0; i < n->nkids; i++) {
    if (i) buf_addc(out, ',');
    if (n->kind == 1) {
      buf_add(out, n->kids[i]->key, n->kids[i]->keylen);
      buf_addc(out, ':');
    }
    jprint(n->kids[i], out);
  }
  buf_addc(out, n->kind == 1 ? '}' : ']');
}

/* Index of the member named key (unquoted) in object n, or -1. */
static long jfind(const struct jnode *n, const char *key)
{
  struct buf q = BUF_INIT;
  buf_add_json_str(&q, key, strlen(key));
  long found = -1;
  for (size_t i = 0; i < n->nkids && found < 0; i++)
    if (n->kids[i]->keylen == q.len && !memcmp(n->kids[i]->key, q.p, q.len)) found = (long)i;
  buf_free(&q);
  return found;
}

/* Text the tree points into (the diff's values, new keys), freed with it. */
struct owned {
  char **p;
  size_t n;
};

static const char *own(struct owned *o, char *text)
{
  o->p = xrealloc(o->p, (o->n + 1) * sizeof *o->p);
  o->p[o->n++] = text;
  return text;
}

/* Applies one operation; val (may be NULL for remove) is consumed. */
static int apply_op(struct jnode *root, const struct diff_op *o, struct jnode *val, struct owned *texts)
{
  const char *p = o->path, *end = o->path + o->pathlen;
  int rc = -1;
  if (p >= end || *p != '$') goto out;
  p++;
  struct jnode *parent = root;
  struct leg l;
  if (next_leg(&p, end, &l) <= 0) goto out; /* the whole document is never a diff */
  for (;;) {
    struct leg nl;
    int nr = next_leg(&p, end, &nl);
    if (nr < 0) goto out;
    if (nr == 0) break;
    long i = -1;
    if (l.is_index && parent->kind == 2 && l.index < parent->nkids) i = (long)l.index;
    else if (!l.is_index && parent->kind == 1) i = jfind(parent, l.key);
    if (i < 0) goto out;
    parent = parent->kids[i];
    l = nl;
  }
  if (l.is_index) {
    if (parent->kind != 2) goto out;
    size_t at = l.index;
    if (o->op == 0) {
      if (at >= parent->nkids) goto out;
      jfree(parent->kids[at]);
      parent->kids[at] = val;
    } else if (o->op == 1) {
      if (at > parent->nkids) at = parent->nkids;
      jadd(parent, val);
      memmove(parent->kids + at + 1, parent->kids + at, (parent->nkids - 1 - at) * sizeof *parent->kids);
      parent->kids[at] = val;
    } else {
      if (at >= parent->nkids) goto out;
      jfree(parent->kids[at]);
      memmove(parent->kids + at, parent->kids + at + 1, (parent->nkids - at - 1) * sizeof *parent->kids);
      parent->nkids--;
    }
    val = NULL;
    rc = 0;
    goto out;
  }
  if (parent->kind != 1) goto out;
  long i = jfind(parent, l.key);
  if (o->op == 2) {
    if (i >= 0) {
      jfree(parent->kids[i]);
      memmove(parent->kids + i, parent->kids + i + 1, (parent->nkids - (size_t)i - 1) * sizeof *parent->kids);
      parent->nkids--;
    }
    rc = 0;
    goto out;
  }
  if (o->op == 0 && i < 0) goto out;
  struct buf k = BUF_INIT;
  buf_add_json_str(&k, l.key, strlen(l.key));
  val->keylen = k.len;
  val->key = own(texts, buf_steal(&k));
  if (i >= 0) {
    jfree(parent->kids[i]);
    parent->kids[i] = val;
  } else {
    jadd(parent, val);
  }
  val = NULL;
  rc = 0;
out:
  jfree(val);
  return rc;
}

int jsonb_apply_diff(const char *before, size_t n, const unsigned char *diff, size_t dn, struct buf *out, char *err,
                     size_t errsz)
{
  const char *bp = before;
  struct jnode *root = jparse(&bp, before + n, 0);
  if (!root || jws(bp, before + n) != before + n) {
    jfree(root);
    return bh_err(err, errsz, "the before image is not JSON binhook can edit");
  }
  const unsigned char *p = diff, *end = diff + dn;
  struct diff_op o;
  struct owned texts = {NULL, 0};
  int r, rc = 0;
  while ((r = next_op(&p, end, &o)) == 1) {
    struct jnode *val = NULL;
    if (o.op != 2) {
      struct buf t = BUF_INIT;
      if (jsonb_to_json(o.val, o.vallen, &t, err, errsz)) {
        buf_free(&t);
        rc = -1;
        break;
      }
      size_t tl = t.len;
      const char *text = own(&texts, buf_steal(&t));
      const char *tp = text;
      if (!(val = jparse(&tp, text + tl, 0))) {
        rc = bh_err(err, errsz, "a value of the partial JSON diff cannot be applied");
        break;
      }
    }
    if (apply_op(root, &o, val, &texts)) {
      rc = bh_err(err, errsz, "partial JSON diff: path '%.*s' does not resolve in the before image",
                  (int)o.pathlen, o.path);
      break;
    }
  }
  if (!rc && r < 0) rc = bh_err(err, errsz, "malformed partial JSON diff");
  if (!rc) jprint(root, out);
  jfree(root);
  for (size_t i = 0; i < texts.n; i++) free(texts.p[i]);
  free(texts.p);
  return rc;
}
