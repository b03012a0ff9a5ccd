/*
 * Unit tests of render.c: the /health JSON, its health+json variant and
 * /metrics, from hand-built snapshots and views. JSON is parsed back with
 * cJSON; /metrics is read line by line and linted by promtool ($PROMTOOL,
 * which meson requires and passes in).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "clock.h"
#include "render.h"

/* 2026-11-26T16:00:00.000Z */
#define NOW_MS INT64_C(1795708800000)

static const struct render_info info = {
	.version = "1.2.3",
	.api_url = "https://api.intercom.io",
	.region = "us",
	.stale_after_ms = 35000,
};

static struct health_snapshot snap;
static struct health_view view;

/* A healthy snapshot 2 s after a 142 ms probe that got 200, and its view. */
static void
setup_healthy(void)
{
	memset(&snap, 0, sizeof(snap));
	snap.started_ms = NOW_MS - 60000;
	snap.probed = true;
	snap.state = HEALTH_HEALTHY;
	snap.last_state = HEALTH_HEALTHY;
	snap.authenticated = true;
	snap.last.started_ms = NOW_MS - 2142;
	snap.last.finished_ms = NOW_MS - 2000;
	snap.last.latency_ms = 142;
	snap.last.transport = PROBE_TRANSPORT_OK;
	snap.last.http_status = 200;
	snap.last.retry_after_s = -1;
	snap.last.server_date_s = -1;
	snap.last_success = true;
	snap.last_success_ms = NOW_MS - 2000;
	snap.consecutive_successes = 4;
	snap.next_probe_ms = NOW_MS + 13000;
	snap.stale_at_mono_ms = NOW_MS + 33000;
	snap.probes_total = 4;
	snap.codes[0].code = 200;
	snap.codes[0].count = 4;
	snap.n_codes = 1;
	snap.buckets[1] = 3;       /* <= 0.1 s */
	snap.buckets[2] = 1;       /* <= 0.25 s */
	snap.duration_sum_s = 0.47;

	memset(&view, 0, sizeof(view));
	view.state = HEALTH_HEALTHY;
	view.authenticated = true;
	view.error = "";
	view.live = true;
}

/* Straight after start: nothing probed yet. */
static void
make_unprobed(void)
{
	memset(&snap, 0, sizeof(snap));
	snap.started_ms = NOW_MS - 100;
	snap.state = HEALTH_UNHEALTHY;
	snap.last_state = HEALTH_UNHEALTHY;
	snap.next_probe_ms = NOW_MS - 100;
	snap.stale_at_mono_ms = NOW_MS + 35000;
	view.state = HEALTH_UNHEALTHY;
	view.authenticated = false;
	view.error = "no probe has finished yet";
	view.stale = false;
	view.live = true;
}

static void
set_rate_limit(int64_t limit, int64_t remaining, int64_t reset)
{
	snap.rate_limit.has_limit = true;
	snap.rate_limit.has_remaining = true;
	snap.rate_limit.has_reset = true;
	snap.rate_limit.limit = limit;
	snap.rate_limit.remaining = remaining;
	snap.rate_limit.reset = reset;
	/* From the latest probe. */
	snap.last.rate_limit = snap.rate_limit;
}

static void
enable_status_page(enum page_indicator indicator, const char *description,
		   const char *error)
{
	snap.status_page.enabled = true;
	snap.status_page.checked = true;
	snap.status_page.indicator = indicator;
	snprintf(snap.status_page.description,
		 sizeof(snap.status_page.description), "%s", description);
	snprintf(snap.status_page.error, sizeof(snap.status_page.error), "%s",
		 error);
	snap.status_page.checked_ms = NOW_MS - 5000;
}

static void
enable_webhook(bool up, long status, int64_t latency_ms, const char *error)
{
	snap.webhook.enabled = true;
	snap.webhook.checked = true;
	snap.webhook.up = up;
	snap.webhook.http_status = status;
	snap.webhook.latency_ms = latency_ms;
	snprintf(snap.webhook.error, sizeof(snap.webhook.error), "%s", error);
	snap.webhook.checked_ms = NOW_MS - 4000;
}

/* ---- helpers: JSON ----------------------------------------------------- */

/* Renders /health (or health+json) and parses it; the caller deletes. */
static cJSON *
health_json(bool ietf)
{
	size_t len = 0;
	char *body = ietf ? render_health_ietf(&snap, &view, &info, NOW_MS, &len)
			  : render_health_json(&snap, &view, &info, NOW_MS, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, strlen(body));
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!root)
		ck_abort_msg("not JSON: %s", body);
	free(body);
	return root;
}

