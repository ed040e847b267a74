/* binlog.c - see binlog.h. */
#include "source/binlog.h"
#include "util/util.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

void binlog_format_default(struct binlog_format *f)
{
  memset(f, 0, sizeof *f);
  f->version = 4;
  f->header_len = BL_HEADER_LEN;
  /* Post-header lengths of a v4 format description, for the types whose
   * layout is fixed; used only until the real one arrives. */
  f->post_header_len[BL_QUERY] = 13;
  f->post_header_len[BL_ROTATE] = 8;
  f->post_header_len[BL_FORMAT_DESCRIPTION] = 84;
  f->post_header_len[BL_TABLE_MAP] = 8;
  f->post_header_len[BL_WRITE_ROWS_V1] = f->post_header_len[BL_UPDATE_ROWS_V1] =
      f->post_header_len[BL_DELETE_ROWS_V1] = 8;
  f->post_header_len[BL_WRITE_ROWS] = f->post_header_len[BL_UPDATE_ROWS] =
      f->post_header_len[BL_DELETE_ROWS] = f->post_header_len[BL_PARTIAL_UPDATE_ROWS] = 10;
}

int binlog_parse_header(const unsigned char *ev, size_t n, struct binlog_header *h, char *err, size_t errsz)
{
  if (n < BL_HEADER_LEN) return bh_err(err, errsz, "event header cut short: %zu of 19 bytes", n);
  h->timestamp = le32(ev);
  h->type = ev[4];
  h->server_id = le32(ev + 5);
  h->length = le32(ev + 9);
  h->log_pos = le32(ev + 13);
  h->flags = le16(ev + 17);
  if (h->length < BL_HEADER_LEN)
    return bh_err(err, errsz, "event length %u is shorter than its header", h->length);
  return 0;
}

/* Server versions from which FORMAT_DESCRIPTION carries the checksum
 * algorithm byte: MySQL 5.6.1 and MariaDB 5.3. */
static int version_has_checksum_byte(const char *v, int mariadb)
{
  unsigned a = 0, b = 0, c = 0;
  if (sscanf(v, "%u.%u.%u", &a, &b, &c) < 2) return 0;
  if (mariadb) return a > 5 || (a == 5 && b >= 3);
  return a > 5 || (a == 5 && (b > 6 || (b == 6 && c >= 1)));
}

int binlog_parse_format(const unsigned char *ev, size_t n, struct binlog_format *f, char *err, size_t errsz)
{
  struct binlog_header h;
  if (binlog_parse_header(ev, n, &h, err, errsz)) return -1;
  if (n < BL_HEADER_LEN + 2 + 50 + 4 + 1)
    return bh_err(err, errsz, "FORMAT_DESCRIPTION event cut short (%zu bytes)", n);
  struct binlog_format nf;
  memset(&nf, 0, sizeof nf);
  const unsigned char *p = ev + BL_HEADER_LEN;
  nf.version = le16(p);
  memcpy(nf.server_version, p + 2, 50);
  nf.server_version[50] = 0;
  nf.header_len = p[2 + 50 + 4];
  if (nf.header_len < BL_HEADER_LEN)
    return bh_err(err, errsz, "FORMAT_DESCRIPTION gives a header length of %u", nf.header_len);
  nf.mariadb = strstr(nf.server_version, "MariaDB") != NULL || strstr(nf.server_version, "-maria") != NULL;
  const unsigned char *ph = p + 2 + 50 + 4 + 1;
  size_t nph = (size_t)(ev + n - ph);
  if (version_has_checksum_byte(nf.server_version, nf.mariadb) && nph >= 5) {
    /* The last 5 bytes: the algorithm, then this event's own checksum slot. */
    uint8_t alg = ev[n - 5];
    nph -= 5;
    nf.checksum = alg == 1;
    if (alg != 0 && alg != 1 && alg != 0xff)
      return bh_err(err, errsz, "unknown binlog checksum algorithm %u", alg);
  }
  if (nph > 255) nph = 255;
  for (size_t i = 0; i < nph; i++) nf.post_header_len[i + 1] = ph[i];
  *f = nf;
  return 0;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* CRC-32 (zlib's) by folding with carry-less multiplication, 16 bytes at a
 * time, where the processor has it: every event is checked, and zlib's
 * table-driven loop took more time than decoding some of them.
 *
 * The bytes are the coefficients of a polynomial, bit-reflected as the CRC
 * is. With A the 128 bits folded so far, H and L its halves (the first 8
 * bytes hold H), and B the next 16 bytes, A * x^128 + B keeps the remainder
 * modulo P the CRC divides by, and so does H * (x^192 mod P) +
 * L * (x^128 mod P) + B, which fits in 128 bits again. In the reflected
 * order a constant K (degree < 32) multiplies as reflect32(x^-1 * K) << 32
 * = reflect32(x^(e-1) mod P) << 32 for K = x^e mod P. Four lanes fold 64
 * bytes apart (x^576 and x^512), then into one; the 16 bytes left in the
 * accumulator have the CRC of the data folded, so zlib finishes from
 * there. */
#include <immintrin.h>
#define CRC_FOLDING 1

__attribute__((target("pclmul"))) static inline __m128i crc_fold(__m128i a, __m128i k, __m128i next)
{
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)),
                       next);
}

