/* load.c - see load.h. */
#include "cmd/load.h"

#include "util/buf.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>

/* Room for the problems of any configuration: config_load keeps whole
 * lines and counts those that do not fit. */
#define PROBLEMS_MAX (1u << 20)

int load_config(const char *path, struct config *cfg)
{
  char *errs = xmalloc(PROBLEMS_MAX);
  config_defaults(cfg);
  int n = 0;
  if (config_load(path, cfg, errs, PROBLEMS_MAX)) {
    n = 1;
    for (const char *c = errs; *c; c++)
      n += *c == '\n';
    fprintf(stderr, "%s\n", errs);
  }
  free(errs);
  return n;
}

int load_ruleset(struct config *cfg, int need_secrets, struct ruleset **rs)
{
  struct buf problems = BUF_INIT;
  *rs = NULL;
  int n = ruleset_build(cfg, need_secrets, rs, &problems);
  if (n) fprintf(stderr, "%s\n", problems.p);
  buf_free(&problems);
  return n;
}
