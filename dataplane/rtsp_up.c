/*
 * rtsp_up: one camera's RTSP client session (see rtsp_up.h).
 *
 * One request at a time (RTSP allows pipelining; cameras handle it badly).
 * The request in flight is remembered as a state, so a 401 resends the same
 * request with credentials. Output goes through one small buffer: requests
 * and our RTCP are a few hundred bytes, and a stream that does not take
 * 4 KiB of them is broken.
 */
#include "rtsp_up.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp_auth.h"
#include "msg.h"
#include "rtsp_msg.h"

#define OUT_CAP 4096u
#define REQ_CAP 3072u
#define FRAME_MAX 65535u
#define NS 1000000000ull
#define NO_TRACK 0xffu

enum ru_state {
	RU_IDLE = 0,
	RU_OPTIONS,
	RU_DESCRIBE,
	RU_SETUP,
	RU_PLAY,
	RU_PLAYING,
	RU_TEARDOWN,
	RU_DONE
};

struct rtsp_up {
	struct rtsp_up_cb cb;
	void *ctx;
	char url[RTSP_UP_URL_MAX];
	char user[RTSP_UP_CRED_MAX], pass[RTSP_UP_CRED_MAX];
	bool has_creds;
	char ua[64];
	uint64_t req_timeout, silence;
	bool audio;

	rtsp_reader *rd;
	enum ru_state st;
	bool in_flight;          /* a request waits for its answer */
	enum rtsp_method method; /* ... this one */
	uint32_t cseq;
	uint64_t sent_at, last_rx, next_keepalive;
	uint32_t timeout_s;
	bool get_parameter;      /* the camera lists GET_PARAMETER */
	char session[RTSP_MAX_SESSION_ID + 1];

	/* auth */
	bool have_challenge, auth_sent;
	struct rtsp_auth_challenge ch;
	uint32_t nc;
	char cnonce[RTSP_AUTH_CNONCE_LEN + 1];

	/* DESCRIBE */
	char *sdp;
	uint32_t sdp_len;
	char base[RTSP_UP_URL_MAX];
	char aggregate[RTSP_UP_URL_MAX]; /* PLAY / TEARDOWN / keepalive URL */
	struct rtsp_up_track tracks[RTSP_UP_MAX_TRACKS];
	unsigned n_tracks, setup_i;
	uint8_t chan_track[256]; /* channel -> track << 1 | rtcp, NO_TRACK */

	/* split frames */
	uint8_t *fbuf;
	uint32_t flen;
	bool fdrop;              /* the frame being received is dropped */

	uint8_t out[OUT_CAP];
	uint32_t out_len;
	char redirect[RTSP_UP_URL_MAX];
	struct rtsp_up_stats stats;
};

_Static_assert(RTSP_UP__COUNT == MSG_RTSP_END_COUNT, "msg_rtsp_end_name() names every end");

const char *rtsp_up_end_name(enum rtsp_up_end e)
{
	return msg_rtsp_end_name(e);
}

/* A copy of s into out (cap) with no control characters; false if not. */
static bool copy_field(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	memcpy(out, s, n + 1);
	return true;
}

/* Credentials go in user/pass, never in the URL: it is sent as the
 * request-URI and shown to operators. */
static bool url_has_userinfo(const char *url)
{
	const char *a = url + 7;
	return memchr(a, '@', strcspn(a, "/?#")) != NULL;
}

