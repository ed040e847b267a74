#!/usr/bin/env bash
# The harness itself: assertions, crash detection, the private MariaDB.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

test_expect_success 'a passing body passes, in a private working directory' '
  test "$PWD" = "$TRASH" &&
  echo hello >file &&
  test -s file
'

test_expect_success 'variables set in a body reach the next test' '
  harness_var=set-in-previous-test
'

test_expect_success '... and they do' '
  test "$harness_var" = set-in-previous-test
'

test_expect_success 'test_must_fail accepts an ordinary failure' '
  test_must_fail false &&
  test_must_fail sh -c "exit 2"
'

test_expect_success 'test_must_fail rejects success' '
  ! test_must_fail true
'

test_expect_success 'test_must_fail rejects a crash by signal' '
  ! test_must_fail sh -c "kill -SEGV \$\$" 2>err &&
  test_grep "died by signal 11" err &&
  ! test_must_fail sh -c "kill -ABRT \$\$" 2>/dev/null
'

test_expect_success 'test_must_fail rejects a sanitizer report and a missing command' '
  ! test_must_fail sh -c "exit 99" 2>err &&
  test_grep "sanitizer" err &&
  ! test_must_fail binhook-no-such-command 2>/dev/null
'

test_expect_success 'test_exit_code wants the exact status' '
  test_exit_code 2 sh -c "exit 2" &&
  ! test_exit_code 1 sh -c "exit 2" 2>/dev/null &&
  ! test_exit_code 1 sh -c "kill -SEGV \$\$" 2>/dev/null
'

test_expect_success 'test_cmp passes on equal files and shows the difference' '
  printf "a\nb\n" >expect &&
  printf "a\nb\n" >actual &&
  test_cmp expect actual &&
  printf "a\nc\n" >actual &&
  ! test_cmp expect actual >diff &&
  test_grep "^-b" diff &&
  test_grep "^+c" diff
'

test_expect_success 'test_grep matches, and ! inverts' '
  printf "one\ntwo\n" >file &&
  test_grep "^two$" file &&
  test_grep -F "o" file &&
  test_grep ! three file &&
  ! test_grep three file 2>err &&
  test_grep "| two" err
'

test_expect_success 'a failing body fails the test and shows its output' '
  cat >inner.sh <<-EOF &&
	. "$TOP/t/lib/test-lib.sh"
	test_expect_success "fails" "echo visible-output && false"
	test_expect_success "passes" "true"
	test_done
	EOF
  test_exit_code 1 bash inner.sh >out 2>err &&
  test_grep "^not ok 1 - fails" out &&
  test_grep "^ok 2 - passes" out &&
  test_grep "^1..2$" out &&
  test_grep "^#   visible-output" err
'

test_expect_success 'a body that calls exit is reported, and the trash is removed' '
  cat >inner.sh <<-EOF &&
	. "$TOP/t/lib/test-lib.sh"
	echo "\$TRASH" >"$TRASH/inner-trash"
	test_expect_success "exits" "exit 0"
	test_done
	EOF
  test_exit_code 1 bash inner.sh >out 2>err &&
  test_grep "^not ok 1 - exits" out &&
  test_grep "called exit" err &&
  test ! -e "$(cat inner-trash)"
'

test_expect_success 'test_when_finished runs after the body' '
  test_when_finished "rm -f marker" &&
  touch marker
'

test_expect_success '... so the next test does not see its files' '
  test ! -e marker
'

# Gone, or killed and waiting for whoever adopted it to reap it.
process_ended () {
  ! kill -0 "$1" 2>/dev/null || grep -q "^$1 (.*) Z" "/proc/$1/stat" 2>/dev/null
}

test_expect_success 'background processes are stopped by test_atexit and hold no output' '
  cat >inner.sh <<-\EOF &&
	. "$TOP/t/lib/test-lib.sh"
	test_expect_success "start" "
	  { sleep 300 </dev/null >/dev/null 2>&1 7>&- 8>&- & } &&
	  bg_pid=\$! &&
	  test_atexit \"test_kill \$bg_pid\" &&
	  test_wait_until 10 grep -qx sleep /proc/\$bg_pid/comm &&
	  echo \$bg_pid >\"$OUTER\"/inner-pid
	"
	test_done
	EOF
  OUTER=$TRASH timeout 60 sh -c "bash inner.sh | cat" >out &&
  test_grep "^ok 1 - start" out &&
  test_grep ! "not ok" out &&
  pid=$(cat inner-pid) &&
  test -n "$pid" &&
  test_wait_until 10 process_ended "$pid"
'

test_expect_success 'test_skip_all prints a skipped plan' '
  cat >inner.sh <<-EOF &&
	. "$TOP/t/lib/test-lib.sh"
	require_cmd binhook-no-such-command
	test_done
	EOF
  bash inner.sh >out &&
  test_grep "^1..0 # SKIP" out
