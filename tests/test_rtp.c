/*
 * test_rtp: rtp_parse() against the boundary/hostile table in
 * tests/data/rtp/rtp_cases.txt (every truncation point around the fixed
 * header, CSRC list, extension and padding), header field extraction, RFC
 * 8285 element lookup, the length cap, every prefix of real packets from
 * the H.264 sample parsed from an exact-size heap copy (so ASan sees any
 * over-read), and the RFC 5761 demux predicate.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtp.h"
#include "testdata.h"

#define DATA SP_TEST_DATA "/rtp/"



/* Parse from an exact-size heap copy so any over-read is an ASan report. */
static enum rtp_err parse_exact(const uint8_t *src, size_t len, struct rtp_hdr *h)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum rtp_err e;

	cr_assert_not_null(copy);
	if (len)
		memcpy(copy, src, len);
	e = rtp_parse(copy, len, h);
	free(copy);
	return e;
}

Test(rtp, table)
{
	FILE *f = fopen(DATA "rtp_cases.txt", "r");
	char line[2048];
	int lineno = 0, cases = 0;

	cr_assert_not_null(f, "cannot open rtp_cases.txt");
	while (fgets(line, sizeof(line), f)) {
		char name[64], expect[64], lens[16], offs[16], plens[16];
		uint8_t buf[512];
		struct rtp_hdr h;
		int consumed = 0;
		long n;
		size_t len;
		enum rtp_err e;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_eq(sscanf(line, "%63s %63s %15s %15s %15s %n", name, expect, lens, offs,
				    plens, &consumed), 5, "line %d: bad syntax", lineno);
		n = decode_hex(line + consumed, buf, sizeof(buf));
		cr_assert_geq(n, 0, "line %d: bad hex", lineno);
		len = strcmp(lens, "*") ? strtoul(lens, NULL, 10) : (size_t)n;
		cr_assert_leq(len, (size_t)n, "line %d: len beyond the bytes", lineno);

		e = parse_exact(buf, len, &h);
		cr_expect_str_eq(rtp_err_name(e), expect, "%s (line %d): got %s", name, lineno,
				 rtp_err_name(e));
		if (e == RTP_OK && strcmp(offs, "-")) {
			cr_expect_eq(h.payload_off, strtoul(offs, NULL, 10), "%s: payload_off %u", name,
				     h.payload_off);
			cr_expect_eq(h.payload_len, strtoul(plens, NULL, 10), "%s: payload_len %u", name,
				     h.payload_len);
			cr_expect_eq((size_t)h.payload_off + h.payload_len + h.pad_len, len,
				     "%s: header + payload + padding != length", name);
		}
		cases++;
	}
	fclose(f);
	cr_assert_geq(cases, 50, "only %d cases read", cases);
}

Test(rtp, fields)
{
	/* V=2 P=1 X=1 CC=2, M=1 PT=111, seq 0xfffe, ts 0x80000001, ssrc 0xcafebabe,
	 * one-byte ext: ID 1 (1 byte 0x42), pad, ID 3 (2 bytes 0xbeef), then 3 payload
	 * bytes and 2 padding bytes. */
	static const uint8_t pkt[] = {
		0xb2, 0xef, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01, 0xca, 0xfe, 0xba, 0xbe,
		0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x22,
		0xbe, 0xde, 0x00, 0x02, 0x10, 0x42, 0x00, 0x31, 0xbe, 0xef, 0x00, 0x00,
		0x01, 0x02, 0x03, 0x00, 0x02,
	};
	struct rtp_hdr h;
	uint16_t off, len;

	cr_assert_eq(rtp_parse(pkt, sizeof(pkt), &h), RTP_OK);
	cr_expect(h.padding && h.extension && h.marker);
	cr_expect_eq(h.cc, 2);
	cr_expect_eq(h.pt, 111);
	cr_expect_eq(h.seq, 0xfffe);
	cr_expect_eq(h.ts, 0x80000001u);
	cr_expect_eq(h.ssrc, 0xcafebabeu);
	cr_expect_eq(rtp_csrc(pkt, &h, 0), 0x11u);
	cr_expect_eq(rtp_csrc(pkt, &h, 1), 0x22u);
	cr_expect_eq(rtp_csrc(pkt, &h, 2), 0u, "past cc reads nothing");
	cr_expect_eq(h.ext_kind, RTP_EXT_ONE_BYTE);
	cr_expect_eq(h.ext_profile, 0xbede);
	cr_expect_eq(h.ext_off, 24);
	cr_expect_eq(h.ext_len, 8);
	cr_expect_eq(h.payload_off, 32);
	cr_expect_eq(h.payload_len, 3);
	cr_expect_eq(h.pad_len, 2);

	cr_assert_eq(rtp_ext_find(pkt, &h, 1, &off, &len), 0);
	cr_expect_eq(off, 25);
	cr_expect_eq(len, 1);
	cr_expect_eq(pkt[off], 0x42);
	cr_assert_eq(rtp_ext_find(pkt, &h, 3, &off, &len), 0);
	cr_expect_eq(off, 28);
	cr_expect_eq(len, 2);
	cr_expect_eq(rtp_ext_find(pkt, &h, 2, &off, &len), -ENOENT);
	cr_expect_eq(rtp_ext_find(pkt, &h, 0, &off, &len), -ENOENT, "ID 0 is padding");
	cr_expect_eq(rtp_ext_find(pkt, &h, 15, &off, &len), -ENOENT, "ID 15 is reserved");
}

