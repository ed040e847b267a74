/* request.c - see request.h. Templates render into buffers; the body is
 * rendered first because the signature covers it. */
#include "deliver/request.h"
#include "util/lpcodec.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void request_id(const struct change *e, const char *rule, const char *endpoint, struct buf *out)
{
  struct buf in = BUF_INIT, hex = BUF_INIT;
  change_id(e, &in);
  buf_addc(&in, '\n');
  buf_adds(&in, rule);
  buf_addc(&in, '\n');
  buf_adds(&in, endpoint);
  sign_sha256_hex(in.p, in.len, &hex);
  buf_addlit(out, "msg_");
  buf_add(out, hex.p, 32);
  buf_free(&in);
  buf_free(&hex);
}

/* Gives h a new value. */
static void header_replace(struct header *h, const char *value)
{
  free(h->value);
  h->value = xstrdup(value);
}

/* Room for one more header: headers grows by doubling, not one at a time. */
static struct header *header_new(struct request *q)
{
  if (q->nheaders >= q->hcap) { /* hcap 0 with headers: filled by a caller, exactly */
    q->hcap = q->nheaders < 4 ? 8 : 2 * q->nheaders;
    q->headers = xrealloc(q->headers, q->hcap * sizeof *q->headers);
  }
  return &q->headers[q->nheaders++];
}

static void add_header(struct request *q, const char *name, const char *value)
{
  for (size_t i = 0; i < q->nheaders; i++) {
    if (!strcasecmp(q->headers[i].name, name)) { /* a later one replaces */
      header_replace(&q->headers[i], value);
      return;
    }
  }
  struct header *h = header_new(q);
  h->name = xstrdup(name);
  h->value = xstrdup(value);
}

/* Renders the headers of one list (the endpoint's or the rule's). */
static int add_headers(struct request *q, const struct config_header *cfg, struct tmpl **tmpls, size_t n,
                       const struct tmpl_ctx *c, char *err, size_t errsz)
{
  struct buf v = BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    buf_reset(&v);
    char why[256];
    if (tmpl_render(tmpls[i], c, &v, why, sizeof why)) {
      bh_err(err, errsz, "header '%s': %s", cfg[i].name, why);
      buf_free(&v);
      return -1;
    }
    add_header(q, cfg[i].name, v.p ? v.p : "");
  }
  buf_free(&v);
  return 0;
}

/* A subject as a header: line breaks become spaces, invalid UTF-8 becomes
 * U+FFFD, non-ASCII text is encoded (RFC 2047). */
static void add_subject(struct buf *msg, const char *s, size_t n)
{
  int ascii = 1;
  struct buf clean = BUF_INIT;
  for (size_t i = 0; i < n;) {
    size_t l;
    long cp = utf8_next((const unsigned char *)s + i, n - i, &l);
    i += l;
    if (cp < 0) cp = 0xfffd;
    if (cp == '\r' || cp == '\n' || cp == '\t') cp = ' ';
    if (cp < 0x20 || cp == 0x7f) continue;
    ascii &= cp < 0x80;
    buf_add_utf8(&clean, (unsigned long)cp);
  }
  buf_addlit(msg, "Subject: ");
  if (ascii) {
    buf_add(msg, clean.p ? clean.p : "", clean.len);
  } else {
    /* encoded words of at most 45 bytes of text, cut between characters
     * (the text is valid UTF-8 now: a cut moves back at most 3 bytes) */
    size_t i = 0;
    while (i < clean.len) {
      size_t end = i + 45 < clean.len ? i + 45 : clean.len;
      while (end < clean.len && end > i + 1 && ((unsigned char)clean.p[end] & 0xc0) == 0x80)
        end--;
      if (i) buf_addlit(msg, "\r\n ");
      buf_addlit(msg, "=?UTF-8?B?");
      buf_add_base64(msg, clean.p + i, end - i);
      buf_addlit(msg, "?=");
      i = end;
    }
  }
  buf_addlit(msg, "\r\n");
  buf_free(&clean);
}

/* Can the body go as 8bit text: lines of at most 998 bytes, no lone CR, no
 * NUL (RFC 5322)? Else it goes as base64. */
static int fits_8bit(const struct buf *body)
{
  size_t line = 0;
  for (size_t i = 0; i < body->len; i++) {
    char c = body->p[i];
    if (c == '\n') {
      line = 0;
      continue;
    }
    if (c == 0 || (c == '\r' && (i + 1 >= body->len || body->p[i + 1] != '\n'))) return 0;
    if (c != '\r' && ++line > 998) return 0;
  }
  return 1;
}

