/*
 * test_rtsp_up: the camera-pulling RTSP client (dataplane/rtsp_up.c)
 * against scripted camera answers. What the client sends is parsed back
 * with rtsp_msg's reader; what it delivers is recorded.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rtsp_msg.h"
#include "rtsp_up.h"

#define S 1000000000ull

static char sent[1 << 16];
static size_t sent_len, sent_rd;
static ssize_t send_room;  /* bytes send() takes before returning 0; < 0: all */
static bool send_fail;
static int n_playing, n_ended;
static enum rtsp_up_end why;
static unsigned why_status;
static unsigned n_tracks_playing;
static struct pkt {
	unsigned track;
	bool rtcp;
	size_t len;
	uint8_t first, last;
} pkts[64];
static unsigned n_pkts;
static rtsp_up *u;
static uint64_t now;

static ssize_t cb_send(void *ctx, const void *d, size_t len)
{
	(void)ctx;
	if (send_fail)
		return -1;
	if (send_room >= 0 && (size_t)send_room < len)
		len = (size_t)send_room;
	if (send_room >= 0)
		send_room -= (ssize_t)len;
	cr_assert_leq(sent_len + len, sizeof(sent));
	memcpy(sent + sent_len, d, len);
	sent_len += len;
	return (ssize_t)len;
}

static void cb_playing(void *ctx, const struct rtsp_up_track *t, unsigned n)
{
	(void)ctx;
	(void)t;
	n_playing++;
	n_tracks_playing = n;
}

static void cb_packet(void *ctx, unsigned track, bool rtcp, const uint8_t *d, size_t len)
{
	(void)ctx;
	cr_assert_lt(n_pkts, 64);
	pkts[n_pkts++] = (struct pkt){ track, rtcp, len, len ? d[0] : 0, len ? d[len - 1] : 0 };
}

static void cb_ended(void *ctx, enum rtsp_up_end w, unsigned status)
{
	(void)ctx;
	n_ended++;
	why = w;
	why_status = status;
}

static const struct rtsp_up_cb cb = { cb_send, cb_playing, cb_packet, cb_ended };

static void reset(void)
{
	sent_len = sent_rd = 0;
	send_room = -1;
	send_fail = false;
	n_playing = n_ended = 0;
	n_pkts = 0;
	n_tracks_playing = 0;
	now = 100 * S;
}

static rtsp_up *mk(const char *user, const char *pass, bool audio)
{
	struct rtsp_up_cfg cfg = { .url = "rtsp://127.0.0.1:554/Streaming/101", .user = user,
				   .pass = pass, .audio = audio };
	rtsp_up *x = rtsp_up_new(&cfg, &cb, NULL);
	cr_assert_not_null(x);
	return x;
}

static void setup(void)
{
	reset();
	u = mk(NULL, NULL, false);
}

static void teardown(void)
{
	rtsp_up_free(u);
}

/* The next request the client sent: method, URI, a header's value. */
struct req {
	enum rtsp_method m;
	char uri[256];
	uint32_t cseq;
	char hdr[4][512];
};

static struct req next_req(const char *h0, const char *h1, const char *h2)
{
	struct req r;
	const char *names[3] = { h0, h1, h2 };
	rtsp_reader *rd = rtsp_reader_new(NULL);
	struct rtsp_event ev;
	size_t used = 0;

	memset(&r, 0, sizeof(r));
	cr_assert_gt(sent_len, sent_rd, "a request was sent");
	int rc = rtsp_reader_feed(rd, (const uint8_t *)sent + sent_rd, sent_len - sent_rd, &used, &ev);
	cr_assert_eq(rc, 1, "a whole request");
	cr_assert_eq(ev.kind, RTSP_EV_MSG);
	cr_assert(ev.msg->is_request);
	r.m = ev.msg->method;
	snprintf(r.uri, sizeof(r.uri), "%.*s", (int)ev.msg->uri.len, ev.msg->uri.p);
	r.cseq = ev.msg->cseq;
	for (int i = 0; i < 3; i++) {
		if (!names[i])
			continue;
		const struct rtsp_str *v = rtsp_msg_header(ev.msg, names[i], NULL);
		if (v)
			snprintf(r.hdr[i], sizeof(r.hdr[i]), "%.*s", (int)v->len, v->p);
	}
	sent_rd += used;
	rtsp_reader_free(rd);
	return r;
}

