#!/usr/bin/env bash
# The attempt log (GET /attempts): every delivery attempt with its
# webhook-id, change, rule, endpoint, table and key, attempt number, when
# and how long, the status or the error, the first 1 KiB of the answer's
# body and the outcome (delivered, retrying at T, dead), newest first, with
# filters and paging, in a ring bounded by [admin] attempts.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN=127.0.0.1:$(test_free_port)

# q QUERY PYTHON: GET /attempts?QUERY, and PYTHON run on it as `r`
q () {
  curl -sf "http://$ADMIN/attempts?$1" >"$TRASH/attempts.json" &&
  python3 -c "import json, sys; r = json.load(open(sys.argv[1])); $2" "$TRASH/attempts.json"
}

test_expect_success 'setup: an endpoint that answers with a body, one that fails once, one that is gone' '
  long=$(python3 -c "print(\"x\" * 3000)") &&
  start_receiver ok --answer "{\"accepted\": true, \"pad\": \"$long\"}" &&
  start_receiver flaky --fail-first 1 --answer "try later" &&
  start_receiver gone 410 &&
  cat >"$TRASH/a.toml" <<-EOF &&
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	attempts = 40
	[source]
	url = "$BINHOOK_URL"
	server_id = 7735
	[endpoint.ok]
	url = "http://127.0.0.1:$(cat "$TRASH/ok.port")/hook"
	signing = "none"
	[endpoint.flaky]
	url = "http://127.0.0.1:$(cat "$TRASH/flaky.port")/hook"
	signing = "none"
	retry = ["0.2s"]
	[endpoint.gone]
	url = "http://127.0.0.1:$(cat "$TRASH/gone.port")/hook"
	signing = "none"
	[[rule]]
	name = "to-ok"
	table = "shop.a"
	endpoint = "ok"
	[[rule]]
	name = "to-flaky"
	table = "shop.f"
	endpoint = "flaky"
	[[rule]]
	name = "to-gone"
	table = "shop.g"
	endpoint = "gone"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.a (id INT PRIMARY KEY);
    CREATE TABLE shop.f (id INT PRIMARY KEY); CREATE TABLE shop.g (id INT PRIMARY KEY)" &&
  start_binhook a.toml run.log
'

test_expect_success 'a delivered attempt: what it was, how it went, the first 1 KiB of the answer' '
  mariadb_sql "INSERT INTO shop.a VALUES (7)" &&
  test_wait_until 20 accepted ok 1 &&
  test_wait_until 10 q "" "assert len(r[\"attempts\"]) == 1" &&
  q "" "
a = r[\"attempts\"][0]
assert a[\"rule\"] == \"to-ok\" and a[\"endpoint\"] == \"ok\" and a[\"table\"] == \"shop.a\", a
assert a[\"key\"] == {\"id\": 7} and a[\"attempt\"] == 1 and a[\"status\"] == 200, a
assert a[\"outcome\"] == \"delivered\" and a[\"error\"] is None and a[\"seconds\"] >= 0, a
assert a[\"webhook_id\"].startswith(\"msg_\") and a[\"change\"].startswith(\"0-1-\") and a[\"change\"].endswith(\"/0\"), a
assert a[\"body\"].startswith(\"{\\\"accepted\\\": true\") and len(a[\"body\"]) == 1024, len(a[\"body\"])
" &&
  id=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[\"attempts\"][0][\"webhook_id\"])" "$TRASH/attempts.json") &&
  grep -q "\"webhook-id\": \"$id\"" "$TRASH/ok.jsonl"
'

test_expect_success 'a failed attempt says when the next is due; the retry that delivers comes after it' '
  mariadb_sql "INSERT INTO shop.f VALUES (1)" &&
  test_wait_until 20 accepted flaky 1 &&
  test_wait_until 10 q "endpoint=flaky" "assert len(r[\"attempts\"]) == 2" &&
  q "endpoint=flaky" "
new, old = r[\"attempts\"]
assert old[\"status\"] == 500 and old[\"outcome\"] == \"retrying\" and old[\"retry_at\"] >= int(old[\"started\"]), old
assert old[\"error\"] == \"HTTP status 500\" and old[\"body\"] == \"try later\" and old[\"attempt\"] == 1, old
assert new[\"status\"] == 200 and new[\"outcome\"] == \"delivered\" and new[\"attempt\"] == 2, new
assert new[\"webhook_id\"] == old[\"webhook_id\"] and new[\"no\"] > old[\"no\"], (new, old)
" &&
  q "status=5xx" "assert [a[\"endpoint\"] for a in r[\"attempts\"]] == [\"flaky\"]" &&
  q "outcome=retrying" "assert len(r[\"attempts\"]) == 1"
'

test_expect_success 'a 410: dead' '
  mariadb_sql "INSERT INTO shop.g VALUES (1)" &&
  test_wait_until 20 q "endpoint=gone" "assert len(r[\"attempts\"]) == 1" &&
  q "endpoint=gone" "a = r[\"attempts\"][0]; assert a[\"status\"] == 410 and a[\"outcome\"] == \"dead\", a" &&
  q "rule=to-gone&table=shop.g" "assert len(r[\"attempts\"]) == 1"
'

test_expect_success 'the ring keeps the newest [admin] attempts; pages go back with before=' '
  for i in $(seq 100 149); do echo "INSERT INTO shop.a VALUES ($i);"; done | mariadb_sql &&
  test_wait_until 30 accepted ok 51 &&
  test_wait_until 10 q "limit=1000" "assert len(r[\"attempts\"]) == 40 and r[\"attempts\"][0][\"no\"] == 54, [a[\"no\"] for a in r[\"attempts\"]][:3]" &&
  q "limit=15" "assert len(r[\"attempts\"]) == 15 and r[\"next\"] == 40, r[\"next\"]" &&
  q "limit=15&before=40" "assert [a[\"no\"] for a in r[\"attempts\"]] == list(range(39, 24, -1)), r" &&
  q "limit=15&before=25" "assert len(r[\"attempts\"]) == 10 and r[\"next\"] is None, r[\"next\"]"
'

test_expect_success 'a bad parameter is a 400 that says what is known' '
  code=$(curl -s -o bad.json -w "%{http_code}" "http://$ADMIN/attempts?colour=red") &&
  test "$code" = 400 &&
  test_grep "unknown parameter: endpoint, rule, table" bad.json &&
  code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "X-Binhook-Request: 1" "http://$ADMIN/attempts") &&
  test "$code" = 405
'

test_expect_success 'stopped' '
  stop_binhook run.log
'

test_done
