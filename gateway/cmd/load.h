/* load.h - the configuration as the commands load it: config_load and
 * ruleset_build with their problems printed on stderr, one
 * "file:line:col: message" a line, for commands that print rather than
 * log (run logs them instead). */
#ifndef BH_CMD_LOAD_H
#define BH_CMD_LOAD_H

#include "config/config.h"
#include "match/rules.h"

/* Loads path over the defaults into cfg, which the caller releases with
 * config_free whatever the result. Returns the number of problems, each
 * printed on stderr: 0 when the configuration can be used. */
int load_config(const char *path, struct config *cfg);

/* Builds the ruleset of cfg, which it takes over (as ruleset_build does).
 * Returns the number of problems, each printed on stderr; *rs is set only
 * when there is none (the caller frees it with ruleset_free). need_secrets
 * as ruleset_build takes it. */
int load_ruleset(struct config *cfg, int need_secrets, struct ruleset **rs);

#endif
