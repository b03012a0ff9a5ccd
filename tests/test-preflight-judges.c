/*
 * The checklist's rules without a network: each judge gets a hand-built
 * observation (statuses, headers, bodies, a scan) and must give the
 * contract's PASS/WARN/FAIL/SKIP with evidence and advice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "preflight_items.h"
#include "settings.h"
#include "token_scan.h"

#define TOKEN "dG9rOjEyMzQ1Njc4LXByZWZsaWdodC1qdWRnZXMtdW5pdA=="
#define SECRET "5e2b9d71c04a4f6e8b3d1a7c9f0e2d48"
/* Another token, planted in scanned trees. */
#define PLANTED "dG9rOjk4NzY1NDMyLXBsYW50ZWQtZGVlcC1pbi10aGUtdHJlZQ"

static struct settings S;
static struct preflight_observed *O;
static struct preflight_item It;
static char root[256];

/* Loads settings from the flags (NULL-terminated). */
static void
load(const char *const *flags)
{
	char *env[] = { "INTERCOM_ACCESS_TOKEN=" TOKEN,
			"INTERCOM_WEBHOOK_SECRET=" SECRET, NULL };
	int argc = 0;
	while (flags && flags[argc])
		argc++;
	settings_finish(&S);
	char *err = NULL;
	ck_assert_msg(settings_load(&S, COMMAND_PREFLIGHT, argc, (char **)flags, env,
				    &err) == 0, "%s", err);
}

static void
setup(void)
{
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	memset(&S, 0, sizeof(S));
	load(NULL);
	O = calloc(1, sizeof(*O));
	ck_assert_ptr_nonnull(O);
	memset(&It, 0, sizeof(It));
	root[0] = '\0';
}

static void
teardown(void)
{
	token_scan_finish(&O->scan);
	free(O);
	free(It.evidence);
	free(It.advice);
	settings_finish(&S);
	curl_global_cleanup();
	if (root[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		ck_assert_int_eq(system(cmd), 0);
	}
}

/* A call that got an HTTP answer: status and body. */
static void
answer(struct preflight_call *c, long status, const char *body)
{
	memset(c, 0, sizeof(*c));
	c->ran = true;
	c->req.result.transport = PROBE_TRANSPORT_OK;
	c->req.result.http_status = status;
	c->req.result.latency_ms = 50;
	c->req.body_len = strlen(body);
	memcpy(c->req.body, body, c->req.body_len);
}

static void
judge(preflight_judge_fn *fn)
{
	free(It.evidence);
	free(It.advice);
	memset(&It, 0, sizeof(It));
	fn(&S, O, &It);
	ck_assert_ptr_nonnull(It.evidence);
	if (It.result == PREFLIGHT_WARN || It.result == PREFLIGHT_FAIL)
		ck_assert_msg(It.advice && *It.advice, "%s without advice: %s",
			      preflight_result_name(It.result), It.evidence);
}

#define expect(fn, want, words) do { \
	judge(fn); \
	ck_assert_msg(It.result == (want), "%s, not %s: %s", \
		      preflight_result_name(It.result), preflight_result_name(want), \
		      It.evidence); \
	ck_assert_msg(strstr(It.evidence, (words)), "no \"%s\" in: %s", (words), \
		      It.evidence); \
} while (0)

