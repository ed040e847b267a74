/* state.c - see state.h. The directory holds:
 *
 *   VERSION     "binhook-state N\n", written once when the directory is new
 *   lock        flock()ed by the binhook using the directory; holds its pid
 *   checkpoint  one line of JSON: {"file":..,"pos":..,"gtid":..,"gtid_state":..,"saved":..};
 *               "file" is "" (and "pos" 0) after a start at a GTID, until
 *               the first transaction boundary is read; "gtid_state" only
 *               when the state is known
 *   queue/      the retry queue: its segments and MANIFEST (retryq.h)
 *
 * Every file but the lock is replaced whole through state_write_file, so a
 * reader never sees half of one. */
#include "store/state.h"
#include "source/gtidpos.h"
#include "store/dbstore.h"
#include "source/gtidset.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define VERSION_MAGIC "binhook-state "
/* Far more than a valid checkpoint takes (a file name and a GTID, each at
 * worst six bytes per character escaped, and a GTID state: a MySQL set of
 * thousands of server UUIDs): anything larger is not ours. */
#define CHECKPOINT_MAX (1 << 20)
#define GTID_STATE_MAX (CHECKPOINT_MAX / 2)

struct state {
  char *dir;
  int lockfd; /* -1 when the lock file could not be opened */
  int locked;
  long owner;
  /* in a database: the checkpoint is a value there (dbstore.h); dir holds
   * only what stays local (the snapshot's progress) */
  struct dbstore *db;
  MYSQL *m;               /* opened on first use, again after an error */
  pthread_mutex_t mu;     /* m: the loop and the queue's writer both save */
  enum bh_errc code;      /* of the last failed save */
};

/* The states in a database, by directory: their files go there. */
#define DB_STATES 8
static struct state *db_states[DB_STATES];
static pthread_mutex_t db_states_mu = PTHREAD_MUTEX_INITIALIZER;

static int join(char *out, size_t outsz, const char *dir, const char *name, char *err, size_t errsz)
{
  int n = snprintf(out, outsz, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= outsz) return bh_err(err, errsz, "path '%s/%s' is too long", dir, name);
  return 0;
}

/* mkdir -p: the parents get the usual 0755, the state directory itself
 * 0700, since the queue keeps request bodies: the changed rows. */
static int make_dirs(const char *dir, char *err, size_t errsz)
{
  char ebuf[128];
  char *p = xstrdup(dir);
  int rc = 0;
  for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = 0;
    /* "a//b" and a trailing "/" give empty or repeated prefixes: mkdir
     * says EEXIST for them, which is what we want anyway */
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
      rc = bh_err(err, errsz, "cannot create directory '%s': %s", p, bh_strerror(errno, ebuf, sizeof ebuf));
      break;
    }
    *s = '/';
  }
  if (!rc && mkdir(dir, 0700) < 0 && errno != EEXIST)
    rc = bh_err(err, errsz, "cannot create state directory '%s': %s", dir,
                bh_strerror(errno, ebuf, sizeof ebuf));
  free(p);
  return rc;
}

/* Whether dir holds VERSION, and whether it holds anything else that an
 * interrupted first open could not have left (a lock file, a temporary
 * VERSION). */
static int scan_dir(const char *dir, int *has_version, int *foreign, char *err, size_t errsz)
{
  char ebuf[128];
  DIR *d = opendir(dir);
  if (!d)
    return bh_err(err, errsz, "cannot read state directory '%s': %s", dir,
                  bh_strerror(errno, ebuf, sizeof ebuf));
  *has_version = *foreign = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
    if (!strcmp(n, "VERSION"))
      *has_version = 1;
    else if (strcmp(n, "lock") && strcmp(n, "VERSION.tmp"))
      *foreign = 1;
    errno = 0;
  }
  int rc = 0;
  if (errno)
    rc = bh_err(err, errsz, "cannot read state directory '%s': %s", dir,
                bh_strerror(errno, ebuf, sizeof ebuf));
  closedir(d);
  return rc;
}

