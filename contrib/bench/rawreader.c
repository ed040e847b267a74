/* rawreader.c - the transport ceiling for the decode benchmark: reads the
 * replication stream from a position to its current end and decodes nothing.
 * It counts events and bytes, which is all a reader must do at least.
 *
 * usage: rawreader HOST PORT USER FILE [POS]   (password from BINHOOK_MYSQL_PASSWORD)
 * prints: events=N bytes=N seconds=S */
#include <mysql.h>
#include <mariadb_rpl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: rawreader HOST PORT USER FILE [POS]\n");
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
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, 4243);
  mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, MARIADB_RPL_BINLOG_DUMP_NON_BLOCK);
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
  }
  double t = now() - t0;
  printf("events=%llu bytes=%llu seconds=%.3f\n", events, bytes, t);
  mariadb_rpl_close(rpl);
  mysql_close(m);
  return 0;
}
