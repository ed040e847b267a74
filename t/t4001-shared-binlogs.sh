#!/usr/bin/env bash
# The shared binlog files ($SHARED/binlogs: MySQL 5.1 to 9.6 and MariaDB
# 10.5, see its README): binhook tail decodes every one of them (the
# truncated one fails cleanly, naming the file and the offset), and every
# row value agrees with what a reference decoder, Debian's mariadb-binlog,
# prints for the same file (t/lib/binlog_compare.py says how each type is
# compared). What mariadb-binlog cannot show (MySQL's JSON) is checked on
# its own; the files it stops on because of a zstd TRANSACTION_PAYLOAD or
# tagged GTIDs are compared through a copy with the payload expanded and the
# tags left out. A binlog with every column type, written by a private
# MariaDB, exercises the comparison rules the shared files do not reach.
# Run it under the sanitizers too (BINHOOK_BUILD=build-asan).
. "$(dirname "$0")/lib/test-lib.sh"

BINLOGS=$SHARED/binlogs
test -d "$BINLOGS" || test_skip_all "no shared binlogs: '$BINLOGS' is not there"
CMP="$TOP/t/lib/binlog_compare.py"
TRUNCATED=binlog_truncated_event.000001

# Why the values cannot be compared here, if they cannot.
no_compare=
if ! command -v python3 >/dev/null 2>&1; then
  no_compare="python3 is not installed"
elif ! command -v mariadb-binlog >/dev/null 2>&1; then
  no_compare="mariadb-binlog is not installed (Debian: mariadb-client)"
fi
no_python=
command -v python3 >/dev/null 2>&1 || no_python="python3 is not installed"

# Every file decodes: events on stdout, status 0, no sanitizer report.
for f in "$BINLOGS"/*; do
  n=${f##*/}
  if [ "$n" = "$TRUNCATED" ]; then
    test_expect_success "$n: binhook tail exits 1, naming the file and the offset" '
      test_exit_code 1 "$BINHOOK" tail --binlog "$f" >"$n.events" 2>"$n.err" &&
      cat "$n.err" &&
      test_grep -F "$n:4:" "$n.err" &&
      test_grep -i "trunc\|cut short" "$n.err" &&
      test "$(grep -c . "$n.err")" = 1 &&
      ! test -s "$n.events"
    '
    continue
  fi
  test_expect_success "$n: binhook tail decodes it" '
    test_exit_code 0 "$BINHOOK" tail --binlog "$f" >"$n.events" 2>"$n.err" &&
    cat "$n.err" &&
    test -s "$n.events"
  '
done

