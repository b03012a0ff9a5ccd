#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"
#include "settings.h"
#include "test-ca.h"

/*
 * Every secret used here contains MARK, so one strstr() on every error
 * message (in run()) proves no secret, or a marked half of one, leaks.
 */
#define MARK "s3cr3t"

/* A real certificate: ca_file is parsed as PEM at start. */
#define TEST_PEM TEST_OTHER_CA_PEM

#define TOKEN "dG9rOjEy" MARK "AbCdEf0123456789" MARK
#define TOKEN_ENV "INTERCOM_ACCESS_TOKEN=" TOKEN
#define FILE_TOKEN "dG9rOkZp" MARK "bGVUb2tlbg" MARK
#define CRED_TOKEN "dG9rOkNy" MARK "ZWRlbnRpYWw" MARK
#define WEBHOOK "whsec" MARK "0123456789abcdef" MARK
#define WEBHOOK_ENV "INTERCOM_WEBHOOK_SECRET=" WEBHOOK

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ENV(...) ARGV(__VA_ARGS__)
#define NONE ((const char *const[]){ NULL })

#define MAX_FILES 32

static char tmpdir[64];
static char *files[MAX_FILES];
static int nfiles;

static struct settings S;
static char *E;

/* Removes path and everything under it. */
static void
remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *dir = opendir(path);
		struct dirent *entry;
		while (dir && (entry = readdir(dir))) {
			if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
				continue;
			char child[4096];
			snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
			remove_tree(child);
		}
		if (dir)
			closedir(dir);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/*
 * The directory is made and removed outside the test's process (an
 * unchecked fixture runs in the parent under CK_FORK), so a failing test,
 * which exits before any checked teardown, leaves nothing behind.
 */
static void
tmpdir_create(void)
{
	strcpy(tmpdir, "/tmp/test-settings-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmpdir_remove(void)
{
	remove_tree(tmpdir);
}

static void
setup(void)
{
	memset(&S, 0, sizeof(S));
	E = NULL;
	nfiles = 0;
}

static void
teardown(void)
{
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	nfiles = 0;
	settings_finish(&S);
	free(E);
	E = NULL;
}

/* A path under the test's directory (removed with it). */
static const char *
tmp_path(const char *name)
{
	ck_assert_int_lt(nfiles, MAX_FILES);
	char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
	ck_assert_ptr_nonnull(path);
	sprintf(path, "%s/%s", tmpdir, name);
	files[nfiles++] = path;
	return path;
}

static const char *
write_bytes(const char *name, const char *content, size_t len)
{
	const char *path = tmp_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static const char *
write_file(const char *name, const char *content)
{
	return write_bytes(name, content, strlen(content));
}

static const char *
make_dir(const char *name)
{
	const char *path = tmp_path(name);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	return path;
}

/* printf into one of a few rotating buffers: expected messages with paths. */
__attribute__((format(printf, 1, 2)))
static const char *
fmt(const char *format, ...)
{
	static char bufs[8][1024];
	static int next;
	char *buf = bufs[next++ % 8];
	va_list ap;
	va_start(ap, format);
	vsnprintf(buf, sizeof(bufs[0]), format, ap);
	va_end(ap);
	return buf;
}

static void
assert_clean_message(const char *msg)
{
	ck_assert_msg(strstr(msg, MARK) == NULL, "a secret leaked into an error message");
	ck_assert_msg(strchr(msg, '\n') == NULL, "not one line: %s", msg);
	ck_assert_msg(msg[0] != '\0', "empty message");
}

static int
run(enum command cmd, const char *const *argv, const char *const *envp)
{
	settings_finish(&S);
	free(E);
	E = NULL;
	int argc = 0;
	while (argv[argc])
		argc++;
	int rc = settings_load(&S, cmd, argc, (char **)argv, (char **)envp, &E);
	if (rc == 0)
		ck_assert_ptr_null(E);
	else
		ck_assert_msg(E != NULL, "failure %d without a message", rc);
	if (E)
		assert_clean_message(E);
	return rc;
}

#define expect_ok(cmd, argv, envp) do { \
	int rc_ = run((cmd), (argv), (envp)); \
	ck_assert_msg(rc_ == 0, "expected success, got %d: %s", rc_, E ? E : "(none)"); \
} while (0)

#define expect_err(cmd, argv, envp, want) do { \
	int rc_ = run((cmd), (argv), (envp)); \
	ck_assert_int_eq(rc_, -EINVAL); \
	ck_assert_str_eq(E, (want)); \
} while (0)

#define expect_err_part(cmd, argv, envp, part) do { \
	int rc_ = run((cmd), (argv), (envp)); \
	ck_assert_int_eq(rc_, -EINVAL); \
	ck_assert_msg(strstr(E, (part)) != NULL, "\"%s\" not in \"%s\"", (part), E); \
} while (0)

/* ---- value parsers ---------------------------------------------------- */

START_TEST(durations_good)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
		{ "250ms", 250 }, { "5s", 5000 }, { "2m", 120000 }, { "1h", 3600000 },
		{ "15", 15000 }, { "1.5", 1500 }, { "1.5s", 1500 }, { "0.25s", 250 },
		{ "0", 0 }, { "007s", 7000 }, { "1.25m", 75000 }, { "0.5h", 1800000 },
		{ "1ms", 1 }, { "168h", 604800000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = -1;
		ck_assert_msg(settings_parse_duration(good[i].text, &ms), "%s rejected",
			      good[i].text);
		ck_assert_msg(ms == good[i].ms, "%s: %lld, want %lld", good[i].text,
			      (long long)ms, (long long)good[i].ms);
	}
}
END_TEST

START_TEST(durations_bad)
{
	static const char *const bad[] = {
		"", "abc", "-5s", "+5s", " 5s", "5s ", "5 s", "5sec", "5S", "1.", ".5",
		"1e3", "0x10", "inf", "nan", "5ms5", "5d", "1..5", "s", "ms",
		"99999999999999999999", "9999999999999999h", "1,5s",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;
		ck_assert_msg(!settings_parse_duration(bad[i], &ms), "\"%s\" accepted", bad[i]);
		ck_assert_msg(ms == 42, "\"%s\" wrote the result", bad[i]);
	}
	int64_t ms;
	ck_assert(!settings_parse_duration(NULL, &ms));
}
END_TEST

START_TEST(durations_in_settings)
{
	expect_err(COMMAND_SERVE, ARGV("--interval=abc"), ENV(TOKEN_ENV),
		   "interval: invalid duration \"abc\" (from flag --interval):"
		   " use 250ms, 5s, 2m, 1h or seconds");
	expect_err(COMMAND_SERVE, ARGV("--timeout", "0"), ENV(TOKEN_ENV),
		   "timeout: 0s (from flag --timeout) must be greater than 0");
	expect_err(COMMAND_SERVE, ARGV("--interval=-5s"), ENV(TOKEN_ENV),
		   "interval: invalid duration \"-5s\" (from flag --interval):"
		   " use 250ms, 5s, 2m, 1h or seconds");
	expect_err(COMMAND_SERVE, ARGV("--interval=169h"), ENV(TOKEN_ENV),
		   "interval: 169h (from flag --interval) must be at most 168h");
	expect_err(COMMAND_SERVE, ARGV("--status-interval=500ms"), ENV(TOKEN_ENV),
		   "status_interval: 500ms (from flag --status-interval) must be at least 1s");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_DEGRADED_LATENCY="),
		   "degraded_latency: empty value (from env INTERCOM_HEALTHD_DEGRADED_LATENCY)");

	expect_ok(COMMAND_SERVE, ARGV("--interval=1.5m", "--timeout=2500ms",
				      "--degraded-latency=1.5", "--status-interval=2m"),
		  ENV(TOKEN_ENV));
	ck_assert_int_eq(S.interval_ms, 90000);
	ck_assert_int_eq(S.timeout_ms, 2500);
	ck_assert_int_eq(S.degraded_latency_ms, 1500);
	ck_assert_int_eq(S.status_interval_ms, 120000);
}
END_TEST

START_TEST(bools)
{
	static const struct {
		const char *text;
		bool value;
	} good[] = {
		{ "true", true }, { "false", false }, { "yes", true }, { "no", false },
		{ "on", true }, { "off", false }, { "1", true }, { "0", false },
		{ "TRUE", true }, { "No", false }, { "oN", true },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bool b = !good[i].value;
		ck_assert_msg(settings_parse_bool(good[i].text, &b), "%s rejected", good[i].text);
		ck_assert_msg(b == good[i].value, "%s misread", good[i].text);
	}
	static const char *const bad[] = { "", "2", "y", "n", "truee", "enable", " true", "01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool b = true;
		ck_assert_msg(!settings_parse_bool(bad[i], &b), "\"%s\" accepted", bad[i]);
	}

	/* A flag alone is true; with '=' it takes any spelling. */
	expect_ok(COMMAND_SERVE, ARGV("--degraded-ok"), ENV(TOKEN_ENV));
	ck_assert(S.degraded_ok);
	expect_ok(COMMAND_SERVE, ARGV("--degraded-ok=off"),
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_DEGRADED_OK=yes"));
	ck_assert(!S.degraded_ok);
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_DEGRADED_OK=1"));
	ck_assert(S.degraded_ok);
	expect_err(COMMAND_SERVE, ARGV("--degraded-ok=maybe"), ENV(TOKEN_ENV),
		   "degraded_ok: invalid boolean \"maybe\" (from flag --degraded-ok):"
		   " use true/false, yes/no, on/off or 1/0");
	/* The next word is not its value. */
	expect_err(COMMAND_SERVE, ARGV("--degraded-ok", "false"), ENV(TOKEN_ENV),
		   "\"false\": unexpected argument (a boolean flag takes its value only"
		   " after '=': --degraded-ok=false)");
}
END_TEST

/* ---- defaults and precedence ------------------------------------------ */

START_TEST(defaults)
{
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV));
	ck_assert_str_eq(S.token, TOKEN);
	ck_assert_str_eq(S.token_origin, "env INTERCOM_ACCESS_TOKEN");
	ck_assert_ptr_null(S.token_file);
	ck_assert_str_eq(S.api_url, "https://api.intercom.io");
	ck_assert_str_eq(S.region, "us");
	ck_assert_str_eq(S.api_version, "2.14");
	ck_assert_str_eq(S.probe_path, "/me");
	ck_assert_ptr_null(S.ca_file);
	ck_assert_str_eq(S.listen, "127.0.0.1:9180");
	ck_assert_str_eq(S.listen_host, "127.0.0.1");
	ck_assert_int_eq(S.listen_port, 9180);
	ck_assert_int_eq(S.interval_ms, 15000);
	ck_assert_int_eq(S.timeout_ms, 5000);
	ck_assert_int_eq(S.degraded_latency_ms, 3000);
	ck_assert_int_eq(S.stale_after_ms, 35000);
	ck_assert_int_eq(S.status_interval_ms, 60000);
	ck_assert_int_eq(S.rate_limit_low, 10);
	ck_assert_int_eq(S.failure_threshold, 1);
	ck_assert_int_eq(S.success_threshold, 1);
	ck_assert(!S.degraded_ok);
	ck_assert_str_eq(S.status_url, "https://www.intercomstatus.com/api/v2/status.json");
	ck_assert_ptr_null(S.webhook_url);
	ck_assert_ptr_null(S.webhook_secret_file);
	ck_assert_ptr_null(S.webhook_secret);
	ck_assert_int_eq(S.log_format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(S.log_level, LOG_LEVEL_INFO);
	ck_assert_ptr_null(S.required_paths);
	ck_assert_int_eq(S.history_size, 240);
	ck_assert_ptr_null(S.config_file);
	ck_assert_int_eq(S.format, OUTPUT_FORMAT_TEXT);
	ck_assert_ptr_null(S.scan_dir);
	ck_assert_ptr_null(S.health_url);
	ck_assert(!S.strict);
}
END_TEST

