/* retryq_test.c - the on-disk retry queue (gateway/store/retryq.c), checked against
 * its contract (retryq.h) and through the files it leaves behind:
 *
 *  - what is added comes back after a reopen field for field and byte for
 *    byte, with its changes of state (attempt, dead, revive, done);
 *  - tickets, retryq_fd, and seq never reused across reopens;
 *  - compaction deletes segments and never brings a finished delivery back;
 *  - a random mix of operations with reopens agrees with a model;
 *  - torn writes (the segment cut at 200 random places) and damage (random
 *    bytes written over 200 random places) lose only what they touch,
 *    invent nothing, and the repair is durable; a readonly open changes no
 *    file and still reports the damage;
 *  - the manifest: an intact queue opens without damage, a deleted segment
 *    is reported with every delivery it held named (position and GTID),
 *    and stays so until retryq_healed; a missing manifest is damage;
 *  - max_bytes, the checkpoint, and a full disk (a small tmpfs, when this
 *    process may mount one).
 *
 * Record boundaries are not taken from the file format (the test does not
 * know it): every record of the torn-write tests is synced on its own and
 * the segment's size after each sync is where that record ends.
 *
 * Scratch directories are made with mkdtemp in $TMPDIR, else /tmp, and
 * removed at exit unless BINHOOK_TEST_KEEP=1. The random tests take their
 * seed from the first argument (default fixed) and name it when they fail. */
#include "tap.h"
#include "store/retryq.h"
#include "store/state.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[PATH_MAX];
static uint64_t seed = 20250601;

/* ---- small helpers ---- */

static uint64_t rng;
static uint64_t rnd(void) /* splitmix64 */
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n)
{
  return n ? rnd() % n : 0;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

static char *dupmem(const void *p, size_t n)
{
  char *c = xmalloc(n + 1);
  if (n) memcpy(c, p, n);
  c[n] = 0;
  return c;
}
static char *dupstr(const char *s)
{
  return s ? dupmem(s, strlen(s)) : NULL;
}

/* The TAP form of a test that cannot run here. */
static void skip(const char *what, const char *why)
{
  tap_n++;
  printf("ok %d - %s # SKIP %s\n", tap_n, what, why);
  fflush(stdout);
}

static void join(char *out, const char *a, const char *b)
{
  if (snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) {
    printf("Bail out! path too long: '%s/%s'\n", a, b);
    exit(1);
  }
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}
static void rm_rf(const char *dir)
{
  nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int is_seg(const char *name)
{
  size_t n = strlen(name);
  return n > 4 && !strcmp(name + n - 4, ".seg");
}

/* The number of .seg files in dir; the last one by name (the newest) in
 * last when not NULL, its size in *size. */
static size_t count_segs(const char *dir, char *last, uint64_t *size)
{
  DIR *d = opendir(dir);
  size_t n = 0;
  char best[256] = "";
  if (!d) return 0;
  for (struct dirent *de; (de = readdir(d));)
    if (is_seg(de->d_name)) {
      n++;
      if (strcmp(de->d_name, best) > 0) snprintf(best, sizeof best, "%s", de->d_name);
    }
  closedir(d);
  if (last) join(last, dir, best);
  if (size) {
    struct stat st;
    char p[PATH_MAX];
    join(p, dir, best);
    *size = n && !stat(p, &st) ? (uint64_t)st.st_size : 0;
  }
  return n;
}

static uint64_t file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

static uint64_t seg_bytes(const char *dir)
{
  DIR *d = opendir(dir);
  uint64_t n = 0;
  if (!d) return 0;
  for (struct dirent *de; (de = readdir(d));)
    if (is_seg(de->d_name)) {
      char p[PATH_MAX];
      join(p, dir, de->d_name);
      n += file_size(p);
    }
  closedir(d);
  return n;
}

/* Copies the regular files of src into a new directory dst. */
static int copy_dir(const char *src, const char *dst)
{
  DIR *d = opendir(src);
  if (!d || mkdir(dst, 0700)) {
    if (d) closedir(d);
    return -1;
  }
  int rc = 0;
  char buf[65536];
  for (struct dirent *de; rc == 0 && (de = readdir(d));) {
    char a[PATH_MAX], b[PATH_MAX];
    struct stat st;
    join(a, src, de->d_name);
    join(b, dst, de->d_name);
    if (lstat(a, &st) || !S_ISREG(st.st_mode)) continue;
    int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 0777);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) rc = -1;
    if (in < 0 || out < 0) rc = -1;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
  }
  closedir(d);
  return rc;
}

/* Every file of a directory: name, size, mtime and a hash of the content. */
struct snap {
  size_t n;
  struct {
    char name[256];
    uint64_t size, hash;
    struct timespec mtime;
  } f[64];
};

static void snapshot(const char *dir, struct snap *s)
{
  memset(s, 0, sizeof *s);
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *de; (de = readdir(d)) && s->n < 64;) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[PATH_MAX];
    struct stat st;
    join(p, dir, de->d_name);
    if (lstat(p, &st)) continue;
    size_t i = s->n++;
    snprintf(s->f[i].name, sizeof s->f[i].name, "%s", de->d_name);
    s->f[i].size = (uint64_t)st.st_size;
    s->f[i].mtime = st.st_mtim;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    int fd = S_ISREG(st.st_mode) ? open(p, O_RDONLY) : -1;
    unsigned char buf[65536];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
      for (ssize_t k = 0; k < n; k++)
        h = (h ^ buf[k]) * 1099511628211ull;
    if (fd >= 0) close(fd);
    s->f[i].hash = h;
  }
  closedir(d);
}

/* 1 when a and b hold the same files, unchanged; else why in why. */
static int snap_same(const struct snap *a, const struct snap *b, char *why, size_t whysz)
{
  if (a->n != b->n) return snprintf(why, whysz, "%zu files before, %zu after", a->n, b->n), 0;
  for (size_t i = 0; i < a->n; i++) {
    size_t j = 0;
    while (j < b->n && strcmp(a->f[i].name, b->f[j].name))
      j++;
    if (j == b->n) return snprintf(why, whysz, "'%s' is gone", a->f[i].name), 0;
    if (a->f[i].size != b->f[j].size || a->f[i].hash != b->f[j].hash)
      return snprintf(why, whysz, "'%s' changed", a->f[i].name), 0;
    if (a->f[i].mtime.tv_sec != b->f[j].mtime.tv_sec || a->f[i].mtime.tv_nsec != b->f[j].mtime.tv_nsec)
      return snprintf(why, whysz, "the mtime of '%s' changed", a->f[i].name), 0;
  }
  return 1;
}

/* ---- opening and closing, with the message on failure ---- */

static struct retryq *qopen(const char *dir, uint64_t segment_bytes, uint64_t max_bytes, struct state *st,
                           int readonly, struct retryq_report *rep)
{
  struct retryq_opts o = {.max_bytes = max_bytes, .segment_bytes = segment_bytes, .state = st};
  struct retryq_report dummy;
  char err[512] = "";
  if (rep) memset(rep, 0xa5, sizeof *rep); /* every field must be set by the open */
  struct retryq *q = retryq_open(dir, &o, readonly, rep ? rep : &dummy, err, sizeof err);
  if (!q) diag("retryq_open '%s'%s: %s", dir, readonly ? " (readonly)" : "", err);
  return q;
}

static int qclose(struct retryq *q)
{
  char err[512] = "";
  if (!q) return -1;
  if (retryq_close(q, 10, err, sizeof err)) {
    diag("retryq_close: %s", err);
    return -1;
  }
  return 0;
}

static int qsync(struct retryq *q)
{
  char err[512] = "";
  if (retryq_sync(q, 10, err, sizeof err)) {
    diag("retryq_sync: %s", err);
    return -1;
  }
  return 0;
}

/* ---- the model: what the queue should hold ---- */

/* What a delivery was added with (never changes) ... */
struct exp {
  uint64_t seq;
  char endpoint[32], rule[32], id[48];
  char *okey;
  size_t okeylen;
  int64_t created;
  char *payload;
  size_t payloadlen;
};
/* ... and its state, which the writing calls change. */
struct mst {
  int present; /* added and not done */
  uint32_t attempts;
  int64_t due;
  int dead;
  int64_t dead_at;
  const char *reason;
};

struct model {
  struct exp *e;
  struct mst *s;
  size_t n, cap;
};

static void model_free(struct model *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->e[i].okey);
    free(m->e[i].payload);
  }
  free(m->e);
  free(m->s);
  memset(m, 0, sizeof *m);
}

/* A new delivery in the model (not yet added): a payload of len random
 * bytes (NULs included), an ordering key by okey_kind (0 none, 1 text,
 * 2 binary with NULs). Returns its index. */
static size_t model_new(struct model *m, size_t len, int okey_kind)
{
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->e = xrealloc(m->e, m->cap * sizeof *m->e);
    m->s = xrealloc(m->s, m->cap * sizeof *m->s);
  }
  size_t i = m->n++;
  struct exp *e = &m->e[i];
  memset(e, 0, sizeof *e);
  snprintf(e->endpoint, sizeof e->endpoint, "endpoint-%zu", i % 7);
  snprintf(e->rule, sizeof e->rule, "rule.%zu", i % 13);
  snprintf(e->id, sizeof e->id, "msg_%016" PRIx64, rnd());
  if (okey_kind == 1) {
    char k[32];
    int n = snprintf(k, sizeof k, "shop.orders:%zu", i);
    e->okey = dupmem(k, (size_t)n);
    e->okeylen = (size_t)n;
  } else if (okey_kind == 2) {
    unsigned char k[9] = {0, 'k', 0, 0xff, (unsigned char)i, 0, 'z', 0x80, 0};
    e->okey = dupmem(k, sizeof k);
    e->okeylen = sizeof k;
  }
  e->created = 1700000000 + (int64_t)i;
  e->payloadlen = len;
  if (len) {
    e->payload = xmalloc(len);
    for (size_t k = 0; k < len; k++)
      e->payload[k] = (char)(k % 5 == 0 ? 0 : rnd() & 0xff);
  }
  m->s[i] = (struct mst){.present = 0, .attempts = 1, .due = e->created + 30};
  return i;
}

