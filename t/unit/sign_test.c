/* sign_test.c - webhook signatures (sign.h) against the published vectors of
 * Standard Webhooks (v1 HMAC, v1a ed25519) and GitHub, read from the JSON
 * file named by argv[1], plus key rotation, secrets refused without being
 * quoted, bodies with NUL bytes, and SHA-256 hex.
 *
 *   sign_test VECTORS.json [--openssl BODY-FILE SECRET WANT-HEX]
 *
 * With --openssl, the GitHub form of the HMAC of BODY-FILE under SECRET must
 * equal WANT-HEX, which t1300 has `openssl dgst` compute: an independent
 * implementation on random bytes. */
#include "deliver/sign.h"
#include "tap.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The published Standard Webhooks inputs, for the tests that combine keys. */
#define SW_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TIMESTAMP 1614265330
#define SW_PAYLOAD "{\"test\": 2432232314}"
#define SW_V1_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_V1_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_V1A_SECRET "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
#define SW_V1A_SIG                                                                                           \
  "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="

/* Parses secret (a C string) for scheme into k; on failure says why. */
static int key_of(enum sign_scheme scheme, const char *secret, struct sign_key *k)
{
  char err[256];
  if (sign_key_parse(scheme, secret, strlen(secret), k, err, sizeof err) < 0) {
    diag("sign_key_parse(%s, '%s'): %s", sign_scheme_name(scheme), secret, err);
    return -1;
  }
  return 0;
}

/* The webhook-signature value for one secret, or NULL; caller frees. */
static char *standard_sig(const char *secret, const char *msg_id, int64_t ts, const void *body, size_t len)
{
  struct sign_key k;
  if (key_of(SIGN_STANDARD, secret, &k) < 0) return NULL;
  struct buf b = BUF_INIT;
  sign_standard(&k, 1, msg_id, ts, body, len, &b);
  sign_key_free(&k);
  return buf_steal(&b);
}

static char *github_sig(const char *secret, size_t secret_len, const void *body, size_t len)
{
  struct sign_key k;
  char err[256];
  if (sign_key_parse(SIGN_GITHUB, secret, secret_len, &k, err, sizeof err) < 0) {
    diag("sign_key_parse(github): %s", err);
    return NULL;
  }
  struct buf b = BUF_INIT;
  sign_github(&k, body, len, &b);
  sign_key_free(&k);
  return buf_steal(&b);
}

static const char *member(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static void test_vectors(const char *path)
{
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!ok(root, "the signing vectors file reads as JSON")) {
    diag("%s:%d: %s", path, jerr.line, jerr.text);
    return;
  }
  int v1 = 0, v1a = 0, gh = 0;
  char name[200];
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(root, "standard_webhooks"), i, v)
  {
    const char *want = member(v, "expected_signature_header"), *secret = member(v, "secret");
    json_t *payload = json_object_get(v, "payload");
    int asym = !strncmp(want, "v1a,", 4);
    /* The v1a vector gives the bare base64 of the seed. */
    struct buf sec = BUF_INIT;
    if (asym && strncmp(secret, "whsk_", 5)) buf_addlit(&sec, "whsk_");
    buf_adds(&sec, secret);
    char *got = standard_sig(sec.p, member(v, "msg_id"), json_integer_value(json_object_get(v, "timestamp")),
                             json_string_value(payload), json_string_length(payload));
    snprintf(name, sizeof name, "standard-webhooks vector %zu (%s)", i, member(v, "scheme"));
    is_str(got, want, name);
    free(got);
    if (!asym && !strncmp(secret, "whsec_", 6)) {
      got = standard_sig(secret + 6, member(v, "msg_id"), json_integer_value(json_object_get(v, "timestamp")),
                         json_string_value(payload), json_string_length(payload));
      snprintf(name, sizeof name, "standard-webhooks vector %zu with the secret's 'whsec_' left out", i);
      is_str(got, want, name);
      free(got);
    }
    buf_free(&sec);
    if (asym)
      v1a++;
    else
      v1++;
  }
  json_array_foreach(json_object_get(root, "github_x_hub_signature_256"), i, v)
  {
    json_t *secret = json_object_get(v, "secret"), *payload = json_object_get(v, "payload");
    char *got = github_sig(json_string_value(secret), json_string_length(secret), json_string_value(payload),
                           json_string_length(payload));
    snprintf(name, sizeof name, "github vector %zu", i);
    is_str(got, member(v, "expected_header"), name);
    free(got);
    gh++;
  }
  ok(v1 >= 1 && v1a >= 1 && gh >= 1, "the file has vectors for v1, v1a and github");
  if (!(v1 >= 1 && v1a >= 1 && gh >= 1)) diag("found %d v1, %d v1a, %d github", v1, v1a, gh);
  json_decref(root);
}

