#!/usr/bin/env bash
# The retry timers' heap, without a server (t/unit/timerheap_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit timerheap_test
