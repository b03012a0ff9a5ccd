#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "classify.h"
#include "mem.h"
#include "preflight_items.h"
#include "response.h"
#include "secret.h"
#include "text.h"

/* Contract thresholds. */
#define TLS_WARN_DAYS 14
#define CLOCK_WARN_S 30
/* Intercom gives delivery priority to endpoints answering within this. */
#define WEBHOOK_FAST_MS 500
/* Hits listed in the token_leak evidence; the rest are counted. */
#define LEAK_LIST_MAX 10

#define DEVHUB "the Developer Hub (app > Authentication)"

/* A string member of the JSON object at obj, printable and cut short,
 * into out; "" when missing. */
static void
json_string(const cJSON *obj, const char *name, const char *secret,
	    char *out, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	out[0] = '\0';
	if (cJSON_IsString(v) && v->valuestring)
		secret_printable(out, size, v->valuestring, strlen(v->valuestring),
				 64, secret);
}

static cJSON *
parse_body(const struct request *req)
{
	if (req->truncated || req->body_len == 0)
		return NULL;
	return cJSON_ParseWithLength(req->body, req->body_len);
}

/* errors[0].code of an error.list body, into out ("" when none). */
static void
error_code(const struct request *req, const char *secret, char *out, size_t size)
{
	out[0] = '\0';
	cJSON *doc = parse_body(req);
	const cJSON *errors = cJSON_GetObjectItemCaseSensitive(doc, "errors");
	const cJSON *first = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
	if (cJSON_IsObject(first))
		json_string(first, "code", secret, out, size);
	cJSON_Delete(doc);
}

static bool
answered(const struct preflight_call *c)
{
	return c->ran && c->req.result.transport == PROBE_TRANSPORT_OK;
}

static long
status_of(const struct preflight_call *c)
{
	return answered(c) ? c->req.result.http_status : 0;
}

/* "401: Access Token Invalid", or the transport failure. */
static void
outcome(const struct preflight_call *c, char *out, size_t size)
{
	const struct probe_result *r = &c->req.result;
	if (!c->ran)
		snprintf(out, size, "not run");
	else if (r->transport != PROBE_TRANSPORT_OK)
		snprintf(out, size, "%s", r->reason[0] ? r->reason : "no answer");
	else if (r->reason[0])
		snprintf(out, size, "%ld: %s", r->http_status, r->reason);
	else
		snprintf(out, size, "%ld", r->http_status);
}

/* ---- the API: auth, region, api_version, rate_limit, tls, clock ---- */

/* app.region of /me's answer into region ("" when none). */
static void
me_region(const struct settings *s, const struct preflight_observed *o,
	  char *region, size_t size)
{
	cJSON *doc = parse_body(&o->me.req);
	const cJSON *app = cJSON_GetObjectItemCaseSensitive(doc, "app");
	json_string(app, "region", s->token, region, size);
	cJSON_Delete(doc);
}

/* Upper-case copy of a region name ("eu" -> "EU") into out. */
static void
region_upper(const char *name, char *out, size_t size)
{
	size_t i = 0;
	for (; name[i] && i + 1 < size; i++)
		out[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' :
				name[i]);
	out[i] = '\0';
}

/*
 * 401 from /me. When the other regional hosts were asked (the runner does
 * so on a 401 from one of Intercom's hosts) and one accepts the token,
 * the token is fine and the host is wrong: rotating it would change
 * nothing, so the advice is the region.
 */
