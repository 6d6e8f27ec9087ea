/*
 * sdp: SDP (RFC 4566) as RTSP cameras send it in DESCRIBE answers, and the
 * rewrite our RTSP server sends its viewers. No I/O, no allocation: the
 * parser fills a struct sdp of views into the caller's text, which must
 * outlive it.
 *
 * What is parsed: v= (must be the first line, 0), o=, s=, session and media
 * c= and b=AS, session a=control and a=range, and per m= section: media
 * type, port[/n], proto, fmt list, a=rtpmap, a=fmtp, a=control,
 * a=framerate and the direction attributes. Other lines and attributes are
 * kept in the text (the writer copies them) but not interpreted. Lines end
 * with CRLF or LF; blank lines are skipped.
 *
 * Limits: SDP_MAX_TEXT bytes, SDP_MAX_LINE per line, SDP_MAX_MEDIA m=
 * sections, SDP_MAX_ATTRS a= lines per section, SDP_MAX_FMTS formats per
 * m=, SDP_MAX_MAPS rtpmap / fmtp lines per section. Going past one is an
 * error (enum sdp_err), as is a malformed line this module interprets;
 * malformed lines it does not interpret are kept as they are.
 */
#ifndef SP_SDP_H
#define SP_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDP_MAX_TEXT 65536u
#define SDP_MAX_LINE 4096u
#define SDP_MAX_MEDIA 8u
#define SDP_MAX_ATTRS 64u
#define SDP_MAX_FMTS 16u
#define SDP_MAX_MAPS 16u

enum sdp_err {
	SDP_OK = 0,
	SDP_ERR_TOO_LARGE,      /* text above SDP_MAX_TEXT */
	SDP_ERR_LINE_TOO_LONG,  /* a line above SDP_MAX_LINE */
	SDP_ERR_BAD_CHAR,       /* NUL or other control byte (HT allowed) */
	SDP_ERR_BAD_LINE,       /* not "<letter>=..." */
	SDP_ERR_BAD_VERSION,    /* first line not v=0 */
	SDP_ERR_TOO_MANY_MEDIA,
	SDP_ERR_TOO_MANY_ATTRS,
	SDP_ERR_TOO_MANY_FMTS,
	SDP_ERR_TOO_MANY_MAPS,
	SDP_ERR_BAD_MEDIA,      /* m= not "type port[/n] proto fmt..." */
	SDP_ERR_BAD_CONNECTION, /* c= not "IN IP4|IP6 addr" */
	SDP_ERR_BAD_BANDWIDTH,  /* b=AS: not a number */
	SDP_ERR_BAD_RTPMAP,     /* not "pt enc/clock[/channels]" */
	SDP_ERR_BAD_FMTP,       /* not "pt params" */
	SDP_ERR__COUNT
};

const char *sdp_err_name(enum sdp_err e);

struct sdp_str {
	const char *p;
	uint32_t len;
};

enum sdp_media_type { SDP_MEDIA_OTHER = 0, SDP_MEDIA_VIDEO, SDP_MEDIA_AUDIO,
		      SDP_MEDIA_APPLICATION };
enum sdp_dir { SDP_DIR_UNSET = 0, SDP_DIR_SENDRECV, SDP_DIR_SENDONLY, SDP_DIR_RECVONLY,
	       SDP_DIR_INACTIVE };

struct sdp_rtpmap {
	uint8_t pt;
	struct sdp_str encoding; /* "H264", "H265", "MPEG4-GENERIC", "PCMA", ... */
	uint32_t clock;
	uint8_t channels;        /* 0 when not given */
};

struct sdp_fmtp {
	uint8_t pt;
	struct sdp_str params;   /* raw "a=b; c=d" */
};

