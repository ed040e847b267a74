#!/usr/bin/env bash
# The on-disk retry queue (t/unit/retryq_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit retryq_test
