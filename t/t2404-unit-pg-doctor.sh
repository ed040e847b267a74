#!/usr/bin/env bash
# The judgement of `binhook doctor` for PostgreSQL from facts written by
# hand, and the statement events of the DDL alerts' messages.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit pg_doctor_test
