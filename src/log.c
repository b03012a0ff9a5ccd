#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static enum log_format log_format = LOG_FORMAT_TEXT;
static enum log_level log_threshold = LOG_LEVEL_INFO;
/* journald stamps lines itself and reads `<N>` prefixes as priorities. */
static bool log_journal;

void
log_init(enum log_format format, enum log_level level)
{
	log_format = format;
	log_threshold = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARNING:
		return "warning";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "info";
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_threshold)
		return;

	char message[2048];
	vsnprintf(message, sizeof(message), fmt, ap);

	char line[4608];
	size_t pos;
	if (log_format == LOG_FORMAT_JSON) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		pos = (size_t)snprintf(line, sizeof(line),
			"{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"message\":\"",
			when, ts.tv_nsec / 1000000, log_level_name(level));
		/* The message is cut, never the closing `"}` and newline. */
		const char *rest = message;
		size_t n = strlen(message);
		pos += text_json_escape(line + pos, sizeof(line) - pos - 3,
					&rest, &n);
		memcpy(line + pos, "\"}\n", 3);
		pos += 3;
	} else if (log_journal) {
		pos = (size_t)snprintf(line, sizeof(line), "<%d>%s\n", (int)level,
				       message);
	} else {
		pos = (size_t)snprintf(line, sizeof(line), "intercom-healthd: %s: %s\n",
				       log_level_name(level), message);
	}
	if (pos >= sizeof(line)) {
		pos = sizeof(line) - 1;
		line[pos - 1] = '\n';
	}
	/* One write per line keeps lines whole between threads. */
	ssize_t n = write(STDERR_FILENO, line, pos);
	(void)n;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
