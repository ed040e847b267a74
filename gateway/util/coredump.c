/* coredump.c - see coredump.h. */
#include "util/coredump.h"
#include "util/util.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int coredump_policy(int allow, char *err, size_t errsz)
{
  char ebuf[128];
  struct rlimit rl;
  if (getrlimit(RLIMIT_CORE, &rl))
    return bh_err(err, errsz, "cannot read the core limit: %s", bh_strerror(errno, ebuf, sizeof ebuf));
  if (allow) {
    rl.rlim_cur = rl.rlim_max;
  } else {
    /* lowering the hard limit too: nothing in this process raises it again */
    rl.rlim_cur = 0;
    rl.rlim_max = 0;
  }
  if (setrlimit(RLIMIT_CORE, &rl))
    return bh_err(err, errsz, "cannot set the core limit: %s", bh_strerror(errno, ebuf, sizeof ebuf));
  if (prctl(PR_SET_DUMPABLE, allow ? 1 : 0, 0, 0, 0))
    return bh_err(err, errsz, "cannot set whether the process is dumpable: %s",
                  bh_strerror(errno, ebuf, sizeof ebuf));
  return 0;
}
