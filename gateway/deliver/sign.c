/* sign.c - see sign.h. */
#include "deliver/sign.h"

#include "util/util.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <limits.h>
#include <pthread.h>
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
  EVP_MAC_CTX_free(k->mac);
  if (k->bytes) {
    OPENSSL_cleanse(k->bytes, k->len);
    free(k->bytes);
  }
  key_set(k, 0, NULL, 0);
}

/* The algorithms, fetched from the provider once: OpenSSL 3 looks them up
 * (under a lock) on every implicit use, which costs more than the hashing
 * of a webhook's body. They live as long as the process. */
static EVP_MAC *hmac_alg;
static EVP_MD *sha256_alg;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void fetch_algs(void)
{
  hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
  sha256_alg = EVP_MD_fetch(NULL, "SHA256", NULL);
  bh_assert(hmac_alg && sha256_alg);
}

/* Keys an HMAC-SHA256 state with k's bytes, for copying per message. */
static void prepare_hmac(struct sign_key *k)
{
  pthread_once(&algs_once, fetch_algs);
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  bh_assert(ctx && EVP_MAC_init(ctx, k->bytes, k->len, params) == 1);
  k->mac = ctx;
}

/* HMAC-SHA256 of data[0..n) with key into md (32 bytes). */
static void hmac_sha256(const struct sign_key *key, const void *data, size_t n, unsigned char *md)
{
  size_t mdlen = 0;
  bh_assert(!key->asymmetric && key->len > 0 && key->mac);
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(key->mac);
  int ok = ctx && EVP_MAC_update(ctx, n ? data : (const void *)"", n) == 1 &&
           EVP_MAC_final(ctx, md, &mdlen, 32) == 1;
  bh_assert(ok && mdlen == 32);
  EVP_MAC_CTX_free(ctx);
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
  /* ed25519 signs a whole message (no streaming), so the signed content is
   * put together once and serves every key. */
  struct buf content = BUF_INIT;
  buf_reserve(&content, strlen(msg_id) + 22 + len);
  buf_adds(&content, msg_id);
  buf_addc(&content, '.');
  buf_add_i64(&content, timestamp);
  buf_addc(&content, '.');
  buf_add(&content, body, len);

  for (size_t i = 0; i < nkeys; i++) {
    unsigned char sig[ED25519_SIG_LEN];
    if (i) buf_addc(out, ' ');
    if (keys[i].asymmetric) {
      ed25519_sign(&keys[i], content.p, content.len, sig);
      buf_addlit(out, "v1a,");
      buf_add_base64(out, sig, ED25519_SIG_LEN);
    } else {
      hmac_sha256(&keys[i], content.p, content.len, sig);
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
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  pthread_once(&algs_once, fetch_algs);
  int ok = EVP_Digest(n ? data : "", n, md, &mdlen, sha256_alg, NULL) == 1;
  bh_assert(ok && mdlen == 32);
  add_hex(out, md, mdlen);
}
