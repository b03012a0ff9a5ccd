#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"

/*
 * Production health semantics end to end: /livez, /readyz, /metrics,
 * damping, staleness, 429 back-off, the status page and the webhook.
 */

static struct daemon daemon_;

static long
get_status(struct daemon *d, const char *path, char **body)
{
	struct http_reply r;
	http_request(d->port, NULL, path, NULL, &r);
	long status = r.status;
	if (body)
		*body = strdup(r.body);
	http_reply_free(&r);
	return status;
}

START_TEST(livez_stays_up_through_intercom_failures)
{
	/* Every answer below is unhealthy however long it takes, so a
	 * probe lost to a loaded machine changes nothing; stale_after (3 s)
	 * must still leave room for one. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);

	const char *knobs[] = { "me=error&code=401", "me=error&code=500",
				"me=error&code=503", "me=hang", "me=reset" };
	for (size_t i = 0; i < 5; i++) {
		fake_set(&harness_fake, knobs[i]);
		cJSON *doc = wait_probe_after_change(&daemon_, &harness_fake, NULL,
						     NULL, 5000);
		ck_assert_msg(strcmp(json_str(doc, "status"), "unhealthy") == 0,
			      "%s: %s", knobs[i], json_str(doc, "status"));
		cJSON_Delete(doc);
		ck_assert_msg(get_status(&daemon_, "/livez", NULL) == 200,
			      "/livez failed during %s", knobs[i]);
		ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 503);
	}
	daemon_stop(&daemon_);
}
END_TEST

static bool
pred_stale(cJSON *health, void *arg)
{
	(void)arg;
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(intercom_of(health),
							     "stale"));
}

START_TEST(livez_fails_when_the_worker_is_wedged)
{
	char wedge[512];
	harness_path(wedge, sizeof(wedge), "wedge");
	unlink(wedge);
	char wedge_env[600];
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);

	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--stale-after=3s", NULL };
	const char *const env[] = { wedge_env, NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"),
			      args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);

	/* Wedge: the worker stops turning; HTTP keeps serving. */
	int fd = open(wedge, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	cJSON *doc = wait_health(&daemon_, pred_stale, NULL, 5000,
				 "stale after the wedge");
	ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
	cJSON *ic = intercom_of(doc);
	ck_assert_ptr_nonnull(strstr(json_str(ic, "error"), "stale"));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ic, "authenticated")));
	cJSON_Delete(doc);
	char *body;
	ck_assert_int_eq(get_status(&daemon_, "/livez", &body), 503);
	ck_assert_ptr_nonnull(strstr(body, "stale"));
	free(body);
	ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 503);
	ck_assert_double_eq(metric_value(&daemon_, "intercom_healthd_stale"), 1);

	/* Unwedge: it recovers by itself. */
	unlink(wedge);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000,
				 "recovery after the wedge"));
	ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);
	daemon_stop(&daemon_);
}
END_TEST

/*
 * Polls /health until counter (consecutiveFailures or
 * consecutiveSuccesses) reaches threshold. Every document read meanwhile
 * must show `from` below the threshold and `to` at it, and the polling
 * must have seen both the probe before the threshold and the one at it:
 * so a threshold one higher or lower fails. One document holds both the
 * counter and the state, so no probe can slip in between them.
 */
static void
assert_threshold(const char *counter, long threshold, const char *from,
		 const char *to)
{
	bool before = false, at = false;
	long long deadline = harness_deadline(10000);
	for (;;) {
		cJSON *doc = get_health(&daemon_, NULL);
		cJSON *n = cJSON_GetObjectItemCaseSensitive(intercom_of(doc), counter);
		ck_assert_msg(cJSON_IsNumber(n), "no %s in /health", counter);
		long streak = (long)n->valuedouble;
		const char *status = json_str(doc, "status");
		const char *want = streak < threshold ? from : to;
		ck_assert_msg(status && strcmp(status, want) == 0,
			      "%s %ld: %s, want %s", counter, streak, status, want);
		cJSON_Delete(doc);
		before = before || streak == threshold - 1;
		at = at || streak == threshold;
		if (streak >= threshold)
			break;
		ck_assert_msg(now_ms() < deadline, "%s stuck at %ld", counter, streak);
		sleep_ms(10);
	}
	ck_assert_msg(before && at, "%s: never saw %ld and then %ld; probes came "
		      "faster than /health was read", counter, threshold - 1,
		      threshold);
}

/*
 * The damping itself is health.c's, unit-tested in test-health.c; this
 * proves the flags reach it. 3 and 2: neither the default (1) nor each
 * other, so that a flag ignored or two flags swapped show.
 */
