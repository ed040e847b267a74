/* options.c - see options.h. */
#include "source/options.h"

#include "util/util.h"

#include <stdlib.h>
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
  size_t n = config_source_nurls(cfg);
  if (n > 1) out->more = xcalloc(n - 1, sizeof *out->more);
  for (size_t i = 1; i < n; i++) {
    if (config_source_conn_at(cfg, i, &out->more[i - 1], err, errsz)) {
      source_opts_free(out);
      return -1;
    }
    out->nmore++;
  }
  out->resume = s->resume == CONFIG_RESUME_GTID   ? SOURCE_RESUME_GTID
                : s->resume == CONFIG_RESUME_FILE ? SOURCE_RESUME_FILE
                                                  : SOURCE_RESUME_AUTO;
  out->server_id = s->server_id;
  out->include = s->tables;
  out->exclude = s->exclude;
  out->heartbeat = s->heartbeat;
  out->queue_events = s->queue_events;
  out->queue_bytes = s->queue_bytes;
  out->slot = s->slot;
  out->publication = s->publication;
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
  out->slot = s->slot;
  out->publication = s->publication;
}
