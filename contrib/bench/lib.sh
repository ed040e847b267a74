# lib.sh - what the benchmarks of contrib/bench share: a private MariaDB
# (t/lib/mariadb.sh, stopped at exit whatever happens), the standard
# workload, one function per measurement, and the way figures and verdicts
# are printed. run.sh sources it to measure everything in one run on one
# server; decode.sh, deliver.sh and memory.sh source it to measure their
# part alone.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init            # paths, tools, the scratch directory $TRASH
#   bench_start_server    # the private MariaDB
#   bench_workload 1000000 200000 100000
#   bench_decode_live; bench_decode_zongji
#   bench_workload_latin1 1000000 200000 100000   # after the live figures
#   bench_decode_files; bench_decode_latin1
#   bench_summary
#
# Each figure is one line: what is measured, the reference measured in the
# same run on the same machine, and their ratio (the number to watch: the
# machine is shared and noisy, the ratio much less so):
#
#   decode.live     binhook tail: 812,345 rows/s | rawreader, the transport ceiling: 3,901,234 rows/s | ratio 0.21
#
# and each target a verdict line, collected again by bench_summary:
#
#   verdict decode.live: MISS (target: binhook tail >= 0.40 x the transport ceiling; measured 0.21)
#
# Environment: BINHOOK_BUILD (default build/, a release build: the
# sanitizer build runs, slowly, for the smoke test), BINHOOK_NPM (where the
# npm package @vlasky/zongji is installed, default build/npm).

bench_say () { printf '%s\n' "bench: $*" >&2; }
bench_die () {
  printf '%s\n' "bench: error: $*" >&2
  exit 1
}

