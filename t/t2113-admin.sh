#!/usr/bin/env bash
# The admin server of binhook run: /metrics in the Prometheus text format
# (checked by promtool when it is installed, by a format checker always) and
# moving as a burst of changes says it must; /healthz; /status and
# `binhook status`; the dead letters replayed and dropped through the
# running daemon; the bearer token; systemd's readiness notification; and
# no secret in the logs.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ADMIN_PORT=$(test_free_port)
ADMIN=http://127.0.0.1:$ADMIN_PORT
TOKEN=tok-$RANDOM-$RANDOM-secret
SECRET=whsec_$(printf 'admin test secret 0123456789' | base64)
PASSWORD=pw-$RANDOM-$RANDOM
export BINHOOK_TEST_TOKEN=$TOKEN BINHOOK_TEST_SECRET=$SECRET BINHOOK_TEST_PASSWORD=$PASSWORD

# metric NAME{LABELS} FILE: the value of that sample in a scrape.
metric () {
  python3 - "$1" "$2" <<-\EOF
	import sys
	want, path = sys.argv[1], sys.argv[2]
	for line in open(path):
	    if line.startswith("#"):
	        continue
	    name, _, value = line.rstrip("\n").rpartition(" ")
	    if name == want:
	        print(value)
	        break
	else:
	    print("missing")
	EOF
}

# scrape FILE: /metrics with the token into FILE.
scrape () {
  curl -sf -H "Authorization: Bearer $TOKEN" "$ADMIN/metrics" >"$1"
}

# Checks the exposition format: HELP and TYPE before samples, names and
# labels well formed, values numbers, histograms cumulative with +Inf equal
# to _count, no sample twice.
check_format () {
  python3 - "$1" <<-\EOF
	import math, re, sys
	name_re = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
	label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
	types, seen, buckets, counts = {}, set(), {}, {}
	for n, line in enumerate(open(sys.argv[1]), 1):
	    line = line.rstrip("\n")
	    assert line, "empty line %d" % n
	    if line.startswith("# HELP ") or line.startswith("# TYPE "):
	        parts = line.split(" ", 3)
	        assert name_re.match(parts[2]), line
	        if parts[1] == "TYPE":
	            assert parts[3] in ("counter", "gauge", "histogram"), line
	            assert parts[2] not in types, "TYPE twice: " + line
	            types[parts[2]] = parts[3]
	        continue
	    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
	    assert m, "bad sample line %d: %r" % (n, line)
	    name, labels, value = m.group(1), m.group(3) or "", float(m.group(4))
	    pairs, pos = [], 0
	    while pos < len(labels):
	        lm = label_re.match(labels, pos)
	        assert lm, "bad labels line %d: %r" % (n, line)
	        pairs.append((lm.group(1), lm.group(2)))
	        pos = lm.end()
	    base = re.sub(r"_(bucket|sum|count)$", "", name)
	    family = name if name in types else base
	    assert family in types, "no TYPE for " + name
	    key = (name, tuple(pairs))
	    assert key not in seen, "sample twice: " + line
	    seen.add(key)
	    assert not math.isnan(value), line
	    if types[family] == "counter":
	        assert name.endswith("_total") and value >= 0, line
	    if types[family] == "histogram" and name.endswith("_bucket"):
	        le = dict(pairs)["le"]
	        rest = tuple(p for p in pairs if p[0] != "le")
	        b = buckets.setdefault((base, rest), [])
	        b.append((float("inf") if le == "+Inf" else float(le), value))
	    if types[family] == "histogram" and name.endswith("_count"):
	        counts[(base, tuple(pairs))] = value
	for k, b in buckets.items():
	    assert b == sorted(b), "buckets out of order: %r" % (k,)
	    assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), "not cumulative: %r" % (k,)
	    assert b[-1][0] == float("inf") and b[-1][1] == counts[k], "+Inf != _count: %r" % (k,)
	print("%d samples, %d families" % (len(seen), len(types)))
	EOF
}

