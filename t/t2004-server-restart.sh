#!/usr/bin/env bash
# A live binhook tail outlives restarts of the server: it reconnects by
# itself, resumes at the last transaction boundary (skipping what it already
# printed of an open transaction), and decodes right although the new server
# process hands out table ids afresh and writes a new binlog file. Every row
# arrives exactly once, and a single pass from the start over all the files,
# live or offline, gives the same events.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd timeout python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# has_lines N FILE: FILE has at least N lines.
has_lines () {
  [ -f "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]
}

not_running () {
  ! kill -0 "$1" 2>/dev/null
}

started_pids=

# start_tail NAME ARGS...: binhook tail --source ARGS in the background, its
# output in NAME and NAME.err, its pid in $tail_pid.
start_tail () {
  local name=$1
  shift
  { "$BINHOOK" tail --source "$BINHOOK_URL" "$@" >"$name" 2>"$name.err" </dev/null 7>&- 8>&- & }
  tail_pid=$!
  started_pids="$started_pids $tail_pid"
  test_atexit "kill $tail_pid 2>/dev/null"
}

# stop_tail PID: SIGTERM, then its exit status must be 0.
stop_tail () {
  kill -TERM "$1" && test_exit_code 0 test_wait_exit "$1"
}

# check_rows FILE EXPECT: the row events of FILE, as "type schema.table key
# after-or-before" lines sorted, equal EXPECT (also sorted); ids are unique.
check_rows () {
  python3 - "$1" >"$1.rows" <<'EOF' || return 1
import json, sys
seen = set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e["id"] not in seen, "id twice: " + e["id"]
    seen.add(e["id"])
    if e["type"] == "statement":
        continue
    img = e["after"] if "after" in e else e["before"]
    print(e["type"], e["schema"] + "." + e["table"], json.dumps(e.get("key"), sort_keys=True),
          json.dumps(img, sort_keys=True))
EOF
  sort "$1.rows" >"$1.rows.sorted" &&
  sort "$2" >"$2.sorted" &&
  test_cmp "$2.sorted" "$1.rows.sorted"
}

test_expect_success 'setup: tables with different layouts, and a tail following live' '
  mariadb_sql "CREATE DATABASE s" &&
  mariadb_sql "CREATE TABLE s.a (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(10,2),
    at DATETIME(3)) ENGINE=InnoDB" &&
  mariadb_sql "CREATE TABLE s.b (code CHAR(3), n BIGINT UNSIGNED, flag ENUM(\"off\",\"on\"),
    PRIMARY KEY (code)) ENGINE=InnoDB" &&
  start_tail live --from start --server-id 301 &&
  live_pid=$tail_pid
'

# What each row must look like, whichever server process wrote it.
cat >expect.rows <<'EOF'
insert s.a {"id": 1} {"amount": "10.50", "at": "2024-01-02T03:04:05.678", "id": 1, "name": "before-1"}
insert s.a {"id": 2} {"amount": "-2.00", "at": "2024-01-02T03:04:05.000", "id": 2, "name": "before-2"}
insert s.b {"code": "aaa"} {"code": "aaa", "flag": "on", "n": 18446744073709551615}
insert s.b {"code": "bbb"} {"code": "bbb", "flag": "", "n": 0}
insert s.b {"code": "ccc"} {"code": "ccc", "flag": "off", "n": 7}
insert s.a {"id": 3} {"amount": "3.30", "at": null, "id": 3, "name": "after-3"}
update s.a {"id": 1} {"amount": "11.50", "at": "2024-01-02T03:04:05.678", "id": 1, "name": "before-1"}
insert s.c {"x": 1, "y": "k"} {"note": "new table", "x": 1, "y": "k"}
insert s.c {"x": 2, "y": "k"} {"note": null, "x": 2, "y": "k"}
delete s.b {"code": "bbb"} {"code": "bbb", "flag": "", "n": 0}
EOF

