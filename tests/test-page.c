#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "health.h"
#include "history.h"
#include "page.h"

/*
 * The status page (page.c): the SVG charts draw exactly the data, every
 * outside string is escaped, and the page carries what a person and a
 * terminal browser need.
 */

static const struct page_info info = {
	.version = "9.9.9",
	.api_url = "https://api.intercom.io",
	.interval_ms = 15000,
};

static const int64_t t0 = 1764172800000LL;   /* 2025-11-26 16:00:00 UTC */

static void
snapshot(struct health_snapshot *s, struct health_view *v, enum health_state state)
{
	memset(s, 0, sizeof(*s));
	s->started_ms = t0 - 60000;
	s->probed = true;
	s->state = state;
	s->last_state = state;
	s->last.http_status = 200;
	s->last.finished_ms = t0;
	s->last.latency_ms = 120;
	memset(v, 0, sizeof(*v));
	v->state = state;
	v->live = true;
	v->error = "";
}

static struct history *
history_of(const int64_t *latency, const enum health_state *raw, size_t n)
{
	struct history *h = history_create(n > 0 ? n : 1);
	for (size_t i = 0; i < n; i++) {
		struct history_probe p = {
			.at_ms = t0 + (int64_t)i * 15000,
			.latency_ms = latency[i],
			.http_status = raw[i] == HEALTH_UNHEALTHY ? 503 : 200,
			.raw = raw[i],
			.state = raw[i],
			.has_quota = true,
			.quota_remaining = 10000 - (int64_t)i * 10,
			.quota_limit = 10000,
		};
		history_add_probe(h, &p);
	}
	return h;
}

static char *
render(const struct health_snapshot *s, const struct health_view *v,
       const struct history *h)
{
	size_t len = 0;
	char *html = page_render(s, v, h, &info, t0 + 3600000, &len);
	ck_assert_uint_eq(len, strlen(html));
	return html;
}

/* The points="..." of the first <polyline class="cls"> after the element
 * with id; parsed into xs/ys. Returns the count. */
static size_t
polyline_points(const char *html, const char *id, const char *cls,
		double *xs, double *ys, size_t max)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "id=\"%s\"", id);
	const char *p = strstr(html, needle);
	ck_assert_msg(p != NULL, "no %s in the page", needle);
	snprintf(needle, sizeof(needle), "<polyline class=\"%s\" points=\"", cls);
	p = strstr(p, needle);
	ck_assert_msg(p != NULL, "no polyline %s", cls);
	p += strlen(needle);
	size_t n = 0;
	while (*p != '"') {
		char *end;
		ck_assert_uint_lt(n, max);
		xs[n] = strtod(p, &end);
		ck_assert(*end == ',');
		ys[n] = strtod(end + 1, &end);
		ck_assert(*end == ' ' || *end == '"');
		p = *end == ' ' ? end + 1 : end;
		n++;
	}
	return n;
}

static int64_t
attr_int(const char *html, const char *id, const char *attr)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "id=\"%s\"", id);
	const char *p = strstr(html, needle);
	ck_assert_ptr_nonnull(p);
	snprintf(needle, sizeof(needle), "%s=\"", attr);
	p = strstr(p, needle);
	ck_assert_ptr_nonnull(p);
	return strtoll(p + strlen(needle), NULL, 10);
}

