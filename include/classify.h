#ifndef INCLUDE_CLASSIFY_H
#define INCLUDE_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "probe_result.h"

/* Ordered by severity: a larger value is worse. */
enum health_state {
	HEALTH_HEALTHY = 0,
	HEALTH_DEGRADED = 1,
	HEALTH_UNHEALTHY = 2,
};

struct classify_params {
	int64_t degraded_latency_ms;
	int rate_limit_low;        /* percent of the limit */
};

/* "healthy", "degraded", "unhealthy". */
const char *health_state_name(enum health_state state);

/*
 * Classifies one probe, row by row of the state table (README, "States"):
 * 2xx fast with quota -> healthy; 2xx slow or quota below rate_limit_low
 * percent -> degraded; 429 -> degraded; 401 -> unhealthy, unauthenticated;
 * other 4xx and 5xx -> unhealthy, authenticated; transport failure ->
 * unhealthy, unauthenticated. Sets *authenticated.
 */
enum health_state classify_probe(const struct probe_result *r,
				 const struct classify_params *p,
				 bool *authenticated);

/*
 * What curl's code for a finished transfer means, before any status or
 * body is looked at. truncated: our body callback stopped the transfer
 * (we keep a bounded prefix), which curl reports as CURLE_WRITE_ERROR but
 * is no failure. detail: curl's message for the failure (its error buffer,
 * else curl_easy_strerror()), as it is; timeout_ms: the limit the
 * transfer ran under.
 *
 * Returns true when an HTTP answer came: r->transport is
 * PROBE_TRANSPORT_OK, and the caller reads the status and body. Otherwise
 * r->transport is the failure's class (timeout, DNS, TLS, protocol,
 * connection), r->http_status 0, and *why the reason, raw: "<class>:
 * <detail>", the class alone for a blank detail, or "timeout after
 * <timeout_ms> ms". why->text points into detail.
 */
bool classify_transfer(struct probe_result *r, CURLcode code, bool truncated,
		       const char *detail, int64_t timeout_ms,
		       struct probe_reason *why);

/* Whether status is a 2xx. */
bool classify_is_2xx(long status);

/* Whether r is an HTTP answer with a 2xx status. */
bool classify_is_success(const struct probe_result *r);

/* Whether the quota in rl is below rate_limit_low percent of the limit
 * (strictly); false when either header is missing. */
bool classify_quota_low(const struct rate_limit *rl, int rate_limit_low);

/*
 * Writes the error text /health shows for r into out: "" for a healthy 2xx;
 * "<status>: <r->reason>" when there is a status ("401: Access Token
 * Invalid", "200: unparseable response"); r->reason alone for a transport
 * failure ("timeout after 5000 ms"); for a degraded 2xx, why:
 * "200: slow: 3400 ms (limit 3000 ms)", "200: rate limit low: 5 of 1000
 * remaining".
 */
void classify_error_text(const struct probe_result *r,
			 const struct classify_params *p,
			 char *out, size_t out_size);

#endif
