/* source.h - the live change stream. A source connects to the server as a
 * replica (COM_REGISTER_SLAVE with the configured server_id, then
 * COM_BINLOG_DUMP), reads raw events in its own thread (the fetch blocks),
 * decodes them and pushes canonical events into a bounded change queue (event/changeq.h).
 * On connection loss it reconnects with backoff and resumes at the last
 * transaction boundary, dropping the changes of the open transaction it had
 * already delivered, so the consumer sees every change exactly once. With
 * several servers of one topology it tries the same server again, then the
 * others in turn; it resumes by the GTID state wherever the server has
 * GTIDs (so on any server of the topology), by file:pos only on the server
 * that wrote that binlog, and refuses a server that lacks transactions it
 * read already (check_holds).
 *
 * A postgresql:// URL makes a PostgreSQL source instead (source/pg_source.h,
 * logical replication with pgoutput) behind the same functions.
 *
 * The consumer pops events with source_next (or waits on changeq_fd of
 * source_queue) until it gets NULL: then source_error says why the stream
 * ended (NULL after source_stop). */
#ifndef BH_SOURCE_H
#define BH_SOURCE_H

#include "source/conn.h"
#include "event/change.h"
#include "event/changeq.h"

#include <stddef.h>
#include <stdint.h>

enum start_kind { START_END, START_BEGINNING, START_FILE, START_GTID };

struct start_pos {
  enum start_kind kind;
  char file[POS_FILE_MAX];
  uint64_t pos;
  uint32_t skip; /* FILE:OFFSET+K: drop the first K changes of that transaction */
  char gtid[1024];
};

/* Parses end | start | FILE:OFFSET[+K] | gtid:SET. Returns 0 or -1 with err. */
int start_pos_parse(const char *s, struct start_pos *out, char *err, size_t errsz);

/* How a stream goes on at a reconnect, and at a start with a GTID state. */
enum source_resume {
  SOURCE_RESUME_AUTO, /* by the GTID state when the server has GTIDs and the state is known, else file:pos */
  SOURCE_RESUME_GTID, /* by the GTID state; a server without GTIDs is refused */
  SOURCE_RESUME_FILE, /* by file:pos, on the server whose binlog it names only */
};

struct source_opts {
  struct conn_opts conn;   /* the first server; copied */
  struct conn_opts *more;  /* the other servers of the topology, tried after conn in order; copied */
  size_t nmore;
  enum source_resume resume;
  unsigned server_id;
  struct start_pos start;
  const char *gtid_state;  /* the full GTID state at start (a checkpoint's), copied; NULL: ask the server */
  char **include, **exclude; /* table globs, copied; NULL: all / none */
  double heartbeat;        /* seconds; 0: none */
  size_t queue_events, queue_bytes;
  int max_retries;         /* reconnect attempts in a row before giving up; 0: forever */
  /* PostgreSQL (conn.postgres, source/pg_source.h) */
  const char *slot;        /* the logical replication slot; copied; NULL: "binhook" */
  const char *publication; /* the publication streamed; copied; NULL: "binhook" */
  int temp_slot;           /* a temporary slot of this stream's own instead (tail) */
};

/* Frees the connection options of o (conn and more), not o itself. */
void source_opts_free(struct source_opts *o);

struct source;

struct source *source_new(const struct source_opts *o);

/* Connects, resolves the start position, requests the stream and starts the
 * reader thread. The first connection is made here, so that its errors
 * (wrong password, binlog off, unknown file) come back at once. Returns 0 or
 * -1 with err. */
int source_start(struct source *s, char *err, size_t errsz);

/* Where the stream was requested from (after source_start: end and start
 * resolved to a file and offset); *skip gets the changes it skips there. */
const struct position *source_start_position(struct source *s, uint32_t *skip);

/* The next event (caller frees), blocking; NULL at the end of the stream. */
struct change *source_next(struct source *s);
struct changeq *source_queue(struct source *s);

/* 1 while a replication connection is open (streaming), 0 while it is
 * being reopened or after the stream ended. Any thread. */
int source_connected(struct source *s);

/* Which server the stream is on (or was on last): "host:port" into where
 * and its server_id; 0 before the first connection. Any thread. */
uint32_t source_server(struct source *s, char *where, size_t size);

/* 1 when the current (or last) stream was requested by the GTID state, 0
 * by file:pos. Any thread. */
int source_by_gtid(struct source *s);

/* INCIDENT events of LOST_EVENTS read so far (the server says changes may
 * be missing from its binlog there): for /metrics. Any thread. */
unsigned long long source_incidents(struct source *s);

/* Why the last attempt to reconnect failed (into out), 1; 0 when there is
 * none (streaming, or not tried yet). Any thread. */
int source_retry_error(struct source *s, char *out, size_t size);

/* Why the stream ended, or NULL if it was stopped. */
const char *source_error(struct source *s);

/* After source_start failed or the stream ended with source_error: what
 * kind of failure it was: BH_E_PURGED (the server no longer has the binlog
 * asked for), BH_E_REJECTED (it has that binlog but refused the position:
 * not an event boundary, a damaged binlog), BH_E_SERVER_ID (another
 * replica took the server_id), BH_E_ACCESS, BH_E_CONNECT, BH_E_OTHER.
 * Callers decide by it, never by the words of the message. */
enum bh_errc source_errc(struct source *s);

/* The consumer's checkpoint reached p (a COMMIT's or HEARTBEAT's position
 * and end_pos, saved durably): a PostgreSQL source may now tell the server
 * that everything before it is flushed, so that the slot lets the WAL go.
 * Nothing for a binlog source. Any thread. */
void source_confirm(struct source *s, const struct position *p);

/* Asks the reader to stop and waits for it. Safe to call twice. */
void source_stop(struct source *s);
void source_free(struct source *s);

#endif