START_TEST(damping_thresholds_come_from_the_flags)
{
	/* A probe lost to a loaded machine counts as a failure too: the
	 * streaks only run longer, and the assertions hold. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--failure-threshold=3",
				     "--success-threshold=2", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	fake_set(&harness_fake, "me=error&code=500");
	assert_threshold("consecutiveFailures", 3, "healthy", "unhealthy");
	fake_set(&harness_fake, "me=ok&code=200");
	assert_threshold("consecutiveSuccesses", 2, "unhealthy", "healthy");
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(rate_limited_probe_waits_for_the_reset)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	/* 429 with a reset 4-5 s ahead (whole seconds, as Intercom sends):
	 * without it, the daemon would ask again within 1.1 s. */
	time_t reset = time(NULL) + 5;
	char knobs[128];
	snprintf(knobs, sizeof(knobs), "me=error&code=429&reset_at=%lld",
		 (long long)reset);
	fake_set(&harness_fake, knobs);
	cJSON *doc = wait_health(&daemon_, pred_status, "degraded", 5000, "429");
	cJSON *ic = intercom_of(doc);
	ck_assert_ptr_nonnull(json_str(ic, "backoffUntil"));
	cJSON_Delete(doc);
	fake_reset(&harness_fake);
	/* Quota back: the stand-in would answer 200 now, but the daemon must
	 * not ask before the reset time. The 429 itself may have come late
	 * on a loaded machine: what is asserted is the order. */
	fake_set(&harness_fake, "me=ok&code=200");

	while (wall_ms() < (long long)reset * 1000 - 200) {
		ck_assert_int_eq(fake_requests(&harness_fake, "me"), 0);
		/* Degraded throughout, never stale, /livez fine. */
		doc = get_health(&daemon_, NULL);
		ck_assert_str_eq(json_str(doc, "status"), "degraded");
		ck_assert(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			intercom_of(doc), "stale")));
		cJSON_Delete(doc);
		ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);
		sleep_ms(100);
	}
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 6000,
				 "a probe after the reset"));
	cJSON *stats = fake_stats(&harness_fake);
	cJSON *times = cJSON_GetObjectItemCaseSensitive(stats, "me_times_ms");
	cJSON *first = cJSON_GetArrayItem(times, 0);
	ck_assert(cJSON_IsNumber(first));
	ck_assert_msg(first->valuedouble >= (double)reset * 1000.0,
		      "probed at %.0f ms, before the reset at %lld s", first->valuedouble,
		      (long long)reset);
	cJSON_Delete(stats);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(retry_after_is_honoured)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	/* Retry-After: 4 where the interval is 1 s, and a reset that says
	 * "now": only the header holds the daemon back. Watched for 2.5 s
	 * from when /health shows the 429 (which is after it came). */
	fake_set(&harness_fake, "me=error&code=429&retry_after=4&reset_in=0");
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 5000, "429"));
	long long t0 = now_ms();
	fake_reset(&harness_fake);
	fake_set(&harness_fake, "me=ok&code=200");
	while (now_ms() - t0 < 2500) {
		ck_assert_int_eq(fake_requests(&harness_fake, "me"), 0);
		sleep_ms(100);
	}
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000,
				 "a probe after Retry-After"));
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(low_quota_degrades_and_degraded_ok_answers_200)
{
	fake_set(&harness_fake, "limit=1000&remaining=50");
	const char *const args[] = { "--interval=2s", "--timeout=1500ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	/* Every answer is the same: waiting for the state, not for the first
	 * probe, lets a probe that timed out on a loaded machine pass by. */
	cJSON *doc = wait_health(&daemon_, pred_status, "degraded", 5000,
				 "degraded");
	ck_assert_ptr_nonnull(strstr(json_str(intercom_of(doc), "error"),
				     "rate limit low"));
	cJSON_Delete(doc);
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 503);
	ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 503);
	daemon_stop(&daemon_);

	const char *const ok_args[] = { "--interval=2s", "--timeout=1500ms",
					"--degraded-ok", NULL };
	daemon_start_fake(&daemon_, &harness_fake, ok_args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 5000, "degraded"));
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 200);
	ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 200);

	/* Above the threshold again: healthy. */
	fake_set(&harness_fake, "remaining=500");
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "quota back"));
	daemon_stop(&daemon_);
}
END_TEST

/* One step of the side checks: what the status page and the webhook
 * endpoint answer, and what /health must show for it. */
struct side_step {
	const char *page;          /* the stand-in's page= knob */
	const char *indicator;     /* statusPage.indicator */
	const char *page_error;    /* in statusPage.error; NULL: none */
	long webhook_code;         /* the stand-in's webhook_code= knob */
};

/* Each step changes both answers from the step before and the second
 * half's first from the stand-in's defaults (none, 200), so that waiting
 * for both to show cannot be satisfied by what came before. */
static const struct side_step side_steps[] = {
	{ "none", "none", NULL, 200 },
	{ "minor", "minor", NULL, 404 },
	{ "major", "major", NULL, 500 },
	{ "critical", "critical", NULL, 503 },
	{ "garbage", "unknown", "200: unparseable", 204 },
	{ "500", "unknown", "500: ", 200 },
};

