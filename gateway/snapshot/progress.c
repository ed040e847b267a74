/* progress.c - how far the snapshot is: a copy of each table's figures
 * (prog) that the snapshot thread updates under s->lock after each chunk
 * (progress_report) and any thread reads (snapshot_progress_get, for
 * /metrics and status), and the built-in display: a bar redrawn on a
 * terminal, a log line every few seconds otherwise.
 *
 * The display is called on the snapshot thread (or the caller of
 * snapshot_run); its own state (the bar on screen, the last line logged)
 * is static, for the one snapshot a process shows at a time. */
#include "snapshot/snapshot_int.h"
#include "util/log.h"
#include "util/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void progress_setup(struct snapshot *s)
{
  pthread_mutex_lock(&s->lock);
  free(s->prog);
  s->prog = xcalloc(s->ntabs ? s->ntabs : 1, sizeof *s->prog);
  for (size_t i = 0; i < s->ntabs; i++) {
    s->prog[i].schema = s->tabs[i].schema;
    s->prog[i].name = s->tabs[i].name;
    s->prog[i].done = s->tabs[i].rows;
    s->prog[i].estimated = s->tabs[i].estimated;
    s->prog[i].finished = s->tabs[i].done;
    s->prog[i].eta = -1;
  }
  pthread_mutex_unlock(&s->lock);
}

void progress_report(struct snapshot *s, int force)
{
  struct snapshot_progress p;
  static const double every = 0.2;
  double now = bh_mono();
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < s->ntabs; i++) {
    struct snapshot_table_progress *tp = &s->prog[i];
    const struct stab *t = &s->tabs[i];
    tp->done = t->rows;
    tp->finished = t->done;
    double el = (t->ended > 0 ? t->ended : now) - t->started;
    tp->rate = t->started > 0 && el > 0 ? (double)t->rows_run / el : 0;
    tp->eta = t->done                                    ? 0
              : tp->rate > 0 && tp->estimated > tp->done ? (double)(tp->estimated - tp->done) / tp->rate
                                                         : -1;
  }
  memset(&p, 0, sizeof p);
  p.tables = s->prog;
  p.ntables = s->ntabs;
  p.current = s->current;
  for (size_t i = 0; i < s->ntabs; i++) {
    p.done += s->prog[i].done;
    const struct snapshot_table_progress *tp = &s->prog[i];
    p.estimated += tp->finished || tp->done > tp->estimated ? tp->done : tp->estimated;
  }
  p.elapsed = now - s->t0;
  p.rate = p.elapsed > 0 ? (double)s->rows_run / p.elapsed : 0;
  p.finished = s->current >= s->ntabs;
  p.eta = p.finished ? 0 : p.rate > 0 && p.estimated > p.done ? (double)(p.estimated - p.done) / p.rate : -1;
  pthread_mutex_unlock(&s->lock);
  static _Thread_local double last;
  if (!force && now - last < every) return;
  last = now;
  if (s->o.progress)
    s->o.progress(s->o.ctx, &p);
  else if (!s->o.quiet)
    snapshot_progress_print(&p);
}

void snapshot_progress_get(struct snapshot *s, struct snapshot_progress *out)
{
  pthread_mutex_lock(&s->lock);
  memset(out, 0, sizeof *out);
  out->ntables = s->ntabs;
  out->current = s->current;
  if (s->prog && s->ntabs) {
    struct snapshot_table_progress *c = xcalloc(s->ntabs, sizeof *c);
    memcpy(c, s->prog, s->ntabs * sizeof *c);
    out->tables = c;
    for (size_t i = 0; i < s->ntabs; i++) {
      out->done += c[i].done;
      out->estimated += c[i].estimated;
    }
  }
  out->elapsed = s->t0 > 0 ? bh_mono() - s->t0 : 0;
  out->rate = out->elapsed > 0 ? (double)s->rows_run / out->elapsed : 0;
  out->finished = s->finished;
  out->eta = -1;
  pthread_mutex_unlock(&s->lock);
}

static void fmt_eta(double eta, char *b, size_t n)
{
  if (eta < 0)
    snprintf(b, n, "?");
  else if (eta < 60)
    snprintf(b, n, "%.0fs", eta);
  else if (eta < 3600)
    snprintf(b, n, "%.0fm%02.0fs", floor(eta / 60), fmod(eta, 60));
  else
    snprintf(b, n, "%.0fh%02.0fm", floor(eta / 3600), floor(fmod(eta, 3600) / 60));
}

/* The bar is on the last line of a terminal: a message starts below it. */
static int bar_drawn;

void progress_bar_break(void)
{
  if (!bar_drawn) return;
  fputc('\n', stderr);
  bar_drawn = 0;
}

void snapshot_progress_print(const struct snapshot_progress *p)
{
  static double last_log;
  static size_t last_table = SIZE_MAX;
  static int was_tty = -1;
  if (was_tty < 0) was_tty = isatty(2);
  size_t i = p->current < p->ntables ? p->current : p->ntables ? p->ntables - 1 : 0;
  if (!p->ntables) return;
  const struct snapshot_table_progress *t = &p->tables[i];
  double pct = t->estimated ? 100.0 * (double)t->done / (double)t->estimated : t->finished ? 100 : 0;
  if (pct > 100 || t->finished) pct = t->finished ? 100 : 99;
  char eta[32];
  fmt_eta(t->eta, eta, sizeof eta);
  if (was_tty) {
    if (t->finished && last_table == i + p->ntables) return; /* its last line is there */
    char bar[31];
    int filled = (int)(pct * 30 / 100);
    for (int k = 0; k < 30; k++)
      bar[k] = k < filled ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr,
            "\r\033[Ksnapshot %s.%s [%s] %3.0f%% %" PRIu64 "/~%" PRIu64
            " rows %.0f rows/s ETA %s (table %zu of %zu)",
            t->schema, t->name, bar, pct, t->done, t->estimated, t->rate, eta, i + 1, p->ntables);
    bar_drawn = 1;
    last_table = i;
    if (t->finished) {
      progress_bar_break();
      last_table = i + p->ntables;
    }
    fflush(stderr);
    return;
  }
  double now = bh_mono();
  if (!p->finished && !t->finished && now - last_log < 5 && last_table == i) return;
  if (t->finished && last_table == i + p->ntables) return; /* said already */
  last_log = now;
  last_table = t->finished ? i + p->ntables : i;
  log_info("snapshot of '%s.%s' (table %zu of %zu): %" PRIu64 " of about %" PRIu64
           " rows (%.0f%%), %.0f rows/s, ETA %s%s",
           t->schema, t->name, i + 1, p->ntables, t->done, t->estimated, pct, t->rate, eta,
           t->finished ? ", finished" : "");
}
