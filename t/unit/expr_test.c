/* expr_test.c - the `when` expression language and change_from_json.
 *
 * Usage: expr_test CASES-FILE (t/data/expr.cases; t1100-unit-expr.sh passes
 * it). Every case of the file is one test; the rest are the value kinds a
 * JSON event cannot carry (ENUM, SET, FLOAT, BYTES...), what an expression
 * reads, and change_from_json itself.
 *
 * The cases file: blocks separated by blank lines, '#' starts a comment line.
 *
 *   event: {"type":"update", ...}   the event (kept for the next blocks)
 *   pos: 3:12                       where the expression starts (default 1:1)
 *   expr: after.total >= 100        the expression; lines that follow and
 *     and changed(total)            start with a space continue it (joined
 *                                   with a newline, the leading spaces kept)
 *   want: true | false | error MESSAGE
 *
 * The expression is compiled as if found in a file named "file". */
#include "tap.h"
#include "casefile.h"
#include "source/binlog.h"
#include "util/buf.h"
#include "event/change.h"
#include "event/change_json.h"
#include "match/expr.h"
#include "util/util.h"

#include <stdlib.h>

struct kase {
  int line; /* of the expr: line */
  struct buf expr;
  char want[600];
  int pos_line, pos_col;
};

static void run_case(const struct kase *k, const struct change *e, const char *event_text)
{
  char name[700], err[512] = "";
  snprintf(name, sizeof name, "expr.cases:%d: %s", k->line, k->expr.p);
  struct expr *x = expr_compile(k->expr.p, "file", k->pos_line, k->pos_col, err, sizeof err);
  if (!strncmp(k->want, "error ", 6)) {
    if (x) {
      ok(0, name);
      diag("compiled, but want: %s", k->want);
      expr_free(x);
      return;
    }
    is_str(err, k->want + 6, name);
    return;
  }
  if (!x) {
    ok(0, name);
    diag("compile error: %s", err);
    return;
  }
  if (!e) {
    ok(0, name);
    diag("no usable event before this case: %s", event_text ? event_text : "(none)");
    expr_free(x);
    return;
  }
  int want = !strcmp(k->want, "true") ? 1 : !strcmp(k->want, "false") ? 0 : -1;
  if (want < 0) {
    ok(0, name);
    diag("want must be true, false or error MESSAGE, not '%s'", k->want);
  } else if (!is_int(expr_eval(x, e), want, name)) {
    diag("event: %s", event_text);
  }
  expr_free(x);
}

static void run_cases(const char *path)
{
  char *text = casefile_read(path, NULL);
  if (!text) {
    ok(0, "the cases file can be read");
    diag("cannot open '%s'", path);
    return;
  }
  struct change *e = NULL;
  char *event_text = NULL;
  struct kase k = {0};
  k.pos_line = k.pos_col = 1;
  int have_expr = 0, have_want = 0, lineno = 0, ncases = 0;
  for (char *p = text; *p;) {
    char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = xstrndup(p, len);
    p += len + (nl ? 1 : 0);
    lineno++;
    int blank = !line[strspn(line, " \t\r")];
    if (line[0] == '#') {
      free(line);
      continue;
    }
    if (line[0] == ' ' && have_expr && !have_want && !blank) {
      buf_addc(&k.expr, '\n');
      buf_adds(&k.expr, line);
    } else if (!strncmp(line, "event: ", 7)) {
      char err[512];
      change_free(e);
      free(event_text);
      event_text = xstrdup(line + 7);
      e = change_from_json(event_text, strlen(event_text), err, sizeof err);
      if (!e) {
        ok(0, "an event of the cases file is valid");
        diag("expr.cases:%d: %s", lineno, err);
      }
    } else if (!strncmp(line, "pos: ", 5)) {
      if (sscanf(line + 5, "%d:%d", &k.pos_line, &k.pos_col) != 2) {
        ok(0, "a pos: line of the cases file is LINE:COL");
        diag("expr.cases:%d: %s", lineno, line);
      }
    } else if (!strncmp(line, "expr: ", 6)) {
      buf_reset(&k.expr);
      buf_adds(&k.expr, line + 6);
      k.line = lineno;
      have_expr = 1;
    } else if (!strncmp(line, "want: ", 6)) {
      snprintf(k.want, sizeof k.want, "%s", line + 6);
      have_want = 1;
    } else if (!blank) {
      ok(0, "every line of the cases file is understood");
      diag("expr.cases:%d: %s", lineno, line);
    }
    free(line);
    if ((blank || !*p) && have_expr) {
      if (!have_want) {
        ok(0, "every case has a want: line");
        diag("expr.cases:%d: no want:", k.line);
      } else {
        run_case(&k, e, event_text);
        ncases++;
      }
      have_expr = have_want = 0;
      k.pos_line = k.pos_col = 1;
    }
  }
  ok(ncases >= 120, "the cases file holds at least 120 cases");
  diag("%d cases", ncases);
  buf_free(&k.expr);
  change_free(e);
  free(event_text);
  free(text);
}