static void add_list(struct buf *msg, const char *name, char **v)
{
  if (!v || !*v) return;
  buf_adds(msg, name);
  buf_addlit(msg, ": ");
  for (char **p = v; *p; p++) {
    if (p != v) buf_addlit(msg, ", ");
    buf_adds(msg, *p);
  }
  buf_addlit(msg, "\r\n");
}

static void default_subject(const struct rule *r, const struct change *e, struct buf *out)
{
  buf_printf(out, "[binhook] %s: %s", r->name, change_type_name(e->type));
  if (e->table) {
    buf_printf(out, " on %s.%s", e->table->schema, e->table->name);
  } else if (e->sql) {
    buf_addlit(out, ": ");
    size_t n = e->sql->len, chars = 0, i = 0;
    while (i < n && chars < 80) {
      size_t l;
      utf8_next((const unsigned char *)e->sql->s + i, n - i, &l);
      i += l;
      chars++;
    }
    buf_add(out, e->sql->s, i);
    if (i < n) buf_addlit(out, "...");
  }
}

static int build_mail(const struct rule *r, const struct endpoint *ep, const struct change *e, int64_t now,
                      const struct tmpl_ctx *c, struct buf *body, int plain, struct request *q, char *err,
                      size_t errsz)
{
  const struct config_endpoint *cfg = ep->cfg;
  struct buf msg = BUF_INIT, subject = BUF_INIT;
  q->method = xstrdup("SMTP");
  q->mail_from = xstrdup(cfg->mail_from ? cfg->mail_from : "");
  size_t n = 0;
  for (char **p = cfg->mail_to; p && *p; p++)
    n++;
  for (char **p = cfg->mail_cc; p && *p; p++)
    n++;
  q->rcpt = xcalloc(n + 1, sizeof *q->rcpt);
  n = 0;
  for (char **p = cfg->mail_to; p && *p; p++)
    q->rcpt[n++] = xstrdup(*p);
  for (char **p = cfg->mail_cc; p && *p; p++)
    q->rcpt[n++] = xstrdup(*p);

  const struct tmpl *st = r->subject ? r->subject : ep->subject;
  if (st) {
    if (tmpl_render(st, c, &subject, err, errsz)) goto fail;
  } else {
    default_subject(r, e, &subject);
  }
  char date[64];
  time_t t = (time_t)now;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  buf_printf(&msg, "From: %s\r\n", q->mail_from);
  add_list(&msg, "To", cfg->mail_to);
  add_list(&msg, "Cc", cfg->mail_cc);
  add_subject(&msg, subject.p ? subject.p : "", subject.len);
  buf_printf(&msg, "Date: %s\r\nMessage-ID: <%s@binhook>\r\nMIME-Version: 1.0\r\n", date, q->id);
  int text = fits_8bit(body);
  buf_printf(&msg, "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n",
             plain ? "text/plain" : "application/json", text ? "8bit" : "base64");
  if (text) {
    /* the body with CRLF line ends */
    for (size_t i = 0; i < body->len; i++) {
      if (body->p[i] == '\n' && (i == 0 || body->p[i - 1] != '\r')) buf_addc(&msg, '\r');
      buf_addc(&msg, body->p[i]);
    }
    if (!body->len || body->p[body->len - 1] != '\n') buf_addlit(&msg, "\r\n");
  } else {
    /* long lines (a JSON body is one line) or odd bytes: base64 in lines of 76 */
    struct buf b64 = BUF_INIT;
    buf_add_base64(&b64, body->p, body->len);
    for (size_t i = 0; i < b64.len; i += 76) {
      buf_add(&msg, b64.p + i, b64.len - i < 76 ? b64.len - i : 76);
      buf_addlit(&msg, "\r\n");
    }
    buf_free(&b64);
  }
  buf_free(&q->body);
  q->body = msg;
  buf_free(&subject);
  return 0;
fail:
  buf_free(&msg);
  buf_free(&subject);
  return -1;
}

int request_build(const struct rule *r, const struct endpoint *ep, const struct change *e, int64_t now, int sign,
                  struct request *q, char *err, size_t errsz)
{
  char why[512];
  struct tmpl_ctx c = {.e = e, .rule = r->name, .endpoint = ep->name, .now = now};
  size_t ei = rule_endpoint_index(r, ep);
  const struct tmpl *body = r->bodies[ei];
  int body_json = r->bodies_json[ei];
  struct buf id = BUF_INIT, url = BUF_INIT, sig = BUF_INIT;
  memset(q, 0, sizeof *q);
  q->rule = r;
  q->endpoint = ep;
  q->is_mail = ep->is_mail;
  request_id(e, r->name, ep->name, &id);
  q->id = buf_steal(&id);

