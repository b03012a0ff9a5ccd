#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "file.h"
#include "log.h"
#include "mem.h"
#include "secret.h"
#include "settings.h"
#include "text.h"

/*
 * How settings_load() works: every source (argv, then the environment, then
 * the config file) drops its raw text into one slot per setting, tagged with
 * its level and a printable source ("flag --interval", "/etc/x.conf:12").
 * A slot only accepts text from its own level or a higher one, so the order
 * the sources are read in does not matter, and within one source the last
 * spelling wins. Only then is each winning text parsed and checked, so a
 * bad value that a higher level overrides is never reported, and every
 * message can name the source of the value it complains about.
 *
 * One row of settings_table describes a setting completely: its three
 * spellings, how its text is parsed and into which field, its limits,
 * default and help. Reading argv, the environment and the file, parsing,
 * freeing, logging and --help all walk the table. What one row cannot say
 * (a check across settings, a file to read) is a named function run after
 * the table pass, in resolve_all().
 */

/* Other modules hand durations to poll(), curl and libmicrohttpd as int
 * milliseconds; a week keeps stale_after (at most 3 * interval) below
 * INT_MAX, and no health check wants a longer period anyway. */
#define DURATION_MAX_MS (168 * 3600 * INT64_C(1000))
/* Longest stray word or rejected value echoed back in an error; a longer
 * one may be a pasted token, and is described by its length instead. */
#define ECHO_ARGUMENT_MAX 32
/* One error line, whatever it quotes: errors go to a terminal or a log. */
#define ERROR_MAX 512
/* A config file is a few dozen short lines; anything bigger is the wrong
 * file, refused before it is read. */
#define CONFIG_MAX (64 * 1024)
#define CONFIG_LINE_MAX 4096
/* The system CA bundle is about 200 KiB; a private one is smaller. */
#define CA_FILE_MAX (8 * 1024 * 1024)

#define CREDENTIAL_NAME "intercom-access-token"
#define ENV_TOKEN "INTERCOM_ACCESS_TOKEN"
#define ENV_WEBHOOK_SECRET "INTERCOM_WEBHOOK_SECRET"
#define ENV_CONFIG "INTERCOM_HEALTHD_CONFIG"

#define DURATION_HINT "use 250ms, 5s, 2m, 1h or seconds"
#define BOOL_HINT "use true/false, yes/no, on/off or 1/0"
#define SCHEME_HINT "must start with http:// or https://"
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

/* How a setting's text is parsed, and so the type of its field. */
enum setting_type {
	TYPE_DURATION,          /* int64_t milliseconds; min, max */
	TYPE_INT,               /* int, digits only; min, max */
	TYPE_PERCENT,           /* int, digits and an optional '%'; min, max */
	TYPE_BOOL,              /* bool; the flag alone means true */
	TYPE_CHOICE,            /* int (an enum): the chosen choice's value */
	TYPE_NAME,              /* char *: the chosen choice's name, lowercase */
	TYPE_TEXT,              /* char *: visible ASCII without spaces */
	TYPE_URL,               /* char *: an http:// or https:// URL */
	TYPE_STRING,            /* char *: any text; a named check reads it */
	TYPE_SECRET_FILE,       /* char *: set by the function reading the secret */
};

/* Refinements of a type, per row. */
enum {
	/* An empty value means unset (so `ca_file =` is valid), rather than
	 * being an error. */
	F_OPTIONAL = 1 << 0,
	/* The word "off" (any case) means unset: a default one can disable. */
	F_OFF = 1 << 1,
	/* The access token goes there as a bearer token: never clear text. */
	F_HTTPS_ONLY = 1 << 2,
	/* A path gets appended: trailing slashes go. */
	F_BASE_URL = 1 << 3,
	/* A URL path: starts with '/'. */
	F_URL_PATH = 1 << 4,
	/* Comma-separated; each item is checked. */
	F_LIST = 1 << 5,
};

struct choice {
	const char *name;
	int value;
	bool alias;     /* accepted, but offered neither in --help nor in hints */
};

struct setting_def {
	/* The three spellings are written out rather than derived, so grep
	 * finds them. */
	const char *key;
	const char *flag;
	const char *env;
	enum setting_type type;
	size_t offset;          /* of the field in struct settings */
	unsigned flags;
	int64_t min, max;       /* numbers; milliseconds for durations */
	const struct choice *choices;   /* ends with a NULL name */
	/* The default as text, parsed like any other value; NULL when the
	 * setting is unset by default or its default is computed. */
	const char *def;
	const char *computed;   /* a computed default, in words, for --help */
	const char *arg;        /* --help's placeholder, where the type's is vague */
	const char *help;       /* --help's text; the range and default follow */
};

#define FIELD(name) offsetof(struct settings, name)

/* A choice is stored into an enum field as an int. */
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum log_format is an int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is an int");

static const struct choice log_formats[] = {
	{ "text", LOG_FORMAT_TEXT },
	{ "json", LOG_FORMAT_JSON },
	{ NULL },
};

static const struct choice log_levels[] = {
	{ "debug", LOG_LEVEL_DEBUG },
	{ "info", LOG_LEVEL_INFO },
	{ "warning", LOG_LEVEL_WARNING },
	{ "warn", LOG_LEVEL_WARNING, .alias = true },
	{ "error", LOG_LEVEL_ERROR },
	{ NULL },
};

/* A region's value is its index in region_urls. */
static const struct choice regions[] = {
	{ "us", 0 },
	{ "eu", 1 },
	{ "au", 2 },
	{ NULL },
};

