#!/usr/bin/env bash
# The admin server against hostile clients: 600 connections from one client
# address (127.0.0.2) sending a byte every few seconds, with binhook limited
# to 512 open files, neither stop deliveries nor keep a health check from
# another address out (that address holds at most half the connections),
# and the log stays small and JSON;
# a web page in the operator's browser can neither write through a form
# (cross-origin POST) nor read through another name (DNS rebinding), on a
# loopback admin server without a token. A crash writes no core (which
# would hold the secrets) unless [admin] allow_core_dumps asks for it.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_PORT=$(test_free_port)
ADMIN=http://127.0.0.1:$ADMIN_PORT

# dead_letters: how many /dlq lists.
dead_letters () {
  curl -sf "$ADMIN/dlq" | grep -c '"seq"' || :
}

# dead_letters_are N: the admin server lists N dead letters (asked anew
# each time test_wait_until tries)
dead_letters_are () {
  test "$(dead_letters)" = "$1"
}

test_expect_success 'setup: binhook with 512 open files, a loopback admin server without a token' '
  start_receiver good &&
  start_receiver bad 500 &&
  cat >"$TRASH/h.toml" <<-EOF &&
	[state]
	dir = "state"
	[log]
	format = "json"
	[admin]
	listen = "127.0.0.1:$ADMIN_PORT"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7401
	[endpoint.good]
	url = "http://127.0.0.1:$(cat "$TRASH/good.port")/hook"
	signing = "none"
	[endpoint.bad]
	url = "http://127.0.0.1:$(cat "$TRASH/bad.port")/hook"
	signing = "none"
	retry = []
	[[rule]]
	name = "rows"
	table = "shop.t"
	endpoint = "good"
	[[rule]]
	name = "doomed"
	table = "shop.d"
	endpoint = "bad"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20)); CREATE TABLE shop.d (id INT PRIMARY KEY)" &&
  { (cd "$TRASH" && ulimit -n 512 && exec "$BINHOOK" run -c h.toml 2>"$TRASH/run.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/run.log.pid" &&
  test_atexit "kill -9 $! 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/run.log" &&
  test "$(awk "/^Max open files/ { print \$4 }" /proc/$(cat "$TRASH/run.log.pid")/limits)" = 512
'

test_expect_success '600 slow clients: deliveries go on, /healthz answers (before the slow clients time out), the log stays small' '
  { python3 "$TOP/t/lib/slowclients.py" 127.0.0.1 "$ADMIN_PORT" 600 25 2 127.0.0.2 >"$TRASH/slow.out" 7>&- 8>&- & } &&
  slow=$! &&
  test_atexit "kill $slow 2>/dev/null" &&
  sleep 3 &&
  for i in $(seq 1 100); do echo "INSERT INTO shop.t VALUES ($i, \"v$i\");"; done | mariadb_sql &&
  test_wait_until 30 accepted good 100 &&
  for i in 1 2 3 4 5; do
    test "$(curl -s -m 5 "$ADMIN/healthz")" = ok || return 1
    sleep 2
  done &&
  for i in $(seq 101 200); do echo "INSERT INTO shop.t VALUES ($i, \"v$i\");"; done | mariadb_sql &&
  test_wait_until 30 accepted good 200 &&
  test_wait_exit $slow 60 &&
  cat "$TRASH/slow.out" &&
  python3 -c "import sys; o = sys.stdin.read().split(); assert int(o[1]) >= 600, o" <"$TRASH/slow.out" &&
  kill -0 "$(cat "$TRASH/run.log.pid")" &&
  test "$(curl -s -m 5 "$ADMIN/healthz")" = ok &&
  size=$(wc -c <"$TRASH/run.log") &&
  echo "# log: $size bytes" &&
  test "$size" -lt 1000000 &&
  python3 -c "
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    json.loads(line)
" "$TRASH/run.log"
'

test_expect_success 'a cross-origin form POST is refused with 403 and drops nothing' '
  mariadb_sql "INSERT INTO shop.d VALUES (1), (2)" &&
  test_wait_until 30 dead_letters_are 2 &&
  code=$(curl -s -o "$TRASH/form.out" -w "%{http_code}" -X POST -H "Origin: http://evil.example" \
    -H "Content-Type: application/x-www-form-urlencoded" --data "x=1" "$ADMIN/dlq/drop?all=1") &&
  test "$code" = 403 &&
  code=$(curl -s -o "$TRASH/form2.out" -w "%{http_code}" -X POST -H "Content-Type: text/plain" --data "x" \
    "$ADMIN/dlq/drop?all=1") &&
  test "$code" = 403 &&
  test_grep "a form" "$TRASH/form2.out" &&
  code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Origin: http://evil.example" \
    -H "Content-Type: application/json" --data "{}" "$ADMIN/dlq/drop?all=1") &&
  test "$code" = 403 &&
  test "$(dead_letters)" = 2
'

test_expect_success 'a foreign Host (DNS rebinding) is refused with 403, reads and writes' '
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: rebind.example:$ADMIN_PORT" "$ADMIN/status") &&
  test "$code" = 403 &&
  code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Host: rebind.example:$ADMIN_PORT" \
    -H "Content-Type: application/json" --data "{}" "$ADMIN/dlq/drop?all=1") &&
  test "$code" = 403 &&
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: 127.0.0.1:1" "$ADMIN/status") &&
  test "$code" = 403 &&
  test "$(dead_letters)" = 2
'

test_expect_success 'the same origin, with JSON, may write' '
  code=$(curl -s -o "$TRASH/ok.out" -w "%{http_code}" -X POST -H "Origin: $ADMIN" \
    -H "Content-Type: application/json" --data "{}" "$ADMIN/dlq/drop?all=1") &&
  test "$code" = 200 &&
  test_grep "\"dropped\":2" "$TRASH/ok.out" &&
  test "$(dead_letters)" = 0 &&
  test "$(curl -s -H "Host: localhost:$ADMIN_PORT" "$ADMIN/healthz")" = ok
'

test_expect_success 'binhook stops cleanly' '
  stop_binhook run.log
'

# crash_in DIR [KEY]: starts binhook in DIR with ulimit -c unlimited (KEY
# added to [admin]), waits until it reads, makes it abort, and leaves its pid
# in DIR/pid and its exit status in DIR/status.
crash_in () {
  mkdir -p "$TRASH/$1" &&
  cat >"$TRASH/$1/c.toml" <<-EOF &&
	[state]
	dir = "state"
	[admin]
	$2
	[source]
	url = "$BINHOOK_URL"
	server_id = 7402
	[endpoint.good]
	url = "http://127.0.0.1:$(cat "$TRASH/good.port")/hook"
	[[rule]]
	name = "rows"
	table = "shop.t"
	endpoint = "good"
	EOF
  { (cd "$TRASH/$1" && ulimit -c unlimited && exec "$BINHOOK" run -c c.toml 2>run.log 7>&- 8>&-) & } &&
  pid=$! &&
  echo $pid >"$TRASH/$1/pid" &&
  test_atexit "kill -9 $pid 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/$1/run.log" &&
  awk "/^Max core file size/ { print \$5, \$6 }" /proc/$pid/limits >"$TRASH/$1/limits" &&
  kill -ABRT $pid &&
  { wait $pid; echo $? >"$TRASH/$1/status"; }
}

test_expect_success 'a crash writes no core, even under ulimit -c unlimited: core limit 0, not dumpable' '
  crash_in nocore "" &&
  echo "0 0" >"$TRASH/nocore/limits.expect" &&
  test_cmp "$TRASH/nocore/limits.expect" "$TRASH/nocore/limits" &&
  test "$(cat "$TRASH/nocore/status")" = 134 &&
  ls "$TRASH/nocore" >"$TRASH/nocore/ls" &&
  test_grep ! "^core" "$TRASH/nocore/ls"
'

# With the opt-in, the core limit is what the shell allowed; where the core
# goes is the system'"'"'s core_pattern: a plain name puts it beside binhook.
test_expect_success '[admin] allow_core_dumps = true: a crash may write a core, and binhook warns' '
  crash_in core "allow_core_dumps = true" &&
  echo "unlimited unlimited" >"$TRASH/core/limits.expect" &&
  test_cmp "$TRASH/core/limits.expect" "$TRASH/core/limits" &&
  test_grep "allow_core_dumps = true: a crash may write a core file" "$TRASH/core/run.log" &&
  test "$(cat "$TRASH/core/status")" = 134 &&
  pattern=$(cat /proc/sys/kernel/core_pattern) &&
  echo "# core_pattern: $pattern" &&
  case "$pattern" in
  "|"* | */*) : ;;
  *) ls "$TRASH/core" >"$TRASH/core/ls" && test_grep "^core" "$TRASH/core/ls" ;;
  esac
'

test_expect_success 'the systemd unit sets LimitCORE=0' '
  test_grep "^LimitCORE=0\$" "$TOP/contrib/systemd/binhook.service"
'

test_done
