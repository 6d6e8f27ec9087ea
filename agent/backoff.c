/* backoff: exponential backoff with full jitter (see backoff.h). */
#include "backoff.h"

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms)
{
	b->base_ms = base_ms;
	b->cap_ms = cap_ms < base_ms ? base_ms : cap_ms;
	b->attempt = 0;
}

uint32_t backoff_ceiling(const struct backoff *b)
{
	uint64_t c = b->base_ms;

	for (uint32_t i = 0; i < b->attempt && c < b->cap_ms; i++)
		c <<= 1;
	return c > b->cap_ms ? b->cap_ms : (uint32_t)c;
}

uint32_t backoff_next(struct backoff *b, uint32_t rnd)
{
	uint64_t c = backoff_ceiling(b);

	if (b->attempt < UINT32_MAX)
		b->attempt++;
	/* rnd / 2^32 in [0, 1), scaled to [0, c] inclusive */
	return (uint32_t)(((c + 1) * (uint64_t)rnd) >> 32);
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
