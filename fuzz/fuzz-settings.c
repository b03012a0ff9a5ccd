/*
 * The config-file parser, through the public settings_load(): the input
 * is the config file. It reaches the loader as --config=/proc/self/fd/N
 * of a memfd, a regular file like any other, rewritten for each run.
 *
 * The environment holds INTERCOM_ACCESS_TOKEN and nothing else, and the
 * error text must never quote that token, whole or in part; on success
 * the settings must hold what settings.h promises, and settings_log()
 * must not print the token either.
 *
 * Paths the input names (token_file, ca_file, ...) are served from a
 * private fixture tree instead of the real file system: a fuzzer running
 * as root must not open /dev/watchdog or read whatever /tmp holds today,
 * and the same input must behave the same on every machine. The link
 * wraps open(), openat() and fopen() for that (-Wl,--wrap, see
 * meson.build), and write() to catch what settings_log() prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fuzz-common.h"
#include "log.h"
#include "render.h"
#include "secret.h"
#include "settings.h"

/* A CA certificate with no key anywhere: lets ca_file succeed. */
#define FIXTURE_CA_PEM \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBnTCCAUOgAwIBAgIUCD0kS3jOnqZeUGCr1GljOfW8kMkwCgYIKoZIzj0EAwIw\n" \
	"IzEhMB8GA1UEAwwYaW50ZXJjb20taGVhbHRoZC1mdXp6LWNhMCAXDTI2MTEyODEy\n" \
	"MTgyMloYDzIxMjYxMTA0MTIxODIyWjAjMSEwHwYDVQQDDBhpbnRlcmNvbS1oZWFs\n" \
	"dGhkLWZ1enotY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATto8j66W8luRo5\n" \
	"JESru5qYcbktc+/PANvexU83a1UjrzT0HxNoo3qxhYFv6GfMmRh4+nRY87rVgVfW\n" \
	"ncb949NYo1MwUTAdBgNVHQ4EFgQUu8QfBc9fanBKntNTWp+Bm61MoQQwHwYDVR0j\n" \
	"BBgwFoAUu8QfBc9fanBKntNTWp+Bm61MoQQwDwYDVR0TAQH/BAUwAwEB/zAKBggq\n" \
	"hkjOPQQDAgNIADBFAiEA3eHSnC0/qw7X54ciToBcTafT2w7nxEJVvCWgtDJc8vEC\n" \
	"ICjWxByHM4qzp1gBYDmlFOw8+so1UHu0uy35fJDSdXl7\n" \
	"-----END CERTIFICATE-----\n"

/*
 * The fixture tree, by the absolute path a config file would use. The
 * seed corpus names these; anything else does not exist. Parents come
 * before children (created in order, removed in reverse).
 */
static const struct fixture {
	const char *path;
	const char *content;      /* NULL: a directory */
	bool fifo;
} fixtures[] = {
	{ "etc", NULL, false },
	{ "etc/intercom-healthd", NULL, false },
	{ "etc/intercom-healthd/token", "dG9rOmZpeHR1cmUtZmlsZS10b2tlbg==\n", false },
	{ "etc/intercom-healthd/token-crlf", "dG9rOmZpeHR1cmUtY3JsZg==\r\n", false },
	{ "etc/intercom-healthd/token-space", "dG9rOm not a token\n", false },
	{ "etc/intercom-healthd/empty", "", false },
	{ "etc/intercom-healthd/webhook-secret", "whsec-fixture-0123456789\n", false },
	{ "etc/intercom-healthd/ca.pem", FIXTURE_CA_PEM, false },
	{ "etc/intercom-healthd/junk.pem",
	  "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
	  "-----END CERTIFICATE-----\n", false },
	{ "etc/intercom-healthd/conf.d", NULL, false },
	{ "etc/intercom-healthd/fifo", "", true },
	{ "run", NULL, false },
	{ "run/credentials", NULL, false },
	{ "run/credentials/intercom-healthd.service", NULL, false },
	{ "run/credentials/intercom-healthd.service/intercom-access-token",
	  "dG9rOmNyZWRlbnRpYWwtdG9rZW4=", false },
};

