/*
 * test_rtcp: the compound walk against the table in
 * tests/data/rtp/rtcp_cases.txt (truncated second packet, length 0, length
 * past the datagram, unknown types counted and skipped, padding, every
 * known type's body checks), the iterator's view of packets and its
 * accessors, a real SR recorded from ffmpeg, every prefix of a compound,
 * and the builders byte for byte against hand-made vectors and round trip
 * through the parser and nack_expand().
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nack.h"
#include "rtcp.h"
#include "testdata.h"

#define DATA SP_TEST_DATA "/rtp/"



/* Walk an exact-size heap copy (ASan sees any over-read), yielding all
 * packets; returns the init result and the number yielded. */
static enum rtcp_err walk_exact(const uint8_t *src, size_t len, struct rtcp_iter *it,
				unsigned *yielded)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct rtcp_pkt p;
	enum rtcp_err e;

	cr_assert_not_null(copy);
	if (len)
		memcpy(copy, src, len);
	e = rtcp_iter_init(it, copy, len);
	*yielded = 0;
	while (rtcp_next(it, &p)) {
		cr_assert(p.data >= copy && p.data + p.len <= copy + len);
		cr_assert_leq(p.body_len + 4, p.len);
		if (p.fci)
			cr_assert(p.fci + p.fci_len <= p.data + p.len);
		(*yielded)++;
	}
	free(copy);
	return e;
}

Test(rtcp, table)
{
	FILE *f = fopen(DATA "rtcp_cases.txt", "r");
	char line[2048];
	int lineno = 0, cases = 0;

	cr_assert_not_null(f, "cannot open rtcp_cases.txt");
	while (fgets(line, sizeof(line), f)) {
		char name[64], expect[64], lens[16], npk[16], nun[16];
		uint8_t buf[512];
		struct rtcp_iter it;
		unsigned yielded;
		int consumed = 0;
		size_t len;
		long n;
		enum rtcp_err e;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_eq(sscanf(line, "%63s %63s %15s %15s %15s %n", name, expect, lens, npk, nun,
				    &consumed), 5, "line %d: bad syntax", lineno);
		n = decode_hex(line + consumed, buf, sizeof(buf));
		cr_assert_geq(n, 0, "line %d: bad hex", lineno);
		len = strcmp(lens, "*") ? strtoul(lens, NULL, 10) : (size_t)n;
		cr_assert_leq(len, (size_t)n, "line %d", lineno);

		e = walk_exact(buf, len, &it, &yielded);
		cr_expect_str_eq(rtcp_err_name(e), expect, "%s (line %d): got %s", name, lineno,
				 rtcp_err_name(e));
		if (e == RTCP_OK) {
			cr_expect_eq(yielded, it.n_pkts, "%s", name);
			if (strcmp(npk, "-")) {
				cr_expect_eq(it.n_pkts, strtoul(npk, NULL, 10), "%s: n_pkts %u", name,
					     it.n_pkts);
				cr_expect_eq(it.n_unknown, strtoul(nun, NULL, 10), "%s: n_unknown %u",
					     name, it.n_unknown);
			}
		} else {
			cr_expect_eq(yielded, 0, "%s: a rejected compound yields nothing", name);
		}
		cases++;
	}
	fclose(f);
	cr_assert_geq(cases, 70, "only %d cases read", cases);
}

