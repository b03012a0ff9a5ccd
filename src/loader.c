#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "file.h"
#include "loader.h"
#include "log.h"
#include "mem.h"
#include "secret.h"
#include "text.h"

/* Longest stray word or rejected value echoed back in an error; a longer
 * one may be a pasted token, and is described by its length instead. */
#define ECHO_ARGUMENT_MAX 32
/* One error line, whatever it quotes: errors go to a terminal or a log. */
#define ERROR_MAX 512
/* A config file is a few dozen short lines; anything bigger is the wrong
 * file, refused before it is read. */
#define CONFIG_MAX (64 * 1024)
#define CONFIG_LINE_MAX 4096

#define SCHEME_HINT "must start with http:// or https://"

enum level {
	LEVEL_DEFAULT,
	LEVEL_FILE,
	LEVEL_ENV,
	LEVEL_FLAG,
};

/* getopt_long()'s codes besides the spec's options: a non-option word (in
 * the "-" mode of getopt_long), and one per row of the table. */
enum {
	OPT_WORD = 1,
	OPT_SETTING = 0x200,    /* + the row's index */
};

void
loader_init(struct loader *ld, const struct loader_spec *spec, void *base,
	    char **envp, void *data)
{
	*ld = (struct loader){ .spec = spec, .base = base, .envp = envp, .data = data };
	ld->raw = xcalloc(spec->count, sizeof(*ld->raw));
}

void
loader_finish(struct loader *ld)
{
	for (size_t i = 0; ld->raw && i < ld->spec->count; i++) {
		free(ld->raw[i].value);
		free(ld->raw[i].source);
	}
	free(ld->raw);
	free(ld->config_flag);
	free(ld->config_file);
	free(ld->err);
	*ld = (struct loader){ 0 };
}

size_t
loader_row(const struct loader *ld, const char *key)
{
	for (size_t i = 0; i < ld->spec->count; i++) {
		if (strcmp(ld->spec->rows[i].key, key) == 0)
			return i;
	}
	abort();
}

bool
loader_given(const struct loader *ld, size_t id)
{
	return ld->raw[id].set;
}

/* Is code an option whose value is a boolean (given alone: true)? */
static bool
takes_bool(const struct option *opts, int code)
{
	for (const struct option *o = opts; o->name; o++) {
		if (o->val == code)
			return o->has_arg == optional_argument;
	}
	return false;
}

/* A rejected value or word, quoted. */
char *
loader_quote(const char *text)
{
	return text_show(text, strlen(text), true, ECHO_ARGUMENT_MAX);
}

/* An unknown key or flag, bare. */
char *
loader_show(const char *text)
{
	return text_show(text, strlen(text), false, ECHO_ARGUMENT_MAX);
}

/* A path: longer than a value may be, but still bounded. */
char *
loader_show_path(const char *text)
{
	return text_show(text, strlen(text), false, TEXT_SHOW_PATH_MAX);
}

/* Records the first error; returns -EINVAL for `return loader_fail(...)`. */
int
loader_fail(struct loader *ld, const char *fmt, ...)
{
	if (!ld->err) {
		va_list ap;
		va_start(ap, fmt);
		ld->err = xvasprintf(fmt, ap);
		va_end(ap);
		if (strlen(ld->err) > ERROR_MAX)
			strcpy(ld->err + ERROR_MAX - 3, "...");
	}
	return -EINVAL;
}

/* "15s", "250ms", "2m", "1.5s": the shortest exact spelling, for messages. */
void
loader_format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, size, "%" PRId64 "h", ms / 3600000);
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, size, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%" PRId64 "s", ms / 1000);
	else if (ms < 1000)
		snprintf(buf, size, "%" PRId64 "ms", ms);
	else {
		int n = snprintf(buf, size, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
		while (n > 0 && (size_t)n < size && buf[n - 1] == '0')
			buf[--n] = '\0';
		snprintf(buf + n, size - (size_t)n, "s");
	}
}

const char *
loader_env(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	}
	return NULL;
}

/* ---- parsing values --------------------------------------------------- */

