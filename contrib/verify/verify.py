#!/usr/bin/env python3
"""verify.py - checks the signature of a webhook from binhook, in a receiver.

Copy the two functions into your receiver (Python 3.7+, standard library
only). Verify the body exactly as it arrived, before parsing it: JSON parsed
and printed again is not the same bytes.

    from verify import verify_standard_webhook, VerificationError

    # Flask
    @app.post("/hooks")
    def hook():
        try:
            verify_standard_webhook(os.environ["WEBHOOK_SECRET"], request.headers, request.get_data())
        except VerificationError as e:
            return str(e), 401
        event = request.get_json()
        ...                       # dedupe on request.headers["webhook-id"]

Standard Webhooks (binhook's signing = "standard-webhooks", the default):
the headers webhook-id, webhook-timestamp and webhook-signature, the last
holding "v1,<base64 HMAC-SHA256 of id.timestamp.body>", several of them
separated by spaces while secrets are rotated; the secret is "whsec_" and
the base64 of the key. A timestamp more than 5 minutes away from now is
refused, so that a captured request cannot be replayed later.

GitHub style (signing = "github"): X-Hub-Signature-256: sha256=<hex
HMAC-SHA256 of the body>, the secret used as written. It has no timestamp:
dedupe on webhook-id to refuse replays.

As a program it checks test vectors and requests (exit status 0 when every
check passed, 1 when one failed, 2 on a usage error):

    verify.py vectors signing-vectors.json
    binhook test --json --event change.json | WEBHOOK_SECRET=whsec_... GITHUB_SECRET=... verify.py requests
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import time

TOLERANCE = 5 * 60  # seconds between the signature's timestamp and now


class VerificationError(Exception):
    """The request is not signed with the secret, or not now."""


def _header(headers, name):
    """The value of a header, whatever the case of its name in headers."""
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def verify_standard_webhook(secret, headers, body, now=None, tolerance=TOLERANCE):
    """Returns when one of the v1 signatures in headers is the HMAC of the
    request with secret ("whsec_..." or the bare base64 of the key) and its
    timestamp is within tolerance seconds of now (default: the clock);
    raises VerificationError otherwise. headers is any mapping of header
    names to values; body the raw bytes (a str is taken as UTF-8)."""
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not stamp.isdigit():
        raise VerificationError("webhook-timestamp is not a number of seconds: %r" % stamp)
    now = int(time.time()) if now is None else int(now)
    if abs(now - int(stamp)) > tolerance:
        raise VerificationError("webhook-timestamp %s is more than %d s away from now (%d)" % (stamp, tolerance, now))
    if isinstance(body, str):
        body = body.encode("utf-8")
    key_b64 = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the secret is not 'whsec_' followed by base64") from None
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split(" "):
        version, _, sig = candidate.partition(",")
        # Other versions (v1a: ed25519) are not HMACs: skip them.
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return
    raise VerificationError("no v1 signature in webhook-signature matches")


def verify_github(secret, headers, body):
    """Returns when X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256
    of body with secret (used as written); raises VerificationError
    otherwise."""
    header = _header(headers, "x-hub-signature-256")
    if not header or not header.startswith("sha256="):
        raise VerificationError("missing X-Hub-Signature-256: sha256=... header")
    if isinstance(body, str):
        body = body.encode("utf-8")
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header.encode(), expected.encode()):
        raise VerificationError("X-Hub-Signature-256 does not match")


# ---- the program: test vectors and `binhook test --json` requests ----

class _Checks:
    def __init__(self):
        self.failed = 0

    def expect(self, ok, what, why=""):
        print(("ok - " if ok else "not ok - ") + what + ("" if ok or not why else ": " + why))
        self.failed += not ok

    def accepts(self, what, fn, *args, **kw):
        try:
            fn(*args, **kw)
            self.expect(True, what)
        except VerificationError as e:
            self.expect(False, what, str(e))

    def refuses(self, what, fn, *args, **kw):
        try:
            fn(*args, **kw)
            self.expect(False, what, "accepted")
        except VerificationError:
            self.expect(True, what)


def check_vectors(path, c):
    vectors = json.load(open(path, encoding="utf-8"))
    for i, v in enumerate(vectors.get("standard_webhooks", [])):
        header = v["expected_signature_header"]
        if not header.startswith("v1,"):
            print("skip - standard_webhooks[%d]: %s is not an HMAC signature" % (i, header.split(",")[0]))
            continue
        h = {"webhook-id": v["msg_id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": header}
        ts, body = v["timestamp"], v["payload"]
        name = "standard_webhooks[%d]" % i
        c.accepts(name + ": the expected signature verifies", verify_standard_webhook, v["secret"], h, body, now=ts)
        c.accepts(name + ": among other signatures too", verify_standard_webhook, v["secret"],
                  dict(h, **{"webhook-signature": "v1,bm90IGl0 v1a,bm90IGl0IGVpdGhlcg== " + header}), body, now=ts)
        c.accepts(name + ": 5 minutes later", verify_standard_webhook, v["secret"], h, body, now=ts + TOLERANCE)
        c.refuses(name + ": a changed body is refused", verify_standard_webhook, v["secret"], h, body + " ", now=ts)
        c.refuses(name + ": another id is refused", verify_standard_webhook, v["secret"],
                  dict(h, **{"webhook-id": v["msg_id"] + "x"}), body, now=ts)
        c.refuses(name + ": more than 5 minutes later is refused", verify_standard_webhook, v["secret"], h, body,
                  now=ts + TOLERANCE + 1)
        c.refuses(name + ": more than 5 minutes earlier is refused", verify_standard_webhook, v["secret"], h, body,
                  now=ts - TOLERANCE - 1)
        c.refuses(name + ": another secret is refused", verify_standard_webhook,
                  "whsec_" + base64.b64encode(b"another key of 24 bytes.").decode(), h, body, now=ts)
    for i, v in enumerate(vectors.get("github_x_hub_signature_256", [])):
        h = {"X-Hub-Signature-256": v["expected_header"]}
        name = "github_x_hub_signature_256[%d]" % i
        c.accepts(name + ": the expected signature verifies", verify_github, v["secret"], h, v["payload"])
        c.refuses(name + ": a changed body is refused", verify_github, v["secret"], h, v["payload"] + " ")
        c.refuses(name + ": another secret is refused", verify_github, v["secret"] + "x", h, v["payload"])
        c.refuses(name + ": a header without sha256= is refused", verify_github, v["secret"],
                  {"X-Hub-Signature-256": v["expected_header"][len("sha256="):]}, v["payload"])


def check_requests(lines, now, c):
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        q = json.loads(line)
        headers = q.get("headers")
        what = "request %d (%s %s)" % (n, q.get("endpoint", "?"), q.get("id", "?"))
        if headers is None or "mail_from" in q:
            print("skip - %s: not an HTTP request" % what)
            continue
        if _header(headers, "webhook-signature") is not None:
            c.accepts(what, verify_standard_webhook, os.environ.get("WEBHOOK_SECRET", ""), headers, q["body"], now=now)
        elif _header(headers, "x-hub-signature-256") is not None:
            c.accepts(what, verify_github, os.environ.get("GITHUB_SECRET", ""), headers, q["body"])
        else:
            c.expect(False, what, "no signature header")


def main(argv):
    usage = ("usage: verify.py vectors FILE\n"
             "       verify.py requests [--now SECONDS] < REQUESTS   (binhook test --json output;\n"
             "       secrets in WEBHOOK_SECRET and GITHUB_SECRET)\n")
    c = _Checks()
    if len(argv) == 3 and argv[1] == "vectors":
        check_vectors(argv[2], c)
    elif len(argv) in (2, 4) and argv[1] == "requests" and (len(argv) == 2 or argv[2] == "--now"):
        if len(argv) == 4 and not argv[3].isdigit():
            sys.stderr.write("verify.py: --now takes seconds since the epoch, not %r\n" % argv[3])
            return 2
        check_requests(sys.stdin, int(argv[3]) if len(argv) == 4 else None, c)
    else:
        sys.stderr.write(usage)
        return 2
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
