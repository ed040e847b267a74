/* toml_test.c - the TOML parser: values, positions, lookups and the messages
 * of invalid documents. Conformance with the whole specification is
 * t1000-toml-conformance.sh's job; this file pins down what the config layer
 * relies on. */
#include "tap.h"
#include "util/buf.h"
#include "config/toml.h"

#include <math.h>
#include <stdlib.h>

static struct toml_value *parse(const char *text, char *err, size_t errsz)
{
  return toml_parse(text, strlen(text), "t.toml", err, errsz);
}

/* The error of an invalid document, "" when it parses. */
static const char *error_of(const char *text)
{
  static char err[512];
  struct toml_value *root = parse(text, err, sizeof err);
  if (root) {
    toml_free(root);
    return "";
  }
  return err;
}

static void test_scalars(void)
{
  char err[256] = "";
  struct toml_value *root = parse("s = \"a\\tb\\u00e9\\U0001F600\"\n"
                                  "lit = 'C:\\path'\n"
                                  "i = -9_223_372_036_854_775_808\n"
                                  "h = 0xDEAD_beef\n"
                                  "o = 0o755\n"
                                  "b = 0b1010\n"
                                  "f = 6.626e-34\n"
                                  "inf = -inf\n"
                                  "nan = nan\n"
                                  "t = true\n"
                                  "odt = 1979-05-27 07:32:00.999z\n"
                                  "ldt = 1979-05-27t07:32:00\n"
                                  "ld = 1979-05-27\n"
                                  "lt = 00:32:00.5\n",
                                  err, sizeof err);
  ok(root, "scalars parse");
  if (!root) {
    diag("%s", err);
    return;
  }
  const struct toml_value *v = toml_get(root, "s");
  is_int(v->type, TOML_STRING, "basic string");
  is_str(v->u.str.ptr, "a\tb\xc3\xa9\xf0\x9f\x98\x80", "escapes decoded to UTF-8");
  is_str(toml_get(root, "lit")->u.str.ptr, "C:\\path", "literal string keeps backslashes");
  is_int(toml_get(root, "i")->u.integer, INT64_MIN, "INT64_MIN with underscores");
  is_int(toml_get(root, "h")->u.integer, 0xdeadbeef, "hexadecimal");
  is_int(toml_get(root, "o")->u.integer, 0755, "octal");
  is_int(toml_get(root, "b")->u.integer, 10, "binary");
  ok(toml_get(root, "f")->u.flt == 6.626e-34, "float");
  ok(isinf(toml_get(root, "inf")->u.flt) && toml_get(root, "inf")->u.flt < 0, "-inf");
  ok(isnan(toml_get(root, "nan")->u.flt), "nan");
  is_int(toml_get(root, "t")->u.boolean, 1, "boolean");
  v = toml_get(root, "odt");
  is_int(v->type, TOML_DATETIME, "offset date-time kind");
  is_str(v->u.str.ptr, "1979-05-27T07:32:00.999Z", "offset date-time normalized: T and Z");
  v = toml_get(root, "ldt");
  is_int(v->type, TOML_DATETIME_LOCAL, "local date-time kind");
  is_str(v->u.str.ptr, "1979-05-27T07:32:00", "local date-time normalized");
  is_int(toml_get(root, "ld")->type, TOML_DATE_LOCAL, "local date kind");
  v = toml_get(root, "lt");
  is_int(v->type, TOML_TIME_LOCAL, "local time kind");
  is_str(v->u.str.ptr, "00:32:00.5", "local time text");
  toml_free(root);
}

static void test_strings(void)
{
  char err[256] = "";
  struct toml_value *root = parse("a = \"\"\"\n  one \\\n    two\"\"\"\"\"\n"
                                  "b = '''\r\nx\r\ny'''\n"
                                  "nul = \"a\\u0000b\"\n"
                                  "e1 = \"\"\ne2 = ''\ne3 = \"\"\"\"\"\"\n",
                                  err, sizeof err);
  ok(root, "multi-line strings parse");
  if (!root) {
    diag("%s", err);
    return;
  }
  is_str(toml_get(root, "a")->u.str.ptr, "  one two\"\"",
         "line-ending backslash trims, two quotes before the end");
  is_str(toml_get(root, "b")->u.str.ptr, "x\ny", "first newline trimmed, CRLF read as LF");
  const struct toml_value *nul = toml_get(root, "nul");
  is_int(nul->u.str.len, 3, "\\u0000 kept: the length counts it");
  ok(!memcmp(nul->u.str.ptr, "a\0b", 4), "bytes around the NUL");
  const char *e[] = {"e1", "e2", "e3"};
  for (int i = 0; i < 3; i++) {
    const struct toml_value *v = toml_get(root, e[i]);
    ok(v && v->u.str.len == 0 && v->u.str.ptr && !v->u.str.ptr[0], "empty string is \"\"");
  }
  toml_free(root);
}

