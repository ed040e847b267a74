/* change.h - the canonical change event of docs/DESIGN.md: what the source hands to
 * the main loop, what rules and templates see and what `binhook tail` prints.
 *
 * An event owns its arena (the bytes of its string values), its value arrays
 * and a reference to the table definition it was decoded with; change_free
 * releases all of it. Events travel between threads, so everything they
 * share (tables, SQL text) is reference-counted atomically. */
#ifndef BH_CHANGE_H
#define BH_CHANGE_H

#include "util/buf.h"
#include "source/schema.h"

#include <stddef.h>
#include <stdint.h>

enum val_kind {
  VAL_ABSENT, /* not in the row image (partial images) */
  VAL_NULL,
  VAL_INT,     /* i */
  VAL_UINT,    /* u */
  VAL_FLOAT,   /* d, from a 4-byte FLOAT: printed with float precision */
  VAL_DOUBLE,  /* d */
  VAL_DECIMAL, /* text in the arena, exact, printed as a JSON string */
  VAL_STRING,  /* UTF-8 text in the arena (also dates, times, WKT) */
  VAL_BYTES,   /* raw bytes in the arena, printed as base64 */
  VAL_JSON,    /* JSON text in the arena, printed as is */
  VAL_ENUM,    /* u = 1-based index, 0 for the empty value; labels from the column */
  VAL_SET,     /* u = bitmask over the column's labels */
  VAL_BIT,     /* u */
};

struct value {
  uint8_t kind;
  uint32_t len; /* arena bytes for text kinds */
  union {
    int64_t i;
    uint64_t u;
    double d;
    size_t off; /* arena offset for text kinds */
  };
};

/* Shared immutable text (the SQL of a statement, shared by all its rows). */
struct rcstr {
  int refs;           /* atomic */
  char refs_line[60]; /* the count alone on its cache line: each row of a statement takes a reference, other
                         threads read the text meanwhile */
  size_t len;
  char *json; /* the quoted JSON form, made on first use (atomic pointer); rcstr_json gives its length */
  char s[];
};
/* The quoted JSON string of r, computed once and shared by all its users. */
const char *rcstr_json(struct rcstr *r, size_t *len);
struct rcstr *rcstr_new(const char *s, size_t n);
struct rcstr *rcstr_ref(struct rcstr *r);
void rcstr_unref(struct rcstr *r);

enum event_type {
  EVENT_INSERT,
  EVENT_UPDATE,
  EVENT_DELETE,
  EVENT_SNAPSHOT,
  EVENT_STATEMENT,
  EVENT_COMMIT,    /* end of a transaction: the position after it is a safe resume point */
  EVENT_HEARTBEAT, /* no change, but the stream's position moved (idle server, filtered events) */
  EVENT_ALERT,     /* made by a threshold rule at the end of a transaction: see struct alert */
  EVENT_PULSE,     /* "heartbeat" to rules: made by binhook run every [source] heartbeat_events while it
                      streams, so that a consumer can tell a quiet database from a dead pipeline: see
                      struct pulse */
};

/* What a heartbeat event (EVENT_PULSE) tells: its position is the last
 * transaction boundary read, its ts when it was made. */
struct pulse {
  double lag;      /* seconds the stream was behind the server at the last event read */
  char *server;    /* the server read from, "host:port" (or the socket path) */
};

/* What a threshold rule counted in one table in one transaction. */
struct alert {
  char *rule;
  uint64_t threshold;
  uint64_t inserts, updates, deletes;
  char *sample_keys; /* a JSON array of the first rows' keys (or rows, without a key) */
};

enum statement_kind { STMT_DDL, STMT_DCL, STMT_OTHER };

#define POS_FILE_MAX 256
#define GTID_MAX 160

struct position {
  char file[POS_FILE_MAX];
  uint64_t pos;
  char gtid[GTID_MAX];
};