test_expect_success 'setup: a good, a failing and a gone endpoint, the admin server with a token' '
  start_receiver ok &&
  start_receiver bad 500 &&
  start_receiver gone 410 &&
  { python3 "$TOP/t/lib/notify_listener.py" "$TRASH/notify.sock" "$TRASH/notify.log" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 10 test -S "$TRASH/notify.sock" &&
  cat >"$TRASH/admin.toml" <<-EOF &&
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7401
	heartbeat = 1
	[admin]
	listen = "127.0.0.1:$ADMIN_PORT"
	token_env = "BINHOOK_TEST_TOKEN"
	[endpoint.ok]
	url = "http://127.0.0.1:$(cat "$TRASH/ok.port")/hook"
	secret_env = "BINHOOK_TEST_SECRET"
	username = "hook-user"
	password_env = "BINHOOK_TEST_PASSWORD"
	[endpoint.bad]
	url = "http://127.0.0.1:$(cat "$TRASH/bad.port")/hook"
	signing = "none"
	retry = []
	[endpoint.gone]
	url = "http://127.0.0.1:$(cat "$TRASH/gone.port")/hook"
	signing = "none"
	[[rule]]
	name = "rows-t"
	table = "shop.t"
	endpoint = "ok"
	[[rule]]
	name = "rows-u"
	table = "shop.u"
	endpoint = "bad"
	[[rule]]
	name = "rows-g"
	table = "shop.g"
	endpoint = "gone"
	EOF
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v INT);
    CREATE TABLE shop.u (id INT PRIMARY KEY, v INT); CREATE TABLE shop.g (id INT PRIMARY KEY)" &&
  export NOTIFY_SOCKET=$TRASH/notify.sock &&
  start_binhook admin.toml run.log &&
  unset NOTIFY_SOCKET &&
  test_wait_until 10 grep -qx "READY=1" "$TRASH/notify.log" &&
  test_wait_until 10 curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$ADMIN/healthz"
'

test_expect_success 'without the token, or with a wrong one: 401, nothing shown' '
  test "$(curl -s -o body -w "%{http_code}" "$ADMIN/metrics")" = 401 &&
  test_grep ! binhook_ body &&
  test "$(curl -s -o body -w "%{http_code}" -H "Authorization: Bearer ${TOKEN}x" "$ADMIN/status")" = 401 &&
  test "$(curl -s -o body -w "%{http_code}" -H "Authorization: Bearer $TOKEN" "$ADMIN/nothing")" = 404 &&
  test "$(curl -s -o body -w "%{http_code}" -X POST -H "Authorization: Bearer $TOKEN" "$ADMIN/metrics")" = 405
'

test_expect_success '/healthz: ok while streaming' '
  curl -sf -H "Authorization: Bearer $TOKEN" "$ADMIN/healthz" >health &&
  test "$(cat health)" = ok
'