static char sandbox_root[PATH_MAX];
/* Only while settings_load() or settings_log() runs: libFuzzer itself
 * opens corpus files and writes crash files through the same symbols. */
static bool sandbox_active;
static bool capture_log;

static int config_fd = -1;
static char config_path[64];
static char config_arg[80];

static char log_buf[64 * 1024];
static size_t log_len;

/* FUZZ_VERBOSE=1: print what the loader answered, for writing seeds. */
static bool verbose;

int __real_open(const char *path, int flags, ...);
int __real_open64(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
int __real_openat64(int dirfd, const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fopen64(const char *path, const char *mode);
ssize_t __real_write(int fd, const void *buf, size_t count);

int __wrap_open(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat64(int dirfd, const char *path, int flags, ...);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen64(const char *path, const char *mode);
ssize_t __wrap_write(int fd, const void *buf, size_t count);

/*
 * Where path lives in the fixture tree, into buf; NULL with errno set
 * when it may not be opened. The config memfd keeps its own path (and a
 * config may name itself, as token_file for instance: that is fine).
 */
static const char *
sandbox_path(const char *path, char *buf, size_t size)
{
	const char *p = path;

	if (strcmp(path, config_path) == 0)
		return path;
	if (*path == '\0') {
		errno = ENOENT;
		return NULL;
	}
	while (*p == '/')
		p++;
	/* No way out of the tree: refuse any ".." component. */
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 2 && c[0] == '.' && c[1] == '.') {
			errno = EACCES;
			return NULL;
		}
		c += n;
		while (*c == '/')
			c++;
	}
	if ((size_t)snprintf(buf, size, "%s/%s", sandbox_root, p) >= size) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

/* open() and friends inside the sandbox: read-only, mapped paths. */
static int
sandbox_open(int dirfd, const char *path, int flags)
{
	char buf[2 * PATH_MAX];
	const char *mapped;

	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT) ||
	    (path[0] != '/' && dirfd != AT_FDCWD)) {
		errno = EACCES;
		return -1;
	}
	mapped = sandbox_path(path, buf, sizeof(buf));
	if (mapped == NULL)
		return -1;
	return __real_open64(mapped, flags);
}

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
static mode_t
open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

int
__wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	if (sandbox_active)
		return sandbox_open(AT_FDCWD, path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_open(path, flags, mode);
}

int
__wrap_open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	if (sandbox_active)
		return sandbox_open(AT_FDCWD, path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_open64(path, flags, mode);
}

int
__wrap_openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	if (sandbox_active)
		return sandbox_open(dirfd, path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_openat(dirfd, path, flags, mode);
}

int
__wrap_openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	if (sandbox_active)
		return sandbox_open(dirfd, path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return __real_openat64(dirfd, path, flags, mode);
}

static FILE *
sandbox_fopen(FILE *(*real)(const char *, const char *), const char *path,
	      const char *mode)
{
	char buf[2 * PATH_MAX];
	const char *mapped;

	if (!sandbox_active)
		return real(path, mode);
	if (mode[0] != 'r' || strchr(mode, '+') != NULL) {
		errno = EACCES;
		return NULL;
	}
	mapped = sandbox_path(path, buf, sizeof(buf));
	return mapped != NULL ? real(mapped, mode) : NULL;
}

FILE *
__wrap_fopen(const char *path, const char *mode)
{
	return sandbox_fopen(__real_fopen, path, mode);
}

FILE *
__wrap_fopen64(const char *path, const char *mode)
{
	return sandbox_fopen(__real_fopen64, path, mode);
}

/* log.c writes each line with one write(2) to stderr. Sanitizer reports
 * use raw system calls, so a crash inside the capture still shows. */
