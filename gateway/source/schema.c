/* schema.c - see schema.h. TABLE_MAP layout: table id, flags, schema and
 * table names, column count, the column types, a metadata block whose size
 * per column depends on the type, the nullability bitmap, then optional
 * metadata as type-length-value fields. */
#include "source/schema.h"
#include "source/binlog.h"
#include "util/buf.h"
#include "util/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  OM_SIGNEDNESS = 1,
  OM_DEFAULT_CHARSET,
  OM_COLUMN_CHARSET,
  OM_COLUMN_NAME,
  OM_SET_STR_VALUE,
  OM_ENUM_STR_VALUE,
  OM_GEOMETRY_TYPE,
  OM_SIMPLE_PRIMARY_KEY,
  OM_PRIMARY_KEY_WITH_PREFIX,
  OM_ENUM_AND_SET_DEFAULT_CHARSET,
  OM_ENUM_AND_SET_COLUMN_CHARSET,
  OM_COLUMN_VISIBILITY,
};

static int is_blob(uint8_t t)
{
  return t == MT_BLOB || t == MT_TINY_BLOB || t == MT_MEDIUM_BLOB || t == MT_LONG_BLOB ||
         t == MT_BLOB_COMPRESSED;
}

/* Columns that have a bit in the SIGNEDNESS field; MariaDB counts YEAR too. */
static int is_numeric(uint8_t t, int mariadb)
{
  switch (t) {
  case MT_TINY: case MT_SHORT: case MT_INT24: case MT_LONG: case MT_LONGLONG:
  case MT_NEWDECIMAL: case MT_FLOAT: case MT_DOUBLE:
    return 1;
  case MT_YEAR:
    return mariadb;
  default:
    return 0;
  }
}

static int is_character(uint8_t t, int mariadb)
{
  if (t == MT_STRING || t == MT_VAR_STRING || t == MT_VARCHAR || t == MT_VARCHAR_COMPRESSED || is_blob(t))
    return 1;
  if (t == MT_GEOMETRY) return mariadb; /* MariaDB counts geometry among them */
  if (t == MT_VECTOR) return !mariadb;
  return 0;
}

/* Reads the per-column metadata; returns -1 on overrun. */
static int read_meta(struct reader *r, struct column *c)
{
  const unsigned char *p;
  switch (c->type) {
  case MT_FLOAT: case MT_DOUBLE: case MT_BLOB: case MT_TINY_BLOB: case MT_MEDIUM_BLOB:
  case MT_LONG_BLOB: case MT_GEOMETRY: case MT_JSON: case MT_BLOB_COMPRESSED:
  case MT_TIMESTAMP2: case MT_DATETIME2: case MT_TIME2: case MT_VECTOR:
    c->meta = (uint16_t)reader_uint(r, 1);
    break;
  case MT_VARCHAR: case MT_VAR_STRING: case MT_VARCHAR_COMPRESSED:
    c->meta = (uint16_t)reader_uint(r, 2);
    break;
  case MT_BIT:
    p = reader_take(r, 2);
    if (p) c->meta = (uint16_t)(p[0] | (p[1] << 8)); /* bits % 8, then whole bytes */
    break;
  case MT_NEWDECIMAL:
    p = reader_take(r, 2);
    if (p) c->meta = (uint16_t)((p[0] << 8) | p[1]); /* precision, scale */
    break;
  case MT_STRING: case MT_ENUM: case MT_SET:
    p = reader_take(r, 2);
    if (p) {
      uint8_t b0 = p[0], b1 = p[1];
      if ((b0 & 0x30) != 0x30) {
        /* CHAR longer than 255 bytes keeps its high length bits here. */
        c->meta = (uint16_t)(b1 | (((b0 & 0x30) ^ 0x30) << 4));
        c->type = (uint8_t)(b0 | 0x30);
      } else {
        c->type = b0 ? b0 : c->type;
        c->meta = b1;
      }
    }
    break;
  default:
    break;
  }
  return r->overrun ? -1 : 0;
}

