/*
 * fake-intercom: a stand-in for Intercom's REST API, its Statuspage and a
 * user's webhook endpoint, for the integration tests and the README's quick
 * start. Nothing here is shipped.
 *
 *   fake-intercom --cert FILE --key FILE [--port N] [--control-port N]
 *                 [--token TOKEN] [--quiet]
 *
 * Two servers, both on 127.0.0.1 (port 0 picks an ephemeral one):
 *
 *  - HTTPS on --port, with the given certificate:
 *      /api/v2/status.json   the Statuspage summary (knob `page`)
 *      /webhook              the user's webhook endpoint (knobs `webhook_*`)
 *      anything else         the API, normally GET /me (knob `me` and friends)
 *    API requests need `Authorization: Bearer TOKEN` (any token without
 *    --token), and carry X-RateLimit-* headers.
 *  - plain HTTP on --control-port, for the test driving it:
 *      GET /set?knob=value&...   change the behaviour of the next requests
 *      GET /stats                request counts, the last API request's
 *                                headers and API arrival times, as JSON
 *      GET /reset                forget the stats (knobs stay)
 *      GET /defaults             knobs back to their defaults
 *
 * Knobs (defaults first): me=ok|error|error-no-list|error-empty-code|html|
 * garbage|empty|huge|reset|hang|version-check|reflect, code=200 (the status the API
 * answers with; `me` never changes it), delay_ms=0, limit=10000|none,
 * remaining=9990, reset_in=10, reset_at=none, retry_after=none (429 only),
 * reflect_pad=0 (filler before me=reflect's echo), region=US, page=none|minor|major|critical|garbage|500|hang,
 * webhook_code=200, webhook_secret= (empty: POSTs are not verified),
 * date_skew=0 (seconds added to the API's Date header: a clock minutes off),
 * forbidden= (comma-separated API paths answering 403 `forbidden`, as paths
 * outside a token's scopes do), token_hosts= (comma-separated Host names
 * where the token is valid, others answering 401 as another region's host
 * does; empty: every host).
 *
 * Once both servers listen, one line goes to stdout:
 * `https_port=N control_port=M`. SIGTERM or SIGINT ends it with status 0,
 * also while an answer is deliberately hanging. Unless --quiet, each request
 * logs its method, path and outcome to stderr; header values never are, so
 * the token cannot leak into test logs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define PROG "fake-intercom"

/* Hanging answers re-check the stop flag this often: SIGTERM must end the
 * process within about a second even with many requests parked. */
#define NAP_STEP_MS 20
/* A "hanging" request gives up after an hour so a forgotten test run does not
 * keep threads forever. */
#define HANG_CAP_MS (3600LL * 1000)
#define DELAY_MAX_MS (3600LL * 1000)
/* Arrival times kept for /stats: enough for rate and back-off assertions. */
#define TIMES_RING 256
/* Webhook bodies beyond this are drained but not kept: a 413 is the answer. */
#define WEBHOOK_BODY_MAX (1024 * 1024)
/* Longest header value kept for /stats; real tokens are far shorter. */
#define HEADER_KEEP_MAX 4096
#define HUGE_SIZE (8u * 1024 * 1024)
#define GARBAGE_SIZE 2048
#define FILE_MAX (1024 * 1024)

#define STATUS_PATH "/api/v2/status.json"
#define WEBHOOK_PATH "/webhook"

enum me_mode {
	ME_OK,
	ME_ERROR,
	ME_ERROR_NO_LIST,
	ME_ERROR_EMPTY_CODE,
	ME_HTML,
	ME_GARBAGE,
	ME_EMPTY,
	ME_HUGE,
	ME_RESET,
	ME_HANG,
	ME_VERSION_CHECK,
	ME_REFLECT,
	ME_MODE_COUNT,
};

static const char *const me_mode_names[ME_MODE_COUNT] = {
	[ME_OK] = "ok",
	[ME_ERROR] = "error",
	[ME_ERROR_NO_LIST] = "error-no-list",
	[ME_ERROR_EMPTY_CODE] = "error-empty-code",
	[ME_HTML] = "html",
	[ME_GARBAGE] = "garbage",
	[ME_EMPTY] = "empty",
	[ME_HUGE] = "huge",
	[ME_RESET] = "reset",
	[ME_HANG] = "hang",
	[ME_VERSION_CHECK] = "version-check",
	[ME_REFLECT] = "reflect",
};

enum page_mode {
	PAGE_NONE,
	PAGE_MINOR,
	PAGE_MAJOR,
	PAGE_CRITICAL,
	PAGE_GARBAGE,
	PAGE_500,
	PAGE_HANG,
	PAGE_MODE_COUNT,
};

static const char *const page_mode_names[PAGE_MODE_COUNT] = {
	[PAGE_NONE] = "none",
	[PAGE_MINOR] = "minor",
	[PAGE_MAJOR] = "major",
	[PAGE_CRITICAL] = "critical",
	[PAGE_GARBAGE] = "garbage",
	[PAGE_500] = "500",
	[PAGE_HANG] = "hang",
};

/* What the next requests get; copied whole under state_lock per answer, so
 * one answer never mixes two /set calls. */
struct knobs {
	enum me_mode me;
	unsigned int code;
	long long delay_ms;
	bool limit_none;
	long long limit;
	long long remaining;
	long long reset_in;
	bool reset_at_set;
	long long reset_at;
	bool retry_after_set;
	long long retry_after;
	char region[32];
	enum page_mode page;
	unsigned int webhook_code;
	/* Empty: POSTs are not verified. */
	char webhook_secret[256];
	/* me=reflect: filler before the echo, to move it across a cut. */
	long long reflect_pad;
	/* Added to the Date of API answers; 0 leaves the library's own. */
	long long date_skew;
	/* ",/a,/b,": API paths that answer 403; empty for none. */
	char forbidden[512];
	/* ",api.eu.intercom.io,": Hosts the token is valid on; empty: all. */
	char token_hosts[256];
};

enum field {
	FIELD_METHOD,
	FIELD_PATH,
	FIELD_AUTHORIZATION,
	FIELD_ACCEPT,
	FIELD_INTERCOM_VERSION,
	FIELD_USER_AGENT,
	FIELD_COUNT,
};

