/* snapshot_test.c - the parts of the snapshot that need no server: a key's
 * JSON form read back exactly for every kind of value, and refused when it
 * is not one binhook wrote; the order of key values as the server orders
 * them; a damaged state or sent file refused with a message that says what
 * to do, and the code beside it; the order of binlog file names and
 * positions; the code of a server's error number. */
#include "tap.h"
#include "snapshot/snapshot_int.h"
#include "source/server.h"
#include "util/json.h"

#include <arpa/inet.h>
#include <errmsg.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

/* ok() that shows err when the expected words are not in it. */
static int has(const char *err, const char *want, const char *name)
{
  int r = ok(strstr(err, want) != NULL, name);
  if (!r) diag("'%s' not in '%s'", want, err);
  return r;
}

/* ---- keys ---- */

/* The key of JSON text, or NULL with err. */
static struct key *parse_key(const char *text, char *err, size_t errsz)
{
  struct jv root_v;
  size_t pos = 0;
  if (json_parse_value(text, strlen(text), &pos, &root_v, err, errsz) < 0) {
    jv_free(&root_v);
    return NULL;
  }
  struct key *k = key_from_json(&root_v, err, errsz);
  jv_free(&root_v);
  return k;
}

static int same_value(const struct key *a, const struct key *b, uint32_t j)
{
  const struct value *x = &a->v[j], *y = &b->v[j];
  if (x->kind != y->kind) return 0;
  switch (x->kind) {
  case VAL_INT: return x->i == y->i;
  case VAL_UINT:
  case VAL_ENUM:
  case VAL_SET:
  case VAL_BIT: return x->u == y->u;
  case VAL_FLOAT:
  case VAL_DOUBLE: return !memcmp(&x->d, &y->d, sizeof x->d); /* bit for bit: -0, NaN */
  case VAL_DECIMAL:
  case VAL_STRING:
  case VAL_BYTES:
  case VAL_JSON: return x->len == y->len && !memcmp(a->arena.p + x->off, b->arena.p + y->off, x->len);
  default: return 1;
  }
}

