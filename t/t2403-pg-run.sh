#!/usr/bin/env bash
# binhook run with a PostgreSQL source: changes of a table delivered to a
# receiver; the slot's confirmed flush LSN follows the saved checkpoint (it
# moves once the deliveries before it are done, never at the start); a
# restart resumes at the checkpoint: the changes written while binhook was
# down arrive, none twice.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
pg_start || test_skip_all 'cannot start postgres'

# The slot's confirmed flush LSN has reached $1.
slot_at () {
  [ "$(pg_sql "SELECT confirmed_flush_lsn >= '$1'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'binhook'")" = t ]
}

# Unique webhook-ids the receiver accepted.
delivered_ids () {
  python3 -c '
import json, sys
ids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if 200 <= r["status"] < 300:
        ids.add(r["headers"].get("webhook-id") or r["headers"].get("Webhook-Id"))
print(len(ids))
' "$TRASH/r1.jsonl"
}

test_expect_success 'set up: a receiver, binhook run on the database shop' '
  start_receiver r1 &&
  pg_sql "CREATE TABLE orders (id int PRIMARY KEY, status text)" &&
  cat >"$TRASH/pg.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_PG_URL"
	[endpoint.r1]
	url = "http://127.0.0.1:$(cat "$TRASH/r1.port")/hook"
	[[rule]]
	name = "orders"
	table = "public.orders"
	on = ["insert", "update"]
	endpoint = "r1"
	EOF
  start_binhook pg.toml run.log &&
  test_grep "made the replication slot" run.log
'

test_expect_success 'every change is delivered; the slot confirms the checkpoint after them' '
  start=$(pg_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \$\$binhook\$\$") &&
  pg_sql "INSERT INTO orders SELECT g, \$\$new\$\$ FROM generate_series(1, 100) g" &&
  pg_sql "UPDATE orders SET status = \$\$paid\$\$ WHERE id <= 50" &&
  after=$(pg_lsn) &&
  test_wait_until 30 accepted r1 150 &&
  test_wait_until 30 slot_at "$after" &&
  test "$(delivered_ids)" = 150 &&
  test "$start" != "$(pg_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \$\$binhook\$\$")"
'

test_expect_success 'changes written while binhook is stopped arrive after its restart, none twice' '
  stop_binhook run.log &&
  pg_sql "INSERT INTO orders SELECT g, \$\$late\$\$ FROM generate_series(101, 110) g" &&
  start_binhook pg.toml run2.log &&
  test_wait_until 30 accepted r1 160 &&
  sleep 1 &&
  test "$(delivered_ids)" = 160 &&
  test "$(grep -c "\"status\": 2" "$TRASH/r1.jsonl")" = 160
'

test_done
