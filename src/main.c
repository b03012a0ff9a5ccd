#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "check_cmd.h"
#include "config.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "notify.h"
#include "preflight.h"
#include "probe.h"
#include "reload.h"
#include "request.h"
#include "schedule.h"
#include "secret.h"
#include "settings.h"

static const char usage[] =
"Usage: intercom-healthd [serve] [OPTIONS]    run the daemon (the default)\n"
"       intercom-healthd check [OPTIONS]      probe Intercom once (monitoring plugin)\n"
"       intercom-healthd preflight [OPTIONS]  production readiness checklist\n"
"       intercom-healthd --help | --version\n"
"\n"
"Tells load balancers, Kubernetes and systemd whether an Intercom integration\n"
"can go (and stay) live. The daemon probes GET {api_url}{probe_path} on a timer\n"
"and serves the cached state: /health (200/503 JSON), /readyz, /livez, /metrics.\n"
"\n"
"The access token comes from INTERCOM_ACCESS_TOKEN, --token-file, or the systemd\n"
"credential intercom-access-token; never from the command line.\n"
"\n";

/* Descriptors besides HTTP connections: the listening socket, epoll and
 * its wake-up pipe, curl's connections and resolver, the log, stdio. */
#define FD_RESERVE 64

/*
 * Every thread inherits this mask; signals arrive in the main thread
 * alone, in sigtimedwait(), with no async-signal-safety puzzles.
 */
static void
block_signals(sigset_t *signals)
{
	sigemptyset(signals);
	sigaddset(signals, SIGTERM);
	sigaddset(signals, SIGINT);
	sigaddset(signals, SIGHUP);
	/* A parent shell may have set them to SIG_IGN (background jobs get
	 * SIGINT ignored); an ignored signal never reaches sigtimedwait(). */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	pthread_sigmask(SIG_BLOCK, signals, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Raises the soft open-files limit to fit max_connections (the default
 * soft limit, 1024, stopped the server at 499 connections). Where the
 * hard limit is too low, serves fewer connections and says so.
 */
static void
fit_open_files(struct settings *s)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)s->max_connections + FD_RESERVE;
	if (rl.rlim_cur >= want)
		return;
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = old;
	if (rl.rlim_cur >= want)
		return;
	int fit = rl.rlim_cur > 2 * FD_RESERVE ? (int)(rl.rlim_cur - FD_RESERVE) :
						 FD_RESERVE;
	log_warning("max_connections: %d do not fit the open-files limit of %llu"
		    " (raise LimitNOFILE= or ulimit -n): serving at most %d",
		    s->max_connections, (unsigned long long)rl.rlim_cur, fit);
	s->max_connections = fit;
}

/*
 * The listening socket: systemd's, or one bound here. Bound before
 * anything is logged, so a port in use is one line and exit 2.
 */
static int
open_listener(const struct settings *s, bool *activated, char **err)
{
	int fd = notify_listen_fd();
	*activated = fd >= 0;
	if (fd >= 0)
		return fd;
	return http_server_bind(s, err);
}

/*
 * Waits for signals until SIGTERM or SIGINT: SIGHUP reloads the settings,
 * and the systemd watchdog is petted at half its interval, only while
 * the worker's heartbeat is fresh (a wedged worker should get us
 * restarted).
 */
static struct settings *
watch(const struct reload_args *args, struct settings *s,
      struct probe_worker *worker, struct http_server *server,
      const sigset_t *signals, int64_t watchdog_ms)
{
	/* Without a watchdog, only signals wake us. */
	struct timespec tick = { 3600, 0 };
	if (watchdog_ms > 0) {
		tick.tv_sec = watchdog_ms / 2000;
		tick.tv_nsec = (watchdog_ms / 2 % 1000) * 1000000;
	}
	for (;;) {
		int sig = sigtimedwait(signals, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("received %s, shutting down",
				 sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return s;
		}
		if (sig == SIGHUP) {
			log_info("received SIGHUP, reloading the settings");
			s = reload_apply(args, s, worker, server);
		}
		if (watchdog_ms > 0) {
			int64_t now = clock_mono_ms();
			int64_t beat = probe_worker_heartbeat_ms(worker);
			int64_t age = now - beat;
			if (schedule_heartbeat_fresh(now, beat, watchdog_ms))
				notify_watchdog();
			else
				log_warning("probe worker silent for %lld ms; "
					    "not petting the watchdog", (long long)age);
		}
	}
}

/* Runs the daemon with the settings in *start, which it takes over
 * (leaving *start empty): a reload replaces them. */
static int
serve(struct settings *start, const struct reload_args *args)
{
	struct settings *s = xmalloc(sizeof(*s));
	*s = *start;
	memset(start, 0, sizeof(*start));
	int status = EXIT_FAILURE;
	char *err = NULL;
	struct probe_worker *worker = NULL;
	struct http_server *server = NULL;
	struct health_store store;
	struct health_snapshot initial;
	struct health_params params;
	sigset_t signals;
	bool activated;

	block_signals(&signals);
	int fd = open_listener(s, &activated, &err);
	if (fd < 0) {
		fprintf(stderr, "intercom-healthd: %s\n", err ? err : "cannot listen");
		free(err);
		settings_finish(s);
		free(s);
		return 2;
	}
	log_info("intercom-healthd %s starting", HEALTHD_VERSION);
	settings_log(s);
	fit_open_files(s);

	probe_health_params(&params, s);
	health_init(&initial, &params, clock_real_ms(), clock_mono_ms());
	health_store_init(&store, &initial);

	char where[80];
	http_server_describe(fd, where, sizeof(where));
	worker = probe_worker_create(s, &store, &err);
	if (!worker) {
		close(fd);
		goto out;
	}
	server = http_server_start(s, &store, fd, &err);
	if (!server)
		goto out;
	int64_t watchdog_ms = (int64_t)(notify_watchdog_usec() / 1000);
	/* The heartbeat counts as fresh for half the watchdog interval; a
	 * worker idling between probes must beat well within that. */
	if (watchdog_ms > 0)
		probe_worker_set_heartbeat(worker, watchdog_ms / 4);
	int r = probe_worker_start(worker);
	if (r < 0) {
		err = xasprintf("cannot start the probe worker: %s", strerror(-r));
		goto out;
	}

	log_info("listening on %s%s", where,
		 activated ? " (socket from systemd)" : "");
	notify_ready("starting: no probe has finished yet");
	s = watch(args, s, worker, server, &signals, watchdog_ms);
	notify_stopping();
	status = EXIT_SUCCESS;
out:
	if (err) {
		log_error("%s", err);
		free(err);
	}
	http_server_stop(server);
	probe_worker_destroy(worker);
	health_store_finish(&store);
	settings_finish(s);
	free(s);
	if (status == EXIT_SUCCESS)
		log_info("stopped");
	return status;
}

/*
 * Blanks the values of the secret variables in this process's own
 * environment block, which /proc/PID/environ shows for as long as the
 * process lives: the token is in memory once, where it is needed.
 */
static void
scrub_secret_environment(void)
{
	static const char *const names[] = {
		"INTERCOM_ACCESS_TOKEN", "INTERCOM_WEBHOOK_SECRET",
	};
	for (char **e = environ; e && *e; e++) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			size_t n = strlen(names[i]);
			if (strncmp(*e, names[i], n) == 0 && (*e)[n] == '=')
				mem_wipe(*e + n + 1, strlen(*e + n + 1));
		}
	}
}

