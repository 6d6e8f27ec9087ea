/* clock: the time sources every module uses (ns since an arbitrary epoch). */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Monotonic and system-wide: comparable between spdp and spcp. */
static inline uint64_t clock_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static inline uint64_t clock_real_ns(void) { return clock_ns(CLOCK_REALTIME); }

#endif