START_TEST(precedence_flag_over_env)
{
	expect_ok(COMMAND_SERVE, ARGV("--interval=20s", "--log-level", "debug"),
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_INTERVAL=30s",
		      "INTERCOM_HEALTHD_LOG_LEVEL=error"));
	ck_assert_int_eq(S.interval_ms, 20000);
	ck_assert_int_eq(S.log_level, LOG_LEVEL_DEBUG);
	/* A bad env value the flag overrides is never looked at. */
	expect_ok(COMMAND_SERVE, ARGV("--timeout", "2s"),
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_TIMEOUT=garbage"));
	ck_assert_int_eq(S.timeout_ms, 2000);
	/* The last of repeated flags wins. */
	expect_ok(COMMAND_SERVE, ARGV("--listen=127.0.0.1:1", "--listen", "127.0.0.1:2"),
		  ENV(TOKEN_ENV));
	ck_assert_int_eq(S.listen_port, 2);
}
END_TEST

START_TEST(precedence_env_over_file)
{
	const char *conf = write_file("a.conf", "interval = 40s\nlog_format = text\n");
	expect_ok(COMMAND_SERVE, ARGV("--config", conf),
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_INTERVAL=30s",
		      "INTERCOM_HEALTHD_LOG_FORMAT=json"));
	ck_assert_int_eq(S.interval_ms, 30000);
	ck_assert_int_eq(S.log_format, LOG_FORMAT_JSON);
	ck_assert_str_eq(S.config_file, conf);
}
END_TEST

START_TEST(precedence_file_values)
{
	const char *ca = write_file("ca # 1.pem", TEST_PEM);
	const char *conf = write_file("a.conf", fmt(
		"# comment\n"
		"\n"
		"   interval=40s   \n"
		"\ttimeout = 10s # the whole probe\n"
		"failure_threshold = 3\n"
		"failure_threshold = 4\n"
		"ca_file = \"%s\"  # quotes keep the ' # '\n"
		"status_url = https://status.example.com/a#b\n"
		"webhook_url = # empty: unset\n"
		"api_version = \"2.11\"\r\n", ca));
	expect_ok(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.interval_ms, 40000);
	ck_assert_int_eq(S.timeout_ms, 10000);
	ck_assert_int_eq(S.failure_threshold, 4);
	ck_assert_str_eq(S.ca_file, ca);
	ck_assert_ptr_null(S.webhook_url);
	ck_assert_str_eq(S.status_url, "https://status.example.com/a#b");
	ck_assert_str_eq(S.api_version, "2.11");
	/* Untouched settings keep their defaults. */
	ck_assert_int_eq(S.degraded_latency_ms, 3000);
	ck_assert_int_eq(S.stale_after_ms, 90000);
}
END_TEST

START_TEST(config_file_selection)
{
	const char *a = write_file("a.conf", "interval = 40s\n");
	const char *b = write_file("b.conf", "interval = 50s\n");
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_CONFIG=%s", a)));
	ck_assert_int_eq(S.interval_ms, 40000);
	ck_assert_str_eq(S.config_file, a);
	/* --config beats INTERCOM_HEALTHD_CONFIG. */
	expect_ok(COMMAND_SERVE, ARGV(fmt("--config=%s", b)),
		  ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_CONFIG=%s", a)));
	ck_assert_int_eq(S.interval_ms, 50000);
	ck_assert_str_eq(S.config_file, b);

	const char *missing = fmt("%s/missing.conf", tmpdir);
	expect_err(COMMAND_SERVE, ARGV("--config", missing), ENV(TOKEN_ENV),
		   fmt("config: cannot read %s (from flag --config): No such file or directory",
		       missing));
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_CONFIG=%s", tmpdir)),
		   fmt("config: cannot read %s (from env INTERCOM_HEALTHD_CONFIG): Is a directory",
		       tmpdir));
}
END_TEST

/* ---- errors name the setting and the source --------------------------- */

START_TEST(error_sources)
{
	expect_err(COMMAND_SERVE, ARGV("--interval", "abc"), ENV(TOKEN_ENV),
		   "interval: invalid duration \"abc\" (from flag --interval):"
		   " use 250ms, 5s, 2m, 1h or seconds");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_INTERVAL=abc"),
		   "interval: invalid duration \"abc\" (from env INTERCOM_HEALTHD_INTERVAL):"
		   " use 250ms, 5s, 2m, 1h or seconds");
	const char *conf = write_file("a.conf", "# a comment\n\nregion = us\ninterval = abc\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("interval: invalid duration \"abc\" (from %s:4):"
		       " use 250ms, 5s, 2m, 1h or seconds", conf));
	expect_err(COMMAND_SERVE, ARGV("--failure-threshold=0"), ENV(TOKEN_ENV),
		   "failure_threshold: 0 (from flag --failure-threshold) must be between 1 and 1000");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_SUCCESS_THRESHOLD=1001"),
		   "success_threshold: 1001 (from env INTERCOM_HEALTHD_SUCCESS_THRESHOLD)"
		   " must be between 1 and 1000");
	expect_err(COMMAND_SERVE, ARGV("--log-format=xml"), ENV(TOKEN_ENV),
		   "log_format: invalid value \"xml\" (from flag --log-format): use text or json");
	expect_err(COMMAND_SERVE, ARGV("--log-level=loud"), ENV(TOKEN_ENV),
		   "log_level: invalid value \"loud\" (from flag --log-level):"
		   " use debug, info, warning or error");
	/* Values are escaped so the message stays one line. */
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_REGION=e\nu"),
		   "region: invalid value \"e\\x0au\" (from env INTERCOM_HEALTHD_REGION):"
		   " use us, eu or au");
}
END_TEST

START_TEST(integers)
{
	expect_ok(COMMAND_SERVE, ARGV("--rate-limit-low=0", "--failure-threshold=1000",
				      "--success-threshold", "7"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.rate_limit_low, 0);
	ck_assert_int_eq(S.failure_threshold, 1000);
	ck_assert_int_eq(S.success_threshold, 7);
	expect_ok(COMMAND_SERVE, ARGV("--rate-limit-low=25%"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.rate_limit_low, 25);
	expect_ok(COMMAND_SERVE, ARGV("--rate-limit-low=100"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.rate_limit_low, 100);
	expect_err(COMMAND_SERVE, ARGV("--rate-limit-low=101"), ENV(TOKEN_ENV),
		   "rate_limit_low: 101 (from flag --rate-limit-low) must be between 0 and 100");
	expect_err(COMMAND_SERVE, ARGV("--rate-limit-low=-1"), ENV(TOKEN_ENV),
		   "rate_limit_low: invalid number \"-1\" (from flag --rate-limit-low):"
		   " use a whole percent 0-100");
	expect_err(COMMAND_SERVE, ARGV("--rate-limit-low=5.5"), ENV(TOKEN_ENV),
		   "rate_limit_low: invalid number \"5.5\" (from flag --rate-limit-low):"
		   " use a whole percent 0-100");
	expect_err(COMMAND_SERVE, ARGV("--failure-threshold=99999999999999999999999"),
		   ENV(TOKEN_ENV),
		   "failure_threshold: 99999999999999999999999 (from flag --failure-threshold)"
		   " must be between 1 and 1000");
	expect_err(COMMAND_SERVE, ARGV("--failure-threshold=x"), ENV(TOKEN_ENV),
		   "failure_threshold: invalid number \"x\" (from flag --failure-threshold):"
		   " use a whole number 1-1000");
}
END_TEST

START_TEST(config_syntax)
{
	const char *conf = write_file("a.conf", "interval = 20s\n\nbogus = 1\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("bogus: unknown setting (from %s:3)", conf));
	conf = write_file("b.conf", "# ok\ninterval 20s\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("%s:2: expected \"key = value\"", conf));
	conf = write_file("c.conf", " = 20s\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("%s:1: expected \"key = value\"", conf));
	conf = write_file("d.conf", "degraded-ok = true\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("degraded-ok: unknown setting (from %s:1): did you mean degraded_ok?", conf));
	conf = write_file("e.conf", "listen = \"127.0.0.1:1\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("listen: unterminated quote (from %s:1)", conf));
	conf = write_file("f.conf", "listen = \"127.0.0.1:1\" x\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("listen: unexpected text after the closing quote (from %s:1)", conf));
	/* Command options have no file spelling. */
	conf = write_file("g.conf", "format = json\n");
	expect_err(COMMAND_CHECK, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("format: unknown setting (from %s:1)", conf));
	/* Empty value: unsets an optional setting, an error elsewhere. */
	conf = write_file("h.conf", "ca_file =\nwebhook_url = \"\"\n");
	expect_ok(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV));
	ck_assert_ptr_null(S.ca_file);
	ck_assert_ptr_null(S.webhook_url);
	conf = write_file("i.conf", "\n\nlisten =   # nothing\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("listen: empty value (from %s:3)", conf));
	/* '#' right after '=' is part of the value, not a comment. */
	conf = write_file("j.conf", "webhook_url =#x\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("webhook_url: invalid URL \"#x\" (from %s:1):"
		       " must start with http:// or https://", conf));
}
END_TEST

/* ---- the token -------------------------------------------------------- */

START_TEST(token_never_in_argv)
{
	static const char *const flags[] = {
		"--token=" TOKEN, "--access-token=" TOKEN, "--intercom-access-token=" TOKEN,
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int rc = run(COMMAND_SERVE, ARGV(flags[i]), ENV(TOKEN_ENV));
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(strstr(E, "the token is never accepted on the command line"
					" (argv is world-readable); use INTERCOM_ACCESS_TOKEN"
					" or --token-file"), "%s", E);
	}
	expect_err(COMMAND_CHECK, ARGV("--token", TOKEN), NONE,
		   "--token: the token is never accepted on the command line"
		   " (argv is world-readable); use INTERCOM_ACCESS_TOKEN or --token-file");
	expect_err(COMMAND_PREFLIGHT, ARGV("--interval=5s", "--access-token=" TOKEN), NONE,
		   "--access-token: the token is never accepted on the command line"
		   " (argv is world-readable); use INTERCOM_ACCESS_TOKEN or --token-file");
	expect_err(COMMAND_PREFLIGHT, ARGV("--webhook-secret=" WEBHOOK), ENV(TOKEN_ENV),
		   "--webhook-secret: the webhook secret is never accepted on the command line"
		   " (argv is world-readable); use INTERCOM_WEBHOOK_SECRET or"
		   " --webhook-secret-file");
}
END_TEST

START_TEST(token_never_in_config)
{
	const char *conf = write_file("a.conf", "interval = 20s\ntoken = " TOKEN "\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("token: not accepted in a config file (from %s:2):"
		       " use token_file or INTERCOM_ACCESS_TOKEN", conf));
	conf = write_file("b.conf", "access_token = \"" TOKEN "\"\n");
	expect_err_part(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
			"token: not accepted in a config file");
	conf = write_file("c.conf", "webhook_secret = " WEBHOOK "\n");
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("webhook_secret: not accepted in a config file (from %s:1):"
		       " use webhook_secret_file or INTERCOM_WEBHOOK_SECRET", conf));
}
END_TEST

START_TEST(token_file_wins_over_env)
{
	const char *tok = write_file("token", FILE_TOKEN "\n");
	expect_ok(COMMAND_SERVE, ARGV("--token-file", tok), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.token, FILE_TOKEN);
	ck_assert_str_eq(S.token_file, tok);
	ck_assert_str_eq(S.token_origin, fmt("file %s", tok));
	/* From the config file too, and an unusable env token is not read. */
	const char *conf = write_file("a.conf", fmt("token_file = %s\n", tok));
	expect_ok(COMMAND_SERVE, ARGV("--config", conf),
		  ENV("INTERCOM_ACCESS_TOKEN=bad token " MARK));
	ck_assert_str_eq(S.token, FILE_TOKEN);
	expect_ok(COMMAND_CHECK, NONE,
		  ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_TOKEN_FILE=%s", tok)));
	ck_assert_str_eq(S.token, FILE_TOKEN);
}
END_TEST

START_TEST(token_credentials_directory)
{
	const char *dir = make_dir("creds");
	const char *cred = write_file("creds/intercom-access-token", CRED_TOKEN "\n");
	expect_ok(COMMAND_SERVE, NONE, ENV(fmt("CREDENTIALS_DIRECTORY=%s", dir)));
	ck_assert_str_eq(S.token, CRED_TOKEN);
	ck_assert_str_eq(S.token_file, cred);
	ck_assert_str_eq(S.token_origin, fmt("file %s", cred));
	/* The credential is token_file's default, so it wins over the env... */
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, fmt("CREDENTIALS_DIRECTORY=%s", dir)));
	ck_assert_str_eq(S.token, CRED_TOKEN);
	/* ...and an explicit token_file wins over it. */
	const char *tok = write_file("token", FILE_TOKEN);
	expect_ok(COMMAND_SERVE, ARGV("--token-file", tok),
		  ENV(fmt("CREDENTIALS_DIRECTORY=%s", dir)));
	ck_assert_str_eq(S.token, FILE_TOKEN);
	/* A credential directory without that credential is no token. */
	const char *empty = make_dir("empty");
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, fmt("CREDENTIALS_DIRECTORY=%s", empty)));
	ck_assert_str_eq(S.token, TOKEN);
	ck_assert_str_eq(S.token_origin, "env INTERCOM_ACCESS_TOKEN");
}
END_TEST