static void test_key_json(void)
{
  struct key *k = key_new(13);
  k->v[0] = (struct value){.kind = VAL_INT, .i = INT64_MIN};
  k->v[1] = (struct value){.kind = VAL_UINT, .u = UINT64_MAX};
  k->v[2] = (struct value){.kind = VAL_ENUM, .u = 3};
  k->v[3] = (struct value){.kind = VAL_SET, .u = 5};
  k->v[4] = (struct value){.kind = VAL_BIT, .u = 0x8001};
  k->v[5] = (struct value){.kind = VAL_FLOAT, .d = (double)0.1f};
  k->v[6] = (struct value){.kind = VAL_DOUBLE, .d = -0.0};
  key_set_text(k, 7, VAL_DECIMAL, "-12.50", 6);
  key_set_text(k, 8, VAL_STRING, "it's \"x\" \xc3\xa9", 11);
  key_set_text(k, 9, VAL_BYTES, "\0\xff\n\"", 4);
  key_set_text(k, 10, VAL_JSON, "{\"a\":[1]}", 9);
  k->v[11] = (struct value){.kind = VAL_NULL};
  k->v[12] = (struct value){.kind = VAL_DOUBLE, .d = NAN};

  struct buf b = BUF_INIT, b2 = BUF_INIT;
  key_to_json(k, &b);
  char err[256] = "";
  struct key *back = parse_key(b.p, err, sizeof err);
  if (!ok(back != NULL, "a key of every kind is read back")) diag("%s: %s", b.p, err);
  if (back) {
    is_int(back->n, k->n, "with as many parts");
    int all = 1;
    for (uint32_t j = 0; j < k->n && j < back->n; j++)
      if (!same_value(k, back, j)) {
        diag("part %u differs", j);
        all = 0;
      }
    ok(all, "each part exactly: INT64_MIN, UINT64_MAX, -0.0 and NaN bit for bit, bytes with NUL");
    key_to_json(back, &b2);
    is_str(b2.p, b.p, "and it writes the same text again");
    key_free(back);
  }
  key_free(k);

  /* the form itself, which state files hold */
  k = key_new(3);
  k->v[0] = (struct value){.kind = VAL_INT, .i = -5};
  k->v[1] = (struct value){.kind = VAL_UINT, .u = 7};
  key_set_text(k, 2, VAL_STRING, "ab", 2);
  buf_reset(&b);
  key_to_json(k, &b);
  is_str(b.p, "[\"i:-5\",\"u:7\",\"t:6162\"]", "the JSON form: a kind letter, then the value or its hex");
  key_free(k);

  /* a copy owns its text */
  k = key_new(1);
  key_set_text(k, 0, VAL_BYTES, "xyz", 3);
  struct key *c = key_copy(k);
  key_free(k);
  buf_reset(&b);
  key_to_json(c, &b);
  is_str(b.p, "[\"x:78797a\"]", "a copied key keeps its text when the original is freed");
  key_free(c);

  static const struct {
    const char *text, *why;
  } bad[] = {
      {"[]", "an empty array"},
      {"{\"a\":1}", "an object"},
      {"[\"q:1\"]", "an unknown kind"},
      {"[\"i:\"]", "an integer without digits"},
      {"[\"i:12x\"]", "an integer with a letter"},
      {"[\"i:99999999999999999999\"]", "an integer too large"},
      {"[\"u:-\"]", "an unsigned without digits"},
      {"[\"d:0\"]", "a double that is not 16 hex digits"},
      {"[\"t:616\"]", "text of odd hex length"},
      {"[\"x:zz\"]", "bytes that are not hex"},
      {"[\"i5\"]", "a value without its colon"},
      {"[5]", "a number instead of a string"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char name[128];
    err[0] = 0;
    struct key *x = parse_key(bad[i].text, err, sizeof err);
    snprintf(name, sizeof name, "refused: %s (%s)", bad[i].why, bad[i].text);
    ok(x == NULL && err[0], name);
    key_free(x);
  }
  err[0] = 0;
  key_free(parse_key("[\"q:1\"]", err, sizeof err));
  has(err, "a key value is not one binhook wrote", "the message says the value is not binhook's");
  err[0] = 0;
  key_free(parse_key("[]", err, sizeof err));
  has(err, "a key is not a non-empty array", "the message says what a key must be");
  buf_free(&b);
  buf_free(&b2);
}

/* The SQL literal of part j of k (column c), in b. */
static const char *literal(const struct scol *c, const struct key *k, uint32_t j, struct buf *b)
{
  buf_reset(b);
  key_add_literal(c, &k->v[j], k->arena.p, b);
  return b->p;
}

static void test_literals(void)
{
  struct key *k = key_new(6);
  key_set_text(k, 0, VAL_BYTES, "ab", 2);
  k->v[1] = (struct value){.kind = VAL_INT, .i = -5};
  key_set_text(k, 2, VAL_STRING, "2024-01-02T03:04:05.5Z", 22);
  key_set_text(k, 3, VAL_BYTES, "\x01\xff", 2);
  k->v[4] = (struct value){.kind = VAL_DOUBLE, .d = 0.5};
  key_set_text(k, 5, VAL_DECIMAL, "-12.50", 6);
  struct scol text = {.fk = FK_STRING, .charset = "latin1", .collation = "latin1_swedish_ci"};
  struct scol uuid = {.fk = FK_CASTBIN, .data_type = "uuid"};
  struct scol other = {.fk = FK_INT};
  struct buf b = BUF_INIT;
  is_str(literal(&text, k, 0, &b), "_latin1 X'6162' COLLATE latin1_swedish_ci",
         "text in its charset and collation");
  is_str(literal(&other, k, 1, &b), "-5", "a negative integer beside text in the key");
  is_str(literal(&other, k, 2, &b), "'2024-01-02 03:04:05.5'", "a temporal value in the server's text form");
  is_str(literal(&uuid, k, 3, &b), "CAST(X'01FF' AS uuid)", "MariaDB's own types from their binary form");
  is_str(literal(&other, k, 4, &b), "5.00000000000000000e-01", "a double with every digit");
  is_str(literal(&other, k, 5, &b), "-12.50", "a decimal as it is");
  key_free(k);
  buf_free(&b);
}

/* ---- the order of values ---- */

struct vals {
  struct buf arena;
  struct value v[16];
  size_t n;
};

static void add_num(struct vals *x, struct value v)
{
  x->v[x->n++] = v;
}

static void add_text(struct vals *x, uint8_t kind, const char *s)
{
  struct value v = {.kind = kind, .len = (uint32_t)strlen(s)};
  v.off = x->arena.len;
  buf_adds(&x->arena, s);
  buf_addc(&x->arena, 0);
  x->v[x->n++] = v;
}

/* Every pair of x compares as the positions of its values: x lists values
 * in the server's order, equal neighbours marked in same (same[i]: v[i]
 * equals v[i-1]). */
static void check_order(const char *what, enum fk fk, struct vals *x, const int *same)
{
  struct scol c = {.fk = fk};
  int rank[16], r = 0, good = 1;
  for (size_t i = 0; i < x->n; i++)
    rank[i] = i && same && same[i] ? r : ++r;
  for (size_t i = 0; i < x->n; i++)
    for (size_t j = 0; j < x->n; j++) {
      int want = rank[i] < rank[j] ? -1 : rank[i] > rank[j];
      int got = key_value_cmp(&c, &x->v[i], x->arena.p, &x->v[j], x->arena.p);
      if (got != want) {
        diag("%s: values %zu and %zu compare %d, not %d", what, i, j, got, want);
        good = 0;
      }
    }
  ok(good, what);
  buf_free(&x->arena);
}

static void test_value_order(void)
{
  struct vals x = {BUF_INIT, {{0}}, 0};
  add_num(&x, (struct value){.kind = VAL_NULL});
  add_num(&x, (struct value){.kind = VAL_INT, .i = INT64_MIN});
  add_num(&x, (struct value){.kind = VAL_INT, .i = -1});
  add_num(&x, (struct value){.kind = VAL_UINT, .u = 0});
  add_num(&x, (struct value){.kind = VAL_INT, .i = 1});
  add_num(&x, (struct value){.kind = VAL_INT, .i = INT64_MAX});
  add_num(&x, (struct value){.kind = VAL_UINT, .u = (uint64_t)INT64_MAX + 1});
  add_num(&x, (struct value){.kind = VAL_UINT, .u = UINT64_MAX});
  check_order("integers: NULL first, signed and unsigned together, across 2^63", FK_INT, &x, NULL);

  x = (struct vals){BUF_INIT, {{0}}, 0};
  add_num(&x, (struct value){.kind = VAL_INT, .i = 5});
  add_num(&x, (struct value){.kind = VAL_UINT, .u = 5});
  check_order("a signed and an unsigned 5 are equal", FK_INT, &x, (const int[]){0, 1});

  x = (struct vals){BUF_INIT, {{0}}, 0};
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = -INFINITY});
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = -1.5});
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = -0.0});
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = 0.0});
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = 1e-300});
  add_num(&x, (struct value){.kind = VAL_DOUBLE, .d = 2.0});
  check_order("doubles as numbers, -0 = 0", FK_DOUBLE, &x, (const int[]){0, 0, 0, 1, 0, 0});

  x = (struct vals){BUF_INIT, {{0}}, 0};
  add_num(&x, (struct value){.kind = VAL_ENUM, .u = 1});
  add_num(&x, (struct value){.kind = VAL_ENUM, .u = 2});
  add_num(&x, (struct value){.kind = VAL_ENUM, .u = 10});
  check_order("ENUM by its index", FK_ENUM, &x, NULL);

  /* text forms, in the server's order; "=" before a value: equal to the
   * one before it */
  static const struct {
    const char *what;
    enum fk fk;
    uint8_t kind;
    const char *vals[12];
  } texts[] = {
      {"decimals as numbers: signs, lengths, trailing and leading zeros, -0 = 0",
       FK_DECIMAL,
       VAL_DECIMAL,
       {"-100.5", "-3", "-2.50", "-0.00", "=0", "0.001", "1.1", "=1.10", "9.75", "010.5",
        "123456789012345678901234567890"}},
      {"TIME as a signed duration, not as text",
       FK_TIME,
       VAL_STRING,
       {"-838:59:59.000000", "-100:00:00", "-01:00:00", "00:00:00", "00:00:00.5", "09:59:59", "10:00:00",
        "99:59:59.999999", "100:00:00", "838:59:59"}},
      {"DATETIME in its text order",
       FK_DATETIME,
       VAL_STRING,
       {"2023-12-31T23:59:59", "2024-01-01T00:00:00", "2024-01-01T00:00:00.5"}},
      {"binary strings byte by byte, unsigned, a prefix first",
       FK_STRING,
       VAL_BYTES,
       {"", "a", "ab", "b", "\x7f", "\xc3\xa9"}},
  };
  for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
    int same[12] = {0};
    x = (struct vals){BUF_INIT, {{0}}, 0};
    for (size_t i = 0; i < 12 && texts[t].vals[i]; i++) {
      const char *v = texts[t].vals[i];
      same[i] = v[0] == '=';
      add_text(&x, texts[t].kind, v + same[i]);
    }
    check_order(texts[t].what, texts[t].fk, &x, same);
  }
}