static const char *const field_names[FIELD_COUNT] = {
	[FIELD_METHOD] = "method",
	[FIELD_PATH] = "path",
	[FIELD_AUTHORIZATION] = "authorization",
	[FIELD_ACCEPT] = "accept",
	[FIELD_INTERCOM_VERSION] = "intercom_version",
	[FIELD_USER_AGENT] = "user_agent",
};

struct stats {
	unsigned long long me;
	unsigned long long status;
	unsigned long long webhook;
	unsigned long long total;
	/* Owned copies of the last API request's values; NULL when absent. */
	char *last_me[FIELD_COUNT];
	long long me_times_ms[TIMES_RING];
	/* How many times were ever recorded; the ring holds the last 256. */
	unsigned long long me_times_count;
};

enum kind {
	KIND_ME,
	KIND_STATUS,
	KIND_WEBHOOK,
};

/* Per-request state on the HTTPS server, freed by request_completed(). */
struct request {
	enum kind kind;
	bool is_post;
	char *body;
	size_t body_len;
	bool body_too_big;
};

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

struct set_context {
	struct knobs knobs;
	bool failed;
	char reason[512];
};

static atomic_bool stopping;
static bool quiet;
/* NULL: any bearer token passes. Never printed. */
static const char *api_token;

/* Guards knobs, stats and request_id_state: the API server answers on one
 * thread per connection while the control server changes and reads them. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct knobs knobs;
static struct stats stats;
static uint64_t request_id_state = 0x243f6a8885a308d3ULL;

static unsigned char garbage[GARBAGE_SIZE];
/* The handler's first call only sets *con_cls, as the daemon's does
 * (queuing on the first call makes libmicrohttpd close keep-alive
 * connections); the control server needs no state, so this marks "seen"
 * there. */
static char control_seen;

static const char huge_prefix[] =
	"{\"type\":\"error.list\",\"errors\":[{\"code\":\"x\",\"message\":\"";

/* ---- HMAC-SHA1, for verifying X-Hub-Signature */

static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* ---- small helpers */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds in short steps. Returns false as soon as a stop was
 * requested, so hanging and slow answers never hold up SIGTERM. */
static bool
nap(long long ms)
{
	struct timespec now, end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(ms / 1000);
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}

	for (;;) {
		struct timespec step = { 0, 0 };
		long long left;

		if (atomic_load(&stopping))
			return false;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long long)(end.tv_sec - now.tv_sec) * 1000000000LL +
			(end.tv_nsec - now.tv_nsec);
		if (left <= 0)
			return true;
		if (left > NAP_STEP_MS * 1000000LL)
			left = NAP_STEP_MS * 1000000LL;
		step.tv_nsec = (long)left;
		nanosleep(&step, NULL);
	}
}

static bool
parse_ll(const char *text, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!text || !*text)
		return false;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int
lookup_name(const char *const *names, int count, const char *value)
{
	for (int i = 0; i < count; i++)
		if (strcmp(names[i], value) == 0)
			return i;
	return -1;
}

/* Copies text for a log line, replacing what a terminal would interpret: the
 * path comes from the client and is URL-decoded by the library. */
static void
sanitize(char *out, size_t size, const char *text)
{
	size_t i = 0;

	for (; text && *text && i + 1 < size; text++)
		out[i++] = (*text >= 0x20 && *text < 0x7f) ? *text : '?';
	out[i] = '\0';
}

static void
log_request(const char *server, const char *method, const char *path,
	    const char *outcome)
{
	char m[16], p[256];

	if (quiet)
		return;
	sanitize(m, sizeof(m), method);
	sanitize(p, sizeof(p), path);
	fprintf(stderr, PROG ": %s %s %s -> %s\n", server, m, p, outcome);
}

static void
log_status(const char *server, const char *method, const char *path,
	   unsigned int code)
{
	char outcome[16];

	snprintf(outcome, sizeof(outcome), "%u", code);
	log_request(server, method, path, outcome);
}

/* The library's own complaints (bad TLS handshakes and the like); its format
 * strings never carry header values. */
__attribute__((format(printf, 2, 0)))
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	if (quiet)
		return;
	fputs(PROG ": mhd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- growing output buffer */

static bool
buf_reserve(struct buf *b, size_t extra)
{
	size_t cap;
	char *data;

	if (b->failed)
		return false;
	if (b->len + extra <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

__attribute__((format(printf, 2, 3)))
static void
buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Writes text as a JSON string, or null. Bytes from 0x80 come out as \u00XX:
 * header values are ISO-8859-1 to HTTP, and the output stays valid JSON
 * whatever a client sent. */
static void
buf_add_json(struct buf *b, const char *text)
{
	if (!text) {
		buf_add(b, "null");
		return;
	}
	buf_add(b, "\"");
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_add(b, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			buf_add(b, "\\u%04x", *p);
		else
			buf_add(b, "%c", *p);
	}
	buf_add(b, "\"");
}

/* Hands the buffer's memory to a new response; b is empty afterwards. */
static struct MHD_Response *
buf_response(struct buf *b)
{
	struct MHD_Response *response = NULL;

	if (b->failed || !b->data)
		goto out;
	response = MHD_create_response_from_buffer(b->len, b->data,
		MHD_RESPMEM_MUST_FREE);
	if (response)
		b->data = NULL;
out:
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	return response;
}

static struct MHD_Response *
copy_response(const void *data, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)data,
		MHD_RESPMEM_MUST_COPY);
}

static bool
add_header(struct MHD_Response *response, const char *name, const char *value)
{
	return MHD_add_response_header(response, name, value) == MHD_YES;
}

/* Queues and releases response; a NULL response (out of memory, a header
 * that would not stick) closes the connection instead. */
static enum MHD_Result
answer(struct MHD_Connection *connection, unsigned int code,
       struct MHD_Response *response)
{
	enum MHD_Result ret;

	if (!response)
		return MHD_NO;
	ret = MHD_queue_response(connection, code, response);
	MHD_destroy_response(response);
	return ret;
}

static struct MHD_Response *
typed(struct MHD_Response *response, const char *content_type)
{
	if (response && !add_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    content_type)) {
		MHD_destroy_response(response);
		return NULL;
	}
	return response;
}

static struct MHD_Response *
json_literal(const char *json)
{
	return typed(copy_response(json, strlen(json)), "application/json");
}

static enum MHD_Result
answer_text(struct MHD_Connection *connection, unsigned int code,
	    const char *text)
{
	return answer(connection, code,
		typed(copy_response(text, strlen(text)), "text/plain"));
}

