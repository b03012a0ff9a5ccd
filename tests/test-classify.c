#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "probe_result.h"
#include "response.h"

/*
 * The contract's classification table, row by row. Every test starts from
 * a probe that is a fast 200 with plenty of quota, and changes only what
 * its row is about.
 */

static struct probe_result r;
static struct classify_params p;
static char text[PROBE_ERROR_MAX + 64];

static void
setup(void)
{
	memset(&r, 0, sizeof(r));
	r.started_ms = 1700000000000;
	r.finished_ms = 1700000000142;
	r.latency_ms = 142;
	r.transport = PROBE_TRANSPORT_OK;
	r.http_status = 200;
	r.rate_limit.has_limit = true;
	r.rate_limit.has_remaining = true;
	r.rate_limit.has_reset = true;
	r.rate_limit.limit = 10000;
	r.rate_limit.remaining = 9990;
	r.rate_limit.reset = 1700000010;
	r.retry_after_s = -1;
	r.server_date_s = -1;
	p.degraded_latency_ms = 3000;
	p.rate_limit_low = 10;
	memset(text, 'Z', sizeof(text));
}

static void
teardown(void)
{
}

/* Classifies r, asserting state and authenticated together. */
#define ck_classify(want_state, want_auth) do { \
	bool auth_ = !(want_auth); \
	enum health_state st_ = classify_probe(&r, &p, &auth_); \
	ck_assert_str_eq(health_state_name(st_), \
			 health_state_name(want_state)); \
	ck_assert_int_eq(st_, want_state); \
	ck_assert_int_eq(auth_, want_auth); \
} while (0)

#define ck_text(want) do { \
	classify_error_text(&r, &p, text, sizeof(text)); \
	ck_assert_str_eq(text, want); \
} while (0)

static void
set_status(long status, const char *reason)
{
	r.http_status = status;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
}

static void
set_transport(enum probe_transport t, const char *reason)
{
	r.transport = t;
	r.http_status = 0;
	memset(&r.rate_limit, 0, sizeof(r.rate_limit));
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
}

/* ---- names ---- */

START_TEST(test_state_names)
{
	ck_assert_str_eq(health_state_name(HEALTH_HEALTHY), "healthy");
	ck_assert_str_eq(health_state_name(HEALTH_DEGRADED), "degraded");
	ck_assert_str_eq(health_state_name(HEALTH_UNHEALTHY), "unhealthy");
	ck_assert_int_lt(HEALTH_HEALTHY, HEALTH_DEGRADED);
	ck_assert_int_lt(HEALTH_DEGRADED, HEALTH_UNHEALTHY);
}
END_TEST

/* ---- 2xx ---- */

START_TEST(test_fast_2xx)
{
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");

	set_status(204, "");
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");

	/* A reason left by the probe does not make a healthy answer an
	 * error. */
	set_status(200, "leftover");
	ck_text("");
}
END_TEST

START_TEST(test_slow_boundary)
{
	r.latency_ms = 3000;
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");

	r.latency_ms = 3001;
	ck_classify(HEALTH_DEGRADED, true);
	ck_text("200: slow: 3001 ms (limit 3000 ms)");

	r.latency_ms = 3400;
	ck_text("200: slow: 3400 ms (limit 3000 ms)");
}
END_TEST

START_TEST(test_low_quota_boundary)
{
	r.rate_limit.limit = 1000;

	r.rate_limit.remaining = 100;  /* exactly 10% */
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");

	r.rate_limit.remaining = 99;
	ck_classify(HEALTH_DEGRADED, true);
	ck_text("200: rate limit low: 99 of 1000 remaining (below 10%)");

	r.rate_limit.remaining = 5;
	ck_text("200: rate limit low: 5 of 1000 remaining (below 10%)");

	r.rate_limit.remaining = 0;
	ck_classify(HEALTH_DEGRADED, true);

	/* 10% of 1001 is 100.1: 100 is below it, 101 is not. */
	r.rate_limit.limit = 1001;
	r.rate_limit.remaining = 100;
	ck_classify(HEALTH_DEGRADED, true);
	r.rate_limit.remaining = 101;
	ck_classify(HEALTH_HEALTHY, true);

	/* Intercom's per-window figure: 10% of 167 is 16.7. */
	r.rate_limit.limit = 167;
	r.rate_limit.remaining = 16;
	ck_classify(HEALTH_DEGRADED, true);
	r.rate_limit.remaining = 17;
	ck_classify(HEALTH_HEALTHY, true);
}
END_TEST

