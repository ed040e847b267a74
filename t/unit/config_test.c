/* config_test.c - loading gateway.toml: defaults, every [source] key, the
 * messages of a wrong file (position, suggestion, all of them in one run,
 * the part of a file before a syntax error), durations, the connection
 * options built from [source], secrets, and the spec tables themselves:
 * every word of every enum, every bound, every default against what
 * gateway.toml documents. */
#include "tap.h"
#include "config/config.h"
#include "config/secret.h"
#include "config/spec.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static char path[256];

/* Writes text to the scratch file and loads it over the defaults. */
static int load(const char *text, struct config *cfg, char *errs, size_t errsz)
{
  FILE *f = fopen(path, "w");
  if (!f) return -2;
  fputs(text, f);
  fclose(f);
  config_defaults(cfg);
  return config_load(path, cfg, errs, errsz);
}

/* The errors of text with the file name taken out, "" when it loads. */
static const char *errors_of(const char *text)
{
  static char errs[4096], out[4096];
  struct config cfg;
  int rc = load(text, &cfg, errs, sizeof errs);
  config_free(&cfg);
  if (!rc) return "";
  /* drop "path:" at the start of every line */
  size_t n = strlen(path), o = 0;
  for (const char *p = errs; *p && o + 1 < sizeof out;) {
    if (!strncmp(p, path, n) && p[n] == ':') p += n + 1;
    while (*p && *p != '\n' && o + 1 < sizeof out)
      out[o++] = *p++;
    if (*p == '\n' && o + 1 < sizeof out) out[o++] = *p++;
  }
  out[o] = 0;
  return out;
}

static void test_defaults(void)
{
  struct config cfg;
  config_defaults(&cfg);
  is_str(cfg.source.url ? cfg.source.url[0] : NULL, "mysql://binhook@127.0.0.1:3306", "default url");
  ok(cfg.source.url && !cfg.source.url[1], "one default url");
  is_int((int)cfg.source.resume, CONFIG_RESUME_AUTO, "resume defaults to auto");
  is_str(cfg.source.password_env, "BINHOOK_MYSQL_PASSWORD", "default password_env");
  ok(!cfg.source.password_file, "no password_file by default");
  is_int(cfg.source.tls, CONFIG_TLS_URL, "tls by default: the URL's, else preferred");
  is_int(cfg.source.server_id, 4242, "default server_id");
  is_str(cfg.source.start, "end", "default start");
  ok(!cfg.source.tables && !cfg.source.exclude, "every table by default");
  ok(cfg.source.heartbeat == 5, "default heartbeat 5 s");
  ok(cfg.source.connect_timeout == 10, "default connect_timeout 10 s");
  is_int(cfg.source.queue_events, 10000, "default queue_events");
  is_str(cfg.state.dir, "/var/lib/binhook", "default state dir");
  is_int(cfg.log.level, LOG_INFO, "default log level");
  config_free(&cfg);
  ok(!cfg.source.url, "config_free leaves the struct empty");
  config_free(&cfg);
  ok(1, "config_free twice is harmless");
}

static void test_full_file(void)
{
  struct config cfg;
  char errs[1024] = "";
  int rc = load("include = [\"rules/*.toml\"]\n"
                "templates = \"templates\"\n"
                "[source]\n"
                "url = \"mysql://repl@db.example.com:3307\"\n"
                "password_env = \"DB_PW\"\n"
                "password_file = \"/run/secrets/db\"\n"
                "tls = \"verify_ca\"\n"
                "tls_ca = \"/etc/ssl/ca.pem\"\n"
                "tls_cert = \"/etc/ssl/c.pem\"\n"
                "tls_key = \"/etc/ssl/k.pem\"\n"
                "server_id = 4294967295\n"
                "start = \"binlog.000042:1234\"\n"
                "tables = [\"shop.*\", \"crm.contacts\"]\n"
                "exclude = \"shop.tmp_*\"\n"
                "heartbeat = \"1m30s\"\n"
                "connect_timeout = 2.5\n"
                "queue_events = 500\n"
                "[state]\ndir = \"/srv/binhook\"\n"
                "[log]\nlevel = \"debug\"\n"
                "[admin]\nlisten = \"127.0.0.1:9465\"\n"
                "[endpoint.crm]\nurl = \"https://crm.example.com/hooks\"\n"
                "[[rule]]\nname = \"r\"\nendpoint = \"crm\"\n",
                &cfg, errs, sizeof errs);
  is_int(rc, 0, "a complete file loads");
  if (rc) diag("%s", errs);
  is_str(cfg.path, path, "path kept");
  is_str(cfg.source.url[0], "mysql://repl@db.example.com:3307", "url");
  is_str(cfg.source.password_env, "DB_PW", "password_env");
  is_str(cfg.source.password_file, "/run/secrets/db", "password_file");
  is_int(cfg.source.tls, CONN_TLS_VERIFY_CA, "tls");
  is_str(cfg.source.tls_ca, "/etc/ssl/ca.pem", "tls_ca");
  is_str(cfg.source.tls_cert, "/etc/ssl/c.pem", "tls_cert");
  is_str(cfg.source.tls_key, "/etc/ssl/k.pem", "tls_key");
  ok(cfg.source.server_id == 4294967295u, "server_id up to 2^32-1");
  is_str(cfg.source.start, "binlog.000042:1234", "start");
  ok(cfg.source.tables && !strcmp(cfg.source.tables[0], "shop.*") &&
         !strcmp(cfg.source.tables[1], "crm.contacts") && !cfg.source.tables[2],
     "tables, NULL-terminated");
  ok(cfg.source.exclude && !strcmp(cfg.source.exclude[0], "shop.tmp_*") && !cfg.source.exclude[1],
     "one string is a list of one");
  ok(cfg.source.heartbeat == 90, "heartbeat from a duration");
  ok(cfg.source.connect_timeout == 2.5, "connect_timeout from a number of seconds");
  is_int(cfg.source.queue_events, 500, "queue_events");
  is_str(cfg.state.dir, "/srv/binhook", "state dir");
  is_int(cfg.log.level, LOG_DEBUG, "log level");

  struct conn_opts o;
  char err[256];
  setenv("DB_PW", "s3cret", 1);
  rc = config_source_conn(&cfg, &o, err, sizeof err);
  is_int(rc, 0, "connection options built");
  if (!rc) {
    is_str(o.host, "db.example.com", "host");
    is_int(o.port, 3307, "port");
    is_str(o.user, "repl", "user");
    is_str(o.password, "s3cret", "password from password_env");
    is_int(o.tls, CONN_TLS_VERIFY_CA, "tls mode");
    is_str(o.tls_ca, "/etc/ssl/ca.pem", "tls_ca passed on");
    is_int(o.connect_timeout, 3, "connect timeout rounded up to whole seconds");
    conn_opts_free(&o);
  }
  unsetenv("DB_PW");
  config_free(&cfg);
}

