/*
 * test_rtp_traffic: the synthetic cameras and the checker of `spbench rtp`
 * (benchmarks/rtp_traffic.c). The checker is the judge of every forwarding
 * benchmark and integration test, so it is tested against known streams:
 * layout tables, stamp round trips, every truncation, hostile datagrams,
 * and real loopback traffic with injected loss, duplicates, reordering,
 * misrouting and corruption.
 *
 * The module lives in benchmarks/ and is not part of sp_common, so it is
 * compiled into this test directly.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../benchmarks/rtp_traffic.c"
#include "keyframe.h"

static struct rtpt_stream_cfg small_stream(void)
{
	struct rtpt_stream_cfg s;

	rtpt_stream_default(&s);
	s.pkt_size = 200;
	s.ppf = 3;
	s.key_pkts = 5;
	s.gop = 3;
	return s;
}

/* ------------------------------------------------------------ layout */

struct layout_row {
	uint64_t seq;
	uint8_t nal;
	bool fu, s, e, marker, key;
	uint32_t len;
	uint64_t frame;
};

Test(rtp_traffic, layout_table)
{
	struct rtpt_stream_cfg s = small_stream();
	/* GOP = keyframe (SPS, PPS, FU-A S, FU-A, FU-A E) + 2 frames of 3 FU-A. */
	static const struct layout_row rows[] = {
		{ 0, 7, false, false, false, false, true, RTPT_PARAM_SET_LEN, 0 },
		{ 1, 8, false, false, false, false, false, RTPT_PARAM_SET_LEN, 0 },
		{ 2, 5, true, true, false, false, false, 200, 0 },
		{ 3, 5, true, false, false, false, false, 200, 0 },
		{ 4, 5, true, false, true, true, false, 200, 0 },
		{ 5, 1, true, true, false, false, false, 200, 1 },
		{ 6, 1, true, false, false, false, false, 200, 1 },
		{ 7, 1, true, false, true, true, false, 200, 1 },
		{ 8, 1, true, true, false, false, false, 200, 2 },
		{ 10, 1, true, false, true, true, false, 200, 2 },
		{ 11, 7, false, false, false, false, true, RTPT_PARAM_SET_LEN, 3 },
		{ 13, 5, true, true, false, false, false, 200, 3 },
		{ 22, 7, false, false, false, false, true, RTPT_PARAM_SET_LEN, 6 },
	};

	cr_assert_eq(rtpt_stream_check(&s), 0);
	cr_assert_eq(rtpt_pkts_per_gop(&s), 11);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rtpt_pkt_info in;
		rtpt_pkt_layout(&s, rows[i].seq, &in);
		cr_expect_eq(in.nal_type, rows[i].nal, "seq %llu nal", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.fu, rows[i].fu, "seq %llu fu", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.fu_start, rows[i].s, "seq %llu S", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.fu_end, rows[i].e, "seq %llu E", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.marker, rows[i].marker, "seq %llu M", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.key_start, rows[i].key, "seq %llu key", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.len, rows[i].len, "seq %llu len", (unsigned long long)rows[i].seq);
		cr_expect_eq(in.frame, rows[i].frame, "seq %llu frame", (unsigned long long)rows[i].seq);
	}
}

Test(rtp_traffic, layout_single_nal_frames)
{
	struct rtpt_stream_cfg s = small_stream();
	struct rtpt_pkt_info in;

	s.ppf = 1;
	s.key_pkts = 4;
	s.gop = 25;
	cr_assert_eq(rtpt_pkts_per_gop(&s), 28);
	rtpt_pkt_layout(&s, 4, &in);
	cr_expect(!in.fu && in.nal_type == 1 && in.marker && in.frame == 1);
	rtpt_pkt_layout(&s, 27, &in);
	cr_expect(!in.fu && in.nal_type == 1 && in.marker && in.frame == 24);
	rtpt_pkt_layout(&s, 28, &in);
	cr_expect(in.key_start && in.nal_type == 7 && in.frame == 25);
}

