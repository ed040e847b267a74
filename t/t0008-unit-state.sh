#!/usr/bin/env bash
# The state directory: VERSION, the lock, the checkpoint (t/unit/state_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit state_test
