#!/usr/bin/env bash
# The README's first command, contrib/demo.sh, end to end: it sets up (the
# packages are there already in the suite), starts its MariaDB, receivers and
# binhook with the shipped gateway.toml, and shows the deliveries with their
# signatures verified and the e-mail about the DROP TABLE; then it cleans up.
. "$(dirname "$0")/lib/test-lib.sh"

require_cmd python3

# The demo listens on the fixed ports its gateway.toml names.
port_free () {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port_free 8080 && port_free 2525 || test_skip_all 'port 8080 or 2525 is taken on this machine'

test_expect_success 'contrib/demo.sh runs to the end' '
  "$TOP/contrib/demo.sh" >demo.out 2>demo.err </dev/null || { tail -n 40 demo.err; false; }
'

test_expect_success 'every webhook it shows has a verified signature' '
  n=$(grep -c "signature verified)" demo.out) &&
  echo "# $n webhooks shown" >&7 &&
  test "$n" -ge 5 &&
  test_grep ! "signature WRONG" demo.out
'

test_expect_success 'the row changes arrived as rendered payloads' '
  test_grep "\"email\": \"ann@example.com\"" demo.out &&
  test_grep "/orders" demo.out
'

test_expect_success 'the DELETE without WHERE and the DROP TABLE were alerted, by e-mail too' '
  test_grep "^E-MAIL from " demo.out &&
  test_grep "DROP TABLE" demo.out &&
  test_grep -i "delete.*without.*where\|DELETE FROM shop.audit" demo.out
'

test_expect_success 'binhook stopped cleanly and nothing is left behind' '
  test_grep "stopped at binlog" demo.err &&
  test_grep "0 to the dead letters" demo.err &&
  test_grep "the server, the receivers and their files are removed" demo.err &&
  port_free 8080 && port_free 2525 &&
  # its state stayed in its own directory, not in the checkout
  { test ! -e "$TOP/state/checkpoint" || test "$TOP/state/checkpoint" -ot demo.out; }
'

test_done
