#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "test-ca.h"
#include "secret.h"

/*
 * What a hostile audit found, end to end: the token leaking while it
 * rotates or when an echo of it is cut, the environment and core dumps
 * holding it, start-up errors, files that block, and request targets
 * that route where they should not.
 */

static struct daemon daemon_;

/* Tokens the rotation test writes; each shaped like Intercom's. */
static const char *const rotated[] = {
	"dG9rOjAxcm90YXRlZC10b2tlbi1vbmUtYWxwaGE=",
	"dG9rOjAycm90YXRlZC10b2tlbi10d28tYnJhdm8=",
	"dG9rOjAzcm90YXRlZC10b2tlbi10aHJlZS1jaGFybGll",
};

/* Fails naming where, showing text with the secret masked: a failing
 * test must not print the token either. */
static void
fail_leak(const char *text, const char *secret, const char *where)
{
	size_t size = strlen(text) * (sizeof(SECRET_MASK) - 1) + 1;
	char *shown = malloc(size);
	ck_assert_ptr_nonnull(shown);
	strcpy(shown, text);
	secret_redact(shown, size, secret);
	ck_abort_msg("%s leaks a token (masked here): %.2000s", where, shown);
}

/* Asserts that text holds no fragment of any token the test used. */
static void
assert_no_token_fragment(const char *text, const char *where)
{
	if (secret_leaks(text, TEST_TOKEN))
		fail_leak(text, TEST_TOKEN, where);
	for (size_t i = 0; i < sizeof(rotated) / sizeof(rotated[0]); i++)
		if (secret_leaks(text, rotated[i]))
			fail_leak(text, rotated[i], where);
}

/* GETs path and asserts no token fragment is in what came back. */
static void
assert_clean_endpoint(const char *path)
{
	struct http_reply r;
	http_request(daemon_.port, NULL, path, NULL, &r);
	ck_assert_msg(r.body != NULL, "no answer from %s", path);
	assert_no_token_fragment(r.body, path);
	assert_no_token_fragment(r.headers, path);
	http_reply_free(&r);
}

/*
 * Asserts that the STATUS= lines sent to the notify socket nfd (with
 * want among them, unless NULL) and the daemon's log hold no token, then
 * stops the daemon and removes the socket at sock.
 */
static void
stop_and_assert_clean(int nfd, const char *sock, const char *want)
{
	char *status = want ? notify_wait(nfd, notify_has, (void *)want, 5000, want)
			    : notify_collect(nfd, 0);
	assert_no_token_fragment(status, "STATUS=");
	free(status);
	char *log = daemon_log(&daemon_);
	assert_no_token_fragment(log, "the log");
	free(log);
	daemon_stop(&daemon_);
	close(nfd);
	unlink(sock);
}

/* Waits until the daemon serves /livez: up, signals handled. */
static void
wait_live(struct daemon *d)
{
	long long deadline = harness_deadline(5000);
	for (;;) {
		struct http_reply r;
		http_request(d->port, NULL, "/livez", NULL, &r);
		long status = r.status;
		http_reply_free(&r);
		if (status == 200)
			return;
		ck_assert_msg(now_ms() < deadline, "/livez never answered 200");
		sleep_ms(20);
	}
}

/* Writes token to path by rename, as a secret store rotates a file. */
static void
write_token(const char *path, const char *token)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", token);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void
token_file_path(char *out, size_t size, const char *name)
{
	harness_path(out, size, name);
}

/* The last probe got an answer, a 401: not a timeout, which a loaded
 * machine may cause now and then and which echoes nothing. */
static bool
pred_answered_401(cJSON *health, void *arg)
{
	(void)arg;
	const char *error = json_str(intercom_of(health), "error");
	return error && strncmp(error, "401: ", 5) == 0;
}