rtsp_up *rtsp_up_new(const struct rtsp_up_cfg *cfg, const struct rtsp_up_cb *cb, void *ctx)
{
	rtsp_up *u;

	if (!cfg || !cfg->url || !cb || !cb->send || !cb->playing || !cb->packet || !cb->ended ||
	    (!cfg->user != !cfg->pass) || strncmp(cfg->url, "rtsp://", 7) ||
	    strchr(cfg->url, ' ') || url_has_userinfo(cfg->url)) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	if (!copy_field(u->url, sizeof(u->url), cfg->url) ||
	    !copy_field(u->ua, sizeof(u->ua), cfg->user_agent ? cfg->user_agent : "streampoint") ||
	    (cfg->user && (!copy_field(u->user, sizeof(u->user), cfg->user) ||
			   !copy_field(u->pass, sizeof(u->pass), cfg->pass)))) {
		rtsp_up_free(u);
		errno = EINVAL;
		return NULL;
	}
	u->has_creds = cfg->user != NULL;
	u->cb = *cb;
	u->ctx = ctx;
	u->req_timeout = cfg->request_timeout_ns ? cfg->request_timeout_ns : 10 * NS;
	u->silence = cfg->silence_ns ? cfg->silence_ns : 10 * NS;
	u->audio = cfg->audio;
	u->timeout_s = RTSP_DEFAULT_SESSION_TIMEOUT;
	memset(u->chan_track, NO_TRACK, sizeof(u->chan_track));
	if (!(u->rd = rtsp_reader_new(NULL))) {
		rtsp_up_free(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

void rtsp_up_free(rtsp_up *u)
{
	if (!u)
		return;
	rtsp_reader_free(u->rd);
	free(u->sdp);
	free(u->fbuf);
	/* The password, and what was derived from it. */
	volatile char *p = (volatile char *)u;
	for (size_t i = 0; i < sizeof(*u); i++)
		p[i] = 0;
	free(u);
}

static void end(rtsp_up *u, enum rtsp_up_end why, unsigned status)
{
	if (u->st == RU_DONE)
		return;
	u->st = RU_DONE;
	u->in_flight = false;
	u->cb.ended(u->ctx, why, status);
}

/* ------------------------------------------------------------ output */

static void flush(rtsp_up *u)
{
	while (u->out_len && u->st != RU_DONE) {
		ssize_t n = u->cb.send(u->ctx, u->out, u->out_len);
		if (n < 0) {
			end(u, RTSP_UP_IO, 0);
			return;
		}
		if (n == 0)
			return;
		if ((size_t)n > u->out_len)
			n = (ssize_t)u->out_len;
		memmove(u->out, u->out + n, u->out_len - (size_t)n);
		u->out_len -= (uint32_t)n;
		explicit_bzero(u->out + u->out_len, (size_t)n); /* sent requests: no copy left */
	}
}

static bool out_put(rtsp_up *u, const void *d, size_t len)
{
	if (len > OUT_CAP - u->out_len)
		return false;
	memcpy(u->out + u->out_len, d, len);
	u->out_len += (uint32_t)len;
	return true;
}

/* The request of the current state (again, after a 401). */
static void send_request(rtsp_up *u, enum rtsp_method m, const char *uri, uint64_t now)
{
	struct rtsp_kv h[6];
	size_t n = 0;
	char auth[1024], transport[64], req[REQ_CAP];

	h[n++] = (struct rtsp_kv){ "User-Agent", u->ua };
	if (u->session[0] && m != RTSP_M_DESCRIBE)
		h[n++] = (struct rtsp_kv){ "Session", u->session };
	if (u->have_challenge) {
		if (rtsp_auth_client_header(&u->ch, u->user, u->pass, rtsp_method_name(m), uri, ++u->nc,
					    u->cnonce, auth, sizeof(auth)) < 0) {
			end(u, RTSP_UP_AUTH, 401);
			return;
		}
		h[n++] = (struct rtsp_kv){ "Authorization", auth };
	}
	if (m == RTSP_M_DESCRIBE)
		h[n++] = (struct rtsp_kv){ "Accept", "application/sdp" };
	if (m == RTSP_M_SETUP) {
		const struct rtsp_up_track *t = &u->tracks[u->setup_i];
		snprintf(transport, sizeof(transport), "RTP/AVP/TCP;unicast;interleaved=%u-%u",
			 t->channel[0], t->channel[1]);
		h[n++] = (struct rtsp_kv){ "Transport", transport };
	}
	if (m == RTSP_M_PLAY)
		h[n++] = (struct rtsp_kv){ "Range", "npt=0.000-" };
	int len = rtsp_write_request(req, sizeof(req), m, NULL, uri, ++u->cseq, h, n, NULL, 0);
	bool queued = len >= 0 && out_put(u, req, (size_t)len);
	explicit_bzero(req, sizeof(req)); /* Authorization: Basic is the password */
	explicit_bzero(auth, sizeof(auth));
	if (!queued) {
		end(u, RTSP_UP_IO, 0);
		return;
	}
	u->in_flight = true;
	u->method = m;
	u->sent_at = now;
	u->stats.requests++;
	flush(u);
}

static const char *setup_url(rtsp_up *u)
{
	return u->tracks[u->setup_i].url;
}

/* What the current state asks. */
static void send_current(rtsp_up *u, uint64_t now)
{
	switch (u->st) {
	case RU_OPTIONS:
		send_request(u, RTSP_M_OPTIONS, u->url, now);
		break;
	case RU_DESCRIBE:
		send_request(u, RTSP_M_DESCRIBE, u->url, now);
		break;
	case RU_SETUP:
		send_request(u, RTSP_M_SETUP, setup_url(u), now);
		break;
	case RU_PLAY:
		send_request(u, RTSP_M_PLAY, u->aggregate, now);
		break;
	case RU_TEARDOWN:
		send_request(u, RTSP_M_TEARDOWN, u->aggregate, now);
		break;
	case RU_PLAYING:
		send_request(u, u->get_parameter ? RTSP_M_GET_PARAMETER : RTSP_M_OPTIONS,
			     u->get_parameter ? u->aggregate : u->url, now);
		break;
	default:
		break;
	}
}

static void go(rtsp_up *u, enum ru_state st, uint64_t now)
{
	u->st = st;
	send_current(u, now);
}

/* ------------------------------------------------------------ answers */

static bool str_to(char *out, size_t cap, struct rtsp_str s)
{
	if (s.len >= cap)
		return false;
	for (uint32_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
			return false;
	memcpy(out, s.p, s.len);
	out[s.len] = 0;
	return true;
}

/* Tracks from the SDP: every RTP video section, audio ones if asked. */
static bool pick_tracks(rtsp_up *u)
{
	struct sdp sdp;

	if (sdp_parse(u->sdp, u->sdp_len, &sdp) != SDP_OK)
		return false;
	u->n_tracks = 0;
	for (unsigned i = 0; i < sdp.n_media; i++) {
		const struct sdp_media *m = &sdp.media[i];
		if (!m->rtp || !m->n_fmts ||
		    !(m->type == SDP_MEDIA_VIDEO || (u->audio && m->type == SDP_MEDIA_AUDIO)))
			continue;
		struct rtsp_up_track *t = &u->tracks[u->n_tracks];
		memset(t, 0, sizeof(*t));
		t->type = m->type;
		t->pt = m->fmts[0];
		t->media_index = (uint8_t)i;
		const struct sdp_rtpmap *rm = sdp_rtpmap_find(m, t->pt);
		if (rm) {
			size_t n = rm->encoding.len < RTSP_UP_ENC_MAX - 1 ? rm->encoding.len :
									  RTSP_UP_ENC_MAX - 1;
			memcpy(t->encoding, rm->encoding.p, n);
			t->clock = rm->clock;
		}
		if (sdp_control_url(u->base, strlen(u->base), m->control.p ? m->control.p : "",
				    m->control.len, t->url, sizeof(t->url)) < 0)
			continue;
		t->channel[0] = (uint8_t)(2 * u->n_tracks);
		t->channel[1] = (uint8_t)(2 * u->n_tracks + 1);
		u->n_tracks++;
	}
	if (sdp_control_url(u->base, strlen(u->base), sdp.control.p ? sdp.control.p : "",
			    sdp.control.len, u->aggregate, sizeof(u->aggregate)) < 0)
		snprintf(u->aggregate, sizeof(u->aggregate), "%s", u->base);
	return u->n_tracks > 0;
}

static void on_describe(rtsp_up *u, const struct rtsp_msg *m, uint64_t now)
{
	const struct rtsp_str *b = rtsp_msg_header(m, "Content-Base", NULL);

	if (!b)
		b = rtsp_msg_header(m, "Content-Location", NULL);
	if (!b || !str_to(u->base, sizeof(u->base), *b) || strncmp(u->base, "rtsp", 4))
		snprintf(u->base, sizeof(u->base), "%s", u->url);
	if (!m->body_len || m->body_len > SDP_MAX_TEXT) {
		end(u, RTSP_UP_NO_TRACKS, 0);
		return;
	}
	free(u->sdp);
	if (!(u->sdp = malloc(m->body_len + 1))) {
		end(u, RTSP_UP_NO_MEMORY, 0);
		return;
	}
	memcpy(u->sdp, m->body, m->body_len);
	u->sdp[m->body_len] = 0;
	u->sdp_len = m->body_len;
	if (!pick_tracks(u)) {
		end(u, RTSP_UP_NO_TRACKS, 0);
		return;
	}
	u->setup_i = 0;
	go(u, RU_SETUP, now);
}

static bool take_session(rtsp_up *u, const struct rtsp_msg *m)
{
	const struct rtsp_str *v = rtsp_msg_header(m, "Session", NULL);
	struct rtsp_session_hdr s;

	if (!v)
		return u->session[0] != 0; /* later SETUPs may leave it out */
	if (rtsp_parse_session(*v, &s) < 0 || !s.id.len || !str_to(u->session, sizeof(u->session), s.id))
		return false;
	if (s.has_timeout && s.timeout >= 2)
		u->timeout_s = s.timeout < 3600 ? s.timeout : 3600;
	return true;
}

static void on_setup(rtsp_up *u, const struct rtsp_msg *m, uint64_t now)
{
	const struct rtsp_str *v = rtsp_msg_header(m, "Transport", NULL);
	struct rtsp_up_track *t = &u->tracks[u->setup_i];
	struct rtsp_transport tr[RTSP_MAX_TRANSPORTS];
	size_t n = 0;

	if (!take_session(u, m)) {
		end(u, RTSP_UP_PROTOCOL, 0);
		return;
	}
	if (!v || rtsp_parse_transport(*v, tr, RTSP_MAX_TRANSPORTS, &n) < 0 || !n || !tr[0].tcp ||
	    !tr[0].has_interleaved) {
		end(u, RTSP_UP_TRANSPORT, 0);
		return;
	}
	/* The camera's channels, if it changed ours; each used once. */
	for (unsigned k = 0; k < 2; k++)
		if (u->chan_track[tr[0].interleaved[k]] != NO_TRACK) {
			end(u, RTSP_UP_TRANSPORT, 0);
			return;
		}
	if (tr[0].interleaved[0] == tr[0].interleaved[1]) {
		end(u, RTSP_UP_TRANSPORT, 0);
		return;
	}
	t->channel[0] = tr[0].interleaved[0];
	t->channel[1] = tr[0].interleaved[1];
	u->chan_track[t->channel[0]] = (uint8_t)(u->setup_i << 1);
	u->chan_track[t->channel[1]] = (uint8_t)(u->setup_i << 1 | 1);
	t->has_ssrc = tr[0].has_ssrc;
	t->ssrc = tr[0].ssrc;
	if (++u->setup_i < u->n_tracks) {
		/* Channels we proposed for the next track may now be taken. */
		struct rtsp_up_track *nt = &u->tracks[u->setup_i];
		for (unsigned c = 0; c < 254 && (u->chan_track[nt->channel[0]] != NO_TRACK ||
						 u->chan_track[nt->channel[1]] != NO_TRACK); c += 2) {
			nt->channel[0] = (uint8_t)c;
			nt->channel[1] = (uint8_t)(c + 1);
		}
		go(u, RU_SETUP, now);
		return;
	}
	go(u, RU_PLAY, now);
}

static void on_play(rtsp_up *u, const struct rtsp_msg *m, uint64_t now)
{
	const struct rtsp_str *v = rtsp_msg_header(m, "RTP-Info", NULL);
	struct rtsp_rtp_info ri[RTSP_UP_MAX_TRACKS];
	size_t n = 0;

	(void)take_session(u, m);
	if (v && rtsp_parse_rtp_info(*v, ri, RTSP_UP_MAX_TRACKS, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			for (unsigned k = 0; k < u->n_tracks; k++) {
				struct rtsp_up_track *t = &u->tracks[k];
				size_t tl = strlen(t->url);
				/* Cameras answer with the full URL or its last part. */
				if (!ri[i].url.len || ri[i].url.len > tl ||
				    memcmp(t->url + tl - ri[i].url.len, ri[i].url.p, ri[i].url.len))
					continue;
				t->has_rtp_info = ri[i].has_seq || ri[i].has_rtptime;
				t->seq = ri[i].seq;
				t->rtptime = ri[i].rtptime;
				break;
			}
	}
	u->st = RU_PLAYING;
	u->last_rx = now;
	u->next_keepalive = now + (uint64_t)u->timeout_s * NS / 2;
	u->cb.playing(u->ctx, u->tracks, u->n_tracks);
}

/* 401: once per challenge; a stale nonce gets another go. */
static void on_unauthorized(rtsp_up *u, const struct rtsp_msg *m, uint64_t now)
{
	struct rtsp_auth_challenge c;

	if (!u->has_creds || rtsp_auth_pick(m, &c) < 0 || (u->auth_sent && !c.stale)) {
		end(u, RTSP_UP_AUTH, 401);
		return;
	}
	if (rtsp_auth_cnonce(u->cnonce) < 0) {
		end(u, RTSP_UP_AUTH, 401);
		return;
	}
	u->ch = c;
	u->have_challenge = true;
	u->auth_sent = true;
	u->nc = 0;
	u->stats.auth_retries++;
	send_current(u, now);
}

static void on_response(rtsp_up *u, const struct rtsp_msg *m, uint64_t now)
{
	if (!u->in_flight || !m->has_cseq || m->cseq != u->cseq) {
		u->stats.stale_responses++;
		return;
	}
	u->in_flight = false;
	u->stats.responses++;
	if (m->status == 401) {
		on_unauthorized(u, m, now);
		return;
	}
	if (m->status >= 300 && m->status < 400) {
		const struct rtsp_str *loc = rtsp_msg_header(m, "Location", NULL);
		if (loc)
			(void)str_to(u->redirect, sizeof(u->redirect), *loc);
		end(u, loc ? RTSP_UP_REDIRECT : RTSP_UP_REFUSED, m->status);
		return;
	}
	bool ok = m->status >= 200 && m->status < 300;
	if (u->have_challenge && ok)
		u->auth_sent = false; /* accepted: a later 401 is a new challenge */
	switch (u->st) {
	case RU_OPTIONS:
		/* Some cameras refuse OPTIONS but play; DESCRIBE decides. */
		if (ok) {
			const struct rtsp_str *p = rtsp_msg_header(m, "Public", NULL);
			u->get_parameter = p && (rtsp_parse_public(*p) & (1u << RTSP_M_GET_PARAMETER));
		}
		go(u, RU_DESCRIBE, now);
		return;
	case RU_PLAYING:
		/* Keepalive: a camera without GET_PARAMETER gets OPTIONS. */
		if (!ok && u->method == RTSP_M_GET_PARAMETER) {
			u->get_parameter = false;
			return;
		}
		if (!ok)
			end(u, RTSP_UP_REFUSED, m->status);
		return;
	case RU_TEARDOWN:
		end(u, RTSP_UP_CLOSED, 0);
		return;
	default:
		break;
	}
	if (!ok) {
		end(u, u->st == RU_SETUP && (m->status == 461 || m->status == 400) ? RTSP_UP_TRANSPORT :
										       RTSP_UP_REFUSED,
		    m->status);
		return;
	}
	if (u->st == RU_DESCRIBE)
		on_describe(u, m, now);
	else if (u->st == RU_SETUP)
		on_setup(u, m, now);
	else if (u->st == RU_PLAY)
		on_play(u, m, now);
}

/* The camera asks us something: keepalives some servers send, else 501. */
static void on_camera_request(rtsp_up *u, const struct rtsp_msg *m)
{
	char resp[256];
	bool ok = m->method == RTSP_M_OPTIONS || m->method == RTSP_M_GET_PARAMETER;
	int n;

	u->stats.camera_requests++;
	if (!m->has_cseq)
		return;
	n = rtsp_write_response(resp, sizeof(resp), ok ? 200 : 501, NULL, m->cseq, NULL, 0, NULL, 0);
	if (n > 0 && out_put(u, resp, (size_t)n))
		flush(u);
}

/* ------------------------------------------------------------ media */

static void deliver(rtsp_up *u, uint8_t channel, const uint8_t *d, size_t len)
{
	uint8_t v = u->chan_track[channel];
	bool rtcp = v & 1;

	if (v == NO_TRACK) {
		u->stats.drop_channel++;
		return;
	}
	if (u->st != RU_PLAYING) {
		u->stats.drop_not_playing++; /* before PLAY's answer, or tearing down */
		return;
	}
	if (rtcp)
		u->stats.rtcp++;
	else
		u->stats.rtp++;
	u->stats.media_bytes += len;
	u->cb.packet(u->ctx, v >> 1, rtcp, d, len);
}

static void on_frame(rtsp_up *u, const struct rtsp_event *ev)
{
	if (ev->off == 0 && ev->end) {
		deliver(u, ev->channel, ev->data, ev->len);
		return;
	}
	if (ev->off == 0) {
		u->flen = 0;
		u->fdrop = u->chan_track[ev->channel] == NO_TRACK;
		if (!u->fdrop && !u->fbuf && !(u->fbuf = malloc(FRAME_MAX)))
			u->fdrop = true;
	}
	if (!u->fdrop && ev->off == u->flen && u->flen + ev->len <= FRAME_MAX) {
		memcpy(u->fbuf + u->flen, ev->data, ev->len);
		u->flen += ev->len;
	} else {
		u->fdrop = true;
	}
	if (!ev->end)
		return;
	if (u->fdrop) {
		if (u->chan_track[ev->channel] == NO_TRACK)
			u->stats.drop_channel++;
		else
			u->stats.drop_no_buffer++;
		return;
	}
	u->stats.reassembled++;
	deliver(u, ev->channel, u->fbuf, u->flen);
}

/* ------------------------------------------------------------ API */

void rtsp_up_start(rtsp_up *u, uint64_t now)
{
	if (u->st != RU_IDLE)
		return;
	u->last_rx = now;
	go(u, RU_OPTIONS, now);
}

void rtsp_up_input(rtsp_up *u, const uint8_t *d, size_t len, uint64_t now)
{
	if (len && u->st != RU_DONE)
		u->last_rx = now;
	while (len && u->st != RU_DONE) {
		struct rtsp_event ev;
		size_t used = 0;
		int rc = rtsp_reader_feed(u->rd, d, len, &used, &ev);
		d += used;
		len -= used;
		if (rc == 0)
			break;
		if (rc < 0) {
			end(u, rc == -ENOMEM ? RTSP_UP_NO_MEMORY : RTSP_UP_PROTOCOL, 0);
			return;
		}
		if (ev.kind == RTSP_EV_FRAME)
			on_frame(u, &ev);
		else if (ev.msg->is_request)
			on_camera_request(u, ev.msg);
		else
			on_response(u, ev.msg, now);
	}
	if (u->st != RU_DONE && rtsp_reader_idle(u->rd))
		rtsp_reader_trim(u->rd);
}

void rtsp_up_writable(rtsp_up *u)
{
	flush(u);
}

void rtsp_up_closed(rtsp_up *u)
{
	end(u, u->st == RU_TEARDOWN ? RTSP_UP_CLOSED : RTSP_UP_EOF, 0);
}

void rtsp_up_timers(rtsp_up *u, uint64_t now)
{
	if (u->st == RU_DONE || u->st == RU_IDLE)
		return;
	/* Times may come from different reads of the clock: never negative. */
	if (u->in_flight && now > u->sent_at && now - u->sent_at >= u->req_timeout) {
		end(u, u->st == RU_TEARDOWN ? RTSP_UP_CLOSED : RTSP_UP_TIMEOUT, 0);
		return;
	}
	if (u->st != RU_PLAYING)
		return;
	if (now > u->last_rx && now - u->last_rx >= u->silence) {
		end(u, RTSP_UP_SILENT, 0);
		return;
	}
	if (!u->in_flight && now >= u->next_keepalive) {
		u->next_keepalive = now + (uint64_t)u->timeout_s * NS / 2;
		u->stats.keepalives++;
		send_current(u, now);
	}
}

void rtsp_up_teardown(rtsp_up *u, uint64_t now)
{
	if (u->st == RU_DONE)
		return;
	if (!u->session[0]) {
		end(u, RTSP_UP_CLOSED, 0);
		return;
	}
	u->in_flight = false; /* a keepalive's answer no longer matters */
	go(u, RU_TEARDOWN, now);
}

int rtsp_up_send_rtcp(rtsp_up *u, unsigned track, const uint8_t *d, size_t len)
{
	uint8_t hdr[RTSP_FRAME_HEADER_LEN];

	if (u->st != RU_PLAYING)
		return -ENOTCONN;
	if (track >= u->n_tracks || !len || len > FRAME_MAX)
		return -EINVAL;
	if (RTSP_FRAME_HEADER_LEN + len > OUT_CAP - u->out_len) {
		u->stats.drop_rtcp_out++;
		return -ENOBUFS;
	}
	rtsp_frame_header(hdr, u->tracks[track].channel[1], (uint16_t)len);
	out_put(u, hdr, sizeof(hdr));
	out_put(u, d, len);
	flush(u);
	return 0;
}

bool rtsp_up_done(const rtsp_up *u)
{
	return u->st == RU_DONE;
}

bool rtsp_up_is_playing(const rtsp_up *u)
{
	return u->st == RU_PLAYING;
}

const char *rtsp_up_sdp(const rtsp_up *u, size_t *len)
{
	if (len)
		*len = u->sdp ? u->sdp_len : 0;
	return u->sdp;
}

const char *rtsp_up_base(const rtsp_up *u)
{
	return u->base[0] ? u->base : u->url;
}

const struct rtsp_up_track *rtsp_up_tracks(const rtsp_up *u, unsigned *n)
{
	*n = u->n_tracks && u->setup_i == u->n_tracks ? u->n_tracks : 0;
	return u->tracks;
}

const char *rtsp_up_redirect(const rtsp_up *u)
{
	return u->redirect;
}

void rtsp_up_get_stats(const rtsp_up *u, struct rtsp_up_stats *out)
{
	*out = u->stats;
}