static struct retryq_rec to_rec(struct exp *e, struct mst *s)
{
  struct retryq_rec r = {0};
  r.endpoint = e->endpoint;
  r.rule = e->rule;
  r.id = e->id;
  r.okey = e->okey;
  r.okeylen = e->okeylen;
  r.created = e->created;
  r.attempts = s->attempts;
  r.due = s->due;
  r.payload = e->payload;
  r.payloadlen = e->payloadlen;
  return r;
}

static uint64_t add(struct retryq *q, struct model *m, size_t i)
{
  struct retryq_rec r = to_rec(&m->e[i], &m->s[i]);
  uint64_t t = retryq_add(q, &r);
  m->e[i].seq = r.seq;
  m->s[i].present = 1;
  return t;
}

/* Adds from copies of the fields that are scribbled over and freed right
 * after the call: the queue must have copied them. */
static uint64_t add_copied(struct retryq *q, struct model *m, size_t i)
{
  struct exp *e = &m->e[i];
  struct retryq_rec r = to_rec(e, &m->s[i]);
  r.endpoint = dupstr(e->endpoint);
  r.rule = dupstr(e->rule);
  r.id = dupstr(e->id);
  r.okey = e->okey ? dupmem(e->okey, e->okeylen) : NULL;
  r.payload = dupmem(e->payload, e->payloadlen); /* never NULL, even for 0 bytes */
  uint64_t t = retryq_add(q, &r);
  e->seq = r.seq;
  m->s[i].present = 1;
  memset(r.endpoint, 'X', strlen(r.endpoint));
  memset(r.rule, 'X', strlen(r.rule));
  memset(r.id, 'X', strlen(r.id));
  if (r.okey) memset(r.okey, 'X', r.okeylen);
  memset(r.payload, 'X', r.payloadlen);
  free(r.endpoint), free(r.rule), free(r.id), free(r.okey), free(r.payload);
  return t;
}

static const char *const reasons[] = {"HTTP 410 Gone", "gave up after 12 attempts: connection refused", NULL,
                                      "x"};

/* The operations of the model tests, applied to the model and the queue. */
enum { OP_ADD, OP_ATTEMPT, OP_DEAD, OP_REVIVE, OP_DONE };
struct op {
  int type;
  size_t i;
  uint32_t attempts;
  int64_t t; /* due, or dead_at */
  const char *reason;
};

static void apply(struct mst *st, const struct op *o)
{
  struct mst *s = &st[o->i];
  switch (o->type) {
  case OP_ADD: s->present = 1; break;
  case OP_ATTEMPT: s->attempts = o->attempts, s->due = o->t; break;
  case OP_DEAD: s->dead = 1, s->dead_at = o->t, s->reason = o->reason; break;
  case OP_REVIVE: s->dead = 0, s->attempts = 0, s->due = o->t; break;
  case OP_DONE: s->present = 0; break;
  }
}

static uint64_t perform(struct retryq *q, struct model *m, const struct op *o)
{
  uint64_t seq = m->e[o->i].seq, t = 0;
  switch (o->type) {
  case OP_ADD: t = add(q, m, o->i); break;
  case OP_ATTEMPT: t = retryq_attempt(q, seq, o->attempts, o->t); break;
  case OP_DEAD: t = retryq_dead(q, seq, o->t, o->reason); break;
  case OP_REVIVE: t = retryq_revive(q, seq, o->t); break;
  case OP_DONE: t = retryq_done(q, seq); break;
  }
  if (o->type != OP_ADD) apply(m->s, o);
  return t;
}

/* A random operation on a random delivery present in st (or an add when
 * there is none or by chance), with payloads up to maxlen bytes. */
static struct op random_op(struct model *m, const struct mst *st, size_t maxlen, int add_pct)
{
  struct op o = {0};
  size_t present = 0;
  for (size_t i = 0; i < m->n; i++)
    present += st[i].present;
  if (!present || (int)rnd_below(100) < add_pct) {
    size_t len = rnd_below(50) == 0 ? 20000 + rnd_below(20000) : rnd_below(maxlen + 1);
    o.type = OP_ADD;
    o.i = model_new(m, len, (int)rnd_below(3));
    return o;
  }
  size_t pick = rnd_below(present);
  for (o.i = 0; o.i < m->n; o.i++)
    if (st[o.i].present && pick-- == 0) break;
  int r = (int)rnd_below(100);
  if (st[o.i].dead)
    o.type = r < 50 ? OP_REVIVE : OP_DONE;
  else
    o.type = r < 40 ? OP_ATTEMPT : r < 60 ? OP_DEAD : OP_DONE;
  o.attempts = (uint32_t)(1 + rnd_below(20));
  o.t = 1700000000 + (int64_t)rnd_below(100000000);
  o.reason = reasons[rnd_below(4)];
  return o;
}

/* ---- comparing what the queue holds with the model ---- */

struct got {
  struct retryq_rec *v;
  size_t n, cap;
};

static int collect(void *arg, const struct retryq_rec *r)
{
  struct got *g = arg;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 64;
    g->v = xrealloc(g->v, g->cap * sizeof *g->v);
  }
  struct retryq_rec *c = &g->v[g->n++];
  *c = *r;
  c->endpoint = dupstr(r->endpoint);
  c->rule = dupstr(r->rule);
  c->id = dupstr(r->id);
  c->okey = r->okey ? dupmem(r->okey, r->okeylen) : NULL;
  c->reason = dupstr(r->reason);
  c->payload = NULL; /* not loaded by retryq_list */
  return 0;
}

static void got_free(struct got *g)
{
  for (size_t i = 0; i < g->n; i++) {
    free(g->v[i].endpoint), free(g->v[i].rule), free(g->v[i].id);
    free(g->v[i].okey), free(g->v[i].reason);
  }
  free(g->v);
  memset(g, 0, sizeof *g);
}

static int str_differs(const char *got, const char *want)
{
  return !got || strcmp(got, want);
}

/* 1 when g is e (with the state s unless s is NULL, and the payload when
 * payload), else 0 with the first difference in why. */
static int same(const struct retryq_rec *g, const struct exp *e, const struct mst *s, int payload, char *why,
                size_t whysz)
{
#define DIFF(...) return (snprintf(why, whysz, __VA_ARGS__), 0)
  uint64_t q = e->seq;
  if (g->seq != e->seq) DIFF("seq %" PRIu64 " instead of %" PRIu64, g->seq, q);
  if (str_differs(g->endpoint, e->endpoint))
    DIFF("seq %" PRIu64 ": endpoint '%s' instead of '%s'", q, g->endpoint ? g->endpoint : "(null)",
         e->endpoint);
  if (str_differs(g->rule, e->rule))
    DIFF("seq %" PRIu64 ": rule '%s' instead of '%s'", q, g->rule ? g->rule : "(null)", e->rule);
  if (str_differs(g->id, e->id))
    DIFF("seq %" PRIu64 ": id '%s' instead of '%s'", q, g->id ? g->id : "(null)", e->id);
  if (!g->okey != !e->okey)
    DIFF("seq %" PRIu64 ": okey %s instead of %s", q, g->okey ? "set" : "NULL", e->okey ? "set" : "NULL");
  if (g->okeylen != e->okeylen || (e->okey && memcmp(g->okey, e->okey, e->okeylen)))
    DIFF("seq %" PRIu64 ": okey differs (%zu bytes instead of %zu)", q, g->okeylen, e->okeylen);
  if (g->created != e->created)
    DIFF("seq %" PRIu64 ": created %" PRId64 " instead of %" PRId64, q, g->created, e->created);
  if (s) {
    if (g->attempts != s->attempts)
      DIFF("seq %" PRIu64 ": attempts %u instead of %u", q, g->attempts, s->attempts);
    if (g->due != s->due) DIFF("seq %" PRIu64 ": due %" PRId64 " instead of %" PRId64, q, g->due, s->due);
    if (!g->dead != !s->dead) DIFF("seq %" PRIu64 ": dead %d instead of %d", q, g->dead, s->dead);
    if (s->dead && g->dead_at != s->dead_at)
      DIFF("seq %" PRIu64 ": dead_at %" PRId64 " instead of %" PRId64, q, g->dead_at, s->dead_at);
    if (s->dead && (s->reason ? str_differs(g->reason, s->reason) : g->reason && *g->reason))
      DIFF("seq %" PRIu64 ": reason '%s' instead of '%s'", q, g->reason ? g->reason : "(null)",
           s->reason ? s->reason : "(null)");
  }
  if (payload) {
    if (g->payloadlen != e->payloadlen)
      DIFF("seq %" PRIu64 ": payload of %zu bytes instead of %zu", q, g->payloadlen, e->payloadlen);
    if (e->payloadlen && (!g->payload || memcmp(g->payload, e->payload, e->payloadlen)))
      DIFF("seq %" PRIu64 ": the payload's bytes differ", q);
  }
  return 1;
#undef DIFF
}

/* The model's delivery of seq, preferring one present in st; -1 if none. */
static long find(const struct model *m, const struct mst *st, uint64_t seq)
{
  long any = -1;
  for (size_t i = m->n; i-- > 0;)
    if (m->e[i].seq == seq) {
      if (st[i].present) return (long)i;
      any = (long)i;
    }
  return any;
}

static int verify_reads = 1; /* verify reads every listed record back */

struct vres {
  size_t listed, missing, wrong, unordered, badread;
  char first[400];
};

#define NOTE(v, ...) ((v)->first[0] ? (void)0 : (void)snprintf((v)->first, sizeof(v)->first, __VA_ARGS__))

/* Lists q and reads every record back: each listed record must be present
 * in st with the same fields, state and payload; each present one must be
 * listed unless may_miss[i]. st NULL: the model's own state. */