START_TEST(token_file_contents)
{
	const char *crlf = write_file("crlf", FILE_TOKEN "\r\n");
	expect_ok(COMMAND_SERVE, ARGV("--token-file", crlf), NONE);
	ck_assert_str_eq(S.token, FILE_TOKEN);
	const char *plain = write_file("plain", FILE_TOKEN);
	expect_ok(COMMAND_SERVE, ARGV("--token-file", plain), NONE);
	ck_assert_str_eq(S.token, FILE_TOKEN);

	const char *middle = write_file("middle", "dG9r" MARK "\nInjected: " MARK "\n");
	expect_err(COMMAND_SERVE, ARGV("--token-file", middle), NONE,
		   fmt("token_file: %s contains whitespace or a control character at byte 11"
		       " (only a trailing newline is ignored) (from flag --token-file)", middle));
	const char *space = write_file("space", "Bearer " MARK "\n");
	expect_err_part(COMMAND_SERVE, ARGV("--token-file", space), NONE,
			"contains whitespace or a control character at byte 7");
	const char *bom = write_file("bom", "\xef\xbb\xbf" MARK);
	expect_err_part(COMMAND_SERVE, ARGV("--token-file", bom), NONE,
			"contains a non-ASCII byte at byte 1");
	const char *del = write_file("del", MARK "\x7f");
	expect_err_part(COMMAND_SERVE, ARGV("--token-file", del), NONE,
			"contains whitespace or a control character at byte 7");
	const char *nul = write_bytes("nul", MARK "\0" MARK, 13);
	expect_err_part(COMMAND_SERVE, ARGV("--token-file", nul), NONE,
			"contains whitespace or a control character at byte 7");

	const char *empty = write_file("empty", "");
	expect_err(COMMAND_SERVE, ARGV("--token-file", empty), ENV(TOKEN_ENV),
		   fmt("token_file: %s is empty (from flag --token-file)", empty));
	const char *newline = write_file("newline", "\n");
	expect_err(COMMAND_SERVE, NONE,
		   ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_TOKEN_FILE=%s", newline)),
		   fmt("token_file: %s is empty (from env INTERCOM_HEALTHD_TOKEN_FILE)", newline));

	char big[9000];
	memset(big, 'A', sizeof(big));
	memcpy(big, MARK, strlen(MARK));
	const char *large = write_bytes("large", big, sizeof(big));
	expect_err(COMMAND_SERVE, ARGV("--token-file", large), NONE,
		   fmt("token_file: %s is larger than 8192 bytes (from flag --token-file)", large));
}
END_TEST

START_TEST(token_file_unreadable)
{
	const char *missing = fmt("%s/missing", tmpdir);
	expect_err(COMMAND_SERVE, ARGV("--token-file", missing), ENV(TOKEN_ENV),
		   fmt("token_file: cannot read %s: No such file or directory"
		       " (from flag --token-file)", missing));
	const char *dir = make_dir("dir");
	const char *conf = write_file("a.conf", fmt("\ntoken_file = %s\n", dir));
	expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
		   fmt("token_file: cannot read %s: Is a directory (from %s:2)", dir, conf));
	/* An unreadable credential is an error, not a silent fallback. */
	const char *creds = make_dir("creds");
	make_dir("creds/intercom-access-token");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, fmt("CREDENTIALS_DIRECTORY=%s", creds)),
		   fmt("token_file: cannot read %s/intercom-access-token: Is a directory"
		       " (from default: systemd credential)", creds));
}
END_TEST

START_TEST(token_env_validation)
{
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV "\n"));
	ck_assert_str_eq(S.token, TOKEN);
	expect_err(COMMAND_SERVE, NONE, ENV("INTERCOM_ACCESS_TOKEN=" MARK " x"),
		   "token: contains whitespace or a control character at byte 7"
		   " (from env INTERCOM_ACCESS_TOKEN)");
	expect_err(COMMAND_SERVE, NONE, ENV("INTERCOM_ACCESS_TOKEN=" MARK "\r\nX-Evil: 1"),
		   "token: contains whitespace or a control character at byte 7"
		   " (from env INTERCOM_ACCESS_TOKEN)");
	expect_err(COMMAND_SERVE, NONE, ENV("INTERCOM_ACCESS_TOKEN="),
		   "token: empty (from env INTERCOM_ACCESS_TOKEN)");
}
END_TEST

START_TEST(no_token)
{
	static const enum command cmds[] = { COMMAND_SERVE, COMMAND_CHECK, COMMAND_PREFLIGHT };
	for (size_t i = 0; i < 3; i++) {
		expect_err(cmds[i], NONE, ENV("HOME=/root"),
			   "token: no access token: set INTERCOM_ACCESS_TOKEN, token_file, or the"
			   " systemd credential intercom-access-token");
	}
	/* envp may be NULL. */
	free(E);
	E = NULL;
	int rc = settings_load(&S, COMMAND_SERVE, 0, NULL, NULL, &E);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(E, "no access token"));
	expect_err(COMMAND_SERVE, NONE, ENV("INTERCOM_HEALTHD_TOKEN=" TOKEN),
		   "token: no access token: set INTERCOM_ACCESS_TOKEN, token_file, or the"
		   " systemd credential intercom-access-token (INTERCOM_HEALTHD_TOKEN is not read)");
}
END_TEST

/* ---- cross checks ----------------------------------------------------- */

START_TEST(timeout_vs_interval)
{
	expect_err(COMMAND_SERVE, ARGV("--timeout=20s"), ENV(TOKEN_ENV),
		   "timeout: 20s (from flag --timeout) must be less than interval 15s (from default)");
	expect_err(COMMAND_SERVE, ARGV("--interval=10s"), ENV(TOKEN_ENV,
		   "INTERCOM_HEALTHD_TIMEOUT=10000ms"),
		   "timeout: 10s (from env INTERCOM_HEALTHD_TIMEOUT) must be less than"
		   " interval 10s (from flag --interval)");
	expect_ok(COMMAND_SERVE, ARGV("--interval=10s", "--timeout=9999ms"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.timeout_ms, 9999);
}
END_TEST

START_TEST(stale_after)
{
	expect_ok(COMMAND_SERVE, ARGV("--interval=10s", "--timeout=2s"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.stale_after_ms, 22000);
	/* Minimum: interval + 10% jitter + timeout. */
	expect_ok(COMMAND_SERVE, ARGV("--interval=10s", "--timeout=2s", "--stale-after=13s"),
		  ENV(TOKEN_ENV));
	ck_assert_int_eq(S.stale_after_ms, 13000);
	expect_err(COMMAND_SERVE, ARGV("--interval=10s", "--timeout=2s", "--stale-after=12999ms"),
		   ENV(TOKEN_ENV),
		   "stale_after: 12.999s (from flag --stale-after) must be at least 13s"
		   " (interval 10s (from flag --interval) + 10% jitter + timeout 2s"
		   " (from flag --timeout))");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_STALE_AFTER=20s"),
		   "stale_after: 20s (from env INTERCOM_HEALTHD_STALE_AFTER) must be at least"
		   " 21.5s (interval 15s (from default) + 10% jitter + timeout 5s (from default))");
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_STALE_AFTER=2m"));
	ck_assert_int_eq(S.stale_after_ms, 120000);
}
END_TEST

START_TEST(listen_address)
{
	expect_ok(COMMAND_SERVE, ARGV("--listen=0.0.0.0:80"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.listen, "0.0.0.0:80");
	ck_assert_str_eq(S.listen_host, "0.0.0.0");
	ck_assert_int_eq(S.listen_port, 80);
	expect_ok(COMMAND_SERVE, ARGV("--listen", "[::1]:0"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.listen, "[::1]:0");
	ck_assert_str_eq(S.listen_host, "::1");
	ck_assert_int_eq(S.listen_port, 0);
	expect_ok(COMMAND_SERVE, ARGV("--listen=localhost:65535"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.listen_host, "127.0.0.1");
	ck_assert_int_eq(S.listen_port, 65535);
	/* Names other than localhost would need DNS: refused up front. */
	expect_err(COMMAND_SERVE, ARGV("--listen=999.1.1.1:80"), ENV(TOKEN_ENV),
		   "listen: invalid address \"999.1.1.1:80\" (from flag --listen): use a"
		   " numeric IPv4 address, e.g. 127.0.0.1:9180");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=example.com:80"), ENV(TOKEN_ENV),
			"use a numeric IPv4 address");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=[fe80::zz]:80"), ENV(TOKEN_ENV),
			"use a numeric IPv6 address");

	expect_err(COMMAND_SERVE, ARGV("--listen=127.0.0.1:70000"), ENV(TOKEN_ENV),
		   "listen: port 70000 (from flag --listen) must be between 0 and 65535");
	expect_err(COMMAND_SERVE, ARGV("--listen=127.0.0.1:http"), ENV(TOKEN_ENV),
		   "listen: invalid port in \"127.0.0.1:http\" (from flag --listen):"
		   " use a number 0-65535");
	expect_err(COMMAND_SERVE, ARGV("--listen=127.0.0.1:"), ENV(TOKEN_ENV),
		   "listen: invalid port in \"127.0.0.1:\" (from flag --listen):"
		   " use a number 0-65535");
	expect_err(COMMAND_SERVE, ARGV("--listen=127.0.0.1"), ENV(TOKEN_ENV),
		   "listen: invalid address \"127.0.0.1\" (from flag --listen):"
		   " use HOST:PORT or [IPv6]:PORT");
	expect_err(COMMAND_SERVE, ARGV("--listen=:9180"), ENV(TOKEN_ENV),
		   "listen: invalid address \":9180\" (from flag --listen):"
		   " use HOST:PORT or [IPv6]:PORT");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_LISTEN=::1:9180"),
		   "listen: invalid address \"::1:9180\" (from env INTERCOM_HEALTHD_LISTEN):"
		   " put an IPv6 address in brackets, e.g. [::1]:9180");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=[]:80"), ENV(TOKEN_ENV),
			"listen: invalid address");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=[::1]9180"), ENV(TOKEN_ENV),
			"listen: invalid address");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=a b:80"), ENV(TOKEN_ENV),
			"listen: invalid address");
	expect_err_part(COMMAND_SERVE, ARGV("--listen=127.0.0.1:-1"), ENV(TOKEN_ENV),
			"listen: invalid port");
}
END_TEST

