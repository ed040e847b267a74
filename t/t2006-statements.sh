#!/usr/bin/env bash
# Statements in the change stream: DDL is kind "ddl", account and privilege
# statements "dcl", the rest that the server logs as statements "other";
# transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, XA) never shows
# up as a statement. With annotated rows, every row carries the text of the
# statement that changed it in "sql".
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd timeout python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# tail_from POS N: the first N events from POS.
tail_from () {
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$1" --limit "$2"
}

# run_cases FILE: runs the second field of each "kind|sql|logged" line in
# database d, one client call each.
run_cases () {
  local kind sql logged
  while IFS='|' read -r kind sql logged
  do
    [ -n "$kind" ] || continue
    mariadb_sql --comments -D d "$sql" >/dev/null || { echo "failed: $sql"; return 1; }
  done <"$1"
}

# check_statements CASES EVENTS: the events are statements, one per case in
# order, of that kind, with sql equal to the statement run or matching the
# regex given as third field (the server rewrites a few), in schema d (the
# default database they ran in).
check_statements () {
  python3 - "$1" "$2" <<'EOF'
import json, re, sys
cases = [l.rstrip("\n").split("|", 2) for l in open(sys.argv[1]) if l.strip()]
ev = [json.loads(l) for l in open(sys.argv[2])]
assert len(ev) == len(cases), "%d events for %d statements" % (len(ev), len(cases))
for (kind, sql, logged), e in zip(cases, ev):
    assert e["type"] == "statement", (sql, e)
    assert e["kind"] == kind, "%s: kind %s, want %s" % (sql, e["kind"], kind)
    if logged:
        assert re.fullmatch(logged, e["sql"], re.S), "%s: logged as %r" % (sql, e["sql"])
    else:
        assert e["sql"] == sql, "%r != %r" % (e["sql"], sql)
    # the server logs CREATE/DROP DATABASE in the database they name
    m = re.match(r"(?:CREATE|DROP) DATABASE (\w+)", sql)
    assert e["schema"] == (m.group(1) if m else "d"), e
    for f in ("table", "key", "before", "after", "changed"):
        assert f not in e, (f, e)
    assert isinstance(e["thread_id"], int) and e["thread_id"] > 0, e
    assert e["position"]["file"].startswith("binlog.") and e["position"]["gtid"], e
EOF
}

test_expect_success 'setup' '
  mariadb_sql "CREATE DATABASE d" &&
  mariadb_sql -D d "CREATE TABLE base (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB" &&
  mariadb_sql -D d "CREATE TABLE my (id INT PRIMARY KEY) ENGINE=MyISAM"
'

cat >ddl.cases <<'EOF'
ddl|CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB|
ddl|ALTER TABLE t ADD COLUMN w INT|
ddl|TRUNCATE TABLE t|
ddl|RENAME TABLE t TO t2|
ddl|CREATE INDEX iw ON t2 (w)|
ddl|CREATE OR REPLACE TABLE t5 (x INT)|
ddl|create table lower_case (x int)|
ddl|/* a comment first */ ALTER TABLE t5 ADD COLUMN y INT|
ddl|DROP TABLE t5|DROP TABLE `t5` .*
ddl|DROP TABLE IF EXISTS nosuch|DROP TABLE IF EXISTS `nosuch` .*
ddl|CREATE VIEW v AS SELECT 1 AS one|CREATE .*VIEW `v` AS SELECT 1 AS `?one`?
ddl|DROP VIEW v|
ddl|CREATE DATABASE d2|
ddl|DROP DATABASE d2|
EOF

test_expect_success 'DDL: CREATE, ALTER, TRUNCATE, RENAME, DROP are kind ddl' '
  pos=$(mariadb_binlog_pos) &&
  run_cases ddl.cases &&
  tail_from "$pos" $(grep -c . ddl.cases) >ddl 2>err &&
  check_statements ddl.cases ddl
'

cat >dcl.cases <<'EOF'
dcl|CREATE USER 'u1'@'localhost' IDENTIFIED BY 'pw'|
dcl|GRANT SELECT ON d.* TO 'u1'@'localhost'|
dcl|REVOKE SELECT ON d.* FROM 'u1'@'localhost'|
dcl|ALTER USER 'u1'@'localhost' IDENTIFIED BY 'pw2'|
dcl|SET PASSWORD FOR 'u1'@'localhost' = PASSWORD('pw3')|SET PASSWORD FOR 'u1'@'localhost'=.*
dcl|RENAME USER 'u1'@'localhost' TO 'u2'@'localhost'|
dcl|CREATE ROLE r1|
dcl|GRANT r1 TO 'u2'@'localhost'|
dcl|DROP ROLE r1|
dcl|DROP USER 'u2'@'localhost'|
dcl|CREATE OR REPLACE USER 'u3'@'localhost'|
dcl|DROP USER IF EXISTS 'u3'@'localhost'|
EOF

