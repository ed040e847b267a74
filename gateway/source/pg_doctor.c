/* pg_doctor.c - see pg_doctor.h. The judgement lives in pg_doctor_evaluate
 * and its check_* helpers, one per concern, each saying what the server
 * has, why a bad value matters to binhook and the SQL (or the
 * postgresql.conf line) that fixes it; the wording follows the MySQL
 * checks of doctor.c. */
#include "source/pg_doctor.h"
#include "source/pg_source.h"
#include "util/util.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tables named in a line at most; the rest are counted. */
#define NAMES_SHOWN 10

/* The text of contrib/postgresql/ddl-alerts.sql (t2404 keeps them equal). */
static const char ddl_sql[] =
    "-- binhook's DDL alerts for PostgreSQL: an event trigger that tells binhook\n"
    "-- of every DDL statement (CREATE, ALTER, DROP, COMMENT, GRANT ... on tables,\n"
    "-- views, functions, schemas, types ...) through a logical decoding message\n"
    "-- (prefix 'binhook', transactional: a statement rolled back is never told).\n"
    "-- binhook's PostgreSQL source makes each message a statement event: \"sql\"\n"
    "-- the statement text, \"user\" who ran it (session_user@client address,\n"
    "-- \"[local]\" for a socket), \"tag\" the command tag, \"object\" the identities of\n"
    "-- the objects it made, changed or dropped, \"schema\" the first one's schema,\n"
    "-- \"kind\" ddl (dcl for GRANT, REVOKE and ALTER DEFAULT PRIVILEGES). Rules\n"
    "-- match them with statement = '...' as for MySQL's statements.\n"
    "--\n"
    "-- Run it once as a superuser in the database binhook reads (event triggers\n"
    "-- belong to one database):\n"
    "--\n"
    "--   psql -d shop -f contrib/postgresql/ddl-alerts.sql\n"
    "--   binhook doctor --ddl-sql | psql -d shop      (the same text)\n"
    "--\n"
    "-- `binhook doctor` says whether it is installed. Needs PostgreSQL 14 or\n"
    "-- later (pgoutput streams messages from 14 on) and wal_level = logical. To\n"
    "-- remove it: DROP FUNCTION binhook_ddl_alert() CASCADE;\n"
    "--\n"
    "-- A DROP is told by sql_drop, which knows what was dropped; every other\n"
    "-- statement by ddl_command_end, which knows what was made or changed (so\n"
    "-- ALTER TABLE ... DROP COLUMN is told once, as an ALTER TABLE). A failure\n"
    "-- here never fails the statement: it becomes a warning.\n"
    "-- Statements on roles and databases (CREATE ROLE, DROP DATABASE, ...) fire\n"
    "-- no event trigger, and \"sql\" is the whole query string the client sent,\n"
    "-- which may hold several statements.\n"
    "\n"
    "CREATE OR REPLACE FUNCTION binhook_ddl_alert() RETURNS event_trigger\n"
    "LANGUAGE plpgsql\n"
    "SET search_path = pg_catalog, pg_temp\n"
    "AS $binhook$\n"
    "DECLARE\n"
    "  objects jsonb;\n"
    "BEGIN\n"
    "  IF TG_EVENT = 'sql_drop' THEN\n"
    "    IF TG_TAG NOT LIKE 'DROP %' THEN\n"
    "      RETURN;\n"
    "    END IF;\n"
    "    SELECT jsonb_agg(jsonb_build_object('type', o.object_type, 'identity', o.object_identity,\n"
    "                                        'schema', o.schema_name) ORDER BY o.ordinality)\n"
    "      INTO objects\n"
    "      FROM pg_event_trigger_dropped_objects() WITH ORDINALITY AS o\n"
    "     WHERE o.original;\n"
    "  ELSE\n"
    "    IF TG_TAG LIKE 'DROP %' THEN\n"
    "      RETURN;\n"
    "    END IF;\n"
    "    SELECT jsonb_agg(u.obj ORDER BY u.n)\n"
    "      INTO objects\n"
    "      FROM (SELECT jsonb_build_object('type', c.object_type, 'identity', c.object_identity,\n"
    "                                      'schema', c.schema_name) AS obj, min(c.ordinality) AS n\n"
    "              FROM pg_event_trigger_ddl_commands() WITH ORDINALITY AS c\n"
    "             GROUP BY 1) AS u;\n"
    "  END IF;\n"
    "  PERFORM pg_logical_emit_message(true, 'binhook', json_build_object(\n"
    "    'tag', TG_TAG,\n"
    "    'objects', coalesce(objects, '[]'::jsonb),\n"
    "    'user', session_user,\n"
    "    'current_user', current_user,\n"
    "    'client', host(inet_client_addr()),\n"
    "    'sql', current_query())::text);\n"
    "EXCEPTION WHEN OTHERS THEN\n"
    "  RAISE WARNING 'binhook_ddl_alert: no DDL alert for this statement: %', SQLERRM;\n"
    "END\n"
    "$binhook$;\n"
    "\n"
    "DROP EVENT TRIGGER IF EXISTS binhook_ddl_end;\n"
    "DROP EVENT TRIGGER IF EXISTS binhook_ddl_drop;\n"
    "CREATE EVENT TRIGGER binhook_ddl_end ON ddl_command_end EXECUTE FUNCTION binhook_ddl_alert();\n"
    "CREATE EVENT TRIGGER binhook_ddl_drop ON sql_drop EXECUTE FUNCTION binhook_ddl_alert();\n";