static void verify(struct retryq *q, const struct model *m, const struct mst *st, const char *may_miss,
                   struct vres *v)
{
  memset(v, 0, sizeof *v);
  if (!st) st = m->s;
  struct got g = {0};
  retryq_list(q, collect, &g);
  v->listed = g.n;
  char *seen = xcalloc(m->n + 1, 1);
  for (size_t k = 0; k < g.n; k++) {
    const struct retryq_rec *r = &g.v[k];
    char why[300];
    if (k && r->seq <= g.v[k - 1].seq) {
      v->unordered++;
      NOTE(v, "seq %" PRIu64 " listed after %" PRIu64, r->seq, g.v[k - 1].seq);
    }
    long i = find(m, st, r->seq);
    if (i < 0 || !st[i].present) {
      v->wrong++;
      NOTE(v, "seq %" PRIu64 " is listed but %s", r->seq,
           i < 0 ? "was never added" : "was not added or is done");
      continue;
    }
    seen[i] = 1;
    if (!same(r, &m->e[i], &st[i], 0, why, sizeof why)) {
      v->wrong++;
      NOTE(v, "listed: %s", why);
      continue;
    }
    if (!verify_reads) continue;
    struct retryq_rec full;
    char err[256] = "";
    memset(&full, 0, sizeof full);
    if (retryq_read(q, r->seq, &full, err, sizeof err)) {
      v->badread++;
      NOTE(v, "retryq_read %" PRIu64 ": %s", r->seq, err);
      continue;
    }
    if (!same(&full, &m->e[i], NULL, 1, why, sizeof why)) {
      v->badread++;
      NOTE(v, "retryq_read: %s", why);
    }
    retryq_rec_free(&full);
  }
  for (size_t i = 0; i < m->n; i++)
    if (st[i].present && !seen[i] && !(may_miss && may_miss[i])) {
      v->missing++;
      NOTE(v, "seq %" PRIu64 " (delivery %zu) is missing", m->e[i].seq, i);
    }
  free(seen);
  got_free(&g);
}

static int vres_ok(const struct vres *v)
{
  return !v->missing && !v->wrong && !v->unordered && !v->badread;
}

/* One test: the queue holds what the model says. */
static int check(struct retryq *q, const struct model *m, const char *name)
{
  struct vres v;
  verify(q, m, NULL, NULL, &v);
  int r = ok(vres_ok(&v), name);
  if (!r)
    diag("%zu listed, %zu missing, %zu wrong, %zu out of order, %zu bad reads; first: %s", v.listed,
         v.missing, v.wrong, v.unordered, v.badread, v.first);
  return r;
}

static void count_model(const struct model *m, const struct mst *st, size_t *live, size_t *dead)
{
  *live = *dead = 0;
  for (size_t i = 0; i < m->n; i++)
    if (st[i].present) {
      if (st[i].dead)
        (*dead)++;
      else
        (*live)++;
    }
}

/* ---- the tests ---- */

/* Records of every size, with and without an ordering key, come back
 * exactly, in the session and after a reopen. */
static void test_roundtrip(void)
{
  char dir[PATH_MAX];
  join(dir, root, "roundtrip");
  struct model m = {0};
  struct retryq_report rep;
  struct retryq *q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!ok(q, "a queue opens in a directory it creates")) return;
  ok(rep.live == 0 && rep.dead == 0 && rep.bad_records == 0 && rep.bad_bytes == 0,
     "a new queue is empty and undamaged");

  static const size_t sizes[] = {0, 1, 2, 100 * 1024, 511, 512, 513, 4095, 4096, 4097, 65536, 0, 3};
  enum { N = 40 };
  uint64_t last = 0;
  int monotone = 1, increasing = 1, early_read = 0;
  for (size_t k = 0; k < N; k++) {
    size_t len = k < sizeof sizes / sizeof *sizes ? sizes[k] : rnd_below(3000);
    size_t i = model_new(&m, len, (int)(k % 3));
    uint64_t t;
    if (k == 0) {
      t = add(q, &m, i); /* payload NULL, length 0 */
    } else {
      t = add_copied(q, &m, i); /* a zero-length payload is a non-NULL pointer here */
    }
    if (t < last) monotone = 0;
    if (k && m.e[i].seq <= m.e[i - 1].seq) increasing = 0;
    last = t;
    if (len == 100 * 1024) {
      struct retryq_rec r;
      char err[256] = "", why[400] = "";
      memset(&r, 0, sizeof r);
      if (!retryq_read(q, m.e[i].seq, &r, err, sizeof err)) {
        early_read = same(&r, &m.e[i], NULL, 1, why, sizeof why);
        if (!early_read) diag("%s", why);
        retryq_rec_free(&r);
      } else {
        diag("retryq_read: %s", err);
      }
    }
  }
  ok(increasing, "retryq_add gives increasing seqs");
  ok(monotone, "tickets do not go back");
  ok(early_read, "a 100 KB record reads back at once, durable or not");
  check(q, &m,
        "in the session, 40 records list and read back exactly (the caller's copies were scribbled over)");
  ok(qsync(q) == 0, "retryq_sync");
  ok(retryq_durable(q) >= last, "after retryq_sync, retryq_durable reaches the last ticket");
  char qerr[256] = "";
  is_int(retryq_error(q, qerr, sizeof qerr), 0, "retryq_error is 0 while writing works");
  struct retryq_stats st;
  retryq_stats(q, &st);
  ok(st.live == N && st.dead == 0 && st.pending == 0, "retryq_stats: 40 live, none dead, nothing pending");
  if (!ok(qclose(q) == 0, "retryq_close")) return;

  uint64_t size = 0;
  size_t nseg = count_segs(dir, NULL, NULL);
  size = seg_bytes(dir);
  q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!ok(q, "the queue opens again")) return;
  ok(rep.live == N && rep.dead == 0, "the report counts 40 live deliveries");
  ok(rep.bad_records == 0 && rep.bad_bytes == 0, "  and no damage");
  if (!is_int(rep.segments, nseg, "  and as many segments as there are files")) diag("%zu .seg files", nseg);
  is_int(rep.bytes, size, "  and their bytes");
  check(q, &m, "after a reopen, all 40 list in seq order with the same fields and read back byte-exact");

  struct retryq_rec r;
  char err[256] = "";
  memset(&r, 0, sizeof r);
  ok(retryq_read(q, m.e[N - 1].seq + 1000, &r, err, sizeof err) == -1 && err[0],
     "retryq_read of an unknown seq fails");
  diag("%s", err);
  qclose(q);
  model_free(&m);
}

static int stop_at_first(void *arg, const struct retryq_rec *r)
{
  (void)r;
  (*(int *)arg)++;
  return 1;
}

/* The event loop's way: retryq_fd wakes it, retryq_durable tells how far. */
static void test_tickets_fd(void)
{
  char dir[PATH_MAX];
  join(dir, root, "tickets");
  struct model m = {0};
  struct retryq *q = qopen(dir, 0, 0, NULL, 0, NULL);
  if (!ok(q, "a queue for the tickets")) return;
  int fd = retryq_fd(q);
  ok(fd >= 0, "retryq_fd is a descriptor");
  qsync(q);
  retryq_ack_fd(q);

  uint64_t t = add(q, &m, model_new(&m, 512, 0));
  int woke = 0;
  double deadline = now() + 5;
  while (retryq_durable(q) < t && now() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
      woke++;
      retryq_ack_fd(q);
    }
  }
  ok(retryq_durable(q) >= t, "without retryq_sync, the record becomes durable within 5 s");
  /* the writer may have made it durable before the first look: its
   * wake-up is then still pending */
  if (!woke) {
    struct pollfd p0 = {.fd = fd, .events = POLLIN};
    if (poll(&p0, 1, 1000) > 0 && (p0.revents & POLLIN)) woke++;
  }
  ok(woke > 0, "  and retryq_fd became readable for it");

  /* a wake-up may still be on its way: take it, then there is none */
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, 300) > 0) retryq_ack_fd(q);
  p.revents = 0;
  is_int(poll(&p, 1, 300), 0, "after retryq_ack_fd, with nothing written, retryq_fd is not readable");

  uint64_t t2 = add(q, &m, model_new(&m, 100, 1));
  ok(t2 >= t, "the next ticket is not smaller");
  p.revents = 0;
  ok(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN), "the next write makes retryq_fd readable again");
  retryq_ack_fd(q);
  qsync(q);
  ok(retryq_durable(q) >= t2, "retryq_sync makes it durable");

  int n = 0;
  retryq_list(q, stop_at_first, &n);
  is_int(n, 1, "retryq_list stops when the callback returns non-zero");
  qclose(q);
  model_free(&m);
}

/* attempt, dead, revive and done, in memory and after reopens (once with
 * the last changes left for retryq_close to write). */
static void test_states(void)
{
  char dir[PATH_MAX];
  join(dir, root, "states");
  struct model m = {0};
  struct retryq_report rep;
  struct retryq *q = qopen(dir, 0, 0, NULL, 0, NULL);
  if (!ok(q, "a queue for the states")) return;
  for (int k = 0; k < 7; k++)
    add(q, &m, model_new(&m, 100 + (size_t)k, k % 3));
  struct op ops[] = {
      {OP_ATTEMPT, 0, 3, 2000000000, NULL},
      {OP_DEAD, 1, 0, 1700000100, "HTTP 410 Gone"},
      {OP_DEAD, 2, 0, 1700000200, "gave up"},
      {OP_REVIVE, 2, 0, 1700000500, NULL},
      {OP_DONE, 3, 0, 0, NULL},
      {OP_DEAD, 4, 0, 1700000300, NULL},
      {OP_DEAD, 5, 0, 1700000400, "dropped"},
      {OP_DONE, 5, 0, 0, NULL},
      {OP_ATTEMPT, 6, 2, 1700001000, NULL},
      {OP_ATTEMPT, 6, 5, 1700009000, NULL},
  };
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    perform(q, &m, &ops[k]);
  check(q, &m, "in the session: attempted, dead (with and without reason), revived, done");
  struct retryq_stats st;
  retryq_stats(q, &st);
  ok(st.live == 3 && st.dead == 2, "retryq_stats: 3 live, 2 dead");
  qsync(q);
  qclose(q);

  q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!ok(q, "the queue opens again")) return;
  ok(rep.live == 3 && rep.dead == 2, "the report: 3 live, 2 dead letters");
  if (rep.live != 3 || rep.dead != 2) diag("live %zu dead %zu", rep.live, rep.dead);
  check(q, &m, "after a reopen: the states are kept, done ones are gone, the dead have reason and dead_at");
  struct retryq_rec r;
  char err[256] = "";
  memset(&r, 0, sizeof r);
  ok(retryq_read(q, m.e[3].seq, &r, err, sizeof err) == -1,
     "a finished delivery cannot be read after a reopen");

  /* changes left for retryq_close to write */
  struct op more[] = {
      {OP_REVIVE, 4, 0, 1800000000, NULL},
      {OP_ATTEMPT, 0, 4, 2100000000, NULL},
      {OP_DONE, 6, 0, 0, NULL},
      {OP_DEAD, 2, 0, 1700000600, "max attempts"},
  };
  for (size_t k = 0; k < sizeof more / sizeof *more; k++)
    perform(q, &m, &more[k]);
  ok(qclose(q) == 0, "retryq_close writes what is pending");
  q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!ok(q, "the queue opens a third time")) return;
  ok(rep.live == 2 && rep.dead == 2, "the report: 2 live, 2 dead letters");
  check(q, &m, "what retryq_close wrote is there: revived, attempted again, done, dead");
  qclose(q);
  model_free(&m);
}

