/* options.c - see options.h. */
#include "source/options.h"

#include <string.h>

int source_opts_from_config(const struct config *cfg, struct source_opts *out, char *err, size_t errsz)
{
  const struct config_source *s = &cfg->source;
  memset(out, 0, sizeof *out);
  if (config_source_conn(cfg, &out->conn, err, errsz)) return -1;
  if (start_pos_parse(s->start ? s->start : "end", &out->start, err, errsz)) {
    conn_opts_free(&out->conn);
    return -1;
  }
  out->server_id = s->server_id;
  out->include = s->tables;
  out->exclude = s->exclude;
  out->heartbeat = s->heartbeat;
  out->queue_events = s->queue_events;
  out->queue_bytes = s->queue_bytes;
  return 0;
}

void snapshot_opts_from_config(const struct config *cfg, const struct conn_opts *conn,
                               struct snapshot_opts *out)
{
  const struct config_source *s = &cfg->source;
  memset(out, 0, sizeof *out);
  out->conn = *conn;
  out->include = s->tables;
  out->exclude = s->exclude;
  out->chunk_rows = s->snapshot_chunk;
  out->rate = s->snapshot_rate;
  out->lock = s->snapshot_lock;
}