/* ---- value kinds only the binlog produces ---- */

static struct table *kinds_table(void)
{
  static const char *const names[] = {"id",   "status", "flags",    "f",     "bin",
                                      "bits", "price",  "nolabels", "noset", "doc"};
  struct table *t = xcalloc(1, sizeof *t);
  t->refs = 1;
  t->schema = xstrdup("shop");
  t->name = xstrdup("kinds");
  t->ncols = 10;
  t->cols = xcalloc(t->ncols, sizeof *t->cols);
  for (uint32_t i = 0; i < t->ncols; i++)
    t->cols[i].name = xstrdup(names[i]);
  t->cols[1].type = MT_ENUM;
  t->cols[1].nlabels = 3;
  t->cols[1].labels = xcalloc(3, sizeof(char *));
  t->cols[1].labels[0] = xstrdup("new");
  t->cols[1].labels[1] = xstrdup("paid");
  t->cols[1].labels[2] = xstrdup("shipped");
  t->cols[2].type = MT_SET;
  t->cols[2].nlabels = 3;
  t->cols[2].labels = xcalloc(3, sizeof(char *));
  t->cols[2].labels[0] = xstrdup("a");
  t->cols[2].labels[1] = xstrdup("b");
  t->cols[2].labels[2] = xstrdup("c");
  t->npk = 1;
  t->pk = xcalloc(1, sizeof *t->pk);
  t->cols[0].in_pk = 1;
  return t;
}

static void set_text(struct change *e, struct value *v, enum val_kind kind, const char *s, size_t n)
{
  v->kind = kind;
  v->off = e->arena.len;
  v->len = (uint32_t)n;
  buf_add(&e->arena, s, n);
}

static int eval_str(const char *text, const struct change *e)
{
  char err[256];
  struct expr *x = expr_compile(text, "t", 1, 1, err, sizeof err);
  if (!x) {
    diag("'%s': %s", text, err);
    return -1;
  }
  int r = expr_eval(x, e);
  expr_free(x);
  return r;
}

