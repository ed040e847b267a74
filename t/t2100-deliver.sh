#!/usr/bin/env bash
# Delivery end to end: a private MariaDB, receivers on 127.0.0.1, binhook run
# as a process.
#  - 10,000 row changes across 3 tables to 3 endpoints with different rules:
#    every matched change arrives once, each body exactly what `binhook test`
#    renders for it, every signature accepted by the npm standardwebhooks
#    package;
#  - a receiver that fails 30 % of requests, stalls some past the timeout and
#    throttles with 429 + Retry-After: everything arrives in the end, per row
#    in commit order, and no retry comes before its Retry-After;
#  - a receiver answering 410: that endpoint is disabled, the others go on.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

SECRET=whsec_ZGVsaXZlcnktdGVzdC1zZWNyZXQ=
export BINHOOK_WEBHOOK_SECRET=$SECRET
NODE_MODULES=$TOP/build/npm/node_modules

test_expect_success 'three endpoints, three tables, rules of each kind' '
  start_receiver r1 && start_receiver r2 && start_receiver r3 &&
  mkdir -p "$TRASH/templates" &&
  echo "{\"n\": \"{{ key.id }}\", \"v\": \"{{ after.v }}\", \"t\": \"{{ table }}\"}" >"$TRASH/templates/small.json" &&
  cat >"$TRASH/happy.toml" <<-EOF
	[state]
	dir = "state1"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7101
	[log]
	level = "info"
	[endpoint.e1]
	url = "http://127.0.0.1:$(cat "$TRASH/r1.port")/e1"
	secret_env = "BINHOOK_WEBHOOK_SECRET"
	concurrency = 16
	[endpoint.e2]
	url = "http://127.0.0.1:$(cat "$TRASH/r2.port")/e2/{{ key.id }}"
	secret_env = "BINHOOK_WEBHOOK_SECRET"
	method = "PUT"
	[endpoint.e3]
	url = "http://127.0.0.1:$(cat "$TRASH/r3.port")/e3"
	secret_env = "BINHOOK_WEBHOOK_SECRET"
	ordering = "none"
	[[rule]]
	name = "a-and-b-inserts"
	table = ["shop.a", "shop.b"]
	on = ["insert"]
	endpoint = "e1"
	[[rule]]
	name = "b-big-updates"
	table = "shop.b"
	on = ["update"]
	when = "after.v >= 1000"
	endpoint = "e2"
	template = "small.json"
	[[rule]]
	name = "c-everything"
	table = "shop.c"
	endpoint = ["e3", "e1"]
	template = "small.json"
	EOF
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.a (id INT PRIMARY KEY, v INT);
    CREATE TABLE shop.b (id INT PRIMARY KEY, v INT);
    CREATE TABLE shop.c (id INT PRIMARY KEY, v INT)" &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  start_binhook happy.toml happy.log
'

test_expect_success '11,000 changes: every matched change arrives once, as rendered, signed' '
  mariadb_sql "
    INSERT INTO shop.a SELECT seq, seq FROM shop.seq_1_to_4000;
    INSERT INTO shop.b SELECT seq, seq FROM shop.seq_1_to_2000;
    UPDATE shop.b SET v = v + 500 WHERE id <= 2000;
    INSERT INTO shop.c SELECT seq, seq FROM shop.seq_1_to_1000;
    DELETE FROM shop.c WHERE id <= 1000" &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  test_wait_until 120 accepted r1 8000 &&
  test_wait_until 120 accepted r2 1501 &&
  test_wait_until 120 accepted r3 2000 &&
  sleep 1 &&
  stop_binhook happy.log &&
  ls "$MYSQL_DATADIR"/binlog.[0-9]* | sed -n "2,\$p" >"$TRASH/files" &&
  (cd "$TRASH" && "$BINHOOK" test -c happy.toml --json --binlog $(cat "$TRASH/files")) >"$TRASH/expected.jsonl" &&
  python3 - "$TRASH" <<-\EOF
	import collections, json, sys
	d = sys.argv[1]
	want = collections.defaultdict(dict)
	for l in open(d + "/expected.jsonl"):
	    q = json.loads(l)
	    want[q["endpoint"]][q["id"]] = q
	assert {k: len(v) for k, v in want.items()} == {"e1": 8000, "e2": 1501, "e3": 2000}, {k: len(v) for k, v in want.items()}
	for name, ep in (("r1", "e1"), ("r2", "e2"), ("r3", "e3")):
	    got = [json.loads(l) for l in open(d + "/" + name + ".jsonl")]
	    ids = [q["headers"]["webhook-id"] for q in got]
	    assert len(ids) == len(set(ids)), "%s: a delivery arrived twice" % ep
	    assert set(ids) == set(want[ep]), "%s: %d missing, %d extra" % (ep, len(set(want[ep]) - set(ids)), len(set(ids) - set(want[ep])))
	    for q in got:
	        w = want[ep][q["headers"]["webhook-id"]]
	        assert q["body"] == w["body"], (q["body"], w["body"])
	        assert q["method"] == w["method"] and w["url"] == "http://" + q["headers"]["host"] + q["path"], (q, w)
	print("ok")
	EOF
'

# e1 never has more than 16 requests out; each engine thread (one per core,
# at most four) keeps its own connections, so 16 per engine is the most
# keep-alive should ever need. Connections closed and opened again as the
# number in flight falls and rises would show as many more.
test_expect_success 'keep-alive: 8,000 requests to e1 come over a handful of connections' '
  engines=$(nproc) && { [ "$engines" -le 4 ] || engines=4; } &&
  python3 - "$TRASH/r1.jsonl" $((16 * engines)) <<-\EOF
	import json, sys
	conns = {json.loads(l)["conn"] for l in open(sys.argv[1])}
	print("# %d connections for 8,000 requests (at most %s)" % (len(conns), sys.argv[2]))
	assert len(conns) <= int(sys.argv[2]), "%d connections" % len(conns)
	EOF
