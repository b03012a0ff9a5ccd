/*
 * Unit tests of mem.c's one out-of-memory policy as the libraries see it:
 * once mem_init() ran, cJSON allocates through xmalloc(), so an
 * allocation it cannot have aborts instead of returning NULL into a half
 * built answer.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mem.h"

/* Under ASan an impossible malloc() would end the process through the
 * sanitizer's own report (exit status 1): let it return NULL, as glibc
 * does, so that what happens next is this program's policy. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

START_TEST(json_oom_aborts)
{
	mem_init();
	/* No allocator can give SIZE_MAX bytes: cJSON's own malloc would
	 * return NULL here, xmalloc() aborts. */
	void *p = cJSON_malloc(SIZE_MAX);
	cJSON_free(p);
	ck_abort_msg("cJSON_malloc(SIZE_MAX) returned instead of aborting");
}
END_TEST

START_TEST(json_round_trip)
{
	mem_init();
	cJSON *root = cJSON_Parse("{\"probes\":[1,2,3],\"s\":\"x\"}");
	ck_assert_ptr_nonnull(root);
	char *text = cJSON_PrintUnformatted(root);
	ck_assert_str_eq(text, "{\"probes\":[1,2,3],\"s\":\"x\"}");
	/* What cJSON printed is freed with free(), as the callers do. */
	free(text);
	cJSON_Delete(root);
}
END_TEST

static Suite *
mem_suite(bool fork)
{
	Suite *s = suite_create("mem");
	TCase *tc = tcase_create("json_hooks");

	tcase_add_test(tc, json_round_trip);
	/* An abort needs a child to die in: under CK_FORK=no (valgrind)
	 * it would end the whole run. */
	if (fork)
		tcase_add_test_raise_signal(tc, json_oom_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *env = getenv("CK_FORK");
	SRunner *sr = srunner_create(mem_suite(!env || strcmp(env, "no") != 0));
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
