#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "file.h"
#include "log.h"
#include "secret.h"
#include "settings.h"

/*
 * How settings_load() works: every source (argv, then the environment, then
 * the config file) drops its raw text into one slot per setting, tagged with
 * its level and a printable source ("flag --interval", "/etc/x.conf:12").
 * A slot only accepts text from its own level or a higher one, so the order
 * the sources are read in does not matter, and within one source the last
 * spelling wins. Only then is each winning text parsed and checked, so a
 * bad value that a higher level overrides is never reported, and every
 * message can name the source of the value it complains about.
 */

/* A secret goes into one HTTP header: 8 KiB is far beyond any real token
 * and keeps a wrong path (a log file, /dev/zero) from being slurped. */
#define SECRET_MAX 8192
/* Other modules hand durations to poll(), curl and libmicrohttpd as int
 * milliseconds; a week keeps stale_after (at most 3 * interval) below
 * INT_MAX, and no health check wants a longer period anyway. */
#define DURATION_MAX_MS (168 * 3600 * INT64_C(1000))
#define DURATION_MAX_TEXT "168h"
#define THRESHOLD_MAX 1000
/* Longest stray word or rejected value echoed back in an error; a longer
 * one may be a pasted token, and is described by its length instead. */
#define ECHO_ARGUMENT_MAX 32
/* Paths are shown in errors (they are not secrets) up to this length. */
#define ECHO_PATH_MAX 256
/* One error line, whatever it quotes: errors go to a terminal or a log. */
#define ERROR_MAX 512
/* A config file is a few dozen short lines; anything bigger is the wrong
 * file, refused before it is read. */
#define CONFIG_MAX (64 * 1024)
#define CONFIG_LINE_MAX 4096
/* The system CA bundle is about 200 KiB; a private one is smaller. */
#define CA_FILE_MAX (8 * 1024 * 1024)
/* Every Intercom access token starts with this (base64 of "tok:"). */
#define TOKEN_PREFIX "dG9rO"
#define HTTP_THREADS_MAX 64
#define MAX_CONNECTIONS_MAX 1000000

#define CREDENTIAL_NAME "intercom-access-token"
#define ENV_TOKEN "INTERCOM_ACCESS_TOKEN"
#define ENV_WEBHOOK_SECRET "INTERCOM_WEBHOOK_SECRET"
#define ENV_CONFIG "INTERCOM_HEALTHD_CONFIG"

#define DURATION_HINT "use 250ms, 5s, 2m, 1h or seconds"
#define BOOL_HINT "use true/false, yes/no, on/off or 1/0"
#define TOKEN_ARGV_ERROR \
	"the token is never accepted on the command line (argv is world-readable); " \
	"use INTERCOM_ACCESS_TOKEN or --token-file"
#define NO_TOKEN_ERROR \
	"no access token: set INTERCOM_ACCESS_TOKEN, token_file, or the systemd " \
	"credential " CREDENTIAL_NAME

enum level {
	LEVEL_DEFAULT,
	LEVEL_FILE,
	LEVEL_ENV,
	LEVEL_FLAG,
};

enum setting_id {
	SETTING_TOKEN_FILE,
	SETTING_API_URL,
	SETTING_REGION,
	SETTING_API_VERSION,
	SETTING_PROBE_PATH,
	SETTING_CA_FILE,
	SETTING_LISTEN,
	SETTING_INTERVAL,
	SETTING_TIMEOUT,
	SETTING_DEGRADED_LATENCY,
	SETTING_RATE_LIMIT_LOW,
	SETTING_FAILURE_THRESHOLD,
	SETTING_SUCCESS_THRESHOLD,
	SETTING_STALE_AFTER,
	SETTING_STATUS_INTERVAL,
	SETTING_DEGRADED_OK,
	SETTING_STATUS_URL,
	SETTING_WEBHOOK_URL,
	SETTING_WEBHOOK_SECRET_FILE,
	SETTING_LOG_FORMAT,
	SETTING_LOG_LEVEL,
	SETTING_HTTP_THREADS,
	SETTING_MAX_CONNECTIONS,
	SETTING_CONNECTION_TIMEOUT,
	SETTING_COUNT,
};

struct setting_def {
	const char *key;
	const char *flag;
	const char *env;
	/* The default as text, parsed like any other value; NULL when the
	 * setting is unset by default or its default is computed. */
	const char *def;
	/* A flag alone means true. */
	bool boolean;
	/* An empty value means "unset" (so `ca_file =` is valid), rather
	 * than being an error. */
	bool optional;
};

/* The three spellings are written out rather than derived, so grep finds them. */
static const struct setting_def settings_table[SETTING_COUNT] = {
	[SETTING_TOKEN_FILE] = { "token_file", "--token-file",
		"INTERCOM_HEALTHD_TOKEN_FILE", NULL, .optional = true },
	[SETTING_API_URL] = { "api_url", "--api-url",
		"INTERCOM_HEALTHD_API_URL", "https://api.intercom.io" },
	[SETTING_REGION] = { "region", "--region",
		"INTERCOM_HEALTHD_REGION", "us" },
	[SETTING_API_VERSION] = { "api_version", "--api-version",
		"INTERCOM_HEALTHD_API_VERSION", "2.14" },
	[SETTING_PROBE_PATH] = { "probe_path", "--probe-path",
		"INTERCOM_HEALTHD_PROBE_PATH", "/me" },
	[SETTING_CA_FILE] = { "ca_file", "--ca-file",
		"INTERCOM_HEALTHD_CA_FILE", NULL, .optional = true },
	[SETTING_LISTEN] = { "listen", "--listen",
		"INTERCOM_HEALTHD_LISTEN", "127.0.0.1:9180" },
	[SETTING_INTERVAL] = { "interval", "--interval",
		"INTERCOM_HEALTHD_INTERVAL", "15s" },
	[SETTING_TIMEOUT] = { "timeout", "--timeout",
		"INTERCOM_HEALTHD_TIMEOUT", "5s" },
	[SETTING_DEGRADED_LATENCY] = { "degraded_latency", "--degraded-latency",
		"INTERCOM_HEALTHD_DEGRADED_LATENCY", "3s" },
	[SETTING_RATE_LIMIT_LOW] = { "rate_limit_low", "--rate-limit-low",
		"INTERCOM_HEALTHD_RATE_LIMIT_LOW", "10" },
	[SETTING_FAILURE_THRESHOLD] = { "failure_threshold", "--failure-threshold",
		"INTERCOM_HEALTHD_FAILURE_THRESHOLD", "1" },
	[SETTING_SUCCESS_THRESHOLD] = { "success_threshold", "--success-threshold",
		"INTERCOM_HEALTHD_SUCCESS_THRESHOLD", "1" },
	[SETTING_STALE_AFTER] = { "stale_after", "--stale-after",
		"INTERCOM_HEALTHD_STALE_AFTER", NULL },
	[SETTING_STATUS_INTERVAL] = { "status_interval", "--status-interval",
		"INTERCOM_HEALTHD_STATUS_INTERVAL", "60s" },
	[SETTING_DEGRADED_OK] = { "degraded_ok", "--degraded-ok",
		"INTERCOM_HEALTHD_DEGRADED_OK", "false", .boolean = true },
	[SETTING_STATUS_URL] = { "status_url", "--status-url",
		"INTERCOM_HEALTHD_STATUS_URL",
		"https://www.intercomstatus.com/api/v2/status.json" },
	[SETTING_WEBHOOK_URL] = { "webhook_url", "--webhook-url",
		"INTERCOM_HEALTHD_WEBHOOK_URL", NULL, .optional = true },
	[SETTING_WEBHOOK_SECRET_FILE] = { "webhook_secret_file", "--webhook-secret-file",
		"INTERCOM_HEALTHD_WEBHOOK_SECRET_FILE", NULL, .optional = true },
	[SETTING_LOG_FORMAT] = { "log_format", "--log-format",
		"INTERCOM_HEALTHD_LOG_FORMAT", "text" },
	[SETTING_LOG_LEVEL] = { "log_level", "--log-level",
		"INTERCOM_HEALTHD_LOG_LEVEL", "info" },
	[SETTING_HTTP_THREADS] = { "http_threads", "--http-threads",
		"INTERCOM_HEALTHD_HTTP_THREADS", "1" },
	[SETTING_MAX_CONNECTIONS] = { "max_connections", "--max-connections",
		"INTERCOM_HEALTHD_MAX_CONNECTIONS", "4096" },
	[SETTING_CONNECTION_TIMEOUT] = { "connection_timeout", "--connection-timeout",
		"INTERCOM_HEALTHD_CONNECTION_TIMEOUT", "10s" },
};

