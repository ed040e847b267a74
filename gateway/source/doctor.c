/* doctor.c - see doctor.h. The judgement lives in doctor_evaluate and its
 * check_* helpers, one per concern; each says what the server has, why a bad
 * value matters to binhook, and the statement plus the my.cnf line that fix
 * it, in the dialect of the server at hand (MariaDB and MySQL name a few
 * privileges and variables differently). */
#include "source/doctor.h"
#include "cmd/commands.h"
#include "config/config.h"
#include "source/conn.h"
#include "source/pg_doctor.h"
#include "store/dbstore.h"
#include "util/util.h"

#include <ctype.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SET GLOBAL does not reach sessions already open: binlog_format,
 * binlog_row_image and the annotation switches are session variables too,
 * copied from the global value when a session starts. */
#define SESSIONS_NOTE "; sessions already open keep the old setting until they reconnect"

/* Keeping the binlog this long lets binhook be down for a week and resume. */
#define RETENTION_SECONDS 604800
#define RETENTION_DAYS 7

/* Every variable doctor_evaluate looks at, read in one statement; a server
 * that lacks one simply returns no row for it. */
static const char *const gathered_vars[] = {
    "version",
    "version_comment",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "server_id",
    "gtid_mode",
    "enforce_gtid_consistency",
    "gtid_strict_mode",
    "gtid_domain_id",
    "gtid_binlog_pos",
    "log_slave_updates",
    "log_replica_updates",
    "binlog_expire_logs_seconds",
    "expire_logs_days",
    "binlog_expire_logs_auto_purge",
    "max_binlog_total_size",
    "binlog_space_limit",
    "binlog_checksum",
    "binlog_annotate_row_events",
    "binlog_rows_query_log_events",
    "binlog_row_value_options",
    "binlog_transaction_compression",
    "log_bin_compress",
};

/* ---- small helpers ---- */

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *strf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  bh_assert(n >= 0);
  char *s = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static char *dup_or_null(const char *s)
{
  return s ? xstrdup(s) : NULL;
}

/* Appends a check; takes ownership of value, message and fix (each may be NULL). */
static void add(struct doctor_report *r, const char *name, enum doctor_status status, char *value,
                char *message, char *fix)
{
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->checks = xrealloc(r->checks, r->cap * sizeof *r->checks);
  }
  struct doctor_check *c = &r->checks[r->n++];
  c->name = xstrdup(name);
  c->status = status;
  c->value = value;
  c->message = message;
  c->fix = fix;
}

void doctor_add(struct doctor_report *r, const char *name, enum doctor_status status, char *value,
                char *message, char *fix)
{
  add(r, name, status, value, message, fix);
}

static const char *var(const struct doctor_server *s, const char *name)
{
  for (size_t i = 0; i < s->nvars; i++)
    if (!strcasecmp(s->var_names[i], name)) return s->var_values[i];
  return NULL;
}

static int is_on(const char *v)
{
  return v && (!strcasecmp(v, "ON") || !strcmp(v, "1") || !strcasecmp(v, "TRUE"));
}

/* A value as people read it: the empty string shown as ''. */
static char *shown(const char *v)
{
  return xstrdup(v && *v ? v : "''");
}

static int version_at_least(const struct doctor_server *s, unsigned major, unsigned minor, unsigned patch)
{
  if (s->major != major) return s->major > major;
  if (s->minor != minor) return s->minor > minor;
  return s->patch >= patch;
}

static const char *family(const struct doctor_server *s)
{
  return s->mariadb ? "MariaDB" : "MySQL";
}

/* "SET GLOBAL v = sqlval;  and in my.cnf [mysqld]: v = cnfval", then note. */
static char *fix_set(const char *name, const char *sqlval, const char *cnfval, const char *note)
{
  return strf("SET GLOBAL %s = %s;  and in my.cnf [mysqld]: %s = %s%s%s", name, sqlval, name, cnfval,
              note ? "  " : "", note ? note : "");
}

/* s as the body of a single-quoted SQL string (the server's default
 * sql_mode treats the backslash as an escape too). */
static void add_sql_string(struct buf *b, const char *s)
{
  buf_addc(b, '\'');
  for (; *s; s++) {
    if (*s == '\'' || *s == '\\') buf_addc(b, *s);
    buf_addc(b, *s);
  }
  buf_addc(b, '\'');
}

static char *account(const struct doctor_server *s)
{
  struct buf b = BUF_INIT;
  add_sql_string(&b, s->user ? s->user : "");
  buf_addc(&b, '@');
  add_sql_string(&b, s->host ? s->host : "%");
  return buf_steal(&b);
}

static char *fix_grant(const struct doctor_server *s, const char *priv)
{
  char *who = account(s);
  char *fix = strf("GRANT %s ON *.* TO %s;", priv, who);
  free(who);
  return fix;
}

/* "7 days", "1 hour", "90 minutes": how long a retention lasts. */
static void duration(double secs, char *out, size_t size)
{
  long s = (long)secs;
  if (s >= 86400 && s % 86400 == 0)
    snprintf(out, size, "%ld day%s", s / 86400, s == 86400 ? "" : "s");
  else if (s >= 86400)
    snprintf(out, size, "%.1f days", secs / 86400);
  else if (s >= 3600 && s % 3600 == 0)
    snprintf(out, size, "%ld hour%s", s / 3600, s == 3600 ? "" : "s");
  else if (s >= 3600)
    snprintf(out, size, "%.1f hours", secs / 3600);
  else if (s >= 60 && s % 60 == 0)
    snprintf(out, size, "%ld minute%s", s / 60, s == 60 ? "" : "s");
  else
    snprintf(out, size, "%ld second%s", s, s == 1 ? "" : "s");
}

/* ---- the facts ---- */

void doctor_server_set(struct doctor_server *s, const char *name, const char *value)
{
  for (size_t i = 0; i < s->nvars; i++) {
    if (!strcasecmp(s->var_names[i], name)) {
      free(s->var_values[i]);
      s->var_values[i] = xstrdup(value);
      return;
    }
  }
  s->var_names = xrealloc(s->var_names, (s->nvars + 1) * sizeof *s->var_names);
  s->var_values = xrealloc(s->var_values, (s->nvars + 1) * sizeof *s->var_values);
  s->var_names[s->nvars] = xstrdup(name);
  s->var_values[s->nvars] = xstrdup(value);
  s->nvars++;
}

void doctor_detect(struct doctor_server *s)
{
  const char *v = s->version ? s->version : "";
  /* MariaDB says so in the version ("10.11.6-MariaDB-log"); a build that
   * hides it usually still names itself in the comment. */
  s->mariadb = strcasestr(v, "mariadb") != NULL ||
               (s->version_comment && strcasestr(s->version_comment, "mariadb") != NULL);
  /* MariaDB's handshake, and proxies that pass it on, prefix "5.5.5-". */
  if (!strncmp(v, "5.5.5-", 6) && s->mariadb) v += 6;
  unsigned parts[3] = {0, 0, 0};
  const char *p = v;
  for (int i = 0; i < 3; i++) {
    if (!isdigit((unsigned char)*p)) break;
    char *end;
    unsigned long n = strtoul(p, &end, 10);
    parts[i] = n > 100000 ? 100000 : (unsigned)n;
    p = end;
    if (*p != '.') break;
    p++;
  }
  s->major = parts[0], s->minor = parts[1], s->patch = parts[2];
}

static void add_grant_line(struct doctor_server *s, const char *line)
{
  s->grants = xrealloc(s->grants, (s->ngrants + 1) * sizeof *s->grants);
  s->grants[s->ngrants++] = xstrdup(line);
}

/* Runs a statement that returns rows; NULL with the server's error otherwise. */
static MYSQL_RES *query(MYSQL *m, const char *sql)
{
  if (mysql_query(m, sql)) return NULL;
  return mysql_store_result(m);
}

