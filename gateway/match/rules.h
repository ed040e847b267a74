/* rules.h - the compiled rules: which changes and statements go to which
 * endpoints, rendered with which templates.
 *
 * ruleset_build turns a loaded struct config (config.h) into a struct
 * ruleset: `when` expressions and statement patterns compiled, templates
 * read from the templates directory and compiled, endpoints' URL, header and
 * subject templates compiled and their secrets decoded. A ruleset is
 * immutable; a reload builds a new one and swaps it in.
 *
 * A struct matcher applies a ruleset to the stream, change by change. A
 * table index gives each schema.table its candidate rules once (a glob is
 * tested once per table, not once per change), so the cost of a change does
 * not grow with the number of rules that cannot match it. The matcher also
 * keeps what spans a transaction: the row counts of threshold rules, which
 * become one alert event per rule and table at the COMMIT, and the SQL of
 * the current statement, so that a statement rule fires once per statement
 * however many rows it changed.
 *
 * Rule semantics
 *   table      schema.table globs; none: every table.
 *   on         the event types: insert, update, delete, snapshot, statement.
 *              Default: the four row types; with `statement`, "statement";
 *              for threshold rules, "delete".
 *   statement  a PCRE2 pattern (UTF, JIT-compiled) searched in the SQL text:
 *              of statement events, and of the logged SQL of row changes
 *              (binlog_annotate_row_events / binlog_rows_query_log_events)
 *              when `on` names row types: then the rule fires once per
 *              statement, on its first matching row.
 *   kind       statement kinds: ddl, dcl, other.
 *   when       an expression (expr.h) over the event.
 *   threshold  N: counts the rows of the `on` types (that pass `when`) per
 *              table and transaction; more than N make one alert event
 *              (type "alert") with the counts and the keys of the first
 *              `sample` rows. */
#ifndef BH_RULES_H
#define BH_RULES_H

#include "util/buf.h"
#include "config/config.h"
#include "event/change.h"
#include "deliver/sign.h"
#include "match/tmpl.h"

#include <stddef.h>

struct endpoint {
  const struct config_endpoint *cfg;
  const char *name;
  int is_mail;             /* smtp:// or smtps:// */
  struct tmpl *url;        /* http(s): a URL template */
  struct tmpl **headers;   /* one per cfg->headers */
  struct tmpl *subject;    /* e-mail: the default subject */
  enum sign_scheme scheme;
  struct sign_key *keys;   /* decoded secrets */
  size_t nkeys;
};

struct rule {
  const struct config_rule *cfg;
  const char *name;
  size_t index;             /* in the ruleset */
  unsigned on, kinds;       /* RULE_ON_*, RULE_KIND_* (config.h); kinds 0: any */
  struct expr *when;        /* or NULL */
  void *statement;          /* pcre2_code, or NULL */
  struct endpoint **endpoints;
  size_t nendpoints;
  struct tmpl **bodies;     /* per endpoint: the body template, NULL for the canonical event */
  int *bodies_json;         /* per endpoint: the body template is JSON (else text) */
  struct tmpl *subject;     /* over the endpoint's */
  struct tmpl *url;         /* over the endpoint's */
  struct tmpl *path;        /* appended to the url */
  struct tmpl **headers;    /* one per cfg->headers */
};

struct ruleset {
  int refs;          /* ruleset_ref / ruleset_free (main loop only) */
  struct config cfg; /* owned: rules and endpoints point into it */
  struct rule *rules;
  size_t nrules;
  struct endpoint *endpoints;
  size_t nendpoints;
  struct rule_index *index;
};

/* The index of ep in r->endpoints. */
size_t rule_endpoint_index(const struct rule *r, const struct endpoint *ep);

/* Builds a ruleset from cfg, which it takes over (cfg is left empty).
 * Problems are appended to errs, one "file:line:col: message" per line;
 * returns the number of problems. *out is set only when there are none
 * (then the caller frees it with ruleset_free). Secrets that could not be
 * read (struct config_endpoint.secret_problem) count as problems when
 * need_secrets, else they are left to the caller. */
int ruleset_build(struct config *cfg, int need_secrets, struct ruleset **out, struct buf *errs);

/* Another reference, for what outlives a reload (a delivery in flight). */
struct ruleset *ruleset_ref(struct ruleset *rs);
/* Drops a reference; the last one frees the ruleset. */
void ruleset_free(struct ruleset *rs);

struct matcher;

/* A matcher over rs, which must outlive it. */
struct matcher *matcher_new(const struct ruleset *rs);
void matcher_free(struct matcher *m);

/* Called for every match; e is borrowed for the call. */
typedef void (*match_fn)(void *arg, const struct rule *r, const struct change *e);

/* Feeds one event of the stream in order (changes, statements, COMMIT;
 * other types are ignored) and calls fn for every rule it matches; at a
 * COMMIT, for every threshold exceeded in the transaction it ends. */
void matcher_feed(struct matcher *m, const struct change *e, match_fn fn, void *arg);

#endif