static const char *const region_urls[] = {
	"https://api.intercom.io",
	"https://api.eu.intercom.io",
	"https://api.au.intercom.io",
};

const char *
settings_region_of_url(const char *api_url)
{
	for (const struct choice *c = regions; c->name; c++)
		if (strcasecmp(api_url, region_urls[c->value]) == 0)
			return c->name;
	return NULL;
}

/* In the order of config/intercom-healthd.conf, the man page and --help. */
static const struct setting_def settings_table[] = {
	{ "token_file", "--token-file", "INTERCOM_HEALTHD_TOKEN_FILE",
	  TYPE_SECRET_FILE, FIELD(token_file), F_OPTIONAL, .arg = "FILE",
	  .help = "file holding the access token (re-read on change, SIGHUP)" },
	{ "api_url", "--api-url", "INTERCOM_HEALTHD_API_URL",
	  TYPE_URL, FIELD(api_url), F_HTTPS_ONLY | F_BASE_URL,
	  .def = "https://api.intercom.io",
	  .help = "API base URL, https:// only; wins over region" },
	{ "region", "--region", "INTERCOM_HEALTHD_REGION",
	  TYPE_NAME, FIELD(region), .choices = regions, .def = "us",
	  .help = "shortcut for the regional API host" },
	{ "api_version", "--api-version", "INTERCOM_HEALTHD_API_VERSION",
	  TYPE_TEXT, FIELD(api_version), .def = "2.14", .arg = "V",
	  .help = "Intercom-Version header" },
	{ "probe_path", "--probe-path", "INTERCOM_HEALTHD_PROBE_PATH",
	  TYPE_TEXT, FIELD(probe_path), F_URL_PATH, .def = "/me", .arg = "PATH",
	  .help = "authenticated GET used as the probe" },
	{ "ca_file", "--ca-file", "INTERCOM_HEALTHD_CA_FILE",
	  TYPE_STRING, FIELD(ca_file), F_OPTIONAL, .arg = "FILE",
	  .help = "extra CA bundle, PEM (added to the system store)" },
	{ "listen", "--listen", "INTERCOM_HEALTHD_LISTEN",
	  TYPE_STRING, FIELD(listen), .def = "127.0.0.1:9180", .arg = "HOST:PORT",
	  .help = "HTTP listen address, or [IPv6]:PORT" },
	{ "interval", "--interval", "INTERCOM_HEALTHD_INTERVAL",
	  TYPE_DURATION, FIELD(interval_ms), .min = 1, .max = DURATION_MAX_MS,
	  .def = "15s", .help = "time between probes, +0-10% jitter" },
	{ "timeout", "--timeout", "INTERCOM_HEALTHD_TIMEOUT",
	  TYPE_DURATION, FIELD(timeout_ms), .min = 1, .max = DURATION_MAX_MS,
	  .def = "5s", .help = "whole-probe timeout, < interval" },
	{ "degraded_latency", "--degraded-latency", "INTERCOM_HEALTHD_DEGRADED_LATENCY",
	  TYPE_DURATION, FIELD(degraded_latency_ms), .min = 1, .max = DURATION_MAX_MS,
	  .def = "3s", .help = "slower successful probes are degraded" },
	{ "rate_limit_low", "--rate-limit-low", "INTERCOM_HEALTHD_RATE_LIMIT_LOW",
	  TYPE_PERCENT, FIELD(rate_limit_low), .min = 0, .max = 100, .def = "10",
	  .help = "quota remaining below this is degraded" },
	{ "failure_threshold", "--failure-threshold", "INTERCOM_HEALTHD_FAILURE_THRESHOLD",
	  TYPE_INT, FIELD(failure_threshold), .min = 1, .max = 1000, .def = "1",
	  .help = "bad probes in a row before the state worsens" },
	{ "success_threshold", "--success-threshold", "INTERCOM_HEALTHD_SUCCESS_THRESHOLD",
	  TYPE_INT, FIELD(success_threshold), .min = 1, .max = 1000, .def = "1",
	  .help = "good probes in a row before it recovers" },
	{ "stale_after", "--stale-after", "INTERCOM_HEALTHD_STALE_AFTER",
	  TYPE_DURATION, FIELD(stale_after_ms), .min = 1, .max = DURATION_MAX_MS,
	  .computed = "2*interval + timeout",
	  .help = "no finished probe this long: unhealthy, /livez 503" },
	/* Statuspage and the webhook are other people's servers: once a
	 * second is already more than they deserve. */
	{ "status_interval", "--status-interval", "INTERCOM_HEALTHD_STATUS_INTERVAL",
	  TYPE_DURATION, FIELD(status_interval_ms), .min = 1000, .max = DURATION_MAX_MS,
	  .def = "60s", .help = "how often the status page and webhook are read" },
	{ "degraded_ok", "--degraded-ok", "INTERCOM_HEALTHD_DEGRADED_OK",
	  TYPE_BOOL, FIELD(degraded_ok), .def = "false",
	  .help = "answer 200 while degraded" },
	{ "status_url", "--status-url", "INTERCOM_HEALTHD_STATUS_URL",
	  TYPE_URL, FIELD(status_url), F_OFF,
	  .def = "https://www.intercomstatus.com/api/v2/status.json",
	  .help = "Intercom's Statuspage status.json" },
	{ "webhook_url", "--webhook-url", "INTERCOM_HEALTHD_WEBHOOK_URL",
	  TYPE_URL, FIELD(webhook_url), F_OPTIONAL,
	  .help = "your webhook endpoint, HEAD-probed (informational)" },
	{ "webhook_secret_file", "--webhook-secret-file", "INTERCOM_HEALTHD_WEBHOOK_SECRET_FILE",
	  TYPE_SECRET_FILE, FIELD(webhook_secret_file), F_OPTIONAL, .arg = "FILE",
	  .help = "the app's client secret (preflight; or env " ENV_WEBHOOK_SECRET ")" },
	{ "required_paths", "--required-paths", "INTERCOM_HEALTHD_REQUIRED_PATHS",
	  TYPE_TEXT, FIELD(required_paths), F_OPTIONAL | F_URL_PATH | F_LIST,
	  .arg = "PATH,...",
	  .help = "comma-separated API paths the integration needs, for the scopes"
		  " preflight item" },
	{ "log_format", "--log-format", "INTERCOM_HEALTHD_LOG_FORMAT",
	  TYPE_CHOICE, FIELD(log_format), .choices = log_formats, .def = "text",
	  .help = "stderr lines, or one JSON object a line" },
	{ "log_level", "--log-level", "INTERCOM_HEALTHD_LOG_LEVEL",
	  TYPE_CHOICE, FIELD(log_level), .choices = log_levels, .def = "info",
	  .help = "least severe messages logged" },
	{ "http_threads", "--http-threads", "INTERCOM_HEALTHD_HTTP_THREADS",
	  TYPE_INT, FIELD(http_threads), .min = 1, .max = 64, .def = "1",
	  .help = "threads serving HTTP" },
	{ "max_connections", "--max-connections", "INTERCOM_HEALTHD_MAX_CONNECTIONS",
	  TYPE_INT, FIELD(max_connections), .min = 1, .max = 1000000, .def = "4096",
	  .help = "concurrent HTTP connections" },
	/* libmicrohttpd counts its idle timeout in whole seconds. */
	{ "connection_timeout", "--connection-timeout", "INTERCOM_HEALTHD_CONNECTION_TIMEOUT",
	  TYPE_DURATION, FIELD(connection_timeout_ms), .min = 1000, .max = DURATION_MAX_MS,
	  .def = "10s", .help = "idle HTTP connections close" },
	/* /history serves every kept probe in one answer: 100000 keeps it,
	 * and the memory behind it, to a few megabytes. */
	{ "history_size", "--history-size", "INTERCOM_HEALTHD_HISTORY_SIZE",
	  TYPE_INT, FIELD(history_size), .min = 10, .max = 100000, .def = "240",
	  .help = "probes kept for /history and the status page" },
};

