/*
 * tun_frame: the agent tunnel's binary framing (docs/agent-protocol.md) and
 * the per-connection stream bookkeeping, with no I/O.
 *
 * Three pieces, each usable alone:
 *  - tun_frame_encode()/tun_frame_header(): write one frame (or just its
 *    8-byte header, so DATA payloads can go out by iovec without a copy).
 *  - tun_parser: an incremental decoder fed whatever chunks the socket
 *    returns. A frame split at any byte offset parses the same as a whole
 *    one. Every field is validated against its range; a failure is an enum
 *    tun_err (a drop counter) and is always a connection error.
 *  - tun_session: streams, their states and credit windows (like HTTP/2's
 *    per-stream flow control). Local actions fill in the frame the caller
 *    must send; remote frames yield an event, and a violation either closes
 *    one stream (the event carries the CLOSE to send) or the connection
 *    (-EPROTO, the event carries the GOAWAY to send).
 *
 * Memory: the session owns one array of max_streams slots, allocated at
 * creation. The parser is ~100 bytes plus a max_payload reassembly buffer
 * that it allocates the first time a frame arrives split across chunks and
 * keeps until tun_parser_trim() (call it on idle connections): thousands
 * of idle tunnels do not each pin 64 KiB. Nothing is allocated per frame.
 */
#ifndef SP_TUN_FRAME_H
#define SP_TUN_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUN_VERSION 1
#define TUN_HEADER_LEN 8
#define TUN_MAX_PAYLOAD 65535u         /* the wire length field is 16 bits */
#define TUN_MIN_PAYLOAD_CFG 1024u      /* smallest max_payload a peer may use */
#define TUN_MAX_STREAM_ID 0x7fffffffu  /* top bit reserved, must be zero */
#define TUN_MAX_WINDOW 0x7fffffffu     /* windows and increments: 31 bits */
#define TUN_DEFAULT_WINDOW (4u << 20)  /* 4 MiB per stream */
#define TUN_DEFAULT_MAX_STREAMS 64u
#define TUN_MAX_STREAMS_CFG 1024u
#define TUN_TARGET_MAX 255u            /* "host:port" in OPEN */
#define TUN_PING_LEN 8
/* Control-connection frames (stream 0) carry agent_auth messages. */
#define TUN_AUTH_MAX_PAYLOAD 2048u

enum tun_type {
	TUN_DATA = 0x00,
	TUN_OPEN = 0x01,
	TUN_OPEN_OK = 0x02,
	TUN_OPEN_FAIL = 0x03,
	TUN_CLOSE = 0x04,
	TUN_WINDOW_UPDATE = 0x05,
	TUN_PING = 0x06,
	TUN_PONG = 0x07,
	TUN_GOAWAY = 0x08,
	/* Control connection (agent <-> endpoint), stream 0, payload defined
	 * by agent_auth. */
	TUN_AUTH_HELLO = 0x10,
	TUN_AUTH_CHALLENGE = 0x11,
	TUN_AUTH_PROOF = 0x12,
	TUN_AUTH_OK = 0x13,  /* assignment: token + streampoint */
	TUN_AUTH_FAIL = 0x14,
	TUN_SWITCH = 0x15,   /* new assignment, same payload as AUTH_OK */
	TUN_UNREACHABLE = 0x16, /* agent: the assigned streampoint cannot be reached */
};

#define TUN_FLAG_FIN 0x01 /* DATA only: the sender sends nothing more */

/* Reasons carried in OPEN_FAIL, CLOSE, GOAWAY, AUTH_FAIL (u16 on the wire). */
enum tun_reason {
	TUN_R_NONE = 0,            /* normal close / shutdown */
	TUN_R_PROTOCOL = 1,        /* peer broke a rule of this spec */
	TUN_R_FLOW_CONTROL = 2,    /* sent beyond the window, or window overflow */
	TUN_R_STREAM_CLOSED = 3,   /* frame on a stream after it closed */
	TUN_R_REFUSED = 4,         /* OPEN target not in the allow-list */
	TUN_R_CONNECT_FAILED = 5,  /* target refused / unreachable */
	TUN_R_TIMEOUT = 6,         /* connect or idle timeout */
	TUN_R_TOO_MANY_STREAMS = 7,
	TUN_R_FRAME_SIZE = 8,      /* length out of range for the type */
	TUN_R_INTERNAL = 9,
	TUN_R_SHUTDOWN = 10,       /* GOAWAY: draining, reconnect elsewhere */
	TUN_R_AUTH = 11,           /* authentication failed */
	TUN_R_RESET = 12,          /* local service reset the connection */
	TUN_R__COUNT
};

