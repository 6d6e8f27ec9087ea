/*
 * test_keyframe: keyframe_detect() on the hand-made payload table in
 * tests/data/rtp/keyframe_cases.txt, and on real RTP recorded from ffmpeg
 * (x264 / x265, GOP 25, no B-frames, 75 frames; see tests/data/rtp/README.md):
 * the ground truth is the encoder's GOP (frames 0, 25, 50 are the IDR/IRAP
 * pictures, confirmed with ffprobe when the samples were made), not the
 * detector. Every keyframe has exactly one start packet and its access unit
 * begins with a detected packet; no packet of another frame is a start or
 * a parameter set; no FU continuation fragment is a start.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyframe.h"
#include "rtp.h"
#include "testdata.h"

#define DATA SP_TEST_DATA "/rtp/"
#define MAX_PKTS 128
#define MAX_PKT 1600
#define FRAMES 75
#define TICKS_PER_FRAME 3600u /* 90 kHz / 25 fps */



/* Detect on an exact-size heap copy so any over-read is an ASan report. */
static enum keyframe_kind detect_exact(enum keyframe_codec c, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum keyframe_kind k;

	cr_assert_not_null(copy);
	if (n)
		memcpy(copy, p, n);
	k = keyframe_detect(c, copy, n);
	free(copy);
	return k;
}

Test(keyframe, table)
{
	FILE *f = fopen(DATA "keyframe_cases.txt", "r");
	char line[1024];
	int lineno = 0, cases = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char name[64], codec[16], expect[32];
		uint8_t buf[256];
		int consumed = 0;
		long n;
		enum keyframe_codec c;
		enum keyframe_kind k;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_eq(sscanf(line, "%63s %15s %31s %n", name, codec, expect, &consumed), 3,
			     "line %d", lineno);
		cr_assert(!strcmp(codec, "h264") || !strcmp(codec, "h265"), "line %d", lineno);
		c = strcmp(codec, "h264") ? KEYFRAME_H265 : KEYFRAME_H264;
		n = decode_hex(line + consumed, buf, sizeof(buf));
		cr_assert_geq(n, 0, "line %d: bad hex", lineno);
		k = detect_exact(c, buf, (size_t)n);
		cr_expect_str_eq(keyframe_kind_name(k), expect, "%s (line %d): got %s", name, lineno,
				 keyframe_kind_name(k));
		/* Every prefix is safe and never more than the whole says. */
		for (long l = 0; l < n; l++) {
			enum keyframe_kind kp = detect_exact(c, buf, (size_t)l);

			cr_expect(kp == KEYFRAME_NONE || kp == k || kp == KEYFRAME_PARAMS,
				  "%s prefix %ld: %s", name, l, keyframe_kind_name(kp));
		}
		cases++;
	}
	fclose(f);
	cr_assert_geq(cases, 80, "only %d cases", cases);
}

Test(keyframe, bad_arguments)
{
	static const uint8_t idr[] = { 0x65, 0x88 };

	cr_expect_eq(keyframe_detect(KEYFRAME_H264, NULL, 0), KEYFRAME_NONE);
	cr_expect_eq(keyframe_detect((enum keyframe_codec)0, idr, sizeof(idr)), KEYFRAME_NONE);
	cr_expect_eq(keyframe_detect(KEYFRAME_H264, idr, sizeof(idr)), KEYFRAME_START);
	cr_expect_str_eq(keyframe_kind_name(KEYFRAME__COUNT), "unknown");
}

struct sample {
	const char *file;
	enum keyframe_codec codec;
	int packets;
	int min_fu_continuations; /* how many non-start fragments the capture holds */
};

/* Captured from ffmpeg, see tests/data/rtp/README.md. */
static const struct sample samples[] = {
	{ "h264_fua.rtp", KEYFRAME_H264, 84, 6 },   /* STAP-A params + FU-A IDR */
	{ "h264_mode0.rtp", KEYFRAME_H264, 90, 0 }, /* single NAL, multi-slice IDR */
	{ "h264_small.rtp", KEYFRAME_H264, 75, 0 }, /* STAP-A with SPS+PPS+IDR */
	{ "h265.rtp", KEYFRAME_H265, 87, 6 },       /* AP params + FU SEI + FU IDR/CRA */
	{ "h265_small.rtp", KEYFRAME_H265, 75, 0 }, /* AP with VPS+SPS+PPS+IRAP */
};

