/* fuzz_decoder.c - a libFuzzer target for the event decoder and the JSON
 * renderer. An input is a binlog file: split into events the way
 * binfile_read does, fed to one fresh decoder, and every event it emits is
 * rendered as `binhook tail` would render it, then freed. Nothing is printed.
 *
 * An input that starts with the binlog magic is a file as is: checksums are
 * verified, as binhook does by default. Any other input starts with one byte
 * of flags, and the rest is the file, with or without the magic:
 *
 *   0x01  skip checksums, so that mutated events get past the CRC32 check
 *   0x02  a lookup_names callback names the columns c1, c2, ... and makes the
 *         first one the key, as names from information_schema would
 *   0x04  exclude tables whose name ends in an odd digit (filtered rows)
 *   0x08  skip the first change of the first transaction (a resume)
 *   0x10  the callback stops the stream at the third event, as --limit does
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "source/binlog.h"
#include "util/buf.h"
#include "source/decoder.h"
#include "event/change.h"
#include "source/schema.h"
#include "util/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL_SKIP_CHECKSUM 0x01
#define FL_LOOKUP_NAMES 0x02
#define FL_EXCLUDE 0x04
#define FL_RESUME 0x08
#define FL_STOP 0x10

/* One input's run: the buffers every emitted event is rendered into. */
struct run {
  int flags;
  unsigned emitted;
  struct buf json, id;
};

static int emit(void *ctx, struct change *e, char *err, size_t errsz)
{
  struct run *r = ctx;
  buf_reset(&r->json);
  change_to_json(e, &r->json);
  buf_reset(&r->id);
  change_id(e, &r->id);
  (void)change_size(e);
  change_free(e);
  if ((r->flags & FL_STOP) && ++r->emitted >= 3) {
    snprintf(err, errsz, "limit");
    return -1;
  }
  return 0;
}

static void lookup_names(void *ctx, struct table *t)
{
  (void)ctx;
  if (!t->ncols) return;
  char **names = xcalloc(t->ncols, sizeof *names);
  for (uint32_t i = 0; i < t->ncols; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%u", i + 1);
    names[i] = xstrdup(name);
  }
  uint32_t pk = 0;
  table_set_names(t, names, &pk, 1);
  for (uint32_t i = 0; i < t->ncols; i++)
    free(names[i]);
  free(names);
}

static void warn(void *ctx, const char *msg)
{
  (void)ctx;
  (void)msg;
}

static uint32_t le32_at(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char *const exclude[] = {"*[13579]", NULL};
  int flags = 0;
  if (size >= 4 && !memcmp(data, BL_MAGIC, 4)) {
    data += 4;
    size -= 4;
  } else {
    if (size < 1) return 0;
    flags = data[0];
    data++;
    size--;
    if (size >= 4 && !memcmp(data, BL_MAGIC, 4)) {
      data += 4;
      size -= 4;
    }
  }

  struct run r = {.flags = flags, .json = BUF_INIT, .id = BUF_INIT};
  struct decoder_opts o = {
      .exclude = flags & FL_EXCLUDE ? exclude : NULL,
      .skip_checksum = !!(flags & FL_SKIP_CHECKSUM),
      .skip_changes = flags & FL_RESUME ? 1 : 0,
  };
  struct decoder_cb cb = {
      .ctx = &r,
      .emit = emit,
      .lookup_names = flags & FL_LOOKUP_NAMES ? lookup_names : NULL,
      .warn = warn,
  };
  struct decoder *d = decoder_new(&o, &cb);
  decoder_set_file(d, "fuzz-bin.000001");

  /* Each event goes to the decoder in a buffer of its exact size, so that
   * the sanitizer sees a read past its end instead of the next event. */
  char err[512];
  size_t off = 0;
  while (size - off >= BL_HEADER_LEN) {
    uint32_t len = le32_at(data + off + 9);
    if (len < BL_HEADER_LEN || len > size - off) break;
    unsigned char *ev = xmalloc(len);
    memcpy(ev, data + off, len);
    int rc = decoder_feed(d, ev, len, (int64_t)(4 + off), err, sizeof err);
    free(ev);
    if (rc) break;
    off += len;
  }
  uint64_t tx_start;
  uint32_t done;
  (void)decoder_in_tx(d, &tx_start, &done);
  (void)decoder_boundary(d);
  (void)decoder_position(d);

  decoder_free(d);
  buf_free(&r.id);
  buf_free(&r.json);
  return 0;
}
