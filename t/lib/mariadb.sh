# mariadb.sh - a private MariaDB server for the tests that need one. Source it
# after test-lib.sh:
#
#   . "$(dirname "$0")/lib/test-lib.sh"
#   . "$TOP/t/lib/mariadb.sh"
#   mariadb_start || test_skip_all 'cannot start mariadbd'  # or inside a test
#
# The server is Debian's mariadbd ($MARIADBD to use another) with its own
# datadir, socket and error log under $TRASH/mariadb, listening on a free
# loopback port, writing a ROW binlog with full images, metadata and
# annotations. It reads no configuration file of the machine. Its datadir is
# a copy of a template made once per build tree. The server is stopped when
# the script exits, whatever the way.
#
# After mariadb_start: MYSQL_PORT, MYSQL_SOCK, MYSQL_DATADIR, MYSQL_ERROR_LOG,
# MYSQL_PID, and for binhook BINHOOK_URL and BINHOOK_MYSQL_PASSWORD (user
# binhook, whose grants are what binhook needs: REPLICATION SLAVE to stream,
# BINLOG MONITOR, the 10.5+ name of REPLICATION CLIENT, for SHOW MASTER
# STATUS and SHOW BINARY LOGS, SELECT for the schemas in information_schema).
#
# Several servers at once (a primary and its replicas): `mariadb_use NAME`
# makes NAME the server the functions and variables here are about, each
# with its own directory; the first is called "main". Every server is
# stopped at the exit.
#
#   mariadb_use primary && mariadb_start --server-id=1
#   mariadb_use replica && mariadb_start --server-id=2
#   mariadb_use primary && mariadb_sql 'CREATE DATABASE shop'

MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}
MARIADB_TIMEOUT=${MARIADB_TIMEOUT:-60}
MARIADB_DIR=$TRASH/mariadb
mariadb_pid_=
mariadb_watchdog_=
mariadb_extra_=()

# The servers by name: each one's variables while another is in use.
mariadb_current_=main
mariadb_names_=(main)
declare -A mariadb_saved_=()
mariadb_vars_='MARIADB_DIR MYSQL_PORT MYSQL_SOCK MYSQL_DATADIR MYSQL_ERROR_LOG MYSQL_PID mariadb_pid_ mariadb_watchdog_ BINHOOK_URL'

# mariadb_use NAME: NAME is the server from now on (a new name has none yet:
# mariadb_start it).
mariadb_use () {
  local v name=$1
  [ "$name" = "$mariadb_current_" ] && return 0
  for v in $mariadb_vars_; do
    mariadb_saved_[$mariadb_current_.$v]=${!v-}
  done
  mariadb_saved_[$mariadb_current_.extra]=$(declare -p mariadb_extra_)
  if [ -n "${mariadb_saved_[$name.MARIADB_DIR]+set}" ]; then
    for v in $mariadb_vars_; do
      printf -v "$v" '%s' "${mariadb_saved_[$name.$v]}"
    done
    eval "${mariadb_saved_[$name.extra]/declare -a/declare -ga}"
  else
    for v in $mariadb_vars_; do
      printf -v "$v" '%s' ''
    done
    MARIADB_DIR=$TRASH/mariadb-$name
    mariadb_extra_=()
    mariadb_names_+=("$name")
  fi
  mariadb_current_=$name
  export MYSQL_PORT MYSQL_SOCK MYSQL_DATADIR MYSQL_ERROR_LOG MYSQL_PID BINHOOK_URL
}

# Stops every server started (at the exit).
mariadb_stop_all_ () {
  local n
  for n in "${mariadb_names_[@]}"; do
    mariadb_use "$n" && mariadb_stop
  done
}

