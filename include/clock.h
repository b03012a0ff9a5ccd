#ifndef INCLUDE_CLOCK_H
#define INCLUDE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* The two clocks the daemon reads, in milliseconds. */

/* CLOCK_MONOTONIC: deadlines, latencies, staleness; immune to clock steps. */
int64_t clock_mono_ms(void);

/* CLOCK_REALTIME since the epoch: what timestamps in answers show. */
int64_t clock_real_ms(void);

/* "2026-11-26T16:00:00.000Z" for ms since the epoch (UTC); out >= 25 bytes. */
void clock_timestamp(int64_t ms, char *out, size_t out_size);

#endif
