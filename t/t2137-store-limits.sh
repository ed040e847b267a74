#!/usr/bin/env bash
# What the state in a database cannot take as it is: a row whose primary
# key is longer than the queue's okey column (its ordering key is kept as
# a digest, so the delivery is queued and ordered), and a delivery longer
# than the store's max_allowed_packet (refused before it is sent, with
# what to raise; binhook goes on by itself once the limit is raised and
# loses nothing).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN=127.0.0.1:$(test_free_port)

test_expect_success 'setup: the state in a database, an endpoint that fails the first tries' '
  mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON bh_state.* TO binhook@127.0.0.1;
    CREATE DATABASE shop;
    CREATE TABLE shop.k (k VARCHAR(700) PRIMARY KEY, v INT) CHARACTER SET utf8mb4;
    CREATE TABLE shop.big (id INT PRIMARY KEY, b LONGTEXT)" &&
  start_receiver hook --fail-first 2 &&
  cat >"$TRASH/s.toml" <<-EOF &&
	[state]
	store = "mysql://binhook@127.0.0.1:$MYSQL_PORT/bh_state"
	lease = "10s"
	[admin]
	listen = "$ADMIN"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7737
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	retry = ["1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "all"
	table = ["shop.k", "shop.big"]
	endpoint = "hook"
	EOF
  mariadb_sql "SET GLOBAL max_allowed_packet = 1048576" &&
  start_binhook s.toml run.log
'

test_expect_success 'a primary key longer than the okey column: queued, delivered, in order' '
  mariadb_sql "SET GLOBAL max_allowed_packet = 67108864" &&
  key=$(python3 -c "print(\"\\\\x01\" * 700)") &&
  mariadb_sql "INSERT INTO shop.k VALUES (REPEAT(CHAR(1), 700), 1); UPDATE shop.k SET v = 2; UPDATE shop.k SET v = 3" &&
  test_wait_until 40 accepted hook 3 &&
  python3 - "$TRASH/hook.jsonl" <<-\EOF
	import json, sys
	got = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1]) if json.loads(l)["status"] == 200]
	rows = [e for e in got if e["table"] == "k"]
	assert [e["after"]["v"] for e in rows] == [1, 2, 3], [e["after"]["v"] for e in rows]
	assert len(json.dumps(rows[0]["key"])) > 3072
	EOF
  ! grep "cannot be written" "$TRASH/run.log"
'

test_expect_success 'a delivery longer than max_allowed_packet: refused with what to raise, then delivered' '
  stop_binhook run.log &&
  pkill -f "receiver.py $TRASH/hook.port" &&
  port=$(cat "$TRASH/hook.port") && rm "$TRASH/hook.port" &&
  test_wait_until 10 python3 -c "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", $port))" &&
  start_receiver hook2 200 "$port" --fail-first 6 &&
  python3 -c "import base64, os; print(\"INSERT INTO shop.big VALUES (1, \\\"%s\\\");\" % base64.b64encode(os.urandom(2250000)).decode())" >big.sql &&
  mariadb_sql <big.sql &&
  mariadb_sql "SET GLOBAL max_allowed_packet = 1048576" &&
  start_binhook s.toml run2.log &&
  test_wait_until 30 grep -q "does not fit the store.s max_allowed_packet (1048576 bytes): raise it" "$TRASH/run2.log" &&
  curl -s "http://$ADMIN/healthz" >health &&
  test_grep "max_allowed_packet" health &&
  mariadb_sql "SET GLOBAL max_allowed_packet = 67108864" &&
  test_wait_until 60 accepted hook2 1 &&
  python3 - "$TRASH/hook2.jsonl" <<-\EOF
	import json, sys
	got = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1]) if json.loads(l)["status"] == 200]
	assert len(got) == 1 and len(got[0]["after"]["b"]) == 3000000, len(got)
	EOF
'

test_expect_success 'stopped' '
  stop_binhook run2.log
'

test_done