bool
loader_parse_duration(const char *text, int64_t *ms)
{
	static const struct {
		const char *suffix;
		int64_t factor;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};

	if (!text || !isdigit((unsigned char)*text))
		return false;

	/* By hand rather than strtod(): no locale, no "inf", exponents,
	 * hex or leading blanks, and overflow is caught exactly. */
	const char *p = text;
	int64_t whole = 0;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > INT64_C(1000000000000000))
			return false;
	}
	int64_t frac = 0, frac_scale = 1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++) {
			/* Digits below a nanosecond of an hour change nothing. */
			if (frac_scale < INT64_C(1000000000)) {
				frac = frac * 10 + (*p - '0');
				frac_scale *= 10;
			}
		}
	}

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		int64_t factor = units[i].factor;
		if (whole > INT64_MAX / 4 / factor)
			return false;
		*ms = whole * factor + (frac * factor + frac_scale / 2) / frac_scale;
		return true;
	}
	return false;
}

bool
loader_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	if (!text)
		return false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Digits only; saturates far above any limit so the range check reports it. */
bool
loader_parse_count(const char *text, int64_t *out)
{
	if (!isdigit((unsigned char)*text))
		return false;
	int64_t v = 0;
	for (; isdigit((unsigned char)*text); text++) {
		if (v < INT64_C(1000000000000))
			v = v * 10 + (*text - '0');
	}
	if (*text)
		return false;
	*out = v;
	return true;
}

static bool
has_unsafe_url_byte(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return true;
	}
	return false;
}

/*
 * What is wrong with an http(s) URL, or NULL; curl's own parser decides,
 * so what passes here is what curl will connect to. The reason may be
 * written into buf.
 */
