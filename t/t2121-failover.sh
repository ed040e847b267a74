#!/usr/bin/env bash
# A database failover under load: a MariaDB primary and a replica (GTIDs,
# log_slave_updates, gtid_strict_mode), binhook configured with both,
# sysbench writing, a receiver failing 10 % of requests. The writes pause,
# the replica catches up, the primary is SIGKILLed, the replica is promoted
# and the writes go on against it: binhook follows by GTID without a
# config change, says where it streams from, and replaying what the
# receiver accepted, per key, gives exactly the promoted server's table.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl sysbench

common=(--gtid-strict-mode=ON --log-slave-updates=ON)
mariadb_use primary && mariadb_start --server-id=1 "${common[@]}" || test_skip_all 'cannot start mariadbd'
P1=$MYSQL_PORT
mariadb_use replica && mariadb_start --server-id=2 --read-only=ON "${common[@]}" || test_skip_all 'cannot start a second mariadbd'
P2=$MYSQL_PORT
ADMIN=127.0.0.1:$(test_free_port)

# sysbench_on NAME SECONDS: an OLTP write load (two updates, a delete and an
# insert per transaction) on server NAME, 100 transactions a second.
sysbench_on () {
  mariadb_use "$1" &&
  sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 --threads=2 --rate=100 --time="$2" \
    --db-ps-mode=disable --mysql-ignore-errors=1213,1205 run >"$TRASH/sysbench-$1.out" 2>&1 || {
    sed 's/^/| /' "$TRASH/sysbench-$1.out" >&2
    return 1
  }
}

# replay_matches NAME: what the receiver accepted, replayed per key, is
# server NAME's sbtest1 table (t/lib/replay.py says what differs).
replay_matches () {
  mariadb_use "$1" &&
  mariadb_sql --column-names 'SELECT id, k, c, pad FROM sbtest.sbtest1' >"$TRASH/table.tsv" &&
  python3 "$TOP/t/lib/replay.py" "$TRASH/hook.jsonl" "$TRASH/table.tsv" id >"$TRASH/replay.out"
}

status_field () {
  curl -sf "http://$ADMIN/status" | python3 -c "import json, sys; print(json.load(sys.stdin)$1)"
}

test_expect_success 'setup: the replica follows the primary; binhook reads with both listed' '
  mariadb_use replica &&
  mariadb_replicate_from primary &&
  mariadb_use primary &&
  mariadb_sql "CREATE DATABASE sbtest" &&
  start_receiver hook --fail 0.1 --seed 7 &&
  cat >"$TRASH/f.toml" <<-EOF &&
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	[source]
	url = ["mysql://binhook@127.0.0.1:$P1", "mysql://binhook@127.0.0.1:$P2"]
	server_id = 7721
	heartbeat = "1s"
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	breaker_failures = 0
	retry = ["0.1s", "0.1s", "0.2s", "0.3s", "0.5s", "0.5s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "rows"
	table = "sbtest.*"
	endpoint = "hook"
	EOF
  start_binhook f.toml run.log &&
  test_grep "on .127.0.0.1:$P1. (server_id 1)" run.log &&
  test "$(status_field "[\"source\"][\"server\"]")" = "127.0.0.1:$P1"
'

test_expect_success 'load on the primary, delivered through failures' '
  mariadb_use primary &&
  sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 prepare >"$TRASH/prepare.out" 2>&1 &&
  sysbench_on primary 4 &&
  mariadb_use replica &&
  mariadb_caught_up primary &&
  test_wait_until 60 replay_matches primary &&
  grep -q "\"status\": 500" "$TRASH/hook.jsonl"
'

test_expect_success 'the primary dies, the replica is promoted, the load goes on against it' '
  mariadb_use primary &&
  before=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  mariadb_kill &&
  mariadb_use replica &&
  test "$(mariadb_sql "SELECT @@gtid_binlog_pos")" = "$before" &&
  mariadb_promote &&
  sysbench_on replica 4 &&
  test "$(mariadb_sql "SELECT @@gtid_binlog_pos")" != "$before"
'

test_expect_success 'binhook follows by GTID and says so in the log and /status' '
  test_wait_until 60 grep -q "now streaming from .127.0.0.1:$P2., server_id 2, after a failover from .127.0.0.1:$P1. (server_id 1); resuming by the GTID state 0-1-" "$TRASH/run.log" &&
  test "$(status_field "[\"source\"][\"server\"]")" = "127.0.0.1:$P2" &&
  test "$(status_field "[\"source\"][\"server_id\"]")" = 2 &&
  test "$(status_field "[\"source\"][\"resumes_by\"]")" = gtid &&
  curl -sf "http://$ADMIN/healthz" >/dev/null
'

test_expect_success 'replaying what the receiver accepted gives exactly the promoted server table' '
  test_wait_until 90 replay_matches replica &&
  sed "s/^/# /" "$TRASH/replay.out" >&7 &&
  grep -q "written by servers 1,2;" "$TRASH/replay.out" &&
  ! grep -q "^problem:" "$TRASH/replay.out"
'

test_expect_success 'binhook tail --source takes the servers as a comma-separated list' '
  "$BINHOOK" tail --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" --from start \
    --limit 3 >tail.out 2>tail.err &&
  test $(grep -c "\"schema\":\"sbtest\"" tail.out) = 3 &&
  test_grep "127.0.0.1:$P1.*trying .127.0.0.1:$P2. next" tail.err
'

test_expect_success 'a stop saves a checkpoint on the promoted server, with its GTID state' '
  stop_binhook run.log &&
  mariadb_use replica &&
  pos=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  python3 -c "import json, sys; c = json.load(open(sys.argv[1])); assert c[\"gtid_state\"] == sys.argv[2], (c, sys.argv[2])" \
    "$TRASH/state/checkpoint" "$pos"
'

test_done
