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
 *
 * Every test program may run beside the others: ports come from the
 * kernel, files go to a directory of the program's own (harness_path),
 * and nothing is shared between processes.
 */

/* One named test case of a suite. */
struct harness_case {
	const char *name;
	const TTest *test;
	int loop;                  /* > 0: a loop test over _i in 0..loop-1 */
	/* Check tags (CK_INCLUDE_TAGS, CK_EXCLUDE_TAGS); NULL for none. */
	const char *tags;
};


/*
 * Builds a suite with one tcase per case, each with the checked fixture
 * that starts a fresh stand-in Intercom (harness_fake) and stops it, runs
 * it and returns the process exit status.
 *
 * tests/meson.build runs each case as a test of its own (CK_RUN_CASE), so
 * that meson spreads them over its processes; it passes the names it
 * knows in HARNESS_CASES ("|"-separated). A CK_RUN_CASE that names no
 * case, or a case missing from HARNESS_CASES, fails the run: a case
 * nobody runs is a test that cannot fail.
 */
int harness_run(const char *suite, const struct harness_case *cases, size_t n);

/*
 * "<dir>/<name>" into out, dir being this program's own temporary
 * directory (made under $TMPDIR, or /tmp, by harness_run and removed with
 * everything in it when the run ends).
 */
void harness_path(char *out, size_t size, const char *name);

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
/* Polls /stats until requests.<kind> reaches n; fails after timeout_ms. */
void wait_fake_requests(struct fake *f, const char *kind, long n, int timeout_ms);
/* "https://127.0.0.1:PORT<path>" into out. */
void fake_url(const struct fake *f, const char *path, char *out, size_t size);
/* SIGTERM; fails unless it exits 0 within 5 s (it is killed then). */
void fake_stop(struct fake *f);

/* The stand-in of the running test case (see harness_run). */
extern struct fake harness_fake;

struct daemon {
	pid_t pid;
	int port;
	char log_path[512];
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
/* Polls the daemon's log until needle occurs in it at least n times;
 * fails after timeout_ms, showing the log. */
void wait_log(const struct daemon *d, const char *needle, int n, int timeout_ms);

/*
 * Waits up to timeout_ms for pid to exit; returns its wait status, or -1
 * when it did not (it is then killed with SIGKILL and reaped).
 */
int reap(pid_t pid, int timeout_ms);

/*
 * Makes pid (a child just forked, which calls setpgid(0, 0) itself too)
 * lead a process group that is killed whole when this test process
 * exits. Every helper of the harness's is tracked; a test that forks its
 * own helpers calls it too.
 */
void harness_track(pid_t pid);

/* The sanitizers' slowdown (HEALTHD_TEST_TIME_SCALE: 1, 5 or 10). */
int harness_time_scale(void);
/* now_ms() plus timeout_ms stretched for a shared or sanitized machine:
 * the deadline the wait_* helpers use. */
long long harness_deadline(int timeout_ms);

/* Runs a command to completion; returns the exit status, output in *out
 * (stdout and stderr together; caller frees). Clean env as above. Fails
 * the test if it runs longer than 10 s. */
int run_command(const char *const *argv, const char *const *env, char **out);

/*
 * A loopback TCP port nobody can take until the returned descriptor is
 * closed: bound with SO_REUSEADDR and not listening, so that a program
 * that also sets SO_REUSEADDR (the daemon does) can still bind and listen
 * on it. Closes the gap in which a test beside us could grab a port that
 * was free a moment ago.
 */
int reserve_port(int *port);

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

/*
 * For a test that has just changed the stand-in's knobs: waits until the
 * daemon has finished a probe that the stand-in answered with them (and,
 * unless pred is NULL, pred(health, arg) holds), and returns /health then
 * (caller deletes). Zeroes the stand-in's counters (fake_reset) to tell
 * its next request from earlier ones. Probes run one at a time, so one
 * that finished after that request arrived is that request or a later
 * one: a single interval, where counting probes would need two (one may
 * be in flight with the old knobs).
 */
cJSON *wait_probe_after_change(struct daemon *d, struct fake *f,
			       bool (*pred)(cJSON *health, void *arg), void *arg,
			       int timeout_ms);

/* GET /metrics, asserted 200 and free of the token (caller frees). */
char *metrics_text(struct daemon *d);
/* The value of one sample line of a /metrics text ("name{labels}" exactly
 * as printed), or -1 when absent. */
double metric_in(const char *text, const char *series);
/* The same, read from the daemon now. */
double metric_value(struct daemon *d, const char *series);
/* Polls /metrics until series reaches at_least; fails after timeout_ms. */
void wait_metric(struct daemon *d, const char *series, double at_least,
		 int timeout_ms);
/* Waits until the daemon has recorded at least n finished probes
 * (intercom_probe_duration_seconds_count). */
void wait_probes(struct daemon *d, long n, int timeout_ms);

/* A string member, or NULL. */
const char *json_str(cJSON *obj, const char *name);
/* A timestamp member as the daemon prints them
 * ("2026-11-26T16:00:00.123Z") in ms since the epoch, or -1. */
long long json_time_ms(cJSON *obj, const char *name);

void sleep_ms(int ms);
/* CLOCK_MONOTONIC, for deadlines. */
long long now_ms(void);
/* CLOCK_REALTIME, to compare with the daemon's and the stand-in's
 * timestamps. */
long long wall_ms(void);

/* Binds a datagram socket standing in for systemd's NOTIFY_SOCKET; its
 * path goes into path. Receives time out after 50 ms. */
int notify_socket(char *path, size_t size);
/* Every datagram queued now or arriving within ms, joined by newlines
 * (caller frees). */
char *notify_collect(int fd, int ms);
/*
 * Collects datagrams until done(everything received so far, arg) holds;
 * returns that text (caller frees), or fails after timeout_ms naming what
 * and showing what came.
 */
char *notify_wait(int fd, bool (*done)(const char *got, void *arg), void *arg,
		  int timeout_ms, const char *what);
/* Predicate for notify_wait: arg (a string) was received. */
bool notify_has(const char *got, void *arg);
/* How many times needle occurs in haystack. */
int count_of(const char *haystack, const char *needle);

/* Asserts needle occurs nowhere in haystack (len bytes). */
void assert_no_secret(const char *haystack, size_t len, const char *where);

/*
 * Runs $PROMTOOL check metrics on text; returns its exit status and what
 * it printed in *out (caller frees). Fails the test when PROMTOOL is not
 * set or not executable: a lint that silently does not run would pass
 * whatever /metrics looks like.
 */
int promtool_check(const char *text, size_t len, char **out);

#endif
