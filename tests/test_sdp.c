/*
 * test_sdp: the SDP parser, fmtp helpers, control URL resolution and the
 * proxy rewrite.
 *  - tests/data/sdp/: what cameras send (Hikvision-, Dahua-, Axis-like and
 *    gst-rtsp-server's own output; H.264, H.265, AAC, PCMA, ONVIF
 *    metadata), each checked field by field against a table;
 *  - a table of malformed and over-limit SDP and the error each gives;
 *  - control URLs: absolute, relative, "/path", "*";
 *  - the rewrite: a golden file, and for every sample: it parses back,
 *    every c= is 0.0.0.0, tracks are trackID=N, other lines are kept.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"

#define DATA SP_TEST_DATA "/sdp/"

static char *load(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), DATA "%s", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	char *b = malloc(SDP_MAX_TEXT + 1);
	*len = fread(b, 1, SDP_MAX_TEXT, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

static bool eq(struct sdp_str s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 || memcmp(s.p, lit, s.len) == 0);
}

/* ---- camera samples ---- */

struct want_media {
	enum sdp_media_type type;
	uint8_t pt;
	const char *enc;
	uint32_t clock;
	uint8_t channels;
	const char *control;
	enum sdp_dir dir;
	int sprops;      /* decoded Annex B length, or -ENOENT */
	uint8_t nal0;    /* first NAL header byte */
};

struct sample {
	const char *file;
	const char *control;
	const char *range;
	uint8_t n_media;
	struct want_media m[3];
	const char *base; /* Content-Base the camera would send */
	const char *url0; /* resolved SETUP URL of media 0 */
};

static const struct sample samples[] = {
	{ "hikvision_h264.sdp", "rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast",
	  "", 3,
	  { { SDP_MEDIA_VIDEO, 96, "H264", 90000, 0,
	      "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast",
	      SDP_DIR_RECVONLY, 4 + 16 + 4 + 4, 0x67 },
	    { SDP_MEDIA_AUDIO, 8, "PCMA", 8000, 0,
	      "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast",
	      SDP_DIR_RECVONLY, -ENOENT, 0 },
	    { SDP_MEDIA_APPLICATION, 107, "isapi.metadata", 90000, 0,
	      "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=3?transportmode=unicast",
	      SDP_DIR_RECVONLY, -ENOENT, 0 } },
	  "rtsp://192.168.1.64:554/Streaming/Channels/101/",
	  "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast" },
	{ "dahua_h265.sdp", "*", "npt=now-", 3,
	  { { SDP_MEDIA_VIDEO, 98, "H265", 90000, 0, "trackID=0", SDP_DIR_RECVONLY,
	      3 * 4 + 23 + 34 + 8, 0x40 },
	    { SDP_MEDIA_AUDIO, 97, "MPEG4-GENERIC", 16000, 1, "trackID=1", SDP_DIR_RECVONLY,
	      -ENOENT, 0 },
	    { SDP_MEDIA_APPLICATION, 107, "vnd.onvif.metadata", 90000, 0, "trackID=4",
	      SDP_DIR_RECVONLY, -ENOENT, 0 } },
	  "rtsp://10.1.1.5:554/cam/realmonitor?channel=1&subtype=0/",
	  "rtsp://10.1.1.5:554/cam/realmonitor?channel=1&subtype=0/trackID=0" },
	{ "axis_h264.sdp", "rtsp://192.168.0.90/axis-media/media.amp?videocodec=h264&audio=1",
	  "npt=now-", 3,
	  { { SDP_MEDIA_VIDEO, 96, "H264", 90000, 0,
	      "rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264&audio=1",
	      SDP_DIR_UNSET, 4 + 49 + 4 + 4, 0x67 },
	    { SDP_MEDIA_AUDIO, 97, "MPEG4-GENERIC", 16000, 1,
	      "rtsp://192.168.0.90/axis-media/media.amp/stream=1?videocodec=h264&audio=1",
	      SDP_DIR_UNSET, -ENOENT, 0 },
	    { SDP_MEDIA_APPLICATION, 98, "vnd.onvif.metadata", 90000, 0,
	      "rtsp://192.168.0.90/axis-media/media.amp/stream=2?videocodec=h264&audio=1",
	      SDP_DIR_UNSET, -ENOENT, 0 } },
	  "rtsp://192.168.0.90/axis-media/media.amp/",
	  "rtsp://192.168.0.90/axis-media/media.amp/stream=0?videocodec=h264&audio=1" },
	{ "gst_rtsp_server.sdp", "rtsp://127.0.0.1:8554/test", "npt=now-", 2,
	  { { SDP_MEDIA_VIDEO, 96, "H264", 90000, 0, "stream=0", SDP_DIR_UNSET, 4 + 25 + 4 + 6,
	      0x67 },
	    { SDP_MEDIA_AUDIO, 8, "PCMA", 8000, 0, "stream=1", SDP_DIR_UNSET, -ENOENT, 0 } },
	  "rtsp://127.0.0.1:8554/test/", "rtsp://127.0.0.1:8554/test/stream=0" },
};

