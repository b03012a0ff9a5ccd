#ifndef INCLUDE_CHECK_CMD_H
#define INCLUDE_CHECK_CMD_H

#include "settings.h"

/*
 * `intercom-healthd check`: one probe, printed as a monitoring-plugin line
 * (or the /health JSON with --format json). Returns the exit status:
 * 0 OK (healthy), 1 WARNING (degraded), 2 CRITICAL (unhealthy),
 * 3 UNKNOWN (could not probe at all).
 */
int check_cmd_run(const struct settings *s);

#endif
