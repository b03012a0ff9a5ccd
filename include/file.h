#ifndef INCLUDE_FILE_H
#define INCLUDE_FILE_H

#include <stddef.h>

/*
 * Reading the small files settings name (config, token, CA bundle) without
 * trusting them: only regular files, opened without blocking (a FIFO or a
 * device never stalls start-up or the probe worker), and never more than a
 * cap (a wrong path such as /dev/zero or a log file is refused, not read).
 */

/*
 * Reads the whole regular file at path, at most max bytes, into *out
 * (NUL-terminated, *len bytes before the NUL; caller frees). Returns 0, or
 * a negative errno: -ENOENT, -EACCES..., -EINVAL when it is not a regular
 * file, -EFBIG when it holds more than max bytes. file_problem() words it.
 */
int file_read_regular(const char *path, size_t max, char **out, size_t *len);

/* The same for an open fd (not closed here): for a walk that opens each
 * file relative to its directory, without following symlinks. */
int file_read_fd(int fd, size_t max, char **out, size_t *len);

/* A short reason for a file_read_regular() failure, e.g. "not a regular
 * file" or "larger than 65536 bytes" (into buf, which it returns). */
const char *file_problem(int rc, size_t max, char *buf, size_t size);

#endif
