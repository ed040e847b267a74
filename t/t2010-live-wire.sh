#!/usr/bin/env bash
# The live stream read straight from the socket (source/wire.c). Events of
# 16 MiB and more: the server sends them in pieces of 16 MiB - 1 (the
# protocol's largest packet), which the reader puts together; a row of
# 20 MiB inserted, then updated (its update event holds both images:
# 40 MiB, three pieces), and the rows after them, decode live as from the
# files. A server that goes silent (SIGSTOP): the read timeout (three
# heartbeat periods and 5 s) ends the connection with a message that says
# so, and the stream goes on where it was once the server is back.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3

test_expect_success 'a server that takes 64 MiB packets' '
  mariadb_start --max-allowed-packet=64M &&
  from=$(mariadb_binlog_pos) && echo "$from" >from &&
  mariadb_sql "CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, body LONGTEXT, n INT)" &&
  mariadb_sql "INSERT INTO big.t VALUES (1, REPEAT(\"0123456789abcdef\", 1310720), 1)" &&
  mariadb_sql "UPDATE big.t SET body = CONCAT(\"x\", body), n = 2 WHERE id = 1" &&
  mariadb_sql "INSERT INTO big.t VALUES (2, \"small\", 3)" &&
  mariadb_sql "SELECT MD5(REPEAT(\"0123456789abcdef\", 1310720)), MD5(body) FROM big.t WHERE id = 1" >md5 &&
  test "$(mariadb_sql "SELECT LENGTH(body) FROM big.t WHERE id = 1")" = 20971521
'

check_events () {
  python3 - "$1" md5 <<-\PY
	import hashlib, json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	first, updated = open(sys.argv[2]).read().split()
	types = [e["type"] for e in ev]
	assert types == ["statement", "statement", "insert", "update", "insert"], types
	md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
	ins, upd, small = ev[2], ev[3], ev[4]
	assert len(ins["after"]["body"]) == 20971520 and md5(ins["after"]["body"]) == first, "the inserted 20 MiB"
	assert md5(upd["before"]["body"]) == first, "the update's before image"
	assert len(upd["after"]["body"]) == 20971521 and md5(upd["after"]["body"]) == updated, "its after image"
	assert upd["after"]["n"] == 2 and sorted(upd["changed"]) == ["body", "n"], upd["changed"]
	assert small["after"] == {"id": 2, "body": "small", "n": 3}, small["after"]
	PY
}

test_expect_success 'live: the 20 and 40 MiB events and the row after them' '
  timeout 120 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$(cat from)" --limit 5 >live 2>err &&
  check_events live
'

test_expect_success 'from the files: the same, byte for byte' '
  mariadb_sql "FLUSH BINARY LOGS" &&
  "$BINHOOK" tail --binlog "$MYSQL_DATADIR/binlog.000001" >offline 2>err &&
  test_cmp live offline
'

test_expect_success 'a silent server: the read timeout, then the stream goes on' '
  from=$(mariadb_binlog_pos) &&
  cat >"$TRASH/silent.toml" <<-EOF &&
	[source]
	url = "$BINHOOK_URL"
	heartbeat = "1s"
	EOF
  { "$BINHOOK" tail -c "$TRASH/silent.toml" --from "$from" >"$TRASH/silent.out" 2>"$TRASH/silent.err" & } &&
  tail_pid=$! &&
  test_atexit "kill $tail_pid 2>/dev/null" &&
  mariadb_sql "INSERT INTO big.t VALUES (10, \"before-silence\", 10)" &&
  test_wait_until 30 grep -q "\"body\":\"before-silence\"" "$TRASH/silent.out" &&
  kill -STOP "$MYSQL_PID" &&
  test_atexit "kill -CONT $MYSQL_PID 2>/dev/null" &&
  test_wait_until 30 grep -q "nothing came from the server for 8 s (the read timeout" "$TRASH/silent.err" &&
  kill -CONT "$MYSQL_PID" &&
  mariadb_sql "INSERT INTO big.t VALUES (11, \"after-silence\", 11)" &&
  test_wait_until 60 grep -q "\"body\":\"after-silence\"" "$TRASH/silent.out" &&
  kill "$tail_pid" &&
  { wait "$tail_pid" || :; } &&
  test "$(grep -c "before-silence" "$TRASH/silent.out")" = 1 &&
  test "$(grep -c "after-silence" "$TRASH/silent.out")" = 1 &&
  test "$(wc -l <"$TRASH/silent.out")" = 2 &&
  test_grep "lost the replication connection" "$TRASH/silent.err"
'

test_done
