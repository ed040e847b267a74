/* fuzz_state.c - a libFuzzer target for the state files binhook reads back
 * at start: the checkpoint (store/state.c), and the snapshot's state and
 * sent files (snapshot/statefile.c). An input is one byte choosing the file
 * (its two low bits: 0 the checkpoint, 1 the snapshot state, 2 the sent
 * file, 3 the state and the sent file, both of these bytes) and the file's
 * bytes, written into a state directory of this process's own and read the
 * way `binhook run` reads it.
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "snapshot/snapshot_int.h"
#include "store/state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const uint8_t *data, size_t size)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f)) abort();
}

static void snapshot_files(int which)
{
  char err[1024];
  struct snapshot_opts o;
  memset(&o, 0, sizeof o);
  o.state_dir = dir;
  o.quiet = 1;
  struct snapshot *s = snapshot_new(&o);
  struct buf text = BUF_INIT;
  int done = 0;
  if ((which & 1) && statefile_read(dir, STATE_NAME, &text, err, sizeof err) == 1)
    (void)statefile_load(s, &text, &done, err, sizeof err);
  if (which & 2) (void)statefile_take_sent(s, err, sizeof err);
  /* what the loaded state makes of an event and of its own text */
  struct buf out = BUF_INIT;
  statefile_json(s, done, &out);
  buf_free(&out);
  buf_free(&text);
  snapshot_free(s);
  enum snapshot_status st;
  (void)snapshot_status(dir, &st, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-state-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    char err[1024];
    if (!mkdtemp(dir)) abort();
    struct state *st = state_open(dir, 0, err, sizeof err); /* makes it binhook's */
    if (!st) abort();
    state_close(st);
  }
  int which = data[0] & 3;
  data++;
  size--;
  char path[128];
  static const char *const names[] = {"checkpoint", STATE_NAME, SENT_NAME};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  char err[1024];
  if (which == 0) {
    put("checkpoint", data, size);
    struct state *st = state_open(dir, 1, err, sizeof err);
    if (!st) abort();
    struct checkpoint cp;
    if (state_checkpoint_load(st, &cp, err, sizeof err) == 1 &&
        (!memchr(cp.pos.file, 0, sizeof cp.pos.file) || !memchr(cp.pos.gtid, 0, sizeof cp.pos.gtid)))
      abort();
    state_close(st);
    return 0;
  }
  if (which & 1) put(STATE_NAME, data, size);
  if (which & 2) put(SENT_NAME, data, size);
  snapshot_files(which);
  return 0;
}
