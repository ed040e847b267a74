#!/usr/bin/env bash
# pg-decode.sh - rows/s decoded by `binhook tail` (output discarded) from a
# PostgreSQL logical replication slot, next to pg_recvlogical reading the
# same changes from a slot made at the same position (pgoutput, protocol 1,
# written to /dev/null): the transport reference, which decodes nothing.
# The workload is the standard one scaled to INSERTS (updates a fifth of
# it, deletes a tenth) in transactions of 1,000 rows, written into a
# private PostgreSQL 15 (t/lib/pg.sh) after both slots exist. Run on its
# own, like snapshot.sh; the ratio is the figure to watch.
#
# usage: contrib/bench/pg-decode.sh [INSERTS]   (default 1000000, a multiple of 10,000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
INSERTS=${1:-1000000}
case $INSERTS in *[!0-9]* | '') echo "pg-decode.sh: INSERTS must be a number" >&2; exit 2 ;; esac
[ $((INSERTS % 10000)) -eq 0 ] && [ "$INSERTS" -gt 0 ] ||
  { echo "pg-decode.sh: INSERTS must be a multiple of 10,000" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
bench_init
. "$TOP/t/lib/pg.sh"
[ -x "$BINHOOK" ] || bench_die "'$BINHOOK' is not built"
[ -x "$PG_BIN/pg_recvlogical" ] || bench_die "'$PG_BIN/pg_recvlogical' is not installed (postgresql-15)"
pg_start || bench_die "cannot start postgres"

pg_sql "CREATE TABLE t (id int PRIMARY KEY, k int, v text); CREATE PUBLICATION binhook FOR ALL TABLES" >/dev/null
pg_sql "SELECT pg_create_logical_replication_slot('bh', 'pgoutput')" >/dev/null
pg_sql "SELECT pg_create_logical_replication_slot('ref', 'pgoutput')" >/dev/null
start=$(pg_lsn)
bench_say "PostgreSQL workload: $INSERTS inserts, $((INSERTS / 5)) updates, $((INSERTS / 10)) deletes ..."
{
  for ((i = 0; i < INSERTS; i += 1000)); do
    echo "INSERT INTO t SELECT g, g % 1000, md5(g::text) FROM generate_series($((i + 1)), $((i + 1000))) g;"
  done
  for ((i = 0; i < INSERTS / 5; i += 1000)); do
    echo "UPDATE t SET k = k + 1, v = v || 'x' WHERE id > $i AND id <= $((i + 1000));"
  done
  for ((i = 0; i < INSERTS / 10; i += 1000)); do
    echo "DELETE FROM t WHERE id > $((INSERTS - i - 1000)) AND id <= $((INSERTS - i));"
  done
} | pg_sql
end=$(pg_lsn)
changes=$((INSERTS + INSERTS / 5 + INSERTS / 10))

bench_say "decode, PostgreSQL: pg_recvlogical (the transport reference) ..."
t0=$(bench_now)
timeout 600 "$PG_BIN/pg_recvlogical" -h "$PG_DIR" -p "$PG_PORT" -U postgres -d shop -S ref --start \
  -o proto_version=1 -o publication_names=binhook -E "$end" -f /dev/null --no-loop 2>"$TRASH/recv.err" ||
  bench_die "pg_recvlogical failed: $(cat "$TRASH/recv.err")"
ref_s=$(bench_elapsed "$t0" "$(bench_now)")

cat >"$TRASH/pg.toml" <<EOF2
[source]
url = "$BINHOOK_PG_URL"
slot = "bh"
EOF2
bench_say "decode, PostgreSQL: binhook tail ..."
t0=$(bench_now)
timeout 600 "$BINHOOK" tail -c "$TRASH/pg.toml" --from start --limit "$changes" >/dev/null 2>"$TRASH/tail.err" ||
  bench_die "binhook tail failed: $(cat "$TRASH/tail.err")"
tail_s=$(bench_elapsed "$t0" "$(bench_now)")

rate=$(bench_rate "$changes" "$tail_s")
ref=$(bench_rate "$changes" "$ref_s")
bench_figure decode.pg "binhook tail" "$rate" "pg_recvlogical, the transport reference" "$ref" rows/s
echo "# $changes changes from $start to $end"