START_TEST(auth_region_and_version)
{
	answer(&O->me, 200, "{\"type\":\"admin\",\"app\":{\"id_code\":\"abc123\","
	       "\"name\":\"Shop\",\"region\":\"EU\"}}");
	expect(preflight_judge_auth, PREFLIGHT_PASS, "workspace abc123 (Shop), region EU");
	/* The default api_url is the US host. */
	expect(preflight_judge_region, PREFLIGHT_WARN, "workspace region EU, but the"
	       " host in use is US");
	ck_assert_ptr_nonnull(strstr(It.advice, "region = eu"));
	expect(preflight_judge_api_version, PREFLIGHT_PASS, "2.14 accepted");

	answer(&O->me, 401, "{\"type\":\"error.list\",\"errors\":[{\"code\":"
	       "\"unauthorized\",\"message\":\"Access Token Invalid\"}]}");
	O->me.req.result.transport = PROBE_TRANSPORT_OK;
	snprintf(O->me.req.result.reason, sizeof(O->me.req.result.reason),
		 "Access Token Invalid");
	expect(preflight_judge_auth, PREFLIGHT_FAIL, "401: Access Token Invalid");
	ck_assert_ptr_nonnull(strstr(It.advice, "rotate"));
	expect(preflight_judge_region, PREFLIGHT_SKIP, "needs a 2xx");

	/* The other regional hosts, asked after that 401: one accepting
	 * the token makes it a region mistake; all refusing, a bad token. */
	O->other_region_count = 2;
	O->other_region_names[0] = "eu";
	O->other_region_urls[0] = "https://api.eu.intercom.io";
	O->other_region_names[1] = "au";
	O->other_region_urls[1] = "https://api.au.intercom.io";
	answer(&O->other_regions[0], 200, "{}");
	answer(&O->other_regions[1], 401, "{}");
	expect(preflight_judge_auth, PREFLIGHT_FAIL, "the EU host"
	       " (https://api.eu.intercom.io) accepts this token");
	ck_assert_ptr_nonnull(strstr(It.advice, "region = eu"));
	ck_assert_ptr_null(strstr(It.advice, "rotate"));
	answer(&O->other_regions[0], 401, "{}");
	expect(preflight_judge_auth, PREFLIGHT_FAIL, "(the EU and AU hosts refuse it too)");
	ck_assert_ptr_nonnull(strstr(It.advice, "rotate"));
	O->other_region_count = 0;

	answer(&O->me, 400, "{\"type\":\"error.list\",\"errors\":[{\"code\":"
	       "\"intercom_version_invalid\",\"message\":\"bad version\"}]}");
	expect(preflight_judge_api_version, PREFLIGHT_FAIL, "intercom_version_invalid");
}
END_TEST

START_TEST(rate_limit_and_clock)
{
	answer(&O->me, 200, "{}");
	struct probe_result *r = &O->me.req.result;
	r->rate_limit = (struct rate_limit){ .has_limit = true, .has_remaining = true,
					     .limit = 1000, .remaining = 50 };
	expect(preflight_judge_rate_limit, PREFLIGHT_WARN, "remaining 50 of 1000 (5.0%)");
	r->rate_limit.remaining = 900;
	expect(preflight_judge_rate_limit, PREFLIGHT_PASS, "remaining 900 of 1000");
	r->http_status = 429;
	expect(preflight_judge_rate_limit, PREFLIGHT_FAIL, "GET /me: 429");

	r->http_status = 200;
	r->finished_ms = 1800000000000LL;
	r->latency_ms = 100;
	r->server_date_s = 1800000000LL - 45;
	expect(preflight_judge_clock, PREFLIGHT_WARN, "45 s ahead of");
	r->server_date_s = 1800000000LL - 2;
	expect(preflight_judge_clock, PREFLIGHT_PASS, "within 2 s");
}
END_TEST

START_TEST(latency_p95)
{
	int64_t ms[] = { 900, 100, 120, 110, 130, 90, 95, 105, 115, 4000 };
	memcpy(O->latency_ms, ms, sizeof(ms));
	O->latency_count = 10;
	expect(preflight_judge_latency, PREFLIGHT_WARN, "p95 4000 ms of 10 samples");
	O->latency_ms[9] = 140;
	expect(preflight_judge_latency, PREFLIGHT_PASS, "p95 900 ms of 10 samples");
	O->latency_count = 0;
	O->latency_failed = 3;
	expect(preflight_judge_latency, PREFLIGHT_FAIL, "no answer in 3 samples");
}
END_TEST

/* The three POSTs of webhook_signature, by status. */
static void
posts(long signed_status, long forged_status, long unsigned_status)
{
	answer(&O->signed_post, signed_status, "");
	answer(&O->forged_post, forged_status, "");
	answer(&O->unsigned_post, unsigned_status, "");
}

START_TEST(webhook_signature)
{
	load((const char *const[]){ "--webhook-url=https://hooks.example.test/in", NULL });
	posts(200, 401, 401);
	expect(preflight_judge_webhook_signature, PREFLIGHT_PASS, "signed ping -> 200");
	posts(200, 200, 401);
	expect(preflight_judge_webhook_signature, PREFLIGHT_FAIL, "ACCEPTED a wrong signature");
	posts(401, 401, 401);
	expect(preflight_judge_webhook_signature, PREFLIGHT_FAIL, "signed ping -> 401");
	ck_assert_ptr_nonnull(strstr(It.advice, "rejected a correctly signed ping"));
	/* A receiver answering 307 to everything neither accepts nor
	 * rejects: it is named for what it does. */
	posts(307, 307, 307);
	expect(preflight_judge_webhook_signature, PREFLIGHT_FAIL,
	       "redirects instead of verifying");
	ck_assert_msg(!strstr(It.evidence, "ACCEPTED"), "%s", It.evidence);
	ck_assert_ptr_nonnull(strstr(It.advice, "redirect"));
}
END_TEST

