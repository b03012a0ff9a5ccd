#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"
#include "secret.h"

/*
 * Every input goes through an exact-size heap copy with no terminating
 * NUL, so that valgrind (CK_FORK=no valgrind ...) catches any read past
 * len in the parsers.
 */

static struct probe_result r;
/* A few bytes of canary after what the functions may write. */
static char out[256 + 16];

/* 1994-11-06 08:49:37 UTC, the RFC's example date. */
#define RFC_DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define RFC_DATE_S 784111777

static void
setup(void)
{
	memset(&r, 0, sizeof(r));
	r.retry_after_s = -1;
	r.server_date_s = -1;
	memset(out, 'Z', sizeof(out));
}

static void
teardown(void)
{
}

static char *
copy_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, s, n);
	return p;
}

static void
header_n(const char *line, size_t n, int64_t now_s)
{
	char *copy = copy_exact(line, n);

	response_parse_header(&r, copy, n, now_s);
	free(copy);
}

static void
header(const char *line)
{
	header_n(line, strlen(line), 1700000000);
}

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

/* response_error_reason into out (with out_size), from an exact copy. */
static const char *
reason_sized(const char *body, size_t n, bool truncated, size_t out_size)
{
	char *copy = copy_exact(body, n);

	memset(out, 'Z', sizeof(out));
	error_reason(copy, n, truncated, NULL, out, out_size);
	free(copy);
	return out;
}

static const char *
reason_n(const char *body, size_t n, bool truncated)
{
	return reason_sized(body, n, truncated, 256);
}

static const char *
reason(const char *body)
{
	return reason_n(body, strlen(body), false);
}

static const char *
success_n(const char *body, size_t n, bool truncated)
{
	char *copy = copy_exact(body, n);
	const char *why = response_check_success_body(copy, n, truncated);

	free(copy);
	return why;
}

static const char *
success(const char *body)
{
	return success_n(body, strlen(body), false);
}

static void
assert_printable_line(const char *s, size_t max)
{
	size_t n = strlen(s);

	ck_assert_uint_le(n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		ck_assert_msg(c >= 0x20 && c < 0x7f,
			      "byte 0x%02x at %zu of \"%s\"", c, i, s);
	}
}

#define ERROR_LIST_401 \
	"{\"type\":\"error.list\"," \
	"\"request_id\":\"b3a7a8c2-5c1e-4c0e-9d5c-4a1f1c6a9e2d\"," \
	"\"errors\":[{\"code\":\"unauthorized\"," \
	"\"message\":\"Access Token Invalid\"}]}"

/* ---- headers ---- */

START_TEST(test_header_rate_limit)
{
	header("X-RateLimit-Limit: 10000\r\n");
	header("X-RateLimit-Remaining: 9990\r\n");
	header("X-RateLimit-Reset: 1700000010\r\n");
	ck_assert(r.rate_limit.has_limit);
	ck_assert(r.rate_limit.has_remaining);
	ck_assert(r.rate_limit.has_reset);
	ck_assert_int_eq(r.rate_limit.limit, 10000);
	ck_assert_int_eq(r.rate_limit.remaining, 9990);
	ck_assert_int_eq(r.rate_limit.reset, 1700000010);
	ck_assert_int_eq(r.retry_after_s, -1);
	ck_assert_int_eq(r.server_date_s, -1);
}
END_TEST

START_TEST(test_header_case_and_spacing)
{
	/* HTTP/2 lowercase, no CRLF, no space, tabs, odd case. */
	header("x-ratelimit-limit: 1000");
	header("X-RATELIMIT-REMAINING:42\n");
	header("x-RateLimit-reset:\t 1700000010 \t\r\n");
	ck_assert(r.rate_limit.has_limit);
	ck_assert_int_eq(r.rate_limit.limit, 1000);
	ck_assert(r.rate_limit.has_remaining);
	ck_assert_int_eq(r.rate_limit.remaining, 42);
	ck_assert(r.rate_limit.has_reset);
	ck_assert_int_eq(r.rate_limit.reset, 1700000010);

	header("X-RateLimit-Limit: 0\r\n");
	ck_assert(r.rate_limit.has_limit);
	ck_assert_int_eq(r.rate_limit.limit, 0);
}
END_TEST