static int
count_of(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

START_TEST(latency_points_match_the_data)
{
	const int64_t latency[] = { 100, 300, 50, 1000, 250, 0 };
	const enum health_state raw[] = { HEALTH_HEALTHY, HEALTH_HEALTHY,
					  HEALTH_HEALTHY, HEALTH_UNHEALTHY,
					  HEALTH_DEGRADED, HEALTH_HEALTHY };
	size_t n = 6;
	struct health_snapshot s;
	struct health_view v;
	snapshot(&s, &v, HEALTH_HEALTHY);
	struct history *h = history_of(latency, raw, n);
	char *html = render(&s, &v, h);

	int64_t scale = attr_int(html, "latency", "data-max-ms");
	ck_assert_int_eq(scale, 1000);
	double xs[16], ys[16];
	ck_assert_uint_eq(polyline_points(html, "latency", "lat", xs, ys, 16), n);
	for (size_t i = 0; i < n; i++) {
		double x = (double)i * PAGE_CHART_WIDTH / (double)(n - 1);
		double y = PAGE_CHART_HEIGHT -
			   (double)latency[i] * PAGE_CHART_HEIGHT / (double)scale;
		ck_assert_msg(fabs(xs[i] - x) < 0.051 && fabs(ys[i] - y) < 0.051,
			      "point %zu is %.1f,%.1f, want %.1f,%.1f", i, xs[i],
			      ys[i], x, y);
	}
	/* The worst probe sits at the top, the 0 ms one on the axis. */
	ck_assert(fabs(ys[3]) < 0.051);
	ck_assert(fabs(ys[5] - PAGE_CHART_HEIGHT) < 0.051);

	/* The band: one rect per run of probes in one state, in order,
	 * each as wide as its probes' slots. */
	const char *band = strstr(html, "id=\"timeline\"");
	ck_assert_ptr_nonnull(band);
	const char *end = strstr(band, "</svg>");
	const struct {
		char cls;
		int first, len;
	} runs[] = { { 'h', 0, 3 }, { 'u', 3, 1 }, { 'd', 4, 1 }, { 'h', 5, 1 } };
	double slot = (double)PAGE_CHART_WIDTH / (double)n;
	const char *p = band;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char cls;
		double x, w;
		p = strstr(p, "<rect class=\"");
		ck_assert(p != NULL && p < end);
		ck_assert_int_eq(sscanf(p, "<rect class=\"%c\" x=\"%lf\" y=\"0\" "
					"width=\"%lf\"", &cls, &x, &w), 3);
		ck_assert_msg(cls == runs[i].cls, "run %zu is %c", i, cls);
		ck_assert(fabs(x - runs[i].first * slot) < 0.006);
		ck_assert(fabs(w - runs[i].len * slot) < 0.006);
		p++;
	}
	p = strstr(p, "<rect");
	ck_assert(p == NULL || p > end);

	/* Quota: remaining over the limit. */
	ck_assert_int_eq(attr_int(html, "quota", "data-max"), 10000);
	ck_assert_uint_eq(polyline_points(html, "quota", "quota", xs, ys, 16), n);
	for (size_t i = 0; i < n; i++) {
		double y = PAGE_CHART_HEIGHT -
			   (10000.0 - (double)i * 10) * PAGE_CHART_HEIGHT / 10000.0;
		ck_assert(fabs(ys[i] - y) < 0.051);
	}
	/* The text says it too, for lynx. */
	ck_assert_ptr_nonnull(strstr(html, "4 healthy, 1 degraded, 1 unhealthy"));
	ck_assert_ptr_nonnull(strstr(html, "max 1000 ms"));
	free(html);
	history_destroy(h);
}
END_TEST

