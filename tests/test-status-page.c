#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

/*
 * /history and the status page at / end to end: the real daemon against
 * the stand-in, read with curl, a real browser (headless Chromium) and a
 * terminal browser (lynx).
 *
 * With HEALTHD_SCREENSHOT_DIR set, "browser" also leaves its screenshots
 * there as status-healthy.png and status-outage.png (the README's).
 */

static struct daemon daemon_;

static cJSON *
get_history(struct daemon *d)
{
	struct http_reply r;
	http_request(d->port, NULL, "/history", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_no_secret(r.body, r.body_len, "/history");
	cJSON *doc = cJSON_Parse(r.body);
	ck_assert_msg(doc != NULL, "/history is not JSON: %.2000s", r.body);
	http_reply_free(&r);
	return doc;
}

static int
probes_in(cJSON *history)
{
	cJSON *probes = cJSON_GetObjectItemCaseSensitive(history, "probes");
	ck_assert(cJSON_IsArray(probes));
	return cJSON_GetArraySize(probes);
}

static double
probes_done(struct daemon *d)
{
	return metric_value(d, "intercom_probe_duration_seconds_count");
}

START_TEST(history_holds_every_probe)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	wait_probes(&daemon_, 4, 30000);

	/* A probe may finish between two reads: bracket /history. */
	double before = probes_done(&daemon_);
	cJSON *doc = get_history(&daemon_);
	double after = probes_done(&daemon_);
	int n = probes_in(doc);
	ck_assert_msg(n >= before && n <= after,
		      "/history holds %d probes, /metrics counted %.0f..%.0f",
		      n, before, after);
	ck_assert_int_eq(cJSON_GetObjectItem(doc, "historySize")->valueint, 240);

	/* Every answer was the stand-in's 200; a probe that a loaded
	 * machine timed out has no answer, and is a state change each way. */
	long long last_at = 0;
	int answered = 0, changes = 0;
	const char *state = NULL;
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "probes")) {
		long long at = json_time_ms(p, "at");
		ck_assert_msg(at > last_at, "probes not oldest first");
		last_at = at;
		ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(p, "latencyMs")));
		if (state && strcmp(state, json_str(p, "state")) != 0)
			changes++;
		state = json_str(p, "state");
		if (!cJSON_IsNumber(cJSON_GetObjectItem(p, "httpStatus"))) {
			ck_assert_str_eq(json_str(p, "state"), "unhealthy");
			ck_assert_ptr_nonnull(strstr(json_str(p, "error"), "timeout"));
			continue;
		}
		answered++;
		ck_assert_str_eq(json_str(p, "state"), "healthy");
		ck_assert_int_eq(cJSON_GetObjectItem(p, "httpStatus")->valueint, 200);
		ck_assert_int_eq(cJSON_GetObjectItem(p, "rateLimitRemaining")->valueint,
				 9990);
		ck_assert_ptr_null(cJSON_GetObjectItem(p, "error"));
	}
	ck_assert_int_ge(answered, 2);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "transitions")),
			 changes);
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(history_size_bounds_the_ring)
{
	/* The ring's wrap is test-history's (on hand-built entries); here,
	 * that the setting reaches the ring /history serves. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--history-size=10", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	wait_probes(&daemon_, 2, 30000);
	cJSON *doc = get_history(&daemon_);
	int n = probes_in(doc);
	ck_assert_msg(n >= 2 && n <= 10, "%d probes in /history", n);
	ck_assert_int_eq(cJSON_GetObjectItem(doc, "historySize")->valueint, 10);
	/* The newest last: no older than the latest check. */
	cJSON *probes = cJSON_GetObjectItem(doc, "probes");
	long long newest = json_time_ms(cJSON_GetArrayItem(probes, n - 1), "at");
	cJSON *health = get_health(&daemon_, NULL);
	long long checked = json_time_ms(intercom_of(health), "checkedAt");
	ck_assert_msg(newest <= checked, "newest probe %lld, checkedAt %lld",
		      newest, checked);
	cJSON_Delete(health);
	cJSON_Delete(doc);
	daemon_stop(&daemon_);
}
END_TEST

