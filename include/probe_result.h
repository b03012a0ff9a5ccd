#ifndef INCLUDE_PROBE_RESULT_H
#define INCLUDE_PROBE_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What one finished probe of Intercom observed. Plain data: filled by the
 * worker (probe.c) from curl, read by the classifier and the state tracker.
 */

#define PROBE_ERROR_MAX 256

/* Transport outcome: why no HTTP status, when there is none. */
enum probe_transport {
	PROBE_TRANSPORT_OK,        /* an HTTP response was read */
	PROBE_TRANSPORT_TIMEOUT,
	PROBE_TRANSPORT_CONNECT,   /* refused, reset, unreachable, closed early */
	PROBE_TRANSPORT_DNS,
	PROBE_TRANSPORT_TLS,
	PROBE_TRANSPORT_PROTOCOL,  /* not HTTP at all, unparseable response */
};

/* Statuspage's status.indicator. */
enum page_indicator {
	PAGE_UNKNOWN = 0,          /* not read yet, unreachable or malformed */
	PAGE_NONE,
	PAGE_MINOR,
	PAGE_MAJOR,
	PAGE_CRITICAL,
};

struct rate_limit {
	bool has_limit, has_remaining, has_reset;
	int64_t limit;
	int64_t remaining;
	int64_t reset;             /* Unix seconds, Intercom's clock */
};

/*
 * How a transfer connected, from curl's cumulative timings: each phase's
 * own duration in microseconds. A transfer that reused an open connection
 * spends nothing on DNS, TCP or TLS.
 */
struct probe_phases {
	bool known;                /* curl reported timings */
	bool reused;               /* no new connection was made */
	int64_t dns_us;
	int64_t connect_us;        /* TCP */
	int64_t tls_us;
	int64_t first_byte_us;     /* request sent .. first byte of the answer */
};

/*
 * A reason as it is gathered, before it is shown: our own words around at
 * most one piece of someone else's text (curl's message, an error body's
 * message or code, a page's <title>), which stays raw (not reduced, not
 * redacted, not cut) until response_reason_show() makes the whole safe in
 * one pass, at the end. So no step on the way needs to know the secret.
 */
struct probe_reason {
	char ours[64];             /* our words before the text */
	const char *text;          /* theirs, not NUL-terminated; NULL: none */
	size_t len;
	size_t cap;                /* show at most this many characters of it */
	const char *after;         /* static, our words after it; NULL: none */
};

struct probe_result {
	int64_t started_ms;        /* CLOCK_REALTIME, ms since the epoch */
	int64_t finished_ms;       /* CLOCK_REALTIME */
	int64_t finished_mono_ms;  /* CLOCK_MONOTONIC: staleness, immune to clock steps */
	int64_t latency_ms;        /* from the monotonic clock */
	enum probe_transport transport;
	long http_status;          /* 0 unless transport == PROBE_TRANSPORT_OK */
	struct rate_limit rate_limit;
	int64_t retry_after_s;     /* Retry-After as seconds from now; -1 absent */
	int64_t server_date_s;     /* Date header, Unix seconds; -1 absent */
	struct probe_phases phases;
	/* The server certificate's notAfter, Unix seconds; 0 when unknown
	 * (no handshake on this transfer, or certinfo not asked for: see
	 * request_want_certinfo()). */
	int64_t cert_not_after_s;
	/* Intercom's errors[0].message or a short reason; "" when none.
	 * Printable ASCII (0x20..0x7e) on one line, never the token:
	 * request_complete() makes it so, and everything that copies it
	 * (the snapshot's error texts, logs, STATUS=, the plugin line,
	 * JSON) relies on it instead of checking again. Becomes
	 * "<status>: <reason>" in /health. */
	char reason[PROBE_ERROR_MAX];
};

#endif