  if (body) {
    if (tmpl_render(body, &c, &q->body, why, sizeof why)) {
      bh_err(err, errsz, "rule '%s': body: %s", r->name, why);
      goto fail;
    }
  } else {
    change_to_json(e, &q->body);
  }
  if (!q->body.p) buf_reserve(&q->body, 1);

  if (ep->is_mail) {
    q->url = xstrdup(ep->cfg->url.s);
    struct buf text = q->body;
    q->body = (struct buf)BUF_INIT;
    int rc = build_mail(r, ep, e, now, &c, &text, body && !body_json, q, why, sizeof why);
    buf_free(&text);
    if (rc) {
      bh_err(err, errsz, "rule '%s', endpoint '%s': subject: %s", r->name, ep->name, why);
      goto fail;
    }
    return 0;
  }

  const struct tmpl *ut = r->url ? r->url : ep->url;
  if (tmpl_render(ut, &c, &url, why, sizeof why)) {
    bh_err(err, errsz, "rule '%s', endpoint '%s': url: %s", r->name, ep->name, why);
    goto fail;
  }
  if (r->path && tmpl_render(r->path, &c, &url, why, sizeof why)) {
    bh_err(err, errsz, "rule '%s', endpoint '%s': path: %s", r->name, ep->name, why);
    goto fail;
  }
  q->url = buf_steal(&url);
  q->method = xstrdup(r->cfg->method.s ? r->cfg->method.s : ep->cfg->method);

  add_header(q, "content-type", body && !body_json ? "text/plain; charset=utf-8" : "application/json");
  add_header(q, "user-agent", "binhook/" BINHOOK_VERSION);
  add_header(q, "webhook-id", q->id);
  if (sign) request_resign(q, now);
  if (add_headers(q, ep->cfg->headers, ep->headers, ep->cfg->nheaders, &c, why, sizeof why) ||
      add_headers(q, r->cfg->headers, r->headers, r->cfg->nheaders, &c, why, sizeof why)) {
    bh_err(err, errsz, "rule '%s', endpoint '%s': %s", r->name, ep->name, why);
    goto fail;
  }
  return 0;
fail:
  buf_free(&url);
  buf_free(&sig);
  request_free(q);
  return -1;
}

void request_unbuilt(const struct rule *r, const struct endpoint *ep, const struct change *e, struct request *q)
{
  struct buf id = BUF_INIT;
  memset(q, 0, sizeof *q);
  q->rule = r;
  q->endpoint = ep;
  q->is_mail = ep->is_mail;
  q->unbuilt = 1;
  q->method = xstrdup("");
  q->url = xstrdup("");
  request_id(e, r->name, ep->name, &id);
  q->id = buf_steal(&id);
  change_to_json(e, &q->body);
  if (!q->body.p) buf_reserve(&q->body, 1);
}

void request_set_id(struct request *q, const char *id)
{
  free(q->id);
  q->id = xstrdup(id);
  for (size_t i = 0; i < q->nheaders; i++)
    if (!strcmp(q->headers[i].name, "webhook-id")) header_replace(&q->headers[i], id);
}

void request_resign(struct request *q, int64_t now)
{
  const struct endpoint *ep = q->endpoint;
  struct buf sig = BUF_INIT;
  if (q->is_mail) return;
  if (ep->scheme == SIGN_STANDARD && ep->nkeys) {
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    for (size_t i = 0; i < q->nheaders; i++)
      if (!strcmp(q->headers[i].name, "webhook-timestamp") && !strcmp(q->headers[i].value, ts))
        return; /* signed this second already */
    add_header(q, "webhook-timestamp", ts);
    sign_standard(ep->keys, ep->nkeys, q->id, now, q->body.p, q->body.len, &sig);
    add_header(q, "webhook-signature", sig.p);
  } else if (ep->scheme == SIGN_GITHUB && ep->nkeys) {
    for (size_t i = 0; i < q->nheaders; i++)
      if (!strcmp(q->headers[i].name, "X-Hub-Signature-256")) return; /* the body's: it does not change */
    sign_github(&ep->keys[0], q->body.p, q->body.len, &sig);
    add_header(q, "X-Hub-Signature-256", sig.p);
  }
  buf_free(&sig);
}

static void add_json_field(struct buf *out, const char *sep, const char *name, const char *value)
{
  buf_adds(out, sep);
  buf_add_json_str(out, name, strlen(name));
  buf_addc(out, ':');
  buf_add_json_str(out, value, strlen(value));
}

