/*
 * LD_PRELOAD shim for integration tests: faults no loopback test can make
 * on its own.
 * - getaddrinfo() of the host "slow-dns.test" sleeps SHIM_DNS_DELAY_MS
 *   (default 10000) and then fails, as a resolver does in a DNS outage.
 * - CLOCK_REALTIME is shifted by the number of seconds written in the file
 *   named by SHIM_CLOCK_SKEW_FILE (re-read on each call), as an NTP step or
 *   a VM resume shifts it. CLOCK_MONOTONIC is left alone.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
getaddrinfo(const char *node, const char *service,
	    const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	if (node && strcmp(node, "slow-dns.test") == 0) {
		const char *ms = getenv("SHIM_DNS_DELAY_MS");
		long delay = ms ? atol(ms) : 10000;
		struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return EAI_NONAME;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}

int
clock_gettime(clockid_t clk, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
	int r = real(clk, ts);
	const char *path = getenv("SHIM_CLOCK_SKEW_FILE");
	if (r != 0 || clk != CLOCK_REALTIME || !path)
		return r;
	FILE *f = fopen(path, "r");
	if (!f)
		return r;
	long long skew = 0;
	if (fscanf(f, "%lld", &skew) == 1)
		ts->tv_sec += skew;
	fclose(f);
	return r;
}
