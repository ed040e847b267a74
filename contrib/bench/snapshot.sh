#!/usr/bin/env bash
# snapshot.sh - rows/s of the initial snapshot (`binhook tail --snapshot-only`,
# canonical JSON events, output discarded) next to `mariadb-dump
# --single-transaction --quick` of the same table from the same private
# MariaDB, both over TCP as the same user, in this invocation; the ratio is
# the figure to watch (target: >= 1, at least as fast as the dump, although
# a JSON event per row says more than an INSERT's tuple).
#
# usage: contrib/bench/snapshot.sh [ROWS]   (default 1000000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
ROWS=${1:-1000000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
BINHOOK=$BINHOOK_BUILD/binhook
[ -x "$BINHOOK" ] || { echo "snapshot.sh: build first (contrib/setup.sh)" >&2; exit 2; }
command -v mariadb-dump >/dev/null || { echo "snapshot.sh: mariadb-dump is not installed" >&2; exit 2; }

# The test library gives a private server that is always stopped at exit.
exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"
mariadb_start --innodb-buffer-pool-size=256M >/dev/null

say() { printf '%s\n' "$*" >&2; }
say "preparing $ROWS rows ..."
mariadb_sql "CREATE DATABASE bench; USE bench; CREATE TABLE bench.t (
  id INT UNSIGNED PRIMARY KEY, b BIGINT, v VARCHAR(64), d DECIMAL(12,2), dt DATETIME(6),
  e ENUM('new','paid','shipped'), ti TINYINT, f DOUBLE, txt TEXT, j JSON)"
{
echo "USE bench;"
for ((done = 0; done < ROWS; done += 100000)); do
  n=$((ROWS - done < 100000 ? ROWS - done : 100000))
  echo "INSERT INTO bench.t SELECT $done+seq, seq*1234567, CONCAT('name-', seq), seq/7, '2024-01-02 03:04:05.123456' + INTERVAL seq SECOND, 1+seq%3, seq%100, seq/3, REPEAT('x', 100), CONCAT('{\"k\":', seq, '}') FROM seq_1_to_$n;"
done
} | mariadb_sql
# the dump reads with the same grants as binhook, plus what it asks for
mariadb_sql "GRANT SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON *.* TO binhook@'127.0.0.1'"

now() { date +%s.%N; }
say "binhook tail --snapshot-only ..."
t0=$(now)
"$BINHOOK" tail --source "$BINHOOK_URL" --snapshot-only bench.t >/dev/null 2>"$TRASH/snap.err"
t1=$(now)
snap_s=$(python3 -c "print($t1 - $t0)")
grep -q "snapshot finished: $ROWS rows" "$TRASH/snap.err" || { cat "$TRASH/snap.err" >&2; exit 1; }

# The same, resumable: each chunk's last key is asked first and the chunk
# announced (fsync) in the state directory before its rows go out.
say "binhook tail --snapshot-only --state ..."
t0=$(now)
"$BINHOOK" tail --source "$BINHOOK_URL" --snapshot-only --state "$TRASH/st" bench.t >/dev/null 2>"$TRASH/snap2.err"
t1=$(now)
state_s=$(python3 -c "print($t1 - $t0)")
grep -q "snapshot finished: $ROWS rows" "$TRASH/snap2.err" || { cat "$TRASH/snap2.err" >&2; exit 1; }

say "mariadb-dump --single-transaction --quick ..."
t0=$(now)
mariadb-dump --no-defaults --host=127.0.0.1 --port="$MYSQL_PORT" --user=binhook \
  --password="$BINHOOK_MYSQL_PASSWORD" --single-transaction --quick --skip-lock-tables \
  --no-tablespaces bench t >"$TRASH/dump.sql"
t1=$(now)
dump_s=$(python3 -c "print($t1 - $t0)")

# One figure line and one verdict line, in the form the other benchmarks use.
python3 - "$ROWS" "$snap_s" "$dump_s" "$state_s" <<'PY'
import sys
rows = int(sys.argv[1])
snap, dump, state = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s, d, st = rows / snap, rows / dump, rows / state
print(f"{'snapshot':<18} binhook tail --snapshot-only: {s:,.0f} rows/s | mariadb-dump --single-transaction: "
      f"{d:,.0f} rows/s | ratio {s / d:.2f}")
print(f"{'snapshot.state':<18} the same with --state (resumable): {st:,.0f} rows/s | ratio {st / d:.2f} "
      f"to the dump, {st / s:.2f} to no state")
print(f"verdict snapshot: {'PASS' if s / d >= 1 else 'MISS'} (target: binhook >= 1.00 x mariadb-dump; "
      f"measured {s / d:.2f})")
PY