static void test_source_conn(void)
{
  struct config cfg;
  struct conn_opts o;
  char err[256];
  config_defaults(&cfg);
  setenv("BINHOOK_MYSQL_PASSWORD", "pw-from-env", 1);
  int rc = config_source_conn(&cfg, &o, err, sizeof err);
  is_int(rc, 0, "defaults give connection options");
  if (!rc) {
    is_str(o.host, "127.0.0.1", "default host");
    is_int(o.port, 3306, "default port");
    is_str(o.user, "binhook", "default user");
    is_str(o.password, "pw-from-env", "password from BINHOOK_MYSQL_PASSWORD by default");
    is_int(o.tls, CONN_TLS_PREFERRED, "tls preferred by default");
    is_int(o.connect_timeout, 10, "default connect timeout");
    conn_opts_free(&o);
  }
  unsetenv("BINHOOK_MYSQL_PASSWORD");

  config_source_set_urls(&cfg, "mysql://u:topsecret@host:99999");
  rc = config_source_conn(&cfg, &o, err, sizeof err);
  is_int(rc, -1, "bad port refused");
  ok(!strstr(err, "topsecret"), "the password is not in the message");
  ok(strstr(err, "***"), "the URL is shown redacted");
  config_free(&cfg);

  char errs[1024];
  rc = load("[source]\nurl = \"mysql://u:hunter2@h:0\"\n", &cfg, errs, sizeof errs);
  is_int(rc, -1, "bad URL in the file");
  ok(strstr(errs, ":2:7: 'url' in [source]: ") && !strstr(errs, "hunter2"),
     "URL error at the value, without the password");
  config_free(&cfg);

  /* several servers of one topology, tried in order */
  rc = load("[source]\nurl = [\"mysql://binhook@db1:3306\", \"mysql://binhook@db2:3307\"]\nresume = \"file\"\n", &cfg,
            errs, sizeof errs);
  is_int(rc, 0, "a list of URLs loads");
  is_int(config_source_nurls(&cfg), 2, "two servers");
  rc = config_source_conn_at(&cfg, 1, &o, err, sizeof err);
  is_int(rc, 0, "the second server's options");
  if (!rc) {
    is_str(o.host, "db2", "its host");
    is_int(o.port, 3307, "its port");
    conn_opts_free(&o);
  }
  is_int((int)cfg.source.resume, CONFIG_RESUME_FILE, "resume = file");
  config_source_set_urls(&cfg, " mysql://a@x:1 ,,mysql://a@y:2,");
  is_int(config_source_nurls(&cfg), 2, "a comma-separated --source: empty items left out");
  is_str(cfg.source.url[1], "mysql://a@y:2", "items trimmed");
  config_source_set_urls(&cfg, "");
  is_int(config_source_nurls(&cfg), 1, "an empty --source is the default server");
  config_free(&cfg);
  is_str(errors_of("[source]\nurl = []\n"), "2:7: 'url' in [source] is empty: name at least one server",
         "an empty list of servers is refused");
  ok(strstr(errors_of("[source]\nurl = [\"mysql://a@h:1\", \"http://h\"]\n"), "2:7: 'url' in [source]") != NULL,
     "a bad URL in the list is refused");
  ok(strstr(errors_of("[source]\nresume = \"binlog\"\n"), "unknown way 'binlog'") != NULL,
     "an unknown resume way is refused");

  /* the state in a database */
  char *db = NULL, *bare = config_url_database("mysql://u:pw@db:3307/binhook?tls=required", &db);
  is_str(bare, "mysql://u:pw@db:3307?tls=required", "the database comes out of the URL");
  is_str(db, "binhook", "the database");
  free(bare);
  free(db);
  bare = config_url_database("mysql://u@db", &db);
  ok(!db && !strcmp(bare, "mysql://u@db"), "a URL without a database");
  free(bare);
  rc = load("[state]\nstore = \"mysql://binhook@db:3306/bh_state\"\nname = \"shop-eu\"\nlease = \"4s\"\n", &cfg, errs,
            sizeof errs);
  is_int(rc, 0, "[state] store in a database loads");
  ok(config_state_in_db(&cfg), "in a database");
  is_str(cfg.state.name, "shop-eu", "its deployment name");
  ok(cfg.state.lease == 4, "its lease");
  rc = config_state_conn(&cfg, &o, &db, err, sizeof err);
  is_int(rc, 0, "its connection");
  if (!rc) {
    is_str(o.host, "db", "the store's host");
    is_str(db, "bh_state", "the store's database");
    conn_opts_free(&o);
    free(db);
  }
  config_free(&cfg);
  config_defaults(&cfg);
  ok(!config_state_in_db(&cfg), "the default store is the directory");
  config_free(&cfg);
  ok(strstr(errors_of("[state]\nstore = \"mysql://binhook@db:3306\"\n"), "names no database") != NULL,
     "a store URL without a database is refused");
  ok(strstr(errors_of("[state]\nname = \"a b\"\n"), "is not a deployment name") != NULL,
     "a bad deployment name is refused");
  ok(strstr(errors_of("[state]\nlease = \"1s\"\n"), "'lease' in [state]") != NULL, "a lease under 2 s is refused");
}

