#!/usr/bin/env bash
# Rows written before, between and after ALTER TABLE statements (ADD COLUMN,
# DROP COLUMN, MODIFY to another type, size, charset or ENUM labels, reorders
# with FIRST and AFTER, a rename), across two binlog files, then read in one
# pass, live from the start and offline from the files: every row must decode
# with the column names, order and values of the schema in force when it was
# written, as the server returned them by SELECT at that time.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

ROWCHECK="python3 $TOP/t/lib/rowcheck.py"
SESSION="SET sql_mode = ''; SET time_zone = '+00:00';"

# What the stream must hold, recorded as the changes are made: the steps of
# rowcheck.py check, the expected sequence of events (one line each), and the
# number of changes.
steps=()
nchanges=0
: >expect.seq

run_sql () {
  mariadb_sql "$SESSION $1"
}

# do_insert ID SET-LIST: inserts the row, then reads it back.
do_insert () {
  run_sql "INSERT INTO ta.alt SET id = $1, $2" &&
  $ROWCHECK snapshot ta.alt "row$1.$nchanges.json" "id = $1" || return 1
  steps+=("insert=row$1.$nchanges.json")
  echo "insert id=$1" >>expect.seq
  nchanges=$((nchanges + 1))
}

# do_update ID SET-LIST: the row as it is before and after the update.
do_update () {
  local b="row$1.$nchanges.before.json" a="row$1.$nchanges.after.json"
  $ROWCHECK snapshot ta.alt "$b" "id = $1" &&
  run_sql "UPDATE ta.alt SET $2 WHERE id = $1" &&
  $ROWCHECK snapshot ta.alt "$a" "id = $1" || return 1
  steps+=("update=$b,$a")
  echo "update id=$1" >>expect.seq
  nchanges=$((nchanges + 1))
}

do_delete () {
  local b="row$1.$nchanges.before.json"
  $ROWCHECK snapshot ta.alt "$b" "id = $1" &&
  run_sql "DELETE FROM ta.alt WHERE id = $1" || return 1
  steps+=("delete=$b")
  echo "delete id=$1" >>expect.seq
  nchanges=$((nchanges + 1))
}

# do_ddl SQL: a statement event.
do_ddl () {
  run_sql "$1" || return 1
  echo "statement $1" >>expect.seq
  nchanges=$((nchanges + 1))
}

write_history () {
  do_ddl "CREATE DATABASE ta" &&
  do_ddl "CREATE TABLE ta.alt (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(10), c CHAR(5),
            l VARCHAR(10) CHARACTER SET latin1, t DATETIME, e ENUM('x','y'))" &&
  do_insert 1 "a = -5, b = 'short', c = 'cc', l = 'été', t = '2024-01-02 03:04:05', e = 'x'" &&
  do_insert 2 "a = 2147483647, b = '0123456789', c = NULL, l = '€', t = '0000-00-00 00:00:00', e = 'y'" &&

  do_ddl "ALTER TABLE ta.alt ADD COLUMN d DECIMAL(6,2) NOT NULL DEFAULT 1.50 AFTER a" &&
  do_insert 3 "a = -2147483648, d = -12.30, b = 'added', c = 'c3', l = 'ÿ', t = '1999-12-31 23:59:59'" &&
  do_update 1 "a = 10, d = 99.99, b = 'upd', c = 'c1', l = 'àé', t = '2000-01-01 00:00:00'" &&

  do_ddl "ALTER TABLE ta.alt DROP COLUMN c" &&
  do_insert 4 "a = 4, d = 4.40, b = 'dropped', l = 'x', t = '2004-04-04 04:04:04'" &&
  do_delete 2 &&

  do_ddl "ALTER TABLE ta.alt MODIFY a BIGINT, MODIFY b VARCHAR(100),
            MODIFY l VARCHAR(10) CHARACTER SET utf8mb4, MODIFY t DATETIME(6), MODIFY e ENUM('z','y','x')" &&
  do_insert 5 "a = 9223372036854775807, d = 0.05, b = REPEAT('😀', 100), l = '😀 ok',
               t = '2024-05-06 07:08:09.123456', e = 'z'" &&
  do_update 3 "a = -9223372036854775808, b = REPEAT('é', 99), l = '☃', t = '2024-12-31 23:59:59.999999'" &&

  # The server starts binlog.000002: table ids and maps start again.
  mariadb_sql "FLUSH BINARY LOGS" &&

  do_ddl "ALTER TABLE ta.alt MODIFY b VARCHAR(100) FIRST" &&
  do_insert 6 "b = 'b first', a = 6, d = 6.60, l = 'six', t = '2006-06-06 06:06:06.6'" &&
  do_update 4 "b = 'now first', a = 44, d = -4.40, l = 'four', t = NULL" &&

  do_ddl "ALTER TABLE ta.alt MODIFY id INT NOT NULL AFTER t, MODIFY d DECIMAL(6,2) NOT NULL DEFAULT 1.50 AFTER b" &&
  do_insert 7 "b = 'id last', d = 7.77, a = 7, l = 'seven', t = '2007-07-07 07:07:07'" &&
  do_delete 1 &&

  do_ddl "ALTER TABLE ta.alt RENAME COLUMN d TO dd, ADD COLUMN f0 TINYINT UNSIGNED DEFAULT 255 FIRST" &&
  do_insert 8 "f0 = 8, b = 'renamed', dd = 8.80, a = 8, l = 'eight', t = '2008-08-08 08:08:08'" &&
  do_update 5 "f0 = 0, dd = 5.55, a = -5" &&
  do_delete 3 &&
  echo "$nchanges changes"
}

test_expect_success 'set up: rows before, between and after ADD, DROP, MODIFY, reorders and a rename' '
  write_history &&
  test "$(mariadb_sql "SELECT COUNT(*) FROM ta.alt")" = 5 &&
  test "$(ls "$MYSQL_DATADIR"/binlog.00000? | wc -l)" = 2
'

# The events as one line each: "TYPE id=N" for rows, "statement SQL".
sequence () {
  python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    ev = json.loads(line)
    if ev["type"] == "statement":
        print("statement " + ev["sql"])
    else:
        print("%s id=%s" % (ev["type"], (ev.get("key") or {}).get("id")))
' "$1"
}

test_expect_success 'live, from the start: every change, in order' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from start --limit "$nchanges" >live.ndjson &&
  sequence live.ndjson >live.seq &&
  test_cmp expect.seq live.seq
'

test_expect_success 'live: each row has the names, order and values of its schema' '
  $ROWCHECK check live.ndjson ta.alt "${steps[@]}"
'

test_expect_success 'offline, both binlog files in one pass: every change, in order' '
  "$BINHOOK" tail --binlog "$MYSQL_DATADIR"/binlog.000001 "$MYSQL_DATADIR"/binlog.000002 >offline.ndjson &&
  sequence offline.ndjson >offline.seq &&
  test_cmp expect.seq offline.seq
'

test_expect_success 'offline: each row has the names, order and values of its schema' '
  $ROWCHECK check offline.ndjson ta.alt "${steps[@]}"
'

test_expect_success 'offline and live give the same events' '
  test_cmp live.ndjson offline.ndjson
'

test_done
