/* tmpl_test.c - payload templates (tmpl.h).
 *
 * Usage: tmpl_test CASES-FILE (t/data/templates.cases, whose header describes
 * the format; t1200-unit-templates.sh passes it). Every case of the file is
 * one test, and one more for JSON templates: the output parses as JSON
 * (jansson). The rest are what a cases file cannot say: values no JSON event
 * can carry (invalid UTF-8, NUL), megabyte values, odd column names, alerts
 * (counts, threshold, sample_keys), tmpl_is_event, tmpl_load, deep nesting
 * and long chains of ~ and |.
 *
 * Each case runs in a child process, so that a case that crashes the
 * renderer fails alone while the others still run, and the child's exit runs
 * the leak checker over that one case. TMPL_TEST_NOFORK=1 runs them in this
 * process instead (for a debugger). */
#include "tap.h"
#include "casefile.h"
#include "util/buf.h"
#include "event/change.h"
#include "event/change_json.h"
#include "util/json.h"
#include "match/tmpl.h"
#include "util/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CASES_NAME "templates.cases"

/* ---- showing bytes ---- */

/* Whether s is valid UTF-8: no overlong forms, no surrogates, nothing
 * beyond U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t l = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!l || i + l > n) return 0;
    for (size_t k = 1; k < l; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (l == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))) return 0;
    if (l == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))) return 0;
    i += l;
  }
  return 1;
}

/* s as one line of text, each byte readable and the mapping one to one:
 * backslash, control characters and bytes that are not UTF-8 are escaped;
 * valid UTF-8 stays as it is. Returns b->p. */
static const char *show(struct buf *b, const char *s, size_t n)
{
  buf_reset(b);
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t l = 1;
    long cp = c >= 0x80 ? utf8_next((const unsigned char *)s + i, n - i, &l) : c;
    if (c == '\\')
      buf_addlit(b, "\\\\");
    else if (c == '\n')
      buf_addlit(b, "\\n");
    else if (c == '\r')
      buf_addlit(b, "\\r");
    else if (c == '\t')
      buf_addlit(b, "\\t");
    else if (c < 0x20 || c == 0x7f || cp < 0 || !utf8_valid((const unsigned char *)s + i, l))
      buf_printf(b, "\\x%02x", c), l = 1;
    else
      buf_add(b, s + i, l);
    i += l;
  }
  if (!b->p) buf_addlit(b, "");
  return b->p;
}

/* Whether s is valid JSON (any value), and why not in why. jansson also
 * checks that strings are valid UTF-8. Integers beyond 64 bits are read as
 * doubles: JSON's grammar has no limit, jansson's integers do. */
static int json_valid(const char *s, size_t n, char *why, size_t whysz)
{
  json_error_t je;
  json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
  if (j) {
    json_decref(j);
    return 1;
  }
  snprintf(why, whysz, "%s at byte %d", je.text, je.position);
  /* jansson's member names are C strings: it refuses "\u0000" in one, which
   * JSON allows. Such a document goes to the reader of json.h, and through a
   * strict UTF-8 check, instead. */
  if (!strstr(je.text, "NUL byte in object key")) return 0;
  struct jv v;
  size_t pos = 0;
  char what[128];
  int rc = json_parse_value(s, n, &pos, &v, what, sizeof what);
  jv_free(&v);
  if (!rc) json_skip_ws(s, n, &pos);
  return !rc && pos == n && utf8_valid((const unsigned char *)s, n);
}

/* ---- the cases file ---- */

enum want_kind { WANT_OUTPUT, WANT_ERROR, WANT_RENDER_ERROR };

/* One "key: value" of a block; continuation lines make it longer. */
struct field {
  char key[32];
  struct buf val;
  int esc; /* written key-esc: backslash escapes to decode */
  int line;
};

struct kase {
  int line; /* of its case: line */
  const char *name;
  enum tmpl_mode mode;
  const char *tmpl;
  size_t tmpl_len;
  const char *rule, *endpoint;
  int64_t now;
  enum want_kind want_kind;
  const char *want;
  size_t want_len;
};

