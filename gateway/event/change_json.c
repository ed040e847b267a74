/* change_json.c - see change_json.h. The text becomes a tree of struct jv
 * (json.h, which keeps numbers' exact text: 18446744073709551615 and
 * 99.999999999999999999 are values rules compare exactly), then an event. */
#include "event/change_json.h"
#include "util/json.h"
#include "source/binlog.h"
#include "source/pg_decode.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "invalid event JSON at byte N: what" */
static int parse_event_json(const char *text, size_t n, struct jv *root, char *err, size_t errsz)
{
  char what[128];
  size_t pos = 0;
  if (json_parse_value(text, n, &pos, root, what, sizeof what) < 0 ||
      (json_skip_ws(text, n, &pos), pos != n && snprintf(what, sizeof what, "text after the event object")))
    return bh_err(err, errsz, "invalid event JSON at byte %zu: %s", pos, what);
  return 0;
}

#define member jv_member

/* A value of column c from the JSON, its text in the event's arena. */
static void set_value(struct change *e, struct column *c, struct value *v, const struct jv *j,
                      const char *text)
{
  const char *s = NULL;
  size_t n = 0;
  uint8_t type = MT_NULL;
  switch (j->k) {
  case J_NULL: v->kind = VAL_NULL; break;
  case J_TRUE:
  case J_FALSE: v->kind = VAL_INT, v->i = j->k == J_TRUE, type = MT_TINY; break;
  case J_STR: v->kind = VAL_STRING, s = j->s, n = j->n, type = MT_VARCHAR; break;
  case J_ARR:
  case J_OBJ: v->kind = VAL_JSON, s = text + j->pos, n = j->end - j->pos, type = MT_JSON; break;
  case J_NUM: {
    int frac = strchr(j->s, '.') != NULL, exp = strpbrk(j->s, "eE") != NULL;
    char *end;
    if (exp) {
      v->kind = VAL_DOUBLE, v->d = strtod(j->s, NULL), type = MT_DOUBLE;
      break;
    }
    if (!frac) {
      errno = 0;
      if (j->s[0] == '-') {
        long long x = strtoll(j->s, &end, 10);
        if (!errno && !*end) {
          v->kind = VAL_INT, v->i = x, type = MT_LONGLONG;
          break;
        }
      } else {
        unsigned long long x = strtoull(j->s, &end, 10);
        if (!errno && !*end) {
          if (x <= INT64_MAX)
            v->kind = VAL_INT, v->i = (int64_t)x;
          else
            v->kind = VAL_UINT, v->u = x, c->is_unsigned = 1;
          type = MT_LONGLONG;
          break;
        }
      }
    }
    v->kind = VAL_DECIMAL, s = j->s, n = j->n, type = MT_NEWDECIMAL; /* exact, whatever its size */
    break;
  }
  }
  if (s) {
    v->off = e->arena.len;
    v->len = (uint32_t)n;
    buf_add(&e->arena, s, n);
    buf_addc(&e->arena, 0); /* each text ends with a NUL, not counted */
  }
  if (c->type == MT_NULL) c->type = type;
}

static int add_names(const struct jv *obj, const char *what, char ***names, uint32_t *n, char *err,
                     size_t errsz)
{
  if (!obj || obj->k == J_NULL) return 0;
  if (obj->k != J_OBJ) return bh_err(err, errsz, "'%s' must be an object", what);
  for (size_t i = 0; i < obj->nkids; i++) {
    for (size_t k = 0; k < i; k++)
      if (!strcmp(obj->keys[k], obj->keys[i]))
        return bh_err(err, errsz, "duplicate column '%s' in '%s'", obj->keys[i], what);
    uint32_t k = 0;
    while (k < *n && strcmp((*names)[k], obj->keys[i]))
      k++;
    if (k < *n) continue;
    if (!obj->keys[i][0]) return bh_err(err, errsz, "empty column name in '%s'", what);
    *names = xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = obj->keys[i];
  }
  return 0;
}

