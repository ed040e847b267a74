# ha.sh - helpers for the tests of several binhook processes sharing one
# state store in the private MariaDB (mariadb.sh): each process NAME has its
# own configuration NAME.toml, log NAME.log (appended: a restarted process
# writes on) and pid file NAME.pid, and an admin server.
#
#   ha_config NAME ADMIN [LEASE] [EXTRA]  writes NAME.toml: the store in
#                        binhook_state, the source, endpoint "hook" at the
#                        receiver "hook" (fast retries, no breaker, header
#                        X-Who: NAME) and rule "rows" on sbtest.*; EXTRA is
#                        appended (more endpoints and rules)
#   ha_start NAME        binhook run -c NAME.toml in the background
#   ha_role ADMIN        "active", "standby", or "" (no answer)
#   ha_is_active ADMIN, ha_is_standby ADMIN
#   ha_replay_matches    t/lib/replay.py over hook.jsonl and sbtest.sbtest1,
#                        its report in replay.out

ha_config () {
  cat >"$TRASH/$1.toml" <<-EOF
	[state]
	dir = "state-$1"
	store = "mysql://binhook@127.0.0.1:$MYSQL_PORT/binhook_state"
	lease = "${3:-5s}"
	[admin]
	listen = "$2"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7730
	heartbeat = "1s"
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	breaker_failures = 0
	headers = { "X-Who" = "$1" }
	retry = ["0.1s", "0.1s", "0.2s", "0.3s", "0.5s", "0.5s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "rows"
	table = "sbtest.*"
	endpoint = "hook"
	${4:-}
	EOF
}

ha_start () {
  { (cd "$TRASH" && exec "$BINHOOK" run -c "$1.toml" 2>>"$TRASH/$1.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/$1.pid" &&
  test_atexit "kill -CONT $! 2>/dev/null; kill -9 $! 2>/dev/null"
}

ha_role () {
  curl -sf -m 2 "http://$1/status" 2>/dev/null |
    python3 -c "import json, sys; print(json.load(sys.stdin).get(\"role\", \"\"))" 2>/dev/null
}

ha_is_active () { test "$(ha_role "$1")" = active; }
ha_is_standby () { test "$(ha_role "$1")" = standby; }

ha_replay_matches () {
  mariadb_sql --column-names 'SELECT id, k, c, pad FROM sbtest.sbtest1' >"$TRASH/table.tsv" &&
  python3 "$TOP/t/lib/replay.py" "$TRASH/hook.jsonl" "$TRASH/table.tsv" id >"$TRASH/replay.out"
}
