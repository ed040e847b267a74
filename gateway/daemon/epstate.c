/* epstate.c - see epstate.h. */
#include "daemon/epstate.h"
#include "daemon/daemon.h"
#include "daemon/lane.h"
#include "daemon/sched.h"
#include "match/rules.h"
#include "store/retryq.h"
#include "store/state.h"
#include "util/log.h"
#include "util/util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int configured(const struct daemon *dm, const char *name)
{
  for (size_t i = 0; i < dm->rs->nendpoints; i++)
    if (!strcmp(dm->rs->endpoints[i].name, name)) return 1;
  return 0;
}

void epstate_restore(struct daemon *dm)
{
  char err[1024];
  struct buf b = BUF_INIT;
  int have = state_endpoints_load(dm->st, &b, err, sizeof err);
  if (have < 0) log_warn("cannot read the endpoints' state: %s; every endpoint starts enabled", err);
  json_error_t je;
  json_t *root = have > 0 ? json_loadb(b.p, b.len, 0, &je) : NULL;
  if (have > 0 && !json_is_object(root))
    log_warn("the endpoints' state is not a JSON object (%s): every endpoint starts enabled", have > 0 ? je.text : "");
  buf_free(&b);
  if (!json_is_object(root)) {
    json_decref(root);
    return;
  }
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(root, "disabled"), i, v) {
    const char *name = json_string_value(v);
    if (!name || !configured(dm, name)) continue;
    lane_get(dm, name)->disabled = 1;
    log_warn("endpoint '%s' is disabled (it answered 410 Gone before): its deliveries go to the dead letters until "
             "it is enabled again ('binhook endpoint enable %s', or a reload that changes its url)",
             name, name);
  }
  const char *name;
  time_t now = time(NULL);
  json_object_foreach(json_object_get(root, "not_before"), name, v) {
    if (!json_is_integer(v) || !configured(dm, name)) continue;
    json_int_t t = json_integer_value(v);
    if (t <= (json_int_t)now) continue;
    lane_get(dm, name)->not_before = (int64_t)t;
    log_notice("endpoint '%s' asked for nothing before %lld s from now (Retry-After): it is held until then", name,
               (long long)(t - (json_int_t)now));
  }
  json_decref(root);
}

void epstate_save(struct daemon *dm)
{
  json_t *root = json_object(), *dis = json_array(), *nb = json_object();
  time_t now = time(NULL);
  for (struct lane *l = dm->lanes; l; l = l->next) {
    if (l->disabled) json_array_append_new(dis, json_string(l->endpoint));
    if (l->not_before > (int64_t)now) json_object_set_new(nb, l->endpoint, json_integer((json_int_t)l->not_before));
  }
  json_object_set_new(root, "disabled", dis);
  json_object_set_new(root, "not_before", nb);
  char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  if (text) retryq_set_endpoints(dm->dq, text, strlen(text));
  free(text);
}

void epstate_hold(struct daemon *dm, struct lane *l, double secs)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* rounded up: a restart never sends before the moment asked for */
  int64_t until = (int64_t)ceil((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + secs);
  if (until <= l->not_before) return;
  l->not_before = until;
  epstate_save(dm);
}

int epstate_enable(struct daemon *dm, const char *name, const char *why, struct buf *out)
{
  if (!configured(dm, name)) {
    char msg[600];
    snprintf(msg, sizeof msg, "no endpoint '%.500s' in the configuration", name);
    buf_adds(out, "{\"error\":");
    buf_add_json_str(out, msg, strlen(msg));
    buf_adds(out, "}\n");
    return 404;
  }
  struct lane *l = lane_get(dm, name);
  int was = l->disabled;
  if (was) {
    log_notice("endpoint '%s' is enabled again (%s)", name, why);
    l->disabled = 0;
    epstate_save(dm);
    sched_pump(dm, l);
  }
  buf_adds(out, "{\"endpoint\":");
  buf_add_json_str(out, name, strlen(name));
  buf_printf(out, ",\"enabled\":true,\"was_disabled\":%s}\n", was ? "true" : "false");
  return 200;
}
