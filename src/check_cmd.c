#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cmd.h"
#include "health.h"
#include "mem.h"
#include "probe.h"
#include "render.h"
#include "request.h"
#include "text.h"

static const char *const plugin_word[] = {
	[HEALTH_HEALTHY] = "OK",
	[HEALTH_DEGRADED] = "WARNING",
	[HEALTH_UNHEALTHY] = "CRITICAL",
};

struct thresholds {
	int64_t warning_ms, critical_ms;
};

/*
 * Warning from -w or degraded_latency, critical from -c or the timeout.
 * Perfdata ranges must be ordered (warn <= crit): a default that would
 * break the order (--timeout=2s under a 3s degraded_latency) gives way to
 * the other, since a probe slower than the timeout cannot happen anyway.
 */
static struct thresholds
thresholds(const struct settings *s, const struct check_options *o)
{
	struct thresholds t = {
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
static void
print_plugin_line(const struct settings *s, const struct check_options *o,
		  const struct health_snapshot *snap, enum health_state state,
		  const struct thresholds *t)
{
	const struct probe_result *r = &snap->last;
	const struct rate_limit *rl = &r->rate_limit;
	printf("INTERCOM %s - ", plugin_word[state]);
	if (r->http_status)
		printf("%ld in %lld ms", r->http_status, (long long)r->latency_ms);
	else
		printf("no answer after %lld ms", (long long)r->latency_ms);
	if (rl->has_remaining && rl->has_limit)
		printf(", quota %lld/%lld", (long long)rl->remaining,
		       (long long)rl->limit);
	if (snap->error[0])
		printf(": %s", snap->error);
	else if (r->http_status && r->latency_ms > t->critical_ms)
		printf(": slower than --critical %lld ms", (long long)t->critical_ms);
	printf(" | time=%.3fs;%g;%g;0", (double)r->latency_ms / 1000.0,
	       (double)t->warning_ms / 1000.0, (double)t->critical_ms / 1000.0);
	if (rl->has_remaining) {
		printf(" quota_remaining=%lld;", (long long)rl->remaining);
		if (rl->has_limit)
			/* In that order: a hostile limit near INT64_MAX
			 * must not overflow. */
			printf("%lld:", (long long)(rl->limit / 100 * s->rate_limit_low +
						    rl->limit % 100 * s->rate_limit_low / 100));
		printf(";;0");
		if (rl->has_limit)
			printf(";%lld", (long long)rl->limit);
	}
	printf("\n");
	/* -v: the guidelines' "additional information" lines. */
	if (o->verbose >= 1) {
		printf("GET %s%s (Intercom-Version %s)\n", s->api_url, s->probe_path,
		       s->api_version);
		const struct probe_phases *p = &r->phases;
		if (p->known)
			printf("dns %.1f ms, connect %.1f ms, tls %.1f ms, first byte"
			       " %.1f ms%s\n", (double)p->dns_us / 1000.0,
			       (double)p->connect_us / 1000.0, (double)p->tls_us / 1000.0,
			       (double)p->first_byte_us / 1000.0,
			       p->reused ? " (reused connection)" : "");
	}
}

int
check_cmd_run(const struct settings *s, const struct check_options *o)
{
	struct thresholds t = thresholds(s, o);
	struct health_params params;
	health_params_init(&params, s);
	/* -w is the plugin's spelling of degraded_latency. */
	params.classify.degraded_latency_ms = t.warning_ms;
	struct curl_blob ca = { 0 };
	struct request req;
	char *err = NULL;
	int status;

	if (request_load_ca(s->ca_file, &ca, &err) < 0) {
		printf("INTERCOM UNKNOWN - %s\n", err ? err : "cannot load CA bundle");
		free(err);
		return 3;
	}
	request_init_api(&req, s, s->token, &ca);
	CURLcode code = curl_easy_perform(req.easy);
	request_complete(&req, code, true);

	struct health_snapshot snap;
	health_init(&snap, &params, req.result.started_ms,
		    req.result.finished_mono_ms - req.result.latency_ms);
	health_record_probe(&snap, &params, &req.result);
	struct health_view view;
	health_view(&snap, req.result.finished_mono_ms, &view);
	enum health_state state = view.state;
	/* An answer slower than -c is CRITICAL, whatever it said. */
	if (req.result.http_status && req.result.latency_ms > t.critical_ms)
		state = HEALTH_UNHEALTHY;

	if (s->format == OUTPUT_FORMAT_JSON) {
		struct render_info info;
		render_info_init(&info, s);
		size_t len;
		char *body = render_health_json(&snap, &view, &info,
						req.result.finished_ms, &len);
		fwrite(body, 1, len, stdout);
		putchar('\n');
		free(body);
	} else {
		print_plugin_line(s, o, &snap, state, &t);
	}
	status = (int)state;
	request_cleanup(&req);
	free(ca.data);
	return status;
}