START_TEST(region_and_api_url)
{
	expect_ok(COMMAND_SERVE, ARGV("--region=eu"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.region, "eu");
	ck_assert_str_eq(S.api_url, "https://api.eu.intercom.io");
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_REGION=AU"));
	ck_assert_str_eq(S.region, "au");
	ck_assert_str_eq(S.api_url, "https://api.au.intercom.io");
	/* An explicit api_url wins, even from a lower level than the region. */
	const char *conf = write_file("a.conf", "api_url = https://127.0.0.1:8080/\n");
	expect_ok(COMMAND_SERVE, ARGV("--region", "eu", "--config", conf), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.api_url, "https://127.0.0.1:8080");
	ck_assert_str_eq(S.region, "eu");
	/* The bearer token never goes out in clear text. */
	const char *plain = write_file("plain.conf", "api_url = http://127.0.0.1:8080/\n");
	expect_err(COMMAND_SERVE, ARGV("--config", plain), ENV(TOKEN_ENV),
		   fmt("api_url: \"http://127.0.0.1:8080/\" (from %s:1) must start with"
		       " https://: the bearer token never goes out in clear text", plain));
	expect_err_part(COMMAND_CHECK, ARGV("--api-url=HTTP://api.intercom.io"),
			ENV(TOKEN_ENV), "must start with https://");
	expect_ok(COMMAND_SERVE, ARGV("--api-url=https://proxy.example.com/intercom//"),
		  ENV(TOKEN_ENV));
	ck_assert_str_eq(S.api_url, "https://proxy.example.com/intercom");

	expect_err(COMMAND_SERVE, ARGV("--region=mars"), ENV(TOKEN_ENV),
		   "region: invalid value \"mars\" (from flag --region): use us, eu or au");
	expect_err(COMMAND_SERVE, ARGV("--api-url=ftp://api.intercom.io"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"ftp://api.intercom.io\" (from flag --api-url):"
		   " must start with http:// or https://");
	expect_err(COMMAND_SERVE, ARGV("--api-url=https:///me"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"https:///me\" (from flag --api-url): has no host");
	expect_err(COMMAND_SERVE, ARGV("--api-url=https://:443"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"https://:443\" (from flag --api-url): has no host");
	expect_err(COMMAND_SERVE, ARGV("--api-url=https://a b"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"https://a b\" (from flag --api-url):"
		   " contains whitespace, a control character or a non-ASCII byte"
		   " (percent-encode it)");
	/* preflight's own URL is held to the same rule, the
	 * environment's token included where a token file wins over it. */
	expect_err(COMMAND_PREFLIGHT, ARGV("--health-url=http://h/?t=" TOKEN),
		   ENV(TOKEN_ENV),
		   "--health-url: the value holds the access token, or part of it:"
		   " refusing to log it or send it anywhere");
	/* A raw 8-bit byte would reach logs and JSON as it is. */
	expect_err(COMMAND_SERVE, ARGV("--webhook-url=https://a/\xff"), ENV(TOKEN_ENV),
		   "webhook_url: invalid URL \"https://a/\\xff\" (from flag --webhook-url):"
		   " contains whitespace, a control character or a non-ASCII byte"
		   " (percent-encode it)");
	expect_err(COMMAND_SERVE, ARGV("--api-url="), ENV(TOKEN_ENV),
		   "api_url: empty value (from flag --api-url)");
	/* curl reads "https:///me" (above) as host "me", this as host "x":
	 * typos all the same. */
	expect_err(COMMAND_SERVE, ARGV("--api-url=https:/x"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"https:/x\" (from flag --api-url):"
		   " must start with http:// or https://");
	expect_err(COMMAND_SERVE, ARGV("--api-url=https://x.example.com:99999"), ENV(TOKEN_ENV),
		   "api_url: invalid URL \"https://x.example.com:99999\" (from flag --api-url):"
		   " has a port outside 0-65535");
	expect_err_part(COMMAND_SERVE, ARGV("--api-url=https://[::1"), ENV(TOKEN_ENV),
			"api_url: invalid URL \"https://[::1\" (from flag --api-url):"
			" is not a valid URL");
	expect_ok(COMMAND_SERVE, ARGV("--api-url=https://[::1]:8080"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.api_url, "https://[::1]:8080");
}
END_TEST

START_TEST(other_strings)
{
	expect_ok(COMMAND_SERVE, ARGV("--probe-path=/admins", "--api-version=Unstable"),
		  ENV(TOKEN_ENV));
	ck_assert_str_eq(S.probe_path, "/admins");
	ck_assert_str_eq(S.api_version, "Unstable");
	expect_err(COMMAND_SERVE, ARGV("--probe-path=me"), ENV(TOKEN_ENV),
		   "probe_path: \"me\" (from flag --probe-path) must start with '/'");
	expect_err(COMMAND_SERVE, ARGV("--probe-path=/a b"), ENV(TOKEN_ENV),
		   "probe_path: invalid value \"/a b\" (from flag --probe-path):"
		   " use visible ASCII without spaces, e.g. /me");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_API_VERSION=2.14\r\nX: y"),
		   "api_version: invalid value \"2.14\\x0d\\x0aX: y\""
		   " (from env INTERCOM_HEALTHD_API_VERSION): use visible ASCII without spaces,"
		   " e.g. 2.14");
}
END_TEST

START_TEST(status_and_webhook_urls)
{
	expect_ok(COMMAND_SERVE, ARGV("--status-url=off"), ENV(TOKEN_ENV));
	ck_assert_ptr_null(S.status_url);
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_STATUS_URL=OFF"));
	ck_assert_ptr_null(S.status_url);
	expect_ok(COMMAND_SERVE, ARGV("--status-url", "http://127.0.0.1:1/status.json",
				      "--webhook-url", "https://hooks.example.com/intercom"),
		  ENV(TOKEN_ENV));
	ck_assert_str_eq(S.status_url, "http://127.0.0.1:1/status.json");
	ck_assert_str_eq(S.webhook_url, "https://hooks.example.com/intercom");
	expect_err(COMMAND_SERVE, ARGV("--status-url=none"), ENV(TOKEN_ENV),
		   "status_url: invalid URL \"none\" (from flag --status-url):"
		   " must start with http:// or https://");
	expect_err(COMMAND_SERVE, ARGV("--webhook-url=hooks.example.com"), ENV(TOKEN_ENV),
		   "webhook_url: invalid URL \"hooks.example.com\" (from flag --webhook-url):"
		   " must start with http:// or https://");
	/* Empty unsets an optional URL, from any level. */
	expect_ok(COMMAND_SERVE, ARGV("--webhook-url="),
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_WEBHOOK_URL=https://x.example.com"));
	ck_assert_ptr_null(S.webhook_url);
}
END_TEST

START_TEST(ca_file)
{
	const char *ca = write_file("ca.pem", TEST_PEM);
	expect_ok(COMMAND_SERVE, ARGV("--ca-file", ca), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.ca_file, ca);
	/* Junk is refused at start, not at every probe as a TLS failure. */
	const char *junk = write_file("junk.pem", "not a certificate\n");
	expect_err(COMMAND_SERVE, ARGV("--ca-file", junk), ENV(TOKEN_ENV),
		   fmt("ca_file: %s (from flag --ca-file) holds no PEM certificate"
		       " (-----BEGIN CERTIFICATE-----)", junk));
	const char *broken = write_file("broken.pem", "-----BEGIN CERTIFICATE-----\n"
					"!!!!\n-----END CERTIFICATE-----\n");
	expect_err(COMMAND_SERVE, ARGV("--ca-file", broken), ENV(TOKEN_ENV),
		   fmt("ca_file: %s (from flag --ca-file) is not a PEM certificate bundle:"
		       " a block in it does not decode", broken));
	expect_err(COMMAND_SERVE, ARGV("--ca-file", "/dev/zero"), ENV(TOKEN_ENV),
		   "ca_file: cannot read /dev/zero (from flag --ca-file): not a regular file");
	ck_assert_ptr_null(S.webhook_url);
	const char *missing = fmt("%s/none.pem", tmpdir);
	expect_err(COMMAND_SERVE, NONE,
		   ENV(TOKEN_ENV, fmt("INTERCOM_HEALTHD_CA_FILE=%s", missing)),
		   fmt("ca_file: cannot read %s (from env INTERCOM_HEALTHD_CA_FILE):"
		       " No such file or directory", missing));
	expect_err(COMMAND_SERVE, ARGV("--ca-file", tmpdir), ENV(TOKEN_ENV),
		   fmt("ca_file: cannot read %s (from flag --ca-file): Is a directory", tmpdir));
}
END_TEST

START_TEST(webhook_secret)
{
	expect_ok(COMMAND_PREFLIGHT, NONE, ENV(TOKEN_ENV, WEBHOOK_ENV "\n"));
	ck_assert_str_eq(S.webhook_secret, WEBHOOK);
	ck_assert_ptr_null(S.webhook_secret_file);
	const char *file = write_file("secret", "file" MARK "\n");
	expect_ok(COMMAND_PREFLIGHT, ARGV("--webhook-secret-file", file),
		  ENV(TOKEN_ENV, WEBHOOK_ENV));
	ck_assert_str_eq(S.webhook_secret, "file" MARK);
	ck_assert_str_eq(S.webhook_secret_file, file);
	const char *empty = write_file("empty", "\r\n");
	expect_err(COMMAND_PREFLIGHT, ARGV("--webhook-secret-file", empty), ENV(TOKEN_ENV),
		   fmt("webhook_secret_file: %s is empty (from flag --webhook-secret-file)", empty));
	expect_err(COMMAND_PREFLIGHT, NONE,
		   ENV(TOKEN_ENV, "INTERCOM_WEBHOOK_SECRET=a " MARK),
		   "webhook_secret: contains whitespace or a control character at byte 2"
		   " (from env INTERCOM_WEBHOOK_SECRET)");
}
END_TEST

/* ---- the command line ------------------------------------------------- */

START_TEST(command_options)
{
	expect_ok(COMMAND_CHECK, ARGV("--format", "json"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.format, OUTPUT_FORMAT_JSON);
	expect_ok(COMMAND_CHECK, ARGV("--format=text"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.format, OUTPUT_FORMAT_TEXT);
	expect_err(COMMAND_CHECK, ARGV("--format=junit"), ENV(TOKEN_ENV),
		   "--format: invalid \"junit\": use text or json");
	expect_err(COMMAND_SERVE, ARGV("--format=json"), ENV(TOKEN_ENV),
		   "--format: not an option of serve (see --help)");

	const char *dir = make_dir("scan");
	expect_ok(COMMAND_PREFLIGHT, ARGV("--format", "junit", "--scan", dir, "--strict",
					  "--health-url=http://127.0.0.1:9180/health"),
		  ENV(TOKEN_ENV));
	ck_assert_int_eq(S.format, OUTPUT_FORMAT_JUNIT);
	ck_assert_str_eq(S.scan_dir, dir);
	ck_assert_str_eq(S.health_url, "http://127.0.0.1:9180/health");
	ck_assert(S.strict);
	expect_ok(COMMAND_PREFLIGHT, ARGV("--strict=no"), ENV(TOKEN_ENV));
	ck_assert(!S.strict);
	expect_err(COMMAND_PREFLIGHT, ARGV("--format=xml"), ENV(TOKEN_ENV),
		   "--format: invalid \"xml\": use text, json or junit");
	expect_err(COMMAND_PREFLIGHT, ARGV("--strict=maybe"), ENV(TOKEN_ENV),
		   "--strict: invalid boolean \"maybe\": use true/false, yes/no, on/off or 1/0");
	expect_err(COMMAND_PREFLIGHT, ARGV("--health-url", "localhost:9180"), ENV(TOKEN_ENV),
		   "--health-url: invalid URL \"localhost:9180\": must start with http:// or https://");
	expect_err(COMMAND_PREFLIGHT, ARGV("--scan", fmt("%s/nope", tmpdir)), ENV(TOKEN_ENV),
		   fmt("--scan: cannot read %s/nope: No such file or directory", tmpdir));

	expect_err(COMMAND_CHECK, ARGV("--scan", dir), ENV(TOKEN_ENV),
		   "--scan: not an option of check (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--health-url=http://x"), ENV(TOKEN_ENV),
		   "--health-url: not an option of serve (see --help)");
	expect_err(COMMAND_CHECK, ARGV("--strict"), ENV(TOKEN_ENV),
		   "--strict: not an option of check (see --help)");
	/* No env spelling: ignored like any unknown INTERCOM_HEALTHD_ variable. */
	expect_ok(COMMAND_CHECK, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_FORMAT=xml",
					   "INTERCOM_HEALTHD_WHATEVER=1"));
	ck_assert_int_eq(S.format, OUTPUT_FORMAT_TEXT);
}
END_TEST

START_TEST(argv_errors)
{
	expect_err(COMMAND_SERVE, ARGV("--bogus"), ENV(TOKEN_ENV),
		   "--bogus: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--bogus=" MARK), ENV(TOKEN_ENV),
		   "--bogus: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("-x"), ENV(TOKEN_ENV),
		   "-x: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--interval"), ENV(TOKEN_ENV),
		   "interval: missing value (from flag --interval):"
		   " use --interval=VALUE or --interval VALUE");
	expect_err(COMMAND_SERVE, ARGV("--interval", "--timeout=1s"), ENV(TOKEN_ENV),
		   "interval: missing value (from flag --interval):"
		   " use --interval=VALUE or --interval VALUE");
	expect_err(COMMAND_CHECK, ARGV("--format"), ENV(TOKEN_ENV),
		   "--format: missing value: use --format=VALUE or --format VALUE");
	expect_err(COMMAND_SERVE, ARGV("--config"), ENV(TOKEN_ENV),
		   "--config: missing value: use --config=VALUE or --config VALUE");
	expect_err(COMMAND_SERVE, ARGV("now"), ENV(TOKEN_ENV),
		   "\"now\": unexpected argument (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--", "--interval=5s"), ENV(TOKEN_ENV),
		   "\"--interval=5s\": unexpected argument (see --help)");
	/* A long stray word may be a pasted token: not echoed. */
	expect_err(COMMAND_SERVE, ARGV("--interval=5s", "dG9rOjAbCdEfGhIjKlMnOpQrStUvWxYz" MARK),
		   ENV(TOKEN_ENV),
		   "argument 2: unexpected argument of 38 characters (see --help)");
	/* getopt_long() would take unique abbreviations; they are refused, so
	 * a new setting never makes someone's abbreviation ambiguous. */
	expect_err(COMMAND_SERVE, ARGV("--interv=5s"), ENV(TOKEN_ENV),
		   "--interv: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--log-l", "debug"), ENV(TOKEN_ENV),
		   "--log-l: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--interv"), ENV(TOKEN_ENV),
		   "--interv: unknown option (see --help)");
	expect_err(COMMAND_PREFLIGHT, ARGV("--stri"), ENV(TOKEN_ENV),
		   "--stri: unknown option (see --help)");
	/* Ambiguous, and a prefix of --token-file: never read as that. */
	expect_err(COMMAND_SERVE, ARGV("--tok=" TOKEN), ENV(TOKEN_ENV),
		   "--tok: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("-xy"), ENV(TOKEN_ENV),
		   "-xy: unknown option (see --help)");
	expect_err(COMMAND_SERVE, ARGV("-"), ENV(TOKEN_ENV),
		   "\"-\": unexpected argument (see --help)");
	expect_err(COMMAND_SERVE, ARGV("--interval=5s", "--", "x"), ENV(TOKEN_ENV),
		   "\"x\": unexpected argument (see --help)");
	expect_err(COMMAND_PREFLIGHT, ARGV("--strict", "no"), ENV(TOKEN_ENV),
		   "\"no\": unexpected argument (a boolean flag takes its value only"
		   " after '=': --strict=no)");
	/* The hint is for the word right after the flag only. */
	expect_err(COMMAND_SERVE, ARGV("--degraded-ok", "--interval=5s", "no"), ENV(TOKEN_ENV),
		   "\"no\": unexpected argument (see --help)");
	/* A value may start with one '-', and the scan restarts on every load. */
	expect_err(COMMAND_SERVE, ARGV("--interval", "-5s"), ENV(TOKEN_ENV),
		   "interval: invalid duration \"-5s\" (from flag --interval):"
		   " use 250ms, 5s, 2m, 1h or seconds");
	expect_ok(COMMAND_SERVE, ARGV("--interval", "20s", "--degraded-ok"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.interval_ms, 20000);
	ck_assert(S.degraded_ok);
	/* "--" alone and argc 0 are fine. */
	expect_ok(COMMAND_SERVE, ARGV("--"), ENV(TOKEN_ENV));
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV));
}
END_TEST

/* ---- secrets never leak ----------------------------------------------- */

START_TEST(secrets_never_in_errors)
{
	const char *tok = write_file("tok", TOKEN "\n" MARK "\n");
	const char *conf = write_file("a.conf", "token = " TOKEN "\n");
	const char *conf2 = write_file("b.conf", "webhook_secret = \"" WEBHOOK "\"\n");
	const char *conf3 = write_file("c.conf", TOKEN "\n");
	const char *const env_both[] = { TOKEN_ENV, WEBHOOK_ENV, NULL };

	/* Every failure below runs through run(), which asserts MARK is absent;
	 * here we also make sure each one really failed. */
	const char *const *argvs[] = {
		ARGV("--token=" TOKEN),
		ARGV("--token", TOKEN),
		ARGV("--webhook-secret=" WEBHOOK),
		ARGV("--webhook-secret", WEBHOOK),
		ARGV("--token-file", tok),
		ARGV("--config", conf),
		ARGV("--config", conf2),
		ARGV("--config", conf3),
		ARGV("--interval=" TOKEN),
		ARGV("--unknown=" TOKEN),
		ARGV(TOKEN),
		ARGV("--api-url", TOKEN),
		ARGV("--api-url", "https://" TOKEN "@"),
		ARGV("--listen", TOKEN),
		ARGV("--region", WEBHOOK),
		ARGV("--timeout=20s"),
	};
	for (size_t i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
		int rc = run(COMMAND_PREFLIGHT, argvs[i], env_both);
		ck_assert_msg(rc == -EINVAL, "case %zu did not fail", i);
	}
	/* A secret pasted into another variable is not echoed: too long to
	 * show, and shaped like a token. */
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_REGION=" TOKEN),
		   "region: invalid value (a value of 36 characters, not shown)"
		   " (from env INTERCOM_HEALTHD_REGION): use us, eu or au");
	expect_err_part(COMMAND_SERVE, NONE,
			ENV(TOKEN_ENV, WEBHOOK_ENV, "INTERCOM_HEALTHD_LOG_LEVEL=x" WEBHOOK),
			"(a value of 34 characters, not shown)");
	/* Short enough to be shown, it is still redacted, whole or in part:
	 * here 8 of its characters follow an "x". */
	expect_err_part(COMMAND_SERVE, NONE,
			ENV(TOKEN_ENV, WEBHOOK_ENV, "INTERCOM_HEALTHD_LOG_LEVEL=x"
			    "AbCdEf01"),
			"\"x(redacted)\"");
	/* Secrets read from files are redacted as well (a path that happens
	 * to hold the token is as contrived as it gets, but it is a way to
	 * get a file's secret in front of the redaction). */
	const char *good = write_file("good", FILE_TOKEN);
	expect_err(COMMAND_SERVE, ARGV("--token-file", good, "--webhook-secret-file",
				       fmt("%s/" FILE_TOKEN, tmpdir)), NONE,
		   fmt("webhook_secret_file: cannot read %s/(redacted): No such file or"
		       " directory (from flag --webhook-secret-file)", tmpdir));
}
END_TEST

