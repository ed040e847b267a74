#!/usr/bin/env bash
# A long outage: the only endpoint is down while 100,000 changes are written
# (90,000 inserts, then 5 updates of each of 2,000 rows).
#  - binhook keeps reading: the checkpoint reaches the end of the binlog and
#    the backlog is in the retry queue on disk (`dlq list --waiting` counts
#    100,000), not in the binlog; a second endpoint that is up gets the
#    10,000 updates meanwhile;
#  - its resident memory stays bounded: past 10,000 the endpoint's new
#    deliveries wait on disk only (the log says so), so the second 50,000
#    add far less than the first 50,000 did, and a restart in the middle of
#    the outage does not read the whole backlog into memory (the figures are
#    printed; the bounds are looser under AddressSanitizer, whose quarantine
#    dominates the figure);
#  - the receiver comes up: every change arrives, each row's versions in
#    commit order, no webhook-id with two bodies (duplicates are counted and
#    printed), and the endpoint catches up (the log says so);
#  - a stop afterwards is clean: nothing in the dead letters, nothing waiting.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

# rss PID: resident memory in kB.
rss () {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# in_log PATTERN LOG: the binhook log $TRASH/LOG has a line matching PATTERN.
in_log () {
  grep -q -- "$1" "$TRASH/$2"
}

# checkpoint_is FILE:POS: the checkpoint saved in the state directory is there.
checkpoint_is () {
  local f p
  f=$(sed -n 's/.*"file": *"\([^"]*\)".*/\1/p' "$TRASH/state1/checkpoint" 2>/dev/null) &&
  p=$(sed -n 's/.*"pos": *\([0-9]*\).*/\1/p' "$TRASH/state1/checkpoint" 2>/dev/null) &&
  test "$f:$p" = "$1"
}

# waiting N: `binhook dlq list --waiting` lists N deliveries (and says so).
waiting () {
  "$BINHOOK" dlq list --waiting -c "$TRASH/down.toml" >"$TRASH/waiting.out" 2>"$TRASH/waiting.err" &&
  test_grep "^$1 waiting\$" "$TRASH/waiting.err" &&
  test "$(grep -c . "$TRASH/waiting.out")" = "$1"
}

# arrived N: N different webhook-ids were answered 2xx by the receiver.
arrived () {
  accepted hook "$1" &&
  test "$(python3 -c '
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
print(len({q["headers"]["webhook-id"] for q in reqs if q["status"] // 100 == 2}))
' "$TRASH/hook.jsonl")" -ge "$1"
}

test_expect_success 'an endpoint that is down: 40 retries of 1 s, a breaker that cools down for 2 s; one that is up' '
  port=$(test_free_port) &&
  start_receiver up 200 &&
  {
    printf "[state]\ndir = \"state1\"\n" &&
    printf "[source]\nurl = \"%s\"\nserver_id = 7201\n" "$BINHOOK_URL" &&
    printf "[endpoint.down]\nurl = \"http://127.0.0.1:%s/hook\"\nsigning = \"none\"\n" "$port" &&
    printf "breaker_cooldown = \"2s\"\nretry = [" &&
    for i in $(seq 1 40); do printf "\"1s\", "; done &&
    printf "]\n[[rule]]\nname = \"all\"\ntable = \"shop.big\"\nendpoint = \"down\"\n" &&
    printf "[endpoint.up]\nurl = \"http://127.0.0.1:%s/hook\"\nsigning = \"none\"\n" "$(cat "$TRASH/up.port")" &&
    printf "[[rule]]\nname = \"updates\"\ntable = \"shop.big\"\non = [\"update\"]\nendpoint = \"up\"\n"
  } >"$TRASH/down.toml" &&
  "$BINHOOK" check -c "$TRASH/down.toml" &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.big (id INT PRIMARY KEY, v INT, pad VARCHAR(200))" &&
  start_binhook down.toml run.log &&
  pid=$(cat "$TRASH/run.log.pid") &&
  rss $pid >"$TRASH/rss.start"
'

test_expect_success '100,000 changes while it is down: the checkpoint reaches the end of the binlog, the backlog is on disk' '
  t0=$SECONDS &&
  mariadb_sql "INSERT INTO shop.big SELECT seq, 0, REPEAT(\"x\", 200) FROM shop.seq_1_to_50000" &&
  half=$(mariadb_binlog_pos) &&
  test_wait_until 120 checkpoint_is "$half" &&
  waiting 50000 &&
  rss $pid >"$TRASH/rss.half" &&
  mariadb_sql "INSERT INTO shop.big SELECT seq, 0, REPEAT(\"x\", 200) FROM shop.seq_50001_to_90000" &&
  for k in 1 2 3 4 5; do
    mariadb_sql "UPDATE shop.big SET v = v + 1, pad = REPEAT(\"$k\", 200) WHERE id <= 2000" || return 1
  done &&
  end=$(mariadb_binlog_pos) &&
  test_wait_until 120 checkpoint_is "$end" &&
  echo "# the checkpoint reached $end $((SECONDS - t0)) s after the first write" >&7 &&
  test_wait_until 120 accepted up 10000 &&
  echo "# the endpoint that is up got its 10,000 updates $((SECONDS - t0)) s after the first write" >&7 &&
  waiting 100000 &&
  "$BINHOOK" dlq list -c "$TRASH/down.toml" >"$TRASH/dead.out" 2>"$TRASH/dead.err" &&
  test_grep "^0 dead letters\$" "$TRASH/dead.err" &&
  ! test -s "$TRASH/dead.out" &&
  kill -0 $pid &&
  rss $pid >"$TRASH/rss.backlog" &&
  du -sk "$TRASH/state1" | cut -f1 >"$TRASH/disk.backlog" &&
  echo "# resident memory: $(cat "$TRASH/rss.start") kB at start, $(cat "$TRASH/rss.half") kB with 50,000 deliveries queued, $(cat "$TRASH/rss.backlog") kB with 100,000 ($(cat "$TRASH/disk.backlog") kB in the state directory)" >&7 &&
  test_grep "endpoint .down. has 10000 deliveries unfinished in memory: its next ones wait on disk only" "$TRASH/run.log"
'

# Under AddressSanitizer the resident memory is mostly its quarantine of
# freed blocks (256 MB by default) and redzones: several hundred MB more
# here for the same backlog. Its bounds are looser, but a backlog held in
# memory (100,000 requests, over 1 GB under ASan) still fails them.
bound=200 more=40
grep -q -a __asan_init "$BINHOOK" && bound=900 more=300
test_expect_success "with 100,000 deliveries queued, resident memory grew by less than $bound MB" '
  test "$(cat "$TRASH/rss.backlog")" -lt $(( $(cat "$TRASH/rss.start") + bound * 1024 ))
'

test_expect_success "the second 50,000 added less than $more MB: the backlog stays on disk" '
  test "$(cat "$TRASH/rss.backlog")" -lt $(( $(cat "$TRASH/rss.half") + more * 1024 ))
'

test_expect_success "a restart during the outage reads back 10,000 of them, not 100,000: memory stays under $bound MB more than at start" '
  stop_binhook run.log &&
  test_exit_code 0 test_wait_exit $pid 120 &&
  start_binhook down.toml run2.log &&
  pid=$(cat "$TRASH/run2.log.pid") &&
  test_wait_until 60 in_log "reading from" run2.log &&
  sleep 2 &&
  kill -0 $pid &&
  rss $pid >"$TRASH/rss.restart" &&
  echo "# resident memory after the restart with 100,000 queued: $(cat "$TRASH/rss.restart") kB" >&7 &&
  test "$(cat "$TRASH/rss.restart")" -lt $(( $(cat "$TRASH/rss.start") + bound * 1024 )) &&
  waiting 100000
'

test_expect_success 'the receiver comes up: all 100,000 deliveries are answered 2xx, the endpoint caught up' '
  t0=$SECONDS &&
  start_receiver hook 200 "$port" &&
  test_wait_until 300 arrived 100000 &&
  echo "# 100,000 deliveries answered in $((SECONDS - t0)) s; resident memory then $(rss $pid) kB" >&7 &&
  test_wait_until 10 in_log "endpoint .down. caught up: its deliveries are all in memory again" run2.log
'

test_expect_success 'every change arrived, each row in commit order, no webhook-id with two bodies' '
  python3 - "$TRASH/hook.jsonl" >"$TRASH/check.out" <<-\EOF &&
	import collections, json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	ok = [q for q in reqs if q["status"] // 100 == 2]
	assert len(ok) == len(reqs), collections.Counter(q["status"] for q in reqs)
	bodies = {}
	count = collections.Counter()
	seen = set()
	per_row = collections.defaultdict(list)
	for q in ok:
	    i = q["headers"]["webhook-id"]
	    count[i] += 1
	    assert bodies.setdefault(i, q["body"]) == q["body"], ("two bodies", i, bodies[i], q["body"])
	    e = json.loads(q["body"])
	    row, v = e["key"]["id"], e["after"]["v"]
	    assert e["after"]["id"] == row, e
	    q["row"], q["v"] = row, v
	    seen.add((row, v))
	    per_row[row].append(v)
	want = {(i, 0) for i in range(1, 90001)} | {(i, k) for i in range(1, 2001) for k in range(1, 6)}
	assert len(count) == 100000, len(count)
	assert seen == want, ("missing", sorted(want - seen)[:10], "extra", sorted(seen - want)[:10])
	# per row in the order of the log (written when a request has been read,
	# before it is answered) and in the order of arrival times
	per_row_t = collections.defaultdict(list)
	for q in sorted(ok, key=lambda q: q["t"]):
	    per_row_t[q["row"]].append(q["v"])
	for rows in (per_row, per_row_t):
	    for row, vs in rows.items():
	        assert all(a <= b for a, b in zip(vs, vs[1:])), ("out of order", row, vs)
	dups = sum(n - 1 for n in count.values() if n > 1)
	print("%d requests, %d webhook-ids, %d duplicate arrivals (%d ids more than once)" %
	      (len(reqs), len(count), dups, sum(1 for n in count.values() if n > 1)))
	EOF
  cat "$TRASH/check.out" &&
  echo "# $(cat "$TRASH/check.out")" >&7
'

test_expect_success 'a stop afterwards is clean: nothing in the dead letters, nothing waiting' '
  stop_binhook run2.log &&
  test_exit_code 0 test_wait_exit $pid 120 &&
  grep "stopped at" "$TRASH/run2.log" >"$TRASH/stopped" &&
  sed "s/^/# /" "$TRASH/stopped" >&7 &&
  test_grep "stopped at $end: 0 matches, 100000 delivered, [0-9]* failed attempts, 0 to the dead letters, 0 queued; 100000 restored" "$TRASH/stopped" &&
  checkpoint_is "$end" &&
  waiting 0 &&
  "$BINHOOK" dlq list -c "$TRASH/down.toml" 2>"$TRASH/dead.err" &&
  test_grep "^0 dead letters\$" "$TRASH/dead.err"
'

test_done
