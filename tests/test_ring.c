/*
 * test_ring: the SPSC message ring (common/ring.h) in one process.
 *
 * Every ring here lives in plain heap memory sized exactly to the ring
 * (control block from aligned_alloc, data area from malloc(capacity)), so
 * under ASan any read or write past the data area is caught. Producer and
 * consumer are two handles on the same memory, driven step by step.
 *
 * The hostile cases write impossible values into the shared control block
 * and data area the way a broken or malicious peer could, and check that
 * the consumer counts `corrupt`, resynchronises at head, never hands out a
 * view outside the data area, and that the ring carries messages again
 * afterwards.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ring.h"

#define CAP 4096u

struct rig {
	struct ring_ctrl *ctrl;
	uint8_t *data;
	uint64_t cap;
	ring *prod, *cons;
};

static void rig_open(struct rig *g, uint64_t cap, int doorbell)
{
	g->cap = cap;
	g->ctrl = aligned_alloc(RING_CACHELINE, sizeof(*g->ctrl));
	g->data = malloc(cap);
	cr_assert(g->ctrl && g->data);
	ring_ctrl_init(g->ctrl);
	memset(g->data, 0xa5, cap);
	g->prod = ring_open(g->ctrl, g->data, cap, doorbell, RING_PRODUCER);
	g->cons = ring_open(g->ctrl, g->data, cap, doorbell, RING_CONSUMER);
	cr_assert(g->prod && g->cons);
}

static void rig_close(struct rig *g)
{
	ring_close(g->prod);
	ring_close(g->cons);
	free(g->data);
	free(g->ctrl);
}

/* Reopen both sides, as processes restarting on the same shared memory do. */
static void rig_reopen(struct rig *g)
{
	ring_close(g->prod);
	ring_close(g->cons);
	g->prod = ring_open(g->ctrl, g->data, g->cap, -1, RING_PRODUCER);
	g->cons = ring_open(g->ctrl, g->data, g->cap, -1, RING_CONSUMER);
	cr_assert(g->prod && g->cons);
}

static uint8_t pattern(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

static void fill(uint8_t *buf, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = pattern(seed, i);
}

static bool payload_ok(const struct ring_msg *m, uint32_t seed)
{
	for (uint32_t i = 0; i < m->len; i++)
		if (m->payload[i] != pattern(seed, i))
			return false;
	return true;
}

/* Every view the consumer hands out must lie inside the data area. */
static void assert_in_bounds(const struct rig *g, const struct ring_msg *m)
{
	cr_assert(m->payload >= g->data + sizeof(struct ring_msg_hdr));
	cr_assert((uint64_t)(m->payload - g->data) + m->len <= g->cap,
		  "view [%td, +%u) past the data area (%llu bytes)", m->payload - g->data, m->len,
		  (unsigned long long)g->cap);
}

static struct ring_stats stats(const struct rig *g)
{
	struct ring_stats st;
	ring_ctrl_stats(g->ctrl, g->cap, &st);
	return st;
}

static uint64_t head(const struct rig *g)
{
	return atomic_load(&g->ctrl->head);
}

static uint64_t tail(const struct rig *g)
{
	return atomic_load(&g->ctrl->tail);
}

static uint8_t big[1 << 16];

/* ------------------------------------------------------------ arguments */

Test(ring, open_rejects_bad_arguments)
{
	struct ring_ctrl *c = aligned_alloc(RING_CACHELINE, sizeof(*c));
	uint8_t *d = malloc(2 * CAP);
	static const struct {
		uint64_t cap;
		int role;
	} bad[] = {
		{ 0, RING_PRODUCER },
		{ RING_MIN_CAPACITY / 2, RING_PRODUCER },
		{ CAP + 8, RING_CONSUMER },
		{ 3 * CAP, RING_CONSUMER },
		{ (uint64_t)RING_MAX_CAPACITY * 2, RING_CONSUMER },
		{ CAP, 0 },
		{ CAP, 4 },
	};

	ring_ctrl_init(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_expect_null(ring_open(c, d, bad[i].cap, -1, (enum ring_role)bad[i].role), "case %zu", i);
		cr_expect_eq(errno, EINVAL, "case %zu", i);
	}
	errno = 0;
	cr_expect_null(ring_open(NULL, d, CAP, -1, RING_PRODUCER));
	cr_expect_null(ring_open(c, NULL, CAP, -1, RING_PRODUCER));
	ring *r = ring_open(c, d, 2 * CAP, -1, RING_OBSERVER);
	cr_assert_not_null(r);
	cr_expect_eq(ring_capacity(r), 2 * CAP);
	ring_close(r);
	free(d);
	free(c);
}

/* ------------------------------------------------------------ boundaries */

Test(ring, message_boundaries)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	const uint32_t max = ring_max_payload(CAP);
	const uint32_t sizes[] = { 0, 1, 7, 8, 9, 15, 16, 17, max - 1, max };
	struct ring_msg m[4];

	cr_assert_eq(max, CAP / 4 - 8);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t h0 = head(&g);
		fill(big, sizes[i], (uint32_t)i);
		cr_assert_eq(ring_enqueue(g.prod, (uint16_t)(100 + i), 1, big, sizes[i]), 0, "len %u",
			     sizes[i]);
		/* Header + payload rounded up to 8, plus wrap padding when the
		 * record does not fit before the end of the data area. */
		uint64_t rec = ring_record_size(sizes[i]), to_end = CAP - (h0 & (CAP - 1));
		uint64_t used = head(&g) - h0;
		cr_assert_eq(used, rec <= to_end ? rec : to_end + rec, "len %u", sizes[i]);
		cr_assert_eq(ring_dequeue_burst(g.cons, m, 4), 1, "len %u", sizes[i]);
		cr_assert_eq(m[0].len, sizes[i]);
		cr_assert_eq(m[0].type, 100 + i);
		cr_assert_eq(m[0].version, 1);
		cr_assert_eq(m[0].flags, 0);
		cr_assert(payload_ok(&m[0], (uint32_t)i), "payload of len %u", sizes[i]);
		assert_in_bounds(&g, &m[0]);
		ring_release(g.cons);
	}
	cr_assert_eq(ring_record_size(0), 8);
	cr_assert_eq(ring_record_size(1), 16);
	cr_assert_eq(ring_record_size(8), 16);
	cr_assert_eq(ring_record_size(9), 24);

	/* One byte over the maximum is refused outright and not counted as a
	 * full-ring drop; nothing is written. */
	uint64_t h0 = head(&g);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, max + 1), -EMSGSIZE);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, UINT32_MAX), -EMSGSIZE);
	errno = 0;
	cr_assert_null(ring_prepare(g.prod, max + 1));
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(head(&g), h0);
	cr_assert_eq(stats(&g).drops_full, 0);
	cr_assert(ring_empty(g.cons));
	rig_close(&g);
}

