/*
 * The status page. Everything a person needs is text first (state, since
 * when, the last error, a one-line summary of each chart, the transitions
 * table), so that `lynx -dump` and a screen reader get all of it; the SVG
 * charts repeat it for the eye. Colour always comes with a word: the
 * state is spelled out, never only green or red.
 *
 * No script and nothing fetched: the answer's Content-Security-Policy
 * (http.c) forbids both, so the page cannot be turned against its reader
 * even if an escape were missed, and it works on a host with no internet.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "page.h"
#include "text.h"

void
page_html_escape(FILE *f, const char *s, size_t max)
{
	if (!s)
		return;
	size_t n = strnlen(s, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(c >= 0x20 && c < 0x7f ? (int)c : '?', f);
		}
	}
}

int64_t
page_latency_scale(int64_t max_ms)
{
	int64_t step = 100;
	for (;;) {
		if (max_ms <= step)
			return step;
		if (max_ms <= 2 * step)
			return 2 * step;
		if (max_ms <= 5 * step)
			return 5 * step;
		if (step > INT64_MAX / 100)
			return INT64_MAX;
		step *= 10;
	}
}

/* "2026-11-26 16:00:05 UTC" */
static void
put_time(FILE *f, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char out[40];
	if (!gmtime_r(&t, &tm) ||
	    strftime(out, sizeof(out), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, sizeof(out), "%s", "?");
	fputs(out, f);
}

/* "3 h 12 min", "4 min 5 s", "12 s" */
static void
put_duration(FILE *f, int64_t ms)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;
	if (s >= 86400)
		fprintf(f, "%" PRId64 " d %" PRId64 " h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		fprintf(f, "%" PRId64 " h %" PRId64 " min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		fprintf(f, "%" PRId64 " min %" PRId64 " s", s / 60, s % 60);
	else
		fprintf(f, "%" PRId64 " s", s);
}

static const char *
state_class(enum health_state state)
{
	switch (state) {
	case HEALTH_HEALTHY:
		return "h";
	case HEALTH_DEGRADED:
		return "d";
	case HEALTH_UNHEALTHY:
		break;
	}
	return "u";
}

/*
 * Light and dark schemes with the same meaning: green, amber, red, each
 * dark enough under white text (WCAG AA, 4.5:1) in the banner.
 */
static const char style[] =
	":root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;"
	"--line:#d0d7de;--grid:#eaeef2;--h:#1a7f37;--d:#9a6700;--u:#cf222e;"
	"--lat:#0969da;--quota:#8250df}"
	"@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;"
	"--muted:#8d96a0;--line:#30363d;--grid:#21262d;--h:#238636;--d:#9e6a03;"
	"--u:#da3633;--lat:#4493f8;--quota:#a371f7}}"
	"body{margin:0 auto;max-width:60rem;padding:1rem 1.25rem;background:var(--bg);"
	"color:var(--fg);font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}"
	"h1{font-size:1rem;font-weight:600;margin:0 0 .75rem;color:var(--muted)}"
	"h2{font-size:1.05rem;margin:1.5rem 0 .5rem}"
	".banner{border-radius:8px;padding:1rem 1.25rem;color:#fff}"
	".banner.h{background:var(--h)}.banner.d{background:var(--d)}"
	".banner.u{background:var(--u)}"
	".banner .state{font-size:2.6rem;font-weight:800;letter-spacing:.04em;"
	"margin:0;line-height:1.1}"
	".banner p{margin:.35rem 0 0}"
	".muted{color:var(--muted)}"
	"svg{display:block;width:100%;height:auto;margin:.25rem 0}"
	"rect.h,circle.h{fill:var(--h)}rect.d,circle.d{fill:var(--d)}"
	"rect.u,circle.u{fill:var(--u)}"
	".axis{stroke:var(--line);stroke-width:1}.grid{stroke:var(--grid);stroke-width:1}"
	".lat{fill:none;stroke:var(--lat);stroke-width:1.5;stroke-linejoin:round}"
	".quota{fill:none;stroke:var(--quota);stroke-width:1.5;stroke-linejoin:round}"
	"svg text{fill:var(--muted);font-size:11px}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);"
	"vertical-align:top}"
	"td.s{font-weight:700}td.s.h{color:var(--h)}td.s.d{color:var(--d)}"
	"td.s.u{color:var(--u)}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}"
	"dt{color:var(--muted)}dd{margin:0}"
	"footer{margin-top:2rem;color:var(--muted)}"
	"a{color:var(--lat)}";

/* One point of a chart: a bucket of probes [first, end). */
struct bucket {
	size_t first, end;
	enum health_state worst;
	int64_t max_latency_ms;
	bool has_quota;
	int64_t min_quota;
};

static size_t
bucket_count(size_t n)
{
	return n < PAGE_MAX_POINTS ? n : PAGE_MAX_POINTS;
}

static void
bucket_at(const struct history *h, size_t n, size_t k, struct bucket *b)
{
	size_t buckets = bucket_count(n);
	b->first = k * n / buckets;
	b->end = (k + 1) * n / buckets;
	b->worst = HEALTH_HEALTHY;
	b->max_latency_ms = 0;
	b->has_quota = false;
	b->min_quota = 0;
	for (size_t i = b->first; i < b->end; i++) {
		const struct history_probe *p = history_probe_at(h, i);
		if (p->raw > b->worst)
			b->worst = p->raw;
		if (p->latency_ms > b->max_latency_ms)
			b->max_latency_ms = p->latency_ms;
		if (p->has_quota && (!b->has_quota || p->quota_remaining < b->min_quota)) {
			b->has_quota = true;
			b->min_quota = p->quota_remaining;
		}
	}
}

/* x of point k of n, spread over the width, the first at 0 and the last
 * at the right edge. */
static double
point_x(size_t k, size_t n)
{
	if (n <= 1)
		return PAGE_CHART_WIDTH / 2.0;
	return (double)k * PAGE_CHART_WIDTH / (double)(n - 1);
}

static double
point_y(int64_t value, int64_t scale)
{
	if (value < 0)
		value = 0;
	if (value > scale)
		value = scale;
	return PAGE_CHART_HEIGHT - (double)value * PAGE_CHART_HEIGHT / (double)scale;
}

/*
 * The state band: one rect per run of slots in the same state, each slot
 * a probe (or a bucket of them, in its worst state). Runs rather than a
 * rect a slot: adjacent rects leave anti-aliased seams when the band is
 * stretched, and an hour of steady health is one element, not 240.
 */
static void
put_band(FILE *f, const struct history *h, size_t n)
{
	size_t buckets = bucket_count(n);
	double w = (double)PAGE_CHART_WIDTH / (double)buckets;
	fprintf(f, "<svg id=\"timeline\" viewBox=\"0 0 %d %d\" role=\"img\" "
		"aria-label=\"state of each probe, oldest left\" "
		"preserveAspectRatio=\"none\" style=\"height:%dpx\">",
		PAGE_CHART_WIDTH, PAGE_BAND_HEIGHT, PAGE_BAND_HEIGHT);
	size_t start = 0;
	struct bucket first, b;
	bucket_at(h, n, 0, &first);
	for (size_t k = 1; k <= buckets; k++) {
		if (k < buckets) {
			bucket_at(h, n, k, &b);
			if (b.worst == first.worst)
				continue;
		}
		const struct history_probe *from = history_probe_at(h, first.first);
		const struct history_probe *to = history_probe_at(h, k * n / buckets - 1);
		fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"0\" width=\"%.2f\" "
			"height=\"%d\"><title>%s: ", state_class(first.worst),
			(double)start * w, (double)(k - start) * w, PAGE_BAND_HEIGHT,
			health_state_name(first.worst));
		put_time(f, from->at_ms);
		fputs(" to ", f);
		put_time(f, to->at_ms);
		fputs("</title></rect>", f);
		start = k;
		first = b;
	}
	fputs("</svg>\n", f);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
put_latency(FILE *f, const struct history *h, size_t n)
{
	size_t buckets = bucket_count(n);
	int64_t max_ms = 0;
	/* A copy to sort for the median: once per snapshot, not per request. */
	int64_t *sorted = xmalloc(n * sizeof(*sorted));
	for (size_t i = 0; i < n; i++) {
		sorted[i] = history_probe_at(h, i)->latency_ms;
		if (sorted[i] > max_ms)
			max_ms = sorted[i];
	}
	qsort(sorted, n, sizeof(*sorted), cmp_i64);
	int64_t median = sorted[n / 2];
	int64_t p95 = sorted[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1];
	free(sorted);
	int64_t scale = page_latency_scale(max_ms);

	fprintf(f, "<p>Latency: last %" PRId64 " ms, median %" PRId64
		" ms, p95 %" PRId64 " ms, max %" PRId64 " ms.</p>\n",
		history_probe_at(h, n - 1)->latency_ms, median, p95, max_ms);
	fprintf(f, "<svg id=\"latency\" viewBox=\"-64 -8 %d %d\" role=\"img\" "
		"aria-label=\"probe latency in milliseconds, oldest left\" "
		"data-max-ms=\"%" PRId64 "\">",
		PAGE_CHART_WIDTH + 72, PAGE_CHART_HEIGHT + 16, scale);
	for (int g = 0; g <= 2; g++) {
		double y = PAGE_CHART_HEIGHT * g / 2.0;
		fprintf(f, "<line class=\"%s\" x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			"<text x=\"-4\" y=\"%.1f\" text-anchor=\"end\">%" PRId64 " ms</text>",
			g == 2 ? "axis" : "grid", y, PAGE_CHART_WIDTH, y, y + 4,
			scale * (2 - g) / 2);
	}
	fputs("<polyline class=\"lat\" points=\"", f);
	for (size_t k = 0; k < buckets; k++) {
		struct bucket b;
		bucket_at(h, n, k, &b);
		fprintf(f, "%s%.1f,%.1f", k ? " " : "", point_x(k, buckets),
			point_y(b.max_latency_ms, scale));
	}
	fputs("\"/>", f);
	/* Failed probes as dots on the line, in their state's colour. */
	for (size_t k = 0; k < buckets; k++) {
		struct bucket b;
		bucket_at(h, n, k, &b);
		if (b.worst == HEALTH_HEALTHY)
			continue;
		fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>",
			state_class(b.worst), point_x(k, buckets),
			point_y(b.max_latency_ms, scale));
	}
	fputs("</svg>\n", f);
}

