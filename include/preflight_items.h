#ifndef INCLUDE_PREFLIGHT_ITEMS_H
#define INCLUDE_PREFLIGHT_ITEMS_H

#include <stddef.h>
#include <stdint.h>

#include "preflight.h"
#include "request.h"
#include "settings.h"
#include "token_scan.h"

/*
 * Judging the checklist: turns what the runner (preflight.c) observed into
 * each item's result, evidence and advice. No network, no clock but the
 * one passed in: the rules can be read, and tested, apart from the I/O.
 */

#define PREFLIGHT_LATENCY_SAMPLES 10

/* A finished (or never started: ran false) request of the run. */
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

/* Fills report->items from o for settings s. */
void preflight_items_judge(const struct settings *s,
			   const struct preflight_observed *o,
			   struct preflight_report *report);

#endif
