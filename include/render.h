#ifndef INCLUDE_RENDER_H
#define INCLUDE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"

/* Only render_info_init() reads the settings. */
struct settings;

/*
 * Turns a health snapshot into what the endpoints serve. Pure functions:
 * no clock reads (now_ms is passed in), no locks, no network.
 * Each returns a malloc'ed NUL-terminated body (caller frees) and its
 * length in *len (an allocation failure aborts, as everywhere: mem.h).
 */

struct render_info {
	const char *version;       /* intercom-healthd version */
	const char *api_url;       /* shown in /health, never the token */
	const char *region;
	int64_t stale_after_ms;
};

/* Fills info from s (borrowed: info points into it). */
void render_info_init(struct render_info *info, const struct settings *s);

/*
 * /health: {"status":..,"services":{"intercom":{"status","latencyMs",
 * "authenticated","rateLimitRemaining"?,"error"?, ...},
 * "statusPage"?:{..},"webhook"?:{..}},"timestamp":"...Z"}
 */
char *render_health_json(const struct health_snapshot *s,
			 const struct health_view *v,
			 const struct render_info *info, int64_t now_ms,
			 size_t *len);

/* /health with Accept: application/health+json (IETF health-check draft). */
char *render_health_ietf(const struct health_snapshot *s,
			 const struct health_view *v,
			 const struct render_info *info, int64_t now_ms,
			 size_t *len);

/* /metrics: Prometheus text format 0.0.4. */
char *render_metrics(const struct health_snapshot *s,
		     const struct health_view *v,
		     const struct render_info *info, size_t *len);

/*
 * /history: {"historySize":N,"recorded":N,"since"?:..,"probes":[{"at",
 * "state","rawState","latencyMs","httpStatus","rateLimitRemaining"?,
 * "rateLimitLimit"?,"error"?}],"transitions":[{"at","from","to",
 * "reason"}]}, oldest first. Its size is bounded by the history's
 * (HISTORY_JSON_MAX in history.h).
 */
char *render_history_json(const struct history *h, size_t *len);

#endif