static int hexval(char c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Decodes the escapes of a key-esc value: \\ \n \r \t \0 \xHH. Returns -1
 * on any other escape. */
static int unescape(struct buf *v)
{
  struct buf o = BUF_INIT;
  int rc = 0;
  for (size_t i = 0; i < v->len; i++) {
    char c = v->p[i];
    if (c != '\\') {
      buf_addc(&o, c);
      continue;
    }
    char e = i + 1 < v->len ? v->p[++i] : 0;
    int h1, h2;
    switch (e) {
    case '\\': buf_addc(&o, '\\'); break;
    case 'n': buf_addc(&o, '\n'); break;
    case 'r': buf_addc(&o, '\r'); break;
    case 't': buf_addc(&o, '\t'); break;
    case '0': buf_addc(&o, 0); break;
    case 'x':
      h1 = i + 1 < v->len ? hexval(v->p[i + 1]) : -1;
      h2 = i + 2 < v->len ? hexval(v->p[i + 2]) : -1;
      if (h1 < 0 || h2 < 0) {
        rc = -1;
        break;
      }
      buf_addc(&o, (char)(h1 * 16 + h2));
      i += 2;
      break;
    default: rc = -1;
    }
  }
  if (!o.p) buf_addlit(&o, "");
  buf_free(v);
  *v = o;
  return rc;
}

/* ---- running one case ---- */

struct result {
  int compiled, rc;
  char err[600];
  struct buf out;
};

struct case_run {
  const struct kase *k;
  const struct change *e;
};

static void run_template(const void *arg, struct result *r)
{
  const struct kase *k = ((const struct case_run *)arg)->k;
  const struct change *e = ((const struct case_run *)arg)->e;
  struct tmpl *t = tmpl_compile(k->mode, k->tmpl, k->tmpl_len, "template", 1, 1, r->err, sizeof r->err);
  if (!t) return;
  r->compiled = 1;
  if (k->want_kind != WANT_ERROR && e) {
    struct tmpl_ctx c = {.e = e, .rule = k->rule, .endpoint = k->endpoint, .now = k->now};
    r->rc = tmpl_render(t, &c, &r->out, r->err, sizeof r->err);
  }
  tmpl_free(t);
}

static int write_all(int fd, const void *p, size_t n)
{
  for (const char *s = p; n;) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w, n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n)
{
  for (char *s = p; n;) {
    ssize_t r = read(fd, s, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    s += r, n -= (size_t)r;
  }
  return 0;
}

/* Runs fn(arg, r) in a child process and brings r back; 0, or -1 with what
 * went wrong in why (a crash, a sanitizer report). */
static int run_isolated(void (*fn)(const void *, struct result *), const void *arg, struct result *r,
                        char *why, size_t whysz)
{
  char ebuf[128];
  memset(r, 0, sizeof *r);
  const char *nofork = getenv("TMPL_TEST_NOFORK");
  if (nofork && !strcmp(nofork, "1")) {
    fn(arg, r);
    return 0;
  }
  int fds[2];
  if (pipe(fds) < 0) {
    snprintf(why, whysz, "pipe: %s", bh_strerror(errno, ebuf, sizeof ebuf));
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, whysz, "fork: %s", bh_strerror(errno, ebuf, sizeof ebuf));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    fn(arg, r);
    size_t len = r->out.len;
    int bad = write_all(fds[1], r, sizeof *r) || write_all(fds[1], &len, sizeof len) ||
              write_all(fds[1], r->out.p ? r->out.p : "", len);
    buf_free(&r->out);
    close(fds[1]);
    exit(bad ? 3 : 0); /* exit, not _exit: the leak checker runs */
  }
  close(fds[1]);
  size_t len = 0;
  int got = !read_all(fds[0], r, sizeof *r) && !read_all(fds[0], &len, sizeof len);
  r->out = (struct buf)BUF_INIT;
  if (got) {
    char *p = xmalloc(len + 1);
    got = !read_all(fds[0], p, len);
    p[len] = 0;
    r->out = (struct buf){p, len, len + 1};
  }
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFSIGNALED(status)) {
    snprintf(why, whysz, "crashed: signal %d", WTERMSIG(status));
    return -1;
  }
  if (WEXITSTATUS(status) == 99) {
    snprintf(why, whysz, "ended with a sanitizer report (status 99, on stderr)");
    return -1;
  }
  if (WEXITSTATUS(status) || !got) {
    snprintf(why, whysz, "the child process ended with status %d", WEXITSTATUS(status));
    return -1;
  }
  return 0;
}

static void check_case(const struct kase *k, const struct change *e, const char *event_text)
{
  char name[800], why[600];
  snprintf(name, sizeof name, CASES_NAME ":%d: %s", k->line, k->name);
  struct result r = {0};
  struct buf g = BUF_INIT, w = BUF_INIT;
  if (k->want_kind != WANT_ERROR && !e) {
    ok(0, name);
    diag("no usable event for this case: %s", event_text ? event_text : "(none)");
    return;
  }
  if (run_isolated(run_template, &(struct case_run){k, e}, &r, why, sizeof why)) {
    ok(0, name);
    diag("%s", why);
    goto out;
  }
  if (k->want_kind == WANT_ERROR) {
    if (r.compiled) {
      ok(0, name);
      diag("compiled, but want the error: %s", k->want);
    } else {
      is_str(r.err, k->want, name);
    }
    goto out;
  }
  if (!r.compiled) {
    ok(0, name);
    diag("compile error: %s", r.err);
    goto out;
  }
  if (k->want_kind == WANT_RENDER_ERROR) {
    if (!r.rc) {
      ok(0, name);
      diag("rendered '%s', but want the error: %s", show(&g, r.out.p, r.out.len), k->want);
    } else if (r.out.len) {
      ok(0, name);
      diag("failed, but left '%s' in the output", show(&g, r.out.p, r.out.len));
    } else {
      is_str(r.err, k->want, name);
    }
    goto out;
  }
  if (r.rc) {
    ok(0, name);
    diag("render error: %s", r.err);
    goto out;
  }
  show(&g, r.out.p, r.out.len);
  show(&w, k->want, k->want_len);
  is_str(g.p, w.p, name);
  if (k->mode == TMPL_JSON) {
    snprintf(name, sizeof name, CASES_NAME ":%d: %s: valid JSON", k->line, k->name);
    if (!ok(json_valid(r.out.p, r.out.len, why, sizeof why), name)) diag("%s", why);
  }
out:
  buf_free(&r.out);
  buf_free(&g);
  buf_free(&w);
}

/* ---- reading the cases file ---- */

struct cases {
  struct field *f;
  size_t nf;
  struct change *event; /* the default event (a block with event: only) */
  char *event_text;
  int ncases;
};

