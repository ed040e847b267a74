/* job.c - see job.h: the table of legal moves. */
#include "daemon/job.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>

/* legal[from] has bit (1 << to) set when from -> to is a legal move. */
#define B(s) (1u << (s))
static const unsigned legal[JOB_NSTATES] = {
    [JOB_NEW] = B(JOB_HELD) | B(JOB_READY) | B(JOB_RETRY) | B(JOB_PARKED) | B(JOB_DONE),
    [JOB_HELD] = B(JOB_READY),
    [JOB_READY] = B(JOB_ENGINE) | B(JOB_RETRY) | B(JOB_DONE), /* RETRY: its request cannot be read now */
    [JOB_ENGINE] = B(JOB_RETRY) | B(JOB_DONE),
    [JOB_RETRY] = B(JOB_READY),
    [JOB_PARKED] = 0, /* freed once durable; read back as a new job */
    [JOB_DONE] = 0,   /* freed once durable */
};
#undef B

int job_legal(enum job_state from, enum job_state to)
{
  if ((unsigned)from >= JOB_NSTATES || (unsigned)to >= JOB_NSTATES) return 0;
  return (legal[from] >> to) & 1u;
}

const char *job_state_name(enum job_state s)
{
  static const char *const names[JOB_NSTATES] = {"new", "held", "ready", "engine", "retry", "parked", "done"};
  return (unsigned)s < JOB_NSTATES ? names[s] : "invalid";
}

void job_move_at(struct job *j, enum job_state to, const char *file, int line)
{
  if (!job_legal(j->state, to)) {
    char what[160];
    snprintf(what, sizeof what, "job %s: illegal move %s -> %s", j->id ? j->id : "(no id)",
             job_state_name(j->state), job_state_name(to));
    bh_assert_fail(what, file, line);
  }
  j->state = to;
}
