#!/usr/bin/env bash
# binhook doctor: a private MariaDB is set up right, then bent into the shapes
# doctor must diagnose (statement logging, minimal row images, a user without
# BINLOG MONITOR, binary logging off), and each time the output must name the
# problem and the statement that fixes it, and the exit status must say
# whether binhook can stream.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

mariadb_start || test_skip_all 'cannot start mariadbd'

# What the fixes must say, word for word. Kept out of the test bodies, which
# are single-quoted.
format_fix="  fix: SET GLOBAL binlog_format = 'ROW';  and in my.cnf [mysqld]: binlog_format = ROW"
row_image_fix="  fix: SET GLOBAL binlog_row_image = 'FULL';  and in my.cnf [mysqld]: binlog_row_image = FULL"
# MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR; doctor names
# whichever the server understands.
weak_grant_re="^  fix: GRANT (BINLOG MONITOR|REPLICATION CLIENT) ON \*\.\* TO 'weak'@'127\.0\.0\.1';\$"

# An account that can stream and read but not ask for the binlog position.
make_weak_user () {
  mariadb_sql "CREATE USER 'weak'@'127.0.0.1' IDENTIFIED BY 'weak-test';
    GRANT REPLICATION SLAVE, SELECT ON *.* TO 'weak'@'127.0.0.1'"
}

# Every check of a --json report has the five fields and a known status, and
# binlog_format is there with its value.
check_json () {
  python3 - "$1" <<'EOF'
import json, sys
checks = json.load(open(sys.argv[1]))
assert isinstance(checks, list) and checks, "not a non-empty array"
for c in checks:
    assert set(c) == {"name", "status", "value", "message", "fix"}, c
    assert c["status"] in ("ok", "info", "warning", "error", "skipped"), c
    assert c["status"] != "error" or c["message"], c
byname = {c["name"]: c for c in checks}
assert byname["binlog_format"]["value"] == "ROW", byname["binlog_format"]
assert byname["binlog_format"]["status"] == "ok", byname["binlog_format"]
EOF
}

test_expect_success 'a server set up for binhook passes, nothing worse than a warning' '
  "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep "^checking MariaDB .* as .binhook.@.127\.0\.0\.1." out &&
  test_grep "^ok  *log_bin = ON\$" out &&
  test_grep "^ok  *binlog_format = ROW\$" out &&
  test_grep "^ok  *binlog_row_image = FULL\$" out &&
  test_grep "^ok  *binlog_row_metadata = FULL\$" out &&
  test_grep "^ok  *privilege REPLICATION SLAVE" out &&
  test_grep -E "^ok  *privilege (BINLOG MONITOR|REPLICATION CLIENT)" out &&
  test_grep "^ok  *privilege SELECT" out &&
  test_grep "^ok  *binary logs = 1 file, newest binlog\.000001\$" out &&
  test_grep ! -E "^(error|skipped) " out &&
  test_grep ! "fix:" out &&
  test_grep "^the server can serve binhook" out
'

