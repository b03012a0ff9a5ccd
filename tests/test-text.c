/*
 * Unit tests of text.c: the printable reduction every reason goes
 * through, and the JSON and Prometheus escapes. Inputs are exact-size
 * heap copies without a NUL, so that valgrind and ASan see any read
 * past n.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "text.h"

#define SECRET_TOKEN "dG9rOjU3c2VjcmV0LXRlc3QtdG9rZW4tZG8tbm90LWxlYWs="

/* Canary bytes after what the functions may write. */
static char out[512];

static void
setup(void)
{
	memset(out, 'Z', sizeof(out));
}

static char *
copy_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, s, n);
	return p;
}

/* text_printable() of s[0..n) into out[0..size), or with a secret
 * secret_printable(), which masks it first. */
static const char *
printable_n(const char *s, size_t n, size_t size, size_t cap,
	    const char *secret)
{
	char *copy = copy_exact(s, n);
	size_t len;

	memset(out, 'Z', sizeof(out));
	len = secret ? secret_printable(out, size, copy, n, cap, secret)
		     : text_printable(out, size, copy, n, cap);
	free(copy);
	if (size > 0) {
		ck_assert_uint_eq(len, strlen(out));
		ck_assert_int_eq(out[size], 'Z');
	}
	return out;
}

static const char *
printable(const char *s)
{
	return printable_n(s, strlen(s), 256, SIZE_MAX, NULL);
}

static const char *
printable_cap(const char *s, size_t size, size_t cap)
{
	return printable_n(s, strlen(s), size, cap, NULL);
}

/*
 * Runs escape over all of s[0..n) in a dst of size bytes at a time, as
 * render.c and log.c do, and returns the concatenation in out.
 */
static const char *
escaped_n(size_t (*escape)(char *, size_t, const char **, size_t *),
	  const char *s, size_t n, size_t size)
{
	char *copy = copy_exact(s, n);
	const char *src = copy;
	size_t pos = 0;
	char chunk[64];

	ck_assert_uint_le(size, sizeof(chunk));
	while (n > 0) {
		size_t before = n;
		size_t len = escape(chunk, size, &src, &n);

		ck_assert_uint_lt(n, before);
		ck_assert_uint_eq(len, strlen(chunk));
		ck_assert_uint_lt(pos + len, sizeof(out));
		memcpy(out + pos, chunk, len);
		pos += len;
	}
	out[pos] = '\0';
	free(copy);
	return out;
}

static const char *
json(const char *s)
{
	return escaped_n(text_json_escape, s, strlen(s), 64);
}

static const char *
label(const char *s)
{
	return escaped_n(text_prom_label_escape, s, strlen(s), 64);
}

/* ---- printable reduction ---- */

START_TEST(printable_whitespace)
{
	ck_assert_str_eq(printable("  a \t\n b\r\n\v\fc  \r\n"), "a b c");
	ck_assert_str_eq(printable(" \t\n "), "");
	ck_assert_str_eq(printable(""), "");
	ck_assert(text_is_space('\v') && text_is_space('\f'));
	ck_assert(!text_is_space('\0') && !text_is_space('x'));
}
END_TEST

START_TEST(printable_control_bytes)
{
	ck_assert_str_eq(printable("a\x01" "b\x7f\x1b" "c"), "a?b??c");
	/* A NUL inside the length is one more control byte, secret or not. */
	ck_assert_str_eq(printable_n("a\0b", 3, 256, SIZE_MAX, NULL), "a?b");
	ck_assert_str_eq(printable_n("a\0b", 3, 256, SIZE_MAX, SECRET_TOKEN),
			 "a?b");
	/* Once classify.c's check on the error text, the same bytes. */
	ck_assert_str_eq(printable("line\none\t\x01\xc3\xa9"), "line one ??");
}
END_TEST

START_TEST(printable_utf8_once)
{
	ck_assert_str_eq(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!"),
			 "caf? ? ?!");
	/* Not UTF-8 at all: a lone continuation byte, a cut sequence. */
	ck_assert_str_eq(printable("\xa9x \xe2\x82"), "?x ?");
	/* Latin-1 letters look like lead bytes: one '?' each. */
	ck_assert_str_eq(printable("a\xe9\xe8z"), "a??z");
}
END_TEST

