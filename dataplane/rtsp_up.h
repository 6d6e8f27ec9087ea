/*
 * rtsp_up: the RTSP 1.0 client (RFC 2326) that pulls one camera, sans-IO.
 *
 * One upstream session over one byte stream that the caller owns (an
 * agent tunnel stream, tunnel_stream_open(), or a TCP connection):
 *
 *   OPTIONS -> DESCRIBE (401: again with Basic/Digest, once per challenge)
 *   -> SETUP each audio/video track, TCP interleaved, channels 2i/2i+1
 *   -> PLAY -> playing: keepalive at half the session timeout
 *      (GET_PARAMETER when the camera lists it in Public, else OPTIONS)
 *   -> TEARDOWN when the caller is done.
 *
 * Interleaved frames come out whole, as RTP or RTCP of a track, straight
 * from the caller's bytes when a frame arrived in one piece; a frame split
 * across reads is put together in one buffer (64 KiB, allocated the first
 * time a frame is split). Frames on channels we did not set up are
 * counted and dropped, as are frames outside playing. Requests the camera sends us are answered (200 for
 * OPTIONS / GET_PARAMETER, 501 otherwise).
 *
 * The session ends with `ended` exactly once (the camera refused, asked for
 * credentials we do not have or rejected them, redirected, went silent,
 * broke the protocol, closed; or our TEARDOWN was answered). Reconnecting,
 * and its backoff, is the caller's. Credentials are copied, used only to
 * compute Authorization headers, never logged, and wiped on free.
 *
 * Callbacks run inside rtsp_up_* calls; the caller must not free the
 * session inside one (free it after the call returns, rtsp_up_done()).
 */
#ifndef SP_DP_RTSP_UP_H
#define SP_DP_RTSP_UP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sdp.h"

#define RTSP_UP_URL_MAX 512
#define RTSP_UP_CRED_MAX 128
#define RTSP_UP_ENC_MAX 32
#define RTSP_UP_MAX_TRACKS SDP_MAX_MEDIA

enum rtsp_up_end {
	RTSP_UP_CLOSED = 0,  /* TEARDOWN answered (or nothing to tear down) */
	RTSP_UP_EOF,         /* the camera closed the stream */
	RTSP_UP_REFUSED,     /* a request failed with a status (status says which) */
	RTSP_UP_AUTH,        /* 401 without usable credentials, or they were rejected */
	RTSP_UP_REDIRECT,    /* 3xx with a Location: rtsp_up_redirect() */
	RTSP_UP_NO_TRACKS,   /* the SDP does not parse or has no audio/video RTP track */
	RTSP_UP_TRANSPORT,   /* the camera would not do TCP interleaved */
	RTSP_UP_PROTOCOL,    /* bad bytes (rtsp_up_reader_err()), or an answer that makes no sense */
	RTSP_UP_TIMEOUT,     /* no answer to a request in time */
	RTSP_UP_SILENT,      /* playing, but nothing came for silence_ns */
	RTSP_UP_IO,          /* send failed, or our output backed up */
	RTSP_UP_NO_MEMORY,
	RTSP_UP__COUNT
};
const char *rtsp_up_end_name(enum rtsp_up_end e);

struct rtsp_up_cfg {
	const char *url;          /* rtsp://host[:port]/path, as the camera sees it */
	const char *user, *pass;  /* NULL: none */
	const char *user_agent;   /* NULL: "streampoint" */
	uint64_t request_timeout_ns; /* 0: 10 s */
	uint64_t silence_ns;      /* playing with no bytes at all this long: ended; 0: 10 s */
	bool audio;               /* SETUP audio tracks too (video always) */
};

/* A track being pulled. */
struct rtsp_up_track {
	enum sdp_media_type type;
	uint8_t pt;                   /* the first payload type of the m= line */
	char encoding[RTSP_UP_ENC_MAX]; /* rtpmap encoding ("H264"), "" when none */
	uint32_t clock;
	uint8_t channel[2];           /* interleaved RTP, RTCP (as the camera answered) */
	bool has_ssrc;
	uint32_t ssrc;
	bool has_rtp_info;            /* PLAY's RTP-Info named this track */
	uint16_t seq;
	uint32_t rtptime;
	uint8_t media_index;          /* its m= section in the SDP */
	char url[RTSP_UP_URL_MAX];    /* its control URL */
};

