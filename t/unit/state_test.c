/* state_test.c - the state directory: made when new, refused when it is
 * someone else's, of a newer format, not ours to write or in use by another
 * binhook (also by a second open in the same process); the checkpoint's
 * round trip and its damage; atomic writes that leave nothing behind. */
#include "tap.h"
#include "store/state.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];

static const char *at(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *at(char *out, size_t outsz, const char *fmt, ...)
{
  int n = snprintf(out, outsz, "%s/", root);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out + n, outsz - (size_t)n, fmt, ap);
  va_end(ap);
  return out;
}

static void put(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f)) {
    diag("cannot write '%s'", path);
    exit(2);
  }
}

/* The whole file, or "" when it cannot be read. */
static const char *get(const char *path)
{
  static char b[4096];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(b, 1, sizeof b - 1, f) : 0;
  b[n] = 0;
  if (f) fclose(f);
  return b;
}

static int exists(const char *path)
{
  return access(path, F_OK) == 0;
}

/* ok() that shows err when the expected words are not in it. */
static int has(const char *err, const char *want, const char *name)
{
  int r = ok(strstr(err, want) != NULL, name);
  if (!r) diag("'%s' not in '%s'", want, err);
  return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  chmod(path, 0700); /* the unwritable directory of one test */
  return remove(path);
}

static void test_new_dir(void)
{
  char dir[256], p[256], err[512] = "";
  struct stat st;
  at(dir, sizeof dir, "a/b/state");
  struct state *s = state_open(dir, 0, err, sizeof err);
  if (!ok(s != NULL, "a new directory is made, parents and all")) diag("%s", err);
  if (!s) exit(1);
  is_str(state_dir(s), dir, "state_dir names it");
  is_str(get(at(p, sizeof p, "a/b/state/VERSION")), "binhook-state 1\n", "VERSION is written in it");
  ok(!exists(at(p, sizeof p, "a/b/state/VERSION.tmp")), "  and no VERSION.tmp is left");
  is_int(stat(dir, &st) == 0 ? st.st_mode & 07777 : 0, 0700, "its mode is 0700");
  is_int(state_locked(s), 1, "the lock is taken");
  is_int(state_lock_owner(s), getpid(), "  and the lock file names this process");
  char want[32];
  snprintf(want, sizeof want, "%ld\n", (long)getpid());
  is_str(get(at(p, sizeof p, "a/b/state/lock")), want, "  (its pid and a newline)");

  struct state *again = state_open(dir, 0, err, sizeof err);
  ok(again == NULL, "a second open in the same process is refused while the first holds the lock");
  char pid[64];
  snprintf(pid, sizeof pid, "is in use by another binhook (pid %ld)", (long)getpid());
  has(err, pid, "  the message names the pid");
  has(err, dir, "  and the directory");
  state_close(again);

  struct state *ro = state_open(dir, 1, err, sizeof err);
  ok(ro != NULL, "a readonly open works while the lock is held");
  is_int(ro ? state_locked(ro) : -1, 0, "  without the lock");
  is_int(ro ? state_lock_owner(ro) : -1, getpid(), "  and names the holder's pid");
  state_close(ro);

  state_close(s);
  s = state_open(dir, 0, err, sizeof err);
  if (!ok(s != NULL, "reopened once closed")) diag("%s", err);
  state_close(s);
  ro = state_open(dir, 1, err, sizeof err);
  is_int(ro ? state_locked(ro) : -1, 0, "a readonly open never takes the lock (a reader keeps no daemon out)");
  is_int(ro ? state_lock_owner(ro) : -1, 0, "  and names no holder when there is none");
  s = state_open(dir, 0, err, sizeof err);
  if (!ok(s != NULL, "  a writer opens while the reader is open")) diag("%s", err);
  state_close(s);
  state_close(ro);
}