static void test_unknown_keys(void)
{
  is_str(errors_of("[source]\nsever_id = 1\n"),
         "2:1: unknown key 'sever_id' in [source]; did you mean 'server_id'?", "typo in [source]");
  is_str(errors_of("[source]\n  hearbeat = \"5s\"\n"),
         "2:3: unknown key 'hearbeat' in [source]; did you mean 'heartbeat'?", "position of an indented key");
  is_str(errors_of("sourec.url = \"x\"\n"),
         "1:1: unknown key 'sourec' at the top level; did you mean 'source'?", "typo of a section");
  is_str(errors_of("[source]\ndir = \"/x\"\n"),
         "2:1: unknown key 'dir' in [source]; did you mean 'dir' in [state]?", "key in the wrong section");
  is_str(errors_of("url = \"mysql://h\"\n"),
         "1:1: unknown key 'url' at the top level; did you mean 'url' in [source]?",
         "section key before any section");
  is_str(errors_of("[log]\ncolour = true\n"), "2:1: unknown key 'colour' in [log] (known keys: level, format)",
         "no near key: the list of known keys");
  is_str(errors_of("[log]\n\"a\\nb\" = 1\n"), "2:1: unknown key 'a?b' in [log] (known keys: level, format)",
         "control characters in a key do not break the line");
  is_str(errors_of("[state]\n[state.sub]\n"), "2:8: unknown key 'sub' in [state] (known keys: dir, store, name, lease, password_env, password_file, queue_max, segment_size)",
         "sub-table of a known section");
}

static void test_type_errors(void)
{
  is_str(errors_of("[source]\nserver_id = \"42\"\n"),
         "2:13: 'server_id' in [source] must be an integer from 1 to 4294967295, not a string",
         "string for an integer");
  is_str(errors_of("[source]\nserver_id = 0\n"),
         "2:13: 'server_id' in [source] must be from 1 to 4294967295, not 0", "integer out of range");
  is_str(errors_of("[source]\nstart = 42\n"), "2:9: 'start' in [source] must be a string, not an integer",
         "integer for a string");
  is_str(errors_of("[source]\nurl = 42\n"),
         "2:7: 'url' in [source] must be a mysql:// or postgresql:// URL, or a list of mysql:// ones (the servers "
         "of one topology), not an "
         "integer",
         "integer for a list of strings");
  is_str(errors_of("source = \"mysql://h\"\n"), "1:10: 'source' must be a table ([source]), not a string",
         "a section that is not a table");
  is_str(errors_of("[rule]\nname = \"x\"\n"),
         "1:1: 'rule' must be an array of tables ([[rule]]), not a table", "[rule] instead of [[rule]]");
  is_str(errors_of("include = 42\n"),
         "1:11: 'include' must be an array of file patterns (non-empty strings), not an integer",
         "include must be an array of patterns");
  is_str(errors_of("[source]\ntls = \"on\"\n"),
         "2:7: 'tls' in [source]: unknown mode 'on' (use disabled, preferred, required, verify_ca or "
         "verify_identity)",
         "unknown tls mode");
  is_str(errors_of("[log]\nlevel = \"loud\"\n"),
         "2:9: 'level' in [log]: unknown level 'loud' (use debug, info, notice, warning or error)",
         "unknown log level");
  is_str(errors_of("[source]\ntables = [\"shop\"]\n"),
         "2:11: 'tables' in [source]: 'shop' is not a \"schema.table\" pattern (for every table of 'shop', "
         "write "
         "'shop.*')",
         "table pattern without a schema");
  is_str(errors_of("[source]\ntables = []\n"),
         "2:10: 'tables' in [source] is empty: leave it out to read every table", "empty tables list");
  is_str(errors_of("[source]\nexclude = [1]\n"),
         "2:12: 'exclude' in [source] must hold \"schema.table\" patterns (strings), not an integer",
         "non-string in a pattern list");
  is_str(errors_of("[source]\nstart = \"somewhere\"\n"),
         "2:9: 'start' in [source]: position 'somewhere' is not one of end, start, FILE:OFFSET or gtid:SET",
         "bad start position");
  is_str(errors_of("[source]\npassword_env = \"MY-PW\"\n"),
         "2:16: 'password_env' in [source]: 'MY-PW' is not an environment variable name (letters, digits and "
         "'_')",
         "bad environment variable name");
  is_str(errors_of("[state]\ndir = \"\"\n"), "2:7: 'dir' in [state] must not be empty", "empty state dir");
}

static void test_durations(void)
{
  double s = -1;
  is_int(config_parse_duration("15s", &s), 0, "15s");
  ok(s == 15, "15s is 15 seconds");
  config_parse_duration("500ms", &s);
  ok(s == 0.5, "500ms");
  config_parse_duration("2h", &s);
  ok(s == 7200, "2h");
  config_parse_duration("1d", &s);
  ok(s == 86400, "1d");
  config_parse_duration("5m", &s);
  ok(s == 300, "5m is minutes");
  config_parse_duration("1h30m", &s);
  ok(s == 5400, "1h30m");
  config_parse_duration("1.5s", &s);
  ok(s == 1.5, "1.5s");
  config_parse_duration("0s", &s);
  ok(s == 0, "0s");
  const char *bad[] = {"", "15", "s", "-1s", "1.s", ".5s", "1 s", "1sec", "1w", "1h 30m", "5S", NULL};
  int all = 1;
  for (const char **b = bad; *b; b++) {
    if (!config_parse_duration(*b, &s)) {
      diag("'%s' accepted", *b);
      all = 0;
    }
  }
  ok(all, "not durations: empty, no unit, negative, bad number, spaces, unknown unit");

  is_str(errors_of("[source]\nheartbeat = \"5 seconds\"\n"),
         "2:13: 'heartbeat' in [source]: '5 seconds' is not a duration (write it like \"500ms\", \"15s\", "
         "\"5m\", "
         "\"2h\" or \"1d\")",
         "bad duration in the file");
  is_str(errors_of("[source]\nconnect_timeout = 0\n"),
         "2:19: 'connect_timeout' in [source] must be from 0.001s to 86400s, not 0s",
         "duration out of range");
  is_str(errors_of("[source]\nheartbeat = true\n"),
         "2:13: 'heartbeat' in [source] must be a duration such as \"15s\" or a number of seconds, not a "
         "boolean",
         "wrong type for a duration");
  is_str(errors_of("[source]\nheartbeat = 0\n"), "", "heartbeat 0 turns heartbeats off");
}

