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
	const char *const args[] = { "--interval=500ms", "--timeout=300ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);

	const char *knobs[] = { "me=error&code=401", "me=error&code=500",
				"me=error&code=503", "me=hang", "me=reset" };
	for (size_t i = 0; i < 5; i++) {
		fake_set(&harness_fake, knobs[i]);
		long before = (long)metric_value(&daemon_,
			"intercom_probe_duration_seconds_count");
		wait_probes(&daemon_, before + 2, 5000);
		cJSON *doc = get_health(&daemon_, NULL);
		ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
		cJSON_Delete(doc);
		ck_assert_msg(get_status(&daemon_, "/livez", NULL) == 200,
			      "/livez failed during %s", knobs[i]);
		ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 503);
	}
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(livez_fails_when_the_worker_is_wedged)
{
	char wedge[64];
	snprintf(wedge, sizeof(wedge), "/tmp/healthd-wedge-%d", (int)getpid());
	unlink(wedge);
	char wedge_env[96];
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);

	const char *const args[] = { "--interval=600ms", "--timeout=400ms",
				     "--stale-after=1500ms", NULL };
	const char *const env[] = { wedge_env, NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"),
			      args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	ck_assert_int_eq(get_status(&daemon_, "/livez", NULL), 200);

	/* Wedge: the worker stops turning; HTTP keeps serving. */
	int fd = open(wedge, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cJSON *doc = wait_health(&daemon_, pred_status, "unhealthy", 5000,
				 "stale after the wedge");
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

/* Waits for probe n and returns /health's status then. */
static char *
status_after_probe(long n)
{
	wait_probes(&daemon_, n, 10000);
	cJSON *doc = get_health(&daemon_, NULL);
	char *status = strdup(json_str(doc, "status"));
	cJSON_Delete(doc);
	return status;
}

START_TEST(damping_three_to_fail_two_to_recover)
{
	/* Slow probes (1.5 s) so the test flips knobs between two of them. */
	const char *const args[] = { "--interval=1500ms", "--timeout=500ms",
				     "--failure-threshold=3",
				     "--success-threshold=2", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	char *s = status_after_probe(1);
	ck_assert_str_eq(s, "healthy");
	free(s);

	fake_set(&harness_fake, "me=error&code=500");
	/* The next probe is due ~1.5 s after the first; knobs are set well
	 * before it. Probes 2 and 3 fail but the state holds. */
	const char *want[] = { "healthy", "healthy", "unhealthy" };
	for (long n = 2; n <= 4; n++) {
		s = status_after_probe(n);
		ck_assert_msg(strcmp(s, want[n - 2]) == 0,
			      "after probe %ld: %s, want %s", n, s, want[n - 2]);
		free(s);
	}
	ck_assert_double_eq(metric_value(&daemon_, "intercom_probes_total{code=\"500\"}"), 3);

	fake_set(&harness_fake, "me=ok&code=200");
	s = status_after_probe(5);
	ck_assert_str_eq(s, "unhealthy");
	free(s);
	cJSON *doc = get_health(&daemon_, NULL);
	cJSON *ic = intercom_of(doc);
	ck_assert_str_eq(json_str(ic, "error"), "500: Server Error");
	cJSON_Delete(doc);
	s = status_after_probe(6);
	ck_assert_str_eq(s, "healthy");
	free(s);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(rate_limited_probe_waits_for_the_reset)
{
	const char *const args[] = { "--interval=600ms", "--timeout=400ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	/* 429 with a reset 4 s ahead (whole seconds, as Intercom sends). */
	time_t reset = time(NULL) + 4;
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
	 * not ask before the reset time. */
	fake_set(&harness_fake, "me=ok&code=200");

	while (time(NULL) < reset - 1) {
		ck_assert_int_eq(fake_requests(&harness_fake, "me"), 0);
		/* Degraded throughout, never stale, /livez fine. */
		doc = get_health(&daemon_, NULL);
		ck_assert_str_eq(json_str(doc, "status"), "degraded");
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
	ck_assert_msg(first->valuedouble >= (double)(reset - 1) * 1000.0,
		      "probed at %.0f, reset was %lld", first->valuedouble,
		      (long long)reset);
	cJSON_Delete(stats);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(retry_after_is_honoured)
{
	const char *const args[] = { "--interval=600ms", "--timeout=400ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	fake_set(&harness_fake, "me=error&code=429&retry_after=3&reset_in=0");
	cJSON_Delete(wait_health(&daemon_, pred_status, "degraded", 5000, "429"));
	long long t0 = now_ms();
	fake_reset(&harness_fake);
	fake_set(&harness_fake, "me=ok&code=200");
	while (now_ms() - t0 < 2000) {
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
	const char *const args[] = { "--interval=1s", "--timeout=500ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON *doc = wait_health(&daemon_, pred_probed, NULL, 5000, "a probe");
	ck_assert_str_eq(json_str(doc, "status"), "degraded");
	ck_assert_ptr_nonnull(strstr(json_str(intercom_of(doc), "error"),
				     "rate limit low"));
	cJSON_Delete(doc);
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 503);
	ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 503);
	daemon_stop(&daemon_);

	const char *const ok_args[] = { "--interval=1s", "--timeout=500ms",
					"--degraded-ok", NULL };
	daemon_start_fake(&daemon_, &harness_fake, ok_args);
	doc = wait_health(&daemon_, pred_probed, NULL, 5000, "a probe");
	ck_assert_str_eq(json_str(doc, "status"), "degraded");
	cJSON_Delete(doc);
	ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 200);
	ck_assert_int_eq(get_status(&daemon_, "/readyz", NULL), 200);

	/* Above the threshold again: healthy. */
	fake_set(&harness_fake, "remaining=500");
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "quota back"));
	daemon_stop(&daemon_);
}
END_TEST

static void
start_with_side_checks(const char *webhook_path)
{
	char status_url[160], webhook_url[160], sarg[200], warg[200];
	fake_url(&harness_fake, "/api/v2/status.json", status_url, sizeof(status_url));
	snprintf(sarg, sizeof(sarg), "--status-url=%s", status_url);
	const char *args[8] = { "--interval=1s", "--timeout=500ms",
				"--status-interval=1s", sarg, NULL };
	if (webhook_path) {
		fake_url(&harness_fake, webhook_path, webhook_url, sizeof(webhook_url));
		snprintf(warg, sizeof(warg), "--webhook-url=%s", webhook_url);
		args[4] = warg;
		args[5] = NULL;
	}
	/* daemon_start_fake adds --status-url=off first; ours comes later
	 * and the last flag wins. */
	daemon_start_fake(&daemon_, &harness_fake, args);
}

static bool
pred_indicator(cJSON *health, void *arg)
{
	cJSON *services = cJSON_GetObjectItemCaseSensitive(health, "services");
	cJSON *page = cJSON_GetObjectItemCaseSensitive(services, "statusPage");
	const char *ind = json_str(page, "indicator");
	return ind && strcmp(ind, (const char *)arg) == 0;
}

START_TEST(status_page_indicators_are_informational)
{
	start_with_side_checks(NULL);
	const char *pages[] = { "none", "minor", "major", "critical" };
	for (size_t i = 0; i < 4; i++) {
		char knob[32];
		snprintf(knob, sizeof(knob), "page=%s", pages[i]);
		fake_set(&harness_fake, knob);
		cJSON *doc = wait_health(&daemon_, pred_indicator, (void *)pages[i],
					 5000, pages[i]);
		/* Never changes the overall state. */
		ck_assert_str_eq(json_str(doc, "status"), "healthy");
		cJSON_Delete(doc);
		for (size_t k = 0; k < 4; k++) {
			char series[96];
			snprintf(series, sizeof(series),
				 "intercom_status_page_indicator{indicator=\"%s\"}",
				 pages[k]);
			ck_assert_double_eq(metric_value(&daemon_, series),
					    k == i ? 1 : 0);
		}
		ck_assert_int_eq(get_status(&daemon_, "/health", NULL), 200);
	}
	const char *broken[] = { "page=garbage", "page=500" };
	for (size_t i = 0; i < 2; i++) {
		fake_set(&harness_fake, broken[i]);
		cJSON *doc = wait_health(&daemon_, pred_indicator, "unknown", 5000,
					 broken[i]);
		ck_assert_str_eq(json_str(doc, "status"), "healthy");
		cJSON *page = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(doc, "services"), "statusPage");
		ck_assert_ptr_nonnull(json_str(page, "error"));
		cJSON_Delete(doc);
	}
	daemon_stop(&daemon_);
}
END_TEST

static bool
pred_webhook_up(cJSON *health, void *arg)
{
	cJSON *services = cJSON_GetObjectItemCaseSensitive(health, "services");
	cJSON *hook = cJSON_GetObjectItemCaseSensitive(services, "webhook");
	cJSON *up = cJSON_GetObjectItemCaseSensitive(hook, "up");
	cJSON *code = cJSON_GetObjectItemCaseSensitive(hook, "httpStatus");
	long want = *(long *)arg;
	return cJSON_IsBool(up) && cJSON_IsNumber(code) &&
	       (long)code->valuedouble == want;
}

static bool
pred_webhook_and_healthy(cJSON *health, void *arg)
{
	const char *status = json_str(health, "status");
	return pred_webhook_up(health, arg) && status && strcmp(status, "healthy") == 0;
}

START_TEST(webhook_up_and_down_is_informational)
{
	start_with_side_checks("/webhook");
	long codes[] = { 200, 404, 500, 503, 204 };
	for (size_t i = 0; i < 5; i++) {
		char knob[32];
		snprintf(knob, sizeof(knob), "webhook_code=%ld", codes[i]);
		fake_set(&harness_fake, knob);
		/* Healthy with the webhook in that state: the webhook never
		 * moves the overall state (a probe that timed out on a loaded
		 * machine may, until the next one). */
		cJSON_Delete(wait_health(&daemon_, pred_webhook_and_healthy, &codes[i],
					 5000, knob));
		ck_assert_double_eq(metric_value(&daemon_, "intercom_webhook_up"),
				    codes[i] < 500 ? 1 : 0);
	}
	ck_assert_int_ge(fake_requests(&harness_fake, "webhook"), 5);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(health_json_ietf_format)
{
	const char *const args[] = { "--interval=1s", "--timeout=500ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	struct {
		const char *knobs;
		const char *want;
		long code;
	} cases[] = {
		{ "me=ok&code=200", "pass", 200 },
		/* The draft: warn answers 2xx, whatever degraded_ok says. */
		{ "me=ok&code=200&remaining=1", "warn", 200 },
		{ "me=error&code=401", "fail", 503 },
	};
	for (size_t i = 0; i < 3; i++) {
		fake_set(&harness_fake, cases[i].knobs);
		long before = (long)metric_value(&daemon_,
			"intercom_probe_duration_seconds_count");
		wait_probes(&daemon_, before + 1, 5000);
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
	const char *const args[] = { "--interval=600ms", "--timeout=400ms", NULL };
	char status_url[160], sarg[200], webhook_url[160], warg[200];
	fake_url(&harness_fake, "/api/v2/status.json", status_url, sizeof(status_url));
	snprintf(sarg, sizeof(sarg), "--status-url=%s", status_url);
	fake_url(&harness_fake, "/webhook", webhook_url, sizeof(webhook_url));
	snprintf(warg, sizeof(warg), "--webhook-url=%s", webhook_url);
	const char *const all[] = { args[0], args[1], sarg, warg, NULL };
	daemon_start_fake(&daemon_, &harness_fake, all);
	wait_probes(&daemon_, 3, 5000);
	fake_set(&harness_fake, "me=error&code=401");
	wait_probes(&daemon_, 5, 5000);
	fake_set(&harness_fake, "me=hang");
	wait_probes(&daemon_, 6, 5000);
	fake_set(&harness_fake, "me=error&code=503");
	wait_probes(&daemon_, 7, 5000);
	fake_set(&harness_fake, "me=ok&code=200");
	wait_probes(&daemon_, 8, 5000);

	struct http_reply r;
	http_request(daemon_.port, NULL, "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	char *type = http_header(&r, "Content-Type");
	ck_assert_ptr_nonnull(strstr(type, "text/plain; version=0.0.4"));
	free(type);

	const char *promtool = getenv("PROMTOOL");
	if (promtool && *promtool) {
		char path[64];
		snprintf(path, sizeof(path), "/tmp/healthd-metrics-%d", (int)getpid());
		FILE *f = fopen(path, "w");
		fwrite(r.body, 1, r.body_len, f);
		fclose(f);
		char *cmd;
		ck_assert_int_ge(asprintf(&cmd, "%s check metrics < %s 2>&1", promtool,
					  path), 0);
		FILE *p = popen(cmd, "r");
		char out[4096] = "";
		size_t n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		int status = pclose(p);
		ck_assert_msg(status == 0 && n == 0, "promtool: %s\n%s", out, r.body);
		free(cmd);
		unlink(path);
	} else {
		fprintf(stderr, "# promtool not found: metrics format unchecked\n");
	}

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
		ck_assert_msg(strstr(r.body, names[i]), "no %s in:\n%s", names[i], r.body);
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
	double ok = metric_value(&daemon_, "intercom_probes_total{code=\"200\"}");
	double unauthorized = metric_value(&daemon_, "intercom_probes_total{code=\"401\"}");
	double unavailable = metric_value(&daemon_, "intercom_probes_total{code=\"503\"}");
	double errors = metric_value(&daemon_, "intercom_probes_total{code=\"error\"}");
	count = metric_value(&daemon_, "intercom_probe_duration_seconds_count");
	ck_assert_int_ge((long)ok, 3);
	ck_assert_int_ge((long)unauthorized, 2);
	ck_assert_int_ge((long)unavailable, 1);
	ck_assert_int_ge((long)errors, 1);
	ck_assert_double_eq(ok + unauthorized + unavailable + errors, count);
	daemon_stop(&daemon_);
}
END_TEST

static int
count_of(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(systemd_notify_ready_status_watchdog_stopping)
{
	char sock[96], sock_env[128], wedge[64], wedge_env[96];
	int fd = notify_socket(sock, sizeof(sock));
	snprintf(sock_env, sizeof(sock_env), "NOTIFY_SOCKET=%s", sock);
	snprintf(wedge, sizeof(wedge), "/tmp/healthd-wedge-n-%d", (int)getpid());
	unlink(wedge);
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);

	/* A long interval: the worker idles between probes, and must still
	 * beat fast enough for a 1 s watchdog. */
	const char *const args[] = { "--interval=30s", "--timeout=1s", NULL };
	const char *const env[] = { sock_env, "WATCHDOG_USEC=1000000", wedge_env,
				    NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"),
			      args, env);

	char *got = notify_collect(fd, 2500);
	ck_assert_msg(count_of(got, "READY=1") == 1, "%s", got);
	ck_assert_msg(strstr(got, "STATUS=healthy"), "no healthy STATUS: %s", got);
	/* Petted at half the interval: about 5 in 2.5 s. */
	ck_assert_msg(count_of(got, "WATCHDOG=1") >= 3, "%s", got);
	free(got);

	/* A wedged worker: no more WATCHDOG=1, so systemd would restart it. */
	int w = open(wedge, O_CREAT | O_WRONLY, 0600);
	close(w);
	sleep_ms(1000);
	free(notify_collect(fd, 200));
	got = notify_collect(fd, 2000);
	ck_assert_msg(count_of(got, "WATCHDOG=1") == 0, "petted while wedged: %s", got);
	free(got);
	unlink(wedge);
	got = notify_collect(fd, 1500);
	ck_assert_msg(count_of(got, "WATCHDOG=1") >= 1, "not petted after: %s", got);
	free(got);

	ck_assert_int_eq(kill(daemon_.pid, SIGTERM), 0);
	got = notify_collect(fd, 500);
	ck_assert_msg(strstr(got, "STOPPING=1"), "%s", got);
	free(got);
	daemon_stop(&daemon_);
	close(fd);
	unlink(sock);
}
END_TEST

START_TEST(clock_steps_neither_fail_nor_fake_liveness)
{
	/* The wall clock jumps an hour ahead, then a day back: staleness
	 * runs on the monotonic clock, so nothing flaps. */
	const char *shim = getenv("TEST_SHIM");
	ck_assert_msg(shim && *shim, "TEST_SHIM is not set");
	char preload[600], skew[64], skew_env[96];
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
	snprintf(skew, sizeof(skew), "/tmp/healthd-skew-%d", (int)getpid());
	snprintf(skew_env, sizeof(skew_env), "SHIM_CLOCK_SKEW_FILE=%s", skew);
	unlink(skew);
	const char *const env[] = { preload, skew_env,
				    "ASAN_OPTIONS=verify_asan_link_order=0", NULL };
	const char *const args[] = { "--interval=1s", "--timeout=500ms", NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	const char *steps[] = { "3600", "-86400" };
	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(skew, "w");
		fputs(steps[i], f);
		fclose(f);
		for (int k = 0; k < 20; k++) {
			ck_assert_msg(get_status(&daemon_, "/livez", NULL) == 200,
				      "/livez failed after a %s s clock step", steps[i]);
			cJSON *doc = get_health(&daemon_, NULL);
			ck_assert_msg(strcmp(json_str(doc, "status"), "healthy") == 0,
				      "not healthy after a %s s clock step", steps[i]);
			cJSON_Delete(doc);
			sleep_ms(100);
		}
	}
	unlink(skew);
	daemon_stop(&daemon_);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "livez through failures", livez_stays_up_through_intercom_failures },
		{ "livez wedged", livez_fails_when_the_worker_is_wedged },
		{ "damping 3/2", damping_three_to_fail_two_to_recover, 0, HARNESS_TIMING },
		{ "429 reset", rate_limited_probe_waits_for_the_reset, 0, HARNESS_TIMING },
		{ "Retry-After", retry_after_is_honoured, 0, HARNESS_TIMING },
		{ "low quota", low_quota_degrades_and_degraded_ok_answers_200 },
		{ "status page", status_page_indicators_are_informational, 0, HARNESS_TIMING },
		{ "webhook", webhook_up_and_down_is_informational, 0, HARNESS_TIMING },
		{ "health+json", health_json_ietf_format },
		{ "metrics", metrics_pass_promtool_and_match_the_stand_in, 0,
		  HARNESS_TIMING },
		{ "systemd notify", systemd_notify_ready_status_watchdog_stopping },
		{ "clock steps", clock_steps_neither_fail_nor_fake_liveness },
	};
	return harness_run("semantics", cases, sizeof(cases) / sizeof(cases[0]));
}
