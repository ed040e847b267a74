#!/usr/bin/env bash
# Where binhook run starts, and what it says when it cannot:
#  - --from gtid:D-S-N on an empty state directory delivers the changes
#    after that GTID and none before; stopped before any transaction, the
#    GTID is the checkpoint and the next start resumes there;
#  - a damaged checkpoint: binhook refuses to start (never at the end in
#    silence) and names the GTID and the position the damaged file still
#    shows; --from gtid:... then starts and replaces it;
#  - a checkpoint the server refuses although it still has the binlog (an
#    offset inside an event): the error says it is not a purge, gives the
#    server's words and the ways out;
#  - the lag gauge grows with the clock while reading is paused (the retry
#    queue is full because the endpoint keeps failing).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

# run_from LOG ARGS...: binhook run -c start.toml ARGS in the background,
# as start_binhook does.
run_from () {
  local log=$1
  shift
  { (cd "$TRASH" && exec "$BINHOOK" run -c start.toml "$@" 2>"$TRASH/$log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/$log.pid" &&
  test_atexit "kill -9 $! 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/$log"
}

# refused LOG ARGS...: binhook run -c start.toml ARGS ends with exit 1 (a
# runtime failure, not a configuration error).
refused () {
  local log=$1
  shift
  (cd "$TRASH" && test_exit_code 1 timeout 30 "$BINHOOK" run -c start.toml "$@" 2>"$TRASH/$log" 7>&- 8>&-)
}

# values: the "v" of every row the hook receiver was sent, one a line, sorted.
values () {
  python3 - "$TRASH/hook.jsonl" <<-\EOF | sort
	import json, sys
	for line in open(sys.argv[1]):
	    body = json.loads(json.loads(line)["body"])
	    print(body["after"]["v"])
	EOF
}

# checkpoint_file: the "file" of the checkpoint in state/.
checkpoint_file () {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["file"])' "$TRASH/state/checkpoint"
}

test_expect_success 'setup: a table, an endpoint, no heartbeat' '
  start_receiver hook &&
  cat >"$TRASH/start.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7611
	heartbeat = 0
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	[[rule]]
	name = "all"
	table = "shop.t"
	endpoint = "hook"
	EOF
  "$BINHOOK" check -c "$TRASH/start.toml" &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20));
    INSERT INTO shop.t (v) VALUES (\"before1\"), (\"before2\")"
'

test_expect_success 'run --from gtid:... on an empty state directory: the changes after it, none before' '
  g=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  test -n "$g" &&
  mariadb_sql "INSERT INTO shop.t (v) VALUES (\"after1\"); INSERT INTO shop.t (v) VALUES (\"after2\")" &&
  run_from gtid1.log --from "gtid:$g" &&
  test_grep "reading from gtid:$g" "$TRASH/gtid1.log" &&
  test_wait_until 20 accepted hook 2 &&
  end=$(mariadb_binlog_pos) &&
  test_wait_until 20 eval "test \"\$(checkpoint_file)\" = \"${end%:*}\"" &&
  stop_binhook gtid1.log &&
  printf "after1\nafter2\n" >expect &&
  values >actual &&
  test_cmp expect actual
'

test_expect_success 'stopped before its first transaction, a GTID start resumes at the GTID' '
  rm -rf "$TRASH/state" &&
  g=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  run_from gtid2.log --from "gtid:$g" &&
  stop_binhook gtid2.log &&
  test "$(checkpoint_file)" = "" &&
  test_grep "\"gtid\":\"$g\"" "$TRASH/state/checkpoint" &&
  mariadb_sql "INSERT INTO shop.t (v) VALUES (\"after3\")" &&
  run_from gtid3.log &&
  test_grep "reading from gtid:$g (the checkpoint)" "$TRASH/gtid3.log" &&
  test_wait_until 20 accepted hook 3 &&
  stop_binhook gtid3.log &&
  printf "after1\nafter2\nafter3\n" >expect &&
  values >actual &&
  test_cmp expect actual
'

test_expect_success '[source] start = "gtid:..." on an empty state directory starts there too' '
  g=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  sed -e "s/^dir = \"state\"/dir = \"state2\"/" -e "s/^heartbeat = 0/&\nstart = \"gtid:$g\"/" \
    "$TRASH/start.toml" >"$TRASH/start2.toml" &&
  mariadb_sql "INSERT INTO shop.t (v) VALUES (\"after3b\")" &&
  start_binhook start2.toml start2.log &&
  test_grep "reading from gtid:$g" "$TRASH/start2.log" &&
  test_wait_until 20 accepted hook 4 &&
  stop_binhook start2.log &&
  printf "after1\nafter2\nafter3\nafter3b\n" >expect &&
  values >actual &&
  test_cmp expect actual &&
  rm -rf "$TRASH/state2"
'

test_expect_success 'a damaged checkpoint: no start, the GTID and the position it still shows are the advice' '
  g=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO shop.t (v) VALUES (\"after4\")" &&
  printf "{\"file\":\"%s\",\"pos\":%s,\"gtid\":\"%s\",\"sav\001\377" "${pos%:*}" "${pos#*:}" "$g" \
    >"$TRASH/state/checkpoint" &&
  cp "$TRASH/state/checkpoint" damaged &&
  refused damaged.log &&
  ! grep "reading from" "$TRASH/damaged.log" &&
  test_grep "checkpoint .* is damaged" "$TRASH/damaged.log" &&
  test_grep "binhook run --from gtid:$g. resumes after the last transaction" "$TRASH/damaged.log" &&
  test_grep "binhook run --from $pos. resumes at the position" "$TRASH/damaged.log" &&
  test_grep "binhook run --from start" "$TRASH/damaged.log" &&
  cmp damaged "$TRASH/state/checkpoint" &&
  printf "\001garbage" >"$TRASH/state/checkpoint" &&
  refused garbage.log &&
  test_grep "The damaged file shows no position" "$TRASH/garbage.log" &&
  ! grep -e "--from end" "$TRASH/garbage.log" &&
  accepted hook 4 && ! accepted hook 5
'

test_expect_success 'after a damaged checkpoint, run --from gtid:... starts and replaces it' '
  run_from damaged-from.log --from "gtid:$g" &&
  test_grep "is damaged.*--from gtid:$g replaces it" "$TRASH/damaged-from.log" &&
  test_wait_until 20 accepted hook 5 &&
  end=$(mariadb_binlog_pos) &&
  test_wait_until 20 eval "test \"\$(checkpoint_file)\" = \"${end%:*}\"" &&
  stop_binhook damaged-from.log &&
  printf "after1\nafter2\nafter3\nafter3b\nafter4\n" >expect &&
  values >actual &&
  test_cmp expect actual
'

test_expect_success 'a checkpoint inside an event of a binlog the server has: refused, and not called a purge' '
  g=$(mariadb_sql "SELECT @@gtid_binlog_pos") &&
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO shop.t (v) VALUES (\"after5\")" &&
  printf "{\"file\":\"%s\",\"pos\":%s,\"gtid\":\"%s\",\"saved\":1}\n" "${pos%:*}" "$(( ${pos#*:} + 7 ))" "$g" \
    >"$TRASH/state/checkpoint" &&
  refused inside.log &&
  test_grep "cannot resume at the checkpoint ${pos%:*}:$(( ${pos#*:} + 7 ))" "$TRASH/inside.log" &&
  test_grep "(error 1236)" "$TRASH/inside.log" &&
  test_grep "still has that binlog, so it was not purged" "$TRASH/inside.log" &&
  test_grep "binhook run --from gtid:$g. resumes after" "$TRASH/inside.log" &&
  test_grep "SHOW BINLOG EVENTS IN .${pos%:*}." "$TRASH/inside.log" &&
  ! grep "(it was purged)" "$TRASH/inside.log"
'

# lag FILE: binhook_binlog_lag_seconds in a scrape.
lag () {
  sed -n "s/^binhook_binlog_lag_seconds \([0-9.]*\)\$/\1/p" "$1"
}

test_expect_success 'the lag grows with the clock while reading is paused (the retry queue is full)' '
  ADMIN_PORT=$(test_free_port) &&
  start_receiver down 500 &&
  cat >"$TRASH/paused.toml" <<-EOF &&
	[state]
	dir = "paused"
	queue_max = "1MiB"
	segment_size = "64KiB"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7612
	heartbeat = 1
	[admin]
	listen = "127.0.0.1:$ADMIN_PORT"
	[endpoint.down]
	url = "http://127.0.0.1:$(cat "$TRASH/down.port")/hook"
	signing = "none"
	retry = ["1h"]
	[[rule]]
	name = "all"
	table = "shop.big"
	endpoint = "down"
	EOF
  mariadb_sql "CREATE TABLE shop.big (id INT PRIMARY KEY, pad VARCHAR(1000))" &&
  start_binhook paused.toml paused.log &&
  mariadb_sql "INSERT INTO shop.big SELECT seq, REPEAT(\"x\", 1000) FROM shop.seq_1_to_3000" &&
  test_wait_until 30 grep -q "the retry queue is full" "$TRASH/paused.log" &&
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" >m1 &&
  sleep 3 &&
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" >m2 &&
  curl -sf "http://127.0.0.1:$ADMIN_PORT/status" >status &&
  grep "\"paused\":true" status &&
  echo "# lag $(lag m1) s, then $(lag m2) s 3 s later" >&7 &&
  test "$(lag m2)" -ge "$(( $(lag m1) + 2 ))" &&
  stop_binhook paused.log
'

test_done