static void test_sizes(void)
{
  uint64_t b = 0;
  static const struct {
    const char *text;
    uint64_t bytes;
  } good[] = {{"0", 0},          {"4096", 4096},         {"64MiB", 64ull << 20}, {"1.5GiB", 3ull << 29},
              {"500MB", 500000000}, {"2kB", 2000},       {"2KB", 2000},          {"3KiB", 3072},
              {"1 GB", 1000000000}, {"7B", 7}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    b = 12345;
    int rc = config_parse_size(good[i].text, &b);
    char name[64];
    snprintf(name, sizeof name, "size %s", good[i].text);
    ok(rc == 0 && b == good[i].bytes, name);
  }
  static const char *const bad[] = {"", "MB", "-1MB", "12 parsecs", "1e400", "64mib", "1TB", "10 MB x", NULL};
  for (const char *const *p = bad; *p; p++) {
    char name[64];
    snprintf(name, sizeof name, "not a size: '%s'", *p);
    ok(config_parse_size(*p, &b) == -1, name);
  }
  struct config cfg;
  char errs[512];
  ok(load("[source]\nqueue_bytes = \"256MiB\"\n", &cfg, errs, sizeof errs) == 0 && cfg.source.queue_bytes == 256u << 20,
     "queue_bytes as a size");
  config_free(&cfg);
  ok(load("[source]\nqueue_bytes = 2097152\n", &cfg, errs, sizeof errs) == 0 && cfg.source.queue_bytes == 2u << 20,
     "queue_bytes as a number of bytes");
  config_free(&cfg);
  is_str(errors_of("[source]\nqueue_bytes = \"lots\"\n"),
         "2:15: 'queue_bytes' in [source] must be a size such as \"64MiB\", \"500MB\" or a number of bytes",
         "queue_bytes that is not a size");
  is_str(errors_of("[source]\nqueue_bytes = \"10kB\"\n"),
         "2:15: 'queue_bytes' in [source] must be from 1MiB to 64GiB", "queue_bytes too small");
}

static void test_many_errors(void)
{
  is_str(errors_of("colour = 1\n"
                   "[source]\n"
                   "sever_id = 1\n"
                   "server_id = -5\n"
                   "heartbeat = \"soon\"\n"
                   "tls = 1\n"
                   "[log]\n"
                   "level = \"loud\"\n"),
         "1:1: unknown key 'colour' at the top level (known keys: include, templates, source, state, log, "
         "admin, "
         "endpoint, rule)\n"
         "3:1: unknown key 'sever_id' in [source]; did you mean 'server_id'?\n"
         "4:13: 'server_id' in [source] must be from 1 to 4294967295, not -5\n"
         "5:13: 'heartbeat' in [source]: 'soon' is not a duration (write it like \"500ms\", \"15s\", \"5m\", "
         "\"2h\" "
         "or \"1d\")\n"
         "6:7: 'tls' in [source] must be a string, not an integer\n"
         "8:9: 'level' in [log]: unknown level 'loud' (use debug, info, notice, warning or error)",
         "every error of the file in one run, in document order");

  struct config cfg;
  char small[150];
  int rc = load("[source]\na = 1\nb = 2\nc = 3\nd = 4\n", &cfg, small, sizeof small);
  is_int(rc, -1, "errors with a small buffer");
  ok(strlen(small) < sizeof small && strstr(small, "more error"),
     "whole lines only, and a count of the rest");
  config_free(&cfg);
}

static void test_file_errors(void)
{
  struct config cfg;
  char errs[512], want[600];
  config_defaults(&cfg);
  int rc = config_load("/nonexistent/gateway.toml", &cfg, errs, sizeof errs);
  is_int(rc, -1, "missing file");
  is_str(errs, "cannot open config file '/nonexistent/gateway.toml': No such file or directory",
         "missing file message");
  config_free(&cfg);

  rc = load("[source]\nurl = \"mysql://h\n", &cfg, errs, sizeof errs);
  is_int(rc, -1, "TOML syntax error");
  snprintf(want, sizeof want, "%s:2:7: unterminated string", path);
  is_str(errs, want, "syntax error as file:line:col: message");
  ok(!strcmp(cfg.source.url[0], "mysql://binhook@127.0.0.1:3306"), "defaults kept on a syntax error");
  config_free(&cfg);

  is_str(errors_of(""), "", "an empty file is all defaults");
}

static void test_relative_paths(void)
{
  struct config cfg;
  char errs[512], want[600];
  int rc =
      load("[source]\npassword_file = \"secrets/pw\"\ntls_ca = \"/etc/ca.pem\"\n[state]\ndir = \"state\"\n",
           &cfg, errs, sizeof errs);
  is_int(rc, 0, "relative paths load");
  const char *slash = strrchr(path, '/');
  snprintf(want, sizeof want, "%.*s/state", (int)(slash - path), path);
  is_str(cfg.state.dir, want, "a relative state dir is taken from the file's directory");
  snprintf(want, sizeof want, "%.*s/secrets/pw", (int)(slash - path), path);
  is_str(cfg.source.password_file, want, "so is a relative password_file");
  is_str(cfg.source.tls_ca, "/etc/ca.pem", "absolute paths stay as written");
  config_free(&cfg);
}

/* [endpoint.NAME] aws_sigv4 and its credentials: read from the environment
 * variables named, checked against the url and the other signing. */
