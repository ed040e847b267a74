/* sign.h - webhook signatures: the secrets of the config decoded once into
 * keys, and the header values a delivery attaches to each request.
 *
 * Two schemes besides "none":
 *   standard-webhooks  (https://www.standardwebhooks.com) The signed content
 *       is "<msg_id>.<timestamp>.<body>". The webhook-signature header holds
 *       one "v1,<base64 HMAC-SHA256>" per symmetric key, secrets written as
 *       "whsec_<base64 key>" (or the bare base64), and one
 *       "v1a,<base64 ed25519 signature>" per asymmetric key, secrets written
 *       as "whsk_<base64 32-byte seed>"; several keys (rotation) give several
 *       signatures separated by single spaces, in the order of the keys.
 *   github  X-Hub-Signature-256: "sha256=<lowercase hex HMAC-SHA256 of the
 *       body>", the secret used as its raw bytes.
 *
 * Ownership: sign_key_parse fills a caller-owned struct sign_key whose bytes
 * it allocates; sign_key_free wipes and releases them. The signing functions
 * append to a caller-owned buf and cannot fail on a key sign_key_parse made
 * (they abort on an internal OpenSSL failure, as on out-of-memory). Messages
 * never contain the secret, so that they can be logged. */
#ifndef BH_SIGN_H
#define BH_SIGN_H

#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

enum sign_scheme {
  SIGN_NONE,
  SIGN_STANDARD, /* Standard Webhooks */
  SIGN_GITHUB,
};

/* "none", "standard-webhooks" or "github" (exactly) into *out; returns 0, or
 * -1 leaving *out unchanged. */
int sign_parse_scheme(const char *s, enum sign_scheme *out);
/* The name sign_parse_scheme reads back; a static string. */
const char *sign_scheme_name(enum sign_scheme s);

/* One secret, decoded. */
struct sign_key {
  int asymmetric;       /* 1: ed25519 (Standard Webhooks v1a), 0: HMAC-SHA256 */
  unsigned char *bytes; /* the HMAC key, or the 32-byte ed25519 seed */
  size_t len;
  void *mac;            /* HMAC: the inner and outer states keyed once, copied for every message (private) */
};

/* Decodes secret[0..len) as written in the config for scheme into *out.
 * SIGN_STANDARD takes "whsec_<base64>" or bare base64 (the HMAC key is the
 * decoded bytes, as in the Standard Webhooks libraries) or "whsk_<base64>"
 * (an ed25519 seed, exactly 32 bytes); base64 is the standard alphabet, with
 * or without its '=' padding, nothing else admitted (no whitespace, no
 * URL-safe alphabet, no stray bits after the last byte: signs of a mangled
 * secret). SIGN_GITHUB uses the secret's bytes as they are. An empty key and
 * SIGN_NONE are refused. Returns 0, or -1 with a message in err (which never
 * quotes the secret) and *out zeroed, safe to pass to sign_key_free. */
int sign_key_parse(enum sign_scheme scheme, const char *secret, size_t len, struct sign_key *out, char *err,
                   size_t errsz);
/* Wipes (OPENSSL_cleanse) and frees k->bytes, leaving k zeroed; calling it
 * again is harmless. */
void sign_key_free(struct sign_key *k);

/* Appends the value of the webhook-signature header for body[0..len): one
 * "v1,..." or "v1a,..." per key, in order, separated by single spaces;
 * nothing when nkeys is 0. */
void sign_standard(const struct sign_key *keys, size_t nkeys, const char *msg_id, int64_t timestamp,
                   const void *body, size_t len, struct buf *out);

/* Appends the value of X-Hub-Signature-256 for body[0..len) with key (an HMAC
 * key: SIGN_GITHUB never makes another kind): "sha256=<64 lowercase hex>". */
void sign_github(const struct sign_key *key, const void *body, size_t len, struct buf *out);

/* Appends the lowercase hex SHA-256 of data[0..n) (64 characters). */
void sign_sha256_hex(const void *data, size_t n, struct buf *out);

#endif
