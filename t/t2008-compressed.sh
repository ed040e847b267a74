#!/usr/bin/env bash
# MariaDB's binlog compression (log_bin_compress): compressed query and rows
# events decode to the same changes as plain ones, live and from the files.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"

test_expect_success 'a server that compresses its binlog events' '
  mariadb_start --log-bin-compress=ON --log-bin-compress-min-len=10 &&
  test "$(mariadb_sql "SELECT @@log_bin_compress")" = 1 &&
  from=$(mariadb_binlog_pos) && echo "$from" >from &&
  mariadb_sql "CREATE DATABASE c; CREATE TABLE c.t (id INT PRIMARY KEY, body TEXT, n DECIMAL(8,2));
    INSERT INTO c.t VALUES (1, REPEAT(\"compress me \", 20), 1.50), (2, \"short\", -2.25);
    UPDATE c.t SET body = REPEAT(\"changed \", 30) WHERE id = 1;
    DELETE FROM c.t WHERE id = 2" &&
  mariadb_sql "FLUSH BINARY LOGS" &&
  mariadb-binlog "$MYSQL_DATADIR/binlog.000001" >plain.txt 2>&1 &&
  grep -q -E "Write_compressed_rows|Query_compressed|compressed" plain.txt
'

check_events () {
  python3 - "$1" <<-\PY
	import json, sys
	ev = [json.loads(l) for l in open(sys.argv[1])]
	kinds = [(e["type"], e.get("kind")) for e in ev]
	assert kinds == [("statement", "ddl"), ("statement", "ddl"), ("insert", None), ("insert", None),
	                 ("update", None), ("delete", None)], kinds
	assert ev[1]["sql"].startswith("CREATE TABLE c.t"), ev[1]["sql"]
	assert ev[2]["after"] == {"id": 1, "body": "compress me " * 20, "n": "1.50"}, ev[2]
	assert ev[3]["after"] == {"id": 2, "body": "short", "n": "-2.25"}, ev[3]
	assert ev[4]["after"]["body"] == "changed " * 30 and ev[4]["changed"] == ["body"], ev[4]
	assert ev[5]["before"]["id"] == 2, ev[5]
	PY
}

test_expect_success 'live: the compressed events decode' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$(cat from)" --limit 6 >live 2>err &&
  check_events live
'

test_expect_success 'from the files: the same changes' '
  "$BINHOOK" tail --binlog "$MYSQL_DATADIR/binlog.000001" >offline 2>err &&
  check_events offline &&
  test_cmp live offline
'

test_done