/* Fills s->grants, or s->grants_error when the server will not say. */
static void read_grants(MYSQL *m, struct doctor_server *s)
{
  MYSQL_RES *res = NULL;
  /* The roles active in this session are the ones binhook's own sessions
   * get at login. MariaDB's plain SHOW GRANTS includes what the active role
   * and PUBLIC grant; MySQL 8 lists the roles but not what they grant unless
   * USING names them. */
  if (s->mariadb ? version_at_least(s, 10, 0, 5) : s->major >= 8) {
    MYSQL_RES *roles = query(m, "SELECT CURRENT_ROLE()");
    MYSQL_ROW row = roles ? mysql_fetch_row(roles) : NULL;
    if (row && row[0] && *row[0] && strcmp(row[0], "NONE")) s->active_roles = xstrdup(row[0]);
    if (roles) mysql_free_result(roles);
  }
  if (s->active_roles && !s->mariadb) {
    char *sql = strf("SHOW GRANTS FOR CURRENT_USER() USING %s", s->active_roles);
    res = query(m, sql);
    free(sql);
  }
  if (!res) res = query(m, "SHOW GRANTS");
  if (!res) {
    s->grants_error = xstrdup(mysql_error(m));
    return;
  }
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res)))
    if (row[0]) add_grant_line(s, row[0]);
  mysql_free_result(res);
}

/* Sets s->user and s->host from CURRENT_USER(); 0, or -1 with err. */
static int read_current_user(MYSQL *m, struct doctor_server *s, char *err, size_t errsz)
{
  MYSQL_RES *res = query(m, "SELECT CURRENT_USER()");
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  if (!row || !row[0]) {
    bh_err(err, errsz, "cannot ask the server who binhook is (CURRENT_USER()): %s",
           *mysql_error(m) ? mysql_error(m) : "no answer");
    if (res) mysql_free_result(res);
    return -1;
  }
  const char *at = strrchr(row[0], '@');
  s->user = at ? xstrndup(row[0], (size_t)(at - row[0])) : xstrdup(row[0]);
  s->host = xstrdup(at ? at + 1 : "%");
  mysql_free_result(res);
  return 0;
}

int doctor_gather(MYSQL *m, struct doctor_server *s, char *err, size_t errsz)
{
  struct buf sql = BUF_INIT;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  int rc = -1;

  buf_adds(&sql, "SHOW GLOBAL VARIABLES WHERE Variable_name IN (");
  for (size_t i = 0; i < sizeof gathered_vars / sizeof gathered_vars[0]; i++)
    buf_printf(&sql, "%s'%s'", i ? ", " : "", gathered_vars[i]);
  buf_addc(&sql, ')');
  if (!(res = query(m, sql.p))) {
    bh_err(err, errsz, "cannot read the server's variables: %s", mysql_error(m));
    goto out;
  }
  while ((row = mysql_fetch_row(res)))
    if (row[0]) doctor_server_set(s, row[0], row[1] ? row[1] : "");
  mysql_free_result(res);
  res = NULL;

  const char *v = var(s, "version");
  s->version = xstrdup(v ? v : mysql_get_server_info(m));
  s->version_comment = dup_or_null(var(s, "version_comment"));
  doctor_detect(s);

  if (read_current_user(m, s, err, errsz)) goto out;
  read_grants(m, s);

  if (!(res = query(m, "SHOW BINARY LOGS"))) {
    s->binlogs_errno = mysql_errno(m);
    s->binlogs_error = xstrdup(mysql_error(m));
  } else {
    while ((row = mysql_fetch_row(res))) {
      s->nbinlogs++;
      if (row[0]) {
        free(s->binlog_last);
        s->binlog_last = xstrdup(row[0]);
      }
    }
  }
  rc = 0;
out:
  if (res) mysql_free_result(res);
  buf_free(&sql);
  return rc;
}

/* ---- privileges, from SHOW GRANTS lines ---- */

/* What binhook does in the state store's database, in the report's order. */
static const char *const store_privs[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"};
#define NSTORE_PRIVS (sizeof store_privs / sizeof store_privs[0])
#define STORE_PRIV_CREATE 4u

struct privs {
  int all;                /* ALL PRIVILEGES ON *.* */
  int repl_slave;         /* REPLICATION SLAVE ON *.* */
  int repl_client;        /* REPLICATION CLIENT or BINLOG MONITOR ON *.* */
  int super;              /* SUPER ON *.* */
  int select_all;         /* SELECT ON *.* */
  struct buf select_some; /* "`shop`.*, `crm`.`orders`": narrower SELECT grants */
  struct buf roles;       /* roles granted to the account, for messages */
  const char *db;         /* the state store's database; NULL: the next three are not looked at */
  unsigned db_global;     /* store_privs bits granted ON *.* */
  unsigned db_here;       /* store_privs bits granted ON db.* (by its name or a pattern that matches it) */
  char db_on[NSTORE_PRIVS][160]; /* for each of those, the object of the first grant, "`binhook`.*" */
};

/* Finds word (" ON ") in p outside quotes and parentheses. */
static const char *find_word(const char *p, const char *word)
{
  size_t n = strlen(word);
  int depth = 0;
  char quote = 0;
  for (; *p; p++) {
    if (quote) {
      if (*p == quote) {
        if (p[1] == quote)
          p++;
        else
          quote = 0;
      }
      continue;
    }
    if (*p == '`' || *p == '\'' || *p == '"')
      quote = *p;
    else if (*p == '(')
      depth++;
    else if (*p == ')')
      depth--;
    else if (depth == 0 && !strncmp(p, word, n))
      return p;
  }
  return NULL;
}

static int priv_is(const char *p, size_t n, const char *name)
{
  return strlen(name) == n && !strncasecmp(p, name, n);
}

/* Whether the name s matches the database name of a grant, a LIKE pattern
 * (n bytes): '%' any run, '_' any one character, a backslash takes the next
 * one as it is. */
static int like_match(const char *pat, size_t n, const char *s)
{
  while (n) {
    if (*pat == '%') {
      for (;; s++) {
        if (like_match(pat + 1, n - 1, s)) return 1;
        if (!*s) return 0;
      }
    }
    if (!*s) return 0;
    if (*pat == '\\' && n > 1) {
      pat++, n--;
      if (*pat != *s) return 0;
    } else if (*pat != '_' && *pat != *s) {
      return 0;
    }
    pat++, n--, s++;
  }
  return !*s;
}

/* Whether a grant's object (n bytes: "`binhook`.*", "`bh\_%`.*") is every
 * table of database db. */
static int grant_on_db(const char *obj, size_t n, const char *db)
{
  if (n < 3 || memcmp(obj + n - 2, ".*", 2)) return 0;
  n -= 2;
  if (n < 2 || obj[0] != '`' || obj[n - 1] != '`') return like_match(obj, n, db);
  /* a quoted name: a doubled backquote stands for one */
  struct buf name = BUF_INIT;
  for (size_t i = 1; i + 1 < n; i++) {
    buf_addc(&name, obj[i]);
    if (obj[i] == '`' && obj[i + 1] == '`') i++;
  }
  int match = like_match(name.p ? name.p : "", name.len, db);
  buf_free(&name);
  return match;
}

static void parse_grant(const char *line, struct privs *pv)
{
  if (strncmp(line, "GRANT ", 6)) return; /* REVOKE (partial revokes), SET DEFAULT ROLE */
  const char *list = line + 6;
  const char *on = find_word(list, " ON ");
  const char *to = find_word(list, " TO ");
  if (!to) return;
  if (!on || on > to) { /* GRANT `role` TO `user`@`host` */
    if (pv->roles.len) buf_adds(&pv->roles, ", ");
    buf_add(&pv->roles, list, (size_t)(to - list));
    return;
  }
  const char *obj = on + 4;
  if (!strncmp(obj, "FUNCTION ", 9) || !strncmp(obj, "PROCEDURE ", 10) || !strncmp(obj, "PACKAGE ", 8))
    return;
  if (!strncmp(obj, "TABLE ", 6)) obj += 6;
  size_t objlen = (size_t)(to - obj);
  int global = objlen == 3 && !memcmp(obj, "*.*", 3);
  int on_db = pv->db && !global && grant_on_db(obj, objlen, pv->db);

  const char *p = list;
  while (p < on) {
    /* One privilege: up to the next comma outside parentheses. */
    int depth = 0;
    const char *e = p;
    while (e < on && (depth || *e != ',')) {
      if (*e == '(')
        depth++;
      else if (*e == ')')
        depth--;
      e++;
    }
    const char *name = p, *name_end = e;
    while (name < name_end && *name == ' ')
      name++;
    const char *paren = name;
    while (paren < name_end && *paren != '(')
      paren++;
    int columns = paren < name_end;
    name_end = paren;
    while (name_end > name && name_end[-1] == ' ')
      name_end--;
    size_t n = (size_t)(name_end - name);

    int all = priv_is(name, n, "ALL PRIVILEGES") || priv_is(name, n, "ALL");
    if (pv->db && (global || on_db) && !columns) {
      unsigned bits = all ? (1u << NSTORE_PRIVS) - 1 : 0;
      for (size_t i = 0; i < NSTORE_PRIVS; i++)
        if (priv_is(name, n, store_privs[i])) bits |= 1u << i;
      if (global) {
        pv->db_global |= bits;
      } else {
        for (size_t i = 0; i < NSTORE_PRIVS; i++)
          if (bits & ~pv->db_here & (1u << i))
            snprintf(pv->db_on[i], sizeof pv->db_on[i], "%.*s", (int)objlen, obj);
        pv->db_here |= bits;
      }
    }
    if (global) {
      if (all) pv->all = 1;
      if (priv_is(name, n, "SELECT")) pv->select_all = 1;
      if (priv_is(name, n, "REPLICATION SLAVE") || priv_is(name, n, "REPLICATION REPLICA"))
        pv->repl_slave = 1;
      if (priv_is(name, n, "REPLICATION CLIENT") || priv_is(name, n, "BINLOG MONITOR")) pv->repl_client = 1;
      if (priv_is(name, n, "SUPER")) pv->super = 1;
    } else if (all || priv_is(name, n, "SELECT")) {
      if (pv->select_some.len) buf_adds(&pv->select_some, ", ");
      buf_add(&pv->select_some, obj, objlen);
      if (columns) buf_adds(&pv->select_some, " (some columns)");
    }
    p = e < on ? e + 1 : on;
  }
}

/* ---- the checks ---- */

static void check_log_bin(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "log_bin");
  if (is_on(v)) {
    add(r, "log_bin", DOCTOR_OK, xstrdup("ON"), NULL, NULL);
    return;
  }
  add(r, "log_bin", DOCTOR_ERROR, xstrdup(v ? v : "unknown"),
      xstrdup("binary logging is off: there is no binlog to stream"),
      strf("log_bin cannot be changed at runtime: in my.cnf [mysqld]: log_bin = %s (and no "
           "skip-log-bin%s), then restart the server",
           s->mariadb ? "mariadb-bin" : "binlog", s->mariadb ? "" : " or disable-log-bin"));
}