START_TEST(many_probes_are_bucketed_without_losing_a_spike)
{
	size_t n = 2000;
	int64_t *latency = calloc(n, sizeof(*latency));
	enum health_state *raw = calloc(n, sizeof(*raw));
	for (size_t i = 0; i < n; i++) {
		latency[i] = 100;
		raw[i] = HEALTH_HEALTHY;
	}
	latency[1234] = 4000;
	raw[1234] = HEALTH_UNHEALTHY;
	struct health_snapshot s;
	struct health_view v;
	snapshot(&s, &v, HEALTH_HEALTHY);
	struct history *h = history_of(latency, raw, n);
	char *html = render(&s, &v, h);

	ck_assert_int_eq(attr_int(html, "latency", "data-max-ms"), 5000);
	double *xs = calloc(PAGE_MAX_POINTS + 1, sizeof(double));
	double *ys = calloc(PAGE_MAX_POINTS + 1, sizeof(double));
	size_t points = polyline_points(html, "latency", "lat", xs, ys,
					PAGE_MAX_POINTS + 1);
	ck_assert_uint_eq(points, PAGE_MAX_POINTS);
	size_t spikes = 0;
	double spike_y = PAGE_CHART_HEIGHT - 4000.0 * PAGE_CHART_HEIGHT / 5000.0;
	for (size_t i = 0; i < points; i++)
		if (fabs(ys[i] - spike_y) < 0.051)
			spikes++;
	ck_assert_uint_eq(spikes, 1);
	/* The one unhealthy probe stays one red slot of the band, between
	 * two healthy runs. */
	ck_assert_int_eq(count_of(html, "<rect class=\"u\""), 1);
	ck_assert_int_eq(count_of(html, "<rect class=\"h\""), 2);
	const char *red = strstr(html, "<rect class=\"u\"");
	double x, w;
	ck_assert_int_eq(sscanf(red, "<rect class=\"u\" x=\"%lf\" y=\"0\" width=\"%lf\"",
				&x, &w), 2);
	double slot = (double)PAGE_CHART_WIDTH / PAGE_MAX_POINTS;
	ck_assert(fabs(w - slot) < 0.006);
	ck_assert(fabs(x - (double)(1234 * PAGE_MAX_POINTS / 2000) * slot) < 0.006);
	free(xs);
	free(ys);
	free(html);
	free(latency);
	free(raw);
	history_destroy(h);
}
END_TEST