static cJSON *
member(cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *
string_member(cJSON *obj, const char *key)
{
	cJSON *item = member(obj, key);
	if (!cJSON_IsString(item))
		ck_abort_msg("\"%s\" is not a string", key);
	return item->valuestring;
}

static double
number_member(cJSON *obj, const char *key)
{
	cJSON *item = member(obj, key);
	if (!cJSON_IsNumber(item))
		ck_abort_msg("\"%s\" is not a number", key);
	return item->valuedouble;
}

static void
assert_null_member(cJSON *obj, const char *key)
{
	cJSON *item = member(obj, key);
	if (!cJSON_IsNull(item))
		ck_abort_msg("\"%s\" is %s, not null", key,
			     item ? "present" : "absent");
}

static bool
bool_member(cJSON *obj, const char *key)
{
	cJSON *item = member(obj, key);
	if (!cJSON_IsBool(item))
		ck_abort_msg("\"%s\" is not a boolean", key);
	return cJSON_IsTrue(item);
}

/* The health+json check named name: an array of exactly one object. */
static cJSON *
ietf_check(cJSON *root, const char *name)
{
	cJSON *checks = member(root, "checks");
	ck_assert(cJSON_IsObject(checks));
	cJSON *arr = member(checks, name);
	if (!cJSON_IsArray(arr))
		ck_abort_msg("check \"%s\" missing", name);
	ck_assert_int_eq(cJSON_GetArraySize(arr), 1);
	cJSON *c = cJSON_GetArrayItem(arr, 0);
	ck_assert(cJSON_IsObject(c));
	ck_assert_str_eq(string_member(c, "componentType"), "system");
	return c;
}

/* ---- helpers: metrics -------------------------------------------------- */

static char *
metrics(void)
{
	size_t len = 0;
	char *body = render_metrics(&snap, &view, &info, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert(len > 0 && body[len - 1] == '\n');
	return body;
}

/* The line that starts with prefix (e.g. "# TYPE x " or "x{a=\"b\"} "),
 * or NULL. */
static const char *
find_line(const char *body, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = body; p && *p; ) {
		if (strncmp(p, prefix, n) == 0)
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static bool
has_sample(const char *body, const char *series)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s ", series);
	return find_line(body, prefix) != NULL;
}

/* The value of one series ("name" or "name{labels}"); fails when absent. */
static double
sample(const char *body, const char *series)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s ", series);
	const char *line = find_line(body, prefix);
	if (!line)
		ck_abort_msg("no sample %s in:\n%s", series, body);
	const char *value = line + strlen(prefix);
	char *end;
	double d = strtod(value, &end);
	if (end == value || (*end != '\n' && *end != '\0'))
		ck_abort_msg("bad value for %s: %.40s", series, value);
	return d;
}

static void
assert_described(const char *body, const char *name, const char *type)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "# HELP %s ", name);
	const char *help = find_line(body, prefix);
	if (!help)
		ck_abort_msg("no HELP for %s", name);
	snprintf(prefix, sizeof(prefix), "# TYPE %s %s\n", name, type);
	if (!find_line(body, prefix))
		ck_abort_msg("no TYPE %s for %s", type, name);
}

/* Number of lines starting with prefix. */
static int
count_lines(const char *body, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = body; p && *p; ) {
		if (strncmp(p, prefix, len) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* ---- clock_timestamp -------------------------------------------------- */

START_TEST(timestamp_format)
{
	char out[32];

	clock_timestamp(NOW_MS, out, sizeof(out));
	ck_assert_str_eq(out, "2026-11-26T16:00:00.000Z");
	clock_timestamp(NOW_MS + 7 * 1000 + 42, out, sizeof(out));
	ck_assert_str_eq(out, "2026-11-26T16:00:07.042Z");
	clock_timestamp(0, out, sizeof(out));
	ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
	clock_timestamp(-1, out, sizeof(out));
	ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");

	/* The header promises 25 bytes are enough. */
	char exact[25];
	clock_timestamp(NOW_MS + 999, exact, sizeof(exact));
	ck_assert_str_eq(exact, "2026-11-26T16:00:00.999Z");
}
END_TEST

/* ---- /health ----------------------------------------------------------- */

START_TEST(health_seed_shape)
{
	cJSON *root = health_json(false);

	ck_assert_str_eq(string_member(root, "status"), "healthy");
	ck_assert_str_eq(string_member(root, "timestamp"),
			 "2026-11-26T16:00:00.000Z");
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "status"), "healthy");
	ck_assert_double_eq(number_member(ic, "latencyMs"), 142);
	ck_assert(bool_member(ic, "authenticated"));

	/* The additions. */
	ck_assert_double_eq(number_member(ic, "httpStatus"), 200);
	ck_assert_str_eq(string_member(ic, "checkedAt"), "2026-11-26T15:59:58.000Z");
	ck_assert_str_eq(string_member(ic, "lastSuccessAt"),
			 "2026-11-26T15:59:58.000Z");
	ck_assert_double_eq(number_member(ic, "consecutiveFailures"), 0);
	ck_assert_double_eq(number_member(ic, "consecutiveSuccesses"), 4);
	ck_assert_str_eq(string_member(ic, "lastProbeStatus"), "healthy");
	ck_assert(!bool_member(ic, "stale"));
	ck_assert_str_eq(string_member(ic, "nextProbeAt"), "2026-11-26T16:00:13.000Z");
	ck_assert_str_eq(string_member(ic, "apiUrl"), "https://api.intercom.io");
	ck_assert_str_eq(string_member(ic, "region"), "us");
	ck_assert_ptr_null(member(ic, "backoffUntil"));
	ck_assert_ptr_null(member(ic, "rateLimit"));

	/* Nothing else at the top, and only intercom among the services. */
	ck_assert_int_eq(cJSON_GetArraySize(root), 3);
	ck_assert_int_eq(cJSON_GetArraySize(member(root, "services")), 1);
	cJSON_Delete(root);
}
END_TEST

/* status/authenticated/error come from the view (staleness applied), not
 * from the snapshot's last state. */
START_TEST(health_uses_view)
{
	view.state = HEALTH_UNHEALTHY;
	view.authenticated = false;
	view.error = "stale: no probe finished in time";
	view.stale = true;
	view.live = false;

	cJSON *root = health_json(false);
	ck_assert_str_eq(string_member(root, "status"), "unhealthy");
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "status"), "unhealthy");
	ck_assert(!bool_member(ic, "authenticated"));
	ck_assert_str_eq(string_member(ic, "error"),
			 "stale: no probe finished in time");
	ck_assert(bool_member(ic, "stale"));
	/* ... while the details still describe the last probe. */
	ck_assert_str_eq(string_member(ic, "lastProbeStatus"), "healthy");
	ck_assert_double_eq(number_member(ic, "httpStatus"), 200);
	cJSON_Delete(root);

	view.state = HEALTH_DEGRADED;
	view.authenticated = true;
	view.error = "200: slow: 3400 ms (limit 3000 ms)";
	view.stale = false;
	root = health_json(false);
	ck_assert_str_eq(string_member(root, "status"), "degraded");
	ck_assert_str_eq(string_member(intercom_of(root), "status"), "degraded");
	cJSON_Delete(root);
}
END_TEST

