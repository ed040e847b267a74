#!/usr/bin/env bash
# run.sh - every benchmark of binhook in one run, each figure next to a
# reference measured in the same run on the same machine, with their ratio
# and a verdict per target (contrib/bench/RESULTS.md records a full run):
#
#   decode     binhook tail rows/s (output discarded) from the live server
#              against rawreader, which reads the same stream and decodes
#              nothing (the transport ceiling; target >= 0.40); from the
#              binlog files (--binlog) against mariadb-binlog -v on the same
#              files (target >= 3x), and the same for the latin1 workload
#              (below; target >= 3x); and against ZongJi (@vlasky/zongji,
#              Node.js) on the same live stream (target >= 7x); and from a
#              PostgreSQL slot against pg_recvlogical reading the same
#              changes (pg-decode.sh; no target, the ratio is printed)
#   rules      changes/s matched against 100 and 1,000 rules and renders/s
#              of the default and the Slack template (rulebench, one core;
#              targets >= 1,000,000 changes/s against 100 rules, >= 300,000
#              renders/s of the default template)
#   deliver    binhook run delivering the workload into a local receiver
#              that answers 200 at once, against wrk on the same receiver
#              with the same body and headers (targets >= 0.50 of wrk and
#              >= 20,000 deliveries/s); the same with the state in the
#              database against the state directory (target >= 0.80)
#   latency    commit to receipt, p50, p99 and p999, at 1,000 and 10,000
#              changes/s, against commit to arrival at a bare replica
#              reading alongside (target p99 < 20 ms at 1,000/s)
#   memory     peak memory of binhook tail and binhook run for one
#              transaction of 1,000,000 rows, against one of 100,000 (target
#              < 64 MB); binhook run with 100 endpoints that are down holding
#              10,000 queued deliveries each, against itself idle, and the
#              queue's size on disk against the request bodies it holds
#
# The standard workload, written once into one private MariaDB: 1,000,000
# inserts in transactions of 1,000 rows into a 10-column table of mixed
# types (unsigned int key, bigint, varchar(64), decimal(12,2), datetime(6),
# enum, tinyint, double, 100-byte text, json), then 200,000 updates and
# 100,000 deletes. The latin1 workload (decode only, written after the
# live figures into binlog files of its own): the same table and changes in
# a table of CHARACTER SET latin1, annotated (binlog_annotate_row_events),
# the first 100,000 inserts in one INSERT ... SELECT.
#
# usage: contrib/bench/run.sh [--quick] [--only PART[,PART...]]
#   --quick   a small workload and short figures (seconds; the smoke test
#             t/t5002 runs it): the figures mean nothing, their lines do
#   --only    some of: decode rules deliver latency memory
# env: BINHOOK_BUILD (default build/, a release build), BINHOOK_NPM (where
#      @vlasky/zongji is installed, default build/npm)
#
# What it needs is installed when missing: the Debian packages and the
# build through contrib/setup.sh, the npm package into BINHOOK_NPM. A full
# run takes about a quarter of an hour and a few GB in ${TMPDIR:-/tmp}.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOPDIR=$(cd "$HERE/../.." && pwd)

quick=0
parts="decode rules deliver latency memory"
while [ $# -gt 0 ]; do
  case $1 in
  --quick) quick=1 ;;
  --only)
    [ $# -ge 2 ] || { echo "run.sh: --only needs a list of parts: decode rules deliver latency memory" >&2; exit 2; }
    parts=${2//,/ }
    shift
    ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  *)
    echo "run.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
  esac
  shift
done
for p in $parts; do
  case $p in
  decode | rules | deliver | latency | memory) ;;
  *) echo "run.sh: unknown part '$p' (decode rules deliver latency memory)" >&2; exit 2 ;;
  esac
done
want () { [[ " $parts " == *" $1 "* ]]; }

# What the benchmarks run: packages and the build through contrib/setup.sh
# when anything is missing.
missing=
for c in mariadbd mariadb mariadb-binlog wrk curl python3 node npm flock awk; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing="$missing $c"
done
[ -x /usr/bin/time ] || missing="$missing time"
build=${BINHOOK_BUILD:-$TOPDIR/build}
[ -x "$build/binhook" ] && [ -x "$build/contrib/rawreader" ] || missing="$missing the-build"
if [ -n "$missing" ]; then
  echo "run.sh: missing:$missing: running contrib/setup.sh --release-only" >&2
  "$TOPDIR/contrib/setup.sh" --release-only
fi

BENCH_QUICK=$quick
. "$HERE/lib.sh"
bench_init
bench_need_build

echo "binhook benchmarks$([ "$quick" = 1 ] && echo ' (quick: a small workload, the figures mean nothing)')"
echo "machine: $(lscpu | sed -nE 's/^Model name: +//p'), $(nproc) CPUs, $(free -g | awk '/^Mem:/ { print $2 }') GB," \
  "Linux $(uname -r)"
kind=$(sed -nE 's/^CMAKE_BUILD_TYPE:[A-Z]+=(.+)/\1/p' "$BINHOOK_BUILD/CMakeCache.txt" 2>/dev/null || :)
grep -q '^BINHOOK_SANITIZE:BOOL=ON' "$BINHOOK_BUILD/CMakeCache.txt" 2>/dev/null && kind="${kind:-RelWithDebInfo}, sanitizers"
echo "binhook: $("$BINHOOK" --version 2>/dev/null | head -n 1) in $BINHOOK_BUILD (${kind:-RelWithDebInfo})"
echo "server: $(/usr/sbin/mariadbd --version 2>/dev/null | sed -E 's/^.*Ver +//; s/ for .*//')"
echo

if [ "$quick" = 1 ]; then
  inserts=10000 updates=2000 deletes=1000 lat_secs=1 tx_rows=10000 q_eps=100 q_per=10
else
  inserts=1000000 updates=200000 deletes=100000 lat_secs=10 tx_rows=1000000 q_eps=100 q_per=10000
fi

if want decode || want deliver || want latency || want memory; then
  bench_start_server
fi
if want decode || want deliver; then
  bench_workload "$inserts" "$updates" "$deletes"
fi
if want decode; then
  bench_decode_live
  bench_decode_zongji
  # written after the live figures: they read the stream to its end
  bench_workload_latin1 "$inserts" "$updates" "$deletes"
  bench_decode_files
  bench_decode_latin1
  # PostgreSQL: binhook tail from a slot against pg_recvlogical reading the
  # same changes (pg-decode.sh, a private PostgreSQL of its own)
  "$HERE/pg-decode.sh" "$inserts" | grep -v '^#' | tee -a "$BENCH_FIGURES" ||
    bench_die "the PostgreSQL decode figure failed"
fi
want rules && bench_rules
want deliver && bench_deliver
if want latency; then
  bench_latency 1000 "$lat_secs"
  bench_latency 10000 "$lat_secs"
fi
if want memory; then
  bench_memory_tx "$tx_rows"
  bench_memory_queue "$q_eps" "$q_per"
  bench_attempts_memory
fi
bench_summary