Test(rtcp, iterator_view)
{
	/* RR(1 block) + XR (unknown) + PLI + FIR(2) + NACK(2 entries) */
	static const uint8_t c[] = {
		0x81, 0xc9, 0x00, 0x07, 0x11, 0x11, 0x11, 0x11,
		0x22, 0x22, 0x22, 0x22, 0x80, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x00, 0x64,
		0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x30,
		0x80, 0xcf, 0x00, 0x01, 0x11, 0x11, 0x11, 0x11,
		0x81, 0xce, 0x00, 0x02, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
		0x84, 0xce, 0x00, 0x06, 0x11, 0x11, 0x11, 0x11, 0x00, 0x00, 0x00, 0x00,
		0x33, 0x33, 0x33, 0x33, 0x05, 0x00, 0x00, 0x00, 0x44, 0x44, 0x44, 0x44, 0x06, 0x00, 0x00, 0x00,
		0x81, 0xcd, 0x00, 0x04, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
		0xff, 0xfe, 0x00, 0x03, 0x00, 0x0a, 0x80, 0x00,
	};
	struct rtcp_iter it;
	struct rtcp_pkt p;
	struct rtcp_report_block rb;
	struct rtcp_fir_entry fe;
	struct rtcp_sender_info si;
	uint16_t seqs[64];

	cr_assert_eq(rtcp_iter_init(&it, c, sizeof(c)), RTCP_OK);
	cr_expect_eq(it.n_pkts, 4);
	cr_expect_eq(it.n_unknown, 1);

	cr_assert(rtcp_next(&it, &p));
	cr_expect_eq(p.pt, RTCP_RR);
	cr_expect_eq(p.count, 1);
	cr_expect_eq(p.ssrc, 0x11111111u);
	cr_expect_eq(p.len, 32);
	cr_assert_eq(rtcp_report_block(&p, 0, &rb), 0);
	cr_expect_eq(rb.ssrc, 0x22222222u);
	cr_expect_eq(rb.fraction_lost, 0x80);
	cr_expect_eq(rb.cum_lost, -2, "24-bit sign extension");
	cr_expect_eq(rb.ext_high_seq, 0x00010064u);
	cr_expect_eq(rb.jitter, 0x10u);
	cr_expect_eq(rb.lsr, 0x20u);
	cr_expect_eq(rb.dlsr, 0x30u);
	cr_expect_eq(rtcp_report_block(&p, 1, &rb), -ERANGE);
	cr_expect_eq(rtcp_sr_info(&p, &si), -EINVAL);

	cr_assert(rtcp_next(&it, &p), "XR is skipped, PLI follows");
	cr_expect(rtcp_is_pli(&p));
	cr_expect_not(rtcp_is_fir(&p));
	cr_expect_eq(p.media_ssrc, 0x22222222u);
	cr_expect_eq(p.fci_len, 0);
	cr_expect_eq(rtcp_fir_count(&p), 0);

	cr_assert(rtcp_next(&it, &p));
	cr_expect(rtcp_is_fir(&p));
	cr_assert_eq(rtcp_fir_count(&p), 2);
	cr_assert_eq(rtcp_fir_entry(&p, 0, &fe), 0);
	cr_expect_eq(fe.ssrc, 0x33333333u);
	cr_expect_eq(fe.seq_nr, 5);
	cr_assert_eq(rtcp_fir_entry(&p, 1, &fe), 0);
	cr_expect_eq(fe.ssrc, 0x44444444u);
	cr_expect_eq(fe.seq_nr, 6);
	cr_expect_eq(rtcp_fir_entry(&p, 2, &fe), -ERANGE);

	cr_assert(rtcp_next(&it, &p));
	cr_expect(rtcp_is_nack(&p));
	cr_expect_eq(rtcp_fir_entry(&p, 0, &fe), -EINVAL);
	cr_assert_eq(p.fci_len, 8);
	/* ffff fe +bits 0,1 -> 65534 65535 0; 10 + bit 15 -> 10 26 */
	cr_assert_eq(nack_expand(p.fci, p.fci_len, seqs, 64), 5);
	cr_expect_eq(seqs[0], 65534);
	cr_expect_eq(seqs[1], 65535);
	cr_expect_eq(seqs[2], 0);
	cr_expect_eq(seqs[3], 10);
	cr_expect_eq(seqs[4], 26);

	cr_expect_not(rtcp_next(&it, &p));
	cr_expect_not(rtcp_next(&it, &p), "stays at the end");
}

Test(rtcp, rejected_compound_yields_nothing)
{
	/* a valid PLI followed by a truncated one: nothing may be acted upon */
	static const uint8_t c[] = {
		0x81, 0xce, 0x00, 0x02, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
		0x81, 0xce, 0x00, 0x02, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22,
	};
	struct rtcp_iter it;
	struct rtcp_pkt p;

	cr_assert_eq(rtcp_iter_init(&it, c, sizeof(c)), RTCP_ERR_LEN);
	cr_expect_not(rtcp_next(&it, &p));
	cr_expect_eq(it.n_pkts, 0);
}

