#!/usr/bin/env bash
# [source] snapshot = "initial" with PostgreSQL: the published tables are
# read in the exported snapshot of the slot the stream then reads, chunk by
# chunk in key order, while pgbench writes them; the snapshot events and
# the changes after them, replayed per key, give the final tables exactly.
# Killed in the middle of the snapshot, binhook resumes it (the chunks done
# are not read again, the rest is read in a temporary slot's snapshot and
# the changes in between are filtered) and the result is still exact (a
# row of a chunk announced but not committed before the kill may see its
# delete without its snapshot event: the receiver may have it).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
PGBENCH=$PG_BIN/pgbench
[ -x "$PGBENCH" ] || test_skip_all "pgbench is not installed ($PGBENCH)"
pg_start || test_skip_all 'cannot start postgres'

# write_config NAME RATE: binhook on the database shop, receiver NAME.
write_config () {
  cat >"$TRASH/$1.toml" <<-EOF2
	[state]
	dir = "$1.state"
	[source]
	url = "$BINHOOK_PG_URL"
	slot = "$1"
	publication = "$1"
	snapshot = "initial"
	snapshot_chunk = 200
	snapshot_rate = $2
	[endpoint.r]
	url = "http://127.0.0.1:$(cat "$TRASH/$1.port")/hook"
	signing = "none"
	[[rule]]
	name = "all"
	table = "public.*"
	on = ["snapshot", "insert", "update", "delete"]
	endpoint = "r"
	EOF2
}

# start_load: pgbench updates, inserts and deletes rows of both tables.
start_load () {
  cat >"$TRASH/load.sql" <<-\EOF2 &&
	\set k random(1, 12000)
	\set v random(1, 1000000)
	BEGIN;
	INSERT INTO big VALUES (:k, :v, 'i') ON CONFLICT (id) DO UPDATE SET v = excluded.v, w = 'u';
	DELETE FROM big WHERE id = :k + 7 AND v % 4 = 0;
	INSERT INTO named VALUES ('n' || (:k % 800), :v) ON CONFLICT (name) DO UPDATE SET v = excluded.v;
	COMMIT;
	EOF2
  { "$PGBENCH" -n -h "$PG_DIR" -p "$PG_PORT" -U postgres -c 2 -R 200 -T 600 -f "$TRASH/load.sql" shop \
      >"$TRASH/pgbench.out" 2>&1 7>&- 8>&- & }
  load=$!
  test_atexit "kill $load 2>/dev/null"
}

stop_load () {
  kill -TERM "$load" && { wait "$load"; :; }
}

# table_rows T: T as replay.py reads it.
table_rows () {
  pg_sql "SELECT string_agg(attname, E'\t' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped" &&
  pg_sql -F "$(printf "\t")" -P null=NULL "SELECT * FROM $1"
}

# exact NAME [--band-deletes]: receiver NAME's deliveries replayed per key
# give both tables.
exact () {
  table_rows big >"$TRASH/big.tsv" &&
  table_rows named >"$TRASH/named.tsv" &&
  python3 "$TOP/t/lib/replay.py" "$TRASH/$1.jsonl" "$TRASH/big.tsv" id --table public.big --order lsn $2 &&
  python3 "$TOP/t/lib/replay.py" "$TRASH/$1.jsonl" "$TRASH/named.tsv" name --table public.named --order lsn $2
}

# settled NAME: receiver NAME got nothing new for 2 s.
settled () {
  local a b
  a=$(wc -l <"$TRASH/$1.jsonl")
  sleep 2
  b=$(wc -l <"$TRASH/$1.jsonl")
  [ "$a" = "$b" ]
}

test_expect_success 'set up: two tables, keyed by an integer and by text' '
  pg_sql "CREATE TABLE big (id int PRIMARY KEY, v int, w text);
    ALTER TABLE big REPLICA IDENTITY FULL;
    CREATE TABLE named (name text PRIMARY KEY, v int);
    ALTER TABLE named REPLICA IDENTITY FULL;
    INSERT INTO big SELECT g, g, \$\$s\$\$ FROM generate_series(1, 10000) g;
    INSERT INTO named SELECT \$\$n\$\$ || g, g FROM generate_series(1, 600) g" &&
  start_receiver one &&
  start_receiver two
'

test_expect_success 'snapshot = "initial" under writes: the deliveries reproduce the tables exactly' '
  write_config one 0 &&
  start_load &&
  start_binhook one.toml one.log &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/one.log" &&
  test_grep "exported snapshot" "$TRASH/one.log" &&
  sleep 1 &&
  stop_load &&
  test_wait_until 60 settled one &&
  exact one >one.out &&
  cat one.out &&
  sed "s/^/# /" one.out >&7 &&
  test "$(grep -c "type.....snapshot" "$TRASH/one.jsonl")" -ge 10000 &&
  python3 - "$TRASH/one.jsonl" <<-\EOF &&
	import json, re, sys
	events = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
	snap = [e["position"] for e in events if e["type"] == "snapshot"]
	rows = [e["position"] for e in events if e["type"] != "snapshot"]
	# a snapshot row: the handover LSN, no transaction; a change: its commit LSN and xid
	assert snap and all(list(p) == ["lsn"] and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", p["lsn"]) for p in snap), snap[:2]
	assert len({p["lsn"] for p in snap}) == 1, "one handover position"
	assert rows and all(list(p) == ["lsn", "xid"] for p in rows), rows[:2]
	EOF
  stop_binhook one.log
'

test_expect_success 'killed in the middle of the snapshot: the next start resumes it, exactly' '
  write_config two 3000 &&
  start_load &&
  start_binhook two.toml two.log &&
  { test_wait_until 60 grep -q "\"status\": 200" "$TRASH/two.jsonl" || { sed "s/^/two.log: /" "$TRASH/two.log"; false; }; } &&
  sleep 1.5 &&
  kill -KILL "$(cat "$TRASH/two.log.pid")" &&
  test_wait_until 10 binhook_gone "$(cat "$TRASH/two.log.pid")" &&
  test_grep ! "the initial snapshot is done" "$TRASH/two.log" &&
  sed -i "s/snapshot_rate = 3000/snapshot_rate = 0/" "$TRASH/two.toml" &&
  start_binhook two.toml two2.log &&
  test_grep "resum.* snapshot" "$TRASH/two2.log" &&
  test_grep "resumes after key" "$TRASH/two2.log" &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/two2.log" &&
  sleep 1 &&
  stop_load &&
  test_wait_until 60 settled two &&
  exact two --band-deletes >two.out &&
  cat two.out &&
  sed "s/^/# /" two.out >&7 &&
  pg_sql "SELECT slot_name FROM pg_replication_slots" >slots &&
  test_grep "^two\$" slots &&
  test_grep ! "_snapshot_" slots &&
  stop_binhook two2.log
'

test_done
