/* fuzz_expr.c - a libFuzzer target for the rule `when` language
 * (match/expr*): an input is an expression's text, compiled as a rule's
 * `when` at line 3, column 8 of a file, then evaluated against each of the
 * fixed events of fuzz_events.h, its columns listed and its reads asked.
 * A NUL byte ends the text, as it ends a TOML string read into C.
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "match/expr.h"
#include "fuzz_events.h"

#include <stdint.h>
#include <string.h>

static void column(void *arg, enum expr_scope scope, const char *name)
{
  size_t *n = arg;
  *n += (size_t)scope + (name ? strlen(name) : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct change **ev = fuzz_events();
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  char err[1024];
  struct expr *x = expr_compile(text, "rules.toml", 3, 8, err, sizeof err);
  free(text);
  if (!x) return 0;
  size_t n = 0;
  for (size_t i = 0; i < FUZZ_NEVENTS; i++) n += (size_t)expr_eval(x, ev[i]);
  expr_foreach_column(x, column, &n);
  n += expr_reads(x) + (size_t)expr_uses_changed(x);
  expr_free(x);
  return (int)(n & 0);
}
