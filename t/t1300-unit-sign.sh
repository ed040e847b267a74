#!/usr/bin/env bash
# Webhook signatures: the C unit test t/unit/sign_test.c, against the
# published Standard Webhooks and GitHub vectors in the shared test data and,
# when openssl is installed, against `openssl dgst` on a random body.
. "$(dirname "$0")/lib/test-lib.sh"

VECTORS=$SHARED/signing-vectors.json
if ! [ -f "$VECTORS" ]; then
  test_skip_all "no signing vectors at '$VECTORS' (../shared/testdata is absent)"
fi

if command -v openssl >/dev/null 2>&1; then
  # Random bytes (NULs included) and a secret with a space and punctuation.
  head -c 4099 /dev/urandom >"$TRASH/body"
  secret="s3cr3t, $(openssl rand -hex 12)"
  want=$(openssl dgst -sha256 -hmac "$secret" <"$TRASH/body")
  # "HMAC-SHA256(stdin)= hex" or "SHA2-256(stdin)= hex", by version.
  run_unit sign_test "$VECTORS" --openssl "$TRASH/body" "$secret" "${want##*= }"
else
  run_unit sign_test "$VECTORS"
fi
