#ifndef INCLUDE_TEXT_H
#define INCLUDE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Untrusted text: whatever a server, curl or a status page sent, reduced
 * once where it enters (request_complete(), through secret_printable()) to
 * a printable line, and the escapes every output format needs on the way
 * out. Pure functions over (pointer, length); no allocation but
 * text_show()'s result. Secrets are not this module's business: text that
 * may echo one is masked first (secret.h).
 */

/* The ASCII whitespace text_printable() folds: space, \t, \n, \v, \f, \r. */
bool text_is_space(char c);

/*
 * Copies src[0..n) into dst as one printable ASCII line (0x20..0x7e) of
 * at most min(size - 1, cap) characters: whitespace runs become one space,
 * leading and trailing whitespace go, each other control byte and each
 * non-ASCII character (a UTF-8 sequence counts once) becomes '?'. When
 * the text does not fit it ends in "...".
 *
 * Text that may carry a secret goes through secret_printable() instead,
 * which masks it before calling this.
 *
 * NUL-terminates when size > 0. Returns the length written.
 */
size_t text_printable(char *dst, size_t size, const char *src, size_t n,
		      size_t cap);

/* text_printable() of the NUL-terminated src: no cap but size. */
size_t text_printable_str(char *dst, size_t size, const char *src);

/* Every Intercom access token starts with this (base64 of "tok:"):
 * text_show() never copies a value that does. */
#define TEXT_TOKEN_PREFIX "dG9rO"

/* Paths are shown in errors (they are not secrets) up to this length. */
#define TEXT_SHOW_PATH_MAX 256

/*
 * A copy of text[0..len) for an error message, kept on one line: control
 * and non-ASCII bytes become \xNN, and with quotes, '"' and '\' are
 * escaped. Text longer than max, or shaped like an access token, is not
 * copied at all but described ("a value of 60 characters"): an error must
 * never echo a pasted token, whole or in part. Caller frees.
 */
char *text_show(const char *text, size_t len, bool quotes, size_t max);

/* The most one source byte grows under the escapes below ("\u00XX"). */
#define TEXT_ESCAPE_MAX 6

/*
 * The escapes work as a stream, so that a caller can write straight into
 * a fixed line (log.c) or a growable body (render.c): each takes text
 * from *src (*n bytes), writes whole escapes only into dst (size bytes,
 * always NUL-terminated when size > 0), advances *src and lowers *n by
 * what it took, and returns the length written. A dst of more than
 * TEXT_ESCAPE_MAX bytes always takes at least one byte of text.
 */

/*
 * The inside of a JSON string: \" and \\; \b \f \n \r \t; other control
 * bytes and DEL as \u00XX. Well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF) passes through and any other byte
 * becomes \ufffd, so the result is valid JSON in valid UTF-8 whatever the
 * text: log lines and the configured api_url may carry any bytes.
 */
size_t text_json_escape(char *dst, size_t size, const char **src, size_t *n);

/* A Prometheus text-format label value: \\, \" and \n; the rest as it is. */
size_t text_prom_label_escape(char *dst, size_t size, const char **src,
			      size_t *n);

/* What a URL's userinfo becomes wherever the URL is shown. */
#define TEXT_URL_MASK "***"

/*
 * url as it may be shown: the userinfo of its authority ("user:password"
 * before the last '@' ahead of the path, query or fragment) replaced by
 * TEXT_URL_MASK. Not the secrets secret.c guards, but credentials all the
 * same, and what shows a URL (logs, /health, the status page, preflight)
 * travels far. Returns url itself when it has no userinfo, else buf,
 * which must hold strlen(url) + sizeof(TEXT_URL_MASK) bytes for the whole
 * URL (a shorter one cuts its end, never into the mask). NULL gives NULL.
 */
const char *text_url_masked(const char *url, char *buf, size_t size);

/* The same as a heap copy (caller frees; aborts on out of memory), for
 * messages built with printf; NULL gives NULL. */
char *text_url_shown(const char *url);

#endif
