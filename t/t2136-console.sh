#!/usr/bin/env bash
# The delivery console, driven in a real browser (Debian's chromium,
# headless, through puppeteer-core: t/lib/console_drive.js) against a
# daemon with one endpoint that works and one that answers 503 with markup
# in its body: the overview's figures are /status's; the failing endpoint
# shows its errors; the attempts show the receiver's status and response
# as text and open their request without its secrets; a row holding markup
# and script shows as text and runs nothing; dead letters are dropped and
# replayed from the page (with confirmation) and reach the receiver once
# it is fixed; the rules show what they match. Then with [admin] token:
# the page asks for it, refuses a wrong one and keeps it for the tab only.
# Screenshots of every view go to t/artifacts/console (BINHOOK_ARTIFACTS).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"
. "$TOP/t/lib/ha.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SHOTS=${BINHOOK_ARTIFACTS:-$TOP/t/artifacts}/console
ADMIN=127.0.0.1:$(test_free_port)
ANSWER='<b>down</b> for maintenance <script>window.__xss=3</script>'
ROW='<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
SECRET=s3cr3t-in-the-query
DEAD=5

drive () {
  node "$TOP/t/lib/console_drive.js" "$1" "http://$ADMIN" "$SHOTS" "${@:2}"
}

dead_letters () {
  curl -sf ${TOKEN:+-H "Authorization: Bearer $TOKEN"} "http://$ADMIN/status" |
    python3 -c "import json, sys; sys.exit(0 if json.load(sys.stdin)[\"queue\"][\"dead\"] == $1 else 1)"
}

endpoint_disabled () {
  curl -sf "http://$ADMIN/status" |
    python3 -c "import json, sys; e = [e for e in json.load(sys.stdin)[\"endpoints\"] if e[\"name\"] == \"$1\"][0]; sys.exit(0 if str(e[\"disabled\"]).lower() == \"$2\" else 1)"
}

config () {
  cat <<-EOF
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	$1
	[source]
	url = "$BINHOOK_URL"
	server_id = 7736
	[endpoint.ok]
	url = "http://127.0.0.1:$(cat "$TRASH/ok.port")/hook"
	signing = "none"
	[endpoint.bad]
	url = "http://127.0.0.1:$(cat "$TRASH/bad.port")/hook?key=$SECRET"
	headers = { Authorization = "Bearer $SECRET" }
	retry = ["0.3s"]
	[endpoint.gone]
	url = "http://127.0.0.1:$(cat "$TRASH/gone.port")/hook"
	signing = "none"
	[[rule]]
	name = "gone"
	table = "shop.gone"
	endpoint = "gone"
	[[rule]]
	name = "items"
	description = "<i>every</i> item"
	table = "shop.items"
	endpoint = "ok"
	[[rule]]
	name = "orders"
	table = "shop.orders"
	when = "after.total > 10"
	endpoint = "bad"
	EOF
}

test_expect_success 'chromium and puppeteer-core are there (contrib/setup.sh installs them)' '
  test -x "$CHROMIUM" &&
  test -f "$TOP/build/npm/node_modules/puppeteer-core/package.json" &&
  mkdir -p "$SHOTS"
'

test_expect_success 'setup: a receiver that works, one that answers 503 with markup, rows with markup' '
  start_receiver ok &&
  start_receiver bad 503 --answer "$ANSWER" &&
  start_receiver gone 410 &&
  config "" >"$TRASH/c.toml" &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(200));
    CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT, note VARCHAR(200));
    CREATE TABLE shop.gone (id INT PRIMARY KEY)" &&
  start_binhook c.toml run.log &&
  mariadb_sql "INSERT INTO shop.items VALUES (1, \"plain\"), (2, \"$(echo "$ROW" | sed "s/\"/\\\\\"/g")\")" &&
  for i in $(seq 1 $DEAD); do
    mariadb_sql "INSERT INTO shop.orders VALUES ($i, 100, \"$(echo "$ROW" | sed "s/\"/\\\\\"/g")\")" || return 1
  done &&
  mariadb_sql "INSERT INTO shop.orders VALUES (99, 5, \"not matched\")" &&
  test_wait_until 30 accepted ok 2 &&
  test_wait_until 30 dead_letters $DEAD
'

test_expect_success 'the overview shows what /status says' '
  drive overview
'

test_expect_success 'the failing endpoint shows its errors, the other is up' '
  drive endpoints
'

test_expect_success 'the attempts show the status and response as text; the request without its secrets' '
  drive attempts "$ANSWER" "$SECRET"
'

test_expect_success 'the page and what its API serves never carry a secret' '
  for p in / /console.js /console.css /status /rules /series "/attempts?limit=1000" /dlq; do
    curl -sf "http://$ADMIN$p" >>served || return 1
  done &&
  ids=$(curl -sf "http://$ADMIN/dlq" | python3 -c "import json, sys; [print(json.loads(l)[\"id\"]) for l in sys.stdin]") &&
  test "$(echo "$ids" | wc -l)" = $DEAD &&
  for id in $ids; do
    curl -sf "http://$ADMIN/dlq/$id" >>served || return 1
  done &&
  grep -qi "\"authorization\":\"\[hidden\]\"" served &&
  test_grep "hook?key=\[hidden\]" served &&
  ! grep -q "$SECRET" served
