/* views.c - see views.h. */
#include "admin/views.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A label value in the exposition format: \\, \" and \n escaped. */
static void add_label(struct buf *b, const char *v)
{
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') buf_addc(b, '\\');
    if (*v == '\n') {
      buf_adds(b, "\\n");
      continue;
    }
    buf_addc(b, *v);
  }
}

static void metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
  buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} and the rest of the line. */
static void labelled(struct buf *b, const char *name, const char *label, const char *value)
{
  buf_printf(b, "%s{%s=\"", name, label);
  add_label(b, value);
}

static void metrics_stream(const struct stats *s, struct buf *b)
{
  metric_head(b, "binhook_build_info", "gauge", "The running binhook's version.");
  buf_printf(b, "binhook_build_info{version=\"%s\"} 1\n", BINHOOK_VERSION);
  metric_head(b, "binhook_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.");
  buf_printf(b, "binhook_start_time_seconds %lld\n", (long long)s->started);
  if (s->in_db) {
    metric_head(b, "binhook_active", "gauge", "1 while this binhook holds the lease and works, 0 as a standby.");
    buf_adds(b, "binhook_active 1\n");
    metric_head(b, "binhook_lease_takeovers_total", "counter", "Times a binhook took the lease from another.");
    buf_printf(b, "binhook_lease_takeovers_total %llu\n", s->takeovers);
    metric_head(b, "binhook_lease_age_seconds", "gauge", "Seconds since the active renewed the lease.");
    buf_printf(b, "binhook_lease_age_seconds %.1f\n", s->lease_age);
  }
  metric_head(b, "binhook_streaming", "gauge", "1 while the replication connection is open.");
  buf_printf(b, "binhook_streaming %d\n", s->streaming);
  metric_head(b, "binhook_binlog_incidents_total", "counter",
              "INCIDENT events of LOST_EVENTS read: the server says changes may be missing from its binlog there.");
  buf_printf(b, "binhook_binlog_incidents_total %llu\n", s->incidents);
  metric_head(b, "binhook_binlog_lag_seconds", "gauge",
              "How far behind the server reading is: the last event's age when it was read (0 after a "
              "heartbeat), growing with the clock while reading is paused or the connection is down.");
  buf_printf(b, "binhook_binlog_lag_seconds %.0f\n", s->lag);
  metric_head(b, "binhook_binlog_events_total", "counter", "Events read from the binlog, by type.");
  static const enum event_type shown[] = {EVENT_INSERT, EVENT_UPDATE, EVENT_DELETE, EVENT_SNAPSHOT, EVENT_STATEMENT,
                                          EVENT_COMMIT, EVENT_HEARTBEAT};
  for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
    buf_printf(b, "binhook_binlog_events_total{type=\"%s\"} %llu\n", change_type_name(shown[i]), s->events[shown[i]]);
  metric_head(b, "binhook_rule_matches_total", "counter", "Changes a rule matched, by rule.");
  for (size_t i = 0; i < s->nrules; i++) {
    labelled(b, "binhook_rule_matches_total", "rule", s->rules[i].name);
    buf_printf(b, "\"} %llu\n", s->rules[i].matches);
  }
}

static void metrics_latency(const struct stats_endpoint *e, struct buf *b)
{
  unsigned long long cum = 0;
  for (size_t i = 0; i <= LANE_NLAT; i++) {
    labelled(b, "binhook_delivery_latency_seconds_bucket", "endpoint", e->name);
    if (i < LANE_NLAT) {
      cum += e->lat_bucket[i];
      buf_adds(b, "\",le=\"");
      buf_add_double(b, lane_lat_bounds[i], 0);
      buf_printf(b, "\"} %llu\n", cum);
    } else {
      buf_printf(b, "\",le=\"+Inf\"} %llu\n", e->lat_count);
    }
  }
  labelled(b, "binhook_delivery_latency_seconds_sum", "endpoint", e->name);
  buf_printf(b, "\"} %.6f\n", e->lat_sum);
  labelled(b, "binhook_delivery_latency_seconds_count", "endpoint", e->name);
  buf_printf(b, "\"} %llu\n", e->lat_count);
}

