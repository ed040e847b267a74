# test-lib.sh - the harness every t/tNNNN-*.sh sources first:
#
#   . "$(dirname "$0")/lib/test-lib.sh"
#
# It speaks TAP on stdout (one "ok N - what" line per test_expect_success,
# the plan "1..N" at test_done), gives each script a private scratch
# directory $TRASH (the working directory of the tests, removed at exit unless
# BINHOOK_TEST_KEEP=1), and provides the assertions the tests are written
# with. Test bodies run in the script's own shell, so variables they set and
# servers they start are visible to the tests that follow; chain the commands
# of a body with && so that the first failure fails the test.
#
# Environment: BINHOOK_BUILD (the build tree, default $TOP/build),
# BINHOOK_TEST_KEEP=1 (keep $TRASH), BINHOOK_TEST_VERBOSE=1 (show the output
# of passing tests too).

if [ -z "${BASH_VERSION:-}" ]; then
  echo "Bail out! the tests need bash: run them as 'bash $0' or through prove --exec bash"
  exit 1
fi

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
case $BINHOOK_BUILD in /*) ;; *) BINHOOK_BUILD=$PWD/$BINHOOK_BUILD ;; esac
BINHOOK=$BINHOOK_BUILD/binhook
SHARED=$(cd "$TOP/.." && pwd)/shared/testdata
export TOP BINHOOK_BUILD BINHOOK SHARED

# Every sanitizer report ends the process with status 99, which no binhook
# command uses: test_must_fail and test_exit_code tell it from a clean failure.
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
if [ -f "$TOP/t/lsan.supp" ]; then
  export LSAN_OPTIONS=suppressions=$TOP/t/lsan.supp:print_suppressions=0
fi
# Messages and sorting must not depend on the machine running the tests.
export LC_ALL=C.UTF-8 TZ=UTC
unset MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT

test_name_=$(basename "$0" .sh)
test_pid_=$BASHPID
test_count=0
test_failed=0
test_done_=
test_in_body_=
test_when_finished_=
test_atexit_=()

# The TAP stream and the diagnostics keep going to the original stdout and
# stderr (fds 7 and 8) while a body's own output is captured to a file.
# Processes started in the background must not hold these: start them with
# 7>&- 8>&- (see t/README.md).
exec 7>&1 8>&2

test_root_=$(mktemp -d "${TMPDIR:-/tmp}/binhook-$test_name_.XXXXXX") || {
  echo "Bail out! cannot create a scratch directory"
  exit 1
}
TRASH=$test_root_/trash
mkdir "$TRASH"
export TRASH

# test_atexit CMD: run the shell code CMD when the script exits, whatever the
# way; hooks run newest first, before $TRASH is removed. Libraries such as
# mariadb.sh register their cleanup here instead of setting their own trap.
test_atexit () {
  test_atexit_+=("$1")
}

# test_reap_holders_: a process started by the script that still holds its
# TAP output (a background command without 7>&-, a daemon not stopped) would
# keep prove waiting for the end of the stream long after the script ended:
# such processes are named, killed, and the script fails.
test_reap_holders_ () {
  local out pid leaked=0
  out=$(readlink "/proc/$test_pid_/fd/7" 2>/dev/null) || return 0
  case $out in pipe:\[*\]) ;; *) return 0 ;; esac
  # the writing ends only (fdinfo flags O_WRONLY or O_RDWR): whoever reads
  # the output (prove, a pipe in a terminal) is not ours to stop
  for pid in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "pipe:\\[${out#pipe:[}" 2>/dev/null 7>&- 8>&- |
    while IFS=/ read -r _ _ p _ fd; do
      flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$p/fdinfo/$fd" 2>/dev/null)
      [ -n "$flags" ] && [ $((8#$flags & 3)) -ne 0 ] && echo "$p"
    done | sort -u); do
    [ "$pid" = "$test_pid_" ] || [ "$pid" = "$PPID" ] || [ "$pid" = "${test_watchdog_:-}" ] && continue
    # only processes of this script's making: not prove, not a sibling script
    [ "$(cut -d' ' -f1 "/proc/$pid/stat" 2>/dev/null)" = "$pid" ] || continue
    grep -q "^PPid:[[:space:]]*$PPID\$" "/proc/$pid/status" 2>/dev/null && continue
    echo >&8 "# $test_name_: process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) still held the test output at exit: killed"
    kill -KILL "$pid" 2>/dev/null
    leaked=1
  done
  return $leaked
}

test_cleanup_ () {
  local rc=$? i
  trap - EXIT
  # A child forked from this shell (a command started with &) can run the
  # trap when a signal reaches it before it has reset its traps: only the
  # script itself cleans up.
  if [ "$BASHPID" != "$test_pid_" ]; then
    exit "$rc"
  fi
  # Whoever read our output may be gone (prove stopped): clean up anyway.
  trap '' PIPE
  if [ -n "$test_in_body_" ]; then
    echo >&7 "not ok $test_count - $test_in_body_"
    echo >&8 "# the body of '$test_in_body_' called exit $rc"
    test_show_output_
    rc=1
  elif [ -z "$test_done_" ] && [ "$test_count" -gt 0 ] && [ "$rc" -eq 0 ]; then
    # A script that ran no test may be a tool using the helpers (the demo).
    echo >&8 "# $test_name_ ended without test_done"
    rc=1
  fi
  for ((i = ${#test_atexit_[@]} - 1; i >= 0; i--)); do
    eval "${test_atexit_[i]}" >>"$test_root_/atexit.log" 2>&1 </dev/null 7>&- 8>&- || :
  done
  if [ -n "${test_watchdog_:-}" ]; then
    kill "$test_watchdog_" 2>/dev/null || :
  fi
  test_reap_holders_ || rc=1
  cd / || :
  if [ "${BINHOOK_TEST_KEEP:-0}" = 1 ]; then
    echo >&8 "# $test_name_: trash kept in $TRASH"
  else
    rm -rf "$test_root_"
  fi
  exit "$rc"
}
trap test_cleanup_ EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

cd "$TRASH" || exit 1

# test_descendants_ PID: the pids of every process below PID, deepest last.
test_descendants_ () {
  ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      found[root] = 1
      do {
        more = 0
        for (p in parent)
          if (!(p in found) && (parent[p] in found)) { found[p] = 1; print p; more = 1 }
      } while (more)
    }'
}

# The watchdog: a script still running after BINHOOK_TEST_TIMEOUT seconds
# (default 900; 0 turns it off) is stopped, so that one hang fails its script
# instead of holding up the whole suite. It shows what was running and the
# stacks of any binhook among it, then ends the processes below the script
# and the script, whose cleanup reports the test it was in as failed.
test_timeout_=${BINHOOK_TEST_TIMEOUT:-900}
if [ "$test_timeout_" -gt 0 ] 2>/dev/null; then
  (
    trap - EXIT INT TERM HUP PIPE
    exec 7>&- >/dev/null </dev/null
    me=$BASHPID
    end=$((SECONDS + test_timeout_))
    while [ "$SECONDS" -lt "$end" ]; do
      sleep 1 8>&- 2>/dev/null
      kill -0 "$test_pid_" 2>/dev/null || exit 0
    done
    pids=$(test_descendants_ "$test_pid_" | grep -vx "$me")
    {
      echo "# $test_name_: still running after ${test_timeout_}s: stopping it (BINHOOK_TEST_TIMEOUT sets the limit)"
      for pid in $pids; do
        { args=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || continue
        echo "#   $pid: $args"
        case $args in
        *binhook\ *)
          if command -v gdb >/dev/null 2>&1; then
            timeout 60 gdb -q -batch -p "$pid" -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' |
              head -n 150 | sed 's/^/#     /'
          fi
          ;;
        esac
      done
    } >&8 2>&1
    # The script's trap runs once its foreground command has ended.
    kill -TERM "$test_pid_" 2>/dev/null
    pids=$(test_descendants_ "$test_pid_" | grep -vx "$me")
    kill -TERM $pids 2>/dev/null
    sleep 10
    pids=$(test_descendants_ "$test_pid_" | grep -vx "$me")
    kill -KILL $pids "$test_pid_" 2>/dev/null
  ) 8>&2 &
  test_watchdog_=$!
fi

# Shows a failed body's text and output as TAP diagnostics on stderr (the
# last 200 lines of output: enough for a server log, not a flood).
test_show_output_ () {
  local out=$test_root_/output n
  {
    if [ -n "${test_body_:-}" ]; then
      printf '%s\n' "$test_body_" | sed -e '/^[[:space:]]*$/d' -e 's/^/#   | /'
    fi
    if [ -s "$out" ]; then
      n=$(wc -l <"$out")
      if [ "$n" -gt 200 ]; then
        echo "#   (output: last 200 of $n lines)"
      else
        echo "#   (output)"
      fi
      tail -n 200 "$out" | sed 's/^/#   /'
    fi
  } >&8
}

# test_expect_success 'what it shows' 'shell code': runs the code in this
# shell with its output captured; the test passes when the code's exit status
# is 0.
# A body runs in a function of its own: a `return N` in it ends the body
# with status N (and not test_expect_success, which would lose its TAP line).
test_run_body_ () {
  eval "$1"
}

test_expect_success () {
  if [ $# -ne 2 ]; then
    echo >&8 "# bug in $test_name_: test_expect_success needs 2 arguments, got $#"
    exit 1
  fi
  test_count=$((test_count + 1))
  test_body_=$2
  test_in_body_=$1
  test_when_finished_=
  local rc
  {
    test_run_body_ "$2"
  } >"$test_root_/output" 2>&1 </dev/null
  rc=$?
  test_in_body_=
  if [ -n "$test_when_finished_" ]; then
    { eval "$test_when_finished_"; } >>"$test_root_/output" 2>&1 </dev/null || rc=1
    test_when_finished_=
  fi
  if [ "$rc" -eq 0 ]; then
    echo >&7 "ok $test_count - $1"
    if [ "${BINHOOK_TEST_VERBOSE:-0}" = 1 ]; then
      test_show_output_
    fi
  else
    test_failed=$((test_failed + 1))
    echo >&7 "not ok $test_count - $1"
    echo >&8 "#   failed test '$1' (status $rc) in $test_name_"
    test_show_output_
  fi
  test_body_=
  return 0
}

# test_when_finished CMD: inside a body, run CMD after the body ends, passed
# or failed (stop what the test started); a failing CMD fails the test.
test_when_finished () {
  test_when_finished_="$*; $test_when_finished_"
}

# test_skip 'what it shows' 'reason': a test that is not run.
test_skip () {
  test_count=$((test_count + 1))
  echo >&7 "ok $test_count - $1 # skip $2"
}

# test_skip_all 'reason': nothing (more) in this script can run here.
test_skip_all () {
  if [ "$test_count" -eq 0 ]; then
    echo >&7 "1..0 # SKIP $1"
  else
    echo >&7 "# skipping the remaining tests: $1"
    echo >&7 "1..$test_count"
  fi
  test_done_=1
  exit 0
}

# test_done: the plan, and the script's status (1 if any test failed).
test_done () {
  echo >&7 "1..$test_count"
  test_done_=1
  if [ "$test_failed" -gt 0 ]; then
    echo >&8 "# failed $test_failed among $test_count test(s)"
    exit 1
  fi
  exit 0
}

# run_unit NAME [ARGS...]: the whole script is the C unit test
# $BINHOOK_BUILD/t/unit/NAME; its TAP output and status are the script's.
run_unit () {
  local bin=$BINHOOK_BUILD/t/unit/$1 rc
  shift
  if [ ! -x "$bin" ]; then
    echo >&7 "not ok 1 - '$bin' is built"
    echo >&7 "1..1"
    echo >&8 "# no '$bin': build the tree first (BINHOOK_BUILD=$BINHOOK_BUILD)"
    test_done_=1
    exit 1
  fi
  "$bin" "$@" </dev/null >&7 2>&8 7>&- 8>&-
  rc=$?
  test_done_=1
  if [ "$rc" -gt 128 ]; then
    echo >&8 "# $bin killed by signal $((rc - 128))"
  elif [ "$rc" -eq 99 ]; then
    echo >&8 "# $bin: sanitizer report (status 99)"
  fi
  exit "$rc"
}

# Describes a status that means the command crashed rather than failed;
# returns 1 when it is an ordinary status.
test_crash_ () {
  local rc=$1
  shift
  if [ "$rc" -gt 128 ]; then
    echo "command died by signal $((rc - 128)): $*"
  elif [ "$rc" -eq 99 ]; then
    echo "sanitizer report (status 99): $*"
  elif [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; then
    echo "command not found or not executable (status $rc): $*"
  else
    return 1
  fi
  return 0
}

# test_must_fail CMD...: CMD must exit with a failure status (1..125 but not
# 99); success, a signal, a sanitizer report or a missing command fail.
test_must_fail () {
  local rc
  "$@"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo >&2 "test_must_fail: command succeeded: $*"
    return 1
  fi
  if test_crash_ "$rc" "$@" >&2; then
    echo >&2 "test_must_fail: that is a crash, not a failure"
    return 1
  fi
  return 0
}

# test_exit_code N CMD...: CMD must exit with status N exactly.
test_exit_code () {
  local want=$1 rc
  shift
  "$@"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo >&2 "test_exit_code: expected status $want, got $rc: $*"
    test_crash_ "$rc" "$@" >&2
    return 1
  fi
  return 0
}

# test_cmp EXPECTED ACTUAL: the files are identical; shows the diff if not.
test_cmp () {
  if [ $# -ne 2 ]; then
    echo >&2 "test_cmp: needs 2 files, got $#"
    return 1
  fi
  diff -u "$1" "$2"
}

# test_grep [!] [GREP-OPTIONS...] PATTERN FILE: FILE has a line matching
# PATTERN (with !, has none); shows the file if not.
test_grep () {
  local negate='' file pattern
  if [ "${1:-}" = "!" ]; then
    negate=1
    shift
  fi
  if [ $# -lt 2 ]; then
    echo >&2 "test_grep: needs a pattern and a file"
    return 1
  fi
  file=${!#}
  pattern=${*: -2:1}
  if [ ! -f "$file" ]; then
    echo >&2 "test_grep: no file '$file'"
    return 1
  fi
  if [ -z "$negate" ]; then
    grep -q "${@:1:$#-1}" -- "$file" && return 0
    echo >&2 "test_grep: no line matches '$pattern' in '$file':"
  else
    grep -q "${@:1:$#-1}" -- "$file" || return 0
    echo >&2 "test_grep: a line matches '$pattern' in '$file':"
  fi
  sed -e 's/^/| /' "$file" | head -n 100 >&2
  return 1
}

# require_cmd NAME...: skip the whole script unless every NAME is a command.
require_cmd () {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || test_skip_all "'$c' is not installed"
  done
}

# test_wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds;
# fails after SECONDS.
test_wait_until () {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo >&2 "test_wait_until: gave up waiting for: $*"
      return 1
    fi
    sleep 0.1
  done
}

# test_kill PID...: stops processes started in the background: SIGTERM,
# then SIGKILL to any still running after 10 s; returns when all are gone.
test_kill () {
  local pid deadline=$((SECONDS + 10))
  for pid in "$@"; do
    kill -TERM "$pid" 2>/dev/null || :
  done
  for pid in "$@"; do
    # A zombie has ended: only its parent's wait is missing.
    while kill -0 "$pid" 2>/dev/null && ! grep -q "^$pid (.*) Z" "/proc/$pid/stat" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo >&2 "test_kill: $pid did not stop on SIGTERM: killing it"
        kill -KILL "$pid" 2>/dev/null || :
        break
      fi
      sleep 0.1
    done
    wait "$pid" 2>/dev/null || :
  done
  return 0
}

# test_wait_exit PID [SECONDS]: waits for the background process PID (a
# child of this shell) to end, at most SECONDS (default 60), and returns its
# exit status. A process still running then is shown (with its threads'
# stacks when gdb is there), killed, and 124 is returned: a hang fails the
# test instead of holding up the script.
test_wait_exit () {
  local pid=$1 deadline=$((SECONDS + ${2:-60}))
  while kill -0 "$pid" 2>/dev/null && ! grep -q "^$pid (.*) Z" "/proc/$pid/stat" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo >&2 "test_wait_exit: $pid still running after ${2:-60}s: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
      if command -v gdb >/dev/null 2>&1; then
        timeout 60 gdb -q -batch -p "$pid" -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' | head -n 150 >&2
      fi
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 0.1
  done
  wait "$pid"
}

# test_make_ca: in the current directory, a CA (ca.pem, ca.key) and a
# certificate it signed for 127.0.0.1 (server.pem, server.key), valid for
# two days. Needs openssl.
test_make_ca () {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=binhook test CA" \
    -keyout ca.key -out ca.pem 2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null &&
  printf "subjectAltName=IP:127.0.0.1\n" >san.ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem 2>/dev/null
}

# test_free_port: prints a TCP port on 127.0.0.1 that nothing listens on now
# (the kernel's choice, so parallel scripts rarely collide; a server that
# fails to bind should retry with another).
test_free_port () {
  local port i
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' &&
      return 0
  fi
  for i in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo >&2 "test_free_port: found no free port"
  return 1
}
