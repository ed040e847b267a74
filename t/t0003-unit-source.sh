#!/usr/bin/env bash
# The pure parts of the live stream: start positions, URLs, statement kinds, globs.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit source_test
