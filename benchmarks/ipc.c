/*
 * ipc.c: the shared bits of the transport interface (ipc.h): failure
 * reports and the stop check spin loops use.
 */
#include "ipc.h"

#include <stdio.h>

#include "bench.h"

volatile sig_atomic_t ipc_peer_gone;

bool ipc_should_stop(const struct ipc_params *p)
{
	return ipc_peer_gone || bench_now_ns() > p->deadline_ns;
}

void ipc_msg_explain(struct ipc_consumer_out *out, const uint8_t *p, uint32_t len,
		     uint32_t size, uint64_t expect)
{
	uint64_t seq = 0;

	if (len != size) {
		snprintf(out->why, sizeof(out->why),
			 "message %llu: length %u, expected %u",
			 (unsigned long long)expect, len, size);
		return;
	}
	memcpy(&seq, p, sizeof(seq));
	if (seq != expect)
		snprintf(out->why, sizeof(out->why),
			 "sequence %llu where %llu was expected (%s)",
			 (unsigned long long)seq, (unsigned long long)expect,
			 seq > expect ? "messages lost" : "duplicate or reordered");
	else
		snprintf(out->why, sizeof(out->why),
			 "message %llu: last byte %#x, expected %#x (torn copy)",
			 (unsigned long long)expect, p[size - 1], (uint8_t)expect);
}
