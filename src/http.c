#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "page.h"
#include "render.h"

/*
 * Each connection's memory pool: the request line, the headers and the
 * answer's header block. A probe from a load balancer, the kubelet, curl or
 * Prometheus is a few hundred bytes; a browser's, for the status page,
 * under 2 KiB. 4 KiB holds them all, and 4096 connections then cost at
 * most 16 MiB; a client sending more headers gets 431 and is gone, where
 * the library's default of 32 KiB a connection let 1,100 hostile clients
 * take the RSS from 16 to 49 MB.
 */
#define CONNECTION_MEMORY 4096

/*
 * A crowd of at least this many connections that has shrunk to a quarter
 * gets its memory handed back to the kernel. malloc keeps what a closed
 * connection freed for reuse, in the HTTP thread's own arena: after wrk's
 * 1,000 connections left, 4.6 MiB of it stayed resident (RSS 14.9 MiB
 * idle, 19.2 MiB after, and creeping up over further rounds), and
 * malloc_trim() took RSS back to 14.5 MiB. 128 connections hold about
 * 640 KiB, below which a trim is not worth its walk over the heap.
 */
#define TRIM_AFTER_CONNECTIONS 128

/*
 * An answer rendered from one snapshot generation in one millisecond:
 * every request in that window gets the very same bytes (the body carries
 * a millisecond timestamp, nothing finer), so it is rendered once and the
 * libmicrohttpd response, which counts its own references, is queued for
 * all of them.
 */
struct cached_reply {
	struct MHD_Response *response;
	uint64_t generation;
	int64_t ms;
	unsigned int status;
	/* CACHE_PER_GENERATION: monotonic ms the answer holds until in
	 * its generation (the page turns stale at stale_at). */
	int64_t until_mono_ms;
};

/*
 * One connection's request-head deadline. libmicrohttpd's own timeout
 * counts idleness, and every byte restarts it: a client dripping a header
 * line every few seconds held its slot for as long as it liked. As nginx's
 * client_header_timeout, the whole head must come within
 * connection_timeout: counted from the connection's start for its first
 * request, from the end of the previous answer for the next one on a kept
 * connection (an idle gap that long would be closed as idle anyway).
 */
struct head_watch {
	struct head_watch *prev, *next;
	int fd;
	/* Monotonic ms the head must be complete by, or one of: */
	atomic_int_least64_t deadline_ms;
};
/* The head came; the request is being answered. */
#define HEAD_DONE 0
/* The deadline passed first: refused, the connection is closing. */
#define HEAD_EXPIRED -1

struct http_server {
	struct MHD_Daemon *daemon;
	/* Set once serving: from then on MHD speaks of single bad requests,
	 * which any client can cause, so they must not flood the log. */
	atomic_bool serving;
	/* settings, info and page_info change on a reload: held for
	 * reading while rendering, for writing while swapped. */
	pthread_rwlock_t settings_lock;
	const struct settings *settings;
	struct health_store *store;
	struct render_info info;
	struct page_info page_info;

	/* Held only to look up or swap a cached reply, never to render. */
	pthread_mutex_t cache_lock;
	struct cached_reply *cache;    /* one per row of endpoints[] */
	struct MHD_Response *not_found;
	char *not_found_text;          /* not_found's body */
	struct MHD_Response *not_allowed;
	struct MHD_Response *bad_request;

	/* Every open connection, for the sweeper that enforces head
	 * deadlines. A connection leaves the list (under watch_lock) before
	 * libmicrohttpd closes its socket, so the sweeper never touches a
	 * descriptor that may have been reused. */
	pthread_mutex_t watch_lock;
	pthread_cond_t watch_wake;
	struct head_watch *watched;
	size_t watch_count;
	/* The most connections open at once since the last trim. */
	size_t watch_peak;
	int64_t head_timeout_ms;
	bool sweeper_started;
	bool sweeper_stop;
	pthread_t sweeper;
};

/* Marks the first call of the access handler for a request. */
static int first_call_marker;

#define TEXT_TYPE "text/plain; charset=utf-8"

__attribute__((format(printf, 2, 0)))
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

