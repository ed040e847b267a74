/* snapshot_int.h - inside the snapshot module: the structures its files
 * share and the functions one file offers the others. Nothing outside
 * gateway/snapshot/ includes it; snapshot.h is the public contract.
 *
 * Two threads touch a struct snapshot once snapshot_start has run:
 *
 * - the snapshot thread (snapshot_main in snapshot.c, or the caller of
 *   snapshot_run) owns the reading: the connection m while a transaction
 *   is open, tabs (segments, bands, present keys), cur, seq, ordinal;
 * - the consumer (the daemon's main loop, binhook tail) pops the events,
 *   calls snapshot_commit, snapshot_filter and snapshot_progress_get.
 *
 * What crosses between them:
 * - under lock: m (snapshot_stop shuts its socket down to wake a blocked
 *   read), the pending states (pend) and the sent chunks (sent) that
 *   snapshot_commit writes, committed_rows, and the progress copy (prog);
 * - atomics: stop (asked from any thread), streaming (the thread handed
 *   the queue to the source), complete (every row emitted);
 * - through the queue: failed, err and errc are written by the thread
 *   before it closes the queue and read by the consumer after the queue
 *   has ended; the filter's state (window_open, maxpos) is set by the
 *   thread at the end of reading, before the stream's first event is
 *   queued, and used by the consumer only;
 * - current, rows_run, t0 and finished are written by the thread and read
 *   by snapshot_progress_get without a common lock (a figure of progress
 *   at worst one chunk old).
 *
 * The comparison connection cmp and the filter's column map belong to
 * whoever compares keys: the thread while it notes the rows of bands (a
 * resumed snapshot), the consumer's filter after that; never both at once,
 * since the stream's events come after the snapshot's. */
#ifndef BH_SNAPSHOT_INT_H
#define BH_SNAPSHOT_INT_H

#include "snapshot/snapshot.h"
#include "source/charset.h"
#include "util/buf.h"
#include "util/errcode.h"
#include "util/json.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_NAME "snapshot.json"
#define SENT_NAME "snapshot-sent.json" /* chunks sent whose state is not yet committed */
#define STATE_FORMAT_SNAPSHOT 1
#define MARKER_TAG UINT64_MAX /* tx_pos of a chunk marker: no transaction starts there */
#define KEY_PARTS_MAX 64

/* How a column is fetched and turned into a value. */
enum fk {
  FK_INT,
  FK_YEAR,
  FK_FLOAT,
  FK_DOUBLE,
  FK_DECIMAL,
  FK_DATE,
  FK_DATETIME,
  FK_TIMESTAMP,
  FK_TIME,
  FK_BIT,
  FK_ENUM,
  FK_SET,
  FK_STRING,
  FK_GEOMETRY,
  FK_JSON,
  FK_VECTOR,
  FK_CASTBIN,
};

struct scol {
  char *name;
  char *data_type; /* information_schema DATA_TYPE, lowercase */
  enum fk fk;
  int uns;                   /* integer UNSIGNED */
  int fsp;                   /* fraction digits of temporal types */
  char *charset, *collation; /* text columns; NULL otherwise */
  int server_cmp;            /* ordered by the server's collation or type: compared by asking it */
  unsigned cast_len;         /* FK_CASTBIN: bytes of the binary form */
  uint32_t pg_oid, pg_elem;  /* PostgreSQL: the type, and an array's element type */
};

/* The primary key values of one row. Text ordered by the server is kept as
 * the column's raw bytes (VAL_BYTES), so that a bound is exact whatever its
 * charset; other values as the event has them. */
struct key {
  uint32_t n;
  struct value *v;
  struct buf arena;
};

/* Keys after the previous segment's bound up to upto (NULL: to the end)
 * were read by the snapshot at pos. */
struct seg {
  struct position pos;
  struct key *upto;
};

/* Keys after `after` up to `upto` (NULL: from the table's start, to its
 * end) were sent as read at pos by a run that stopped before that chunk's
 * state was committed: a receiver may hold those rows as they were at pos,
 * while the state has them read again later. */
struct band {
  struct position pos;
  struct key *after, *upto;
};

/* One fetched column of the current row, bound to the statement. */
struct cell {
  union {
    long long ll;
    float f;
    double d;
    MYSQL_TIME tm;
  } n;
  char *data;
  unsigned long cap, len;
  my_bool null, error;
};

struct stab {
  char *schema, *name;
  uint64_t estimated;
  uint64_t rows; /* emitted, all runs */
  struct seg *segs;
  size_t nsegs;
  struct band *bands;
  size_t nbands;
  /* the keys (key_to_json of the event form) that the reads after the
   * bands found in them: a row of a band not among them was deleted before
   * it was read again, and its changes since the band's read are passed */
  char **present;
  size_t npresent, cpresent;
  int present_sorted, collecting;
  uint32_t announced; /* chunks after the current one in the range last announced */
  int done, listed, warned;
  /* while it is read */
  struct table *t;
  struct scol *cols;
  uint32_t ncols, npk;
  uint32_t *pk;
  struct cell *cells;
  MYSQL_BIND *binds;
  uint64_t rows_run;
  double started, ended;
};

