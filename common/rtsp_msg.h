/*
 * rtsp_msg: RTSP/1.0 (RFC 2326) message reader and writers, sans-IO.
 *
 * The reader is fed whatever chunks a TCP connection / tunnel stream
 * returns and yields, in order, requests, responses (with their body) and
 * interleaved binary frames ('$', channel, 16-bit length, payload; RFC 2326
 * 10.12) mixed on the same stream. A message or frame split at any byte
 * offset reads the same as a whole one.
 *
 * Limits (struct rtsp_limits): the header block (start line, headers and the
 * blank line) is copied into a buffer of max_header_bytes (plus an array of
 * max_headers views), allocated with the first message and released by
 * rtsp_reader_trim(), so a connection that only carries interleaved frames
 * holds ~200 bytes; headers beyond max_headers and bodies above max_body
 * are refused. Interleaved payloads are never copied: each piece of a frame is
 * reported as a view into the caller's chunk (a frame split across feeds
 * comes as several pieces with their offset in the frame), so the caller
 * forwards it directly. A body is a view into the caller's chunk when it
 * arrived whole in it, otherwise it is copied into a buffer of exactly
 * Content-Length bytes allocated then and kept until rtsp_reader_trim().
 *
 * Policy (docs/rtsp.md): lines end with CRLF or a bare LF (both accepted, a
 * bare CR is refused); empty lines between messages are skipped; header
 * continuation lines (obs-fold) are refused; a NUL anywhere in the header
 * block is refused; no Content-Length means no body. Every refusal is an
 * enum rtsp_err (a drop counter) and leaves the reader in a terminal state:
 * the caller answers (400, 413, 505...) if it wants and closes.
 *
 * Header values are parsed on demand by the rtsp_parse_*() helpers (CSeq
 * and Content-Length are parsed by the reader because framing needs them).
 */
#ifndef SP_RTSP_MSG_H
#define SP_RTSP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTSP_DEFAULT_MAX_HEADER_BYTES 8192u
#define RTSP_DEFAULT_MAX_HEADERS 64u
#define RTSP_DEFAULT_MAX_BODY 65536u
#define RTSP_MAX_HEADER_BYTES_CFG (1u << 20)
#define RTSP_MAX_HEADERS_CFG 4096u
#define RTSP_MAX_BODY_CFG (16u << 20)
#define RTSP_METHOD_MAX 32u          /* an unknown method's name */
#define RTSP_FRAME_HEADER_LEN 4
#define RTSP_MAX_TRANSPORTS 8        /* specs in one Transport header */
#define RTSP_MAX_SESSION_ID 128
#define RTSP_DEFAULT_SESSION_TIMEOUT 60

enum rtsp_method {
	RTSP_M_UNKNOWN = 0, /* see rtsp_msg.method_text */
	RTSP_M_OPTIONS,
	RTSP_M_DESCRIBE,
	RTSP_M_SETUP,
	RTSP_M_PLAY,
	RTSP_M_PAUSE,
	RTSP_M_TEARDOWN,
	RTSP_M_GET_PARAMETER,
	RTSP_M_SET_PARAMETER,
	RTSP_M_ANNOUNCE,
	RTSP_M_RECORD,
	RTSP_M_REDIRECT,
	RTSP_M__COUNT
};

/* Why a byte stream was refused. Names fit a stats label. */
enum rtsp_err {
	RTSP_OK = 0,
	RTSP_ERR_HEADER_TOO_LARGE,  /* header block above max_header_bytes */
	RTSP_ERR_TOO_MANY_HEADERS,  /* more than max_headers header lines */
	RTSP_ERR_NUL,               /* NUL byte in the header block */
	RTSP_ERR_BAD_CHAR,          /* other control byte, or a bare CR */
	RTSP_ERR_BAD_REQUEST_LINE,  /* not "METHOD SP URI SP RTSP/x.y" */
	RTSP_ERR_BAD_STATUS_LINE,   /* not "RTSP/x.y SP 3DIGIT [SP reason]" */
	RTSP_ERR_BAD_VERSION,       /* well-formed but not RTSP/1.0 (answer 505) */
	RTSP_ERR_BAD_HEADER,        /* no colon, empty or non-token name */
	RTSP_ERR_FOLDING,           /* continuation line (obs-fold) */
	RTSP_ERR_BAD_CONTENT_LENGTH,/* not digits only, or overflows */
	RTSP_ERR_DUP_CONTENT_LENGTH,/* two Content-Length that disagree */
	RTSP_ERR_BODY_TOO_LARGE,    /* Content-Length above max_body */
	RTSP_ERR_BAD_CSEQ,          /* CSeq not digits / overflows / disagrees */
	RTSP_ERR__COUNT
};

