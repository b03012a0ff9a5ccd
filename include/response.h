#ifndef INCLUDE_RESPONSE_H
#define INCLUDE_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "probe_result.h"

/*
 * Parsing what Intercom sends back: rate-limit and date headers, and error
 * bodies. Pure functions over bytes; no allocation beyond the call.
 */

/* How much of a response body the probe keeps: enough for any error.list,
 * small enough that a multi-megabyte answer costs nothing. */
#define RESPONSE_BODY_MAX 16384

/*
 * Feeds one raw header line (as curl's CURLOPT_HEADERFUNCTION gives it,
 * "Name: value\r\n", any case) into r: X-RateLimit-Limit, -Remaining,
 * -Reset, Retry-After (seconds or HTTP-date, relative to now_s) and Date.
 * Other lines, and values that are not numbers, are ignored.
 */
void response_parse_header(struct probe_result *r, const char *line,
			   size_t len, int64_t now_s);

/*
 * Writes into out a short, printable, single-line reason for an HTTP answer
 * from its body (at most RESPONSE_BODY_MAX bytes; truncated says whether
 * more was cut off). Any fragment of secret (may be NULL) in the text is
 * redacted before the text is cut to size, so no cut can leave a piece of
 * it behind:
 * - `{"type":"error.list","errors":[{"code":..,"message":"X"}]}` -> "X"
 *   (the code when the message is empty or missing),
 * - `{"type":"error","message":"X"}` -> "X",
 * - an HTML page -> "HTML error page" (with its <title> when found),
 * - empty -> "empty body", anything else -> "unparseable response".
 * For 2xx bodies the caller only uses this when it needs to (e.g. to say
 * a body was not JSON). Non-printable bytes never reach out.
 */
void response_error_reason(const char *body, size_t len, bool truncated,
			   const char *secret, char *out, size_t out_size);

/*
 * Returns the reason for a 2xx probe body, or NULL when it is a JSON
 * object (what /me answers) or, when truncated, the start of one.
 * Static string.
 */
const char *response_check_success_body(const char *body, size_t len,
					bool truncated);

/*
 * Reads a Statuspage status.json body: status.indicator into the return
 * value (PAGE_UNKNOWN when missing, not a string or not one of the four
 * known words) and status.description into description as a printable
 * line ("" when missing). Never reads past len; body needs no NUL.
 */
enum page_indicator response_parse_status_page(const char *body, size_t len,
					       char *description,
					       size_t description_size);

#endif