static void test_binlog_kinds(void)
{
  struct table *t = kinds_table();
  struct change *e = change_new(EVENT_UPDATE, t);
  table_unref(t);
  for (int img = 0; img < 2; img++) {
    struct value *v = img ? e->after : e->before;
    v[0].kind = VAL_UINT, v[0].u = 7;
    v[1].kind = VAL_ENUM, v[1].u = img ? 2 : 1;
    v[2].kind = VAL_SET, v[2].u = img ? 5 : 1; /* {a, c} after, {a} before */
    v[3].kind = VAL_FLOAT, v[3].d = (double)0.1f;
    set_text(e, &v[4], VAL_BYTES, "ab\0c", 4);
    v[5].kind = VAL_BIT, v[5].u = 5;
    set_text(e, &v[6], VAL_DECIMAL, "99.999999999999999999", 21);
    v[7].kind = VAL_ENUM, v[7].u = 2;
    v[8].kind = VAL_SET, v[8].u = 3;
    set_text(e, &v[9], VAL_JSON, "{\"a\": [1, 2]}", 13);
  }
  /* Labels are unknown for "nolabels" and "noset": no labels array. */
  static const struct {
    const char *expr;
    int want;
  } cases[] = {
      {"after.status == \"paid\"", 1},
      {"before.status == \"new\"", 1},
      {"after.status in [\"paid\", \"shipped\"]", 1},
      {"after.status > \"new\"", 1}, /* labels compare as text, not by index */
      {"changed(status)", 1},
      {"upper(after.status) == \"PAID\"", 1},
      {"after.status matches \"^p\"", 1},
      {"\"a\" in after.flags", 1},
      {"\"b\" in after.flags", 0},
      {"contains(after.flags, \"c\")", 1},
      {"contains(before.flags, \"c\")", 0},
      {"len(after.flags) == 2", 1},
      {"after.flags == [\"a\", \"c\"]", 1},
      {"after.flags == [\"c\", \"a\"]", 0},
      {"changed(flags)", 1},
      {"after.f == 0.1", 1}, /* a FLOAT compares as a float */
      {"after.f < 0.2", 1},
      {"after.f == \"0.1\"", 1},
      {"after.bin == \"ab\\0c\"", 1},
      {"len(after.bin) == 4", 1},
      {"after.bits == 5", 1},
      {"after.bits == 5.0", 1},
      {"after.price >= 100", 0}, /* exact, not through a double */
      {"after.price < 100", 1},
      {"after.price > 99.99999999999999999", 1},
      {"after.price == 99.999999999999999999000", 1},
      {"after.price == \"99.999999999999999999\"", 1},
      {"after.nolabels == 2", 1},
      {"after.noset == 3", 1},
      {"after.doc == \"{\\\"a\\\": [1, 2]}\"", 1},
      {"key.id == 7", 1},
      {"key.status is null", 1},
      {"table == \"kinds\" and schema == \"shop\" and type == \"update\"", 1},
      {"changed(id)", 0},
      {"changed()", 1},
  };
  char name[300];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    snprintf(name, sizeof name, "binlog value kinds: %s", cases[i].expr);
    is_int(eval_str(cases[i].expr, e), cases[i].want, name);
  }
  change_free(e);
}

/* ---- what an expression reads ---- */

static void collect(void *arg, enum expr_scope scope, const char *name)
{
  static const char *const scopes[] = {"before", "after", "key", "changed"};
  struct buf *b = arg;
  if (b->len) buf_addc(b, ' ');
  buf_adds(b, scopes[scope]);
  buf_addc(b, ':');
  buf_adds(b, name ? name : "*");
}

static void test_reads(void)
{
  char err[256];
  struct expr *x =
      expr_compile("changed(status) and after.status == \"paid\" or before.`my col` in [key.id, 1]"
                   " or table == \"t\" or changed() or changed(after.x)",
                   "t", 1, 1, err, sizeof err);
  if (!ok(x, "an expression to inspect compiles")) {
    diag("%s", err);
    return;
  }
  struct buf b = BUF_INIT;
  expr_foreach_column(x, collect, &b);
  is_str(b.p, "changed:status after:status before:my col key:id changed:* changed:x", "expr_foreach_column");
  is_int(expr_reads(x), EXPR_READS_TABLE | EXPR_READS_CHANGED_ANY, "expr_reads");
  is_int(expr_uses_changed(x), 1, "expr_uses_changed");
  expr_free(x);
  buf_free(&b);

  x = expr_compile("schema == \"a\" and type != \"delete\"", "t", 1, 1, err, sizeof err);
  is_int(expr_reads(x), EXPR_READS_SCHEMA | EXPR_READS_TYPE, "expr_reads: schema and type");
  is_int(expr_uses_changed(x), 0, "expr_uses_changed: none");
  expr_free(x);

  ok(!expr_compile("after.", NULL, 4, 2, err, sizeof err), "an error without a file name");
  is_str(err, "4:8: expected a column name after 'after.'", "the message is line:col: without a file");
  ok(!expr_compile("a", "f", 1, 1, NULL, 0), "no error buffer: still NULL");
  ok(!expr_compile("", "f", 2, 3, err, sizeof err), "an empty expression");
  is_str(err, "f:2:3: empty expression", "  says so at its start");
  ok(!expr_compile("  \n ", "f", 2, 3, err, sizeof err), "a blank expression");
  is_str(err, "f:3:2: empty expression", "  says so at its end");
  expr_free(NULL);
}

