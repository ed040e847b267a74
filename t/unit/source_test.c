/* source_test.c - the pure parts of the live stream: start positions, source
 * URLs, statement classification and table globs. */
#include "source/conn.h"
#include "source/decoder.h"
#include "event/change.h"
#include "source/source.h"
#include "tap.h"

#include <string.h>

static void test_start_pos(void)
{
  struct start_pos p;
  char err[256];
  ok(!start_pos_parse("end", &p, err, sizeof err) && p.kind == START_END, "end");
  ok(!start_pos_parse("start", &p, err, sizeof err) && p.kind == START_BEGINNING, "start");
  ok(!start_pos_parse("binlog.000042:1234", &p, err, sizeof err) && p.kind == START_FILE, "FILE:OFFSET");
  is_str(p.file, "binlog.000042", "file of FILE:OFFSET");
  is_int(p.pos, 1234, "offset of FILE:OFFSET");
  is_int(p.skip, 0, "no skip");
  ok(!start_pos_parse("binlog.000042:1234+7", &p, err, sizeof err), "FILE:OFFSET+K");
  is_int(p.skip, 7, "skip of FILE:OFFSET+K");
  ok(!start_pos_parse("gtid:0-1-100,1-2-5", &p, err, sizeof err) && p.kind == START_GTID, "gtid:SET");
  is_str(p.gtid, "0-1-100,1-2-5", "the gtid set");
  ok(start_pos_parse("binlog.000042", &p, err, sizeof err) == -1, "a file without offset is refused");
  ok(strstr(err, "FILE:OFFSET") != NULL, "and the message lists the forms");
  ok(start_pos_parse("binlog.1:12x", &p, err, sizeof err) == -1, "a bad offset is refused");
  ok(start_pos_parse("binlog.1:12+x", &p, err, sizeof err) == -1, "a bad skip count is refused");
  ok(start_pos_parse("gtid:", &p, err, sizeof err) == -1, "an empty gtid is refused");
}

static void test_url(void)
{
  struct conn_opts o;
  char err[256];
  memset(&o, 0, sizeof o);
  ok(!conn_parse_url("mysql://repl@db.example:3307", &o, err, sizeof err), "user@host:port");
  is_str(o.user, "repl", "user");
  is_str(o.host, "db.example", "host");
  is_int(o.port, 3307, "port");
  ok(o.password == NULL, "no password");
  conn_opts_free(&o);
  ok(!conn_parse_url("mysql://u:p%40ss@127.0.0.1", &o, err, sizeof err), "password with an escape");
  is_str(o.password, "p@ss", "password unescaped");
  is_int(o.port, 3306, "default port");
  conn_opts_free(&o);
  ok(!conn_parse_url("mysql://[::1]:3310?tls=required&ca=/etc/ca.pem", &o, err, sizeof err), "IPv6 and TLS");
  is_str(o.host, "::1", "IPv6 host");
  is_int(o.port, 3310, "IPv6 port");
  ok(o.tls == CONN_TLS_REQUIRED, "tls=required");
  is_str(o.tls_ca, "/etc/ca.pem", "ca");
  conn_opts_free(&o);
  ok(!conn_parse_url("mysql://127.0.0.1", &o, err, sizeof err), "no user");
  is_str(o.user, "binhook", "default user");
  conn_opts_free(&o);
  ok(conn_parse_url("http://x", &o, err, sizeof err) == -1, "another scheme is refused");
  ok(strstr(err, "mysql://") != NULL, "and the message shows the form");
  conn_opts_free(&o);
  ok(conn_parse_url("mysql://h:99999", &o, err, sizeof err) == -1, "a port out of range is refused");
  conn_opts_free(&o);
  ok(conn_parse_url("mysql://h?tls=maybe", &o, err, sizeof err) == -1, "an unknown tls mode is refused");
  conn_opts_free(&o);
}

static void test_classify(void)
{
  struct {
    const char *sql;
    int kind;
  } cases[] = {
      {"BEGIN", -1},
      {"COMMIT", -1},
      {"ROLLBACK", -1},
      {"SAVEPOINT a", -1},
      {"XA START 'x'", -1},
      {"CREATE TABLE t (a int)", STMT_DDL},
      {"  /* comment */ drop table t", STMT_DDL},
      {"ALTER TABLE t ADD b int", STMT_DDL},
      {"TRUNCATE t", STMT_DDL},
      {"RENAME TABLE a TO b", STMT_DDL},
      {"GRANT SELECT ON *.* TO u", STMT_DCL},
      {"REVOKE ALL ON *.* FROM u", STMT_DCL},
      {"CREATE USER 'u'@'%'", STMT_DCL},
      {"CREATE OR REPLACE USER u", STMT_DCL},
      {"DROP USER u", STMT_DCL},
      {"ALTER USER u IDENTIFIED BY 'x'", STMT_DCL},
      {"RENAME USER a TO b", STMT_DCL},
      {"SET PASSWORD FOR u = PASSWORD('x')", STMT_DCL},
      {"CREATE ROLE r", STMT_DCL},
      {"/*!40000 ALTER TABLE t DISABLE KEYS */", STMT_DDL},
      {"-- note\nDROP DATABASE d", STMT_DDL},
      {"INSERT INTO t VALUES (1)", STMT_OTHER},
      {"ANALYZE TABLE t", STMT_OTHER},
      {"", STMT_OTHER},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[128];
    snprintf(name, sizeof name, "classify '%s'", cases[i].sql);
    is_int(decoder_classify_sql(cases[i].sql, strlen(cases[i].sql)), cases[i].kind, name);
  }
}

static void test_globs(void)
{
  char *inc[] = {"shop.*", "*.orders", NULL};
  char *exc[] = {"shop.audit*", NULL};
  ok(decoder_table_selected(NULL, NULL, "a", "b"), "no globs: every table");
  ok(decoder_table_selected(inc, NULL, "shop", "items"), "include by schema glob");
  ok(decoder_table_selected(inc, NULL, "crm", "orders"), "include by table glob");
  ok(!decoder_table_selected(inc, NULL, "crm", "users"), "not included");
  ok(!decoder_table_selected(inc, exc, "shop", "audit_log"), "excluded wins");
  ok(decoder_table_selected(NULL, exc, "crm", "audit_log"), "exclude only its glob");
}

int main(void)
{
  test_start_pos();
  test_url();
  test_classify();
  test_globs();
  return done_testing();
}
