#!/usr/bin/env bash
# run.sh - builds the libFuzzer target of the event decoder (clang, in
# build-fuzz/) if needed, seeds its corpus from the shared test binlogs and a
# few hand-made events, and runs it. Prints the number of executions and
# whether the run was clean.
#
#   contrib/fuzz/run.sh                      60 seconds
#   contrib/fuzz/run.sh 3600                 an hour
#   contrib/fuzz/run.sh -runs=100000         a number of executions
#   contrib/fuzz/run.sh 3600 -jobs=2 -workers=2 -seed=7
#                                            what follows the first argument
#                                            goes to libFuzzer as is
#
# Nothing is written among the sources: the corpus (it grows from run to
# run) goes to WORK/fuzz-corpus, crash, leak and timeout reproducers to
# WORK/fuzz-artifacts, the fuzzer's output to WORK/fuzz-logs.
#
# Environment: BINHOOK_FUZZ_BUILD (the build tree, default $TOP/build-fuzz),
# BINHOOK_FUZZ_WORK (WORK, default the build tree), BINHOOK_JOBS (build
# parallelism, default 2).
#
# Exit status: 0 clean, 1 the fuzzer found something, 2 it could not run.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BINHOOK_FUZZ_BUILD:-$TOP/build-fuzz}
WORK=${BINHOOK_FUZZ_WORK:-$BUILD}
JOBS=${BINHOOK_JOBS:-2}
SHARED_BINLOGS=$(cd "$TOP/.." && pwd)/shared/testdata/binlogs
FUZZER=$BUILD/contrib/fuzz_decoder

say() { echo "fuzz: $*" >&2; }
die() { echo "fuzz: error: $*" >&2; exit 2; }

limit=-max_total_time=60
if [ $# -gt 0 ]; then
  case $1 in
  -h | --help)
    sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  -runs=*) limit=$1 ;;
  *) limit=-max_total_time=$1 ;;
  esac
  [[ $limit =~ ^-(runs|max_total_time)=[0-9]+$ ]] ||
    die "the first argument is SECONDS or -runs=N, not '$1' (try --help)"
  shift
fi

# The build: a tree of its own, configured with clang; the other trees are
# gcc's and stay as they are.
command -v clang >/dev/null 2>&1 || die "clang is not installed (Debian: apt-get install clang libclang-rt-14-dev)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  say "configuring $BUILD with clang"
  CC=clang cmake -S "$TOP" -B "$BUILD" -DBINHOOK_FUZZ=ON -DBINHOOK_WERROR=OFF >"$BUILD.configure.log" 2>&1 || {
    cat "$BUILD.configure.log" >&2
    die "cannot configure '$BUILD'"
  }
  rm -f "$BUILD.configure.log"
fi
cmake --build "$BUILD" --target fuzz_decoder -j "$JOBS" >&2 || die "cannot build fuzz_decoder in '$BUILD'"

corpus=$WORK/fuzz-corpus
artifacts=$WORK/fuzz-artifacts
logs=$WORK/fuzz-logs
mkdir -p "$corpus" "$artifacts" "$logs" || die "cannot create the fuzzer's directories in '$WORK'"

# le32 N: N as four little-endian bytes in printf's %b notation.
le32() {
  printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}

# event TYPE BODY [LOG_POS]: one v4 event without a checksum; BODY in
# printf's %b escapes.
event() {
  local n
  n=$(printf %b "$2" | wc -c)
  printf %b "\\x00\\x00\\x00\\x00\\x$(printf %02x "$1")\\x01\\x00\\x00\\x00$(le32 $((19 + n)))$(le32 "${3:-0}")\\x00\\x00"
  printf %b "$2"
}

magic='\xfebin'
# QUERY body: thread id, exec time, db length 4, error code, no status
# variables, "test", then the statement.
query() { event 2 "\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00test\\x00$1"; }
table_map='\x01\x00\x00\x00\x00\x00\x00\x00\x04test\x00\x01t\x00\x01\x03\x00\x01'
write_rows='\x01\x00\x00\x00\x00\x00\x01\x00\x02\x00\x01\x01\x00\x2a\x00\x00\x00'

# Hand-made seeds: events without a format description (the decoder's
# default v4 format), after a flag byte (see fuzz_decoder.c).
{ printf %b "$magic"; } >"$corpus/seed-magic-only"
{ printf '\x01'; printf %b "$magic"; event 4 '\x04\x00\x00\x00\x00\x00\x00\x00bin.000002'; } >"$corpus/seed-rotate"
{ printf '\x01'; event 27 'bin.000001' 1234; } >"$corpus/seed-heartbeat"
{ printf '\x00'; query 'CREATE TABLE t (a INT)'; query 'GRANT ALL ON *.* TO u'; } >"$corpus/seed-ddl"
{
  printf '\x02'
  query 'BEGIN'
  event 19 "$table_map"
  event 30 "$write_rows"
  event 16 '\x07\x00\x00\x00\x00\x00\x00\x00'
  query '/*!80000 SAVEPOINT s */'
  query 'COMMIT'
} >"$corpus/seed-rows"
{ printf '\x01'; printf %b "$magic"; event 2 '\x01\x00'; event 15 '\x04\x00'; } >"$corpus/seed-cut-short"