static void test_schemes(void)
{
  static const enum sign_scheme all[] = {SIGN_NONE, SIGN_STANDARD, SIGN_GITHUB};
  int round_trip = 1;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    enum sign_scheme s = SIGN_NONE;
    if (sign_parse_scheme(sign_scheme_name(all[i]), &s) < 0 || s != all[i]) round_trip = 0;
  }
  ok(round_trip, "every scheme's name reads back to the scheme");
  is_str(sign_scheme_name(SIGN_STANDARD), "standard-webhooks", "the Standard Webhooks scheme's name");

  static const char *const bad[] = {"", "Github", "GITHUB", "standard", "standard_webhooks", "none ", "hmac"};
  int refused = 1;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    enum sign_scheme s = SIGN_GITHUB;
    if (sign_parse_scheme(bad[i], &s) != -1 || s != SIGN_GITHUB) {
      diag("'%s' was not refused, or changed the output", bad[i]);
      refused = 0;
    }
  }
  ok(refused, "unknown and misspelled scheme names are refused, the output untouched");
}

/* A secret that decodes to exactly want[0..n) as an HMAC key. */
static void decodes_to(const char *secret, const char *want, size_t n, const char *name)
{
  struct sign_key k;
  int r = key_of(SIGN_STANDARD, secret, &k) == 0;
  ok(r && !k.asymmetric && k.len == n && !memcmp(k.bytes, want, n), name);
  sign_key_free(&k);
}

static void test_base64(void)
{
  decodes_to("whsec_QUJD", "ABC", 3, "base64 without padding needed");
  decodes_to("whsec_QUI=", "AB", 2, "base64 with one '='");
  decodes_to("whsec_QUI", "AB", 2, "base64 with its one '=' left out");
  decodes_to("whsec_QQ==", "A", 1, "base64 with two '='");
  decodes_to("whsec_QQ", "A", 1, "base64 with its two '=' left out");
  decodes_to("AP8+/w==", "\0\xff\x3e\xff", 4, "a bare secret is base64 too, '+' and '/' included");

  /* Random keys of every length up to 64, padded and not. */
  uint64_t seed = 0x2545f4914f6cdd1du;
  int bad = 0;
  for (int round = 0; round < 500; round++) {
    unsigned char key[64];
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    size_t n = 1 + seed % sizeof key;
    for (size_t i = 0; i < n; i++) {
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      key[i] = (unsigned char)(seed >> 32);
    }
    struct buf text = BUF_INIT;
    buf_addlit(&text, "whsec_");
    buf_add_base64(&text, key, n);
    for (int strip = 0; strip < 2; strip++) {
      while (strip && text.p[text.len - 1] == '=')
        text.p[--text.len] = 0;
      struct sign_key k;
      char err[256];
      if (sign_key_parse(SIGN_STANDARD, text.p, text.len, &k, err, sizeof err) < 0 || k.len != n ||
          memcmp(k.bytes, key, n)) {
        if (bad++ < 3) diag("'%s' did not decode to its %zu bytes", text.p, n);
      }
      sign_key_free(&k);
    }
    buf_free(&text);
  }
  ok(!bad, "500 random keys of 1 to 64 bytes read back from base64, padded or not");

  struct sign_key k;
  ok(key_of(SIGN_STANDARD, SW_V1A_SECRET, &k) == 0 && k.asymmetric && k.len == 32 &&
         !memcmp(k.bytes, "TESTSIGNINGKEYDONOTUSETHISFORANY", 32),
     "a 'whsk_' secret is an ed25519 seed of 32 bytes");
  sign_key_free(&k);
  ok(k.bytes == NULL && k.len == 0 && !k.asymmetric, "sign_key_free leaves the key zeroed");
  sign_key_free(&k);
  ok(1, "sign_key_free twice is harmless");
}

/* secret[0..len) must be refused for scheme with a message that contains
 * want, starts in lowercase and quotes neither the secret nor what follows
 * its prefix; the key must come back zeroed. */
static void refused(enum sign_scheme scheme, const char *secret, size_t len, const char *want,
                    const char *name)
{
  struct sign_key k = {1, (unsigned char *)"junk", 4, NULL};
  char err[256] = "";
  int r = sign_key_parse(scheme, secret, len, &k, err, sizeof err);
  const char *rest = secret;
  if (!strncmp(secret, "whsec_", 6)) rest += 6;
  if (!strncmp(secret, "whsk_", 5) || !strncmp(secret, "whpk_", 5)) rest += 5;
  int leaks = len && *rest && (strstr(err, secret) || strstr(err, rest));
  int good = r == -1 && strstr(err, want) && err[0] >= 'a' && err[0] <= 'z' && !leaks && k.bytes == NULL &&
             k.len == 0;
  if (!ok(good, name)) diag("status %d, message '%s'%s", r, err, leaks ? " (quotes the secret)" : "");
  sign_key_free(&k);
}

