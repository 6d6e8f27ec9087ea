/*
 * msg: the catalogue of ring messages between spcp and spdp.
 * docs/ring-messages.md is the human copy of this table; keep them in step.
 *
 * Payloads are fixed-layout structs of fixed-width fields in host byte order
 * (both processes run on one host). A receiver accepts versions 1..current of
 * a type; a later version may only append fields, so min_len stays valid.
 * msg_check() is the one gate every dequeued message passes before a
 * handler sees it; msg_read() copies a payload into its struct (zero-filling
 * fields an older sender did not send) so handlers never parse in place
 * memory the peer can still write.
 */
#ifndef SP_MSG_H
#define SP_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "ring.h"
#include "shm-t.h"
#include "stats.h"

enum msg_type {
	MSG_HELLO = 1,         /* spcp -> spdp main: a control plane attached */
	MSG_HELLO_ACK = 2,     /* spdp main -> spcp */
	MSG_PING = 3,          /* spcp -> spdp main or worker: heartbeat */
	MSG_PONG = 4,          /* spdp main or worker -> spcp */
	MSG_SET_LOG_LEVEL = 5, /* spcp -> spdp main */
	MSG_CMD_ERROR = 6,     /* spdp -> spcp: a command was refused */
	MSG_EXC_PACKET = 7,    /* exception packet, either direction */
	MSG_FLOW_ADD = 8,      /* spcp -> worker: create a flow */
	MSG_FLOW_DEL = 9,      /* spcp -> worker */
	MSG_SUB_ADD = 10,      /* spcp -> worker: add a subscriber to a flow */
	MSG_SUB_DEL = 11,      /* spcp -> worker */
	MSG_FLOW_EVENT = 12,   /* worker -> spcp: result of the above, removals */
	MSG_FLOW_DUMP = 13,    /* spcp -> worker: report every flow and subscriber */
	MSG_SRTP_REKEY = 14,   /* spcp -> worker: new master key for a flow's or subscriber's legs */
	MSG_TURN_EFFECT = 15,  /* spcp -> worker: install/refresh/remove TURN relay state */
	MSG_TURN_EVENT = 16,   /* worker -> spcp: result of a TURN effect, spontaneous removals */
	MSG_TURN_DUMP = 17,    /* spcp -> worker: report every TURN allocation, permission, channel */
	MSG_TURN_STATE = 18,   /* worker -> spcp: one record of a TURN dump */
	MSG_TUNNEL_CMD = 19,   /* spcp -> worker: agent tunnel forward listener, replace a tunnel */
	MSG_TUNNEL_EVENT = 20, /* worker -> spcp: tunnel up/down, forward listening/failed/closed */
	MSG_RTSP_PULL = 21,    /* spcp -> worker: pull a camera over RTSP through its tunnel into flows */
	MSG_RTSP_EVENT = 22,   /* worker -> spcp: a pull started, plays, ended, stopped, failed */
	MSG__COUNT
};

#define MSG_PROTO_VERSION 1u

struct msg_hello {
	int32_t cp_pid;
	uint32_t proto_version;
	uint64_t attach_count; /* spcp echoes the count it was told at attach */
};

struct msg_hello_ack {
	int32_t dp_pid;
	uint32_t proto_version;
	uint32_t n_workers;
	uint32_t reserved;
	uint64_t dp_start_real_ns;
};

struct msg_ping {
	uint64_t seq;
	uint64_t sent_ns; /* CLOCK_MONOTONIC at spcp */
};

struct msg_pong {
	uint64_t seq;
	uint64_t sent_ns;   /* echoed */
	uint64_t recv_ns;   /* CLOCK_MONOTONIC at spdp */
	uint32_t worker;    /* UINT32_MAX: spdp main */
	uint32_t reserved;
};

struct msg_set_log_level {
	uint32_t level; /* LOG_LVL_ERR..LOG_LVL_DEBUG */
	uint32_t reserved;
};

struct msg_cmd_error {
	uint32_t cmd_type;
	int32_t error; /* negative errno */
	uint64_t cmd_seq;
};

/* Followed by payload_len bytes of packet. Addresses in network order.
 * Up (exception-up ring): a packet the fast path passes to spcp. Down (the
 * worker's command ring, or exception-down): a packet spcp wants sent to
 * remote_addr:remote_port from the worker socket bound to local_addr:
 * local_port (socket_id, echoed from the packet it answers, is a hint). */