static void test_positions(void)
{
  char err[256] = "";
  struct toml_value *root = parse("# config\n"
                                  "title = \"x\"\n"
                                  "\n"
                                  "[source]\n"
                                  "  url = \"mysql://h\"\n"
                                  "  \"caf\xc3\xa9\".n = [1,\n"
                                  "     2]\n"
                                  "[[rule]]\n"
                                  "name = { a = 1 }\n",
                                  err, sizeof err);
  ok(root, "document with positions parses");
  if (!root) {
    diag("%s", err);
    return;
  }
  const struct toml_key *k = toml_get_key(root, "title");
  is_int(k->line, 2, "key line");
  is_int(k->col, 1, "key column");
  is_int(k->value->line, 2, "value line");
  is_int(k->value->col, 9, "value column");
  const struct toml_value *src = toml_get(root, "source");
  is_int(src->line, 4, "[header] table: line of its '['");
  is_int(src->col, 1, "[header] table: column of its '['");
  k = toml_get_key(src, "url");
  is_int(k->col, 3, "indented key column");
  is_int(k->value->col, 9, "indented value column");
  const struct toml_value *cafe = toml_get(src, "caf\xc3\xa9");
  ok(cafe && cafe->type == TOML_TABLE, "quoted dotted key makes a table");
  k = toml_get_key(cafe, "n");
  is_int(k->col, 10, "columns count characters, not bytes");
  is_int(k->value->u.array.items[1]->line, 7, "array item on the next line");
  is_int(k->value->u.array.items[1]->col, 6, "array item column");
  const struct toml_value *rule = toml_get(root, "rule");
  is_int(rule->type, TOML_ARRAY, "[[rule]] is an array");
  const struct toml_value *name = toml_get(rule->u.array.items[0], "name");
  is_int(name->col, 8, "inline table column");
  is_int(toml_get(name, "a")->col, 14, "value inside an inline table");
  ok(toml_get_path(root, "source.url") == toml_get(src, "url"), "toml_get_path follows tables");
  ok(!toml_get_path(root, "source.url.x"), "toml_get_path through a non-table is NULL");
  ok(!toml_get(root, "nope") && !toml_get(toml_get(root, "title"), "x"),
     "missing key and non-table are NULL");
  toml_free(root);
}

static void test_order_and_index(void)
{
  struct buf b = BUF_INIT;
  for (int i = 0; i < 2000; i++)
    buf_printf(&b, "k%d = %d\n", (i * 7919) % 2000, i);
  char err[256] = "";
  struct toml_value *root = toml_parse(b.p, b.len, NULL, err, sizeof err);
  ok(root, "2000 keys parse");
  if (!root) {
    diag("%s", err);
    buf_free(&b);
    return;
  }
  is_int(root->u.table.len, 2000, "all keys kept");
  int order = 1, found = 1;
  for (int i = 0; i < 2000; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", (i * 7919) % 2000);
    if (strcmp(root->u.table.entries[i].key, key)) order = 0;
    const struct toml_value *v = toml_get(root, key);
    if (!v || v->u.integer != i) found = 0;
  }
  ok(order, "entries in document order");
  ok(found, "every key found through the index");
  toml_free(root);
  buf_add(&b, "k5 = 1\n", 7);
  is_str(error_of(b.p), "t.toml:2001:1: duplicate key 'k5' (first set at 396:1)",
         "duplicate found in a big table");
  buf_free(&b);
}

static void test_tables(void)
{
  char err[256] = "";
  struct toml_value *root = parse("[a.b.c]\nx = 1\n[a]\ny = 2\nb.d = 3\n"
                                  "[[fruit]]\nname = 'apple'\n[fruit.physical]\ncolor = 'red'\n"
                                  "[[fruit.variety]]\nname = 'x'\n[[fruit]]\nname = 'banana'\n",
                                  err, sizeof err);
  ok(root, "tables, implicit tables and arrays of tables");
  if (!root) {
    diag("%s", err);
    return;
  }
  is_int(toml_get_path(root, "a.b.c.x")->u.integer, 1, "nested header");
  is_int(toml_get_path(root, "a.b.d")->u.integer, 3, "dotted key into an implicit table");
  const struct toml_value *fruit = toml_get(root, "fruit");
  is_int(fruit->u.array.len, 2, "two tables in the array");
  is_str(toml_get_path(fruit->u.array.items[0], "physical.color")->u.str.ptr, "red",
         "sub-table goes to the last element");
  is_str(toml_get(fruit->u.array.items[1], "name")->u.str.ptr, "banana", "second element");
  toml_free(root);
}

