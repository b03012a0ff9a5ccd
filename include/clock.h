#ifndef INCLUDE_CLOCK_H
#define INCLUDE_CLOCK_H

#include <stdint.h>

/* The two clocks the daemon reads, in milliseconds. */

/* CLOCK_MONOTONIC: deadlines, latencies, staleness; immune to clock steps. */
int64_t clock_mono_ms(void);

/* CLOCK_REALTIME since the epoch: what timestamps in answers show. */
int64_t clock_real_ms(void);

#endif
