#!/usr/bin/env bash
# binhook test: events from a JSON file, stdin or binlog files run through
# the rules; every match prints the exact request. The signature is checked
# by an independent verifier (Python's hmac, following the Standard Webhooks
# specification), adversarial values never break the JSON, the URL or the
# headers, and bad input gets a clear error.
. "$(dirname "$0")/lib/test-lib.sh"
require_cmd python3

SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
mkdir -p "$TRASH/cfg/templates"
cat >"$TRASH/cfg/gateway.toml" <<'EOF'
[endpoint.crm]
url = "http://127.0.0.1:9/orders/{{ after.code }}"
secret_env = "T_SECRET"
headers = { "X-Note" = "{{ after.note }}", "X-Table" = "{{ schema }}.{{ table }}" }

[endpoint.gh]
url = "http://127.0.0.1:9/gh"
signing = "github"
secret = "It's a Secret to Everybody"

[[rule]]
name = "order-paid"
table = "shop.orders"
on = ["update"]
when = 'changed(status) and after.status == "paid" and after.total >= 100'
endpoint = "crm"
template = "order.json"

[[rule]]
name = "all-orders"
table = "shop.orders"
endpoint = "gh"
EOF
cat >"$TRASH/cfg/templates/order.json" <<'EOF'
{"id": "{{ key.id }}", "note": "{{ after.note }}", "text": "Order {{ key.id }}: {{ after.note }}", "total": "{{ after.total | number }}", "after": "{{ after }}"}
EOF
CFG=$TRASH/cfg/gateway.toml
export T_SECRET=$SECRET

# An update that the first rule matches.
cat >"$TRASH/paid.json" <<'EOF'
{"type":"update","schema":"shop","table":"orders","ts":"2026-11-21T10:15:02Z",
 "position":{"file":"binlog.000042","pos":1234,"gtid":"0-1-9876"},"tx":{"index":0},
 "key":{"id":42},
 "before":{"id":42,"code":"A-1","status":"new","total":"99.90","note":"hi"},
 "after":{"id":42,"code":"A-1","status":"paid","total":"120.00","note":"hi"}}
EOF

# verify.py JSONL SECRET: every request of the crm endpoint carries a
# Standard Webhooks signature that verifies, every gh request a GitHub one.
cat >"$TRASH/verify.py" <<'EOF'
import base64, hashlib, hmac, json, sys
n = 0
for line in open(sys.argv[1]):
    q = json.loads(line)
    body = q["body"].encode()
    h = {k.lower(): v for k, v in q["headers"].items()}
    if q["endpoint"] == "crm":
        key = base64.b64decode(sys.argv[2][len("whsec_"):])
        signed = h["webhook-id"].encode() + b"." + h["webhook-timestamp"].encode() + b"." + body
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        sigs = [s.split(",", 1)[1] for s in h["webhook-signature"].split(" ")]
        assert want in sigs, (want, sigs)
        assert h["webhook-id"] == q["id"]
    else:
        want = "sha256=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
        assert h["x-hub-signature-256"] == want, (h, want)
    json.loads(q["body"])  # every body here is JSON
    n += 1
print(n)
EOF

test_expect_success 'a matching update prints the request of each rule and endpoint' '
  "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --now 1700000000 >"$TRASH/out" &&
  test_grep "^# rule .order-paid. matches 0-1-9876/0 (update shop.orders) -> endpoint .crm.\$" "$TRASH/out" &&
  test_grep "^POST http://127.0.0.1:9/orders/A-1\$" "$TRASH/out" &&
  test_grep "^webhook-timestamp: 1700000000\$" "$TRASH/out" &&
  test_grep "^webhook-signature: v1,[A-Za-z0-9+/]*=\$" "$TRASH/out" &&
  test_grep "^X-Table: shop.orders\$" "$TRASH/out" &&
  test_grep "^{\"id\":42,\"note\":\"hi\",\"text\":\"Order 42: hi\",\"total\":120.00,\"after\":{\"id\":42,\"code\":\"A-1\",\"status\":\"paid\",\"total\":\"120.00\",\"note\":\"hi\"}}\$" "$TRASH/out" &&
  test_grep "^# rule .all-orders. matches 0-1-9876/0 (update shop.orders) -> endpoint .gh.\$" "$TRASH/out" &&
  test_grep "^X-Hub-Signature-256: sha256=[0-9a-f]\\{64\\}\$" "$TRASH/out" &&
  test_grep "^# 1 event, 2 requests\$" "$TRASH/out"