/* A response for body (malloc'ed; taken) with the headers every answer
 * carries. */
static struct MHD_Response *
make_response(char *body, size_t len, const char *type, bool vary)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		mem_oom();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (vary)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept");
	return resp;
}

static struct MHD_Response *
make_static(const char *body, const char *allow)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		mem_oom();
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, TEXT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	return resp;
}

/*
 * Does an Accept header ask for type? A media-range list with
 * parameters: "application/health+json;q=0" declines it, and
 * "application/health+jsonx" is another type.
 */
static bool
accepts(const char *accept, const char *type)
{
	size_t want = strlen(type);
	const char *p = accept;
	while (p && *p) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ";,");
		size_t type_len = len;
		while (type_len > 0 && (p[type_len - 1] == ' ' || p[type_len - 1] == '\t'))
			type_len--;
		bool match = type_len == want && strncasecmp(p, type, type_len) == 0;
		const char *q = p + len;
		double weight = 1;
		/* Parameters up to the next range. */
		while (*q == ';') {
			q++;
			q += strspn(q, " \t");
			size_t plen = strcspn(q, ";,");
			if (plen >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
				weight = strtod(q + 2, NULL);
			q += plen;
		}
		if (match)
			return weight > 0;
		p = strchr(q, ',');
	}
	return false;
}

/* ---- the endpoints */

/* What an endpoint's render function gets: one snapshot seen at one instant. */
struct render_ctx {
	const struct http_server *server;
	const struct health_snapshot *snap;
	const struct health_view *view;
	/* Rows with .history only; NULL when history_size keeps none. */
	const struct history *history;
	int64_t now;               /* wall-clock ms, for timestamps */
};

/* What a render function fills in. */
struct answer {
	unsigned int status;       /* preset to 200 */
	char *body;                /* malloc'ed; the response takes it */
	size_t len;
	/* CACHE_PER_GENERATION rows: the monotonic ms the answer holds until
	 * within its generation; preset to forever. */
	int64_t until_mono_ms;
};

enum cache_policy {
	/* The body carries a millisecond timestamp: one render serves every
	 * request in the same snapshot generation and millisecond. */
	CACHE_PER_MS,
	/* No millisecond in the body: one render serves a whole snapshot
	 * generation (a probe interval), until answer.until_mono_ms. This
	 * matters for a history of up to HISTORY_SIZE_MAX probes. */
	CACHE_PER_GENERATION,
};

/*
 * One answer the server gives. A request is served by the first row with
 * its path whose accept is NULL or asked for by the request's Accept
 * header; rows of a path that has such a choice carry Vary: Accept.
 */
struct endpoint {
	const char *path;
	const char *accept;
	const char *type;          /* Content-Type */
	enum cache_policy cache;
	void (*render)(const struct render_ctx *ctx, struct answer *a);
	/* Renders from the history, copied with the snapshot in one instant. */
	bool history;
	/* Headers beyond Content-Type, Cache-Control and Vary: name, value,
	 * ..., NULL. */
	const char *const *headers;
};

static unsigned int
ready_status(const struct render_ctx *ctx)
{
	const struct health_view *v = ctx->view;
	if (v->state == HEALTH_HEALTHY ||
	    (v->state == HEALTH_DEGRADED && ctx->server->settings->degraded_ok))
		return MHD_HTTP_OK;
	return MHD_HTTP_SERVICE_UNAVAILABLE;
}

static void
render_health(const struct render_ctx *ctx, struct answer *a)
{
	a->status = ready_status(ctx);
	a->body = render_health_json(ctx->snap, ctx->view, &ctx->server->info,
				     ctx->now, &a->len);
}

static void
render_ietf(const struct render_ctx *ctx, struct answer *a)
{
	/* The draft maps warn to 2xx whatever degraded_ok says. */
	a->status = ctx->view->state == HEALTH_DEGRADED ? MHD_HTTP_OK : ready_status(ctx);
	a->body = render_health_ietf(ctx->snap, ctx->view, &ctx->server->info,
				     ctx->now, &a->len);
}

