#ifndef INCLUDE_SCHEDULE_H
#define INCLUDE_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * When the probe worker does what: pure functions of an injected `now`
 * (CLOCK_MONOTONIC milliseconds), so that spacing, jitter, back-off and
 * the poll timeout are tested in microseconds instead of watched in real
 * time. The worker owns one struct schedule and asks it.
 */

struct schedule {
	int64_t interval_ms;        /* API probes, start to start */
	int64_t side_interval_ms;   /* status page and webhook */
	int64_t max_poll_ms;        /* longest sleep: keeps the heartbeat fresh */
	unsigned int seed;          /* jitter's generator state */
	int64_t next_api_ms;
	int64_t next_side_ms;
};

/* Everything is due at now. seed makes the jitter reproducible. */
void schedule_init(struct schedule *s, int64_t interval_ms,
		   int64_t side_interval_ms, int64_t max_poll_ms,
		   unsigned int seed, int64_t now);

/* 0..interval/10, at random: replicas started together, or told the same
 * X-RateLimit-Reset, drift apart instead of spending the quota at once. */
int64_t schedule_jitter_ms(struct schedule *s);

bool schedule_api_due(const struct schedule *s, int64_t now);
bool schedule_side_due(const struct schedule *s, int64_t now);

/* A probe started at started_ms: the next one is due one interval (plus
 * jitter) after this one's start, so a slow answer does not stretch the
 * spacing, and timeout < interval keeps two from overlapping. */
void schedule_api_started(struct schedule *s, int64_t started_ms);

/* A probe could not start at now (out of memory): try again in one
 * interval rather than in a tight loop. */
void schedule_api_failed(struct schedule *s, int64_t now);

/* The status page and webhook were (re)started at now. */
void schedule_side_started(struct schedule *s, int64_t now);

/*
 * A 429 asked to wait wait_ms from now. Returns true, and moves the next
 * probe to now + wait + jitter, only when that is later than it already
 * is: a back-off never brings a probe forward.
 */
bool schedule_backoff(struct schedule *s, int64_t now, int64_t wait_ms);

/* How long the worker may sleep at now: until the next due work (an API
 * probe in flight is not due), at most max_poll_ms, never negative. */
int64_t schedule_poll_ms(const struct schedule *s, int64_t now, bool api_busy);

/* Whether a heartbeat at beat_ms is fresh at now for a watchdog of
 * watchdog_ms: it must have beaten within half the interval, as systemd
 * advises petting at half. */
bool schedule_heartbeat_fresh(int64_t now, int64_t beat_ms, int64_t watchdog_ms);

#endif