const char *rtsp_err_name(enum rtsp_err e);
/* "OPTIONS", ...; NULL for RTSP_M_UNKNOWN or out of range. */
const char *rtsp_method_name(enum rtsp_method m);
/* Case-sensitive, as RFC 2326 says methods are. RTSP_M_UNKNOWN if none. */
enum rtsp_method rtsp_method_from(const char *s, size_t len);
/* Standard reason phrase for a status code ("Unknown" if none). */
const char *rtsp_status_reason(unsigned status);

/* A view into the reader's (or the caller's) bytes; not NUL-terminated. */
struct rtsp_str {
	const char *p;
	uint32_t len;
};

struct rtsp_header {
	struct rtsp_str name;
	struct rtsp_str value; /* leading and trailing SP/HT trimmed */
};

/* A message; views valid until the next rtsp_reader_feed() (body: also only
 * while the caller's chunk is unchanged, when it points into it). */
struct rtsp_msg {
	bool is_request;
	/* request */
	enum rtsp_method method;
	struct rtsp_str method_text; /* always set for requests */
	struct rtsp_str uri;
	/* response */
	uint16_t status;
	struct rtsp_str reason;
	uint8_t ver_major, ver_minor;
	uint32_t n_headers;
	const struct rtsp_header *headers;
	bool has_cseq;
	uint32_t cseq;
	bool has_content_length;
	uint32_t content_length;
	const uint8_t *body; /* content_length bytes, NULL when 0 */
	uint32_t body_len;
};

/* First header named name (case-insensitive) at index >= *from; NULL if
 * none. On success *from is set past it, so a loop finds every one. from
 * may be NULL (start at 0). */
const struct rtsp_str *rtsp_msg_header(const struct rtsp_msg *m, const char *name,
				       uint32_t *from);

/* ---- reader ---- */

struct rtsp_limits {
	uint32_t max_header_bytes; /* 0 = default; 64..RTSP_MAX_HEADER_BYTES_CFG */
	uint32_t max_headers;      /* 0 = default; 1..RTSP_MAX_HEADERS_CFG */
	uint32_t max_body;         /* 0 = default; ..RTSP_MAX_BODY_CFG */
};

enum rtsp_ev_kind {
	RTSP_EV_MSG = 1, /* ev->msg: a whole request or response */
	RTSP_EV_FRAME,   /* a piece of an interleaved frame */
};

struct rtsp_event {
	enum rtsp_ev_kind kind;
	const struct rtsp_msg *msg;
	/* FRAME: piece [off, off + len) of a frame of frame_len bytes on
	 * channel; data points into the chunk just fed. A frame of length 0
	 * is one piece of length 0. end: this piece completes the frame. */
	uint8_t channel;
	uint16_t frame_len;
	uint16_t off;
	uint16_t len;
	const uint8_t *data;
	bool end;
};

typedef struct rtsp_reader rtsp_reader;

/* NULL for limits out of range or ENOMEM. lim may be NULL (defaults). */
rtsp_reader *rtsp_reader_new(const struct rtsp_limits *lim);
void rtsp_reader_free(rtsp_reader *r);

/* Consumes bytes from buf. Returns 1 when *ev holds a message or frame
 * piece (*used says how many bytes it took: feed the rest again), 0 when
 * all len bytes were taken and more are needed, -EPROTO when the stream is
 * invalid (rtsp_reader_err() says why; every later call fails the same
 * way), -ENOMEM when the header or split-body buffer cannot be allocated
 * (*used bytes were taken; retry later with the rest). */
int rtsp_reader_feed(rtsp_reader *r, const uint8_t *buf, size_t len, size_t *used,
		     struct rtsp_event *ev);
enum rtsp_err rtsp_reader_err(const rtsp_reader *r);
/* True between messages/frames (nothing partial held). */
bool rtsp_reader_idle(const rtsp_reader *r);
/* Frees the header and body buffers unless a message is half-received
 * (call it on idle connections, after the last event was handled: it ends
 * the views of the last message). */