static void
render_readyz(const struct render_ctx *ctx, struct answer *a)
{
	const struct health_view *v = ctx->view;
	a->status = ready_status(ctx);
	if (a->status == MHD_HTTP_OK)
		a->body = xasprintf("ready: %s\n", health_state_name(v->state));
	else
		a->body = xasprintf("not ready: %s%s%s\n", health_state_name(v->state),
				    v->error[0] ? ": " : "", v->error);
	a->len = strlen(a->body);
}

static void
render_livez(const struct render_ctx *ctx, struct answer *a)
{
	/* Only the probe loop's own progress: an Intercom outage must never
	 * restart every replica at once. */
	if (ctx->view->live) {
		a->body = xstrdup("ok\n");
	} else {
		a->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		a->body = xasprintf("stale: the probe loop finished no probe"
				    " within stale_after (%lld ms)\n",
				    (long long)ctx->server->settings->stale_after_ms);
	}
	a->len = strlen(a->body);
}

static void
render_prometheus(const struct render_ctx *ctx, struct answer *a)
{
	a->body = render_metrics(ctx->snap, ctx->view, &ctx->server->info, &a->len);
}

static void
render_history(const struct render_ctx *ctx, struct answer *a)
{
	if (ctx->history) {
		a->body = render_history_json(ctx->history, &a->len);
	} else {
		a->body = xstrdup("{\"historySize\":0,\"probes\":[],\"transitions\":[]}");
		a->len = strlen(a->body);
	}
}

static void
render_page(const struct render_ctx *ctx, struct answer *a)
{
	/* The page shows the view's state, so it holds only until the
	 * snapshot turns stale. */
	if (!ctx->view->stale)
		a->until_mono_ms = ctx->snap->stale_at_mono_ms;
	a->body = page_render(ctx->snap, ctx->view, ctx->history,
			      &ctx->server->page_info, ctx->now, &a->len);
}

static const char *const history_headers[] = {
	"X-Content-Type-Options", "nosniff",
	NULL,
};

static const char *const page_headers[] = {
	/* No script, nothing fetched: the page cannot be turned against its
	 * reader even if an escape were missed. */
	"Content-Security-Policy",
	"default-src 'none'; style-src 'unsafe-inline'; img-src data:",
	"X-Content-Type-Options", "nosniff",
	NULL,
};

/* Every endpoint: a new one is a row here and its render function. */
static const struct endpoint endpoints[] = {
	{ "/health", "application/health+json", "application/health+json",
	  CACHE_PER_MS, render_ietf, false, NULL },
	{ "/health", NULL, "application/json", CACHE_PER_MS, render_health, false, NULL },
	{ "/readyz", NULL, TEXT_TYPE, CACHE_PER_MS, render_readyz, false, NULL },
	{ "/livez", NULL, TEXT_TYPE, CACHE_PER_MS, render_livez, false, NULL },
	{ "/metrics", NULL, "text/plain; version=0.0.4; charset=utf-8",
	  CACHE_PER_MS, render_prometheus, false, NULL },
	{ "/history", NULL, "application/json", CACHE_PER_GENERATION,
	  render_history, true, history_headers },
	{ "/", NULL, "text/html; charset=utf-8", CACHE_PER_GENERATION,
	  render_page, true, page_headers },
};

#define ENDPOINT_COUNT (sizeof(endpoints) / sizeof(endpoints[0]))

/* Does the answer at e's path depend on Accept? */
static bool
varies(const struct endpoint *e)
{
	for (size_t i = 0; i < ENDPOINT_COUNT; i++)
		if (endpoints[i].accept && strcmp(endpoints[i].path, e->path) == 0)
			return true;
	return false;
}

/* The row serving path for this request, or -1 when no row has path. */
static int
find_endpoint(struct MHD_Connection *c, const char *path)
{
	for (size_t i = 0; i < ENDPOINT_COUNT; i++) {
		const struct endpoint *e = &endpoints[i];
		if (strcmp(path, e->path) != 0)
			continue;
		if (!e->accept ||
		    accepts(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_ACCEPT),
			    e->accept))
			return (int)i;
	}
	return -1;
}

