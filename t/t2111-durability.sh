#!/usr/bin/env bash
# What survives what: the state directory of `binhook run`.
#  - a second binhook on the same state directory is refused, naming the
#    pid of the first, which keeps running;
#  - the server restarts mid-run: binhook reconnects by itself and every
#    matched change arrives;
#  - a clean stop and start: binhook resumes at the checkpoint, so the
#    writes made while it was down arrive, and nothing delivered before
#    comes again;
#  - the binlog of the checkpoint was purged: binhook refuses to start and
#    names the ways out; --from start then starts, and says the checkpoint
#    is not used;
#  - a full disk under the state directory (a small tmpfs) while the
#    endpoint fails: an error, reading waits, nothing is lost; once there is
#    room again binhook says so and carries on, and every change arrives.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 timeout
mariadb_start || test_skip_all 'cannot start mariadbd'

# got_ids RECEIVER TABLE: the key ids of TABLE's changes that RECEIVER
# answered 2xx, one a line, sorted, each once.
got_ids () {
  python3 - "$TRASH/$1.jsonl" "$2" <<-\EOF | sort -u
	import json, sys
	for l in open(sys.argv[1]):
	    q = json.loads(l)
	    if q["status"] // 100 != 2:
	        continue
	    e = json.loads(q["body"])
	    if e["schema"] + "." + e["table"] == sys.argv[2]:
	        print(e["key"]["id"])
	EOF
}

# all_arrived RECEIVER TABLE [WHERE]: every row of TABLE (matching WHERE) has
# had its insert answered 2xx by RECEIVER; the missing ones are in
# $TRASH/missing.
all_arrived () {
  mariadb_sql "SELECT id FROM $2 WHERE ${3:-1}" | sort -u >"$TRASH/want.ids" &&
  test -s "$TRASH/want.ids" &&
  got_ids "$1" "$2" >"$TRASH/got.ids" &&
  comm -23 "$TRASH/want.ids" "$TRASH/got.ids" >"$TRASH/missing" &&
  ! test -s "$TRASH/missing"
}

# checkpoint DIR: prints the checkpoint of the state directory DIR as FILE:POS.
checkpoint () {
  python3 -c '
import json, sys
c = json.load(open(sys.argv[1] + "/checkpoint"))
print("%s:%d" % (c["file"], c["pos"]))' "$TRASH/$1"
}