static char **read_labels(struct reader *r, uint32_t *count)
{
  *count = 0; /* none until they are read: a table freed now frees no labels */
  uint64_t n = reader_packed(r);
  if (r->overrun || n > reader_left(r)) {
    r->overrun = 1;
    return NULL;
  }
  char **labels = xcalloc(n + 1, sizeof *labels);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t len = reader_packed(r);
    const unsigned char *s = reader_take(r, len);
    labels[i] = s ? xstrndup((const char *)s, len) : xstrdup("");
  }
  *count = (uint32_t)n;
  return labels;
}

/* Charset lists: DEFAULT_CHARSET gives a default and exceptions by index among
 * the selected columns; COLUMN_CHARSET gives one per selected column. */
static void apply_charsets(struct reader *r, struct table *t, int type, int want_enumset, int mariadb)
{
  uint32_t *idx = xmalloc(sizeof *idx * (t->ncols + 1));
  uint32_t n = 0;
  for (uint32_t i = 0; i < t->ncols; i++) {
    uint8_t ct = t->cols[i].type;
    int sel = want_enumset ? (ct == MT_ENUM || ct == MT_SET) : is_character(ct, mariadb);
    if (sel) idx[n++] = i;
  }
  if (type == OM_DEFAULT_CHARSET || type == OM_ENUM_AND_SET_DEFAULT_CHARSET) {
    uint64_t def = reader_packed(r);
    for (uint32_t k = 0; k < n; k++) t->cols[idx[k]].charset = (uint16_t)def;
    while (!r->overrun && reader_left(r)) {
      uint64_t k = reader_packed(r);
      uint64_t cs = reader_packed(r);
      if (k < n) t->cols[idx[k]].charset = (uint16_t)cs;
    }
  } else {
    for (uint32_t k = 0; k < n && reader_left(r); k++) t->cols[idx[k]].charset = (uint16_t)reader_packed(r);
  }
  free(idx);
}

static void assign_labels(struct reader *r, struct table *t, uint8_t type)
{
  for (uint32_t i = 0; i < t->ncols && reader_left(r); i++) {
    if (t->cols[i].type != type) continue;
    /* A field given twice replaces the first. */
    for (uint32_t k = 0; k < t->cols[i].nlabels; k++) free(t->cols[i].labels[k]);
    free(t->cols[i].labels);
    t->cols[i].labels = read_labels(r, &t->cols[i].nlabels);
    if (r->overrun) return;
  }
}

static int read_optional(struct reader *r, struct table *t, int mariadb)
{
  while (reader_left(r) > 0) {
    unsigned type = (unsigned)reader_uint(r, 1);
    uint64_t len = reader_packed(r);
    const unsigned char *v = reader_take(r, len);
    if (!v) return -1;
    struct reader f;
    reader_init(&f, v, len);
    t->has_metadata = 1;
    switch (type) {
    case OM_SIGNEDNESS: {
      uint32_t k = 0;
      for (uint32_t i = 0; i < t->ncols; i++) {
        if (!is_numeric(t->cols[i].type, mariadb)) continue;
        if (k / 8 < len) t->cols[i].is_unsigned = (int8_t)((v[k / 8] >> (7 - k % 8)) & 1);
        k++;
      }
      break;
    }
    case OM_DEFAULT_CHARSET:
    case OM_COLUMN_CHARSET:
      apply_charsets(&f, t, (int)type, 0, mariadb);
      break;
    case OM_ENUM_AND_SET_DEFAULT_CHARSET:
    case OM_ENUM_AND_SET_COLUMN_CHARSET:
      apply_charsets(&f, t, (int)type, 1, mariadb);
      break;
    case OM_COLUMN_NAME:
      for (uint32_t i = 0; i < t->ncols && reader_left(&f); i++) {
        uint64_t l = reader_packed(&f);
        const unsigned char *s = reader_take(&f, l);
        if (!s) break;
        free(t->cols[i].name);
        t->cols[i].name = xstrndup((const char *)s, l);
      }
      t->names_known = !f.overrun;
      break;
    case OM_SET_STR_VALUE:
      assign_labels(&f, t, MT_SET);
      break;
    case OM_ENUM_STR_VALUE:
      assign_labels(&f, t, MT_ENUM);
      break;
    case OM_GEOMETRY_TYPE:
      for (uint32_t i = 0; i < t->ncols && reader_left(&f); i++)
        if (t->cols[i].type == MT_GEOMETRY) t->cols[i].geom_type = (uint8_t)reader_packed(&f);
      break;
    case OM_SIMPLE_PRIMARY_KEY:
    case OM_PRIMARY_KEY_WITH_PREFIX: {
      uint32_t cap = 4;
      free(t->pk);
      t->pk = xmalloc(sizeof *t->pk * cap);
      t->npk = 0;
      while (reader_left(&f) && !f.overrun) {
        uint64_t col = reader_packed(&f);
        if (type == OM_PRIMARY_KEY_WITH_PREFIX) (void)reader_packed(&f);
        if (f.overrun || col >= t->ncols) break;
        if (t->npk == cap) t->pk = xrealloc(t->pk, sizeof *t->pk * (cap *= 2));
        t->pk[t->npk++] = (uint32_t)col;
        t->cols[col].in_pk = 1;
      }
      break;
    }
    default:
      break; /* COLUMN_VISIBILITY and future fields: not needed to decode rows */
    }
  }
  return 0;
}