__attribute__((format(printf, 2, 3))) static void file_error(int line, const char *fmt, ...)
{
  ok(0, "the cases file is well formed");
  printf("# " CASES_NAME ":%d: ", line);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

static struct field *get(struct cases *C, const char *key)
{
  for (size_t i = 0; i < C->nf; i++)
    if (!strcmp(C->f[i].key, key)) return &C->f[i];
  return NULL;
}

static struct change *parse_event(const struct field *f)
{
  char err[512];
  struct change *e = change_from_json(f->val.p, f->val.len, err, sizeof err);
  if (!e) file_error(f->line, "the event is not valid: %s", err);
  return e;
}

static void end_block(struct cases *C)
{
  static const char *const known[] = {"case", "mode",  "event",        "rule", "endpoint", "template",
                                      "want", "error", "render-error", "now",  NULL};
  if (!C->nf) return;
  int failed = tap_failed;
  for (size_t i = 0; i < C->nf; i++) {
    struct field *f = &C->f[i];
    int k = 0;
    while (known[k] && strcmp(known[k], f->key))
      k++;
    if (!known[k]) file_error(f->line, "unknown key '%s'", f->key);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(C->f[j].key, f->key)) file_error(f->line, "'%s' given twice", f->key);
    if (!f->val.p) buf_addlit(&f->val, "");
    if (f->esc && unescape(&f->val)) file_error(f->line, "invalid escape in '%s-esc'", f->key);
  }
  if (tap_failed != failed) goto out; /* a block that is not understood is not run */
  struct field *c = get(C, "case"), *ev = get(C, "event");
  if (!c) {
    if (!ev || C->nf > 1) {
      file_error(C->f[0].line, "a block without case: sets the event only, not '%s'", C->f[C->nf > 1].key);
    } else {
      change_free(C->event);
      free(C->event_text);
      C->event_text = xstrdup(ev->val.p);
      C->event = parse_event(ev);
    }
    goto out;
  }
  struct kase k = {.line = c->line, .name = c->val.p};
  struct field *mode = get(C, "mode"), *tmpl = get(C, "template"), *want = get(C, "want"),
               *error = get(C, "error"), *rerror = get(C, "render-error"), *rule = get(C, "rule"),
               *endpoint = get(C, "endpoint"), *now = get(C, "now");
  static const char *const modes[] = {
      [TMPL_JSON] = "json", [TMPL_TEXT] = "text", [TMPL_URL] = "url", [TMPL_HEADER] = "header"};
  int m = -1;
  for (int i = 0; mode && i < 4; i++)
    if (!strcmp(mode->val.p, modes[i])) m = i;
  if (m < 0) {
    file_error(c->line, "the case needs a mode: json, text, url or header");
    goto out;
  }
  if (!tmpl) {
    file_error(c->line, "the case needs a template:");
    goto out;
  }
  if (!!want + !!error + !!rerror != 1) {
    file_error(c->line, "the case needs one of want:, error: and render-error:");
    goto out;
  }
  struct field *w = want ? want : error ? error : rerror;
  k.mode = (enum tmpl_mode)m;
  k.tmpl = tmpl->val.p;
  k.tmpl_len = tmpl->val.len;
  k.want_kind = want ? WANT_OUTPUT : error ? WANT_ERROR : WANT_RENDER_ERROR;
  k.want = w->val.p;
  k.want_len = w->val.len;
  k.rule = rule ? rule->val.p : NULL;
  k.endpoint = endpoint ? endpoint->val.p : NULL;
  if (now) {
    char *end;
    errno = 0;
    long long v = strtoll(now->val.p, &end, 10);
    if (errno || end == now->val.p || *end || v <= 0) {
      file_error(now->line, "now: takes seconds since the epoch, a whole number above 0");
      goto out;
    }
    k.now = v;
  }
  if (ev) {
    struct change *e = parse_event(ev);
    if (e) check_case(&k, e, ev->val.p);
    change_free(e);
  } else {
    check_case(&k, C->event, C->event_text);
  }
  C->ncases++;
out:
  for (size_t i = 0; i < C->nf; i++)
    buf_free(&C->f[i].val);
  C->nf = 0;
}

static void run_cases(const char *path)
{
  size_t len;
  char *text = casefile_read(path, &len);
  if (!text) {
    ok(0, "the cases file can be read");
    diag("cannot open '%s'", path);
    return;
  }
  struct cases C = {0};
  int lineno = 0;
  for (size_t p = 0; p < len;) {
    const char *line = text + p;
    const char *nl = memchr(line, '\n', len - p);
    size_t n = nl ? (size_t)(nl - line) : len - p;
    p += n + (nl ? 1 : 0);
    lineno++;
    if (n && line[0] == '#') continue;
    if (strspn(line, " \t") >= n) {
      end_block(&C);
      continue;
    }
    if (line[0] == '|') {
      if (!C.nf) {
        file_error(lineno, "a continuation line ('|') with nothing to continue");
        continue;
      }
      struct field *f = &C.f[C.nf - 1];
      buf_addc(&f->val, '\n');
      buf_add(&f->val, line + 1, n - 1);
      continue;
    }
    size_t kl = strspn(line, "abcdefghijklmnopqrstuvwxyz-");
    if (kl >= n || line[kl] != ':' || kl == 0 || kl >= sizeof C.f->key) {
      struct buf b = BUF_INIT;
      file_error(lineno, "not a 'key: value' line: %s", show(&b, line, n));
      buf_free(&b);
      continue;
    }
    C.f = xrealloc(C.f, (C.nf + 1) * sizeof *C.f);
    struct field *f = &C.f[C.nf++];
    memset(f, 0, sizeof *f);
    f->line = lineno;
    memcpy(f->key, line, kl);
    if (kl > 4 && !memcmp(f->key + kl - 4, "-esc", 4)) {
      f->esc = 1;
      f->key[kl - 4] = 0;
    }
    size_t v = kl + 1;
    if (v < n && line[v] == ' ') v++;
    buf_add(&f->val, line + v, n - v);
  }
  end_block(&C);
  ok(C.ncases >= 120, "the cases file holds at least 120 cases");
  diag("%d cases", C.ncases);
  free(C.f);
  change_free(C.event);
  free(C.event_text);
  free(text);
}

/* ---- values no JSON event can carry ---- */

static struct tmpl *compile(enum tmpl_mode mode, const char *text)
{
  char err[512];
  struct tmpl *t = tmpl_compile(mode, text, strlen(text), "t", 1, 1, err, sizeof err);
  if (!t) diag("cannot compile '%s': %s", text, err);
  return t;
}

/* Renders text (mode) for e into a new string (the caller frees it); NULL
 * with err when rendering fails. */
static char *render(enum tmpl_mode mode, const char *text, const struct change *e, size_t *len, char *err,
                    size_t errsz)
{
  struct tmpl *t = compile(mode, text);
  if (!t) {
    snprintf(err, errsz, "does not compile");
    return NULL;
  }
  struct tmpl_ctx c = {.e = e, .rule = "r", .endpoint = "ep"};
  struct buf b = BUF_INIT;
  int rc = tmpl_render(t, &c, &b, err, errsz);
  tmpl_free(t);
  if (rc) {
    buf_free(&b);
    return NULL;
  }
  if (!b.p) buf_addlit(&b, "");
  *len = b.len;
  return buf_steal(&b);
}