static void test_aws_sigv4(void)
{
  static const char ok_file[] = "[endpoint.k]\nurl = \"https://kinesis.us-east-1.amazonaws.com/\"\n"
                                "aws_sigv4 = \"aws:amz:us-east-1:kinesis\"\n"
                                "aws_access_key_env = \"BH_TEST_AWS_AK\"\n"
                                "aws_secret_key_env = \"BH_TEST_AWS_SK\"\n";
  struct config cfg;
  char errs[2048] = "";
  setenv("BH_TEST_AWS_AK", "AKIDEXAMPLE", 1);
  setenv("BH_TEST_AWS_SK", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
  unsetenv("BH_TEST_AWS_TOKEN");
  int rc = load(ok_file, &cfg, errs, sizeof errs);
  is_int(rc, 0, "aws_sigv4 with both credentials loads");
  if (rc) diag("%s", errs);
  if (!rc && cfg.nendpoints == 1) {
    const struct config_endpoint *ep = &cfg.endpoints[0];
    is_str(ep->aws_sigv4, "aws:amz:us-east-1:kinesis", "aws_sigv4 as written");
    is_str(ep->aws_access_key, "AKIDEXAMPLE", "the access key from its variable");
    is_str(ep->aws_secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "the secret key from its variable");
    ok(!ep->aws_session_token, "no session token unless named");
    ok(!ep->secret_problem, "no problem when the variables are set");
    is_int(ep->signing, SIGN_NONE, "no webhook signature besides");
  }
  config_free(&cfg);

  /* the session token */
  char with_token[512];
  snprintf(with_token, sizeof with_token, "%saws_session_token_env = \"BH_TEST_AWS_TOKEN\"\n", ok_file);
  setenv("BH_TEST_AWS_TOKEN", "FwoGZXIvYXdzEXAMPLE", 1);
  rc = load(with_token, &cfg, errs, sizeof errs);
  is_int(rc, 0, "aws_session_token_env loads");
  if (!rc) is_str(cfg.endpoints[0].aws_session_token, "FwoGZXIvYXdzEXAMPLE", "the session token from its variable");
  config_free(&cfg);

  /* unset variables: a problem for the commands that send, not a load error */
  unsetenv("BH_TEST_AWS_SK");
  unsetenv("BH_TEST_AWS_TOKEN");
  rc = load(with_token, &cfg, errs, sizeof errs);
  is_int(rc, 0, "unset credentials do not stop the file from loading (check only warns)");
  if (!rc) {
    const struct config_endpoint *ep = &cfg.endpoints[0];
    ok(!ep->aws_secret_key && !ep->aws_session_token, "no credential from an unset variable");
    const char *p = ep->secret_problem ? strstr(ep->secret_problem, ": the environment") : NULL;
    is_str(p, ": the environment variables 'BH_TEST_AWS_SK' (aws_secret_key_env), 'BH_TEST_AWS_TOKEN' "
              "(aws_session_token_env) of endpoint 'k' are not set; export them before starting binhook",
           "every unset variable named in one problem");
    ok(ep->secret_problem && strstr(ep->secret_problem, ":5:22: "), "the problem points at the first unset one");
    ok(ep->secret_problem && !strstr(ep->secret_problem, "AKIDEXAMPLE"), "the problem shows no credential");
  }
  config_free(&cfg);
  unsetenv("BH_TEST_AWS_AK");

  is_str(errors_of("[endpoint.m]\nurl = \"smtp://127.0.0.1:25\"\nmail_from = \"a@example.com\"\n"
                   "mail_to = \"b@example.com\"\naws_sigv4 = \"aws:amz:us-east-1:ses\"\n"
                   "aws_access_key_env = \"A\"\naws_secret_key_env = \"B\"\n"),
         "5:1: endpoint 'm' sends e-mail, and aws_sigv4 signs HTTP requests only; remove aws_sigv4 or use an "
         "http:// or https:// url",
         "aws_sigv4 on an smtp endpoint is refused");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_sigv4 = \"aws:amz:us-east-1:kinesis\"\n"
                   "aws_access_key_env = \"A\"\n"),
         "3:1: endpoint 'k' signs with aws_sigv4 but has no secret key; name the environment variables holding "
         "the credentials with aws_access_key_env and aws_secret_key_env",
         "aws_sigv4 needs both credentials");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_access_key_env = \"A\"\n"),
         "3:1: aws_access_key_env has no effect without aws_sigv4 (such as aws_sigv4 = "
         "\"aws:amz:us-east-1:kinesis\") in [endpoint.k]",
         "credentials without aws_sigv4");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_sigv4 = \"aws:amz:us east\"\n"
                   "aws_access_key_env = \"A\"\naws_secret_key_env = \"B\"\n"),
         "3:13: 'aws_sigv4' in [endpoint.k]: 'aws:amz:us east' is not PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]] "
         "(letters, digits, '-', '_' and '.'), such as \"aws:amz:us-east-1:kinesis\"",
         "a malformed aws_sigv4");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_sigv4 = \"a:b:c:d:e\"\n"
                   "aws_access_key_env = \"A\"\naws_secret_key_env = \"B\"\n"),
         "3:13: 'aws_sigv4' in [endpoint.k]: 'a:b:c:d:e' is not PROVIDER1[:PROVIDER2[:REGION[:SERVICE]]] "
         "(letters, digits, '-', '_' and '.'), such as \"aws:amz:us-east-1:kinesis\"",
         "at most four parts");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_sigv4 = \"aws\"\n"
                   "aws_access_key_env = \"A-B\"\naws_secret_key_env = \"B\"\n"),
         "4:22: 'aws_access_key_env' in [endpoint.k]: 'A-B' is not an environment variable name (letters, "
         "digits and '_')\n"
         "3:1: endpoint 'k' signs with aws_sigv4 but has no access key; name the environment variables holding "
         "the credentials with aws_access_key_env and aws_secret_key_env",
         "a bad variable name");
  is_str(errors_of("[endpoint.k]\nurl = \"https://x.example.com/\"\naws_sigv4 = \"aws:amz\"\n"
                   "aws_access_key_env = \"A\"\naws_secret_key_env = \"B\"\nsigning = \"github\"\n"
                   "secret = \"s\"\n"),
         "3:1: endpoint 'k' signs with both github and aws_sigv4; AWS checks only its own signature: set "
         "signing = \"none\" and drop the secret",
         "aws_sigv4 and a webhook signature");
}

/* ---- the spec tables ---- */

static const struct spec_section *const sections[] = {&spec_source, &spec_state,    &spec_log,
                                                      &spec_admin,  &spec_endpoint, &spec_rule};