const char *pg_doctor_ddl_sql(void)
{
  return ddl_sql;
}

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

/* name as an SQL literal ('it''s') or identifier ("Odd"""), for the fixes. */
static char *quoted(const char *name, char q)
{
  struct buf b = BUF_INIT;
  buf_addc(&b, q);
  for (const char *p = name ? name : ""; *p; p++) {
    if (*p == q) buf_addc(&b, q);
    buf_addc(&b, *p);
  }
  buf_addc(&b, q);
  return buf_steal(&b);
}

/* An identifier quoted only when it has to be, as PostgreSQL prints them. */
static char *ident(const char *name)
{
  int plain = name && *name && !(*name >= '0' && *name <= '9');
  for (const char *p = name; plain && *p; p++)
    plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
  return plain ? xstrdup(name) : quoted(name, '"');
}

/* "1.5 GiB", "12 MiB", "900 bytes". */
static void bytes_text(int64_t n, char *out, size_t size)
{
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) {
    snprintf(out, size, "%" PRId64 " bytes", n);
    return;
  }
  double v = (double)n;
  int u = -1;
  while (v >= 1024 && u < 3)
    v /= 1024, u++;
  snprintf(out, size, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* "a, b, c and 4 more" of the first NAMES_SHOWN names. */
static char *name_list(char *const *names, size_t n)
{
  struct buf b = BUF_INIT;
  for (size_t i = 0; i < n && i < NAMES_SHOWN; i++) {
    if (i) buf_addlit(&b, ", ");
    buf_adds(&b, names[i]);
  }
  if (n > NAMES_SHOWN) buf_printf(&b, " and %zu more", n - NAMES_SHOWN);
  return buf_steal(&b);
}

static char *restart_fix(const char *name, const char *value)
{
  return strf("ALTER SYSTEM SET %s = %s;  then restart the server (or in postgresql.conf: %s = %s)", name,
              value, name, value);
}

/* ---- the checks ---- */

static void check_version(const struct pg_doctor_server *s, struct doctor_report *r)
{
  if (s->version_num < 100000) {
    doctor_add(r, "server_version", DOCTOR_ERROR, xstrdup(s->version),
               xstrdup("logical replication with pgoutput needs PostgreSQL 10 or later"),
               xstrdup("upgrade the server"));
  } else if (s->version_num < 140000) {
    doctor_add(r, "server_version", DOCTOR_WARNING, xstrdup(s->version),
               xstrdup("pgoutput streams logical decoding messages from PostgreSQL 14 on: before, DDL alerts "
                       "(contrib/postgresql/ddl-alerts.sql) never reach binhook"),
               xstrdup("upgrade the server to 14 or later for DDL alerts"));
  } else {
    doctor_add(r, "server_version", DOCTOR_OK, xstrdup(s->version), NULL, NULL);
  }
}

static void check_wal_level(const struct pg_doctor_server *s, struct doctor_report *r)
{
  const char *v = s->wal_level ? s->wal_level : "unknown";
  if (!strcmp(v, "logical")) {
    doctor_add(r, "wal_level", DOCTOR_OK, xstrdup(v), NULL, NULL);
    return;
  }
  doctor_add(r, "wal_level", DOCTOR_ERROR, xstrdup(v),
             xstrdup("logical decoding needs wal_level = logical: no slot can be made or streamed"),
             restart_fix("wal_level", "logical"));
}

static void check_slots(const struct pg_doctor_server *s, struct doctor_report *r)
{
  int need = s->slot_exists ? 0 : 1; /* binhook's own slot, when still to be made */
  char *value = strf("%d (%d in use)", s->max_slots, s->slots_used);
  char want[32];
  snprintf(want, sizeof want, "%d", s->slots_used + need + 1); /* and one for tail */
  if (s->max_slots - s->slots_used < need) {
    doctor_add(r, "max_replication_slots", DOCTOR_ERROR, value,
               strf("no slot is free for binhook's slot '%s'", s->slot),
               restart_fix("max_replication_slots", want));
  } else if (s->max_slots - s->slots_used - need < 1) {
    doctor_add(r, "max_replication_slots", DOCTOR_INFO, value,
               xstrdup("no slot left for `binhook tail` (which makes a temporary one)"),
               restart_fix("max_replication_slots", want));
  } else {
    doctor_add(r, "max_replication_slots", DOCTOR_OK, value, NULL, NULL);
  }
}

static void check_senders(const struct pg_doctor_server *s, struct doctor_report *r)
{
  int need = s->slot_active_pid ? 0 : 1; /* a binhook that streams already has its sender */
  char *value = strf("%d (%d in use)", s->max_senders, s->senders_used);
  char want[32];
  snprintf(want, sizeof want, "%d", s->senders_used + need + 1); /* and one for tail */
  if (s->senders_used < 0) {
    doctor_add(r, "max_wal_senders", DOCTOR_OK, strf("%d", s->max_senders), NULL, NULL);
    free(value);
  } else if (s->max_senders - s->senders_used < need) {
    doctor_add(r, "max_wal_senders", DOCTOR_ERROR, value,
               xstrdup("every replication connection is a WAL sender, and none is free for binhook"),
               restart_fix("max_wal_senders", want));
  } else {
    doctor_add(r, "max_wal_senders", DOCTOR_OK, value, NULL, NULL);
  }
}

/* Returns 1 when the user may stream (REPLICATION or superuser). */
static int check_privilege(const struct pg_doctor_server *s, struct doctor_report *r)
{
  if (s->superuser || s->replication) {
    doctor_add(r, "privilege REPLICATION", DOCTOR_OK, xstrdup(s->superuser ? "superuser" : "REPLICATION"),
               NULL, NULL);
    return 1;
  }
  char *who = ident(s->user);
  doctor_add(r, "privilege REPLICATION", DOCTOR_ERROR, xstrdup("missing"),
             strf("'%s' may not open a replication connection nor make a slot", s->user),
             strf("ALTER ROLE %s REPLICATION;", who));
  free(who);
  return 0;
}

static void check_connection(const struct pg_doctor_server *s, struct doctor_report *r, int may)
{
  if (!may) {
    doctor_add(r, "replication connection", DOCTOR_SKIPPED, NULL,
               xstrdup("not tried without the REPLICATION privilege"), NULL);
  } else if (s->replication_error) {
    doctor_add(r, "replication connection", DOCTOR_ERROR, NULL, xstrdup(s->replication_error),
               strf("a line in pg_hba.conf that lets '%s' connect to the database '%s' (a logical "
                    "replication connection matches the database's lines, not 'replication'), then "
                    "SELECT pg_reload_conf();",
                    s->user, s->database));
  } else {
    doctor_add(r, "replication connection", DOCTOR_OK, NULL, NULL, NULL);
  }
}

static void check_publication(const struct pg_doctor_server *s, struct doctor_report *r)
{
  char name[300];
  char *id = ident(s->publication);
  snprintf(name, sizeof name, "publication '%s'", s->publication);
  if (!s->pub_exists) {
    if (s->superuser)
      doctor_add(r, name, DOCTOR_INFO, xstrdup("missing"),
                 xstrdup("binhook makes it FOR ALL TABLES at its first start"), NULL);
    else
      doctor_add(r, name, DOCTOR_ERROR, xstrdup("missing"),
                 strf("'%s' cannot make it (FOR ALL TABLES needs a superuser)", s->user),
                 strf("as a superuser: CREATE PUBLICATION %s FOR ALL TABLES;  (or FOR TABLE with the tables "
                      "to stream, as their owner)",
                      id));
    free(id);
    return;
  }
  char *tables = name_list(s->pub_tables, s->npub_tables);
  char *value = s->pub_all_tables
                    ? strf("FOR ALL TABLES (%zu now%s%s)", s->npub_tables, s->npub_tables ? ": " : "", tables)
                    : strf("%zu table%s%s%s", s->npub_tables, s->npub_tables == 1 ? "" : "s",
                           s->npub_tables ? ": " : "", tables);
  free(tables);
  struct buf missing = BUF_INIT;
  const char *what[] = {"insert", "update", "delete", "truncate"};
  int on[] = {s->pub_insert, s->pub_update, s->pub_delete, s->pub_truncate};
  for (int i = 0; i < 4; i++)
    if (!on[i]) buf_printf(&missing, "%s%s", missing.len ? ", " : "", what[i]);
  if (!s->npub_tables && !s->pub_all_tables) {
    doctor_add(r, name, DOCTOR_WARNING, value, xstrdup("it covers no table: no change reaches binhook"),
               strf("ALTER PUBLICATION %s ADD TABLE schema.table, ...;", id));
  } else if (missing.len) {
    doctor_add(r, name, DOCTOR_WARNING, value,
               strf("it does not publish %s: those changes never reach binhook", missing.p),
               strf("ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate');", id));
  } else {
    doctor_add(r, name, DOCTOR_OK, value, NULL, NULL);
  }
  buf_free(&missing);
  free(id);
}

static void check_identity(const struct pg_doctor_server *s, struct doctor_report *r)
{
  if (!s->pub_exists) return;
  if (!s->nno_identity) {
    doctor_add(r, "replica identity", DOCTOR_OK, xstrdup("every published table has one"), NULL, NULL);
    return;
  }
  char *names = name_list(s->no_identity, s->nno_identity);
  struct buf fix = BUF_INIT;
  for (size_t i = 0; i < s->nno_identity && i < NAMES_SHOWN; i++)
    buf_printf(&fix, "%sALTER TABLE %s REPLICA IDENTITY FULL;", i ? " " : "", s->no_identity[i]);
  buf_addlit(&fix, "  (or give each a primary key)");
  doctor_add(r, "replica identity", DOCTOR_WARNING, names,
             strf("%s no primary key nor replica identity: while the publication publishes updates and "
                  "deletes, the server refuses them (\"cannot update table ... because it does not have a "
                  "replica identity\")",
                  s->nno_identity == 1 ? "this table has" : "these tables have"),
             buf_steal(&fix));
}

static void check_slot(const struct pg_doctor_server *s, struct doctor_report *r, int may)
{
  char name[300];
  char *lit = quoted(s->slot, '\'');
  char *drop = strf("SELECT pg_drop_replication_slot(%s);", lit);
  snprintf(name, sizeof name, "slot '%s'", s->slot);
  if (!s->slot_exists) {
    if (may)
      doctor_add(r, name, DOCTOR_INFO, xstrdup("missing"), xstrdup("binhook makes it at its first start"),
                 NULL);
    else
      doctor_add(r, name, DOCTOR_ERROR, xstrdup("missing"), strf("'%s' cannot make it", s->user),
                 strf("as a superuser, once the publication is there: SELECT "
                      "pg_create_logical_replication_slot(%s, 'pgoutput');",
                      lit));
  } else if (strcmp(s->slot_type ? s->slot_type : "", "logical") ||
             strcmp(s->slot_plugin ? s->slot_plugin : "", "pgoutput")) {
    doctor_add(r, name, DOCTOR_ERROR,
               strf("%s%s%s", s->slot_type ? s->slot_type : "?", s->slot_plugin ? ", " : "",
                    s->slot_plugin ? s->slot_plugin : ""),
               xstrdup("binhook reads a logical slot of the pgoutput plugin"),
               strf("give binhook a slot of its own ([source] slot = \"binhook\"), or drop this one if "
                    "nothing else reads it: %s",
                    drop));
  } else if (s->slot_database && s->database && strcmp(s->slot_database, s->database)) {
    doctor_add(r, name, DOCTOR_ERROR, strf("pgoutput, database '%s'", s->slot_database),
               strf("a logical slot decodes one database, and binhook reads '%s'", s->database),
               strf("give binhook a slot of its own in '%s' ([source] slot)", s->database));
  } else if (s->slot_wal_status && !strcmp(s->slot_wal_status, "lost")) {
    doctor_add(r, name, DOCTOR_ERROR, xstrdup("pgoutput, WAL lost"),
               xstrdup("the server removed WAL the slot still needed (max_slot_wal_keep_size): the changes "
                       "in it are lost to binhook"),
               strf("%s  binhook makes a new slot at its start, from then on (an initial snapshot brings the "
                    "tables back in step)",
                    drop));
  } else if (!s->pub_exists) {
    doctor_add(r, name, DOCTOR_ERROR, xstrdup("pgoutput, no publication"),
               xstrdup("a slot cannot decode changes written before its publication was made"),
               strf("%s  then start binhook, which makes the publication and then the slot", drop));
  } else {
    doctor_add(r, name, DOCTOR_OK,
               s->slot_active_pid ? strf("pgoutput, streaming to process %s", s->slot_active_pid)
                                  : xstrdup("pgoutput, idle"),
               NULL, NULL);
  }
  free(drop);
  free(lit);
}

static void check_retained(const struct pg_doctor_server *s, struct doctor_report *r)
{
  if (!s->slot_exists || s->slot_behind < 0) return;
  char size[64];
  bytes_text(s->slot_behind, size, sizeof size);
  char *value =
      strf("%s behind the server (confirmed %s)", size, s->slot_confirmed ? s->slot_confirmed : "?");
  if (s->slot_behind <= PG_DOCTOR_WAL_WARN) {
    doctor_add(r, "WAL held by the slot", DOCTOR_OK, value, NULL, NULL);
    return;
  }
  char *lit = quoted(s->slot, '\'');
  doctor_add(
      r, "WAL held by the slot", DOCTOR_WARNING, value,
      strf("the server keeps every WAL file after the slot's confirmed position until binhook confirms "
           "it, and %s over 1 GiB fills its disk while binhook %s",
           size, s->slot_active_pid ? "catches up" : "is not running"),
      strf("start binhook on this slot (it confirms what it delivered); if binhook is gone for good: "
           "SELECT pg_drop_replication_slot(%s);",
           lit));
  free(lit);
}

static void check_ddl_alerts(const struct pg_doctor_server *s, struct doctor_report *r)
{
  char *fix = strf("as a superuser: binhook doctor --ddl-sql | psql -d %s  (the same SQL is "
                   "contrib/postgresql/ddl-alerts.sql)",
                   s->database ? s->database : "DATABASE");
  if (s->triggers == 2 && !s->triggers_disabled) {
    doctor_add(r, "DDL alerts", DOCTOR_OK, xstrdup("binhook_ddl_end, binhook_ddl_drop"), NULL, NULL);
    free(fix);
  } else if (s->triggers_disabled) {
    struct buf b = BUF_INIT;
    const char *p = s->triggers_disabled;
    while (*p) {
      size_t n = strcspn(p, ",");
      buf_printf(&b, "%sALTER EVENT TRIGGER %.*s ENABLE;", b.len ? " " : "", (int)n, p);
      p += n + (p[n] == ',');
    }
    doctor_add(r, "DDL alerts", DOCTOR_WARNING, strf("disabled: %s", s->triggers_disabled),
               xstrdup("DDL statements reach no rule while the event trigger is disabled"), buf_steal(&b));
    free(fix);
  } else {
    doctor_add(
        r, "DDL alerts", DOCTOR_INFO, xstrdup(s->triggers ? "partly installed" : "not installed"),
        xstrdup("DDL statements (DROP TABLE, ALTER TABLE ...) reach rules only through binhook's event "
                "trigger"),
        fix);
  }
}

void pg_doctor_evaluate(const struct pg_doctor_server *s, struct doctor_report *r)
{
  check_version(s, r);
  check_wal_level(s, r);
  check_slots(s, r);
  check_senders(s, r);
  int may = check_privilege(s, r);
  check_connection(s, r, may);
  check_publication(s, r);
  check_identity(s, r);
  check_slot(s, r, may);
  check_retained(s, r);
  check_ddl_alerts(s, r);
}

/* ---- the facts ---- */

/* libpq's message on one line, without its "ERROR:  ". */
static void pq_message(const char *m, char *out, size_t size)
{
  size_t n = 0;
  if (!strncmp(m, "ERROR:  ", 8)) m += 8;
  for (; *m && n + 3 < size; m++) {
    if (*m == '\n') {
      if (m[1]) out[n++] = ';', out[n++] = ' ';
    } else {
      out[n++] = *m;
    }
  }
  out[n] = 0;
}

/* Runs a query of rows with one parameter (NULL: none); NULL with err. */
static PGresult *query(PGconn *c, const char *sql, const char *param, char *err, size_t errsz)
{
  PGresult *res = param ? PQexecParams(c, sql, 1, NULL, &param, NULL, NULL, 0) : PQexec(c, sql);
  if (res && PQresultStatus(res) == PGRES_TUPLES_OK) return res;
  char msg[1024];
  pq_message(PQerrorMessage(c), msg, sizeof msg);
  bh_err(err, errsz, "%s", msg);
  PQclear(res);
  return NULL;
}

static char *value_or_null(PGresult *res, int row, int col)
{
  return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int is_true(PGresult *res, int row, int col)
{
  return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static void add_name(char ***list, size_t *n, const char *name)
{
  *list = xrealloc(*list, (*n + 1) * sizeof **list);
  (*list)[(*n)++] = xstrdup(name);
}

static const char *const server_sql =
    "SELECT current_setting('server_version'), current_setting('server_version_num')::int, current_user, "
    "current_database(), r.rolsuper, r.rolreplication, current_setting('wal_level'), "
    "current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_catalog.pg_replication_slots), "
    "current_setting('max_wal_senders')::int, "
    "(SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender') "
    "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";

static const char *const publication_sql =
    "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_catalog.pg_publication "
    "WHERE pubname = $1";

/* The tables a publication covers, and those of them whose updates and
 * deletes the server refuses: no replica identity (NOTHING, or DEFAULT
 * without a primary key). */
static const char *const pub_tables_sql =
    "SELECT quote_ident(p.schemaname) || '.' || quote_ident(p.tablename), "
    "c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
    "WHERE i.indrelid = c.oid AND i.indisprimary)) "
    "FROM pg_catalog.pg_publication_tables p JOIN pg_catalog.pg_namespace n ON n.nspname = p.schemaname "
    "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename "
    "WHERE p.pubname = $1 ORDER BY 1";

static const char *const slot_sql =
    "SELECT plugin, slot_type, database, active_pid, %s, confirmed_flush_lsn, "
    "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
    "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";

static const char *const triggers_sql =
    "SELECT evtname, evtenabled = 'D' FROM pg_catalog.pg_event_trigger "
    "WHERE evtname IN ('binhook_ddl_end', 'binhook_ddl_drop') ORDER BY evtname";

/* A connection to co's database, plain or for replication, as the source
 * opens it (source/pg_source.h); NULL with err. */
static PGconn *open_conn(const struct conn_opts *co, int replication, char *err, size_t errsz)
{
  enum bh_errc code;
  return pg_source_connect(co, replication, &code, err, errsz);
}

/* Whether a replication connection opens and answers IDENTIFY_SYSTEM. */
static void try_replication(const struct conn_opts *co, struct pg_doctor_server *s)
{
  char err[1024];
  PGconn *c = open_conn(co, 1, err, sizeof err);
  if (c) {
    PGresult *res = query(c, "IDENTIFY_SYSTEM", NULL, err, sizeof err);
    if (!res) s->replication_error = strf("IDENTIFY_SYSTEM failed: %s", err);
    PQclear(res);
    PQfinish(c);
  } else {
    s->replication_error = strf("cannot open a replication connection: %s", err);
  }
}

int pg_doctor_gather(void *conn, const struct conn_opts *co, const char *slot, const char *publication,
                     struct pg_doctor_server *s, char *err, size_t errsz)
{
  PGconn *c = conn;
  char why[1024], sql[1024];
  s->slot = xstrdup(slot);
  s->publication = xstrdup(publication);
  s->slot_behind = -1;
  PGresult *res = query(c, server_sql, NULL, why, sizeof why);
  if (!res || PQntuples(res) != 1) {
    PQclear(res);
    return bh_err(err, errsz, "cannot read the server's settings: %s", res ? "no role row" : why);
  }
  s->version = xstrdup(PQgetvalue(res, 0, 0));
  s->version_num = atoi(PQgetvalue(res, 0, 1));
  s->user = xstrdup(PQgetvalue(res, 0, 2));
  s->database = xstrdup(PQgetvalue(res, 0, 3));
  s->superuser = is_true(res, 0, 4);
  s->replication = is_true(res, 0, 5);
  s->wal_level = xstrdup(PQgetvalue(res, 0, 6));
  s->max_slots = atoi(PQgetvalue(res, 0, 7));
  s->slots_used = atoi(PQgetvalue(res, 0, 8));
  s->max_senders = atoi(PQgetvalue(res, 0, 9));
  s->senders_used = atoi(PQgetvalue(res, 0, 10));
  PQclear(res);
  if (s->superuser || s->replication) try_replication(co, s);

  if (!(res = query(c, publication_sql, publication, why, sizeof why)))
    return bh_err(err, errsz, "cannot look for the publication '%s': %s", publication, why);
  if (PQntuples(res)) {
    s->pub_exists = 1;
    s->pub_all_tables = is_true(res, 0, 0);
    s->pub_insert = is_true(res, 0, 1);
    s->pub_update = is_true(res, 0, 2);
    s->pub_delete = is_true(res, 0, 3);
    s->pub_truncate = is_true(res, 0, 4);
  }
  PQclear(res);
  if (s->pub_exists) {
    if (!(res = query(c, pub_tables_sql, publication, why, sizeof why)))
      return bh_err(err, errsz, "cannot read the tables of the publication '%s': %s", publication, why);
    for (int i = 0; i < PQntuples(res); i++) {
      add_name(&s->pub_tables, &s->npub_tables, PQgetvalue(res, i, 0));
      /* a table that publishes neither updates nor deletes needs no identity */
      if (is_true(res, i, 1) && (s->pub_update || s->pub_delete))
        add_name(&s->no_identity, &s->nno_identity, PQgetvalue(res, i, 0));
    }
    PQclear(res);
  }

  snprintf(sql, sizeof sql, slot_sql, s->version_num >= 130000 ? "wal_status" : "NULL::text");
  if (!(res = query(c, sql, slot, why, sizeof why)))
    return bh_err(err, errsz, "cannot look for the slot '%s': %s", slot, why);
  if (PQntuples(res)) {
    s->slot_exists = 1;
    s->slot_plugin = value_or_null(res, 0, 0);
    s->slot_type = value_or_null(res, 0, 1);
    s->slot_database = value_or_null(res, 0, 2);
    s->slot_active_pid = value_or_null(res, 0, 3);
    s->slot_wal_status = value_or_null(res, 0, 4);
    s->slot_confirmed = value_or_null(res, 0, 5);
    if (!PQgetisnull(res, 0, 6)) s->slot_behind = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
  }
  PQclear(res);

  if (!(res = query(c, triggers_sql, NULL, why, sizeof why)))
    return bh_err(err, errsz, "cannot read the event triggers: %s", why);
  struct buf off = BUF_INIT;
  s->triggers = PQntuples(res);
  for (int i = 0; i < PQntuples(res); i++)
    if (is_true(res, i, 1)) buf_printf(&off, "%s%s", off.len ? "," : "", PQgetvalue(res, i, 0));
  s->triggers_disabled = off.len ? buf_steal(&off) : NULL;
  buf_free(&off);
  PQclear(res);
  return 0;
}

static void free_names(char **l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

void pg_doctor_server_free(struct pg_doctor_server *s)
{
  free(s->version);
  free(s->user);
  free(s->database);
  free(s->wal_level);
  free(s->replication_error);
  free(s->publication);
  free_names(s->pub_tables, s->npub_tables);
  free_names(s->no_identity, s->nno_identity);
  free(s->slot);
  free(s->slot_plugin);
  free(s->slot_type);
  free(s->slot_database);
  free(s->slot_active_pid);
  free(s->slot_wal_status);
  free(s->slot_confirmed);
  free(s->triggers_disabled);
  memset(s, 0, sizeof *s);
}

/* ---- the command ---- */

int pg_doctor_run(const struct conn_opts *co, const char *slot, const char *publication, int json,
                  struct buf *out, char *err, size_t errsz)
{
  struct pg_doctor_server s;
  struct doctor_report report;
  char why[1024], where[300];
  int rc = -1;
  memset(&s, 0, sizeof s);
  memset(&report, 0, sizeof report);
  snprintf(where, sizeof where, "%s/%s", conn_where(co, why, sizeof why),
           co->database ? co->database : co->user);
  PGconn *c = open_conn(co, 0, why, sizeof why);
  if (!c) {
    bh_err(err, errsz, "%s", why); /* it names the server and the user */
    goto out;
  }
  if (pg_doctor_gather(c, co, slot ? slot : "binhook", publication ? publication : "binhook", &s, why,
                       sizeof why)) {
    bh_err(err, errsz, "'%s': %s", where, why);
    goto out;
  }
  pg_doctor_evaluate(&s, &report);
  if (json) {
    doctor_format_json(&report, out);
  } else {
    buf_printf(out, "checking PostgreSQL %s at '%s' as %s\n", s.version, where, s.user);
    doctor_format_text(&report, out);
  }
  rc = (int)doctor_count(&report, DOCTOR_ERROR);
out:
  doctor_report_free(&report);
  pg_doctor_server_free(&s);
  PQfinish(c);
  return rc;
}
