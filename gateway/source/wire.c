/* wire.c - see wire.h.
 *
 * A packet is a 3-byte little-endian length, a sequence number and the
 * payload; a payload of 16 MiB - 1 or more comes in pieces of exactly that
 * length, the last one shorter (possibly empty). Reads go into one buffer
 * of WIRE_BLOCK bytes (more while a larger packet needs it), as much as
 * the socket holds each time; a packet whole in it is handed out in place,
 * and the unread rest moves to the front when room runs out at the end. */
#include "source/wire.h"
#include "util/util.h"

#include <errmsg.h>
#include <ma_pvio.h>

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WIRE_BLOCK (1024 * 1024)
#define PIECE_MAX 0xffffffu
#define WIRE_PACKET_MAX (1024u * 1024 * 1024) /* max_allowed_packet can be no more */

void wire_attach_fd(struct wire *w, int fd, unsigned read_timeout, const void *ahead, size_t n)
{
  memset(w, 0, sizeof *w);
  w->cap = n > WIRE_BLOCK ? n : WIRE_BLOCK;
  w->buf = xmalloc(w->cap);
  if (n) memcpy(w->buf, ahead, n);
  w->tail = n;
  w->fd = fd;
  w->timeout_ms = read_timeout ? (int)(read_timeout > 2000000 ? 2000000000u : read_timeout * 1000u) : -1;
}

int wire_attach(struct wire *w, MYSQL *m, unsigned read_timeout)
{
  memset(w, 0, sizeof *w);
  w->fd = -1;
  MARIADB_PVIO *pvio = m->net.pvio;
  if (!pvio || pvio->ctls || m->net.compress || mysql_get_socket(m) == MARIADB_INVALID_SOCKET) return -1;
  /* what the library read ahead of the stream is the stream's beginning */
  const unsigned char *ahead = NULL;
  size_t n = 0;
  if (pvio->cache && pvio->cache_pos < pvio->cache + pvio->cache_size) {
    ahead = pvio->cache_pos;
    n = (size_t)(pvio->cache + pvio->cache_size - pvio->cache_pos);
    pvio->cache_pos = pvio->cache + pvio->cache_size;
  }
  wire_attach_fd(w, (int)mysql_get_socket(m), read_timeout, ahead, n);
  return 0;
}

void wire_detach(struct wire *w)
{
  free(w->buf);
  free(w->big);
  memset(w, 0, sizeof *w);
  w->fd = -1;
}

static long fail(struct wire *w, unsigned code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static long fail(struct wire *w, unsigned code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err_msg, sizeof w->err_msg, fmt, ap);
  va_end(ap);
  w->err_code = code;
  return -1;
}

/* The connection's end, as a failure. */
static long closed(struct wire *w)
{
  if (w->closed_errno) return fail(w, CR_SERVER_LOST, "reading from the server: %s", strerror(w->closed_errno));
  return fail(w, CR_SERVER_LOST, "the server closed the connection");
}

/* Reads what the socket holds into the free room at the end (made first
 * when little is left): 1 when bytes came, 0 when none were there (only
 * without waiting), -1 when the connection is done (w->closed) or the read
 * timed out (err_code set). */
static int fill(struct wire *w, int wait)
{
  if (w->closed) return -1;
  if (w->head == w->tail) {
    w->head = w->tail = 0;
  } else if (w->head > 0 && w->cap - w->tail < WIRE_BLOCK / 4) { /* a part of a packet: to the front */
    memmove(w->buf, w->buf + w->head, w->tail - w->head);
    w->tail -= w->head;
    w->head = 0;
  }
  if (w->tail == w->cap) { /* a packet larger than the buffer: room for the rest of it */
    if (!wait) return 0;    /* only a read that needs the rest makes room for it */
    w->cap *= 2;
    w->buf = xrealloc(w->buf, w->cap);
  }
  int must_poll = w->timeout_ms >= 0;
  for (;;) {
    if (wait && must_poll) {
      struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
      int r = poll(&pfd, 1, w->timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        fail(w, CR_SERVER_LOST, "nothing came from the server for %d s (the read timeout: three heartbeat "
             "periods and 5 s); if the server is alive and only this slow, raise [source] heartbeat",
             w->timeout_ms / 1000);
        return -1;
      }
      if (r < 0) {
        w->closed = 1;
        w->closed_errno = errno;
        return -1;
      }
    }
    ssize_t n = recv(w->fd, w->buf + w->tail, w->cap - w->tail, wait ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      w->tail += (size_t)n;
      return 1;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait) return 0;
      must_poll = 1; /* a socket with a receive timeout of its own (SO_RCVTIMEO): poll keeps ours */
      continue;
    }
    w->closed = 1;
    w->closed_errno = n < 0 ? errno : 0;
    return -1;
  }
}