static void feed(const char *s)
{
	rtsp_up_input(u, (const uint8_t *)s, strlen(s), now);
}

static void feedn(const void *d, size_t n)
{
	rtsp_up_input(u, d, n, now);
}

static void respond(uint32_t cseq, const char *status_and_headers, const char *body)
{
	char buf[8192];
	size_t bl = body ? strlen(body) : 0;
	if (bl)
		snprintf(buf, sizeof(buf), "RTSP/1.0 %s\r\nCSeq: %u\r\nContent-Length: %zu\r\n\r\n%s",
			 status_and_headers, cseq, bl, body);
	else
		snprintf(buf, sizeof(buf), "RTSP/1.0 %s\r\nCSeq: %u\r\n\r\n", status_and_headers, cseq);
	feed(buf);
}

static const char *SDP_CAM =
	"v=0\r\n"
	"o=- 1 1 IN IP4 192.168.1.64\r\n"
	"s=Media Presentation\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"t=0 0\r\n"
	"a=control:*\r\n"
	"m=video 0 RTP/AVP 96\r\n"
	"a=rtpmap:96 H264/90000\r\n"
	"a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n"
	"a=control:trackID=1\r\n"
	"m=audio 0 RTP/AVP 8\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=control:trackID=2\r\n"
	"m=application 0 RTP/AVP 107\r\n"
	"a=rtpmap:107 vnd.onvif.metadata/90000\r\n"
	"a=control:trackID=3\r\n";

/* OPTIONS .. PLAY of the video track; returns with the session playing. */
static void to_playing(void)
{
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_OPTIONS);
	cr_assert_str_eq(r.uri, "rtsp://127.0.0.1:554/Streaming/101");
	respond(r.cseq, "200 OK\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER", NULL);
	r = next_req("Accept", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_DESCRIBE);
	cr_assert_str_eq(r.hdr[0], "application/sdp");
	char hdrs[256];
	snprintf(hdrs, sizeof(hdrs),
		 "200 OK\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:554/Streaming/101/");
	respond(r.cseq, hdrs, SDP_CAM);
	r = next_req("Transport", "Session", NULL);
	cr_assert_eq(r.m, RTSP_M_SETUP);
	cr_assert_str_eq(r.uri, "rtsp://127.0.0.1:554/Streaming/101/trackID=1");
	cr_assert_str_eq(r.hdr[0], "RTP/AVP/TCP;unicast;interleaved=0-1");
	cr_assert_str_eq(r.hdr[1], "", "no session before the first SETUP");
	respond(r.cseq,
		"200 OK\r\nSession: 7c1f2d3e;timeout=30\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B3C4D",
		NULL);
	r = next_req("Session", "Range", NULL);
	cr_assert_eq(r.m, RTSP_M_PLAY);
	cr_assert_str_eq(r.uri, "rtsp://127.0.0.1:554/Streaming/101/");
	cr_assert_str_eq(r.hdr[0], "7c1f2d3e");
	respond(r.cseq,
		"200 OK\r\nSession: 7c1f2d3e\r\nRTP-Info: url=rtsp://127.0.0.1:554/Streaming/101/trackID=1;seq=4660;rtptime=305419896",
		NULL);
	cr_assert_eq(n_playing, 1);
	cr_assert(rtsp_up_is_playing(u));
}

TestSuite(rtsp_up, .init = setup, .fini = teardown);