/* Another process holds the lock: its pid comes from the lock file. */
static void test_other_process(void)
{
  char dir[256], err[512] = "";
  int up[2], down[2];
  at(dir, sizeof dir, "shared");
  if (pipe(up) || pipe(down)) exit(2);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) exit(2);
  if (child == 0) {
    close(up[0]);
    close(down[1]); /* so that the parent's close is seen as the end */
    struct state *s = state_open(dir, 0, err, sizeof err);
    char c = s ? 'y' : 'n';
    if (write(up[1], &c, 1) != 1) _exit(2);
    if (read(down[0], &c, 1) < 0) _exit(2); /* until told, or the parent is gone */
    state_close(s);
    close(up[1]);
    close(down[0]);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  char c = 0;
  if (read(up[0], &c, 1) != 1) c = 0;
  is_int(c, 'y', "another process opens a new directory");
  struct state *s = state_open(dir, 0, err, sizeof err);
  ok(s == NULL, "this one is refused while it runs");
  char want[64];
  snprintf(want, sizeof want, "(pid %ld)", (long)child);
  has(err, want, "  with that process's pid");
  has(err, "stop it, or give this one its own [state] dir", "  and what to do");
  state_close(s);
  struct state *ro = state_open(dir, 1, err, sizeof err);
  is_int(ro ? state_lock_owner(ro) : -1, child, "a readonly open reads the holder's pid from the lock file");
  state_close(ro);
  close(down[1]);
  int status;
  waitpid(child, &status, 0);
  s = state_open(dir, 0, err, sizeof err);
  if (!ok(s != NULL, "the lock is free once that process has ended")) diag("%s", err);
  state_close(s);
  close(up[0]);
}

static void test_refused(void)
{
  char dir[256], p[256], err[512] = "";

  mkdir(at(dir, sizeof dir, "foreign"), 0700);
  put(at(p, sizeof p, "foreign/notes.txt"), "mine\n");
  ok(state_open(dir, 0, err, sizeof err) == NULL, "a directory with files but no VERSION is refused");
  has(err, "is not a binhook state directory (no VERSION file) and not empty", "  saying why");
  ok(!exists(at(p, sizeof p, "foreign/lock")) && !exists(at(p, sizeof p, "foreign/VERSION")),
     "  and nothing is left in it");
  ok(state_open(dir, 1, err, sizeof err) == NULL, "  also when readonly");

  mkdir(at(dir, sizeof dir, "newer"), 0700);
  put(at(p, sizeof p, "newer/VERSION"), "binhook-state 2\n");
  ok(state_open(dir, 0, err, sizeof err) == NULL, "a directory of a newer format is refused");
  has(err, "written by a newer binhook (format 2", "  naming the format");
  has(err, "upgrade binhook", "  and what to do");

  static const char *const bad[] = {"",
                                    "binhook-state\n",
                                    "binhook-state 0\n",
                                    "binhook-state 1",
                                    "binhook-state 1\nx",
                                    "binhook-state x\n",
                                    "binhook-state -1\n",
                                    "hello\n"};
  int all = 1;
  mkdir(at(dir, sizeof dir, "damaged"), 0700);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put(at(p, sizeof p, "damaged/VERSION"), bad[i]);
    struct state *s = state_open(dir, 0, err, sizeof err);
    if (s || !strstr(err, "VERSION' is damaged")) {
      diag("VERSION '%s': %s", bad[i], s ? "accepted" : err);
      all = 0;
    }
    state_close(s);
  }
  ok(all, "a damaged VERSION is refused (empty, no number, 0, no newline, more after it)");

  put(at(p, sizeof p, "plain"), "x");
  ok(state_open(p, 0, err, sizeof err) == NULL, "a file is refused");
  has(err, "is not a directory", "  as not a directory");

  at(dir, sizeof dir, "missing");
  ok(state_open(dir, 1, err, sizeof err) == NULL && !exists(dir), "a readonly open makes no directory");

  ok(state_open("", 0, err, sizeof err) == NULL, "an empty name is refused");

  mkdir(at(dir, sizeof dir, "others"), 0700);
  if (geteuid() == 0) {
    /* root writes anywhere, but may give a directory away */
    if (chown(dir, 65534, 65534)) diag("chown: %d", errno);
    ok(state_open(dir, 0, err, sizeof err) == NULL, "a directory of another user is refused");
    has(err, "belongs to uid 65534, binhook runs as uid 0: chown it or set [state] dir",
        "  naming both uids");
  } else {
    chmod(dir, 0500);
    ok(state_open(dir, 0, err, sizeof err) == NULL, "a directory binhook cannot write is refused");
    has(err, "cannot write in state directory", "  saying so");
  }
}

