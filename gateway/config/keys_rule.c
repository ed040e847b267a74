/* keys_rule.c - the spec table of [[rule]] (see spec.h), with the handlers
 * of its keys that are more than a value (its name, its endpoints, its
 * templates) and the finish that checks the keys that need each other. A
 * rule is read into plain data with the positions of its texts; rules.c
 * compiles it. */
#include "config/spec.h"

#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* name: unique, and safe in messages, metrics and file names. */
static int read_name(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                     void *obj)
{
  struct config *cfg = l->cfg;
  struct config_rule *r = obj;
  const struct toml_value *v = k->value;
  const char *s = spec_get_string(l, k, sect, 1);
  if (!s) return -1;
  if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(s)) {
    spec_error(l, v->line, v->col, "rule name '%s' may hold only letters, digits, '_', '.' and '-'", s);
    return -1;
  }
  for (size_t j = 0; j < cfg->nrules && &cfg->rules[j] != r; j++) {
    if (cfg->rules[j].name && !strcmp(cfg->rules[j].name, s)) {
      spec_error(l, v->line, v->col, "rule name '%s' is used twice (first at %s:%d:%d)", s,
                 cfg->rules[j].file, cfg->rules[j].line, cfg->rules[j].col);
      return -1;
    }
  }
  free(r->name);
  r->name = xstrdup(s);
  return 0;
}

/* endpoint = "NAME" or a list: checked against the endpoints by rules.c,
 * so the position is kept. */
static int read_endpoints(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                          const char *sect, void *obj)
{
  char w[300];
  struct config_rule *r = obj;
  const struct toml_value *v = k->value;
  char **vec = spec_get_strings(l, k, sect, "an endpoint name or a list of them");
  if (!vec) return -1;
  if (!vec[0]) {
    spec_error(l, v->line, v->col, "%s is empty: name at least one endpoint",
               spec_where(w, sizeof w, k, sect));
    bh_strv_free(vec);
    return -1;
  }
  bh_strv_free(r->endpoints);
  r->endpoints = vec;
  r->endpoints_file = l->file;
  r->endpoints_line = v->line;
  r->endpoints_col = v->col;
  return 0;
}

/* template = "file" or { ENDPOINT = "file", ... }: a template per endpoint. */
static int read_template(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                         const char *sect, void *obj)
{
  struct config_rule *r = obj;
  const struct toml_value *v = k->value;
  if (v->type != TOML_TABLE) return spec_get_text(l, k, sect, 1, &r->template);
  int bad = 0;
  for (size_t j = 0; j < v->u.table.len; j++) {
    const struct toml_key *tk = &v->u.table.entries[j];
    struct config_text tt = {0};
    if (spec_get_text(l, tk, sect, 1, &tt)) {
      bad = 1;
      continue;
    }
    size_t n = r->nendpoint_templates + 1;
    r->endpoint_templates = xrealloc(r->endpoint_templates, n * sizeof *r->endpoint_templates);
    r->endpoint_template_names = xrealloc(r->endpoint_template_names, n * sizeof *r->endpoint_template_names);
    r->endpoint_templates[n - 1] = tt;
    r->endpoint_template_names[n - 1] = xstrdup(tk->key);
    r->nendpoint_templates = n;
  }
  return bad ? -1 : 0;
}

static int read_headers(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                        const char *sect, void *obj)
{
  struct config_rule *r = obj;
  return spec_get_headers(l, k, sect, &r->headers, &r->nheaders);
}

/* The keys that need each other. A key missing from a table that a syntax
 * error cut short may have come after the error: no message about it. */
static void finish_rule(struct loader *l, const struct toml_value *t, const char *sect, void *obj,
                        const struct toml_key *const *seen)
{
  struct config_rule *r = obj;
  int cut = toml_incomplete(t);
  if (!r->name) {
    if (!toml_get_key(t, "name") && !cut)
      spec_error(l, t->line, t->col, "a rule needs a name (name = \"...\")");
    char buf[64];
    snprintf(buf, sizeof buf, "rule-%zu", (size_t)(r - l->cfg->rules) + 1);
    r->name = xstrdup(buf);
  }
  if (!r->endpoints && !toml_get_key(t, "endpoint") && !cut)
    spec_error(l, t->line, t->col, "rule '%s' has no endpoint (endpoint = \"NAME\" of an [endpoint.NAME])",
               r->name);
  if (r->threshold && r->statement.s)
    spec_error(l, r->statement.line, r->statement.col,
               "rule '%s': a threshold rule counts rows; it cannot also have a statement pattern", r->name);
  if (r->threshold && (r->on & RULE_ON_HEARTBEAT))
    spec_error(l, t->line, t->col, "rule '%s': a threshold rule counts rows; 'on' cannot hold \"heartbeat\"",
               r->name);
  if (r->threshold && (r->on & RULE_ON_STATEMENT))
    spec_error(l, t->line, t->col, "rule '%s': a threshold rule counts rows; 'on' cannot hold \"statement\"",
               r->name);
  if (r->kinds && !r->statement.s && !(r->on & RULE_ON_STATEMENT) && !cut)
    spec_error(l, t->line, t->col,
               "rule '%s': 'kind' applies to statements; add a statement pattern or on = [\"statement\"]",
               r->name);
}