# bench_init: paths and tools; the scratch directory $TRASH (removed at exit)
# and the helpers of t/lib/test-lib.sh.
bench_init () {
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  export BINHOOK_BUILD=${BINHOOK_BUILD:-$top/build}
  case $BINHOOK_BUILD in /*) ;; *) BINHOOK_BUILD=$PWD/$BINHOOK_BUILD ;; esac
  export BINHOOK_NPM=${BINHOOK_NPM:-$top/build/npm}
  # A full run takes longer than the test harness's watchdog allows a test.
  export BINHOOK_TEST_TIMEOUT=${BINHOOK_TEST_TIMEOUT:-0}
  BENCH_QUICK=${BENCH_QUICK:-0}
  . "$top/t/lib/test-lib.sh"
  . "$top/t/lib/mariadb.sh"
  BENCH_TOOLS=$BINHOOK_BUILD/contrib
  BENCH_VERDICTS=$TRASH/verdicts
  BENCH_FIGURES=$TRASH/figures
  : >"$BENCH_VERDICTS"
  : >"$BENCH_FIGURES"
  BENCH_SERVER_IDS=7400
}

# bench_need_build: binhook and the helper programs are built.
bench_need_build () {
  local p
  for p in "$BINHOOK" "$BENCH_TOOLS/rawreader" "$BENCH_TOOLS/sink" "$BENCH_TOOLS/curlload" "$BENCH_TOOLS/rulebench"; do
    [ -x "$p" ] || bench_die "'$p' is not built: run contrib/setup.sh (or build BINHOOK_BUILD=$BINHOOK_BUILD)"
  done
}

# bench_need CMD...: each command is there, or the reason it is not.
bench_need () {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 ||
      bench_die "'$c' is not installed (run.sh installs what the benchmarks need)"
  done
}

# bench_now: the time in seconds, with microseconds.
bench_now () { printf '%s\n' "$EPOCHREALTIME"; }

# bench_until SECONDS CMD...: polls CMD every 100 ms until it succeeds;
# fails after SECONDS. (Each poll starts processes: polling faster would
# take a measurable share of the two cores from what is being measured.)
bench_until () {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      bench_say "gave up after waiting for: $*"
      return 1
    fi
    sleep 0.1
  done
}

# ---- figures and verdicts ----

# How numbers are printed: two decimals below 100, else whole with commas.
BENCH_AWK_FMT='
    function fmt(x,   s, i, neg, out) {
      if (x < 100 && x > -100) return sprintf("%.2f", x)
      neg = x < 0; if (neg) x = -x
      s = sprintf("%.0f", x); out = ""
      for (i = length(s); i > 3; i -= 3) out = "," substr(s, i - 2, 3) out
      return (neg ? "-" : "") substr(s, 1, i) out
    }'
# bench_fmt NUMBER: NUMBER as figures print it.
bench_fmt () { awk -v x="$1" "$BENCH_AWK_FMT"' BEGIN { print fmt(x) }'; }

# bench_figure ID WHAT VALUE REFWHAT REFVALUE UNIT: one figure line; the
# ratio is VALUE / REFVALUE.
bench_figure () {
  awk -v id="$1" -v what="$2" -v v="$3" -v rwhat="$4" -v r="$5" -v unit="$6" "$BENCH_AWK_FMT"'
    BEGIN {
      ratio = r > 0 ? v / r : 0
      # cut, not rounded, like bench_ratio
      printf "%-18s %s: %s %s | %s: %s %s | ratio %s\n", id, what, fmt(v), unit, rwhat, fmt(r), unit,
        ratio < 0.1 ? sprintf("%.3f", int(ratio * 1000) / 1000) : sprintf("%.2f", int(ratio * 100) / 100)
    }' | tee -a "$BENCH_FIGURES"
}

# bench_verdict ID PASS|MISS TARGET MEASURED: one verdict line.
bench_verdict () {
  printf 'verdict %s: %s (target: %s; measured %s)\n' "$1" "$2" "$3" "$4" | tee -a "$BENCH_VERDICTS"
}

# bench_check ID VALUE OP LIMIT TARGET MEASURED: the verdict of VALUE OP
# LIMIT (OP is >= or <).
bench_check () {
  local ok
  ok=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN { print (op == ">=" ? v >= l : v < l) ? "PASS" : "MISS" }')
  bench_verdict "$1" "$ok" "$5" "$6"
}

# bench_ratio A B: A / B with three decimals, cut (not rounded: 0.3996 is
# 0.399, so that a verdict never passes by rounding up to its line).
bench_ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0 ? int(a / b * 1000) / 1000 : 0) }'; }
# bench_rate COUNT SECONDS: COUNT / SECONDS.
bench_rate () { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f\n", (s > 0 ? n / s : 0) }'; }
# bench_elapsed T0 T1: seconds between two bench_now.
bench_elapsed () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }

bench_summary () {
  local pass miss
  pass=$(grep -c ': PASS ' "$BENCH_VERDICTS") || :
  miss=$(grep -c ': MISS ' "$BENCH_VERDICTS") || :
  echo
  echo "summary: $pass targets met, $miss missed"
  cat "$BENCH_VERDICTS"
}

# ---- the server and the workload ----

# bench_start_server: a private MariaDB sized for the workload: one
# transaction of a million rows fits its binlog cache.
bench_start_server () {
  local pool=512M redo=256M
  if [ "$BENCH_QUICK" = 1 ]; then
    pool=64M redo=32M
  fi
  bench_say "starting a private MariaDB ..."
  mariadb_start --max-binlog-cache-size=4G --binlog-cache-size=1M \
    --innodb-buffer-pool-size=$pool --innodb-log-file-size=$redo >/dev/null ||
    bench_die "cannot start mariadbd (see above)"
  mariadb_sql "CREATE DATABASE bench" || bench_die "cannot create the database 'bench'"
}

# bench_next_server_id: a replica id of its own for each binhook run, in
# BENCH_SERVER_ID.
bench_next_server_id () {
  BENCH_SERVER_IDS=$((BENCH_SERVER_IDS + 1))
  BENCH_SERVER_ID=$BENCH_SERVER_IDS
}

# The standard table: ten columns of mixed types.
BENCH_COLUMNS="id INT UNSIGNED PRIMARY KEY, b BIGINT, v VARCHAR(64), d DECIMAL(12,2), dt DATETIME(6),
  e ENUM('new','paid','shipped'), ti TINYINT, f DOUBLE, txt TEXT, j JSON"
# A row of it, from the sequence number seq and the offset base.
bench_row_sql () {
  echo "$1+seq, seq*1234567, CONCAT('name-', seq), seq/7, '2024-01-02 03:04:05.123456' + INTERVAL seq SECOND,
    1+seq%3, seq%100, seq/3, REPEAT('x', 100), CONCAT('{\"k\":', seq, ',\"tag\":\"bench\"}')"
}

# bench_changes_sql TABLE BIG INSERTS UPDATES DELETES: the statements of
# the standard changes to bench.TABLE: the first BIG inserts in one INSERT
# ... SELECT (one transaction, one annotation for all its rows; 0 for
# none), the other inserts 1,000 a statement, then UPDATES rows updated
# and DELETES rows deleted, 1,000 a statement (each its own transaction).
bench_changes_sql () {
  local row
  row=$(bench_row_sql '%d')
  awk -v tbl="bench.$1" -v big="$2" -v ins="$3" -v upd="$4" -v del="$5" -v row="$row" 'BEGIN {
    if (big > 0)
      printf "INSERT INTO " tbl " SELECT " row " FROM bench.seq_1_to_%d;\n", 0, big
    for (i = big; i < ins; i += 1000)
      printf "INSERT INTO " tbl " SELECT " row " FROM bench.seq_1_to_1000;\n", i
    for (i = 0; i < upd; i += 1000)
      printf "UPDATE " tbl " SET b = b + 1, v = CONCAT(\"updated-\", id), d = d + 1, e = \"paid\", " \
        "dt = dt + INTERVAL 1 DAY WHERE id BETWEEN %d AND %d;\n", i + 1, i + 1000
    for (i = upd; i < upd + del; i += 1000)
      printf "DELETE FROM " tbl " WHERE id BETWEEN %d AND %d;\n", i + 1, i + 1000
  }'
}

# bench_write TABLE TABLE-OPTIONS BIG INSERTS UPDATES DELETES: creates
# bench.TABLE (the standard columns, then TABLE-OPTIONS) and writes the
# changes of bench_changes_sql into it, then closes the binlog (FLUSH
# BINARY LOGS). Sets BENCH_W_FROM (FILE:POS where they start) and
# BENCH_W_FILES (the binlog files holding them).
bench_write () {
  local tbl=$1 tblopts=$2 big=$3 ins=$4 upd=$5 del=$6 f
  [ $((big % 1000 + ins % 1000 + upd % 1000 + del % 1000)) -eq 0 ] && [ $((upd + del)) -le "$ins" ] &&
    [ "$big" -le "$ins" ] || bench_die "the workload is counted in thousands, updates and deletes within the inserts"
  mariadb_sql "CREATE TABLE bench.$tbl ($BENCH_COLUMNS) $tblopts" || bench_die "cannot create bench.$tbl"
  BENCH_W_FROM=$(mariadb_binlog_pos) || bench_die "cannot read the binlog position"
  bench_changes_sql "$tbl" "$big" "$ins" "$upd" "$del" | mariadb_sql || bench_die "the workload into bench.$tbl failed"
  mariadb_sql "FLUSH BINARY LOGS" || bench_die "cannot flush the binary logs"
  BENCH_W_FILES=()
  for f in "$MYSQL_DATADIR"/binlog.[0-9]*; do
    [ "$(basename "$f")" \< "${BENCH_W_FROM%:*}" ] && continue
    BENCH_W_FILES+=("$f")
  done
  unset 'BENCH_W_FILES[-1]' # the new, empty one
}

# bench_workload INSERTS UPDATES DELETES: the standard workload in bench.t:
# INSERTS rows in transactions of 1,000, then UPDATES rows updated and
# DELETES rows deleted, 1,000 per statement (each its own transaction).
# Sets BENCH_FROM (FILE:POS where it starts), BENCH_CHANGES (row changes),
# and BENCH_FILES (the binlog files holding it, closed by FLUSH BINARY LOGS).
bench_workload () {
  bench_say "the workload: $1 inserts in transactions of 1,000, $2 updates, $3 deletes ..."
  bench_write t "" 0 "$1" "$2" "$3"
  BENCH_FROM=$BENCH_W_FROM
  BENCH_FILES=("${BENCH_W_FILES[@]}")
  BENCH_CHANGES=$(($1 + $2 + $3))
  BENCH_SAMPLE=$(timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$BENCH_FROM" --limit 1 2>/dev/null)
  [ -n "$BENCH_SAMPLE" ] || bench_die "binhook tail prints nothing from $BENCH_FROM"
}

# bench_workload_latin1 INSERTS UPDATES DELETES: the same table and changes
# in bench.t1, CHARACTER SET latin1 (the default of MySQL before 8.0 and of
# many MariaDB installs: every string column converted to UTF-8 on the way
# out), the server annotating every statement (t/lib/mariadb.sh runs it
# with binlog_annotate_row_events on); the first tenth of the inserts in one
# INSERT ... SELECT, so that one annotation covers that many rows. Written
# after the standard workload, into binlog files of its own: sets
# BENCH_L1_CHANGES and BENCH_L1_FILES.
bench_workload_latin1 () {
  local big=$(($1 / 10))
  [ "$(mariadb_sql "SELECT @@binlog_annotate_row_events")" = 1 ] ||
    bench_die "the server does not annotate row events (binlog_annotate_row_events)"
  bench_say "the latin1 workload: $big inserts in one statement, $(($1 - big)) in transactions of 1,000," \
    "$2 updates, $3 deletes ..."
  bench_write t1 "CHARACTER SET latin1" "$big" "$1" "$2" "$3"
  BENCH_L1_FILES=("${BENCH_W_FILES[@]}")
  BENCH_L1_CHANGES=$(($1 + $2 + $3))
}

# ---- decode ----

# bench_quiet: waits (at most 120 s) until the server has finished what a
# workload leaves it to do in the background (InnoDB's purge and flushing
# take a core for tens of seconds after a million changes): until mariadbd
# used less than 5 % of a core over a second. Whatever is measured next
# gets the same machine as its reference.
bench_quiet () {
  [ -n "${MYSQL_PID:-}" ] && [ -r "/proc/$MYSQL_PID/stat" ] || return 0
  local hz t0 t1 busy waited=0
  hz=$(getconf CLK_TCK)
  while [ "$waited" -lt 120 ]; do
    t0=$(awk '{ print $14 + $15 }' "/proc/$MYSQL_PID/stat")
    sleep 1
    t1=$(awk '{ print $14 + $15 }' "/proc/$MYSQL_PID/stat")
    busy=$(((t1 - t0) * 100 / hz))
    [ "$busy" -lt 5 ] && return 0
    [ "$waited" = 0 ] && bench_say "waiting for the server's background work to finish ($busy % of a core) ..."
    waited=$((waited + 1))
  done
  bench_say "the server is still busy after 120 s ($busy % of a core): measuring anyway"
}

# BENCH_ROUNDS: each decode figure and its reference are measured this
# many times, alternated (reference, binhook, reference, ...), and the
# fastest of each is taken: a burst of other work on the shared machine
# then costs both sides a round, not one side its only one.
BENCH_ROUNDS=${BENCH_ROUNDS:-3}

# bench_min A B: the smaller of two numbers (A when B is empty).
bench_min () { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0 ? a : b) }'; }
# bench_max A B: the larger of two numbers.
bench_max () { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0 ? a : b) }'; }

# bench_decode_live: binhook tail from the server against rawreader, which
# reads the same stream and decodes nothing. Sets BENCH_TAIL_RATE.
bench_decode_live () {
  local raw_s='' t0 t1 tail_s='' round rounds=$BENCH_ROUNDS
  [ "$BENCH_QUICK" = 1 ] && rounds=1
  bench_quiet
  for round in $(seq "$rounds"); do
    # both timed from outside, from the start of the process to its end:
    # its own start and connection are part of reading the stream too
    bench_say "decode, live ($round/$rounds): rawreader (the transport ceiling) ..."
    t0=$(bench_now)
    timeout 600 "$BENCH_TOOLS/rawreader" 127.0.0.1 "$MYSQL_PORT" binhook "${BENCH_FROM%:*}" "${BENCH_FROM#*:}" \
      >/dev/null || bench_die "rawreader failed"
    t1=$(bench_now)
    raw_s=$(bench_min "$(bench_elapsed "$t0" "$t1")" "$raw_s")
    bench_say "decode, live ($round/$rounds): binhook tail ..."
    t0=$(bench_now)
    timeout 600 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$BENCH_FROM" --limit "$BENCH_CHANGES" \
      >/dev/null 2>"$TRASH/tail.err" || bench_die "binhook tail failed: $(cat "$TRASH/tail.err")"
    t1=$(bench_now)
    tail_s=$(bench_min "$(bench_elapsed "$t0" "$t1")" "$tail_s")
  done
  BENCH_TAIL_RATE=$(bench_rate "$BENCH_CHANGES" "$tail_s")
  local raw_rate
  raw_rate=$(bench_rate "$BENCH_CHANGES" "$raw_s")
  bench_figure decode.live "binhook tail (best of $rounds)" "$BENCH_TAIL_RATE" "rawreader, the transport ceiling (best of $rounds)" \
    "$raw_rate" rows/s
  local r
  r=$(bench_ratio "$BENCH_TAIL_RATE" "$raw_rate")
  bench_check decode.live "$r" ">=" 0.40 "binhook tail >= 0.40 x the transport ceiling" "$r"
}

# bench_decode_files_of ID CHANGES TARGET FILE...: binhook tail --binlog
# against mariadb-binlog -v on the same files, which hold CHANGES row
# changes; TARGET names the verdict's target (>= 3x).
bench_decode_files_of () {
  local id=$1 changes=$2 target=$3 t0 t1 file_s='' ref_s='' round rounds=$BENCH_ROUNDS
  shift 3
  [ "$BENCH_QUICK" = 1 ] && rounds=1
  bench_quiet
  for round in $(seq "$rounds"); do
    bench_say "$id ($round/$rounds): mariadb-binlog --base64-output=decode-rows -v ..."
    t0=$(bench_now)
    timeout 600 mariadb-binlog --base64-output=decode-rows -v "$@" >/dev/null ||
      bench_die "mariadb-binlog failed"
    t1=$(bench_now)
    ref_s=$(bench_min "$(bench_elapsed "$t0" "$t1")" "$ref_s")
    bench_say "$id ($round/$rounds): binhook tail --binlog ..."
    t0=$(bench_now)
    timeout 600 "$BINHOOK" tail --binlog "$@" >/dev/null 2>"$TRASH/tail.err" ||
      bench_die "binhook tail --binlog failed: $(cat "$TRASH/tail.err")"
    t1=$(bench_now)
    file_s=$(bench_min "$(bench_elapsed "$t0" "$t1")" "$file_s")
  done
  local rate ref r
  rate=$(bench_rate "$changes" "$file_s")
  ref=$(bench_rate "$changes" "$ref_s")
  bench_figure "$id" "binhook tail --binlog (best of $rounds)" "$rate" "mariadb-binlog -v (best of $rounds)" "$ref" rows/s
  r=$(bench_ratio "$rate" "$ref")
  bench_check "$id" "$r" ">=" 3 "$target" "$r"
}

# bench_decode_files: the standard workload's files (bench_workload).
bench_decode_files () {
  bench_decode_files_of decode.files "$BENCH_CHANGES" "binhook tail --binlog >= 3 x mariadb-binlog" \
    "${BENCH_FILES[@]}"
}

# bench_decode_latin1: the latin1 workload's files (bench_workload_latin1).
bench_decode_latin1 () {
  bench_decode_files_of decode.latin1 "$BENCH_L1_CHANGES" \
    "binhook tail --binlog >= 3 x mariadb-binlog, latin1 table, annotated" "${BENCH_L1_FILES[@]}"
}

# bench_npm_install: @vlasky/zongji in $BINHOOK_NPM, installed when missing.
bench_npm_install () {
  [ -f "$BINHOOK_NPM/node_modules/@vlasky/zongji/package.json" ] && return 0
  bench_need node npm
  bench_say "installing the npm package @vlasky/zongji into $BINHOOK_NPM ..."
  mkdir -p "$BINHOOK_NPM" &&
    npm install --no-audit --no-fund --silent --prefix "$BINHOOK_NPM" "@vlasky/zongji@$BENCH_ZONGJI_VERSION" \
      >&2 </dev/null ||
    bench_die "cannot install @vlasky/zongji from the npm registry into '$BINHOOK_NPM'"
}
BENCH_ZONGJI_VERSION=0.9.0

# bench_decode_zongji: ZongJi on the same live stream, against
# BENCH_TAIL_RATE (bench_decode_live).
bench_decode_zongji () {
  local out z_s='' rate r round rounds=$BENCH_ROUNDS
  [ "$BENCH_QUICK" = 1 ] && rounds=1
  bench_npm_install
  for round in $(seq "$rounds"); do
    bench_say "decode, live ($round/$rounds): ZongJi ..."
    out=$(timeout 1200 node "$TOP/contrib/bench/zongji-count.mjs" "$BINHOOK_NPM" 127.0.0.1 "$MYSQL_PORT" binhook \
      "${BENCH_FROM%:*}" "${BENCH_FROM#*:}" "$BENCH_CHANGES") || bench_die "ZongJi failed"
    z_s=$(bench_min "$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$out")" "$z_s")
  done
  rate=$(bench_rate "$BENCH_CHANGES" "$z_s")
  bench_figure decode.zongji "binhook tail (best of $rounds)" "$BENCH_TAIL_RATE" \
    "ZongJi $BENCH_ZONGJI_VERSION (Node.js, best of $rounds)" "$rate" rows/s
  r=$(bench_ratio "$BENCH_TAIL_RATE" "$rate")
  bench_check decode.zongji "$r" ">=" 7 "binhook tail >= 7 x ZongJi" "$r"
}

# ---- rules and rendering ----

# bench_rules: rulebench (rules.sh) on one core; its figures against their
# references.
bench_rules () {
  local secs=2 out
  [ "$BENCH_QUICK" = 1 ] && secs=0.2
  bench_say "rules and templates (rulebench, ${secs}s a figure) ..."
  out=$("$TOP/contrib/bench/rules.sh" "$secs") || bench_die "rulebench failed: $out"
  printf '%s\n' "$out" >"$TRASH/rules.out"
  local base r100 r1000 ref def slack
  base=$(sed -nE 's/.*rule on every table +([0-9.]+) changes.*/\1/p' <<<"$out")
  r100=$(sed -nE 's/^ +100 rules, one per table +([0-9.]+) changes.*/\1/p' <<<"$out")
  r1000=$(sed -nE 's/^ +1000 rules, one per table +([0-9.]+) changes.*/\1/p' <<<"$out")
  ref=$(sed -nE 's/^ +change_to_json +([0-9.]+) renders.*/\1/p' <<<"$out")
  def=$(sed -nE 's/^ +templates\/event.json +([0-9.]+) renders.*/\1/p' <<<"$out")
  slack=$(sed -nE 's/^ +templates\/slack-change.json +([0-9.]+) renders.*/\1/p' <<<"$out")
  [ -n "$base" ] && [ -n "$r100" ] && [ -n "$r1000" ] && [ -n "$ref" ] && [ -n "$def" ] && [ -n "$slack" ] ||
    bench_die "cannot read rulebench's output: $out"
  bench_figure rules.100 "100 rules, one per table" "$r100" "1 rule on every table" "$base" changes/s
  bench_figure rules.1000 "1,000 rules, one per table" "$r1000" "1 rule on every table" "$base" changes/s
  bench_figure render.default "templates/event.json" "$def" "change_to_json, the printer itself" "$ref" renders/s
  bench_figure render.slack "templates/slack-change.json" "$slack" "change_to_json, the printer itself" "$ref" renders/s
  bench_check rules.100 "$r100" ">=" 1000000 ">= 1,000,000 changes/s matched against 100 rules" \
    "$(bench_fmt "$r100") changes/s"
  bench_check render.default "$def" ">=" 300000 ">= 300,000 renders/s of the default template" \
    "$(bench_fmt "$def") renders/s"
}

