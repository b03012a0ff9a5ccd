#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>
#include <cjson/cJSON.h>

/*
 * Integration-test harness: runs the real stand-in Intercom
 * (tests/fake-intercom.c) and the real daemon as child processes on
 * loopback with ephemeral ports, and talks HTTP to both. Failures are
 * Check assertions, so tests read as the behaviour they check.
 */

/* One named test case of a suite. */
struct harness_case {
	const char *name;
	const TTest *test;
	int loop;                  /* > 0: a loop test over _i in 0..loop-1 */
	/* Check tags, e.g. HARNESS_TIMING; NULL for none. */
	const char *tags;
};

/*
 * A case whose assertions hold only at normal speed: probe timeouts of a
 * few hundred milliseconds that a first TLS handshake under
 * ThreadSanitizer (10x slower) overruns. The TSan build runs everything
 * else (CK_EXCLUDE_TAGS=timing); the plain and ASan builds run these too.
 */
#define HARNESS_TIMING "timing"

/*
 * Builds a suite with one tcase per case, each with the checked fixture
 * that starts a fresh stand-in Intercom (harness_fake) and stops it, runs
 * it and returns the process exit status.
 */
int harness_run(const char *suite, const struct harness_case *cases, size_t n);

/* A token shaped like Intercom's, unique enough to grep for. */
#define TEST_TOKEN "dG9rOjU3c2VjcmV0LXRlc3QtdG9rZW4tZG8tbm90LWxlYWs="

struct fake {
	pid_t pid;
	int https_port;
	int control_port;
	char ca_file[512];
};

/* Starts the stand-in; with token, it accepts only that bearer token. */
void fake_start(struct fake *f, const char *token);
/* Sends /set?query to the control port; asserts it was accepted. */
void fake_set(struct fake *f, const char *query);
/* /reset: zero the counters. */
void fake_reset(struct fake *f);
/* Parsed /stats (caller cJSON_Deletes). */
cJSON *fake_stats(struct fake *f);
/* requests.<kind> from /stats: "me", "status", "webhook", "total". */
long fake_requests(struct fake *f, const char *kind);
/* "https://127.0.0.1:PORT<path>" into out. */
void fake_url(const struct fake *f, const char *path, char *out, size_t size);
void fake_stop(struct fake *f);

/* The stand-in of the running test case (see harness_run). */
extern struct fake harness_fake;

struct daemon {
	pid_t pid;
	int port;
	char log_path[256];
	bool exited;
	int status;                /* wait status once exited */
};

/*
 * Starts bin (NULL: $HEALTHD_BIN) with args (NULL-terminated) in a clean
 * environment holding only PATH and env (NULL-terminated "K=V"). The
 * listening socket is passed by socket activation (LISTEN_FDS), so the
 * port is known before the daemon runs. stderr goes to log_path.
 */
void daemon_start(struct daemon *d, const char *bin, const char *const *args,
		  const char *const *env);
/* Common case: serve against f with the test token and extra args. */
void daemon_start_fake(struct daemon *d, struct fake *f,
		       const char *const *extra_args);
/* The same with bin (NULL: $HEALTHD_BIN) and extra environment. */
void daemon_start_fake_env(struct daemon *d, struct fake *f, const char *bin,
			   const char *const *extra_args,
			   const char *const *extra_env);
/* Sends sig and waits up to timeout_ms; returns the wait status, or -1
 * if it did not exit in time (it is then killed). */
int daemon_signal_wait(struct daemon *d, int sig, int timeout_ms);
/* SIGTERM; asserts a clean exit 0. */
void daemon_stop(struct daemon *d);
/* Everything the daemon wrote to stderr so far (caller frees). */
char *daemon_log(const struct daemon *d);

/* Runs a command to completion; returns the exit status, output in *out
 * (stdout and stderr together; caller frees). Clean env as above. */
int run_command(const char *const *argv, const char *const *env, char **out);

struct http_reply {
	long status;
	char *body;
	size_t body_len;
	char *headers;             /* raw header block */
	double seconds;            /* total time */
};

/* One request to 127.0.0.1:port; method NULL means GET. */
void http_request(int port, const char *method, const char *path,
		  const char *accept, struct http_reply *reply);
void http_reply_free(struct http_reply *reply);
/* The value of a response header (case-insensitive name), or NULL;
 * caller frees. */
char *http_header(const struct http_reply *reply, const char *name);

/* GET /health parsed; *status gets the HTTP code. */
cJSON *get_health(struct daemon *d, long *status);
/* The services.intercom object of a /health document. */
cJSON *intercom_of(cJSON *health);

/*
 * Polls /health every 25 ms until pred(health) holds, at most timeout_ms;
 * returns that document (caller deletes) or fails the test with what was
 * last seen and why.
 */
cJSON *wait_health(struct daemon *d, bool (*pred)(cJSON *health, void *arg),
		   void *arg, int timeout_ms, const char *what);

/* Predicates for wait_health. */
bool pred_probed(cJSON *health, void *arg);          /* a probe finished */
bool pred_status(cJSON *health, void *arg);          /* arg: "healthy" ... */

/* The value of one sample line of /metrics ("name{labels}" exactly as
 * printed), or -1 when absent. */
double metric_value(struct daemon *d, const char *series);
/* Waits until the daemon has recorded at least n finished probes
 * (intercom_probe_duration_seconds_count). */
void wait_probes(struct daemon *d, long n, int timeout_ms);

/* A string member, or NULL. */
const char *json_str(cJSON *obj, const char *name);

void sleep_ms(int ms);
long long now_ms(void);

/* Binds a datagram socket standing in for systemd's NOTIFY_SOCKET; its
 * path goes into path. Receives time out after 50 ms. */
int notify_socket(char *path, size_t size);
/* Every datagram that arrives within ms, joined by newlines (caller
 * frees). */
char *notify_collect(int fd, int ms);

/* Asserts needle occurs nowhere in haystack (len bytes). */
void assert_no_secret(const char *haystack, size_t len, const char *where);

#endif