/* ---- change_from_json ---- */

static struct change *from(const char *json, char *err, size_t errsz)
{
  return change_from_json(json, strlen(json), err, errsz);
}

static const char *json_error(const char *json)
{
  static char err[512];
  err[0] = 0;
  struct change *e = from(json, err, sizeof err);
  if (e) {
    change_free(e);
    return "";
  }
  return err;
}

static void test_event_json(void)
{
  char err[512] = "";
  const char *in =
      "{\"id\":\"x\",\"type\":\"update\",\"schema\":\"shop\",\"table\":\"orders\",\"ts\":\"2026-11-21T10:15:"
      "02Z\","
      "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-9876\"},\"tx\":{\"index\":3},"
      "\"key\":{\"id\":42},"
      "\"before\":{\"id\":42,\"status\":\"new\",\"total\":\"99.90\",\"big\":18446744073709551615,"
      "\"neg\":-9223372036854775808,\"huge\":123456789012345678901234567890,\"dec\":1.10,\"dbl\":1e3,"
      "\"tags\":[\"a\", "
      "\"b\"],\"doc\":{\"k\":null},\"ok\":true,\"no\":false,\"n\":null,\"u\":\"\\u00e9\\ud83d\\ude00\"},"
      "\"after\":{\"id\":42,\"status\":\"paid\",\"total\":\"99.90\"},"
      "\"changed\":[\"status\"],\"sql\":\"UPDATE orders SET status='paid' WHERE id=42\"}";
  struct change *e = from(in, err, sizeof err);
  if (!ok(e, "change_from_json: a canonical update")) {
    diag("%s", err);
    return;
  }
  is_int(e->type, EVENT_UPDATE, "type");
  is_str(e->table->schema, "shop", "schema");
  is_str(e->table->name, "orders", "table");
  is_int(e->table->ncols, 14, "columns: the union of before, after and key");
  is_int(e->table->npk, 1, "one key column");
  is_str(e->table->cols[e->table->pk[0]].name, "id", "the key column");
  is_int(e->ts, 1795256102, "ts");
  is_str(e->position.file, "binlog.000042", "position.file");
  is_int(e->position.pos, 1234, "position.pos");
  is_str(e->position.gtid, "0-1-9876", "position.gtid");
  is_int(e->tx_index, 3, "tx.index");
  ok(e->sql && !strcmp(e->sql->s, "UPDATE orders SET status='paid' WHERE id=42"), "sql");
  is_int(e->before[3].kind, VAL_UINT, "an integer above INT64_MAX is unsigned");
  ok(e->before[3].u == UINT64_MAX, "  with its value");
  is_int(e->before[4].kind, VAL_INT, "INT64_MIN is an integer");
  ok(e->before[4].i == INT64_MIN, "  with its value");
  is_int(e->before[5].kind, VAL_DECIMAL, "an integer beyond 64 bits is an exact decimal");
  is_int(e->before[6].kind, VAL_DECIMAL, "a number with a fraction is an exact decimal");
  is_int(e->before[7].kind, VAL_DOUBLE, "a number with an exponent is a double");
  is_int(e->before[8].kind, VAL_JSON, "an array is JSON");
  is_int(e->before[9].kind, VAL_JSON, "an object is JSON");
  is_int(e->before[10].kind, VAL_INT, "true is an integer");
  is_int(e->before[12].kind, VAL_NULL, "null is NULL");
  is_int(e->after[3].kind, VAL_ABSENT, "a column missing from after is absent");
  /* Back to JSON: the values keep their text. */
  struct buf b = BUF_INIT;
  change_to_json(e, &b);
  is_str(b.p,
         "{\"id\":\"0-1-9876/"
         "3\",\"type\":\"update\",\"schema\":\"shop\",\"table\":\"orders\",\"ts\":\"2026-11-21T10:15:02Z\","
         "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-9876\"},\"tx\":{\"index\":3},"
         "\"key\":{\"id\":42},"
         "\"before\":{\"id\":42,\"status\":\"new\",\"total\":\"99.90\",\"big\":18446744073709551615,"
         "\"neg\":-9223372036854775808,\"huge\":\"123456789012345678901234567890\",\"dec\":\"1.10\",\"dbl\":"
         "1000,"
         "\"tags\":[\"a\", "
         "\"b\"],\"doc\":{\"k\":null},\"ok\":1,\"no\":0,\"n\":null,\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\"},"
         "\"after\":{\"id\":42,\"status\":\"paid\",\"total\":\"99.90\"},"
         "\"changed\":[\"status\"],\"sql\":\"UPDATE orders SET status='paid' WHERE id=42\"}",
         "change_to_json of the parsed event");
  buf_free(&b);
  change_free(e);

  /* The key fills the image that lacks it. */
  e = from("{\"type\":\"delete\",\"schema\":\"s\",\"table\":\"t\",\"key\":{\"a\":1,\"b\":\"x\"},\"before\":{"
           "\"c\":2}}",
           err, sizeof err);
  if (ok(e, "a delete whose before lacks the key")) {
    is_int(e->table->npk, 2, "a composite key");
    is_int(e->before[1].kind, VAL_INT, "the key column is in before");
    is_int(eval_str("key.a == 1 and key.b == \"x\" and before.a == 1 and after.a is null", e), 1,
           "key and before read the key of a delete");
    change_free(e);
  }
  e = from("{\"type\":\"statement\",\"schema\":\"shop\",\"sql\":\"DROP TABLE "
           "t\",\"kind\":\"ddl\",\"thread_id\":9}",
           err, sizeof err);
  if (ok(e, "a statement event")) {
    is_int(e->type, EVENT_STATEMENT, "type statement");
    is_int(e->kind, STMT_DDL, "kind ddl");
    is_int(e->thread_id, 9, "thread_id");
    is_int(eval_str("type == \"statement\" and schema == \"shop\" and table is null and after.x is null", e),
           1, "expressions on a statement");
    is_int(eval_str("changed()", e), 0, "changed() is false on a statement");
    change_free(e);
  }
  e = from("{\"type\":\"statement\",\"schema\":null,\"sql\":\"GRANT\"}", err, sizeof err);
  if (ok(e, "a statement without a default database")) {
    is_int(eval_str("schema is null", e), 1, "its schema is null");
    change_free(e);
  }
  e = from(" {\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"after\":{}} \n", err, sizeof err);
  if (ok(e, "an insert with no columns, spaces around")) {
    is_int(e->table->ncols, 0, "no columns");
    is_int(eval_str("changed() or after.x is not null", e), 0, "nothing to read");
    change_free(e);
  }

  static const struct {
    const char *json, *err;
  } bad[] = {
      {"", "invalid event JSON at byte 0: expected a value"},
      {"[1]", "an event must be a JSON object"},
      {"{\"type\":\"update\"", "invalid event JSON at byte 16: expected ',' or '}'"},
      {"{\"type\":\"update\"} x", "invalid event JSON at byte 18: text after the event object"},
      {"{\"type\":1}", "an event needs a string 'type'"},
      {"{\"type\":\"upsert\"}",
       "unknown event type 'upsert' (insert, update, delete, snapshot or statement)"},
      {"{\"type\":\"insert\",\"table\":\"t\"}", "a row event needs a string 'schema'"},
      {"{\"type\":\"insert\",\"schema\":\"s\"}", "a row event needs a string 'table'"},
      {"{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"before\":{}}",
       "an insert event has no 'before'"},
      {"{\"type\":\"delete\",\"schema\":\"s\",\"table\":\"t\",\"after\":{}}",
       "a delete event has no 'after'"},
      {"{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"after\":[]}", "'after' must be an object"},
      {"{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"after\":{\"a\":1,\"a\":2}}",
       "duplicate column 'a' in 'after'"},
      {"{\"type\":\"insert\",\"type\":\"insert\"}", "duplicate field 'type'"},
      {"{\"type\":\"statement\",\"kind\":\"weird\"}", "unknown statement kind 'weird' (ddl, dcl or other)"},
      {"{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"ts\":\"yesterday\"}",
       "'ts' must be a time as YYYY-MM-DDTHH:MM:SSZ, not 'yesterday'"},
      {"{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"tx\":{\"index\":-1}}",
       "'tx.index' must be a non-negative integer"},
      {"{\"a\":01}", "invalid event JSON at byte 6: expected ',' or '}'"},
      {"{\"a\":1.}", "invalid event JSON at byte 7: invalid number"},
      {"{\"a\":\"\\x\"}", "invalid event JSON at byte 6: invalid escape in a string"},
      {"{\"a\":\"\x01\"}", "invalid event JSON at byte 6: control character in a string"},
      {"{\"a\":\"abc", "invalid event JSON at byte 9: unterminated string"},
      {"{\"a\":tru}", "invalid event JSON at byte 5: expected a value"},
      {"{1:2}", "invalid event JSON at byte 1: expected a member name"},
  };
  char name[300];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(name, sizeof name, "change_from_json rejects %s", bad[i].json);
    is_str(json_error(bad[i].json), bad[i].err, name);
  }
  /* Deep nesting is an error, not a stack overflow. */
  struct buf deep = BUF_INIT;
  buf_adds(&deep, "{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"after\":{\"j\":");
  for (int i = 0; i < 5000; i++)
    buf_addc(&deep, '[');
  ok(strstr(json_error(deep.p), "nested too deeply") != NULL, "change_from_json: deep nesting is refused");
  buf_free(&deep);
}

