#!/usr/bin/env bash
# What the PostgreSQL source makes of updates and deletes under each replica
# identity (the default: the key; FULL: the whole old row), of unchanged
# TOASTed values, of TRUNCATE and of binhook's logical messages; where tail
# continues; its temporary slot; and what it says when the publication or
# the slot cannot be made.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"

require_cmd python3
pg_start || test_skip_all 'cannot start postgres'

cat >changes.sql <<'EOF'
CREATE TABLE pk (id int PRIMARY KEY, v text, n int);
CREATE TABLE full_ (id int PRIMARY KEY, v text, n int);
ALTER TABLE full_ REPLICA IDENTITY FULL;
CREATE TABLE big (id int PRIMARY KEY, small text, doc text);
ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
CREATE TABLE big_full (id int PRIMARY KEY, small text, doc text);
ALTER TABLE big_full ALTER COLUMN doc SET STORAGE EXTERNAL;
ALTER TABLE big_full REPLICA IDENTITY FULL;
CREATE TABLE seq (id serial PRIMARY KEY, v text);
INSERT INTO pk VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO full_ VALUES (1, 'a', 1), (2, 'b', 2);
UPDATE pk SET v = 'a2' WHERE id = 1;
UPDATE pk SET id = 3 WHERE id = 2;
DELETE FROM pk WHERE id = 1;
UPDATE full_ SET v = 'a2' WHERE id = 1;
DELETE FROM full_ WHERE id = 2;
INSERT INTO big VALUES (1, 'x', repeat('0123456789', 1000));
INSERT INTO big_full VALUES (1, 'x', repeat('0123456789', 1000));
UPDATE big SET small = 'y' WHERE id = 1;
UPDATE big_full SET small = 'y' WHERE id = 1;
INSERT INTO seq (v) VALUES ('s');
BEGIN;
INSERT INTO pk VALUES (10, 'in a transaction', 10);
SELECT pg_logical_emit_message(true, 'binhook', 'DROP TABLE shop.old');
SELECT pg_logical_emit_message(true, 'someone.else', 'not ours');
TRUNCATE seq, full_ RESTART IDENTITY;
COMMIT;
EOF
NCHANGES=16

# "type key before after changed" per change, or "statement kind sql".
summary () {
  python3 -c '
import json, sys
def j(v):
    return "-" if v is None else json.dumps(v, separators=(",", ":"))
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["type"] == "statement":
        print("statement", ev["kind"], ev["sql"])
    elif ev["table"] in ("big", "big_full"):
        img = {k: (v if k != "doc" else "DOC" if v == "0123456789" * 1000 else v) for k, v in ev["after"].items()}
        print(ev["type"], ev["table"], j(ev["key"]), j(img), j(ev.get("changed")))
    else:
        print(ev["type"], ev["table"], j(ev["key"]), j(ev.get("before")), j(ev.get("after")), j(ev.get("changed")))
' "$1"
}

test_expect_success 'a user who may not make the publication is told the SQL to run' '
  pg_sql -d postgres "CREATE ROLE plain LOGIN REPLICATION PASSWORD \$\$plain-pw\$\$" &&
  pg_sql "GRANT CREATE ON DATABASE shop TO plain" &&
  printf "[source]\nurl = \"postgresql://plain@127.0.0.1:%s/shop\"\npublication = \"mine\"\nslot = \"mine\"\n" \
    "$PG_PORT" >plain.toml &&
  test_must_fail env BINHOOK_MYSQL_PASSWORD=plain-pw timeout 30 "$BINHOOK" tail -c plain.toml --from start \
    --limit 1 2>err &&
  test_grep "CREATE PUBLICATION \"mine\" FOR ALL TABLES" err &&
  test_grep "publication .mine. is missing" err
'

test_expect_success 'binhook makes the publication and the slot when it may, then streams' '
  pg_sql "SELECT count(*) FROM pg_publication WHERE pubname = \$\$binhook\$\$" >before &&
  echo 0 >zero && test_cmp zero before &&
  timeout 30 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 1 >/dev/null 2>made &
  pid=$! &&
  test_wait_until 20 sh -c "grep -q \"made the replication slot\" made" &&
  test_grep "made the publication" made &&
  pg_sql <changes.sql >/dev/null &&
  test_wait_exit $pid 30 &&
  pg_sql "SELECT slot_name, plugin FROM pg_replication_slots" >slots &&
  echo "binhook|pgoutput" >expect && test_cmp expect slots
