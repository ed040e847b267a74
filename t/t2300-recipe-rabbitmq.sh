#!/usr/bin/env bash
# rules/recipes/rabbitmq.toml end to end: a private RabbitMQ (Debian's
# rabbitmq-server with the management plugin, its own epmd, every port on
# 127.0.0.1, everything in the scratch directory) with a queue bound to the
# exchange 'mysql-monitor', a private MariaDB, and binhook run with the
# recipe as it ships. The messages read back from the queue are, field by
# field, what the Python MySQL Monitor sent: row_insert with the row,
# row_update with only the changed columns, row_delete, keys (composite ones
# in key order, {} without a primary key), table_name, binlog_timestamp and
# timestamp, in commit order, nothing for tables outside the recipe; and the
# heartbeat that the server's event scheduler drives.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

RABBITMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
require_cmd python3 curl
[ -x "$RABBITMQ_SERVER" ] && command -v epmd >/dev/null 2>&1 ||
  test_skip_all 'rabbitmq-server is not installed (apt-get install rabbitmq-server)'
mariadb_start || test_skip_all 'cannot start mariadbd'

RMQ=$TRASH/rabbitmq
RMQ_USER=binhook
RMQ_PASS='pub-s3cret'

# rabbitmq_start: epmd and rabbitmq-server on free loopback ports, reading
# no file of the machine; MGMT_PORT is the management API's port.
rabbitmq_start () {
  local amqp_port dist_port epmd_port
  amqp_port=$(test_free_port) && dist_port=$(test_free_port) && epmd_port=$(test_free_port) &&
    MGMT_PORT=$(test_free_port) || return 1
  mkdir -p "$RMQ/home" || return 1
  cat >"$RMQ/rabbitmq.conf" <<-EOF
	listeners.tcp.1 = 127.0.0.1:$amqp_port
	management.tcp.ip = 127.0.0.1
	management.tcp.port = $MGMT_PORT
	default_user = $RMQ_USER
	default_pass = $RMQ_PASS
	log.console = false
	log.file.level = info
	EOF
  echo '[rabbitmq_management].' >"$RMQ/enabled_plugins"
  : >"$RMQ/rabbitmq-env.conf"
  { epmd -port "$epmd_port" -address 127.0.0.1 </dev/null >"$RMQ/epmd.log" 2>&1 7>&- 8>&- & }
  local epmd_pid=$!
  test_atexit "test_kill $epmd_pid"
  { env HOME="$RMQ/home" ERL_EPMD_PORT="$epmd_port" \
      RABBITMQ_CONF_ENV_FILE="$RMQ/rabbitmq-env.conf" \
      RABBITMQ_CONFIG_FILE="$RMQ/rabbitmq.conf" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ/advanced.config" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ/enabled_plugins" \
      RABBITMQ_NODENAME="binhook-test-$$@localhost" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" \
      RABBITMQ_DIST_PORT="$dist_port" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      RABBITMQ_MNESIA_BASE="$RMQ/mnesia" RABBITMQ_LOG_BASE="$RMQ/log" \
      RABBITMQ_PID_FILE="$RMQ/beam.pid" \
      "$RABBITMQ_SERVER" </dev/null >"$RMQ/server.log" 2>&1 7>&- 8>&- & }
  local rmq_pid=$!
  # The Erlang VM first (its pid file), then the script that started it.
  test_atexit "kill -KILL \$(cat '$RMQ/beam.pid' 2>/dev/null) 2>/dev/null; test_kill $rmq_pid"
  # Stops both if this script dies without running its exit hooks.
  (
    while kill -0 "$rmq_pid" 2>/dev/null; do
      if ! kill -0 "$$" 2>/dev/null; then
        kill -KILL "$(cat "$RMQ/beam.pid" 2>/dev/null)" "$rmq_pid" "$epmd_pid" 2>/dev/null
        exit 0
      fi
      sleep 1
    done
  ) </dev/null >/dev/null 2>&1 7>&- 8>&- &
  test_atexit "kill $! 2>/dev/null"
  test_wait_until 120 rmq_api GET overview
}

# rmq_api METHOD PATH [JSON]: one call to the management API, the answer on
# stdout; fails on a status other than 2xx.
rmq_api () {
  curl -sSf -u "$RMQ_USER:$RMQ_PASS" -X "$1" -H 'content-type: application/json' \
    ${3:+--data-binary "$3"} "http://127.0.0.1:$MGMT_PORT/api/$2" 2>/dev/null
}

# drain.py PORT USER PASS QUEUE OUT: takes the messages waiting in QUEUE
# (acknowledged, so each comes once) and appends them to OUT, one JSON line
# each. drained N: OUT holds at least N messages by now.
cat >"$TRASH/drain.py" <<'EOF'
import base64, json, sys, urllib.request
port, user, password, queue, out = sys.argv[1:6]
req = urllib.request.Request(
    "http://127.0.0.1:%s/api/queues/%%2F/%s/get" % (port, queue),
    data=json.dumps({"count": 500, "ackmode": "ack_requeue_false", "encoding": "auto"}).encode(),
    headers={"content-type": "application/json",
             "authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()})
msgs = json.loads(urllib.request.urlopen(req, timeout=20).read())
with open(out, "a") as f:
    for m in msgs:
        f.write(json.dumps(m) + "\n")
EOF
drained () {
  python3 "$TRASH/drain.py" "$MGMT_PORT" "$RMQ_USER" "$RMQ_PASS" monitor-test "$TRASH/messages.jsonl" &&
    [ "$(wc -l <"$TRASH/messages.jsonl")" -ge "$1" ]
}

test_expect_success 'a private RabbitMQ with the management API' '
  rabbitmq_start &&
  rmq_api GET overview >overview.json &&
  grep -q "\"management_version\"" overview.json
'

test_expect_success 'the exchange and a queue bound to it' '
  rmq_api PUT exchanges/%2F/mysql-monitor "{\"type\":\"fanout\",\"durable\":true}" &&
  rmq_api PUT queues/%2F/monitor-test "{\"durable\":true}" &&
  rmq_api POST bindings/%2F/e/mysql-monitor/q/monitor-test "{\"routing_key\":\"monitor\"}" &&
  : >"$TRASH/messages.jsonl"
'

test_expect_success 'binhook run with the recipe as it ships' '
  mariadb_sql "
    CREATE DATABASE shop;
    CREATE TABLE shop.employee (id INT PRIMARY KEY, fname VARCHAR(40), lname VARCHAR(40),
                                salary DECIMAL(10,2), hired DATETIME, note TEXT);
    CREATE TABLE shop.item_tags (item_id INT, tag VARCHAR(20), weight INT, PRIMARY KEY (tag, item_id));
    CREATE TABLE shop.log (msg VARCHAR(40));
    CREATE DATABASE other;
    CREATE TABLE other.t (id INT PRIMARY KEY, v INT);
    CREATE DATABASE binhook;
    CREATE TABLE binhook.heartbeat (id TINYINT PRIMARY KEY, ts TIMESTAMP(3) NOT NULL)" &&
  cat >"$TRASH/rmq.toml" <<-EOF &&
	include = ["$TOP/rules/recipes/rabbitmq.toml"]
	templates = "$TOP/templates"
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7300
	[endpoint.rabbitmq]
	url = "http://127.0.0.1:$MGMT_PORT/api/exchanges/%2F/mysql-monitor/publish"
	headers = { "authorization" = "Basic $(printf %s "$RMQ_USER:$RMQ_PASS" | base64)" }
	signing = "none"
	ordering = "endpoint"
	EOF
  "$BINHOOK" check -c "$TRASH/rmq.toml" &&
  start_binhook rmq.toml run.log
'

test_expect_success 'inserts, updates (one of a primary key) and deletes reach the queue' '
  date +%s >"$TRASH/t0" &&
  mariadb_sql "
    INSERT INTO shop.employee VALUES (1, \"Ann\", \"Lee\", 1000.50, \"2024-01-02 03:04:05\", NULL),
                                     (2, \"Bob\", \"Ray\", 2000.00, \"2024-02-03 04:05:06\", \"say \\\"hi\\\" to é\");
    UPDATE shop.employee SET fname = \"Annie\", salary = 1100.00 WHERE id = 1;
    UPDATE shop.employee SET id = 20 WHERE id = 2;
    UPDATE shop.employee SET note = NULL WHERE id = 20;
    INSERT INTO other.t VALUES (1, 1);
    DELETE FROM shop.employee WHERE id = 1;
    BEGIN;
    INSERT INTO shop.item_tags VALUES (7, \"red\", 1), (7, \"blue\", 2);
    UPDATE shop.item_tags SET weight = 5 WHERE item_id = 7 AND tag = \"red\";
    COMMIT;
    DELETE FROM shop.item_tags WHERE tag = \"blue\";
    UPDATE other.t SET v = 2;
    INSERT INTO shop.log VALUES (\"no key\");
    DELETE FROM shop.log;
    INSERT INTO shop.log VALUES (\"the end\")" &&
  date +%s >"$TRASH/t1" &&
  test_wait_until 60 drained 13
'

cat >"$TRASH/check.py" <<'EOF'
import json, sys, time
t0, t1 = int(open(sys.argv[2]).read()), int(open(sys.argv[3]).read())
msgs = [json.loads(l) for l in open(sys.argv[1])]
now = int(time.time()) + 1

def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)

E1 = {"id": 1, "fname": "Ann", "lname": "Lee", "salary": "1000.50", "hired": "2024-01-02T03:04:05", "note": None}
E2 = {"id": 2, "fname": "Bob", "lname": "Ray", "salary": "2000.00", "hired": "2024-02-03T04:05:06",
      "note": "say \"hi\" to \u00e9"}
want = [
    ("row_insert", "employee", {"id": 1}, {"values": E1}),
    ("row_insert", "employee", {"id": 2}, {"values": E2}),
    ("row_update", "employee", {"id": 1}, {"before_values": {"fname": "Ann", "salary": "1000.50"},
                                           "after_values": {"fname": "Annie", "salary": "1100.00"}}),
    ("row_update", "employee", {"id": 20}, {"before_values": {"id": 2}, "after_values": {"id": 20}}),
    ("row_update", "employee", {"id": 20}, {"before_values": {"note": E2["note"]}, "after_values": {"note": None}}),
    ("row_delete", "employee", {"id": 1}, {}),
    ("row_insert", "item_tags", {"tag": "red", "item_id": 7}, {"values": {"item_id": 7, "tag": "red", "weight": 1}}),
    ("row_insert", "item_tags", {"tag": "blue", "item_id": 7}, {"values": {"item_id": 7, "tag": "blue", "weight": 2}}),
    ("row_update", "item_tags", {"tag": "red", "item_id": 7}, {"before_values": {"weight": 1}, "after_values": {"weight": 5}}),
    ("row_delete", "item_tags", {"tag": "blue", "item_id": 7}, {}),
    ("row_insert", "log", {}, {"values": {"msg": "no key"}}),
    ("row_delete", "log", {}, {}),
    ("row_insert", "log", {}, {"values": {"msg": "the end"}}),
]
check(len(msgs) == len(want), "%d messages, want %d: %r" % (len(msgs), len(want), msgs))
ids = set()
for m, (typ, table, keys, rest) in zip(msgs, want):
    check(m["exchange"] == "mysql-monitor" and m["routing_key"] == "monitor", m)
    check(m["payload_encoding"] == "string", m)
    p = m["properties"]
    check(p.get("content_type") == "application/json" and p.get("delivery_mode") == 2, p)
    check(p.get("message_id") and p["message_id"] not in ids, "message_id %r" % p)
    ids.add(p["message_id"])
    body = json.loads(m["payload"])
    fields = {"type", "table_name", "keys", "binlog_timestamp", "timestamp"} | set(rest)
    check(set(body) == fields, "members %r, want %r" % (sorted(body), sorted(fields)))
    check(body["type"] == typ and body["table_name"] == table, body)
    check(body["keys"] == keys and list(body["keys"]) == list(keys), "keys %r, want %r" % (body["keys"], keys))
    for k, v in rest.items():
        check(body[k] == v and list(body[k]) == list(v), "%s: %r, want %r" % (k, body[k], v))
    bt, ts = body["binlog_timestamp"], body["timestamp"]
    check(type(bt) is int and type(ts) is int, body)
    check(t0 <= bt <= t1, "binlog_timestamp %d not within %d..%d" % (bt, t0, t1))
    check(bt <= ts <= now, "timestamp %d not within %d..%d" % (ts, bt, now))
print("ok", len(msgs))
EOF

test_expect_success 'the messages are the monitor format, field by field, in commit order' '
  python3 "$TRASH/check.py" "$TRASH/messages.jsonl" "$TRASH/t0" "$TRASH/t1" >out &&
  test_grep "^ok 13\$" out
'

test_expect_success 'the event scheduler drives heartbeat messages' '
  : >"$TRASH/messages.jsonl" &&
  date +%s >"$TRASH/t2" &&
  mariadb_sql "
    SET GLOBAL event_scheduler = ON;
    CREATE EVENT binhook.heartbeat ON SCHEDULE EVERY 1 SECOND
      DO INSERT INTO binhook.heartbeat VALUES (1, NOW(3)) ON DUPLICATE KEY UPDATE ts = NOW(3)" &&
  test_wait_until 60 drained 3 &&
  mariadb_sql "DROP EVENT binhook.heartbeat; SET GLOBAL event_scheduler = OFF" &&
  python3 -c "
import json, sys, time
t2, now = int(open(sys.argv[2]).read()), int(time.time()) + 1
last = 0
msgs = [json.loads(l) for l in open(sys.argv[1])]
assert len(msgs) >= 3, msgs
for m in msgs:
    body = json.loads(m[\"payload\"])
    assert set(body) == {\"type\", \"timestamp\"} and body[\"type\"] == \"heartbeat\", body
    assert type(body[\"timestamp\"]) is int and max(t2, last) <= body[\"timestamp\"] <= now, (body, t2, now)
    last = body[\"timestamp\"]
    assert m[\"properties\"][\"content_type\"] == \"application/json\" and m[\"routing_key\"] == \"monitor\", m
" "$TRASH/messages.jsonl" "$TRASH/t2"
'

test_expect_success 'binhook stops cleanly, having logged no error or warning' '
  stop_binhook run.log &&
  test_grep ! -E "^[^ ]+ (error|warning) " "$TRASH/run.log"
'

test_done