#define refuses(scheme, lit, want, name) refused((scheme), (lit), sizeof(lit) - 1, (want), (name))

static void test_bad_secrets(void)
{
  refuses(SIGN_STANDARD, "", "secret is empty", "an empty secret is refused");
  refuses(SIGN_GITHUB, "", "secret is empty", "an empty GitHub secret is refused");
  refuses(SIGN_STANDARD, "whsec_", "secret is empty after 'whsec_'", "'whsec_' alone is refused");
  refuses(SIGN_STANDARD, "whsk_", "secret is empty after 'whsk_'", "'whsk_' alone is refused");
  refuses(SIGN_NONE, "whsec_QUJD", "scheme 'none' takes no secret", "scheme none takes no secret");
  refuses(SIGN_STANDARD, "whsec_Zm9v!mFy", "secret is not valid base64 after 'whsec_': character 11 is not",
          "a character outside base64 is refused, by position");
  refuses(SIGN_STANDARD, "whsec_Zm9vYmFy\n", "character 15 is not in the base64 alphabet",
          "a trailing newline is refused");
  refuses(SIGN_STANDARD, "whsec_Zm9v YmFy", "character 11", "inner whitespace is refused");
  refuses(SIGN_STANDARD, "whsec_-_-_Zm9v", "character 7", "the URL-safe alphabet is refused");
  refuses(SIGN_STANDARD, "whsec_Zm9=YmFy", "misplaced '=' at character 10", "'=' inside the text is refused");
  refuses(SIGN_STANDARD, "whsec_QQ=", "misplaced '='", "a partial padding is refused");
  refuses(SIGN_STANDARD, "whsec_QUJDR", "is it cut short", "a length no base64 text has is refused");
  refuses(SIGN_STANDARD, "whsec_QUJ", "bits no encoder sets", "set bits after the last byte are refused");
  refuses(SIGN_STANDARD, "sekrit-passw0rd", "secret is not valid base64: character 7",
          "a bare secret that is not base64 is refused, naming the prefixes");
  refuses(SIGN_STANDARD, "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTg==",
          "must decode to a 32-byte ed25519 seed, not 31 bytes", "a 31-byte 'whsk_' seed is refused");
  refuses(SIGN_STANDARD, "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTllZ",
          "must decode to a 32-byte ed25519 seed, not 33 bytes", "a 33-byte 'whsk_' seed is refused");
  refuses(SIGN_STANDARD, "whsk_not*base64", "not valid base64 after 'whsk_'", "a 'whsk_' seed not in base64");
  refuses(SIGN_STANDARD, "whpk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=", "public key",
          "a 'whpk_' public key is refused as unable to sign");
}

