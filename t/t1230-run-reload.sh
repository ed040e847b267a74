#!/usr/bin/env bash
# binhook run and SIGHUP: a private MariaDB, a receiver on 127.0.0.1 and
# binhook as a process. A change is delivered, signed; a broken rule file
# and a SIGHUP leave the old rules working, with every problem logged as
# file:line:col; a fixed file and a SIGHUP bring the new rules in; SIGTERM
# stops it cleanly.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3 timeout
mariadb_start || test_skip_all 'cannot start mariadbd'

export BINHOOK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
RECV_LOG=$TRASH/received.jsonl
: >"$RECV_LOG"

# count_received: the requests the receiver has logged so far.
count_received () {
  wc -l <"$RECV_LOG"
}

# received_at_least N: the receiver has N requests.
received_at_least () {
  [ "$(count_received)" -ge "$1" ]
}

# wait_received N: until the receiver has N requests (30 s at most).
wait_received () {
  test_wait_until 30 received_at_least "$1"
}

# gone PID: the process has ended.
gone () {
  ! kill -0 "$1" 2>/dev/null
}

test_expect_success 'a receiver listens on 127.0.0.1' '
  python3 "$TOP/t/lib/receiver.py" "$TRASH/port" "$RECV_LOG" 7>&- 8>&- &
  echo $! >"$TRASH/receiver.pid" &&
  test_atexit "kill $(cat "$TRASH/receiver.pid") 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/port"
'
PORT=$(cat "$TRASH/port" 2>/dev/null)

mkdir -p "$TRASH/cfg/rules" "$TRASH/cfg/templates"
cat >"$TRASH/cfg/gateway.toml" <<EOF
include = ["rules/*.toml"]
[source]
url = "$BINHOOK_URL"
server_id = 7001
[state]
dir = "state"
[log]
level = "debug"
[endpoint.hook]
url = "http://127.0.0.1:$PORT/hook/{{ rule }}"
secret_env = "BINHOOK_WEBHOOK_SECRET"
EOF
cat >"$TRASH/cfg/rules/orders.toml" <<'EOF'
[[rule]]
name = "v1"
table = "shop.orders"
on = ["insert"]
endpoint = "hook"
template = "v1.json"
EOF
echo '{"version": 1, "id": "{{ key.id }}"}' >"$TRASH/cfg/templates/v1.json"
echo '{"version": 2, "id": "{{ key.id }}", "status": "{{ after.status }}"}' >"$TRASH/cfg/templates/v2.json"

