#!/usr/bin/env bash
# binhook tail stops (at --limit, mid-transaction or at a boundary, or on
# SIGTERM/SIGINT) and says where to continue; continuing from there repeats
# nothing and misses nothing: the pieces put together are, line for line,
# one uninterrupted run. Also --from gtid:D-S-N and --from FILE:OFFSET.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd timeout python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# tail_n N [ARGS...]: the first N changes from the server (it would block
# waiting for more without the limit; the timeout only guards a hang).
tail_n () {
  local n=$1
  shift
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --limit "$n" "$@"
}

# continue_pos ERRFILE: the position of the "continue with --from" line.
continue_pos () {
  sed -n 's/^binhook: stopped.*; continue with --from \([^ ]*\)$/\1/p' "$1"
}

# ids_unique FILE: no event id is there twice.
ids_unique () {
  python3 - "$1" <<'EOF'
import json, sys
seen = {}
for n, line in enumerate(open(sys.argv[1]), 1):
    i = json.loads(line)["id"]
    assert i not in seen, "id %s on lines %d and %d" % (i, seen[i], n)
    seen[i] = n
EOF
}

# gtid_of FILE N: the GTID of the event on line N of FILE.
gtid_of () {
  sed -n "$2p" "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["position"]["gtid"])'
}

# has_lines N FILE: FILE has at least N lines (for test_wait_until).
has_lines () {
  [ -f "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]
}

# start_tail NAME ARGS...: binhook tail --source ARGS in the background,
# output to NAME and NAME.err; its pid in $tail_pid. Stopped at the end of
# the test that started it.
start_tail () {
  local name=$1
  shift
  { "$BINHOOK" tail --source "$BINHOOK_URL" "$@" >"$name" 2>"$name.err" </dev/null 7>&- 8>&- & }
  tail_pid=$!
  started_pids="$started_pids $tail_pid"
  test_atexit "kill $tail_pid 2>/dev/null"
  test_when_finished "stop_tail $tail_pid"
}

# stop_tail PID: ends a tail that is still running (a test that failed).
stop_tail () {
  if kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
  fi
  return 0
}

not_running () {
  ! kill -0 "$1" 2>/dev/null
}

# tail_connected PID: the server has a binlog dump thread for that process
# (found by the local port of its connection): it has asked for the binlog,
# so its start position is settled.
tail_connected () {
  local port
  for port in $(python3 - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if target.startswith("socket:["):
        inodes.add(target[8:-1])
for line in open("/proc/net/tcp").readlines()[1:]:
    f = line.split()
    if f[9] in inodes:
        print(int(f[1].split(":")[1], 16))
EOF
  ); do
    mariadb_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST
      WHERE COMMAND LIKE 'Binlog Dump%' AND HOST = '127.0.0.1:$port'" | grep -q '^1$' && return 0
  done
  return 1
}

# is_empty FILE: FILE is empty (shows it otherwise).
is_empty () {
  if [ -s "$1" ]; then
    echo "'$1' is not empty:"
    cat "$1"
    return 1
  fi
}

# tail_to_end OUT: everything from the start of the binlog into OUT; checks
# that the run reached the end (its continue position is the binlog's end).
tail_to_end () {
  local rc=0 end
  end=$(mariadb_binlog_pos) || return 1
  timeout 5 "$BINHOOK" tail --source "$BINHOOK_URL" --from start >"$1" 2>"$1.err" || rc=$?
  if [ "$rc" != 124 ]; then
    echo "tail_to_end: tail exited with $rc, not stopped by the timeout"
    cat "$1.err"
    return 1
  fi
  test_grep "^binhook: stopped; continue with --from $end\$" "$1.err"
}

started_pids=

# Changes the workload below makes, statements included.
#   3 statements (CREATE DATABASE, 2 x CREATE TABLE)
#   5 transactions of 100 rows in r.big and 1 in r.small, each followed by
#   a single-row autocommit insert: 5 * (101 + 1)
#   1 UPDATE of 100 rows, 1 DELETE of 50 rows
TOTAL=$((3 + 5 * 102 + 100 + 50))

test_expect_success 'setup: multi-row and single-row transactions' '
  fail= &&
  mariadb_sql "CREATE DATABASE r" &&
  mariadb_sql "CREATE TABLE r.big (id INT PRIMARY KEY, pad VARCHAR(255) NOT NULL) ENGINE=InnoDB" &&
  mariadb_sql "CREATE TABLE r.small (id INT PRIMARY KEY, v INT) ENGINE=InnoDB" &&
  for i in 1 2 3 4 5
  do
    mariadb_sql "BEGIN;
      INSERT INTO r.big SELECT ($i - 1) * 100 + seq, REPEAT(CHAR(96 + $i), 200) FROM r.seq_1_to_100;
      INSERT INTO r.small VALUES ($i, $i);
      COMMIT;
      INSERT INTO r.small VALUES (100 + $i, $i)" || { fail=1; break; }
  done &&
  test -z "$fail" &&
  mariadb_sql "UPDATE r.big SET pad = REPEAT(\"z\", 250) WHERE id <= 100" &&
  mariadb_sql "DELETE FROM r.big WHERE id > 450" &&
  test "$(mariadb_sql "SELECT COUNT(*) FROM r.big")" = 450
'

test_expect_success 'one uninterrupted run from the start has every change once' '
  tail_n $TOTAL --from start >full 2>full.err &&
  test "$(wc -l <full)" = $TOTAL &&
  ids_unique full &&
  test "$(grep -c "\"table\":\"big\"" full)" = 650 &&
  test "$(grep -c "\"type\":\"update\"" full)" = 100 &&
  test "$(grep -c "\"type\":\"delete\"" full)" = 50 &&
  test_grep "^binhook: stopped" full.err