START_TEST(test_header_bad_numbers)
{
	static const char *const bad[] = {
		"abc", "-5", "12abc", "", "   ", "+5", "1 2", "0x10", "1.5",
		"1e3", "\xef\xbc\x91", "5\x01",
	};
	char line[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "X-RateLimit-Remaining: %s\r\n",
			 bad[i]);
		header(line);
		ck_assert_msg(!r.rate_limit.has_remaining, "accepted \"%s\"",
			      bad[i]);
		snprintf(line, sizeof(line), "X-RateLimit-Limit:%s", bad[i]);
		header(line);
		ck_assert_msg(!r.rate_limit.has_limit, "accepted \"%s\"",
			      bad[i]);
		snprintf(line, sizeof(line), "X-RateLimit-Reset: %s", bad[i]);
		header(line);
		ck_assert_msg(!r.rate_limit.has_reset, "accepted \"%s\"",
			      bad[i]);
	}

	/* A bad value does not clobber a good one seen before. */
	header("X-RateLimit-Remaining: 7\r\n");
	header("X-RateLimit-Remaining: -1\r\n");
	ck_assert(r.rate_limit.has_remaining);
	ck_assert_int_eq(r.rate_limit.remaining, 7);
}
END_TEST

START_TEST(test_header_overflow)
{
	header("X-RateLimit-Limit: 9223372036854775807\r\n");
	ck_assert(r.rate_limit.has_limit);
	ck_assert_int_eq(r.rate_limit.limit, INT64_MAX);

	setup();
	header("X-RateLimit-Limit: 9223372036854775808\r\n");
	ck_assert(!r.rate_limit.has_limit);
	header("X-RateLimit-Remaining: 99999999999999999999999999\r\n");
	ck_assert(!r.rate_limit.has_remaining);
	header("X-RateLimit-Reset: 18446744073709551617\r\n");
	ck_assert(!r.rate_limit.has_reset);
	header("Retry-After: 18446744073709551617\r\n");
	ck_assert_int_eq(r.retry_after_s, -1);
	/* A reset past 9999-12-31 is garbage: every reader would overflow
	 * converting it to milliseconds (and print 1969). */
	header("X-RateLimit-Reset: 9223372036854775807\r\n");
	ck_assert(!r.rate_limit.has_reset);
	header("X-RateLimit-Reset: 253402300800\r\n");
	ck_assert(!r.rate_limit.has_reset);
	header("X-RateLimit-Reset: 253402300799\r\n");
	ck_assert(r.rate_limit.has_reset);
	ck_assert_int_eq(r.rate_limit.reset, INT64_C(253402300799));

	/* Leading zeros are still the same number. */
	header("X-RateLimit-Limit: 0000000000000000000000000167\r\n");
	ck_assert(r.rate_limit.has_limit);
	ck_assert_int_eq(r.rate_limit.limit, 167);
}
END_TEST

START_TEST(test_header_retry_after_seconds)
{
	header("Retry-After: 120\r\n");
	ck_assert_int_eq(r.retry_after_s, 120);
	header("retry-after: 0");
	ck_assert_int_eq(r.retry_after_s, 0);

	setup();
	header("Retry-After: -3\r\n");
	ck_assert_int_eq(r.retry_after_s, -1);
	header("Retry-After: soon\r\n");
	ck_assert_int_eq(r.retry_after_s, -1);
	header("Retry-After: \r\n");
	ck_assert_int_eq(r.retry_after_s, -1);
}
END_TEST

START_TEST(test_header_retry_after_date)
{
	const char *line = "Retry-After: " RFC_DATE "\r\n";

	header_n(line, strlen(line), RFC_DATE_S - 30);
	ck_assert_int_eq(r.retry_after_s, 30);

	/* The other two HTTP-date formats. */
	line = "Retry-After: Sunday, 06-Nov-94 08:49:37 GMT";
	header_n(line, strlen(line), RFC_DATE_S - 5);
	ck_assert_int_eq(r.retry_after_s, 5);
	line = "retry-after: Sun Nov  6 08:49:37 1994\r\n";
	header_n(line, strlen(line), RFC_DATE_S - 7);
	ck_assert_int_eq(r.retry_after_s, 7);

	/* In the past, or our clock ahead: wait 0, never negative. */
	line = "Retry-After: " RFC_DATE "\r\n";
	header_n(line, strlen(line), RFC_DATE_S + 3600);
	ck_assert_int_eq(r.retry_after_s, 0);
	header_n(line, strlen(line), RFC_DATE_S);
	ck_assert_int_eq(r.retry_after_s, 0);

	/* A very wrong clock does not overflow the subtraction. */
	header_n(line, strlen(line), INT64_MIN);
	ck_assert_int_eq(r.retry_after_s, INT64_MAX);

	setup();
	line = "Retry-After: Sun, 99 Foo 1994 xx:49:37 GMT\r\n";
	header_n(line, strlen(line), RFC_DATE_S);
	ck_assert_int_eq(r.retry_after_s, -1);
}
END_TEST

