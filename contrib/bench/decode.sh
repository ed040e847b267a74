#!/usr/bin/env bash
# decode.sh - rows/s decoded by `binhook tail` (output discarded) from a live
# private MariaDB, next to the transport ceiling: rawreader, which reads the
# same stream and decodes nothing. Both run in this invocation on the same
# binlog; the ratio is the figure to watch.
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

python3 - "$total" "$raw_s" "$tail_s" <<'PY'
import sys
rows, raw, tail = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r, t = rows / raw, rows / tail
print(f"rows                          {rows}")
print(f"transport ceiling (rawreader) {r:12,.0f} rows/s  ({raw:.2f} s)")
print(f"binhook tail                  {t:12,.0f} rows/s  ({tail:.2f} s)")
print(f"ratio tail / ceiling          {t / r:12.2f}")
print("verdict: " + ("meets" if t / r >= 0.40 else "below") + " the target of 40 % of the transport ceiling")
PY
