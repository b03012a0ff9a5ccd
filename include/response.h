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
 * Why an HTTP answer failed, from its body (at most RESPONSE_BODY_MAX
 * bytes; truncated says whether more was cut off), into *why, raw: the
 * body's own words are extracted, not reduced or redacted (that happens
 * once, in response_reason_show()):
 * - `{"type":"error.list","errors":[{"code":..,"message":"X"}]}` -> "X"
 *   (the code when the message is empty or missing),
 * - `{"type":"error","message":"X"}` -> "X",
 * - an HTML page -> "HTML error page" (with its <title> when found),
 * - empty -> "empty body", anything else -> "unparseable response".
 * A decoded JSON string is copied into scratch, which must hold len + 1
 * bytes so that nothing is cut before it is redacted (a decoded string is
 * never longer than its source); why->text points into scratch or body,
 * which must outlive *why.
 */
void response_error_reason(const char *body, size_t len, bool truncated,
			   char *scratch, size_t scratch_size,
			   struct probe_reason *why);

/*
 * The one place a reason becomes safe to show: our words, then the text
 * with every fragment of secret (may be NULL) masked, reduced to a
 * printable line and cut to why->cap (secret_printable()), then our words
 * after it; all of it cut to out_size (NUL-terminated when out_size > 0).
 * Masking comes before any reduction or cut, so neither can leave a piece
 * of the secret behind, and the text is never reduced twice.
 */
void response_reason_show(const struct probe_reason *why, const char *secret,
			  char *out, size_t out_size);

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
