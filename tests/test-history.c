#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "health.h"
#include "history.h"
#include "render.h"

/*
 * The probe history (history.c) and how the health store records into it
 * (health.c): the rings' wrap-around and bounds, transitions with their
 * reasons, the /history JSON, and a writer and readers at once (for the
 * ThreadSanitizer build).
 */

static struct history_probe
probe_at(int64_t at_ms, enum health_state raw)
{
	struct history_probe p = {
		.at_ms = at_ms,
		.latency_ms = at_ms % 1000,
		.http_status = 200,
		.raw = raw,
		.state = raw,
	};
	return p;
}

START_TEST(fills_in_order)
{
	struct history *h = history_create(5);
	ck_assert_uint_eq(history_probe_count(h), 0);
	ck_assert_ptr_null(history_probe_at(h, 0));
	for (int i = 0; i < 3; i++) {
		struct history_probe p = probe_at(1000 + i, HEALTH_HEALTHY);
		history_add_probe(h, &p);
	}
	ck_assert_uint_eq(history_probe_count(h), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(history_probe_at(h, i)->at_ms, 1000 + (int64_t)i);
	ck_assert_ptr_null(history_probe_at(h, 3));
	ck_assert_int_eq(h->since_ms, 1000);
	history_destroy(h);
	history_destroy(NULL);
}
END_TEST

START_TEST(wraps_around_keeping_the_newest)
{
	struct history *h = history_create(5);
	for (int i = 0; i < 12; i++) {
		struct history_probe p = probe_at(100 + i, HEALTH_HEALTHY);
		history_add_probe(h, &p);
		size_t want = i + 1 < 5 ? (size_t)i + 1 : 5;
		ck_assert_uint_eq(history_probe_count(h), want);
		/* Oldest first, newest last, at every step of the wrap. */
		ck_assert_int_eq(history_probe_at(h, want - 1)->at_ms, 100 + i);
		ck_assert_int_eq(history_probe_at(h, 0)->at_ms, 100 + i + 1 - (int)want);
	}
	ck_assert_uint_eq(h->recorded, 12);
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(history_probe_at(h, i)->at_ms, 107 + (int64_t)i);
	ck_assert_ptr_null(history_probe_at(h, 5));
	ck_assert_ptr_null(history_probe_at(h, (size_t)-1));
	history_destroy(h);
}
END_TEST

START_TEST(keeps_the_last_fifty_transitions)
{
	struct history *h = history_create(10);
	for (int i = 0; i < 60; i++) {
		struct history_transition t = {
			.at_ms = 5000 + i,
			.from = i % 2 ? HEALTH_UNHEALTHY : HEALTH_HEALTHY,
			.to = i % 2 ? HEALTH_HEALTHY : HEALTH_UNHEALTHY,
		};
		snprintf(t.reason, sizeof(t.reason), "change %d", i);
		history_add_transition(h, &t);
	}
	ck_assert_uint_eq(history_transition_count(h), HISTORY_TRANSITIONS);
	ck_assert_str_eq(history_transition_at(h, 0)->reason, "change 10");
	ck_assert_str_eq(history_transition_at(h, 49)->reason, "change 59");
	ck_assert_ptr_null(history_transition_at(h, 50));
	ck_assert_int_eq(h->since_ms, 5059);
	ck_assert_uint_eq(h->transitions_recorded, 60);
	history_destroy(h);
}
END_TEST

START_TEST(reasons_are_cut_to_fit)
{
	char small[8];
	history_set_reason(small, sizeof(small), "short");
	ck_assert_str_eq(small, "short");
	history_set_reason(small, sizeof(small), "1234567");
	ck_assert_str_eq(small, "1234567");
	history_set_reason(small, sizeof(small), "12345678");
	ck_assert_str_eq(small, "1234...");

	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct history_probe p = { 0 };
	history_set_reason(p.reason, sizeof(p.reason), big);
	ck_assert_uint_eq(strlen(p.reason), HISTORY_PROBE_REASON_MAX - 1);
	ck_assert_str_eq(p.reason + HISTORY_PROBE_REASON_MAX - 4, "...");
}
END_TEST

START_TEST(copy_is_linear_and_fits_a_smaller_ring)
{
	struct history *h = history_create(7);
	for (int i = 0; i < 10; i++) {
		struct history_probe p = probe_at(i, HEALTH_DEGRADED);
		history_add_probe(h, &p);
	}
	struct history_transition t = { .at_ms = 9, .from = HEALTH_HEALTHY,
					.to = HEALTH_DEGRADED, .reason = "slow" };
	history_add_transition(h, &t);

	struct history *copy = history_create(7);
	history_copy(copy, h);
	ck_assert_uint_eq(history_probe_count(copy), 7);
	for (size_t i = 0; i < 7; i++)
		ck_assert_int_eq(history_probe_at(copy, i)->at_ms, 3 + (int64_t)i);
	ck_assert_uint_eq(history_transition_count(copy), 1);
	ck_assert_str_eq(history_transition_at(copy, 0)->reason, "slow");
	ck_assert_int_eq(copy->since_ms, 9);
	history_destroy(copy);
	history_destroy(h);
}
END_TEST

/* ---- recorded by the health store */

static const struct health_params params = {
	.classify = { .degraded_latency_ms = 3000, .rate_limit_low = 10 },
	.failure_threshold = 1,
	.success_threshold = 1,
	.interval_ms = 15000,
	.timeout_ms = 5000,
	.stale_after_ms = 35000,
	.history_size = 10,
};

static struct probe_result
result(long status, int64_t at_ms)
{
	struct probe_result r;
	memset(&r, 0, sizeof(r));
	r.transport = PROBE_TRANSPORT_OK;
	r.http_status = status;
	r.started_ms = at_ms - 100;
	r.finished_ms = at_ms;
	r.finished_mono_ms = at_ms;
	r.latency_ms = 100;
	r.retry_after_s = -1;
	r.server_date_s = -1;
	r.rate_limit.has_limit = true;
	r.rate_limit.limit = 10000;
	r.rate_limit.has_remaining = true;
	r.rate_limit.remaining = 9000 + at_ms % 1000;
	if (status == 401)
		strcpy(r.reason, "Access Token Invalid");
	return r;
}

static void
feed(struct health_store *store, struct health_snapshot *s,
     const struct health_params *p, long status, int64_t at_ms)
{
	struct probe_result r = result(status, at_ms);
	health_record_probe(s, p, &r);
	health_store_publish(store, s);
}

START_TEST(store_records_probes_and_transitions)
{
	struct health_snapshot s, seen;
	struct health_store store;
	health_init(&s, &params, 1000, 1000);
	health_store_init(&store, &s);
	ck_assert_uint_eq(health_store_history_capacity(&store), 10);
	struct history *copy = history_create(10);

	feed(&store, &s, &params, 200, 2000);
	feed(&store, &s, &params, 401, 3000);
	/* Side checks publish too; they are no probes. */
	struct probe_result page = result(200, 3500);
	health_record_status_page(&s, &page, PAGE_NONE, "All Systems Operational");
	health_store_publish(&store, &s);
	feed(&store, &s, &params, 401, 4000);
	feed(&store, &s, &params, 200, 5000);

	health_store_read_history(&store, &seen, copy);
	ck_assert_uint_eq(history_probe_count(copy), 4);
	const struct history_probe *p = history_probe_at(copy, 1);
	ck_assert_int_eq(p->at_ms, 3000);
	ck_assert_int_eq(p->http_status, 401);
	ck_assert_int_eq(p->raw, HEALTH_UNHEALTHY);
	ck_assert_str_eq(p->reason, "401: Access Token Invalid");
	ck_assert(p->has_quota);
	ck_assert_int_eq(p->quota_remaining, 9000);
	ck_assert_int_eq(p->quota_limit, 10000);
	ck_assert_str_eq(history_probe_at(copy, 3)->reason, "");

	/* The first probe sets the state; a flip and a recovery are two. */
	ck_assert_uint_eq(history_transition_count(copy), 2);
	const struct history_transition *t = history_transition_at(copy, 0);
	ck_assert_int_eq(t->at_ms, 3000);
	ck_assert_int_eq(t->from, HEALTH_HEALTHY);
	ck_assert_int_eq(t->to, HEALTH_UNHEALTHY);
	ck_assert_str_eq(t->reason, "401: Access Token Invalid");
	t = history_transition_at(copy, 1);
	ck_assert_int_eq(t->from, HEALTH_UNHEALTHY);
	ck_assert_int_eq(t->to, HEALTH_HEALTHY);
	ck_assert_str_eq(t->reason, "200 in 100 ms");
	ck_assert_int_eq(copy->since_ms, 5000);

	/* Wrap-around through the store: at most history_size. */
	for (int i = 0; i < 25; i++)
		feed(&store, &s, &params, 200, 6000 + i);
	health_store_read_history(&store, &seen, copy);
	ck_assert_uint_eq(history_probe_count(copy), 10);
	ck_assert_int_eq(history_probe_at(copy, 9)->at_ms, 6024);
	ck_assert_int_eq(history_probe_at(copy, 0)->at_ms, 6015);
	ck_assert_uint_eq(history_transition_count(copy), 2);

	history_destroy(copy);
	health_store_finish(&store);
}
END_TEST

START_TEST(damped_probes_show_raw_and_reported)
{
	struct health_params damped = params;
	damped.failure_threshold = 2;
	struct health_snapshot s, seen;
	struct health_store store;
	health_init(&s, &damped, 1000, 1000);
	health_store_init(&store, &s);
	struct history *copy = history_create(10);

	feed(&store, &s, &damped, 200, 2000);
	feed(&store, &s, &damped, 500, 3000);
	health_store_read_history(&store, &seen, copy);
	const struct history_probe *p = history_probe_at(copy, 1);
	ck_assert_int_eq(p->raw, HEALTH_UNHEALTHY);
	ck_assert_int_eq(p->state, HEALTH_HEALTHY);
	ck_assert_uint_eq(history_transition_count(copy), 0);

	feed(&store, &s, &damped, 500, 4000);
	health_store_read_history(&store, &seen, copy);
	ck_assert_uint_eq(history_transition_count(copy), 1);
	ck_assert_int_eq(history_transition_at(copy, 0)->at_ms, 4000);
	ck_assert_int_eq(history_probe_at(copy, 2)->state, HEALTH_UNHEALTHY);

	history_destroy(copy);
	health_store_finish(&store);
}
END_TEST

START_TEST(no_history_when_size_is_zero)
{
	struct health_params none = params;
	none.history_size = 0;
	struct health_snapshot s, seen;
	struct health_store store;
	health_init(&s, &none, 1000, 1000);
	health_store_init(&store, &s);
	ck_assert_uint_eq(health_store_history_capacity(&store), 0);
	feed(&store, &s, &none, 200, 2000);
	ck_assert_uint_gt(health_store_read_history(&store, &seen, NULL), 1);
	ck_assert(seen.probed);
	health_store_finish(&store);
}
END_TEST

/* ---- /history JSON */

START_TEST(json_oldest_first_and_escaped)
{
	struct history *h = history_create(3);
	for (int i = 0; i < 4; i++) {
		struct history_probe p = probe_at(1764172800000LL + i * 1000,
						  i == 3 ? HEALTH_UNHEALTHY : HEALTH_HEALTHY);
		if (i == 3) {
			p.http_status = 0;
			history_set_reason(p.reason, sizeof(p.reason),
					   "say \"hi\" \\ </script>");
		}
		p.has_quota = i != 2;
		p.quota_remaining = 50 + i;
		p.quota_limit = i != 2 ? 100 : 0;
		history_add_probe(h, &p);
	}
	struct history_transition t = { .at_ms = 1764172803000LL,
					.from = HEALTH_HEALTHY,
					.to = HEALTH_UNHEALTHY,
					.reason = "timeout after 5000 ms" };
	history_add_transition(h, &t);

	size_t len = 0;
	char *body = render_history_json(h, &len);
	ck_assert_uint_eq(len, strlen(body));
	cJSON *doc = cJSON_Parse(body);
	ck_assert_msg(doc != NULL, "not JSON: %s", body);
	ck_assert_int_eq(cJSON_GetObjectItem(doc, "historySize")->valueint, 3);
	cJSON *probes = cJSON_GetObjectItem(doc, "probes");
	ck_assert_int_eq(cJSON_GetArraySize(probes), 3);
	cJSON *first = cJSON_GetArrayItem(probes, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(first, "at")->valuestring,
			 "2025-11-26T16:00:01.000Z");
	ck_assert_str_eq(cJSON_GetObjectItem(first, "state")->valuestring, "healthy");
	ck_assert_int_eq(cJSON_GetObjectItem(first, "httpStatus")->valueint, 200);
	ck_assert_int_eq(cJSON_GetObjectItem(first, "rateLimitRemaining")->valueint, 51);
	ck_assert_ptr_null(cJSON_GetObjectItem(first, "error"));
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(probes, 1),
					       "rateLimitRemaining"));
	cJSON *last = cJSON_GetArrayItem(probes, 2);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(last, "httpStatus")));
	ck_assert_str_eq(cJSON_GetObjectItem(last, "rawState")->valuestring, "unhealthy");
	ck_assert_str_eq(cJSON_GetObjectItem(last, "error")->valuestring,
			 "say \"hi\" \\ </script>");
	cJSON *trans = cJSON_GetObjectItem(doc, "transitions");
	ck_assert_int_eq(cJSON_GetArraySize(trans), 1);
	cJSON *t0 = cJSON_GetArrayItem(trans, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(t0, "from")->valuestring, "healthy");
	ck_assert_str_eq(cJSON_GetObjectItem(t0, "to")->valuestring, "unhealthy");
	ck_assert_str_eq(cJSON_GetObjectItem(t0, "reason")->valuestring,
			 "timeout after 5000 ms");
	cJSON_Delete(doc);
	free(body);

	struct history *empty = history_create(4);
	body = render_history_json(empty, &len);
	doc = cJSON_Parse(body);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "probes")), 0);
	ck_assert_ptr_null(cJSON_GetObjectItem(doc, "since"));
	cJSON_Delete(doc);
	free(body);
	history_destroy(empty);
	history_destroy(h);
}
END_TEST

