#!/usr/bin/env bash
# MySQL GTID sets and the COM_BINLOG_DUMP_GTID encoding.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit gtidset_test