static void check_format(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "binlog_format");
  if (!v) {
    add(r, "binlog_format", DOCTOR_INFO, NULL,
        xstrdup("the server does not report it; row events are assumed"), NULL);
  } else if (!strcasecmp(v, "ROW")) {
    add(r, "binlog_format", DOCTOR_OK, xstrdup(v), NULL, NULL);
  } else {
    add(r, "binlog_format", DOCTOR_ERROR, xstrdup(v),
        strf("binhook needs row events%s" SESSIONS_NOTE,
             !strcasecmp(v, "MIXED") ? ", and MIXED logs most changes as statements" : ""),
        fix_set("binlog_format", "'ROW'", "ROW", NULL));
  }
}

static void check_row_image(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "binlog_row_image");
  if (!v) return; /* servers before row images existed log full rows */
  if (!strcasecmp(v, "FULL")) {
    add(r, "binlog_row_image", DOCTOR_OK, xstrdup(v), NULL, NULL);
    return;
  }
  const char *why = "binhook needs every column before and after a change";
  if (!strcasecmp(v, "MINIMAL"))
    why = "MINIMAL logs only the key and the changed columns, so before and after would be incomplete";
  else if (!strcasecmp(v, "NOBLOB"))
    why = "NOBLOB leaves unchanged BLOB and TEXT columns out, so before and after would be incomplete";
  else if (!strcasecmp(v, "FULL_NODUP"))
    why = "FULL_NODUP leaves unchanged columns out of the after image";
  add(r, "binlog_row_image", DOCTOR_ERROR, xstrdup(v), strf("%s" SESSIONS_NOTE, why),
      fix_set("binlog_row_image", "'FULL'", "FULL", NULL));
}

static void check_row_metadata(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "binlog_row_metadata");
  if (!v) {
    /* No optional metadata at all: not even signedness or charsets. */
    add(r, "binlog_row_metadata", DOCTOR_ERROR, xstrdup("unsupported"),
        strf("%s %u.%u.%u logs no column metadata, so unsigned integers and character sets cannot be "
             "decoded; binhook needs %s",
             family(s), s->major, s->minor, s->patch,
             s->mariadb ? "MariaDB 10.5 or later" : "MySQL 8.0.1 or later"),
        NULL);
  } else if (!strcasecmp(v, "FULL")) {
    add(r, "binlog_row_metadata", DOCTOR_OK, xstrdup(v), NULL, NULL);
  } else if (!strcasecmp(v, "MINIMAL")) {
    add(r, "binlog_row_metadata", DOCTOR_WARNING, xstrdup(v),
        xstrdup("column names and primary keys then come from information_schema, as it is when binhook "
                "reads the change: wrong for changes logged before an ALTER TABLE binhook has not reached "
                "yet"),
        fix_set("binlog_row_metadata", "'FULL'", "FULL", NULL));
  } else {
    add(r, "binlog_row_metadata", DOCTOR_ERROR, xstrdup(v),
        xstrdup("without column metadata unsigned integers and character sets cannot be decoded"),
        fix_set("binlog_row_metadata", "'FULL'", "FULL", NULL));
  }
}

static void check_server_id(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "server_id");
  if (!v) return;
  if (strtoul(v, NULL, 10) != 0) {
    add(r, "server_id", DOCTOR_OK, xstrdup(v), NULL, NULL);
    return;
  }
  add(r, "server_id", DOCTOR_ERROR, xstrdup(v), xstrdup("a server with server_id 0 refuses replicas"),
      fix_set("server_id", "1", "1", "(or any number unique among your servers and replicas)"));
}

static void check_gtid(const struct doctor_server *s, struct doctor_report *r)
{
  if (s->mariadb) {
    /* MariaDB always writes GTIDs; what is worth knowing is where they stand. */
    const char *pos = var(s, "gtid_binlog_pos");
    const char *domain = var(s, "gtid_domain_id");
    const char *strict = var(s, "gtid_strict_mode");
    if (!pos && !domain) return;
    add(r, "gtid_binlog_pos", DOCTOR_INFO, xstrdup(pos && *pos ? pos : "(none yet)"),
        strf("MariaDB GTIDs, gtid_domain_id %s, gtid_strict_mode %s", domain ? domain : "?",
             strict ? strict : "?"),
        NULL);
    return;
  }
  const char *mode = var(s, "gtid_mode");
  const char *enforce = var(s, "enforce_gtid_consistency");
  if (!mode) {
    add(r, "gtid_mode", DOCTOR_INFO, xstrdup("unsupported"),
        xstrdup("this server has no GTIDs: checkpoints are file:position only"), NULL);
    return;
  }
  if (!strcasecmp(mode, "ON") && is_on(enforce)) {
    add(r, "gtid_mode", DOCTOR_OK, xstrdup("ON"), NULL, NULL);
    return;
  }
  /* gtid_mode moves one step at a time; the fix starts from where it is. */
  static const char *const steps[] = {"OFF", "OFF_PERMISSIVE", "ON_PERMISSIVE", "ON"};
  size_t at = 0;
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (!strcasecmp(mode, steps[i])) at = i;
  struct buf fix = BUF_INIT;
  if (!is_on(enforce)) buf_adds(&fix, "SET GLOBAL enforce_gtid_consistency = ON; ");
  for (size_t i = at + 1; i < sizeof steps / sizeof steps[0]; i++)
    buf_printf(&fix, "SET GLOBAL gtid_mode = %s; ", steps[i]);
  buf_adds(&fix, " and in my.cnf [mysqld]: gtid_mode = ON, enforce_gtid_consistency = ON  (before the "
                 "last step, wait until Ongoing_anonymous_transaction_count is 0)");
  add(r, "gtid_mode", DOCTOR_WARNING, xstrdup(mode),
      strf("enforce_gtid_consistency = %s; without GTIDs checkpoints are file:position only, which do not "
           "survive a failover to another server",
           enforce ? enforce : "?"),
      buf_steal(&fix));
}

/* Whether binhook could follow this server's topology through a failover
 * by GTID: said as information, since one server alone needs none of it;
 * what is missing is named with the line that fixes it. */