#define SETTING_COUNT (sizeof(settings_table) / sizeof(settings_table[0]))

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

/* A rejected value or word, quoted. */
static char *
quote(const char *text)
{
	return text_show(text, strlen(text), true, ECHO_ARGUMENT_MAX);
}

/* An unknown key or flag, bare. */
static char *
show(const char *text)
{
	return text_show(text, strlen(text), false, ECHO_ARGUMENT_MAX);
}

/* A path: longer than a value may be, but still bounded. */
static char *
show_path(const char *text)
{
	return text_show(text, strlen(text), false, TEXT_SHOW_PATH_MAX);
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
 * Takes a secret from the environment, validated like a file's content
 * (a trailing newline from `$(cat file)` or a Kubernetes secret is
 * dropped). Errors name the variable, never the value.
 */
static int
secret_from_env(struct loader *ld, const char *setting, const char *name,
		const char *value, char **out)
{
	size_t len = secret_trim(value, strlen(value));
	size_t at = 0;
	const char *problem = secret_problem(value, len, &at);
	if (problem && len == 0)
		return fail(ld, "%s: empty (from env %s)", setting, name);
	if (problem)
		return fail(ld, "%s: %s at byte %zu (from env %s)", setting, problem, at, name);
	*out = xstrndup(value, len);
	return 0;
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
static const char *
url_problem(const char *url, char *buf, size_t size)
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
set_raw(struct loader *ld, size_t id, const char *value, enum level level,
	const char *source)
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
find_by_key(const char *key)
{
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		if (strcmp(settings_table[i].key, key) == 0)
			return (int)i;
	}
	return -1;
}

/* The row of a setting a named check needs. The key is a literal in this
 * file: a typo aborts every test run. */
static size_t
row_of(const char *key)
{
	int id = find_by_key(key);
	if (id < 0)
		abort();
	return (size_t)id;
}

/* getopt_long()'s codes: the options that are not settings, then one per
 * row of the table. */
enum {
	OPT_WORD = 1,           /* a non-option, in the "-" mode of getopt_long */
	OPT_CONFIG = 0x100,
	OPT_FORMAT,
	OPT_SCAN,
	OPT_HEALTH_URL,
	OPT_STRICT,
	OPT_TOKEN,
	OPT_WEBHOOK_SECRET,
	OPT_SETTING = 0x200,    /* + the row's index */
};

/* Command options: no environment or config-file spelling. */
static const struct option command_options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "scan", required_argument, NULL, OPT_SCAN },
	{ "health-url", required_argument, NULL, OPT_HEALTH_URL },
	{ "strict", optional_argument, NULL, OPT_STRICT },
	/* Known only to be refused. Spelled out, they also keep getopt_long
	 * from reading --token=X as an abbreviation of --token-file=X. The
	 * optional argument is never read: a separate word stays unconsumed. */
	{ "token", optional_argument, NULL, OPT_TOKEN },
	{ "access-token", optional_argument, NULL, OPT_TOKEN },
	{ "intercom-access-token", optional_argument, NULL, OPT_TOKEN },
	{ "webhook-secret", optional_argument, NULL, OPT_WEBHOOK_SECRET },
};

