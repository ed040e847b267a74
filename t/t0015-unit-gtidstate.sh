#!/usr/bin/env bash
# The full GTID state a stream reaches, after every transaction: MariaDB
# domain positions and MySQL executed sets, on events built by hand and on
# the shared MySQL and MariaDB binlog files that carry GTIDs.
. "$(dirname "$0")/lib/test-lib.sh"
test -d "$SHARED/binlogs" || test_skip_all "no shared binlogs: '$SHARED/binlogs' is not there"
run_unit gtidstate_test "$SHARED/binlogs"