static void check_failover(const struct doctor_server *s, struct doctor_report *r)
{
  struct buf why = BUF_INIT;
  const char *upd = var(s, "log_replica_updates") ? var(s, "log_replica_updates") : var(s, "log_slave_updates");
  if (s->mariadb) {
    const char *strict = var(s, "gtid_strict_mode");
    if (!is_on(strict))
      buf_adds(&why, "gtid_strict_mode is OFF (SET GLOBAL gtid_strict_mode = ON, and in my.cnf; on every server of "
                     "the topology, so that a replica never holds a GTID out of order); ");
  } else {
    const char *mode = var(s, "gtid_mode");
    if (!mode || strcasecmp(mode, "ON") || !is_on(var(s, "enforce_gtid_consistency")))
      buf_adds(&why, "GTIDs are not fully on (see gtid_mode above); ");
  }
  if (upd && !is_on(upd))
    buf_printf(&why, "%s is OFF (in my.cnf [mysqld]: %s = ON, on every replica that may be promoted, so that "
                     "it logs what it replicates; a restart is needed); ",
               var(s, "log_replica_updates") ? "log_replica_updates" : "log_slave_updates",
               var(s, "log_replica_updates") ? "log_replica_updates" : "log_slave_updates");
  if (!why.len) {
    add(r, "failover", DOCTOR_INFO, xstrdup("ready"),
        xstrdup("a replica of this topology set up the same way can be promoted and binhook resumes there by "
                "GTID"),
        NULL);
    return;
  }
  why.len -= 2; /* the last "; " */
  why.p[why.len] = 0;
  add(r, "failover", DOCTOR_INFO, xstrdup("not ready"),
      strf("%s; until then, after a failover binhook may not find its place on the promoted server", why.p),
      NULL);
  buf_free(&why);
}

static void check_retention(const struct doctor_server *s, struct doctor_report *r)
{
  const char *secs_v = var(s, "binlog_expire_logs_seconds");
  const char *days_v = var(s, "expire_logs_days");
  if (!secs_v && !days_v) return;
  /* MySQL 8 prefers the seconds when both are set; MariaDB keeps them in
   * step. Either way the days count when the seconds are 0. */
  const char *name = secs_v ? "binlog_expire_logs_seconds" : "expire_logs_days";
  const char *value = secs_v ? secs_v : days_v;
  double secs = secs_v ? strtod(secs_v, NULL) : strtod(days_v, NULL) * 86400;
  if (secs <= 0 && secs_v && days_v && strtod(days_v, NULL) > 0) {
    name = "expire_logs_days";
    value = days_v;
    secs = strtod(days_v, NULL) * 86400;
  }
  char dur[64];
  duration(secs, dur, sizeof dur);
  const char *auto_purge = var(s, "binlog_expire_logs_auto_purge");
  if (auto_purge && !is_on(auto_purge)) {
    add(r, "binlog_expire_logs_auto_purge", DOCTOR_INFO, xstrdup(auto_purge),
        xstrdup("binlogs are never purged automatically: disk use grows until someone runs PURGE BINARY "
                "LOGS"),
        NULL);
  } else if (secs <= 0) {
    add(r, name, DOCTOR_INFO, xstrdup(value),
        xstrdup("binlogs are never purged: disk use grows until someone runs PURGE BINARY LOGS"), NULL);
  } else if (secs < 86400) {
    /* The fix names the seconds wherever the server has them. */
    char val[32];
    snprintf(val, sizeof val, "%d", secs_v ? RETENTION_SECONDS : RETENTION_DAYS);
    add(r, name, DOCTOR_WARNING, strf("%s (%s)", value, dur),
        strf("binlogs are purged after %s: if binhook is stopped longer, the binlog its checkpoint points "
             "into is gone and the changes in between are lost",
             dur),
        fix_set(secs_v ? "binlog_expire_logs_seconds" : "expire_logs_days", val, val, NULL));
  } else {
    add(r, name, DOCTOR_OK, strf("%s (%s)", value, dur),
        strf("binhook can be stopped for up to %s and resume where it was", dur), NULL);
  }

  const char *size_v = var(s, "max_binlog_total_size");
  if (!size_v) size_v = var(s, "binlog_space_limit");
  if (size_v && strtoull(size_v, NULL, 10) > 0)
    add(r, "max_binlog_total_size", DOCTOR_INFO, xstrdup(size_v),
        xstrdup("binlogs are also purged when together larger than this: a long outage of binhook can lose "
                "its place sooner than the time limit says"),
        NULL);
}

static void check_checksum(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "binlog_checksum");
  if (v) add(r, "binlog_checksum", DOCTOR_INFO, xstrdup(v), NULL, NULL);
}

static void check_statement_text(const struct doctor_server *s, struct doctor_report *r)
{
  const char *name = s->mariadb ? "binlog_annotate_row_events" : "binlog_rows_query_log_events";
  const char *v = var(s, name);
  if (!v) return;
  if (is_on(v)) {
    add(r, name, DOCTOR_OK, xstrdup(v), NULL, NULL);
    return;
  }
  add(r, name, DOCTOR_WARNING, xstrdup(v),
      xstrdup("row events then lack `sql`: rules and templates cannot see the statement behind a "
              "change" SESSIONS_NOTE),
      fix_set(name, "ON", "ON", NULL));
}

static void check_value_options(const struct doctor_server *s, struct doctor_report *r)
{
  const char *v = var(s, "binlog_row_value_options");
  if (!v || s->mariadb) return;
  if (!strcasestr(v, "PARTIAL_JSON")) {
    add(r, "binlog_row_value_options", DOCTOR_OK, shown(v), NULL, NULL);
    return;
  }
  add(r, "binlog_row_value_options", DOCTOR_WARNING, xstrdup(v),
      xstrdup("updates that touch part of a JSON document may be logged as partial updates, so `after` "
              "would not hold the whole document"),
      fix_set("binlog_row_value_options", "''", "\"\"", NULL));
}

static void check_compression(const struct doctor_server *s, struct doctor_report *r)
{
  const char *name = s->mariadb ? "log_bin_compress" : "binlog_transaction_compression";
  const char *v = var(s, name);
  if (!v) return;
  add(r, name, DOCTOR_INFO, xstrdup(v),
      is_on(v) ? xstrdup(s->mariadb ? "events are compressed in the binlog (zlib)"
                                    : "transactions arrive compressed in payload events (zstd)")
               : NULL,
      NULL);
}

static const char *client_priv(const struct doctor_server *s)
{
  /* MariaDB 10.5.2 renamed REPLICATION CLIENT; the old name still works in
   * GRANT, but the new one is what the server prints and documents. */
  return s->mariadb && version_at_least(s, 10, 5, 2) ? "BINLOG MONITOR" : "REPLICATION CLIENT";
}

/* Privileges of a role count only when the role is active at login. */
static char *roles_note(const struct doctor_server *s, const struct privs *pv, const char *message)
{
  if (!pv->roles.len || s->active_roles) return xstrdup(message);
  return strf("%s (the account has the role %s, but no role is active at login: SET DEFAULT ROLE)", message,
              pv->roles.p);
}

/* Returns whether the replication-client privilege is there, for the
 * binary-logs check. */
