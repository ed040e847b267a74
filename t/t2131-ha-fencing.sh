#!/usr/bin/env bash
# Fencing: the active binhook SIGSTOPped for longer than its lease. The
# standby takes over; after SIGCONT the old active lands no write in the
# store (checked while the new active is frozen too, so that nothing else
# writes), steps down to standby within a second or two, and the test
# prints how many requests it sent in that moment (at least once allows
# them). Replaying what the receiver accepted still gives the table. Then
# the store's server restarts under load: binhook waits, goes on, loses
# nothing.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"
. "$TOP/t/lib/ha.sh"

require_cmd python3 curl sysbench
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_A=127.0.0.1:$(test_free_port)
ADMIN_B=127.0.0.1:$(test_free_port)

load () {
  (sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 --threads=2 --rate=40 --time="$1" \
    --db-ps-mode=disable --mysql-ignore-errors=all \
    run >>"$TRASH/load.out" 2>&1 &
   echo $! >"$TRASH/load.pid")
}

load_done () {
  ! kill -0 "$(cat "$TRASH/load.pid")" 2>/dev/null
}

# The store's rows for the deployment, as digests.
store_digest () {
  mariadb_sql "SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', k, MD5(v)) ORDER BY k)) FROM binhook_state.binhook_meta;
    SELECT COUNT(*), MD5(GROUP_CONCAT(CONCAT_WS('|', seq, attempts, due, dead) ORDER BY seq)) FROM binhook_state.binhook_queue;
    SELECT epoch FROM binhook_state.binhook_lease"
}

test_expect_success 'setup: a active, b standby, a load going' '
  mariadb_sql "SET SESSION sql_log_bin = 0;
    GRANT ALL ON binhook_state.* TO binhook@127.0.0.1; CREATE DATABASE sbtest" &&
  start_receiver hook --fail 0.1 --seed 5 &&
  ha_config a "$ADMIN_A" 4s && ha_config b "$ADMIN_B" 4s &&
  ha_start a && test_wait_until 30 ha_is_active "$ADMIN_A" &&
  ha_start b && test_wait_until 30 ha_is_standby "$ADMIN_B" &&
  sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 prepare >"$TRASH/prepare.out" 2>&1 &&
  load 20 &&
  sleep 3
'

test_expect_success 'the active SIGSTOPped past its lease: the standby takes over' '
  kill -STOP $(cat "$TRASH/a.pid") &&
  t0=$(date +%s.%N) &&
  test_wait_until 20 ha_is_active "$ADMIN_B" &&
  t1=$(date +%s.%N) &&
  echo "# b active $(python3 -c "print(round($t1 - $t0, 1))") s after a was stopped" >&7 &&
  python3 -c "import sys; sys.exit(0 if $t1 - $t0 <= 15 else 1)"
'

test_expect_success 'after SIGCONT the old active lands no write and steps down within two seconds' '
  sleep 1 &&
  kill -STOP $(cat "$TRASH/b.pid") &&
  sleep 0.5 &&
  store_digest >"$TRASH/digest.before" &&
  python3 -c "import json, time; print(time.time())" >"$TRASH/cont.at" &&
  kill -CONT $(cat "$TRASH/a.pid") &&
  t0=$(date +%s.%N) &&
  test_wait_until 5 ha_is_standby "$ADMIN_A" &&
  t1=$(date +%s.%N) &&
  echo "# a a standby again $(python3 -c "print(round($t1 - $t0, 1))") s after SIGCONT" >&7 &&
  python3 -c "import sys; sys.exit(0 if $t1 - $t0 <= 2.5 else 1)" &&
  store_digest >"$TRASH/digest.after" &&
  test_cmp "$TRASH/digest.before" "$TRASH/digest.after" &&
  test_grep "stepping down to standby" a.log &&
  python3 - "$TRASH/hook.jsonl" "$(cat "$TRASH/cont.at")" >&7 <<-\EOF &&
	import json, sys
	n = sum(1 for l in open(sys.argv[1]) if (lambda r: r["headers"].get("x-who") == "a" and r["t"] >= float(sys.argv[2]))(json.loads(l)))
	print("# requests the old active sent after SIGCONT: %d" % n)
	EOF
  if grep -q "writes nothing more" "$TRASH/a.log"; then
    echo "# its queue writer tried to write and was refused by the fence" >&7
  fi &&
  kill -CONT $(cat "$TRASH/b.pid")
'

test_expect_success 'one of them is active again; the replay still equals the table' '
  test_wait_until 20 eval "ha_is_active $ADMIN_A || ha_is_active $ADMIN_B" &&
  test_wait_until 60 load_done &&
  test_wait_until 90 ha_replay_matches &&
  sed "s/^/# /" "$TRASH/replay.out" >&7 &&
  ! grep -q "^problem:" "$TRASH/replay.out"
'

test_expect_success 'the store server restarts under load: binhook waits, goes on, loses nothing' '
  load 15 &&
  sleep 3 &&
  mariadb_restart &&
  test_wait_until 60 load_done &&
  test_wait_until 30 eval "ha_is_active $ADMIN_A || ha_is_active $ADMIN_B" &&
  test_wait_until 120 ha_replay_matches &&
  sed "s/^/# /" "$TRASH/replay.out" >&7 &&
  ! grep -q "^problem:" "$TRASH/replay.out"
'

test_done
