#!/usr/bin/env bash
# The byte buffer and its encoders: the C unit test t/unit/buf_test.c.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit buf_test
