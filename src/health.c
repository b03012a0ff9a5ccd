#include <stdio.h>
#include <string.h>

#include "health.h"

const double health_bucket_bounds[HEALTH_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10,
};

const char *
page_indicator_name(enum page_indicator indicator)
{
	switch (indicator) {
	case PAGE_NONE:
		return "none";
	case PAGE_MINOR:
		return "minor";
	case PAGE_MAJOR:
		return "major";
	case PAGE_CRITICAL:
		return "critical";
	case PAGE_UNKNOWN:
		break;
	}
	return "unknown";
}

void
health_init(struct health_snapshot *s, const struct health_params *p,
	    int64_t now_real_ms, int64_t now_mono_ms)
{
	memset(s, 0, sizeof(*s));
	s->started_ms = now_real_ms;
	s->state = HEALTH_UNHEALTHY;
	s->last_state = HEALTH_UNHEALTHY;
	s->next_probe_ms = now_real_ms;
	/* Liveness counts from start-up until the first probe finishes. */
	s->stale_at_mono_ms = now_mono_ms + p->stale_after_ms;
	s->status_page.enabled = p->status_page_enabled;
	s->webhook.enabled = p->webhook_enabled;
	s->history_size = p->history_size;
}

void
health_reconfigure(struct health_snapshot *s, const struct health_params *p,
		   int64_t now_mono_ms)
{
	/* A side check turned off forgets what it last saw; one turned on
	 * shows "not checked yet" until its first answer. */
	if (s->status_page.enabled != p->status_page_enabled)
		s->status_page = (struct status_page_info){
			.enabled = p->status_page_enabled };
	if (s->webhook.enabled != p->webhook_enabled)
		s->webhook = (struct webhook_info){ .enabled = p->webhook_enabled };
	/* The probe loop gets the new stale_after in full from now, as at
	 * start-up: a longer interval must not turn /livez stale at once. */
	s->stale_at_mono_ms = now_mono_ms + p->stale_after_ms;
}

static void
count_code(struct health_snapshot *s, long code)
{
	for (int i = 0; i < s->n_codes; i++) {
		if (s->codes[i].code == code) {
			s->codes[i].count++;
			return;
		}
	}
	if (s->n_codes < HEALTH_MAX_CODES - 1) {
		s->codes[s->n_codes].code = code;
		s->codes[s->n_codes].count = 1;
		s->n_codes++;
		return;
	}
	/* A server inventing status codes must not grow the label set without
	 * bound: the last slot collects the rest. */
	if (s->n_codes == HEALTH_MAX_CODES - 1) {
		s->codes[s->n_codes].code = -1;
		s->codes[s->n_codes].count = 0;
		s->n_codes++;
	}
	s->codes[HEALTH_MAX_CODES - 1].count++;
}

static void
observe_duration(struct health_snapshot *s, int64_t latency_ms)
{
	double seconds = (double)latency_ms / 1000.0;
	s->duration_sum_s += seconds;
	for (int i = 0; i < HEALTH_BUCKETS; i++) {
		if (seconds <= health_bucket_bounds[i]) {
			s->buckets[i]++;
			break;
		}
	}
}

bool
health_record_probe(struct health_snapshot *s, const struct health_params *p,
		    const struct probe_result *r)
{
	bool authenticated;
	enum health_state raw = classify_probe(r, &p->classify, &authenticated);
	enum health_state before = s->state;

	s->probes_total++;
	count_code(s, r->transport == PROBE_TRANSPORT_OK ||
		      r->http_status != 0 ? r->http_status : 0);
	observe_duration(s, r->latency_ms);

	s->last = *r;
	/* A reused connection has no handshake: keep the expiry seen in the
	 * last one. */
	if (r->cert_not_after_s > 0)
		s->cert_expiry_s = r->cert_not_after_s;
	s->last_state = raw;
	s->authenticated = authenticated;
	if (r->rate_limit.has_limit || r->rate_limit.has_remaining ||
	    r->rate_limit.has_reset) {
		s->rate_limit = r->rate_limit;
		s->rate_limit_seen_ms = r->finished_ms;
	}
	/* Recorded once here, so that every reader agrees with the
	 * classification instead of repeating it. */
	s->quota_low = classify_quota_low(&s->rate_limit, p->classify.rate_limit_low);
	s->last_success = classify_is_success(r);
	if (s->last_success)
		s->last_success_ms = r->finished_ms;

	/* Streak bookkeeping, independent of damping: what /health shows. */
	if (raw == HEALTH_HEALTHY) {
		s->consecutive_successes++;
		s->consecutive_failures = 0;
	} else {
		s->consecutive_failures++;
		s->consecutive_successes = 0;
	}

	/*
	 * Damping: the reported state moves only after `threshold` probes in
	 * a row all landed on the same side of it. It then moves to the
	 * mildest state among them, so "degraded, unhealthy, unhealthy" with
	 * a failure threshold of 3 reports "degraded": all three agreed on at
	 * least that much. The first probe is taken as it is: there is no
	 * earlier state to protect.
	 */
	if (!s->probed) {
		s->state = raw;
		s->streak_len = 0;
	} else if (raw == s->state) {
		s->streak_len = 0;
	} else {
		bool worse = raw > s->state;
		if (s->streak_len == 0 || s->streak_worse != worse) {
			s->streak_len = 0;
			s->streak_worse = worse;
			s->streak_mildest = raw;
		}
		s->streak_len++;
		if (worse ? raw < s->streak_mildest : raw > s->streak_mildest)
			s->streak_mildest = raw;
		int need = worse ? p->failure_threshold : p->success_threshold;
		if (s->streak_len >= need) {
			s->state = s->streak_mildest;
			s->streak_len = 0;
		}
	}
	s->probed = true;

	/* While a bad state is held by the success threshold, keep the reason
	 * it went bad: an unhealthy answer without an error explains nothing. */
	if (raw != HEALTH_HEALTHY || s->state == HEALTH_HEALTHY)
		classify_error_text(r, &p->classify, s->error, sizeof(s->error));

	s->stale_at_mono_ms = r->finished_mono_ms + p->stale_after_ms;
	return s->state != before;
}

