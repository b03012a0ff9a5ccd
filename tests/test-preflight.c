/*
 * `intercom-healthd preflight` against the stand-in Intercom: each item's
 * PASS/WARN/FAIL/SKIP, the exit codes, --strict, the JSON shape and the
 * JUnit XML, the whole run bounded when the API hangs, and never the
 * token or the webhook secret in any output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "harness.h"

/* Client secrets are random; this one is unique enough to grep for. */
#define TEST_SECRET "9c4f1e7a2b8d46e0a3f5c7d9e1b2a4c6"
/* A token that is not the configured one, planted for token_leak. */
#define PLANTED "dG9rOjZmYjM1MWUxLXBsYW50ZWQtaW4tdGhlLXRyZWUtZm9yLXRlc3Rz"

static const char *const ids[] = {
	"auth", "region", "api_version", "rate_limit", "latency", "tls", "clock",
	"status_page", "webhook_reachable", "webhook_signature", "token_leak",
	"health_endpoint", "scopes",
};
#define ID_COUNT (sizeof(ids) / sizeof(ids[0]))

/* No output carries the token or the secret, whole or by a long piece. */
static void
assert_clean(const char *out)
{
	assert_no_secret(out, strlen(out), "preflight output");
	ck_assert_msg(!strstr(out, TEST_SECRET), "webhook secret in: %s", out);
	/* Pieces: any 6 characters of either, but the token's first six,
	 * "dG9rOj" (base64 of "tok:"), which every Intercom token shares and
	 * token_leak's mask shows. */
	const char *secrets[] = { TEST_TOKEN, TEST_SECRET };
	for (size_t s = 0; s < 2; s++) {
		size_t n = strlen(secrets[s]);
		for (size_t i = s == 0 ? 1 : 0; i + 6 <= n; i++) {
			char piece[7];
			memcpy(piece, secrets[s] + i, 6);
			piece[6] = '\0';
			ck_assert_msg(!strstr(out, piece), "a piece of a secret in: %s", out);
		}
	}
}

/* The sanitizers' slowdown, as the build states it (1 without). */
static int
time_scale(void)
{
	const char *scale = getenv("HEALTHD_TEST_TIME_SCALE");
	int n = scale ? atoi(scale) : 1;
	return n > 0 ? n : 1;
}

/*
 * Runs preflight against the stand-in with extra (NULL-terminated) after
 * the common flags; returns the exit status, output in *out.
 */
static int
preflight(const char *const *extra, const char *const *env_extra, char **out)
{
	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca[600], status[200], url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	fake_url(&harness_fake, "/api/v2/status.json", url, sizeof(url));
	snprintf(status, sizeof(status), "--status-url=%s", url);
	const char *argv[32] = { bin, "preflight", api, ca, status };
	size_t n = 5;
	bool timed = false;
	for (size_t i = 0; extra && extra[i] && n < 30; i++) {
		timed |= strncmp(extra[i], "--timeout", 9) == 0;
		argv[n++] = extra[i];
	}
	/* The stand-in's TLS handshakes, a dozen at once, take seconds
	 * under the sanitizers on a loaded machine: a case not about the
	 * timeout gives them the room its build needs, under the default
	 * interval (15 s) that the timeout must stay below. */
	int timeout_s = 5 * time_scale();
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "--timeout=%ds", timeout_s < 12 ? timeout_s : 12);
	if (!timed)
		argv[n++] = timeout;
	argv[n] = NULL;
	const char *env[8] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN,
			       "INTERCOM_WEBHOOK_SECRET=" TEST_SECRET };
	size_t e = 2;
	for (size_t i = 0; env_extra && env_extra[i] && e < 7; i++)
		env[e++] = env_extra[i];
	env[e] = NULL;
	int rc = run_command(argv, env, out);
	assert_clean(*out);
	return rc;
}