static void
judge_auth_401(const struct preflight_observed *o, const char *what,
	       struct preflight_item *it)
{
	for (size_t i = 0; i < o->other_region_count; i++) {
		if (!classify_is_2xx(status_of(&o->other_regions[i])))
			continue;
		char upper[8];
		region_upper(o->other_region_names[i], upper, sizeof(upper));
		preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s; the %s host (%s) accepts"
			      " this token: it belongs to a workspace in region %s",
			      what, upper, o->other_region_urls[i], upper);
		preflight_advise(it, "set region = %s (or api_url = %s): a token is"
				 " valid only on its workspace's regional host, so"
				 " rotating it would not help", o->other_region_names[i],
				 o->other_region_urls[i]);
		return;
	}
	preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
	if (o->other_region_count == PREFLIGHT_OTHER_REGIONS &&
	    status_of(&o->other_regions[0]) == 401 &&
	    status_of(&o->other_regions[1]) == 401) {
		char a[8], b[8];
		region_upper(o->other_region_names[0], a, sizeof(a));
		region_upper(o->other_region_names[1], b, sizeof(b));
		char *ev = xasprintf("%s (the %s and %s hosts refuse it too)",
				     it->evidence, a, b);
		free(it->evidence);
		it->evidence = ev;
	}
	preflight_advise(it, "the token is invalid, revoked or expired: rotate it"
			 " in " DEVHUB " and install the new one (token_file,"
			 " then SIGHUP)");
}

void
preflight_judge_auth(const struct settings *s, const struct preflight_observed *o,
		     struct preflight_item *it)
{
	const struct preflight_call *me = &o->me;
	long status = status_of(me);
	char what[PROBE_ERROR_MAX + 32];
	outcome(me, what, sizeof(what));

	if (!answered(me) && me->req.result.transport == PROBE_TRANSPORT_PROTOCOL) {
		/* The host answered, but not as Intercom does. */
		preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
		char *api = text_url_shown(s->api_url);
		preflight_advise(it, "%s answers, but not as Intercom's API: check"
				 " api_url, and any proxy in between", api);
		free(api);
		return;
	}
	if (!answered(me)) {
		preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
		char *api = text_url_shown(s->api_url);
		preflight_advise(it, "check that this host reaches %s (firewall, proxy,"
				 " DNS) and that its certificate verifies (ca_file)", api);
		free(api);
		return;
	}
	if (classify_is_2xx(status)) {
		char id_code[80], name[80], region[32];
		me_region(s, o, region, sizeof(region));
		cJSON *doc = parse_body(&me->req);
		const cJSON *app = cJSON_GetObjectItemCaseSensitive(doc, "app");
		json_string(app, "id_code", s->token, id_code, sizeof(id_code));
		json_string(app, "name", s->token, name, sizeof(name));
		cJSON_Delete(doc);
		preflight_set(it, PREFLIGHT_PASS, "%ld from GET /me: workspace %s%s%s%s,"
			      " region %s", status, id_code[0] ? id_code : "(no id_code)",
			      name[0] ? " (" : "", name, name[0] ? ")" : "",
			      region[0] ? region : "(not given)");
		return;
	}
	switch (status) {
	case 401:
		judge_auth_401(o, what, it);
		return;
	case 403:
		preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
		preflight_advise(it, "the token may not read /me: check the app's"
				 " permissions and workspace plan in the Developer Hub");
		return;
	case 429:
		preflight_set(it, PREFLIGHT_PASS, "GET /me: %s (the token was accepted;"
			      " see rate_limit)", what);
		return;
	default:
		break;
	}
	preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
	if (status == 400)
		preflight_advise(it, "Intercom refused the request itself: see api_version");
	else if (status >= 500)
		preflight_advise(it, "Intercom answered with a server error: see"
				 " status_page, then run preflight again");
	else {
		char *api = text_url_shown(s->api_url);
		preflight_advise(it, "check api_url (%s): it should be Intercom's API host"
				 " for your workspace's region", api);
		free(api);
	}
}

