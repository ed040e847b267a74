#!/usr/bin/env bash
# The shared helpers: the typo suggester and the length-prefixed field codec
# (t/unit/util_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit util_test