START_TEST(health_rate_limit)
{
	cJSON *root = health_json(false);
	cJSON *ic = intercom_of(root);
	ck_assert_ptr_null(member(ic, "rateLimitRemaining"));
	ck_assert_ptr_null(member(ic, "rateLimit"));
	cJSON_Delete(root);

	set_rate_limit(10000, 9990, 1795708810);
	root = health_json(false);
	ic = intercom_of(root);
	ck_assert_double_eq(number_member(ic, "rateLimitRemaining"), 9990);
	cJSON *rl = member(ic, "rateLimit");
	ck_assert(cJSON_IsObject(rl));
	ck_assert_double_eq(number_member(rl, "limit"), 10000);
	ck_assert_double_eq(number_member(rl, "remaining"), 9990);
	ck_assert_str_eq(string_member(rl, "resetAt"), "2026-11-26T16:00:10.000Z");
	cJSON_Delete(root);

	/* The latest answer carried no header: no rateLimitRemaining, but
	 * the last-known quota stays in rateLimit{} with when it was seen. */
	memset(&snap.last.rate_limit, 0, sizeof(snap.last.rate_limit));
	snap.rate_limit_seen_ms = INT64_C(1795708800000);
	root = health_json(false);
	ic = intercom_of(root);
	ck_assert_ptr_null(member(ic, "rateLimitRemaining"));
	rl = member(ic, "rateLimit");
	ck_assert_double_eq(number_member(rl, "remaining"), 9990);
	ck_assert_str_eq(string_member(rl, "seenAt"), "2026-11-26T16:00:00.000Z");
	cJSON_Delete(root);
	snap.rate_limit_seen_ms = 0;

	/* Only a limit header: the object has only that member, and no
	 * rateLimitRemaining. */
	memset(&snap.rate_limit, 0, sizeof(snap.rate_limit));
	snap.last.rate_limit = snap.rate_limit;
	snap.rate_limit.has_limit = true;
	snap.rate_limit.limit = 500;
	root = health_json(false);
	ic = intercom_of(root);
	ck_assert_ptr_null(member(ic, "rateLimitRemaining"));
	rl = member(ic, "rateLimit");
	ck_assert(cJSON_IsObject(rl));
	ck_assert_int_eq(cJSON_GetArraySize(rl), 1);
	ck_assert_double_eq(number_member(rl, "limit"), 500);
	cJSON_Delete(root);

	/* A zero remaining is still a header seen. */
	snap.rate_limit.has_remaining = true;
	snap.rate_limit.remaining = 0;
	snap.last.rate_limit = snap.rate_limit;
	root = health_json(false);
	ck_assert_double_eq(number_member(intercom_of(root), "rateLimitRemaining"), 0);
	cJSON_Delete(root);
}
END_TEST

START_TEST(health_error_only_when_set)
{
	cJSON *root = health_json(false);
	ck_assert_ptr_null(member(intercom_of(root), "error"));
	cJSON_Delete(root);

	view.error = NULL;     /* tolerated as "none" */
	root = health_json(false);
	ck_assert_ptr_null(member(intercom_of(root), "error"));
	cJSON_Delete(root);

	snap.state = snap.last_state = HEALTH_UNHEALTHY;
	snap.last.http_status = 401;
	snprintf(snap.error, sizeof(snap.error), "401: Access Token Invalid");
	view.state = HEALTH_UNHEALTHY;
	view.authenticated = false;
	view.error = snap.error;
	root = health_json(false);
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "error"), "401: Access Token Invalid");
	ck_assert_double_eq(number_member(ic, "httpStatus"), 401);
	ck_assert(!bool_member(ic, "authenticated"));
	cJSON_Delete(root);
}
END_TEST

START_TEST(health_before_first_probe)
{
	make_unprobed();
	cJSON *root = health_json(false);
	ck_assert_str_eq(string_member(root, "status"), "unhealthy");
	cJSON *ic = intercom_of(root);
	assert_null_member(ic, "latencyMs");
	assert_null_member(ic, "checkedAt");
	assert_null_member(ic, "httpStatus");
	assert_null_member(ic, "lastSuccessAt");
	ck_assert_ptr_null(member(ic, "lastProbeStatus"));
	ck_assert_ptr_null(member(ic, "rateLimitRemaining"));
	ck_assert(!bool_member(ic, "authenticated"));
	ck_assert_str_eq(string_member(ic, "error"), "no probe has finished yet");
	cJSON_Delete(root);
}
END_TEST

START_TEST(health_transport_failure)
{
	snap.state = snap.last_state = HEALTH_UNHEALTHY;
	snap.last.transport = PROBE_TRANSPORT_TIMEOUT;
	snap.last.http_status = 0;
	snap.last.latency_ms = 5000;
	view.state = HEALTH_UNHEALTHY;
	view.authenticated = false;
	view.error = "timeout after 5000 ms";
	cJSON *root = health_json(false);
	cJSON *ic = intercom_of(root);
	assert_null_member(ic, "httpStatus");
	ck_assert_double_eq(number_member(ic, "latencyMs"), 5000);
	ck_assert_str_eq(string_member(ic, "lastProbeStatus"), "unhealthy");
	ck_assert_str_eq(string_member(ic, "error"), "timeout after 5000 ms");
	cJSON_Delete(root);
}
END_TEST