/* ---- knobs and stats */

static void
knobs_default(struct knobs *k)
{
	memset(k, 0, sizeof(*k));
	k->me = ME_OK;
	k->code = 200;
	k->delay_ms = 0;
	k->limit_none = false;
	k->limit = 10000;
	k->remaining = 9990;
	k->reset_in = 10;
	k->reset_at_set = false;
	k->retry_after_set = false;
	snprintf(k->region, sizeof(k->region), "US");
	k->page = PAGE_NONE;
	k->webhook_code = 200;
	k->webhook_secret[0] = '\0';
}

static struct knobs
knobs_snapshot(void)
{
	struct knobs k;

	pthread_mutex_lock(&state_lock);
	k = knobs;
	pthread_mutex_unlock(&state_lock);
	return k;
}

/* Intercom's request_id looks like a UUID; tests only need it to vary. */
static void
make_request_id(char *out, size_t size)
{
	uint64_t a, b;

	pthread_mutex_lock(&state_lock);
	request_id_state ^= (uint64_t)now_ms();
	request_id_state ^= request_id_state << 13;
	request_id_state ^= request_id_state >> 7;
	request_id_state ^= request_id_state << 17;
	a = request_id_state;
	request_id_state ^= request_id_state << 13;
	request_id_state ^= request_id_state >> 7;
	request_id_state ^= request_id_state << 17;
	b = request_id_state;
	pthread_mutex_unlock(&state_lock);

	snprintf(out, size, "%08x-%04x-4%03x-%04x-%012llx",
		 (unsigned int)(a >> 32), (unsigned int)(a >> 16) & 0xffff,
		 (unsigned int)a & 0xfff,
		 0x8000 | ((unsigned int)(b >> 48) & 0x3fff),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

static char *
keep_header(struct MHD_Connection *connection, const char *name)
{
	const char *value = MHD_lookup_connection_value(connection,
		MHD_HEADER_KIND, name);

	return value ? strndup(value, HEADER_KEEP_MAX) : NULL;
}

static void
count_request(struct MHD_Connection *connection, enum kind kind,
	      const char *method, const char *path)
{
	char *fresh[FIELD_COUNT] = { NULL }, *old[FIELD_COUNT];
	long long at = now_ms();

	if (kind == KIND_ME) {
		fresh[FIELD_METHOD] = strndup(method, HEADER_KEEP_MAX);
		fresh[FIELD_PATH] = strndup(path, HEADER_KEEP_MAX);
		fresh[FIELD_AUTHORIZATION] = keep_header(connection,
			MHD_HTTP_HEADER_AUTHORIZATION);
		fresh[FIELD_ACCEPT] = keep_header(connection,
			MHD_HTTP_HEADER_ACCEPT);
		fresh[FIELD_INTERCOM_VERSION] = keep_header(connection,
			"Intercom-Version");
		fresh[FIELD_USER_AGENT] = keep_header(connection,
			MHD_HTTP_HEADER_USER_AGENT);
	}

	pthread_mutex_lock(&state_lock);
	stats.total++;
	switch (kind) {
	case KIND_ME:
		stats.me++;
		stats.me_times_ms[stats.me_times_count % TIMES_RING] = at;
		stats.me_times_count++;
		memcpy(old, stats.last_me, sizeof(old));
		memcpy(stats.last_me, fresh, sizeof(fresh));
		break;
	case KIND_STATUS:
		stats.status++;
		break;
	case KIND_WEBHOOK:
		stats.webhook++;
		break;
	}
	pthread_mutex_unlock(&state_lock);

	if (kind == KIND_ME)
		for (int i = 0; i < FIELD_COUNT; i++)
			free(old[i]);
}

static void
stats_clear(void)
{
	char *old[FIELD_COUNT];

	pthread_mutex_lock(&state_lock);
	memcpy(old, stats.last_me, sizeof(old));
	memset(&stats, 0, sizeof(stats));
	pthread_mutex_unlock(&state_lock);

	for (int i = 0; i < FIELD_COUNT; i++)
		free(old[i]);
}

/* ---- the API (/me and any other path) */

static void
error_for_status(unsigned int status, const char **code, const char **message)
{
	switch (status) {
	case 400:
		*code = "bad_request";
		*message = "Bad Request";
		break;
	case 401:
		*code = "unauthorized";
		*message = "Access Token Invalid";
		break;
	case 403:
		*code = "forbidden";
		*message = "Access to this resource is forbidden";
		break;
	case 404:
		*code = "not_found";
		*message = "Resource Not Found";
		break;
	case 429:
		*code = "rate_limit_exceeded";
		*message = "Exceeded rate limit of 167 in 10_seconds";
		break;
	case 500:
		*code = "server_error";
		*message = "Server Error";
		break;
	case 502:
		*code = "server_error";
		*message = "Bad Gateway";
		break;
	case 503:
		*code = "service_unavailable";
		*message = "Service Unavailable";
		break;
	case 504:
		*code = "request_timeout";
		*message = "Request Timeout";
		break;
	default:
		*code = "error";
		*message = "Error";
		break;
	}
}

static struct MHD_Response *
error_list_response(const char *code, const char *message)
{
	struct buf b = { 0 };
	char request_id[40];

	make_request_id(request_id, sizeof(request_id));
	buf_add(&b, "{\"type\":\"error.list\",\"request_id\":\"%s\","
		"\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}",
		request_id, code, message);
	return typed(buf_response(&b), "application/json");
}

static struct MHD_Response *
me_response(const struct knobs *k)
{
	struct buf b = { 0 };

	buf_add(&b, "{\"type\":\"admin\",\"id\":\"991267\",\"name\":\"Ada Fake\","
		"\"email\":\"ada@example.com\",\"email_verified\":true,"
		"\"app\":{\"type\":\"app\",\"id_code\":\"abc123de\","
		"\"name\":\"Fake Workspace\",\"created_at\":1600000000,"
		"\"secure\":true,\"identity_verification\":false,"
		"\"timezone\":\"Europe/Dublin\",\"region\":");
	buf_add_json(&b, k->region);
	buf_add(&b, "},\"avatar\":{\"type\":\"avatar\",\"image_url\":null},"
		"\"has_inbox_seat\":true}");
	return typed(buf_response(&b), "application/json");
}

/* The reason phrases nginx puts in its own error pages, which is what sits in
 * front of an API when it answers in HTML. */
static const char *
html_reason(unsigned int code)
{
	switch (code) {
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Temporarily Unavailable";
	case 504:
		return "Gateway Time-out";
	default:
		return MHD_get_reason_phrase_for(code);
	}
}

static struct MHD_Response *
html_response(unsigned int code)
{
	struct buf b = { 0 };
	const char *reason = html_reason(code);

	buf_add(&b, "<html><head><title>%u %s</title></head><body><center>"
		"<h1>%u %s</h1></center></body></html>",
		code, reason, code, reason);
	return typed(buf_response(&b), "text/html");
}

static ssize_t
huge_read(void *cls, uint64_t pos, char *out, size_t max)
{
	size_t n = 0;

	if (atomic_load(&stopping))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= HUGE_SIZE)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > HUGE_SIZE - pos)
		max = (size_t)(HUGE_SIZE - pos);
	while (n < max && pos + n < sizeof(huge_prefix) - 1) {
		out[n] = huge_prefix[pos + n];
		n++;
	}
	memset(out + n, 'x', max - n);
	return (ssize_t)max;
}