Test(ring, max_payload_scales_with_capacity)
{
	for (uint64_t cap = RING_MIN_CAPACITY; cap <= (1u << 20); cap <<= 1) {
		struct rig g;
		rig_open(&g, cap, -1);
		uint32_t max = ring_max_payload(cap);
		uint8_t *p = malloc(max + 1);
		struct ring_msg m;
		fill(p, max, 9);
		/* Four maximum messages never fit with the header overhead: three do. */
		for (int i = 0; i < 3; i++)
			cr_assert_eq(ring_enqueue(g.prod, 2, 1, p, max), 0, "cap %llu",
				     (unsigned long long)cap);
		cr_assert_eq(ring_enqueue(g.prod, 2, 1, p, max + 1), -EMSGSIZE);
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
			cr_assert_eq(m.len, max);
			cr_assert(payload_ok(&m, 9));
		}
		ring_release(g.cons);
		free(p);
		rig_close(&g);
	}
}

Test(ring, prepare_stage_publish_carries_flags)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m[3];

	for (int i = 0; i < 3; i++) {
		uint8_t *p = ring_prepare(g.prod, 5);
		cr_assert_not_null(p);
		memcpy(p, "abcde", 5);
		ring_stage(g.prod, (uint16_t)(7 + i), 2, (uint8_t)(0x80 | i), 5);
		/* Staged but not published: invisible to the consumer. */
		cr_assert_eq(head(&g), 0);
		cr_assert(ring_empty(g.cons));
	}
	ring_publish(g.prod);
	cr_assert_eq(head(&g), 3 * ring_record_size(5));
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 3), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(m[i].type, 7 + i);
		cr_assert_eq(m[i].version, 2);
		cr_assert_eq(m[i].flags, 0x80 | i);
		cr_assert_eq(memcmp(m[i].payload, "abcde", 5), 0);
	}
	ring_release(g.cons);
	/* Publishing with nothing staged changes nothing. */
	uint64_t h = head(&g);
	ring_publish(g.prod);
	cr_assert_eq(head(&g), h);
	rig_close(&g);
}

/* ------------------------------------------------------------ wrap-around */