#define COMMAND_OPTION_COUNT (sizeof(command_options) / sizeof(command_options[0]))

static void
build_options(struct option *opts)
{
	size_t n = 0;
	for (size_t i = 0; i < COMMAND_OPTION_COUNT; i++)
		opts[n++] = command_options[i];
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &settings_table[i];
		opts[n++] = (struct option){
			/* A boolean takes its value only after '=': the next
			 * word is never read as one. */
			d->flag + 2, d->type == TYPE_BOOL ? optional_argument :
							    required_argument,
			NULL, OPT_SETTING + (int)i,
		};
	}
	opts[n] = (struct option){ 0 };
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
	int rc = fail(ld, "%s: unknown option (see --help)", shown);
	free(shown);
	return rc;
}

/* No command takes positional arguments. at counts from 1. */
static int
unexpected_word(struct loader *ld, const char *word, int at, const char *bare_boolean)
{
	size_t len = strlen(word);
	if (len > ECHO_ARGUMENT_MAX)
		return fail(ld, "argument %d: unexpected argument of %zu characters"
			    " (see --help)", at, len);
	char *q = quote(word);
	char *shown = show(word);
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

static int
command_option_value(struct loader *ld, int code, const char *flag, const char *value)
{
	struct settings *s = ld->s;
	int rc = 0;

	if (code == OPT_CONFIG) {
		free(ld->config_flag);
		ld->config_flag = xstrdup(value);
	} else if (code == OPT_FORMAT) {
		if (strcmp(value, "text") == 0) {
			s->format = OUTPUT_FORMAT_TEXT;
		} else if (strcmp(value, "json") == 0) {
			s->format = OUTPUT_FORMAT_JSON;
		} else if (strcmp(value, "junit") == 0 && ld->cmd == COMMAND_PREFLIGHT) {
			s->format = OUTPUT_FORMAT_JUNIT;
		} else {
			char *q = quote(value);
			rc = fail(ld, "%s: invalid %s: use %s", flag, q,
				  ld->cmd == COMMAND_PREFLIGHT ? "text, json or junit" :
								 "text or json");
			free(q);
		}
	} else if (code == OPT_SCAN) {
		struct stat st;
		if (stat(value, &st) < 0) {
			char *p = show_path(value);
			rc = fail(ld, "%s: cannot read %s: %s", flag, p, strerror(errno));
			free(p);
		} else {
			free(s->scan_dir);
			s->scan_dir = xstrdup(value);
		}
	} else if (code == OPT_HEALTH_URL) {
		char why[128];
		const char *problem = url_problem(value, why, sizeof(why));
		if (problem) {
			char *q = quote(value);
			rc = fail(ld, "%s: invalid URL %s: %s", flag, q, problem);
			free(q);
		} else {
			free(s->health_url);
			s->health_url = xstrdup(value);
		}
	}
	return rc;
}

/* A command option; value is NULL when it is missing (or, for --strict,
 * when the flag came alone). */
static int
command_option(struct loader *ld, int code, const char *flag, const char *value)
{
	if ((code == OPT_FORMAT && ld->cmd == COMMAND_SERVE) ||
	    ((code == OPT_SCAN || code == OPT_HEALTH_URL || code == OPT_STRICT) &&
	     ld->cmd != COMMAND_PREFLIGHT))
		return fail(ld, "%s: not an option of %s (see --help)", flag,
			    command_name(ld->cmd));

	if (code == OPT_STRICT) {
		if (!value) {
			ld->s->strict = true;
		} else if (!settings_parse_bool(value, &ld->s->strict)) {
			char *q = quote(value);
			int rc = fail(ld, "%s: invalid boolean %s: " BOOL_HINT, flag, q);
			free(q);
			return rc;
		}
		return 0;
	}
	if (!value)
		return fail(ld, "%s: missing value: use %s=VALUE or %s VALUE", flag, flag, flag);
	return command_option_value(ld, code, flag, value);
}

/* A setting's flag; value as for command_option(). */
static int
setting_option(struct loader *ld, size_t id, const char *value)
{
	const struct setting_def *d = &settings_table[id];
	if (!value && d->type == TYPE_BOOL)
		value = "true";
	if (!value)
		return fail(ld, "%s: missing value (from flag %s): use %s=VALUE or %s VALUE",
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
	if (code == OPT_TOKEN) {
		/* The name alone: what follows '=' is the token. */
		char *shown = text_show(arg, strcspn(arg, "="), false, ECHO_ARGUMENT_MAX);
		int rc = fail(ld, "%s: " TOKEN_ARGV_ERROR, shown);
		free(shown);
		return rc;
	}
	if (code == OPT_WEBHOOK_SECRET)
		return fail(ld, "--webhook-secret: the webhook secret is never accepted"
			    " on the command line (argv is world-readable); use "
			    ENV_WEBHOOK_SECRET " or --webhook-secret-file");
	/* A next word that is itself an option means the value was forgotten. */
	if (from_next_word && value && strncmp(value, "--", 2) == 0)
		value = NULL;
	if (code >= OPT_SETTING)
		return setting_option(ld, (size_t)(code - OPT_SETTING), value);
	char *flag = xstrndup(arg, strcspn(arg, "="));
	int rc = command_option(ld, code, flag, value);
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

	struct option opts[COMMAND_OPTION_COUNT + SETTING_COUNT + 1];
	build_options(opts);
	/* The boolean flag just seen without '=', for the hint. */
	const char *bare_boolean = NULL;
	int rc = 0;

	/* Our one-line messages are the only output; 0 restarts the scan
	 * (settings_load() may run many times in one process). */
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
			if (rc == 0 && !optarg && (code == OPT_STRICT ||
			    (code >= OPT_SETTING &&
			     settings_table[code - OPT_SETTING].type == TYPE_BOOL)))
				bare_boolean = av[at];
		}
	}
	/* After "--", every word is an unexpected one. */
	if (rc == 0 && optind < n)
		rc = unexpected_word(ld, av[optind], optind, NULL);
	free(av);
	return rc;
}

