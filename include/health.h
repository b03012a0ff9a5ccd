#ifndef INCLUDE_HEALTH_H
#define INCLUDE_HEALTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "history.h"
#include "probe_result.h"

/*
 * The health state over time: what the worker learned from its probes,
 * damped by the thresholds, with the counters /metrics reports. The worker
 * owns one struct health_snapshot and changes it with the functions below;
 * it publishes copies to a struct health_store that HTTP threads read.
 *
 * Every string in a snapshot (error, the status page's description and
 * error, the webhook's error, last.reason) is printable ASCII
 * (0x20..0x7e), NUL-terminated within its array: each is built from a
 * probe_result reason (printable, see probe_result.h), a description
 * response_parse_status_page() reduced with text_printable(), numbers and
 * our own words. Readers (render.c, logs, STATUS=, the plugin line) only
 * escape what their format needs, and never sanitize again.
 */

/* Upper bounds of the probe-duration histogram, seconds (+Inf implied). 3 s
 * is the alert table's p95 threshold, 10 s the longest sane timeout. */
#define HEALTH_BUCKETS 10
extern const double health_bucket_bounds[HEALTH_BUCKETS];

/* Distinct HTTP status codes counted in intercom_probes_total; more are
 * folded into the last slot's code "other". */
#define HEALTH_MAX_CODES 24

/* "unknown", "none", "minor", "major", "critical". */
const char *page_indicator_name(enum page_indicator indicator);

struct status_page_info {
	bool enabled;              /* status_url is set */
	bool checked;              /* a read has finished */
	enum page_indicator indicator;
	char description[128];     /* status.description */
	char error[128];           /* why unknown; "" when read fine */
	int64_t checked_ms;        /* realtime of the last finished read */
};

struct webhook_info {
	bool enabled;              /* webhook_url is set */
	bool checked;              /* a HEAD has finished */
	bool up;                   /* answered below 500 */
	long http_status;          /* 0 on transport failure */
	int64_t latency_ms;
	char error[128];           /* transport failure or "<status>: ..." */
	int64_t checked_ms;
};

struct code_count {
	long code;                 /* HTTP status; 0 = transport error; -1 = other */
	uint64_t count;
};

/* What the state tracker needs of the settings, built from them by
 * probe_health_params(): this module never sees the settings. */
struct health_params {
	struct classify_params classify;
	int failure_threshold;
	int success_threshold;
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t stale_after_ms;
	bool status_page_enabled;  /* status_url is set */
	bool webhook_enabled;      /* webhook_url is set */
	int history_size;          /* probes kept for /history; 0 keeps none */
};

struct health_snapshot {
	int64_t started_ms;        /* realtime the worker started */
	bool probed;               /* at least one probe has finished */

	/* Reported (damped) state and the last probe behind it. */
	enum health_state state;
	enum health_state last_state;   /* raw classification of `last` */
	bool authenticated;             /* from the last probe */
	char error[PROBE_ERROR_MAX];    /* /health's error text for `last`, "" none */
	struct probe_result last;
	bool last_success;              /* `last` was a 2xx */
	struct rate_limit rate_limit;   /* last headers seen, any probe */
	int64_t rate_limit_seen_ms;     /* realtime of the probe that sent them */
	int64_t cert_expiry_s;          /* API certificate's notAfter, Unix
	                                 * time, from the last handshake; 0
	                                 * before any */
	bool quota_low;                 /* rate_limit is below rate_limit_low */
	int64_t last_success_ms;        /* finished_ms of the last 2xx, 0 never */
	int consecutive_failures;       /* raw probes not healthy, in a row */
	int consecutive_successes;      /* raw healthy probes, in a row */
	/* Probes in a row on one side of `state`, towards a change. */
	int streak_len;
	bool streak_worse;
	enum health_state streak_mildest;

	/* Timing. Realtime ms for display; staleness on the monotonic clock
	 * so that an NTP step or a VM resume neither fails /livez nor hides
	 * a stuck worker. */
	int64_t next_probe_ms;          /* when the next probe is due */
	int64_t backoff_until_ms;       /* 429 back-off end; 0 when none */
	int64_t stale_at_mono_ms;       /* past this, the state is "stale" */

	/* Counters for /metrics, monotonic over the process. */
	uint64_t probes_total;
	struct code_count codes[HEALTH_MAX_CODES];
	int n_codes;
	uint64_t buckets[HEALTH_BUCKETS]; /* non-cumulative counts per bound */
	double duration_sum_s;

