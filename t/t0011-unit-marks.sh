#!/usr/bin/env bash
# The checkpoint rule, without a server (t/unit/marks_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit marks_test
