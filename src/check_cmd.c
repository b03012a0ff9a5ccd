#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cmd.h"
#include "check_output.h"
#include "health.h"
#include "mem.h"
#include "probe.h"
#include "render.h"
#include "request.h"
#include "text.h"

int
check_cmd_run(const struct settings *s, const struct check_options *o)
{
	struct check_thresholds t = check_thresholds(s, o);
	struct health_params params;
	probe_health_params(&params, s);
	/* -w is the plugin's spelling of degraded_latency: a plain bound
	 * goes to the classification too, so that --format json agrees; any
	 * other range only check_state() can judge. */
	params.classify.degraded_latency_ms = check_range_is_upper(&t.warning) ?
		(int64_t)t.warning.high_ms : INT64_MAX;
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
	enum health_state state = check_state(view.state, &req.result, &t);

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
		check_plugin_line(stdout, s, o, &snap, state, &t);
	}
	status = (int)state;
	request_cleanup(&req);
	free(ca.data);
	return status;
}
