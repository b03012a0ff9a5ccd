#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_args.h"
#include "mem.h"
#include "text.h"

/* A flag's value: the rest of the word ("-w3s", "--warning=3s") or the
 * next word. Returns NULL when there is none. */
static const char *
flag_value(int argc, char **argv, int *i, size_t name_len)
{
	const char *w = argv[*i];
	if (w[name_len] == '=')
		return w + name_len + 1;        /* --warning=3s, -w=3s */
	if (w[1] != '-' && w[2])
		return w + 2;                   /* -w3s */
	if (*i + 1 < argc) {
		(*i)++;
		return argv[*i];
	}
	return NULL;
}

/* One bound of a range: seconds (decimals allowed), or a number with
 * the unit ms, s, m or h. */
static bool
parse_bound(const char *text, size_t len, double *ms)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* strtod would take "nan", "inf", exponents and hex floats: a
	 * bound is plain decimal digits, which strtod must read whole. */
	size_t digits = strspn(buf, "0123456789.+-");
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (digits == 0 || end != buf + digits || errno != 0 || !isfinite(v))
		return false;
	static const struct { const char *unit; double ms; } units[] = {
		{ "", 1000.0 }, { "s", 1000.0 }, { "ms", 1.0 },
		{ "m", 60000.0 }, { "h", 3600000.0 },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*ms = v * units[i].ms;
			return isfinite(*ms);
		}
	}
	return false;
}

int
check_range_parse(const char *text, struct check_range *out)
{
	struct check_range r = { .set = true };
	const char *p = text;
	if (*p == '@') {
		r.inside = true;
		p++;
	}
	const char *colon = strchr(p, ':');
	if (!colon) {
		if (!parse_bound(p, strlen(p), &r.high_ms))
			return -EINVAL;
	} else {
		size_t low_len = (size_t)(colon - p);
		if (low_len == 1 && *p == '~')
			r.no_low = true;
		else if (low_len > 0 && !parse_bound(p, low_len, &r.low_ms))
			return -EINVAL;
		if (colon[1] == '\0' && low_len == 0)
			return -EINVAL;         /* ":" bounds nothing */
		if (colon[1] == '\0')
			r.no_high = true;
		else if (!parse_bound(colon + 1, strlen(colon + 1), &r.high_ms))
			return -EINVAL;
	}
	if (!r.no_low && !r.no_high && r.low_ms > r.high_ms)
		return -EINVAL;
	*out = r;
	return 0;
}

bool
check_range_alerts(const struct check_range *r, double ms)
{
	if (!r->set)
		return false;
	bool in = (r->no_low || ms >= r->low_ms) && (r->no_high || ms <= r->high_ms);
	return r->inside ? in : !in;
}

bool
check_range_is_upper(const struct check_range *r)
{
	return r->set && !r->inside && !r->no_low && !r->no_high && r->low_ms == 0;
}

void
check_range_format(const struct check_range *r, char *out, size_t size)
{
	char low[40] = "", high[40] = "";
	if (!r->set) {
		snprintf(out, size, "%s", "");
		return;
	}
	if (r->no_low)
		snprintf(low, sizeof(low), "~:");
	else if (r->low_ms != 0 || r->no_high || r->inside)
		snprintf(low, sizeof(low), "%g:", r->low_ms / 1000.0);
	if (!r->no_high)
		snprintf(high, sizeof(high), "%g", r->high_ms / 1000.0);
	snprintf(out, size, "%s%s%s", r->inside ? "@" : "", low, high);
}

static int
range_flag(const char *flag, const char *value, struct check_range *r, char **err)
{
	if (!value) {
		*err = xasprintf("%s: missing value: use %s RANGE (e.g. 3, 2:, ~:5,"
				 " @1:2, in seconds)", flag, flag);
		return -EINVAL;
	}
	if (check_range_parse(value, r) < 0) {
		char *shown = text_show(value, strlen(value), true, 32);
		*err = xasprintf("%s: invalid range %s: use seconds as 10, 10:, ~:10,"
				 " 10:20 or @10:20 (alert outside the range, with @"
				 " inside; decimals and 250ms allowed)", flag, shown);
		free(shown);
		return -EINVAL;
	}
	return 0;
}

