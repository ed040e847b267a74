/* attempts.c - see attempts.h. */
#include "daemon/attempts.h"
#include "util/util.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

static const char *const outcomes[] = {"delivered", "retrying", "dead", "not_sent"};

void attempts_init(struct attempt_log *l, size_t cap)
{
  memset(l, 0, sizeof *l);
  l->cap = cap;
  l->ring = cap ? xcalloc(cap, sizeof *l->ring) : NULL;
  l->next_no = 1;
}

static void clear(struct attempt *a)
{
  free(a->id);
  free(a->change);
  free(a->rule);
  free(a->endpoint);
  free(a->table);
  free(a->key);
  free(a->error);
  free(a->body);
  memset(a, 0, sizeof *a);
}

void attempts_free(struct attempt_log *l)
{
  for (size_t i = 0; i < l->cap; i++) clear(&l->ring[i]);
  free(l->ring);
  memset(l, 0, sizeof *l);
}

static char *dup_or_null(const char *s)
{
  return s ? xstrdup(s) : NULL;
}

void attempts_add(struct attempt_log *l, const struct attempt *a)
{
  if (!l->cap) return;
  struct attempt *slot = &l->ring[l->head];
  clear(slot);
  *slot = *a;
  slot->no = l->next_no++;
  slot->id = dup_or_null(a->id);
  slot->change = dup_or_null(a->change);
  slot->rule = dup_or_null(a->rule);
  slot->endpoint = dup_or_null(a->endpoint);
  slot->table = dup_or_null(a->table);
  slot->key = dup_or_null(a->key);
  slot->error = dup_or_null(a->error);
  slot->body = NULL;
  if (a->bodylen) {
    slot->body = xmalloc(a->bodylen + 1);
    memcpy(slot->body, a->body, a->bodylen);
    slot->body[a->bodylen] = 0;
  }
  l->head = (l->head + 1) % l->cap;
  if (l->n < l->cap) l->n++;
}

