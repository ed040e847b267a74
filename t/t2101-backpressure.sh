#!/usr/bin/env bash
# A long outage: the only endpoint is down while 50,000 changes are written
# (40,000 inserts, then 5 updates of each of 2,000 rows).
#  - binhook keeps reading: the checkpoint reaches the end of the binlog and
#    the backlog is in the retry queue on disk (`dlq list --waiting` counts
#    50,000), not in the binlog, and its resident memory stays within a
#    bound (the figures are printed; the bound is not checked under
#    AddressSanitizer, whose quarantine dominates the figure);
#  - the receiver comes up: every change arrives, each row's versions in
#    commit order, no webhook-id with two bodies (duplicates are counted and
#    printed);
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

test_expect_success 'an endpoint that is down: 40 retries of 1 s, a breaker that cools down for 2 s' '
  port=$(test_free_port) &&
  {
    printf "[state]\ndir = \"state1\"\n" &&
    printf "[source]\nurl = \"%s\"\nserver_id = 7201\n" "$BINHOOK_URL" &&
    printf "[endpoint.down]\nurl = \"http://127.0.0.1:%s/hook\"\nsigning = \"none\"\n" "$port" &&
    printf "breaker_cooldown = \"2s\"\nretry = [" &&
    for i in $(seq 1 40); do printf "\"1s\", "; done &&
    printf "]\n[[rule]]\nname = \"all\"\ntable = \"shop.big\"\nendpoint = \"down\"\n"
  } >"$TRASH/down.toml" &&
  "$BINHOOK" check -c "$TRASH/down.toml" &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.big (id INT PRIMARY KEY, v INT, pad VARCHAR(200))" &&
  start_binhook down.toml run.log &&
  pid=$(cat "$TRASH/run.log.pid") &&
  rss $pid >"$TRASH/rss.start"
'

test_expect_success '50,000 changes while it is down: the checkpoint reaches the end of the binlog, the backlog is on disk' '
  t0=$SECONDS &&
  mariadb_sql "INSERT INTO shop.big SELECT seq, 0, REPEAT(\"x\", 200) FROM shop.seq_1_to_40000" &&
  for k in 1 2 3 4 5; do
    mariadb_sql "UPDATE shop.big SET v = v + 1, pad = REPEAT(\"$k\", 200) WHERE id <= 2000" || return 1
  done &&
  end=$(mariadb_binlog_pos) &&
  test_wait_until 120 checkpoint_is "$end" &&
  echo "# the checkpoint reached $end $((SECONDS - t0)) s after the first write" >&7 &&
  waiting 50000 &&
  "$BINHOOK" dlq list -c "$TRASH/down.toml" >"$TRASH/dead.out" 2>"$TRASH/dead.err" &&
  test_grep "^0 dead letters\$" "$TRASH/dead.err" &&
  ! test -s "$TRASH/dead.out" &&
  kill -0 $pid &&
  rss $pid >"$TRASH/rss.backlog" &&
  du -sk "$TRASH/state1" | cut -f1 >"$TRASH/disk.backlog" &&
  echo "# resident memory: $(cat "$TRASH/rss.start") kB at start, $(cat "$TRASH/rss.backlog") kB with 50,000 deliveries queued ($(cat "$TRASH/disk.backlog") kB in the state directory)" >&7
'

# Under AddressSanitizer the resident memory is mostly its quarantine of
# freed blocks (256 MB by default) and redzones: about 500 MB more here for
# the same backlog. Its bound is looser, but a backlog held in memory
# (50,000 requests, over 1 GB under ASan) still fails it.
bound=200
grep -q -a __asan_init "$BINHOOK" && bound=900
test_expect_success "with 50,000 deliveries queued, resident memory grew by less than $bound MB" '
  test "$(cat "$TRASH/rss.backlog")" -lt $(( $(cat "$TRASH/rss.start") + bound * 1024 ))
'

test_expect_success 'the receiver comes up: all 50,000 deliveries are answered 2xx' '
  t0=$SECONDS &&
  start_receiver hook 200 "$port" &&
  test_wait_until 180 arrived 50000 &&
  echo "# 50,000 deliveries answered in $((SECONDS - t0)) s; resident memory then $(rss $pid) kB" >&7
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
	want = {(i, 0) for i in range(1, 40001)} | {(i, k) for i in range(1, 2001) for k in range(1, 6)}
	assert len(count) == 50000, len(count)
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
  stop_binhook run.log &&
  test_exit_code 0 test_wait_exit $pid 120 &&
  grep "stopped at" "$TRASH/run.log" >"$TRASH/stopped" &&
  sed "s/^/# /" "$TRASH/stopped" >&7 &&
  test_grep "stopped at $end: 50000 matches, 50000 delivered, [0-9]* failed attempts, 0 to the dead letters, 50000 queued; 0 restored" "$TRASH/stopped" &&
  checkpoint_is "$end" &&
  waiting 0 &&
  "$BINHOOK" dlq list -c "$TRASH/down.toml" 2>"$TRASH/dead.err" &&
  test_grep "^0 dead letters\$" "$TRASH/dead.err"
'

test_done
