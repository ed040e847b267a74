#!/usr/bin/env bash
# At least once across kill -9, from PostgreSQL: binhook run on a logical
# replication slot is killed with SIGKILL at random moments (10 times; every
# third just after the run moved the slot) and started again on the same
# state directory, while pgbench writes three tables (inserts, updates and
# deletes on integer keys, one table with the default replica identity)
# and the receiver answers 500 to 10 % of requests. In the end:
# - nothing is lost: for each transaction the server decoded (through a
#   test_decoding slot made beside binhook's), the receiver accepted one
#   webhook-id for each of its changes of the tables; replaying, per key,
#   the changes the receiver accepted gives each table's final rows
#   (t/lib/replay.py --order lsn), and no webhook-id ever came with two
#   bodies;
# - the slot never passed an undelivered change: after each kill, every
#   change committed before the slot's confirmed_flush_lsn had been
#   accepted by the receiver or was in the retry queue (the kills after the
#   run moved the slot check a position that run confirmed); and while
#   binhook ran, the confirmed_flush_lsn sampled was never past the
#   checkpoints saved in the state directory.
# It says (a diagnostic line) how many starts found the retry queue
# damaged, with the log's lines about it.
#
# Knobs: BINHOOK_PG_CRASH_SEED (default: from the clock; printed),
# BINHOOK_PG_CRASH_KILLS (default 10), BINHOOK_PG_CRASH_FAIL (default 0.1).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
SEED=${BINHOOK_PG_CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
KILLS=${BINHOOK_PG_CRASH_KILLS:-10}
FAIL=${BINHOOK_PG_CRASH_FAIL:-0.1}
PGBENCH=$PG_BIN/pgbench
[ -x "$PGBENCH" ] || test_skip_all "pgbench is not installed ($PGBENCH)"
pg_start || test_skip_all 'cannot start postgres'
echo >&7 "# seed $SEED (BINHOOK_PG_CRASH_SEED=$SEED repeats the kill times and the receiver's answers)"

runs=0 kills=0 bh_pid= run_slot=
test_atexit 'test -n "$bh_pid" && kill -9 $bh_pid 2>/dev/null'

# bh_start: binhook run, stderr appended to binhook.log; returns once it
# streams, with the slot's position then in run_slot. A process that ends
# first, or says nothing for 30 s, fails.
bh_start () {
  local deadline=$((SECONDS + 30))
  runs=$((runs + 1))
  echo "=== run $runs" >>"$TRASH/binhook.log"
  { (cd "$TRASH" && exec "$BINHOOK" run -c crash.toml 2>>"$TRASH/binhook.log" >/dev/null </dev/null 7>&- 8>&-) & }
  bh_pid=$!
  until [ "$(grep -c 'reading from' "$TRASH/binhook.log")" -ge "$runs" ]; do
    if ! kill -0 "$bh_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "run $runs ended or hung before it said 'reading from'" | tee -a "$TRASH/ends"
      return 1
    fi
    sleep 0.05
  done
  run_slot=$(slot_lsn)
}

# slot_idle: the server has seen the end of binhook's connection, and so
# every status update it sent (the slot is no longer active).
slot_idle () {
  [ "$(pg_sql "SELECT active FROM pg_replication_slots WHERE slot_name = 'binhook'")" = f ]
}

# bh_kill: SIGKILL, which must be what ended it; then what is durable is
# noted for the check: the slot's position once the server let it go, the
# requests the receiver has logged, the retry queue (its waiting deliveries
# and its dead letters, read at once).
bh_kill () {
  local pid=$bh_pid st
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  st=$?
  bh_pid=
  kills=$((kills + 1))
  echo "run $runs (pid $pid) status $st" >>"$TRASH/ends"
  [ "$st" = 137 ] || { echo "run $runs ended by itself (status $st) before kill $kills"; return 1; }
  test_wait_until 10 slot_idle &&
  mkdir -p "$TRASH/at/$kills" &&
  slot_lsn >"$TRASH/at/$kills/slot" &&
  cp "$TRASH/r.jsonl" "$TRASH/at/$kills/r.jsonl" &&
  (cd "$TRASH" || exit 1
   "$BINHOOK" dlq list --waiting --json -c crash.toml >"at/$kills/waiting" 2>/dev/null &
   "$BINHOOK" dlq list --json -c crash.toml >"at/$kills/dead" 2>/dev/null &
   wait %1 && wait %2) &&
  cat "$TRASH/at/$kills/waiting" "$TRASH/at/$kills/dead" >"$TRASH/at/$kills/queue"
}

# sample_loop: the slot's confirmed_flush_lsn, then the checkpoint saved,
# every 0.2 s until sample.stop exists (the checkpoint only grows, so the
# one read second is at least the one the slot was confirmed from).
sample_loop () {
  local l c
  while [ ! -e "$TRASH/sample.stop" ]; do
    l=$(slot_lsn 2>/dev/null)
    c=$(sed -n 's/.*"pos": *\([0-9]*\).*/\1/p' "$TRASH/state/checkpoint" 2>/dev/null)
    [ -n "$l" ] && [ -n "$c" ] && echo "$l $c"
    sleep 0.2
  done >"$TRASH/samples"
}

# kill_loop: KILLS times, kills binhook and starts it again: two kills in
# three 0.1 to 0.8 s after it began streaming (while it catches up with the
# load and with the queue the kill before left), every third 0 to 0.4 s
# after this run moved the slot (a confirmed flush LSN just sent, the
# deliveries after it in flight), so that those check a slot position the
# killed run confirmed; such a run that does not move the slot within 20 s
# fails.
kill_loop () {
  local t
  RANDOM=$SEED
  while [ "$kills" -lt "$KILLS" ]; do
    if [ $((kills % 3)) = 2 ]; then
      test_wait_until 20 slot_past "$run_slot" || return 1
      t=$((RANDOM % 5))
    else
      t=$((RANDOM % 8 + 1))
    fi
    sleep "0.$t"
    bh_kill && bh_start || return 1
  done
}

# decoded: "XID|N" for each transaction: the N changes of the tables a, b
# and c the server decodes from the slot "count" (made before the load,
# never consumed).
decoded () {
  pg_sql "SELECT xid::text::bigint, count(*) FROM pg_logical_slot_peek_changes(\$\$count\$\$, NULL, NULL)
    WHERE data ~ \$\$^table public\.[abc]: (INSERT|UPDATE|DELETE):\$\$ GROUP BY 1 ORDER BY 1"
}

# wal_flushed LSN: the server's WAL is flushed up to LSN, so logical
# decoding (which reads no further) sees every transaction committed before
# it (synchronous_commit is off).
wal_flushed () {
  [ "$(pg_sql "SELECT pg_current_wal_flush_lsn() >= \$\$$1\$\$::pg_lsn")" = t ]
}

# accepted_by_xid: "XID|N" for each transaction: the N different changes
# of it the receiver accepted.
accepted_by_xid () {
  python3 -c '
import collections, json, sys
ids = {}
for line in open(sys.argv[1]):
    q = json.loads(line)
    if q["status"] // 100 == 2:
        ev = json.loads(q["body"])
        ids[ev["id"]] = ev["position"]["xid"]
for xid, n in sorted(collections.Counter(ids.values()).items()):
    print("%d|%d" % (xid, n))
' "$TRASH/r.jsonl"
}

# pgbench_gone: no session of pgbench is left (a transaction it sent may
# commit after pgbench itself ended).
pgbench_gone () {
  [ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = \$\$pgbench\$\$")" = 0 ]
}

# drained N: the receiver accepted N different webhook-ids and nothing waits
# in the retry queue.
drained () {
  [ "$(accepted_ids r)" -ge "$1" ] &&
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting -c crash.toml 2>&1 >/dev/null) | grep -q '^0 waiting$'
}