/* The pid at the start of the lock file, or 0. Only the first line counts:
 * the holder writes its pid before truncating, so a reader in between may
 * see the tail of an older, longer pid after it. */
static long read_pid(int fd)
{
  char b[32];
  ssize_t n;
  do
    n = pread(fd, b, sizeof b - 1, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  b[n] = 0;
  long pid = 0;
  for (char *c = b; *c >= '0' && *c <= '9'; c++) {
    pid = pid * 10 + (*c - '0');
    if (pid > INT_MAX) return 0;
  }
  return pid;
}

/* The pid only names the holder in other binhooks' messages: a failure to
 * write it costs that name and nothing else, since the lock still holds. */
static int write_pid(int fd)
{
  char b[32];
  int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
  return pwrite(fd, b, (size_t)n, 0) == n && ftruncate(fd, n) == 0 ? 0 : -1;
}

/* Takes the lock. Not readonly: creates the lock file and fails when
 * another holds it. Readonly: creates nothing, takes nothing, and only
 * notes the holder when there is one. Returns 0, -1 with err, or -2 with
 * err when another binhook holds the lock. */
static int take_lock(struct state *s, int readonly, char *err, size_t errsz)
{
  char ebuf[128], path[PATH_MAX];
  if (join(path, sizeof path, s->dir, "lock", err, errsz)) return -1;
  int writable = 1;
  if (readonly) {
    s->lockfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    /* a lock file we may not write can still be locked: it just keeps an
     * older pid */
    if (s->lockfd < 0 && (errno == EACCES || errno == EROFS)) {
      writable = 0;
      s->lockfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (s->lockfd < 0 && errno == ENOENT) return 0;
  } else {
    s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (s->lockfd < 0)
    return bh_err(err, errsz, "cannot open '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));

  /* flock, not fcntl: its locks belong to the open file description, so a
   * second state_open of the same directory in this process conflicts too,
   * and they are not dropped when any other descriptor of the file closes */
  int r;
  do
    r = flock(s->lockfd, LOCK_EX | LOCK_NB);
  while (r < 0 && errno == EINTR);
  if (r == 0 && readonly) { /* only a probe: a reader never keeps the daemon out */
    flock(s->lockfd, LOCK_UN);
    return 0;
  }
  if (r == 0) {
    s->locked = 1;
    if (writable && write_pid(s->lockfd) == 0) s->owner = (long)getpid();
    return 0;
  }
  if (errno != EWOULDBLOCK)
    return bh_err(err, errsz, "cannot lock '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  s->owner = read_pid(s->lockfd);
  if (readonly) return 0;
  char who[48] = "";
  if (s->owner) snprintf(who, sizeof who, " (pid %ld)", s->owner);
  bh_err(err, errsz,
         "state directory '%s' is in use by another binhook%s: stop it, or give this one its own [state] dir",
         s->dir, who);
  return -2;
}

/* Reads VERSION: 1 when it is there and of a format we read, 0 when there
 * is none, -1 otherwise. */
static int read_version(const char *dir, char *err, size_t errsz)
{
  char ebuf[128], path[PATH_MAX], b[64];
  if (join(path, sizeof path, dir, "VERSION", err, errsz)) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0) return bh_err(err, errsz, "cannot open '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, b + len, sizeof b - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(e, ebuf, sizeof ebuf));
    }
    if (n == 0 || (len += (size_t)n) == sizeof b - 1) break;
  }
  close(fd);
  b[len] = 0;

  const size_t ml = sizeof VERSION_MAGIC - 1;
  unsigned long format = 0;
  size_t i = ml;
  if (len > ml && !memcmp(b, VERSION_MAGIC, ml))
    for (; i < len && b[i] >= '0' && b[i] <= '9' && format < 1000000; i++)
      format = format * 10 + (unsigned long)(b[i] - '0');
  if (format == 0 || i + 1 != len || b[i] != '\n')
    return bh_err(err, errsz,
                  "'%s' is damaged (it should hold 'binhook-state %d'): restore it, or choose an empty or "
                  "new directory",
                  path, STATE_FORMAT);
  if (format > STATE_FORMAT)
    return bh_err(err, errsz,
                  "state directory '%s' was written by a newer binhook (format %lu, this one reads %d): "
                  "upgrade binhook",
                  dir, format, STATE_FORMAT);
  return 1;
}

struct state *state_open(const char *dir, int readonly, char *err, size_t errsz)
{
  return state_open_code(dir, readonly, NULL, err, errsz);
}

struct state *state_open_code(const char *dir, int readonly, enum bh_errc *code, char *err, size_t errsz)
{
  if (code) *code = BH_E_OTHER;
  char ebuf[128];
  struct stat st;
  if (!dir || !*dir) {
    bh_err(err, errsz, "the state directory is not set: set [state] dir");
    return NULL;
  }
  if (stat(dir, &st) < 0) {
    if (errno != ENOENT || readonly) {
      bh_err(err, errsz, "cannot open state directory '%s': %s", dir, bh_strerror(errno, ebuf, sizeof ebuf));
      return NULL;
    }
    if (make_dirs(dir, err, errsz)) return NULL;
    if (stat(dir, &st) < 0) {
      bh_err(err, errsz, "cannot open state directory '%s': %s", dir, bh_strerror(errno, ebuf, sizeof ebuf));
      return NULL;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    bh_err(err, errsz, "state directory '%s' is not a directory", dir);
    return NULL;
  }
  /* files made by another user here would later be unreadable or
   * unreplaceable for the one binhook normally runs as */
  if (st.st_uid != geteuid()) {
    bh_err(err, errsz,
           "state directory '%s' belongs to uid %ld, binhook runs as uid %ld: chown it or set [state] dir",
           dir, (long)st.st_uid, (long)geteuid());
    return NULL;
  }
  /* AT_EACCESS: the effective ids are the ones that will create files */
  if (!readonly && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
    bh_err(err, errsz, "cannot write in state directory '%s': %s", dir,
           bh_strerror(errno, ebuf, sizeof ebuf));
    return NULL;
  }
  /* before the lock, which would leave a file in a directory that is not
   * ours */
  int has_version = 0, foreign = 0;
  if (scan_dir(dir, &has_version, &foreign, err, errsz)) return NULL;
  if (!has_version && foreign) {
    bh_err(err, errsz,
           "'%s' is not a binhook state directory (no VERSION file) and not empty: choose an empty or new "
           "directory",
           dir);
    return NULL;
  }

  struct state *s = xcalloc(1, sizeof *s);
  s->dir = xstrdup(dir);
  s->lockfd = -1;
  int locked = take_lock(s, readonly, err, errsz);
  if (locked) {
    if (code && locked == -2) *code = BH_E_LOCKED;
    goto fail;
  }
  /* read again under the lock: another binhook may have just made it */
  int v = read_version(dir, err, errsz);
  if (v < 0) goto fail;
  if (v == 0 && !readonly) {
    char text[32];
    int n = snprintf(text, sizeof text, VERSION_MAGIC "%d\n", STATE_FORMAT);
    if (state_write_file(dir, "VERSION", text, (size_t)n, err, errsz)) goto fail;
  }
  return s;

fail:
  state_close(s);
  return NULL;
}

void state_close(struct state *s)
{
  if (!s) return;
  /* closing releases the lock; the file stays, since removing it would
   * let a binhook starting now lock a file the next one no longer sees */
  if (s->lockfd >= 0) close(s->lockfd);
  if (s->db) {
    pthread_mutex_lock(&db_states_mu);
    for (size_t i = 0; i < DB_STATES; i++)
      if (db_states[i] == s) db_states[i] = NULL;
    pthread_mutex_unlock(&db_states_mu);
    if (s->m) mysql_close(s->m);
    pthread_mutex_destroy(&s->mu);
  }
  free(s->dir);
  free(s);
}

const char *state_dir(const struct state *s)
{
  return s->dir;
}
int state_locked(const struct state *s)
{
  return s->locked;
}
long state_lock_owner(const struct state *s)
{
  return s->owner;
}

void checkpoint_copy(struct checkpoint *dst, const struct checkpoint *src)
{
  struct rcstr *old = dst->gtid_state;
  *dst = *src;
  if (dst->gtid_state) rcstr_ref(dst->gtid_state);
  rcstr_unref(old);
}

void checkpoint_clear(struct checkpoint *cp)
{
  rcstr_unref(cp->gtid_state);
  cp->gtid_state = NULL;
}

/* 1 when s reads as a GTID state: a MySQL set or MariaDB positions. */
static int gtid_state_valid(const char *s, char *err, size_t errsz)
{
  if (strchr(s, ':')) {
    struct gtidset set = {0};
    int rc = gtidset_parse(s, &set, err, errsz);
    gtidset_free(&set);
    return !rc;
  }
  struct gtidpos pos = {0};
  int rc = gtidpos_parse(s, &pos, err, errsz);
  gtidpos_free(&pos);
  return !rc;
}

/* Fills cp from the text of a checkpoint file; -1 with what is wrong. */
static int parse_checkpoint(const char *text, size_t len, struct checkpoint *cp, char *err, size_t errsz)
{
  char jerr[128];
  struct jv v;
  size_t at = 0;
  int rc = -1;
  if (len == 0) return bh_err(err, errsz, "the file is empty");
  if (json_parse_value(text, len, &at, &v, jerr, sizeof jerr)) {
    bh_err(err, errsz, "%s at byte %zu", jerr, at);
    goto done;
  }
  json_skip_ws(text, len, &at);
  if (at != len) {
    bh_err(err, errsz, "text after the JSON object at byte %zu", at);
    goto done;
  }
  if (v.k != J_OBJ) {
    bh_err(err, errsz, "not a JSON object");
    goto done;
  }
  for (size_t i = 0; i < v.nkids; i++)
    for (size_t j = 0; j < i; j++)
      if (v.keylens[i] == v.keylens[j] && !memcmp(v.keys[i], v.keys[j], v.keylens[i])) {
        bh_err(err, errsz, "\"%s\" is there twice", v.keys[i]);
        goto done;
      }

  memset(cp, 0, sizeof *cp);
  const struct jv *file = jv_member(&v, "file"), *pos = jv_member(&v, "pos");
  const struct jv *gtid = jv_member(&v, "gtid"), *saved = jv_member(&v, "saved");
  const struct jv *gstate = jv_member(&v, "gtid_state");
  if (!file || file->k != J_STR || file->n >= POS_FILE_MAX || strlen(file->s) != file->n) {
    bh_err(err, errsz, "\"file\" is not a binlog file name");
    goto done;
  }
  if (!gtid || gtid->k != J_STR || gtid->n >= GTID_MAX || strlen(gtid->s) != gtid->n) {
    bh_err(err, errsz, "\"gtid\" is not a GTID");
    goto done;
  }
  /* no file: a GTID start that has not reached a transaction yet */
  if (file->n == 0 && gtid->n == 0) {
    bh_err(err, errsz, "\"file\" and \"gtid\" are both empty");
    goto done;
  }
  char why[200];
  if (gstate && (gstate->k != J_STR || gstate->n >= GTID_STATE_MAX || strlen(gstate->s) != gstate->n ||
                 !gtid_state_valid(gstate->s, why, sizeof why))) {
    bh_err(err, errsz, "\"gtid_state\" is not a GTID state%s%s", gstate->k == J_STR ? ": " : "",
           gstate->k == J_STR ? why : "");
    goto done;
  }
  /* strtoull and strtoll would take a sign, a fraction or an exponent in
   * silence: only plain digits are ours */
  uint64_t p = 0;
  int okp = pos && pos->k == J_NUM && pos->n > 0;
  for (size_t i = 0; okp && i < pos->n; i++) {
    unsigned d = (unsigned)(pos->s[i] - '0');
    if (d > 9 || p > (UINT64_MAX - d) / 10)
      okp = 0;
    else
      p = p * 10 + d;
  }
  if (!okp || (p < 4 && file->n)) {
    bh_err(err, errsz, "\"pos\" is not a binlog position (a whole number, at least 4)");
    goto done;
  }
  int64_t t = 0;
  int okt = saved && saved->k == J_NUM && saved->n > 0;
  int neg = okt && saved->s[0] == '-';
  for (size_t i = (size_t)neg; okt && i < saved->n; i++) {
    unsigned d = (unsigned)(saved->s[i] - '0');
    if (d > 9 || t > (INT64_MAX - d) / 10)
      okt = 0;
    else
      t = t * 10 + d;
  }
  if (!okt || (size_t)neg == saved->n) {
    bh_err(err, errsz, "\"saved\" is not a time (whole seconds since the epoch)");
    goto done;
  }
  memcpy(cp->pos.file, file->s, file->n + 1);
  memcpy(cp->pos.gtid, gtid->s, gtid->n + 1);
  cp->pos.pos = p;
  cp->gtid_state = gstate ? rcstr_new(gstate->s, gstate->n) : NULL;
  cp->saved = neg ? -t : t;
  rc = 0;
done:
  jv_free(&v);
  return rc;
}

/* Where the value of "key" starts in text (after the colon and blanks),
 * or NULL: a plain search, for text that is no longer JSON. */
static const char *find_key(const char *text, size_t len, const char *key)
{
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl + 2 <= len; i++) {
    if (text[i] != '"' || memcmp(text + i + 1, key, kl) || text[i + kl + 1] != '"') continue;
    size_t j = i + kl + 2;
    while (j < len && (text[j] == ' ' || text[j] == '\t')) j++;
    if (j >= len || text[j] != ':') continue;
    j++;
    while (j < len && (text[j] == ' ' || text[j] == '\t')) j++;
    return text + j;
  }
  return NULL;
}

/* The string value of "key" made only of bytes in allowed, copied to out
 * (outsz bytes with the NUL); 0 when there is none such. */
static size_t salvage_str(const char *text, size_t len, const char *key, const char *allowed, char *out,
                          size_t outsz)
{
  const char *v = find_key(text, len, key), *end = text + len;
  out[0] = 0;
  if (!v || v >= end || *v != '"') return 0;
  size_t n = 0;
  for (v++; v < end && *v && strchr(allowed, *v) && n + 1 < outsz; v++) out[n++] = *v;
  if (v >= end || *v != '"' || !n) n = 0;
  out[n] = 0;
  return n;
}

/* What a damaged checkpoint still shows: a GTID, a file and offset, each
 * only when it is whole and made of the bytes such a value is made of.
 * Advice for a person, never a position binhook takes by itself. */
static void salvage_checkpoint(const char *text, size_t len, struct checkpoint *cp)
{
  memset(cp, 0, sizeof *cp);
  salvage_str(text, len, "gtid", "0123456789abcdefABCDEF:,-", cp->pos.gtid, sizeof cp->pos.gtid);
  if (!salvage_str(text, len, "file", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                   cp->pos.file, sizeof cp->pos.file))
    return;
  const char *v = find_key(text, len, "pos"), *end = text + len;
  uint64_t p = 0;
  int digits = 0;
  for (; v && v < end && *v >= '0' && *v <= '9' && digits < 19; v++, digits++) p = p * 10 + (uint64_t)(*v - '0');
  /* a number cut short or run into other bytes may be another one */
  if (!v || !digits || p < 4 || v >= end || !strchr(",} \t\n", *v) || !*v) {
    cp->pos.file[0] = 0;
    return;
  }
  cp->pos.pos = p;
}

/* s->m, connected (under s->mu). */
static MYSQL *db_conn(struct state *s, char *err, size_t errsz)
{
  return dbstore_alive(s->db, &s->m, err, errsz) ? NULL : s->m;
}

/* Reads value key under s->mu, dropping a broken connection: 1, 0 (none), -1. */
static int db_get(struct state *s, const char *key, struct buf *out, char *err, size_t errsz)
{
  pthread_mutex_lock(&s->mu);
  MYSQL *m = db_conn(s, err, errsz);
  int have = m ? dbstore_get(s->db, m, key, out, err, errsz) : -1;
  if (have < 0 && s->m) {
    mysql_close(s->m);
    s->m = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return have;
}

/* Runs put or del of key under s->mu, dropping a broken connection. */
static int db_change(struct state *s, const char *key, const void *p, size_t n, int del, char *err, size_t errsz)
{
  pthread_mutex_lock(&s->mu);
  MYSQL *m = db_conn(s, err, errsz);
  s->code = BH_E_CONNECT;
  int rc = !m ? -1 : del ? dbstore_del(s->db, m, key, &s->code, err, errsz)
                         : dbstore_put(s->db, m, key, p, n, &s->code, err, errsz);
  if (rc && s->m && s->code != BH_E_FENCED) {
    mysql_close(s->m);
    s->m = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static int db_checkpoint_load(struct state *s, struct checkpoint *cp, char *err, size_t errsz)
{
  char what[256];
  struct buf v = BUF_INIT;
  int have = db_get(s, "checkpoint", &v, err, errsz);
  if (have > 0 && parse_checkpoint(v.p, v.len, cp, what, sizeof what)) {
    salvage_checkpoint(v.p, v.len, cp);
    bh_err(err, errsz, "the checkpoint in the state store '%s' is damaged: %s", dbstore_where(s->db), what);
    have = -1;
  }
  buf_free(&v);
  return have;
}

int state_checkpoint_load(struct state *s, struct checkpoint *cp, char *err, size_t errsz)
{
  char ebuf[128], path[PATH_MAX], what[256];
  memset(cp, 0, sizeof *cp);
  if (s->db) return db_checkpoint_load(s, cp, err, errsz);
  if (join(path, sizeof path, s->dir, "checkpoint", err, errsz)) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0) return bh_err(err, errsz, "cannot open '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  char *text = xmalloc(CHECKPOINT_MAX + 1);
  size_t len = 0;
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, text + len, CHECKPOINT_MAX + 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = bh_err(err, errsz, "cannot read '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
      break;
    }
    if (n == 0 || (len += (size_t)n) == CHECKPOINT_MAX + 1) break;
  }
  close(fd);
  if (!rc) {
    if (len > CHECKPOINT_MAX)
      rc = bh_err(what, sizeof what, "larger than %d bytes", CHECKPOINT_MAX);
    else
      rc = parse_checkpoint(text, len, cp, what, sizeof what);
    if (rc) {
      salvage_checkpoint(text, len > CHECKPOINT_MAX ? CHECKPOINT_MAX : len, cp);
      bh_err(err, errsz, "checkpoint '%s' is damaged: %s", path, what);
    } else {
      rc = 1;
    }
  }
  free(text);
  return rc;
}

int state_checkpoint_text(const struct checkpoint *cp, struct buf *out, char *err, size_t errsz)
{
  char what[256];
  struct checkpoint back = {.gtid_state = NULL};
  struct buf b = BUF_INIT;
  size_t flen = strnlen(cp->pos.file, POS_FILE_MAX), glen = strnlen(cp->pos.gtid, GTID_MAX);
  buf_addlit(&b, "{\"file\":");
  buf_add_json_str(&b, cp->pos.file, flen);
  buf_addlit(&b, ",\"pos\":");
  buf_add_u64(&b, cp->pos.pos);
  buf_addlit(&b, ",\"gtid\":");
  buf_add_json_str(&b, cp->pos.gtid, glen);
  if (cp->gtid_state) {
    buf_addlit(&b, ",\"gtid_state\":");
    buf_add_json_str(&b, cp->gtid_state->s, cp->gtid_state->len);
  }
  buf_addlit(&b, ",\"saved\":");
  buf_add_i64(&b, cp->saved);
  buf_addlit(&b, "}\n");
  /* Reading it back here costs little next to the fsyncs, and a checkpoint
   * that the next start would call damaged (an unterminated name, a name
   * that is not UTF-8 and would come back changed) is refused now, while
   * the old one is still in place. */
  int rc;
  if (flen == POS_FILE_MAX || glen == GTID_MAX)
    rc = bh_err(what, sizeof what, "a name is not terminated");
  else
    rc = parse_checkpoint(b.p, b.len, &back, what, sizeof what);
  if (!rc && (strcmp(back.pos.file, cp->pos.file) || strcmp(back.pos.gtid, cp->pos.gtid)))
    rc = bh_err(what, sizeof what, "the file name or the GTID is not valid UTF-8");
  checkpoint_clear(&back);
  if (rc)
    bh_err(err, errsz, "cannot save checkpoint at '%s:%" PRIu64 "': %s",
           flen < POS_FILE_MAX ? cp->pos.file : "?", cp->pos.pos, what);
  else
    buf_add(out, b.p, b.len);
  buf_free(&b);
  return rc;
}

int state_checkpoint_save(struct state *s, const struct checkpoint *cp, char *err, size_t errsz)
{
  struct buf b = BUF_INIT;
  int rc = state_checkpoint_text(cp, &b, err, errsz);
  if (!rc && s->db) {
    rc = db_change(s, "checkpoint", b.p, b.len, 0, err, errsz);
  } else if (!rc) {
    rc = state_write_file(s->dir, "checkpoint", b.p, b.len, err, errsz);
  }
  buf_free(&b);
  return rc;
}

int state_endpoints_load(struct state *s, struct buf *out, char *err, size_t errsz)
{
  if (s->db) return db_get(s, "endpoints", out, err, errsz);
  char path[PATH_MAX];
  if (join(path, sizeof path, s->dir, "endpoints.json", err, errsz)) return -1;
  if (!buf_read_file(out, path, 1 << 20, err, errsz)) return 1;
  return errno == ENOENT ? 0 : -1;
}

int state_endpoints_save(struct state *s, const char *text, size_t n, char *err, size_t errsz)
{
  if (!s->db) return state_write_file(s->dir, "endpoints.json", text, n, err, errsz);
  return db_change(s, "endpoints", text, n, 0, err, errsz);
}

enum bh_errc state_errc(const struct state *s)
{
  return s->db ? s->code : BH_E_OTHER;
}

static struct state *db_state_of(const char *dir)
{
  struct state *found = NULL;
  pthread_mutex_lock(&db_states_mu);
  for (size_t i = 0; i < DB_STATES && !found; i++)
    if (db_states[i] && !strcmp(db_states[i]->dir, dir)) found = db_states[i];
  pthread_mutex_unlock(&db_states_mu);
  return found;
}

struct state *state_open_db(struct dbstore *db, const char *dir, char *err, size_t errsz)
{
  if (dir && *dir && make_dirs(dir, err, errsz)) return NULL;
  struct state *s = xcalloc(1, sizeof *s);
  s->dir = xstrdup(dir && *dir ? dir : ".");
  s->lockfd = -1;
  s->db = db;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_lock(&db_states_mu);
  for (size_t i = 0; i < DB_STATES; i++)
    if (!db_states[i]) {
      db_states[i] = s;
      break;
    }
  pthread_mutex_unlock(&db_states_mu);
  return s;
}

static void file_key(const char *name, char *key, size_t size)
{
  snprintf(key, size, "file:%s", name);
}

int state_file_read(const char *dir, const char *name, struct buf *out, size_t max, char *err, size_t errsz)
{
  struct state *s = db_state_of(dir);
  if (s) {
    char key[64];
    file_key(name, key, sizeof key);
    return db_get(s, key, out, err, errsz);
  }
  char path[PATH_MAX];
  if (join(path, sizeof path, dir, name, err, errsz)) return -1;
  if (!buf_read_file(out, path, max, err, errsz)) return 1;
  return errno == ENOENT ? 0 : -1;
}

int state_file_write(const char *dir, const char *name, const void *p, size_t n, char *err, size_t errsz)
{
  struct state *s = db_state_of(dir);
  if (!s) return state_write_file(dir, name, p, n, err, errsz);
  char key[64];
  file_key(name, key, sizeof key);
  return db_change(s, key, p, n, 0, err, errsz);
}

int state_file_remove(const char *dir, const char *name, char *err, size_t errsz)
{
  char ebuf[128], path[PATH_MAX];
  struct state *s = db_state_of(dir);
  if (s) {
    char key[64];
    file_key(name, key, sizeof key);
    return db_change(s, key, NULL, 0, 1, err, errsz);
  }
  if (join(path, sizeof path, dir, name, err, errsz)) return -1;
  if (unlink(path) < 0 && errno != ENOENT)
    return bh_err(err, errsz, "cannot remove '%s': %s", path, bh_strerror(errno, ebuf, sizeof ebuf));
  return 0;
}

struct dbstore *state_db(const struct state *s)
{
  return s->db;
}

int state_write_file(const char *dir, const char *name, const void *data, size_t n, char *err, size_t errsz)
{
  char ebuf[128], path[PATH_MAX], tmp[PATH_MAX], tname[NAME_MAX + 1];
  int len = snprintf(tname, sizeof tname, "%s.tmp", name);
  if (len < 0 || (size_t)len >= sizeof tname) return bh_err(err, errsz, "file name '%s' is too long", name);
  if (join(path, sizeof path, dir, name, err, errsz) || join(tmp, sizeof tmp, dir, tname, err, errsz))
    return -1;

  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return bh_err(err, errsz, "cannot create '%s': %s", tmp, bh_strerror(errno, ebuf, sizeof ebuf));
  const char *p = data;
  size_t left = n;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      /* write returns 0 for a regular file only when nothing fits */
      int e = w < 0 ? errno : ENOSPC;
      close(fd);
      unlink(tmp);
      return bh_err(err, errsz, "cannot write '%s': %s", tmp, bh_strerror(e, ebuf, sizeof ebuf));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return bh_err(err, errsz, "cannot write '%s' to disk: %s", tmp, bh_strerror(e, ebuf, sizeof ebuf));
  }
  /* close can report a delayed write error (NFS); on Linux the descriptor
   * is gone whatever it returns, so it is not retried */
  if (close(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return bh_err(err, errsz, "cannot write '%s': %s", tmp, bh_strerror(e, ebuf, sizeof ebuf));
  }
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return bh_err(err, errsz, "cannot rename '%s' to '%s': %s", tmp, path, bh_strerror(e, ebuf, sizeof ebuf));
  }
  /* the rename is durable only once the directory is */
  return state_sync_dir(dir, err, errsz);
}

int state_sync_dir(const char *dir, char *err, size_t errsz)
{
  char ebuf[128];
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bh_err(err, errsz, "cannot open directory '%s': %s", dir, bh_strerror(errno, ebuf, sizeof ebuf));
  int rc = 0;
  /* EINVAL: a file system that cannot sync directories, where the rename
   * is as durable as it will get */
  if (fsync(dfd) < 0 && errno != EINVAL)
    rc = bh_err(err, errsz, "cannot write directory '%s' to disk: %s", dir,
                bh_strerror(errno, ebuf, sizeof ebuf));
  close(dfd);
  return rc;
}