Test(sdp, camera_samples)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *w = &samples[i];
		size_t len;
		char *text = load(w->file, &len);
		struct sdp s;
		enum sdp_err e = sdp_parse(text, len, &s);
		cr_assert_eq(e, SDP_OK, "%s: %s", w->file, sdp_err_name(e));
		cr_assert(eq(s.control, w->control), "%s: control %.*s", w->file, (int)s.control.len,
			  s.control.p);
		cr_assert(eq(s.range, w->range), "%s: range", w->file);
		cr_assert_eq(s.n_media, w->n_media, "%s", w->file);
		for (unsigned k = 0; k < s.n_media; k++) {
			const struct sdp_media *m = &s.media[k];
			const struct want_media *wm = &w->m[k];
			cr_assert_eq(m->type, wm->type, "%s m%u", w->file, k);
			cr_assert(m->rtp && m->n_fmts == 1 && m->fmts[0] == wm->pt, "%s m%u", w->file, k);
			const struct sdp_rtpmap *r = sdp_rtpmap_find(m, wm->pt);
			cr_assert_not_null(r, "%s m%u rtpmap", w->file, k);
			cr_assert(eq(r->encoding, wm->enc), "%s m%u enc", w->file, k);
			cr_assert_eq(r->clock, wm->clock);
			cr_assert_eq(r->channels, wm->channels);
			cr_assert(eq(m->control, wm->control), "%s m%u control", w->file, k);
			cr_assert_eq(m->dir, wm->dir, "%s m%u dir", w->file, k);
			uint8_t ps[512];
			bool h265 = eq(r->encoding, "H265");
			int n = h265 ? sdp_h265_sprops(m, wm->pt, ps, sizeof(ps))
				     : sdp_h264_sprops(m, wm->pt, ps, sizeof(ps));
			cr_assert_eq(n, wm->sprops, "%s m%u sprops %d", w->file, k, n);
			if (n > 0) {
				cr_assert_eq(memcmp(ps, "\0\0\0\1", 4), 0);
				cr_assert_eq(ps[4], wm->nal0);
				/* every capacity short of n is -ENOSPC */
				for (int cap = 0; cap < n; cap++)
					cr_assert_eq(h265 ? sdp_h265_sprops(m, wm->pt, ps, (size_t)cap)
							  : sdp_h264_sprops(m, wm->pt, ps, (size_t)cap),
						     -ENOSPC);
			}
		}
		char url[512];
		const struct sdp_str *c = &s.media[0].control;
		int n = sdp_control_url(w->base, strlen(w->base), c->p, c->len, url, sizeof(url));
		cr_assert_gt(n, 0);
		cr_assert_str_eq(url, w->url0, "%s", w->file);
		free(text);
	}
}

