<?php
// verify.php - checks the signature of a webhook from binhook, in a receiver.
//
// Copy the two functions and the exception class into your receiver (PHP
// 7.3+, no extensions beyond the default ones). Verify the body exactly as
// it arrived, before decoding it: JSON decoded and encoded again is not the
// same bytes.
//
//   require 'verify.php';
//   $body = file_get_contents('php://input');
//   try {
//       verify_standard_webhook(getenv('WEBHOOK_SECRET'), getallheaders(), $body);
//   } catch (WebhookVerificationError $e) {
//       http_response_code(401);
//       exit($e->getMessage());
//   }
//   $event = json_decode($body, true);   // dedupe on the webhook-id header
//
// Standard Webhooks (binhook's signing = "standard-webhooks", the default):
// the headers webhook-id, webhook-timestamp and webhook-signature, the last
// holding "v1,<base64 HMAC-SHA256 of id.timestamp.body>", several of them
// separated by spaces while secrets are rotated; the secret is "whsec_" and
// the base64 of the key. A timestamp more than 5 minutes away from now is
// refused, so that a captured request cannot be replayed later.
//
// GitHub style (signing = "github"): X-Hub-Signature-256: sha256=<hex
// HMAC-SHA256 of the body>, the secret used as written. It has no
// timestamp: dedupe on webhook-id to refuse replays.
//
// As a program it checks test vectors and requests (exit status 0 when
// every check passed, 1 when one failed, 2 on a usage error):
//
//   php verify.php vectors signing-vectors.json
//   binhook test --json --event change.json | WEBHOOK_SECRET=whsec_... GITHUB_SECRET=... php verify.php requests

const WEBHOOK_TOLERANCE = 300; // seconds between the signature's timestamp and now

class WebhookVerificationError extends Exception
{
}

// The value of a header, whatever the case of its name in $headers.
function webhook_header(array $headers, string $name): ?string
{
    foreach ($headers as $key => $value) {
        if (strtolower((string)$key) === $name) {
            return (string)$value;
        }
    }
    return null;
}

// Returns when one of the v1 signatures in $headers is the HMAC of the
// request with $secret ("whsec_..." or the bare base64 of the key) and its
// timestamp is within $tolerance seconds of $now (default: the clock);
// throws WebhookVerificationError otherwise. $body: the raw request body.
function verify_standard_webhook(string $secret, array $headers, string $body, ?int $now = null,
                                 int $tolerance = WEBHOOK_TOLERANCE): void
{
    $id = webhook_header($headers, 'webhook-id');
    $stamp = webhook_header($headers, 'webhook-timestamp');
    $signatures = webhook_header($headers, 'webhook-signature');
    if ($id === null || $id === '' || $stamp === null || $signatures === null || $signatures === '') {
        throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
    }
    if (!ctype_digit($stamp)) {
        throw new WebhookVerificationError('webhook-timestamp is not a number of seconds: ' . json_encode($stamp));
    }
    $now = $now ?? time();
    if (abs($now - (int)$stamp) > $tolerance) {
        throw new WebhookVerificationError("webhook-timestamp $stamp is more than $tolerance s away from now ($now)");
    }
    $key = base64_decode(strncmp($secret, 'whsec_', 6) === 0 ? substr($secret, 6) : $secret, true);
    if ($key === false) {
        throw new WebhookVerificationError("the secret is not 'whsec_' followed by base64");
    }
    $expected = base64_encode(hash_hmac('sha256', "$id.$stamp.$body", $key, true));
    foreach (explode(' ', $signatures) as $candidate) {
        $parts = explode(',', $candidate, 2);
        // Other versions (v1a: ed25519) are not HMACs: skip them.
        if (count($parts) === 2 && $parts[0] === 'v1' && hash_equals($expected, $parts[1])) {
            return;
        }
    }
    throw new WebhookVerificationError('no v1 signature in webhook-signature matches');
}

// Returns when X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of
// $body with $secret (used as written); throws WebhookVerificationError
// otherwise.
function verify_github(string $secret, array $headers, string $body): void
{
    $got = webhook_header($headers, 'x-hub-signature-256');
    if ($got === null || strncmp($got, 'sha256=', 7) !== 0) {
        throw new WebhookVerificationError('missing X-Hub-Signature-256: sha256=... header');
    }
    if (!hash_equals('sha256=' . hash_hmac('sha256', $body, $secret), $got)) {
        throw new WebhookVerificationError('X-Hub-Signature-256 does not match');
    }
}

// ---- the program: test vectors and `binhook test --json` requests ----

final class WebhookChecks
{
    public $failed = 0;

    public function expect(bool $ok, string $what, string $why = ''): void
    {
        echo ($ok ? 'ok - ' : 'not ok - ') . $what . ($ok || $why === '' ? '' : ": $why") . "\n";
        if (!$ok) {
            $this->failed++;
        }
    }

    public function accepts(string $what, callable $fn): void
    {
        try {
            $fn();
            $this->expect(true, $what);
        } catch (WebhookVerificationError $e) {
            $this->expect(false, $what, $e->getMessage());
        }
    }

    public function refuses(string $what, callable $fn): void
    {
        try {
            $fn();
            $this->expect(false, $what, 'accepted');
        } catch (WebhookVerificationError $e) {
            $this->expect(true, $what);
        }
    }
}

