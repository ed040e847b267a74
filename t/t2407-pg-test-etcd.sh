#!/usr/bin/env bash
# A PostgreSQL source with binhook test and the etcd recipe. binhook test
# takes the events binhook tail prints of a PostgreSQL stream (a change's id
# is its commit LSN, its transaction and its index: the same in the dry
# run) and a hand-written one. rules/recipes/etcd.toml as it ships mirrors
# the tables of a schema shop of a private PostgreSQL into a private etcd
# (Debian's etcd-server): composite keys, keys moved by updates, deletes,
# a TOASTed value left unchanged by an update under REPLICA IDENTITY FULL;
# afterwards the keyspace is exactly the tables, and again after a restart
# of binhook while the tables change.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl psql
pg_start || test_skip_all 'cannot start postgres'

test_expect_success 'binhook test: a hand-written PostgreSQL change, its id from the commit LSN' '
  mkdir -p "$TRASH/t" &&
  cat >"$TRASH/t/t.toml" <<-\EOF &&
	[endpoint.hook]
	url = "http://127.0.0.1:9/hook"
	signing = "none"
	[[rule]]
	name = "orders"
	table = "public.orders"
	when = "changed(status)"
	endpoint = "hook"
	EOF
  cat >"$TRASH/t/ev.json" <<-\EOF &&
	{"type":"update","schema":"public","table":"orders","ts":"2026-01-02T03:04:05Z",
	 "position":{"lsn":"0/16B3748","xid":731},"tx":{"index":3},"key":{"id":7},
	 "before":{"id":7},"after":{"id":7,"status":"paid","note":"x"},"changed":["status","note"]}
	EOF
  "$BINHOOK" test -c "$TRASH/t/t.toml" --event "$TRASH/t/ev.json" >out &&
  test_grep "^# rule .orders. matches 0/16B3748:23803720/3 (update public.orders) -> endpoint .hook.\$" out &&
  test_grep "\"before\":{\"id\":7}" out &&
  test_grep "\"position\":{\"lsn\":\"0/16B3748\",\"xid\":731}" out &&
  sed "s/\"lsn\":\"0\/16B3748\",\"xid\":731/\"file\":\"0\/16B3748\",\"pos\":731/" "$TRASH/t/ev.json" >old.json &&
  "$BINHOOK" test -c "$TRASH/t/t.toml" --event old.json >old.out &&
  test_grep "^# rule .orders. matches 0/16B3748:23803720/3 " old.out &&
  sed "s/0\/16B3748/0-16B3748/" "$TRASH/t/ev.json" >bad.json &&
  test_must_fail "$BINHOOK" test -c "$TRASH/t/t.toml" --event bad.json 2>bad.err &&
  test_grep "position.lsn. must be an LSN" bad.err
'

