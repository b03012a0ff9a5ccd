#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "notify.h"
#include "probe.h"
#include "request.h"
#include "response.h"
#include "schedule.h"
#include "secret.h"

/* The longest the loop sleeps by default: keeps the heartbeat (and so
 * the systemd watchdog) fresh through long intervals and back-offs. */
#define MAX_POLL_MS 1000

/*
 * Probes reuse curl's open connection: a probe costs Intercom and us one
 * request, not a handshake. But then DNS, TCP and TLS (a rotated
 * certificate, a moved host) would be exercised only once, at start-up:
 * every PROBE_FRESH_EVERY-th probe opens a new connection, every two
 * minutes at the default interval, and its phases show in /metrics.
 */
#define PROBE_FRESH_EVERY 8

/* How long a reload waits for the worker to take new settings: five
 * times its longest sleep, and within systemd's default reload timeout. */
#define RECONFIGURE_WAIT_S 5

struct probe_worker {
	const struct settings *settings;
	struct health_store *store;
	struct health_params params;
	struct curl_blob ca;
	/* How much of ca is the system store (ca_file follows): a reload
	 * says which of the two changed. */
	size_t ca_system_len;

	CURLM *multi;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	atomic_bool reload;
	/* New settings handed over by probe_worker_reconfigure(), taken by
	 * the worker thread at the top of its loop. */
	pthread_mutex_t pending_lock;
	pthread_cond_t pending_taken;
	const struct settings *pending;
	atomic_int_fast64_t heartbeat_ms;

	/* Secret. Owned by the worker thread once it runs. */
	char *token;
	/* The identity of the token file the token was read from, and of
	 * the last one that could not be used (warned about once). */
	struct stat token_stat;
	bool token_stat_valid;
	struct stat token_refused;
	bool token_refused_valid;

	struct request api, page, hook;
	unsigned long api_started;     /* probes sent, for PROBE_FRESH_EVERY */
	bool api_busy, page_busy, hook_busy;
	/* Due while still busy: started as soon as the one running ends. */
	bool page_owed, hook_owed;
	struct schedule schedule;
	/* Monotonic ms before which a 429 asked us not to probe; 0: none. */
	int64_t backoff_until_ms;

	struct health_snapshot snap;
	/* What the log said last, so that it speaks once per change. */
	enum health_state logged_state;
	long logged_code;
	char logged_error[PROBE_ERROR_MAX];
};

void
probe_health_params(struct health_params *p, const struct settings *s)
{
	*p = (struct health_params){
		.classify = {
			.degraded_latency_ms = s->degraded_latency_ms,
			.rate_limit_low = s->rate_limit_low,
		},
		.failure_threshold = s->failure_threshold,
		.success_threshold = s->success_threshold,
		.interval_ms = s->interval_ms,
		.timeout_ms = s->timeout_ms,
		.stale_after_ms = s->stale_after_ms,
		.status_page_enabled = s->status_url != NULL,
		.webhook_enabled = s->webhook_url != NULL,
		.history_size = s->history_size,
	};
}

/*
 * The CA bundle: the system store, then ca_file, as request_load_ca()
 * makes it, and how long the system part is. Read twice for that: at
 * start and on reloads only.
 */
static int
load_ca(const char *ca_file, struct curl_blob *ca, size_t *system_len, char **err)
{
	struct curl_blob system = { 0 };
	int r = request_load_ca(NULL, &system, err);
	if (r < 0 || !ca_file) {
		*ca = system;
		*system_len = system.len;
		return r;
	}
	r = request_load_ca(ca_file, ca, err);
	*system_len = system.len < ca->len ? system.len : ca->len;
	free(system.data);
	return r;
}

/* Are the bytes [at, at + len) of a and b alike? NULL holds no bytes. */
static bool
same_part(const struct curl_blob *a, size_t a_at, size_t a_len,
	  const struct curl_blob *b, size_t b_at, size_t b_len)
{
	if (a_len != b_len)
		return false;
	return a_len == 0 || memcmp((const char *)a->data + a_at,
				    (const char *)b->data + b_at, a_len) == 0;
}

