#!/usr/bin/env bash
# queue.sh - the on-disk retry queue (queuebench.c), in one run on the file
# system of ${TMPDIR:-/tmp}: appends/s and MB/s with group commit (RECORDS
# deliveries of 512 bytes added from one thread, then queue_sync), next to
# (a) one write + one fsync per record and (b) one write + one fsync of the
# same bytes (the disk's ceiling); the ratios queue/(a) and queue/(b); and
# the durable latency (queue_add to queue_durable) at 10,000 records/s, p50
# and p99.
#
# Targets: queue/(a) >= 10; queue/(b) >= 0.5.
#
# usage: contrib/bench/queue.sh [RECORDS | --smoke]   (default 200000; --smoke: 2,000, under 2 s)
# env:   BINHOOK_BUILD (default build/, a release build), TMPDIR (where the files go)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BINHOOK_BUILD:-$TOP/build}
BENCH=$BUILD/contrib/queuebench
[ -x "$BENCH" ] || { echo "queue.sh: build first (contrib/setup.sh)" >&2; exit 2; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/queuebench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
"$BENCH" "$DIR" "${1:-200000}" 2>&1
