#!/usr/bin/env bash
# At least once across kill -9: binhook run is killed with SIGKILL at random
# moments (30 times) and started again on the same state directory, under a
# steady write load and a receiver that answers 500 to 20 % of requests.
# In the end every change a rule matched has arrived with a 2xx, no
# webhook-id ever came with two bodies (what the binlog gives again after a
# crash is the same delivery), every signature holds, and binhook never
# ended but by our kills.
#
# Small queue segments (64 KiB, some 50 deliveries each) so that kills also
# land while segments are added and compacted.
#
# The source table is the truth: shop.t only grows (inserts), and every
# update sets v to a string never used before and copies the row into
# shop.audit in the same transaction, so the matched changes are computed
# from the tables at the end.
#
# Knobs (contrib/soak/crash.sh sets them for long runs):
#   BINHOOK_CRASH_KILLS     kills (default 30; 0: until the duration is up)
#   BINHOOK_CRASH_DURATION  seconds of killing at most (default 0: no bound)
#   BINHOOK_CRASH_FAIL      the receiver's failure rate (default 0.2)
#   BINHOOK_CRASH_SEED      the seed of the kill times, the load and the
#                           receiver (default: from the clock; printed)
#   BINHOOK_CRASH_TPS       transactions a second of the load (default 40)
#   BINHOOK_CRASH_PAUSE     MIN-MAX: milliseconds from "reading from" to the
#                           kill, uniformly (default 200-1500)
#   BINHOOK_CRASH_DRAIN     seconds the last run may take to deliver what is
#                           left (default 120 + 1 a kill)
#   BINHOOK_CRASH_PROGRESS  print a line every this many kills (default 0: none)
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 flock
KILLS=${BINHOOK_CRASH_KILLS:-30}
DURATION=${BINHOOK_CRASH_DURATION:-0}
FAIL=${BINHOOK_CRASH_FAIL:-0.2}
SEED=${BINHOOK_CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
TPS=${BINHOOK_CRASH_TPS:-40}
PAUSE=${BINHOOK_CRASH_PAUSE:-200-1500}
PAUSE_MIN=${PAUSE%-*} PAUSE_MAX=${PAUSE#*-}
DRAIN=${BINHOOK_CRASH_DRAIN:-}
PROGRESS=${BINHOOK_CRASH_PROGRESS:-0}
if [ "$KILLS" = 0 ] && [ "$DURATION" = 0 ]; then
  echo >&8 "# BINHOOK_CRASH_KILLS=0 needs BINHOOK_CRASH_DURATION"
  exit 1
fi
case $PAUSE_MIN$PAUSE_MAX in
*[!0-9]* | '') echo >&8 "# BINHOOK_CRASH_PAUSE is MIN-MAX in milliseconds, not '$PAUSE'"; exit 1 ;;
esac

mariadb_start || test_skip_all 'cannot start mariadbd'

SECRET=whsec_Y3Jhc2gtdGVzdC1zZWNyZXQtb2YtYmluaG9vaw==
export BINHOOK_WEBHOOK_SECRET=$SECRET
echo >&7 "# seed $SEED (BINHOOK_CRASH_SEED=$SEED repeats the kill times, the load and the receiver's answers)"

# ---- binhook, started and killed ----

runs=0     # binhook processes started
kills=0    # of them killed with SIGKILL
bh_pid=
test_atexit 'test -n "$bh_pid" && kill -9 $bh_pid 2>/dev/null'

# bh_started N: the log says "reading from" N times.
bh_started () {
  [ "$(grep -c 'reading from' "$TRASH/binhook.log")" -ge "$1" ]
}

# bh_start: binhook run, its stderr appended to binhook.log (after a line
# "=== run N"); returns once it reads the binlog. A process that ends
# or says nothing for 60 s is a failure.
bh_start () {
  local deadline=$((SECONDS + 60)) st
  runs=$((runs + 1))
  echo "=== run $runs" >>"$TRASH/binhook.log"
  { (cd "$TRASH" && exec "$BINHOOK" run -c crash.toml 2>>"$TRASH/binhook.log" >/dev/null </dev/null 7>&- 8>&-) & }
  bh_pid=$!
  until bh_started "$runs"; do
    if ! kill -0 "$bh_pid" 2>/dev/null || grep -q "^$bh_pid (.*) Z" "/proc/$bh_pid/stat" 2>/dev/null; then
      wait "$bh_pid"
      st=$?
      bh_pid=
      echo "run $runs $(bh_status $st) before it said 'reading from'" | tee -a "$TRASH/ends"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "run $runs (pid $bh_pid) did not say 'reading from' within 60 s (a hang at start)" | tee -a "$TRASH/ends"
      if command -v gdb >/dev/null; then
        gdb -p "$bh_pid" -batch -ex "thread apply all bt" >"$TRASH/hang.$runs.txt" 2>&1 </dev/null
        cat "$TRASH/hang.$runs.txt"
      fi
      return 1
    fi
    sleep 0.05
  done
}

# bh_status STATUS: what a process status means.
bh_status () {
  if [ "$1" -gt 128 ]; then
    echo "died by signal $(($1 - 128))"
  else
    echo "exited with status $1"
  fi
}

# bh_kill: SIGKILL, and the end must be that kill (status 137), not an end
# of its own before it.
bh_kill () {
  local pid=$bh_pid st
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  st=$?
  bh_pid=
  kills=$((kills + 1))
  echo "run $runs (pid $pid) $(bh_status $st)" >>"$TRASH/ends"
  if [ "$st" != 137 ]; then
    echo "run $runs (pid $pid) ended by itself before kill $kills: $(bh_status $st)"
    return 1
  fi
}

# pause_ms MS: sleeps MS milliseconds.
pause_ms () {
  sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"
}

# kill_loop: kills binhook at random moments (PAUSE_MIN to PAUSE_MAX ms
# after it began reading the binlog) and starts it again, until KILLS kills
# or DURATION seconds; binhook is not running at the end.
kill_loop () {
  local t0=$SECONDS ms
  RANDOM=$SEED
  while :; do
    ms=$((PAUSE_MIN + (RANDOM * 32768 + RANDOM) % (PAUSE_MAX - PAUSE_MIN + 1)))
    pause_ms "$ms"
    bh_kill || return 1
    if [ "$PROGRESS" -gt 0 ] && [ $((kills % PROGRESS)) = 0 ]; then
      echo >&7 "# $kills kills in $((SECONDS - t0)) s; $(wc -l <"$TRASH/r.jsonl") requests so far"
    fi
    [ "$KILLS" -gt 0 ] && [ "$kills" -ge "$KILLS" ] && return 0
    [ "$DURATION" -gt 0 ] && [ $((SECONDS - t0)) -ge "$DURATION" ] && return 0
    bh_start || return 1
  done
}

# ---- the load ----

# load_loop SEED TPS: small transactions (1 to 5 inserts or updates each)
# through one client, about TPS a second, until the file load.stop exists.
load_loop () {
  local n=0 ins=0 b j x nb s per=$(($2 / 10 > 0 ? $2 / 10 : 1))
  RANDOM=$1
  while [ ! -e "$TRASH/load.stop" ]; do
    for ((b = 0; b < per; b++)); do
      s="BEGIN;"
      nb=$((1 + RANDOM % 5))
      for ((j = 0; j < nb; j++)); do
        n=$((n + 1))
        if [ "$ins" -eq 0 ] || [ $((RANDOM % 2)) = 0 ]; then
          ins=$((ins + 1))
          s="$s INSERT INTO shop.t (k, v) VALUES ($((RANDOM % 1000)), 'i$n');"
        else
          x=$((1 + (RANDOM * 32768 + RANDOM) % ins))
          s="$s UPDATE shop.t SET k = $((RANDOM % 1000)), v = 'u$n' WHERE id = $x;"
          s="$s INSERT INTO shop.audit (id, k, v) SELECT id, k, v FROM shop.t WHERE id = $x AND v = 'u$n';"
        fi
      done
      echo "$s COMMIT;"
    done
    sleep 0.1
  done | mariadb_client_ -N -B
}

# save_evidence: on a failure, keeps what shows it (the trash goes at exit).
save_evidence () {
  local dir=${TMPDIR:-/tmp}/binhook-t2110-failed.$SEED
  [ "$test_failed" -gt 0 ] || return 0
  mkdir -p "$dir" || return 0
  cp -a "$TRASH/binhook.log" "$TRASH/r.jsonl" "$TRASH/ends" "$TRASH/crash.toml" "$TRASH/state" \
    "$TRASH"/hang.*.txt "$dir/" 2>/dev/null
  mariadb_sql "SELECT * FROM shop.t" >"$dir/t.tsv" 2>/dev/null
  mariadb_sql "SELECT * FROM shop.audit" >"$dir/audit.tsv" 2>/dev/null
  echo >&8 "# the logs, the requests, the state and the tables are kept in $dir"
}

# ---- waiting for the end ----

# drained: the retry queue has nothing waiting, and the receiver got nothing
# new for 3 s.
drained () {
  local a b
  (cd "$TRASH" && "$BINHOOK" dlq list --waiting -c crash.toml 2>&1 >/dev/null) | grep -q '^0 waiting$' || return 1
  a=$(wc -l <"$TRASH/r.jsonl")
  sleep 3
  b=$(wc -l <"$TRASH/r.jsonl")
  [ "$a" = "$b" ]
}

test_expect_success "a receiver answering 500 to a fraction $FAIL of requests, two endpoints, three rules on shop.t" '
  : >"$TRASH/r.jsonl" &&
  start_receiver r --fail "$FAIL" --seed "$SEED" &&
  retry=$(printf "\"1s\", %.0s" $(seq 30)) &&
  cat >"$TRASH/crash.toml" <<-EOF &&
	[state]
	dir = "state"
	segment_size = "64KiB"
	[source]
	url = "$BINHOOK_URL"
	server_id = 7110
	[log]
	level = "notice"
	[endpoint.e1]
	url = "http://127.0.0.1:$(cat "$TRASH/r.port")/e1"
	secret_env = "BINHOOK_WEBHOOK_SECRET"
	timeout = "5s"
	retry = [${retry%, }]
	breaker_failures = 8
	breaker_cooldown = "1s"
	[endpoint.e2]
	url = "http://127.0.0.1:$(cat "$TRASH/r.port")/e2"
	signing = "none"
	timeout = "5s"
	retry = [${retry%, }]
	breaker_failures = 0
	ordering = "none"
	[[rule]]
	name = "new"
	table = "shop.t"
	on = ["insert"]
	endpoint = "e1"
	[[rule]]
	name = "changed"
	table = "shop.t"
	on = ["update"]
	endpoint = "e1"
	[[rule]]
	name = "big"
	table = "shop.t"
	on = ["update"]
	when = "after.k >= 500"
	endpoint = "e2"
	EOF
  (cd "$TRASH" && "$BINHOOK" check -c crash.toml) &&
  mariadb_sql "CREATE DATABASE shop;
    CREATE TABLE shop.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT, v VARCHAR(64));
    CREATE TABLE shop.audit (n INT AUTO_INCREMENT PRIMARY KEY, id INT, k INT, v VARCHAR(64))" &&
  bh_start
