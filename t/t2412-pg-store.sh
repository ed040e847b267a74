#!/usr/bin/env bash
# A PostgreSQL source with the state in a database ([state] store, a
# private MariaDB): the slot's confirmed flush LSN follows the checkpoint
# the store commits with the queue's rows, so it moves forward as changes
# are delivered or durably queued (and the server can drop the WAL behind
# it), never past the checkpoint in the store; after a SIGKILL binhook
# resumes from the store's checkpoint: every change delivered, none lost.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'
pg_start || test_skip_all 'cannot start postgres'

# store_cp: the LSN (a number) of the checkpoint committed in the store.
store_cp () {
  mariadb_sql "SELECT v FROM bh_state.binhook_meta WHERE name = 'pg' AND k = 'checkpoint'" |
    python3 -c 'import json, sys; print(json.JSONDecoder().raw_decode(sys.stdin.read())[0]["pos"])'
}

# all_delivered N: the receiver accepted N different changes (one rule,
# one endpoint: a webhook-id a change).
all_delivered () {
  [ "$(accepted_ids r1)" -ge "$1" ]
}

test_expect_success 'set up: a flaky receiver, the state in MariaDB, binhook run on the slot' '
  mariadb_sql "GRANT ALL ON bh_state.* TO binhook@127.0.0.1" &&
  start_receiver r1 --fail 0.3 --seed 7 &&
  pg_sql "CREATE TABLE orders (id int PRIMARY KEY, status text)" &&
  cat >"$TRASH/pg.toml" <<-EOF &&
	[state]
	dir = "state"
	store = "mysql://binhook@127.0.0.1:$MYSQL_PORT/bh_state"
	name = "pg"
	[source]
	url = "$BINHOOK_PG_URL"
	[endpoint.r1]
	url = "http://127.0.0.1:$(cat "$TRASH/r1.port")/hook"
	signing = "none"
	retry = ["1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	[[rule]]
	name = "orders"
	table = "public.orders"
	endpoint = "r1"
	EOF
  start_binhook pg.toml run.log &&
  test_grep "made the replication slot" run.log &&
  slot_lsn >start.lsn
'

test_expect_success 'the slot moves forward as the changes are delivered, never past the store'"'"'s checkpoint' '
  pg_sql "INSERT INTO orders SELECT g, \$\$new\$\$ FROM generate_series(1, 100) g" &&
  pg_sql "UPDATE orders SET status = \$\$paid\$\$ WHERE id <= 50" &&
  after=$(pg_lsn) &&
  test_wait_until 60 all_delivered 150 &&
  test_wait_until 30 slot_at "$after" &&
  slot_past "$(cat start.lsn)" &&
  slot=$(slot_lsn) && cp=$(store_cp) &&
  test "$slot" -le "$cp"
'

test_expect_success 'while deliveries wait in the store'"'"'s queue, the slot never passes its checkpoint' '
  : >samples &&
  for i in $(seq 1 20); do
    pg_sql "INSERT INTO orders VALUES (1000 + $i, \$\$more\$\$)" &&
    slot=$(slot_lsn) && cp=$(store_cp) &&
    echo "$slot $cp" >>samples || return 1
    sleep 0.2
  done &&
  awk "\$1 > \$2 { bad++ } END { exit bad > 0 }" samples &&
  test_wait_until 60 all_delivered 170
'

test_expect_success 'after a SIGKILL binhook resumes from the store'"'"'s checkpoint: nothing lost' '
  pg_sql "INSERT INTO orders SELECT g, \$\$late\$\$ FROM generate_series(2001, 2050) g" &&
  sleep 0.5 &&
  kill -9 "$(cat "$TRASH/run.log.pid")" &&
  test_wait_until 10 binhook_gone "$(cat "$TRASH/run.log.pid")" &&
  slot_lsn >killed.lsn &&
  test "$(cat killed.lsn)" -le "$(store_cp)" &&
  pg_sql "INSERT INTO orders SELECT g, \$\$after\$\$ FROM generate_series(3001, 3030) g" &&
  after=$(pg_lsn) &&
  start_binhook pg.toml run2.log &&
  test_wait_until 60 all_delivered 250 &&
  test_wait_until 30 slot_at "$after" &&
  slot_past "$(cat killed.lsn)" &&
  stop_binhook run2.log
'

test_done