START_TEST(rotation_during_a_slow_echoed_401)
{
	/* A 401 that arrives 500 ms late and echoes the Authorization
	 * header, while SIGHUP and a rotated file swap the token every 100
	 * ms: the request still in flight must redact against the token it
	 * was sent with, which the swap would otherwise have freed. */
	char path[512], flag[600], sock[512], sock_env[600];
	token_file_path(path, sizeof(path), "rotate");
	write_token(path, rotated[0]);
	snprintf(flag, sizeof(flag), "--token-file=%s", path);
	int nfd = notify_socket(sock, sizeof(sock));
	snprintf(sock_env, sizeof(sock_env), "NOTIFY_SOCKET=%s", sock);
	/* A stand-in that takes any token, so that each rotated one is
	 * echoed back, not refused. */
	fake_stop(&harness_fake);
	fake_start(&harness_fake, NULL);
	fake_set(&harness_fake, "me=reflect&code=401&delay_ms=500");

	/* A 3 s timeout leaves the late answer room even under
	 * ThreadSanitizer on a busy machine. Two probes: the first sent with
	 * the token read at start, the second with one read by a SIGHUP;
	 * both due while the swaps go on. */
	const char *const args[] = { flag, "--interval=4s", "--timeout=3s", NULL };
	const char *const env[] = { sock_env, NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	/* SIGHUP kills a process that has not set up its signals yet. */
	wait_live(&daemon_);

	long long deadline = harness_deadline(10000);
	const char *count = "intercom_probe_duration_seconds_count";
	bool unhealthy = false;
	for (int i = 0; metric_value(&daemon_, count) < 2; i++) {
		ck_assert_msg(now_ms() < deadline, "two probes took over 10 s");
		write_token(path, rotated[i % 3]);
		kill(daemon_.pid, SIGHUP);
		sleep_ms(100);
		/* Read what each reload tells systemd as it comes, as systemd
		 * does: a full socket would block the daemon's sd_notify(). */
		char *got = notify_collect(nfd, 0);
		assert_no_token_fragment(got, "STATUS=");
		unhealthy = unhealthy || strstr(got, "STATUS=unhealthy");
		free(got);
	}
	ck_assert_msg(unhealthy, "no STATUS=unhealthy while rotating");
	ck_assert_int_ge(fake_requests(&harness_fake, "me"), 2);

	/* An answered probe's reason (a loaded machine may have timed one
	 * out, which echoes nothing): there, only without the token. */
	cJSON *health = wait_health(&daemon_, pred_answered_401, NULL, 10000,
				    "an answered 401");
	char *text = cJSON_PrintUnformatted(health);
	assert_no_token_fragment(text, "/health");
	ck_assert_msg(strstr(text, "bad credentials") && strstr(text, "(redacted)"),
		      "%s", text);
	free(text);
	cJSON_Delete(health);
	assert_clean_endpoint("/readyz");
	assert_clean_endpoint("/metrics");
	stop_and_assert_clean(nfd, sock, NULL);
	unlink(path);
}
END_TEST

START_TEST(echo_across_every_cut)
{
	/* The echo moves across the 160-character cap of a reason: no cut
	 * may leave a piece of the token in /health, the log or STATUS=. */
	char sock[512], sock_env[600];
	int nfd = notify_socket(sock, sizeof(sock));
	snprintf(sock_env, sizeof(sock_env), "NOTIFY_SOCKET=%s", sock);
	/* Room for the new TLS connection a timed-out probe leaves behind,
	 * under a sanitizer on a machine busy with other work. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	const char *const env[] = { sock_env, NULL };
	fake_set(&harness_fake, "me=reflect&code=401&reflect_pad=100");
	daemon_start_fake_env(&daemon_, &harness_fake, NULL, args, env);
	wait_probes(&daemon_, 1, 5000);

	for (int pad = 105; pad <= 150; pad += 5) {
		char knobs[64];
		snprintf(knobs, sizeof(knobs), "reflect_pad=%d", pad);
		fake_set(&harness_fake, knobs);
		cJSON *health = wait_probe_after_change(&daemon_, &harness_fake,
							pred_answered_401, NULL, 5000);
		const char *error = json_str(intercom_of(health), "error");
		ck_assert_msg(strstr(error, "401: bad credentials"), "pad %d: %s", pad,
			      error);
		assert_no_token_fragment(error, "/health error");
		cJSON_Delete(health);
	}
	stop_and_assert_clean(nfd, sock, NULL);
}
END_TEST

/* Copies src to dst with mode (for a file another user must read). */
static void
copy_file(const char *src, const char *dst, mode_t mode)
{
	FILE *in = fopen(src, "rb");
	ck_assert_msg(in != NULL, "%s: %s", src, strerror(errno));
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_msg(fd >= 0, "%s: %s", dst, strerror(errno));
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
	fclose(in);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

START_TEST(environment_scrubbed_and_not_dumpable)
{
	/* Run as nobody, so that /proc shows whether the process is
	 * dumpable: a non-dumpable process's /proc files belong to root. */
	const char *setpriv = getenv("SETPRIV");
	ck_assert_msg(setpriv && *setpriv, "SETPRIV is not set");
	/* The binary and the CA from a directory nobody may enter: the build
	 * tree may lie where only its owner can (a checkout under /root). */
	char dir[] = "/tmp/healthd-nobody-XXXXXX", bin[64], ca_copy[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(bin, sizeof(bin), "%s/intercom-healthd", dir);
	snprintf(ca_copy, sizeof(ca_copy), "%s/ca.pem", dir);
	copy_file(getenv("HEALTHD_BIN"), bin, 0755);
	copy_file(harness_fake.ca_file, ca_copy, 0644);
	char api[160], ca[600], url[128];
	fake_url(&harness_fake, "", url, sizeof(url));
	snprintf(api, sizeof(api), "--api-url=%s", url);
	snprintf(ca, sizeof(ca), "--ca-file=%s", ca_copy);
	const char *const args[] = {
		"--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "serve", api, ca, "--status-url=off",
		"--interval=1s", "--timeout=900ms", NULL,
	};
	const char *const env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN,
				    "INTERCOM_WEBHOOK_SECRET=whsec-hardening-secret", NULL };
	daemon_start(&daemon_, setpriv, args, env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)daemon_.pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	char environ_text[8192];
	size_t n = fread(environ_text, 1, sizeof(environ_text) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (environ_text[i] == '\0')
			environ_text[i] = '\n';
	environ_text[n] = '\0';
	ck_assert_msg(strstr(environ_text, "INTERCOM_ACCESS_TOKEN="), "%s", environ_text);
	assert_no_token_fragment(environ_text, "/proc/PID/environ");
	ck_assert_msg(!secret_leaks(environ_text, "whsec-hardening-secret"),
		      "webhook secret in %s", environ_text);

	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg(st.st_uid == 0, "%s belongs to uid %d: the process is dumpable",
		      path, (int)st.st_uid);
	daemon_stop(&daemon_);
	unlink(bin);
	unlink(ca_copy);
	rmdir(dir);
}
END_TEST

/* Runs the daemon with args; asserts exit 2 and exactly one line of
 * output containing want. */
static void
expect_one_line_exit_2(const char *const *args, const char *want)
{
	const char *const env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	char *out = NULL;
	int status = run_command(args, env, &out);
	ck_assert_msg(status == 2, "status %d, output: %s", status, out);
	size_t len = strlen(out);
	ck_assert_msg(len > 0 && out[len - 1] == '\n' && strchr(out, '\n') == out + len - 1,
		      "not one line: %s", out);
	ck_assert_msg(strstr(out, want), "\"%s\" not in: %s", want, out);
	free(out);
}

START_TEST(startup_errors_are_one_line)
{
	const char *bin = getenv("HEALTHD_BIN");
	/* A port in use: bound before anything is logged. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	char listen_arg[64];
	snprintf(listen_arg, sizeof(listen_arg), "--listen=127.0.0.1:%d",
		 ntohs(sa.sin_port));
	const char *const in_use[] = { bin, "serve", listen_arg, NULL };
	expect_one_line_exit_2(in_use, "Address already in use");
	close(fd);

	/* Not an address at all: no DNS lookup, a settings error. */
	const char *const bogus[] = { bin, "serve", "--listen=999.1.1.1:80", NULL };
	expect_one_line_exit_2(bogus, "listen: invalid address \"999.1.1.1:80\"");

	/* A junk CA bundle fails now, not at every probe. */
	char junk[512];
	token_file_path(junk, sizeof(junk), "junk.pem");
	FILE *f = fopen(junk, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	char ca_arg[600];
	snprintf(ca_arg, sizeof(ca_arg), "--ca-file=%s", junk);
	const char *const ca[] = { bin, "serve", ca_arg, NULL };
	expect_one_line_exit_2(ca, "holds no PEM certificate");
	unlink(junk);

	/* The bearer token never goes out in clear text. */
	const char *const plain[] = { bin, "serve", "--api-url=http://localhost", NULL };
	expect_one_line_exit_2(plain, "must start with https://");
}
END_TEST

START_TEST(fifo_token_file_never_blocks)
{
	/* A FIFO swapped in for the token file: a read would wait for a
	 * writer forever, in the probe worker. The worker must refuse it,
	 * keep its token and go on probing. */
	char path[512], fifo[600], flag[600];
	token_file_path(path, sizeof(path), "fifo-token");
	write_token(path, TEST_TOKEN);
	snprintf(flag, sizeof(flag), "--token-file=%s", path);
	/* Probe timeouts roomy enough for a first TLS handshake under
	 * ThreadSanitizer: what is tested is that the worker goes on. */
	const char *const args[] = { flag, "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	wait_probes(&daemon_, 1, 5000);

	snprintf(fifo, sizeof(fifo), "%s.fifo", path);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(rename(fifo, path), 0);
	kill(daemon_.pid, SIGHUP);
	long done = (long)metric_value(&daemon_, "intercom_probe_duration_seconds_count");
	wait_probes(&daemon_, done + 3, 5000);
	struct http_reply r;
	http_request(daemon_.port, NULL, "/livez", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	http_reply_free(&r);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 3000, "healthy"));
	char *log = daemon_log(&daemon_);
	ck_assert_msg(strstr(log, "not a regular file; keeping the current token"), "%s",
		      log);
	free(log);
	daemon_stop(&daemon_);
	unlink(path);
}
END_TEST

START_TEST(open_files_limit_raised_to_fit)
{
	/* Started with the common soft limit of 1024, the daemon raises it
	 * for max_connections (the old build stopped at 499 connections). */
	struct rlimit old, low;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_msg(old.rlim_max >= 4096 + 64, "hard limit %llu too low for the test",
		      (unsigned long long)old.rlim_max);
	low = old;
	low.rlim_cur = 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	daemon_start_fake(&daemon_, &harness_fake, NULL);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cJSON_Delete(wait_health(&daemon_, pred_probed, NULL, 5000, "a probe"));

	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)daemon_.pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	unsigned long long soft = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Max open files", 14) == 0)
			sscanf(line + 14, "%llu", &soft);
	fclose(f);
	ck_assert_msg(soft >= 4096 + 64, "soft open-files limit %llu", soft);
	daemon_stop(&daemon_);
}
END_TEST

/* Sends a raw request; returns the status code of the answer (0: the
 * connection closed without one) and the whole answer in out. */
static long
raw_request(int port, const char *request, char *out, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	size_t len = 0;
	ssize_t n;
	/* Headers and a short body; the server keeps the connection open. */
	while (len + 1 < size && (n = recv(fd, out + len, size - 1 - len, 0)) > 0) {
		len += (size_t)n;
		out[len] = '\0';
		char *end = strstr(out, "\r\n\r\n");
		char *cl = strcasestr(out, "\r\nContent-Length:");
		if (end && cl && (size_t)(end + 4 - out) + strtoul(cl + 17, NULL, 10) <= len)
			break;
	}
	out[len] = '\0';
	close(fd);
	long status = 0;
	sscanf(out, "HTTP/1.%*d %ld", &status);
	return status;
}

START_TEST(request_targets_route_exactly)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	char out[8192];

	/* An encoded NUL must not cut the path short. */
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /health%00x HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out)), 404);
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /health%2500 HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out)), 404);
	/* Other escapes still decode. */
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /%68ealth HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof(out)), 200);
	/* Absolute form, which HTTP/1.1 servers must accept. */
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		out, sizeof(out)), 200);
	ck_assert_msg(strstr(out, "\"status\":\"healthy\""), "%s", out);
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET HTTP://127.0.0.1:9/livez?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
		out, sizeof(out)), 200);
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET http://127.0.0.1/nope HTTP/1.1\r\nHost: a\r\n\r\n", out, sizeof(out)),
		404);
	/* HTTP/1.1 requires Host; HTTP/1.0 does not. */
	ck_assert_int_eq(raw_request(daemon_.port, "GET /health HTTP/1.1\r\n\r\n",
				     out, sizeof(out)), 400);
	ck_assert_int_eq(raw_request(daemon_.port, "GET /health HTTP/1.0\r\n\r\n",
				     out, sizeof(out)), 200);

	/* /health depends on Accept, and says so. */
	struct http_reply r;
	http_request(daemon_.port, NULL, "/health", NULL, &r);
	char *vary = http_header(&r, "Vary");
	ck_assert_msg(vary && strcmp(vary, "Accept") == 0, "Vary: %s", vary ? vary : "-");
	free(vary);
	http_reply_free(&r);
	/* q=0 declines the health+json format. */
	http_request(daemon_.port, NULL, "/health", "application/health+json;q=0", &r);
	char *type = http_header(&r, "Content-Type");
	ck_assert_str_eq(type, "application/json");
	free(type);
	http_reply_free(&r);
	http_request(daemon_.port, NULL, "/health",
		     "text/html, application/health+json;q=0.5", &r);
	type = http_header(&r, "Content-Type");
	ck_assert_str_eq(type, "application/health+json");
	free(type);
	http_reply_free(&r);
	daemon_stop(&daemon_);
}
END_TEST

