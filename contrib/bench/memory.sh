#!/usr/bin/env bash
# memory.sh - peak memory, in one run on a private MariaDB:
#  - of `binhook tail` and of `binhook run` (delivering every row to a
#    local receiver) reading one transaction of ROWS rows (default
#    1,000,000) of the standard table, next to one a tenth the size: rows
#    stream through bounded queues, so the peak should not grow with the
#    transaction (target < 64 MB);
#  - of `binhook run` with 100 endpoints that are down, each holding 10,000
#    queued deliveries (ROWS/100), next to the same daemon idle, and the
#    size of the retry queue on disk next to the request bodies it holds.
# contrib/bench/run.sh runs this with the other figures.
#
# usage: contrib/bench/memory.sh [ROWS]   (a multiple of 1,000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
ROWS=${1:-1000000}
case $ROWS in *[!0-9]* | '') echo "memory.sh: ROWS must be a number" >&2; exit 2 ;; esac
[ $((ROWS % 1000)) -eq 0 ] && [ "$ROWS" -gt 0 ] || { echo "memory.sh: ROWS must be a multiple of 1,000" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
bench_init
bench_need_build
bench_need curl python3
bench_start_server
bench_memory_tx "$ROWS"
bench_memory_queue 100 $((ROWS / 100))
bench_summary