static void add_headers_json(const struct request *q, struct buf *out)
{
  buf_addlit(out, "\"headers\":{");
  for (size_t i = 0; i < q->nheaders; i++)
    add_json_field(out, i ? "," : "", q->headers[i].name, q->headers[i].value);
  buf_addc(out, '}');
}

static void add_body_json(const struct request *q, struct buf *out)
{
  buf_addlit(out, "\"body\":");
  buf_add_json_str(out, q->body.p ? q->body.p : "", q->body.len);
}

void request_to_json(const struct request *q, struct buf *out)
{
  add_json_field(out, "{", "rule", q->rule->name);
  add_json_field(out, ",", "endpoint", q->endpoint->name);
  add_json_field(out, ",", "method", q->method);
  add_json_field(out, ",", "url", q->url);
  add_json_field(out, ",", "id", q->id);
  buf_addc(out, ',');
  add_headers_json(q, out);
  if (q->is_mail) {
    add_json_field(out, ",", "mail_from", q->mail_from);
    buf_addlit(out, ",\"mail_to\":[");
    for (char **p = q->rcpt; p && *p; p++) {
      if (p != q->rcpt) buf_addc(out, ',');
      buf_add_json_str(out, *p, strlen(*p));
    }
    buf_addc(out, ']');
  }
  buf_addc(out, ',');
  add_body_json(q, out);
  buf_addc(out, '}');
}

static int secret_header(const char *name)
{
  static const char *const exact[] = {"authorization", "proxy-authorization", "cookie", "set-cookie"};
  static const char *const part[] = {"token", "secret", "password", "passwd", "session", "api-key", "apikey",
                                     "api_key", "auth"};
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
    if (!strcasecmp(name, exact[i])) return 1;
  for (size_t i = 0; i < sizeof part / sizeof part[0]; i++)
    if (strcasestr(name, part[i])) return 1;
  return 0;
}

/* url without the password of its user and with its query's values
 * hidden; a new string. */
static char *url_hidden(const char *url)
{
  struct buf b = {0};
  const char *p = strstr(url, "://"), *s = url;
  if (p) {
    const char *host = p + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
    for (const char *c = host; c < end; c++)
      if (*c == '@') at = c;
    const char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    if (colon) {
      buf_add(&b, url, (size_t)(colon - url));
      buf_adds(&b, ":[hidden]");
      s = at;
    }
  }
  const char *q = strchr(s, '?');
  if (!q) {
    buf_adds(&b, s);
    return buf_steal(&b);
  }
  buf_add(&b, s, (size_t)(q - s) + 1);
  for (const char *c = q + 1; *c && *c != '#';) {
    size_t n = strcspn(c, "&#"), k = strcspn(c, "=&#");
    buf_add(&b, c, k);
    if (k < n) buf_adds(&b, "=[hidden]");
    c += n;
    if (*c == '&') buf_addc(&b, *c++);
  }
  const char *frag = strchr(q, '#');
  if (frag) buf_adds(&b, frag);
  return buf_steal(&b);
}

void request_hide_secrets(struct request *q)
{
  for (size_t i = 0; i < q->nheaders; i++) {
    if (!secret_header(q->headers[i].name)) continue;
    header_replace(&q->headers[i], "[hidden]");
  }
  if (q->url && !q->is_mail) {
    char *u = url_hidden(q->url);
    free(q->url);
    q->url = u;
  }
}

void request_bare_to_json(const struct request *q, struct buf *out)
{
  add_json_field(out, "{", "method", q->method);
  add_json_field(out, ",", "url", q->url);
  buf_addc(out, ',');
  add_headers_json(q, out);
  buf_addc(out, ',');
  add_body_json(q, out);
  buf_addc(out, '}');
}

void request_bare_to_text(const struct request *q, struct buf *out)
{
  buf_printf(out, "%s %s\n", q->method, q->url);
  for (size_t i = 0; i < q->nheaders; i++)
    buf_printf(out, "%s: %s\n", q->headers[i].name, q->headers[i].value);
  buf_addc(out, '\n');
  buf_add(out, q->body.p ? q->body.p : "", q->body.len);
  buf_addc(out, '\n');
}

void request_to_text(const struct request *q, struct buf *out)
{
  if (!q->is_mail) {
    request_bare_to_text(q, out);
    return;
  }
  buf_printf(out, "SMTP %s\nMAIL FROM:<%s>\n", q->url, q->mail_from);
  for (char **p = q->rcpt; p && *p; p++)
    buf_printf(out, "RCPT TO:<%s>\n", *p);
  buf_addc(out, '\n');
  for (size_t i = 0; i < q->body.len; i++) /* the message, shown with plain line ends */
    if (q->body.p[i] != '\r') buf_addc(out, q->body.p[i]);
}

