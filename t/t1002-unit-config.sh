#!/usr/bin/env bash
# The configuration loader's C unit test (t/unit/config_test.c), which also
# loads the reference gateway.toml.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit config_test "$TOP/gateway.toml"