static const struct spec_enum event_types = {
    "an event type or a list of them",
    (const struct spec_name[]){{"insert", RULE_ON_INSERT},
                               {"update", RULE_ON_UPDATE},
                               {"delete", RULE_ON_DELETE},
                               {"snapshot", RULE_ON_SNAPSHOT},
                               {"statement", RULE_ON_STATEMENT},
                               {"heartbeat", RULE_ON_HEARTBEAT},
                               {NULL, 0}},
    0,
};

static const struct spec_enum statement_kinds = {
    "a statement kind or a list of them",
    (const struct spec_name[]){
        {"ddl", RULE_KIND_DDL}, {"dcl", RULE_KIND_DCL}, {"other", RULE_KIND_OTHER}, {NULL, 0}},
    0,
};

#define RULE(f) .offset = offsetof(struct config_rule, f)
static const struct spec_key rule_keys[] = {
    {"name", SPEC_CUSTOM, .read = read_name},
    {"description", SPEC_STRING, RULE(description), .flags = SPEC_EMPTY_OK},
    {"enabled", SPEC_BOOL, RULE(enabled), .def = "true"},
    {"table", SPEC_GLOBS, RULE(tables), .empty = "leave it out to match every table"},
    {"on", SPEC_MASK, RULE(on), .names = &event_types},
    {"kind", SPEC_MASK, RULE(kinds), .names = &statement_kinds},
    {"when", SPEC_TEXT, RULE(when)},
    {"statement", SPEC_TEXT, RULE(statement)},
    {"threshold", SPEC_INTEGER, RULE(threshold), SPEC_I64, 1, INT64_MAX},
    {"sample", SPEC_INTEGER, RULE(sample), SPEC_UNSIGNED, 0, 1000, .def = "10"},
    {"endpoint", SPEC_CUSTOM, .read = read_endpoints},
    {"template", SPEC_CUSTOM, .read = read_template},
    {"subject", SPEC_TEXT, RULE(subject)},
    {"method", SPEC_TEXT, RULE(method), .check = spec_check_http_method},
    {"url", SPEC_TEXT, RULE(url)},
    {"path", SPEC_TEXT, RULE(path)},
    {"headers", SPEC_CUSTOM, .read = read_headers},
    {NULL},
};
const struct spec_section spec_rule = {"rule", rule_keys, finish_rule};

/* One [[rule]]; index counts the rules of its file, for messages about a
 * rule without a name. */
static void read_rule(struct loader *l, const struct toml_value *t, size_t index)
{
  char sect[80];
  struct config *cfg = l->cfg;
  if (t->type != TOML_TABLE) {
    spec_error(l, t->line, t->col, "each rule must be a table ([[rule]]), not %s",
               toml_type_article(t->type));
    return;
  }
  cfg->rules = xrealloc(cfg->rules, (cfg->nrules + 1) * sizeof *cfg->rules);
  struct config_rule *r = &cfg->rules[cfg->nrules++];
  memset(r, 0, sizeof *r);
  r->file = l->file;
  r->line = t->line;
  r->col = t->col;
  spec_defaults(&spec_rule, r);
  /* messages say 'key' in [rule 'name'] */
  snprintf(sect, sizeof sect, "rule #%zu", index + 1);
  const struct toml_key *name_key = toml_get_key(t, "name");
  if (name_key && name_key->value->type == TOML_STRING && name_key->value->u.str.len < 60)
    snprintf(sect, sizeof sect, "rule '%s'", name_key->value->u.str.ptr);
  spec_read(l, &spec_rule, sect, t, r);
}

int spec_read_rules(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                    void *obj)
{
  const struct toml_value *v = k->value;
  if (v->type != TOML_ARRAY) {
    spec_type_error(l, k, NULL, "an array of tables ([[rule]])");
    return -1;
  }
  for (size_t j = 0; j < v->u.array.len; j++)
    read_rule(l, v->u.array.items[j], j);
  return 0;
}
