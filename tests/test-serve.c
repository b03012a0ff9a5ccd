#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "config.h"
#include "harness.h"

/*
 * The daemon end to end (probe on a timer, cache, serve /health):
 * the real binary against the stand-in Intercom over real TLS.
 */

static struct daemon daemon_;

/*
 * Probes every 2 s, each allowed 1.5 s, slow past the default 3 s: room
 * for a first probe's CA load and TLS handshake under a sanitizer on a
 * machine whose cores are busy with other work (it has taken 900 ms).
 */
static const char *const fast[] = {
	"--interval=2s", "--timeout=1500ms", NULL,
};

/* services.intercom carries an HTTP status: a probe got an answer. */
static bool
pred_answered(cJSON *health, void *arg)
{
	(void)arg;
	return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(intercom_of(health),
							      "httpStatus"));
}

/*
 * Starts the daemon and returns /health once a probe got an answer: a
 * first probe lost to a slow handshake on a loaded machine is followed by
 * another, and these cases are about what the answer makes of the state.
 */
static cJSON *
start_and_probe(const char *const *args)
{
	daemon_start_fake(&daemon_, &harness_fake, args ? args : fast);
	return wait_health(&daemon_, pred_answered, NULL, 5000, "an answered probe");
}

static void
assert_bool(cJSON *obj, const char *name, bool want)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	ck_assert_msg(cJSON_IsBool(v), "%s is not a boolean", name);
	ck_assert_msg(cJSON_IsTrue(v) == want, "%s is %s, want %s", name,
		      cJSON_IsTrue(v) ? "true" : "false", want ? "true" : "false");
}

static void
assert_error_has(cJSON *intercom, const char *part)
{
	const char *error = json_str(intercom, "error");
	ck_assert_msg(error != NULL, "no error field, want one containing \"%s\"",
		      part);
	ck_assert_msg(strstr(error, part) != NULL, "error \"%s\" lacks \"%s\"",
		      error, part);
}

/* services.intercom.error holds arg. */
static bool
pred_error_has(cJSON *health, void *arg)
{
	const char *error = json_str(intercom_of(health), "error");
	return error && strstr(error, (const char *)arg);
}

