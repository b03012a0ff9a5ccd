#include <stdio.h>

#include "check_output.h"

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
	struct check_thresholds t = {
		o->warning_ms ? o->warning_ms : s->degraded_latency_ms,
		o->critical_ms ? o->critical_ms : s->timeout_ms,
	};
	if (t.warning_ms > t.critical_ms) {
		if (o->warning_ms)
			t.critical_ms = t.warning_ms;
		else
			t.warning_ms = t.critical_ms;
	}
	return t;
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
	fprintf(out, "INTERCOM %s - ", plugin_word[state]);
	if (r->http_status)
		fprintf(out, "%ld in %lld ms", r->http_status, (long long)r->latency_ms);
	else
		fprintf(out, "no answer after %lld ms", (long long)r->latency_ms);
	if (rl->has_remaining && rl->has_limit)
		fprintf(out, ", quota %lld/%lld", (long long)rl->remaining,
		       (long long)rl->limit);
	if (snap->error[0])
		fprintf(out, ": %s", snap->error);
	else if (r->http_status && r->latency_ms > t->critical_ms)
		fprintf(out, ": slower than --critical %lld ms", (long long)t->critical_ms);
	fprintf(out, " | time=%.3fs;%g;%g;0", (double)r->latency_ms / 1000.0,
	       (double)t->warning_ms / 1000.0, (double)t->critical_ms / 1000.0);
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
		fprintf(out, "GET %s%s (Intercom-Version %s)\n", s->api_url, s->probe_path,
		       s->api_version);
		const struct probe_phases *p = &r->phases;
		if (p->known)
			fprintf(out, "dns %.1f ms, connect %.1f ms, tls %.1f ms, first byte"
			       " %.1f ms%s\n", (double)p->dns_us / 1000.0,
			       (double)p->connect_us / 1000.0, (double)p->tls_us / 1000.0,
			       (double)p->first_byte_us / 1000.0,
			       p->reused ? " (reused connection)" : "");
	}
}