START_TEST(test_header_date)
{
	header("Date: " RFC_DATE "\r\n");
	ck_assert_int_eq(r.server_date_s, RFC_DATE_S);
	header("date: Thu, 01 Jan 2015 00:00:00 GMT");
	ck_assert_int_eq(r.server_date_s, 1420070400);

	setup();
	header("Date: yesterday\r\n");
	ck_assert_int_eq(r.server_date_s, -1);
	header("Date:\r\n");
	ck_assert_int_eq(r.server_date_s, -1);
	/* A date before 1970 is a broken server clock, not a time. */
	header("Date: Wed, 31 Dec 1969 00:00:00 GMT\r\n");
	ck_assert_int_eq(r.server_date_s, -1);

	/* Longer than any date: ignored, not overflowed. */
	char line[600];
	memset(line, 'x', sizeof(line));
	memcpy(line, "Date: ", 6);
	header_n(line, sizeof(line), 0);
	ck_assert_int_eq(r.server_date_s, -1);
	/* Not a Date header at all. */
	header("Dates: " RFC_DATE "\r\n");
	header("Last-Modified: " RFC_DATE "\r\n");
	ck_assert_int_eq(r.server_date_s, -1);
}
END_TEST

START_TEST(test_header_status_line_resets)
{
	const char *line = "Retry-After: 30\r\n";

	header("HTTP/1.1 302 Found\r\n");
	header("X-RateLimit-Limit: 1000\r\n");
	header("X-RateLimit-Remaining: 1\r\n");
	header("X-RateLimit-Reset: 1700000010\r\n");
	header_n(line, strlen(line), 0);
	header("Date: " RFC_DATE "\r\n");
	ck_assert(r.rate_limit.has_remaining);

	/* The final response's headers count, the redirect's do not. */
	header("HTTP/1.1 200 OK\r\n");
	ck_assert(!r.rate_limit.has_limit);
	ck_assert(!r.rate_limit.has_remaining);
	ck_assert(!r.rate_limit.has_reset);
	ck_assert_int_eq(r.retry_after_s, -1);
	ck_assert_int_eq(r.server_date_s, -1);

	header("X-RateLimit-Remaining: 9990\r\n");
	ck_assert(r.rate_limit.has_remaining);
	ck_assert_int_eq(r.rate_limit.remaining, 9990);

	/* HTTP/2 status line, lowercase, no CRLF. */
	header("http/2 200");
	ck_assert(!r.rate_limit.has_remaining);

	/* A status line also initialises a result never reset before. */
	memset(&r, 0, sizeof(r));
	header("HTTP/1.1 100 Continue\r\n");
	ck_assert_int_eq(r.retry_after_s, -1);
	ck_assert_int_eq(r.server_date_s, -1);
}
END_TEST

START_TEST(test_header_bounded_by_len)
{
	const char *line = "X-RateLimit-Limit: 12345\r\n";

	/* Only "X-RateLimit-Limit: 12" is ours. */
	header_n(line, strlen("X-RateLimit-Limit: 12"), 0);
	ck_assert(r.rate_limit.has_limit);
	ck_assert_int_eq(r.rate_limit.limit, 12);

	/* Cut inside the name: some other header. */
	setup();
	header_n(line, strlen("X-RateLimit-Lim"), 0);
	header_n(line, strlen("X-RateLimit-Limit"), 0);
	header_n(line, 0, 0);
	ck_assert(!r.rate_limit.has_limit);

	/* An embedded NUL ends nothing and starts nothing. */
	static const char nul[] = "X-RateLimit-Limit: 1\0002\r\n";
	header_n(nul, sizeof(nul) - 1, 0);
	ck_assert(!r.rate_limit.has_limit);
	static const char nul_date[] = "Date: " RFC_DATE "\0junk";
	header_n(nul_date, sizeof(nul_date) - 1, 0);
	ck_assert_int_eq(r.server_date_s, -1);
}
END_TEST

