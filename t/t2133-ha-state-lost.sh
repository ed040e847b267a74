#!/usr/bin/env bash
# The host of the active binhook lost with its disk: the active SIGKILLed
# and its state directory deleted. Nothing is lost, since the checkpoint,
# the queue and the dead letters were in the store: the standby takes over,
# the dead letters are listed (from the store) and replayed through the new
# active, an endpoint disabled by 410 gets no request after the takeover,
# and the old host comes back as a standby with an empty directory.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"
. "$TOP/t/lib/ha.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_A=127.0.0.1:$(test_free_port)
ADMIN_B=127.0.0.1:$(test_free_port)

requests () {
  local n
  n=$(grep -c . "$TRASH/$1.jsonl" 2>/dev/null) || n=0
  echo "$n"
}

at_least () {
  test "$(requests "$1")" -ge "$2"
}

dead_letters_are () {
  test "$(curl -sf -m 2 "http://$1/status" | python3 -c "import json, sys; print(json.load(sys.stdin)[\"queue\"][\"dead\"])")" = "$2"
}

test_expect_success 'setup: a active, b standby; three dead letters and a disabled endpoint' '
  mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON binhook_state.* TO binhook@127.0.0.1;
    CREATE DATABASE shop; CREATE TABLE shop.d (id INT PRIMARY KEY); CREATE TABLE shop.g (id INT PRIMARY KEY)" &&
  start_receiver hook &&
  start_receiver bad 500 &&
  start_receiver gone 410 &&
  extra="[endpoint.bad]
url = \"http://127.0.0.1:$(cat "$TRASH/bad.port")/hook\"
signing = \"none\"
retry = [\"0.1s\"]
[endpoint.gone]
url = \"http://127.0.0.1:$(cat "$TRASH/gone.port")/hook\"
signing = \"none\"
[[rule]]
name = \"d\"
table = \"shop.d\"
endpoint = \"bad\"
[[rule]]
name = \"g\"
table = \"shop.g\"
endpoint = \"gone\"" &&
  ha_config a "$ADMIN_A" 4s "$extra" && ha_config b "$ADMIN_B" 4s "$extra" &&
  ha_start a && test_wait_until 30 ha_is_active "$ADMIN_A" &&
  ha_start b && test_wait_until 30 ha_is_standby "$ADMIN_B" &&
  mariadb_sql "INSERT INTO shop.d VALUES (1), (2), (3); INSERT INTO shop.g VALUES (1)" &&
  test_wait_until 30 dead_letters_are "$ADMIN_A" 4 &&
  test "$(requests gone)" = 1 &&
  "$BINHOOK" status -c "$TRASH/b.toml" >status.out &&
  test_grep "a standby (ready to take over)" status.out &&
  test_grep "^role: *standby, store .*lease held by .* pid $(cat "$TRASH/a.pid")" status.out
'

test_expect_success 'the active SIGKILLed and its state directory deleted: b takes over' '
  kill -9 $(cat "$TRASH/a.pid") &&
  rm -rf "$TRASH/state-a" &&
  test_wait_until 20 ha_is_active "$ADMIN_B" &&
  dead_letters_are "$ADMIN_B" 4 &&
  "$BINHOOK" status -c "$TRASH/b.toml" >status.out &&
  test_grep "^role: *active" status.out
'

test_expect_success 'the dead letters are listed from the store' '
  "$BINHOOK" dlq list -c "$TRASH/b.toml" >list.out 2>list.err &&
  test_grep "4 dead letters" list.err &&
  test "$(grep -c "bad" list.out)" = 3 &&
  "$BINHOOK" dlq list -c "$TRASH/a.toml" >list2.out 2>&1 &&
  test_grep "4 dead letters" list2.out
'

test_expect_success 'an endpoint disabled by 410 gets no request after the takeover' '
  mariadb_sql "INSERT INTO shop.g VALUES (2)" &&
  test_wait_until 20 dead_letters_are "$ADMIN_B" 5 &&
  test "$(requests gone)" = 1
'

test_expect_success 'the dead letters of bad are replayed through the new active' '
  before=$(requests bad) &&
  "$BINHOOK" dlq replay --endpoint bad -c "$TRASH/b.toml" 2>replay.err &&
  test_grep "replayed 3 deliveries (by the running daemon)" replay.err &&
  test_wait_until 20 at_least bad $((before + 3)) &&
  python3 - "$TRASH/bad.jsonl" <<-\EOF
	import json, sys
	ids = [json.loads(l)["headers"]["webhook-id"] for l in open(sys.argv[1])]
	# each of the three came again with the webhook-id it had
	assert all(ids.count(i) >= 3 for i in set(ids)) and len(set(ids)) == 3, ids
	EOF
'

test_expect_success 'the old host comes back with an empty directory, as a standby' '
  ha_start a &&
  test_wait_until 30 ha_is_standby "$ADMIN_A" &&
  "$BINHOOK" dlq replay --all -c "$TRASH/a.toml" 2>standby.err;
  test_grep "503" standby.err &&
  test_grep "this binhook is a standby: ask the active one" standby.err
'

test_done