struct msg_exc_packet {
	uint32_t worker;
	uint32_t socket_id;    /* which spdp socket it came in on / must leave from */
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t proto;         /* IPPROTO_UDP or IPPROTO_TCP */
	uint16_t local_port;   /* network order */
	uint16_t remote_port;  /* network order */
	uint16_t flags;        /* MSG_EXC_F_*; was reserved (always 0) */
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	uint32_t payload_len;
	/* Down only: send the packet only while the worker holds this TURN
	 * allocation (an Allocate's success response must not reach a client
	 * whose relay could not be installed: the client retransmits and gets
	 * a fresh allocation). 0: unconditional. Was reserved (always 0). */
	uint32_t alloc_id;
};
#define MSG_EXC_MAX_PAYLOAD 65535u
#define MSG_EXC_F_TLS 1u   /* proto TCP: the connection speaks TLS (TURN over TLS, 5349) */

/* Flow and subscriber identifiers are chosen by spcp, unique per spdp. */
#define MSG_FLOW_F_RTCP_MUX 1u   /* camera sends RTCP on the RTP port */
#define MSG_FLOW_F_LATCH 2u      /* accept the first source that sends (no source given) */
#define MSG_FLOW_F_PINNED_PORT 4u /* rtp_port is the port to bind, not 0 = any */
#define MSG_FLOW_F_INGEST 8u     /* the source is in spdp (an RTSP pull): nothing from the network */

enum msg_codec { MSG_CODEC_H264 = 0, MSG_CODEC_H265 = 1, MSG_CODEC_OTHER = 2 };

/* An SDES-style SRTP master key for one leg (docs/srtp.md). Travels only on
 * command rings; the worker wipes its copies and the ring slot after use. */
struct msg_srtp_key {
	uint8_t suite;       /* 0: plain RTP; otherwise enum srtp_leg_suite + 1 */
	uint8_t master_len;  /* must equal srtp_leg_master_len(suite - 1) */
	uint16_t window;     /* replay window in packets; 0: the default */
	uint32_t reserved;
	uint8_t master[48];  /* key || salt */
};

/* A message that ends before srtp_rx (no keys) is a plain flow. */
struct msg_flow_add {
	uint64_t seq;        /* echoed in the flow event */
	uint32_t flow_id;
	uint32_t flags;      /* MSG_FLOW_F_* */
	uint32_t ssrc;       /* accept only this SSRC when ssrc_filter */
	uint8_t ssrc_filter;
	uint8_t codec;       /* enum msg_codec: how to find keyframes */
	uint16_t rtp_port;   /* host order; 0: allocate from the media range */
	struct sp_addr source; /* camera RTP source; family 0 with MSG_FLOW_F_LATCH */
	struct msg_srtp_key srtp_rx; /* the camera's key: unprotects its SRTP/SRTCP */
	struct msg_srtp_key srtp_tx; /* protects SRTCP we send upstream; suite 0: srtp_rx's key */
};

struct msg_flow_del {
	uint64_t seq;
	uint32_t flow_id;
	uint32_t reserved;
};

#define MSG_SUB_F_RTCP_MUX 1u    /* subscriber takes RTCP on its RTP address */

struct msg_sub_add {
	uint64_t seq;
	uint32_t flow_id;
	uint32_t sub_id;
	uint32_t flags;      /* MSG_SUB_F_* */
	uint32_t reserved;
	struct sp_addr rtp;  /* where RTP goes */
	struct sp_addr rtcp; /* where RTCP goes (ignored with RTCP_MUX) */
	/* Optional (a message may end before them): the key we protect with
	 * towards the viewer (suite 0:
	 * plain; the flow's own key: passthrough), and the viewer's key for
	 * its SRTCP feedback (suite 0: the same as srtp_tx). */
	struct msg_srtp_key srtp_tx;
	struct msg_srtp_key srtp_rx;
};

#define MSG_REKEY_RX 1u  /* the leg that unprotects what the peer sends */
#define MSG_REKEY_TX 2u  /* the leg that protects what we send to the peer */

struct msg_srtp_rekey {
	uint64_t seq;
	uint32_t flow_id;
	uint32_t sub_id;     /* 0: the flow's source legs */
	uint8_t mode;        /* enum srtp_leg_rekey_mode */
	uint8_t which;       /* MSG_REKEY_* bits */
	uint16_t reserved;
	uint32_t reserved2;
	struct msg_srtp_key key; /* same suite as the leg's */
};