test_expect_success 'rows written before the restart arrive' '
  mariadb_sql "INSERT INTO s.a VALUES (1, \"before-1\", 10.5, \"2024-01-02 03:04:05.678\"),
    (2, \"before-2\", -2, \"2024-01-02 03:04:05\")" &&
  mariadb_sql "SET sql_mode = \"\"; INSERT INTO s.b VALUES (\"aaa\", 18446744073709551615, \"on\"), (\"bbb\", 0, 0)" &&
  test_wait_until 60 has_lines 7 live
'

test_expect_success 'the server restarts: a new binlog file, table ids handed out again' '
  old_log=$(mariadb_binlog_pos) &&
  mariadb_restart &&
  new_log=$(mariadb_binlog_pos) &&
  test "${old_log%:*}" != "${new_log%:*}" &&
  # s.b is opened first by the new process, then s.a, then a new table
  mariadb_sql "INSERT INTO s.b VALUES (\"ccc\", 7, \"off\")" &&
  mariadb_sql "BEGIN; INSERT INTO s.a VALUES (3, \"after-3\", 3.3, NULL);
    UPDATE s.a SET amount = amount + 1 WHERE id = 1; COMMIT" &&
  mariadb_sql "CREATE TABLE s.c (note TEXT, y CHAR(1), x SMALLINT, PRIMARY KEY (x, y)) ENGINE=InnoDB" &&
  mariadb_sql "INSERT INTO s.c VALUES (\"new table\", \"k\", 1), (NULL, \"k\", 2)" &&
  mariadb_sql "DELETE FROM s.b WHERE code = \"bbb\"" &&
  test_wait_until 90 has_lines 14 live
'

test_expect_success 'the tail reconnected by itself, and stops on SIGTERM with exit 0' '
  kill -0 $live_pid &&
  sleep 1 &&
  stop_tail $live_pid &&
  test_grep "reconnected to .* resuming by the GTID state 0-1-" live.err &&
  test_grep "^binhook: stopped; continue with --from binlog\.000002:" live.err
'

test_expect_success 'every row exactly once, decoded right on both sides of the restart' '
  check_rows live expect.rows &&
  test "$(grep -c "\"type\":\"statement\"" live)" = 4 &&
  test "$(grep -c "\"file\":\"binlog.000002\"" live)" = 7
'

test_expect_success 'one pass --from start over both binlog files gives the same events' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from start --limit 14 >again 2>again.err &&
  test_cmp live again
'

test_expect_success 'and so does reading the files offline' '
  mariadb_sql "FLUSH BINARY LOGS" &&
  cp "$MYSQL_DATADIR/binlog.000001" "$MYSQL_DATADIR/binlog.000002" . &&
  "$BINHOOK" tail --binlog binlog.000001 binlog.000002 >offline 2>offline.err &&
  test_cmp live offline
'

# table_id FILE SCHEMA.TABLE: the table id of the first TABLE_MAP of that table.
table_id () {
  mariadb-binlog --no-defaults "$1" 2>/dev/null |
    sed -n "s/.*Table_map: \`${2%.*}\`\.\`${2#*.}\` mapped to number \([0-9]*\).*/\1/p" | head -n 1
}

if command -v mariadb-binlog >/dev/null 2>&1; then
  test_expect_success 'the premise: the new server gave the id of s.a to s.b' '
    test -n "$(table_id binlog.000001 s.a)" &&
    test "$(table_id binlog.000001 s.a)" = "$(table_id binlog.000002 s.b)" &&
    test "$(table_id binlog.000001 s.a)" != "$(table_id binlog.000002 s.a)"
  '
else
  test_skip 'the premise: the new server gave the id of s.a to s.b' 'no mariadb-binlog'
fi