# damage_report: how many starts found the retry queue damaged, then what
# binhook.log says of each, prefixed with its run.
damage_report () {
  awk '/^=== run / { run = $3 } /the retry queue in .* was damaged/ { n++ }
    /the retry queue in .* is damaged/ { lines = lines "run " run ": " $0 "\n" }
    END { printf "%d of %d starts found the retry queue damaged\n%s", n, run, lines
          if (n) print "(BINHOOK_TEST_KEEP=1 keeps the state directory and binhook.log)" }' "$TRASH/binhook.log"
}

test_expect_success 'three tables, a flaky receiver, binhook run on the slot' '
  : >"$TRASH/r.jsonl" &&
  start_receiver r --fail "$FAIL" --seed "$SEED" &&
  pg_sql "CREATE TABLE a (k int PRIMARY KEY, v int, n int);
    ALTER TABLE a REPLICA IDENTITY FULL;
    CREATE TABLE b (k int PRIMARY KEY, v text);
    CREATE TABLE c (k bigint PRIMARY KEY, v int, w text);
    ALTER TABLE c REPLICA IDENTITY FULL" &&
  pg_sql "SELECT 1 FROM pg_create_logical_replication_slot(\$\$count\$\$, \$\$test_decoding\$\$)" >/dev/null &&
  retry=$(printf "\"1s\", %.0s" $(seq 30)) &&
  cat >"$TRASH/crash.toml" <<-EOF &&
	[state]
	dir = "state"
	segment_size = "64KiB"
	[source]
	url = "$BINHOOK_PG_URL"
	[log]
	level = "notice"
	[endpoint.e1]
	url = "http://127.0.0.1:$(cat "$TRASH/r.port")/e1"
	signing = "none"
	timeout = "5s"
	retry = [${retry%, }]
	breaker_failures = 0
	[[rule]]
	name = "all"
	table = "public.*"
	on = ["insert", "update", "delete"]
	endpoint = "e1"
	EOF
  bh_start