# Options every test server gets; the options given to mariadb_start come
# after them and win (the last occurrence of an option wins in mariadbd).
mariadb_defaults_=(
  --log-bin=binlog --server-id=1
  --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
  --binlog-annotate-row-events=ON
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
  --skip-name-resolve
  --innodb-buffer-pool-size=32M --innodb-log-file-size=10M
  --innodb-flush-log-at-trx-commit=2 --innodb-temp-data-file-path=ibtmp1:1M:autoextend
  --innodb-buffer-pool-load-at-startup=0 --innodb-buffer-pool-dump-at-shutdown=0
  --performance-schema=OFF
)

# Prints the output of the client, or fails with its error on stderr.
mariadb_client_ () {
  mariadb --no-defaults --user=root --socket="$MYSQL_SOCK" \
    --default-character-set=utf8mb4 "$@"
}

# mariadb_sql [CLIENT-OPTIONS...] 'SQL': runs SQL as root over the socket,
# rows tab-separated without column names (mariadb -N -B). Without SQL, the
# statements come from stdin.
mariadb_sql () {
  if [ $# -eq 0 ]; then
    mariadb_client_ -N -B
  else
    mariadb_client_ -N -B "${@:1:$#-1}" -e "${!#}"
  fi
}

# mariadb_binlog_pos: prints FILE:POS, where the binlog ends now.
mariadb_binlog_pos () {
  mariadb_sql 'SHOW MASTER STATUS' | awk -F '\t' 'NR == 1 { print $1 ":" $2; found = 1 } END { exit !found }'
}

# Makes the template datadir (once per build tree and server version) under a
# lock, so that scripts running in parallel wait for the first to make it.
mariadb_template_ () {
  local tpl=$BINHOOK_BUILD/t/mariadb-template stamp lockfd tmp rc=0
  local opts=(
    --no-defaults --auth-root-authentication-method=normal --skip-test-db
    --skip-name-resolve --innodb-log-file-size=10M --innodb-buffer-pool-size=32M
  )
  # Root logs in over the socket with no password, whoever runs the tests.
  [ "$EUID" -eq 0 ] && opts+=(--user=root)
  stamp="$("$MARIADBD" --version 2>&1) ${opts[*]}"
  MARIADB_TEMPLATE=$tpl
  if [ -f "$tpl/.binhook-template" ] && [ "$(cat "$tpl/.binhook-template")" = "$stamp" ]; then
    return 0
  fi
  mkdir -p "$BINHOOK_BUILD/t" || return 1
  exec {lockfd}>"$BINHOOK_BUILD/t/mariadb-template.lock" || return 1
  if ! flock -w 300 "$lockfd"; then
    echo >&2 "mariadb_start: timed out waiting for the lock on the template datadir"
    exec {lockfd}>&-
    return 1
  fi
  if ! { [ -f "$tpl/.binhook-template" ] && [ "$(cat "$tpl/.binhook-template")" = "$stamp" ]; }; then
    echo >&2 "# making the template datadir $tpl"
    tmp=$tpl.tmp.$$
    rm -rf "$tmp"
    if mariadb-install-db "${opts[@]}" --datadir="$tmp" \
      >"$tmp.log" 2>&1 </dev/null 7>&- 8>&-; then
      printf '%s\n' "$stamp" >"$tmp/.binhook-template"
      rm -rf "$tpl" && mv "$tmp" "$tpl" && rm -f "$tmp.log" || rc=1
    else
      echo >&2 "mariadb_start: mariadb-install-db failed:"
      sed 's/^/| /' "$tmp.log" >&2
      rm -rf "$tmp" "$tmp.log"
      rc=1
    fi
  fi
  flock -u "$lockfd"
  exec {lockfd}>&-
  return $rc
}

# Starts mariadbd on the existing datadir and waits until it answers.
mariadb_launch_ () {
  local opts=(
    --no-defaults
    --datadir="$MYSQL_DATADIR" --socket="$MYSQL_SOCK"
    --port="$MYSQL_PORT" --bind-address=127.0.0.1
    --pid-file="$MARIADB_DIR/mariadbd.pid" --log-error="$MYSQL_ERROR_LOG"
    --tmpdir="$MARIADB_DIR/tmp"
  )
  [ "$EUID" -eq 0 ] && opts+=(--user=root)
  "$MARIADBD" "${opts[@]}" "${mariadb_defaults_[@]}" "${mariadb_extra_[@]}" \
    </dev/null >>"$MYSQL_ERROR_LOG" 2>&1 7>&- 8>&- &
  mariadb_pid_=$!
  MYSQL_PID=$mariadb_pid_
  # Stops the server if this script dies without running its exit hooks
  # (kill -9, a lost terminal).
  (
    while kill -0 "$mariadb_pid_" 2>/dev/null; do
      if ! kill -0 "$$" 2>/dev/null; then
        kill -TERM "$mariadb_pid_" 2>/dev/null
        exit 0
      fi
      sleep 1
    done
  ) </dev/null >/dev/null 2>&1 7>&- 8>&- &
  mariadb_watchdog_=$!

  local deadline=$((SECONDS + MARIADB_TIMEOUT))
  until mariadb-admin --no-defaults --user=root --socket="$MYSQL_SOCK" \
    --connect-timeout=2 ping >/dev/null 2>&1; do
    if ! kill -0 "$mariadb_pid_" 2>/dev/null; then
      wait "$mariadb_pid_" 2>/dev/null || :
      mariadb_pid_='' MYSQL_PID=''
      echo >&2 "mariadb_start: mariadbd exited at start; its log:"
      sed 's/^/| /' "$MYSQL_ERROR_LOG" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo >&2 "mariadb_start: mariadbd not ready after ${MARIADB_TIMEOUT}s; its log:"
      sed 's/^/| /' "$MYSQL_ERROR_LOG" >&2
      mariadb_stop
      return 1
    fi
    sleep 0.1
  done
}

# mariadb_start [MARIADBD-OPTIONS...]: a fresh server with an empty binlog
# and the binhook user; the options override the defaults above.
mariadb_start () {
  if [ -n "$mariadb_pid_" ]; then
    echo >&2 "mariadb_start: a server is already running (pid $mariadb_pid_)"
    return 1
  fi
  if [ ! -x "$MARIADBD" ]; then
    echo >&2 "mariadb_start: '$MARIADBD' is not installed"
    return 1
  fi
  local c
  for c in mariadb mariadb-admin mariadb-install-db flock; do
    if ! command -v "$c" >/dev/null 2>&1; then
      echo >&2 "mariadb_start: '$c' is not installed"
      return 1
    fi
  done
  mariadb_template_ || return 1

  mariadb_extra_=("$@")
  rm -rf "$MARIADB_DIR"
  mkdir -p "$MARIADB_DIR/tmp" || return 1
  MYSQL_DATADIR=$MARIADB_DIR/data
  MYSQL_ERROR_LOG=$MARIADB_DIR/error.log
  MYSQL_SOCK=$MARIADB_DIR/mysqld.sock
  # A socket path is limited to 107 bytes; a deep $TMPDIR would break it.
  if [ ${#MYSQL_SOCK} -gt 100 ]; then
    MYSQL_SOCK=$(mktemp -d /tmp/bhsock.XXXXXX)/mysqld.sock || return 1
    test_atexit "rm -rf '${MYSQL_SOCK%/*}'"
  fi
  cp -a --reflink=auto "$MARIADB_TEMPLATE" "$MYSQL_DATADIR" || return 1
  rm -f "$MYSQL_DATADIR/.binhook-template"

  # The port is free when chosen, but another process may take it before
  # mariadbd binds it: then try another.
  local try
  for try in 1 2 3; do
    MYSQL_PORT=$(test_free_port) || return 1
    export MYSQL_PORT MYSQL_SOCK MYSQL_DATADIR MYSQL_ERROR_LOG MYSQL_PID
    : >"$MYSQL_ERROR_LOG"
    mariadb_launch_ && break
    grep -q 'Address already in use' "$MYSQL_ERROR_LOG" || return 1
    [ "$try" -eq 3 ] && return 1
  done

  # Not logged: the binlog of a new server holds only what the test does.
  mariadb_sql "
    SET SESSION sql_log_bin = 0;
    CREATE USER 'binhook'@'127.0.0.1' IDENTIFIED BY 'binhook-test';
    CREATE USER 'binhook'@'localhost' IDENTIFIED BY 'binhook-test';
    GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'binhook'@'127.0.0.1';
    GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'binhook'@'localhost';" || return 1

  export BINHOOK_URL="mysql://binhook@127.0.0.1:$MYSQL_PORT"
  export BINHOOK_MYSQL_PASSWORD=binhook-test
}

# mariadb_stop: a clean shutdown (SIGTERM), then SIGKILL if it takes longer
# than $MARIADB_TIMEOUT seconds.
mariadb_stop () {
  local pid=$mariadb_pid_ deadline
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || :
  deadline=$((SECONDS + MARIADB_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo >&2 "mariadb_stop: mariadbd (pid $pid) did not stop in ${MARIADB_TIMEOUT}s: killing it"
      kill -KILL "$pid" 2>/dev/null || :
      break
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || :
  if [ -n "$mariadb_watchdog_" ]; then
    kill "$mariadb_watchdog_" 2>/dev/null || :
    wait "$mariadb_watchdog_" 2>/dev/null || :
  fi
  mariadb_pid_='' mariadb_watchdog_='' MYSQL_PID=''
  return 0
}

# mariadb_restart [MARIADBD-OPTIONS...]: stops the server and starts it again
# on the same datadir and port, with these options instead of those given
# before (or the same ones when none are given). Users and grants are left as
# the tests made them.
mariadb_restart () {
  if [ -z "${MYSQL_DATADIR:-}" ] || [ ! -d "$MYSQL_DATADIR" ]; then
    echo >&2 "mariadb_restart: no server was started"
    return 1
  fi
  mariadb_stop
  [ $# -gt 0 ] && mariadb_extra_=("$@")
  mariadb_launch_
}

# mariadb_replicate_from NAME: makes the server in use a replica of server
# NAME by GTID (master_use_gtid = slave_pos; a replication user is made on
# NAME, unlogged) and waits until it has caught up.
mariadb_replicate_from () {
  local me=$mariadb_current_ port
  mariadb_use "$1" || return 1
  port=$MYSQL_PORT
  mariadb_sql "SET SESSION sql_log_bin = 0;
    CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-test';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';"
  local rc=$?
  mariadb_use "$me"
  [ $rc -eq 0 ] || return 1
  mariadb_sql "CHANGE MASTER TO master_host = '127.0.0.1', master_port = $port, master_user = 'repl',
    master_password = 'repl-test', master_use_gtid = slave_pos, master_connect_retry = 1;
    START SLAVE" || return 1
  mariadb_caught_up "$1"
}

# mariadb_caught_up NAME [SECONDS]: waits (30 s unless told) until the server
# in use has applied every transaction in server NAME's binlog.
mariadb_caught_up () {
  local me=$mariadb_current_ want got
  mariadb_use "$1" || return 1
  want=$(mariadb_sql 'SELECT @@gtid_binlog_pos')
  mariadb_use "$me"
  got=$(mariadb_sql "SELECT MASTER_GTID_WAIT('$want', ${2:-30})") || return 1
  if [ "$got" != 0 ]; then
    echo >&2 "mariadb_caught_up: '$me' did not reach $1's $want in ${2:-30}s:"
    mariadb_sql 'SHOW SLAVE STATUS\G' >&2
    return 1
  fi
}

# mariadb_promote: the replica in use becomes a primary, as a DBA does it.
mariadb_promote () {
  mariadb_sql 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0'
}

# mariadb_kill: SIGKILL to the server in use (a crash of its host).
mariadb_kill () {
  [ -n "$mariadb_pid_" ] || return 1
  kill -KILL "$mariadb_pid_" && wait "$mariadb_pid_" 2>/dev/null
  mariadb_pid_='' MYSQL_PID=''
  return 0
}

test_atexit mariadb_stop_all_
