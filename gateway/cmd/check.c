/* check.c - `binhook check`: loads the configuration, the rule files it
 * includes and the templates they name, and reports every problem found, each
 * as file:line:col: message, in one run: the part of a file before a TOML
 * syntax error is checked too. Exit 2 when there is any. Secrets
 * that cannot be read here (an unset secret_env) are warnings: the machine
 * that checks is often not the one that runs. */
#include "cmd/commands.h"
#include "cmd/load.h"
#include "config/config.h"
#include "match/rules.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
  fprintf(f, "usage: binhook check [-c gateway.toml]\n\n"
             "Validates the configuration, the rule files it includes and the templates the rules\n"
             "name. Every problem is printed on stderr as file:line:col: message; the exit status\n"
             "is 0 when there is none, 2 otherwise.\n\n"
             "  -c, --config FILE   the configuration (default: gateway.toml)\n");
}

int cmd_check(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  const char *path = "gateway.toml";
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "binhook check: unexpected argument '%s' (the file goes after -c)\n", argv[optind]);
    return 2;
  }
  struct config cfg;
  int bad = load_config(path, &cfg);
  size_t nfiles = 0, nendpoints = cfg.nendpoints, nrules = 0;
  for (char **f = cfg.files; f && *f; f++)
    nfiles++;
  for (size_t i = 0; i < cfg.nrules; i++)
    nrules += cfg.rules[i].enabled;
  /* secrets that cannot be read here: warnings */
  for (size_t i = 0; i < cfg.nendpoints; i++)
    if (cfg.endpoints[i].secret_problem) fprintf(stderr, "warning: %s\n", cfg.endpoints[i].secret_problem);
  /* a rule that waits for events nothing makes */
  for (size_t i = 0; i < cfg.nrules; i++) {
    const struct config_rule *r = &cfg.rules[i];
    if (r->enabled && r->on == RULE_ON_HEARTBEAT && cfg.source.heartbeat_events <= 0)
      fprintf(stderr,
              "warning: %s:%d:%d: rule '%s' listens to heartbeat events only, and [source] heartbeat_events is "
              "0 (none are made): set it, such as heartbeat_events = \"30s\"\n",
              r->file ? r->file : path, r->line, r->col, r->name);
  }

  struct ruleset *rs = NULL;
  if (cfg.files) bad += load_ruleset(&cfg, 0, &rs);
  if (bad) {
    fprintf(stderr, "binhook check: %d problem%s in '%s'\n", bad, bad == 1 ? "" : "s", path);
  } else {
    printf("%s: ok (%zu file%s, %zu endpoint%s, %zu rule%s)\n", path, nfiles, nfiles == 1 ? "" : "s", nendpoints,
           nendpoints == 1 ? "" : "s", nrules, nrules == 1 ? "" : "s");
  }
  ruleset_free(rs);
  config_free(&cfg);
  return bad ? 2 : 0;
}
