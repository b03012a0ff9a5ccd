#ifndef INCLUDE_PREFLIGHT_H
#define INCLUDE_PREFLIGHT_H

#include "settings.h"

/*
 * `intercom-healthd preflight`: the production readiness checklist, run.
 * Every item's network work goes on one curl multi handle at once, each
 * request bounded by `timeout` and the whole run by PREFLIGHT_BUDGET
 * timeouts, so a hanging API cannot hang the checklist; the token scan
 * runs while the requests are in flight. Items, ids and exit codes are
 * the contract's (README, Preflight). The items are one table in
 * preflight.c: id, what to start, how to judge (preflight_items.h).
 */

/* The whole run ends after this many `timeout`s, whatever is in flight:
 * the latency item's samples run one after another, and stop taking new
 * ones when the rest of the budget is less than a timeout. */
#define PREFLIGHT_BUDGET 3

/*
 * Runs the checklist with s, prints it to stdout in s->format, and
 * returns the exit status (0 or 1; 2 is for usage errors, before this).
 */
int preflight_run(const struct settings *s);

#endif
