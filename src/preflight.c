#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "clock.h"
#include "mem.h"
#include "preflight.h"
#include "preflight_items.h"
#include "preflight_report.h"
#include "secret.h"
#include "signature.h"
#include "text.h"

/* Longest wait in one curl_multi_poll(): the run deadline is re-checked
 * at least this often. */
#define POLL_MAX_MS 1000
/* A key that is not the client secret, for the forged notification. */
#define WRONG_KEY "intercom-healthd preflight: not the client secret"

/* ---- the run ---- */

/*
 * The token scan runs beside the network items: on the thread that drives
 * curl, a large tree would stall every transfer past its timeout and fail
 * them all. Both stop at the run's deadline.
 */
struct scan_job {
	const char *dir;
	int64_t deadline_mono_ms;
	int rc;
	bool running;
	pthread_t thread;
	struct token_scan scan;
};

struct runner {
	const struct settings *s;
	struct curl_blob ca;
	CURLM *multi;
	struct preflight_observed o;
	struct preflight_call latency;  /* the sample in flight */
	/* Every call the run started, once each: the one list that the
	 * deadline abandons and the end releases. */
	struct preflight_call **calls;
	size_t n_calls, calls_cap;
	size_t in_flight;
	int64_t deadline_mono_ms;
	struct scan_job scan;
};

/* Which check_json a call's request_complete() gets: the API's answers
 * must be JSON objects, as the daemon's probe demands. */
static bool
wants_json(const struct runner *run, const struct preflight_call *c)
{
	return c == &run->o.me || c == &run->latency;
}

static void
list_call(struct runner *run, struct preflight_call *c)
{
	for (size_t i = 0; i < run->n_calls; i++)
		if (run->calls[i] == c)
			return;         /* the latency call, started again */
	if (run->n_calls == run->calls_cap) {
		run->calls_cap = run->calls_cap ? 2 * run->calls_cap : 16;
		run->calls = xrealloc(run->calls, run->calls_cap * sizeof(*run->calls));
	}
	run->calls[run->n_calls++] = c;
}

/* c->req is made: put it on the multi handle and the run's list. */
static void
start(struct runner *run, struct preflight_call *c)
{
	c->ran = true;
	list_call(run, c);
	request_connect_to(&c->req, run->s->connect_to);
	curl_easy_setopt(c->req.easy, CURLOPT_PRIVATE, c);
	request_start(&c->req, run->multi);
	run->in_flight++;
}

static void
start_plain(struct runner *run, struct preflight_call *c, const char *url,
	    bool head)
{
	request_init_plain(&c->req, url, head, run->s->timeout_ms, &run->ca);
	start(run, c);
}

/* ---- what each item starts (NULL in the table: it reads another's) ---- */

static void
start_me(struct runner *run)
{
	const struct settings *s = run->s;
	request_init_api_path(&run->o.me.req, s, s->token, "/me", &run->ca);
	request_want_certinfo(&run->o.me.req);
	start(run, &run->o.me);
}

static void
start_latency_sample(struct runner *run)
{
	const struct settings *s = run->s;
	request_init_api(&run->latency.req, s, s->token, &run->ca);
	start(run, &run->latency);
}

static void
start_status(struct runner *run)
{
	if (run->s->status_url)
		start_plain(run, &run->o.status, run->s->status_url, false);
}

static void
start_webhook_head(struct runner *run)
{
	if (run->s->webhook_url)
		start_plain(run, &run->o.webhook_head, run->s->webhook_url, true);
}

/*
 * A realistic `ping` notification, the test Intercom sends from the
 * Developer Hub: a notification_event with topic "ping". The receiver
 * signs and verifies the bytes, so they are made once and sent as they
 * are by each of the three POSTs.
 */
static char *
ping_notification(void)
{
	/* A fresh id per run, as each delivery has: a receiver that
	 * de-duplicates on it must not drop a second run's ping. */
	unsigned char raw[16] = { 0 };
	char id[33];
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		int64_t t = clock_mono_ms();
		memcpy(raw, &t, sizeof(t));
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	long long now = (long long)(clock_real_ms() / 1000);
	return xasprintf("{\"type\":\"notification_event\",\"app_id\":\"preflight\","
			 "\"data\":{\"type\":\"notification_event_data\",\"item\":"
			 "{\"type\":\"ping\",\"message\":\"intercom-healthd preflight:"
			 " a test notification\"}},\"links\":{},\"id\":\"notif_%s\","
			 "\"topic\":\"ping\",\"delivery_status\":\"pending\","
			 "\"delivery_attempts\":1,\"delivered_at\":0,"
			 "\"first_sent_at\":%lld,\"created_at\":%lld,\"self\":null}",
			 id, now, now);
}