static void
read_env(struct loader *ld)
{
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const char *value = env_lookup(ld->envp, settings_table[i].env);
		if (!value)
			continue;
		char *source = xasprintf("env %s", settings_table[i].env);
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
		secret_wipe(text, size);
		free(text);
	}
	free(shown);
	return rc;
}
/* ---- the table pass --------------------------------------------------- */

/* The winning text of a setting (NULL: unset) and where it came from. */
static const char *
value_of(const struct loader *ld, size_t id, const char **source)
{
	const struct raw *r = &ld->raw[id];
	const char *v = r->set ? r->value : settings_table[id].def;
	*source = r->set ? r->source : "default";
	if (v && *v == '\0' && (settings_table[id].flags & F_OPTIONAL))
		return NULL;
	return v;
}

/* Does the row keep a string (freed by settings_finish())? */
static bool
holds_string(enum setting_type type)
{
	return type == TYPE_NAME || type == TYPE_TEXT || type == TYPE_URL ||
	       type == TYPE_STRING || type == TYPE_SECRET_FILE;
}

/* The choices joined, "a, b or c" or "a|b|c", aliases left out. */
static const char *
join_choices(const struct setting_def *d, const char *sep, const char *last,
	     char *buf, size_t size)
{
	size_t count = 0, len = 0;
	for (const struct choice *c = d->choices; c->name; c++)
		count += !c->alias;
	buf[0] = '\0';
	for (const struct choice *c = d->choices; c->name && len < size; c++) {
		if (c->alias)
			continue;
		const char *before = len == 0 ? "" : --count == 1 ? last : sep;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", before, c->name);
	}
	return buf;
}

static int
parse_duration_row(struct loader *ld, const struct setting_def *d, const char *v,
		   const char *src, int64_t *out)
{
	int64_t ms;
	if (!settings_parse_duration(v, &ms)) {
		char *q = quote(v);
		int rc = fail(ld, "%s: invalid duration %s (from %s): " DURATION_HINT,
			      d->key, q, src);
		free(q);
		return rc;
	}
	char text[32], limit[32];
	format_duration(ms, text, sizeof(text));
	if (ms == 0)
		return fail(ld, "%s: %s (from %s) must be greater than 0", d->key, text, src);
	if (ms < d->min) {
		format_duration(d->min, limit, sizeof(limit));
		return fail(ld, "%s: %s (from %s) must be at least %s", d->key, text, src, limit);
	}
	if (ms > d->max) {
		format_duration(d->max, limit, sizeof(limit));
		return fail(ld, "%s: %s (from %s) must be at most %s", d->key, text, src, limit);
	}
	*out = ms;
	return 0;
}

static int
parse_int_row(struct loader *ld, const struct setting_def *d, const char *v,
	      const char *src, int *out)
{
	bool percent = d->type == TYPE_PERCENT;
	char *digits = xstrdup(v);
	size_t len = strlen(digits);
	if (percent && len > 1 && digits[len - 1] == '%')
		digits[len - 1] = '\0';
	int64_t n;
	int rc = 0;
	if (!parse_count(digits, &n)) {
		char *q = quote(v);
		rc = fail(ld, "%s: invalid number %s (from %s): use a whole %s %" PRId64
			  "-%" PRId64, d->key, q, src, percent ? "percent" : "number",
			  d->min, d->max);
		free(q);
	} else if (n < d->min || n > d->max) {
		rc = fail(ld, "%s: %s (from %s) must be between %" PRId64 " and %" PRId64,
			  d->key, digits, src, d->min, d->max);
	} else {
		*out = (int)n;
	}
	free(digits);
	return rc;
}

static int
parse_bool_row(struct loader *ld, const struct setting_def *d, const char *v,
	       const char *src, bool *out)
{
	if (settings_parse_bool(v, out))
		return 0;
	char *q = quote(v);
	int rc = fail(ld, "%s: invalid boolean %s (from %s): " BOOL_HINT, d->key, q, src);
	free(q);
	return rc;
}

/* Case-insensitive; TYPE_NAME keeps the choice's own spelling. */
static int
parse_choice_row(struct loader *ld, const struct setting_def *d, const char *v,
		 const char *src, void *field)
{
	for (const struct choice *c = d->choices; c->name; c++) {
		if (strcasecmp(v, c->name) != 0)
			continue;
		if (d->type == TYPE_NAME)
			*(char **)field = xstrdup(c->name);
		else
			memcpy(field, &c->value, sizeof(int));
		return 0;
	}
	char hint[256];
	char *q = quote(v);
	int rc = fail(ld, "%s: invalid value %s (from %s): use %s", d->key, q, src,
		      join_choices(d, ", ", " or ", hint, sizeof(hint)));
	free(q);
	return rc;
}