void
preflight_judge_region(const struct settings *s, const struct preflight_observed *o,
		       struct preflight_item *it)
{
	if (!classify_is_2xx(status_of(&o->me))) {
		preflight_set(it, PREFLIGHT_SKIP, "needs a 2xx from GET /me (see auth)");
		return;
	}
	char region[32];
	me_region(s, o, region, sizeof(region));
	if (!region[0]) {
		preflight_set(it, PREFLIGHT_SKIP, "GET /me gave no app.region");
		return;
	}
	/* For a proxy or test server, the configured region says which
	 * Intercom host it stands for. */
	const char *host_region = settings_region_of_url(s->api_url);
	const char *basis = host_region ? "the host in use" :
					  "region (api_url is not an Intercom host)";
	char expected[8];
	snprintf(expected, sizeof(expected), "%s", host_region ? host_region : s->region);
	for (char *p = expected; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	if (strcasecmp(region, expected) == 0) {
		preflight_set(it, PREFLIGHT_PASS, "workspace region %s matches %s %s",
			      region, basis, expected);
		return;
	}
	preflight_set(it, PREFLIGHT_WARN, "workspace region %s, but %s is %s", region,
		      basis, expected);
	char lower[32];
	snprintf(lower, sizeof(lower), "%s", region);
	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (strcmp(lower, "us") == 0)
		preflight_advise(it, "use the US host: region = us (https://api.intercom.io)");
	else if (strcmp(lower, "eu") == 0 || strcmp(lower, "au") == 0)
		preflight_advise(it, "use the %s host: region = %s (https://api.%s.intercom.io);"
				 " a workspace's data lives in its region", region, lower,
				 lower);
	else
		preflight_advise(it, "set api_url to the API host of region %s", region);
}

void
preflight_judge_api_version(const struct settings *s, const struct preflight_observed *o,
			    struct preflight_item *it)
{
	long status = status_of(&o->me);
	char code[80];
	if (status == 400) {
		error_code(&o->me.req, s->token, code, sizeof(code));
		if (strcmp(code, "intercom_version_invalid") == 0) {
			preflight_set(it, PREFLIGHT_FAIL, "400 intercom_version_invalid for"
				      " Intercom-Version: %s", s->api_version);
			preflight_advise(it, "set api_version to one Intercom accepts"
					 " (1.0-1.4, 2.0-2.16, Preview); the daemon"
					 " defaults to 2.14");
			return;
		}
	}
	if (classify_is_2xx(status)) {
		preflight_set(it, PREFLIGHT_PASS, "Intercom-Version %s accepted",
			      s->api_version);
		return;
	}
	char what[PROBE_ERROR_MAX + 32];
	outcome(&o->me, what, sizeof(what));
	preflight_set(it, PREFLIGHT_SKIP, "cannot tell: GET /me answered %s", what);
}

void
preflight_judge_rate_limit(const struct settings *s, const struct preflight_observed *o,
			   struct preflight_item *it)
{
	const struct probe_result *r = &o->me.req.result;
	const struct rate_limit *rl = &r->rate_limit;
	long status = status_of(&o->me);
	char what[PROBE_ERROR_MAX + 32];
	outcome(&o->me, what, sizeof(what));

	if (status == 429) {
		preflight_set(it, PREFLIGHT_FAIL, "GET /me: %s", what);
		preflight_advise(it, "the app's quota is spent: every replica of the"
				 " daemon and every integration of the app share it;"
				 " raise interval, run fewer replicas, or find what else"
				 " spends it");
		return;
	}
	if (!answered(&o->me)) {
		preflight_set(it, PREFLIGHT_SKIP, "no answer from the API (see auth)");
		return;
	}
	if (!rl->has_remaining || !rl->has_limit || rl->limit <= 0) {
		preflight_set(it, PREFLIGHT_SKIP, "%ld from GET /me carried no"
			      " X-RateLimit-Limit/-Remaining", status);
		return;
	}
	double pct = 100.0 * (double)rl->remaining / (double)rl->limit;
	if (pct < (double)s->rate_limit_low) {
		preflight_set(it, PREFLIGHT_WARN, "remaining %lld of %lld (%.1f%%), below"
			      " rate_limit_low %d%%", (long long)rl->remaining,
			      (long long)rl->limit, pct, s->rate_limit_low);
		preflight_advise(it, "something else is spending this app's quota"
				 " (other integrations, replicas: probes per minute ="
				 " replicas x 60 / interval): raise interval or find"
				 " the spender before going live");
		return;
	}
	preflight_set(it, PREFLIGHT_PASS, "remaining %lld of %lld (%.1f%%), above"
		      " rate_limit_low %d%%", (long long)rl->remaining,
		      (long long)rl->limit, pct, s->rate_limit_low);
}

static int
compare_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void
preflight_judge_latency(const struct settings *s, const struct preflight_observed *o,
			struct preflight_item *it)
{
	size_t n = o->latency_count;
	if (n == 0) {
		preflight_set(it, PREFLIGHT_FAIL, "no answer in %zu samples of GET %s: %s",
			      o->latency_failed, s->probe_path,
			      o->latency_error[0] ? o->latency_error : "not run");
		preflight_advise(it, "the API did not answer: see auth and tls");
		return;
	}
	int64_t sorted[PREFLIGHT_LATENCY_SAMPLES];
	memcpy(sorted, o->latency_ms, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), compare_ms);
	/* Nearest rank: the smallest sample at or above 95% of them. */
	size_t rank = (95 * n + 99) / 100;
	int64_t p95 = sorted[rank > 0 ? rank - 1 : 0];
	int64_t median = sorted[(n - 1) / 2];
	char failed[64] = "";
	if (o->latency_failed)
		snprintf(failed, sizeof(failed), ", %zu without an answer",
			 o->latency_failed);