/* A chunk announced before its rows are sent (SENT_NAME), until the state
 * at its marker is committed. */
struct sent {
  uint64_t seq; /* the marker after the chunk */
  char *json;
};

/* A state written at a marker, waiting for the caller's commit. */
struct pending {
  uint64_t seq, ordinal;
  char *json;
  struct pending *next;
};

struct snapshot {
  struct snapshot_opts o;
  char **include, **exclude;
  char *state_dir;
  struct charset_conv *cs;
  pthread_mutex_t lock; /* m (for stop), pending, sent, committed_rows, progress */
  MYSQL *m;             /* the snapshot transaction */
  struct pg_conn *pg;   /* PostgreSQL (o.conn.postgres): the snapshot transaction, pg_read.c */
  int mariadb;
  enum snapshot_lock used_lock;
  struct position handover; /* the first snapshot's position: where the stream starts */
  struct position cur;      /* this transaction's position */
  uint32_t ts;
  struct stab *tabs;
  size_t ntabs, current;
  uint64_t ordinal, seq;
  int begun, finished, resumed, reopens;
  struct pending *pend, **pend_tail;
  struct sent *sent; /* under lock */
  size_t nsent;
  /* chunks of the last run's sent file taken into tabs (statefile_take_sent):
   * the state is to be rewritten before anything is sent. Not nsent: those
   * chunks have no entry in sent, and snapshot_free walks sent by nsent. */
  size_t taken_sent;
  uint64_t committed_rows;
  /* progress */
  struct snapshot_table_progress *prog;
  double t0;
  uint64_t rows_run;
  /* the filter */
  int window_open;
  struct position maxpos;
  MYSQL *cmp;
  const struct table *fmap_table; /* the table of the mapping below (a reference is held) */
  uint32_t *fmap;
  /* the thread */
  pthread_t thread;
  int thread_started;
  atomic_int stop, streaming, complete;
  struct source *src;
  struct changeq *q;
  int failed;
  enum bh_errc code; /* beside the message being written (snap_fail) */
  enum bh_errc errc; /* of the failure reported: snapshot_errc */
  char err[2048];
};

/* ---- snapshot.c: life cycle, the snapshot's tables, failures ---- */

/* Closes the transaction's connection (under lock: snapshot_stop may be
 * shutting it down). */
void snap_close(struct snapshot *s);

/* Notes code as the cause of the failure whose message is being written;
 * returns -1. */
int snap_fail(struct snapshot *s, enum bh_errc code);

/* server_exec and server_query (source/server.h) that note the code of
 * m's error when they fail. */
int snap_exec(struct snapshot *s, MYSQL *m, const char *sql, char *err, size_t errsz);
MYSQL_RES *snap_query(struct snapshot *s, MYSQL *m, const char *sql, char *err, size_t errsz);

/* Publishes the code of the failure begin or run returns (BH_E_OTHER when
 * none was noted, BH_E_NONE after a stop); returns -1. */
int snap_failed(struct snapshot *s);

void stab_unload(struct stab *t);
struct stab *stab_find(struct snapshot *s, const char *schema, const char *name);
struct stab *stab_add(struct snapshot *s, const char *schema, const char *name);
/* Adds key text (taken) to t's present keys. */
void stab_present_add(struct stab *t, char *text);

/* ---- open.c: the consistent-snapshot transaction ---- */

/* Connects m, checks the binlog is on and sets the session up for reading. */
int open_session(struct snapshot *s, char *err, size_t errsz);

/* Starts the consistent-snapshot transaction on m and sets cur; with add,
 * tables selected since the state was written are added. */
int open_tx(struct snapshot *s, int add, char *err, size_t errsz);

/* ---- read.c: reading, in the snapshot thread ---- */

/* Reads the columns and the primary key of t from information_schema over
 * m. 0, 1 when the table is gone, -1 with err. */
int read_load_table(struct snapshot *s, struct stab *t, char *err, size_t errsz);

/* ---- filter.c: the handover filter ---- */

/* Orders the key values vals (one per key part, text in arena) against
 * bound u: *out < 0, 0 or > 0. -1 when it cannot be told. */
int filter_key_order(struct snapshot *s, const struct stab *t, const struct value *const *vals,
                     const char *arena, const struct key *u, int *out);

/* Sets maxpos and window_open from the segments: the filter drops changes
 * only until the stream passes the last snapshot's position. */
void filter_window(struct snapshot *s);

/* ---- key.c: primary key values ---- */

struct key *key_new(uint32_t n);
void key_free(struct key *k);
void key_reset(struct key *k);
/* Sets slot j to n bytes of text of kind (copied into k's arena). */
void key_set_text(struct key *k, uint32_t j, uint8_t kind, const void *p, size_t n);
/* Copies value v (text in arena) into slot j. */
void key_set_value(struct key *k, uint32_t j, const struct value *v, const char *arena);
struct key *key_copy(const struct key *src);