/* Does every item (every comma-separated one, with F_LIST) start with '/'? */
static bool
is_url_path(const struct setting_def *d, const char *v)
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

/* A header value or a URL path goes out as it is: visible ASCII only. */
static int
parse_text_row(struct loader *ld, const struct setting_def *d, const char *v,
	       const char *src, char **out)
{
	size_t at = 0;
	int rc = 0;
	char *q = quote(v);
	if (secret_problem(v, strlen(v), &at))
		rc = fail(ld, "%s: invalid value %s (from %s): use visible ASCII without"
			  " spaces%s%s", d->key, q, src, d->def ? ", e.g. " : "",
			  d->def ? d->def : "");
	else if ((d->flags & F_URL_PATH) && !is_url_path(d, v))
		rc = fail(ld, "%s: %s (from %s)%s must start with '/'", d->key, q, src,
			  (d->flags & F_LIST) ? ": each comma-separated path" : "");
	else
		*out = xstrdup(v);
	free(q);
	return rc;
}

static int
parse_url_row(struct loader *ld, const struct setting_def *d, const char *v,
	      const char *src, char **out)
{
	char why[128];
	const char *problem = url_problem(v, why, sizeof(why));
	int rc = 0;
	char *q = quote(v);
	if (problem)
		rc = fail(ld, "%s: invalid URL %s (from %s): %s", d->key, q, src, problem);
	else if ((d->flags & F_HTTPS_ONLY) && strncasecmp(v, "https://", 8) != 0)
		rc = fail(ld, "%s: %s (from %s) must start with https://: the bearer"
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
	const struct setting_def *d = &settings_table[id];
	void *field = (char *)ld->s + d->offset;
	const char *src;
	const char *v = value_of(ld, id, &src);

	/* Unset: optional, or a default that a named check computes. */
	if (!v || ((d->flags & F_OFF) && strcasecmp(v, "off") == 0))
		return 0;
	if (!*v)
		return fail(ld, "%s: empty value (from %s)", d->key, src);

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

/* ---- checks beyond one row -------------------------------------------- */

/* An api_url from any source beats the region from any source: it is the
 * more specific of the two (a proxy, a test server). */
static void
apply_region(struct loader *ld)
{
	struct settings *s = ld->s;
	if (ld->raw[row_of("api_url")].set)
		return;
	for (const struct choice *c = regions; c->name; c++) {
		if (strcmp(c->name, s->region) == 0) {
			free(s->api_url);
			s->api_url = xstrdup(region_urls[c->value]);
		}
	}
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


/* Checked here so a typo or a junk file fails at startup, not at every
 * probe as a TLS error. */
static int
check_ca_file(struct loader *ld)
{
	const char *path = ld->s->ca_file;
	if (!path)
		return 0;
	const char *src;
	value_of(ld, row_of("ca_file"), &src);

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
	}
	free(pem);
	free(shown);
	return rc;
}

/* Where the host and the port of a listen address are, or why not. */
static const char *
split_listen(const char *v, const char **host, const char **host_end,
	     const char **port)
{
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close || close == v + 1 || close[1] != ':')
			return "use HOST:PORT or [IPv6]:PORT";
		*host = v + 1;
		*host_end = close;
		*port = close + 2;
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon || colon == v)
			return "use HOST:PORT or [IPv6]:PORT";
		if (memchr(v, ':', (size_t)(colon - v)))
			return "put an IPv6 address in brackets, e.g. [::1]:9180";
		*host = v;
		*host_end = colon;
		*port = colon + 1;
	}
	for (const char *p = *host; p < *host_end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '[' || c == ']')
			return "use HOST:PORT or [IPv6]:PORT";
	}
	return NULL;
}

/* listen into listen_host and listen_port. */
static int
check_listen(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *v = s->listen;
	const char *src;
	value_of(ld, row_of("listen"), &src);

	const char *host = NULL, *host_end = NULL, *port = NULL;
	const char *problem = split_listen(v, &host, &host_end, &port);
	int64_t n = 0;
	int rc = 0;
	char *q = quote(v);
	if (problem) {
		rc = fail(ld, "listen: invalid address %s (from %s): %s", q, src, problem);
	} else if (!parse_count(port, &n)) {
		rc = fail(ld, "listen: invalid port in %s (from %s): use a number 0-65535",
			  q, src);
	} else if (n > 65535) {
		char *shown = show(port);
		rc = fail(ld, "listen: port %s (from %s) must be between 0 and 65535",
			  shown, src);
		free(shown);
	}
	if (rc < 0)
		goto out;

	/* A numeric address (or localhost, its one well-known name): the
	 * listen address must never wait on DNS, and a typo such as
	 * 999.1.1.1 is a settings error, not a failure to bind. */
	char *name = xstrndup(host, (size_t)(host_end - host));
	unsigned char addr[sizeof(struct in6_addr)];
	bool v6 = v[0] == '[';
	if (strcasecmp(name, "localhost") == 0) {
		free(name);
		name = xstrdup("127.0.0.1");
	} else if (inet_pton(v6 ? AF_INET6 : AF_INET, name, addr) != 1) {
		rc = fail(ld, "listen: invalid address %s (from %s): use a numeric %s"
			  " address, e.g. %s", q, src, v6 ? "IPv6" : "IPv4",
			  v6 ? "[::1]:9180" : "127.0.0.1:9180");
		free(name);
		goto out;
	}
	s->listen_host = name;
	s->listen_port = (uint16_t)n;
out:
	free(q);
	return rc;
}

