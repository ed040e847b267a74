#!/usr/bin/env bash
# The initial snapshot and its handover to the stream (binhook tail
# --snapshot). A writer updates, inserts, deletes and moves rows (primary
# key changes) while a snapshot of 200,000 rows runs; replaying the snapshot
# events and then the streamed ones reproduces each table exactly as SELECT
# shows it at the end, with no row missing and no change applied twice (an
# insert of a key that is there, or an update or delete of a row that is
# not, or whose before image differs, fails). The same after a SIGKILL in
# the middle of the snapshot and a restart with the same state directory,
# which resumes after the last saved chunk; the same with a composite text
# key cut by the kill; the same with the table-lock way (the MySQL way when
# the global lock is refused). Also: every type comes out of the snapshot as
# the binlog decoder gives it for the INSERT of the same row, and a table
# without a primary key is read whole, with a warning.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3
mariadb_start || test_skip_all 'cannot start mariadbd'

ROWS=200000

# writer.py SEED STOPFILE ROWS: random changes to snap.* as SQL on stdout,
# until STOPFILE exists: updates, inserts (new keys and holes), deletes,
# primary key changes, multi-statement transactions, and changes to the
# table without a key. STOPFILE.n counts the statements written.
cat >writer.py <<'EOF'
import os, random, sys, time
rnd = random.Random(int(sys.argv[1]))
stop = sys.argv[2]
top = int(sys.argv[3])
n = 0
def out(s):
    sys.stdout.write(s + "\n")
def big():
    r = rnd.random()
    k = rnd.randint(1, top + 20000)
    if r < 0.40:
        return "UPDATE snap.big SET v = v + 1, s = CONCAT('u', %d) WHERE id = %d;" % (rnd.randint(0, 999), k)
    if r < 0.60:
        return "INSERT IGNORE INTO snap.big VALUES (%d, %d, 'i%d', %d.25);" % (k, k, n, k % 1000)
    if r < 0.85:
        return "DELETE FROM snap.big WHERE id = %d;" % k
    return "UPDATE IGNORE snap.big SET id = %d WHERE id = %d;" % (rnd.randint(1, top + 20000), k)
def comp():
    r = rnd.random()
    a, b = "k%d" % rnd.randint(0, 9), rnd.randint(1, 600)
    if r < 0.4:
        return "UPDATE snap.comp SET v = v + 1 WHERE a = '%s' AND b = %d;" % (a, b)
    if r < 0.6:
        return "INSERT IGNORE INTO snap.comp VALUES ('%s', %d, %d);" % (a, b, n)
    if r < 0.8:
        return "DELETE FROM snap.comp WHERE a = '%s' AND b = %d;" % (a, b)
    return "UPDATE IGNORE snap.comp SET a = 'k%d' WHERE a = '%s' AND b = %d;" % (rnd.randint(0, 9), a, b)
def nopk():
    r = rnd.random()
    a = rnd.randint(1, 50)
    if r < 0.4:
        return "INSERT INTO snap.nopk (a, b) VALUES (%d, 'w%d');" % (a, n)
    if r < 0.7:
        return "DELETE FROM snap.nopk WHERE a = %d LIMIT 1;" % a
    return "UPDATE snap.nopk SET b = 'x%d' WHERE a = %d LIMIT 1;" % (n, a)