	if (p95 > s->degraded_latency_ms) {
		preflight_set(it, PREFLIGHT_WARN, "p95 %lld ms of %zu samples of GET %s"
			      " (median %lld ms, first %lld ms%s) over degraded_latency"
			      " %lld ms", (long long)p95, n, s->probe_path,
			      (long long)median, (long long)o->latency_ms[0], failed,
			      (long long)s->degraded_latency_ms);
		preflight_advise(it, "the daemon would report degraded: check the path to"
				 " the API (proxy, a host far from the workspace's"
				 " region) or raise degraded_latency to what this"
				 " network can do");
		return;
	}
	if (o->latency_failed) {
		preflight_set(it, PREFLIGHT_WARN, "p95 %lld ms of %zu samples of GET %s"
			      " (median %lld ms)%s: %s", (long long)p95, n, s->probe_path,
			      (long long)median, failed, o->latency_error);
		preflight_advise(it, "some probes got no answer: the daemon would flap;"
				 " check the network path to the API");
		return;
	}
	preflight_set(it, PREFLIGHT_PASS, "p95 %lld ms of %zu samples of GET %s"
		      " (median %lld ms, first %lld ms with a new connection),"
		      " under degraded_latency %lld ms", (long long)p95, n,
		      s->probe_path, (long long)median, (long long)o->latency_ms[0],
		      (long long)s->degraded_latency_ms);
}

void
preflight_judge_tls(const struct settings *s, const struct preflight_observed *o,
		    struct preflight_item *it)
{
	const struct probe_result *r = &o->me.req.result;
	if (o->me.ran && r->transport == PROBE_TRANSPORT_TLS) {
		preflight_set(it, PREFLIGHT_FAIL, "%s", r->reason);
		preflight_advise(it, "the API's certificate does not verify here: a"
				 " TLS-intercepting proxy needs its CA in ca_file;"
				 " otherwise update the system CA store");
		return;
	}
	/* A garbage answer still came over a verified handshake: its
	 * certificate counts. */
	if (!answered(&o->me) && r->cert_not_after_s <= 0) {
		preflight_set(it, PREFLIGHT_SKIP, "no TLS handshake completed (see auth)");
		return;
	}
	if (r->cert_not_after_s <= 0) {
		preflight_set(it, PREFLIGHT_WARN, "the handshake gave no certificate"
			      " expiry to read");
		preflight_advise(it, "check the certificate by hand: openssl s_client"
				 " -connect <api host>:443");
		return;
	}
	int64_t left = r->cert_not_after_s - o->now_s;
	int64_t days = left / 86400;
	char date[32] = "?";
	time_t t = (time_t)r->cert_not_after_s;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	if (days < TLS_WARN_DAYS) {
		preflight_set(it, PREFLIGHT_WARN, "the API certificate expires in %lld"
			      " days (%s)", (long long)days, date);
		preflight_advise(it, "a certificate this close to expiry is renewed late:"
				 " if api_url is a proxy or private endpoint, renew its"
				 " certificate now");
		return;
	}
	preflight_set(it, PREFLIGHT_PASS, "the API certificate is valid for %lld more"
		      " days (until %s)", (long long)days, date);
}