struct msg_flow_dump {
	uint64_t seq;
};

struct msg_sub_del {
	uint64_t seq;
	uint32_t flow_id;
	uint32_t sub_id;
};

enum msg_flow_event_kind {
	FLOW_EV_ADDED = 1,       /* flow created: ports in rtp_port/rtcp_port */
	FLOW_EV_REMOVED = 2,     /* flow deleted (by command) */
	FLOW_EV_SUB_ADDED = 3,
	FLOW_EV_SUB_REMOVED = 4, /* by command, or reason below */
	FLOW_EV_FAILED = 5,      /* a command was refused: error says why */
	FLOW_EV_LATCHED = 6,     /* a latching flow accepted its source */
	FLOW_EV_DUMP_DONE = 7,   /* end of a worker's answer to MSG_FLOW_DUMP */
	FLOW_EV_REKEYED = 8,     /* MSG_SRTP_REKEY applied */
	FLOW_EV_KEY_EXPIRED = 9, /* the flow's source key ran out: forwarding stopped until rekeyed */
	FLOW_EV__MAX = 9,
};

enum msg_sub_removed_reason {
	SUB_RM_COMMAND = 0,
	SUB_RM_SEND_ERRORS = 1,  /* ICMP unreachable and the like, past the limit */
	SUB_RM_RTCP_TIMEOUT = 2, /* no RTCP from the viewer for rtcp_timeout_ms */
	SUB_RM_FLOW_REMOVED = 3,
	SUB_RM_KEY_EXPIRED = 4,  /* its SRTP key lifetime ran out */
};

/* How a subscriber's packets are made (reported in SUB_ADDED events). */
enum msg_sub_mode {
	SUB_MODE_PLAIN = 0,       /* plain flow, plain subscriber: zero copy */
	SUB_MODE_TERMINATE = 1,   /* SRTP flow, plain subscriber: decrypted once at ingest */
	SUB_MODE_PASSTHROUGH = 2, /* subscriber shares the camera's SRTP parameters */
	SUB_MODE_PROTECT = 3,     /* subscriber's own key: one encryption per packet */
};

struct msg_flow_event {
	uint64_t seq;        /* the command's, 0 for spontaneous events */
	uint32_t kind;       /* enum msg_flow_event_kind */
	uint32_t flow_id;
	uint32_t sub_id;
	int32_t error;       /* -errno with FLOW_EV_FAILED */
	uint32_t reason;     /* enum msg_sub_removed_reason */
	uint16_t rtp_port;   /* host order */
	uint16_t rtcp_port;
	uint32_t worker;
	uint32_t flags;      /* the flow's or subscriber's MSG_*_F_* (in dumps) */
	struct sp_addr source; /* flow source (latched or configured); sub: RTP address */
	struct sp_addr rtcp;   /* sub: RTCP address (in dumps) */
	uint8_t mode;          /* sub: enum msg_sub_mode */
	uint8_t srtp_suite;    /* flow: msg_srtp_key.suite of its source (0: plain) */
	uint16_t reserved;
	uint32_t reserved2;
};

/* ---- TURN (docs/turn.md "spcp and spdp") ---- */

/* The effects of controlplane/turn_server.h, one ring command each; the
 * values are enum turn_effect_type's (spcp checks that they match). */
enum msg_turn_effect_type {
	MSG_TURN_ALLOC_INSTALL = 1, /* client 5-tuple, relay (+relay6), expiry, bandwidth, DF */
	MSG_TURN_ALLOC_REFRESH = 2, /* new expiry */
	MSG_TURN_ALLOC_REMOVE = 3,  /* with every permission and channel */
	MSG_TURN_PERM_INSTALL = 4,  /* install or refresh: peer IP (port 0), expiry */
	MSG_TURN_PERM_REMOVE = 5,
	MSG_TURN_CHANNEL_INSTALL = 6, /* install or refresh: channel <-> peer IP:port, expiry */
	MSG_TURN_CHANNEL_REMOVE = 7,
	MSG_TURN__MAX = 7,
};

