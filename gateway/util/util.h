/* util.h - small helpers every module uses: a never-compiled-out assert and
 * allocation that aborts on out-of-memory (there is no useful recovery from it
 * in a daemon whose memory is bounded by design). */
#ifndef BH_UTIL_H
#define BH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

/* Internal invariant; never used on input from the network, a file or a config. */
#define bh_assert(cond) \
  ((cond) ? (void)0 : bh_assert_fail(#cond, __FILE__, __LINE__))

_Noreturn void bh_assert_fail(const char *expr, const char *file, int line);

/* Allocation wrappers: never return NULL (abort with a message instead). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A copy of the NULL-terminated list of strings v (NULL for NULL), and its
 * release. */
char **bh_strv_copy(char *const *v);
void bh_strv_free(char **v);

/* Thread-safe strerror into a caller buffer; returns buf. */
const char *bh_strerror(int errnum, char *buf, size_t size);

/* Formats into err (size errsz) if err is not NULL; returns -1 for tail calls. */
int bh_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes all n bytes of p to fd, going on after EINTR and short writes.
 * Returns 0, or -1 with errno. */
int bh_write_all(int fd, const void *p, size_t n);

/* A non-blocking eventfd used as a wake-up: bh_wake adds one (a full
 * counter means the watcher is woken already), bh_wake_drain empties it. */
void bh_wake(int fd);
void bh_wake_drain(int fd);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC): for durations and
 * timers, never for what is shown as a date. */
double bh_mono(void);

/* seconds (>= 0) as a struct timeval, for libevent's timers. */
static inline struct timeval bh_timeval(double seconds)
{
  if (seconds < 0) seconds = 0;
  struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
  return tv;
}

/* FNV-1a, 64 bits, of n bytes: the hash of every table keyed by text. */
static inline uint64_t bh_fnv1a(const void *p, size_t n)
{
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

/* Little-endian readers for the binlog's fixed-width integers. */
/* The value of hex digit c, or -1. */
static inline int bh_hexval(int c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static inline uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t le24(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16); }
static inline uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static inline uint64_t le48(const unsigned char *p) { return (uint64_t)le32(p) | ((uint64_t)le16(p + 4) << 32); }
static inline uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32); }
static inline uint64_t be_n(const unsigned char *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

/* The typo suggester of every "did you mean" message. The word of the
 * NULL-terminated list known closest to the n bytes of word (edit distance
 * counting a transposition as one edit, ignoring ASCII case when fold_case
 * is set), when at most max_edits edits away; else NULL. Of several equally
 * close words the first in known wins. Words longer than 32 bytes have no
 * near word. Returns an element of known. */
const char *bh_nearest_within(const char *word, size_t n, const char *const *known, size_t max_edits,
                              int fold_case);

/* bh_nearest_within for a name a person types (config keys and values,
 * endpoint names, template values and filters): case ignored; 1 edit for a
 * word of up to 3 characters, 2 up to 6, 3 beyond. */
const char *bh_nearest(const char *word, const char *const *known);

#endif
