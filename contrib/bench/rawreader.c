/* rawreader.c - the transport ceiling for the decode benchmark: reads the
 * replication stream from a position to its current end and decodes nothing.
 * It counts events and bytes, which is all a reader must do at least.
 *
 * With --follow LOG it is the floor of the latency benchmark instead: it
 * keeps reading as new events arrive (until killed) and writes to LOG, for
 * every statement annotation (MariaDB's ANNOTATE_ROWS, MySQL's ROWS_QUERY),
 * the time it arrived in microseconds since the epoch and the start of the
 * statement's text: the moment a bare replica could know of the change.
 *
 * usage: rawreader HOST PORT USER FILE [POS] [--follow LOG]
 *        (password from BINHOOK_MYSQL_PASSWORD)
 * prints: events=N bytes=N seconds=S */
#include <mysql.h>
#include <mariadb_rpl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  FILE *follow = NULL;
  if (argc >= 7 && !strcmp(argv[argc - 2], "--follow")) {
    if (!(follow = fopen(argv[argc - 1], "w"))) {
      perror(argv[argc - 1]);
      return 1;
    }
    setvbuf(follow, NULL, _IOLBF, 0); /* read while it runs, and it ends by a signal */
    argc -= 2;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: rawreader HOST PORT USER FILE [POS] [--follow LOG]\n");
    return 2;
  }
  const char *pw = getenv("BINHOOK_MYSQL_PASSWORD");
  MYSQL *m = mysql_init(NULL);
  if (!mysql_real_connect(m, argv[1], argv[3], pw ? pw : "", NULL, (unsigned)atoi(argv[2]), NULL, 0)) {
    fprintf(stderr, "rawreader: cannot connect: %s\n", mysql_error(m));
    return 1;
  }
  if (mysql_query(m, "SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4")) {
    fprintf(stderr, "rawreader: %s\n", mysql_error(m));
    return 1;
  }
  MARIADB_RPL *rpl = mariadb_rpl_init(m);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, argv[4], strlen(argv[4]));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)(argc > 5 ? atol(argv[5]) : 4));
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, follow ? 4245 : 4243);
  /* binhook asks for the annotations too (they carry the SQL): so does this */
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS,
                       follow ? MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS
                              : MARIADB_RPL_BINLOG_DUMP_NON_BLOCK | MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS);
  double t0 = now();
  if (mariadb_rpl_open(rpl)) {
    fprintf(stderr, "rawreader: cannot start the dump: %s\n", mysql_error(m));
    return 1;
  }
  unsigned long long events = 0, bytes = 0;
  for (;;) {
    unsigned long len = mysql_net_read_packet(m);
    if (len == packet_error) {
      fprintf(stderr, "rawreader: %s\n", mysql_error(m));
      return 1;
    }
    if (m->net.read_pos[0] == 0xfe && len < 9) break; /* end of the binlog */
    events++;
    bytes += len;
    /* the OK byte, then the event: its type at offset 4 of the header */
    if (follow && len > 20 && (m->net.read_pos[5] == 160 || m->net.read_pos[5] == 29)) {
      struct timeval tv;
      gettimeofday(&tv, NULL);
      char text[201];
      size_t n = len - 20 < 200 ? len - 20 : 200;
      for (size_t i = 0; i < n; i++) {
        unsigned char c = m->net.read_pos[20 + i];
        text[i] = c < 0x20 || c > 0x7e ? ' ' : (char)c;
      }
      text[n] = 0;
      fprintf(follow, "%lld %s\n", (long long)tv.tv_sec * 1000000 + tv.tv_usec, text);
    }
  }
  double t = now() - t0;
  printf("events=%llu bytes=%llu seconds=%.3f\n", events, bytes, t);
  mariadb_rpl_close(rpl);
  mysql_close(m);
  return 0;
}
