#!/usr/bin/env bash
# A server that lacks transactions binhook already read from the topology
# (behind, or diverged: a replica promoted before it caught up) is refused
# before a single event is streamed from it, with the missing GTIDs named:
# at the start (against the checkpoint's GTID state) and at a reconnect
# (against the stream's), where /healthz fails and says why. Nothing is
# delivered from such a server.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN=127.0.0.1:$(test_free_port)

# rows_are N: the receiver has accepted N requests.
rows_are () {
  accepted good "$1" && ! accepted good $(($1 + 1))
}

test_expect_success 'setup: two rows delivered, binhook stopped with a checkpoint that holds the GTID state' '
  start_receiver good &&
  test_wait_until 20 test -s "$TRASH/good.port" &&
  cat >"$TRASH/d.toml" <<-EOF &&
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7701
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/good.port")/hook"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.*"
	endpoint = "hook"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY)" &&
  start_binhook d.toml run.log &&
  mariadb_sql "INSERT INTO shop.t VALUES (1); INSERT INTO shop.t VALUES (2)" &&
  test_wait_until 30 accepted good 2 &&
  stop_binhook run.log &&
  pos=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  python3 -c "import json, sys; c = json.load(open(sys.argv[1])); assert c[\"gtid_state\"] == sys.argv[2], (c, sys.argv[2])" \
    "$TRASH/state/checkpoint" "$pos" &&
  cp "$TRASH/state/checkpoint" "$TRASH/checkpoint.good"
'

test_expect_success 'at the start: a checkpoint ahead of the server is refused, the missing GTIDs named, nothing delivered' '
  python3 - "$TRASH/state/checkpoint" <<-\EOF &&
	import json, sys
	c = json.load(open(sys.argv[1]))
	d, s, n = c["gtid_state"].split("-")
	c["gtid_state"] = "%s-%s-%d" % (d, s, int(n) + 5)
	json.dump(c, open(sys.argv[1], "w"))
	EOF
  ahead=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[\"gtid_state\"])" "$TRASH/state/checkpoint") &&
  mariadb_sql "INSERT INTO shop.t VALUES (3)" &&
  (cd "$TRASH" && test_exit_code 1 timeout 60 "$BINHOOK" run -c d.toml 2>ahead.log) &&
  test_grep "lacks transactions binhook already read from this topology: $ahead" "$TRASH/ahead.log" &&
  test_grep "binhook does not stream from it" "$TRASH/ahead.log" &&
  rows_are 2
'

test_expect_success 'the checkpoint the server holds: binhook starts and delivers what came since' '
  cp "$TRASH/checkpoint.good" "$TRASH/state/checkpoint" &&
  start_binhook d.toml run2.log &&
  test_wait_until 30 accepted good 3
'

test_expect_success 'at a reconnect: a server that lost what binhook read is refused, /healthz says why, nothing delivered' '
  mariadb_sql "RESET MASTER" &&
  mariadb_restart &&
  mariadb_sql "INSERT INTO shop.t VALUES (4)" &&
  test_wait_until 60 grep -q "lacks transactions binhook already read" "$TRASH/run2.log" &&
  code=$(curl -s -o "$TRASH/health.out" -w "%{http_code}" "http://$ADMIN/healthz") &&
  test "$code" = 503 &&
  test_grep "lacks transactions binhook already read" "$TRASH/health.out" &&
  curl -sf "http://$ADMIN/status" | python3 -c "
import json, sys
s = json.load(sys.stdin)[\"source\"]
assert not s[\"streaming\"] and \"lacks transactions\" in s[\"error\"], s" &&
  sleep 2 &&
  rows_are 3 &&
  kill -0 "$(cat "$TRASH/run2.log.pid")"
'

test_expect_success 'binhook stops cleanly' '
  stop_binhook run2.log
'

test_done
