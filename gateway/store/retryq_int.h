/* retryq_int.h - what retryq.c (the queue at run time: the items, the
 * writer, the calls) and retryq_load.c (reading the segments back at open,
 * the accounting against the manifest) share: the record format and struct
 * retryq. Not for other modules: retryq.h is the contract. */
#ifndef BH_RETRYQ_INT_H
#define BH_RETRYQ_INT_H

#include "store/retryq.h"
#include "util/buf.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MAGIC 0x31514842u /* "BHQ1" little-endian */
#define HDR 12            /* magic, body length, CRC-32 of the body */
#define MAX_BODY (1u << 30)
#define DEFAULT_SEGMENT (64ull << 20)

/* R_SEQ opens every segment: the next seq at its creation, so that seqs
 * are never given twice even when every record that used them is gone,
 * and (EXT_V1) the number of the segment before it. */
enum rec_type { R_ADD = 1, R_ATTEMPT, R_DEAD, R_REVIVE, R_DONE, R_SEQ };

/* The version of the extension after the fields of the first format (ADD:
 * the change's binlog position and GTID; R_SEQ: the segment before). */
#define EXT_V1 1

struct item {
  struct retryq_rec r; /* payload NULL */
  uint64_t segno;     /* where its latest ADD record is; segno 0: not written yet */
  uint64_t off;
  uint32_t len;       /* the whole record, header included */
  char *mem;          /* the payload until the record is written */
  size_t memlen;
  struct item *prev, *next; /* seq order */
};

struct seg {
  uint64_t no;
  uint64_t size;
  size_t live;        /* items whose ADD is here */
  uint64_t live_bytes;
};

/* What reading a segment at open found, for the accounting. */
struct seen {
  uint64_t no, raw;   /* its number, its length before any repair */
  uint64_t prev;      /* the segment before it, as its mark says; 0: unknown (older format) */
  size_t bad;         /* damaged records */
  uint64_t bad_bytes, bad_from; /* bytes skipped, from this offset (UINT64_MAX: none) */
};

/* An ADD record inside a batch, placed once the batch is written. */
struct placed {
  uint64_t seq;
  uint64_t off; /* in the batch */
  uint32_t len;
};

/* A change to write to the database (retryq_db.c): the delivery's state
 * as it is when the batch is written. */
enum dbop_kind { DBOP_ADD = 1, DBOP_UPDATE = 2, DBOP_DELETE = 4 };
struct dbop {
  uint64_t seq;
  unsigned kinds; /* of dbop_kind, or'ed: the ops of one batch on one delivery */
};

struct dbstore;

struct retryq {
  char *dir;
  /* in a database ([state] store): the deliveries are rows (retryq_db.c) */
  struct dbstore *db;
  void *dbw, *dbr;             /* MYSQL connections: the writer's, the loop's for reads */
  size_t db_packet;            /* the store's max_allowed_packet on dbw; 0: not asked yet */
  struct dbop *ops;            /* submitted, not yet taken by the writer */
  size_t nops, opscap;
  uint64_t db_bytes;           /* payload bytes in the database */
  uint64_t db_pending;         /* payload bytes of deliveries not yet written */
  int fenced;                  /* a write was refused: another binhook holds the lease; nothing more lands */
  struct retryq_opts o;
  int readonly;
  pthread_mutex_t mu;
  pthread_cond_t wake, written;
  pthread_t writer;
  int started, stop;

  /* items */
  struct item **tab;
  size_t cap, n, ndead;
  struct item *head, *tail;
  uint64_t next_seq;

  /* segments, oldest first; the last is the one appended to */
  struct seg *segs;
  size_t nsegs;
  int active_fd;

  /* records encoded, not yet taken by the writer */
  struct buf pend;
  struct placed *pplaced;
  size_t npplaced, pplaced_cap;
  uint64_t submitted, durable; /* tickets */
  uint64_t batch_bytes;        /* taken by the writer, not yet written */