START_TEST(health_backoff)
{
	snap.backoff_until_ms = NOW_MS - 1;     /* over: not shown */
	cJSON *root = health_json(false);
	ck_assert_ptr_null(member(intercom_of(root), "backoffUntil"));
	cJSON_Delete(root);

	snap.backoff_until_ms = NOW_MS + 30000;
	snap.next_probe_ms = NOW_MS + 30000;
	root = health_json(false);
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "backoffUntil"), "2026-11-26T16:00:30.000Z");
	ck_assert_str_eq(string_member(ic, "nextProbeAt"), "2026-11-26T16:00:30.000Z");
	cJSON_Delete(root);

	snap.next_probe_ms = 0;
	root = health_json(false);
	ck_assert_ptr_null(member(intercom_of(root), "nextProbeAt"));
	cJSON_Delete(root);
}
END_TEST

/* A reason with quotes, backslashes, controls and bytes that are not UTF-8:
 * the body stays valid JSON in valid UTF-8, and what can be kept is. */
START_TEST(health_escaping)
{
	static const char nasty[] =
		"403: \"quoted\" C:\\path\nline2\ttab\x01\x1f\x7f end\xff"
		" caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc3 \xed\xa0\x80";
	static const char expect[] =
		"403: \"quoted\" C:\\path\nline2\ttab\x01\x1f\x7f end\xef\xbf\xbd"
		" caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd "
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";

	snprintf(snap.error, sizeof(snap.error), "%s", nasty);
	view.state = HEALTH_UNHEALTHY;
	view.error = snap.error;
	enable_status_page(PAGE_MINOR, "Partial \"outage\"\x02", "");
	enable_webhook(false, 0, 10, "connect: \\refused\"\n");

	size_t len;
	char *body = render_health_json(&snap, &view, &info, NOW_MS, &len);
	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		if (c < 0x20 || c == 0x7f || c == 0xff)
			ck_abort_msg("raw byte 0x%02x at %zu", c, i);
	}
	ck_assert_ptr_nonnull(strstr(body, "\\u0001"));
	ck_assert_ptr_nonnull(strstr(body, "\\n"));

	cJSON *root = cJSON_ParseWithLength(body, len);
	ck_assert_ptr_nonnull(root);
	free(body);
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "error"), expect);
	cJSON *services = member(root, "services");
	ck_assert_str_eq(string_member(member(services, "statusPage"), "description"),
			 "Partial \"outage\"\x02");
	ck_assert_str_eq(string_member(member(services, "webhook"), "error"),
			 "connect: \\refused\"\n");
	cJSON_Delete(root);

	/* The same text in health+json. */
	root = health_json(true);
	ck_assert_str_eq(string_member(root, "output"), expect);
	cJSON_Delete(root);
}
END_TEST

/* An info string with quotes (say, an odd api_url) is escaped too. */
START_TEST(health_escaping_info)
{
	struct render_info odd = info;
	odd.api_url = "http://x/\"}\\";
	odd.region = NULL;
	size_t len;
	char *body = render_health_json(&snap, &view, &odd, NOW_MS, &len);
	cJSON *root = cJSON_ParseWithLength(body, len);
	ck_assert_ptr_nonnull(root);
	cJSON *ic = intercom_of(root);
	ck_assert_str_eq(string_member(ic, "apiUrl"), "http://x/\"}\\");
	ck_assert_str_eq(string_member(ic, "region"), "");
	cJSON_Delete(root);
	free(body);
}
END_TEST

START_TEST(health_optional_services)
{
	cJSON *root = health_json(false);
	cJSON *services = member(root, "services");
	ck_assert_ptr_null(member(services, "statusPage"));
	ck_assert_ptr_null(member(services, "webhook"));
	cJSON_Delete(root);

	enable_status_page(PAGE_MAJOR, "Major outage", "");
	enable_webhook(true, 204, 37, "");
	root = health_json(false);
	services = member(root, "services");
	cJSON *sp = member(services, "statusPage");
	ck_assert(cJSON_IsObject(sp));
	ck_assert_str_eq(string_member(sp, "indicator"), "major");
	ck_assert_str_eq(string_member(sp, "description"), "Major outage");
	ck_assert_str_eq(string_member(sp, "checkedAt"), "2026-11-26T15:59:55.000Z");
	ck_assert_ptr_null(member(sp, "error"));
	cJSON *wh = member(services, "webhook");
	ck_assert(cJSON_IsObject(wh));
	ck_assert(bool_member(wh, "up"));
	ck_assert_double_eq(number_member(wh, "httpStatus"), 204);
	ck_assert_double_eq(number_member(wh, "latencyMs"), 37);
	ck_assert_str_eq(string_member(wh, "checkedAt"), "2026-11-26T15:59:56.000Z");
	ck_assert_ptr_null(member(wh, "error"));
	/* They never change the overall status. */
	ck_assert_str_eq(string_member(root, "status"), "healthy");
	cJSON_Delete(root);

	/* Enabled but not read yet, or failing. */
	snap.status_page.checked = false;
	snap.status_page.indicator = PAGE_UNKNOWN;
	snprintf(snap.status_page.error, sizeof(snap.status_page.error),
		 "timeout after 5000 ms");
	snap.webhook.checked = false;
	snap.webhook.up = false;
	snprintf(snap.webhook.error, sizeof(snap.webhook.error), "%s",
		 "connection refused");
	root = health_json(false);
	services = member(root, "services");
	sp = member(services, "statusPage");
	ck_assert_str_eq(string_member(sp, "indicator"), "unknown");
	assert_null_member(sp, "checkedAt");
	ck_assert_str_eq(string_member(sp, "error"), "timeout after 5000 ms");
	wh = member(services, "webhook");
	ck_assert(!bool_member(wh, "up"));
	assert_null_member(wh, "httpStatus");
	assert_null_member(wh, "latencyMs");
	assert_null_member(wh, "checkedAt");
	ck_assert_str_eq(string_member(wh, "error"), "connection refused");
	cJSON_Delete(root);
}
END_TEST

/* ---- health+json ------------------------------------------------------- */

