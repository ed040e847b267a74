/* rulebench.c - the rule engine and the templates on one core, in memory:
 *
 *   match   changes/s through matcher_feed, the changes spread over 100
 *           tables, each rule with a `when` expression: 1 rule on every
 *           table (the reference: one evaluation per change), then 100 and
 *           1,000 rules each on one table (the index leaves one candidate
 *           per change, so they should stay near the reference); and, for
 *           scale, 100 rules on the one table every change is on (the worst
 *           case: every rule is evaluated).
 *   render  renders/s of a 10-column update: change_to_json (the reference:
 *           the canonical printer itself), the default template
 *           (templates/event.json) and the Slack template
 *           (templates/slack-change.json).
 *
 * usage: rulebench TOPDIR [SECONDS-PER-FIGURE]   (run by contrib/bench/rules.sh) */
#include "config/config.h"
#include "event/change_json.h"
#include "match/rules.h"
#include "match/tmpl.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double seconds = 2;

static struct change *make_event(int table)
{
  char json[2048], err[256];
  snprintf(json, sizeof json,
           "{\"type\":\"update\",\"schema\":\"shop\",\"table\":\"t%d\",\"ts\":\"2026-11-21T10:15:02Z\","
           "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-9876\"},\"tx\":{\"index\":3},"
           "\"key\":{\"id\":42},"
           "\"before\":{\"id\":42,\"customer\":7,\"status\":\"new\",\"total\":\"99.90\",\"currency\":\"EUR\","
           "\"email\":\"ann@example.com\",\"created\":\"2024-01-02T03:04:05\",\"qty\":3,\"ratio\":0.25,"
           "\"note\":\"first order\"},"
           "\"after\":{\"id\":42,\"customer\":7,\"status\":\"paid\",\"total\":\"120.00\",\"currency\":\"EUR\","
           "\"email\":\"ann@example.com\",\"created\":\"2024-01-02T03:04:05\",\"qty\":3,\"ratio\":0.25,"
           "\"note\":\"first order\"}}",
           table);
  struct change *e = change_from_json(json, strlen(json), err, sizeof err);
  if (!e) {
    fprintf(stderr, "rulebench: %s\n", err);
    exit(1);
  }
  return e;
}

static unsigned long matched;
static void on_match(void *arg, const struct rule *r, const struct change *e)
{
  (void)arg, (void)r, (void)e;
  matched++;
}

/* A ruleset of n rules, rule i on table t(i % tables), or with tables 0
 * one rule on every table. */
static struct ruleset *make_rules(const char *dir, int n, int tables)
{
  char path[512];
  snprintf(path, sizeof path, "%s/bench.toml", dir);
  FILE *f = fopen(path, "w");
  if (!f) exit(1);
  fprintf(f, "[endpoint.e]\nurl = \"http://127.0.0.1:9/\"\n");
  for (int i = 0; i < n; i++)
    if (tables)
      fprintf(f, "[[rule]]\nname = \"r%d\"\ntable = \"shop.t%d\"\nendpoint = \"e\"\n"
                 "when = 'changed(status) and after.status == \"paid\" and after.total >= 100'\n",
              i, i % tables);
    else
      fprintf(f, "[[rule]]\nname = \"r%d\"\ntable = \"shop.*\"\nendpoint = \"e\"\n"
                 "when = 'changed(status) and after.status == \"paid\" and after.total >= 100'\n",
              i);
  fclose(f);
  struct config cfg;
  config_defaults(&cfg);
  char errs[4096];
  if (config_load(path, &cfg, errs, sizeof errs)) {
    fprintf(stderr, "rulebench: %s\n", errs);
    exit(1);
  }
  struct buf eb = BUF_INIT;
  struct ruleset *rs = NULL;
  if (ruleset_build(&cfg, 1, &rs, &eb)) {
    fprintf(stderr, "rulebench: %s\n", eb.p);
    exit(1);
  }
  buf_free(&eb);
  return rs;
}

static double bench_match(const char *dir, int nrules, int rule_tables, int event_tables, struct change **events)
{
  struct ruleset *rs = make_rules(dir, nrules, rule_tables);
  struct matcher *m = matcher_new(rs);
  unsigned long n = 0;
  matched = 0;
  double t0 = now(), t;
  do {
    for (int k = 0; k < 10000; k++)
      matcher_feed(m, events[(n + (unsigned long)k) % (unsigned long)event_tables], on_match, NULL);
    n += 10000;
    t = now();
  } while (t - t0 < seconds);
  matcher_free(m);
  ruleset_free(rs);
  return (double)n / (t - t0);
}

static double bench_render(const struct tmpl *tp, const struct change *e, size_t *bytes)
{
  struct buf out = BUF_INIT;
  struct tmpl_ctx c = {.e = e, .rule = "bench", .endpoint = "e"};
  char err[256];
  unsigned long n = 0;
  double t0 = now(), t;
  do {
    for (int k = 0; k < 1000; k++) {
      buf_reset(&out);
      if (tp)
        tmpl_render(tp, &c, &out, err, sizeof err);
      else
        change_to_json(e, &out);
    }
    n += 1000;
    t = now();
  } while (t - t0 < seconds);
  *bytes = out.len;
  buf_free(&out);
  return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: rulebench TOPDIR [SECONDS-PER-FIGURE]\n");
    return 2;
  }
  if (argc > 2) seconds = atof(argv[2]);
  char dir[] = "/tmp/rulebench.XXXXXX";
  if (!mkdtemp(dir)) return 1;

  struct change *events[100];
  for (int i = 0; i < 100; i++)
    events[i] = make_event(i);

  printf("match (changes spread over 100 tables, one `when` per rule):\n");
  double base = bench_match(dir, 1, 0, 100, events);
  printf("  %5d rule on every table       %12.0f changes/s  1.00 (reference: every change evaluated once)\n", 1,
         base);
  int counts[] = {100, 1000};
  for (int i = 0; i < 2; i++) {
    double r = bench_match(dir, counts[i], counts[i], 100, events);
    printf("  %5d rules, one per table      %12.0f changes/s  %.2f of the reference\n", counts[i], r, r / base);
  }
  double dense = bench_match(dir, 100, 1, 1, events);
  printf("  %5d rules, all on one table   %12.0f changes/s  %.2f (every rule evaluated: %.0f evaluations/s)\n",
         100, dense, dense / base, dense * 100);

  printf("render (a 10-column update):\n");
  char err[512], path[1024];
  size_t bytes;
  double ref = bench_render(NULL, events[0], &bytes);
  printf("  change_to_json                   %12.0f renders/s  1.00 (reference, %zu bytes)\n", ref, bytes);
  const char *names[] = {"event.json", "slack-change.json"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/templates/%s", argv[1], names[i]);
    struct tmpl *tp = tmpl_load(TMPL_JSON, path, err, sizeof err);
    if (!tp) {
      fprintf(stderr, "rulebench: %s\n", err);
      return 1;
    }
    double r = bench_render(tp, events[0], &bytes);
    printf("  templates/%-21s %12.0f renders/s  %.2f of the reference (%zu bytes)\n", names[i], r, r / ref,
           bytes);
    tmpl_free(tp);
  }
  for (int i = 0; i < 100; i++)
    change_free(events[i]);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) return 1;
  return 0;
}