START_TEST(test_low_quota_other_percent)
{
	r.rate_limit.limit = 200;
	p.rate_limit_low = 25;
	r.rate_limit.remaining = 50;
	ck_classify(HEALTH_HEALTHY, true);
	r.rate_limit.remaining = 49;
	ck_classify(HEALTH_DEGRADED, true);
	ck_text("200: rate limit low: 49 of 200 remaining (below 25%)");

	/* 0% turns the check off. */
	p.rate_limit_low = 0;
	r.rate_limit.remaining = 0;
	ck_classify(HEALTH_HEALTHY, true);

	/* 100%: low as soon as anything was spent. */
	p.rate_limit_low = 100;
	r.rate_limit.remaining = 200;
	ck_classify(HEALTH_HEALTHY, true);
	r.rate_limit.remaining = 199;
	ck_classify(HEALTH_DEGRADED, true);
}
END_TEST

START_TEST(test_low_quota_large_values)
{
	/* limit * 10 and remaining * 100 both overflow int64 here. */
	r.rate_limit.limit = INT64_MAX;
	r.rate_limit.remaining = INT64_MAX / 10;      /* just below 10% */
	ck_classify(HEALTH_DEGRADED, true);
	r.rate_limit.remaining = INT64_MAX / 10 + 1;  /* just above */
	ck_classify(HEALTH_HEALTHY, true);
	r.rate_limit.remaining = INT64_MAX;
	ck_classify(HEALTH_HEALTHY, true);

	r.rate_limit.limit = 1000000000000000000;      /* 1e18 */
	r.rate_limit.remaining = 100000000000000000;   /* exactly 10% */
	ck_classify(HEALTH_HEALTHY, true);
	r.rate_limit.remaining = 99999999999999999;
	ck_classify(HEALTH_DEGRADED, true);

	/* More remaining than the limit (a proxy adding headers): fine. */
	r.rate_limit.limit = 10;
	r.rate_limit.remaining = INT64_MAX;
	ck_classify(HEALTH_HEALTHY, true);
}
END_TEST

START_TEST(test_slow_and_low)
{
	r.latency_ms = 3400;
	r.rate_limit.limit = 1000;
	r.rate_limit.remaining = 5;
	ck_classify(HEALTH_DEGRADED, true);
	ck_text("200: slow: 3400 ms (limit 3000 ms); "
		"rate limit low: 5 of 1000 remaining (below 10%)");
}
END_TEST

START_TEST(test_missing_headers)
{
	r.rate_limit.remaining = 0;

	r.rate_limit.has_limit = false;
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");

	r.rate_limit.has_limit = true;
	r.rate_limit.has_remaining = false;
	ck_classify(HEALTH_HEALTHY, true);

	memset(&r.rate_limit, 0, sizeof(r.rate_limit));
	ck_classify(HEALTH_HEALTHY, true);

	/* The control: with both headers, remaining 0 is low. */
	r.rate_limit.has_limit = r.rate_limit.has_remaining = true;
	r.rate_limit.limit = 10000;
	ck_classify(HEALTH_DEGRADED, true);
}
END_TEST

START_TEST(test_limit_zero)
{
	r.rate_limit.limit = 0;
	r.rate_limit.remaining = 0;
	ck_classify(HEALTH_HEALTHY, true);
	ck_text("");
}
END_TEST

/* ---- 4xx ---- */

START_TEST(test_429)
{
	set_status(429, "Exceeded rate limit of 167 in 10_seconds");
	r.rate_limit.remaining = 0;
	ck_classify(HEALTH_DEGRADED, true);
	ck_text("429: Exceeded rate limit of 167 in 10_seconds");

	set_status(429, "");
	ck_text("429: Too Many Requests");
}
END_TEST

START_TEST(test_401)
{
	set_status(401, "Access Token Invalid");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("401: Access Token Invalid");

	set_status(401, "");
	ck_text("401: Unauthorized");
}
END_TEST

START_TEST(test_403)
{
	set_status(403, "api_plan_restricted");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("403: api_plan_restricted");

	set_status(403, "");
	ck_text("403: Forbidden");
}
END_TEST

START_TEST(test_404)
{
	set_status(404, "Resource Not Found");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("404: Resource Not Found");

	set_status(404, "");
	ck_text("404: Not Found");
}
END_TEST