/* timeout against interval, and stale_after's default and minimum. */
static int
check_timing(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *interval_src, *timeout_src;
	value_of(ld, row_of("interval"), &interval_src);
	value_of(ld, row_of("timeout"), &timeout_src);
	char interval[32], timeout[32];
	format_duration(s->interval_ms, interval, sizeof(interval));
	format_duration(s->timeout_ms, timeout, sizeof(timeout));

	/* A probe still running when the next is due would overlap it.
	 * check probes once: interval means nothing to it, and a
	 * monitoring plugin's -t/--timeout=20 must not fail on it. */
	if (ld->cmd != COMMAND_CHECK && s->timeout_ms >= s->interval_ms)
		return fail(ld, "timeout: %s (from %s) must be less than interval %s (from %s)",
			    timeout, timeout_src, interval, interval_src);

	if (!s->stale_after_ms) {
		s->stale_after_ms = 2 * s->interval_ms + s->timeout_ms;
		return 0;
	}
	/* The longest healthy gap between two finished probes is one
	 * interval stretched by the full 10% jitter, plus a probe that runs
	 * to its timeout; anything shorter flaps /livez on a daemon that
	 * works. */
	int64_t min = s->interval_ms + (s->interval_ms + 9) / 10 + s->timeout_ms;
	if (s->stale_after_ms >= min)
		return 0;
	const char *src;
	value_of(ld, row_of("stale_after"), &src);
	char stale[32], minimum[32];
	format_duration(s->stale_after_ms, stale, sizeof(stale));
	format_duration(min, minimum, sizeof(minimum));
	return fail(ld, "stale_after: %s (from %s) must be at least %s"
		    " (interval %s (from %s) + 10%% jitter + timeout %s (from %s))",
		    stale, src, minimum, interval, interval_src, timeout, timeout_src);
}

static int
resolve_token(struct loader *ld)
{
	struct settings *s = ld->s;
	const char *src;
	const char *path = value_of(ld, row_of("token_file"), &src);
	char *credential = NULL;
	char *reason = NULL;
	int rc = 0;

	/* token_file from any source, its default (the systemd credential,
	 * if one was passed) included, wins over the environment: a
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

	rc = secret_read_file(path, &s->token, &reason);
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
	const char *path = value_of(ld, row_of("webhook_secret_file"), &src);

	if (!path) {
		const char *env = env_lookup(ld->envp, ENV_WEBHOOK_SECRET);
		if (!env)
			return 0;
		return secret_from_env(ld, "webhook_secret", ENV_WEBHOOK_SECRET, env,
				       &s->webhook_secret);
	}

	char *reason = NULL;
	int rc = secret_read_file(path, &s->webhook_secret, &reason);
	if (rc < 0) {
		rc = fail(ld, "webhook_secret_file: %s (from %s)", reason, src);
		free(reason);
		return rc;
	}
	s->webhook_secret_file = xstrdup(path);
	return 0;
}


/*
 * The free-text settings (TYPE_TEXT and TYPE_URL rows) are logged at
 * start-up and sent over the network (URLs to their servers, the rest in
 * the probe): one that holds the access token (or a piece of it: tokens
 * are random, settings are not) or the webhook secret would leak it.
 * Refused, without showing the value.
 */
/* Which secret value holds a fragment of (see secret_leaks()), or NULL. */
static const char *
secret_in(const struct settings *s, const char *env_token, const char *value)
{
	if (!value)
		return NULL;
	if (secret_leaks(value, s->webhook_secret))
		return "the webhook secret";
	if (secret_leaks(value, s->token) || secret_leaks(value, env_token))
		return "the access token";
	return NULL;
}

static int
check_no_secret_in_values(struct loader *ld)
{
	const struct settings *s = ld->s;
	/* The environment's token counts even where a token file wins over
	 * it: it is a secret all the same. */
	const char *env_token = env_lookup(ld->envp, ENV_TOKEN);
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &settings_table[i];
		if (d->type != TYPE_TEXT && d->type != TYPE_URL)
			continue;
		const char *value = *(char *const *)((const char *)s + d->offset);
		const char *what = secret_in(s, env_token, value);
		if (what) {
			const char *src;
			value_of(ld, i, &src);
			return fail(ld, "%s: the value (from %s) holds %s, or part of it:"
				    " refusing to log it or send it anywhere", d->key, src,
				    what);
		}
	}
	/* preflight's own options, from the command line only. */
	const struct { const char *flag, *value; } extra[] = {
		{ "--health-url", s->health_url },
		{ "--scan", s->scan_dir },
	};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		const char *what = secret_in(s, env_token, extra[i].value);
		if (what)
			return fail(ld, "%s: the value holds %s, or part of it: refusing"
				    " to log it or send it anywhere", extra[i].flag, what);
	}
	return 0;
}

static int
resolve_all(struct loader *ld)
{
	int rc;
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		if ((rc = resolve_row(ld, i)) < 0)
			return rc;
	}
	apply_region(ld);
	if ((rc = check_ca_file(ld)) < 0 ||
	    (rc = check_listen(ld)) < 0 ||
	    (rc = check_timing(ld)) < 0 ||
	    (rc = resolve_token(ld)) < 0 ||
	    (rc = resolve_webhook_secret(ld)) < 0)
		return rc;
	return check_no_secret_in_values(ld);
}