static bool
has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	enum command cmd = COMMAND_SERVE;
	int first = 1;

	/* The token lives in this process's memory: no core dump of it, and
	 * no ptrace or /proc/PID/mem by other processes of the same user. */
	prctl(PR_SET_DUMPABLE, 0);
	/* Before any thread: cJSON's hooks are globals. */
	mem_init();

	if (argc > 1) {
		if (strcmp(argv[1], "serve") == 0) {
			first = 2;
		} else if (strcmp(argv[1], "check") == 0) {
			cmd = COMMAND_CHECK;
			first = 2;
		} else if (strcmp(argv[1], "preflight") == 0) {
			cmd = COMMAND_PREFLIGHT;
			first = 2;
		} else if (argv[1][0] != '-') {
			fprintf(stderr, "intercom-healthd: unknown command \"%s\" "
				"(see --help)\n", argv[1]);
			return 2;
		}
	}
	/* check: the monitoring-plugin flags (-w, -c, -t, -v, -V) come out
	 * before the settings loader sees the rest. */
	struct check_options check_opts = { 0 };
	/* Static: what argv points into stays reachable until exit. */
	static char **check_argv;
	if (cmd == COMMAND_CHECK) {
		int n = 0;
		char *err = NULL;
		if (check_cmd_args(argc - first, argv + first, &check_opts, &n,
				   &check_argv, &err) < 0) {
			printf("INTERCOM UNKNOWN - %s\n", err);
			fprintf(stderr, "intercom-healthd: %s\n", err);
			free(err);
			return 3;
		}
		argv = check_argv;
		argc = n;
		first = 0;
		if (check_opts.version) {
			printf("intercom-healthd %s\n", HEALTHD_VERSION);
			check_cmd_args_free(check_argv);
			return 0;
		}
		if (check_opts.help) {
			check_cmd_usage(stdout);
			check_cmd_args_free(check_argv);
			return 0;
		}
	}
	if (has_flag(argc - first, argv + first, "--help") ||
	    has_flag(argc - first, argv + first, "-h")) {
		fputs(usage, stdout);
		settings_usage(stdout);
		return 0;
	}
	if (has_flag(argc - first, argv + first, "--version")) {
		printf("intercom-healthd %s\n", HEALTHD_VERSION);
		return 0;
	}

	/* Usage errors exit 2, except in `check`, where monitoring systems
	 * read 2 as CRITICAL: there a bad setting is UNKNOWN, 3. */
	int usage_status = cmd == COMMAND_CHECK ? 3 : 2;
	/* Before any thread, and before settings parse URLs with curl_url(). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "intercom-healthd: cannot initialise libcurl\n");
		return cmd == COMMAND_CHECK ? 3 : 1;
	}
	struct settings s;
	char *err = NULL;
	int loaded = settings_load(&s, cmd, argc - first, argv + first, environ, &err);
	scrub_secret_environment();
	if (loaded == 0 && cmd == COMMAND_CHECK)
		loaded = check_cmd_validate(&s, &check_opts, &err);
	if (loaded < 0) {
		/* A monitoring system reads stdout alone. */
		if (cmd == COMMAND_CHECK)
			printf("INTERCOM UNKNOWN - %s\n", err ? err : "invalid settings");
		fprintf(stderr, "intercom-healthd: %s\n", err ? err : "invalid settings");
		free(err);
		settings_finish(&s);
		curl_global_cleanup();
		return usage_status;
	}
	log_init(s.log_format, s.log_level);

	int status;
	switch (cmd) {
	case COMMAND_SERVE:
		status = serve(&s, &(struct reload_args){ argc - first, argv + first });
		break;
	case COMMAND_CHECK:
		status = check_cmd_run(&s, &check_opts);
		break;
	case COMMAND_PREFLIGHT:
	default:
		status = preflight_run(&s);
		break;
	}

	curl_global_cleanup();
	settings_finish(&s);
	return status;
}