'

test_expect_success 'and there is nothing after it' '
  test_exit_code 124 timeout 5 "$BINHOOK" tail --source "$BINHOOK_URL" --from start \
    --limit $((TOTAL + 1)) >more 2>more.err &&
  test_cmp full more
'

test_expect_success 'a big transaction spans several rows events (the test needs it)' '
  python3 - full <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	pos = {e["position"]["pos"] for e in ev if e.get("table") == "big" and e["type"] == "insert"
	       and e["position"].get("gtid") == ev[3]["position"].get("gtid")}
	assert len(pos) >= 2, pos
	EOF
'

test_expect_success 'stopping inside a transaction says so, and resuming repeats and misses nothing' '
  cut=$((3 + 50)) &&
  tail_n $cut --from start >part1 2>err1 &&
  test "$(wc -l <part1)" = $cut &&
  test_grep "^binhook: stopped inside a transaction; continue with --from binlog\.000001:[0-9][0-9]*+50\$" err1 &&
  pos=$(continue_pos err1) &&
  tail_n $((TOTAL - cut)) --from "$pos" >part2 2>err2 &&
  cat part1 part2 >joined &&
  test_cmp full joined
'

test_expect_success 'resuming works at every kind of place (statement, big and small transactions)' '
  fail= &&
  for cut in 1 2 3 4 53 103 104 105 150 300 513 514 600 612 613 662
  do
    tail_n $cut --from start >part1 2>err1 &&
    pos=$(continue_pos err1) &&
    test -n "$pos" &&
    tail_n $((TOTAL - cut)) --from "$pos" >part2 2>err2 &&
    cat part1 part2 >joined &&
    test_cmp full joined || { echo "cut after $cut changes, continued at $pos"; fail=1; break; }
  done &&
  test -z "$fail"
'

test_expect_success 'a resumed tail stopped again inside the same transaction continues right' '
  tail_n 40 --from start >p1 2>e1 &&
  tail_n 25 --from "$(continue_pos e1)" >p2 2>e2 &&
  test_grep "continue with --from binlog\.000001:[0-9]*+62\$" e2 &&
  tail_n 300 --from "$(continue_pos e2)" >p3 2>e3 &&
  tail_n $((TOTAL - 365)) --from "$(continue_pos e3)" >p4 2>e4 &&
  cat p1 p2 p3 p4 >joined &&
  test_cmp full joined
'

test_expect_success 'stopping after whole transactions and resuming' '
  cut=$((3 + 102)) &&
  tail_n $cut --from start >part1 2>err1 &&
  pos=$(continue_pos err1) &&
  # A boundary may be given as the transaction start plus all of its changes.
  case $pos in
  *+*) test "${pos#*+}" = 1 ;;
  *) ;;
  esac &&
  tail_n $((TOTAL - cut)) --from "$pos" >part2 2>err2 &&
  cat part1 part2 >joined &&
  test_cmp full joined
'

test_expect_success '--from gtid: continues after that transaction' '
  # The GTID of the third 100-row transaction.
  gtid=$(gtid_of full $((3 + 2 * 102 + 1))) &&
  test -n "$gtid" &&
  python3 - "$gtid" full >expect <<-\EOF &&
	import json, sys
	lines = open(sys.argv[2]).readlines()
	last = max(i for i, l in enumerate(lines) if json.loads(l)["position"].get("gtid") == sys.argv[1])
	sys.stdout.writelines(lines[last + 1:])
	EOF
  test "$(wc -l <expect)" = $((TOTAL - 3 - 3 * 102 + 1)) &&
  tail_n $(wc -l <expect) --from "gtid:$gtid" >actual 2>err &&
  test_cmp expect actual