Test(rtp_traffic, stream_check_rejects)
{
	struct rtpt_stream_cfg s = small_stream(), b;

	b = s, b.pkt_size = RTPT_MIN_PKT - 1;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.pkt_size = RTPT_MAX_PKT + 1;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.key_pkts = 3;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.ppf = 0;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.gop = 0;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.pt = 95;
	cr_expect_eq(rtpt_stream_check(&b), -EINVAL);
	b = s, b.pkt_size = RTPT_MIN_PKT;
	cr_expect_eq(rtpt_stream_check(&b), 0);
}

/* ------------------------------------------------------------ packets */

Test(rtp_traffic, build_parse_verify_roundtrip)
{
	struct rtpt_stream_cfg s = small_stream();
	uint8_t buf[RTPT_MAX_PKT];

	for (uint64_t seq = 0; seq < 30; seq++) {
		struct rtpt_pkt_info in;
		struct rtpt_stamp st;
		uint32_t len = rtpt_build(&s, 7, 3, seq, (uint16_t)(65530 + seq), 1234, buf);

		rtpt_pkt_layout(&s, seq, &in);
		cr_assert_eq(len, in.len);
		rtpt_set_send_ns(buf, 987654321ull + seq);
		cr_assert_eq(rtpt_parse(buf, len, &st), RTPT_OK);
		cr_expect_eq(st.cam, 7);
		cr_expect_eq(st.epoch, 3);
		cr_expect_eq(st.seq, seq);
		cr_expect_eq(st.send_ns, 987654321ull + seq);
		cr_expect_eq(st.ssrc, s.ssrc_base + 7);
		cr_expect_eq(st.rtp_seq, (uint16_t)(65530 + seq));
		cr_expect_eq(st.payload_off, RTPT_RTP_HDR);
		cr_expect(rtpt_verify(&s, buf, len, &st), "seq %llu", (unsigned long long)seq);
		/* RFC 6184 bytes a forwarder's keyframe detection looks at. */
		if (in.fu) {
			cr_expect_eq(buf[12] & 0x1f, 28);
			cr_expect_eq(buf[13] & 0x1f, in.nal_type);
			cr_expect_eq(!!(buf[13] & 0x80), in.fu_start);
			cr_expect_eq(!!(buf[13] & 0x40), in.fu_end);
		} else {
			cr_expect_eq(buf[12] & 0x1f, in.nal_type);
		}
		/* spdp's own detector must see each keyframe start, and only that. */
		bool kf_start = in.nal_type == 5 && (!in.fu || in.fu_start);
		cr_expect_eq(keyframe_detect(KEYFRAME_H264, buf + RTPT_RTP_HDR, len - RTPT_RTP_HDR) ==
				     KEYFRAME_START,
			     kf_start, "seq %llu", (unsigned long long)seq);
		cr_expect_eq(!!(buf[1] & 0x80), in.marker);
		cr_expect_eq(buf[1] & 0x7f, s.pt);
	}
}

Test(rtp_traffic, verify_catches_damage)
{
	struct rtpt_stream_cfg s = small_stream();
	uint8_t buf[RTPT_MAX_PKT], bad[RTPT_MAX_PKT];
	struct rtpt_stamp st;
	uint32_t len = rtpt_build(&s, 1, 1, 5, 0, 0, buf); /* FU-A start of a type 1 frame */

	cr_assert_eq(rtpt_parse(buf, len, &st), RTPT_OK);
	cr_assert(rtpt_verify(&s, buf, len, &st));
	/* Length one short and one long (the tail moves). */
	cr_expect(!rtpt_verify(&s, buf, len - 1, &st));
	memcpy(bad, buf, len);
	bad[len] = 0;
	cr_expect(!rtpt_verify(&s, bad, len + 1, &st));
	/* Every byte of the check word. */
	for (uint32_t i = len - RTPT_TAIL_LEN; i < len; i++) {
		memcpy(bad, buf, len);
		bad[i] ^= 0x01;
		cr_expect(!rtpt_verify(&s, bad, len, &st), "tail byte %u", i);
	}
	/* FU header, FU indicator, marker bit. */
	memcpy(bad, buf, len);
	bad[13] ^= 0x80;
	cr_expect(!rtpt_verify(&s, bad, len, &st));
	memcpy(bad, buf, len);
	bad[12] = (uint8_t)((bad[12] & 0xe0) | 24);
	cr_expect(!rtpt_verify(&s, bad, len, &st));
	memcpy(bad, buf, len);
	bad[1] ^= 0x80;
	cr_expect(!rtpt_verify(&s, bad, len, &st));
	/* A stamp claiming another sequence than the packet's own. */
	st.seq = 6;
	cr_expect(!rtpt_verify(&s, buf, len, &st));
}

