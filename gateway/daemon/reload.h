/* reload.h - the configuration the daemon runs with: loaded at start, and
 * again on SIGHUP (a broken one is refused and the running one kept).
 * Rules, endpoints and templates change at once; [source] and [state] at
 * the next start. */
#ifndef BH_RELOAD_H
#define BH_RELOAD_H

#include <event2/event.h>

struct daemon;
struct ruleset;

/* Loads path into a new ruleset, with the command line's overrides of
 * dm->args; NULL after logging every problem (those of the rules and
 * templates too when the files themselves have some, as `binhook check`
 * does). */
struct ruleset *reload_load(const struct daemon *dm, const char *path);

/* Applies rs's [log] settings. */
void reload_apply_log(const struct ruleset *rs);

/* SIGHUP. */
void reload_on_sighup(evutil_socket_t fd, short what, void *arg);

#endif
