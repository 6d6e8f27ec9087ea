/*
 * test_nack: generic NACK expansion (BLP bit order, all ones, 16-bit wrap,
 * truncation) and the per-flow packet history: sequence wrap at 65535, ring
 * wrap and eviction (an evicted number is never found again), reordering,
 * duplicates, too-old packets, sender restarts, the keyframe mark moving
 * forward and disappearing when evicted, buffer-id ownership under a long
 * pseudo-random stream, and fast start on the recorded H.264/H.265 samples.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyframe.h"
#include "nack.h"
#include "rtp.h"

#define DATA SP_TEST_DATA "/rtp/"

/* ---- nack_expand ---- */

Test(nack_expand, blp_all_ones)
{
	static const uint8_t fci[] = { 0x00, 0x64, 0xff, 0xff };
	uint16_t s[32];

	cr_assert_eq(nack_expand(fci, sizeof(fci), s, 32), 17);
	for (int i = 0; i < 17; i++)
		cr_expect_eq(s[i], 100 + i);
}

Test(nack_expand, wraps_at_65535)
{
	static const uint8_t fci[] = { 0xff, 0xfa, 0xff, 0xff };
	uint16_t s[32];

	cr_assert_eq(nack_expand(fci, sizeof(fci), s, 32), 17);
	for (int i = 0; i < 17; i++)
		cr_expect_eq(s[i], (uint16_t)(65530 + i));
	cr_expect_eq(s[5], 65535);
	cr_expect_eq(s[6], 0);
	cr_expect_eq(s[16], 10);
}

Test(nack_expand, bit_order_and_entries)
{
	/* BLP bit 0 = PID+1, bit 15 = PID+16; entries in FCI order */
	static const uint8_t fci[] = { 0x00, 0x0a, 0x80, 0x01, 0x00, 0x05, 0x00, 0x00,
				       0xff, 0xff, 0x00, 0x04 };
	uint16_t s[32];

	cr_assert_eq(nack_expand(fci, sizeof(fci), s, 32), 6);
	cr_expect_eq(s[0], 10);
	cr_expect_eq(s[1], 11);
	cr_expect_eq(s[2], 26);
	cr_expect_eq(s[3], 5);
	cr_expect_eq(s[4], 65535);
	cr_expect_eq(s[5], 2, "65535 + 3 wraps to 2");
}

Test(nack_expand, limits)
{
	static const uint8_t fci[] = { 0x00, 0x64, 0xff, 0xff, 0x01, 0x00 };
	uint16_t s[32] = { 0 };

	cr_expect_eq(nack_expand(fci, sizeof(fci), s, 5), 5, "stops at max");
	cr_expect_eq(s[4], 104);
	cr_expect_eq(nack_expand(fci, sizeof(fci), s, 0), 0);
	cr_expect_eq(nack_expand(fci, 6, s, 32), 17, "trailing partial entry ignored");
	cr_expect_eq(nack_expand(fci, 3, s, 32), 0);
	cr_expect_eq(nack_expand(fci, 0, s, 32), 0);
}

/* ---- history ---- */

static int put(nack_hist *h, uint16_t seq, uint32_t ts, uint32_t id, enum keyframe_kind kf,
	       uint32_t *evicted)
{
	struct nack_hist_pkt p = { .seq = seq, .len = 100, .ts = ts, .buf_id = id, .kf = (uint8_t)kf };
	uint32_t dummy;

	return nack_hist_put(h, &p, evicted ? evicted : &dummy);
}

static bool has(const nack_hist *h, uint16_t seq, uint32_t *id)
{
	struct nack_hist_pkt p;

	if (!nack_hist_lookup(h, seq, &p))
		return false;
	cr_assert_eq(p.seq, seq);
	if (id)
		*id = p.buf_id;
	return true;
}

