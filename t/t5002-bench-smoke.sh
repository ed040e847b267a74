#!/usr/bin/env bash
# The benchmark suite runs (contrib/bench/run.sh --quick: a small workload
# in a private MariaDB, every part in a few seconds): it prints every
# figure with its reference measured in the same run and their ratio, and a
# verdict per target, so that the benchmarks never rot. No timing is
# asserted: the quick figures mean nothing, their lines do.
# run.sh installs the npm package @vlasky/zongji into BINHOOK_NPM (default
# build/npm) when it is not there.
. "$(dirname "$0")/lib/test-lib.sh"

num='[0-9][0-9,]*(\.[0-9]+)?'

# figure ID UNIT: the line of figure ID, with a value, a reference and a ratio.
figure () {
  test_grep -E "^$1 +[^|]+: $num $2 \| [^|]+: $num $2 \| ratio $num\$" out
}

test_expect_success 'run.sh --quick measures everything and exits 0' '
  mkdir tmp &&
  TMPDIR=$TRASH/tmp "$TOP/contrib/bench/run.sh" --quick >out 2>err 7>&- 8>&- ||
    { cat err; false; }
'

test_expect_success 'decode: tail against the transport ceiling, mariadb-binlog and ZongJi' '
  cat out &&
  figure decode.live rows/s &&
  figure decode.files rows/s &&
  figure decode.zongji rows/s &&
  test_grep "^decode.zongji .*ZongJi" out
'

test_expect_success 'decode: the latin1 workload with annotations against mariadb-binlog, beside the standard one' '
  figure decode.latin1 rows/s &&
  test_grep "^decode.latin1 .*mariadb-binlog -v" out &&
  grep -A 2 "^decode.files " out | tail -n 1 | grep "^decode.latin1 "
'

test_expect_success 'decode: PostgreSQL, binhook tail from a slot against pg_recvlogical' '
  figure decode.pg rows/s &&
  test_grep "^decode.pg .*pg_recvlogical" out
'

test_expect_success 'rules and templates against their references' '
  figure rules.100 changes/s &&
  figure rules.1000 changes/s &&
  figure render.default renders/s &&
  figure render.slack renders/s
'

test_expect_success 'deliveries against wrk and with the state in the database, latency at 1,000 and 10,000 changes/s' '
  figure deliver deliveries/s &&
  figure deliver.db deliveries/s &&
  for rate in 1000 10000; do
    for p in p50 p99 p999; do
      figure "latency\\.$rate\\.$p" ms || return 1
    done
  done
'

test_expect_success 'memory: one large transaction, queued deliveries and the queue on disk' '
  figure memory.tail "MB peak" &&
  figure memory.run "MB peak" &&
  figure memory.queue.peak MB &&
  figure memory.queue.now MB &&
  figure memory.queue.disk MB
'

test_expect_success 'a verdict for every target, gathered in the summary' '
  for id in decode.live decode.files decode.latin1 decode.zongji rules.100 render.default deliver deliver.rate deliver.db \
            latency.1000 memory.tail memory.run; do
    test "$(grep -cE "^verdict $id: (PASS|MISS) \(target: .+; measured .+\)\$" out)" = 2 || {
      echo "no verdict for $id in the figures and the summary"; return 1; }
  done &&
  test_grep -E "^summary: [0-9]+ targets met, [0-9]+ missed\$" out
'

test_expect_success 'it leaves nothing behind in TMPDIR' '
  test -z "$(ls -A tmp)"
'

test_expect_success 'an unknown option or part is refused with status 2' '
  test_exit_code 2 "$TOP/contrib/bench/run.sh" --fast 2>err &&
  test_grep "unknown argument .--fast." err &&
  test_exit_code 2 "$TOP/contrib/bench/run.sh" --only decode,speed 2>err &&
  test_grep "unknown part .speed." err
'

test_done