test_expect_success '/metrics before the burst is well formed' '
  scrape before &&
  check_format before >&7 &&
  test "$(metric binhook_streaming before)" = 1 &&
  test "$(metric "binhook_rule_matches_total{rule=\"rows-t\"}" before)" = 0 &&
  test "$(metric "binhook_deliveries_total{endpoint=\"ok\",result=\"delivered\"}" before)" = 0 &&
  test "$(metric "binhook_endpoint_up{endpoint=\"gone\"}" before)" = 1 &&
  test "$(metric "binhook_build_info{version=\"$("$BINHOOK" --version | sed "s/^binhook //")\"}" before)" = 1
'

if command -v promtool >/dev/null 2>&1; then
  test_expect_success 'promtool check metrics accepts the scrape' '
    promtool check metrics <before >promtool.out 2>&1 || { cat promtool.out; false; } &&
    # lint advice (units, suffixes) would be printed: there is none
    test ! -s promtool.out
  '
else
  test_skip 'promtool check metrics accepts the scrape' 'promtool is not installed (Debian package prometheus)'
fi

# delivered N: the ok endpoint has delivered N (per /metrics).
delivered () {
  scrape m.now && test "$(metric "binhook_deliveries_total{endpoint=\"ok\",result=\"delivered\"}" m.now)" = "$1"
}
dead_now () {
  scrape m.now && test "$(metric "binhook_dead_letters{endpoint=\"$1\"}" m.now)" = "$2"
}

test_expect_success 'a burst: 50 rows to ok, 3 to bad (dead at once), 1 to gone (disabled)' '
  cp_before=$(metric binhook_checkpoint_position_bytes before) &&
  mariadb_sql "INSERT INTO shop.t SELECT seq, seq FROM shop.seq_1_to_50" &&
  mariadb_sql "INSERT INTO shop.u VALUES (1, 1), (2, 2), (3, 3)" &&
  mariadb_sql "INSERT INTO shop.g VALUES (1)" &&
  test_wait_until 30 delivered 50 &&
  test_wait_until 30 dead_now bad 3 &&
  test_wait_until 30 dead_now gone 1 &&
  scrape after &&
  check_format after >/dev/null &&
  test "$(metric "binhook_binlog_events_total{type=\"insert\"}" after)" = \
    $(( $(metric "binhook_binlog_events_total{type=\"insert\"}" before) + 54 )) &&
  test "$(metric "binhook_rule_matches_total{rule=\"rows-t\"}" after)" = 50 &&
  test "$(metric "binhook_rule_matches_total{rule=\"rows-u\"}" after)" = 3 &&
  test "$(metric "binhook_rule_matches_total{rule=\"rows-g\"}" after)" = 1 &&
  test "$(metric "binhook_deliveries_total{endpoint=\"bad\",result=\"dead\"}" after)" = 3 &&
  test "$(metric "binhook_deliveries_total{endpoint=\"bad\",result=\"failed\"}" after)" = 3 &&
  test "$(metric "binhook_delivery_latency_seconds_count{endpoint=\"ok\"}" after)" = 50 &&
  test "$(metric "binhook_delivery_latency_seconds_bucket{endpoint=\"ok\",le=\"+Inf\"}" after)" = 50 &&
  test "$(metric "binhook_queue_depth{endpoint=\"ok\"}" after)" = 0 &&
  test "$(metric "binhook_endpoint_up{endpoint=\"gone\"}" after)" = 0 &&
  test "$(metric "binhook_endpoint_up{endpoint=\"ok\"}" after)" = 1 &&
  test "$(metric binhook_checkpoint_position_bytes after)" -gt "$cp_before" &&
  test "$(metric binhook_queue_bytes after)" -gt 0
'

test_expect_success 'an http endpoint with username and password_env: HTTP basic authentication' '
  python3 - "$TRASH/ok.jsonl" "hook-user:$PASSWORD" <<-\EOF
	import base64, json, sys
	want = "Basic " + base64.b64encode(sys.argv[2].encode()).decode()
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	assert reqs and all(q["headers"].get("authorization") == want for q in reqs), reqs[0]["headers"]
	EOF
'

test_expect_success '/status and binhook status tell the same story' '
  curl -sf -H "Authorization: Bearer $TOKEN" "$ADMIN/status" >status.json &&
  python3 - status.json <<-\EOF &&
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["source"]["streaming"] is True, s
	assert s["queue"]["dead"] == 4 and s["queue"]["writable"] is True, s
	assert s["totals"]["delivered"] == 50 and s["totals"]["matches"] == 54, s
	eps = {e["name"]: e for e in s["endpoints"]}
	assert eps["ok"]["delivered"] == 50 and eps["ok"]["up"] is True, eps
	assert eps["bad"]["dead_letters"] == 3 and eps["gone"]["disabled"] is True, eps
	assert s["checkpoint"]["file"].startswith("binlog."), s
	EOF
  (cd "$TRASH" && "$BINHOOK" status -c admin.toml >status.out) &&
  test_grep "healthy" status.out &&
  test_grep "^source: *streaming" status.out &&
  test_grep "^ok  *up  *0  *0  *0s  *50  *0$" status.out &&
  test_grep "^gone  *disabled " status.out &&
  (cd "$TRASH" && "$BINHOOK" status --json -c admin.toml >status2.json) &&
  python3 -c "import json,sys; assert json.load(open(sys.argv[1]))[\"totals\"][\"delivered\"] == 50" status2.json
