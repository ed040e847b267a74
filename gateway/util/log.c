/* log.c - see log.h. A mutex keeps lines from the source thread and the main
 * loop whole. */
#include "util/log.h"

#include "util/buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_TEXT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[] = {"debug", "info", "notice", "warning", "error"};

void log_set_level(enum log_level level)
{
  min_level = level;
}

void log_set_format(enum log_format f)
{
  format = f;
}

int log_parse_format(const char *name, enum log_format *out)
{
  static const char *const fnames[] = {"text", "logfmt", "json"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, fnames[i])) {
      *out = (enum log_format)i;
      return 0;
    }
  return -1;
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

  char ts[40];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
  if (format != LOG_TEXT) {
    /* one line a message, the message escaped for its format */
    struct buf b = BUF_INIT;
    size_t len = strlen(msg);
    if (format == LOG_JSON) {
      buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[level]);
      buf_add_json_str(&b, msg, len);
      buf_adds(&b, "}\n");
    } else {
      buf_printf(&b, "ts=%s level=%s msg=", ts, names[level]);
      buf_add_json_str(&b, msg, len); /* a quoted string with \" \\ \n escapes, as logfmt reads it */
      buf_addc(&b, '\n');
    }
    pthread_mutex_lock(&log_lock);
    fwrite(b.p, 1, b.len, stderr);
    pthread_mutex_unlock(&log_lock);
    buf_free(&b);
    return;
  }

  pthread_mutex_lock(&log_lock);
  if (isatty(STDERR_FILENO)) {
    fprintf(stderr, "binhook: %s%s%s\n", level >= LOG_WARN ? names[level] : "",
            level >= LOG_WARN ? ": " : "", msg);
  } else {
    fprintf(stderr, "%s %s %s\n", ts, names[level], msg);
  }
  pthread_mutex_unlock(&log_lock);
}
