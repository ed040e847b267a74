#!/usr/bin/env bash
# The checkpoint carries the full GTID state at the boundary it names: on
# MariaDB with two domains written alternately (SET gtid_domain_id), the
# "gtid_state" saved when binhook run stops is the server's
# @@gtid_binlog_pos, every domain at its last transaction; a restart from
# that checkpoint keeps it exact across a new binlog file and delivers every
# row once; a checkpoint of an older binhook (no "gtid_state") still reads,
# and the next one has the state again.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# write_rows FROM TO: one transaction per row, domains 0 and 7 in turn (7's
# from server_id 3, so that a domain's server is kept too).
write_rows () {
  local i sql=
  for i in $(seq "$1" "$2"); do
    if [ $((i % 2)) = 0 ]; then
      sql="$sql SET SESSION gtid_domain_id = 0, SESSION server_id = 1;"
    else
      sql="$sql SET SESSION gtid_domain_id = 7, SESSION server_id = 3;"
    fi
    sql="$sql INSERT INTO shop.t VALUES ($i);"
  done
  mariadb_sql "$sql"
}

# cp_state: the checkpoint's gtid_state, one GTID a line, sorted ("none"
# when it has none).
cp_state () {
  python3 -c '
import json, sys
cp = json.load(open(sys.argv[1]))
s = cp.get("gtid_state")
print("\n".join(sorted(s.split(","))) if s is not None else "none")' "$TRASH/state/checkpoint"
}

server_state () {
  mariadb_sql 'SELECT @@gtid_binlog_pos' | tr , '\n' | sort
}

# delivered_once N: the receiver got rows 1..N, each once.
delivered_once () {
  python3 -c '
import json, sys
ids = sorted(json.loads(json.loads(l)["body"])["after"]["id"] for l in open(sys.argv[1]))
assert ids == list(range(1, int(sys.argv[2]) + 1)), ids' "$TRASH/hook.jsonl" "$1"
}

test_expect_success 'setup: a receiver, the table, the configuration' '
  start_receiver hook &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY)" &&
  cat >"$TRASH/g.toml" <<-EOF
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7601
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	[[rule]]
	name = "all"
	table = "shop.t"
	endpoint = "hook"
	EOF
'

test_expect_success 'two domains written alternately: the checkpoint holds both at their last GTID' '
  start_binhook g.toml run1.log &&
  write_rows 1 6 &&
  test_wait_until 30 accepted hook 6 &&
  stop_binhook run1.log &&
  server_state >expect &&
  test "$(wc -l <expect)" = 2 &&
  cp_state >actual &&
  test_cmp expect actual
'

test_expect_success 'a restart from it, across a new binlog file: exact again, every row once' '
  write_rows 7 9 &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  write_rows 10 12 &&
  start_binhook g.toml run2.log &&
  test_grep "(the checkpoint)" "$TRASH/run2.log" &&
  test_wait_until 30 accepted hook 12 &&
  stop_binhook run2.log &&
  delivered_once 12 &&
  server_state >expect &&
  cp_state >actual &&
  test_cmp expect actual
'

test_expect_success 'a checkpoint without gtid_state (an older binhook) reads; the next one has it' '
  python3 -c "
import json, sys
p = sys.argv[1]
cp = json.load(open(p))
del cp[\"gtid_state\"]
open(p, \"w\").write(json.dumps(cp) + \"\\n\")" "$TRASH/state/checkpoint" &&
  echo none >expect &&
  cp_state >actual &&
  test_cmp expect actual &&
  start_binhook g.toml run3.log &&
  test_grep "(the checkpoint)" "$TRASH/run3.log" &&
  write_rows 13 14 &&
  test_wait_until 30 accepted hook 14 &&
  stop_binhook run3.log &&
  delivered_once 14 &&
  server_state >expect &&
  cp_state >actual &&
  test_cmp expect actual
'

test_done