START_TEST(ietf_status_per_state)
{
	static const struct {
		enum health_state state;
		const char *status;
	} cases[] = {
		{ HEALTH_HEALTHY, "pass" },
		{ HEALTH_DEGRADED, "warn" },
		{ HEALTH_UNHEALTHY, "fail" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		view.state = cases[i].state;
		view.error = cases[i].state == HEALTH_HEALTHY ? "" : "500: boom";
		cJSON *root = health_json(true);
		ck_assert_str_eq(string_member(root, "status"), cases[i].status);
		ck_assert_str_eq(string_member(root, "version"), "1");
		ck_assert_str_eq(string_member(root, "releaseId"), "1.2.3");
		ck_assert_str_eq(string_member(root, "serviceId"), "intercom-healthd");
		ck_assert(cJSON_IsString(member(root, "description")));
		cJSON *rt = ietf_check(root, "intercom:responseTime");
		ck_assert_str_eq(string_member(rt, "status"), cases[i].status);
		if (cases[i].state == HEALTH_HEALTHY) {
			ck_assert_ptr_null(member(root, "output"));
			ck_assert_ptr_null(member(rt, "output"));
		} else {
			ck_assert_str_eq(string_member(root, "output"), "500: boom");
			ck_assert_str_eq(string_member(rt, "output"), "500: boom");
		}
		cJSON_Delete(root);
	}
}
END_TEST

START_TEST(ietf_checks)
{
	cJSON *root = health_json(true);
	cJSON *rt = ietf_check(root, "intercom:responseTime");
	ck_assert_str_eq(string_member(rt, "componentId"), "https://api.intercom.io");
	ck_assert_double_eq(number_member(rt, "observedValue"), 142);
	ck_assert_str_eq(string_member(rt, "observedUnit"), "ms");
	ck_assert_str_eq(string_member(rt, "time"), "2026-11-26T15:59:58.000Z");
	cJSON *auth = ietf_check(root, "intercom:authenticated");
	ck_assert(bool_member(auth, "observedValue"));
	ck_assert_str_eq(string_member(auth, "status"), "pass");
	ck_assert_str_eq(string_member(auth, "time"), "2026-11-26T15:59:58.000Z");
	cJSON *checks = member(root, "checks");
	ck_assert_ptr_null(member(checks, "intercom:rateLimitRemaining"));
	ck_assert_ptr_null(member(checks, "intercom-status-page:indicator"));
	ck_assert_ptr_null(member(checks, "webhook:responseTime"));
	ck_assert_int_eq(cJSON_GetArraySize(checks), 2);
	ck_assert_str_eq(string_member(member(root, "links"), "about"),
			 "https://developers.intercom.com/");
	cJSON_Delete(root);

	set_rate_limit(1000, 900, 1795708810);
	enable_status_page(PAGE_NONE, "All Systems Operational", "");
	enable_webhook(true, 200, 12, "");
	root = health_json(true);
	cJSON *q = ietf_check(root, "intercom:rateLimitRemaining");
	ck_assert_double_eq(number_member(q, "observedValue"), 900);
	ck_assert_str_eq(string_member(q, "observedUnit"), "requests");
	ck_assert_str_eq(string_member(q, "status"), "pass");
	cJSON *sp = ietf_check(root, "intercom-status-page:indicator");
	ck_assert_str_eq(string_member(sp, "observedValue"), "none");
	ck_assert_str_eq(string_member(sp, "status"), "pass");
	ck_assert_str_eq(string_member(sp, "time"), "2026-11-26T15:59:55.000Z");
	cJSON *wh = ietf_check(root, "webhook:responseTime");
	ck_assert_double_eq(number_member(wh, "observedValue"), 12);
	ck_assert_str_eq(string_member(wh, "observedUnit"), "ms");
	ck_assert_str_eq(string_member(wh, "status"), "pass");
	ck_assert_int_eq(cJSON_GetArraySize(member(root, "checks")), 5);
	cJSON_Delete(root);

	/* The quota check follows what the state keeper recorded (its test
	 * is the classifier's: test-classify, test-health). */
	snap.quota_low = false;
	root = health_json(true);
	ck_assert_str_eq(string_member(ietf_check(root, "intercom:rateLimitRemaining"),
				       "status"), "pass");
	cJSON_Delete(root);
	snap.quota_low = true;
	root = health_json(true);
	ck_assert_str_eq(string_member(ietf_check(root, "intercom:rateLimitRemaining"),
				       "status"), "warn");
	cJSON_Delete(root);

	/* A webhook that is down fails its check, not the whole. */
	view.state = HEALTH_HEALTHY;
	view.error = "";
	snap.error[0] = '\0';
	snap.rate_limit.remaining = 900;
	enable_webhook(false, 503, 40, "503: Service Unavailable");
	root = health_json(true);
	wh = ietf_check(root, "webhook:responseTime");
	ck_assert_str_eq(string_member(wh, "status"), "fail");
	ck_assert_str_eq(string_member(wh, "output"), "503: Service Unavailable");
	ck_assert_str_eq(string_member(root, "status"), "pass");
	cJSON_Delete(root);

	/* Enabled but never checked: no webhook check yet. */
	snap.webhook.checked = false;
	root = health_json(true);
	ck_assert_ptr_null(member(member(root, "checks"), "webhook:responseTime"));
	cJSON_Delete(root);
}
END_TEST

START_TEST(ietf_status_page_mapping)
{
	static const struct {
		enum page_indicator indicator;
		const char *value, *status;
	} cases[] = {
		{ PAGE_NONE, "none", "pass" },
		{ PAGE_MINOR, "minor", "warn" },
		{ PAGE_UNKNOWN, "unknown", "warn" },
		{ PAGE_MAJOR, "major", "fail" },
		{ PAGE_CRITICAL, "critical", "fail" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enable_status_page(cases[i].indicator, "Something", "");
		cJSON *root = health_json(true);
		cJSON *sp = ietf_check(root, "intercom-status-page:indicator");
		ck_assert_str_eq(string_member(sp, "observedValue"), cases[i].value);
		ck_assert_str_eq(string_member(sp, "status"), cases[i].status);
		/* Informational: the overall status does not move. */
		ck_assert_str_eq(string_member(root, "status"), "pass");
		cJSON_Delete(root);
	}
}
END_TEST

START_TEST(ietf_before_first_probe)
{
	make_unprobed();
	cJSON *root = health_json(true);
	ck_assert_str_eq(string_member(root, "status"), "fail");
	cJSON *rt = ietf_check(root, "intercom:responseTime");
	ck_assert_ptr_null(member(rt, "observedValue"));
	ck_assert_str_eq(string_member(rt, "time"), "2026-11-26T16:00:00.000Z");
	cJSON *auth = ietf_check(root, "intercom:authenticated");
	ck_assert(!bool_member(auth, "observedValue"));
	ck_assert_str_eq(string_member(auth, "status"), "fail");
	ck_assert_str_eq(string_member(root, "output"), "no probe has finished yet");
	cJSON_Delete(root);
}
END_TEST

/* ---- /metrics ---------------------------------------------------------- */

START_TEST(metrics_contract_names)
{
	static const struct {
		const char *name, *type;
	} contract[] = {
		{ "intercom_health_state", "gauge" },
		{ "intercom_probe_success", "gauge" },
		{ "intercom_probe_duration_seconds", "histogram" },
		{ "intercom_probes_total", "counter" },
		{ "intercom_authenticated", "gauge" },
		{ "intercom_rate_limit_limit", "gauge" },
		{ "intercom_rate_limit_remaining", "gauge" },
		{ "intercom_rate_limit_reset_timestamp_seconds", "gauge" },
		{ "intercom_last_probe_timestamp_seconds", "gauge" },
		{ "intercom_last_success_timestamp_seconds", "gauge" },
		{ "intercom_status_page_indicator", "gauge" },
		{ "intercom_status_page_up", "gauge" },
		{ "intercom_webhook_up", "gauge" },
		{ "intercom_webhook_duration_seconds", "gauge" },
		{ "intercom_healthd_build_info", "gauge" },
		{ "intercom_healthd_stale", "gauge" },
		{ "intercom_consecutive_failures", "gauge" },
		{ "intercom_backoff_until_timestamp_seconds", "gauge" },
	};

	set_rate_limit(10000, 9990, 1795708810);
	enable_status_page(PAGE_NONE, "All Systems Operational", "");
	enable_webhook(true, 200, 25, "");
	char *body = metrics();
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++)
		assert_described(body, contract[i].name, contract[i].type);

	/* HELP says it is a cache, for every probe-derived metric. */
	int helps = count_lines(body, "# HELP ");
	int cached = 0;
	for (const char *p = strstr(body, "# HELP "); p; p = strstr(p + 1, "# HELP ")) {
		const char *eol = strchr(p, '\n');
		const char *c = strstr(p, "serving this does not call Intercom");
		if (c && c < eol)
			cached++;
	}
	ck_assert_int_eq(cached, helps - 1);   /* all but build_info */

	ck_assert_double_eq(sample(body, "intercom_probe_success"), 1);
	ck_assert_double_eq(sample(body, "intercom_authenticated"), 1);
	ck_assert_double_eq(sample(body, "intercom_rate_limit_limit"), 10000);
	ck_assert_double_eq(sample(body, "intercom_rate_limit_remaining"), 9990);
	ck_assert_double_eq(sample(body, "intercom_rate_limit_reset_timestamp_seconds"),
			    1795708810);
	ck_assert_double_eq_tol(sample(body, "intercom_last_probe_timestamp_seconds"),
				1795708798.0, 1e-3);
	ck_assert_double_eq_tol(sample(body, "intercom_last_success_timestamp_seconds"),
				1795708798.0, 1e-3);
	ck_assert_double_eq(sample(body, "intercom_healthd_build_info{version=\"1.2.3\"}"), 1);
	ck_assert_double_eq(sample(body, "intercom_healthd_stale"), 0);
	ck_assert_double_eq(sample(body, "intercom_consecutive_failures"), 0);
	ck_assert_double_eq(sample(body, "intercom_backoff_until_timestamp_seconds"), 0);
	ck_assert_double_eq(sample(body, "intercom_webhook_up"), 1);
	ck_assert_double_eq_tol(sample(body, "intercom_webhook_duration_seconds"),
				0.025, 1e-9);
	ck_assert_double_eq(sample(body, "intercom_status_page_up"), 1);

	/* Each family's HELP and TYPE exactly once. */
	ck_assert_int_eq(helps, count_lines(body, "# TYPE "));
	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++) {
		char prefix[128];
		snprintf(prefix, sizeof(prefix), "# TYPE %s ", contract[i].name);
		ck_assert_int_eq(count_lines(body, prefix), 1);
	}
	free(body);
}
END_TEST