/* ---- the state file ---- */

static void put(const char *dir, const char *name, const char *text)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f)) {
    diag("cannot write '%s'", path);
    exit(2);
  }
}

static const char good_state[] =
    "{\"format\":1,\"handover\":{\"file\":\"bin.000001\",\"pos\":4},\"ts\":1,\"ordinal\":10,\"done\":%s,"
    "\"tables\":[{\"schema\":\"s\",\"name\":\"t\",\"rows\":10,\"segments\":[{\"at\":{\"file\":\"bin.000001\","
    "\"pos\":4},\"upto\":%s}]}]}\n";

/* snapshot_status of dir: its return, *st and the message. */
static int status_of(const char *dir, enum snapshot_status *st, char *err, size_t errsz)
{
  err[0] = 0;
  *st = SNAPSHOT_FINISHED;
  return snapshot_status(dir, st, err, errsz);
}

static void test_state_file(void)
{
  char dir[128], err[1024], text[1024];
  enum snapshot_status st;
  snprintf(dir, sizeof dir, "%s/st", root);
  mkdir(dir, 0700);

  ok(status_of(dir, &st, err, sizeof err) == 0 && st == SNAPSHOT_NONE, "no state file: no snapshot");

  snprintf(text, sizeof text, good_state, "false", "[\"i:500\"]");
  put(dir, STATE_NAME, text);
  ok(status_of(dir, &st, err, sizeof err) == 0 && st == SNAPSHOT_UNFINISHED, "an unfinished one");
  snprintf(text, sizeof text, good_state, "true", "null");
  put(dir, STATE_NAME, text);
  ok(status_of(dir, &st, err, sizeof err) == 0 && st == SNAPSHOT_FINISHED, "a finished one");

  put(dir, STATE_NAME, "{\"format\":1,\"handover\":{\"file\":\"bin.0");
  is_int(status_of(dir, &st, err, sizeof err), -1, "a state cut short is refused");
  has(err, "st/snapshot.json is damaged (", "the message names the file");
  has(err, "at byte", "and where it is damaged");
  has(err, "remove it to take a new snapshot", "and what to do");

  put(dir, STATE_NAME, "");
  is_int(status_of(dir, &st, err, sizeof err), -1, "an empty state is refused");
  has(err, "is damaged", "as damaged");

  put(dir, STATE_NAME,
      "{\"format\":2,\"handover\":{\"file\":\"b.1\",\"pos\":4},\"ordinal\":0,\"done\":false,"
      "\"tables\":[]}");
  is_int(status_of(dir, &st, err, sizeof err), -1, "a state of another format is refused");
  has(err, "is not a snapshot state this binhook wrote: remove it to take a new snapshot", "saying so");

  put(dir, STATE_NAME, "[1, 2]");
  is_int(status_of(dir, &st, err, sizeof err), -1, "JSON that is not a state is refused");
  has(err, "is not a snapshot state this binhook wrote", "saying so");

  put(dir, STATE_NAME,
      "{\"format\":1,\"handover\":{\"file\":\"b.1\",\"pos\":4},\"ordinal\":0,\"done\":false,"
      "\"tables\":[{\"schema\":\"s\",\"segments\":[]}]}");
  is_int(status_of(dir, &st, err, sizeof err), -1, "a table without its name is refused");
  has(err, "snapshot.json: table entry 1 is damaged", "naming the entry");

  snprintf(text, sizeof text, good_state, "false", "[\"i:5x\"]");
  put(dir, STATE_NAME, text);
  is_int(status_of(dir, &st, err, sizeof err), -1, "a segment with a damaged key is refused");
  has(err, "snapshot.json: a segment of 's.t' is damaged", "naming the table");

  /* snapshot_begin reads the state before it connects: no server needed */
  struct snapshot_opts o;
  memset(&o, 0, sizeof o);
  o.state_dir = dir;
  o.conn.host = "127.0.0.1";
  o.conn.port = 1;
  o.conn.user = "nobody";
  o.quiet = 1;
  struct snapshot *s = snapshot_new(&o);
  is_int(snapshot_errc(s), BH_E_NONE, "a new snapshot has no failure code");
  err[0] = 0;
  is_int(snapshot_begin(s, err, sizeof err), -1, "snapshot_begin refuses the damaged state");
  has(err, "a segment of 's.t' is damaged", "with the same message");
  is_int(snapshot_errc(s), BH_E_OTHER, "and BH_E_OTHER as its code");
  snapshot_free(s);

  /* a damaged sent file beside a sound unfinished state */
  snprintf(text, sizeof text, good_state, "false", "[\"i:500\"]");
  put(dir, STATE_NAME, text);
  put(dir, SENT_NAME, "{\"format\":1,\"chunks\":[{\"schema\":\"s\",");
  s = snapshot_new(&o);
  err[0] = 0;
  is_int(snapshot_begin(s, err, sizeof err), -1, "a damaged sent file is refused");
  has(err, "snapshot-sent.json is damaged (", "naming the file");
  has(err, "remove it and the snapshot state to take a new snapshot", "and what to do");
  snapshot_free(s);

  put(dir, SENT_NAME, "{\"format\":1,\"chunks\":[{\"schema\":\"s\",\"name\":\"t\",\"band\":{\"at\":1}}]}");
  s = snapshot_new(&o);
  err[0] = 0;
  is_int(snapshot_begin(s, err, sizeof err), -1, "a sent chunk with a damaged band is refused");
  has(err, "snapshot-sent.json: chunk 1 is damaged", "naming the chunk");
  snapshot_free(s);

  ok(snapshot_forget(dir, err, sizeof err) == 0, "snapshot_forget removes both files");
  ok(status_of(dir, &st, err, sizeof err) == 0 && st == SNAPSHOT_NONE, "after which there is no snapshot");
}