static const struct {
	const char *name;
	const char *url;
} regions[] = {
	{ "us", "https://api.intercom.io" },
	{ "eu", "https://api.eu.intercom.io" },
	{ "au", "https://api.au.intercom.io" },
};

/* The raw text a source gave one setting. */
struct raw {
	bool set;
	enum level level;
	char *value;
	char *source;
};

struct loader {
	struct settings *s;
	enum command cmd;
	char **envp;
	struct raw raw[SETTING_COUNT];
	char *config_flag;      /* --config, if given */
	char *err;              /* the first error */
};

/* Out of memory while reading a few hundred bytes of settings at startup
 * is not something to recover from; libinput's safe_strdup() does the same. */
static void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		abort();
	return p;
}

static char *
xstrndup(const char *text, size_t len)
{
	char *p = xmalloc(len + 1);
	memcpy(p, text, len);
	p[len] = '\0';
	return p;
}

static char *
xstrdup(const char *text)
{
	return xstrndup(text, strlen(text));
}

__attribute__((format(printf, 1, 0)))
static char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		abort();
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

__attribute__((format(printf, 1, 2)))
static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

/*
 * Copies text for an error message, keeping the message on one line:
 * control and non-ASCII bytes become \xNN, and with quotes, '"' and '\'
 * are escaped. Text longer than max, or shaped like an access token, is
 * not copied at all but described ("a value of 60 characters"): an error
 * must never echo a pasted token, whole or in part. Caller frees.
 */
static char *
escape(const char *text, size_t len, bool quotes, size_t max)
{
	if (len > max || (len >= 5 && strncmp(text, TOKEN_PREFIX, 5) == 0))
		return xasprintf("(a value of %zu characters, not shown)", len);
	char *out = xmalloc(len * 4 + 8);
	char *o = out;
	if (quotes)
		*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c >= 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			if (quotes && (c == '"' || c == '\\'))
				*o++ = '\\';
			*o++ = (char)c;
		}
	}
	if (quotes)
		*o++ = '"';
	*o = '\0';
	return out;
}

/* A rejected value or word, quoted. */
static char *
quote(const char *text)
{
	return escape(text, strlen(text), true, ECHO_ARGUMENT_MAX);
}

/* An unknown key or flag, bare. */
static char *
show(const char *text)
{
	return escape(text, strlen(text), false, ECHO_ARGUMENT_MAX);
}

/* A path: longer than a value may be, but still bounded. */
static char *
show_path(const char *text)
{
	return escape(text, strlen(text), false, ECHO_PATH_MAX);
}

/* Records the first error; returns -EINVAL for `return fail(...)`. */
__attribute__((format(printf, 2, 3)))
static int
fail(struct loader *ld, const char *fmt, ...)
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
static void
format_duration(int64_t ms, char *buf, size_t size)
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

static const char *
env_lookup(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	}
	return NULL;
}

static const char *
command_name(enum command cmd)
{
	switch (cmd) {
	case COMMAND_SERVE:
		return "serve";
	case COMMAND_CHECK:
		return "check";
	case COMMAND_PREFLIGHT:
		return "preflight";
	}
	return "this command";
}

/* ---- secrets ---------------------------------------------------------- */

/*
 * What is wrong with a secret of len bytes (trailing CR/LF already
 * removed), or NULL. *at is the 1-based offending byte: a position, never
 * the content. Spaces, control bytes and DEL would let a secret split or
 * extend the HTTP header it goes into; non-ASCII bytes are never part of an
 * Intercom token and are most often a UTF-8 BOM from an editor.
 */
static const char *
secret_problem(const char *buf, size_t len, size_t *at)
{
	if (len == 0)
		return "empty";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		*at = i + 1;
		if (c < 0x21 || c == 0x7f)
			return "contains whitespace or a control character";
		if (c >= 0x80)
			return "contains a non-ASCII byte";
	}
	return NULL;
}

static size_t
strip_newlines(const char *buf, size_t len)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	return len;
}

int
settings_read_secret_file(const char *path, char **out, char **err)
{
	char *buf = NULL;
	size_t len = 0;
	char *shown = show_path(path);
	char *msg = NULL;

	int rc = file_read_regular(path, SECRET_MAX, &buf, &len);
	if (rc < 0) {
		char why[64];
		if (rc == -EINVAL || rc == -EFBIG)
			msg = xasprintf("%s is %s", shown,
					file_problem(rc, SECRET_MAX, why, sizeof(why)));
		else
			msg = xasprintf("cannot read %s: %s", shown, strerror(-rc));
		goto out;
	}

	size_t kept = strip_newlines(buf, len);
	size_t at = 0;
	const char *problem = secret_problem(buf, kept, &at);
	if (problem) {
		rc = -EINVAL;
		if (kept == 0)
			msg = xasprintf("%s is empty", shown);
		else
			msg = xasprintf("%s %s at byte %zu (only a trailing newline is ignored)",
					shown, problem, at);
		goto out;
	}
	*out = xstrndup(buf, kept);

out:
	if (buf) {
		secret_wipe(buf, len);
		free(buf);
	}
	free(shown);
	if (rc < 0 && err)
		*err = msg;
	else
		free(msg);
	return rc;
}

