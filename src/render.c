/*
 * What the endpoints serve, built from a health snapshot. These run on every
 * request, so they write into one growable buffer with snprintf instead of
 * building a cJSON tree (one malloc per node, then a print pass): a /health
 * body is typically one malloc and no realloc.
 *
 * Floats are printed with printf, which follows LC_NUMERIC: the daemon must
 * stay in the "C" locale (it never calls setlocale()), or a "de_DE" decimal
 * comma would break both JSON and the Prometheus format.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "mem.h"
#include "render.h"
#include "settings.h"
#include "text.h"

/* A /health body is ~700 bytes, /metrics ~4 KiB with every part enabled:
 * start big enough that neither usually grows. */
#define HEALTH_INITIAL_CAP 1024
#define METRICS_INITIAL_CAP 6144

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

static void
buf_init(struct buf *b, size_t cap)
{
	b->len = 0;
	b->cap = cap;
	b->data = xmalloc(cap);
	b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminating NUL. An allocation
 * failure aborts (mem.h): a body is never handed out half-built. */
static void
buf_reserve(struct buf *b, size_t n)
{
	if (n < b->cap - b->len)
		return;
	size_t cap = b->cap;
	while (n >= cap - b->len) {
		if (cap > SIZE_MAX / 2)
			mem_oom();
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

static void
buf_append(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Hands the body to the caller. */
static char *
buf_finish(struct buf *b, size_t *len)
{
	if (len)
		*len = b->len;
	return b->data;
}

/*
 * Appends s[0..n) through one of text.h's escapes, straight into the
 * body: each round makes room for at least one whole escape.
 */
static void
put_escaped(struct buf *b, const char *s, size_t n,
	    size_t (*escape)(char *dst, size_t size, const char **src,
			     size_t *n))
{
	while (n > 0) {
		buf_reserve(b, TEXT_ESCAPE_MAX);
		b->len += escape(b->data + b->len, b->cap - b->len, &s, &n);
	}
}

/*
 * Appends s as a JSON string, reading at most max bytes: the snapshot's
 * fixed char arrays are read no further than their size even if one
 * lacks its NUL. Snapshot strings are printable ASCII (health.h), so for
 * them this only escapes quotes and backslashes; the info strings come
 * from settings, which allow any byte above 0x7f in a URL.
 */
static void
put_json_strn(struct buf *b, const char *s, size_t max)
{
	s = s ? s : "";
	buf_append(b, "\"", 1);
	put_escaped(b, s, strnlen(s, max), text_json_escape);
	buf_append(b, "\"", 1);
}

/* `"key":` — keys are our own literals and need no escaping. */
static void
put_key(struct buf *b, bool *first, const char *key)
{
	if (!*first)
		buf_append(b, ",", 1);
	*first = false;
	buf_append(b, "\"", 1);
	buf_puts(b, key);
	buf_append(b, "\":", 2);
}

static void
put_str_member(struct buf *b, bool *first, const char *key,
	       const char *value, size_t max)
{
	put_key(b, first, key);
	put_json_strn(b, value, max);
}

/* A URL member, its userinfo masked: a URL may carry credentials. */
static void
put_url_member(struct buf *b, bool *first, const char *key, const char *url)
{
	if (!url) {
		put_str_member(b, first, key, "", SIZE_MAX);
		return;
	}
	size_t size = strlen(url) + sizeof(TEXT_URL_MASK);
	char *shown = xmalloc(size);
	put_str_member(b, first, key, text_url_masked(url, shown, size), SIZE_MAX);
	free(shown);
}

static void
put_int_member(struct buf *b, bool *first, const char *key,
	       int64_t value)
{
	put_key(b, first, key);
	buf_printf(b, "%" PRId64, value);
}

static void
put_bool_member(struct buf *b, bool *first, const char *key,
		bool value)
{
	put_key(b, first, key);
	buf_puts(b, value ? "true" : "false");
}

static void
put_null_member(struct buf *b, bool *first, const char *key)
{
	put_key(b, first, key);
	buf_puts(b, "null");
}

/* An ISO 8601 timestamp, or null when has is false. */
static void
put_time_member(struct buf *b, bool *first, const char *key,
		bool has, int64_t ms)
{
	char ts[32];

	if (!has) {
		put_null_member(b, first, key);
		return;
	}
	clock_timestamp(ms, ts, sizeof(ts));
	put_key(b, first, key);
	buf_append(b, "\"", 1);
	buf_puts(b, ts);
	buf_append(b, "\"", 1);
}

void
render_info_init(struct render_info *info, const struct settings *s)
{
	*info = (struct render_info){
		.version = HEALTHD_VERSION,
		.api_url = s->api_url,
		.region = s->region,
		.stale_after_ms = s->stale_after_ms,
	};
}

static const char *
ietf_status(enum health_state state)
{
	switch (state) {
	case HEALTH_HEALTHY:
		return "pass";
	case HEALTH_DEGRADED:
		return "warn";
	case HEALTH_UNHEALTHY:
		break;
	}
	return "fail";
}

static const char *
nonnull(const char *s)
{
	return s ? s : "";
}

static void
put_intercom_service(struct buf *b, const struct health_snapshot *s,
		     const struct health_view *v,
		     const struct render_info *info, int64_t now_ms)
{
	const struct probe_result *last = &s->last;
	const struct rate_limit *rl = &s->rate_limit;
	const char *error = nonnull(v->error);
	bool first = true;

	buf_append(b, "{", 1);
	put_str_member(b, &first, "status", health_state_name(v->state), SIZE_MAX);
	if (s->probed)
		put_int_member(b, &first, "latencyMs", last->latency_ms);
	else
		put_null_member(b, &first, "latencyMs");
	put_bool_member(b, &first, "authenticated", v->authenticated);
	/* The latest answer's header only: a quota from an older probe is
	 * history, shown in rateLimit{} with the time it was seen. */
	if (s->probed && last->rate_limit.has_remaining)
		put_int_member(b, &first, "rateLimitRemaining",
			       last->rate_limit.remaining);
	if (error[0])
		put_str_member(b, &first, "error", error, SIZE_MAX);

	if (s->probed && last->http_status > 0)
		put_int_member(b, &first, "httpStatus", last->http_status);
	else
		put_null_member(b, &first, "httpStatus");
	put_time_member(b, &first, "checkedAt", s->probed, last->finished_ms);
	put_time_member(b, &first, "lastSuccessAt", s->last_success_ms != 0,
			s->last_success_ms);
	put_int_member(b, &first, "consecutiveFailures", s->consecutive_failures);
	put_int_member(b, &first, "consecutiveSuccesses", s->consecutive_successes);
	if (s->probed)
		put_str_member(b, &first, "lastProbeStatus",
			       health_state_name(s->last_state), SIZE_MAX);
	put_bool_member(b, &first, "stale", v->stale);

	if (rl->has_limit || rl->has_remaining || rl->has_reset) {
		bool rl_first = true;
		put_key(b, &first, "rateLimit");
		buf_append(b, "{", 1);
		if (rl->has_limit)
			put_int_member(b, &rl_first, "limit", rl->limit);
		if (rl->has_remaining)
			put_int_member(b, &rl_first, "remaining", rl->remaining);
		if (rl->has_reset)
			put_time_member(b, &rl_first, "resetAt", true,
					rl->reset * 1000);
		if (s->rate_limit_seen_ms > 0)
			put_time_member(b, &rl_first, "seenAt", true,
					s->rate_limit_seen_ms);
		buf_append(b, "}", 1);
	}
	if (s->backoff_until_ms > now_ms)
		put_time_member(b, &first, "backoffUntil", true, s->backoff_until_ms);
	if (s->next_probe_ms > 0)
		put_time_member(b, &first, "nextProbeAt", true, s->next_probe_ms);
	put_url_member(b, &first, "apiUrl", info->api_url);
	put_str_member(b, &first, "region", nonnull(info->region), SIZE_MAX);
	buf_append(b, "}", 1);
}

static void
put_status_page(struct buf *b, const struct status_page_info *sp)
{
	bool first = true;

	buf_append(b, "{", 1);
	put_str_member(b, &first, "indicator",
		       page_indicator_name(sp->indicator), SIZE_MAX);
	put_str_member(b, &first, "description", sp->description,
		       sizeof(sp->description));
	put_time_member(b, &first, "checkedAt", sp->checked, sp->checked_ms);
	if (sp->error[0])
		put_str_member(b, &first, "error", sp->error, sizeof(sp->error));
	buf_append(b, "}", 1);
}

static void
put_webhook(struct buf *b, const struct webhook_info *w)
{
	bool first = true;

	buf_append(b, "{", 1);
	put_bool_member(b, &first, "up", w->checked && w->up);
	if (w->checked && w->http_status > 0)
		put_int_member(b, &first, "httpStatus", w->http_status);
	else
		put_null_member(b, &first, "httpStatus");
	if (w->checked)
		put_int_member(b, &first, "latencyMs", w->latency_ms);
	else
		put_null_member(b, &first, "latencyMs");
	put_time_member(b, &first, "checkedAt", w->checked, w->checked_ms);
	if (w->error[0])
		put_str_member(b, &first, "error", w->error, sizeof(w->error));
	buf_append(b, "}", 1);
}

char *
render_health_json(const struct health_snapshot *s,
		   const struct health_view *v,
		   const struct render_info *info, int64_t now_ms,
		   size_t *len)
{
	struct buf b;
	bool first = true;

	buf_init(&b, HEALTH_INITIAL_CAP);
	buf_append(&b, "{", 1);
	put_str_member(&b, &first, "status", health_state_name(v->state), SIZE_MAX);

	put_key(&b, &first, "services");
	bool svc_first = true;
	buf_append(&b, "{", 1);
	put_key(&b, &svc_first, "intercom");
	put_intercom_service(&b, s, v, info, now_ms);
	if (s->status_page.enabled) {
		put_key(&b, &svc_first, "statusPage");
		put_status_page(&b, &s->status_page);
	}
	if (s->webhook.enabled) {
		put_key(&b, &svc_first, "webhook");
		put_webhook(&b, &s->webhook);
	}
	buf_append(&b, "}", 1);

	put_time_member(&b, &first, "timestamp", true, now_ms);
	buf_append(&b, "}", 1);
	return buf_finish(&b, len);
}

/* The quota check: warn on a 429 or a quota below rate_limit_low, as the
 * state keeper recorded it. */
static const char *
quota_status(const struct health_snapshot *s)
{
	if (s->probed && s->last.http_status == 429)
		return "warn";
	if (s->quota_low)
		return "warn";
	return "pass";
}

static const char *
page_status(enum page_indicator indicator)
{
	switch (indicator) {
	case PAGE_NONE:
		return "pass";
	case PAGE_MAJOR:
	case PAGE_CRITICAL:
		return "fail";
	case PAGE_MINOR:
	case PAGE_UNKNOWN:
		break;
	}
	return "warn";
}

/* `"name":[{` ... — one component per check, as the draft shows. */
static void
open_check(struct buf *b, bool *first, const char *name)
{
	put_key(b, first, name);
	buf_puts(b, "[{\"componentType\":\"system\"");
}

static void
close_check(struct buf *b)
{
	buf_append(b, "}]", 2);
}

char *
render_health_ietf(const struct health_snapshot *s,
		   const struct health_view *v,
		   const struct render_info *info, int64_t now_ms,
		   size_t *len)
{
	const char *error = nonnull(v->error);
	const char *status = ietf_status(v->state);
	int64_t probe_time = s->probed ? s->last.finished_ms : now_ms;
	struct buf b;
	bool first = true;
	bool in_check;

	buf_init(&b, HEALTH_INITIAL_CAP);
	buf_append(&b, "{", 1);
	put_str_member(&b, &first, "status", status, SIZE_MAX);
	put_str_member(&b, &first, "version", "1", SIZE_MAX);
	put_str_member(&b, &first, "releaseId", nonnull(info->version), SIZE_MAX);
	put_str_member(&b, &first, "serviceId", "intercom-healthd", SIZE_MAX);
	put_str_member(&b, &first, "description",
		       "Intercom API reachability, authentication and quota, "
		       "from cached timed probes", SIZE_MAX);
	if (error[0])
		put_str_member(&b, &first, "output", error, SIZE_MAX);
	if (s->status_page.enabled || s->webhook.enabled) {
		put_key(&b, &first, "notes");
		buf_puts(&b, "[\"intercom-status-page and webhook checks are "
			 "informational: they never change status\"]");
	}

	bool checks_first = true;
	put_key(&b, &first, "checks");
	buf_append(&b, "{", 1);

	/* The componentType-first object: open_check starts it. */
	open_check(&b, &checks_first, "intercom:responseTime");
	in_check = false;
	put_url_member(&b, &in_check, "componentId", info->api_url);
	if (s->probed)
		put_int_member(&b, &in_check, "observedValue", s->last.latency_ms);
	put_str_member(&b, &in_check, "observedUnit", "ms", SIZE_MAX);
	put_str_member(&b, &in_check, "status", status, SIZE_MAX);
	put_time_member(&b, &in_check, "time", true, probe_time);
	if (error[0])
		put_str_member(&b, &in_check, "output", error, SIZE_MAX);
	close_check(&b);

	open_check(&b, &checks_first, "intercom:authenticated");
	in_check = false;
	put_bool_member(&b, &in_check, "observedValue", v->authenticated);
	put_str_member(&b, &in_check, "status", v->authenticated ? "pass" : "fail",
		       SIZE_MAX);
	put_time_member(&b, &in_check, "time", true, probe_time);
	close_check(&b);

	if (s->rate_limit.has_remaining) {
		open_check(&b, &checks_first, "intercom:rateLimitRemaining");
		in_check = false;
		put_int_member(&b, &in_check, "observedValue", s->rate_limit.remaining);
		put_str_member(&b, &in_check, "observedUnit", "requests", SIZE_MAX);
		put_str_member(&b, &in_check, "status", quota_status(s), SIZE_MAX);
		put_time_member(&b, &in_check, "time", true, probe_time);
		close_check(&b);
	}

	if (s->status_page.enabled) {
		const struct status_page_info *sp = &s->status_page;
		const char *page = page_status(sp->indicator);
		open_check(&b, &checks_first, "intercom-status-page:indicator");
		in_check = false;
		put_str_member(&b, &in_check, "observedValue",
			       page_indicator_name(sp->indicator), SIZE_MAX);
		put_str_member(&b, &in_check, "status", page, SIZE_MAX);
		put_time_member(&b, &in_check, "time", true,
				sp->checked ? sp->checked_ms : now_ms);
		/* The draft wants output only for warn and fail. */
		if (strcmp(page, "pass") != 0) {
			if (sp->error[0])
				put_str_member(&b, &in_check, "output", sp->error,
					       sizeof(sp->error));
			else if (sp->description[0])
				put_str_member(&b, &in_check, "output",
					       sp->description,
					       sizeof(sp->description));
		}
		close_check(&b);
	}

	if (s->webhook.enabled && s->webhook.checked) {
		const struct webhook_info *w = &s->webhook;
		open_check(&b, &checks_first, "webhook:responseTime");
		in_check = false;
		put_int_member(&b, &in_check, "observedValue", w->latency_ms);
		put_str_member(&b, &in_check, "observedUnit", "ms", SIZE_MAX);
		put_str_member(&b, &in_check, "status", w->up ? "pass" : "fail",
			       SIZE_MAX);
		put_time_member(&b, &in_check, "time", true, w->checked_ms);
		if (!w->up && w->error[0])
			put_str_member(&b, &in_check, "output", w->error,
				       sizeof(w->error));
		close_check(&b);
	}
	buf_append(&b, "}", 1);

	put_key(&b, &first, "links");
	buf_puts(&b, "{\"about\":\"https://developers.intercom.com/\"}");
	buf_append(&b, "}", 1);
	return buf_finish(&b, len);
}

/* ---- /metrics ---------------------------------------------------------- */

/* Every HELP line ends with this: scrapes read the cache, never Intercom. */
#define CACHED " (cached from timed probes; serving this does not call Intercom)"

static void
metric_header(struct buf *b, const char *name, const char *type,
	      const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A float the way Prometheus parses it: the shortest of %.15g/%.17g that
 * reads back exactly, and NaN/+Inf/-Inf spelled as the format wants.
 */
static void
put_float(struct buf *b, double value)
{
	char tmp[40];

	if (isnan(value)) {
		buf_puts(b, "NaN");
		return;
	}
	if (isinf(value)) {
		buf_puts(b, value > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.15g", value);
	if (strtod(tmp, NULL) != value)
		snprintf(tmp, sizeof(tmp), "%.17g", value);
	buf_puts(b, tmp);
}

/* Milliseconds as seconds: 1795708800123 -> 1795708800.123. A double holds
 * epoch milliseconds exactly (2^53 ms is 285,000 years), and %.3f rounds
 * to the nearest, so the printed value is exact. */
static void
put_ms_as_seconds(struct buf *b, int64_t ms)
{
	buf_printf(b, "%.3f", (double)ms / 1000.0);
}

static void
sample_int(struct buf *b, const char *name, int64_t value)
{
	buf_printf(b, "%s %" PRId64 "\n", name, value);
}

static void
sample_seconds(struct buf *b, const char *name, int64_t ms)
{
	buf_puts(b, name);
	buf_append(b, " ", 1);
	put_ms_as_seconds(b, ms);
	buf_append(b, "\n", 1);
}

/* A label value escaped as the text format wants. */
static void
put_label_value(struct buf *b, const char *s)
{
	s = nonnull(s);
	put_escaped(b, s, strlen(s), text_prom_label_escape);
}

static void
put_histogram(struct buf *b, const struct health_snapshot *s)
{
	static const char name[] = "intercom_probe_duration_seconds";
	uint64_t cumulative = 0;

	metric_header(b, name, "histogram",
		      "Duration of the timed probes of the Intercom API, "
		      "seconds" CACHED);
	for (int i = 0; i < HEALTH_BUCKETS; i++) {
		cumulative += s->buckets[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			   health_bucket_bounds[i], cumulative);
	}
	/* Probes slower than the last bound are in no bucket, so +Inf is the
	 * total; never let it read below the last bucket, should a snapshot
	 * ever disagree with itself. */
	uint64_t count = s->probes_total > cumulative ? s->probes_total : cumulative;
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
	buf_printf(b, "%s_sum ", name);
	put_float(b, s->duration_sum_s);
	buf_printf(b, "\n%s_count %" PRIu64 "\n", name, count);
}

static void
put_codes(struct buf *b, const struct health_snapshot *s)
{
	static const char name[] = "intercom_probes_total";
	int n = s->n_codes;

	if (n < 0)
		n = 0;
	if (n > HEALTH_MAX_CODES)
		n = HEALTH_MAX_CODES;

	metric_header(b, name, "counter",
		      "Timed probes of the Intercom API by HTTP status; "
		      "code=\"error\" for transport failures, \"other\" once "
		      "too many distinct codes were seen" CACHED);
	for (int i = 0; i < n; i++) {
		long code = s->codes[i].code;
		if (code == 0)
			buf_printf(b, "%s{code=\"error\"}", name);
		else if (code < 0)
			buf_printf(b, "%s{code=\"other\"}", name);
		else
			buf_printf(b, "%s{code=\"%ld\"}", name, code);
		buf_printf(b, " %" PRIu64 "\n", s->codes[i].count);
	}
}

char *
render_metrics(const struct health_snapshot *s,
	       const struct health_view *v,
	       const struct render_info *info, size_t *len)
{
	const struct rate_limit *rl = &s->rate_limit;
	struct buf b;

	buf_init(&b, METRICS_INITIAL_CAP);

	metric_header(&b, "intercom_health_state", "gauge",
		      "Reported state of the Intercom API, 1 for the current "
		      "state and 0 for the others, after thresholds and "
		      "staleness" CACHED);
	for (int st = HEALTH_HEALTHY; st <= HEALTH_UNHEALTHY; st++)
		buf_printf(&b, "intercom_health_state{state=\"%s\"} %d\n",
			   health_state_name((enum health_state)st),
			   v->state == (enum health_state)st);

	bool success = s->probed && s->last_success;
	metric_header(&b, "intercom_probe_success", "gauge",
		      "Whether the last timed probe of the Intercom API got a "
		      "2xx" CACHED);
	sample_int(&b, "intercom_probe_success", success);

	put_histogram(&b, s);
	put_codes(&b, s);

	metric_header(&b, "intercom_authenticated", "gauge",
		      "Whether Intercom accepted the access token on the last "
		      "timed probe, as in /health" CACHED);
	sample_int(&b, "intercom_authenticated", v->authenticated);

	metric_header(&b, "intercom_rate_limit_limit", "gauge",
		      "Last X-RateLimit-Limit Intercom sent, requests per "
		      "window" CACHED);
	if (rl->has_limit)
		sample_int(&b, "intercom_rate_limit_limit", rl->limit);
	metric_header(&b, "intercom_rate_limit_remaining", "gauge",
		      "Last X-RateLimit-Remaining Intercom sent, requests "
		      "left in the window" CACHED);
	if (rl->has_remaining)
		sample_int(&b, "intercom_rate_limit_remaining", rl->remaining);
	metric_header(&b, "intercom_rate_limit_reset_timestamp_seconds", "gauge",
		      "Last X-RateLimit-Reset Intercom sent, Unix time by "
		      "Intercom's clock" CACHED);
	if (rl->has_reset)
		sample_int(&b, "intercom_rate_limit_reset_timestamp_seconds",
			   rl->reset);

	metric_header(&b, "intercom_last_probe_timestamp_seconds", "gauge",
		      "Unix time the last timed probe of the Intercom API "
		      "finished" CACHED);
	if (s->probed)
		sample_seconds(&b, "intercom_last_probe_timestamp_seconds",
			       s->last.finished_ms);
	metric_header(&b, "intercom_last_success_timestamp_seconds", "gauge",
		      "Unix time the last timed probe that got a 2xx "
		      "finished" CACHED);
	if (s->last_success_ms != 0)
		sample_seconds(&b, "intercom_last_success_timestamp_seconds",
			       s->last_success_ms);

	if (s->last.phases.known) {
		static const char *const names[] = { "dns", "connect", "tls",
						     "first_byte" };
		const int64_t us[] = { s->last.phases.dns_us, s->last.phases.connect_us,
				       s->last.phases.tls_us, s->last.phases.first_byte_us };
		metric_header(&b, "intercom_probe_phase_seconds", "gauge",
			      "Duration of each phase of the last timed probe; "
			      "dns, connect and tls are 0 on a reused "
			      "connection" CACHED);
		for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
			buf_printf(&b, "intercom_probe_phase_seconds{phase=\"%s\"} ",
				   names[i]);
			put_float(&b, (double)us[i] / 1e6);
			buf_append(&b, "\n", 1);
		}
		metric_header(&b, "intercom_probe_connection_reused", "gauge",
			      "1 when the last timed probe reused an open "
			      "connection" CACHED);
		sample_int(&b, "intercom_probe_connection_reused", s->last.phases.reused);
	}
	if (s->cert_expiry_s > 0) {
		metric_header(&b, "intercom_tls_cert_expiry_timestamp_seconds", "gauge",
			      "Unix time the API's TLS certificate expires, from "
			      "the last new connection" CACHED);
		sample_int(&b, "intercom_tls_cert_expiry_timestamp_seconds",
			   s->cert_expiry_s);
	}

	metric_header(&b, "intercom_consecutive_failures", "gauge",
		      "Timed probes in a row that were not healthy" CACHED);
	sample_int(&b, "intercom_consecutive_failures", s->consecutive_failures);
	metric_header(&b, "intercom_backoff_until_timestamp_seconds", "gauge",
		      "Unix time until which probing backs off after a 429, "
		      "0 when it never did" CACHED);
	sample_seconds(&b, "intercom_backoff_until_timestamp_seconds",
		       s->backoff_until_ms > 0 ? s->backoff_until_ms : 0);
	metric_header(&b, "intercom_healthd_stale", "gauge",
		      "1 when no timed probe finished within stale_after, so "
		      "the state reads unhealthy" CACHED);
	sample_int(&b, "intercom_healthd_stale", v->stale);

	if (s->status_page.enabled) {
		const struct status_page_info *sp = &s->status_page;
		metric_header(&b, "intercom_status_page_indicator", "gauge",
			      "Indicator of Intercom's status page, 1 for the "
			      "current one, all 0 while unknown" CACHED);
		for (int i = PAGE_NONE; i <= PAGE_CRITICAL; i++)
			buf_printf(&b, "intercom_status_page_indicator"
				   "{indicator=\"%s\"} %d\n",
				   page_indicator_name((enum page_indicator)i),
				   sp->indicator == (enum page_indicator)i);
		metric_header(&b, "intercom_status_page_up", "gauge",
			      "Whether the last timed read of Intercom's status "
			      "page succeeded" CACHED);
		sample_int(&b, "intercom_status_page_up",
			   sp->checked && !sp->error[0] &&
			   sp->indicator != PAGE_UNKNOWN);
	}

	if (s->webhook.enabled) {
		const struct webhook_info *w = &s->webhook;
		metric_header(&b, "intercom_webhook_up", "gauge",
			      "Whether the webhook endpoint answered the last "
			      "timed HEAD below 500" CACHED);
		sample_int(&b, "intercom_webhook_up", w->checked && w->up);
		if (w->checked) {
			metric_header(&b, "intercom_webhook_duration_seconds",
				      "gauge",
				      "Duration of the last timed HEAD of the "
				      "webhook endpoint, seconds" CACHED);
			sample_seconds(&b, "intercom_webhook_duration_seconds",
				       w->latency_ms);
		}
	}

	metric_header(&b, "intercom_healthd_build_info", "gauge",
		      "Always 1; the version label is the running "
		      "intercom-healthd's");
	buf_puts(&b, "intercom_healthd_build_info{version=\"");
	put_label_value(&b, info->version);
	buf_puts(&b, "\"} 1\n");

	return buf_finish(&b, len);
}

/* ---- /history */

/* A body of this many probes starts big enough for all of them: a healthy
 * probe is about 210 bytes of JSON. */
#define HISTORY_PROBE_BYTES 256

static void
put_history_probe(struct buf *b, const struct history_probe *p)
{
	bool first = true;

	buf_append(b, "{", 1);
	put_time_member(b, &first, "at", true, p->at_ms);
	put_key(b, &first, "state");
	buf_printf(b, "\"%s\"", health_state_name(p->state));
	put_key(b, &first, "rawState");
	buf_printf(b, "\"%s\"", health_state_name(p->raw));
	put_int_member(b, &first, "latencyMs", p->latency_ms);
	if (p->http_status > 0)
		put_int_member(b, &first, "httpStatus", p->http_status);
	else
		put_null_member(b, &first, "httpStatus");
	if (p->has_quota)
		put_int_member(b, &first, "rateLimitRemaining", p->quota_remaining);
	if (p->quota_limit > 0)
		put_int_member(b, &first, "rateLimitLimit", p->quota_limit);
	if (p->reason[0])
		put_str_member(b, &first, "error", p->reason, sizeof(p->reason));
	buf_append(b, "}", 1);
}

static void
put_history_transition(struct buf *b, const struct history_transition *t)
{
	bool first = true;

	buf_append(b, "{", 1);
	put_time_member(b, &first, "at", true, t->at_ms);
	put_key(b, &first, "from");
	buf_printf(b, "\"%s\"", health_state_name(t->from));
	put_key(b, &first, "to");
	buf_printf(b, "\"%s\"", health_state_name(t->to));
	put_str_member(b, &first, "reason", t->reason, sizeof(t->reason));
	buf_append(b, "}", 1);
}

char *
render_history_json(const struct history *h, size_t *len)
{
	struct buf b;
	size_t n = history_probe_count(h);
	size_t nt = history_transition_count(h);

	buf_init(&b, (n + 1) * HISTORY_PROBE_BYTES);
	buf_printf(&b, "{\"historySize\":%zu,\"recorded\":%" PRIu64 ",",
		   h->capacity, h->recorded);
	if (h->since_ms) {
		bool first = true;
		put_time_member(&b, &first, "since", true, h->since_ms);
		buf_append(&b, ",", 1);
	}
	buf_puts(&b, "\"probes\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append(&b, ",", 1);
		put_history_probe(&b, history_probe_at(h, i));
	}
	buf_puts(&b, "],\"transitions\":[");
	for (size_t i = 0; i < nt; i++) {
		if (i)
			buf_append(&b, ",", 1);
		put_history_transition(&b, history_transition_at(h, i));
	}
	buf_puts(&b, "]}");
	return buf_finish(&b, len);
}
