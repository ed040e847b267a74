#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, in build-fuzz/) if needed,
# seeds each one's corpus and runs them one after the other, each for the
# same time or number of executions. Prints the executions of each target
# and whether its run was clean.
#
#   contrib/fuzz/run.sh                      every target, 60 seconds each
#   contrib/fuzz/run.sh 1200                 every target, 20 minutes each
#   contrib/fuzz/run.sh -t toml -t expr 300  two of them
#   contrib/fuzz/run.sh -runs=100000         a number of executions each
#   contrib/fuzz/run.sh -t decoder 3600 -jobs=2 -workers=2 -seed=7
#                                            what follows the time goes to
#                                            libFuzzer as is
#
# The targets (contrib/fuzz/README.md): decoder (binlog events), toml (the
# TOML parser and the configuration loader), expr (rule expressions), tmpl
# (payload templates), httpd (the admin server's request heads), retryq
# (the queue's segments), state (the checkpoint and the snapshot's files).
#
# Nothing is written among the sources: each target's corpus (it grows from
# run to run) goes to WORK/fuzz-corpus/TARGET, crash, leak and timeout
# reproducers to WORK/fuzz-artifacts/TARGET, the fuzzer's output to
# WORK/fuzz-logs/TARGET. The corpus starts with contrib/fuzz/seeds/TARGET
# (small valid inputs, and every input that once found a bug).
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
SHARED=$(cd "$TOP/.." && pwd)/shared/testdata
SHARED_BINLOGS=$SHARED/binlogs
SEEDS=$TOP/contrib/fuzz/seeds
ALL="decoder toml expr tmpl httpd retryq state"

say() { echo "fuzz: $*" >&2; }
die() { echo "fuzz: error: $*" >&2; exit 2; }

targets=
while [ $# -gt 0 ]; do
  case $1 in
  -h | --help)
    sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  -t | --target)
    [ $# -gt 1 ] || die "$1 needs a target name (try --help)"
    case " $ALL " in *" $2 "*) ;; *) die "no target '$2': the targets are $ALL" ;; esac
    targets="$targets $2"
    shift 2
    ;;
  *) break ;;
  esac
done
targets=${targets:-$ALL}

limit=-max_total_time=60
if [ $# -gt 0 ]; then
  case $1 in
  -runs=*) limit=$1 ;;
  *) limit=-max_total_time=$1 ;;
  esac
  [[ $limit =~ ^-(runs|max_total_time)=[0-9]+$ ]] ||
    die "the first argument after the targets is SECONDS or -runs=N, not '$1' (try --help)"
  shift
fi

# The build: a tree of its own, configured with clang; the other trees are
# gcc's and stay as they are. Two runs at once (the suite's two campaigns)
# build one after the other.
command -v clang >/dev/null 2>&1 || die "clang is not installed (Debian: apt-get install clang libclang-rt-14-dev)"
mkdir -p "$BUILD" || die "cannot create '$BUILD'"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BUILD/.fuzz-build.lock" && flock 9 || die "cannot lock '$BUILD/.fuzz-build.lock'"
fi
# configured every time (a second when nothing changed): a tree made by an
# older checkout learns the targets and sources added since
[ -f "$BUILD/CMakeCache.txt" ] || say "configuring $BUILD with clang"
CC=clang cmake -S "$TOP" -B "$BUILD" -DBINHOOK_FUZZ=ON -DBINHOOK_WERROR=OFF >"$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log" >&2
  die "cannot configure '$BUILD'"
}
rm -f "$BUILD.configure.log"
for t in $targets; do
  cmake --build "$BUILD" --target "fuzz_$t" -j "$JOBS" >&2 || die "cannot build fuzz_$t in '$BUILD'"
done
exec 9>&-

# The files the queue and state targets write go to memory when it can
# (they fsync), else under WORK.
scratch=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "$WORK")/bh-fuzz.XXXXXX") ||
  die "cannot create a scratch directory"
trap 'rm -rf "$scratch"' EXIT

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

# seed_decoder CORPUS: the decoder's seeds, made here.
seed_decoder() {
  local corpus=$1
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

}

# dict_decoder: the words and bytes the decoder looks for.
dict_decoder() {
  cat <<-\DICT
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

}