/* ---- one writer, readers at once */

#define RACE_PROBES 3000

struct race {
	struct health_store store;
	atomic_bool done;
	const char *failure;
};

static void *
race_writer(void *arg)
{
	struct race *race = arg;
	struct health_snapshot s;
	health_store_read(&race->store, &s);
	for (int i = 0; i < RACE_PROBES; i++)
		feed(&race->store, &s, &params, i % 7 == 0 ? 401 : 200, 10000 + i);
	atomic_store(&race->done, true);
	return NULL;
}

static void *
race_reader(void *arg)
{
	struct race *race = arg;
	struct health_snapshot seen;
	struct history *copy = history_create(health_store_history_capacity(&race->store));
	uint64_t last_recorded = 0;
	while (!atomic_load(&race->done)) {
		health_store_read_history(&race->store, &seen, copy);
		if (copy->recorded < last_recorded)
			race->failure = "recorded went backwards";
		last_recorded = copy->recorded;
		/* The copy is of one instant: the newest probe is the
		 * snapshot's. */
		size_t n = history_probe_count(copy);
		if (n > 0 && history_probe_at(copy, n - 1)->at_ms != seen.last.finished_ms)
			race->failure = "history and snapshot disagree";
		for (size_t i = 1; i < n; i++)
			if (history_probe_at(copy, i)->at_ms <=
			    history_probe_at(copy, i - 1)->at_ms)
				race->failure = "probes out of order";
	}
	history_destroy(copy);
	return NULL;
}

