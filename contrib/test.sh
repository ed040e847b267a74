#!/usr/bin/env bash
# test.sh - sets everything up (contrib/setup.sh) and runs the whole test
# suite under AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/),
# two scripts at a time. The exit status is prove's: 0 when everything passed.
#
#   contrib/test.sh                          the whole suite
#   contrib/test.sh -v t/t0000-harness.sh    prove's options, chosen scripts
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
"$TOP/contrib/setup.sh" || exit $?

cd "$TOP" || exit 1
export BINHOOK_BUILD=$TOP/build-asan
# The chosen scripts, or all of them when only options (or nothing) are given.
scripts=0
for arg in "$@"; do
  case $arg in -*) ;; *) scripts=1 ;; esac
done
if [ "$scripts" -eq 0 ]; then
  set -- "$@" t/t[0-9]*.sh
fi
echo "test: prove -j2 with BINHOOK_BUILD=$BINHOOK_BUILD" >&2
prove -j2 --exec bash "$@"