  struct checkpoint cp;
  uint64_t cp_ticket;
  struct buf ep;             /* the endpoints' state to save (epstate.h) */
  uint64_t ep_gen, ep_saved; /* asked for, saved */
  uint64_t cp_gen, cp_saved; /* checkpoints asked for, the last one saved */

  char error[4400]; /* why writing fails now; "" when it works */
  int notify[2];

  /* the accounting */
  int has_cp;              /* cp_pos holds the last checkpoint saved */
  struct position cp_pos;
  int man_due, man_hold;   /* the manifest is to be written; it waits for retryq_healed */
  uint64_t *unlinks;       /* segments to delete once a manifest without them is written */
  size_t nunlinks;
  uint64_t *done_seen;     /* the seqs of the DONE records read at open */
  size_t ndone, done_cap;
  struct retryq_damage dmg;
  int damaged;
};

/* The body of a record; with want_payload the payload too. */
struct decoded {
  enum rec_type type;
  uint64_t seq;
  struct retryq_rec r; /* ADD */
  uint32_t attempts;  /* ATTEMPT */
  int64_t t;          /* ATTEMPT due, DEAD at, REVIVE due */
  char *reason;       /* DEAD */
  uint64_t prev;      /* R_SEQ: the segment before, 0 when not said */
};


/* The writer's: makes retryq_fd readable; after a failed write, says err
 * (retryq_error) and waits a second or until woken, under q->mu: 1 when
 * the queue is closing and gave up waiting. */
/* A queue with its locks and nothing in it; its notify pipe (0, or -1
 * with err). Both stores' opens begin so. */
struct retryq *rq_alloc(const struct retryq_opts *o, int readonly);
int rq_make_notify(struct retryq *q, char *err, size_t errsz);
void rq_notify(struct retryq *q);
int rq_save_endpoints(struct retryq *q);
int rq_failed(struct retryq *q, const char *err);

/* In a database (retryq_db.c): notes that seq changed (a dbop_kind), under
 * q->mu; reads a delivery's payload from its row; closes the connections. */
void rq_db_op(struct retryq *q, uint64_t seq, unsigned kind);
int rq_db_read(struct retryq *q, uint64_t seq, struct retryq_rec *out, char *err, size_t errsz);
void rq_db_close(struct retryq *q);

/* The item of seq, or NULL. */
struct item *rq_find(struct retryq *q, uint64_t seq);
/* Links a new item into the hash and the seq list. */
void rq_item_link(struct retryq *q, struct item *it);
/* Unlinks and frees it. */
void rq_item_drop(struct retryq *q, struct item *it);
/* it's ADD record is now at off of segment segno. */
void rq_place(struct retryq *q, struct item *it, uint64_t segno, uint64_t off, uint32_t len);
/* The body of a record into *d (want_payload: the payload too); 0, or -1
 * when it cannot be read (d is then empty). */
int rq_decode(const unsigned char *body, size_t n, struct decoded *d, int want_payload);
/* The CRC of a record's body, as written at off of segment segno. */
uint32_t rq_record_crc(const unsigned char *body, size_t n, uint64_t segno, uint64_t off);
/* Writes the CRCs of the records in [p, p+n), which go to segment segno
 * at offset off. */
void rq_seal(unsigned char *p, size_t n, uint64_t segno, uint64_t off);
/* The path of segment no. */
void rq_seg_path(const struct retryq *q, uint64_t no, char *out, size_t n);

/* retryq_load.c: */

/* A good record at p (n bytes left), at offset off of segment segno: its
 * whole length, or 0. */
size_t rq_good_record(const unsigned char *p, size_t n, uint64_t segno, uint64_t off);
/* Reads the segments nos (n, in order), repairing them unless readonly,
 * and accounts for them against the manifest (q->dmg, q->damaged). 0, or
 * -1 with err when a segment cannot be read. */
int rq_load(struct retryq *q, const uint64_t *nos, size_t n, struct retryq_report *rep, char *err, size_t errsz);
/* Writes the manifest (the mutex held, released meanwhile), then deletes
 * the segments in q->unlinks. 0, or -1 with err. */
int rq_manifest_write(struct retryq *q, int clean, char *err, size_t errsz);

#endif
