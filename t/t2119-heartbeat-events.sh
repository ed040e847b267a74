#!/usr/bin/env bash
# Heartbeat events ([source] heartbeat_events): while the database is idle
# they come on schedule, with the position, the GTID state, the server and
# the lag; only rules with on = ["heartbeat"] get them, and those rules get
# no rows; their ids never look like a change's; none come while the stream
# is lost, and they come back with it. binhook check warns of a heartbeat
# rule when none are made.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# beats: how many heartbeat requests the receiver has.
beats () {
  local n
  n=$(grep -c '"path": "/beats"' "$TRASH/good.jsonl" 2>/dev/null) || :
  echo "${n:-0}"
}

# beats_over N: the receiver has more than N heartbeat requests.
beats_over () {
  test "$(beats)" -gt "$1"
}

# rows_are N: the receiver has N row requests.
rows_are () {
  test "$(grep -c '"path": "/rows"' "$TRASH/good.jsonl")" = "$1"
}

test_expect_success 'setup: heartbeat events every second to one rule, rows to another' '
  start_receiver good &&
  test_wait_until 20 test -s "$TRASH/good.port" &&
  port=$(cat "$TRASH/good.port") &&
  cat >"$TRASH/hb.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7601
	heartbeat_events = "1s"
	[endpoint.beats]
	url = "http://127.0.0.1:$port/beats"
	signing = "none"
	[endpoint.rows]
	url = "http://127.0.0.1:$port/rows"
	signing = "none"
	[[rule]]
	name = "alive"
	on = ["heartbeat"]
	endpoint = "beats"
	[[rule]]
	name = "rows"
	table = "shop.*"
	endpoint = "rows"
	EOF
  "$BINHOOK" check -c "$TRASH/hb.toml" >/dev/null 2>"$TRASH/check.err" &&
  test_grep ! "heartbeat" "$TRASH/check.err" &&
  grep -v "^heartbeat_events" "$TRASH/hb.toml" >"$TRASH/nobeat.toml" &&
  "$BINHOOK" check -c "$TRASH/nobeat.toml" >/dev/null 2>"$TRASH/check.err" &&
  test_grep "warning: .*nobeat.toml:[0-9]*:[0-9]*: rule .alive. listens to heartbeat events only, and \[source\] heartbeat_events is 0" "$TRASH/check.err" &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY)" &&
  start_binhook hb.toml run.log
'

test_expect_success 'an idle database: heartbeat events come, about one a second, each with the position, server and lag' '
  test_wait_until 20 beats_over 0 &&
  first=$(beats) &&
  sleep 5 &&
  n=$(( $(beats) - first )) &&
  echo "# $n heartbeat events in 5 s" &&
  test "$n" -ge 3 && test "$n" -le 7 &&
  python3 - "$TRASH/good.jsonl" "$MYSQL_PORT" <<-\EOF
	import json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1]) if "/beats" in l]
	ids = set()
	for r in reqs:
	    e = json.loads(r["body"])
	    assert e["type"] == "heartbeat", e
	    assert e["id"].startswith("heartbeat:") and e["id"] not in ids, e
	    ids.add(e["id"])
	    assert e["position"]["file"].startswith("binlog.") and e["position"]["pos"] > 4, e
	    assert e["server"]["address"] == "127.0.0.1:" + sys.argv[2] and e["server"]["id"] > 0, e
	    assert isinstance(e["lag_seconds"], int) and 0 <= e["lag_seconds"] < 60, e
	    assert "table" not in e and "after" not in e, e
	EOF
'

test_expect_success 'rows go to the row rule only; heartbeats to the heartbeat rule only' '
  mariadb_sql "INSERT INTO shop.t VALUES (1), (2)" &&
  test_wait_until 20 rows_are 2 &&
  sleep 2 &&
  python3 - "$TRASH/good.jsonl" <<-\EOF
	import json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	for r in reqs:
	    e = json.loads(r["body"])
	    assert (r["path"] == "/beats") == (e["type"] == "heartbeat"), r
	rows = [json.loads(r["body"]) for r in reqs if r["path"] == "/rows"]
	assert sorted(e["after"]["id"] for e in rows) == [1, 2], rows
	# the heartbeats after the rows name a later position
	beats = [json.loads(r["body"]) for r in reqs if r["path"] == "/beats"]
	assert beats[-1]["position"]["pos"] > beats[0]["position"]["pos"], beats
	# and the GTID state of that boundary (MariaDB: the last GTID of every domain)
	assert beats[-1]["gtid_state"].startswith("0-1-"), beats[-1]
	EOF
'

test_expect_success 'the stream lost: no heartbeat events; back with the server, they come again' '
  mariadb_stop &&
  sleep 2 &&
  before=$(beats) &&
  sleep 4 &&
  test "$(beats)" = "$before" &&
  mariadb_restart &&
  test_wait_until 60 beats_over "$before"
'

test_expect_success 'binhook stops cleanly' '
  stop_binhook run.log
'

test_done