# dict_TARGET: libFuzzer dictionaries, the words each reader looks for.
dict_toml() {
  printf '%s\n' 'a="[[rule]]"' 'b="[endpoint."' 'c="\"\"\""' "d=\"'''\"" 'e="= "' 'f="1979-05-27T07:32:00Z"' \
    'g="inf"' 'h="nan"' 'i="0x"' 'j="\\u"' 'k="include"' 'l="when"' 'm="template"' 'n="url"' 'o="{ "' 'p="\x0d\x0a"'
}
dict_expr() {
  printf '%s\n' 'a="after."' 'b="before."' 'c="key."' 'd="changed("' 'e=" and "' 'f=" or "' 'g="not "' \
    'h=" in "' 'i=" matches "' 'j=" is null"' 'k=" is not null"' 'l="lower("' 'm="len("' 'n="contains("' \
    'o="starts_with("' 'p="\\u{"' 'q="99.999999999999999999"' 'r="18446744073709551616"' 's="after.doc"' \
    't="after.tags"' 'u="after.big"' 'v="after.price"' 'w="after.dbl"' 'x="after.greek"'
}
dict_tmpl() {
  printf '%s\n' 'a="{{ "' 'b=" }}"' 'c=" | "' 'd="json"' 'e="default("' 'f="truncate("' 'g="join("' \
    'h="base64"' 'i="sha256"' 'j="number"' 'k="iso8601"' 'l="keys"' 'm="values("' 'n="event"' 'o="after."' \
    'p="before"' 'q="changes"' 'r="position.file"' 's="sample_keys.0"' 't="ts_unix"' 'u="after.doc"'
}
dict_httpd() {
  printf '%s\n' 'a="\x0d\x0a"' 'b="HTTP/1.1"' 'c="HTTP/1.0"' 'd="Content-Length: "' 'e="Transfer-Encoding: "' \
    'f="Connection: close"' 'g="%2f"' 'h="since="' 'i="until="' 'j="Authorization: Bearer "'
}
dict_retryq() { printf '%s\n' 'a="\x42\x48\x51\x31"' 'b="\xff\xff\xff\xff"'; }
dict_state() {
  printf '%s\n' 'a="\"file\":"' 'b="\"pos\":"' 'c="\"gtid\":"' 'd="\"tables\":["' 'e="\"segments\":["' \
    'f="\"bands\":["' 'g="\"present\":["' 'h="\"upto\":"' 'i="\"after\":"' 'j="\"at\":"' 'k="\"chunks\":["' \
    'l="\"band\":"' 'm="\\u0000"' 'n="{\"format\":1,"'
}

# The maximum input length of each target.
max_len() {
  case $1 in
  decoder) echo 65536 ;;
  toml | retryq | state) echo 16384 ;;
  *) echo 4096 ;;
  esac
}

# run_target NAME: seeds, runs and judges one target; sets runs and
# seconds; returns 0 when clean.
run_target() {
  local t=$1 corpus=$WORK/fuzz-corpus/$1 artifacts=$WORK/fuzz-artifacts/$1 logs=$WORK/fuzz-logs/$1
  local dict=$WORK/fuzz-$1.dict
  mkdir -p "$corpus" "$artifacts" "$logs" || die "cannot create the fuzzer's directories in '$WORK'"
  [ "$t" != decoder ] || seed_decoder "$corpus"
  local f
  for f in "$SEEDS/$t"/*; do
    [ -f "$f" ] && cp "$f" "$corpus/seed-$(basename "$f")"
  done
  # The TOML test suite's valid documents, when ../shared has them.
  if [ "$t" = toml ] && [ -d "$SHARED/toml-test/tests/valid" ]; then
    find "$SHARED/toml-test/tests/valid" -name '*.toml' -size -16k | while read -r f; do
      cp "$f" "$corpus/toml-test-$(echo "${f#"$SHARED"/toml-test/tests/valid/}" | tr / -)"
    done
  fi
  "dict_$t" >"$dict"

  local seeds before after rc n log start=$SECONDS
  seeds=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  rm -f "$logs"/fuzz*.log
  before=$(find "$artifacts" -maxdepth 1 -type f | wc -l)
  say "fuzz_$t $limit${extra:+ $extra}, $seeds inputs in $corpus"
  (
    cd "$logs" || exit 2
    TMPDIR=$scratch exec "$BUILD/contrib/fuzz_$t" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -dict="$dict" -artifact_prefix="$artifacts/" "$limit" "${args[@]}" "$corpus" \
      >fuzz.log 2>&1
  )
  rc=$?
  seconds=$((SECONDS - start))
  after=$(find "$artifacts" -maxdepth 1 -type f | wc -l)

  # Executions: each process's final count, or its last status line when it
  # stopped without one. With -jobs the jobs write fuzz-N.log, the parent fuzz.log.
  runs=0
  local job_logs=("$logs"/fuzz-*.log)
  [ ${#job_logs[@]} -gt 0 ] || job_logs=("$logs/fuzz.log")
  for log in "${job_logs[@]}"; do
    n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -n "$n" ] || n=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [ -n "$n" ] || n=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
    runs=$((runs + ${n:-0}))
  done

  if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ] &&
    ! grep -q -E '^==[0-9]+== ?ERROR|^SUMMARY: |runtime error: ' "$logs"/fuzz*.log; then
    echo "fuzz: $t: $runs executions in $seconds s, clean"
    return 0
  fi
  echo "fuzz: $t: $runs executions in $seconds s, NOT clean (status $rc); the fuzzer's output, from the report:"
  for log in "${job_logs[@]}"; do
    sed -n '/ERROR: \|runtime error: \|^==[0-9]*== ERROR\|deadly signal\|Test unit written/,$p' "$log" | head -n 80
  done
  echo "fuzz: $t: reproducers in $artifacts (run '$BUILD/contrib/fuzz_$t FILE' to reproduce one)"
  return 1
}

shopt -s nullglob
args=("$@")
extra=${*:-}
status=0 total=0 dirty=
for t in $targets; do
  run_target "$t" || {
    status=1
    dirty="$dirty $t"
  }
  total=$((total + runs))
done
if [ "$status" -eq 0 ]; then
  echo "fuzz: $total executions, clean"
else
  echo "fuzz: $total executions, NOT clean:$dirty"
fi
exit "$status"