# The real check: row by row and value by value, against mariadb-binlog.
for f in "$BINLOGS"/*; do
  n=${f##*/}
  [ "$n" = "$TRUNCATED" ] && continue
  what="$n: every row value agrees with mariadb-binlog"
  if [ -n "$no_compare" ]; then
    test_skip "$what" "$no_compare"
  elif how=$(python3 "$CMP" readable "$f" 2>&1); then
    test_expect_success "$what (${how#mariadb-binlog reads it })" '
      python3 "$CMP" rows "$f" "$n.events"
    '
  else
    how=${how//$'\n'/; }
    test_skip "$what" "${how//#/}"
  fi
done

# What mariadb-binlog cannot show, and what the files are there for.
json=json.binlog.000001
what="$json: JSON columns are documents, not strings; partial updates are diffs that agree with the generated columns"
if [ -n "$no_python" ]; then
  test_skip "$what" "$no_python"
else
  # CREATE TABLE t(id INT PRIMARY KEY AUTO_INCREMENT, json_col JSON,
  #   name VARCHAR(100) AS (json_col->>'$.name'), age INT AS (json_col->'$.age')):
  # 6 inserts, 6 updates with full images, 6 partial JSON updates of $.age
  test_expect_success "$what" '
    python3 "$CMP" json "$json.events" mysql.t @2 @3=name @4=age >out &&
    cat out &&
    test_grep -F "18 row event(s) of mysql.t, 18 full JSON document(s), 6 partial diff(s)" out
  '
fi

comp=mysql-bin.compressed
what="$comp: the row inside the zstd payload, at the payload's offset"
if [ -n "$no_python" ]; then
  test_skip "$what" "$no_python"
else
  # One UPDATE of demo.movies, 11 columns, inside the TRANSACTION_PAYLOAD
  # event at 236 (the copy mariadb-binlog reads shows the same values).
  test_expect_success "$what" '
    python3 - "$comp.events" <<-\PY
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	rows = [e for e in ev if e["type"] in ("insert", "update", "delete")]
	assert len(rows) == 1, rows
	e = rows[0]
	assert (e["type"], e["schema"], e["table"]) == ("update", "demo", "movies"), e
	assert e["position"] == {"file": "mysql-bin.compressed", "pos": 236}, e["position"]
	assert list(e["before"]) == ["@%d" % i for i in range(1, 12)], e["before"]
	assert e["before"]["@2"] == "Once Upon a Time in the West", e["before"]
	assert e["before"]["@3"] == 1968 and e["after"]["@3"] == 1968, e
	assert e["before"]["@5"] == "Western" and e["after"]["@5"] == "Western|Action", e
	assert e["changed"] == ["@5"], e["changed"]
	PY
  '
fi

minimal=minimal_row_metadata.000001
test_expect_success "$minimal: columns are ordinals, with one notice on stderr" '
  cat "$minimal.err" &&
  test "$(grep -c . "$minimal.err")" = 1 &&
  test_grep "binlog_row_metadata=MINIMAL" "$minimal.err" &&
  test_grep -F "@1" "$minimal.err" &&
  test_grep -F "\"after\":{\"@1\":1,\"@3\":\"a\",\"@5\":3230202323}" "$minimal.events"
'

mdb=mariadb-bin.000001
test_expect_success "$mdb: the column names of its FULL metadata, and no notice" '
  ! test -s "$mdb.err" &&
  test "$(grep -c "\"type\":\"insert\"" "$mdb.events")" = 2 &&
  test_grep -F "\"key\":{\"id\":62},\"after\":{\"id\":62,\"topic\":\"foo\",\"event_type\":\"JSON\",\"event\":\"eyJmb28iOjF9\",\"created\":\"2022-04-20T22:18:04Z\"}" "$mdb.events" &&
  test_grep -F "\"key\":{\"id\":63},\"after\":{\"id\":63," "$mdb.events" &&
  ! grep -F "\"@" "$mdb.events"
'

# The comparison itself finds a difference, and says where.
what="the comparison reports a wrong value, naming the row and the column"
if [ -n "$no_compare" ]; then
  test_skip "$what" "$no_compare"
else
  want_topic="after @2 (topic): mariadb-binlog printed \"'foo'\" [VARSTRING(1020)]"
  test_expect_success "$what" '
    sed "1s/\"topic\":\"foo\"/\"topic\":\"fooo\"/; 2s/\"created\":\"2022-04-20T22:19:55Z\"/\"created\":\"2022-04-20T22:19:55\"/" \
      "$mdb.events" >wrong.events &&
    test_exit_code 1 python3 "$CMP" rows "$BINLOGS/$mdb" wrong.events >out &&
    cat out &&
    test_grep -F "row 1 (insert \`toddy_test\`.\`outbox\`" out &&
    test_grep -F "$want_topic" out &&
    test_grep -F "row 2 (insert" out &&
    test_grep -F "after @5 (created)" out &&
    test_grep -F "2 difference(s)" out
  '
fi

