#!/usr/bin/env bash
# The type matrix: one table per type family, filled with edge values (the
# minimum and maximum of every type, zero and invalid dates, empty ENUM and
# SET values, NUL bytes, four-byte UTF-8, latin1, a megabyte of text, every
# geometry, ENUM and SET labels in other charsets) and a row of NULLs; every
# row is inserted, updated (each row takes the values of the next one, so
# every column changes) and deleted. Then every value of every image that
# binhook tail prints is compared with what the server itself returns by
# SELECT for the same row, per the value mapping of docs/DESIGN.md
# (t/lib/rowcheck.py does the comparing).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

ROWCHECK="python3 $TOP/t/lib/rowcheck.py"
TABLES="ints decimals floats temporal strings binaries enumset enumset_charsets geometry geo_multipoint geo_numbers geo_empty"

# Every session that writes: dates as the server keeps them (zero and
# partial dates, invalid ENUM values), TIMESTAMP in UTC.
SESSION="SET sql_mode = ''; SET time_zone = '+00:00';"

# Statements written to the binlog as statement events, counted for --limit.
ddl_count=0

cat >schema.sql <<EOF
$SESSION
CREATE DATABASE ty;
CREATE TABLE ty.ints (
  id BIGINT UNSIGNED PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED);
CREATE TABLE ty.decimals (
  id INT PRIMARY KEY,
  d65 DECIMAL(65,30), d10 DECIMAL(10,0), d52 DECIMAL(5,2), d55 DECIMAL(5,5),
  d2010 DECIMAL(20,10), d18 DECIMAL(18,9), du DECIMAL(12,4) UNSIGNED,
  d6538 DECIMAL(65,38), d1 DECIMAL(1,0));
CREATE TABLE ty.floats (
  id INT PRIMARY KEY,
  f FLOAT, d DOUBLE, f73 FLOAT(7,3), d102 DOUBLE(10,2));
CREATE TABLE ty.temporal (
  id INT PRIMARY KEY,
  d DATE, y YEAR,
  t0 TIME(0), t1 TIME(1), t2 TIME(2), t3 TIME(3), t4 TIME(4), t5 TIME(5), t6 TIME(6),
  dt0 DATETIME(0), dt1 DATETIME(1), dt2 DATETIME(2), dt3 DATETIME(3), dt4 DATETIME(4),
  dt5 DATETIME(5), dt6 DATETIME(6),
  ts0 TIMESTAMP(0) NULL, ts1 TIMESTAMP(1) NULL, ts2 TIMESTAMP(2) NULL, ts3 TIMESTAMP(3) NULL,
  ts4 TIMESTAMP(4) NULL, ts5 TIMESTAMP(5) NULL, ts6 TIMESTAMP(6) NULL);
CREATE TABLE ty.strings (
  id INT PRIMARY KEY,
  c CHAR(10) CHARACTER SET utf8mb4, big CHAR(255) CHARACTER SET utf8mb4,
  vs VARCHAR(20) CHARACTER SET utf8mb4, v VARCHAR(300) CHARACTER SET utf8mb4,
  l1 VARCHAR(20) CHARACTER SET latin1, l1c CHAR(5) CHARACTER SET latin1,
  u3 VARCHAR(20) CHARACTER SET utf8mb3, cp VARCHAR(20) CHARACTER SET cp1251,
  u16 VARCHAR(20) CHARACTER SET utf16, sj VARCHAR(20) CHARACTER SET sjis,
  tx TEXT CHARACTER SET utf8mb4, mt MEDIUMTEXT CHARACTER SET utf8mb4,
  lt LONGTEXT CHARACTER SET latin1, js JSON);
CREATE TABLE ty.binaries (
  id INT PRIMARY KEY,
  b4 BINARY(4), b1 BINARY(1), vb VARBINARY(300), tb TINYBLOB, bl BLOB,
  mb MEDIUMBLOB, lb LONGBLOB);
CREATE TABLE ty.enumset (
  id INT PRIMARY KEY,
  e ENUM('a','b','c','é'), e2 ENUM($(seq -f "'v%g'" -s, 1 300)),
  s SET('a','b','c','d'), s64 SET($(seq -f "'l%g'" -s, 1 64)),
  b1 BIT(1), b8 BIT(8), b10 BIT(10), b64 BIT(64));
