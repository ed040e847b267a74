/* admin.c - the admin HTTP server (see admin.h) and its client. */
#include "admin/admin.h"
#include "admin/console.h"
#include "admin/httpd.h"

#include "store/retryq.h"
#include "util/util.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct admin {
  struct httpd *http;
  char *token;
  struct admin_ops ops;
  char host[256]; /* of listen, without brackets */
  unsigned port;
  int loopback, wildcard;
  char **hosts; /* [admin] hosts: more names the Host header may give */
};

/* Splits "HOST:PORT" or "[V6]:PORT"; host without brackets. */
static int split_listen(const char *listen, char *host, size_t hostsz, unsigned *port)
{
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen) return -1;
  const char *h = listen;
  size_t n = (size_t)(colon - listen);
  if (h[0] == '[') {
    if (n < 2 || h[n - 1] != ']') return -1;
    h++;
    n -= 2;
  }
  if (n == 0 || n >= hostsz) return -1;
  memcpy(host, h, n);
  host[n] = 0;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p < 1 || p > 65535) return -1;
  *port = (unsigned)p;
  return 0;
}

int admin_is_loopback(const char *host)
{
  if (!strcmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]")) return 1;
  struct in_addr a;
  return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int admin_parse_time(const char *s, int64_t *out)
{
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (end && (!*end || !strcmp(end, "Z"))) {
    *out = (int64_t)timegm(&tm);
    return 0;
  }
  char *e;
  double v = strtod(s, &e);
  if (e == s || v < 0) return -1;
  double unit = !*e                ? 0
                : !strcmp(e, "s") ? 1
                : !strcmp(e, "m") ? 60
                : !strcmp(e, "h") ? 3600
                : !strcmp(e, "d") ? 86400
                                  : -1;
  if (unit < 0) return -1;
  /* within ten thousand years: converting a larger double is undefined */
  if (v * (unit ? unit : 1) > 3.2e11) return -1;
  *out = unit == 0 ? (int64_t)v : (int64_t)time(NULL) - (int64_t)(v * unit);
  return 0;
}

int admin_sel_match(const struct admin_sel *s, const struct retryq_rec *r)
{
  if (s->waiting ? r->dead : !r->dead) return 0;
  if (s->endpoint && strcmp(s->endpoint, r->endpoint)) return 0;
  if (s->rule && strcmp(s->rule, r->rule)) return 0;
  int64_t t = r->dead ? r->dead_at : r->created;
  if (s->since && t < s->since) return 0;
  if (s->until && t > s->until) return 0;
  if (!s->ids || !s->ids[0]) return 1;
  char num[32];
  snprintf(num, sizeof num, "%" PRIu64, r->seq);
  for (char **id = s->ids; *id; id++)
    if (!strcmp(*id, r->id) || !strcmp(*id, num)) return 1;
  return 0;
}

static void iso(int64_t t, char *out, size_t n)
{
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void admin_rec_json(const struct retryq_rec *r, struct buf *b)
{
  char t[40];
  buf_printf(b, "{\"seq\":%" PRIu64 ",\"id\":", r->seq);
  buf_add_json_str(b, r->id, strlen(r->id));
  buf_addlit(b, ",\"endpoint\":");
  buf_add_json_str(b, r->endpoint, strlen(r->endpoint));
  buf_addlit(b, ",\"rule\":");
  buf_add_json_str(b, r->rule, strlen(r->rule));
  iso(r->created, t, sizeof t);
  buf_printf(b, ",\"created\":\"%s\",\"attempts\":%u", t, r->attempts);
  if (r->dead) {
    iso(r->dead_at, t, sizeof t);
    buf_printf(b, ",\"dead_at\":\"%s\",\"reason\":", t);
    buf_add_json_str(b, r->reason ? r->reason : "", r->reason ? strlen(r->reason) : 0);
  } else {
    iso(r->due, t, sizeof t);
    buf_printf(b, ",\"due\":\"%s\"", t);
  }
  buf_addc(b, '}');
}

/* ---- the server ---- */

static void answer(struct httpd_resp *r, int status, const char *type)
{
  r->status = status;
  r->type = type;
}

static void answer_text(struct httpd_resp *r, int status, const char *text)
{
  answer(r, status, NULL);
  buf_adds(&r->body, text);
}

static void answer_error(struct httpd_resp *r, int status, const char *msg)
{
  answer(r, status, "application/json");
  buf_adds(&r->body, "{\"error\":");
  buf_add_json_str(&r->body, msg, strlen(msg));
  buf_adds(&r->body, "}\n");
}

static int authorized(const struct admin *a, const struct httpd_req *req)
{
  if (!a->token) return 1;
  const char *h = httpd_header(req, "authorization");
  if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
  h += 7;
  size_t n = strlen(h), m = strlen(a->token);
  /* the length is not secret; the contents are compared in constant time */
  return n == m && CRYPTO_memcmp(h, a->token, n) == 0;
}

static int is_ip_literal(const char *name)
{
  unsigned char b[16];
  return inet_pton(AF_INET, name, b) == 1 || inet_pton(AF_INET6, name, b) == 1;
}

/* Whether a Host header names this server: the listener's own address, a
 * loopback name when it listens on loopback, an address literal when it
 * listens on every address, or a name of [admin] hosts; with the port it
 * listens on. A page on another name (DNS rebinding) is refused. */
static int allowed_host(const struct admin *a, const char *value)
{
  char name[256];
  unsigned port = 80;
  const char *colon = value[0] == '[' ? strstr(value, "]:") : strrchr(value, ':');
  size_t n = colon ? (size_t)(colon - value) + (value[0] == '[') : strlen(value);
  if (colon) {
    char *e;
    long p = strtol(colon + 1 + (value[0] == '['), &e, 10);
    if (*e || p < 1 || p > 65535) return 0;
    port = (unsigned)p;
  }
  if (value[0] == '[') { /* [v6] */
    value++;
    n = n >= 2 ? n - 2 : 0;
  }
  if (!n || n >= sizeof name || port != a->port) return 0;
  memcpy(name, value, n);
  name[n] = 0;
  if (!strcasecmp(name, a->host)) return 1;
  if (a->loopback && (admin_is_loopback(name))) return 1;
  if (a->wildcard && is_ip_literal(name)) return 1;
  for (char **h = a->hosts; h && *h; h++)
    if (!strcasecmp(name, *h)) return 1;
  return 0;
}

/* The paths where a POST changes something. */
static int changes_state(const char *path)
{
  return !strcmp(path, "/snapshot") || !strcmp(path, "/dlq/replay") || !strcmp(path, "/dlq/drop") ||
         !strncmp(path, "/endpoints/", 11);
}

/* The console's file at path, or NULL. */
static const struct console_asset *asset_at(const char *path)
{
  for (const struct console_asset *c = console_assets; c->path; c++)
    if (!strcmp(c->path, path)) return c;
  return NULL;
}

/* A GET of the console's page or its script or style: they hold no data
 * (the page asks the API for it, with the token), so a browser, which
 * cannot send a bearer token when it opens a page, gets them without. */
static int is_page(const struct httpd_req *req)
{
  return (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")) && asset_at(req->path);
}

/* Before a body is read: the token, the Host, the Origin, and for a write a
 * request no HTML form can make. */
static int on_check(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
  struct admin *a = arg;
  if (!is_page(req) && !authorized(a, req)) {
    buf_adds(&r->extra, "WWW-Authenticate: Bearer\r\n");
    answer_text(r, 401, "a bearer token is required: Authorization: Bearer TOKEN ([admin] token)\n");
    return 401;
  }
  const char *host = httpd_header(req, "host");
  if (!host || !allowed_host(a, host)) {
    answer_text(r, 403, "the Host header does not name this server (add the name to [admin] hosts)\n");
    return 403;
  }
  const char *origin = httpd_header(req, "origin");
  if (origin && (strncmp(origin, "http://", 7) || strcasecmp(origin + 7, host))) {
    answer_text(r, 403, "a request from another origin is refused\n");
    return 403;
  }
  if (!strcmp(req->method, "POST") && changes_state(req->path)) {
    const char *type = httpd_header(req, "content-type");
    if (!httpd_header(req, "x-binhook-request") && (!type || strncasecmp(type, "application/json", 16))) {
      answer_text(r, 403, "a POST needs Content-Type: application/json (or an X-Binhook-Request header): a form "
                          "from a web page cannot change anything here\n");
      return 403;
    }
  } else if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && strcmp(req->method, "POST")) {
    answer_text(r, 405, "use GET, HEAD or POST\n");
    return 405;
  }
  return 0;
}

/* Fills sel from the query; 0, or -1 with the problem in err. */
static int parse_sel(struct evkeyvalq *kv, struct admin_sel *sel, char *err, size_t errsz)
{
  size_t nids = 0;
  for (struct evkeyval *p = kv->tqh_first; p; p = p->next.tqe_next) {
    if (!strcmp(p->key, "id")) {
      sel->ids = xrealloc(sel->ids, (nids + 2) * sizeof *sel->ids);
      sel->ids[nids++] = p->value;
      sel->ids[nids] = NULL;
    } else if (!strcmp(p->key, "endpoint")) {
      sel->endpoint = p->value;
    } else if (!strcmp(p->key, "rule")) {
      sel->rule = p->value;
    } else if (!strcmp(p->key, "since") || !strcmp(p->key, "until")) {
      if (admin_parse_time(p->value, p->key[0] == 's' ? &sel->since : &sel->until))
        return bh_err(err, errsz, "%s=%s: not a time (2026-11-21T10:00:00Z, seconds since the epoch, or an age "
                      "such as 90m, 2h, 3d)", p->key, p->value);
    } else if (!strcmp(p->key, "all")) {
      sel->all = strcmp(p->value, "0") != 0;
    } else if (!strcmp(p->key, "waiting")) {
      sel->waiting = strcmp(p->value, "0") != 0;
    } else {
      return bh_err(err, errsz, "unknown parameter '%s' (id, endpoint, rule, since, until, all, waiting)", p->key);
    }
  }
  return 0;
}

/* POST /endpoints/NAME/enable */
static void route_endpoint(struct admin *a, const struct httpd_req *req, struct httpd_resp *r)
{
  const char *name = req->path + 11, *slash = strchr(name, '/');
  if (!slash || slash == name || strcmp(slash, "/enable")) {
    answer_error(r, 404, "the one action here is POST /endpoints/NAME/enable");
    return;
  }
  if (strcmp(req->method, "POST")) {
    answer_error(r, 405, "use POST /endpoints/NAME/enable");
    return;
  }
  char *ep = xstrndup(name, (size_t)(slash - name));
  char *dec = evhttp_uridecode(ep, 0, NULL);
  int code = a->ops.enable ? a->ops.enable(a->ops.ctx, dec ? dec : ep, &r->body) : 404;
  free(dec);
  free(ep);
  answer(r, code, "application/json");
}

static void route_snapshot(struct admin *a, const struct httpd_req *req, struct httpd_resp *r)
{
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  char **tables = NULL;
  size_t n = 0;
  int bad = strcmp(req->method, "POST") ? 405 : req->query && evhttp_parse_query_str(req->query, &kv) ? 400 : 0;
  for (struct evkeyval *p = kv.tqh_first; p && !bad; p = p->next.tqe_next) {
    if (strcmp(p->key, "table")) {
      bad = 400;
      break;
    }
    tables = xrealloc(tables, (n + 2) * sizeof *tables);
    tables[n++] = p->value;
    tables[n] = NULL;
  }
  if (bad == 405) {
    answer_error(r, 405, "use POST /snapshot?table=GLOB");
  } else if (bad) {
    answer_error(r, 400, "the only parameter is table=GLOB (repeatable)");
  } else {
    int code = a->ops.snapshot(a->ops.ctx, tables, &r->body);
    answer(r, code, "application/json");
  }
  free(tables);
  evhttp_clear_headers(&kv);
}

static void route_dlq(struct admin *a, const struct httpd_req *req, struct httpd_resp *r, int get)
{
  char err[512];
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  struct admin_sel sel;
  memset(&sel, 0, sizeof sel);
  if (req->query && evhttp_parse_query_str(req->query, &kv)) {
    answer_error(r, 400, "the query string cannot be parsed");
  } else if (parse_sel(&kv, &sel, err, sizeof err)) {
    answer_error(r, 400, err);
  } else {
    const char *path = req->path, *rest = path[4] ? path + 5 : "";
    int op = -1;
    char *one[2] = {NULL, NULL};
    if (!*rest) {
      op = get ? ADMIN_DLQ_LIST : -1;
    } else if (!strcmp(rest, "replay") || !strcmp(rest, "drop")) {
      op = strcmp(req->method, "POST") ? -1 : !strcmp(rest, "replay") ? ADMIN_DLQ_REPLAY : ADMIN_DLQ_DROP;
    } else if (!strchr(rest, '/')) {
      op = get ? ADMIN_DLQ_SHOW : -1;
      one[0] = (char *)rest;
      sel.ids = NULL;
    }
    if (op < 0) {
      answer_error(r, 405, "use GET /dlq, GET /dlq/ID, POST /dlq/replay or POST /dlq/drop");
    } else {
      struct admin_sel s1 = sel;
      if (one[0]) s1.ids = one;
      int code = a->ops.dlq(a->ops.ctx, (enum admin_dlq_op)op, &s1, &r->body);
      answer(r, code, "application/json");
    }
  }
  free(sel.ids);
  evhttp_clear_headers(&kv);
}

/* The console's file c, with the headers that keep the page to itself:
 * scripts and styles from this server only (no inline script, so markup
 * that slipped into the page could not run), no framing, no referrer. */
static void answer_asset(const struct console_asset *c, struct httpd_resp *r)
{
  answer(r, 200, c->type);
  buf_add(&r->body, c->data, c->len);
  buf_adds(&r->extra, "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
                      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                      "frame-ancestors 'none'\r\n"
                      "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n");
}

/* A GET route the daemon answers with JSON (or 404 when it has no such
 * view, as a standby has not). */
static void answer_view(int (*view)(void *, struct buf *), void *ctx, int get, const char *path,
                        struct httpd_resp *r)
{
  if (!get) {
    char msg[64];
    snprintf(msg, sizeof msg, "use GET %s", path);
    answer_error(r, 405, msg);
  } else if (!view) {
    answer_error(r, 503, "not served here: this binhook is not the active one");
  } else {
    int code = view(ctx, &r->body);
    answer(r, code, "application/json");
  }
}

static void on_handle(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
  struct admin *a = arg;
  const char *path = req->path;
  int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
  buf_adds(&r->extra, "X-Content-Type-Options: nosniff\r\n");
  const struct console_asset *page = asset_at(path);
  if (page) {
    if (get) answer_asset(page, r);
    else answer_text(r, 405, "use GET\n");
  } else if (!strcmp(path, "/rules")) {
    answer_view(a->ops.rules, a->ops.ctx, get, path, r);
  } else if (!strcmp(path, "/series")) {
    answer_view(a->ops.series, a->ops.ctx, get, path, r);
  } else if (!strcmp(path, "/metrics") || !strcmp(path, "/healthz") || !strcmp(path, "/status")) {
    if (!get) {
      answer_text(r, 405, "use GET\n");
    } else if (path[1] == 'm') {
      a->ops.metrics(a->ops.ctx, &r->body);
      answer(r, 200, "text/plain; version=0.0.4; charset=utf-8");
    } else if (path[1] == 'h') {
      char why[4096] = "";
      if (a->ops.healthy(a->ops.ctx, why, sizeof why)) {
        answer_text(r, 200, "ok\n");
      } else {
        buf_printf(&r->body, "not ready: %s\n", why);
        answer(r, 503, NULL);
      }
    } else {
      a->ops.status(a->ops.ctx, &r->body);
      answer(r, 200, "application/json");
    }
  } else if (!strcmp(path, "/snapshot")) {
    route_snapshot(a, req, r);
  } else if (!strncmp(path, "/dlq", 4) && (!path[4] || path[4] == '/')) {
    route_dlq(a, req, r, get);
  } else if (!strncmp(path, "/endpoints/", 11)) {
    route_endpoint(a, req, r);
  } else if (!strcmp(path, "/attempts")) {
    if (!get) {
      answer_error(r, 405, "use GET /attempts");
    } else {
      int code = a->ops.attempts ? a->ops.attempts(a->ops.ctx, req->query, &r->body) : 404;
      answer(r, code, "application/json");
    }
  } else {
    answer_text(r, 404,
                "not found: the console (/), /metrics, /healthz, /status, /series, /rules, /attempts, /dlq, /snapshot "
                "and /endpoints are served here\n");
  }
}

/* The admin server's share of the open-file limit: an eighth, so that a
 * flood of clients never takes the descriptors the source, the retry queue
 * and the delivery engine need (the engine keeps to a quarter). */
static size_t conn_budget(void)
{
  struct rlimit rl;
  size_t n = 256;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 8 < n) n = rl.rlim_cur / 8;
  return n < 8 ? 8 : n;
}

struct admin *admin_start(struct event_base *base, const struct admin_conf *conf, const struct admin_ops *ops,
                          char *err, size_t errsz)
{
  char host[256];
  unsigned port;
  if (split_listen(conf->listen, host, sizeof host, &port)) {
    bh_err(err, errsz, "[admin] listen: '%s' is not HOST:PORT", conf->listen);
    return NULL;
  }
  int loopback = admin_is_loopback(host);
  if (!loopback && (!conf->token || !*conf->token)) {
    bh_err(err, errsz, "[admin] listen = \"%s\" is not a loopback address: set a bearer token ([admin] token_env "
           "or token_file), or listen on 127.0.0.1", conf->listen);
    return NULL;
  }
  struct admin *a = xcalloc(1, sizeof *a);
  a->ops = *ops;
  a->token = conf->token && *conf->token ? xstrdup(conf->token) : NULL;
  snprintf(a->host, sizeof a->host, "%s", host);
  a->port = port;
  a->loopback = loopback;
  a->wildcard = !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
  for (size_t i = 0; conf->hosts && conf->hosts[i]; i++) {
    a->hosts = xrealloc(a->hosts, (i + 2) * sizeof *a->hosts);
    a->hosts[i] = xstrdup(conf->hosts[i]);
    a->hosts[i + 1] = NULL;
  }
  size_t max = conf->max_conns ? conf->max_conns : conn_budget();
  struct httpd_limits lim = {.max_conns = max,
                             .max_per_addr = max / 2 < 4 ? 4 : max / 2,
                             .head_timeout = 10,
                             .body_timeout = 10,
                             .write_timeout = 30,
                             .max_head = 16384,
                             .max_body = 65536};
  struct httpd_ops hops = {a, on_check, on_handle};
  char why[256];
  if (!(a->http = httpd_start(base, host, port, &lim, &hops, why, sizeof why))) {
    bh_err(err, errsz, "[admin] cannot listen on %s: %s (in use, or not an address of this machine): change "
           "[admin] listen", conf->listen, why);
    admin_free(a);
    return NULL;
  }
  return a;
}

void admin_free(struct admin *a)
{
  if (!a) return;
  httpd_free(a->http);
  if (a->token) OPENSSL_cleanse(a->token, strlen(a->token));
  free(a->token);
  for (char **h = a->hosts; h && *h; h++) free(*h);
  free(a->hosts);
  free(a);
}

void admin_server_stats(const struct admin *a, struct httpd_stats *out) { httpd_stats(a->http, out); }

/* ---- the client ---- */

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
  buf_add(arg, p, size * n);
  return size * n;
}

