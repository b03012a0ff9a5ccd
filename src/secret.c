#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "mem.h"
#include "secret.h"
#include "text.h"

char *
secret_dup(const char *secret)
{
	return secret ? xstrdup(secret) : NULL;
}

void
secret_free(char *secret)
{
	if (!secret)
		return;
	mem_wipe(secret, strlen(secret));
	free(secret);
}

/* The longest n such that text[0..n) occurs somewhere in secret. */
static size_t
longest_match(const char *text, const char *secret, size_t slen)
{
	size_t best = 0;
	for (size_t s = 0; s + best < slen; s++) {
		size_t n = 0;
		while (text[n] && s + n < slen && text[n] == secret[s + n])
			n++;
		if (n > best)
			best = n;
	}
	return best;
}

static size_t
fragment_min(size_t slen)
{
	return slen < SECRET_FRAGMENT_MIN ? slen : SECRET_FRAGMENT_MIN;
}

bool
secret_leaks(const char *text, const char *secret)
{
	size_t slen = secret ? strlen(secret) : 0;
	if (slen == 0 || !text)
		return false;
	size_t min = fragment_min(slen);
	for (const char *p = text; *p; p++) {
		if (longest_match(p, secret, slen) >= min)
			return true;
	}
	return false;
}

bool
secret_redact(char *text, size_t size, const char *secret)
{
	if (!text || size == 0 || !secret_leaks(text, secret))
		return false;

	size_t slen = strlen(secret);
	size_t min = fragment_min(slen);
	size_t len = strlen(text);
	/* The mask may be longer than what it replaces: build the result
	 * aside, then cut it to the caller's buffer. */
	size_t cap = len * (sizeof(SECRET_MASK) - 1) + 1;
	char *out = xmalloc(cap);
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		size_t n = longest_match(text + i, secret, slen);
		if (n >= min) {
			memcpy(out + o, SECRET_MASK, sizeof(SECRET_MASK) - 1);
			o += sizeof(SECRET_MASK) - 1;
			i += n;
		} else {
			out[o++] = text[i++];
		}
	}
	if (o > size - 1)
		o = size - 1;
	memcpy(text, out, o);
	text[o] = '\0';
	mem_wipe(out, cap);
	free(out);
	return true;
}

size_t
secret_printable(char *dst, size_t size, const char *src, size_t n,
		 size_t cap, const char *secret)
{
	const size_t mask_len = sizeof(SECRET_MASK) - 1;

	if (!secret || !*secret)
		return text_printable(dst, size, src, n, cap);
	/* secret_redact() works on a NUL-terminated text, in which each
	 * replaced character may become a whole mask. */
	if (n > (SIZE_MAX - 1) / mask_len)
		mem_oom();
	size_t copy_size = n * mask_len + 1;
	char *copy = xmalloc(copy_size);
	/* A NUL would end the text early; the reduction makes it '?'
	 * anyway. */
	for (size_t i = 0; i < n; i++)
		copy[i] = src[i] ? src[i] : '?';
	copy[n] = '\0';
	secret_redact(copy, copy_size, secret);
	size_t written = text_printable(dst, size, copy, strlen(copy), cap);
	mem_wipe(copy, copy_size);
	free(copy);
	return written;
}

size_t
secret_trim(const char *buf, size_t len)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	return len;
}

/*
 * Spaces, control bytes and DEL would let a secret split or extend the
 * HTTP header it goes into; non-ASCII bytes are never part of an Intercom
 * token and are most often a UTF-8 BOM from an editor.
 */
const char *
secret_problem(const char *buf, size_t len, size_t *at)
{
	if (len == 0)
		return "empty";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		*at = i + 1;
		if (c < 0x21 || c == 0x7f)
			return "contains whitespace or a control character";
		if (c >= 0x80)
			return "contains a non-ASCII byte";
	}
	return NULL;
}

int
secret_read_file(const char *path, char **out, struct stat *st, char **err)
{
	char *buf = NULL;
	size_t len = 0;
	char *shown = text_show(path, strlen(path), false, TEXT_SHOW_PATH_MAX);
	char *msg = NULL;
	struct stat seen;

	/* O_NONBLOCK: a FIFO with no writer must not stall a start or a
	 * reload. The identity comes from the descriptor read, so that a
	 * rename between the read and a later stat() cannot pass for it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int rc = fd < 0 ? -errno : fstat(fd, &seen) < 0 ? -errno : 0;
	if (rc == 0)
		rc = file_read_fd(fd, SECRET_MAX, &buf, &len);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		char why[64];
		if (rc == -EINVAL || rc == -EFBIG)
			msg = xasprintf("%s is %s", shown,
					file_problem(rc, SECRET_MAX, why, sizeof(why)));
		else
			msg = xasprintf("cannot read %s: %s", shown, strerror(-rc));
		goto out;
	}

	size_t kept = secret_trim(buf, len);
	size_t at = 0;
	const char *problem = secret_problem(buf, kept, &at);
	if (problem) {
		rc = -EINVAL;
		if (kept == 0)
			msg = xasprintf("%s is empty", shown);
		else
			msg = xasprintf("%s %s at byte %zu (only a trailing newline is ignored)",
					shown, problem, at);
		goto out;
	}
	*out = xstrndup(buf, kept);
	if (st)
		*st = seen;

out:
	if (buf) {
		mem_wipe(buf, len);
		free(buf);
	}
	free(shown);
	if (rc < 0 && err)
		*err = msg;
	else
		free(msg);
	return rc;
}

void
secret_redact_alloc(char **text, const char *secret)
{
	if (!*text || !secret || !secret_leaks(*text, secret))
		return;
	size_t size = strlen(*text) * (sizeof(SECRET_MASK) - 1) + 1;
	char *out = xmalloc(size);
	strcpy(out, *text);
	secret_redact(out, size, secret);
	free(*text);
	*text = out;
}
