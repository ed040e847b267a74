/* wire_test.c - the replication stream's packets read straight from the
 * socket (source/wire.c), over a socket pair: packets whole, split and in
 * pieces of 16 MiB, what the client library read ahead, the server's error
 * packet, packets numbered the server's way, a connection that closes
 * mid-packet or stays silent, and wire_ready's answer at each step. */
#include "source/wire.h"
#include "tap.h"

#include <errmsg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int pair[2]; /* [0] read by the wire, [1] written as the server */
static struct wire w;

static void open_pair(unsigned timeout, const void *ahead, size_t n)
{
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair)) {
    perror("socketpair");
    exit(1);
  }
  wire_attach_fd(&w, pair[0], timeout, ahead, n);
}

static void close_pair(void)
{
  wire_detach(&w);
  close(pair[0]);
  if (pair[1] >= 0) close(pair[1]);
}

/* A packet's bytes: header (length, seq) and payload, into out. */
static size_t packet(unsigned char *out, unsigned seq, const void *payload, size_t n)
{
  out[0] = (unsigned char)n;
  out[1] = (unsigned char)(n >> 8);
  out[2] = (unsigned char)(n >> 16);
  out[3] = (unsigned char)seq;
  memcpy(out + 4, payload, n);
  return n + 4;
}

static void put(const void *p, size_t n)
{
  const char *c = p;
  while (n) {
    ssize_t k = write(pair[1], c, n);
    if (k <= 0) {
      perror("write");
      exit(1);
    }
    c += k;
    n -= (size_t)k;
  }
}

static void test_whole_and_split(void)
{
  unsigned char b[256];
  size_t n = 0;
  open_pair(0, NULL, 0);
  n += packet(b + n, 1, "\0first", 6);
  n += packet(b + n, 2, "\0second!", 8);
  ok(!wire_ready(&w), "nothing sent: not ready");
  put(b, n);
  ok(wire_ready(&w), "two packets sent: ready");
  const unsigned char *p;
  is_int(wire_next(&w, &p), 6, "the first packet's length");
  ok(!memcmp(p, "\0first", 6), "its payload");
  ok(wire_ready(&w), "the second is here whole");
  is_int(wire_next(&w, &p), 8, "the second packet's length");
  ok(!memcmp(p, "\0second!", 8), "its payload");
  /* a packet that arrives in three parts */
  n = packet(b, 3, "\0third one", 10);
  put(b, 2);
  ok(!wire_ready(&w), "half a header: not ready");
  put(b + 2, 5);
  ok(!wire_ready(&w), "a header and part of the payload: not ready");
  put(b + 7, n - 7);
  ok(wire_ready(&w), "the rest came: ready");
  is_int(wire_next(&w, &p), 10, "the split packet's length");
  ok(!memcmp(p, "\0third one", 10), "its payload put together");
  /* the end of the stream, as the server says it */
  n = packet(b, 4, "\xfe\0\0\2\0", 5);
  put(b, n);
  is_int(wire_next(&w, &p), 5, "an EOF packet is a packet");
  is_int(p[0], 0xfe, "that the caller tells apart");
  close_pair();
}

static void test_ahead(void)
{
  /* what the library read ahead: a whole packet and half of the next */
  unsigned char b[64];
  size_t n = packet(b, 7, "\0ahead", 6);
  size_t m = packet(b + n, 8, "\0behind", 7);
  open_pair(0, b, n + 3);
  const unsigned char *p;
  ok(wire_ready(&w), "a packet read ahead is ready");
  is_int(wire_next(&w, &p), 6, "the packet read ahead comes first");
  ok(!memcmp(p, "\0ahead", 6), "its payload");
  ok(!wire_ready(&w), "half of the next: not ready");
  put(b + n + 3, m - 3);
  is_int(wire_next(&w, &p), 7, "the rest from the socket completes it");
  ok(!memcmp(p, "\0behind", 7), "its payload");
  close_pair();
}

struct big_writer {
  size_t len; /* the payload's length */
  unsigned seq;
};

/* Writes one payload of len bytes (byte i is i * 7 % 251) in pieces of
 * 16 MiB - 1, as a server sends an event of that size, then a small packet. */
static void *write_big(void *arg)
{
  struct big_writer *bw = arg;
  size_t piece = 0xffffff, left = bw->len, off = 0;
  unsigned seq = bw->seq;
  unsigned char *chunk = malloc(piece + 4);
  for (;;) {
    size_t k = left < piece ? left : piece;
    for (size_t i = 0; i < k; i++)
      chunk[4 + i] = (unsigned char)((off + i) * 7 % 251);
    chunk[0] = (unsigned char)k, chunk[1] = (unsigned char)(k >> 8), chunk[2] = (unsigned char)(k >> 16);
    chunk[3] = (unsigned char)seq++;
    put(chunk, k + 4);
    off += k;
    left -= k;
    if (k < piece) break; /* a full piece is followed by another, maybe empty */
  }
  unsigned char b[16];
  put(b, packet(b, seq, "\0after", 6));
  free(chunk);
  return NULL;
}

static int big_ok(const unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(i * 7 % 251)) return 0;
  return 1;
}

