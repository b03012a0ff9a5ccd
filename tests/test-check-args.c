/*
 * `check` without a probe: its own flags (check_cmd_args), and the plugin
 * line it prints for hand-built snapshots (check_plugin_line): the text
 * part cannot forge performance data, and -v names only the connection
 * phases that happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <curl/curl.h>

#include "check_args.h"
#include "check_output.h"
#include "health.h"
#include "settings.h"

#define TOKEN_ENV "INTERCOM_ACCESS_TOKEN=dG9rOjEyMzQ1Njc4LWNoZWNrLWFyZ3MtdW5pdA=="

static struct settings S;

static void
setup(void)
{
	char *env[] = { TOKEN_ENV, NULL };
	char *err = NULL;
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	ck_assert_msg(settings_load(&S, COMMAND_CHECK, 0, NULL, env, &err) == 0, "%s", err);
}

static void
teardown(void)
{
	settings_finish(&S);
	curl_global_cleanup();
}

/* check_cmd_args over the words (NULL-terminated); its return value,
 * options in *o, error (if any) in *err. */
static int
parse(const char *const *words, struct check_options *o, char **err)
{
	int argc = 0;
	while (words[argc])
		argc++;
	int n = 0;
	char **out = NULL;
	*err = NULL;
	int rc = check_cmd_args(argc, (char **)words, o, &n, &out, err);
	check_cmd_args_free(out);
	return rc;
}

#define WORDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(flags_come_out)
{
	struct check_options o;
	char *err;
	int n = 0;
	char **out = NULL;
	const char *const words[] = { "-vv", "--api-url=https://x.test", "-t", "9",
				      "-V", "--", "-w", NULL };
	ck_assert_int_eq(check_cmd_args(7, (char **)words, &o, &n, &out, &err), 0);
	ck_assert_int_eq(o.verbose, 2);
	ck_assert(o.version);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(out[0], "--api-url=https://x.test");
	ck_assert_str_eq(out[1], "--timeout=9");
	ck_assert_str_eq(out[2], "--");
	ck_assert_str_eq(out[3], "-w");
	ck_assert_ptr_null(out[4]);
	check_cmd_args_free(out);

	ck_assert_int_lt(parse(WORDS("-w"), &o, &err), 0);
	ck_assert_ptr_nonnull(strstr(err, "--warning: missing value"));
	free(err);
	ck_assert_int_lt(parse(WORDS("-t"), &o, &err), 0);
	free(err);
}
END_TEST

/* Monitoring Plugins ranges are accepted by -w and -c. */
START_TEST(ranges_accepted)
{
	static const char *const ok[] = { "10", "10:", "~:10", "10:20", "@10:20",
					  "0.5", "1.5:2.25", "@~:0.2", "250ms", "3s" };
	struct check_options o;
	char *err;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(parse(WORDS("-w", ok[i]), &o, &err) == 0, "-w %s: %s",
			      ok[i], err);
		ck_assert_msg(parse(WORDS("--critical", ok[i]), &o, &err) == 0,
			      "-c %s: %s", ok[i], err);
	}
}
END_TEST

/* The Monitoring Plugins range table: each range, and on which latencies
 * (in ms) it alerts. */