/* Which part of the bundle differs between the worker's and ca, or NULL. */
static const char *
ca_change(const struct probe_worker *w, const struct curl_blob *ca,
	  size_t system_len)
{
	bool system = !same_part(&w->ca, 0, w->ca_system_len, ca, 0, system_len);
	bool file = !same_part(&w->ca, w->ca_system_len, w->ca.len - w->ca_system_len,
			       ca, system_len, ca->len - system_len);
	if (system && file)
		return "the system store and ca_file";
	return system ? "the system store" : file ? "ca_file" : NULL;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct probe_worker *
probe_worker_create(const struct settings *s, struct health_store *store,
		    char **err)
{
	struct probe_worker *w = xcalloc(1, sizeof(*w));
	w->settings = s;
	w->store = store;
	probe_health_params(&w->params, s);
	if (load_ca(s->ca_file, &w->ca, &w->ca_system_len, err) < 0) {
		probe_worker_destroy(w);
		return NULL;
	}
	w->multi = curl_multi_init();
	if (!w->multi)
		mem_oom();
	/* settings_load() refuses to start without a token. */
	w->token = secret_dup(s->token);
	w->token_stat = s->token_stat;
	w->token_stat_valid = s->token_file != NULL;

	atomic_init(&w->stopping, false);
	atomic_init(&w->reload, false);
	pthread_mutex_init(&w->pending_lock, NULL);
	pthread_cond_init(&w->pending_taken, NULL);
	atomic_init(&w->heartbeat_ms, clock_mono_ms());
	schedule_init(&w->schedule, s->interval_ms, s->status_interval_ms, MAX_POLL_MS,
		      (unsigned int)(clock_real_ms() ^ getpid()), clock_mono_ms());

	/* The snapshot the store was seeded with is where the worker
	 * carries on from. */
	health_store_read(store, &w->snap);
	return w;
}

/*
 * The token file changed, or SIGHUP asked: read it again. A failed read
 * keeps the old token (a half-written rotation must not take us down)
 * and is said once per change of the file, not at every probe. The
 * identity kept is the one of the file read, taken through the same
 * descriptor: a rename right after the read shows as a change next time.
 */
static void
maybe_reload_token(struct probe_worker *w)
{
	const char *path = w->settings->token_file;
	bool asked = atomic_exchange(&w->reload, false);
	if (!path)
		return;

	struct stat st;
	if (stat(path, &st) < 0) {
		if (asked)
			log_warning("token_file %s: %s; keeping the current token",
				    path, strerror(errno));
		return;
	}
	bool changed = !w->token_stat_valid || !same_file(&st, &w->token_stat);
	if (!changed && !asked)
		return;
	if (!asked && w->token_refused_valid && same_file(&st, &w->token_refused))
		return;

	char *token = NULL;
	char *err = NULL;
	struct stat read;
	if (settings_read_token(path, &token, &read, &err) < 0) {
		log_warning("token_file %s: %s; keeping the current token", path,
			    err ? err : "unreadable");
		free(err);
		w->token_refused = st;
		w->token_refused_valid = true;
		return;
	}
	w->token_refused_valid = false;
	w->token_stat = read;
	w->token_stat_valid = true;
	bool same = strcmp(token, w->token) == 0;
	secret_free(w->token);
	w->token = token;
	if (!same)
		log_info("token reloaded from %s", path);
}

static void
start_api(struct probe_worker *w)
{
	maybe_reload_token(w);
	request_init_api(&w->api, w->settings, w->token, &w->ca);
	/* The certificate chain of a new connection, for its expiry. */
	request_want_certinfo(&w->api);
	if (w->api_started++ % PROBE_FRESH_EVERY == 0)
		curl_easy_setopt(w->api.easy, CURLOPT_FRESH_CONNECT, 1L);
	request_start(&w->api, w->multi);
	w->api_busy = true;
	schedule_api_started(&w->schedule, w->api.started_mono_ms);
}

/* These are informational: a slow status page must not hold the
 * worker, but they share the probe timeout as their limit. */
static void
start_page(struct probe_worker *w)
{
	const struct settings *s = w->settings;
	request_init_plain(&w->page, s->status_url, false, s->timeout_ms, &w->ca);
	request_connect_to(&w->page, s->connect_to);
	request_start(&w->page, w->multi);
	w->page_busy = true;
}

static void
start_hook(struct probe_worker *w)
{
	const struct settings *s = w->settings;
	request_init_plain(&w->hook, s->webhook_url, true, s->timeout_ms, &w->ca);
	request_connect_to(&w->hook, s->connect_to);
	request_start(&w->hook, w->multi);
	w->hook_busy = true;
}

/*
 * A check still running when its next round is due is owed one: it
 * starts as soon as the running one ends, rather than a whole
 * status_interval later.
 */
static void
start_side(struct probe_worker *w)
{
	const struct settings *s = w->settings;
	if (s->status_url && w->page_busy)
		w->page_owed = true;
	else if (s->status_url)
		start_page(w);
	if (s->webhook_url && w->hook_busy)
		w->hook_owed = true;
	else if (s->webhook_url)
		start_hook(w);
	schedule_side_started(&w->schedule, clock_mono_ms());
}

static void
publish_status(struct probe_worker *w)
{
	struct health_view v;
	health_view(&w->snap, clock_mono_ms(), &v);
	char status[PROBE_ERROR_MAX + 32];
	if (v.error[0])
		snprintf(status, sizeof(status), "%s: %s",
			 health_state_name(v.state), v.error);
	else
		snprintf(status, sizeof(status), "%s", health_state_name(v.state));
	notify_status(status);
}

/*
 * A change for the worse is a warning, so that `journalctl -p warning`
 * shows every outage; a recovery is a notice; the first state at start
 * is information. previous is NULL for the first probe.
 */
static void
log_transition(struct probe_worker *w, const char *previous,
	       const struct probe_result *r)
{
	const char *state = health_state_name(w->snap.state);
	enum log_level level = LOG_LEVEL_INFO;
	if (previous && w->snap.state > w->logged_state)
		level = LOG_LEVEL_WARNING;
	else if (previous)
		level = LOG_LEVEL_NOTICE;
	struct log_event ev = {
		.message_id = LOG_MESSAGE_STATE_CHANGED,
		.state = state,
		.previous_state = previous ? previous : "starting",
		.code = r->http_status,
		.reason = w->snap.error,
	};
	if (w->snap.error[0])
		log_event(level, &ev, "state %s -> %s: %s", ev.previous_state,
			  state, w->snap.error);
	else
		log_event(level, &ev, "state %s -> %s (%lld ms)", ev.previous_state,
			  state, (long long)r->latency_ms);
	w->logged_state = w->snap.state;
	w->logged_code = r->http_status;
	snprintf(w->logged_error, sizeof(w->logged_error), "%s", w->snap.error);
}

/*
 * Another reason than the log last gave: another HTTP status, or another
 * transport failure. Not the text of a 2xx: "slow: 3200 ms" and the quota
 * change with every probe.
 */
static bool
new_reason(const struct probe_worker *w, const struct probe_result *r)
{
	if (r->http_status != w->logged_code)
		return true;
	return r->http_status == 0 && strcmp(w->snap.error, w->logged_error) != 0;
}

/* Still bad, for another reason (500, then 401, then 403): once each. */
static void
log_reason(struct probe_worker *w, const struct probe_result *r)
{
	const char *state = health_state_name(w->snap.state);
	struct log_event ev = {
		.message_id = LOG_MESSAGE_REASON_CHANGED,
		.state = state,
		.previous_state = state,
		.code = r->http_status,
		.reason = w->snap.error,
	};
	log_event(LOG_LEVEL_WARNING, &ev, "still %s, now: %s", state,
		  w->snap.error[0] ? w->snap.error : "no error");
	w->logged_code = r->http_status;
	snprintf(w->logged_error, sizeof(w->logged_error), "%s", w->snap.error);
}

static void
finish_api(struct probe_worker *w, CURLcode code)
{
	struct probe_result *r = &w->api.result;
	request_complete(&w->api, code, true);

	enum health_state before = w->snap.state;
	bool first = !w->snap.probed;
	bool changed = health_record_probe(&w->snap, &w->params, r);

	int64_t now_mono = clock_mono_ms();
	int64_t now_real = clock_real_ms();
	int64_t wait = health_backoff_ms(r, now_real);
	bool backoff = schedule_backoff(&w->schedule, now_mono, wait);
	/* Even a wait inside the interval: a reload must not cut it. */
	w->backoff_until_ms = wait > 0 ? now_mono + wait : 0;
	if (backoff)
		/* The state line already said 429; this is per probe. */
		log_debug("rate limited (429): next probe in %lld ms",
			  (long long)wait);
	int64_t next = w->schedule.next_api_ms;
	health_schedule(&w->snap, &w->params, now_real + (next - now_mono), next,
			backoff);

	if (changed || first) {
		log_transition(w, first ? NULL : health_state_name(before), r);
		publish_status(w);
	} else if (w->snap.state != HEALTH_HEALTHY &&
		   w->snap.last_state != HEALTH_HEALTHY && new_reason(w, r)) {
		log_reason(w, r);
		publish_status(w);
	} else {
		log_debug("probe: %ld in %lld ms, state %s", r->http_status,
			  (long long)r->latency_ms, health_state_name(w->snap.state));
	}
	health_store_publish(w->store, &w->snap);

	curl_multi_remove_handle(w->multi, w->api.easy);
	request_cleanup(&w->api);
	w->api_busy = false;
}

static void
finish_page(struct probe_worker *w, CURLcode code)
{
	struct probe_result *r = &w->page.result;
	request_complete(&w->page, code, true);

	char description[sizeof(w->snap.status_page.description)] = "";
	enum page_indicator indicator = PAGE_UNKNOWN;
	if (r->transport == PROBE_TRANSPORT_OK && r->http_status == 200)
		indicator = response_parse_status_page(w->page.body, w->page.body_len,
						       description,
						       sizeof(description));
	if (health_record_status_page(&w->snap, r, indicator, description)) {
		const struct status_page_info *p = &w->snap.status_page;
		const char *detail = p->error[0] ? p->error : p->description;
		log_info("status page: %s%s%s", page_indicator_name(p->indicator),
			 detail[0] ? ": " : "", detail);
	}
	health_store_publish(w->store, &w->snap);
	curl_multi_remove_handle(w->multi, w->page.easy);
	request_cleanup(&w->page);
	w->page_busy = false;
	if (w->page_owed && w->settings->status_url)
		start_page(w);
	w->page_owed = false;
}

static void
finish_hook(struct probe_worker *w, CURLcode code)
{
	request_complete(&w->hook, code, false);
	if (health_record_webhook(&w->snap, &w->hook.result)) {
		const struct webhook_info *h = &w->snap.webhook;
		log_info("webhook endpoint %s%s%s", h->up ? "up" : "down",
			 h->error[0] ? ": " : "", h->error);
	}
	health_store_publish(w->store, &w->snap);
	curl_multi_remove_handle(w->multi, w->hook.easy);
	request_cleanup(&w->hook);
	w->hook_busy = false;
	if (w->hook_owed && w->settings->webhook_url)
		start_hook(w);
	w->hook_owed = false;
}

#ifdef HEALTHD_TEST_HOOKS
/*
 * Test builds only: while the file named by INTERCOM_HEALTHD_TEST_WEDGE
 * exists, the worker stops turning, exactly as a worker stuck in a
 * blocking call would. The HTTP threads keep serving, so a test can watch
 * /livez and the watchdog notice. Never compiled into the installed binary.
 */
static void
test_wedge(struct probe_worker *w)
{
	const char *path = getenv("INTERCOM_HEALTHD_TEST_WEDGE");
	if (!path || access(path, F_OK) < 0)
		return;
	/* Tests wait for this line: from here on, nothing is taken. */
	log_info("test hook: the probe worker is wedged");
	while (access(path, F_OK) == 0 && !atomic_load(&w->stopping)) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
#endif

static void
drop_request(struct probe_worker *w, struct request *req, bool *busy);

static bool
same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/*
 * Reads the CA bundle again, whatever its path: a bundle replaced in
 * place (or a system store updated) must take on a reload. In-flight
 * requests point into the old bundle: they are dropped. Returns whether
 * it changed.
 */
static bool
reload_ca(struct probe_worker *w, const struct settings *s)
{
	struct curl_blob ca = { 0 };
	size_t system_len = 0;
	char *err = NULL;
	if (load_ca(s->ca_file, &ca, &system_len, &err) < 0) {
		log_warning("reload: %s; keeping the CA bundle already loaded",
			    err ? err : "cannot load the CA bundle");
		free(err);
		return false;
	}
	const char *what = ca_change(w, &ca, system_len);
	if (!what) {
		free(ca.data);
		return false;
	}
	log_info("reload: the CA bundle changed (%s): new connections verify"
		 " with it", what);
	drop_request(w, &w->api, &w->api_busy);
	drop_request(w, &w->page, &w->page_busy);
	drop_request(w, &w->hook, &w->hook_busy);
	free(w->ca.data);
	w->ca = ca;
	w->ca_system_len = system_len;
	/* The next probe proves the new bundle on a new connection. */
	w->api_started = 0;
	return true;
}

/* A side check whose URL changed answers for the old one: dropped. */
static void
drop_moved_side(struct probe_worker *w, const struct settings *old,
		const struct settings *s)
{
	if (!same_string(old->status_url, s->status_url)) {
		drop_request(w, &w->page, &w->page_busy);
		w->page_owed = false;
	}
	if (!same_string(old->webhook_url, s->webhook_url)) {
		drop_request(w, &w->hook, &w->hook_busy);
		w->hook_owed = false;
	}
}

static bool
take_token(struct probe_worker *w, const struct settings *s)
{
	/* The identity of what settings_load() read, not of what the path
	 * names by now: a rotation since then is still to be read. */
	w->token_stat = s->token_stat;
	w->token_stat_valid = s->token_file != NULL;
	w->token_refused_valid = false;
	if (!s->token || strcmp(s->token, w->token) == 0)
		return false;
	secret_free(w->token);
	w->token = secret_dup(s->token);
	if (s->token_file)
		log_info("token reloaded from %s", s->token_file);
	else
		log_info("token replaced by the reloaded settings");
	return true;
}

/*
 * Switches to new settings (a reload). Requests under way finish as they
 * were made, unless the CA bundle changed or their URL did; a change that
 * the settings' rows mark as redoing a check sends it at once, so that
 * the new settings show without waiting out the old interval, but never
 * before a back-off (429) ends. A reload that changes nothing costs no
 * Intercom call.
 */
static void
apply_settings(struct probe_worker *w, const struct settings *s)
{
	const struct settings *old = w->settings;
	bool new_ca = reload_ca(w, s);
	bool new_token = take_token(w, s);
	bool new_api = new_ca || new_token || settings_changed(old, s, RELOAD_PROBE);
	bool new_side = new_ca || settings_changed(old, s, RELOAD_SIDE);
	drop_moved_side(w, old, s);

	w->settings = s;
	probe_health_params(&w->params, s);
	int64_t now = clock_mono_ms();
	w->schedule.interval_ms = s->interval_ms;
	w->schedule.side_interval_ms = s->status_interval_ms;
	int64_t earliest = w->backoff_until_ms > now ? w->backoff_until_ms : now;
	if (new_api && w->schedule.next_api_ms > earliest)
		w->schedule.next_api_ms = earliest;
	if (new_side && w->schedule.next_side_ms > now)
		w->schedule.next_side_ms = now;
	if (old->stale_after_ms != s->stale_after_ms || new_side)
		health_reconfigure(&w->snap, &w->params, now);
	health_store_publish(w->store, &w->snap);
}

static void
take_pending(struct probe_worker *w)
{
	pthread_mutex_lock(&w->pending_lock);
	if (w->pending) {
		apply_settings(w, w->pending);
		w->pending = NULL;
		pthread_cond_broadcast(&w->pending_taken);
	}
	pthread_mutex_unlock(&w->pending_lock);
}

static void *
worker_main(void *data)
{
	struct probe_worker *w = data;
	int64_t now;

	while (!atomic_load(&w->stopping)) {
#ifdef HEALTHD_TEST_HOOKS
		test_wedge(w);
#endif
		take_pending(w);
		now = clock_mono_ms();
		atomic_store(&w->heartbeat_ms, now);
		/* SIGHUP: now, not at the next probe, which a back-off may
		 * hold off for a minute. */
		if (atomic_load(&w->reload))
			maybe_reload_token(w);

		if (!w->api_busy && schedule_api_due(&w->schedule, now))
			start_api(w);
		if (schedule_side_due(&w->schedule, now))
			start_side(w);

		int running;
		curl_multi_perform(w->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(w->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *easy = msg->easy_handle;
			CURLcode code = msg->data.result;
			if (easy == w->api.easy)
				finish_api(w, code);
			else if (easy == w->page.easy)
				finish_page(w, code);
			else if (easy == w->hook.easy)
				finish_hook(w, code);
		}

		/* Work may have become due while we handled results: compute
		 * the wait from fresh state, never from the last wakeup. */
		int64_t wait = schedule_poll_ms(&w->schedule, clock_mono_ms(),
						w->api_busy);
		if (atomic_load(&w->stopping))
			break;
		curl_multi_poll(w->multi, NULL, 0, (int)wait, NULL);
	}
	return NULL;
}

int
probe_worker_start(struct probe_worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r != 0)
		return -r;
	w->started = true;
	return 0;
}

void
probe_worker_set_heartbeat(struct probe_worker *w, int64_t ms)
{
	w->schedule.max_poll_ms = ms < 10 ? 10 : ms < MAX_POLL_MS ? ms : MAX_POLL_MS;
}

bool
probe_worker_reconfigure(struct probe_worker *w, const struct settings *s)
{
	/* A worker that turns at all takes them within a second (its
	 * longest sleep); one that has not in RECONFIGURE_WAIT_S is wedged,
	 * and the offer is withdrawn under the lock the worker takes them
	 * under: after this, it is either taken or never will be. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RECONFIGURE_WAIT_S;
	pthread_mutex_lock(&w->pending_lock);
	w->pending = s;
	curl_multi_wakeup(w->multi);
	int r = 0;
	while (w->pending == s && r == 0)
		r = pthread_cond_timedwait(&w->pending_taken, &w->pending_lock,
					   &deadline);
	bool taken = w->pending != s;
	w->pending = NULL;
	pthread_mutex_unlock(&w->pending_lock);
	return taken;
}

void
probe_worker_reload_token(struct probe_worker *w)
{
	atomic_store(&w->reload, true);
	curl_multi_wakeup(w->multi);
}

int64_t
probe_worker_heartbeat_ms(struct probe_worker *w)
{
	return atomic_load(&w->heartbeat_ms);
}

void
probe_worker_stop(struct probe_worker *w)
{
	if (!w->started)
		return;
	atomic_store(&w->stopping, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	w->started = false;
}

static void
drop_request(struct probe_worker *w, struct request *req, bool *busy)
{
	if (*busy)
		curl_multi_remove_handle(w->multi, req->easy);
	request_cleanup(req);
	*busy = false;
}

void
probe_worker_destroy(struct probe_worker *w)
{
	if (!w)
		return;
	probe_worker_stop(w);
	drop_request(w, &w->api, &w->api_busy);
	drop_request(w, &w->page, &w->page_busy);
	drop_request(w, &w->hook, &w->hook_busy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	secret_free(w->token);
	free(w->ca.data);
	pthread_mutex_destroy(&w->pending_lock);
	pthread_cond_destroy(&w->pending_taken);
	free(w);
}
