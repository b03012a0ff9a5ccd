#ifndef INCLUDE_PAGE_H
#define INCLUDE_PAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "health.h"
#include "history.h"

/*
 * The status page served at `/`: one self-contained HTML document (inline
 * CSS and SVG, no script, nothing fetched) that a person reads during an
 * incident, in a browser or in `lynx -dump`. A pure function, like
 * render.h's: no clock reads, no locks, no network.
 */

/* The charts' drawing area, in SVG user units. */
#define PAGE_CHART_WIDTH 720
#define PAGE_CHART_HEIGHT 120
#define PAGE_BAND_HEIGHT 24
/* More probes than this are drawn in buckets of several: the worst state
 * and the highest latency of each, so an outage never falls between two
 * points. */
#define PAGE_MAX_POINTS 720

struct page_info {
	const char *version;       /* intercom-healthd version */
	const char *api_url;       /* shown; never the token */
	int64_t interval_ms;       /* the page reloads itself this often */
};

/*
 * The page for snapshot s seen as v (health_view()), with the history h
 * (NULL: none kept), rendered at now_ms. Every string from outside
 * (Intercom's reasons, the status page's description, api_url) is
 * escaped for HTML. Returns a malloc'ed body (caller frees), its length
 * in *len.
 */
char *page_render(const struct health_snapshot *s, const struct health_view *v,
		  const struct history *h, const struct page_info *info,
		  int64_t now_ms, size_t *len);

/* Writes s[0..strnlen(s, max)) to f with & < > " ' as character
 * references and any byte outside printable ASCII as '?'. */
void page_html_escape(FILE *f, const char *s, size_t max);

/* The latency chart's top, in ms: max_ms rounded up to 1, 2 or 5 times a
 * power of ten, at least 100. */
int64_t page_latency_scale(int64_t max_ms);

#endif
