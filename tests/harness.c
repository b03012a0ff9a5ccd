#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "harness.h"

/* The stand-in promises to end within about a second of SIGTERM. */
#define FAKE_STOP_MS 5000
/* The daemon's one-shot commands (check, bad settings) and promtool
 * finish in well under a second; anything longer is a hang. */
#define COMMAND_MS 10000

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
env_or_fail(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
	return v;
}

/*
 * A wait's deadline: every timeout_ms a test passes to a wait_* helper is
 * what the step takes on an idle machine with room to spare, and a wait
 * only bounds how long a test that already failed takes to say so. CI
 * machines are shared and the sanitizers are slow, so the bound is
 * stretched: WAIT_SLACK times on its own, more under a sanitizer
 * (HEALTHD_TEST_TIME_SCALE, set by tests/meson.build). A passing test
 * never waits longer for it.
 */
#define WAIT_SLACK 4

int
harness_time_scale(void)
{
	const char *v = getenv("HEALTHD_TEST_TIME_SCALE");
	int scale = v ? atoi(v) : 1;
	return scale >= 1 ? scale : 1;
}

long long
harness_deadline(int timeout_ms)
{
	int scale = harness_time_scale();
	return now_ms() + (long long)timeout_ms * (scale > WAIT_SLACK ? scale : WAIT_SLACK);
}

/* Milliseconds left until deadline (now_ms clock), never negative. */
static int
left_ms(long long deadline)
{
	long long left = deadline - now_ms();
	return left > 0 ? (int)left : 0;
}

static char *
xstrdup(const char *s)
{
	char *copy = strdup(s);
	ck_assert_ptr_nonnull(copy);
	return copy;
}

