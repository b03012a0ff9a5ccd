#ifndef INCLUDE_LOADER_H
#define INCLUDE_LOADER_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A table-driven loader of settings: one row per setting says its three
 * spellings (config key, --flag, environment variable), how its text is
 * parsed into which field of the caller's struct, its limits, default and
 * help. The loader reads argv, the environment and a config file into the
 * rows, parses the winning text of each, frees, logs and prints --help
 * from the same rows. It knows nothing of what the settings mean: checks
 * across settings, secrets and command options are the caller's.
 *
 * Every source drops its raw text into one slot per row, tagged with its
 * level and a printable source ("flag --interval", "/etc/x.conf:12"). A
 * slot only accepts text from its own level or a higher one, so the order
 * the sources are read in does not matter, and within one source the last
 * spelling wins. Only then is each winning text parsed, so a bad value
 * that a higher level overrides is never reported, and every message can
 * name the source of the value it complains about.
 */

/* Other modules hand durations to poll(), curl and libmicrohttpd as int
 * milliseconds; a week keeps stale_after (at most 3 * interval) below
 * INT_MAX, and no health check wants a longer period anyway. */
#define LOADER_DURATION_MAX_MS (168 * 3600 * INT64_C(1000))

/* How a setting's text is parsed, and so the type of its field. */
enum loader_type {
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
	/* A bearer token goes there: never clear text. */
	F_HTTPS_ONLY = 1 << 2,
	/* A path gets appended: trailing slashes go. */
	F_BASE_URL = 1 << 3,
	/* A URL path: starts with '/'. */
	F_URL_PATH = 1 << 4,
	/* Comma-separated; each item is checked. */
	F_LIST = 1 << 5,
	/* curl CONNECT_TO entries: HOST:PORT:CONNECT-HOST:CONNECT-PORT. */
	F_CONNECT_TO = 1 << 6,
};

/*
 * What a reload (SIGHUP) does with a new value of the setting. 0 is no
 * value on purpose: a row that does not say is caught by the unit tests.
 */
enum loader_reload {
	RELOAD_LIVE = 1,        /* in force at once, nothing to redo */
	RELOAD_PROBE,           /* the main check runs again at once (the probe) */
	RELOAD_SIDE,            /* the side checks run again at once */
	RELOAD_RESTART,         /* fixed at start: the running value stays */
};

struct loader_choice {
	const char *name;
	int value;
	bool alias;     /* accepted, but offered neither in --help nor in hints */
};

struct loader_row {
	/* The three spellings are written out rather than derived, so grep
	 * finds them. */
	const char *key;
	const char *flag;
	const char *env;
	enum loader_type type;
	size_t offset;          /* of the field in the caller's struct */
	unsigned flags;
	int64_t min, max;       /* numbers; milliseconds for durations */
	const struct loader_choice *choices;    /* ends with a NULL name */
	/* The default as text, parsed like any other value; NULL when the
	 * setting is unset by default or its default is computed. */
	const char *def;
	const char *computed;   /* a computed default, in words, for --help */
	const char *arg;        /* --help's placeholder, where the type's is vague */
	const char *help;       /* --help's text; the range and default follow */
	enum loader_reload reload;
};

struct loader;

/*
 * What a caller's table is, and the parts of reading it that are the
 * caller's. Options that are not settings (codes from LOADER_OPTION_FIRST
 * up) go to option(), with value NULL when none came; one with an
 * optional argument given alone is a boolean for the loader's hints.
 * check_key() may refuse a config-file key before it is looked up
 * (a secret never belongs in a file); NULL accepts every key.
 */
struct loader_spec {
	const struct loader_row *rows;
	size_t count;
	const struct option *options;
	size_t option_count;
	int (*option)(struct loader *ld, int code, const char *flag,
		      const char *value);
	int (*check_key)(struct loader *ld, const char *key, const char *where);
	const char *config_env;         /* names the config file, e.g. X_CONFIG */
};

/* The getopt code of --config, handled by the loader itself. */
#define LOADER_OPTION_CONFIG 0x100
/* The first getopt code a loader_spec's options may use (below 0x200). */
#define LOADER_OPTION_FIRST 0x101