void
preflight_judge_clock(const struct settings *s, const struct preflight_observed *o,
		      struct preflight_item *it)
{
	const struct probe_result *r = &o->me.req.result;
	if (!answered(&o->me)) {
		preflight_set(it, PREFLIGHT_SKIP, "no answer from the API (see auth)");
		return;
	}
	if (r->server_date_s < 0) {
		preflight_set(it, PREFLIGHT_SKIP, "the API's answer had no Date header");
		return;
	}
	/* Date has whole seconds and was stamped before the answer left:
	 * compare with the local time half-way through the request. */
	int64_t local_ms = r->finished_ms - r->latency_ms / 2;
	int64_t skew_ms = local_ms - r->server_date_s * 1000;
	int64_t skew_s = (skew_ms >= 0 ? skew_ms + 500 : skew_ms - 500) / 1000;
	int64_t abs_s = skew_s < 0 ? -skew_s : skew_s;
	if (abs_s > CLOCK_WARN_S) {
		preflight_set(it, PREFLIGHT_WARN, "local clock %lld s %s the API's Date",
			      (long long)abs_s, skew_s > 0 ? "ahead of" : "behind");
		preflight_advise(it, "synchronise this host's clock (systemd-timesyncd,"
				 " chrony): X-RateLimit-Reset is a Unix time on"
				 " Intercom's clock, so back-off waits go wrong");
		return;
	}
	preflight_set(it, PREFLIGHT_PASS, "local clock within %lld s of the API's Date"
		      " (limit %d s)", (long long)abs_s, CLOCK_WARN_S);
}

/* ---- Intercom's status page, the webhook, the daemon ---- */

void
preflight_judge_status_page(const struct settings *s, const struct preflight_observed *o,
			    struct preflight_item *it)
{
	if (!s->status_url) {
		preflight_set(it, PREFLIGHT_SKIP, "status_url is off");
		return;
	}
	const struct preflight_call *c = &o->status;
	char description[128] = "";
	enum page_indicator ind = PAGE_UNKNOWN;
	if (classify_is_2xx(status_of(c)))
		ind = response_parse_status_page(c->req.body, c->req.body_len,
						 description, sizeof(description));
	if (ind == PAGE_UNKNOWN) {
		char what[PROBE_ERROR_MAX + 32];
		outcome(c, what, sizeof(what));
		preflight_set(it, PREFLIGHT_WARN, "status page unreadable: %s%s", what,
			      classify_is_2xx(status_of(c)) ? " (no status.indicator)" : "");
		preflight_advise(it, "the status page is optional, but an incident is"
				 " easier to tell from your own bug with it: allow"
				 " egress to www.intercomstatus.com or set status_url"
				 " = off");
		return;
	}
	static const char *const words[] = {
		[PAGE_NONE] = "none", [PAGE_MINOR] = "minor",
		[PAGE_MAJOR] = "major", [PAGE_CRITICAL] = "critical",
	};
	enum preflight_result res = ind == PAGE_NONE ? PREFLIGHT_PASS :
				    ind == PAGE_MINOR ? PREFLIGHT_WARN : PREFLIGHT_FAIL;
	preflight_set(it, res, "indicator %s: %s", words[ind],
		      description[0] ? description : "(no description)");
	if (res == PREFLIGHT_WARN)
		preflight_advise(it, "Intercom reports an incident: read"
				 " https://www.intercomstatus.com before going live, and"
				 " expect errors it explains");
	else if (res == PREFLIGHT_FAIL)
		preflight_advise(it, "Intercom reports a major outage: postpone the"
				 " go-live; checks failing now may be Intercom's, not"
				 " yours");
}