Test(rtsp_up, options_to_play_video_track)
{
	to_playing();
	unsigned n;
	const struct rtsp_up_track *t = rtsp_up_tracks(u, &n);
	cr_assert_eq(n, 1, "video only unless audio is asked for");
	cr_assert_eq(n_tracks_playing, 1);
	cr_assert_eq(t[0].type, SDP_MEDIA_VIDEO);
	cr_assert_str_eq(t[0].encoding, "H264");
	cr_assert_eq(t[0].clock, 90000);
	cr_assert_eq(t[0].pt, 96);
	cr_assert(t[0].has_ssrc);
	cr_assert_eq(t[0].ssrc, 0x1A2B3C4D);
	cr_assert(t[0].has_rtp_info);
	cr_assert_eq(t[0].seq, 4660);
	cr_assert_eq(t[0].rtptime, 305419896);
	size_t sl;
	cr_assert_not_null(rtsp_up_sdp(u, &sl));
	cr_assert_eq(sl, strlen(SDP_CAM));
	cr_assert_str_eq(rtsp_up_base(u), "rtsp://127.0.0.1:554/Streaming/101/");
	cr_assert_eq(n_ended, 0);
}

Test(rtsp_up, audio_tracks_when_asked)
{
	rtsp_up_free(u);
	u = mk(NULL, NULL, true);
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "200 OK", NULL);
	r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "200 OK", SDP_CAM); /* no Content-Base: the request URL */
	r = next_req("Transport", NULL, NULL);
	cr_assert_str_eq(r.uri, "rtsp://127.0.0.1:554/Streaming/101/trackID=1");
	/* The camera picks other channels than we proposed. */
	respond(r.cseq, "200 OK\r\nSession: 1234567890\r\nTransport: RTP/AVP/TCP;interleaved=2-3", NULL);
	r = next_req("Transport", "Session", NULL);
	cr_assert_eq(r.m, RTSP_M_SETUP);
	cr_assert_str_eq(r.uri, "rtsp://127.0.0.1:554/Streaming/101/trackID=2");
	cr_assert_str_eq(r.hdr[0], "RTP/AVP/TCP;unicast;interleaved=0-1", "a free pair");
	cr_assert_str_eq(r.hdr[1], "1234567890");
	respond(r.cseq, "200 OK\r\nSession: 1234567890\r\nTransport: RTP/AVP/TCP;interleaved=0-1", NULL);
	r = next_req(NULL, NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_PLAY);
	respond(r.cseq, "200 OK", NULL);
	cr_assert_eq(n_tracks_playing, 2);
	/* RTP on 2 is the video track, RTCP on 1 the audio track's. */
	uint8_t fr[] = { '$', 2, 0, 3, 0x80, 0x60, 0x11, '$', 1, 0, 2, 0x81, 0xc8 };
	feedn(fr, sizeof(fr));
	cr_assert_eq(n_pkts, 2);
	cr_assert_eq(pkts[0].track, 0);
	cr_assert(!pkts[0].rtcp);
	cr_assert_eq(pkts[1].track, 1);
	cr_assert(pkts[1].rtcp);
}

Test(rtsp_up, frames_whole_split_unknown_channel)
{
	to_playing();
	uint8_t big[4 + 3000];
	big[0] = '$';
	big[1] = 0;
	big[2] = 3000 >> 8;
	big[3] = 3000 & 0xff;
	for (int i = 0; i < 3000; i++)
		big[4 + i] = (uint8_t)i;
	/* whole */
	feedn(big, sizeof(big));
	/* split in three reads */
	feedn(big, 1000);
	feedn(big + 1000, 1000);
	feedn(big + 2000, sizeof(big) - 2000);
	/* RTCP, then a channel nobody set up */
	uint8_t rtcp[] = { '$', 1, 0, 4, 0x80, 0xc8, 0, 6 };
	uint8_t odd[] = { '$', 9, 0, 2, 1, 2 };
	feedn(rtcp, sizeof(rtcp));
	feedn(odd, sizeof(odd));
	cr_assert_eq(n_pkts, 3);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pkts[i].len, 3000);
		cr_assert_eq(pkts[i].first, 0);
		cr_assert_eq(pkts[i].last, (uint8_t)2999);
	}
	cr_assert(pkts[2].rtcp);
	struct rtsp_up_stats st;
	rtsp_up_get_stats(u, &st);
	cr_assert_eq(st.rtp, 2);
	cr_assert_eq(st.rtcp, 1);
	cr_assert_eq(st.reassembled, 1);
	cr_assert_eq(st.drop_channel, 1);
	cr_assert_eq(n_ended, 0);
}

