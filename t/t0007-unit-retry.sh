#!/usr/bin/env bash
# The retry policy (t/unit/retry_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit retry_test