static int check_privileges(const struct doctor_server *s, struct doctor_report *r)
{
  if (s->grants_error) {
    add(r, "privileges", DOCTOR_WARNING, NULL, strf("cannot read SHOW GRANTS: %s", s->grants_error), NULL);
    return 1;
  }
  struct privs pv;
  memset(&pv, 0, sizeof pv);
  for (size_t i = 0; i < s->ngrants; i++)
    parse_grant(s->grants[i], &pv);

  char *name;
  if (pv.all || pv.repl_slave) {
    add(r, "privilege REPLICATION SLAVE", DOCTOR_OK, xstrdup(pv.repl_slave ? "granted" : "ALL PRIVILEGES"),
        NULL, NULL);
  } else {
    add(r, "privilege REPLICATION SLAVE", DOCTOR_ERROR, xstrdup("missing"),
        roles_note(s, &pv, "binhook reads the binlog as a replica does"), fix_grant(s, "REPLICATION SLAVE"));
  }

  /* SUPER still lets MySQL and MariaDB before 11.0 show the binlog position. */
  const char *client = client_priv(s);
  int super_ok = pv.super && (!s->mariadb || !version_at_least(s, 11, 0, 0));
  int client_ok = pv.all || pv.repl_client || super_ok;
  name = strf("privilege %s", client);
  if (client_ok) {
    add(r, name, DOCTOR_OK,
        xstrdup(pv.repl_client ? "granted"
                : pv.all       ? "ALL PRIVILEGES"
                               : "SUPER"),
        NULL, NULL);
  } else {
    add(r, name, DOCTOR_ERROR, xstrdup("missing"),
        roles_note(s, &pv, "binhook asks for the binlog files and the current position"),
        fix_grant(s, client));
  }
  free(name);

  if (pv.all || pv.select_all) {
    add(r, "privilege SELECT", DOCTOR_OK, xstrdup(pv.select_all ? "granted on *.*" : "ALL PRIVILEGES"), NULL,
        NULL);
  } else if (pv.select_some.len) {
    add(r, "privilege SELECT", DOCTOR_INFO, strf("on %s only", pv.select_some.p),
        xstrdup("enough when [source] tables stays within these; binhook reads table definitions and "
                "snapshots with it"),
        NULL);
  } else {
    /* With full metadata the binlog names the columns itself. */
    const char *meta = var(s, "binlog_row_metadata");
    int full = meta && !strcasecmp(meta, "FULL");
    char *grant = fix_grant(s, "SELECT");
    add(r, "privilege SELECT", full ? DOCTOR_WARNING : DOCTOR_ERROR, xstrdup("missing"),
        roles_note(s, &pv,
                   full ? "binhook cannot read snapshots or table definitions"
                        : "binhook cannot read column names from information_schema, nor snapshots"),
        strf("%s  (or per schema, ON `shop`.* instead of ON *.*)", grant));
    free(grant);
  }
  buf_free(&pv.select_some);
  buf_free(&pv.roles);
  return client_ok;
}

static void check_binary_logs(const struct doctor_server *s, struct doctor_report *r, int client_ok)
{
  const char *name = "binary logs";
  if (!is_on(var(s, "log_bin")) || s->binlogs_errno == ER_NO_BINARY_LOGGING) {
    add(r, name, DOCTOR_SKIPPED, NULL, xstrdup("binary logging is off (see log_bin)"), NULL);
  } else if (s->binlogs_error && !client_ok &&
             (s->binlogs_errno == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
              s->binlogs_errno == ER_ACCESS_DENIED_ERROR)) {
    add(r, name, DOCTOR_SKIPPED, NULL, strf("SHOW BINARY LOGS needs %s (see above)", client_priv(s)), NULL);
  } else if (s->binlogs_error) {
    add(r, name, DOCTOR_ERROR, NULL, strf("SHOW BINARY LOGS failed: %s", s->binlogs_error), NULL);
  } else if (!s->nbinlogs) {
    add(r, name, DOCTOR_ERROR, xstrdup("none"), xstrdup("SHOW BINARY LOGS lists no file"), NULL);
  } else {
    add(r, name, DOCTOR_OK,
        strf("%zu file%s, newest %s", s->nbinlogs, s->nbinlogs == 1 ? "" : "s",
             s->binlog_last ? s->binlog_last : "?"),
        NULL, NULL);
  }
}

void doctor_evaluate(const struct doctor_server *s, struct doctor_report *r)
{
  check_log_bin(s, r);
  check_format(s, r);
  check_row_image(s, r);
  check_row_metadata(s, r);
  check_server_id(s, r);
  check_gtid(s, r);
  check_failover(s, r);
  check_retention(s, r);
  check_checksum(s, r);
  check_statement_text(s, r);
  check_value_options(s, r);
  check_compression(s, r);
  int client_ok = check_privileges(s, r);
  check_binary_logs(s, r, client_ok);
}

/* ---- output ---- */

const char *doctor_status_name(enum doctor_status status)
{
  switch (status) {
  case DOCTOR_OK: return "ok";
  case DOCTOR_INFO: return "info";
  case DOCTOR_WARNING: return "warning";
  case DOCTOR_ERROR: return "error";
  case DOCTOR_SKIPPED: return "skipped";
  }
  return "?";
}

size_t doctor_count(const struct doctor_report *r, enum doctor_status status)
{
  size_t n = 0;
  for (size_t i = 0; i < r->n; i++)
    n += r->checks[i].status == status;
  return n;
}

void doctor_format_text(const struct doctor_report *r, struct buf *out)
{
  for (size_t i = 0; i < r->n; i++) {
    const struct doctor_check *c = &r->checks[i];
    buf_printf(out, "%-8s %s", doctor_status_name(c->status), c->name);
    if (c->value) buf_printf(out, " = %s", c->value);
    if (c->message) buf_printf(out, ": %s", c->message);
    buf_addc(out, '\n');
    if (c->fix) buf_printf(out, "  fix: %s\n", c->fix);
  }
  size_t errors = doctor_count(r, DOCTOR_ERROR), warnings = doctor_count(r, DOCTOR_WARNING);
  size_t store_errors = 0;
  for (size_t i = 0; i < r->n; i++)
    store_errors += r->checks[i].status == DOCTOR_ERROR && !strncmp(r->checks[i].name, "state store", 11);
  const char *what = !store_errors            ? "stream from this server"
                     : store_errors == errors ? "use its state store"
                                              : "stream from this server nor use its state store";
  if (errors)
    buf_printf(out, "%zu problem%s: binhook cannot %s until %s fixed", errors, errors == 1 ? "" : "s", what,
               errors == 1 ? "it is" : "they are");
  else
    buf_adds(out, "the server can serve binhook");
  if (warnings)
    buf_printf(out, errors ? " (and %zu warning%s)" : " (%zu warning%s)", warnings, warnings == 1 ? "" : "s");
  buf_addc(out, '\n');
}

static void json_field(struct buf *out, const char *key, const char *value, int last)
{
  buf_printf(out, "\"%s\": ", key);
  if (value)
    buf_add_json_str(out, value, strlen(value));
  else
    buf_adds(out, "null");
  if (!last) buf_adds(out, ", ");
}

void doctor_format_json(const struct doctor_report *r, struct buf *out)
{
  buf_addc(out, '[');
  for (size_t i = 0; i < r->n; i++) {
    const struct doctor_check *c = &r->checks[i];
    buf_adds(out, i ? ",\n  {" : "\n  {");
    json_field(out, "name", c->name, 0);
    json_field(out, "status", doctor_status_name(c->status), 0);
    json_field(out, "value", c->value, 0);
    json_field(out, "message", c->message, 0);
    json_field(out, "fix", c->fix, 1);
    buf_addc(out, '}');
  }
  buf_adds(out, r->n ? "\n]\n" : "]\n");
}

void doctor_server_free(struct doctor_server *s)
{
  free(s->version);
  free(s->version_comment);
  free(s->user);
  free(s->host);
  for (size_t i = 0; i < s->nvars; i++) {
    free(s->var_names[i]);
    free(s->var_values[i]);
  }
  free(s->var_names);
  free(s->var_values);
  for (size_t i = 0; i < s->ngrants; i++)
    free(s->grants[i]);
  free(s->grants);
  free(s->grants_error);
  free(s->active_roles);
  free(s->binlog_last);
  free(s->binlogs_error);
  memset(s, 0, sizeof *s);
}

void doctor_report_free(struct doctor_report *r)
{
  for (size_t i = 0; i < r->n; i++) {
    free(r->checks[i].name);
    free(r->checks[i].value);
    free(r->checks[i].message);
    free(r->checks[i].fix);
  }
  free(r->checks);
  memset(r, 0, sizeof *r);
}

/* ---- the command ---- */

/* ---- the servers of the topology ---- */

/* The value of column name in row (of res), or NULL. */
static const char *column(MYSQL_RES *res, MYSQL_ROW row, const char *name)
{
  unsigned n = mysql_num_fields(res);
  MYSQL_FIELD *f = mysql_fetch_fields(res);
  for (unsigned i = 0; i < n; i++)
    if (!strcasecmp(f[i].name, name)) return row[i];
  return NULL;
}

