/* wire.h - the replication stream's packets read straight from the socket.
 *
 * Once the dump command is sent, a replication connection only ever reads
 * packets, one event each. The client library reads them 16 KiB at a time
 * and copies each into a buffer of its own: on a fast stream that is a
 * recvfrom, a poll and a copy every few events, a third of the reading
 * thread's time. A plain connection (no TLS, no compression) is read here
 * instead, in large blocks, and each packet is handed out where it lies.
 * Everything before the stream (handshake, queries, the dump command) stays
 * the client library's; a connection it must keep reading (TLS,
 * compression) stays with it too. */
#ifndef BINHOOK_SOURCE_WIRE_H
#define BINHOOK_SOURCE_WIRE_H

#include <mysql.h>
#include <stddef.h>

struct wire {
  int fd;                /* -1: not attached */
  unsigned char *buf;    /* the bytes read: unread ones in [head, tail) */
  size_t cap, head, tail;
  unsigned char *big;    /* a packet of 16 MiB or more, put together from its pieces */
  size_t big_cap;
  int timeout_ms;        /* a read that waits longer fails; -1: no limit */
  int closed;            /* the socket said it is done: the next read fails */
  int closed_errno;      /* its errno (0: the server closed it) */
  unsigned err_code;     /* the last failure: the server's error code, or CR_SERVER_LOST */
  char err_msg[512];
};

/* Takes over reading the stream of m after its dump command: 0 when m is a
 * plain connection (what the client library read ahead is moved here), -1
 * when the library must go on reading it (TLS, compression). read_timeout
 * in seconds, 0 for none. */
int wire_attach(struct wire *w, MYSQL *m, unsigned read_timeout);
/* The same on a socket fd, n bytes of the stream at ahead read already
 * (wire_attach; the tests). */
void wire_attach_fd(struct wire *w, int fd, unsigned read_timeout, const void *ahead, size_t n);
/* Forgets the connection (the caller closes it) and frees the buffers. */
void wire_detach(struct wire *w);
/* The next packet: its length (at least 1), and *p at its payload, valid
 * until the next call of wire_next or wire_ready. -1 on a failure, told in
 * err_code and err_msg: the server's error packet, an empty packet, or a
 * connection that closed, failed or stayed silent past the read timeout
 * (CR_SERVER_LOST). */
long wire_next(struct wire *w, const unsigned char **p);
/* Whether wire_next returns without waiting for the server: a packet is
 * here whole, or the socket has more of it (read then without waiting), or
 * the connection is done (wire_next fails at once). */
int wire_ready(struct wire *w);

#endif
