#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz-common.h"
#include "render.h"

const struct health_params fuzz_health_params = {
	.classify = { .degraded_latency_ms = 3000, .rate_limit_low = 10 },
	.failure_threshold = 1,
	.success_threshold = 1,
	.interval_ms = 15000,
	.timeout_ms = 5000,
	.stale_after_ms = 35000,
};

static const struct render_info fuzz_info = {
	.version = "0.0.0-fuzz",
	.api_url = "https://api.intercom.io",
	.region = "us",
	.stale_after_ms = 35000,
};

_Noreturn void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
fuzz_check_printable(const char *what, const char *buf, size_t size)
{
	const char *nul = memchr(buf, '\0', size);

	if (nul == NULL)
		fuzz_fail("%s: no NUL within its %zu bytes", what, size);
	for (const char *p = buf; p < nul; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			fuzz_fail("%s: byte 0x%02x at offset %zu is not printable"
				  " ASCII: \"%s\"", what, c, (size_t)(p - buf), buf);
	}
}

const char *
fuzz_find_fragment(const char *text, const char *secret, size_t min)
{
	size_t tlen = strlen(text), slen = strlen(secret);

	if (slen == 0)
		return NULL;
	if (min > slen)
		min = slen;
	/* Plain windows: every min-long piece of secret against every
	 * position of text. Slow and obviously right. */
	for (size_t s = 0; s + min <= slen; s++) {
		for (size_t t = 0; t + min <= tlen; t++) {
			if (memcmp(text + t, secret + s, min) == 0)
				return text + t;
		}
	}
	return NULL;
}

/* Aborts unless body[0..len) is well-formed UTF-8 (RFC 3629). */
static void
check_utf8(const char *what, const char *body, size_t len)
{
	const unsigned char *p = (const unsigned char *)body;
	const unsigned char *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			fuzz_fail("%s: invalid UTF-8 lead byte 0x%02x at %zu", what,
				  c, (size_t)(p - (const unsigned char *)body));
		}
		if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
			fuzz_fail("%s: invalid UTF-8 at %zu", what,
				  (size_t)(p - (const unsigned char *)body));
		for (size_t i = 2; i < n; i++) {
			if (p[i] < 0x80 || p[i] > 0xbf)
				fuzz_fail("%s: invalid UTF-8 at %zu", what,
					  (size_t)(p - (const unsigned char *)body));
		}
		p += n;
	}
}

static void
check_json_body(const char *what, const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *json;

	if (body == NULL)
		fuzz_fail("%s: NULL (out of memory?)", what);
	if (strlen(body) != len)
		fuzz_fail("%s: length %zu, but %zu bytes before the NUL", what,
			  len, strlen(body));
	check_utf8(what, body, len);
	json = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (json == NULL || !cJSON_IsObject(json))
		fuzz_fail("%s: not a JSON object: %s", what, body);
	if (end != body + len)
		fuzz_fail("%s: trailing bytes after the JSON object: %s", what,
			  body);
	cJSON_Delete(json);
}

static bool
is_metric_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

/* Each line a comment or `name{labels} value`, the value a number. */
static void
check_metrics_body(const char *body, size_t len)
{
	const char *line = body, *end = body + len;

	if (body == NULL)
		fuzz_fail("/metrics: NULL (out of memory?)");
	if (strlen(body) != len)
		fuzz_fail("/metrics: length %zu, but %zu bytes before the NUL",
			  len, strlen(body));
	if (len == 0 || body[len - 1] != '\n')
		fuzz_fail("/metrics: does not end in a newline");
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = (size_t)(nl - line);
		char value[64];
		char *stop;

		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)line[i];
			if (c < 0x20 || c > 0x7e)
				fuzz_fail("/metrics: byte 0x%02x in line \"%.*s\"", c,
					  (int)n, line);
		}
		if (n > 0 && line[0] != '#') {
			const char *space = NULL;

			size_t name_len = 0;

			while (name_len < n &&
			       is_metric_name_char(line[name_len], name_len == 0))
				name_len++;
			if (name_len == 0 || name_len == n ||
			    (line[name_len] != '{' && line[name_len] != ' '))
				fuzz_fail("/metrics: bad sample line \"%.*s\"", (int)n, line);
			for (size_t i = n; i > 0; i--) {
				if (line[i - 1] == ' ') {
					space = line + i - 1;
					break;
				}
			}
			if (space == NULL || (size_t)(nl - space - 1) >= sizeof(value))
				fuzz_fail("/metrics: no value in \"%.*s\"", (int)n, line);
			memcpy(value, space + 1, (size_t)(nl - space - 1));
			value[nl - space - 1] = '\0';
			strtod(value, &stop);
			if (value[0] == '\0' || *stop != '\0')
				fuzz_fail("/metrics: value \"%s\" is not a number in"
					  " \"%.*s\"", value, (int)n, line);
		}
		line = nl + 1;
	}
}

void
fuzz_check_render(const struct health_snapshot *s, int64_t now_mono_ms)
{
	struct health_view v;
	size_t len = 0;
	char *body;

	health_view(s, now_mono_ms, &v);
	if (v.error == NULL)
		fuzz_fail("health_view: NULL error");
	fuzz_check_printable("health_view error", v.error, strlen(v.error) + 1);

	body = render_health_json(s, &v, &fuzz_info, FUZZ_NOW_MS, &len);
	check_json_body("/health", body, len);
	free(body);

	body = render_health_ietf(s, &v, &fuzz_info, FUZZ_NOW_MS, &len);
	check_json_body("/health (health+json)", body, len);
	free(body);

	body = render_metrics(s, &v, &fuzz_info, &len);
	check_metrics_body(body, len);
	free(body);
}
