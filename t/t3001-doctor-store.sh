#!/usr/bin/env bash
# binhook doctor with [state] store in a database: besides the source, doctor
# connects to the store as the store's user and says whether it answers,
# whether the user has each privilege binhook needs on the store's database
# (with the GRANT that gives a missing one, and exit status 1), whether the
# tables are there with their schema version, and who holds the lease. With
# store = "dir" there is no such line.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
require_cmd curl

mariadb_start || test_skip_all 'cannot start mariadbd'

export STORE_PASSWORD=store-test

# An account per shape: everything binhook needs on the store's database,
# the same without INSERT, UPDATE and DELETE (INSERT on a pattern whose
# escaped underscore does not match), everything but CREATE (enough once
# the tables exist),
# everything by a database pattern, and the five spread over a global grant,
# a pattern and the database's name.
make_users () {
  mariadb_sql "CREATE USER 'store'@'127.0.0.1' IDENTIFIED BY 'store-test';
    GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON bhstate.* TO 'store'@'127.0.0.1';
    CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'store-test';
    GRANT SELECT, CREATE ON bhstate.* TO 'reader'@'127.0.0.1';
    GRANT INSERT ON \`bhst\\_te\`.* TO 'reader'@'127.0.0.1';
    CREATE USER 'nocreate'@'127.0.0.1' IDENTIFIED BY 'store-test';
    GRANT SELECT, INSERT, UPDATE, DELETE ON bhstate.* TO 'nocreate'@'127.0.0.1';
    CREATE USER 'wild'@'127.0.0.1' IDENTIFIED BY 'store-test';
    GRANT ALL PRIVILEGES ON \`bhst%\`.* TO 'wild'@'127.0.0.1';
    CREATE USER 'mixed'@'127.0.0.1' IDENTIFIED BY 'store-test';
    GRANT SELECT, INSERT ON *.* TO 'mixed'@'127.0.0.1';
    GRANT UPDATE, DELETE ON \`bhst_te\`.* TO 'mixed'@'127.0.0.1';
    GRANT CREATE ON bhstate.* TO 'mixed'@'127.0.0.1'"
}

# store_config NAME USER [PORT] [STATE-NAME]: NAME.toml, the source and the
# state in database bhstate as USER (at PORT, under [state] name
# STATE-NAME); an admin server on $ADMIN for the run that makes the tables.
store_config () {
  cat >"$TRASH/$1.toml" <<-EOF
	[state]
	dir = "state-$1"
	store = "mysql://$2@127.0.0.1:${3:-$MYSQL_PORT}/bhstate"
	name = "${4:-default}"
	password_env = "STORE_PASSWORD"
	lease = "5s"
	[admin]
	listen = "${ADMIN:-127.0.0.1:1}"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7731
	[endpoint.hook]
	url = "http://127.0.0.1:1/hook"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "nothing.*"
	endpoint = "hook"
	EOF
}

is_active () {
  curl -sf -m 2 "http://$ADMIN/status" 2>/dev/null | grep -q '"role": *"active"'
}

# What the lines must say, word for word; kept out of the single-quoted
# bodies because of the backquotes.
granted_re='= granted on `bhstate`\.\*$'
wild_re='= granted on `bhst%`\.\*$'
mixed_re='= granted on `bhst_te`\.\*$'
insert_fix='  fix: GRANT INSERT ON `bhstate`.* TO '\''reader'\''@'\''127.0.0.1'\'';'
update_fix='  fix: GRANT UPDATE ON `bhstate`.* TO '\''reader'\''@'\''127.0.0.1'\'';'
delete_fix='  fix: GRANT DELETE ON `bhstate`.* TO '\''reader'\''@'\''127.0.0.1'\'';'
create_fix='  fix: GRANT CREATE ON `bhstate`.* TO '\''nocreate'\''@'\''127.0.0.1'\'';'

test_expect_success 'every privilege on a store not made yet: ok lines, the tables come at the first start' '
  make_users &&
  store_config store store &&
  "$BINHOOK" doctor -c store.toml >out &&
  test_grep "^ok  *state store = 127\.0\.0\.1:$MYSQL_PORT/bhstate: MariaDB .* as .store.@.127\.0\.0\.1.\$" out &&
  for p in SELECT INSERT UPDATE DELETE CREATE; do
    test_grep "^ok  *state store privilege $p $granted_re" out || return 1
  done &&
  test_grep "^info  *state store tables = none yet: there is no database .bhstate.: binhook creates it" out &&
  test_grep ! "state store lease" out &&
  test_grep ! -E "^(error|warning|skipped) " out &&
  test_grep "^the server can serve binhook" out
'

test_expect_success 'the store lines come after the source checks' '
  last_source=$(grep -n "^ok  *binary logs = " out | cut -d: -f1) &&
  first_store=$(grep -n "state store" out | head -n 1 | cut -d: -f1) &&
  test -n "$last_source" && test -n "$first_store" &&
  test "$last_source" -lt "$first_store"
'

test_expect_success 'after binhook ran: the schema version and the lease held by its process' '
  ADMIN=127.0.0.1:$(test_free_port) &&
  store_config run store &&
  { (cd "$TRASH" && exec "$BINHOOK" run -c run.toml 2>>"$TRASH/run.log" 7>&- 8>&-) & } &&
  pid=$! &&
  test_atexit "kill -9 $pid 2>/dev/null" &&
  test_wait_until 30 is_active &&
  "$BINHOOK" doctor -c store.toml >out &&
  test_grep "^info  *state store tables = schema 1 for .default.\$" out &&
  test_grep "^info  *state store lease = held by $(uname -n) pid $pid: renewed [0-9.]* seconds ago, epoch 1: that binhook is active" out &&
  test_grep "^the server can serve binhook" out &&
  test_kill $pid &&
  "$BINHOOK" doctor -c store.toml >out &&
  test_grep "^info  *state store lease = free, last held by $(uname -n) pid $pid: " out &&
  test_grep "the next binhook to start with this \[state\] name becomes active" out
'

test_expect_success 'another [state] name in the same database has no schema row and no lease yet' '
  store_config other store "$MYSQL_PORT" other &&
  "$BINHOOK" doctor -c other.toml >out &&
  test_grep "^info  *state store tables = present: no schema version for \[state\] name .other. yet" out &&
  test_grep "^info  *state store lease = none yet: no binhook has run with \[state\] name .other." out
'

test_expect_success 'a user without INSERT, UPDATE and DELETE: an error each, with the GRANT, exit 1' '
  store_config reader reader &&
  test_exit_code 1 "$BINHOOK" doctor -c reader.toml >out &&
  test_grep "^ok  *state store privilege SELECT $granted_re" out &&
  test_grep "^ok  *state store privilege CREATE $granted_re" out &&
  test_grep "^error  *state store privilege INSERT = missing: binhook adds" out &&
  test_grep "^error  *state store privilege UPDATE = missing: binhook takes and renews the lease" out &&
  test_grep "^error  *state store privilege DELETE = missing: binhook deletes" out &&
  test_grep -x -F "$insert_fix" out &&
  test_grep -x -F "$update_fix" out &&
  test_grep -x -F "$delete_fix" out &&
  test_grep "^info  *state store tables = schema 1 for .default.\$" out &&
  test_grep "^3 problems: binhook cannot use its state store until they are fixed\$" out
'

test_expect_success 'without CREATE once the tables exist: not needed, and binhook runs with that user' '
  store_config nocreate nocreate &&
  "$BINHOOK" doctor -c nocreate.toml >out &&
  test_grep "^ok  *state store privilege CREATE = not needed: the database and its tables are there" out &&
  test_grep "^the server can serve binhook" out &&
  ADMIN=127.0.0.1:$(test_free_port) &&
  store_config nocreate nocreate &&
  { (cd "$TRASH" && exec "$BINHOOK" run -c nocreate.toml 2>>"$TRASH/nocreate.log" 7>&- 8>&-) & } &&
  pid=$! &&
  test_atexit "kill -9 $pid 2>/dev/null" &&
  test_wait_until 30 is_active &&
  test_kill $pid
'

test_expect_success 'grants on *.* and on a database pattern count, each line names its own' '
  store_config wild wild &&
  "$BINHOOK" doctor -c wild.toml >out &&
  for p in SELECT INSERT UPDATE DELETE CREATE; do
    test_grep "^ok  *state store privilege $p $wild_re" out || return 1
  done &&
  store_config mixed mixed &&
  "$BINHOOK" doctor -c mixed.toml >out &&
  test_grep "^ok  *state store privilege SELECT = granted on \*\.\*\$" out &&
  test_grep "^ok  *state store privilege INSERT = granted on \*\.\*\$" out &&
  test_grep "^ok  *state store privilege UPDATE $mixed_re" out &&
  test_grep "^ok  *state store privilege DELETE $mixed_re" out &&
  test_grep "^ok  *state store privilege CREATE $granted_re" out
'

test_expect_success '--json has the store checks, the exit status stays 1 on a problem' '
  test_exit_code 1 "$BINHOOK" doctor --json -c reader.toml >out.json &&
  python3 - out.json <<-\EOF
	import json, sys
	checks = {c["name"]: c for c in json.load(open(sys.argv[1]))}
	assert checks["state store"]["status"] == "ok", checks["state store"]
	assert checks["state store privilege SELECT"]["status"] == "ok"
	c = checks["state store privilege INSERT"]
	assert c["status"] == "error" and c["fix"].startswith("GRANT INSERT ON `bhstate`.* TO"), c
	assert checks["state store tables"]["status"] == "info"
	assert checks["state store lease"]["status"] == "info"
	EOF
'

test_expect_success 'the store unreachable: an error naming its address, exit 1, the source still checked' '
  port=$(test_free_port) &&
  store_config away store "$port" &&
  test_exit_code 1 "$BINHOOK" doctor -c away.toml >out &&
  test_grep "^ok  *binlog_format = ROW\$" out &&
  test_grep "^error  *state store = 127\.0\.0\.1:$port/bhstate: .*127\.0\.0\.1:$port" out &&
  test_grep "^  fix: start the server or correct \[state\] store" out &&
  test_grep ! "state store privilege" out &&
  test_grep "^1 problem: binhook cannot use its state store until it is fixed\$" out &&
  mariadb_sql "SET GLOBAL binlog_format = STATEMENT" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_format = ROW\"" &&
  test_exit_code 1 "$BINHOOK" doctor -c away.toml >out &&
  test_grep "^2 problems: binhook cannot stream from this server nor use its state store until they are fixed\$" out
'

test_expect_success 'a wrong password for the store is an error too' '
  store_config store store &&
  test_exit_code 1 env STORE_PASSWORD=wrong "$BINHOOK" doctor -c store.toml >out &&
  test_grep "^error  *state store = 127\.0\.0\.1:$MYSQL_PORT/bhstate: .*Access denied" out
'

test_expect_success 'store = "dir" and no [state] at all: no store line' '
  printf "[state]\nstore = \"dir\"\n[source]\nurl = \"%s\"\n" "$BINHOOK_URL" >dir.toml &&
  "$BINHOOK" doctor -c dir.toml >out &&
  test_grep ! "state store" out &&
  test_grep "^the server can serve binhook" out &&
  "$BINHOOK" doctor --source "$BINHOOK_URL" >out &&
  test_grep ! "state store" out
'

test_expect_success 'without CREATE before the database exists: an error with the GRANT' '
  mariadb_sql "SET SESSION sql_log_bin = 0; DROP DATABASE bhstate" &&
  store_config nocreate nocreate &&
  test_exit_code 1 "$BINHOOK" doctor -c nocreate.toml >out &&
  test_grep "^error  *state store privilege CREATE = missing: binhook creates the database and its tables" out &&
  test_grep -x -F "$create_fix" out &&
  test_grep "^1 problem: binhook cannot use its state store until it is fixed\$" out
'

test_done