while not os.path.exists(stop):
    n += 1
    r = rnd.random()
    if r < 0.1:
        out("BEGIN;")
        for _ in range(rnd.randint(2, 5)):
            out(big() if rnd.random() < 0.7 else comp())
        out("COMMIT;")
    elif r < 0.65:
        out(big())
    elif r < 0.9:
        out(comp())
    else:
        out(nopk())
    sys.stdout.flush()
    if n % 20 == 0:
        with open(stop + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.rename(stop + ".tmp", stop + ".n")
    time.sleep(0.002)
EOF

# replay.py [--bands STATE] TABLES EXPECTED_DIR FILE...: applies the events
# of FILE... (in order) to one dict per table of TABLES (comma-separated
# schema.table) and compares them with EXPECTED_DIR/TABLE.tsv (SELECT
# output). A file given as FILE@N keeps only its snapshot events of ordinal
# below N (what the saved state covers) and drops its other events; a file
# given whole is all a reader got of a run that was killed. A last line cut
# short by a kill is left out. With --bands, the bands of snapshot state
# STATE (chunks a killed run sent before it saved them) are keys a reader
# may hold from that run or not: their snapshot rows replace what is there,
# and a change of one that is not there is counted rather than refused.
cat >replay.py <<'EOF'
import collections, json, sys
bands = {}
if sys.argv[1] == "--bands":
    def bkey(k):
        if k is None:
            return None
        out = []
        for x in k:
            kind, v = x.split(":", 1)
            out.append(int(v) if kind in "iu" else bytes.fromhex(v).decode())
        return tuple(out)
    for tab in json.load(open(sys.argv[2]))["tables"]:
        bands[tab["schema"] + "." + tab["name"]] = [(bkey(b["after"]), bkey(b["upto"])) for b in tab.get("bands", [])]
    del sys.argv[1:3]
def in_band(t, names, img):
    k = tuple(img[c] for c in names)
    return any((a is None or k > a) and (u is None or k <= u) for a, u in bands.get(t, []))
tables = sys.argv[1].split(",")
expdir = sys.argv[2]
keyed = {t: {} for t in tables}
bag = {t: collections.Counter() for t in tables}
haskey = {}
counts = collections.Counter()
def fail(msg, line):
    sys.exit("%s\n  in: %s" % (msg, line.strip()[:400]))
def kof(names, img):
    return tuple(json.dumps(img[c]) for c in names)
def row(img):
    return json.dumps(img, sort_keys=True)
for spec in sys.argv[3:]:
    path, limit = (spec.split("@") + [None])[:2]
    for line in open(path):
        if not line.endswith("\n"):  # cut by the kill
            continue
        e = json.loads(line)
        if e["type"] not in ("snapshot", "insert", "update", "delete"):
            continue
        t = e["schema"] + "." + e["table"]
        if t not in keyed:
            continue
        if limit is not None:
            if e["type"] != "snapshot" or e["tx"]["index"] >= int(limit):
                continue
        counts[e["type"]] += 1
        if "key" in e:
            names = list(e["key"].keys())
            d = keyed[t]
            haskey[t] = True
            if e["type"] in ("snapshot", "insert"):
                k = kof(names, e["after"])
                if k in d and not (e["type"] == "snapshot" and in_band(t, names, e["after"])):
                    fail("%s of %s %s, which is there already" % (e["type"], t, k), line)
                d[k] = row(e["after"])
            else:
                k = kof(names, e["before"])
                if k not in d and in_band(t, names, e["before"]):
                    counts["change of a band row not held"] += 1
                    d[k] = row(e["before"])
                if k not in d:
                    fail("%s of %s %s, which is not there" % (e["type"], t, k), line)
                if d[k] != row(e["before"]):
                    fail("%s of %s %s: before image %s, but the row is %s" % (e["type"], t, k, row(e["before"]), d[k]), line)
                del d[k]
                if e["type"] == "update":
                    k2 = kof(names, e["after"])
                    if k2 in d:
                        fail("update of %s moves a row onto %s, which is there already" % (t, k2), line)
                    d[k2] = row(e["after"])
        else:
            b = bag[t]
            if e["type"] in ("update", "delete"):
                r = row(e["before"])
                if b[r] <= 0:
                    fail("%s of a row of %s that is not there" % (e["type"], t), line)
                b[r] -= 1
            if e["type"] != "delete":
                b[row(e["after"])] += 1
for t in tables:
    conv = []
    lines = open("%s/%s.tsv" % (expdir, t)).read().splitlines()
    header = lines[0].split("\t")
    cols = [h.split(":") for h in header]
    want = collections.Counter()
    for l in lines[1:]:
        f = l.split("\t")
        img = {}
        for (name, kind), v in zip(cols, f):
            img[name] = None if v == "NULL" else int(v) if kind == "i" else v
        want[row(img)] += 1
    if haskey.get(t):
        got = collections.Counter(keyed[t].values())
    else:
        got = +bag[t]
    if got != want:
        missing = list((want - got).elements())[:5]
        extra = list((got - want).elements())[:5]
        sys.exit("%s differs from SELECT: %d rows missing (%s), %d rows too many (%s)" % (
            t, sum((want - got).values()), missing, sum((got - want).values()), extra))
print("replayed %s; %d rows in %s" % (dict(counts), sum(len(keyed[t]) or sum(bag[t].values()) for t in tables), ",".join(tables)))
EOF

# expect DIR TABLE COLUMNS: the table now, as replay.py reads it (COLUMNS
# as name:kind, kind i for integers and s for text).
expect () {
  local dir=$1 table=$2 cols=$3 names
  names=$(echo "$cols" | sed 's/:[is]//g')
  mkdir -p "$dir" &&
  { echo "$cols" | tr ',' '\t' && mariadb_sql "SELECT $names FROM $table"; } >"$dir/$table.tsv"
}

expect_all () {
  expect "$1" snap.big "id:i,v:i,s:s,d:s" &&
  expect "$1" snap.comp "a:s,b:i,v:i" &&
  expect "$1" snap.nopk "a:i,b:s"
}

writer_pid=
# start_writer SEED: the writer, feeding one client, in the background.
start_writer () {
  rm -f stop-writer stop-writer.n
  { python3 writer.py "$1" stop-writer "$ROWS" | mariadb_client_ -N -B >/dev/null 2>writer.err 7>&- 8>&- & }
  writer_pid=$!
  test_atexit "touch '$TRASH/stop-writer'"
}

not_running () {
  ! kill -0 "$1" 2>/dev/null
}

stop_writer () {
  touch stop-writer &&
  test_wait_until 30 not_running "$writer_pid" &&
  wait "$writer_pid"
  if [ -s writer.err ]; then
    cat writer.err
    return 1
  fi
}

# changes_since N: the writer has written at least N statements since it
# started.
changes_since () {
  [ -f stop-writer.n ] && [ "$(cat stop-writer.n)" -ge "$1" ]
}

tail_pid=
# start_tail OUT ARGS...: binhook tail --snapshot in the background.
start_tail () {
  local out=$1
  shift
  { "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot "$@" >"$out" 2>"$out.err" </dev/null 7>&- 8>&- & }
  tail_pid=$!
  test_atexit "kill -9 $tail_pid 2>/dev/null"
}

marker=0
# sync_and_stop OUT: a last row written after everything else; once the
# tail has printed it, the tail is stopped (its output then holds every
# change up to the end of the binlog).
sync_and_stop () {
  marker=$((marker + 1))
  mariadb_sql "INSERT INTO snap.marker VALUES ($marker)" &&
  test_wait_until 60 grep -q "\"table\":\"marker\".*\"after\":{\"id\":$marker}" "$1" &&
  kill -TERM "$tail_pid" &&
  test_wait_until 30 not_running "$tail_pid" &&
  wait "$tail_pid"
}

# committed FILE: the "ordinal" of a saved snapshot state.
committed () {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ordinal"])' "$1"
}

# sent_keys STATE_DIR TABLE OUT N: up to N keys (as SQL conditions, one a
# line) of rows of TABLE that the killed tail printed (OUT) from chunks it
# announced in STATE_DIR/snapshot-sent.json but had not saved.
sent_keys () {
  python3 - "$@" <<-\EOF
	import json, sys
	d, table, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
	def k(x):
	    return None if x is None else tuple(int(v.split(":", 1)[1]) if v[0] in "iu" else bytes.fromhex(v.split(":", 1)[1]).decode() for v in x)
	bands = [(k(c["band"]["after"]), k(c["band"]["upto"])) for c in json.load(open(d + "/snapshot-sent.json"))["chunks"]
	         if c["schema"] + "." + c["name"] == table]
	keys = []
	for line in open(out):
	    if not line.endswith("\n"):
	        continue
	    e = json.loads(line)
	    if e["type"] != "snapshot" or e["schema"] + "." + e["table"] != table:
	        continue
	    key = tuple(e["key"].values())
	    if any((a is None or key > a) and (u is None or key <= u) for a, u in bands):
	        keys.append(" AND ".join("%s = %s" % (c, json.dumps(v).replace("\"", "'")) for c, v in e["key"].items()))
	step = max(1, len(keys) // n)
	print("\n".join(keys[::step][:n]))
	EOF
}

# kill_tail: the background tail killed (-9), and gone.
kill_tail () {
  kill -9 $tail_pid &&
  test_wait_until 30 not_running $tail_pid
}

# delete_sent STATE_DIR TABLE OUT N: deletes the rows sent_keys finds (at
# least one); their conditions are kept in OUT.gone.
delete_sent () {
  sent_keys "$@" >"$3.gone" &&
  echo "rows printed from chunks sent but not saved, now deleted: $(wc -l <"$3.gone")" &&
  test -s "$3.gone" &&
  sed "s/^/DELETE FROM $2 WHERE /; s/\$/;/" "$3.gone" | mariadb_client_
}

at_least () {
  [ -f "$2" ] && [ "$(committed "$2")" -ge "$1" ]
}

has_lines () {
  [ -f "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]
}

count_snapshot () {
  grep -c "\"type\":\"snapshot\",\"schema\":\"snap\",\"table\":\"$1\"" "$2"
}

test_expect_success 'setup: 200,000 rows, a composite key, a table without a key' '
  mariadb_sql "CREATE DATABASE snap; USE snap;
    CREATE TABLE snap.big (id INT PRIMARY KEY, v INT, s VARCHAR(40), d DECIMAL(10,2));
    INSERT INTO snap.big SELECT seq, seq, CONCAT(\"r\", seq), seq / 8 FROM seq_1_to_$ROWS;
    CREATE TABLE snap.comp (a VARCHAR(8) CHARACTER SET latin1, b INT, v INT, PRIMARY KEY (a, b));
    INSERT INTO snap.comp SELECT CONCAT(\"k\", seq % 10), seq DIV 10, seq FROM seq_1_to_6000;
    CREATE TABLE snap.nopk (a INT, b VARCHAR(20));
    INSERT INTO snap.nopk SELECT seq % 50, CONCAT(\"n\", seq) FROM seq_1_to_300;
    CREATE TABLE snap.marker (id INT PRIMARY KEY)" &&
  test "$(mariadb_sql "SELECT COUNT(*) FROM snap.big")" = $ROWS
'

test_expect_success 'a snapshot under writes, then the stream, replays to the final tables exactly' '
  start_writer 1 &&
  test_wait_until 30 changes_since 200 &&
  start_tail run1 --state st1 --snapshot-chunk 5000 "snap.*" &&
  test_wait_until 60 grep -qs "snapshot finished" run1.err &&
  sleep 1 &&
  stop_writer &&
  expect_all exp1 &&
  sync_and_stop run1 &&
  test "$(count_snapshot big run1)" -gt 150000 &&
  grep -q "\"type\":\"update\",\"schema\":\"snap\",\"table\":\"big\"" run1 &&
  grep -q "\"type\":\"delete\",\"schema\":\"snap\",\"table\":\"comp\"" run1 &&
  python3 replay.py snap.big,snap.comp,snap.nopk exp1 run1 &&
  python3 -c "import json; s = json.load(open(\"st1/snapshot.json\")); assert s[\"done\"], s" &&
  test_grep "MariaDB.s consistent snapshot, no lock" run1.err &&
  test_grep "warning .snap.nopk. has no primary key: it is read in one pass" run1.err
'

test_expect_success 'snapshot events carry the canonical form: key, after, position, tx.index' '
  grep -m1 "\"table\":\"comp\"" run1 >comp1 &&
  python3 - comp1 <<-\EOF
	import json, sys
	e = json.loads(open(sys.argv[1]).readline())
	assert e["type"] == "snapshot" and list(e["key"]) == ["a", "b"], e
	assert "before" not in e and "changed" not in e, e
	assert set(e["after"]) == {"a", "b", "v"}, e
	# the position of the snapshot that read it, and the ordinal of the row there
	assert e["id"] == "snapshot:%s:%d/%d" % (e["position"]["file"], e["position"]["pos"], e["tx"]["index"]), e
	EOF
'

test_expect_success 'killed mid-snapshot and run again: it resumes after the last saved chunk, exactly' '
  start_writer 2 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run2a --state st2 --snapshot-chunk 4000 --snapshot-rate 25000 "snap.*" &&
  test_wait_until 60 at_least 60000 st2/snapshot.json &&
  kill_tail &&
  cp st2/snapshot.json saved2 &&
  done2=$(committed saved2) &&
  test "$done2" -lt $ROWS &&
  delete_sent st2 snap.big run2a 30 &&
  sleep 1 &&
  start_tail run2b --state st2 --snapshot-chunk 4000 "snap.*" &&
  test_wait_until 60 grep -qs "snapshot finished" run2b.err &&
  sleep 1 &&
  stop_writer &&
  expect_all exp2 &&
  sync_and_stop run2b &&
  test_grep "resuming the snapshot begun at" run2b.err &&
  test_grep "the snapshot of .snap.big. resumes after key (" run2b.err &&
  reread=$(count_snapshot big run2b) &&
  echo "rows done before the kill: $done2; rows of snap.big read again: $reread" &&
  test "$reread" -lt $((ROWS + 20000 - done2 + 4000)) &&
  test "$reread" -lt $ROWS &&
  python3 -c "import json, sys; assert json.load(open(sys.argv[1]))[\"tables\"][0][\"bands\"]" st2/snapshot.json &&
  python3 replay.py --bands st2/snapshot.json snap.big,snap.comp,snap.nopk exp2 "run2a@$done2" run2b &&
  python3 replay.py --bands st2/snapshot.json snap.big,snap.comp,snap.nopk exp2 run2a run2b
'

test_expect_success 'a composite text key cut by a kill resumes exactly (keys ordered by the server)' '
  start_writer 3 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run3a --state st3 --snapshot-chunk 200 --snapshot-rate 1000 snap.comp &&
  test_wait_until 60 at_least 1000 st3/snapshot.json &&
  kill_tail &&
  cp st3/snapshot.json saved3 &&
  done3=$(committed saved3) &&
  delete_sent st3 snap.comp run3a 10 &&
  sleep 2 &&
  start_tail run3b --state st3 --snapshot-chunk 200 snap.comp &&
  test_wait_until 60 grep -qs "snapshot finished" run3b.err &&
  sleep 1 &&
  stop_writer &&
  expect exp3 snap.comp "a:s,b:i,v:i" &&
  sync_and_stop run3b &&
  test_grep "the snapshot of .snap.comp. resumes after key (k" run3b.err &&
  python3 replay.py --bands st3/snapshot.json snap.comp exp3 "run3a@$done3" run3b &&
  python3 replay.py --bands st3/snapshot.json snap.comp exp3 run3a run3b
'

# bands_at STATE: the positions the bands of STATE were read at, one a line.
bands_at () {
  python3 -c "import json, sys; print(\"\n\".join(sorted({\"%s:%d\" % (b[\"at\"][\"file\"], b[\"at\"][\"pos\"]) for t in json.load(open(sys.argv[1]))[\"tables\"] for b in t.get(\"bands\", [])})))" "$1"
}

test_expect_success 'killed twice, the second time while it reads the sent chunks again: exact again' '
  start_writer 7 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run7a --state st7 --snapshot-chunk 2000 --snapshot-rate 20000 "snap.*" &&
  test_wait_until 60 at_least 30000 st7/snapshot.json &&
  kill_tail &&
  done7=$(committed st7/snapshot.json) &&
  delete_sent st7 snap.big run7a 20 &&
  start_tail run7b --state st7 --snapshot-chunk 2000 --snapshot-rate 20000 "snap.*" &&
  test_wait_until 60 at_least $((done7 + 4000)) st7/snapshot.json &&
  kill_tail &&
  done7b=$(committed st7/snapshot.json) &&
  delete_sent st7 snap.big run7b 20 &&
  start_tail run7c --state st7 --snapshot-chunk 2000 "snap.*" &&
  test_wait_until 60 grep -qs "snapshot finished" run7c.err &&
  sleep 1 &&
  stop_writer &&
  expect_all exp7 &&
  sync_and_stop run7c &&
  bands_at st7/snapshot.json >at7 &&
  echo "saved before the kills: $done7, $done7b; bands read at: $(tr "\n" " " <at7)" &&
  test "$(wc -l <at7)" -ge 2 &&
  python3 replay.py --bands st7/snapshot.json snap.big,snap.comp,snap.nopk exp7 "run7a@$done7" "run7b@$done7b" run7c &&
  python3 replay.py --bands st7/snapshot.json snap.big,snap.comp,snap.nopk exp7 run7a run7b run7c
'

test_expect_success 'the table-lock way (MySQL without RELOAD) hands over exactly too' '
  mariadb_sql "GRANT LOCK TABLES ON *.* TO binhook@\"127.0.0.1\"" &&
  start_writer 4 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run4 --snapshot-lock global --snapshot-chunk 500 snap.comp snap.nopk &&
  test_wait_until 30 not_running $tail_pid &&
  test_grep "cannot take the global read lock.*RELOAD" run4.err &&
  start_tail run4 --snapshot-lock tables --snapshot-chunk 500 snap.comp snap.nopk &&
  test_wait_until 60 grep -qs "snapshot finished" run4.err &&
  sleep 1 &&
  stop_writer &&
  expect exp4 snap.comp "a:s,b:i,v:i" &&
  expect exp4 snap.nopk "a:i,b:s" &&
  sync_and_stop run4 &&
  test_grep "table locks while it opened" run4.err &&
  python3 replay.py snap.comp,snap.nopk exp4 run4
'

test_expect_success 'the global read lock way hands over exactly (with RELOAD)' '
  mariadb_sql "GRANT RELOAD ON *.* TO binhook@\"127.0.0.1\"" &&
  start_writer 5 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run5 --snapshot-lock global --snapshot-chunk 500 snap.comp &&
  test_wait_until 60 grep -qs "snapshot finished" run5.err &&
  sleep 1 &&
  stop_writer &&
  expect exp5 snap.comp "a:s,b:i,v:i" &&
  sync_and_stop run5 &&
  test_grep "global read lock while it opened" run5.err &&
  python3 replay.py snap.comp exp5 run5
'

test_expect_success 'an ALTER TABLE that breaks the snapshot: a new one goes on, exactly' '
  start_writer 6 &&
  test_wait_until 30 changes_since 100 &&
  start_tail run6 --snapshot-rate 2000 --snapshot-chunk 500 snap.comp snap.nopk &&
  test_wait_until 60 has_lines 1000 run6 &&
  mariadb_sql "ALTER TABLE snap.nopk ADD COLUMN c INT NOT NULL DEFAULT 7, ALGORITHM=COPY" &&
  test_wait_until 60 grep -qs "snapshot finished" run6.err &&
  sleep 1 &&
  stop_writer &&
  expect exp6 snap.comp "a:s,b:i,v:i" &&
  expect exp6 snap.nopk "a:i,b:s,c:i" &&
  sync_and_stop run6 &&
  test_grep "broken by a table definition change: went on in a new one" run6.err &&
  python3 replay.py snap.comp,snap.nopk exp6 run6
'

# The type matrix (edge values of every family; see t2001-types.sh): each
# row as a snapshot event equals the INSERT event the binlog decoder made
# of it.
test_expect_success 'every type comes out of the snapshot as the binlog decoder gives it' '
  mariadb_sql <<-\EOF &&
	SET sql_mode = ""; SET time_zone = "+00:00";
	CREATE DATABASE ty;
	CREATE TABLE ty.ints (id BIGINT UNSIGNED PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT,
	  siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT,
	  biu BIGINT UNSIGNED, y YEAR);
	INSERT INTO ty.ints VALUES (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 1901),
	  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
	   18446744073709551615, 2155),
	  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  (18446744073709551615, 0, 128, -129, 32768, -8388607, 8388608, -65536, 2147483648, -4294967296,
	   9223372036854775808, 0);
	CREATE TABLE ty.nums (id INT PRIMARY KEY, d65 DECIMAL(65,30), d52 DECIMAL(5,2), d55 DECIMAL(5,5),
	  du DECIMAL(12,4) UNSIGNED, f FLOAT, d DOUBLE, f73 FLOAT(7,3), bt1 BIT(1), bt10 BIT(10), bt64 BIT(64));
	INSERT INTO ty.nums VALUES
	  (1, 99999999999999999999999999999999999.999999999999999999999999999999, 999.99, 0.99999, 99999999.9999,
	   3.40282347e38, 1.7976931348623157e308, 9999.999, 1, 1023, 18446744073709551615),
	  (2, -0.000000000000000000000000000001, -12.30, -0.00001, 0, 1.17549435e-38, 2.2250738585072014e-308,
	   -1.5, 0, 0, 0),
	  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  (4, 0, 0.05, 0, 1.5, 0.1, 0.1, 0.1, 1, 512, 1),
	  (5, 1.5, 1, 0.1, 2, 16777217, 123456789012345678, 3.142, 0, 7, 9223372036854775808),
	  (6, 2, 3, 0.2, 3, 1.4e-45, 4.9e-324, 1.001, 1, 5, 12345);
	CREATE TABLE ty.temporal (id INT PRIMARY KEY, d DATE, t0 TIME, t3 TIME(3), t6 TIME(6), dt0 DATETIME,
	  dt2 DATETIME(2), dt6 DATETIME(6), ts0 TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, ts6 TIMESTAMP(6) NULL);
	INSERT INTO ty.temporal VALUES
	  (1, "1000-01-01", "-838:59:59", "-838:59:59.999", "-838:59:59.999999", "1000-01-01 00:00:00",
	   "1000-01-01 00:00:00.01", "1000-01-01 00:00:00.000001", "1970-01-01 00:00:01", "1970-01-01 00:00:01.001",
	   "1970-01-01 00:00:01.000001"),
	  (2, "9999-12-31", "838:59:59", "838:59:59.000", "838:59:59.000000", "9999-12-31 23:59:59",
	   "9999-12-31 23:59:59.99", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07", "2038-01-19 03:14:07.999",
	   "2038-01-19 03:14:07.999999"),
	  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  (4, "0000-00-00", "00:00:00", "00:00:00", "00:00:00", "0000-00-00 00:00:00", "0000-00-00 00:00:00",
	   "0000-00-00 00:00:00", 0, 0, 0),
	  (5, "2024-00-15", "-00:00:01", "-00:00:00.005", "-01:02:03.456789", "2024-00-10 11:12:13",
	   "2024-05-00 11:12:13.05", "2024-00-00 11:12:13.000005", "1999-12-31 23:59:59", "1999-12-31 23:59:59.5",
	   "1999-12-31 23:59:59.000005");
	SET time_zone = "+05:30";
	INSERT INTO ty.temporal VALUES (6, "2024-05-06", "100:00:00", "-24:00:00.001", "34:56:07.00001",
	  "2024-01-02 03:04:05", "2024-01-02 03:04:05.25", "2024-01-02 03:04:05.015625", "2024-01-02 03:04:05",
	  "2024-01-02 03:04:05.125", "2024-01-02 03:04:05.015625");
	SET time_zone = "+00:00";
	CREATE TABLE ty.strings (id INT PRIMARY KEY, c CHAR(10) CHARACTER SET utf8mb4, v VARCHAR(300),
	  l1 VARCHAR(20) CHARACTER SET latin1, l1c CHAR(5) CHARACTER SET latin1, u3 VARCHAR(20) CHARACTER SET utf8mb3,
	  cp VARCHAR(20) CHARACTER SET cp1251, u16 VARCHAR(20) CHARACTER SET utf16, sj VARCHAR(20) CHARACTER SET sjis,
	  tx TEXT, mt MEDIUMTEXT, lt LONGTEXT CHARACTER SET latin1, js JSON);
	INSERT INTO ty.strings VALUES
	  (1, "😀é", REPEAT("x😀", 150), "é€ÿ", "àé", "€uro ☃", "Привет", "😀 Ω", "日本語テキスト",
	   CONCAT("a", CHAR(9), "b", CHAR(10), "c\\d\"", CHAR(39)), REPEAT("0123456789abcdé", 65536),
	   CONCAT("Ÿ€", REPEAT("é", 300000)), "{\"a\": [1, 2.5, \"x\"], \"b\": null}"),
	  (2, "", "", "", "", "", "", "", "", "", "", "", "[]"),
	  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  (4, "ab  ", CONCAT("nul", CHAR(0), "end"), "ÿ ", "Ÿ", "☃ ", "ёж ", " 𝄞 ", "半角ｶﾅ", "t", REPEAT("é", 524288),
	   CONVERT(_latin1 0x8081FF USING latin1), "\"text\"");
	CREATE TABLE ty.binaries (id INT PRIMARY KEY, b4 BINARY(4), vb VARBINARY(300), tb TINYBLOB, bl BLOB,
	  lb LONGBLOB, i6 INET6, uu UUID);
	INSERT INTO ty.binaries VALUES
	  (1, 0x00010000, 0x00FF00, 0xFFFE, "", REPEAT(0x00FF, 524288), "::1", "550e8400-e29b-41d4-a716-446655440000"),
	  (2, 0x61620000, "", "", 0x00, "", "2001:db8::ff00:42:8329", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
	  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  (4, 0x61202020, REPEAT(0xAB, 300), 0xF09F9880, 0x0A09, 0xFFFFFFFF, "0.0.0.0", "00000000-0000-0000-0000-000000000000");
	CREATE TABLE ty.enumset (id INT PRIMARY KEY, e ENUM("a", "b", "it'\''s", "é"), s SET("a", "b", "c", "d"),
	  s64 SET("l1","l2","l3","l4","l5","l6","l7","l8","l9","l10","l11","l12","l13","l14","l15","l16","l17","l18",
	  "l19","l20","l21","l22","l23","l24","l25","l26","l27","l28","l29","l30","l31","l32","l33","l34","l35","l36",
	  "l37","l38","l39","l40","l41","l42","l43","l44","l45","l46","l47","l48","l49","l50","l51","l52","l53","l54",
	  "l55","l56","l57","l58","l59","l60","l61","l62","l63","l64"),
	  el ENUM("é", "€", "b") CHARACTER SET latin1);
	INSERT INTO ty.enumset VALUES (1, "zz", "", "", "é"), (2, "é", "a,b,c,d", "l1,l64", "€"),
	  (3, NULL, NULL, NULL, NULL), (4, "it'\''s", "b,d", "l2,l33", "b");
	CREATE TABLE ty.geo (id INT PRIMARY KEY, g GEOMETRY, p POINT, ls LINESTRING, pg POLYGON, gc GEOMETRYCOLLECTION);
	INSERT INTO ty.geo VALUES (1, ST_GeomFromText("MULTIPOINT(1 1, 2.5 -3)"), POINT(1, 2),
	  ST_GeomFromText("LINESTRING(0 0, 1e20 1e-20)"), ST_GeomFromText("POLYGON((0 0, 4 0, 4 4, 0 0))"),
	  ST_GeomFromText("GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))")),
	  (2, NULL, NULL, NULL, NULL, NULL);
	CREATE TABLE ty.keys (a DATETIME(3), b DECIMAL(8,2), c VARBINARY(8), d DOUBLE, v INT, PRIMARY KEY (a, b, c, d));
	INSERT INTO ty.keys VALUES ("2024-01-02 03:04:05.678", -1.50, 0x00FF, 0.1, 1), ("0000-00-00 00:00:00", 2, "", -1e300, 2);
	EOF
  "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot-only --snapshot-chunk 2 "ty.*" >snap-ty 2>snap-ty.err &&
  test_grep "binhook: stopped; continue with --from binlog" snap-ty.err &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  "$BINHOOK" tail --table "ty.*" --binlog "$MYSQL_DATADIR"/binlog.[0-9]* >binlog-ty 2>binlog-ty.err &&
  python3 - snap-ty binlog-ty <<-\EOF
	import json, sys
	snap = [json.loads(l) for l in open(sys.argv[1])]
	ins = {}
	for l in open(sys.argv[2]):
	    e = json.loads(l)
	    if e["type"] == "insert":
	        ins[(e["table"], json.dumps(e["key"]))] = e
	assert len(snap) == 32, "%d snapshot events" % len(snap)
	for e in snap:
	    k = (e["table"], json.dumps(e["key"]))
	    assert k in ins, "no insert for %s" % (k,)
	    i = ins.pop(k)
	    for c in i["after"]:
	        if e["after"].get(c, "absent") != i["after"][c]:
	            sys.exit("%s %s column %s: snapshot %r, binlog %r" % (k[0], k[1], c, str(e["after"].get(c, "absent"))[:200], str(i["after"][c])[:200]))
	    assert set(e["after"]) == set(i["after"]), (k, set(e["after"]) ^ set(i["after"]))
	assert not ins, "rows missing from the snapshot: %s" % list(ins)
	EOF
'

test_expect_success 'errors say what to do: a damaged state, options that do not go together' '
  mkdir bad && echo "{" >bad/snapshot.json &&
  test_must_fail "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot --state bad snap.marker 2>err &&
  test_grep "bad/snapshot.json is damaged.*remove it to take a new snapshot" err &&
  mkdir bad2 && cp saved2 bad2/snapshot.json && echo "{\"chunks\": [" >bad2/snapshot-sent.json &&
  test_must_fail "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot --state bad2 snap.marker 2>err &&
  test_grep "bad2/snapshot-sent.json is damaged.*remove it and the snapshot state to take a new snapshot" err &&
  test_exit_code 2 "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot --from start 2>err &&
  test_grep "does not go with --snapshot" err &&
  test_exit_code 2 "$BINHOOK" tail --source "$BINHOOK_URL" --state st9 2>err &&
  test_grep "go with --snapshot" err &&
  test_exit_code 2 "$BINHOOK" tail --source "$BINHOOK_URL" --snapshot --snapshot-lock none 2>err &&
  test_grep "is not one of auto, mariadb, global or tables" err
'

test_expect_success '[source] snapshot keys are checked' '
  printf "[source]\nsnapshot = \"initial\"\nsnapshot_chunk = 500\nsnapshot_rate = 100\nsnapshot_lock = \"tables\"\n" >ok.toml &&
  "$BINHOOK" check -c ok.toml &&
  printf "[source]\nsnapshot = \"sometimes\"\nsnapshot_lock = \"none\"\nsnapshot_chunk = 0\n" >bad.toml &&
  test_exit_code 2 "$BINHOOK" check -c bad.toml 2>err &&
  test_grep "^bad.toml:2:12: .snapshot. in \[source\]: unknown value .sometimes. (use never, initial or when_needed)" err &&
  test_grep "^bad.toml:3:17: .snapshot_lock. in \[source\]: unknown way .none." err &&
  test_grep "^bad.toml:4:18: .snapshot_chunk. in \[source\] must be from 1" err
'

test_done