START_TEST(range_table)
{
	static const struct {
		const char *range;
		double alerts[3], quiet[3];
		const char *perfdata;
	} rows[] = {
		/* "10": outside 0..10 s */
		{ "10", { 10001, 60000, -1 }, { 0, 5000, 10000 }, "10" },
		/* "10:": below 10 s */
		{ "10:", { 0, 9999, 5000 }, { 10000, 10001, 99999 }, "10:" },
		/* "~:10": above 10 s, no lower bound */
		{ "~:10", { 10001, 20000, 99999 }, { -5, 0, 10000 }, "~:10" },
		/* "10:20": outside 10..20 s */
		{ "10:20", { 9999, 20001, 0 }, { 10000, 15000, 20000 }, "10:20" },
		/* "@10:20": inside 10..20 s */
		{ "@10:20", { 10000, 15000, 20000 }, { 9999, 20001, 0 }, "@10:20" },
		/* decimals, and bounds with their unit */
		{ "0.25", { 251, 1000, 300 }, { 0, 100, 250 }, "0.25" },
		{ "@0.5:1.5", { 500, 1000, 1500 }, { 499, 1501, 0 }, "@0.5:1.5" },
		{ "250ms", { 251, 1000, 300 }, { 0, 100, 250 }, "0.25" },
		{ "2s:1m", { 1999, 60001, 0 }, { 2000, 30000, 60000 }, "2:60" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct check_range r;
		ck_assert_msg(check_range_parse(rows[i].range, &r) == 0, "%s", rows[i].range);
		for (size_t k = 0; k < 3; k++) {
			ck_assert_msg(check_range_alerts(&r, rows[i].alerts[k]),
				      "%s: %g ms does not alert", rows[i].range,
				      rows[i].alerts[k]);
			ck_assert_msg(!check_range_alerts(&r, rows[i].quiet[k]),
				      "%s: %g ms alerts", rows[i].range, rows[i].quiet[k]);
		}
		char text[64];
		check_range_format(&r, text, sizeof(text));
		ck_assert_str_eq(text, rows[i].perfdata);
	}
	static const char *const bad[] = { "", "@", "x", "10:5", "~", "1:2:3", "nan",
					   "inf", "5 s", "10ss", "0x10", ":" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct check_range r = { 0 };
		ck_assert_msg(check_range_parse(bad[i], &r) < 0, "\"%s\" accepted", bad[i]);
		ck_assert(!r.set);
	}
	struct check_options o;
	char *err;
	ck_assert_int_lt(parse(WORDS("-c", "10:5"), &o, &err), 0);
	ck_assert_msg(strstr(err, "--critical: invalid range \"10:5\""), "%s", err);
	free(err);
}
END_TEST

/* -w and -c decide the state of an answer by its latency alone; a
 * probe without an answer keeps its state. */
START_TEST(thresholds_decide_the_state)
{
	struct check_options o = { 0 };
	char *err;
	ck_assert_int_eq(parse(WORDS("-w", "@1:2", "-c", "~:5"), &o, &err), 0);
	struct check_thresholds t = check_thresholds(&S, &o);
	struct probe_result r = { .http_status = 200, .latency_ms = 1500 };
	ck_assert_int_eq(check_state(HEALTH_HEALTHY, &r, &t), HEALTH_DEGRADED);
	r.latency_ms = 2500;
	ck_assert_int_eq(check_state(HEALTH_HEALTHY, &r, &t), HEALTH_HEALTHY);
	r.latency_ms = 5001;
	ck_assert_int_eq(check_state(HEALTH_HEALTHY, &r, &t), HEALTH_UNHEALTHY);
	r.http_status = 0;
	ck_assert_int_eq(check_state(HEALTH_UNHEALTHY, &r, &t), HEALTH_UNHEALTHY);

	/* Defaults: degraded_latency (3 s) and the timeout (5 s). */
	memset(&o, 0, sizeof(o));
	t = check_thresholds(&S, &o);
	struct health_snapshot snap;
	memset(&snap, 0, sizeof(snap));
	snap.last = (struct probe_result){ .http_status = 200, .latency_ms = 3500 };
	ck_assert_int_eq(check_state(HEALTH_HEALTHY, &snap.last, &t), HEALTH_DEGRADED);

	/* An explicit -w above an explicit -c is refused. */
	ck_assert_int_eq(parse(WORDS("-w", "2", "-c", "1"), &o, &err), 0);
	ck_assert_int_lt(check_cmd_validate(&S, &o, &err), 0);
	ck_assert_msg(strstr(err, "--warning 2000 ms is above --critical 1000 ms"), "%s", err);
	free(err);
	/* Ranges of other shapes have no order to keep. */
	ck_assert_int_eq(parse(WORDS("-w", "@1:2", "-c", "1"), &o, &err), 0);
	ck_assert_int_eq(check_cmd_validate(&S, &o, &err), 0);
}
END_TEST

START_TEST(help_is_checks_own)
{
	struct check_options o;
	char *err;
	ck_assert_int_eq(parse(WORDS("-h"), &o, &err), 0);
	ck_assert(o.help);
	ck_assert_int_eq(parse(WORDS("--help"), &o, &err), 0);
	ck_assert(o.help);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	check_cmd_usage(f);
	fclose(f);
	ck_assert_msg(strncmp(text, "Usage: intercom-healthd check ", 30) == 0, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "@10:20"));
	free(text);
}
END_TEST

/* connect_to: curl's CONNECT_TO entries, or an error naming the setting
 * and where the value came from. */
START_TEST(connect_to_validated)
{
	static const char *const ok[] = {
		"api.intercom.io:443:127.0.0.1:8443",
		"api.intercom.io:443:127.0.0.1:8443,api.eu.intercom.io:443:[::1]:9",
		"::proxy.internal:", ":443:10.0.0.5:443", "a:443::8443",
	};
	static const char *const bad[] = {
		"api.intercom.io", "a:443:b", "a:99999:b:1", "a:443:b:x",
		"a:443:[::1:5", "a:443:b:1,", "a:443:b:1,,c:1:d:2",
	};
	char *env[] = { TOKEN_ENV, NULL };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct settings s;
		char *err = NULL;
		char flag[200];
		snprintf(flag, sizeof(flag), "--connect-to=%s", ok[i]);
		char *argv[] = { flag, NULL };
		ck_assert_msg(settings_load(&s, COMMAND_CHECK, 1, argv, env, &err) == 0,
			      "%s: %s", ok[i], err);
		ck_assert_str_eq(s.connect_to, ok[i]);
		settings_finish(&s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct settings s;
		char *err = NULL;
		char flag[200];
		snprintf(flag, sizeof(flag), "--connect-to=%s", bad[i]);
		char *argv[] = { flag, NULL };
		ck_assert_msg(settings_load(&s, COMMAND_CHECK, 1, argv, env, &err) < 0,
			      "%s accepted", bad[i]);
		ck_assert_msg(strstr(err, "connect_to: invalid value") &&
			      strstr(err, "(from flag --connect-to)") &&
			      strstr(err, "HOST:PORT:CONNECT-HOST:CONNECT-PORT"), "%s", err);
		free(err);
		settings_finish(&s);
	}
}
END_TEST

