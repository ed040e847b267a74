/* sign.c - see sign.h.
 *
 * HMAC-SHA256 (RFC 2104) is computed here over SHA-256 states, not through
 * EVP_MAC: the key's inner and outer states (the key's pads hashed once)
 * are kept with the key and copied on the stack for every message, which
 * costs two struct copies. In OpenSSL 3.0 every EVP_MAC_CTX_dup, and every
 * EVP_Digest, allocates and frees a handful of objects (its providers
 * cannot copy a context in place), which on the delivery loop cost as much
 * as hashing a webhook's body. SHA256_Init and the others are deprecated
 * in 3.0 for that reason (EVP is preferred) but remain, with the same
 * assembly behind them. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "deliver/sign.h"

#include "util/buf.h"
#include "util/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ED25519_SEED_LEN 32
#define ED25519_SIG_LEN 64

static const char *const scheme_names[] = {
    [SIGN_NONE] = "none",
    [SIGN_STANDARD] = "standard-webhooks",
    [SIGN_GITHUB] = "github",
};

int sign_parse_scheme(const char *s, enum sign_scheme *out)
{
  for (size_t i = 0; i < sizeof scheme_names / sizeof scheme_names[0]; i++) {
    if (!strcmp(s, scheme_names[i])) {
      *out = (enum sign_scheme)i;
      return 0;
    }
  }
  return -1;
}

const char *sign_scheme_name(enum sign_scheme s)
{
  bh_assert((size_t)s < sizeof scheme_names / sizeof scheme_names[0]);
  return scheme_names[s];
}

/* The value of a base64 character, or -1 outside the standard alphabet. */
static int b64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes s[0..n), standard base64 with or without padding, into a new
 * buffer (*out, n bytes in *outlen; the caller wipes and frees it). Returns
 * 0, or -1 with what is wrong in why, which points at the culprit by its
 * position only, never its value. first is the position of s[0] within the
 * whole secret, so that positions count from the secret's start. */