bool
health_record_status_page(struct health_snapshot *s,
			   const struct probe_result *r,
			   enum page_indicator indicator,
			   const char *description)
{
	struct status_page_info *p = &s->status_page;
	enum page_indicator before = p->indicator;

	p->checked = true;
	p->checked_ms = r->finished_ms;
	p->indicator = PAGE_UNKNOWN;
	p->description[0] = '\0';
	p->error[0] = '\0';
	if (r->transport != PROBE_TRANSPORT_OK || r->http_status != 200) {
		if (r->http_status)
			snprintf(p->error, sizeof(p->error), "%ld: %.100s",
				 r->http_status, r->reason);
		else
			snprintf(p->error, sizeof(p->error), "%.120s", r->reason);
	} else if (indicator == PAGE_UNKNOWN) {
		snprintf(p->error, sizeof(p->error),
			 "no known status.indicator in the status page");
	} else {
		p->indicator = indicator;
		snprintf(p->description, sizeof(p->description), "%s",
			 description ? description : "");
	}
	return p->indicator != before;
}

bool
health_record_webhook(struct health_snapshot *s, const struct probe_result *r)
{
	struct webhook_info *h = &s->webhook;
	bool was_up = h->up, was_checked = h->checked;

	h->checked = true;
	h->checked_ms = r->finished_ms;
	h->latency_ms = r->latency_ms;
	h->http_status = r->http_status;
	/* Below 500: the endpoint is there and answering, even if HEAD is
	 * not what it wants (405) or it wants a signature (401). */
	h->up = r->transport == PROBE_TRANSPORT_OK && r->http_status < 500;
	h->error[0] = '\0';
	if (r->transport != PROBE_TRANSPORT_OK)
		snprintf(h->error, sizeof(h->error), "%.120s", r->reason);
	else if (!h->up)
		snprintf(h->error, sizeof(h->error), "%ld from HEAD", r->http_status);
	return !was_checked || was_up != h->up;
}

int64_t
health_backoff_ms(const struct probe_result *r, int64_t now_ms)
{
	if (r->transport != PROBE_TRANSPORT_OK || r->http_status != 429)
		return 0;

	/* Everything here comes from the server: saturate rather than
	 * overflow, or a huge Retry-After would wrap to "no wait at all". */
	int64_t wait_s;
	if (r->retry_after_s >= 0) {
		wait_s = r->retry_after_s;
	} else if (r->rate_limit.has_reset) {
		/* X-RateLimit-Reset is Intercom's clock; measure it against
		 * Intercom's own Date when we have it, so local clock skew
		 * (a client a few minutes behind would otherwise read a reset
		 * as already past, or far off) cannot make the wait negative or
		 * huge. Date has one-second resolution: round up. */
		int64_t base_s = r->server_date_s >= 0 ? r->server_date_s
						       : now_ms / 1000;
		if (__builtin_sub_overflow(r->rate_limit.reset, base_s, &wait_s))
			wait_s = r->rate_limit.reset > base_s ? INT64_MAX : INT64_MIN;
		if (r->server_date_s >= 0 && wait_s < INT64_MAX)
			wait_s++;
	} else {
		/* Neither header: Intercom's windows are 10 seconds long. */
		wait_s = 10;
	}
	if (wait_s <= 0)
		return 0;
	if (wait_s > HEALTH_BACKOFF_MAX_MS / 1000)
		return HEALTH_BACKOFF_MAX_MS;
	return wait_s * 1000;
}

