#ifndef INCLUDE_REQUEST_H
#define INCLUDE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "probe_result.h"
#include "response.h"

/* Only the request_init_api*() functions read the settings. */
struct settings;

/*
 * One HTTP exchange with curl: the API probe, a status-page read or a
 * webhook HEAD. The caller runs req->easy (in a multi handle, or with
 * curl_easy_perform) and then calls request_complete() to turn curl's
 * outcome into a struct probe_result. Only a bounded prefix of the body is
 * kept, and the transfer stops there: a multi-megabyte answer costs
 * RESPONSE_BODY_MAX bytes.
 */

struct request {
	CURL *easy;
	struct curl_slist *headers;
	char body[RESPONSE_BODY_MAX];
	size_t body_len;
	bool truncated;            /* the body went on past body[] */
	int64_t timeout_ms;
	int64_t started_mono_ms;
	struct probe_result result;
	char errbuf[CURL_ERROR_SIZE];
	/* A copy of the token this request was sent with, owned, only to
	 * redact echoes of it; NULL if none. */
	char *secret;
	/* request_init_post()'s body, owned: curl reads it while sending. */
	char *post_body;
	/* request_connect_to()'s entries, owned: curl reads them, without a
	 * copy, for as long as the handle lives. */
	struct curl_slist *connect_to;
};

/*
 * The CA bundle for every request: the system store plus settings->ca_file
 * (curl's CAINFO replaces the store; a blob of both adds to it). Returns 0
 * and fills *blob (caller frees blob->data) or a negative errno with *err.
 */
int request_load_ca(const char *ca_file, struct curl_blob *blob, char **err);

/*
 * Prepares req for GET {api_url}{probe_path}, over https only, with the
 * probe's headers (Authorization: Bearer <token>, Accept:
 * application/json, Intercom-Version, User-Agent). ca may be NULL (curl's
 * default store). req keeps its own copy of the token (to redact echoes
 * of it), wiped by request_cleanup().
 */
void request_init_api(struct request *req, const struct settings *s,
		     const char *token, const struct curl_blob *ca);

/*
 * The same for GET {api_url}{path}: preflight reads other paths than the
 * probe's (/me for the workspace, each of required_paths) with the very
 * headers the daemon sends.
 */
void request_init_api_path(struct request *req, const struct settings *s,
			   const char *token, const char *path,
			   const struct curl_blob *ca);

/*
 * Prepares req for a POST of body[0..len) (copied) to url, with the extra
 * header lines in headers (NULL-terminated, may be NULL), e.g. a
 * Content-Type or an X-Hub-Signature. secret (may be NULL) is redacted
 * from whatever the server answers, as for the token.
 */
void request_init_post(struct request *req, const char *url,
		       const char *body, size_t len,
		       const char *const *headers, const char *secret,
		       int64_t timeout_ms, const struct curl_blob *ca);

/*
 * Asks curl for the certificate chain of this transfer, so that
 * request_complete() can fill result.cert_not_after_s. Costs a parse of
 * the chain per handshake; off by default.
 */
void request_want_certinfo(struct request *req);

/*
 * Points req at other addresses for some hosts: connect_to is the
 * connect_to setting (comma-separated HOST:PORT:CONNECT-HOST:CONNECT-PORT,
 * checked by the settings loader), NULL for none. TLS still verifies the
 * host named in the URL. Once per request; request_init_api*() call it.
 */
void request_connect_to(struct request *req, const char *connect_to);

/* Prepares req for a plain GET (head false) or HEAD (head true) of url. */
void request_init_plain(struct request *req, const char *url, bool head,
		       int64_t timeout_ms, const struct curl_blob *ca);

/*
 * Fills req->result from curl's code and the response: transport class,
 * status, rate-limit headers, latency, the phases of the transfer, the
 * certificate's notAfter (with request_want_certinfo()), and a printable
 * reason. For a 2xx
 * with check_json set, a body that is not a JSON object makes the result
 * a PROBE_TRANSPORT_PROTOCOL failure ("unparseable response").
 */
void request_complete(struct request *req, CURLcode code, bool check_json);

/*
 * Adds req->easy to multi. curl refuses only a handle it cannot track for
 * want of memory or one this program misused (added twice, a bad handle,
 * a call from inside a callback): the first is the one OOM policy's
 * (mem.h), the second a bug, and both abort rather than leave a probe
 * silently unscheduled. So it never fails, wherever a transfer starts.
 */
void request_start(struct request *req, CURLM *multi);

/* Frees what request_init_*() allocated. Safe on a zeroed struct. */
void request_cleanup(struct request *req);

#endif