/* "not found; endpoints: /health /readyz ...", from the table. Caller frees. */
static char *
not_found_body(void)
{
	size_t size = sizeof("not found; endpoints:\n");
	for (size_t i = 0; i < ENDPOINT_COUNT; i++)
		size += strlen(endpoints[i].path) + 1;
	char *body = xmalloc(size);
	strcpy(body, "not found; endpoints:");
	for (size_t i = 0; i < ENDPOINT_COUNT; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || strcmp(endpoints[j].path, endpoints[i].path) == 0;
		if (!seen) {
			strcat(body, " ");
			strcat(body, endpoints[i].path);
		}
	}
	strcat(body, "\n");
	return body;
}

/* Renders e from the latest snapshot (and history, if e needs it). */
static struct MHD_Response *
render(struct http_server *server, const struct endpoint *e, int64_t now,
       uint64_t *generation, unsigned int *status, int64_t *until_mono)
{
	struct health_snapshot snap;
	struct health_view view;
	struct history *copy = NULL;
	if (e->history) {
		size_t capacity = health_store_history_capacity(server->store);
		copy = capacity ? history_create(capacity) : NULL;
		*generation = health_store_read_history(server->store, &snap, copy);
	} else {
		*generation = health_store_read(server->store, &snap);
	}
	health_view(&snap, clock_mono_ms(), &view);

	struct render_ctx ctx = { server, &snap, &view, copy, now };
	struct answer a = { .status = MHD_HTTP_OK, .until_mono_ms = INT64_MAX };
	e->render(&ctx, &a);
	history_destroy(copy);

	struct MHD_Response *resp = make_response(a.body, a.len, e->type, varies(e));
	for (const char *const *h = e->headers; h && h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	*status = a.status;
	*until_mono = a.until_mono_ms;
	return resp;
}

static enum MHD_Result
serve(struct http_server *server, struct MHD_Connection *c, int row)
{
	const struct endpoint *e = &endpoints[row];
	struct cached_reply *slot = &server->cache[row];
	int64_t now = clock_real_ms();
	uint64_t current = health_store_generation(server->store);
	enum MHD_Result ret;

	bool per_generation = e->cache == CACHE_PER_GENERATION;
	int64_t now_mono = per_generation ? clock_mono_ms() : 0;

	pthread_mutex_lock(&server->cache_lock);
	if (slot->response && slot->generation == current &&
	    (per_generation ? now_mono <= slot->until_mono_ms : slot->ms == now)) {
		/* Queuing takes a reference under the lock, so a swap by
		 * another thread cannot free it under us. */
		ret = MHD_queue_response(c, slot->status, slot->response);
		pthread_mutex_unlock(&server->cache_lock);
		return ret;
	}
	pthread_mutex_unlock(&server->cache_lock);

	uint64_t generation;
	unsigned int status;
	int64_t until_mono;
	pthread_rwlock_rdlock(&server->settings_lock);
	struct MHD_Response *resp = render(server, e, now, &generation, &status,
					   &until_mono);
	pthread_rwlock_unlock(&server->settings_lock);
	ret = MHD_queue_response(c, status, resp);

	pthread_mutex_lock(&server->cache_lock);
	/* Keep the newer of the two: another thread may have rendered a
	 * later generation or millisecond meanwhile. */
	if (!slot->response || generation > slot->generation ||
	    (generation == slot->generation && now >= slot->ms)) {
		struct MHD_Response *old = slot->response;
		*slot = (struct cached_reply){ resp, generation, now, status,
					       until_mono };
		resp = old;
	}
	pthread_mutex_unlock(&server->cache_lock);
	if (resp)
		MHD_destroy_response(resp);
	return ret;
}

/*
 * The path of a request target. Absolute-form ("http://host/health"),
 * which RFC 9112 says a server must accept, loses its scheme and
 * authority; origin-form is the path already (MHD keeps the query apart).
 */
static const char *
target_path(const char *url)
{
	const char *rest = NULL;
	if (strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	if (!rest)
		return url;
	const char *slash = strchr(rest, '/');
	return slash ? slash : "/";
}

/*
 * Percent-decoding of the path and query, as MHD's own, except that %00
 * stays as it is: decoded, it would end the C string early and
 * "/health%00x" would be served as "/health".
 */
static size_t
unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *out = s;
	for (const char *p = s; *p;) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			char hex[3] = { p[1], p[2], '\0' };
			unsigned long v = strtoul(hex, NULL, 16);
			if (v != 0) {
				*out++ = (char)v;
				p += 3;
				continue;
			}
		}
		*out++ = *p++;
	}
	*out = '\0';
	return (size_t)(out - s);
}

