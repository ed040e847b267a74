# pg.sh - a private PostgreSQL server for the tests of the PostgreSQL source.
# Source it after test-lib.sh:
#
#   . "$(dirname "$0")/lib/test-lib.sh"
#   . "$TOP/t/lib/pg.sh"
#   pg_start || test_skip_all 'cannot start postgres'
#
# The server is Debian's PostgreSQL 15 ($PG_BIN to use another) in a fresh
# cluster of its own (initdb, no configuration file of the machine), with
# wal_level = logical, listening on a free loopback port and on a socket in
# its directory. initdb and postgres refuse to run as root: as root the
# cluster belongs to the postgres user (or $PG_USER) and its directory lives
# outside $TRASH, which that user cannot enter. The server is stopped and its
# directory removed when the script exits, whatever the way.
#
# After pg_start: PG_PORT, PG_DIR (the socket's directory too), PG_LOG, the
# database "shop", and for binhook BINHOOK_PG_URL and BINHOOK_MYSQL_PASSWORD
# (user binhook, a superuser with REPLICATION, password binhook-test, over
# TCP with scram-sha-256).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${PG_USER:-postgres}
PG_TIMEOUT=${PG_TIMEOUT:-60}
PG_DIR=
pg_watchdog_=

# Runs a server program as the cluster's owner.
pg_as_ () {
  if [ "$EUID" -eq 0 ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

# pg_sql [PSQL-OPTIONS...] 'SQL': runs SQL as the superuser postgres over the
# socket in the database shop (or -d DB), rows '|'-separated without
# headers. Without SQL, the statements come from stdin.
pg_sql () {
  if [ $# -eq 0 ]; then
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d shop
  else
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d shop "${@:1:$#-1}" -c "${!#}"
  fi
}

# pg_lsn: the server's current WAL position.
pg_lsn () {
  pg_sql 'SELECT pg_current_wal_lsn()'
}

# The replication slot binhook's confirmed flush LSN: slot_lsn gives it as
# a number; slot_past N: it is past N (a number); slot_at LSN: it has
# reached LSN (text).
slot_lsn () {
  pg_sql "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'binhook'"
}
slot_past () {
  [ "$(slot_lsn)" -gt "$1" ]
}
slot_at () {
  [ "$(pg_sql "SELECT confirmed_flush_lsn >= '$1'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'binhook'")" = t ]
}

pg_stop () {
  [ -n "$PG_DIR" ] || return 0
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pg_as_ "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 </dev/null 7>&- 8>&- || :
  fi
  [ -n "$pg_watchdog_" ] && kill "$pg_watchdog_" 2>/dev/null
  pg_watchdog_=
  rm -rf "$PG_DIR"
  PG_DIR=
}

# pg_start [POSTGRES-OPTIONS...]: a new cluster, started; "-c name=value"
# options override the defaults.
pg_start () {
  local c
  for c in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/postgres"; do
    if [ ! -x "$c" ]; then
      echo >&2 "pg_start: '$c' is not installed"
      return 1
    fi
  done
  command -v psql >/dev/null 2>&1 || { echo >&2 "pg_start: psql is not installed"; return 1; }
  if [ "$EUID" -eq 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    echo >&2 "pg_start: running as root needs the user '$PG_USER' to own the cluster"
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/bhpg.XXXXXX) || return 1
  test_atexit pg_stop
  [ "$EUID" -eq 0 ] && chown "$PG_USER" "$PG_DIR"
  chmod 755 "$PG_DIR"
  PG_LOG=$PG_DIR/server.log
  if ! pg_as_ "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --auth-host=scram-sha-256 -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 </dev/null 7>&- 8>&-; then
    echo >&2 "pg_start: initdb failed:"
    sed 's/^/| /' "$PG_DIR/initdb.log" >&2
    return 1
  fi
  local try
  for try in 1 2 3; do
    PG_PORT=$(test_free_port) || return 1
    pg_as_ "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t "$PG_TIMEOUT" -o "-p $PG_PORT -k $PG_DIR \
      -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB \
      -c wal_sender_timeout=60s $*" start >/dev/null 2>&1 </dev/null 7>&- 8>&- && break
    if [ "$try" -eq 3 ] || ! grep -q 'could not bind\|already in use' "$PG_LOG" 2>/dev/null; then
      echo >&2 "pg_start: postgres did not start; its log:"
      sed 's/^/| /' "$PG_LOG" >&2
      return 1
    fi
  done
  # Stops the server if this script dies without running its exit hooks.
  local dir=$PG_DIR
  (
    while [ -d "$dir/data" ]; do
      if ! kill -0 "$$" 2>/dev/null; then
        pg_as_ "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
        rm -rf "$dir"
        exit 0
      fi
      sleep 1
    done
  ) </dev/null >/dev/null 2>&1 7>&- 8>&- &
  pg_watchdog_=$!
  pg_sql -d postgres "CREATE ROLE binhook LOGIN SUPERUSER REPLICATION PASSWORD 'binhook-test'" &&
  pg_sql -d postgres 'CREATE DATABASE shop OWNER binhook' || return 1
  export PG_PORT PG_DIR PG_LOG
  export BINHOOK_PG_URL="postgresql://binhook@127.0.0.1:$PG_PORT/shop"
  export BINHOOK_MYSQL_PASSWORD=binhook-test
}