'

test_expect_success '/dlq lists the dead letters, /dlq/ID shows one with its request' '
  curl -sf -H "Authorization: Bearer $TOKEN" "$ADMIN/dlq?endpoint=bad" >dlq.jsonl &&
  test "$(wc -l <dlq.jsonl)" = 3 &&
  id=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())[\"id\"])" dlq.jsonl) &&
  curl -sf -H "Authorization: Bearer $TOKEN" "$ADMIN/dlq/$id" >one.json &&
  python3 - one.json "$id" <<-\EOF &&
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["id"] == sys.argv[2] and d["endpoint"] == "bad" and d["reason"] == "given up after 1 attempt: HTTP status 500", d
	assert d["request"]["method"] == "POST" and "/hook" in d["request"]["url"], d
	assert json.loads(d["request"]["body"])["table"] == "u", d
	EOF
  test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $TOKEN" "$ADMIN/dlq/msg_nothing")" = 404 &&
  test "$(curl -s -o err.json -w "%{http_code}" -H "Authorization: Bearer $TOKEN" "$ADMIN/dlq?since=yesterday")" = 400 &&
  test_grep "not a time" err.json &&
  test "$(curl -s -o err.json -w "%{http_code}" -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" "$ADMIN/dlq/replay")" = 400 &&
  test_grep "choose what" err.json
'

