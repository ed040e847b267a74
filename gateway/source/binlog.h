/* binlog.h - the binary log's framing, shared by every reader: event type
 * codes (MySQL and MariaDB), the common event header, the format description
 * that says how to read the rest, checksums, and the packed integers and
 * strings that event bodies are made of. Pure functions over byte ranges;
 * nothing here allocates. */
#ifndef BH_BINLOG_H
#define BH_BINLOG_H

#include <stddef.h>
#include <stdint.h>

enum binlog_event_type {
  BL_UNKNOWN = 0,
  BL_START_V3 = 1,
  BL_QUERY = 2,
  BL_STOP = 3,
  BL_ROTATE = 4,
  BL_INTVAR = 5,
  BL_LOAD = 6,
  BL_SLAVE = 7,
  BL_CREATE_FILE = 8,
  BL_APPEND_BLOCK = 9,
  BL_EXEC_LOAD = 10,
  BL_DELETE_FILE = 11,
  BL_NEW_LOAD = 12,
  BL_RAND = 13,
  BL_USER_VAR = 14,
  BL_FORMAT_DESCRIPTION = 15,
  BL_XID = 16,
  BL_BEGIN_LOAD_QUERY = 17,
  BL_EXECUTE_LOAD_QUERY = 18,
  BL_TABLE_MAP = 19,
  BL_PRE_GA_WRITE_ROWS = 20,
  BL_PRE_GA_UPDATE_ROWS = 21,
  BL_PRE_GA_DELETE_ROWS = 22,
  BL_WRITE_ROWS_V1 = 23,
  BL_UPDATE_ROWS_V1 = 24,
  BL_DELETE_ROWS_V1 = 25,
  BL_INCIDENT = 26,
  BL_HEARTBEAT = 27,
  BL_IGNORABLE = 28,
  BL_ROWS_QUERY = 29,
  BL_WRITE_ROWS = 30,
  BL_UPDATE_ROWS = 31,
  BL_DELETE_ROWS = 32,
  BL_GTID = 33,
  BL_ANONYMOUS_GTID = 34,
  BL_PREVIOUS_GTIDS = 35,
  BL_TRANSACTION_CONTEXT = 36,
  BL_VIEW_CHANGE = 37,
  BL_XA_PREPARE = 38,
  BL_PARTIAL_UPDATE_ROWS = 39,
  BL_TRANSACTION_PAYLOAD = 40,
  BL_HEARTBEAT_V2 = 41,
  BL_GTID_TAGGED = 42,
  /* MariaDB */
  BL_MARIA_ANNOTATE_ROWS = 160,
  BL_MARIA_BINLOG_CHECKPOINT = 161,
  BL_MARIA_GTID = 162,
  BL_MARIA_GTID_LIST = 163,
  BL_MARIA_START_ENCRYPTION = 164,
  BL_MARIA_QUERY_COMPRESSED = 165,
  BL_MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
  BL_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
  BL_MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
  BL_MARIA_WRITE_ROWS_COMPRESSED = 169,
  BL_MARIA_UPDATE_ROWS_COMPRESSED = 170,
  BL_MARIA_DELETE_ROWS_COMPRESSED = 171,
};

/* Header flags. */
#define BL_F_ARTIFICIAL 0x0020 /* made up by the server for this connection */
#define BL_F_IGNORABLE 0x0080  /* a reader that does not know the type may skip it */

#define BL_HEADER_LEN 19
#define BL_CHECKSUM_LEN 4
#define BL_MAGIC "\xfe\x62\x69\x6e"

/* Column type codes as they appear in TABLE_MAP events. */
enum mysql_col_type {
  MT_DECIMAL = 0, MT_TINY = 1, MT_SHORT = 2, MT_LONG = 3, MT_FLOAT = 4, MT_DOUBLE = 5, MT_NULL = 6,
  MT_TIMESTAMP = 7, MT_LONGLONG = 8, MT_INT24 = 9, MT_DATE = 10, MT_TIME = 11, MT_DATETIME = 12,
  MT_YEAR = 13, MT_NEWDATE = 14, MT_VARCHAR = 15, MT_BIT = 16, MT_TIMESTAMP2 = 17, MT_DATETIME2 = 18,
  MT_TIME2 = 19, MT_TYPED_ARRAY = 20, MT_VECTOR = 242, MT_VARCHAR_COMPRESSED = 140,
  MT_BLOB_COMPRESSED = 141, MT_JSON = 245, MT_NEWDECIMAL = 246, MT_ENUM = 247, MT_SET = 248,
  MT_TINY_BLOB = 249, MT_MEDIUM_BLOB = 250, MT_LONG_BLOB = 251, MT_BLOB = 252, MT_VAR_STRING = 253,
  MT_STRING = 254, MT_GEOMETRY = 255,
};

struct binlog_header {
  uint32_t timestamp;
  uint8_t type;
  uint32_t server_id;
  uint32_t length;   /* whole event, header and checksum included */
  uint32_t log_pos;  /* offset just past this event in its file; 0 for some artificial events */
  uint16_t flags;
};

/* What the FORMAT_DESCRIPTION event of a file says about the events after it. */
struct binlog_format {
  uint16_t version;            /* binlog format version: 1, 3 or 4 */
  char server_version[51];
  uint8_t header_len;          /* common header length, 19 for v4 */
  uint8_t post_header_len[256];/* per event type; 0 when unknown */
  int checksum;                /* 1: events end with a CRC32 */
  int mariadb;                 /* written by MariaDB */
};

/* The format assumed before any FORMAT_DESCRIPTION is seen (v4, no checksum). */
void binlog_format_default(struct binlog_format *f);

/* Parses the common header of ev (n bytes available). Returns 0 or -1 (err). */
int binlog_parse_header(const unsigned char *ev, size_t n, struct binlog_header *h, char *err, size_t errsz);

/* Parses a FORMAT_DESCRIPTION event (whole event, header included) into f,
 * including whether later events carry checksums. Returns 0 or -1 (err). */
int binlog_parse_format(const unsigned char *ev, size_t n, struct binlog_format *f, char *err, size_t errsz);

/* Checks the CRC32 at the end of ev (n bytes). Returns 0 when it matches. */
int binlog_verify_checksum(const unsigned char *ev, size_t n);

/* Same for a FORMAT_DESCRIPTION event, whose "in use" flag may have been
 * cleared after its checksum was computed. */
int binlog_verify_fde_checksum(const unsigned char *ev, size_t n);

/* The event type's name for messages ("WRITE_ROWS", "MARIA_GTID", ...). */
const char *binlog_type_name(uint8_t type);

/* A bounds-checked reader over one event body. Reads past the end set
 * r->overrun and return zeros, so decoders check once at the end of a field
 * group instead of after every byte. */
struct reader {
  const unsigned char *p, *end;
  int overrun;
};

static inline void reader_init(struct reader *r, const unsigned char *p, size_t n)
{
  r->p = p;
  r->end = p + n;
  r->overrun = 0;
}
static inline size_t reader_left(const struct reader *r) { return (size_t)(r->end - r->p); }
/* Returns a pointer to the next n bytes and skips them, or NULL on overrun. */
const unsigned char *reader_take(struct reader *r, size_t n);
uint64_t reader_uint(struct reader *r, size_t n); /* little-endian, n <= 8 */
/* MySQL's length-encoded integer (0xfb..0xfe prefixes). */
uint64_t reader_packed(struct reader *r);

#endif