# ---- delivery ----

# bench_sink NAME [LOG [EXPECT]]: a receiver (sink.c); its port in
# $TRASH/NAME.port; with EXPECT, $TRASH/NAME.done says when the EXPECTth
# request arrived (bench_sink_done, bench_sink_done_at).
bench_sink () {
  rm -f "$TRASH/$1.port" "$TRASH/$1.done"
  "$BENCH_TOOLS/sink" ${3:+-n "$3" "$TRASH/$1.done"} "$TRASH/$1.port" ${2:+"$2"} >"$TRASH/$1.sink.out" 7>&- 8>&- &
  test_atexit "kill $! 2>/dev/null"
  eval "BENCH_SINK_PID_$1=$!"
  test_wait_until 10 test -s "$TRASH/$1.port" || bench_die "the receiver '$1' did not start"
}
# bench_stop_sink NAME: stops the receiver (which then writes out its log).
bench_stop_sink () {
  local pid
  eval "pid=\$BENCH_SINK_PID_$1"
  test_kill "$pid"
}
bench_sink_url () { echo "http://127.0.0.1:$(cat "$TRASH/$1.port")/hook"; }
bench_sink_count () { curl -s "http://127.0.0.1:$(cat "$TRASH/$1.port")/count"; }
# bench_sink_done NAME: the receiver has had the requests it expects (a
# file test: nothing is started, nothing asks the receiver).
bench_sink_done () { [ -s "$TRASH/$1.done" ]; }
# bench_sink_done_at NAME: when the last expected request arrived, as bench_now.
bench_sink_done_at () { awk '{ printf "%.6f\n", $1 / 1e6 }' "$TRASH/$1.done"; }
# bench_sink_has NAME N: the receiver has counted N requests.
bench_sink_has () {
  local n
  n=$(bench_sink_count "$1") || return 1
  [ "${n:-0}" -ge "$2" ]
}

