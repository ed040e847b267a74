/* pg_doctor_test.c - the judgement of `binhook doctor` for PostgreSQL from
 * facts written by hand (what no test server is made to show: a server
 * without logical WAL, no slot free, a slot gigabytes behind), and the
 * statement events the decoder makes of the DDL alerts' messages. */
#include "event/change.h"
#include "source/pg_decode.h"
#include "source/pg_doctor.h"
#include "util/util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* A server binhook can use: logical WAL, room, a superuser, the
 * publication, the slot and the triggers there. */
static void healthy(struct pg_doctor_server *s)
{
  memset(s, 0, sizeof *s);
  s->version = xstrdup("15.4");
  s->version_num = 150004;
  s->user = xstrdup("binhook");
  s->database = xstrdup("shop");
  s->superuser = 1;
  s->wal_level = xstrdup("logical");
  s->max_slots = 10;
  s->slots_used = 1;
  s->max_senders = 10;
  s->senders_used = 0;
  s->publication = xstrdup("binhook");
  s->pub_exists = s->pub_all_tables = 1;
  s->pub_insert = s->pub_update = s->pub_delete = s->pub_truncate = 1;
  s->slot = xstrdup("binhook");
  s->slot_exists = 1;
  s->slot_plugin = xstrdup("pgoutput");
  s->slot_type = xstrdup("logical");
  s->slot_database = xstrdup("shop");
  s->slot_confirmed = xstrdup("0/16B3748");
  s->slot_behind = 4096;
  s->triggers = 2;
}

static const struct doctor_check *find(const struct doctor_report *r, const char *name)
{
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->checks[i].name, name)) return &r->checks[i];
  return NULL;
}

static int has(const char *s, const char *part)
{
  return s && strstr(s, part);
}

static void test_healthy(void)
{
  struct pg_doctor_server s;
  struct doctor_report r = {0};
  healthy(&s);
  pg_doctor_evaluate(&s, &r);
  is_int(doctor_count(&r, DOCTOR_ERROR), 0, "a healthy server: no error");
  is_int(doctor_count(&r, DOCTOR_WARNING), 0, "and no warning");
  const struct doctor_check *c = find(&r, "WAL held by the slot");
  ok(c && has(c->value, "4.0 KiB behind") && has(c->value, "0/16B3748"),
     "the WAL held back, with the figure");
  doctor_report_free(&r);
  pg_doctor_server_free(&s);
}

static void test_problems(void)
{
  struct pg_doctor_server s;
  struct doctor_report r = {0};
  healthy(&s);
  free(s.wal_level);
  s.wal_level = xstrdup("replica");
  s.slots_used = 10;
  s.slot_exists = 0;
  s.senders_used = 10;
  s.superuser = 0;
  s.pub_exists = 0;
  s.triggers = 0;
  pg_doctor_evaluate(&s, &r);
  const struct doctor_check *c = find(&r, "wal_level");
  ok(c && c->status == DOCTOR_ERROR && has(c->fix, "ALTER SYSTEM SET wal_level = logical;") &&
         has(c->fix, "restart"),
     "wal_level replica: an error, ALTER SYSTEM and a restart");
  c = find(&r, "max_replication_slots");
  ok(c && c->status == DOCTOR_ERROR && has(c->value, "10 (10 in use)") &&
         has(c->fix, "max_replication_slots = 12"),
     "no slot free for a slot still to make: an error with a number that leaves room");
  c = find(&r, "max_wal_senders");
  ok(c && c->status == DOCTOR_ERROR && has(c->fix, "max_wal_senders = 12"), "no WAL sender free: an error");
  c = find(&r, "privilege REPLICATION");
  ok(c && c->status == DOCTOR_ERROR && has(c->fix, "ALTER ROLE binhook REPLICATION;"),
     "no REPLICATION: the ALTER ROLE that gives it");
  c = find(&r, "replication connection");
  ok(c && c->status == DOCTOR_SKIPPED, "the replication connection is not tried then");
  c = find(&r, "publication 'binhook'");
  ok(c && c->status == DOCTOR_ERROR && has(c->fix, "CREATE PUBLICATION binhook FOR ALL TABLES;"),
     "a publication the user cannot make: the SQL a superuser runs");
  c = find(&r, "slot 'binhook'");
  ok(c && c->status == DOCTOR_ERROR &&
         has(c->fix, "pg_create_logical_replication_slot('binhook', 'pgoutput')"),
     "a slot the user cannot make: the SQL a superuser runs");
  c = find(&r, "DDL alerts");
  ok(c && c->status == DOCTOR_INFO && has(c->fix, "binhook doctor --ddl-sql | psql -d shop"),
     "no event trigger: how to install it");
  doctor_report_free(&r);
  pg_doctor_server_free(&s);
}