'

test_expect_success '--json: one object per request, signatures verified independently' '
  "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --json >"$TRASH/out.jsonl" &&
  test "$(wc -l <"$TRASH/out.jsonl")" = 2 &&
  test "$(python3 "$TRASH/verify.py" "$TRASH/out.jsonl" "$SECRET")" = 2 &&
  python3 -c "
import json, sys
q = json.loads(open(sys.argv[1]).readline())
assert set(q) == {\"rule\", \"endpoint\", \"method\", \"url\", \"id\", \"headers\", \"body\"}, q
assert q[\"rule\"] == \"order-paid\" and q[\"method\"] == \"POST\", q
assert q[\"headers\"][\"content-type\"] == \"application/json\", q
" "$TRASH/out.jsonl"
'

test_expect_success 'the webhook-id is stable: the same event gives the same id at another time' '
  "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --json --now 1 >"$TRASH/a.jsonl" &&
  "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --json --now 2 >"$TRASH/b.jsonl" &&
  python3 -c "
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [q[\"id\"] for q in a] == [q[\"id\"] for q in b]
assert a[0][\"id\"] != a[1][\"id\"]  # per rule and endpoint
assert a[0][\"headers\"][\"webhook-signature\"] != b[0][\"headers\"][\"webhook-signature\"]
" "$TRASH/a.jsonl" "$TRASH/b.jsonl"
'

test_expect_success 'events from stdin, several one after another' '
  python3 -c "
import json, sys
ev = json.load(open(sys.argv[1]))
ev[\"after\"][\"status\"] = \"shipped\"
print(json.dumps(ev))
" "$TRASH/paid.json" >"$TRASH/two.json" &&
  cat "$TRASH/paid.json" >>"$TRASH/two.json" &&
  "$BINHOOK" test -c "$CFG" --event - <"$TRASH/two.json" >"$TRASH/out" &&
  test_grep "^# 2 events, 3 requests\$" "$TRASH/out" &&
  test "$(grep -c "^# rule .order-paid." "$TRASH/out")" = 1
'

test_expect_success 'an event no rule matches says so' '
  sed "s/\"orders\"/\"items\"/" "$TRASH/paid.json" >"$TRASH/other.json" &&
  "$BINHOOK" test -c "$CFG" --event "$TRASH/other.json" >"$TRASH/out" &&
  test_grep "^# no rule matches 0-1-9876/0 (update shop.items)\$" "$TRASH/out" &&
  "$BINHOOK" test -c "$CFG" --event "$TRASH/other.json" --json >"$TRASH/out" &&
  test_cmp /dev/null "$TRASH/out"
'

test_expect_success '--rule keeps one rule; an unknown one is an error' '
  "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --rule all-orders --json >"$TRASH/out" &&
  test "$(wc -l <"$TRASH/out")" = 1 &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" --rule nope 2>"$TRASH/err" &&
  test_grep "no enabled rule is called .nope." "$TRASH/err"
'

# Adversarial values: quotes, backslashes, control characters, braces,
# placeholder syntax, CR/LF, non-ASCII and a 1 MB string.
python3 - "$TRASH/evil.json" "$TRASH/big.json" <<'EOF'
import json, sys
evil = 'q"uo\'te \\back\\slash \x01\x02\x1f tab\t }{ {{ after.id }} }} <&> Zoë 😀 \u2028'
ev = {"type": "update", "schema": "shop", "table": "orders", "ts": "2026-11-21T10:15:02Z",
      "position": {"file": "binlog.000042", "pos": 1, "gtid": "0-1-1"}, "tx": {"index": 0},
      "key": {"id": 42},
      "before": {"id": 42, "code": evil, "status": "new", "total": "100", "note": "x"},
      "after": {"id": 42, "code": evil + "/../?a=b#c", "status": "paid", "total": "100", "note": evil}}
json.dump(ev, open(sys.argv[1], "w"))
ev["after"]["note"] = "x" * (1 << 20)
ev["after"]["code"] = "y" * (1 << 20)
json.dump(ev, open(sys.argv[2], "w"))
EOF

test_expect_success 'adversarial values: the body stays valid JSON and keeps the value exactly' '
  unset_crlf_header=1 &&
  sed "s/\"X-Note\" = \"{{ after.note }}\", //" "$CFG" >"$TRASH/cfg/noheader.toml" &&
  "$BINHOOK" test -c "$TRASH/cfg/noheader.toml" --event "$TRASH/evil.json" --json >"$TRASH/out.jsonl" &&
  python3 "$TRASH/verify.py" "$TRASH/out.jsonl" "$SECRET" >/dev/null &&
  python3 -c "
import json, sys, urllib.parse
ev = json.load(open(sys.argv[2]))
q = json.loads(open(sys.argv[1]).readline())
body = json.loads(q[\"body\"])
assert body[\"note\"] == ev[\"after\"][\"note\"], body
assert body[\"text\"] == \"Order 42: \" + ev[\"after\"][\"note\"], body
assert body[\"after\"] == ev[\"after\"], body
# the URL: the placeholder part is percent-encoded, nothing else is there
prefix = \"http://127.0.0.1:9/orders/\"
assert q[\"url\"].startswith(prefix), q[\"url\"]
rest = q[\"url\"][len(prefix):]
assert all(c.isalnum() or c in \"-._~%\" for c in rest), rest
assert urllib.parse.unquote(rest) == ev[\"after\"][\"code\"], rest
" "$TRASH/out.jsonl" "$TRASH/evil.json"
'

test_expect_success 'a header value that would hold a line break is refused, exit 1, nothing printed for it' '
  python3 -c "
import json, sys
ev = json.load(open(sys.argv[1]))
ev[\"after\"][\"note\"] = \"a\r\nX-Injected: 1\"
json.dump(ev, open(sys.argv[2], \"w\"))
" "$TRASH/evil.json" "$TRASH/crlf.json" &&
  test_exit_code 1 "$BINHOOK" test -c "$CFG" --event "$TRASH/crlf.json" --json >"$TRASH/out" 2>"$TRASH/err" &&
  test_grep "event 0-1-1/0: rule .order-paid., endpoint .crm.: header .X-Note.: the header value would contain a line break" "$TRASH/err" &&
  python3 -c "
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert [q[\"endpoint\"] for q in reqs] == [\"gh\"], reqs
for q in reqs:
    for k, v in q[\"headers\"].items():
        assert \"\\r\" not in v and \"\\n\" not in v and \"Injected\" not in k + v, (k, v)
" "$TRASH/out"
'

test_expect_success 'a 1 MB value goes through whole' '
  sed "s/\"X-Note\" = \"{{ after.note }}\", //" "$CFG" >"$TRASH/cfg/noheader.toml" &&
  "$BINHOOK" test -c "$TRASH/cfg/noheader.toml" --event "$TRASH/big.json" --json >"$TRASH/out.jsonl" &&
  python3 -c "
import json, sys
q = json.loads(open(sys.argv[1]).readline())
body = json.loads(q[\"body\"])
assert body[\"note\"] == \"x\" * (1 << 20)
assert q[\"url\"].endswith(\"y\" * (1 << 20))
" "$TRASH/out.jsonl"
'

test_expect_success 'e-mail: a body with lines over 998 bytes goes as base64, and decodes back' '
  cat >"$TRASH/cfg/mail.toml" <<-\EOF &&
	[endpoint.mail]
	url = "smtp://127.0.0.1:9"
	mail_from = "binhook@example.com"
	mail_to = ["dba@example.com", "ops@example.com"]
	[[rule]]
	name = "all"
	endpoint = "mail"
	EOF
  "$BINHOOK" test -c "$TRASH/cfg/mail.toml" --event "$TRASH/big.json" --json >"$TRASH/mail.jsonl" &&
  "$BINHOOK" test -c "$TRASH/cfg/mail.toml" --event "$TRASH/paid.json" --json >>"$TRASH/mail.jsonl" &&
  python3 -c "
import base64, email, json, sys
big, small = [json.loads(l) for l in open(sys.argv[1])]
for q in (big, small):
    assert q[\"method\"] == \"SMTP\" and q[\"mail_to\"] == [\"dba@example.com\", \"ops@example.com\"], q
    assert all(len(l) <= 998 for l in q[\"body\"].split(\"\r\n\")), \"a line over 998 bytes\"
m = email.message_from_string(big[\"body\"])
assert m[\"Content-Transfer-Encoding\"] == \"base64\", m.items()
ev = json.loads(base64.b64decode(m.get_payload()))
assert ev[\"after\"][\"note\"] == \"x\" * (1 << 20)
m = email.message_from_string(small[\"body\"])
assert m[\"Content-Transfer-Encoding\"] == \"8bit\" and json.loads(m.get_payload())[\"key\"] == {\"id\": 42}
" "$TRASH/mail.jsonl"
'

test_expect_success 'invalid JSON is reported with its line and column, exit 2' '
  printf "{\"type\":\"insert\",\n \"schema\": shop}\n" >"$TRASH/bad.json" &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event "$TRASH/bad.json" 2>"$TRASH/err" &&
  test_grep "^binhook test: .*bad.json:2:12: not valid JSON: expected a value\$" "$TRASH/err"
'

test_expect_success 'an object that is not an event is reported, exit 2' '
  echo "{\"type\":\"upsert\"}" >"$TRASH/bad.json" &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event "$TRASH/bad.json" 2>"$TRASH/err" &&
  test_grep "bad.json:1:1: unknown event type .upsert." "$TRASH/err" &&
  : >"$TRASH/empty.json" &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event "$TRASH/empty.json" 2>"$TRASH/err" &&
  test_grep "holds no event" "$TRASH/err"
'

test_expect_success 'an unset secret stops test with the variable named, exit 2' '
  test_exit_code 2 env -u T_SECRET "$BINHOOK" test -c "$CFG" --event "$TRASH/paid.json" 2>"$TRASH/err" &&
  test_grep "the environment variable .T_SECRET. (secret_env of endpoint .crm.) is not set" "$TRASH/err"
'

test_expect_success 'usage: --event or --binlog, not both, not neither' '
  test_exit_code 2 "$BINHOOK" test -c "$CFG" 2>/dev/null &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event x --binlog y 2>/dev/null &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --binlog 2>/dev/null &&
  test_exit_code 2 "$BINHOOK" test -c "$CFG" --event x --now soon 2>/dev/null
'

MARIADB_BIN=$SHARED/binlogs/mariadb-bin.000001
if [ -f "$MARIADB_BIN" ]; then
  test_expect_success '--binlog: the rules run on the changes of a real binlog file' '
    cat >"$TRASH/cfg/all.toml" <<-EOF &&
	[endpoint.gh]
	url = "http://127.0.0.1:9/{{ schema }}/{{ table }}"
	[[rule]]
	name = "everything"
	endpoint = "gh"
	on = ["insert", "update", "delete", "statement"]
	EOF
    "$BINHOOK" tail --binlog "$MARIADB_BIN" >"$TRASH/tail.jsonl" &&
    "$BINHOOK" test -c "$TRASH/cfg/all.toml" --json --binlog "$MARIADB_BIN" >"$TRASH/out.jsonl" &&
    python3 -c "
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
reqs = [json.loads(l) for l in open(sys.argv[2])]
assert len(reqs) == len(events) > 0, (len(reqs), len(events))
for ev, q in zip(events, reqs):
    assert json.loads(q[\"body\"]) == ev
" "$TRASH/tail.jsonl" "$TRASH/out.jsonl"
  '
else
  test_skip '--binlog on a shared binlog file' "no '$MARIADB_BIN' (../shared/testdata is absent)"
fi

test_done