'
[ -n "$bh_pid" ] || test_skip_all 'binhook run did not start'

test_expect_success "pgbench writes while binhook is killed $KILLS times at random moments" '
  cat >upsert.sql <<-\EOF &&
	\set k random(1, 300)
	\set v random(1, 1000000)
	BEGIN;
	INSERT INTO a VALUES (:k, :v, 0) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = a.n + 1;
	INSERT INTO b VALUES (:k, '"'"'b'"'"' || :v) ON CONFLICT (k) DO UPDATE SET v = excluded.v;
	COMMIT;
	EOF
  cat >delete.sql <<-\EOF &&
	\set k random(1, 300)
	BEGIN;
	DELETE FROM a WHERE k = :k;
	DELETE FROM b WHERE k = :k;
	COMMIT;
	EOF
  cat >many.sql <<-\EOF &&
	\set k random(1, 200)
	\set v random(1, 1000000)
	INSERT INTO c VALUES (:k * 10000000000, :v, md5(:v::text)) ON CONFLICT (k) DO UPDATE SET v = excluded.v;
	UPDATE a SET n = n + 1 WHERE k BETWEEN :k AND :k + 3;
	DELETE FROM c WHERE k = (:k % 7 + 1) * 10000000000 AND v % 3 = 0;
	EOF
  { sample_loop 7>&- 8>&- & } &&
  sampler=$! &&
  test_atexit "touch \"$TRASH/sample.stop\"; kill $sampler 2>/dev/null" &&
  { "$PGBENCH" -n -h "$PG_DIR" -p "$PG_PORT" -U postgres -c 3 -R 100 -T 600 --random-seed="$SEED" \
      -f upsert.sql@5 -f delete.sql@2 -f many.sql@3 shop >pgbench.out 2>&1 7>&- 8>&- & } &&
  load=$! &&
  test_atexit "kill $load 2>/dev/null" &&
  kill_loop &&
  sleep 1 &&
  kill -TERM "$load" &&
  { wait "$load"; :; } &&
  test_wait_until 30 pgbench_gone &&
  echo >&7 "# $kills kills; the tables hold $(pg_sql "SELECT count(*) FROM a") + $(pg_sql "SELECT count(*) FROM b") + $(pg_sql "SELECT count(*) FROM c") rows"
'

