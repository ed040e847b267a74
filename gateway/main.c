/* main.c - the binhook command line: finds the subcommand and hands over. */
#include "cmd/commands.h"
#include "util/coredump.h"

#include <stdio.h>
#include <string.h>

static const struct command {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"run", cmd_run, "the daemon: read the binlog, match the rules, deliver the webhooks and e-mails"},
    {"check", cmd_check, "validate the configuration, rules and templates; every error as file:line:col"},
    {"test", cmd_test, "dry run: which rules match events, and the exact requests they would send"},
    {"tail", cmd_tail, "print canonical change events as NDJSON, from a live server or binlog files"},
    {"dlq", cmd_dlq, "the dead letters: list, show, replay or drop deliveries that could not be made"},
    {"queue", cmd_queue, "check the retry queue of a state directory offline: segments, records, what was lost"},
    {"status", cmd_status, "ask the running daemon how it is: streaming, checkpoint, queue, endpoints"},
    {"endpoint", cmd_endpoint, "ask the running daemon to enable an endpoint disabled by 410 Gone"},
    {"snapshot", cmd_snapshot, "ask the running daemon to read tables again as snapshot events"},
    {"doctor", cmd_doctor, "check the server's settings and the user's privileges; say what to change"},
    {"toml-decode", cmd_toml_decode, "TOML on stdin, toml-test's tagged JSON on stdout"},
};

static void usage(FILE *out)
{
  fprintf(out, "usage: binhook <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(out, "\n'binhook <command> --help' describes a command's options.\n"
               "exit status: 0 success, 1 runtime failure, 2 usage or configuration error\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "version")) {
    printf("binhook %s\n", BINHOOK_VERSION);
    return 0;
  }
  /* every command may read a secret: no core holds one (binhook run lets
   * [admin] allow_core_dumps decide once its configuration is read) */
  char err[256];
  if (coredump_hold(err, sizeof err)) fprintf(stderr, "binhook: %s\n", err);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "binhook: unknown command '%s'\n\n", name);
  usage(stderr);
  return 2;
}