/* seq is never reused, also when every delivery is done and the segments
 * that held them are gone. */
static void test_seq(void)
{
  char dir[PATH_MAX];
  join(dir, root, "seq");
  struct model m = {0};
  struct retryq *q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!ok(q, "a queue for seq")) return;
  for (int k = 0; k < 5; k++)
    add(q, &m, model_new(&m, 1000, 0));
  retryq_done(q, m.e[3].seq), m.s[3].present = 0;
  retryq_done(q, m.e[4].seq), m.s[4].present = 0;
  uint64_t max = m.e[4].seq;
  qclose(q);

  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!ok(q, "reopened")) return;
  size_t i = model_new(&m, 10, 0);
  add(q, &m, i);
  ok(m.e[i].seq > max, "after a reopen, the next seq is above every seq given before, done ones included");
  max = m.e[i].seq;
  for (size_t k = 0; k < m.n; k++)
    if (m.s[k].present) retryq_done(q, m.e[k].seq), m.s[k].present = 0;
  for (int k = 0; k < 30; k++) { /* rolls segments, so that compaction can delete the old ones */
    size_t j = model_new(&m, 1000, 0);
    add(q, &m, j);
    retryq_done(q, m.e[j].seq), m.s[j].present = 0;
    max = m.e[j].seq;
    if (k % 5 == 4) qsync(q);
  }
  qsync(q);
  qclose(q);

  struct retryq_report rep;
  q = qopen(dir, 4096, 0, NULL, 0, &rep);
  if (!ok(q, "reopened once everything is done")) return;
  ok(rep.live == 0 && rep.dead == 0, "nothing is left");
  i = model_new(&m, 10, 0);
  add(q, &m, i);
  ok(m.e[i].seq > max, "the next seq is still above every seq given before");
  diag("last seq before: %" PRIu64 ", new: %" PRIu64 ", %zu segment(s)", max, m.e[i].seq,
       count_segs(dir, NULL, NULL));
  qclose(q);
  model_free(&m);

  /* One old delivery stays while 60 newer ones are added and done; after a
   * reopen, a change to the old one lets compaction copy it forward and
   * delete the segments that held the newer ones. */
  join(dir, root, "seq-copied");
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!ok(q, "a queue for seq with a long-lived delivery")) return;
  size_t old = 0;
  for (int k = 0; k < 20; k++) { /* the old one among others, so that its segment is mostly done */
    size_t j = model_new(&m, 300, 0);
    add(q, &m, j);
    if (k == 9) old = j;
  }
  qsync(q);
  for (size_t j = 0; j < m.n; j++)
    if (m.s[j].present && j != old) retryq_done(q, m.e[j].seq), m.s[j].present = 0;
  for (int k = 0; k < 60; k++) {
    size_t j = model_new(&m, 300, 0);
    add(q, &m, j);
    retryq_done(q, m.e[j].seq), m.s[j].present = 0;
    max = m.e[j].seq;
    qsync(q); /* small batches: the segment holding the old one fills up and is mostly done */
  }
  qclose(q);
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!q) return;
  for (int k = 0; k < 3; k++) { /* a few writes, each followed by compaction */
    struct op o = {OP_ATTEMPT, old, (uint32_t)(2 + k), 1800000000 + k, NULL};
    perform(q, &m, &o);
    qsync(q);
  }
  qclose(q);
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!q) return;
  check(q, &m, "the long-lived delivery is kept, with its last attempt");
  i = model_new(&m, 10, 0);
  add(q, &m, i);
  if (!ok(m.e[i].seq > max, "the next seq is above the seqs of the done ones whose segments were deleted"))
    diag("seq %" PRIu64 " given again (the last one given before was %" PRIu64 "), %zu segment(s)",
         m.e[i].seq, max, count_segs(dir, NULL, NULL));
  qclose(q);
  model_free(&m);
}

/* Small segments, most deliveries done: old segments go away, the live and
 * dead ones survive (the oldest one is in the first segment, so it has to
 * be copied forward), and no done one comes back. Then steady traffic
 * (added and finished at once) next to those few long-lived deliveries:
 * the number of segments must stay bounded, not grow with the traffic. */
static void test_compaction(void)
{
  char dir[PATH_MAX];
  join(dir, root, "compact");
  struct model m = {0};
  struct retryq *q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!ok(q, "a queue with 4 KB segments")) return;
  enum { N = 300, ROUNDS = 60 };
  for (int k = 0; k < N; k++) {
    add(q, &m, model_new(&m, k == 120 ? 100 * 1024 : 300, k % 3));
    if (k % 10 == 9) qsync(q); /* a batch goes to one segment: small batches, many segments */
  }
  qsync(q);
  size_t peak = count_segs(dir, NULL, NULL);
  ok(peak >= 20,
     "300 records of 300 bytes (and one of 100 KB), synced 10 at a time, fill at least 20 segments");
  diag("%zu segments, %" PRIu64 " bytes", peak, seg_bytes(dir));
  struct op dead = {OP_DEAD, 80, 0, 1700000000, "kept as a dead letter"};
  perform(q, &m, &dead);
  for (size_t k = 0; k < N; k++)
    if (k != 0 && k != 37 && k != 80 && k != 150 && k != 299) {
      struct op o = {OP_DONE, k, 0, 0, NULL};
      perform(q, &m, &o);
    }
  qsync(q);
  /* more traffic, finished at once, rolls more segments */
  size_t most = 0, fewest = peak;
  for (int round = 0; round < ROUNDS; round++) {
    for (int k = 0; k < 10; k++) {
      size_t j = model_new(&m, 300, 0);
      add(q, &m, j);
      struct op o = {OP_DONE, j, 0, 0, NULL};
      perform(q, &m, &o);
    }
    qsync(q);
    size_t n = count_segs(dir, NULL, NULL);
    if (round >= ROUNDS / 2 && n > most) most = n;
    if (n < fewest) fewest = n;
  }
  ok(fewest < peak / 2, "compaction deletes segments once most deliveries are done");
  diag("%zu segments at the peak, %zu at the fewest", peak, fewest);
  if (!ok(most <= 8,
          "  and with 5 long-lived deliveries, 600 more added and done keep it at most 8 segments"))
    diag("up to %zu segments in the last 30 rounds (%zu at the end, %" PRIu64
         " bytes): a long-lived delivery in an "
         "old segment keeps every newer segment on disk",
         most, count_segs(dir, NULL, NULL), seg_bytes(dir));
  check(q, &m, "in the session, 4 live and 1 dead remain, exact");
  qclose(q);

  struct retryq_report rep;
  q = qopen(dir, 4096, 0, NULL, 0, &rep);
  if (!ok(q, "reopened after compaction")) return;
  ok(rep.live == 4 && rep.dead == 1 && rep.bad_records == 0 && rep.bad_bytes == 0,
     "the report: 4 live, 1 dead, no damage");
  check(q, &m, "after the reopen: the 5 kept are exact and none of the 895 done ones came back");

  for (size_t k = 0; k < m.n; k++)
    if (m.s[k].present) {
      struct op o = {OP_DONE, k, 0, 0, NULL};
      perform(q, &m, &o);
    }
  for (int k = 0; k < 100; k++) {
    size_t j = model_new(&m, 300, 0);
    add(q, &m, j);
    struct op o = {OP_DONE, j, 0, 0, NULL};
    perform(q, &m, &o);
    if (k % 10 == 9) qsync(q);
  }
  qsync(q);
  qclose(q);
  size_t after = count_segs(dir, NULL, NULL);
  ok(after <= 3, "with everything done, at most 3 segments remain");
  diag("%zu segments, %" PRIu64 " bytes", after, seg_bytes(dir));
  q = qopen(dir, 4096, 0, NULL, 0, &rep);
  if (q) {
    ok(rep.live == 0 && rep.dead == 0, "  and they hold no delivery");
    check(q, &m, "  none listed");
    qclose(q);
  }
  model_free(&m);
}

/* Random operations on small segments, reopened now and then, against the
 * model. */
static void test_model(void)
{
  char dir[PATH_MAX];
  join(dir, root, "model");
  rng = seed;
  struct model m = {0};
  struct retryq *q = qopen(dir, 2048, 0, NULL, 0, NULL);
  if (!ok(q, "a queue with 2 KB segments for the model")) return;
  enum { OPS = 6000 };
  int reopens = 0, failed_sessions = 0, failed_reopens = 0, bad_reports = 0;
  char first[1000] = "";
  for (int n = 0; n < OPS && q; n++) {
    struct op o = random_op(&m, m.s, 1200, 45);
    perform(q, &m, &o);
    if (rnd_below(20) == 0) qsync(q);
    if (n % 750 == 749 || n == OPS - 1) {
      struct vres v;
      verify(q, &m, NULL, NULL, &v);
      if (!vres_ok(&v)) {
        failed_sessions++;
        if (!first[0]) snprintf(first, sizeof first, "before reopen %d: %s", reopens, v.first);
      }
      if (qclose(q)) failed_reopens++;
      struct retryq_report rep;
      q = qopen(dir, 2048, 0, NULL, 0, &rep);
      reopens++;
      if (!q) {
        failed_reopens++;
        break;
      }
      size_t live, dead;
      count_model(&m, m.s, &live, &dead);
      if (rep.live != live || rep.dead != dead || rep.bad_records || rep.bad_bytes) {
        bad_reports++;
        diag("reopen %d: report live %zu dead %zu bad %zu/%" PRIu64 ", model live %zu dead %zu", reopens,
             rep.live, rep.dead, rep.bad_records, rep.bad_bytes, live, dead);
      }
      verify(q, &m, NULL, NULL, &v);
      if (!vres_ok(&v)) {
        failed_sessions++;
        if (!first[0]) snprintf(first, sizeof first, "after reopen %d: %s", reopens, v.first);
      }
    }
  }
  ok(!failed_reopens, "every close and reopen of the model run succeeds");
  if (!ok(!failed_sessions,
          "6,000 random operations with 8 reopens agree with the model, in the session and after"))
    diag("seed %" PRIu64 ": %s", seed, first);
  ok(!bad_reports, "  and each reopen reports the model's counts and no damage");
  size_t live, dead;
  count_model(&m, m.s, &live, &dead);
  diag("%zu deliveries added, %zu live and %zu dead at the end, %zu segments", m.n, live, dead,
       count_segs(dir, NULL, NULL));
  if (q) qclose(q);
  model_free(&m);
}