static int b64_decode(const char *s, size_t n, size_t first, unsigned char **out, size_t *outlen, char *why,
                      size_t whysz)
{
  size_t pad = 0;
  if (n % 4 == 0 && n >= 4) {
    pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
  }
  size_t m = n - pad; /* the characters that carry bits */
  for (size_t i = 0; i < m; i++) {
    if (b64_value((unsigned char)s[i]) < 0) {
      if (s[i] == '=') return bh_err(why, whysz, "misplaced '=' at character %zu", first + i + 1);
      return bh_err(why, whysz, "character %zu is not in the base64 alphabet", first + i + 1);
    }
  }
  if (m % 4 == 1) return bh_err(why, whysz, "its length is not that of base64 text (is it cut short?)");

  size_t len = m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0);
  unsigned char *p = xmalloc(len);
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < m; i++) {
    acc = (acc << 6) | (uint32_t)b64_value((unsigned char)s[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      p[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  bh_assert(o == len);
  /* An encoder leaves the bits after the last byte zero: set ones mean the
   * text was cut or altered. */
  if (acc) {
    OPENSSL_cleanse(p, len);
    free(p);
    return bh_err(why, whysz, "its last character has bits no encoder sets (is it cut short?)");
  }
  *out = p;
  *outlen = len;
  return 0;
}

static void prepare_hmac(struct sign_key *k);
static void forget_hmac(struct sign_key *k);

/* Fills k; an HMAC key gets its keyed state at once. */
static void key_set(struct sign_key *k, int asymmetric, unsigned char *bytes, size_t len)
{
  k->asymmetric = asymmetric;
  k->bytes = bytes;
  k->len = len;
  k->mac = NULL;
  if (bytes && len && !asymmetric) prepare_hmac(k);
}

/* A Standard Webhooks secret: prefix and base64, decoded into out. */
static int parse_standard(const char *secret, size_t len, struct sign_key *out, char *err, size_t errsz)
{
  static const char whsec[] = "whsec_", whsk[] = "whsk_", whpk[] = "whpk_";
  const char *prefix = "";
  int asymmetric = 0;
  if (len >= sizeof whsec - 1 && !memcmp(secret, whsec, sizeof whsec - 1)) {
    prefix = whsec;
  } else if (len >= sizeof whsk - 1 && !memcmp(secret, whsk, sizeof whsk - 1)) {
    prefix = whsk;
    asymmetric = 1;
  } else if (len >= sizeof whpk - 1 && !memcmp(secret, whpk, sizeof whpk - 1)) {
    return bh_err(err, errsz,
                  "secret is a 'whpk_' public key, which cannot sign: give the 'whsk_' secret key");
  }
  size_t plen = strlen(prefix);
  if (len == plen) return bh_err(err, errsz, "secret is empty after '%s'", prefix);

  unsigned char *bytes = NULL;
  size_t n = 0;
  char why[128];
  if (b64_decode(secret + plen, len - plen, plen, &bytes, &n, why, sizeof why) < 0) {
    if (*prefix) return bh_err(err, errsz, "secret is not valid base64 after '%s': %s", prefix, why);
    return bh_err(err, errsz,
                  "secret is not valid base64: %s (standard-webhooks secrets are 'whsec_' or 'whsk_' "
                  "followed by base64)",
                  why);
  }
  if (!n) {
    free(bytes);
    return bh_err(err, errsz, "secret is empty after '%s'", prefix);
  }
  if (asymmetric) {
    if (n != ED25519_SEED_LEN) {
      OPENSSL_cleanse(bytes, n);
      free(bytes);
      return bh_err(err, errsz, "secret after 'whsk_' must decode to a %d-byte ed25519 seed, not %zu bytes",
                    ED25519_SEED_LEN, n);
    }
    /* Any 32 bytes make a seed; trying it here is what lets the signing
     * functions treat an OpenSSL failure as internal. */
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, bytes, n);
    if (!pkey) {
      OPENSSL_cleanse(bytes, n);
      free(bytes);
      return bh_err(err, errsz, "cannot make an ed25519 key from the secret: OpenSSL has no ed25519");
    }
    EVP_PKEY_free(pkey);
  }
  key_set(out, asymmetric, bytes, n);
  return 0;
}

int sign_key_parse(enum sign_scheme scheme, const char *secret, size_t len, struct sign_key *out, char *err,
                   size_t errsz)
{
  key_set(out, 0, NULL, 0);
  if (scheme == SIGN_NONE) return bh_err(err, errsz, "scheme 'none' takes no secret");
  if (!len) return bh_err(err, errsz, "secret is empty");
  if (scheme == SIGN_STANDARD) return parse_standard(secret, len, out, err, errsz);
  bh_assert(scheme == SIGN_GITHUB);
  unsigned char *bytes = xmalloc(len);
  memcpy(bytes, secret, len);
  key_set(out, 0, bytes, len);
  return 0;
}

void sign_key_free(struct sign_key *k)
{
  forget_hmac(k);
  if (k->bytes) {
    OPENSSL_cleanse(k->bytes, k->len);
    free(k->bytes);
  }
  key_set(k, 0, NULL, 0);
}

/* An HMAC key's two states: SHA-256 after the key's inner pad, and after
 * its outer pad (secret: wiped when the key is freed). */
struct hmac_pads {
  SHA256_CTX inner, outer;
};

/* Keys the HMAC-SHA256 states with k's bytes, for copying per message. */
static void prepare_hmac(struct sign_key *k)
{
  unsigned char block[SHA256_CBLOCK], pad[SHA256_CBLOCK];
  memset(block, 0, sizeof block);
  if (k->len > sizeof block) { /* a long key is hashed first */
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, k->bytes, k->len);
    SHA256_Final(block, &c);
    OPENSSL_cleanse(&c, sizeof c);
  } else {
    memcpy(block, k->bytes, k->len);
  }
  struct hmac_pads *h = xmalloc(sizeof *h);
  for (size_t i = 0; i < sizeof pad; i++)
    pad[i] = block[i] ^ 0x36;
  SHA256_Init(&h->inner);
  SHA256_Update(&h->inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++)
    pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&h->outer);
  SHA256_Update(&h->outer, pad, sizeof pad);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  k->mac = h;
}

static void forget_hmac(struct sign_key *k)
{
  if (!k->mac) return;
  OPENSSL_cleanse(k->mac, sizeof(struct hmac_pads));
  free(k->mac);
  k->mac = NULL;
}