static int col_index(const struct change *e, const char *name)
{
  for (uint32_t i = 0; i < e->table->ncols; i++)
    if (!strcmp(e->table->cols[i].name, name)) return (int)i;
  return -1;
}

static void set_string(struct change *e, struct value *v, const char *s, size_t n)
{
  v->kind = VAL_STRING;
  v->off = e->arena.len;
  v->len = (uint32_t)n;
  buf_add(&e->arena, s, n);
  buf_addc(&e->arena, 0);
}

static int is_unreserved(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* Decodes the percent-encoded s into out; -1 when s holds anything but
 * unreserved characters and %XX (upper-case hex). */
static int url_decode(const char *s, size_t n, struct buf *out)
{
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
      buf_addc(out, (char)c);
      continue;
    }
    if (c != '%' || i + 2 >= n) return -1;
    const char *h1 = memchr(hex, s[i + 1], 16), *h2 = memchr(hex, s[i + 2], 16);
    if (!h1 || !h2) return -1;
    buf_addc(out, (char)((h1 - hex) * 16 + (h2 - hex)));
    i += 2;
  }
  return 0;
}

struct adversary {
  const char *name;
  const char *s;
  size_t n;
  int utf8; /* valid UTF-8: a JSON string must give back exactly these bytes */
};

/* clang-format off */
#define ADV(name, lit, utf8) {name, lit, sizeof(lit) - 1, utf8}
/* clang-format on */

static const struct adversary adversaries[] = {
    ADV("empty", "", 1),
    ADV("quotes and backslashes", "\"'\\\"\\\\u0000\\", 1),
    ADV("control characters", "\x01\x02\x08\x0b\x0c\x1b\x1f\x7f", 1),
    ADV("a tab", "a\tb", 1),
    ADV("a CR", "a\rb", 1),
    ADV("an LF", "a\nb", 1),
    ADV("a CRLF header injection", "x\r\nX-Evil: 1", 1),
    ADV("an LF at the end", "token\n", 1),
    ADV("a NUL", "a\0b", 1),
    ADV("a lone 0xff", "\xff", 0),
    ADV("invalid bytes", "a\xfe\xff\x62", 0),
    ADV("a truncated sequence", "caf\xc3", 0),
    ADV("a lone continuation byte", "\x80\x61\x62\x63", 0),
    ADV("an overlong slash", "\xc0\xaf", 0),
    ADV("an encoded surrogate", "\xed\xa0\x80", 0),
    ADV("beyond U+10FFFF", "\xf4\x90\x80\x80", 0),
    ADV("close-open braces", "}{", 1),
    ADV("an opening placeholder", "{{", 1),
    ADV("a closing placeholder", "}}", 1),
    ADV("a placeholder", "{{ event }}", 1),
    ADV("a placeholder of itself", "{{ after.v }}", 1),
    ADV("a JSON injection", "\",\"admin\":true,\"x\":\"", 1),
    ADV("a JSON object", "{\"a\":1}", 1),
    ADV("a path and query injection", "../../admin?x=1&y=2#frag", 1),
    ADV("percent signs", "%2F%00%", 1),
    ADV("spaces and plus", "a b+c", 1),
    ADV("non-ASCII", "\xc3\x89mile \xe2\x82\xac \xf0\x9f\x98\x80", 1),
    ADV("a number", "-12.5e3", 1),
};

/* A value of about 1 MB: every character the modes care about, many times. */
static char *megabyte(size_t *n, int with_lf)
{
  static const char unit[] = "ab\"\\{{}}%/?#&\xc3\xa9\x01 ";
  struct buf b = BUF_INIT;
  while (b.len < (1u << 20))
    buf_addlit(&b, unit);
  if (with_lf) buf_addlit(&b, "\r\nX-Evil: 1");
  *n = b.len;
  return buf_steal(&b);
}

static int has_break(const char *s, size_t n)
{
  return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, 0, n);
}

/* A JSON member of obj as the bytes of its string, or NULL. */
static int json_member_is(json_t *obj, const char *key, const char *pre, const char *s, size_t n,
                          const char *post)
{
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v)) return 0;
  size_t lp = strlen(pre), lq = strlen(post);
  return json_string_length(v) == lp + n + lq && !memcmp(json_string_value(v), pre, lp) &&
         !memcmp(json_string_value(v) + lp, s, n) && !memcmp(json_string_value(v) + lp + n, post, lq);
}

