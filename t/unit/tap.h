/* tap.h - a tiny TAP producer for the C unit tests: ok, is_int, is_str, each
 * naming file:line on failure; done_testing prints the plan and sets the exit
 * status. Header-only so every unit test is one .c file. */
#ifndef BH_TAP_H
#define BH_TAP_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *name)
{
  tap_n++;
  printf("%sok %d - ", cond ? "" : "not ", tap_n);
  for (const char *c = name; *c; c++) /* a name must stay on its line */
    fputs(*c == '\n' ? "\\n" : (char[2]){*c, 0}, stdout);
  putchar('\n');
  if (!cond) {
    tap_failed++;
    printf("#   failed at %s:%d\n", file, line);
  }
  fflush(stdout);
  return cond;
}

static inline int tap_is_int(int64_t got, int64_t want, const char *file, int line, const char *name)
{
  int r = tap_ok(got == want, file, line, name);
  if (!r) printf("#   got:  %" PRId64 "\n#   want: %" PRId64 "\n", got, want);
  return r;
}

static inline int tap_is_str(const char *got, const char *want, const char *file, int line, const char *name)
{
  int r = tap_ok(got && want ? !strcmp(got, want) : got == want, file, line, name);
  if (!r) printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)", want ? want : "(null)");
  return r;
}

#define ok(cond, name) tap_ok(!!(cond), __FILE__, __LINE__, (name))
#define is_int(got, want, name) tap_is_int((int64_t)(got), (int64_t)(want), __FILE__, __LINE__, (name))
#define is_str(got, want, name) tap_is_str((got), (want), __FILE__, __LINE__, (name))
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int done_testing(void)
{
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