Test(ring, wrap_around_many_messages)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	const uint32_t max = ring_max_payload(CAP);
	struct ring_msg m[16];
	uint32_t sent = 0, got = 0;
	uint64_t pads = 0;

	/* Sizes cycle through small, odd and near-maximum lengths so records
	 * land at every alignment relative to the end of the data area and the
	 * padding path runs many times. The consumer lags the producer. */
	while (got < 200000) {
		for (int k = 0; k < 5; k++) {
			uint32_t len = (sent * 37u) % 97u;
			if (sent % 53 == 0)
				len = max - (sent % 8);
			fill(big, len, sent);
			uint64_t h0 = head(&g);
			int rc = ring_enqueue(g.prod, (uint16_t)(1 + sent % 1000), 1, big, len);
			if (rc == -ENOBUFS)
				break;
			cr_assert_eq(rc, 0);
			if (head(&g) - h0 != ring_record_size(len))
				pads++;
			sent++;
		}
		unsigned n = ring_dequeue_burst(g.cons, m, 3);
		for (unsigned i = 0; i < n; i++, got++) {
			uint32_t len = (got * 37u) % 97u;
			if (got % 53 == 0)
				len = max - (got % 8);
			cr_assert_eq(m[i].len, len, "message %u", got);
			cr_assert_eq(m[i].type, 1 + got % 1000);
			cr_assert(payload_ok(&m[i], got), "message %u", got);
			assert_in_bounds(&g, &m[i]);
		}
		ring_release(g.cons);
	}
	cr_assert_gt(head(&g) / CAP, 1000, "the ring wrapped only %llu times",
		     (unsigned long long)(head(&g) / CAP));
	cr_assert_gt(pads, 100, "padding path taken only %llu times", (unsigned long long)pads);
	struct ring_stats st = stats(&g);
	cr_assert_eq(st.corrupt, 0);
	cr_assert_eq(st.enq_msgs, sent);
	cr_assert_eq(st.deq_msgs, got);
	cr_assert_eq(st.depth_msgs, sent - got);
	rig_close(&g);
}

/* Put both sides at offset `off` of an empty ring (by moving data through). */
static void advance_to(struct rig *g, uint64_t off)
{
	struct ring_msg m;
	while ((head(g) & (g->cap - 1)) != off) {
		uint64_t cur = head(g) & (g->cap - 1);
		uint64_t step = off > cur ? off - cur : g->cap - cur;
		uint32_t len = step >= 512 ? 504 : (uint32_t)step - 8;
		cr_assert_eq(ring_enqueue(g->prod, 1, 1, big, len), 0);
		cr_assert_eq(ring_dequeue_burst(g->cons, &m, 1), 1);
		ring_release(g->cons);
	}
}

Test(ring, padding_record_at_the_end)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m;

	/* 24 bytes left before the end; a 32-byte record needs padding. */
	advance_to(&g, CAP - 24);
	uint64_t h0 = head(&g);
	fill(big, 20, 3);
	cr_assert_eq(ring_enqueue(g.prod, 9, 1, big, 20), 0);
	cr_assert_eq(head(&g) - h0, 24 + ring_record_size(20));
	struct ring_msg_hdr pad;
	memcpy(&pad, g.data + CAP - 24, sizeof(pad));
	cr_assert_eq(pad.type, RING_MSG_PAD);
	cr_assert_eq(pad.len, 16);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.type, 9);
	cr_assert_eq(m.payload, g.data + sizeof(struct ring_msg_hdr), "record restarts at offset 0");
	cr_assert(payload_ok(&m, 3));
	ring_release(g.cons);
	cr_assert_eq(tail(&g), head(&g));

	/* A record that fits exactly to the end needs no padding. */
	advance_to(&g, CAP - 24);
	h0 = head(&g);
	cr_assert_eq(ring_enqueue(g.prod, 9, 1, big, 16), 0);
	cr_assert_eq(head(&g) - h0, 24);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.payload, g.data + CAP - 16);
	ring_release(g.cons);

	/* Smallest padding: 8 bytes left, a zero-length pad record. */
	advance_to(&g, CAP - 8);
	h0 = head(&g);
	cr_assert_eq(ring_enqueue(g.prod, 9, 1, big, 1), 0);
	cr_assert_eq(head(&g) - h0, 8 + 16);
	memcpy(&pad, g.data + CAP - 8, sizeof(pad));
	cr_assert_eq(pad.type, RING_MSG_PAD);
	cr_assert_eq(pad.len, 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.len, 1);
	ring_release(g.cons);
	cr_assert_eq(stats(&g).corrupt, 0);
	rig_close(&g);
}

/* The padding counts against free space: with the consumer holding the
 * start of the ring, a record that needs the wrap does not fit even though
 * the bytes before the end would hold it minus the pad. */
Test(ring, padding_needs_room_at_the_start)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m[8];

	advance_to(&g, CAP - 512);
	/* Fill the last 512 bytes and 512 at the start, consumer reads none. */
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 504), 0);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 504), 0);
	uint64_t used = head(&g) - tail(&g);
	cr_assert_eq(used, 1024);
	/* Room left: CAP - 1024 bytes, all contiguous from offset 512. */
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, (uint32_t)(CAP - 1024 - 8)), -EMSGSIZE);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 504), 0, "i %d", i);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 0), -ENOBUFS);
	cr_assert_eq(stats(&g).drops_full, 1);
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 8), 8);
	ring_release(g.cons);
	cr_assert(ring_empty(g.cons));
	rig_close(&g);
}

/* ------------------------------------------------------------ full / empty */

