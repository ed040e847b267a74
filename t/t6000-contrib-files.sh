#!/usr/bin/env bash
# contrib/systemd/binhook.service and contrib/grafana/binhook.json. The unit
# passes systemd-analyze verify and its offline security review, holds the
# settings it promises, and its command lines work as systemd runs them:
# ExecStart starts binhook, which says READY=1 on $NOTIFY_SOCKET, ExecReload
# reloads it, SIGTERM stops it cleanly with STOPPING=1 inside
# TimeoutStopSec, and a broken configuration exits 2, the status the unit
# does not restart on. The dashboard is valid JSON whose queries use only
# the metrics binhook exports, every one of them, and (where promtool is
# installed) parse and return data on series of those names.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
require_cmd python3

UNIT=$TOP/contrib/systemd/binhook.service
DASHBOARD=$TOP/contrib/grafana/binhook.json

# ---- the systemd unit ----

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that the commands exist: point them at this build.
  sed "s|/usr/bin/binhook|$BINHOOK|" "$UNIT" >"$TRASH/binhook.service"
  test_expect_success 'systemd-analyze verify finds nothing to say about the unit' '
    systemd-analyze verify --man=no "$TRASH/binhook.service" >out 2>&1 &&
    test ! -s out &&
    # and it does speak up about a mistake
    sed "s/^PrivateTmp=yes/PrivateTmpp=yes/" "$TRASH/binhook.service" >typo.service &&
    systemd-analyze verify --man=no "$TRASH/typo.service" >out 2>&1;
    test_grep "Unknown key .PrivateTmpp." out
  '
  test_expect_success 'systemd-analyze security rates the sandbox at 1.5 or below' '
    systemd-analyze security --offline=yes --threshold=15 "$TRASH/binhook.service" >security.out 2>&1 &&
    test_grep "Overall exposure level for binhook.service: [01]\.[0-9] OK" security.out
  '
else
  test_skip 'systemd-analyze verify and security' "'systemd-analyze' is not installed (Debian package systemd)"
fi

# unit_keys FILE: every SECTION.Key=value of a unit, one a line, in order
# (keys given twice stay twice, as systemd adds them up).
unit_keys () {
  python3 - "$1" <<'EOF'
import re, sys
section = None
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.strip()
    if not line or line[0] in "#;":
        continue
    m = re.fullmatch(r"\[(\w+)\]", line)
    if m:
        section = m.group(1)
        continue
    m = re.fullmatch(r"([A-Za-z]+)=(.*)", line)
    assert m and section, "%s:%d: not KEY=value in a [section]: %r" % (sys.argv[1], n, line)
    print("%s.%s=%s" % (section, m.group(1), m.group(2)))
EOF
}

test_expect_success 'the unit holds the settings it promises' '
  unit_keys "$UNIT" >keys &&
  for want in Service.Type=notify Service.NotifyAccess=main \
      "Service.ExecStart=/usr/bin/binhook run -c /etc/binhook/gateway.toml" \
      "Service.ExecReload=/bin/kill -HUP \$MAINPID" Service.KillSignal=SIGTERM \
      Service.DynamicUser=yes Service.StateDirectory=binhook Service.ConfigurationDirectory=binhook \
      Service.ProtectSystem=strict Service.ProtectHome=yes Service.PrivateTmp=yes \
      Service.NoNewPrivileges=yes Service.CapabilityBoundingSet= \
      "Service.RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
      Service.SystemCallFilter=@system-service Service.Restart=on-failure \
      Service.RestartPreventExitStatus=2 Install.WantedBy=multi-user.target
  do
    test_grep -x -F -e "$want" keys || return 1
  done
'

test_expect_success 'the state directory of the unit is binhook'\''s default one' '
  test_grep "^# Default: \"/var/lib/binhook\"\.\$" "$TOP/gateway.toml"
'

test_expect_success 'TimeoutStopSec leaves room after the stop'\''s grace period' '
  grace=$(sed -n "s/^#define GRACE_SECONDS \([0-9]*\).*/\1/p" "$TOP/gateway/daemon/daemon.h") &&
  stop=$(sed -n "s/^Service\.TimeoutStopSec=\([0-9]*\)s\$/\1/p" keys) &&
  test -n "$grace" && test -n "$stop" &&
  test "$stop" -ge $((grace + 10))
'

test_expect_success 'a broken configuration exits 2, which the unit does not restart' '
  printf "[sorce]\nurl = 1\n" >broken.toml &&
  test_exit_code 2 "$BINHOOK" run -c broken.toml 2>err &&
  test_grep "broken.toml:1:" err
'

# The unit's command lines, run as systemd would run them, with the paths
# of this test.
mariadb_start || test_skip_all 'cannot start mariadbd'
mkdir -p "$TRASH/etc"
cat >"$TRASH/etc/gateway.toml" <<EOF
[source]
url = "$BINHOOK_URL"
server_id = 4243

