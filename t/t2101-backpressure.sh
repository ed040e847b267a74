#!/usr/bin/env bash
# Backpressure: with its only endpoint down, binhook takes 100,000 changes
# without its memory growing past a bound. It stops reading the binlog once
# 20,000 deliveries are pending (and says so), and its resident memory after
# all 100,000 were written stays near what it was when it paused. (It pauses
# after the batch it took from the queue: a little over 20,000.) The test
# prints the figures.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# rss PID: resident memory in kB.
rss () {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

test_expect_success 'an endpoint that is down, a retry schedule of hours' '
  port=$(test_free_port) &&
  cat >"$TRASH/down.toml" <<-EOF &&
	[source]
	url = "$BINHOOK_URL"
	server_id = 7201
	[endpoint.down]
	url = "http://127.0.0.1:$port/nobody-listens"
	signing = "none"
	retry = ["1h", "2h"]
	[[rule]]
	name = "all"
	table = "shop.big"
	endpoint = "down"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.big (id INT PRIMARY KEY, v VARCHAR(200))" &&
  start_binhook down.toml run.log &&
  rss $(cat "$TRASH/run.log.pid") >"$TRASH/rss.start"
'

test_expect_success '100,000 changes: reading pauses past 20,000 pending, memory stays bounded' '
  mariadb_sql "INSERT INTO shop.big SELECT seq, REPEAT(\"x\", 200) FROM shop.seq_1_to_100000" &&
  test_wait_until 120 grep -q "deliveries pending: reading the binlog waits" "$TRASH/run.log" &&
  sed -n "s/.* \([0-9]*\) deliveries pending: reading the binlog waits.*/\1/p" "$TRASH/run.log" >"$TRASH/paused.n" &&
  test "$(cat "$TRASH/paused.n")" -ge 20000 && test "$(cat "$TRASH/paused.n")" -le 30000 &&
  sleep 2 &&
  rss $(cat "$TRASH/run.log.pid") >"$TRASH/rss.paused" &&
  mariadb_sql "INSERT INTO shop.big SELECT 100000 + seq, REPEAT(\"y\", 200) FROM shop.seq_1_to_100000" &&
  sleep 5 &&
  rss $(cat "$TRASH/run.log.pid") >"$TRASH/rss.after" &&
  echo "# resident memory: $(cat "$TRASH/rss.start") kB at start, $(cat "$TRASH/rss.paused") kB when paused, $(cat "$TRASH/rss.after") kB after 200,000 more rows" >&7 &&
  test "$(cat "$TRASH/rss.after")" -le $(( $(cat "$TRASH/rss.paused") * 5 / 4 + 16384 ))
'

test_expect_success 'nothing was dropped on the way: a stop gives up exactly what was pending' '
  stop_binhook run.log &&
  n=$(cat "$TRASH/paused.n") &&
  test_grep "stopped: $n matches, 0 delivered, $n failed attempts, $n given up" "$TRASH/run.log" &&
  test "$(grep -c "gave up on delivery" "$TRASH/run.log")" = "$n"
'

test_done
