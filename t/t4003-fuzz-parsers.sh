#!/usr/bin/env bash
# The readers of untrusted input other than the decoder survive a short
# libFuzzer campaign each (contrib/fuzz/): the TOML parser and the
# configuration loader, rule expressions, payload templates, the admin
# server's request heads, the queue's segments and the state files. Each
# starts from contrib/fuzz/seeds/TARGET, which holds every input that once
# found a bug there: a fix undone fails here. No crash, no sanitizer report,
# no leak, no hang. Built with clang in the tree t4002 uses.
. "$(dirname "$0")/lib/test-lib.sh"

require_cmd clang cmake
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >probe.c
clang -fsanitize=fuzzer,address,undefined probe.c -o probe >probe.log 2>&1 ||
  test_skip_all "clang cannot link a fuzzer: the libFuzzer runtime is missing (Debian: libclang-rt-14-dev)"

export BINHOOK_FUZZ_BUILD=${BINHOOK_FUZZ_BUILD:-$(dirname "$BINHOOK_BUILD")/build-fuzz}
norandom=
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norandom="setarch $(uname -m) -R"
fi

# The same inputs every run: a fixed seed and number of executions, no
# corpus reloads, a fresh corpus of the seeds. Some seconds each on two
# cores; the time limit is only a backstop.
for t in toml expr tmpl httpd retryq state; do
  runs=20000
  [ "$t" != toml ] || runs=8000
  test_expect_success "a short campaign of fuzz_$t from its seeds is clean" "
    BINHOOK_FUZZ_WORK=\$TRASH/fuzz $norandom \"\$TOP/contrib/fuzz/run.sh\" -t $t \
      -runs=$runs -seed=1 -reload=0 -max_total_time=40 >out-$t 2>&1;
    rc=\$? &&
    cat out-$t &&
    test \"\$rc\" = 0 &&
    test_grep \"^fuzz: $t: $runs executions in [0-9]* s, clean\$\" out-$t
  "
done

test_done