static void test_value(struct change *e, int vcol, const char *label, const char *s, size_t n, int utf8)
{
  char name[300], err[512], why[300];
  size_t len;
  set_string(e, &e->after[vcol], s, n);

  /* TEXT: the bytes, as they are, by both ways of rendering. */
  char *out = render(TMPL_TEXT, "{{ after.v }}", e, &len, err, sizeof err);
  snprintf(name, sizeof name, "%s: text gives the bytes back", label);
  ok(out && len == n && !memcmp(out, s, n), name);
  free(out);
  out = render(TMPL_TEXT, "{{ after.v | default('') }}", e, &len, err, sizeof err);
  snprintf(name, sizeof name, "%s: text through a filter gives the bytes back", label);
  ok(out && len == n && !memcmp(out, s, n), name);
  free(out);

  /* JSON: always parses; a valid UTF-8 value comes back whole. */
  static const char doc[] =
      "{\"v\": \"{{ after.v }}\", \"s\": \"<{{ after.v }}>\", \"c\": \"{{ '{{' ~ after.v ~ '}}' }}\","
      " \"j\": \"{{ after.v | json }}\", \"u\": \"{{ after.v | upper }}\", \"l\": \"{{ after.v | lower }}\","
      " \"t\": \"{{ after.v | truncate(3, '}}') }}\", \"e\": \"{{ event }}\", \"te\": \"={{ event }}\","
      " \"a\": \"{{ after }}\", \"r\": \"{{ row | pick(['v']) }}\", \"ch\": \"{{ changes }}\","
      " \"cj\": \"{{ changes | join('\\n') }}\", \"b\": \"{{ after.v | base64 }}\","
      " \"k\": \"{{ after | keys }}\", \"n\": \"{{ after.v | number }}\", \"i\": \"{{ after.v | iso8601 }}\","
      " \"x\": \"{{ after.v | sha256 }}\", \"w\": [\"{{ after.v }}\", \"{{ after.v | join }}\"]}";
  out = render(TMPL_JSON, doc, e, &len, err, sizeof err);
  snprintf(name, sizeof name, "%s: a JSON template gives valid JSON", label);
  if (!ok(out && json_valid(out, len, why, sizeof why), name)) diag("%s", out ? why : err);
  if (out && utf8) {
    json_error_t je;
    json_t *j = json_loadb(out, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
    snprintf(name, sizeof name, "%s: the JSON strings hold the value", label);
    ok(j && json_member_is(j, "v", "", s, n, "") && json_member_is(j, "s", "<", s, n, ">") &&
           json_member_is(j, "c", "{{", s, n, "}}"),
       name);
    json_decref(j);
  }
  free(out);
  out = render(TMPL_JSON, "{\"{{ after.v }}\": 1}", e, &len, err, sizeof err);
  snprintf(name, sizeof name, "%s: a JSON member name gives valid JSON", label);
  if (!ok(out && json_valid(out, len, why, sizeof why), name)) diag("%s", out ? why : err);
  if (out && utf8 && memchr(s, 0, n)) {
    /* jansson cannot read such a name back */
    snprintf(name, sizeof name, "%s: the member name keeps the NUL as \\u0000", label);
    ok(memmem(out, len, "\\u0000", 6) != NULL, name);
  } else if (out && utf8) {
    json_error_t je;
    json_t *j = json_loadb(out, len, JSON_ALLOW_NUL, &je);
    const char *key = NULL;
    json_t *v = NULL;
    if (j && json_object_size(j) == 1) {
      void *it = json_object_iter(j);
      key = json_object_iter_key(it);
      v = json_object_iter_value(it);
    }
    snprintf(name, sizeof name, "%s: the member name is the value", label);
    ok(key && strlen(key) == n && !memcmp(key, s, n) && json_integer_value(v) == 1, name);
    json_decref(j);
  }
  free(out);

  /* URL: the placeholder's part is unreserved characters and %XX only, and
   * decodes to the value. */
  static const char *const urls[] = {
      "{{ after.v }}", "{{ 'x' ~ after.v }}", "{{ after.v | upper }}", "{{ after }}",
      "{{ event }}",   "{{ changes }}",       "{{ after.v | json }}",  "{{ row | pick(['v']) }}",
  };
  for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
    char tmpl[200];
    snprintf(tmpl, sizeof tmpl, "https://h.example/p/%s?q=1", urls[i]);
    out = render(TMPL_URL, tmpl, e, &len, err, sizeof err);
    snprintf(name, sizeof name, "%s: URL %s is percent-encoded", label, urls[i]);
    struct buf dec = BUF_INIT;
    buf_addlit(&dec, ""); /* never NULL, even for an empty value */
    size_t pre = strlen("https://h.example/p/"), post = strlen("?q=1");
    int good = out && len >= pre + post && !memcmp(out, "https://h.example/p/", pre) &&
               !memcmp(out + len - post, "?q=1", post) && !url_decode(out + pre, len - pre - post, &dec);
    if (!ok(good, name)) diag("%s", out ? out : err);
    if (good && i < 2) {
      snprintf(name, sizeof name, "%s: URL %s decodes to the value", label, urls[i]);
      size_t skip = i == 1;
      ok(dec.len == n + skip && (!skip || dec.p[0] == 'x') && !memcmp(dec.p + skip, s, n), name);
    }
    buf_free(&dec);
    free(out);
  }

  /* HEADER: fails on CR, LF or NUL, leaving the output as it was;
   * otherwise the bytes. */
  struct tmpl *t = compile(TMPL_HEADER, "Bearer {{ after.v }}");
  if (t) {
    struct tmpl_ctx c = {.e = e};
    struct buf b = BUF_INIT;
    buf_addlit(&b, "before|");
    int rc = tmpl_render(t, &c, &b, err, sizeof err);
    if (has_break(s, n)) {
      snprintf(name, sizeof name, "%s: a header value fails", label);
      ok(rc == -1 && !strcmp(err, "the header value would contain a line break (a value holds CR, LF or NUL)"),
         name);
      snprintf(name, sizeof name, "%s: the failed header leaves the output as it was", label);
      ok(b.len == 7 && !strcmp(b.p, "before|"), name);
    } else {
      snprintf(name, sizeof name, "%s: a header value is the bytes", label);
      ok(rc == 0 && b.len == 14 + n && !memcmp(b.p, "before|Bearer ", 14) && !memcmp(b.p + 14, s, n), name);
    }
    buf_free(&b);
    tmpl_free(t);
  }
  /* Filters that escape make any value a safe header. */
  out = render(TMPL_HEADER, "{{ after.v | json }} {{ after.v | base64 }} {{ after.v | sha256 }}", e, &len,
               err, sizeof err);
  snprintf(name, sizeof name, "%s: a header of json, base64 and sha256 renders", label);
  if (!ok(out && !has_break(out, len), name)) diag("%s", out ? out : err);
  free(out);
}

