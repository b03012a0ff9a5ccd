#ifndef INCLUDE_PREFLIGHT_H
#define INCLUDE_PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "settings.h"

/*
 * `intercom-healthd preflight`: the production readiness checklist, run.
 * Every item's network work goes on one curl multi handle at once, each
 * request bounded by `timeout` and the whole run by PREFLIGHT_BUDGET
 * timeouts, so a hanging API cannot hang the checklist; the token scan
 * runs while the requests are in flight. Items, ids and exit codes are
 * the contract's (INTERFACE.md, `preflight`).
 */

/* The whole run ends after this many `timeout`s, whatever is in flight:
 * the latency item's samples run one after another, and stop taking new
 * ones when the rest of the budget is less than a timeout. */
#define PREFLIGHT_BUDGET 3

enum preflight_result {
	PREFLIGHT_PASS,
	PREFLIGHT_WARN,
	PREFLIGHT_FAIL,
	PREFLIGHT_SKIP,
};

/* In the contract's order, which is the order of every output. */
enum preflight_id {
	PREFLIGHT_AUTH,
	PREFLIGHT_REGION,
	PREFLIGHT_API_VERSION,
	PREFLIGHT_RATE_LIMIT,
	PREFLIGHT_LATENCY,
	PREFLIGHT_TLS,
	PREFLIGHT_CLOCK,
	PREFLIGHT_STATUS_PAGE,
	PREFLIGHT_WEBHOOK_REACHABLE,
	PREFLIGHT_WEBHOOK_SIGNATURE,
	PREFLIGHT_TOKEN_LEAK,
	PREFLIGHT_HEALTH_ENDPOINT,
	PREFLIGHT_SCOPES,
	PREFLIGHT_ITEM_COUNT,
};

struct preflight_item {
	enum preflight_result result;
	/* One printable line each, never a secret; owned. advice is NULL
	 * for PASS and SKIP. */
	char *evidence;
	char *advice;
};

struct preflight_report {
	struct preflight_item items[PREFLIGHT_ITEM_COUNT];
	int64_t duration_ms;
	char *target;           /* "https://api.intercom.io (Intercom-Version 2.14)"; owned */
};

/* "auth", "region", ... Static. */
const char *preflight_id_name(enum preflight_id id);
/* "PASS", "WARN", "FAIL", "SKIP". Static. */
const char *preflight_result_name(enum preflight_result result);

/* Sets item's result and evidence (printf-style; advice separately).
 * Replaces what it held. */
void preflight_set(struct preflight_item *item, enum preflight_result result,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets item's advice, replacing any. */
void preflight_advise(struct preflight_item *item, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 0 when nothing failed (with strict: nothing failed or warned), else 1. */
int preflight_exit_status(const struct preflight_report *report, bool strict);

/* Frees the report's strings. */
void preflight_report_finish(struct preflight_report *report);

/*
 * Runs the checklist with s, prints it to stdout in s->format, and
 * returns the exit status (0 or 1; 2 is for usage errors, before this).
 */
int preflight_run(const struct settings *s);

#endif