Test(rtp_traffic, parse_every_truncation)
{
	struct rtpt_stream_cfg s = small_stream();
	uint8_t buf[RTPT_MAX_PKT];
	uint32_t len = rtpt_build(&s, 2, 9, 3, 1, 1, buf);

	for (uint32_t l = 0; l < len; l++) {
		/* An exact-size heap copy so ASan sees any over-read. */
		uint8_t *p = malloc(l ? l : 1);
		struct rtpt_stamp st;
		enum rtpt_parse_status r;

		memcpy(p, buf, l);
		r = rtpt_parse(p, l, &st);
		if (l < RTPT_MIN_PKT)
			cr_expect_eq(r, RTPT_SHORT, "len %u", l);
		else
			cr_expect(r == RTPT_OK && !rtpt_verify(&s, p, l, &st), "len %u", l);
		free(p);
	}
}

Test(rtp_traffic, parse_csrc_extension_and_hostile)
{
	struct rtpt_stream_cfg s = small_stream();
	uint8_t buf[RTPT_MAX_PKT], x[RTPT_MAX_PKT + 64];
	struct rtpt_stamp st;
	uint32_t len = rtpt_build(&s, 4, 1, 2, 7, 9, buf);
	uint32_t add = 8 + 8; /* 2 CSRCs, extension header + 1 word */

	/* Insert 2 CSRCs and a one-word extension between header and payload. */
	memcpy(x, buf, 12);
	x[0] = (uint8_t)(0x80 | 0x10 | 2);
	memset(x + 12, 0xcc, 8);
	x[20] = 0xbe, x[21] = 0xde, x[22] = 0, x[23] = 1;
	memset(x + 24, 0, 4);
	memcpy(x + 12 + add, buf + 12, len - 12);
	cr_assert_eq(rtpt_parse(x, len + add, &st), RTPT_OK);
	cr_expect_eq(st.payload_off, 12 + add);
	cr_expect(rtpt_verify(&s, x, len + add, &st));
	/* Extension length pointing far past the end. */
	x[22] = 0xff, x[23] = 0xff;
	cr_expect_eq(rtpt_parse(x, len + add, &st), RTPT_SHORT);
	/* Version 0/1/3, RTCP on a muxed port, no magic. */
	memcpy(x, buf, len);
	x[0] = 0x40;
	cr_expect_eq(rtpt_parse(x, len, &st), RTPT_NOT_RTP);
	x[0] = 0x80, x[1] = 201;
	cr_expect_eq(rtpt_parse(x, 8, &st), RTPT_RTCP);
	memcpy(x, buf, len);
	x[14] ^= 0xff;
	cr_expect_eq(rtpt_parse(x, len, &st), RTPT_NO_STAMP);
	cr_expect_eq(rtpt_parse(x, 1, &st), RTPT_SHORT);
	cr_expect_eq(rtpt_parse(x, 0, &st), RTPT_SHORT);
}

/* ------------------------------------------------------------ histogram */

