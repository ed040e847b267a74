#!/usr/bin/env bash
# The delivery life cycle, without a server (t/unit/job_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit job_test