Test(rtcp, ffmpeg_sr_sample)
{
	FILE *f = fopen(DATA "ffmpeg_sr.rtcp", "rb");
	uint8_t buf[256], lenb[2];
	struct rtcp_iter it;
	struct rtcp_pkt p;
	struct rtcp_sender_info si;
	size_t n;

	cr_assert_not_null(f);
	cr_assert_eq(fread(lenb, 1, 2, f), 2);
	n = (size_t)lenb[0] << 8 | lenb[1];
	cr_assert_eq(fread(buf, 1, n, f), n);
	fclose(f);

	cr_assert_eq(rtcp_iter_init(&it, buf, n), RTCP_OK);
	cr_assert(rtcp_next(&it, &p));
	cr_expect_eq(p.pt, RTCP_SR);
	cr_expect_eq(p.count, 0);
	cr_expect_eq(p.ssrc, 0xc1d60ec3u, "same SSRC as h264_fua.rtp");
	cr_assert_eq(rtcp_sr_info(&p, &si), 0);
	cr_expect_eq(si.ntp_sec, 0xeeae89dfu);
	cr_expect_eq(si.ntp_frac, 0xb6872b02u);
	cr_expect_eq(si.rtp_ts, 0x572e107du);
	cr_expect_eq(si.pkt_count, 0);
	cr_expect_eq(si.octet_count, 0);
	cr_expect_not(rtcp_next(&it, &p));
}

/* Every prefix of a compound: no over-read; accepted only on packet boundaries. */
Test(rtcp, every_prefix)
{
	static const uint8_t c[] = {
		0x81, 0xc8, 0x00, 0x0c, 0x11, 0x11, 0x11, 0x11, 0xe0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0x10, 0, 0, 0, 0, 5, 0, 0, 1, 0,
		0x22, 0x22, 0x22, 0x22, 0, 0, 0, 1, 0, 1, 0, 0x64, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
		0x81, 0xca, 0x00, 0x03, 0x11, 0x11, 0x11, 0x11, 0x01, 0x05, 'h', 'e', 'l', 'l', 'o', 0,
		0x81, 0xcb, 0x00, 0x02, 0x11, 0x11, 0x11, 0x11, 0x03, 'b', 'y', 'e',
	};
	const size_t bounds[] = { 52, 68, 80 };

	for (size_t l = 0; l <= sizeof(c); l++) {
		struct rtcp_iter it;
		unsigned yielded;
		enum rtcp_err e = walk_exact(c, l, &it, &yielded);
		bool boundary = l == bounds[0] || l == bounds[1] || l == bounds[2];

		cr_expect_eq(e == RTCP_OK, boundary, "prefix %zu: %s", l, rtcp_err_name(e));
	}
}

Test(rtcp, build_pli_exact)
{
	static const uint8_t want[] = { 0x81, 0xce, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44,
					0x55, 0x66, 0x77, 0x88 };
	uint8_t buf[32];

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(rtcp_build_pli(buf, sizeof(buf), 0x11223344, 0x55667788), 12);
	cr_expect_arr_eq(buf, want, sizeof(want));
	cr_expect_eq(buf[12], 0xee, "nothing written past the packet");
	cr_expect_eq(rtcp_build_pli(buf, 11, 1, 2), -ENOSPC);
	cr_expect_eq(rtcp_build_pli(buf, 12, 1, 2), 12);
}

Test(rtcp, build_fir_exact)
{
	static const uint8_t want[] = {
		0x84, 0xce, 0x00, 0x06, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
		0xaa, 0xbb, 0xcc, 0xdd, 0x07, 0x00, 0x00, 0x00,
		0x11, 0x22, 0x33, 0x44, 0xff, 0x00, 0x00, 0x00,
	};
	const struct rtcp_fir_entry e[] = { { 0xaabbccdd, 7 }, { 0x11223344, 255 } };
	uint8_t buf[64];
	struct rtcp_iter it;
	struct rtcp_pkt p;
	struct rtcp_fir_entry got;

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(rtcp_build_fir(buf, sizeof(buf), 0x01020304, e, 2), 28);
	cr_expect_arr_eq(buf, want, sizeof(want));
	cr_expect_eq(rtcp_build_fir(buf, 27, 1, e, 2), -ENOSPC);
	cr_expect_eq(rtcp_build_fir(buf, sizeof(buf), 1, e, 0), -EINVAL);

	cr_assert_eq(rtcp_build_fir(buf, sizeof(buf), 0x01020304, e, 2), 28);
	cr_assert_eq(rtcp_iter_init(&it, buf, 28), RTCP_OK);
	cr_assert(rtcp_next(&it, &p));
	cr_assert_eq(rtcp_fir_count(&p), 2);
	cr_assert_eq(rtcp_fir_entry(&p, 1, &got), 0);
	cr_expect_eq(got.ssrc, 0x11223344u);
	cr_expect_eq(got.seq_nr, 255);
}

