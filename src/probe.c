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

struct probe_worker {
	const struct settings *settings;
	struct health_store *store;
	struct health_params params;
	struct curl_blob ca;

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
	struct stat token_stat;
	bool token_stat_valid;

	struct request api, page, hook;
	unsigned long api_started;     /* probes sent, for PROBE_FRESH_EVERY */
	bool api_busy, page_busy, hook_busy;
	struct schedule schedule;

	struct health_snapshot snap;
	/* What the log said last, so that it speaks once per change. */
	enum health_state logged_state;
	long logged_code;
	char logged_error[PROBE_ERROR_MAX];
};

struct probe_worker *
probe_worker_create(const struct settings *s, struct health_store *store,
		    char **err)
{
	struct probe_worker *w = xcalloc(1, sizeof(*w));
	w->settings = s;
	w->store = store;
	health_params_init(&w->params, s);
	if (request_load_ca(s->ca_file, &w->ca, err) < 0) {
		probe_worker_destroy(w);
		return NULL;
	}
	w->multi = curl_multi_init();
	if (!w->multi)
		mem_oom();
	/* settings_load() refuses to start without a token. */
	w->token = secret_dup(s->token);
	if (s->token_file && stat(s->token_file, &w->token_stat) == 0)
		w->token_stat_valid = true;

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

/* The token file changed, or SIGHUP asked: read it again. A failed read
 * keeps the old token: a half-written rotation must not take us down. */
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
	bool changed = !w->token_stat_valid || st.st_ino != w->token_stat.st_ino ||
		       st.st_dev != w->token_stat.st_dev ||
		       st.st_size != w->token_stat.st_size ||
		       st.st_mtim.tv_sec != w->token_stat.st_mtim.tv_sec ||
		       st.st_mtim.tv_nsec != w->token_stat.st_mtim.tv_nsec;
	if (!changed && !asked)
		return;

	char *token = NULL;
	char *err = NULL;
	if (secret_read_file(path, &token, &err) < 0) {
		log_warning("token_file %s: %s; keeping the current token", path,
			    err ? err : "unreadable");
		free(err);
		return;
	}
	w->token_stat = st;
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
	CURLMcode code = curl_multi_add_handle(w->multi, w->api.easy);
	if (code != CURLM_OK) {
		log_error("cannot start a probe: %s", curl_multi_strerror(code));
		request_cleanup(&w->api);
		schedule_api_failed(&w->schedule, clock_mono_ms());
		return;
	}
	w->api_busy = true;
	schedule_api_started(&w->schedule, w->api.started_mono_ms);
}

static void
start_side(struct probe_worker *w)
{
	const struct settings *s = w->settings;
	/* These are informational: a slow status page must not hold the
	 * worker, but they share the probe timeout as their limit. */
	if (s->status_url && !w->page_busy) {
		request_init_plain(&w->page, s->status_url, false, s->timeout_ms,
				   &w->ca);
		request_connect_to(&w->page, s->connect_to);
		if (curl_multi_add_handle(w->multi, w->page.easy) == CURLM_OK)
			w->page_busy = true;
		else
			request_cleanup(&w->page);
	}
	if (s->webhook_url && !w->hook_busy) {
		request_init_plain(&w->hook, s->webhook_url, true, s->timeout_ms,
				   &w->ca);
		request_connect_to(&w->hook, s->connect_to);
		if (curl_multi_add_handle(w->multi, w->hook.easy) == CURLM_OK)
			w->hook_busy = true;
		else
			request_cleanup(&w->hook);
	}
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
	if (!path)
		return;
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
 * Switches to new settings (a reload). Requests under way finish as they
 * were made, unless the CA bundle they point to changes; a changed API or
 * interval sends the next probe at once, so that the new settings show in
 * /health without waiting out the old interval. A reload that changes
 * nothing costs no Intercom call.
 */
static void
apply_settings(struct probe_worker *w, const struct settings *s)
{
	const struct settings *old = w->settings;
	bool new_ca = !same_string(old->ca_file, s->ca_file);
	bool new_token = s->token && strcmp(s->token, w->token) != 0;
	bool new_api = new_ca || new_token || strcmp(old->api_url, s->api_url) != 0 ||
		       strcmp(old->probe_path, s->probe_path) != 0 ||
		       strcmp(old->api_version, s->api_version) != 0 ||
		       old->timeout_ms != s->timeout_ms ||
		       old->interval_ms != s->interval_ms ||
		       old->degraded_latency_ms != s->degraded_latency_ms ||
		       old->rate_limit_low != s->rate_limit_low;
	bool new_side = new_ca || !same_string(old->status_url, s->status_url) ||
			!same_string(old->webhook_url, s->webhook_url) ||
			old->status_interval_ms != s->status_interval_ms;

	if (new_ca) {
		struct curl_blob ca = { 0 };
		char *err = NULL;
		if (request_load_ca(s->ca_file, &ca, &err) == 0) {
			/* In-flight requests point into the old bundle. */
			drop_request(w, &w->api, &w->api_busy);
			drop_request(w, &w->page, &w->page_busy);
			drop_request(w, &w->hook, &w->hook_busy);
			free(w->ca.data);
			w->ca = ca;
		} else {
			log_warning("ca_file: %s; keeping the CA bundle already loaded",
				    err ? err : "cannot load");
			free(err);
		}
	}
	if (new_token) {
		secret_free(w->token);
		w->token = secret_dup(s->token);
		if (s->token_file)
			log_info("token reloaded from %s", s->token_file);
		else
			log_info("token replaced by the reloaded settings");
	}
	w->token_stat_valid = s->token_file && stat(s->token_file, &w->token_stat) == 0;

	w->settings = s;
	health_params_init(&w->params, s);
	int64_t now = clock_mono_ms();
	w->schedule.interval_ms = s->interval_ms;
	w->schedule.side_interval_ms = s->status_interval_ms;
	if (new_api && w->schedule.next_api_ms > now)
		w->schedule.next_api_ms = now;
	if (new_side && w->schedule.next_side_ms > now)
		w->schedule.next_side_ms = now;
	if (old->stale_after_ms != s->stale_after_ms ||
	    !same_string(old->status_url, s->status_url) ||
	    !same_string(old->webhook_url, s->webhook_url))
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
	 * longest sleep); a wedged one keeps them pending. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&w->pending_lock);
	w->pending = s;
	curl_multi_wakeup(w->multi);
	int r = 0;
	while (w->pending == s && r == 0)
		r = pthread_cond_timedwait(&w->pending_taken, &w->pending_lock,
					   &deadline);
	bool taken = w->pending != s;
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