/* Why a byte stream or a frame was refused. Names fit a stats label. */
enum tun_err {
	TUN_OK = 0,
	TUN_ERR_BAD_TYPE,        /* type not defined in this version */
	TUN_ERR_BAD_FLAGS,       /* a flag the type does not define */
	TUN_ERR_BAD_STREAM,      /* reserved bit set, or 0 / non-0 for the type */
	TUN_ERR_TOO_LONG,        /* length above the receiver's max_payload */
	TUN_ERR_BAD_LENGTH,      /* length not allowed for the type */
	TUN_ERR_EMPTY_DATA,      /* DATA with no payload and no FIN */
	TUN_ERR_BAD_WINDOW,      /* window / increment 0 or above 2^31-1 */
	TUN_ERR_BAD_REASON,      /* reason code not defined */
	TUN_ERR_BAD_TARGET,      /* OPEN target not "host:port" */
	TUN_ERR__COUNT
};

const char *tun_err_name(enum tun_err e);
const char *tun_reason_name(enum tun_reason r);
const char *tun_type_name(enum tun_type t);

/* One decoded frame. payload points into the input or the parser's buffer
 * and is valid until the next tun_parser_feed(). Typed fields are filled in
 * for their types only. */
struct tun_frame {
	uint8_t type;
	uint8_t flags;
	uint32_t stream;
	uint32_t len;               /* payload length */
	const uint8_t *payload;
	uint32_t window;            /* OPEN, OPEN_OK: initial window; WINDOW_UPDATE: increment */
	uint16_t reason;            /* OPEN_FAIL, CLOSE, GOAWAY, AUTH_FAIL */
	uint32_t last_stream;       /* GOAWAY */
	const char *target;         /* OPEN: "host:port", not NUL-terminated */
	uint32_t target_len;
	uint8_t ping[TUN_PING_LEN]; /* PING, PONG */
};

/* Writes the 8-byte header. Returns TUN_HEADER_LEN. Does not validate. */
size_t tun_frame_header(uint8_t out[TUN_HEADER_LEN], uint8_t type, uint8_t flags,
			uint32_t stream, uint16_t len);

/* Encodes a whole frame from its typed fields (payload for DATA and the
 * auth types, target for OPEN). Returns the length written, -EINVAL if the
 * frame would not pass the parser, -ENOSPC if cap is too small. */
int tun_frame_encode(const struct tun_frame *f, uint8_t *out, size_t cap);

/* Validates one complete frame's fields (what the parser checks). */
enum tun_err tun_frame_check(const struct tun_frame *f, uint32_t max_payload);

/* "host:port": host is a DNS name / IPv4 (letters, digits, '.', '-', '_')
 * or a bracketed IPv6 literal; port 1..65535, decimal, no leading zero. */
bool tun_target_valid(const char *t, size_t len);

/* ---- incremental parser ---- */

typedef struct tun_parser tun_parser;

/* max_payload: TUN_MIN_PAYLOAD_CFG..TUN_MAX_PAYLOAD. NULL on bad value / ENOMEM. */
tun_parser *tun_parser_new(uint32_t max_payload);
void tun_parser_free(tun_parser *p);

/* Consumes bytes from buf. Returns 1 when *f holds a frame (*used says how
 * many bytes it took; feed the rest again), 0 when all len bytes were taken
 * and more are needed, -EPROTO when the stream is invalid: tun_parser_err()
 * says why and every later call fails the same way. -ENOMEM if the
 * reassembly buffer cannot be allocated (*used bytes were taken; feed the
 * rest again later). */
int tun_parser_feed(tun_parser *p, const uint8_t *buf, size_t len, size_t *used,
		    struct tun_frame *f);
enum tun_err tun_parser_err(const tun_parser *p);
/* True between frames (no partial frame buffered). */
bool tun_parser_idle(const tun_parser *p);
/* Releases the reassembly buffer unless a payload is half-received. */
void tun_parser_trim(tun_parser *p);
/* Bytes the parser holds now (for the memory-per-idle-agent figure). */
size_t tun_parser_footprint(const tun_parser *p);

/* ---- session: streams and credit windows ---- */

typedef struct tun_session tun_session;

struct tun_session_cfg {
	bool opener;             /* spdp: sends OPEN; the agent only accepts */
	uint32_t max_streams;    /* 1..TUN_MAX_STREAMS_CFG; 0 = default */
	uint32_t initial_window; /* our receive window per stream; 0 = default */
	uint32_t max_payload;    /* largest DATA we send; 0 = TUN_MAX_PAYLOAD */
};

