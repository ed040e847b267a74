#!/usr/bin/env bash
# decode.sh - rows/s decoded by `binhook tail` (output discarded), on the
# standard workload scaled to INSERTS (updates a fifth of it, deletes a
# tenth) written into a private MariaDB:
#  - from the live server, next to the transport ceiling: rawreader, which
#    reads the same stream and decodes nothing (target >= 0.40);
#  - from the binlog files (--binlog), next to the reference decoder
#    `mariadb-binlog --base64-output=decode-rows -v` on the same files
#    (target >= 3x);
#  - the same on the latin1 workload: the same table and changes in a table
#    of CHARACTER SET latin1, every statement annotated, the first tenth of
#    the inserts in one INSERT ... SELECT (target >= 3x);
#  - next to ZongJi (@vlasky/zongji, Node.js, installed into BINHOOK_NPM
#    when missing) on the same live stream (target >= 7x).
# Everything runs in this invocation on one server; the ratios are the
# figures to watch. contrib/bench/run.sh runs this with the other figures.
#
# usage: contrib/bench/decode.sh [INSERTS]   (default 1000000, a multiple of 10,000)
# env:   BINHOOK_BUILD (default build/, a release build), BINHOOK_NPM (default build/npm)
set -euo pipefail
INSERTS=${1:-1000000}
case $INSERTS in *[!0-9]* | '') echo "decode.sh: INSERTS must be a number" >&2; exit 2 ;; esac
[ $((INSERTS % 10000)) -eq 0 ] && [ "$INSERTS" -gt 0 ] ||
  { echo "decode.sh: INSERTS must be a multiple of 10,000" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
bench_init
bench_need_build
bench_need mariadb-binlog node
bench_start_server
bench_workload "$INSERTS" $((INSERTS / 5)) $((INSERTS / 10))
bench_decode_live
bench_decode_zongji
bench_workload_latin1 "$INSERTS" $((INSERTS / 5)) $((INSERTS / 10))
bench_decode_files
bench_decode_latin1
bench_summary
