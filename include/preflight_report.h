#ifndef INCLUDE_PREFLIGHT_REPORT_H
#define INCLUDE_PREFLIGHT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "settings.h"

/*
 * The checklist's outcome: one result, evidence and advice per item, in
 * the order of the runner's item table, and its three faces: aligned text
 * for a person (colour only on a terminal, never with NO_COLOR), the
 * contract's JSON object for scripts, and JUnit XML so that CI shows each
 * item as a test case (FAIL a <failure>, SKIP <skipped/>, WARN a pass
 * with <system-out>). Knows nothing of how items are run or judged.
 */

enum preflight_result {
	PREFLIGHT_PASS,
	PREFLIGHT_WARN,
	PREFLIGHT_FAIL,
	PREFLIGHT_SKIP,
};

struct preflight_item {
	const char *id;         /* "auth", "region", ...; static */
	enum preflight_result result;
	/* One printable line each, never a secret; owned. advice is NULL
	 * for PASS and SKIP. */
	char *evidence;
	char *advice;
};

struct preflight_report {
	struct preflight_item *items;   /* n_items of them; owned */
	size_t n_items;
	int64_t duration_ms;
	char *target;           /* "https://api.intercom.io (Intercom-Version 2.14)"; owned */
};

/* n_items zeroed items (SKIP with no evidence until judged). */
void preflight_report_init(struct preflight_report *report, size_t n_items);

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

/* Frees the report's items and strings. */
void preflight_report_finish(struct preflight_report *report);

/* Should text on out be coloured? A terminal, NO_COLOR unset or empty,
 * TERM not "dumb". */
bool preflight_report_colour(FILE *out);

/* Writes report to out in format; colour applies to text only. */
void preflight_report_print(FILE *out, const struct preflight_report *report,
			    enum output_format format, bool strict, bool colour);

#endif
