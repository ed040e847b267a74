#!/usr/bin/env bash
# contrib/verify: the receivers' signature checks in Python, Node.js, Go and
# PHP verify the published test vectors ($SHARED/signing-vectors.json) and
# the exact requests binhook would send (binhook test --json), Standard
# Webhooks with two rotated secrets and GitHub's X-Hub-Signature-256, and
# refuse a changed body, a stale timestamp and a wrong secret. A language
# whose interpreter is not installed is skipped by name.
. "$(dirname "$0")/lib/test-lib.sh"
require_cmd python3

VERIFY=$TOP/contrib/verify
VECTORS=$SHARED/signing-vectors.json
SECRET1=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
SECRET2=whsec_$(printf 'the key after the rotation!' | base64)
GH_SECRET="It's a Secret to Everybody"

# The configuration binhook signs with: the new and the old secret while
# they are rotated (space-separated in the variable), and a GitHub endpoint.
cat >"$TRASH/gateway.toml" <<'EOF'
[endpoint.hook]
url = "http://127.0.0.1:9/hooks"
secret_env = "T_WEBHOOK_SECRETS"

[endpoint.gh]
url = "http://127.0.0.1:9/gh"
signing = "github"
secret_env = "T_GITHUB_SECRET"

[endpoint.mail]
url = "smtp://127.0.0.1:9"
mail_from = "binhook@localhost"
mail_to = ["dba@localhost"]

[[rule]]
name = "orders"
table = "shop.orders"
endpoint = ["hook", "gh", "mail"]
EOF
# Text whose bytes a receiver must not change: non-ASCII, quotes, escapes.
cat >"$TRASH/change.json" <<'EOF'
{"type":"update","schema":"shop","table":"orders","ts":"2026-11-21T10:15:02Z",
 "position":{"file":"binlog.000042","pos":1234,"gtid":"0-1-9876"},"tx":{"index":0},
 "key":{"id":42},
 "before":{"id":42,"status":"new","note":"Grüße, \"quoted\" \\ back"},
 "after":{"id":42,"status":"paid","note":"Grüße, \"quoted\" \\ back ✓"}}
EOF
export T_WEBHOOK_SECRETS="$SECRET2 $SECRET1" T_GITHUB_SECRET=$GH_SECRET

# requests FILE [binhook test options]: what binhook would send, signed now.
requests () {
  local out=$1
  shift
  "$BINHOOK" test -c "$TRASH/gateway.toml" --json --event "$TRASH/change.json" "$@" >"$out"
}

test_expect_success 'binhook test prints the signed requests' '
  requests requests.jsonl &&
  test $(wc -l <requests.jsonl) -eq 3 &&
  test_grep "\"webhook-signature\":\"v1,[^ ]* v1,[^ ]*\"" requests.jsonl &&
  test_grep "\"X-Hub-Signature-256\":\"sha256=[0-9a-f]\{64\}\"" requests.jsonl &&
  # the requests as they are with their bodies changed: a space appended
  python3 -c "