START_TEST(status_page_and_scopes)
{
	answer(&O->status, 200, "{\"status\":{\"indicator\":\"major\",\"description\":"
	       "\"Partial outage\"}}");
	expect(preflight_judge_status_page, PREFLIGHT_FAIL, "indicator major: Partial outage");

	load((const char *const[]){ "--required-paths=/contacts,/tags", NULL });
	struct preflight_call scopes[2];
	char *paths[] = { "/contacts", "/tags" };
	answer(&scopes[0], 200, "{}");
	answer(&scopes[1], 403, "{}");
	O->scopes = scopes;
	O->scope_paths = paths;
	O->scope_count = 2;
	expect(preflight_judge_scopes, PREFLIGHT_FAIL, "/contacts -> 200; /tags -> 403");
	O->scopes = NULL;
	O->scope_paths = NULL;
	O->scope_count = 0;
}
END_TEST

static void
make_root(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/judges-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(root));
}

/* Scans root into O as the runner does, then judges token_leak. */
static void
scan_root(void)
{
	load((const char *const[]){ "--scan", root, NULL });
	token_scan_finish(&O->scan);
	O->scanned = true;
	O->scan_rc = token_scan_dir(root, 0, &O->scan);
	ck_assert_int_eq(O->scan_rc, 0);
}

/* A tree whose only token sits deeper than the walk goes is not clean:
 * it was not all read. */
START_TEST(token_leak_depth_and_loops)
{
	make_root();
	char path[4096];
	size_t len = (size_t)snprintf(path, sizeof(path), "%s", root);
	for (int i = 0; i < 70; i++) {
		len += (size_t)snprintf(path + len, sizeof(path) - len, "/d");
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	snprintf(path + len, sizeof(path) - len, "/config.env");
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("TOKEN=" PLANTED "\n", f);
	fclose(f);
	scan_root();
	expect(preflight_judge_token_leak, PREFLIGHT_WARN, "1 directory deeper than");

	/* A link to itself and one to its parent are loops; one out of the
	 * tree leads out. */
	char link[600];
	snprintf(link, sizeof(link), "%s/self", root);
	ck_assert_int_eq(symlink("self", link), 0);
	snprintf(link, sizeof(link), "%s/d/up", root);
	ck_assert_int_eq(symlink("..", link), 0);
	snprintf(link, sizeof(link), "%s/out", root);
	ck_assert_int_eq(symlink("/etc", link), 0);
	scan_root();
	judge(preflight_judge_token_leak);
	ck_assert_msg(strstr(It.evidence, "2 symlink loops"), "%s", It.evidence);
	ck_assert_msg(strstr(It.evidence, "1 symlink out of the tree"), "%s", It.evidence);
}
END_TEST

START_TEST(token_leak_found_and_clean)
{
	make_root();
	char path[600];
	snprintf(path, sizeof(path), "%s/app.env", root);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# settings\nINTERCOM_TOKEN=" PLANTED "\n", f);
	fclose(f);
	scan_root();
	expect(preflight_judge_token_leak, PREFLIGHT_FAIL, "app.env:2 dG9rOj");
	ck_assert_msg(!strstr(It.evidence, PLANTED), "%s", It.evidence);
	ck_assert_int_eq(unlink(path), 0);
	scan_root();
	expect(preflight_judge_token_leak, PREFLIGHT_PASS, "no token-like strings");
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("preflight-judges");
	TCase *tc = tcase_create("judges");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, auth_region_and_version);
	tcase_add_test(tc, rate_limit_and_clock);
	tcase_add_test(tc, latency_p95);
	tcase_add_test(tc, webhook_signature);
	tcase_add_test(tc, status_page_and_scopes);
	tcase_add_test(tc, token_leak_depth_and_loops);
	tcase_add_test(tc, token_leak_found_and_clean);
	suite_add_tcase(suite, tc);
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
