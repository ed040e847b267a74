#!/usr/bin/env bash
# Damaged binlog files read offline (binhook tail --binlog): cut short, a
# flipped byte, an unknown event type (fatal, unless marked ignorable), an
# INCIDENT (LOST_EVENTS warned, other kinds fatal), a
# missing TABLE_MAP, a consistent event with content missing, impossible
# lengths, files that are not binlogs at all. binhook prints the events
# before the damage, then exits 1 with "FILE:OFFSET: what is wrong" on
# stderr; it never crashes, whatever the bytes (random damage included).
# Run it under the sanitizers too (BINHOOK_BUILD=build-asan).
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

require_cmd python3
MANGLE="python3 $TOP/t/lib/binlog_mangle.py"

# events_before GOOD OFFSET NAME: the lines of GOOD whose event lies before
# OFFSET, as they are printed when the file is called NAME.
events_before () {
  python3 - "$@" <<'EOF'
import json, sys
good, offset, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for line in open(good):
    if json.loads(line)["position"]["pos"] < offset:
        sys.stdout.write(line.replace('"file":"good.000001"', '"file":"%s"' % name))
EOF
}

# printed_before OUT OFFSET NAME: OUT holds the events of good.out that lie
# before OFFSET, and nothing else but, perhaps, the first rows of the damaged
# event at OFFSET itself when they were whole (rows are printed as they are
# decoded).
printed_before () {
  events_before good.out "$2" "$3" >"$1.expect" &&
  events_at good.out "$2" "$3" >"$1.at" &&
  python3 - "$1" "$1.expect" "$1.at" <<'EOF'
import sys
out, before, at = (open(f).readlines() for f in sys.argv[1:4])
n = len(before)
assert out[:n] == before, "the events before the damage differ"
extra = out[n:]
assert extra == at[:len(extra)], "printed beyond the damage: %s" % "".join(extra)
EOF
}

# events_at GOOD OFFSET NAME: the lines of GOOD of the event at OFFSET.
events_at () {
  python3 - "$@" <<'EOF'
import json, sys
good, offset, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for line in open(good):
    if json.loads(line)["position"]["pos"] == offset:
        sys.stdout.write(line.replace('"file":"good.000001"', '"file":"%s"' % name))
EOF
}

# bad_file NAME OFFSET WHAT: binhook tail --binlog NAME exits 1, says
# "NAME:OFFSET: ..." matching the extended regex WHAT, and prints the events
# of good.out that lie before OFFSET.
bad_file () {
  test_exit_code 1 "$BINHOOK" tail --binlog "$1" >"$1.out" 2>"$1.err" || { cat "$1.err"; return 1; }
  test_grep -E "^binhook tail: $1:$2: .*($3)" "$1.err" &&
  printed_before "$1.out" "$2" "$1"
}

# is_empty FILE: FILE is empty (shows it otherwise).
is_empty () {
  if [ -s "$1" ]; then
    echo "'$1' is not empty:"
    cat "$1"
    return 1
  fi
}

mariadb_start || test_skip_all 'cannot start mariadbd'

