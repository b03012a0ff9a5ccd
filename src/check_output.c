#include <stdio.h>
#include <stdlib.h>

#include "check_output.h"
#include "text.h"

static const char *const plugin_word[] = {
	[HEALTH_HEALTHY] = "OK",
	[HEALTH_DEGRADED] = "WARNING",
	[HEALTH_UNHEALTHY] = "CRITICAL",
};

/*
 * Warning from -w or degraded_latency, critical from -c or the timeout.
 * Perfdata ranges must be ordered (warn <= crit): a default that would
 * break the order (--timeout=2s under a 3s degraded_latency) gives way to
 * the other, since a probe slower than the timeout cannot happen anyway.
 */
struct check_thresholds
check_thresholds(const struct settings *s, const struct check_options *o)
{
	struct check_thresholds t = { o->warning, o->critical };
	if (!t.warning.set)
		t.warning = (struct check_range){ .set = true,
			.high_ms = (double)s->degraded_latency_ms };
	if (!t.critical.set)
		t.critical = (struct check_range){ .set = true,
			.high_ms = (double)s->timeout_ms };
	if (check_range_is_upper(&t.warning) && check_range_is_upper(&t.critical) &&
	    t.warning.high_ms > t.critical.high_ms) {
		if (o->warning.set)
			t.critical.high_ms = t.warning.high_ms;
		else
			t.warning.high_ms = t.critical.high_ms;
	}
	return t;
}

enum health_state
check_state(enum health_state state, const struct probe_result *r,
	    const struct check_thresholds *t)
{
	/* Only an answer has a latency to judge: a timeout is unhealthy
	 * already. */
	if (!r->http_status)
		return state;
	double ms = (double)r->latency_ms;
	if (check_range_alerts(&t->critical, ms))
		return HEALTH_UNHEALTHY;
	if (check_range_alerts(&t->warning, ms) && state == HEALTH_HEALTHY)
		return HEALTH_DEGRADED;
	return state;
}

/* Text from outside (Intercom's error message) for the plugin line's
 * text part: Nagios splits the line at its first '|', so one there would
 * start forged performance data. */
static void
put_text(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++)
		fputc(*p == '|' ? '/' : *p, out);
}

/* Why the latency alerted, when nothing else says so. */
static void
put_range_reason(FILE *out, const struct probe_result *r,
		 const struct check_thresholds *t)
{
	const char *flag = "--critical";
	const struct check_range *range = &t->critical;
	if (!check_range_alerts(range, (double)r->latency_ms)) {
		flag = "--warning";
		range = &t->warning;
		if (!check_range_alerts(range, (double)r->latency_ms))
			return;
	}
	char text[96];
	check_range_format(range, text, sizeof(text));
	fprintf(out, ": %.3f s %s the %s range %s", (double)r->latency_ms / 1000.0,
		range->inside ? "inside" : "outside", flag, text);
}

/* -v: the phases of the connection that happened, each only if it did:
 * a transfer that never connected has none, and only one that got an
 * answer waited for a first byte. */
static void
put_phases(FILE *out, const struct probe_result *r)
{
	const struct probe_phases *p = &r->phases;
	bool answered = r->http_status != 0;
	if (!p->known)
		return;
	if (p->reused) {
		/* curl counts no connection for a reused one and for one
		 * never made alike: only an answer tells them apart. */
		if (answered)
			fprintf(out, "first byte %.1f ms (reused connection)\n",
				(double)p->first_byte_us / 1000.0);
		return;
	}
	const struct { const char *name; int64_t us; } phases[] = {
		{ "dns", p->dns_us }, { "connect", p->connect_us },
		{ "tls", p->tls_us }, { "first byte", answered ? p->first_byte_us : 0 },
	};
	const char *sep = "";
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		if (phases[i].us <= 0)
			continue;
		fprintf(out, "%s%s %.1f ms", sep, phases[i].name,
			(double)phases[i].us / 1000.0);
		sep = ", ";
	}
	if (*sep)
		fputc('\n', out);
}

/* Performance data per the monitoring-plugin guidelines:
 * 'label'=value[UOM];[warn];[crit];[min];[max]. The quota warns below
 * rate_limit_low percent of the limit: the range "W:" alerts under W. */
void
check_plugin_line(FILE *out, const struct settings *s, const struct check_options *o,
		  const struct health_snapshot *snap, enum health_state state,
		  const struct check_thresholds *t)
{
	const struct probe_result *r = &snap->last;
	const struct rate_limit *rl = &r->rate_limit;
	char warn[96], crit[96];
	check_range_format(&t->warning, warn, sizeof(warn));
	check_range_format(&t->critical, crit, sizeof(crit));
	fprintf(out, "INTERCOM %s - ", plugin_word[state]);
	if (r->http_status)
		fprintf(out, "%ld in %lld ms", r->http_status, (long long)r->latency_ms);
	else
		fprintf(out, "no answer after %lld ms", (long long)r->latency_ms);
	if (rl->has_remaining && rl->has_limit)
		fprintf(out, ", quota %lld/%lld", (long long)rl->remaining,
			(long long)rl->limit);
	if (snap->error[0]) {
		fputs(": ", out);
		put_text(out, snap->error);
	} else if (r->http_status) {
		put_range_reason(out, r, t);
	}
	fprintf(out, " | time=%.3fs;%s;%s;0", (double)r->latency_ms / 1000.0, warn, crit);
	if (rl->has_remaining) {
		fprintf(out, " quota_remaining=%lld;", (long long)rl->remaining);
		if (rl->has_limit)
			/* In that order: a hostile limit near INT64_MAX
			 * must not overflow. */
			fprintf(out, "%lld:", (long long)(rl->limit / 100 * s->rate_limit_low +
							  rl->limit % 100 * s->rate_limit_low / 100));
		fprintf(out, ";;0");
		if (rl->has_limit)
			fprintf(out, ";%lld", (long long)rl->limit);
	}
	fprintf(out, "\n");
	/* -v: the guidelines' "additional information" lines. */
	if (o->verbose >= 1) {
		char *api = text_url_shown(s->api_url);
		fprintf(out, "GET %s%s (Intercom-Version %s)\n", api, s->probe_path,
			s->api_version);
		free(api);
		put_phases(out, r);
	}
}