/* A port on 127.0.0.1 that refuses connections: bound, never listening. */
static int refusing_port(int *fd)
{
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  socklen_t n = sizeof a;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) || getsockname(*fd, (struct sockaddr *)&a, &n))
    return -1;
  return ntohs(a.sin_port);
}

static void test_connect_code(void)
{
  int fd, port = refusing_port(&fd);
  if (port < 0) {
    ok(0, "a refusing port for the connect test");
    return;
  }
  struct snapshot_opts o;
  memset(&o, 0, sizeof o);
  o.conn.host = "127.0.0.1";
  o.conn.port = (unsigned)port;
  o.conn.user = "nobody";
  o.conn.connect_timeout = 5;
  o.quiet = 1;
  struct snapshot *s = snapshot_new(&o);
  char err[1024] = "";
  is_int(snapshot_begin(s, err, sizeof err), -1, "snapshot_begin fails when nothing listens");
  has(err, "cannot connect to '127.0.0.1:", "saying where it could not connect");
  is_int(snapshot_errc(s), BH_E_CONNECT, "with BH_E_CONNECT as its code");
  snapshot_free(s);
  is_int(server_has_binlog(&o.conn, "bin.000001"), -1, "server_has_binlog cannot tell without a server");
  close(fd);
}

/* ---- binlog coordinates and error codes ---- */