/* The raw text a source gave one row. */
struct loader_raw {
	bool set;
	int level;
	char *value;
	char *source;
};

struct loader {
	const struct loader_spec *spec;
	void *base;             /* the struct the rows' offsets point into */
	char **envp;
	void *data;             /* the caller's, for its callbacks */
	struct loader_raw *raw; /* one per row */
	char *config_flag;      /* --config, if given */
	char *config_file;      /* the config file read, or NULL (ld owns it) */
	char *err;              /* the first error (ld owns it) */
};

/* Starts loading spec's rows into base (borrowed, zeroed by the caller). */
void loader_init(struct loader *ld, const struct loader_spec *spec, void *base,
		 char **envp, void *data);

/* Frees what ld holds (not the fields it filled: loader_free_fields()). */
void loader_finish(struct loader *ld);

/*
 * Reads argv (the words after the command; argv[0] is not skipped), the
 * environment and the config file into the rows' slots, then parses each
 * row's winning text into its field. 0, or -EINVAL with ld->err set.
 */
int loader_read(struct loader *ld, int argc, char **argv);
int loader_resolve(struct loader *ld);

/* Records the first error; returns -EINVAL for `return loader_fail(...)`.
 * The message is cut to one line's length. */
int loader_fail(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The index of the row with this key. The key is a literal of the
 * caller's: a typo aborts every test run. */
size_t loader_row(const struct loader *ld, const char *key);

/* The winning text of row id (NULL: unset) and where it came from. */
const char *loader_value(const struct loader *ld, size_t id, const char **source);

/* Did any source (not the default) give row id a value? */
bool loader_given(const struct loader *ld, size_t id);

/* The value of name in envp, or NULL. */
const char *loader_env(char **envp, const char *name);

/* Frees the strings the rows put into base. */
void loader_free_fields(const struct loader_spec *spec, void *base);

/* Does row d hold the same value in a and b? */
bool loader_same(const struct loader_row *d, const void *a, const void *b);

/* Copies row d's value from from to to (a string as a copy). */
void loader_copy(const struct loader_row *d, void *to, const void *from);

/*
 * Row d's value in base as the log shows it: in buf, or a constant.
 * URLs hide any user:password.
 */
const char *loader_format(const struct loader_row *d, const void *base, char *buf,
			  size_t size);

/* One debug line per row: "key: value". */
void loader_log_rows(const struct loader_spec *spec, const void *base);

/* --help's lines for --config and every row. */
void loader_usage(FILE *out, const struct loader_spec *spec);

/* "  --flag ARG" padded to the help column, then help wrapped under it. */
void loader_usage_entry(FILE *out, const char *left, const char *help);

/* ---- parsers and formatters the rows use, for the caller's checks ---- */

/* "250ms", "5s", "2m", "1h" or a bare number of seconds. */
bool loader_parse_duration(const char *text, int64_t *ms);

/* true/false, yes/no, on/off, 1/0 (case-insensitive). */
bool loader_parse_bool(const char *text, bool *out);

/* Digits only; saturates far above any limit so a range check reports it. */
bool loader_parse_count(const char *text, int64_t *out);

/* "15s", "250ms", "2m", "1.5s": the shortest exact spelling. */
void loader_format_duration(int64_t ms, char *buf, size_t size);

/*
 * What is wrong with an http(s) URL, or NULL; curl's own parser decides,
 * so what passes is what curl will connect to. The reason may be written
 * into buf.
 */
const char *loader_url_problem(const char *url, char *buf, size_t size);

/* A rejected value quoted, an unknown word bare, a path: escaped and
 * bounded for an error line (caller frees). A long value may be a pasted
 * token and is described by its length instead. */
char *loader_quote(const char *text);
char *loader_show(const char *text);
char *loader_show_path(const char *text);

#define LOADER_DURATION_HINT "use 250ms, 5s, 2m, 1h or seconds"
#define LOADER_BOOL_HINT "use true/false, yes/no, on/off or 1/0"

#endif