/* Appends n bytes to the NUL-terminated *buf of *len bytes. */
static void
append(char **buf, size_t *len, const char *data, size_t n)
{
	char *grown = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(grown);
	memcpy(grown + *len, data, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
}

/*
 * In a forked child: die with the test that started us (a failed
 * assertion ends the test process before any cleanup runs), and hold no
 * descriptor of the runner's from first_fd on.
 */
static void
child_hygiene(int first_fd)
{
	/* A group of our own, which harness_track()'s exit handler kills
	 * whole: what we start (a browser's helpers) goes with us. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_range((unsigned)first_fd, ~0U, 0);
}

/*
 * NULL-terminated array of "K=V": PATH, then extra, then `spare` NULL
 * slots a forked child may fill without allocating. Built before fork(),
 * where a failed allocation can still fail the test. free_env frees it.
 */
static char **
make_env(const char *const *extra, size_t spare)
{
	size_t n = 0;
	while (extra && extra[n])
		n++;
	char **env = calloc(n + spare + 2, sizeof(*env));
	ck_assert_ptr_nonnull(env);
	/* Without PATH of our own, the C library's default search path. */
	char fallback[256] = "";
	const char *path = getenv("PATH");
	if (!path || !*path) {
		confstr(_CS_PATH, fallback, sizeof(fallback));
		path = fallback;
	}
	ck_assert_int_ge(asprintf(&env[0], "PATH=%s", path), 0);
	for (size_t k = 0; k < n; k++)
		env[k + 1] = xstrdup(extra[k]);
	return env;
}

static void
free_env(char **env)
{
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

static void untrack(pid_t pid);

int
reap(pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			untrack(pid);
			return status;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			break;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	untrack(pid);
	return -1;
}

/*
 * Reads what a child writes to fd until it closes it, then reaps the
 * child; both within timeout_ms, or the child is killed and the test
 * fails naming what. Returns the wait status, the output in *out.
 */
static int
collect_child(pid_t pid, int fd, int timeout_ms, const char *what, char **out)
{
	long long deadline = harness_deadline(timeout_ms);
	char *buf = xstrdup("");
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		append(&buf, &len, chunk, (size_t)n);
	}
	close(fd);
	int status = reap(pid, left_ms(deadline));
	ck_assert_msg(status != -1, "%s still ran after %d ms (killed); output:\n"
		      "%.2000s", what, timeout_ms, buf);
	*out = buf;
	return status;
}

/*
 * Every process a case starts leads a process group of its own
 * (child_hygiene); when the case's process ends, however it ends short of
 * SIGKILL, each group is killed. A helper that outlived its test would
 * keep meson's output pipe open and hang the run to meson's timeout; one
 * killed with SIGKILL still dies by PR_SET_PDEATHSIG, and its group
 * members are orphans with nothing of meson's (close_range).
 */
#define MAX_TRACKED 256
static pid_t tracked[MAX_TRACKED];
static size_t n_tracked;
static pid_t tracker;

static void
kill_tracked(void)
{
	if (getpid() != tracker)
		return;
	for (size_t i = 0; i < n_tracked; i++)
		kill(-tracked[i], SIGKILL);
	n_tracked = 0;
}

/*
 * A reaped child's number may go to another process soon (pid_max is
 * 32768 on many machines, and the suite starts thousands): one reaped is
 * no longer ours to kill, or the exit handler could kill the group of
 * another test's helper that got the number.
 */
static void
untrack(pid_t pid)
{
	if (tracker != getpid())
		return;
	for (size_t i = 0; i < n_tracked; i++) {
		if (tracked[i] == pid) {
			tracked[i] = tracked[--n_tracked];
			return;
		}
	}
}

void
harness_track(pid_t pid)
{
	/* Also here, not only in the child: the group must exist before we
	 * might kill it, whichever of the two runs first. */
	setpgid(pid, pid);
	if (tracker != getpid()) {
		tracker = getpid();
		n_tracked = 0;
		atexit(kill_tracked);
	}
	if (n_tracked < MAX_TRACKED)
		tracked[n_tracked++] = pid;
}

/* ------------------------------------------------------------------ */
/* Suites */

struct fake harness_fake;

/* This program's temporary directory; made before Check forks, so that
 * every test process of the run writes to the same one. */
static char tmp_dir[256];

void
harness_path(char *out, size_t size, const char *name)
{
	ck_assert_msg(tmp_dir[0], "no temporary directory (harness_run makes it)");
	int n = snprintf(out, size, "%s/%s", tmp_dir, name);
	ck_assert_msg(n > 0 && (size_t)n < size, "path too long: %s/%s", tmp_dir,
		      name);
}

static bool
make_tmp_dir(void)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	int n = snprintf(tmp_dir, sizeof(tmp_dir), "%s/healthd-test-XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(tmp_dir) || !mkdtemp(tmp_dir)) {
		printf("Bail out! cannot make a temporary directory under %s: %s\n",
		       base, strerror(errno));
		return false;
	}
	return true;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_tmp_dir(void)
{
	if (nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "# cannot remove %s: %s\n", tmp_dir, strerror(errno));
}

static bool
listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; p; p = strchr(p, '|')) {
		if (*p == '|')
			p++;
		if (strncmp(p, name, len) == 0 && (p[len] == '|' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* See harness_run: CK_RUN_CASE names a case, HARNESS_CASES names all. */
static bool
cases_registered(const char *suite, const struct harness_case *cases, size_t n)
{
	const char *run = getenv("CK_RUN_CASE");
	const char *known = getenv("HARNESS_CASES");
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		if (run && strcmp(run, cases[i].name) == 0)
			found = true;
		if (known && !listed(known, cases[i].name)) {
			printf("Bail out! case \"%s\" of %s is missing from "
			       "tests/meson.build: it would never run\n",
			       cases[i].name, suite);
			return false;
		}
	}
	if (run && !found) {
		printf("Bail out! CK_RUN_CASE=\"%s\" names no case of %s\n", run, suite);
		return false;
	}
	return true;
}

static void
fixture_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fake_start(&harness_fake, TEST_TOKEN);
}

static void
fixture_teardown(void)
{
	fake_stop(&harness_fake);
}

int
harness_run(const char *name, const struct harness_case *cases, size_t n)
{
	if (!cases_registered(name, cases, n) || !make_tmp_dir())
		return EXIT_FAILURE;
	Suite *s = suite_create(name);
	for (size_t i = 0; i < n; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
		tcase_set_timeout(tc, 60);
		if (cases[i].tags)
			tcase_set_tags(tc, cases[i].tags);
		if (cases[i].loop > 0)
			tcase_add_loop_test(tc, cases[i].test, 0, cases[i].loop);
		else
			tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_tmp_dir();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* The stand-in Intercom */

/* Reads one line from fd into line (at most size - 1 bytes), giving up
 * at deadline (now_ms clock). */
static void
read_line(int fd, char *line, size_t size, long long deadline)
{
	size_t len = 0;
	while (len < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, left_ms(deadline)) <= 0)
			break;
		ssize_t n = read(fd, line + len, 1);
		if (n <= 0)
			break;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
}

void
fake_start(struct fake *f, const char *token)
{
	memset(f, 0, sizeof(*f));
	const char *bin = env_or_fail("FAKE_INTERCOM_BIN");
	const char *certs = env_or_fail("TEST_CERT_DIR");
	char cert[512], key[512];
	snprintf(cert, sizeof(cert), "%s/server.pem", certs);
	snprintf(key, sizeof(key), "%s/server.key", certs);
	snprintf(f->ca_file, sizeof(f->ca_file), "%s/ca.pem", certs);

	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		harness_track(pid);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0 && !getenv("FAKE_VERBOSE"))
			dup2(devnull, STDERR_FILENO);
		child_hygiene(3);
		const char *argv[10] = { bin, "--cert", cert, "--key", key };
		int a = 5;
		if (token) {
			argv[a++] = "--token";
			argv[a++] = token;
		}
		argv[a] = NULL;
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	f->pid = pid;

	char line[128];
	read_line(out[0], line, sizeof(line), harness_deadline(10000));
	close(out[0]);
	ck_assert_msg(sscanf(line, "https_port=%d control_port=%d",
			     &f->https_port, &f->control_port) == 2,
		      "fake-intercom did not announce its ports: \"%s\"", line);
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_reply *r = userdata;
	size_t n = size * nmemb;
	append(&r->body, &r->body_len, data, n);
	return n;
}

static size_t
collect_headers(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_reply *r = userdata;
	size_t n = size * nmemb;
	size_t have = r->headers ? strlen(r->headers) : 0;
	append(&r->headers, &have, data, n);
	return n;
}

void
http_request(int port, const char *method, const char *path,
	     const char *accept, struct http_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	char url[512];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_headers);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
	if (method && strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	struct curl_slist *h = NULL;
	if (accept) {
		char line[256];
		snprintf(line, sizeof(line), "Accept: %s", accept);
		h = curl_slist_append(h, line);
		ck_assert_ptr_nonnull(h);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	CURLcode code = curl_easy_perform(c);
	ck_assert_msg(code == CURLE_OK, "%s %s: %s", method ? method : "GET",
		      url, curl_easy_strerror(code));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &reply->seconds);
	if (!reply->body)
		reply->body = xstrdup("");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

void
http_reply_free(struct http_reply *reply)
{
	free(reply->body);
	free(reply->headers);
	memset(reply, 0, sizeof(*reply));
}

char *
http_header(const struct http_reply *reply, const char *name)
{
	if (!reply->headers)
		return NULL;
	size_t nlen = strlen(name);
	for (const char *line = reply->headers; line && *line;) {
		const char *end = strstr(line, "\r\n");
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > nlen && strncasecmp(line, name, nlen) == 0 &&
		    line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (*v == ' ')
				v++;
			char *value = strndup(v, (size_t)(line + len - v));
			ck_assert_ptr_nonnull(value);
			return value;
		}
		line = end ? end + 2 : NULL;
	}
	return NULL;
}

void
fake_set(struct fake *f, const char *query)
{
	char path[512];
	snprintf(path, sizeof(path), "/set?%s", query);
	struct http_reply r;
	http_request(f->control_port, NULL, path, NULL, &r);
	ck_assert_msg(r.status == 200, "fake /set?%s: %ld %s", query, r.status,
		      r.body);
	http_reply_free(&r);
}

void
fake_reset(struct fake *f)
{
	struct http_reply r;
	http_request(f->control_port, NULL, "/reset", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	http_reply_free(&r);
}

cJSON *
fake_stats(struct fake *f)
{
	struct http_reply r;
	http_request(f->control_port, NULL, "/stats", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	cJSON *stats = cJSON_Parse(r.body);
	ck_assert_msg(stats != NULL, "fake /stats is not JSON: %s", r.body);
	http_reply_free(&r);
	return stats;
}

long
fake_requests(struct fake *f, const char *kind)
{
	cJSON *stats = fake_stats(f);
	cJSON *requests = cJSON_GetObjectItemCaseSensitive(stats, "requests");
	cJSON *n = cJSON_GetObjectItemCaseSensitive(requests, kind);
	ck_assert_msg(cJSON_IsNumber(n), "fake /stats has no requests.%s", kind);
	long v = (long)n->valuedouble;
	cJSON_Delete(stats);
	return v;
}

void
wait_fake_requests(struct fake *f, const char *kind, long n, int timeout_ms)
{
	long long deadline = harness_deadline(timeout_ms);
	long have;
	while ((have = fake_requests(f, kind)) < n) {
		ck_assert_msg(now_ms() < deadline, "the stand-in saw %ld %s requests "
			      "in %d ms, want %ld", have, kind, timeout_ms, n);
		sleep_ms(10);
	}
}

void
fake_url(const struct fake *f, const char *path, char *out, size_t size)
{
	snprintf(out, size, "https://127.0.0.1:%d%s", f->https_port, path);
}

void
fake_stop(struct fake *f)
{
	if (f->pid <= 0)
		return;
	pid_t pid = f->pid;
	f->pid = 0;
	kill(pid, SIGTERM);
	int status = reap(pid, FAKE_STOP_MS);
	ck_assert_msg(status != -1, "fake-intercom did not exit within %d ms of "
		      "SIGTERM (killed)", FAKE_STOP_MS);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fake-intercom ended with wait status %d", status);
}

/* ------------------------------------------------------------------ */
/* The daemon */

static int
listen_ephemeral(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, SOMAXCONN), 0);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

int
reserve_port(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	int one = 1;
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

void
daemon_start(struct daemon *d, const char *bin, const char *const *args,
	     const char *const *env)
{
	memset(d, 0, sizeof(*d));
	if (!bin)
		bin = env_or_fail("HEALTHD_BIN");
	int fd = listen_ephemeral(&d->port);
	char name[64];
	snprintf(name, sizeof(name), "daemon-%d-%d.log", (int)getpid(), d->port);
	harness_path(d->log_path, sizeof(d->log_path), name);

	size_t n = 0;
	while (args && args[n])
		n++;
	const char **argv = calloc(n + 2, sizeof(*argv));
	ck_assert_ptr_nonnull(argv);
	argv[0] = bin;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = args[i];
	/* Two spare slots: LISTEN_FDS, and LISTEN_PID once the child knows
	 * its pid. */
	char **envp = make_env(env, 2);
	size_t k = 0;
	while (envp[k])
		k++;

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		harness_track(pid);
	if (pid == 0) {
		int log = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (log >= 0)
			dup2(log, STDERR_FILENO);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
		}
		/* sd_listen_fds(3): the socket at fd 3, LISTEN_PID = us. */
		if (fd != 3) {
			dup2(fd, 3);
			close(fd);
		}
		child_hygiene(4);
		char pidvar[64];
		snprintf(pidvar, sizeof(pidvar), "LISTEN_PID=%d", (int)getpid());
		envp[k] = pidvar;
		envp[k + 1] = (char *)"LISTEN_FDS=1";
		execve(bin, (char *const *)argv, envp);
		_exit(127);
	}
	close(fd);
	free(argv);
	free_env(envp);
	d->pid = pid;
}

void
daemon_start_fake_env(struct daemon *d, struct fake *f, const char *bin,
		      const char *const *extra_args,
		      const char *const *extra_env)
{
	char api_url[128], ca[600];
	fake_url(f, "", api_url, sizeof(api_url));
	snprintf(ca, sizeof(ca), "--ca-file=%s", f->ca_file);
	char api[160];
	snprintf(api, sizeof(api), "--api-url=%s", api_url);

	/* Later flags win, so extra_args can override these. */
	const char *args[64] = { "serve", api, ca, "--status-url=off" };
	size_t a = 4;
	for (size_t i = 0; extra_args && extra_args[i]; i++) {
		ck_assert_msg(a < 63, "too many arguments");
		args[a++] = extra_args[i];
	}
	args[a] = NULL;
	const char *env[32] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN };
	size_t e = 1;
	for (size_t i = 0; extra_env && extra_env[i]; i++) {
		ck_assert_msg(e < 31, "too many environment variables");
		env[e++] = extra_env[i];
	}
	env[e] = NULL;
	daemon_start(d, bin, args, env);
}

void
daemon_start_fake(struct daemon *d, struct fake *f,
		  const char *const *extra_args)
{
	daemon_start_fake_env(d, f, NULL, extra_args, NULL);
}

int
daemon_signal_wait(struct daemon *d, int sig, int timeout_ms)
{
	if (d->exited)
		return d->status;
	kill(d->pid, sig);
	int status = reap(d->pid, timeout_ms);
	d->exited = true;
	d->status = status;
	return status;
}

void
daemon_stop(struct daemon *d)
{
	if (d->pid <= 0)
		return;
	int status = daemon_signal_wait(d, SIGTERM, 5000);
	char *log = daemon_log(d);
	assert_no_secret(log, strlen(log), "daemon stderr");
	ck_assert_msg(status != -1, "daemon did not exit within 5 s of SIGTERM");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "daemon exited with status %d; log:\n%.3000s", status, log);
	free(log);
	unlink(d->log_path);
	d->pid = 0;
}

char *
daemon_log(const struct daemon *d)
{
	char *buf = xstrdup("");
	FILE *f = fopen(d->log_path, "r");
	if (!f)
		return buf;
	size_t len = 0;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		append(&buf, &len, chunk, n);
	fclose(f);
	return buf;
}

void
wait_log(const struct daemon *d, const char *needle, int n, int timeout_ms)
{
	long long deadline = harness_deadline(timeout_ms);
	for (;;) {
		char *log = daemon_log(d);
		int have = count_of(log, needle);
		if (have >= n) {
			free(log);
			return;
		}
		if (now_ms() >= deadline)
			ck_abort_msg("\"%s\" %d times in the log after %d ms, want "
				     "%d; log:\n%.3000s", needle, have, timeout_ms, n, log);
		free(log);
		sleep_ms(20);
	}
}

int
run_command(const char *const *argv, const char *const *env, char **out)
{
	char **envp = make_env(env, 0);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		harness_track(pid);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		child_hygiene(3);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	free_env(envp);
	int status = collect_child(pid, pipefd[0], COMMAND_MS, argv[0], out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------------------ */
/* /health and /metrics */

const char *
json_str(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long
json_time_ms(cJSON *obj, const char *name)
{
	const char *text = json_str(obj, name);
	struct tm tm = { 0 };
	int ms, end = 0;
	if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year,
			    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			    &tm.tm_sec, &ms, &end) != 7 || text[end] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

cJSON *
get_health(struct daemon *d, long *status)
{
	struct http_reply r;
	http_request(d->port, NULL, "/health", NULL, &r);
	assert_no_secret(r.body, r.body_len, "/health");
	cJSON *doc = cJSON_Parse(r.body);
	ck_assert_msg(doc != NULL, "/health is not JSON: %s", r.body);
	if (status)
		*status = r.status;
	http_reply_free(&r);
	return doc;
}

cJSON *
intercom_of(cJSON *health)
{
	cJSON *services = cJSON_GetObjectItemCaseSensitive(health, "services");
	cJSON *intercom = cJSON_GetObjectItemCaseSensitive(services, "intercom");
	ck_assert_msg(cJSON_IsObject(intercom), "no services.intercom in /health");
	return intercom;
}

cJSON *
wait_health(struct daemon *d, bool (*pred)(cJSON *health, void *arg),
	    void *arg, int timeout_ms, const char *what)
{
	long long deadline = harness_deadline(timeout_ms);
	char *last = NULL;
	for (;;) {
		cJSON *doc = get_health(d, NULL);
		if (pred(doc, arg)) {
			free(last);
			return doc;
		}
		free(last);
		last = cJSON_PrintUnformatted(doc);
		cJSON_Delete(doc);
		if (now_ms() >= deadline)
			break;
		sleep_ms(25);
	}
	char *log = daemon_log(d);
	/* Cut to fit: Check dies on a failure message over a few KiB. */
	ck_abort_msg("timed out after %d ms waiting for %s; last /health: %.1500s\n"
		     "daemon log:\n%.2000s", timeout_ms, what, last, log);
	return NULL;
}

bool
pred_probed(cJSON *health, void *arg)
{
	(void)arg;
	return json_str(intercom_of(health), "checkedAt") != NULL;
}

bool
pred_status(cJSON *health, void *arg)
{
	const char *status = json_str(health, "status");
	return status && strcmp(status, (const char *)arg) == 0;
}

/* What wait_probe_after_change waits for. */
struct after_change {
	long long since;           /* wall_ms of the first request after it */
	bool (*pred)(cJSON *health, void *arg);
	void *arg;
};

/* The last probe finished at or after the first request with the new
 * knobs arrived, and the caller's predicate, if any, holds. */
static bool
pred_after_change(cJSON *health, void *arg)
{
	const struct after_change *want = arg;
	return json_time_ms(intercom_of(health), "checkedAt") >= want->since &&
	       (!want->pred || want->pred(health, want->arg));
}

/* When the stand-in's first API request since the last reset arrived
 * (wall_ms clock), or -1 before there was one. */
static long long
first_arrival_ms(struct fake *f)
{
	cJSON *stats = fake_stats(f);
	cJSON *times = cJSON_GetObjectItemCaseSensitive(stats, "me_times_ms");
	cJSON *first = cJSON_GetArrayItem(times, 0);
	long long at = cJSON_IsNumber(first) ? (long long)first->valuedouble : -1;
	cJSON_Delete(stats);
	return at;
}

cJSON *
wait_probe_after_change(struct daemon *d, struct fake *f,
			bool (*pred)(cJSON *health, void *arg), void *arg,
			int timeout_ms)
{
	long long deadline = harness_deadline(timeout_ms);
	fake_reset(f);
	struct after_change want = { .since = -1, .pred = pred, .arg = arg };
	while ((want.since = first_arrival_ms(f)) < 0) {
		ck_assert_msg(now_ms() < deadline, "no probe reached the stand-in "
			      "within %d ms of the change", timeout_ms);
		sleep_ms(10);
	}
	return wait_health(d, pred_after_change, &want, left_ms(deadline),
			   "the end of a probe with the new knobs");
}

char *
metrics_text(struct daemon *d)
{
	struct http_reply r;
	http_request(d->port, NULL, "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_no_secret(r.body, r.body_len, "/metrics");
	char *text = r.body;
	r.body = NULL;
	http_reply_free(&r);
	return text;
}

double
metric_in(const char *text, const char *series)
{
	size_t slen = strlen(series);
	for (const char *line = text; line && *line;) {
		if (strncmp(line, series, slen) == 0 && line[slen] == ' ')
			return strtod(line + slen + 1, NULL);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

double
metric_value(struct daemon *d, const char *series)
{
	char *text = metrics_text(d);
	double value = metric_in(text, series);
	free(text);
	return value;
}

void
wait_metric(struct daemon *d, const char *series, double at_least, int timeout_ms)
{
	long long deadline = harness_deadline(timeout_ms);
	double have = -1;
	while (now_ms() < deadline) {
		have = metric_value(d, series);
		if (have >= at_least)
			return;
		sleep_ms(20);
	}
	char *log = daemon_log(d);
	ck_abort_msg("timed out after %d ms waiting for %s to reach %g (have %g); "
		     "daemon log:\n%.3000s", timeout_ms, series, at_least, have, log);
}

void
wait_probes(struct daemon *d, long n, int timeout_ms)
{
	wait_metric(d, "intercom_probe_duration_seconds_count", (double)n, timeout_ms);
}

int
count_of(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

void
assert_no_secret(const char *haystack, size_t len, const char *where)
{
	static const char *const secrets[] = { TEST_TOKEN, "dG9rOjU3c2VjcmV0" };
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		ck_assert_msg(!memmem(haystack, len, secrets[i], strlen(secrets[i])),
			      "the token leaked into %s", where);
}

/* ------------------------------------------------------------------ */
/* systemd's notification socket */

int
notify_socket(char *path, size_t size)
{
	char name[64];
	snprintf(name, sizeof(name), "notify-%d.sock", (int)getpid());
	harness_path(path, size, name);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_msg(strlen(path) < sizeof(sa.sun_path),
		      "%s is too long for a socket: set a shorter TMPDIR", path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 0, 50 * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Receives one datagram (waiting up to the socket's 50 ms, unless flags
 * say MSG_DONTWAIT) and appends it, with a newline, to *all. Returns
 * whether there was one. */
static bool
notify_receive(int fd, char **all, size_t *len, int flags)
{
	char msg[1024];
	ssize_t n = recv(fd, msg, sizeof(msg) - 1, flags);
	if (n <= 0)
		return false;
	msg[n++] = '\n';
	append(all, len, msg, (size_t)n);
	return true;
}

char *
notify_collect(int fd, int ms)
{
	char *all = xstrdup("");
	size_t len = 0;
	long long deadline = now_ms() + ms;
	/* What is queued already, then what arrives until the deadline. */
	while (notify_receive(fd, &all, &len, MSG_DONTWAIT))
		;
	while (now_ms() < deadline)
		notify_receive(fd, &all, &len, 0);
	return all;
}

char *
notify_wait(int fd, bool (*done)(const char *got, void *arg), void *arg,
	    int timeout_ms, const char *what)
{
	char *all = xstrdup("");
	size_t len = 0;
	long long deadline = harness_deadline(timeout_ms);
	while (!done(all, arg)) {
		if (now_ms() >= deadline)
			ck_abort_msg("no %s on the notify socket within %d ms; got:\n%.3000s",
				     what, timeout_ms, all);
		notify_receive(fd, &all, &len, 0);
	}
	return all;
}

bool
notify_has(const char *got, void *arg)
{
	return strstr(got, (const char *)arg) != NULL;
}

/* ------------------------------------------------------------------ */
/* promtool */

int
promtool_check(const char *text, size_t len, char **out)
{
	const char *promtool = getenv("PROMTOOL");
	ck_assert_msg(promtool && *promtool, "PROMTOOL is not set: run through "
		      "meson test, which finds promtool (package prometheus)");
	ck_assert_msg(access(promtool, X_OK) == 0, "PROMTOOL=%s: %s", promtool,
		      strerror(errno));

	/* The text on promtool's stdin, from memory: no file to clean up. */
	int in = memfd_create("metrics", MFD_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_eq(write(in, text, len), (ssize_t)len);
	ck_assert_int_eq(lseek(in, 0, SEEK_SET), 0);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		harness_track(pid);
	if (pid == 0) {
		dup2(in, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		child_hygiene(3);
		execl(promtool, promtool, "check", "metrics", (char *)NULL);
		_exit(127);
	}
	close(in);
	close(pipefd[1]);
	int status = collect_child(pid, pipefd[0], COMMAND_MS, promtool, out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
