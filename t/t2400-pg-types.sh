#!/usr/bin/env bash
# The PostgreSQL type matrix: one table with a column of every type the
# value mapping names (integers, numeric, floats, text, bytea, bool, uuid,
# json, jsonb, dates and times, interval, an enum, inet, arrays of several
# element types, two-dimensional and with other bounds), filled with
# typical values, extremes, Unicode, nested JSON, NaN and infinities, and a
# row of NULLs; every row is inserted, then deleted under REPLICA IDENTITY
# FULL. Every value binhook tail prints, of the inserts' after images and of
# the deletes' before images, must equal what the server itself returns for
# the row by to_json (t/lib/pgcheck.py compares).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"

require_cmd python3
pg_start || test_skip_all 'cannot start postgres'

PGCHECK="python3 $TOP/t/lib/pgcheck.py"
NROWS=6

# The server's own values, said the way the mapping says them: bytea in
# base64, numeric as text; intervals in ISO 8601 and times in UTC, as
# binhook's session reads them.
EXPECTED_SQL="SET intervalstyle = iso_8601; SET timezone = 'UTC';
SELECT json_agg(x ORDER BY id) FROM (SELECT id, i2, i4, i8, n::text AS n, n52::text AS n52, f4, f8, t, vc, c,
  translate(encode(b, 'base64'), E'\n', '') AS b, bo, u, j, jb, d, ts, tstz, tm, iv, m, ip,
  ai, at, a2, CASE WHEN an IS NOT NULL THEN ARRAY(SELECT e::text FROM unnest(an) e) END AS an,
  ajb, am, ats, af8 FROM ty) x"

cat >schema.sql <<'EOF'
CREATE PUBLICATION binhook FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('binhook', 'pgoutput');
CREATE TYPE mood AS ENUM ('sad', 'ok', 'très bien');
CREATE TABLE ty (
  id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric, n52 numeric(5,2), f4 float4, f8 float8,
  t text, vc varchar(20), c char(5), b bytea, bo bool, u uuid, j json, jb jsonb,
  d date, ts timestamp(3), tstz timestamptz, tm time, iv interval, m mood, ip inet,
  ai int[], at text[], a2 int[][], an numeric[], ajb jsonb[], am mood[], ats timestamptz[], af8 float8[]);
EOF

cat >rows.sql <<'EOF'
SET timezone = 'Europe/Paris';
INSERT INTO ty VALUES (1, 1, 2, 3, 12.30, 1.5, 1.1, 0.1, 'plain', 'vc', 'ab', '\x0102ff',
  true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, {"b": null}], "c": "d"}',
  '{"k": {"deep": [true, false, {"x": "y"}]}, "n": 1.0}', '2024-05-06',
  '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.5+02', '13:14:15.123456',
  '1 year 2 mons 3 days 04:05:06.5', 'ok', '192.168.1.0/24',
  '{1,NULL,3}', '{"a,b","q\"uote","back\\\\slash",NULL,"NULL","",x y}', '{{1,2},{3,4}}',
  '{1.10,NULL,-2}', ARRAY['{"a": 1}'::jsonb, '[1, "two"]'], '{sad,"très bien"}',
  ARRAY['2024-01-02 03:04:05+00'::timestamptz, NULL], '{1.5,-0,NaN,Infinity}');
INSERT INTO ty VALUES (2, -32768, 2147483647, -9223372036854775808,
  -123456789012345678901234567890.123456789012345678901234567890, -999.99, 3.4028235e38,
  1.7976931348623157e308, '😀 ñ 中文 "quoted" \ back, tab	end', '𝔘nicode', 'é', '\x00',
  false, '00000000-0000-0000-0000-000000000000', '[]', '{"a": {"b": {"c": {"d": [[[]]]}}}, "u": "é\u00e9"}',
  '0044-03-15 BC', 'infinity', '-infinity', '24:00:00',
  '-1 year -2 mons +3 days -04:05:06.789', 'sad', '::1',
  '[0:1]={5,6}', '{}', '{{NULL,2},{3,NULL}}', '{}', '{}', '{}', '{}',
  '{-Infinity,5e-324}');
INSERT INTO ty (id) VALUES (3);
INSERT INTO ty (id, i2, i4, i8, n, f4, f8, t, b, ts, tstz, iv) VALUES (4, 32767, -2147483648,
  9223372036854775807, 'NaN', 'NaN', '-Infinity', '', '\x',
  '0044-03-15 12:00:00 BC', '1999-12-31 23:59:59.999999+00', '0');
INSERT INTO ty (id, n, f4, f8, t) VALUES (5, 0.000000000000000000001, 1e-45, 5e-324, repeat('long ', 4000));
INSERT INTO ty (id, n, f4, f8, jb, j) VALUES (6, -0.5, -1.17549435e-38, 2.2250738585072014e-308,
  '"just a string"', '  {  "spaced" :  [ 1 , 2 ]  ,"s":" in  string "}  ');
EOF

test_expect_success 'set up: every type inserted, then deleted with its whole row' '
  pg_sql <schema.sql >/dev/null &&
  pg_sql <rows.sql &&
  pg_sql "$EXPECTED_SQL" >expected.json &&
  pg_sql "ALTER TABLE ty REPLICA IDENTITY FULL" &&
  pg_sql "DELETE FROM ty"
'

test_expect_success 'binhook tail reads every insert and delete from the slot' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit $((2 * NROWS)) >events.ndjson &&
  test "$(wc -l <events.ndjson)" = $((2 * NROWS)) &&
  test "$(grep -c "\"type\":\"insert\"" events.ndjson)" = $NROWS &&
  test "$(grep -c "\"type\":\"delete\"" events.ndjson)" = $NROWS
'

test_expect_success 'every inserted value equals the server'"'"'s own (to_json)' '
  $PGCHECK rows events.ndjson expected.json insert after
'

test_expect_success 'REPLICA IDENTITY FULL: each delete carries the whole old row, every value equal' '
  $PGCHECK rows events.ndjson expected.json delete before
'

test_expect_success 'the key is the primary key, also under REPLICA IDENTITY FULL' '
  python3 -c "
import json, sys
for line in open(\"events.ndjson\"):
    ev = json.loads(line)
    img = ev[\"after\"] if ev[\"type\"] == \"insert\" else ev[\"before\"]
    assert ev[\"key\"] == {\"id\": img[\"id\"]}, line
"
'

test_expect_success 'ids are the commit LSN with the index in the transaction, each one unique' '
  python3 -c "
import json, re
ids = [json.loads(l)[\"id\"] for l in open(\"events.ndjson\")]
assert len(set(ids)) == len(ids), ids
for i in ids:
    assert re.match(r\"^[0-9A-F]+/[0-9A-F]+:[0-9]+/[0-9]+$\", i), i
" &&
  grep "\"type\":\"delete\"" events.ndjson | python3 -c "
import json, sys
ids = [json.loads(l)[\"id\"] for l in sys.stdin]
# one DELETE statement: one transaction, indexes 0..n-1
assert len({i.rsplit(\"/\", 1)[0] for i in ids}) == 1, ids
assert sorted(int(i.rsplit(\"/\", 1)[1]) for i in ids) == list(range(len(ids))), ids
"
'

test_done