Test(nack_hist, create_and_init)
{
	static alignas(8) uint8_t mem[4096];
	nack_hist *h;

	cr_expect_eq(nack_hist_memsize(0), 0);
	cr_expect_eq(nack_hist_memsize(1), 0);
	cr_expect_eq(nack_hist_memsize(3), 0);
	cr_expect_eq(nack_hist_memsize(NACK_HIST_MAX * 2), 0);
	cr_expect_gt(nack_hist_memsize(NACK_HIST_MAX), 0);
	cr_expect_null(nack_hist_create(100));
	cr_expect_null(nack_hist_init(mem, sizeof(mem), 3));
	cr_expect_null(nack_hist_init(mem, nack_hist_memsize(64) - 1, 64));
	cr_expect_null(nack_hist_init(mem + 1, sizeof(mem) - 1, 64), "misaligned");
	cr_expect_null(nack_hist_init(NULL, sizeof(mem), 64));

	h = nack_hist_init(mem, sizeof(mem), 64);
	cr_assert_not_null(h);
	cr_expect_eq(nack_hist_count(h), 0);
	cr_expect_eq(put(h, 7, 0, 70, KEYFRAME_NONE, NULL), 0);
	cr_expect(has(h, 7, NULL));
	nack_hist_destroy(h); /* not owned: a no-op */

	h = nack_hist_create(NACK_HIST_MAX);
	cr_assert_not_null(h);
	nack_hist_destroy(h);
}

Test(nack_hist, lookup_hit_miss_duplicate)
{
	nack_hist *h = nack_hist_create(8);
	uint32_t id;
	uint16_t newest;

	cr_assert_not_null(h);
	cr_expect_not(nack_hist_newest(h, &newest));
	cr_expect_not(has(h, 0, NULL), "empty");
	for (uint16_t s = 10; s < 14; s++)
		cr_assert_eq(put(h, s, 0, 1000u + s, KEYFRAME_NONE, NULL), 0);
	for (uint16_t s = 10; s < 14; s++) {
		cr_assert(has(h, s, &id));
		cr_expect_eq(id, 1000u + s);
	}
	cr_expect_not(has(h, 9, NULL), "never stored, inside window");
	cr_expect_not(has(h, 14, NULL), "ahead of newest");
	cr_expect_not(has(h, 5, NULL), "never stored, below window");
	cr_expect_eq(put(h, 12, 0, 9999, KEYFRAME_NONE, NULL), -EEXIST);
	cr_assert(has(h, 12, &id));
	cr_expect_eq(id, 1012u, "duplicate did not replace");
	cr_expect_eq(nack_hist_count(h), 4);
	cr_assert(nack_hist_newest(h, &newest));
	cr_expect_eq(newest, 13);
	nack_hist_destroy(h);
}

Test(nack_hist, seq_wrap_at_65535)
{
	nack_hist *h = nack_hist_create(16);
	uint32_t id;
	uint16_t newest;

	cr_assert_not_null(h);
	for (uint32_t i = 0; i < 12; i++)
		cr_assert_eq(put(h, (uint16_t)(65530 + i), 0, i, KEYFRAME_NONE, NULL), 0);
	for (uint32_t i = 0; i < 12; i++) {
		cr_assert(has(h, (uint16_t)(65530 + i), &id), "seq %u", (uint16_t)(65530 + i));
		cr_expect_eq(id, i);
	}
	cr_assert(nack_hist_newest(h, &newest));
	cr_expect_eq(newest, 5);
	cr_expect_not(has(h, 65529, NULL));
	cr_expect_not(has(h, 6, NULL));
	nack_hist_destroy(h);
}