long admin_request(const char *listen, const char *token, const char *method, const char *path, struct buf *out,
                   char *err, size_t errsz)
{
  char host[256], url[1024];
  unsigned port;
  if (split_listen(listen, host, sizeof host, &port))
    return bh_err(err, errsz, "[admin] listen: '%s' is not HOST:PORT", listen);
  /* a server on every address is reached on loopback */
  const char *h = !strcmp(host, "0.0.0.0") ? "127.0.0.1" : !strcmp(host, "::") ? "::1" : host;
  snprintf(url, sizeof url, strchr(h, ':') ? "http://[%s]:%u%s" : "http://%s:%u%s", h, port, path);
  CURL *c = curl_easy_init();
  if (!c) return bh_err(err, errsz, "cannot start libcurl");
  struct curl_slist *hdr = NULL;
  char auth[600];
  if (token && *token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hdr = curl_slist_append(hdr, auth);
  }
  if (!strcmp(method, "POST")) hdr = curl_slist_append(hdr, "Content-Type: application/json");
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "POST")) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(c);
  long code = -1;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  else
    bh_err(err, errsz, "no answer from the daemon's admin server at %s: %s (is binhook run running with this "
           "[admin] listen?)", listen, cerr[0] ? cerr : curl_easy_strerror(rc));
  curl_slist_free_all(hdr);
  if (token && *token) OPENSSL_cleanse(auth, sizeof auth);
  curl_easy_cleanup(c);
  return code;
}