struct nack_vec {
	const char *name;
	uint16_t lost[24];
	size_t n;
	uint8_t fci[16]; /* expected PID/BLP entries */
	size_t fci_len;
};

static const struct nack_vec nack_vecs[] = {
	{ "single", { 100 }, 1, { 0x00, 0x64, 0x00, 0x00 }, 4 },
	{ "blp_all_ones", { 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
			    115, 116 }, 17, { 0x00, 0x64, 0xff, 0xff }, 4 },
	{ "gap_16_fits", { 1, 17 }, 2, { 0x00, 0x01, 0x80, 0x00 }, 4 },
	{ "gap_17_splits", { 1, 18 }, 2, { 0x00, 0x01, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00 }, 8 },
	{ "wrap", { 65534, 65535, 0, 1 }, 4, { 0xff, 0xfe, 0x00, 0x07 }, 4 },
	{ "duplicates", { 5, 5, 6, 6 }, 4, { 0x00, 0x05, 0x00, 0x01 }, 4 },
	{ "descending", { 10, 5 }, 2, { 0x00, 0x0a, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00 }, 8 },
	{ "three_entries", { 0, 2, 40, 41, 65535 }, 5,
	  { 0x00, 0x00, 0x00, 0x02, 0x00, 0x28, 0x00, 0x01, 0xff, 0xff, 0x00, 0x00 }, 12 },
};

Test(rtcp, build_nack_exact)
{
	for (size_t v = 0; v < sizeof(nack_vecs) / sizeof(nack_vecs[0]); v++) {
		const struct nack_vec *t = &nack_vecs[v];
		uint8_t buf[128];
		int n = rtcp_build_nack(buf, sizeof(buf), 0x11111111, 0x22222222, t->lost, t->n);
		static const uint8_t hdr_ssrcs[] = { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22 };

		cr_assert_eq(n, (int)(12 + t->fci_len), "%s: %d", t->name, n);
		cr_expect_eq(buf[0], 0x81, "%s", t->name);
		cr_expect_eq(buf[1], 205, "%s", t->name);
		cr_expect_eq(buf[2] << 8 | buf[3], n / 4 - 1, "%s", t->name);
		cr_expect_arr_eq(buf + 4, hdr_ssrcs, 8, "%s", t->name);
		cr_expect_arr_eq(buf + 12, t->fci, t->fci_len, "%s", t->name);
	}
}

/* Whatever was asked for comes back out of the parser and nack_expand(). */
Test(rtcp, build_nack_round_trip)
{
	uint16_t lost[200], got[200 * NACK_MAX_PER_ENTRY];
	uint8_t buf[2048];
	uint32_t x = 12345;

	for (int round = 0; round < 200; round++) {
		size_t n = 1 + (size_t)round % 200, m;
		uint16_t base = (uint16_t)(65500 + round * 7);
		struct rtcp_iter it;
		struct rtcp_pkt p;
		int len;

		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			lost[i] = (uint16_t)(base + (x >> 16) % 300); /* crosses 65535 */
		}
		len = rtcp_build_nack(buf, sizeof(buf), 1, 2, lost, n);
		cr_assert_gt(len, 0);
		cr_assert_eq(rtcp_iter_init(&it, buf, (size_t)len), RTCP_OK);
		cr_assert(rtcp_next(&it, &p));
		cr_assert(rtcp_is_nack(&p));
		m = nack_expand(p.fci, p.fci_len, got, sizeof(got) / sizeof(got[0]));
		for (size_t i = 0; i < n; i++) {
			bool found = false;

			for (size_t j = 0; j < m && !found; j++)
				found = got[j] == lost[i];
			cr_assert(found, "round %d: %u not requested", round, lost[i]);
		}
		for (size_t j = 0; j < m; j++) {
			bool asked = false;

			for (size_t i = 0; i < n && !asked; i++)
				asked = got[j] == lost[i];
			cr_assert(asked, "round %d: %u requested but not lost", round, got[j]);
		}
	}
}

Test(rtcp, build_nack_limits)
{
	const uint16_t lost[] = { 1, 100, 200 };
	uint8_t buf[64];

	cr_expect_eq(rtcp_build_nack(buf, sizeof(buf), 1, 2, lost, 0), -EINVAL);
	cr_expect_eq(rtcp_build_nack(buf, 15, 1, 2, lost, 1), -ENOSPC);
	cr_expect_eq(rtcp_build_nack(buf, 16, 1, 2, lost, 1), 16);
	cr_expect_eq(rtcp_build_nack(buf, 23, 1, 2, lost, 3), -ENOSPC);
	cr_expect_eq(rtcp_build_nack(buf, 24, 1, 2, lost, 3), 24);
}

