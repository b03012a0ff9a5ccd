#include <errno.h>
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

static int
duration_flag(const char *flag, const char *value, int64_t *ms, char **err)
{
	if (!value) {
		*err = xasprintf("%s: missing value: use %s DURATION", flag, flag);
		return -EINVAL;
	}
	if (!settings_parse_duration(value, ms) || *ms <= 0) {
		char *shown = text_show(value, strlen(value), true, 32);
		*err = xasprintf("%s: invalid duration %s: use 250ms, 5s, 2m, 1h or"
				 " seconds", flag, shown);
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
		} else if (w[0] == '-' && w[1] == 'v' && strspn(w + 1, "v") == strlen(w + 1)) {
			o->verbose += (int)strlen(w + 1);
		} else if (strcmp(w, "--verbose") == 0) {
			o->verbose++;
		} else if (is_flag(w, 'w', "--warning", &len)) {
			if (duration_flag("--warning", flag_value(argc, argv, &i, len),
					  &o->warning_ms, err) < 0)
				goto fail;
		} else if (is_flag(w, 'c', "--critical", &len)) {
			if (duration_flag("--critical", flag_value(argc, argv, &i, len),
					  &o->critical_ms, err) < 0)
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
	if (o->warning_ms && o->critical_ms && o->warning_ms > o->critical_ms) {
		*err = xasprintf("--warning %lld ms is above --critical %lld ms: a"
				 " slower probe must not be less severe",
				 (long long)o->warning_ms, (long long)o->critical_ms);
		return -EINVAL;
	}
	return 0;
}
