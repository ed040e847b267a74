#!/usr/bin/env bash
# A delivery that cannot be built (a header value from a row would hold a
# line break) is a dead letter with its reason and its change, counted:
# /status's matched is delivered + dead + waiting; once the template is
# fixed and reloaded, a replay builds it again and delivers it under the
# webhook-id it was made with.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN=127.0.0.1:$(test_free_port)

# write_config HEADER: the configuration, the rule sending HEADER as X-Note.
write_config () {
  cat >"$TRASH/u.toml" <<-EOF
	[state]
	dir = "state"
	[admin]
	listen = "$ADMIN"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7501
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/good.port")/hook"
	signing = "none"
	[[rule]]
	name = "noted"
	table = "shop.n"
	endpoint = "hook"
	headers = { "X-Note" = "$1" }
	EOF
}

# totals: matched delivered dead waiting, from /status.
totals () {
  curl -sf "http://$ADMIN/status" | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(s[\"totals\"][\"matches\"], s[\"totals\"][\"delivered\"], s[\"queue\"][\"dead\"], s[\"queue\"][\"waiting\"])"
}

# totals_are "M D X W": /status says so (asked anew each time test_wait_until tries)
totals_are () {
  test "$(totals)" = "$1"
}

test_expect_success 'a note with a line break: that delivery is a dead letter with its reason, the others go out' '
  start_receiver good &&
  test_wait_until 20 test -s "$TRASH/good.port" &&
  write_config "{{ after.note }}" &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.n (id INT PRIMARY KEY, note VARCHAR(40))" &&
  start_binhook u.toml run.log &&
  mariadb_sql "INSERT INTO shop.n VALUES (1, \"fine\"), (2, CONCAT(\"evil\", CHAR(13), CHAR(10), \"X-Admin: 1\")), (3, \"also fine\")" &&
  test_wait_until 30 accepted good 2 &&
  test_wait_until 10 grep -q "moved to the dead letters with the change" "$TRASH/run.log" &&
  test_grep "cannot build the request: .*line break" "$TRASH/run.log" &&
  curl -sf "http://$ADMIN/dlq" >"$TRASH/dlq.json" &&
  python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 1, rows
assert rows[0][\"reason\"].startswith(\"cannot build the request: \"), rows
print(rows[0][\"id\"])
" "$TRASH/dlq.json" >"$TRASH/dead.id" &&
  python3 -c "
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(json.loads(r[\"body\"])[\"after\"][\"id\"] for r in reqs) == [1, 3], reqs
assert not any(k.lower() == \"x-admin\" for r in reqs for k in r[\"headers\"]), reqs
" "$TRASH/good.jsonl"
'

test_expect_success '/status: matched = delivered + dead + waiting' '
  test_wait_until 10 totals_are "3 2 1 0"
'

test_expect_success 'the dead letter keeps the change: dlq show prints it' '
  curl -sf "http://$ADMIN/dlq/$(cat "$TRASH/dead.id")" >"$TRASH/show.json" &&
  python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
e = json.loads(r[\"request\"][\"body\"])
assert e[\"table\"] == \"n\" and e[\"after\"][\"id\"] == 2 and \"\\r\\n\" in e[\"after\"][\"note\"], e
" "$TRASH/show.json"
'

test_expect_success 'fixed template, reload, replay: built again and delivered under the same webhook-id' '
  write_config "id {{ after.id }}" &&
  kill -HUP "$(cat "$TRASH/run.log.pid")" &&
  test_wait_until 10 grep -q "SIGHUP" "$TRASH/run.log" &&
  code=$(curl -s -o "$TRASH/replay.out" -w "%{http_code}" -X POST -H "Content-Type: application/json" \
    --data "{}" "http://$ADMIN/dlq/replay?id=$(cat "$TRASH/dead.id")") &&
  test "$code" = 200 &&
  test_wait_until 30 accepted good 3 &&
  python3 -c "
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
last = [r for r in reqs if json.loads(r[\"body\"])[\"after\"][\"id\"] == 2]
assert len(last) == 1, reqs
h = {k.lower(): v for k, v in last[0][\"headers\"].items()}
assert h[\"webhook-id\"] == sys.argv[2] and h[\"x-note\"] == \"id 2\", h
" "$TRASH/good.jsonl" "$(cat "$TRASH/dead.id")" &&
  test_wait_until 10 totals_are "3 3 0 0"
'

test_expect_success 'binhook stops cleanly' '
  stop_binhook run.log
'

test_done