test_expect_success 'GRANT, REVOKE and the account statements are kind dcl' '
  pos=$(mariadb_binlog_pos) &&
  run_cases dcl.cases &&
  tail_from "$pos" $(grep -c . dcl.cases) >dcl 2>err &&
  check_statements dcl.cases dcl
'

cat >other.cases <<'EOF'
other|ANALYZE TABLE base|
other|OPTIMIZE TABLE my|
other|REPAIR TABLE my|
other|FLUSH PRIVILEGES|
EOF

test_expect_success 'statements that change no table or account are kind other' '
  pos=$(mariadb_binlog_pos) &&
  run_cases other.cases &&
  tail_from "$pos" $(grep -c . other.cases) >other 2>err &&
  check_statements other.cases other
'

test_expect_success 'the schema of a statement is the default database it ran in' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "CREATE TABLE d.nodb (x INT)" &&
  mariadb_sql -D mysql "DROP TABLE d.nodb" &&
  tail_from "$pos" 2 >schemas 2>err &&
  python3 - schemas <<-\EOF
	import json, sys
	a, b = [json.loads(l) for l in open(sys.argv[1])]
	assert a["schema"] is None and a["sql"] == "CREATE TABLE d.nodb (x INT)", a
	assert b["schema"] == "mysql" and b["kind"] == "ddl", b
	EOF
'