START_TEST(test_header_ignored_lines)
{
	header("\r\n");
	header("Content-Type: application/json\r\n");
	header("X-RateLimit-Limitless: 5\r\n");
	header("X-RateLimit-Limit 5\r\n");
	header("X-RateLimit: 5\r\n");
	header(": 5\r\n");
	header("garbage without colon");
	ck_assert(!r.rate_limit.has_limit);
	ck_assert(!r.rate_limit.has_remaining);
	ck_assert(!r.rate_limit.has_reset);
	ck_assert_int_eq(r.retry_after_s, -1);
	ck_assert_int_eq(r.server_date_s, -1);
	response_parse_header(&r, NULL, 0, 0);
}
END_TEST

/* ---- error bodies: JSON ---- */

START_TEST(test_body_error_list)
{
	ck_assert_str_eq(reason(ERROR_LIST_401), "Access Token Invalid");

	/* No request_id, and whitespace around everything. */
	ck_assert_str_eq(reason(" \n{ \"type\" : \"error.list\", \"errors\" : "
				"[ { \"code\" : \"rate_limit_exceeded\", "
				"\"message\" : \"Exceeded rate limit of 167 in "
				"10_seconds\" } ] }\n"),
			 "Exceeded rate limit of 167 in 10_seconds");

	/* Only errors[0] counts. */
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":["
				"{\"code\":\"a\",\"message\":\"first\"},"
				"{\"code\":\"b\",\"message\":\"second\"}]}"),
			 "first");
}
END_TEST

START_TEST(test_body_error_without_list)
{
	const char *body = "{\"type\":\"error\",\"message\":\"Unauthorized\"}";

	ck_assert_str_eq(reason(body), "Unauthorized");

	/* OAuth endpoints answer in this shape. */
	ck_assert_str_eq(reason("{\"error\":\"invalid_grant\","
				"\"error_description\":\"code expired\"}"),
			 "code expired");
	ck_assert_str_eq(reason("{\"error\":\"invalid_grant\"}"),
			 "invalid_grant");
}
END_TEST

START_TEST(test_body_error_list_empty)
{
	const char *empty_fields = "{\"type\":\"error.list\",\"request_id\":"
		"\"x\",\"errors\":[{\"code\":\"\",\"message\":\"\"}]}";
	const char *no_errors = "{\"type\":\"error.list\",\"errors\":[]}";

	ck_assert_str_eq(reason(empty_fields), "error.list without a message");
	ck_assert_str_eq(reason(no_errors), "error.list without a message");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":\"  \",\"message\":\" \"}]}"),
			 "error.list without a message");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":{}}"),
			 "error.list without a message");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":[1]}"),
			 "error.list without a message");
	ck_assert_str_eq(reason("{}"), "JSON without an error message");
	ck_assert_str_eq(reason("[1,2,3]"), "JSON without an error message");
	ck_assert_str_eq(reason("\"just a string\""),
			 "JSON without an error message");
}
END_TEST

START_TEST(test_body_error_code_fallback)
{
	/* Message missing, empty or not a string: the code says it. */
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":\"token_revoked\"}]}"),
			 "token_revoked");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":\"forbidden\",\"message\":\"\"}]}"),
			 "forbidden");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":\"server_error\",\"message\":42}]}"),
			 "server_error");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":\"x\",\"message\":{\"a\":1}}]}"),
			 "x");
	ck_assert_str_eq(reason("{\"type\":\"error.list\",\"errors\":"
				"[{\"code\":7,\"message\":null}]}"),
			 "error.list without a message");
}
END_TEST

START_TEST(test_body_message_sanitized)
{
	/* Newlines, tabs, control characters (escaped in JSON, so cJSON
	 * decodes them into real bytes), and UTF-8. */
	ck_assert_str_eq(reason("{\"errors\":[{\"message\":"
				"\"  line one\\n\\tline two\\u0001 end  \"}]}"),
			 "line one line two? end");
	ck_assert_str_eq(reason("{\"errors\":[{\"message\":"
				"\"caf\\u00e9 \xe2\x82\xac ok\"}]}"),
			 "caf? ? ok");

	/* A code standing in for the message is capped like a message. */
	char body[600];
	size_t n;

	strcpy(body, "{\"errors\":[{\"code\":\"");
	n = strlen(body);
	memset(body + n, 'c', 400);
	strcpy(body + n + 400, "\"}]}");
	assert_printable_line(reason(body), 160);
	ck_assert_uint_ge(strlen(out), 100);
}
END_TEST