START_TEST(outside_text_is_escaped)
{
	static const char evil[] = "<script>alert(\"x\")</script>&'<img src=x>";
	struct health_snapshot s;
	struct health_view v;
	snapshot(&s, &v, HEALTH_UNHEALTHY);
	v.error = "401: <b>Access Token Invalid</b>";
	s.status_page.enabled = true;
	s.status_page.checked = true;
	s.status_page.indicator = PAGE_MAJOR;
	snprintf(s.status_page.description, sizeof(s.status_page.description),
		 "%s", evil);
	s.webhook.enabled = true;
	s.webhook.checked = true;
	snprintf(s.webhook.error, sizeof(s.webhook.error), "%s", evil);

	const int64_t latency[] = { 100, 200 };
	const enum health_state raw[] = { HEALTH_UNHEALTHY, HEALTH_UNHEALTHY };
	struct history *h = history_of(latency, raw, 2);
	struct history_transition t = { .at_ms = t0, .from = HEALTH_HEALTHY,
					.to = HEALTH_UNHEALTHY };
	history_set_reason(t.reason, sizeof(t.reason), evil);
	history_add_transition(h, &t);
	struct history_probe p = {
		.at_ms = t0 + 60000, .latency_ms = 10, .raw = HEALTH_UNHEALTHY,
		.state = HEALTH_UNHEALTHY,
	};
	history_set_reason(p.reason, sizeof(p.reason), "503: \"</td><td>");
	history_add_probe(h, &p);

	struct page_info hostile = info;
	hostile.api_url = "https://x.example/\"><script>";
	size_t len;
	char *html = page_render(&s, &v, h, &hostile, t0, &len);

	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "<img"));
	ck_assert_ptr_null(strstr(html, "<b>"));
	ck_assert_ptr_null(strstr(html, "\"></td>"));
	ck_assert_ptr_nonnull(strstr(html,
		"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&lt;img src=x&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "401: &lt;b&gt;Access Token Invalid&lt;/b&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "503: &quot;&lt;/td&gt;&lt;td&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "x.example/&quot;&gt;&lt;script&gt;"));
	/* Three places carry the evil text: description, webhook, table. */
	ck_assert_int_eq(count_of(html, "&lt;script&gt;alert"), 3);
	free(html);
	history_destroy(h);

	/* Bytes outside printable ASCII never reach the page raw. */
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	page_html_escape(f, "a\x01" "b\xc3\xa9" "c\n", 64);
	fclose(f);
	ck_assert_str_eq(out, "a?b??c?");
	free(out);
}
END_TEST

START_TEST(page_has_what_people_need)
{
	const int64_t latency[] = { 100, 100, 900 };
	const enum health_state raw[] = { HEALTH_HEALTHY, HEALTH_UNHEALTHY,
					  HEALTH_HEALTHY };
	struct health_snapshot s;
	struct health_view v;
	snapshot(&s, &v, HEALTH_HEALTHY);
	struct history *h = history_of(latency, raw, 3);
	struct history_transition t1 = { .at_ms = t0 + 15000, .from = HEALTH_HEALTHY,
					 .to = HEALTH_UNHEALTHY,
					 .reason = "401: Access Token Invalid" };
	struct history_transition t2 = { .at_ms = t0 + 30000, .from = HEALTH_UNHEALTHY,
					 .to = HEALTH_HEALTHY, .reason = "200 in 900 ms" };
	history_add_transition(h, &t1);
	history_add_transition(h, &t2);
	char *html = render(&s, &v, h);

	ck_assert_ptr_nonnull(strstr(html, "<!DOCTYPE html>"));
	ck_assert_ptr_nonnull(strstr(html, "<p class=\"state\" id=\"state\">healthy</p>"));
	ck_assert_ptr_nonnull(strstr(html, "class=\"banner h\""));
	ck_assert_ptr_nonnull(strstr(html, "<meta http-equiv=\"refresh\" content=\"15\">"));
	ck_assert_ptr_nonnull(strstr(html, "prefers-color-scheme:dark"));
	ck_assert_ptr_nonnull(strstr(html, "href=\"/health\""));
	ck_assert_ptr_nonnull(strstr(html, "href=\"/metrics\""));
	ck_assert_ptr_nonnull(strstr(html, "href=\"/history\""));
	/* Since the last transition, an hour less 30 s before "now". */
	ck_assert_ptr_nonnull(strstr(html, "Since 2025-11-26 16:00:30 UTC (59 min 30 s)"));
	/* Newest transition first. */
	const char *a = strstr(html, "200 in 900 ms");
	const char *b = strstr(html, "401: Access Token Invalid");
	ck_assert(a && b && a < b);
	ck_assert_ptr_nonnull(strstr(html, "<table id=\"transitions\">"));
	/* Self-contained: nothing to fetch, nothing to run. */
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "src="));
	ck_assert_ptr_null(strstr(html, "href=\"http"));
	ck_assert_ptr_null(strstr(html, "url("));
	free(html);

	/* A refresh of at least one second, whatever the interval. */
	struct page_info fast = info;
	fast.interval_ms = 250;
	size_t len;
	html = page_render(&s, &v, h, &fast, t0, &len);
	ck_assert_ptr_nonnull(strstr(html, "content=\"1\">"));
	free(html);
	history_destroy(h);

	/* Before any probe, and without a history. */
	snapshot(&s, &v, HEALTH_UNHEALTHY);
	s.probed = false;
	v.error = "no probe has finished yet";
	html = page_render(&s, &v, NULL, &info, t0, &len);
	ck_assert_ptr_nonnull(strstr(html, "id=\"state\">unhealthy<"));
	ck_assert_ptr_nonnull(strstr(html, "No probe has finished yet."));
	ck_assert_ptr_nonnull(strstr(html, "Error: no probe has finished yet"));
	ck_assert_ptr_nonnull(strstr(html, "since the daemon started"));
	free(html);
}
END_TEST

START_TEST(latency_scale_steps)
{
	ck_assert_int_eq(page_latency_scale(0), 100);
	ck_assert_int_eq(page_latency_scale(100), 100);
	ck_assert_int_eq(page_latency_scale(101), 200);
	ck_assert_int_eq(page_latency_scale(201), 500);
	ck_assert_int_eq(page_latency_scale(501), 1000);
	ck_assert_int_eq(page_latency_scale(5001), 10000);
	ck_assert_int_gt(page_latency_scale(INT64_MAX), 0);
}
END_TEST

static Suite *
page_suite(void)
{
	Suite *s = suite_create("page");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "points match data", latency_points_match_the_data },
		{ "buckets", many_probes_are_bucketed_without_losing_a_spike },
		{ "escaping", outside_text_is_escaped },
		{ "contents", page_has_what_people_need },
		{ "scale", latency_scale_steps },
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
	SRunner *sr = srunner_create(page_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