/* zlib's crc32(crc, p, n) for n >= 64. */
__attribute__((target("pclmul"))) static uint32_t crc32_folding(uint32_t crc, const unsigned char *p,
                                                                size_t n)
{
  /* x^191 and x^127 (one lane), x^575 and x^511 (four lanes), as above */
  const __m128i k1 = _mm_set_epi64x((long long)0x9ba54c6f00000000ULL, (long long)0x65673b4600000000ULL);
  const __m128i k4 = _mm_set_epi64x((long long)0xcad38e8f00000000ULL, (long long)0x653d982200000000ULL);
  __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
  x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc)); /* the initial register */
  p += 64, n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x0 = crc_fold(x0, k4, _mm_loadu_si128((const __m128i *)(const void *)p));
    x1 = crc_fold(x1, k4, _mm_loadu_si128((const __m128i *)(const void *)(p + 16)));
    x2 = crc_fold(x2, k4, _mm_loadu_si128((const __m128i *)(const void *)(p + 32)));
    x3 = crc_fold(x3, k4, _mm_loadu_si128((const __m128i *)(const void *)(p + 48)));
  }
  x0 = crc_fold(crc_fold(crc_fold(x0, k1, x1), k1, x2), k1, x3);
  for (; n >= 16; p += 16, n -= 16) x0 = crc_fold(x0, k1, _mm_loadu_si128((const __m128i *)(const void *)p));
  unsigned char last[16];
  _mm_storeu_si128((__m128i *)(void *)last, x0);
  /* zlib's crc32 inverts the register on the way in and out */
  uint32_t reg = ~(uint32_t)crc32(0xffffffffUL, last, 16);
  return (uint32_t)crc32(~reg & 0xffffffffUL, p, (uInt)n);
}
#endif

