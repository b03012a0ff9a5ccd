#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "health.h"

/*
 * The state over time (health.c): damping, staleness, back-off and the
 * counters, driven by hand-made probe results.
 */

static const struct health_params params = {
	.classify = { .degraded_latency_ms = 3000, .rate_limit_low = 10 },
	.failure_threshold = 3,
	.success_threshold = 2,
	.interval_ms = 15000,
	.timeout_ms = 5000,
	.stale_after_ms = 35000,
};

static struct probe_result
probe(long status, int64_t at_ms)
{
	struct probe_result r;
	memset(&r, 0, sizeof(r));
	r.transport = PROBE_TRANSPORT_OK;
	r.http_status = status;
	r.started_ms = at_ms - 100;
	r.finished_ms = at_ms;
	r.finished_mono_ms = at_ms;
	r.latency_ms = 100;
	r.retry_after_s = -1;
	r.server_date_s = -1;
	if (status >= 400)
		strcpy(r.reason, "Server Error");
	return r;
}

static struct probe_result
timeout_probe(int64_t at_ms)
{
	struct probe_result r = probe(0, at_ms);
	r.transport = PROBE_TRANSPORT_TIMEOUT;
	r.latency_ms = 5000;
	strcpy(r.reason, "timeout after 5000 ms");
	return r;
}

START_TEST(starts_unhealthy_without_a_probe)
{
	struct health_snapshot s;
	health_init(&s, &params, 1000, 1000);
	struct health_view v;
	health_view(&s, 2000, &v);
	ck_assert_int_eq(v.state, HEALTH_UNHEALTHY);
	ck_assert(!v.authenticated);
	ck_assert(v.live);
	ck_assert_str_eq(v.error, "no probe has finished yet");
}
END_TEST

START_TEST(first_probe_is_taken_as_it_is)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result r = probe(200, 1000);
	ck_assert(health_record_probe(&s, &params, &r));
	ck_assert_int_eq(s.state, HEALTH_HEALTHY);
	ck_assert_str_eq(s.error, "");
}
END_TEST

START_TEST(failure_threshold_three)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result ok = probe(200, 1000);
	health_record_probe(&s, &params, &ok);

	struct probe_result bad = probe(500, 2000);
	ck_assert(!health_record_probe(&s, &params, &bad));
	ck_assert_int_eq(s.state, HEALTH_HEALTHY);
	ck_assert_int_eq(s.consecutive_failures, 1);
	ck_assert(!health_record_probe(&s, &params, &bad));
	ck_assert_int_eq(s.state, HEALTH_HEALTHY);
	ck_assert(health_record_probe(&s, &params, &bad));
	ck_assert_int_eq(s.state, HEALTH_UNHEALTHY);
	ck_assert_str_eq(s.error, "500: Server Error");
}
END_TEST

START_TEST(a_good_probe_breaks_the_failure_streak)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result ok = probe(200, 1000), bad = probe(500, 2000);
	health_record_probe(&s, &params, &ok);
	health_record_probe(&s, &params, &bad);
	health_record_probe(&s, &params, &bad);
	health_record_probe(&s, &params, &ok);
	health_record_probe(&s, &params, &bad);
	health_record_probe(&s, &params, &bad);
	ck_assert_int_eq(s.state, HEALTH_HEALTHY);
	health_record_probe(&s, &params, &bad);
	ck_assert_int_eq(s.state, HEALTH_UNHEALTHY);
}
END_TEST

START_TEST(success_threshold_two_keeps_the_reason)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result ok = probe(200, 1000), bad = probe(500, 2000);
	health_record_probe(&s, &params, &bad);
	ck_assert_int_eq(s.state, HEALTH_UNHEALTHY);
	ck_assert(!health_record_probe(&s, &params, &ok));
	ck_assert_int_eq(s.state, HEALTH_UNHEALTHY);
	/* Still unhealthy: say why, not "". */
	ck_assert_str_eq(s.error, "500: Server Error");
	ck_assert_int_eq(s.consecutive_successes, 1);
	ck_assert(health_record_probe(&s, &params, &ok));
	ck_assert_int_eq(s.state, HEALTH_HEALTHY);
	ck_assert_str_eq(s.error, "");
}
END_TEST

START_TEST(mixed_streak_moves_to_the_mildest)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result ok = probe(200, 1000);
	struct probe_result limited = probe(429, 2000);
	struct probe_result bad = probe(500, 3000);
	health_record_probe(&s, &params, &ok);
	health_record_probe(&s, &params, &limited);
	health_record_probe(&s, &params, &bad);
	health_record_probe(&s, &params, &bad);
	ck_assert_int_eq(s.state, HEALTH_DEGRADED);
}
END_TEST

