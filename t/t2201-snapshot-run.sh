#!/usr/bin/env bash
# binhook run with [source] snapshot = "initial": the rows the table holds
# are delivered as snapshot events, then the stream's changes from the exact
# handover position, while a writer keeps changing the table. The receiver's
# deliveries, applied per row in the order they came, reproduce the final
# table exactly. Killed in the middle of the snapshot, binhook resumes it
# at the next start and the result is exact again. /metrics and
# binhook status show the snapshot's progress; a restart after it does not
# take another.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 curl
mariadb_start || test_skip_all 'cannot start mariadbd'

ROWS=20000
ADMIN_PORT=$(test_free_port)

# writer N: updates random rows of s.t (and inserts new ones above ROWS)
# until $TRASH/writer.stop exists; its pid in $writer_pid.
start_writer () {
  rm -f "$TRASH/writer.stop"
  { python3 - "$MYSQL_PORT" "$ROWS" "$1" "$TRASH/writer.stop" <<-\EOF 7>&- 8>&- &
	import os, random, subprocess, sys, time
	port, rows, seed, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
	random.seed(seed)
	p = subprocess.Popen(["mariadb", "-h127.0.0.1", "-P" + port, "-uroot", "--batch"],
	                     stdin=subprocess.PIPE, text=True)
	n = 0
	while not os.path.exists(stop):
	    stmts = []
	    for _ in range(random.randint(1, 4)):
	        if random.random() < 0.8:
	            stmts.append("UPDATE s.t SET v = v + 1, w = %d WHERE id = %d;" % (random.randint(0, 10**6), random.randint(1, rows)))
	        else:
	            stmts.append("INSERT INTO s.t VALUES (%d, 0, 0) ON DUPLICATE KEY UPDATE v = v + 1;" % random.randint(rows + 1, rows + 500))
	    p.stdin.write("BEGIN; " + " ".join(stmts) + " COMMIT;\n")
	    p.stdin.flush()
	    n += 1
	    time.sleep(0.002)
	p.stdin.close()
	p.wait()
	EOF
  }
  writer_pid=$!
  test_atexit "touch \"$TRASH/writer.stop\"; kill $writer_pid 2>/dev/null"
}

stop_writer () {
  touch "$TRASH/writer.stop" && test_wait_exit "$writer_pid" 60
}

# exact NAME: the deliveries of receiver NAME, applied per row in arrival
# order (snapshot: the row; insert: a new row; update: the row, whose before
# image must be what is there; delete: gone), equal SELECT of s.t. Repeats of
# a webhook-id (at-least-once after a kill) are applied once.
exact () {
  mariadb_sql "SELECT id, v, w FROM s.t ORDER BY id" >"$TRASH/final.tsv" &&
  python3 - "$TRASH/$1.jsonl" "$TRASH/final.tsv" <<-\EOF
	import json, sys
	rows, seen, counts = {}, set(), {}
	for line in open(sys.argv[1]):
	    q = json.loads(line)
	    if q["status"] != 200 or q["headers"]["webhook-id"] in seen:
	        continue
	    seen.add(q["headers"]["webhook-id"])
	    e = json.loads(q["body"])
	    k, t = e["key"]["id"], e["type"]
	    counts[t] = counts.get(t, 0) + 1
	    if t == "snapshot":
	        rows[k] = e["after"]
	    elif t == "insert":
	        assert k not in rows, ("insert of a row that is there", e)
	        rows[k] = e["after"]
	    elif t == "update":
	        assert rows.get(k) == e["before"], ("update of", rows.get(k), e)
	        del rows[k]
	        rows[e["after"]["id"]] = e["after"]
	    elif t == "delete":
	        assert rows.pop(k, None) == e["before"], ("delete", e)
	want = {}
	for line in open(sys.argv[2]):
	    i, v, w = map(int, line.split("\t"))
	    want[i] = {"id": i, "v": v, "w": w}
	missing = sorted(set(want) - set(rows))[:5]
	extra = sorted(set(rows) - set(want))[:5]
	wrong = [k for k in want if k in rows and rows[k] != want[k]][:5]
	assert not missing and not extra and not wrong, (missing, extra, wrong, [(want[k], rows[k]) for k in wrong])
	print("# %d rows equal; deliveries by type: %s" % (len(want), counts))
	EOF
}