START_TEST(secret_file_direct)
{
	char *out = NULL, *err = NULL;
	const char *good = write_file("good", FILE_TOKEN "\n\n");
	ck_assert_int_eq(secret_read_file(good, &out, NULL, &err), 0);
	ck_assert_str_eq(out, FILE_TOKEN);
	ck_assert_ptr_null(err);
	secret_free(out);
	secret_free(NULL);

	out = NULL;
	const char *bad = write_file("bad", MARK "\t" MARK);
	ck_assert_int_eq(secret_read_file(bad, &out, NULL, &err), -EINVAL);
	ck_assert_ptr_null(out);
	assert_clean_message(err);
	ck_assert_str_eq(err, fmt("%s contains whitespace or a control character at byte 7"
				  " (only a trailing newline is ignored)", bad));
	free(err);

	err = NULL;
	ck_assert_int_eq(secret_read_file(fmt("%s/none", tmpdir), &out, NULL, &err), -ENOENT);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err, fmt("cannot read %s/none: No such file or directory", tmpdir));
	free(err);
}
END_TEST

/* What settings_log() writes at level, into buf (NUL-terminated). */
static void
capture_log(enum log_level level, char *buf, size_t size)
{
	const char *out = tmp_path("log");
	int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	dup2(fd, STDERR_FILENO);
	log_init(LOG_FORMAT_TEXT, level);
	settings_log(&S);
	dup2(saved, STDERR_FILENO);
	close(saved);

	ssize_t n = pread(fd, buf, size - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, MARK) == NULL, "a secret is in the log");
	/* Not a secret this module guards, but a credential all the same. */
	ck_assert_msg(strstr(buf, "pa55word") == NULL, "a URL password is in the log");
}