Test(nack_hist, ring_wrap_evicts_oldest)
{
	nack_hist *h = nack_hist_create(8);
	uint32_t ev = 0, id;

	cr_assert_not_null(h);
	for (uint32_t s = 0; s < 8; s++)
		cr_assert_eq(put(h, (uint16_t)s, 0, 100 + s, KEYFRAME_NONE, &ev), 0);
	for (uint32_t s = 8; s < 20; s++) {
		cr_assert_eq(put(h, (uint16_t)s, 0, 100 + s, KEYFRAME_NONE, &ev), 1, "seq %u", s);
		cr_expect_eq(ev, 100 + s - 8, "evicts the packet 8 behind");
	}
	cr_expect_eq(nack_hist_count(h), 8);
	for (uint32_t s = 0; s < 12; s++)
		cr_expect_not(has(h, (uint16_t)s, NULL), "evicted seq %u found", s);
	for (uint32_t s = 12; s < 20; s++) {
		cr_assert(has(h, (uint16_t)s, &id));
		cr_expect_eq(id, 100 + s);
	}
	cr_expect_eq(put(h, 11, 0, 5, KEYFRAME_NONE, NULL), -ERANGE, "older than the window");
	cr_expect_not(has(h, 11, NULL));
	cr_expect_eq(nack_hist_count(h), 8);
	nack_hist_destroy(h);
}

Test(nack_hist, eviction_across_seq_wrap)
{
	nack_hist *h = nack_hist_create(4);
	uint32_t ev = 0;

	cr_assert_not_null(h);
	cr_assert_eq(put(h, 65533, 0, 1, KEYFRAME_NONE, &ev), 0);
	cr_assert_eq(put(h, 65534, 0, 2, KEYFRAME_NONE, &ev), 0);
	cr_assert_eq(put(h, 65535, 0, 3, KEYFRAME_NONE, &ev), 0);
	cr_assert_eq(put(h, 0, 0, 4, KEYFRAME_NONE, &ev), 0);
	cr_assert_eq(put(h, 1, 0, 5, KEYFRAME_NONE, &ev), 1);
	cr_expect_eq(ev, 1);
	cr_assert_eq(put(h, 2, 0, 6, KEYFRAME_NONE, &ev), 1);
	cr_expect_eq(ev, 2);
	cr_expect_not(has(h, 65533, NULL));
	cr_expect_not(has(h, 65534, NULL));
	cr_expect(has(h, 65535, NULL));
	cr_expect(has(h, 0, NULL));
	cr_expect(has(h, 2, NULL));
	nack_hist_destroy(h);
}

/* A whole 16-bit cycle with a lost slot: the entry 65536 numbers back has
 * the same 16-bit seq but must not be returned. */
Test(nack_hist, no_alias_after_full_cycle)
{
	nack_hist *h = nack_hist_create(1024);
	uint32_t id;

	cr_assert_not_null(h);
	for (uint32_t i = 0; i <= 65536 + 100; i++) {
		uint16_t s = (uint16_t)i;

		if (i >= 1024 && (s & 1023) == 50)
			continue; /* every later packet of slot 50 is lost */
		cr_assert_geq(put(h, s, 0, i, KEYFRAME_NONE, NULL), 0);
	}
	cr_expect_not(has(h, 50, NULL), "stale entry of seq 50 from the first cycle");
	cr_assert(has(h, 51, &id));
	cr_expect_eq(id, 65536u + 51);
	nack_hist_destroy(h);
}

Test(nack_hist, reorder_within_window)
{
	nack_hist *h = nack_hist_create(16);
	uint16_t newest;
	uint32_t id;

	cr_assert_not_null(h);
	cr_assert_eq(put(h, 10, 0, 10, KEYFRAME_NONE, NULL), 0);
	cr_assert_eq(put(h, 13, 0, 13, KEYFRAME_NONE, NULL), 0);
	cr_assert_eq(put(h, 11, 0, 11, KEYFRAME_NONE, NULL), 0, "late packet fills its gap");
	cr_assert(nack_hist_newest(h, &newest));
	cr_expect_eq(newest, 13, "late packet does not move newest back");
	cr_assert(has(h, 11, &id));
	cr_expect_eq(id, 11);
	cr_expect_not(has(h, 12, NULL));
	nack_hist_destroy(h);
}