'

test_expect_success '--from gtid: of the last transaction prints only what comes later' '
  last=$(gtid_of full $TOTAL) &&
  mariadb_sql "INSERT INTO r.small VALUES (900, 900)" &&
  tail_n 1 --from "gtid:$last" >actual 2>err &&
  test_grep "\"after\":{\"id\":900,\"v\":900}" actual
'

test_expect_success '--from FILE:OFFSET taken before some writes prints only those writes' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO r.small VALUES (1001, 1); INSERT INTO r.small VALUES (1002, 2)" &&
  mariadb_sql "BEGIN; UPDATE r.small SET v = v + 1 WHERE id IN (1001, 1002); DELETE FROM r.big WHERE id = 1; COMMIT" &&
  tail_n 5 --from "$pos" >actual 2>err &&
  python3 - actual <<-\EOF &&
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	got = [(e["type"], e["table"], e["key"]) for e in ev]
	want = [("insert", "small", {"id": 1001}), ("insert", "small", {"id": 1002}),
	        ("update", "small", {"id": 1001}), ("update", "small", {"id": 1002}),
	        ("delete", "big", {"id": 1})]
	assert got == want, got
	assert ev[2]["before"] == {"id": 1001, "v": 1} and ev[2]["after"] == {"id": 1001, "v": 2}, ev[2]
	EOF
  # and the same changes are the last ones of a run from the start
  all=$((TOTAL + 1 + 5)) &&
  tail_n $all --from start >full2 2>/dev/null &&
  tail -n 5 full2 >expect &&
  test_cmp expect actual &&
  head -n $TOTAL full2 >head &&
  test_cmp full head
'

test_expect_success 'SIGTERM while tailing live: a continue position, exit 0, and it resumes exactly' '
  start=$(mariadb_binlog_pos) &&
  start_tail live --from "$start" --server-id 201 &&
  mariadb_sql "INSERT INTO r.small VALUES (2001, 1), (2002, 2), (2003, 3)" &&
  mariadb_sql "INSERT INTO r.small VALUES (2004, 4)" &&
  test_wait_until 60 has_lines 4 live &&
  kill -TERM $tail_pid &&
  test_exit_code 0 test_wait_exit $tail_pid &&
  test "$(wc -l <live)" = 4 &&
  pos=$(continue_pos live.err) &&
  test -n "$pos" &&
  mariadb_sql "INSERT INTO r.small VALUES (2005, 5)" &&
  mariadb_sql "BEGIN; INSERT INTO r.small VALUES (2006, 6); INSERT INTO r.small VALUES (2007, 7); COMMIT" &&
  tail_n 3 --from "$pos" >rest 2>err &&
  tail_n 7 --from "$start" >expect 2>/dev/null &&
  cat live rest >actual &&
  test_cmp expect actual
'

test_expect_success 'SIGTERM once the transaction is over gives its end: a boundary' '
  start_tail live --from "$(mariadb_binlog_pos)" --server-id 202 &&
  mariadb_sql "BEGIN; INSERT INTO r.small VALUES (3001, 1); INSERT INTO r.small VALUES (3002, 2); COMMIT" &&
  test_wait_until 60 has_lines 2 live &&
  end=$(mariadb_binlog_pos) &&
  # the commit follows the last row in the stream: give it a moment
  sleep 1 &&
  kill -TERM $tail_pid &&
  test_exit_code 0 test_wait_exit $tail_pid &&
  test_grep "^binhook: stopped; continue with --from $end\$" live.err
'

test_expect_success 'SIGINT works the same' '
  start_tail live --from "$(mariadb_binlog_pos)" --server-id 203 &&
  mariadb_sql "INSERT INTO r.small VALUES (4001, 1)" &&
  test_wait_until 60 has_lines 1 live &&
  kill -INT $tail_pid &&
  test_exit_code 0 test_wait_exit $tail_pid &&
  test -n "$(continue_pos live.err)"
'

test_expect_success 'SIGTERM before any change arrived gives back the --from position' '
  start=$(mariadb_binlog_pos) &&
  start_tail idle --from "$start" --server-id 204 &&
  test_wait_until 30 tail_connected $tail_pid &&
  kill -TERM $tail_pid &&
  test_exit_code 0 test_wait_exit $tail_pid &&
  is_empty idle &&
  test_grep "^binhook: stopped; continue with --from $start\$" idle.err
'