START_TEST(metrics_state_one_hot)
{
	static const enum health_state states[] = {
		HEALTH_HEALTHY, HEALTH_DEGRADED, HEALTH_UNHEALTHY,
	};
	static const char *const names[] = { "healthy", "degraded", "unhealthy" };

	for (size_t i = 0; i < 3; i++) {
		view.state = states[i];
		char *body = metrics();
		for (size_t j = 0; j < 3; j++) {
			char series[64];
			snprintf(series, sizeof(series),
				 "intercom_health_state{state=\"%s\"}", names[j]);
			ck_assert_double_eq(sample(body, series), i == j ? 1 : 0);
		}
		ck_assert_int_eq(count_lines(body, "intercom_health_state{"), 3);
		free(body);
	}
}
END_TEST

START_TEST(metrics_histogram)
{
	/* One probe in each bucket, plus two slower than the last bound. */
	memset(snap.buckets, 0, sizeof(snap.buckets));
	for (int i = 0; i < HEALTH_BUCKETS; i++)
		snap.buckets[i] = (uint64_t)i + 1;
	uint64_t in_buckets = HEALTH_BUCKETS * (HEALTH_BUCKETS + 1) / 2;
	snap.probes_total = in_buckets + 2;
	snap.duration_sum_s = 123.456;

	char *body = metrics();
	uint64_t cumulative = 0;
	bool saw_3 = false, saw_10 = false;
	for (int i = 0; i < HEALTH_BUCKETS; i++) {
		char series[96];
		cumulative += snap.buckets[i];
		snprintf(series, sizeof(series),
			 "intercom_probe_duration_seconds_bucket{le=\"%g\"}",
			 health_bucket_bounds[i]);
		ck_assert_double_eq(sample(body, series), (double)cumulative);
		saw_3 |= health_bucket_bounds[i] == 3;
		saw_10 |= health_bucket_bounds[i] == 10;
	}
	ck_assert(saw_3 && saw_10);
	ck_assert(has_sample(body, "intercom_probe_duration_seconds_bucket{le=\"0.05\"}"));
	ck_assert(has_sample(body, "intercom_probe_duration_seconds_bucket{le=\"3\"}"));
	ck_assert(has_sample(body, "intercom_probe_duration_seconds_bucket{le=\"10\"}"));

	double inf = sample(body, "intercom_probe_duration_seconds_bucket{le=\"+Inf\"}");
	double count = sample(body, "intercom_probe_duration_seconds_count");
	ck_assert_double_eq(inf, count);
	ck_assert_double_eq(count, (double)snap.probes_total);
	ck_assert_double_eq_tol(sample(body, "intercom_probe_duration_seconds_sum"),
				123.456, 1e-9);
	ck_assert_int_eq(count_lines(body, "intercom_probe_duration_seconds_bucket{"),
			 HEALTH_BUCKETS + 1);
	free(body);
}
END_TEST