START_TEST(cached_answers_follow_the_state)
{
	/* Answers are rendered once per snapshot and millisecond: the first
	 * request after a change already sees it, and the timestamp moves. */
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 5000, "healthy"));
	cJSON *a = get_health(&daemon_, NULL);
	sleep_ms(5);
	cJSON *b = get_health(&daemon_, NULL);
	ck_assert_str_ne(json_str(a, "timestamp"), json_str(b, "timestamp"));
	cJSON_Delete(a);
	cJSON_Delete(b);
	fake_set(&harness_fake, "me=error&code=401");
	cJSON_Delete(wait_health(&daemon_, pred_status, "unhealthy", 5000, "unhealthy"));
	struct http_reply r;
	http_request(daemon_.port, NULL, "/readyz", NULL, &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_msg(strstr(r.body, "not ready: unhealthy: 401"), "%s", r.body);
	http_reply_free(&r);
	daemon_stop(&daemon_);
}
END_TEST

/* ---- reloads that take what they say */

/* Trusting it alone, TLS to the stand-in fails. */
#define OTHER_CA_PEM TEST_OTHER_CA_PEM

/* Writes text over path in place (truncating), as `cp new old` does. */
static void
overwrite(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole of path (caller frees). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = malloc(1 << 20);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/*
 * ca_file replaced in place by a bundle that does verify the stand-in,
 * then SIGHUP: the same path, new content, which the reload must read.
 */
START_TEST(rotated_ca_bundle_is_reread)
{
	char ca[512], flag[600];
	harness_path(ca, sizeof(ca), "rotated-ca.pem");
	overwrite(ca, OTHER_CA_PEM, strlen(OTHER_CA_PEM));
	snprintf(flag, sizeof(flag), "--ca-file=%s", ca);
	const char *const args[] = { flag, "--interval=4s", "--timeout=3s", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "unhealthy", 10000,
				 "TLS refused under the other CA"));

	size_t len = 0;
	char *good = slurp(harness_fake.ca_file, &len);
	overwrite(ca, good, len);
	free(good);
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 10000,
				 "healthy under the rotated CA bundle"));
	wait_log(&daemon_, "reload: the CA bundle changed (ca_file", 1, 2000);
	daemon_stop(&daemon_);
	unlink(ca);
}
END_TEST