static void test_adversaries(void)
{
  char err[512];
  static const char json[] =
      "{\"type\":\"update\",\"schema\":\"shop\",\"table\":\"orders\",\"ts\":\"2024-01-02T03:04:05Z\","
      "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-9876\"},\"tx\":{\"index\":3},"
      "\"key\":{\"id\":42},\"before\":{\"id\":42,\"v\":\"old\"},\"after\":{\"id\":42,\"v\":\"new\"}}";
  struct change *e = change_from_json(json, strlen(json), err, sizeof err);
  if (!ok(e, "the event of the adversarial values")) {
    diag("%s", err);
    return;
  }
  int v = col_index(e, "v");
  for (size_t i = 0; i < sizeof adversaries / sizeof *adversaries; i++) {
    char label[100];
    snprintf(label, sizeof label, "adversarial value (%s)", adversaries[i].name);
    test_value(e, v, label, adversaries[i].s, adversaries[i].n, adversaries[i].utf8);
  }
  size_t n;
  char *big = megabyte(&n, 0);
  test_value(e, v, "a 1 MB value", big, n, 0);
  free(big);
  big = megabyte(&n, 1);
  test_value(e, v, "a 1 MB value ending in CRLF", big, n, 0);
  free(big);
  change_free(e);
}

/* Column names are data too: invalid UTF-8 and line breaks in one. */
static void test_column_names(void)
{
  char err[512], why[300];
  static const char json[] = "{\"type\":\"update\",\"schema\":\"s\",\"table\":\"t\",\"key\":{\"id\":1},"
                             "\"before\":{\"id\":1,\"n\":\"a\"},\"after\":{\"id\":1,\"n\":\"b\"}}";
  struct change *e = change_from_json(json, strlen(json), err, sizeof err);
  if (!ok(e, "the event of the odd column name")) {
    diag("%s", err);
    return;
  }
  int c = col_index(e, "n");
  free(e->table->cols[c].name);
  e->table->cols[c].name = xstrdup("bad\xff\r\nname\"}}");
  static const char *const docs[] = {
      "\"{{ event }}\"",
      "\"{{ after }}\"",
      "\"{{ changes }}\"",
      "\"{{ changed }}\"",
      "\"{{ after | keys }}\"",
      "{\"{{ changed.0 }}\": \"{{ changes.0 }}\", \"k\": \"{{ after | keys | join }}\"}"};
  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
    size_t len;
    char *out = render(TMPL_JSON, docs[i], e, &len, err, sizeof err);
    char name[200];
    snprintf(name, sizeof name, "a column name of invalid UTF-8 and CRLF: %s is valid JSON", docs[i]);
    if (!ok(out && json_valid(out, len, why, sizeof why), name)) diag("%s", out ? why : err);
    free(out);
  }
  size_t len;
  char *out = render(TMPL_HEADER, "{{ changes }}", e, &len, err, sizeof err);
  ok(out, "a header of the changes list (JSON text) renders");
  free(out);
  out = render(TMPL_HEADER, "{{ changes | join }}", e, &len, err, sizeof err);
  ok(!out, "a header of the changes joined as text fails: the name holds CRLF");
  is_str(err, "the header value would contain a line break (a value holds CR, LF or NUL)", "  with the message");
  free(out);
  out = render(TMPL_URL, "https://h.example/{{ changed | join }}", e, &len, err, sizeof err);
  is_str(out, "https://h.example/bad%EF%BF%BD%0D%0Aname%22%7D%7D",
         "a URL of the column name is percent-encoded");
  free(out);
  change_free(e);
}

/* ---- alerts (threshold rules) ---- */