/* ---- torn writes and damage ---- */

/* A queue in dir whose single segment holds the records of ops (each
 * synced alone): bound[k] is where the record of ops[k] ends, *hdr where
 * the first one starts. Returns the segment's path in seg, or -1. */
static int build_one_segment(const char *dir, struct model *m, struct op *ops, size_t nops, uint64_t *bound,
                             uint64_t *hdr, char *seg, int with_states)
{
  struct retryq *q = qopen(dir, 0, 0, NULL, 0, NULL);
  if (!q) return -1;
  int rc = 0;
  qsync(q);
  count_segs(dir, NULL, hdr);
  struct mst *st = xcalloc(nops + 1, sizeof *st);
  for (size_t k = 0; k < nops; k++) {
    if (!with_states || k < 3) {
      ops[k] = (struct op){.type = OP_ADD, .i = model_new(m, k == 1 ? 0 : rnd_below(1500), (int)(k % 3))};
    } else {
      ops[k] = random_op(m, st, 1500, 60);
      if (ops[k].type == OP_ADD && m->e[ops[k].i].payloadlen > 1500)
        m->e[ops[k].i].payloadlen = 1500; /* records of moderate size only */
    }
    st = xrealloc(st, (m->n + 1) * sizeof *st);
    if (ops[k].type == OP_ADD) st[ops[k].i] = m->s[ops[k].i];
    perform(q, m, &ops[k]);
    apply(st, &ops[k]);
    if (qsync(q)) rc = -1;
    size_t n = count_segs(dir, seg, &bound[k]);
    if (n != 1) {
      diag("%zu segments after record %zu: the test expects one", n, k);
      rc = -1;
    }
    if (bound[k] <= (k ? bound[k - 1] : *hdr)) {
      diag("the segment did not grow with record %zu (%" PRIu64 " bytes)", k, bound[k]);
      rc = -1;
    }
  }
  free(st);
  if (qclose(q)) rc = -1;
  uint64_t size = file_size(seg);
  if (count_segs(dir, NULL, NULL) != 1 || size != bound[nops - 1]) {
    diag("after retryq_close: %zu segments, the last %" PRIu64 " bytes (%" PRIu64 " after the last record)",
         count_segs(dir, NULL, NULL), size, bound[nops - 1]);
    rc = -1;
  }
  return rc;
}

/* The state after the first k operations. */
static struct mst *replay(const struct model *m, const struct op *ops, size_t k, size_t extra)
{
  struct mst *st = xcalloc(m->n + extra + 1, sizeof *st);
  for (size_t j = 0; j < k; j++) {
    if (ops[j].type == OP_ADD) {
      st[ops[j].i] = (struct mst){.present = 1, .attempts = 1, .due = m->e[ops[j].i].created + 30};
    } else {
      apply(st, &ops[j]);
    }
  }
  return st;
}

/* After a repair, a second open finds no damage and the same records, and a
 * new record can be appended and read back after yet another open. st has
 * room for the model's index x, the new record. */
static int repaired(const char *dir, struct model *m, struct mst *st, size_t x, const char *may_miss,
                    const struct got *first, char *why, size_t whysz)
{
  struct retryq_report rep;
  struct retryq *q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!q) return snprintf(why, whysz, "the second open fails"), 0;
  int good = 1;
  if (rep.bad_bytes || rep.bad_records) {
    snprintf(why, whysz, "the second open finds damage again: %zu records, %" PRIu64 " bytes",
             rep.bad_records, rep.bad_bytes);
    good = 0;
  }
  struct got g = {0};
  retryq_list(q, collect, &g);
  if (good && g.n != first->n) {
    snprintf(why, whysz, "the second open lists %zu records, the first %zu", g.n, first->n);
    good = 0;
  }
  for (size_t k = 0; good && k < g.n; k++)
    if (g.v[k].seq != first->v[k].seq) {
      snprintf(why, whysz, "the second open lists seq %" PRIu64 " where the first had %" PRIu64, g.v[k].seq,
               first->v[k].seq);
      good = 0;
    }
  got_free(&g);
  st[x] = (struct mst){.present = 1, .attempts = 1, .due = m->e[x].created + 30};
  add(q, m, x);
  if (qsync(q) || qclose(q)) {
    if (good) snprintf(why, whysz, "cannot append after the repair");
    good = 0;
  }
  q = qopen(dir, 0, 0, NULL, 0, &rep);
  if (!q) return snprintf(why, whysz, "the third open fails"), 0;
  struct vres v;
  verify(q, m, st, may_miss, &v);
  if (good && (!vres_ok(&v) || rep.bad_bytes)) {
    snprintf(why, whysz, "after appending and reopening: %s (bad_bytes %" PRIu64 ")", v.first, rep.bad_bytes);
    good = 0;
  }
  qclose(q);
  st[x].present = 0;
  return good;
}

/* A readonly open of dir changes no file, reports damage when expected,
 * and lists what st says (with may_miss). */
static int readonly_ok(const char *dir, const struct model *m, const struct mst *st, const char *may_miss,
                       int damaged, char *why, size_t whysz)
{
  struct snap a, b;
  struct retryq_report rep;
  snapshot(dir, &a);
  struct retryq *q = qopen(dir, 0, 0, NULL, 1, &rep);
  if (!q) return snprintf(why, whysz, "the readonly open fails"), 0;
  struct vres v;
  verify(q, m, st, may_miss, &v);
  char err[256];
  retryq_close(q, 1, err, sizeof err);
  snapshot(dir, &b);
  if (!snap_same(&a, &b, why, whysz)) return 0;
  if (damaged && !rep.bad_bytes) return snprintf(why, whysz, "the readonly open reports no damage"), 0;
  if (!vres_ok(&v)) return snprintf(why, whysz, "readonly: %s", v.first), 0;
  return 1;
}

/* The segment cut at 200 random places (and around every boundary of the
 * first records). */
static void test_truncate(void)
{
  char src[PATH_MAX], seg[PATH_MAX], segname[256];
  join(src, root, "torn-src");
  rng = seed + 1;
  struct model m = {0};
  enum { NOPS = 45, ITER = 200 };
  struct op ops[NOPS];
  uint64_t bound[NOPS], hdr = 0;
  int built = build_one_segment(src, &m, ops, NOPS, bound, &hdr, seg, 1) == 0;
  if (!ok(built, "a segment of 45 records (adds and changes of state), each synced alone")) {
    model_free(&m);
    return;
  }
  snprintf(segname, sizeof segname, "%s", strrchr(seg, '/') + 1);
  uint64_t size = bound[NOPS - 1];
  diag("segment %s: %" PRIu64 " bytes, records from offset %" PRIu64, segname, size, hdr);
  size_t x = model_new(&m, 333, 2); /* appended after each repair */

  int open_fail = 0, wrong = 0, report_wrong = 0, amount_wrong = 0, repair_wrong = 0, ro_wrong = 0;
  char first[1000] = "", first_report[300] = "", first_amount[300] = "", first_repair[1000] = "",
       first_ro[1000] = "";
  for (int it = 0; it < ITER; it++) {
    uint64_t cut;
    if (it < 30)
      cut = bound[it / 3] + (uint64_t)(it % 3) - 1; /* around the ends of the first 10 */
    else
      cut = rnd_below(size);
    if (cut >= size) cut = size - 1;
    size_t k = 0; /* the records wholly before the cut */
    while (k < NOPS && bound[k] <= cut)
      k++;
    uint64_t good_end = k ? bound[k - 1] : hdr;
    int mid = cut > good_end || (cut < hdr && cut > 0);
    char dst[PATH_MAX], name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "torn-%d", it);
    join(dst, root, name);
    join(path, dst, segname);
    if (copy_dir(src, dst) || truncate(path, (off_t)cut)) {
      diag("cannot prepare '%s'", dst);
      open_fail++;
      continue;
    }
    struct mst *st = replay(&m, ops, k, 1);
    char why[500];
    if (it % 10 == 0 && !readonly_ok(dst, &m, st, NULL, mid, why, sizeof why)) {
      ro_wrong++;
      if (!first_ro[0]) snprintf(first_ro, sizeof first_ro, "cut at %" PRIu64 ": %s", cut, why);
    }
    struct retryq_report rep;
    struct retryq *q = qopen(dst, 0, 0, NULL, 0, &rep);
    if (!q) {
      open_fail++;
      free(st);
      rm_rf(dst);
      continue;
    }
    struct vres v;
    verify(q, &m, st, NULL, &v);
    if (!vres_ok(&v)) {
      wrong++;
      if (!first[0])
        snprintf(first, sizeof first, "cut at %" PRIu64 " (%zu records before it): %s", cut, k, v.first);
    }
    if (!!mid != !!rep.bad_bytes) {
      report_wrong++;
      if (!first_report[0])
        snprintf(first_report, sizeof first_report, "cut at %" PRIu64 " (%s): bad_bytes %" PRIu64, cut,
                 mid ? "inside a record" : "at a boundary", rep.bad_bytes);
    }
    if (cut >= hdr && rep.bad_bytes != cut - good_end) {
      amount_wrong++;
      if (!first_amount[0])
        snprintf(first_amount, sizeof first_amount,
                 "cut at %" PRIu64 ", last good record ends at %" PRIu64 ": bad_bytes %" PRIu64
                 " instead of %" PRIu64,
                 cut, good_end, rep.bad_bytes, cut - good_end);
    }
    struct got g = {0};
    retryq_list(q, collect, &g);
    int closed = qclose(q) == 0;
    if (!closed || !repaired(dst, &m, st, x, NULL, &g, why, sizeof why)) {
      repair_wrong++;
      if (!first_repair[0])
        snprintf(first_repair, sizeof first_repair, "cut at %" PRIu64 ": %s", cut,
                 closed ? why : "close failed");
    }
    got_free(&g);
    free(st);
    rm_rf(dst);
  }
  ok(!open_fail, "200 cuts of the segment: every open succeeds");
  if (!ok(!wrong, "  every record wholly before the cut is back and intact, and nothing else"))
    diag("seed %" PRIu64 ", %d cuts wrong; first: %s", seed + 1, wrong, first);
  if (!ok(!report_wrong, "  bad_bytes > 0 exactly when the cut falls inside a record"))
    diag("seed %" PRIu64 ", %d cuts wrong; first: %s", seed + 1, report_wrong, first_report);
  if (!ok(!amount_wrong, "  bad_bytes is the number of bytes cut off after the last good record"))
    diag("seed %" PRIu64 ", %d cuts wrong; first: %s", seed + 1, amount_wrong, first_amount);
  if (!ok(!repair_wrong, "  the repair is durable: the next open finds no damage, and appending works"))
    diag("seed %" PRIu64 ", %d cuts wrong; first: %s", seed + 1, repair_wrong, first_repair);
  if (!ok(!ro_wrong,
          "  a readonly open (every 10th cut) changes no file, reports the cut and lists the same"))
    diag("seed %" PRIu64 ", %d cuts wrong; first: %s", seed + 1, ro_wrong, first_ro);
  rm_rf(src);
  model_free(&m);
}