Test(sdp, details)
{
	size_t len;
	char *text = load("hikvision_h264.sdp", &len);
	struct sdp s;
	cr_assert_eq(sdp_parse(text, len, &s), SDP_OK);
	cr_assert(s.has_bw_as && s.bw_as == 5050);
	cr_assert(s.media[0].has_bw_as && s.media[0].bw_as == 5000);
	cr_assert(eq(s.media[0].conn, "0.0.0.0"));
	cr_assert(eq(s.name, "Media Presentation"));
	cr_assert(eq(s.origin, "- 1109162014219182 1109162014219192 IN IP4 x.y.z.w"));
	const struct sdp_fmtp *f = sdp_fmtp_find(&s.media[0], 96);
	cr_assert_not_null(f);
	struct sdp_str v;
	cr_assert_eq(sdp_fmtp_param(f->params, "packetization-mode", &v), 0);
	cr_assert(eq(v, "1"));
	cr_assert_eq(sdp_fmtp_param(f->params, "PROFILE-LEVEL-ID", &v), 0);
	cr_assert(eq(v, "420029"));
	cr_assert_eq(sdp_fmtp_param(f->params, "sprop-parameter-sets", &v), 0);
	cr_assert(eq(v, "Z00AKpY1QPAET8s3AQEBAg==,aO48gA=="), "base64 '=' kept in the value");
	cr_assert_eq(sdp_fmtp_param(f->params, "profile", &v), -ENOENT);
	cr_assert_null(sdp_fmtp_find(&s.media[0], 97));
	free(text);

	text = load("dahua_h265.sdp", &len);
	cr_assert_eq(sdp_parse(text, len, &s), SDP_OK);
	cr_assert(eq(s.conn, "0.0.0.0"));
	cr_assert(eq(s.media[0].framerate, "25.000000"));
	f = sdp_fmtp_find(&s.media[1], 97);
	cr_assert_eq(sdp_fmtp_param(f->params, "config", &v), 0);
	cr_assert(eq(v, "1408"));
	/* VPS, SPS, PPS in that order whatever the fmtp order */
	uint8_t ps[256];
	int n = sdp_h265_sprops(&s.media[0], 98, ps, sizeof(ps));
	cr_assert_eq(n, 3 * 4 + 23 + 34 + 8);
	cr_assert_eq(ps[4], 0x40);
	cr_assert_eq(ps[4 + 23 + 4], 0x42);
	cr_assert_eq(ps[4 + 23 + 4 + 34 + 4], 0x44);
	cr_assert_eq(sdp_h264_sprops(&s.media[0], 98, ps, sizeof(ps)), -ENOENT);
	free(text);
}

Test(sdp, sprops_bad_base64)
{
	static const char *const bad[] = {
		"v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=Z00A*,aO48gA==\n",
		"v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=Z,aO48gA==\n",
		"v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=,aO48gA==\n",
		"v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=aO48gA===\n",
		"v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=aO4=8gA=\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sdp s;
		uint8_t ps[64];
		cr_assert_eq(sdp_parse(bad[i], strlen(bad[i]), &s), SDP_OK);
		cr_assert_eq(sdp_h264_sprops(&s.media[0], 96, ps, sizeof(ps)), -EINVAL, "%zu", i);
	}
	/* unpadded is accepted (some cameras strip the '=') */
	static const char ok[] = "v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=aO48gA\n";
	struct sdp s;
	uint8_t ps[64];
	cr_assert_eq(sdp_parse(ok, strlen(ok), &s), SDP_OK);
	cr_assert_eq(sdp_h264_sprops(&s.media[0], 96, ps, sizeof(ps)), 8);
}

/* ---- malformed / over-limit ---- */

struct ecase {
	const char *name;
	const char *text;
	size_t len;
	enum sdp_err want;
};

#define T(s) s, sizeof(s) - 1