test_expect_success 'the last run delivers what is left: one webhook-id for each change decoded' '
  end=$(pg_sql "SELECT pg_current_wal_insert_lsn()") &&
  test_wait_until 30 wal_flushed "$end" &&
  decoded >decoded &&
  expect=$(awk -F"|" "{ n += \$2 } END { print n + 0 }" decoded) &&
  test "$expect" -gt 0 &&
  test_wait_until 60 drained "$expect" &&
  accepted_by_xid >accepted &&
  test_cmp decoded accepted &&
  test "$(accepted_ids r)" = "$expect" &&
  damage_report >damage &&
  sed "s/^/# /" damage >&7 &&
  touch "$TRASH/sample.stop" &&
  test_wait_exit "$sampler" &&
  kill -TERM "$bh_pid" &&
  test_wait_exit "$bh_pid" 30 &&
  bh_pid= &&
  test_grep ! -e "ERROR: AddressSanitizer" -e "runtime error" -e "internal error" "$TRASH/binhook.log"
'

# table_rows T: the table as replay.py reads it (tab-separated, the first
# line the column names, NULL for null).
table_rows () {
  pg_sql "SELECT string_agg(attname, E'\t' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped" &&
  pg_sql -F "$(printf "\t")" -P null=NULL "SELECT * FROM $1"
}

test_expect_success 'nothing lost: the changes accepted, replayed per key, give each table' '
  for t in a b c; do
    table_rows "$t" >"$t.tsv" &&
    python3 "$TOP/t/lib/replay.py" "$TRASH/r.jsonl" "$t.tsv" k --table "public.$t" --order lsn >"replay.$t" ||
    { cat "replay.$t"; return 1; }
    sed "s/^/# $t: /" "replay.$t" >&7
  done &&
  test_grep "from [1-9][0-9]* webhook-ids" replay.a
'

test_expect_success 'the slot never passed a change that was neither delivered nor queued' '
  python3 - "$TRASH" "$kills" <<-\EOF >slotcheck &&
	import json, sys
	d, kills = sys.argv[1], int(sys.argv[2])
	def lsn(text):
	    hi, _, lo = text.partition("/")
	    return int(hi, 16) << 32 | int(lo, 16)
	commit = {}   # webhook-id -> its change'"'"'s commit LSN
	for l in open(d + "/r.jsonl"):
	    q = json.loads(l)
	    commit[q["headers"]["webhook-id"]] = lsn(json.loads(q["body"])["position"]["lsn"])
	bad, checked = [], 0
	for i in range(1, kills + 1):
	    at = "%s/at/%d/" % (d, i)
	    slot = int(open(at + "slot").read())
	    safe = {json.loads(l)["headers"]["webhook-id"] for l in open(at + "r.jsonl")
	            if json.loads(l)["status"] // 100 == 2}
	    safe |= {json.loads(l)["id"] for l in open(at + "queue") if l.startswith("{")}
	    for wid, c in commit.items():
	        if c < slot:
	            checked += 1
	            if wid not in safe:
	                bad.append("kill %d: the slot at %x passed %s (commit %x), neither accepted nor queued" %
	                           (i, slot, wid, c))
	# a queue found damaged at a start takes the checkpoint back to its
	# low-water mark (daemon/heal.c): the slot is held to the highest
	# checkpoint saved so far
	samples = [tuple(map(int, l.split())) for l in open(d + "/samples")]
	high = 0
	for l, c in samples:
	    high = max(high, c)
	    if l > high:
	        bad.append("the slot at %x while the checkpoint saved was %x" % (l, high))
	moved = len({l for l, c in samples})
	at = [int(open("%s/at/%d/slot" % (d, i)).read()) for i in range(1, kills + 1)]
	moved_at = sum(1 for a, b in zip(at, at[1:]) if b > a)
	print("%d kills, %d after a run moved the slot, %d (change, kill) pairs behind the slot checked, "
	      "%d samples, %d slot positions" % (kills, moved_at, checked, len(samples), moved))
	for b in bad[:20]:
	    print("FAIL: " + b)
	print("checked: %d problems" % len(bad))
	EOF
  sed "s/^/# /" slotcheck >&7 &&
  cat slotcheck &&
  test_grep "^checked: 0 problems" slotcheck &&
  test "$(sed -n "s/.* kills, \([0-9]*\) after a run moved the slot.*/\1/p" slotcheck)" -ge $((KILLS / 3)) &&
  test "$(sed -n "s/.* \([0-9]*\) slot positions/\1/p" slotcheck)" -gt 3
'

test_done