/* Client-side transport of the 5-tuple (enum turn_transport). */
enum msg_turn_transport { MSG_TURN_TP_UDP = 0, MSG_TURN_TP_TCP = 1, MSG_TURN_TP_TLS = 2 };

/* An allocation's owner: opaque bytes spcp attaches at install (it puts
 * the USERNAME of the Allocate there) and spdp hands back in dumps, so a
 * restarted spcp knows whose allocation it is. */
#define MSG_TURN_OWNER_MAX 255u

struct msg_turn_effect {
	uint64_t seq;          /* echoed in the event that answers it */
	uint8_t type;          /* enum msg_turn_effect_type */
	uint8_t dont_fragment; /* ALLOC_INSTALL: 0 or 1 */
	uint16_t channel;      /* CHANNEL_*: 0x4000-0x4FFF (to 0x7FFF: RFC 5766 range) */
	uint32_t alloc_id;     /* never 0 */
	uint64_t expiry_ns;    /* CLOCK_MONOTONIC (both processes share it) */
	uint64_t bandwidth_bps; /* ALLOC_INSTALL: per-direction cap, 0: none */
	struct sp_addr client; /* ALLOC_INSTALL: the client's transport address */
	struct sp_addr server; /* ALLOC_INSTALL: the listener it talks to */
	uint8_t transport;     /* enum msg_turn_transport */
	uint8_t reserved[7];
	struct sp_addr relay;  /* ALLOC_INSTALL: relayed address to bind (IPv4, or the only one) */
	struct sp_addr relay6; /* ALLOC_INSTALL: second relayed address of a dual allocation */
	struct sp_addr peer;   /* PERM_*: IP, port 0; CHANNEL_*: IP and port */
	/* Version 2: ALLOC_INSTALL's owner. The message ends after owner_len
	 * bytes of owner (a version 1 message, or one without an owner, ends
	 * before owner_len: no owner). */
	uint16_t owner_len;    /* <= MSG_TURN_OWNER_MAX */
	uint8_t reserved2[6];
	char owner[MSG_TURN_OWNER_MAX];
};
#define MSG_TURN_EFFECT_V1_LEN 160u
/* Bytes of a turn_effect carrying `owner_len` bytes of owner. */
#define MSG_TURN_EFFECT_LEN(owner_len) \
	((uint32_t)offsetof(struct msg_turn_effect, owner) + (uint32_t)(owner_len))

/* spcp -> worker: answer with every allocation as MSG_TURN_STATE records
 * (the effects that would rebuild it: ALLOC_INSTALL with its owner, then
 * PERM_INSTALL and CHANNEL_INSTALL of each permission and channel, every
 * record with the dump's seq), then TURN_EV_DUMP_DONE. */
struct msg_turn_dump {
	uint64_t seq;
};

enum msg_turn_event_kind {
	TURN_EV_INSTALLED = 1, /* ALLOC_INSTALL done: relay ports bound */
	TURN_EV_FAILED = 2,    /* an effect could not be applied: error, effect_type say why */
	TURN_EV_EXPIRED = 3,   /* spdp removed an allocation whose expiry passed */
	TURN_EV_CLOSED = 4,    /* spdp removed a TCP/TLS allocation: its client connection closed */
	TURN_EV_DUMP_DONE = 5, /* end of a MSG_TURN_DUMP answer (alloc_id 0): record counts */
	TURN_EV__MAX = 5,
};

struct msg_turn_event {
	uint64_t seq;          /* the effect's; 0 for spontaneous events */
	uint32_t kind;         /* enum msg_turn_event_kind */
	uint32_t alloc_id;
	uint32_t worker;
	int32_t error;         /* -errno with TURN_EV_FAILED */
	uint8_t effect_type;   /* FAILED: the effect that failed */
	uint8_t reserved;
	uint16_t channel;      /* FAILED channel effects */
	uint32_t reserved2;
	struct sp_addr peer;   /* FAILED permission/channel effects */
	struct sp_addr relay;  /* INSTALLED: the bound relayed addresses */
	struct sp_addr relay6;
	/* Version 2: DUMP_DONE, how many records of each kind the dump sent. */
	uint32_t allocs, perms, channels;
	uint32_t reserved3;
};
#define MSG_TURN_EVENT_V1_LEN 104u

/* ---- agent tunnels (docs/tunnel.md) ---- */

