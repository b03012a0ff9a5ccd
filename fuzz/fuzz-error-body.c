/*
 * Error bodies: the input is what Intercom, or a proxy in front of it,
 * answered. response_error_reason() must write one printable line that
 * fits the buffer and never quotes (a fragment of) the token it is told
 * to redact; response_check_success_body() must return NULL or one
 * printable line; secret_printable() (which must
 * not leave a piece of the token either) and text_printable_str() must
 * keep within their buffers and print plain ASCII too.
 *
 * Each input runs through every buffer size of interest, truncated or
 * not, so one corpus covers the cutting code as well.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "probe_result.h"
#include "response.h"
#include "secret.h"
#include "text.h"

/* 1: only the NUL fits. 4: the ellipsis barely does. 48: shorter than
 * most reasons. PROBE_ERROR_MAX: what the probe passes. 1024: more than
 * any cap. */
static const size_t out_sizes[] = { 1, 4, 48, PROBE_ERROR_MAX, 1024 };

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

static void
check_no_token(const char *what, const char *text)
{
	const char *at = fuzz_find_fragment(text, FUZZ_TOKEN, SECRET_FRAGMENT_MIN);

	if (at != NULL)
		fuzz_fail("%s quotes part of the token at offset %zu: \"%s\"",
			  what, (size_t)(at - text), text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;

	for (int truncated = 0; truncated <= 1; truncated++) {
		const char *why = response_check_success_body(body, size, truncated);

		if (why != NULL)
			fuzz_check_printable("response_check_success_body()", why,
					     strlen(why) + 1);

		for (size_t i = 0; i < sizeof(out_sizes) / sizeof(out_sizes[0]); i++) {
			/* Exactly out_size bytes, so ASan sees one too many. */
			size_t out_size = out_sizes[i];
			char *out = malloc(out_size);

			if (out == NULL)
				return 0;
			memset(out, 'X', out_size);
			error_reason(body, size, truncated, FUZZ_TOKEN, out,
					      out_size);
			fuzz_check_printable("response_error_reason()", out, out_size);
			check_no_token("response_error_reason()", out);
			if (out_size >= 4 && out[0] == '\0')
				fuzz_fail("response_error_reason(): empty reason");

			/* No secret given: still one printable line. */
			memset(out, 'X', out_size);
			error_reason(body, size, truncated, NULL, out,
					      out_size);
			fuzz_check_printable("response_error_reason(NULL secret)",
					     out, out_size);
			free(out);
		}
	}

	for (size_t i = 0; i < sizeof(out_sizes) / sizeof(out_sizes[0]); i++) {
		size_t out_size = out_sizes[i];
		char *out = malloc(out_size);

		if (out == NULL)
			return 0;
		/* The raw bytes, NULs and all, redacted and then cut. */
		memset(out, 'X', out_size);
		secret_printable(out, out_size, body, size, SIZE_MAX, FUZZ_TOKEN);
		fuzz_check_printable("secret_printable()", out, out_size);
		check_no_token("secret_printable()", out);
		free(out);
	}

	/* text_printable_str() takes a NUL-terminated text. */
	char *text = malloc(size + 1);
	char line[PROBE_ERROR_MAX];

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	text_printable_str(line, sizeof(line), text);
	fuzz_check_printable("text_printable_str()", line, sizeof(line));
	free(text);
	return 0;
}
