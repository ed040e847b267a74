#!/usr/bin/env bash
# MySQL binary JSON to text and partial JSON diffs.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit jsonb_test
