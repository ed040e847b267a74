#!/usr/bin/env bash
# memory.sh - peak memory of `binhook tail` reading one transaction of ROWS
# rows (default 1,000,000) live from a private MariaDB, output discarded.
# Rows stream through a bounded queue, so the peak should not grow with the
# size of the transaction: the same figure is printed for a transaction a
# tenth the size, as the reference, in the same run.
#
# usage: contrib/bench/memory.sh [ROWS]
set -euo pipefail
ROWS=${1:-1000000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
BINHOOK=$BINHOOK_BUILD/binhook
[ -x "$BINHOOK" ] || { echo "memory.sh: build first (contrib/setup.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"
mariadb_start --max-binlog-cache-size=4G --binlog-cache-size=1M >/dev/null

say() { printf '%s\n' "$*" >&2; }
mariadb_sql "CREATE DATABASE m; CREATE TABLE m.t (id INT UNSIGNED PRIMARY KEY, v VARCHAR(64), txt TEXT, d DECIMAL(12,2))"

# peak RSS in kB of tail reading one transaction of $1 rows
peak () {
  local n=$1 from
  mariadb_sql "TRUNCATE m.t"
  from=$(mariadb_binlog_pos)
  say "one transaction of $n rows ..."
  mariadb_sql "INSERT INTO m.t SELECT seq, CONCAT('name-', seq), REPEAT('x', 100), seq / 7 FROM m.seq_1_to_$n"
  /usr/bin/time -f '%M' -o "$TRASH/rss" "$BINHOOK" tail --source "$BINHOOK_URL" --from "$from" --limit "$n" \
    >/dev/null 2>"$TRASH/tail.err"
  cat "$TRASH/rss"
}

small=$(peak $((ROWS / 10)))
big=$(peak "$ROWS")
python3 - "$ROWS" "$small" "$big" <<'PY'
import sys
rows, small, big = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(f"peak RSS, one transaction of {rows // 10:>9,} rows: {small / 1024:8.1f} MB (reference)")
print(f"peak RSS, one transaction of {rows:>9,} rows: {big / 1024:8.1f} MB")
print(f"ratio                                          {big / small:8.2f}   target < 64 MB: "
      + ("met" if big < 64 * 1024 else "not met"))
PY
