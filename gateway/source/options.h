/* options.h - the options of the source (the binlog reader, source.h) and
 * of the snapshot (snapshot.h) as the configuration's [source] gives them:
 * the one place that maps struct config onto them. A command sets what its
 * own options change after the call (tail's --from, --table, --server-id).
 *
 * Ownership: the connection options in struct source_opts are its own
 * (source_opts_free); the table globs are borrowed from the configuration,
 * which must outlive the options (source_new and snapshot_new copy what
 * they keep). */
#ifndef BH_SOURCE_OPTIONS_H
#define BH_SOURCE_OPTIONS_H

#include "config/config.h"
#include "snapshot/snapshot.h"
#include "source/source.h"

#include <stddef.h>

/* Fills out (zeroed first) from [source]: the connection (URL, password,
 * TLS, timeouts), the start position, server_id, tables and exclude, the
 * heartbeat and the queue's bounds. Returns 0, or -1 with err (the password
 * file cannot be read, the start position is wrong); out holds nothing to
 * free then. */
int source_opts_from_config(const struct config *cfg, struct source_opts *out, char *err, size_t errsz);

/* Fills out (zeroed first) from [source] for a snapshot over the connection
 * conn (copied as a struct: its strings stay conn's owner's): tables and
 * exclude, rows per chunk, the rate and the lock. */
void snapshot_opts_from_config(const struct config *cfg, const struct conn_opts *conn,
                               struct snapshot_opts *out);

#endif