Test(ring, full_never_blocks_and_counts, .timeout = 10)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m[64];
	unsigned n = 0;

	/* 56-byte payload = 64-byte records: exactly CAP / 64 fit. */
	fill(big, 56, 1);
	while (ring_enqueue(g.prod, 1, 1, big, 56) == 0)
		n++;
	cr_assert_eq(n, CAP / 64);
	cr_assert_eq(stats(&g).drops_full, 1);
	cr_assert_eq(stats(&g).used_bytes, CAP);
	/* Hammering a full ring returns at once, every time, and counts. */
	for (int i = 0; i < 100000; i++)
		cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 0), -ENOBUFS);
	cr_assert_eq(stats(&g).drops_full, 100001);
	errno = 0;
	cr_assert_null(ring_prepare(g.prod, 0));
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_eq(stats(&g).drops_full, 100001, "prepare alone does not count");
	ring_count_drop(g.prod);
	cr_assert_eq(stats(&g).drops_full, 100002);

	/* Dequeued but not released: the space is still held. */
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 1), 1);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 0), -ENOBUFS);
	ring_release(g.cons);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 56), 0);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 0), -ENOBUFS);

	/* Drain: exactly what went in, then empty. */
	unsigned total = 0, k;
	while ((k = ring_dequeue_burst(g.cons, m, 64)) > 0) {
		for (unsigned i = 0; i < k; i++)
			cr_assert(payload_ok(&m[i], 1));
		total += k;
		ring_release(g.cons);
	}
	cr_assert_eq(total, n - 1 + 1);
	cr_assert(ring_empty(g.cons));
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 64), 0);
	cr_assert_eq(stats(&g).used_bytes, 0);
	cr_assert_eq(stats(&g).depth_msgs, 0);
	rig_close(&g);
}

Test(ring, empty_ring)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m;

	cr_assert(ring_empty(g.cons));
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 0), 0);
	ring_release(g.cons);
	cr_assert_eq(tail(&g), 0);
	cr_assert_eq(ring_enqueue(g.prod, 3, 1, NULL, 0), 0);
	cr_assert(!ring_empty(g.cons));
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 0), 0, "max 0 takes nothing");
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.len, 0);
	cr_assert(ring_empty(g.cons));
	ring_release(g.cons);
	rig_close(&g);
}

/* ------------------------------------------------------------ bursts */

Test(ring, enqueue_burst_partial_when_room_runs_out)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg_in in[100];
	struct ring_msg out[100];

	fill(big, 120, 5);
	for (unsigned i = 0; i < 100; i++)
		in[i] = (struct ring_msg_in){ .type = (uint16_t)(1 + i), .version = 1, .payload = big,
					      .len = 120 }; /* 128-byte records */
	/* 32 records fit; the rest are counted as drops, one publish. */
	cr_assert_eq(ring_enqueue_burst(g.prod, in, 100), 32);
	struct ring_stats st = stats(&g);
	cr_assert_eq(st.drops_full, 68);
	cr_assert_eq(st.enq_msgs, 32);
	cr_assert_eq(st.depth_msgs, 32);
	cr_assert_eq(head(&g), CAP);

	/* Batch dequeue in pieces; release gives the space back. */
	cr_assert_eq(ring_dequeue_burst(g.cons, out, 10), 10);
	for (unsigned i = 0; i < 10; i++)
		cr_assert_eq(out[i].type, 1 + i);
	cr_assert_eq(tail(&g), 0, "nothing released yet");
	cr_assert_eq(ring_enqueue_burst(g.prod, in, 1), 0);
	cr_assert_eq(stats(&g).drops_full, 69);
	cr_assert_eq(ring_dequeue_burst(g.cons, out + 10, 5), 5);
	ring_release(g.cons);
	cr_assert_eq(tail(&g), 15 * 128);
	st = stats(&g);
	cr_assert_eq(st.deq_msgs, 15);
	cr_assert_eq(st.depth_msgs, 17);

	/* 15 records of room: a burst of 20 takes 15, in order. */
	for (unsigned i = 0; i < 20; i++)
		in[i].type = (uint16_t)(500 + i);
	cr_assert_eq(ring_enqueue_burst(g.prod, in, 20), 15);
	cr_assert_eq(stats(&g).drops_full, 74);
	unsigned n = ring_dequeue_burst(g.cons, out, 100);
	cr_assert_eq(n, 32);
	for (unsigned i = 0; i < 17; i++)
		cr_assert_eq(out[i].type, 16 + i);
	for (unsigned i = 0; i < 15; i++) {
		cr_assert_eq(out[17 + i].type, 500 + i);
		cr_assert(payload_ok(&out[17 + i], 5));
	}
	ring_release(g.cons);
	cr_assert_eq(stats(&g).depth_msgs, 0);

	/* An empty burst publishes nothing and counts nothing. */
	cr_assert_eq(ring_enqueue_burst(g.prod, in, 0), 0);
	cr_assert_eq(stats(&g).drops_full, 74);
	rig_close(&g);
}

Test(ring, burst_views_stable_until_release)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg out[8];

	for (uint32_t i = 0; i < 8; i++) {
		fill(big, 100 + i, i);
		cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 100 + i), 0);
	}
	cr_assert_eq(ring_dequeue_burst(g.cons, out, 4), 4);
	cr_assert_eq(ring_dequeue_burst(g.cons, out + 4, 4), 4);
	/* Producer fills every free byte; none of the unreleased views move. */
	while (ring_enqueue(g.prod, 1, 1, big, 8) == 0)
		;
	for (uint32_t i = 0; i < 8; i++)
		cr_assert(payload_ok(&out[i], i), "view %u overwritten before release", i);
	ring_release(g.cons);
	rig_close(&g);
}

