#ifndef INCLUDE_HTTP_H
#define INCLUDE_HTTP_H

#include "health.h"
#include "settings.h"

/*
 * The HTTP server: /health, /readyz, /livez, /metrics, /history and the
 * status page (one row each in http.c's endpoint table) over
 * libmicrohttpd, answered from the latest published snapshot. It never
 * waits on the network and never causes a probe.
 */

struct http_server;

/*
 * Starts serving on listen_fd (a bound, listening socket: systemd's, or
 * one http_server_bind() made; the server takes ownership). s and store
 * are borrowed and must outlive the server. NULL with *err on failure.
 */
struct http_server *http_server_start(const struct settings *s,
				      struct health_store *store,
				      int listen_fd, char **err);

/*
 * Serves with s (borrowed, as for http_server_start()) from now on: a
 * reload. Returns once no request renders with the old settings any more,
 * so the caller may free them. The listening socket, threads and limits
 * stay as they were started.
 */
void http_server_reconfigure(struct http_server *server,
			     const struct settings *s);

/*
 * Binds and listens on s->listen_host:s->listen_port. Returns the socket
 * or a negative errno with *err (naming the `listen` setting).
 */
int http_server_bind(const struct settings *s, char **err);

/* Writes the address fd listens on ("127.0.0.1:9180", "[::1]:9180"). */
void http_server_describe(int fd, char *out, size_t size);

/* Stops accepting, finishes the requests under way, frees. Accepts NULL. */
void http_server_stop(struct http_server *server);

#endif
