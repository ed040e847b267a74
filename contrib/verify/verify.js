#!/usr/bin/env node
// verify.js - checks the signature of a webhook from binhook, in a receiver.
//
// Copy the two functions into your receiver (Node.js 12+, no packages).
// Verify the body exactly as it arrived, before parsing it: JSON parsed and
// printed again is not the same bytes.
//
//   const { verifyStandardWebhook } = require('./verify');
//
//   // Express: keep the raw body for this route
//   app.post('/hooks', express.raw({ type: '*/*' }), (req, res) => {
//     try {
//       verifyStandardWebhook(process.env.WEBHOOK_SECRET, req.headers, req.body);
//     } catch (e) {
//       return res.status(401).send(e.message);
//     }
//     const event = JSON.parse(req.body);   // dedupe on req.headers['webhook-id']
//     ...
//   });
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
//   node verify.js vectors signing-vectors.json
//   binhook test --json --event change.json | WEBHOOK_SECRET=whsec_... GITHUB_SECRET=... node verify.js requests
'use strict';

const crypto = require('crypto');

const TOLERANCE = 5 * 60; // seconds between the signature's timestamp and now

class VerificationError extends Error {}

// The value of a header, whatever the case of its name in headers (Node's
// own req.headers has lower-case names already).
function header(headers, name) {
  if (headers[name] !== undefined) return headers[name];
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return headers[key];
  return undefined;
}

function safeEqual(a, b) {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// Returns when one of the v1 signatures in headers is the HMAC of the request
// with secret ("whsec_..." or the bare base64 of the key) and its timestamp
// is within tolerance seconds of now (default: the clock, in seconds);
// throws VerificationError otherwise. body: the raw Buffer (a string is
// taken as UTF-8).
function verifyStandardWebhook(secret, headers, body, { now, tolerance = TOLERANCE } = {}) {
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !stamp || !signatures)
    throw new VerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^[0-9]+$/.test(stamp))
    throw new VerificationError(`webhook-timestamp is not a number of seconds: ${JSON.stringify(stamp)}`);
  if (now === undefined) now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(stamp)) > tolerance)
    throw new VerificationError(`webhook-timestamp ${stamp} is more than ${tolerance} s away from now (${now})`);
  const keyB64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(keyB64) || keyB64.length % 4 !== 0)
    throw new VerificationError("the secret is not 'whsec_' followed by base64");
  const key = Buffer.from(keyB64, 'base64');
  const expected = crypto.createHmac('sha256', key)
    .update(`${id}.${stamp}.`).update(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'))
    .digest('base64');
  for (const candidate of signatures.split(' ')) {
    const comma = candidate.indexOf(',');
    // Other versions (v1a: ed25519) are not HMACs: skip them.
    if (comma > 0 && candidate.slice(0, comma) === 'v1' && safeEqual(candidate.slice(comma + 1), expected)) return;
  }
  throw new VerificationError('no v1 signature in webhook-signature matches');
}

// Returns when X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of
// body with secret (used as written); throws VerificationError otherwise.
function verifyGitHub(secret, headers, body) {
  const got = header(headers, 'x-hub-signature-256');
  if (!got || !got.startsWith('sha256='))
    throw new VerificationError('missing X-Hub-Signature-256: sha256=... header');
  const expected = 'sha256=' + crypto.createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).digest('hex');
  if (!safeEqual(got, expected)) throw new VerificationError('X-Hub-Signature-256 does not match');
}

module.exports = { verifyStandardWebhook, verifyGitHub, VerificationError, TOLERANCE };

// ---- the program: test vectors and `binhook test --json` requests ----

function checks() {
  let failed = 0;
  const expect = (ok, what, why) => {
    console.log((ok ? 'ok - ' : 'not ok - ') + what + (ok || !why ? '' : ': ' + why));
    if (!ok) failed++;
  };
  const run = (want, what, fn) => {
    try {
      fn();
      expect(want, what, 'accepted');
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      expect(!want, what, e.message);
    }
  };
  return {
    expect,
    accepts: (what, fn) => run(true, what, fn),
    refuses: (what, fn) => run(false, what, fn),
    failed: () => failed,
  };
}

