#ifndef INCLUDE_PREFLIGHT_ITEMS_H
#define INCLUDE_PREFLIGHT_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "preflight_report.h"
#include "request.h"
#include "settings.h"
#include "token_scan.h"

/*
 * Judging the checklist: turns what the runner (preflight.c) observed into
 * each item's result, evidence and advice. No network, no clock but the
 * one passed in: the rules can be read, and tested with hand-built
 * observations, apart from the I/O.
 */

#define PREFLIGHT_LATENCY_SAMPLES 10
/* Intercom's regions but the one in use. */
#define PREFLIGHT_OTHER_REGIONS 2

/* A finished (or never started: ran false) request of the run. Only
 * req.result, req.body, req.body_len and req.truncated are read here. */
struct preflight_call {
	bool ran;
	struct request req;
};

struct preflight_observed {
	int64_t now_s;                  /* Unix time when the run ended */
	struct preflight_call me;       /* GET /me */
	struct preflight_call status;   /* the status page; not ran when off */
	struct preflight_call webhook_head;
	struct preflight_call signed_post, forged_post, unsigned_post;
	struct preflight_call health;
	/* GET /me with the token on Intercom's other regional hosts, asked
	 * only when /me answered 401 on one of them: a token is valid on
	 * its workspace's region alone. */
	struct preflight_call other_regions[PREFLIGHT_OTHER_REGIONS];
	const char *other_region_names[PREFLIGHT_OTHER_REGIONS]; /* "eu"; static */
	const char *other_region_urls[PREFLIGHT_OTHER_REGIONS];  /* static */
	size_t other_region_count;
	struct preflight_call *scopes;  /* one per required path */
	char **scope_paths;
	size_t scope_count;
	/* Latencies of the samples that got an HTTP answer, in order. */
	int64_t latency_ms[PREFLIGHT_LATENCY_SAMPLES];
	size_t latency_count;
	size_t latency_failed;          /* samples without an answer */
	char latency_error[PROBE_ERROR_MAX];
	/* The token scan; scan_rc < 0 when --scan could not be read. */
	bool scanned;
	int scan_rc;
	struct token_scan scan;
};

/* One item's rule: from s and o to its result, evidence and advice. */
typedef void preflight_judge_fn(const struct settings *s,
				const struct preflight_observed *o,
				struct preflight_item *it);

preflight_judge_fn preflight_judge_auth;
preflight_judge_fn preflight_judge_region;
preflight_judge_fn preflight_judge_api_version;
preflight_judge_fn preflight_judge_rate_limit;
preflight_judge_fn preflight_judge_latency;
preflight_judge_fn preflight_judge_tls;
preflight_judge_fn preflight_judge_clock;
preflight_judge_fn preflight_judge_status_page;
preflight_judge_fn preflight_judge_webhook_reachable;
preflight_judge_fn preflight_judge_webhook_signature;
preflight_judge_fn preflight_judge_token_leak;
preflight_judge_fn preflight_judge_health_endpoint;
preflight_judge_fn preflight_judge_scopes;

#endif