# sent_delivered NAME N: up to N ids of rows that receiver NAME got (200)
# as snapshot events from chunks announced in NAME.state/snapshot-sent.json
# (sent by the run that was killed, not saved), comma-separated.
sent_delivered () {
  python3 - "$TRASH/$1.state/snapshot-sent.json" "$TRASH/$1.jsonl" "$2" <<-\EOF
	import json, sys
	def k(x):
	    return None if x is None else int(x[0].split(":", 1)[1])
	bands = [(k(c["band"]["after"]), k(c["band"]["upto"])) for c in json.load(open(sys.argv[1]))["chunks"]]
	ids = []
	for line in open(sys.argv[2]):
	    q = json.loads(line)
	    e = json.loads(q["body"]) if q["status"] == 200 else {}
	    if e.get("type") == "snapshot" and any((a is None or e["key"]["id"] > a) and (u is None or e["key"]["id"] <= u) for a, u in bands):
	        ids.append(e["key"]["id"])
	ids = sorted(set(ids))
	print(",".join(str(i) for i in ids[::max(1, len(ids) // int(sys.argv[3]))]))
	EOF
}

# settled NAME: the receiver got nothing new for 2 s.
settled () {
  local a b
  a=$(wc -l <"$TRASH/$1.jsonl")
  sleep 2
  b=$(wc -l <"$TRASH/$1.jsonl")
  [ "$a" = "$b" ]
}

write_config () {
  cat >"$TRASH/$1.toml" <<-EOF
	[state]
	dir = "$1.state"
	[source]
	url = "$BINHOOK_URL"
	server_id = $2
	tables = ["s.*"]
	snapshot = "initial"
	snapshot_chunk = 1000
	snapshot_rate = $3
	[admin]
	listen = "127.0.0.1:$ADMIN_PORT"
	[endpoint.hook]
	url = "http://127.0.0.1:$(cat "$TRASH/$1.port")/hook"
	secret = "whsec_c25hcHNob3QtcnVuLXRlc3Q="
	concurrency = 16
	[[rule]]
	name = "rows"
	table = "s.t"
	on = ["snapshot", "insert", "update", "delete"]
	endpoint = "hook"
	EOF
}

test_expect_success 'setup: a table of 20,000 rows' '
  mariadb_sql "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, v INT NOT NULL, w INT NOT NULL);
    INSERT INTO s.t SELECT seq, 0, seq FROM s.seq_1_to_$ROWS" &&
  test "$(mariadb_sql "SELECT COUNT(*) FROM s.t")" = $ROWS
'

test_expect_success 'snapshot = "initial" under a writer: the deliveries reproduce the table exactly' '
  start_receiver one &&
  write_config one 7501 20000 &&
  start_writer 1 &&
  start_binhook one.toml one.log &&
  test_grep "taking the initial snapshot" "$TRASH/one.log" &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/one.log" &&
  sleep 1 &&
  stop_writer &&
  test_wait_until 60 settled one &&
  exact one >&7
'

test_expect_success '/metrics and binhook status show the finished snapshot' '
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" >metrics &&
  test_grep "^binhook_snapshot_rows_done{table=\"s.t\"} $ROWS$" metrics &&
  test_grep "^binhook_snapshot_running 0$" metrics &&
  test_grep "^binhook_snapshot_rows_estimated{table=\"s.t\"} [1-9]" metrics &&
  (cd "$TRASH" && "$BINHOOK" status -c one.toml >status.out) &&
  test_grep "^snapshot: *done, $ROWS of about" status.out
'

test_expect_success 'a restart after the snapshot streams from the checkpoint, no second snapshot' '
  stop_binhook one.log &&
  start_binhook one.toml one2.log &&
  test_grep "(the checkpoint)" "$TRASH/one2.log" &&
  test_grep ! "initial snapshot" "$TRASH/one2.log" &&
  mariadb_sql "UPDATE s.t SET v = v + 1 WHERE id = 7" &&
  test_wait_until 30 settled one &&
  exact one >/dev/null &&
  stop_binhook one2.log
'

test_expect_success 'killed in the middle of the snapshot: the next start resumes it, exactly' '
  start_receiver two &&
  write_config two 7502 4000 &&
  start_writer 2 &&
  start_binhook two.toml two.log &&
  test_wait_until 60 grep -q "\"status\": 200" "$TRASH/two.jsonl" &&
  sleep 2 &&
  kill -KILL "$(cat "$TRASH/two.log.pid")" &&
  test_wait_until 10 binhook_gone "$(cat "$TRASH/two.log.pid")" &&
  test_grep ! "the initial snapshot is done" "$TRASH/two.log" &&
  gone=$(sent_delivered two 20) &&
  echo "# rows delivered from chunks sent but not saved, now deleted: $gone" >&7 &&
  test -n "$gone" &&
  mariadb_sql "DELETE FROM s.t WHERE id IN ($gone)" &&
  sed -i "s/snapshot_rate = 4000/snapshot_rate = 0/" "$TRASH/two.toml" &&
  start_binhook two.toml two2.log &&
  test_grep "resuming the initial snapshot" "$TRASH/two2.log" &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/two2.log" &&
  sleep 1 &&
  stop_writer &&
  test_wait_until 60 settled two &&
  exact two >&7 &&
  stop_binhook two2.log
'

test_expect_success 'binhook snapshot while running: the rows again, in order with the stream, exactly' '
  start_receiver four &&
  write_config four 7504 0 &&
  start_writer 4 &&
  start_binhook four.toml four.log &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/four.log" &&
  (cd "$TRASH" && "$BINHOOK" snapshot -c four.toml "s.*" 2>snap.err) &&
  test_grep "^snapshot started at binlog" "$TRASH/snap.err" &&
  # a second one while the first runs (or has just ended) is refused, or starts
  { (cd "$TRASH" && test_exit_code 1 "$BINHOOK" snapshot -c four.toml 2>snap2.err) &&
    test_grep "a snapshot is running already" "$TRASH/snap2.err" ||
    test_grep "the snapshot asked for is done" "$TRASH/four.log"; } &&
  test_wait_until 60 grep -q "the snapshot asked for is done" "$TRASH/four.log" &&
  sleep 1 &&
  stop_writer &&
  test_wait_until 60 settled four &&
  exact four >four.out &&
  cat four.out >&7 &&
  python3 -c "import ast, sys; c = ast.literal_eval(open(sys.argv[1]).read().split(\"type: \")[1]); assert c[\"snapshot\"] >= 40000, c" four.out &&
  stop_binhook four.log
'

# purged_to FILE: PURGE BINARY LOGS TO FILE, and the server has no older
# binlog left (it may keep one a moment longer: then it is asked again).
purged_to () {
  mariadb_sql "PURGE BINARY LOGS TO \"$1\"" &&
  test "$(mariadb_sql "SHOW BINARY LOGS" | cut -f 1)" = "$1"
}

test_expect_success 'snapshot = "when_needed": a purged checkpoint binlog means a new snapshot, exactly' '
  start_receiver three &&
  write_config three 7503 0 &&
  sed -i "s/snapshot = \"initial\"/snapshot = \"when_needed\"/" "$TRASH/three.toml" &&
  start_binhook three.toml three.log &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/three.log" &&
  stop_binhook three.log &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  mariadb_sql "UPDATE s.t SET v = v + 100 WHERE id <= 50" &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  newest=$(mariadb_binlog_pos) &&
  test_wait_until 30 purged_to "${newest%:*}" &&
  : >"$TRASH/three.jsonl" &&
  start_binhook three.toml three2.log &&
  test_grep "no longer has that binlog; taking a new snapshot" "$TRASH/three2.log" &&
  test_wait_until 60 grep -q "the initial snapshot is done" "$TRASH/three2.log" &&
  mariadb_sql "UPDATE s.t SET v = v + 1 WHERE id = 1" &&
  test_wait_until 60 settled three &&
  exact three >&7 &&
  stop_binhook three2.log
'

test_done
