#!/usr/bin/env bash
# The TOML parser's C unit test (t/unit/toml_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit toml_test