/* A file that sets key of sec to value (TOML text), with what the section
 * needs besides; *line gets the key's line, *sect the section's name as
 * messages give it. */
static void file_with(const struct spec_section *sec, const char *key, const char *value, char *out, size_t size,
                      int *line, const char **sect)
{
  if (sec == &spec_endpoint) {
    snprintf(out, size, "[endpoint.e]\nurl = \"http://127.0.0.1:9/\"\nsecret = \"s\"\n%s = %s\n", key, value);
    *line = 4, *sect = "endpoint.e";
  } else if (sec == &spec_rule) {
    snprintf(out, size, "[endpoint.e]\nurl = \"http://127.0.0.1:9/\"\n[[rule]]\nname = \"r\"\nendpoint = \"e\"\n%s = %s\n",
             key, value);
    *line = 6, *sect = "rule 'r'";
  } else {
    snprintf(out, size, "[%s]\n%s = %s\n", sec->name, key, value);
    *line = 2, *sect = sec->name;
  }
}

/* The struct sec's keys went into, or NULL. */
static void *section_of(struct config *cfg, const struct spec_section *sec)
{
  if (sec == &spec_source) return &cfg->source;
  if (sec == &spec_state) return &cfg->state;
  if (sec == &spec_log) return &cfg->log;
  if (sec == &spec_admin) return &cfg->admin;
  if (sec == &spec_endpoint) return cfg->nendpoints ? &cfg->endpoints[0] : NULL;
  return cfg->nrules ? &cfg->rules[0] : NULL;
}

static int is_alias(const struct spec_enum *e, const struct spec_name *n)
{
  for (const struct spec_name *p = e->names; p < n; p++)
    if (p->value == n->value) return 1;
  return 0;
}

/* What the module that owns an enum makes of a word: -1 when it refuses
 * it, -2 when the enum has no parser of its own. */
static int module_parse(const char *key, const char *word)
{
  enum log_level lv;
  enum log_format lf;
  enum conn_tls tls;
  enum snapshot_lock lock;
  enum sign_scheme scheme;
  if (!strcmp(key, "level")) return log_parse_level(word, &lv) ? -1 : (int)lv;
  if (!strcmp(key, "format")) return log_parse_format(word, &lf) ? -1 : (int)lf;
  if (!strcmp(key, "tls")) return conn_parse_tls(word, &tls) ? -1 : (int)tls;
  if (!strcmp(key, "snapshot_lock")) return snapshot_parse_lock(word, &lock) ? -1 : (int)lock;
  if (!strcmp(key, "signing")) return sign_parse_scheme(word, &scheme) ? -1 : (int)scheme;
  return -2;
}

/* Every word of every enum is taken, as the value its module gives it; a
 * mistyped one is refused with the word it resembles and the list. */
static void test_enums(void)
{
  char text[512], name[200], want[600], typo[64];
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
    const struct spec_section *sec = sections[i];
    for (const struct spec_key *r = sec->keys; r->name; r++) {
      if (r->type != SPEC_ENUM) continue;
      int line, all = 1, same = 1;
      const char *sect = sec->name;
      char list[300] = "";
      size_t len = 0, nlisted = 0, k = 0;
      for (const struct spec_name *n = r->names->names; n->name; n++)
        nlisted += !is_alias(r->names, n);
      for (const struct spec_name *n = r->names->names; n->name; n++) {
        struct config cfg;
        char errs[1024];
        snprintf(name, sizeof name, "\"%s\"", n->name);
        file_with(sec, r->name, name, text, sizeof text, &line, &sect);
        int rc = load(text, &cfg, errs, sizeof errs);
        void *obj = section_of(&cfg, sec);
        if (rc || !obj || *(int *)((char *)obj + r->offset) != n->value) {
          diag("%s = \"%s\": %s", r->name, n->name, rc ? errs : "another value");
          all = 0;
        }
        int m = module_parse(r->name, n->name);
        if (m != -2 && m != n->value) same = 0;
        config_free(&cfg);
        if (!is_alias(r->names, n)) { /* "a, b or c" */
          len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", !k ? "" : k + 1 == nlisted ? " or " : ", ",
                                  n->name);
          k++;
        }
      }
      snprintf(name, sizeof name, "every %s of '%s' in [%s] is taken", r->names->what, r->name, sect);
      ok(all, name);
      snprintf(name, sizeof name, "'%s' in [%s] reads its words as its module does", r->name, sect);
      ok(same, name);

      const char *first = r->names->names[0].name;
      snprintf(typo, sizeof typo, "%.*s", (int)strlen(first) - 1, first);
      snprintf(name, sizeof name, "\"%s\"", typo);
      file_with(sec, r->name, name, text, sizeof text, &line, &sect);
      snprintf(want, sizeof want, "%d:%d: '%s' in [%s]: unknown %s '%s'; did you mean '%s'? (use %s)", line,
               (int)strlen(r->name) + 4, r->name, sect, r->names->what, typo, first, list);
      snprintf(name, sizeof name, "a mistyped %s of '%s' in [%s] is refused with a suggestion", r->names->what,
               r->name, sect);
      is_str(errors_of(text), want, name);
      file_with(sec, r->name, "\"zzzzzzzzzz\"", text, sizeof text, &line, &sect);
      snprintf(want, sizeof want, "%d:%d: '%s' in [%s]: unknown %s 'zzzzzzzzzz' (use %s)", line,
               (int)strlen(r->name) + 4, r->name, sect, r->names->what, list);
      snprintf(name, sizeof name, "an unknown %s of '%s' in [%s] is refused with the list", r->names->what, r->name,
               sect);
      is_str(errors_of(text), want, name);
    }
  }
}