test_expect_success 'a restart while the tail is inside a big transaction: nothing twice, nothing lost' '
  mariadb_sql "CREATE TABLE s.big (id INT PRIMARY KEY, pad CHAR(200)) ENGINE=InnoDB" &&
  mariadb_sql "INSERT INTO s.big SELECT seq, REPEAT(\"p\", 200) FROM s.seq_1_to_60000" &&
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "BEGIN; UPDATE s.big SET pad = REPEAT(\"q\", 200); DELETE FROM s.big WHERE id > 59000; COMMIT" &&
  mariadb_sql "INSERT INTO s.a VALUES (4, \"last\", 4, NULL)" &&
  # The reader is held back: its output goes to a pipe nobody reads for a
  # while and its queue is small, so that the server goes down with most of
  # the transaction (some 25 MB) unsent.
  printf "[source]\nurl = \"%s\"\nqueue_events = 100\n" "$BINHOOK_URL" >slow.toml &&
  mkfifo slow &&
  { (exec <slow; sleep 4; exec cat >big) 7>&- 8>&- & } &&
  reader_pid=$! &&
  test_atexit "kill $reader_pid 2>/dev/null" &&
  { "$BINHOOK" tail -c slow.toml --from "$pos" --server-id 302 >slow 2>big.err </dev/null 7>&- 8>&- & } &&
  big_pid=$! &&
  started_pids="$started_pids $big_pid" &&
  test_atexit "kill $big_pid 2>/dev/null" &&
  sleep 1 &&
  mariadb_restart &&
  test_wait_until 180 has_lines 61001 big &&
  sleep 1 &&
  stop_tail $big_pid &&
  test_wait_exit $reader_pid &&
  test "$(wc -l <big)" = 61001 &&
  python3 - big <<-\EOF &&
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	ids = [e["id"] for e in ev]
	assert len(set(ids)) == len(ids), "an id twice"
	upd = [e for e in ev if e["type"] == "update"]
	dele = [e for e in ev if e["type"] == "delete"]
	assert [e["key"]["id"] for e in upd] == list(range(1, 60001)), "updates out of order or missing"
	assert [e["key"]["id"] for e in dele] == list(range(59001, 60001)), "deletes out of order or missing"
	assert all(e["after"]["pad"] == "q" * 200 for e in upd)
	assert [e["tx"]["index"] for e in upd + dele] == list(range(61000)), "tx indexes"
	assert len({e["position"]["gtid"] for e in upd + dele}) == 1
	assert ev[-1]["type"] == "insert" and ev[-1]["key"] == {"id": 4}
	EOF
  test_grep "reconnected to" big.err
'

test_expect_success 'the restart did cut the big transaction (else the test above proved less)' '
  test_grep "reconnected.*(mid-transaction)" big.err
'

test_expect_success 'a server down for a while: the tail waits, then carries on' '
  start_tail down --from "$(mariadb_binlog_pos)" --server-id 303 &&
  down_pid=$tail_pid &&
  mariadb_sql "INSERT INTO s.a VALUES (5, \"five\", 5, NULL)" &&
  test_wait_until 60 has_lines 1 down &&
  mariadb_stop &&
  sleep 6 &&
  kill -0 $down_pid &&
  mariadb_restart &&
  mariadb_sql "INSERT INTO s.a VALUES (6, \"six\", 6, NULL)" &&
  test_wait_until 90 has_lines 2 down &&
  stop_tail $down_pid &&
  test_grep "\"id\":6,\"name\":\"six\"" down
'

test_expect_success 'SIGTERM while the server is down: exit 0 and a continue position' '
  start_tail gone --from "$(mariadb_binlog_pos)" --server-id 304 &&
  gone_pid=$tail_pid &&
  mariadb_sql "INSERT INTO s.a VALUES (7, \"seven\", 7, NULL)" &&
  test_wait_until 60 has_lines 1 gone &&
  end=$(mariadb_binlog_pos) &&
  mariadb_stop &&
  sleep 2 &&
  kill -TERM $gone_pid &&
  test_wait_until 10 not_running $gone_pid &&
  test_exit_code 0 test_wait_exit $gone_pid &&
  test_grep "^binhook: stopped; continue with --from $end\$" gone.err &&
  mariadb_restart
'

test_expect_success 'no tail started here is left running' '
  fail= &&
  for pid in $started_pids
  do
    not_running $pid || { echo "tail $pid is still running"; kill $pid; fail=1; }
  done &&
  test -z "$fail"
'

test_done