'
if [ -z "$bh_pid" ]; then
  save_evidence
  test_skip_all 'binhook run did not start'
fi

test_expect_success "binhook killed with SIGKILL at random moments under a write load, started again each time" '
  { load_loop "$((SEED + 1))" "$TPS" 7>&- 8>&- & } &&
  load_pid=$! &&
  test_atexit "touch \"$TRASH/load.stop\"; kill $load_pid 2>/dev/null" &&
  kill_loop &&
  touch "$TRASH/load.stop" &&
  test_wait_exit "$load_pid" &&
  echo >&7 "# $kills kills; the load wrote $(mariadb_sql "SELECT COUNT(*) FROM shop.t") inserts and $(mariadb_sql "SELECT COUNT(*) FROM shop.audit") updates"
'

test_expect_success 'started a last time, binhook delivers what is left and stops on SIGTERM' '
  bh_start &&
  test_wait_until "${DRAIN:-$((120 + kills))}" drained &&
  kill -TERM "$bh_pid" &&
  { test_wait_exit "$bh_pid" 120; st=$?; } &&
  echo "run $runs (pid $bh_pid) $(bh_status $st) on SIGTERM" >>"$TRASH/ends" &&
  bh_pid= &&
  test "$st" = 0 &&
  test_grep "stopped at .*: .* matches, .* delivered" "$TRASH/binhook.log" &&
  (cd "$TRASH" && "$BINHOOK" dlq list -c crash.toml) >dead 2>dead.err &&
  test_grep "^0 dead letters$" dead.err
