#ifndef INCLUDE_NOTIFY_H
#define INCLUDE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The service manager's side: readiness, status, watchdog and socket
 * activation. Each is a no-op when not run by systemd (or built without
 * libsystemd), so callers never check.
 */

/* READY=1 with a STATUS= line (none when status is NULL: the status the
 * probe worker last set stays, as after a reload). */
void notify_ready(const char *status);

/* STATUS= line only. */
void notify_status(const char *status);

/* A reload begins: RELOADING=1 with MONOTONIC_USEC; notify_ready() ends it. */
void notify_reloading(void);

/* STOPPING=1. */
void notify_stopping(void);

/* WATCHDOG=1. */
void notify_watchdog(void);

/* The watchdog interval systemd asked for, in microseconds; 0 when off. */
uint64_t notify_watchdog_usec(void);

/* The listening socket systemd passed, or -1 when there is none. Unsets
 * LISTEN_FDS so children do not inherit it. */
int notify_listen_fd(void);

#endif