/* ------------------------------------------------------------ discard, stats */

Test(ring, discard_skips_queued)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m;

	for (int i = 0; i < 10; i++)
		cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 24), 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1); /* taken, not released */
	cr_assert_eq(ring_discard(g.cons), 9 * 32);
	struct ring_stats st = stats(&g);
	cr_assert_eq(st.depth_msgs, 0);
	cr_assert_eq(st.used_bytes, 0);
	cr_assert_eq(st.deq_msgs, 10);
	cr_assert_eq(tail(&g), head(&g));
	cr_assert(ring_empty(g.cons));
	cr_assert_eq(ring_discard(g.cons), 0);

	/* Traffic continues normally after a discard. */
	fill(big, 33, 4);
	cr_assert_eq(ring_enqueue(g.prod, 2, 1, big, 33), 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.type, 2);
	cr_assert(payload_ok(&m, 4));
	ring_release(g.cons);
	st = stats(&g);
	cr_assert_eq(st.deq_msgs, 11);
	cr_assert_eq(st.enq_msgs, 11);
	cr_assert_eq(st.corrupt, 0);
	rig_close(&g);
}

Test(ring, new_consumer_starts_at_tail)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m;

	for (int i = 0; i < 4; i++)
		cr_assert_eq(ring_enqueue(g.prod, (uint16_t)(1 + i), 1, big, 0), 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	ring_release(g.cons);
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1); /* taken, never released */
	ring_close(g.cons);
	g.cons = ring_open(g.ctrl, g.data, CAP, -1, RING_CONSUMER);
	/* The unreleased message is seen again; the released one is not. */
	cr_assert_eq(ring_dequeue_burst(g.cons, &m, 1), 1);
	cr_assert_eq(m.type, 2);
	rig_close(&g);
}

Test(ring, stats_depth_accounting)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	struct ring_msg m[8];
	struct ring_stats st = stats(&g);

	cr_assert_eq(st.capacity, CAP);
	cr_assert_eq(st.used_bytes + st.enq_msgs + st.deq_msgs + st.depth_msgs + st.drops_full +
			     st.rejected + st.corrupt + st.wakeups,
		     0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 10), 0); /* 24-byte records */
	st = stats(&g);
	cr_assert_eq(st.enq_msgs, 5);
	cr_assert_eq(st.depth_msgs, 5);
	cr_assert_eq(st.used_bytes, 5 * 24);
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 3), 3);
	st = stats(&g);
	cr_assert_eq(st.depth_msgs, 5, "dequeued messages count at release");
	cr_assert_eq(st.used_bytes, 5 * 24);
	ring_count_reject(g.cons);
	ring_release(g.cons);
	st = stats(&g);
	cr_assert_eq(st.deq_msgs, 3);
	cr_assert_eq(st.depth_msgs, 2);
	cr_assert_eq(st.used_bytes, 2 * 24);
	cr_assert_eq(st.rejected, 1);
	/* A second release without new dequeues changes nothing. */
	ring_release(g.cons);
	cr_assert_eq(stats(&g).deq_msgs, 3);

	/* An observer handle reads the same shared counters. */
	ring *obs = ring_open(g.ctrl, g.data, CAP, -1, RING_OBSERVER);
	cr_assert_not_null(obs);
	ring_close(obs);

	/* Impossible shared counters never produce an impossible snapshot. */
	atomic_store(&g.ctrl->tail, head(&g) + 64); /* tail past head */
	atomic_store(&g.ctrl->deq_msgs, 100);        /* more out than in */
	st = stats(&g);
	cr_assert_leq(st.used_bytes, CAP);
	cr_assert_eq(st.depth_msgs, 0);
	rig_close(&g);
}

/* ------------------------------------------------------------ doorbell */

static uint64_t efd_take(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		cr_assert_eq(errno, EAGAIN);
		return 0;
	}
	return v;
}