START_TEST(test_body_long_message)
{
	char body[2100];
	const char *got;
	size_t n;

	strcpy(body, "{\"errors\":[{\"message\":\"");
	n = strlen(body);
	memset(body + n, 'm', 2000);
	strcpy(body + n + 2000, "\"}]}");
	got = reason(body);
	assert_printable_line(got, 160);
	ck_assert_uint_ge(strlen(got), 100);
	ck_assert_str_eq(got + strlen(got) - 4, "m...");
	/* Still capped when out is much bigger. */
	ck_assert_uint_lt(strlen(got), 256);
}
END_TEST

/* ---- error bodies: everything else ---- */

START_TEST(test_body_html)
{
	ck_assert_str_eq(reason("<html><head><title>504 Gateway Time-out"
				"</title></head><body><center><h1>504 Gateway "
				"Time-out</h1></center></body></html>\n"),
			 "HTML error page (504 Gateway Time-out)");
	ck_assert_str_eq(reason("\r\n  <!DOCTYPE html>\n<html lang=\"en\">"
				"<head><TITLE lang=en>\n   Service \n "
				"Unavailable\t</TITLE>"),
			 "HTML error page (Service Unavailable)");
	ck_assert_str_eq(reason("<html><body>Bad gateway</body></html>"),
			 "HTML error page");
	ck_assert_str_eq(reason("<p>oops</p>"), "HTML error page");
	/* Empty title, a <titlebar> element, an unterminated title tag. */
	ck_assert_str_eq(reason("<html><title> </title></html>"),
			 "HTML error page");
	ck_assert_str_eq(reason("<html><titlebar>x</titlebar>"),
			 "HTML error page");
	ck_assert_str_eq(reason("<html><title"), "HTML error page");
	/* A title running to the end of a cut-off body. */
	ck_assert_str_eq(reason("<html><title>Bad Gate"), "HTML error page "
			 "(Bad Gate)");
	/* Markers after junk at the start. */
	ck_assert_str_eq(reason("\xef\xbb\xbfjunk <HTML><title>Err</title>"),
			 "HTML error page (Err)");
	/* JSON that mentions HTML is not an HTML page. */
	ck_assert_str_eq(reason("{\"errors\":[{\"message\":"
				"\"<html> is not allowed\"}]}"),
			 "<html> is not allowed");
	ck_assert_ptr_null(success("{\"name\":\"<!DOCTYPE html>\"}"));
	/* A byte order mark before the first tag. */
	ck_assert_str_eq(reason("\xef\xbb\xbf\n<p>Bad</p>"), "HTML error page");
	ck_assert_str_eq(success("<!doctype html><html></html>"),
			 "HTML page instead of JSON");
}
END_TEST

START_TEST(test_body_html_title_sanitized)
{
	char body[1200];
	const char *got;

	ck_assert_str_eq(reason("<html><title>caf\xc3\xa9\x01\x7f</title>"),
			 "HTML error page (caf\?\?\?)");

	strcpy(body, "<html><title>");
	memset(body + 13, 't', 1000);
	strcpy(body + 1013, "</title></html>");
	got = reason(body);
	assert_printable_line(got, 160);
	ck_assert_int_eq(strncmp(got, "HTML error page (ttt", 20), 0);
	ck_assert_str_eq(got + strlen(got) - 5, "t...)");
	ck_assert_uint_le(strlen(got), 17 + 80 + 1);
}
END_TEST

START_TEST(test_body_binary)
{
	static const char bin[] = "\x00\x01\x02\xff\xfe{\x00\"errors\"\x00";
	const char *got = reason_n(bin, sizeof(bin) - 1, false);

	ck_assert_str_eq(got, "unparseable response");
	ck_assert_str_eq(success_n(bin, sizeof(bin) - 1, false),
			 "unparseable response");
	/* A NUL inside otherwise good JSON. */
	static const char nul_json[] = "{\"errors\":[]}\0garbage";
	ck_assert_str_eq(success_n(nul_json, sizeof(nul_json) - 1, false),
			 "unparseable response");
	ck_assert_str_eq(reason("Bad Gateway"), "unparseable response");
	ck_assert_str_eq(reason("{\"errors\":[{\"message\":\"cut"),
			 "unparseable response");
}
END_TEST

