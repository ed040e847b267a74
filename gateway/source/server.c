/* server.c - see server.h. */
#include "source/server.h"
#include "source/gtidpos.h"
#include "util/util.h"

#include <errmsg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statements are quoted in messages up to this many characters: a longer
 * one would push the server's words out of the caller's buffer. */
#define SQL_SHOWN "300"

int server_exec(MYSQL *m, const char *sql, char *err, size_t errsz)
{
  if (mysql_query(m, sql))
    return bh_err(err, errsz, "query '%." SQL_SHOWN "s' failed: %s", sql, mysql_error(m));
  MYSQL_RES *r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return 0;
}

MYSQL_RES *server_query(MYSQL *m, const char *sql, char *err, size_t errsz)
{
  if (mysql_query(m, sql)) {
    bh_err(err, errsz, "query '%." SQL_SHOWN "s' failed: %s", sql, mysql_error(m));
    return NULL;
  }
  MYSQL_RES *r = mysql_store_result(m);
  if (!r) bh_err(err, errsz, "query '%." SQL_SHOWN "s' returned no result: %s", sql, mysql_error(m));
  return r;
}

int server_query_row(MYSQL *m, const char *sql, MYSQL_ROW *row, MYSQL_RES **res, char *err, size_t errsz)
{
  *res = server_query(m, sql, err, errsz);
  if (!*res) return -1;
  *row = mysql_fetch_row(*res);
  return 0;
}

int server_binlog_position(MYSQL *m, struct position *p, char *err, size_t errsz)
{
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  if (server_query_row(m, "SHOW MASTER STATUS", &row, &res, err, errsz) &&
      server_query_row(m, "SHOW BINARY LOG STATUS", &row, &res, err, errsz))
    return -1;
  int have = row && row[0] && row[1];
  if (have) {
    memset(p, 0, sizeof *p);
    snprintf(p->file, sizeof p->file, "%s", row[0]);
    p->pos = strtoull(row[1], NULL, 10);
  }
  mysql_free_result(res);
  return have;
}

int server_gtid_state_at(MYSQL *m, int mariadb, const char *file, uint64_t pos, struct buf *out, char *err,
                         size_t errsz)
{
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  int have = 0;
  if (mariadb) {
    struct buf q = BUF_INIT;
    buf_addlit(&q, "SELECT BINLOG_GTID_POS(");
    server_add_quoted(m, &q, file);
    buf_printf(&q, ", %" PRIu64 ")", pos);
    int rc = server_query_row(m, q.p, &row, &res, err, errsz);
    buf_free(&q);
    if (rc) return -1;
    have = row && row[0]; /* NULL: not a boundary, or a file it no longer has */
    if (have) buf_adds(out, row[0]);
  } else {
    if (server_query_row(m, "SHOW MASTER STATUS", &row, &res, err, errsz) &&
        server_query_row(m, "SHOW BINARY LOG STATUS", &row, &res, err, errsz))
      return -1;
    /* File, Position, Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set */
    have = row && mysql_num_fields(res) >= 5 && row[0] && row[1] && row[4] && !strcmp(row[0], file) &&
           strtoull(row[1], NULL, 10) == pos;
    if (have) buf_adds(out, row[4]);
  }
  mysql_free_result(res);
  return have;
}

int server_has_binlog(const struct conn_opts *co, const char *file)
{
  char err[512];
  MYSQL *m = conn_open(co, err, sizeof err);
  if (!m) return -1;
  int found = -1;
  MYSQL_RES *res = server_query(m, "SHOW BINARY LOGS", err, sizeof err);
  if (res) {
    MYSQL_ROW row;
    found = 0;
    while ((row = mysql_fetch_row(res)))
      if (row[0] && !strcmp(row[0], file)) found = 1;
    mysql_free_result(res);
  }
  mysql_close(m);
  return found;
}

