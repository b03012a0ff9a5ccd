#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "log.h"
#include "text.h"

/* Atomic: a reload sets them while the worker thread logs. */
static atomic_int log_format = LOG_FORMAT_TEXT;
static atomic_int log_threshold = LOG_LEVEL_INFO;
/* stderr is journald's stream: send natively (priorities, fields). */
static atomic_bool log_journal;

/*
 * JOURNAL_STREAM ("DEVICE:INODE") is inherited by children whose stderr
 * may point elsewhere (a pipe, a file): the journal is ours only when it
 * names the very file stderr is.
 */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_format format, enum log_level level)
{
	atomic_store(&log_format, (int)format);
	atomic_store(&log_threshold, (int)level);
	atomic_store(&log_journal, stderr_is_journal());
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARNING:
		return "warning";
	case LOG_LEVEL_NOTICE:
		return "notice";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "info";
}

/* Appends ,"key":"value" (escaped; cut to fit, never past end). */
static size_t
json_member(char *line, size_t pos, size_t end, const char *key,
	    const char *value)
{
	if (!value || pos + strlen(key) + 8 > end)
		return pos;
	pos += (size_t)snprintf(line + pos, end - pos, ",\"%s\":\"", key);
	size_t n = strlen(value);
	pos += text_json_escape(line + pos, end - pos - 1, &value, &n);
	line[pos++] = '"';
	return pos;
}

static size_t
format_json(char *line, size_t size, enum log_level level, const char *message,
	    const struct log_event *ev)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	size_t pos = (size_t)snprintf(line, size,
		"{\"time\":\"%s.%03ldZ\",\"level\":\"%s\"",
		when, ts.tv_nsec / 1000000, log_level_name(level));
	/* Members are cut to fit, never the closing `}` and newline. */
	size_t end = size - 3;
	pos = json_member(line, pos, end, "message", message);
	if (ev) {
		pos = json_member(line, pos, end, "state", ev->state);
		pos = json_member(line, pos, end, "previous_state",
				  ev->previous_state);
		if (ev->code > 0 && pos + 24 < end)
			pos += (size_t)snprintf(line + pos, end - pos,
						",\"code\":%ld", ev->code);
		pos = json_member(line, pos, end, "reason", ev->reason);
	}
	memcpy(line + pos, "}\n", 2);
	return pos + 2;
}

/* One "KEY=value" field, the value kept on one line. */
static void
journal_field(char *field, const char *key, const char *value)
{
	int n = snprintf(field, LOG_JOURNAL_FIELD_MAX, "%s=%s", key, value);
	(void)n;
	for (char *p = field; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

size_t
log_journal_fields(char fields[][LOG_JOURNAL_FIELD_MAX], enum log_level level,
		   const char *message, const struct log_event *ev)
{
	size_t n = 0;
	char priority[4];
	snprintf(priority, sizeof(priority), "%d", (int)level);
	journal_field(fields[n++], "MESSAGE", message);
	journal_field(fields[n++], "PRIORITY", priority);
	journal_field(fields[n++], "SYSLOG_IDENTIFIER", "intercom-healthd");
	if (!ev)
		return n;
	if (ev->message_id)
		journal_field(fields[n++], "MESSAGE_ID", ev->message_id);
	if (ev->state)
		journal_field(fields[n++], "INTERCOM_STATE", ev->state);
	if (ev->previous_state)
		journal_field(fields[n++], "INTERCOM_PREVIOUS_STATE",
			      ev->previous_state);
	if (ev->code > 0) {
		char code[24];
		snprintf(code, sizeof(code), "%ld", ev->code);
		journal_field(fields[n++], "INTERCOM_HTTP_STATUS", code);
	}
	if (ev->reason && ev->reason[0])
		journal_field(fields[n++], "INTERCOM_REASON", ev->reason);
	return n;
}

#if HAVE_SYSTEMD
static bool
send_journal(enum log_level level, const char *message,
	     const struct log_event *ev)
{
	char fields[LOG_JOURNAL_FIELDS][LOG_JOURNAL_FIELD_MAX];
	struct iovec iov[LOG_JOURNAL_FIELDS];
	size_t n = log_journal_fields(fields, level, message, ev);
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ fields[i], strlen(fields[i]) };
	return sd_journal_sendv(iov, (int)n) >= 0;
}
#endif

__attribute__((format(printf, 3, 0)))
static void
emit(enum log_level level, const struct log_event *ev, const char *fmt,
     va_list ap)
{
	if ((int)level > atomic_load(&log_threshold))
		return;

	char message[2048];
	vsnprintf(message, sizeof(message), fmt, ap);

	char line[4608];
	size_t pos;
	bool journal = atomic_load(&log_journal);
	if (atomic_load(&log_format) == LOG_FORMAT_JSON) {
		pos = format_json(line, sizeof(line), level, message, ev);
	} else if (journal) {
#if HAVE_SYSTEMD
		if (send_journal(level, message, ev))
			return;
#endif
		/* The stream still takes `<N>` prefixes as priorities. */
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
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	emit(level, NULL, fmt, ap);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_event(enum log_level level, const struct log_event *ev, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, ev, fmt, ap);
	va_end(ap);
}