/*
 * Takes a secret from the environment, validated like a file's content
 * (a trailing newline from `$(cat file)` or a Kubernetes secret is
 * dropped). Errors name the variable, never the value.
 */
static int
secret_from_env(struct loader *ld, const char *setting, const char *name,
		const char *value, char **out)
{
	size_t len = strip_newlines(value, strlen(value));
	size_t at = 0;
	const char *problem = secret_problem(value, len, &at);
	if (problem && len == 0)
		return fail(ld, "%s: empty (from env %s)", setting, name);
	if (problem)
		return fail(ld, "%s: %s at byte %zu (from env %s)", setting, problem, at, name);
	*out = xstrndup(value, len);
	return 0;
}

/*
 * Redacts the secret (see secret_redact()) from the heap string *text. The
 * loader never formats a secret into a message on purpose; this is the
 * second lock, for a secret pasted into some other setting
 * (INTERCOM_HEALTHD_API_URL set to the token by mistake).
 */
static void
redact(char **text, const char *secret)
{
	if (!*text || !secret_leaks(*text, secret))
		return;
	size_t size = strlen(*text) * (sizeof(SECRET_MASK) - 1) + 1;
	char *out = xmalloc(size);
	strcpy(out, *text);
	secret_redact(out, size, secret);
	free(*text);
	*text = out;
}

/* ---- parsing values --------------------------------------------------- */

bool
settings_parse_duration(const char *text, int64_t *ms)
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
settings_parse_bool(const char *text, bool *out)
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
static bool
parse_count(const char *text, int64_t *out)
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
has_blank_or_control(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

/* What is wrong with an http(s) URL, or NULL. */
static const char *
url_problem(const char *url)
{
	const char *rest;
	if (strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return "must start with http:// or https://";
	if (has_blank_or_control(url))
		return "contains whitespace or a control character";

	const char *end = rest + strcspn(rest, "/?#");
	const char *host = rest;
	for (const char *p = rest; p < end; p++) {
		if (*p == '@')
			host = p + 1;
	}
	size_t host_len;
	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (!close)
			return "has an unterminated [IPv6] host";
		host_len = (size_t)(close - host - 1);
	} else {
		host_len = strcspn(host, ":/?#");
		if (host + host_len > end)
			host_len = (size_t)(end - host);
	}
	if (host_len == 0)
		return "has no host";
	return NULL;
}

/* ---- collecting raw values -------------------------------------------- */

static void
set_raw(struct loader *ld, enum setting_id id, const char *value,
	enum level level, const char *source)
{
	struct raw *r = &ld->raw[id];
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
find_by_flag(const char *name, size_t len)
{
	for (int i = 0; i < SETTING_COUNT; i++) {
		const char *flag = settings_table[i].flag;
		if (strlen(flag) == len && strncmp(flag, name, len) == 0)
			return i;
	}
	return -1;
}

static int
find_by_key(const char *key)
{
	for (int i = 0; i < SETTING_COUNT; i++) {
		if (strcmp(settings_table[i].key, key) == 0)
			return i;
	}
	return -1;
}

static bool
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncmp(name, want, len) == 0;
}

/*
 * The value of an option that takes one: after '=', else the next word.
 * A next word that is itself an option means the value was forgotten.
 */
static bool
option_value(int argc, char **argv, int *i, const char *inline_value,
	     const char **value)
{
	if (inline_value) {
		*value = inline_value;
		return true;
	}
	if (*i + 1 >= argc || !argv[*i + 1] || strncmp(argv[*i + 1], "--", 2) == 0)
		return false;
	*value = argv[++*i];
	return true;
}

static int
parse_command_option(struct loader *ld, const char *name, size_t len,
		     int argc, char **argv, int *i, const char *inline_value)
{
	struct settings *s = ld->s;
	const char *value;
	char *shown = escape(name, len, false, ECHO_ARGUMENT_MAX);
	int rc = 0;

	bool is_config = name_is(name, len, "--config");
	bool is_format = name_is(name, len, "--format");
	bool is_scan = name_is(name, len, "--scan");
	bool is_health_url = name_is(name, len, "--health-url");
	bool is_strict = name_is(name, len, "--strict");

	if (!is_config && !is_format && !is_scan && !is_health_url && !is_strict) {
		rc = fail(ld, "%s: unknown option (see --help)", shown);
		goto out;
	}
	if ((is_format && ld->cmd == COMMAND_SERVE) ||
	    ((is_scan || is_health_url || is_strict) && ld->cmd != COMMAND_PREFLIGHT)) {
		rc = fail(ld, "%s: not an option of %s (see --help)", shown,
			  command_name(ld->cmd));
		goto out;
	}

	if (is_strict) {
		if (!inline_value) {
			s->strict = true;
		} else if (!settings_parse_bool(inline_value, &s->strict)) {
			char *q = quote(inline_value);
			rc = fail(ld, "%s: invalid boolean %s: " BOOL_HINT, shown, q);
			free(q);
		}
		goto out;
	}

	if (!option_value(argc, argv, i, inline_value, &value)) {
		rc = fail(ld, "%s: missing value: use %s=VALUE or %s VALUE", shown, shown, shown);
		goto out;
	}

	if (is_config) {
		free(ld->config_flag);
		ld->config_flag = xstrdup(value);
	} else if (is_format) {
		if (strcmp(value, "text") == 0) {
			s->format = OUTPUT_FORMAT_TEXT;
		} else if (strcmp(value, "json") == 0) {
			s->format = OUTPUT_FORMAT_JSON;
		} else if (strcmp(value, "junit") == 0 && ld->cmd == COMMAND_PREFLIGHT) {
			s->format = OUTPUT_FORMAT_JUNIT;
		} else {
			char *q = quote(value);
			rc = fail(ld, "--format: invalid %s: use %s", q,
				  ld->cmd == COMMAND_PREFLIGHT ? "text, json or junit" :
								 "text or json");
			free(q);
		}
	} else if (is_scan) {
		struct stat st;
		if (stat(value, &st) < 0) {
			char *p = show_path(value);
			rc = fail(ld, "--scan: cannot read %s: %s", p, strerror(errno));
			free(p);
		} else {
			free(s->scan_dir);
			s->scan_dir = xstrdup(value);
		}
	} else if (is_health_url) {
		const char *problem = url_problem(value);
		if (problem) {
			char *q = quote(value);
			rc = fail(ld, "--health-url: invalid URL %s: %s", q, problem);
			free(q);
		} else {
			free(s->health_url);
			s->health_url = xstrdup(value);
		}
	}

out:
	free(shown);
	return rc;
}

static int
parse_args(struct loader *ld, int argc, char **argv)
{
	/* The boolean flag just seen without '=', for the hint below. */
	const char *bare_boolean = NULL;
	bool options_ended = false;

	for (int i = 0; i < argc && argv[i]; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0 && !options_ended) {
			options_ended = true;
			bare_boolean = NULL;
			continue;
		}
		/* No command takes positional arguments. */
		if (options_ended || arg[0] != '-' || arg[1] == '\0') {
			size_t len = strlen(arg);
			if (len > ECHO_ARGUMENT_MAX)
				return fail(ld, "argument %d: unexpected argument of %zu characters"
					    " (see --help)", i + 1, len);
			char *q = quote(arg);
			char *shown = show(arg);
			int rc;
			if (bare_boolean)
				rc = fail(ld, "%s: unexpected argument (a boolean flag takes its"
					  " value only after '=': %s=%s)", q, bare_boolean, shown);
			else
				rc = fail(ld, "%s: unexpected argument (see --help)", q);
			free(shown);
			free(q);
			return rc;
		}
		bare_boolean = NULL;

		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		const char *inline_value = eq ? eq + 1 : NULL;

		/* Before anything else, and never echoing what follows '='. */
		if (name_is(arg, len, "--token") || name_is(arg, len, "--access-token") ||
		    name_is(arg, len, "--intercom-access-token")) {
			char *shown = escape(arg, len, false, ECHO_ARGUMENT_MAX);
			int rc = fail(ld, "%s: " TOKEN_ARGV_ERROR, shown);
			free(shown);
			return rc;
		}
		if (name_is(arg, len, "--webhook-secret"))
			return fail(ld, "--webhook-secret: the webhook secret is never accepted"
				    " on the command line (argv is world-readable); use "
				    ENV_WEBHOOK_SECRET " or --webhook-secret-file");

		int id = find_by_flag(arg, len);
		if (id < 0) {
			int rc = parse_command_option(ld, arg, len, argc, argv, &i, inline_value);
			if (rc < 0)
				return rc;
			if (name_is(arg, len, "--strict") && !inline_value)
				bare_boolean = "--strict";
			continue;
		}

		const struct setting_def *def = &settings_table[id];
		const char *value;
		if (def->boolean) {
			value = inline_value ? inline_value : "true";
			if (!inline_value)
				bare_boolean = def->flag;
		} else if (!option_value(argc, argv, &i, inline_value, &value)) {
			return fail(ld, "%s: missing value (from flag %s): use %s=VALUE or %s VALUE",
				    def->key, def->flag, def->flag, def->flag);
		}
		char *source = xasprintf("flag %s", def->flag);
		set_raw(ld, (enum setting_id)id, value, LEVEL_FLAG, source);
		free(source);
	}
	return 0;
}