static int col_of(const struct table *t, const char *name)
{
  for (uint32_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return (int)i;
  return -1;
}

static void fill_image(struct change *e, struct value *img, const struct jv *obj, int only_absent,
                       const char *text)
{
  if (!obj || obj->k != J_OBJ) return;
  for (size_t i = 0; i < obj->nkids; i++) {
    int c = col_of(e->table, obj->keys[i]);
    if (c < 0 || (only_absent && img[c].kind != VAL_ABSENT)) continue;
    set_value(e, &e->table->cols[c], &img[c], &obj->kids[i], text);
  }
}

static const char *str_member(const struct jv *obj, const char *name)
{
  const struct jv *v = member(obj, name);
  return v && v->k == J_STR ? v->s : NULL;
}

static int uint_member(const struct jv *obj, const char *name, uint64_t *out)
{
  const struct jv *v = member(obj, name);
  if (!v) return 0;
  char *end;
  errno = 0;
  if (v->k != J_NUM || v->s[0] == '-') return -1;
  unsigned long long x = strtoull(v->s, &end, 10);
  if (errno || *end) return -1;
  *out = x;
  return 0;
}

static int read_common(struct change *e, const struct jv *root, char *err, size_t errsz)
{
  const struct jv *pos = member(root, "position");
  if (pos && pos->k == J_OBJ && member(pos, "lsn")) {
    /* a PostgreSQL change as binhook prints it: {"lsn": its transaction's
     * commit LSN, which is part of its id, "xid": the transaction's id} */
    const char *lsn = str_member(pos, "lsn");
    if (member(pos, "file") || member(pos, "pos") || member(pos, "gtid"))
      return bh_err(err, errsz,
                    "'position' has either 'lsn' and 'xid' (PostgreSQL) or 'file', 'pos' and 'gtid'");
    if (!lsn || pg_lsn_parse(lsn, &e->tx_pos))
      return bh_err(err, errsz, "'position.lsn' must be an LSN as PostgreSQL writes it (\"0/16B3748\")");
    snprintf(e->position.file, sizeof e->position.file, "%s", lsn);
    if (uint_member(pos, "xid", &e->position.pos) < 0 || e->position.pos > UINT32_MAX)
      return bh_err(err, errsz, "'position.xid' must be a transaction id (0 to 4294967295)");
    e->pg_lsn = 1;
    if (e->type == EVENT_SNAPSHOT && !member(pos, "xid")) { /* a snapshot row: the handover's LSN, as read */
      e->position.pos = e->tx_pos;
      e->tx_pos = 0;
    }
  } else if (pos && pos->k == J_OBJ) {
    const char *f = str_member(pos, "file"), *g = str_member(pos, "gtid");
    if (f) snprintf(e->position.file, sizeof e->position.file, "%s", f);
    if (g) snprintf(e->position.gtid, sizeof e->position.gtid, "%s", g);
    if (uint_member(pos, "pos", &e->position.pos) < 0)
      return bh_err(err, errsz, "'position.pos' must be a non-negative integer");
    /* a file that is an LSN: a PostgreSQL change written the older way,
     * its commit LSN part of its id all the same */
    if (!g && f && pg_lsn_parse(f, &e->tx_pos)) e->tx_pos = 0;
  }
  const struct jv *tx = member(root, "tx");
  uint64_t idx = 0;
  if (tx && tx->k == J_OBJ && uint_member(tx, "index", &idx) < 0)
    return bh_err(err, errsz, "'tx.index' must be a non-negative integer");
  e->tx_index = (uint32_t)idx;
  const char *ts = str_member(root, "ts");
  if (ts) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z")))
      return bh_err(err, errsz, "'ts' must be a time as YYYY-MM-DDTHH:MM:SSZ, not '%s'", ts);
    e->ts = (uint32_t)timegm(&tm);
  }
  return 0;
}

static struct change *statement_event(const struct jv *root, char *err, size_t errsz)
{
  struct change *e = change_new(EVENT_STATEMENT, NULL);
  const char *schema = str_member(root, "schema"), *sql = str_member(root, "sql"),
             *kind = str_member(root, "kind");
  if (schema) {
    e->schema_off = e->arena.len;
    e->schema_len = strlen(schema);
    buf_add(&e->arena, schema, e->schema_len);
    buf_addc(&e->arena, 0);
  }
  if (sql) e->sql = rcstr_new(sql, member(root, "sql")->n);
  e->kind = STMT_OTHER;
  if (kind && !strcmp(kind, "ddl"))
    e->kind = STMT_DDL;
  else if (kind && !strcmp(kind, "dcl"))
    e->kind = STMT_DCL;
  else if (kind && strcmp(kind, "other")) {
    bh_err(err, errsz, "unknown statement kind '%s' (ddl, dcl or other)", kind);
    goto fail;
  }
  uint64_t tid = 0;
  if (uint_member(root, "thread_id", &tid) < 0) {
    bh_err(err, errsz, "'thread_id' must be a non-negative integer");
    goto fail;
  }
  e->thread_id = (uint32_t)tid;
  const struct jv *user = member(root, "user");
  if (user && user->k != J_NULL) {
    if (user->k != J_STR || !user->n) {
      bh_err(err, errsz, "'user' must be a non-empty string (\"user@host\" or \"unknown\")");
      goto fail;
    }
    change_set_user(e, user->s, user->n);
  }
  change_set_ddl(e, str_member(root, "tag"), str_member(root, "object"));
  return e;
fail:
  change_free(e);
  return NULL;
}