static void metrics_endpoints(const struct stats *s, struct buf *b)
{
  metric_head(b, "binhook_deliveries_total", "counter",
              "Deliveries by endpoint and result: delivered (2xx), failed (attempts that failed), dead (moved to "
              "the dead letters).");
  for (size_t k = 0; k < s->nendpoints; k++) {
    const struct stats_endpoint *e = &s->endpoints[k];
    const char *res[] = {"delivered", "failed", "dead"};
    unsigned long long v[] = {e->delivered, e->failed, e->dead};
    for (size_t i = 0; i < 3; i++) {
      labelled(b, "binhook_deliveries_total", "endpoint", e->name);
      buf_printf(b, "\",result=\"%s\"} %llu\n", res[i], v[i]);
    }
  }
  metric_head(b, "binhook_delivery_latency_seconds", "histogram",
              "From the change reaching binhook to its acknowledgement, retries included.");
  for (size_t k = 0; k < s->nendpoints; k++) metrics_latency(&s->endpoints[k], b);
  static const struct {
    const char *name, *help;
  } gauges[] = {
      {"binhook_queue_depth", "Deliveries not finished yet (in flight, waiting for a retry or held behind the same row)."},
      {"binhook_queue_oldest_age_seconds", "Age of the oldest unfinished delivery."},
      {"binhook_dead_letters", "Dead letters in the queue."},
      {"binhook_endpoint_up", "0 while the endpoint is disabled (410 Gone) or its circuit breaker is open."},
  };
  for (size_t g = 0; g < 4; g++) {
    metric_head(b, gauges[g].name, "gauge", gauges[g].help);
    for (size_t k = 0; k < s->nendpoints; k++) {
      const struct stats_endpoint *e = &s->endpoints[k];
      labelled(b, gauges[g].name, "endpoint", e->name);
      if (g == 0) buf_printf(b, "\"} %zu\n", e->depth);
      else if (g == 1) buf_printf(b, "\"} %.0f\n", e->oldest_age);
      else if (g == 2) buf_printf(b, "\"} %zu\n", e->dead_letters);
      else buf_printf(b, "\"} %d\n", e->up);
    }
  }
}

static void metrics_snapshot(const struct stats *s, struct buf *b)
{
  const struct snapshot_progress *p = &s->snapshot;
  static const struct {
    const char *name, *help;
  } per_table[] = {{"binhook_snapshot_rows_done", "Rows the initial snapshot has read, by table."},
                   {"binhook_snapshot_rows_estimated", "Rows the tables of the snapshot hold (an estimate)."}};
  for (size_t m = 0; m < 2; m++) {
    metric_head(b, per_table[m].name, "gauge", per_table[m].help);
    for (size_t i = 0; i < p->ntables; i++) {
      labelled(b, per_table[m].name, "table", p->tables[i].schema);
      buf_addc(b, '.');
      add_label(b, p->tables[i].name);
      buf_printf(b, "\"} %" PRIu64 "\n", m ? p->tables[i].estimated : p->tables[i].done);
    }
  }
  metric_head(b, "binhook_snapshot_running", "gauge", "1 while the initial snapshot reads rows.");
  buf_printf(b, "binhook_snapshot_running %d\n", s->snapshot_running);
}

void view_metrics(const struct stats *s, struct buf *b)
{
  metrics_stream(s, b);
  metrics_endpoints(s, b);
  if (s->has_snapshot) metrics_snapshot(s, b);
  metric_head(b, "binhook_queue_bytes", "gauge", "Bytes of the retry queue on disk.");
  buf_printf(b, "binhook_queue_bytes %" PRIu64 "\n", s->queue.bytes);
  metric_head(b, "binhook_state_writable", "gauge", "0 while the state directory cannot be written.");
  buf_printf(b, "binhook_state_writable %d\n", s->writable);
  const char *f = s->cp.pos.file, *dot = strrchr(f, '.');
  metric_head(b, "binhook_checkpoint_file_number", "gauge", "The number of the checkpoint's binlog file.");
  buf_printf(b, "binhook_checkpoint_file_number %llu\n", dot ? strtoull(dot + 1, NULL, 10) : 0ull);
  metric_head(b, "binhook_checkpoint_position_bytes", "gauge", "The checkpoint's offset in that file.");
  buf_printf(b, "binhook_checkpoint_position_bytes %" PRIu64 "\n", s->cp.pos.pos);
}

static void add_str_field(struct buf *b, const char *key, const char *v)
{
  buf_printf(b, "\"%s\":", key);
  if (v) buf_add_json_str(b, v, strlen(v));
  else buf_adds(b, "null");
}

static void status_snapshot(const struct stats *s, struct buf *b)
{
  const struct snapshot_progress *p = &s->snapshot;
  buf_printf(b, "\"snapshot\":{\"running\":%s,\"rows_done\":%" PRIu64 ",\"rows_estimated\":%" PRIu64
             ",\"rate\":%.0f,\"eta_seconds\":%.0f,\"tables\":[",
             s->snapshot_running ? "true" : "false", p->done, p->estimated, p->rate, p->eta);
  for (size_t i = 0; i < p->ntables; i++) {
    buf_printf(b, "%s{\"schema\":", i ? "," : "");
    buf_add_json_str(b, p->tables[i].schema, strlen(p->tables[i].schema));
    buf_adds(b, ",\"table\":");
    buf_add_json_str(b, p->tables[i].name, strlen(p->tables[i].name));
    buf_printf(b, ",\"rows_done\":%" PRIu64 ",\"rows_estimated\":%" PRIu64 ",\"finished\":%s}", p->tables[i].done,
               p->tables[i].estimated, p->tables[i].finished ? "true" : "false");
  }
  buf_adds(b, "]},");
}

/* What the console shows of an endpoint beyond the counters: where it
 * goes (no credentials, path or query), its concurrency, and its last
 * attempts as the attempt log holds them. */
