#!/usr/bin/env bash
# The queue benchmark runs (contrib/bench/queue.sh --smoke, a small count):
# it prints the figure lines, the two ratios and a verdict, and leaves no
# files behind. No timing is asserted.
. "$(dirname "$0")/lib/test-lib.sh"

number='[0-9][0-9]*\(\.[0-9]*\)\{0,1\}'

test_expect_success 'queue.sh --smoke prints the figures of the queue, (a) and (b)' '
  mkdir tmp &&
  TMPDIR=$TRASH/tmp "$TOP/contrib/bench/queue.sh" --smoke >out 2>&1 &&
  cat out &&
  test_grep "^queue: 2000 records" out &&
  test_grep "^  queue, group commit  *$number appends/s  *$number MB/s" out &&
  test_grep "^  (a) write+fsync per record  *$number appends/s  *$number MB/s" out &&
  test_grep "^  (b) one write, one fsync  *$number appends/s  *$number MB/s" out
'

test_expect_success 'it prints the ratios, the durable latency and a verdict' '
  test_grep "^  queue/(a) $number$" out &&
  test_grep "^  queue/(b) $number$" out &&
  test_grep "^  durable latency at 10000/s: p50 $number ms  p99 $number ms" out &&
  test_grep -E "^verdict: (good|fair|poor): " out
'

test_expect_success 'it leaves nothing in TMPDIR' '
  test -z "$(ls -A tmp)"
'

test_expect_success 'a count is taken as the number of records' '
  TMPDIR=$TRASH/tmp "$TOP/contrib/bench/queue.sh" 500 >out500 2>&1 &&
  test_grep "^queue: 500 records" out500 &&
  test_grep "^  queue/(b) $number$" out500
'

test_done
