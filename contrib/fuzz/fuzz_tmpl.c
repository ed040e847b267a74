/* fuzz_tmpl.c - a libFuzzer target for payload templates (match/tmpl*): an
 * input is one byte choosing the mode (its two low bits: JSON, text, URL,
 * header) and a template's text, compiled and rendered for each of the
 * fixed events of fuzz_events.h with a rule and an endpoint name and a
 * fixed clock. A JSON rendering must be valid JSON: one that is not aborts.
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "match/tmpl.h"
#include "util/buf.h"
#include "util/json.h"
#include "fuzz_events.h"

#include <stdint.h>
#include <string.h>

/* Aborts when out is not one JSON value. The reader stops at 200 levels,
 * and a template nested nearly as deep nests the event's values deeper:
 * such a rendering is not checked. */
static void check_json(const struct buf *out)
{
  struct jv v;
  size_t pos = 0;
  char what[256];
  int depth = 0, max = 0;
  for (size_t i = 0; i < out->len; i++) {
    if (out->p[i] == '[' || out->p[i] == '{') max = ++depth > max ? depth : max;
    else if (out->p[i] == ']' || out->p[i] == '}') depth--;
  }
  int rc = json_parse_value(out->p, out->len, &pos, &v, what, sizeof what);
  jv_free(&v);
  if (rc == 0) json_skip_ws(out->p, out->len, &pos);
  if (max < 190 && (rc || pos != out->len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  struct change **ev = fuzz_events();
  enum tmpl_mode mode = (enum tmpl_mode)(data[0] & 3);
  char err[1024];
  struct tmpl *t = tmpl_compile(mode, (const char *)data + 1, size - 1, "payload.json", 1, 1, err, sizeof err);
  if (!t) return 0;
  (void)tmpl_is_event(t);
  struct buf out = BUF_INIT;
  for (size_t i = 0; i < FUZZ_NEVENTS; i++) {
    struct tmpl_ctx c = {.e = ev[i], .rule = "rule-1", .endpoint = "hook", .now = 1700000000};
    buf_reset(&out);
    if (tmpl_render(t, &c, &out, err, sizeof err)) continue;
    if (mode == TMPL_JSON) check_json(&out);
  }
  buf_free(&out);
  tmpl_free(t);
  return 0;
}
