#!/usr/bin/env bash
# rules/recipes/etcd.toml end to end: a private etcd (Debian's etcd-server,
# a scratch data directory, loopback ports) and a private MariaDB, binhook
# run with the recipe as it ships. After a mixed workload on a table with a
# composite primary key (declared in another order than its columns, values
# with '/', spaces, '%' and non-ASCII) and on one with a single key (inserts,
# updates of values, updates that move rows to new keys and re-use freed
# ones, in and across transactions, deletes), the etcd keyspace under the
# prefix is exactly the tables: the same set of keys, the same values. A
# row of a table without a primary key never reaches etcd (it goes to the
# dead letters), and the mirror stays exact across a restart of binhook
# while the tables change.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
command -v etcd >/dev/null 2>&1 || test_skip_all 'etcd is not installed (apt-get install etcd-server)'
mariadb_start || test_skip_all 'cannot start mariadbd'

# etcd_start: etcd on free loopback ports, configured by its flags alone
# (ETCD_* variables of the environment would override them).
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

# etcd_has KEY: etcd holds KEY.
etcd_has () {
  curl -sf "http://127.0.0.1:$ETCD_PORT/v3/kv/range" \
    -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\",\"count_only\":true}" | grep -q '"count":"1"'
}

# compare.py PORT CLIENT...: the tables of shop (as JSON from the server) against the
# keyspace under /binhook/, exactly; prints "ok N" with the number of keys.
# CLIENT is the mariadb command line, the SELECT its last argument.
cat >"$TRASH/compare.py" <<'EOF'
import base64, json, subprocess, sys, urllib.parse, urllib.request
port = sys.argv[1]
tables = {
    # table: (primary key columns in key order, SELECT of the row as JSON, as binhook maps the types)
    "customers": (["id"], "JSON_OBJECT('id', id, 'email', email, 'name', name, 'balance', CAST(balance AS CHAR), "
                          "'updated', DATE_FORMAT(updated, '%Y-%m-%dT%H:%i:%s'))"),
    "order_items": (["sku", "order_id"], "JSON_OBJECT('order_id', order_id, 'sku', sku, 'qty', qty, "
                                         "'price', CAST(price AS CHAR), 'note', note)"),
    "done": (["id"], "JSON_OBJECT('id', id)"),
}
want = {}
for table, (pk, row) in tables.items():
    out = subprocess.run(sys.argv[2:] + ["SELECT %s FROM shop.%s" % (row, table)], check=True,
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
        print("DIFF %s\n  table: %s\n  etcd:  %s" % (k, want.get(k), got.get(k)), file=sys.stderr)
        bad += 1
if bad:
    print("%d of %d keys differ" % (bad, len(set(want) | set(got))), file=sys.stderr)
    sys.exit(1)
print("ok", len(got))
EOF
compare () {
  python3 "$TRASH/compare.py" "$ETCD_PORT" \
    mariadb --no-defaults --user=root --socket="$MYSQL_SOCK" --default-character-set=utf8mb4 -N -B --raw -e
}

test_expect_success 'a private etcd' '
  etcd_start &&
  curl -sf "http://127.0.0.1:$ETCD_PORT/version" | grep -q etcdserver
'

test_expect_success 'binhook run with the recipe as it ships' '
  mariadb_sql "
    CREATE DATABASE shop;
    CREATE TABLE shop.customers (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(100),
                                 balance DECIMAL(10,2), updated DATETIME NULL);
    CREATE TABLE shop.order_items (order_id INT NOT NULL, sku VARCHAR(40) NOT NULL, qty INT, price DECIMAL(8,2),
                                   note VARCHAR(100) NULL, PRIMARY KEY (sku, order_id));
    CREATE TABLE shop.nokey (v INT);
    CREATE TABLE shop.done (id INT PRIMARY KEY)" &&
  cat >"$TRASH/etcd.toml" <<-EOF &&
	include = ["$TOP/rules/recipes/etcd.toml"]
	templates = "$TOP/templates"
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7301
	[endpoint.etcd]
	url = "http://127.0.0.1:$ETCD_PORT"
	signing = "none"
	ordering = "endpoint"
	no_retry = [400]
	EOF
  "$BINHOOK" check -c "$TRASH/etcd.toml" &&
  start_binhook etcd.toml run.log
'

test_expect_success 'a mixed workload on a composite and a single primary key' '
  mariadb_sql "
    INSERT INTO shop.nokey VALUES (1);
    INSERT INTO shop.customers SELECT seq, CONCAT(\"c\", seq, \"@example.com\"), CONCAT(\"Name \", seq),
                                      seq * 1.5, \"2024-01-02 03:04:05\" FROM shop.seq_1_to_60;
    UPDATE shop.customers SET name = \"Zoë \\\"Q\\\" O/Brien\", updated = NULL WHERE id = 7;
    INSERT INTO shop.order_items SELECT o.seq, s.sku, o.seq + 1, 9.99, NULL
      FROM shop.seq_1_to_10 o,
           (SELECT \"a/b\" AS sku UNION SELECT \"x y\" UNION SELECT \"café\" UNION SELECT \"100%\"
            UNION SELECT \"plain\") s;
    UPDATE shop.customers SET balance = balance + 1 WHERE id % 3 = 0;
    UPDATE shop.customers SET id = id + 1000 WHERE id <= 5;
    UPDATE shop.customers SET id = 1 WHERE id = 1001;
    INSERT INTO shop.customers VALUES (2, \"again@example.com\", \"Two again\", 2.00, NULL);
    UPDATE shop.order_items SET sku = \"moved/1\" WHERE sku = \"a/b\" AND order_id <= 3;
    UPDATE shop.order_items SET order_id = order_id + 100 WHERE sku = \"x y\";
    UPDATE shop.order_items SET sku = sku, qty = qty + 1, note = \"same key\" WHERE order_id = 4;
    DELETE FROM shop.customers WHERE id BETWEEN 20 AND 30;
    DELETE FROM shop.order_items WHERE sku = \"café\" AND order_id > 5;
    BEGIN;
    UPDATE shop.customers SET id = 3000 WHERE id = 40;
    INSERT INTO shop.customers VALUES (40, \"new40@example.com\", \"New 40\", 0.00, \"2025-06-07 08:09:10\");
    UPDATE shop.order_items SET order_id = 11 WHERE sku = \"plain\" AND order_id = 1;
    INSERT INTO shop.order_items VALUES (1, \"plain\", 1, 0.50, \"reborn\");
    DELETE FROM shop.customers WHERE id = 3000;
    COMMIT;
    REPLACE INTO shop.customers VALUES (41, \"replaced@example.com\", \"Replaced\", 41.00, NULL);
    INSERT INTO shop.done VALUES (1)" &&
  test_wait_until 60 etcd_has /binhook/shop/done/1
'

test_expect_success 'the etcd keyspace is exactly the tables' '
  compare >out &&
  test_grep "^ok 97\$" out
'

test_expect_success 'the row without a primary key went to the dead letters, not to etcd' '
  (cd "$TRASH" && "$BINHOOK" dlq list --json -c etcd.toml >dlq.json 2>dlq.err) &&
  python3 -c "
import json, sys
dead = [json.loads(l) for l in open(sys.argv[1])]
assert len(dead) == 1 and dead[0][\"rule\"] == \"etcd-put\", dead
" "$TRASH/dlq.json"
'

test_expect_success 'changes made while binhook is stopped: still exact after its restart' '
  stop_binhook run.log &&
  mariadb_sql "
    UPDATE shop.customers SET id = 5 WHERE id = 1005;
    UPDATE shop.customers SET email = NULL, balance = -1.25 WHERE id BETWEEN 40 AND 50;
    UPDATE shop.order_items SET sku = \"a/b\", note = \"back\" WHERE sku = \"moved/1\";
    DELETE FROM shop.order_items WHERE order_id > 100;
    INSERT INTO shop.order_items VALUES (5, \"new/sku %\", 3, 1.00, \"ünïcode\");
    DELETE FROM shop.done;
    INSERT INTO shop.done VALUES (2)" &&
  start_binhook etcd.toml run2.log &&
  test_wait_until 60 etcd_has /binhook/shop/done/2 &&
  compare >out2 &&
  test_grep "^ok 88\$" out2 &&
  stop_binhook run2.log
'

test_done