struct table *table_from_map(const unsigned char *body, size_t n, int table_id_len, int mariadb, char *err,
                             size_t errsz)
{
  struct reader r;
  reader_init(&r, body, n);
  struct table *t = xcalloc(1, sizeof *t);
  atomic_init((_Atomic int *)&t->refs, 1);
  t->id = reader_uint(&r, (size_t)table_id_len);
  (void)reader_uint(&r, 2); /* flags */
  uint64_t slen = reader_uint(&r, 1);
  const unsigned char *s = reader_take(&r, slen + 1);
  uint64_t tlen = reader_uint(&r, 1);
  const unsigned char *tn = reader_take(&r, tlen + 1);
  uint64_t ncols = reader_packed(&r);
  if (r.overrun || !s || !tn) goto truncated;
  t->schema = xstrndup((const char *)s, slen);
  t->name = xstrndup((const char *)tn, tlen);
  if (ncols > 4096 || ncols > reader_left(&r)) {
    bh_err(err, errsz, "TABLE_MAP for '%s.%s' claims %llu columns", t->schema, t->name,
           (unsigned long long)ncols);
    goto fail;
  }
  t->ncols = (uint32_t)ncols;
  t->cols = xcalloc(ncols ? ncols : 1, sizeof *t->cols);
  const unsigned char *types = reader_take(&r, ncols);
  if (!types) goto truncated;
  for (uint32_t i = 0; i < ncols; i++) {
    t->cols[i].type = types[i];
    t->cols[i].is_unsigned = -1;
    char nm[16];
    snprintf(nm, sizeof nm, "@%u", i + 1);
    t->cols[i].name = xstrdup(nm);
  }
  uint64_t metalen = reader_packed(&r);
  const unsigned char *meta = reader_take(&r, metalen);
  if (!meta) goto truncated;
  struct reader mr;
  reader_init(&mr, meta, metalen);
  for (uint32_t i = 0; i < ncols; i++)
    if (read_meta(&mr, &t->cols[i])) {
      bh_err(err, errsz, "TABLE_MAP for '%s.%s': column metadata cut short at column %u", t->schema, t->name,
             i + 1);
      goto fail;
    }
  const unsigned char *nulls = reader_take(&r, (ncols + 7) / 8);
  if (!nulls) goto truncated;
  for (uint32_t i = 0; i < ncols; i++) t->cols[i].nullable = (nulls[i / 8] >> (i % 8)) & 1;
  if (read_optional(&r, t, mariadb)) {
    bh_err(err, errsz, "TABLE_MAP for '%s.%s': optional metadata cut short", t->schema, t->name);
    goto fail;
  }
  return t;

truncated:
  bh_err(err, errsz, "TABLE_MAP event cut short (%zu bytes)", n);
fail:
  t->refs = 1;
  table_unref(t);
  return NULL;
}

struct table *table_ref(struct table *t)
{
  atomic_fetch_add((_Atomic int *)&t->refs, 1);
  return t;
}