import json, sys
for line in open(\"requests.jsonl\"):
    q = json.loads(line)
    q[\"body\"] += \" \"
    print(json.dumps(q))
" >changed.jsonl &&
  requests stale.jsonl --now $(( $(date +%s) - 600 ))
'

# A copy of the vectors whose expected v1 signature is wrong by one character.
test -f "$VECTORS" && python3 - "$VECTORS" >"$TRASH/bad-vectors.json" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
for s in v["standard_webhooks"]:
    h = s["expected_signature_header"]
    if h.startswith("v1,"):
        s["expected_signature_header"] = h[:3] + ("B" if h[3] == "A" else "A") + h[4:]
print(json.dumps(v))
EOF

# verify_lang NAME INTERPRETER PACKAGE RUN...: the checks of one language.
verify_lang () {
  local name=$1 interp=$2 package=$3
  shift 3
  if ! command -v "$interp" >/dev/null 2>&1; then
    test_skip "$name: the verifier" "'$interp' is not installed (Debian package $package)"
    return
  fi
  VERIFIER=("$@")
  if test -f "$VECTORS"; then
    test_expect_success "$name: the published test vectors verify, and what must fail fails" '
      "${VERIFIER[@]}" vectors "$VECTORS" >vectors-$name.out &&
      test_grep "^ok - standard_webhooks\[0\]: the expected signature verifies\$" vectors-$name.out &&
      test_grep "^ok - standard_webhooks\[0\]: more than 5 minutes later is refused\$" vectors-$name.out &&
      test_grep "^ok - github_x_hub_signature_256\[0\]: the expected signature verifies\$" vectors-$name.out &&
      test_grep ! "^not ok" vectors-$name.out &&
      test_exit_code 1 "${VERIFIER[@]}" vectors "$TRASH/bad-vectors.json" >bad-$name.out &&
      test_grep "^not ok - standard_webhooks\[0\]: the expected signature verifies: no v1 signature" bad-$name.out
    '
  else
    test_skip "$name: the published test vectors" "no $VECTORS"
  fi
  test_expect_success "$name: binhook's requests verify with the new and with the old secret" '
    WEBHOOK_SECRET=$SECRET1 GITHUB_SECRET=$GH_SECRET "${VERIFIER[@]}" requests <requests.jsonl >req-$name.out &&
    test_grep "^ok - request 1 (hook msg_" req-$name.out &&
    test_grep "^ok - request 2 (gh msg_" req-$name.out &&
    test_grep "^skip - request 3 (mail msg_.*): not an HTTP request\$" req-$name.out &&
    WEBHOOK_SECRET=$SECRET2 GITHUB_SECRET=$GH_SECRET "${VERIFIER[@]}" requests <requests.jsonl >req2-$name.out &&
    test_grep "^ok - request 1 (hook msg_" req2-$name.out
  '
  test_expect_success "$name: a changed body, a stale timestamp and a wrong secret are refused" '
    test_exit_code 1 env WEBHOOK_SECRET=$SECRET1 GITHUB_SECRET="$GH_SECRET" "${VERIFIER[@]}" requests \
      <changed.jsonl >out &&
    test_grep "^not ok - request 1 (hook .*): no v1 signature in webhook-signature matches\$" out &&
    test_grep "^not ok - request 2 (gh .*): X-Hub-Signature-256 does not match\$" out &&
    test_exit_code 1 env WEBHOOK_SECRET=$SECRET1 GITHUB_SECRET="$GH_SECRET" "${VERIFIER[@]}" requests \
      <stale.jsonl >out &&
    test_grep "^not ok - request 1 (hook .*): webhook-timestamp [0-9]* is more than 300 s away from now" out &&
    test_grep "^ok - request 2 (gh " out &&
    test_exit_code 1 env WEBHOOK_SECRET=whsec_$(printf "some other key" | base64) GITHUB_SECRET=other \
      "${VERIFIER[@]}" requests <requests.jsonl >out &&
    test_grep "^not ok - request 1 (hook .*): no v1 signature" out &&
    test_grep "^not ok - request 2 (gh .*): X-Hub-Signature-256 does not match\$" out
  '
  test_expect_success "$name: a usage error exits 2" '
    test_exit_code 2 "${VERIFIER[@]}" frobnicate </dev/null 2>err &&
    test_grep "^usage: verify" err
  '
}

verify_lang python python3 python3 python3 "$VERIFY/verify.py"
verify_lang node node nodejs node "$VERIFY/verify.js"
if command -v go >/dev/null 2>&1; then
  test_expect_success 'go: the verifier builds' '
    GOCACHE=$TRASH/go-cache GOPATH=$TRASH/go go build -o verify-go "$VERIFY/verify.go" &&
    test -z "$(gofmt -l "$VERIFY/verify.go")"
  '
fi
verify_lang go go golang-go "$TRASH/verify-go"
verify_lang php php php-cli php "$VERIFY/verify.php"

# Every language says the same, line for line.
test_expect_success 'the verifiers that ran agree on every check' '
  for f in vectors-*.out req-*.out; do
    test -f "$f" || continue
    case $f in
    vectors-*) test_cmp vectors-python.out "$f" || return 1 ;;
    req-*) test_cmp req-python.out "$f" || return 1 ;;
    esac
  done
'

test_done