static void test_slot(void)
{
  struct pg_doctor_server s;
  struct doctor_report r = {0};
  healthy(&s);
  s.slot_behind = (int64_t)3 << 30;
  s.slot_active_pid = NULL;
  pg_doctor_evaluate(&s, &r);
  const struct doctor_check *c = find(&r, "WAL held by the slot");
  ok(c && c->status == DOCTOR_WARNING && has(c->value, "3.0 GiB behind") &&
         has(c->fix, "SELECT pg_drop_replication_slot('binhook');"),
     "a slot 3 GiB behind: a warning with the figure, and how to let the WAL go");
  doctor_report_free(&r);

  free(s.slot_plugin);
  s.slot_plugin = xstrdup("test_decoding");
  s.slot_behind = 10;
  pg_doctor_evaluate(&s, &r);
  c = find(&r, "slot 'binhook'");
  ok(c && c->status == DOCTOR_ERROR && has(c->value, "test_decoding") && has(c->fix, "[source] slot"),
     "a slot of another plugin: an error");
  doctor_report_free(&r);

  free(s.slot_plugin);
  s.slot_plugin = xstrdup("pgoutput");
  s.slot_wal_status = xstrdup("lost");
  pg_doctor_evaluate(&s, &r);
  c = find(&r, "slot 'binhook'");
  ok(c && c->status == DOCTOR_ERROR && has(c->message, "lost"), "a slot whose WAL is lost: an error");
  doctor_report_free(&r);
  pg_doctor_server_free(&s);
}

static void test_publication(void)
{
  struct pg_doctor_server s;
  struct doctor_report r = {0};
  healthy(&s);
  s.pub_all_tables = 0;
  s.pub_truncate = 0;
  s.pub_tables = xcalloc(2, sizeof *s.pub_tables);
  s.pub_tables[0] = xstrdup("public.logs");
  s.pub_tables[1] = xstrdup("public.orders");
  s.npub_tables = 2;
  s.no_identity = xcalloc(1, sizeof *s.no_identity);
  s.no_identity[0] = xstrdup("public.logs");
  s.nno_identity = 1;
  s.triggers = 2;
  s.triggers_disabled = xstrdup("binhook_ddl_drop");
  pg_doctor_evaluate(&s, &r);
  const struct doctor_check *c = find(&r, "publication 'binhook'");
  ok(c && c->status == DOCTOR_WARNING && has(c->value, "2 tables: public.logs, public.orders") &&
         has(c->message, "truncate") && has(c->fix, "SET (publish = 'insert, update, delete, truncate')"),
     "a publication without truncate: its tables, and the ALTER PUBLICATION");
  c = find(&r, "replica identity");
  ok(c && c->status == DOCTOR_WARNING && has(c->fix, "ALTER TABLE public.logs REPLICA IDENTITY FULL;"),
     "a published table without a replica identity: a warning");
  c = find(&r, "DDL alerts");
  ok(c && c->status == DOCTOR_WARNING && has(c->fix, "ALTER EVENT TRIGGER binhook_ddl_drop ENABLE;"),
     "a disabled trigger: how to enable it");
  doctor_report_free(&r);
  pg_doctor_server_free(&s);
}

/* ---- the DDL alerts' messages ---- */

static struct change *got;

static int keep(void *ctx, struct change *e, char *err, size_t errsz)
{
  (void)ctx, (void)err, (void)errsz;
  if (e->type == EVENT_STATEMENT && !got)
    got = e;
  else
    change_free(e);
  return 0;
}

