#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stddef.h>
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
#include "history.h"
#include "log.h"
#include "mem.h"
#include "secret.h"
#include "settings.h"

/*
 * The daemon's settings: the table loader.c reads (one row per setting,
 * with what a reload does with it), and what one row cannot say, run
 * after the table pass in resolve_all(): checks across settings, the
 * listen address, the CA bundle, and the secrets, which are read from
 * their files or the environment and never shown.
 */

/* The system CA bundle is about 200 KiB; a private one is smaller. */
#define CA_FILE_MAX (8 * 1024 * 1024)

#define CREDENTIAL_NAME "intercom-access-token"
#define ENV_TOKEN "INTERCOM_ACCESS_TOKEN"
#define ENV_WEBHOOK_SECRET "INTERCOM_WEBHOOK_SECRET"
#define ENV_CONFIG "INTERCOM_HEALTHD_CONFIG"

#define DURATION_MAX_MS LOADER_DURATION_MAX_MS
#define TOKEN_ARGV_ERROR \
	"the token is never accepted on the command line (argv is world-readable); " \
	"use INTERCOM_ACCESS_TOKEN or --token-file"
#define NO_TOKEN_ERROR \
	"no access token: set INTERCOM_ACCESS_TOKEN, token_file, or the systemd " \
	"credential " CREDENTIAL_NAME

#define FIELD(name) offsetof(struct settings, name)

/* A choice is stored into an enum field as an int. */
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum log_format is an int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is an int");

static const struct loader_choice log_formats[] = {
	{ "text", LOG_FORMAT_TEXT },
	{ "json", LOG_FORMAT_JSON },
	{ NULL },
};

static const struct loader_choice log_levels[] = {
	{ "debug", LOG_LEVEL_DEBUG },
	{ "info", LOG_LEVEL_INFO },
	{ "warning", LOG_LEVEL_WARNING },
	{ "warn", LOG_LEVEL_WARNING, .alias = true },
	{ "error", LOG_LEVEL_ERROR },
	{ NULL },
};

/* A region's value is its index in region_urls. */
static const struct loader_choice regions[] = {
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
	for (const struct loader_choice *c = regions; c->name; c++)
		if (strcasecmp(api_url, region_urls[c->value]) == 0)
			return c->name;
	return NULL;
}

const char *
settings_region_at(size_t i, const char **url)
{
	if (i >= sizeof(regions) / sizeof(regions[0]) - 1)
		return NULL;
	*url = region_urls[regions[i].value];
	return regions[i].name;
}