/* Runs with --format=json; returns the parsed document (caller deletes). */
static cJSON *
preflight_json(const char *const *extra, int want_status)
{
	const char *args[32];
	size_t n = 0;
	for (size_t i = 0; extra && extra[i] && n < 30; i++)
		args[n++] = extra[i];
	args[n++] = "--format=json";
	args[n] = NULL;
	char *out;
	int rc = preflight(args, NULL, &out);
	ck_assert_msg(rc == want_status, "exit %d, not %d: %s", rc, want_status, out);
	cJSON *doc = cJSON_Parse(out);
	ck_assert_msg(doc, "not JSON: %s", out);
	free(out);

	/* The contract's shape: items in the table's order, each with id,
	 * result, evidence and advice (a string for WARN/FAIL). */
	cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	ck_assert(cJSON_IsArray(items));
	ck_assert_int_eq(cJSON_GetArraySize(items), ID_COUNT);
	for (size_t i = 0; i < ID_COUNT; i++) {
		cJSON *it = cJSON_GetArrayItem(items, (int)i);
		ck_assert_str_eq(json_str(it, "id"), ids[i]);
		const char *result = json_str(it, "result");
		ck_assert_ptr_nonnull(result);
		ck_assert_msg(strstr("PASS WARN FAIL SKIP", result) && strlen(result) == 4,
			      "result %s", result);
		const char *evidence = json_str(it, "evidence");
		ck_assert_msg(evidence && *evidence, "%s: no evidence", ids[i]);
		cJSON *advice = cJSON_GetObjectItemCaseSensitive(it, "advice");
		ck_assert_ptr_nonnull(advice);
		if (strcmp(result, "WARN") == 0 || strcmp(result, "FAIL") == 0)
			ck_assert_msg(cJSON_IsString(advice) && *advice->valuestring,
				      "%s: %s without advice", ids[i], result);
	}
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(doc, "exitCode")->valueint,
			 want_status);
	return doc;
}

static cJSON *
item(cJSON *doc, const char *id)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	cJSON *it;
	cJSON_ArrayForEach(it, items)
		if (strcmp(json_str(it, "id"), id) == 0)
			return it;
	ck_abort_msg("no item %s", id);
	return NULL;
}

static void
expect(cJSON *doc, const char *id, const char *result, const char *evidence_has)
{
	cJSON *it = item(doc, id);
	const char *got = json_str(it, "result");
	const char *ev = json_str(it, "evidence");
	ck_assert_msg(strcmp(got, result) == 0, "%s: %s, not %s: %s", id, got, result, ev);
	if (evidence_has)
		ck_assert_msg(strstr(ev, evidence_has), "%s: evidence lacks \"%s\": %s",
			      id, evidence_has, ev);
}

static void
webhook_flag(char *out, size_t size)
{
	char url[100];
	fake_url(&harness_fake, "/webhook", url, sizeof(url));
	snprintf(out, size, "--webhook-url=%s", url);
}

/* A tree with nothing to find but a token in .git, one in a binary and
 * a symlink out of the tree. */