static bool
pred_side_step(cJSON *health, void *arg)
{
	const struct side_step *step = arg;
	cJSON *services = cJSON_GetObjectItemCaseSensitive(health, "services");
	cJSON *page = cJSON_GetObjectItemCaseSensitive(services, "statusPage");
	cJSON *hook = cJSON_GetObjectItemCaseSensitive(services, "webhook");
	const char *indicator = json_str(page, "indicator");
	const char *error = json_str(page, "error");
	cJSON *code = cJSON_GetObjectItemCaseSensitive(hook, "httpStatus");
	/* Healthy too: neither side check moves the overall state (a probe
	 * that timed out on a loaded machine may, until the next one). */
	return indicator && strcmp(indicator, step->indicator) == 0 &&
	       (step->page_error ? error && strstr(error, step->page_error)
				 : error == NULL) &&
	       cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(hook, "up")) &&
	       cJSON_IsNumber(code) && (long)code->valuedouble == step->webhook_code &&
	       pred_status(health, "healthy");
}

/* Serves against f with its status page and webhook endpoint, both
 * checked every second: the least status_interval allows. */
static void
start_side_checks(struct daemon *d, struct fake *f)
{
	char status_url[160], webhook_url[160], sarg[200], warg[200];
	fake_url(f, "/api/v2/status.json", status_url, sizeof(status_url));
	snprintf(sarg, sizeof(sarg), "--status-url=%s", status_url);
	fake_url(f, "/webhook", webhook_url, sizeof(webhook_url));
	snprintf(warg, sizeof(warg), "--webhook-url=%s", webhook_url);
	/* daemon_start_fake adds --status-url=off first; ours comes later
	 * and the last flag wins. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--status-interval=1s", sarg, warg, NULL };
	daemon_start_fake(d, f, args);
}

/* The stand-in's knobs for step, as a /set query, into out. */
static void
side_step_knobs(const struct side_step *step, char *out, size_t size)
{
	snprintf(out, size, "page=%s&webhook_code=%ld", step->page,
		 step->webhook_code);
}

/* Waits until d shows step, then asserts /health and /metrics agree. */
static void
assert_side_step(struct daemon *d, const struct side_step *step)
{
	static const char *const indicators[] = { "none", "minor", "major", "critical" };
	char knobs[64];
	side_step_knobs(step, knobs, sizeof(knobs));
	cJSON_Delete(wait_health(d, pred_side_step, (void *)step, 5000, knobs));
	ck_assert_int_eq(get_status(d, "/health", NULL), 200);
	char *metrics = metrics_text(d);
	for (size_t k = 0; k < 4; k++) {
		char series[96];
		snprintf(series, sizeof(series),
			 "intercom_status_page_indicator{indicator=\"%s\"}",
			 indicators[k]);
		ck_assert_msg(metric_in(metrics, series) ==
			      (strcmp(indicators[k], step->indicator) == 0),
			      "%s: %s is %g", knobs, series, metric_in(metrics, series));
	}
	ck_assert_msg(metric_in(metrics, "intercom_webhook_up") ==
		      (step->webhook_code < 500), "%s: intercom_webhook_up is %g",
		      knobs, metric_in(metrics, "intercom_webhook_up"));
	free(metrics);
}

/*
 * The status page and the webhook endpoint are informational. A step
 * costs a status interval (1 s) of waiting, not work: two daemons, each
 * against a stand-in of its own, take half the steps each side by side.
 */
START_TEST(side_checks_are_informational)
{
	struct fake second;
	struct daemon other;
	fake_start(&second, TEST_TOKEN);
	start_side_checks(&daemon_, &harness_fake);
	start_side_checks(&other, &second);

	const size_t half = sizeof(side_steps) / sizeof(side_steps[0]) / 2;
	for (size_t i = 0; i < half; i++) {
		char knobs[64];
		side_step_knobs(&side_steps[i], knobs, sizeof(knobs));
		fake_set(&harness_fake, knobs);
		side_step_knobs(&side_steps[half + i], knobs, sizeof(knobs));
		fake_set(&second, knobs);
		assert_side_step(&daemon_, &side_steps[i]);
		assert_side_step(&other, &side_steps[half + i]);
	}
	ck_assert_int_ge(fake_requests(&harness_fake, "status"), (long)half);
	ck_assert_int_ge(fake_requests(&harness_fake, "webhook"), (long)half);
	ck_assert_int_ge(fake_requests(&second, "status"), (long)half);
	ck_assert_int_ge(fake_requests(&second, "webhook"), (long)half);
	daemon_stop(&other);
	daemon_stop(&daemon_);
	fake_stop(&second);
}
END_TEST

START_TEST(health_json_ietf_format)
{
	const char *const args[] = { "--interval=2s", "--timeout=1500ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	struct {
		const char *knobs;
		const char *want;
		long code;
		const char *state;      /* what /health says meanwhile */
	} cases[] = {
		{ "me=ok&code=200", "pass", 200, "healthy" },
		/* The draft: warn answers 2xx, whatever degraded_ok says. */
		{ "me=ok&code=200&remaining=1", "warn", 200, "degraded" },
		{ "me=error&code=401", "fail", 503, "unhealthy" },
	};
	for (size_t i = 0; i < 3; i++) {
		/* The first are the stand-in's defaults: probed already. */
		if (i > 0) {
			fake_set(&harness_fake, cases[i].knobs);
			cJSON_Delete(wait_probe_after_change(&daemon_, &harness_fake,
							     pred_status,
							     (void *)cases[i].state,
							     5000));
		}
		struct http_reply r;
		http_request(daemon_.port, NULL, "/health",
			     "application/health+json", &r);
		ck_assert_int_eq(r.status, cases[i].code);
		char *type = http_header(&r, "Content-Type");
		ck_assert_str_eq(type, "application/health+json");
		free(type);
		cJSON *doc = cJSON_Parse(r.body);
		ck_assert_msg(doc, "not JSON: %s", r.body);
		ck_assert_str_eq(json_str(doc, "status"), cases[i].want);
		cJSON *checks = cJSON_GetObjectItemCaseSensitive(doc, "checks");
		cJSON *rt = cJSON_GetObjectItemCaseSensitive(checks, "intercom:responseTime");
		ck_assert(cJSON_IsArray(rt));
		cJSON *item = cJSON_GetArrayItem(rt, 0);
		ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(item, "observedValue")));
		ck_assert_str_eq(json_str(item, "observedUnit"), "ms");
		ck_assert_str_eq(json_str(item, "status"), cases[i].want);
		ck_assert_ptr_nonnull(json_str(item, "time"));
		if (i > 0)
			ck_assert_ptr_nonnull(json_str(doc, "output"));
		cJSON_Delete(doc);
		http_reply_free(&r);
	}
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(metrics_pass_promtool_and_match_the_stand_in)
{
	/* A probe lost to a loaded machine counts under "error", which the
	 * assertions allow for. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	char status_url[160], sarg[200], webhook_url[160], warg[200];
	fake_url(&harness_fake, "/api/v2/status.json", status_url, sizeof(status_url));
	snprintf(sarg, sizeof(sarg), "--status-url=%s", status_url);
	fake_url(&harness_fake, "/webhook", webhook_url, sizeof(webhook_url));
	snprintf(warg, sizeof(warg), "--webhook-url=%s", webhook_url);
	const char *const all[] = { args[0], args[1], sarg, warg, NULL };
	daemon_start_fake(&daemon_, &harness_fake, all);
	/* Every answer the table below counts, each as many times as
	 * asked: waited for by what /metrics counts, so that a probe timing
	 * out on a loaded machine (counted under "error") only adds one. */
	const struct {
		const char *knobs;         /* NULL: the stand-in's defaults */
		const char *series;
		double more;
	} phases[] = {
		{ NULL, "intercom_probes_total{code=\"200\"}", 3 },
		{ "me=error&code=401", "intercom_probes_total{code=\"401\"}", 2 },
		{ "me=hang", "intercom_probes_total{code=\"error\"}", 1 },
		{ "me=error&code=503", "intercom_probes_total{code=\"503\"}", 1 },
		{ "me=ok&code=200", "intercom_probes_total{code=\"200\"}", 1 },
	};
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		double before = metric_value(&daemon_, phases[i].series);
		if (phases[i].knobs)
			fake_set(&harness_fake, phases[i].knobs);
		wait_metric(&daemon_, phases[i].series,
			    (before > 0 ? before : 0) + phases[i].more, 5000);
	}

	struct http_reply r;
	http_request(daemon_.port, NULL, "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	char *type = http_header(&r, "Content-Type");
	ck_assert_ptr_nonnull(strstr(type, "text/plain; version=0.0.4"));
	free(type);

	char *lint;
	int lint_status = promtool_check(r.body, r.body_len, &lint);
	if (lint_status != 0 || lint[0] != '\0') {
		/* Check caps a message at a few KiB: /metrics goes to stderr. */
		fprintf(stderr, "--- /metrics:\n%s", r.body);
		ck_abort_msg("promtool exit %d: %.1000s", lint_status, lint);
	}
	free(lint);

	/* Every contract metric is there. */
	const char *names[] = {
		"intercom_health_state{state=\"healthy\"}",
		"intercom_probe_success", "intercom_probe_duration_seconds_bucket{le=\"3\"}",
		"intercom_probes_total{code=\"200\"}", "intercom_authenticated",
		"intercom_rate_limit_limit", "intercom_rate_limit_remaining",
		"intercom_rate_limit_reset_timestamp_seconds",
		"intercom_last_probe_timestamp_seconds",
		"intercom_last_success_timestamp_seconds",
		"intercom_status_page_indicator{indicator=\"none\"}",
		"intercom_webhook_up", "intercom_healthd_build_info{version=",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strstr(r.body, names[i]), "no %s in:\n%.2000s", names[i],
			      r.body);
	http_reply_free(&r);

	/* Counters agree with what the stand-in saw. A probe may be in
	 * flight at any moment: compare when none is (the count did not move
	 * across the stand-in's answer). Every probe the stand-in answered is
	 * counted; a probe it never saw can only be a transport error (on a
	 * loaded machine a 400 ms timeout can strike in the TLS handshake). */
	bool matched = false;
	double count = 0, lost = 0;
	long seen = 0;
	for (int i = 0; i < 100 && !matched; i++) {
		count = metric_value(&daemon_, "intercom_probe_duration_seconds_count");
		lost = metric_value(&daemon_, "intercom_probes_total{code=\"error\"}");
		seen = fake_requests(&harness_fake, "me");
		double again = metric_value(&daemon_, "intercom_probe_duration_seconds_count");
		matched = count == again && (double)seen <= count &&
			  count - (double)seen <= lost;
		if (!matched)
			sleep_ms(37);
	}
	ck_assert_msg(matched, "stand-in saw %ld probes, /metrics counts %g (%g errors)",
		      seen, count, lost);
	/* Every probe under one of the codes it got, none elsewhere. */
	char *text = metrics_text(&daemon_);
	double ok = metric_in(text, "intercom_probes_total{code=\"200\"}");
	double unauthorized = metric_in(text, "intercom_probes_total{code=\"401\"}");
	double unavailable = metric_in(text, "intercom_probes_total{code=\"503\"}");
	double errors = metric_in(text, "intercom_probes_total{code=\"error\"}");
	count = metric_in(text, "intercom_probe_duration_seconds_count");
	free(text);
	ck_assert_double_eq(ok + unauthorized + unavailable + errors, count);
	daemon_stop(&daemon_);
}
END_TEST