static void test_rotation(void)
{
  struct sign_key keys[3];
  int r = key_of(SIGN_STANDARD, SW_V1_SECRET, &keys[0]) | key_of(SIGN_STANDARD, SW_V1A_SECRET, &keys[1]) |
          key_of(SIGN_STANDARD, "whsec_c2Vjb25kIGtleQ==", &keys[2]);
  if (!ok(r == 0, "three keys parse")) {
    for (int i = 0; i < 3; i++)
      sign_key_free(&keys[i]);
    return;
  }

  struct buf b = BUF_INIT;
  sign_standard(keys, 2, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  is_str(b.p, SW_V1_SIG " " SW_V1A_SIG, "an HMAC and an ed25519 key give both signatures in order");

  buf_reset(&b);
  sign_standard(keys + 1, 1, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  buf_addc(&b, ' ');
  sign_standard(keys, 1, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  buf_addc(&b, ' ');
  sign_standard(keys + 2, 1, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  char *each = buf_steal(&b);
  struct sign_key swapped[3] = {keys[1], keys[0], keys[2]};
  buf_addlit(&b, "kept:");
  sign_standard(swapped, 3, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  ok(!strncmp(b.p, "kept:", 5) && !strcmp(b.p + 5, each),
     "three keys give the three one-key signatures, single spaces between, appended");
  ok(!strncmp(b.p + 5, "v1a,", 4) && strstr(b.p, SW_V1A_SIG " " SW_V1_SIG " v1,"), "the keys' order is kept");
  free(each);

  buf_reset(&b);
  buf_addlit(&b, "x");
  sign_standard(keys, 0, SW_MSG_ID, SW_TIMESTAMP, SW_PAYLOAD, strlen(SW_PAYLOAD), &b);
  is_str(b.p, "x", "no key appends nothing");
  buf_free(&b);
  for (int i = 0; i < 3; i++)
    sign_key_free(&keys[i]);
}

/* An ed25519 signature verifies with the public key of seed over msg. */
static int ed25519_verifies(const unsigned char *seed, const char *sig_b64, const void *msg, size_t n)
{
  unsigned char sig[80];
  if (strlen(sig_b64) != 88 || EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, 88) != 66) return 0;
  EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
  unsigned char pub[32];
  size_t publen = sizeof pub;
  EVP_PKEY *pkey = NULL;
  if (priv && EVP_PKEY_get_raw_public_key(priv, pub, &publen) == 1)
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, publen);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int r = pkey && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
          EVP_DigestVerify(ctx, sig, 64, msg, n) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  EVP_PKEY_free(priv);
  return r;
}

static void test_nul_bytes(void)
{
  char *got = standard_sig(SW_V1_SECRET, "msg_1", -5, "\0x\0", 3);
  is_str(got, "v1,S1VR32GRGnzmNe9RK+A+idBn+JTWoWtMcRDO0umC3kA=",
         "v1 signs every byte of a body with NUL bytes (and a negative timestamp)");
  free(got);
  got = standard_sig(SW_V1_SECRET, "msg_2", 0, NULL, 0);
  is_str(got, "v1,lZuAF50VFkFoxyuE5wrLldoSs1YJ7rrEYxZ9JpMXPBs=", "v1 of an empty body");
  free(got);

  got = github_sig("key", 3, "a\0b\0", 4);
  is_str(got, "sha256=0dee5d1d6b8851f75f803d7982bfaae4a5649409c5ca9c0a09dc92e1610b55f8",
         "github signs every byte of a body with NUL bytes");
  free(got);

  static const char content[] = "msg_3.7.\0body\0";
  got = standard_sig(SW_V1A_SECRET, "msg_3", 7, "\0body\0", 6);
  const unsigned char *seed = (const unsigned char *)"TESTSIGNINGKEYDONOTUSETHISFORANY";
  ok(got && !strncmp(got, "v1a,", 4) && ed25519_verifies(seed, got + 4, content, sizeof content - 1),
     "v1a signs every byte of a body with NUL bytes (verified with the public key)");
  ok(got && !ed25519_verifies(seed, got + 4, content, 9), "and does not verify for the body cut at its NUL");
  free(got);

  char *with_nul = github_sig("se\0cret", 7, "x", 1), *cut = github_sig("se", 2, "x", 1);
  ok(with_nul && cut && strcmp(with_nul, cut), "a GitHub secret's bytes after a NUL count");
  free(with_nul);
  free(cut);

  struct sign_key k;
  ok(key_of(SIGN_GITHUB, "whsec_QUJD", &k) == 0 && k.len == 10 && !memcmp(k.bytes, "whsec_QUJD", 10),
     "a GitHub secret is raw bytes, even one that looks like a Standard Webhooks secret");
  sign_key_free(&k);
}

static void test_sha256(void)
{
  struct buf b = BUF_INIT;
  sign_sha256_hex("", 0, &b);
  is_str(b.p, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "sha256 of the empty string");
  buf_reset(&b);
  buf_addlit(&b, "h=");
  sign_sha256_hex("abc", 3, &b);
  is_str(b.p, "h=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "sha256 of 'abc', appended");
  buf_reset(&b);
  sign_sha256_hex(NULL, 0, &b);
  is_int(b.len, 64, "sha256 of no data at NULL");
  buf_free(&b);
}

/* The GitHub header of the file at path under secret equals "sha256=" want. */
static void test_openssl(const char *path, const char *secret, const char *want)
{
  FILE *f = fopen(path, "rb");
  struct buf body = BUF_INIT;
  if (f) {
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
      buf_add(&body, chunk, n);
    fclose(f);
  }
  char *got = github_sig(secret, strlen(secret), body.p, body.len);
  struct buf w = BUF_INIT;
  buf_addlit(&w, "sha256=");
  buf_adds(&w, want);
  char name[120];
  snprintf(name, sizeof name, "github form agrees with 'openssl dgst' on %zu random bytes", body.len);
  ok(f != NULL && body.len > 0, "the random body file reads");
  is_str(got, w.p, name);
  free(got);
  buf_free(&w);
  buf_free(&body);
}

int main(int argc, char **argv)
{
  if (argc != 2 && !(argc == 6 && !strcmp(argv[2], "--openssl"))) {
    fprintf(stderr, "usage: sign_test VECTORS.json [--openssl BODY-FILE SECRET WANT-HEX]\n");
    return 2;
  }
  test_vectors(argv[1]);
  test_schemes();
  test_base64();
  test_bad_secrets();
  test_rotation();
  test_nul_bytes();
  test_sha256();
  if (argc == 6) {
    test_openssl(argv[3], argv[4], argv[5]);
  } else {
    ok(1, "github form agrees with 'openssl dgst' # skip no --openssl arguments");
  }
  return done_testing();
}