static const struct ecase ecases[] = {
	{ "minimal", T("v=0\r\n"), SDP_OK },
	{ "no_final_newline", T("v=0\r\ns=x"), SDP_OK },
	{ "blank_lines", T("\r\n\nv=0\r\n\r\ns=x\n\n"), SDP_OK },
	{ "unknown_letters_kept", T("v=0\nz=0 0\nk=clear:x\nq=what\n"), SDP_OK },
	{ "non_rtp_media", T("v=0\nm=application 9 TCP/BFCP *\na=rtpmap:zz junk\n"), SDP_OK },
	{ "port_count", T("v=0\nm=video 5000/2 RTP/AVP 96\n"), SDP_OK },
	{ "other_bandwidth", T("v=0\nb=CT:x\nb=TIAS:64000\n"), SDP_OK },
	{ "ip6_connection", T("v=0\nc=IN IP6 ::1\n"), SDP_OK },
	{ "multicast_connection", T("v=0\nc=IN IP4 224.2.1.1/127\n"), SDP_OK },
	{ "empty_fmtp_params", T("v=0\nm=video 0 RTP/AVP 96\na=fmtp:96\n"), SDP_OK },
	{ "empty", T(""), SDP_ERR_BAD_VERSION },
	{ "only_blank", T("\r\n\r\n"), SDP_ERR_BAD_VERSION },
	{ "origin_first", T("o=- 1 1 IN IP4 1.2.3.4\nv=0\n"), SDP_ERR_BAD_VERSION },
	{ "version_1", T("v=1\n"), SDP_ERR_BAD_VERSION },
	{ "nul", T("v=0\ns=a\0b\n"), SDP_ERR_BAD_CHAR },
	{ "bare_cr", T("v=0\ns=a\rb\n"), SDP_ERR_BAD_CHAR },
	{ "ctl", T("v=0\ns=a\x1b[31m\n"), SDP_ERR_BAD_CHAR },
	{ "no_equals", T("v=0\nxx\n"), SDP_ERR_BAD_LINE },
	{ "upper_letter", T("v=0\nA=b\n"), SDP_ERR_BAD_LINE },
	{ "leading_space", T("v=0\n s=x\n"), SDP_ERR_BAD_LINE },
	{ "m_no_port", T("v=0\nm=video\n"), SDP_ERR_BAD_MEDIA },
	{ "m_port_letters", T("v=0\nm=video x RTP/AVP 96\n"), SDP_ERR_BAD_MEDIA },
	{ "m_port_big", T("v=0\nm=video 70000 RTP/AVP 96\n"), SDP_ERR_BAD_MEDIA },
	{ "m_port_count_0", T("v=0\nm=video 0/0 RTP/AVP 96\n"), SDP_ERR_BAD_MEDIA },
	{ "m_no_fmt", T("v=0\nm=video 0 RTP/AVP\n"), SDP_ERR_BAD_MEDIA },
	{ "m_pt_128", T("v=0\nm=video 0 RTP/AVP 128\n"), SDP_ERR_BAD_MEDIA },
	{ "m_pt_letters", T("v=0\nm=video 0 RTP/AVP 9a\n"), SDP_ERR_BAD_MEDIA },
	{ "m_17_fmts", T("v=0\nm=audio 0 RTP/AVP 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"),
	  SDP_ERR_TOO_MANY_FMTS },
	{ "c_short", T("v=0\nc=IN IP4\n"), SDP_ERR_BAD_CONNECTION },
	{ "c_nettype", T("v=0\nc=XX IP4 1.2.3.4\n"), SDP_ERR_BAD_CONNECTION },
	{ "c_addrtype", T("v=0\nc=IN IPX 1.2.3.4\n"), SDP_ERR_BAD_CONNECTION },
	{ "c_extra", T("v=0\nc=IN IP4 1.2.3.4 x\n"), SDP_ERR_BAD_CONNECTION },
	{ "b_as_letters", T("v=0\nb=AS:fast\n"), SDP_ERR_BAD_BANDWIDTH },
	{ "b_as_overflow", T("v=0\nm=video 0 RTP/AVP 96\nb=AS:4294967296\n"), SDP_ERR_BAD_BANDWIDTH },
	{ "rtpmap_no_clock", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264\n"), SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_clock_0", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/0\n"), SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_pt_letters", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:x H264/90000\n"),
	  SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_no_name", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 /90000\n"), SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_channels_0", T("v=0\nm=audio 0 RTP/AVP 97\na=rtpmap:97 opus/48000/0\n"),
	  SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_channels_big", T("v=0\nm=audio 0 RTP/AVP 97\na=rtpmap:97 opus/48000/256\n"),
	  SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_extra", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000 x\n"),
	  SDP_ERR_BAD_RTPMAP },
	{ "rtpmap_empty", T("v=0\nm=video 0 RTP/AVP 96\na=rtpmap:\n"), SDP_ERR_BAD_RTPMAP },
	{ "fmtp_pt_letters", T("v=0\nm=video 0 RTP/AVP 96\na=fmtp:abc x=1\n"), SDP_ERR_BAD_FMTP },
	{ "fmtp_empty", T("v=0\nm=video 0 RTP/AVP 96\na=fmtp:\n"), SDP_ERR_BAD_FMTP },
	{ "session_rtpmap_ignored", T("v=0\na=rtpmap:junk\n"), SDP_OK },
};