/* Numbers out of a row's bounds are refused at the value's position. */
static void test_bounds(void)
{
  char text[512], name[200], want[600], value[64];
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
    const struct spec_section *sec = sections[i];
    for (const struct spec_key *r = sec->keys; r->name; r++) {
      int line, col = (int)strlen(r->name) + 4;
      const char *sect = sec->name;
      if (r->type == SPEC_INTEGER) {
        int64_t bad[2] = {r->min - 1, r->max < INT64_MAX ? r->max + 1 : r->min - 1};
        for (int b = 0; b < 2; b++) {
          snprintf(value, sizeof value, "%lld", (long long)bad[b]);
          file_with(sec, r->name, value, text, sizeof text, &line, &sect);
          snprintf(want, sizeof want, "%d:%d: '%s' in [%s] must be from %lld to %lld, not %lld", line, col, r->name,
                   sect, (long long)r->min, (long long)r->max, (long long)bad[b]);
          snprintf(name, sizeof name, "'%s' in [%s] = %s is refused", r->name, sect, value);
          is_str(errors_of(text), want, name);
        }
        snprintf(value, sizeof value, "%lld", (long long)r->max);
        file_with(sec, r->name, value, text, sizeof text, &line, &sect);
        snprintf(name, sizeof name, "'%s' in [%s] = %s, its largest, is taken", r->name, sect, value);
        is_str(errors_of(text), "", name);
      } else if (r->type == SPEC_DURATION) {
        double bad[2] = {r->dmin > 0 ? r->dmin / 2 : -1, r->dmax + 1};
        for (int b = 0; b < 2; b++) {
          snprintf(value, sizeof value, "%.17g", bad[b]);
          file_with(sec, r->name, value, text, sizeof text, &line, &sect);
          snprintf(want, sizeof want, "%d:%d: '%s' in [%s] must be from %gs to %gs, not %gs", line, col, r->name,
                   sect, r->dmin, r->dmax, bad[b]);
          snprintf(name, sizeof name, "'%s' in [%s] = %s is refused", r->name, sect, value);
          is_str(errors_of(text), want, name);
        }
      } else if (r->type == SPEC_SIZE) {
        snprintf(value, sizeof value, "%lld", (long long)r->max + 1);
        file_with(sec, r->name, value, text, sizeof text, &line, &sect);
        snprintf(want, sizeof want, "%d:%d: '%s' in [%s] must be from ", line, col, r->name, sect);
        const char *got = errors_of(text);
        snprintf(name, sizeof name, "'%s' in [%s] = %s is refused", r->name, sect, value);
        ok(!strncmp(got, want, strlen(want)) && !strchr(got, '\n'), name);
        if (strncmp(got, want, strlen(want))) diag("got '%s'", got);
      }
    }
  }
  is_str(errors_of("[state]\nsegment_size = 100\n"), "2:16: 'segment_size' in [state] must be from 4KiB to 1GiB",
         "a size's bounds are written in binary units");
}

/* The line of region [from, to) of lines that sets key, commented out or
 * not ("key = ..." or "# key = ..."), else one that shows it in an example
 * ("#   key = ..."); -1 when there is none. */
static int key_line(char **lines, int from, int to, const char *key)
{
  int example = -1;
  for (int i = from; i < to; i++) {
    const char *p = lines[i];
    size_t lead = strspn(p, "# "), n = strlen(key);
    if (strncmp(p + lead, key, n) || p[lead + n + strspn(p + lead + n, " ")] != '=') continue;
    if (lead == 0 || !strncmp(p, "# ", lead)) return i;
    if (example < 0) example = i;
  }
  return example;
}

/* Every key of every table is documented in gateway.toml, in its section,
 * and the default its row has is the one the comment above it gives. */
static void test_documented(const char *file)
{
  static const struct {
    const struct spec_section *sec;
    const char *header; /* the line its part of gateway.toml starts at; NULL: the file's start */
  } parts[] = {{&spec_top, NULL},         {&spec_source, "[source]"},
               {&spec_state, "[state]"},  {&spec_log, "[log]"},
               {&spec_admin, "[admin]"},  {&spec_endpoint, "[endpoint.webhook]"},
               {&spec_rule, "[[rule]]"}};
  char *lines[2000], buf[512], name[200];
  int n = 0;
  FILE *f = fopen(file, "r");
  if (!ok(f, "gateway.toml opens")) return;
  while (n < 2000 && fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\n")] = 0;
    lines[n++] = xstrdup(buf);
  }
  fclose(f);
  for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
    int from = 0, to = n;
    for (int i = 0; parts[p].header && i < n; i++)
      if (!strcmp(lines[i], parts[p].header)) from = i;
    for (int i = from + 1; i < n; i++)
      if (parts[p].header ? !strncmp(lines[i], "# ----", 6) : !strcmp(lines[i], "[source]")) {
        to = i;
        break;
      }
    const char *sect = parts[p].sec->name ? parts[p].sec->name : "the top level";
    for (const struct spec_key *r = parts[p].sec->keys; r->name; r++) {
      if (r->type == SPEC_TABLE || r->read == spec_read_endpoints || r->read == spec_read_rules) continue;
      int at = key_line(lines, from, to, r->name);
      snprintf(name, sizeof name, "'%s' of %s is documented in gateway.toml", r->name, sect);
      ok(at >= 0, name);
      if (at < 0 || !r->def) continue;
      /* the comment block the key is in: the comment lines above it */
      struct buf block = BUF_INIT;
      int top = at;
      while (top > from && lines[top - 1][0] == '#')
        top--;
      for (int i = top; i <= at; i++)
        buf_printf(&block, "%s ", lines[i] + strspn(lines[i], "# "));
      const char *d = strstr(block.p, "Default:");
      snprintf(name, sizeof name, "the default of '%s' in %s is %s, as gateway.toml says", r->name, sect, r->def);
      ok(d && strstr(d, r->def), name);
      if (!d || !strstr(d, r->def)) diag("the comment: %s", block.p);
      buf_free(&block);
    }
  }
  for (int i = 0; i < n; i++)
    free(lines[i]);
}

/* token_file, as every *_file, is taken from the configuration file's
 * directory, not the working directory. */