#define MSG_TUNNEL_DEVICE_LEN 72   /* device id (1..64 bytes), NUL-terminated */
#define MSG_TUNNEL_TARGET_LEN 256  /* "host:port" (3..255 bytes), NUL-terminated */

enum msg_tunnel_op {
	MSG_TUNNEL_LISTEN = 1,   /* open a local listener forwarding to device's target */
	MSG_TUNNEL_UNLISTEN = 2, /* close forward fwd_id's listener (its connections go on) */
	MSG_TUNNEL_KICK = 3,     /* tunnel tunnel_id was replaced elsewhere: GOAWAY, drain */
	MSG_TUNNEL_DUMP = 4,     /* report live tunnels (UP) and forwards (LISTENING), then DUMP_DONE */
	MSG_TUNNEL__MAX = 4,
};

struct msg_tunnel_cmd {
	uint64_t seq;          /* echoed in the event that answers it */
	uint8_t op;            /* enum msg_tunnel_op */
	uint8_t reserved[3];
	uint32_t fwd_id;       /* LISTEN, UNLISTEN: chosen by spcp, never 0 */
	uint64_t tunnel_id;    /* KICK */
	uint32_t idle_ms;      /* LISTEN: close the listener after this long without connections */
	uint32_t reserved2;
	char device[MSG_TUNNEL_DEVICE_LEN]; /* LISTEN */
	char target[MSG_TUNNEL_TARGET_LEN]; /* LISTEN: the agent-side "host:port" */
};

enum msg_tunnel_event_kind {
	TUNNEL_EV_UP = 1,        /* an agent's tunnel passed its token check: device, source */
	TUNNEL_EV_DOWN = 2,      /* the tunnel ended: reason (enum msg_tunnel_down) */
	TUNNEL_EV_LISTENING = 3, /* LISTEN done: port on 127.0.0.1 */
	TUNNEL_EV_FAILED = 4,    /* a command could not be applied: error */
	TUNNEL_EV_FWD_CLOSED = 5, /* a forward listener closed: reason (enum msg_tunnel_fwd_closed) */
	TUNNEL_EV_DUMP_DONE = 6, /* the end of a DUMP's records (seq: the dump's; streams: records sent) */
	TUNNEL_EV__MAX = 6,
};

enum msg_tunnel_down {
	TUNNEL_DOWN_CLOSED = 0,    /* the agent closed the connection (or TLS close_notify) */
	TUNNEL_DOWN_PROTOCOL = 1,  /* a frame-level violation (GOAWAY protocol / frame_size sent) */
	TUNNEL_DOWN_HEARTBEAT = 2, /* nothing received for 3 heartbeat intervals */
	TUNNEL_DOWN_REPLACED = 3,  /* a newer tunnel of the same device (GOAWAY shutdown sent) */
	TUNNEL_DOWN_GOAWAY = 4,    /* the agent sent GOAWAY and its streams finished */
	TUNNEL_DOWN_TLS = 5,       /* TLS record failure */
	TUNNEL_DOWN_BACKLOG = 6,   /* the agent did not read: output backlog over its bound */
	TUNNEL_DOWN_SHUTDOWN = 7,  /* spdp stopping */
	TUNNEL_DOWN__MAX = 7,
};

enum msg_tunnel_fwd_closed {
	TUNNEL_FWD_IDLE = 0,       /* idle_ms without connections */
	TUNNEL_FWD_UNLISTEN = 1,   /* by command */
	TUNNEL_FWD_TUNNEL_DOWN = 2, /* its tunnel ended or was replaced */
};

struct msg_tunnel_event {
	uint64_t seq;          /* the command's; 0 for spontaneous events */
	uint32_t kind;         /* enum msg_tunnel_event_kind */
	uint32_t worker;
	uint64_t tunnel_id;    /* unique per spdp run (worker in the top 16 bits) */
	uint32_t fwd_id;       /* LISTENING, FAILED, FWD_CLOSED */
	int32_t error;         /* -errno with FAILED */
	uint16_t port;         /* LISTENING: host order */
	uint16_t reason;       /* DOWN, FWD_CLOSED */
	uint32_t streams;      /* DOWN, UP from a dump: streams open; FWD_CLOSED, LISTENING from a dump: connections served */
	char device[MSG_TUNNEL_DEVICE_LEN];
	struct sp_addr source; /* UP: the agent's address */
};