/* zlib's crc32 of n bytes, folding when the processor can. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
#ifdef CRC_FOLDING
  if (n >= 64 && __builtin_cpu_supports("pclmul")) return crc32_folding(0, p, n);
#endif
  return (uint32_t)crc32(0L, p, (uInt)n);
}

int binlog_verify_checksum(const unsigned char *ev, size_t n)
{
  if (n < BL_HEADER_LEN + BL_CHECKSUM_LEN) return -1;
  uint32_t want = le32(ev + n - 4);
  uint32_t got = crc32_of(ev, n - 4);
  return want == got ? 0 : -1;
}

const char *binlog_type_name(uint8_t type)
{
  switch (type) {
  case BL_START_V3: return "START_V3";
  case BL_QUERY: return "QUERY";
  case BL_STOP: return "STOP";
  case BL_ROTATE: return "ROTATE";
  case BL_INTVAR: return "INTVAR";
  case BL_RAND: return "RAND";
  case BL_USER_VAR: return "USER_VAR";
  case BL_FORMAT_DESCRIPTION: return "FORMAT_DESCRIPTION";
  case BL_XID: return "XID";
  case BL_BEGIN_LOAD_QUERY: return "BEGIN_LOAD_QUERY";
  case BL_EXECUTE_LOAD_QUERY: return "EXECUTE_LOAD_QUERY";
  case BL_TABLE_MAP: return "TABLE_MAP";
  case BL_PRE_GA_WRITE_ROWS: return "WRITE_ROWS_V0";
  case BL_PRE_GA_UPDATE_ROWS: return "UPDATE_ROWS_V0";
  case BL_PRE_GA_DELETE_ROWS: return "DELETE_ROWS_V0";
  case BL_WRITE_ROWS_V1: return "WRITE_ROWS_V1";
  case BL_UPDATE_ROWS_V1: return "UPDATE_ROWS_V1";
  case BL_DELETE_ROWS_V1: return "DELETE_ROWS_V1";
  case BL_INCIDENT: return "INCIDENT";
  case BL_HEARTBEAT: return "HEARTBEAT";
  case BL_IGNORABLE: return "IGNORABLE";
  case BL_ROWS_QUERY: return "ROWS_QUERY";
  case BL_WRITE_ROWS: return "WRITE_ROWS";
  case BL_UPDATE_ROWS: return "UPDATE_ROWS";
  case BL_DELETE_ROWS: return "DELETE_ROWS";
  case BL_GTID: return "GTID";
  case BL_ANONYMOUS_GTID: return "ANONYMOUS_GTID";
  case BL_PREVIOUS_GTIDS: return "PREVIOUS_GTIDS";
  case BL_TRANSACTION_CONTEXT: return "TRANSACTION_CONTEXT";
  case BL_VIEW_CHANGE: return "VIEW_CHANGE";
  case BL_XA_PREPARE: return "XA_PREPARE";
  case BL_PARTIAL_UPDATE_ROWS: return "PARTIAL_UPDATE_ROWS";
  case BL_TRANSACTION_PAYLOAD: return "TRANSACTION_PAYLOAD";
  case BL_HEARTBEAT_V2: return "HEARTBEAT_V2";
  case BL_GTID_TAGGED: return "GTID_TAGGED";
  case BL_MARIA_ANNOTATE_ROWS: return "ANNOTATE_ROWS";
  case BL_MARIA_BINLOG_CHECKPOINT: return "BINLOG_CHECKPOINT";
  case BL_MARIA_GTID: return "MARIADB_GTID";
  case BL_MARIA_GTID_LIST: return "MARIADB_GTID_LIST";
  case BL_MARIA_START_ENCRYPTION: return "START_ENCRYPTION";
  case BL_MARIA_QUERY_COMPRESSED: return "QUERY_COMPRESSED";
  case BL_MARIA_WRITE_ROWS_COMPRESSED_V1: return "WRITE_ROWS_COMPRESSED_V1";
  case BL_MARIA_UPDATE_ROWS_COMPRESSED_V1: return "UPDATE_ROWS_COMPRESSED_V1";
  case BL_MARIA_DELETE_ROWS_COMPRESSED_V1: return "DELETE_ROWS_COMPRESSED_V1";
  case BL_MARIA_WRITE_ROWS_COMPRESSED: return "WRITE_ROWS_COMPRESSED";
  case BL_MARIA_UPDATE_ROWS_COMPRESSED: return "UPDATE_ROWS_COMPRESSED";
  case BL_MARIA_DELETE_ROWS_COMPRESSED: return "DELETE_ROWS_COMPRESSED";
  default: return "UNKNOWN";
  }
}

const unsigned char *reader_take(struct reader *r, size_t n)
{
  if (r->overrun || reader_left(r) < n) {
    r->overrun = 1;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  return p;
}

uint64_t reader_uint(struct reader *r, size_t n)
{
  const unsigned char *p = reader_take(r, n);
  if (!p) return 0;
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

uint64_t reader_packed(struct reader *r)
{
  const unsigned char *p = reader_take(r, 1);
  if (!p) return 0;
  if (*p < 0xfb) return *p;
  if (*p == 0xfc) return reader_uint(r, 2);
  if (*p == 0xfd) return reader_uint(r, 3);
  if (*p == 0xfe) return reader_uint(r, 8);
  r->overrun = 1; /* 0xfb (NULL) and 0xff are not lengths */
  return 0;
}

int binlog_verify_fde_checksum(const unsigned char *ev, size_t n)
{
  if (!binlog_verify_checksum(ev, n)) return 0;
  /* The server sets and clears the "in use" flag of a file's
   * FORMAT_DESCRIPTION in place, without computing the checksum again. */
  if (n < BL_HEADER_LEN + BL_CHECKSUM_LEN) return -1;
  uint32_t want = le32(ev + n - 4);
  unsigned char flag = (unsigned char)(ev[17] ^ 1);
  uLong crc = crc32(0L, ev, 17);
  crc = crc32(crc, &flag, 1);
  crc = crc32(crc, ev + 18, (uInt)(n - 4 - 18));
  return (uint32_t)crc == want ? 0 : -1;
}