void
preflight_judge_webhook_reachable(const struct settings *s, const struct preflight_observed *o,
				  struct preflight_item *it)
{
	if (!s->webhook_url) {
		preflight_set(it, PREFLIGHT_SKIP, "webhook_url is unset");
		return;
	}
	const struct preflight_call *c = &o->webhook_head;
	char what[PROBE_ERROR_MAX + 32];
	outcome(c, what, sizeof(what));
	long status = status_of(c);
	/* The URL may carry basic-auth credentials: shown masked. */
	char *url = text_url_shown(s->webhook_url);
	if (!answered(c) || status >= 500) {
		preflight_set(it, PREFLIGHT_FAIL, "HEAD %s: %s", url, what);
		free(url);
		preflight_advise(it, "Intercom validates the endpoint with HEAD, pauses"
				 " delivery after 1000 errors in 15 minutes and suspends"
				 " a private app's subscription after 7 days of them:"
				 " make it answer below 500 over HTTPS");
		return;
	}
	int64_t ms = c->req.result.latency_ms;
	preflight_set(it, PREFLIGHT_PASS, "HEAD %s: %s in %lld ms%s", url,
		      what, (long long)ms,
		      ms > WEBHOOK_FAST_MS ? " (Intercom favours endpoints answering"
					     " within 500 ms)" : "");
	free(url);
}

static bool
is_redirect(long status)
{
	return status >= 300 && status < 400;
}

/* Appends more to the item's evidence. */
static void
append_evidence(struct preflight_item *it, const char *more)
{
	char *ev = xasprintf("%s%s", it->evidence, more);
	free(it->evidence);
	it->evidence = ev;
}

void
preflight_judge_webhook_signature(const struct settings *s, const struct preflight_observed *o,
				  struct preflight_item *it)
{
	if (!s->webhook_url || !s->webhook_secret) {
		preflight_set(it, PREFLIGHT_SKIP, "needs webhook_url and the app's client"
			      " secret (webhook_secret_file or INTERCOM_WEBHOOK_SECRET)");
		return;
	}
	char signed_what[PROBE_ERROR_MAX + 32], forged_what[PROBE_ERROR_MAX + 32],
	     none_what[PROBE_ERROR_MAX + 32];
	outcome(&o->signed_post, signed_what, sizeof(signed_what));
	outcome(&o->forged_post, forged_what, sizeof(forged_what));
	outcome(&o->unsigned_post, none_what, sizeof(none_what));
	long sig = status_of(&o->signed_post);
	long forged = status_of(&o->forged_post);
	long none = status_of(&o->unsigned_post);
	bool forged_ok = forged >= 400 && forged < 500;
	bool none_ok = none >= 400 && none < 500;

#define SIGNATURE_EVIDENCE "signed ping -> %s; wrong signature -> %s; no signature -> %s"
	if (classify_is_2xx(sig) && forged_ok && none_ok) {
		preflight_set(it, PREFLIGHT_PASS, SIGNATURE_EVIDENCE, signed_what, forged_what, none_what);
		return;
	}
	preflight_set(it, PREFLIGHT_FAIL, SIGNATURE_EVIDENCE, signed_what, forged_what, none_what);
	if (is_redirect(sig) || is_redirect(forged) || is_redirect(none)) {
		append_evidence(it, "; redirects instead of verifying");
		preflight_advise(it, "a redirect neither takes nor refuses a delivery:"
				 " set webhook_url to the handler itself, which must"
				 " answer 2xx to a correctly signed notification and"
				 " 401 to a wrong or missing X-Hub-Signature");
		return;
	}
	bool forged_in = classify_is_2xx(forged);
	bool none_in = classify_is_2xx(none);
	if (forged_in || none_in) {
		append_evidence(it, forged_in && none_in ?
				"; ACCEPTED a wrong signature and no signature" :
				forged_in ? "; ACCEPTED a wrong signature" :
				"; ACCEPTED no signature");
		preflight_advise(it, "fix signature verification: HMAC-SHA1 of the raw"
				 " request body keyed with the app's client secret,"
				 " compared in constant time with X-Hub-Signature"
				 " (sha1=<hex>); answer 401 when it differs or is"
				 " missing, before acting on the body");
	} else if (!classify_is_2xx(sig) && answered(&o->signed_post) && sig < 500) {
		preflight_advise(it, "the endpoint rejected a correctly signed ping: it"
				 " checks with another secret than the app's client"
				 " secret (Developer Hub > Basic information), or signs"
				 " a re-serialised body instead of the raw bytes");
	} else {
		preflight_advise(it, "the endpoint must take a signed notification with"
				 " 2xx and refuse forged ones with 4xx (not 5xx, which"
				 " Intercom retries and counts as errors)");
	}
}