CREATE TABLE ty.enumset_charsets (
  id INT PRIMARY KEY,
  e ENUM('é','€','b') CHARACTER SET latin1, s SET('ÿ','x','€') CHARACTER SET latin1,
  u ENUM('я','b') CHARACTER SET cp1251);
CREATE TABLE ty.geometry (
  id INT PRIMARY KEY,
  g GEOMETRY, p POINT, ls LINESTRING, pg POLYGON,
  ml MULTILINESTRING, mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION);
CREATE TABLE ty.geo_multipoint (id INT PRIMARY KEY, mp MULTIPOINT, g GEOMETRY);
CREATE TABLE ty.geo_numbers (id INT PRIMARY KEY, g GEOMETRY);
CREATE TABLE ty.geo_empty (id INT PRIMARY KEY, g GEOMETRY);
EOF
ddl_count=$((ddl_count + 1 + $(echo $TABLES | wc -w)))

# Row 3 of every table is the row of NULLs.
cat >rows.sql <<'EOF'
INSERT INTO ty.ints VALUES
  (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0),
  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
      9223372036854775807, 18446744073709551615),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1),
  (18446744073709551615, 0, 128, -129, 32768, -8388607, 8388608, -65536, 2147483648,
      -4294967296, 9223372036854775808);

INSERT INTO ty.decimals VALUES
  (1, 99999999999999999999999999999999999.999999999999999999999999999999, 9999999999, 999.99,
      0.99999, 9999999999.9999999999, 999999999.999999999, 99999999.9999,
      999999999999999999999999999.99999999999999999999999999999999999999, 9),
  (2, -99999999999999999999999999999999999.999999999999999999999999999999, -9999999999, -999.99,
      -0.99999, -9999999999.9999999999, -999999999.999999999, 0,
      -999999999999999999999999999.99999999999999999999999999999999999999, -9),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, -0.000000000000000000000000000001, -1, -12.30, -0.00001, 0.0000000001, -0.000000001,
      0.0001, 0.00000000000000000000000000000000000001, 0),
  (5, 0, 0, 0.05, 0, -100.5, 123456789.123456789, 1.5, -0.5, 1),
  (6, 1000000000.000000001, 1000000000, -1.00, 0.1, -1234567890.0123456789, 100000000.000000001,
      12345678.0001, 1.00000000000000000000000000000000000001, -1);

INSERT INTO ty.floats VALUES
  (1, 3.40282347e38, 1.7976931348623157e308, 9999.999, 99999999.99),
  (2, 1.17549435e-38, 2.2250738585072014e-308, 0.001, 0.01),
  (3, NULL, NULL, NULL, NULL),
  (4, -3.40282347e38, -1.7976931348623157e308, -9999.999, -99999999.99),
  (5, 0, 0, 0, 0),
  (6, 0.1, 0.1, 0.1, 0.1),
  (7, -1.17549435e-38, -2.2250738585072014e-308, -1.5, -1.25),
  (8, 16777217, 123456789012345678, 3.142, 3.14),
  (9, 1.4e-45, 4.9e-324, 1.001, 2.5);

