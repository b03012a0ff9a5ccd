#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "classify.h"
#include "clock.h"
#include "config.h"
#include "file.h"
#include "log.h"
#include "mem.h"
#include "request.h"
#include "settings.h"
#include "secret.h"

/* The system store and ca_file are read as any other file a setting
 * names: regular files only, without blocking, up to this size. */
#define CA_BUNDLE_MAX (8 * 1024 * 1024)

/* Appends the whole of path to *buf; a missing file is fine when optional. */
static int
append_file(const char *path, bool optional, char **buf, size_t *len,
	    char **err)
{
	char *text = NULL;
	size_t n = 0;
	int r = file_read_regular(path, CA_BUNDLE_MAX, &text, &n);
	if (r == -ENOENT && optional)
		return 0;
	if (r < 0) {
		char why[64];
		*err = xasprintf("ca_file: cannot read %s: %s", path,
				 file_problem(r, CA_BUNDLE_MAX, why, sizeof(why)));
		return r;
	}
	*buf = xrealloc(*buf, *len + n + 2);
	memcpy(*buf + *len, text, n);
	*len += n;
	/* PEM blocks of two files must not run into each other. */
	(*buf)[(*len)++] = '\n';
	free(text);
	return 0;
}

int
request_load_ca(const char *ca_file, struct curl_blob *blob, char **err)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
	if (info->cainfo) {
		r = append_file(info->cainfo, true, &buf, &len, err);
		if (r < 0)
			goto fail;
	}
	if (ca_file) {
		r = append_file(ca_file, false, &buf, &len, err);
		if (r < 0)
			goto fail;
	}
	blob->data = buf;
	blob->len = len;
	blob->flags = CURL_BLOB_NOCOPY;
	return 0;
fail:
	free(buf);
	return r;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct request *req = userdata;
	size_t n = size * nmemb;
	size_t room = sizeof(req->body) - req->body_len;
	if (n > room) {
		memcpy(req->body + req->body_len, data, room);
		req->body_len += room;
		req->truncated = true;
		/* Enough to explain any error: stop downloading the rest. */
		return 0;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct request *req = userdata;
	size_t n = size * nmemb;
	response_parse_header(&req->result, data, n,
			      clock_real_ms() / 1000);
	return n;
}

static void
init_common(struct request *req, const char *url, int64_t timeout_ms,
	    const struct curl_blob *ca)
{
	memset(req, 0, sizeof(*req));
	req->result.retry_after_s = -1;
	req->result.server_date_s = -1;
	req->timeout_ms = timeout_ms;
	req->easy = curl_easy_init();
	if (!req->easy)
		mem_oom();

	CURL *e = req->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	/* The worker is one thread among others: signals are not ours. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Without it, a transfer that times out while the threaded resolver
	 * is still waiting on DNS blocks in curl until the lookup returns:
	 * tens of seconds in a DNS outage, a stalled worker, a failing
	 * /livez, when the timeout should simply have been reported. */
	curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "intercom-healthd/" HEALTHD_VERSION);
	if (ca && ca->data)
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, ca);
}

void
request_init_api(struct request *req, const struct settings *s,
		 const char *token, const struct curl_blob *ca)
{
	request_init_api_path(req, s, token, s->probe_path, ca);
}

void
request_init_api_path(struct request *req, const struct settings *s,
		      const char *token, const char *path,
		      const struct curl_blob *ca)
{
	char *url = xasprintf("%s%s", s->api_url, path);
	init_common(req, url, s->timeout_ms, ca);
	free(url);
	/* The bearer token goes out in clear text nowhere. */
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "https");
	/* Our own copy: the worker may swap its token (SIGHUP, a rotated
	 * file) while this request is in flight, and the answer must still
	 * be redacted against the token it was sent with. */
	req->secret = secret_dup(token);

	char *auth = xasprintf("Authorization: Bearer %s", token);
	char *version = xasprintf("Intercom-Version: %s", s->api_version);
	const char *lines[] = { auth, "Accept: application/json", version };
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *next = curl_slist_append(req->headers, lines[i]);
		if (!next)
			mem_oom();
		req->headers = next;
	}
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	request_connect_to(req, s->connect_to);
	/* The token's copy lives on in curl's list; ours goes now. */
	secret_free(auth);
	free(version);
	req->started_mono_ms = clock_mono_ms();
}

void
request_init_plain(struct request *req, const char *url, bool head,
		   int64_t timeout_ms, const struct curl_blob *ca)
{
	init_common(req, url, timeout_ms, ca);
	if (head)
		curl_easy_setopt(req->easy, CURLOPT_NOBODY, 1L);
	req->started_mono_ms = clock_mono_ms();
}

void
request_init_post(struct request *req, const char *url, const char *body,
		  size_t len, const char *const *headers, const char *secret,
		  int64_t timeout_ms, const struct curl_blob *ca)
{
	init_common(req, url, timeout_ms, ca);
	req->post_body = xmalloc(len + 1);
	memcpy(req->post_body, body, len);
	req->post_body[len] = '\0';
	req->secret = secret_dup(secret);
	curl_easy_setopt(req->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->post_body);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	for (const char *const *h = headers; h && *h; h++) {
		struct curl_slist *next = curl_slist_append(req->headers, *h);
		if (!next)
			mem_oom();
		req->headers = next;
	}
	/* A receiver that answers 100-continue late would cost a second of
	 * waiting per POST; the bodies are small. */
	struct curl_slist *next = curl_slist_append(req->headers, "Expect:");
	if (!next)
		mem_oom();
	req->headers = next;
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	req->started_mono_ms = clock_mono_ms();
}

