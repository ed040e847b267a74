#!/usr/bin/env bash
# Rule matching and the messages of wrong rule configurations
# (t/unit/rules_test.c), with the cases of t/data/rules.cases: one test per
# case, then 1,000 rules on distinct tables.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit rules_test "$TOP/t/data/rules.cases"