[state]
dir = "$TRASH/state"

[endpoint.hook]
url = "http://127.0.0.1:9/hooks"

[[rule]]
name = "orders"
table = "shop.orders"
endpoint = "hook"
EOF
exec_line () {
  sed -n "s/^$1=//p" "$UNIT" |
    sed -e "s|/usr/bin/binhook|$BINHOOK|" -e "s|/etc/binhook/gateway.toml|$TRASH/etc/gateway.toml|"
}

test_expect_success 'ExecStart starts binhook, which tells systemd it is ready' '
  notify=$(mktemp -u /tmp/bh-notify.XXXXXX) &&
  { python3 "$TOP/t/lib/notify_listener.py" "$notify" notify.log 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null; rm -f $notify" &&
  test_wait_until 20 test -S "$notify" &&
  read -r -a start <<<"$(exec_line ExecStart)" &&
  test "${start[0]}" = "$BINHOOK" &&
  { NOTIFY_SOCKET=$notify "${start[@]}" 2>run.log 7>&- 8>&- & } &&
  run_pid=$! &&
  test_atexit "kill -9 $run_pid 2>/dev/null" &&
  test_wait_until 30 grep -qx "READY=1" notify.log &&
  test_grep "reading from" run.log
'

test_expect_success 'ExecReload reloads it' '
  reload=$(exec_line ExecReload) &&
  sh -c "${reload//\$MAINPID/$run_pid}" &&
  test_wait_until 30 grep -q "reloaded .*gateway.toml" run.log
'

gone () {
  ! kill -0 "$1" 2>/dev/null
}
test_expect_success 'SIGTERM stops it cleanly and it says so' '
  kill -TERM $run_pid &&
  test_wait_until 30 grep -qx "STOPPING=1" notify.log &&
  test_wait_until 30 gone $run_pid &&
  wait $run_pid
'

# ---- the Grafana dashboard ----

# What binhook exports (the admin server's /metrics), histogram series included.
cat >"$TRASH/metrics" <<'EOF'
binhook_build_info
binhook_streaming
binhook_binlog_lag_seconds
binhook_binlog_events_total
binhook_rule_matches_total
binhook_deliveries_total
binhook_delivery_latency_seconds_bucket
binhook_delivery_latency_seconds_sum
binhook_delivery_latency_seconds_count
binhook_queue_depth
binhook_queue_oldest_age_seconds
binhook_queue_bytes
binhook_dead_letters
binhook_endpoint_up
binhook_checkpoint_file_number
binhook_checkpoint_position_bytes
binhook_snapshot_rows_done
binhook_snapshot_rows_estimated
EOF

# dashboard.py METRICS DASHBOARD: checks the dashboard's shape and prints
# every query, one a line ("kind<TAB>expression").
cat >"$TRASH/dashboard.py" <<'EOF'
import json, re, sys

metrics = set(open(sys.argv[1]).read().split())
d = json.load(open(sys.argv[2]))
problems = []

# PromQL's words that are not metric names.
words = set("""
sum min max avg count stddev stdvar topk bottomk quantile count_values group
by without on ignoring group_left group_right bool and or unless offset
rate irate increase delta idelta deriv predict_linear histogram_quantile
clamp clamp_min clamp_max abs ceil floor round exp ln log2 log10 sqrt
vector scalar time timestamp absent absent_over_time changes resets
sort sort_desc label_replace label_join
avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time
inf nan
""".split())

def metric_names(expr, where):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    e = re.sub(r"\$\{?\w+\}?", "", e)                      # dashboard variables
    e = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", "", e)      # numbers
    names = []
    for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if word in words:
            continue
        if word not in metrics:
            problems.append("%s: '%s' is not a metric binhook exports" % (where, word))
        names.append(word)
    return names

queries = []
panels = []
def walk(ps):
    for p in ps:
        panels.append(p)
        walk(p.get("panels", []))
walk(d["panels"])
for p in panels:
    where = "panel %s %r" % (p.get("id"), p.get("title"))
    for t in p.get("targets", []):
        queries.append(("panel", t["expr"], where))
        if t.get("datasource", p.get("datasource", {})).get("uid") != "${datasource}":
            problems.append(where + ": a query not on the ${datasource} variable")
    if p["type"] != "row" and not p.get("targets"):
        problems.append(where + ": no query")
for v in d["templating"]["list"]:
    if v["type"] == "query":
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
        if not m:
            problems.append("variable %s: not label_values(METRIC{...}, LABEL): %s" % (v["name"], q))
            continue
        queries.append(("variable", m.group(1), "variable " + v["name"]))

used = set()
for kind, expr, where in queries:
    used.update(metric_names(expr, where))
for m in sorted(metrics - used):
    problems.append("no query shows %s" % m)

# Unique ids; panels inside the 24 columns, none over another.
ids = [p["id"] for p in panels]
if len(ids) != len(set(ids)):
    problems.append("panel ids are not unique")
cells = {}
for p in panels:
    g = p["gridPos"]
    if g["x"] < 0 or g["x"] + g["w"] > 24:
        problems.append("panel %s is outside the 24 columns" % p["id"])
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                problems.append("panels %s and %s overlap" % (cells[(x, y)], p["id"]))
            cells[(x, y)] = p["id"]
names = [v["name"] for v in d["templating"]["list"]]
if "datasource" not in names:
    problems.append("no datasource variable")
if not d.get("uid") or not d.get("title"):
    problems.append("no uid or title")

for kind, expr, where in queries:
    print("%s\t%s" % (kind, expr))
if problems:
    sys.stderr.write("\n".join(sorted(set(problems))) + "\n")
    sys.exit(1)
EOF

test_expect_success 'the dashboard is JSON that uses exactly the metrics binhook exports' '
  python3 -m json.tool "$DASHBOARD" >/dev/null &&
  python3 dashboard.py metrics "$DASHBOARD" >queries &&
  test $(grep -c "^panel" queries) -ge 20 &&
  # and it notices a metric binhook does not export
  sed "s/binhook_queue_depth{/binhook_queue_length{/" "$DASHBOARD" >typo.json &&
  test_must_fail python3 dashboard.py metrics typo.json >/dev/null 2>err &&
  test_grep "is not a metric binhook exports" err &&
  test_grep "binhook_queue_length" err
'

if command -v promtool >/dev/null 2>&1; then
  # Every query becomes a recording rule (the dashboard variables replaced
  # by what "All" means) evaluated on series of every metric with the labels
  # binhook gives them; absent(rule) empty means the query returned data.
  test_expect_success 'promtool: every query parses and returns data' '
    python3 - queries >rules.yml 2>tests.yml <<-\EOF &&
	import json, sys
	rules, tests = [], []
	for n, line in enumerate(open(sys.argv[1])):
	    kind, expr = line.rstrip("\n").split("\t", 1)
	    expr = expr.replace("$__rate_interval", "5m").replace("${datasource}", "")
	    for v in ("$job", "$instance", "$endpoint"):
	        expr = expr.replace(v, ".*")
	    rules.append({"record": "q%d" % n, "expr": expr})
	    tests.append({"expr": "absent(q%d)" % n, "eval_time": "30m", "exp_samples": []})
	print(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
	lbl = "job=\"binhook\", instance=\"127.0.0.1:9465\""
	series = []
	def s(name, labels, values):
	    series.append({"series": "%s{%s%s}" % (name, lbl, labels), "values": values})
	s("binhook_build_info", ", version=\"0.1.0\"", "1x40")
	s("binhook_streaming", "", "1x40")
	s("binhook_binlog_lag_seconds", "", "0.5x40")
	for t in ("insert", "update", "delete", "statement", "snapshot"):
	    s("binhook_binlog_events_total", ", type=\"%s\"" % t, "0+60x40")
	s("binhook_rule_matches_total", ", rule=\"orders\"", "0+30x40")
	for r in ("delivered", "failed", "dead"):
	    s("binhook_deliveries_total", ", endpoint=\"crm\", result=\"%s\"" % r, "0+10x40")
	for le in ("0.1", "1", "10", "+Inf"):
	    s("binhook_delivery_latency_seconds_bucket", ", endpoint=\"crm\", le=\"%s\"" % le, "0+10x40")
	s("binhook_delivery_latency_seconds_sum", ", endpoint=\"crm\"", "0+5x40")
	s("binhook_delivery_latency_seconds_count", ", endpoint=\"crm\"", "0+10x40")
	for m in ("binhook_queue_depth", "binhook_queue_oldest_age_seconds", "binhook_dead_letters"):
	    s(m, ", endpoint=\"crm\"", "3x40")
	s("binhook_endpoint_up", ", endpoint=\"crm\"", "1x40")
	s("binhook_queue_bytes", "", "4096x40")
	s("binhook_checkpoint_file_number", "", "42x40")
	s("binhook_checkpoint_position_bytes", "", "1000+100x40")
	s("binhook_snapshot_rows_done", ", table=\"shop.orders\"", "0+100x40")
	s("binhook_snapshot_rows_estimated", ", table=\"shop.orders\"", "10000x40")
	sys.stderr.write(json.dumps({"rule_files": ["rules.yml"], "evaluation_interval": "1m",
	    "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}))
	EOF
    promtool check rules rules.yml >out 2>&1 &&
    promtool test rules tests.yml >out 2>&1 &&
    test_grep "SUCCESS" out
  '
else
  test_skip 'promtool: every query parses and returns data' "'promtool' is not installed (Debian package prometheus)"
fi

test_done