void
health_schedule(struct health_snapshot *s, const struct health_params *p,
		int64_t next_real_ms, int64_t next_mono_ms, bool backoff)
{
	s->next_probe_ms = next_real_ms;
	s->backoff_until_ms = backoff ? next_real_ms : 0;
	/* A deliberate wait is not a wedged loop: the probe after it still
	 * gets the same slack (stale_after minus one interval) to finish. */
	if (backoff) {
		int64_t slack = p->stale_after_ms - p->interval_ms;
		if (slack < p->timeout_ms)
			slack = p->timeout_ms;
		if (next_mono_ms + slack > s->stale_at_mono_ms)
			s->stale_at_mono_ms = next_mono_ms + slack;
	}
}

void
health_view(const struct health_snapshot *s, int64_t now_mono_ms,
	    struct health_view *v)
{
	v->stale = now_mono_ms > s->stale_at_mono_ms;
	v->live = !v->stale;
	if (v->stale) {
		v->state = HEALTH_UNHEALTHY;
		v->authenticated = false;
		v->error = s->probed ? "stale: no probe finished in time"
				     : "stale: no probe has finished since start";
		return;
	}
	if (!s->probed) {
		v->state = HEALTH_UNHEALTHY;
		v->authenticated = false;
		v->error = "no probe has finished yet";
		return;
	}
	v->state = s->state;
	v->authenticated = s->authenticated;
	v->error = s->error;
}

void
health_store_init(struct health_store *store,
		  const struct health_snapshot *initial)
{
	pthread_mutex_init(&store->lock, NULL);
	store->snapshot = *initial;
	atomic_init(&store->generation, 1);
	/* All of the history's memory, once: recording never allocates. */
	store->history = initial->history_size > 0 ?
		history_create((size_t)initial->history_size) : NULL;
}

void
health_store_finish(struct health_store *store)
{
	pthread_mutex_destroy(&store->lock);
	history_destroy(store->history);
	store->history = NULL;
}

/* ---- history: what changed between two published snapshots */

/*
 * Records into h what s adds to before, the snapshot published last: the
 * probe it finished (probes_total moved) and the change of the reported
 * state it made. Comparing published snapshots keeps every record in one
 * place, where the state already is, and the status-page and webhook
 * publishes in between add nothing.
 */
static void
record_history(struct history *h, const struct health_snapshot *before,
	       const struct health_snapshot *s)
{
	if (s->probes_total == before->probes_total || !s->probed)
		return;

	const struct probe_result *r = &s->last;
	struct history_probe p = {
		.at_ms = r->finished_ms,
		.latency_ms = r->latency_ms,
		.http_status = r->transport == PROBE_TRANSPORT_OK ? r->http_status : 0,
		.raw = s->last_state,
		.state = s->state,
		.has_quota = r->rate_limit.has_remaining,
		.quota_remaining = r->rate_limit.remaining,
		.quota_limit = r->rate_limit.has_limit ? r->rate_limit.limit : 0,
	};
	/* s->error is this probe's own text unless it was healthy (then a
	 * held bad state keeps the older reason, which is not this probe's). */
	history_set_reason(p.reason, sizeof(p.reason),
			   s->last_state == HEALTH_HEALTHY ? "" : s->error);
	history_add_probe(h, &p);

	/* The first probe sets the state; it moves from nothing. */
	if (!before->probed || before->state == s->state)
		return;
	struct history_transition t = {
		.at_ms = r->finished_ms,
		.from = before->state,
		.to = s->state,
	};
	if (s->error[0])
		history_set_reason(t.reason, sizeof(t.reason), s->error);
	else if (p.http_status > 0)
		snprintf(t.reason, sizeof(t.reason), "%ld in %lld ms",
			 p.http_status, (long long)p.latency_ms);
	else
		snprintf(t.reason, sizeof(t.reason), "probe finished in %lld ms",
			 (long long)p.latency_ms);
	history_add_transition(h, &t);
}

void
health_store_publish(struct health_store *store,
		     const struct health_snapshot *s)
{
	pthread_mutex_lock(&store->lock);
	if (store->history)
		record_history(store->history, &store->snapshot, s);
	store->snapshot = *s;
	atomic_fetch_add(&store->generation, 1);
	pthread_mutex_unlock(&store->lock);
}

uint64_t
health_store_read(struct health_store *store, struct health_snapshot *out)
{
	pthread_mutex_lock(&store->lock);
	*out = store->snapshot;
	uint64_t generation = atomic_load(&store->generation);
	pthread_mutex_unlock(&store->lock);
	return generation;
}

uint64_t
health_store_generation(struct health_store *store)
{
	return atomic_load(&store->generation);
}

size_t
health_store_history_capacity(struct health_store *store)
{
	/* Set once in health_store_init(): no lock needed. */
	return store->history ? store->history->capacity : 0;
}

uint64_t
health_store_read_history(struct health_store *store,
			  struct health_snapshot *out, struct history *copy)
{
	pthread_mutex_lock(&store->lock);
	*out = store->snapshot;
	if (copy && store->history)
		history_copy(copy, store->history);
	uint64_t generation = atomic_load(&store->generation);
	pthread_mutex_unlock(&store->lock);
	return generation;
}