Test(ring, doorbell_only_when_armed)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	struct rig g;
	rig_open(&g, CAP, efd);
	struct ring_msg m[4];

	/* Consumer not waiting: the producer never touches the doorbell. */
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 4), 0);
	cr_assert_eq(efd_take(efd), 0);
	cr_assert_eq(stats(&g).wakeups, 0);

	/* Arming a non-empty ring refuses (data is there: do not sleep) and
	 * leaves the flag clear. */
	cr_assert(!ring_arm(g.cons));
	cr_assert_eq(atomic_load(&g.ctrl->waiting), 0);
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 4), 1);
	ring_release(g.cons);

	/* Armed on an empty ring: the next publish rings exactly once and
	 * clears the flag, so the one after does not ring again. */
	cr_assert(ring_arm(g.cons));
	cr_assert_eq(atomic_load(&g.ctrl->waiting), 1);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 4), 0);
	cr_assert_eq(atomic_load(&g.ctrl->waiting), 0);
	cr_assert_eq(efd_take(efd), 1);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 4), 0);
	cr_assert_eq(efd_take(efd), 0);
	cr_assert_eq(stats(&g).wakeups, 1);

	/* A burst rings once for the whole burst. */
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 4), 2);
	ring_release(g.cons);
	cr_assert(ring_arm(g.cons));
	struct ring_msg_in in[3] = { { 1, 1, big, 1 }, { 1, 1, big, 2 }, { 1, 1, big, 3 } };
	cr_assert_eq(ring_enqueue_burst(g.prod, in, 3), 3);
	cr_assert_eq(efd_take(efd), 1);
	cr_assert_eq(stats(&g).wakeups, 2);

	/* Disarmed: silent again. */
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 4), 3);
	ring_release(g.cons);
	cr_assert(ring_arm(g.cons));
	ring_disarm(g.cons);
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 4), 0);
	cr_assert_eq(efd_take(efd), 0);
	cr_assert_eq(stats(&g).wakeups, 2);

	/* A drop on a full ring publishes nothing, so it never rings. */
	cr_assert_eq(ring_dequeue_burst(g.cons, m, 4), 1);
	ring_release(g.cons);
	cr_assert(ring_arm(g.cons));
	while (ring_enqueue(g.prod, 1, 1, big, 0) == 0)
		;
	cr_assert_eq(efd_take(efd), 1, "the first message rang, drops after it did not");
	cr_assert_eq(stats(&g).wakeups, 3);
	rig_close(&g);
	close(efd);
}

Test(ring, armed_without_doorbell_never_writes)
{
	struct rig g;
	rig_open(&g, CAP, -1);
	cr_assert(ring_arm(g.cons));
	cr_assert_eq(ring_enqueue(g.prod, 1, 1, big, 4), 0);
	/* No doorbell fd: the flag stays for a polling consumer, nothing counted. */
	cr_assert_eq(stats(&g).wakeups, 0);
	cr_assert_eq(atomic_load(&g.ctrl->waiting), 1);
	ring_disarm(g.cons);
	cr_assert_eq(atomic_load(&g.ctrl->waiting), 0);
	rig_close(&g);
}

/* ------------------------------------------------------------ hostile state */

/*
 * Each case starts from a ring holding `good` well-formed messages that the
 * consumer has not read (types 1..good, 16-byte payloads, at offset `start`
 * of the data area), then scribbles on the shared state. `expect_good` of
 * them must still come out intact before the consumer detects the damage.
 */
struct hostile_case {
	const char *name;
	uint64_t start;   /* data-area offset where the good messages begin */
	unsigned good;
	void (*damage)(struct rig *g, uint64_t first_bad); /* first_bad: counter after the good ones */
	bool before_open; /* damage shared state, then (re)open both handles */
	unsigned expect_good;
	bool probe_empty; /* ring_empty()/ring_arm() look at head before any dequeue */
};

static void put_hdr(struct rig *g, uint64_t counter, uint16_t type, uint32_t len)
{
	struct ring_msg_hdr h = { .type = type, .version = 1, .len = len };
	memcpy(g->data + (counter & (g->cap - 1)), &h, sizeof(h));
}

static void dmg_head_beyond_capacity(struct rig *g, uint64_t b)
{
	atomic_store(&g->ctrl->head, b + g->cap + 8);
}

static void dmg_head_far_beyond(struct rig *g, uint64_t b)
{
	(void)b;
	atomic_store(&g->ctrl->head, UINT64_MAX - 7);
}

static void dmg_head_behind_tail(struct rig *g, uint64_t b)
{
	(void)b;
	atomic_store(&g->ctrl->head, atomic_load(&g->ctrl->tail) - 8);
}

static void dmg_head_short_of_header(struct rig *g, uint64_t b)
{
	put_hdr(g, b, 5, 0);
	atomic_store(&g->ctrl->head, b + 4); /* half a header published */
}

static void dmg_len_past_head(struct rig *g, uint64_t b)
{
	put_hdr(g, b, 5, 64); /* claims 72 bytes, 16 published */
	atomic_store(&g->ctrl->head, b + 16);
}

static void dmg_len_huge(struct rig *g, uint64_t b)
{
	put_hdr(g, b, 5, UINT32_MAX);
	atomic_store(&g->ctrl->head, b + 64);
}

static void dmg_len_past_end(struct rig *g, uint64_t b)
{
	/* Published bytes run past the end (a wrap), but the record claims
	 * to be contiguous across it. */
	uint64_t to_end = g->cap - (b & (g->cap - 1));
	put_hdr(g, b, 5, (uint32_t)(to_end + 64));
	atomic_store(&g->ctrl->head, b + to_end + 256);
}

static void dmg_pad_short(struct rig *g, uint64_t b)
{
	uint64_t to_end = g->cap - (b & (g->cap - 1));
	put_hdr(g, b, RING_MSG_PAD, (uint32_t)(to_end - 16)); /* stops 8 bytes short */
	atomic_store(&g->ctrl->head, b + to_end + 32);
}

