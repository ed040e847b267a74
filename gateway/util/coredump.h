/* coredump.h - whether a crash of this process may leave a core file.
 *
 * A core holds everything binhook had in memory: the source's password,
 * endpoint secrets, the admin token, rows of the tables it reads. By
 * default a binhook process is not dumpable (prctl PR_SET_DUMPABLE 0, which
 * also keeps other processes of the same user from attaching to it or
 * reading its /proc/PID/mem) and its core limit is 0. `[admin]
 * allow_core_dumps = true` lets a crash write a core, for debugging. */
#ifndef BH_COREDUMP_H
#define BH_COREDUMP_H

#include <stddef.h>

/* allow 0: not dumpable, RLIMIT_CORE 0 (soft and hard). allow 1: dumpable,
 * the soft core limit raised to the hard one (which a shell's ulimit -c or
 * systemd's LimitCORE set). Returns 0, or -1 with err. */
int coredump_policy(int allow, char *err, size_t errsz);

#endif