Test(nack_hist, sender_restart)
{
	nack_hist *h = nack_hist_create(16);
	uint16_t newest;
	int r;

	cr_assert_not_null(h);
	for (uint16_t s = 40000; s <= 40010; s++)
		cr_assert_eq(put(h, s, 0, s, KEYFRAME_NONE, NULL), 0);
	/* stray old packets, not consecutive: refused */
	cr_expect_eq(put(h, 20000, 0, 1, KEYFRAME_NONE, NULL), -ERANGE);
	cr_expect_eq(put(h, 30000, 0, 1, KEYFRAME_NONE, NULL), -ERANGE);
	/* two consecutive ones: a restart */
	cr_expect_eq(put(h, 20000, 0, 2, KEYFRAME_NONE, NULL), -ERANGE);
	r = put(h, 20001, 0, 3, KEYFRAME_NONE, NULL);
	cr_expect_geq(r, 0);
	cr_assert(nack_hist_newest(h, &newest));
	cr_expect_eq(newest, 20001);
	cr_expect(has(h, 20001, NULL));
	cr_expect_not(has(h, 40010, NULL), "old stream out of window");
	cr_expect_geq(put(h, 20002, 0, 4, KEYFRAME_NONE, NULL), 0);
	cr_expect(has(h, 20002, NULL));
	/* a forward jump is simply accepted */
	cr_expect_geq(put(h, 30002, 0, 5, KEYFRAME_NONE, NULL), 0);
	cr_expect_not(has(h, 20002, NULL));
	cr_expect(has(h, 30002, NULL));
	nack_hist_destroy(h);
}

Test(nack_hist, keyframe_moves_forward_and_expires)
{
	nack_hist *h = nack_hist_create(16);
	uint16_t start;
	uint16_t seq = 100;
	uint32_t ts = 0;

	cr_assert_not_null(h);
	cr_expect_not(nack_hist_keyframe(h, &start), "none yet");
	for (int i = 0; i < 3; i++, ts += 3600)
		put(h, seq++, ts, 0, KEYFRAME_NONE, NULL); /* P frames */
	cr_expect_not(nack_hist_keyframe(h, &start));

	/* AU: SPS/PPS (params), SEI (same ts), IDR start, continuation */
	put(h, seq++, ts, 0, KEYFRAME_PARAMS, NULL); /* 103 */
	put(h, seq++, ts, 0, KEYFRAME_NONE, NULL);   /* 104 SEI */
	put(h, seq++, ts, 0, KEYFRAME_START, NULL);  /* 105 */
	put(h, seq++, ts, 0, KEYFRAME_NONE, NULL);   /* 106 */
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 103, "fast start begins with the parameter sets");

	for (int i = 0; i < 5; i++)
		put(h, seq++, ts += 3600, 0, KEYFRAME_NONE, NULL); /* 107..111 */
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 103);

	/* second keyframe without parameter sets; previous packet has another ts */
	put(h, seq++, ts += 3600, 0, KEYFRAME_START, NULL); /* 112 */
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 112, "moves forward");

	/* a late start older than the current one (inside the window) is stored
	 * but does not move the mark back */
	cr_expect_geq(put(h, 98, 0, 0, KEYFRAME_START, NULL), 0);
	cr_expect(has(h, 98, NULL));
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 112);

	/* 15 more packets: 112 is still the oldest of 16 */
	for (int i = 0; i < 15; i++)
		put(h, seq++, ts += 3600, 0, KEYFRAME_NONE, NULL);
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 112);
	put(h, seq++, ts += 3600, 0, KEYFRAME_NONE, NULL);
	cr_expect_not(nack_hist_keyframe(h, &start), "evicted");
	cr_expect_not(has(h, 112, NULL));
	nack_hist_destroy(h);
}

