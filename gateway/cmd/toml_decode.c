/* toml_decode.c - `binhook toml-decode`: reads a TOML document on stdin and
 * writes it on stdout as the tagged JSON of the toml-test suite, so that
 * anyone can check the parser's conformance. Tables become JSON objects (keys
 * in document order), arrays JSON arrays, and every other value an object
 * {"type": "...", "value": "..."} with the value as text. */
#include "util/buf.h"
#include "cmd/commands.h"
#include "config/toml.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tag(enum toml_type t)
{
  switch (t) {
  case TOML_STRING: return "string";
  case TOML_INTEGER: return "integer";
  case TOML_FLOAT: return "float";
  case TOML_BOOLEAN: return "bool";
  case TOML_DATETIME: return "datetime";
  case TOML_DATETIME_LOCAL: return "datetime-local";
  case TOML_DATE_LOCAL: return "date-local";
  case TOML_TIME_LOCAL: return "time-local";
  default: return "";
  }
}

static void add_float_text(struct buf *b, double d)
{
  if (isnan(d))
    buf_adds(b, "nan");
  else if (isinf(d))
    buf_adds(b, d < 0 ? "-inf" : "inf");
  else
    buf_add_double(b, d, 0);
}

static void encode(struct buf *b, const struct toml_value *v)
{
  switch (v->type) {
  case TOML_TABLE:
    buf_addc(b, '{');
    for (size_t i = 0; i < v->u.table.len; i++) {
      const struct toml_key *e = &v->u.table.entries[i];
      if (i) buf_addc(b, ',');
      buf_add_json_str(b, e->key, e->keylen);
      buf_addc(b, ':');
      encode(b, e->value);
    }
    buf_addc(b, '}');
    return;
  case TOML_ARRAY:
    buf_addc(b, '[');
    for (size_t i = 0; i < v->u.array.len; i++) {
      if (i) buf_addc(b, ',');
      encode(b, v->u.array.items[i]);
    }
    buf_addc(b, ']');
    return;
  default: break;
  }
  buf_adds(b, "{\"type\":\"");
  buf_adds(b, tag(v->type));
  buf_adds(b, "\",\"value\":");
  struct buf text = BUF_INIT;
  switch (v->type) {
  case TOML_INTEGER: buf_add_i64(&text, v->u.integer); break;
  case TOML_FLOAT: add_float_text(&text, v->u.flt); break;
  case TOML_BOOLEAN: buf_adds(&text, v->u.boolean ? "true" : "false"); break;
  default: buf_add(&text, v->u.str.ptr, v->u.str.len); break;
  }
  buf_add_json_str(b, text.p ? text.p : "", text.len);
  buf_free(&text);
  buf_addc(b, '}');
}

static void usage(FILE *out)
{
  fprintf(out, "usage: binhook toml-decode < FILE.toml\n\n"
               "Reads a TOML 1.0.0 document on standard input and prints it as the tagged JSON\n"
               "of the toml-test suite: tables as objects, arrays as arrays, every other value\n"
               "as {\"type\": \"integer\", \"value\": \"42\"} (types: string, integer, float, bool,\n"
               "datetime, datetime-local, date-local, time-local).\n\n"
               "exit status: 0 valid document, 1 invalid document (the error on stderr as\n"
               "<stdin>:line:col: message), 2 usage error\n");
}

int cmd_toml_decode(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    fprintf(stderr, "binhook toml-decode: unknown argument '%s'\n", argv[i]);
    usage(stderr);
    return 2;
  }

  struct buf in = BUF_INIT;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
    buf_add(&in, chunk, n);
  if (ferror(stdin)) {
    char ebuf[128];
    fprintf(stderr, "binhook toml-decode: cannot read standard input: %s\n",
            bh_strerror(errno, ebuf, sizeof ebuf));
    buf_free(&in);
    return 1;
  }

  char err[1024];
  struct toml_value *root = toml_parse(in.p ? in.p : "", in.len, "<stdin>", err, sizeof err);
  buf_free(&in);
  if (!root) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  struct buf out = BUF_INIT;
  encode(&out, root);
  buf_addc(&out, '\n');
  toml_free(root);
  int rc = fwrite(out.p, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : 1;
  buf_free(&out);
  if (rc) fprintf(stderr, "binhook toml-decode: cannot write standard output\n");
  return rc;
}
