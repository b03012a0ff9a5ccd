#ifndef INCLUDE_CHECK_OUTPUT_H
#define INCLUDE_CHECK_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "check_args.h"
#include "health.h"
#include "settings.h"

/*
 * `check`'s answer as a monitoring plugin: the thresholds in force and
 * the plugin line with its performance data and -v lines. Pure: the
 * probe is check_cmd.c's; this is unit-tested with hand-built snapshots.
 */

struct check_thresholds {
	struct check_range warning, critical;
};

/*
 * Warning from -w or degraded_latency, critical from -c or the timeout.
 * Perfdata ranges must be ordered (warn <= crit): a default that would
 * break the order (--timeout=2s under a 3s degraded_latency) gives way to
 * the other, since a probe slower than the timeout cannot happen anyway.
 */
struct check_thresholds check_thresholds(const struct settings *s,
					 const struct check_options *o);

/* The plugin's state for a probe that health classified as state: an
 * answer whose latency alerts -c is CRITICAL whatever it said, one that
 * alerts -w is at least WARNING. */
enum health_state check_state(enum health_state state, const struct probe_result *r,
			      const struct check_thresholds *t);

/* Writes the plugin line for snap's last probe in state, and with
 * o->verbose the guidelines' "additional information" lines. */
void check_plugin_line(FILE *out, const struct settings *s,
		       const struct check_options *o,
		       const struct health_snapshot *snap, enum health_state state,
		       const struct check_thresholds *t);

#endif
