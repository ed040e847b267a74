#!/usr/bin/env bash
# Coalescing ([endpoint] coalesce = "2s"): updates of one row within the
# window reach that endpoint as one delivery carrying the first before image
# and the last after image, in order with the row's inserts and deletes; an
# endpoint without it gets every update. A stop or a SIGKILL inside the
# window loses nothing: the coalesced update arrives after the restart.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# bodies NAME: the receiver's bodies, one JSON line each: type, key, the
# before and after v, the change id.
bodies () {
  python3 - "$TRASH/$1.jsonl" <<-\EOF
	import json, sys
	for line in open(sys.argv[1]):
	    q = json.loads(line)
	    if q["status"] != 200:
	        continue
	    b = json.loads(q["body"])
	    print(b["type"], b["key"]["id"], (b.get("before") or {}).get("v"), (b.get("after") or {}).get("v"),
	          ",".join(b.get("changed", [])))
	EOF
}

received () {
  [ "$(grep -c '"status": 200' "$TRASH/$1.jsonl" 2>/dev/null)" -ge "$2" ]
}

test_expect_success 'setup: one endpoint coalescing within 2 s, one not' '
  start_receiver co && start_receiver plain &&
  cat >"$TRASH/co.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7201
	[endpoint.co]
	url = "http://127.0.0.1:$(cat "$TRASH/co.port")/co"
	signing = "none"
	coalesce = "2s"
	[endpoint.plain]
	url = "http://127.0.0.1:$(cat "$TRASH/plain.port")/plain"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.t"
	endpoint = ["co", "plain"]
	EOF
  "$BINHOOK" check -c "$TRASH/co.toml" &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v INT, w INT)" &&
  start_binhook co.toml run.log
'

test_expect_success '20 updates of a row in a second: one delivery, first before and last after' '
  mariadb_sql "INSERT INTO shop.t VALUES (1, 0, 0)" &&
  for i in $(seq 1 20); do echo "UPDATE shop.t SET v = $i WHERE id = 1;"; done >upd.sql &&
  mariadb_sql "$(cat upd.sql)" &&
  test_wait_until 30 received plain 21 &&
  test_wait_until 30 received co 2 &&
  sleep 3 &&
  bodies co >co.out &&
  printf "insert 1 None 0 \nupdate 1 0 20 v\n" >expect &&
  test_cmp expect co.out &&
  test "$(bodies plain | grep -c "^update 1 ")" = 20
'

test_expect_success 'the coalesced delivery carries the last update id, and the same payload shape' '
  python3 - "$TRASH/co.jsonl" "$TRASH/plain.jsonl" <<-\EOF
	import json, sys
	co = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])]
	plain = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[2])]
	last = [b for b in plain if b["type"] == "update"][-1]
	u = [b for b in co if b["type"] == "update"][0]
	assert u["id"] == last["id"], (u["id"], last["id"])
	assert u["after"] == last["after"] and u["before"] == {"id": 1, "v": 0, "w": 0}, u
	assert sorted(u) == sorted(last), (sorted(u), sorted(last))
	EOF
'

test_expect_success 'an insert, updates and a delete of a row within the window stay in order' '
  : >"$TRASH/co.jsonl" &&
  mariadb_sql "INSERT INTO shop.t VALUES (2, 0, 0); UPDATE shop.t SET v = 1 WHERE id = 2;
    UPDATE shop.t SET w = 5 WHERE id = 2; UPDATE shop.t SET v = 3 WHERE id = 2; DELETE FROM shop.t WHERE id = 2" &&
  test_wait_until 30 received co 3 &&
  sleep 3 &&
  bodies co >co.out &&
  printf "insert 2 None 0 \nupdate 2 0 3 v,w\ndelete 2 3 None \n" >expect &&
  test_cmp expect co.out
'

test_expect_success 'updates of different rows are not mixed' '
  : >"$TRASH/co.jsonl" &&
  mariadb_sql "INSERT INTO shop.t VALUES (3, 0, 0), (4, 0, 0)" &&
  mariadb_sql "UPDATE shop.t SET v = 7 WHERE id = 3; UPDATE shop.t SET v = 8 WHERE id = 4; UPDATE shop.t SET v = 9 WHERE id = 3" &&
  test_wait_until 30 received co 4 &&
  sleep 3 &&
  bodies co | sort >co.out &&
  printf "insert 3 None 0 \ninsert 4 None 0 \nupdate 3 0 9 v\nupdate 4 0 8 v\n" >expect &&
  test_cmp expect co.out
'

test_expect_success 'SIGKILL inside the window: after the restart the coalesced update arrives' '
  sed -i "s/coalesce = \"2s\"/coalesce = \"30s\"/" "$TRASH/co.toml" &&
  stop_binhook run.log &&
  start_binhook co.toml run2.log &&
  : >"$TRASH/co.jsonl" &&
  n=$(grep -c "\"status\": 200" "$TRASH/plain.jsonl") &&
  mariadb_sql "UPDATE shop.t SET v = 100 WHERE id = 1; UPDATE shop.t SET v = 101 WHERE id = 1" &&
  test_wait_until 30 received plain $((n + 2)) &&
  kill -KILL "$(cat "$TRASH/run2.log.pid")" &&
  test_wait_until 10 binhook_gone "$(cat "$TRASH/run2.log.pid")" &&
  test ! -s "$TRASH/co.jsonl" &&
  sed -i "s/coalesce = \"30s\"/coalesce = \"1s\"/" "$TRASH/co.toml" &&
  start_binhook co.toml run3.log &&
  test_wait_until 30 received co 1 &&
  sleep 2 &&
  bodies co >co.out &&
  printf "update 1 20 101 v\n" >expect &&
  test_cmp expect co.out
'

test_expect_success 'SIGTERM inside the window: the coalesced update is queued and sent at the next start' '
  sed -i "s/coalesce = \"1s\"/coalesce = \"30s\"/" "$TRASH/co.toml" &&
  stop_binhook run3.log &&
  start_binhook co.toml run4.log &&
  : >"$TRASH/co.jsonl" &&
  mariadb_sql "UPDATE shop.t SET v = 200 WHERE id = 1; UPDATE shop.t SET v = 201 WHERE id = 1" &&
  sleep 1 &&
  stop_binhook run4.log &&
  test_grep "stopped at" "$TRASH/run4.log" &&
  start_binhook co.toml run5.log &&
  test_wait_until 30 received co 1 &&
  sleep 2 &&
  bodies co >co.out &&
  printf "update 1 101 201 v\n" >expect &&
  test_cmp expect co.out &&
  stop_binhook run5.log
'

test_expect_success 'coalesce must be a duration' '
  sed "s/coalesce = \"30s\"/coalesce = \"soon\"/" "$TRASH/co.toml" >bad.toml &&
  test_exit_code 2 "$BINHOOK" check -c bad.toml 2>err &&
  test_grep "coalesce.*not a duration" err
'

test_done