Test(rtp_traffic, histogram_quantiles)
{
	static struct rtpt_hist h, h2;
	uint64_t p50, p99;

	rtpt_hist_reset(&h);
	cr_expect_eq(rtpt_hist_quantile(&h, 0.5), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		rtpt_hist_add(&h, v * 1000); /* 1 us .. 1 ms */
	p50 = rtpt_hist_quantile(&h, 0.50);
	p99 = rtpt_hist_quantile(&h, 0.99);
	cr_expect(p50 > 500000 * 0.96 && p50 < 501000 * 1.04, "p50 %llu", (unsigned long long)p50);
	cr_expect(p99 > 990000 * 0.96 && p99 < 991000 * 1.04, "p99 %llu", (unsigned long long)p99);
	cr_expect_eq(rtpt_hist_quantile(&h, 1.0), 1000000);
	cr_expect_eq(rtpt_hist_quantile(&h, 0.0), 1000);
	cr_expect_eq(h.n, 1000);
	/* Small values are exact; huge ones do not overflow the buckets. */
	rtpt_hist_reset(&h2);
	rtpt_hist_add(&h2, 0);
	rtpt_hist_add(&h2, 63);
	rtpt_hist_add(&h2, UINT64_MAX);
	cr_expect_eq(rtpt_hist_quantile(&h2, 0.0), 0);
	cr_expect_eq(rtpt_hist_quantile(&h2, 0.5), 63);
	cr_expect_eq(rtpt_hist_quantile(&h2, 1.0), UINT64_MAX);
	rtpt_hist_merge(&h, &h2);
	cr_expect_eq(h.n, 1003);
	cr_expect_eq(h.max, UINT64_MAX);
	cr_expect_eq(h.min, 0);
}

/* ------------------------------------------------------------ addresses */

Test(rtp_traffic, addresses)
{
	static const uint32_t idx[] = { 0, 1, 253, 254, 255, 64515, 64516, 65023, 65024, 1000000,
					RTPT_MAX_ADDRS - 1 };

	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		uint32_t ip = rtpt_sub_ip(idx[i]), cip = rtpt_camera_ip(idx[i] / 2);
		cr_expect_eq(rtpt_sub_index(ip), (int64_t)idx[i], "sub %u", idx[i]);
		cr_expect_eq(ip >> 24, 127);
		cr_expect((ip & 255) != 0 && (ip & 255) != 255, "sub %u", idx[i]);
		cr_expect((cip & 255) != 0 && (cip & 255) != 255, "cam %u", idx[i] / 2);
		cr_expect_eq(rtpt_sub_index(cip), -1, "camera address taken for a subscriber");
	}
	cr_expect_eq(rtpt_sub_index(0x7f000001), -1);
	cr_expect_eq(rtpt_sub_index(0x0a000001), -1);
	cr_expect_eq(rtpt_sub_index(0x7f400000), -1); /* .0 */
	cr_expect_eq(rtpt_sub_index(0x7f4000ff), -1); /* .255 */
}

/* ------------------------------------------------------------ loopback */

/* Poll until `want` distinct packets arrived or the socket stayed empty
 * for ~200 ms, then take whatever else is queued (duplicates, strays). */
static void drain(rtpt_receiver *rx, uint64_t want)
{
	for (int idle = 0; idle < 20 && rtpt_receiver_received(rx) < want;) {
		int n = rtpt_receiver_poll(rx, 10);
		cr_assert_geq(n, 0);
		idle = n > 0 ? 0 : idle + 1;
	}
	while (rtpt_receiver_poll(rx, 20) > 0)
		;
}

static rtpt_receiver *make_rx(const struct rtpt_stream_cfg *s, uint32_t cams, uint32_t m)
{
	struct rtpt_receiver_cfg rc = { .stream = *s, .cameras = cams, .subs_per_cam = m,
					.rcvbuf = 4 << 20, .batch = 16 };
	rtpt_receiver *rx = rtpt_receiver_create(&rc);

	cr_assert_not_null(rx, "receiver: %s", strerror(errno));
	return rx;
}

