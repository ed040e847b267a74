#!/usr/bin/env bash
# Delivery order by key (t/unit/order_test.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit order_test