static void test_binlog_order(void)
{
  is_int(server_file_cmp("binlog.999999", "binlog.1000000"), -1, "binlog.999999 before binlog.1000000");
  is_int(server_file_cmp("binlog.1000000", "binlog.999999"), 1, "and the other way round");
  is_int(server_file_cmp("binlog.000010", "binlog.10"), 0, "leading zeros do not count");
  is_int(server_file_cmp("binlog.000009", "binlog.000010"), -1, "same width: by number");
  is_int(server_file_cmp("binlog.000010", "binlog.000010"), 0, "a file equals itself");
  is_int(server_file_cmp("a.000002", "b.000001"), -1, "other base names compare as text");
  is_int(server_file_cmp("my.bin.000002", "my.bin.000010"), -1, "a dot in the base name is fine");
  is_int(server_file_cmp("binlog.9x", "binlog.10x"), 1, "a non-numeric extension compares as text");
  is_int(server_file_cmp("binlog", "binlog.000001"), -1, "a name without extension as text");

  struct position p = {.file = "binlog.000010", .pos = 400};
  is_int(server_pos_cmp("binlog.000010", 400, &p), 0, "the same position");
  is_int(server_pos_cmp("binlog.000010", 399, &p), -1, "an earlier offset in the same file");
  is_int(server_pos_cmp("binlog.000010", 401, &p), 1, "a later offset in the same file");
  is_int(server_pos_cmp("binlog.000009", 99999, &p), -1, "any offset of an earlier file");
  is_int(server_pos_cmp("binlog.000011", 4, &p), 1, "any offset of a later file");
  is_int(server_pos_cmp("binlog.1000000", 4, &(struct position){.file = "binlog.999999", .pos = 9}), 1,
         "across a new width of the number");
}

