#ifndef INCLUDE_PROBE_H
#define INCLUDE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "health.h"
#include "settings.h"

/*
 * The probe worker: one thread that owns a curl multi handle and every
 * easy handle. It probes the API every interval (with jitter, backing off
 * after a 429), reads the status page and HEADs the webhook on their own
 * timer, and publishes each result to a struct health_store. Nothing it
 * does is triggered by HTTP traffic.
 */

struct probe_worker;

/* The state tracker's parameters (health.h) for the settings s. */
void probe_health_params(struct health_params *p, const struct settings *s);

/*
 * Creates a worker for s (borrowed: must outlive the worker) publishing to
 * store (borrowed). Loads the CA bundle. Returns NULL with *err (caller
 * frees) on failure.
 */
struct probe_worker *probe_worker_create(const struct settings *s,
					 struct health_store *store,
					 char **err);

/* The heartbeat must beat at least every ms (at most 1 s apart by
 * default). Call before probe_worker_start(). */
void probe_worker_set_heartbeat(struct probe_worker *w, int64_t ms);

/* Starts the thread; the first probe goes out at once. 0 or -errno. */
int probe_worker_start(struct probe_worker *w);

/*
 * Hands the worker new settings s (borrowed; must outlive the worker or
 * the next reconfigure) and waits, up to 5 s, until its thread has
 * switched to them: then the old ones are no longer used. Returns false
 * when it has not (a wedged worker): the offer is withdrawn, the worker
 * stays on the old settings and never sees s, which may be freed.
 */
bool probe_worker_reconfigure(struct probe_worker *w, const struct settings *s);

/* Asks the worker to re-read the token file before its next probe
 * (SIGHUP). Async-signal-unsafe; call from a normal thread. */
void probe_worker_reload_token(struct probe_worker *w);

/* Monotonic ms of the worker loop's last turn: the watchdog only pets
 * systemd while this is fresh. */
int64_t probe_worker_heartbeat_ms(struct probe_worker *w);

/* Stops and joins the thread, aborting requests in flight. */
void probe_worker_stop(struct probe_worker *w);

/* Frees the worker (stopping it first if needed). Accepts NULL. */
void probe_worker_destroy(struct probe_worker *w);

#endif
