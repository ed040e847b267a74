#!/usr/bin/env bash
# The event decoder and the JSON renderer survive a short libFuzzer campaign
# (contrib/fuzz/) seeded from the shared binlogs: no crash, no sanitizer
# report, no leak, no hang. The fuzz target is built with clang in a tree of
# its own, next to the build tree, and reused from run to run.
. "$(dirname "$0")/lib/test-lib.sh"

test -d "$SHARED/binlogs" || test_skip_all "no shared binlogs in '$SHARED'"
require_cmd clang cmake
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >probe.c
clang -fsanitize=fuzzer,address,undefined probe.c -o probe >probe.log 2>&1 ||
  test_skip_all "clang cannot link a fuzzer: the libFuzzer runtime is missing (Debian: libclang-rt-14-dev)"

FUZZ_BUILD=${BINHOOK_FUZZ_BUILD:-$(dirname "$BINHOOK_BUILD")/build-fuzz}
export BINHOOK_FUZZ_BUILD=$FUZZ_BUILD

test_expect_success 'the fuzz target builds with clang' '
  BINHOOK_FUZZ_WORK=$TRASH/fuzz-build "$TOP/contrib/fuzz/run.sh" -t decoder -runs=1 >build.log 2>&1 ||
  { cat build.log; false; } &&
  test -x "$FUZZ_BUILD/contrib/fuzz_decoder"
'

# The same inputs every time: a fixed seed and number of executions, no
# corpus reloads, and no address randomisation when setarch can turn it off
# (the fuzzer learns from comparisons, some of them with pointers). That is
# well under a minute on two cores; the time limit is only a backstop.
norandom=
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norandom="setarch $(uname -m) -R"
fi

test_expect_success 'a short campaign on the shared binlogs is clean' '
  BINHOOK_FUZZ_WORK=$TRASH/fuzz $norandom "$TOP/contrib/fuzz/run.sh" -t decoder \
    -runs=20000 -seed=1 -reload=0 -max_total_time=50 >out 2>&1;
  rc=$? &&
  cat out &&
  test "$rc" = 0 &&
  test_grep "^fuzz: [0-9]* executions, clean$" out
'

test_done