'

if [ -f "$NODE_MODULES/standardwebhooks/package.json" ] && command -v node >/dev/null; then
  test_expect_success 'the npm standardwebhooks package accepts every signature' '
    test "$(node "$TOP/t/lib/verify-signatures.js" "$NODE_MODULES" "$TRASH/r1.jsonl" "$SECRET")" = 8000 &&
    test "$(node "$TOP/t/lib/verify-signatures.js" "$NODE_MODULES" "$TRASH/r2.jsonl" "$SECRET")" = 1501 &&
    test "$(node "$TOP/t/lib/verify-signatures.js" "$NODE_MODULES" "$TRASH/r3.jsonl" "$SECRET")" = 2000
  '
  test_expect_success 'and refuses a signature made with another secret' '
    test_must_fail node "$TOP/t/lib/verify-signatures.js" "$NODE_MODULES" "$TRASH/r3.jsonl" \
      whsec_b3RoZXItc2VjcmV0LW9mLWEtdGVzdA== 2>"$TRASH/err" &&
    test_grep "not verified" "$TRASH/err"
  '
else
  test_skip 'the npm standardwebhooks package accepts every signature' \
    "no standardwebhooks in '$NODE_MODULES' (contrib/setup.sh installs it with npm)"
fi

test_expect_success 'a flaky receiver: 30 % errors, stalls past the timeout, 429 with Retry-After' '
  start_receiver flaky --fail 0.3 --stall 0.05 --stall-seconds 2 --throttle 0.1 --retry-after 1 --seed 7 &&
  start_receiver gone 410 &&
  start_receiver fine &&
  cat >"$TRASH/flaky.toml" <<-EOF &&
	[state]
	dir = "state2"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7102
	[endpoint.flaky]
	url = "http://127.0.0.1:$(cat "$TRASH/flaky.port")/flaky"
	secret_env = "BINHOOK_WEBHOOK_SECRET"
	timeout = "1s"
	breaker_failures = 0
	retry = ["0.2s", "0.3s", "0.5s", "0.5s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s"]
	concurrency = 8
	[endpoint.gone]
	url = "http://127.0.0.1:$(cat "$TRASH/gone.port")/gone"
	signing = "none"
	[endpoint.fine]
	url = "http://127.0.0.1:$(cat "$TRASH/fine.port")/fine"
	signing = "none"
	[[rule]]
	name = "rows"
	table = "shop.r"
	endpoint = ["flaky", "gone", "fine"]
	EOF
  mariadb_sql "CREATE TABLE shop.r (id INT PRIMARY KEY, version INT)" &&
  start_binhook flaky.toml flaky.log &&
  for v in 1 2 3 4 5 6 7 8 9 10; do
    if [ "$v" = 1 ]; then
      mariadb_sql "INSERT INTO shop.r SELECT seq, 1 FROM shop.seq_1_to_30" || return 1
    else
      mariadb_sql "UPDATE shop.r SET version = $v" || return 1
    fi
  done &&
  test_wait_until 180 accepted flaky 300 &&
  test_wait_until 60 accepted fine 300
'

test_expect_success 'everything arrived in the end, each row in commit order, Retry-After respected' '
  python3 - "$TRASH/flaky.jsonl" <<-\EOF
	import collections, json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	statuses = collections.Counter(q["status"] for q in reqs)
	assert statuses[500] > 30 and statuses[429] > 5, statuses
	ok = [q for q in reqs if q["status"] == 200]
	ids = {q["headers"]["webhook-id"] for q in ok}
	assert len(ids) == 300, len(ids)
	# per row, the accepted versions in commit order (the first accepted
	# delivery of each id counts)
	seen, per_row = set(), collections.defaultdict(list)
	for q in sorted(ok, key=lambda q: q["t"]):
	    i = q["headers"]["webhook-id"]
	    if i in seen:
	        continue
	    seen.add(i)
	    e = json.loads(q["body"])
	    per_row[e["key"]["id"]].append((e["after"]["version"], q["t"]))
	for row, vs in per_row.items():
	    assert [v for v, t in vs] == list(range(1, 11)), (row, vs)
	# after a 429 with Retry-After: 1, the same delivery comes back no
	# sooner than 1 s later
	last429 = {}
	waits = []
	for q in sorted(reqs, key=lambda q: q["t"]):
	    i = q["headers"]["webhook-id"]
	    if i in last429:
	        waits.append(q["t"] - last429.pop(i))
	    if q["status"] == 429:
	        last429[i] = q["t"]
	assert waits and min(waits) >= 0.95, sorted(waits)[:5]
	print("429s followed: %d, shortest wait %.2f s" % (len(waits), min(waits)))
	EOF
'

test_expect_success '410: that endpoint is disabled after its first answer, the others are unaffected' '
  # at most what was in flight (concurrency 8) when the first 410 came back
  test "$(grep -c . "$TRASH/gone.jsonl")" -le 8 &&
  test_grep "endpoint .gone. answered 410 Gone: it is disabled" "$TRASH/flaky.log" &&
  test "$(grep -c "endpoint .gone. answered 410" "$TRASH/flaky.log")" = 1 &&
  stop_binhook flaky.log &&
  test_grep "stopped at [^ ]*: 300 matches, 600 delivered" "$TRASH/flaky.log"
'

test_done