/* POSTs body to the webhook with signature_line (or none) after the
 * headers every delivery has. */
static void
start_post(struct runner *run, struct preflight_call *c, const char *body,
	   size_t len, const char *signature_line)
{
	const struct settings *s = run->s;
	const char *headers[] = { "Content-Type: application/json",
				  "User-Agent: intercom-healthd-preflight",
				  signature_line, NULL };
	request_init_post(&c->req, s->webhook_url, body, len, headers,
			  s->webhook_secret, s->timeout_ms, &run->ca);
	start(run, c);
}

static void
start_webhook_posts(struct runner *run)
{
	const struct settings *s = run->s;
	if (!s->webhook_url || !s->webhook_secret)
		return;
	char *body = ping_notification();
	size_t len = strlen(body);
	char good[SIGNATURE_HUB_SIZE], bad[SIGNATURE_HUB_SIZE];
	if (signature_hub(s->webhook_secret, body, len, good) < 0 ||
	    signature_hub(WRONG_KEY, body, len, bad) < 0) {
		/* libcrypto without SHA-1 (a FIPS policy): the item says
		 * the signed POST never ran. */
		free(body);
		return;
	}
	char *good_line = xasprintf("X-Hub-Signature: %s", good);
	char *bad_line = xasprintf("X-Hub-Signature: %s", bad);
	start_post(run, &run->o.signed_post, body, len, good_line);
	start_post(run, &run->o.forged_post, body, len, bad_line);
	start_post(run, &run->o.unsigned_post, body, len, NULL);
	mem_wipe(good, sizeof(good));
	secret_free(good_line);
	free(bad_line);
	free(body);
}

static void *
scan_thread(void *data)
{
	struct scan_job *job = data;
	job->rc = token_scan_dir(job->dir, job->deadline_mono_ms, &job->scan);
	return NULL;
}

static void
start_scan(struct runner *run)
{
	struct scan_job *job = &run->scan;
	if (!run->s->scan_dir)
		return;
	job->dir = run->s->scan_dir;
	job->deadline_mono_ms = run->deadline_mono_ms;
	int e = pthread_create(&job->thread, NULL, scan_thread, job);
	if (e != 0)
		job->rc = -e;
	job->running = e == 0;
}

static void
start_health(struct runner *run)
{
	if (run->s->health_url)
		start_plain(run, &run->o.health, run->s->health_url, false);
}

/* Splits required_paths at commas into o->scope_paths and starts a GET
 * of each. */
static void
start_scopes(struct runner *run)
{
	const struct settings *s = run->s;
	struct preflight_observed *o = &run->o;
	if (!s->required_paths)
		return;
	size_t n = 1;
	for (const char *p = s->required_paths; *p; p++)
		n += *p == ',';
	o->scope_paths = xcalloc(n, sizeof(*o->scope_paths));
	o->scopes = xcalloc(n, sizeof(*o->scopes));
	const char *p = s->required_paths;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len > 0) {
			char *path = xstrndup(p, len);
			o->scope_paths[o->scope_count] = path;
			request_init_api_path(&o->scopes[o->scope_count].req, s,
					      s->token, path, &run->ca);
			start(run, &o->scopes[o->scope_count]);
			o->scope_count++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
}

/*
 * The checklist, in the contract's order, which is the order of every
 * output. An item is its row: what it starts (its start function makes
 * the calls it needs with start(), or a thread it joins in end_scan();
 * NULL when it judges another item's call) and its judge. masks_tokens:
 * its evidence shows tokens masked to the prefix every token shares, so
 * the token's redaction pass (which would read "(redacted)" for most of
 * them) leaves it out.
 */
