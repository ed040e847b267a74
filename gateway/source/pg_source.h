/* pg_source.h - the live change stream of a PostgreSQL server: logical
 * replication through a slot with the pgoutput plugin, behind the
 * functions of source/source.h (source.c hands a postgresql:// source
 * here).
 *
 * At the start it makes what is missing and may be made: the publication
 * (FOR ALL TABLES) and the slot, or says which SQL to run when the user may
 * not. A reader thread streams (START_REPLICATION ... LOGICAL, protocol
 * version 1, messages on), decodes the messages (source/pg_decode.h) and
 * pushes the events into the bounded change queue a transaction (or a
 * thousand changes) at a time; on connection loss it reconnects with
 * backoff and resumes at the last transaction boundary, dropping the
 * changes of the open transaction it had pushed already.
 *
 * The slot's confirmed flush LSN moves only by pg_source_confirm: the
 * consumer says what it checkpointed, the reader reports it in its next
 * status update. A reader no one confirms to (tail) never moves a slot. */
#ifndef BH_PG_SOURCE_H
#define BH_PG_SOURCE_H

#include "event/changeq.h"
#include "source/source.h"
#include "util/errcode.h"

#include <stddef.h>
#include <stdint.h>

struct pg_source;

/* The options of a postgresql:// source (o->conn.postgres), copied. */
struct pg_source *pg_source_new(const struct source_opts *o);

/* Connects, makes the publication and the slot when missing, requests the
 * stream and starts the reader thread. Returns 0, or -1 with err. */
int pg_source_start(struct pg_source *s, char *err, size_t errsz);

/* Where the stream was requested from: the LSN as file and pos. */
const struct position *pg_source_start_position(struct pg_source *s, uint32_t *skip);

struct changeq *pg_source_queue(struct pg_source *s);
int pg_source_connected(struct pg_source *s);
uint32_t pg_source_server(struct pg_source *s, char *where, size_t size);
int pg_source_retry_error(struct pg_source *s, char *out, size_t size);
const char *pg_source_error(struct pg_source *s);
enum bh_errc pg_source_errc(struct pg_source *s);

/* Everything before lsn is checkpointed: the next status update reports
 * it as flushed. Any thread. */
void pg_source_confirm(struct pg_source *s, uint64_t lsn);

void pg_source_stop(struct pg_source *s);
void pg_source_free(struct pg_source *s);

/* Opens a connection to the PostgreSQL server of c (libpq), in the session
 * settings the values are read in (source/pg_types.h): a replication
 * connection to its database (replication) or a plain one. The caller
 * PQfinish-es it. NULL with err, *code BH_E_ACCESS or BH_E_CONNECT. */
struct pg_conn *pg_source_connect(const struct conn_opts *c, int replication, enum bh_errc *code, char *err,
                                  size_t errsz);

#endif