static void test_checkpoint(void)
{
  char dir[256], p[256], err[512] = "";
  at(dir, sizeof dir, "cp");
  struct state *s = state_open(dir, 0, err, sizeof err);
  if (!s) {
    diag("%s", err);
    exit(1);
  }
  struct checkpoint cp, got;
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 0, "no checkpoint yet: 0");

  memset(&cp, 0, sizeof cp);
  snprintf(cp.pos.file, sizeof cp.pos.file, "bin\"log\\.000003");
  snprintf(cp.pos.gtid, sizeof cp.pos.gtid, "0-1-42");
  cp.pos.pos = 1234;
  cp.saved = 1763700000;
  is_int(state_checkpoint_save(s, &cp, err, sizeof err), 0, "a checkpoint is saved");
  is_str(get(at(p, sizeof p, "cp/checkpoint")),
         "{\"file\":\"bin\\\"log\\\\.000003\",\"pos\":1234,\"gtid\":\"0-1-42\",\"saved\":1763700000}\n",
         "  as one line of JSON, the name escaped");
  ok(!exists(at(p, sizeof p, "cp/checkpoint.tmp")), "  with no checkpoint.tmp left");
  memset(&got, 0xff, sizeof got);
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 1, "it loads");
  is_str(got.pos.file, cp.pos.file, "  the file name with its quote and backslash");
  is_int(got.pos.pos, 1234, "  the offset");
  is_str(got.pos.gtid, "0-1-42", "  the GTID");
  is_int(got.saved, 1763700000, "  the time");

  /* the full GTID state beside the position */
  cp.gtid_state = rcstr_new("0-1-1200,7-3-45", 15);
  is_int(state_checkpoint_save(s, &cp, err, sizeof err), 0, "a checkpoint with a GTID state is saved");
  is_str(get(at(p, sizeof p, "cp/checkpoint")),
         "{\"file\":\"bin\\\"log\\\\.000003\",\"pos\":1234,\"gtid\":\"0-1-42\",\"gtid_state\":\"0-1-1200,7-3-45\","
         "\"saved\":1763700000}\n",
         "  with \"gtid_state\" after \"gtid\"");
  memset(&got, 0, sizeof got);
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 1, "  it loads");
  is_str(got.gtid_state ? got.gtid_state->s : NULL, "0-1-1200,7-3-45", "  with its GTID state");
  checkpoint_clear(&got);
  checkpoint_clear(&cp);
  cp.gtid_state = rcstr_new("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,00000000-0000-0000-0000-000000000001:1",
                            81);
  is_int(state_checkpoint_save(s, &cp, err, sizeof err), 0, "a MySQL executed set too");
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 1, "  it loads");
  is_str(got.gtid_state ? got.gtid_state->s : NULL, cp.gtid_state->s, "  the same");
  checkpoint_clear(&got);
  checkpoint_clear(&cp);
  cp.gtid_state = rcstr_new("0-1", 3);
  ok(state_checkpoint_save(s, &cp, err, sizeof err) == -1, "a GTID state that would not read back is not saved");
  has(err, "\"gtid_state\"", "  saying which");
  checkpoint_clear(&cp);
  put(at(p, sizeof p, "cp/checkpoint"), "{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"0-1-4\",\"saved\":1}\n");
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 1, "a checkpoint of an older binhook (no gtid_state) loads");
  ok(got.gtid_state == NULL && got.pos.pos == 5, "  with no GTID state");

  cp.pos.gtid[0] = 0;
  cp.pos.pos = UINT64_MAX;
  state_checkpoint_save(s, &cp, err, sizeof err);
  state_checkpoint_load(s, &got, err, sizeof err);
  ok(got.pos.pos == UINT64_MAX && !strcmp(got.pos.gtid, ""),
     "an empty GTID and the largest offset come back");

  struct checkpoint bad = cp;
  bad.pos.pos = 3;
  ok(state_checkpoint_save(s, &bad, err, sizeof err) == -1, "an offset inside the magic number is not saved");
  has(err, "\"pos\"", "  saying which");
  bad = cp;
  snprintf(bad.pos.file, sizeof bad.pos.file, "bin\xff.000001");
  ok(state_checkpoint_save(s, &bad, err, sizeof err) == -1,
     "nor a file name that would not come back the same");
  is_int(state_checkpoint_load(s, &got, err, sizeof err), 1, "  and the one saved before stays");

  static const struct {
    const char *text, *why;
  } damaged[] = {
      {"", "the file is empty"},
      {"{\"file\":\"binlog.000003\",\"pos\":12", "expected ',' or '}'"},
      {"[1,2]\n", "not a JSON object"},
      {"{\"pos\":1234,\"gtid\":\"\",\"saved\":1}\n", "\"file\""},
      {"{\"file\":\"\",\"pos\":1234,\"gtid\":\"\",\"saved\":1}\n", "\"file\""},
      {"{\"file\":\"a\\u0000b\",\"pos\":1234,\"gtid\":\"\",\"saved\":1}\n", "\"file\""},
      {"{\"file\":\"b.1\",\"pos\":3,\"gtid\":\"\",\"saved\":1}\n", "\"pos\""},
      {"{\"file\":\"b.1\",\"pos\":-5,\"gtid\":\"\",\"saved\":1}\n", "\"pos\""},
      {"{\"file\":\"b.1\",\"pos\":1e3,\"gtid\":\"\",\"saved\":1}\n", "\"pos\""},
      {"{\"file\":\"b.1\",\"pos\":\"5\",\"gtid\":\"\",\"saved\":1}\n", "\"pos\""},
      {"{\"file\":\"b.1\",\"pos\":18446744073709551616,\"gtid\":\"\",\"saved\":1}\n", "\"pos\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"saved\":1}\n", "\"gtid\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":7,\"saved\":1}\n", "\"gtid\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\"}\n", "\"saved\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\",\"saved\":1.5}\n", "\"saved\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"pos\":6,\"gtid\":\"\",\"saved\":1}\n", "\"pos\" is there twice"},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\",\"saved\":1}\n{}", "text after the JSON object"},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\",\"gtid_state\":7,\"saved\":1}\n", "\"gtid_state\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\",\"gtid_state\":\"0-1-x\",\"saved\":1}\n", "\"gtid_state\""},
      {"{\"file\":\"b.1\",\"pos\":5,\"gtid\":\"\",\"gtid_state\":\"zz:1\",\"saved\":1}\n", "\"gtid_state\""},
  };
  int all = 1;
  for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
    put(at(p, sizeof p, "cp/checkpoint"), damaged[i].text);
    int rc = state_checkpoint_load(s, &got, err, sizeof err);
    if (rc != -1 || !strstr(err, damaged[i].why) || !strstr(err, "is damaged")) {
      diag("'%s' gives %d, '%s'", damaged[i].text, rc, err);
      all = 0;
    }
  }
  ok(all, "damaged checkpoints give -1 and say what is wrong");
  char want[512];
  snprintf(want, sizeof want, "checkpoint '%s/checkpoint' is damaged: ", dir);
  has(err, want, "  naming the file");

  /* what a damaged file still shows is handed back, for advice */
  put(at(p, sizeof p, "cp/checkpoint"), "{\"file\":\"binlog.000003\",\"pos\":1234,\"gtid\":\"0-1-99\",\"sav\x01");
  ok(state_checkpoint_load(s, &got, err, sizeof err) == -1 && !strcmp(got.pos.file, "binlog.000003") &&
         got.pos.pos == 1234 && !strcmp(got.pos.gtid, "0-1-99"),
     "a damaged checkpoint still gives the file, offset and GTID it shows");
  put(at(p, sizeof p, "cp/checkpoint"), "{\"file\":\"binlog.000003\",\"pos\":12");
  ok(state_checkpoint_load(s, &got, err, sizeof err) == -1 && !got.pos.file[0] && !got.pos.gtid[0],
     "  not an offset that may be cut short, nor a GTID it does not show");
  put(at(p, sizeof p, "cp/checkpoint"), "{\"file\":\"bin\x01log.1\",\"pos\":1234,\"gtid\":\"0-1-9\x7f\"");
  ok(state_checkpoint_load(s, &got, err, sizeof err) == -1 && !got.pos.file[0] && !got.pos.gtid[0],
     "  nor values with bytes they are not made of");
  put(at(p, sizeof p, "cp/checkpoint"), "\x01\x02");
  ok(state_checkpoint_load(s, &got, err, sizeof err) == -1 && !got.pos.file[0] && !got.pos.gtid[0] &&
         !got.pos.pos,
     "  nothing from garbage");

  /* a start at a GTID, before its first boundary: the GTID alone */
  struct checkpoint bygtid = {.saved = 7};
  snprintf(bygtid.pos.gtid, sizeof bygtid.pos.gtid, "0-1-5,1-2-9");
  ok(state_checkpoint_save(s, &bygtid, err, sizeof err) == 0, "a checkpoint with a GTID and no file is saved");
  ok(state_checkpoint_load(s, &got, err, sizeof err) == 1 && !got.pos.file[0] && got.pos.pos == 0 &&
         !strcmp(got.pos.gtid, "0-1-5,1-2-9"),
     "  and loads");

  /* the longest GTID and file name that fit, and one more */
  char gtid[GTID_MAX + 1], file[POS_FILE_MAX + 1], text[1024];
  memset(gtid, '7', GTID_MAX);
  memset(file, 'f', POS_FILE_MAX);
  snprintf(text, sizeof text, "{\"file\":\"%.*s\",\"pos\":4,\"gtid\":\"%.*s\",\"saved\":-1}",
           POS_FILE_MAX - 1, file, GTID_MAX - 1, gtid);
  put(at(p, sizeof p, "cp/checkpoint"), text);
  ok(state_checkpoint_load(s, &got, err, sizeof err) == 1 && strlen(got.pos.file) == POS_FILE_MAX - 1 &&
         strlen(got.pos.gtid) == GTID_MAX - 1 && got.saved == -1 && got.pos.pos == 4,
     "the longest file name and GTID load");
  snprintf(text, sizeof text, "{\"file\":\"%.*s\",\"pos\":4,\"gtid\":\"\",\"saved\":0}", POS_FILE_MAX, file);
  put(at(p, sizeof p, "cp/checkpoint"), text);
  is_int(state_checkpoint_load(s, &got, err, sizeof err), -1, "  a longer file name does not");
  snprintf(text, sizeof text, "{\"file\":\"b\",\"pos\":4,\"gtid\":\"%.*s\",\"saved\":0}", GTID_MAX, gtid);
  put(at(p, sizeof p, "cp/checkpoint"), text);
  is_int(state_checkpoint_load(s, &got, err, sizeof err), -1, "  nor a longer GTID");
  state_close(s);
}