static void
read_env(struct loader *ld)
{
	for (int i = 0; i < SETTING_COUNT; i++) {
		const char *value = env_lookup(ld->envp, settings_table[i].env);
		if (!value)
			continue;
		char *source = xasprintf("env %s", settings_table[i].env);
		set_raw(ld, (enum setting_id)i, value, LEVEL_ENV, source);
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
		return fail(ld, "%s: expected \"key = value\"", where);

	char *key = xstrndup(line, key_len);
	/* The key as errors may show it: escaped, and not at all when it may
	 * be a pasted token. */
	char *shown = show(key);
	char *value = NULL;
	int rc = 0;

	const char *v = trim_left(eq + 1);
	if (*v == '"') {
		/* No escapes: a value never needs a '"', and this stays simple. */
		const char *close = strchr(v + 1, '"');
		if (!close) {
			rc = fail(ld, "%s: unterminated quote (from %s)", shown, where);
			goto out;
		}
		const char *after = trim_left(close + 1);
		if (*after != '\0' && *after != '#') {
			rc = fail(ld, "%s: unexpected text after the closing quote (from %s)",
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

	if (strcmp(key, "token") == 0 || strcmp(key, "access_token") == 0 ||
	    strcmp(key, "intercom_access_token") == 0) {
		rc = fail(ld, "token: not accepted in a config file (from %s):"
			  " use token_file or " ENV_TOKEN, where);
		goto out;
	}
	if (strcmp(key, "webhook_secret") == 0) {
		rc = fail(ld, "webhook_secret: not accepted in a config file (from %s):"
			  " use webhook_secret_file or " ENV_WEBHOOK_SECRET, where);
		goto out;
	}

	int id = find_by_key(key);
	if (id < 0) {
		/* `degraded-ok` is the flag spelling creeping into the file. */
		char *snake = xstrdup(key);
		for (char *p = snake; *p; p++) {
			if (*p == '-')
				*p = '_';
		}
		int guess = find_by_key(snake);
		free(snake);
		if (guess >= 0)
			rc = fail(ld, "%s: unknown setting (from %s): did you mean %s?",
				  shown, where, settings_table[guess].key);
		else
			rc = fail(ld, "%s: unknown setting (from %s)", shown, where);
		goto out;
	}
	set_raw(ld, (enum setting_id)id, value, LEVEL_FILE, where);

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
	const char *source = "flag --config";
	if (!path) {
		path = env_lookup(ld->envp, ENV_CONFIG);
		source = "env " ENV_CONFIG;
	}
	if (!path || !*path)
		return 0;
	ld->s->config_file = xstrdup(path);

	char *shown = show_path(path);
	char *text = NULL;
	size_t size = 0;
	int rc = file_read_regular(path, CONFIG_MAX, &text, &size);
	if (rc < 0) {
		char why[64];
		rc = fail(ld, "config: cannot read %s (from %s): %s", shown, source,
			  file_problem(rc, CONFIG_MAX, why, sizeof(why)));
		goto out;
	}
	if (memchr(text, '\0', size)) {
		rc = fail(ld, "config: %s (from %s) is not a text file (it contains a NUL byte)",
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
			rc = fail(ld, "config: %s:%u (from %s): line longer than %d characters",
				  shown, lineno, source, CONFIG_LINE_MAX);
			break;
		}
		len = strip_newlines(line, len);
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
		secret_wipe(text, size);
		free(text);
	}
	free(shown);
	return rc;
}

/* ---- validating ------------------------------------------------------- */

/* The winning text of a setting (NULL: unset) and where it came from. */
static const char *
value_of(const struct loader *ld, enum setting_id id, const char **source)
{
	const struct raw *r = &ld->raw[id];
	const char *v = r->set ? r->value : settings_table[id].def;
	*source = r->set ? r->source : "default";
	if (v && *v == '\0' && settings_table[id].optional)
		return NULL;
	return v;
}

/* Like value_of() for a setting that must have a value. */
static int
required(struct loader *ld, enum setting_id id, const char **value, const char **source)
{
	*value = value_of(ld, id, source);
	if (!*value || !**value)
		return fail(ld, "%s: empty value (from %s)", settings_table[id].key, *source);
	return 0;
}

static int
resolve_duration(struct loader *ld, enum setting_id id, int64_t min_ms, int64_t *out)
{
	const char *key = settings_table[id].key;
	const char *v, *src;
	int rc = required(ld, id, &v, &src);
	if (rc < 0)
		return rc;

	int64_t ms;
	if (!settings_parse_duration(v, &ms)) {
		char *q = quote(v);
		rc = fail(ld, "%s: invalid duration %s (from %s): " DURATION_HINT, key, q, src);
		free(q);
		return rc;
	}
	char text[32], limit[32];
	format_duration(ms, text, sizeof(text));
	if (ms == 0)
		return fail(ld, "%s: %s (from %s) must be greater than 0", key, text, src);
	if (ms < min_ms) {
		format_duration(min_ms, limit, sizeof(limit));
		return fail(ld, "%s: %s (from %s) must be at least %s", key, text, src, limit);
	}
	if (ms > DURATION_MAX_MS)
		return fail(ld, "%s: %s (from %s) must be at most " DURATION_MAX_TEXT,
			    key, text, src);
	*out = ms;
	return 0;
}

static int
resolve_int(struct loader *ld, enum setting_id id, int min, int max, bool percent,
	    int *out)
{
	const char *key = settings_table[id].key;
	const char *v, *src;
	int rc = required(ld, id, &v, &src);
	if (rc < 0)
		return rc;

	char *digits = xstrdup(v);
	size_t len = strlen(digits);
	if (percent && len > 1 && digits[len - 1] == '%')
		digits[len - 1] = '\0';
	int64_t n;
	if (!parse_count(digits, &n)) {
		char *q = quote(v);
		rc = fail(ld, "%s: invalid number %s (from %s): use a whole %s %d-%d",
			  key, q, src, percent ? "percent" : "number", min, max);
		free(q);
	} else if (n < min || n > max) {
		rc = fail(ld, "%s: %s (from %s) must be between %d and %d", key, digits,
			  src, min, max);
	} else {
		*out = (int)n;
	}
	free(digits);
	return rc;
}

static int
resolve_bool(struct loader *ld, enum setting_id id, bool *out)
{
	const char *v, *src;
	int rc = required(ld, id, &v, &src);
	if (rc < 0)
		return rc;
	if (!settings_parse_bool(v, out)) {
		char *q = quote(v);
		rc = fail(ld, "%s: invalid boolean %s (from %s): " BOOL_HINT,
			  settings_table[id].key, q, src);
		free(q);
	}
	return rc;
}

/* *out stays NULL for an unset optional URL. */
static int
resolve_url(struct loader *ld, enum setting_id id, char **out)
{
	const char *src;
	const char *v = value_of(ld, id, &src);
	if (!v && settings_table[id].optional)
		return 0;
	if (!v || !*v)
		return fail(ld, "%s: empty value (from %s)", settings_table[id].key, src);
	const char *problem = url_problem(v);
	if (problem) {
		char *q = quote(v);
		int rc = fail(ld, "%s: invalid URL %s (from %s): %s", settings_table[id].key,
			      q, src, problem);
		free(q);
		return rc;
	}
	*out = xstrdup(v);
	return 0;
}

/* A header value or a URL path: visible ASCII only. */
static int
resolve_token_text(struct loader *ld, enum setting_id id, const char *example, char **out)
{
	const char *v, *src;
	int rc = required(ld, id, &v, &src);
	if (rc < 0)
		return rc;
	size_t at = 0;
	if (secret_problem(v, strlen(v), &at)) {
		char *q = quote(v);
		rc = fail(ld, "%s: invalid value %s (from %s): use visible ASCII without"
			  " spaces, e.g. %s", settings_table[id].key, q, src, example);
		free(q);
		return rc;
	}
	*out = xstrdup(v);
	return 0;
}

static int
resolve_choice(struct loader *ld, enum setting_id id, const char *const *choices,
	       size_t count, const char *hint, size_t *index)
{
	const char *v, *src;
	int rc = required(ld, id, &v, &src);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(v, choices[i]) == 0) {
			*index = i;
			return 0;
		}
	}
	char *q = quote(v);
	rc = fail(ld, "%s: invalid value %s (from %s): use %s", settings_table[id].key,
		  q, src, hint);
	free(q);
	return rc;
}

static int
resolve_api_url(struct loader *ld)
{
	struct settings *s = ld->s;
	static const char *const names[] = { "us", "eu", "au" };
	size_t region;
	int rc = resolve_choice(ld, SETTING_REGION, names, 3, "us, eu or au", &region);
	if (rc < 0)
		return rc;
	s->region = xstrdup(regions[region].name);

	/* An api_url from any source beats the region from any source: it is
	 * the more specific of the two (a proxy, a test server). */
	if (!ld->raw[SETTING_API_URL].set) {
		s->api_url = xstrdup(regions[region].url);
		return 0;
	}
	rc = resolve_url(ld, SETTING_API_URL, &s->api_url);
	if (rc < 0)
		return rc;
	if (strncasecmp(s->api_url, "https://", 8) != 0) {
		const char *src;
		value_of(ld, SETTING_API_URL, &src);
		char *q = quote(s->api_url);
		rc = fail(ld, "api_url: %s (from %s) must start with https://: the bearer"
			  " token never goes out in clear text", q, src);
		free(q);
		return rc;
	}
	/* The probe path starts with '/': no trailing slash at all here. */
	size_t len = strlen(s->api_url);
	while (len > 0 && s->api_url[len - 1] == '/')
		s->api_url[--len] = '\0';
	return 0;
}

static int
resolve_probe_path(struct loader *ld)
{
	int rc = resolve_token_text(ld, SETTING_PROBE_PATH, "/me", &ld->s->probe_path);
	if (rc < 0)
		return rc;
	if (ld->s->probe_path[0] != '/') {
		const char *src;
		value_of(ld, SETTING_PROBE_PATH, &src);
		char *q = quote(ld->s->probe_path);
		rc = fail(ld, "probe_path: %s (from %s) must start with '/'", q, src);
		free(q);
	}
	return rc;
}

/*
 * How many certificates a PEM bundle holds, or -1 when something in it is
 * not PEM. A bundle that curl cannot use would otherwise be accepted at
 * start and fail every probe with a TLS error.
 */
static int
count_pem_certificates(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		abort();
	int count = 0;
	X509 *cert;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		X509_free(cert);
		count++;
	}
	/* The loop ends at the end of the data (PEM_R_NO_START_LINE) or at
	 * a block it could not decode. */
	unsigned long e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		e = 0;
	ERR_clear_error();
	BIO_free(bio);
	return e ? -1 : count;
}

static int
resolve_ca_file(struct loader *ld)
{
	const char *src;
	const char *path = value_of(ld, SETTING_CA_FILE, &src);
	if (!path)
		return 0;

	/* Checked here so a typo or a junk file fails at startup, not at
	 * every probe. */
	char *pem = NULL;
	size_t len = 0;
	char *shown = show_path(path);
	int rc = file_read_regular(path, CA_FILE_MAX, &pem, &len);
	if (rc < 0) {
		char why[64];
		rc = fail(ld, "ca_file: cannot read %s (from %s): %s", shown, src,
			  file_problem(rc, CA_FILE_MAX, why, sizeof(why)));
	} else {
		int certs = count_pem_certificates(pem, len);
		if (certs < 0)
			rc = fail(ld, "ca_file: %s (from %s) is not a PEM certificate bundle:"
				  " a block in it does not decode", shown, src);
		else if (certs == 0)
			rc = fail(ld, "ca_file: %s (from %s) holds no PEM certificate"
				  " (-----BEGIN CERTIFICATE-----)", shown, src);
		else
			ld->s->ca_file = xstrdup(path);
	}
	free(pem);
	free(shown);
	return rc;
}

static int
resolve_listen(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *v, *src;
	int rc = required(ld, SETTING_LISTEN, &v, &src);
	if (rc < 0)
		return rc;

	const char *host = NULL, *host_end = NULL, *port = NULL;
	const char *problem = NULL;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close == v + 1 || close[1] != ':') {
			problem = "use HOST:PORT or [IPv6]:PORT";
		} else {
			host = v + 1;
			host_end = close;
			port = close + 2;
		}
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon || colon == v) {
			problem = "use HOST:PORT or [IPv6]:PORT";
		} else if (memchr(v, ':', (size_t)(colon - v))) {
			problem = "put an IPv6 address in brackets, e.g. [::1]:9180";
		} else {
			host = v;
			host_end = colon;
			port = colon + 1;
		}
	}
	if (!problem) {
		for (const char *p = host; p < host_end; p++) {
			unsigned char c = (unsigned char)*p;
			if (c <= 0x20 || c >= 0x7f || c == '/' || c == '[' || c == ']')
				problem = "use HOST:PORT or [IPv6]:PORT";
		}
	}
	if (problem) {
		char *q = quote(v);
		rc = fail(ld, "listen: invalid address %s (from %s): %s", q, src, problem);
		free(q);
		return rc;
	}

	int64_t n;
	if (!parse_count(port, &n)) {
		char *q = quote(v);
		rc = fail(ld, "listen: invalid port in %s (from %s): use a number 0-65535",
			  q, src);
		free(q);
		return rc;
	}
	if (n > 65535) {
		char *shown = show(port);
		rc = fail(ld, "listen: port %s (from %s) must be between 0 and 65535",
			  shown, src);
		free(shown);
		return rc;
	}
	/* A numeric address (or localhost, its one well-known name): the
	 * listen address must never wait on DNS, and a typo such as
	 * 999.1.1.1 is a settings error, not a failure to bind. */
	char *name = xstrndup(host, (size_t)(host_end - host));
	unsigned char addr[sizeof(struct in6_addr)];
	if (strcasecmp(name, "localhost") == 0) {
		free(name);
		name = xstrdup("127.0.0.1");
	} else if (inet_pton(v[0] == '[' ? AF_INET6 : AF_INET, name, addr) != 1) {
		char *q = quote(v);
		rc = fail(ld, "listen: invalid address %s (from %s): use a numeric %s"
			  " address, e.g. %s", q, src, v[0] == '[' ? "IPv6" : "IPv4",
			  v[0] == '[' ? "[::1]:9180" : "127.0.0.1:9180");
		free(q);
		free(name);
		return rc;
	}
	s->listen = xstrdup(v);
	s->listen_host = name;
	s->listen_port = (uint16_t)n;
	return 0;
}

