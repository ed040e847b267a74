#!/usr/bin/env bash
# The initial snapshot's progress is in the state store too: the active
# binhook SIGKILLed in the middle of the snapshot and its state directory
# deleted, the standby resumes the snapshot where the store says and
# streams on from its handover; applied in the order the receiver accepted
# them, the deliveries give exactly the table, written to all along.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"
. "$TOP/t/lib/ha.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_A=127.0.0.1:$(test_free_port)
ADMIN_B=127.0.0.1:$(test_free_port)

# snap_config NAME ADMIN: the table shop.big, snapshot first, slowly
snap_config () {
  cat >"$TRASH/$1.toml" <<-EOF
	[state]
	dir = "state-$1"
	store = "mysql://binhook@127.0.0.1:$MYSQL_PORT/binhook_state"
	lease = "4s"
	[admin]
	listen = "$2"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7734
	tables = ["shop.big"]
	snapshot = "initial"
	snapshot_chunk = 100
	snapshot_rate = 400
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.big"
	on = ["snapshot", "insert", "update", "delete"]
	endpoint = "hook"
	EOF
}

at_least () {
  local n
  n=$(grep -c . "$TRASH/$1.jsonl" 2>/dev/null) || n=0
  test "$n" -ge "$2"
}

# The table and what the receiver accepted, applied in order, agree.
applied_matches () {
  mariadb_sql "SELECT id, v FROM shop.big" >"$TRASH/big.tsv" &&
  python3 - "$TRASH/hook.jsonl" "$TRASH/big.tsv" >"$TRASH/applied.out" <<-\EOF
	import json, sys
	rows = {}
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if r["status"] // 100 != 2:
	        continue
	    e = json.loads(r["body"])
	    k = e["key"]["id"]
	    rows[k] = None if e["type"] == "delete" else e["after"]["v"]
	table = {int(a): int(b) for a, b in (l.split("\t") for l in open(sys.argv[2]) if l.strip())}
	got = {k: v for k, v in rows.items() if v is not None}
	bad = [k for k in set(table) | set(got) if table.get(k) != got.get(k)]
	print("%d rows in the table, %d from the deliveries, %d differ" % (len(table), len(got), len(bad)))
	sys.exit(1 if bad else 0)
	EOF
}

test_expect_success 'setup: 4000 rows; a takes the initial snapshot, b waits' '
  mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON binhook_state.* TO binhook@127.0.0.1;
    CREATE DATABASE shop; CREATE TABLE shop.big (id INT PRIMARY KEY, v INT NOT NULL)" &&
  mariadb_sql "INSERT INTO shop.big SELECT seq, 0 FROM shop.seq_1_to_4000" &&
  start_receiver hook &&
  snap_config a "$ADMIN_A" && snap_config b "$ADMIN_B" &&
  ha_start a && test_wait_until 30 ha_is_active "$ADMIN_A" &&
  ha_start b && test_wait_until 30 ha_is_standby "$ADMIN_B" &&
  test_grep "taking the initial snapshot" a.log
'

test_expect_success 'the active killed mid-snapshot, its directory deleted: b resumes the snapshot from the store' '
  test_wait_until 30 at_least hook 800 &&
  mariadb_sql "UPDATE shop.big SET v = v + 1 WHERE id % 7 = 0; DELETE FROM shop.big WHERE id % 100 = 3;
    INSERT INTO shop.big VALUES (5001, 1), (5002, 2)" &&
  kill -9 $(cat "$TRASH/a.pid") &&
  rm -rf "$TRASH/state-a" &&
  test_wait_until 20 ha_is_active "$ADMIN_B" &&
  test_grep "resuming the initial snapshot" b.log &&
  mariadb_sql "UPDATE shop.big SET v = v + 10 WHERE id % 11 = 0" &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/b.log"
'

test_expect_success 'applied in order, the deliveries give exactly the table' '
  mariadb_sql "UPDATE shop.big SET v = v + 100 WHERE id % 13 = 0" &&
  test_wait_until 60 applied_matches &&
  sed "s/^/# /" "$TRASH/applied.out" >&7
'

test_done
