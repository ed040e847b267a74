/* errcode.h - the failures a caller acts on, as codes. A message is for
 * people and may be reworded at any time; what a caller does next (take a
 * new snapshot, stop with advice, count an attempt or not) is decided by
 * one of these codes, which the module that failed sets beside its message
 * (source_errc, snapshot_errc, deliver_result.code). BH_E_OTHER is every
 * failure that is only reported. */
#ifndef BH_ERRCODE_H
#define BH_ERRCODE_H

enum bh_errc {
  BH_E_NONE = 0,
  BH_E_OTHER,     /* reported as it is; nothing else to do about it */
  BH_E_PURGED,    /* the server no longer has the binlog asked for */
  BH_E_REJECTED,  /* the server has that binlog but refused the position (not an event boundary, damage) */
  BH_E_SERVER_ID, /* another replica registered with the same server_id */
  BH_E_ACCESS,    /* the server refused the user (password, privileges) */
  BH_E_CONNECT,   /* the server cannot be reached */
  BH_E_NOT_SENT,  /* a request handed back before it reached the wire */
  BH_E_LOCKED,    /* another binhook holds the state directory */
  BH_E_DIVERGED,  /* the server lacks transactions already read from the topology (behind, or diverged) */
  BH_E_FENCED,    /* a state write refused: another binhook holds the lease now */
};

/* A short stable name of code ("purged", "not_sent"), for logs and JSON. */
static inline const char *bh_errc_name(enum bh_errc code)
{
  switch (code) {
  case BH_E_NONE: return "none";
  case BH_E_OTHER: return "other";
  case BH_E_PURGED: return "purged";
  case BH_E_REJECTED: return "rejected";
  case BH_E_SERVER_ID: return "server_id";
  case BH_E_ACCESS: return "access";
  case BH_E_CONNECT: return "connect";
  case BH_E_NOT_SENT: return "not_sent";
  case BH_E_LOCKED: return "locked";
  case BH_E_DIVERGED: return "diverged";
  case BH_E_FENCED: return "fenced";
  }
  return "other";
}

#endif