int server_binlogs_reach(const struct conn_opts *co, const char *state)
{
  char err[512];
  MYSQL *m = conn_open(co, err, sizeof err);
  if (!m) return -1;
  int reach = -1;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row = NULL;
  struct buf start = BUF_INIT;
  char oldest[POS_FILE_MAX] = "";
  if (!server_query_row(m, "SHOW BINARY LOGS", &row, &res, err, sizeof err)) {
    if (row && row[0]) snprintf(oldest, sizeof oldest, "%s", row[0]);
    mysql_free_result(res);
  }
  if (oldest[0] && server_gtid_state_at(m, 1, oldest, 4, &start, err, sizeof err) > 0) {
    struct gtidpos have = {0}, first = {0};
    if (!gtidpos_parse(state, &have, err, sizeof err) && !gtidpos_parse(start.p ? start.p : "", &first, err, sizeof err))
      reach = gtidpos_contains(&have, &first);
    gtidpos_free(&have);
    gtidpos_free(&first);
  }
  buf_free(&start);
  mysql_close(m);
  return reach;
}

enum bh_errc server_errc(unsigned code)
{
  switch (code) {
  case 0: return BH_E_NONE;
  case 1044: /* ER_DBACCESS_DENIED_ERROR */
  case 1045: /* ER_ACCESS_DENIED_ERROR */
  case 1142: /* ER_TABLEACCESS_DENIED_ERROR */
  case 1143: /* ER_COLUMNACCESS_DENIED_ERROR */
  case 1227: /* ER_SPECIFIC_ACCESS_DENIED_ERROR */
  case 1698: /* ER_ACCESS_DENIED_NO_PASSWORD_ERROR */ return BH_E_ACCESS;
  case CR_CONNECTION_ERROR:
  case CR_CONN_HOST_ERROR:
  case CR_UNKNOWN_HOST:
  case CR_SERVER_GONE_ERROR:
  case CR_SERVER_LOST:
  case 1040: /* ER_CON_COUNT_ERROR: too many connections */
  case 1053: /* ER_SERVER_SHUTDOWN */ return BH_E_CONNECT;
  default: return BH_E_OTHER;
  }
}

/* A PostgreSQL LSN as positions name it ("16/B374D848"), or 0 with *ok 0. */
static uint64_t lsn_of(const char *s, int *ok)
{
  unsigned hi, lo;
  int n = 0;
  *ok = strchr(s, '/') && sscanf(s, "%X/%X%n", &hi, &lo, &n) == 2 && !s[n];
  return *ok ? (uint64_t)hi << 32 | lo : 0;
}

int server_file_cmp(const char *a, const char *b)
{
  int oka, okb;
  uint64_t xa = lsn_of(a, &oka), xb = lsn_of(b, &okb);
  if (oka && okb) return xa < xb ? -1 : xa > xb;
  const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
  if (da && db && da - a == db - b && !memcmp(a, b, (size_t)(da - a))) {
    da++, db++;
    size_t la = strspn(da, "0123456789"), lb = strspn(db, "0123456789");
    if (la && lb && !da[la] && !db[lb]) {
      while (la > 1 && *da == '0')
        da++, la--;
      while (lb > 1 && *db == '0')
        db++, lb--;
      if (la != lb) return la < lb ? -1 : 1;
      int c = strcmp(da, db);
      return c < 0 ? -1 : c > 0;
    }
  }
  int c = strcmp(a, b);
  return c < 0 ? -1 : c > 0;
}

int server_pos_cmp(const char *file, uint64_t pos, const struct position *b)
{
  int c = server_file_cmp(file, b->file);
  if (c) return c;
  return pos < b->pos ? -1 : pos > b->pos;
}

void server_add_ident(struct buf *b, const char *name)
{
  buf_addc(b, '`');
  for (const char *p = name; *p; p++) {
    if (*p == '`') buf_addc(b, '`');
    buf_addc(b, *p);
  }
  buf_addc(b, '`');
}

void server_add_table(struct buf *b, const char *schema, const char *name)
{
  server_add_ident(b, schema);
  buf_addc(b, '.');
  server_add_ident(b, name);
}

void server_add_hex(struct buf *b, const void *data, size_t n)
{
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p = data;
  buf_add(b, "X'", 2);
  for (size_t i = 0; i < n; i++) {
    buf_addc(b, hex[p[i] >> 4]);
    buf_addc(b, hex[p[i] & 15]);
  }
  buf_addc(b, '\'');
}

void server_add_quoted(MYSQL *m, struct buf *b, const char *s)
{
  size_t n = strlen(s);
  buf_reserve(b, 2 * n + 3);
  buf_addc(b, '\'');
  unsigned long w = mysql_real_escape_string(m, b->p + b->len, s, (unsigned long)n);
  b->len += w;
  b->p[b->len] = 0;
  buf_addc(b, '\'');
}
