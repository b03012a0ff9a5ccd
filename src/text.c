#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "text.h"

bool
text_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	       c == '\f' || c == '\v';
}

/* ---- printable reduction ---- */

size_t
text_printable(char *dst, size_t size, const char *src, size_t n, size_t cap)
{
	size_t limit, pos = 0;
	bool pending_space = false, cut = false;

	if (size == 0)
		return 0;
	limit = size - 1 < cap ? size - 1 : cap;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char outc;

		if (text_is_space((char)c)) {
			pending_space = pos > 0;
			continue;
		}
		if (c >= 0x80) {
			/* Continuation bytes of a UTF-8 sequence: the lead
			 * byte already stood for the whole character. */
			if (c < 0xc0 && i > 0 &&
			    (unsigned char)src[i - 1] >= 0x80)
				continue;
			outc = '?';
		} else if (c < 0x20 || c == 0x7f) {
			outc = '?';
		} else {
			outc = (char)c;
		}
		if (pos + (pending_space ? 1 : 0) + 1 > limit) {
			cut = true;
			break;
		}
		if (pending_space)
			dst[pos++] = ' ';
		pending_space = false;
		dst[pos++] = outc;
	}

	if (cut) {
		/* Make room for the ellipsis when there is room at all. */
		if (limit >= 4) {
			pos = pos > limit - 3 ? limit - 3 : pos;
			while (pos > 0 && dst[pos - 1] == ' ')
				pos--;
			memcpy(dst + pos, "...", 3);
			pos += 3;
		}
	}
	dst[pos] = '\0';
	return pos;
}

size_t
text_printable_str(char *dst, size_t size, const char *src)
{
	return text_printable(dst, size, src, strlen(src), SIZE_MAX);
}

/* ---- escapes ---- */

/*
 * The driver both escapes share (see text.h). unit writes the escape of
 * the character at p (n > 0 bytes left) into out, returns its length and
 * sets *used to how many bytes of p it stands for.
 */
static size_t
escape(char *dst, size_t size, const char **src, size_t *n,
       size_t (*unit)(const unsigned char *p, size_t n, char *out,
		      size_t *used))
{
	size_t pos = 0;

	if (size == 0)
		return 0;
	while (*n > 0) {
		char out[TEXT_ESCAPE_MAX];
		size_t used;
		size_t len = unit((const unsigned char *)*src, *n, out, &used);

		if (len > size - 1 - pos)
			break;
		memcpy(dst + pos, out, len);
		pos += len;
		*src += used;
		*n -= used;
	}
	dst[pos] = '\0';
	return pos;
}

static size_t
backslash(char *out, char c)
{
	out[0] = '\\';
	out[1] = c;
	return 2;
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when there is none.
 * Never reads past p[n - 1].
 */
static size_t
utf8_sequence_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */

	if (c < 0xc2)
		return 0;
	else if (c < 0xe0)
		len = 2;
	else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;

	if (n < len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

static size_t
json_unit(const unsigned char *p, size_t n, char *out, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c = p[0];
	size_t len;

	*used = 1;
	switch (c) {
	case '"':  return backslash(out, '"');
	case '\\': return backslash(out, '\\');
	case '\n': return backslash(out, 'n');
	case '\r': return backslash(out, 'r');
	case '\t': return backslash(out, 't');
	case '\b': return backslash(out, 'b');
	case '\f': return backslash(out, 'f');
	default:
		break;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x80) {   /* other controls and DEL */
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 0xf];
		return 6;
	}
	len = utf8_sequence_len(p, n);
	if (len == 0) {
		memcpy(out, "\\ufffd", 6);
		return 6;
	}
	memcpy(out, p, len);
	*used = len;
	return len;
}

size_t
text_json_escape(char *dst, size_t size, const char **src, size_t *n)
{
	return escape(dst, size, src, n, json_unit);
}

static size_t
prom_label_unit(const unsigned char *p, size_t n, char *out, size_t *used)
{
	*used = 1;
	switch (p[0]) {
	case '\\': return backslash(out, '\\');
	case '"':  return backslash(out, '"');
	case '\n': return backslash(out, 'n');
	default:
		break;
	}
	out[0] = (char)p[0];
	return 1;
}

size_t
text_prom_label_escape(char *dst, size_t size, const char **src, size_t *n)
{
	return escape(dst, size, src, n, prom_label_unit);
}

/* ---- error messages ---- */

char *
text_show(const char *text, size_t len, bool quotes, size_t max)
{
	size_t plen = sizeof(TEXT_TOKEN_PREFIX) - 1;
	if (len > max || (len >= plen && strncmp(text, TEXT_TOKEN_PREFIX, plen) == 0))
		return xasprintf("(a value of %zu characters, not shown)", len);
	char *out = xmalloc(len * 4 + 3);
	char *o = out;
	if (quotes)
		*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c >= 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			if (quotes && (c == '"' || c == '\\'))
				*o++ = '\\';
			*o++ = (char)c;
		}
	}
	if (quotes)
		*o++ = '"';
	*o = '\0';
	return out;
}

/* ---- URLs ---- */

const char *
text_url_masked(const char *url, char *buf, size_t size)
{
	if (!url)
		return NULL;
	const char *rest = strstr(url, "://");
	if (!rest)
		return url;
	rest += 3;
	const char *end = rest + strcspn(rest, "/?#");
	const char *at = NULL;
	for (const char *p = rest; p < end; p++) {
		if (*p == '@')
			at = p;
	}
	if (!at)
		return url;
	snprintf(buf, size, "%.*s" TEXT_URL_MASK "%s", (int)(rest - url), url, at);
	return buf;
}

char *
text_url_shown(const char *url)
{
	if (!url)
		return NULL;
	size_t size = strlen(url) + sizeof(TEXT_URL_MASK);
	char *buf = xmalloc(size);
	const char *shown = text_url_masked(url, buf, size);
	if (shown != buf)
		memcpy(buf, url, strlen(url) + 1);
	return buf;
}
