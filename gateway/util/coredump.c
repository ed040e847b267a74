/* coredump.c - see coredump.h. */
#include "util/coredump.h"
#include "util/util.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define HINT "; a crash may then write a core file holding secrets: set the limit outside binhook (ulimit -c 0, or LimitCORE=0 in the systemd unit)"

/* The soft core limit 0 or the hard one, the hard one kept or 0, and
 * whether the process is dumpable. */
static int set(int dumpable, int soft_max, int hard_zero, char *err, size_t errsz)
{
  char ebuf[128];
  struct rlimit rl;
  if (getrlimit(RLIMIT_CORE, &rl))
    return bh_err(err, errsz, "cannot read the core limit: %s%s", bh_strerror(errno, ebuf, sizeof ebuf), HINT);
  struct rlimit want = rl;
  want.rlim_cur = soft_max ? rl.rlim_max : 0;
  if (hard_zero) want.rlim_max = 0;
  /* a unit that forbids setrlimit (systemd's ~@resources) sets LimitCORE
   * itself: no call when nothing changes */
  if ((want.rlim_cur != rl.rlim_cur || want.rlim_max != rl.rlim_max) && setrlimit(RLIMIT_CORE, &want))
    return bh_err(err, errsz, "cannot set the core limit: %s%s", bh_strerror(errno, ebuf, sizeof ebuf), HINT);
#ifdef __SANITIZE_ADDRESS__
  /* LeakSanitizer inspects the process at its exit through ptrace, which a
   * process that is not dumpable refuses: the sanitizer builds keep the
   * flag (the core limit above still writes no core) */
  dumpable = 1;
#endif
  if (prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0))
    return bh_err(err, errsz, "cannot set whether the process is dumpable: %s%s",
                  bh_strerror(errno, ebuf, sizeof ebuf), HINT);
  return 0;
}

int coredump_hold(char *err, size_t errsz) { return set(0, 0, 0, err, errsz); }

int coredump_policy(int allow, char *err, size_t errsz) { return set(allow, allow, !allow, err, errsz); }