int doctor_gather_peer(MYSQL *m, struct doctor_peer *p)
{
  MYSQL_RES *res = query(m, "SELECT @@version, @@server_id, @@read_only, @@log_slave_updates");
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  if (!row) {
    p->error = strf("cannot ask it: %s", mysql_error(m));
    if (res) mysql_free_result(res);
    return -1;
  }
  p->mariadb = row[0] && strstr(row[0], "MariaDB") != NULL;
  p->server_id = row[1] ? (unsigned)strtoul(row[1], NULL, 10) : 0;
  p->read_only = row[2] && atoi(row[2]) != 0;
  p->log_updates = dup_or_null(row[3] ? (atoi(row[3]) ? "ON" : "OFF") : NULL);
  mysql_free_result(res);
  res = query(m, p->mariadb ? "SELECT @@gtid_strict_mode" : "SELECT @@gtid_mode");
  if (res && (row = mysql_fetch_row(res)) && row[0]) {
    if (p->mariadb) p->gtid_strict = xstrdup(atoi(row[0]) ? "ON" : "OFF");
    else p->gtid_mode = xstrdup(row[0]);
  }
  if (res) mysql_free_result(res);
  /* MySQL 8.4 knows only the new name; MariaDB and older MySQL the old one */
  res = query(m, "SHOW REPLICA STATUS");
  if (!res) res = query(m, "SHOW SLAVE STATUS");
  if (!res) p->role_error = xstrdup(mysql_error(m));
  if (res && (row = mysql_fetch_row(res))) {
    const char *host = column(res, row, "Master_Host"), *port = column(res, row, "Master_Port");
    if (!host) host = column(res, row, "Source_Host");
    if (!port) port = column(res, row, "Source_Port");
    const char *io = column(res, row, "Slave_IO_Running"), *sql = column(res, row, "Slave_SQL_Running");
    if (!io) io = column(res, row, "Replica_IO_Running");
    if (!sql) sql = column(res, row, "Replica_SQL_Running");
    p->source = strf("%s:%s", host ? host : "?", port ? port : "?");
    p->io_running = io && !strcasecmp(io, "Yes");
    p->sql_running = sql && !strcasecmp(sql, "Yes");
  }
  if (res) mysql_free_result(res);
  return 0;
}

void doctor_evaluate_peer(const struct doctor_peer *p, struct doctor_report *r)
{
  char *name = strf("server %s", p->where);
  if (p->error) {
    add(r, name, DOCTOR_WARNING, xstrdup("unreachable"),
        strf("%s; binhook tries it in its turn and streams from the others meanwhile", p->error), NULL);
    free(name);
    return;
  }
  char *role = p->role_error ? strf("%s, role unknown (server_id %u)", p->read_only ? "read-only" : "writable",
                                    p->server_id)
               : p->source ? strf("replica of %s (server_id %u, replication %s)", p->source, p->server_id,
                                  p->io_running && p->sql_running ? "running" : "stopped")
               : p->read_only ? strf("read-only, replicating from nothing (server_id %u)", p->server_id)
                              : strf("primary (server_id %u)", p->server_id);
  struct buf why = BUF_INIT;
  if (p->role_error) { /* binhook needs no such privilege: the role is only said when it can be */
    add(r, name, DOCTOR_INFO, role,
        strf("whether it replicates, and from where, is not known: SHOW SLAVE STATUS was refused (%s); %s",
             p->role_error,
             p->mariadb ? "GRANT SLAVE MONITOR ON *.* to binhook's user shows it" : "GRANT REPLICATION CLIENT ON *.* "
                                                                                   "to binhook's user shows it"),
        NULL);
    free(name);
    return;
  }
  if (p->mariadb && p->gtid_strict && strcmp(p->gtid_strict, "ON"))
    buf_adds(&why, "gtid_strict_mode is OFF (SET GLOBAL gtid_strict_mode = ON, and in my.cnf); ");
  if (!p->mariadb && (!p->gtid_mode || strcasecmp(p->gtid_mode, "ON")))
    buf_printf(&why, "gtid_mode is %s (gtid_mode = ON and enforce_gtid_consistency = ON in my.cnf); ",
               p->gtid_mode ? p->gtid_mode : "unknown");
  if (p->source && p->log_updates && strcmp(p->log_updates, "ON"))
    buf_printf(&why, "%s is OFF: promoted, its binlog would lack what it replicated (%s = ON in my.cnf "
                     "[mysqld], then a restart); ",
               p->mariadb ? "log_slave_updates" : "log_replica_updates",
               p->mariadb ? "log_slave_updates" : "log_replica_updates");
  if (p->source && !(p->io_running && p->sql_running))
    buf_adds(&why, "its replication is stopped: it falls behind, and binhook refuses a server that lacks what "
                   "it read (START SLAVE); ");
  if (why.len) {
    why.len -= 2;
    why.p[why.len] = 0;
    add(r, name, DOCTOR_WARNING, role, strf("not ready for a failover: %s", why.p), NULL);
  } else {
    add(r, name, DOCTOR_INFO, role,
        xstrdup(p->source ? "ready: promoted, binhook resumes there by GTID" : "binhook resumes here by GTID"), NULL);
  }
  buf_free(&why);
  free(name);
}

void doctor_peer_free(struct doctor_peer *p)
{
  free(p->where);
  free(p->error);
  free(p->source);
  free(p->role_error);
  free(p->log_updates);
  free(p->gtid_strict);
  free(p->gtid_mode);
  memset(p, 0, sizeof *p);
}

/* ---- the state store ---- */

/* Runs a query built with [state] name quoted in; the result or NULL with
 * *error set to the server's words. */
static MYSQL_RES *query_named(MYSQL *m, const char *head, const char *name, const char *tail, char **error)
{
  struct buf q = BUF_INIT;
  buf_adds(&q, head);
  dbstore_quote(m, &q, name, strlen(name));
  buf_adds(&q, tail);
  MYSQL_RES *res = mysql_real_query(m, q.p, (unsigned long)q.len) ? NULL : mysql_store_result(m);
  if (!res) *error = xstrdup(*mysql_error(m) ? mysql_error(m) : "no answer");
  buf_free(&q);
  return res;
}

int doctor_gather_store(MYSQL *m, struct doctor_store *st)
{
  struct doctor_server *s = &st->server;
  char err[1024];
  s->version = xstrdup(mysql_get_server_info(m));
  doctor_detect(s);
  if (read_current_user(m, s, err, sizeof err)) {
    st->error = xstrdup(err);
    return -1;
  }
  read_grants(m, s);

  if (mysql_select_db(m, st->database)) {
    st->db_exists = mysql_errno(m) == ER_BAD_DB_ERROR ? 0 : -1;
    if (st->db_exists) st->db_error = xstrdup(mysql_error(m));
    return 0;
  }
  st->db_exists = 1;
  MYSQL_RES *res = query(m, "SHOW TABLES LIKE 'binhook%'");
  if (!res) {
    st->tables_error = xstrdup(mysql_error(m));
    return 0;
  }
  MYSQL_ROW row;
  while ((row = mysql_fetch_row(res))) {
    if (!row[0]) continue;
    if (!strcmp(row[0], "binhook_meta")) st->tables |= DOCTOR_TABLE_META;
    if (!strcmp(row[0], "binhook_lease")) st->tables |= DOCTOR_TABLE_LEASE;
    if (!strcmp(row[0], "binhook_queue")) st->tables |= DOCTOR_TABLE_QUEUE;
  }
  mysql_free_result(res);

  if (st->tables & DOCTOR_TABLE_META) {
    res = query_named(m, "SELECT v FROM binhook_meta WHERE name = ", st->name, " AND k = 'schema'",
                      &st->schema_error);
    if (res && (row = mysql_fetch_row(res)) && row[0]) st->schema = xstrdup(row[0]);
    if (res) mysql_free_result(res);
  }
  if (st->tables & DOCTOR_TABLE_LEASE) {
    res = query_named(m,
                      "SELECT owner, host, pid, epoch, expires > NOW(6), "
                      "TIMESTAMPDIFF(MICROSECOND, renewed, NOW(6)) FROM binhook_lease WHERE name = ",
                      st->name, "", &st->lease_error);
    if (res && (row = mysql_fetch_row(res))) {
      st->lease = 1;
      st->lease_owner = xstrdup(row[0] ? row[0] : "");
      st->lease_host = xstrdup(row[1] ? row[1] : "");
      st->lease_pid = row[2] ? strtol(row[2], NULL, 10) : 0;
      st->lease_epoch = row[3] ? strtoull(row[3], NULL, 10) : 0;
      st->lease_held = row[4] && atoi(row[4]) == 1;
      st->lease_age = row[5] ? strtod(row[5], NULL) / 1e6 : 0;
    }
    if (res) mysql_free_result(res);
  }
  return 0;
}

