/*
 * Rate-limit, Retry-After and Date handling: the input is an HTTP answer
 * as the probe sees it. Each line up to the first empty one goes, with
 * its line ending and without a NUL, to response_parse_header() the way
 * curl's header callback hands it over; the rest is the body, which gives
 * the reason. The probe result then goes through health_backoff_ms(),
 * the state tracker and the three renderers.
 *
 * Two pseudo-headers, never passed on, vary what a real answer cannot:
 *   @now <seconds>     the local clock (default FUZZ_NOW_MS)
 *   @status <code>     the HTTP status (default 429)
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "health.h"
#include "response.h"

/* Reads "@name <integer>" into *out; false when line is not that. */
/* An error body's reason as request_complete() shows it: the raw words
 * gathered (scratch of exactly the size asked for), then made safe once. */
static void
error_reason(const char *body, size_t n, bool truncated, const char *secret,
	     char *o, size_t o_size)
{
	char *scratch = malloc(n + 1);
	struct probe_reason why;

	if (scratch == NULL)
		abort();
	response_error_reason(body, n, truncated, scratch, n + 1, &why);
	response_reason_show(&why, secret, o, o_size);
	free(scratch);
}

static bool
pseudo_header(const char *line, size_t len, const char *name, int64_t *out)
{
	size_t n = strlen(name);
	char digits[24];
	size_t i = n, k = 0;
	bool negative = false;
	int64_t v = 0;

	if (len < n || memcmp(line, name, n) != 0)
		return false;
	while (i < len && line[i] == ' ')
		i++;
	if (i < len && line[i] == '-') {
		negative = true;
		i++;
	}
	for (; i < len && line[i] >= '0' && line[i] <= '9' && k < 18; i++)
		digits[k++] = line[i];
	digits[k] = '\0';
	for (size_t j = 0; j < k; j++)
		v = v * 10 + (digits[j] - '0');
	*out = negative ? -v : v;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size, *line = in;
	int64_t now_s = FUZZ_NOW_MS / 1000, status = 429, v;
	struct probe_result r;
	struct health_snapshot snap;
	int64_t wait_ms, now_ms;

	memset(&r, 0, sizeof(r));
	r.retry_after_s = -1;
	r.server_date_s = -1;
	r.transport = PROBE_TRANSPORT_OK;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = nl != NULL ? (size_t)(nl - line) + 1 : (size_t)(end - line);
		char *copy;

		if ((len == 1 && line[0] == '\n') ||
		    (len == 2 && line[0] == '\r' && line[1] == '\n')) {
			line += len;
			break;
		}
		if (pseudo_header(line, len, "@now", &v)) {
			now_s = v;
		} else if (pseudo_header(line, len, "@status", &v)) {
			status = v;
		} else {
			/* Its own allocation, exactly len bytes and no NUL:
			 * curl promises neither, and ASan sees an over-read. */
			copy = malloc(len ? len : 1);
			if (copy == NULL)
				return 0;
			memcpy(copy, line, len);
			response_parse_header(&r, copy, len, now_s);
			free(copy);
		}
		line += len;
	}
	r.http_status = (long)status;

	if (r.retry_after_s < -1 || r.server_date_s < -1)
		fuzz_fail("retry_after_s %lld, server_date_s %lld: below -1",
			  (long long)r.retry_after_s, (long long)r.server_date_s);
	if ((r.rate_limit.has_limit && r.rate_limit.limit < 0) ||
	    (r.rate_limit.has_remaining && r.rate_limit.remaining < 0) ||
	    (r.rate_limit.has_reset && r.rate_limit.reset < 0))
		fuzz_fail("negative rate-limit figure");

	/* What request_complete() does with a non-2xx body. */
	if (status < 200 || status > 299) {
		error_reason(line, (size_t)(end - line), false, FUZZ_TOKEN,
				      r.reason, sizeof(r.reason));
		fuzz_check_printable("reason", r.reason, sizeof(r.reason));
	}

	now_ms = now_s > INT64_MAX / 1000 ? INT64_MAX :
		 now_s < INT64_MIN / 1000 ? INT64_MIN : now_s * 1000;
	wait_ms = health_backoff_ms(&r, now_ms);
	if (wait_ms < 0 || wait_ms > HEALTH_BACKOFF_MAX_MS)
		fuzz_fail("health_backoff_ms() = %lld, outside 0..%d",
			  (long long)wait_ms, HEALTH_BACKOFF_MAX_MS);
	if (status != 429 && wait_ms != 0)
		fuzz_fail("health_backoff_ms() = %lld for a %lld", (long long)wait_ms,
			  (long long)status);

	/* The probe worker's bookkeeping, then what the endpoints serve. */
	r.started_ms = FUZZ_NOW_MS - 142;
	r.finished_ms = FUZZ_NOW_MS;
	r.finished_mono_ms = 1000000;
	r.latency_ms = 142;
	health_init(&snap, &fuzz_health_params, FUZZ_NOW_MS - 60000, 1000000 - 60000);
	health_record_probe(&snap, &fuzz_health_params, &r);
	fuzz_check_printable("snapshot error", snap.error, sizeof(snap.error));
	health_schedule(&snap, &fuzz_health_params,
			FUZZ_NOW_MS + (wait_ms ? wait_ms : 15000),
			r.finished_mono_ms + (wait_ms ? wait_ms : 15000), wait_ms > 0);
	fuzz_check_render(&snap, r.finished_mono_ms + 1);
	return 0;
}
