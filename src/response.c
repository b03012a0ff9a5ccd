#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "response.h"
#include "secret.h"
#include "text.h"

/*
 * Longest reason this module writes, whatever out_size the caller offers:
 * the reason ends up in /health, in log lines and in a monitoring plugin's
 * one-line output, where an HTML page or a chatty proxy must not take over.
 */
#define REASON_CAP 160
/* A <title> gets less: "HTML error page (...)" must still fit in the cap. */
#define TITLE_CAP 80
/* A document's type, when it has no message: "<type> without a message". */
#define TYPE_CAP 47
/* HTML markers are only looked for near the start of a body. */
#define HTML_SNIFF_LEN 1024
/* Longest header value worth handing to curl_getdate(). */
#define DATE_VALUE_MAX 128
/* 9999-12-31T23:59:59Z. A later X-RateLimit-Reset is garbage, and keeping
 * it would overflow the millisecond arithmetic of every reader. */
#define RESET_MAX_S INT64_C(253402300799)

/* ---- byte helpers: everything here works on (pointer, length) ---- */

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Does s[0..n) equal the lowercase word, ignoring ASCII case? */
static bool
equals_nocase(const char *s, size_t n, const char *word)
{
	size_t wn = strlen(word);

	if (n != wn)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(s[i]) != word[i])
			return false;
	}
	return true;
}

static bool
starts_with_nocase(const char *s, size_t n, const char *word)
{
	size_t wn = strlen(word);

	return n >= wn && equals_nocase(s, wn, word);
}

/* First occurrence of the lowercase needle in hay[0..n), ignoring case. */
static const char *
find_nocase(const char *hay, size_t n, const char *needle)
{
	size_t nn = strlen(needle);

	if (nn == 0 || nn > n)
		return NULL;
	for (size_t i = 0; i + nn <= n; i++) {
		if (equals_nocase(hay + i, nn, needle))
			return hay + i;
	}
	return NULL;
}

/* Skips whitespace and a UTF-8 byte order mark at the start. */
static size_t
skip_leading_space(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 3 && (unsigned char)s[0] == 0xef &&
	    (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf)
		i = 3;
	while (i < n && text_is_space(s[i]))
		i++;
	return i;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && text_is_space((*s)[0])) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && text_is_space((*s)[*n - 1]))
		(*n)--;
}