test_expect_success 'binhook run starts and delivers a change, signed' '
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(20))" &&
  { (cd "$TRASH/cfg" && exec "$BINHOOK" run -c gateway.toml 2>"$TRASH/run.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/run.pid" &&
  test_atexit "kill -9 $(cat "$TRASH/run.pid") 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/run.log" &&
  mariadb_sql "INSERT INTO shop.orders VALUES (1, \"new\")" &&
  wait_received 1 &&
  python3 -c "
import base64, hashlib, hmac, json, sys
q = json.loads(open(sys.argv[1]).readline())
assert q[\"method\"] == \"POST\" and q[\"path\"] == \"/hook/v1\", q
assert json.loads(q[\"body\"]) == {\"version\": 1, \"id\": 1}, q
h = q[\"headers\"]
key = base64.b64decode(\"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\")
signed = (h[\"webhook-id\"] + \".\" + h[\"webhook-timestamp\"] + \".\" + q[\"body\"]).encode()
want = \"v1,\" + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
assert want in h[\"webhook-signature\"].split(\" \"), (want, h)
" "$RECV_LOG"
'

test_expect_success 'a broken rule file and SIGHUP: the problems are logged, the old rules keep working' '
  cat >"$TRASH/cfg/rules/orders.toml" <<-\EOF &&
	[[rule]]
	name = "v2"
	table = "shop.orders"
	on = ["insert", "update"]
	when = '"'"'after.status =='"'"'
	endpoint = "hook"
	template = "v2.json"
	EOF
  echo "[[rule]]" >"$TRASH/cfg/rules/zz-broken.toml" &&
  echo "name = \"unterminated" >>"$TRASH/cfg/rules/zz-broken.toml" &&
  kill -HUP $(cat "$TRASH/run.pid") &&
  test_wait_until 30 grep -q "reload refused" "$TRASH/run.log" &&
  test_grep "rules/orders.toml:5:24: expected a value after .==." "$TRASH/run.log" &&
  test_grep "rules/zz-broken.toml:2:8: unterminated string" "$TRASH/run.log" &&
  mariadb_sql "INSERT INTO shop.orders VALUES (2, \"new\")" &&
  wait_received 2 &&
  python3 -c "
import json, sys
q = [json.loads(l) for l in open(sys.argv[1])][1]
assert q[\"path\"] == \"/hook/v1\" and json.loads(q[\"body\"]) == {\"version\": 1, \"id\": 2}, q
" "$RECV_LOG"
'

test_expect_success 'the files fixed and SIGHUP again: the new rules and template take over' '
  rm "$TRASH/cfg/rules/zz-broken.toml" &&
  sed -i "s/after.status ==/after.status == \"paid\"/" "$TRASH/cfg/rules/orders.toml" &&
  kill -HUP $(cat "$TRASH/run.pid") &&
  test_wait_until 30 grep -q "reloaded .gateway.toml.: 1 rules" "$TRASH/run.log" &&
  mariadb_sql "INSERT INTO shop.orders VALUES (3, \"new\"); UPDATE shop.orders SET status = \"paid\" WHERE id = 3" &&
  wait_received 3 &&
  sleep 1 &&
  test "$(count_received)" = 3 &&
  python3 -c "
import json, sys
q = [json.loads(l) for l in open(sys.argv[1])][2]
assert q[\"path\"] == \"/hook/v2\", q
assert json.loads(q[\"body\"]) == {\"version\": 2, \"id\": 3, \"status\": \"paid\"}, q
" "$RECV_LOG"
'

test_expect_success 'SIGTERM stops it with status 0 and a summary' '
  kill -TERM $(cat "$TRASH/run.pid") &&
  test_wait_until 30 gone $(cat "$TRASH/run.pid") &&
  test_grep "stopped at binlog.[0-9]*:[0-9]*: 3 matches, 3 delivered, 0 failed attempts, 0 to the dead letters, 0 queued" "$TRASH/run.log"
'

test_expect_success 'a failing endpoint: the attempt is logged, a retry waits, SIGTERM keeps it in the queue' '
  python3 "$TOP/t/lib/receiver.py" "$TRASH/port500" "$TRASH/received500.jsonl" 500 7>&- 8>&- &
  echo $! >"$TRASH/r500.pid" &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/port500" &&
  sed -i "s/127.0.0.1:$PORT/127.0.0.1:$(cat "$TRASH/port500")/" "$TRASH/cfg/gateway.toml" &&
  { (cd "$TRASH/cfg" && exec "$BINHOOK" run -c gateway.toml 2>"$TRASH/run500.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/run500.pid" &&
  test_atexit "kill -9 $(cat "$TRASH/run500.pid") 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/run500.log" &&
  mariadb_sql "INSERT INTO shop.orders VALUES (4, \"paid\")" &&
  test_wait_until 30 grep -q "failed (attempt 1): HTTP status 500; next attempt in" "$TRASH/run500.log" &&
  kill -TERM $(cat "$TRASH/run500.pid") &&
  test_wait_until 5 gone $(cat "$TRASH/run500.pid") &&
  test_grep "stopped at binlog.[0-9]*:[0-9]*: 1 matches, 0 delivered, 1 failed attempts, 0 to the dead letters, 1 queued" "$TRASH/run500.log" &&
  (cd "$TRASH/cfg" && "$BINHOOK" dlq list --waiting -c gateway.toml >"$TRASH/waiting" 2>"$TRASH/waiting.err") &&
  test_grep "1 waiting" "$TRASH/waiting.err" &&
  test_grep "endpoint=hook rule=v2 attempts=1" "$TRASH/waiting"
'

test_expect_success 'started again with the endpoint fixed: the queued delivery goes out, same webhook-id' '
  kill $(cat "$TRASH/r500.pid") &&
  test_wait_until 10 gone $(cat "$TRASH/r500.pid") &&
  { python3 "$TOP/t/lib/receiver.py" "$TRASH/port500.ok" "$TRASH/received500.jsonl" 200 $(cat "$TRASH/port500") 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/port500.ok" &&
  { (cd "$TRASH/cfg" && exec "$BINHOOK" run -c gateway.toml 2>"$TRASH/run-again.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/again.pid" &&
  test_atexit "kill -9 $(cat "$TRASH/again.pid") 2>/dev/null" &&
  test_wait_until 30 grep -q "1 deliveries waiting and 0 dead letters in the queue" "$TRASH/run-again.log" &&
  test_wait_until 30 grep -q "\"status\": 200" "$TRASH/received500.jsonl" &&
  python3 -c "
import json, sys
q = [json.loads(l) for l in open(sys.argv[1])]
assert [x[\"status\"] for x in q] == [500, 200], q
assert q[0][\"headers\"][\"webhook-id\"] == q[1][\"headers\"][\"webhook-id\"], q
assert q[0][\"body\"] == q[1][\"body\"], q
assert q[0][\"headers\"][\"webhook-timestamp\"] != q[1][\"headers\"][\"webhook-timestamp\"], q
" "$TRASH/received500.jsonl" &&
  kill -TERM $(cat "$TRASH/again.pid") &&
  test_wait_until 10 gone $(cat "$TRASH/again.pid") &&
  test_grep "0 queued; 1 restored at start" "$TRASH/run-again.log" &&
  (cd "$TRASH/cfg" && "$BINHOOK" dlq list --waiting -c gateway.toml 2>"$TRASH/waiting.err") &&
  test_grep "^0 waiting" "$TRASH/waiting.err"
'

test_expect_success 'run refuses to start on a broken configuration, exit 2' '
  echo "[[rule]]" >"$TRASH/cfg/rules/zz-broken.toml" &&
  (cd "$TRASH/cfg" && test_exit_code 2 "$BINHOOK" run -c gateway.toml 2>"$TRASH/err") &&
  test_grep "rules/zz-broken.toml:1:1: a rule needs a name" "$TRASH/err" &&
  test_grep "cannot start: fix the configuration" "$TRASH/err"
'

test_done