static void
put_quota(FILE *f, const struct history *h, size_t n)
{
	size_t buckets = bucket_count(n);
	int64_t limit = 0, max_seen = 0, last = -1;
	size_t with = 0;
	for (size_t i = 0; i < n; i++) {
		const struct history_probe *p = history_probe_at(h, i);
		if (p->quota_limit > limit)
			limit = p->quota_limit;
		if (p->has_quota) {
			with++;
			last = p->quota_remaining;
			if (p->quota_remaining > max_seen)
				max_seen = p->quota_remaining;
		}
	}
	if (with == 0) {
		fputs("<p>No probe answer carried X-RateLimit-Remaining.</p>\n", f);
		return;
	}
	int64_t scale = limit > max_seen ? limit : max_seen;
	if (scale <= 0)
		scale = 1;
	fprintf(f, "<p>Quota remaining: last %" PRId64, last);
	if (limit > 0)
		fprintf(f, " of %" PRId64, limit);
	fputs(" per window (the lowest of each point is drawn).</p>\n", f);
	fprintf(f, "<svg id=\"quota\" viewBox=\"-64 -8 %d %d\" role=\"img\" "
		"aria-label=\"rate-limit quota remaining, oldest left\" "
		"data-max=\"%" PRId64 "\">",
		PAGE_CHART_WIDTH + 72, PAGE_CHART_HEIGHT + 16, scale);
	for (int g = 0; g <= 2; g++) {
		double y = PAGE_CHART_HEIGHT * g / 2.0;
		fprintf(f, "<line class=\"%s\" x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			"<text x=\"-4\" y=\"%.1f\" text-anchor=\"end\">%" PRId64 "</text>",
			g == 2 ? "axis" : "grid", y, PAGE_CHART_WIDTH, y, y + 4,
			scale * (2 - g) / 2);
	}
	fputs("<polyline class=\"quota\" points=\"", f);
	bool first = true;
	for (size_t k = 0; k < buckets; k++) {
		struct bucket b;
		bucket_at(h, n, k, &b);
		if (!b.has_quota)
			continue;
		fprintf(f, "%s%.1f,%.1f", first ? "" : " ", point_x(k, buckets),
			point_y(b.min_quota, scale));
		first = false;
	}
	fputs("\"/></svg>\n", f);
}