'

if ! [ -x "$MARIADBD" ]; then
  test_skip_all "$MARIADBD is not installed"
fi

test_expect_success 'a private MariaDB starts on a loopback port' '
  mariadb_start &&
  test -S "$MYSQL_SOCK" &&
  test "$(mariadb_sql "SELECT @@port")" = "$MYSQL_PORT" &&
  test "$(mariadb_sql "SELECT @@bind_address")" = 127.0.0.1 &&
  test "$(mariadb_sql "SELECT @@datadir")" = "$MYSQL_DATADIR/" &&
  test "$BINHOOK_URL" = "mysql://binhook@127.0.0.1:$MYSQL_PORT"
'

test_expect_success 'the binlog is on, ROW, full images and metadata, annotated' '
  mariadb_sql "SELECT @@log_bin, @@binlog_format, @@binlog_row_image,
    @@binlog_row_metadata, @@binlog_annotate_row_events, @@server_id" >actual &&
  printf "1\tROW\tFULL\tFULL\t1\t1\n" >expect &&
  test_cmp expect actual
'

test_expect_success 'the binlog starts empty and mariadb_binlog_pos follows it' '
  start=$(mariadb_binlog_pos) &&
  echo "$start" | grep -E "^binlog\.000001:[0-9]+$" &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, s VARCHAR(20));
    INSERT INTO shop.t VALUES (1, \"café\")" &&
  end=$(mariadb_binlog_pos) &&
  test "${end%%:*}" = binlog.000001 &&
  test "${end#*:}" -gt "${start#*:}"
'

test_expect_success 'the binhook user connects over TCP with its password' '
  MYSQL_PWD=$BINHOOK_MYSQL_PASSWORD mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" \
    -u binhook -N -B -e "SELECT CURRENT_USER()" >actual &&
  echo "binhook@127.0.0.1" >expect &&
  test_cmp expect actual
'

test_expect_success 'the binhook user is refused with a wrong password' '
  test_must_fail env MYSQL_PWD=wrong mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" \
    -u binhook -e "SELECT 1" 2>err &&
  test_grep "Access denied" err
'

test_expect_success 'the binhook user can read what binhook reads' '
  MYSQL_PWD=$BINHOOK_MYSQL_PASSWORD mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" \
    -u binhook -N -B -e "SHOW MASTER STATUS; SHOW BINARY LOGS;
      SELECT COLUMN_NAME FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = \"shop\" AND TABLE_NAME = \"t\" ORDER BY ORDINAL_POSITION" >actual &&
  test_grep "^binlog.000001" actual &&
  test_grep "^s$" actual &&
  mariadb_sql "SHOW GRANTS FOR binhook@\"127.0.0.1\"" >grants &&
  test_grep "REPLICATION SLAVE" grants &&
  test_grep "BINLOG MONITOR" grants
'

test_expect_success 'the binhook user cannot write' '
  test_must_fail env MYSQL_PWD=$BINHOOK_MYSQL_PASSWORD mariadb --no-defaults \
    -h 127.0.0.1 -P "$MYSQL_PORT" -u binhook -e "INSERT INTO shop.t VALUES (2, \"x\")" 2>err &&
  test_grep "denied" err
'

test_expect_success 'mariadb_restart keeps the datadir, the port and the data' '
  port=$MYSQL_PORT pid=$MYSQL_PID &&
  mariadb_restart --binlog-format=MIXED &&
  test "$MYSQL_PORT" = "$port" &&
  test "$MYSQL_PID" != "$pid" &&
  ! kill -0 "$pid" 2>/dev/null &&
  test "$(mariadb_sql "SELECT @@binlog_format")" = MIXED &&
  test "$(mariadb_sql "SELECT s FROM shop.t WHERE id = 1")" = "café" &&
  mariadb_restart &&
  test "$(mariadb_sql "SELECT @@binlog_format")" = MIXED
'

test_expect_success 'mariadb_stop stops the server' '
  pid=$MYSQL_PID &&
  mariadb_stop &&
  ! kill -0 "$pid" 2>/dev/null &&
  test ! -S "$MYSQL_SOCK"
'

test_expect_success 'the server is stopped at exit, even when a test fails' '
  cat >inner.sh <<-EOF &&
	. "$TOP/t/lib/test-lib.sh"
	. "$TOP/t/lib/mariadb.sh"
	test_expect_success "start" "mariadb_start && echo \\\$MYSQL_PID >\"$TRASH/inner-pid\""
	test_expect_success "fail" "false"
	test_done
	EOF
  test_exit_code 1 bash inner.sh >out 2>err &&
  test_grep "^ok 1 - start" out &&
  pid=$(cat inner-pid) &&
  test -n "$pid" &&
  ! kill -0 "$pid" 2>/dev/null
'

test_done