ssize_t
__wrap_write(int fd, const void *buf, size_t count)
{
	if (capture_log && fd == STDERR_FILENO) {
		size_t room = sizeof(log_buf) - 1 - log_len;
		size_t n = count < room ? count : room;

		memcpy(log_buf + log_len, buf, n);
		log_len += n;
		log_buf[log_len] = '\0';
		return (ssize_t)count;
	}
	return __real_write(fd, buf, count);
}

/* Writes content to path through a temporary file and rename(): targets
 * running side by side (-fork, -jobs, meson test) share the tree. */
static bool
write_fixture(const char *path, const char *content)
{
	char tmp[PATH_MAX + 32];
	size_t len = strlen(content);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	if (write(fd, content, len) != (ssize_t)len) {
		close(fd);
		unlink(tmp);
		return false;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return false;
	}
	return true;
}

/*
 * Creates (or refreshes) the fixture tree under root. It is left in place
 * on exit: a crash would leave it behind anyway, and the next run reuses
 * it rather than littering a fresh one.
 */
static bool
make_fixtures(const char *root)
{
	char path[PATH_MAX];
	struct stat st;

	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return false;
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct fixture *f = &fixtures[i];

		snprintf(path, sizeof(path), "%s/%s", root, f->path);
		if (f->content == NULL) {
			if (mkdir(path, 0700) < 0 && errno != EEXIST)
				return false;
		} else if (f->fifo) {
			if (mkfifo(path, 0600) < 0 &&
			    (errno != EEXIST || stat(path, &st) < 0 ||
			     !S_ISFIFO(st.st_mode)))
				return false;
		} else if (!write_fixture(path, f->content)) {
			return false;
		}
	}
	return true;
}

/* The tree lives beside the binary (in the build directory); where that
 * is not writable, in a private directory under $TMPDIR. */
static void
setup_sandbox(void)
{
	char exe[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(sandbox_root, sizeof(sandbox_root),
				 "%s/fuzz-settings-fixtures", exe);
			if (make_fixtures(sandbox_root))
				return;
		}
	}
	snprintf(sandbox_root, sizeof(sandbox_root), "%s/fuzz-settings-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(sandbox_root) == NULL || !make_fixtures(sandbox_root)) {
		perror("fuzz-settings: cannot create the fixture tree");
		abort();
	}
	fprintf(stderr, "fuzz-settings: fixtures in %s (not removed)\n",
		sandbox_root);
}

/* A memfd where the kernel has them; an unlinked temporary file, which
 * /proc/self/fd/N opens just the same, where it has not. */
static int
make_config_fd(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[512];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/fuzz-config-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		perror("fuzz-settings: memfd_create and mkostemp");
		abort();
	}
	unlink(path);
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	setup_sandbox();
	config_fd = make_config_fd();
	snprintf(config_path, sizeof(config_path), "/proc/self/fd/%d", config_fd);
	snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);
	return 0;
}

static void
write_config(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(config_fd, 0) < 0) {
		perror("fuzz-settings: ftruncate");
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(config_fd, data + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("fuzz-settings: pwrite");
			abort();
		}
		done += (size_t)n;
	}
}

/* Aborts when text quotes FUZZ_TOKEN, whole or any SECRET_FRAGMENT_MIN
 * characters of it, the leak settings.h and secret.h rule out. */
static void
check_no_token(const char *what, const char *text)
{
	const char *at;

	if (strstr(text, FUZZ_TOKEN) != NULL)
		fuzz_fail("%s quotes the access token: %s", what, text);
	at = fuzz_find_fragment(text, FUZZ_TOKEN, SECRET_FRAGMENT_MIN);
	if (at != NULL)
		fuzz_fail("%s quotes part of the access token at offset %zu"
			  " (\"%.*s...\"): %s", what, (size_t)(at - text),
			  SECRET_FRAGMENT_MIN, at, text);
}

