/* tail.c - `binhook tail`: canonical events as NDJSON on stdout, from a
 * live server (through the source thread) or from binlog files. On stderr at
 * the end: the position to continue from, so that a stopped tail can be
 * resumed with nothing repeated and nothing missed.
 *
 * With --snapshot, the rows the tables hold come first (snapshot events,
 * read by the snapshot thread into the source's queue), then the stream
 * from the snapshot's position. With --state DIR the snapshot's progress is
 * saved after each chunk, once its lines are written out: a killed tail run
 * again with the same DIR resumes after the last saved chunk (the lines
 * written after it, from ordinal "ordinal" of DIR/snapshot.json on, come
 * again). */
#include "source/binfile.h"
#include "cmd/commands.h"
#include "config/config.h"
#include "source/decoder.h"
#include "util/log.h"
#include "snapshot/snapshot.h"
#include "source/source.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tail {
  FILE *out;
  struct buf line;
  unsigned long long limit, printed;
  int write_failed;
  /* Where to continue from: file, transaction start, changes printed of it. */
  char file[POS_FILE_MAX];
  uint64_t pos;
  uint32_t skip;
  const char *gtid_start; /* the --from gtid, until the stream gives a file position */
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: binhook tail [-c gateway.toml] [--source URL] [--from POS] [--limit N]\n"
          "                    [--table GLOB]... [--exclude GLOB]... [--server-id N]\n"
          "       binhook tail [-c gateway.toml] [--source URL] --snapshot [--state DIR] [TABLE...]\n"
          "       binhook tail [--table GLOB]... --binlog FILE...\n\n"
          "Prints one canonical change event (JSON) per line on stdout.\n\n"
          "  -c, --config FILE   read [source] from FILE (url, password, tables, server_id)\n"
          "  --source URL        mysql://user@host:port; the password comes from the environment\n"
          "                      variable BINHOOK_MYSQL_PASSWORD (or password_env in the config)\n"
          "  --from POS          end (default), start, FILE:OFFSET[+K], or gtid:SET (MariaDB\n"
          "                      d-s-n,... or a MySQL executed set uuid:1-77,...)\n"
          "  --limit N           stop after N changes\n"
          "  --table GLOB        only tables matching schema.table GLOB (repeatable)\n"
          "  --exclude GLOB      skip tables matching GLOB (repeatable)\n"
          "  --server-id N       replica id to register with (default: one of its own, derived from\n"
          "                      the process id, so that tail never displaces another replica)\n"
          "  --binlog FILE...    read binlog files instead of a server (all remaining arguments)\n"
          "  --snapshot          first the rows the tables hold now (snapshot events), then the stream\n"
          "                      from the snapshot's binlog position; TABLE globs choose the tables\n"
          "                      (default: the --table globs, or every table)\n"
          "  --state DIR         keep the snapshot's progress in DIR: run again with the same DIR to\n"
          "                      resume a snapshot that was stopped\n"
          "  --snapshot-chunk N  rows per chunk (default 10000, or [source] snapshot_chunk)\n"
          "  --snapshot-rate N   at most N rows a second (default: no limit)\n"
          "  --snapshot-lock WAY auto, mariadb, global or tables (see gateway.toml)\n"
          "  --snapshot-only     stop when the snapshot is done (the stream's position is printed)\n\n"
          "When it stops, tail prints on stderr the --from position that continues exactly where it\n"
          "stopped.\n");
}

/* Returns 1 when tail should stop reading: output failed, or the limit was
 * reached. After the last change it waits for one more event, so that a
 * limit at the end of a transaction leaves a clean continue position. */
/* The continue position's file: copied only when it changes (a copy per
 * row was a measurable part of tail's time). */
static void set_file(struct tail *t, const char *file)
{
  if (strcmp(t->file, file)) snprintf(t->file, sizeof t->file, "%s", file);
}

static int tail_event(struct tail *t, struct change *e)
{
  int full = t->limit && t->printed >= t->limit;
  if (e->type == EVENT_COMMIT) {
    set_file(t, e->position.file);
    t->pos = e->end_pos;
    t->skip = 0;
    t->gtid_start = NULL;
    return full;
  }
  if (e->type == EVENT_HEARTBEAT) {
    if (!t->skip && e->position.file[0]) {
      set_file(t, e->position.file);
      t->pos = e->end_pos;
      t->gtid_start = NULL;
    }
    return full;
  }
  if (full) return 1;
  buf_reset(&t->line);
  change_to_json(e, &t->line);
  buf_addc(&t->line, '\n');
  if (fwrite(t->line.p, 1, t->line.len, t->out) != t->line.len) {
    t->write_failed = 1;
    return 1;
  }
  if (e->type == EVENT_SNAPSHOT) { /* the stream's continue position is the handover's */
    t->printed++;
    return 0;
  }
  set_file(t, e->position.file);
  t->pos = e->tx_pos;
  t->skip = e->tx_index + 1;
  t->gtid_start = NULL;
  t->printed++;
  return 0;
}