Test(rtp_traffic, direct_send_is_clean)
{
	struct rtpt_stream_cfg s = small_stream();
	struct rtpt_sender_cfg sc = { .stream = s, .cameras = 3, .copies = 2, .batch = 5,
				      .camera_sources = true };
	rtpt_receiver *rx = make_rx(&s, 3, 2);
	rtpt_sender *tx = rtpt_sender_create(&sc);
	struct rtpt_rx_report r;
	uint64_t sent[3];

	cr_assert_not_null(tx);
	for (uint32_t c = 0; c < 3; c++)
		for (uint32_t j = 0; j < 2; j++) {
			struct sockaddr_in a;
			rtpt_receiver_sub_addr(rx, c, j, &a);
			cr_assert_eq(rtpt_sender_set_dest(tx, c, j, &a), 0);
		}
	cr_expect_eq(rtpt_sender_set_dest(tx, 3, 0, &(struct sockaddr_in){ .sin_family = AF_INET }), -EINVAL);
	rtpt_sender_begin(tx, 1);
	rtpt_receiver_begin(rx, 1);
	/* 7 packets per camera: more copies than fit one batch of 5. */
	for (uint32_t c = 0; c < 3; c++)
		cr_assert_eq(rtpt_sender_send(tx, c, 7), 0);
	for (uint32_t c = 0; c < 3; c++)
		sent[c] = rtpt_sender_sent(tx, c);
	cr_expect_eq(sent[0], 7);
	drain(rx, 42);
	rtpt_receiver_report(rx, sent, &r);
	cr_expect_eq(r.expected, 42);
	cr_expect_eq(r.received, 42);
	cr_expect_eq(r.lost + r.dups + r.late + r.misrouted + r.corrupt + r.unknown_dst + r.stale, 0);
	cr_expect_eq(r.subs_first_not_key, 0);
	/* Every packet timed; a kernel stamp before the sender's own clock
	 * read (two clocks, a loaded machine) counts as negative, not lost. */
	cr_expect_eq(r.lat_n + r.lat_negative, 42);
	cr_expect(r.kernel_timestamps);
	for (uint32_t c = 0; c < 3; c++)
		for (uint32_t j = 0; j < 2; j++) {
			struct rtpt_sub_report sr;
			cr_assert_eq(rtpt_receiver_sub(rx, c, j, &sr), 0);
			cr_expect(sr.any && sr.first_key && sr.first_seq == 0 && sr.last_seq == 6 &&
				  sr.received == 7);
		}

	/* A paced run in a new epoch: stragglers of the old one would be stale. */
	struct rtpt_run run = { .rate_pps = 3000, .duration_ns = 100000000 };
	struct rtpt_send_report srep;
	rtpt_sender_begin(tx, 2);
	rtpt_receiver_begin(rx, 2);
	cr_assert_eq(rtpt_sender_run(tx, &run, &srep), 0);
	cr_expect_eq(srep.packets, 300);
	cr_expect_eq(srep.datagrams, 600);
	cr_expect_eq(srep.errors, 0);
	for (uint32_t c = 0; c < 3; c++)
		sent[c] = rtpt_sender_sent(tx, c);
	cr_expect_eq(sent[0] + sent[1] + sent[2], 300);
	drain(rx, 600);
	rtpt_receiver_report(rx, sent, &r);
	cr_expect_eq(r.received, 600);
	cr_expect_eq(r.lost + r.dups + r.misrouted + r.corrupt, 0);
	rtpt_sender_destroy(tx);
	rtpt_receiver_destroy(rx);
}

/* Send one crafted datagram from 127.0.0.1 to a subscriber's address. */
static void inject(int fd, const struct sockaddr_in *to, const void *p, size_t len)
{
	cr_assert_eq(sendto(fd, p, len, 0, (const struct sockaddr *)to, sizeof(*to)), (ssize_t)len);
}

