#!/usr/bin/env bash
# rules/recipes/kinesis.toml end to end: binhook run with the recipe puts
# the row changes and the dangerous statements of a private MariaDB into a
# stream of kinesalite (the npm package, an implementation of the Kinesis
# API) on 127.0.0.1, through a small logging proxy. The records read back
# with GetShardIterator/GetRecords hold the canonical events and the
# partition keys the recipe promises; every request carries an AWS
# Signature V4 that verifies with the secret key (computed here from the
# logged request), and the credentials appear nowhere binhook writes.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3

KINESALITE=kinesalite@3.3.3
# kinesalite from where contrib/setup.sh puts npm packages, else installed
# into the build tree here
find_kinesalite () {
  local d
  for d in "$TOP/build/npm" "$BINHOOK_BUILD/npm"; do
    if [ -f "$d/node_modules/kinesalite/package.json" ]; then
      KINESALITE_DIR=$d/node_modules/kinesalite
      return 0
    fi
  done
  return 1
}
if ! find_kinesalite; then
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    test_skip_all "kinesalite is not installed and node or npm is missing to install it (apt-get install nodejs npm)"
  mkdir -p "$BINHOOK_BUILD/npm" &&
    npm install --no-audit --no-fund --silent --prefix "$BINHOOK_BUILD/npm" "$KINESALITE" \
      </dev/null >"$TRASH/npm.log" 2>&1 ||
    test_skip_all "kinesalite is not installed and 'npm install $KINESALITE' failed (see contrib/setup.sh)"
  find_kinesalite || test_skip_all "npm installed $KINESALITE but its package.json is missing"
fi
require_cmd node
mariadb_start || test_skip_all 'cannot start mariadbd'

export BH_TEST_AWS_ACCESS_KEY=AKIDBINHOOKTEST
export BH_TEST_AWS_SECRET_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYbinhookSECRET
export BH_TEST_AWS_SESSION_TOKEN=FwoGZXIvYXdzEBinhookSessionToken

# kin.py PORT TARGET JSON: one Kinesis API call to kinesalite, the answer on
# stdout. kinesalite checks that a request has the parts of a signature, not
# the signature itself.
cat >"$TRASH/kin.py" <<'EOF'
import json, sys, urllib.request
port, target, payload = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request("http://127.0.0.1:%s/" % port, data=payload.encode(), method="POST", headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "Kinesis_20131202." + target,
    "X-Amz-Date": "20240101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=reader/20240101/us-east-1/kinesis/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=0"})
print(urllib.request.urlopen(req, timeout=20).read().decode())
EOF

# proxy.py PORTFILE LOG UPSTREAM-PORT: passes every request on to kinesalite
# and logs it (method, path, headers as sent, body) with kinesalite's status.
cat >"$TRASH/proxy.py" <<'EOF'
import http.client, http.server, json, os, socketserver, sys, threading
portfile, log, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3])
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        up = http.client.HTTPConnection("127.0.0.1", upstream, timeout=20)
        up.request("POST", self.path, body=body,
                   headers={k: v for k, v in self.headers.items() if k.lower() != "expect"})
        r = up.getresponse()
        answer = r.read()
        with lock, open(log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "headers": self.headers.items(),
                                "body": body.decode(), "status": r.status, "answer": answer.decode()}) + "\n")
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *a):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

srv = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF

test_expect_success 'kinesalite on 127.0.0.1 with the stream binhook-changes, and the proxy' '
  { node -e "
      const server = require(process.argv[1])({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0});
      server.listen(0, \"127.0.0.1\", () => {
        require(\"fs\").writeFileSync(process.argv[2] + \".tmp\", String(server.address().port));
        require(\"fs\").renameSync(process.argv[2] + \".tmp\", process.argv[2]);
      });" "$KINESALITE_DIR" "$TRASH/kinesalite.port" >"$TRASH/kinesalite.log" 2>&1 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 30 test -s "$TRASH/kinesalite.port" &&
  kport=$(cat "$TRASH/kinesalite.port") &&
  python3 "$TRASH/kin.py" "$kport" CreateStream "{\"StreamName\": \"binhook-changes\", \"ShardCount\": 1}" &&
  test_wait_until 20 sh -c "python3 \"$TRASH/kin.py\" $kport DescribeStream \
    \"{\\\"StreamName\\\": \\\"binhook-changes\\\"}\" | grep -q ACTIVE" &&
  { python3 "$TRASH/proxy.py" "$TRASH/proxy.port" "$TRASH/proxy.jsonl" "$kport" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/proxy.port"
'

test_expect_success 'binhook check and run accept the recipe with an aws_sigv4 endpoint' '
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(20));
    CREATE TABLE shop.items (order_id INT, n INT, qty INT, PRIMARY KEY (order_id, n));
    CREATE TABLE shop.tmp (id INT PRIMARY KEY);
    CREATE TABLE shop.docs (id INT PRIMARY KEY, body MEDIUMTEXT)" &&
  cat >"$TRASH/g.toml" <<-EOF &&
	include = ["$TOP/rules/recipes/kinesis.toml"]
	templates = "$TOP/templates"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7302
	tables = ["shop.*"]
	[state]
	dir = "state"
	[endpoint.kinesis]
	url = "http://127.0.0.1:$(cat "$TRASH/proxy.port")/"
	aws_sigv4 = "aws:amz:us-east-1:kinesis"
	aws_access_key_env = "BH_TEST_AWS_ACCESS_KEY"
	aws_secret_key_env = "BH_TEST_AWS_SECRET_KEY"
	aws_session_token_env = "BH_TEST_AWS_SESSION_TOKEN"
	EOF
  "$BINHOOK" check -c "$TRASH/g.toml" >check.out 2>&1 &&
  test_grep "ok (2 files, 1 endpoint, 2 rules)" check.out &&
  start_binhook g.toml run.log
'

test_expect_success 'row changes, a DELETE without WHERE, a TRUNCATE, a GRANT and a DROP TABLE reach the stream' '
  mariadb_sql -D shop "
    INSERT INTO orders VALUES (1, \"new\"), (2, \"new\");
    UPDATE orders SET status = \"paid\" WHERE id = 1;
    INSERT INTO items VALUES (1, 1, 5), (1, 2, 7);
    UPDATE items SET qty = 6 WHERE order_id = 1 AND n = 1;
    DELETE FROM orders WHERE id = 2;
    INSERT INTO tmp VALUES (10), (11);
    INSERT INTO docs VALUES (1, REPEAT(\"x\", 900000));
    DELETE FROM tmp;
    TRUNCATE TABLE tmp;
    GRANT SELECT ON shop.* TO binhook@\"127.0.0.1\";
    DROP TABLE items" &&
  test_wait_until 60 accepted proxy 16
'

# check.py PROXYLOG RECORDS: what the stream holds, request by request.
cat >"$TRASH/check.py" <<'EOF'
import base64, hashlib, hmac, json, os, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
records = json.load(open(sys.argv[2]))["Records"]

def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)

# Every request is a PutRecord that kinesalite took, signed with SigV4 over
# exactly what was sent.
secret = os.environ["BH_TEST_AWS_SECRET_KEY"]
for q in reqs:
    h = {}
    for k, v in q["headers"]:
        h[k.lower()] = v
    check(q["status"] == 200, q)
    check(h["x-amz-target"] == "Kinesis_20131202.PutRecord", h)
    check(h["content-type"] == "application/x-amz-json-1.1", h)
    check(h["x-amz-security-token"] == os.environ["BH_TEST_AWS_SESSION_TOKEN"], h)
    algo, rest = h["authorization"].split(" ", 1)
    check(algo == "AWS4-HMAC-SHA256", h["authorization"])
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    cred = parts["Credential"].split("/")
    check(cred[0] == os.environ["BH_TEST_AWS_ACCESS_KEY"] and cred[2:] == ["us-east-1", "kinesis", "aws4_request"],
          parts)
    signed = parts["SignedHeaders"].split(";")
    for need in ("content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"):
        check(need in signed, "%s not signed: %s" % (need, signed))
    date = h["x-amz-date"]
    check(cred[1] == date[:8], (cred, date))
    canonical = "\n".join([q["method"], q["path"], "",
                           "".join("%s:%s\n" % (n, " ".join(h[n].split())) for n in signed),
                           ";".join(signed), hashlib.sha256(q["body"].encode()).hexdigest()])
    scope = "/".join(cred[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for p in cred[1:]:
        key = hmac.new(key, p.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    check(parts["Signature"] == want, "signature %s, want %s" % (parts["Signature"], want))
    body = json.loads(q["body"])
    check(set(body) == {"StreamName", "Data", "PartitionKey"} and body["StreamName"] == "binhook-changes", body)

# The records: one per row change, plus one per dangerous statement, each
# sent once.
check(len(records) == len(reqs) == 16, "%d records for %d requests" % (len(records), len(reqs)))
got = []
for r in records:
    e = json.loads(base64.b64decode(r["Data"]))
    got.append((r["PartitionKey"], e))
def key_of(e):
    return "%s.%s:%s" % (e["schema"], e["table"], json.dumps(e["key"], separators=(",", ":")))

row_events = [(k, e) for k, e in got if e["type"] in ("insert", "update", "delete")]
stmt_events = [(k, e) for k, e in got if e["type"] == "statement"]
# The DELETE without WHERE: its two rows, and once more the first row as the
# dangerous statement's record (partitioned by schema).
dww = [(k, e) for k, e in row_events if k == "shop"]
rows = [(k, e) for k, e in row_events if k != "shop"]
for k, e in rows:
    check(k == key_of(e), (k, e))
want_rows = sorted([("insert", "shop.orders:{\"id\":1}"), ("insert", "shop.orders:{\"id\":2}"),
                    ("update", "shop.orders:{\"id\":1}"), ("insert", "shop.items:{\"order_id\":1,\"n\":1}"),
                    ("insert", "shop.items:{\"order_id\":1,\"n\":2}"), ("update", "shop.items:{\"order_id\":1,\"n\":1}"),
                    ("delete", "shop.orders:{\"id\":2}"), ("insert", "shop.tmp:{\"id\":10}"),
                    ("insert", "shop.tmp:{\"id\":11}"), ("delete", "shop.tmp:{\"id\":10}"),
                    ("delete", "shop.tmp:{\"id\":11}"), ("insert", "shop.docs:{\"id\":1}")])
check(sorted((e["type"], k) for k, e in rows) == want_rows, sorted((e["type"], k) for k, e in rows))
check(len(dww) == 1 and dww[0][1]["type"] == "delete" and dww[0][1]["sql"] == "DELETE FROM tmp", dww)
# one row's records in commit order on the shard
seen = {}
for k, e in rows:
    seen.setdefault(k, []).append(e["type"])
check(seen["shop.orders:{\"id\":1}"] == ["insert", "update"], seen)
check(seen["shop.orders:{\"id\":2}"] == ["insert", "delete"], seen)
check(seen["shop.items:{\"order_id\":1,\"n\":1}"] == ["insert", "update"], seen)
# values as the canonical event carries them; a record of 900 kB, whose
# request (over 1 MiB in base64) curl sends after a 100-continue, verified
# like the others above
doc = [e for k, e in rows if e["table"] == "docs"][0]
check(doc["after"] == {"id": 1, "body": "x" * 900000}, doc)
check([q["headers"] for q in reqs if len(q["body"]) > 1 << 20] == [q["headers"] for q in reqs if ["Expect", "100-continue"] in q["headers"]] != [],
      [q["headers"] for q in reqs if len(q["body"]) > 1 << 20])
upd = [e for k, e in rows if e["type"] == "update" and e["table"] == "orders"][0]
check(upd["before"] == {"id": 1, "status": "new"} and upd["after"] == {"id": 1, "status": "paid"} and
      upd["changed"] == ["status"], upd)
# GRANT, TRUNCATE and DROP TABLE: statements, partitioned by their schema,
# with who ran them
check(sorted(e["sql"].split(" ")[0] for k, e in stmt_events) == ["DROP", "GRANT", "TRUNCATE"], stmt_events)
for k, e in stmt_events:
    check(k == "shop" and e["schema"] == "shop" and e["user"] and "thread_id" in e, (k, e))
drop = [e for k, e in stmt_events if e["sql"].startswith("DROP")][0]
check(drop["kind"] == "ddl" and drop["sql"].startswith("DROP TABLE `items`"), drop)
print("ok", len(records))
EOF

test_expect_success 'every record holds the canonical event and the partition key; every request verifies' '
  kport=$(cat "$TRASH/kinesalite.port") &&
  python3 "$TRASH/kin.py" "$kport" DescribeStream "{\"StreamName\": \"binhook-changes\"}" >describe.json &&
  shard=$(python3 -c "import json,sys; print(json.load(sys.stdin)[\"StreamDescription\"][\"Shards\"][0][\"ShardId\"])" <describe.json) &&
  python3 "$TRASH/kin.py" "$kport" GetShardIterator \
    "{\"StreamName\": \"binhook-changes\", \"ShardId\": \"$shard\", \"ShardIteratorType\": \"TRIM_HORIZON\"}" >it.json &&
  it=$(python3 -c "import json,sys; print(json.load(sys.stdin)[\"ShardIterator\"])" <it.json) &&
  python3 "$TRASH/kin.py" "$kport" GetRecords "{\"ShardIterator\": \"$it\", \"Limit\": 1000}" >records.json &&
  python3 "$TRASH/check.py" "$TRASH/proxy.jsonl" records.json >res &&
  test_grep "^ok 16\$" res
'

test_expect_success 'the credentials appear nowhere binhook writes' '
  stop_binhook run.log &&
  "$BINHOOK" test -c "$TRASH/g.toml" --event - >test.out 2>&1 <<-\EOF &&
	{"type":"statement","schema":"shop","sql":"DROP TABLE x","kind":"ddl","thread_id":1}
	EOF
  test_grep "X-Amz-Target: Kinesis_20131202.PutRecord" test.out &&
  ! grep -rqF -e "$BH_TEST_AWS_SECRET_KEY" -e "$BH_TEST_AWS_SESSION_TOKEN" -e "$BH_TEST_AWS_ACCESS_KEY" \
    "$TRASH/run.log" test.out check.out "$TRASH/state"
'

test_done