# etcd_start: etcd on free loopback ports, configured by its flags alone.
etcd_start () {
  local peer_port unset=()
  ETCD_PORT=$(test_free_port) && peer_port=$(test_free_port) || return 1
  for v in $(env | sed -n 's/^\(ETCD_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset+=(-u "$v")
  done
  { env "${unset[@]}" etcd --name binhook-test --data-dir "$TRASH/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-cluster "binhook-test=http://127.0.0.1:$peer_port" --listen-metrics-urls "" \
      </dev/null >"$TRASH/etcd.log" 2>&1 7>&- 8>&- & }
  test_atexit "test_kill $!"
  test_wait_until 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

etcd_has () {
  curl -sf "http://127.0.0.1:$ETCD_PORT/v3/kv/range" \
    -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\",\"count_only\":true}" | grep -q '"count":"1"'
}

# compare.py PORT: the tables of the schema shop (rows as JSON from the
# server, as binhook maps the types) against the keyspace under /binhook/,
# exactly; prints "ok N" with the number of keys.
cat >"$TRASH/compare.py" <<'EOF'
import base64, json, os, subprocess, sys, urllib.parse, urllib.request
port = sys.argv[1]
tables = {
    "customers": (["id"], "json_build_object('id', id, 'email', email, 'name', name, "
                          "'balance', balance::text, 'updated', updated)"),
    # the key in the primary key's order (sku, order_id), not the columns'
    "order_items": (["sku", "order_id"], "json_build_object('order_id', order_id, 'sku', sku, 'qty', qty, "
                                         "'price', price::text, 'note', note)"),
    "docs": (["id"], "json_build_object('id', id, 'title', title, 'body', body)"),
    "done": (["id"], "json_build_object('id', id)"),
}
psql = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", os.environ["PG_DIR"],
        "-p", os.environ["PG_PORT"], "-U", "postgres", "-d", "shop", "-c"]
want = {}
for table, (pk, row) in tables.items():
    out = subprocess.run(psql + ["SELECT %s FROM shop.%s" % (row, table)], check=True,
                         capture_output=True).stdout.decode()
    for line in out.splitlines():
        r = json.loads(line, object_pairs_hook=lambda p: p)
        d = dict(r)
        key = "/binhook/shop/%s/%s" % (table, "/".join(urllib.parse.quote(str(d[c]), safe="") for c in pk))
        want[key] = r
req = urllib.request.Request("http://127.0.0.1:%s/v3/kv/range" % port, data=json.dumps({
    "key": base64.b64encode(b"/binhook/").decode(), "range_end": base64.b64encode(b"/binhook0").decode()}).encode())
got = {}
for kv in json.loads(urllib.request.urlopen(req, timeout=20).read()).get("kvs", []):
    got[base64.b64decode(kv["key"]).decode()] = json.loads(base64.b64decode(kv["value"]),
                                                          object_pairs_hook=lambda p: p)
bad = 0
for k in sorted(set(want) | set(got)):
    if want.get(k) != got.get(k):
        print("DIFF %s\n  table: %.300s\n  etcd:  %.300s" % (k, want.get(k), got.get(k)), file=sys.stderr)
        bad += 1
if bad:
    print("%d of %d keys differ" % (bad, len(set(want) | set(got))), file=sys.stderr)
    sys.exit(1)
print("ok", len(got))
EOF
compare () {
  python3 "$TRASH/compare.py" "$ETCD_PORT"
}

test_expect_success 'the tables, a slot for tail, a private etcd, binhook run with the recipe as it ships' '
  pg_sql "
    CREATE SCHEMA shop;
    CREATE TABLE shop.customers (id int PRIMARY KEY, email text, name text, balance numeric(10,2),
                                 updated timestamp);
    CREATE TABLE shop.order_items (order_id int NOT NULL, sku text NOT NULL, qty int, price numeric(8,2),
                                   note text, PRIMARY KEY (sku, order_id));
    CREATE TABLE shop.docs (id int PRIMARY KEY, title text, body text);
    ALTER TABLE shop.docs REPLICA IDENTITY FULL;
    CREATE TABLE shop.done (id int PRIMARY KEY)" &&
  pg_sql "SELECT 1 FROM pg_create_logical_replication_slot(\$\$tt\$\$, \$\$pgoutput\$\$)" >/dev/null &&
  etcd_start &&
  cat >"$TRASH/etcd.toml" <<-EOF &&
	include = ["$TOP/rules/recipes/etcd.toml"]
	templates = "$TOP/templates"
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_PG_URL"
	[endpoint.etcd]
	url = "http://127.0.0.1:$ETCD_PORT"
	signing = "none"
	ordering = "endpoint"
	no_retry = [400]
	EOF
  "$BINHOOK" check -c "$TRASH/etcd.toml" &&
  start_binhook etcd.toml run.log
'

test_expect_success 'a mixed workload: the etcd keyspace is exactly the tables' '
  pg_sql "
    INSERT INTO shop.customers SELECT g, \$\$c\$\$ || g || \$\$@example.com\$\$, \$\$Name \$\$ || g, g * 1.5,
                                      \$\$2024-01-02 03:04:05\$\$ FROM generate_series(1, 60) g;
    UPDATE shop.customers SET name = \$\$Zoë \"Q\" O/Brien\$\$, updated = NULL WHERE id = 7;
    INSERT INTO shop.order_items SELECT o, s, o + 1, 9.99, NULL
      FROM generate_series(1, 10) o, unnest(ARRAY[\$\$a/b\$\$, \$\$x y\$\$, \$\$café\$\$, \$\$100%\$\$, \$\$plain\$\$]) s;
    UPDATE shop.customers SET balance = balance + 1 WHERE id % 3 = 0;
    UPDATE shop.customers SET id = id + 1000 WHERE id <= 5;
    UPDATE shop.customers SET id = 1 WHERE id = 1001;
    INSERT INTO shop.customers VALUES (2, \$\$again@example.com\$\$, \$\$Two again\$\$, 2.00, NULL);
    UPDATE shop.order_items SET sku = \$\$moved/1\$\$ WHERE sku = \$\$a/b\$\$ AND order_id <= 3;
    UPDATE shop.order_items SET order_id = order_id + 100 WHERE sku = \$\$x y\$\$;
    UPDATE shop.order_items SET qty = qty + 1, note = \$\$same key\$\$ WHERE order_id = 4;
    DELETE FROM shop.customers WHERE id BETWEEN 20 AND 30;
    DELETE FROM shop.order_items WHERE sku = \$\$café\$\$ AND order_id > 5;
    INSERT INTO shop.docs SELECT g, \$\$doc \$\$ || g, (SELECT string_agg(md5(i::text), \$\$\$\$)
                                                  FROM generate_series(1, 400) i) || g FROM generate_series(1, 3) g;
    UPDATE shop.docs SET title = \$\$renamed\$\$ WHERE id = 2;
    BEGIN;
    UPDATE shop.customers SET id = 3000 WHERE id = 40;
    INSERT INTO shop.customers VALUES (40, \$\$new40@example.com\$\$, \$\$New 40\$\$, 0.00, \$\$2025-06-07 08:09:10\$\$);
    UPDATE shop.order_items SET order_id = 11 WHERE sku = \$\$plain\$\$ AND order_id = 1;
    INSERT INTO shop.order_items VALUES (1, \$\$plain\$\$, 1, 0.50, \$\$reborn\$\$);
    DELETE FROM shop.customers WHERE id = 3000;
    COMMIT;
    INSERT INTO shop.done VALUES (1)" &&
  test_wait_until 60 etcd_has /binhook/shop/done/1 &&
  test "$(pg_sql "SELECT length(body) FROM shop.docs WHERE id = 2")" -gt 12000 &&
  compare >out &&
  test_grep "^ok 100\$" out
'

test_expect_success 'binhook test on what tail read: the recipe'"'"'s requests, with the ids of the stream' '
  cat >"$TRASH/tt.toml" <<-EOF &&
	include = ["$TOP/rules/recipes/etcd.toml"]
	templates = "$TOP/templates"
	[source]
	url = "$BINHOOK_PG_URL"
	slot = "tt"
	[endpoint.etcd]
	url = "http://127.0.0.1:$ETCD_PORT"
	signing = "none"
	EOF
  timeout 60 "$BINHOOK" tail -c "$TRASH/tt.toml" --from start --limit 181 >tail.out &&
  "$BINHOOK" test -c "$TRASH/tt.toml" --event tail.out >test.out &&
  test_grep "^# 181 events, 181 requests\$" test.out &&
  sed -n "s/^# rule .etcd-[a-z]*. matches \([^ ]*\) .*/\1/p" test.out >ids.test &&
  python3 -c "import json, sys; [print(json.loads(l)[\"id\"]) for l in open(sys.argv[1])]" tail.out >ids.tail &&
  test_cmp ids.tail ids.test &&
  "$BINHOOK" test -c "$TRASH/tt.toml" --event tail.out --json --rule etcd-update >test.jsonl &&
  python3 - test.jsonl <<-\EOF
	import base64, json, sys
	moved = []
	for l in open(sys.argv[1]):
	    q = json.loads(l)
	    assert q["url"].endswith("/v3/kv/txn"), q
	    first, put = json.loads(q["body"])["success"]
	    if "request_delete_range" in first:
	        moved.append((base64.b64decode(first["request_delete_range"]["key"]).decode(),
	                      base64.b64decode(put["request_put"]["key"]).decode()))
	assert ("/binhook/shop/customers/1", "/binhook/shop/customers/1001") in moved, moved
	assert ("/binhook/shop/order_items/a%2Fb/2", "/binhook/shop/order_items/moved%2F1/2") in moved, moved
	assert len(moved) == 5 + 1 + 3 + 10 + 2, len(moved)
	EOF
'

test_expect_success 'changes made while binhook is stopped: still exact after its restart' '
  stop_binhook run.log &&
  pg_sql "
    UPDATE shop.customers SET id = 5 WHERE id = 1005;
    UPDATE shop.customers SET email = NULL, balance = -1.25 WHERE id BETWEEN 40 AND 50;
    UPDATE shop.order_items SET sku = \$\$a/b\$\$, note = \$\$back\$\$ WHERE sku = \$\$moved/1\$\$;
    DELETE FROM shop.order_items WHERE order_id > 100;
    INSERT INTO shop.order_items VALUES (5, \$\$new/sku %\$\$, 3, 1.00, \$\$ünïcode\$\$);
    UPDATE shop.docs SET title = \$\$again\$\$ WHERE id = 3;
    DELETE FROM shop.done;
    INSERT INTO shop.done VALUES (2)" &&
  start_binhook etcd.toml run2.log &&
  test_wait_until 60 etcd_has /binhook/shop/done/2 &&
  compare >out2 &&
  test_grep "^ok 91\$" out2 &&
  stop_binhook run2.log
'

test_done
