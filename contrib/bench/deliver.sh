#!/usr/bin/env bash
# deliver.sh - deliveries end to end, in one run on the same machine:
#  - throughput: binhook run delivers a backlog of CHANGES row changes
#    (signed, canonical JSON bodies, 32 at a time) into a local receiver
#    (sink.c, an evhttp server that answers 200 at once), next to wrk's
#    ceiling against the same receiver with a body of the same size, the
#    same headers and 32 connections; the ratio is the figure to watch
#    (target >= 0.50, and >= 20,000 deliveries/s);
#  - latency: commit to receipt at 1,000 changes/s for 10 s (rows carry
#    NOW(6) at insert, the receiver notes arrival), p50 and p99 (target p99
#    < 20 ms).
#
# usage: contrib/bench/deliver.sh [CHANGES]   (default 100000)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
CHANGES=${1:-100000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
BINHOOK=$BINHOOK_BUILD/binhook
SINK=$BINHOOK_BUILD/contrib/sink
[ -x "$BINHOOK" ] && [ -x "$SINK" ] || { echo "deliver.sh: build first (contrib/setup.sh)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "deliver.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"
mariadb_start >/dev/null
say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }

mariadb_sql "CREATE DATABASE bench; CREATE TABLE bench.t (id INT PRIMARY KEY, v VARCHAR(64), d DECIMAL(12,2), t DATETIME(6))"

# start_sink NAME [LOG]: a receiver; its port in $TRASH/NAME.port
start_sink() {
  "$SINK" "$TRASH/$1.port" ${2:+"$2"} >"$TRASH/$1.out" 7>&- 8>&- &
  test_atexit "kill $! 2>/dev/null"
  test_wait_until 10 test -s "$TRASH/$1.port"
}
got() { curl -s "http://127.0.0.1:$(cat "$TRASH/$1.port")/count"; }

# config NAME START: a configuration delivering bench.t to sink NAME
config() {
  cat >"$TRASH/$1.toml" <<EOT
[source]
url = "$BINHOOK_URL"
server_id = 7401
start = "$2"
[endpoint.sink]
url = "http://127.0.0.1:$(cat "$TRASH/$1.port")/hook"
secret = "whsec_YmVuY2htYXJrLXNlY3JldC1vZi1iaW5ob29r"
concurrency = 32
ordering = "none"
breaker_failures = 0
[[rule]]
name = "all"
table = "bench.t"
endpoint = "sink"
EOT
}

# ---- throughput ----
start_sink tput
say "writing $CHANGES rows (the backlog) ..."
start=$(mariadb_binlog_pos)
batches=$(( (CHANGES + 999) / 1000 ))
for ((i = 0; i < batches; i++)); do
  echo "INSERT INTO bench.t SELECT $i*1000+seq, CONCAT('name-', seq), seq/7, NOW(6) FROM bench.seq_1_to_1000;"
done | mariadb_sql
total=$((batches * 1000))
config tput "$start"

say "binhook run delivering the backlog ..."
t0=$(now)
(cd "$TRASH" && exec "$BINHOOK" run -c tput.toml 2>"$TRASH/tput.log" 7>&- 8>&-) &
run_pid=$!
test_atexit "kill $run_pid 2>/dev/null"
until [ "$(got tput)" -ge "$total" ]; do sleep 0.05; done
t1=$(now)
kill -TERM $run_pid; wait $run_pid 2>/dev/null || :
bh_s=$(python3 -c "print($t1 - $t0)")

# wrk against the same sink: a body like binhook's, its headers
sample=$(cd "$TRASH" && "$BINHOOK" test -c tput.toml --json --now "$(date +%s)" \
  --event <(echo '{"type":"insert","schema":"bench","table":"t","ts":"2026-11-21T10:15:02Z","position":{"file":"binlog.000001","pos":1234,"gtid":"0-1-9876"},"tx":{"index":3},"key":{"id":4242},"after":{"id":4242,"v":"name-42","d":"6.00","t":"2026-11-21T10:15:02.123456"},"sql":"INSERT INTO bench.t SELECT 4*1000+seq, CONCAT(name-, seq), seq/7, NOW(6) FROM bench.seq_1_to_1000"}'))
python3 - "$sample" >"$TRASH/wrk.lua" <<'PY'
import json, sys
q = json.loads(sys.argv[1])
def lua(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
print("wrk.method = \"POST\"")
print("wrk.body = " + lua(q["body"]))
for k, v in q["headers"].items():
    print("wrk.headers[%s] = %s" % (lua(k), lua(v)))
PY
say "wrk against the same receiver ..."
start_sink wrk
wrk -t2 -c32 -d5s -s "$TRASH/wrk.lua" "http://127.0.0.1:$(cat "$TRASH/wrk.port")/hook" >"$TRASH/wrk.out"
wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TRASH/wrk.out")

# ---- latency ----
say "latency: 1,000 changes/s for 10 s ..."
start_sink lat "$TRASH/lat.log"
config lat end
sed -i "s/server_id = 7401/server_id = 7402/" "$TRASH/lat.toml"
(cd "$TRASH" && exec "$BINHOOK" run -c lat.toml 2>"$TRASH/lat.run.log" 7>&- 8>&-) &
lat_pid=$!
test_atexit "kill $lat_pid 2>/dev/null"
test_wait_until 30 grep -q "reading from" "$TRASH/lat.run.log"
python3 - <<'PY' | mariadb_sql
import sys, time
start = time.time()
for i in range(10000):
    due = start + i / 1000.0
    delay = due - time.time()
    if delay > 0:
        time.sleep(delay)
    sys.stdout.write("INSERT INTO bench.t VALUES (%d, 'lat', 1.00, NOW(6));\n" % (10000000 + i))
    sys.stdout.flush()
PY
until [ "$(got lat)" -ge 10000 ]; do sleep 0.05; done
kill -TERM $lat_pid; wait $lat_pid 2>/dev/null || :

python3 - "$total" "$bh_s" "$wrk_rps" "$TRASH/lat.log" <<'PY'
import datetime, json, re, sys
total, bh_s, wrk = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rate = total / bh_s
print(f"deliveries                          {total}")
print(f"binhook run, end to end             {rate:12,.0f} deliveries/s  ({bh_s:.2f} s)")
print(f"wrk, same receiver and body         {wrk:12,.0f} requests/s")
print(f"      ratio binhook / wrk           {rate / wrk:12.2f}   target >= 0.50: " + ("met" if rate / wrk >= 0.5 else "not met")
      + f"; >= 20,000/s: " + ("met" if rate >= 20000 else "not met"))
lat = []
for line in open(sys.argv[4]):
    us, body = line.split(" ", 1)
    m = re.search(r'"t":"([0-9T:.-]+)"', body)
    if not m:
        continue
    # the server's NOW(6) is in its session time zone: the test servers run in UTC
    t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
    lat.append(int(us) / 1e6 - t)
lat.sort()
p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
print(f"latency, commit to receipt (1,000/s) p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   target p99 < 20 ms: "
      + ("met" if p99 < 20 else "not met") + f"  ({len(lat)} samples)")
PY