Test(sdp, error_table)
{
	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		struct sdp s;
		enum sdp_err e = sdp_parse(ecases[i].text, ecases[i].len, &s);
		cr_assert_eq(e, ecases[i].want, "%s: got %s want %s", ecases[i].name, sdp_err_name(e),
			     sdp_err_name(ecases[i].want));
	}
}

Test(sdp, limits)
{
	char *b = malloc(SDP_MAX_TEXT + 16384);
	struct sdp s;
	size_t n;

	/* SDP_MAX_MEDIA sections read, one more does not */
	for (unsigned extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(b, "v=0\r\n");
		for (unsigned i = 0; i < SDP_MAX_MEDIA + extra; i++)
			n += (size_t)sprintf(b + n, "m=video 0 RTP/AVP 96\r\na=control:trackID=%u\r\n", i);
		cr_assert_eq(sdp_parse(b, n, &s), extra ? SDP_ERR_TOO_MANY_MEDIA : SDP_OK);
	}
	/* attributes, session and media */
	for (unsigned extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(b, "v=0\r\n");
		for (unsigned i = 0; i < SDP_MAX_ATTRS + extra; i++)
			n += (size_t)sprintf(b + n, "a=x-%u\r\n", i);
		cr_assert_eq(sdp_parse(b, n, &s), extra ? SDP_ERR_TOO_MANY_ATTRS : SDP_OK);
		n += (size_t)sprintf(b + n, "m=video 0 RTP/AVP 96\r\n");
		for (unsigned i = 0; i < SDP_MAX_ATTRS + extra; i++)
			n += (size_t)sprintf(b + n, "a=x-%u\r\n", i);
		if (!extra)
			cr_assert_eq(sdp_parse(b, n, &s), SDP_OK);
	}
	n = (size_t)sprintf(b, "v=0\r\nm=video 0 RTP/AVP 96\r\n");
	for (unsigned i = 0; i < SDP_MAX_ATTRS + 1; i++)
		n += (size_t)sprintf(b + n, "a=x-%u\r\n", i);
	cr_assert_eq(sdp_parse(b, n, &s), SDP_ERR_TOO_MANY_ATTRS);
	/* rtpmap / fmtp per section */
	for (unsigned extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(b, "v=0\r\nm=video 0 RTP/AVP 96\r\n");
		for (unsigned i = 0; i < SDP_MAX_MAPS + extra; i++)
			n += (size_t)sprintf(b + n, "a=rtpmap:%u X/90000\r\na=fmtp:%u a=b\r\n", 96 + i,
					     96 + i);
		cr_assert_eq(sdp_parse(b, n, &s), extra ? SDP_ERR_TOO_MANY_MAPS : SDP_OK);
	}
	/* line length */
	for (unsigned extra = 0; extra < 2; extra++) {
		n = (size_t)sprintf(b, "v=0\r\ns=");
		memset(b + n, 'x', SDP_MAX_LINE - 2 + extra);
		n += SDP_MAX_LINE - 2 + extra;
		n += (size_t)sprintf(b + n, "\r\n");
		cr_assert_eq(sdp_parse(b, n, &s), extra ? SDP_ERR_LINE_TOO_LONG : SDP_OK);
	}
	/* whole text */
	n = (size_t)sprintf(b, "v=0\r\n");
	while (n <= SDP_MAX_TEXT)
		n += (size_t)sprintf(b + n, "i=%0100d\r\n", 0);
	cr_assert_eq(sdp_parse(b, n, &s), SDP_ERR_TOO_LARGE);
	free(b);
}

/* ---- control URLs ---- */