static void
put_history(FILE *f, const struct history *h)
{
	size_t n = h ? history_probe_count(h) : 0;
	fputs("<h2 id=\"history\">Recent probes</h2>\n", f);
	if (n == 0) {
		fputs("<p>No probe has finished yet.</p>\n", f);
		return;
	}
	size_t counts[3] = { 0, 0, 0 };
	for (size_t i = 0; i < n; i++)
		counts[history_probe_at(h, i)->raw]++;
	fprintf(f, "<p>The last %zu probes, from ", n);
	put_time(f, history_probe_at(h, 0)->at_ms);
	fputs(" to ", f);
	put_time(f, history_probe_at(h, n - 1)->at_ms);
	fprintf(f, ": %zu healthy, %zu degraded, %zu unhealthy.</p>\n",
		counts[HEALTH_HEALTHY], counts[HEALTH_DEGRADED],
		counts[HEALTH_UNHEALTHY]);
	put_band(f, h, n);
	put_latency(f, h, n);
	fputs("<h2 id=\"quota-title\">Rate-limit quota</h2>\n", f);
	put_quota(f, h, n);
}

static void
put_transitions(FILE *f, const struct history *h)
{
	size_t n = h ? history_transition_count(h) : 0;
	fputs("<h2>State changes</h2>\n", f);
	if (n == 0) {
		fputs("<p>No change of state since the daemon started.</p>\n", f);
		return;
	}
	fputs("<table id=\"transitions\">\n<thead><tr><th>When</th><th>From</th>"
	      "<th>To</th><th>Reason</th></tr></thead>\n<tbody>\n", f);
	/* Newest first: the one being asked about during an incident. */
	for (size_t i = n; i-- > 0;) {
		const struct history_transition *t = history_transition_at(h, i);
		fputs("<tr><td>", f);
		put_time(f, t->at_ms);
		fprintf(f, "</td><td class=\"s %s\">%s</td><td class=\"s %s\">%s</td><td>",
			state_class(t->from), health_state_name(t->from),
			state_class(t->to), health_state_name(t->to));
		page_html_escape(f, t->reason, sizeof(t->reason));
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody>\n</table>\n", f);
}

/* The last probe that had something to say, newest first. */
static const struct history_probe *
last_error(const struct history *h)
{
	size_t n = h ? history_probe_count(h) : 0;
	for (size_t i = n; i-- > 0;) {
		const struct history_probe *p = history_probe_at(h, i);
		if (p->reason[0])
			return p;
	}
	return NULL;
}

static void
put_banner(FILE *f, const struct health_snapshot *s, const struct health_view *v,
	   const struct history *h, int64_t now_ms)
{
	fprintf(f, "<section class=\"banner %s\" id=\"current\">\n"
		"<p class=\"state\" id=\"state\">%s</p>\n",
		state_class(v->state), health_state_name(v->state));
	int64_t since = h && h->since_ms ? h->since_ms : s->started_ms;
	fputs("<p>", f);
	if (v->stale)
		fputs("The probe loop is stale. ", f);
	fputs("Since ", f);
	put_time(f, since);
	fputs(" (", f);
	put_duration(f, now_ms - since);
	fputs(h && h->since_ms ? ")" : ", since the daemon started)", f);
	if (s->probed) {
		fputs(". Last probe ", f);
		put_time(f, s->last.finished_ms);
		if (s->last.http_status > 0)
			fprintf(f, ": %ld", s->last.http_status);
		fprintf(f, " in %" PRId64 " ms", s->last.latency_ms);
		if (s->last_state != s->state && !v->stale)
			fprintf(f, " (probe alone: %s)", health_state_name(s->last_state));
	}
	fputs(".</p>\n", f);
	if (v->error && v->error[0]) {
		fputs("<p id=\"error\">Error: ", f);
		page_html_escape(f, v->error, PROBE_ERROR_MAX);
		fputs("</p>\n", f);
	}
	fputs("</section>\n", f);

	const struct history_probe *e = last_error(h);
	if (e && (!v->error || strcmp(v->error, e->reason) != 0)) {
		fputs("<p id=\"last-error\">Last error: ", f);
		page_html_escape(f, e->reason, sizeof(e->reason));
		fputs(" (", f);
		put_time(f, e->at_ms);
		fputs(")</p>\n", f);
	}
}

static void
put_side_checks(FILE *f, const struct health_snapshot *s)
{
	const struct status_page_info *sp = &s->status_page;
	const struct webhook_info *w = &s->webhook;

	fputs("<h2>Intercom status page and webhook</h2>\n<dl>\n"
	      "<dt>Status page</dt><dd id=\"status-page\">", f);
	if (!sp->enabled) {
		fputs("not read (status_url is off)", f);
	} else if (!sp->checked) {
		fputs("not read yet", f);
	} else {
		fprintf(f, "indicator <strong>%s</strong>",
			page_indicator_name(sp->indicator));
		if (sp->description[0]) {
			fputs(": ", f);
			page_html_escape(f, sp->description, sizeof(sp->description));
		}
		if (sp->error[0]) {
			fputs(" (", f);
			page_html_escape(f, sp->error, sizeof(sp->error));
			fputs(")", f);
		}
		fputs(", read ", f);
		put_time(f, sp->checked_ms);
	}
	fputs("</dd>\n<dt>Webhook</dt><dd id=\"webhook\">", f);
	if (!w->enabled) {
		fputs("not checked (no webhook_url)", f);
	} else if (!w->checked) {
		fputs("not checked yet", f);
	} else {
		fprintf(f, "<strong>%s</strong>", w->up ? "up" : "DOWN");
		if (w->http_status > 0)
			fprintf(f, ", HEAD answered %ld", w->http_status);
		fprintf(f, " in %" PRId64 " ms", w->latency_ms);
		if (w->error[0]) {
			fputs(" (", f);
			page_html_escape(f, w->error, sizeof(w->error));
			fputs(")", f);
		}
		fputs(", checked ", f);
		put_time(f, w->checked_ms);
	}
	fputs("</dd>\n", f);
	if (s->rate_limit.has_remaining) {
		fprintf(f, "<dt>Quota</dt><dd>%" PRId64, s->rate_limit.remaining);
		if (s->rate_limit.has_limit)
			fprintf(f, " of %" PRId64, s->rate_limit.limit);
		fputs(" remaining</dd>\n", f);
	}
	fputs("</dl>\n", f);
}

/* A URL, its userinfo masked (a URL may carry credentials), escaped. */
static void
put_url(FILE *f, const char *url)
{
	if (!url)
		return;
	size_t size = strlen(url) + sizeof(TEXT_URL_MASK);
	char *shown = xmalloc(size);
	page_html_escape(f, text_url_masked(url, shown, size), SIZE_MAX);
	free(shown);
}

char *
page_render(const struct health_snapshot *s, const struct health_view *v,
	    const struct history *h, const struct page_info *info,
	    int64_t now_ms, size_t *len)
{
	char *data = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&data, &size);
	if (!f)
		mem_oom();

	int64_t refresh_s = (info->interval_ms + 999) / 1000;
	if (refresh_s < 1)
		refresh_s = 1;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		"<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		"<meta name=\"color-scheme\" content=\"light dark\">\n"
		"<meta http-equiv=\"refresh\" content=\"%" PRId64 "\">\n"
		"<title>Intercom %s - intercom-healthd</title>\n"
		"<style>%s</style>\n</head>\n<body>\n"
		"<h1>intercom-healthd: Intercom API at ",
		refresh_s, health_state_name(v->state), style);
	put_url(f, info->api_url);
	fputs("</h1>\n", f);

	put_banner(f, s, v, h, now_ms);
	put_history(f, h);
	put_side_checks(f, s);
	put_transitions(f, h);

	fputs("<footer>\n<p>Machine-readable: <a href=\"/health\">/health</a> "
	      "<a href=\"/metrics\">/metrics</a> <a href=\"/history\">/history</a>"
	      "</p>\n<p>intercom-healthd ", f);
	page_html_escape(f, info->version, SIZE_MAX);
	fputs(", page rendered ", f);
	put_time(f, now_ms);
	fprintf(f, "; it reloads every %" PRId64 " s.</p>\n</footer>\n"
		"</body>\n</html>\n", refresh_s);

	if (ferror(f) || fclose(f) != 0)
		mem_oom();
	if (len)
		*len = size;
	return data;
}
