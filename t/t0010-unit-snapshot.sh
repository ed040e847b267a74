#!/usr/bin/env bash
# The snapshot without a server: keys in JSON and their order, a damaged
# state or sent file, binlog coordinates, error codes (t/unit/snapshot_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit snapshot_test