static void test_errc(void)
{
  is_int(server_errc(0), BH_E_NONE, "no error: no code");
  is_int(server_errc(1045), BH_E_ACCESS, "access denied (1045) is BH_E_ACCESS");
  is_int(server_errc(1227), BH_E_ACCESS, "a missing privilege (1227) is BH_E_ACCESS");
  is_int(server_errc(1142), BH_E_ACCESS, "a refused command (1142) is BH_E_ACCESS");
  is_int(server_errc(CR_CONN_HOST_ERROR), BH_E_CONNECT, "cannot connect (2003) is BH_E_CONNECT");
  is_int(server_errc(CR_SERVER_LOST), BH_E_CONNECT, "a lost connection (2013) is BH_E_CONNECT");
  is_int(server_errc(1064), BH_E_OTHER, "a syntax error is BH_E_OTHER");
  is_int(server_errc(1412), BH_E_OTHER, "a changed table definition is BH_E_OTHER");

  enum snapshot_lock l = SNAPSHOT_LOCK_AUTO;
  ok(snapshot_parse_lock("tables", &l) == 0 && l == SNAPSHOT_LOCK_TABLES, "lock names are parsed");
  ok(snapshot_parse_lock("table", &l) == -1, "and an unknown one refused");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int main(void)
{
  snprintf(root, sizeof root, "/tmp/binhook-snapshot-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  test_key_json();
  test_literals();
  test_value_order();
  test_state_file();
  test_connect_code();
  test_binlog_order();
  test_errc();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return done_testing();
}
