#include <stdlib.h>

#include "schedule.h"

void
schedule_init(struct schedule *s, int64_t interval_ms, int64_t side_interval_ms,
	      int64_t max_poll_ms, unsigned int seed, int64_t now)
{
	*s = (struct schedule){
		.interval_ms = interval_ms,
		.side_interval_ms = side_interval_ms,
		.max_poll_ms = max_poll_ms,
		.seed = seed,
		.next_api_ms = now,
		.next_side_ms = now,
	};
}

int64_t
schedule_jitter_ms(struct schedule *s)
{
	int64_t span = s->interval_ms / 10;
	return span > 0 ? (int64_t)(rand_r(&s->seed) % (span + 1)) : 0;
}

bool
schedule_api_due(const struct schedule *s, int64_t now)
{
	return now >= s->next_api_ms;
}

bool
schedule_side_due(const struct schedule *s, int64_t now)
{
	return now >= s->next_side_ms;
}

void
schedule_api_started(struct schedule *s, int64_t started_ms)
{
	s->next_api_ms = started_ms + s->interval_ms + schedule_jitter_ms(s);
}

void
schedule_api_failed(struct schedule *s, int64_t now)
{
	s->next_api_ms = now + s->interval_ms;
}

void
schedule_side_started(struct schedule *s, int64_t now)
{
	s->next_side_ms = now + s->side_interval_ms;
}

bool
schedule_backoff(struct schedule *s, int64_t now, int64_t wait_ms)
{
	if (wait_ms <= 0 || now + wait_ms <= s->next_api_ms)
		return false;
	s->next_api_ms = now + wait_ms + schedule_jitter_ms(s);
	return true;
}

int64_t
schedule_poll_ms(const struct schedule *s, int64_t now, bool api_busy)
{
	int64_t wait = s->max_poll_ms;
	if (!api_busy && s->next_api_ms - now < wait)
		wait = s->next_api_ms - now;
	if (s->next_side_ms - now < wait)
		wait = s->next_side_ms - now;
	return wait < 0 ? 0 : wait;
}

bool
schedule_heartbeat_fresh(int64_t now, int64_t beat_ms, int64_t watchdog_ms)
{
	return now - beat_ms < watchdog_ms / 2;
}