INSERT INTO ty.temporal VALUES
  (1, '1000-01-01', 1901,
      '-838:59:59', '-838:59:59.9', '-838:59:59.99', '-838:59:59.999', '-838:59:59.9999',
      '-838:59:59.99999', '-838:59:59.999999',
      '1000-01-01 00:00:00', '1000-01-01 00:00:00.1', '1000-01-01 00:00:00.01',
      '1000-01-01 00:00:00.001', '1000-01-01 00:00:00.0001', '1000-01-01 00:00:00.00001',
      '1000-01-01 00:00:00.000001',
      '1970-01-01 00:00:01', '1970-01-01 00:00:01.1', '1970-01-01 00:00:01.01',
      '1970-01-01 00:00:01.001', '1970-01-01 00:00:01.0001', '1970-01-01 00:00:01.00001',
      '1970-01-01 00:00:01.000001'),
  (2, '9999-12-31', 2155,
      '838:59:59', '838:59:59.000000', '838:59:59.000000', '838:59:59.000000', '838:59:59.000000',
      '838:59:59.000000', '838:59:59.000000',
      '9999-12-31 23:59:59', '9999-12-31 23:59:59.9', '9999-12-31 23:59:59.99',
      '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.9999', '9999-12-31 23:59:59.99999',
      '9999-12-31 23:59:59.999999',
      '2038-01-19 03:14:07', '2038-01-19 03:14:07.9', '2038-01-19 03:14:07.99',
      '2038-01-19 03:14:07.999', '2038-01-19 03:14:07.9999', '2038-01-19 03:14:07.99999',
      '2038-01-19 03:14:07.999999'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, '0000-00-00', 0,
      '00:00:00', '00:00:00', '00:00:00', '00:00:00', '00:00:00', '00:00:00', '00:00:00',
      '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
      '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
      0, 0, 0, 0, 0, 0, 0),
  (5, '2024-05-06', 2024,
      '-01:02:03.456789', '-01:02:03.456789', '-01:02:03.456789', '-01:02:03.456789',
      '-01:02:03.456789', '-01:02:03.456789', '-01:02:03.456789',
      '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901',
      '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901',
      '2024-01-02 03:04:05.678901',
      '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901',
      '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901',
      '2024-01-02 03:04:05.678901'),
  (6, '2024-00-15', 1970,
      '-00:00:01', '-00:00:00.5', '-00:00:00.05', '-00:00:00.005', '-00:00:00.0005',
      '-00:00:00.00005', '-00:00:00.000001',
      '2024-00-10 11:12:13', '2024-05-00 11:12:13.5', '2024-00-00 11:12:13.05',
      '2024-00-10 11:12:13.005', '2024-00-10 11:12:13.0005', '2024-00-10 11:12:13.00005',
      '2024-00-10 11:12:13.000005',
      '1999-12-31 23:59:59', '1999-12-31 23:59:59.5', '1999-12-31 23:59:59.05',
      '1999-12-31 23:59:59.005', '1999-12-31 23:59:59.0005', '1999-12-31 23:59:59.00005',
      '1999-12-31 23:59:59.000005');
-- Written in another time zone: the events must show it in UTC.
SET time_zone = '+05:30';
INSERT INTO ty.temporal VALUES
  (7, '0001-01-01', 2000,
      '100:00:00', '100:00:00.1', '-100:00:00.01', '24:00:00.001', '-24:00:00.0001',
      '34:56:07.00001', '-34:56:07.123456',
      '0001-01-01 00:00:00', '0001-01-01 00:00:00.1', '0001-01-01 00:00:00.01',
      '0001-01-01 00:00:00.001', '0001-01-01 00:00:00.0001', '0001-01-01 00:00:00.00001',
      '0001-01-01 00:00:00.000001',
      '2024-01-02 03:04:05', '2024-01-02 03:04:05.5', '2024-01-02 03:04:05.25',
      '2024-01-02 03:04:05.125', '2024-01-02 03:04:05.0625', '2024-01-02 03:04:05.03125',
      '2024-01-02 03:04:05.015625');
SET time_zone = '+00:00';