/* Made once: every byte class a careless parser or log line trips over. */
static void
make_garbage(void)
{
	static const char lead[] =
		"\0\xff\xfe\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[31;1m{\"type\":"
		"\x1b[0m\r\n\x7f\x08\x08\xc3\x28\xed\xa0\x80\xf8\x88\x80\x80\x80";
	uint32_t x = 0x6d2b79f5;

	memcpy(garbage, lead, sizeof(lead) - 1);
	for (size_t i = sizeof(lead) - 1; i < sizeof(garbage); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (i % 61 == 0)
			garbage[i] = 0x00;
		else if (i % 67 == 0)
			garbage[i] = 0xff;
		else if (i % 71 == 0)
			garbage[i] = 0x1b;
		else
			garbage[i] = (unsigned char)x;
	}
}

static struct MHD_Response *
garbage_response(void)
{
	return typed(MHD_create_response_from_buffer(sizeof(garbage), garbage,
		MHD_RESPMEM_PERSISTENT), "application/json");
}

static bool
add_rate_headers(struct MHD_Response *response, const struct knobs *k,
		 unsigned int code)
{
	char value[32];

	if (!k->limit_none) {
		long long reset = k->reset_at_set ? k->reset_at :
			(long long)time(NULL) + k->reset_in;

		snprintf(value, sizeof(value), "%lld", k->limit);
		if (!add_header(response, "X-RateLimit-Limit", value))
			return false;
		snprintf(value, sizeof(value), "%lld", k->remaining);
		if (!add_header(response, "X-RateLimit-Remaining", value))
			return false;
		snprintf(value, sizeof(value), "%lld", reset);
		if (!add_header(response, "X-RateLimit-Reset", value))
			return false;
	}
	if (code == 429 && k->retry_after_set) {
		snprintf(value, sizeof(value), "%lld", k->retry_after);
		if (!add_header(response, MHD_HTTP_HEADER_RETRY_AFTER, value))
			return false;
	}
	return true;
}