static int offline_emit(void *ctx, struct change *e, char *err, size_t errsz)
{
  struct tail *t = ctx;
  int stop = tail_event(t, e);
  change_free(e);
  if (stop) return bh_err(err, errsz, "limit");
  return 0;
}

static void offline_warn(void *ctx, const char *msg)
{
  (void)ctx;
  log_warn("%s", msg);
}

static void print_resume(const struct tail *t)
{
  if (t->gtid_start) {
    fprintf(stderr, "binhook: stopped; continue with --from gtid:%s\n", t->gtid_start);
    return;
  }
  if (!t->file[0]) return;
  if (t->skip)
    fprintf(stderr, "binhook: stopped inside a transaction; continue with --from %s:%" PRIu64 "+%u\n", t->file,
            t->pos, t->skip);
  else
    fprintf(stderr, "binhook: stopped; continue with --from %s:%" PRIu64 "\n", t->file, t->pos);
}

struct sigwaiter {
  sigset_t set;
  struct changeq *q;
  atomic_int done; /* the main loop has ended: the next signal only wakes us */
};

static void *sig_main(void *arg)
{
  struct sigwaiter *w = arg;
  int sig;
  if (sigwait(&w->set, &sig) == 0 && !atomic_load(&w->done)) changeq_close(w->q);
  return NULL;
}

static void strlist_add(char ***l, size_t *n, const char *s)
{
  *l = xrealloc(*l, (*n + 2) * sizeof **l);
  (*l)[(*n)++] = xstrdup(s);
  (*l)[*n] = NULL;
}

static void strlist_free(char **l)
{
  if (!l) return;
  for (char **p = l; *p; p++) free(*p);
  free(l);
}