static void test_alert(void)
{
  char err[512];
  static const char json[] =
      "{\"type\":\"delete\",\"schema\":\"shop\",\"table\":\"orders\",\"ts\":\"2024-01-02T03:04:05Z\","
      "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-5\"},\"key\":{\"id\":1},"
      "\"before\":{\"id\":1}}";
  struct change *src = change_from_json(json, strlen(json), err, sizeof err);
  if (!ok(src, "the event an alert is made from")) {
    diag("%s", err);
    return;
  }
  struct change *e = change_new(EVENT_ALERT, src->table);
  e->ts = src->ts;
  e->position = src->position;
  e->alert = xcalloc(1, sizeof *e->alert);
  e->alert->rule = xstrdup("mass-delete");
  e->alert->threshold = 100;
  e->alert->inserts = 0;
  e->alert->updates = 1;
  e->alert->deletes = 250;
  e->alert->sample_keys = xstrdup("[{\"id\":1},{\"id\":2}]");
  change_free(src);

  static const struct {
    enum tmpl_mode mode;
    const char *tmpl, *want;
  } cases[] = {
      {TMPL_JSON,
       "{\"rule\": \"{{ rule }}\", \"counts\": \"{{ counts }}\", \"threshold\": \"{{ threshold }}\","
       " \"keys\": \"{{ sample_keys }}\", \"first\": \"{{ sample_keys.0.id }}\", \"d\": \"{{ counts.delete "
       "}}\","
       " \"id\": \"{{ id }}\", \"type\": \"{{ type }}\", \"table\": \"{{ schema }}.{{ table }}\","
       " \"after\": \"{{ after }}\", \"key\": \"{{ key }}\", \"changed\": \"{{ changed }}\"}",
       "{\"rule\":\"r\",\"counts\":{\"insert\":0,\"update\":1,\"delete\":250},\"threshold\":100,"
       "\"keys\":[{\"id\":1},{\"id\":2}],\"first\":1,\"d\":250,\"id\":\"0-1-5/alert/mass-delete/"
       "shop.orders\","
       "\"type\":\"alert\",\"table\":\"shop.orders\",\"after\":null,\"key\":null,\"changed\":null}"},
      {TMPL_JSON, "\"{{ event }}\"",
       "{\"id\":\"0-1-5/alert/mass-delete/shop.orders\",\"type\":\"alert\",\"schema\":\"shop\","
       "\"table\":\"orders\",\"ts\":\"2024-01-02T03:04:05Z\",\"position\":{\"file\":\"binlog.000042\","
       "\"pos\":1234,\"gtid\":\"0-1-5\"},\"tx\":{\"index\":0},\"rule\":\"mass-delete\",\"threshold\":100,"
       "\"counts\":{\"insert\":0,\"update\":1,\"delete\":250},\"sample_keys\":[{\"id\":1},{\"id\":2}]}"},
      {TMPL_TEXT, "{{ counts.delete }} deletes (threshold {{ threshold }}): {{ sample_keys | join(' ') }}",
       "250 deletes (threshold 100): {\"id\":1} {\"id\":2}"},
      {TMPL_TEXT, "{{ counts | keys | join }} {{ sample_keys.1 }} [{{ sample_keys.2 }}]",
       "insert,update,delete {\"id\":2} []"},
      {TMPL_URL, "https://h.example/{{ counts }}",
       "https://h.example/%7B%22insert%22%3A0%2C%22update%22%3A1%2C%22delete%22%3A250%7D"},
      {TMPL_JSON, "\"{{ threshold | iso8601 }}\"", "\"1970-01-01T00:01:40Z\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct tmpl *t = compile(cases[i].mode, cases[i].tmpl);
    if (!t) {
      ok(0, cases[i].tmpl);
      continue;
    }
    struct tmpl_ctx c = {.e = e, .rule = "r"};
    struct buf b = BUF_INIT;
    char name[300];
    snprintf(name, sizeof name, "an alert: %s", cases[i].tmpl);
    if (tmpl_render(t, &c, &b, err, sizeof err)) {
      ok(0, name);
      diag("%s", err);
    } else {
      is_str(b.p, cases[i].want, name);
    }
    buf_free(&b);
    tmpl_free(t);
  }
  change_free(e);
}

/* ---- the rest of the interface ---- */

static void test_interface(void)
{
  static const struct {
    enum tmpl_mode mode;
    const char *text;
    int is_event;
  } ev[] = {
      {TMPL_JSON, "\"{{ event }}\"", 1},    {TMPL_JSON, " \n\"{{event}}\"\n", 1},
      {TMPL_JSON, "\" {{ event }}\"", 0},   {TMPL_JSON, "\"{{ event | json }}\"", 0},
      {TMPL_JSON, "\"{{ event.id }}\"", 0}, {TMPL_JSON, "[\"{{ event }}\"]", 0},
      {TMPL_TEXT, "{{ event }}", 0},
  };
  for (size_t i = 0; i < sizeof ev / sizeof *ev; i++) {
    struct tmpl *t = compile(ev[i].mode, ev[i].text);
    char name[200];
    snprintf(name, sizeof name, "tmpl_is_event (%s) %s", ev[i].mode == TMPL_JSON ? "json" : "text",
             ev[i].text);
    if (t)
      is_int(tmpl_is_event(t), ev[i].is_event, name);
    else
      ok(0, name);
    tmpl_free(t);
  }
  tmpl_free(NULL);

  /* Rendering appends, and a template renders any number of times. */
  char err[512];
  static const char json[] = "{\"type\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"after\":{\"id\":1}}";
  struct change *e = change_from_json(json, strlen(json), err, sizeof err);
  struct tmpl *t = compile(TMPL_TEXT, "[{{ after.id }} {{ table | upper }}]");
  if (e && t) {
    struct tmpl_ctx c = {.e = e};
    struct buf b = BUF_INIT;
    buf_addlit(&b, ">");
    for (int i = 0; i < 3; i++)
      tmpl_render(t, &c, &b, err, sizeof err);
    is_str(b.p, ">[1 T][1 T][1 T]", "tmpl_render appends, again and again");
    buf_free(&b);
  }
  tmpl_free(t);

  /* now: the clock when the context leaves it 0, else what it says. */
  t = compile(TMPL_TEXT, "{{ now }}");
  if (e && t) {
    struct tmpl_ctx c = {.e = e};
    struct buf b = BUF_INIT;
    long long before = (long long)time(NULL);
    tmpl_render(t, &c, &b, err, sizeof err);
    long long after = (long long)time(NULL), got = b.p ? strtoll(b.p, NULL, 10) : 0;
    ok(got >= before && got <= after, "now without a time in the context is the clock");
    buf_reset(&b);
    c.now = 4102444800; /* 2100-01-01, beyond 32 bits */
    tmpl_render(t, &c, &b, err, sizeof err);
    is_str(b.p, "4102444800", "now is the context's time when it gives one");
    buf_free(&b);
  }
  tmpl_free(t);
  change_free(e);

  ok(!tmpl_compile(TMPL_TEXT, "{{ x }}", 7, "f", 1, 1, NULL, 0), "no error buffer: still NULL");
  ok(!tmpl_compile(TMPL_TEXT, "{{ x }}", 7, NULL, 3, 5, err, sizeof err), "no file name");
  is_str(err, "template:3:8: unknown value 'x'; did you mean 'tx'?",
         "  is called 'template', at the position given");
  ok(!tmpl_compile(TMPL_TEXT, "ab\n {{ x }}", 11, "f.txt", 4, 10, err, sizeof err),
     "a template that starts mid-file");
  is_str(err, "f.txt:5:5: unknown value 'x'; did you mean 'tx'?",
         "  counts lines and columns from its start");
  /* Only len bytes are the template. */
  t = tmpl_compile(TMPL_TEXT, "abc{{ nope }}", 3, "f", 1, 1, err, sizeof err);
  ok(t, "only len bytes are compiled");
  tmpl_free(t);

  ok(!tmpl_load(TMPL_JSON, "/nonexistent/tmpl_test.json", err, sizeof err), "tmpl_load: a missing file");
  is_str(err, "cannot open template '/nonexistent/tmpl_test.json': No such file or directory", "  says so");
  FILE *f = fopen("tmpl_test.json", "w");
  if (f) {
    fputs("{\n  \"a\": \"{{ after.id }}\",\n  \"b\": \"{{ aftr.id }}\"\n}\n", f);
    fclose(f);
    ok(!tmpl_load(TMPL_JSON, "tmpl_test.json", err, sizeof err), "tmpl_load: a file with an error");
    is_str(err, "tmpl_test.json:3:12: unknown value 'aftr'; did you mean 'after'?",
           "  names the file, line and column");
    f = fopen("tmpl_test.json", "w");
    fputs("{\"a\": \"{{ after.id }}\"}\n", f);
    fclose(f);
    t = tmpl_load(TMPL_JSON, "tmpl_test.json", err, sizeof err);
    ok(t, "tmpl_load: a good file");
    tmpl_free(t);
    remove("tmpl_test.json");
  }
}

/* A template of n times unit between head and tail, compiled and rendered
 * (in a child process: the point is that it does not crash). */
struct chain {
  const char *head, *unit, *tail;
  int n;
  size_t want_len; /* of the rendering */
};

static void run_chain(const void *arg, struct result *r)
{
  const struct chain *ch = arg;
  struct buf b = BUF_INIT;
  buf_adds(&b, ch->head);
  for (int i = 0; i < ch->n; i++)
    buf_adds(&b, ch->unit);
  buf_adds(&b, ch->tail);
  struct tmpl *t = tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, r->err, sizeof r->err);
  buf_free(&b);
  if (!t) return;
  r->compiled = 1;
  struct change *e = change_new(EVENT_INSERT, NULL);
  struct tmpl_ctx c = {.e = e};
  r->rc = tmpl_render(t, &c, &r->out, r->err, sizeof r->err);
  tmpl_free(t);
  change_free(e);
}

