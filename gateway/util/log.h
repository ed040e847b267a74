/* log.h - the daemon's log: one line per message on stderr, with a level and
 * (when stderr is not a terminal) a timestamp; or as logfmt
 * (ts=... level=... msg="...") or JSON lines ({"ts","level","msg"}) for log
 * collectors. Modules return errors to their callers; only top-level code
 * logs them. */
#ifndef BH_LOG_H
#define BH_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_LOGFMT, LOG_JSON };

void log_set_format(enum log_format f);
/* Parses "text", "logfmt" or "json"; returns 0 or -1. */
int log_parse_format(const char *name, enum log_format *out);

void log_set_level(enum log_level level);
/* Parses "debug", "info", ...; returns 0 or -1 for an unknown name. */
int log_parse_level(const char *name, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