'

test_expect_success 'every matched change arrived with a 2xx, each webhook-id always with one body' '
  mariadb_sql "SELECT id FROM shop.t" >rows.tsv &&
  mariadb_sql "SELECT id, k, v FROM shop.audit" >audit.tsv &&
  python3 - "$TRASH" "$SECRET" "$kills" <<-\EOF >figures
	import base64, collections, hashlib, hmac, json, sys
	d, secret, kills = sys.argv[1], sys.argv[2], int(sys.argv[3])
	key = base64.b64decode(secret[len("whsec_"):])
	want = {("e1", "insert"): set(), ("e1", "update"): set(), ("e2", "update"): set()}
	for l in open(d + "/rows.tsv"):
	    want[("e1", "insert")].add((int(l),))
	for l in open(d + "/audit.tsv"):
	    i, k, v = l.rstrip("\n").split("\t")
	    want[("e1", "update")].add((int(i), v))
	    if int(k) >= 500:
	        want[("e2", "update")].add((int(i), v))
	body_of = {}                      # webhook-id -> sha256 of its first body
	two_bodies = set()                # webhook-ids seen with another body
	oks = collections.Counter()       # webhook-id -> 2xx answers
	change_of = {}                    # webhook-id -> (endpoint, type, row)
	ids_of = collections.defaultdict(set)  # (endpoint, type, row) -> webhook-ids
	requests = answered = badsig = 0
	for l in open(d + "/r.jsonl"):
	    q = json.loads(l)
	    requests += 1
	    h, body = q["headers"], q["body"]
	    wid = h["webhook-id"]
	    ep = q["path"].strip("/")
	    digest = hashlib.sha256(body.encode()).digest()
	    if body_of.setdefault(wid, digest) != digest:
	        two_bodies.add(wid)
	    if ep == "e1":
	        signed = (wid + "." + h.get("webhook-timestamp", "") + "." + body).encode()
	        sig = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
	        if sig not in h.get("webhook-signature", "").split(" "):
	            badsig += 1
	    if not 200 <= q["status"] < 300:
	        continue
	    answered += 1
	    oks[wid] += 1
	    if wid in change_of:
	        continue
	    e = json.loads(body)
	    a = e["after"]
	    row = (a["id"],) if e["type"] == "insert" else (a["id"], a["v"])
	    change_of[wid] = (ep, e["type"], row)
	    ids_of[(ep, e["type"], row)].add(wid)
	dups = sum(1 for n in oks.values() if n > 1)
	print("kills %d, requests %d, deliveries (2xx) %d, webhook-ids delivered %d, duplicates %d (%d extra 2xx)" %
	      (kills, requests, answered, len(oks), dups, answered - len(oks)))
	bad = []
	for (ep, typ), rows in sorted(want.items()):
	    got = {c[2] for c in change_of.values() if c[:2] == (ep, typ)}
	    print("%s %s: %d changes matched, %d delivered" % (ep, typ, len(rows), len(rows & got)))
	    missing, extra = sorted(rows - got), sorted(got - rows)
	    if missing:
	        bad.append("%s %s: %d never delivered, e.g. %s" % (ep, typ, len(missing), missing[:20]))
	    if extra:
	        bad.append("%s %s: %d delivered but not in the tables, e.g. %s" % (ep, typ, len(extra), extra[:20]))
	again = {c: w for c, w in ids_of.items() if len(w) > 1}
	if again:
	    bad.append("%d changes delivered under several webhook-ids, e.g. %s" % (len(again), list(again.items())[:5]))
	if two_bodies:
	    shown = sorted(two_bodies)[:3]
	    bodies = collections.defaultdict(list)
	    for l in open(d + "/r.jsonl"):
	        q = json.loads(l)
	        if q["headers"]["webhook-id"] in shown and q["body"] not in bodies[q["headers"]["webhook-id"]]:
	            bodies[q["headers"]["webhook-id"]].append(q["body"])
	    bad.append("%d webhook-ids came with two bodies, e.g. %s" % (len(two_bodies), dict(bodies)))
	if badsig:
	    bad.append("%d requests to e1 with a wrong signature" % badsig)
	for b in bad:
	    print("FAIL: " + b)
	print("checked: %d problems" % len(bad))
	EOF
  sed "s/^/# /" figures >&7 &&
  cat figures &&
  test_grep "^checked: 0 problems" figures
'

test_expect_success 'binhook never ended by itself: no crash, no sanitizer report, no assertion' '
  cat "$TRASH/ends" &&
  test "$(grep -c "died by signal 9\$" "$TRASH/ends")" = "$kills" &&
  test "$(grep -c . "$TRASH/ends")" = "$runs" &&
  test "$(grep -c "exited with status 0 on SIGTERM" "$TRASH/ends")" = 1 &&
  test_grep ! -e "ERROR: AddressSanitizer" -e "runtime error" -e "LeakSanitizer" \
    -e "assertion" -e "internal error" "$TRASH/binhook.log"
'

save_evidence
test_done