START_TEST(metrics_codes)
{
	snap.codes[0] = (struct code_count){ .code = 200, .count = 10 };
	snap.codes[1] = (struct code_count){ .code = 401, .count = 2 };
	snap.codes[2] = (struct code_count){ .code = 0, .count = 3 };
	snap.codes[3] = (struct code_count){ .code = -1, .count = 1 };
	snap.n_codes = 4;
	char *body = metrics();
	ck_assert_double_eq(sample(body, "intercom_probes_total{code=\"200\"}"), 10);
	ck_assert_double_eq(sample(body, "intercom_probes_total{code=\"401\"}"), 2);
	ck_assert_double_eq(sample(body, "intercom_probes_total{code=\"error\"}"), 3);
	ck_assert_double_eq(sample(body, "intercom_probes_total{code=\"other\"}"), 1);
	ck_assert_int_eq(count_lines(body, "intercom_probes_total{"), 4);
	free(body);

	make_unprobed();
	body = metrics();
	assert_described(body, "intercom_probes_total", "counter");
	ck_assert_int_eq(count_lines(body, "intercom_probes_total"), 0);
	free(body);
}
END_TEST

START_TEST(metrics_before_first_probe)
{
	make_unprobed();
	char *body = metrics();
	ck_assert_double_eq(sample(body, "intercom_probe_success"), 0);
	ck_assert_double_eq(sample(body, "intercom_authenticated"), 0);
	ck_assert_double_eq(sample(body, "intercom_health_state{state=\"unhealthy\"}"), 1);
	ck_assert(!has_sample(body, "intercom_last_probe_timestamp_seconds"));
	ck_assert(!has_sample(body, "intercom_last_success_timestamp_seconds"));
	ck_assert(!has_sample(body, "intercom_rate_limit_limit"));
	ck_assert(!has_sample(body, "intercom_rate_limit_remaining"));
	ck_assert(!has_sample(body, "intercom_rate_limit_reset_timestamp_seconds"));
	assert_described(body, "intercom_rate_limit_remaining", "gauge");
	assert_described(body, "intercom_last_probe_timestamp_seconds", "gauge");
	ck_assert_double_eq(sample(body, "intercom_probe_duration_seconds_count"), 0);
	ck_assert_double_eq(sample(body,
		"intercom_probe_duration_seconds_bucket{le=\"+Inf\"}"), 0);
	/* Status page and webhook disabled: not even described. */
	ck_assert_ptr_null(strstr(body, "intercom_status_page"));
	ck_assert_ptr_null(strstr(body, "intercom_webhook"));
	free(body);
}
END_TEST

