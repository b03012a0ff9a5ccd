/*
 * The status page: the input is a Statuspage status.json body (exactly
 * its bytes, no NUL). response_parse_status_page() must return one of the
 * five indicators and a printable description that fits, "" whenever the
 * indicator is unknown; the result, filed the way the probe worker files
 * it, must then render into valid /health bodies and /metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "health.h"
#include "response.h"

/* 1: only the NUL fits. 4: the ellipsis barely does. 128: the snapshot's
 * own field. */
static const size_t description_sizes[] = { 1, 4, 128 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	enum page_indicator indicator = PAGE_UNKNOWN;
	struct health_snapshot snap;
	struct status_page_info *p = &snap.status_page;

	for (size_t i = 0; i < sizeof(description_sizes) / sizeof(description_sizes[0]); i++) {
		size_t desc_size = description_sizes[i];
		char *desc = malloc(desc_size);
		enum page_indicator got;

		if (desc == NULL)
			return 0;
		memset(desc, 'X', desc_size);
		got = response_parse_status_page(body, size, desc, desc_size);
		if ((int)got < (int)PAGE_UNKNOWN || (int)got > (int)PAGE_CRITICAL)
			fuzz_fail("indicator %d is not an enum page_indicator", (int)got);
		if (i > 0 && got != indicator)
			fuzz_fail("indicator %d with %zu bytes of description, %d"
				  " with fewer", (int)got, desc_size, (int)indicator);
		indicator = got;
		fuzz_check_printable("description", desc, desc_size);
		if (got == PAGE_UNKNOWN && desc[0] != '\0')
			fuzz_fail("unknown indicator with description \"%s\"", desc);
		free(desc);
	}

	/* A zero-sized description buffer is never written. */
	char guard = 'X';
	if (response_parse_status_page(body, size, &guard, 0) != indicator ||
	    guard != 'X')
		fuzz_fail("description_size 0: wrote the buffer or changed the"
			  " indicator");

	/* As finish_page() in probe.c files a 200 answer. */
	health_init(&snap, &fuzz_health_params, FUZZ_NOW_MS - 60000, 1000000);
	p->enabled = true;
	p->checked = true;
	p->checked_ms = FUZZ_NOW_MS - 1000;
	p->indicator = response_parse_status_page(body, size, p->description,
						  sizeof(p->description));
	if (p->indicator == PAGE_UNKNOWN)
		strcpy(p->error, "no known status.indicator in the status page");
	if (strcmp(page_indicator_name(p->indicator), "unknown") == 0 &&
	    p->indicator != PAGE_UNKNOWN)
		fuzz_fail("indicator %d has no name", (int)p->indicator);
	fuzz_check_render(&snap, 1000001);
	return 0;
}