static int by_seconds(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of the n sorted values v (nearest rank). */
static double quantile(const double *v, size_t n, double q)
{
  size_t rank = (size_t)(q * (double)n + 0.999999);
  return v[rank ? rank - 1 : 0];
}

void attempts_figures(const struct attempt_log *l, const char *endpoint, struct attempt_figures *f)
{
  memset(f, 0, sizeof *f);
  f->newest_ok = -1;
  if (!l->n) return;
  double *secs = xmalloc(l->n * sizeof *secs);
  for (size_t k = 0; k < l->n; k++) { /* newest first */
    const struct attempt *a = &l->ring[(l->head + l->cap - 1 - k) % l->cap];
    if (!a->endpoint || strcmp(a->endpoint, endpoint)) continue;
    if (!f->n) f->newest_ok = a->outcome == ATTEMPT_DELIVERED;
    secs[f->n++] = a->seconds;
    if (a->outcome == ATTEMPT_DELIVERED) {
      f->ok++;
    } else if (!f->last_error_at) {
      f->last_error = a->error;
      f->last_status = a->status;
      f->last_error_at = a->started;
    }
  }
  if (f->n) {
    qsort(secs, f->n, sizeof *secs, by_seconds);
    f->p50 = quantile(secs, f->n, 0.50);
    f->p99 = quantile(secs, f->n, 0.99);
  }
  free(secs);
}

struct filter {
  const char *endpoint, *rule, *table, *id, *change, *status, *outcome;
  uint64_t before;
  size_t limit;
};

static int same(const char *want, const char *have)
{
  return !want || (have && !strcmp(want, have));
}

static int status_matches(const char *want, const struct attempt *a)
{
  if (!want) return 1;
  if (!strcmp(want, "error")) return a->status == 0 && a->outcome != ATTEMPT_DELIVERED;
  if (strlen(want) == 3 && want[1] == 'x' && want[2] == 'x') return a->status / 100 == want[0] - '0';
  return a->status == strtol(want, NULL, 10);
}

static int matches(const struct filter *f, const struct attempt *a)
{
  return (!f->before || a->no < f->before) && same(f->endpoint, a->endpoint) && same(f->rule, a->rule) &&
         same(f->table, a->table) && same(f->id, a->id) && same(f->change, a->change) &&
         status_matches(f->status, a) && (!f->outcome || !strcmp(f->outcome, outcomes[a->outcome]));
}

static void add_field(struct buf *b, const char *key, const char *s)
{
  buf_printf(b, ",\"%s\":", key);
  if (s) buf_add_json_str(b, s, strlen(s));
  else buf_adds(b, "null");
}

static void to_json(const struct attempt *a, struct buf *b)
{
  buf_printf(b, "{\"no\":%" PRIu64, a->no);
  add_field(b, "webhook_id", a->id);
  add_field(b, "change", a->change);
  add_field(b, "rule", a->rule);
  add_field(b, "endpoint", a->endpoint);
  add_field(b, "table", a->table);
  buf_adds(b, ",\"key\":");
  buf_adds(b, a->key ? a->key : "null");
  buf_printf(b, ",\"attempt\":%u,\"started\":%.3f,\"seconds\":%.6f,\"status\":", a->attempt, a->started, a->seconds);
  if (a->status) buf_printf(b, "%ld", a->status);
  else buf_adds(b, "null");
  add_field(b, "error", a->error);
  buf_adds(b, ",\"body\":");
  if (a->body) buf_add_json_str(b, a->body, a->bodylen); /* not valid UTF-8: replaced, never raw */
  else buf_adds(b, "null");
  buf_printf(b, ",\"outcome\":\"%s\"", outcomes[a->outcome]);
  if (a->outcome == ATTEMPT_RETRYING) buf_printf(b, ",\"retry_at\":%" PRId64, a->retry_at);
  buf_addc(b, '}');
}

static int bad_param(struct buf *out, const char *what)
{
  buf_adds(out, "{\"error\":");
  buf_add_json_str(out, what, strlen(what));
  buf_adds(out, "}\n");
  return 400;
}

int attempts_query(const struct attempt_log *l, const char *query, struct buf *out)
{
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  struct filter f = {.limit = 100};
  int code = 200;
  if (query && evhttp_parse_query_str(query, &kv)) {
    code = bad_param(out, "the query does not parse");
    goto out;
  }
  for (struct evkeyval *p = kv.tqh_first; p; p = p->next.tqe_next) {
    const char **slot = !strcmp(p->key, "endpoint") ? &f.endpoint
                        : !strcmp(p->key, "rule")   ? &f.rule
                        : !strcmp(p->key, "table")  ? &f.table
                        : !strcmp(p->key, "id")     ? &f.id
                        : !strcmp(p->key, "change") ? &f.change
                        : !strcmp(p->key, "status") ? &f.status
                        : !strcmp(p->key, "outcome") ? &f.outcome
                                                     : NULL;
    if (slot) {
      *slot = p->value;
    } else if (!strcmp(p->key, "before") || !strcmp(p->key, "limit")) {
      char *end;
      unsigned long long v = strtoull(p->value, &end, 10);
      if (*end || end == p->value) {
        code = bad_param(out, "before and limit are whole numbers");
        goto out;
      }
      if (p->key[0] == 'b') f.before = v;
      else f.limit = v < 1 ? 1 : v > 1000 ? 1000 : (size_t)v;
    } else {
      code = bad_param(out, "unknown parameter: endpoint, rule, table, id, change, status, outcome, before, limit");
      goto out;
    }
  }
  if (f.outcome && strcmp(f.outcome, "delivered") && strcmp(f.outcome, "retrying") && strcmp(f.outcome, "dead") &&
      strcmp(f.outcome, "not_sent")) {
    code = bad_param(out, "outcome is delivered, retrying, dead or not_sent");
    goto out;
  }
  buf_adds(out, "{\"attempts\":[");
  size_t shown = 0;
  uint64_t last = 0;
  int more = 0;
  for (size_t k = 0; k < l->n; k++) { /* newest first */
    const struct attempt *a = &l->ring[(l->head + l->cap - 1 - k) % l->cap];
    if (!matches(&f, a)) continue;
    if (shown == f.limit) {
      more = 1;
      break;
    }
    if (shown) buf_addc(out, ',');
    buf_addc(out, '\n');
    to_json(a, out);
    last = a->no;
    shown++;
  }
  if (more) buf_printf(out, "\n],\"next\":%" PRIu64 "}\n", last);
  else buf_adds(out, "\n],\"next\":null}\n");
out:
  evhttp_clear_headers(&kv);
  return code;
}