void
request_want_certinfo(struct request *req)
{
	curl_easy_setopt(req->easy, CURLOPT_CERTINFO, 1L);
}

void
request_connect_to(struct request *req, const char *connect_to)
{
	if (!connect_to || req->connect_to)
		return;
	for (const char *p = connect_to; *p;) {
		size_t len = strcspn(p, ",");
		char *entry = xstrndup(p, len);
		struct curl_slist *next = curl_slist_append(req->connect_to, entry);
		free(entry);
		if (!next)
			mem_oom();
		req->connect_to = next;
		p += len + (p[len] == ',');
	}
	curl_easy_setopt(req->easy, CURLOPT_CONNECT_TO, req->connect_to);
}

/*
 * "Expire date: Nov 26 16:00:00 2027 GMT" of the server's certificate
 * (the first in the chain) as Unix time; 0 when there was no handshake on
 * this transfer or the date does not parse. OpenSSL prints the date in
 * its own format, which curl_getdate() reads; the value is trimmed first
 * because some backends pad it.
 */
static int64_t
cert_not_after(CURL *easy)
{
	static const char key[] = "Expire date:";
	struct curl_certinfo *ci = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
	    ci->num_of_certs < 1 || !ci->certinfo)
		return 0;
	for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
		if (!l->data || strncasecmp(l->data, key, sizeof(key) - 1) != 0)
			continue;
		char value[64];
		const char *v = l->data + sizeof(key) - 1;
		while (*v == ' ' || *v == '\t')
			v++;
		snprintf(value, sizeof(value), "%s", v);
		size_t n = strlen(value);
		while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\r' ||
				 value[n - 1] == '\n'))
			value[--n] = '\0';
		time_t t = curl_getdate(value, NULL);
		return t > 0 ? (int64_t)t : 0;
	}
	return 0;
}

/* Each phase's own duration from curl's cumulative timings. */
static void
record_phases(CURL *easy, struct probe_phases *p)
{
	curl_off_t dns = 0, connect = 0, tls = 0, first = 0;
	long connects = 0;

	if (curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &dns) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &tls) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK)
		return;
	p->known = true;
	p->reused = connects == 0;
	curl_off_t ready = tls > connect ? tls : connect > dns ? connect : dns;
	p->first_byte_us = first > ready ? first - ready : 0;
	/* On a reused connection curl still counts a few microseconds of
	 * finding it as "name lookup": nothing was looked up. */
	if (p->reused)
		return;
	p->dns_us = dns;
	p->connect_us = connect > dns ? connect - dns : 0;
	p->tls_us = tls > connect ? tls - connect : 0;
}

void
request_complete(struct request *req, CURLcode code, bool check_json)
{
	struct probe_result *r = &req->result;
	int64_t end = clock_mono_ms();
	r->finished_ms = clock_real_ms();
	r->finished_mono_ms = end;
	r->latency_ms = end - req->started_mono_ms;
	r->started_ms = r->finished_ms - r->latency_ms;

	long status = 0;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	record_phases(req->easy, &r->phases);
	r->cert_not_after_s = cert_not_after(req->easy);

	/* The answer's way is one pass down: classify_transfer() and the
	 * response parsers only gather raw words (curl's message, the
	 * body's), and response_reason_show() makes them safe once: the
	 * token masked before anything is reduced or cut. */
	struct probe_reason why = { .text = NULL };
	/* A decoded message is never longer than the body it came from. */
	char scratch[RESPONSE_BODY_MAX + 1];
	const char *detail = req->errbuf[0] ? req->errbuf : curl_easy_strerror(code);
	if (classify_transfer(r, code, req->truncated, detail, req->timeout_ms,
			      &why)) {
		r->http_status = status;
		if (!classify_is_2xx(status)) {
			response_error_reason(req->body, req->body_len,
					      req->truncated, scratch,
					      sizeof(scratch), &why);
		} else if (check_json) {
			/* A 2xx that is not the JSON object asked for fails
			 * as a protocol error. */
			const char *bad = response_check_success_body(
				req->body, req->body_len, req->truncated);
			if (bad) {
				r->transport = PROBE_TRANSPORT_PROTOCOL;
				snprintf(why.ours, sizeof(why.ours), "%s", bad);
			}
		}
	}
	response_reason_show(&why, req->secret, r->reason, sizeof(r->reason));
	/* The scratch copy may hold an echo of the token. */
	mem_wipe(scratch, sizeof(scratch));
}

void
request_start(struct request *req, CURLM *multi)
{
	CURLMcode code = curl_multi_add_handle(multi, req->easy);
	if (code == CURLM_OK)
		return;
	if (code == CURLM_OUT_OF_MEMORY)
		mem_oom();
	/* A bug: name it in the log before the core dump. */
	log_error("cannot start a transfer: %s", curl_multi_strerror(code));
	abort();
}

void
request_cleanup(struct request *req)
{
	if (req->easy)
		curl_easy_cleanup(req->easy);
	/* One of the header lines carries the token. */
	for (struct curl_slist *h = req->headers; h; h = h->next)
		mem_wipe(h->data, strlen(h->data));
	curl_slist_free_all(req->headers);
	secret_free(req->secret);
	free(req->post_body);
	req->post_body = NULL;
	/* After the handle: curl reads the list until then. */
	curl_slist_free_all(req->connect_to);
	req->connect_to = NULL;
	req->easy = NULL;
	req->headers = NULL;
	req->secret = NULL;
}