static bool
ready_healthy_and_petted(const char *got, void *arg)
{
	(void)arg;
	return strstr(got, "READY=1") && strstr(got, "STATUS=healthy") &&
	       count_of(got, "WATCHDOG=1") >= 3;
}

START_TEST(systemd_notify_ready_status_watchdog_stopping)
{
	char sock[512], sock_env[600], wedge[512], wedge_env[600];
	int fd = notify_socket(sock, sizeof(sock));
	snprintf(sock_env, sizeof(sock_env), "NOTIFY_SOCKET=%s", sock);
	harness_path(wedge, sizeof(wedge), "wedge");
	unlink(wedge);
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);

	/* A long interval: the worker idles between probes, and must still
	 * beat fast enough for a 600 ms watchdog, petted every 300 ms. */
	const int watchdog_ms = 600;
	const char *const args[] = { "--interval=30s", "--timeout=1s", NULL };
	const char *const env[] = { sock_env, "WATCHDOG_USEC=600000", wedge_env,
				    NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"),
			      args, env);

	char *got = notify_wait(fd, ready_healthy_and_petted, NULL, 10000,
				"READY=1, STATUS=healthy and three WATCHDOG=1");
	ck_assert_msg(count_of(got, "READY=1") == 1, "%s", got);
	free(got);

	/* A wedged worker: no more WATCHDOG=1, so systemd would restart it.
	 * The daemon logs when it stops petting; from then on, a whole
	 * watchdog interval (two pets' time) passes without one. */
	const char *warning = "not petting the watchdog";
	char *log = daemon_log(&daemon_);
	int warned = count_of(log, warning);
	free(log);
	int w = open(wedge, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(w, 0);
	close(w);
	wait_log(&daemon_, warning, warned + 1, 5000);
	free(notify_collect(fd, 0));
	got = notify_collect(fd, watchdog_ms);
	ck_assert_msg(count_of(got, "WATCHDOG=1") == 0, "petted while wedged: %s", got);
	free(got);
	unlink(wedge);
	free(notify_wait(fd, notify_has, "WATCHDOG=1", 5000, "WATCHDOG=1 after the wedge"));

	ck_assert_int_eq(kill(daemon_.pid, SIGTERM), 0);
	free(notify_wait(fd, notify_has, "STOPPING=1", 5000, "STOPPING=1"));
	daemon_stop(&daemon_);
	close(fd);
	unlink(sock);
}
END_TEST