/* Flips the stand-in to 401 and back; returns with the daemon healthy. */
static void
flip_401_and_back(struct daemon *d)
{
	fake_set(&harness_fake, "me=error&code=401");
	cJSON_Delete(wait_probe_after_change(d, &harness_fake, pred_status,
					     "unhealthy", 15000));
	fake_set(&harness_fake, "me=ok&code=200");
	cJSON_Delete(wait_probe_after_change(d, &harness_fake, pred_status,
					     "healthy", 15000));
}

START_TEST(flip_and_recovery_are_two_transitions)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 15000, "healthy"));
	flip_401_and_back(&daemon_);

	cJSON *doc = get_history(&daemon_);
	cJSON *trans = cJSON_GetObjectItem(doc, "transitions");
	/* Two, unless a loaded machine timed a probe out before the flip:
	 * then that probe, not the 401, took the state down. */
	int n = cJSON_GetArraySize(trans);
	ck_assert_msg(n == 2 || n == 4, "transitions: %s", cJSON_PrintUnformatted(trans));
	cJSON *down = cJSON_GetArrayItem(trans, n - 2);
	cJSON *up = cJSON_GetArrayItem(trans, n - 1);
	ck_assert_str_eq(json_str(down, "from"), "healthy");
	ck_assert_str_eq(json_str(down, "to"), "unhealthy");
	ck_assert_msg(strcmp(json_str(down, "reason"), "401: Access Token Invalid") == 0 ||
		      strstr(json_str(down, "reason"), "timeout"),
		      "down reason: %s", json_str(down, "reason"));
	ck_assert_str_eq(json_str(up, "from"), "unhealthy");
	ck_assert_str_eq(json_str(up, "to"), "healthy");
	ck_assert_msg(strncmp(json_str(up, "reason"), "200 in ", 7) == 0,
		      "recovery reason: %s", json_str(up, "reason"));
	ck_assert(json_time_ms(down, "at") < json_time_ms(up, "at"));

	/* The 401 probes are in the ring with Intercom's words. */
	int unauthorized = 0;
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "probes")) {
		cJSON *status = cJSON_GetObjectItem(p, "httpStatus");
		if (cJSON_IsNumber(status) && status->valueint == 401) {
			unauthorized++;
			ck_assert_str_eq(json_str(p, "state"), "unhealthy");
			ck_assert_str_eq(json_str(p, "error"), "401: Access Token Invalid");
		}
	}
	ck_assert_int_ge(unauthorized, 1);
	cJSON_Delete(doc);

	/* The page's table says the same. */
	struct http_reply r;
	http_request(daemon_.port, NULL, "/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "<table id=\"transitions\">"));
	ck_assert_ptr_nonnull(strstr(r.body, "401: Access Token Invalid"));
	ck_assert_ptr_nonnull(strstr(r.body, "id=\"state\">healthy<"));
	assert_no_secret(r.body, r.body_len, "/");
	http_reply_free(&r);
	daemon_stop(&daemon_);
}
END_TEST

static void
assert_header(const struct http_reply *r, const char *name, const char *want)
{
	char *got = http_header(r, name);
	ck_assert_msg(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"",
		      name, got ? got : "(none)", want);
	free(got);
}