Test(sdp, control_url_table)
{
	static const struct {
		const char *base, *control, *want; /* want NULL: -EINVAL */
	} c[] = {
		{ "rtsp://cam/s/", "trackID=1", "rtsp://cam/s/trackID=1" },
		{ "rtsp://cam/s", "trackID=1", "rtsp://cam/s/trackID=1" },
		{ "rtsp://cam/s", "*", "rtsp://cam/s" },
		{ "rtsp://cam/s", "", "rtsp://cam/s" },
		{ "rtsp://cam/s", "rtsp://other:8554/t", "rtsp://other:8554/t" },
		{ "rtsp://cam/s", "RTSP://other/t", "RTSP://other/t" },
		{ "rtsp://cam:554/a/b?x=1", "/track2", "rtsp://cam:554/track2" },
		{ "rtsp://user:pw@cam/s", "/t", "rtsp://user:pw@cam/t" },
		{ "rtsp://cam", "/t", "rtsp://cam/t" },
		{ "rtsp://cam?x", "/t", "rtsp://cam/t" },
		{ "rtsp://[::1]:554/s", "/t", "rtsp://[::1]:554/t" },
		{ "RTSPS://cam/s", "stream=0", "RTSPS://cam/s/stream=0" },
		{ "rtspu://cam/s", "a", "rtspu://cam/s/a" },
		{ "rtsp://cam/live?ch=1", "trackID=0", "rtsp://cam/live?ch=1/trackID=0" },
		{ "http://cam/s", "t", NULL },
		{ "cam/s", "t", NULL },
		{ "", "t", NULL },
		{ "rtsp:/cam", "t", NULL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char out[128];
		int n = sdp_control_url(c[i].base, strlen(c[i].base), c[i].control, strlen(c[i].control),
					out, sizeof(out));
		if (!c[i].want) {
			cr_assert_eq(n, -EINVAL, "%s + %s", c[i].base, c[i].control);
			continue;
		}
		cr_assert_eq(n, (int)strlen(c[i].want), "%s + %s", c[i].base, c[i].control);
		cr_assert_str_eq(out, c[i].want);
		for (int cap = 0; cap <= n; cap++)
			cr_assert_eq(sdp_control_url(c[i].base, strlen(c[i].base), c[i].control,
						     strlen(c[i].control), out, (size_t)cap), -ENOSPC);
	}
}

/* ---- proxy rewrite ---- */

Test(sdp, proxy_golden)
{
	size_t len, glen;
	char *text = load("hikvision_h264.sdp", &len);
	char *gold = load("hikvision_h264.proxy.sdp", &glen);
	struct sdp_proxy_opts o = { .sess_id = 42, .sess_version = 7, .origin_addr = "10.0.0.1" };
	char out[4096];
	enum sdp_err e;
	int n = sdp_write_proxy(text, len, &o, out, sizeof(out), &e);
	cr_assert_eq(n, (int)glen, "%d vs %zu:\n%s", n, glen, out);
	cr_assert_str_eq(out, gold);
	for (int cap = 0; cap <= n; cap += 7)
		cr_assert_eq(sdp_write_proxy(text, len, &o, out, (size_t)cap, &e), -ENOSPC);
	cr_assert_eq(sdp_write_proxy(text, len, &o, out, (size_t)n, &e), -ENOSPC);
	free(text);
	free(gold);
}

Test(sdp, proxy_every_sample)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		size_t len;
		char *text = load(samples[i].file, &len);
		struct sdp_proxy_opts o = { .sess_id = 1, .sess_version = 2, .session_name = "cam 1" };
		char out[4096];
		enum sdp_err e;
		int n = sdp_write_proxy(text, len, &o, out, sizeof(out), &e);
		cr_assert_gt(n, 0, "%s", samples[i].file);
		struct sdp orig, s;
		cr_assert_eq(sdp_parse(text, len, &orig), SDP_OK);
		cr_assert_eq(sdp_parse(out, (size_t)n, &s), SDP_OK, "%s:\n%s", samples[i].file, out);
		cr_assert(eq(s.origin, "- 1 2 IN IP4 0.0.0.0"));
		cr_assert(eq(s.name, "cam 1"));
		cr_assert(eq(s.conn, "0.0.0.0"));
		cr_assert(eq(s.control, "*"));
		cr_assert_eq(s.n_media, orig.n_media);
		for (unsigned k = 0; k < s.n_media; k++) {
			char want[32];
			snprintf(want, sizeof(want), "trackID=%u", k);
			cr_assert(eq(s.media[k].control, want), "%s m%u", samples[i].file, k);
			cr_assert(s.media[k].conn.p == NULL || eq(s.media[k].conn, "0.0.0.0"));
			/* everything else kept */
			cr_assert_eq(s.media[k].n_rtpmap, orig.media[k].n_rtpmap);
			cr_assert_eq(s.media[k].n_fmtp, orig.media[k].n_fmtp);
			cr_assert_eq(s.media[k].n_attrs, orig.media[k].n_attrs);
			cr_assert_eq(s.media[k].dir, orig.media[k].dir);
			cr_assert(eq(s.media[k].fmt_text, "") == false);
			for (unsigned j = 0; j < s.media[k].n_fmtp; j++)
				cr_assert_eq(s.media[k].fmtp[j].params.len,
					     orig.media[k].fmtp[j].params.len);
		}
		cr_assert_eq(s.n_attrs, orig.n_attrs);
		/* CRLF everywhere, no bare LF */
		for (int j = 0; j < n; j++)
			if (out[j] == '\n')
				cr_assert(j > 0 && out[j - 1] == '\r');
		/* idempotent: rewriting the rewrite changes nothing */
		char again[4096];
		int n2 = sdp_write_proxy(out, (size_t)n, &o, again, sizeof(again), &e);
		cr_assert_eq(n2, n);
		cr_assert_str_eq(again, out);
		free(text);
	}
}

