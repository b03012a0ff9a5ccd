#include <stdio.h>
#include <stdlib.h>

#include "check_cmd.h"
#include "health.h"
#include "probe.h"
#include "render.h"
#include "request.h"

static const char *const plugin_word[] = {
	[HEALTH_HEALTHY] = "OK",
	[HEALTH_DEGRADED] = "WARNING",
	[HEALTH_UNHEALTHY] = "CRITICAL",
};

/* Performance data per the monitoring-plugin guidelines:
 * 'label'=value[UOM];[warn];[crit];[min];[max]. */
static void
print_plugin_line(const struct settings *s, const struct health_snapshot *snap,
		  enum health_state state)
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
	printf(" | time=%.3fs;%g;%g;0", (double)r->latency_ms / 1000.0,
	       (double)s->degraded_latency_ms / 1000.0,
	       (double)s->timeout_ms / 1000.0);
	if (rl->has_remaining) {
		printf(" quota_remaining=%lld;;;0", (long long)rl->remaining);
		if (rl->has_limit)
			printf(";%lld", (long long)rl->limit);
	}
	printf("\n");
}

int
check_cmd_run(const struct settings *s)
{
	struct health_params params;
	health_params_init(&params, s);
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
		print_plugin_line(s, &snap, view.state);
	}
	status = (int)view.state;
	request_cleanup(&req);
	free(ca.data);
	return status;
}
