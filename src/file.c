#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "mem.h"

int
file_read_regular(const char *path, size_t max, char **out, size_t *len)
{
	/* O_NONBLOCK: opening a FIFO with no writer would otherwise wait
	 * for one, forever. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	int rc = file_read_fd(fd, max, out, len);
	close(fd);
	return rc;
}

int
file_read_fd(int fd, size_t max, char **out, size_t *len)
{
	int rc = 0;
	char *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((unsigned long long)st.st_size > max)
		return -EFBIG;
	/* The size may change under us: read at most max + 1 to notice. */
	buf = xmalloc(max + 2);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (buf) {
		/* It may have been a secret. */
		mem_wipe(buf, max + 2);
		free(buf);
	}
	return rc;
}

const char *
file_problem(int rc, size_t max, char *buf, size_t size)
{
	switch (rc) {
	case -EINVAL:
		snprintf(buf, size, "not a regular file");
		break;
	case -EFBIG:
		snprintf(buf, size, "larger than %zu bytes", max);
		break;
	default:
		snprintf(buf, size, "%s", strerror(-rc));
		break;
	}
	return buf;
}