/*
 * A wrong token renamed into place, SIGHUP, and the right one renamed in
 * right after the reload read the wrong one (the test build's wedged
 * worker holds the reload open for that): the identity the worker keeps
 * must be the wrong file's, so that the right one counts as a change.
 */
START_TEST(token_renamed_right_after_sighup)
{
	char path[512], flag[600], wedge[512], wedge_env[600];
	token_file_path(path, sizeof(path), "renamed");
	write_token(path, rotated[0]);
	snprintf(flag, sizeof(flag), "--token-file=%s", path);
	harness_path(wedge, sizeof(wedge), "token-wedge");
	unlink(wedge);
	snprintf(wedge_env, sizeof(wedge_env), "INTERCOM_HEALTHD_TEST_WEDGE=%s", wedge);
	const char *const args[] = { flag, "--interval=4s", "--timeout=3s", NULL };
	const char *const env[] = { wedge_env, NULL };
	daemon_start_fake_env(&daemon_, &harness_fake, getenv("HEALTHD_HOOKS_BIN"), args,
			      env);
	cJSON_Delete(wait_health(&daemon_, pred_status, "unhealthy", 10000,
				 "401 for a token the stand-in refuses"));

	int fd = open(wedge, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	wait_log(&daemon_, "test hook: the probe worker is wedged", 1, 10000);
	write_token(path, rotated[1]);
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	wait_log(&daemon_, "received SIGHUP", 1, 5000);
	/* Ordering, not a bound: the reload reads the file within
	 * milliseconds; should it take longer, it reads the right token
	 * and the case passes either way. */
	sleep_ms(1000);
	write_token(path, TEST_TOKEN);
	unlink(wedge);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 10000,
				 "the token renamed in after the reload read"));
	char *log = daemon_log(&daemon_);
	assert_no_token_fragment(log, "the log");
	free(log);
	daemon_stop(&daemon_);
}
END_TEST