/* Returns NULL when the request may pass, else the error code Intercom gives. */
static const char *
auth_failure(struct MHD_Connection *connection)
{
	const char *auth = MHD_lookup_connection_value(connection,
		MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token;

	if (!auth)
		return "missing_authorization";
	/* The scheme is case-insensitive in HTTP; the token is not. */
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return "unauthorized";
	token = auth + 7;
	if (api_token)
		return strcmp(token, api_token) == 0 ? NULL : "unauthorized";
	return *token ? NULL : "unauthorized";
}

static bool
version_valid(const char *version)
{
	static const char *const accepted[] = {
		"1.0", "1.1", "1.2", "1.3", "1.4",
		"2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8",
		"2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16",
		"Preview", "Unstable",
	};

	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		if (strcmp(version, accepted[i]) == 0)
			return true;
	return false;
}

/* Drops the TCP connection with a RST and no answer, as a crashing load
 * balancer does. SO_LINGER {1, 0} turns the close into a RST; disconnecting
 * the socket right here sends the RST before the library gets to write a TLS
 * close_notify, which the client would read as a clean, empty reply. */
static void
reset_connection(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info;
	struct linger linger = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr unspec;

	info = MHD_get_connection_info(connection,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!info)
		return;
	if (setsockopt(info->connect_fd, SOL_SOCKET, SO_LINGER, &linger,
		       sizeof(linger)) != 0 && !quiet)
		fprintf(stderr, PROG ": SO_LINGER: %s\n", strerror(errno));
	memset(&unspec, 0, sizeof(unspec));
	unspec.sa_family = AF_UNSPEC;
	/* Linux answers AF_UNSPEC on a connected TCP socket with a RST; where it
	 * does not, the lingerless close still resets the connection. */
	(void)connect(info->connect_fd, &unspec, sizeof(unspec));
}

/* Is path (without its query) one of the knob's 403 paths? */
static bool
path_forbidden(const struct knobs *k, const char *path)
{
	char needle[300];

	if (!k->forbidden[0] || strlen(path) + 3 > sizeof(needle))
		return false;
	snprintf(needle, sizeof(needle), ",%s,", path);
	return strstr(k->forbidden, needle) != NULL;
}

/* A Date header date_skew seconds off the real time, in HTTP's format. */
static bool
add_skewed_date(struct MHD_Response *response, const struct knobs *k)
{
	char value[64];
	struct tm tm;
	time_t when = time(NULL) + (time_t)k->date_skew;

	if (k->date_skew == 0)
		return true;
	if (!gmtime_r(&when, &tm) ||
	    strftime(value, sizeof(value), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		return false;
	return add_header(response, MHD_HTTP_HEADER_DATE, value);
}

/* Is the token valid on the Host asked (its name, without the port)? A
 * workspace's token is, on its own region's host only. */
static bool
token_host_valid(const struct knobs *k, struct MHD_Connection *connection)
{
	const char *host = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_HOST);
	char needle[160];
	if (!k->token_hosts[0])
		return true;
	if (!host || strlen(host) + 3 > sizeof(needle))
		return false;
	snprintf(needle, sizeof(needle), ",%.*s,", (int)strcspn(host, ":"), host);
	return strstr(k->token_hosts, needle) != NULL;
}

static enum MHD_Result
serve_api(struct MHD_Connection *connection, const char *method,
	  const char *path)
{
	struct knobs k = knobs_snapshot();
	struct MHD_Response *response = NULL;
	const char *denied, *code_name, *message;
	unsigned int code = k.code;

	if (k.delay_ms > 0 && !nap(k.delay_ms))
		return MHD_NO;

	/* Network failures come before Intercom has seen the request, so the
	 * token does not matter to them. */
	if (k.me == ME_HANG) {
		log_request("api", method, path, "hang");
		nap(HANG_CAP_MS);
		return MHD_NO;
	}
	if (k.me == ME_RESET) {
		log_request("api", method, path, "reset");
		reset_connection(connection);
		return MHD_NO;
	}

	denied = auth_failure(connection);
	if (!denied && !token_host_valid(&k, connection))
		denied = "unauthorized";
	if (!denied && path_forbidden(&k, path)) {
		code = 403;
		error_for_status(code, &code_name, &message);
		response = error_list_response(code_name, message);
		goto send;
	}
	if (denied) {
		code = 401;
		response = error_list_response(denied,
			strcmp(denied, "missing_authorization") == 0 ?
			"Authorization header is missing" :
			"Access Token Invalid");
		goto send;
	}

	switch (k.me) {
	case ME_OK:
		response = me_response(&k);
		break;
	case ME_ERROR:
		error_for_status(code, &code_name, &message);
		response = error_list_response(code_name, message);
		break;
	case ME_ERROR_NO_LIST:
		response = json_literal(
			"{\"type\":\"error\",\"message\":\"Something went wrong\"}");
		break;
	case ME_ERROR_EMPTY_CODE:
		response = json_literal("{\"type\":\"error.list\",\"errors\":"
			"[{\"code\":\"\",\"message\":\"\"}]}");
		break;
	case ME_HTML:
		response = html_response(code);
		break;
	case ME_GARBAGE:
		response = garbage_response();
		break;
	case ME_EMPTY:
		/* Typed as JSON on purpose: the parser must not trust the type. */
		response = typed(copy_response("", 0), "application/json");
		break;
	case ME_HUGE:
		response = typed(MHD_create_response_from_callback(HUGE_SIZE,
			64 * 1024, huge_read, NULL, NULL), "application/json");
		break;
	case ME_VERSION_CHECK: {
		const char *version = MHD_lookup_connection_value(connection,
			MHD_HEADER_KIND, "Intercom-Version");

		/* No header: the app's Developer Hub version applies. */
		if (version && !version_valid(version)) {
			code = 400;
			response = json_literal(
				"{\"type\":\"error.list\",\"errors\":[{\"code\":"
				"\"intercom_version_invalid\",\"message\":"
				"\"Requested resource version is not valid\"}]}");
		} else {
			code = 200;
			response = me_response(&k);
		}
		break;
	}
	case ME_REFLECT: {
		/* A misconfigured proxy that echoes the request's credentials
		 * in its error: the daemon must not pass them on. Only
		 * base64-ish bytes are copied, so the JSON needs no escaping. */
		const char *auth = MHD_lookup_connection_value(connection,
			MHD_HEADER_KIND, "Authorization");
		char message[600] = "bad credentials: ";
		size_t n = strlen(message);
		for (long long i = 0; i < k.reflect_pad && n + 1 < sizeof(message); i++)
			message[n++] = '.';
		for (const char *p = auth ? auth : ""; *p && n + 1 < sizeof(message); p++)
			if (isalnum((unsigned char)*p) || strchr(" +/=:-_.", *p))
				message[n++] = *p;
		message[n] = '\0';
		response = error_list_response("unauthorized", message);
		break;
	}
	case ME_RESET:
	case ME_HANG:
	case ME_MODE_COUNT:
		break;
	}

send:
	if (response && (!add_rate_headers(response, &k, code) ||
			 !add_skewed_date(response, &k))) {
		MHD_destroy_response(response);
		response = NULL;
	}
	log_status("api", method, path, code);
	return answer(connection, code, response);
}

/* ---- the Statuspage and the webhook endpoint */

static enum MHD_Result
serve_status(struct MHD_Connection *connection, const char *method,
	     const char *path)
{
	static const char *const indicator[] = {
		[PAGE_NONE] = "none",
		[PAGE_MINOR] = "minor",
		[PAGE_MAJOR] = "major",
		[PAGE_CRITICAL] = "critical",
	};
	static const char *const description[] = {
		[PAGE_NONE] = "All Systems Operational",
		[PAGE_MINOR] = "Minor Service Outage",
		[PAGE_MAJOR] = "Partial System Outage",
		[PAGE_CRITICAL] = "Major Service Outage",
	};
	static const char page_500[] = "<html><head><title>500 Internal Server "
		"Error</title></head><body><h1>500 Internal Server Error</h1>"
		"</body></html>";
	struct knobs k = knobs_snapshot();
	struct MHD_Response *response;
	struct buf b = { 0 };
	char updated[40];
	struct tm tm;
	time_t now = time(NULL);

	switch (k.page) {
	case PAGE_HANG:
		log_request("api", method, path, "hang");
		nap(HANG_CAP_MS);
		return MHD_NO;
	case PAGE_500:
		log_status("api", method, path, 500);
		return answer(connection, 500, typed(copy_response(page_500,
			strlen(page_500)), "text/html"));
	case PAGE_GARBAGE:
		log_status("api", method, path, 200);
		return answer(connection, 200, garbage_response());
	case PAGE_NONE:
	case PAGE_MINOR:
	case PAGE_MAJOR:
	case PAGE_CRITICAL:
		break;
	case PAGE_MODE_COUNT:
		return MHD_NO;
	}

	if (!gmtime_r(&now, &tm) ||
	    strftime(updated, sizeof(updated), "%Y-%m-%dT%H:%M:%S.000Z", &tm) == 0)
		snprintf(updated, sizeof(updated), "1970-01-01T00:00:00.000Z");
	buf_add(&b, "{\"page\":{\"id\":\"fake\",\"name\":\"Intercom\","
		"\"url\":\"https://www.intercomstatus.com\",\"updated_at\":\"%s\"},"
		"\"status\":{\"indicator\":\"%s\",\"description\":\"%s\"}}",
		updated, indicator[k.page], description[k.page]);
	response = typed(buf_response(&b), "application/json");
	log_status("api", method, path, 200);
	return answer(connection, 200, response);
}

/* X-Hub-Signature: "sha1=" and the lowercase hex HMAC-SHA1 of the body
 * under the webhook secret, as Intercom signs its notifications. */
static bool
signature_valid(struct MHD_Connection *connection, const struct knobs *k,
		const struct request *req)
{
	const char *got = MHD_lookup_connection_value(connection,
		MHD_HEADER_KIND, "X-Hub-Signature");
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char want[5 + 2 * EVP_MAX_MD_SIZE + 1];

	if (!got || strlen(got) != 5 + 40)
		return false;
	if (!HMAC(EVP_sha1(), k->webhook_secret, (int)strlen(k->webhook_secret),
		  (const unsigned char *)(req->body ? req->body : ""),
		  req->body_len, mac, &mac_len) || mac_len != 20)
		return false;
	memcpy(want, "sha1=", 5);
	hex_encode(mac, mac_len, want + 5);
	/* Constant time: a timing difference would tell an attacker how
	 * much of a forged signature was right. */
	return CRYPTO_memcmp(want, got, 5 + 40) == 0;
}

static enum MHD_Result
serve_webhook(struct MHD_Connection *connection, const char *method,
	      const char *path, const struct request *req)
{
	struct knobs k = knobs_snapshot();
	struct MHD_Response *response;
	unsigned int code = k.webhook_code;

	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
		if (req->body_too_big)
			code = 413;
		else if (k.webhook_secret[0])
			code = signature_valid(connection, &k, req) ? 200 : 401;
	} else if (strcmp(method, MHD_HTTP_METHOD_HEAD) != 0 &&
		   strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		code = 405;
	}

	response = copy_response("", 0);
	if (response && code == 405 &&
	    !add_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST")) {
		MHD_destroy_response(response);
		response = NULL;
	}
	log_status("api", method, path, code);
	return answer(connection, code, response);
}

static bool
keep_body(struct request *req, const char *data, size_t len)
{
	char *body;

	if (req->body_too_big)
		return true;
	if (len > WEBHOOK_BODY_MAX - req->body_len) {
		req->body_too_big = true;
		free(req->body);
		req->body = NULL;
		req->body_len = 0;
		return true;
	}
	body = realloc(req->body, req->body_len + len + 1);
	if (!body)
		return false;
	memcpy(body + req->body_len, data, len);
	req->body = body;
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return true;
}

static enum MHD_Result
api_handler(void *cls, struct MHD_Connection *connection, const char *url,
	    const char *method, const char *version, const char *upload_data,
	    size_t *upload_data_size, void **con_cls)
{
	struct request *req = *con_cls;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		if (strcmp(url, STATUS_PATH) == 0)
			req->kind = KIND_STATUS;
		else if (strcmp(url, WEBHOOK_PATH) == 0)
			req->kind = KIND_WEBHOOK;
		else
			req->kind = KIND_ME;
		req->is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		*con_cls = req;
		count_request(connection, req->kind, method, url);
		return MHD_YES;
	}

	if (*upload_data_size > 0) {
		/* Only a webhook POST body is kept: the signature is over it. */
		if (req->kind == KIND_WEBHOOK && req->is_post &&
		    !keep_body(req, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}

	switch (req->kind) {
	case KIND_STATUS:
		return serve_status(connection, method, url);
	case KIND_WEBHOOK:
		return serve_webhook(connection, method, url, req);
	case KIND_ME:
		return serve_api(connection, method, url);
	}
	return MHD_NO;
}

static void
request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
		  enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;

	if (!req)
		return;
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/* ---- the control server */

__attribute__((format(printf, 2, 3)))
static void
set_fail(struct set_context *ctx, const char *fmt, ...)
{
	va_list ap;

	ctx->failed = true;
	va_start(ap, fmt);
	vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
}

static bool
set_ll_or_none(struct set_context *ctx, const char *key, const char *value,
	       long long min, long long max, bool *is_set, long long *out)
{
	if (strcmp(value, "none") == 0) {
		*is_set = false;
		return true;
	}
	if (!parse_ll(value, min, max, out)) {
		set_fail(ctx, "%s: expected an integer or none\n", key);
		return false;
	}
	*is_set = true;
	return true;
}

static bool
set_status_code(struct set_context *ctx, const char *key, const char *value,
		unsigned int *out)
{
	long long v;

	if (!parse_ll(value, 200, 599, &v)) {
		set_fail(ctx, "%s: expected an HTTP status 200..599\n", key);
		return false;
	}
	*out = (unsigned int)v;
	return true;
}

/* Applies one knob to ctx's copy; the copy is committed only if every knob of
 * the request was good, so a bad /set changes nothing. */
static enum MHD_Result
set_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct set_context *ctx = cls;
	struct knobs *k = &ctx->knobs;
	bool is_set;
	long long v;
	int i;

	if (!value)
		value = "";

	if (strcmp(key, "me") == 0) {
		i = lookup_name(me_mode_names, ME_MODE_COUNT, value);
		if (i < 0) {
			set_fail(ctx, "me: expected ok, error, error-no-list, "
				 "error-empty-code, html, garbage, empty, huge, "
				 "reset, hang, version-check or reflect\n");
			return MHD_NO;
		}
		k->me = (enum me_mode)i;
	} else if (strcmp(key, "code") == 0) {
		if (!set_status_code(ctx, key, value, &k->code))
			return MHD_NO;
	} else if (strcmp(key, "delay_ms") == 0) {
		if (!parse_ll(value, 0, DELAY_MAX_MS, &v)) {
			set_fail(ctx, "delay_ms: expected 0..%lld\n", DELAY_MAX_MS);
			return MHD_NO;
		}
		k->delay_ms = v;
	} else if (strcmp(key, "limit") == 0) {
		if (!set_ll_or_none(ctx, key, value, 0, LLONG_MAX, &is_set,
				    &k->limit))
			return MHD_NO;
		k->limit_none = !is_set;
	} else if (strcmp(key, "remaining") == 0) {
		if (!parse_ll(value, LLONG_MIN, LLONG_MAX, &k->remaining)) {
			set_fail(ctx, "remaining: expected an integer\n");
			return MHD_NO;
		}
	} else if (strcmp(key, "reset_in") == 0) {
		/* Bounded so now + reset_in cannot overflow. */
		if (!parse_ll(value, -(1LL << 40), 1LL << 40, &k->reset_in)) {
			set_fail(ctx, "reset_in: expected an integer (seconds)\n");
			return MHD_NO;
		}
	} else if (strcmp(key, "reset_at") == 0) {
		if (!set_ll_or_none(ctx, key, value, LLONG_MIN, LLONG_MAX,
				    &k->reset_at_set, &k->reset_at))
			return MHD_NO;
	} else if (strcmp(key, "retry_after") == 0) {
		if (!set_ll_or_none(ctx, key, value, LLONG_MIN, LLONG_MAX,
				    &k->retry_after_set, &k->retry_after))
			return MHD_NO;
	} else if (strcmp(key, "reflect_pad") == 0) {
		if (!parse_ll(value, 0, 256, &k->reflect_pad)) {
			set_fail(ctx, "reflect_pad: expected 0..256\n");
			return MHD_NO;
		}
	} else if (strcmp(key, "region") == 0) {
		if (!*value || strlen(value) >= sizeof(k->region)) {
			set_fail(ctx, "region: expected 1..%zu characters\n",
				 sizeof(k->region) - 1);
			return MHD_NO;
		}
		snprintf(k->region, sizeof(k->region), "%s", value);
	} else if (strcmp(key, "page") == 0) {
		i = lookup_name(page_mode_names, PAGE_MODE_COUNT, value);
		if (i < 0) {
			set_fail(ctx, "page: expected none, minor, major, "
				 "critical, garbage, 500 or hang\n");
			return MHD_NO;
		}
		k->page = (enum page_mode)i;
	} else if (strcmp(key, "webhook_code") == 0) {
		if (!set_status_code(ctx, key, value, &k->webhook_code))
			return MHD_NO;
	} else if (strcmp(key, "date_skew") == 0) {
		if (!parse_ll(value, -(1LL << 32), 1LL << 32, &k->date_skew)) {
			set_fail(ctx, "date_skew: expected an integer (seconds)\n");
			return MHD_NO;
		}
	} else if (strcmp(key, "forbidden") == 0) {
		/* Kept with a comma on each side, so each path matches whole. */
		if (strlen(value) + 3 > sizeof(k->forbidden)) {
			set_fail(ctx, "forbidden: longer than %zu bytes\n",
				 sizeof(k->forbidden) - 3);
			return MHD_NO;
		}
		if (*value)
			snprintf(k->forbidden, sizeof(k->forbidden), ",%s,", value);
		else
			k->forbidden[0] = '\0';
	} else if (strcmp(key, "token_hosts") == 0) {
		/* Kept with a comma on each side, so each name matches whole. */
		if (strlen(value) + 3 > sizeof(k->token_hosts)) {
			set_fail(ctx, "token_hosts: longer than %zu bytes\n",
				 sizeof(k->token_hosts) - 3);
			return MHD_NO;
		}
		if (*value)
			snprintf(k->token_hosts, sizeof(k->token_hosts), ",%s,", value);
		else
			k->token_hosts[0] = '\0';
	} else if (strcmp(key, "webhook_secret") == 0) {
		/* Empty unsets; the value is never echoed back. */
		if (strlen(value) >= sizeof(k->webhook_secret)) {
			set_fail(ctx, "webhook_secret: longer than %zu bytes\n",
				 sizeof(k->webhook_secret) - 1);
			return MHD_NO;
		}
		snprintf(k->webhook_secret, sizeof(k->webhook_secret), "%s",
			 value);
	} else {
		char name[64];

		sanitize(name, sizeof(name), key);
		set_fail(ctx, "unknown knob '%s'\n", name);
		return MHD_NO;
	}
	return MHD_YES;
}

static enum MHD_Result
control_set(struct MHD_Connection *connection, const char *method,
	    const char *path)
{
	struct set_context ctx = { .failed = false };

	pthread_mutex_lock(&state_lock);
	ctx.knobs = knobs;
	pthread_mutex_unlock(&state_lock);

	if (MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND,
				      set_one, &ctx) < 0)
		set_fail(&ctx, "could not read the query\n");
	if (ctx.failed) {
		log_status("control", method, path, 400);
		return answer_text(connection, 400, ctx.reason);
	}

	/* Another /set may have landed since the copy; last writer wins whole,
	 * which is all a single test driving this needs. */
	pthread_mutex_lock(&state_lock);
	knobs = ctx.knobs;
	pthread_mutex_unlock(&state_lock);
	log_status("control", method, path, 200);
	return answer_text(connection, 200, "ok\n");
}