static void test_write_file(void)
{
  char dir[256], p[256], err[512] = "";
  mkdir(at(dir, sizeof dir, "wf"), 0700);
  is_int(state_write_file(dir, "x", "hello", 5, err, sizeof err), 0, "state_write_file writes");
  is_str(get(at(p, sizeof p, "wf/x")), "hello", "  the data");
  ok(!exists(at(p, sizeof p, "wf/x.tmp")), "  and leaves no x.tmp");
  is_int(state_write_file(dir, "x", "", 0, err, sizeof err), 0, "  it replaces a file, also with nothing");
  is_str(get(at(p, sizeof p, "wf/x")), "", "  (now empty)");

  /* a rename that fails: a directory is in the way */
  mkdir(at(p, sizeof p, "wf/sub"), 0700);
  put(at(p, sizeof p, "wf/sub/keep"), "k");
  ok(state_write_file(dir, "sub", "x", 1, err, sizeof err) == -1, "a failed rename is an error");
  has(err, "cannot rename '", "  saying so");
  ok(!exists(at(p, sizeof p, "wf/sub.tmp")), "  and the temporary file is removed");

  at(p, sizeof p, "nowhere");
  ok(state_write_file(p, "x", "a", 1, err, sizeof err) == -1, "a missing directory is an error");
  char want[512];
  snprintf(want, sizeof want, "cannot create '%s/x.tmp': No such file or directory", p);
  is_str(err, want, "  naming the file and the reason");
}

int main(void)
{
  snprintf(root, sizeof root, "/tmp/binhook-state-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  umask(022);
  test_new_dir();
  test_other_process();
  test_refused();
  test_checkpoint();
  test_write_file();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return done_testing();
}
