#include <check.h>
#include <stdlib.h>

#include "schedule.h"

/*
 * The probe worker's timing (schedule.c) at injected times: what the
 * integration tests used to watch on the wall clock, in microseconds.
 */

static struct schedule s;

/* interval 15 s, side checks every 60 s, polls of at most 1 s, at t=1000. */
static void
setup(void)
{
	schedule_init(&s, 15000, 60000, 1000, 42, 1000);
}

static void
teardown(void)
{
}

START_TEST(everything_due_at_start)
{
	ck_assert(schedule_api_due(&s, 1000));
	ck_assert(schedule_side_due(&s, 1000));
	ck_assert(!schedule_api_due(&s, 999));
}
END_TEST

START_TEST(probes_spaced_start_to_start_with_jitter)
{
	/* Whatever a probe takes, the next starts one interval plus at most
	 * 10% after this one's start. */
	int64_t start = 1000;
	int64_t min = INT64_MAX, max = 0;
	for (int i = 0; i < 1000; i++) {
		schedule_api_started(&s, start);
		int64_t gap = s.next_api_ms - start;
		ck_assert_int_ge(gap, 15000);
		ck_assert_int_le(gap, 16500);
		min = gap < min ? gap : min;
		max = gap > max ? gap : max;
		ck_assert(!schedule_api_due(&s, s.next_api_ms - 1));
		ck_assert(schedule_api_due(&s, s.next_api_ms));
		start = s.next_api_ms;
	}
	/* The jitter is spread, not constant: replicas drift apart. */
	ck_assert_int_lt(min, 15100);
	ck_assert_int_gt(max, 16400);
}
END_TEST

START_TEST(jitter_reproducible_and_bounded)
{
	struct schedule a, b;
	schedule_init(&a, 15000, 60000, 1000, 7, 0);
	schedule_init(&b, 15000, 60000, 1000, 7, 0);
	for (int i = 0; i < 100; i++) {
		int64_t j = schedule_jitter_ms(&a);
		ck_assert_int_eq(j, schedule_jitter_ms(&b));
		ck_assert_int_ge(j, 0);
		ck_assert_int_le(j, 1500);
	}
	/* Below 10 ms there is nothing to spread. */
	schedule_init(&a, 9, 60000, 1000, 7, 0);
	ck_assert_int_eq(schedule_jitter_ms(&a), 0);
}
END_TEST

START_TEST(backoff_only_postpones)
{
	schedule_api_started(&s, 1000);
	int64_t planned = s.next_api_ms;
	/* A wait that ends before the planned probe changes nothing. */
	ck_assert(!schedule_backoff(&s, 2000, 5000));
	ck_assert_int_eq(s.next_api_ms, planned);
	ck_assert(!schedule_backoff(&s, 2000, 0));
	ck_assert(!schedule_backoff(&s, 2000, -5));
	ck_assert_int_eq(s.next_api_ms, planned);
	/* A longer one moves the probe past it, with jitter on top. */
	ck_assert(schedule_backoff(&s, 2000, 60000));
	ck_assert_int_ge(s.next_api_ms, 62000);
	ck_assert_int_le(s.next_api_ms, 63500);
	ck_assert(!schedule_api_due(&s, 61999));
}
END_TEST

START_TEST(failed_start_retries_an_interval_later)
{
	schedule_api_failed(&s, 5000);
	ck_assert_int_eq(s.next_api_ms, 20000);
}
END_TEST

START_TEST(side_checks_on_their_own_timer)
{
	schedule_side_started(&s, 1000);
	ck_assert(!schedule_side_due(&s, 60999));
	ck_assert(schedule_side_due(&s, 61000));
	/* API probes do not move it. */
	schedule_api_started(&s, 1000);
	ck_assert_int_eq(s.next_side_ms, 61000);
}
END_TEST

START_TEST(poll_until_the_next_due_work)
{
	schedule_api_started(&s, 1000);      /* next API at 16000..17500 */
	schedule_side_started(&s, 1000);     /* next side at 61000 */
	/* Far from anything: at most max_poll_ms (the heartbeat). */
	ck_assert_int_eq(schedule_poll_ms(&s, 2000, false), 1000);
	/* Close to the next probe: exactly until it. */
	int64_t next = s.next_api_ms;
	ck_assert_int_eq(schedule_poll_ms(&s, next - 300, false), 300);
	/* Overdue: no sleep at all. */
	ck_assert_int_eq(schedule_poll_ms(&s, next + 50, false), 0);
	/* A probe in flight is not due work: only the side timer counts. */
	ck_assert_int_eq(schedule_poll_ms(&s, next + 50, true), 1000);
	ck_assert_int_eq(schedule_poll_ms(&s, 60900, true), 100);
	/* A shorter heartbeat (a 1 s watchdog) caps the sleep. */
	s.max_poll_ms = 250;
	ck_assert_int_eq(schedule_poll_ms(&s, 2000, false), 250);
}
END_TEST

START_TEST(heartbeat_fresh_for_half_the_watchdog)
{
	ck_assert(schedule_heartbeat_fresh(10000, 10000, 1000));
	ck_assert(schedule_heartbeat_fresh(10499, 10000, 1000));
	ck_assert(!schedule_heartbeat_fresh(10500, 10000, 1000));
	ck_assert(!schedule_heartbeat_fresh(40000, 10000, 30000));
	ck_assert(schedule_heartbeat_fresh(24999, 10000, 30000));
}
END_TEST

static Suite *
schedule_suite(void)
{
	Suite *suite = suite_create("schedule");
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "due at start", everything_due_at_start },
		{ "start to start", probes_spaced_start_to_start_with_jitter },
		{ "jitter", jitter_reproducible_and_bounded },
		{ "backoff", backoff_only_postpones },
		{ "failed start", failed_start_retries_an_interval_later },
		{ "side timer", side_checks_on_their_own_timer },
		{ "poll", poll_until_the_next_due_work },
		{ "heartbeat", heartbeat_fresh_for_half_the_watchdog },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(schedule_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