START_TEST(stale_after_the_deadline)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result ok = probe(200, 1000);
	health_record_probe(&s, &params, &ok);
	struct health_view v;
	health_view(&s, 1000 + 35000, &v);
	ck_assert(v.live);
	ck_assert_int_eq(v.state, HEALTH_HEALTHY);
	health_view(&s, 1000 + 35001, &v);
	ck_assert(!v.live);
	ck_assert(v.stale);
	ck_assert_int_eq(v.state, HEALTH_UNHEALTHY);
	ck_assert(!v.authenticated);
	ck_assert_ptr_nonnull(strstr(v.error, "stale"));
}
END_TEST

START_TEST(never_probed_goes_stale_too)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct health_view v;
	health_view(&s, 35001, &v);
	ck_assert(!v.live);
	ck_assert_ptr_nonnull(strstr(v.error, "stale"));
}
END_TEST

START_TEST(backoff_extends_the_stale_deadline)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result r = probe(429, 1000);
	health_record_probe(&s, &params, &r);
	/* Told to wait 60 s: longer than stale_after (35 s). */
	health_schedule(&s, &params, 61000, 61000, true);
	ck_assert_int_eq(s.backoff_until_ms, 61000);
	struct health_view v;
	health_view(&s, 60000, &v);
	ck_assert(v.live);
	ck_assert_int_eq(v.state, HEALTH_DEGRADED);
	/* The probe after the wait still gets stale_after - interval. */
	health_view(&s, 61000 + 20000, &v);
	ck_assert(v.live);
	health_view(&s, 61000 + 20001, &v);
	ck_assert(!v.live);
}
END_TEST

START_TEST(backoff_sources_and_clamps)
{
	struct probe_result r = probe(429, 1000);
	int64_t now = 1700000000000;

	/* No header: one 10-second window. */
	ck_assert_int_eq(health_backoff_ms(&r, now), 10000);

	r.retry_after_s = 7;
	ck_assert_int_eq(health_backoff_ms(&r, now), 7000);
	r.retry_after_s = 3600;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);
	r.retry_after_s = -1;

	/* Reset against the server's own Date: local skew does not count. */
	r.rate_limit.has_reset = true;
	r.rate_limit.reset = 1000000005;
	r.server_date_s = 1000000000;
	ck_assert_int_eq(health_backoff_ms(&r, now), 6000);

	/* Reset in the past (skewed server) never waits negatively. */
	r.rate_limit.reset = 999999000;
	ck_assert_int_eq(health_backoff_ms(&r, now), 0);

	/* No Date: against our clock, clamped. */
	r.server_date_s = -1;
	r.rate_limit.reset = now / 1000 + 4;
	ck_assert_int_eq(health_backoff_ms(&r, now), 4000);
	r.rate_limit.reset = now / 1000 + 100000;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);

	/* Hostile extremes saturate instead of wrapping to "no wait". */
	r.server_date_s = -1;
	r.rate_limit.reset = INT64_MAX;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);
	r.server_date_s = 0;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);
	r.rate_limit.reset = INT64_MIN;
	r.server_date_s = INT64_MAX;
	ck_assert_int_eq(health_backoff_ms(&r, now), 0);
	r.rate_limit.has_reset = false;
	r.retry_after_s = INT64_MAX;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);
	r.retry_after_s = INT64_MAX / 1000 + 1;
	ck_assert_int_eq(health_backoff_ms(&r, now), HEALTH_BACKOFF_MAX_MS);
	r.retry_after_s = -1;

	/* Not a 429: no back-off. */
	struct probe_result ok = probe(200, 1000);
	ck_assert_int_eq(health_backoff_ms(&ok, now), 0);
}
END_TEST

START_TEST(counters_and_histogram)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result a = probe(200, 1000), b = probe(401, 2000);
	struct probe_result t = timeout_probe(3000);
	a.latency_ms = 40;   /* <= 0.05 */
	b.latency_ms = 2500; /* <= 3 */
	health_record_probe(&s, &params, &a);
	health_record_probe(&s, &params, &a);
	health_record_probe(&s, &params, &b);
	health_record_probe(&s, &params, &t);
	ck_assert_uint_eq(s.probes_total, 4);
	ck_assert_int_eq(s.n_codes, 3);
	ck_assert_int_eq(s.codes[0].code, 200);
	ck_assert_uint_eq(s.codes[0].count, 2);
	ck_assert_int_eq(s.codes[1].code, 401);
	ck_assert_int_eq(s.codes[2].code, 0);
	ck_assert_uint_eq(s.buckets[0], 2);
	ck_assert_uint_eq(s.buckets[6], 1); /* 3 s */
	ck_assert_uint_eq(s.buckets[7], 1); /* 5 s */
	ck_assert_double_eq_tol(s.duration_sum_s, 0.04 * 2 + 2.5 + 5, 1e-9);
	ck_assert_int_eq(s.last_success_ms, 1000);
	ck_assert(!s.authenticated);
}
END_TEST

START_TEST(code_labels_are_bounded)
{
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	for (long code = 400; code < 460; code++) {
		struct probe_result r = probe(code, 1000);
		health_record_probe(&s, &params, &r);
	}
	ck_assert_int_eq(s.n_codes, HEALTH_MAX_CODES);
	ck_assert_int_eq(s.codes[HEALTH_MAX_CODES - 1].code, -1);
	uint64_t sum = 0;
	for (int i = 0; i < s.n_codes; i++)
		sum += s.codes[i].count;
	ck_assert_uint_eq(sum, 60);
}
END_TEST