static void dmg_pad_past_end(struct rig *g, uint64_t b)
{
	uint64_t to_end = g->cap - (b & (g->cap - 1));
	put_hdr(g, b, RING_MSG_PAD, (uint32_t)to_end); /* 8 bytes past the end */
	atomic_store(&g->ctrl->head, b + to_end + 32);
}

static void dmg_pad_past_head(struct rig *g, uint64_t b)
{
	uint64_t to_end = g->cap - (b & (g->cap - 1));
	put_hdr(g, b, RING_MSG_PAD, (uint32_t)(to_end - 8)); /* exact to end, but unpublished */
	atomic_store(&g->ctrl->head, b + 8);
}

static void dmg_misaligned_tail(struct rig *g, uint64_t b)
{
	(void)b;
	atomic_store(&g->ctrl->tail, atomic_load(&g->ctrl->tail) + 4);
}

static void dmg_misaligned_head(struct rig *g, uint64_t b)
{
	put_hdr(g, b, 5, 0);
	atomic_store(&g->ctrl->head, b + 8 + 3);
}

/* The consumer attaches to a ring whose head is already impossible and
 * whose data area is one pad record covering the whole ring. */
static void dmg_open_head_behind(struct rig *g, uint64_t b)
{
	(void)b;
	put_hdr(g, 0, RING_MSG_PAD, (uint32_t)(g->cap - 8));
	atomic_store(&g->ctrl->tail, 4 * g->cap);
	atomic_store(&g->ctrl->head, 4 * g->cap - 8);
}

static void dmg_open_head_beyond(struct rig *g, uint64_t b)
{
	(void)b;
	put_hdr(g, 0, 5, 8);
	atomic_store(&g->ctrl->tail, 0);
	atomic_store(&g->ctrl->head, 3 * g->cap);
}

static const struct hostile_case hostile[] = {
	/* An impossible head is seen before any record: nothing is trusted. */
	{ "head beyond capacity", 0, 3, dmg_head_beyond_capacity, false, 0, false },
	{ "head beyond capacity (wrapped)", CAP - 40, 3, dmg_head_beyond_capacity, false, 0, false },
	{ "head near UINT64_MAX", 512, 2, dmg_head_far_beyond, false, 0, false },
	{ "head behind tail", 512, 2, dmg_head_behind_tail, false, 0, false },
	/* A plausible head: the records before the damage are delivered. */
	{ "head inside a header", 0, 2, dmg_head_short_of_header, false, 2, false },
	{ "record len past head", 0, 2, dmg_len_past_head, false, 2, false },
	{ "record len UINT32_MAX", 1024, 1, dmg_len_huge, false, 1, false },
	{ "record len past end of data", CAP - 96, 2, dmg_len_past_end, false, 2, false },
	{ "pad record not reaching end", CAP - 256, 1, dmg_pad_short, false, 1, false },
	{ "pad record past end", CAP - 256, 1, dmg_pad_past_end, false, 1, false },
	{ "pad record past head", CAP - 256, 1, dmg_pad_past_head, false, 1, false },
	{ "misaligned head", 64, 2, dmg_misaligned_head, false, 2, false },
	/* Damage already there when the handles attach. */
	{ "misaligned tail at attach", 64, 2, dmg_misaligned_tail, true, 0, false },
	{ "head behind tail at attach", 0, 0, dmg_open_head_behind, true, 0, false },
	{ "head beyond capacity at attach", 0, 0, dmg_open_head_beyond, true, 0, false },
	/* The sleeping check sees the damage first (found by fuzz_ring). */
	{ "head behind tail, seen by ring_empty", 0, 0, dmg_open_head_behind, true, 0, true },
	{ "head beyond capacity, seen by ring_empty", 0, 0, dmg_open_head_beyond, true, 0, true },
	{ "head behind tail, seen by ring_arm", 512, 2, dmg_head_behind_tail, false, 0, true },
};