static int
resolve_timing(struct loader *ld)
{
	struct settings *s = ld->s;
	int rc;
	if ((rc = resolve_duration(ld, SETTING_INTERVAL, 1, &s->interval_ms)) < 0 ||
	    (rc = resolve_duration(ld, SETTING_TIMEOUT, 1, &s->timeout_ms)) < 0 ||
	    (rc = resolve_duration(ld, SETTING_DEGRADED_LATENCY, 1,
				   &s->degraded_latency_ms)) < 0)
		return rc;

	const char *interval_src, *timeout_src;
	value_of(ld, SETTING_INTERVAL, &interval_src);
	value_of(ld, SETTING_TIMEOUT, &timeout_src);
	char interval[32], timeout[32];
	format_duration(s->interval_ms, interval, sizeof(interval));
	format_duration(s->timeout_ms, timeout, sizeof(timeout));

	/* A probe still running when the next is due would overlap it. */
	if (s->timeout_ms >= s->interval_ms)
		return fail(ld, "timeout: %s (from %s) must be less than interval %s (from %s)",
			    timeout, timeout_src, interval, interval_src);

	if (!ld->raw[SETTING_STALE_AFTER].set) {
		s->stale_after_ms = 2 * s->interval_ms + s->timeout_ms;
	} else {
		if ((rc = resolve_duration(ld, SETTING_STALE_AFTER, 1, &s->stale_after_ms)) < 0)
			return rc;
		/* The longest healthy gap between two finished probes is one
		 * interval stretched by the full 10% jitter, plus a probe
		 * that runs to its timeout; anything shorter flaps /livez
		 * on a daemon that works. */
		int64_t min = s->interval_ms + (s->interval_ms + 9) / 10 + s->timeout_ms;
		if (s->stale_after_ms < min) {
			const char *src;
			value_of(ld, SETTING_STALE_AFTER, &src);
			char stale[32], minimum[32];
			format_duration(s->stale_after_ms, stale, sizeof(stale));
			format_duration(min, minimum, sizeof(minimum));
			return fail(ld, "stale_after: %s (from %s) must be at least %s"
				    " (interval %s (from %s) + 10%% jitter + timeout %s (from %s))",
				    stale, src, minimum, interval, interval_src, timeout,
				    timeout_src);
		}
	}

	/* Statuspage and the webhook are other people's servers: once a
	 * second is already more than they deserve. */
	return resolve_duration(ld, SETTING_STATUS_INTERVAL, 1000, &s->status_interval_ms);
}

