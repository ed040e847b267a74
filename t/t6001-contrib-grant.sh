#!/usr/bin/env bash
# contrib/mysql: a private MariaDB runs with the settings of
# contrib/mysql/mariadb.cnf, contrib/mysql/grant.sql makes a new account
# (edited as its header says), and with that account binhook doctor finds
# nothing to fix and binhook tail streams a change, also with column names
# looked up in information_schema. contrib/mysql/mysql.cnf is checked for
# the values doctor wants (there is no MySQL server in Debian to run it).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
require_cmd python3

CONTRIB=$TOP/contrib/mysql

# The [GROUP] settings of a my.cnf file as mariadbd options, one per line.
cnf_options () {
  python3 - "$1" "$2" <<'EOF'
import re, sys
group, section = sys.argv[2], None
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.fullmatch(r"\[([^\]]+)\]", line)
    if m:
        section = m.group(1)
        continue
    if section != group or not line or line.startswith("#"):
        continue
    m = re.fullmatch(r"([a-z_]+)\s*=\s*(.*)", line)
    assert m, "not NAME = VALUE: %r" % line
    value = m.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    print("--%s=%s" % (m.group(1), value))
EOF
}

test_expect_success 'mariadb.cnf holds only settings of its [mariadb] group' '
  cnf_options "$CONTRIB/mariadb.cnf" mariadb >cnf-options &&
  test_grep -x -- "--binlog_format=ROW" cnf-options &&
  test_grep -x -- "--binlog_row_image=FULL" cnf-options &&
  test_grep -x -- "--binlog_row_metadata=FULL" cnf-options &&
  test_grep -x -- "--server_id=1" cnf-options &&
  test_grep -x -- "--gtid_strict_mode=ON" cnf-options &&
  test_grep -x -- "--binlog_expire_logs_seconds=604800" cnf-options
'

mapfile -t CNF_OPTIONS <cnf-options 2>/dev/null || CNF_OPTIONS=()
test_expect_success 'MariaDB starts with the settings of mariadb.cnf' '
  test ${#CNF_OPTIONS[@]} -gt 5 &&
  mariadb_start "${CNF_OPTIONS[@]}" &&
  test "$(mariadb_sql "SELECT @@binlog_row_metadata, @@gtid_strict_mode, @@sync_binlog, @@log_bin_basename LIKE \"%/mariadb-bin\"")" = "$(printf "FULL\t1\t1\t1")"
'
test -n "$MYSQL_PID" || test_skip_all 'cannot start mariadbd with the settings of contrib/mysql/mariadb.cnf'

OPS_PASSWORD='ops-grant-test'
# grant.sql edited as its header says: the account, its password, the schema.
test_expect_success 'grant.sql, edited, makes an account with the rights binhook needs and no more' '
  mariadb_sql "CREATE DATABASE shop; CREATE DATABASE hr;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(20), total DECIMAL(10,2));
    CREATE TABLE hr.salaries (id INT PRIMARY KEY, amount INT)" &&
  sed -e "s/'\''binhook'\''@'\''%'\''/'\''ops'\''@'\''127.0.0.1'\''/g" \
      -e "s/'\''change-me'\''/'\''$OPS_PASSWORD'\''/" "$CONTRIB/grant.sql" >grant.sql &&
  test_grep "TO '\''ops'\''@'\''127.0.0.1'\''" grant.sql &&
  test_grep ! "binhook'\''@" grant.sql &&
  mariadb_sql <grant.sql &&
  mariadb_sql <grant.sql &&
  mariadb_sql "SHOW GRANTS FOR '\''ops'\''@'\''127.0.0.1'\''" >grants &&
  test_grep "^GRANT REPLICATION SLAVE, BINLOG MONITOR ON \*\.\* TO .ops.@.127\.0\.0\.1. IDENTIFIED BY PASSWORD" grants &&
  test_grep "^GRANT SELECT ON .shop.\.\* TO .ops.@.127\.0\.0\.1.\$" grants &&
  test $(wc -l <grants) -eq 2
'

export BINHOOK_MYSQL_PASSWORD=$OPS_PASSWORD
OPS_URL="mysql://ops@127.0.0.1:$MYSQL_PORT"

test_expect_success 'binhook doctor with that account finds nothing to fix' '
  "$BINHOOK" doctor --source "$OPS_URL" >doctor.out &&
  test_grep "as .ops.@.127\.0\.0\.1." doctor.out &&
  test_grep "^ok  *privilege REPLICATION SLAVE" doctor.out &&
  test_grep "^ok  *privilege BINLOG MONITOR" doctor.out &&
  test_grep "^info  *privilege SELECT = on .shop.\.\* only" doctor.out &&
  test_grep "^ok  *binlog_row_metadata = FULL\$" doctor.out &&
  test_grep "^ok  *binlog_expire_logs_seconds = 604800 (7 days)" doctor.out &&
  test_grep "^ok  *binlog_annotate_row_events = ON\$" doctor.out &&
  test_grep "^ok  *binary logs = 1 file, newest mariadb-bin\.000001\$" doctor.out &&
  test_grep ! -E "^(warning|error|skipped) " doctor.out &&
  test_grep ! "fix:" doctor.out
'

test_expect_success 'binhook tail with that account streams a change' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO shop.orders VALUES (1, \"paid\", 120.50)" &&
  timeout 60 "$BINHOOK" tail --source "$OPS_URL" --from "$pos" --limit 1 >tail.out 2>tail.err &&
  python3 -c "
import json, sys
e = json.loads(open(\"tail.out\").read())
assert (e[\"type\"], e[\"schema\"], e[\"table\"]) == (\"insert\", \"shop\", \"orders\"), e
assert e[\"after\"] == {\"id\": 1, \"status\": \"paid\", \"total\": \"120.50\"}, e
assert e[\"key\"] == {\"id\": 1}, e
"
'

# With MINIMAL metadata binhook names the columns from information_schema,
# which shows the account only what it has a privilege on.
test_expect_success 'with minimal metadata the grant is enough for the names of the granted schema only' '
  mariadb_restart "${CNF_OPTIONS[@]}" --binlog-row-metadata=MINIMAL &&
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO shop.orders VALUES (2, \"new\", 5.00); INSERT INTO hr.salaries VALUES (7, 1000)" &&
  timeout 60 "$BINHOOK" tail --source "$OPS_URL" --from "$pos" --limit 2 >tail.out 2>tail.err &&
  python3 -c "
import json
a, b = [json.loads(l) for l in open(\"tail.out\")]
assert a[\"table\"] == \"orders\" and a[\"after\"] == {\"id\": 2, \"status\": \"new\", \"total\": \"5.00\"}, a
assert a[\"key\"] == {\"id\": 2}, a
assert b[\"table\"] == \"salaries\" and b[\"after\"] == {\"@1\": 7, \"@2\": 1000}, b
"
'

test_expect_success 'mysql.cnf sets what binhook doctor checks on MySQL' '
  cnf_options "$CONTRIB/mysql.cnf" mysqld >mysql-options &&
  for want in --server_id=1 --log_bin=binlog --binlog_format=ROW --binlog_row_image=FULL \
      --binlog_row_metadata=FULL --binlog_rows_query_log_events=ON --binlog_row_value_options= \
      --binlog_expire_logs_seconds=604800 --gtid_mode=ON --enforce_gtid_consistency=ON \
      --sync_binlog=1 --innodb_flush_log_at_trx_commit=1
  do
    test_grep -x -- "$want" mysql-options || return 1
  done
'

test_done