/* RTSP pulls (issue 7): a worker holding a device's tunnel pulls one of
 * its cameras over RTSP (TCP interleaved, through an in-process tunnel
 * stream) and feeds each track into an ingest flow on the same worker. */
#define MSG_RTSP_URL_LEN 256
#define MSG_RTSP_CRED_LEN 128
#define MSG_RTSP_ENC_LEN 16
#define MSG_RTSP_TRACKS 2   /* video, audio */

enum msg_rtsp_op {
	MSG_RTSP_START = 1,  /* start pulling (and keep at it: reconnects with backoff) */
	MSG_RTSP_STOP = 2,   /* TEARDOWN, close, forget */
};

struct msg_rtsp_pull {
	uint64_t seq;          /* echoed in the event that answers it */
	uint8_t op;            /* enum msg_rtsp_op */
	uint8_t reserved[3];
	uint32_t pull_id;      /* chosen by spcp, never 0 */
	uint32_t flow_id[MSG_RTSP_TRACKS]; /* START: ingest flows on this worker; [1] 0: no audio */
	char device[MSG_TUNNEL_DEVICE_LEN]; /* START: whose tunnel */
	char target[MSG_TUNNEL_TARGET_LEN]; /* START: camera-local "host:port" the agent opens */
	char url[MSG_RTSP_URL_LEN];   /* START: rtsp://... as the camera sees it */
	char user[MSG_RTSP_CRED_LEN]; /* START: empty: no credentials */
	char pass[MSG_RTSP_CRED_LEN];
};

enum msg_rtsp_event_kind {
	RTSP_EV_STARTED = 1,  /* START accepted: connecting */
	RTSP_EV_PLAYING = 2,  /* PLAY answered: tracks[] */
	RTSP_EV_ENDED = 3,    /* this attempt ended: reason (enum rtsp_up_end), status; retry_ms */
	RTSP_EV_STOPPED = 4,  /* STOP done */
	RTSP_EV_FAILED = 5,   /* a command could not be applied: error */
	RTSP_EV__MAX = 5,
};

/* Why an attempt ended (msg_rtsp_event.reason): enum rtsp_up_end
 * (dataplane/rtsp_up.h), MSG_RTSP_END_COUNT of them. */
#define MSG_RTSP_END_COUNT 12
const char *msg_rtsp_end_name(unsigned reason);

struct msg_rtsp_track {
	uint8_t media;         /* enum sdp_media_type */
	uint8_t pt;
	uint16_t reserved;
	uint32_t clock;
	uint32_t flow_id;
	char encoding[MSG_RTSP_ENC_LEN];
};

struct msg_rtsp_event {
	uint64_t seq;
	uint32_t pull_id;
	uint32_t worker;
	uint8_t kind;          /* enum msg_rtsp_event_kind */
	uint8_t reason;        /* ENDED: enum rtsp_up_end */
	uint16_t status;       /* ENDED: the camera's RTSP status, if any */
	int32_t error;         /* FAILED: negative errno */
	uint32_t attempts;     /* connection attempts so far */
	uint32_t retry_ms;     /* ENDED: next attempt in */
	uint8_t n_tracks;
	uint8_t reserved[3];
	struct msg_rtsp_track tracks[MSG_RTSP_TRACKS];
};
_Static_assert(sizeof(struct msg_rtsp_pull) == 864, "docs/ring-messages.md");
_Static_assert(sizeof(struct msg_rtsp_event) == 96, "docs/ring-messages.md");

struct msg_info {
	const char *name;
	uint8_t version;    /* current version; 0: type not in use */
	uint32_t min_len;
	uint32_t max_len;
	uint32_t ring_kinds; /* RING_KIND_BIT()s it may travel on */
};

/* NULL for unknown types. */
const struct msg_info *msg_lookup(uint16_t type);
const char *msg_type_name(uint16_t type);

/* 0 when the message may be handled on a ring of `kind`; otherwise the
 * drop reason (> 0) the caller counts. Field ranges are checked too. */
int msg_check(const struct ring_msg *m, enum ring_kind kind);

/* Copy a checked payload into its struct, zero-filling what was not sent. */
static inline void msg_read(const struct ring_msg *m, void *dst, size_t size)
{
	size_t n = m->len < size ? m->len : size;
	memcpy(dst, m->payload, n);
	if (n < size)
		memset((uint8_t *)dst + n, 0, size - n);
}

#endif