START_TEST(test_body_empty)
{
	ck_assert_str_eq(reason(""), "empty body");
	ck_assert_str_eq(reason(" \r\n\t "), "empty body");
	ck_assert_str_eq(reason_n("", 0, true), "empty body");
	memset(out, 'Z', sizeof(out));
	error_reason(NULL, 12, false, NULL, out, 256);
	ck_assert_str_eq(out, "empty body");

	ck_assert_str_eq(success(""), "empty body");
	ck_assert_str_eq(success("\n\n"), "empty body");
	ck_assert_str_eq(response_check_success_body(NULL, 5, false),
			 "empty body");
}
END_TEST

/* A RESPONSE_BODY_MAX prefix of a huge JSON document. */
static char *
huge_prefix(const char *head, const char *item)
{
	char *body = malloc(RESPONSE_BODY_MAX);
	size_t pos = strlen(head), n = strlen(item);

	ck_assert_ptr_nonnull(body);
	memcpy(body, head, pos);
	while (pos < RESPONSE_BODY_MAX) {
		size_t take = RESPONSE_BODY_MAX - pos < n ?
			      RESPONSE_BODY_MAX - pos : n;

		memcpy(body + pos, item, take);
		pos += take;
	}
	return body;
}

START_TEST(test_body_truncated)
{
	char *body = huge_prefix("{\"type\":\"admin.list\",\"admins\":[",
				 "{\"type\":\"admin\",\"id\":\"991267\","
				 "\"name\":\"Ciaran\"},");

	ck_assert_str_eq(reason_n(body, RESPONSE_BODY_MAX, true),
			 "unparseable response (truncated at 16384 bytes)");
	/* A success bigger than we keep (GET /admins of a large team): we
	 * cut it, so the start of an object is a good answer. */
	ck_assert_ptr_null(success_n(body, RESPONSE_BODY_MAX, true));
	/* The same bytes, not known to be cut: plainly unparseable. */
	ck_assert_str_eq(reason_n(body, RESPONSE_BODY_MAX, false),
			 "unparseable response");
	ck_assert_str_eq(success_n(body, RESPONSE_BODY_MAX, false),
			 "unparseable response");
	free(body);

	/* A huge HTML page keeps its title in the kept prefix. */
	body = huge_prefix("<html><head><title>502 Bad Gateway</title>"
			   "</head><body>", "<p>filler</p>");
	ck_assert_str_eq(reason_n(body, RESPONSE_BODY_MAX, true),
			 "HTML error page (502 Bad Gateway)");
	ck_assert_str_eq(success_n(body, RESPONSE_BODY_MAX, true),
			 "HTML page instead of JSON");
	free(body);
}
END_TEST

/* ---- success bodies ---- */

START_TEST(test_success_body)
{
	const char *me = "{\"type\":\"admin\",\"id\":\"991267\",\"name\":"
		"\"Ciaran\",\"email\":\"c@example.com\",\"email_verified\":true,"
		"\"app\":{\"type\":\"app\",\"id_code\":\"abc123de\",\"region\":"
		"\"US\"},\"has_inbox_seat\":true}";

	ck_assert_ptr_null(success(me));
	ck_assert_ptr_null(success("\xef\xbb\xbf \n{\"type\":\"admin\"}\r\n"));
	ck_assert_ptr_null(success("{}"));
	ck_assert_ptr_null(success_n(me, strlen(me), true));

	ck_assert_str_eq(success("not json"), "unparseable response");
	ck_assert_str_eq(success("{\"a\":1} trailing"), "unparseable response");
	ck_assert_str_eq(success("{\"a\":1}{\"b\":2}"), "unparseable response");
	ck_assert_ptr_null(success_n("{\"type\":\"admin\",\"name\":\"x", 25,
				     true));
	ck_assert_str_eq(success_n("[1,2,", 5, true), "truncated response");
	ck_assert_str_eq(success_n("xyz{", 4, true), "truncated response");
	ck_assert_str_eq(success("[1,2]"), "JSON body is not an object");
	ck_assert_str_eq(success("null"), "JSON body is not an object");
}
END_TEST

/* ---- out buffer ---- */