function checkVectors(path, c) {
  const vectors = JSON.parse(require('fs').readFileSync(path, 'utf8'));
  (vectors.standard_webhooks || []).forEach((v, i) => {
    const sig = v.expected_signature_header;
    if (!sig.startsWith('v1,')) {
      console.log(`skip - standard_webhooks[${i}]: ${sig.split(',')[0]} is not an HMAC signature`);
      return;
    }
    const h = { 'webhook-id': v.msg_id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': sig };
    const ts = v.timestamp, body = v.payload, name = `standard_webhooks[${i}]`;
    const other = 'whsec_' + Buffer.from('another key of 24 bytes.').toString('base64');
    c.accepts(`${name}: the expected signature verifies`, () => verifyStandardWebhook(v.secret, h, body, { now: ts }));
    c.accepts(`${name}: among other signatures too`, () => verifyStandardWebhook(v.secret,
      { ...h, 'webhook-signature': 'v1,bm90IGl0 v1a,bm90IGl0IGVpdGhlcg== ' + sig }, body, { now: ts }));
    c.accepts(`${name}: 5 minutes later`, () => verifyStandardWebhook(v.secret, h, body, { now: ts + TOLERANCE }));
    c.refuses(`${name}: a changed body is refused`, () => verifyStandardWebhook(v.secret, h, body + ' ', { now: ts }));
    c.refuses(`${name}: another id is refused`, () =>
      verifyStandardWebhook(v.secret, { ...h, 'webhook-id': v.msg_id + 'x' }, body, { now: ts }));
    c.refuses(`${name}: more than 5 minutes later is refused`, () =>
      verifyStandardWebhook(v.secret, h, body, { now: ts + TOLERANCE + 1 }));
    c.refuses(`${name}: more than 5 minutes earlier is refused`, () =>
      verifyStandardWebhook(v.secret, h, body, { now: ts - TOLERANCE - 1 }));
    c.refuses(`${name}: another secret is refused`, () => verifyStandardWebhook(other, h, body, { now: ts }));
  });
  (vectors.github_x_hub_signature_256 || []).forEach((v, i) => {
    const h = { 'X-Hub-Signature-256': v.expected_header }, name = `github_x_hub_signature_256[${i}]`;
    c.accepts(`${name}: the expected signature verifies`, () => verifyGitHub(v.secret, h, v.payload));
    c.refuses(`${name}: a changed body is refused`, () => verifyGitHub(v.secret, h, v.payload + ' '));
    c.refuses(`${name}: another secret is refused`, () => verifyGitHub(v.secret + 'x', h, v.payload));
    c.refuses(`${name}: a header without sha256= is refused`, () =>
      verifyGitHub(v.secret, { 'X-Hub-Signature-256': v.expected_header.slice('sha256='.length) }, v.payload));
  });
}

function checkRequests(text, now, c) {
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const q = JSON.parse(line);
    const what = `request ${i + 1} (${q.endpoint || '?'} ${q.id || '?'})`;
    if (!q.headers || q.mail_from !== undefined) {
      console.log(`skip - ${what}: not an HTTP request`);
      return;
    }
    if (header(q.headers, 'webhook-signature') !== undefined)
      c.accepts(what, () => verifyStandardWebhook(process.env.WEBHOOK_SECRET || '', q.headers, q.body, { now }));
    else if (header(q.headers, 'x-hub-signature-256') !== undefined)
      c.accepts(what, () => verifyGitHub(process.env.GITHUB_SECRET || '', q.headers, q.body));
    else c.expect(false, what, 'no signature header');
  });
}

function main(argv) {
  const c = checks();
  if (argv.length === 2 && argv[0] === 'vectors') {
    checkVectors(argv[1], c);
  } else if (argv[0] === 'requests' && (argv.length === 1 || (argv.length === 3 && argv[1] === '--now'))) {
    if (argv.length === 3 && !/^[0-9]+$/.test(argv[2])) {
      process.stderr.write(`verify.js: --now takes seconds since the epoch, not ${JSON.stringify(argv[2])}\n`);
      return 2;
    }
    checkRequests(require('fs').readFileSync(0, 'utf8'), argv.length === 3 ? Number(argv[2]) : undefined, c);
  } else {
    process.stderr.write('usage: verify.js vectors FILE\n' +
      '       verify.js requests [--now SECONDS] < REQUESTS   (binhook test --json output;\n' +
      '       secrets in WEBHOOK_SECRET and GITHUB_SECRET)\n');
    return 2;
  }
  return c.failed() ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