static int
resolve_token(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *src;
	const char *path = value_of(ld, SETTING_TOKEN_FILE, &src);
	char *credential = NULL;
	char *reason = NULL;
	int rc = 0;

	/* token_file from any source, its default (the systemd credential,
	 * if one was passed) included, wins over the environment: the
	 * contract makes the credential the default of token_file, and a
	 * credential is the more deliberate (and less leaky) of the two. */
	if (!path) {
		const char *dir = env_lookup(ld->envp, "CREDENTIALS_DIRECTORY");
		struct stat st;
		if (dir && *dir) {
			credential = xasprintf("%s/" CREDENTIAL_NAME, dir);
			if (stat(credential, &st) == 0) {
				path = credential;
				src = "default: systemd credential";
			}
		}
	}
	if (!path) {
		const char *env = env_lookup(ld->envp, ENV_TOKEN);
		if (env) {
			rc = secret_from_env(ld, "token", ENV_TOKEN, env, &s->token);
			if (rc == 0)
				s->token_origin = xstrdup("env " ENV_TOKEN);
			goto out;
		}
	}

	if (!path) {
		/* Every command talks to Intercom today; the switch keeps a
		 * future offline command from inheriting the requirement. */
		switch (ld->cmd) {
		case COMMAND_SERVE:
		case COMMAND_CHECK:
		case COMMAND_PREFLIGHT:
			rc = fail(ld, "token: " NO_TOKEN_ERROR "%s",
				  env_lookup(ld->envp, "INTERCOM_HEALTHD_TOKEN") ?
				  " (INTERCOM_HEALTHD_TOKEN is not read)" : "");
			break;
		}
		goto out;
	}

	rc = settings_read_secret_file(path, &s->token, &reason);
	if (rc < 0) {
		rc = fail(ld, "token_file: %s (from %s)", reason, src);
		goto out;
	}
	s->token_file = xstrdup(path);
	s->token_origin = xasprintf("file %s", path);

out:
	free(reason);
	free(credential);
	return rc;
}

