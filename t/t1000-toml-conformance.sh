#!/usr/bin/env bash
# The TOML parser against the toml-test suite (toml-lang/toml-test), through
# `binhook toml-decode`: every valid document of TOML 1.0.0 must decode to the
# suite's tagged JSON (compared by value: integers and floats as numbers,
# date-times as instants), every invalid one must be refused with status 1,
# never a crash. One test per file, so that the count is the suite's.
. "$(dirname "$0")/lib/test-lib.sh"

SUITE=$SHARED/toml-test/tests
LIST=$SUITE/files-toml-1.0.0

if ! [ -f "$LIST" ]; then
  test_skip_all "no toml-test suite at '$SUITE' (../shared/testdata is absent)"
fi
require_cmd python3

test_expect_success 'binhook is built' '
  test -x "$BINHOOK"
'
if ! [ -x "$BINHOOK" ]; then
  test_done
fi

# compare.py reads "GOT<tab>EXPECTED" lines on stdin, one pair of tagged-JSON
# files per line, and answers each with the differences between their values,
# one per line, then a line ".". One process serves the whole script: starting
# Python for each of the valid files would take most of the script's time.
cat >"$TRASH/compare.py" <<'EOF'
import datetime, decimal, json, math, re, sys

DATETIME = re.compile(r'^(?:(\d{4})-(\d{2})-(\d{2}))?[Tt ]?'
                      r'(?:(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2})?$')

def moment(kind, text):
    m = DATETIME.match(text)
    if not m:
        return ('unreadable', text)
    y, mo, d, h, mi, s, frac, off = m.groups()
    frac = decimal.Decimal('0.' + frac) if frac else decimal.Decimal(0)
    if kind != 'datetime':
        return (kind, y, mo, d, h, mi, s, frac, off)
    if off is None:
        return ('unreadable', text)
    minutes = 0 if off in 'Zz' else (1 if off[0] == '+' else -1) * (int(off[1:3]) * 60 + int(off[4:6]))
    leap = s == '60'
    t = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), 59 if leap else int(s))
    return (kind, (t - datetime.timedelta(minutes=minutes)).isoformat(), leap, frac)

def tagged(v):
    return (isinstance(v, dict) and set(v) == {'type', 'value'}
            and isinstance(v['type'], str) and isinstance(v['value'], str))

def same(got, want, path, out):
    where = path or '(top)'
    if tagged(want):
        if not tagged(got):
            out.append('%s: got %s, want a %s' % (where, json.dumps(got)[:80], want['type']))
            return
        kind, a, b = want['type'], got['value'], want['value']
        if got['type'] != kind:
            out.append('%s: got a %s, want a %s' % (where, got['type'], kind))
        elif kind == 'float':
            x, y = float(a), float(b)
            if not (x == y or (math.isnan(x) and math.isnan(y))):
                out.append('%s: got %s, want %s' % (where, a, b))
        elif kind == 'integer':
            if int(a) != int(b):
                out.append('%s: got %s, want %s' % (where, a, b))
        elif kind in ('datetime', 'datetime-local', 'date-local', 'time-local'):
            if moment(kind, a) != moment(kind, b):
                out.append('%s: got %s, want %s' % (where, a, b))
        elif a != b:
            out.append('%s: got %r, want %r' % (where, a, b))
    elif isinstance(want, dict):
        if not isinstance(got, dict) or tagged(got):
            out.append('%s: got %s, want a table' % (where, json.dumps(got)[:80]))
            return
        for k in want:
            if k not in got:
                out.append('%s: missing key %r' % (where, k))
        for k in got:
            if k not in want:
                out.append('%s: unexpected key %r' % (where, k))
            else:
                same(got[k], want[k], path + '.' + k if path else k, out)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            out.append('%s: got %s, want an array of %d' % (where, json.dumps(got)[:80], len(want)))
            return
        for i, (x, y) in enumerate(zip(got, want)):
            same(x, y, '%s[%d]' % (path, i), out)
    else:
        out.append('%s: unexpected value in the expected file: %r' % (where, want))

def compare(got_path, want_path):
    problems = []
    try:
        with open(got_path, encoding='utf-8') as f:
            got = json.load(f)
    except ValueError as e:
        return ['the output is not JSON: %s' % e]
    with open(want_path, encoding='utf-8') as f:
        want = json.load(f)
    same(got, want, '', problems)
    return problems[:20]

for line in sys.stdin:
    got_path, want_path = line.rstrip('\n').split('\t')
    for p in compare(got_path, want_path):
        print(p.replace('\n', ' '))
    print('.', flush=True)
EOF

coproc COMPARE { exec python3 "$TRASH/compare.py" 7>&- 8>&-; }
test_atexit "kill $COMPARE_PID 2>/dev/null"

# same_values GOT EXPECTED: the two tagged-JSON files hold the same values.
same_values () {
  local line status=0
  printf '%s\t%s\n' "$1" "$2" >&"${COMPARE[1]}" || {
    echo "the comparison process is gone"
    return 1
  }
  while IFS= read -r line <&"${COMPARE[0]}"; do
    if [ "$line" = . ]; then
      return $status
    fi
    echo "$line"
    status=1
  done
  echo "the comparison process ended"
  return 1
}

# decodes_like FILE.toml: the decoded JSON equals FILE.json.
decodes_like () {
  local toml=$SUITE/$1
  test_exit_code 0 "$BINHOOK" toml-decode <"$toml" >got.json &&
    same_values "$TRASH/got.json" "${toml%.toml}.json"
}

# refuses FILE.toml: toml-decode exits 1 (not 0, not a crash) with a
# "<stdin>:line:col: message" on stderr.
refuses () {
  test_exit_code 1 "$BINHOOK" toml-decode <"$SUITE/$1" >got.json 2>err || {
    cat err
    echo "output: $(head -c 300 got.json)"
    return 1
  }
  grep -q '^<stdin>:[0-9][0-9]*:[0-9][0-9]*: ' err || {
    echo "no '<stdin>:line:col: message' on stderr:"
    cat err
    return 1
  }
}

while read -r f; do
  case $f in
  valid/*.toml) test_expect_success "decodes $f" "decodes_like '$f'" ;;
  invalid/*.toml) test_expect_success "refuses $f" "refuses '$f'" ;;
  esac
done <"$LIST"

test_done