static void
write_config(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(reload_applies_config_or_keeps_it)
{
	char sock[512], sock_env[600], conf[512], conf_flag[600];
	int fd = notify_socket(sock, sizeof(sock));
	snprintf(sock_env, sizeof(sock_env), "NOTIFY_SOCKET=%s", sock);
	harness_path(conf, sizeof(conf), "reload.conf");
	snprintf(conf_flag, sizeof(conf_flag), "--config=%s", conf);
	write_config(conf, "interval = 30s\ntimeout = 2s\ndegraded_latency = 3s\n");
	/* 50 ms answers: fast for 3 s, slow for the 20 ms set below. */
	fake_set(&harness_fake, "delay_ms=50");

	const char *const args[] = { conf_flag, NULL };
	const char *const env[] = { sock_env, NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	free(notify_wait(fd, notify_has, "READY=1", 5000, "READY=1"));
	long probes = fake_requests(&harness_fake, "me");

	/* A threshold from the file takes effect at once: the next probe
	 * goes out now, not 30 s later, and classifies it slow. The reload
	 * is announced to systemd as RELOADING=1 with MONOTONIC_USEC, ended
	 * by READY=1. */
	write_config(conf, "interval = 30s\ntimeout = 2s\ndegraded_latency = 20ms\n"
			   "log_level = debug\n");
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	char *got = notify_wait(fd, notify_has, "READY=1", 5000, "READY=1 after a reload");
	char *reloading = strstr(got, "RELOADING=1");
	ck_assert_msg(reloading && strstr(reloading, "MONOTONIC_USEC=") &&
		      strstr(reloading, "READY=1"), "%s", got);
	free(got);
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 5000,
				 "degraded under the reloaded threshold"));
	ck_assert_int_eq(fake_requests(&harness_fake, "me"), probes + 1);
	wait_log(&daemon_, "reloaded the settings from", 1, 2000);
	/* log_level = debug is in force: the reload's settings come with
	 * their details. */
	wait_log(&daemon_, "debug: degraded_latency: 20ms", 1, 2000);

	/* A bad file: one line saying so, the running settings kept, the
	 * daemon still serving (and systemd told the reload is over). */
	write_config(conf, "interval = banana\n");
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	wait_log(&daemon_, "keeping the running settings", 1, 5000);
	free(notify_wait(fd, notify_has, "READY=1", 5000, "READY=1 after a bad reload"));
	char *log = daemon_log(&daemon_);
	ck_assert_msg(strstr(log, "reload: interval:"), "%s", log);
	free(log);
	long status = 0;
	cJSON *doc = get_health(&daemon_, &status);
	ck_assert_str_eq(json_str(doc, "status"), "degraded");
	cJSON_Delete(doc);

	/* history_size is fixed at start: the reload says so and keeps
	 * the running value. The API settings are as they were: no probe. */
	write_config(conf, "interval = 30s\ntimeout = 2s\ndegraded_latency = 20ms\n"
			   "history_size = 50\n");
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	wait_log(&daemon_, "history_size changed; that takes a restart", 1, 5000);
	wait_log(&daemon_, "reloaded the settings from", 2, 5000);
	doc = get_health(&daemon_, &status);
	ck_assert_str_eq(json_str(doc, "status"), "degraded");
	cJSON_Delete(doc);
	ck_assert_int_eq(fake_requests(&harness_fake, "me"), probes + 1);

	ck_assert_int_eq(daemon_signal_wait(&daemon_, SIGTERM, 5000), 0);
	log = daemon_log(&daemon_);
	assert_no_secret(log, strlen(log), "log");
	free(log);
	close(fd);
	unlink(sock);
	unlink(conf);
}
END_TEST