static const int key_frames[] = { 0, 25, 50 };

static bool is_key_frame(int frame)
{
	for (size_t i = 0; i < sizeof(key_frames) / sizeof(key_frames[0]); i++)
		if (key_frames[i] == frame)
			return true;
	return false;
}

/* A fragment without the S bit, read straight from the bytes. */
static bool is_fu_continuation(enum keyframe_codec c, const uint8_t *p, size_t n)
{
	if (c == KEYFRAME_H264)
		return n >= 2 && (p[0] & 0x1f) == 28 && !(p[1] & 0x80);
	return n >= 3 && ((p[0] >> 1) & 0x3f) == 49 && !(p[2] & 0x80);
}

static uint8_t pkts[MAX_PKTS][MAX_PKT];
static size_t pkt_len[MAX_PKTS];

static int load(const char *file)
{
	char path[512];
	FILE *f;
	uint8_t hdr[2];
	int n = 0;

	snprintf(path, sizeof(path), DATA "%s", file);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	while (fread(hdr, 1, 2, f) == 2) {
		size_t l = (size_t)hdr[0] << 8 | hdr[1];

		cr_assert_lt(n, MAX_PKTS);
		cr_assert_leq(l, MAX_PKT);
		cr_assert_eq(fread(pkts[n], 1, l, f), l);
		pkt_len[n++] = l;
	}
	fclose(f);
	return n;
}

Test(keyframe, recorded_samples)
{
	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		const struct sample *sm = &samples[s];
		int n = load(sm->file), starts[FRAMES] = { 0 }, first_pkt[FRAMES], continuations = 0;
		uint32_t ts0 = 0;

		cr_assert_eq(n, sm->packets, "%s: %d packets", sm->file, n);
		for (int fr = 0; fr < FRAMES; fr++)
			first_pkt[fr] = -1;

		for (int i = 0; i < n; i++) {
			struct rtp_hdr h;
			const uint8_t *pl;
			enum keyframe_kind k;
			uint32_t dts;
			int fr;

			cr_assert_eq(rtp_parse(pkts[i], pkt_len[i], &h), RTP_OK, "%s #%d", sm->file, i);
			if (i == 0)
				ts0 = h.ts;
			dts = h.ts - ts0;
			cr_assert_eq(dts % TICKS_PER_FRAME, 0, "%s #%d", sm->file, i);
			fr = (int)(dts / TICKS_PER_FRAME);
			cr_assert_lt(fr, FRAMES, "%s #%d", sm->file, i);
			if (first_pkt[fr] < 0)
				first_pkt[fr] = i;

			pl = pkts[i] + h.payload_off;
			k = detect_exact(sm->codec, pl, h.payload_len);
			if (k == KEYFRAME_START)
				starts[fr]++;
			if (!is_key_frame(fr))
				cr_expect_eq(k, KEYFRAME_NONE, "%s #%d (frame %d, not a keyframe): %s",
					     sm->file, i, fr, keyframe_kind_name(k));
			if (is_fu_continuation(sm->codec, pl, h.payload_len)) {
				continuations++;
				cr_expect_eq(k, KEYFRAME_NONE, "%s #%d: continuation fragment", sm->file, i);
			}
			/* Before its start packet, a keyframe's access unit holds only
			 * parameter sets and non-slice units (SEI). */
			if (is_key_frame(fr) && starts[fr] == 0)
				cr_expect(k != KEYFRAME_NONE || i != first_pkt[fr],
					  "%s #%d: first packet of keyframe %d not detected", sm->file, i, fr);
		}
		for (int fr = 0; fr < FRAMES; fr++) {
			cr_expect_geq(first_pkt[fr], 0, "%s: frame %d missing", sm->file, fr);
			cr_expect_eq(starts[fr], is_key_frame(fr) ? 1 : 0, "%s: frame %d has %d starts",
				     sm->file, fr, starts[fr]);
		}
		cr_expect_geq(continuations, sm->min_fu_continuations, "%s: %d continuations", sm->file,
			      continuations);
	}
}