static const struct item_row {
	const char *id;
	void (*start)(struct runner *run);
	preflight_judge_fn *judge;
	bool masks_tokens;
} items[] = {
	{ "auth", start_me, preflight_judge_auth, false },
	{ "region", NULL, preflight_judge_region, false },
	{ "api_version", NULL, preflight_judge_api_version, false },
	{ "rate_limit", NULL, preflight_judge_rate_limit, false },
	{ "latency", start_latency_sample, preflight_judge_latency, false },
	{ "tls", NULL, preflight_judge_tls, false },
	{ "clock", NULL, preflight_judge_clock, false },
	{ "status_page", start_status, preflight_judge_status_page, false },
	{ "webhook_reachable", start_webhook_head, preflight_judge_webhook_reachable, false },
	{ "webhook_signature", start_webhook_posts, preflight_judge_webhook_signature, false },
	{ "token_leak", start_scan, preflight_judge_token_leak, true },
	{ "health_endpoint", start_health, preflight_judge_health_endpoint, false },
	{ "scopes", start_scopes, preflight_judge_scopes, false },
};
#define ITEM_COUNT (sizeof(items) / sizeof(items[0]))

static void
start_all(struct runner *run)
{
	for (size_t i = 0; i < ITEM_COUNT; i++)
		if (items[i].start)
			items[i].start(run);
}

/* A latency sample finished: keep it, and start the next while the
 * budget holds one more timeout. */
static void
latency_sample_done(struct runner *run)
{
	struct preflight_observed *o = &run->o;
	const struct probe_result *r = &run->latency.req.result;
	if (r->transport == PROBE_TRANSPORT_OK) {
		o->latency_ms[o->latency_count++] = r->latency_ms;
	} else {
		o->latency_failed++;
		snprintf(o->latency_error, sizeof(o->latency_error), "%s", r->reason);
	}
	request_cleanup(&run->latency.req);
	size_t taken = o->latency_count + o->latency_failed;
	int64_t left = run->deadline_mono_ms - clock_mono_ms();
	if (taken < PREFLIGHT_LATENCY_SAMPLES && left > run->s->timeout_ms)
		start_latency_sample(run);
}

/*
 * /me answered 401 on one of Intercom's regional hosts: ask the other two
 * once with the same token, as a token of another region's workspace gets
 * exactly that answer. Only Intercom's own hosts, from settings' table:
 * the token goes nowhere else.
 */
static void
start_other_regions(struct runner *run)
{
	const struct settings *s = run->s;
	struct preflight_observed *o = &run->o;
	const char *in_use = settings_region_of_url(s->api_url);
	const char *name, *url;
	if (!in_use || o->me.req.result.http_status != 401)
		return;
	for (size_t i = 0; (name = settings_region_at(i, &url)); i++) {
		if (strcmp(name, in_use) == 0 ||
		    o->other_region_count == PREFLIGHT_OTHER_REGIONS)
			continue;
		/* The same request but for its host: a copy of the settings
		 * with that api_url, read only while the request is made. */
		struct settings there = *s;
		there.api_url = (char *)url;
		struct preflight_call *c = &o->other_regions[o->other_region_count];
		request_init_api_path(&c->req, &there, s->token, "/me", &run->ca);
		o->other_region_names[o->other_region_count] = name;
		o->other_region_urls[o->other_region_count] = url;
		o->other_region_count++;
		start(run, c);
	}
}

static void
finish(struct runner *run, struct preflight_call *c, CURLcode code)
{
	curl_multi_remove_handle(run->multi, c->req.easy);
	run->in_flight--;
	request_complete(&c->req, code, wants_json(run, c));
	if (c == &run->latency)
		latency_sample_done(run);
	else if (c == &run->o.me && code == CURLE_OK)
		start_other_regions(run);
}

static void
drain(struct runner *run)
{
	CURLMsg *m;
	int queued;
	while ((m = curl_multi_info_read(run->multi, &queued))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct preflight_call *c = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c)
			finish(run, c, m->data.result);
	}
}

/* The run's deadline passed: whatever is still in flight ends as a
 * timeout, named as the run's rather than the request's. */
static void
abandon(struct runner *run, struct preflight_call *c, int64_t budget_ms)
{
	if (!c->ran || !c->req.easy || c->req.result.finished_mono_ms)
		return;
	finish(run, c, CURLE_OPERATION_TIMEDOUT);
	snprintf(c->req.result.reason, sizeof(c->req.result.reason),
		 "no answer within the run's %lld ms", (long long)budget_ms);
}