static void test_big(size_t len, const char *what)
{
  char name[160];
  open_pair(0, NULL, 0);
  struct big_writer bw = {.len = len, .seq = 1};
  pthread_t t;
  pthread_create(&t, NULL, write_big, &bw);
  const unsigned char *p;
  long n = wire_next(&w, &p);
  snprintf(name, sizeof name, "%s: its length", what);
  is_int(n, (long)len, name);
  snprintf(name, sizeof name, "%s: every byte in order", what);
  ok(n == (long)len && big_ok(p, len), name);
  n = wire_next(&w, &p);
  snprintf(name, sizeof name, "%s: the packet after it", what);
  ok(n == 6 && !memcmp(p, "\0after", 6), name);
  pthread_join(t, NULL);
  snprintf(name, sizeof name, "%s: the buffer is back to its usual size", what);
  unsigned char b[16];
  put(b, packet(b, 0, "\0again", 6));
  n = wire_next(&w, &p);
  ok(n == 6 && w.cap <= 1024 * 1024 && !w.big, name);
  close_pair();
}

static void test_error_packet(void)
{
  unsigned char b[256];
  open_pair(0, NULL, 0);
  const char err[] = "\xff\xd4\x04#HY000Could not find first log file name in binary log index file";
  put(b, packet(b, 1, err, sizeof err - 1));
  const unsigned char *p;
  is_int(wire_next(&w, &p), -1, "the server's error packet fails the read");
  is_int(w.err_code, 1236, "with the server's code");
  is_str(w.err_msg, "Could not find first log file name in binary log index file", "and its message, no SQLSTATE");
  close_pair();
}

static void test_numbering(void)
{
  /* numbered as the server likes: taken as the client library takes it
   * (a binlog proxy may number its own way) */
  unsigned char b[64];
  open_pair(0, NULL, 0);
  size_t n = packet(b, 9, "\0nine", 5);
  n += packet(b + n, 3, "\0three", 6);
  put(b, n);
  const unsigned char *p;
  is_int(wire_next(&w, &p), 5, "a packet numbered 9 where 1 was next is read");
  is_int(wire_next(&w, &p), 6, "and one numbered 3 after it");
  ok(!memcmp(p, "\0three", 6), "its payload");
  close_pair();
}

static void test_ready_pieces(void)
{
  /* a packet in pieces: wire_ready says no at once and leaves the buffer
   * as it is (it never reads the socket dry into a growing buffer) */
  open_pair(0, NULL, 0);
  struct big_writer bw = {.len = 0xffffff + 10, .seq = 1};
  pthread_t t;
  pthread_create(&t, NULL, write_big, &bw);
  usleep(200 * 1000); /* the socket's buffer fills meanwhile */
  int ready = wire_ready(&w);
  size_t cap = w.cap;
  is_int(ready, 0, "a packet in pieces is not ready");
  ok(cap <= 1024 * 1024, "and the buffer did not grow for it");
  const unsigned char *p;
  long n = wire_next(&w, &p);
  ok(n == 0xffffff + 10 && big_ok(p, (size_t)n), "wire_next reads its pieces as they come");
  n = wire_next(&w, &p);
  ok(n == 6 && !memcmp(p, "\0after", 6), "the packet after it");
  pthread_join(t, NULL);
  close_pair();
}

static void test_closed(void)
{
  unsigned char b[64];
  open_pair(0, NULL, 0);
  size_t n = packet(b, 1, "\0cut short here", 15);
  put(b, n - 4);
  close(pair[1]);
  pair[1] = -1;
  ok(wire_ready(&w), "a closed connection is ready (the read fails at once)");
  const unsigned char *p;
  is_int(wire_next(&w, &p), -1, "a connection closed mid-packet fails the read");
  is_int(w.err_code, CR_SERVER_LOST, "as a lost connection");
  ok(strstr(w.err_msg, "closed") != NULL, "saying the server closed it");
  is_int(wire_next(&w, &p), -1, "and every read after");
  close_pair();
}

static void test_timeout(void)
{
  open_pair(1, NULL, 0);
  unsigned char b[64];
  put(b, 3); /* part of a header, then silence */
  const unsigned char *p;
  is_int(wire_next(&w, &p), -1, "a server silent past the read timeout fails the read");
  is_int(w.err_code, CR_SERVER_LOST, "as a lost connection");
  ok(strstr(w.err_msg, "read timeout") != NULL, "naming the read timeout");
  close_pair();
}

static void test_larger_than_block(void)
{
  /* one piece of 3 MiB: more than the buffer holds at first */
  open_pair(0, NULL, 0);
  struct big_writer bw = {.len = 3u << 20, .seq = 1};
  pthread_t t;
  pthread_create(&t, NULL, write_big, &bw);
  const unsigned char *p;
  long n = wire_next(&w, &p);
  ok(n == 3l << 20 && big_ok(p, 3u << 20), "a 3 MiB packet in one piece: every byte");
  n = wire_next(&w, &p);
  ok(n == 6 && !memcmp(p, "\0after", 6), "the packet after it");
  pthread_join(t, NULL);
  close_pair();
}

int main(void)
{
  test_whole_and_split();
  test_ahead();
  test_error_packet();
  test_numbering();
  test_ready_pieces();
  test_closed();
  test_timeout();
  test_larger_than_block();
  test_big(0xffffff, "exactly 16 MiB - 1 (a full piece, then an empty one)");
  test_big(0xffffff + 1000, "16 MiB + 999 (two pieces)");
  test_big(2 * 0xffffffu + 5, "32 MiB + 3 (three pieces)");
  return done_testing();
}