/* 1 to 64 random bytes written at 200 random places of the segment. */
static void test_overwrite(void)
{
  char src[PATH_MAX], seg[PATH_MAX], segname[256];
  join(src, root, "damage-src");
  rng = seed + 2;
  struct model m = {0};
  enum { NOPS = 40, ITER = 200 };
  struct op ops[NOPS];
  uint64_t bound[NOPS], hdr = 0;
  int built = build_one_segment(src, &m, ops, NOPS, bound, &hdr, seg, 0) == 0;
  if (!ok(built, "a segment of 40 records, each synced alone")) {
    model_free(&m);
    return;
  }
  snprintf(segname, sizeof segname, "%s", strrchr(seg, '/') + 1);
  uint64_t size = bound[NOPS - 1];
  size_t x = model_new(&m, 444, 1);
  struct mst *all = replay(&m, ops, NOPS, 1);

  int open_fail = 0, wrong = 0, undetected = 0, no_bad_record = 0, repair_wrong = 0, ro_wrong = 0, lost = 0;
  char first[1000] = "", first_undetected[300] = "", first_nbr[300] = "", first_repair[1000] = "",
       first_ro[1000] = "";
  for (int it = 0; it < ITER; it++) {
    uint64_t off = hdr + rnd_below(size - hdr);
    size_t len = (size_t)(1 + rnd_below(64));
    if (off + len > size) len = (size_t)(size - off);
    unsigned char junk[64], orig[64];
    for (size_t k = 0; k < len; k++)
      junk[k] = (unsigned char)rnd();
    char dst[PATH_MAX], name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "damage-%d", it);
    join(dst, root, name);
    join(path, dst, segname);
    int fd = -1;
    if (copy_dir(src, dst) || (fd = open(path, O_RDWR)) < 0 ||
        pread(fd, orig, len, (off_t)off) != (ssize_t)len ||
        pwrite(fd, junk, len, (off_t)off) != (ssize_t)len) {
      diag("cannot prepare '%s'", dst);
      if (fd >= 0) close(fd);
      open_fail++;
      continue;
    }
    close(fd);
    int changed = memcmp(orig, junk, len) != 0;
    /* the records the damage overlaps may be lost; the others may not */
    char may_miss[NOPS + 2] = {0};
    size_t last_hit = 0;
    int hit_any = 0;
    for (size_t k = 0; k < NOPS; k++) {
      uint64_t start = k ? bound[k - 1] : hdr;
      if (off < bound[k] && off + len > start) may_miss[ops[k].i] = 1, last_hit = k, hit_any = 1;
    }
    char why[500];
    if (it % 10 == 0 && !readonly_ok(dst, &m, all, may_miss, changed, why, sizeof why)) {
      ro_wrong++;
      if (!first_ro[0]) snprintf(first_ro, sizeof first_ro, "%zu bytes at %" PRIu64 ": %s", len, off, why);
    }
    struct retryq_report rep;
    struct retryq *q = qopen(dst, 0, 0, NULL, 0, &rep);
    if (!q) {
      open_fail++;
      rm_rf(dst);
      continue;
    }
    struct vres v;
    verify(q, &m, all, may_miss, &v);
    if (!vres_ok(&v)) {
      wrong++;
      if (!first[0])
        snprintf(first, sizeof first, "%zu bytes at %" PRIu64 " (records %zu..%zu hit): %s", len, off,
                 last_hit + 1 - (size_t)hit_any, last_hit, v.first);
    }
    lost += (int)(NOPS - v.listed);
    if (changed && !rep.bad_bytes && !rep.bad_records) {
      undetected++;
      if (!first_undetected[0])
        snprintf(first_undetected, sizeof first_undetected, "%zu bytes at %" PRIu64 ": no damage reported",
                 len, off);
    }
    if (changed && hit_any && last_hit + 1 < NOPS && !rep.bad_records) {
      no_bad_record++;
      if (!first_nbr[0])
        snprintf(first_nbr, sizeof first_nbr,
                 "%zu bytes at %" PRIu64 " (record %zu of %d): bad_records 0, bad_bytes %" PRIu64, len, off,
                 last_hit, NOPS, rep.bad_bytes);
    }
    struct got g = {0};
    retryq_list(q, collect, &g);
    int closed = qclose(q) == 0;
    if (!closed || !repaired(dst, &m, all, x, may_miss, &g, why, sizeof why)) {
      repair_wrong++;
      if (!first_repair[0])
        snprintf(first_repair, sizeof first_repair, "%zu bytes at %" PRIu64 ": %s", len, off,
                 closed ? why : "close failed");
    }
    got_free(&g);
    rm_rf(dst);
  }
  ok(!open_fail, "200 damaged copies: every open succeeds");
  if (!ok(!wrong, "  every record the damage does not touch is back and intact, and nothing is invented"))
    diag("seed %" PRIu64 ", %d copies wrong; first: %s", seed + 2, wrong, first);
  if (!ok(!undetected, "  every change of bytes is reported"))
    diag("seed %" PRIu64 ", %d copies wrong; first: %s", seed + 2, undetected, first_undetected);
  if (!ok(!no_bad_record, "  damage before the last record counts in bad_records"))
    diag("seed %" PRIu64 ", %d copies wrong; first: %s", seed + 2, no_bad_record, first_nbr);
  if (!ok(!repair_wrong,
          "  the repair is durable: the next open finds no damage and the same records, appending works"))
    diag("seed %" PRIu64 ", %d copies wrong; first: %s", seed + 2, repair_wrong, first_repair);
  if (!ok(!ro_wrong,
          "  a readonly open (every 10th copy) changes no file, reports the damage and lists the same"))
    diag("seed %" PRIu64 ", %d copies wrong; first: %s", seed + 2, ro_wrong, first_ro);
  diag("%d records lost to damage in 200 copies of 40", lost);
  free(all);
  rm_rf(src);
  model_free(&m);
}

/* A torn write must not apply records found inside a payload: a payload
 * may hold any bytes, among them those of a valid record (here the DONE of
 * an older delivery, taken from another queue). The record holding it is
 * cut after those bytes, as a crash in its write would; the delivery the
 * embedded DONE names must stay. */
static void test_embedded(void)
{
  char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], seg[PATH_MAX], segname[256];
  const char *name = "a record torn after a valid record inside its payload: nothing inside it is applied";
  join(a, root, "embed-a");
  join(b, root, "embed-b");
  join(c, root, "embed-c");
  struct model m = {0};
  struct retryq *q = qopen(a, 0, 0, NULL, 0, NULL);
  if (!q) {
    ok(0, name);
    return;
  }
  size_t i = model_new(&m, 10, 0);
  uint64_t s1 = 0, s2 = 0, b1 = 0, b2 = 0;
  add(q, &m, i);
  qsync(q);
  count_segs(a, seg, &s1);
  retryq_done(q, m.e[i].seq);
  qsync(q);
  count_segs(a, NULL, &s2);
  qclose(q);
  char done_bytes[256];
  size_t dn = (size_t)(s2 - s1);
  int fd = open(seg, O_RDONLY);
  int got = dn <= sizeof done_bytes && fd >= 0 && pread(fd, done_bytes, dn, (off_t)s1) == (ssize_t)dn;
  if (fd >= 0) close(fd);

  q = got ? qopen(b, 0, 0, NULL, 0, NULL) : NULL;
  if (!q) {
    ok(0, name);
    diag("cannot take the bytes of a DONE record (%zu bytes)", dn);
    model_free(&m);
    return;
  }
  size_t l = model_new(&m, 100, 1);
  add(q, &m, l);
  qsync(q);
  count_segs(b, seg, &b1);
  size_t p = model_new(&m, 0, 0);
  m.e[p].payloadlen = 400 + dn;
  m.e[p].payload = xmalloc(m.e[p].payloadlen);
  memset(m.e[p].payload, 'x', 200);
  memcpy(m.e[p].payload + 200, done_bytes, dn);
  memset(m.e[p].payload + 200 + dn, 'y', 200);
  add(q, &m, p);
  qsync(q);
  count_segs(b, seg, &b2);
  qclose(q);
  if (m.e[l].seq != m.e[i].seq) {
    skip(name, "the two queues did not start at the same seq");
    model_free(&m);
    return;
  }
  m.s[i].present = 0;
  m.s[p].present = 0; /* torn: not durable */
  char path[PATH_MAX];
  snprintf(segname, sizeof segname, "%s", strrchr(seg, '/') + 1);
  join(path, c, segname);
  struct retryq_report rep;
  if (copy_dir(b, c) || truncate(path, (off_t)(b2 - 100)) || !(q = qopen(c, 0, 0, NULL, 0, &rep))) {
    ok(0, name);
    model_free(&m);
    return;
  }
  struct vres v;
  verify(q, &m, NULL, NULL, &v);
  if (!ok(vres_ok(&v) && rep.bad_bytes > 0, name))
    diag("%s; bad_records %zu, bad_bytes %" PRIu64 " (the torn record spans %" PRIu64 "..%" PRIu64
         ", cut at %" PRIu64 ")",
         v.first, rep.bad_records, rep.bad_bytes, b1, b2, b2 - 100);
  qclose(q);
  model_free(&m);
}