/* The notAfter of the stand-in's certificate, as Unix time. */
static long long
stand_in_cert_expiry(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/server.pem", getenv("TEST_CERT_DIR"));
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "cannot open %s", path);
	X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(cert);
	struct tm tm;
	ck_assert_int_eq(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
	X509_free(cert);
	return (long long)timegm(&tm);
}

START_TEST(connection_phases_and_certificate)
{
	/* The first probe opens a connection (DNS, TCP and TLS take time),
	 * the next ones reuse it (those phases are 0), and the ninth opens a
	 * new one again; the certificate's expiry is read from a handshake. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	bool fresh_first = false, reused = false, fresh_again = false;
	long long deadline = harness_deadline(15000);
	while (!(fresh_first && reused && fresh_again)) {
		ck_assert_msg(now_ms() < deadline,
			      "phases not seen: first fresh %d, reused %d, "
			      "fresh again %d", fresh_first, reused, fresh_again);
		char *text = metrics_text(&daemon_);
		double probes = metric_in(text, "intercom_probe_duration_seconds_count");
		if (probes >= 1) {
			double again = metric_in(text, "intercom_probe_connection_reused");
			double dns = metric_in(text, "intercom_probe_phase_seconds{phase=\"dns\"}");
			double tcp = metric_in(text, "intercom_probe_phase_seconds{phase=\"connect\"}");
			double tls = metric_in(text, "intercom_probe_phase_seconds{phase=\"tls\"}");
			double first = metric_in(text,
				"intercom_probe_phase_seconds{phase=\"first_byte\"}");
			/* A probe that got no answer (a sanitizer's first
			 * handshake on a loaded machine) has no phases to
			 * judge: the next one will. */
			if (first <= 0) {
				free(text);
				sleep_ms(20);
				continue;
			}
			if (again == 0) {
				ck_assert_msg(tcp > 0 && tls > 0, "%.2000s", text);
				fresh_first = fresh_first || probes < 9;
				fresh_again = fresh_again || probes >= 9;
			} else {
				ck_assert_msg(dns == 0 && tcp == 0 && tls == 0, "%.2000s", text);
				reused = true;
			}
			ck_assert_int_eq((long long)metric_in(text,
				"intercom_tls_cert_expiry_timestamp_seconds"),
				stand_in_cert_expiry());
		}
		free(text);
		sleep_ms(20);
	}
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(clock_steps_neither_fail_nor_fake_liveness)
{
	/* The wall clock jumps an hour ahead, then a day back: staleness
	 * runs on the monotonic clock, so nothing flaps. */
	const char *shim = getenv("TEST_SHIM");
	ck_assert_msg(shim && *shim, "TEST_SHIM is not set");
	char preload[600], skew[512], skew_env[600];
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
	harness_path(skew, sizeof(skew), "skew");
	snprintf(skew_env, sizeof(skew_env), "SHIM_CLOCK_SKEW_FILE=%s", skew);
	unlink(skew);
	const char *const env[] = { preload, skew_env,
				    "ASAN_OPTIONS=verify_asan_link_order=0", NULL };
	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--stale-after=5s", NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	/* Ahead: staleness on the wall clock would show at once. Back: probes
	 * scheduled on it would stop: two more probes must come. Whatever a
	 * probe answers on a loaded machine, nothing is stale. */
	const char *steps[] = { "3600", "-86400" };
	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(skew, "w");
		ck_assert_ptr_nonnull(f);
		fputs(steps[i], f);
		fclose(f);
		long probes = (long)metric_value(&daemon_,
						 "intercom_probe_duration_seconds_count");
		for (int k = 0; k < 10; k++) {
			ck_assert_msg(get_status(&daemon_, "/livez", NULL) == 200,
				      "/livez failed after a %s s clock step", steps[i]);
			cJSON *doc = get_health(&daemon_, NULL);
			ck_assert_msg(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
					      intercom_of(doc), "stale")),
				      "stale after a %s s clock step", steps[i]);
			cJSON_Delete(doc);
			sleep_ms(50);
		}
		wait_probes(&daemon_, probes + 2, 5000);
		ck_assert_msg(get_status(&daemon_, "/livez", NULL) == 200,
			      "/livez failed after a %s s clock step", steps[i]);
	}
	unlink(skew);
	daemon_stop(&daemon_);
}
END_TEST