static void run_hostile(const struct hostile_case *hc)
{
	struct rig g;
	struct ring_msg m[16];
	unsigned got = 0;

	rig_open(&g, CAP, -1);
	advance_to(&g, hc->start);
	for (unsigned i = 0; i < hc->good; i++) {
		fill(big, 16, 1 + i);
		cr_assert_eq(ring_enqueue(g.prod, (uint16_t)(1 + i), 1, big, 16), 0);
	}
	hc->damage(&g, head(&g));
	if (hc->before_open)
		rig_reopen(&g);
	if (hc->probe_empty) {
		/* Not empty: the consumer must look (and count), not sleep. */
		cr_assert(!ring_empty(g.cons), "%s", hc->name);
		cr_assert(!ring_arm(g.cons), "%s", hc->name);
	}

	/* Drain with small bursts: every view in bounds, the good ones intact,
	 * and the consumer stops on its own (no endless walk over garbage). */
	for (int round = 0; round < 8; round++) {
		unsigned n = ring_dequeue_burst(g.cons, m, 4);
		for (unsigned i = 0; i < n; i++) {
			assert_in_bounds(&g, &m[i]);
			if (got < hc->good && m[i].type == 1 + got && m[i].len == 16 &&
			    payload_ok(&m[i], 1 + got))
				got++;
		}
		ring_release(g.cons);
	}
	struct ring_stats st = stats(&g);
	cr_assert_geq(st.corrupt, 1, "%s: corruption not counted", hc->name);
	cr_assert_geq(got, hc->expect_good < hc->good ? hc->expect_good : hc->good,
		      "%s: good messages lost before the damage", hc->name);
	cr_assert_eq(tail(&g), head(&g), "%s: consumer did not resync at head", hc->name);
	cr_assert(ring_empty(g.cons), "%s", hc->name);

	/* The ring works again for a producer that (re)attaches. If the damage
	 * left the counters misaligned, the first message after it may be lost
	 * to one more resync; from then on messages go through intact and
	 * nothing more is counted as corrupt. */
	rig_reopen(&g);
	unsigned probes = 0;
	do {
		cr_assert_lt(probes++, 2, "%s: ring did not recover", hc->name);
		cr_assert_eq(ring_enqueue(g.prod, 76, 1, big, 0), 0, "%s", hc->name);
	} while (ring_dequeue_burst(g.cons, m, 1) == 0);
	cr_assert_eq(m[0].type, 76);
	ring_release(g.cons);
	uint64_t corrupt = stats(&g).corrupt;
	for (uint32_t i = 0; i < 50; i++) {
		fill(big, 3 * i, 1000 + i);
		cr_assert_eq(ring_enqueue(g.prod, 77, 1, big, 3 * i), 0, "%s", hc->name);
		cr_assert_eq(ring_dequeue_burst(g.cons, m, 2), 1, "%s: message %u", hc->name, i);
		cr_assert_eq(m[0].type, 77);
		cr_assert_eq(m[0].len, 3 * i);
		cr_assert(payload_ok(&m[0], 1000 + i));
		assert_in_bounds(&g, &m[0]);
		ring_release(g.cons);
	}
	cr_assert_eq(stats(&g).corrupt, corrupt, "%s", hc->name);
	rig_close(&g);
}

Test(ring, hostile_shared_state, .timeout = 30)
{
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		run_hostile(&hostile[i]);
}

/* A producer attaching to a ring whose head was left misaligned must not
 * write its headers across the end of the data area. */
Test(ring, producer_attach_misaligned_head)
{
	struct rig g;
	struct ring_msg m[4];
	rig_open(&g, CAP, -1);

	atomic_store(&g.ctrl->head, CAP - 3);
	atomic_store(&g.ctrl->tail, CAP - 3);
	rig_reopen(&g);
	for (uint32_t i = 0; i < 20; i++) {
		fill(big, 100, i);
		cr_assert_eq(ring_enqueue(g.prod, 5, 1, big, 100), 0);
		unsigned n = ring_dequeue_burst(g.cons, m, 4);
		for (unsigned k = 0; k < n; k++)
			assert_in_bounds(&g, &m[k]);
		ring_release(g.cons);
	}
	cr_assert_eq(atomic_load(&g.ctrl->head) % RING_ALIGN, 0);
	rig_close(&g);
}

/* Deterministic random scribbling: the consumer must stay in bounds and
 * must finish every call (a fuzz target does the same at scale). */
Test(ring, random_scribbles_stay_in_bounds, .timeout = 60)
{
	struct rig g;
	struct ring_msg m[32];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	rig_open(&g, CAP, -1);
	for (int iter = 0; iter < 20000; iter++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		switch (x % 4) {
		case 0: /* legitimate traffic */
			(void)ring_enqueue(g.prod, 1, 1, big, (uint32_t)(x >> 40) % 300);
			break;
		case 1: /* random head near tail */
			atomic_store(&g.ctrl->head, tail(&g) + ((x >> 20) % (2 * CAP)) - CAP / 2);
			break;
		case 2: /* random header somewhere */
			put_hdr(&g, (x >> 12) & (CAP - 8), (uint16_t)(x >> 50) & 3, (uint32_t)(x >> 30) % (CAP + 64));
			break;
		case 3: /* fresh handles over whatever is there */
			ring_close(g.cons);
			g.cons = ring_open(g.ctrl, g.data, CAP, -1, RING_CONSUMER);
			break;
		}
		unsigned n = ring_dequeue_burst(g.cons, m, 32);
		for (unsigned i = 0; i < n; i++)
			assert_in_bounds(&g, &m[i]);
		ring_release(g.cons);
		if (iter % 97 == 0)
			(void)ring_discard(g.cons);
		if (iter % 13 == 0) {
			/* The producer follows the shared head, as after a restart. */
			ring_close(g.prod);
			g.prod = ring_open(g.ctrl, g.data, CAP, -1, RING_PRODUCER);
		}
	}
	cr_assert_gt(stats(&g).corrupt, 0);
	rig_close(&g);
}