test_expect_success 'failover readiness is information: what is missing, with the line that fixes it' '
  "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep "^info  *failover = not ready: gtid_strict_mode is OFF (SET GLOBAL gtid_strict_mode = ON" out &&
  test_grep "log_slave_updates is OFF (in my.cnf \[mysqld\]: log_slave_updates = ON" out &&
  mariadb_sql "SET GLOBAL gtid_strict_mode = ON" &&
  test_when_finished "mariadb_sql \"SET GLOBAL gtid_strict_mode = OFF\"" &&
  "$BINHOOK" doctor --source "$BINHOOK_URL" >out2 &&
  test_grep "^info  *failover = not ready: log_slave_updates is OFF" out2 &&
  test_grep ! "gtid_strict_mode is OFF" out2
'

test_expect_success '--json prints the checks as a JSON array' '
  "$BINHOOK" doctor --json --source "$BINHOOK_URL" >out.json &&
  python3 -m json.tool out.json >/dev/null &&
  check_json out.json
'

test_expect_success 'the password comes from the variable named by password_env' '
  printf "[source]\nurl = \"%s\"\npassword_env = \"DOCTOR_PASSWORD\"\n" "$BINHOOK_URL" >gateway.toml &&
  env -u BINHOOK_MYSQL_PASSWORD DOCTOR_PASSWORD=binhook-test "$BINHOOK" doctor -c gateway.toml >out &&
  test_grep "^the server can serve binhook" out &&
  test_exit_code 1 env -u BINHOOK_MYSQL_PASSWORD DOCTOR_PASSWORD=wrong \
    "$BINHOOK" doctor -c gateway.toml 2>err &&
  test_grep "Access denied" err
'

test_expect_success '--source wins over the url of the config file' '
  port=$(test_free_port) &&
  printf "[source]\nurl = \"mysql://binhook@127.0.0.1:%s\"\n" "$port" >elsewhere.toml &&
  "$BINHOOK" doctor -c elsewhere.toml --source "$BINHOOK_URL" >out &&
  test_grep "^the server can serve binhook" out
'

test_expect_success 'statement logging and a missing BINLOG MONITOR: both named, both fixes, exit 1' '
  make_weak_user &&
  mariadb_sql "SET GLOBAL binlog_format = STATEMENT" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_format = ROW\"" &&
  test_exit_code 1 env BINHOOK_MYSQL_PASSWORD=weak-test \
    "$BINHOOK" doctor --source "mysql://weak@127.0.0.1:$MYSQL_PORT" >out &&
  test_grep "^error  *binlog_format = STATEMENT: binhook needs row events" out &&
  test_grep -x -F "$format_fix" out &&
  test_grep -E "^error  *privilege (BINLOG MONITOR|REPLICATION CLIENT) = missing" out &&
  test_grep -E "$weak_grant_re" out &&
  test_grep "^skipped  *binary logs" out &&
  test_grep "^2 problems: binhook cannot stream from this server until they are fixed" out
'

test_expect_success '--json reports the same problems, and the exit status stays 1' '
  mariadb_sql "SET GLOBAL binlog_format = MIXED" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_format = ROW\"" &&
  test_exit_code 1 env BINHOOK_MYSQL_PASSWORD=weak-test \
    "$BINHOOK" doctor --json --source "mysql://weak@127.0.0.1:$MYSQL_PORT" >out.json &&
  python3 -m json.tool out.json >pretty &&
  test_grep "\"value\": \"MIXED\"" pretty &&
  test_grep "\"fix\": \"SET GLOBAL binlog_format = .ROW.;" pretty &&
  test_grep "\"status\": \"error\"" pretty
'

test_expect_success 'binlog_row_image = MINIMAL is an error with its fix' '
  mariadb_sql "SET GLOBAL binlog_row_image = MINIMAL" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_row_image = FULL\"" &&
  test_exit_code 1 "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep "^error  *binlog_row_image = MINIMAL: " out &&
  test_grep -x -F "$row_image_fix" out &&
  test_grep "^1 problem: binhook cannot stream from this server until it is fixed" out
'

test_expect_success 'minimal metadata, no annotations and a short retention are warnings only' '
  mariadb_sql "SET GLOBAL binlog_row_metadata = MINIMAL;
    SET GLOBAL binlog_annotate_row_events = OFF;
    SET GLOBAL binlog_expire_logs_seconds = 3600" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_row_metadata = FULL;
    SET GLOBAL binlog_annotate_row_events = ON; SET GLOBAL binlog_expire_logs_seconds = 0\"" &&
  "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep "^warning  *binlog_row_metadata = MINIMAL: column names .* information_schema" out &&
  test_grep "^warning  *binlog_annotate_row_events = OFF: .*sql" out &&
  test_grep "^warning  *binlog_expire_logs_seconds = 3600 (1 hour): " out &&
  test_grep "^  fix: SET GLOBAL binlog_expire_logs_seconds = 604800;" out &&
  test_grep "^the server can serve binhook (3 warnings)\$" out
'

test_expect_success 'a wrong password: exit 1 and a message naming the address' '
  test_exit_code 1 env BINHOOK_MYSQL_PASSWORD=wrong \
    "$BINHOOK" doctor --source "$BINHOOK_URL" >out 2>err &&
  test_grep "cannot connect to .127\.0\.0\.1:$MYSQL_PORT. as .binhook.: Access denied" err &&
  test ! -s out
'

test_expect_success 'no server at the address: exit 1 and the address' '
  port=$(test_free_port) &&
  test_exit_code 1 "$BINHOOK" doctor --source "mysql://binhook@127.0.0.1:$port" 2>err &&
  test_grep "127\.0\.0\.1:$port" err
'

test_expect_success 'usage: --help, unknown options, stray arguments, bad URLs and config files' '
  "$BINHOOK" doctor --help >out &&
  test_grep "^usage: binhook doctor" out &&
  test_exit_code 2 "$BINHOOK" doctor --no-such-option 2>err &&
  test_grep "unknown option .--no-such-option." err &&
  test_exit_code 2 "$BINHOOK" doctor stray 2>err &&
  test_exit_code 2 "$BINHOOK" doctor --source 2>err &&
  test_grep "needs a value" err &&
  test_exit_code 2 "$BINHOOK" doctor --source "http://127.0.0.1:$MYSQL_PORT" 2>err &&
  test_grep "mysql://" err &&
  printf "[source\n" >broken.toml &&
  test_exit_code 2 "$BINHOOK" doctor -c broken.toml 2>err &&
  test_grep "broken\.toml" err
'

# Last: it restarts the server without a binlog.
test_expect_success 'binary logging off is an error with the my.cnf fix' '
  mariadb_restart --skip-log-bin &&
  test_exit_code 1 "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep "^error  *log_bin = OFF: " out &&
  test_grep "^  fix: .*in my.cnf \[mysqld\]: log_bin = .*restart the server" out &&
  test_grep "^skipped  *binary logs: binary logging is off" out
'

test_done