START_TEST(test_out_size_small)
{
	const char *got;

	got = reason_sized(ERROR_LIST_401, strlen(ERROR_LIST_401), false, 1);
	ck_assert_str_eq(got, "");
	ck_assert_int_eq(out[1], 'Z');

	got = reason_sized(ERROR_LIST_401, strlen(ERROR_LIST_401), false, 8);
	ck_assert_str_eq(got, "Access ");
	ck_assert_int_eq(out[8], 'Z');

	got = reason_sized("<html><title>Gateway</title>", 28, false, 8);
	ck_assert_str_eq(got, "HTML er");
	ck_assert_int_eq(out[8], 'Z');

	got = reason_sized("", 0, false, 8);
	ck_assert_str_eq(got, "empty b");

	reason_sized(ERROR_LIST_401, strlen(ERROR_LIST_401), false, 0);
	ck_assert_int_eq(out[0], 'Z');

	/* Long message into a small out: cut, still terminated. */
	for (size_t n = 1; n <= 24; n++) {
		got = reason_sized(ERROR_LIST_401, strlen(ERROR_LIST_401),
				   false, n);
		ck_assert_uint_eq(strlen(got), n - 1 < 20 ? n - 1 : 20);
		ck_assert_int_eq(out[n], 'Z');
	}
}
END_TEST

START_TEST(test_random_binary)
{
	static const char *const starts[] = {
		"", "{", "<", "{\"errors\":[{\"message\":\"", "<title>",
		"{\"type\":\"error\",\"message\":\"",
	};
	char buf[700];

	srand(1);
	for (int i = 0; i < 2000; i++) {
		const char *start = starts[i % 6];
		size_t len = (size_t)rand() % 600, pre = strlen(start);
		size_t out_size = 1 + (size_t)rand() % 255;
		bool truncated = rand() % 2;
		const char *why;

		memcpy(buf, start, pre);
		for (size_t j = pre; j < pre + len; j++)
			buf[j] = (char)(rand() % 256);
		/* Half of the message bodies get closed properly, so
		 * cJSON decodes the random bytes as the message. */
		if (i % 6 == 3 && i % 12 < 6) {
			for (size_t j = pre; j < pre + len; j++) {
				if (buf[j] == '"' || buf[j] == '\\' ||
				    (unsigned char)buf[j] < 0x20)
					buf[j] = 'q';
			}
			memcpy(buf + pre + len, "\"}]}", 4);
			len += 4;
		}
		len += pre;

		reason_sized(buf, len, truncated, out_size);
		ck_assert_int_eq(out[out_size], 'Z');
		ck_assert_uint_lt(strlen(out), out_size);
		assert_printable_line(out, 160);
		ck_assert_msg(out_size == 1 || out[0] != '\0',
			      "empty reason for input %d", i);

		why = success_n(buf, len, truncated);
		if (why != NULL)
			assert_printable_line(why, 160);

		memset(&r, 0, sizeof(r));
		header_n(buf, len, 0);
	}
}
END_TEST


/* Shaped like Intercom's, 48 characters. */
#define SECRET_TOKEN "dG9rOjU3c2VjcmV0LXRlc3QtdG9rZW4tZG8tbm90LWxlYWs="
static const char secret_token[] = SECRET_TOKEN;

/* The reason for body with the secret known, into out. */
static const char *
reason_secret(const char *body)
{
	char *copy = copy_exact(body, strlen(body));

	memset(out, 'Z', sizeof(out));
	error_reason(copy, strlen(body), false, SECRET_TOKEN, out, 256);
	free(copy);
	return out;
}

START_TEST(test_redaction_before_the_cut)
{
	/* An echo of the Authorization header that straddles the reason's
	 * cap at every possible offset: no cut may leave a piece behind. */
	for (int pad = 100; pad <= 170; pad++) {
		char body[1024];
		snprintf(body, sizeof(body),
			 "{\"type\":\"error.list\",\"errors\":[{\"code\":\"unauthorized\","
			 "\"message\":\"%*s bad header: Bearer %s\"}]}", pad, "x",
			 SECRET_TOKEN);
		const char *got = reason_secret(body);
		ck_assert_msg(!secret_leaks(got, SECRET_TOKEN), "pad %d: the reason leaks", pad);
		ck_assert_msg(strlen(got) <= 160, "pad %d: %zu characters", pad,
			      strlen(got));
	}
	/* The same in an HTML page's <title>, cut shorter. */
	for (int pad = 40; pad <= 90; pad++) {
		char body[1024];
		snprintf(body, sizeof(body),
			 "<html><head><title>%*s %s</title></head></html>", pad, "x",
			 SECRET_TOKEN);
		const char *got = reason_secret(body);
		ck_assert_msg(!secret_leaks(got, SECRET_TOKEN), "pad %d: the reason leaks", pad);
	}
	/* Whole and short: the mask stands where the token stood. */
	ck_assert_str_eq(reason_secret("{\"message\":\"token " SECRET_TOKEN " bad\"}"),
			 "token " SECRET_MASK " bad");
	/* JSON may escape the token's '/': the decoded text is redacted. */
	ck_assert_str_eq(reason_secret("{\"message\":\"dG9rOjU3c2Vj\\/cmV0\"}"),
			 SECRET_MASK "/cmV0");
}
END_TEST