/*
 * A token file that cannot be used (a leading space) is warned about
 * once per change of the file, not at every probe; the running token
 * stays.
 */
START_TEST(bad_token_file_warned_once_per_change)
{
	char path[512], flag[600], bad[128];
	token_file_path(path, sizeof(path), "bad");
	write_token(path, TEST_TOKEN);
	snprintf(flag, sizeof(flag), "--token-file=%s", path);
	const char *const args[] = { flag, "--interval=3s", "--timeout=2500ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 10000, "healthy"));

	snprintf(bad, sizeof(bad), " %s", rotated[0]);
	write_token(path, bad);
	wait_log(&daemon_, "keeping the current token", 1, 10000);
	long probes = (long)metric_value(&daemon_, "intercom_probe_duration_seconds_count");
	wait_probes(&daemon_, probes + 2, 20000);
	char *log = daemon_log(&daemon_);
	ck_assert_int_eq(count_of(log, "keeping the current token"), 1);
	free(log);

	snprintf(bad, sizeof(bad), "  %s", rotated[1]);
	write_token(path, bad);
	wait_log(&daemon_, "keeping the current token", 2, 10000);
	cJSON_Delete(wait_health(&daemon_, pred_status, "healthy", 10000,
				 "still the running token"));
	log = daemon_log(&daemon_);
	assert_no_token_fragment(log, "the log");
	free(log);
	daemon_stop(&daemon_);
}
END_TEST

/*
 * RFC 9112 section 3.2: a request with more than one Host field is
 * answered 400. Proxies and the daemon may each pick a different one, so
 * what one checked and what the other served would part.
 */
START_TEST(two_host_headers_get_400)
{
	const char *const args[] = { "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_probed, NULL, 5000, "a first probe"));
	char out[8192];
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", out,
		sizeof(out)), 400);
	/* Field names are case-insensitive; the same value twice is still two. */
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /livez HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n", out,
		sizeof(out)), 400);
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /nope HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", out,
		sizeof(out)), 400);
	/* One Host is served as before. */
	ck_assert_int_eq(raw_request(daemon_.port,
		"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n", out, sizeof(out)), 200);
	daemon_stop(&daemon_);
}
END_TEST

