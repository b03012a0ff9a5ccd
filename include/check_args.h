#ifndef INCLUDE_CHECK_ARGS_H
#define INCLUDE_CHECK_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "settings.h"

/*
 * `check`'s own command line, apart from the probe: pure, so that the
 * flag and range rules are unit-tested with hand-built argv.
 */

/* The plugin's own options, which are not settings. */
struct check_options {
	int64_t warning_ms;        /* -w: 0 means degraded_latency */
	int64_t critical_ms;       /* -c: 0 means timeout */
	int verbose;               /* -v count */
	bool version;              /* -V */
};

/*
 * Takes the plugin flags out of argv[0..argc) (the words after "check"):
 * -w/--warning DUR and -c/--critical DUR into *o, -v into o->verbose, -V
 * into o->version, and -t DUR rewritten as --timeout=DUR for the settings
 * loader. The other words go on, in order, into a new NULL-terminated
 * array in *out_argv (*out_argc words; free it with check_cmd_args_free()).
 * Returns 0, or -EINVAL with *err (one line naming the flag; caller
 * frees).
 */
int check_cmd_args(int argc, char **argv, struct check_options *o,
		   int *out_argc, char ***out_argv, char **err);

/* Frees what check_cmd_args() made. Accepts NULL. */
void check_cmd_args_free(char **argv);

/*
 * Checks the thresholds against s: an explicit -w above an explicit -c is
 * a usage error (-EINVAL with *err, caller frees).
 */
int check_cmd_validate(const struct settings *s, const struct check_options *o,
		       char **err);

#endif