Test(rtcp, build_rr_exact)
{
	static const uint8_t want[] = {
		0x81, 0xc9, 0x00, 0x07, 0xde, 0xad, 0xbe, 0xef,
		0x01, 0x02, 0x03, 0x04, 0x40, 0xff, 0xff, 0xff, 0x00, 0x02, 0x00, 0x10,
		0x00, 0x00, 0x00, 0x33, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x55,
	};
	struct rtcp_report_block rb = { .ssrc = 0x01020304, .fraction_lost = 0x40, .cum_lost = -1,
					.ext_high_seq = 0x00020010, .jitter = 0x33, .lsr = 0x44,
					.dlsr = 0x55 };
	struct rtcp_report_block got;
	uint8_t buf[64];
	struct rtcp_iter it;
	struct rtcp_pkt p;

	cr_assert_eq(rtcp_build_rr(buf, sizeof(buf), 0xdeadbeef, &rb, 1), 32);
	cr_expect_arr_eq(buf, want, sizeof(want));
	cr_assert_eq(rtcp_iter_init(&it, buf, 32), RTCP_OK);
	cr_assert(rtcp_next(&it, &p));
	cr_assert_eq(rtcp_report_block(&p, 0, &got), 0);
	cr_expect_eq(got.cum_lost, -1);
	cr_expect_eq(got.fraction_lost, 0x40);

	/* 24-bit clamp both ways */
	rb.cum_lost = 0x1000000;
	cr_assert_eq(rtcp_build_rr(buf, sizeof(buf), 1, &rb, 1), 32);
	cr_expect_eq(buf[13] << 16 | buf[14] << 8 | buf[15], 0x7fffff);
	rb.cum_lost = -0x1000000;
	cr_assert_eq(rtcp_build_rr(buf, sizeof(buf), 1, &rb, 1), 32);
	cr_expect_eq(buf[13] << 16 | buf[14] << 8 | buf[15], 0x800000);

	/* empty RR: 8 bytes, RC 0 */
	cr_assert_eq(rtcp_build_rr(buf, 8, 0x01020304, NULL, 0), 8);
	cr_expect_eq(buf[0], 0x80);
	cr_expect_eq(buf[3], 1);
	cr_expect_eq(rtcp_build_rr(buf, 7, 1, NULL, 0), -ENOSPC);
	cr_expect_eq(rtcp_build_rr(buf, sizeof(buf), 1, &rb, 32), -EINVAL);
}

/* Builders concatenate into a valid compound: RR + PLI + NACK. */
Test(rtcp, build_compound)
{
	const uint16_t lost[] = { 7, 9 };
	uint8_t buf[128];
	size_t off = 0;
	int n;
	struct rtcp_iter it;
	struct rtcp_pkt p;

	n = rtcp_build_rr(buf, sizeof(buf), 1, NULL, 0);
	cr_assert_gt(n, 0);
	off += (size_t)n;
	n = rtcp_build_pli(buf + off, sizeof(buf) - off, 1, 2);
	cr_assert_gt(n, 0);
	off += (size_t)n;
	n = rtcp_build_nack(buf + off, sizeof(buf) - off, 1, 2, lost, 2);
	cr_assert_gt(n, 0);
	off += (size_t)n;
	cr_assert_eq(rtcp_iter_init(&it, buf, off), RTCP_OK);
	cr_expect_eq(it.n_pkts, 3);
	cr_assert(rtcp_next(&it, &p));
	cr_expect_eq(p.pt, RTCP_RR);
	cr_assert(rtcp_next(&it, &p));
	cr_expect(rtcp_is_pli(&p));
	cr_assert(rtcp_next(&it, &p));
	cr_expect(rtcp_is_nack(&p));
}

Test(rtcp, err_names)
{
	for (int i = 0; i < RTCP_ERR__COUNT; i++) {
		cr_assert_not_null(rtcp_err_name((enum rtcp_err)i));
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(rtcp_err_name((enum rtcp_err)i), rtcp_err_name((enum rtcp_err)j));
	}
	cr_expect_str_eq(rtcp_err_name(RTCP_ERR__COUNT), "rtcp_unknown");
}