static void test_deep_expr(void)
{
  char err[256];
  struct buf b = BUF_INIT;
  for (int i = 0; i < 10000; i++)
    buf_addc(&b, '(');
  ok(!expr_compile(b.p, "f", 1, 1, err, sizeof err), "deep nesting does not compile");
  is_str(err, "f:1:201: expression nested more than 200 levels deep", "  and says why");
  buf_reset(&b);
  for (int i = 0; i < 10000; i++)
    buf_adds(&b, "not ");
  buf_adds(&b, "true");
  ok(!expr_compile(b.p, "f", 1, 1, err, sizeof err), "a long chain of not does not compile");
  buf_reset(&b);
  /* Long flat chains are fine: and/or are loops, not recursion. */
  buf_adds(&b, "true");
  for (int i = 0; i < 2000; i++)
    buf_adds(&b, " and true");
  struct expr *x = expr_compile(b.p, "f", 1, 1, err, sizeof err);
  ok(x, "2000 and-ed terms compile");
  struct change *e = change_new(EVENT_INSERT, NULL);
  if (x) is_int(expr_eval(x, e), 1, "  and evaluate");
  expr_free(x);
  change_free(e);
  buf_free(&b);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    run_cases(argv[1]);
  else {
    ok(0, "the cases file is given");
    diag("usage: expr_test t/data/expr.cases");
  }
  test_binlog_kinds();
  test_reads();
  test_event_json();
  test_deep_expr();
  return done_testing();
}
