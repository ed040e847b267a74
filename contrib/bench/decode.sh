#!/usr/bin/env bash
# decode.sh - rows/s decoded by `binhook tail` (output discarded):
#  - from a live private MariaDB, next to the transport ceiling: rawreader,
#    which reads the same stream and decodes nothing;
#  - from the binlog files (--binlog), next to the reference decoder
#    `mariadb-binlog --base64-output=decode-rows -v` on the same files.
# Everything runs in this invocation on the same binlog; the ratios are the
# figures to watch.
#
# usage: contrib/bench/decode.sh [ROWS]   (default 1000000, in transactions of 1000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
ROWS=${1:-1000000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
BINHOOK=$BINHOOK_BUILD/binhook
RAW=$BINHOOK_BUILD/contrib/rawreader
[ -x "$BINHOOK" ] && [ -x "$RAW" ] || { echo "decode.sh: build first (contrib/setup.sh)" >&2; exit 2; }

# The test library gives a private server that is always stopped at exit.
exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"
mariadb_start >/dev/null

say() { printf '%s\n' "$*" >&2; }
say "preparing $ROWS rows in transactions of 1000 ..."
mariadb_sql "CREATE DATABASE bench; CREATE TABLE bench.t (
  id INT UNSIGNED PRIMARY KEY, b BIGINT, v VARCHAR(64), d DECIMAL(12,2), dt DATETIME(6),
  e ENUM('new','paid','shipped'), ti TINYINT, f DOUBLE, txt TEXT, j JSON)"
start=$(mariadb_binlog_pos)
batches=$(( (ROWS + 999) / 1000 ))
for ((i = 0; i < batches; i++)); do
  echo "INSERT INTO bench.t SELECT $i*1000+seq, seq*1234567, CONCAT('name-', seq), seq/7, '2024-01-02 03:04:05.123456' + INTERVAL seq SECOND, 1+seq%3, seq%100, seq/3, REPEAT('x', 100), CONCAT('{\"k\":', seq, '}') FROM bench.seq_1_to_1000;"
  [ $((i % 100)) -eq 99 ] && say "  $(( (i + 1) * 1000 )) rows"
done | mariadb_sql
total=$((batches * 1000))
file=${start%:*}
pos=${start#*:}

now() { date +%s.%N; }
say "transport ceiling: rawreader ..."
raw=$("$RAW" 127.0.0.1 "$MYSQL_PORT" binhook "$file" "$pos")
raw_s=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$raw")

say "binhook tail ..."
t0=$(now)
"$BINHOOK" tail --source "$BINHOOK_URL" --from "$start" --limit "$total" >/dev/null 2>"$TRASH/tail.err"
t1=$(now)
tail_s=$(python3 -c "print($t1 - $t0)")

mariadb_sql "FLUSH BINARY LOGS"
files=()
for f in "$MYSQL_DATADIR"/binlog.[0-9]*; do files+=("$f"); done
say "binhook tail --binlog ..."
t0=$(now)
"$BINHOOK" tail --binlog "${files[@]}" >/dev/null 2>>"$TRASH/tail.err"
t1=$(now)
file_s=$(python3 -c "print($t1 - $t0)")
say "mariadb-binlog -v ..."
t0=$(now)
mariadb-binlog --base64-output=decode-rows -v "${files[@]}" >/dev/null
t1=$(now)
ref_s=$(python3 -c "print($t1 - $t0)")

python3 - "$total" "$raw_s" "$tail_s" "$file_s" "$ref_s" <<'PY'
import sys
rows = int(sys.argv[1])
raw, tail, file, ref = (float(x) for x in sys.argv[2:6])
r, t, f, m = rows / raw, rows / tail, rows / file, rows / ref
print(f"rows                                 {rows}")
print(f"live: transport ceiling (rawreader)  {r:12,.0f} rows/s  ({raw:.2f} s)")
print(f"live: binhook tail                   {t:12,.0f} rows/s  ({tail:.2f} s)")
print(f"      ratio tail / ceiling           {t / r:12.2f}   target >= 0.40: " + ("met" if t / r >= 0.40 else "not met"))
print(f"files: mariadb-binlog -v             {m:12,.0f} rows/s  ({ref:.2f} s)")
print(f"files: binhook tail --binlog         {f:12,.0f} rows/s  ({file:.2f} s)")
print(f"      ratio binhook / mariadb-binlog {f / m:12.2f}   target >= 3: " + ("met" if f / m >= 3 else "not met"))
PY