static void test_errors(void)
{
  is_str(error_of("a = 1\na = 2\n"), "t.toml:2:1: duplicate key 'a' (first set at 1:1)", "duplicate key");
  is_str(error_of("[a]\nx = 1\n[a]\n"), "t.toml:3:1: table 'a' is already defined at 1:1",
         "table defined twice");
  is_str(error_of("a.b = 1\n[a]\n"),
         "t.toml:2:1: cannot define table 'a': it is already made by the dotted key at 1:1",
         "header over a dotted-key table");
  is_str(error_of("a = {b = 1}\na.c = 2\n"),
         "t.toml:2:1: cannot add keys to inline table 'a' (written at 1:5)", "inline tables are closed");
  is_str(error_of("a = [1]\n[[a]]\n"),
         "t.toml:2:1: cannot append to 'a' as an array of tables: it is a static array (set at 1:1)",
         "static arrays are closed");
  is_str(error_of("[a.b.c]\n[a]\nb.c.d = 1\n"),
         "t.toml:3:3: cannot add keys to table 'a.b.c' with a dotted key here: it is defined by the header "
         "at 1:1",
         "dotted keys cannot reopen a [header] table");
  is_str(error_of("x = 1\ny = \"abc\n"), "t.toml:2:5: unterminated string",
         "unterminated string at its quote");
  is_str(error_of("x = \"\\q\"\n"), "t.toml:1:6: invalid escape sequence '\\q'", "bad escape");
  is_str(error_of("x = \"\\uD800\"\n"), "t.toml:1:6: escape '\\uD800' is not a Unicode scalar value",
         "surrogate escape");
  is_str(error_of("x = 9223372036854775808\n"),
         "t.toml:1:5: integer '9223372036854775808' does not fit in 64 bits", "integer overflow");
  is_str(error_of("x = 0x8000000000000000\n"),
         "t.toml:1:5: integer '0x8000000000000000' does not fit in 64 bits", "hexadecimal overflow");
  is_str(error_of("x = 1__0\n"), "t.toml:1:5: an underscore in a number must be between two digits: '1__0'",
         "double underscore");
  is_str(error_of("x = 012\n"), "t.toml:1:5: leading zeros are not allowed in a number: '012'",
         "leading zero");
  is_str(error_of("x = 1e999\n"), "t.toml:1:5: float '1e999' is out of range", "float overflow");
  is_str(error_of("x = 2021-02-29\n"),
         "t.toml:1:5: invalid date or time '2021-02-29': day out of range for its month", "not a leap year");
  is_str(error_of("x = 10:30\n"), "t.toml:1:5: invalid date or time '10:30': seconds are required (hh:mm:ss)",
         "seconds required");
  is_str(error_of("url = localhost\n"), "t.toml:1:7: invalid value 'localhost' (strings need quotes)",
         "unquoted string");
  is_str(error_of("a = 1 b = 2\n"), "t.toml:1:7: expected the end of the line after a value, found 'b'",
         "two pairs on a line");
  is_str(error_of("a = [1 2]\n"), "t.toml:1:8: expected ',' or ']' in the array, found '2'", "missing comma");
  is_str(error_of("a = {x = 1,\n y = 2}\n"),
         "t.toml:1:12: an inline table must be on one line (TOML 1.0); use a [table] for more",
         "newline in an inline table");
  is_str(error_of("\xc3\xa9\xc3\xa9 = 1\n"), "t.toml:1:1: expected a key, found '\xc3\xa9' (U+00E9)",
         "non-ASCII bare key");
  is_str(error_of("k = \"\xc3\xa9\xff\"\n"),
         "t.toml:1:7: invalid UTF-8 byte 0xff (a TOML file must be UTF-8)",
         "invalid UTF-8, column in characters");
  is_str(error_of("k = 1\r\n\r"),
         "t.toml:2:1: expected a key, found a carriage return not followed by a line feed",
         "bare carriage return");
  is_str(error_of("# a\x01\n"), "t.toml:1:4: control character U+0001 is not allowed in a comment",
         "control character in a comment");

  char err[128];
  ok(!toml_parse("= 1", 3, NULL, err, sizeof err), "no file name");
  is_str(err, "1:1: expected a key, found '='", "message without a file name");
  ok(!toml_parse("a = \n", 5, "t.toml", NULL, 0), "a NULL error buffer is fine");

  struct buf b = BUF_INIT;
  buf_adds(&b, "a = ");
  for (int i = 0; i < 300; i++)
    buf_addc(&b, '[');
  for (int i = 0; i < 300; i++)
    buf_addc(&b, ']');
  ok(strstr(error_of(b.p), "nested more than"), "deep nesting is an error, not a stack overflow");
  buf_free(&b);
}