static int
resolve_webhook_secret(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *src;
	const char *path = value_of(ld, SETTING_WEBHOOK_SECRET_FILE, &src);

	if (!path) {
		const char *env = env_lookup(ld->envp, ENV_WEBHOOK_SECRET);
		if (!env)
			return 0;
		return secret_from_env(ld, "webhook_secret", ENV_WEBHOOK_SECRET, env,
				       &s->webhook_secret);
	}

	char *reason = NULL;
	int rc = settings_read_secret_file(path, &s->webhook_secret, &reason);
	if (rc < 0) {
		rc = fail(ld, "webhook_secret_file: %s (from %s)", reason, src);
		free(reason);
		return rc;
	}
	s->webhook_secret_file = xstrdup(path);
	return 0;
}

static int
resolve_status_url(struct loader *ld)
{
	const char *src;
	const char *v = value_of(ld, SETTING_STATUS_URL, &src);
	if (v && strcasecmp(v, "off") == 0)
		return 0;
	return resolve_url(ld, SETTING_STATUS_URL, &ld->s->status_url);
}

/*
 * The free-text settings are logged at start-up and sent over the network
 * (URLs to their servers, the rest in the probe): one that holds the
 * access token (or a piece of it: tokens are random, settings are not) or
 * the webhook secret would leak it. Refused, without showing the value.
 */
static int
check_no_secret_in_values(struct loader *ld)
{
	const struct settings *s = ld->s;
	const struct {
		enum setting_id id;
		const char *value;
	} values[] = {
		{ SETTING_API_URL, s->api_url },
		{ SETTING_API_VERSION, s->api_version },
		{ SETTING_PROBE_PATH, s->probe_path },
		{ SETTING_STATUS_URL, s->status_url },
		{ SETTING_WEBHOOK_URL, s->webhook_url },
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *value = values[i].value;
		if (!value)
			continue;
		/* The environment's token counts even where a token file
		 * wins over it: it is a secret all the same. */
		const char *env_token = env_lookup(ld->envp, ENV_TOKEN);
		const char *what = NULL;
		if (s->webhook_secret && strstr(value, s->webhook_secret))
			what = "the webhook secret";
		else if (secret_leaks(value, s->token) || secret_leaks(value, env_token))
			what = "the access token";
		if (what) {
			const char *src;
			value_of(ld, values[i].id, &src);
			return fail(ld, "%s: the value (from %s) holds %s, or part of it:"
				    " refusing to log it or send it anywhere",
				    settings_table[values[i].id].key, src, what);
		}
	}
	return 0;
}

static int
resolve_all(struct loader *ld)
{
	static const char *const formats[] = { "text", "json" };
	static const char *const levels[] = { "debug", "info", "warning", "warn", "error" };
	static const enum log_level level_values[] = {
		LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_WARNING,
		LOG_LEVEL_ERROR,
	};
	struct settings *s = ld->s;
	size_t choice;
	int rc;

	if ((rc = resolve_api_url(ld)) < 0 ||
	    (rc = resolve_token_text(ld, SETTING_API_VERSION, "2.14",
				     &s->api_version)) < 0 ||
	    (rc = resolve_probe_path(ld)) < 0 ||
	    (rc = resolve_ca_file(ld)) < 0 ||
	    (rc = resolve_listen(ld)) < 0 ||
	    (rc = resolve_timing(ld)) < 0 ||
	    (rc = resolve_int(ld, SETTING_RATE_LIMIT_LOW, 0, 100, true,
			      &s->rate_limit_low)) < 0 ||
	    (rc = resolve_int(ld, SETTING_FAILURE_THRESHOLD, 1, THRESHOLD_MAX, false,
			      &s->failure_threshold)) < 0 ||
	    (rc = resolve_int(ld, SETTING_SUCCESS_THRESHOLD, 1, THRESHOLD_MAX, false,
			      &s->success_threshold)) < 0 ||
	    (rc = resolve_bool(ld, SETTING_DEGRADED_OK, &s->degraded_ok)) < 0 ||
	    (rc = resolve_int(ld, SETTING_HTTP_THREADS, 1, HTTP_THREADS_MAX, false,
			      &s->http_threads)) < 0 ||
	    (rc = resolve_int(ld, SETTING_MAX_CONNECTIONS, 1, MAX_CONNECTIONS_MAX, false,
			      &s->max_connections)) < 0 ||
	    /* libmicrohttpd counts its idle timeout in whole seconds. */
	    (rc = resolve_duration(ld, SETTING_CONNECTION_TIMEOUT, 1000,
				   &s->connection_timeout_ms)) < 0 ||
	    (rc = resolve_status_url(ld)) < 0 ||
	    (rc = resolve_url(ld, SETTING_WEBHOOK_URL, &s->webhook_url)) < 0)
		return rc;

	if ((rc = resolve_choice(ld, SETTING_LOG_FORMAT, formats, 2, "text or json",
				 &choice)) < 0)
		return rc;
	s->log_format = choice == 0 ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	if ((rc = resolve_choice(ld, SETTING_LOG_LEVEL, levels, 5,
				 "debug, info, warning or error", &choice)) < 0)
		return rc;
	s->log_level = level_values[choice];

	if ((rc = resolve_token(ld)) < 0 || (rc = resolve_webhook_secret(ld)) < 0)
		return rc;
	return check_no_secret_in_values(ld);
}