/* A key as a JSON array of strings "KIND:VALUE", exact for every kind. */
void key_to_json(const struct key *k, struct buf *b);
/* The key of key_to_json's array arr (caller frees), or NULL with err. */
struct key *key_from_json(const struct jv *arr, char *err, size_t errsz);

/* Compares two values of column c here, as the server orders them (not
 * for columns the server orders: filter.c asks it). -1, 0 or 1. */
int key_value_cmp(const struct scol *c, const struct value *a, const char *aa, const struct value *b,
                  const char *ba);

/* Appends the SQL literal of value v of column c (a key bound). */
void key_add_literal(const struct scol *c, const struct value *v, const char *arena, struct buf *b);

/* Appends k as "(v1, v2)" for messages. */
void key_text(const struct stab *t, const struct key *k, struct buf *b);

/* The text present holds for the key values vals (caller frees): the event
 * form, so that a row read by the snapshot and a change of it give the
 * same. */
char *key_image(const struct stab *t, const struct value *const *vals, const char *arena);

/* ---- convert.c: fetched values as the binlog decoder gives them ---- */

/* The type family of an information_schema DATA_TYPE: how it is fetched,
 * the binlog type code its values would have (*mt) and, for MariaDB's own
 * types, the size of their binary form (*cast_len). */
enum fk conv_classify(const char *data_type, uint8_t *mt, unsigned *cast_len);

/* The labels of "enum('a','it''s')" or "set(...)" (caller frees each and
 * the array), *n of them. */
char **conv_labels(const char *column_type, uint32_t *n);

/* Binds the result columns (fields) to t's cells. */
void conv_bind(struct stab *t, const MYSQL_FIELD *fields);

/* One fetched cell x of column c as the decoder would give the value, its
 * text in arena. 0, or -1 with err. */
int conv_cell(struct charset_conv *cs, const struct scol *c, const MYSQL_FIELD *f, const struct cell *x,
              struct value *v, struct buf *arena, char *err, size_t errsz);

/* ---- statefile.c: the state file and the sent file ---- */

/* The state as it is now; done: the last chunk is read. */
void statefile_json(struct snapshot *s, int done, struct buf *b);

/* Reads file name of the state directory dir into out: 1, or 0 when there
 * is none, -1 with err. */
int statefile_read(const char *dir, const char *name, struct buf *out, char *err, size_t errsz);

/* Loads the state text into s (tables with their segments and bands);
 * *done: the snapshot was finished. 0, or -1 with err. */
int statefile_load(struct snapshot *s, const struct buf *text, int *done, char *err, size_t errsz);

/* The chunks the last run announced in SENT_NAME become bands of their
 * tables; taken_sent counts them until the state holds them. */
int statefile_take_sent(struct snapshot *s, char *err, size_t errsz);

/* Writes the state as it is now (before this run sends anything). */
int statefile_write(struct snapshot *s, char *err, size_t errsz);

int statefile_remove_sent(const char *dir, char *err, size_t errsz);

/* Makes band g of t durable in SENT_NAME, as the chunks up to marker seq,
 * with the other chunks sent whose state is not committed yet. */
int statefile_announce(struct snapshot *s, const struct stab *t, const struct band *g, uint64_t seq,
                       char *err, size_t errsz);

/* Keeps the state as it is now until the caller commits marker seq. */
void statefile_pend(struct snapshot *s, uint64_t seq, int done);

/* ---- pg_read.c: PostgreSQL, in place of open.c's transaction and
 * read.c's queries ---- */

/* Connects pg (a plain connection in the values' session settings). */
int pg_snap_session(struct snapshot *s, char *err, size_t errsz);

/* Opens the snapshot transaction on pg in a slot's exported snapshot and
 * sets cur to the slot's consistent point: the configured slot, made anew,
 * for a new snapshot (first); a temporary slot of its own for a resumed
 * one. The published tables selected are listed (and added). */
int pg_snap_open_tx(struct snapshot *s, int first, char *err, size_t errsz);

/* read_load_table and read.c's read_chunk for PostgreSQL. */
int pg_snap_load_table(struct snapshot *s, struct stab *t, char *err, size_t errsz);
int pg_snap_read_chunk(struct snapshot *s, struct stab *t, uint64_t limit, struct key **probe, uint64_t *nrows,
                       char *err, size_t errsz);

/* read.c's helpers pg_read.c shares: a fetched row's event out (or, with
 * probe, only its key into lk; 0 or -1), and the segment the transaction
 * writes into. */
int read_take_event(struct snapshot *s, struct stab *t, struct change *e, struct key *lk, int probe, char *err,
                    size_t errsz);
struct seg *read_cur_seg(struct snapshot *s, struct stab *t);
const struct key *read_last_key(const struct stab *t);

/* ---- progress.c ---- */

/* A fresh progress copy of the tables (after they are known). */
void progress_setup(struct snapshot *s);

/* Updates the progress copy and shows it: at most every 0.2 s unless
 * force. */
void progress_report(struct snapshot *s, int force);

/* Ends the progress bar's line, so that a message starts below it. */
void progress_bar_break(void);

#endif