/* Redacts the secret in the file a setting names, if it can be read. */
static void
redact_file_secret(struct loader *ld, const char *path)
{
	char *secret = NULL;
	if (path && secret_read_file(path, &secret, NULL) == 0) {
		secret_redact_alloc(&ld->err, secret);
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
	secret_redact_alloc(&ld->err, env_lookup(ld->envp, ENV_TOKEN));
	secret_redact_alloc(&ld->err, env_lookup(ld->envp, ENV_WEBHOOK_SECRET));
	secret_redact_alloc(&ld->err, ld->s->token);
	secret_redact_alloc(&ld->err, ld->s->webhook_secret);
	if (!ld->s->token) {
		redact_file_secret(ld, value_of(ld, row_of("token_file"), &src));
		const char *dir = env_lookup(ld->envp, "CREDENTIALS_DIRECTORY");
		if (dir && *dir) {
			char *credential = xasprintf("%s/" CREDENTIAL_NAME, dir);
			redact_file_secret(ld, credential);
			free(credential);
		}
	}
	if (!ld->s->webhook_secret)
		redact_file_secret(ld, value_of(ld, row_of("webhook_secret_file"), &src));
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
	for (size_t i = 0; i < SETTING_COUNT; i++) {
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
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		if (holds_string(settings_table[i].type))
			free(*(char **)((char *)s + settings_table[i].offset));
	}
	secret_free(s->token);
	secret_free(s->webhook_secret);
	free(s->token_origin);
	free(s->listen_host);
	free(s->config_file);
	free(s->scan_dir);
	free(s->health_url);
	memset(s, 0, sizeof(*s));
}

/* ---- logging and --help ----------------------------------------------- */

/* A row's value as the log shows it (in buf, or a constant). */
static const char *
format_value(const struct setting_def *d, const struct settings *s, char *buf,
	     size_t size)
{
	const void *field = (const char *)s + d->offset;
	const char *text;
	int n;

	switch (d->type) {
	case TYPE_DURATION:
		format_duration(*(const int64_t *)field, buf, size);
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
		for (const struct choice *c = d->choices; c->name; c++) {
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

void
settings_log(const struct settings *s)
{
	char url[1024], interval[32], timeout[32], value[1024];
	format_duration(s->interval_ms, interval, sizeof(interval));
	format_duration(s->timeout_ms, timeout, sizeof(timeout));

	/* Each part spelled as on its debug line below, so one grep finds
	 * "token: set" at either level. */
	log_info("settings: token: %s%s%s; config: %s; api_url: %s (region %s);"
		 " interval: %s; timeout: %s; listen: %s",
		 s->token ? "set (" : "unset",
		 s->token ? (s->token_origin ? s->token_origin : "unknown") : "",
		 s->token ? ")" : "", s->config_file ? s->config_file : "none",
		 s->api_url ? text_url_masked(s->api_url, url, sizeof(url)) : "-",
		 s->region ? s->region : "-", interval, timeout,
		 s->listen ? s->listen : "-");

	log_debug("config: %s", s->config_file ? s->config_file : "none");
	if (s->token)
		log_debug("token: set (%s)", s->token_origin ? s->token_origin : "unknown");
	else
		log_debug("token: unset");
	if (s->webhook_secret && s->webhook_secret_file)
		log_debug("webhook_secret: set (file %s)", s->webhook_secret_file);
	else if (s->webhook_secret)
		log_debug("webhook_secret: set (env " ENV_WEBHOOK_SECRET ")");
	else
		log_debug("webhook_secret: unset");
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &settings_table[i];
		log_debug("%s: %s", d->key, format_value(d, s, value, sizeof(value)));
	}
}

#define USAGE_WIDTH 80
#define USAGE_HELP_COLUMN 29

/* "  --flag ARG" padded to the help column, then help wrapped under it. */
static void
usage_entry(FILE *out, const char *left, const char *help)
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
placeholder(const struct setting_def *d, char *buf, size_t size)
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
settings_usage(FILE *out)
{
	char left[128], arg[128], help[512];

	fputs("Options (each also INTERCOM_HEALTHD_<NAME> in the environment and <name> in\n"
	      "the config file; flags win over the environment, which wins over the file):\n",
	      out);
	usage_entry(out, "--config FILE",
		    "config file of `key = value` lines (or env " ENV_CONFIG ")");
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &settings_table[i];
		snprintf(left, sizeof(left), "%s%s", d->flag, placeholder(d, arg, sizeof(arg)));
		int n = snprintf(help, sizeof(help), "%s", d->help);
		if (d->type == TYPE_INT || d->type == TYPE_PERCENT)
			n += snprintf(help + n, sizeof(help) - (size_t)n,
				      " (%" PRId64 "-%" PRId64 ")", d->min, d->max);
		if (d->def || d->computed)
			snprintf(help + n, sizeof(help) - (size_t)n, " [%s]",
				 d->def ? d->def : d->computed);
		usage_entry(out, left, help);
	}
	fputs("\n"
	      "check:     --format text|json, -t/--timeout DUR, -w/--warning DUR,\n"
	      "           -c/--critical DUR (latency thresholds), -v, -V;\n"
	      "           exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
	      "preflight: --format text|json|junit, --strict, --scan DIR, --health-url URL\n"
	      "\n"
	      "Durations: 250ms, 5s, 2m, 1h or seconds. Booleans: true/false, yes/no,\n"
	      "on/off, 1/0. See intercom-healthd(8).\n", out);
}