/* ---- reloads that take what they say */

/* Serves against f with a config file: unlike daemon_start_fake(), no
 * flag sets status_url (a flag would win over the file), so the file
 * must. */
static void
start_with_config(struct daemon *d, struct fake *f, const char *bin,
		  const char *conf, const char *const *extra_args,
		  const char *const *extra_env)
{
	char conf_flag[600], api_url[128], api[160], ca[600];
	snprintf(conf_flag, sizeof(conf_flag), "--config=%s", conf);
	fake_url(f, "", api_url, sizeof(api_url));
	snprintf(api, sizeof(api), "--api-url=%s", api_url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", f->ca_file);
	const char *args[16] = { "serve", api, ca, conf_flag };
	size_t n = 4;
	for (size_t i = 0; extra_args && extra_args[i]; i++) {
		ck_assert(n < 15);
		args[n++] = extra_args[i];
	}
	args[n] = NULL;
	const char *env[8] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN };
	size_t e = 1;
	for (size_t i = 0; extra_env && extra_env[i]; i++) {
		ck_assert(e < 7);
		env[e++] = extra_env[i];
	}
	env[e] = NULL;
	daemon_start(d, bin, args, env);
}

static bool
pred_page_indicator(cJSON *health, void *arg)
{
	cJSON *services = cJSON_GetObjectItemCaseSensitive(health, "services");
	cJSON *page = cJSON_GetObjectItemCaseSensitive(services, "statusPage");
	const char *indicator = json_str(page, "indicator");
	return indicator && strcmp(indicator, arg) == 0;
}

/*
 * A reload that points status_url elsewhere while the old page hangs:
 * the new page is read at once, not after the hanging request's timeout
 * and a whole status interval (60 s here).
 */
