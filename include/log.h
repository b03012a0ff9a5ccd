#ifndef INCLUDE_LOG_H
#define INCLUDE_LOG_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Logging. Text lines on stderr, or one JSON object a line; under
 * journald (stderr is the stream JOURNAL_STREAM names) each message goes
 * to the journal natively, with its priority and, for state changes, the
 * structured fields of struct log_event, so that
 * `journalctl INTERCOM_STATE=unhealthy` finds them. Thread-safe: one
 * write(2) or one journal datagram per message.
 * Never pass a secret to these functions.
 */

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Same order and numbers as syslog priorities, so `<N>` prefixes are free. */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,      /* a recovery; shown at log_level info */
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Sets format and threshold; callable again (settings read, reloaded). */
void log_init(enum log_format format, enum log_level level);

/* "error", "warning", "notice", "info", "debug". */
const char *log_level_name(enum log_level level);

/* Logs one line at level; printf-style. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* MESSAGE_ID of a change of the reported state (journalctl MESSAGE_ID=). */
#define LOG_MESSAGE_STATE_CHANGED "6b153f21a5e948ecaca0b698ce000390"
/* MESSAGE_ID of a new reason while the state stays bad. */
#define LOG_MESSAGE_REASON_CHANGED "32e785eaf0b84a8a92bac34eff52e07d"

/* What a state change carries besides its message; NULL or 0: absent. */
struct log_event {
	const char *message_id;
	const char *state;
	const char *previous_state;
	long code;                 /* the probe's HTTP status */
	const char *reason;        /* printable, as /health's error */
};

/* Logs one line at level with the event's fields; printf-style. */
void log_event(enum log_level level, const struct log_event *ev,
	       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The most fields log_journal_fields() writes, and their longest line. */
#define LOG_JOURNAL_FIELDS 8
#define LOG_JOURNAL_FIELD_MAX 2304

/*
 * The journal entry of a message: "KEY=value" strings (MESSAGE, PRIORITY,
 * SYSLOG_IDENTIFIER, and the event's MESSAGE_ID, INTERCOM_STATE,
 * INTERCOM_PREVIOUS_STATE, INTERCOM_HTTP_STATUS, INTERCOM_REASON) in
 * fields. ev may be NULL. Values are one line: newlines become spaces.
 * Returns the number of fields.
 */
size_t log_journal_fields(char fields[][LOG_JOURNAL_FIELD_MAX],
			  enum log_level level, const char *message,
			  const struct log_event *ev);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