/* Redacts the secret in the file a setting names, if it can be read. */
static void
redact_file_secret(struct loader *ld, const char *path)
{
	char *secret = NULL;
	if (path && settings_read_secret_file(path, &secret, NULL) == 0) {
		redact(&ld->err, secret);
		secret_free(secret);
	}
}

/*
 * Before an error leaves the loader: whatever secret it may quote, from
 * whichever source, is redacted. Secrets not loaded yet (the error came
 * first) are read now for that purpose alone, so a token pasted into
 * `interval` is caught even when its file is read after the error.
 */
static void
redact_secrets(struct loader *ld)
{
	const char *src;
	redact(&ld->err, env_lookup(ld->envp, ENV_TOKEN));
	redact(&ld->err, env_lookup(ld->envp, ENV_WEBHOOK_SECRET));
	redact(&ld->err, ld->s->token);
	redact(&ld->err, ld->s->webhook_secret);
	if (!ld->s->token) {
		redact_file_secret(ld, value_of(ld, SETTING_TOKEN_FILE, &src));
		const char *dir = env_lookup(ld->envp, "CREDENTIALS_DIRECTORY");
		if (dir && *dir) {
			char *credential = xasprintf("%s/" CREDENTIAL_NAME, dir);
			redact_file_secret(ld, credential);
			free(credential);
		}
	}
	if (!ld->s->webhook_secret)
		redact_file_secret(ld, value_of(ld, SETTING_WEBHOOK_SECRET_FILE, &src));
}

int
settings_load(struct settings *s, enum command cmd, int argc, char **argv,
	      char **envp, char **err)
{
	struct loader ld = { .s = s, .cmd = cmd, .envp = envp };
	int rc;

	memset(s, 0, sizeof(*s));
	if (err)
		*err = NULL;

	if ((rc = parse_args(&ld, argc, argv)) < 0)
		goto out;
	read_env(&ld);
	if ((rc = read_config(&ld)) < 0)
		goto out;
	rc = resolve_all(&ld);

out:
	if (rc < 0) {
		redact_secrets(&ld);
		settings_finish(s);
		if (err && ld.err)
			*err = ld.err;
		else
			free(ld.err);
	}
	for (int i = 0; i < SETTING_COUNT; i++) {
		free(ld.raw[i].value);
		free(ld.raw[i].source);
	}
	free(ld.config_flag);
	return rc;
}

void
settings_finish(struct settings *s)
{
	if (!s)
		return;
	secret_free(s->token);
	secret_free(s->webhook_secret);
	free(s->token_origin);
	free(s->token_file);
	free(s->api_url);
	free(s->region);
	free(s->api_version);
	free(s->probe_path);
	free(s->ca_file);
	free(s->listen);
	free(s->listen_host);
	free(s->status_url);
	free(s->webhook_url);
	free(s->webhook_secret_file);
	free(s->config_file);
	free(s->scan_dir);
	free(s->health_url);
	memset(s, 0, sizeof(*s));
}

/*
 * url with any user:password@ replaced by "***@": not the secrets this
 * module guards, but credentials all the same, and logs travel far.
 */
static const char *
loggable_url(const char *url, char *buf, size_t size)
{
	if (!url)
		return NULL;
	const char *rest = strstr(url, "://");
	if (!rest)
		return url;
	rest += 3;
	const char *end = rest + strcspn(rest, "/?#");
	const char *at = NULL;
	for (const char *p = rest; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	if (!at)
		return url;
	snprintf(buf, size, "%.*s***%s", (int)(rest - url), url, at);
	return buf;
}

void
settings_log(const struct settings *s)
{
	char url[1024];
	char interval[32], timeout[32], latency[32], stale[32], status[32];
	char conn_timeout[32];
	format_duration(s->connection_timeout_ms, conn_timeout, sizeof(conn_timeout));
	format_duration(s->interval_ms, interval, sizeof(interval));
	format_duration(s->timeout_ms, timeout, sizeof(timeout));
	format_duration(s->degraded_latency_ms, latency, sizeof(latency));
	format_duration(s->stale_after_ms, stale, sizeof(stale));
	format_duration(s->status_interval_ms, status, sizeof(status));

	log_info("config: %s", s->config_file ? s->config_file : "none");
	if (s->token)
		log_info("token: set (%s)", s->token_origin ? s->token_origin : "unknown");
	else
		log_info("token: unset");
	log_info("api_url: %s (region %s)",
		 s->api_url ? loggable_url(s->api_url, url, sizeof(url)) : "-",
		 s->region ? s->region : "-");
	log_info("api_version: %s", s->api_version ? s->api_version : "-");
	log_info("probe_path: %s", s->probe_path ? s->probe_path : "-");
	log_info("ca_file: %s", s->ca_file ? s->ca_file : "system store only");
	log_info("listen: %s", s->listen ? s->listen : "-");
	log_info("interval: %s, timeout: %s, degraded_latency: %s, stale_after: %s,"
		 " status_interval: %s", interval, timeout, latency, stale, status);
	log_info("rate_limit_low: %d%%, failure_threshold: %d, success_threshold: %d,"
		 " degraded_ok: %s", s->rate_limit_low, s->failure_threshold,
		 s->success_threshold, s->degraded_ok ? "true" : "false");
	log_info("status_url: %s",
		 s->status_url ? loggable_url(s->status_url, url, sizeof(url)) : "off");
	log_info("webhook_url: %s",
		 s->webhook_url ? loggable_url(s->webhook_url, url, sizeof(url)) : "unset");
	if (s->webhook_secret && s->webhook_secret_file)
		log_info("webhook_secret: set (file %s)", s->webhook_secret_file);
	else if (s->webhook_secret)
		log_info("webhook_secret: set (env " ENV_WEBHOOK_SECRET ")");
	else
		log_info("webhook_secret: unset");
	log_info("http_threads: %d, max_connections: %d, connection_timeout: %s",
		 s->http_threads, s->max_connections, conn_timeout);
	log_info("log_format: %s, log_level: %s",
		 s->log_format == LOG_FORMAT_JSON ? "json" : "text",
		 log_level_name(s->log_level));
}