START_TEST(test_other_4xx)
{
	set_status(418, "");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("418: I'm a Teapot");

	set_status(400, "Requested resource is not supported in this version");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("400: Requested resource is not supported in this version");

	set_status(499, "");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("499: client error");
}
END_TEST

/* ---- 5xx ---- */

static const struct {
	long status;
	const char *fallback;
} rows_5xx[] = {
	{ 500, "500: Internal Server Error" },
	{ 502, "502: Bad Gateway" },
	{ 503, "503: Service Unavailable" },
	{ 504, "504: Gateway Timeout" },
	{ 599, "599: server error" },
};

/* A loop test: each row is its own test result. */
START_TEST(test_5xx)
{
	set_status(rows_5xx[_i].status, "");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text(rows_5xx[_i].fallback);

	set_status(rows_5xx[_i].status, "server_error");
	ck_classify(HEALTH_UNHEALTHY, true);
	classify_error_text(&r, &p, text, sizeof(text));
	ck_assert_int_eq(strtol(text, NULL, 10), rows_5xx[_i].status);
	ck_assert_str_eq(text + 3, ": server_error");
}
END_TEST

START_TEST(test_5xx_html)
{
	set_status(504, "HTML error page (504 Gateway Time-out)");
	ck_classify(HEALTH_UNHEALTHY, true);
	ck_text("504: HTML error page (504 Gateway Time-out)");
}
END_TEST

/* ---- outside the table: 1xx, 3xx, nonsense ---- */

START_TEST(test_unexpected_status)
{
	set_status(302, "");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("302: unexpected redirect");

	set_status(101, "");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("101: unexpected interim response");

	set_status(600, "");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("600: unexpected HTTP status");

	set_status(0, "");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("no HTTP status");
}
END_TEST

/* ---- transport failures ---- */

static const struct {
	enum probe_transport t;
	const char *reason;
	const char *fallback;
} rows_transport[] = {
	{ PROBE_TRANSPORT_TIMEOUT, "timeout after 5000 ms", "timeout" },
	{ PROBE_TRANSPORT_CONNECT, "connection refused", "connection failed" },
	{ PROBE_TRANSPORT_DNS, "could not resolve api.intercom.io",
	  "DNS resolution failed" },
	{ PROBE_TRANSPORT_TLS, "certificate has expired",
	  "TLS handshake failed" },
	{ PROBE_TRANSPORT_PROTOCOL, "not an HTTP response",
	  "unparseable response" },
};

/* A loop test: each kind of failure is its own test result. */
START_TEST(test_transport_failures)
{
	set_transport(rows_transport[_i].t, rows_transport[_i].reason);
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text(rows_transport[_i].reason);

	set_transport(rows_transport[_i].t, "");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text(rows_transport[_i].fallback);
}
END_TEST

START_TEST(test_transport_failure_fast)
{
	/* Failing fast with full quota is still a failure. */
	set_transport(PROBE_TRANSPORT_CONNECT, "connection refused");
	r.latency_ms = 1;
	r.rate_limit.has_limit = r.rate_limit.has_remaining = true;
	r.rate_limit.limit = r.rate_limit.remaining = 10000;
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("connection refused");
}
END_TEST

