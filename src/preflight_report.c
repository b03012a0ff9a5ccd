#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "mem.h"
#include "preflight_report.h"

/* The widest id, "webhook_signature", and two spaces. */
#define ID_WIDTH 19

void
preflight_report_init(struct preflight_report *report, size_t n_items)
{
	memset(report, 0, sizeof(*report));
	report->items = xcalloc(n_items ? n_items : 1, sizeof(*report->items));
	report->n_items = n_items;
	for (size_t i = 0; i < n_items; i++)
		report->items[i].result = PREFLIGHT_SKIP;
}

const char *
preflight_result_name(enum preflight_result result)
{
	static const char *const names[] = { "PASS", "WARN", "FAIL", "SKIP" };
	return result <= PREFLIGHT_SKIP ? names[result] : "?";
}

void
preflight_set(struct preflight_item *item, enum preflight_result result,
	      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	free(item->evidence);
	item->evidence = text;
	item->result = result;
	free(item->advice);
	item->advice = NULL;
}

void
preflight_advise(struct preflight_item *item, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	free(item->advice);
	item->advice = text;
}

int
preflight_exit_status(const struct preflight_report *report, bool strict)
{
	for (size_t i = 0; i < report->n_items; i++) {
		enum preflight_result r = report->items[i].result;
		if (r == PREFLIGHT_FAIL || (strict && r == PREFLIGHT_WARN))
			return 1;
	}
	return 0;
}

void
preflight_report_finish(struct preflight_report *report)
{
	for (size_t i = 0; i < report->n_items; i++) {
		free(report->items[i].evidence);
		free(report->items[i].advice);
	}
	free(report->items);
	free(report->target);
	memset(report, 0, sizeof(*report));
}

/* An item never judged prints as SKIP with this, not as a NULL. */
static const char *
evidence_of(const struct preflight_item *it)
{
	return it->evidence ? it->evidence : "not judged";
}

bool
preflight_report_colour(FILE *out)
{
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	if (no_color && *no_color)
		return false;
	if (term && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(out));
}

struct tally {
	size_t n[4];
};

static struct tally
count(const struct preflight_report *r)
{
	struct tally t = { { 0 } };
	for (size_t i = 0; i < r->n_items; i++)
		t.n[r->items[i].result]++;
	return t;
}

static const char *
overall(const struct preflight_report *r, bool strict)
{
	struct tally t = count(r);
	if (t.n[PREFLIGHT_FAIL])
		return "FAIL";
	if (t.n[PREFLIGHT_WARN])
		return strict ? "FAIL" : "WARN";
	return "PASS";
}

static void
print_text(FILE *out, const struct preflight_report *r, bool strict, bool colour)
{
	static const char *const sgr[] = {
		[PREFLIGHT_PASS] = "\033[32m", [PREFLIGHT_WARN] = "\033[33m",
		[PREFLIGHT_FAIL] = "\033[1;31m", [PREFLIGHT_SKIP] = "\033[2m",
	};
	fprintf(out, "intercom-healthd preflight: %s\n\n", r->target);
	for (size_t i = 0; i < r->n_items; i++) {
		const struct preflight_item *it = &r->items[i];
		const char *word = preflight_result_name(it->result);
		if (colour)
			fprintf(out, "%s%s\033[0m", sgr[it->result], word);
		else
			fputs(word, out);
		fprintf(out, "  %-*s%s\n", ID_WIDTH, it->id, evidence_of(it));
		if (it->advice)
			fprintf(out, "%*s-> %s\n", 6 + ID_WIDTH, "", it->advice);
	}
	struct tally t = count(r);
	fprintf(out, "\n%s: %zu pass, %zu warn, %zu fail, %zu skip in %lld ms%s\n",
		 overall(r, strict), t.n[PREFLIGHT_PASS], t.n[PREFLIGHT_WARN],
		 t.n[PREFLIGHT_FAIL], t.n[PREFLIGHT_SKIP], (long long)r->duration_ms,
		 strict ? " (--strict: warnings fail)" : "");
}