/* Is w the short flag c alone or with a glued value, or the long one? */
static bool
is_flag(const char *w, char c, const char *long_name, size_t *name_len)
{
	size_t n = strlen(long_name);
	if (w[0] == '-' && w[1] == c) {
		*name_len = 2;
		return true;
	}
	if (strncmp(w, long_name, n) == 0 && (w[n] == '\0' || w[n] == '=')) {
		*name_len = n;
		return true;
	}
	return false;
}

int
check_cmd_args(int argc, char **argv, struct check_options *o, int *out_argc,
	       char ***out_argv, char **err)
{
	char **out = xcalloc((size_t)argc + 1, sizeof(*out));
	int n = 0;
	size_t len;

	memset(o, 0, sizeof(*o));
	*err = NULL;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "--") == 0) {
			/* Everything after stays as it is. */
			for (; i < argc; i++)
				out[n++] = xstrdup(argv[i]);
			break;
		}
		if (strcmp(w, "-V") == 0) {
			o->version = true;
		} else if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
			o->help = true;
		} else if (w[0] == '-' && w[1] == 'v' && strspn(w + 1, "v") == strlen(w + 1)) {
			o->verbose += (int)strlen(w + 1);
		} else if (strcmp(w, "--verbose") == 0) {
			o->verbose++;
		} else if (is_flag(w, 'w', "--warning", &len)) {
			if (range_flag("--warning", flag_value(argc, argv, &i, len),
				       &o->warning, err) < 0)
				goto fail;
		} else if (is_flag(w, 'c', "--critical", &len)) {
			if (range_flag("--critical", flag_value(argc, argv, &i, len),
				       &o->critical, err) < 0)
				goto fail;
		} else if (w[0] == '-' && w[1] == 't') {
			const char *v = flag_value(argc, argv, &i, 2);
			if (!v) {
				*err = xstrdup("-t: missing value: use -t DURATION");
				goto fail;
			}
			out[n++] = xasprintf("--timeout=%s", v);
		} else {
			out[n++] = xstrdup(w);
		}
	}
	*out_argc = n;
	*out_argv = out;
	return 0;
fail:
	check_cmd_args_free(out);
	return -EINVAL;
}

void
check_cmd_args_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int
check_cmd_validate(const struct settings *s, const struct check_options *o,
		   char **err)
{
	(void)s;
	const struct check_range *w = &o->warning, *c = &o->critical;
	if (check_range_is_upper(w) && check_range_is_upper(c) &&
	    w->high_ms > c->high_ms) {
		*err = xasprintf("--warning %.0f ms is above --critical %.0f ms: a"
				 " slower probe must not be less severe",
				 w->high_ms, c->high_ms);
		return -EINVAL;
	}
	return 0;
}

void
check_cmd_usage(FILE *out)
{
	fputs("Usage: intercom-healthd check [-w RANGE] [-c RANGE] [-t DURATION] [-v]"
	      " [SETTINGS]\n"
	      "Probes Intercom once (GET {api_url}{probe_path}) and prints one"
	      " monitoring-plugin line:\n"
	      "exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
	      "\n"
	      "  -w, --warning RANGE   latency that warns (default: degraded_latency)\n"
	      "  -c, --critical RANGE  latency that is critical (default: timeout)\n"
	      "  -t, --timeout DUR     the probe's timeout (the timeout setting)\n"
	      "  -v, --verbose         the request and its connection phases\n"
	      "  -V, --version         the version\n"
	      "  -h, --help            this help\n"
	      "      --format json     the /health object instead of the plugin line\n"
	      "\n"
	      "RANGE, in seconds (decimals allowed, or with a unit: 250ms):"
	      " 10 alerts above 10,\n"
	      "10: below 10, ~:10 above 10, 10:20 outside 10..20, @10:20 inside"
	      " 10..20.\n"
	      "SETTINGS are the daemon's (--api-url, --region, --ca-file, ...;"
	      " see intercom-healthd --help\n"
	      "and intercom-healthd(8)); the token comes from INTERCOM_ACCESS_TOKEN"
	      " or token_file.\n", out);
}
