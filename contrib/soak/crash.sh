#!/usr/bin/env bash
# crash.sh - the long version of t/t2110-crash.sh: binhook run is killed with
# SIGKILL at random moments, as many times or for as long as asked, and
# started again on the same state directory, under a steady write load and a
# receiver that answers 500 to a fraction of the requests. Then it checks
# that every change a rule matched arrived with a 2xx at least once, that no
# webhook-id ever came with two bodies, that every signature holds, and that
# binhook never ended but by the kills (no crash, no sanitizer report, no
# assertion).
#
# It runs that test script with its knobs set, outside prove, so that the
# test and the soak are one logic: its own MariaDB on a loopback port, its
# own receiver on 127.0.0.1, everything in a scratch directory under $TMPDIR
# removed at the end (kept with --keep; on a failure, the logs, the requests,
# the state directory and the tables are copied to
# $TMPDIR/binhook-t2110-failed.SEED).
#
# usage: contrib/soak/crash.sh [--kills N] [--duration SECONDS] [--fail P]
#                              [--seed N] [--tps N] [--pause MIN-MAX]
#                              [--progress N] [--keep]
#   --kills N          kills (default 300; 0: until --duration is up)
#   --duration S       stop killing after S seconds (default: no bound)
#   --fail P           the receiver answers 500 to a fraction P (default 0.2)
#   --seed N           the seed of the kill times, the load and the
#                      receiver (default: from the clock; printed)
#   --tps N            transactions a second of the write load (default 40)
#   --pause MIN-MAX    milliseconds from "reading from" to the kill
#                      (default 200-1500)
#   --progress N       a line every N kills (default 25)
#   --keep             keep the scratch directory
# env: BINHOOK_BUILD (default build/; build-asan/ finds memory errors too),
#      TMPDIR (where the scratch directory goes: the receiver's log grows by
#      about 1 kB a request)
#
# The exit status is 0 when every check passed. See contrib/soak/README.md.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)

usage () {
  sed -n '/^# usage:/,/^# The exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "$1"
}

export BINHOOK_CRASH_KILLS=300 BINHOOK_CRASH_PROGRESS=25
while [ $# -gt 0 ]; do
  case $1 in
  --kills) export BINHOOK_CRASH_KILLS=${2:?}; shift ;;
  --duration) export BINHOOK_CRASH_DURATION=${2:?}; shift ;;
  --fail) export BINHOOK_CRASH_FAIL=${2:?}; shift ;;
  --seed) export BINHOOK_CRASH_SEED=${2:?}; shift ;;
  --tps) export BINHOOK_CRASH_TPS=${2:?}; shift ;;
  --pause) export BINHOOK_CRASH_PAUSE=${2:?}; shift ;;
  --progress) export BINHOOK_CRASH_PROGRESS=${2:?}; shift ;;
  --keep) export BINHOOK_TEST_KEEP=1 ;;
  -h | --help) usage 0 ;;
  *) echo "crash.sh: unknown option '$1'" >&2; usage 2 ;;
  esac
  shift
done
for v in BINHOOK_CRASH_KILLS BINHOOK_CRASH_DURATION BINHOOK_CRASH_SEED BINHOOK_CRASH_TPS BINHOOK_CRASH_PROGRESS; do
  case ${!v-0} in
  '' | *[!0-9]*) echo "crash.sh: ${v#BINHOOK_CRASH_} must be a whole number, not '${!v}'" >&2; exit 2 ;;
  esac
done
if [ "$BINHOOK_CRASH_KILLS" = 0 ] && [ "${BINHOOK_CRASH_DURATION:-0}" = 0 ]; then
  echo "crash.sh: --kills 0 needs --duration" >&2
  exit 2
fi

export BINHOOK_BUILD=${BINHOOK_BUILD:-$TOP/build}
if [ ! -x "$BINHOOK_BUILD/binhook" ]; then
  echo "crash.sh: no $BINHOOK_BUILD/binhook: build first (contrib/setup.sh), or set BINHOOK_BUILD" >&2
  exit 2
fi
# Without a bound on time the last run gets 120 s and 1 s a kill to drain;
# a long --duration may leave more to deliver.
if [ -n "${BINHOOK_CRASH_DURATION:-}" ] && [ -z "${BINHOOK_CRASH_DRAIN:-}" ]; then
  export BINHOOK_CRASH_DRAIN=$((120 + BINHOOK_CRASH_DURATION))
fi

echo "crash: $BINHOOK_BUILD/binhook, kills ${BINHOOK_CRASH_KILLS/#0/no bound}," \
  "duration ${BINHOOK_CRASH_DURATION:-no bound}${BINHOOK_CRASH_DURATION:+ s}, fail ${BINHOOK_CRASH_FAIL:-0.2}," \
  "tps ${BINHOOK_CRASH_TPS:-40}, pause ${BINHOOK_CRASH_PAUSE:-200-1500} ms"
# The test's TAP as plain lines: its comments (the figures) as they are,
# each test as "ok: ..." or "FAILED: ...".
bash "$TOP/t/t2110-crash.sh" | sed -u -e 's/^# //' -e 's/^ok [0-9]* - /ok: /' -e 's/^not ok [0-9]* - /FAILED: /' \
  -e '/^1\.\.[0-9]*/d'
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ]; then
  echo "crash: passed"
else
  echo "crash: FAILED (status $rc)"
fi
exit "$rc"