'

cat >expect.summary <<'EOF'
insert pk {"id":1} - {"id":1,"v":"a","n":1} -
insert pk {"id":2} - {"id":2,"v":"b","n":2} -
insert full_ {"id":1} - {"id":1,"v":"a","n":1} -
insert full_ {"id":2} - {"id":2,"v":"b","n":2} -
update pk {"id":1} {"id":1} {"id":1,"v":"a2","n":1} ["v","n"]
update pk {"id":3} {"id":2} {"id":3,"v":"b","n":2} ["id","v","n"]
delete pk {"id":1} {"id":1} - -
update full_ {"id":1} {"id":1,"v":"a","n":1} {"id":1,"v":"a2","n":1} ["v"]
delete full_ {"id":2} {"id":2,"v":"b","n":2} - -
insert big {"id":1} {"id":1,"small":"x","doc":"DOC"} -
insert big_full {"id":1} {"id":1,"small":"x","doc":"DOC"} -
update big {"id":1} {"id":1,"small":"y"} ["small"]
update big_full {"id":1} {"id":1,"small":"y","doc":"DOC"} ["small"]
insert seq {"id":1} - {"id":1,"v":"s"} -
insert pk {"id":10} - {"id":10,"v":"in a transaction","n":10} -
statement ddl DROP TABLE shop.old
statement ddl TRUNCATE TABLE "public"."seq", "public"."full_" RESTART IDENTITY
EOF

test_expect_success 'keys, before images and changed lists under each replica identity' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 17 >events.ndjson &&
  summary events.ndjson >actual &&
  test_cmp expect.summary actual
'

test_expect_success 'an unchanged TOASTed value is left out of the after image, never null' '
  grep "\"table\":\"big\"" events.ndjson | grep "\"type\":\"update\"" >toast.ndjson &&
  test_grep ! "\"doc\":null" toast.ndjson &&
  test_grep ! "\"doc\"" toast.ndjson
'

test_expect_success 'the changes of one transaction share its commit LSN and number 0, 1, 2' '
  tail -n 3 events.ndjson | python3 -c "