static void put(unsigned char **p, uint64_t v, int n)
{
  for (int i = n - 1; i >= 0; i--)
    (*p)[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
  *p += n;
}

/* Feeds Begin, a transactional Message with prefix and content, Commit;
 * the statement made, or NULL. */
static struct change *decode_message(const char *prefix, const char *content)
{
  unsigned char m[4096], *p;
  char err[256];
  struct pg_decoder *d = pg_decoder_new(keep, NULL, NULL, NULL, NULL);
  got = NULL;
  p = m;
  *p++ = 'B';
  put(&p, 0x16B3748, 8), put(&p, 0, 8), put(&p, 7, 4);
  ok(!pg_decoder_feed(d, 0, m, (size_t)(p - m), err, sizeof err), "Begin");
  p = m;
  *p++ = 'M';
  put(&p, 1, 1), put(&p, 0x16B3700, 8);
  memcpy(p, prefix, strlen(prefix) + 1), p += strlen(prefix) + 1;
  put(&p, strlen(content), 4);
  memcpy(p, content, strlen(content)), p += strlen(content);
  ok(!pg_decoder_feed(d, 0, m, (size_t)(p - m), err, sizeof err), "Message");
  p = m;
  *p++ = 'C';
  put(&p, 0, 1), put(&p, 0x16B3748, 8), put(&p, 0x16B3790, 8), put(&p, 0, 8);
  ok(!pg_decoder_feed(d, 0, m, (size_t)(p - m), err, sizeof err), "Commit");
  pg_decoder_free(d);
  return got;
}

static void test_messages(void)
{
  struct change *e = decode_message(
      "binhook",
      "{\"tag\": \"DROP TABLE\", \"objects\": [{\"type\": \"table\", \"identity\": \"public.orders\", "
      "\"schema\": \"public\"}, {\"type\": \"table\", \"identity\": \"sales.\\\"Odd\\\"\", \"schema\": "
      "\"sales\"}], \"user\": \"alice\", \"current_user\": \"alice\", \"client\": \"10.1.2.3\", "
      "\"sql\": \"DROP TABLE orders, sales.\\\"Odd\\\"\"}");
  ok(e != NULL, "the trigger's message is a statement");
  if (e) {
    size_t n;
    const char *user = change_user(e, &n);
    is_str(e->sql->s, "DROP TABLE orders, sales.\"Odd\"", "its SQL is the statement's text");
    is_str(user, "alice@10.1.2.3", "its user is who ran it, at their address");
    is_str(e->arena.p + e->tag_off, "DROP TABLE", "its tag");
    is_str(e->arena.p + e->object_off, "public.orders, sales.\"Odd\"", "its objects");
    is_str(e->arena.p + e->schema_off, "public", "its schema: the first object's");
    is_int(e->kind, STMT_DDL, "kind ddl");
    struct buf b = BUF_INIT;
    change_to_json(e, &b);
    ok(has(b.p, "\"tag\":\"DROP TABLE\"") && has(b.p, "\"object\":\"public.orders, sales.\\\"Odd\\\"\""),
       "the event's JSON has its tag and objects");
    ok(has(b.p, "\"id\":\"0/16B3748:23803720/0\""), "and an id of the commit LSN");
    buf_free(&b);
    change_free(e);
  }
  e = decode_message("binhook", "{\"tag\": \"GRANT\", \"objects\": [], \"user\": \"bob\", \"client\": null, "
                                "\"sql\": \"GRANT SELECT ON t TO carol\"}");
  ok(e && e->kind == STMT_DCL && !e->object_len && !e->schema_len, "GRANT: kind dcl, no object, no schema");
  if (e) {
    size_t n;
    is_str(change_user(e, &n), "bob@[local]", "a socket's client is [local]");
    change_free(e);
  }
  e = decode_message("binhook", "DROP TABLE x");
  ok(e && !strcmp(e->sql->s, "DROP TABLE x") && !e->tag_len, "plain SQL stays a statement of that SQL");
  change_free(e);
  e = decode_message("binhook", "{\"not\": \"ours\"}");
  ok(e && !strcmp(e->sql->s, "{\"not\": \"ours\"}") && !e->tag_len, "JSON without tag and sql is plain text");
  change_free(e);
  e = decode_message("other", "{\"tag\": \"DROP TABLE\", \"sql\": \"x\"}");
  ok(e == NULL, "another prefix makes no event");
}

int main(void)
{
  test_healthy();
  test_problems();
  test_slot();
  test_publication();
  test_messages();
  return done_testing();
}