# bench_config NAME START TABLE SINK [STORE]: a configuration in
# $TRASH/NAME.toml (state in $TRASH/NAME.state, or with STORE in that
# database store, [state] store) that delivers every change of bench.TABLE
# to the receiver SINK, signed, 32 requests at a time, in no particular
# order.
bench_config () {
  bench_next_server_id
  cat >"$TRASH/$1.toml" <<EOT
[source]
url = "$BINHOOK_URL"
server_id = $BENCH_SERVER_ID
start = "$2"
[state]
dir = "$TRASH/$1.state"
${5:+store = \"$5\"}
[endpoint.sink]
url = "$(bench_sink_url "$4")"
secret = "whsec_YmVuY2htYXJrLXNlY3JldC1vZi1iaW5ob29r"
concurrency = 32
ordering = "none"
breaker_failures = 0
[[rule]]
name = "all"
table = "bench.$3"
endpoint = "sink"
${6:+[admin]
$6}
EOT
}

# bench_run NAME: binhook run -c $TRASH/NAME.toml in the background, its
# stderr in $TRASH/NAME.log; BENCH_RUN_PID is its process.
bench_run () {
  (cd "$TRASH" && exec "$BINHOOK" run -c "$1.toml" 2>"$TRASH/$1.log" 7>&- 8>&-) &
  BENCH_RUN_PID=$!
  test_atexit "kill -9 $BENCH_RUN_PID 2>/dev/null"
}
# bench_stop PID: SIGTERM and wait for the end.
bench_stop () { test_kill "$1"; }

# bench_deliver_run NAME [STORE [ADMIN]]: binhook run delivers the whole
# workload (BENCH_CHANGES changes from BENCH_FROM) into a receiver of its
# own that answers 200 at once, its state in a directory or in the database
# STORE, with the [admin] keys ADMIN; deliveries/s in BENCH_RATE.
bench_deliver_run () {
  local t0 t1
  bench_sink "$1" "" "$BENCH_CHANGES"
  bench_config "$1" "$BENCH_FROM" t "$1" "${2:-}" "${3:-}"
  bench_say "deliver: binhook run delivers $BENCH_CHANGES changes (state in ${2:-a directory}) ..."
  t0=$(bench_now)
  bench_run "$1"
  bench_until 3600 bench_sink_done "$1" || bench_die "binhook run did not deliver the workload: $(tail -5 "$TRASH/$1.log")"
  t1=$(bench_sink_done_at "$1")
  bench_stop "$BENCH_RUN_PID"
  bench_stop_sink "$1"
  BENCH_RATE=$(bench_rate "$BENCH_CHANGES" "$(bench_elapsed "$t0" "$t1")")
}

# bench_deliver: binhook run delivers the whole workload into a receiver
# that answers 200 at once, against wrk's ceiling on the same receiver with
# a body and headers like binhook's; and the same with the state in the
# database (binhook_state on the same server) against the state directory.
bench_deliver () {
  local rate=0 db_rate=0 nolog=0 wrk_rps=0 curl_rps=0 dur=5 round rounds=2 out
  [ "$BENCH_QUICK" = 1 ] && dur=1 rounds=1
  # the body binhook sends for a row of the workload, with its headers
  # (signature included), for wrk and for libcurl alone
  local sample
  bench_sink wrk
  bench_config sample "$BENCH_FROM" t wrk
  sample=$(cd "$TRASH" && "$BINHOOK" test -c sample.toml --json --now "$(date +%s)" --event <(printf '%s\n' "$BENCH_SAMPLE")) ||
    bench_die "binhook test cannot render the sample event"
  python3 - "$sample" >"$TRASH/wrk.lua" <<'PY' || bench_die "cannot write the wrk script"
import json, sys
q = json.loads(sys.argv[1].splitlines()[0])
def lua(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
print('wrk.method = "POST"')
print("wrk.body = " + lua(q["body"]))
for k, v in q["headers"].items():
    print("wrk.headers[%s] = %s" % (lua(k), lua(v)))
PY
  python3 - "$sample" "$TRASH/curl.body" "$TRASH/curl.headers" <<'PY' || bench_die "cannot write curlload's input"
import json, sys
q = json.loads(sys.argv[1].splitlines()[0])
open(sys.argv[2], "w").write(q["body"])
open(sys.argv[3], "w").write("".join("%s: %s\n" % kv for kv in q["headers"].items()))
PY
  # Each figure and its references are measured in every round, one after
  # the other, and the best of each is taken (see BENCH_ROUNDS): binhook
  # run with the state in a directory; the same in the database
  # (binhook_stateN on the same server); the same without the attempt log
  # ([admin] attempts = 0, its cost); wrk against the same receiver; and
  # libcurl alone, used as binhook's engine uses it: the ceiling of any
  # delivery through libcurl on this machine.
  bench_quiet
  for round in $(seq "$rounds"); do
    bench_deliver_run "tput$round"
    rate=$(bench_max "$rate" "$BENCH_RATE")
    # a database of its own each round (another would resume at the first's checkpoint)
    mariadb_sql "SET SESSION sql_log_bin = 0; GRANT ALL ON binhook_state$round.* TO binhook@127.0.0.1" ||
      bench_die "cannot grant binhook the database binhook_state$round"
    bench_deliver_run "tputdb$round" "mysql://binhook@127.0.0.1:$MYSQL_PORT/binhook_state$round"
    db_rate=$(bench_max "$db_rate" "$BENCH_RATE")
    bench_deliver_run "nolog$round" "" "attempts = 0"
    nolog=$(bench_max "$nolog" "$BENCH_RATE")
    bench_say "deliver ($round/$rounds): wrk against the same receiver (${dur}s) ..."
    wrk -t2 -c32 -d${dur}s -s "$TRASH/wrk.lua" "$(bench_sink_url wrk)" >"$TRASH/wrk.out" 7>&- 8>&- ||
      bench_die "wrk failed: $(cat "$TRASH/wrk.out")"
    out=$(awk '/^Requests\/sec:/ { print $2 }' "$TRASH/wrk.out")
    [ -n "$out" ] || bench_die "cannot read wrk's output: $(cat "$TRASH/wrk.out")"
    wrk_rps=$(bench_max "$wrk_rps" "$out")
    bench_say "deliver ($round/$rounds): libcurl alone against the same receiver (${dur}s) ..."
    "$BENCH_TOOLS/curlload" "$(bench_sink_url wrk)" "$TRASH/curl.body" "$TRASH/curl.headers" "$dur" 32 \
      >"$TRASH/curl.out" 7>&- 8>&- || bench_die "curlload failed: $(cat "$TRASH/curl.out")"
    out=$(awk '{ print $6 }' "$TRASH/curl.out")
    [ -n "$out" ] || bench_die "cannot read curlload's output: $(cat "$TRASH/curl.out")"
    curl_rps=$(bench_max "$curl_rps" "$out")
  done
  bench_stop_sink wrk
  local withlog=$rate
  local best="best of $rounds"
  bench_figure deliver "binhook run, end to end ($best)" "$rate" "wrk, same receiver and body ($best)" "$wrk_rps" \
    deliveries/s
  bench_figure deliver.curl "binhook run, end to end ($best)" "$rate" \
    "libcurl alone (curlload), same receiver and body ($best)" "$curl_rps" deliveries/s
  bench_figure deliver.db "binhook run, state in the database ($best)" "$db_rate" "the same, state directory ($best)" \
    "$rate" deliveries/s
  bench_figure deliver.attempts "binhook run, attempt log on ($best)" "$withlog" \
    "the same, [admin] attempts = 0 ($best)" "$nolog" deliveries/s
  local r
  r=$(bench_ratio "$rate" "$wrk_rps")
  bench_check deliver "$r" ">=" 0.50 "binhook run >= 0.50 x wrk" "$r"
  bench_check deliver.rate "$rate" ">=" 20000 ">= 20,000 deliveries/s" "$(bench_fmt "$rate") deliveries/s"
  r=$(bench_ratio "$db_rate" "$rate")
  bench_check deliver.db "$r" ">=" 0.80 "binhook run, state in the database >= 0.80 x state directory" "$r"
  r=$(bench_ratio "$withlog" "$nolog")
  bench_check deliver.attempts "$r" ">=" 0.95 "the attempt log costs < 5 % of delivery throughput" "$r"
}

# bench_attempts_memory: the attempt log's memory, 1,000,000 attempts (with
# 1 KiB answers) through a ring of 10,000 (attemptsmem.c).
bench_attempts_memory () {
  bench_say "memory: 1,000,000 attempts through a 10,000-entry attempt log ..."
  local out
  out=$("$BENCH_TOOLS/attemptsmem" 10000 1000000) || bench_die "attemptsmem failed: $out"
  printf '%s\n' "$out" | sed 's/^/  /'
  local full last
  full=$(printf '%s\n' "$out" | awk '$1 == 10000 { print $2 }')
  last=$(printf '%s\n' "$out" | awk '$1 == 1000000 { print $2 }')
  bench_figure memory.attempts "resident after 1,000,000 attempts" "$last" "after the first 10,000 (ring full)" \
    "$full" KiB
  local r
  r=$(bench_ratio "$last" "$full")
  bench_check memory.attempts "$r" "<" 1.10 "the attempt log stays bounded (< 1.10 x its size when full)" "$r"
  # what keeping one attempt costs, against 20,000 deliveries/s: the share
  # of the main loop's second (steadier than two throughput runs' ratio)
  local ns
  ns=$(printf '%s\n' "$out" | awk '$1 == "ns_per_attempt" { print $2 }')
  r=$(awk -v ns="$ns" 'BEGIN { printf "%.4f\n", ns * 20000 / 1e9 }')
  bench_check attempts.cost "$r" "<" 0.05 "keeping 20,000 attempts a second takes < 5 % of the main loop" \
    "$ns ns an attempt, $(awk -v r="$r" 'BEGIN { printf "%.2f", r * 100 }') % of a second at 20,000/s"
}

# bench_latency RATE SECONDS: commit to receipt while RATE changes a second
# are written for SECONDS (1,000 statements a second, RATE/1,000 rows
# each): rows carry NOW(6) at insert, the receiver notes the arrival. The
# reference is the same commit to the arrival of the statement at a bare
# replica (rawreader --follow) reading alongside: the floor binhook stands
# on.
bench_latency () {
  local rate=$1 secs=$2 id=lat$1 per stmts total from
  per=$(( rate >= 1000 ? rate / 1000 : 1 ))
  stmts=$(( rate * secs / per ))
  total=$(( stmts * per ))
  mariadb_sql "CREATE TABLE IF NOT EXISTS bench.lat (id INT PRIMARY KEY, v VARCHAR(64), d DECIMAL(12,2), t DATETIME(6))" ||
    bench_die "cannot create bench.lat"
  mariadb_sql "TRUNCATE bench.lat"
  from=$(mariadb_binlog_pos)
  bench_sink "$id" "$TRASH/$id.arrivals"
  bench_config "$id" "$from" lat "$id"
  bench_run "$id"
  local pid=$BENCH_RUN_PID
  test_wait_until 60 grep -q "reading from" "$TRASH/$id.log" || bench_die "binhook run did not start: $(cat "$TRASH/$id.log")"
  "$BENCH_TOOLS/rawreader" 127.0.0.1 "$MYSQL_PORT" binhook "${from%:*}" "${from#*:}" --follow "$TRASH/$id.bare" \
    >/dev/null 2>"$TRASH/$id.bare.err" 7>&- 8>&- &
  local bare=$!
  test_atexit "kill $bare 2>/dev/null"
  sleep 0.5
  bench_say "latency: $rate changes/s for ${secs}s ..."
  python3 - "$stmts" "$per" <<'PY' | mariadb_sql || bench_die "the latency writer failed"
import sys, time
stmts, per = int(sys.argv[1]), int(sys.argv[2])
start = time.time() + 0.05
for i in range(stmts):
    delay = start + i / 1000.0 - time.time()
    if delay > 0:
        time.sleep(delay)
    rows = ",".join("(%d, 'lat', 1.00, NOW(6))" % (i * per + k + 1) for k in range(per))
    sys.stdout.write("INSERT INTO bench.lat VALUES %s;\n" % rows)
    sys.stdout.flush()
PY
  bench_until 300 bench_sink_has "$id" "$total" || bench_die "binhook run did not deliver the latency rows"
  sleep 0.2
  bench_stop "$pid"
  test_kill "$bare"
  bench_stop_sink "$id"
  local out
  out=$(python3 - "$TRASH/$id.arrivals" "$TRASH/$id.bare" <<'PY'
import datetime, re, sys
def ts(s):
    # the server's NOW(6), in UTC (the private server runs with TZ=UTC)
    return datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc).timestamp()
made, lat = {}, []
for line in open(sys.argv[1]):
    us, body = line.split(" ", 1)
    k = re.search(r'"key":\{"id":(\d+)\}', body)
    t = re.search(r'"t":"([0-9T:.-]+)"', body)
    if not k or not t:
        continue
    made[int(k.group(1))] = ts(t.group(1))
    lat.append(int(us) / 1e6 - made[int(k.group(1))])
ref = []
for line in open(sys.argv[2]):
    us, text = line.split(" ", 1)
    m = re.search(r"VALUES \((\d+),", text)
    if m and int(m.group(1)) in made:
        ref.append(int(us) / 1e6 - made[int(m.group(1))])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else 0
print(" ".join("%.3f" % x for x in (pct(lat, .5), pct(lat, .99), pct(lat, .999),
                                      pct(ref, .5), pct(ref, .99), pct(ref, .999))), len(lat), len(ref))
PY
  ) || bench_die "cannot compute the latencies"
  local p50 p99 p999 r50 r99 r999 n nref
  read -r p50 p99 p999 r50 r99 r999 n nref <<<"$out"
  [ "$n" -gt 0 ] && [ "$nref" -gt 0 ] || bench_die "no latency samples ($n from binhook, $nref from the bare replica)"
  bench_figure "latency.$rate.p50" "p50 commit to receipt at $rate/s" "$p50" "p50 commit to a bare replica" "$r50" ms
  bench_figure "latency.$rate.p99" "p99 commit to receipt at $rate/s" "$p99" "p99 commit to a bare replica" "$r99" ms
  bench_figure "latency.$rate.p999" "p999 commit to receipt at $rate/s" "$p999" "p999 commit to a bare replica" "$r999" ms
  if [ "$rate" = 1000 ]; then
    bench_check latency.1000 "$p99" "<" 20 "p99 < 20 ms at 1,000 changes/s" "p99 $p99 ms, $n samples"
  fi
}

# ---- memory ----

# bench_peak_kb PID: the peak resident memory of a running process, in kB.
bench_peak_kb () { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
bench_rss_kb () { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
bench_mb () { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }

# bench_one_tx ROWS: writes one transaction of ROWS rows into bench.m (the
# standard table); sets BENCH_TX_FROM.
bench_one_tx () {
  mariadb_sql "CREATE TABLE IF NOT EXISTS bench.m ($BENCH_COLUMNS)" || bench_die "cannot create bench.m"
  mariadb_sql "TRUNCATE bench.m"
  BENCH_TX_FROM=$(mariadb_binlog_pos)
  bench_say "memory: one transaction of $1 rows ..."
  mariadb_sql "INSERT INTO bench.m SELECT $(bench_row_sql 0) FROM bench.seq_1_to_$1" ||
    bench_die "cannot write a transaction of $1 rows"
}

# bench_tx_tail ROWS / bench_tx_run ROWS: the peak memory (kB, in BENCH_KB)
# of binhook tail, and of binhook run delivering every row to a receiver,
# reading the transaction at BENCH_TX_FROM.
bench_tx_tail () {
  /usr/bin/time -f '%M' -o "$TRASH/rss" timeout 1200 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$BENCH_TX_FROM" \
    --limit "$1" >/dev/null 2>"$TRASH/tail.err" || bench_die "binhook tail failed: $(cat "$TRASH/tail.err")"
  BENCH_KB=$(tail -n 1 "$TRASH/rss")
}
bench_tx_run () {
  local name=mem$1
  bench_sink "$name"
  bench_config "$name" "$BENCH_TX_FROM" m "$name"
  bench_run "$name"
  bench_until 3600 bench_sink_has "$name" "$1" || bench_die "binhook run did not deliver the transaction"
  BENCH_KB=$(bench_peak_kb "$BENCH_RUN_PID")
  bench_stop "$BENCH_RUN_PID"
  bench_stop_sink "$name"
}

# bench_memory_tx ROWS: peak memory for one transaction of ROWS rows, with
# one of ROWS/10 as the reference (rows stream: it should not grow).
bench_memory_tx () {
  local big=$1 small=$(( $1 / 10 )) tail_small tail_big run_small run_big
  bench_one_tx "$small"
  bench_tx_tail "$small"
  tail_small=$BENCH_KB
  bench_tx_run "$small"
  run_small=$BENCH_KB
  bench_one_tx "$big"
  bench_tx_tail "$big"
  tail_big=$BENCH_KB
  bench_say "memory: binhook run delivering $big rows ..."
  bench_tx_run "$big"
  run_big=$BENCH_KB
  bench_figure memory.tail "binhook tail, one tx of $big rows" "$(bench_mb "$tail_big")" \
    "the same, one tx of $small rows" "$(bench_mb "$tail_small")" "MB peak"
  bench_figure memory.run "binhook run, one tx of $big rows" "$(bench_mb "$run_big")" \
    "the same, one tx of $small rows" "$(bench_mb "$run_small")" "MB peak"
  bench_check memory.tail "$tail_big" "<" 65536 "binhook tail < 64 MB for one transaction of $big rows" \
    "$(bench_mb "$tail_big") MB"
  bench_check memory.run "$run_big" "<" 65536 "binhook run < 64 MB for one transaction of $big rows" \
    "$(bench_mb "$run_big") MB"
}

# bench_memory_queue ENDPOINTS PER: binhook run with ENDPOINTS endpoints
# that are down (nothing listens on their port), each holding PER queued
# deliveries: its memory against its memory idle, with the same
# configuration, and the size of the queue on disk.
bench_memory_queue () {
  local neps=$1 per=$2 want=$(( $1 * $2 )) name=queue admin down i
  admin=$(test_free_port)
  down=$(test_free_port) # nothing listens there
  mariadb_sql "CREATE TABLE IF NOT EXISTS bench.q ($BENCH_COLUMNS)" || bench_die "cannot create bench.q"
  bench_next_server_id
  {
    echo "[source]"
    echo "url = \"$BINHOOK_URL\""
    echo "server_id = $BENCH_SERVER_ID"
    echo "start = \"end\""
    echo "[state]"
    echo "dir = \"$TRASH/$name.state\""
    echo "queue_max = \"16GiB\""
    echo "[admin]"
    echo "listen = \"127.0.0.1:$admin\""
    for ((i = 1; i <= neps; i++)); do
      echo "[endpoint.e$i]"
      echo "url = \"http://127.0.0.1:$down/hook/$i\""
      echo "secret = \"whsec_YmVuY2htYXJrLXNlY3JldC1vZi1iaW5ob29r\""
      echo "retry = [\"1h\"]"
    done
    echo "[[rule]]"
    echo "name = \"all\""
    echo "table = \"bench.q\""
    printf 'endpoint = ['
    for ((i = 1; i <= neps; i++)); do printf '"e%d"%s' "$i" "$([ "$i" -lt "$neps" ] && echo ,)"; done
    echo "]"
  } >"$TRASH/$name.toml"
  bench_run "$name"
  local pid=$BENCH_RUN_PID
  test_wait_until 60 grep -q "reading from" "$TRASH/$name.log" || bench_die "binhook run did not start: $(cat "$TRASH/$name.log")"
  sleep 1
  local idle
  idle=$(bench_rss_kb "$pid")
  bench_say "memory: $per changes for $neps endpoints that are down ($want deliveries to queue) ..."
  local qfrom
  qfrom=$(mariadb_binlog_pos)
  awk -v n="$per" -v row="$(bench_row_sql '%d')" 'BEGIN {
    for (i = 0; i < n; i += 1000)
      printf "INSERT INTO bench.q SELECT " row " FROM bench.seq_1_to_%d;\n", i, (n - i < 1000 ? n - i : 1000)
  }' | mariadb_sql || bench_die "cannot write bench.q"
  bench_until 3600 bench_queued "$admin" "$want" || bench_die "the deliveries were not all queued: $(tail -5 "$TRASH/$name.log")"
  local peak rss disk
  peak=$(bench_peak_kb "$pid")
  rss=$(bench_rss_kb "$pid")
  disk=$(du -sk "$TRASH/$name.state" | cut -f1)
  bench_stop "$pid"
  bench_figure memory.queue.peak "binhook run, $neps endpoints x $per queued, peak" "$(bench_mb "$peak")" \
    "the same idle" "$(bench_mb "$idle")" MB
  bench_figure memory.queue.now "binhook run, $neps endpoints x $per queued, now" "$(bench_mb "$rss")" \
    "the same idle" "$(bench_mb "$idle")" MB
  # what the queued requests hold: the bodies of a row's deliveries
  local sample body
  sample=$(timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL" --from "$qfrom" --limit 1 2>/dev/null) &&
    body=$(cd "$TRASH" && "$BINHOOK" test -c "$name.toml" --json --event <(printf '%s\n' "$sample") |
      python3 -c 'import json, sys; print(sum(len(json.loads(l)["body"]) for l in sys.stdin if l.strip()))') ||
    bench_die "cannot render a delivery of bench.q"
  bench_figure memory.queue.disk "retry queue on disk, $want deliveries" "$(bench_mb "$disk")" \
    "their request bodies alone" "$(awk -v b="$body" -v p="$per" 'BEGIN { printf "%.1f", b * p / 1048576 }')" MB
}
# bench_queued PORT N: the daemon's admin server reports N deliveries queued.
bench_queued () {
  local n
  n=$(curl -s "http://127.0.0.1:$1/status" | sed -nE 's/.*"queue":\{[^}]*"waiting":([0-9]+).*/\1/p')
  [ "${n:-0}" -ge "$2" ]
}
