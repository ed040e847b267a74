/* commands.h - the subcommands main.c dispatches to. Each takes the arguments
 * after its name (argv[0] is the command name) and returns the process exit
 * status: 0 success, 1 runtime failure, 2 usage or configuration error. */
#ifndef BH_COMMANDS_H
#define BH_COMMANDS_H

int cmd_tail(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_toml_decode(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_dlq(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_endpoint(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

#endif