/* A snapshot whose last probe is r, with error text error. */
static void
snapshot(struct health_snapshot *snap, const struct probe_result *r,
	 const char *error)
{
	memset(snap, 0, sizeof(*snap));
	snap->probed = true;
	snap->last = *r;
	snprintf(snap->error, sizeof(snap->error), "%s", error);
}

/* The plugin line (and -v lines) for snap into a buffer; caller frees. */
static char *
plugin_text(const struct check_options *o, const struct health_snapshot *snap,
	    enum health_state state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	struct check_thresholds t = check_thresholds(&S, o);
	check_plugin_line(f, &S, o, snap, state, &t);
	fclose(f);
	return text;
}

/* Nagios splits the first line at its first '|': a '|' from Intercom's
 * error message would start forged performance data. */
START_TEST(error_text_cannot_forge_perfdata)
{
	struct probe_result r = { .http_status = 401, .latency_ms = 120 };
	struct health_snapshot snap;
	snapshot(&snap, &r, "401: nope | time=0.001s;9;9;0 quota_remaining=1");
	struct check_options o = { 0 };
	char *text = plugin_text(&o, &snap, HEALTH_UNHEALTHY);
	char *nl = strchr(text, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	const char *bar = strchr(text, '|');
	ck_assert_ptr_nonnull(bar);
	ck_assert_msg(strchr(bar + 1, '|') == NULL, "two '|' in: %s", text);
	ck_assert_msg(strstr(bar, "time=0.120s;"), "real perfdata not after the"
		      " first '|': %s", text);
	ck_assert_msg(strstr(text, "401: nope"), "message lost: %s", text);
	free(text);
}
END_TEST

/* -v: a connection that never happened shows no phases, and never as
 * "reused"; a new one shows each; a reused one only the wait. */
START_TEST(verbose_phases_that_happened)
{
	struct check_options o = { .verbose = 1 };
	struct health_snapshot snap;

	struct probe_result refused = {
		.transport = PROBE_TRANSPORT_CONNECT, .latency_ms = 2,
		.phases = { .known = true, .reused = true },
	};
	snapshot(&snap, &refused, "connection refused");
	char *text = plugin_text(&o, &snap, HEALTH_UNHEALTHY);
	ck_assert_msg(!strstr(text, "reused"), "%s", text);
	ck_assert_msg(!strstr(text, "0.0 ms"), "%s", text);
	ck_assert_msg(!strstr(text, "first byte"), "%s", text);
	free(text);

	struct probe_result fresh = {
		.http_status = 200, .latency_ms = 40,
		.phases = { .known = true, .dns_us = 1500, .connect_us = 2500,
			    .tls_us = 9000, .first_byte_us = 20000 },
	};
	snapshot(&snap, &fresh, "");
	text = plugin_text(&o, &snap, HEALTH_HEALTHY);
	ck_assert_msg(strstr(text, "dns 1.5 ms, connect 2.5 ms, tls 9.0 ms, first"
			     " byte 20.0 ms\n"), "%s", text);
	free(text);

	struct probe_result reused = {
		.http_status = 200, .latency_ms = 20,
		.phases = { .known = true, .reused = true, .first_byte_us = 18000 },
	};
	snapshot(&snap, &reused, "");
	text = plugin_text(&o, &snap, HEALTH_HEALTHY);
	ck_assert_msg(strstr(text, "first byte 18.0 ms (reused connection)"), "%s", text);
	ck_assert_msg(!strstr(text, "dns"), "%s", text);
	free(text);
}
END_TEST

int
main(void)
{
	Suite *suite = suite_create("check-args");
	TCase *tc = tcase_create("check-args");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, flags_come_out);
	tcase_add_test(tc, ranges_accepted);
	tcase_add_test(tc, range_table);
	tcase_add_test(tc, thresholds_decide_the_state);
	tcase_add_test(tc, help_is_checks_own);
	tcase_add_test(tc, connect_to_validated);
	tcase_add_test(tc, error_text_cannot_forge_perfdata);
	tcase_add_test(tc, verbose_phases_that_happened);
	suite_add_tcase(suite, tc);
	SRunner *runner = srunner_create(suite);
	srunner_run_all(runner, CK_ENV);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