Test(rtp_traffic, checker_counts_anomalies)
{
	struct rtpt_stream_cfg s = small_stream();
	rtpt_receiver *rx = make_rx(&s, 2, 1);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sub0, sub1, other;
	struct rtpt_rx_report r;
	struct rtpt_sub_report sr;
	uint8_t b[RTPT_MAX_PKT];
	uint64_t sent[2] = { 8, 0 };
	uint32_t len;
	/* Camera 0 to its subscriber: 1 twice, 2 late, 4 and 7 never. */
	static const uint64_t order[] = { 0, 1, 1, 3, 2, 5, 6 };

	cr_assert_geq(fd, 0);
	rtpt_receiver_sub_addr(rx, 0, 0, &sub0);
	rtpt_receiver_sub_addr(rx, 1, 0, &sub1);
	rtpt_receiver_begin(rx, 5);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		len = rtpt_build(&s, 0, 5, order[i], (uint16_t)order[i], 0, b);
		rtpt_set_send_ns(b, clock_mono_ns());
		inject(fd, &sub0, b, len);
	}
	/* Camera 0's packet at camera 1's subscriber. */
	len = rtpt_build(&s, 0, 5, 3, 3, 0, b);
	inject(fd, &sub1, b, len);
	/* A damaged check word, another epoch, an unknown camera. */
	len = rtpt_build(&s, 0, 5, 3, 3, 0, b);
	b[len - 1] ^= 1;
	inject(fd, &sub0, b, len);
	len = rtpt_build(&s, 0, 4, 3, 3, 0, b);
	inject(fd, &sub0, b, len);
	len = rtpt_build(&s, 9, 5, 3, 3, 0, b);
	inject(fd, &sub0, b, len);
	/* Sent to the right port but no subscriber address; RTCP; garbage. */
	other = sub0;
	other.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = rtpt_build(&s, 0, 5, 3, 3, 0, b);
	inject(fd, &other, b, len);
	inject(fd, &sub0, "\x80\xc9\x00\x01\x01\x02\x03\x04", 8);
	inject(fd, &sub0, "hello", 5);
	drain(rx, 1000); /* returns when the socket stays empty */

	rtpt_receiver_report(rx, sent, &r);
	cr_expect_eq(r.expected, 8);
	cr_expect_eq(r.received, 6);
	cr_expect_eq(r.lost, 2);
	cr_expect_eq(r.dups, 1);
	cr_expect_eq(r.late, 1);
	cr_expect_eq(r.misrouted, 1);
	cr_expect_eq(r.corrupt, 2);
	cr_expect_eq(r.stale, 1);
	cr_expect_eq(r.unknown_dst, 1);
	cr_expect_eq(r.rtcp, 1);
	cr_expect_eq(r.foreign, 1);
	cr_expect_eq(r.subs_lossy, 1);
	cr_assert_eq(rtpt_receiver_sub(rx, 0, 0, &sr), 0);
	cr_expect(sr.first_key && sr.first_seq == 0 && sr.last_seq == 6);
	cr_assert_eq(rtpt_receiver_sub(rx, 1, 0, &sr), 0);
	cr_expect(!sr.any);
	cr_expect_eq(rtpt_receiver_sub(rx, 2, 0, &sr), -EINVAL);
	close(fd);
	rtpt_receiver_destroy(rx);
}

Test(rtp_traffic, late_joiner_and_window)
{
	struct rtpt_stream_cfg s = small_stream();
	rtpt_receiver *rx = make_rx(&s, 1, 1);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sub;
	struct rtpt_sub_report sr;
	uint8_t b[RTPT_MAX_PKT];
	uint32_t len;

	rtpt_receiver_sub_addr(rx, 0, 0, &sub);
	rtpt_receiver_begin(rx, 1);
	/* Joins mid-GOP (seq 5 is no keyframe), then a jump far beyond the
	 * window, then a packet older than the window (cannot be checked). */
	static const uint64_t order[] = { 5, 6, 5000, 5001, 10 };
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		len = rtpt_build(&s, 0, 1, order[i], 0, 0, b);
		inject(fd, &sub, b, len);
	}
	drain(rx, 5);
	cr_assert_eq(rtpt_receiver_sub(rx, 0, 0, &sr), 0);
	cr_expect(!sr.first_key);
	cr_expect_eq(sr.first_seq, 5);
	cr_expect_eq(sr.received, 5);
	cr_expect_eq(sr.too_old, 1);
	cr_expect_eq(sr.late, 1);
	cr_expect_eq(sr.dups, 0);
	close(fd);
	rtpt_receiver_destroy(rx);
}

