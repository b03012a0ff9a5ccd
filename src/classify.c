#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "text.h"

const char *
health_state_name(enum health_state state)
{
	switch (state) {
	case HEALTH_HEALTHY:
		return "healthy";
	case HEALTH_DEGRADED:
		return "degraded";
	case HEALTH_UNHEALTHY:
		return "unhealthy";
	}
	return "unhealthy";
}

bool
classify_is_2xx(long status)
{
	return status >= 200 && status <= 299;
}

bool
classify_is_success(const struct probe_result *r)
{
	return r->transport == PROBE_TRANSPORT_OK && classify_is_2xx(r->http_status);
}

static bool
is_slow(const struct probe_result *r, const struct classify_params *p)
{
	/* Strictly slower: a probe taking exactly degraded_latency is fine. */
	return r->latency_ms > p->degraded_latency_ms;
}

/*
 * Is remaining below percent% of limit, i.e. remaining * 100 < limit *
 * percent, computed exactly without overflowing: Intercom's figures are
 * small, but the headers are whatever the server (or a proxy) sent, and
 * parse_uint accepts anything up to INT64_MAX.
 *
 * percent is clamped to 0..100 (settings allow nothing else): at 100 the
 * quota is low as soon as a single call of the window has been spent.
 */
static bool
quota_below(int64_t remaining, int64_t limit, int percent)
{
	int64_t whole, part, d;

	if (percent <= 0 || limit <= 0)
		return false;
	if (percent > 100)
		percent = 100;
	if (remaining < 0)
		return true;
	/* limit * percent = 100 * whole + part, with whole <= limit. */
	whole = (limit / 100) * percent;
	part = (limit % 100) * percent;
	/* remaining * 100 < 100 * whole + part
	 * <=> 100 * (remaining - whole) < part, where 0 <= part < 10000. */
	d = remaining - whole;
	if (d < 0)
		return true;
	if (d >= 100)
		return false;
	return d * 100 < part;
}

bool
classify_quota_low(const struct rate_limit *rl, int rate_limit_low)
{
	/* Missing headers never degrade: Intercom omits them on some
	 * answers, and an unknown quota is not a low one. */
	if (!rl->has_limit || !rl->has_remaining)
		return false;
	return quota_below(rl->remaining, rl->limit, rate_limit_low);
}

static bool
is_quota_low(const struct probe_result *r, const struct classify_params *p)
{
	return classify_quota_low(&r->rate_limit, p->rate_limit_low);
}

enum health_state
classify_probe(const struct probe_result *r,
	       const struct classify_params *p,
	       bool *authenticated)
{
	enum health_state state;
	bool auth;
	long status = r->http_status;

	if (r->transport != PROBE_TRANSPORT_OK) {
		/* No usable answer (including a 2xx whose body was not
		 * JSON): nothing says the token works, so a timeout is not
		 * evidence of authentication either. */
		state = HEALTH_UNHEALTHY;
		auth = false;
	} else if (classify_is_2xx(status)) {
		auth = true;
		state = is_slow(r, p) || is_quota_low(r, p) ?
			HEALTH_DEGRADED : HEALTH_HEALTHY;
	} else if (status == 429) {
		/* Intercom only rate-limits requests it has authenticated;
		 * the API works, we are just asking too often. */
		state = HEALTH_DEGRADED;
		auth = true;
	} else if (status == 401) {
		state = HEALTH_UNHEALTHY;
		auth = false;
	} else if (status >= 400 && status <= 599) {
		/* 403 (plan, scope), 404 (probe_path), other 4xx and every
		 * 5xx: the token got past authentication, or at least was
		 * not the reason for the failure. */
		state = HEALTH_UNHEALTHY;
		auth = true;
	} else {
		/*
		 * 1xx, 3xx, or nonsense (0, 600+) with a "successful"
		 * transport. The probe does not follow redirects and curl
		 * swallows interim 1xx answers, so these mean api_url
		 * points somewhere that is not the API (a captive portal, a
		 * login redirect, an http:// to https:// hop). Nothing there
		 * checked the token, so it is not counted as authenticated.
		 */
		state = HEALTH_UNHEALTHY;
		auth = false;
	}

	if (authenticated != NULL)
		*authenticated = auth;
	return state;
}

/* Short text for a status whose answer carried no reason of its own. */
static const char *
status_text(long status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 418: return "I'm a Teapot";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: break;
	}
	if (status >= 100 && status <= 199)
		return "unexpected interim response";
	if (status >= 300 && status <= 399)
		return "unexpected redirect";
	if (status >= 400 && status <= 499)
		return "client error";
	if (status >= 500 && status <= 599)
		return "server error";
	return "unexpected HTTP status";
}