# The shared binlogs, as they are (checksums verified) and after the flag
# byte that skips checksums. Files longer than -max_len are cut by the
# fuzzer: their later parts become seeds of their own, each the file's
# format description followed by whole transactions.
if [ -d "$SHARED_BINLOGS" ]; then
  for f in "$SHARED_BINLOGS"/*; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    cp "$f" "$corpus/shared-$b"
    { printf '\x01'; cat "$f"; } >"$corpus/shared-skip-$b"
  done
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$corpus" "$SHARED_BINLOGS"/* <<-\PY || die "cannot split the shared binlogs into seeds"
	import os, struct, sys
	MAX = 60000
	BOUNDARY = {2, 19, 33, 34, 162}  # QUERY (BEGIN, DDL), TABLE_MAP, the GTID events
	corpus = sys.argv[1]
	for path in sys.argv[2:]:
	    data = open(path, "rb").read()
	    if len(data) <= MAX + 4 or data[:4] != b"\xfebin":
	        continue
	    events, off = [], 4
	    while len(data) - off >= 19:
	        n = struct.unpack_from("<I", data, off + 9)[0]
	        if n < 19 or off + n > len(data):
	            break
	        events.append(data[off:off + n])
	        off += n
	    if not events or events[0][4] != 15:
	        continue
	    # A piece cut inside a statement starts again with what its rows
	    # need: the transaction's first event and the table maps since.
	    head, pieces, piece, cut, context = data[:4] + events[0], [], [], 0, []
	    for ev in events[1:]:
	        if len(head) + len(ev) > MAX:
	            continue  # longer than any input the fuzzer makes
	        if len(head) + sum(map(len, piece)) + len(ev) > MAX:
	            # Cut at the last transaction or statement start, if any.
	            pieces.append(piece[:cut] if cut else piece)
	            piece = piece[cut:] if cut else list(context)
	            cut = 0
	        if ev[4] in BOUNDARY and piece:
	            cut = len(piece)
	        if ev[4] == 19:
	            context = context[-8:] + [ev]
	        elif ev[4] in BOUNDARY:
	            context = [ev]
	        piece.append(ev)
	    pieces.append(piece)
	    for k, piece in enumerate(pieces, 1):
	        with open(os.path.join(corpus, "part-%s-%03d" % (os.path.basename(path), k)), "wb") as f:
	            f.write(head + b"".join(piece))
	PY
  fi
else
  say "no '$SHARED_BINLOGS': seeding with the hand-made events only"
fi

# A dictionary of the words and bytes the decoder looks for.
dict=$WORK/fuzz-decoder.dict
cat >"$dict" <<-\DICT
	magic="\xfebin"
	begin="BEGIN"
	commit="COMMIT"
	rollback="ROLLBACK"
	savepoint="SAVEPOINT"
	release="RELEASE"
	xa="XA"
	create="CREATE"
	alter="ALTER"
	drop="DROP"
	rename="RENAME"
	truncate="TRUNCATE"
	grant="GRANT"
	revoke="REVOKE"
	set="SET"
	password="PASSWORD"
	or_replace="OR REPLACE"
	user="USER"
	role="ROLE"
	exec_comment="/*!"
	comment="/*"
	comment_end="*/"
	dash_comment="-- "
	zstd_magic="\x28\xb5\x2f\xfd"
	zlib_header="\x81\x78\x9c"
	DICT

seeds=$(find "$corpus" -maxdepth 1 -type f | wc -l)
rm -f "$logs"/fuzz*.log
before=$(find "$artifacts" -maxdepth 1 -type f | wc -l)
say "fuzz_decoder $limit${*:+ $*}, $seeds inputs in $corpus"
(
  cd "$logs" || exit 2
  exec "$FUZZER" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$dict" -artifact_prefix="$artifacts/" "$limit" "$@" "$corpus" >fuzz.log 2>&1
)
rc=$?
after=$(find "$artifacts" -maxdepth 1 -type f | wc -l)

# Executions: each process's final count, or its last status line when it
# stopped without one. With -jobs the jobs write fuzz-N.log, the parent fuzz.log.
runs=0
shopt -s nullglob
job_logs=("$logs"/fuzz-*.log)
[ ${#job_logs[@]} -gt 0 ] || job_logs=("$logs/fuzz.log")
for log in "${job_logs[@]}"; do
  n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  [ -n "$n" ] || n=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$n" ] || n=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
  runs=$((runs + ${n:-0}))
done

if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ] &&
  ! grep -q -E '^==[0-9]+== ?ERROR|^SUMMARY: |runtime error: ' "$logs"/fuzz*.log; then
  echo "fuzz: $runs executions, clean"
  exit 0
fi
echo "fuzz: $runs executions, NOT clean (status $rc); the fuzzer's output, from the report:"
for log in "${job_logs[@]}"; do
  sed -n '/ERROR: \|runtime error: \|^==[0-9]*== ERROR\|deadly signal\|Test unit written/,$p' "$log" | head -n 80
done
echo "fuzz: reproducers in $artifacts (run '$FUZZER FILE' to reproduce one)"
exit 1