START_TEST(healthy_answer_keeps_the_seed_shape)
{
	cJSON *doc = start_and_probe(NULL);
	struct http_reply r;
	http_request(daemon_.port, NULL, "/health", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	char *type = http_header(&r, "Content-Type");
	char *cache = http_header(&r, "Cache-Control");
	ck_assert_str_eq(type, "application/json");
	ck_assert_str_eq(cache, "no-store");
	free(type);
	free(cache);
	http_reply_free(&r);

	ck_assert_str_eq(json_str(doc, "status"), "healthy");
	ck_assert_ptr_nonnull(json_str(doc, "timestamp"));
	cJSON *ic = intercom_of(doc);
	ck_assert_str_eq(json_str(ic, "status"), "healthy");
	assert_bool(ic, "authenticated", true);
	cJSON *latency = cJSON_GetObjectItemCaseSensitive(ic, "latencyMs");
	ck_assert(cJSON_IsNumber(latency));
	ck_assert(latency->valuedouble >= 0);
	cJSON *remaining = cJSON_GetObjectItemCaseSensitive(ic, "rateLimitRemaining");
	ck_assert(cJSON_IsNumber(remaining));
	ck_assert_int_eq((long)remaining->valuedouble, 9990);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(ic, "error"));
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(no_rate_limit_header_no_field)
{
	fake_set(&harness_fake, "limit=none");
	cJSON *doc = start_and_probe(NULL);
	ck_assert_str_eq(json_str(doc, "status"), "healthy");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(intercom_of(doc),
							   "rateLimitRemaining"));
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(before_first_probe_is_unhealthy_and_answers_at_once)
{
	/* The probe hangs for its whole 4 s timeout; /health must not. */
	fake_set(&harness_fake, "me=hang");
	const char *const args[] = { "--interval=10s", "--timeout=4s", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	/* Wait until the stand-in has the request, so it truly hangs now. */
	wait_fake_requests(&harness_fake, "me", 1, 2000);

	struct http_reply r;
	for (int i = 0; i < 20; i++) {
		http_request(daemon_.port, NULL, "/health", NULL, &r);
		ck_assert_int_eq(r.status, 503);
		cJSON *doc = cJSON_Parse(r.body);
		ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
		cJSON *ic = intercom_of(doc);
		assert_bool(ic, "authenticated", false);
		assert_error_has(ic, "no probe has finished yet");
		cJSON_Delete(doc);
		http_reply_free(&r);
	}
	/* All twenty answered while the probe still hung: none waited for
	 * it (a wait would have seen its timeout). How fast they answer is
	 * bench/run's to measure. */
	ck_assert_double_eq(metric_value(&daemon_,
					 "intercom_probe_duration_seconds_count"), 0);

	cJSON *doc = wait_health(&daemon_, pred_probed, NULL, 5000, "the timeout");
	cJSON *ic = intercom_of(doc);
	ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
	assert_bool(ic, "authenticated", false);
	ck_assert_str_eq(json_str(ic, "error"), "timeout after 4000 ms");
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

/* One row of the contract's table, through the real stack. */
struct row {
	const char *knobs;
	long http;
	const char *status;
	bool authenticated;
	const char *error_part;    /* NULL: no error field */
	const char *arg;           /* one more setting for this row, or NULL */
};

static const struct row rows[] = {
	/* 2 s against a 1 s threshold, with 3 s to spare for the first
	 * probe's handshake on a loaded machine before the 5 s timeout:
	 * slow, not timed out. */
	{ "me=ok&code=200&delay_ms=2000", 200, "degraded", true, "200: slow",
	  "--degraded-latency=1s" },
	{ "me=ok&code=200&remaining=50", 200, "degraded", true, "rate limit low" },
	{ "me=error&code=429", 429, "degraded", true, "429: Exceeded rate limit" },
	{ "me=error&code=401", 401, "unhealthy", false, "401: Access Token Invalid" },
	{ "me=error&code=403", 403, "unhealthy", true, "403: " },
	{ "me=error&code=404", 404, "unhealthy", true, "404: Resource Not Found" },
	{ "me=error&code=500", 500, "unhealthy", true, "500: Server Error" },
	{ "me=error&code=502", 502, "unhealthy", true, "502: " },
	{ "me=error&code=503", 503, "unhealthy", true, "503: Service Unavailable" },
	{ "me=error&code=504", 504, "unhealthy", true, "504: " },
	{ "me=html&code=504", 504, "unhealthy", true, "504: HTML error page" },
	{ "me=error-no-list&code=500", 500, "unhealthy", true, "500: Something went wrong" },
	{ "me=error-empty-code&code=500", 500, "unhealthy", true, "500: " },
	{ "me=garbage&code=500", 500, "unhealthy", true, "500: unparseable" },
	{ "me=empty&code=502", 502, "unhealthy", true, "502: empty body" },
	{ "me=huge&code=500", 500, "unhealthy", true, "500: " },
	{ "me=garbage&code=200", 200, "unhealthy", false, "200: unparseable" },
	{ "me=empty&code=200", 200, "unhealthy", false, "200: empty body" },
	/* Only a prefix is read; a cut-off object is still a good answer. */
	{ "me=huge&code=200", 200, "healthy", true, NULL },
	/* A proxy echoing the credentials: the reason says so, redacted. */
	{ "me=reflect&code=401", 401, "unhealthy", false,
	  "401: bad credentials: Bearer (redacted)" },
	{ "me=reset", 0, "unhealthy", false, "connection failed" },
	/* The stand-in never answers: any timeout is the margin. */
	{ "me=hang", 0, "unhealthy", false, "timeout after 1000 ms",
	  "--timeout=1s" },
};

START_TEST(contract_table_row)
{
	const struct row *row = &rows[_i];
	fake_set(&harness_fake, row->knobs);
	/* One probe per daemon: 5 s for it, and the default 3 s threshold
	 * for "slow" that no answer of the stand-in's comes near. */
	const char *const args[] = { "--interval=6s", "--timeout=5s", row->arg, NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON *doc = wait_health(&daemon_, pred_probed, NULL, 10000, "a first probe");
	cJSON *ic = intercom_of(doc);
	char *text = cJSON_PrintUnformatted(doc);

	ck_assert_msg(strcmp(json_str(doc, "status"), row->status) == 0,
		      "%s: %s", row->knobs, text);
	ck_assert_str_eq(json_str(ic, "status"), row->status);
	assert_bool(ic, "authenticated", row->authenticated);
	cJSON *http = cJSON_GetObjectItemCaseSensitive(ic, "httpStatus");
	if (row->http)
		ck_assert_msg(cJSON_IsNumber(http) && (long)http->valuedouble == row->http,
			      "%s: %s", row->knobs, text);
	else
		ck_assert_msg(!cJSON_IsNumber(http), "%s: %s", row->knobs, text);
	if (row->error_part) {
		assert_error_has(ic, row->error_part);
		const char *error = json_str(ic, "error");
		for (const char *p = error; *p; p++)
			ck_assert_msg(*p >= 0x20 && *p < 0x7f, "unprintable error: %s",
				      text);
	} else {
		ck_assert_msg(json_str(ic, "error") == NULL, "%s", text);
	}

	long status;
	cJSON *again = get_health(&daemon_, &status);
	ck_assert_int_eq(status, strcmp(row->status, "healthy") == 0 ? 200 : 503);
	/* Whatever Intercom (or a proxy) said, the token stays out of the log. */
	char *log = daemon_log(&daemon_);
	assert_no_secret(log, strlen(log), "daemon stderr");
	free(log);
	cJSON_Delete(again);
	free(text);
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(probe_sends_the_contract_headers)
{
	cJSON *doc = start_and_probe(NULL);
	cJSON_Delete(doc);
	cJSON *stats = fake_stats(&harness_fake);
	cJSON *last = cJSON_GetObjectItemCaseSensitive(stats, "last_me");
	ck_assert_str_eq(json_str(last, "method"), "GET");
	ck_assert_str_eq(json_str(last, "path"), "/me");
	/* Compared, never printed: test output must not carry the token. */
	const char *auth = json_str(last, "authorization");
	ck_assert_msg(auth && strcmp(auth, "Bearer " TEST_TOKEN) == 0,
		      "Authorization is not \"Bearer <the token>\"");
	ck_assert_str_eq(json_str(last, "accept"), "application/json");
	ck_assert_str_eq(json_str(last, "intercom_version"), "2.14");
	const char *ua = json_str(last, "user_agent");
	ck_assert_msg(ua && strncmp(ua, "intercom-healthd/", 17) == 0,
		      "User-Agent: %s", ua ? ua : "(none)");
	cJSON_Delete(stats);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(probe_path_and_version_are_settings)
{
	const char *const args[] = { "--probe-path=/admins", "--api-version=2.11",
				     NULL };
	cJSON *doc = start_and_probe(args);
	cJSON_Delete(doc);
	cJSON *stats = fake_stats(&harness_fake);
	cJSON *last = cJSON_GetObjectItemCaseSensitive(stats, "last_me");
	ck_assert_str_eq(json_str(last, "path"), "/admins");
	ck_assert_str_eq(json_str(last, "intercom_version"), "2.11");
	cJSON_Delete(stats);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(health_traffic_costs_no_intercom_call)
{
	const char *const args[] = { "--interval=1h", NULL };
	cJSON *doc = start_and_probe(args);
	cJSON_Delete(doc);
	long before = fake_requests(&harness_fake, "me");
	ck_assert_int_eq(before, 1);

	/* 1000 requests over one keep-alive connection, as a load balancer
	 * would send them. */
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", daemon_.port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
	FILE *sink = fopen("/dev/null", "w");
	ck_assert_ptr_nonnull(sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	long connects = 0;
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
		long code, n;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		ck_assert_int_eq(code, 200);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
		connects += n;
	}
	fclose(sink);
	curl_easy_cleanup(c);
	/* Keep-alive held: one connection for all of them. */
	ck_assert_int_eq(connects, 1);
	ck_assert_int_eq(fake_requests(&harness_fake, "me"), before);
	daemon_stop(&daemon_);
}
END_TEST

/*
 * Asserts that no two of the API requests the stand-in saw came closer
 * than min_gap_ms: a retry comes within milliseconds. The schedule itself
 * (grid, jitter, back-off) is test-schedule's, on an injected clock; this
 * checks that the worker is wired to it. Only a lower bound: a loaded
 * machine delays probes, it never brings one forward.
 */
static void
assert_no_burst(const char *knobs, long long min_gap_ms)
{
	cJSON *stats = fake_stats(&harness_fake);
	cJSON *times = cJSON_GetObjectItemCaseSensitive(stats, "me_times_ms");
	char *text = cJSON_PrintUnformatted(times);
	int n = cJSON_GetArraySize(times);
	for (int i = 1; i < n; i++) {
		double gap = cJSON_GetArrayItem(times, i)->valuedouble -
			     cJSON_GetArrayItem(times, i - 1)->valuedouble;
		ck_assert_msg(gap >= (double)min_gap_ms,
			      "%s: probes %d and %d came %.0f ms apart, want at"
			      " least %lld; arrivals: %s", knobs, i - 1, i, gap,
			      min_gap_ms, text);
	}
	free(text);
	cJSON_Delete(stats);
}

START_TEST(probes_follow_the_interval)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000,
				 "a probe that got through"));
	/* A failure is not retried within the interval (retries would hide
	 * it and spend quota): the next probe is a whole interval, less the
	 * jitter's 10% and a handshake's head start, away. */
	fake_set(&harness_fake, "me=error&code=503");
	fake_reset(&harness_fake);
	wait_fake_requests(&harness_fake, "me", 3, 5000);
	assert_no_burst("me=error&code=503", 500);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(log_formats_json_and_journal)
{
	/* JSON: every line one object with time, level and message. */
	const char *const json_args[] = { "--log-format=json", "--interval=2s",
					  "--timeout=1500ms", NULL };
	cJSON *doc = start_and_probe(json_args);
	cJSON_Delete(doc);
	daemon_signal_wait(&daemon_, SIGTERM, 5000);
	char *log = daemon_log(&daemon_);
	assert_no_secret(log, strlen(log), "JSON log");
	int lines = 0, changes = 0;
	bool to_healthy = false;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *obj = cJSON_Parse(line);
		ck_assert_msg(obj, "not JSON: %s", line);
		ck_assert_ptr_nonnull(json_str(obj, "time"));
		ck_assert_ptr_nonnull(json_str(obj, "level"));
		const char *message = json_str(obj, "message");
		ck_assert_ptr_nonnull(message);
		/* A state change carries its fields, not only the message. */
		if (strncmp(message, "state ", 6) == 0) {
			ck_assert_ptr_nonnull(json_str(obj, "state"));
			ck_assert_ptr_nonnull(json_str(obj, "previous_state"));
			/* The change the answer made (after a first probe
			 * that a loaded machine may have lost to a timeout). */
			if (strcmp(json_str(obj, "state"), "healthy") == 0) {
				cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
				ck_assert_msg(cJSON_IsNumber(code) &&
					      code->valuedouble == 200, "%s", line);
				to_healthy = true;
			}
			changes++;
		}
		cJSON_Delete(obj);
		lines++;
	}
	ck_assert_int_ge(lines, 3);
	ck_assert_int_ge(changes, 1);
	ck_assert_msg(to_healthy, "no change to healthy with its code");
	free(log);
	unlink(daemon_.log_path);

	/* JOURNAL_STREAM inherited from a parent, naming another stream than
	 * stderr (here a file): plain lines, no `<N>` prefixes. The journal's
	 * own path is test-journal's. */
	const char *const env[] = { "JOURNAL_STREAM=8:12345", NULL };
	/* A port reserved and never listened on: connecting is refused. */
	int closed_port;
	int held = reserve_port(&closed_port);
	char api[64];
	snprintf(api, sizeof(api), "--api-url=https://127.0.0.1:%d", closed_port);
	const char *const args[] = { api, "--timeout=1500ms", "--interval=2s", NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	cJSON_Delete(wait_health(&daemon_, pred_probed, NULL, 5000, "a probe"));
	daemon_signal_wait(&daemon_, SIGTERM, 5000);
	log = daemon_log(&daemon_);
	/* The whole first line: a prefix would pass a wrong priority or
	 * version. */
	const char *first = "intercom-healthd: info: intercom-healthd " HEALTHD_VERSION
			    " starting\n";
	ck_assert_msg(strncmp(log, first, strlen(first)) == 0, "%s", log);
	ck_assert_msg(strstr(log, "\nintercom-healthd: info: state starting -> unhealthy: "
			     "connection failed"), "%s", log);
	ck_assert_msg(!strstr(log, "<6>") && !strstr(log, "<4>"), "%s", log);
	free(log);
	unlink(daemon_.log_path);
	close(held);
}
END_TEST

START_TEST(unknown_path_404_other_method_405_head_works)
{
	cJSON *doc = start_and_probe(NULL);
	cJSON_Delete(doc);
	struct http_reply r;
	http_request(daemon_.port, NULL, "/nope", NULL, &r);
	ck_assert_int_eq(r.status, 404);
	http_reply_free(&r);

	const char *paths[] = { "/health", "/readyz", "/livez", "/metrics" };
	for (size_t i = 0; i < 4; i++) {
		http_request(daemon_.port, "POST", paths[i], NULL, &r);
		ck_assert_int_eq(r.status, 405);
		char *allow = http_header(&r, "Allow");
		ck_assert_ptr_nonnull(allow);
		ck_assert_str_eq(allow, "GET, HEAD");
		free(allow);
		http_reply_free(&r);

		http_request(daemon_.port, "HEAD", paths[i], NULL, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.body_len, 0);
		http_reply_free(&r);
	}
	http_request(daemon_.port, "DELETE", "/health", NULL, &r);
	ck_assert_int_eq(r.status, 405);
	http_reply_free(&r);
	daemon_stop(&daemon_);
}
END_TEST

/* Sends raw bytes, returns what came back (caller frees). */
static char *
raw_exchange(int port, const char *data)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	shutdown(fd, SHUT_WR);
	char *buf = calloc(1, 8192);
	ck_assert_ptr_nonnull(buf);
	size_t len = 0;
	ssize_t n;
	while (len < 8191 && (n = read(fd, buf + len, 8191 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

START_TEST(malformed_requests_get_4xx_and_serving_goes_on)
{
	cJSON *doc = start_and_probe(NULL);
	cJSON_Delete(doc);
	const char *bad[] = {
		"GET / \r\n\r\n",                     /* no protocol */
		"GET /health FOO/1.1\r\nHost: x\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *reply = raw_exchange(daemon_.port, bad[i]);
		ck_assert_msg(strncmp(reply, "HTTP/1.1 4", 10) == 0 ||
			      strncmp(reply, "HTTP/1.1 505", 12) == 0,
			      "request %zu got: %.60s", i, reply);
		free(reply);
	}
	/* A request line without a URI: libmicrohttpd 0.9.75 closes the
	 * connection without an answer. No crash, and no hang either. */
	char *reply = raw_exchange(daemon_.port, "GARBAGE\x01\xff\r\n\r\n");
	ck_assert_msg(reply[0] == '\0' || strncmp(reply, "HTTP/1.1 4", 10) == 0,
		      "garbage got: %.60s", reply);
	free(reply);
	long status;
	doc = get_health(&daemon_, &status);
	ck_assert_int_eq(status, 200);
	cJSON_Delete(doc);
	/* Any client can send these: they must not flood the log. */
	char *log = daemon_log(&daemon_);
	ck_assert_msg(strstr(log, "http:") == NULL, "bad requests logged:\n%s", log);
	free(log);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(sigterm_and_sigint_exit_0_without_waiting_for_the_probe)
{
	int sigs[] = { SIGTERM, SIGINT };
	const long long probe_timeout_ms = 5000;
	for (int i = 0; i < 2; i++) {
		/* Mid-probe, too: the hang must not hold the shutdown. */
		fake_set(&harness_fake, i == 0 ? "me=ok&code=200" : "me=hang");
		fake_reset(&harness_fake);
		const char *const args[] = { "--interval=10s", "--timeout=5s", NULL };
		daemon_start_fake(&daemon_, &harness_fake, args);
		if (i == 0) {
			cJSON *doc = wait_health(&daemon_, pred_probed, NULL, 5000,
						 "a probe");
			cJSON_Delete(doc);
		} else {
			wait_fake_requests(&harness_fake, "me", 1, 5000);
		}
		/* Waits past the probe's timeout, so that a shutdown that
		 * waits for the probe shows as such, not as a kill. */
		long long t0 = now_ms();
		int status = daemon_signal_wait(&daemon_, sigs[i],
						(int)probe_timeout_ms + 2000);
		long long took = now_ms() - t0;
		char *log = daemon_log(&daemon_);
		ck_assert_msg(status != -1, "no exit within %lld ms of signal %d",
			      probe_timeout_ms + 2000, sigs[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "status %d after signal %d:\n%s", status, sigs[i], log);
		ck_assert_msg(strstr(log, "stopped") != NULL, "no shutdown line:\n%s", log);
		/* Well before the hanging probe would have ended: half its
		 * timeout leaves any slow machine room, and still tells
		 * "stopped at once" from "waited for the probe". */
		ck_assert_msg(took < probe_timeout_ms / 2, "signal %d: exit took %lld "
			      "ms, the probe's timeout is %lld ms", sigs[i], took,
			      probe_timeout_ms);
		free(log);
		unlink(daemon_.log_path);
	}
}
END_TEST

START_TEST(logs_state_changes_not_requests_and_no_token)
{
	cJSON *doc = start_and_probe(NULL);
	ck_assert_str_eq(json_str(doc, "status"), "healthy");
	cJSON_Delete(doc);
	for (int i = 0; i < 50; i++) {
		long s;
		cJSON_Delete(get_health(&daemon_, &s));
	}
	fake_set(&harness_fake, "me=error&code=401");
	doc = wait_health(&daemon_, pred_status, "unhealthy", 5000, "401");
	cJSON_Delete(doc);
	/* Two more probes with the same answer: no more lines. */
	long probes = (long)metric_value(&daemon_, "intercom_probe_duration_seconds_count");
	wait_probes(&daemon_, probes + 2, 5000);
	char *log = daemon_log(&daemon_);
	assert_no_secret(log, strlen(log), "daemon stderr");
	ck_assert_msg(strstr(log, "starting"), "no start-up line:\n%s", log);
	ck_assert_msg(strstr(log, "token: set (env INTERCOM_ACCESS_TOKEN)"),
		      "start-up does not say where the token came from:\n%s", log);
	ck_assert_msg(strstr(log, "-> healthy"), "no first state line:\n%s", log);
	ck_assert_msg(strstr(log, "healthy -> unhealthy: 401: Access Token Invalid"),
		      "no state change line:\n%s", log);
	/* One line per change: the 401 once, however many probes said it;
	 * again only after a probe that a loaded machine timed out, which is
	 * a change of its own. */
	const char *change = strstr(log, "unhealthy: 401: Access Token Invalid");
	ck_assert_int_eq(count_of(change, "401: Access Token Invalid"),
			 1 + count_of(change, "timeout after"));
	ck_assert_ptr_null(strstr(log, "/health"));
	free(log);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(token_never_served)
{
	fake_set(&harness_fake, "me=error&code=401");
	cJSON *doc = start_and_probe(NULL);
	cJSON_Delete(doc);
	const char *paths[] = { "/health", "/readyz", "/livez", "/metrics", "/x" };
	for (size_t i = 0; i < 5; i++) {
		struct http_reply r;
		http_request(daemon_.port, NULL, paths[i], NULL, &r);
		assert_no_secret(r.body, r.body_len, paths[i]);
		assert_no_secret(r.headers, strlen(r.headers), paths[i]);
		http_reply_free(&r);
		http_request(daemon_.port, NULL, paths[i], "application/health+json", &r);
		assert_no_secret(r.body, r.body_len, paths[i]);
		http_reply_free(&r);
	}
	daemon_stop(&daemon_);
}
END_TEST

/* A file holding text, mode 0600, in the test's directory; path into
 * out. */
static void
write_file(char *path, size_t size, const char *text)
{
	harness_path(path, size, "file-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(bad_settings_exit_2_naming_the_setting)
{
	const char *bin = getenv("HEALTHD_BIN");
	char conf[512];
	write_file(conf, sizeof(conf), "interval = 10s\nbogus_key = 1\n");
	char confarg[600];
	snprintf(confarg, sizeof(confarg), "--config=%s", conf);
	char where[600];
	snprintf(where, sizeof(where), "%s:2", conf);

	struct {
		const char *argv[4];
		const char *env;
		const char *want[3];
	} cases[] = {
		{ { bin, "--interval=abc", NULL }, "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN,
		  { "interval", "--interval", "abc" } },
		{ { bin, NULL }, "INTERCOM_HEALTHD_TIMEOUT=20s",
		  { "timeout", "INTERCOM_HEALTHD_TIMEOUT", NULL } },
		{ { bin, "--listen=127.0.0.1:70000", NULL }, NULL, { "listen", "70000", NULL } },
		{ { bin, confarg, NULL }, NULL, { "bogus_key", where, NULL } },
		{ { bin, "--token-file=/nonexistent/token", NULL }, NULL,
		  { "token_file", "/nonexistent/token", NULL } },
		{ { bin, "--token=" TEST_TOKEN, NULL }, NULL, { "command line", NULL, NULL } },
		/* /history serves every probe kept in one body: the
		 * maximum is what bounds it. */
		{ { bin, "--history-size=10001", NULL }, NULL,
		  { "history_size", "10001", "between 10 and 10000" } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, cases[i].env,
				      NULL };
		char *out;
		int status = run_command(cases[i].argv, env, &out);
		ck_assert_msg(status == 2, "case %zu: exit %d: %s", i, status, out);
		for (int k = 0; k < 3 && cases[i].want[k]; k++)
			ck_assert_msg(strstr(out, cases[i].want[k]),
				      "case %zu: \"%s\" not in: %s", i,
				      cases[i].want[k], out);
		/* One line. */
		char *nl = strchr(out, '\n');
		ck_assert_msg(nl && nl[1] == '\0', "case %zu: not one line: %s", i, out);
		assert_no_secret(out, strlen(out), "an error message");
		free(out);
	}

	/* No token at all. */
	const char *argv[] = { bin, NULL };
	char *out;
	int status = run_command(argv, NULL, &out);
	ck_assert_int_eq(status, 2);
	ck_assert_msg(strstr(out, "token"), "%s", out);
	free(out);
	unlink(conf);
}
END_TEST

START_TEST(listen_setting_binds_without_systemd)
{
	/* A port held for the daemon, which binds it itself. */
	int port;
	int held = reserve_port(&port);

	char listen[64], api[128], ca[600];
	snprintf(listen, sizeof(listen), "--listen=127.0.0.1:%d", port);
	char url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	const char *bin = getenv("HEALTHD_BIN");

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char *const argv[] = { (char *)bin, listen, api, ca,
				       "--status-url=off", NULL };
		char *const envp[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDERR_FILENO);
		execve(bin, argv, envp);
		_exit(127);
	}
	harness_track(pid);
	long status = 0;
	long long deadline = harness_deadline(5000);
	while (status != 200 && now_ms() < deadline) {
		sleep_ms(25);
		CURL *c = curl_easy_init();
		ck_assert_ptr_nonnull(c);
		char u[64];
		snprintf(u, sizeof(u), "http://127.0.0.1:%d/livez", port);
		curl_easy_setopt(c, CURLOPT_URL, u);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
	}
	/* Held until now: while the daemon starts, nobody else may take the
	 * port. */
	close(held);
	kill(pid, SIGTERM);
	int ws = reap(pid, 5000);
	ck_assert_int_eq(status, 200);
	ck_assert_msg(ws != -1, "no exit within 5 s of SIGTERM");
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}
END_TEST

START_TEST(token_file_rotation_without_restart)
{
	char path[512];
	write_file(path, sizeof(path), "wrong-token\n");
	char arg[600];
	snprintf(arg, sizeof(arg), "--token-file=%s", path);
	const char *const args[] = { "--interval=2s", "--timeout=1500ms", arg, NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	/* An answer, not a first probe that timed out on a loaded machine. */
	cJSON *doc = wait_health(&daemon_, pred_error_has, "401: ", 5000,
				 "the wrong token refused");
	ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
	cJSON_Delete(doc);

	/* Rotate: write the new token and rename over, as secret stores do. */
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(TEST_TOKEN "\n", f);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);
	doc = wait_health(&daemon_, pred_status, "healthy", 5000, "the new token");
	cJSON_Delete(doc);

	/* And back, this time in place, announced by SIGHUP. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("another-wrong-token\n", f);
	fclose(f);
	kill(daemon_.pid, SIGHUP);
	doc = wait_health(&daemon_, pred_status, "unhealthy", 5000, "SIGHUP reload");
	cJSON_Delete(doc);
	char *log = daemon_log(&daemon_);
	ck_assert_msg(strstr(log, "token reloaded"), "%s", log);
	free(log);
	daemon_stop(&daemon_);
	unlink(path);
}
END_TEST

START_TEST(check_command_exit_codes)
{
	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca[600], url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	struct {
		const char *knobs;
		int status;
		const char *prefix;
	} cases[] = {
		{ "me=ok&code=200", 0, "INTERCOM OK - 200 in " },
		{ "me=error&code=429", 1, "INTERCOM WARNING - 429 in " },
		{ "me=error&code=401", 2, "INTERCOM CRITICAL - 401 in " },
		{ "me=reflect&code=401", 2, "INTERCOM CRITICAL - 401 in " },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_set(&harness_fake, cases[i].knobs);
		const char *argv[] = { bin, "check", api, ca, NULL };
		char *out;
		int status = run_command(argv, env, &out);
		ck_assert_msg(status == cases[i].status, "exit %d: %s", status, out);
		ck_assert_msg(strncmp(out, cases[i].prefix, strlen(cases[i].prefix)) == 0,
			      "%s", out);
		ck_assert_msg(strstr(out, " | time="), "no perfdata: %s", out);
		ck_assert_msg(strstr(out, "s;3;5;0"), "thresholds not as the contract's "
			      "example: %s", out);
		assert_no_secret(out, strlen(out), "check output");
		free(out);
	}
	fake_set(&harness_fake, "me=ok&code=200");
	const char *argv[] = { bin, "check", api, ca, "--format=json", NULL };
	char *out;
	ck_assert_int_eq(run_command(argv, env, &out), 0);
	cJSON *doc = cJSON_Parse(out);
	ck_assert_msg(doc, "not JSON: %s", out);
	ck_assert_str_eq(json_str(doc, "status"), "healthy");
	cJSON_Delete(doc);
	free(out);

	const char *bad[] = { bin, "check", "--interval=zzz", NULL };
	ck_assert_int_eq(run_command(bad, env, &out), 3);
	free(out);
}
END_TEST

/* Environment that loads tests/shim.c into the daemon. */
static void
shim_env(char *preload, size_t size)
{
	const char *shim = getenv("TEST_SHIM");
	ck_assert_msg(shim && *shim, "TEST_SHIM is not set");
	snprintf(preload, size, "LD_PRELOAD=%s", shim);
}

START_TEST(dns_outage_is_a_timeout_not_a_stall)
{
	/* The lookup hangs for 60 s; the probe must end at its 1.5 s
	 * timeout and the worker go on, not wait out the resolver. */
	char preload[600];
	shim_env(preload, sizeof(preload));
	const char *const env[] = { preload, "SHIM_DNS_DELAY_MS=60000",
				    "ASAN_OPTIONS=verify_asan_link_order=0", NULL };
	const char *const args[] = { "--api-url=https://slow-dns.test:9",
				     "--interval=2s", "--timeout=1500ms", NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	cJSON *doc = wait_health(&daemon_, pred_probed, NULL, 3000, "a probe");
	cJSON *ic = intercom_of(doc);
	ck_assert_str_eq(json_str(doc, "status"), "unhealthy");
	assert_error_has(ic, "timeout after 1500 ms");
	cJSON_Delete(doc);
	wait_probes(&daemon_, 2, 3000);
	struct http_reply r;
	http_request(daemon_.port, NULL, "/livez", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	http_reply_free(&r);

	/* Mid-lookup, SIGTERM still ends it, long before the resolver would:
	 * 150 ms into the third probe, which cannot finish for 1.5 s. */
	doc = get_health(&daemon_, NULL);
	long long next = json_time_ms(intercom_of(doc), "nextProbeAt");
	cJSON_Delete(doc);
	ck_assert_msg(next > 0, "no nextProbeAt in /health");
	long long wait = next + 150 - wall_ms();
	ck_assert_msg(wait < 5000, "the next probe is %lld ms away", wait);
	if (wait > 0)
		sleep_ms((int)wait);
	ck_assert_double_eq(metric_value(&daemon_,
					 "intercom_probe_duration_seconds_count"), 2);
	int status = daemon_signal_wait(&daemon_, SIGTERM, 10000);
	ck_assert_msg(status != -1, "no exit within 10 s of SIGTERM during a 60 s DNS hang");
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(daemon_.log_path);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "seed shape", healthy_answer_keeps_the_seed_shape },
		{ "no rate limit header", no_rate_limit_header_no_field },
		{ "before first probe", before_first_probe_is_unhealthy_and_answers_at_once },
		{ "probe headers", probe_sends_the_contract_headers },
		{ "probe path and version", probe_path_and_version_are_settings },
		{ "no calls from traffic", health_traffic_costs_no_intercom_call },
		{ "interval", probes_follow_the_interval },
		{ "404 405 HEAD", unknown_path_404_other_method_405_head_works },
		{ "malformed requests", malformed_requests_get_4xx_and_serving_goes_on },
		{ "signals", sigterm_and_sigint_exit_0_without_waiting_for_the_probe },
		{ "logs", logs_state_changes_not_requests_and_no_token },
		{ "token never served", token_never_served },
		{ "bad settings", bad_settings_exit_2_naming_the_setting },
		{ "listen", listen_setting_binds_without_systemd },
		{ "token rotation", token_file_rotation_without_restart },
		{ "check", check_command_exit_codes },
		{ "dns outage", dns_outage_is_a_timeout_not_a_stall },
		{ "log formats", log_formats_json_and_journal },
		{ "contract table", contract_table_row,
		  (int)(sizeof(rows) / sizeof(rows[0])) },
	};
	return harness_run("serve", cases, sizeof(cases) / sizeof(cases[0]));
}
