#!/usr/bin/env bash
# The command line and its manual: every command binhook --help lists
# answers --help with its usage on stdout and exit 0, refuses an unknown
# option with exit 2, and has a section in contrib/man/binhook.1 naming each
# option its --help names; the page renders without a warning; cmake
# --install puts the binary, the page and the systemd unit in place.
. "$(dirname "$0")/lib/test-lib.sh"
require_cmd groff

MAN=$TOP/contrib/man/binhook.1

# FILE is empty; shows it otherwise.
test_must_be_empty_ () {
  test ! -s "$1" || { echo "'$1' is not empty:"; cat "$1"; return 1; }
}

# The page as plain text, on lines long enough that nothing is broken.
render () {
  groff -man -Tascii -P-cbou -rLL=250n "$1"
}

test_expect_success 'the manual page renders without a warning' '
  groff -man -Tutf8 -ww -z "$MAN" 2>err &&
  test_must_be_empty_ err &&
  render "$MAN" >man.txt &&
  test_grep "^NAME\$" man.txt &&
  test_grep "^COMMANDS\$" man.txt &&
  # the check itself sees a mistake
  sed "s/^\.SH SIGNALS/.SX SIGNALS/" "$MAN" >broken.1 &&
  groff -man -Tutf8 -ww -z broken.1 2>err;
  test_grep "macro .SX. not defined" err
'

if command -v man >/dev/null 2>&1; then
  test_expect_success 'man shows the page without a warning' '
    MANWIDTH=100 man --warnings -l "$MAN" >man-l.txt 2>err &&
    test_must_be_empty_ err &&
    test_grep "binhook - MySQL and MariaDB row changes" man-l.txt
  '
else
  test_skip 'man shows the page without a warning' "'man' is not installed (Debian package man-db)"
fi

test_expect_success 'binhook --help lists the commands; no command and an unknown one are usage errors' '
  "$BINHOOK" --help >help &&
  sed -n "/^commands:/,/^\$/s/^  \([a-z][a-z-]*\)  .*/\1/p" help >commands &&
  test $(wc -l <commands) -ge 7 &&
  test_grep -x run commands &&
  test_grep -x doctor commands &&
  test_exit_code 2 "$BINHOOK" 2>err &&
  test_grep "^usage: binhook" err &&
  test_exit_code 2 "$BINHOOK" no-such-command >out 2>err &&
  test_must_be_empty_ out &&
  test_grep "unknown command .no-such-command." err
'

test_expect_success 'the page and binhook --version name the same version' '
  version=$("$BINHOOK" --version) &&
  test_grep "^\.TH BINHOOK 1 \"[0-9-]*\" \"$version\"" "$MAN"
'

while read -r cmd; do
  test_expect_success "binhook $cmd --help prints its usage on stdout and exits 0" '
    "$BINHOOK" $cmd --help >help-$cmd 2>err &&
    test_must_be_empty_ err &&
    test_grep "^usage: binhook $cmd\\b" help-$cmd
  '
  test_expect_success "binhook $cmd refuses an unknown option with exit 2" '
    test_exit_code 2 "$BINHOOK" $cmd --no-such-option </dev/null >out 2>err &&
    test_must_be_empty_ out &&
    test_grep -e "--no-such-option" err
  '
  test_expect_success "the manual has a section for $cmd with every option of its --help" '
    awk -v want="   binhook $cmd" "
      /^[A-Z]/ { on = 0 }
      /^   [^ ]/ { on = (\$0 == want) }
      on" man.txt >section-$cmd &&
    test -s section-$cmd &&
    grep -o -E "(^|[^a-z-])--?[a-z][a-z-]*" help-$cmd | sed "s/^[^-]*//" | sort -u >options-$cmd &&
    missing= &&
    while read -r opt; do
      grep -q -e "$opt\\b" section-$cmd || {
        echo "option $opt of binhook $cmd --help is not in its section of the manual"
        missing=1
      }
    done <options-$cmd &&
    test -z "$missing"
  '
done <commands

test_expect_success 'binhook dlq ACTION refuses an unknown option too' '
  test_exit_code 2 "$BINHOOK" dlq list --no-such-option >out 2>err &&
  test_grep -e "--no-such-option" err
'

if command -v cmake >/dev/null 2>&1 && test -f "$BINHOOK_BUILD/cmake_install.cmake"; then
  test_expect_success 'cmake --install puts the binary, the page and the unit in place' '
    test_grep "binhook.1" "$BINHOOK_BUILD/cmake_install.cmake" ||
      { echo "$BINHOOK_BUILD was configured before the install rules: run cmake on it again"; false; } &&
    DESTDIR=$TRASH/root cmake --install "$BINHOOK_BUILD" --prefix /usr >install.log &&
    test -x root/usr/bin/binhook &&
    test "$(root/usr/bin/binhook --version)" = "$("$BINHOOK" --version)" &&
    test_cmp "$MAN" root/usr/share/man/man1/binhook.1 &&
    test_grep -x "ExecStart=/usr/bin/binhook run -c /etc/binhook/gateway.toml" \
      root/usr/lib/systemd/system/binhook.service &&
    test -f root/usr/share/binhook/gateway.toml &&
    test -f root/usr/share/doc/binhook/mysql/grant.sql
  '
  test_expect_success 'with another prefix the unit starts the binary installed there' '
    DESTDIR=$TRASH/opt cmake --install "$BINHOOK_BUILD" --prefix /opt/binhook >install.log &&
    test -x opt/opt/binhook/bin/binhook &&
    test_grep -x "ExecStart=/opt/binhook/bin/binhook run -c /etc/binhook/gateway.toml" \
      opt/opt/binhook/lib/systemd/system/binhook.service &&
    # the rest of the unit is the one in contrib/systemd
    grep -v "^ExecStart=" opt/opt/binhook/lib/systemd/system/binhook.service >installed &&
    grep -v "^ExecStart=" "$TOP/contrib/systemd/binhook.service" >shipped &&
    test_cmp shipped installed
  '
  if command -v man >/dev/null 2>&1; then
    test_expect_success 'man finds the installed page by its name' '
      MANPATH=$TRASH/root/usr/share/man MANWIDTH=100 man binhook >installed-man.txt 2>err &&
      test_grep "binhook dlq list|show|replay|drop" installed-man.txt
    '
  fi
else
  test_skip 'cmake --install' "no cmake, or $BINHOOK_BUILD is not a CMake build tree"
fi

test_done