/* What settings.h promises of loaded settings. */
static void
check_settings(const struct settings *s)
{
	size_t n;

	if (s->token == NULL || s->token_origin == NULL)
		fuzz_fail("loaded without a token");
	if (s->api_url == NULL || s->region == NULL || s->api_version == NULL ||
	    s->probe_path == NULL || s->listen == NULL || s->listen_host == NULL)
		fuzz_fail("loaded with a required setting NULL");
	n = strlen(s->api_url);
	if (n > 0 && s->api_url[n - 1] == '/')
		fuzz_fail("api_url \"%s\" ends in '/' (settings.h: no trailing"
			  " slash)", s->api_url);
	if (s->probe_path[0] != '/')
		fuzz_fail("probe_path \"%s\" does not start with '/'",
			  s->probe_path);
	if (s->interval_ms <= 0 || s->timeout_ms <= 0 ||
	    s->timeout_ms >= s->interval_ms || s->degraded_latency_ms <= 0 ||
	    s->stale_after_ms <= 0 || s->status_interval_ms <= 0)
		fuzz_fail("bad durations: interval %lld, timeout %lld,"
			  " degraded_latency %lld, stale_after %lld,"
			  " status_interval %lld",
			  (long long)s->interval_ms, (long long)s->timeout_ms,
			  (long long)s->degraded_latency_ms,
			  (long long)s->stale_after_ms,
			  (long long)s->status_interval_ms);
	if (s->rate_limit_low < 0 || s->rate_limit_low > 100 ||
	    s->failure_threshold < 1 || s->success_threshold < 1)
		fuzz_fail("bad rate_limit_low %d or thresholds %d/%d",
			  s->rate_limit_low, s->failure_threshold,
			  s->success_threshold);
}

/* settings_log() at debug level into log_buf, in the format the settings
 * chose; then no token there either, and JSON lines that parse. */
static void
check_log(const struct settings *s)
{
	log_len = 0;
	log_buf[0] = '\0';
	log_init(s->log_format, LOG_LEVEL_DEBUG);
	capture_log = true;
	sandbox_active = true;
	settings_log(s);
	sandbox_active = false;
	capture_log = false;
	log_init(LOG_FORMAT_TEXT, LOG_LEVEL_ERROR);
	if (verbose)
		fputs(log_buf, stderr);

	check_no_token("settings_log()", log_buf);
	if (s->log_format != LOG_FORMAT_JSON)
		return;
	for (char *line = log_buf; *line;) {
		char *nl = strchr(line, '\n');
		cJSON *json;

		if (nl == NULL)
			fuzz_fail("settings_log(): unterminated line \"%s\"", line);
		json = cJSON_ParseWithLength(line, (size_t)(nl - line));
		if (!cJSON_IsObject(json))
			fuzz_fail("settings_log(): not a JSON object: \"%.*s\"",
				  (int)(nl - line), line);
		cJSON_Delete(json);
		line = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char token_env[] = "INTERCOM_ACCESS_TOKEN=" FUZZ_TOKEN;
	char *argv[] = { config_arg, NULL };
	char *envp[] = { token_env, NULL };
	struct settings s;
	char *err = NULL;
	int rc;

	write_config(data, size);

	sandbox_active = true;
	rc = settings_load(&s, COMMAND_SERVE, 1, argv, envp, &err);
	sandbox_active = false;
	if (verbose)
		fprintf(stderr, "settings_load() = %d%s%s\n", rc,
			err != NULL ? ": " : "", err != NULL ? err : "");

	if (rc == 0) {
		if (err != NULL)
			fuzz_fail("settings_load() succeeded with an error: %s", err);
		check_settings(&s);
		check_log(&s);
	} else {
		/* settings.h: one line naming the setting, on any failure. */
		if (err == NULL)
			fuzz_fail("settings_load() returned %d without an error", rc);
		fuzz_check_printable("settings_load() error", err, strlen(err) + 1);
		check_no_token("settings_load() error", err);
	}
	free(err);
	settings_finish(&s);
	return 0;
}