/*
 * /history serves every probe kept in one body: at the largest
 * history_size the settings accept, with every field at its longest and
 * every reason made of the characters JSON escapes, the body still fits
 * HISTORY_JSON_MAX (history.h), the figure the documentation gives.
 */
START_TEST(json_bounded_at_the_largest_size)
{
	struct history *h = history_create(HISTORY_SIZE_MAX);
	struct history_probe p = {
		.at_ms = 253402300799999LL,    /* 9999-12-31T23:59:59.999Z */
		.latency_ms = INT64_MAX,
		.http_status = 999,
		.raw = HEALTH_UNHEALTHY,
		.state = HEALTH_DEGRADED,
		.has_quota = true,
		.quota_remaining = INT64_MAX,
		.quota_limit = INT64_MAX,
	};
	memset(p.reason, '"', sizeof(p.reason) - 1);
	for (size_t i = 0; i < HISTORY_SIZE_MAX + 1; i++)
		history_add_probe(h, &p);
	struct history_transition t = {
		.at_ms = p.at_ms,
		.from = HEALTH_UNHEALTHY,
		.to = HEALTH_DEGRADED,
	};
	memset(t.reason, '\\', sizeof(t.reason) - 1);
	for (size_t i = 0; i < HISTORY_TRANSITIONS; i++)
		history_add_transition(h, &t);

	size_t len = 0;
	char *body = render_history_json(h, &len);
	ck_assert_uint_eq(history_probe_count(h), HISTORY_SIZE_MAX);
	ck_assert_msg(len <= HISTORY_JSON_MAX, "%zu probes: %zu bytes, over %d",
		      (size_t)HISTORY_SIZE_MAX, len, HISTORY_JSON_MAX);
	/* And it is the whole history, not a cut one. */
	cJSON *root = cJSON_Parse(body);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "probes")),
			 HISTORY_SIZE_MAX);
	cJSON_Delete(root);
	free(body);
	history_destroy(h);
}
END_TEST

