/* gtidstate.h - the full GTID state a stream has reached at its last
 * transaction boundary: on MariaDB the position of every domain
 * (gtidpos.h), on MySQL the executed set (gtidset.h). It is what the
 * checkpoint keeps beside file:pos, so that a resume on another server of
 * the same replication topology can ask for exactly what follows.
 *
 * The decoder owns one. The state is "known" only once something gave it
 * whole: a seed (a checkpoint's state, the start GTIDs, what the server
 * said for the start position) or the event at the start of a binlog file
 * that carries the state before the file (MySQL's PREVIOUS_GTIDS, MariaDB's
 * GTID_LIST); from then on each transaction's GTID is added when the
 * transaction ends. An unknown state is never handed out: a partial one
 * would make a resume repeat a domain from its beginning.
 *
 * gtidstate_text hands out the state as shared immutable text (struct
 * rcstr, a new reference), made once per change of the state. */
#ifndef BH_GTIDSTATE_H
#define BH_GTIDSTATE_H

#include "event/change.h"
#include "source/gtidpos.h"
#include "source/gtidset.h"

#include <stddef.h>
#include <stdint.h>

enum gtid_flavor { GTID_NONE, GTID_MYSQL, GTID_MARIADB };

struct gtidstate {
  enum gtid_flavor flavor; /* GTID_NONE until a seed, a state event or a GTID says */
  int known;
  struct gtidset set; /* MySQL, normal */
  struct gtidpos pos; /* MariaDB */
  /* the GTID of the open transaction, added when it ends */
  enum gtid_flavor pending;
  unsigned char uuid[16];
  char tag[33];
  uint64_t gno; /* MySQL */
  uint32_t domain, server;
  uint64_t seq; /* MariaDB */
  struct rcstr *text; /* the state as text, or NULL until asked for after a change */
};

/* Makes the state the one text gives ("D-S-N,..." for MariaDB; a MySQL
 * set when it holds a ':'; "" for none yet), known. Returns 0 or -1 with
 * err (the state is unchanged). */
int gtidstate_seed(struct gtidstate *st, const char *text, char *err, size_t errsz);

/* The state events at the start of a binlog file: what was executed before
 * the file. It is added to the state (a stream requested by GTIDs skips
 * transactions of the file that the state already holds), which becomes
 * known. Return 0 or -1 with err. */
int gtidstate_previous_gtids(struct gtidstate *st, const unsigned char *body, size_t n, char *err, size_t errsz);
int gtidstate_gtid_list(struct gtidstate *st, const unsigned char *body, size_t n, char *err, size_t errsz);

/* The GTID of the transaction that starts (an anonymous one: none). */
void gtidstate_begin(struct gtidstate *st);
void gtidstate_pending_mysql(struct gtidstate *st, const unsigned char uuid[16], const char *tag, uint64_t gno);
void gtidstate_pending_mariadb(struct gtidstate *st, uint32_t domain, uint32_t server, uint64_t seq);

/* The transaction ended: its GTID joins the state. */
void gtidstate_commit(struct gtidstate *st);

/* The state as text (a new reference, the caller unrefs), or NULL while it
 * is not known. */
struct rcstr *gtidstate_text(struct gtidstate *st);

void gtidstate_free(struct gtidstate *st);

#endif
