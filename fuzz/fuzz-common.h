#ifndef FUZZ_FUZZ_COMMON_H
#define FUZZ_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health.h"

/*
 * What the libFuzzer targets share: the entry points (declared here so
 * -Wmissing-prototypes holds), the invariant checks, and a render pass
 * over a snapshot. A broken invariant calls abort(), which libFuzzer
 * reports like any crash, with the input that caused it.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * The access token the targets hand to the code under test. Shaped like a
 * real one (base64 of "tok:..."): the loader treats text with that prefix
 * specially, and a made-up shape would miss those paths.
 */
#define FUZZ_TOKEN "dG9rOmExZjA5YzJlLTdiNGQtNGU4YS05YzNmLTVkNmI3ZThmOWEwYjow"

/* "2026-11-26T16:00:00.000Z": a fixed clock keeps every run replayable. */
#define FUZZ_NOW_MS INT64_C(1795708800000)

/* Prints "fuzz invariant broken: <what>" and aborts. */
_Noreturn void fuzz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * Aborts unless buf[0..size) holds a NUL and every byte before it is
 * printable ASCII (0x20..0x7e): what every reason, description and error
 * text promises, since each ends up in a log line or a plugin's output.
 */
void fuzz_check_printable(const char *what, const char *buf, size_t size);

/*
 * Where the first run of at least min characters of secret (all of it,
 * when it is shorter) occurs in text, or NULL. Written apart from
 * secret_leaks() on purpose: a check must not share the bug it looks for.
 */
const char *fuzz_find_fragment(const char *text, const char *secret,
			       size_t min);

/*
 * Renders s the way the endpoints do at FUZZ_NOW_MS (/health, its
 * health+json form, /metrics) and aborts unless each body is as long as
 * claimed, the JSON ones parse back and are valid UTF-8, and /metrics is
 * well-formed lines of printable text.
 */
void fuzz_check_render(const struct health_snapshot *s, int64_t now_mono_ms);

/* The health parameters of the shipped defaults (15s/5s, 3s, 10%). */
extern const struct health_params fuzz_health_params;

#endif
