#include <stdio.h>
#include <time.h>

#include "clock.h"

static int64_t
read_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	return read_ms(CLOCK_MONOTONIC);
}

int64_t
clock_real_ms(void)
{
	return read_ms(CLOCK_REALTIME);
}

void
clock_timestamp(int64_t ms, char *out, size_t out_size)
{
	if (!out || out_size == 0)
		return;

	/* Floor division, so that times before 1970 still count up to the
	 * next second instead of printing a negative millisecond part. */
	int64_t secs = ms / 1000;
	int64_t frac = ms % 1000;
	if (frac < 0) {
		frac += 1000;
		secs -= 1;
	}

	time_t t = (time_t)secs;
	struct tm tm;
	char date[24];
	if (!gmtime_r(&t, &tm) ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, out_size, "%s", "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, out_size, "%s.%03dZ", date, (int)frac);
}
