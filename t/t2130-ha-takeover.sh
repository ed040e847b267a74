#!/usr/bin/env bash
# High availability: two binhook processes with the same configuration,
# their state in the source MariaDB ([state] store), a sysbench load, a
# receiver failing 10 % of requests. The active is SIGKILLed five times
# (always the current one): each time the standby takes over within the
# lease (the test prints every takeover time), and replaying what the
# receiver accepted, per key, gives exactly the final table, with no
# webhook-id accepted with two bodies.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"
. "$TOP/t/lib/ha.sh"

require_cmd python3 curl sysbench
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_A=127.0.0.1:$(test_free_port)
ADMIN_B=127.0.0.1:$(test_free_port)

admin_of () {
  if [ "$1" = a ]; then echo "$ADMIN_A"; else echo "$ADMIN_B"; fi
}

test_expect_success 'setup: two binhooks on one store; one is active, the other a standby' '
  mariadb_sql "SET SESSION sql_log_bin = 0;
    GRANT ALL ON binhook_state.* TO binhook@127.0.0.1; CREATE DATABASE sbtest" &&
  start_receiver hook --fail 0.1 --seed 11 &&
  ha_config a "$ADMIN_A" && ha_config b "$ADMIN_B" &&
  ha_start a &&
  test_wait_until 30 ha_is_active "$ADMIN_A" &&
  ha_start b &&
  test_wait_until 30 ha_is_standby "$ADMIN_B" &&
  sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 prepare >"$TRASH/prepare.out" 2>&1 &&
  test_grep "standby: .default. is active on" b.log &&
  curl -sf "http://$ADMIN_B/healthz" >/dev/null &&
  curl -s "http://$ADMIN_B/metrics" | grep -q "^binhook_active 0" &&
  curl -s "http://$ADMIN_A/metrics" | grep -q "^binhook_active 1"
'

test_expect_success 'the active SIGKILLed five times under load: the standby takes over each time' '
  mariadb_use main &&
  (sysbench oltp_write_only --db-driver=mysql --mysql-socket="$MYSQL_SOCK" --mysql-user=root \
    --mysql-db=sbtest --tables=1 --table-size=100 --threads=2 --rate=50 --time=45 \
    --db-ps-mode=disable --mysql-ignore-errors=1213,1205 run >"$TRASH/load.out" 2>&1 &
   echo $! >"$TRASH/load.pid") &&
  active=a &&
  for round in 1 2 3 4 5; do
    sleep 3 &&
    other=$([ $active = a ] && echo b || echo a) &&
    kill -9 $(cat "$TRASH/$active.pid") &&
    t0=$(date +%s.%N) &&
    test_wait_until 20 ha_is_active "$(admin_of $other)" &&
    t1=$(date +%s.%N) &&
    took=$(python3 -c "print(round($t1 - $t0, 1))") &&
    echo "# takeover $round: $other active $took s after the SIGKILL of $active" >&7 &&
    python3 -c "import sys; sys.exit(0 if $t1 - $t0 <= 15 else 1)" &&
    ha_start $active &&
    test_wait_until 30 ha_is_standby "$(admin_of $active)" &&
    active=$other || return 1
  done &&
  curl -sf "http://$(admin_of $active)/status" | python3 -c "import json, sys; s = json.load(sys.stdin); assert s[\"lease\"][\"takeovers\"] >= 5, s"
'

test_expect_success 'replaying what the receiver accepted gives exactly the table; no webhook-id with two bodies' '
  while kill -0 $(cat "$TRASH/load.pid") 2>/dev/null; do sleep 1; done &&
  test_wait_until 120 ha_replay_matches &&
  sed "s/^/# /" "$TRASH/replay.out" >&7 &&
  ! grep -q "^problem:" "$TRASH/replay.out" &&
  grep -q "\"status\": 500" "$TRASH/hook.jsonl"
'

test_expect_success 'a stop gives the lease up: the standby takes over at once' '
  for n in a b; do ha_is_active "$(admin_of $n)" && act=$n; done &&
  other=$([ $act = a ] && echo b || echo a) &&
  kill -TERM $(cat "$TRASH/$act.pid") &&
  t0=$(date +%s.%N) &&
  test_wait_until 10 ha_is_active "$(admin_of $other)" &&
  t1=$(date +%s.%N) &&
  python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 4 else 1)" &&
  test_wait_until 30 binhook_gone $(cat "$TRASH/$act.pid")
'

test_done