static void test_token_file(void)
{
  char dir[256], token[300], cwd[1024], want[700];
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  snprintf(token, sizeof token, "%s/config_test_token", dir);
  FILE *f = fopen(token, "w");
  if (!ok(f, "token file written")) return;
  fputs("t0ken-from-file\nsecond line\n", f);
  fclose(f);
  if (!getcwd(cwd, sizeof cwd) || chdir("/")) {
    ok(0, "cannot change the working directory");
    return;
  }
  struct config cfg;
  char errs[1024];
  int rc = load("[admin]\nlisten = \"0.0.0.0:9465\"\ntoken_file = \"config_test_token\"\n", &cfg, errs, sizeof errs);
  is_int(rc, 0, "a relative token_file loads");
  if (rc) diag("%s", errs);
  is_str(cfg.admin.token, "t0ken-from-file", "from the file next to the configuration: its first line");
  config_free(&cfg);
  snprintf(want, sizeof want, "3:14: 'token_file' in [admin]: cannot read '%s/config_test_nope': No such file or "
           "directory", dir);
  is_str(errors_of("[admin]\nlisten = \"127.0.0.1:9465\"\ntoken_file = \"config_test_nope\"\n"), want,
         "a missing token_file is named with the path it was looked for at");
  f = fopen(token, "w");
  if (f) {
    fputs("\nsecond line\n", f);
    fclose(f);
  }
  snprintf(want, sizeof want, "3:14: 'token_file' in [admin]: the first line of '%s' is empty", token);
  is_str(errors_of("[admin]\nlisten = \"127.0.0.1:9465\"\ntoken_file = \"config_test_token\"\n"), want,
         "an empty first line is refused");
  unsetenv("BH_TEST_UNSET_TOKEN");
  is_str(errors_of("[admin]\ntoken_env = \"BH_TEST_UNSET_TOKEN\"\n"),
         "2:13: 'token_env' in [admin]: the environment variable 'BH_TEST_UNSET_TOKEN' is not set (export it, or use "
         "token_file)",
         "an unset token_env is an error");
  unlink(token);
  if (chdir(cwd)) diag("cannot go back to '%s'", cwd);
}

/* secret.h: where secrets come from, and how a text holds several. */
static void test_secrets(void)
{
  char *s = (char *)"x";
  unsetenv("BH_TEST_SECRET");
  is_int(secret_fetch(SECRET_ENV, "BH_TEST_SECRET", &s), SECRET_UNSET, "an unset variable");
  ok(!s, "gives nothing");
  setenv("BH_TEST_SECRET", "", 1);
  is_int(secret_fetch(SECRET_ENV, "BH_TEST_SECRET", &s), SECRET_OK, "a variable set to nothing is set");
  is_str(s, "", "to nothing");
  secret_free(s);
  unsetenv("BH_TEST_SECRET");
  errno = 0;
  is_int(secret_fetch(SECRET_FILE, "/nonexistent/secret", &s), SECRET_UNREADABLE, "a missing file");
  is_int(errno, ENOENT, "with errno");
  is_int(secret_fetch(SECRET_INLINE, "abc", &s), SECRET_OK, "a secret written in the file");
  is_str(s, "abc", "is itself");
  secret_free(s);
  char **v = secret_split(NULL, "  a\tbb\n ccc \r\n");
  ok(v && !strcmp(v[0], "a") && !strcmp(v[1], "bb") && !strcmp(v[2], "ccc") && !v[3],
     "several secrets separated by white space");
  secret_vec_free(v);
  ok(!secret_split(NULL, " \n\t"), "white space alone holds none");
  char line[] = "first\r\nsecond";
  is_str(secret_first_line(line), "first", "the first line, without its CR LF");
}

/* A file with a TOML syntax error is checked up to the error, and the
 * error comes after what was found before it; a key missing from the table
 * the error cut is not a problem (it may have come after). */
static void test_partial(void)
{
  is_str(errors_of("[source]\n"
                   "sever_id = 1\n"
                   "[endpoint.e]\n"
                   "ordering = \"keys\"\n"
                   "url = \"http://x/\n"
                   "signing = \"github\"\n"),
         "2:1: unknown key 'sever_id' in [source]; did you mean 'server_id'?\n"
         "4:12: 'ordering' in [endpoint.e]: unknown ordering 'keys'; did you mean 'key'? (use key, none or "
         "endpoint)\n"
         "5:7: unterminated string",
         "the problems before a syntax error, then the error; no 'has no url' for the table it cut");
  struct config cfg;
  char errs[1024];
  int rc = load("[[rule]]\nname = \"a\"\nendpoint = \"e\"\n[[rule]]\nname = \"b\"\nendpoint = [\"e\"\n", &cfg, errs,
                sizeof errs);
  is_int(rc, -1, "a file with a syntax error does not load");
  ok(cfg.partial, "the configuration says it is partial");
  is_int(cfg.nrules, 2, "the rules before the error were read");
  if (cfg.nrules == 2) is_str(cfg.rules[1].name, "b", "the one the error cut too, as far as it goes");
  config_free(&cfg);
  rc = load("[[rule]]\nname = \"a\"\n", &cfg, errs, sizeof errs);
  ok(rc == -1 && !cfg.partial, "a file without one is not partial");
  config_free(&cfg);
}

/* The reference configuration shipped with binhook loads without a problem. */
static void test_reference(const char *file)
{
  struct config cfg;
  char errs[2048];
  config_defaults(&cfg);
  int rc = config_load(file, &cfg, errs, sizeof errs);
  is_int(rc, 0, "the reference gateway.toml loads");
  if (rc) diag("%s", errs);
  is_str(cfg.source.url ? cfg.source.url[0] : NULL, "mysql://binhook@127.0.0.1:3306", "reference url");
  is_str(cfg.source.password_env, "BINHOOK_MYSQL_PASSWORD", "reference password_env");
  config_free(&cfg);
}

/* argv[1], when given, is the reference gateway.toml to check. */
int main(int argc, char **argv)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/config_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    printf("Bail out! cannot create a scratch file\n");
    return 1;
  }
  close(fd);
  test_defaults();
  test_full_file();
  test_source_conn();
  test_unknown_keys();
  test_type_errors();
  test_durations();
  test_sizes();
  test_many_errors();
  test_file_errors();
  test_relative_paths();
  test_aws_sigv4();
  test_enums();
  test_bounds();
  test_token_file();
  test_secrets();
  test_partial();
  if (argc > 1) test_reference(argv[1]);
  if (argc > 1) test_documented(argv[1]);
  unlink(path);
  return done_testing();
}