static enum MHD_Result
control_stats(struct MHD_Connection *connection, const char *method,
	      const char *path)
{
	struct buf b = { 0 };
	unsigned long long first, count;

	pthread_mutex_lock(&state_lock);
	buf_add(&b, "{\"requests\":{\"me\":%llu,\"status\":%llu,\"webhook\":%llu,"
		"\"total\":%llu},\"last_me\":{",
		stats.me, stats.status, stats.webhook, stats.total);
	for (int i = 0; i < FIELD_COUNT; i++) {
		buf_add(&b, "%s\"%s\":", i ? "," : "", field_names[i]);
		buf_add_json(&b, stats.last_me[i]);
	}
	buf_add(&b, "},\"me_times_ms\":[");
	count = stats.me_times_count < TIMES_RING ? stats.me_times_count :
		TIMES_RING;
	first = stats.me_times_count - count;
	for (unsigned long long i = 0; i < count; i++)
		buf_add(&b, "%s%lld", i ? "," : "",
			stats.me_times_ms[(first + i) % TIMES_RING]);
	buf_add(&b, "]}\n");
	pthread_mutex_unlock(&state_lock);

	log_status("control", method, path, 200);
	return answer(connection, 200, typed(buf_response(&b),
		"application/json"));
}

static enum MHD_Result
control_handler(void *cls, struct MHD_Connection *connection, const char *url,
		const char *method, const char *version,
		const char *upload_data, size_t *upload_data_size,
		void **con_cls)
{
	if (!*con_cls) {
		*con_cls = &control_seen;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		log_status("control", method, url, 405);
		return answer_text(connection, 405, "only GET\n");
	}

	if (strcmp(url, "/set") == 0)
		return control_set(connection, method, url);
	if (strcmp(url, "/stats") == 0)
		return control_stats(connection, method, url);
	if (strcmp(url, "/reset") == 0) {
		stats_clear();
		log_status("control", method, url, 200);
		return answer_text(connection, 200, "ok\n");
	}
	if (strcmp(url, "/defaults") == 0) {
		pthread_mutex_lock(&state_lock);
		knobs_default(&knobs);
		pthread_mutex_unlock(&state_lock);
		log_status("control", method, url, 200);
		return answer_text(connection, 200, "ok\n");
	}
	log_status("control", method, url, 404);
	return answer_text(connection, 404,
		"unknown path; try /set, /stats, /reset or /defaults\n");
}