/* In the order of config/intercom-healthd.conf, the man page and --help. */
static const struct loader_row settings_table[] = {
	{ "token_file", "--token-file", "INTERCOM_HEALTHD_TOKEN_FILE",
	  TYPE_SECRET_FILE, FIELD(token_file), F_OPTIONAL, .arg = "FILE",
	  .reload = RELOAD_PROBE,
	  .help = "file holding the access token (re-read on change, SIGHUP)" },
	{ "api_url", "--api-url", "INTERCOM_HEALTHD_API_URL",
	  TYPE_URL, FIELD(api_url), F_HTTPS_ONLY | F_BASE_URL,
	  .reload = RELOAD_PROBE,
	  .def = "https://api.intercom.io",
	  .help = "API base URL, https:// only; wins over region" },
	{ "region", "--region", "INTERCOM_HEALTHD_REGION",
	  TYPE_NAME, FIELD(region), .choices = regions, .def = "us",
	  .reload = RELOAD_PROBE,
	  .help = "shortcut for the regional API host" },
	{ "api_version", "--api-version", "INTERCOM_HEALTHD_API_VERSION",
	  TYPE_TEXT, FIELD(api_version), .def = "2.14", .arg = "V",
	  .reload = RELOAD_PROBE,
	  .help = "Intercom-Version header" },
	{ "probe_path", "--probe-path", "INTERCOM_HEALTHD_PROBE_PATH",
	  TYPE_TEXT, FIELD(probe_path), F_URL_PATH, .def = "/me", .arg = "PATH",
	  .reload = RELOAD_PROBE,
	  .help = "authenticated GET used as the probe" },
	{ "ca_file", "--ca-file", "INTERCOM_HEALTHD_CA_FILE",
	  TYPE_STRING, FIELD(ca_file), F_OPTIONAL, .arg = "FILE",
	  .reload = RELOAD_PROBE,
	  .help = "extra CA bundle, PEM (added to the system store)" },
	{ "connect_to", "--connect-to", "INTERCOM_HEALTHD_CONNECT_TO",
	  TYPE_TEXT, FIELD(connect_to), F_OPTIONAL | F_LIST | F_CONNECT_TO,
	  .arg = "HOST:PORT:CHOST:CPORT,...", .reload = RELOAD_PROBE,
	  .help = "where a host is really reached (curl CONNECT_TO); TLS still"
		  " verifies the named host" },
	{ "listen", "--listen", "INTERCOM_HEALTHD_LISTEN",
	  TYPE_STRING, FIELD(listen), .def = "127.0.0.1:9180", .arg = "HOST:PORT",
	  .reload = RELOAD_RESTART,
	  .help = "HTTP listen address, or [IPv6]:PORT" },
	{ "interval", "--interval", "INTERCOM_HEALTHD_INTERVAL",
	  TYPE_DURATION, FIELD(interval_ms), .min = 1, .max = DURATION_MAX_MS,
	  .reload = RELOAD_PROBE,
	  .def = "15s", .help = "time between probes, +0-10% jitter" },
	{ "timeout", "--timeout", "INTERCOM_HEALTHD_TIMEOUT",
	  TYPE_DURATION, FIELD(timeout_ms), .min = 1, .max = DURATION_MAX_MS,
	  .reload = RELOAD_PROBE,
	  .def = "5s", .help = "whole-probe timeout, < interval" },
	{ "degraded_latency", "--degraded-latency", "INTERCOM_HEALTHD_DEGRADED_LATENCY",
	  TYPE_DURATION, FIELD(degraded_latency_ms), .min = 1, .max = DURATION_MAX_MS,
	  .reload = RELOAD_PROBE,
	  .def = "3s", .help = "slower successful probes are degraded" },
	{ "rate_limit_low", "--rate-limit-low", "INTERCOM_HEALTHD_RATE_LIMIT_LOW",
	  TYPE_PERCENT, FIELD(rate_limit_low), .min = 0, .max = 100, .def = "10",
	  .reload = RELOAD_PROBE,
	  .help = "quota remaining below this is degraded" },
	{ "failure_threshold", "--failure-threshold", "INTERCOM_HEALTHD_FAILURE_THRESHOLD",
	  TYPE_INT, FIELD(failure_threshold), .min = 1, .max = 1000, .def = "1",
	  .reload = RELOAD_LIVE,
	  .help = "bad probes in a row before the state worsens" },
	{ "success_threshold", "--success-threshold", "INTERCOM_HEALTHD_SUCCESS_THRESHOLD",
	  TYPE_INT, FIELD(success_threshold), .min = 1, .max = 1000, .def = "1",
	  .reload = RELOAD_LIVE,
	  .help = "good probes in a row before it recovers" },
	{ "stale_after", "--stale-after", "INTERCOM_HEALTHD_STALE_AFTER",
	  TYPE_DURATION, FIELD(stale_after_ms), .min = 1, .max = DURATION_MAX_MS,
	  .reload = RELOAD_LIVE,
	  .computed = "2*interval + timeout",
	  .help = "no finished probe this long: unhealthy, /livez 503" },
	/* Statuspage and the webhook are other people's servers: once a
	 * second is already more than they deserve. */
	{ "status_interval", "--status-interval", "INTERCOM_HEALTHD_STATUS_INTERVAL",
	  TYPE_DURATION, FIELD(status_interval_ms), .min = 1000, .max = DURATION_MAX_MS,
	  .reload = RELOAD_SIDE,
	  .def = "60s", .help = "how often the status page and webhook are read" },
	{ "degraded_ok", "--degraded-ok", "INTERCOM_HEALTHD_DEGRADED_OK",
	  TYPE_BOOL, FIELD(degraded_ok), .def = "false",
	  .reload = RELOAD_LIVE,
	  .help = "answer 200 while degraded" },
	{ "status_url", "--status-url", "INTERCOM_HEALTHD_STATUS_URL",
	  TYPE_URL, FIELD(status_url), F_OFF,
	  .reload = RELOAD_SIDE,
	  .def = "https://www.intercomstatus.com/api/v2/status.json",
	  .help = "Intercom's Statuspage status.json" },
	{ "webhook_url", "--webhook-url", "INTERCOM_HEALTHD_WEBHOOK_URL",
	  TYPE_URL, FIELD(webhook_url), F_OPTIONAL,
	  .reload = RELOAD_SIDE,
	  .help = "your webhook endpoint, HEAD-probed (informational)" },
	{ "webhook_secret_file", "--webhook-secret-file", "INTERCOM_HEALTHD_WEBHOOK_SECRET_FILE",
	  TYPE_SECRET_FILE, FIELD(webhook_secret_file), F_OPTIONAL, .arg = "FILE",
	  .reload = RELOAD_LIVE,
	  .help = "the app's client secret (preflight; or env " ENV_WEBHOOK_SECRET ")" },
	{ "required_paths", "--required-paths", "INTERCOM_HEALTHD_REQUIRED_PATHS",
	  TYPE_TEXT, FIELD(required_paths), F_OPTIONAL | F_URL_PATH | F_LIST,
	  .reload = RELOAD_LIVE,
	  .arg = "PATH,...",
	  .help = "comma-separated API paths the integration needs, for the scopes"
		  " preflight item" },
	{ "log_format", "--log-format", "INTERCOM_HEALTHD_LOG_FORMAT",
	  TYPE_CHOICE, FIELD(log_format), .choices = log_formats, .def = "text",
	  .reload = RELOAD_LIVE,
	  .help = "stderr lines, or one JSON object a line" },
	{ "log_level", "--log-level", "INTERCOM_HEALTHD_LOG_LEVEL",
	  TYPE_CHOICE, FIELD(log_level), .choices = log_levels, .def = "info",
	  .reload = RELOAD_LIVE,
	  .help = "least severe messages logged" },
	{ "http_threads", "--http-threads", "INTERCOM_HEALTHD_HTTP_THREADS",
	  TYPE_INT, FIELD(http_threads), .min = 1, .max = 64, .def = "1",
	  .reload = RELOAD_RESTART,
	  .help = "threads serving HTTP" },
	{ "max_connections", "--max-connections", "INTERCOM_HEALTHD_MAX_CONNECTIONS",
	  TYPE_INT, FIELD(max_connections), .min = 1, .max = 1000000, .def = "4096",
	  .reload = RELOAD_RESTART,
	  .help = "concurrent HTTP connections" },
	/* libmicrohttpd counts its idle timeout in whole seconds. */
	{ "connection_timeout", "--connection-timeout", "INTERCOM_HEALTHD_CONNECTION_TIMEOUT",
	  TYPE_DURATION, FIELD(connection_timeout_ms), .min = 1000, .max = DURATION_MAX_MS,
	  .reload = RELOAD_RESTART,
	  .def = "10s", .help = "idle HTTP connections close" },
	/* /history serves every kept probe in one answer: the maximum
	 * bounds that body (history.h says by how much). */
	{ "history_size", "--history-size", "INTERCOM_HEALTHD_HISTORY_SIZE",
	  TYPE_INT, FIELD(history_size), .min = 10, .max = HISTORY_SIZE_MAX, .def = "240",
	  .reload = RELOAD_RESTART,
	  .help = "probes kept for /history and the status page" },
};

