#ifndef INCLUDE_PREFLIGHT_REPORT_H
#define INCLUDE_PREFLIGHT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "preflight.h"
#include "settings.h"

/*
 * The checklist's three faces: aligned text for a person (colour only on
 * a terminal, never with NO_COLOR), the contract's JSON object for
 * scripts, and JUnit XML so that CI shows each item as a test case
 * (FAIL a <failure>, SKIP <skipped/>, WARN a pass with <system-out>).
 */

/* Should text on out be coloured? A terminal, NO_COLOR unset or empty,
 * TERM not "dumb". */
bool preflight_report_colour(FILE *out);

/* Writes report to out in format; colour applies to text only. */
void preflight_report_print(FILE *out, const struct preflight_report *report,
			    enum output_format format, bool strict, bool colour);

#endif