# Two tables (the second with many column types, for the random damage to
# hit many decoders), four transactions: inserts into a (first TABLE_MAP of
# a), into b (first TABLE_MAP of b), into a again, then an update of b and a
# delete from a in one transaction.
cat >fixture.sql <<'EOF'
CREATE DATABASE shop;
CREATE TABLE shop.a (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
CREATE TABLE shop.b (k CHAR(4) PRIMARY KEY, d DECIMAL(10,3), t DATETIME(6),
  e ENUM('x','y'), s SET('p','q','r'), bl BLOB, bi BIT(10), f FLOAT, dbl DOUBLE,
  tm TIME(2), y YEAR, dt DATE, u BIGINT UNSIGNED, m MEDIUMINT, txt TEXT, j JSON) ENGINE=InnoDB;
INSERT INTO shop.a VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO shop.b VALUES
  ('k1', -12.3, '2024-01-02 03:04:05.678901', 'y', 'p,r', x'00ff10', b'1010101010',
   1.5, -2.25e100, '-838:59:59.99', 2024, '2024-05-06', 18446744073709551615, -8388608,
   'café', '{"a": [1, 2]}'),
  ('k2', NULL, NULL, 'x', '', '', b'0', 0, 0, '00:00:00', NULL, NULL, 0, 0, '', NULL);
INSERT INTO shop.a VALUES (4, 'four'), (5, 'five');
BEGIN;
UPDATE shop.b SET d = d * 2, s = 'q' WHERE k = 'k1';
DELETE FROM shop.a WHERE id = 1;
COMMIT;
FLUSH BINARY LOGS;
EOF

test_expect_success 'setup: a real binlog from the private server' '
  mariadb_sql <fixture.sql &&
  cp "$MYSQL_DATADIR/binlog.000001" good.000001 &&
  mariadb_stop &&
  "$BINHOOK" tail --binlog good.000001 >good.out 2>good.err &&
  test "$(wc -l <good.out)" = 12 &&
  is_empty good.err &&
  $MANGLE list good.000001 >events &&
  cat events
'

test_expect_success 'the undamaged file decodes to what the server wrote' '
  python3 - good.out <<-\EOF
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	k1 = [e for e in ev if e["type"] == "insert" and e["key"] == {"k": "k1"}][0]["after"]
	want = {"k": "k1", "d": "-12.300", "t": "2024-01-02T03:04:05.678901", "e": "y", "s": ["p", "r"],
	        "bl": "AP8Q", "bi": 682, "f": 1.5, "dbl": -2.25e100, "tm": "-838:59:59.99", "y": 2024,
	        "dt": "2024-05-06", "u": 18446744073709551615, "m": -8388608, "txt": "caf\u00e9",
	        "j": "{\"a\": [1, 2]}"}
	bad = ["%s: %r, want %r" % (c, k1.get(c), v) for c, v in want.items() if k1.get(c) != v]
	assert not bad, "; ".join(bad)
	EOF
'

test_expect_success 'cut short in the middle of a rows event' '
  at=$($MANGLE find good.000001 WRITE_ROWS_V1 2) &&
  $MANGLE truncate good.000001 cut.000001 $((at + 25)) &&
  bad_file cut.000001 $at "cut short|truncated"
'

test_expect_success 'cut short inside an event header' '
  at=$($MANGLE find good.000001 XID 2) &&
  $MANGLE truncate good.000001 cuthead.000001 $((at + 7)) &&
  bad_file cuthead.000001 $at "cut short|truncated"
'

test_expect_success 'a flipped byte inside a rows event: checksum mismatch' '
  at=$($MANGLE find good.000001 WRITE_ROWS_V1 3) &&
  $MANGLE flip good.000001 flip.000001 $((at + 30)) &&
  bad_file flip.000001 $at "checksum"
'

test_expect_success 'a flipped byte in the format description: checksum mismatch, nothing printed' '
  $MANGLE flip good.000001 flipfde.000001 40 &&
  bad_file flipfde.000001 4 "checksum"
'

test_expect_success 'an unknown event type, not ignorable: an error naming the type' '
  at=$($MANGLE find good.000001 ANNOTATE_ROWS 3) &&
  $MANGLE settype good.000001 unknown.000001 $at 0x7a &&
  bad_file unknown.000001 $at "unknown event type 122|type 122"
'

test_expect_success 'an INCIDENT of LOST_EVENTS between transactions: a warning with its place, every row, exit 0' '
  at=$($MANGLE find good.000001 MARIADB_GTID 3) &&
  $MANGLE incident good.000001 lost.000001 $at 1 "binlog write failed" &&
  test_exit_code 0 "$BINHOOK" tail --binlog lost.000001 >lost.out 2>lost.err &&
  test "$(wc -l <lost.out)" = 12 &&
  test_grep "lost.000001:$at: INCIDENT event (LOST_EVENTS: binlog write failed): the server reports that changes may be missing" lost.err
'

test_expect_success 'an INCIDENT of a kind binhook does not know: an error with its place, as a replica would stop' '
  at=$($MANGLE find good.000001 MARIADB_GTID 3) &&
  $MANGLE incident good.000001 incident7.000001 $at 7 "something new" &&
  bad_file incident7.000001 $at "INCIDENT event of an unknown kind 7: something new"
'

test_expect_success 'an unknown event type marked ignorable is skipped: every row, exit 0' '
  at=$($MANGLE find good.000001 ANNOTATE_ROWS 3) &&
  $MANGLE settype good.000001 ignorable.000001 $at 0x7a --ignorable &&
  test_exit_code 0 "$BINHOOK" tail --binlog ignorable.000001 >ignorable.out 2>ignorable.err &&
  # the skipped event was the statement text of the third transaction
  python3 - good.out ignorable.out $at <<-\EOF
	import json, sys
	good = [json.loads(l) for l in open(sys.argv[1])]
	got = [json.loads(l) for l in open(sys.argv[2])]
	for e in good:
	    e["position"]["file"] = "ignorable.000001"
	at = int(sys.argv[3])
	assert len(good) == len(got), (len(good), len(got))
	for g, e in zip(good, got):
	    if e["type"] != "statement" and e["position"]["pos"] > at and g["position"]["gtid"] == e["position"]["gtid"] \
	            and "sql" not in e:
	        g.pop("sql")
	    assert g == e, (g, e)
	EOF
'

test_expect_success 'a TABLE_MAP taken out: rows for an unmapped table id' '
  at=$($MANGLE find good.000001 TABLE_MAP 2) &&
  $MANGLE cut good.000001 nomap.000001 $at &&
  bad_file nomap.000001 $at "TABLE_MAP|table id"
'

test_expect_success 'the first TABLE_MAP of the file taken out' '
  at=$($MANGLE find good.000001 TABLE_MAP 1) &&
  $MANGLE cut good.000001 nomap1.000001 $at &&
  bad_file nomap1.000001 $at "TABLE_MAP|table id"
'

test_expect_success 'a rows event whose last row stops early (length and checksum agree)' '
  at=$($MANGLE find good.000001 WRITE_ROWS_V1 2) &&
  $MANGLE shrink good.000001 shrink.000001 $at 3 &&
  bad_file shrink.000001 $at "."
'

test_expect_success 'a rows event with one byte of its row image taken out' '
  at=$($MANGLE find good.000001 UPDATE_ROWS_V1 1) &&
  $MANGLE shrink good.000001 shrink1.000001 $at 1 &&
  bad_file shrink1.000001 $at "."
'

test_expect_success 'an event length shorter than a header' '
  at=$($MANGLE find good.000001 TABLE_MAP 2) &&
  $MANGLE setlen good.000001 short.000001 $at 5 &&
  bad_file short.000001 $at "length|damaged"
'

test_expect_success 'an event length past the end of the file' '
  at=$($MANGLE find good.000001 QUERY 2) &&
  $MANGLE setlen good.000001 long.000001 $at 100000 &&
  bad_file long.000001 $at "cut short|truncated|length"
'

test_expect_success 'an event length of 4 GiB - 1' '
  at=$($MANGLE find good.000001 XID 1) &&
  $MANGLE setlen good.000001 huge.000001 $at 4294967295 &&
  bad_file huge.000001 $at "length|damaged|truncated"
'

test_expect_success 'a file that is not a binlog' '
  printf "SELECT 1;\nthis is not a binlog, but it is long enough to hold a header\n" >text.000001 &&
  test_exit_code 1 "$BINHOOK" tail --binlog text.000001 >text.out 2>text.err &&
  test_grep -E "^binhook tail: text\.000001:0: .*not a binlog" text.err &&
  is_empty text.out
'

test_expect_success 'an empty file' '
  : >empty.000001 &&
  test_exit_code 1 "$BINHOOK" tail --binlog empty.000001 >empty.out 2>empty.err &&
  test_grep -E "^binhook tail: empty\.000001:0: .*(empty|not a binlog|truncated|cut short)" empty.err &&
  is_empty empty.out
'

test_expect_success 'only the magic number: no events, not an error' '
  head -c 4 good.000001 >magic.000001 &&
  test_exit_code 0 "$BINHOOK" tail --binlog magic.000001 >magic.out 2>magic.err &&
  is_empty magic.out
'

test_expect_success 'a file that does not exist' '
  test_exit_code 1 "$BINHOOK" tail --binlog nosuch.000001 >nosuch.out 2>nosuch.err &&
  test_grep "nosuch\.000001" nosuch.err
'

if [ -f "$SHARED/binlogs/binlog_truncated_event.000001" ]; then
  test_expect_success 'the shared truncated file' '
    cp "$SHARED/binlogs/binlog_truncated_event.000001" . &&
    test_exit_code 1 "$BINHOOK" tail --binlog binlog_truncated_event.000001 >shared.out 2>shared.err ||
      { cat shared.err; false; } &&
    test_grep -E "^binhook tail: binlog_truncated_event\.000001:[0-9]+: .*(cut short|truncated)" shared.err
  '
else
  test_skip 'the shared truncated file' 'no shared test data'
fi

test_expect_success 'a damaged file after a good one: the good one is printed, then the error' '
  at=$($MANGLE find good.000001 WRITE_ROWS_V1 3) &&
  test_exit_code 1 "$BINHOOK" tail --binlog good.000001 flip.000001 >two.out 2>two.err &&
  test_grep -E "^binhook tail: flip\.000001:$at: .*checksum" two.err &&
  events_before good.out $at flip.000001 >two.tail &&
  cat good.out two.tail >two.expect &&
  test_cmp two.expect two.out
'

test_expect_success 'a damaged file first: nothing of the files after it' '
  test_exit_code 1 "$BINHOOK" tail --binlog cut.000001 good.000001 >first.out 2>first.err &&
  test_cmp cut.000001.out first.out
'

# run_fuzz DIR: every file of DIR read by binhook; exit 0 or 1 only, and an
# exit 1 says "FILE:OFFSET: ..."; prints the failures.
run_fuzz () {
  local f base rc bad=0
  for f in "$1"/*; do
    base=${f##*/}
    rc=0
    "$BINHOOK" tail --binlog "$f" >"$f.out" 2>"$f.err" </dev/null || rc=$?
    case $rc in
    0) ;;
    1)
      if ! grep -qE "^binhook tail: $base:[0-9]+: " "$f.err"; then
        echo "$base: exit 1 without FILE:OFFSET:"
        cat "$f.err"
        bad=1
      fi
      ;;
    *)
      echo "$base: exit $rc"
      cat "$f.err"
      bad=1
      ;;
    esac
  done
  return $bad
}

test_expect_success 'random damage with checksums made right: exit 0 or 1, never a crash' '
  $MANGLE fuzz good.000001 fuzz 300 4000 >fuzz.list &&
  test "$(wc -l <fuzz.list)" -ge 290 &&
  run_fuzz fuzz
'

test_expect_success 'events read as another type (checksums made right): never a crash' '
  $MANGLE retype good.000001 retype 250 4001 >retype.list &&
  test "$(wc -l <retype.list)" = 250 &&
  run_fuzz retype
'

test_expect_success 'random damage to the shared binlogs: exit 0 or 1, never a crash' '
  fail= &&
  if [ -d "$SHARED/binlogs" ]; then
    n=0 &&
    for f in mariadb-bin.000001 mysql-enum-string-set.000001 json.binlog.000001 \
      minimal_row_metadata.000001 binlog_transaction_with_GTID.000001 mysql-bin.checksum-none
    do
      test -f "$SHARED/binlogs/$f" || continue
      n=$((n + 1)) &&
      $MANGLE fuzz "$SHARED/binlogs/$f" "shared-fuzz-$n" 60 $n >/dev/null &&
      run_fuzz "shared-fuzz-$n" || { fail=1; break; }
    done &&
    test -z "$fail"
  fi
'

test_done