/* Asserts text shows api_url with its userinfo masked and nowhere whole. */
static void
assert_userinfo_masked(const char *text, const char *where)
{
	ck_assert_msg(text != NULL, "%s: no answer", where);
	ck_assert_msg(!strstr(text, "url-user") && !strstr(text, "url-pass"),
		      "%s shows the credentials of api_url: %.2000s", where, text);
	ck_assert_msg(strstr(text, "https://***@127.0.0.1:"),
		      "%s does not show api_url masked: %.2000s", where, text);
}

/*
 * Credentials in a URL setting are credentials: every place that shows
 * api_url shows "***" for them, as the log does.
 */
START_TEST(url_credentials_never_shown)
{
	char api[160], ca[600];
	snprintf(api, sizeof(api), "--api-url=https://url-user:url-pass@127.0.0.1:%d",
		 harness_fake.https_port);
	snprintf(ca, sizeof(ca), "--ca-file=%s", harness_fake.ca_file);
	const char *const args[] = { api, "--interval=1s", "--timeout=900ms", NULL };
	daemon_start_fake(&daemon_, &harness_fake, args);
	cJSON_Delete(wait_health(&daemon_, pred_probed, NULL, 5000, "a first probe"));

	struct http_reply r;
	http_request(daemon_.port, NULL, "/health", NULL, &r);
	assert_userinfo_masked(r.body, "/health");
	http_reply_free(&r);
	http_request(daemon_.port, NULL, "/health", "application/health+json", &r);
	assert_userinfo_masked(r.body, "/health as health+json");
	http_reply_free(&r);
	http_request(daemon_.port, NULL, "/", NULL, &r);
	assert_userinfo_masked(r.body, "the status page");
	http_reply_free(&r);
	char *log = daemon_log(&daemon_);
	assert_userinfo_masked(log, "the log");
	free(log);
	daemon_stop(&daemon_);

	const char *argv[] = { getenv("HEALTHD_BIN"), "check", "--format=json", api, ca,
			       NULL };
	const char *env[] = { "INTERCOM_ACCESS_TOKEN=" TEST_TOKEN, NULL };
	char *out;
	run_command(argv, env, &out);
	assert_userinfo_masked(out, "check --format=json");
	free(out);

	/* check -v names the URL it probed; preflight names its target and,
	 * for webhook_url, the endpoint it sent HEAD to. */
	const char *verbose[] = { getenv("HEALTHD_BIN"), "check", "-v", api, ca, NULL };
	run_command(verbose, env, &out);
	assert_userinfo_masked(out, "check -v");
	free(out);
	char hook[200];
	snprintf(hook, sizeof(hook),
		 "--webhook-url=https://hook-user:hook-pass@127.0.0.1:%d/webhook",
		 harness_fake.https_port);
	const char *pre[] = { getenv("HEALTHD_BIN"), "preflight", "--status-url=off",
			      api, ca, hook, NULL };
	run_command(pre, env, &out);
	assert_userinfo_masked(out, "preflight");
	ck_assert_msg(!strstr(out, "hook-user") && !strstr(out, "hook-pass") &&
		      strstr(out, "HEAD https://***@127.0.0.1:"),
		      "preflight shows webhook_url's credentials: %.2000s", out);
	free(out);
}
END_TEST

int
main(void)
{
	const struct harness_case cases[] = {
		{ "rotation during a slow echoed 401", rotation_during_a_slow_echoed_401 },
		{ "echo across every cut", echo_across_every_cut },
		{ "environment scrubbed, not dumpable", environment_scrubbed_and_not_dumpable },
		{ "start-up errors are one line", startup_errors_are_one_line },
		{ "FIFO token file never blocks", fifo_token_file_never_blocks },
		{ "open-files limit raised", open_files_limit_raised_to_fit },
		{ "request targets route exactly", request_targets_route_exactly },
		{ "cached answers follow the state", cached_answers_follow_the_state },
		{ "rotated CA bundle re-read", rotated_ca_bundle_is_reread },
		{ "token renamed right after SIGHUP", token_renamed_right_after_sighup },
		{ "bad token file warned once", bad_token_file_warned_once_per_change },
		{ "two Host headers", two_host_headers_get_400 },
		{ "URL credentials never shown", url_credentials_never_shown },
	};
	return harness_run("hardening", cases, sizeof(cases) / sizeof(cases[0]));
}
