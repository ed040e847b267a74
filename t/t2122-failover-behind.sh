#!/usr/bin/env bash
# A failover to a replica promoted before it caught up: it lacks the last
# transactions the primary committed, which binhook already delivered.
# binhook refuses to stream from it, names the missing GTIDs, /healthz
# fails and /status says why; nothing is delivered twice or skipped
# silently. Also when writes to the promoted server take its sequence
# numbers past binhook's (MariaDB compares a domain's GTIDs by number: the
# server itself then refuses binhook's state, and binhook tells that
# divergence from a purge by the binlogs the server still has).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl

common=(--gtid-strict-mode=ON --log-slave-updates=ON)
mariadb_use primary && mariadb_start --server-id=1 "${common[@]}" || test_skip_all 'cannot start mariadbd'
P1=$MYSQL_PORT
mariadb_use replica && mariadb_start --server-id=2 --read-only=ON "${common[@]}" || test_skip_all 'cannot start a second mariadbd'
P2=$MYSQL_PORT
ADMIN=127.0.0.1:$(test_free_port)

rows_are () {
  accepted hook "$1" && ! accepted hook $(($1 + 1))
}

healthz_fails_with () {
  local code
  code=$(curl -s -o "$TRASH/healthz.out" -w "%{http_code}" "http://$ADMIN/healthz") &&
  test "$code" != 200 && grep -q "$1" "$TRASH/healthz.out"
}

test_expect_success 'doctor: each listed server, its role, ready for a failover' '
  mariadb_use replica &&
  mariadb_replicate_from primary &&
  "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor0.out &&
  test_grep "^info *server 127.0.0.1:$P1 = writable, role unknown (server_id 1): whether it replicates, and from where, is not known: SHOW SLAVE STATUS was refused (.*); GRANT SLAVE MONITOR" doctor0.out &&
  for who in primary replica; do
    mariadb_use $who &&
    mariadb_sql "SET SESSION sql_log_bin = 0; GRANT SLAVE MONITOR ON *.* TO binhook@127.0.0.1" || return 1
  done &&
  "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor.out &&
  test_grep "^info *server 127.0.0.1:$P1 = primary (server_id 1): binhook resumes here by GTID" doctor.out &&
  test_grep "^info *server 127.0.0.1:$P2 = replica of 127.0.0.1:$P1 (server_id 2, replication running): ready: promoted, binhook resumes there by GTID" doctor.out &&
  mariadb_use replica &&
  mariadb_sql "SET GLOBAL gtid_strict_mode = OFF" &&
  "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor1.out &&
  mariadb_sql "SET GLOBAL gtid_strict_mode = ON" &&
  test_grep "^warning *server 127.0.0.1:$P2 = replica of .*: not ready for a failover: gtid_strict_mode is OFF" doctor1.out &&
  "$BINHOOK" doctor --json --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor.json &&
  python3 -c "import json, sys; n = [c[\"name\"] for c in json.load(open(sys.argv[1]))]; assert \"server 127.0.0.1:$P2\" in n, n" doctor.json
'

test_expect_success 'setup: six rows delivered, the last three never reached the replica' '
  mariadb_use replica &&
  mariadb_use primary &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY)" &&
  start_receiver hook &&
  cat >"$TRASH/b.toml" <<-EOF &&
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	[source]
	url = ["mysql://binhook@127.0.0.1:$P1", "mysql://binhook@127.0.0.1:$P2"]
	server_id = 7722
	heartbeat = "1s"
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.*"
	endpoint = "hook"
	EOF
  start_binhook b.toml run.log &&
  mariadb_sql "INSERT INTO shop.t VALUES (1); INSERT INTO shop.t VALUES (2); INSERT INTO shop.t VALUES (3)" &&
  mariadb_use replica &&
  mariadb_caught_up primary &&
  mariadb_sql "STOP SLAVE" &&
  mariadb_use primary &&
  mariadb_sql "INSERT INTO shop.t VALUES (4); INSERT INTO shop.t VALUES (5); INSERT INTO shop.t VALUES (6)" &&
  test_wait_until 30 rows_are 6 &&
  primary_pos=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  echo "$primary_pos" >"$TRASH/primary.pos" &&
  mariadb_use replica &&
  test "$(mariadb_sql "SELECT @@gtid_binlog_pos")" != "$primary_pos" &&
  "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor2.out &&
  test_grep "^warning *server 127.0.0.1:$P2 = replica of 127.0.0.1:$P1 (server_id 2, replication stopped): not ready for a failover: its replication is stopped" doctor2.out
'

test_expect_success 'the primary dies, the lagging replica is promoted and written to: binhook refuses it' '
  mariadb_use primary &&
  mariadb_kill &&
  "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$P1,mysql://binhook@127.0.0.1:$P2" >doctor3.out &&
  test_grep "^checking MariaDB .* at .127.0.0.1:$P2." doctor3.out &&
  test_grep "^warning *server 127.0.0.1:$P1 = unreachable: cannot connect" doctor3.out &&
  mariadb_use replica &&
  mariadb_promote &&
  mariadb_sql "INSERT INTO shop.t VALUES (100)" &&
  test_wait_until 30 grep -q "127.0.0.1:$P2. lacks transactions binhook already read from this topology: $(cat "$TRASH/primary.pos")" "$TRASH/run.log" &&
  test_wait_until 10 healthz_fails_with "lacks transactions binhook already read from this topology: $(cat "$TRASH/primary.pos")" &&
  curl -sf "http://$ADMIN/status" | python3 -c "import json, sys; s = json.load(sys.stdin)[\"source\"]; assert not s[\"streaming\"] and \"lacks transactions\" in s[\"error\"] and \"$P1\" in s[\"error\"], s" &&
  sleep 2 &&
  rows_are 6
'

test_expect_success 'written past binhook: the server refuses the state itself, told apart from a purge' '
  mariadb_use replica &&
  for i in 101 102 103 104 105; do mariadb_sql "INSERT INTO shop.t VALUES ($i)" || return 1; done &&
  test_wait_until 30 grep -q "127.0.0.1:$P2. cannot send the binlog from .gtid:$(cat "$TRASH/primary.pos").*it diverged from what binhook read" "$TRASH/run.log" &&
  test_wait_until 10 healthz_fails_with "it diverged from what binhook read" &&
  ! grep -q "purged" "$TRASH/healthz.out" &&
  sleep 2 &&
  rows_are 6 &&
  kill -0 $(cat "$TRASH/run.log.pid")
'

test_expect_success 'the checkpoint stays where the primary left it' '
  stop_binhook run.log &&
  python3 -c "import json, sys; c = json.load(open(sys.argv[1])); assert c[\"gtid_state\"] == sys.argv[2], (c, sys.argv[2])" \
    "$TRASH/state/checkpoint" "$(cat "$TRASH/primary.pos")"
'

test_done