START_TEST(printable_cap_and_ellipsis)
{
	/* Fits exactly: no ellipsis. */
	ck_assert_str_eq(printable_cap("abcdefghij", 256, 10), "abcdefghij");
	/* One over: the ellipsis takes the last three places. */
	ck_assert_str_eq(printable_cap("abcdefghijk", 256, 10), "abcdefg...");
	/* The buffer can be what limits, not the cap. */
	ck_assert_str_eq(printable_cap("abcdefghijk", 11, SIZE_MAX),
			 "abcdefg...");
	/* No space before the ellipsis. */
	ck_assert_str_eq(printable_cap("abcde fghij", 256, 9), "abcde...");
	/* Below four places an ellipsis would be all there is: plain cut. */
	ck_assert_str_eq(printable_cap("abcdefghijk", 4, SIZE_MAX), "abc");
	ck_assert_str_eq(printable_cap("abcdefghijk", 5, SIZE_MAX), "a...");
	ck_assert_str_eq(printable_cap("abcdefghijk", 1, SIZE_MAX), "");
	/* Nothing written at all into no buffer. */
	memset(out, 'Z', sizeof(out));
	ck_assert_uint_eq(text_printable(out, 0, "abc", 3, SIZE_MAX), 0);
	ck_assert_int_eq(out[0], 'Z');
	/* A trailing space that would not fit is not a cut. */
	ck_assert_str_eq(printable_cap("abc   ", 4, SIZE_MAX), "abc");
}
END_TEST

START_TEST(printable_redaction_before_cut)
{
	/* The token straddles the cut at every offset: the mask may be
	 * shortened, never a piece of the token left. */
	for (int pad = 1; pad <= 80; pad++) {
		char text[256];
		const char *got;

		snprintf(text, sizeof(text), "%*s Bearer %s tail", pad, "x",
			 SECRET_TOKEN);
		got = printable_n(text, strlen(text), 256, 48, SECRET_TOKEN);
		ck_assert_msg(!secret_leaks(got, SECRET_TOKEN),
			      "pad %d: \"%s\" leaks", pad, got);
		ck_assert_uint_le(strlen(got), 48);
	}
	ck_assert_str_eq(printable_n("token " SECRET_TOKEN " bad",
				     strlen("token " SECRET_TOKEN " bad"), 256,
				     SIZE_MAX, SECRET_TOKEN),
			 "token " SECRET_MASK " bad");
	/* A fragment is enough, and redaction comes before the folding. */
	ck_assert_str_eq(printable_n("a\n\nc2VjcmV0\tb", 13, 256, SIZE_MAX,
				     SECRET_TOKEN),
			 "a " SECRET_MASK " b");
	/* No secret, or an empty one: nothing is redacted. */
	ck_assert_str_eq(printable_n("c2VjcmV0", 8, 256, SIZE_MAX, ""),
			 "c2VjcmV0");
}
END_TEST

START_TEST(printable_str)
{
	char line[8];

	ck_assert_uint_eq(text_printable_str(line, sizeof(line), " a\tb\x01 "), 4);
	ck_assert_str_eq(line, "a b?");
	text_printable_str(line, sizeof(line), "abcdefghij");
	ck_assert_str_eq(line, "abcd...");
}
END_TEST

/* ---- JSON string escape ---- */

START_TEST(json_quotes_and_backslash)
{
	ck_assert_str_eq(json("a\"b\\c"), "a\\\"b\\\\c");
	ck_assert_str_eq(json("C:\\path \"x\""), "C:\\\\path \\\"x\\\"");
	ck_assert_str_eq(json("plain / text"), "plain / text");
}
END_TEST

