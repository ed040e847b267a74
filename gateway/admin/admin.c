/* admin.c - the admin HTTP server (see admin.h) and its client. */
#include "admin/admin.h"

#include "store/retryq.h"
#include "util/util.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <sys/queue.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct admin {
  struct evhttp *http;
  char *token;
  struct admin_ops ops;
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

static void reply(struct evhttp_request *req, int code, const char *type, const struct buf *body)
{
  struct evbuffer *out = evbuffer_new();
  if (body && body->len) evbuffer_add(out, body->p, body->len);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
  const char *reason = code == 200   ? "OK"
                       : code == 400 ? "Bad Request"
                       : code == 401 ? "Unauthorized"
                       : code == 404 ? "Not Found"
                       : code == 405 ? "Method Not Allowed"
                       : code == 409 ? "Conflict"
                       : code == 503 ? "Service Unavailable"
                                     : "Error";
  evhttp_send_reply(req, code, reason, out);
  evbuffer_free(out);
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
  struct buf b = BUF_INIT;
  buf_adds(&b, text);
  reply(req, code, "text/plain; charset=utf-8", &b);
  buf_free(&b);
}

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
  struct buf b = BUF_INIT;
  buf_adds(&b, "{\"error\":");
  buf_add_json_str(&b, msg, strlen(msg));
  buf_adds(&b, "}\n");
  reply(req, code, "application/json", &b);
  buf_free(&b);
}

static int authorized(const struct admin *a, struct evhttp_request *req)
{
  if (!a->token) return 1;
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
  h += 7;
  size_t n = strlen(h), m = strlen(a->token);
  /* the length is not secret; the contents are compared in constant time */
  return n == m && CRYPTO_memcmp(h, a->token, n) == 0;
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

static void on_request(struct evhttp_request *req, void *arg)
{
  struct admin *a = arg;
  char err[512];
  if (!authorized(a, req)) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    reply_text(req, 401, "a bearer token is required: Authorization: Bearer TOKEN ([admin] token)\n");
    return;
  }
  enum evhttp_cmd_type method = evhttp_request_get_command(req);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *rawpath = uri ? evhttp_uri_get_path(uri) : NULL;
  const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
  char *path = rawpath ? evhttp_uridecode(rawpath, 0, NULL) : NULL;
  if (!path) {
    reply_text(req, 400, "bad request\n");
    return;
  }
  struct buf body = BUF_INIT;
  int get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
  if (!strcmp(path, "/metrics") || !strcmp(path, "/healthz") || !strcmp(path, "/status")) {
    if (!get) {
      reply_text(req, 405, "use GET\n");
    } else if (path[1] == 'm') {
      a->ops.metrics(a->ops.ctx, &body);
      reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", &body);
    } else if (path[1] == 'h') {
      char why[512] = "";
      if (a->ops.healthy(a->ops.ctx, why, sizeof why)) {
        reply_text(req, 200, "ok\n");
      } else {
        buf_printf(&body, "not ready: %s\n", why);
        reply(req, 503, "text/plain; charset=utf-8", &body);
      }
    } else {
      a->ops.status(a->ops.ctx, &body);
      reply(req, 200, "application/json", &body);
    }
  } else if (!strcmp(path, "/snapshot")) {
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    char **tables = NULL;
    size_t n = 0;
    int bad = method != EVHTTP_REQ_POST ? 405 : query && evhttp_parse_query_str(query, &kv) ? 400 : 0;
    for (struct evkeyval *p = kv.tqh_first; p && !bad; p = p->next.tqe_next) {
      if (strcmp(p->key, "table")) {
        bad = 400;
        break;
      }
      tables = xrealloc(tables, (n + 2) * sizeof *tables);
      tables[n++] = p->value;
      tables[n] = NULL;
    }
    if (bad == 405)
      reply_error(req, 405, "use POST /snapshot?table=GLOB");
    else if (bad)
      reply_error(req, 400, "the only parameter is table=GLOB (repeatable)");
    else
      reply(req, a->ops.snapshot(a->ops.ctx, tables, &body), "application/json", &body);
    free(tables);
    evhttp_clear_headers(&kv);
  } else if (!strncmp(path, "/dlq", 4) && (!path[4] || path[4] == '/')) {
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    struct admin_sel sel;
    memset(&sel, 0, sizeof sel);
    if (query && evhttp_parse_query_str(query, &kv)) {
      reply_error(req, 400, "the query string cannot be parsed");
    } else if (parse_sel(&kv, &sel, err, sizeof err)) {
      reply_error(req, 400, err);
    } else {
      const char *rest = path[4] ? path + 5 : "";
      int op = -1;
      char *one[2] = {NULL, NULL};
      if (!*rest) {
        op = get ? ADMIN_DLQ_LIST : -1;
      } else if (!strcmp(rest, "replay") || !strcmp(rest, "drop")) {
        op = method != EVHTTP_REQ_POST ? -1 : !strcmp(rest, "replay") ? ADMIN_DLQ_REPLAY : ADMIN_DLQ_DROP;
      } else if (!strchr(rest, '/')) {
        op = get ? ADMIN_DLQ_SHOW : -1;
        one[0] = (char *)rest;
        sel.ids = NULL;
      }
      if (op < 0) {
        reply_error(req, 405, "use GET /dlq, GET /dlq/ID, POST /dlq/replay or POST /dlq/drop");
      } else {
        struct admin_sel s1 = sel;
        if (one[0]) s1.ids = one;
        int code = a->ops.dlq(a->ops.ctx, (enum admin_dlq_op)op, &s1, &body);
        reply(req, code, "application/json", &body);
      }
    }
    free(sel.ids);
    evhttp_clear_headers(&kv);
  } else {
    reply_text(req, 404, "not found: /metrics, /healthz, /status, /dlq and /snapshot are served here\n");
  }
  buf_free(&body);
  free(path);
}

struct admin *admin_start(struct event_base *base, const char *listen, const char *token,
                          const struct admin_ops *ops, char *err, size_t errsz)
{
  char host[256];
  unsigned port;
  if (split_listen(listen, host, sizeof host, &port)) {
    bh_err(err, errsz, "[admin] listen: '%s' is not HOST:PORT", listen);
    return NULL;
  }
  if (!admin_is_loopback(host) && (!token || !*token)) {
    bh_err(err, errsz, "[admin] listen = \"%s\" is not a loopback address: set a bearer token ([admin] token_env "
           "or token_file), or listen on 127.0.0.1", listen);
    return NULL;
  }
  struct admin *a = xcalloc(1, sizeof *a);
  a->http = evhttp_new(base);
  bh_assert(a->http);
  a->ops = *ops;
  a->token = token && *token ? xstrdup(token) : NULL;
  evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
  evhttp_set_timeout(a->http, 30);
  evhttp_set_max_headers_size(a->http, 16384);
  evhttp_set_max_body_size(a->http, 65536);
  evhttp_set_gencb(a->http, on_request, a);
  if (!evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port)) {
    bh_err(err, errsz, "[admin] cannot listen on %s (in use, or not an address of this machine): change [admin] "
           "listen", listen);
    admin_free(a);
    return NULL;
  }
  return a;
}

void admin_free(struct admin *a)
{
  if (!a) return;
  evhttp_free(a->http);
  if (a->token) OPENSSL_cleanse(a->token, strlen(a->token));
  free(a->token);
  free(a);
}

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
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "POST")) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
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
