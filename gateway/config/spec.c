/* spec.c - see spec.h: the walk of a table against a section's rows, the
 * defaults read from the rows, and the loader's problems. */
#include "config/spec.h"

#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- problems ---- */

void spec_error(struct loader *l, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  config_vproblem(&l->errs, l->file, line, col, fmt, ap);
  va_end(ap);
  l->nerr++;
}

void spec_error_raw(struct loader *l, const char *msg)
{
  if (l->errs.len) buf_addc(&l->errs, '\n');
  buf_adds(&l->errs, msg);
  l->nerr++;
}

const char *spec_where(char *buf, size_t size, const struct toml_key *k, const char *sect)
{
  if (sect)
    snprintf(buf, size, "'%.100s' in [%.150s]", k->key, sect);
  else
    snprintf(buf, size, "'%.100s'", k->key);
  return buf;
}

void spec_type_error(struct loader *l, const struct toml_key *k, const char *sect, const char *want)
{
  char w[300];
  spec_error(l, k->value->line, k->value->col, "%s must be %s, not %s", spec_where(w, sizeof w, k, sect),
             want, toml_type_article(k->value->type));
}

/* The names of sec's rows, NULL-terminated, into names. */
static void key_names(const struct spec_section *sec, const char *names[SPEC_MAX_KEYS + 1])
{
  size_t n = 0;
  for (const struct spec_key *r = sec->keys; r->name; r++) {
    bh_assert(n < SPEC_MAX_KEYS);
    names[n++] = r->name;
  }
  names[n] = NULL;
}

/* A key of another [section] called like k: the section, with *name. */
static const struct spec_section *other_section(const struct toml_key *k, const char *sect, const char **name)
{
  for (const struct spec_key *r = spec_top.keys; r->name; r++) {
    if (r->type != SPEC_TABLE || (sect && !strcmp(sect, r->name))) continue;
    const struct spec_key *o = spec_find(r->section, k->key, NULL);
    if (o) {
      *name = o->name;
      return r->section;
    }
  }
  return NULL;
}

void spec_unknown_key(struct loader *l, const struct toml_key *k, const char *sect,
                      const struct spec_section *sec)
{
  char where[200];
  const char *known[SPEC_MAX_KEYS + 1], *name;
  if (sect)
    snprintf(where, sizeof where, "in [%s]", sect);
  else
    snprintf(where, sizeof where, "at the top level");
  key_names(sec, known);
  /* a typo of a key of this section first, then a key of another section */
  const char *close = bh_nearest(k->key, known);
  if (close) {
    spec_error(l, k->line, k->col, "unknown key '%s' %s; did you mean '%s'?", k->key, where, close);
    return;
  }
  const struct spec_section *other = other_section(k, sect, &name);
  if (other) {
    spec_error(l, k->line, k->col, "unknown key '%s' %s; did you mean '%s' in [%s]?", k->key, where, name,
               other->name);
    return;
  }
  if (sect && spec_find(&spec_top, k->key, NULL)) {
    spec_error(l, k->line, k->col, "unknown key '%s' %s; '%s' belongs at the top level, before any [section]",
               k->key, where, k->key);
    return;
  }
  char list[512];
  size_t len = 0;
  list[0] = 0;
  for (const char *const *kk = known; *kk && len < sizeof list; kk++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *kk);
  spec_error(l, k->line, k->col, "unknown key '%s' %s (known keys: %s)", k->key, where, list);
}

/* ---- rows ---- */

const struct spec_key *spec_find(const struct spec_section *sec, const char *name, size_t *index)
{
  for (size_t i = 0; sec->keys[i].name; i++) {
    if (strcmp(sec->keys[i].name, name)) continue;
    if (index) *index = i;
    return &sec->keys[i];
  }
  return NULL;
}

const struct toml_key *spec_seen(const struct spec_section *sec, const struct toml_key *const *seen,
                                 const char *name)
{
  size_t i;
  bh_assert(spec_find(sec, name, &i));
  return seen[i];
}

const char *spec_enum_name(const struct spec_enum *e, int value)
{
  for (const struct spec_name *n = e->names; n->name; n++)
    if (n->value == value) return n->name;
  return "?";
}

void spec_read(struct loader *l, const struct spec_section *sec, const char *sect, const struct toml_value *t,
               void *obj)
{
  const struct toml_key *seen[SPEC_MAX_KEYS] = {NULL};
  for (size_t i = 0; i < t->u.table.len; i++) {
    const struct toml_key *k = &t->u.table.entries[i];
    size_t row;
    const struct spec_key *r = spec_find(sec, k->key, &row);
    bh_assert(!r || row < SPEC_MAX_KEYS);
    if (!r) {
      spec_unknown_key(l, k, sect, sec);
      continue;
    }
    if (!spec_read_value(l, r, k, sect, obj)) seen[row] = k;
  }
  if (sec->finish) sec->finish(l, t, sect, obj, seen);
}

/* ---- defaults and freeing ---- */

void spec_defaults(const struct spec_section *sec, void *obj)
{
  for (const struct spec_key *r = sec->keys; r->name; r++) {
    char *field = (char *)obj + r->offset;
    if (r->type == SPEC_TABLE) {
      spec_defaults(r->section, field);
    } else if (r->type == SPEC_ENUM && !r->def) {
      *(int *)field = r->names->unset; /* an enum field is int-sized (spec.h) */
    } else if (r->def) {
      /* the default goes through the reader of the file's values */
      char text[256], err[256];
      snprintf(text, sizeof text, "%s = %s\n", r->name, r->def);
      struct toml_value *root = toml_parse(text, strlen(text), "(default)", err, sizeof err);
      bh_assert(root && root->u.table.len == 1);
      struct loader l = {.file = "(default)", .text = text, .textlen = strlen(text)};
      int rc = spec_read_value(&l, r, &root->u.table.entries[0], sec->name, obj);
      bh_assert(rc == 0 && l.nerr == 0);
      buf_free(&l.errs);
      toml_free(root);
    }
  }
}

void spec_free(const struct spec_section *sec, void *obj)
{
  for (const struct spec_key *r = sec->keys; r->name; r++) {
    void *field = (char *)obj + r->offset;
    switch (r->type) {
    case SPEC_STRING:
    case SPEC_PATH:
      free(*(char **)field);
      *(char **)field = NULL;
      break;
    case SPEC_TEXT: spec_text_free(field); break;
    case SPEC_STRINGS:
    case SPEC_GLOBS:
      bh_strv_free(*(char ***)field);
      *(char ***)field = NULL;
      break;
    case SPEC_TABLE: spec_free(r->section, field); break;
    default: break;
    }
  }
}

char *spec_path(const char *cfgfile, const char *p)
{
  const char *slash = strrchr(cfgfile, '/');
  if (p[0] == '/' || !slash) return xstrdup(p);
  size_t n = (size_t)(slash - cfgfile) + 1 + strlen(p) + 1;
  char *out = xmalloc(n);
  snprintf(out, n, "%.*s/%s", (int)(slash - cfgfile), cfgfile, p);
  return out;
}