INSERT INTO ty.strings VALUES
  (1, '😀é', REPEAT('é', 255), 'héllo 😀', REPEAT('x😀', 150),
      'é€ÿ', 'àé', '€uro ☃', 'Привет', '😀 Ω', '日本語テキスト',
      CONCAT('a', CHAR(9), 'b', CHAR(10), 'c\\d"', ''''), REPEAT('0123456789abcdé', 65536),
      CONCAT('Ÿ€', REPEAT('é', 300000)), '{"a": [1, 2.5, "x"], "b": null}'),
  (2, '', '', '', '', '', '', '', '', '', '', '', '', '', '[]'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'ab  ', 'x ', 'trailing  ', CONCAT('nul', CHAR(0), 'end'), 'ÿ ', 'Ÿ', '☃ ', 'ёж ',
      ' 𝄞 ', '半角ｶﾅ', CONCAT('nul', CHAR(0), 'end'), REPEAT('é', 524288),
      CONVERT(_latin1 X'8081FF' USING latin1), '"text"');

INSERT INTO ty.binaries VALUES
  (1, X'00010000', X'00', X'00FF00', X'FFFE', X'', REPEAT(X'00FF', 524288), X'C328'),
  (2, X'61620000', X'FF', X'', X'', X'00', X'', X''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, X'00000000', X'20', X'20', X'00', UNHEX(REPEAT('00', 1000)), X'01', REPEAT('x', 70000)),
  (5, X'61202020', X'01', REPEAT(X'AB', 300), X'F09F9880', X'0A09', X'00', X'FFFFFFFF');

-- 'zz' is no label and 0 is index 0: both store the empty value.
INSERT INTO ty.enumset VALUES
  (1, 'zz', 'v1', '', '', b'0', b'0', b'0', 0),
  (2, 'é', 'v300', 'a,b,c,d',
      'l1,l2,l3,l4,l5,l6,l7,l8,l9,l10,l11,l12,l13,l14,l15,l16,l17,l18,l19,l20,l21,l22,l23,l24,l25,l26,l27,l28,l29,l30,l31,l32,l33,l34,l35,l36,l37,l38,l39,l40,l41,l42,l43,l44,l45,l46,l47,l48,l49,l50,l51,l52,l53,l54,l55,l56,l57,l58,l59,l60,l61,l62,l63,l64',
      b'1', b'11111111', b'1111111111',
      b'1111111111111111111111111111111111111111111111111111111111111111'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'b', 'v256', 'b,d', 'l1,l64', b'1', b'10000000', b'1010101010',
      b'1000000000000000000000000000000000000000000000000000000000000000'),
  (5, 3, 0, 5, 'l8,l9,l33', b'0', b'1', b'1000000000', 1);

-- Labels in the binlog are in the column's charset.
INSERT INTO ty.enumset_charsets VALUES
  (1, 'é', 'ÿ,x', 'я'),
  (2, '€', '', 'b'),
  (3, NULL, NULL, NULL),
  (4, 'b', 'ÿ,x,€', 'я');

INSERT INTO ty.geometry VALUES
  (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POINT(-1.5 0.25)'),
      ST_GeomFromText('LINESTRING(0 0,1 1,2 0.5)'),
      ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 3,2 2))'),
      ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3,4 5))'),
      ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5),(5.5 5.2,5.8 5.2,5.8 5.5,5.5 5.2)))'),
      ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))')),
  (2, ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326), ST_GeomFromText('POINT(0.1 -0.2)'),
      ST_GeomFromText('LINESTRING(-180 -90,180 90)'),
      ST_GeomFromText('POLYGON((1 1,2 1,2 2,1 1))'),
      ST_GeomFromText('MULTILINESTRING((1 2,3 4))'),
      ST_GeomFromText('MULTIPOLYGON(((1 1,2 1,2 2,1 1)))'),
      ST_GeomFromText('GEOMETRYCOLLECTION(POLYGON((0 0,1 0,1 1,0 0)),GEOMETRYCOLLECTION(POINT(3 4)))')),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(7 8))'), ST_GeomFromText('POINT(123456.789 -0.000123)'),
      ST_GeomFromText('LINESTRING(1.25 2.5,3.75 5)'),
      ST_GeomFromText('POLYGON((0 0,3 0,3 3,0 3,0 0),(1 1,2 1,2 2,1 1),(0.5 0.5,0.6 0.5,0.6 0.6,0.5 0.5))'),
      ST_GeomFromText('MULTILINESTRING((9 9,8 8),(7 7,6 6),(5 5,4 4))'),
      ST_GeomFromText('MULTIPOLYGON(((0 0,2 0,2 2,0 0)))'),
      ST_GeomFromText('GEOMETRYCOLLECTION(MULTILINESTRING((0 0,1 1)),MULTIPOLYGON(((0 0,1 0,1 1,0 0))))'));

-- MULTIPOINT: the server writes its points without parentheses.
INSERT INTO ty.geo_multipoint VALUES
  (1, ST_GeomFromText('MULTIPOINT(1 1,2 2)'), ST_GeomFromText('MULTIPOINT(0 0,1.5 -1.5,3 3)')),
  (2, ST_GeomFromText('MULTIPOINT(-1 -1)'),
      ST_GeomFromText('GEOMETRYCOLLECTION(MULTIPOINT(1 1,2 2),POINT(3 3))')),
  (3, NULL, NULL);

-- Coordinates the server writes in its own number format: exponents without
-- a plus sign, small numbers in full, no negative zero.
INSERT INTO ty.geo_numbers VALUES
  (1, ST_GeomFromText('POINT(1e20 0.1)')),
  (2, ST_GeomFromText('POINT(0.0000001 -123456789012345678)')),
  (3, NULL),
  (4, ST_GeomFromText('POINT(-0 1)')),
  (5, ST_GeomFromText('LINESTRING(1e-300 2,3 -4.5e300)'));

INSERT INTO ty.geo_empty VALUES
  (1, ST_GeomFromText('GEOMETRYCOLLECTION EMPTY')),
  (2, ST_GeomFromText('POINT(1 1)')),
  (3, NULL);
EOF

# update_rows TABLE: each row of ty.TABLE takes every value but the key of the
# row with the next key (the last row those of the first), in one UPDATE.
update_rows () {
  mariadb_sql "$SESSION
    SET SESSION sql_log_bin = 0;
    CREATE TABLE ty.stage LIKE ty.$1;
    INSERT INTO ty.stage SELECT * FROM ty.$1;
    SET SESSION sql_log_bin = 1;
    SET @sets = (SELECT GROUP_CONCAT(CONCAT('d.\`', COLUMN_NAME, '\` = s.\`', COLUMN_NAME, '\`')
                                     ORDER BY ORDINAL_POSITION)
                 FROM information_schema.COLUMNS
                 WHERE TABLE_SCHEMA = 'ty' AND TABLE_NAME = '$1' AND COLUMN_NAME <> 'id');
    SET @q = CONCAT('UPDATE ty.$1 d JOIN ty.stage s ON s.id = COALESCE(',
                    '(SELECT MIN(n.id) FROM ty.stage n WHERE n.id > d.id), (SELECT MIN(id) FROM ty.stage)) ',
                    'SET ', @sets);
    PREPARE st FROM @q;
    EXECUTE st;
    SET SESSION sql_log_bin = 0;
    DROP TABLE ty.stage;"
}

# The snapshots of every table after the inserts and after the updates; the
# number of changes (a statement event per DDL, three events per row).
write_rows () {
  local t n
  { echo "$SESSION"; cat rows.sql; } >insert.sql &&
  mariadb_sql <schema.sql &&
  mariadb_sql <insert.sql || return 1
  nrows=0
  for t in $TABLES; do
    $ROWCHECK snapshot "ty.$t" "$t.ins.json" &&
    n=$(mariadb_sql "SELECT COUNT(*) FROM ty.$t") || return 1
    nrows=$((nrows + n))
  done
  for t in $TABLES; do
    update_rows "$t" &&
    $ROWCHECK snapshot "ty.$t" "$t.upd.json" || return 1
  done
  for t in $TABLES; do
    mariadb_sql "DELETE FROM ty.$t" &&
    test "$(mariadb_sql "SELECT COUNT(*) FROM ty.$t")" = 0 || return 1
  done
  nchanges=$((ddl_count + 3 * nrows))
  echo "$nrows rows, $nchanges changes"
}

test_expect_success 'set up: every type family inserted, updated and deleted' '
  write_rows
'

test_expect_success 'binhook tail reads every change from the server' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from start --limit "$nchanges" >events.ndjson &&
  test "$(wc -l <events.ndjson)" = "$nchanges" &&
  test "$(grep -c "\"type\":\"statement\"" events.ndjson)" = "$ddl_count"
'

check_family () {
  $ROWCHECK check events.ndjson "ty.$1" insert="$1.ins.json" update="$1.ins.json,$1.upd.json" \
    delete="$1.upd.json"
}

test_expect_success 'TINYINT to BIGINT, signed and unsigned: exact integers, minimum and maximum' '
  check_family ints
'

test_expect_success 'DECIMAL: the server text, with the column scale, negative, DECIMAL(65,30)' '
  check_family decimals
'

test_expect_success 'FLOAT and DOUBLE: the same values, extremes, zero and 0.1' '
  check_family floats
'

test_expect_success 'FLOAT and DOUBLE print the shortest text that reads back (denormals too)' '
  $ROWCHECK floats events.ndjson floats.ins.json
'

test_expect_success 'DATE, YEAR, TIME, DATETIME and TIMESTAMP at every precision, zero dates, UTC' '
  check_family temporal
'

test_expect_success 'CHAR, VARCHAR and TEXT in utf8mb4, latin1, cp1251, utf16, sjis: UTF-8 text' '
  check_family strings
'

test_expect_success 'BINARY, VARBINARY and BLOB: base64 of the bytes, NUL bytes kept' '
  check_family binaries
'

test_expect_success 'ENUM (empty value, 300 labels), SET (empty, 64 labels) and BIT(1..64)' '
  check_family enumset
'

# At the time of writing the labels come out as they are in the binlog, in the
# column's charset, and so as U+FFFD.
test_expect_success 'ENUM and SET labels of latin1 and cp1251 columns: UTF-8' '
  check_family enumset_charsets
'

test_expect_success 'GEOMETRY of every kind: the WKT the server prints' '
  check_family geometry
'

# Kept apart from the test above, so that it shows the rest of the geometry:
# the WKT where binhook and the server disagree at the time of writing
# (MULTIPOINT members in parentheses, "1e+20", "1e-07" and "-0" coordinates,
# "GEOMETRYCOLLECTION()" for the empty collection).
test_expect_success 'GEOMETRY: MULTIPOINT as the server prints it, alone or in a collection' '
  check_family geo_multipoint
'

test_expect_success 'GEOMETRY: coordinates in the number format of the server' '
  check_family geo_numbers
'

test_expect_success 'GEOMETRY: the empty collection as the server prints it' '
  check_family geo_empty
'

# The row of NULLs (id 3) as inserted, and as the update found it.
check_null_rows () {
  python3 - "$1" "$(echo $TABLES | wc -w)" <<\EOF
import json, sys
bad = seen = 0
for line in open(sys.argv[1], encoding="utf-8"):
    ev = json.loads(line)
    img = {"insert": "after", "update": "before"}.get(ev["type"])
    row = ev.get(img) if img else None
    if not row or row.get("id") != 3:
        continue
    seen += 1
    for col, v in row.items():
        if col != "id" and v is not None:
            print("%s.%s id=3 %s %s.%s: expected null, got %s" % (
                ev["schema"], ev["table"], ev["type"], img, col, json.dumps(v)[:80]))
            bad += 1
print("%d images of the rows of NULLs" % seen)
sys.exit(1 if bad or seen != 2 * int(sys.argv[2]) else 0)
EOF
}

test_expect_success 'the rows of NULLs are null in every column, whatever the type' '
  check_null_rows events.ndjson &&
  test "$(grep -c "\"key\":{\"id\":3}" events.ndjson)" = $((3 * $(echo $TABLES | wc -w)))
'

test_expect_success 'the binlog file decoded offline gives the same events' '
  "$BINHOOK" tail --binlog "$MYSQL_DATADIR"/binlog.000001 >offline.ndjson &&
  test_cmp events.ndjson offline.ndjson
'

# Written after the tests above read the binlog, so that a crash here spoils
# nothing else: an empty string in a charset converted with iconv, as the
# first text of the row (at the time of writing, binhook dies of SIGSEGV).
EMPTY_FIRST_SQL="CREATE TABLE ty.empty_first (id INT PRIMARY KEY,
                   cp VARCHAR(10) CHARACTER SET cp1251, u16 VARCHAR(10) CHARACTER SET utf16);
                 INSERT INTO ty.empty_first VALUES (1, '', ''), (2, 'ж', '😀');"

test_expect_success 'an empty cp1251 or utf16 string as the first text of a row' '
  pos=$(mariadb_binlog_pos) &&
  mariadb_sql "$EMPTY_FIRST_SQL" &&
  $ROWCHECK snapshot ty.empty_first empty_first.json &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$pos" --limit 3 >empty_first.ndjson &&
  $ROWCHECK check empty_first.ndjson ty.empty_first insert=empty_first.json
'

test_done