START_TEST(test_secret_fragments)
{
	char text[64];

	/* Any run of SECRET_FRAGMENT_MIN characters of the secret counts. */
	snprintf(text, sizeof(text), "a %.*s b", SECRET_FRAGMENT_MIN, secret_token + 20);
	ck_assert(secret_leaks(text, SECRET_TOKEN));
	ck_assert(secret_redact(text, sizeof(text), SECRET_TOKEN));
	ck_assert_str_eq(text, "a " SECRET_MASK " b");
	/* One character fewer is ordinary text. */
	snprintf(text, sizeof(text), "a %.*s b", SECRET_FRAGMENT_MIN - 1, secret_token + 20);
	ck_assert(!secret_leaks(text, SECRET_TOKEN));
	ck_assert(!secret_redact(text, sizeof(text), SECRET_TOKEN));
	/* A tail at the very end, as a cut would leave it. */
	snprintf(text, sizeof(text), "Bearer %.9s", SECRET_TOKEN);
	secret_redact(text, sizeof(text), SECRET_TOKEN);
	ck_assert_str_eq(text, "Bearer " SECRET_MASK);
	/* The mask is longer than a fragment: the result is cut to fit,
	 * and what is cut is mask, never secret. */
	char small[12];
	snprintf(small, sizeof(small), "ab%.8s", secret_token + 3);
	secret_redact(small, sizeof(small), SECRET_TOKEN);
	ck_assert_str_eq(small, "ab(redacted");
	/* No secret, nothing to do. */
	ck_assert(!secret_redact(text, sizeof(text), NULL));
	ck_assert(!secret_redact(text, sizeof(text), ""));
	/* A copy is wiped and freed; NULL is fine. */
	char *copy = secret_dup(SECRET_TOKEN);
	ck_assert_str_eq(copy, SECRET_TOKEN);
	secret_free(copy);
	secret_free(NULL);
}
END_TEST

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static Suite *
response_suite(void)
{
	Suite *s = suite_create("response");
	/* Not static: START_TEST's names are pointers, not constants. */
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "header_rate_limit", test_header_rate_limit },
		{ "redaction_before_the_cut", test_redaction_before_the_cut },
		{ "secret_fragments", test_secret_fragments },
		{ "header_case_and_spacing", test_header_case_and_spacing },
		{ "header_bad_numbers", test_header_bad_numbers },
		{ "header_overflow", test_header_overflow },
		{ "header_retry_after_seconds", test_header_retry_after_seconds },
		{ "header_retry_after_date", test_header_retry_after_date },
		{ "header_date", test_header_date },
		{ "header_status_line_resets", test_header_status_line_resets },
		{ "header_bounded_by_len", test_header_bounded_by_len },
		{ "header_ignored_lines", test_header_ignored_lines },
		{ "body_error_list", test_body_error_list },
		{ "body_error_without_list", test_body_error_without_list },
		{ "body_error_list_empty", test_body_error_list_empty },
		{ "body_error_code_fallback", test_body_error_code_fallback },
		{ "body_message_sanitized", test_body_message_sanitized },
		{ "body_long_message", test_body_long_message },
		{ "body_html", test_body_html },
		{ "body_html_title_sanitized", test_body_html_title_sanitized },
		{ "body_binary", test_body_binary },
		{ "body_empty", test_body_empty },
		{ "body_truncated", test_body_truncated },
		{ "success_body", test_success_body },
		{ "out_size_small", test_out_size_small },
		{ "random_binary", test_random_binary },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		/* The random loop under valgrind takes a while. */
		tcase_set_timeout(tc, 60);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(response_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
