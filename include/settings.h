#ifndef INCLUDE_SETTINGS_H
#define INCLUDE_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "loader.h"
#include "log.h"

/*
 * Every setting (doc/intercom-healthd.8 lists them), loaded from the
 * CLI, the environment and a config file, validated before anything starts.
 *
 * One setting has three spellings: config key `snake_case`, flag
 * `--kebab-case`, environment `INTERCOM_HEALTHD_UPPER_SNAKE`.
 * Precedence: flag > environment > config file > default.
 *
 * settings.c describes each setting in one table row (spellings, type,
 * field, limits, default, help, what a reload does with it) that loader.c
 * reads; a new setting is a field here, a row there, and its entries in
 * config/intercom-healthd.conf and the man page.
 */

enum command {
	COMMAND_SERVE,
	COMMAND_CHECK,
	COMMAND_PREFLIGHT,
};

enum output_format {
	OUTPUT_FORMAT_TEXT,
	OUTPUT_FORMAT_JSON,
	OUTPUT_FORMAT_JUNIT,
};

struct settings {
	/* The access token. Secret: never printed, logged or served. */
	char *token;
	/* Where the token came from, safe to print: "env INTERCOM_ACCESS_TOKEN"
	 * or "file /run/credentials/x/intercom-access-token". */
	char *token_origin;
	/* The file the token was read from, re-read on SIGHUP and on change;
	 * NULL when the token came from the environment. */
	char *token_file;
	/* The identity (device, inode, size, mtime) of the token file as it
	 * was read, from the descriptor read: a rotation racing the read
	 * shows as a change later. Zero without token_file. */
	struct stat token_stat;

	char *api_url;          /* base URL, no trailing slash */
	char *region;           /* "us", "eu" or "au" */
	char *api_version;      /* Intercom-Version header value */
	char *probe_path;       /* starts with '/' */
	char *ca_file;          /* extra CA bundle, or NULL */
	/* curl CONNECT_TO entries, comma-separated
	 * HOST:PORT:CONNECT-HOST:CONNECT-PORT, or NULL: where a host is
	 * really reached (TLS still verifies the named host). */
	char *connect_to;

	char *listen;           /* as given, e.g. "127.0.0.1:9180" */
	char *listen_host;      /* "127.0.0.1", "::1", "0.0.0.0", ... (no brackets) */
	uint16_t listen_port;   /* 0 lets the kernel choose */

	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t degraded_latency_ms;
	int64_t stale_after_ms;     /* default 2 * interval + timeout */
	int64_t status_interval_ms; /* status page and webhook timer, default 60s */

	int rate_limit_low;     /* percent, 0..100 */
	int failure_threshold;  /* >= 1 */
	int success_threshold;  /* >= 1 */
	bool degraded_ok;

	char *status_url;       /* NULL when "off" */
	char *webhook_url;      /* NULL when unset */
	char *webhook_secret_file;
	char *webhook_secret;   /* secret, NULL when unset */

	enum log_format log_format;
	enum log_level log_level;

	int http_threads;               /* threads serving HTTP, >= 1 */
	int max_connections;            /* concurrent HTTP connections */
	int64_t connection_timeout_ms;  /* idle HTTP connections close, >= 1s */

	/* Comma-separated API paths for the scopes preflight item, each
	 * starting with '/', as given; NULL when unset. */
	char *required_paths;
	int history_size;       /* probes kept for /history, 10..100000 */

	char *config_file;      /* NULL when none */

	/* Command options (not settings: no env or file spelling). */
	enum output_format format; /* check, preflight: --format */
	char *scan_dir;            /* preflight: --scan */
	char *health_url;          /* preflight: --health-url */
	bool strict;               /* preflight: --strict */
};

/*
 * Loads the settings for cmd from argv (the arguments after the command
 * word), envp and the config file they name, and validates them.
 *
 * Returns 0 on success. On any bad value returns -EINVAL and sets *err to
 * one line (caller frees, no trailing newline) naming the setting, its
 * source ("flag --interval", "env INTERCOM_HEALTHD_INTERVAL",
 * "/etc/intercom-healthd.conf:12") and what is wrong. The token and the
 * webhook secret never appear in *err.
 * On failure *s holds nothing that needs freeing beyond settings_finish().
 */
int settings_load(struct settings *s, enum command cmd, int argc, char **argv,
		  char **envp, char **err);

/*
 * Reads the secret in the regular file path as settings_load() reads the
 * token (a trailing newline dropped) into *out (free with secret_free()),
 * and the identity of the file read, through the same descriptor, into *st.
 * Returns 0 or a negative errno with *err (caller frees) naming the path,
 * never the content.
 */
int settings_read_token(const char *path, char **out, struct stat *st, char **err);

/* Frees what settings_load() allocated; wipes the secrets first. */
void settings_finish(struct settings *s);

/*
 * Parses a duration: "250ms", "5s", "2m", "1h" or a bare number of
 * seconds. Returns true and sets *ms on success.
 */
bool settings_parse_duration(const char *text, int64_t *ms);

/* The region ("us", "eu", "au") whose Intercom API api_url is, compared
 * without case; NULL for any other host (a proxy, a stand-in). */
const char *settings_region_of_url(const char *api_url);

/* The i-th of Intercom's regions ("us", "eu", "au") with its API URL in
 * *url; NULL (and *url untouched) past the last. */
const char *settings_region_at(size_t i, const char **url);

/* Parses true/false, yes/no, on/off, 1/0 (case-insensitive). */
bool settings_parse_bool(const char *text, bool *out);

/*
 * Does any setting whose row says how (RELOAD_PROBE, ...) differ between
 * a and b?
 */
bool settings_changed(const struct settings *a, const struct settings *b,
		      enum loader_reload how);

/* The table settings_load() reads: one row per setting (for tests). */
const struct loader_spec *settings_loader_spec(void);

/*
 * Settings that take a restart (the listening socket, the HTTP server's
 * threads and limits, the history's size) keep their running values from
 * cur in next, each change warned about.
 */
void settings_keep_restart(struct settings *next, const struct settings *cur);

/*
 * Logs each setting that differs from old in s: both values (URLs without
 * credentials, secrets as their files) and what the reload does about it.
 */
void settings_log_changes(const struct settings *old, const struct settings *s);

/*
 * Logs one summary line at info level (config, token origin, API,
 * interval, timeout, listen) and every setting at debug level. Secrets
 * show only where they came from; URLs hide any user:password.
 */
void settings_log(const struct settings *s);

/*
 * Writes the options part of --help to out: every setting with its
 * placeholder, help text and default, the command options, and the value
 * syntax. Ends with a newline.
 */
void settings_usage(FILE *out);

#endif