START_TEST(log_never_shows_secrets)
{
	expect_ok(COMMAND_PREFLIGHT, ARGV("--interval=20s",
					  "--webhook-url=https://user:pa55word@hooks.example.com/x"),
		  ENV(TOKEN_ENV, WEBHOOK_ENV));

	/* Info: one summary line. */
	char buf[8192];
	capture_log(LOG_LEVEL_INFO, buf, sizeof(buf));
	ck_assert_str_eq(buf, "intercom-healthd: info: settings: token: set (env"
			 " INTERCOM_ACCESS_TOKEN); config: none; api_url:"
			 " https://api.intercom.io (region us); interval: 20s; timeout: 5s;"
			 " listen: 127.0.0.1:9180\n");

	/* Debug: every setting as well, from the table. */
	capture_log(LOG_LEVEL_DEBUG, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "token: set (env INTERCOM_ACCESS_TOKEN)"));
	ck_assert_ptr_nonnull(strstr(buf, "webhook_secret: set (env INTERCOM_WEBHOOK_SECRET)"));
	ck_assert_ptr_nonnull(strstr(buf, "interval: 20s"));
	ck_assert_ptr_nonnull(strstr(buf, "api_url: https://api.intercom.io"));
	ck_assert_ptr_nonnull(strstr(buf, "webhook_url: https://***@hooks.example.com/x"));
	ck_assert_ptr_nonnull(strstr(buf, "rate_limit_low: 10%"));
	ck_assert_ptr_nonnull(strstr(buf, "status_url: https://www.intercomstatus.com/"));
	ck_assert_ptr_nonnull(strstr(buf, "log_level: info"));
	ck_assert_ptr_nonnull(strstr(buf, "required_paths: unset"));
	ck_assert_ptr_nonnull(strstr(buf, "history_size: 240"));

	/* A token file is named, its content never shown. */
	const char *tok = write_file("tok", FILE_TOKEN "\n");
	expect_ok(COMMAND_SERVE, ARGV("--token-file", tok, "--status-url=off"), NONE);
	capture_log(LOG_LEVEL_DEBUG, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, fmt("settings: token: set (file %s);", tok)));
	ck_assert_ptr_nonnull(strstr(buf, fmt("token: set (file %s)", tok)));
	ck_assert_ptr_nonnull(strstr(buf, "status_url: off"));
}
END_TEST

START_TEST(finish_is_safe)
{
	struct settings zero;
	memset(&zero, 0, sizeof(zero));
	settings_finish(&zero);
	settings_finish(&zero);
	settings_finish(NULL);

	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV));
	settings_finish(&S);
	ck_assert_ptr_null(S.token);
	ck_assert_ptr_null(S.api_url);
	settings_finish(&S);

	/* After a failure nothing is left behind, and err may be NULL. */
	ck_assert_int_eq(settings_load(&S, COMMAND_SERVE, 1, (char **)ARGV("--timeout=20s"),
				       (char **)ENV(TOKEN_ENV), NULL), -EINVAL);
	ck_assert_ptr_null(S.token);
	ck_assert_ptr_null(S.api_url);
}
END_TEST

/* ---- the shipped config file, the man page and --help ---------------- */

#define MAX_SETTINGS 64

/*
 * Every setting, in table order, as --help lists it: settings_usage()
 * walks the table, so a row cannot be missing here. The key and the
 * environment name are derived from the flag; loading each spelling
 * (every_setting_documented) proves they are the loader's own.
 */
struct names {
	size_t count;
	char flag[MAX_SETTINGS][64];
	char key[MAX_SETTINGS][64];
	char env[MAX_SETTINGS][96];
};

static void
setting_names(struct names *n)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(out);
	settings_usage(out);
	fclose(out);

	memset(n, 0, sizeof(*n));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		/* "  --flag ARG  help"; --config is the file itself, not a setting. */
		if (strncmp(line, "  --", 4) != 0 || strncmp(line, "  --config ", 11) == 0)
			continue;
		ck_assert_uint_lt(n->count, MAX_SETTINGS);
		size_t len = strcspn(line + 2, " [");
		ck_assert_uint_lt(len, sizeof(n->flag[0]));
		char *flag = n->flag[n->count], *key = n->key[n->count];
		memcpy(flag, line + 2, len);
		strcpy(n->env[n->count], "INTERCOM_HEALTHD_");
		char *env = n->env[n->count] + strlen(n->env[n->count]);
		for (size_t i = 2; i < len; i++) {
			key[i - 2] = flag[i] == '-' ? '_' : flag[i];
			env[i - 2] = flag[i] == '-' ? '_' : (char)(flag[i] - 'a' + 'A');
		}
		n->count++;
	}
	free(text);
	ck_assert_uint_ge(n->count, 26);
}

/* The whole of root/relative, or a failed test: without the source tree
 * these checks would pass while proving nothing. */
static char *
read_source_file(const char *relative)
{
	const char *root = getenv("HEALTHD_SOURCE_ROOT");
	if (!root || !*root)
		ck_abort_msg("HEALTHD_SOURCE_ROOT is unset: tests/meson.build passes it");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, relative);
	FILE *in = fopen(path, "r");
	ck_assert_msg(in != NULL, "cannot read %s", path);
	char *text = malloc(256 * 1024);
	ck_assert_ptr_nonnull(text);
	size_t len = fread(text, 1, 256 * 1024 - 1, in);
	fclose(in);
	text[len] = '\0';
	return text;
}

static void
assert_same_settings(const struct settings *a, const struct settings *b)
{
#define SAME_STR(f) do { \
	if (a->f || b->f) { \
		ck_assert_msg(a->f && b->f, #f ": one is NULL"); \
		ck_assert_str_eq(a->f, b->f); \
	} \
} while (0)
	SAME_STR(api_url);
	SAME_STR(region);
	SAME_STR(api_version);
	SAME_STR(probe_path);
	SAME_STR(ca_file);
	SAME_STR(listen);
	SAME_STR(listen_host);
	SAME_STR(status_url);
	SAME_STR(webhook_url);
	SAME_STR(webhook_secret_file);
	SAME_STR(token_file);
	SAME_STR(required_paths);
#undef SAME_STR
	ck_assert_int_eq(a->listen_port, b->listen_port);
	ck_assert_int_eq(a->interval_ms, b->interval_ms);
	ck_assert_int_eq(a->timeout_ms, b->timeout_ms);
	ck_assert_int_eq(a->degraded_latency_ms, b->degraded_latency_ms);
	ck_assert_int_eq(a->stale_after_ms, b->stale_after_ms);
	ck_assert_int_eq(a->status_interval_ms, b->status_interval_ms);
	ck_assert_int_eq(a->rate_limit_low, b->rate_limit_low);
	ck_assert_int_eq(a->failure_threshold, b->failure_threshold);
	ck_assert_int_eq(a->success_threshold, b->success_threshold);
	ck_assert_int_eq(a->degraded_ok, b->degraded_ok);
	ck_assert_int_eq(a->log_format, b->log_format);
	ck_assert_int_eq(a->log_level, b->log_level);
	ck_assert_int_eq(a->http_threads, b->http_threads);
	ck_assert_int_eq(a->max_connections, b->max_connections);
	ck_assert_int_eq(a->connection_timeout_ms, b->connection_timeout_ms);
	ck_assert_int_eq(a->history_size, b->history_size);
}

/* The index of the key of a `# key = value` line, or -1. */
static int
commented_key(const struct names *n, const char *line)
{
	if (strncmp(line, "# ", 2) != 0)
		return -1;
	for (size_t i = 0; i < n->count; i++) {
		size_t len = strlen(n->key[i]);
		if (strncmp(line + 2, n->key[i], len) == 0 &&
		    strncmp(line + 2 + len, " =", 2) == 0)
			return (int)i;
	}
	return -1;
}

START_TEST(shipped_config)
{
	struct names n;
	setting_names(&n);
	char *text = read_source_file("config/intercom-healthd.conf");
	const char *shipped = write_file("shipped.conf", text);

	struct settings want;
	char *err = NULL;
	ck_assert_int_eq(settings_load(&want, COMMAND_SERVE, 0, (char **)NONE,
				       (char **)ENV(TOKEN_ENV), &err), 0);

	/* As shipped: everything commented, so the defaults. */
	expect_ok(COMMAND_SERVE, ARGV("--config", shipped), ENV(TOKEN_ENV));
	assert_same_settings(&S, &want);

	/* Uncommented: every setting once, in the order of --help, each
	 * showing its default. */
	const char *copy = tmp_path("uncommented.conf");
	FILE *out = fopen(copy, "w");
	ck_assert_ptr_nonnull(out);
	size_t seen = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		int key = commented_key(&n, line);
		if (key >= 0) {
			ck_assert_msg((size_t)key == seen, "%s out of order or repeated",
				      n.key[key]);
			seen++;
		}
		fprintf(out, "%s\n", key >= 0 ? line + 2 : line);
	}
	fclose(out);
	free(text);
	ck_assert_msg(seen == n.count, "only %zu of %zu settings shown", seen, n.count);

	expect_ok(COMMAND_SERVE, ARGV("--config", copy), ENV(TOKEN_ENV));
	assert_same_settings(&S, &want);
	settings_finish(&want);
}
END_TEST

/* Does text hold a line that starts with start? */
static bool
has_line(const char *text, const char *start)
{
	size_t len = strlen(start);
	for (const char *p = text; p; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (strncmp(p, start, len) == 0)
			return true;
	}
	return false;
}

