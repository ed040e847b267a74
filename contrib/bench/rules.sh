#!/usr/bin/env bash
# rules.sh - the rule engine and the templates on one core (rulebench.c):
# changes/s matched against 1, 100 and 1,000 rules (the 1-rule run is the
# reference the others are compared with: the table index should keep them
# near 1.00), and renders/s of the default and the Slack template next to
# the canonical printer itself.
#
# Targets: >= 1,000,000 changes/s against 100 rules; >= 300,000 renders/s of
# the default template for a 10-column row.
#
# usage: contrib/bench/rules.sh [SECONDS-PER-FIGURE]   (default 2)
# env:   BINHOOK_BUILD (default build/, a release build)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BINHOOK_BUILD:-$TOP/build}
BENCH=$BUILD/contrib/rulebench
[ -x "$BENCH" ] || { echo "rules.sh: build first (contrib/setup.sh)" >&2; exit 2; }
# one core, as the figures promise
exec taskset -c 0 "$BENCH" "$TOP" "${1:-2}" 2>&1 || exec "$BENCH" "$TOP" "${1:-2}"
