#!/usr/bin/env bash
# binhook check: the shipped configuration, rules and templates pass; a
# configuration with five different mistakes in three files gets all five
# reported, each with file:line:col, and exit status 2; so does one whose
# main file has a TOML syntax error after a bad rule expression (the part
# before the error is checked too, and binhook run still refuses it); secrets
# that cannot be read are warnings; usage errors exit 2.
. "$(dirname "$0")/lib/test-lib.sh"

unset BINHOOK_WEBHOOK_SECRET

test_expect_success 'the shipped gateway.toml, rules/ and templates/ pass' '
  (cd "$TOP" && "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>"$TRASH/err") &&
  test_grep "^gateway.toml: ok (6 files, 5 endpoints, 12 rules)\$" "$TRASH/out"
'

test_expect_success 'an unset secret variable is a warning, not an error' '
  test_grep "^warning: gateway.toml:[0-9]*:[0-9]*: the environment variable .BINHOOK_WEBHOOK_SECRET. (secret_env of endpoint .webhook.) is not set" "$TRASH/err" &&
  test_grep ! -v "^warning: " "$TRASH/err"
'

test_expect_success 'with the secret set, nothing is printed on stderr' '
  (cd "$TOP" && BINHOOK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \
    "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>"$TRASH/err") &&
  test_cmp /dev/null "$TRASH/err"
'

test_expect_success 'the secret never appears in the output' '
  (cd "$TOP" && BINHOOK_WEBHOOK_SECRET=whsec_c2VjcmV0LXZhbHVlLW5vdC10by1wcmludA== \
    "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>&1) &&
  test_grep ! "c2VjcmV0LXZhbHVlLW5vdC10by1wcmludA" "$TRASH/out"
'

mkdir -p "$TRASH/five/rules" "$TRASH/five/templates"
cat >"$TRASH/five/gateway.toml" <<'EOF'
include = ["rules/*.toml"]

[endpoint.hook]
url = "http://127.0.0.1:9/hook"
timeuot = "5s"

[[rule]]
name = "paid"
table = "shop.orders"
when = 'after.total >= 100 and after.status in "paid"'
endpoint = "hook"
template = "missing.json"
EOF
cat >"$TRASH/five/rules/a-broken.toml" <<'EOF'
[[rule]]
name = "broken"
endpoint = "hook
EOF
cat >"$TRASH/five/rules/b-regex.toml" <<'EOF'
[[rule]]
name = "drops"
statement = '(?i)^\s*(drop'
endpoint = "hook"
EOF
cat >"$TRASH/five.expect" <<'EOF'
gateway.toml:5:1: unknown key 'timeuot' in [endpoint.hook]; did you mean 'timeout'?
rules/a-broken.toml:3:12: unterminated string
gateway.toml:10:48: type error: 'in' needs a list on its right, not a string (for a substring, use contains(x, "..."))
gateway.toml:12:13: template 'missing.json' not found (looked for 'templates/missing.json'; the directory is set by 'templates' at the top of the main file)
rules/b-regex.toml:3:27: bad regular expression: missing closing parenthesis
binhook check: 5 problems in 'gateway.toml'
EOF

test_expect_success 'five mistakes in three files: all reported, exit 2' '
  (cd "$TRASH/five" && test_exit_code 2 "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>"$TRASH/err") &&
  test_cmp "$TRASH/five.expect" "$TRASH/err" &&
  test_cmp /dev/null "$TRASH/out"
'

test_expect_success 'positions point into the files: each reported column holds what the message names' '
  cd "$TRASH/five" &&
  test "$(sed -n 5p gateway.toml | cut -c1-7)" = timeuot &&
  test "$(sed -n 10p gateway.toml | cut -c48-53)" = "\"paid\"" &&
  test "$(sed -n 12p gateway.toml | cut -c12-25)" = "\"missing.json\"" &&
  cd "$TOP"
'

test_expect_success 'fixing the mistakes one by one lowers the count' '
  cd "$TRASH/five" &&
  sed -i "s/timeuot/timeout/" gateway.toml &&
  test_exit_code 2 "$BINHOOK" check -c gateway.toml 2>"$TRASH/err" &&
  test_grep "^binhook check: 4 problems" "$TRASH/err" &&
  printf "{\"id\": \"{{ key.id }}\"}\n" >templates/missing.json &&
  sed -i "s/in \"paid\"/in [\"paid\"]/" gateway.toml &&
  sed -i "s/\"hook\$/\"hook\"/" rules/a-broken.toml &&
  sed -i "s/(drop/(drop)/" rules/b-regex.toml &&
  "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>"$TRASH/err" &&
  test_grep "^gateway.toml: ok (3 files, 1 endpoint, 3 rules)\$" "$TRASH/out" &&
  cd "$TOP"
'

mkdir -p "$TRASH/cut/rules" "$TRASH/cut/templates"
cat >"$TRASH/cut/gateway.toml" <<'EOF'
include = ["rules/*.toml"]

[endpoint.hook]
url = "http://127.0.0.1:9/hook"
ordering = "keys"

[[rule]]
name = "paid"
table = "shop.orders"
when = 'after.status in "paid"'
endpoint = ["hook", "late"]

[[rule]]
name = "cut
endpoint = "hook"

[endpoint.late]
url = "http://127.0.0.1:9/late"
EOF
cat >"$TRASH/cut/rules/more.toml" <<'EOF'
[[rule]]
name = "drops"
statment = '(?i)^\s*drop'
endpoint = "hook"
EOF
cat >"$TRASH/cut.expect" <<'EOF'
gateway.toml:5:12: 'ordering' in [endpoint.hook]: unknown ordering 'keys'; did you mean 'key'? (use key, none or endpoint)
gateway.toml:14:8: unterminated string
rules/more.toml:3:1: unknown key 'statment' in [rule 'drops']; did you mean 'statement'?
gateway.toml:10:25: type error: 'in' needs a list on its right, not a string (for a substring, use contains(x, "..."))
binhook check: 4 problems in 'gateway.toml'
EOF

test_expect_success 'a syntax error after a bad expression: the mistakes before it and in the other file reported too, exit 2' '
  (cd "$TRASH/cut" && test_exit_code 2 "$BINHOOK" check -c gateway.toml >"$TRASH/out" 2>"$TRASH/err") &&
  test_cmp "$TRASH/cut.expect" "$TRASH/err" &&
  test_cmp /dev/null "$TRASH/out"
'

test_expect_success 'what the syntax error cut short is no problem: no "has no endpoint", no unknown endpoint defined after it' '
  test_grep ! "has no endpoint" "$TRASH/err" &&
  test_grep ! "unknown endpoint" "$TRASH/err" &&
  cd "$TRASH/cut" &&
  test "$(sed -n 10p gateway.toml | cut -c25-30)" = "\"paid\"" &&
  test "$(sed -n 14p gateway.toml | cut -c8)" = "\"" &&
  cd "$TOP"
'

test_expect_success 'binhook run refuses the configuration check read up to its syntax error, exit 2' '
  (cd "$TRASH/cut" && test_exit_code 2 "$BINHOOK" run -c gateway.toml >"$TRASH/out" 2>"$TRASH/err") &&
  test_grep "gateway.toml:14:8: unterminated string" "$TRASH/err" &&
  test_grep "cannot start: fix the configuration" "$TRASH/err" &&
  ! test -e "$TRASH/cut/state"
'

test_expect_success 'and so does binhook test, exit 2' '
  echo "{}" >"$TRASH/cut/event.json" &&
  (cd "$TRASH/cut" && test_exit_code 2 "$BINHOOK" test -c gateway.toml --event event.json >"$TRASH/out" 2>"$TRASH/err") &&
  test_grep "gateway.toml:14:8: unterminated string" "$TRASH/err" &&
  test_grep "binhook test: fix the configuration first" "$TRASH/err" &&
  test_cmp /dev/null "$TRASH/out"
'

test_expect_success 'with the syntax error fixed, what came after it is checked' '
  cd "$TRASH/cut" &&
  sed -i "s/^name = \"cut\$/name = \"cut\"/" gateway.toml &&
  test_exit_code 2 "$BINHOOK" check -c gateway.toml 2>"$TRASH/err" &&
  test_grep ! "unterminated" "$TRASH/err" &&
  test_grep "^binhook check: 3 problems" "$TRASH/err" &&
  cd "$TOP"
'

test_expect_success 'a missing configuration file is a clear error, exit 2' '
  test_exit_code 2 "$BINHOOK" check -c "$TRASH/nope.toml" 2>"$TRASH/err" &&
  test_grep "cannot open config file .*nope.toml.: No such file or directory" "$TRASH/err"
'

test_expect_success 'an unknown option and a stray argument are usage errors' '
  test_exit_code 2 "$BINHOOK" check --bogus 2>/dev/null &&
  test_exit_code 2 "$BINHOOK" check extra.toml 2>"$TRASH/err" &&
  test_grep "unexpected argument .extra.toml." "$TRASH/err" &&
  "$BINHOOK" check --help >"$TRASH/out" &&
  test_grep "^usage: binhook check" "$TRASH/out"
'

test_done