test_expect_success 'SIGTERM before any change arrived, started --from end: where the end was' '
  start_tail idle --from end --server-id 205 &&
  test_wait_until 30 tail_connected $tail_pid &&
  end=$(mariadb_binlog_pos) &&
  kill -TERM $tail_pid &&
  test_exit_code 0 test_wait_exit $tail_pid &&
  is_empty idle &&
  test_grep "^binhook: stopped; continue with --from $end\$" idle.err
'

# one_stopped PID1 PID2: one of the two processes has ended.
one_stopped () {
  not_running "$1" || not_running "$2"
}

test_expect_success 'two tails with the same server id: one stops and says why, the other streams' '
  start_tail one --from "$(mariadb_binlog_pos)" --server-id 206 &&
  one_pid=$tail_pid &&
  test_wait_until 30 tail_connected $one_pid &&
  start_tail two --from "$(mariadb_binlog_pos)" --server-id 206 &&
  two_pid=$tail_pid &&
  test_wait_until 20 one_stopped $one_pid $two_pid &&
  if not_running $one_pid
  then
    gone=one gone_pid=$one_pid kept=two
  else
    gone=two gone_pid=$two_pid kept=one
  fi &&
  test_exit_code 1 test_wait_exit $gone_pid &&
  grep "^binhook tail: " $gone.err >fatal &&
  test_grep "server.id" fatal &&
  test_grep ! "impossible position" fatal &&
  # the other one keeps streaming
  mariadb_sql "INSERT INTO r.small VALUES (4501, 1)" &&
  test_wait_until 30 has_lines 1 $kept &&
  test_grep "\"id\":4501" $kept
'

test_expect_success 'resuming across a new binlog file' '
  tail_to_end before &&
  n0=$(wc -l <before) &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  mariadb_sql "BEGIN; UPDATE r.big SET pad = \"y\" WHERE id BETWEEN 101 AND 200; INSERT INTO r.small VALUES (5001, 1); COMMIT" &&
  mariadb_sql "INSERT INTO r.small VALUES (5002, 2)" &&
  tail_to_end all &&
  test "$(wc -l <all)" = $((n0 + 102)) &&
  head -n $n0 all >head &&
  test_cmp before head &&
  test "$(tail -n 102 all | grep -c "\"file\":\"binlog\.000002\"")" = 102 &&
  fail= &&
  for cut in $((n0 - 1)) $n0 $((n0 + 1)) $((n0 + 50)) $((n0 + 100)) $((n0 + 101))
  do
    tail_n $cut --from start >part1 2>err1 &&
    pos=$(continue_pos err1) &&
    test -n "$pos" &&
    tail_n $((n0 + 102 - cut)) --from "$pos" >part2 2>err2 &&
    cat part1 part2 >joined &&
    test_cmp all joined || { echo "cut after $cut changes, continued at $pos"; fail=1; break; }
  done &&
  test -z "$fail"
'

test_expect_success 'a --from that is not a position is a usage error' '
  test_exit_code 2 "$BINHOOK" tail --source "$BINHOOK_URL" --from binlog.000001:abc --limit 1 2>err ||
    { cat err; false; } &&
  test_grep "binlog.000001:abc" err
'

test_expect_success 'a malformed GTID is a usage error too, named as given' '
  test_exit_code 2 timeout 20 "$BINHOOK" tail --source "$BINHOOK_URL" --from gtid:garbage --limit 1 2>err ||
    { cat err; false; } &&
  test_grep "gtid:garbage" err
'

test_expect_success 'a file or offset the server does not have: exit 1, the position named' '
  test_exit_code 1 timeout 20 "$BINHOOK" tail --source "$BINHOOK_URL" --from binlog.000009:4 --limit 1 2>err ||
    { cat err; false; } &&
  test_grep "binlog\.000009" err &&
  test_exit_code 1 timeout 20 "$BINHOOK" tail --source "$BINHOOK_URL" --from binlog.000001:5 --limit 1 2>err ||
    { cat err; false; } &&
  test_grep "binlog\.000001:5" err
'

test_expect_success 'a GTID the server does not have: exit 1, and the message names the GTID, not a file' '
  test_exit_code 1 timeout 20 "$BINHOOK" tail --source "$BINHOOK_URL" --from gtid:0-1-999999 --limit 1 2>err ||
    { cat err; false; } &&
  test_grep "0-1-999999" err &&
  test_grep ! "from .:0." err
'

test_expect_success 'no tail started here is left running' '
  fail= &&
  for pid in $started_pids
  do
    not_running $pid || { echo "tail $pid is still running"; fail=1; }
  done &&
  test -z "$fail"
'

test_done