Test(rtp, ext_find_two_byte_and_other)
{
	static const uint8_t two[] = {
		0x90, 0x60, 0x00, 0x01, 0, 0, 0, 2, 0, 0, 0, 3,
		0x10, 0x00, 0x00, 0x02, 0x00, 0xc8, 0x00, 0x05, 0x03, 0xaa, 0xbb, 0xcc,
	};
	static const uint8_t other[] = {
		0x90, 0x60, 0x00, 0x01, 0, 0, 0, 2, 0, 0, 0, 3,
		0x12, 0x34, 0x00, 0x01, 0x10, 0x42, 0x00, 0x00,
	};
	struct rtp_hdr h;
	uint16_t off, len;

	cr_assert_eq(rtp_parse(two, sizeof(two), &h), RTP_OK);
	cr_expect_eq(h.ext_kind, RTP_EXT_TWO_BYTE);
	/* pad byte, ID 200 with length 0, ID 5 with 3 bytes */
	cr_assert_eq(rtp_ext_find(two, &h, 200, &off, &len), 0);
	cr_expect_eq(len, 0);
	cr_assert_eq(rtp_ext_find(two, &h, 5, &off, &len), 0);
	cr_expect_eq(off, 21);
	cr_expect_eq(len, 3);

	cr_assert_eq(rtp_parse(other, sizeof(other), &h), RTP_OK);
	cr_expect_eq(h.ext_kind, RTP_EXT_OTHER);
	cr_expect_eq(rtp_ext_find(other, &h, 1, &off, &len), -ENOENT, "opaque profile");
}

Test(rtp, length_cap)
{
	size_t n = RTP_MAX_LEN + 1;
	uint8_t *big = calloc(1, n);
	struct rtp_hdr h;

	cr_assert_not_null(big);
	big[0] = 0x80;
	cr_expect_eq(rtp_parse(big, RTP_MAX_LEN, &h), RTP_OK);
	cr_expect_eq(h.payload_len, RTP_MAX_LEN - RTP_HDR_LEN);
	cr_expect_eq(rtp_parse(big, n, &h), RTP_ERR_TOO_LONG);
	free(big);
}

/* Every prefix of every packet of a real capture: never an over-read, and
 * whatever is accepted accounts for every byte. */
Test(rtp, every_prefix_of_sample)
{
	FILE *f = fopen(DATA "h264_fua.rtp", "rb");
	uint8_t hdr[2], pkt[2048];
	int packets = 0;

	cr_assert_not_null(f);
	while (fread(hdr, 1, 2, f) == 2) {
		size_t n = (size_t)hdr[0] << 8 | hdr[1];
		struct rtp_hdr h;

		cr_assert_leq(n, sizeof(pkt));
		cr_assert_eq(fread(pkt, 1, n, f), n);
		cr_assert_eq(rtp_parse(pkt, n, &h), RTP_OK, "packet %d", packets);
		cr_expect_eq(h.pt, 96);
		for (size_t l = 0; l <= n; l++) {
			enum rtp_err e = parse_exact(pkt, l, &h);

			cr_assert(e == RTP_OK || l < RTP_HDR_LEN, "prefix %zu of packet %d: %s", l,
				  packets, rtp_err_name(e));
			if (e == RTP_OK)
				cr_assert_eq((size_t)h.payload_off + h.payload_len + h.pad_len, l);
		}
		packets++;
	}
	fclose(f);
	cr_assert_eq(packets, 84);
}

Test(rtp, err_names)
{
	for (int i = 0; i < RTP_ERR__COUNT; i++) {
		cr_assert_not_null(rtp_err_name((enum rtp_err)i));
		for (int j = 0; j < i; j++)
			cr_expect_str_neq(rtp_err_name((enum rtp_err)i), rtp_err_name((enum rtp_err)j));
	}
	cr_expect_str_eq(rtp_err_name(RTP_ERR__COUNT), "rtp_unknown");
	cr_expect_str_eq(rtp_err_name((enum rtp_err)-1), "rtp_unknown");
}

Test(rtp, rtcp_demux)
{
	static const uint8_t sr[] = { 0x80, 200 }, rr[] = { 0x81, 201 }, xr[] = { 0x80, 207 };
	static const uint8_t hi[] = { 0x80, 223 }, lo[] = { 0x80, 191 }, above[] = { 0x80, 224 };
	static const uint8_t v1[] = { 0x40, 200 }, rtp[] = { 0x80, 96 };

	cr_expect(rtp_is_rtcp(sr, 2));
	cr_expect(rtp_is_rtcp(rr, 2));
	cr_expect(rtp_is_rtcp(xr, 2));
	cr_expect(rtp_is_rtcp(hi, 2));
	cr_expect_not(rtp_is_rtcp(lo, 2));
	cr_expect_not(rtp_is_rtcp(above, 2));
	cr_expect_not(rtp_is_rtcp(v1, 2));
	cr_expect_not(rtp_is_rtcp(rtp, 2));
	cr_expect_not(rtp_is_rtcp(sr, 1));
	cr_expect_not(rtp_is_rtcp(sr, 0));
}
