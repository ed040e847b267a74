#!/usr/bin/env bash
# binlog_row_metadata=MINIMAL: the table map has no column names, so binhook
# takes them (and the primary key) from information_schema, says so once, and
# looks again after DDL.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

test_expect_success 'a server that logs minimal row metadata' '
  mariadb_start --binlog-row-metadata=MINIMAL &&
  test "$(mariadb_sql "SELECT @@binlog_row_metadata")" = MINIMAL &&
  mariadb_sql "CREATE DATABASE m; CREATE TABLE m.t (k2 INT, name VARCHAR(20), k1 INT, PRIMARY KEY (k1, k2))" &&
  from=$(mariadb_binlog_pos) && echo "$from" >from &&
  mariadb_sql "INSERT INTO m.t VALUES (1, \"one\", 10); UPDATE m.t SET name = \"uno\" WHERE k1 = 10"
'

test_expect_success 'names and the composite key come from information_schema' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$(cat from)" --limit 2 >out 2>err &&
  python3 - out <<-\PY
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	assert ev[0]["type"] == "insert" and ev[0]["after"] == {"k2": 1, "name": "one", "k1": 10}, ev[0]
	assert list(ev[0]["key"].items()) == [("k1", 10), ("k2", 1)], ev[0]["key"]
	assert ev[1]["type"] == "update" and ev[1]["changed"] == ["name"], ev[1]
	PY
'

test_expect_success 'a warning says why and how to get names from the binlog' '
  test_grep "binlog_row_metadata=MINIMAL" err &&
  test_grep "binlog_row_metadata=FULL" err &&
  test "$(grep -c MINIMAL err)" = 1
'

test_expect_success 'after ALTER TABLE the new column has its name' '
  from=$(mariadb_binlog_pos) &&
  mariadb_sql "INSERT INTO m.t VALUES (2, \"two\", 20); ALTER TABLE m.t ADD COLUMN extra INT; INSERT INTO m.t VALUES (3, \"three\", 30, 7)" &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$from" --limit 3 >out 2>err &&
  python3 - out <<-\PY
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	assert ev[1]["type"] == "statement" and ev[1]["kind"] == "ddl", ev[1]
	assert ev[2]["after"] == {"k2": 3, "name": "three", "k1": 30, "extra": 7}, ev[2]
	PY
'

test_done