test_expect_success 'binhook dlq replay while the daemon runs: done by the daemon, delivered once the endpoint works' '
  kill $(pgrep -f "receiver.py $TRASH/bad.port") &&
  { python3 "$TOP/t/lib/receiver.py" "$TRASH/fixed.port" "$TRASH/fixed.jsonl" 200 "$(cat "$TRASH/bad.port")" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/fixed.port" &&
  (cd "$TRASH" && "$BINHOOK" dlq replay --endpoint bad -c admin.toml 2>replay.err) &&
  test_grep "replayed 3 deliveries (by the running daemon)" "$TRASH/replay.err" &&
  test_wait_until 30 accepted fixed 3 &&
  test_wait_until 10 dead_now bad 0 &&
  test "$(metric "binhook_deliveries_total{endpoint=\"bad\",result=\"delivered\"}" m.now)" = 3 &&
  (cd "$TRASH" && "$BINHOOK" dlq list -c admin.toml 2>list.err >/dev/null) &&
  test_grep "^1 dead letters" "$TRASH/list.err"
'

test_expect_success 'binhook dlq drop while the daemon runs' '
  (cd "$TRASH" && "$BINHOOK" dlq drop --endpoint gone -c admin.toml 2>drop.err) &&
  test_grep "dropped 1 delivery (by the running daemon)" "$TRASH/drop.err" &&
  test_wait_until 10 dead_now gone 0 &&
  (cd "$TRASH" && "$BINHOOK" dlq drop --endpoint gone -c admin.toml 2>drop.err) &&
  test_grep "no dead letter matches" "$TRASH/drop.err"
'

test_expect_success '/healthz says 503 while the server is down, ok once it is back' '
  mariadb_stop &&
  test_wait_until 30 sh -c "test \"\$(curl -s -o health -w %{http_code} -H \"Authorization: Bearer $TOKEN\" $ADMIN/healthz)\" = 503" &&
  test_grep "not connected" health &&
  (cd "$TRASH" && test_exit_code 1 "$BINHOOK" status -c admin.toml >status.out) &&
  test_grep "not ready" status.out &&
  mariadb_launch_ &&
  test_wait_until 60 curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$ADMIN/healthz"
'

test_expect_success 'SIGTERM: systemd hears STOPPING=1; no secret in the logs' '
  stop_binhook run.log &&
  test_grep -x "STOPPING=1" "$TRASH/notify.log" &&
  test_grep ! -F "$TOKEN" "$TRASH/run.log" &&
  test_grep ! -F "$SECRET" "$TRASH/run.log" &&
  test_grep ! -F "$PASSWORD" "$TRASH/run.log" &&
  test_grep ! -F "$(printf "admin test secret")" "$TRASH/run.log"
'

# runs_with_format FORMAT LOG: binhook with [log] format = FORMAT delivers
# one row and stops, its log in LOG.
runs_with_format () {
  sed "s/^\[admin\]$/[log]\nformat = \"$1\"\nlevel = \"debug\"\n[admin]/" "$TRASH/admin.toml" >"$TRASH/fmt.toml" &&
  start_binhook fmt.toml "$2" &&
  mariadb_sql "INSERT INTO shop.t VALUES (1000 + $RANDOM % 1000, 1)" &&
  test_wait_until 30 grep -q "delivered" "$TRASH/$2" &&
  stop_binhook "$2"
}

test_expect_success '[log] format = "json": every line one object with ts, level and msg' '
  runs_with_format json json.log &&
  python3 - "$TRASH/json.log" <<-\EOF &&
	import json, re, sys
	n = 0
	for line in open(sys.argv[1]):
	    o = json.loads(line)
	    assert sorted(o) == ["level", "msg", "ts"], o
	    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"]), o
	    assert o["level"] in ("debug", "info", "notice", "warning", "error"), o
	    n += 1
	assert n >= 4, n
	EOF
  test_grep "\"msg\":\"stopped at binlog" "$TRASH/json.log" &&
  test_grep ! -F "$TOKEN" "$TRASH/json.log" &&
  test_grep ! -F "$SECRET" "$TRASH/json.log"
'

test_expect_success '[log] format = "logfmt": ts=, level=, msg="..." on every line' '
  runs_with_format logfmt logfmt.log &&
  python3 - "$TRASH/logfmt.log" <<-\EOF &&
	import re, sys
	pat = re.compile(r"^ts=\S+Z level=(debug|info|notice|warning|error) msg=\"(?:[^\"\\]|\\.)*\"$")
	lines = open(sys.argv[1]).read().splitlines()
	bad = [l for l in lines if not pat.match(l)]
	assert lines and not bad, bad[:3]
	EOF
  printf "[log]\nformat = \"yaml\"\n" >badfmt.toml &&
  test_exit_code 2 "$BINHOOK" check -c badfmt.toml 2>err &&
  test_grep "unknown format .yaml. (use text, logfmt or json)" err
'

test_expect_success 'binhook status without a daemon: exit 1 and what to do' '
  (cd "$TRASH" && test_exit_code 1 "$BINHOOK" status -c admin.toml 2>status.err) &&
  test_grep "no answer from the daemon" status.err
'

test_expect_success 'a listen address beyond loopback needs a token; the token variable must be set' '
  printf "[admin]\nlisten = \"0.0.0.0:9465\"\n" >open.toml &&
  test_exit_code 2 "$BINHOOK" check -c open.toml 2>err &&
  test_grep "open.toml:2:.*not a loopback address.*token" err &&
  printf "[admin]\nlisten = \"0.0.0.0:9465\"\ntoken_env = \"BINHOOK_TEST_UNSET_VAR\"\n" >unset.toml &&
  test_exit_code 2 "$BINHOOK" check -c unset.toml 2>err &&
  test_grep "BINHOOK_TEST_UNSET_VAR.*is not set" err &&
  printf "[admin]\nlisten = \"127.0.0.1:9465\"\n" >local.toml &&
  "$BINHOOK" check -c local.toml
'

test_done
