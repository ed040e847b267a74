/* pg_decode.h - pgoutput's logical replication messages (protocol version
 * 1: Begin, Commit, Origin, Relation, Type, Insert, Update, Delete,
 * Truncate, Message) into the change events of event/change.h, the same
 * events the binlog decoder makes.
 *
 * Relation messages are kept by relation id and replaced when the server
 * sends a new one (after an ALTER TABLE, before the first change that
 * needs it), so every row decodes with the columns of its time; each event
 * holds a reference to its table. Values go through source/pg_types.h.
 *
 * Where an event is (docs/DESIGN.md, "The PostgreSQL source"): a change's
 * position.file is its transaction's commit LSN as PostgreSQL writes it
 * ("0/16B3748"), position.pos the transaction id, tx_pos the commit LSN as
 * a number and tx_index its number in the transaction, so its id,
 * "0/16B3748:23803720/3", is the same whenever it is read again; pg_lsn is
 * set, so the event prints "position":{"lsn":"0/16B3748","xid":731}. A
 * COMMIT event's position.file and end_pos are the LSN after the commit:
 * where a stream resumes, and what the slot may confirm once it is
 * checkpointed.
 *
 * Single-threaded: the source thread's. */
#ifndef BH_PG_DECODE_H
#define BH_PG_DECODE_H

#include "event/change.h"

#include <stddef.h>
#include <stdint.h>

/* Receives each event made (it takes e); returns 0, or -1 with err to stop. */
typedef int (*pg_emit_fn)(void *ctx, struct change *e, char *err, size_t errsz);

/* Called with each new table (a Relation message) before it is used, so
 * that the caller can set what the message does not say: the primary key of
 * a table with REPLICA IDENTITY FULL (table_set_names). */
typedef void (*pg_table_fn)(void *ctx, struct table *t, char identity);

struct pg_decoder;

/* include and exclude are "schema.table" globs (NULL: every table, none),
 * borrowed for the decoder's life. */
struct pg_decoder *pg_decoder_new(pg_emit_fn emit, pg_table_fn on_table, void *ctx, char *const *include,
                                  char *const *exclude);
void pg_decoder_free(struct pg_decoder *d);

/* Decodes one message (the data of an XLogData) that the server sent at
 * wal_start. Returns 0, or -1 with err (a message binhook cannot read, or
 * the emit callback refused). */
int pg_decoder_feed(struct pg_decoder *d, uint64_t wal_start, const unsigned char *p, size_t n, char *err,
                    size_t errsz);

/* 1 between a Begin and its Commit. *commit_lsn gets the open
 * transaction's commit LSN and *emitted the changes made of it so far. */
int pg_decoder_in_tx(const struct pg_decoder *d, uint64_t *commit_lsn, uint32_t *emitted);

/* Drops the first k changes of the transaction that commits at commit_lsn
 * (a stream resumed inside it, whose first changes went out already). */
void pg_decoder_skip(struct pg_decoder *d, uint64_t commit_lsn, uint32_t k);

/* The relations read so far are forgotten (a new connection sends them
 * again). */
void pg_decoder_reset(struct pg_decoder *d);

/* Writes lsn as PostgreSQL does ("16/B374D848") into out. */
void pg_lsn_format(uint64_t lsn, char *out, size_t size);
/* Reads "16/B374D848"; 0, or -1 when s is not an LSN. */
int pg_lsn_parse(const char *s, uint64_t *lsn);

/* Seconds since 1970 of a PostgreSQL timestamp (microseconds since 2000). */
uint32_t pg_time_seconds(int64_t pg_us);

#endif
