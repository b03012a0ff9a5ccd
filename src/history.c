#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "mem.h"

struct history *
history_create(size_t capacity)
{
	if (capacity == 0)
		capacity = 1;
	struct history *h = xcalloc(1, sizeof(*h));
	h->capacity = capacity;
	h->probes = xcalloc(capacity, sizeof(*h->probes));
	return h;
}

void
history_destroy(struct history *h)
{
	if (!h)
		return;
	free(h->probes);
	free(h);
}

void
history_add_probe(struct history *h, const struct history_probe *p)
{
	h->probes[h->next] = *p;
	h->next = (h->next + 1) % h->capacity;
	if (h->count < h->capacity)
		h->count++;
	if (h->recorded == 0 && h->since_ms == 0)
		h->since_ms = p->at_ms;
	h->recorded++;
}

void
history_add_transition(struct history *h, const struct history_transition *t)
{
	h->transitions[h->next_transition] = *t;
	h->next_transition = (h->next_transition + 1) % HISTORY_TRANSITIONS;
	if (h->n_transitions < HISTORY_TRANSITIONS)
		h->n_transitions++;
	h->transitions_recorded++;
	h->since_ms = t->at_ms;
}

size_t
history_probe_count(const struct history *h)
{
	return h->count;
}

const struct history_probe *
history_probe_at(const struct history *h, size_t i)
{
	if (i >= h->count)
		return NULL;
	/* The oldest sits at `next` once the ring has wrapped, at 0 before. */
	size_t oldest = h->count < h->capacity ? 0 : h->next;
	return &h->probes[(oldest + i) % h->capacity];
}

size_t
history_transition_count(const struct history *h)
{
	return h->n_transitions;
}

const struct history_transition *
history_transition_at(const struct history *h, size_t i)
{
	if (i >= h->n_transitions)
		return NULL;
	size_t oldest = h->n_transitions < HISTORY_TRANSITIONS ? 0
							       : h->next_transition;
	return &h->transitions[(oldest + i) % HISTORY_TRANSITIONS];
}

void
history_copy(struct history *dst, const struct history *src)
{
	size_t n = src->count;
	if (n > dst->capacity)
		abort();
	/* Only the probes held, oldest first: a copy for one answer costs
	 * what the history holds, not what it could. */
	for (size_t i = 0; i < n; i++)
		dst->probes[i] = *history_probe_at(src, i);
	dst->count = n;
	dst->next = n % dst->capacity;
	dst->recorded = src->recorded;
	memcpy(dst->transitions, src->transitions, sizeof(dst->transitions));
	dst->n_transitions = src->n_transitions;
	dst->next_transition = src->next_transition;
	dst->transitions_recorded = src->transitions_recorded;
	dst->since_ms = src->since_ms;
}

void
history_set_reason(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return;
	size_t n = strlen(src);
	if (n < size) {
		memcpy(dst, src, n + 1);
		return;
	}
	if (size < 4) {
		dst[0] = '\0';
		return;
	}
	memcpy(dst, src, size - 4);
	memcpy(dst + size - 4, "...", 4);
}
