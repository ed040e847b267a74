#!/usr/bin/env bash
# binhook run with a PostgreSQL source: changes of a table delivered to a
# receiver; the slot's confirmed flush LSN follows the saved checkpoint (it
# moves once the deliveries before it are done, never at the start); a
# restart resumes at the checkpoint: the changes written while binhook was
# down arrive, none twice. Heartbeat events give an LSN as their position;
# a snapshot asked for while running (binhook snapshot) reads through a
# temporary slot, the configured one left to the stream.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
pg_start || test_skip_all 'cannot start postgres'


test_expect_success 'set up: a receiver, binhook run on the database shop' '
  start_receiver r1 &&
  pg_sql "CREATE TABLE orders (id int PRIMARY KEY, status text)" &&
  cat >"$TRASH/pg.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_PG_URL"
	[endpoint.r1]
	url = "http://127.0.0.1:$(cat "$TRASH/r1.port")/hook"
	[[rule]]
	name = "orders"
	table = "public.orders"
	on = ["insert", "update"]
	endpoint = "r1"
	EOF
  start_binhook pg.toml run.log &&
  test_grep "made the replication slot" run.log
'

test_expect_success 'every change is delivered; the slot confirms the checkpoint after them' '
  start=$(pg_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \$\$binhook\$\$") &&
  pg_sql "INSERT INTO orders SELECT g, \$\$new\$\$ FROM generate_series(1, 100) g" &&
  pg_sql "UPDATE orders SET status = \$\$paid\$\$ WHERE id <= 50" &&
  after=$(pg_lsn) &&
  test_wait_until 30 accepted r1 150 &&
  test_wait_until 30 slot_at "$after" &&
  test "$(accepted_ids r1)" = 150 &&
  test "$start" != "$(pg_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \$\$binhook\$\$")"
'

test_expect_success 'changes written while binhook is stopped arrive after its restart, none twice' '
  stop_binhook run.log &&
  pg_sql "INSERT INTO orders SELECT g, \$\$late\$\$ FROM generate_series(101, 110) g" &&
  start_binhook pg.toml run2.log &&
  test_wait_until 30 accepted r1 160 &&
  sleep 1 &&
  test "$(accepted_ids r1)" = 160 &&
  test "$(grep -c "\"status\": 2" "$TRASH/r1.jsonl")" = 160
'

test_expect_success 'heartbeat events of a PostgreSQL source: the position is an LSN' '
  stop_binhook run2.log &&
  start_receiver r2 &&
  cat >>"$TRASH/pg.toml" <<-EOF &&
	[endpoint.r2]
	url = "http://127.0.0.1:$(cat "$TRASH/r2.port")/beat"
	[[rule]]
	name = "beat"
	on = ["heartbeat"]
	endpoint = "r2"
	[admin]
	listen = "127.0.0.1:$(test_free_port)"
	EOF
  sed -i "s/^url = \"postgresql/heartbeat_events = \"1s\"\nurl = \"postgresql/; s/^on = \[\"insert\", \"update\"\]/on = [\"insert\", \"update\", \"snapshot\"]/" \
    "$TRASH/pg.toml" &&
  start_binhook pg.toml run3.log &&
  pg_sql "INSERT INTO orders VALUES (111, \$\$beat\$\$)" &&
  lsn=$(pg_lsn) &&
  test_wait_until 30 accepted r2 2 &&
  python3 - "$TRASH/r2.jsonl" "$lsn" <<-\PY
	import json, re, sys
	def lsn(s):
	    hi, lo = s.split("/")
	    return int(hi, 16) << 32 | int(lo, 16)
	beats = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
	last = beats[-1]
	assert last["type"] == "heartbeat", last
	assert set(last["position"]) == {"lsn"}, last["position"]
	assert lsn(last["position"]["lsn"]) <= lsn(sys.argv[2]) + 4096, (last["position"], sys.argv[2])
	assert re.fullmatch(r"heartbeat:[0-9]+@" + re.escape(last["position"]["lsn"]), last["id"]), last["id"]
	PY
'

test_expect_success 'binhook snapshot while running: the rows, then the stream goes on after them' '
  { (cd "$TRASH" && "$BINHOOK" snapshot -c pg.toml "public.orders" 2>snap.err) || { cat "$TRASH/snap.err"; tail -5 "$TRASH/run3.log"; false; }; } &&
  test_grep -E "^snapshot started at [0-9A-F]+/[0-9A-F]+: its rows go out" "$TRASH/snap.err" &&
  pg_sql "INSERT INTO orders VALUES (112, \$\$after-snapshot\$\$)" &&
  test_wait_until 60 grep -q "the snapshot asked for is done" "$TRASH/run3.log" &&
  test_wait_until 30 grep -q "after-snapshot" "$TRASH/r1.jsonl" &&
  python3 - "$TRASH/r1.jsonl" <<-\PY
	import json, sys
	bodies = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
	snap = [b for b in bodies if b["type"] == "snapshot"]
	assert len(snap) == 111, len(snap)
	assert all(set(b["position"]) == {"lsn"} for b in snap), snap[0]["position"]
	assert sorted(b["after"]["id"] for b in snap) == list(range(1, 112))
	PY
  test "$(pg_sql "SELECT string_agg(slot_name, \$\$,\$\$) FROM pg_replication_slots")" = binhook
'

test_done
