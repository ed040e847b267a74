#!/usr/bin/env bash
# Payload templates (t/unit/tmpl_test.c), with the cases of
# t/data/templates.cases: one test per case, one more per JSON case (the
# output parses), then values no JSON event can carry.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit tmpl_test "$TOP/t/data/templates.cases"