function webhook_check_vectors(string $path, WebhookChecks $c): void
{
    $vectors = json_decode(file_get_contents($path), true, 512, JSON_THROW_ON_ERROR);
    foreach ($vectors['standard_webhooks'] ?? [] as $i => $v) {
        $sig = $v['expected_signature_header'];
        if (strncmp($sig, 'v1,', 3) !== 0) {
            echo "skip - standard_webhooks[$i]: " . explode(',', $sig)[0] . " is not an HMAC signature\n";
            continue;
        }
        $h = ['webhook-id' => $v['msg_id'], 'webhook-timestamp' => (string)$v['timestamp'], 'webhook-signature' => $sig];
        $ts = $v['timestamp'];
        $body = $v['payload'];
        $secret = $v['secret'];
        $name = "standard_webhooks[$i]";
        $other = 'whsec_' . base64_encode('another key of 24 bytes.');
        $c->accepts("$name: the expected signature verifies",
            function () use ($secret, $h, $body, $ts) { verify_standard_webhook($secret, $h, $body, $ts); });
        $several = array_merge($h, ['webhook-signature' => 'v1,bm90IGl0 v1a,bm90IGl0IGVpdGhlcg== ' . $sig]);
        $c->accepts("$name: among other signatures too",
            function () use ($secret, $several, $body, $ts) { verify_standard_webhook($secret, $several, $body, $ts); });
        $c->accepts("$name: 5 minutes later", function () use ($secret, $h, $body, $ts) {
            verify_standard_webhook($secret, $h, $body, $ts + WEBHOOK_TOLERANCE);
        });
        $c->refuses("$name: a changed body is refused",
            function () use ($secret, $h, $body, $ts) { verify_standard_webhook($secret, $h, "$body ", $ts); });
        $otherId = array_merge($h, ['webhook-id' => $v['msg_id'] . 'x']);
        $c->refuses("$name: another id is refused",
            function () use ($secret, $otherId, $body, $ts) { verify_standard_webhook($secret, $otherId, $body, $ts); });
        $c->refuses("$name: more than 5 minutes later is refused", function () use ($secret, $h, $body, $ts) {
            verify_standard_webhook($secret, $h, $body, $ts + WEBHOOK_TOLERANCE + 1);
        });
        $c->refuses("$name: more than 5 minutes earlier is refused", function () use ($secret, $h, $body, $ts) {
            verify_standard_webhook($secret, $h, $body, $ts - WEBHOOK_TOLERANCE - 1);
        });
        $c->refuses("$name: another secret is refused",
            function () use ($other, $h, $body, $ts) { verify_standard_webhook($other, $h, $body, $ts); });
    }
    foreach ($vectors['github_x_hub_signature_256'] ?? [] as $i => $v) {
        $h = ['X-Hub-Signature-256' => $v['expected_header']];
        $bare = ['X-Hub-Signature-256' => substr($v['expected_header'], 7)];
        $secret = $v['secret'];
        $body = $v['payload'];
        $name = "github_x_hub_signature_256[$i]";
        $c->accepts("$name: the expected signature verifies",
            function () use ($secret, $h, $body) { verify_github($secret, $h, $body); });
        $c->refuses("$name: a changed body is refused",
            function () use ($secret, $h, $body) { verify_github($secret, $h, "$body "); });
        $c->refuses("$name: another secret is refused",
            function () use ($secret, $h, $body) { verify_github($secret . 'x', $h, $body); });
        $c->refuses("$name: a header without sha256= is refused",
            function () use ($secret, $bare, $body) { verify_github($secret, $bare, $body); });
    }
}

function webhook_check_requests($in, ?int $now, WebhookChecks $c): void
{
    $n = 0;
    while (($line = fgets($in)) !== false) {
        $n++;
        if (trim($line) === '') {
            continue;
        }
        $q = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
        $what = sprintf('request %d (%s %s)', $n, $q['endpoint'] ?? '?', $q['id'] ?? '?');
        if (!isset($q['headers']) || array_key_exists('mail_from', $q)) {
            echo "skip - $what: not an HTTP request\n";
            continue;
        }
        $headers = $q['headers'];
        $body = $q['body'];
        if (webhook_header($headers, 'webhook-signature') !== null) {
            $c->accepts($what, function () use ($headers, $body, $now) {
                verify_standard_webhook((string)getenv('WEBHOOK_SECRET'), $headers, $body, $now);
            });
        } elseif (webhook_header($headers, 'x-hub-signature-256') !== null) {
            $c->accepts($what, function () use ($headers, $body) {
                verify_github((string)getenv('GITHUB_SECRET'), $headers, $body);
            });
        } else {
            $c->expect(false, $what, 'no signature header');
        }
    }
}

if (PHP_SAPI === 'cli' && isset($argv[0]) && realpath($argv[0]) === __FILE__) {
    $args = array_slice($argv, 1);
    $c = new WebhookChecks();
    if (count($args) === 2 && $args[0] === 'vectors') {
        webhook_check_vectors($args[1], $c);
    } elseif (($args[0] ?? '') === 'requests' && (count($args) === 1 || (count($args) === 3 && $args[1] === '--now'))) {
        if (count($args) === 3 && !ctype_digit($args[2])) {
            fwrite(STDERR, 'verify.php: --now takes seconds since the epoch, not ' . json_encode($args[2]) . "\n");
            exit(2);
        }
        webhook_check_requests(STDIN, count($args) === 3 ? (int)$args[2] : null, $c);
    } else {
        fwrite(STDERR, "usage: verify.php vectors FILE\n" .
            "       verify.php requests [--now SECONDS] < REQUESTS   (binhook test --json output;\n" .
            "       secrets in WEBHOOK_SECRET and GITHUB_SECRET)\n");
        exit(2);
    }
    exit($c->failed ? 1 : 0);
}
