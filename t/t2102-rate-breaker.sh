#!/usr/bin/env bash
# The rate limit and the circuit breaker of an endpoint: requests over the
# rate wait (the receiver never sees more than the rate allows); after N
# failures in a row the circuit opens, requests wait the cooldown, one probe
# tests the endpoint, and its success lets the rest through. Waiting uses up
# no delivery attempt. (Only lower bounds on time are checked: a slow machine
# cannot make these fail.)
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

test_expect_success 'setup: two receivers, binhook with a rate-limited and a breaking endpoint' '
  start_receiver rate &&
  start_receiver brk --fail-first 7 &&
  cat >"$TRASH/g.toml" <<-EOF &&
	[state]
	dir = "state1"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7301
	[endpoint.rate]
	url = "http://127.0.0.1:$(cat "$TRASH/rate.port")/rate"
	signing = "none"
	rate_limit = 20
	burst = 5
	concurrency = 50
	ordering = "none"
	[endpoint.brk]
	url = "http://127.0.0.1:$(cat "$TRASH/brk.port")/brk"
	signing = "none"
	concurrency = 1
	ordering = "none"
	breaker_failures = 5
	breaker_cooldown = "2s"
	retry = ["3s"]
	[[rule]]
	name = "r"
	table = "shop.r"
	endpoint = "rate"
	[[rule]]
	name = "b"
	table = "shop.b"
	endpoint = "brk"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.r (id INT PRIMARY KEY); CREATE TABLE shop.b (id INT PRIMARY KEY)" &&
  start_binhook g.toml run.log
'

test_expect_success '100 requests at 20/s with a burst of 5: never more than the bucket allows' '
  mariadb_sql "INSERT INTO shop.r SELECT seq FROM shop.seq_1_to_100" &&
  test_wait_until 60 accepted rate 100 &&
  python3 - "$TRASH/rate.jsonl" <<-\EOF
	import json, sys
	t = sorted(json.loads(l)["t"] for l in open(sys.argv[1]))
	assert len(t) == 100, len(t)
	span = t[-1] - t[0]
	# 5 at once, then 95 at 20/s: 4.75 s at least
	assert span >= 4.7, span
	# in any window of one second: at most 20 + 5 (+1 for the edges)
	most = max(sum(1 for u in t if s <= u < s + 1.0) for s in t)
	assert most <= 26, most
	print("# 100 requests in %.2f s, at most %d in one second" % (span, most))
	EOF
'

test_expect_success 'the breaker: 5 failures open it, probes every 2 s, a success lets the rest through' '
  mariadb_sql "INSERT INTO shop.b SELECT seq FROM shop.seq_1_to_20" &&
  test_wait_until 90 accepted brk 20 &&
  python3 - "$TRASH/brk.jsonl" <<-\EOF &&
	import json, sys
	reqs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda q: q["t"])
	t = [q["t"] for q in reqs]
	st = [q["status"] for q in reqs]
	assert st[:7] == [500] * 7 and st[7] == 200, st[:10]
	# after the 5th failure the circuit is open: the 6th (a probe) comes
	# 2 s later, fails, and the 7th comes 2 s after that; then the 8th
	gaps = [t[i + 1] - t[i] for i in range(4, 7)]
	assert min(gaps) >= 1.9, gaps
	# once the probe succeeded, nothing waits for the circuit any more
	ids = {q["headers"]["webhook-id"] for q in reqs if q["status"] == 200}
	assert len(ids) == 20, len(ids)
	print("# gaps while open: %s" % ", ".join("%.2f s" % g for g in gaps))
	EOF
  test_grep "endpoint .brk. failed 5 times in a row: circuit open, requests wait 2 s before a probe" "$TRASH/run.log" &&
  test_grep "endpoint .brk. answers again: circuit closed" "$TRASH/run.log" &&
  test "$(grep -c "failed (attempt 1)" "$TRASH/run.log")" = 7 &&
  test_grep ! "failed (attempt 2)" "$TRASH/run.log"
'

test_expect_success 'a clean stop' '
  stop_binhook run.log &&
  test_grep "stopped at [^ ]*: 120 matches, 120 delivered, 7 failed attempts, 0 to the dead letters" "$TRASH/run.log"
'

test_expect_success 'Retry-After as an HTTP-date: the next attempt waits until that time' '
  start_receiver date --throttle-first 3 --retry-after 3 --retry-after-date &&
  cat >"$TRASH/date.toml" <<-EOF &&
	[state]
	dir = "state2"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7302
	[endpoint.date]
	url = "http://127.0.0.1:$(cat "$TRASH/date.port")/date"
	signing = "none"
	ordering = "none"
	retry = ["0.1s"]
	[[rule]]
	name = "d"
	table = "shop.d"
	endpoint = "date"
	EOF
  mariadb_sql "CREATE TABLE shop.d (id INT PRIMARY KEY)" &&
  start_binhook date.toml date.log &&
  mariadb_sql "INSERT INTO shop.d VALUES (1), (2), (3)" &&
  test_wait_until 30 accepted date 3 &&
  python3 - "$TRASH/date.jsonl" <<-\EOF
	import collections, json, sys
	by_id = collections.defaultdict(list)
	for l in open(sys.argv[1]):
	    q = json.loads(l)
	    by_id[q["headers"]["webhook-id"]].append((q["t"], q["status"]))
	assert len(by_id) == 3, by_id
	for i, reqs in by_id.items():
	    reqs.sort()
	    assert [s for t, s in reqs] == [429, 200], reqs
	    # the date has whole seconds: 3 s from arrival is 2 s at least
	    assert reqs[1][0] - reqs[0][0] >= 2.0, reqs
	EOF
'

test_expect_success 'a stop while the circuit is open: held requests go back to the queue at once, no grace spent' '
  cat >"$TRASH/held.toml" <<-EOF &&
	[state]
	dir = "state3"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7303
	[endpoint.dead]
	url = "http://127.0.0.1:9/never"
	signing = "none"
	ordering = "none"
	breaker_failures = 2
	breaker_cooldown = "1h"
	[[rule]]
	name = "h"
	table = "shop.h"
	endpoint = "dead"
	EOF
  mariadb_sql "CREATE TABLE shop.h (id INT PRIMARY KEY)" &&
  start_binhook held.toml held.log &&
  mariadb_sql "INSERT INTO shop.h SELECT seq FROM shop.seq_1_to_40" &&
  test_wait_until 30 grep -q "circuit open" "$TRASH/held.log" &&
  stop_binhook held.log &&
  test_grep "stopped at .*: 40 matches, 0 delivered, [0-9]* failed attempts, 0 to the dead letters" "$TRASH/held.log" &&
  test_grep ! "still in flight after" "$TRASH/held.log" &&
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting -c held.toml 2>waiting.err >waiting.out) &&
  test_grep "^40 waiting" "$TRASH/waiting.err" &&
  # the requests the stop took back were never sent: not counted as attempts
  test "$(grep -c "attempts=0" "$TRASH/waiting.out")" -ge 30
'

test_done