const char *
loader_url_problem(const char *url, char *buf, size_t size)
{
	/* Before curl, which says "bad hostname" for a space anywhere in the
	 * authority: the URL goes into a request line and the logs. */
	if (has_unsafe_url_byte(url))
		return "contains whitespace, a control character or a non-ASCII"
		       " byte (percent-encode it)";

	CURLU *u = curl_url();
	if (!u)
		abort();
	char *scheme = NULL, *host = NULL;
	const char *problem = NULL;
	/* No CURLU_DEFAULT_SCHEME: "api.intercom.io" is a mistake, not https.
	 * Any scheme parses, so a wrong one gets the message below. */
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);

	if (rc == CURLUE_OK) {
		size_t n = strlen(scheme);
		if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
			problem = SCHEME_HINT;
		/* curl reads "http:/x" and "https:///x" as host x; what was
		 * written has no "//" or an empty host, a typo either way. */
		else if (strncmp(url + n, "://", 3) != 0)
			problem = SCHEME_HINT;
		else if (url[n + 3] == '/' ||
			 curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
			problem = "has no host";
	} else if (strncasecmp(url, "http://", 7) != 0 &&
		   strncasecmp(url, "https://", 8) != 0) {
		/* The code for a missing or odd scheme differs between curl
		 * versions; the text says it plainly. */
		problem = SCHEME_HINT;
	} else if (rc == CURLUE_NO_HOST) {
		problem = "has no host";
	} else if (rc == CURLUE_BAD_PORT_NUMBER) {
		problem = "has a port outside 0-65535";
	} else {
#if LIBCURL_VERSION_NUM >= 0x075000
		snprintf(buf, size, "is not a valid URL (%s)", curl_url_strerror(rc));
		problem = buf;
#else
		(void)buf;
		(void)size;
		problem = "is not a valid URL";
#endif
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return problem;
}

/* ---- collecting raw values -------------------------------------------- */

static void
set_raw(struct loader *ld, size_t id, const char *value, int level,
	const char *source)
{
	struct loader_raw *r = &ld->raw[id];
	if (r->set && r->level > level)
		return;
	free(r->value);
	free(r->source);
	r->set = true;
	r->level = level;
	r->value = xstrdup(value);
	r->source = xstrdup(source);
}

static int
find_by_key(const struct loader *ld, const char *key)
{
	for (size_t i = 0; i < ld->spec->count; i++) {
		if (strcmp(ld->spec->rows[i].key, key) == 0)
			return (int)i;
	}
	return -1;
}

/* --config, the caller's options, then one per row; ends with a zero
 * entry. Caller frees. */
static struct option *
build_options(const struct loader *ld)
{
	const struct loader_spec *spec = ld->spec;
	struct option *opts = xcalloc(spec->option_count + spec->count + 2,
				      sizeof(*opts));
	size_t n = 0;
	opts[n++] = (struct option){ "config", required_argument, NULL,
				     LOADER_OPTION_CONFIG };
	for (size_t i = 0; i < spec->option_count; i++)
		opts[n++] = spec->options[i];
	for (size_t i = 0; i < ld->spec->count; i++) {
		const struct loader_row *d = &ld->spec->rows[i];
		opts[n++] = (struct option){
			/* A boolean takes its value only after '=': the next
			 * word is never read as one. */
			d->flag + 2, d->type == TYPE_BOOL ? optional_argument :
							    required_argument,
			NULL, OPT_SETTING + (int)i,
		};
	}
	opts[n] = (struct option){ 0 };
	return opts;
}

/*
 * Is arg (up to any '=') exactly a name of the option with this code?
 * getopt_long also takes unique abbreviations; they are refused, so that a
 * new setting never turns someone's abbreviation ambiguous.
 */
static bool
exact_option(const struct option *opts, const char *arg, int code)
{
	size_t len = strcspn(arg, "=");
	for (const struct option *o = opts; o->name; o++) {
		if (o->val == code && len == strlen(o->name) + 2 &&
		    strncmp(arg + 2, o->name, len - 2) == 0)
			return true;
	}
	return false;
}

static int
unknown_option(struct loader *ld, const char *arg)
{
	/* Never what follows '=': it may be a value that is a secret. */
	char *shown = text_show(arg, strcspn(arg, "="), false, ECHO_ARGUMENT_MAX);
	int rc = loader_fail(ld, "%s: unknown option (see --help)", shown);
	free(shown);
	return rc;
}

/* No command takes positional arguments. at counts from 1. */
static int
unexpected_word(struct loader *ld, const char *word, int at, const char *bare_boolean)
{
	size_t len = strlen(word);
	if (len > ECHO_ARGUMENT_MAX)
		return loader_fail(ld, "argument %d: unexpected argument of %zu characters"
			    " (see --help)", at, len);
	char *q = loader_quote(word);
	char *shown = loader_show(word);
	int rc;
	if (bare_boolean)
		rc = loader_fail(ld, "%s: unexpected argument (a boolean flag takes its"
			  " value only after '=': %s=%s)", q, bare_boolean, shown);
	else
		rc = loader_fail(ld, "%s: unexpected argument (see --help)", q);
	free(shown);
	free(q);
	return rc;
}

/* A setting's flag; value NULL when it is missing. */
static int
setting_option(struct loader *ld, size_t id, const char *value)
{
	const struct loader_row *d = &ld->spec->rows[id];
	if (!value && d->type == TYPE_BOOL)
		value = "true";
	if (!value)
		return loader_fail(ld, "%s: missing value (from flag %s): use %s=VALUE or %s VALUE",
			    d->key, d->flag, d->flag, d->flag);
	char *source = xasprintf("flag %s", d->flag);
	set_raw(ld, id, value, LEVEL_FLAG, source);
	free(source);
	return 0;
}

/*
 * One option getopt_long() recognised in arg, spelled out in full. value
 * is NULL when missing; from_next_word says it was the word after the flag
 * rather than after '='.
 */
static int
parse_option(struct loader *ld, int code, const char *arg, const char *value,
	     bool from_next_word)
{
	/* A next word that is itself an option means the value was forgotten. */
	if (from_next_word && value && strncmp(value, "--", 2) == 0)
		value = NULL;
	if (code >= OPT_SETTING)
		return setting_option(ld, (size_t)(code - OPT_SETTING), value);
	/* The name alone: what follows '=' may be a secret pasted there. */
	char *flag = xstrndup(arg, strcspn(arg, "="));
	int rc;
	if (code == LOADER_OPTION_CONFIG && !value) {
		rc = loader_fail(ld, "%s: missing value: use %s=VALUE or %s VALUE",
				 flag, flag, flag);
	} else if (code == LOADER_OPTION_CONFIG) {
		free(ld->config_flag);
		ld->config_flag = xstrdup(value);
		rc = 0;
	} else {
		rc = ld->spec->option(ld, code, flag, value);
	}
	free(flag);
	return rc;
}

/*
 * argv holds the arguments after the command word. getopt_long() runs in
 * its "-" mode: words come back in order (code 1), so an error names the
 * first bad argument, and a word after a bare boolean flag gets a hint.
 */
static int
parse_args(struct loader *ld, int argc, char **argv)
{
	/* getopt_long() skips argv[0], the program's name. */
	char **av = xmalloc(((size_t)(argc > 0 ? argc : 0) + 2) * sizeof(*av));
	int n = 0;
	av[n++] = (char *)"intercom-healthd";
	for (int i = 0; argv && i < argc && argv[i]; i++)
		av[n++] = argv[i];
	av[n] = NULL;

	struct option *opts = build_options(ld);
	/* The boolean flag just seen without '=', for the hint. */
	const char *bare_boolean = NULL;
	int rc = 0;

	/* Our one-line messages are the only output; 0 restarts the scan
	 * (a reload loads again in the same process). */
	opterr = 0;
	optind = 0;
	while (rc == 0) {
		int at = optind > 0 ? optind : 1;
		int code = getopt_long(n, av, "-:", opts, NULL);
		if (code == -1)
			break;
		const char *hint = bare_boolean;
		bare_boolean = NULL;
		if (code == OPT_WORD) {
			rc = unexpected_word(ld, optarg, at, hint);
		} else if (code == '?') {
			rc = unknown_option(ld, av[at]);
		} else if (code == ':') {
			/* getopt_long() names the option in optopt. */
			rc = exact_option(opts, av[at], optopt) ?
			     parse_option(ld, optopt, av[at], NULL, false) :
			     unknown_option(ld, av[at]);
		} else if (!exact_option(opts, av[at], code)) {
			rc = unknown_option(ld, av[at]);
		} else {
			rc = parse_option(ld, code, av[at], optarg, optind - at == 2);
			if (rc == 0 && !optarg && takes_bool(opts, code))
				bare_boolean = av[at];
		}
	}
	/* After "--", every word is an unexpected one. */
	if (rc == 0 && optind < n)
		rc = unexpected_word(ld, av[optind], optind, NULL);
	free(opts);
	free(av);
	return rc;
}

static void
read_env(struct loader *ld)
{
	for (size_t i = 0; i < ld->spec->count; i++) {
		const char *value = loader_env(ld->envp, ld->spec->rows[i].env);
		if (!value)
			continue;
		char *source = xasprintf("env %s", ld->spec->rows[i].env);
		set_raw(ld, i, value, LEVEL_ENV, source);
		free(source);
	}
}

static const char *
trim_left(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t
trim_right(const char *p, size_t len)
{
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	return len;
}

/* One `key = value` line; comments and blank lines are already skipped. */
static int
parse_config_line(struct loader *ld, const char *line, const char *where)
{
	const char *eq = strchr(line, '=');
	size_t key_len = eq ? trim_right(line, (size_t)(eq - line)) : 0;
	if (key_len == 0)
		return loader_fail(ld, "%s: expected \"key = value\"", where);

	char *key = xstrndup(line, key_len);
	/* The key as errors may show it: escaped, and not at all when it may
	 * be a pasted token. */
	char *shown = loader_show(key);
	char *value = NULL;
	int rc = 0;

	const char *v = trim_left(eq + 1);
	if (*v == '"') {
		/* No escapes: a value never needs a '"', and this stays simple. */
		const char *close = strchr(v + 1, '"');
		if (!close) {
			rc = loader_fail(ld, "%s: unterminated quote (from %s)", shown, where);
			goto out;
		}
		const char *after = trim_left(close + 1);
		if (*after != '\0' && *after != '#') {
			rc = loader_fail(ld, "%s: unexpected text after the closing quote (from %s)",
				  shown, where);
			goto out;
		}
		value = xstrndup(v + 1, (size_t)(close - v - 1));
	} else {
		/* A '#' after a blank starts a comment; one inside a word (a
		 * URL fragment) does not. v[-1] is on the line: '=' or a blank. */
		size_t len = 0;
		for (; v[len]; len++) {
			char before = len > 0 ? v[len - 1] : v[-1];
			if (v[len] == '#' && (before == ' ' || before == '\t'))
				break;
		}
		value = xstrndup(v, trim_right(v, len));
	}

	if (ld->spec->check_key && (rc = ld->spec->check_key(ld, key, where)) < 0)
		goto out;

	int id = find_by_key(ld, key);
	if (id < 0) {
		/* `degraded-ok` is the flag spelling creeping into the file. */
		char *snake = xstrdup(key);
		for (char *p = snake; *p; p++) {
			if (*p == '-')
				*p = '_';
		}
		int guess = find_by_key(ld, snake);
		free(snake);
		if (guess >= 0)
			rc = loader_fail(ld, "%s: unknown setting (from %s): did you mean %s?",
				  shown, where, ld->spec->rows[guess].key);
		else
			rc = loader_fail(ld, "%s: unknown setting (from %s)", shown, where);
		goto out;
	}
	set_raw(ld, (size_t)id, value, LEVEL_FILE, where);

out:
	free(shown);
	free(key);
	free(value);
	return rc;
}

static int
read_config(struct loader *ld)
{
	const char *path = ld->config_flag;
	char source[128] = "flag --config";
	if (!path) {
		path = loader_env(ld->envp, ld->spec->config_env);
		snprintf(source, sizeof(source), "env %s", ld->spec->config_env);
	}
	if (!path || !*path)
		return 0;
	ld->config_file = xstrdup(path);

	char *shown = loader_show_path(path);
	char *text = NULL;
	size_t size = 0;
	int rc = file_read_regular(path, CONFIG_MAX, &text, &size);
	if (rc < 0) {
		char why[64];
		rc = loader_fail(ld, "config: cannot read %s (from %s): %s", shown, source,
			  file_problem(rc, CONFIG_MAX, why, sizeof(why)));
		goto out;
	}
	if (memchr(text, '\0', size)) {
		rc = loader_fail(ld, "config: %s (from %s) is not a text file (it contains a NUL byte)",
			  shown, source);
		goto out;
	}

	/* Some editors start a UTF-8 file with a byte order mark. */
	char *start = text;
	if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	unsigned lineno = 0;
	for (char *line = start; line < text + size;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *next = nl ? nl + 1 : line + len;
		lineno++;
		if (len > CONFIG_LINE_MAX) {
			rc = loader_fail(ld, "config: %s:%u (from %s): line longer than %d characters",
				  shown, lineno, source, CONFIG_LINE_MAX);
			break;
		}
		len = secret_trim(line, len);
		line[len] = '\0';
		const char *p = trim_left(line);
		if (*p != '\0' && *p != '#') {
			char *where = xasprintf("%s:%u", shown, lineno);
			rc = parse_config_line(ld, p, where);
			free(where);
			if (rc < 0)
				break;
		}
		line = next;
	}

out:
	if (text) {
		/* A token pasted into the wrong file must not linger. */
		mem_wipe(text, size);
		free(text);
	}
	free(shown);
	return rc;
}

/* ---- the table pass --------------------------------------------------- */

const char *
loader_value(const struct loader *ld, size_t id, const char **source)
{
	const struct loader_raw *r = &ld->raw[id];
	const char *v = r->set ? r->value : ld->spec->rows[id].def;
	*source = r->set ? r->source : "default";
	if (v && *v == '\0' && (ld->spec->rows[id].flags & F_OPTIONAL))
		return NULL;
	return v;
}

/* Does the row keep a string (freed by loader_free_fields())? */
static bool
holds_string(enum loader_type type)
{
	return type == TYPE_NAME || type == TYPE_TEXT || type == TYPE_URL ||
	       type == TYPE_STRING || type == TYPE_SECRET_FILE;
}

/* The choices joined, "a, b or c" or "a|b|c", aliases left out. */
static const char *
join_choices(const struct loader_row *d, const char *sep, const char *last,
	     char *buf, size_t size)
{
	size_t count = 0, len = 0;
	for (const struct loader_choice *c = d->choices; c->name; c++)
		count += !c->alias;
	buf[0] = '\0';
	for (const struct loader_choice *c = d->choices; c->name && len < size; c++) {
		if (c->alias)
			continue;
		const char *before = len == 0 ? "" : --count == 1 ? last : sep;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", before, c->name);
	}
	return buf;
}

static int
parse_duration_row(struct loader *ld, const struct loader_row *d, const char *v,
		   const char *src, int64_t *out)
{
	int64_t ms;
	if (!loader_parse_duration(v, &ms)) {
		char *q = loader_quote(v);
		int rc = loader_fail(ld, "%s: invalid duration %s (from %s): " LOADER_DURATION_HINT,
			      d->key, q, src);
		free(q);
		return rc;
	}
	char text[32], limit[32];
	loader_format_duration(ms, text, sizeof(text));
	if (ms == 0)
		return loader_fail(ld, "%s: %s (from %s) must be greater than 0", d->key, text, src);
	if (ms < d->min) {
		loader_format_duration(d->min, limit, sizeof(limit));
		return loader_fail(ld, "%s: %s (from %s) must be at least %s", d->key, text, src, limit);
	}
	if (ms > d->max) {
		loader_format_duration(d->max, limit, sizeof(limit));
		return loader_fail(ld, "%s: %s (from %s) must be at most %s", d->key, text, src, limit);
	}
	*out = ms;
	return 0;
}

static int
parse_int_row(struct loader *ld, const struct loader_row *d, const char *v,
	      const char *src, int *out)
{
	bool percent = d->type == TYPE_PERCENT;
	char *digits = xstrdup(v);
	size_t len = strlen(digits);
	if (percent && len > 1 && digits[len - 1] == '%')
		digits[len - 1] = '\0';
	int64_t n;
	int rc = 0;
	if (!loader_parse_count(digits, &n)) {
		char *q = loader_quote(v);
		rc = loader_fail(ld, "%s: invalid number %s (from %s): use a whole %s %" PRId64
			  "-%" PRId64, d->key, q, src, percent ? "percent" : "number",
			  d->min, d->max);
		free(q);
	} else if (n < d->min || n > d->max) {
		rc = loader_fail(ld, "%s: %s (from %s) must be between %" PRId64 " and %" PRId64,
			  d->key, digits, src, d->min, d->max);
	} else {
		*out = (int)n;
	}
	free(digits);
	return rc;
}

static int
parse_bool_row(struct loader *ld, const struct loader_row *d, const char *v,
	       const char *src, bool *out)
{
	if (loader_parse_bool(v, out))
		return 0;
	char *q = loader_quote(v);
	int rc = loader_fail(ld, "%s: invalid boolean %s (from %s): " LOADER_BOOL_HINT, d->key, q, src);
	free(q);
	return rc;
}

/* Case-insensitive; TYPE_NAME keeps the choice's own spelling. */
static int
parse_choice_row(struct loader *ld, const struct loader_row *d, const char *v,
		 const char *src, void *field)
{
	for (const struct loader_choice *c = d->choices; c->name; c++) {
		if (strcasecmp(v, c->name) != 0)
			continue;
		if (d->type == TYPE_NAME)
			*(char **)field = xstrdup(c->name);
		else
			memcpy(field, &c->value, sizeof(int));
		return 0;
	}
	char hint[256];
	char *q = loader_quote(v);
	int rc = loader_fail(ld, "%s: invalid value %s (from %s): use %s", d->key, q, src,
		      join_choices(d, ", ", " or ", hint, sizeof(hint)));
	free(q);
	return rc;
}

/* Does every item (every comma-separated one, with F_LIST) start with '/'? */
static bool
is_url_path(const struct loader_row *d, const char *v)
{
	if (!(d->flags & F_LIST))
		return v[0] == '/';
	for (const char *item = v;; item++) {
		if (*item != '/')
			return false;
		item = strchr(item, ',');
		if (!item)
			return true;
	}
}

/* A port of a CONNECT_TO entry: empty (any) or 1-65535. */
static bool
is_port_or_empty(const char *p, size_t len)
{
	if (len == 0)
		return true;
	if (len > 5 || strspn(p, "0123456789") < len)
		return false;
	long v = strtol(p, NULL, 10);
	return v >= 1 && v <= 65535;
}

/* One HOST:PORT:CONNECT-HOST:CONNECT-PORT entry, as curl reads it: any
 * part but the colons may be empty (any host or port; no change), and
 * CONNECT-HOST may be a [v6] address. */
static bool
is_connect_to_entry(const char *e, size_t len)
{
	const char *end = e + len;
	const char *c1 = memchr(e, ':', len);
	if (!c1)
		return false;
	const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (!c2 || !is_port_or_empty(c1 + 1, (size_t)(c2 - c1 - 1)))
		return false;
	const char *host = c2 + 1, *c3;
	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (!close || close + 1 >= end || close[1] != ':')
			return false;
		c3 = close + 1;
	} else {
		c3 = memchr(host, ':', (size_t)(end - host));
		if (!c3)
			return false;
	}
	return is_port_or_empty(c3 + 1, (size_t)(end - c3 - 1));
}

/* Is every comma-separated item a CONNECT_TO entry? */
static bool
is_connect_to(const char *v)
{
	for (const char *item = v;;) {
		size_t len = strcspn(item, ",");
		if (!is_connect_to_entry(item, len))
			return false;
		if (!item[len])
			return true;
		item += len + 1;
	}
}

/* A header value or a URL path goes out as it is: visible ASCII only. */
static int
parse_text_row(struct loader *ld, const struct loader_row *d, const char *v,
	       const char *src, char **out)
{
	size_t at = 0;
	int rc = 0;
	char *q = loader_quote(v);
	if (secret_problem(v, strlen(v), &at))
		rc = loader_fail(ld, "%s: invalid value %s (from %s): use visible ASCII without"
			  " spaces%s%s", d->key, q, src, d->def ? ", e.g. " : "",
			  d->def ? d->def : "");
	else if ((d->flags & F_URL_PATH) && !is_url_path(d, v))
		rc = loader_fail(ld, "%s: %s (from %s)%s must start with '/'", d->key, q, src,
			  (d->flags & F_LIST) ? ": each comma-separated path" : "");
	else if ((d->flags & F_CONNECT_TO) && !is_connect_to(v))
		rc = loader_fail(ld, "%s: invalid value %s (from %s): use comma-separated"
			  " HOST:PORT:CONNECT-HOST:CONNECT-PORT entries, e.g."
			  " api.intercom.io:443:10.0.0.5:443", d->key, q, src);
	else
		*out = xstrdup(v);
	free(q);
	return rc;
}

static int
parse_url_row(struct loader *ld, const struct loader_row *d, const char *v,
	      const char *src, char **out)
{
	char why[128];
	const char *problem = loader_url_problem(v, why, sizeof(why));
	int rc = 0;
	char *q = loader_quote(v);
	if (problem)
		rc = loader_fail(ld, "%s: invalid URL %s (from %s): %s", d->key, q, src, problem);
	else if ((d->flags & F_HTTPS_ONLY) && strncasecmp(v, "https://", 8) != 0)
		rc = loader_fail(ld, "%s: %s (from %s) must start with https://: the bearer"
			  " token never goes out in clear text", d->key, q, src);
	free(q);
	if (rc < 0)
		return rc;

	char *url = xstrdup(v);
	size_t len = strlen(url);
	while ((d->flags & F_BASE_URL) && len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	*out = url;
	return 0;
}

/* Parses row id's winning text into its field. */
static int
resolve_row(struct loader *ld, size_t id)
{
	const struct loader_row *d = &ld->spec->rows[id];
	void *field = (char *)ld->base + d->offset;
	const char *src;
	const char *v = loader_value(ld, id, &src);

	/* Unset: optional, or a default that a named check computes. */
	if (!v || ((d->flags & F_OFF) && strcasecmp(v, "off") == 0))
		return 0;
	if (!*v)
		return loader_fail(ld, "%s: empty value (from %s)", d->key, src);

	switch (d->type) {
	case TYPE_DURATION:
		return parse_duration_row(ld, d, v, src, field);
	case TYPE_INT:
	case TYPE_PERCENT:
		return parse_int_row(ld, d, v, src, field);
	case TYPE_BOOL:
		return parse_bool_row(ld, d, v, src, field);
	case TYPE_CHOICE:
	case TYPE_NAME:
		return parse_choice_row(ld, d, v, src, field);
	case TYPE_TEXT:
		return parse_text_row(ld, d, v, src, field);
	case TYPE_URL:
		return parse_url_row(ld, d, v, src, field);
	case TYPE_STRING:
		*(char **)field = xstrdup(v);
		return 0;
	case TYPE_SECRET_FILE:
		/* Read, and its path kept, by the secret's own function. */
		return 0;
	}
	return 0;
}

/* A row's value as the log shows it (in buf, or a constant). */
const char *
loader_format(const struct loader_row *d, const void *base, char *buf,
	      size_t size)
{
	const void *field = (const char *)base + d->offset;
	const char *text;
	int n;

	switch (d->type) {
	case TYPE_DURATION:
		loader_format_duration(*(const int64_t *)field, buf, size);
		return buf;
	case TYPE_INT:
	case TYPE_PERCENT:
		snprintf(buf, size, "%d%s", *(const int *)field,
			 d->type == TYPE_PERCENT ? "%" : "");
		return buf;
	case TYPE_BOOL:
		return *(const bool *)field ? "true" : "false";
	case TYPE_CHOICE:
		memcpy(&n, field, sizeof(n));
		for (const struct loader_choice *c = d->choices; c->name; c++) {
			if (c->value == n && !c->alias)
				return c->name;
		}
		return "-";
	case TYPE_URL:
		text = *(char *const *)field;
		if (!text)
			return (d->flags & F_OFF) ? "off" : "unset";
		return text_url_masked(text, buf, size);
	case TYPE_NAME:
	case TYPE_TEXT:
	case TYPE_STRING:
	case TYPE_SECRET_FILE:
		text = *(char *const *)field;
		return text ? text : "unset";
	}
	return "-";
}

#define USAGE_WIDTH 80
#define USAGE_HELP_COLUMN 29

void
loader_usage_entry(FILE *out, const char *left, const char *help)
{
	int col = fprintf(out, "  %s", left);
	col += fprintf(out, "%*s", col < USAGE_HELP_COLUMN - 1 ? USAGE_HELP_COLUMN - col : 2,
		       "");
	for (const char *p = help; *p;) {
		int len = (int)strcspn(p, " ");
		if (p != help && col + 1 + len > USAGE_WIDTH)
			col = fprintf(out, "\n%*s", USAGE_HELP_COLUMN, "") - 1;
		else if (p != help)
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", len, p);
		p += len;
		p += strspn(p, " ");
	}
	fputc('\n', out);
}

/* What --help shows after the flag: " DURATION", " us|eu|au", "[=BOOL]". */
static const char *
placeholder(const struct loader_row *d, char *buf, size_t size)
{
	char choices[256];
	const char *arg = d->arg;
	if (!arg) {
		switch (d->type) {
		case TYPE_DURATION:
			arg = "DURATION";
			break;
		case TYPE_INT:
			arg = "N";
			break;
		case TYPE_PERCENT:
			arg = "PERCENT";
			break;
		case TYPE_BOOL:
			return "[=BOOL]";
		case TYPE_CHOICE:
		case TYPE_NAME:
			arg = join_choices(d, "|", "|", choices, sizeof(choices));
			break;
		case TYPE_URL:
			arg = (d->flags & F_OFF) ? "URL|off" : "URL";
			break;
		default:
			arg = "VALUE";
			break;
		}
	}
	snprintf(buf, size, " %s", arg);
	return buf;
}

void
loader_usage(FILE *out, const struct loader_spec *spec)
{
	char left[128], arg[128], help[512], config[128];

	snprintf(config, sizeof(config), "config file of `key = value` lines (or env %s)",
		 spec->config_env);
	loader_usage_entry(out, "--config FILE", config);
	for (size_t i = 0; i < spec->count; i++) {
		const struct loader_row *d = &spec->rows[i];
		snprintf(left, sizeof(left), "%s%s", d->flag, placeholder(d, arg, sizeof(arg)));
		int n = snprintf(help, sizeof(help), "%s", d->help);
		if (d->type == TYPE_INT || d->type == TYPE_PERCENT)
			n += snprintf(help + n, sizeof(help) - (size_t)n,
				      " (%" PRId64 "-%" PRId64 ")", d->min, d->max);
		if (d->def || d->computed)
			snprintf(help + n, sizeof(help) - (size_t)n, " [%s]",
				 d->def ? d->def : d->computed);
		loader_usage_entry(out, left, help);
	}
}

int
loader_read(struct loader *ld, int argc, char **argv)
{
	int rc = parse_args(ld, argc, argv);
	if (rc < 0)
		return rc;
	read_env(ld);
	return read_config(ld);
}

int
loader_resolve(struct loader *ld)
{
	int rc;
	for (size_t i = 0; i < ld->spec->count; i++) {
		if ((rc = resolve_row(ld, i)) < 0)
			return rc;
	}
	return 0;
}

void
loader_free_fields(const struct loader_spec *spec, void *base)
{
	for (size_t i = 0; i < spec->count; i++) {
		if (holds_string(spec->rows[i].type))
			free(*(char **)((char *)base + spec->rows[i].offset));
	}
}

bool
loader_same(const struct loader_row *d, const void *a, const void *b)
{
	const char *fa = (const char *)a + d->offset;
	const char *fb = (const char *)b + d->offset;
	if (holds_string(d->type)) {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
	}
	switch (d->type) {
	case TYPE_DURATION:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	case TYPE_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	default:
		return memcmp(fa, fb, sizeof(int)) == 0;
	}
}

void
loader_copy(const struct loader_row *d, void *to, const void *from)
{
	char *ft = (char *)to + d->offset;
	const char *ff = (const char *)from + d->offset;
	if (holds_string(d->type)) {
		free(*(char **)ft);
		const char *text = *(char *const *)ff;
		*(char **)ft = text ? xstrdup(text) : NULL;
		return;
	}
	memcpy(ft, ff, d->type == TYPE_DURATION ? sizeof(int64_t) :
		       d->type == TYPE_BOOL ? sizeof(bool) : sizeof(int));
}

void
loader_log_rows(const struct loader_spec *spec, const void *base)
{
	char value[1024];
	for (size_t i = 0; i < spec->count; i++) {
		const struct loader_row *d = &spec->rows[i];
		log_debug("%s: %s", d->key, loader_format(d, base, value, sizeof(value)));
	}
}