/* Copies a NUL-terminated, already printable text into out, cut to fit. */
static void
put(char *out, size_t out_size, const char *text)
{
	size_t n;

	if (out == NULL || out_size == 0)
		return;
	n = strlen(text);
	if (n > out_size - 1)
		n = out_size - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

/* ---- headers ---- */

/*
 * Strict non-negative decimal: digits only, at least one, no sign, no
 * overflow. "-5", "12abc", "" and "99999999999999999999" are all rejected:
 * a wrong quota figure would mark the service degraded (or hide that it is).
 */
static bool
parse_uint(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* An HTTP-date (any of the three formats RFC 9110 allows), or -1. */
static int64_t
parse_http_date(const char *s, size_t n)
{
	char buf[DATE_VALUE_MAX];
	time_t t;

	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	t = curl_getdate(buf, NULL);
	/* -1 is also 1969-12-31 23:59:59, which no server means. */
	return t < 0 ? -1 : (int64_t)t;
}

/*
 * Forgets what earlier responses of this transfer said: curl passes the
 * headers of a 100 Continue, of each redirect and of a proxy's CONNECT
 * answer through the same callback, and only the final response counts.
 */
static void
reset_headers(struct probe_result *r)
{
	memset(&r->rate_limit, 0, sizeof(r->rate_limit));
	r->retry_after_s = -1;
	r->server_date_s = -1;
}

void
response_parse_header(struct probe_result *r, const char *line,
		      size_t len, int64_t now_s)
{
	const char *colon, *name, *value;
	size_t name_len, value_len;
	int64_t v;

	if (r == NULL || line == NULL)
		return;

	if (starts_with_nocase(line, len, "http/")) {
		reset_headers(r);
		return;
	}

	colon = memchr(line, ':', len);
	if (colon == NULL)
		return;
	name = line;
	name_len = (size_t)(colon - line);
	value = colon + 1;
	value_len = len - name_len - 1;
	trim(&name, &name_len);
	trim(&value, &value_len);

	if (equals_nocase(name, name_len, "x-ratelimit-limit")) {
		if (parse_uint(value, value_len, &v)) {
			r->rate_limit.limit = v;
			r->rate_limit.has_limit = true;
		}
	} else if (equals_nocase(name, name_len, "x-ratelimit-remaining")) {
		if (parse_uint(value, value_len, &v)) {
			r->rate_limit.remaining = v;
			r->rate_limit.has_remaining = true;
		}
	} else if (equals_nocase(name, name_len, "x-ratelimit-reset")) {
		if (parse_uint(value, value_len, &v) && v <= RESET_MAX_S) {
			r->rate_limit.reset = v;
			r->rate_limit.has_reset = true;
		}
	} else if (equals_nocase(name, name_len, "retry-after")) {
		if (parse_uint(value, value_len, &v)) {
			r->retry_after_s = v;
		} else if ((v = parse_http_date(value, value_len)) >= 0) {
			/* A date in the past, or a server clock behind ours,
			 * means "now", never a negative wait that a client
			 * would read as "wait forever" or "no wait".
			 * Subtract without overflow. */
			if (v <= now_s)
				r->retry_after_s = 0;
			else if (now_s < 0 && v > INT64_MAX + now_s)
				r->retry_after_s = INT64_MAX;
			else
				r->retry_after_s = v - now_s;
		}
	} else if (equals_nocase(name, name_len, "date")) {
		if ((v = parse_http_date(value, value_len)) >= 0)
			r->server_date_s = v;
	}
}

/* ---- bodies ---- */

/* Does the body look like HTML rather than JSON or plain text? */
static bool
looks_like_html(const char *body, size_t len)
{
	size_t start = skip_leading_space(body, len);
	size_t sniff = len < HTML_SNIFF_LEN ? len : HTML_SNIFF_LEN;

	if (start < len && body[start] == '<')
		return true;
	/* JSON whose message happens to mention <html> is still JSON. */
	if (start < len && (body[start] == '{' || body[start] == '['))
		return false;
	return find_nocase(body, sniff, "<!doctype html") != NULL ||
	       find_nocase(body, sniff, "<html") != NULL;
}

/*
 * The raw text of the page's first <title> (into *text, *n), false when
 * there is none or it is blank. The title is searched in the whole kept
 * body: a gateway's 504 page keeps it in <head>, well inside
 * RESPONSE_BODY_MAX.
 */
static bool
html_title(const char *body, size_t len, const char **text, size_t *n)
{
	const char *p, *end = body + len, *start, *close;
	size_t rest;

	for (p = body;
	     (p = find_nocase(p, (size_t)(end - p), "<title")) != NULL;
	     p += 6) {
		/* "<title>" or "<title lang=..>", not "<titlebar>". */
		if (p + 6 < end && (p[6] == '>' || text_is_space(p[6])))
			break;
	}
	if (p == NULL)
		return false;
	start = memchr(p, '>', (size_t)(end - p));
	if (start == NULL)
		return false;
	start++;
	rest = (size_t)(end - start);
	close = memchr(start, '<', rest);
	*text = start;
	*n = close != NULL ? (size_t)(close - start) : rest;
	return skip_leading_space(*text, *n) < *n;
}

/*
 * Parses body as JSON: NULL when it is not JSON. With strict, only
 * whitespace may follow the value (a 2xx body must be exactly one
 * document); without, whatever follows is ignored, since the point is to
 * salvage an error message. Caller frees with cJSON_Delete().
 */
static cJSON *
parse_json(const char *body, size_t len, bool strict)
{
	const char *end = NULL;
	cJSON *json;

	if (len == 0)
		return NULL;
	/* cJSON stops at the length given: the body needs no NUL. */
	json = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (json == NULL || !strict)
		return json;
	if (end != NULL && end >= body && end <= body + len) {
		size_t done = (size_t)(end - body);

		while (done < len && text_is_space(body[done]))
			done++;
		if (done == len)
			return json;
	}
	cJSON_Delete(json);
	return NULL;
}

/* The member's string value, or NULL when missing, not a string, or
 * blank. */
static const char *
nonblank_string(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	const char *s;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return NULL;
	for (s = item->valuestring; *s; s++) {
		if (!text_is_space(*s))
			return item->valuestring;
	}
	return NULL;
}

/* errors[0] when it is an object, else NULL. */
static const cJSON *
first_error(const cJSON *json)
{
	const cJSON *errors = cJSON_GetObjectItemCaseSensitive(json, "errors");
	const cJSON *first;

	if (!cJSON_IsArray(errors))
		return NULL;
	first = cJSON_GetArrayItem(errors, 0);
	return cJSON_IsObject(first) ? first : NULL;
}

/* Our words alone. */
static void
ours(struct probe_reason *why, const char *words)
{
	*why = (struct probe_reason){ .text = NULL };
	snprintf(why->ours, sizeof(why->ours), "%s", words);
}

/* Their words s (NUL-terminated, owned by a cJSON tree), copied into
 * scratch: whole, when scratch is as large as response_error_reason()
 * asks. */
static void
theirs(struct probe_reason *why, const char *s, size_t cap, char *scratch,
       size_t scratch_size)
{
	size_t n = strlen(s);

	if (n > scratch_size)
		n = scratch_size;
	memcpy(scratch, s, n);
	why->text = scratch;
	why->len = n;
	why->cap = cap;
}

/*
 * The reason from a parsed JSON document: errors[0].message, else
 * errors[0].code, else a top-level message (the
 * `{"type":"error","message":..}` shape), else an OAuth-style
 * error_description or error, else a note of what the document was.
 */
static void
json_reason(const cJSON *json, char *scratch, size_t scratch_size,
	    struct probe_reason *why)
{
	const cJSON *err;
	const char *text = NULL, *type;

	if (!cJSON_IsObject(json)) {
		ours(why, "JSON without an error message");
		return;
	}
	err = first_error(json);
	if (err != NULL) {
		text = nonblank_string(err, "message");
		if (text == NULL)
			text = nonblank_string(err, "code");
	}
	if (text == NULL)
		text = nonblank_string(json, "message");
	if (text == NULL)
		text = nonblank_string(json, "error_description");
	if (text == NULL)
		text = nonblank_string(json, "error");
	if (text != NULL) {
		ours(why, "");
		theirs(why, text, REASON_CAP, scratch, scratch_size);
		return;
	}

	type = nonblank_string(json, "type");
	if (type != NULL) {
		ours(why, "");
		theirs(why, type, TYPE_CAP, scratch, scratch_size);
		why->after = " without a message";
	} else {
		ours(why, "JSON without an error message");
	}
}

void
response_error_reason(const char *body, size_t len, bool truncated,
		      char *scratch, size_t scratch_size,
		      struct probe_reason *why)
{
	cJSON *json;

	if (body == NULL)
		len = 0;

	if (skip_leading_space(body, len) == len) {
		ours(why, "empty body");
		return;
	}

	if (looks_like_html(body, len)) {
		const char *title;
		size_t n;

		if (html_title(body, len, &title, &n)) {
			ours(why, "HTML error page (");
			why->text = title;
			why->len = n;
			why->cap = TITLE_CAP;
			why->after = ")";
		} else {
			ours(why, "HTML error page");
		}
		return;
	}

	json = parse_json(body, len, false);
	if (json != NULL) {
		json_reason(json, scratch, scratch_size, why);
		cJSON_Delete(json);
	} else if (truncated) {
		ours(why, "");
		snprintf(why->ours, sizeof(why->ours),
			 "unparseable response (truncated at %zu bytes)", len);
	} else {
		ours(why, "unparseable response");
	}
}

void
response_reason_show(const struct probe_reason *why, const char *secret,
		     char *out, size_t out_size)
{
	char text[PROBE_ERROR_MAX];
	char whole[sizeof(why->ours) + sizeof(text) + 32];

	if (out == NULL || out_size == 0)
		return;
	text[0] = '\0';
	if (why->text != NULL)
		secret_printable(text, sizeof(text), why->text, why->len,
				 why->cap, secret);
	snprintf(whole, sizeof(whole), "%s%s%s", why->ours, text,
		 why->after ? why->after : "");
	/* Every piece is safe already: this cut is only to out's size. */
	put(out, out_size, whole);
}

const char *
response_check_success_body(const char *body, size_t len, bool truncated)
{
	cJSON *json;
	bool object;

	if (body == NULL)
		len = 0;
	if (skip_leading_space(body, len) == len)
		return "empty body";
	if (looks_like_html(body, len))
		return "HTML page instead of JSON";

	json = parse_json(body, len, true);
	if (json == NULL && truncated) {
		/* We stopped reading, not the server: a success larger than we
		 * keep (GET /admins grows with the team) is a large object, so
		 * the prefix of one is as good as the whole. */
		return body[skip_leading_space(body, len)] == '{' ?
			       NULL : "truncated response";
	}
	if (json == NULL)
		return "unparseable response";
	object = cJSON_IsObject(json);
	cJSON_Delete(json);
	/* /me answers an object; a bare string or array is some other
	 * service answering on the API's address. */
	return object ? NULL : "JSON body is not an object";
}

enum page_indicator
response_parse_status_page(const char *body, size_t len, char *description,
			   size_t description_size)
{
	static const struct {
		const char *name;
		enum page_indicator indicator;
	} names[] = {
		{ "none", PAGE_NONE },
		{ "minor", PAGE_MINOR },
		{ "major", PAGE_MAJOR },
		{ "critical", PAGE_CRITICAL },
	};
	enum page_indicator indicator = PAGE_UNKNOWN;
	const cJSON *status, *item;
	cJSON *root;

	if (description_size > 0)
		description[0] = '\0';
	root = parse_json(body, body ? len : 0, false);
	status = cJSON_GetObjectItemCaseSensitive(root, "status");
	item = cJSON_GetObjectItemCaseSensitive(status, "indicator");
	if (cJSON_IsString(item) && item->valuestring) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(item->valuestring, names[i].name) == 0)
				indicator = names[i].indicator;
	}
	item = cJSON_GetObjectItemCaseSensitive(status, "description");
	if (indicator != PAGE_UNKNOWN && cJSON_IsString(item) &&
	    item->valuestring && description_size > 0)
		text_printable(description, description_size, item->valuestring,
			       strlen(item->valuestring), SIZE_MAX);
	cJSON_Delete(root);
	return indicator;
}
