#ifndef INCLUDE_RELOAD_H
#define INCLUDE_RELOAD_H

#include "http.h"
#include "probe.h"
#include "settings.h"

/*
 * SIGHUP: every setting read again (flags, environment, config file,
 * token file) and validated whole, as at start-up, then applied to the
 * probe worker and the HTTP server together, or to neither.
 */

/* The command line the daemon was started with (borrowed). */
struct reload_args {
	int argc;
	char **argv;
};

/*
 * Reloads cur (heap-allocated, in use by worker and server). Returns the
 * settings now in force: a new heap struct, with cur freed, or cur itself
 * when the new ones are bad or the worker could not take them; either
 * way the log says what happened and systemd hears RELOADING=1, READY=1.
 * Settings that take a restart keep their running values.
 */
struct settings *reload_apply(const struct reload_args *args, struct settings *cur,
			      struct probe_worker *worker,
			      struct http_server *server);

#endif
