/*
 * fuzz_ring: the ring consumer (and a re-attaching producer) facing a shared
 * control block and data area written by a hostile peer.
 *
 * Input: [cap selector:1][head:8][tail:8] then a program of operations, each
 * an opcode byte and its arguments: scribble on head/tail, write record
 * headers or raw bytes anywhere in the data area, enqueue as a producer,
 * dequeue as the consumer, re-open either side, discard, arm. The data area
 * is a heap block of exactly `capacity` bytes so ASan flags any access past
 * it; every view the consumer hands out is also checked to lie inside it
 * and read in full.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

struct input {
	const uint8_t *p;
	size_t n;
};

static bool take(struct input *in, void *dst, size_t k)
{
	if (in->n < k)
		return false;
	memcpy(dst, in->p, k);
	in->p += k;
	in->n -= k;
	return true;
}

static uint8_t payload[1u << 14];

static void check_views(const uint8_t *data, uint64_t cap, const struct ring_msg *m, unsigned n)
{
	volatile uint8_t sink = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m[i].payload < data + sizeof(struct ring_msg_hdr) ||
		    (uint64_t)(m[i].payload - data) + m[i].len > cap)
			abort(); /* a view outside the data area */
		for (uint32_t k = 0; k < m[i].len; k++)
			sink ^= m[i].payload[k];
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct input in = { buf, size };
	uint8_t sel;
	uint64_t head, tail;

	if (!take(&in, &sel, 1) || !take(&in, &head, 8) || !take(&in, &tail, 8))
		return 0;
	const uint64_t cap = RING_MIN_CAPACITY << (sel % 3);
	struct ring_ctrl *ctrl = aligned_alloc(RING_CACHELINE, sizeof(*ctrl));
	uint8_t *data = malloc(cap);
	if (!ctrl || !data)
		abort();
	ring_ctrl_init(ctrl);
	memset(data, 0, cap);
	atomic_store(&ctrl->head, head);
	atomic_store(&ctrl->tail, tail);

	ring *prod = ring_open(ctrl, data, cap, -1, RING_PRODUCER);
	ring *cons = ring_open(ctrl, data, cap, -1, RING_CONSUMER);
	struct ring_msg out[32];
	if (!prod || !cons)
		abort();

	for (unsigned steps = 0; in.n && steps < 4096; steps++) {
		uint8_t op;
		take(&in, &op, 1);
		switch (op % 12) {
		case 0: { /* head near tail */
			int16_t d;
			if (take(&in, &d, 2))
				atomic_store(&ctrl->head, atomic_load(&ctrl->tail) + (uint64_t)(int64_t)d);
			break;
		}
		case 1: /* raw head */
			if (take(&in, &head, 8))
				atomic_store(&ctrl->head, head);
			break;
		case 2: /* raw tail (matters to the next attach and the producer) */
			if (take(&in, &tail, 8))
				atomic_store(&ctrl->tail, tail);
			break;
		case 3: { /* a record header anywhere that holds one */
			uint16_t off, type;
			uint32_t len;
			if (take(&in, &off, 2) && take(&in, &type, 2) && take(&in, &len, 4)) {
				struct ring_msg_hdr h = { .type = type % 4 == 0 ? RING_MSG_PAD : type,
							  .version = 1, .len = len };
				if (type & 1) /* often a plausible length */
					h.len = len % (uint32_t)(cap + 16);
				memcpy(data + (off % (cap - sizeof(h) + 1)), &h, sizeof(h));
			}
			break;
		}
		case 4: { /* raw bytes */
			uint16_t off;
			uint8_t k;
			if (take(&in, &off, 2) && take(&in, &k, 1)) {
				size_t o = off % cap;
				size_t len = k < in.n ? k : in.n;
				if (len > cap - o)
					len = cap - o;
				take(&in, data + o, len);
			}
			break;
		}
		case 5: { /* producer enqueue */
			uint16_t len;
			if (take(&in, &len, 2))
				(void)ring_enqueue(prod, 1, 1, payload,
						   len % (ring_max_payload(cap) + 17));
			break;
		}
		case 6: { /* consumer burst */
			uint8_t max;
			if (take(&in, &max, 1)) {
				unsigned n = ring_dequeue_burst(cons, out, 1 + max % 32);
				check_views(data, cap, out, n);
				if (max & 0x80)
					ring_release(cons);
			}
			break;
		}
		case 7:
			ring_close(cons);
			cons = ring_open(ctrl, data, cap, -1, RING_CONSUMER);
			break;
		case 8:
			ring_close(prod);
			prod = ring_open(ctrl, data, cap, -1, RING_PRODUCER);
			break;
		case 9:
			(void)ring_discard(cons);
			break;
		case 10:
			if (ring_arm(cons))
				ring_disarm(cons);
			(void)ring_empty(cons);
			break;
		case 11: {
			struct ring_stats st;
			ring_ctrl_stats(ctrl, cap, &st);
			if (st.used_bytes > cap)
				abort();
			break;
		}
		}
	}
	/* Drain whatever is left, as a consumer does in its loop. */
	for (int i = 0; i < 64; i++) {
		unsigned n = ring_dequeue_burst(cons, out, 32);
		check_views(data, cap, out, n);
		ring_release(cons);
		if (!n)
			break;
	}
	ring_close(prod);
	ring_close(cons);
	free(data);
	free(ctrl);
	return 0;
}