START_TEST(readers_see_whole_records)
{
	static struct race race;
	struct health_snapshot s;
	memset(&race, 0, sizeof(race));
	health_init(&s, &params, 1000, 1000);
	health_store_init(&race.store, &s);
	atomic_init(&race.done, false);

	pthread_t writer, readers[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&readers[i], NULL, race_reader, &race), 0);
	ck_assert_int_eq(pthread_create(&writer, NULL, race_writer, &race), 0);
	pthread_join(writer, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	ck_assert_msg(race.failure == NULL, "%s", race.failure);
	ck_assert_uint_eq(race.store.history->recorded, RACE_PROBES);
	health_store_finish(&race.store);
}
END_TEST

static Suite *
history_suite(void)
{
	Suite *s = suite_create("history");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "fills in order", fills_in_order },
		{ "wrap-around", wraps_around_keeping_the_newest },
		{ "transitions", keeps_the_last_fifty_transitions },
		{ "reasons cut", reasons_are_cut_to_fit },
		{ "copy", copy_is_linear_and_fits_a_smaller_ring },
		{ "store records", store_records_probes_and_transitions },
		{ "damping", damped_probes_show_raw_and_reported },
		{ "size zero", no_history_when_size_is_zero },
		{ "json", json_oldest_first_and_escaped },
		{ "json bounded", json_bounded_at_the_largest_size },
		{ "writer and readers", readers_see_whole_records },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		tcase_set_timeout(tc, 60);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(history_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