Test(nack_hist, keyframe_au_edges)
{
	nack_hist *h = nack_hist_create(256);
	uint16_t start;

	cr_assert_not_null(h);
	/* parameter sets across the 16-bit wrap, with their own timestamp */
	put(h, 65533, 1000, 0, KEYFRAME_NONE, NULL);
	put(h, 65534, 2000, 0, KEYFRAME_PARAMS, NULL);
	put(h, 65535, 2000, 0, KEYFRAME_PARAMS, NULL);
	put(h, 0, 5000, 0, KEYFRAME_START, NULL);
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 65534);

	/* a gap before the start: the AU cannot reach over a lost packet */
	put(h, 10, 9000, 0, KEYFRAME_PARAMS, NULL);
	put(h, 12, 9000, 0, KEYFRAME_START, NULL);
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 12);

	/* at most NACK_HIST_AU_BACK packets back, whatever the sender claims */
	for (uint16_t s = 13; s < 13 + 100; s++)
		put(h, s, 7777, 0, KEYFRAME_NONE, NULL);
	put(h, 113, 7777, 0, KEYFRAME_START, NULL);
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, (uint16_t)(113 - NACK_HIST_AU_BACK));
	nack_hist_destroy(h);
}

Test(nack_hist, keyframe_gone_when_au_start_evicted)
{
	nack_hist *h = nack_hist_create(4);
	uint16_t start;

	cr_assert_not_null(h);
	put(h, 1, 10, 0, KEYFRAME_PARAMS, NULL);
	put(h, 2, 10, 0, KEYFRAME_START, NULL);
	put(h, 3, 10, 0, KEYFRAME_NONE, NULL);
	put(h, 4, 20, 0, KEYFRAME_NONE, NULL);
	cr_assert(nack_hist_keyframe(h, &start));
	cr_expect_eq(start, 1);
	put(h, 5, 30, 0, KEYFRAME_NONE, NULL); /* evicts 1: the IDR alone is no fast start */
	cr_expect(has(h, 2, NULL));
	cr_expect_not(nack_hist_keyframe(h, &start));
	nack_hist_destroy(h);
}

/* Every buffer id handed in comes back exactly once: evicted or popped. */
Test(nack_hist, buffer_ownership)
{
	enum { CAP = 64, N = 200000 };
	nack_hist *h = nack_hist_create(CAP);
	static uint8_t held[N];
	uint32_t x = 1, held_n = 0, next_id = 0, ev, id;
	uint16_t seq = 65000;

	cr_assert_not_null(h);
	for (uint32_t i = 0; i < N; i++) {
		int r, d;

		x = x * 1664525u + 1013904223u;
		d = (int)(x >> 24) % 100;
		/* mostly in order; some reorder, duplicates, far jumps both ways */
		uint16_t s = d < 80 ? ++seq : d < 90 ? (uint16_t)(seq - (x >> 8) % 80)
			  : d < 97 ? seq : (uint16_t)(seq + (x >> 8));
		id = next_id++;
		r = put(h, s, 0, id, (x >> 4) % 30 == 0 ? KEYFRAME_START : KEYFRAME_NONE, &ev);
		cr_assert(r == 0 || r == 1 || r == -EEXIST || r == -ERANGE, "r=%d", r);
		if (r >= 0) {
			held[id] = 1;
			held_n++;
		}
		if (r == 1) {
			cr_assert(held[ev], "evicted id %u not held", ev);
			held[ev] = 0;
			held_n--;
		}
		if (d >= 97)
			seq = s;
		cr_assert_eq(nack_hist_count(h), held_n);
		cr_assert_leq(held_n, CAP);
	}
	while (nack_hist_pop(h, &id)) {
		cr_assert(held[id], "popped id %u not held", id);
		held[id] = 0;
		held_n--;
	}
	cr_expect_eq(held_n, 0);
	cr_expect_eq(nack_hist_count(h), 0);
	cr_expect_not(nack_hist_newest(h, &seq), "as new after draining");
	cr_expect_eq(put(h, 5, 0, 1, KEYFRAME_NONE, NULL), 0);
	nack_hist_destroy(h);
}

/* ---- fast start on the recorded samples ---- */

#define MAX_PKTS 128
static uint8_t pkts[MAX_PKTS][1600];
static size_t pkt_len[MAX_PKTS];