struct rtsp_up_cb {
	/* Bytes to the camera. Returns how many it took (short: call
	 * rtsp_up_writable() when there is room), or < 0: the stream failed. */
	ssize_t (*send)(void *ctx, const void *d, size_t len);
	/* PLAY answered: media flows from now on. */
	void (*playing)(void *ctx, const struct rtsp_up_track *tracks, unsigned n);
	/* One RTP or RTCP packet of track (whole, as the camera framed it). */
	void (*packet)(void *ctx, unsigned track, bool rtcp, const uint8_t *d, size_t len);
	/* Exactly once. status: the RTSP status for REFUSED / AUTH / REDIRECT, else 0. */
	void (*ended)(void *ctx, enum rtsp_up_end why, unsigned status);
};

struct rtsp_up_stats {
	uint64_t requests, responses, auth_retries, keepalives;
	uint64_t rtp, rtcp, media_bytes;
	uint64_t reassembled;     /* frames that arrived split */
	uint64_t drop_channel;    /* frames on a channel we did not set up */
	uint64_t drop_no_buffer;  /* split frames with no reassembly buffer */
	uint64_t drop_not_playing; /* frames before PLAY was answered, or after TEARDOWN */
	uint64_t drop_rtcp_out;   /* our RTCP with no room in the output */
	uint64_t stale_responses; /* answers with a CSeq we are not waiting for */
	uint64_t camera_requests; /* requests the camera sent us */
};

typedef struct rtsp_up rtsp_up;

/* NULL: EINVAL (url not rtsp://, a field too long or with control
 * characters, a callback missing) or ENOMEM. Nothing is sent yet. */
rtsp_up *rtsp_up_new(const struct rtsp_up_cfg *cfg, const struct rtsp_up_cb *cb, void *ctx);
void rtsp_up_free(rtsp_up *u);

/* The stream is connected: OPTIONS goes out. */
void rtsp_up_start(rtsp_up *u, uint64_t now_ns);
/* Bytes from the camera; all of them are consumed. */
void rtsp_up_input(rtsp_up *u, const uint8_t *d, size_t len, uint64_t now_ns);
/* The stream has room again after a short send. */
void rtsp_up_writable(rtsp_up *u);
/* The camera closed the stream (or it failed): ended(EOF) unless ended. */
void rtsp_up_closed(rtsp_up *u);
/* Request deadlines, keepalive, silence. Call at least every second. */
void rtsp_up_timers(rtsp_up *u, uint64_t now_ns);
/* Done with it: TEARDOWN if a session exists, ended(CLOSED) when answered
 * (or at once when there is nothing to tear down). */
void rtsp_up_teardown(rtsp_up *u, uint64_t now_ns);
/* Our RTCP (PLI, FIR, receiver reports) to the camera on track's RTCP
 * channel. 0, -ENOTCONN (not playing), -EINVAL (track, size), -ENOBUFS
 * (output full: dropped, counted). */
int rtsp_up_send_rtcp(rtsp_up *u, unsigned track, const uint8_t *d, size_t len);

bool rtsp_up_done(const rtsp_up *u);
bool rtsp_up_is_playing(const rtsp_up *u);
/* The DESCRIBE answer's SDP (NUL-terminated; NULL before) and its base URL. */
const char *rtsp_up_sdp(const rtsp_up *u, size_t *len);
const char *rtsp_up_base(const rtsp_up *u);
/* The tracks (set up ones; valid from `playing` until free). */
const struct rtsp_up_track *rtsp_up_tracks(const rtsp_up *u, unsigned *n);
/* After ended(REDIRECT): the Location, else "". */
const char *rtsp_up_redirect(const rtsp_up *u);
void rtsp_up_get_stats(const rtsp_up *u, struct rtsp_up_stats *out);

#endif
