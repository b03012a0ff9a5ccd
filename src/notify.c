#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "notify.h"

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void
notify_ready(const char *status)
{
	if (status)
		sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	else
		sd_notify(0, "READY=1");
}

void
notify_reloading(void)
{
	/* MONOTONIC_USEC ties the RELOADING=1 to this reload, so that
	 * systemd waits for the READY=1 that ends it, not an older one. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
}

void
notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void
notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

int
notify_listen_fd(void)
{
	int n = sd_listen_fds(1);
	if (n <= 0)
		return -1;
	if (n > 1)
		log_warning("socket activation passed %d sockets; using the first", n);
	return SD_LISTEN_FDS_START;
}

#else

void
notify_ready(const char *status)
{
	(void)status;
}

void
notify_reloading(void)
{
}

void
notify_status(const char *status)
{
	(void)status;
}

void
notify_stopping(void)
{
}

void
notify_watchdog(void)
{
}

uint64_t
notify_watchdog_usec(void)
{
	return 0;
}

int
notify_listen_fd(void)
{
	return -1;
}

#endif
