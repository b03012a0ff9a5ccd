#ifndef INCLUDE_CHECK_CMD_H
#define INCLUDE_CHECK_CMD_H

#include "check_args.h"
#include "settings.h"

/*
 * `intercom-healthd check`: one probe, printed as a monitoring-plugin line
 * (or the /health JSON with --format json), following the Monitoring
 * Plugins guidelines: -t/--timeout, -w/--warning and -c/--critical
 * latency thresholds, -v (repeatable), -V/--version, and
 * `INTERCOM UNKNOWN - <reason>` on stdout with exit 3 for any usage error.
 */

/*
 * Probes once with s and o and prints the result. Returns the exit
 * status: 0 OK (healthy), 1 WARNING (degraded, or slower than -w),
 * 2 CRITICAL (unhealthy, or slower than -c), 3 UNKNOWN (could not probe
 * at all).
 */
int check_cmd_run(const struct settings *s, const struct check_options *o);

#endif
