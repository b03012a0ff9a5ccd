/* token_leak's walk: planted tokens found, masked, and not in .git,
 * binaries, oversized files or beyond a symlink out of the tree. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "clock.h"
#include "token_scan.h"

#define TOKEN "dG9rOjQ5YjI3ZWQ0LXNjYW4tdGVzdC10b2tlbi0wMDAx"

static char root[256];
static char outside[256];

static void
write_file(const char *rel, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void
mk(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void
rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/token-scan-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(outside, sizeof(outside), "%s/token-scan-out-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(outside));
}

static void
teardown(void)
{
	rm_rf(root);
	rm_rf(outside);
}

static bool
has_hit(const struct token_scan *s, const char *suffix, unsigned long line)
{
	for (size_t i = 0; i < s->n_hits; i++) {
		size_t n = strlen(s->hits[i].path), k = strlen(suffix);
		if (n >= k && strcmp(s->hits[i].path + n - k, suffix) == 0 &&
		    s->hits[i].line == line)
			return true;
	}
	return false;
}

START_TEST(planted_tokens_found_and_masked)
{
	mk("src");
	mk("src/deep");
	const char cfg[] = "a = 1\nb = 2\n\ntoken: \"" TOKEN "\"\n";
	write_file("src/config.yaml", cfg, strlen(cfg));
	const char two[] = "Authorization: Bearer " TOKEN "\nx\ny=" TOKEN "==\n";
	write_file("src/deep/run.sh", two, strlen(two));

	struct token_scan s;
	ck_assert_int_eq(token_scan_dir(root, 0, &s), 0);
	ck_assert_uint_eq(s.n_hits, 3);
	ck_assert(has_hit(&s, "/src/config.yaml", 4));
	ck_assert(has_hit(&s, "/src/deep/run.sh", 1));
	ck_assert(has_hit(&s, "/src/deep/run.sh", 3));
	for (size_t i = 0; i < s.n_hits; i++)
		ck_assert_str_eq(s.hits[i].masked, "dG9rOj\xe2\x80\xa6");
	ck_assert_uint_eq(s.files, 2);
	token_scan_finish(&s);
}
END_TEST

START_TEST(git_binary_large_and_links_skipped)
{
	mk(".git");
	mk("sub");
	mk("sub/.git");
	const char line[] = "t=" TOKEN "\n";
	write_file(".git/config", line, strlen(line));
	write_file("sub/.git/packed", line, strlen(line));
	/* A NUL early on: binary. */
	char bin[256] = "\x7f" "ELF";
	memcpy(bin + 8, TOKEN, strlen(TOKEN));
	write_file("app.bin", bin, sizeof(bin));
	/* Over the size cap. */
	size_t big = TOKEN_SCAN_FILE_MAX + 100;
	char *large = malloc(big);
	memset(large, 'x', big);
	memcpy(large + 10, TOKEN, strlen(TOKEN));
	large[big - 1] = '\n';
	write_file("big.log", large, big);
	free(large);
	/* A token in a file outside the tree, reached only by a symlink. */
	char path[512], target[512];
	snprintf(target, sizeof(target), "%s/secret.env", outside);
	FILE *f = fopen(target, "w");
	fputs(line, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/linked.env", root);
	ck_assert_int_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/linked-dir", root);
	ck_assert_int_eq(symlink(outside, path), 0);
	/* A symlink inside the tree is not followed either (the file is
	 * walked anyway), and not counted as leading out. */
	const char clean[] = "nothing here, dG9rO is only a prefix\n";
	write_file("notes.txt", clean, strlen(clean));
	snprintf(path, sizeof(path), "%s/notes-link", root);
	ck_assert_int_eq(symlink("notes.txt", path), 0);

	struct token_scan s;
	ck_assert_int_eq(token_scan_dir(root, 0, &s), 0);
	ck_assert_msg(s.n_hits == 0, "hit in %s", s.n_hits ? s.hits[0].path : "");
	ck_assert_uint_eq(s.skipped_binary, 1);
	ck_assert_uint_eq(s.skipped_large, 1);
	ck_assert_uint_eq(s.skipped_links_out, 2);
	ck_assert_uint_eq(s.files, 1);
	token_scan_finish(&s);
}
END_TEST

START_TEST(short_prefix_is_no_token)
{
	struct token_scan s = { 0 };
	const char text[] = "dG9rO\ndG9rOjAB\nxdG9rOjQ5YjI3ZWQ0LXNjYW4tdGVzdA==\n";
	token_scan_buffer(&s, "t", text, strlen(text));
	/* Only the long one, on line 3, embedded or not. */
	ck_assert_uint_eq(s.n_hits, 1);
	ck_assert_uint_eq(s.hits[0].line, 3);
	token_scan_finish(&s);

	ck_assert_int_lt(token_scan_dir("/nonexistent/token-scan", 0, &s), 0);
	token_scan_finish(&s);
}
END_TEST

/* A deadline already past stops the walk before the first file. */
START_TEST(deadline_stops_the_walk)
{
	const char line[] = "token = \"dG9rOjQ5YjI3ZWQ0LXNjYW4tdGVzdA==\"\n";
	write_file("a.env", line, strlen(line));
	write_file("b.env", line, strlen(line));
	struct token_scan s;
	ck_assert_int_eq(token_scan_dir(root, 1, &s), 0);
	ck_assert(s.time_truncated);
	ck_assert_uint_eq(s.files, 0);
	token_scan_finish(&s);

	ck_assert_int_eq(token_scan_dir(root, clock_mono_ms() + 60000, &s), 0);
	ck_assert(!s.time_truncated);
	ck_assert_uint_eq(s.files, 2);
	ck_assert_uint_eq(s.n_hits, 2);
	token_scan_finish(&s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("token_scan");
	TCase *tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, planted_tokens_found_and_masked);
	tcase_add_test(tc, git_binary_large_and_links_skipped);
	tcase_add_test(tc, short_prefix_is_no_token);
	tcase_add_test(tc, deadline_stops_the_walk);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