START_TEST(every_setting_documented)
{
	struct names n;
	setting_names(&n);
	char *conf = read_source_file("config/intercom-healthd.conf");
	char *man = read_source_file("doc/intercom-healthd.8");
	const char *file = tmp_path("empty.conf");

	for (size_t i = 0; i < n.count; i++) {
		ck_assert_msg(has_line(conf, fmt("# %s =", n.key[i])) ||
			      has_line(conf, fmt("%s =", n.key[i])),
			      "%s is not in config/intercom-healthd.conf", n.key[i]);
		/* roff spells a flag's '-' as "\-". */
		char roff[128];
		size_t len = 0;
		for (const char *c = n.flag[i]; *c && len < sizeof(roff) - 3; c++) {
			if (*c == '-')
				roff[len++] = '\\';
			roff[len++] = *c;
		}
		roff[len] = '\0';
		ck_assert_msg(has_line(man, fmt(".BI %s ", roff)) ||
			      has_line(man, fmt(".BR %s", roff)),
			      "%s is not an entry of doc/intercom-healthd.8", roff);

		/* The three spellings are the loader's: a control byte is
		 * wrong for every setting, and each error names the setting
		 * and the spelling it came from. */
		FILE *out = fopen(file, "w");
		ck_assert_ptr_nonnull(out);
		fprintf(out, "%s = \x01\n", n.key[i]);
		fclose(out);
		const char *const spellings[][2] = {
			{ fmt("--config=%s", file), fmt("(from %s:1)", file) },
			{ fmt("%s=\x01", n.flag[i]), fmt("(from flag %s)", n.flag[i]) },
			{ "--", fmt("(from env %s)", n.env[i]) },
		};
		for (size_t k = 0; k < 3; k++) {
			int rc = run(COMMAND_SERVE, ARGV(spellings[k][0]),
				     k == 2 ? ENV(TOKEN_ENV, fmt("%s=\x01", n.env[i])) :
					      ENV(TOKEN_ENV));
			ck_assert_int_eq(rc, -EINVAL);
			ck_assert_msg(strncmp(E, n.key[i], strlen(n.key[i])) == 0 &&
				      E[strlen(n.key[i])] == ':' && strstr(E, spellings[k][1]),
				      "%s: \"%s\"", n.key[i], E);
		}
	}
	free(conf);
	free(man);
}
END_TEST

START_TEST(usage_text)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(out);
	settings_usage(out);
	fclose(out);

	ck_assert_ptr_nonnull(strstr(text, "  --config FILE "));
	ck_assert_ptr_nonnull(strstr(text, "  --interval DURATION        time between probes"));
	ck_assert_ptr_nonnull(strstr(text, "  --region us|eu|au "));
	ck_assert_ptr_nonnull(strstr(text, "  --log-level debug|info|warning|error "));
	ck_assert_ptr_nonnull(strstr(text, "  --degraded-ok[=BOOL] "));
	ck_assert_ptr_nonnull(strstr(text, "  --status-url URL|off "));
	ck_assert_ptr_nonnull(strstr(text, "  --history-size N "));
	ck_assert_ptr_nonnull(strstr(text, "(10-10000) [240]"));
	ck_assert_ptr_nonnull(strstr(text, "[2*interval + timeout]"));
	ck_assert_ptr_nonnull(strstr(text, "--strict, --scan DIR, --health-url URL"));
	/* An alias is accepted, not offered. */
	ck_assert_ptr_null(strstr(text, "warn|"));
	ck_assert_msg(size > 0 && text[size - 1] == '\n', "no final newline");
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		ck_assert_msg(strlen(line) <= 80, "longer than 80 columns: %s", line);
	free(text);
}
END_TEST


/* A token the loader has never seen: only the echo caps protect it. */
#define STRAY_TOKEN "dG9rOjk4NzY1NDMyMTBmZWRjYmFfc3RyYXlfdG9rZW4="

START_TEST(pasted_token_never_echoed)
{
	/* Pasted as a bare line, a base64 token with '=' padding reads as
	 * key = value: the "unknown setting" error must not show the key. */
	const char *bare = write_file("bare.conf", "interval = 15s\n" STRAY_TOKEN "\n");
	expect_err(COMMAND_SERVE, ARGV("--config", bare), ENV(TOKEN_ENV),
		   fmt("(a value of 43 characters, not shown): unknown setting (from %s:2)",
		       bare));
	ck_assert(!secret_leaks(E, STRAY_TOKEN));
	/* Shorter than the echo cap, but shaped like a token. */
	const char *shorty = write_file("short.conf", "dG9rOjEyMzQ1 = x\n");
	expect_err_part(COMMAND_SERVE, ARGV("--config", shorty), ENV(TOKEN_ENV),
			"(a value of 12 characters, not shown): unknown setting");
	/* A long unknown key is not echoed either. */
	const char *longkey = write_file("long.conf",
					 "abcdefghijklmnopqrstuvwxyz0123456789 = 1\n");
	expect_err_part(COMMAND_SERVE, ARGV("--config", longkey), ENV(TOKEN_ENV),
			"(a value of 36 characters, not shown): unknown setting");

	/* With the token in a file, a copy pasted into another setting of
	 * the config file is caught although the error comes first. */
	const char *tokfile = write_file("tok", FILE_TOKEN "\n");
	const char *const pasted[] = {
		"interval = " FILE_TOKEN "\n",
		"api_url = " FILE_TOKEN "\n",
		"api_url = https://" FILE_TOKEN "@\n",
		"listen = " FILE_TOKEN "\n",
	};
	for (size_t i = 0; i < sizeof(pasted) / sizeof(pasted[0]); i++) {
		const char *conf = write_file(fmt("pasted%zu.conf", i), pasted[i]);
		const char *tf = fmt("--token-file=%s", tokfile);
		int rc = run(COMMAND_SERVE, ARGV("--config", conf, tf), NONE);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(!secret_leaks(E, FILE_TOKEN), "case %zu leaks", i);
		/* token_file set in the same file, after the bad line. */
		const char *both = write_file(fmt("both%zu.conf", i),
					      fmt("%stoken_file = %s\n", pasted[i], tokfile));
		rc = run(COMMAND_SERVE, ARGV("--config", both), NONE);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(!secret_leaks(E, FILE_TOKEN), "case %zu leaks", i);
	}
}
END_TEST

START_TEST(bounded_reads)
{
	/* Devices, FIFOs and directories are refused without being read
	 * (a FIFO with no writer would block forever). */
	expect_err(COMMAND_SERVE, ARGV("--config=/dev/zero"), ENV(TOKEN_ENV),
		   "config: cannot read /dev/zero (from flag --config): not a regular file");
	const char *fifo = tmp_path("fifo");
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	expect_err(COMMAND_SERVE, ARGV("--config", fifo), ENV(TOKEN_ENV),
		   fmt("config: cannot read %s (from flag --config): not a regular file",
		       fifo));
	expect_err(COMMAND_SERVE, ARGV("--token-file", fifo), NONE,
		   fmt("token_file: %s is not a regular file (from flag --token-file)",
		       fifo));
	expect_err(COMMAND_SERVE, ARGV("--token-file=/dev/zero"), NONE,
		   "token_file: /dev/zero is not a regular file (from flag --token-file)");

	/* Size and line caps. */
	size_t big = 70 * 1024;
	char *text = malloc(big + 1);
	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < big; i++)
		text[i] = i % 64 == 63 ? '\n' : '#';
	const char *huge = write_bytes("huge.conf", text, big);
	expect_err(COMMAND_SERVE, ARGV("--config", huge), ENV(TOKEN_ENV),
		   fmt("config: cannot read %s (from flag --config): larger than 65536 bytes",
		       huge));
	memset(text, '9', 5000);
	memcpy(text, "interval = ", 11);
	const char *wide = write_bytes("wide.conf", text, 5000);
	expect_err(COMMAND_SERVE, ARGV("--config", wide), ENV(TOKEN_ENV),
		   fmt("config: %s:1 (from flag --config): line longer than 4096 characters",
		       wide));
	free(text);

	/* A megabyte-long number gives a one-line error, not a megabyte. */
	size_t n = 1024 * 1024;
	char *env = malloc(n + 64);
	ck_assert_ptr_nonnull(env);
	int k = sprintf(env, "INTERCOM_HEALTHD_INTERVAL=");
	memset(env + k, '7', n);
	env[k + n] = '\0';
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, env),
		   "interval: invalid duration (a value of 1048576 characters, not shown)"
		   " (from env INTERCOM_HEALTHD_INTERVAL): use 250ms, 5s, 2m, 1h or seconds");
	free(env);
}
END_TEST

START_TEST(http_server_settings)
{
	expect_ok(COMMAND_SERVE, NONE, ENV(TOKEN_ENV));
	ck_assert_int_eq(S.http_threads, 1);
	ck_assert_int_eq(S.max_connections, 4096);
	ck_assert_int_eq(S.connection_timeout_ms, 10000);
	expect_ok(COMMAND_SERVE, ARGV("--http-threads=4", "--max-connections", "100",
				      "--connection-timeout=2m"), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.http_threads, 4);
	ck_assert_int_eq(S.max_connections, 100);
	ck_assert_int_eq(S.connection_timeout_ms, 120000);
	expect_err(COMMAND_SERVE, ARGV("--http-threads=0"), ENV(TOKEN_ENV),
		   "http_threads: 0 (from flag --http-threads) must be between 1 and 64");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_MAX_CONNECTIONS=x"),
		   "max_connections: invalid number \"x\" (from env"
		   " INTERCOM_HEALTHD_MAX_CONNECTIONS): use a whole number 1-1000000");
	expect_err(COMMAND_SERVE, ARGV("--connection-timeout=500ms"), ENV(TOKEN_ENV),
		   "connection_timeout: 500ms (from flag --connection-timeout) must be"
		   " at least 1s");
}
END_TEST