Test(rtsp_up, keepalive_get_parameter_then_options_fallback)
{
	to_playing();
	now += 14 * S;
	feedn("$\0\0\1x", 5); /* media keeps it from going silent */
	rtsp_up_timers(u, now);
	cr_assert_eq(sent_len, sent_rd, "not before half the timeout (30 s)");
	now += 1 * S;
	rtsp_up_timers(u, now);
	struct req r = next_req("Session", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_GET_PARAMETER);
	cr_assert_str_eq(r.hdr[0], "7c1f2d3e");
	respond(r.cseq, "405 Method Not Allowed", NULL);
	cr_assert_eq(n_ended, 0, "a refused keepalive is not the end");
	now += 15 * S;
	feedn("$\0\0\1x", 5);
	rtsp_up_timers(u, now);
	r = next_req("Session", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_OPTIONS);
	cr_assert_str_eq(r.hdr[0], "7c1f2d3e");
	respond(r.cseq, "200 OK", NULL);
	struct rtsp_up_stats st;
	rtsp_up_get_stats(u, &st);
	cr_assert_eq(st.keepalives, 2);
}

Test(rtsp_up, silent_camera_ends)
{
	to_playing();
	now += 9 * S;
	rtsp_up_timers(u, now);
	cr_assert_eq(n_ended, 0);
	now += 2 * S;
	rtsp_up_timers(u, now);
	cr_assert_eq(n_ended, 1);
	cr_assert_eq(why, RTSP_UP_SILENT);
}

Test(rtsp_up, request_timeout)
{
	rtsp_up_start(u, now);
	now += 10 * S;
	rtsp_up_timers(u, now);
	cr_assert_eq(why, RTSP_UP_TIMEOUT);
	cr_assert_eq(n_ended, 1);
	rtsp_up_timers(u, now + S);
	rtsp_up_closed(u);
	cr_assert_eq(n_ended, 1, "exactly once");
}

Test(rtsp_up, digest_auth_then_rejected)
{
	rtsp_up_free(u);
	u = mk("admin", "12345", false);
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "200 OK", NULL);
	r = next_req("Authorization", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_DESCRIBE);
	cr_assert_str_eq(r.hdr[0], "");
	respond(r.cseq,
		"401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n"
		"WWW-Authenticate: Digest realm=\"cam\", nonce=\"4e5f6a7b\", qop=\"auth\"",
		NULL);
	r = next_req("Authorization", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_DESCRIBE, "the same request again");
	cr_assert(!strncmp(r.hdr[0], "Digest ", 7), "Digest preferred: %s", r.hdr[0]);
	cr_assert_not_null(strstr(r.hdr[0], "username=\"admin\""));
	cr_assert_not_null(strstr(r.hdr[0], "uri=\"rtsp://127.0.0.1:554/Streaming/101\""));
	cr_assert_null(strstr(r.hdr[0], "12345"), "never the password itself");
	respond(r.cseq, "401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"99\"", NULL);
	cr_assert_eq(n_ended, 1);
	cr_assert_eq(why, RTSP_UP_AUTH);
	cr_assert_eq(why_status, 401);
}

Test(rtsp_up, basic_auth_carried_on_every_request)
{
	rtsp_up_free(u);
	u = mk("admin", "pw", false);
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\"", NULL);
	r = next_req("Authorization", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_OPTIONS);
	cr_assert_str_eq(r.hdr[0], "Basic YWRtaW46cHc=");
	respond(r.cseq, "200 OK", NULL);
	r = next_req("Authorization", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_DESCRIBE);
	cr_assert_str_eq(r.hdr[0], "Basic YWRtaW46cHc=");
}

Test(rtsp_up, no_credentials_is_auth_failure)
{
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "200 OK", NULL);
	r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"x\", nonce=\"y\"", NULL);
	cr_assert_eq(why, RTSP_UP_AUTH);
}

struct fail_case {
	const char *name;
	int at;              /* 1 DESCRIBE, 2 SETUP */
	const char *status;
	const char *body;
	enum rtsp_up_end why;
	unsigned status_code;
};