void table_unref(struct table *t)
{
  if (!t || atomic_fetch_sub((_Atomic int *)&t->refs, 1) != 1) return;
  for (uint32_t i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    for (uint32_t k = 0; k < t->cols[i].nlabels; k++) free(t->cols[i].labels[k]);
    free(t->cols[i].labels);
  }
  free(t->cols);
  free(t->json);
  free(t->map);
  free(t->pk);
  free(t->schema);
  free(t->name);
  free(t);
}

void table_set_names(struct table *t, char *const *names, const uint32_t *pk, uint32_t npk)
{
  for (uint32_t i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    t->cols[i].name = xstrdup(names[i]);
  }
  if (pk) {
    free(t->pk);
    t->pk = xmalloc(sizeof *t->pk * (npk ? npk : 1));
    memcpy(t->pk, pk, sizeof *pk * npk);
    t->npk = npk;
    for (uint32_t i = 0; i < t->ncols; i++) t->cols[i].in_pk = 0;
    for (uint32_t k = 0; k < npk; k++) t->cols[pk[k]].in_pk = 1;
  }
  t->names_known = 1;
}

/* Builds t's table_json in one allocation: the struct, its columns, the
 * label arrays, then the text, with 16 bytes to spare at its end. */
static struct table_json *json_build(const struct table *t)
{
  struct buf text = BUF_INIT;
  size_t nlabels = 0;
  buf_addlit(&text, ",\"schema\":");
  buf_add_json_str(&text, t->schema, strlen(t->schema));
  buf_addlit(&text, ",\"table\":");
  buf_add_json_str(&text, t->name, strlen(t->name));
  size_t head_len = text.len;
  /* Offsets into text while it grows: the keys, then each column's labels. */
  size_t *key_at = xcalloc(t->ncols ? t->ncols : 1, sizeof *key_at);
  for (uint32_t i = 0; i < t->ncols; i++) {
    key_at[i] = text.len;
    buf_add_json_str(&text, t->cols[i].name, strlen(t->cols[i].name));
    buf_addc(&text, ':');
    if (t->cols[i].labels) nlabels += t->cols[i].nlabels;
  }
  size_t keys_end = text.len;
  size_t *label_at = xcalloc(nlabels + 1, sizeof *label_at);
  size_t l = 0;
  for (uint32_t i = 0; i < t->ncols; i++) {
    const struct column *c = &t->cols[i];
    if (!c->labels) continue;
    for (uint32_t k = 0; k < c->nlabels; k++) {
      label_at[l++] = text.len;
      buf_add_json_str(&text, c->labels[k], strlen(c->labels[k]));
    }
  }
  label_at[l] = text.len;

  size_t cols_sz = sizeof(struct table_json) + t->ncols * sizeof(struct table_json_col);
  size_t ptrs_at = (cols_sz + 7) & ~(size_t)7;
  size_t lens_at = ptrs_at + nlabels * sizeof(char *);
  size_t text_at = lens_at + nlabels * sizeof(uint32_t);
  char *block = xcalloc(1, text_at + text.len + 16);
  struct table_json *j = (struct table_json *)(void *)block;
  const char **ptrs = (const char **)(void *)(block + ptrs_at);
  uint32_t *lens = (uint32_t *)(void *)(block + lens_at);
  char *txt = block + text_at;
  if (text.len) memcpy(txt, text.p, text.len);
  j->head = txt;
  j->head_len = (uint32_t)head_len;
  j->keys_len = (uint32_t)(keys_end - head_len);
  l = 0;
  for (uint32_t i = 0; i < t->ncols; i++) {
    const struct column *c = &t->cols[i];
    struct table_json_col *jc = &j->cols[i];
    size_t key_end = i + 1 < t->ncols ? key_at[i + 1] : keys_end;
    jc->key = txt + key_at[i];
    jc->key_len = (uint32_t)(key_end - key_at[i]);
    jc->value_room = JSON_NUM_ROOM;
    if (!c->labels) continue;
    jc->nlabels = c->nlabels;
    jc->labels = ptrs + l;
    jc->label_lens = lens + l;
    size_t longest = 2, all = 2;
    for (uint32_t k = 0; k < c->nlabels; k++, l++) {
      ptrs[l] = txt + label_at[l];
      lens[l] = (uint32_t)(label_at[l + 1] - label_at[l]);
      if (lens[l] > longest) longest = lens[l];
      if (k < 64) all += lens[l] + 1;
    }
    size_t room = all > longest ? all : longest; /* a SET's labels together, an ENUM's longest */
    if (room > jc->value_room) jc->value_room = (uint32_t)room;
  }
  free(label_at);
  free(key_at);
  buf_free(&text);
  return j;
}