/* Long chains of ~ and | make trees as deep as they are long: a template
 * within tmpl_load's 4 MiB must be refused or rendered, never overflow the
 * stack. */
static void test_long_chains(void)
{
  static const struct chain chains[] = {
      {"{{ 'x'", "~'y'", " }}", 200000, 200001},
      {"{{ 'x'", "|upper", " }}", 200000, 1},
      {"{{ 'x'", "|default(1)", " }}", 200000, 1},
  };
  for (size_t i = 0; i < sizeof chains / sizeof *chains; i++) {
    char name[200], why[300];
    struct result r;
    snprintf(name, sizeof name, "a chain of %d '%s': an error or a rendering, not a crash", chains[i].n,
             chains[i].unit);
    if (run_isolated(run_chain, &chains[i], &r, why, sizeof why)) {
      ok(0, name);
      diag("%s", why);
    } else if (r.compiled && (r.rc || r.out.len != chains[i].want_len)) {
      ok(0, name);
      diag("rendered %zu bytes (%s), want %zu", r.out.len, r.rc ? r.err : "no error", chains[i].want_len);
    } else {
      ok(1, name);
      if (!r.compiled) diag("%s", r.err);
    }
    buf_free(&r.out);
  }
}

static void test_deep(void)
{
  char err[512];
  struct buf b = BUF_INIT;
  buf_addlit(&b, "{{ ");
  for (int i = 0; i < 5000; i++)
    buf_addc(&b, '(');
  buf_addlit(&b, "1 }}");
  ok(!tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, err, sizeof err),
     "deeply nested parentheses do not compile");
  is_str(err, "t:1:105: expression nested too deeply", "  and say why");
  buf_reset(&b);
  buf_addlit(&b, "{{ ");
  for (int i = 0; i < 5000; i++)
    buf_addc(&b, '[');
  ok(!tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, err, sizeof err), "deeply nested lists do not compile");
  buf_reset(&b);
  for (int i = 0; i < 5000; i++)
    buf_addc(&b, '[');
  ok(!tmpl_compile(TMPL_JSON, b.p, b.len, "t", 1, 1, err, sizeof err),
     "a deeply nested JSON template does not compile");
  /* c ? a : b nests to the right: a long chain is a deep one. */
  buf_reset(&b);
  buf_addlit(&b, "{{ ");
  for (int i = 0; i < 5000; i++)
    buf_addlit(&b, "0 ? 1 : ");
  buf_addlit(&b, "2 }}");
  ok(!tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, err, sizeof err), "a long chain of ? : does not compile");
  is_str(err, "t:1:808: expression nested too deeply", "  and says why");
  buf_reset(&b);
  buf_addlit(&b, "{{ ");
  for (int i = 0; i < 90; i++)
    buf_addlit(&b, "0 ? 1 : ");
  buf_addlit(&b, "2 }}");
  struct tmpl *tc = tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, err, sizeof err);
  ok(tc, "90 of ? : compile");
  if (tc) {
    struct change *ec = change_new(EVENT_INSERT, NULL);
    struct tmpl_ctx c = {.e = ec};
    struct buf o = BUF_INIT;
    tmpl_render(tc, &c, &o, err, sizeof err);
    is_str(o.p, "2", "  and render the last branch");
    buf_free(&o);
    change_free(ec);
  }
  tmpl_free(tc);
  /* Nesting within the limit works, and so do long flat chains. */
  buf_reset(&b);
  buf_addlit(&b, "{{ (");
  for (int i = 0; i < 50; i++)
    buf_addc(&b, '(');
  buf_addlit(&b, "'x'");
  for (int i = 0; i < 50; i++)
    buf_addc(&b, ')');
  for (int i = 0; i < 49; i++)
    buf_addlit(&b, " ~ 'y' | upper");
  buf_addlit(&b, ") | truncate(5) }}");
  struct tmpl *t = tmpl_compile(TMPL_TEXT, b.p, b.len, "t", 1, 1, err, sizeof err);
  ok(t, "50 parentheses and 99 links (~ and |) compile");
  struct change *e = change_new(EVENT_INSERT, NULL);
  if (t) {
    struct tmpl_ctx c = {.e = e};
    struct buf o = BUF_INIT;
    tmpl_render(t, &c, &o, err, sizeof err);
    is_str(o.p, "xYYYY", "  and render");
    buf_free(&o);
  }
  tmpl_free(t);
  change_free(e);
  buf_free(&b);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    run_cases(argv[1]);
  else {
    ok(0, "the cases file is given");
    diag("usage: tmpl_test t/data/templates.cases");
  }
  test_adversaries();
  test_column_names();
  test_alert();
  test_interface();
  test_deep();
  test_long_chains();
  return done_testing();
}
