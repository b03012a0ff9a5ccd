#ifndef INCLUDE_SECRET_H
#define INCLUDE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "text.h"

/*
 * Secrets (the access token, the webhook secret) in memory: owned copies
 * that are wiped before they are freed, and redaction of any text that
 * came from elsewhere and might echo one back.
 */

/* A run of at least this many characters of a secret, anywhere in a
 * text, counts as a leak: long enough that ordinary words never match a
 * random base64 token, short enough that a tail left by a cut is caught. */
#define SECRET_FRAGMENT_MIN 6

/* Every Intercom access token starts with this (text.h says it once,
 * for text_show()'s sake). */
#define SECRET_TOKEN_PREFIX TEXT_TOKEN_PREFIX

/* A secret goes into one HTTP header: 8 KiB is far beyond any real token
 * and keeps a wrong path (a log file, /dev/zero) from being slurped. */
#define SECRET_MAX 8192

/* Replaces every secret fragment in text (see secret_redact()). */
#define SECRET_MASK "(redacted)"

/* A copy of secret (caller frees with secret_free()). NULL in, NULL out. */
char *secret_dup(const char *secret);

/* Wipes secret (the compiler may not drop it) and frees it. Accepts NULL. */
void secret_free(char *secret);


/*
 * Replaces, in the NUL-terminated text (of buffer size size), every run of
 * at least SECRET_FRAGMENT_MIN characters that also occurs in secret (or
 * the whole secret, when it is shorter) with SECRET_MASK. The result is
 * cut to fit size. A NULL or empty secret changes nothing. Returns true
 * when something was replaced.
 */
bool secret_redact(char *text, size_t size, const char *secret);

/*
 * Untrusted text made safe to show, in one pass: every fragment of secret
 * (NULL or "" for none) in src[0..n) is masked first, then the result is
 * reduced to one printable line and cut to min(size - 1, cap) characters
 * (text_printable()). Masking before the reduction and the cut means
 * neither can leave a piece of the secret behind, nor join two harmless
 * pieces into one. NUL-terminates when size > 0; returns the length
 * written.
 */
size_t secret_printable(char *dst, size_t size, const char *src, size_t n,
			size_t cap, const char *secret);

/* Does text contain a fragment of secret, as secret_redact() defines it? */
bool secret_leaks(const char *text, const char *secret);

/*
 * secret_redact() for the heap string *text (or NULL), which is replaced
 * by a larger copy when the masks need room: nothing is cut off.
 */
void secret_redact_alloc(char **text, const char *secret);

/* len without the trailing CR and LF bytes of buf[0..len). */
size_t secret_trim(const char *buf, size_t len);

/*
 * What is wrong with a secret of len bytes (trailing newlines already
 * trimmed), or NULL. *at is the 1-based offending byte: a position, never
 * the content.
 */
const char *secret_problem(const char *buf, size_t len, size_t *at);

/*
 * Reads a secret from the regular file path (at most SECRET_MAX bytes; a
 * trailing newline is dropped) into *out (free with secret_free()). On
 * failure returns a negative errno and, when err is not NULL, sets *err
 * to a one-line message naming the path, never the content (caller
 * frees). The read buffer is wiped. When st is not NULL it gets the
 * identity of the file read (fstat() of the descriptor read), so that a
 * later change of the file can be told from this content.
 */
int secret_read_file(const char *path, char **out, struct stat *st, char **err);

#endif