START_TEST(secrets_never_in_other_values)
{
	/* A token, or a piece of it, pasted into a value that is logged and
	 * sent over the network is refused, and the error does not show it. */
	const char *const cases[][2] = {
		{ "api_url = https://api.intercom.io/" TOKEN "\n", "api_url" },
		{ "status_url = https://status.example.com/?k=AbCdEf0123\n", "status_url" },
		{ "probe_path = /me?t=" MARK "AbCdEf\n", "probe_path" },
		{ "api_version = " MARK "AbCd\n", "api_version" },
		{ "required_paths = /me,/x?k=" MARK "AbCd\n", "required_paths" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *conf = write_file(fmt("val%zu.conf", i), cases[i][0]);
		expect_err(COMMAND_SERVE, ARGV("--config", conf), ENV(TOKEN_ENV),
			   fmt("%s: the value (from %s:1) holds the access token, or part"
			       " of it: refusing to log it or send it anywhere",
			       cases[i][1], conf));
		ck_assert_msg(!secret_leaks(E, TOKEN), "case %zu leaks", i);
	}
	/* The webhook secret, whole, in a URL. */
	expect_err(COMMAND_PREFLIGHT, ARGV("--webhook-url=https://hooks.example.com/" WEBHOOK),
		   ENV(TOKEN_ENV, WEBHOOK_ENV),
		   "webhook_url: the value (from flag --webhook-url) holds the webhook"
		   " secret, or part of it: refusing to log it or send it anywhere");
}
END_TEST

START_TEST(config_keys_shown_escaped)
{
	/* Control bytes in a key never reach a terminal raw. */
	const char *esc = write_file("esc.conf", "log\x1b[2Jlevel = \"debug\n");
	expect_err(COMMAND_SERVE, ARGV("--config", esc), ENV(TOKEN_ENV),
		   fmt("log\\x1b[2Jlevel: unterminated quote (from %s:1)", esc));
	const char *after = write_file("after.conf", "log_level\x7f = \"debug\" more\n");
	expect_err(COMMAND_SERVE, ARGV("--config", after), ENV(TOKEN_ENV),
		   fmt("log_level\\x7f: unexpected text after the closing quote (from %s:1)",
		       after));
	/* A byte order mark before the first key is an editor's, not a key's. */
	const char *bom = write_file("bom.conf", "\xef\xbb\xbfinterval = 20s\n");
	expect_ok(COMMAND_SERVE, ARGV("--config", bom), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.interval_ms, 20000);
	/* Every trailing slash goes: the probe path brings its own. */
	expect_ok(COMMAND_SERVE, ARGV("--api-url=https://api.intercom.io//"), ENV(TOKEN_ENV));
	ck_assert_str_eq(S.api_url, "https://api.intercom.io");
}
END_TEST

START_TEST(history_and_required_paths)
{
	expect_ok(COMMAND_PREFLIGHT, ARGV("--history-size=10", "--required-paths",
					  "/contacts?per_page=1,/conversations?per_page=1"),
		  ENV(TOKEN_ENV));
	ck_assert_int_eq(S.history_size, 10);
	ck_assert_str_eq(S.required_paths, "/contacts?per_page=1,/conversations?per_page=1");
	expect_ok(COMMAND_PREFLIGHT, NONE,
		  ENV(TOKEN_ENV, "INTERCOM_HEALTHD_HISTORY_SIZE=10000",
		      "INTERCOM_HEALTHD_REQUIRED_PATHS=/admins"));
	ck_assert_int_eq(S.history_size, 10000);
	ck_assert_str_eq(S.required_paths, "/admins");
	const char *conf = write_file("a.conf", "history_size = 500\nrequired_paths = /tags\n");
	expect_ok(COMMAND_PREFLIGHT, ARGV("--config", conf), ENV(TOKEN_ENV));
	ck_assert_int_eq(S.history_size, 500);
	ck_assert_str_eq(S.required_paths, "/tags");
	/* Empty unsets it, from any level. */
	expect_ok(COMMAND_PREFLIGHT, ARGV("--required-paths="), ENV(TOKEN_ENV,
		  "INTERCOM_HEALTHD_REQUIRED_PATHS=/admins"));
	ck_assert_ptr_null(S.required_paths);

	expect_err(COMMAND_SERVE, ARGV("--history-size=9"), ENV(TOKEN_ENV),
		   "history_size: 9 (from flag --history-size) must be between 10 and 10000");
	expect_err(COMMAND_SERVE, ARGV("--history-size=10001"), ENV(TOKEN_ENV),
		   "history_size: 10001 (from flag --history-size) must be between 10 and 10000");
	expect_err(COMMAND_SERVE, NONE, ENV(TOKEN_ENV, "INTERCOM_HEALTHD_HISTORY_SIZE=1e3"),
		   "history_size: invalid number \"1e3\" (from env"
		   " INTERCOM_HEALTHD_HISTORY_SIZE): use a whole number 10-10000");
	expect_err(COMMAND_PREFLIGHT, ARGV("--required-paths=/contacts,conversations"),
		   ENV(TOKEN_ENV),
		   "required_paths: \"/contacts,conversations\" (from flag --required-paths):"
		   " each comma-separated path must start with '/'");
	expect_err(COMMAND_PREFLIGHT, ARGV("--required-paths=/contacts,"), ENV(TOKEN_ENV),
		   "required_paths: \"/contacts,\" (from flag --required-paths):"
		   " each comma-separated path must start with '/'");
	expect_err(COMMAND_PREFLIGHT, ARGV("--required-paths=/a, /b"), ENV(TOKEN_ENV),
		   "required_paths: invalid value \"/a, /b\" (from flag --required-paths):"
		   " use visible ASCII without spaces");
}
END_TEST

/* What fn writes to the log at debug level, into buf (NUL-terminated). */
static void
capture_output(void (*fn)(void *), void *arg, char *buf, size_t size)
{
	const char *out = tmp_path("reload-log");
	int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	dup2(fd, STDERR_FILENO);
	log_init(LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
	fn(arg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, buf, size - 1, 0);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, MARK) == NULL, "a secret is in the log");
}

static struct settings NEXT;

static void
keep_restart(void *arg)
{
	(void)arg;
	settings_keep_restart(&NEXT, &S);
}

static void
log_changes(void *arg)
{
	(void)arg;
	settings_log_changes(&S, &NEXT);
}

/*
 * The token file's identity is the one of the file read, through the
 * descriptor read: a file renamed over it afterwards is another.
 */
START_TEST(token_identity_is_the_file_read)
{
	const char *tok = write_file("identity", FILE_TOKEN "\n");
	expect_ok(COMMAND_SERVE, ARGV("--token-file", tok), NONE);
	struct stat now;
	ck_assert_int_eq(stat(tok, &now), 0);
	ck_assert(S.token_stat.st_ino == now.st_ino && S.token_stat.st_dev == now.st_dev);
	ck_assert(S.token_stat.st_size == now.st_size);

	char *token = NULL;
	char *err = NULL;
	struct stat read;
	ck_assert_int_eq(settings_read_token(tok, &token, &read, &err), 0);
	ck_assert_str_eq(token, FILE_TOKEN);
	secret_free(token);
	ck_assert(read.st_ino == now.st_ino);
	const char *other = write_file("identity.new", CRED_TOKEN "\n");
	ck_assert_int_eq(rename(other, tok), 0);
	ck_assert_int_eq(stat(tok, &now), 0);
	ck_assert(read.st_ino != now.st_ino);

	/* Refused content: the path and the byte, never the content. */
	const char *bad = write_file("identity.bad", " " FILE_TOKEN "\n");
	token = NULL;
	ck_assert_int_eq(settings_read_token(bad, &token, &read, &err), -EINVAL);
	ck_assert_ptr_null(token);
	ck_assert_str_eq(err, fmt("%s contains whitespace or a control character at byte 1"
				  " (only a trailing newline is ignored)", bad));
	free(err);
	err = NULL;
	ck_assert_int_eq(settings_read_token(fmt("%s/none", tmpdir), &token, &read, &err),
			 -ENOENT);
	ck_assert_str_eq(err, fmt("cannot read %s/none: No such file or directory", tmpdir));
	free(err);
}
END_TEST

/* Every row says what a reload does with it: a row that forgot would be
 * neither applied nor refused on SIGHUP. */
START_TEST(reload_class_in_every_row)
{
	const struct loader_spec *spec = settings_loader_spec();
	ck_assert_uint_gt(spec->count, 20);
	for (size_t i = 0; i < spec->count; i++) {
		enum loader_reload how = spec->rows[i].reload;
		ck_assert_msg(how >= RELOAD_LIVE && how <= RELOAD_RESTART,
			      "%s: no reload class", spec->rows[i].key);
	}
}
END_TEST

/* A reload keeps what takes a restart, says so, and names each change
 * with what it does, from the rows alone. */
START_TEST(reload_changes_from_the_table)
{
	expect_ok(COMMAND_SERVE, ARGV("--history-size=100", "--listen=127.0.0.1:9000",
				      "--degraded-latency=3s"), ENV(TOKEN_ENV));
	char *err = NULL;
	ck_assert_int_eq(settings_load(&NEXT, COMMAND_SERVE,
				       2 + 2, (char **)ARGV("--history-size=50",
				       "--listen=[::1]:9001", "--degraded-latency=20ms",
				       "--status-url=https://user:pa55word@status.example.com/s"),
				       (char **)ENV(TOKEN_ENV), &err), 0);
	ck_assert_ptr_null(err);
	ck_assert(settings_changed(&S, &NEXT, RELOAD_PROBE));
	ck_assert(settings_changed(&S, &NEXT, RELOAD_SIDE));
	ck_assert(settings_changed(&S, &NEXT, RELOAD_RESTART));
	ck_assert(!settings_changed(&S, &NEXT, RELOAD_LIVE));

	char buf[8192];
	capture_output(keep_restart, NULL, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "warning: reload: history_size changed; that takes a"
			     " restart (100 -> 50: still 100)"), "%s", buf);
	ck_assert_msg(strstr(buf, "reload: listen changed; that takes a restart"
			     " (127.0.0.1:9000 -> [::1]:9001: still 127.0.0.1:9000)"), "%s", buf);
	ck_assert_int_eq(NEXT.history_size, 100);
	ck_assert_str_eq(NEXT.listen, "127.0.0.1:9000");
	ck_assert_str_eq(NEXT.listen_host, "127.0.0.1");
	ck_assert_int_eq(NEXT.listen_port, 9000);
	ck_assert(!settings_changed(&S, &NEXT, RELOAD_RESTART));

	capture_output(log_changes, NULL, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "info: reload: degraded_latency: 3s -> 20ms (probing now)"),
		      "%s", buf);
	ck_assert_msg(strstr(buf, "reload: status_url: https://www.intercomstatus.com/api/v2/"
			     "status.json -> https://***@status.example.com/s (status page and"
			     " webhook read now)"), "%s", buf);
	ck_assert_msg(!strstr(buf, "history_size") && !strstr(buf, "interval"), "%s", buf);
	ck_assert_msg(!strstr(buf, "pa55word"), "%s", buf);
	settings_finish(&NEXT);
}
END_TEST

static Suite *
settings_suite(void)
{
	Suite *s = suite_create("settings");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "durations_good", durations_good },
		{ "durations_bad", durations_bad },
		{ "durations_in_settings", durations_in_settings },
		{ "bools", bools },
		{ "defaults", defaults },
		{ "precedence_flag_over_env", precedence_flag_over_env },
		{ "precedence_env_over_file", precedence_env_over_file },
		{ "precedence_file_over_default", precedence_file_values },
		{ "config_file_selection", config_file_selection },
		{ "error_sources", error_sources },
		{ "integers", integers },
		{ "config_syntax", config_syntax },
		{ "token_never_in_argv", token_never_in_argv },
		{ "token_never_in_config", token_never_in_config },
		{ "token_file_wins_over_env", token_file_wins_over_env },
		{ "token_credentials_directory", token_credentials_directory },
		{ "token_file_contents", token_file_contents },
		{ "token_file_unreadable", token_file_unreadable },
		{ "token_env_validation", token_env_validation },
		{ "no_token", no_token },
		{ "timeout_vs_interval", timeout_vs_interval },
		{ "stale_after", stale_after },
		{ "listen_address", listen_address },
		{ "region_and_api_url", region_and_api_url },
		{ "other_strings", other_strings },
		{ "status_and_webhook_urls", status_and_webhook_urls },
		{ "ca_file", ca_file },
		{ "webhook_secret", webhook_secret },
		{ "command_options", command_options },
		{ "argv_errors", argv_errors },
		{ "secrets_never_in_errors", secrets_never_in_errors },
		{ "secret_file_direct", secret_file_direct },
		{ "log_never_shows_secrets", log_never_shows_secrets },
		{ "finish_is_safe", finish_is_safe },
		{ "shipped_config", shipped_config },
		{ "every_setting_documented", every_setting_documented },
		{ "usage_text", usage_text },
		{ "pasted_token_never_echoed", pasted_token_never_echoed },
		{ "bounded_reads", bounded_reads },
		{ "http_server_settings", http_server_settings },
		{ "history_and_required_paths", history_and_required_paths },
		{ "secrets_never_in_other_values", secrets_never_in_other_values },
		{ "config_keys_shown_escaped", config_keys_shown_escaped },
		{ "reload_class_in_every_row", reload_class_in_every_row },
		{ "token_identity_is_the_file_read", token_identity_is_the_file_read },
		{ "reload_changes_from_the_table", reload_changes_from_the_table },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(settings_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
