/* reload.c - see reload.h. */
#include "daemon/reload.h"
#include "daemon/daemon.h"
#include "daemon/epstate.h"
#include "daemon/lane.h"
#include "match/rules.h"
#include "util/log.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

struct ruleset *reload_load(const struct daemon *dm, const char *path)
{
  struct config cfg;
  config_defaults(&cfg);
  size_t errsz = 1 << 20;
  char *errs = xmalloc(errsz), *save = NULL;
  struct buf more = BUF_INIT;
  struct ruleset *rs = NULL;
  int bad = config_load(path, &cfg, errs, errsz);
  if (bad)
    for (char *line = strtok_r(errs, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
  if (cfg.files && ruleset_build(&cfg, 1, &rs, &more)) {
    save = NULL;
    for (char *line = strtok_r(more.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
      log_error("%s", line);
    bad = 1;
  }
  if (bad) {
    ruleset_free(rs);
    rs = NULL;
  }
  free(errs);
  buf_free(&more);
  config_free(&cfg);
  if (rs && dm->args.source_url) {
    config_source_set_urls(&rs->cfg, dm->args.source_url);
  }
  if (rs && dm->args.state_dir) {
    free(rs->cfg.state.dir);
    rs->cfg.state.dir = xstrdup(dm->args.state_dir);
  }
  return rs;
}

void reload_apply_log(const struct ruleset *rs)
{
  log_set_level(rs->cfg.log.level);
  log_set_format(rs->cfg.log.format);
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int same_strv(char **a, char **b)
{
  for (; a && b && *a && *b; a++, b++)
    if (strcmp(*a, *b)) return 0;
  return (!a || !*a) && (!b || !*b);
}

void reload_on_sighup(evutil_socket_t fd, short what, void *arg)
{
  struct daemon *dm = arg;
  (void)fd, (void)what;
  log_notice("SIGHUP: reloading '%s'", dm->args.config_path);
  struct ruleset *rs = reload_load(dm, dm->args.config_path);
  if (!rs) {
    log_error("reload refused: the configuration loaded before keeps running (fix the problems above, then "
              "send SIGHUP again)");
    return;
  }
  reload_apply_log(rs);
  const struct config_source *a = &dm->rs->cfg.source, *b = &rs->cfg.source;
  if (!same_strv(a->url, b->url) || a->resume != b->resume || a->server_id != b->server_id || !same_strv(a->tables, b->tables) ||
      !same_strv(a->exclude, b->exclude) || a->tls != b->tls ||
      !same_str(dm->rs->cfg.state.dir, rs->cfg.state.dir))
    log_warn("[source] or [state] changed: that takes effect at the next start; rules, endpoints and templates "
             "are reloaded now");
  const struct config_admin *oa = &dm->rs->cfg.admin, *na = &rs->cfg.admin;
  if (!same_str(oa->listen, na->listen) || !same_str(oa->token, na->token) || !same_strv(oa->hosts, na->hosts) ||
      oa->max_connections != na->max_connections || oa->allow_core_dumps != na->allow_core_dumps)
    log_warn("[admin] changed: that takes effect at the next start");
  /* a disabled endpoint whose url changed is another receiver: enabled
   * (its old url compared before the old configuration goes) */
  size_t nlanes = 0;
  for (struct lane *l = dm->lanes; l; l = l->next) nlanes++;
  struct lane **changed = xcalloc(nlanes + 1, sizeof *changed);
  size_t nchanged = 0;
  for (struct lane *l = dm->lanes; l; l = l->next) {
    const struct config_endpoint *o = config_endpoint(&dm->rs->cfg, l->endpoint), *n = config_endpoint(&rs->cfg, l->endpoint);
    if (l->disabled && o && n && !same_str(o->url.s, n->url.s)) changed[nchanged++] = l;
  }
  /* Threshold counts of an open transaction start again with the new rules. */
  matcher_free(dm->m);
  ruleset_free(dm->rs);
  dm->rs = rs;
  dm->m = matcher_new(rs);
  for (size_t i = 0; i < nchanged; i++) {
    struct buf out = BUF_INIT;
    epstate_enable(dm, changed[i]->endpoint, "a reload changed its url", &out);
    buf_free(&out);
  }
  free(changed);
  for (size_t i = 0; i < rs->nendpoints; i++) lane_get(dm, rs->endpoints[i].name);
  log_notice("reloaded '%s': %zu rules, %zu endpoints", dm->args.config_path, rs->nrules, rs->nendpoints);
}