'

test_expect_success 'the rules: what they match, their endpoints and matches' '
  drive rules
'

test_expect_success 'the receiver is fixed' '
  pkill -f "receiver.py $TRASH/bad.port" &&
  port=$(cat "$TRASH/bad.port") &&
  mv "$TRASH/bad.port" "$TRASH/bad.port.old" &&
  test_wait_until 10 python3 -c "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", $port))" &&
  start_receiver fixed 200 "$port"
'

test_expect_success 'dead letters: markup as text; drop one, replay one, replay the rest of the endpoint' '
  drive dead $DEAD "$ROW" >dead.json &&
  test_wait_until 30 accepted fixed $((DEAD - 1)) &&
  test_wait_until 10 dead_letters 0
'

test_expect_success 'the receiver got each replayed one once, not the dropped one' '
  python3 - "$TRASH/fixed.jsonl" "$TRASH/bad.jsonl" dead.json $DEAD <<-\EOF
	import json, sys
	fixed = [json.loads(l) for l in open(sys.argv[1])]
	failed = [json.loads(l) for l in open(sys.argv[2])]
	dropped = json.load(open(sys.argv[3]))["dropped"]
	ids = [q["headers"]["webhook-id"] for q in fixed]
	assert len(ids) == len(set(ids)) == int(sys.argv[4]) - 1, ids
	assert dropped not in ids and dropped in {q["headers"]["webhook-id"] for q in failed}, dropped
	assert set(ids) < {q["headers"]["webhook-id"] for q in failed}
	assert all("<img src=x" in json.loads(q["body"])["after"]["note"] for q in fixed)
	EOF
'

test_expect_success 'the replays show in the attempts as delivered' '
  drive replayed $((DEAD - 1))
'

test_expect_success 'an endpoint a 410 disabled is enabled from the page' '
  mariadb_sql "INSERT INTO shop.gone VALUES (1)" &&
  test_wait_until 20 endpoint_disabled gone true &&
  drive enable gone &&
  endpoint_disabled gone false &&
  test_grep "endpoint .gone. is enabled again (asked through the admin server)" "$TRASH/run.log"
'

test_expect_success 'with a token: the page asks for it, refuses a wrong one, works with it' '
  stop_binhook run.log &&
  TOKEN=$(python3 -c "import secrets; print(secrets.token_hex(16))") &&
  config "token = \"$TOKEN\"" >"$TRASH/t.toml" &&
  start_binhook t.toml run2.log &&
  test "$(curl -s -o /dev/null -w "%{http_code}" "http://$ADMIN/")" = 200 &&
  test "$(curl -s -o /dev/null -w "%{http_code}" "http://$ADMIN/status")" = 401 &&
  test "$(curl -s -o /dev/null -w "%{http_code}" "http://$ADMIN/attempts")" = 401 &&
  test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Content-Type: application/json" "http://$ADMIN/dlq/replay?all=1")" = 401 &&
  BINHOOK_TOKEN=$TOKEN drive token &&
  for p in /status /rules /series /attempts /dlq; do
    curl -sf -H "Authorization: Bearer $TOKEN" "http://$ADMIN$p" >>served.token || return 1
  done &&
  ! grep -q "$TOKEN" served.token
'

test_expect_success 'the page is served with headers that keep it to itself' '
  curl -sfI "http://$ADMIN/" >head &&
  test_grep "Content-Security-Policy: default-src .none.; script-src .self.;" head &&
  test_grep "X-Frame-Options: DENY" head &&
  test_grep "X-Content-Type-Options: nosniff" head &&
  ! grep -qi "unsafe-inline" head &&
  ! grep -q "<script>" "$TOP/gateway/admin/console/index.html" &&
  ! grep -q "innerHTML\|outerHTML\|insertAdjacentHTML\|document.write\|eval(" "$TOP/gateway/admin/console/console.js"
'

test_expect_success 'with the state in a database: the active one and a standby show their role' '
  stop_binhook run2.log &&
  mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON binhook_state.* TO binhook@127.0.0.1" &&
  start_receiver hook &&
  A=127.0.0.1:$(test_free_port) && B=127.0.0.1:$(test_free_port) &&
  ha_config a "$A" && ha_config b "$B" &&
  ha_start a && test_wait_until 30 ha_is_active "$A" &&
  ha_start b && test_wait_until 30 ha_is_standby "$B" &&
  ADMIN=$A drive role active &&
  ADMIN=$B drive role standby
'

test_expect_success 'screenshots of every view' '
  for v in overview endpoints attempts dead-letters rules attempts-replayed enable token endpoints-token role-active role-standby; do
    test -s "$SHOTS/$v.png" || { echo "no $v.png"; return 1; }
  done
'

test_expect_success 'stopped' '
  kill -TERM $(cat "$TRASH/a.pid") $(cat "$TRASH/b.pid") &&
  test_wait_until 30 binhook_gone $(cat "$TRASH/a.pid") &&
  test_wait_until 30 binhook_gone $(cat "$TRASH/b.pid")
'

test_done