#define SETTING_COUNT (sizeof(settings_table) / sizeof(settings_table[0]))

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
		return loader_fail(ld, "%s: empty (from env %s)", setting, name);
	if (problem)
		return loader_fail(ld, "%s: %s at byte %zu (from env %s)", setting, problem, at, name);
	*out = xstrndup(value, len);
	return 0;
}


/* getopt_long()'s codes of the command options. */
enum {
	OPT_FORMAT = LOADER_OPTION_FIRST,
	OPT_SCAN,
	OPT_HEALTH_URL,
	OPT_STRICT,
	OPT_TOKEN,
	OPT_WEBHOOK_SECRET,
};

/* Command options: no environment or config-file spelling. */
static const struct option command_options[] = {
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

/* What a command's load knows besides the struct it fills. */
struct load_context {
	enum command cmd;
};

#define S(ld) ((struct settings *)(ld)->base)
#define CMD(ld) (((const struct load_context *)(ld)->data)->cmd)

static int
command_option_value(struct loader *ld, int code, const char *flag, const char *value)
{
	struct settings *s = S(ld);
	int rc = 0;

	if (code == OPT_FORMAT) {
		if (strcmp(value, "text") == 0) {
			s->format = OUTPUT_FORMAT_TEXT;
		} else if (strcmp(value, "json") == 0) {
			s->format = OUTPUT_FORMAT_JSON;
		} else if (strcmp(value, "junit") == 0 && CMD(ld) == COMMAND_PREFLIGHT) {
			s->format = OUTPUT_FORMAT_JUNIT;
		} else {
			char *q = loader_quote(value);
			rc = loader_fail(ld, "%s: invalid %s: use %s", flag, q,
				  CMD(ld) == COMMAND_PREFLIGHT ? "text, json or junit" :
								 "text or json");
			free(q);
		}
	} else if (code == OPT_SCAN) {
		struct stat st;
		if (stat(value, &st) < 0) {
			char *p = loader_show_path(value);
			rc = loader_fail(ld, "%s: cannot read %s: %s", flag, p, strerror(errno));
			free(p);
		} else {
			free(s->scan_dir);
			s->scan_dir = xstrdup(value);
		}
	} else if (code == OPT_HEALTH_URL) {
		char why[128];
		const char *problem = loader_url_problem(value, why, sizeof(why));
		if (problem) {
			char *q = loader_quote(value);
			rc = loader_fail(ld, "%s: invalid URL %s: %s", flag, q, problem);
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
	if (code == OPT_TOKEN)
		return loader_fail(ld, "%s: " TOKEN_ARGV_ERROR, flag);
	if (code == OPT_WEBHOOK_SECRET)
		return loader_fail(ld, "--webhook-secret: the webhook secret is never accepted"
				   " on the command line (argv is world-readable); use "
				   ENV_WEBHOOK_SECRET " or --webhook-secret-file");
	if ((code == OPT_FORMAT && CMD(ld) == COMMAND_SERVE) ||
	    ((code == OPT_SCAN || code == OPT_HEALTH_URL || code == OPT_STRICT) &&
	     CMD(ld) != COMMAND_PREFLIGHT))
		return loader_fail(ld, "%s: not an option of %s (see --help)", flag,
			    command_name(CMD(ld)));

	if (code == OPT_STRICT) {
		if (!value) {
			S(ld)->strict = true;
		} else if (!loader_parse_bool(value, &S(ld)->strict)) {
			char *q = loader_quote(value);
			int rc = loader_fail(ld, "%s: invalid boolean %s: " LOADER_BOOL_HINT, flag, q);
			free(q);
			return rc;
		}
		return 0;
	}
	if (!value)
		return loader_fail(ld, "%s: missing value: use %s=VALUE or %s VALUE", flag, flag, flag);
	return command_option_value(ld, code, flag, value);
}

/* A secret never belongs in a config file: refused by name. */
static int
check_config_key(struct loader *ld, const char *key, const char *where)
{
	if (strcmp(key, "token") == 0 || strcmp(key, "access_token") == 0 ||
	    strcmp(key, "intercom_access_token") == 0)
		return loader_fail(ld, "token: not accepted in a config file (from %s):"
				   " use token_file or " ENV_TOKEN, where);
	if (strcmp(key, "webhook_secret") == 0)
		return loader_fail(ld, "webhook_secret: not accepted in a config file"
				   " (from %s): use webhook_secret_file or "
				   ENV_WEBHOOK_SECRET, where);
	return 0;
}

static const struct loader_spec table_spec = {
	.rows = settings_table,
	.count = SETTING_COUNT,
	.options = command_options,
	.option_count = COMMAND_OPTION_COUNT,
	.option = command_option,
	.check_key = check_config_key,
	.config_env = ENV_CONFIG,
};

/* ---- checks beyond one row -------------------------------------------- */

/* An api_url from any source beats the region from any source: it is the
 * more specific of the two (a proxy, a test server). */
static void
apply_region(struct loader *ld)
{
	struct settings *s = S(ld);
	if (loader_given(ld, loader_row(ld, "api_url")))
		return;
	for (const struct loader_choice *c = regions; c->name; c++) {
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
	const char *path = S(ld)->ca_file;
	if (!path)
		return 0;
	const char *src;
	loader_value(ld, loader_row(ld, "ca_file"), &src);

	char *pem = NULL;
	size_t len = 0;
	char *shown = loader_show_path(path);
	int rc = file_read_regular(path, CA_FILE_MAX, &pem, &len);
	if (rc < 0) {
		char why[64];
		rc = loader_fail(ld, "ca_file: cannot read %s (from %s): %s", shown, src,
			  file_problem(rc, CA_FILE_MAX, why, sizeof(why)));
	} else {
		int certs = count_pem_certificates(pem, len);
		if (certs < 0)
			rc = loader_fail(ld, "ca_file: %s (from %s) is not a PEM certificate bundle:"
				  " a block in it does not decode", shown, src);
		else if (certs == 0)
			rc = loader_fail(ld, "ca_file: %s (from %s) holds no PEM certificate"
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
	struct settings *s = S(ld);
	const char *v = s->listen;
	const char *src;
	loader_value(ld, loader_row(ld, "listen"), &src);

	const char *host = NULL, *host_end = NULL, *port = NULL;
	const char *problem = split_listen(v, &host, &host_end, &port);
	int64_t n = 0;
	int rc = 0;
	char *q = loader_quote(v);
	if (problem) {
		rc = loader_fail(ld, "listen: invalid address %s (from %s): %s", q, src, problem);
	} else if (!loader_parse_count(port, &n)) {
		rc = loader_fail(ld, "listen: invalid port in %s (from %s): use a number 0-65535",
			  q, src);
	} else if (n > 65535) {
		char *shown = loader_show(port);
		rc = loader_fail(ld, "listen: port %s (from %s) must be between 0 and 65535",
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
		rc = loader_fail(ld, "listen: invalid address %s (from %s): use a numeric %s"
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
	struct settings *s = S(ld);
	const char *interval_src, *timeout_src;
	loader_value(ld, loader_row(ld, "interval"), &interval_src);
	loader_value(ld, loader_row(ld, "timeout"), &timeout_src);
	char interval[32], timeout[32];
	loader_format_duration(s->interval_ms, interval, sizeof(interval));
	loader_format_duration(s->timeout_ms, timeout, sizeof(timeout));

	/* A probe still running when the next is due would overlap it.
	 * check probes once: interval means nothing to it, and a
	 * monitoring plugin's -t/--timeout=20 must not fail on it. */
	if (CMD(ld) != COMMAND_CHECK && s->timeout_ms >= s->interval_ms)
		return loader_fail(ld, "timeout: %s (from %s) must be less than interval %s (from %s)",
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
	loader_value(ld, loader_row(ld, "stale_after"), &src);
	char stale[32], minimum[32];
	loader_format_duration(s->stale_after_ms, stale, sizeof(stale));
	loader_format_duration(min, minimum, sizeof(minimum));
	return loader_fail(ld, "stale_after: %s (from %s) must be at least %s"
		    " (interval %s (from %s) + 10%% jitter + timeout %s (from %s))",
		    stale, src, minimum, interval, interval_src, timeout, timeout_src);
}

int
settings_read_token(const char *path, char **out, struct stat *st, char **err)
{
	return secret_read_file(path, out, st, err);
}

static int
resolve_token(struct loader *ld)
{
	struct settings *s = S(ld);
	const char *src;
	const char *path = loader_value(ld, loader_row(ld, "token_file"), &src);
	char *credential = NULL;
	char *reason = NULL;
	int rc = 0;

	/* token_file from any source, its default (the systemd credential,
	 * if one was passed) included, wins over the environment: a
	 * credential is the more deliberate (and less leaky) of the two. */
	if (!path) {
		const char *dir = loader_env(ld->envp, "CREDENTIALS_DIRECTORY");
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
		const char *env = loader_env(ld->envp, ENV_TOKEN);
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
		switch (CMD(ld)) {
		case COMMAND_SERVE:
		case COMMAND_CHECK:
		case COMMAND_PREFLIGHT:
			rc = loader_fail(ld, "token: " NO_TOKEN_ERROR "%s",
				  loader_env(ld->envp, "INTERCOM_HEALTHD_TOKEN") ?
				  " (INTERCOM_HEALTHD_TOKEN is not read)" : "");
			break;
		}
		goto out;
	}

	rc = settings_read_token(path, &s->token, &s->token_stat, &reason);
	if (rc < 0) {
		rc = loader_fail(ld, "token_file: %s (from %s)", reason, src);
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
	struct settings *s = S(ld);
	const char *src;
	const char *path = loader_value(ld, loader_row(ld, "webhook_secret_file"), &src);

	if (!path) {
		const char *env = loader_env(ld->envp, ENV_WEBHOOK_SECRET);
		if (!env)
			return 0;
		return secret_from_env(ld, "webhook_secret", ENV_WEBHOOK_SECRET, env,
				       &s->webhook_secret);
	}

	char *reason = NULL;
	int rc = secret_read_file(path, &s->webhook_secret, NULL, &reason);
	if (rc < 0) {
		rc = loader_fail(ld, "webhook_secret_file: %s (from %s)", reason, src);
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
	const struct settings *s = S(ld);
	/* The environment's token counts even where a token file wins over
	 * it: it is a secret all the same. */
	const char *env_token = loader_env(ld->envp, ENV_TOKEN);
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct loader_row *d = &settings_table[i];
		if (d->type != TYPE_TEXT && d->type != TYPE_URL)
			continue;
		const char *value = *(char *const *)((const char *)s + d->offset);
		const char *what = secret_in(s, env_token, value);
		if (what) {
			const char *src;
			loader_value(ld, i, &src);
			return loader_fail(ld, "%s: the value (from %s) holds %s, or part of it:"
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
			return loader_fail(ld, "%s: the value holds %s, or part of it: refusing"
				    " to log it or send it anywhere", extra[i].flag, what);
	}
	return 0;
}

static int
resolve_all(struct loader *ld)
{
	int rc;
	if ((rc = loader_resolve(ld)) < 0)
		return rc;
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
	if (path && secret_read_file(path, &secret, NULL, NULL) == 0) {
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
	secret_redact_alloc(&ld->err, loader_env(ld->envp, ENV_TOKEN));
	secret_redact_alloc(&ld->err, loader_env(ld->envp, ENV_WEBHOOK_SECRET));
	secret_redact_alloc(&ld->err, S(ld)->token);
	secret_redact_alloc(&ld->err, S(ld)->webhook_secret);
	if (!S(ld)->token) {
		redact_file_secret(ld, loader_value(ld, loader_row(ld, "token_file"), &src));
		const char *dir = loader_env(ld->envp, "CREDENTIALS_DIRECTORY");
		if (dir && *dir) {
			char *credential = xasprintf("%s/" CREDENTIAL_NAME, dir);
			redact_file_secret(ld, credential);
			free(credential);
		}
	}
	if (!S(ld)->webhook_secret)
		redact_file_secret(ld, loader_value(ld, loader_row(ld, "webhook_secret_file"), &src));
}

int
settings_load(struct settings *s, enum command cmd, int argc, char **argv,
	      char **envp, char **err)
{
	struct load_context ctx = { .cmd = cmd };
	struct loader ld;
	int rc;

	memset(s, 0, sizeof(*s));
	if (err)
		*err = NULL;
	loader_init(&ld, &table_spec, s, envp, &ctx);
	if ((rc = loader_read(&ld, argc, argv)) == 0) {
		s->config_file = ld.config_file;
		ld.config_file = NULL;
		rc = resolve_all(&ld);
	}
	if (rc < 0) {
		redact_secrets(&ld);
		settings_finish(s);
		if (err) {
			*err = ld.err;
			ld.err = NULL;
		}
	}
	loader_finish(&ld);
	return rc;
}

void
settings_finish(struct settings *s)
{
	if (!s)
		return;
	loader_free_fields(&table_spec, s);
	secret_free(s->token);
	secret_free(s->webhook_secret);
	free(s->token_origin);
	free(s->listen_host);
	free(s->config_file);
	free(s->scan_dir);
	free(s->health_url);
	memset(s, 0, sizeof(*s));
}

/* ---- reloads ---------------------------------------------------------- */

bool
settings_changed(const struct settings *a, const struct settings *b,
		 enum loader_reload how)
{
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct loader_row *d = &settings_table[i];
		if (d->reload == how && !loader_same(d, a, b))
			return true;
	}
	return false;
}

/* What the reload log adds to a changed setting's line. */
static const char *
reload_effect(enum loader_reload how)
{
	switch (how) {
	case RELOAD_PROBE:
		return " (probing now)";
	case RELOAD_SIDE:
		return " (status page and webhook read now)";
	case RELOAD_LIVE:
	case RELOAD_RESTART:
		break;
	}
	return "";
}

void
settings_keep_restart(struct settings *next, const struct settings *cur)
{
	char was[1024], now[1024];
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct loader_row *d = &settings_table[i];
		if (d->reload != RELOAD_RESTART || loader_same(d, next, cur))
			continue;
		/* Two calls, two buffers: a constant may come back. */
		const char *a = loader_format(d, cur, was, sizeof(was));
		const char *b = loader_format(d, next, now, sizeof(now));
		log_warning("reload: %s changed; that takes a restart (%s -> %s:"
			    " still %s)", d->key, a, b, a);
		loader_copy(d, next, cur);
	}
	/* Derived from listen, which a restart alone changes. */
	free(next->listen_host);
	next->listen_host = xstrdup(cur->listen_host);
	next->listen_port = cur->listen_port;
}

void
settings_log_changes(const struct settings *old, const struct settings *s)
{
	char was[1024], now[1024];
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		const struct loader_row *d = &settings_table[i];
		if (loader_same(d, old, s))
			continue;
		/* Two calls, two buffers: a constant may come back. */
		const char *a = loader_format(d, old, was, sizeof(was));
		const char *b = loader_format(d, s, now, sizeof(now));
		log_info("reload: %s: %s -> %s%s", d->key, a, b, reload_effect(d->reload));
	}
}

/* ---- logging and --help ----------------------------------------------- */

void
settings_log(const struct settings *s)
{
	char url[1024], interval[32], timeout[32];
	loader_format_duration(s->interval_ms, interval, sizeof(interval));
	loader_format_duration(s->timeout_ms, timeout, sizeof(timeout));

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
	loader_log_rows(&table_spec, s);
}

void
settings_usage(FILE *out)
{
	fputs("Options (each also INTERCOM_HEALTHD_<NAME> in the environment and <name> in\n"
	      "the config file; flags win over the environment, which wins over the file):\n",
	      out);
	loader_usage(out, &table_spec);
	fputs("\n"
	      "check:     --format text|json, -t/--timeout DUR, -w/--warning DUR,\n"
	      "           -c/--critical DUR (latency thresholds), -v, -V;\n"
	      "           exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
	      "preflight: --format text|json|junit, --strict, --scan DIR, --health-url URL\n"
	      "\n"
	      "Durations: 250ms, 5s, 2m, 1h or seconds. Booleans: true/false, yes/no,\n"
	      "on/off, 1/0. See intercom-healthd(8).\n", out);
}

bool
settings_parse_duration(const char *text, int64_t *ms)
{
	return loader_parse_duration(text, ms);
}

bool
settings_parse_bool(const char *text, bool *out)
{
	return loader_parse_bool(text, out);
}

const struct loader_spec *
settings_loader_spec(void)
{
	return &table_spec;
}
