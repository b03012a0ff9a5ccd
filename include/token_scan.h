#ifndef INCLUDE_TOKEN_SCAN_H
#define INCLUDE_TOKEN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The token_leak preflight item: walks a directory tree for strings shaped
 * like Intercom access tokens ("dG9rO", base64 of "tok:", then more
 * base64), the `grep -r dG9r` of a hand-run go-live checklist, without its
 * false alarms and blind spots:
 * - .git directories are skipped (history is another tool's job, and a
 *   pack is binary anyway), as are binary files (a NUL in the first
 *   8 KiB) and files over TOKEN_SCAN_FILE_MAX;
 * - symbolic links are never followed: one leading out of the tree would
 *   scan someone else's files (or loop), one inside it names a file the
 *   walk reaches anyway. Those leading out, and loops (a link to itself,
 *   or to a directory above it), are counted for the evidence;
 * - directories deeper than TOKEN_SCAN_DEPTH_MAX are counted, not read.
 * A hit is reported as path:line with the token masked: its first
 * TOKEN_SCAN_SHOWN characters then "…". A token is never kept whole.
 */

#define TOKEN_SCAN_FILE_MAX (1024 * 1024)
/* Directories nested deeper are counted, not read: real trees are far
 * shallower, and the walk's recursion stays bounded. */
#define TOKEN_SCAN_DEPTH_MAX 64
/* Enough hits to act on; a tree with more has a bigger problem. */
#define TOKEN_SCAN_HITS_MAX 100
/* A bound on the walk: a scan of / by mistake ends, and says so. */
#define TOKEN_SCAN_FILES_MAX 100000
/* Characters of a token shown in a hit: the prefix every token shares
 * and one more, enough to tell a hit from a false alarm. */
#define TOKEN_SCAN_SHOWN 6
/* Shortest run counted as a token: real ones are about 60 characters;
 * "dG9rO..." in a runbook is not one. */
#define TOKEN_SCAN_MIN_LEN 20
/* TOKEN_SCAN_SHOWN characters, "…" (3 bytes of UTF-8), NUL. */
#define TOKEN_SCAN_MASKED_SIZE (TOKEN_SCAN_SHOWN + 3 + 1)

struct token_hit {
	char *path;             /* dir/relative/path as walked; owned */
	unsigned long line;     /* 1-based */
	char masked[TOKEN_SCAN_MASKED_SIZE];
};

struct token_scan {
	struct token_hit *hits; /* owned, n_hits of them */
	size_t n_hits;
	bool hits_truncated;    /* more than TOKEN_SCAN_HITS_MAX */
	size_t files;           /* text files read */
	size_t skipped_binary;
	size_t skipped_large;
	size_t skipped_links_out; /* symlinks leading out of the tree */
	size_t skipped_link_loops; /* symlinks to themselves or an ancestor */
	size_t skipped_deep;    /* directories beyond TOKEN_SCAN_DEPTH_MAX */
	size_t unreadable;      /* files or directories that could not be opened */
	bool files_truncated;   /* stopped at TOKEN_SCAN_FILES_MAX */
	bool time_truncated;    /* stopped at the deadline */
	int64_t deadline_mono_ms; /* set by token_scan_dir() */
};

/*
 * Walks dir into *scan (zeroed first; release with token_scan_finish()),
 * stopping between two files once clock_mono_ms() reaches
 * deadline_mono_ms (0: no deadline): a tree as large as /usr must not hold
 * a run past its budget. Returns 0, or a negative errno when dir itself
 * cannot be opened as a directory (a single regular file is scanned as it
 * is).
 */
int token_scan_dir(const char *dir, int64_t deadline_mono_ms,
		   struct token_scan *scan);

/* Scans one buffer as the file path (a label, copied into hits). */
void token_scan_buffer(struct token_scan *scan, const char *path,
		       const char *buf, size_t len);

/* The masked form of the token starting at token (at least
 * TOKEN_SCAN_SHOWN bytes) into out. */
void token_scan_mask(const char *token, char out[TOKEN_SCAN_MASKED_SIZE]);

/* Frees what token_scan_dir() allocated. Accepts a zeroed struct. */
void token_scan_finish(struct token_scan *scan);

#endif