static enum MHD_Result
count_host(void *cls, enum MHD_ValueKind kind, const char *key,
	   const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(unsigned int *)cls)++;
	return MHD_YES;
}

/*
 * More than one Host field: RFC 9112 asks for 400. A proxy in front may
 * route by one and the daemon would answer for the other.
 */
static bool
several_hosts(struct MHD_Connection *c)
{
	unsigned int hosts = 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_host, &hosts);
	return hosts > 1;
}

/* ---- request-head deadlines */

static const char head_timeout_reply[] =
	"HTTP/1.1 408 Request Timeout\r\n"
	"Connection: close\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static struct head_watch *
watch_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

/*
 * The head of c's request is complete: its deadline no longer applies.
 * False when the sweeper refused it first (the access handler then
 * returns MHD_NO, closing the connection).
 */
static bool
head_done(struct MHD_Connection *c)
{
	struct head_watch *w = watch_of(c);
	if (!w)
		return true;
	int_least64_t d = atomic_load(&w->deadline_ms);
	while (d != HEAD_EXPIRED) {
		if (atomic_compare_exchange_weak(&w->deadline_ms, &d, HEAD_DONE))
			return true;
	}
	return false;
}

/* A request on c finished: the next head's deadline starts now. */
static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_server *server = cls;
	(void)con_cls;
	(void)toe;
	struct head_watch *w = watch_of(c);
	if (!w)
		return;
	int_least64_t d = atomic_load(&w->deadline_ms);
	int_least64_t next = clock_mono_ms() + server->head_timeout_ms;
	while (d != HEAD_EXPIRED &&
	       !atomic_compare_exchange_weak(&w->deadline_ms, &d, next))
		;
}

/* A crowd has gone and left its memory with malloc (watch_lock held). */
static bool
crowd_left(const struct http_server *server)
{
	return server->watch_peak >= TRIM_AFTER_CONNECTIONS &&
	       server->watch_count <= server->watch_peak / 4;
}

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *server = cls;
	struct head_watch *w;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		w = xcalloc(1, sizeof(*w));
		w->fd = info ? info->connect_fd : -1;
		atomic_init(&w->deadline_ms, clock_mono_ms() + server->head_timeout_ms);
		pthread_mutex_lock(&server->watch_lock);
		w->next = server->watched;
		if (w->next)
			w->next->prev = w;
		else
			pthread_cond_signal(&server->watch_wake);
		server->watched = w;
		if (++server->watch_count > server->watch_peak)
			server->watch_peak = server->watch_count;
		pthread_mutex_unlock(&server->watch_lock);
		*socket_context = w;
		return;
	}
	w = *socket_context;
	if (!w)
		return;
	pthread_mutex_lock(&server->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		server->watched = w->next;
	if (w->next)
		w->next->prev = w->prev;
	server->watch_count--;
	if (crowd_left(server))
		pthread_cond_signal(&server->watch_wake);
	pthread_mutex_unlock(&server->watch_lock);
	free(w);
	*socket_context = NULL;
}

/*
 * Refuses heads past their deadline: a 408 as nginx sends, then
 * shutdown(), which libmicrohttpd's loop sees as the client gone and
 * closes. Called with watch_lock held, so w->fd is still the connection's.
 * Returns the earliest deadline still pending, or INT64_MAX.
 */