static struct change *row_event(enum event_type type, const struct jv *root, const char *text, char *err,
                               size_t errsz)
{
  const char *schema = str_member(root, "schema"), *name = str_member(root, "table");
  if (!schema) return bh_err(err, errsz, "a row event needs a string 'schema'"), NULL;
  if (!name) return bh_err(err, errsz, "a row event needs a string 'table'"), NULL;
  const struct jv *key = member(root, "key"), *before = member(root, "before"),
                  *after = member(root, "after");
  if (before && before->k != J_NULL && (type == EVENT_INSERT || type == EVENT_SNAPSHOT))
    return bh_err(err, errsz, "an %s event has no 'before'", change_type_name(type)), NULL;
  if (after && after->k != J_NULL && type == EVENT_DELETE)
    return bh_err(err, errsz, "a delete event has no 'after'"), NULL;

  char **names = NULL;
  uint32_t n = 0;
  if (add_names(before, "before", &names, &n, err, errsz) < 0 ||
      add_names(after, "after", &names, &n, err, errsz) < 0 ||
      add_names(key, "key", &names, &n, err, errsz) < 0) {
    free(names);
    return NULL;
  }
  struct table *t = xcalloc(1, sizeof *t);
  t->refs = 1;
  t->schema = xstrdup(schema);
  t->name = xstrdup(name);
  t->ncols = n;
  t->cols = xcalloc(n ? n : 1, sizeof *t->cols);
  for (uint32_t i = 0; i < n; i++) {
    t->cols[i].name = xstrdup(names[i]);
    t->cols[i].type = MT_NULL;
    t->cols[i].nullable = 1;
    t->cols[i].is_unsigned = -1;
  }
  free(names);
  t->names_known = 1;
  if (key && key->k == J_OBJ && key->nkids) {
    t->pk = xcalloc(key->nkids, sizeof *t->pk);
    for (size_t i = 0; i < key->nkids; i++) {
      int c = col_of(t, key->keys[i]);
      bh_assert(c >= 0);
      t->pk[t->npk++] = (uint32_t)c;
      t->cols[c].in_pk = 1;
    }
  }
  struct change *e = change_new(type, t);
  table_unref(t); /* the event holds its own reference */
  fill_image(e, e->before, before, 0, text);
  fill_image(e, e->after, after, 0, text);
  /* The key's image: after, or before for updates (minimal images may leave
   * it out of after) and deletes. */
  fill_image(e, type == EVENT_UPDATE || type == EVENT_DELETE ? e->before : e->after, key, 1, text);
  return e;
}

struct change *change_from_json(const char *text, size_t n, char *err, size_t errsz)
{
  struct jv root;
  struct change *e = NULL;
  if (parse_event_json(text, n, &root, err, errsz) < 0) goto out;
  if (root.k != J_OBJ) {
    bh_err(err, errsz, "an event must be a JSON object");
    goto out;
  }
  for (size_t i = 0; i < root.nkids; i++)
    for (size_t k = 0; k < i; k++)
      if (!strcmp(root.keys[k], root.keys[i])) {
        bh_err(err, errsz, "duplicate field '%s'", root.keys[i]);
        goto out;
      }
  const char *type = str_member(&root, "type");
  if (!type) {
    bh_err(err, errsz, "an event needs a string 'type'");
    goto out;
  }
  static const struct {
    const char *name;
    enum event_type t;
  } types[] = {{"insert", EVENT_INSERT},
               {"update", EVENT_UPDATE},
               {"delete", EVENT_DELETE},
               {"snapshot", EVENT_SNAPSHOT},
               {"statement", EVENT_STATEMENT}};
  size_t ti = 0;
  while (ti < 5 && strcmp(types[ti].name, type))
    ti++;
  if (ti == 5) {
    bh_err(err, errsz, "unknown event type '%s' (insert, update, delete, snapshot or statement)", type);
    goto out;
  }
  if (types[ti].t == EVENT_STATEMENT)
    e = statement_event(&root, err, errsz);
  else
    e = row_event(types[ti].t, &root, text, err, errsz);
  if (e && !e->sql && types[ti].t != EVENT_STATEMENT) {
    const struct jv *sql = member(&root, "sql");
    if (sql && sql->k == J_STR) e->sql = rcstr_new(sql->s, sql->n);
  }
  if (e && read_common(e, &root, err, errsz) < 0) {
    change_free(e);
    e = NULL;
  }
out:
  jv_free(&root);
  return e;
}