START_TEST(metrics_probe_success)
{
	static const struct {
		enum probe_transport transport;
		long status;
		int success;
	} cases[] = {
		{ PROBE_TRANSPORT_OK, 200, 1 },
		{ PROBE_TRANSPORT_OK, 204, 1 },
		{ PROBE_TRANSPORT_OK, 429, 0 },
		{ PROBE_TRANSPORT_OK, 401, 0 },
		{ PROBE_TRANSPORT_OK, 503, 0 },
		{ PROBE_TRANSPORT_TIMEOUT, 0, 0 },
		{ PROBE_TRANSPORT_TLS, 200, 0 },   /* inconsistent: no */
	};

	/* Rendered as recorded: the state keeper asks the classifier. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snap.last.transport = cases[i].transport;
		snap.last.http_status = cases[i].status;
		snap.last_success = classify_is_success(&snap.last);
		char *body = metrics();
		ck_assert_double_eq(sample(body, "intercom_probe_success"),
				    cases[i].success);
		free(body);
	}
}
END_TEST

START_TEST(metrics_stale_and_backoff)
{
	view.state = HEALTH_UNHEALTHY;
	view.authenticated = false;
	view.stale = true;
	snap.consecutive_failures = 7;
	snap.backoff_until_ms = NOW_MS + 1500;
	char *body = metrics();
	ck_assert_double_eq(sample(body, "intercom_healthd_stale"), 1);
	ck_assert_double_eq(sample(body, "intercom_authenticated"), 0);
	ck_assert_double_eq(sample(body, "intercom_consecutive_failures"), 7);
	ck_assert_double_eq_tol(sample(body, "intercom_backoff_until_timestamp_seconds"),
				1795708801.5, 1e-3);
	free(body);
}
END_TEST

START_TEST(metrics_status_page_and_webhook)
{
	static const char *const names[] = { "none", "minor", "major", "critical" };
	static const enum page_indicator indicators[] = {
		PAGE_NONE, PAGE_MINOR, PAGE_MAJOR, PAGE_CRITICAL, PAGE_UNKNOWN,
	};

	for (size_t i = 0; i < 5; i++) {
		enable_status_page(indicators[i], "x",
				   indicators[i] == PAGE_UNKNOWN ? "timeout" : "");
		char *body = metrics();
		for (size_t j = 0; j < 4; j++) {
			char series[96];
			snprintf(series, sizeof(series),
				 "intercom_status_page_indicator{indicator=\"%s\"}",
				 names[j]);
			ck_assert_double_eq(sample(body, series), i == j ? 1 : 0);
		}
		ck_assert_int_eq(count_lines(body, "intercom_status_page_indicator{"), 4);
		ck_assert_double_eq(sample(body, "intercom_status_page_up"),
				    indicators[i] == PAGE_UNKNOWN ? 0 : 1);
		free(body);
	}

	/* Webhook enabled, not checked yet: down, no duration. */
	snap.webhook.enabled = true;
	char *body = metrics();
	ck_assert_double_eq(sample(body, "intercom_webhook_up"), 0);
	ck_assert_ptr_null(strstr(body, "intercom_webhook_duration_seconds"));
	free(body);

	enable_webhook(false, 500, 1234, "500: oops");
	body = metrics();
	ck_assert_double_eq(sample(body, "intercom_webhook_up"), 0);
	ck_assert_double_eq_tol(sample(body, "intercom_webhook_duration_seconds"),
				1.234, 1e-9);
	free(body);
}
END_TEST

START_TEST(metrics_label_escaping)
{
	struct render_info odd = info;
	odd.version = "1.0\"x\\y\nz";
	size_t len;
	char *body = render_metrics(&snap, &view, &odd, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert(has_sample(body,
		"intercom_healthd_build_info{version=\"1.0\\\"x\\\\y\\nz\"}"));
	free(body);
}
END_TEST

START_TEST(metrics_promtool_clean)
{
	/* Sanity: promtool does complain when it should, so a clean run
	 * below means something. */
	static const char untyped[] = "intercom_x 1\n";
	char *out;
	ck_assert_int_ne(promtool_check(untyped, strlen(untyped), &out), 0);
	ck_assert(out[0] != '\0');
	free(out);

	for (int variant = 0; variant < 3; variant++) {
		setup_healthy();
		if (variant == 0) {
			make_unprobed();
		} else if (variant == 1) {
			set_rate_limit(10000, 9990, 1795708810);
			enable_status_page(PAGE_MINOR, "Minor", "");
			enable_webhook(true, 204, 20, "");
			snap.codes[1] = (struct code_count){ .code = 0, .count = 2 };
			snap.codes[2] = (struct code_count){ .code = -1, .count = 1 };
			snap.n_codes = 3;
			snap.backoff_until_ms = NOW_MS + 100;
		} else {
			enable_status_page(PAGE_UNKNOWN, "", "timeout");
			snap.webhook.enabled = true;
			view.stale = true;
			view.state = HEALTH_UNHEALTHY;
			snap.duration_sum_s = 1e-9;
		}
		char *body = metrics();
		int rc = promtool_check(body, strlen(body), &out);
		if (rc != 0 || out[0] != '\0') {
			/* Check caps a message at a few KiB: the input goes
			 * to stderr. */
			fprintf(stderr, "--- promtool input:\n%s", body);
			ck_abort_msg("promtool (variant %d) exit %d: %.1000s",
				     variant, rc, out);
		}
		free(out);
		free(body);
	}
}
END_TEST

/* ---- main -------------------------------------------------------------- */

static void
add(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup_healthy, NULL);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

static Suite *
render_suite(void)
{
	Suite *s = suite_create("render");

	add(s, "timestamp_format", timestamp_format);

	add(s, "health_seed_shape", health_seed_shape);
	add(s, "health_uses_view", health_uses_view);
	add(s, "health_rate_limit", health_rate_limit);
	add(s, "health_error_only_when_set", health_error_only_when_set);
	add(s, "health_before_first_probe", health_before_first_probe);
	add(s, "health_transport_failure", health_transport_failure);
	add(s, "health_backoff", health_backoff);
	add(s, "health_escaping", health_escaping);
	add(s, "health_escaping_info", health_escaping_info);
	add(s, "health_optional_services", health_optional_services);

	add(s, "ietf_status_per_state", ietf_status_per_state);
	add(s, "ietf_checks", ietf_checks);
	add(s, "ietf_status_page_mapping", ietf_status_page_mapping);
	add(s, "ietf_before_first_probe", ietf_before_first_probe);

	add(s, "metrics_contract_names", metrics_contract_names);
	add(s, "metrics_state_one_hot", metrics_state_one_hot);
	add(s, "metrics_histogram", metrics_histogram);
	add(s, "metrics_codes", metrics_codes);
	add(s, "metrics_before_first_probe", metrics_before_first_probe);
	add(s, "metrics_probe_success", metrics_probe_success);
	add(s, "metrics_stale_and_backoff", metrics_stale_and_backoff);
	add(s, "metrics_status_page_and_webhook", metrics_status_page_and_webhook);
	add(s, "metrics_label_escaping", metrics_label_escaping);
	add(s, "metrics_promtool_clean", metrics_promtool_clean);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(render_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