START_TEST(store_round_trip)
{
	struct health_snapshot s, out;
	health_init(&s, &params, 0, 0);
	struct health_store store;
	health_store_init(&store, &s);
	struct probe_result r = probe(200, 1000);
	health_record_probe(&s, &params, &r);
	uint64_t g1 = health_store_read(&store, &out);
	ck_assert(!out.probed);
	health_store_publish(&store, &s);
	uint64_t g2 = health_store_read(&store, &out);
	ck_assert(out.probed);
	ck_assert_uint_gt(g2, g1);
	health_store_finish(&store);
}
END_TEST

START_TEST(success_and_quota_recorded_once)
{
	/* Readers (render, check) use what was recorded here, so the 2xx
	 * and quota tests live in one place. */
	struct health_snapshot s;
	health_init(&s, &params, 0, 0);
	struct probe_result r = probe(204, 1000);
	r.rate_limit = (struct rate_limit){ .has_limit = true, .has_remaining = true,
					    .limit = 1000, .remaining = 99 };
	health_record_probe(&s, &params, &r);
	ck_assert(s.last_success);
	ck_assert(s.quota_low);
	r = probe(429, 2000);
	health_record_probe(&s, &params, &r);
	ck_assert(!s.last_success);
	/* No new headers: the last-known quota is still low. */
	ck_assert(s.quota_low);
	r = timeout_probe(3000);
	r.rate_limit = (struct rate_limit){ .has_limit = true, .has_remaining = true,
					    .limit = 1000, .remaining = 100 };
	health_record_probe(&s, &params, &r);
	ck_assert(!s.last_success);
	ck_assert(!s.quota_low);
}
END_TEST

START_TEST(status_page_and_webhook_recorded)
{
	struct health_params p = params;
	p.status_page_enabled = true;
	struct health_snapshot s;
	health_init(&s, &p, 0, 0);
	ck_assert(s.status_page.enabled);
	ck_assert(!s.webhook.enabled);

	struct probe_result r = probe(200, 1000);
	ck_assert(health_record_status_page(&s, &r, PAGE_MINOR, "Partial outage"));
	ck_assert_int_eq(s.status_page.indicator, PAGE_MINOR);
	ck_assert_str_eq(s.status_page.description, "Partial outage");
	ck_assert_int_eq(s.status_page.checked_ms, 1000);
	/* The same indicator again is no news. */
	ck_assert(!health_record_status_page(&s, &r, PAGE_MINOR, "Partial outage"));
	/* A 200 without a known indicator, and a failed read. */
	ck_assert(health_record_status_page(&s, &r, PAGE_UNKNOWN, ""));
	ck_assert_str_eq(s.status_page.error, "no known status.indicator in the status page");
	r = probe(503, 2000);
	health_record_status_page(&s, &r, PAGE_NONE, "ignored");
	ck_assert_int_eq(s.status_page.indicator, PAGE_UNKNOWN);
	ck_assert_str_eq(s.status_page.error, "503: Server Error");
	ck_assert_str_eq(s.status_page.description, "");

	/* The webhook: up below 500, news on the first read and on flips. */
	r = probe(405, 3000);
	ck_assert(health_record_webhook(&s, &r));
	ck_assert(s.webhook.up);
	ck_assert(!health_record_webhook(&s, &r));
	r = probe(502, 4000);
	ck_assert(health_record_webhook(&s, &r));
	ck_assert(!s.webhook.up);
	ck_assert_str_eq(s.webhook.error, "502 from HEAD");
	r = timeout_probe(5000);
	ck_assert(!health_record_webhook(&s, &r));
	ck_assert_str_eq(s.webhook.error, "timeout after 5000 ms");
	ck_assert_int_eq(s.webhook.http_status, 0);
}
END_TEST

static Suite *
health_suite(void)
{
	Suite *s = suite_create("health");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "start", starts_unhealthy_without_a_probe },
		{ "first probe", first_probe_is_taken_as_it_is },
		{ "failure threshold", failure_threshold_three },
		{ "streak broken", a_good_probe_breaks_the_failure_streak },
		{ "success threshold", success_threshold_two_keeps_the_reason },
		{ "mixed streak", mixed_streak_moves_to_the_mildest },
		{ "stale", stale_after_the_deadline },
		{ "stale unprobed", never_probed_goes_stale_too },
		{ "backoff stale", backoff_extends_the_stale_deadline },
		{ "backoff", backoff_sources_and_clamps },
		{ "counters", counters_and_histogram },
		{ "code labels", code_labels_are_bounded },
		{ "store", store_round_trip },
		{ "success and quota", success_and_quota_recorded_once },
		{ "status page and webhook", status_page_and_webhook_recorded },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(health_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