static int64_t
sweep_once(struct http_server *server, int64_t now)
{
	int64_t next = INT64_MAX;
	for (struct head_watch *w = server->watched; w; w = w->next) {
		int_least64_t d = atomic_load(&w->deadline_ms);
		if (d <= HEAD_DONE)
			continue;
		if (d > now) {
			if (d < next)
				next = d;
			continue;
		}
		/* Lost to head_done() or on_completed(): looked at next time. */
		if (!atomic_compare_exchange_strong(&w->deadline_ms, &d, HEAD_EXPIRED))
			continue;
		if (w->fd >= 0) {
			/* Best effort: a full socket buffer only loses the 408. */
			(void)send(w->fd, head_timeout_reply,
				   sizeof(head_timeout_reply) - 1,
				   MSG_DONTWAIT | MSG_NOSIGNAL);
			shutdown(w->fd, SHUT_RDWR);
		}
	}
	return next;
}

/*
 * The sweeper: wakes at the earliest deadline, and at least every quarter
 * of the timeout while connections are open (a deadline on_completed()
 * set meanwhile is seen late by at most that); sleeps while there are
 * none. When a crowd has left, it gives the crowd's memory back.
 */
static void *
sweeper_main(void *arg)
{
	struct http_server *server = arg;
	int64_t period = server->head_timeout_ms / 4;
	pthread_mutex_lock(&server->watch_lock);
	while (!server->sweeper_stop) {
		int64_t now = clock_mono_ms();
		int64_t next = sweep_once(server, now);
		if (crowd_left(server)) {
			size_t peak = server->watch_peak;
			server->watch_peak = server->watch_count;
			pthread_mutex_unlock(&server->watch_lock);
			int64_t t0 = clock_mono_ms();
			malloc_trim(0);
			log_debug("http: %zu connections at most, now fewer than a quarter:"
				  " freed memory returned in %lld ms", peak,
				  (long long)(clock_mono_ms() - t0));
			pthread_mutex_lock(&server->watch_lock);
			continue;
		}
		if (!server->watched) {
			pthread_cond_wait(&server->watch_wake, &server->watch_lock);
			continue;
		}
		if (next > now + period)
			next = now + period;
		struct timespec ts = {
			.tv_sec = (time_t)(next / 1000),
			.tv_nsec = (long)(next % 1000) * 1000000,
		};
		pthread_cond_timedwait(&server->watch_wake, &server->watch_lock, &ts);
	}
	pthread_mutex_unlock(&server->watch_lock);
	return NULL;
}

static void
stop_sweeper(struct http_server *server)
{
	if (!server->sweeper_started)
		return;
	pthread_mutex_lock(&server->watch_lock);
	server->sweeper_stop = true;
	pthread_cond_signal(&server->watch_wake);
	pthread_mutex_unlock(&server->watch_lock);
	pthread_join(server->sweeper, NULL);
	server->sweeper_started = false;
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
		return head_done(c) ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size != 0) {
		/* Nothing here takes a body: drop it. */
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (several_hosts(c))
		return MHD_queue_response(c, MHD_HTTP_BAD_REQUEST,
					  server->bad_request);
	int row = find_endpoint(c, target_path(url));
	if (row < 0)
		return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, server->not_found);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					  server->not_allowed);
	return serve(server, c, row);
}