START_TEST(headers_routes_and_no_calls)
{
	/* One probe at start, then none for an hour. */
	const char *const args[] = { "--interval=1h", "--timeout=5s", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_probed, NULL, 15000, "a probe"));
	fake_reset(&harness_fake);

	struct http_reply r;
	http_request(daemon_.port, NULL, "/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Type", "text/html; charset=utf-8");
	assert_header(&r, "Content-Security-Policy",
		      "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
	assert_header(&r, "X-Content-Type-Options", "nosniff");
	assert_header(&r, "Cache-Control", "no-store");
	ck_assert_ptr_nonnull(strstr(r.body, "<meta http-equiv=\"refresh\" content=\"3600\">"));
	char *first = strdup(r.body);
	http_reply_free(&r);

	http_request(daemon_.port, NULL, "/history", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	assert_header(&r, "Cache-Control", "no-store");
	assert_header(&r, "X-Content-Type-Options", "nosniff");
	http_reply_free(&r);

	/* Rendered once per snapshot: a second later, the very same bytes
	 * (the page names the second it was rendered). */
	sleep_ms(1100);
	http_request(daemon_.port, NULL, "/", NULL, &r);
	ck_assert_msg(strcmp(first, r.body) == 0, "the page was rendered again");
	http_reply_free(&r);
	free(first);

	http_request(daemon_.port, "HEAD", "/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	http_reply_free(&r);
	http_request(daemon_.port, "POST", "/", NULL, &r);
	ck_assert_int_eq(r.status, 405);
	assert_header(&r, "Allow", "GET, HEAD");
	http_reply_free(&r);
	http_request(daemon_.port, "DELETE", "/history", NULL, &r);
	ck_assert_int_eq(r.status, 405);
	http_reply_free(&r);
	const char *missing[] = { "/index.html", "/history/", "//", "/historyx", "/?" };
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		http_request(daemon_.port, NULL, missing[i], NULL, &r);
		/* "/?" is "/" with an empty query: MHD keeps queries apart. */
		long want = strcmp(missing[i], "/?") == 0 ? 200 : 404;
		ck_assert_msg(r.status == want, "%s: %ld", missing[i], r.status);
		http_reply_free(&r);
	}

	/* Readers never reach Intercom. */
	for (int i = 0; i < 100; i++) {
		http_request(daemon_.port, NULL, i % 2 ? "/" : "/history", NULL, &r);
		ck_assert_int_eq(r.status, 200);
		http_reply_free(&r);
	}
	ck_assert_int_eq(fake_requests(&harness_fake, "me"), 0);
	daemon_stop(&daemon_);
}
END_TEST

/* ---- real browsers */

/*
 * Runs argv with env to completion within timeout_ms (stretched as the
 * harness's waits are), output in *out (caller frees). Returns the wait
 * status, or -1 when it did not finish: then the whole process group was
 * killed. harness's run_command() allows 10 s, which a browser's first
 * start on a loaded CI machine can exceed.
 */
static int
run_slow(const char *const *argv, const char *const *env, int timeout_ms,
	 char **out)
{
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		execve(argv[0], (char *const *)argv, (char *const *)env);
		_exit(127);
	}
	harness_track(pid);
	close(fds[1]);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	/* A bound for a hang, stretched like the harness's waits: a browser
	 * on a machine busy with other work takes its time. */
	long long deadline = harness_deadline(timeout_ms);
	bool timed_out = false, exited = false;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int ready = poll(&p, 1, left < 200 ? (int)left : 200);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			/* The browser gone, and its pipe drained: a helper
			 * left behind holds the pipe, which ends no read. */
			if (exited)
				break;
			siginfo_t done;
			memset(&done, 0, sizeof(done));
			exited = waitid(P_PID, (id_t)pid, &done,
					WEXITED | WNOHANG | WNOWAIT) == 0 &&
				 done.si_pid == pid;
			continue;
		}
		if (len + 4096 >= cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(fds[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	buf[len] = '\0';
	if (timed_out)
		kill(-pid, SIGKILL);
	/* Chromium leaves helpers behind in its group now and then: they
	 * are killed once the browser has exited but before it is reaped,
	 * while its number still names this group and no other. */
	siginfo_t info;
	long long until = harness_deadline(timed_out ? 5000 : timeout_ms);
	for (;;) {
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    info.si_pid == pid)
			break;
		if (now_ms() >= until) {
			kill(pid, SIGKILL);
			break;
		}
		sleep_ms(10);
	}
	kill(-pid, SIGKILL);
	int status = reap(pid, 5000);
	*out = buf;
	return timed_out ? -1 : status;
}

/*
 * run_slow() for a browser: headless Chromium on a machine busy with other
 * work now and then never ends a load (seen in one run in about ten, as a
 * hang, not slowness). Such a run is killed and the load made again, at
 * most three times: the page is judged by what a browser that finished
 * shows, and a browser that never finishes fails the test.
 */
static int
run_browser(const char *const *argv, const char *const *env, char **out)
{
	int status = -1;
	for (int attempt = 0; attempt < 3 && status == -1; attempt++) {
		if (attempt > 0)
			free(*out);
		status = run_slow(argv, env, 30000, out);
	}
	ck_assert_msg(status != -1, "%s did not finish a load in three tries; the"
		      " last printed:\n%.2000s", argv[0], *out);
	return status;
}

static const char *
tool(const char *var)
{
	const char *path = getenv(var);
	ck_assert_msg(path && access(path, X_OK) == 0,
		      "%s is not set to an executable (tests/meson.build sets it)", var);
	return path;
}

/*
 * Loads / in headless Chromium: returns the DOM it built (caller frees)
 * and leaves a screenshot at png.
 */
static char *
chromium_load(int port, const char *png)
{
	char url[64], profile[512], home[600], shot[600], env_home[620];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	harness_path(profile, sizeof(profile), "chromium-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(profile));
	snprintf(home, sizeof(home), "--user-data-dir=%s", profile);
	snprintf(env_home, sizeof(env_home), "HOME=%s", profile);
	snprintf(shot, sizeof(shot), "--screenshot=%s", png);
	const char *bin = tool("CHROMIUM");
	const char *const env[] = { "PATH=/usr/bin:/bin", env_home, NULL };
	/* Flags: no sandbox (tests may run as root, in containers), no
	 * network beyond the page itself, a fresh profile each time. */
#define CHROMIUM_FLAGS(extra...) { bin, "--headless", "--no-sandbox", \
	"--disable-gpu", "--disable-quic", "--no-first-run", \
	"--disable-background-networking", "--disable-component-update", \
	"--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", \
	home, extra, url, NULL }

	char *out = NULL;
	const char *const dump[] = CHROMIUM_FLAGS("--dump-dom");
	int status = run_browser(dump, env, &out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "chromium --dump-dom failed:\n%.2000s", out);

	char *shot_out = NULL;
	const char *const screenshot[] = CHROMIUM_FLAGS(shot, "--window-size=1000,1300");
	status = run_browser(screenshot, env, &shot_out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "chromium --screenshot failed:\n%.2000s", shot_out);
	free(shot_out);
#undef CHROMIUM_FLAGS

	/* A PNG of the window's size, not an empty file. */
	FILE *f = fopen(png, "rb");
	ck_assert_msg(f != NULL, "no screenshot at %s", png);
	unsigned char head[24];
	ck_assert_uint_eq(fread(head, 1, sizeof(head), f), sizeof(head));
	fclose(f);
	ck_assert(memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0);
	unsigned width = (unsigned)head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
	unsigned height = (unsigned)head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
	ck_assert_msg(width >= 900 && height >= 1000, "screenshot %ux%u", width, height);
	struct stat st;
	ck_assert_int_eq(stat(png, &st), 0);
	ck_assert_int_gt(st.st_size, 10000);
	return out;
}

static char *
lynx_dump(int port)
{
	char url[64], home[512], env_home[600];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	harness_path(home, sizeof(home), "lynx-home");
	mkdir(home, 0700);
	snprintf(env_home, sizeof(env_home), "HOME=%s", home);
	const char *const argv[] = { tool("LYNX"), "-dump", "-nolist", "-width=120",
				     "-display_charset=utf-8", url, NULL };
	const char *const env[] = { "PATH=/usr/bin:/bin", env_home, "TERM=dumb", NULL };
	char *out = NULL;
	int status = run_slow(argv, env, 30000, &out);
	ck_assert_msg(status != -1, "lynx did not finish; it printed:\n%.2000s", out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "lynx failed:\n%.2000s", out);
	return out;
}

static void
keep_screenshot(const char *png, const char *name)
{
	const char *dir = getenv("HEALTHD_SCREENSHOT_DIR");
	if (!dir || !*dir)
		return;
	char dst[1024];
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	FILE *in = fopen(png, "rb"), *out = fopen(dst, "wb");
	ck_assert_msg(in && out, "cannot copy the screenshot to %s", dst);
	size_t n;
	char buf[8192];
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

START_TEST(browsers_show_the_state_and_the_table)
{
	char status_url[512], webhook_url[512], sarg[600], warg[600];
	fake_url(&harness_fake, "/api/v2/status.json", status_url, sizeof(status_url));
	fake_url(&harness_fake, "/webhook", webhook_url, sizeof(webhook_url));
	snprintf(sarg, sizeof(sarg), "--status-url=%s", status_url);
	snprintf(warg, sizeof(warg), "--webhook-url=%s", webhook_url);
	const char *const args[] = { "--interval=1s", "--timeout=900ms",
				     "--status-interval=1s", sarg, warg, NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 15000, "healthy"));
	/* Some history to draw: a slower spell and an outage, then health. */
	wait_probes(&daemon_, 3, 30000);
	fake_set(&harness_fake, "delay_ms=300&remaining=4000");
	wait_probes(&daemon_, 6, 30000);
	fake_set(&harness_fake, "delay_ms=0&remaining=9990");
	flip_401_and_back(&daemon_);
	double drawn = probes_done(&daemon_);
	wait_probes(&daemon_, (long)drawn + 2, 30000);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 15000, "healthy"));

	char png[512];
	harness_path(png, sizeof(png), "healthy.png");
	/* A browser on a busy machine takes seconds to load: a probe that
	 * timed out meanwhile changes the state the page shows, rightly.
	 * Then the page is loaded again; a page that shows another state
	 * while no probe finished during its load is wrong. */
	char *dom = NULL;
	for (int attempt = 0; attempt < 3; attempt++) {
		free(dom);
		cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 15000,
					 "healthy"));
		double before = probes_done(&daemon_);
		dom = chromium_load(daemon_.port, png);
		if (strstr(dom, "id=\"state\">healthy</p>") ||
		    probes_done(&daemon_) == before)
			break;
	}
	ck_assert_msg(strstr(dom, "id=\"state\">healthy</p>") != NULL,
		      "state not in the DOM:\n%.2000s", dom);
	ck_assert_ptr_nonnull(strstr(dom, "<table id=\"transitions\">"));
	ck_assert_ptr_nonnull(strstr(dom, "401: Access Token Invalid"));
	ck_assert_ptr_nonnull(strstr(dom, "<svg id=\"timeline\""));
	ck_assert_ptr_nonnull(strstr(dom, "<polyline class=\"lat\""));
	assert_no_secret(dom, strlen(dom), "the DOM");
	free(dom);
	keep_screenshot(png, "status-healthy.png");

	char *text = lynx_dump(daemon_.port);
	ck_assert_msg(strstr(text, "healthy") && strstr(text, "State changes") &&
		      strstr(text, "401: Access Token Invalid") &&
		      strstr(text, "When") && strstr(text, "Reason"),
		      "lynx -dump lacks the state or the table:\n%.2000s", text);
	free(text);

	/* An outage held a while, for the second screenshot. */
	fake_set(&harness_fake, "me=error&code=401&page=major");
	cJSON_Delete(wait_probe_after_change(&daemon_, &harness_fake, pred_status,
					     "unhealthy", 15000));
	double now = probes_done(&daemon_);
	wait_probes(&daemon_, (long)now + 4, 30000);
	harness_path(png, sizeof(png), "outage.png");
	dom = chromium_load(daemon_.port, png);
	ck_assert_msg(strstr(dom, "id=\"state\">unhealthy</p>") != NULL,
		      "outage not in the DOM:\n%.2000s", dom);
	ck_assert_ptr_nonnull(strstr(dom, "Error: 401: Access Token Invalid"));
	free(dom);
	keep_screenshot(png, "status-outage.png");

	text = lynx_dump(daemon_.port);
	ck_assert_msg(strstr(text, "unhealthy") && strstr(text, "Access Token Invalid"),
		      "lynx -dump lacks the outage:\n%.2000s", text);
	free(text);
	daemon_stop(&daemon_);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "history entries", history_holds_every_probe },
		{ "history size", history_size_bounds_the_ring },
		{ "flip and recovery", flip_and_recovery_are_two_transitions },
		{ "page headers", headers_routes_and_no_calls },
		{ "browser", browsers_show_the_state_and_the_table },
	};
	return harness_run("status-page", cases, sizeof(cases) / sizeof(cases[0]));
}