Test(rtp_traffic, receiver_reports_come_from_subscribers)
{
	struct rtpt_stream_cfg s = small_stream();
	rtpt_receiver *rx = make_rx(&s, 2, 3);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	bool seen[6] = { false };
	int got = 0;

	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	cr_expect_eq(rtpt_receiver_send_rr(rx), 0, "no destination yet: nothing sent");
	cr_assert_eq(rtpt_receiver_set_rtcp_dest(rx, 1, &a), 0);
	cr_expect_eq(rtpt_receiver_send_rr(rx), 3);
	cr_assert_eq(rtpt_receiver_set_rtcp_dest(rx, 0, &a), 0);
	cr_expect_eq(rtpt_receiver_send_rr(rx), 6);
	for (int i = 0; i < 200 && got < 9; i++) {
		uint8_t b[64];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&p, 1, 10) <= 0)
			continue;
		while ((n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl)) > 0) {
			int64_t sub = rtpt_sub_index(ntohl(from.sin_addr.s_addr));
			cr_expect_eq(n, 8);
			cr_expect_eq(b[1], 201);
			cr_expect_eq(ntohs(from.sin_port), rtpt_receiver_port(rx));
			cr_assert(sub >= 0 && sub < 6, "RR from %08x", ntohl(from.sin_addr.s_addr));
			seen[sub] = true;
			got++;
			fl = sizeof(from);
		}
	}
	cr_expect_eq(got, 9);
	for (int i = 0; i < 6; i++)
		cr_expect(seen[i], "no RR from subscriber %d", i);
	close(fd);
	rtpt_receiver_destroy(rx);
}

Test(rtp_traffic, socket_drops_are_reported)
{
	struct rtpt_stream_cfg s = small_stream();
	struct rtpt_receiver_cfg rc = { .stream = s, .cameras = 1, .subs_per_cam = 1, .rcvbuf = 1,
					.batch = 8 };
	struct rtpt_sender_cfg sc = { .stream = s, .cameras = 1, .copies = 1, .batch = 64,
				      .camera_sources = true };
	rtpt_receiver *rx = rtpt_receiver_create(&rc);
	rtpt_sender *tx = rtpt_sender_create(&sc);
	struct sockaddr_in a;
	struct rtpt_rx_report r;
	uint64_t sent;

	cr_assert(rx && tx);
	rtpt_receiver_sub_addr(rx, 0, 0, &a);
	rtpt_sender_set_dest(tx, 0, 0, &a);
	rtpt_receiver_begin(rx, 1);
	rtpt_sender_begin(tx, 1);
	/* The smallest receive buffer holds a few datagrams; send 500 unread. */
	cr_assert_eq(rtpt_sender_send(tx, 0, 500), 0);
	sent = rtpt_sender_sent(tx, 0);
	drain(rx, 500);
	rtpt_receiver_report(rx, &sent, &r);
	cr_expect_gt(r.socket_drops, 0);
	cr_expect_eq(r.lost, r.socket_drops, "lost %llu drops %llu", (unsigned long long)r.lost,
		     (unsigned long long)r.socket_drops);
	cr_expect_eq(r.received + r.lost, 500);
	rtpt_sender_destroy(tx);
	rtpt_receiver_destroy(rx);
}

Test(rtp_traffic, create_rejects_bad_config)
{
	struct rtpt_stream_cfg s = small_stream();
	struct rtpt_receiver_cfg rc = { .stream = s, .cameras = 0, .subs_per_cam = 1, .batch = 8 };
	struct rtpt_sender_cfg sc = { .stream = s, .cameras = 1, .copies = 1, .batch = RTPT_MAX_BATCH + 1 };

	cr_expect_null(rtpt_receiver_create(&rc));
	cr_expect_eq(errno, EINVAL);
	rc.cameras = 1;
	rc.subs_per_cam = RTPT_MAX_ADDRS + 1;
	cr_expect_null(rtpt_receiver_create(&rc));
	cr_expect_null(rtpt_sender_create(&sc));
	sc.batch = 1;
	sc.copies = 0;
	cr_expect_null(rtpt_sender_create(&sc));
}