static int load(const char *file)
{
	char path[512];
	uint8_t hdr[2];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), DATA "%s", file);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	while (fread(hdr, 1, 2, f) == 2) {
		size_t l = (size_t)hdr[0] << 8 | hdr[1];

		cr_assert_lt(n, MAX_PKTS);
		cr_assert_leq(l, sizeof(pkts[0]));
		cr_assert_eq(fread(pkts[n], 1, l, f), l);
		pkt_len[n++] = l;
	}
	fclose(f);
	return n;
}

/*
 * Frames 0, 25 and 50 are the keyframes (see test_keyframe.c). After each
 * packet, the history's fast start must be the first packet of the latest
 * keyframe seen, as long as that packet is within the last `cap`, and
 * nothing otherwise.
 */
static void fast_start(const char *file, enum keyframe_codec codec, uint32_t cap)
{
	nack_hist *h = nack_hist_create(cap);
	int n = load(file), latest_key_first = -1, frame_first = -1, key_seen = 0;
	uint32_t ts0 = 0, prev_ts = 0;
	uint16_t seq0 = 0;

	cr_assert_not_null(h);
	for (int i = 0; i < n; i++) {
		struct rtp_hdr rh;
		struct nack_hist_pkt p;
		uint32_t ev;
		uint16_t start;
		int frame;

		cr_assert_eq(rtp_parse(pkts[i], pkt_len[i], &rh), RTP_OK);
		if (i == 0) {
			ts0 = rh.ts;
			seq0 = rh.seq;
		}
		cr_assert_eq(rh.seq, (uint16_t)(seq0 + i), "capture is in order without loss");
		if (i == 0 || rh.ts != prev_ts)
			frame_first = i;
		prev_ts = rh.ts;
		frame = (int)((rh.ts - ts0) / 3600);
		p = (struct nack_hist_pkt){
			.seq = rh.seq, .len = (uint16_t)pkt_len[i], .ts = rh.ts, .buf_id = (uint32_t)i,
			.kf = (uint8_t)keyframe_detect(codec, pkts[i] + rh.payload_off, rh.payload_len),
		};
		cr_assert_geq(nack_hist_put(h, &p, &ev), 0);
		if (p.kf == KEYFRAME_START) {
			cr_assert(frame == 0 || frame == 25 || frame == 50, "%s: start in frame %d", file,
				  frame);
			latest_key_first = frame_first;
			key_seen++;
		}
		if (latest_key_first >= 0 && (uint32_t)(i - latest_key_first) < cap) {
			cr_assert(nack_hist_keyframe(h, &start), "%s #%d", file, i);
			cr_assert_eq(start, (uint16_t)(seq0 + latest_key_first), "%s #%d: start %u", file,
				     i, start);
			/* and the whole AU from there is in the history */
			for (int j = latest_key_first; j <= i; j++) {
				cr_assert(nack_hist_lookup(h, (uint16_t)(seq0 + j), &p));
				cr_assert_eq(p.buf_id, (uint32_t)j);
			}
		} else {
			cr_assert_not(nack_hist_keyframe(h, &start), "%s #%d: stale start %u", file, i,
				      start);
		}
	}
	cr_expect_eq(key_seen, 3, "%s", file);
	nack_hist_destroy(h);
}

Test(nack_hist, fast_start_h264_fua) { fast_start("h264_fua.rtp", KEYFRAME_H264, 32); }
Test(nack_hist, fast_start_h264_mode0) { fast_start("h264_mode0.rtp", KEYFRAME_H264, 32); }
Test(nack_hist, fast_start_h264_small) { fast_start("h264_small.rtp", KEYFRAME_H264, 16); }
Test(nack_hist, fast_start_h265) { fast_start("h265.rtp", KEYFRAME_H265, 32); }
Test(nack_hist, fast_start_h265_small) { fast_start("h265_small.rtp", KEYFRAME_H265, 16); }
Test(nack_hist, fast_start_large_history) { fast_start("h265.rtp", KEYFRAME_H265, 128); }