int cmd_tail(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"source", required_argument, NULL, 's'},
      {"from", required_argument, NULL, 'f'},   {"limit", required_argument, NULL, 'l'},
      {"table", required_argument, NULL, 't'},  {"exclude", required_argument, NULL, 'x'},
      {"server-id", required_argument, NULL, 'i'}, {"binlog", no_argument, NULL, 'b'},
      {"snapshot", no_argument, NULL, 'S'},     {"state", required_argument, NULL, 'd'},
      {"snapshot-chunk", required_argument, NULL, 'C'}, {"snapshot-rate", required_argument, NULL, 'R'},
      {"snapshot-lock", required_argument, NULL, 'L'}, {"snapshot-only", no_argument, NULL, 'O'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  int snap = 0, snap_only = 0;
  const char *state_dir = NULL, *snap_lock = NULL;
  unsigned long long snap_chunk = 0, snap_rate = 0;
  int have_rate = 0;
  struct snapshot *sn = NULL;
  const char *config_path = NULL, *url = NULL, *from = NULL;
  char **include = NULL, **exclude = NULL;
  size_t ninclude = 0, nexclude = 0;
  unsigned long long limit = 0;
  long server_id = -1;
  int offline = 0, opt, rc = 2;
  struct config cfg;
  config_defaults(&cfg);
  struct tail t = {.out = stdout};
  char err[4096];

  optind = 1;
  while (!offline && (opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    char *end;
    switch (opt) {
    case 'c': config_path = optarg; break;
    case 's': url = optarg; break;
    case 'f': from = optarg; break;
    case 'l':
      errno = 0;
      limit = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-') {
        fprintf(stderr, "binhook tail: --limit '%s' is not a count\n", optarg);
        goto out;
      }
      break;
    case 't': strlist_add(&include, &ninclude, optarg); break;
    case 'x': strlist_add(&exclude, &nexclude, optarg); break;
    case 'i':
      server_id = strtol(optarg, &end, 10);
      if (*end || server_id <= 0 || server_id > 4294967295L) {
        fprintf(stderr, "binhook tail: --server-id '%s' is not a number from 1 to 4294967295\n", optarg);
        goto out;
      }
      break;
    case 'b': offline = 1; break;
    case 'S': snap = 1; break;
    case 'O': snap = snap_only = 1; break;
    case 'd': state_dir = optarg; break;
    case 'C':
    case 'R':
      errno = 0;
      unsigned long long x = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-' || (opt == 'C' && !x)) {
        fprintf(stderr, "binhook tail: --snapshot-%s '%s' is not a %s\n", opt == 'C' ? "chunk" : "rate", optarg,
                opt == 'C' ? "count of rows" : "number of rows a second");
        goto out;
      }
      if (opt == 'C') snap_chunk = x;
      else snap_rate = x, have_rate = 1;
      break;
    case 'L': snap_lock = optarg; break;
    case 'h': usage(stdout); rc = 0; goto out;
    default: usage(stderr); goto out;
    }
  }
  if (config_path && config_load(config_path, &cfg, err, sizeof err)) {
    fprintf(stderr, "%s", err);
    if (err[0] && err[strlen(err) - 1] != '\n') fputc('\n', stderr);
    goto out;
  }
  log_set_level(cfg.log.level);
  char **inc = include ? include : cfg.source.tables;
  char **exc = exclude ? exclude : cfg.source.exclude;
  t.limit = limit;

  if (offline) {
    if (optind >= argc) {
      fprintf(stderr, "binhook tail: --binlog needs at least one file\n");
      goto out;
    }
    if (url || from) {
      fprintf(stderr, "binhook tail: --binlog reads files; --source and --from do not apply\n");
      goto out;
    }
    struct decoder_opts dopts = {.include = inc, .exclude = exc};
    struct decoder_cb cb = {.ctx = &t, .emit = offline_emit, .warn = offline_warn};
    rc = 0;
    for (int i = optind; i < argc && !rc; i++) {
      /* Each file starts afresh, as a server's next file does. */
      struct decoder *d = decoder_new(&dopts, &cb);
      if (binfile_read(argv[i], d, err, sizeof err) && !(t.limit && t.printed >= t.limit) && !t.write_failed) {
        fflush(stdout);
        fprintf(stderr, "binhook tail: %s\n", err);
        rc = 1;
      }
      decoder_free(d);
      if (t.limit && t.printed >= t.limit) break;
    }
    if (fflush(stdout) || t.write_failed) rc = rc ? rc : (errno == EPIPE ? 0 : 1);
    goto out;
  }
  if (optind < argc && !snap) {
    fprintf(stderr, "binhook tail: unexpected argument '%s' (files are read with --binlog FILE...)\n", argv[optind]);
    goto out;
  }
  if (!snap && (state_dir || snap_chunk || have_rate || snap_lock)) {
    fprintf(stderr, "binhook tail: --state and the --snapshot-* options go with --snapshot\n");
    goto out;
  }
  if (snap && from) {
    fprintf(stderr, "binhook tail: --from does not go with --snapshot: the stream starts where the snapshot was "
                    "taken\n");
    goto out;
  }
  enum snapshot_lock lock_way = cfg.source.snapshot_lock;
  if (snap && snap_lock && snapshot_parse_lock(snap_lock, &lock_way)) {
    fprintf(stderr, "binhook tail: --snapshot-lock '%s' is not one of auto, mariadb, global or tables\n", snap_lock);
    goto out;
  }

  struct source_opts so;
  memset(&so, 0, sizeof so);
  if (url) {
    free(cfg.source.url);
    cfg.source.url = xstrdup(url);
  }
  if (!config_path && !url) {
    fprintf(stderr, "binhook tail: say where to read from: --source mysql://user@host:port, -c gateway.toml, "
                    "or --binlog FILE...\n");
    goto out;
  }
  if (config_source_conn(&cfg, &so.conn, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    goto out;
  }
  if (start_pos_parse(from ? from : (cfg.source.start ? cfg.source.start : "end"), &so.start, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    conn_opts_free(&so.conn);
    goto out;
  }
  /* A server drops a replica when another registers with its id: unless told
   * otherwise, tail takes an id of its own so that it never knocks out the
   * daemon (or another tail) reading the same server. */
  so.server_id = server_id > 0 ? (unsigned)server_id : 0x40000000u + ((unsigned)getpid() & 0x3fffffffu);
  so.include = inc;
  so.exclude = exc;
  so.heartbeat = cfg.source.heartbeat;
  so.queue_events = cfg.source.queue_events;
  so.queue_bytes = cfg.source.queue_bytes;

  if (snap) {
    struct snapshot_opts sno;
    memset(&sno, 0, sizeof sno);
    sno.conn = so.conn;
    sno.include = optind < argc ? argv + optind : inc;
    sno.exclude = exc;
    sno.state_dir = state_dir;
    sno.chunk_rows = snap_chunk ? snap_chunk : cfg.source.snapshot_chunk;
    sno.rate = have_rate ? (double)snap_rate : cfg.source.snapshot_rate;
    sno.lock = lock_way;
    sno.no_stream = snap_only;
    enum snapshot_status st = SNAPSHOT_NONE;
    if (state_dir && snapshot_status(state_dir, &st, err, sizeof err)) {
      fprintf(stderr, "binhook tail: %s\n", err);
      conn_opts_free(&so.conn);
      rc = 1;
      goto out;
    }
    if (st == SNAPSHOT_FINISHED) {
      log_notice("the snapshot in '%s' is finished: taking a new one", state_dir);
      if (snapshot_forget(state_dir, err, sizeof err)) {
        fprintf(stderr, "binhook tail: %s\n", err);
        conn_opts_free(&so.conn);
        rc = 1;
        goto out;
      }
    }
    sn = snapshot_new(&sno);
    if (snapshot_begin(sn, err, sizeof err) < 0) {
      fprintf(stderr, "binhook tail: %s\n", err);
      snapshot_free(sn);
      conn_opts_free(&so.conn);
      rc = 1;
      goto out;
    }
    const struct position *hp = snapshot_handover(sn);
    so.start.kind = START_FILE;
    snprintf(so.start.file, sizeof so.start.file, "%s", hp->file);
    so.start.pos = hp->pos;
    so.start.skip = 0;
  }

  /* Signals go to one thread that closes the queue: the main loop then ends. */
  struct sigwaiter w;
  atomic_init(&w.done, 0);
  sigemptyset(&w.set);
  sigaddset(&w.set, SIGINT);
  sigaddset(&w.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &w.set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct source *src = source_new(&so);
  conn_opts_free(&so.conn);
  if (sn ? snapshot_start(sn, src, err, sizeof err) : source_start(src, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    snapshot_free(sn);
    source_free(src);
    rc = 1;
    goto out;
  }
  w.q = source_queue(src);
  /* Where it starts is where it continues, should nothing arrive. */
  if (so.start.kind == START_GTID) {
    t.gtid_start = so.start.gtid;
  } else if (sn) {
    snprintf(t.file, sizeof t.file, "%s", so.start.file);
    t.pos = so.start.pos;
  } else {
    const struct position *sp = source_start_position(src, &t.skip);
    snprintf(t.file, sizeof t.file, "%s", sp->file);
    t.pos = sp->pos;
  }
  pthread_t sigthr;
  pthread_create(&sigthr, NULL, sig_main, &w);

  rc = 0;
  int stop = 0, snap_failed = 0;
  while (!stop) {
    /* Output is flushed when the stream pauses, not after every event. */
    struct change *e = changeq_pop_all(w.q, 20);
    if (!e) {
      if (changeq_closed(w.q) || fflush(stdout)) break;
      continue;
    }
    struct change *done = e, *done_tail = NULL;
    while (e) {
      struct change *next = e->next;
      uint64_t seq;
      int skip = 0;
      if (sn && !stop && snapshot_marker(e, &seq)) {
        /* the chunk's lines are out: its progress can be saved */
        skip = 1;
        if (fflush(stdout)) {
          t.write_failed = 1;
          stop = 1;
        } else if (snapshot_commit(sn, seq, err, sizeof err)) {
          fprintf(stderr, "binhook tail: cannot save the snapshot's progress: %s\n", err);
          snap_failed = 1;
          stop = 1;
        }
      } else if (sn && !stop) {
        skip = !snapshot_filter(sn, e); /* counted in the snapshot already */
      }
      if (!stop && !skip) stop = tail_event(&t, e);
      done_tail = e;
      e = next;
    }
    changeq_recycle(w.q, done, done_tail); /* freed by the reading thread */
  }
  /* The signal thread goes before the queue it may touch: wake it (a
   * signal that arrived already has woken it) and wait for it. */
  atomic_store(&w.done, 1);
  pthread_kill(sigthr, SIGTERM);
  pthread_join(sigthr, NULL);
  if (fflush(stdout) && errno != EPIPE) t.write_failed = 1;
  int snap_unfinished = 0;
  if (sn) {
    snapshot_stop(sn);
    snapshot_join(sn);
    snap_unfinished = snapshot_unfinished(sn);
  }
  const char *serr = sn && snapshot_error(sn) ? snapshot_error(sn) : source_error(src);
  if (snap_failed) {
    rc = 1;
  } else if (serr) {
    fprintf(stderr, "binhook tail: %s\n", serr);
    rc = 1;
  } else if (t.write_failed && errno != EPIPE) {
    fprintf(stderr, "binhook tail: cannot write to standard output\n");
    rc = 1;
  }
  source_free(src);
  if (snap_unfinished && state_dir)
    fprintf(stderr, "binhook: stopped during the snapshot; run the same command again to resume it (the lines "
                    "from tx.index %" PRIu64 " on come again)\n", snapshot_committed_rows(sn));
  else if (snap_unfinished)
    fprintf(stderr, "binhook: stopped during the snapshot; it is not resumable without --state DIR\n");
  else
    print_resume(&t);
  snapshot_free(sn);

out:
  strlist_free(include);
  strlist_free(exclude);
  buf_free(&t.line);
  config_free(&cfg);
  return rc;
}