enum tun_event_kind {
	TUN_EV_NONE = 0,     /* accounted, nothing for the caller */
	TUN_EV_OPEN,         /* peer asks to open: target; answer accept/refuse */
	TUN_EV_OPENED,       /* our OPEN was accepted: stream writable */
	TUN_EV_OPEN_FAILED,  /* our OPEN was refused: reason; stream gone */
	TUN_EV_DATA,         /* data (and/or fin) for stream */
	TUN_EV_WRITABLE,     /* WINDOW_UPDATE gave stream credit */
	TUN_EV_CLOSED,       /* peer closed stream: reason; stream gone */
	TUN_EV_STREAM_ERROR, /* peer violated a stream rule: send reply (CLOSE) */
	TUN_EV_PING,         /* send reply (PONG) */
	TUN_EV_PONG,
	TUN_EV_GOAWAY,       /* peer drains: no new OPEN; last_stream, reason */
	TUN_EV_CONTROL,      /* stream-0 auth/assignment frame, for agent_auth */
	TUN_EV_CONN_ERROR,   /* returned with -EPROTO: send reply (GOAWAY), close */
};

struct tun_event {
	enum tun_event_kind kind;
	uint32_t stream;
	uint16_t reason;
	bool fin;
	const uint8_t *data; /* DATA payload (view of the frame) */
	uint32_t len;
	const char *target;  /* OPEN */
	uint32_t target_len;
	uint32_t last_stream;
	bool has_reply;      /* reply must be encoded and sent */
	struct tun_frame reply;
};

tun_session *tun_session_new(const struct tun_session_cfg *cfg);
void tun_session_free(tun_session *s);

/* Applies one parsed frame from the peer. Returns 0 (see ev) or -EPROTO for
 * a connection error (ev->kind TUN_EV_CONN_ERROR, ev->reply the GOAWAY). */
int tun_session_on_frame(tun_session *s, const struct tun_frame *f, struct tun_event *ev);

/* Local actions. Each fills *send with the frame to send now. */
/* Opener only. -EPERM if not the opener, -ESHUTDOWN after GOAWAY either
 * way, -ENOSPC if max_streams are live or the id space is spent, -EINVAL
 * for a bad target. */
int tun_session_open(tun_session *s, const char *target, size_t target_len,
		     uint32_t *stream, struct tun_frame *send);
int tun_session_accept(tun_session *s, uint32_t stream, struct tun_frame *send);
int tun_session_refuse(tun_session *s, uint32_t stream, enum tun_reason reason,
		       struct tun_frame *send);
/* Aborts a stream (CLOSE). The slot is freed at once. */
int tun_session_close(tun_session *s, uint32_t stream, enum tun_reason reason,
		      struct tun_frame *send);
/* Asks to send up to want bytes (and FIN once they are all allowed). On
 * success *allowed bytes (<= max_payload, <= window) may follow the DATA
 * header in *send (send->len == *allowed, payload left NULL). -EAGAIN when
 * the window is 0 (wait for TUN_EV_WRITABLE), -EPIPE after FIN/close,
 * -ENOENT for an unknown stream. A stream that has sent and received FIN is
 * freed. */
int tun_session_send(tun_session *s, uint32_t stream, size_t want, bool fin,
		     size_t *allowed, struct tun_frame *send);
/* The application took n received bytes off stream. Returns 1 and fills
 * *send with a WINDOW_UPDATE when enough credit is due (half the initial
 * window), 0 when nothing needs sending, -EINVAL if n exceeds what was
 * received and not yet consumed, -ENOENT once the stream is gone (closed,
 * or FIN both ways: ignore it then, no credit is owed). */
int tun_session_consumed(tun_session *s, uint32_t stream, size_t n, struct tun_frame *send);
int tun_session_goaway(tun_session *s, enum tun_reason reason, struct tun_frame *send);
/* PING with an 8-byte opaque built from seq. */
void tun_session_ping(tun_session *s, uint64_t seq, struct tun_frame *send);

/* Inspection (tests, spctl). */
unsigned tun_session_live(const tun_session *s);
/* Credit we may still send on stream / the peer may still send us; -1 if no such stream. */
int64_t tun_session_send_window(const tun_session *s, uint32_t stream);
int64_t tun_session_recv_window(const tun_session *s, uint32_t stream);
/* Violations seen so far per enum tun_reason (drop counters). */
uint64_t tun_session_violations(const tun_session *s, enum tun_reason r);

#endif
