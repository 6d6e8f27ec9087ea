/*
 * backoff: the reconnect schedule of docs/agent-protocol.md §6.1.
 * Delay after the n-th consecutive failure (n from 0):
 * uniform in [0, min(cap, base * 2^n)] ("full jitter"), so a fleet of
 * agents that lost the same endpoint does not come back in lockstep.
 * Pure: the caller supplies the random word.
 */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t base_ms, cap_ms;
	uint32_t attempt; /* consecutive failures so far */
};

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms);
/* min(cap, base * 2^attempt), without overflow. */
uint32_t backoff_ceiling(const struct backoff *b);
/* The delay for this failure (rnd scaled into [0, ceiling]); counts it. */
uint32_t backoff_next(struct backoff *b, uint32_t rnd);
/* A connection stayed up long enough: start from base again. */
void backoff_reset(struct backoff *b);

#endif