test_expect_success 'BEGIN, COMMIT, ROLLBACK, SAVEPOINT never appear as statements' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "BEGIN; INSERT INTO base VALUES (1, \"one\"); COMMIT" &&
  mariadb_sql -D d "START TRANSACTION; INSERT INTO base VALUES (2, \"two\");
    SAVEPOINT s1; INSERT INTO base VALUES (3, \"three\"); ROLLBACK TO SAVEPOINT s1;
    INSERT INTO base VALUES (4, \"four\"); RELEASE SAVEPOINT s1; COMMIT" &&
  # MyISAM changes stay although the transaction rolls back; the binlog has
  # them with a COMMIT (or ROLLBACK) statement around
  mariadb_sql -D d "BEGIN; INSERT INTO my VALUES (1); INSERT INTO base VALUES (5, \"five\"); ROLLBACK" &&
  mariadb_sql -D d "INSERT INTO my VALUES (2)" &&
  mariadb_sql -D d "SET autocommit = 0; INSERT INTO base VALUES (6, \"six\"); COMMIT" &&
  mariadb_sql -D d "CREATE TABLE after_all (x INT)" &&
  tail_from "$pos" 7 >tx 2>err &&
  python3 - tx <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	got = [(e["type"], e.get("table"), (e.get("after") or {}).get("id")) for e in ev]
	want = [("insert", "base", 1), ("insert", "base", 2), ("insert", "base", 4), ("insert", "my", 1),
	        ("insert", "my", 2), ("insert", "base", 6), ("statement", None, None)]
	assert got == want, got
	assert ev[-1]["sql"] == "CREATE TABLE after_all (x INT)", ev[-1]
	EOF
'

test_expect_success 'XA transactions: their rows once, no XA statement, no warning' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "XA START \"x1\"; INSERT INTO base VALUES (7, \"seven\"); XA END \"x1\";
    XA PREPARE \"x1\"; XA COMMIT \"x1\"" &&
  mariadb_sql -D d "XA START \"x2\"; INSERT INTO base VALUES (8, \"eight\"); XA END \"x2\"; XA COMMIT \"x2\" ONE PHASE" &&
  mariadb_sql -D d "CREATE TABLE after_xa (x INT)" &&
  tail_from "$pos" 3 >xa 2>xa.err &&
  python3 - xa <<-\EOF &&
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	got = [(e["type"], e.get("table"), (e.get("after") or {}).get("id")) for e in ev]
	assert got == [("insert", "base", 7), ("insert", "base", 8), ("statement", None, None)], got
	assert ev[-1]["sql"] == "CREATE TABLE after_xa (x INT)", ev[-1]
	EOF
  test_grep ! "warning" xa.err
'

test_expect_success 'the rows of an XA transaction rolled back after PREPARE are not changes' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "XA START \"x3\"; INSERT INTO base VALUES (9, \"nine\"); XA END \"x3\";
    XA PREPARE \"x3\"; XA ROLLBACK \"x3\"" &&
  test -z "$(mariadb_sql "SELECT id FROM d.base WHERE id = 9")" &&
  mariadb_sql -D d "INSERT INTO base VALUES (10, \"ten\")" &&
  tail_from "$pos" 1 >xarb 2>err &&
  test_grep ! "\"id\":9" xarb &&
  test_grep "\"id\":10" xarb
'

test_expect_success 'rows carry the text of their statement in sql' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "INSERT INTO base VALUES (11, \"a\"), (12, \"b\")" &&
  mariadb_sql -D d "UPDATE base SET v = CONCAT(v, \"!\") WHERE id IN (11, 12)" &&
  mariadb_sql -D d "DELETE FROM base WHERE id = 12" &&
  mariadb_sql -D d "BEGIN; INSERT INTO base VALUES (13, \"c\"); UPDATE base SET v = \"d\" WHERE id = 13; COMMIT" &&
  mariadb_sql -D d "REPLACE INTO base VALUES (14, \"e\")" &&
  tail_from "$pos" 8 >rows 2>err &&
  python3 - rows <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	want = [
	    ("insert", 11, "INSERT INTO base VALUES (11, \"a\"), (12, \"b\")"),
	    ("insert", 12, "INSERT INTO base VALUES (11, \"a\"), (12, \"b\")"),
	    ("update", 11, "UPDATE base SET v = CONCAT(v, \"!\") WHERE id IN (11, 12)"),
	    ("update", 12, "UPDATE base SET v = CONCAT(v, \"!\") WHERE id IN (11, 12)"),
	    ("delete", 12, "DELETE FROM base WHERE id = 12"),
	    ("insert", 13, "INSERT INTO base VALUES (13, \"c\")"),
	    ("update", 13, "UPDATE base SET v = \"d\" WHERE id = 13"),
	    ("insert", 14, "REPLACE INTO base VALUES (14, \"e\")"),
	]
	got = [(e["type"], e["key"]["id"], e.get("sql")) for e in ev]
	assert got == want, "\n%s\n%s" % (got, want)
	EOF
'

test_expect_success 'sql is the text as sent: UTF-8, new lines, and a long statement' '
  pos=$(mariadb_binlog_pos) &&
  printf "INSERT INTO base VALUES (20, \"h\303\251llo \342\230\203\")" >utf8.sql &&
  mariadb_sql -D d "$(cat utf8.sql)" &&
  printf "UPDATE base\n  SET v = \"x\"\n  WHERE id = 20" >multi.sql &&
  mariadb_sql -D d "$(cat multi.sql)" &&
  mariadb_sql -D d "CREATE TABLE big_text (id INT PRIMARY KEY, t MEDIUMTEXT)" &&
  { printf "INSERT INTO big_text VALUES (1, \"" && head -c 100000 /dev/zero | tr "\0" x && printf "\")"; } >long.sql &&
  mariadb_sql -D d "$(cat long.sql)" &&
  tail_from "$pos" 4 >text 2>err &&
  python3 - text utf8.sql multi.sql long.sql <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
	texts = [open(f, encoding="utf-8").read() for f in sys.argv[2:]]
	assert ev[0]["sql"] == texts[0] and ev[0]["after"]["v"] == "h\u00e9llo \u2603", ev[0]
	assert ev[1]["sql"] == texts[1], ev[1]["sql"]
	assert ev[2]["type"] == "statement" and ev[2]["kind"] == "ddl", ev[2]
	assert ev[3]["sql"] == texts[2], len(ev[3]["sql"])
	assert ev[3]["after"]["t"] == "x" * 100000
	EOF
'

test_expect_success 'CREATE TABLE ... SELECT: the statement, then its rows, one transaction' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "CREATE TABLE copy ENGINE=InnoDB SELECT id, v FROM base WHERE id IN (1, 2)" &&
  tail_from "$pos" 3 >ctas 2>err &&
  python3 - ctas <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	assert ev[0]["type"] == "statement" and ev[0]["kind"] == "ddl", ev[0]
	assert [e["type"] for e in ev[1:]] == ["insert", "insert"], ev
	assert len({e["position"]["gtid"] for e in ev}) == 1, ev
	assert [e["tx"]["index"] for e in ev] == [0, 1, 2], ev
	assert all(e["sql"] == "CREATE TABLE copy ENGINE=InnoDB SELECT id, v FROM base WHERE id IN (1, 2)"
	           for e in ev[1:]), ev
	assert all("key" not in e for e in ev[1:]), ev
	EOF
'

test_expect_success 'without annotated rows, rows have no sql field' '
  mariadb_sql "SET GLOBAL binlog_annotate_row_events = OFF" &&
  test_when_finished "mariadb_sql \"SET GLOBAL binlog_annotate_row_events = ON\"" &&
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql -D d "INSERT INTO base VALUES (30, \"plain\")" &&
  tail_from "$pos" 1 >plain 2>err &&
  test_grep "\"id\":30" plain &&
  test_grep ! "\"sql\"" plain
'

test_expect_success 'offline reading gives the same statements and rows' '
  mariadb_sql "FLUSH BINARY LOGS" &&
  cp "$MYSQL_DATADIR/binlog.000001" . &&
  "$BINHOOK" tail --binlog binlog.000001 >offline 2>offline.err &&
  n=$(wc -l <offline) &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from start --limit $n >live 2>live.err &&
  test_cmp live offline &&
  python3 - offline <<-\EOF
	import json, sys
	for l in open(sys.argv[1]):
	    e = json.loads(l)
	    if e["type"] == "statement":
	        w = e["sql"].lstrip().split(None, 1)[0].upper()
	        assert w not in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "XA"), e
	EOF
'

test_done