static void
make_tree(const char *name, bool plant, char *dir, size_t size)
{
	char path[700];
	harness_path(dir, size, name);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/.git", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.git/config", dir);
	FILE *f = fopen(path, "w");
	fputs("token = " PLANTED "\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/image.bin", dir);
	f = fopen(path, "w");
	fwrite("\x7f" "ELF\0\0" PLANTED, 1, 6 + strlen(PLANTED), f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/outside", dir);
	ck_assert_int_eq(symlink("/etc", path), 0);
	snprintf(path, sizeof(path), "%s/README", dir);
	f = fopen(path, "w");
	fputs("Tokens start dG9rO... and live in a credential file.\n", f);
	fclose(f);
	if (plant) {
		snprintf(path, sizeof(path), "%s/src", dir);
		ck_assert_int_eq(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/src/settings.py", dir);
		f = fopen(path, "w");
		fputs("# settings\nDEBUG = False\nINTERCOM_TOKEN = \"" PLANTED "\"\n", f);
		fclose(f);
	}
}

START_TEST(everything_passes)
{
	struct daemon d;
	daemon_start_fake(&d, &harness_fake, NULL);
	cJSON *h = wait_health(&d, pred_status, "healthy", 10000, "daemon healthy");
	cJSON_Delete(h);

	char hook[160], scan[600], scan_flag[620], health[100];
	webhook_flag(hook, sizeof(hook));
	fake_set(&harness_fake, "webhook_secret=" TEST_SECRET);
	make_tree("clean", false, scan, sizeof(scan));
	snprintf(scan_flag, sizeof(scan_flag), "--scan=%s", scan);
	snprintf(health, sizeof(health), "--health-url=http://127.0.0.1:%d/health", d.port);
	/* The first latency sample carries a TLS handshake, which has taken
	 * seconds under ThreadSanitizer and on a machine busy with other
	 * work: the bound is raised past anything but a hang, so that every
	 * item can still pass. Latency's WARN has cases of its own. */
	const char *args[] = { hook, scan_flag, health,
			       "--required-paths=/contacts?per_page=1,/conversations",
			       "--degraded-latency=60s", "--timeout=12s", NULL };
	cJSON *doc = preflight_json(args, 0);
	expect(doc, "auth", "PASS", "abc123de");
	expect(doc, "region", "PASS", "US");
	expect(doc, "api_version", "PASS", "2.14");
	expect(doc, "rate_limit", "PASS", "9990 of 10000");
	expect(doc, "latency", "PASS", "p95");
	expect(doc, "tls", "PASS", "days");
	expect(doc, "clock", "PASS", NULL);
	expect(doc, "status_page", "PASS", "none");
	expect(doc, "webhook_reachable", "PASS", "200");
	expect(doc, "webhook_signature", "PASS", "wrong signature -> 401");
	expect(doc, "token_leak", "PASS", "1 symlink out of the tree");
	expect(doc, "health_endpoint", "PASS", "healthy");
	expect(doc, "scopes", "PASS", "/contacts?per_page=1 -> 200");
	ck_assert_str_eq(json_str(doc, "result"), "PASS");
	cJSON_Delete(doc);

	/* The receiver saw the signed ping and both forgeries (and the
	 * reachability request). */
	long posts = fake_requests(&harness_fake, "webhook");
	ck_assert_msg(posts >= 3, "the webhook saw %ld requests", posts);
	daemon_stop(&d);
}
END_TEST

START_TEST(failures_exit_1)
{
	char hook[160], scan[600], scan_flag[620];
	webhook_flag(hook, sizeof(hook));
	/* A receiver that accepts anything; a major incident; a token in
	 * the tree; a path outside the token's scopes. */
	fake_set(&harness_fake, "webhook_secret=&page=major&forbidden=/contacts");
	make_tree("leaky", true, scan, sizeof(scan));
	snprintf(scan_flag, sizeof(scan_flag), "--scan=%s", scan);
	const char *args[] = { hook, scan_flag,
			       "--required-paths=/contacts,/conversations", NULL };
	cJSON *doc = preflight_json(args, 1);
	expect(doc, "auth", "PASS", NULL);
	expect(doc, "status_page", "FAIL", "major");
	expect(doc, "webhook_signature", "FAIL", "ACCEPTED a wrong signature and no signature");
	expect(doc, "token_leak", "FAIL", "/src/settings.py:3 dG9rOj\xe2\x80\xa6");
	const char *leak = json_str(item(doc, "token_leak"), "evidence");
	ck_assert_msg(strstr(leak, "1 token-like string:"), "%s", leak);
	ck_assert_msg(!strstr(leak, ".git") && !strstr(leak, "image.bin") &&
		      !strstr(leak, "README"), "%s", leak);
	ck_assert_msg(!strstr(leak, PLANTED) && !strstr(leak, "dG9rOjZm"), "%s", leak);
	expect(doc, "scopes", "FAIL", "/contacts -> 403");
	expect(doc, "health_endpoint", "SKIP", NULL);
	ck_assert_str_eq(json_str(doc, "result"), "FAIL");
	cJSON_Delete(doc);

	/* The receiver checks signatures, but with another secret. */
	fake_set(&harness_fake, "webhook_secret=some-other-secret&page=critical");
	const char *args2[] = { hook, NULL };
	doc = preflight_json(args2, 1);
	expect(doc, "webhook_signature", "FAIL", "signed ping -> 401");
	expect(doc, "status_page", "FAIL", "critical");
	const char *advice = json_str(item(doc, "webhook_signature"), "advice");
	ck_assert_msg(strstr(advice, "another secret"), "%s", advice);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(warnings_and_strict)
{
	/* The workspace lives in the EU, the clock is 5 minutes off, the
	 * quota is low and the status page shows a minor incident. */
	fake_set(&harness_fake, "region=EU&date_skew=-300&remaining=500&page=minor");
	cJSON *doc = preflight_json(NULL, 0);
	expect(doc, "region", "WARN", "workspace region EU");
	const char *advice = json_str(item(doc, "region"), "advice");
	ck_assert_msg(strstr(advice, "api.eu.intercom.io"), "%s", advice);
	expect(doc, "clock", "WARN", "ahead of the API's Date");
	expect(doc, "rate_limit", "WARN", "remaining 500 of 10000");
	expect(doc, "status_page", "WARN", "minor");
	expect(doc, "webhook_reachable", "SKIP", NULL);
	expect(doc, "webhook_signature", "SKIP", NULL);
	expect(doc, "token_leak", "SKIP", NULL);
	expect(doc, "scopes", "SKIP", NULL);
	ck_assert_str_eq(json_str(doc, "result"), "WARN");
	cJSON_Delete(doc);

	const char *strict[] = { "--strict", NULL };
	doc = preflight_json(strict, 1);
	ck_assert_str_eq(json_str(doc, "result"), "FAIL");
	cJSON_Delete(doc);

	/* Latency over degraded_latency, status page unreachable. */
	fake_set(&harness_fake, "region=US&date_skew=0&remaining=9990&delay_ms=120&page=500");
	const char *slow[] = { "--degraded-latency=100ms", NULL };
	doc = preflight_json(slow, 0);
	expect(doc, "latency", "WARN", "over degraded_latency 100 ms");
	expect(doc, "status_page", "WARN", "unreadable");
	cJSON_Delete(doc);
}
END_TEST

START_TEST(api_refusals)
{
	/* A bad Intercom-Version. */
	fake_set(&harness_fake, "me=version-check");
	const char *version[] = { "--api-version=9.99", NULL };
	cJSON *doc = preflight_json(version, 1);
	expect(doc, "api_version", "FAIL", "intercom_version_invalid");
	expect(doc, "auth", "FAIL", "400");
	expect(doc, "region", "SKIP", NULL);
	cJSON_Delete(doc);

	/* 429: the quota is spent. */
	fake_set(&harness_fake, "me=error&code=429&remaining=0");
	doc = preflight_json(NULL, 1);
	expect(doc, "rate_limit", "FAIL", "429");
	expect(doc, "auth", "PASS", "429");
	cJSON_Delete(doc);

	/* A proxy that echoes the credentials in its error: the token
	 * stays out of every item (preflight() asserts it). */
	fake_set(&harness_fake, "me=reflect&code=401");
	doc = preflight_json(NULL, 1);
	expect(doc, "auth", "FAIL", "401: bad credentials: Bearer (redacted)");
	cJSON_Delete(doc);

	/* Garbage with a 200 over a good handshake: the advice points at
	 * what answered, and the certificate is still judged. */
	fake_set(&harness_fake, "me=garbage&code=200");
	doc = preflight_json(NULL, 1);
	expect(doc, "auth", "FAIL", "unparseable");
	ck_assert_msg(strstr(json_str(item(doc, "auth"), "advice"), "not as Intercom's API"),
		      "%s", json_str(item(doc, "auth"), "advice"));
	expect(doc, "tls", "PASS", "days");
	cJSON_Delete(doc);

	/* A token the API does not know. */
	fake_set(&harness_fake, "me=ok&code=200&remaining=9990");
	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca[600], url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	const char *argv[] = { bin, "preflight", api, ca, "--status-url=off",
			       "--format=json", NULL };
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=dG9rOjdlYWQtd3JvbmctdG9rZW4tZm9yLXByZWZsaWdodA==",
			      NULL };
	char *out;
	ck_assert_int_eq(run_command(argv, env, &out), 1);
	ck_assert_msg(!strstr(out, "d3Jvbmct"), "%s", out);
	doc = cJSON_Parse(out);
	ck_assert_msg(doc, "%s", out);
	expect(doc, "auth", "FAIL", "401: Access Token Invalid");
	ck_assert_msg(strstr(json_str(item(doc, "auth"), "advice"), "rotate"), "%s", out);
	expect(doc, "api_version", "SKIP", NULL);
	expect(doc, "status_page", "SKIP", "off");
	cJSON_Delete(doc);
	free(out);
}
END_TEST

START_TEST(webhook_down)
{
	int port;
	int fd = reserve_port(&port);
	char hook[100];
	snprintf(hook, sizeof(hook), "--webhook-url=https://127.0.0.1:%d/webhook", port);
	const char *args[] = { hook, NULL };
	cJSON *doc = preflight_json(args, 1);
	expect(doc, "webhook_reachable", "FAIL", "connection failed");
	expect(doc, "webhook_signature", "FAIL", "connection failed");
	cJSON_Delete(doc);

	/* A receiver answering 503. */
	char up[160];
	webhook_flag(up, sizeof(up));
	fake_set(&harness_fake, "webhook_code=503");
	const char *args2[] = { up, NULL };
	doc = preflight_json(args2, 1);
	expect(doc, "webhook_reachable", "FAIL", "503");
	cJSON_Delete(doc);

	/* A receiver redirecting everything neither takes a delivery nor
	 * refuses a forged one. */
	fake_set(&harness_fake, "webhook_code=307");
	doc = preflight_json(args2, 1);
	expect(doc, "webhook_signature", "FAIL", "wrong signature -> 307");
	expect(doc, "webhook_signature", "FAIL", "; redirects instead of verifying");
	const char *ev = json_str(item(doc, "webhook_signature"), "evidence");
	ck_assert_msg(!strstr(ev, "ACCEPTED"), "%s", ev);
	cJSON_Delete(doc);
	close(fd);
}
END_TEST

START_TEST(hanging_api_is_bounded)
{
	fake_set(&harness_fake, "me=hang&page=hang");
	const char *args[] = { "--timeout=1s", "--format=text", NULL };
	char *out;
	long long t0 = now_ms();
	int rc = preflight(args, NULL, &out);
	long long took = now_ms() - t0;
	ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
	/* Three timeouts at most, and the process start: the stand-in never
	 * answers, so a bound of seconds catches a run that waits it out,
	 * however busy the machine. */
	ck_assert_msg(took < 3000 + 15000, "took %lld ms: %s", took, out);
	ck_assert_msg(strstr(out, "FAIL  auth"), "%s", out);
	ck_assert_msg(strstr(out, "timeout after 1000 ms"), "%s", out);
	ck_assert_msg(strstr(out, "FAIL  latency"), "%s", out);
	ck_assert_msg(strstr(out, "WARN  status_page"), "%s", out);
	free(out);
}
END_TEST

/* A tree as large as /usr: the scan runs beside the API items and stops at
 * the run's deadline; the API items still pass. */
START_TEST(large_scan_is_bounded)
{
	/* preflight()'s timeout for the API items, which share the machine
	 * with the scan: 5 s, more under a sanitizer, at most 12 s. */
	const char *args[] = { "--format=text", "--scan=/usr", NULL };
	char *out;
	long long t0 = now_ms();
	int rc = preflight(args, NULL, &out);
	long long took = now_ms() - t0;
	ck_assert_msg(rc == 0 || rc == 1, "exit %d: %s", rc, out);
	/* The run's deadline (three timeouts) ends the scan; generous past
	 * it, for a machine busy with other work. */
	ck_assert_msg(took < 3 * 12000 + 15000, "took %lld ms: %s", took, out);
	ck_assert_msg(strstr(out, "PASS  auth"), "%s", out);
	ck_assert_msg(strstr(out, "PASS  api_version"), "%s", out);
	ck_assert_msg(strstr(out, "  token_leak"), "%s", out);
	free(out);
}
END_TEST

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(text_and_junit)
{
	char hook[160];
	webhook_flag(hook, sizeof(hook));
	fake_set(&harness_fake, "webhook_secret=&region=EU");
	/* Text: aligned, no colour off a terminal even without NO_COLOR. */
	const char *text[] = { hook, NULL };
	char *out;
	ck_assert_int_eq(preflight(text, NULL, &out), 1);
	ck_assert_msg(!strchr(out, '\033'), "colour off a terminal: %s", out);
	for (size_t i = 0; i < ID_COUNT; i++) {
		char line[64];
		snprintf(line, sizeof(line), "  %-19s", ids[i]);
		ck_assert_msg(strstr(out, line), "no aligned line for %s: %s", ids[i], out);
	}
	ck_assert_msg(strstr(out, "FAIL  webhook_signature"), "%s", out);
	ck_assert_msg(strstr(out, "-> fix signature verification"), "%s", out);
	free(out);

	/* JUnit: well-formed XML (xmllint) with the elements CI reporters
	 * require. */
	const char *junit[] = { hook, "--format=junit", NULL };
	ck_assert_int_eq(preflight(junit, NULL, &out), 1);
	char path[600];
	harness_path(path, sizeof(path), "preflight.xml");
	FILE *f = fopen(path, "w");
	fputs(out, f);
	fclose(f);
	const char *lint[] = { getenv("XMLLINT"), "--noout", path, NULL };
	char *lint_out;
	ck_assert_msg(lint[0], "XMLLINT not set");
	int rc = run_command(lint, NULL, &lint_out);
	ck_assert_msg(rc == 0, "xmllint: %s\n%s", lint_out, out);
	free(lint_out);
	/* Every required element and attribute, by XPath. */
	struct {
		const char *xpath, *want;
	} checks[] = {
		{ "count(/testsuites/testsuite[@name and @tests])", "1" },
		{ "count(//testcase[@name and @classname])", "13" },
		{ "string(//testsuite/@tests)", "13" },
		{ "count(//testcase[@name='webhook_signature']/failure[@message])", "1" },
		{ "count(//testcase[@name='token_leak']/skipped)", "1" },
		{ "count(//testcase[@name='region']/system-out)", "1" },
		{ "count(//testcase[@name='region']/failure)", "0" },
		{ "string(//testsuite/@failures)", "1" },
		{ "string(//testsuite/@skipped)", "3" },
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		const char *q[] = { getenv("XMLLINT"), "--xpath", checks[i].xpath, path, NULL };
		char *got;
		ck_assert_int_eq(run_command(q, NULL, &got), 0);
		size_t n = strlen(got);
		while (n && (got[n - 1] == '\n'))
			got[--n] = '\0';
		ck_assert_msg(strcmp(got, checks[i].want) == 0, "%s: %s, not %s\n%s",
			      checks[i].xpath, got, checks[i].want, out);
		free(got);
	}
	char *back = slurp(path);
	assert_clean(back);
	free(back);
	free(out);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
	const char *bad[][3] = {
		{ "--format=xml", NULL },
		{ "--scan=/nonexistent/preflight-dir", NULL },
		{ "--health-url=ftp://x", NULL },
		{ "--webhook-secret=" TEST_SECRET, NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out;
		int rc = preflight(bad[i], NULL, &out);
		ck_assert_msg(rc == 2, "%s: exit %d: %s", bad[i][0], rc, out);
		free(out);
	}
}
END_TEST

/*
 * A stand-in whose certificate expires in 5 days: a self-signed one made
 * here with openssl, trusted as its own CA. fake_start() reads its
 * certificate from TEST_CERT_DIR, pointed at this directory meanwhile.
 */
START_TEST(tls_expiring_soon)
{
	char dir[600], key[700], cert[700], ca[700];
	harness_path(dir, sizeof(dir), "short-cert");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	const char *openssl = getenv("OPENSSL");
	ck_assert_msg(openssl, "OPENSSL not set");
	const char *gen[] = { openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
			      "-keyout", key, "-out", cert, "-days", "5",
			      "-subj", "/CN=127.0.0.1",
			      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", NULL };
	char *out;
	int rc = run_command(gen, NULL, &out);
	ck_assert_msg(rc == 0, "openssl: %s", out);
	free(out);
	const char *cp[] = { "/bin/cp", cert, ca, NULL };
	ck_assert_int_eq(run_command(cp, NULL, &out), 0);
	free(out);

	char *saved = strdup(getenv("TEST_CERT_DIR"));
	setenv("TEST_CERT_DIR", dir, 1);
	struct fake shortlived;
	fake_start(&shortlived, TEST_TOKEN);
	setenv("TEST_CERT_DIR", saved, 1);
	free(saved);

	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca_flag[720], url[100];
	fake_url(&shortlived, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca_flag, sizeof(ca_flag), "--ca-file=%s", ca);
	const char *argv[] = { bin, "preflight", api, ca_flag, "--status-url=off",
			       "--format=json", NULL };
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	rc = run_command(argv, env, &out);
	fake_stop(&shortlived);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
	cJSON *doc = cJSON_Parse(out);
	ck_assert_msg(doc, "%s", out);
	/* 5 days, give or take the seconds since openssl ran. */
	expect(doc, "tls", "WARN", "the API certificate expires in ");
	const char *ev = json_str(item(doc, "tls"), "evidence");
	ck_assert_msg(strstr(ev, " 4 days") || strstr(ev, " 5 days"), "%s", ev);
	ck_assert_msg(strstr(json_str(item(doc, "tls"), "advice"), "renew"), "%s", out);
	expect(doc, "auth", "PASS", NULL);
	cJSON_Delete(doc);
	free(out);
}
END_TEST

/*
 * preflight against api_url with connect_to sending Intercom's three hosts
 * to the stand-in (TLS verifying each name: the test certificate has
 * them); returns the parsed JSON, asserting the exit status.
 */
static cJSON *
preflight_regional(const char *api_url, int want_status)
{
	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca[600], status[200], url[100], connect[400];
	int p = harness_fake.https_port;
	snprintf(api, sizeof(api), "--api-url=%s", api_url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	fake_url(&harness_fake, "/api/v2/status.json", url, sizeof(url));
	snprintf(status, sizeof(status), "--status-url=%s", url);
	snprintf(connect, sizeof(connect), "--connect-to=api.intercom.io:443:127.0.0.1:%d,"
		 "api.eu.intercom.io:443:127.0.0.1:%d,api.au.intercom.io:443:127.0.0.1:%d",
		 p, p, p);
	const char *argv[] = { bin, "preflight", api, ca, status, connect,
			       "--format=json", NULL };
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	char *out;
	int rc = run_command(argv, env, &out);
	assert_clean(out);
	ck_assert_msg(rc == want_status, "exit %d, not %d: %s", rc, want_status, out);
	cJSON *doc = cJSON_Parse(out);
	ck_assert_msg(doc, "not JSON: %s", out);
	free(out);
	return doc;
}

static const char *
advice_of(cJSON *doc, const char *id)
{
	const char *advice = json_str(item(doc, id), "advice");
	ck_assert_ptr_nonnull(advice);
	return advice;
}

/* A 401 from the US host for a token of an EU workspace is a region
 * mistake, not a token to rotate: the other regional hosts are asked. */
START_TEST(region_diagnosis)
{
	fake_set(&harness_fake, "token_hosts=api.eu.intercom.io");
	cJSON *doc = preflight_regional("https://api.intercom.io", 1);
	expect(doc, "auth", "FAIL", "401: Access Token Invalid; the EU host"
	       " (https://api.eu.intercom.io) accepts this token");
	const char *advice = advice_of(doc, "auth");
	ck_assert_msg(strstr(advice, "region = eu") && !strstr(advice, "rotate"), "%s",
		      advice);
	cJSON_Delete(doc);

	/* From the AU host, the US one can be the right one. */
	fake_set(&harness_fake, "token_hosts=api.intercom.io");
	doc = preflight_regional("https://api.au.intercom.io", 1);
	expect(doc, "auth", "FAIL", "the US host (https://api.intercom.io) accepts");
	ck_assert_ptr_nonnull(strstr(advice_of(doc, "auth"), "region = us"));
	cJSON_Delete(doc);

	/* Refused everywhere: a token to rotate after all. */
	fake_set(&harness_fake, "token_hosts=nowhere.test");
	doc = preflight_regional("https://api.eu.intercom.io", 1);
	expect(doc, "auth", "FAIL", "(the US and AU hosts refuse it too)");
	ck_assert_ptr_nonnull(strstr(advice_of(doc, "auth"), "rotate"));
	cJSON_Delete(doc);

	/* An api_url that is not Intercom's (a proxy, this stand-in by
	 * address): no other host is asked, whatever connect_to says. */
	fake_set(&harness_fake, "token_hosts=api.eu.intercom.io");
	char url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	doc = preflight_regional(url, 1);
	expect(doc, "auth", "FAIL", "401");
	const char *ev = json_str(item(doc, "auth"), "evidence");
	ck_assert_msg(!strstr(ev, "host"), "other hosts asked: %s", ev);
	ck_assert_ptr_nonnull(strstr(advice_of(doc, "auth"), "rotate"));
	cJSON_Delete(doc);
	fake_set(&harness_fake, "token_hosts=");

	/* With the right region, connect_to reaches it and all is well. */
	doc = preflight_regional("https://api.intercom.io", 0);
	expect(doc, "auth", "PASS", "abc123de");
	cJSON_Delete(doc);
}
END_TEST

/* `check` as a monitoring plugin: the guidelines' flags, ordered
 * perfdata thresholds, UNKNOWN on stdout for usage errors. */
START_TEST(check_plugin_flags)
{
	const char *bin = getenv("HEALTHD_BIN");
	char api[128], ca[600], url[100];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	struct {
		const char *a, *b;
		int status;
		const char *has;
	} cases[] = {
		/* One-shot: a timeout above the daemon's interval is fine. */
		{ "--timeout=20", NULL, 0, "s;3;20;0 " },
		{ "-t", "20", 0, "s;3;20;0 " },
		/* Ordered even when the timeout is under degraded_latency. */
		{ "--timeout=2", NULL, 0, "s;2;2;0 " },
		{ "-w", "1ms", 1, "INTERCOM WARNING - 200" },
		{ "--critical=1ms", NULL, 2, "INTERCOM CRITICAL - 200" },
		{ "-w", "1ms", 1, "s;0.001;5;0 " },
		/* Monitoring Plugins ranges: @ alerts inside, others outside. */
		{ "-w", "@0:60", 1, "s;@0:60;5;0 " },
		{ "--critical=10:20", NULL, 2, "outside the --critical range 10:20 |" },
		{ "-w", "10:5", 3, "INTERCOM UNKNOWN - --warning: invalid range" },
		{ "-h", NULL, 0, "Usage: intercom-healthd check " },
		{ "--help", NULL, 0, "-w, --warning RANGE" },
		{ "-V", NULL, 0, "intercom-healthd " },
		{ "-v", NULL, 0, "\nGET https://127.0.0.1:" },
		/* The quota warns below rate_limit_low (10%) of the limit. */
		{ "--rate-limit-low=25", NULL, 0, "quota_remaining=9990;2500:;;0;10000" },
		{ NULL, NULL, 0, "quota_remaining=9990;1000:;;0;10000" },
		{ "--interval=zzz", NULL, 3, "INTERCOM UNKNOWN - interval: invalid duration" },
		{ "-x", NULL, 3, "INTERCOM UNKNOWN - -x: unknown option" },
		{ "-w", NULL, 3, "INTERCOM UNKNOWN - --warning: missing value" },
		{ "--warning=2s", "--critical=1s", 3, "INTERCOM UNKNOWN - --warning 2000 ms" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { bin, "check", api, ca, cases[i].a, cases[i].b, NULL };
		char *out;
		int rc = run_command(argv, env, &out);
		ck_assert_msg(rc == cases[i].status, "%s %s: exit %d: %s",
			      cases[i].a ? cases[i].a : "", cases[i].b ? cases[i].b : "",
			      rc, out);
		ck_assert_msg(strstr(out, cases[i].has), "%s %s: no \"%s\" in: %s",
			      cases[i].a ? cases[i].a : "", cases[i].b ? cases[i].b : "",
			      cases[i].has, out);
		assert_clean(out);
		free(out);
	}

	/* connect_to reaches Intercom's host name at the stand-in, TLS
	 * verifying that name. */
	char connect[120];
	snprintf(connect, sizeof(connect), "--connect-to=api.intercom.io:443:127.0.0.1:%d",
		 harness_fake.https_port);
	const char *argv[] = { bin, "check", "--api-url=https://api.intercom.io", ca,
			       connect, NULL };
	char *out;
	int rc = run_command(argv, env, &out);
	ck_assert_msg(rc == 0 && strstr(out, "INTERCOM OK - 200"), "exit %d: %s", rc, out);
	assert_clean(out);
	free(out);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "everything passes", everything_passes },
		{ "failures exit 1", failures_exit_1 },
		{ "warnings and strict", warnings_and_strict },
		{ "tls expiring soon", tls_expiring_soon },
		{ "api refusals", api_refusals },
		{ "webhook down", webhook_down },
		{ "hanging api is bounded", hanging_api_is_bounded },
		{ "large scan is bounded", large_scan_is_bounded },
		{ "text and junit", text_and_junit },
		{ "usage errors", usage_errors_exit_2 },
		{ "check plugin flags", check_plugin_flags },
		{ "region diagnosis", region_diagnosis },
	};
	return harness_run("preflight", cases, sizeof(cases) / sizeof(cases[0]));
}