const struct table_json *table_json(struct table *t)
{
  struct table_json *j = atomic_load((struct table_json *_Atomic *)&t->json);
  if (j) return j;
  struct table_json *mine = json_build(t), *expected = NULL;
  if (atomic_compare_exchange_strong((struct table_json *_Atomic *)&t->json, &expected, mine)) return mine;
  free(mine); /* another thread made it first */
  return expected;
}

const char *table_json_key(struct table *t, uint32_t i, size_t *len)
{
  const struct table_json *j = table_json(t);
  *len = j->cols[i].key_len;
  return j->cols[i].key;
}

const char *column_type_name(const struct column *c)
{
  switch (c->type) {
  case MT_DECIMAL: return "decimal(old)";
  case MT_TINY: return "tinyint";
  case MT_SHORT: return "smallint";
  case MT_LONG: return "int";
  case MT_FLOAT: return "float";
  case MT_DOUBLE: return "double";
  case MT_TIMESTAMP: case MT_TIMESTAMP2: return "timestamp";
  case MT_LONGLONG: return "bigint";
  case MT_INT24: return "mediumint";
  case MT_DATE: case MT_NEWDATE: return "date";
  case MT_TIME: case MT_TIME2: return "time";
  case MT_DATETIME: case MT_DATETIME2: return "datetime";
  case MT_YEAR: return "year";
  case MT_VARCHAR: case MT_VAR_STRING: return "varchar";
  case MT_VARCHAR_COMPRESSED: return "varchar(compressed)";
  case MT_BIT: return "bit";
  case MT_JSON: return "json";
  case MT_NEWDECIMAL: return "decimal";
  case MT_ENUM: return "enum";
  case MT_SET: return "set";
  case MT_BLOB: case MT_TINY_BLOB: case MT_MEDIUM_BLOB: case MT_LONG_BLOB: return "blob";
  case MT_BLOB_COMPRESSED: return "blob(compressed)";
  case MT_STRING: return "char";
  case MT_GEOMETRY: return "geometry";
  case MT_VECTOR: return "vector";
  default: return "unknown";
  }
}

/* A small open-addressing hash; a binlog file rarely maps more than a few
 * hundred distinct tables. */
struct table_map {
  size_t cap, used;
  struct table **slots;
};

struct table_map *table_map_new(void)
{
  struct table_map *m = xcalloc(1, sizeof *m);
  m->cap = 64;
  m->slots = xcalloc(m->cap, sizeof *m->slots);
  return m;
}

void table_map_clear(struct table_map *m)
{
  for (size_t i = 0; i < m->cap; i++) {
    table_unref(m->slots[i]);
    m->slots[i] = NULL;
  }
  m->used = 0;
}

void table_map_free(struct table_map *m)
{
  if (!m) return;
  table_map_clear(m);
  free(m->slots);
  free(m);
}

static size_t slot_of(const struct table_map *m, uint64_t id)
{
  uint64_t h = id * 0x9e3779b97f4a7c15ull;
  size_t i = (size_t)(h >> 32) & (m->cap - 1);
  while (m->slots[i] && m->slots[i]->id != id) i = (i + 1) & (m->cap - 1);
  return i;
}

void table_map_put(struct table_map *m, struct table *t)
{
  if ((m->used + 1) * 2 > m->cap) {
    struct table **old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i]) m->slots[slot_of(m, old[i]->id)] = old[i];
    free(old);
  }
  size_t i = slot_of(m, t->id);
  if (m->slots[i]) table_unref(m->slots[i]);
  else m->used++;
  m->slots[i] = t;
}

struct table *table_map_get(struct table_map *m, uint64_t id)
{
  return m->slots[slot_of(m, id)];
}
