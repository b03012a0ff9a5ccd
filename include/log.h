#ifndef INCLUDE_LOG_H
#define INCLUDE_LOG_H

#include <stdarg.h>

#include "settings.h"

/*
 * Logging to stderr. Text lines, with `<N>` syslog priority prefixes when
 * stderr is connected to the journal (JOURNAL_STREAM names it), or one JSON
 * object a line. Thread-safe: one write(2) per line.
 * Never pass a secret to these functions.
 */

/* Sets format and threshold; callable again (e.g. once settings are read). */
void log_init(enum log_format format, enum log_level level);

/* "error", "warning", "info", "debug". */
const char *log_level_name(enum log_level level);

/* Logs one line at level; printf-style. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