import json, sys
ids = [json.loads(l)[\"id\"] for l in sys.stdin]
assert len({i.rsplit(\"/\", 1)[0] for i in ids}) == 1, ids
assert [i.rsplit(\"/\", 1)[1] for i in ids] == [\"0\", \"1\", \"2\"], ids
"
'

test_expect_success 'a key of several columns lists them in the primary key'"'"'s order, under each identity' '
  pg_sql "SELECT 1 FROM pg_create_logical_replication_slot(\$\$ck\$\$, \$\$pgoutput\$\$)" >/dev/null &&
  pg_sql "
    CREATE TABLE ck (a int, b text, v int, PRIMARY KEY (b, a));
    CREATE TABLE ck_full (a int, b text, v int, PRIMARY KEY (v, b, a));
    ALTER TABLE ck_full REPLICA IDENTITY FULL;
    CREATE TABLE ck_index (a int NOT NULL, b text NOT NULL, v int, UNIQUE (b, a));
    ALTER TABLE ck_index REPLICA IDENTITY USING INDEX ck_index_b_a_key;
    INSERT INTO ck VALUES (1, \$\$x\$\$, 1);
    UPDATE ck SET a = 2 WHERE a = 1;
    DELETE FROM ck;
    INSERT INTO ck_full VALUES (1, \$\$x\$\$, 1);
    DELETE FROM ck_full;
    INSERT INTO ck_index VALUES (1, \$\$x\$\$, 1);
    UPDATE ck_index SET v = 2;
    DELETE FROM ck_index" &&
  printf "[source]\nurl = \"%s\"\nslot = \"ck\"\n" "$BINHOOK_PG_URL" >ck.toml &&
  timeout 60 "$BINHOOK" tail -c ck.toml --from start --limit 8 >ck.ndjson &&
  python3 -c "
import json, sys
for l in open(sys.argv[1]):
    ev = json.loads(l)
    print(ev[\"type\"], ev[\"table\"], json.dumps(ev[\"key\"], separators=(\",\", \":\")))
" ck.ndjson >actual &&
  cat >expect <<-\EOF &&
	insert ck {"b":"x","a":1}
	update ck {"b":"x","a":2}
	delete ck {"b":"x","a":2}
	insert ck_full {"v":1,"b":"x","a":1}
	delete ck_full {"v":1,"b":"x","a":1}
	insert ck_index {"b":"x","a":1}
	update ck_index {"b":"x","a":1}
	delete ck_index {"b":"x","a":1}
	EOF
  test_cmp expect actual &&
  pg_sql "SELECT pg_drop_replication_slot(\$\$ck\$\$)" >/dev/null
'

test_expect_success 'a change'"'"'s position is its commit LSN and its transaction id' '
  xid=$(pg_sql "SELECT xmin FROM pk WHERE id = 10") &&
  tail -n 3 events.ndjson | python3 -c "
import json, sys
xid = int(sys.argv[1])
for l in sys.stdin:
    ev = json.loads(l)
    pos = ev[\"position\"]
    assert sorted(pos) == [\"lsn\", \"xid\"], pos
    assert pos[\"xid\"] == xid, (pos, xid)
    hi, lo = pos[\"lsn\"].split(\"/\")
    assert ev[\"id\"] == \"%s:%d/%d\" % (pos[\"lsn\"], int(hi, 16) << 32 | int(lo, 16), ev[\"tx\"][\"index\"]), ev
" "$xid" &&
  head -n 1 events.ndjson >one.ndjson &&
  test_grep "\"position\":{\"lsn\":\"[0-9A-F]*/[0-9A-F]*\",\"xid\":[0-9]*},\"tx\"" one.ndjson
'

test_expect_success 'tail --from LSN:XID (the transaction id for the LSN'"'"'s number) is refused, with the right one' '
  lsn=$(tail -n 1 events.ndjson | python3 -c "import json, sys; print(json.load(sys.stdin)[\"position\"][\"lsn\"])") &&
  xid=$(pg_sql "SELECT xmin FROM pk WHERE id = 10") &&
  test_must_fail timeout 30 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from "$lsn:$xid" --limit 1 >out 2>err &&
  test_grep "is not the LSN $lsn, whose number is" err &&
  number=$(sed -n "s|.*start at .$lsn:\([0-9]*\).*|\1|p" err) &&
  timeout 30 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from "$lsn:$number" --limit 3 >from.ndjson &&
  tail -n 3 events.ndjson >expect.ndjson &&
  test_cmp expect.ndjson from.ndjson
'

test_expect_success 'tail stopped inside a transaction continues there: nothing repeated, nothing missed' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 15 >first.ndjson 2>first.err &&
  from=$(sed -n "s/.*continue with --from //p" first.err) &&
  test -n "$from" &&
  case $from in *+1) ;; *) false ;; esac &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from "$from" --limit 2 >second.ndjson &&
  cat first.ndjson second.ndjson >both.ndjson &&
  test_cmp events.ndjson both.ndjson
'

# 0 while a temporary slot of a tail exists.
tail_slot () {
  pg_sql "SELECT slot_name FROM pg_replication_slots WHERE temporary" | grep -q binhook_tail_
}

test_expect_success 'the default tail reads from now through a temporary slot of its own' '
  timeout 30 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --limit 1 >now.ndjson 2>now.err &
  pid=$! &&
  test_wait_until 20 tail_slot &&
  pg_sql "INSERT INTO pk VALUES (20, \$\$now\$\$, 20)" &&
  test_wait_exit $pid 30 &&
  test_grep "\"key\":{\"id\":20}" now.ndjson &&
  test "$(wc -l <now.ndjson)" = 1 &&
  test_wait_until 10 eval "! tail_slot"
'

test_expect_success 'tail never moves the slot: its confirmed LSN is where it was made' '
  pg_sql "SELECT confirmed_flush_lsn < pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = \$\$binhook\$\$" >moved &&
  echo t >expect && test_cmp expect moved &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_PG_URL" --from start --limit 17 >again.ndjson &&
  test_cmp events.ndjson again.ndjson
'

test_done
