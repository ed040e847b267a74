/* log.c - see log.h. A mutex keeps lines from the source thread and the main
 * loop whole. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[] = {"debug", "info", "notice", "warning", "error"};

void log_set_level(enum log_level level)
{
  min_level = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
    if (!strcmp(name, names[i]) || (i == LOG_WARN && !strcmp(name, "warn"))) {
      *out = (enum log_level)i;
      return 0;
    }
  }
  return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
  if (level < min_level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  pthread_mutex_lock(&log_lock);
  if (isatty(STDERR_FILENO)) {
    fprintf(stderr, "binhook: %s%s%s\n", level >= LOG_WARN ? names[level] : "",
            level >= LOG_WARN ? ": " : "", msg);
  } else {
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, names[level], msg);
  }
  pthread_mutex_unlock(&log_lock);
}
