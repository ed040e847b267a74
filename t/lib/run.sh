# run.sh - helpers for the tests that run binhook as a daemon with
# receivers on 127.0.0.1. Source it after test-lib.sh (and mariadb.sh).
#
#   start_receiver NAME [ARGS...]  t/lib/receiver.py logging to $TRASH/NAME.jsonl,
#                                  its port in $TRASH/NAME.port (ARGS: see receiver.py)
#   start_binhook CONFIG LOG       binhook run -c CONFIG (from $TRASH) in the
#                                  background, stderr to $TRASH/LOG, pid in
#                                  $TRASH/LOG.pid; returns once it reads the binlog
#   stop_binhook LOG               SIGTERM, and waits for the end
#   accepted NAME N                receiver NAME has answered 2xx to N requests at least

start_receiver () {
  local name=$1
  shift
  python3 "$TOP/t/lib/receiver.py" "$TRASH/$name.port" "$TRASH/$name.jsonl" "$@" 7>&- 8>&- &
  test_atexit "kill $! 2>/dev/null"
  test_wait_until 20 test -s "$TRASH/$name.port"
}

start_binhook () {
  { (cd "$TRASH" && exec "$BINHOOK" run -c "$1" 2>"$TRASH/$2" 7>&- 8>&-) & } &&
  echo $! >"$TRASH/$2.pid" &&
  test_atexit "kill -9 $! 2>/dev/null" &&
  test_wait_until 30 grep -q "reading from" "$TRASH/$2"
}

# binhook_gone PID: the process has ended.
binhook_gone () {
  ! kill -0 "$1" 2>/dev/null
}

stop_binhook () {
  local pid
  pid=$(cat "$TRASH/$1.pid")
  kill -TERM "$pid" && test_wait_until 30 binhook_gone "$pid"
}

accepted () {
  local n
  n=$(grep -c '"status": 2' "$TRASH/$1.jsonl" 2>/dev/null) || n=0
  [ "${n:-0}" -ge "$2" ]
}

# accepted_ids NAME: how many different webhook-ids receiver NAME
# answered with a 2xx (each change once, however often it came).
accepted_ids () {
  python3 - "$TRASH/$1.jsonl" <<-\PY
	import json, sys
	ids = set()
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if 200 <= r["status"] < 300:
	        h = {k.lower(): v for k, v in r["headers"].items()}
	        ids.add(h["webhook-id"])
	print(len(ids))
	PY
}
