/* job_test.c - a delivery's life cycle (gateway/daemon/job.c): the legal
 * moves of the state machine, and an illegal one stopping the process with
 * the job and the place named. */
#include "daemon/job.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The moves job.h draws, and only those. */
static const struct {
  enum job_state from, to;
} moves[] = {
    {JOB_NEW, JOB_HELD},      {JOB_NEW, JOB_READY},   {JOB_NEW, JOB_RETRY},   {JOB_NEW, JOB_PARKED},
    {JOB_NEW, JOB_DONE},      {JOB_HELD, JOB_READY},  {JOB_READY, JOB_ENGINE}, {JOB_READY, JOB_DONE}, {JOB_READY, JOB_RETRY},
    {JOB_ENGINE, JOB_RETRY},  {JOB_ENGINE, JOB_DONE}, {JOB_RETRY, JOB_READY},
};

static int drawn(enum job_state from, enum job_state to)
{
  for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
    if (moves[i].from == from && moves[i].to == to) return 1;
  return 0;
}

static void test_table(void)
{
  int wrong = 0;
  for (int f = 0; f < JOB_NSTATES; f++)
    for (int t = 0; t < JOB_NSTATES; t++)
      if (job_legal((enum job_state)f, (enum job_state)t) != drawn((enum job_state)f, (enum job_state)t)) {
        diag("%s -> %s: legal %d, drawn %d", job_state_name((enum job_state)f), job_state_name((enum job_state)t),
             job_legal((enum job_state)f, (enum job_state)t), drawn((enum job_state)f, (enum job_state)t));
        wrong++;
      }
  is_int(wrong, 0, "the legal moves are exactly the drawn ones");
  ok(!job_legal(JOB_DONE, JOB_READY), "a finished delivery is never sent again");
  ok(!job_legal(JOB_PARKED, JOB_READY), "a parked job is read back as a new one, not revived");
  ok(!job_legal(JOB_HELD, JOB_ENGINE), "a held delivery goes through its lane's list");
  ok(!job_legal(JOB_ENGINE, JOB_READY), "an answer is decided (retry or done) before a job is ready again");
  ok(!job_legal((enum job_state)99, JOB_NEW), "an unknown state is refused");
  is_str(job_state_name(JOB_ENGINE), "engine", "states have names for messages");
}

static void test_life(void)
{
  struct job j;
  memset(&j, 0, sizeof j);
  j.state = JOB_NEW;
  j.id = "wh_1";
  /* made, sent, failed, retried, sent, acknowledged */
  enum job_state path[] = {JOB_READY, JOB_ENGINE, JOB_RETRY, JOB_READY, JOB_ENGINE, JOB_DONE};
  for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) job_move(&j, path[i]);
  is_int(j.state, JOB_DONE, "a delivery that failed once and then went through");
}

static void test_illegal_aborts(void)
{
  int fds[2];
  if (pipe(fds)) {
    ok(0, "pipe");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    struct job j;
    memset(&j, 0, sizeof j);
    j.state = JOB_DONE;
    j.id = "wh_42";
    job_move(&j, JOB_READY);
    _exit(0); /* not reached when the move is refused */
  }
  close(fds[1]);
  char buf[1024];
  ssize_t n, got = 0;
  while ((n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0) got += n;
  buf[got < 0 ? 0 : got] = 0;
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "an illegal move stops the process (SIGABRT)");
  ok(strstr(buf, "job wh_42: illegal move done -> ready") != NULL, "naming the job and the move");
  ok(strstr(buf, "job_test.c:") != NULL, "and the place of the move");
}

int main(void)
{
  test_table();
  test_life();
  test_illegal_aborts();
  return done_testing();
}