# Every column type, written by a private MariaDB with FULL metadata: the
# rules for the types the shared files do not have (FLOAT, DOUBLE, BIT,
# DATE, TIME, fractional seconds, GEOMETRY, charsets, 2-byte SETs...).
types_sql () {
  cat <<-\SQL
	SET time_zone = '+00:00'; SET sql_mode = '';
	CREATE DATABASE d; USE d;
	CREATE TABLE ty (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT,
	  su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
	  bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dec1 DECIMAL(10,2),
	  dec2 DECIMAL(30,10), dec3 DECIMAL(5,0), dec4 DECIMAL(65,30), b1 BIT(1), b10 BIT(10),
	  b64 BIT(64), dt DATE, tm TIME, tm3 TIME(3), tm6 TIME(6), dtm DATETIME, dtm6 DATETIME(6),
	  ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, y YEAR, e ENUM('a','b','c'),
	  s SET('x','y','z'), s9 SET('a','b','c','d','e','f','g','h','i'), c CHAR(10),
	  vc VARCHAR(100), l1 VARCHAR(20) CHARACTER SET latin1, u3 CHAR(3) CHARACTER SET utf8mb3,
	  bin BINARY(4), vb VARBINARY(10), tx TEXT, bl BLOB, g GEOMETRY, js JSON);
	INSERT INTO ty VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648,
	  4294967295, -9223372036854775808, 18446744073709551615, 3.14159, -2.718281828459045e-300,
	  '-12.30', '12345678901234567890.0123456789', 99999, '-0.000000000000000000000000000001',
	  b'1', b'1010101010', b'1111111111111111111111111111111111111111111111111111111111111111',
	  '2024-05-06', '-838:59:59', '12:34:56.789', '-00:00:00.000001', '2024-01-02 03:04:05',
	  '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05', '2038-01-19 03:14:07.999', 2155,
	  'b', 'x,z', 'a,i', 'ab c', 'it''s a \\ "q"\n\ttab é ü 中 😀', 'café', 'äöü',
	  x'00ff1027', x'5c78300a27', 'text €', x'deadbeef00',
	  ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))'),
	  '{"a":[1,2]}');
	INSERT INTO ty (id) VALUES (2);
	INSERT INTO ty VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -3.4028234e38, 1.7976931348623157e308,
	  0, 0, 0, 0, b'0', b'0', b'0', '0000-00-00', '00:00:00', '-00:00:00.5', '838:59:59.999999',
	  '0000-00-00 00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01',
	  '1970-01-01 00:00:01.5', 0, '', '', '', '', '', '', '', 'a\0', x'', '', '',
	  ST_GeomFromText('MULTIPOINT(1 2,3 4)'), 'null');
	INSERT INTO ty (id, f, d, dtm, dt, g) VALUES (4, 1.17549435e-38, 5e-324, '2024-00-00 00:00:00',
	  '2024-02-00', ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1.5 -2.25))'));
	INSERT INTO ty (id, f, d, g) VALUES (5, 123456.7, 0.1,
	  ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))'));
	INSERT INTO ty (id, g) VALUES (6, ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))'));
	UPDATE ty SET f = 1.5e-10, d = 0.1, vc = 'new', s9 = 'b,c,h' WHERE id = 1;
	DELETE FROM ty WHERE id = 2;
	SQL
}

what="a binlog with every column type: every value agrees with mariadb-binlog"
if [ -n "$no_compare" ]; then
  test_skip "$what" "$no_compare"
elif ! command -v "${MARIADBD:-/usr/sbin/mariadbd}" >/dev/null 2>&1; then
  test_skip "$what" "no mariadbd to write it (Debian: mariadb-server)"
elif ! { . "$TOP/t/lib/mariadb.sh" && mariadb_start; }; then
  test_skip "$what" "mariadbd does not start here"
else
  test_expect_success "$what" '
    file=$(mariadb_binlog_pos) && file=${file%%:*} &&
    types_sql | mariadb_sql &&
    mariadb_sql "FLUSH BINARY LOGS" &&
    cp "$MYSQL_DATADIR/$file" types.binlog &&
    test_exit_code 0 "$BINHOOK" tail --binlog types.binlog >types.events 2>types.err &&
    ! test -s types.err &&
    test "$(grep -c "\"type\":\"\(insert\|update\|delete\)\"" types.events)" = 8 &&
    python3 "$CMP" rows types.binlog types.events >out &&
    cat out &&
    test_grep -F "8 row(s) (6 insert, 1 update, 1 delete), 378 value(s)" out
  '
fi

test_done
