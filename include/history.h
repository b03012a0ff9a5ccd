#ifndef INCLUDE_HISTORY_H
#define INCLUDE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"

/*
 * The daemon's memory of its recent probes, for /history and the status
 * page: a ring of the last `history_size` probes and one of the last
 * HISTORY_TRANSITIONS changes of the reported state. All memory is taken
 * by history_create(); recording never allocates, so a daemon that has run
 * for a year holds exactly what it held after the ring first filled.
 *
 * Not thread-safe by itself: health.c records into the one the health
 * store owns under the store's lock, and readers take a copy under the
 * same lock (health_store_read_history()).
 *
 * Reasons are printable ASCII, as every snapshot string is (health.h);
 * renderers (render.c, page.c) escape them for their format.
 */

#define HISTORY_TRANSITIONS 50

/*
 * The largest history_size the settings accept, and what it costs. /history
 * serves every probe kept in one body, so the maximum bounds that body: a
 * probe is 152 bytes in the ring, 152 more in the copy each render of
 * /history or / takes, and at most 404 bytes of /history's JSON (about 210
 * for a healthy probe; 404 with every number at its longest and a reason
 * all quotes). At 10000 (41 hours at a 15 s interval) the body stays under
 * HISTORY_JSON_MAX, as test-history proves; at the 100000 this once was,
 * it reached 40 MB and a render's peak RSS 83 MB, past a 96 MiB pod limit.
 */
#define HISTORY_SIZE_MAX 10000
#define HISTORY_JSON_MAX (4 * 1024 * 1024)
/* A probe's reason is a short line of a table cell; a transition's says
 * why the state moved and may carry the whole /health error. */
#define HISTORY_PROBE_REASON_MAX 96
#define HISTORY_TRANSITION_REASON_MAX 192

struct history_probe {
	int64_t at_ms;             /* realtime the probe finished */
	int64_t latency_ms;
	long http_status;          /* 0: no HTTP answer (transport failure) */
	enum health_state raw;     /* this probe alone */
	enum health_state state;   /* reported, after damping */
	bool has_quota;
	int64_t quota_remaining;   /* X-RateLimit-Remaining, when has_quota */
	int64_t quota_limit;       /* X-RateLimit-Limit; 0 when absent */
	char reason[HISTORY_PROBE_REASON_MAX];   /* "" for a healthy probe */
};

struct history_transition {
	int64_t at_ms;
	enum health_state from;
	enum health_state to;
	char reason[HISTORY_TRANSITION_REASON_MAX];
};

struct history {
	size_t capacity;           /* probes the ring holds */
	size_t count;              /* probes held, <= capacity */
	size_t next;               /* slot the next probe goes to */
	uint64_t recorded;         /* probes ever recorded */
	struct history_probe *probes;
	size_t n_transitions;
	size_t next_transition;
	uint64_t transitions_recorded;
	struct history_transition transitions[HISTORY_TRANSITIONS];
	/* Realtime the reported state took its current value: the last
	 * transition, or the first probe; 0 before any probe. Kept apart
	 * from the rings, which forget. */
	int64_t since_ms;
};

/* A history holding up to capacity (>= 1) probes. Caller destroys. */
struct history *history_create(size_t capacity);

/* Frees h. Accepts NULL. */
void history_destroy(struct history *h);

/* Records a probe, dropping the oldest when full. */
void history_add_probe(struct history *h, const struct history_probe *p);

/* Records a transition, dropping the oldest beyond HISTORY_TRANSITIONS. */
void history_add_transition(struct history *h,
			    const struct history_transition *t);

/* Probe i of the history_probe_count(h) held, 0 the oldest. NULL past
 * the end. Points into h. */
size_t history_probe_count(const struct history *h);
const struct history_probe *history_probe_at(const struct history *h, size_t i);

/* Transition i, 0 the oldest. NULL past the end. Points into h. */
size_t history_transition_count(const struct history *h);
const struct history_transition *history_transition_at(const struct history *h,
						       size_t i);

/* Copies src into dst (whose capacity must be at least src's count): the
 * held probes, the transitions and since_ms. */
void history_copy(struct history *dst, const struct history *src);

/* Copies src into dst[size] as a reason, cut with "..." when too long. */
void history_set_reason(char *dst, size_t size, const char *src);

#endif
