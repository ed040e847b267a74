#!/usr/bin/env bash
# The replication stream's packets read straight from the socket: whole,
# split, in 16 MiB pieces, read ahead, error packets, numbered the server's
# way, closed, silent (source/wire.c).
. "$(dirname "$0")/lib/test-lib.sh"
run_unit wire_test
