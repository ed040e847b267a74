/* state.h - the state directory: what binhook keeps between runs. It holds
 * a format marker (VERSION), a lock (one binhook per directory), the
 * checkpoint (where reading the binlog resumes) and the retry queue with
 * the dead letters (retryq.h, in the queue/ subdirectory).
 *
 * The checkpoint is replaced atomically: a temporary file is written and
 * fsynced, renamed over the old one, and the directory is fsynced, so that
 * a crash at any moment leaves either the old or the new one.
 *
 * Functions return 0 or -1 with a message in err; they never print. */
#ifndef BH_STATE_H
#define BH_STATE_H

#include "event/change.h"
#include "util/buf.h"
#include "util/errcode.h"

#include <stddef.h>
#include <stdint.h>

#define STATE_FORMAT 1

struct state;

/* Opens dir, creating it (mode 0700) when it does not exist, and takes its
 * lock. Refuses a directory that is not binhook's (files in it but no
 * VERSION), one of a newer format, one owned by another user, one that is
 * not writable, and one locked by a running binhook (the message names its
 * pid). With readonly, nothing is created and a held lock is no error (for
 * commands that only look). Returns NULL with err. */
struct state *state_open(const char *dir, int readonly, char *err, size_t errsz);

/* state_open that also says what kind of failure it was in *code:
 * BH_E_LOCKED when another binhook holds the directory (a command can then
 * ask that daemon instead), else BH_E_OTHER. */
struct state *state_open_code(const char *dir, int readonly, enum bh_errc *code, char *err, size_t errsz);

struct dbstore;

/* The state in a database ([state] store, dbstore.h): the checkpoint is a
 * value there; dir (created when missing, not locked: only the active
 * writes) keeps what stays on the host. db is borrowed. Returns NULL with
 * err. */
struct state *state_open_db(struct dbstore *db, const char *dir, char *err, size_t errsz);
/* The database of a state opened so, else NULL. */
struct dbstore *state_db(const struct state *s);
/* After a failed state_checkpoint_save in a database: BH_E_FENCED when
 * another binhook holds the lease; else BH_E_CONNECT or BH_E_OTHER. */
enum bh_errc state_errc(const struct state *s);

/* Releases the lock and frees s. */
void state_close(struct state *s);

const char *state_dir(const struct state *s);
/* 1 when the lock was taken (never by a readonly open). */
int state_locked(const struct state *s);
/* The pid written in the lock file by the binhook holding it, or 0. */
long state_lock_owner(const struct state *s);

/* A checkpoint owns a reference to its GTID state: copies are made with
 * checkpoint_copy and released with checkpoint_clear. */
struct checkpoint {
  /* a transaction boundary: file, offset, and the GTID of the last
   * transaction; after a start at a GTID and until the first boundary,
   * file "" and offset 0, and the GTID (a set) to start at again */
  struct position pos;
  struct rcstr *gtid_state; /* the full GTID state at that boundary (source/gtidstate.h): MariaDB's
                               position of every domain, MySQL's executed set; NULL: not known
                               (a checkpoint of an older binhook, a stream that never told it) */
  int64_t saved; /* seconds since the epoch when it was written */
};

/* Makes *dst (zeroed, or a checkpoint) a copy of *src with its own
 * reference to the GTID state; dst's old one is released. */
void checkpoint_copy(struct checkpoint *dst, const struct checkpoint *src);
/* Releases cp's GTID state (cp stays usable, without one). */
void checkpoint_clear(struct checkpoint *cp);

/* Reads the checkpoint: 1 with *cp filled (a new reference to its GTID
 * state: checkpoint_clear), 0 when there is none yet, -1 with err when it
 * cannot be read or is damaged. Then *cp holds what the damaged file still
 * shows (a GTID; a file with its offset), each part empty when it is not
 * whole: for advice, never a position to take. A file without
 * "gtid_state" (written by an older binhook) reads with none. */
int state_checkpoint_load(struct state *s, struct checkpoint *cp, char *err, size_t errsz);

/* Files of a state directory: where the state is in a database
 * (state_open_db), the files of its directory are values there ("file:"
 * and the name), found by the directory's path; elsewhere the files
 * themselves. Read: 1 with out set (at most max bytes; 0: no bound), 0
 * when there is none, -1 with err. Write replaces it atomically and
 * durably; remove is no error when there is none. */
int state_file_read(const char *dir, const char *name, struct buf *out, size_t max, char *err, size_t errsz);
int state_file_write(const char *dir, const char *name, const void *p, size_t n, char *err, size_t errsz);
int state_file_remove(const char *dir, const char *name, char *err, size_t errsz);

/* The endpoints' state (daemon/epstate.h): endpoints.json in the
 * directory, or a value of a database store. Load: 1 with out set, 0 when
 * there is none, -1 with err. Save replaces it (atomically, durably). */
int state_endpoints_load(struct state *s, struct buf *out, char *err, size_t errsz);
int state_endpoints_save(struct state *s, const char *text, size_t n, char *err, size_t errsz);

/* The checkpoint as it is saved (one line of JSON), appended to out; -1
 * with err when it would not read back as it is. */
int state_checkpoint_text(const struct checkpoint *cp, struct buf *out, char *err, size_t errsz);

/* Replaces the checkpoint atomically (see above; it fsyncs: not for the
 * event loop's thread). */
int state_checkpoint_save(struct state *s, const struct checkpoint *cp, char *err, size_t errsz);

/* Writes data to path atomically and durably (temporary file, fsync, rename,
 * directory fsync). */
int state_write_file(const char *dir, const char *name, const void *data, size_t n, char *err, size_t errsz);

/* Makes the entries of dir (files created, renamed or removed) durable. */
int state_sync_dir(const char *dir, char *err, size_t errsz);

#endif