START_TEST(test_is_success)
{
	static const struct {
		enum probe_transport transport;
		long status;
		bool success;
	} cases[] = {
		{ PROBE_TRANSPORT_OK, 200, true },
		{ PROBE_TRANSPORT_OK, 204, true },
		{ PROBE_TRANSPORT_OK, 299, true },
		{ PROBE_TRANSPORT_OK, 199, false },
		{ PROBE_TRANSPORT_OK, 300, false },
		{ PROBE_TRANSPORT_OK, 429, false },
		{ PROBE_TRANSPORT_TIMEOUT, 0, false },
		/* A status left from a transfer that then failed is no answer. */
		{ PROBE_TRANSPORT_TLS, 200, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe_result r = { .transport = cases[i].transport,
					  .http_status = cases[i].status };
		ck_assert_msg(classify_is_success(&r) == cases[i].success, "case %zu", i);
	}
}
END_TEST

START_TEST(test_200_unparseable)
{
	/* What the probe reports for a 2xx body that is not JSON. */
	r.transport = PROBE_TRANSPORT_PROTOCOL;
	set_status(200, "unparseable response");
	ck_classify(HEALTH_UNHEALTHY, false);
	ck_text("200: unparseable response");

	set_status(200, "HTML page instead of JSON");
	ck_text("200: HTML page instead of JSON");

	set_status(200, "");
	ck_text("200: unparseable response");
}
END_TEST

/* ---- the text buffer ---- */

START_TEST(test_text_truncation)
{
	char small[16];

	set_status(401, "Access Token Invalid");

	memset(small, 'Z', sizeof(small));
	classify_error_text(&r, &p, small, 1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(small[1], 'Z');

	memset(small, 'Z', sizeof(small));
	classify_error_text(&r, &p, small, 8);
	ck_assert_str_eq(small, "401: Ac");
	ck_assert_int_eq(small[8], 'Z');

	memset(small, 'Z', sizeof(small));
	classify_error_text(&r, &p, small, 0);
	ck_assert_int_eq(small[0], 'Z');

	/* A degraded 2xx with both reasons, cut in either part. */
	set_status(200, "");
	r.latency_ms = 3400;
	r.rate_limit.remaining = 1;
	for (size_t n = 1; n <= sizeof(small); n++) {
		memset(small, 'Z', sizeof(small));
		classify_error_text(&r, &p, small, n);
		ck_assert_uint_eq(strlen(small), n - 1);
		ck_assert_int_eq(strncmp(small, "200: slow: 3400 ms", n - 1), 0);
	}
}
END_TEST

START_TEST(test_text_bad_reason)
{
	/* An unterminated reason array is read no further than its size:
	 * on the heap, with reason its last member, so that valgrind and
	 * ASan see a read past it. */
	struct probe_result *h = malloc(sizeof(*h));

	ck_assert_ptr_nonnull(h);
	set_status(500, "");
	*h = r;
	memset(h->reason, 'x', sizeof(h->reason));
	classify_error_text(h, &p, text, sizeof(text));
	free(h);
	ck_assert_uint_eq(strlen(text), 5 + sizeof(r.reason));
	ck_assert_int_eq(strncmp(text, "500: xxx", 8), 0);

	set_transport(PROBE_TRANSPORT_TIMEOUT, "   ");
	ck_text("timeout");
}
END_TEST

/* ---- curl's code for a finished transfer, before any status is read */

static const struct {
	CURLcode code;
	bool truncated;
	const char *detail;
	bool answered;
	enum probe_transport t;
	const char *reason;
} rows_curl[] = {
	{ CURLE_OK, false, "", true, PROBE_TRANSPORT_OK, NULL },
	/* Our body callback stopped it: an answer, not a failure. */
	{ CURLE_WRITE_ERROR, true, "Failure writing output", true,
	  PROBE_TRANSPORT_OK, NULL },
	{ CURLE_WRITE_ERROR, false, "Failure writing output", false,
	  PROBE_TRANSPORT_CONNECT, "connection failed: Failure writing output" },
	/* The limit, not curl's words ("Operation timed out after 5001
	 * milliseconds with 0 bytes received"). */
	{ CURLE_OPERATION_TIMEDOUT, false, "Operation timed out after 5001 ms",
	  false, PROBE_TRANSPORT_TIMEOUT, "timeout after 5000 ms" },
	{ CURLE_COULDNT_RESOLVE_HOST, false, "Could not resolve host: api.intercom.io",
	  false, PROBE_TRANSPORT_DNS, "DNS failure: Could not resolve host: api.intercom.io" },
	{ CURLE_COULDNT_RESOLVE_PROXY, false, "", false, PROBE_TRANSPORT_DNS,
	  "DNS failure" },
	{ CURLE_PEER_FAILED_VERIFICATION, false,
	  "SSL certificate problem: unable to get local issuer certificate", false,
	  PROBE_TRANSPORT_TLS, "TLS failure: SSL certificate problem: unable to get "
	  "local issuer certificate" },
	{ CURLE_SSL_CONNECT_ERROR, false, "", false, PROBE_TRANSPORT_TLS,
	  "TLS failure" },
	{ CURLE_SSL_CACERT_BADFILE, false, "x", false, PROBE_TRANSPORT_TLS,
	  "TLS failure: x" },
	{ CURLE_WEIRD_SERVER_REPLY, false, "Unsupported HTTP version in response",
	  false, PROBE_TRANSPORT_PROTOCOL,
	  "unparseable response: Unsupported HTTP version in response" },
	{ CURLE_HTTP2, false, "", false, PROBE_TRANSPORT_PROTOCOL,
	  "unparseable response" },
	{ CURLE_BAD_CONTENT_ENCODING, false, "", false, PROBE_TRANSPORT_PROTOCOL,
	  "unparseable response" },
	{ CURLE_COULDNT_CONNECT, false, "Failed to connect to 127.0.0.1 port 1",
	  false, PROBE_TRANSPORT_CONNECT,
	  "connection failed: Failed to connect to 127.0.0.1 port 1" },
	{ CURLE_RECV_ERROR, false, "Connection reset by peer", false,
	  PROBE_TRANSPORT_CONNECT, "connection failed: Connection reset by peer" },
	{ CURLE_GOT_NOTHING, false, NULL, false, PROBE_TRANSPORT_CONNECT,
	  "connection failed" },
	/* curl's message comes as it is: one printable line of it. */
	{ CURLE_SEND_ERROR, false, " broken\r\n\tpipe\x01 ", false,
	  PROBE_TRANSPORT_CONNECT, "connection failed: broken pipe?" },
};

START_TEST(test_curl_codes)
{
	/* A status line came before the failure: it must not survive. */
	r.http_status = 200;
	r.transport = PROBE_TRANSPORT_TLS;
	strcpy(r.reason, "left over");
	struct probe_reason why;
	bool answered = classify_transfer(&r, rows_curl[_i].code,
					  rows_curl[_i].truncated,
					  rows_curl[_i].detail, 5000, &why);
	ck_assert_int_eq(answered, rows_curl[_i].answered);
	ck_assert_int_eq(r.transport, rows_curl[_i].t);
	if (answered) {
		/* The caller reads status and body; nothing is touched. */
		ck_assert_int_eq(r.http_status, 200);
		ck_assert_str_eq(r.reason, "left over");
		return;
	}
	ck_assert_int_eq(r.http_status, 0);
	/* Shown as request_complete() shows it. */
	response_reason_show(&why, NULL, r.reason, sizeof(r.reason));
	ck_assert_str_eq(r.reason, rows_curl[_i].reason);
	ck_classify(HEALTH_UNHEALTHY, false);
}
END_TEST

START_TEST(test_curl_long_detail)
{
	char detail[CURL_ERROR_SIZE];
	memset(detail, 'd', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	struct probe_reason why;
	ck_assert(!classify_transfer(&r, CURLE_RECV_ERROR, false, detail, 5000,
				     &why));
	/* curl's words stay raw until they are shown. */
	ck_assert_ptr_eq(why.text, detail);
	response_reason_show(&why, NULL, r.reason, sizeof(r.reason));
	/* Cut to fit with room to spare, and marked as cut. */
	ck_assert_uint_lt(strlen(r.reason), sizeof(r.reason));
	ck_assert_int_eq(strncmp(r.reason, "connection failed: ddd", 22), 0);
	ck_assert_str_eq(r.reason + strlen(r.reason) - 4, "d...");
}
END_TEST

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void
s_add_loop(Suite *s, const char *name, const TTest *test, int n)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test, 0, n);
	suite_add_tcase(s, tc);
}

static Suite *
classify_suite(void)
{
	Suite *s = suite_create("classify");
	/* Not static: START_TEST's names are pointers, not constants. */
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "state_names", test_state_names },
		{ "fast_2xx", test_fast_2xx },
		{ "slow_boundary", test_slow_boundary },
		{ "low_quota_boundary", test_low_quota_boundary },
		{ "low_quota_other_percent", test_low_quota_other_percent },
		{ "low_quota_large_values", test_low_quota_large_values },
		{ "slow_and_low", test_slow_and_low },
		{ "missing_headers", test_missing_headers },
		{ "limit_zero", test_limit_zero },
		{ "429", test_429 },
		{ "401", test_401 },
		{ "403", test_403 },
		{ "404", test_404 },
		{ "other_4xx", test_other_4xx },
		{ "5xx_html", test_5xx_html },
		{ "unexpected_status", test_unexpected_status },
		{ "transport_failure_fast", test_transport_failure_fast },
		{ "200_unparseable", test_200_unparseable },
		{ "is_success", test_is_success },
		{ "text_truncation", test_text_truncation },
		{ "text_bad_reason", test_text_bad_reason },
		{ "curl_long_detail", test_curl_long_detail },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	s_add_loop(s, "5xx", test_5xx, ARRAY_LEN(rows_5xx));
	s_add_loop(s, "transport_failures", test_transport_failures,
		   ARRAY_LEN(rows_transport));
	s_add_loop(s, "curl_codes", test_curl_codes, ARRAY_LEN(rows_curl));
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(classify_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