static const char *
transport_text(enum probe_transport transport)
{
	switch (transport) {
	case PROBE_TRANSPORT_OK:
		return "no error";
	case PROBE_TRANSPORT_TIMEOUT:
		return "timeout";
	case PROBE_TRANSPORT_CONNECT:
		return "connection failed";
	case PROBE_TRANSPORT_DNS:
		return "DNS resolution failed";
	case PROBE_TRANSPORT_TLS:
		return "TLS handshake failed";
	case PROBE_TRANSPORT_PROTOCOL:
		return "unparseable response";
	}
	return "probe failed";
}

/*
 * r->reason, bounded: the array is fixed-size and filled elsewhere, so
 * never trust it to be terminated. Returns fallback when it is blank.
 * Printable already (probe_result.h), so the error text is too: nothing
 * here adds a byte of its own that is not.
 */
static const char *
reason_or(const struct probe_result *r, char *buf, size_t buf_size,
	  const char *fallback)
{
	size_t n = strnlen(r->reason, sizeof(r->reason));

	while (n > 0 && r->reason[n - 1] == ' ')
		n--;
	if (n == 0)
		return fallback;
	if (n > buf_size - 1)
		n = buf_size - 1;
	memcpy(buf, r->reason, n);
	buf[n] = '\0';
	return buf;
}

void
classify_error_text(const struct probe_result *r,
		    const struct classify_params *p,
		    char *out, size_t out_size)
{
	char reason[PROBE_ERROR_MAX + 1];
	enum health_state state;
	bool auth;

	if (out == NULL || out_size == 0)
		return;
	out[0] = '\0';

	state = classify_probe(r, p, &auth);
	if (state == HEALTH_HEALTHY)
		return;

	if (r->transport == PROBE_TRANSPORT_OK && classify_is_2xx(r->http_status)) {
		/* Degraded although successful: say why, both reasons when
		 * both apply. */
		bool slow = is_slow(r, p), low = is_quota_low(r, p);
		int n = snprintf(out, out_size, "%ld: ", r->http_status);

		if (slow && n >= 0 && (size_t)n < out_size)
			n += snprintf(out + n, out_size - (size_t)n,
				      "slow: %" PRId64 " ms (limit %" PRId64
				      " ms)", r->latency_ms,
				      p->degraded_latency_ms);
		if (low && n >= 0 && (size_t)n < out_size)
			snprintf(out + n, out_size - (size_t)n,
				 "%srate limit low: %" PRId64 " of %" PRId64
				 " remaining (below %d%%)", slow ? "; " : "",
				 r->rate_limit.remaining, r->rate_limit.limit,
				 p->rate_limit_low);
	} else if (r->http_status != 0) {
		const char *fallback = r->transport == PROBE_TRANSPORT_OK ?
			status_text(r->http_status) :
			transport_text(r->transport);

		snprintf(out, out_size, "%ld: %s", r->http_status,
			 reason_or(r, reason, sizeof(reason), fallback));
	} else {
		const char *fallback = r->transport == PROBE_TRANSPORT_OK ?
			"no HTTP status" : transport_text(r->transport);

		snprintf(out, out_size, "%s",
			 reason_or(r, reason, sizeof(reason), fallback));
	}
}

/* curl's message shows this much: the class's words and the detail
 * together stay well inside a reason. */
#define DETAIL_CAP 199

/* "<prefix>: <detail>", or the prefix alone for a blank detail. */
static void
set_reason(struct probe_reason *why, const char *prefix, const char *detail)
{
	size_t n = detail ? strlen(detail) : 0;
	size_t blank = 0;

	while (blank < n && text_is_space(detail[blank]))
		blank++;
	if (blank == n) {
		snprintf(why->ours, sizeof(why->ours), "%s", prefix);
		return;
	}
	snprintf(why->ours, sizeof(why->ours), "%s: ", prefix);
	why->text = detail;
	why->len = n;
	why->cap = DETAIL_CAP;
}

bool
classify_transfer(struct probe_result *r, CURLcode code, bool truncated,
		  const char *detail, int64_t timeout_ms, struct probe_reason *why)
{
	/* We cut the body off ourselves: the answer itself was fine. */
	if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && truncated)) {
		r->transport = PROBE_TRANSPORT_OK;
		return true;
	}
	/* A status line may have arrived before the failure, but without a
	 * whole answer the transport failure is the news. */
	r->http_status = 0;
	*why = (struct probe_reason){ .text = NULL };
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		r->transport = PROBE_TRANSPORT_TIMEOUT;
		snprintf(why->ours, sizeof(why->ours), "timeout after %" PRId64 " ms",
			 timeout_ms);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		r->transport = PROBE_TRANSPORT_DNS;
		set_reason(why, "DNS failure", detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_INITFAILED:
		r->transport = PROBE_TRANSPORT_TLS;
		set_reason(why, "TLS failure", detail);
		break;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		r->transport = PROBE_TRANSPORT_PROTOCOL;
		set_reason(why, "unparseable response", detail);
		break;
	default:
		/* Refused, reset, unreachable, closed early, and whatever
		 * else keeps an answer from arriving. */
		r->transport = PROBE_TRANSPORT_CONNECT;
		set_reason(why, "connection failed", detail);
		break;
	}
	return false;
}
