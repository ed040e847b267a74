#!/usr/bin/env bash
# ALTER TABLE in the middle of a PostgreSQL stream: rows written before,
# between and after ADD COLUMN, DROP COLUMN and a change of a column's type
# (a table rewrite), read in one pass afterwards: each row decodes with the
# columns and types of its own time, as the Relation messages the server
# sends before the first change that needs them say.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"

require_cmd python3
pg_start || test_skip_all 'cannot start postgres'

cat >changes.sql <<'EOF'
CREATE TABLE alt (id int PRIMARY KEY, a int, b text);
INSERT INTO alt VALUES (1, 10, 'x');
ALTER TABLE alt ADD COLUMN c numeric DEFAULT 1.5;
INSERT INTO alt VALUES (2, 20, 'y', 2.5);
UPDATE alt SET a = 11 WHERE id = 1;
ALTER TABLE alt DROP COLUMN b;
INSERT INTO alt VALUES (3, 30, 3.5);
ALTER TABLE alt ALTER COLUMN a TYPE text USING a::text || '!';
INSERT INTO alt VALUES (4, 'forty', 4.5);
UPDATE alt SET c = 9 WHERE id = 2;
ALTER TABLE alt ADD COLUMN d int[] DEFAULT '{1,2}', ALTER COLUMN c TYPE float8;
UPDATE alt SET c = 0.25 WHERE id = 4;
DELETE FROM alt WHERE id = 3;
EOF

# The images binhook must print, one "type image" line per change.
cat >expect <<'EOF'
insert {"id":1,"a":10,"b":"x"}
insert {"id":2,"a":20,"b":"y","c":"2.5"}
update {"id":1,"a":11,"b":"x","c":"1.5"}
insert {"id":3,"a":30,"c":"3.5"}
insert {"id":4,"a":"forty","c":"4.5"}
update {"id":2,"a":"20!","c":"9"}
update {"id":4,"a":"forty","c":0.25,"d":[1,2]}
delete {"id":3}
EOF

# Prints "type image" for each change of events.ndjson: the after image,
# or the before image of a delete.
images () {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    img = ev["before"] if ev["type"] == "delete" else ev["after"]
    print(ev["type"], json.dumps(img, separators=(",", ":"), ensure_ascii=False))
' "$1"
}

test_expect_success 'set up: rows written around ADD COLUMN, DROP COLUMN and type changes' '
  pg_sql "CREATE PUBLICATION binhook FOR ALL TABLES" &&
  pg_sql "SELECT pg_create_logical_replication_slot(\$\$binhook\$\$, \$\$pgoutput\$\$)" >/dev/null &&
  pg_sql <changes.sql
'

test_expect_success 'every row decodes with the columns and types of its time' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 8 >events.ndjson &&
  images events.ndjson >actual &&
  test_cmp expect actual
'

test_expect_success 'an update under the default replica identity: before holds the key only' '
  grep "\"type\":\"update\"" events.ndjson | head -n 1 >update.ndjson &&
  grep -q "\"before\":{\"id\":1}" update.ndjson &&
  grep -q "\"key\":{\"id\":1}" update.ndjson
'

test_expect_success 'after the ALTERs, a new stream reads the table as it is now' '
  pg_sql "INSERT INTO alt VALUES (5, \$\$five\$\$, 5.5, \$\${7}\$\$)" &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 9 >events2.ndjson &&
  images events2.ndjson | tail -n 1 >actual2 &&
  echo "insert {\"id\":5,\"a\":\"five\",\"c\":5.5,\"d\":[7]}" >expect2 &&
  test_cmp expect2 actual2
'

test_done
