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
#include "cmd/load.h"
#include "config/config.h"
#include "source/decoder.h"
#include "util/log.h"
#include "snapshot/snapshot.h"
#include "source/options.h"
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
  struct buf line; /* lines not written yet: up to TAIL_BATCH bytes of them */
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
          "  --source URL        mysql://user@host:port, or several of one topology separated by\n"
          "                      commas (tried in turn, followed by GTID), or\n"
          "                      postgresql://user@host:port/database; the password comes from\n"
          "                      BINHOOK_MYSQL_PASSWORD (or password_env in the config)\n"
          "  --from POS          end (default), start, FILE:OFFSET[+K], or gtid:SET (MariaDB\n"
          "                      d-s-n,... or a MySQL executed set uuid:1-77,...); PostgreSQL:\n"
          "                      start or LSN:N[+K] as tail printed it, from [source] slot\n"
          "                      (default: a temporary slot of its own, from now)\n"
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

/* Lines are written this many bytes at a time: one write of a batch,
 * rather than a copy of each line into stdout's buffer and a write(2) of
 * every 4 KiB of it. A live stream also writes what it has whenever
 * nothing more is queued (tail_stream): a line waits only for events
 * already there. */
#define TAIL_BATCH (64 * 1024)

/* Writes the lines waiting in t->line; -1 when output failed. */
static int tail_write(struct tail *t)
{
  size_t n = t->line.len;
  int ok = !n || fwrite(t->line.p, 1, n, t->out) == n;
  buf_reset(&t->line);
  if (!ok) {
    t->write_failed = 1;
    return -1;
  }
  return 0;
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
  change_to_json(e, &t->line);
  buf_addc(&t->line, '\n');
  if (t->line.len >= TAIL_BATCH && tail_write(t)) return 1;
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

/* What the command line asks for. */
struct tail_args {
  const char *config_path, *url, *from, *state_dir, *snap_lock;
  char **include, **exclude; /* --table, --exclude */
  size_t ninclude, nexclude;
  unsigned long long limit, snap_chunk, snap_rate;
  long server_id; /* -1: one of its own */
  int have_rate, snap, snap_only, offline;
};

/* Parses the options into a; returns 0, 1 after --help, or -1 after a
 * usage error (printed). optind is left at the first argument. */
static int parse_args(int argc, char **argv, struct tail_args *a)
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
  int opt;
  optind = 1;
  while (!a->offline && (opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    char *end;
    switch (opt) {
    case 'c': a->config_path = optarg; break;
    case 's': a->url = optarg; break;
    case 'f': a->from = optarg; break;
    case 'l':
      errno = 0;
      a->limit = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-') {
        fprintf(stderr, "binhook tail: --limit '%s' is not a count\n", optarg);
        return -1;
      }
      break;
    case 't': strlist_add(&a->include, &a->ninclude, optarg); break;
    case 'x': strlist_add(&a->exclude, &a->nexclude, optarg); break;
    case 'i':
      a->server_id = strtol(optarg, &end, 10);
      if (*end || a->server_id <= 0 || a->server_id > 4294967295L) {
        fprintf(stderr, "binhook tail: --server-id '%s' is not a number from 1 to 4294967295\n", optarg);
        return -1;
      }
      break;
    case 'b': a->offline = 1; break;
    case 'S': a->snap = 1; break;
    case 'O': a->snap = a->snap_only = 1; break;
    case 'd': a->state_dir = optarg; break;
    case 'C':
    case 'R':
      errno = 0;
      unsigned long long x = strtoull(optarg, &end, 10);
      if (*end || errno || optarg[0] == '-' || (opt == 'C' && !x)) {
        fprintf(stderr, "binhook tail: --snapshot-%s '%s' is not a %s\n", opt == 'C' ? "chunk" : "rate", optarg,
                opt == 'C' ? "count of rows" : "number of rows a second");
        return -1;
      }
      if (opt == 'C')
        a->snap_chunk = x;
      else
        a->snap_rate = x, a->have_rate = 1;
      break;
    case 'L': a->snap_lock = optarg; break;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return -1;
    }
  }
  return 0;
}

/* --binlog FILE...: the files' events, each file decoded afresh, as a
 * server's next file is. Returns the exit status. */
static int tail_files(struct tail *t, const struct tail_args *a, char **inc, char **exc, int argc,
                      char **argv)
{
  char err[4096];
  if (optind >= argc) {
    fprintf(stderr, "binhook tail: --binlog needs at least one file\n");
    return 2;
  }
  if (a->url || a->from) {
    fprintf(stderr, "binhook tail: --binlog reads files; --source and --from do not apply\n");
    return 2;
  }
  struct decoder_opts dopts = {.include = inc, .exclude = exc};
  struct decoder_cb cb = {.ctx = t, .emit = offline_emit, .warn = offline_warn};
  int rc = 0;
  for (int i = optind; i < argc && !rc; i++) {
    struct decoder *d = decoder_new(&dopts, &cb);
    int failed = binfile_read(argv[i], d, err, sizeof err);
    tail_write(t);
    if (failed && !(t->limit && t->printed >= t->limit) && !t->write_failed) {
      fflush(stdout);
      fprintf(stderr, "binhook tail: %s\n", err);
      rc = 1;
    }
    decoder_free(d);
    if (t->limit && t->printed >= t->limit) break;
  }
  if (fflush(stdout) || t->write_failed) rc = rc ? rc : (errno == EPIPE ? 0 : 1);
  return rc;
}