void request_free(struct request *q)
{
  free(q->method);
  free(q->url);
  for (size_t i = 0; i < q->nheaders; i++) {
    free(q->headers[i].name);
    free(q->headers[i].value);
  }
  free(q->headers);
  buf_free(&q->body);
  free(q->id);
  free(q->mail_from);
  for (char **p = q->rcpt; p && *p; p++)
    free(*p);
  free(q->rcpt);
  memset(q, 0, sizeof *q);
}

/* --- the stored form (the retry queue's payload) --- */

#define ENCODING_VERSION 1

static int is_signature(const char *name)
{
  return !strcasecmp(name, "webhook-timestamp") || !strcasecmp(name, "webhook-signature") ||
         !strcasecmp(name, "X-Hub-Signature-256");
}

void request_encode(const struct request *q, struct buf *out)
{
  /* the flags: 1 e-mail, 2 unbuilt */
  unsigned char head[2] = {ENCODING_VERSION, (unsigned char)((q->is_mail ? 1 : 0) | (q->unbuilt ? 2 : 0))};
  buf_add(out, head, 2);
  lp_put_bytes(out, q->method, strlen(q->method));
  lp_put_bytes(out, q->url, strlen(q->url));
  lp_put_bytes(out, q->id, strlen(q->id));
  uint32_t n = 0;
  for (size_t i = 0; i < q->nheaders; i++)
    n += !is_signature(q->headers[i].name);
  lp_put_u32(out, n);
  for (size_t i = 0; i < q->nheaders; i++) {
    if (is_signature(q->headers[i].name)) continue;
    lp_put_bytes(out, q->headers[i].name, strlen(q->headers[i].name));
    lp_put_bytes(out, q->headers[i].value, strlen(q->headers[i].value));
  }
  lp_put_bytes(out, q->body.p, q->body.len);
  lp_put_bytes(out, q->mail_from, q->mail_from ? strlen(q->mail_from) : 0); /* none: empty */
  n = 0;
  for (char **p = q->rcpt; p && *p; p++)
    n++;
  lp_put_u32(out, n);
  for (char **p = q->rcpt; p && *p; p++)
    lp_put_bytes(out, *p, strlen(*p));
}

int request_decode(const char *data, size_t len, struct request *q, char *err, size_t errsz)
{
  const unsigned char *head = (const unsigned char *)data;
  struct lp_reader rd;
  size_t n;
  uint32_t count;
  memset(q, 0, sizeof *q);
  if (len < 2 || head[0] != ENCODING_VERSION)
    return bh_err(err, errsz, "stored request of an unknown format (%u)", len ? head[0] : 0);
  q->is_mail = head[1] & 1;
  q->unbuilt = (head[1] & 2) != 0;
  lp_reader_init(&rd, data + 2, len - 2);
  if (!(q->method = lp_get_field(&rd, NULL)) || !(q->url = lp_get_field(&rd, NULL)) ||
      !(q->id = lp_get_field(&rd, NULL)))
    goto cut;
  count = lp_get_u32(&rd);
  if (rd.bad || count > len) goto cut;
  for (size_t i = 0; i < count; i++) {
    char *name = lp_get_field(&rd, NULL), *value = name ? lp_get_field(&rd, NULL) : NULL;
    if (!value) {
      free(name);
      goto cut;
    }
    struct header *h = header_new(q);
    h->name = name;
    h->value = value;
  }
  char *body = lp_get_field(&rd, &n);
  if (!body) goto cut;
  buf_add(&q->body, body, n);
  if (!q->body.p) buf_reserve(&q->body, 1);
  free(body);
  if (!(q->mail_from = lp_get_field(&rd, NULL))) goto cut;
  if (!q->mail_from[0]) {
    free(q->mail_from);
    q->mail_from = NULL;
  }
  count = lp_get_u32(&rd);
  if (rd.bad || count > len) goto cut;
  q->rcpt = xcalloc(count + 1, sizeof *q->rcpt);
  for (size_t i = 0; i < count; i++)
    if (!(q->rcpt[i] = lp_get_field(&rd, NULL))) goto cut;
  if (rd.p != rd.end) goto cut;
  if (!q->is_mail) {
    free(q->rcpt);
    q->rcpt = NULL;
  }
  return 0;
cut:
  request_free(q);
  return bh_err(err, errsz, "stored request is damaged (cut short)");
}