static const char *
plural(size_t n, const char *one, const char *more)
{
	return n == 1 ? one : more;
}

/* What the walk read and what it left, for the evidence: the counts that
 * are always there, then those that are not zero. */
static void
scan_summary(const struct token_scan *sc, char *out, size_t size)
{
	int n = snprintf(out, size, "%zu file%s read; skipped %zu binary, %zu over"
			 " %d KiB, %zu symlink%s out of the tree", sc->files,
			 plural(sc->files, "", "s"), sc->skipped_binary,
			 sc->skipped_large, TOKEN_SCAN_FILE_MAX / 1024,
			 sc->skipped_links_out, plural(sc->skipped_links_out, "", "s"));
	size_t len = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
	if (sc->skipped_link_loops) {
		n = snprintf(out + len, size - len, ", %zu symlink loop%s",
			     sc->skipped_link_loops,
			     plural(sc->skipped_link_loops, "", "s"));
		len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
	}
	if (sc->skipped_deep) {
		n = snprintf(out + len, size - len, ", %zu director%s deeper than %d"
			     " levels", sc->skipped_deep,
			     plural(sc->skipped_deep, "y", "ies"), TOKEN_SCAN_DEPTH_MAX);
		len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;
	}
	if (sc->files_truncated)
		snprintf(out + len, size - len, "; stopped at the file limit");
	else if (sc->time_truncated)
		snprintf(out + len, size - len, "; stopped at the run's deadline");
}

void
preflight_judge_token_leak(const struct settings *s, const struct preflight_observed *o,
			   struct preflight_item *it)
{
	if (!s->scan_dir || !o->scanned) {
		preflight_set(it, PREFLIGHT_SKIP, "no --scan DIR given");
		return;
	}
	char dir[TEXT_SHOW_PATH_MAX];
	secret_printable(dir, sizeof(dir), s->scan_dir, strlen(s->scan_dir),
			 SIZE_MAX, s->token);
	if (o->scan_rc < 0) {
		preflight_set(it, PREFLIGHT_FAIL, "cannot scan %s: %s", dir,
			      strerror(-o->scan_rc));
		preflight_advise(it, "give --scan a readable directory (the repository"
				 " or the deployed tree)");
		return;
	}
	const struct token_scan *sc = &o->scan;
	char skipped[320];
	scan_summary(sc, skipped, sizeof(skipped));
	bool partial = sc->files_truncated || sc->time_truncated || sc->skipped_deep;
	if (sc->n_hits == 0 && partial) {
		preflight_set(it, PREFLIGHT_WARN, "no token-like strings in the part"
			      " of %s read (%s)", dir, skipped);
		if (sc->skipped_deep && !sc->files_truncated && !sc->time_truncated)
			preflight_advise(it, "scan the deep directories on their own"
					 " (--scan DIR): what lies deeper than %d levels"
					 " was not read", TOKEN_SCAN_DEPTH_MAX);
		else
			preflight_advise(it, "scan the source tree itself, not a parent of"
					 " it, or raise timeout: the rest of the tree was"
					 " not read");
		return;
	}
	if (sc->n_hits == 0) {
		preflight_set(it, PREFLIGHT_PASS, "no token-like strings in %s (%s)", dir,
			      skipped);
		return;
	}
	/* Paths are printable and token-free; the hits masked. */
	size_t cap = 64 + LEAK_LIST_MAX * (TEXT_SHOW_PATH_MAX + 40);
	char *list = xmalloc(cap);
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; i < sc->n_hits && i < LEAK_LIST_MAX; i++) {
		char path[TEXT_SHOW_PATH_MAX];
		secret_printable(path, sizeof(path), sc->hits[i].path,
				 strlen(sc->hits[i].path), SIZE_MAX, s->token);
		int n = snprintf(list + len, cap - len, "%s%s:%lu %s", i ? ", " : "",
				 path, sc->hits[i].line, sc->hits[i].masked);
		if (n > 0 && (size_t)n < cap - len)
			len += (size_t)n;
	}
	if (sc->n_hits > LEAK_LIST_MAX || sc->hits_truncated)
		snprintf(list + len, cap - len, ", and %s%zu more",
			 sc->hits_truncated ? "at least " : "",
			 sc->n_hits - LEAK_LIST_MAX);
	preflight_set(it, PREFLIGHT_FAIL, "%zu token-like string%s: %s (%s)",
		      sc->n_hits, sc->n_hits == 1 ? "" : "s", list, skipped);
	free(list);
	preflight_advise(it, "remove them, and rotate every token found in " DEVHUB
			 ": a token that reached a repository or an image is"
			 " compromised, whatever is rewritten later; keep the token"
			 " in a credential file (token_file)");
}