void rtsp_reader_trim(rtsp_reader *r);
/* Bytes the reader holds now. */
size_t rtsp_reader_footprint(const rtsp_reader *r);

/* ---- header value parsers: 0 or -EINVAL (-ENOSPC: more than max items) ---- */

/* Strict unsigned decimal: digits only, no sign, no overflow of max. */
int rtsp_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out);

/* Session: id [;timeout=N]. timeout is RTSP_DEFAULT_SESSION_TIMEOUT when
 * absent. Unknown parameters are ignored. */
struct rtsp_session_hdr {
	struct rtsp_str id;
	bool has_timeout;
	uint32_t timeout;
};
int rtsp_parse_session(struct rtsp_str v, struct rtsp_session_hdr *out);

enum rtsp_profile { RTSP_PROF_UNKNOWN = 0, RTSP_PROF_AVP, RTSP_PROF_SAVP, RTSP_PROF_AVPF,
		    RTSP_PROF_SAVPF };

/* One transport-spec. Unknown parameters are ignored (RFC 2326 12.39);
 * an unknown protocol/profile is not an error (profile UNKNOWN, the caller
 * skips the spec). Pairs given as one number get b = a + 1. */
struct rtsp_transport {
	enum rtsp_profile profile;
	bool tcp;              /* lower transport TCP (else UDP) */
	bool multicast;        /* else unicast (the default) */
	bool has_interleaved;
	uint8_t interleaved[2];
	bool has_client_port;
	uint16_t client_port[2];
	bool has_server_port;
	uint16_t server_port[2];
	bool has_port;         /* multicast port= */
	uint16_t port[2];
	bool has_ssrc;
	uint32_t ssrc;
	bool has_ttl;
	uint8_t ttl;
	bool record;           /* mode=RECORD (default PLAY) */
	struct rtsp_str destination, source;
};
/* Up to max comma-separated specs into out[], count in *n. */
int rtsp_parse_transport(struct rtsp_str v, struct rtsp_transport *out, size_t max, size_t *n);
/* Formats specs (comma-separated) into out, NUL-terminated. Returns the
 * length, -ENOSPC, or -EINVAL (unknown profile, bad destination/source). */
int rtsp_format_transport(const struct rtsp_transport *t, size_t n, char *out, size_t cap);

/* RTP-Info: url=U[;seq=N][;rtptime=N], ... A comma splits entries only
 * when "url=" follows, so commas inside URLs survive. */
struct rtsp_rtp_info {
	struct rtsp_str url;
	bool has_seq;
	uint16_t seq;
	bool has_rtptime;
	uint32_t rtptime;
};
int rtsp_parse_rtp_info(struct rtsp_str v, struct rtsp_rtp_info *out, size_t max, size_t *n);

/* The "host:port" an rtsp:// (or rtsps://) URL names, for a TCP connect:
 * userinfo dropped, IPv6 literals kept in brackets, port 554 (322 for
 * rtsps) when none. NUL-terminated; the length, -EINVAL (not such a URL,
 * empty host, bad port) or -ENOSPC. */
int rtsp_url_hostport(const char *url, char *out, size_t cap);

/* Public: bit (1u << method) set for each known method listed. */
uint32_t rtsp_parse_public(struct rtsp_str v);

/* ---- writers: return the length written (NUL-terminated, not counted),
 * -ENOSPC if cap is too small, -EINVAL if a field could inject a line (CR,
 * LF, NUL; SP in a URI; non-token method or header name). ---- */

struct rtsp_kv {
	const char *name;
	const char *value;
};

/* method_text is used when m is RTSP_M_UNKNOWN. CSeq, then hdrs, then
 * Content-Length when body_len > 0, then the body. */
int rtsp_write_request(char *out, size_t cap, enum rtsp_method m, const char *method_text,
		       const char *uri, uint32_t cseq, const struct rtsp_kv *hdrs, size_t n,
		       const void *body, size_t body_len);
/* reason NULL: rtsp_status_reason(status). */
int rtsp_write_response(char *out, size_t cap, unsigned status, const char *reason,
			uint32_t cseq, const struct rtsp_kv *hdrs, size_t n, const void *body,
			size_t body_len);
/* '$', channel, length (big-endian). */
void rtsp_frame_header(uint8_t out[RTSP_FRAME_HEADER_LEN], uint8_t channel, uint16_t len);

#endif