/* `name` as an SQL identifier. */
static void add_sql_ident(struct buf *b, const char *name)
{
  buf_addc(b, '`');
  for (; *name; name++) {
    if (*name == '`') buf_addc(b, '`');
    buf_addc(b, *name);
  }
  buf_addc(b, '`');
}

static void check_store_privileges(const struct doctor_store *st, struct doctor_report *r)
{
  const struct doctor_server *s = &st->server;
  if (s->grants_error) {
    add(r, "state store privileges", DOCTOR_WARNING, NULL,
        strf("cannot read SHOW GRANTS: %s", s->grants_error), NULL);
    return;
  }
  struct privs pv;
  memset(&pv, 0, sizeof pv);
  pv.db = st->database;
  for (size_t i = 0; i < s->ngrants; i++)
    parse_grant(s->grants[i], &pv);

  struct buf on = BUF_INIT;
  add_sql_ident(&on, st->database);
  buf_adds(&on, ".*");
  int tables_there = st->db_exists == 1 && st->tables == DOCTOR_TABLES_ALL;
  static const char *const why[NSTORE_PRIVS] = {
      "binhook reads its checkpoint, its queue and the lease",
      "binhook adds the lease's row, its checkpoint and the deliveries of its queue",
      "binhook takes and renews the lease, and updates its checkpoint and deliveries",
      "binhook deletes the deliveries it has finished",
      NULL,
  };
  for (size_t i = 0; i < NSTORE_PRIVS; i++) {
    unsigned bit = 1u << i;
    char *name = strf("state store privilege %s", store_privs[i]);
    if (pv.db_global & bit) {
      add(r, name, DOCTOR_OK, xstrdup(pv.all ? "ALL PRIVILEGES" : "granted on *.*"), NULL, NULL);
    } else if (pv.db_here & bit) {
      add(r, name, DOCTOR_OK, strf("granted on %s", pv.db_on[i]), NULL, NULL);
    } else if (i == STORE_PRIV_CREATE && tables_there) {
      add(r, name, DOCTOR_OK, xstrdup("not needed"),
          xstrdup("the database and its tables are there; binhook creates only what is missing"), NULL);
    } else {
      const char *message = why[i];
      if (i == STORE_PRIV_CREATE) message = "binhook creates the database and its tables at its first start";
      char *who = account(s);
      add(r, name, DOCTOR_ERROR, xstrdup("missing"), roles_note(s, &pv, message),
          strf("GRANT %s ON %s TO %s;", store_privs[i], on.p, who));
      free(who);
    }
    free(name);
  }
  buf_free(&on);
  buf_free(&pv.select_some);
  buf_free(&pv.roles);
}

static void check_store_tables(const struct doctor_store *st, struct doctor_report *r)
{
  const char *name = "state store tables";
  if (st->db_exists < 0) {
    add(r, name, DOCTOR_INFO, xstrdup("unknown"), strf("cannot use the database: %s", st->db_error), NULL);
  } else if (!st->db_exists) {
    add(r, name, DOCTOR_INFO, xstrdup("none yet"),
        strf("there is no database '%s': binhook creates it and its tables at its first start", st->database),
        NULL);
  } else if (st->tables_error) {
    add(r, name, DOCTOR_INFO, xstrdup("unknown"), strf("SHOW TABLES failed: %s", st->tables_error), NULL);
  } else if (!st->tables) {
    add(r, name, DOCTOR_INFO, xstrdup("none yet"), xstrdup("binhook creates them at its first start"), NULL);
  } else if (st->tables != DOCTOR_TABLES_ALL) {
    struct buf have = BUF_INIT;
    if (st->tables & DOCTOR_TABLE_META) buf_adds(&have, "binhook_meta, ");
    if (st->tables & DOCTOR_TABLE_LEASE) buf_adds(&have, "binhook_lease, ");
    if (st->tables & DOCTOR_TABLE_QUEUE) buf_adds(&have, "binhook_queue, ");
    have.len -= 2;
    have.p[have.len] = 0;
    add(r, name, DOCTOR_INFO, strf("%s only", have.p),
        xstrdup("binhook creates the others at its next start"), NULL);
    buf_free(&have);
  } else if (st->schema_error) {
    add(r, name, DOCTOR_INFO, xstrdup("present"),
        strf("cannot read the schema version: %s", st->schema_error), NULL);
  } else if (!st->schema) {
    add(r, name, DOCTOR_INFO, xstrdup("present"),
        strf("no schema version for [state] name '%s' yet: binhook writes it at its first start", st->name),
        NULL);
  } else {
    long ver = strtol(st->schema, NULL, 10);
    if (ver > DBSTORE_SCHEMA)
      add(r, name, DOCTOR_ERROR, strf("schema %s for '%s'", st->schema, st->name),
          strf("written by a newer binhook (this one knows version %d): it refuses to start", DBSTORE_SCHEMA),
          xstrdup("run that newer version, or give this one its own [state] name"));
    else
      add(r, name, DOCTOR_INFO, strf("schema %s for '%s'", st->schema, st->name), NULL, NULL);
  }
}

/* "2.5 seconds", "3 hours": how long ago a lease was renewed. */
static void age(double secs, char *out, size_t size)
{
  if (secs < 0) secs = 0;
  if (secs < 60)
    snprintf(out, size, "%.1f seconds", secs);
  else
    duration(secs, out, size);
}

static void check_store_lease(const struct doctor_store *st, struct doctor_report *r)
{
  const char *name = "state store lease";
  if (!(st->tables & DOCTOR_TABLE_LEASE)) return;
  if (st->lease_error) {
    add(r, name, DOCTOR_INFO, xstrdup("unknown"), strf("cannot read binhook_lease: %s", st->lease_error),
        NULL);
    return;
  }
  if (!st->lease) {
    add(r, name, DOCTOR_INFO, xstrdup("none yet"),
        strf("no binhook has run with [state] name '%s': the first to start becomes active", st->name), NULL);
    return;
  }
  char ago[64];
  age(st->lease_age, ago, sizeof ago);
  if (st->lease_held)
    add(r, name, DOCTOR_INFO, strf("held by %s pid %ld", st->lease_host, st->lease_pid),
        strf("renewed %s ago, epoch %llu: that binhook is active, others with this configuration stand by",
             ago, st->lease_epoch),
        NULL);
  else
    add(r, name, DOCTOR_INFO, strf("free, last held by %s pid %ld", st->lease_host, st->lease_pid),
        strf("renewed %s ago, epoch %llu: the next binhook to start with this [state] name becomes active",
             ago, st->lease_epoch),
        NULL);
}

void doctor_evaluate_store(const struct doctor_store *st, struct doctor_report *r)
{
  if (st->error) {
    add(r, "state store", DOCTOR_ERROR, dup_or_null(st->where), xstrdup(st->error),
        xstrdup("start the server or correct [state] store (and its password): binhook, active or standby, "
                "cannot start without its store"));
    return;
  }
  char *who = account(&st->server);
  add(r, "state store", DOCTOR_OK, xstrdup(st->where),
      strf("%s %s as %s", family(&st->server), st->server.version, who), NULL);
  free(who);
  check_store_privileges(st, r);
  check_store_tables(st, r);
  check_store_lease(st, r);
}

void doctor_store_free(struct doctor_store *st)
{
  free(st->where);
  free(st->database);
  free(st->name);
  free(st->error);
  doctor_server_free(&st->server);
  free(st->db_error);
  free(st->tables_error);
  free(st->schema);
  free(st->schema_error);
  free(st->lease_owner);
  free(st->lease_host);
  free(st->lease_error);
  memset(st, 0, sizeof *st);
}

/* The lines of the state store [state] store names (none for "dir"). */
static void store_lines(const struct config *cfg, struct doctor_report *r)
{
  if (!config_state_in_db(cfg)) return;
  struct doctor_store st = {0};
  struct conn_opts co;
  char err[4096], here[300];
  st.name = xstrdup(cfg->state.name ? cfg->state.name : "default");
  if (config_state_conn(cfg, &co, &st.database, err, sizeof err)) {
    st.error = xstrdup(err);
  } else {
    st.where = strf("%s/%s", conn_where(&co, here, sizeof here), st.database);
    MYSQL *m = conn_open(&co, err, sizeof err);
    if (!m)
      st.error = xstrdup(err);
    else
      doctor_gather_store(m, &st);
    if (m) mysql_close(m);
    conn_opts_free(&co);
  }
  doctor_evaluate_store(&st, r);
  doctor_store_free(&st);
}

