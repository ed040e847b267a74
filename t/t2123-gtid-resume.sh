#!/usr/bin/env bash
# Resuming by GTID: a restart of binhook resumes by the checkpoint's GTID
# state when the server has GTIDs (by file:pos with a checkpoint that has
# no state, or with [source] resume = "file"), every domain exactly when
# two GTID domains are written alternately, also when the checkpoint's
# file:pos means nothing any more (the server's binlogs renamed to another
# log_bin base name).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start --gtid-strict-mode=ON || test_skip_all 'cannot start mariadbd'

# write FROM TO: rows FROM..TO, odd ids in GTID domain 7, even ones in 0,
# each its own transaction.
write () {
  local i sql=""
  for i in $(seq "$1" "$2"); do
    sql="$sql SET SESSION gtid_domain_id = $((i % 2 ? 7 : 0)); INSERT INTO shop.t VALUES ($i);"
  done
  mariadb_sql "$sql"
}

# each_once N: the receiver accepted rows 1..N, each exactly once.
each_once () {
  python3 - "$TRASH/hook.jsonl" "$1" <<-\EOF
	import json, sys
	seen = {}
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if r["status"] // 100 == 2:
	        i = json.loads(r["body"])["key"]["id"]
	        seen[i] = seen.get(i, 0) + 1
	want = {i: 1 for i in range(1, int(sys.argv[2]) + 1)}
	sys.exit(0 if seen == want else 1)
	EOF
}

checkpoint_field () {
  python3 -c "import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], \"\"))" "$TRASH/state/checkpoint" "$1"
}

test_expect_success 'setup: two domains written alternately, delivered' '
  start_receiver hook &&
  cat >"$TRASH/g.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7723
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.*"
	endpoint = "hook"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY)" &&
  start_binhook g.toml run1.log &&
  write 1 10 &&
  test_wait_until 30 each_once 10 &&
  stop_binhook run1.log &&
  test "$(checkpoint_field gtid_state)" = "$(mariadb_sql "SELECT @@gtid_binlog_pos")" &&
  case "$(checkpoint_field gtid_state)" in 0-1-*,7-1-*) ;; *) false ;; esac
'

test_expect_success 'a restart resumes by the GTID state, every domain exactly' '
  write 11 20 &&
  start_binhook g.toml run2.log &&
  test_grep "reading from binlog\.000001:[0-9]* (the checkpoint) by its GTID state 0-1-[0-9]*,7-1-[0-9]* on .127\.0\.0\.1:$MYSQL_PORT. (server_id 1)" run2.log &&
  test_wait_until 30 each_once 20 &&
  stop_binhook run2.log
'

test_expect_success 'a checkpoint without a GTID state (an older binhook) resumes by file:pos' '
  write 21 24 &&
  python3 -c "import json, sys; c = json.load(open(sys.argv[1])); del c[\"gtid_state\"]; json.dump(c, open(sys.argv[1], \"w\"))" \
    "$TRASH/state/checkpoint" &&
  start_binhook g.toml run3.log &&
  test_grep "reading from binlog\.000001:[0-9]* (the checkpoint) on " run3.log &&
  ! grep -q "by its GTID state" "$TRASH/run3.log" &&
  test_wait_until 30 each_once 24 &&
  stop_binhook run3.log &&
  test -n "$(checkpoint_field gtid_state)"
'

test_expect_success 'the binlogs renamed to another base name: the checkpoint file:pos is gone' '
  write 25 30 &&
  mariadb_stop &&
  (cd "$MYSQL_DATADIR" &&
   for f in binlog.[0-9]*; do mv "$f" "other.${f#binlog.}" || exit 1; done &&
   sed "s/binlog\./other./" binlog.index >other.index && rm binlog.index &&
   if [ -f binlog.state ]; then mv binlog.state other.state; fi) &&
  mariadb_restart --gtid-strict-mode=ON --log-bin=other &&
  mariadb_sql "SHOW BINARY LOGS" >"$TRASH/logs" &&
  ! grep -q "^binlog\." "$TRASH/logs" && grep -q "^other\." "$TRASH/logs" &&
  case "$(mariadb_sql "SELECT @@gtid_binlog_pos")" in 0-1-*,7-1-*) ;; *) false ;; esac
'

test_expect_success 'resume = "file" cannot go on there, and says so' '
  sed "s/^server_id = 7723/&\nresume = \"file\"/" "$TRASH/g.toml" >"$TRASH/gf.toml" &&
  cp "$TRASH/state/checkpoint" "$TRASH/checkpoint.before" &&
  test_exit_code 1 "$BINHOOK" run -c "$TRASH/gf.toml" 2>"$TRASH/runf.log" &&
  test_grep "binlog\.000001" runf.log &&
  test_grep "purged" runf.log &&
  test_grep "resume = \"auto\" resumes by the checkpoint.s GTID state (0-1-[0-9]*,7-1-[0-9]*)" runf.log &&
  cmp "$TRASH/state/checkpoint" "$TRASH/checkpoint.before" &&
  each_once 24
'

test_expect_success 'resume = "auto" goes on by GTID: every row of both domains once' '
  start_binhook g.toml run4.log &&
  test_grep "by its GTID state" run4.log &&
  test_wait_until 30 each_once 30 &&
  write 31 36 &&
  test_wait_until 30 each_once 36 &&
  stop_binhook run4.log &&
  case "$(checkpoint_field file)" in other.*) ;; *) false ;; esac &&
  test "$(checkpoint_field gtid_state)" = "$(mariadb_sql "SELECT @@gtid_binlog_pos")"
'

test_done