/* toml_parse_partial: the tree up to a syntax error, for a checker. */
static void test_partial(void)
{
  char err[256] = "";
  struct toml_value *root = NULL;
  const char *text = "a = 1\n[t]\nb = \"x\"\n[[r]]\nname = \"one\"\n[[r]]\nname = \"two\"\nwhen = 'x\n"
                     "[after]\nc = 3\n";
  int rc = toml_parse_partial(text, strlen(text), "t.toml", &root, err, sizeof err);
  is_int(rc, -1, "a syntax error: -1");
  is_str(err, "t.toml:8:8: unterminated string", "with its message");
  ok(root && root->type == TOML_TABLE, "and a tree");
  if (!root) return;
  is_int(toml_get(root, "a")->u.integer, 1, "values before the error are kept");
  is_str(toml_get_path(root, "t.b")->u.str.ptr, "x", "so are the tables before it");
  const struct toml_value *r = toml_get(root, "r");
  ok(r && r->type == TOML_ARRAY && r->u.array.len == 2, "both tables of the array read so far");
  if (r && r->u.array.len == 2) {
    ok(!toml_incomplete(r->u.array.items[0]), "a table finished before the error is complete");
    ok(toml_incomplete(r->u.array.items[1]), "the table being filled is marked incomplete");
    is_str(toml_get(r->u.array.items[1], "name")->u.str.ptr, "two", "it holds the keys before the error");
    ok(!toml_get(r->u.array.items[1], "when"), "not the value the error is in");
  }
  ok(!toml_get(root, "after"), "nothing after the error");
  ok(!toml_incomplete(root), "the root is complete when a [header] was being filled");
  toml_free(root);

  rc = toml_parse_partial("x = [1, 2\n", 10, "t.toml", &root, err, sizeof err);
  is_int(rc, -1, "an unterminated array");
  ok(root && !toml_get(root, "x") && toml_incomplete(root), "leaves no half array; the root is incomplete");
  toml_free(root);

  rc = toml_parse_partial("\xff = 1\n", 6, "t.toml", &root, err, sizeof err);
  ok(rc == -1 && root && root->u.table.len == 0, "invalid UTF-8: an empty tree");
  toml_free(root);

  rc = toml_parse_partial("a = 1\n", 6, "t.toml", &root, err, sizeof err);
  ok(rc == 0 && root && !toml_incomplete(root) && !err[0], "a valid text: 0, a complete tree, no message");
  toml_free(root);
  is_str(toml_type_article(TOML_INTEGER), "an integer", "type name with its article");
  is_str(toml_type_article(TOML_TIME_LOCAL), "a local time", "type name with its article");
}

static void test_misc(void)
{
  char err[64];
  struct toml_value *root = toml_parse("\xef\xbb\xbf"
                                       "a = 1",
                                       8, "t.toml", err, sizeof err);
  ok(root && toml_get(root, "a"), "byte order mark skipped, no final newline needed");
  toml_free(root);
  root = toml_parse("", 0, "t.toml", err, sizeof err);
  ok(root && root->type == TOML_TABLE && root->u.table.len == 0, "empty document is an empty table");
  toml_free(root);
  toml_free(NULL);
  is_str(toml_type_name(TOML_INTEGER), "integer", "type name");
  is_str(toml_type_name(TOML_ARRAY), "array", "type name without article");
  is_str(toml_type_name(TOML_DATETIME), "offset date-time", "date-time type name");
  is_str(toml_type_name(TOML_TABLE), "table", "table type name");
}

int main(void)
{
  test_scalars();
  test_strings();
  test_positions();
  test_order_and_index();
  test_tables();
  test_errors();
  test_partial();
  test_misc();
  return done_testing();
}