static void
print_json(FILE *out, const struct preflight_report *r, bool strict)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(root, "items");
	for (size_t i = 0; i < r->n_items; i++) {
		const struct preflight_item *it = &r->items[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", it->id);
		cJSON_AddStringToObject(o, "result", preflight_result_name(it->result));
		cJSON_AddStringToObject(o, "evidence", evidence_of(it));
		if (it->advice)
			cJSON_AddStringToObject(o, "advice", it->advice);
		else
			cJSON_AddNullToObject(o, "advice");
		cJSON_AddItemToArray(items, o);
	}
	struct tally t = count(r);
	cJSON *sum = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(sum, "pass", (double)t.n[PREFLIGHT_PASS]);
	cJSON_AddNumberToObject(sum, "warn", (double)t.n[PREFLIGHT_WARN]);
	cJSON_AddNumberToObject(sum, "fail", (double)t.n[PREFLIGHT_FAIL]);
	cJSON_AddNumberToObject(sum, "skip", (double)t.n[PREFLIGHT_SKIP]);
	cJSON_AddStringToObject(root, "result", overall(r, strict));
	cJSON_AddBoolToObject(root, "strict", strict);
	cJSON_AddNumberToObject(root, "exitCode", preflight_exit_status(r, strict));
	cJSON_AddStringToObject(root, "target", r->target);
	cJSON_AddNumberToObject(root, "durationMs", (double)r->duration_ms);
	cJSON_AddStringToObject(root, "version", HEALTHD_VERSION);
	char *text = cJSON_PrintUnformatted(root);
	if (!text)
		mem_oom();
	fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(root);
}

/* XML character data or attribute value: the five entities. Everything
 * printed is printable ASCII or the UTF-8 ellipsis already. */
static void
xml_escaped(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		/* XML 1.0 has no way to write the other C0 controls:
		 * evidence is printable already, this is the second lock. */
		case '\t': case '\n': case '\r': fputc(*p, out); break;
		default: fputc((unsigned char)*p < 0x20 ? '?' : *p, out); break;
		}
	}
}

/*
 * The JUnit XML that Jenkins, GitLab and GitHub's test reporters read:
 * <testsuites><testsuite name tests failures errors skipped time>
 * <testcase name classname time> with <failure message type>, <skipped
 * message> or, for a WARN (a pass with a note), <system-out>.
 */
static void
print_junit(FILE *out, const struct preflight_report *r, bool strict)
{
	struct tally t = count(r);
	size_t failures = t.n[PREFLIGHT_FAIL] + (strict ? t.n[PREFLIGHT_WARN] : 0);
	double seconds = (double)r->duration_ms / 1000.0;

	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"intercom-healthd preflight\" tests=\"%zu\""
		" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
		r->n_items, failures, t.n[PREFLIGHT_SKIP], seconds);
	fprintf(out, "  <testsuite name=\"preflight\" tests=\"%zu\" failures=\"%zu\""
		" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
		r->n_items, failures, t.n[PREFLIGHT_SKIP], seconds);
	fprintf(out, "    <properties><property name=\"target\" value=\"");
	xml_escaped(out, r->target);
	fprintf(out, "\"/></properties>\n");
	for (size_t i = 0; i < r->n_items; i++) {
		const struct preflight_item *it = &r->items[i];
		fprintf(out, "    <testcase name=\"%s\" classname=\"preflight\">\n",
			it->id);
		bool failed = it->result == PREFLIGHT_FAIL ||
			      (strict && it->result == PREFLIGHT_WARN);
		if (failed) {
			fprintf(out, "      <failure type=\"%s\" message=\"",
				preflight_result_name(it->result));
			xml_escaped(out, evidence_of(it));
			fprintf(out, "\">");
			xml_escaped(out, it->advice ? it->advice : evidence_of(it));
			fprintf(out, "</failure>\n");
		} else if (it->result == PREFLIGHT_SKIP) {
			fprintf(out, "      <skipped message=\"");
			xml_escaped(out, evidence_of(it));
			fprintf(out, "\"/>\n");
		}
		fprintf(out, "      <system-out>%s: ", preflight_result_name(it->result));
		xml_escaped(out, evidence_of(it));
		if (it->advice) {
			fprintf(out, " -- ");
			xml_escaped(out, it->advice);
		}
		fprintf(out, "</system-out>\n    </testcase>\n");
	}
	fprintf(out, "  </testsuite>\n</testsuites>\n");
}

void
preflight_report_print(FILE *out, const struct preflight_report *r,
		       enum output_format format, bool strict, bool colour)
{
	switch (format) {
	case OUTPUT_FORMAT_JSON:
		print_json(out, r, strict);
		break;
	case OUTPUT_FORMAT_JUNIT:
		print_junit(out, r, strict);
		break;
	case OUTPUT_FORMAT_TEXT:
	default:
		print_text(out, r, strict, colour);
		break;
	}
	fflush(out);
}