Test(rtsp_up, failures_table)
{
	static const struct fail_case cases[] = {
		{ "redirect", 1, "302 Moved\r\nLocation: rtsp://10.0.0.9/other", NULL, RTSP_UP_REDIRECT, 302 },
		{ "not found", 1, "404 Not Found", NULL, RTSP_UP_REFUSED, 404 },
		{ "no body", 1, "200 OK", NULL, RTSP_UP_NO_TRACKS, 0 },
		{ "no video", 1, "200 OK", "v=0\r\nm=audio 0 RTP/AVP 8\r\n", RTSP_UP_NO_TRACKS, 0 },
		{ "bad sdp", 1, "200 OK", "hello\r\n", RTSP_UP_NO_TRACKS, 0 },
		{ "udp only", 2, "200 OK\r\nSession: 11111111\r\nTransport: RTP/AVP;unicast;client_port=5000-5001",
		  NULL, RTSP_UP_TRANSPORT, 0 },
		{ "461", 2, "461 Unsupported Transport", NULL, RTSP_UP_TRANSPORT, 461 },
		{ "no session", 2, "200 OK\r\nTransport: RTP/AVP/TCP;interleaved=0-1", NULL,
		  RTSP_UP_PROTOCOL, 0 },
		{ "same channels", 2, "200 OK\r\nSession: 11111111\r\nTransport: RTP/AVP/TCP;interleaved=4-4",
		  NULL, RTSP_UP_TRANSPORT, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fail_case *c = &cases[i];
		rtsp_up_free(u);
		reset();
		u = mk(NULL, NULL, false);
		rtsp_up_start(u, now);
		struct req r = next_req(NULL, NULL, NULL);
		respond(r.cseq, "200 OK", NULL);
		r = next_req(NULL, NULL, NULL);
		if (c->at == 2) {
			respond(r.cseq, "200 OK", SDP_CAM);
			r = next_req(NULL, NULL, NULL);
			cr_assert_eq(r.m, RTSP_M_SETUP);
		}
		respond(r.cseq, c->status, c->body);
		cr_assert_eq(n_ended, 1, "%s: ended", c->name);
		cr_assert_eq(why, c->why, "%s: %s", c->name, rtsp_up_end_name(why));
		cr_assert_eq(why_status, c->status_code, "%s", c->name);
	}
	cr_assert_str_eq(rtsp_up_redirect(u), "");
}

Test(rtsp_up, redirect_location_kept)
{
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq, "301 Moved\r\nLocation: rtsp://10.0.0.9:8554/live", NULL);
	cr_assert_eq(why, RTSP_UP_REDIRECT);
	cr_assert_str_eq(rtsp_up_redirect(u), "rtsp://10.0.0.9:8554/live");
}

Test(rtsp_up, garbage_is_a_protocol_error)
{
	rtsp_up_start(u, now);
	feed("HTTP/1.1 200 OK\r\n\r\n");
	cr_assert_eq(why, RTSP_UP_PROTOCOL);
}

Test(rtsp_up, stale_cseq_ignored_and_camera_requests_answered)
{
	rtsp_up_start(u, now);
	struct req r = next_req(NULL, NULL, NULL);
	respond(r.cseq + 7, "200 OK", NULL);
	cr_assert_eq(n_ended, 0);
	feed("GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 42\r\n\r\n"
	     "ANNOUNCE rtsp://x/ RTSP/1.0\r\nCSeq: 43\r\n\r\n");
	cr_assert(strstr(sent + sent_rd, "RTSP/1.0 200 OK\r\nCSeq: 42\r\n"), "%s", sent + sent_rd);
	cr_assert(strstr(sent + sent_rd, "RTSP/1.0 501 Not Implemented\r\nCSeq: 43\r\n"));
	struct rtsp_up_stats st;
	rtsp_up_get_stats(u, &st);
	cr_assert_eq(st.stale_responses, 1);
	cr_assert_eq(st.camera_requests, 2);
}