Test(sdp, proxy_adds_missing_control_and_connection)
{
	static const char in[] = "v=0\no=x\ns=y\nt=0 0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
				 "m=audio 0 RTP/AVP 0\n";
	static const char want[] = "v=0\r\no=- 5 6 IN IP4 0.0.0.0\r\ns=y\r\nc=IN IP4 0.0.0.0\r\n"
				   "t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
				   "a=control:trackID=0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\n";
	struct sdp_proxy_opts o = { .sess_id = 5, .sess_version = 6 };
	char out[512];
	enum sdp_err e;
	int n = sdp_write_proxy(in, sizeof(in) - 1, &o, out, sizeof(out), &e);
	cr_assert_eq(n, (int)sizeof(want) - 1, "%s", out);
	cr_assert_str_eq(out, want);
	/* session without any line after s=: c= goes at the end */
	n = sdp_write_proxy("v=0\ns=y", 7, &o, out, sizeof(out), &e);
	cr_assert_str_eq(out, "v=0\r\ns=y\r\nc=IN IP4 0.0.0.0\r\n");
	/* media with two a=control: one trackID line */
	static const char two[] = "v=0\nc=IN IP4 1.1.1.1\nm=video 0 RTP/AVP 96\na=control:a\na=control:b\n";
	n = sdp_write_proxy(two, sizeof(two) - 1, &o, out, sizeof(out), &e);
	cr_assert_str_eq(out, "v=0\r\nc=IN IP4 0.0.0.0\r\nm=video 0 RTP/AVP 96\r\na=control:trackID=0\r\n");
	/* spelled the way the parser still reads as control */
	static const char odd[] = "v=0\nc=IN IP4 1.1.1.1\na=Control\nm=video 0 RTP/AVP 96\na=control :a\n";
	n = sdp_write_proxy(odd, sizeof(odd) - 1, &o, out, sizeof(out), &e);
	cr_assert_str_eq(out, "v=0\r\nc=IN IP4 0.0.0.0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\n"
			      "a=control:trackID=0\r\n");
}

Test(sdp, proxy_refuses)
{
	char out[512];
	enum sdp_err e;
	struct sdp_proxy_opts o = { .origin_addr = "1.2.3.4\r\na=evil" };
	cr_assert_eq(sdp_write_proxy("v=0\n", 4, &o, out, sizeof(out), &e), -EINVAL);
	o.origin_addr = "1.2.3.4 5";
	cr_assert_eq(sdp_write_proxy("v=0\n", 4, &o, out, sizeof(out), &e), -EINVAL);
	o.origin_addr = NULL;
	o.session_name = "x\ny";
	cr_assert_eq(sdp_write_proxy("v=0\n", 4, &o, out, sizeof(out), &e), -EINVAL);
	o.session_name = NULL;
	cr_assert_eq(sdp_write_proxy("v=1\n", 4, &o, out, sizeof(out), &e), -EINVAL);
	cr_assert_eq(e, SDP_ERR_BAD_VERSION);
}

Test(sdp, names)
{
	for (int e = 0; e < SDP_ERR__COUNT; e++) {
		cr_assert_str_neq(sdp_err_name((enum sdp_err)e), "unknown");
		cr_assert_lt(strlen(sdp_err_name((enum sdp_err)e)), 32);
	}
	cr_assert_str_eq(sdp_err_name(SDP_ERR__COUNT), "unknown");
}
