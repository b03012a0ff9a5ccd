#ifndef INCLUDE_CHECK_ARGS_H
#define INCLUDE_CHECK_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "settings.h"

/*
 * `check`'s own command line, apart from the probe: pure, so that the
 * flag and range rules are unit-tested with hand-built argv.
 */

/*
 * A Monitoring Plugins threshold range on the probe's latency, kept in
 * milliseconds: "10" (0..10 s), "10:" (10 s or more), "~:10" (up to
 * 10 s), "10:20", and "@10:20" (alert inside instead of outside).
 * Bounds are seconds with decimals, or a duration with its unit (250ms).
 */
struct check_range {
	bool set;
	bool inside;            /* '@': alert inside [low, high] */
	bool no_low;            /* "~:": no lower bound */
	bool no_high;           /* "10:": no upper bound */
	double low_ms, high_ms;
};

/* Parses text into *r. Returns 0, or -EINVAL (*r unchanged). */
int check_range_parse(const char *text, struct check_range *r);

/* Does ms alert under r? An unset range never alerts. */
bool check_range_alerts(const struct check_range *r, double ms);

/* Is r a plain upper bound ("10": alert above 10 s)? */
bool check_range_is_upper(const struct check_range *r);

/* r as performance data writes it, in seconds ("3", "10:", "~:10",
 * "@1:2.5"); "" when unset. */
void check_range_format(const struct check_range *r, char *out, size_t size);

/* The plugin's own options, which are not settings. */
struct check_options {
	struct check_range warning;     /* -w: unset means degraded_latency */
	struct check_range critical;    /* -c: unset means timeout */
	int verbose;                    /* -v count */
	bool version;                   /* -V */
	bool help;                      /* -h, --help */
};

/* check's own help: its flags, then where the settings are described. */
void check_cmd_usage(FILE *out);

/*
 * Takes the plugin flags out of argv[0..argc) (the words after "check"):
 * -w/--warning RANGE and -c/--critical RANGE into *o, -v into o->verbose,
 * -V into o->version, -h/--help into o->help, and -t DUR rewritten as --timeout=DUR for the settings
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
 * Checks the thresholds against s: an explicit -w above an explicit -c
 * (both plain upper bounds) is a usage error (-EINVAL with *err, caller frees).
 */
int check_cmd_validate(const struct settings *s, const struct check_options *o,
		       char **err);

#endif
