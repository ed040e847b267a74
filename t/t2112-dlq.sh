#!/usr/bin/env bash
# The dead letters: deliveries that ran out of retries are kept in the state
# directory; `binhook dlq` lists and shows them, drops some by id and
# replays the rest, which go out when binhook runs again.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# dead_logged N: the log says N deliveries went to the dead letters.
dead_logged () {
  test "$(grep -c "moved to the dead letters" "$TRASH/run.log")" = "$1"
}

test_expect_success 'an endpoint answering 500 with no retries: three deliveries die' '
  start_receiver bad 500 &&
  cat >"$TRASH/dlq.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7301
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/bad.port")/hook"
	signing = "none"
	retry = []
	[[rule]]
	name = "rows"
	table = "shop.t"
	endpoint = "hook"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20))" &&
  start_binhook dlq.toml run.log &&
  mariadb_sql "INSERT INTO shop.t VALUES (1, \"one\"), (2, \"two\"), (3, \"three\")" &&
  test_wait_until 30 dead_logged 3
'

test_expect_success 'dlq list, while binhook runs: the three, with the reason' '
  (cd "$TRASH" && "$BINHOOK" dlq list -c dlq.toml >list.out 2>list.err) &&
  test_grep "^3 dead letters" "$TRASH/list.err" &&
  test "$(grep -c "endpoint=hook rule=rows attempts=1 reason=given up after 1 attempt: HTTP status 500$" "$TRASH/list.out")" = 3 &&
  (cd "$TRASH" && "$BINHOOK" dlq list --json -c dlq.toml >list.json 2>/dev/null) &&
  python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3 and all(r[\"endpoint\"] == \"hook\" and r[\"reason\"] == \"given up after 1 attempt: HTTP status 500\" for r in rows), rows
assert len({r[\"id\"] for r in rows}) == 3, rows
" "$TRASH/list.json"
'

test_expect_success 'dlq replay refuses while binhook holds the state directory' '
  (cd "$TRASH" && test_exit_code 1 "$BINHOOK" dlq replay --all -c dlq.toml 2>replay.err) &&
  test_grep "in use by another binhook (pid $(cat "$TRASH/run.log.pid"))" "$TRASH/replay.err" &&
  stop_binhook run.log &&
  test_grep "3 to the dead letters" "$TRASH/run.log"
'

test_expect_success 'dlq show prints the request; drop by id removes one' '
  id=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[\"id\"])" "$TRASH/list.json") &&
  (cd "$TRASH" && "$BINHOOK" dlq show "$id" -c dlq.toml >show.out) &&
  test_grep "^POST http://127.0.0.1:$(cat "$TRASH/bad.port")/hook" "$TRASH/show.out" &&
  test_grep "\"table\":\"t\"" "$TRASH/show.out" &&
  (cd "$TRASH" && test_exit_code 2 "$BINHOOK" dlq drop -c dlq.toml 2>drop.err) &&
  test_grep "choose what" "$TRASH/drop.err" &&
  (cd "$TRASH" && "$BINHOOK" dlq drop "$id" -c dlq.toml 2>drop.err) &&
  test_grep "dropped 1 delivery" "$TRASH/drop.err" &&
  (cd "$TRASH" && "$BINHOOK" dlq list -c dlq.toml >list2.out 2>list2.err) &&
  test_grep "^2 dead letters" "$TRASH/list2.err" &&
  ! grep -q "$id" "$TRASH/list2.out" &&
  echo "$id" >"$TRASH/dropped.id"
'

test_expect_success 'dlq replay --endpoint: the two go out when binhook runs again, the dropped one does not' '
  (cd "$TRASH" && "$BINHOOK" dlq replay --endpoint hook -c dlq.toml 2>replay.err) &&
  test_grep "replayed 2 deliveries" "$TRASH/replay.err" &&
  kill $(pgrep -f "receiver.py $TRASH/bad.port") &&
  { python3 "$TOP/t/lib/receiver.py" "$TRASH/good.port" "$TRASH/good.jsonl" 200 "$(cat "$TRASH/bad.port")" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/good.port" &&
  start_binhook dlq.toml run2.log &&
  test_grep "2 deliveries waiting and 0 dead letters" "$TRASH/run2.log" &&
  test_wait_until 30 accepted good 2 &&
  sleep 1 &&
  test "$(wc -l <"$TRASH/good.jsonl")" = 2 &&
  ! grep -q "$(cat "$TRASH/dropped.id")" "$TRASH/good.jsonl" &&
  stop_binhook run2.log &&
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting -c dlq.toml 2>w.err && "$BINHOOK" dlq list -c dlq.toml 2>d.err) &&
  test_grep "^0 waiting" "$TRASH/w.err" &&
  test_grep "^0 dead letters" "$TRASH/d.err"
'

test_done
