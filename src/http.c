/* asprintf, getaddrinfo */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "render.h"
#include "request.h"

/* Two cores is the common sidecar budget; more threads only add
 * contention for a lock held for one memcpy. */
#define THREAD_POOL_SIZE 2
#define CONNECTION_LIMIT 1024
/* Generous: a load balancer or kubelet probes from few addresses, and a
 * benchmark from one. The limit is for runaway clients, not for them. */
#define PER_IP_CONNECTION_LIMIT 512
#define CONNECTION_TIMEOUT_S 30

struct http_server {
	struct MHD_Daemon *daemon;
	/* Set once serving: from then on MHD speaks of single bad requests,
	 * which any client can cause, so they must not flood the log. */
	atomic_bool serving;
	const struct settings *settings;
	struct health_store *store;
	struct render_info info;
};

/* Marks the first call of the access handler for a request. */
static int first_call_marker;

static const char *const text_type = "text/plain; charset=utf-8";

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *server = cls;
	/* MHD's messages end in a newline; ours add one. */
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_msg(atomic_load(&server->serving) ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING,
		"http: %s", line);
}

static enum MHD_Result
queue(struct MHD_Connection *c, unsigned int status, const char *type,
      struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Replies with body (malloc'ed; taken, also on failure). */
static enum MHD_Result
reply_owned(struct MHD_Connection *c, unsigned int status, const char *type,
	    char *body, size_t len)
{
	if (!body)
		return MHD_NO;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(body);
	return queue(c, status, type, resp);
}

static enum MHD_Result
reply_static(struct MHD_Connection *c, unsigned int status, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	return queue(c, status, text_type, resp);
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned int status, const char *fmt,
	   ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned int status, const char *fmt, ...)
{
	char *body;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return reply_owned(c, status, text_type, body, (size_t)n);
}

static bool
wants_health_json(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);
	return accept && strcasestr(accept, "application/health+json");
}

static unsigned int
ready_status(const struct http_server *server, const struct health_view *v)
{
	if (v->state == HEALTH_HEALTHY ||
	    (v->state == HEALTH_DEGRADED && server->settings->degraded_ok))
		return MHD_HTTP_OK;
	return MHD_HTTP_SERVICE_UNAVAILABLE;
}

enum route {
	ROUTE_NONE,
	ROUTE_HEALTH,
	ROUTE_READYZ,
	ROUTE_LIVEZ,
	ROUTE_METRICS,
};

static enum route
find_route(const char *url)
{
	static const struct {
		const char *path;
		enum route route;
	} routes[] = {
		{ "/health", ROUTE_HEALTH },
		{ "/readyz", ROUTE_READYZ },
		{ "/livez", ROUTE_LIVEZ },
		{ "/metrics", ROUTE_METRICS },
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].path) == 0)
			return routes[i].route;
	return ROUTE_NONE;
}

static enum MHD_Result
serve(struct http_server *server, struct MHD_Connection *c, enum route route)
{
	struct health_snapshot snap;
	struct health_view view;
	health_store_read(server->store, &snap);
	int64_t now = request_now_real_ms();
	health_view(&snap, request_now_mono_ms(), &view);

	size_t len = 0;
	char *body;
	unsigned int status = ready_status(server, &view);

	switch (route) {
	case ROUTE_HEALTH:
		if (wants_health_json(c)) {
			body = render_health_ietf(&snap, &view, &server->info, now, &len);
			return reply_owned(c, status, "application/health+json",
					   body, len);
		}
		body = render_health_json(&snap, &view, &server->info, now, &len);
		return reply_owned(c, status, "application/json", body, len);
	case ROUTE_READYZ:
		if (status == MHD_HTTP_OK)
			return reply_text(c, status, "ready: %s\n",
					  health_state_name(view.state));
		return reply_text(c, status, "not ready: %s%s%s\n",
				  health_state_name(view.state),
				  view.error[0] ? ": " : "", view.error);
	case ROUTE_LIVEZ:
		/* Only the probe loop's own progress: an Intercom outage must
		 * never restart every replica at once. */
		if (view.live)
			return reply_static(c, MHD_HTTP_OK, "ok\n");
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "stale: the probe loop finished no probe within "
				  "stale_after (%lld ms)\n",
				  (long long)server->settings->stale_after_ms);
	case ROUTE_METRICS:
		body = render_metrics(&snap, &view, &server->info, &len);
		return reply_owned(c, MHD_HTTP_OK,
				   "text/plain; version=0.0.4; charset=utf-8",
				   body, len);
	case ROUTE_NONE:
		break;
	}
	return MHD_NO;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	struct http_server *server = cls;
	(void)version;
	(void)upload_data;

	/* Answer on the second call: queuing on the first makes MHD close
	 * the connection, which costs keep-alive clients dearly. */
	if (*con_cls == NULL) {
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		/* Nothing here takes a body: drop it. */
		*upload_data_size = 0;
		return MHD_YES;
	}

	enum route route = find_route(url);
	if (route == ROUTE_NONE)
		return reply_static(c, MHD_HTTP_NOT_FOUND,
				    "not found; endpoints: /health /readyz /livez /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "method not allowed; use GET or HEAD\n");
	return serve(server, c, route);
}

int
http_server_bind(const struct settings *s, char **err)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE,
	};
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)s->listen_port);
	int gai = getaddrinfo(s->listen_host, port, &hints, &res);
	if (gai != 0) {
		if (asprintf(err, "listen: cannot resolve \"%s\": %s", s->listen,
			     gai_strerror(gai)) < 0)
			*err = NULL;
		return -EINVAL;
	}

	int fd = -1;
	int e = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (asprintf(err, "listen: cannot listen on %s: %s", s->listen,
			     strerror(e)) < 0)
			*err = NULL;
		return -e;
	}
	return fd;
}

void
http_server_describe(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
			snprintf(out, size, "[%s]:%u", host, port);
			return;
		}
	}
	snprintf(out, size, "%s:%u", host, port);
}

struct http_server *
http_server_start(const struct settings *s, struct health_store *store,
		  int listen_fd, char **err)
{
	struct http_server *server = calloc(1, sizeof(*server));
	if (!server) {
		close(listen_fd);
		*err = strdup("out of memory");
		return NULL;
	}
	atomic_init(&server->serving, false);
	server->settings = s;
	server->store = store;
	render_info_init(&server->info, s);

	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_USE_ERROR_LOG | MHD_USE_ITC;
	server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, server,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, server,
		MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)THREAD_POOL_SIZE,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_END);
	if (!server->daemon) {
		close(listen_fd);
		free(server);
		*err = strdup("listen: the HTTP server did not start (see above)");
		return NULL;
	}
	atomic_store(&server->serving, true);
	return server;
}

void
http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	/* No MHD_quiesce_daemon() first: with a thread pool on epoll,
	 * libmicrohttpd 0.9.75 can abort in it ("Failed to remove listen FD
	 * from epoll set", seen in a sanitizer run). MHD_stop_daemon() joins
	 * the threads, then closes the listening socket itself. */
	MHD_stop_daemon(server->daemon);
	free(server);
}