/* readonly on a clean queue of several segments: no file created or
 * touched, and the writing calls are not needed to look. */
/* ---- the accounting: the manifest names what damage took ---- */

/* The n-th .seg file of dir by name (0: the oldest), into out. */
static int nth_seg(const char *dir, int n, char *out)
{
  struct dirent **ents;
  int k = scandir(dir, &ents, NULL, alphasort), found = 0, at = 0;
  for (int i = 0; i < k; i++) {
    if (is_seg(ents[i]->d_name) && at++ == n && !found) {
      join(out, dir, ents[i]->d_name);
      found = 1;
    }
    free(ents[i]);
  }
  free(ents);
  return found;
}

static void test_manifest(void)
{
  char dir[PATH_MAX], seg[PATH_MAX], err[512];
  join(dir, root, "manifest");
  struct retryq *q = qopen(dir, 4096, 0, NULL, 0, NULL);
  char pay[600], id[48], gtid[32];
  memset(pay, 'p', sizeof pay);
  for (int i = 0; i < 30; i++) {
    snprintf(id, sizeof id, "msg_%d", i);
    snprintf(gtid, sizeof gtid, "0-1-%d", 100 + i);
    struct retryq_rec r = {.endpoint = "e", .rule = "r", .id = id, .created = 1, .due = 1, .payload = pay,
                           .payloadlen = sizeof pay, .binlog = "binlog.000002", .binlog_pos = 1000 + (uint64_t)i,
                           .gtid = gtid};
    retryq_add(q, &r);
    qsync(q);
  }
  ok(!qclose(q), "a queue of 30 deliveries over several segments closes");
  struct retryq_report rep;
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  ok(q && !retryq_damage(q), "an intact queue opens without damage");
  struct retryq_rec back;
  if (q && !retryq_read(q, 5, &back, err, sizeof err)) {
    is_str(back.binlog, "binlog.000002", "the ADD record brings back its change's binlog file");
    is_int(back.binlog_pos, 1004, "and position");
    is_str(back.gtid, "0-1-104", "and GTID");
    retryq_rec_free(&back);
  } else {
    ok(0, "seq 5 reads back");
  }
  qclose(q);

  /* a segment deleted: missing, and the deliveries in it named */
  ok(nth_seg(dir, 1, seg) && !unlink(seg), "the second segment is deleted");
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  const struct retryq_damage *dg = q ? retryq_damage(q) : NULL;
  ok(dg != NULL, "a deleted segment is damage");
  is_int(rep.missing_segments, 1, "reported as one missing segment");
  ok(dg && dg->nlost > 0 && dg->nlost == rep.lost, "the deliveries in it are named as lost");
  ok(dg && rep.live + dg->nlost == 30, "every delivery is either there or named as lost");
  int named = 1;
  for (size_t i = 0; dg && i < dg->nlost; i++)
    named &= dg->lost[i].binlog && !strcmp(dg->lost[i].binlog, "binlog.000002") && dg->lost[i].gtid != NULL;
  ok(named, "each lost one with its change's position and GTID");
  ok(dg && dg->has_low && dg->low.pos == 1000, "the low-water mark is the oldest waiting change");
  qclose(q);

  /* a writable open keeps the old manifest until retryq_healed */
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  qclose(q);
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  ok(q && retryq_damage(q) && retryq_damage(q)->nlost > 0, "the lost stay named until the damage is healed");
  qclose(q);
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (q) retryq_healed(q);
  qclose(q);
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  ok(q && !retryq_damage(q), "after retryq_healed the queue opens intact");
  qclose(q);

  /* the manifest removed while the segments say there is one */
  char man[PATH_MAX];
  join(man, dir, "MANIFEST");
  unlink(man);
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  ok(q && retryq_damage(q) && retryq_damage(q)->unnamed, "a missing manifest is damage that cannot be named");
  qclose(q);
}

/* The manifest's bytes at path into out (at most size), their length. */
static size_t read_all(const char *path, char *out, size_t size)
{
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(out, 1, size, f) : 0;
  if (f) fclose(f);
  return n;
}

/* A manifest written while a delivery waited, then the delivery finished
 * (its DONE record durable) and the process was killed before the next
 * manifest: the delivery finished, it is not lost. */
static void test_manifest_done(void)
{
  char dir[PATH_MAX], man[PATH_MAX];
  static char old[1 << 16];
  join(dir, root, "manifest-done");
  join(man, dir, "MANIFEST");
  struct retryq *q = qopen(dir, 4096, 0, NULL, 0, NULL);
  char pay[600], id[48];
  memset(pay, 'p', sizeof pay);
  for (int i = 0; i < 12; i++) {
    snprintf(id, sizeof id, "msg_%d", i);
    struct retryq_rec r = {.endpoint = "e", .rule = "r", .id = id, .created = 1, .due = 1, .payload = pay,
                           .payloadlen = sizeof pay, .binlog = "binlog.000002", .binlog_pos = 1000 + (uint64_t)i};
    retryq_add(q, &r);
    qsync(q);
  }
  qclose(q);
  size_t n = read_all(man, old, sizeof old);
  ok(n > 0 && n < sizeof old, "the manifest lists the twelve");
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  retryq_done(q, 3);
  retryq_done(q, 7);
  qsync(q);
  qclose(q);
  FILE *f = fopen(man, "wb"); /* the manifest of before: as if killed before it was written again */
  ok(f && fwrite(old, 1, n, f) == n && !fclose(f), "the older manifest put back");
  struct retryq_report rep;
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  ok(q && !retryq_damage(q), "deliveries the old manifest lists that finished since are not damage");
  is_int(rep.live, 10, "the ten still waiting are there");
  is_int(rep.lost, 0, "none is named lost");
  qclose(q);
}

static void test_readonly(void)
{
  char dir[PATH_MAX];
  join(dir, root, "readonly");
  struct model m = {0};
  struct retryq *q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (!ok(q, "a queue for readonly")) return;
  for (int k = 0; k < 30; k++)
    add(q, &m, model_new(&m, 700, k % 3));
  for (size_t k = 0; k < 30; k += 3) {
    struct op o = {OP_DONE, k, 0, 0, NULL};
    perform(q, &m, &o);
  }
  qclose(q);
  struct snap a, b;
  struct retryq_report rep;
  snapshot(dir, &a);
  sleep_ms(20); /* an mtime written now would differ */
  q = qopen(dir, 4096, 0, NULL, 1, &rep);
  if (!ok(q, "a readonly open")) return;
  ok(rep.live == 20 && rep.bad_bytes == 0 && rep.bad_records == 0, "  reports 20 live and no damage");
  check(q, &m, "  lists and reads the 20 exactly");
  char err[256] = "";
  ok(retryq_close(q, 1, err, sizeof err) == 0, "  closes");
  snapshot(dir, &b);
  char why[300] = "";
  if (!ok(snap_same(&a, &b, why, sizeof why), "  and no file was created, changed or touched"))
    diag("%s", why);
  model_free(&m);
}

/* max_bytes: full past the bound, not full once the finished deliveries
 * are compacted away; a queue reopened over the bound is full at once. */
static void test_full(void)
{
  char dir[PATH_MAX];
  join(dir, root, "full");
  struct model m = {0};
  enum { MAX = 32 * 1024 };
  struct retryq *q = qopen(dir, 4096, MAX, NULL, 0, NULL);
  if (!ok(q, "a queue bounded to 32 KB")) return;
  ok(!retryq_full(q), "an empty queue is not full");
  int n = 0;
  while (!retryq_full(q) && n < 200)
    add(q, &m, model_new(&m, 1000, 0)), n++;
  ok(retryq_full(q), "adding 1 KB records makes it full");
  ok(n >= MAX / 2 / 1000 && n <= MAX / 1000 + 4, "  after about 32 of them");
  diag("full after %d records", n);
  qsync(q);
  ok(retryq_full(q), "  and still full once they are durable");
  for (size_t k = 0; k < m.n; k++)
    if (m.s[k].present) {
      struct op o = {OP_DONE, k, 0, 0, NULL};
      perform(q, &m, &o);
    }
  qsync(q);
  double deadline = now() + 5;
  int extra = 0;
  while (retryq_full(q) && now() < deadline) { /* small traffic rolls the segments */
    size_t j = model_new(&m, 10, 0);
    add(q, &m, j);
    struct op o = {OP_DONE, j, 0, 0, NULL};
    perform(q, &m, &o);
    qsync(q);
    extra++;
    sleep_ms(10);
  }
  ok(!retryq_full(q), "once all are done and compacted away it is not full");
  struct retryq_stats st;
  retryq_stats(q, &st);
  ok(st.bytes <= MAX, "  and its bytes on disk are within the bound");
  diag("%d small records more, %" PRIu64 " bytes in %zu segments", extra, st.bytes, st.segments);

  n = 0;
  while (!retryq_full(q) && n < 200)
    add(q, &m, model_new(&m, 1000, 0)), n++;
  for (int k = 0; k < 3; k++) /* well over the bound, whatever compaction leaves */
    add(q, &m, model_new(&m, 1000, 0));
  qclose(q);
  q = qopen(dir, 4096, MAX, NULL, 0, NULL);
  if (!q) return;
  ok(retryq_full(q), "a queue reopened over its bound is full at once");
  q = (qclose(q), NULL);
  q = qopen(dir, 4096, 0, NULL, 0, NULL);
  if (q) {
    ok(!retryq_full(q), "  and not full without a bound");
    check(q, &m, "  and holds what was added");
    qclose(q);
  }
  model_free(&m);
}

static int same_checkpoint(const struct checkpoint *a, const struct checkpoint *b)
{
  return !strcmp(a->pos.file, b->pos.file) && a->pos.pos == b->pos.pos && !strcmp(a->pos.gtid, b->pos.gtid) &&
         a->saved == b->saved;
}

