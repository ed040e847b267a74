#!/usr/bin/env bash
# The retry queue proves what it holds and heals from the binlog. With 300
# deliveries waiting (the receiver answers 500) and 100 more changes
# written while binhook is stopped, the queue is damaged in four ways: a
# bit flipped in a record, a 4 KiB block zeroed, a segment cut short, a
# segment deleted. `binhook queue verify` sees each (an intact queue
# passes) and names the deliveries lost; after the restart the log says
# what was rebuilt, and every change arrives: replaying each row's
# deliveries in the order they arrived gives the table. With the binlog of
# the low-water mark purged too, every lost delivery is named in the log
# and listed as a dead letter ("lost: queue damaged, binlog purged"), and
# every other one arrives.
#
# Small segments (8 KiB) so that the queue has many.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 timeout dd truncate
mariadb_start || test_skip_all 'cannot start mariadbd'

# config NAME TABLE PORT: $TRASH/NAME.toml, state in $TRASH/NAME.state.
config () {
  {
    printf '[state]\ndir = "%s.state"\nsegment_size = "8KiB"\n' "$1" &&
    printf '[source]\nurl = "%s"\nserver_id = %d\n' "$BINHOOK_URL" $((7150 + ${#1})) &&
    printf '[endpoint.hook]\nurl = "http://127.0.0.1:%s/h"\nsigning = "none"\n' "$3" &&
    printf 'breaker_cooldown = "1s"\nretry = [' &&
    for i in $(seq 1 60); do printf '"2s", '; done &&
    printf ']\n[[rule]]\nname = "rows"\ntable = "%s"\nendpoint = "hook"\n' "$2"
  } >"$TRASH/$1.toml"
}

# waiting NAME N: the queue of NAME holds N waiting deliveries.
waiting () {
  "$BINHOOK" dlq list --waiting -c "$TRASH/$1.toml" >"$TRASH/$1.waiting" 2>"$TRASH/$1.waiting.err" &&
  grep -q "^$2 waiting\$" "$TRASH/$1.waiting.err"
}

# changes TABLE FROM TO: 300 changes for rows FROM..TO: an insert and two
# updates each.
changes () {
  local i
  for i in $(seq "$2" "$3"); do
    echo "INSERT INTO $1 VALUES ($i, $i);"
  done
  for i in $(seq "$2" "$3"); do
    echo "UPDATE $1 SET v = v + 1000 WHERE id = $i;"
  done
  for i in $(seq "$2" "$3"); do
    echo "UPDATE $1 SET v = v + 1000 WHERE id = $i;"
  done
}

# replayed RECEIVER TABLE: replaying the 2xx deliveries of RECEIVER in
# arrival order gives TABLE (every row with its value); the differences
# in $TRASH/RECEIVER.diff.
replayed () {
  mariadb_sql "SELECT id, v FROM $2 ORDER BY id" >"$TRASH/$1.want" &&
  python3 - "$TRASH/$1.jsonl" >"$TRASH/$1.got" <<-\EOF &&
	import json, sys
	rows = {}
	for l in open(sys.argv[1]):
	    q = json.loads(l)
	    if q["status"] // 100 != 2:
	        continue
	    e = json.loads(q["body"])
	    if e["type"] == "delete":
	        rows.pop(e["key"]["id"], None)
	    else:
	        rows[e["key"]["id"]] = e["after"]["v"]
	for k in sorted(rows):
	    print("%s\t%s" % (k, rows[k]))
	EOF
  diff "$TRASH/$1.want" "$TRASH/$1.got" >"$TRASH/$1.diff"
}

# segment NAME: the path of the largest segment of NAME's queue (one that
# holds deliveries, not only their attempts).
segment () {
  ls -S "$TRASH/$1.state/queue/"*.seg | head -n 1
}

# fill NAME TABLE: binhook runs on NAME against a failing receiver until
# 300 deliveries wait in its queue, then stops; 100 more changes are
# written meanwhile; the queue is verified intact.
fill () {
  mariadb_sql "CREATE TABLE $2 (id INT PRIMARY KEY, v INT)" &&
  start_receiver "$1.bad" 500 &&
  echo $! >"$TRASH/$1.bad.pid" &&
  config "$1" "$2" "$(cat "$TRASH/$1.bad.port")" &&
  start_binhook "$1.toml" "$1.a.log" &&
  changes "$2" 1 100 | mariadb_sql &&
  test_wait_until 60 waiting "$1" 300 &&
  stop_binhook "$1.a.log" &&
  for i in $(seq 1 100); do echo "UPDATE $2 SET v = v + 1 WHERE id = $i;"; done | mariadb_sql &&
  "$BINHOOK" queue verify --state "$TRASH/$1.state" >"$TRASH/$1.verify0" &&
  test_grep "^intact\$" "$TRASH/$1.verify0" &&
  cp "$TRASH/$1.waiting" "$TRASH/$1.before" &&
  echo "# $1: $(ls "$TRASH/$1.state/queue/"*.seg | wc -l) segments" >&7
}

# heal NAME TABLE: verify sees the damage and names what was lost; a
# restart against a receiver that succeeds rebuilds it, says so, and
# every row arrives as it is in the table.
heal () {
  test_exit_code 1 "$BINHOOK" queue verify --state "$TRASH/$1.state" >"$TRASH/$1.verify" &&
  cat "$TRASH/$1.verify" &&
  test_grep "^damaged: " "$TRASH/$1.verify" &&
  test_grep "^low-water mark: " "$TRASH/$1.verify" &&
  sed -n "s/^lost: \([^ ]*\) .*/\1/p" "$TRASH/$1.verify" | sort >"$TRASH/$1.lost" &&
  test -s "$TRASH/$1.lost" &&
  kill "$(cat "$TRASH/$1.bad.pid")" &&
  start_receiver "$1.good" 200 "$(cat "$TRASH/$1.bad.port")" &&
  start_binhook "$1.toml" "$1.b.log" &&
  test_wait_until 60 replayed "$1.good" "$2" &&
  test_grep "the retry queue in .* is damaged: " "$TRASH/$1.b.log" &&
  test_grep "rebuilding the retry queue from the binlog" "$TRASH/$1.b.log" &&
  while read -r id; do
    grep -q "rebuilding delivery $id " "$TRASH/$1.b.log" || { echo "lost $id is not named"; return 1; }
  done <"$TRASH/$1.lost" &&
  test "$(wc -l <"$TRASH/$1.good.want")" = 100 &&
  stop_binhook "$1.b.log" &&
  "$BINHOOK" queue verify --state "$TRASH/$1.state" >"$TRASH/$1.verify2" &&
  echo "# $1: $(wc -l <"$TRASH/$1.lost") lost, $(grep -c . "$TRASH/$1.good.jsonl") requests after the restart" >&7
}

test_expect_success 'setup' '
  mariadb_sql "CREATE DATABASE d"
'

test_expect_success 'a bit flipped in a record: detected, rebuilt, every row arrives' '
  fill flip d.flip &&
  seg=$(segment flip) &&
  python3 -c "
import sys
p = sys.argv[1]
b = bytearray(open(p, \"rb\").read())
b[len(b) // 2] ^= 0x10
open(p, \"wb\").write(b)" "$seg" &&
  heal flip d.flip
'

test_expect_success 'a 4 KiB block zeroed: detected, rebuilt, every row arrives' '
  fill zero d.zero &&
  seg=$(segment zero) &&
  dd if=/dev/zero of="$seg" bs=4096 seek=1 count=1 conv=notrunc 2>/dev/null &&
  heal zero d.zero
'

test_expect_success 'a segment cut short: detected, rebuilt, every row arrives' '
  fill cut d.cut &&
  seg=$(segment cut) &&
  truncate -s $(( $(stat -c %s "$seg") / 2 )) "$seg" &&
  heal cut d.cut
'

test_expect_success 'a segment deleted: detected, rebuilt, every row arrives' '
  fill gone d.gone &&
  rm "$(segment gone)" &&
  heal gone d.gone
'

# purged_to FILE: PURGE BINARY LOGS TO FILE, and the server has no older
# binlog left.
purged_to () {
  mariadb_sql "PURGE BINARY LOGS TO \"$1\"" &&
  mariadb_sql "SHOW BINARY LOGS" >"$TRASH/logs" &&
  test "$(cut -f 1 "$TRASH/logs")" = "$1"
}

# cp_file NAME: the binlog file of NAME's checkpoint.
cp_file () {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["file"])' "$TRASH/$1.state/checkpoint"
}

test_expect_success 'damaged with the binlog purged: every lost delivery is named and a dead letter; the rest arrive' '
  mariadb_sql "CREATE TABLE d.pg (id INT PRIMARY KEY, v INT); CREATE TABLE d.other (id INT PRIMARY KEY)" &&
  start_receiver pg.bad 500 &&
  bad=$! &&
  config pg d.pg "$(cat "$TRASH/pg.bad.port")" &&
  start_binhook pg.toml pg.a.log &&
  changes d.pg 1 100 | mariadb_sql &&
  test_wait_until 60 waiting pg 300 &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  newest=$(mariadb_binlog_pos) && newest=${newest%:*} &&
  mariadb_sql "INSERT INTO d.other VALUES (1)" &&
  test_wait_until 30 eval "test \"\$(cp_file pg)\" = $newest" &&
  stop_binhook pg.a.log &&
  sed -n "s/^[0-9]* *\(msg_[^ ]*\) .*/\1/p" "$TRASH/pg.waiting" | sort >"$TRASH/pg.before" &&
  test "$(wc -l <"$TRASH/pg.before")" = 300 &&
  rm "$(segment pg)" &&
  test_wait_until 30 purged_to "$newest" &&
  test_exit_code 1 "$BINHOOK" queue verify --state "$TRASH/pg.state" >"$TRASH/pg.verify" &&
  sed -n "s/^lost: \([^ ]*\) .*/\1/p" "$TRASH/pg.verify" | sort >"$TRASH/pg.lost" &&
  test -s "$TRASH/pg.lost" &&
  kill $bad &&
  start_receiver pg.good 200 "$(cat "$TRASH/pg.bad.port")" &&
  start_binhook pg.toml pg.b.log &&
  cat "$TRASH/pg.b.log" &&
  # every lost one is named with its position, and is a dead letter
  while read -r id; do
    grep -q "lost delivery $id (rule .rows., endpoint .hook.): its change at .*:[0-9]*" "$TRASH/pg.b.log" ||
      { echo "lost $id is not named in the log"; return 1; }
  done <"$TRASH/pg.lost" &&
  test_grep "the server no longer has binlog" "$TRASH/pg.b.log" &&
  "$BINHOOK" dlq list -c "$TRASH/pg.toml" >"$TRASH/pg.dlq" 2>/dev/null &&
  grep "reason=lost: queue damaged, binlog purged\$" "$TRASH/pg.dlq" | sed "s/^[0-9]* *\([^ ]*\) .*/\1/" | sort >"$TRASH/pg.dead" &&
  test_cmp "$TRASH/pg.lost" "$TRASH/pg.dead" &&
  # and every other one arrives
  comm -23 "$TRASH/pg.before" "$TRASH/pg.lost" >"$TRASH/pg.rest" &&
  test_wait_until 60 eval "python3 -c \"import json,sys; print(\\\"\\\\n\\\".join(json.loads(l)[\\\"headers\\\"][\\\"webhook-id\\\"] for l in open(sys.argv[1]) if json.loads(l)[\\\"status\\\"] // 100 == 2))\" \"\$TRASH/pg.good.jsonl\" | sort -u | comm -13 - \"\$TRASH/pg.rest\" | grep -q . && false || true" &&
  stop_binhook pg.b.log
'

test_done
