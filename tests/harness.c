#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "harness.h"

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

static const char *
env_or_fail(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
	return v;
}

/*
 * In a forked child: die with the test that started us (a failed
 * assertion ends the test process before any cleanup runs), and hold no
 * descriptor of the runner's from first_fd on.
 */
static void
child_hygiene(int first_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_range((unsigned)first_fd, ~0U, 0);
}

/* NULL-terminated array of "K=V": PATH plus extra, plus more. */
static char **
make_env(const char *const *extra, const char *more)
{
	size_t n = 0;
	while (extra && extra[n])
		n++;
	char **env = calloc(n + 4, sizeof(*env));
	size_t i = 0;
	const char *path = getenv("PATH");
	if (asprintf(&env[i++], "PATH=%s", path ? path : "/usr/bin:/bin") < 0)
		abort();
	for (size_t k = 0; k < n; k++)
		env[i++] = strdup(extra[k]);
	if (more)
		env[i++] = strdup(more);
	env[i] = NULL;
	return env;
}

/* ------------------------------------------------------------------ */
/* Suites */

struct fake harness_fake;

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
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ------------------------------------------------------------------ */
/* The stand-in Intercom */

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

	char line[128] = "";
	size_t len = 0;
	long long deadline = now_ms() + 10000;
	while (len < sizeof(line) - 1 && now_ms() < deadline) {
		ssize_t n = read(out[0], line + len, 1);
		if (n <= 0)
			break;
		len++;
		if (line[len - 1] == '\n')
			break;
	}
	line[len] = '\0';
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
	char *grown = realloc(r->body, r->body_len + n + 1);
	ck_assert_ptr_nonnull(grown);
	r->body = grown;
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static size_t
collect_headers(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_reply *r = userdata;
	size_t n = size * nmemb;
	size_t have = r->headers ? strlen(r->headers) : 0;
	char *grown = realloc(r->headers, have + n + 1);
	ck_assert_ptr_nonnull(grown);
	r->headers = grown;
	memcpy(r->headers + have, data, n);
	r->headers[have + n] = '\0';
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
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	CURLcode code = curl_easy_perform(c);
	ck_assert_msg(code == CURLE_OK, "%s %s: %s", method ? method : "GET",
		      url, curl_easy_strerror(code));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &reply->seconds);
	if (!reply->body)
		reply->body = strdup("");
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
			return strndup(v, (size_t)(line + len - v));
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
fake_url(const struct fake *f, const char *path, char *out, size_t size)
{
	snprintf(out, size, "https://127.0.0.1:%d%s", f->https_port, path);
}

void
fake_stop(struct fake *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	int status;
	waitpid(f->pid, &status, 0);
	f->pid = 0;
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
	getsockname(fd, (struct sockaddr *)&sa, &len);
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
	snprintf(d->log_path, sizeof(d->log_path), "/tmp/healthd-test-%d-%d.log",
		 (int)getpid(), d->port);

	size_t n = 0;
	while (args && args[n])
		n++;
	const char **argv = calloc(n + 2, sizeof(*argv));
	argv[0] = bin;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = args[i];

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
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
		char **envp = make_env(env, pidvar);
		size_t k = 0;
		while (envp[k])
			k++;
		envp = realloc(envp, (k + 2) * sizeof(*envp));
		envp[k++] = strdup("LISTEN_FDS=1");
		envp[k] = NULL;
		execve(bin, (char *const *)argv, envp);
		_exit(127);
	}
	close(fd);
	free(argv);
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
	for (size_t i = 0; extra_args && extra_args[i] && a < 62; i++)
		args[a++] = extra_args[i];
	args[a] = NULL;
	const char *env[32] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN };
	size_t e = 1;
	for (size_t i = 0; extra_env && extra_env[i] && e < 31; i++)
		env[e++] = extra_env[i];
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
	long long deadline = now_ms() + timeout_ms;
	int status;
	while (now_ms() < deadline) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			d->exited = true;
			d->status = status;
			return status;
		}
		sleep_ms(10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->exited = true;
	d->status = status;
	return -1;
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
		      "daemon exited with status %d; log:\n%s", status, log);
	free(log);
	unlink(d->log_path);
	d->pid = 0;
}

char *
daemon_log(const struct daemon *d)
{
	FILE *f = fopen(d->log_path, "r");
	if (!f)
		return strdup("");
	char *buf = NULL;
	size_t len = 0;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf = realloc(buf, len + n + 1);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		return strdup("");
	buf[len] = '\0';
	return buf;
}

int
run_command(const char *const *argv, const char *const *env, char **out)
{
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		child_hygiene(3);
		char **envp = make_env(env, NULL);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	char *buf = malloc(1);
	size_t len = 0;
	char chunk[4096];
	ssize_t n;
	while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0) {
		buf = realloc(buf, len + (size_t)n + 1);
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(pipefd[0]);
	int status;
	waitpid(pid, &status, 0);
	*out = buf;
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
	long long deadline = now_ms() + timeout_ms;
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
	ck_abort_msg("timed out after %d ms waiting for %s; last /health: %s\n"
		     "daemon log:\n%s", timeout_ms, what, last, log);
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

double
metric_value(struct daemon *d, const char *series)
{
	struct http_reply r;
	http_request(d->port, NULL, "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	assert_no_secret(r.body, r.body_len, "/metrics");
	double value = -1;
	size_t slen = strlen(series);
	for (char *line = r.body; line && *line;) {
		char *end = strchr(line, '\n');
		if (strncmp(line, series, slen) == 0 && line[slen] == ' ') {
			value = strtod(line + slen + 1, NULL);
			break;
		}
		line = end ? end + 1 : NULL;
	}
	http_reply_free(&r);
	return value;
}

void
wait_probes(struct daemon *d, long n, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	double have = -1;
	while (now_ms() < deadline) {
		have = metric_value(d, "intercom_probe_duration_seconds_count");
		if (have >= (double)n)
			return;
		sleep_ms(20);
	}
	char *log = daemon_log(d);
	ck_abort_msg("timed out after %d ms waiting for %ld probes (have %g); "
		     "daemon log:\n%s", timeout_ms, n, have, log);
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

/* A stand-in for systemd's notification socket. */
int
notify_socket(char *path, size_t size)
{
	snprintf(path, size, "/tmp/healthd-notify-%d.sock", (int)getpid());
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 0, 50 * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Every datagram that arrives within ms, joined by newlines. */
char *
notify_collect(int fd, int ms)
{
	size_t cap = 65536, len = 0;
	char *all = calloc(1, cap);
	long long deadline = now_ms() + ms;
	while (now_ms() < deadline) {
		char msg[1024];
		ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			continue;
		if (len + (size_t)n + 2 < cap) {
			memcpy(all + len, msg, (size_t)n);
			len += (size_t)n;
			all[len++] = '\n';
		}
	}
	return all;
}