/* ------------------------------------------------------------ feedback */

Test(rtp_traffic, feedback_count_table)
{
	/* PLI (PSFB FMT 1, 12 bytes), FIR (PSFB FMT 4, 20), NACK (RTPFB FMT 1, 16), RR (8). */
	static const uint8_t pli[] = { 0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t compound[] = { 0x80, 201, 0, 1, 9, 9, 9, 9,                 /* RR */
					    0x81, 205, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 0, /* NACK */
					    0x84, 206, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 1, 0, 0, 0 };
	static const struct {
		const uint8_t *p;
		uint32_t len;
		struct rtpt_feedback want;
	} rows[] = {
		{ pli, sizeof(pli), { .pli = 1 } },
		{ pli, sizeof(pli) - 1, { 0 } },            /* truncated: counted as nothing */
		{ pli, 3, { .not_rtcp = 1 } },
		{ compound, sizeof(compound), { .other = 1, .nack = 1, .fir = 1 } },
		{ compound, 8 + 16, { .other = 1, .nack = 1 } }, /* the FIR cut off entirely */
		{ compound, 8 + 16 + 19, { .other = 1, .nack = 1 } },
		{ (const uint8_t *)"\x80\x60\x00\x01", 4, { .not_rtcp = 1 } }, /* RTP PT 96 */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rtpt_feedback fb = { 0 };
		uint8_t *copy = malloc(rows[i].len ? rows[i].len : 1);
		memcpy(copy, rows[i].p, rows[i].len);
		rtpt_feedback_count(copy, rows[i].len, &fb);
		free(copy);
		cr_expect(fb.pli == rows[i].want.pli && fb.fir == rows[i].want.fir &&
			  fb.nack == rows[i].want.nack && fb.other == rows[i].want.other &&
			  fb.not_rtcp == rows[i].want.not_rtcp, "row %zu", i);
	}
}

Test(rtp_traffic, feedback_reaches_the_right_camera)
{
	struct rtpt_stream_cfg s = small_stream();
	struct rtpt_sender_cfg sc = { .stream = s, .cameras = 300, .copies = 1, .batch = 8,
				      .camera_sources = true };
	rtpt_sender *tx = rtpt_sender_create(&sc);
	rtpt_receiver *rx = make_rx(&s, 300, 2);
	static const uint8_t pli[] = { 0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8 };
	static struct rtpt_feedback fb[300];
	struct sockaddr_in cam0, cam299;
	int got = 0;

	cr_assert_not_null(tx);
	cr_assert_eq(rtpt_sender_source(tx, 0, &cam0), 0);
	cr_assert_eq(rtpt_sender_source(tx, 299, &cam299), 0);
	cr_expect_neq(cam0.sin_addr.s_addr, cam299.sin_addr.s_addr);
	/* Viewers 1 of camera 0 and 0 of camera 299 ask for keyframes. */
	cr_assert_eq(rtpt_receiver_send_as(rx, 0, 1, &cam0, pli, sizeof(pli)), 0);
	cr_assert_eq(rtpt_receiver_send_as(rx, 299, 0, &cam299, pli, sizeof(pli)), 0);
	cr_assert_eq(rtpt_receiver_send_as(rx, 299, 0, &cam299, pli, sizeof(pli)), 0);
	cr_expect_eq(rtpt_receiver_send_as(rx, 300, 0, &cam299, pli, sizeof(pli)), -EINVAL);
	for (int i = 0; i < 200 && got < 3; i++) {
		int n = rtpt_sender_poll_feedback(tx, fb);
		cr_assert_geq(n, 0);
		got += n;
		if (!n)
			usleep(2000);
	}
	cr_expect_eq(got, 3);
	cr_expect_eq(fb[0].pli, 1);
	cr_expect_eq(fb[299].pli, 2);
	cr_expect_eq(fb[1].pli + fb[1].other + fb[1].not_rtcp, 0);
	rtpt_sender_destroy(tx);
	rtpt_receiver_destroy(rx);
}