static int load_checkpoint(struct state *s, struct checkpoint *cp)
{
  char err[256] = "";
  memset(cp, 0, sizeof *cp);
  int r = state_checkpoint_load(s, cp, err, sizeof err);
  if (r < 0) diag("state_checkpoint_load: %s", err);
  return r;
}

static struct checkpoint make_checkpoint(int n)
{
  struct checkpoint cp;
  memset(&cp, 0, sizeof cp);
  snprintf(cp.pos.file, sizeof cp.pos.file, "binlog.%06d", 40 + n);
  cp.pos.pos = 1234 + 1000 * (uint64_t)n;
  snprintf(cp.pos.gtid, sizeof cp.pos.gtid, "0-1-%d", 9870 + n);
  cp.saved = 1750000000 + n;
  return cp;
}

/* The checkpoint goes through the writer. */
static void test_checkpoint(void)
{
  char sdir[PATH_MAX], qdir[PATH_MAX], err[512] = "";
  join(sdir, root, "state");
  join(qdir, sdir, "queue");
  struct state *s = state_open(sdir, 0, err, sizeof err);
  if (!ok(s, "state_open on a new directory")) {
    diag("%s", err);
    return;
  }
  struct model m = {0};
  struct retryq *q = qopen(qdir, 0, 0, s, 0, NULL);
  if (!ok(q, "a queue in the state directory")) {
    state_close(s);
    return;
  }
  struct checkpoint cp1 = make_checkpoint(1), cp2 = make_checkpoint(2), got;
  add(q, &m, model_new(&m, 200, 1));
  retryq_set_checkpoint(q, &cp1);
  qsync(q);
  ok(load_checkpoint(s, &got) == 1 && same_checkpoint(&got, &cp1),
     "after retryq_sync, the checkpoint loads back as it was set");
  diag("loaded: %s:%" PRIu64 " gtid %s saved %" PRId64, got.pos.file, got.pos.pos, got.pos.gtid, got.saved);
  add(q, &m, model_new(&m, 200, 1));
  retryq_set_checkpoint(q, &cp2);
  ok(qclose(q) == 0, "retryq_close with a checkpoint set");
  ok(load_checkpoint(s, &got) == 1 && same_checkpoint(&got, &cp2), "  saved it");
  q = qopen(qdir, 0, 0, s, 0, NULL);
  if (q) {
    check(q, &m, "  and the records before it");
    qclose(q);
  }
  state_close(s);
  model_free(&m);
}

/* Fills the file system of dir with a file dir/filler; returns its fd. */
static int fill(const char *dir)
{
  char path[PATH_MAX];
  join(path, dir, "filler");
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  static char zero[4096];
  if (fd < 0) return -1;
  for (size_t chunk = sizeof zero; chunk; chunk /= 2)
    while (write(fd, zero, chunk) == (ssize_t)chunk)
      ;
  return fd;
}

static void unfill(const char *dir, int fd)
{
  char path[PATH_MAX];
  join(path, dir, "filler");
  if (fd >= 0) close(fd);
  unlink(path);
}

/* A full disk: a tmpfs of 1 MB holds the queue, the state (and the
 * checkpoint) stays on the ordinary disk, where a checkpoint saved too early
 * would land. */
static void test_enospc(void)
{
  static const char *const names[] = {
      "a full disk: retryq_sync fails and retryq_error says 'No space left'",
      "  the records stay listed",
      "  one not written reads back from memory at once",
      "  the checkpoint does not move past them",
      "  once space is freed, they are written and retryq_error is 0",
      "  the checkpoint moves then",
      "  after a reopen they are all there, undamaged",
      "  retryq_close on a full disk gives up within its timeout, with an error",
      "  and the records written before are intact",
  };
  enum { NT = sizeof names / sizeof *names, SEG = 64 * 1024 };
  char mnt[PATH_MAX], qdir[PATH_MAX], sdir[PATH_MAX], err[512] = "";
  join(mnt, root, "tmpfs");
  join(qdir, mnt, "queue");
  join(sdir, root, "enospc-state");
  mkdir(mnt, 0700);
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m")) {
    char ebuf[128], why[200];
    snprintf(why, sizeof why, "cannot mount a tmpfs: %s", bh_strerror(errno, ebuf, sizeof ebuf));
    for (int k = 0; k < NT; k++)
      skip(names[k], why);
    return;
  }
  struct state *s = state_open(sdir, 0, err, sizeof err);
  struct model m = {0};
  struct retryq *q = s ? qopen(qdir, SEG, 0, s, 0, NULL) : NULL;
  if (!q) {
    diag("%s", err);
    for (int k = 0; k < NT; k++)
      ok(0, names[k]);
    goto out;
  }
  struct checkpoint cp1 = make_checkpoint(1), cp2 = make_checkpoint(2), cp3 = make_checkpoint(3), got;
  add(q, &m, model_new(&m, 2000, 1));
  add(q, &m, model_new(&m, 2000, 2));
  retryq_set_checkpoint(q, &cp1);
  qsync(q);
  int fd = fill(mnt);
  uint64_t t = 0;
  for (int k = 0; k < 4; k++) /* more than a segment: preallocated room cannot take them */
    t = add(q, &m, model_new(&m, 50000, 1));
  retryq_set_checkpoint(q, &cp2);
  int sync_failed = retryq_sync(q, 1.5, err, sizeof err) == -1;
  diag("retryq_sync: %s", sync_failed ? err : "succeeded");
  double deadline = now() + 3;
  int e;
  while (!(e = retryq_error(q, err, sizeof err)) && now() < deadline)
    sleep_ms(50);
  diag("retryq_error: %s", e ? err : "(none)");
  ok(sync_failed && e && strstr(err, "No space left") && retryq_durable(q) < t, names[0]);
  struct retryq_stats st;
  retryq_stats(q, &st);
  diag("pending: %" PRIu64 " bytes", st.pending);
  verify_reads = 0;
  check(q, &m, names[1]);
  verify_reads = 1;
  {
    struct retryq_rec r;
    char why[300] = "";
    memset(&r, 0, sizeof r);
    double t0 = now();
    int rc = retryq_read(q, m.e[m.n - 1].seq, &r, err, sizeof err);
    double took = now() - t0;
    if (!ok(rc == 0 && took < 1 && same(&r, &m.e[m.n - 1], NULL, 1, why, sizeof why), names[2]))
      diag("retryq_read: %s after %.1f s%s%s", rc ? err : "succeeded", took, why[0] ? ": " : "", why);
    if (rc == 0) retryq_rec_free(&r);
  }
  ok(load_checkpoint(s, &got) == 1 && same_checkpoint(&got, &cp1), names[3]);
  unfill(mnt, fd);
  deadline = now() + 5;
  while (retryq_durable(q) < t && now() < deadline)
    sleep_ms(50);
  e = retryq_error(q, err, sizeof err);
  if (e) diag("retryq_error: %s", err);
  ok(retryq_durable(q) >= t && e == 0, names[4]);
  deadline = now() + 3;
  while (!(load_checkpoint(s, &got) == 1 && same_checkpoint(&got, &cp2)) && now() < deadline)
    sleep_ms(50);
  ok(same_checkpoint(&got, &cp2), names[5]);
  qclose(q);

  struct retryq_report rep;
  q = qopen(qdir, SEG, 0, s, 0, &rep);
  if (!q) {
    for (int k = 6; k < NT; k++)
      ok(0, names[k]);
    goto out;
  }
  struct vres v;
  verify(q, &m, NULL, NULL, &v);
  if (!ok(vres_ok(&v) && rep.bad_bytes == 0 && rep.bad_records == 0, names[6]))
    diag("%s; bad_bytes %" PRIu64 ", bad_records %zu", v.first, rep.bad_bytes, rep.bad_records);

  /* full again, and closed while full */
  fd = fill(mnt);
  /* the two records written now may be lost; if there, intact */
  char *may_miss = xcalloc(m.n + 3, 1);
  add(q, &m, model_new(&m, 70000, 0));
  add(q, &m, model_new(&m, 70000, 0));
  may_miss[m.n - 1] = may_miss[m.n - 2] = 1;
  retryq_set_checkpoint(q, &cp3);
  double t0 = now();
  err[0] = 0;
  int rc = retryq_close(q, 1.0, err, sizeof err);
  double took = now() - t0;
  diag("retryq_close: %s after %.1f s", rc ? err : "succeeded", took);
  ok(rc == -1 && err[0] && took < 4 && load_checkpoint(s, &got) == 1 && same_checkpoint(&got, &cp2),
     names[7]);
  unfill(mnt, fd);
  q = qopen(qdir, SEG, 0, s, 0, &rep);
  if (q) {
    verify(q, &m, NULL, may_miss, &v);
    if (!ok(vres_ok(&v), names[8])) diag("%s", v.first);
    qclose(q);
  } else {
    ok(0, names[8]);
  }
  free(may_miss);
out:
  if (s) state_close(s);
  model_free(&m);
  if (umount(mnt)) umount2(mnt, MNT_DETACH);
}

int main(int argc, char **argv)
{
  const char *tmp = getenv("TMPDIR");
  if (argc > 1) seed = strtoull(argv[1], NULL, 10);
  rng = seed;
  snprintf(root, sizeof root, "%s/queue_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) {
    printf("Bail out! cannot create a scratch directory in '%s'\n", tmp && *tmp ? tmp : "/tmp");
    return 1;
  }
  diag("seed %" PRIu64 ", scratch directory %s", seed, root);
  /* a mount namespace of our own, when allowed: the tmpfs of test_enospc
   * goes away with this process however it ends */
  if (unshare(CLONE_NEWNS) == 0) mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  test_roundtrip();
  test_tickets_fd();
  test_states();
  test_seq();
  test_compaction();
  test_model();
  test_truncate();
  test_overwrite();
  test_embedded();
  test_readonly();
  test_manifest();
  test_manifest_done();
  test_full();
  test_checkpoint();
  test_enospc();
  const char *keep = getenv("BINHOOK_TEST_KEEP");
  if (keep && !strcmp(keep, "1"))
    diag("scratch directory kept: %s", root);
  else
    rm_rf(root);
  return done_testing();
}