Test(rtsp_up, teardown_and_rtcp_out)
{
	to_playing();
	uint8_t pli[12] = { 0x81, 206, 0, 2 };
	cr_assert_eq(rtsp_up_send_rtcp(u, 0, pli, sizeof(pli)), 0);
	cr_assert_eq(sent[sent_rd], '$');
	cr_assert_eq(sent[sent_rd + 1], 1, "the track's RTCP channel");
	cr_assert_eq(sent[sent_rd + 3], 12);
	sent_rd += 16;
	cr_assert_eq(rtsp_up_send_rtcp(u, 1, pli, sizeof(pli)), -EINVAL);
	rtsp_up_teardown(u, now);
	struct req r = next_req("Session", NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_TEARDOWN);
	cr_assert_str_eq(r.hdr[0], "7c1f2d3e");
	cr_assert_eq(n_ended, 0);
	respond(r.cseq, "200 OK", NULL);
	cr_assert_eq(why, RTSP_UP_CLOSED);
	cr_assert(rtsp_up_done(u));
}

Test(rtsp_up, short_sends_resume_on_writable)
{
	send_room = 10;
	rtsp_up_start(u, now);
	cr_assert_eq(sent_len, 10);
	send_room = 5;
	rtsp_up_writable(u);
	cr_assert_eq(sent_len, 15);
	send_room = -1;
	rtsp_up_writable(u);
	struct req r = next_req(NULL, NULL, NULL);
	cr_assert_eq(r.m, RTSP_M_OPTIONS);
	send_fail = true;
	respond(r.cseq, "200 OK", NULL);
	cr_assert_eq(why, RTSP_UP_IO);
}

Test(rtsp_up, bad_configs)
{
	struct rtsp_up_cfg c = { .url = "http://x/" };
	cr_assert_null(rtsp_up_new(&c, &cb, NULL));
	c.url = "rtsp://x/a b";
	cr_assert_null(rtsp_up_new(&c, &cb, NULL));
	c.url = "rtsp://admin:pw@x/live";
	cr_assert_null(rtsp_up_new(&c, &cb, NULL), "credentials belong in user/pass, not the URL");
	c.url = "rtsp://x/";
	c.user = "u";
	cr_assert_null(rtsp_up_new(&c, &cb, NULL), "user without password");
	c.pass = "p\r\nX: y";
	cr_assert_null(rtsp_up_new(&c, &cb, NULL), "line injection");
	struct rtsp_up_cb partial = { .send = cb_send };
	c.user = c.pass = NULL;
	cr_assert_null(rtsp_up_new(&c, &partial, NULL));
}

/* The whole camera side of a session, cut at every byte: same outcome. */
Test(rtsp_up, transcript_split_at_every_offset)
{
	char tr[4096];
	int n = snprintf(tr, sizeof(tr),
			 "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP, PLAY\r\n\r\n"
			 "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: %zu\r\n\r\n%s"
			 "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: abcdefgh\r\n"
			 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
			 "RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: abcdefgh\r\n\r\n",
			 strlen(SDP_CAM), SDP_CAM);
	uint8_t media[] = { '$', 0, 0, 5, 1, 2, 3, 4, 5, '$', 1, 0, 0, '$', 0, 0, 1, 9 };
	cr_assert_lt((size_t)n + sizeof(media), sizeof(tr));
	memcpy(tr + n, media, sizeof(media));
	size_t total = (size_t)n + sizeof(media);
	for (size_t cut = 0; cut <= total; cut++) {
		rtsp_up_free(u);
		reset();
		u = mk(NULL, NULL, false);
		rtsp_up_start(u, now);
		feedn(tr, cut);
		feedn(tr + cut, total - cut);
		cr_assert_eq(n_ended, 0, "cut %zu: %s", cut, rtsp_up_end_name(why));
		cr_assert_eq(n_playing, 1, "cut %zu", cut);
		cr_assert_eq(n_pkts, 3, "cut %zu: %u packets", cut, n_pkts);
		cr_assert_eq(pkts[0].len, 5);
		cr_assert_eq(pkts[0].last, 5);
		cr_assert_eq(pkts[1].len, 0);
		cr_assert(pkts[1].rtcp);
		cr_assert_eq(pkts[2].first, 9);
	}
}