int
http_server_bind(const struct settings *s, char **err)
{
	/* A numeric address only (settings checked it): a listen address
	 * never waits on DNS. */
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)s->listen_port);
	int gai = getaddrinfo(s->listen_host, port, &hints, &res);
	if (gai != 0) {
		*err = xasprintf("listen: cannot use \"%s\": %s", s->listen,
				 gai_strerror(gai));
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
		*err = xasprintf("listen: cannot listen on %s: %s", s->listen,
				 strerror(e));
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

static void
free_server(struct http_server *server)
{
	for (size_t i = 0; server->cache && i < ENDPOINT_COUNT; i++)
		if (server->cache[i].response)
			MHD_destroy_response(server->cache[i].response);
	free(server->cache);
	if (server->not_found)
		MHD_destroy_response(server->not_found);
	free(server->not_found_text);
	if (server->not_allowed)
		MHD_destroy_response(server->not_allowed);
	if (server->bad_request)
		MHD_destroy_response(server->bad_request);
	pthread_mutex_destroy(&server->cache_lock);
	pthread_rwlock_destroy(&server->settings_lock);
	pthread_mutex_destroy(&server->watch_lock);
	pthread_cond_destroy(&server->watch_wake);
	free(server);
}

/* What the server reads of s. Under settings_lock once serving. */
static void
configure(struct http_server *server, const struct settings *s)
{
	server->settings = s;
	render_info_init(&server->info, s);
	server->page_info = (struct page_info){
		.version = server->info.version,
		.api_url = s->api_url,
		.interval_ms = s->interval_ms,
	};
}

void
http_server_reconfigure(struct http_server *server, const struct settings *s)
{
	pthread_rwlock_wrlock(&server->settings_lock);
	configure(server, s);
	pthread_rwlock_unlock(&server->settings_lock);
	/* Cached answers were rendered with the old settings. */
	pthread_mutex_lock(&server->cache_lock);
	for (size_t i = 0; i < ENDPOINT_COUNT; i++) {
		if (server->cache[i].response)
			MHD_destroy_response(server->cache[i].response);
		server->cache[i] = (struct cached_reply){ 0 };
	}
	pthread_mutex_unlock(&server->cache_lock);
}

struct http_server *
http_server_start(const struct settings *s, struct health_store *store,
		  int listen_fd, char **err)
{
	struct http_server *server = xcalloc(1, sizeof(*server));
	atomic_init(&server->serving, false);
	pthread_mutex_init(&server->cache_lock, NULL);
	pthread_rwlock_init(&server->settings_lock, NULL);
	pthread_mutex_init(&server->watch_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	/* Deadlines are monotonic: a clock step must not move them. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&server->watch_wake, &attr);
	pthread_condattr_destroy(&attr);
	server->head_timeout_ms = s->connection_timeout_ms;
	server->store = store;
	configure(server, s);
	server->cache = xcalloc(ENDPOINT_COUNT, sizeof(*server->cache));
	server->not_found_text = not_found_body();
	server->not_found = make_static(server->not_found_text, NULL);
	server->not_allowed = make_static("method not allowed; use GET or HEAD\n",
					  "GET, HEAD");
	server->bad_request = make_static("bad request: more than one Host header\n",
					  NULL);
	/* What follows a malformed request cannot be trusted either. */
	MHD_add_response_header(server->bad_request, MHD_HTTP_HEADER_CONNECTION,
				"close");

	/*
	 * One epoll thread by default: on loopback it answers ~1.0x what a
	 * one-worker nginx does, where a pool of two spent its time handing
	 * connections between threads (bench/run). Turbo skips the
	 * shutdown() before each close and reads optimistically.
	 * No per-address limit: the kubelet and a load balancer each probe
	 * from one address, and an attacker on that address would lock them
	 * out at the cap. max_connections and a short idle timeout bound
	 * what anyone can hold instead.
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	unsigned int timeout_s = (unsigned int)((s->connection_timeout_ms + 999) / 1000);
	struct MHD_OptionItem options[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, server },
		{ MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, s->max_connections, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, server },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL },
		/* HTTP/1.1 without Host gets 400, as RFC 9112 asks. */
		{ MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL },
		{ s->http_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		  s->http_threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, server,
					  MHD_OPTION_ARRAY, options, MHD_OPTION_END);
	if (!server->daemon) {
		close(listen_fd);
		free_server(server);
		*err = xstrdup("listen: the HTTP server did not start (see above)");
		return NULL;
	}
	int e = pthread_create(&server->sweeper, NULL, sweeper_main, server);
	if (e != 0) {
		MHD_stop_daemon(server->daemon);
		free_server(server);
		*err = xasprintf("listen: cannot start the HTTP server's timer thread: %s",
				 strerror(e));
		return NULL;
	}
	server->sweeper_started = true;
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
	 * the threads, then closes the listening socket itself. The sweeper
	 * goes first; the connections leave its list as MHD closes them. */
	stop_sweeper(server);
	MHD_stop_daemon(server->daemon);
	free_server(server);
}