/* ---- main */

/* Reads a whole PEM file; the caller frees the result. */
static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len;

	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return NULL;
	}
	data = malloc(FILE_MAX + 1);
	if (!data) {
		fprintf(stderr, PROG ": %s: out of memory\n", path);
		goto out;
	}
	len = fread(data, 1, FILE_MAX + 1, f);
	if (ferror(f) || len == 0 || len > FILE_MAX) {
		fprintf(stderr, PROG ": %s: %s\n", path,
			ferror(f) ? "read error" :
			len == 0 ? "empty file" : "too large for a PEM file");
		free(data);
		data = NULL;
		goto out;
	}
	data[len] = '\0';
out:
	fclose(f);
	return data;
}

static bool
parse_port(const char *text, uint16_t *out)
{
	long long v;

	if (!parse_ll(text, 0, 65535, &v))
		return false;
	*out = (uint16_t)v;
	return true;
}

static void
usage(FILE *to)
{
	fprintf(to, "usage: " PROG " --cert FILE --key FILE [--port N] "
		"[--control-port N] [--token TOKEN] [--quiet]\n");
}

static uint16_t
bound_port(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon,
		MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

int
main(int argc, char **argv)
{
	const char *cert_path = NULL, *key_path = NULL;
	char *cert = NULL, *key = NULL;
	uint16_t port = 0, control_port = 0, api_bound, control_bound;
	struct sockaddr_in api_addr, control_addr;
	struct MHD_Daemon *api = NULL, *control = NULL;
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	sigset_t stop_signals;
	int sig, ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes_value = true;

		if (strcmp(arg, "--quiet") == 0) {
			quiet = true;
			takes_value = false;
		} else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (!value) {
			fprintf(stderr, PROG ": %s: unknown option or missing "
				"value\n", arg);
			usage(stderr);
			return 2;
		} else if (strcmp(arg, "--cert") == 0) {
			cert_path = value;
		} else if (strcmp(arg, "--key") == 0) {
			key_path = value;
		} else if (strcmp(arg, "--token") == 0) {
			api_token = value;
		} else if (strcmp(arg, "--port") == 0) {
			if (!parse_port(value, &port)) {
				fprintf(stderr, PROG ": --port: expected 0..65535\n");
				return 2;
			}
		} else if (strcmp(arg, "--control-port") == 0) {
			if (!parse_port(value, &control_port)) {
				fprintf(stderr, PROG ": --control-port: expected "
					"0..65535\n");
				return 2;
			}
		} else {
			fprintf(stderr, PROG ": %s: unknown option\n", arg);
			usage(stderr);
			return 2;
		}
		if (takes_value)
			i++;
	}
	if (!cert_path || !key_path) {
		usage(stderr);
		return 2;
	}

	cert = read_file(cert_path);
	if (!cert)
		goto out;
	key = read_file(key_path);
	if (!key)
		goto out;

	make_garbage();
	knobs_default(&knobs);

	/* Blocked before any thread starts so every thread inherits the mask
	 * and only sigwait() below sees them; SIGPIPE from a vanished client
	 * must not kill the server. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0 ||
	    sigaction(SIGPIPE, &ignore, NULL) != 0) {
		fprintf(stderr, PROG ": cannot set up signals\n");
		goto out;
	}

	memset(&api_addr, 0, sizeof(api_addr));
	api_addr.sin_family = AF_INET;
	api_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	api_addr.sin_port = htons(port);
	control_addr = api_addr;
	control_addr.sin_port = htons(control_port);

	/* A thread per connection: slow and hanging answers sleep in their
	 * handler and must not hold up anyone else's request. */
	api = MHD_start_daemon(MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION |
			       MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			       MHD_USE_ERROR_LOG,
			       0, NULL, NULL, api_handler, NULL,
			       MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
			       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&api_addr,
			       MHD_OPTION_HTTPS_MEM_CERT, cert,
			       MHD_OPTION_HTTPS_MEM_KEY, key,
			       MHD_OPTION_NOTIFY_COMPLETED, request_completed,
			       NULL,
			       /* Idle keep-alive connections each hold a
				* thread; drop them after a while. */
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300,
			       MHD_OPTION_END);
	if (!api) {
		fprintf(stderr, PROG ": cannot start the HTTPS server on "
			"127.0.0.1:%u\n", (unsigned int)port);
		goto out;
	}

	control = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
				   MHD_USE_POLL | MHD_USE_ERROR_LOG,
				   0, NULL, NULL, control_handler, NULL,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
				   MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&control_addr,
				   MHD_OPTION_CONNECTION_TIMEOUT,
				   (unsigned int)60,
				   MHD_OPTION_END);
	if (!control) {
		fprintf(stderr, PROG ": cannot start the control server on "
			"127.0.0.1:%u\n", (unsigned int)control_port);
		goto out;
	}

	api_bound = bound_port(api);
	control_bound = bound_port(control);
	if (api_bound == 0 || control_bound == 0) {
		fprintf(stderr, PROG ": cannot tell which ports were bound\n");
		goto out;
	}
	printf("https_port=%u control_port=%u\n", (unsigned int)api_bound,
	       (unsigned int)control_bound);
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
		goto out;
	}

	for (;;) {
		int err = sigwait(&stop_signals, &sig);

		if (err == 0)
			break;
		if (err != EINTR) {
			fprintf(stderr, PROG ": sigwait: %s\n", strerror(err));
			goto out;
		}
	}
	if (!quiet)
		fprintf(stderr, PROG ": signal %d, stopping\n", sig);
	ret = 0;

out:
	/* Wakes every napping handler before the daemons join their threads. */
	atomic_store(&stopping, true);
	if (api)
		MHD_stop_daemon(api);
	if (control)
		MHD_stop_daemon(control);
	stats_clear();
	free(cert);
	free(key);
	return ret;
}
