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

/* A flag's value: the rest of the word ("-w3s", "--warning=3s") or the
 * next word. Returns NULL when there is none. */
static const char *
flag_value(int argc, char **argv, int *i, size_t name_len)
{
	const char *w = argv[*i];
	if (w[name_len] == '=')
		return w + name_len + 1;        /* --warning=3s, -w=3s */
	if (w[1] != '-' && w[2])
		return w + 2;                   /* -w3s */
	if (*i + 1 < argc) {
		(*i)++;
		return argv[*i];
	}
	return NULL;
}

static int
duration_flag(const char *flag, const char *value, int64_t *ms, char **err)
{
	if (!value) {
		*err = xasprintf("%s: missing value: use %s DURATION", flag, flag);
		return -EINVAL;
	}
	if (!settings_parse_duration(value, ms) || *ms <= 0) {
		char *shown = text_show(value, strlen(value), true, 32);
		*err = xasprintf("%s: invalid duration %s: use 250ms, 5s, 2m, 1h or"
				 " seconds", flag, shown);
		free(shown);
		return -EINVAL;
	}
	return 0;
}

/* Is w the short flag c alone or with a glued value, or the long one? */
static bool
is_flag(const char *w, char c, const char *long_name, size_t *name_len)
{
	size_t n = strlen(long_name);
	if (w[0] == '-' && w[1] == c) {
		*name_len = 2;
		return true;
	}
	if (strncmp(w, long_name, n) == 0 && (w[n] == '\0' || w[n] == '=')) {
		*name_len = n;
		return true;
	}
	return false;
}

int
check_cmd_args(int argc, char **argv, struct check_options *o, int *out_argc,
	       char ***out_argv, char **err)
{
	char **out = xcalloc((size_t)argc + 1, sizeof(*out));
	int n = 0;
	size_t len;

	memset(o, 0, sizeof(*o));
	*err = NULL;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "--") == 0) {
			/* Everything after stays as it is. */
			for (; i < argc; i++)
				out[n++] = xstrdup(argv[i]);
			break;
		}
		if (strcmp(w, "-V") == 0) {
			o->version = true;
		} else if (w[0] == '-' && w[1] == 'v' && strspn(w + 1, "v") == strlen(w + 1)) {
			o->verbose += (int)strlen(w + 1);
		} else if (strcmp(w, "--verbose") == 0) {
			o->verbose++;
		} else if (is_flag(w, 'w', "--warning", &len)) {
			if (duration_flag("--warning", flag_value(argc, argv, &i, len),
					  &o->warning_ms, err) < 0)
				goto fail;
		} else if (is_flag(w, 'c', "--critical", &len)) {
			if (duration_flag("--critical", flag_value(argc, argv, &i, len),
					  &o->critical_ms, err) < 0)
				goto fail;
		} else if (w[0] == '-' && w[1] == 't') {
			const char *v = flag_value(argc, argv, &i, 2);
			if (!v) {
				*err = xstrdup("-t: missing value: use -t DURATION");
				goto fail;
			}
			out[n++] = xasprintf("--timeout=%s", v);
		} else {
			out[n++] = xstrdup(w);
		}
	}
	*out_argc = n;
	*out_argv = out;
	return 0;
fail:
	check_cmd_args_free(out);
	return -EINVAL;
}

void
check_cmd_args_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int
check_cmd_validate(const struct settings *s, const struct check_options *o,
		   char **err)
{
	(void)s;
	if (o->warning_ms && o->critical_ms && o->warning_ms > o->critical_ms) {
		*err = xasprintf("--warning %lld ms is above --critical %lld ms: a"
				 " slower probe must not be less severe",
				 (long long)o->warning_ms, (long long)o->critical_ms);
		return -EINVAL;
	}
	return 0;
}

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
	probe_health_params(&params, s);
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
