#!/usr/bin/env bash
# The endpoints' state outlives a restart, in both stores (the state
# directory and a database): an endpoint that answered 410 Gone gets no
# request after a SIGKILL and a restart until it is enabled again (binhook
# endpoint enable, or a reload that changes its url); a 429 with
# Retry-After: 5 followed by a SIGKILL and a restart gets its next request
# no sooner than 5 s after the 429.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

# requests NAME: how many requests receiver NAME got.
requests () {
  local n
  n=$(grep -c . "$TRASH/$1.jsonl" 2>/dev/null) || n=0
  echo "$n"
}

# conf STORE NAME: a configuration with the state in STORE ("dir" or a URL)
conf () {
  cat >"$TRASH/$2.toml" <<-EOF
	[state]
	dir = "state-$2"
	store = "$1"
	name = "$2"
	lease = "3s"
	[admin]
	listen = "$ADMIN"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7732
	[endpoint.gone]
	url = "http://127.0.0.1:$(cat "$TRASH/gone-$2.port")/hook"
	signing = "none"
	[endpoint.slow]
	url = "http://127.0.0.1:$(cat "$TRASH/slow-$2.port")/hook"
	signing = "none"
	retry = ["1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "g"
	table = "shop.g"
	endpoint = "gone"
	[[rule]]
	name = "s"
	table = "shop.s"
	endpoint = "slow"
	EOF
}

# starts NAME: how many times the binhook logging to LOG started reading
starts () {
  local n
  n=$(grep -c "reading from" "$TRASH/$1.log" 2>/dev/null) || n=0
  echo "$n"
}

run_bg () {
  local before
  before=$(starts "$1")
  { (cd "$TRASH" && exec "$BINHOOK" run -c "$1.toml" 2>>"$TRASH/$1.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/$1.pid" &&
  test_atexit "kill -9 $! 2>/dev/null" &&
  test_wait_until 30 started_since "$1" "$before"
}

started_since () {
  test "$(starts "$1")" -gt "$2"
}

# at_least NAME N: receiver NAME got N requests or more
at_least () {
  test "$(requests "$1")" -ge "$2"
}

kill9 () {
  kill -9 $(cat "$TRASH/$1.pid") && test_wait_until 10 binhook_gone $(cat "$TRASH/$1.pid")
}

test_expect_success 'setup' '
  mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON bh_state.* TO binhook@127.0.0.1;
    CREATE DATABASE shop; CREATE TABLE shop.g (id INT PRIMARY KEY); CREATE TABLE shop.s (id INT PRIMARY KEY)"
'

n=0
for store in dir "mysql://binhook@127.0.0.1:$MYSQL_PORT/bh_state"; do
  n=$((n + 1))
  name=s$n
  ADMIN=127.0.0.1:$(test_free_port)
  kind=$([ "$store" = dir ] && echo "the state directory" || echo "a database")

  test_expect_success "$kind: a 410 disables the endpoint, also after a SIGKILL and a restart" '
    start_receiver gone-$name 410 &&
    start_receiver slow-$name --throttle-first 1 --retry-after 5 &&
    conf "$store" $name &&
    run_bg $name &&
    mariadb_sql "INSERT INTO shop.g VALUES ($n * 100 + 1)" &&
    test_wait_until 20 grep -q "endpoint .gone. answered 410 Gone: it is disabled, also across restarts" "$TRASH/$name.log" &&
    sleep 1 &&
    kill9 $name &&
    run_bg $name &&
    test_grep "endpoint .gone. is disabled (it answered 410 Gone before)" $name.log &&
    mariadb_sql "INSERT INTO shop.g VALUES ($n * 100 + 2)" &&
    test_wait_until 20 grep -q "endpoint .gone. is disabled (410 Gone); moved to the dead letters\|the endpoint is disabled" "$TRASH/$name.log" &&
    sleep 1 &&
    test "$(requests gone-$name)" = 1
  '

  test_expect_success "$kind: binhook endpoint enable sends to it again" '
    "$BINHOOK" endpoint enable gone -c "$TRASH/$name.toml" 2>enable.err &&
    test_grep "endpoint .gone. is enabled again" enable.err &&
    mariadb_sql "INSERT INTO shop.g VALUES ($n * 100 + 3)" &&
    test_wait_until 20 at_least gone-$name 2 &&
    test_must_fail "$BINHOOK" endpoint enable nosuch -c "$TRASH/$name.toml" 2>enable2.err &&
    test_grep "404" enable2.err
  '

  test_expect_success "$kind: a reload that changes its url enables it" '
    test "$(grep -c "endpoint .gone. answered 410 Gone" "$TRASH/$name.log")" -ge 2 &&
    start_receiver gone2-$name &&
    sed "s|gone-$name.port|x|; s|http://127.0.0.1:$(cat "$TRASH/gone-$name.port")/hook|http://127.0.0.1:$(cat "$TRASH/gone2-$name.port")/hook|" \
      "$TRASH/$name.toml" >"$TRASH/$name.new" && mv "$TRASH/$name.new" "$TRASH/$name.toml" &&
    kill -HUP $(cat "$TRASH/$name.pid") &&
    test_wait_until 20 grep -q "endpoint .gone. is enabled again (a reload changed its url)" "$TRASH/$name.log" &&
    mariadb_sql "INSERT INTO shop.g VALUES ($n * 100 + 4)" &&
    test_wait_until 20 at_least gone2-$name 1
  '

  test_expect_success "$kind: a Retry-After: 5 outlives a SIGKILL and a restart" '
    mariadb_sql "INSERT INTO shop.s VALUES ($n * 100 + 1)" &&
    test_wait_until 20 grep -q "\"status\": 429" "$TRASH/slow-$name.jsonl" &&
    sleep 0.5 &&
    kill9 $name &&
    run_bg $name &&
    test_grep "endpoint .slow. asked for nothing before" $name.log &&
    test_wait_until 20 at_least slow-$name 2 &&
    python3 - "$TRASH/slow-$name.jsonl" >&7 <<-\EOF
	import json, sys
	r = [json.loads(l) for l in open(sys.argv[1])]
	gap = r[1]["t"] - r[0]["t"]
	print("# the next request came %.2f s after the 429" % gap)
	sys.exit(0 if gap >= 5 else 1)
	EOF
  '

  test_expect_success "$kind: stopped" '
    kill -TERM $(cat "$TRASH/$name.pid") && test_wait_until 30 binhook_gone $(cat "$TRASH/$name.pid")
  '
done

test_done
