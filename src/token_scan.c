#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "file.h"
#include "mem.h"
#include "secret.h"
#include "token_scan.h"

/* A NUL among the first bytes marks a binary file, as git and grep decide. */
#define BINARY_SNIFF 8192

static bool
is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '-' ||
	       c == '_';
}

void
token_scan_mask(const char *token, char out[TOKEN_SCAN_MASKED_SIZE])
{
	memcpy(out, token, TOKEN_SCAN_SHOWN);
	memcpy(out + TOKEN_SCAN_SHOWN, "\xe2\x80\xa6", 3);
	out[TOKEN_SCAN_MASKED_SIZE - 1] = '\0';
}

static void
add_hit(struct token_scan *scan, const char *path, unsigned long line,
	const char *token)
{
	if (scan->n_hits >= TOKEN_SCAN_HITS_MAX) {
		scan->hits_truncated = true;
		return;
	}
	scan->hits = xrealloc(scan->hits, (scan->n_hits + 1) * sizeof(*scan->hits));
	struct token_hit *h = &scan->hits[scan->n_hits++];
	h->path = xstrdup(path);
	h->line = line;
	token_scan_mask(token, h->masked);
}

void
token_scan_buffer(struct token_scan *scan, const char *path, const char *buf,
		  size_t len)
{
	static const char prefix[] = SECRET_TOKEN_PREFIX;
	const size_t plen = sizeof(prefix) - 1;
	unsigned long line = 1;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			line++;
			continue;
		}
		if (buf[i] != prefix[0] || len - i < plen ||
		    memcmp(buf + i, prefix, plen) != 0)
			continue;
		size_t n = plen;
		while (i + n < len && is_token_char(buf[i + n]))
			n++;
		if (n >= TOKEN_SCAN_MIN_LEN)
			add_hit(scan, path, line, buf + i);
		/* The token has no newline in it: skip it whole. */
		i += n - 1;
	}
}

static void
scan_file(struct token_scan *scan, int fd, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = file_read_fd(fd, TOKEN_SCAN_FILE_MAX, &buf, &len);
	if (rc == -EFBIG) {
		scan->skipped_large++;
		return;
	}
	if (rc < 0) {
		scan->unreadable++;
		return;
	}
	if (memchr(buf, '\0', len < BINARY_SNIFF ? len : BINARY_SNIFF)) {
		scan->skipped_binary++;
	} else {
		scan->files++;
		token_scan_buffer(scan, path, buf, len);
	}
	/* The buffer may hold a token: it does not linger on the heap. */
	mem_wipe(buf, len);
	free(buf);
}

enum link_kind {
	LINK_INSIDE,            /* names a file the walk reaches anyway */
	LINK_OUT,               /* resolves outside the tree, or not at all */
	LINK_LOOP,              /* resolves to itself or to an ancestor */
};

/* Is path equal to base or under it? */
static bool
path_within(const char *path, const char *base)
{
	size_t n = strlen(base);
	return strncmp(path, base, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0' || strcmp(base, "/") == 0);
}

/* Where the symlink name (in dirfd) leads, for the evidence: the walk
 * follows none of them. */
static enum link_kind
classify_link(int dirfd, const char *name, const char *root)
{
	enum link_kind kind = LINK_OUT;
	/* realpath() needs a path: the directory's own via /proc. */
	char *dir_at = xasprintf("/proc/self/fd/%d", dirfd);
	char *at = xasprintf("%s/%s", dir_at, name);
	char *resolved = realpath(at, NULL);
	if (!resolved && errno == ELOOP) {
		kind = LINK_LOOP;
	} else if (resolved && path_within(resolved, root)) {
		char *dir = realpath(dir_at, NULL);
		/* A link to the directory holding it, or above: a walk that
		 * followed it would never end. */
		kind = dir && path_within(dir, resolved) ? LINK_LOOP : LINK_INSIDE;
		free(dir);
	}
	free(resolved);
	free(at);
	free(dir_at);
	return kind;
}

static void
walk(struct token_scan *scan, int dirfd, const char *path, const char *root,
     int depth)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		scan->unreadable++;
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (scan->files_truncated || scan->time_truncated)
			break;
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			scan->unreadable++;
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			enum link_kind kind = classify_link(dirfd, name, root);
			scan->skipped_links_out += kind == LINK_OUT;
			scan->skipped_link_loops += kind == LINK_LOOP;
			continue;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;       /* FIFOs, sockets, devices: never opened */
		if (S_ISDIR(st.st_mode) && strcmp(name, ".git") == 0)
			continue;
		if (scan->files + scan->skipped_binary + scan->skipped_large >=
		    TOKEN_SCAN_FILES_MAX) {
			scan->files_truncated = true;
			break;
		}
		if (scan->deadline_mono_ms > 0 &&
		    clock_mono_ms() >= scan->deadline_mono_ms) {
			scan->time_truncated = true;
			break;
		}
		char *child = xasprintf("%s%s%s", path,
					path[strlen(path) - 1] == '/' ? "" : "/", name);
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
			    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
		int fd = openat(dirfd, name, flags);
		if (fd < 0) {
			scan->unreadable++;
		} else if (S_ISDIR(st.st_mode)) {
			if (depth < TOKEN_SCAN_DEPTH_MAX) {
				walk(scan, fd, child, root, depth + 1);
			} else {
				scan->skipped_deep++;
				close(fd);
			}
		} else {
			scan_file(scan, fd, child);
			close(fd);
		}
		free(child);
	}
	closedir(d);
}

int
token_scan_dir(const char *dir, int64_t deadline_mono_ms, struct token_scan *scan)
{
	memset(scan, 0, sizeof(*scan));
	scan->deadline_mono_ms = deadline_mono_ms;
	int fd = open(dir, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (S_ISREG(st.st_mode)) {
		scan_file(scan, fd, dir);
		close(fd);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return -ENOTDIR;
	}
	char *root = realpath(dir, NULL);
	if (!root) {
		int r = -errno;
		close(fd);
		return r;
	}
	walk(scan, fd, dir, root, 0);
	free(root);
	return 0;
}

void
token_scan_finish(struct token_scan *scan)
{
	for (size_t i = 0; i < scan->n_hits; i++)
		free(scan->hits[i].path);
	free(scan->hits);
	memset(scan, 0, sizeof(*scan));
}