struct sdp_media {
	enum sdp_media_type type;
	struct sdp_str type_text;
	uint16_t port, nports;   /* nports 1 unless "port/n" */
	struct sdp_str proto;    /* "RTP/AVP", ... */
	bool rtp;                /* proto is RTP/...: fmts[] are payload types */
	uint8_t n_fmts;
	uint8_t fmts[SDP_MAX_FMTS];
	struct sdp_str fmt_text; /* the fmt list as written */
	struct sdp_str conn;     /* c= address, may be empty */
	bool has_bw_as;
	uint32_t bw_as;          /* kbit/s */
	struct sdp_str control;
	struct sdp_str framerate;
	enum sdp_dir dir;
	uint8_t n_rtpmap, n_fmtp;
	uint16_t n_attrs;
	struct sdp_rtpmap rtpmap[SDP_MAX_MAPS];
	struct sdp_fmtp fmtp[SDP_MAX_MAPS];
};

struct sdp {
	struct sdp_str origin;   /* o= value */
	struct sdp_str name;     /* s= value */
	struct sdp_str conn;     /* session c= address */
	bool has_bw_as;
	uint32_t bw_as;
	struct sdp_str control;  /* session a=control */
	struct sdp_str range;    /* a=range value, e.g. "npt=0-" */
	enum sdp_dir dir;
	uint16_t n_attrs;
	uint8_t n_media;
	struct sdp_media media[SDP_MAX_MEDIA];
};

enum sdp_err sdp_parse(const char *text, size_t len, struct sdp *out);

/* rtpmap / fmtp for a payload type in a section; NULL if none. */
const struct sdp_rtpmap *sdp_rtpmap_find(const struct sdp_media *m, uint8_t pt);
const struct sdp_fmtp *sdp_fmtp_find(const struct sdp_media *m, uint8_t pt);
/* Value of key in "a=b; c=d" fmtp params (key case-insensitive). 0 or -ENOENT. */
int sdp_fmtp_param(struct sdp_str params, const char *key, struct sdp_str *val);

/* Parameter sets of a H.264 (sprop-parameter-sets) or H.265 (sprop-vps,
 * sprop-sps, sprop-pps) payload type, base64-decoded and written as
 * Annex B NAL units (00 00 00 01 before each) into out. Returns the
 * length, -ENOENT when the fmtp has none, -EINVAL for bad base64,
 * -ENOSPC. */
int sdp_h264_sprops(const struct sdp_media *m, uint8_t pt, uint8_t *out, size_t cap);
int sdp_h265_sprops(const struct sdp_media *m, uint8_t pt, uint8_t *out, size_t cap);

/*
 * The URL to SETUP a track: control resolved against base, which is the
 * Content-Base of the DESCRIBE answer if it had one (then Content-Location),
 * else the request URL. control empty or "*": base itself; absolute
 * ("scheme://"): control; "/path": base's scheme and authority + control;
 * otherwise base + "/" + control (what ffmpeg and live555 do, not RFC 3986
 * which would drop base's last segment). NUL-terminated; returns the length
 * or -ENOSPC, -EINVAL when base is not an rtsp/rtsps/rtspu URL.
 */
int sdp_control_url(const char *base, size_t blen, const char *control, size_t clen, char *out,
		    size_t cap);

/* How sdp_write_proxy() rewrites. */
struct sdp_proxy_opts {
	uint64_t sess_id, sess_version;
	const char *origin_addr;  /* IPv4 for o=; NULL: 0.0.0.0 */
	const char *session_name; /* NULL: keep s= */
};

/*
 * Rewrites a camera's SDP for our viewers: o= becomes "- id version IN IP4
 * addr", every c= becomes "IN IP4 0.0.0.0" (one is added at session level
 * if the camera had none), session a=control becomes "*", each media's
 * a=control becomes "trackID=N" (N = section index from 0; added when
 * missing); every other line is copied as it was, with CRLF endings.
 * Returns the length (NUL-terminated), or -EINVAL (text does not parse,
 * *err says why, or an option would inject a line), -ENOSPC.
 */
int sdp_write_proxy(const char *text, size_t len, const struct sdp_proxy_opts *o, char *out,
		    size_t cap, enum sdp_err *err);

#endif