static void
abandon_all(struct runner *run, int64_t budget_ms)
{
	run->deadline_mono_ms = 0;      /* no further latency samples */
	for (size_t i = 0; i < run->n_calls; i++)
		abandon(run, run->calls[i], budget_ms);
}

static void
run_loop(struct runner *run, int64_t budget_ms)
{
	while (run->in_flight > 0) {
		int running = 0;
		curl_multi_perform(run->multi, &running);
		drain(run);
		if (run->in_flight == 0)
			break;
		int64_t left = run->deadline_mono_ms - clock_mono_ms();
		if (left <= 0) {
			abandon_all(run, budget_ms);
			break;
		}
		curl_multi_poll(run->multi, NULL, 0,
				(int)(left < POLL_MAX_MS ? left : POLL_MAX_MS), NULL);
	}
}

/* The scan thread stops at the deadline too: wait for it, and hand its
 * findings to the judges. */
static void
end_scan(struct runner *run)
{
	struct scan_job *job = &run->scan;
	if (job->running)
		pthread_join(job->thread, NULL);
	if (run->s->scan_dir) {
		run->o.scanned = true;
		run->o.scan_rc = job->rc;
		run->o.scan = job->scan;
	}
}

static void
release(struct runner *run)
{
	struct preflight_observed *o = &run->o;
	for (size_t i = 0; i < run->n_calls; i++)
		request_cleanup(&run->calls[i]->req);
	free(run->calls);
	for (size_t i = 0; i < o->scope_count; i++)
		free(o->scope_paths[i]);
	free(o->scopes);
	free(o->scope_paths);
	token_scan_finish(&o->scan);
	if (run->multi)
		curl_multi_cleanup(run->multi);
	free(run->ca.data);
}

/*
 * The second lock: every evidence the items built came from redacted
 * reasons and settings that cannot hold a secret, but the report is what
 * leaves the process. Advice is our own fixed words (where a secret made
 * of words, "client-secret-42", would redact "client secret" for
 * nothing). token_leak is left out of the token's pass on purpose:
 * its masks are the 6 characters every hit is reported with, and most
 * tokens share them ("dG9rOj"), so they would always read "(redacted)".
 */
static void
redact_report(const struct settings *s, struct preflight_report *report)
{
	for (size_t i = 0; i < report->n_items; i++) {
		struct preflight_item *it = &report->items[i];
		secret_redact_alloc(&it->evidence, s->webhook_secret);
		if (!items[i].masks_tokens)
			secret_redact_alloc(&it->evidence, s->token);
	}
}

static void
judge_all(const struct settings *s, const struct preflight_observed *o,
	  struct preflight_report *report)
{
	preflight_report_init(report, ITEM_COUNT);
	for (size_t i = 0; i < ITEM_COUNT; i++) {
		report->items[i].id = items[i].id;
		items[i].judge(s, o, &report->items[i]);
	}
}

int
preflight_run(const struct settings *s)
{
	struct runner run = { .s = s };
	struct preflight_report report;
	char *err = NULL;
	int64_t started = clock_mono_ms();
	int64_t budget_ms = PREFLIGHT_BUDGET * s->timeout_ms;

	if (request_load_ca(s->ca_file, &run.ca, &err) < 0) {
		fprintf(stderr, "intercom-healthd: %s\n", err ? err : "cannot load CA bundle");
		free(err);
		return 2;
	}
	run.multi = curl_multi_init();
	if (!run.multi)
		mem_oom();
	run.deadline_mono_ms = started + budget_ms;

	start_all(&run);
	run_loop(&run, budget_ms);
	end_scan(&run);
	run.o.now_s = clock_real_ms() / 1000;

	judge_all(s, &run.o, &report);
	char *api = text_url_shown(s->api_url);
	report.target = xasprintf("%s (region %s, Intercom-Version %s, timeout %lld ms)",
				  api, s->region, s->api_version,
				  (long long)s->timeout_ms);
	free(api);
	redact_report(s, &report);
	report.duration_ms = clock_mono_ms() - started;
	release(&run);

	preflight_report_print(stdout, &report, s->format, s->strict,
			       s->format == OUTPUT_FORMAT_TEXT &&
			       preflight_report_colour(stdout));
	int status = preflight_exit_status(&report, s->strict);
	preflight_report_finish(&report);
	return status;
}
