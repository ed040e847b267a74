#!/usr/bin/env bash
# demo.sh - binhook in two minutes on a fresh Debian 12 machine: installs what
# is missing and builds (contrib/setup.sh), starts a throwaway MariaDB with the
# binlog on (loopback only, its own temporary directory), a webhook receiver
# on 127.0.0.1:8080 and an SMTP receiver on 127.0.0.1:2525 (where the shipped
# gateway.toml sends), then binhook run with the shipped gateway.toml and its
# rules/ and templates/; makes a few writes, a DELETE without WHERE and a DROP
# TABLE; shows every delivery (signature checked) and e-mail, and cleans
# everything up.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
"$TOP/contrib/setup.sh" --release-only >&2

export BINHOOK_BUILD=$TOP/build
exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"

say() { printf '\n\033[1m%s\033[0m\n' "$*" >&2; }
# The demo's signing secret (Standard Webhooks: whsec_ and base64); a real
# one comes from a secret store, never from a script.
export BINHOOK_WEBHOOK_SECRET=whsec_ZGVtby1zZWNyZXQtb2YtYmluaG9vaw==

say "starting a throwaway MariaDB on 127.0.0.1 (binlog_format=ROW) ..."
mariadb_start >/dev/null
echo "  listening on 127.0.0.1:$MYSQL_PORT, data in $TRASH" >&2
mariadb_sql "CREATE DATABASE shop;
  CREATE TABLE shop.customers (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(100), status VARCHAR(20));
  CREATE TABLE shop.orders (id INT PRIMARY KEY, status ENUM('new','paid','shipped'), total DECIMAL(10,2), placed DATETIME(3));
  CREATE TABLE shop.audit (id INT PRIMARY KEY, what VARCHAR(100))"

say "checking the server (binhook doctor) and the configuration (binhook check)"
"$BINHOOK" doctor -c "$TOP/gateway.toml" --source "$BINHOOK_URL" || true
(cd "$TOP" && "$BINHOOK" check -c gateway.toml)

say "starting the receivers: webhooks on 127.0.0.1:8080, e-mail on 127.0.0.1:2525"
python3 "$TOP/t/lib/receiver.py" "$TRASH/http.port" "$TRASH/http.jsonl" 200 8080 7>&- 8>&- &
test_atexit "kill $! 2>/dev/null"
python3 "$TOP/t/lib/smtp_receiver.py" "$TRASH/smtp.port" "$TRASH/smtp.jsonl" 2525 7>&- 8>&- &
test_atexit "kill $! 2>/dev/null"
test_wait_until 10 test -s "$TRASH/http.port" || { echo "demo: port 8080 is taken; free it and run again" >&2; exit 1; }
test_wait_until 10 test -s "$TRASH/smtp.port" || { echo "demo: port 2525 is taken; free it and run again" >&2; exit 1; }

say "starting: binhook run -c gateway.toml --source $BINHOOK_URL --state $TRASH/state"
(cd "$TOP" && exec "$BINHOOK" run -c gateway.toml --source "$BINHOOK_URL" --state "$TRASH/state" \
  2>"$TRASH/binhook.log" 7>&- 8>&-) &
pid=$!
test_atexit "kill $pid 2>/dev/null"
test_wait_until 30 grep -q "reading from" "$TRASH/binhook.log"

say "writing: a customer, an order and its payment, a DELETE without WHERE, a DROP TABLE ..."
mariadb_sql "INSERT INTO shop.customers VALUES (7, 'Ann@Example.COM', 'Ann', 'active');
UPDATE shop.customers SET status = 'vip' WHERE id = 7;
INSERT INTO shop.orders VALUES (42, 'new', 99.90, NOW(3));
UPDATE shop.orders SET status = 'paid', total = 120.00 WHERE id = 42;
INSERT INTO shop.audit VALUES (1, 'x'), (2, 'y');
DELETE FROM shop.audit;
DROP TABLE shop.audit;"

# settled: nothing new for two seconds
settled() {
  local a b
  a=$(cat "$TRASH"/*.jsonl 2>/dev/null | wc -l)
  sleep 2
  b=$(cat "$TRASH"/*.jsonl 2>/dev/null | wc -l)
  [ "$a" -gt 0 ] && [ "$a" = "$b" ]
}
test_wait_until 60 settled
test_kill "$pid"

say "what the receivers got:"
python3 - "$TRASH/http.jsonl" "$TRASH/smtp.jsonl" "$BINHOOK_WEBHOOK_SECRET" <<'PY'
import base64, hashlib, hmac, json, os, sys
key = base64.b64decode(sys.argv[3][len("whsec_"):])
for line in open(sys.argv[1]):
    q = json.loads(line)
    h = q["headers"]
    sig = "none"
    if "webhook-signature" in h:
        signed = (h["webhook-id"] + "." + h["webhook-timestamp"] + "." + q["body"]).encode()
        want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        sig = "verified" if want in h["webhook-signature"].split(" ") else "WRONG"
    print("\n%s %s   (webhook-id %s, signature %s)" % (q["method"], q["path"], h.get("webhook-id"), sig))
    try:
        print(json.dumps(json.loads(q["body"]), indent=2, ensure_ascii=False))
    except ValueError:
        print(q["body"])
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        m = json.loads(line)
        print("\nE-MAIL from %s to %s" % (m["mail_from"], ", ".join(m["rcpt_to"])))
        print(m["data"].replace("\r\n", "\n"))
PY

say "binhook's log:"
cat "$TRASH/binhook.log" >&2
say "done; the server, the receivers and their files are removed now."