/* --snapshot: begins the snapshot of the tables and moves the stream's
 * start to its position. Returns it, or NULL after printing why. */
static struct snapshot *begin_snapshot(const struct config *cfg, const struct tail_args *a, char **inc,
                                       char **exc, char **tables, struct source_opts *so)
{
  char err[4096];
  enum snapshot_status st = SNAPSHOT_NONE;
  struct snapshot_opts sno;
  snapshot_opts_from_config(cfg, &so->conn, &sno);
  sno.include = tables && *tables ? tables : inc;
  sno.exclude = exc;
  sno.state_dir = a->state_dir;
  if (a->snap_chunk) sno.chunk_rows = a->snap_chunk;
  if (a->have_rate) sno.rate = (double)a->snap_rate;
  if (a->snap_lock) snapshot_parse_lock(a->snap_lock, &sno.lock); /* checked by the caller */
  sno.no_stream = a->snap_only;
  if (a->state_dir && snapshot_status(a->state_dir, &st, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    return NULL;
  }
  if (st == SNAPSHOT_FINISHED) {
    log_notice("the snapshot in '%s' is finished: taking a new one", a->state_dir);
    if (snapshot_forget(a->state_dir, err, sizeof err)) {
      fprintf(stderr, "binhook tail: %s\n", err);
      return NULL;
    }
  }
  struct snapshot *sn = snapshot_new(&sno);
  if (snapshot_begin(sn, err, sizeof err) < 0) {
    fprintf(stderr, "binhook tail: %s\n", err);
    snapshot_free(sn);
    return NULL;
  }
  const struct position *hp = snapshot_handover(sn);
  so->start.kind = START_FILE;
  snprintf(so->start.file, sizeof so->start.file, "%s", hp->file);
  so->start.pos = hp->pos;
  so->start.skip = 0;
  return sn;
}

/* Prints a batch of events from the queue; 1 when tail should stop. A
 * snapshot's chunk marker, once the lines before it are out, saves its
 * progress (*snap_failed when that fails). */
static int print_batch(struct tail *t, struct snapshot *sn, struct change *e, int *snap_failed)
{
  char err[1024];
  int stop = 0;
  for (; e && !stop; e = e->next) {
    uint64_t seq;
    int skip = 0;
    if (sn && snapshot_marker(e, &seq)) {
      /* the chunk's lines are out: its progress can be saved */
      skip = 1;
      if (tail_write(t) || fflush(stdout)) {
        t->write_failed = 1;
        stop = 1;
      } else if (snapshot_commit(sn, seq, err, sizeof err)) {
        fprintf(stderr, "binhook tail: cannot save the snapshot's progress: %s\n", err);
        *snap_failed = 1;
        stop = 1;
      }
    } else if (sn) {
      skip = !snapshot_filter(sn, e); /* counted in the snapshot already */
    }
    if (!stop && !skip) stop = tail_event(t, e);
  }
  return stop;
}

/* Reads the stream (after the snapshot sn, when there is one) until the
 * limit, a signal or the end, then says where to continue. Returns the exit
 * status. */
static int tail_stream(struct tail *t, struct source_opts *so, struct snapshot *sn, const char *state_dir)
{
  char err[4096];
  /* Signals go to one thread that closes the queue: the main loop then ends. */
  struct sigwaiter w;
  atomic_init(&w.done, 0);
  sigemptyset(&w.set);
  sigaddset(&w.set, SIGINT);
  sigaddset(&w.set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &w.set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct source *src = source_new(so);
  if (sn ? snapshot_start(sn, src, err, sizeof err) : source_start(src, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    source_free(src);
    return 1;
  }
  w.q = source_queue(src);
  /* Where it starts is where it continues, should nothing arrive. */
  if (so->start.kind == START_GTID) {
    t->gtid_start = so->start.gtid;
  } else if (sn) {
    snprintf(t->file, sizeof t->file, "%s", so->start.file);
    t->pos = so->start.pos;
  } else {
    const struct position *sp = source_start_position(src, &t->skip);
    snprintf(t->file, sizeof t->file, "%s", sp->file);
    t->pos = sp->pos;
  }
  pthread_t sigthr;
  pthread_create(&sigthr, NULL, sig_main, &w);
  /* tail keeps its own batch (TAIL_BATCH): stdio's buffer would only
   * split each write into pieces of 4 KiB */
  setvbuf(stdout, NULL, _IONBF, 0);

  int rc = 0, stop = 0, snap_failed = 0;
  while (!stop) {
    struct change *e = changeq_pop_all(w.q, 20);
    if (!e) {
      if (changeq_closed(w.q)) break;
      continue;
    }
    stop = print_batch(t, sn, e, &snap_failed);
    struct change *last = e;
    while (last->next)
      last = last->next;
    changeq_recycle(w.q, e, last); /* freed by the reading thread */
    /* Output is written once what is queued is printed, not after every
     * event: in TAIL_BATCH pieces while the stream runs ahead of us. */
    if (!stop && t->line.len && !changeq_depth(w.q, NULL, NULL) && tail_write(t)) stop = 1;
  }
  /* The signal thread goes before the queue it may touch: wake it (a
   * signal that arrived already has woken it) and wait for it. */
  atomic_store(&w.done, 1);
  pthread_kill(sigthr, SIGTERM);
  pthread_join(sigthr, NULL);
  if ((tail_write(t) || fflush(stdout)) && errno != EPIPE) t->write_failed = 1;
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
  } else if (t->write_failed && errno != EPIPE) {
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
    print_resume(t);
  return rc;
}

/* The options that do not go together; 0, or -1 after printing why. */
static int check_args(const struct tail_args *a, int argc, char **argv)
{
  enum snapshot_lock lock;
  if (optind < argc && !a->snap) {
    fprintf(stderr, "binhook tail: unexpected argument '%s' (files are read with --binlog FILE...)\n",
            argv[optind]);
    return -1;
  }
  if (!a->snap && (a->state_dir || a->snap_chunk || a->have_rate || a->snap_lock)) {
    fprintf(stderr, "binhook tail: --state and the --snapshot-* options go with --snapshot\n");
    return -1;
  }
  if (a->snap && a->from) {
    fprintf(stderr,
            "binhook tail: --from does not go with --snapshot: the stream starts where the snapshot was "
            "taken\n");
    return -1;
  }
  if (a->snap && a->snap_lock && snapshot_parse_lock(a->snap_lock, &lock)) {
    fprintf(stderr, "binhook tail: --snapshot-lock '%s' is not one of auto, mariadb, global or tables\n",
            a->snap_lock);
    return -1;
  }
  if (!a->config_path && !a->url) {
    fprintf(stderr, "binhook tail: say where to read from: --source mysql://user@host:port, -c gateway.toml, "
                    "or --binlog FILE...\n");
    return -1;
  }
  return 0;
}

int cmd_tail(int argc, char **argv)
{
  struct tail_args a = {.server_id = -1};
  struct config cfg;
  struct tail t = {.out = stdout};
  struct snapshot *sn = NULL;
  char err[4096];
  int rc = 2;
  memset(&cfg, 0, sizeof cfg);

  int parsed = parse_args(argc, argv, &a);
  if (parsed) {
    rc = parsed > 0 ? 0 : 2;
    goto out;
  }
  if (a.config_path ? load_config(a.config_path, &cfg) : (config_defaults(&cfg), 0)) goto out;
  log_set_level(cfg.log.level);
  char **inc = a.include ? a.include : cfg.source.tables;
  char **exc = a.exclude ? a.exclude : cfg.source.exclude;
  t.limit = a.limit;
  if (a.offline) {
    rc = tail_files(&t, &a, inc, exc, argc, argv);
    goto out;
  }
  if (check_args(&a, argc, argv)) goto out;

  if (a.url) {
    config_source_set_urls(&cfg, a.url);
  }
  struct source_opts so;
  if (source_opts_from_config(&cfg, &so, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    goto out;
  }
  if (a.from && start_pos_parse(a.from, &so.start, err, sizeof err)) {
    fprintf(stderr, "binhook tail: %s\n", err);
    source_opts_free(&so);
    goto out;
  }
  /* A server drops a replica when another registers with its id: unless told
   * otherwise, tail takes an id of its own so that it never knocks out the
   * daemon (or another tail) reading the same server. */
  so.server_id = a.server_id > 0 ? (unsigned)a.server_id : 0x40000000u + ((unsigned)getpid() & 0x3fffffffu);
  /* PostgreSQL: likewise a temporary slot of its own, unless --from asks
   * for a position of the configured slot (read, never confirmed) */
  char tail_slot[64];
  if (so.conn.postgres && !a.from) {
    snprintf(tail_slot, sizeof tail_slot, "binhook_tail_%u", (unsigned)getpid());
    so.slot = tail_slot;
    so.temp_slot = 1;
  }
  so.include = inc;
  so.exclude = exc;
  rc = 1;
  if (!a.snap || (sn = begin_snapshot(&cfg, &a, inc, exc, optind < argc ? argv + optind : NULL, &so)))
    rc = tail_stream(&t, &so, sn, a.state_dir);
  source_opts_free(&so);
  snapshot_free(sn);

out:
  bh_strv_free(a.include);
  bh_strv_free(a.exclude);
  buf_free(&t.line);
  config_free(&cfg);
  return rc;
}