static void status_endpoint_more(const struct stats_endpoint *e, struct buf *b)
{
  const struct attempt_figures *f = &e->fig;
  add_str_field(b, "where", e->where[0] ? e->where : NULL);
  buf_printf(b, ",\"kind\":\"%s\",\"concurrency\":%u,\"attempts\":{\"held\":%zu,\"delivered\":%zu,",
             e->is_mail ? "smtp" : "http", e->concurrency, f->n, f->ok);
  if (f->n) buf_printf(b, "\"success_rate\":%.4f,\"p50_seconds\":%.6f,\"p99_seconds\":%.6f,",
                       (double)f->ok / (double)f->n, f->p50, f->p99);
  else buf_adds(b, "\"success_rate\":null,\"p50_seconds\":null,\"p99_seconds\":null,");
  buf_printf(b, "\"last_ok\":%s,\"last_error\":", f->newest_ok < 0 ? "null" : f->newest_ok ? "true" : "false");
  if (f->last_error_at) {
    buf_printf(b, "{\"at\":%.3f,\"status\":", f->last_error_at);
    if (f->last_status) buf_printf(b, "%ld", f->last_status);
    else buf_adds(b, "null");
    buf_adds(b, ",");
    add_str_field(b, "error", f->last_error);
    buf_adds(b, "}}");
  } else {
    buf_adds(b, "null}");
  }
}

void view_status(const struct stats *s, struct buf *b)
{
  buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"uptime_seconds\":%.0f,", BINHOOK_VERSION, s->pid,
             difftime(s->now, s->started));
  add_str_field(b, "config", s->config_path);
  if (s->in_db) {
    buf_adds(b, ",\"role\":\"active\",");
    add_str_field(b, "store", s->store);
    buf_adds(b, ",\"lease\":{");
    add_str_field(b, "host", s->lease_host);
    buf_printf(b, ",\"pid\":%ld,\"epoch\":%llu,\"age_seconds\":%.1f,\"takeovers\":%llu}", s->lease_pid,
               s->lease_epoch, s->lease_age, s->takeovers);
  }
  buf_printf(b, ",\"source\":{\"streaming\":%s,\"lag_seconds\":%.0f,\"paused\":%s", s->streaming ? "true" : "false",
             s->lag, s->paused ? "true" : "false");
  if (s->server_id) {
    buf_adds(b, ",");
    add_str_field(b, "server", s->server);
    buf_printf(b, ",\"server_id\":%u,\"resumes_by\":\"%s\"", s->server_id, s->by_gtid ? "gtid" : "file");
  }
  if (s->source_error[0]) {
    buf_adds(b, ",");
    add_str_field(b, "error", s->source_error);
  }
  buf_adds(b, "},");
  buf_adds(b, "\"checkpoint\":{");
  add_str_field(b, "file", s->cp.pos.file);
  buf_printf(b, ",\"pos\":%" PRIu64 ",", s->cp.pos.pos);
  add_str_field(b, "gtid", s->cp.pos.gtid[0] ? s->cp.pos.gtid : NULL);
  buf_adds(b, ",");
  add_str_field(b, "gtid_state", s->cp.gtid_state ? s->cp.gtid_state->s : NULL);
  if (s->cp.saved) buf_printf(b, ",\"saved\":%lld,\"age_seconds\":%.0f", (long long)s->cp.saved,
                              difftime(s->now, (time_t)s->cp.saved));
  buf_printf(b, "},\"queue\":{\"bytes\":%" PRIu64 ",\"waiting\":%zu,\"dead\":%zu,\"writable\":%s},", s->queue.bytes,
             s->queue.live, s->queue.dead, s->writable ? "true" : "false");
  if (s->has_snapshot) status_snapshot(s, b);
  unsigned long long changes = s->events[EVENT_INSERT] + s->events[EVENT_UPDATE] + s->events[EVENT_DELETE] +
                               s->events[EVENT_SNAPSHOT] + s->events[EVENT_STATEMENT];
  buf_printf(b, "\"totals\":{\"changes\":%llu,\"matches\":%llu,\"delivered\":%llu,\"failed_attempts\":%llu,\"dead\":%llu,"
             "\"restored\":%llu},\"endpoints\":[",
             changes, s->matched, s->delivered, s->failures, s->dead, s->restored);
  for (size_t k = 0; k < s->nendpoints; k++) {
    const struct stats_endpoint *e = &s->endpoints[k];
    buf_adds(b, "{");
    add_str_field(b, "name", e->name);
    buf_printf(b, ",\"up\":%s,\"disabled\":%s,\"circuit_open\":%s,\"in_flight\":%zu,\"depth\":%zu,"
               "\"oldest_age_seconds\":%.0f,\"dead_letters\":%zu,\"delivered\":%llu,\"failed_attempts\":%llu,",
               e->up ? "true" : "false", e->disabled ? "true" : "false", e->circuit_open ? "true" : "false",
               e->in_flight, e->depth, e->oldest_age, e->dead_letters, e->delivered, e->failed);
    status_endpoint_more(e, b);
    buf_adds(b, k + 1 < s->nendpoints ? "}," : "}");
  }
  buf_adds(b, "]}\n");
}