START_TEST(reload_while_a_side_check_hangs)
{
	char conf[512], url[160], text[400];
	harness_path(conf, sizeof(conf), "side.conf");
	fake_url(&harness_fake, "/api/v2/status.json", url, sizeof(url));
	snprintf(text, sizeof(text), "status_url = %s\n", url);
	write_config(conf, text);
	fake_set(&harness_fake, "page=hang");
	/* The hanging request may run for 20 s: far beyond the case. */
	const char *const args[] = { "--interval=30s", "--timeout=20s", NULL };
	start_with_config(&daemon_, &harness_fake, NULL, conf, args, NULL);
	wait_fake_requests(&harness_fake, "status", 1, 10000);

	fake_set(&harness_fake, "page=major");
	snprintf(text, sizeof(text), "status_url = %s?reloaded\n", url);
	write_config(conf, text);
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	cJSON_Delete(wait_health(&daemon_, pred_page_indicator, "major", 10000,
				 "the new status page, read at once"));
	wait_log(&daemon_, "reload: status_url:", 1, 2000);
	daemon_stop(&daemon_);
	unlink(conf);
}
END_TEST

/*
 * Reloads while backing off after a 429 with Retry-After: 30 s. Each
 * changes an API setting, which would send a probe at once; none may.
 */
START_TEST(reload_never_shortens_a_backoff)
{
	char conf[512];
	harness_path(conf, sizeof(conf), "backoff.conf");
	write_config(conf, "status_url = off\ndegraded_latency = 3s\n");
	fake_set(&harness_fake, "me=error&code=429&retry_after=30&reset_in=30");
	/* One probe is all it takes: the timeout has room for a slow first
	 * handshake under the sanitizers. */
	const char *const args[] = { "--interval=10s", "--timeout=8s", NULL };
	start_with_config(&daemon_, &harness_fake, NULL, conf, args, NULL);
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 10000, "429"));
	fake_reset(&harness_fake);
	fake_set(&harness_fake, "me=ok&code=200");

	for (int i = 0; i < 3; i++) {
		char text[64];
		snprintf(text, sizeof(text), "status_url = off\ndegraded_latency = %ds\n", 4 + i);
		write_config(conf, text);
		ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
		wait_log(&daemon_, "reloaded the settings", i + 1, 10000);
	}
	/* A probe sent by a reload reaches the stand-in within
	 * milliseconds; a second and a half is room for a loaded machine. */
	sleep_ms(1500);
	ck_assert_int_eq(fake_requests(&harness_fake, "me"), 0);
	daemon_stop(&daemon_);
	unlink(conf);
}
END_TEST

/*
 * A reload while the probe worker is wedged applies to neither HTTP nor
 * the worker (degraded_ok would otherwise answer 200 over the worker's
 * old settings), and one once it turns again applies to both. The
 * sanitizer builds see the settings the first reload made freed, and
 * their token wiped, at exit.
 */
START_TEST(reload_with_the_worker_wedged)
{
	char conf[512], wedge[512], wedge_env[600];
	harness_path(conf, sizeof(conf), "wedged.conf");
	harness_path(wedge, sizeof(wedge), "reload-wedge");
	unlink(wedge);
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);
	write_config(conf, "status_url = off\ndegraded_ok = false\n");
	fake_set(&harness_fake, "limit=1000&remaining=50");
	/* Never stale while wedged: the state stays degraded, and only
	 * degraded_ok decides between 503 and 200. */
	const char *const args[] = { "--interval=10s", "--timeout=8s",
				     "--stale-after=60s", NULL };
	const char *const env[] = { wedge_env, NULL };
	start_with_config(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"), conf,
			  args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 10000, "degraded"));
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 503);

	int fd = open(wedge, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	wait_log(&daemon_, "test hook: the probe worker is wedged", 1, 10000);
	write_config(conf, "status_url = off\ndegraded_ok = true\n");
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	wait_log(&daemon_, "reload: the probe worker", 1, 20000);
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 503);

	unlink(wedge);
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	wait_log(&daemon_, "reloaded the settings", 1, 20000);
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 200);
	daemon_stop(&daemon_);
	unlink(conf);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "livez through failures", livez_stays_up_through_intercom_failures },
		{ "livez wedged", livez_fails_when_the_worker_is_wedged },
		{ "damping flags", damping_thresholds_come_from_the_flags },
		{ "429 reset", rate_limited_probe_waits_for_the_reset },
		{ "Retry-After", retry_after_is_honoured },
		{ "low quota", low_quota_degrades_and_degraded_ok_answers_200 },
		{ "status page and webhook", side_checks_are_informational },
		{ "health+json", health_json_ietf_format },
		{ "metrics", metrics_pass_promtool_and_match_the_stand_in },
		{ "systemd notify", systemd_notify_ready_status_watchdog_stopping },
		{ "clock steps", clock_steps_neither_fail_nor_fake_liveness },
		{ "reload", reload_applies_config_or_keeps_it },
		{ "connection phases", connection_phases_and_certificate },
		{ "reload during a side check", reload_while_a_side_check_hangs },
		{ "reload during back-off", reload_never_shortens_a_backoff },
		{ "reload while wedged", reload_with_the_worker_wedged },
	};
	return harness_run("semantics", cases, sizeof(cases) / sizeof(cases[0]));
}
