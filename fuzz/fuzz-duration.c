/*
 * settings_parse_duration(): the input, NUL-terminated, is the text of a
 * duration setting. Beyond memory safety, a result is held against a
 * reference reading of the same grammar (digits, an optional fraction,
 * an optional ms/s/m/h unit): an accepted text must mean what it says to
 * within the millisecond of rounding, a rejected one must be outside the
 * grammar or larger than any setting allows (a week, DURATION_MAX_MS in
 * settings.c), and a text outside the grammar must never be accepted.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "settings.h"

/* The longest duration any setting accepts is 168h; the parser may refuse
 * anything longer, but nothing up to it. */
#define WEEK_MS (168 * 3600 * INT64_C(1000))

/*
 * Reads text as the grammar says, into the exact value in ms as a long
 * double (the fraction's first 30 digits: far below a millisecond).
 * Returns false when text is outside the grammar.
 */
static bool
reference_duration(const char *text, long double *ms)
{
	const char *p = text;
	long double whole = 0, frac = 0, scale = 1, factor;
	int digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++)
		whole = whole * 10 + (*p - '0');
	if (digits == 0)
		return false;
	if (*p == '.') {
		p++;
		digits = 0;
		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits < 30) {
				scale *= 10;
				frac += (long double)(*p - '0') / scale;
			}
		}
		if (digits == 0)
			return false;
	}
	if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
		factor = 1000;
	else if (strcmp(p, "ms") == 0)
		factor = 1;
	else if (strcmp(p, "m") == 0)
		factor = 60000;
	else if (strcmp(p, "h") == 0)
		factor = 3600000;
	else
		return false;
	*ms = (whole + frac) * factor;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly size + 1 bytes: ASan sees any read past the NUL. */
	char *text = malloc(size + 1);
	int64_t ms = -1;
	long double want = 0;
	bool ok, in_grammar;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ok = settings_parse_duration(text, &ms);
	/* An embedded NUL ends the text for the parser as for the reference. */
	in_grammar = reference_duration(text, &want);

	if (ok && !in_grammar)
		fuzz_fail("\"%s\" accepted as %lld ms, but it is not a duration",
			  text, (long long)ms);
	if (ok && ms < 0)
		fuzz_fail("\"%s\" accepted as a negative %lld ms", text,
			  (long long)ms);
	/* Rounding may cost up to half a millisecond, and a long double
	 * holds these values to well under one. */
	if (ok && (ms - want > 1 || want - ms > 1))
		fuzz_fail("\"%s\" accepted as %lld ms, but it means %.3Lf ms",
			  text, (long long)ms, want);
	if (!ok && in_grammar && want <= WEEK_MS)
		fuzz_fail("\"%s\" (%.3Lf ms) rejected, but no longer than 168h",
			  text, want);

	free(text);
	return 0;
}