	struct status_page_info status_page;
	struct webhook_info webhook;

	/* Probes the store's history keeps (health_store_init()); 0: none. */
	int history_size;
};

/* New parameters for a running snapshot (a reload), at monotonic now. */
void health_reconfigure(struct health_snapshot *s, const struct health_params *p,
			int64_t now_mono_ms);

/* What a request sees at time now: the snapshot, with staleness applied. */
struct health_view {
	enum health_state state;
	bool authenticated;
	const char *error;         /* points into the snapshot or static; "" none */
	bool live;                 /* the probe loop finished a probe in time */
	bool stale;
};

/* Starts an empty snapshot at now (realtime and monotonic ms): unhealthy,
 * "no probe has finished yet". */
void health_init(struct health_snapshot *s, const struct health_params *p,
		 int64_t now_real_ms, int64_t now_mono_ms);

/*
 * Records one finished probe: classifies it, applies the thresholds (the
 * first probe is taken as it is; later ones must repeat failure_threshold
 * or success_threshold times to move the state), updates counters and
 * the stale deadline. Returns true when the reported state changed.
 */
bool health_record_probe(struct health_snapshot *s,
			 const struct health_params *p,
			 const struct probe_result *r);

/*
 * How long to wait after a probe answered 429 before the next one, in ms:
 * Retry-After when present, else X-RateLimit-Reset measured against the
 * response's own Date (so a skewed local clock does not matter), else
 * against now_ms. Never negative, at most HEALTH_BACKOFF_MAX_MS.
 * Returns 0 when r was not a 429.
 */
#define HEALTH_BACKOFF_MAX_MS (60 * 1000)
/*
 * Records a finished status-page read: its result r and, when r is a 200,
 * what response_parse_status_page() made of the body. Returns true when
 * the indicator changed (worth a log line).
 */
bool health_record_status_page(struct health_snapshot *s,
			       const struct probe_result *r,
			       enum page_indicator indicator,
			       const char *description);

/* Records a finished webhook HEAD. Returns true when it went up or down
 * (or was seen for the first time). */
bool health_record_webhook(struct health_snapshot *s,
			   const struct probe_result *r);

int64_t health_backoff_ms(const struct probe_result *r, int64_t now_ms);

/* Sets when the next probe is due (realtime for display, monotonic for
 * the stale deadline); moves the stale deadline so that a deliberate
 * back-off never reads as a stale probe loop. */
void health_schedule(struct health_snapshot *s, const struct health_params *p,
		     int64_t next_real_ms, int64_t next_mono_ms, bool backoff);

/* Applies staleness at now_mono_ms (CLOCK_MONOTONIC) and fills v;
 * v->error may point into s. */
void health_view(const struct health_snapshot *s, int64_t now_mono_ms,
		 struct health_view *v);

/*
 * The latest published snapshot, shared between the worker (writer) and
 * the HTTP threads (readers). Copies in and out under one mutex: a
 * snapshot is a few KiB, so a reader never waits for more than a memcpy.
 */
struct health_store {
	pthread_mutex_t lock;
	struct health_snapshot snapshot;
	/* Bumped on each publish; readable without the lock, so a reader
	 * holding an answer rendered from generation N knows whether it is
	 * still current without copying anything. */
	atomic_uint_fast64_t generation;
	/* Recent probes and transitions (history.h), recorded by
	 * health_store_publish() from the snapshots it is given, under
	 * `lock`. NULL when the snapshot asked for none. */
	struct history *history;
};

void health_store_init(struct health_store *store,
		       const struct health_snapshot *initial);
void health_store_finish(struct health_store *store);
void health_store_publish(struct health_store *store,
			  const struct health_snapshot *s);
/* Copies the latest snapshot into out; returns its generation. */
uint64_t health_store_read(struct health_store *store,
			   struct health_snapshot *out);
/* The generation of the latest snapshot, without copying it. */
uint64_t health_store_generation(struct health_store *store);

/* history: the probes the store's history holds at most (0: none). */
size_t health_store_history_capacity(struct health_store *store);
/*
 * Copies the latest snapshot into out and, in the same instant, the
 * history into copy (made with history_create() of at least
 * health_store_history_capacity(); NULL, or a store without history,
 * copies none). Returns the generation.
 */
uint64_t health_store_read_history(struct health_store *store,
				   struct health_snapshot *out,
				   struct history *copy);

#endif