/* HMAC-SHA256 with key of the n pieces part[i][0..len[i]) one after the
 * other, into md (32 bytes): the signed content is never copied together. */
static void hmac_sha256_parts(const struct sign_key *key, size_t n, const void *const *part,
                              const size_t *len, unsigned char *md)
{
  bh_assert(!key->asymmetric && key->len > 0 && key->mac);
  const struct hmac_pads *h = key->mac;
  SHA256_CTX c = h->inner;
  for (size_t i = 0; i < n; i++)
    if (len[i]) SHA256_Update(&c, part[i], len[i]);
  unsigned char inner[SHA256_DIGEST_LENGTH];
  SHA256_Final(inner, &c);
  c = h->outer;
  SHA256_Update(&c, inner, sizeof inner);
  SHA256_Final(md, &c);
  OPENSSL_cleanse(&c, sizeof c);
}

/* HMAC-SHA256 of data[0..n) with key into md (32 bytes). */
static void hmac_sha256(const struct sign_key *key, const void *data, size_t n, unsigned char *md)
{
  const void *part[] = {data};
  size_t len[] = {n};
  hmac_sha256_parts(key, 1, part, len, md);
}

/* ed25519 signature of data[0..n) with the seed in key into sig (64 bytes). */
static void ed25519_sign(const struct sign_key *key, const void *data, size_t n, unsigned char *sig)
{
  bh_assert(key->asymmetric && key->len == ED25519_SEED_LEN);
  EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key->bytes, key->len);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t siglen = ED25519_SIG_LEN;
  bh_assert(pkey && ctx);
  int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
           EVP_DigestSign(ctx, sig, &siglen, n ? data : (const void *)"", n) == 1;
  bh_assert(ok && siglen == ED25519_SIG_LEN);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
}

void sign_standard(const struct sign_key *keys, size_t nkeys, const char *msg_id, int64_t timestamp,
                   const void *body, size_t len, struct buf *out)
{
  if (!nkeys) return;
  /* the signed content "<msg_id>.<timestamp>.": HMAC reads it and the body
   * as pieces; ed25519 signs a whole message (no streaming), so for it the
   * content is put together once and serves every such key */
  char ts[JSON_NUM_ROOM + 2]; /* ".<timestamp>." */
  ts[0] = '.';
  char *te = json_put_i64(ts + 1, timestamp);
  *te++ = '.';
  size_t idlen = strlen(msg_id), tslen = (size_t)(te - ts);
  const void *part[] = {msg_id, ts, body};
  size_t plen[] = {idlen, tslen, len};
  struct buf content = BUF_INIT;

  for (size_t i = 0; i < nkeys; i++) {
    unsigned char sig[ED25519_SIG_LEN];
    if (i) buf_addc(out, ' ');
    if (keys[i].asymmetric) {
      if (!content.len) {
        buf_reserve(&content, idlen + tslen + len);
        buf_add(&content, msg_id, idlen);
        buf_add(&content, ts, tslen);
        buf_add(&content, body, len);
      }
      ed25519_sign(&keys[i], content.p, content.len, sig);
      buf_addlit(out, "v1a,");
      buf_add_base64(out, sig, ED25519_SIG_LEN);
    } else {
      hmac_sha256_parts(&keys[i], 3, part, plen, sig);
      buf_addlit(out, "v1,");
      buf_add_base64(out, sig, 32);
    }
  }
  buf_free(&content);
}

static void add_hex(struct buf *out, const unsigned char *p, size_t n)
{
  static const char digits[] = "0123456789abcdef";
  buf_reserve(out, 2 * n);
  for (size_t i = 0; i < n; i++) {
    buf_addc(out, digits[p[i] >> 4]);
    buf_addc(out, digits[p[i] & 15]);
  }
}

void sign_github(const struct sign_key *key, const void *body, size_t len, struct buf *out)
{
  unsigned char md[32];
  hmac_sha256(key, body, len, md);
  buf_addlit(out, "sha256=");
  add_hex(out, md, sizeof md);
}

void sign_sha256_hex(const void *data, size_t n, struct buf *out)
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data, n);
  SHA256_Final(md, &c);
  add_hex(out, md, sizeof md);
}
