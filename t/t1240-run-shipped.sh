#!/usr/bin/env bash
# binhook run with the shipped gateway.toml, rules/ and templates/ (only the
# receivers' ports changed): a private MariaDB takes the demo's writes, and
# the HTTP and SMTP receivers on 127.0.0.1 must get every delivery the
# recipes promise, signed, and the alert e-mails.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

export BINHOOK_WEBHOOK_SECRET=whsec_ZGVtby1zZWNyZXQtb2YtYmluaG9vaw==

# settled: the receivers got something, and nothing more in the last second.
settled () {
  local a b
  a=$(cat "$TRASH"/http.jsonl "$TRASH"/smtp.jsonl 2>/dev/null | wc -l)
  sleep 1
  b=$(cat "$TRASH"/http.jsonl "$TRASH"/smtp.jsonl 2>/dev/null | wc -l)
  [ "$a" -gt 0 ] && [ "$a" = "$b" ]
}

test_expect_success 'the receivers listen' '
  python3 "$TOP/t/lib/receiver.py" "$TRASH/http.port" "$TRASH/http.jsonl" 7>&- 8>&- &
  test_atexit "kill $! 2>/dev/null" &&
  { python3 "$TOP/t/lib/smtp_receiver.py" "$TRASH/smtp.port" "$TRASH/smtp.jsonl" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/http.port" &&
  test_wait_until 20 test -s "$TRASH/smtp.port"
'

test_expect_success 'binhook run starts on the shipped configuration' '
  mkdir "$TRASH/conf" &&
  cp -r "$TOP/rules" "$TOP/templates" "$TRASH/conf/" &&
  sed -e "s/127.0.0.1:8080/127.0.0.1:$(cat "$TRASH/http.port")/" \
      -e "s/127.0.0.1:2525/127.0.0.1:$(cat "$TRASH/smtp.port")/" "$TOP/gateway.toml" >"$TRASH/conf/gateway.toml" &&
  test "$(diff "$TOP/gateway.toml" "$TRASH/conf/gateway.toml" | grep -c "^>")" = 5 &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.customers (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(100), status VARCHAR(20));
    CREATE TABLE shop.orders (id INT PRIMARY KEY, status ENUM(\"new\",\"paid\",\"shipped\"), total DECIMAL(10,2));
    CREATE TABLE shop.audit (id INT PRIMARY KEY, what VARCHAR(100))" &&
  { (cd "$TRASH/conf" && exec "$BINHOOK" run -c gateway.toml --source "$BINHOOK_URL" 2>"$TRASH/run.log" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/run.pid" &&
  test_atexit "kill -9 $(cat "$TRASH/run.pid") 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/run.log"
'

test_expect_success 'the writes are delivered to every endpoint, signed, and the alerts mailed' '
  mariadb_sql "INSERT INTO shop.customers VALUES (7, \"Ann@Example.COM\", \"Ann\", \"active\");
    UPDATE shop.customers SET status = \"vip\" WHERE id = 7;
    INSERT INTO shop.orders VALUES (42, \"new\", 99.90);
    UPDATE shop.orders SET status = \"paid\", total = 120.00 WHERE id = 42;
    INSERT INTO shop.audit VALUES (1, \"x\"), (2, \"y\");
    DELETE FROM shop.audit;
    DROP TABLE shop.audit" &&
  test_wait_until 60 settled &&
  python3 - "$TRASH/http.jsonl" "$TRASH/smtp.jsonl" <<-\EOF
	import base64, collections, hashlib, hmac, json, sys
	key = base64.b64decode("ZGVtby1zZWNyZXQtb2YtYmluaG9vaw==")
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	paths = collections.Counter((q["method"], q["path"]) for q in reqs)
	# 8 row changes (4 inserts, 2 updates, 2 deletes) to /hooks and /events;
	# the customer twice to the CRM; the paid order and the DELETE without
	# WHERE to Slack, and the DROP TABLE.
	want = {("POST", "/hooks"): 8, ("POST", "/events"): 8, ("PUT", "/crm/contacts/7"): 2, ("POST", "/slack"): 3}
	assert paths == want, paths
	for q in reqs:
	    h = q["headers"]
	    if q["path"] == "/slack":
	        assert "webhook-signature" not in h
	        continue
	    signed = (h["webhook-id"] + "." + h["webhook-timestamp"] + ".").encode() + q["body"].encode()
	    want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
	    assert want in h["webhook-signature"].split(" "), q
	mails = [json.loads(l) for l in open(sys.argv[2])]
	subjects = sorted(l for m in mails for l in m["data"].split("\r\n") if l.startswith("Subject: "))
	assert len(subjects) == 2, subjects
	assert subjects[0].startswith("Subject: [binhook] DELETE without WHERE on shop.audit"), subjects
	assert subjects[1].startswith("Subject: [binhook] DROP TABLE"), subjects
	assert all(m["rcpt_to"] == ["dba@localhost"] and m["mail_from"] == "binhook@localhost" for m in mails)
	EOF
'

test_expect_success 'SIGTERM: a clean stop, every delivery made' '
  kill -TERM $(cat "$TRASH/run.pid") &&
  test_wait_until 30 sh -c "! kill -0 $(cat "$TRASH/run.pid") 2>/dev/null" &&
  test_grep "stopped at [^ ]*: 21 matches, 23 delivered, 0 failed attempts, 0 to the dead letters, 0 queued" "$TRASH/run.log"
'

test_done
