#!/usr/bin/env bash
# deliver.sh - deliveries end to end, in one run on the same machine:
#  - throughput: binhook run delivers a backlog of CHANGES row changes of
#    the standard table (signed, canonical JSON bodies, 32 at a time) into a
#    local receiver (sink.c, an evhttp server that answers 200 at once),
#    next to wrk's ceiling against the same receiver with a body of the same
#    size, the same headers and 32 connections; the ratio is the figure to
#    watch (target >= 0.50, and >= 20,000 deliveries/s); then the same
#    backlog again with the state in the database (binhook_state on the same
#    server, [state] store), next to the state directory's figure (target
#    >= 0.80);
#  - latency: commit to receipt at 1,000 and at 10,000 changes/s for 10 s
#    each (rows carry NOW(6) at insert, the receiver notes arrival), p50,
#    p99 and p999, next to commit to arrival at a bare replica reading
#    alongside (target p99 < 20 ms at 1,000/s).
# contrib/bench/run.sh runs this with the other figures.
#
# usage: contrib/bench/deliver.sh [CHANGES]   (default 100000, a multiple of 1,000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
CHANGES=${1:-100000}
case $CHANGES in *[!0-9]* | '') echo "deliver.sh: CHANGES must be a number" >&2; exit 2 ;; esac
[ $((CHANGES % 1000)) -eq 0 ] && [ "$CHANGES" -gt 0 ] ||
  { echo "deliver.sh: CHANGES must be a multiple of 1,000" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
bench_init
bench_need_build
bench_need wrk curl python3
bench_start_server
bench_workload "$CHANGES" 0 0
bench_deliver
bench_latency 1000 10
bench_latency 10000 10
bench_summary