struct change {
  struct change *next; /* queue link */
  enum event_type type;
  uint32_t ts;          /* commit time, seconds since the epoch */
  uint32_t server_id;
  struct position position; /* of the event that carried this change */
  uint64_t tx_pos;          /* offset where the transaction starts */
  uint32_t tx_index;        /* 0-based number of this change in its transaction */
  uint64_t end_pos;         /* COMMIT, HEARTBEAT: resume position (file in position.file) */
  uint8_t xa_held;          /* COMMIT, HEARTBEAT: a prepared XA transaction is held (its changes come at
                               its XA COMMIT), so a checkpoint must not move here */
  uint8_t pg_lsn;           /* a PostgreSQL event: position.file is its commit LSN's text and
                               position.pos its transaction id, printed as "position":{"lsn","xid"} */
  struct rcstr *gtid_state; /* COMMIT, HEARTBEAT: the full GTID state after it (source/gtidstate.h),
                               shared, or NULL when the stream does not know it */
  struct table *table;      /* row events */
  struct value *before, *after; /* table->ncols values each, or NULL */
  struct rcstr *sql;        /* statement text or annotated SQL, or NULL */
  enum statement_kind kind; /* statements */
  uint32_t thread_id;       /* statements */
  size_t schema_off, schema_len; /* statements: the default database, in the arena */
  size_t user_off, user_len; /* statements: who ran it, "user@host", in the arena (change_set_user);
                                user_len 0: unknown (the connection was gone, or binlog files) */
  size_t tag_off, tag_len;       /* statements a PostgreSQL event trigger told of: the command tag
                                    ("DROP TABLE"), in the arena; tag_len 0: not told (the binlog's) */
  size_t object_off, object_len; /* and the objects' identities ("public.orders"), in the arena */
  struct alert *alert;      /* EVENT_ALERT, owned */
  struct pulse *pulse;      /* EVENT_PULSE, owned */
  struct buf arena;
  uint32_t nvals;           /* values before and after each have room for (change_new's) */
  struct rcstr *kept_sql;   /* change_new's: the statement text a reused event held, for change_set_sql */
};

/* A new zeroed event of type; values arrays allocated for row events when
 * table is given (the event takes a new reference to it). */
struct change *change_new(enum event_type type, struct table *table);
void change_free(struct change *e);
/* Sets e->sql to a new reference to sql (which may be NULL). Use it for
 * the rows of a statement: an event change_free kept for reuse keeps its
 * table and its text referenced, and one made again for the same table and
 * text takes no new reference (a reference is an atomic operation on
 * memory other threads read: two per row made the reading thread wait). */
void change_set_sql(struct change *e, struct rcstr *sql);
/* Sets the "user" of a statement event: n bytes of s, copied into its
 * arena. */
void change_set_user(struct change *e, const char *s, size_t n);
/* Sets the command tag and the objects of a statement event (either may be
 * NULL), copied into its arena. */
void change_set_ddl(struct change *e, const char *tag, const char *object);
/* e's position as the event prints it: {"file","pos"[,"gtid"]}, or for
 * PostgreSQL {"lsn","xid"} ({"lsn"} alone for a snapshot row or a
 * heartbeat event). */
void change_position_to_json(const struct change *e, struct buf *out);
/* The "user" of a statement event ("unknown" when nobody could tell), with
 * its length in *len; NULL for other events. Points into e. */
const char *change_user(const struct change *e, size_t *len);
/* A new update of first's row made of first's before image and last's after
 * image, with last's position and id (coalescing: several updates of a row
 * delivered as one). Both are updates of tables with the same columns. */
struct change *change_merged(const struct change *first, const struct change *last);
/* Approximate memory held, for the queue's byte bound. */
size_t change_size(const struct change *e);

/* The stable id of a change: "GTID/INDEX", or "FILE:TXPOS/INDEX" without
 * GTIDs; "snapshot:FILE:POS/N" (or "snapshot:GTID/N") for the Nth row a
 * snapshot taken at that position read; "heartbeat:TS@FILE:POS" for a
 * heartbeat event (never a change's: those start with a GTID, a file name
 * or "snapshot:"). */
void change_id(const struct change *e, struct buf *out);

/* Appends the canonical JSON object (one line, no newline) for a change or
 * statement event. */
void change_to_json(const struct change *e, struct buf *out);

/* The parts of the canonical JSON, for templates: an image ("before" or
 * "after") as an object of its present columns; the "key" object (null
 * without a primary key); the "changed" array of an update; the "ts" string
 * with its quotes. */
void change_image_to_json(const struct change *e, const struct value *vals, struct buf *out);
void change_key_to_json(const struct change *e, struct buf *out);
void change_changed_to_json(const struct change *e, struct buf *out);
void change_ts_to_json(uint32_t ts, struct buf *out);
/* 1 when column i of an update counts as changed (the rule of "changed"). */
int change_column_changed(const struct change *e, uint32_t i);

/* Appends the JSON of one value of column c (null for VAL_ABSENT). */
void value_to_json(const struct change *e, const struct column *c, const struct value *v, struct buf *out);

/* 1 when the two values are equal (same kind and same content). */
int value_equal(const struct change *e, const struct value *a, const struct value *b);

const char *change_type_name(enum event_type t);
const char *statement_kind_name(enum statement_kind k);

#endif
