#!/usr/bin/env bash
# The `when` expression language and event_from_json (t/unit/expr_test.c),
# with the cases of t/data/expr.cases: one test per case.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit expr_test "$TOP/t/data/expr.cases"