START_TEST(json_controls)
{
	ck_assert_str_eq(json("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
	ck_assert_str_eq(json("a\x01" "b\x1f\x7f"), "a\\u0001b\\u001f\\u007f");
	ck_assert_str_eq(escaped_n(text_json_escape, "\0", 1, 64), "\\u0000");
}
END_TEST

START_TEST(json_utf8)
{
	/* Well-formed UTF-8 passes through whole. */
	ck_assert_str_eq(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
			 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* Everything else is U+FFFD, byte by byte: a stray byte, a cut
	 * sequence, an overlong '/', a surrogate, past U+10FFFF. */
	ck_assert_str_eq(json("\xff"), "\\ufffd");
	ck_assert_str_eq(json("\xc3 "), "\\ufffd ");
	ck_assert_str_eq(json("\xc0\xaf"), "\\ufffd\\ufffd");
	ck_assert_str_eq(json("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
	ck_assert_str_eq(json("\xf4\x90\x80\x80"),
			 "\\ufffd\\ufffd\\ufffd\\ufffd");
	/* A sequence cut by the length is not read past it. */
	ck_assert_str_eq(escaped_n(text_json_escape, "\xe2\x82\xac", 2, 64),
			 "\\ufffd\\ufffd");
}
END_TEST

START_TEST(json_whole_escapes)
{
	const char *src = "\"\x01x";
	size_t n = 3;
	char dst[8];

	/* Room for the first escape, not for the second. */
	memset(dst, 'Z', sizeof(dst));
	ck_assert_uint_eq(text_json_escape(dst, 4, &src, &n), 2);
	ck_assert_str_eq(dst, "\\\"");
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(*src, '\x01');
	/* No room: nothing taken, and no buffer is never written. */
	ck_assert_uint_eq(text_json_escape(dst, 1, &src, &n), 0);
	ck_assert_str_eq(dst, "");
	ck_assert_uint_eq(text_json_escape(dst, 0, &src, &n), 0);
	ck_assert_uint_eq(n, 2);
	/* TEXT_ESCAPE_MAX + 1 bytes always take something: the same text
	 * in the smallest steps is the same as in one. */
	ck_assert_str_eq(escaped_n(text_json_escape, "a\"\x01\xff\xc3\xa9\n", 7,
				   TEXT_ESCAPE_MAX + 1),
			 "a\\\"\\u0001\\ufffd\xc3\xa9\\n");
}
END_TEST

/* ---- Prometheus label values ---- */

START_TEST(prom_label)
{
	ck_assert_str_eq(label("1.0\"x\\y\nz"), "1.0\\\"x\\\\y\\nz");
	/* Only those three: tabs and UTF-8 are valid label text. */
	ck_assert_str_eq(label("a\tb caf\xc3\xa9"), "a\tb caf\xc3\xa9");
	ck_assert_str_eq(escaped_n(text_prom_label_escape, "\\\"\n", 3, 3),
			 "\\\\\\\"\\n");
}
END_TEST

/* A URL's userinfo, and only that, is masked. */
START_TEST(url_userinfo_masked)
{
	char buf[128];
	static const struct {
		const char *url;
		const char *shown;
	} cases[] = {
		{ "https://user:pass@host:8443/a?b#c", "https://***@host:8443/a?b#c" },
		{ "https://user@host", "https://***@host" },
		{ "https://@host", "https://***@host" },
		/* The last '@' of the authority ends the userinfo. */
		{ "https://a@b:c@host/", "https://***@host/" },
		/* Not in the authority: nothing to mask. */
		{ "https://host/path@x", "https://host/path@x" },
		{ "https://host?q=a@b", "https://host?q=a@b" },
		{ "https://host#a@b", "https://host#a@b" },
		{ "https://api.intercom.io", "https://api.intercom.io" },
		{ "no scheme user:pass@host", "no scheme user:pass@host" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(text_url_masked(cases[i].url, buf, sizeof(buf)),
				 cases[i].shown);
	ck_assert_ptr_null(text_url_masked(NULL, buf, sizeof(buf)));
	/* A buffer too short cuts the end, never into the mask. */
	ck_assert_str_eq(text_url_masked("https://user:pass@host/long", buf, 15),
			 "https://***@ho");
}
END_TEST

static Suite *
text_suite(void)
{
	Suite *s = suite_create("text");
	/* Not static: START_TEST's names are pointers, not constants. */
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "printable_whitespace", printable_whitespace },
		{ "printable_control_bytes", printable_control_bytes },
		{ "printable_utf8_once", printable_utf8_once },
		{ "printable_cap_and_ellipsis", printable_cap_and_ellipsis },
		{ "printable_redaction_before_cut", printable_redaction_before_cut },
		{ "printable_str", printable_str },
		{ "json_quotes_and_backslash", json_quotes_and_backslash },
		{ "json_controls", json_controls },
		{ "json_utf8", json_utf8 },
		{ "json_whole_escapes", json_whole_escapes },
		{ "prom_label", prom_label },
		{ "url_userinfo_masked", url_userinfo_masked },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, NULL);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(text_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