# dups RECEIVER FROM: how many deliveries that RECEIVER answered 2xx in its
# log lines FROM+1.. had a webhook-id already answered 2xx in lines 1..FROM.
dups () {
  python3 - "$TRASH/$1.jsonl" "$2" <<-\EOF
	import json, sys
	lines = open(sys.argv[1]).read().splitlines()
	n = int(sys.argv[2])
	ok = lambda ls: [json.loads(l)["headers"]["webhook-id"] for l in ls if json.loads(l)["status"] // 100 == 2]
	before = set(ok(lines[:n]))
	print(sum(1 for i in ok(lines[n:]) if i in before))
	EOF
}

# purged_to FILE: PURGE BINARY LOGS TO FILE, and the server has no older
# binlog left. (It keeps a file while its crash recovery may need it or a
# replica that is going away still reads it: then it is asked again.)
purged_to () {
  mariadb_sql "PURGE BINARY LOGS TO \"$1\"" &&
  mariadb_sql "SHOW BINARY LOGS" >"$TRASH/logs" &&
  test "$(cut -f 1 "$TRASH/logs")" = "$1"
}

# in_log PATTERN LOG: the binhook log $TRASH/LOG has a line matching PATTERN.
in_log () {
  grep -q -- "$1" "$TRASH/$2"
}

# insert FROM TO: rows FROM..TO into d.t, one transaction each.
insert () {
  local i
  for i in $(seq "$1" "$2"); do
    echo "INSERT INTO d.t VALUES ($i, $i);"
  done | mariadb_sql
}

test_expect_success 'setup: a table, a receiver, binhook running with its state directory' '
  mariadb_sql "CREATE DATABASE d;
    CREATE TABLE d.t (id INT PRIMARY KEY, v INT);
    CREATE TABLE d.f (id INT PRIMARY KEY, pad VARCHAR(600))" &&
  start_receiver hook &&
  cat >"$TRASH/a.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7111
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/hook.port")/hook"
	signing = "none"
	retry = ["0.5s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "rows"
	table = "d.t"
	endpoint = "hook"
	EOF
  "$BINHOOK" check -c "$TRASH/a.toml" &&
  start_binhook a.toml a.log &&
  pid=$(cat "$TRASH/a.log.pid") &&
  test -f "$TRASH/state/VERSION" &&
  test -f "$TRASH/state/lock" &&
  test -f "$TRASH/state/checkpoint"
'

test_expect_success 'a second binhook on the same state directory is refused; the first runs on' '
  test_exit_code 1 timeout 30 "$BINHOOK" run -c "$TRASH/a.toml" 2>"$TRASH/second.log" &&
  cat "$TRASH/second.log" &&
  test_grep "in use by another binhook (pid $pid)" "$TRASH/second.log" &&
  kill -0 $pid &&
  insert 1 5 &&
  test_wait_until 60 all_arrived hook d.t
'

test_expect_success 'the server restarts mid-run: binhook reconnects, every change arrives' '
  insert 6 300 &&
  mariadb_stop &&
  sleep 2 &&
  kill -0 $pid &&
  mariadb_restart &&
  insert 301 600 &&
  test_wait_until 120 all_arrived hook d.t &&
  kill -0 $pid &&
  test_grep "reconnected to" "$TRASH/a.log" &&
  test "$(wc -l <"$TRASH/want.ids")" = 600 &&
  echo "# after the restart: $(grep -c . "$TRASH/hook.jsonl") requests for 600 changes" >&7
'

test_expect_success 'a clean stop: the checkpoint is where it says it stopped' '
  sleep 1 &&
  stop_binhook a.log &&
  cp=$(checkpoint state) &&
  test_grep "stopped at $cp: 600 matches, 600 delivered, 0 failed attempts, 0 to the dead letters" "$TRASH/a.log" &&
  test "$cp" = "$(mariadb_binlog_pos)"
'

test_expect_success 'writes while it is down arrive after the start; nothing delivered before comes again' '
  before=$(grep -c . "$TRASH/hook.jsonl") &&
  insert 601 700 &&
  start_binhook a.toml b.log &&
  pid=$(cat "$TRASH/b.log.pid") &&
  test_grep "reading from $cp (the checkpoint)" "$TRASH/b.log" &&
  test_wait_until 60 all_arrived hook d.t &&
  sleep 1 &&
  n=$(dups hook $before) &&
  echo "# delivered again after the clean stop: $n" >&7 &&
  test "$n" = 0 &&
  test "$(($(grep -c . "$TRASH/hook.jsonl") - before))" = 100
'

test_expect_success 'the binlog of the checkpoint was purged: binhook refuses and names the ways out' '
  stop_binhook b.log &&
  test_grep "stopped at [^ ]*: 100 matches, 100 delivered" "$TRASH/b.log" &&
  cp=$(checkpoint state) &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  insert 701 710 &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  insert 711 720 &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  insert 721 730 &&
  newest=$(mariadb_binlog_pos) &&
  newest=${newest%:*} &&
  test_wait_until 30 purged_to "$newest" &&
  test_exit_code 1 timeout 30 "$BINHOOK" run -c "$TRASH/a.toml" 2>"$TRASH/purged.log" &&
  cat "$TRASH/purged.log" &&
  test_grep "error.*$cp" "$TRASH/purged.log" &&
  test_grep "purged" "$TRASH/purged.log" &&
  test_grep -e "--from start" "$TRASH/purged.log" &&
  test_grep -e "--from end" "$TRASH/purged.log" &&
  test "$(checkpoint state)" = "$cp"
'

test_expect_success '--from start starts, and says that the checkpoint is not used' '
  { (cd "$TRASH" && exec "$BINHOOK" run -c a.toml --from start 2>"$TRASH/c.log" 7>&- 8>&-) & } &&
  pid=$! &&
  test_atexit "kill -9 $pid 2>/dev/null" &&
  test_wait_until 30 in_log "reading from" c.log &&
  test_grep "checkpoint $cp is not used" "$TRASH/c.log" &&
  test_grep -e "started at --from start instead of the checkpoint" "$TRASH/c.log" &&
  test_grep "reading from $newest:" "$TRASH/c.log" &&
  test_wait_until 60 all_arrived hook d.t "id > 720" &&
  kill -TERM $pid &&
  test_wait_until 30 binhook_gone $pid &&
  test_exit_code 0 test_wait_exit $pid &&
  test_grep "stopped at [^ ]*: 10 matches, 10 delivered" "$TRASH/c.log"
'

# A full disk: a tmpfs of 2 MiB as the state directory's file system.
full=$TRASH/full
mkdir "$full"
if mount -t tmpfs -o size=2m tmpfs "$full" 2>"$TRASH/mount.err"; then
  test_atexit "umount '$full' || umount -l '$full'"
  full_ok=1
else
  full_ok=
  full_why="cannot mount a tmpfs: $(head -n 1 "$TRASH/mount.err")"
fi

# free_kb DIR: the KiB free on DIR's file system.
free_kb () {
  df -Pk "$1" | awk 'NR == 2 { print $4 }'
}

if [ -n "$full_ok" ]; then
  test_expect_success 'a full disk under the state directory: an error, binhook lives on' '
    start_receiver bad 500 &&
    bad_pid=$! &&
    port=$(cat "$TRASH/bad.port") &&
    {
      printf "[state]\ndir = \"full/state\"\nsegment_size = \"16KiB\"\n" &&
      printf "[source]\nurl = \"%s\"\nserver_id = 7112\n" "$BINHOOK_URL" &&
      printf "[endpoint.flaky]\nurl = \"http://127.0.0.1:%s/f\"\nsigning = \"none\"\n" "$port" &&
      printf "breaker_cooldown = \"1s\"\nretry = [" &&
      for i in $(seq 1 60); do printf "\"1s\", "; done &&
      printf "]\n[[rule]]\nname = \"full\"\ntable = \"d.f\"\nendpoint = \"flaky\"\n"
    } >"$TRASH/f.toml" &&
    "$BINHOOK" check -c "$TRASH/f.toml" &&
    # all but 32 KiB taken
    dd if=/dev/zero of="$full/filler" bs=4k count=$(( ($(free_kb "$full") - 32) / 4 )) 2>/dev/null &&
    echo "# $(free_kb "$full") KiB free under the state directory" >&7 &&
    start_binhook f.toml f.log &&
    fpid=$(cat "$TRASH/f.log.pid") &&
    for k in 0 1 2; do
      mariadb_sql "INSERT INTO d.f SELECT $k * 100 + seq, REPEAT(\"p\", 600) FROM d.seq_1_to_100" || return 1
    done &&
    test_wait_until 60 in_log "the state directory cannot be written: " f.log &&
    sleep 3 &&
    kill -0 $fpid &&
    test_grep ! "can be written again" "$TRASH/f.log" &&
    echo "# $(grep -c . "$TRASH/bad.jsonl") requests failed while the disk was full" >&7
  '

  test_expect_success 'room again: binhook says so by itself and reads the binlog again' '
    rm "$full/filler" &&
    test_wait_until 30 in_log "the state directory can be written again" f.log &&
    # reading the binlog had waited, and goes on
    test_wait_until 10 in_log "reading the binlog again" f.log &&
    kill -0 $fpid
  '

  test_expect_success 'the endpoint comes back: every change arrives, nothing dead' '
    kill $bad_pid &&
    { wait $bad_pid 2>/dev/null || :; } &&
    start_receiver good 200 "$port" &&
    test "$(cat "$TRASH/good.port")" = "$port" &&
    test_wait_until 120 all_arrived good d.f &&
    test "$(wc -l <"$TRASH/want.ids")" = 300 &&
    sleep 1 &&
    stop_binhook f.log &&
    test_grep "stopped at [^ ]*: 300 matches, 300 delivered, [0-9]* failed attempts, 0 to the dead letters" "$TRASH/f.log" &&
    "$BINHOOK" dlq list --waiting -c "$TRASH/f.toml" >"$TRASH/waiting.out" 2>"$TRASH/waiting.err" &&
    test_grep "^0 waiting\$" "$TRASH/waiting.err"
  '
else
  test_skip 'a full disk under the state directory: an error, binhook lives on' "$full_why"
  test_skip 'room again: binhook says so by itself and reads the binlog again' "$full_why"
  test_skip 'the endpoint comes back: every change arrives, nothing dead' "$full_why"
fi

test_done
