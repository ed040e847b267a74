#!/usr/bin/env bash
# Changes in three schemas: "key" holds the primary key columns in key
# order (composite keys, keys that are not the first columns), and is absent
# for a table without a primary key. --table and --exclude globs choose the
# tables whose rows are printed; statements are not table-filtered. A row's
# id does not depend on the filters.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd timeout python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# tail_n N [ARGS...]: the first N events from the start of the binlog.
tail_n () {
  local n=$1
  shift
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from start --limit "$n" "$@"
}

# summary FILE: one line per event: "statement KIND" or "TYPE schema.table
# KEY" with KEY as printed (key order kept), or "nokey" without one.
summary () {
  python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "statement":
        print("statement", e["kind"], e["sql"])
    else:
        key = json.dumps(e["key"], separators=(",", ":")) if "key" in e else "nokey"
        print(e["type"], e["schema"] + "." + e["table"], key)
EOF
}

# rows_of FILE: the "TYPE schema.table KEY" lines of summary, rows only.
rows_of () {
  summary "$1" | grep -v '^statement '
}

# Every statement of the workload, in order (they are in every output).
cat >statements.sql <<'EOF'
CREATE DATABASE shop
CREATE DATABASE crm
CREATE DATABASE hr
CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(10), total DECIMAL(8,2)) ENGINE=InnoDB
CREATE TABLE shop.items (a INT, b VARCHAR(8), qty INT, PRIMARY KEY (b, a)) ENGINE=InnoDB
CREATE TABLE shop.audit_log (at INT, what VARCHAR(20)) ENGINE=InnoDB
CREATE TABLE shop.audit2 (n INT PRIMARY KEY) ENGINE=InnoDB
CREATE TABLE crm.orders (note VARCHAR(10), region CHAR(2), id INT, PRIMARY KEY (region, id)) ENGINE=InnoDB
CREATE TABLE crm.contacts (email VARCHAR(40) PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB
CREATE TABLE hr.people (name VARCHAR(20), age INT) ENGINE=InnoDB
CREATE TABLE hr.orders (x INT, d DATE, y INT, z INT, PRIMARY KEY (z, d, x)) ENGINE=InnoDB
EOF

test_expect_success 'setup: three schemas, composite keys, a table without a key' '
  fail= &&
  while read -r sql
  do
    mariadb_sql "$sql" || { fail=1; break; }
  done <statements.sql &&
  test -z "$fail" &&
  mariadb_sql "INSERT INTO shop.orders VALUES (1, \"new\", 10.00), (2, \"new\", 20.00)" &&
  mariadb_sql "INSERT INTO shop.items VALUES (1, \"x\", 5), (2, \"x\", 6), (1, \"y\", 7)" &&
  mariadb_sql "INSERT INTO shop.audit_log VALUES (1, \"created\"), (1, \"created\")" &&
  mariadb_sql "INSERT INTO shop.audit2 VALUES (1)" &&
  mariadb_sql "INSERT INTO crm.orders VALUES (\"n1\", \"eu\", 1), (\"n2\", \"us\", 1)" &&
  mariadb_sql "INSERT INTO crm.contacts VALUES (\"a@example.com\", \"A\")" &&
  mariadb_sql "INSERT INTO hr.people VALUES (\"ann\", 30), (\"bob\", 40)" &&
  mariadb_sql "INSERT INTO hr.orders VALUES (1, \"2024-05-06\", 2, 3)" &&
  # one transaction across the three schemas, tables in and out of any filter
  mariadb_sql "BEGIN;
    INSERT INTO shop.audit_log VALUES (2, \"paid\");
    UPDATE shop.orders SET status = \"paid\" WHERE id = 1;
    UPDATE crm.orders SET note = \"n3\" WHERE region = \"eu\";
    UPDATE hr.people SET age = 31 WHERE name = \"ann\";
    UPDATE shop.items SET qty = 8 WHERE a = 1 AND b = \"y\";
    DELETE FROM hr.orders;
    COMMIT" &&
  mariadb_sql "DELETE FROM shop.items WHERE b = \"x\"" &&
  mariadb_sql "DELETE FROM hr.people WHERE name = \"bob\"" &&
  mariadb_sql "ALTER TABLE shop.audit_log ADD COLUMN extra INT" &&
  echo "ALTER TABLE shop.audit_log ADD COLUMN extra INT" >>statements.sql
'

# 12 statements and 23 rows.
ALL=35

test_expect_success 'without a filter: every row of every schema' '
  tail_n $ALL >all 2>err &&
  test "$(wc -l <all)" = $ALL &&
  summary all >all.sum &&
  cat >expect <<-\EOF &&
	statement ddl CREATE DATABASE shop
	statement ddl CREATE DATABASE crm
	statement ddl CREATE DATABASE hr
	statement ddl CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(10), total DECIMAL(8,2)) ENGINE=InnoDB
	statement ddl CREATE TABLE shop.items (a INT, b VARCHAR(8), qty INT, PRIMARY KEY (b, a)) ENGINE=InnoDB
	statement ddl CREATE TABLE shop.audit_log (at INT, what VARCHAR(20)) ENGINE=InnoDB
	statement ddl CREATE TABLE shop.audit2 (n INT PRIMARY KEY) ENGINE=InnoDB
	statement ddl CREATE TABLE crm.orders (note VARCHAR(10), region CHAR(2), id INT, PRIMARY KEY (region, id)) ENGINE=InnoDB
	statement ddl CREATE TABLE crm.contacts (email VARCHAR(40) PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB
	statement ddl CREATE TABLE hr.people (name VARCHAR(20), age INT) ENGINE=InnoDB
	statement ddl CREATE TABLE hr.orders (x INT, d DATE, y INT, z INT, PRIMARY KEY (z, d, x)) ENGINE=InnoDB
	insert shop.orders {"id":1}
	insert shop.orders {"id":2}
	insert shop.items {"b":"x","a":1}
	insert shop.items {"b":"x","a":2}
	insert shop.items {"b":"y","a":1}
	insert shop.audit_log nokey
	insert shop.audit_log nokey
	insert shop.audit2 {"n":1}
	insert crm.orders {"region":"eu","id":1}
	insert crm.orders {"region":"us","id":1}
	insert crm.contacts {"email":"a@example.com"}
	insert hr.people nokey
	insert hr.people nokey
	insert hr.orders {"z":3,"d":"2024-05-06","x":1}
	insert shop.audit_log nokey
	update shop.orders {"id":1}
	update crm.orders {"region":"eu","id":1}
	update hr.people nokey
	update shop.items {"b":"y","a":1}
	delete hr.orders {"z":3,"d":"2024-05-06","x":1}
	delete shop.items {"b":"x","a":1}
	delete shop.items {"b":"x","a":2}
	delete hr.people nokey
	statement ddl ALTER TABLE shop.audit_log ADD COLUMN extra INT
	EOF
  test_cmp expect all.sum
'

test_expect_success 'a composite key holds every key column, in key order, with its value' '
  python3 - all <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	def one(t, typ, **where):
	    hits = [e for e in ev if e.get("table") == t[1] and e.get("schema") == t[0] and e["type"] == typ
	            and all((e.get("after") or e.get("before"))[k] == v for k, v in where.items())]
	    assert len(hits) == 1, (t, typ, where, hits)
	    return hits[0]
	e = one(("shop", "items"), "update", a=1, b="y")
	assert list(e["key"].items()) == [("b", "y"), ("a", 1)], e["key"]
	assert e["before"]["qty"] == 7 and e["after"]["qty"] == 8 and e["changed"] == ["qty"], e
	e = one(("crm", "orders"), "update", region="eu")
	assert list(e["key"].items()) == [("region", "eu"), ("id", 1)], e["key"]
	e = one(("hr", "orders"), "delete", x=1)
	assert list(e["key"].items()) == [("z", 3), ("d", "2024-05-06"), ("x", 1)], e["key"]
	assert "after" not in e and e["before"] == {"x": 1, "d": "2024-05-06", "y": 2, "z": 3}, e
	e = one(("crm", "contacts"), "insert", name="A")
	assert e["key"] == {"email": "a@example.com"}, e
	for e in ev:
	    if e.get("table") in ("audit_log", "people"):
	        assert "key" not in e, e
	# the values of a table without a key are all there
	e = one(("hr", "people"), "update", name="ann")
	assert e["before"] == {"name": "ann", "age": 30} and e["after"] == {"name": "ann", "age": 31}, e
	assert e["changed"] == ["age"], e
	EOF
'

# filtered ARGS... : the events tail prints with these filter options (it
# stops after the last row the filter lets through: the ALTER is there too).
filtered () {
  local n=$1
  shift
  tail_n "$n" "$@"
}

# expect_rows PYTHON-CONDITION: the rows of "all" whose "schema.table" (t)
# satisfies the condition, in order.
expect_rows () {
  python3 - all "$1" <<'EOF'
import json, sys, fnmatch
cond = sys.argv[2]
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "statement":
        continue
    t = e["schema"] + "." + e["table"]
    if eval(cond, {"fnmatch": fnmatch.fnmatchcase, "t": t}):
        key = json.dumps(e["key"], separators=(",", ":")) if "key" in e else "nokey"
        print(e["type"], t, key)
EOF
}

# check_filter NAME COND ARGS...: tail with ARGS prints the 12 statements
# and exactly the rows of the tables COND selects, in binlog order.
check_filter () {
  local name=$1 cond=$2 n
  shift 2
  expect_rows "$cond" >"$name.expect" &&
  n=$(( $(wc -l <"$name.expect") + 12 )) &&
  filtered $n "$@" >"$name" 2>"$name.err" &&
  rows_of "$name" >"$name.rows" &&
  test_cmp "$name.expect" "$name.rows" &&
  summary "$name" | sed -n "s/^statement [a-z]* //p" >"$name.stmts" &&
  test_cmp statements.sql "$name.stmts"
}

test_expect_success '--table shop.*: the rows of shop only, statements all' '
  check_filter shop "fnmatch(t, \"shop.*\")" --table "shop.*" &&
  test "$(wc -l <shop.rows)" = 13
'

test_expect_success '--table *.orders: the orders tables of every schema' '
  check_filter orders "t.endswith(\".orders\")" --table "*.orders" &&
  test "$(wc -l <orders.rows)" = 8
'

test_expect_success 'several --table globs: a table passes when any matches' '
  check_filter two "t in (\"crm.contacts\", \"hr.people\")" --table crm.contacts --table "hr.p*" &&
  test "$(wc -l <two.rows)" = 5
'

test_expect_success '--exclude shop.audit*: every table but the audit ones' '
  check_filter noaudit "not t.startswith(\"shop.audit\")" --exclude "shop.audit*" &&
  test "$(wc -l <noaudit.rows)" = 19
'

test_expect_success '--table and --exclude together: included and not excluded' '
  check_filter both "t in (\"shop.orders\", \"shop.items\")" --table "shop.*" --exclude "shop.audit*" &&
  test "$(wc -l <both.rows)" = 9
'

test_expect_success 'a filter that matches nothing prints the statements only' '
  filtered 12 --table "nosuch.*" >none 2>err &&
  summary none | sed -n "s/^statement [a-z]* //p" >none.stmts &&
  test_cmp statements.sql none.stmts
'

test_expect_success 'globs are shell patterns over schema.table: s?op.* and shop* select shop' '
  check_filter q "t.startswith(\"shop.\")" --table "s?op.*" &&
  check_filter star "t.startswith(\"shop.\")" --table "shop*"
'

test_expect_success 'a row keeps its id whatever the filters' '
  expect_rows "t.startswith(\"crm.\")" >crm.expect &&
  filtered $(( $(wc -l <crm.expect) + 12 )) --table "crm.*" >crm 2>err &&
  python3 - all crm <<-\EOF
	import json, sys
	def ident(e):
	    return json.dumps([e["type"], e["schema"], e["table"], e.get("key"), e.get("before"), e.get("after")])
	allev = {}
	for l in open(sys.argv[1]):
	    e = json.loads(l)
	    if e["type"] != "statement":
	        allev[ident(e)] = e
	bad = []
	for l in open(sys.argv[2]):
	    e = json.loads(l)
	    if e["type"] == "statement":
	        continue
	    full = allev[ident(e)]
	    if full["id"] != e["id"] or full["tx"] != e["tx"]:
	        bad.append("%s %s.%s: id %s tx %s filtered, id %s tx %s unfiltered" % (
	            e["type"], e["schema"], e["table"], e["id"], e["tx"], full["id"], full["tx"]))
	    else:
	        assert full == e, (full, e)
	assert not bad, "\n".join(bad)
	EOF
'

test_expect_success 'stopped inside a transaction with a filter, resumed with it: nothing twice or lost' '
  # after the second shop change of the transaction that spans the schemas
  cut=$(python3 - shop <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	tx = next(e["position"]["gtid"] for e in ev if e["type"] == "update")
	print([i for i, e in enumerate(ev) if e["position"]["gtid"] == tx][1] + 1)
	EOF
  ) &&
  filtered $cut --table "shop.*" >part1 2>err1 &&
  test_grep "stopped inside a transaction" err1 &&
  pos=$(sed -n "s/^binhook: stopped.*; continue with --from //p" err1) &&
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$pos" --table "shop.*" \
    --limit $(( $(wc -l <shop) - cut )) >part2 2>err2 &&
  cat part1 part2 >joined &&
  test_cmp shop joined
'

test_expect_success 'the same filters from a config file ([source] tables, exclude)' '
  cat >gw.toml <<-EOF &&
	[source]
	url = "$BINHOOK_URL"
	tables = ["shop.*", "crm.orders"]
	exclude = ["shop.audit*"]
	EOF
  expect_rows "(fnmatch(t, \"shop.*\") or t == \"crm.orders\") and not t.startswith(\"shop.audit\")" >cfg.expect &&
  timeout 60 "$BINHOOK" tail -c gw.toml --from start --limit $(( $(wc -l <cfg.expect) + 12 )) >cfg 2>cfg.err &&
  rows_of cfg >cfg.rows &&
  test_cmp cfg.expect cfg.rows
'

test_expect_success 'offline, --binlog with --table and --exclude filters the same way' '
  mariadb_sql "FLUSH BINARY LOGS" &&
  cp "$MYSQL_DATADIR/binlog.000001" . &&
  "$BINHOOK" tail --table "shop.*" --exclude "shop.audit*" --binlog binlog.000001 >off 2>off.err &&
  rows_of off >off.rows &&
  test_cmp both.expect off.rows &&
  "$BINHOOK" tail --binlog binlog.000001 >off.all 2>off.err &&
  test_cmp all off.all
'

test_done
