#!/usr/bin/env bash
# At least once across kill -9, from PostgreSQL: binhook run on a logical
# replication slot is killed with SIGKILL at random moments (10 times) and
# started again on the same state directory, while pgbench writes three
# tables (inserts, updates and deletes on integer keys, one table with the
# default replica identity) and the receiver answers 500 to 10 % of
# requests. In the end:
# - nothing is lost: replaying, per key, the changes the receiver accepted
#   gives each table's final rows (t/lib/replay.py --order lsn), and no
#   webhook-id ever came with two bodies;
# - the slot never passed an undelivered change: after each kill, every
#   change committed before the slot's confirmed_flush_lsn had been
#   accepted by the receiver or was in the retry queue; and while binhook
#   ran, the confirmed_flush_lsn sampled was never past the checkpoints
#   saved in the state directory.
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

runs=0 kills=0 bh_pid=
test_atexit 'test -n "$bh_pid" && kill -9 $bh_pid 2>/dev/null'

# bh_start: binhook run, stderr appended to binhook.log; returns once it
# streams. A process that ends first, or says nothing for 30 s, fails.
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
}

# slot_lsn: the slot's confirmed_flush_lsn as a number.
slot_lsn () {
  pg_sql "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'binhook'"
}

# bh_kill: SIGKILL, which must be what ended it; then what is durable is
# noted for the check: the slot's position, the requests the receiver has
# logged, the retry queue.
bh_kill () {
  local pid=$bh_pid st
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  st=$?
  bh_pid=
  kills=$((kills + 1))
  echo "run $runs (pid $pid) status $st" >>"$TRASH/ends"
  [ "$st" = 137 ] || { echo "run $runs ended by itself (status $st) before kill $kills"; return 1; }
  sleep 0.3
  mkdir -p "$TRASH/at/$kills" &&
  slot_lsn >"$TRASH/at/$kills/slot" &&
  cp "$TRASH/r.jsonl" "$TRASH/at/$kills/r.jsonl" &&
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting --json -c crash.toml) >"$TRASH/at/$kills/queue" 2>/dev/null &&
  (cd "$TRASH" && "$BINHOOK" dlq list --json -c crash.toml) >>"$TRASH/at/$kills/queue" 2>/dev/null
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

# kill_loop: KILLS times, kills binhook 0 to 3 s after it began streaming
# and starts it again.
kill_loop () {
  RANDOM=$SEED
  while [ "$kills" -lt "$KILLS" ]; do
    sleep "$((RANDOM % 3)).$((RANDOM % 10))"
    bh_kill && bh_start || return 1
  done
}

drained () {
  local a b
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting -c crash.toml 2>&1 >/dev/null) | grep -q '^0 waiting$' || return 1
  a=$(wc -l <"$TRASH/r.jsonl")
  sleep 2
  b=$(wc -l <"$TRASH/r.jsonl")
  [ "$a" = "$b" ]
}

test_expect_success 'three tables, a flaky receiver, binhook run on the slot' '
  : >"$TRASH/r.jsonl" &&
  start_receiver r --fail "$FAIL" --seed "$SEED" &&
  pg_sql "CREATE TABLE a (k int PRIMARY KEY, v int, n int);
    ALTER TABLE a REPLICA IDENTITY FULL;
    CREATE TABLE b (k int PRIMARY KEY, v text);
    CREATE TABLE c (k bigint PRIMARY KEY, v int, w text);
    ALTER TABLE c REPLICA IDENTITY FULL" &&
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
  echo >&7 "# $kills kills; the tables hold $(pg_sql "SELECT count(*) FROM a") + $(pg_sql "SELECT count(*) FROM b") + $(pg_sql "SELECT count(*) FROM c") rows"
'

test_expect_success 'the last run delivers what is left' '
  test_wait_until 60 drained &&
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
	    commit[q["headers"]["webhook-id"]] = lsn(json.loads(q["body"])["position"]["file"])
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
	print("%d kills, %d (change, kill) pairs behind the slot checked, %d samples, %d slot positions" %
	      (kills, checked, len(samples), moved))
	for b in bad[:20]:
	    print("FAIL: " + b)
	print("checked: %d problems" % len(bad))
	EOF
  sed "s/^/# /" slotcheck >&7 &&
  cat slotcheck &&
  test_grep "^checked: 0 problems" slotcheck &&
  test "$(sed -n "s/.* \([0-9]*\) slot positions/\1/p" slotcheck)" -gt 3
'

test_done