void
preflight_judge_health_endpoint(const struct settings *s, const struct preflight_observed *o,
				struct preflight_item *it)
{
	if (!s->health_url) {
		preflight_set(it, PREFLIGHT_SKIP, "no --health-url given");
		return;
	}
	const struct preflight_call *c = &o->health;
	char what[PROBE_ERROR_MAX + 32];
	outcome(c, what, sizeof(what));
	char state[64] = "";
	cJSON *doc = parse_body(&c->req);
	json_string(doc, "status", s->token, state, sizeof(state));
	cJSON_Delete(doc);
	long status = status_of(c);
	if (status == 200) {
		preflight_set(it, PREFLIGHT_PASS, "GET %s: 200%s%s", s->health_url,
			      state[0] ? ", status " : "", state);
		return;
	}
	if (!answered(c)) {
		preflight_set(it, PREFLIGHT_FAIL, "GET %s: %s", s->health_url, what);
		preflight_advise(it, "the daemon does not answer there: start it"
				 " (systemctl status intercom-healthd) or fix"
				 " --health-url");
		return;
	}
	preflight_set(it, PREFLIGHT_FAIL, "GET %s: %ld%s%s", s->health_url, status,
		      state[0] ? ", status " : "", state);
	preflight_advise(it, "the running daemon does not report healthy: read its"
			 " /health error and logs (journalctl -u intercom-healthd)");
}

void
preflight_judge_scopes(const struct settings *s, const struct preflight_observed *o,
		       struct preflight_item *it)
{
	if (!s->required_paths || o->scope_count == 0) {
		preflight_set(it, PREFLIGHT_SKIP, "required_paths is unset");
		return;
	}
	size_t cap = 64 + o->scope_count * (PROBE_ERROR_MAX + 2 * TEXT_SHOW_PATH_MAX);
	char *list = xmalloc(cap);
	size_t len = 0;
	bool denied = false, unsure = false;
	list[0] = '\0';
	for (size_t i = 0; i < o->scope_count; i++) {
		const struct preflight_call *c = &o->scopes[i];
		char what[PROBE_ERROR_MAX + 32];
		outcome(c, what, sizeof(what));
		long status = status_of(c);
		if (status == 401 || status == 403 || status == 404)
			denied = true;
		else if (!classify_is_2xx(status))
			unsure = true;
		char path[TEXT_SHOW_PATH_MAX];
		secret_printable(path, sizeof(path), o->scope_paths[i],
				 strlen(o->scope_paths[i]), SIZE_MAX, s->token);
		int n = snprintf(list + len, cap - len, "%s%s -> %s", i ? "; " : "",
				 path, what);
		if (n > 0 && (size_t)n < cap - len)
			len += (size_t)n;
	}
	if (denied) {
		preflight_set(it, PREFLIGHT_FAIL, "%s", list);
		preflight_advise(it, "the token may not read the paths answering"
				 " 401/403/404: give the app those permissions in " DEVHUB
				 " (and reinstall it to the workspace), or drop them"
				 " from required_paths");
	} else if (unsure) {
		preflight_set(it, PREFLIGHT_WARN, "%s", list);
		preflight_advise(it, "some paths gave no verdict (server errors,"
				 " timeouts, 429): run preflight again");
	} else {
		preflight_set(it, PREFLIGHT_PASS, "%s", list);
	}
	free(list);
}