/* The checks of a PostgreSQL source (source/pg_doctor.h); the exit status. */
static int pg_doctor(const struct config *cfg, const struct conn_opts *co, int json)
{
  struct buf out = BUF_INIT;
  char err[4096];
  int errors = pg_doctor_run(co, cfg->source.slot, cfg->source.publication, json, &out, err, sizeof err);
  if (errors < 0) {
    fprintf(stderr, "binhook doctor: %s\n", err);
    buf_free(&out);
    return 1;
  }
  fwrite(out.p, 1, out.len, stdout);
  buf_free(&out);
  if (fflush(stdout)) {
    fprintf(stderr, "binhook doctor: cannot write the report\n");
    return 2;
  }
  return errors ? 1 : 0;
}

static void usage(FILE *out)
{
  fprintf(out, "usage: binhook doctor [-c FILE] [--source URL] [--json]\n"
               "       binhook doctor --ddl-sql\n"
               "\n"
               "Connects to the server of [source] and checks what binhook needs from it: the\n"
               "binary log settings, their retention and the user's privileges. Says, for each\n"
               "problem, the statement to run and the my.cnf line to keep it. With several\n"
               "servers listed, the first that answers is checked so, and each gets a line: its\n"
               "role, and whether binhook could resume there by GTID after a failover. When\n"
               "[state] store names a database, checks the store too: reachable, the privileges\n"
               "binhook needs on it, its tables and who holds the lease.\n"
               "\n"
               "For a postgresql:// source: wal_level, free replication slots and WAL senders,\n"
               "the REPLICATION attribute and a replication connection, the publication and the\n"
               "tables it covers (and those without a replica identity), the slot and the WAL\n"
               "it holds back, and whether the DDL alerts' event trigger is installed.\n"
               "\n"
               "  -c, --config FILE   the configuration (default: built-in defaults)\n"
               "  --source URL[,URL]  mysql://user@host:port or postgresql://user@host:port/db,\n"
               "                      instead of [source] url (several MySQL servers:\n"
               "                      the servers of one topology, each said ready for a failover\n"
               "                      or not); the password comes from the variable named by\n"
               "                      password_env (default BINHOOK_MYSQL_PASSWORD)\n"
               "  --json              the checks as a JSON array of {name, status, value, message, fix}\n"
               "  --ddl-sql           print the SQL that installs the DDL alerts' event trigger in a\n"
               "                      PostgreSQL database (contrib/postgresql/ddl-alerts.sql), and exit\n"
               "  -h, --help          this text\n"
               "\n"
               "exit status: 0 the server can serve binhook (warnings allowed), 1 problems found\n"
               "or no connection, 2 usage or configuration error\n");
}

/* Matches option name (with its value next, or after '=' for a long name).
 * Returns 1 and sets *value, 0 when argv[*i] is another option, -1 when the
 * value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n)) return 0;
  if (a[n] == '=' && name[1] == '-') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n]) return 0;
  if (*i + 1 >= argc) return -1;
  *value = argv[++*i];
  return 1;
}

int cmd_doctor(int argc, char **argv)
{
  const char *config_path = NULL, *source = NULL;
  int json = 0, ddl_sql = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int got = 0;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--json")) {
      json = 1;
      continue;
    }
    if (!strcmp(a, "--ddl-sql")) {
      ddl_sql = 1;
      continue;
    }
    if (!got) got = option_value(argc, argv, &i, "-c", &config_path);
    if (!got) got = option_value(argc, argv, &i, "--config", &config_path);
    if (!got) got = option_value(argc, argv, &i, "--source", &source);
    if (got == 1) continue;
    if (got < 0)
      fprintf(stderr, "binhook doctor: option '%s' needs a value\n", a);
    else if (a[0] == '-')
      fprintf(stderr, "binhook doctor: unknown option '%s'\n", a);
    else
      fprintf(stderr, "binhook doctor: unexpected argument '%s'\n", a);
    usage(stderr);
    return 2;
  }

  if (ddl_sql) { /* nothing to connect to: the SQL to run */
    fputs(pg_doctor_ddl_sql(), stdout);
    return fflush(stdout) ? 1 : 0;
  }

  struct config cfg;
  struct conn_opts opts;
  struct doctor_server server;
  struct doctor_report report;
  struct buf out = BUF_INIT;
  MYSQL *m = NULL;
  char err[4096], where[300];
  int rc = 2;
  memset(&cfg, 0, sizeof cfg);
  memset(&opts, 0, sizeof opts);
  memset(&server, 0, sizeof server);
  memset(&report, 0, sizeof report);

  config_defaults(&cfg);
  if (config_path && config_load(config_path, &cfg, err, sizeof err)) {
    size_t n = strlen(err);
    fprintf(stderr, "%s%s", err, n && err[n - 1] == '\n' ? "" : "\n");
    goto out;
  }
  if (source) {
    config_source_set_urls(&cfg, source);
  }
  if (config_source_nurls(&cfg) && config_source_conn_at(&cfg, 0, &opts, err, sizeof err) == 0 &&
      opts.postgres) {
    rc = pg_doctor(&cfg, &opts, json);
    goto out;
  }
  conn_opts_free(&opts);
  memset(&opts, 0, sizeof opts);
  /* every server listed: the first that answers gets every check, each
   * one a line of the topology when there are several */
  size_t nsrv = config_source_nurls(&cfg);
  struct doctor_report topo = {0};
  struct buf unreachable = BUF_INIT;
  for (size_t i = 0; i < nsrv; i++) {
    struct conn_opts co;
    if (config_source_conn_at(&cfg, i, &co, err, sizeof err)) {
      fprintf(stderr, "binhook doctor: %s\n", err);
      doctor_report_free(&topo);
      buf_free(&unreachable);
      goto out;
    }
    /* The daemon's stream waits forever; a check should not. */
    if (!co.read_timeout) co.read_timeout = 30;
    struct doctor_peer peer = {0};
    char here[300];
    peer.where = xstrdup(conn_where(&co, here, sizeof here));
    MYSQL *pm = conn_open(&co, err, sizeof err);
    if (!pm) {
      peer.error = xstrdup(err);
      buf_printf(&unreachable, "%s\n", err);
    } else {
      doctor_gather_peer(pm, &peer);
    }
    if (nsrv > 1) doctor_evaluate_peer(&peer, &topo);
    doctor_peer_free(&peer);
    if (pm && !m) {
      m = pm;
      opts = co;
      snprintf(where, sizeof where, "%s", here);
    } else {
      if (pm) mysql_close(pm);
      conn_opts_free(&co);
    }
  }

  rc = 1;
  if (!m) {
    fprintf(stderr, "binhook doctor: %s", unreachable.p ? unreachable.p : "no server of [source] url answers\n");
    doctor_report_free(&topo);
    buf_free(&unreachable);
    goto out;
  }
  buf_free(&unreachable);
  int bad = doctor_gather(m, &server, err, sizeof err);
  if (!bad) {
    doctor_evaluate(&server, &report);
    for (size_t i = 0; i < topo.n; i++) { /* the topology's lines after the server's own */
      struct doctor_check *c = &topo.checks[i];
      add(&report, c->name, c->status, c->value, c->message, c->fix);
      c->value = c->message = c->fix = NULL;
    }
    store_lines(&cfg, &report);
  }
  doctor_report_free(&topo);
  if (bad) {
    fprintf(stderr, "binhook doctor: '%s': %s\n", where, err);
    goto out;
  }
  if (json) {
    doctor_format_json(&report, &out);
  } else {
    char *who = account(&server);
    buf_printf(&out, "checking %s %s at '%s' as %s\n", family(&server), server.version, where, who);
    free(who);
    doctor_format_text(&report, &out);
  }
  fwrite(out.p, 1, out.len, stdout);
  if (fflush(stdout)) {
    fprintf(stderr, "binhook doctor: cannot write the report\n");
    goto out;
  }
  rc = doctor_count(&report, DOCTOR_ERROR) ? 1 : 0;
out:
  buf_free(&out);
  doctor_report_free(&report);
  doctor_server_free(&server);
  if (m) mysql_close(m);
  conn_opts_free(&opts);
  config_free(&cfg);
  return rc;
}