/* Makes sure n bytes are in the buffer from head on; -1 when the
 * connection ended first. */
static int need(struct wire *w, size_t n)
{
  if (w->tail - w->head >= n) return 0;
  if (w->head + n > w->cap) { /* the packet's end lies past the buffer: move it to the front, grow */
    memmove(w->buf, w->buf + w->head, w->tail - w->head);
    w->tail -= w->head;
    w->head = 0;
    if (n > w->cap) {
      size_t cap = w->cap;
      while (cap < n)
        cap *= 2;
      w->buf = xrealloc(w->buf, cap);
      w->cap = cap;
    }
  }
  while (w->tail - w->head < n)
    if (fill(w, 1) < 0) return -1;
  return 0;
}

/* The length a packet header at h gives. */
static size_t piece_len(const unsigned char *h)
{
  return (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
}

/* The next piece: its length, *p at its payload (in the buffer until the
 * next read). -1 on a failure. */
static long piece(struct wire *w, const unsigned char **p)
{
  if (need(w, 4) < 0) return w->closed ? closed(w) : -1;
  const unsigned char *h = w->buf + w->head;
  size_t len = piece_len(h);
  /* the sequence number is not checked: Connector/C takes what the server
   * sends, and so must this (a binlog proxy may number packets its way) */
  if (need(w, 4 + len) < 0) return w->closed ? closed(w) : -1;
  *p = w->buf + w->head + 4;
  w->head += 4 + len;
  return (long)len;
}

long wire_next(struct wire *w, const unsigned char **p)
{
  /* the packet handed out last is done with: room grown for a large one is given back */
  if (w->big_cap > WIRE_BLOCK) {
    free(w->big);
    w->big = NULL;
    w->big_cap = 0;
  }
  if (w->cap > WIRE_BLOCK && w->head == w->tail) {
    free(w->buf);
    w->buf = xmalloc(WIRE_BLOCK);
    w->cap = WIRE_BLOCK;
    w->head = w->tail = 0;
  }
  const unsigned char *q;
  long n = piece(w, &q);
  if (n < 0) return -1;
  if ((size_t)n == PIECE_MAX) { /* put together from its pieces */
    size_t len = 0;
    for (;;) {
      if (len + (size_t)n > WIRE_PACKET_MAX)
        return fail(w, CR_SERVER_LOST, "the server sent an event of more than 1 GiB (the most a server "
                    "sends): the stream is damaged; if a proxy stands between, connect to the server itself");
      if (len + (size_t)n > w->big_cap) { /* room for this piece and the next whole one */
        w->big_cap = len + (size_t)n + PIECE_MAX;
        w->big = xrealloc(w->big, w->big_cap);
      }
      memcpy(w->big + len, q, (size_t)n);
      len += (size_t)n;
      if ((size_t)n < PIECE_MAX) break;
      if ((n = piece(w, &q)) < 0) return -1;
    }
    q = w->big;
    n = (long)len;
  }
  if (n == 0) return fail(w, CR_SERVER_LOST, "the server sent an empty packet");
  if (q[0] == 0xff) { /* the server's error: code, '#' and SQLSTATE, message */
    unsigned code = n >= 3 ? (unsigned)q[1] | (unsigned)q[2] << 8 : 0;
    const char *msg = (const char *)q + 3;
    size_t mlen = n >= 3 ? (size_t)n - 3 : 0;
    if (mlen >= 6 && msg[0] == '#') msg += 6, mlen -= 6;
    if (mlen >= sizeof w->err_msg) mlen = sizeof w->err_msg - 1;
    memcpy(w->err_msg, msg, mlen);
    w->err_msg[mlen] = 0;
    w->err_code = code ? code : CR_SERVER_LOST;
    return -1;
  }
  *p = q;
  return n;
}

int wire_ready(struct wire *w)
{
  for (;;) {
    if (w->closed) return 1;
    size_t have = w->tail - w->head;
    if (have >= 4) {
      size_t len = piece_len(w->buf + w->head);
      if (len == PIECE_MAX) return 0; /* a packet in pieces: wire_next reads them as they come */
      if (have >= 4 + len) return 1;
    }
    int r = fill(w, 0); /* what the socket holds now, without waiting (and without growing) */
    if (r != 1) return r < 0;
  }
}
