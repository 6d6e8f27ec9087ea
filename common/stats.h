/*
 * stats: per-worker counters in the shared segment.
 *
 * Each spdp worker (and spdp's main thread) owns one stats_block and is its
 * only writer; spcp and spctl read it lock-free. A counter is an aligned
 * 64-bit atomic written with relaxed load+store (no locked instruction: there
 * is one writer), so a reader never sees a torn value. Blocks are cache-line
 * aligned so workers never share a line.
 *
 * Counter and drop-reason names are also written into the segment, so a
 * reader of another build still labels them correctly.
 */
#ifndef SP_STATS_H
#define SP_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define STATS_MAX_COUNTERS 64
#define STATS_MAX_DROPS 64
#define STATS_NAME_LEN 32

enum stat_counter {
	STAT_LOOPS,      /* event-loop iterations */
	STAT_SLEEPS,     /* times the loop slept on its doorbell */
	STAT_CMDS,       /* commands handled */
	STAT_EVENTS,     /* events published */
	STAT_EXC_UP,     /* exception packets sent to spcp */
	STAT_EXC_DOWN,   /* exception packets received from spcp */
	STAT_PINGS,      /* heartbeats answered */
	STAT_RX_PACKETS, /* datagrams received by the backend */
	STAT_RX_BYTES,
	STAT_TX_PACKETS, /* datagrams sent (completed) */
	STAT_TX_BYTES,
	STAT_RX_REARMS,  /* receive operations re-armed (multishot ended) */
	STAT_RX_BUF_EXHAUSTED, /* receives paused: every buffer waited for the worker (datagrams stay queued in the socket) */
	STAT_RTP_IN,     /* RTP packets from flow sources */
	STAT_RTCP_IN,    /* RTCP packets from sources and subscribers */
	STAT_FANOUT,     /* sends queued by fan-out (one per subscriber per packet) */
	STAT_FAST_START, /* packets replayed from history to a joining subscriber */
	STAT_NACK_HIT,   /* NACKed packets resent from history */
	STAT_PLI_UP,     /* PLI/FIR sent upstream */
	STAT_PLI_DEDUP,  /* PLI/FIR from viewers absorbed by the rate limit */
	STAT_SRTP_UNPROTECT, /* SRTP/SRTCP packets authenticated and decrypted */
	STAT_SRTP_PROTECT,   /* packets encrypted for a subscriber or upstream */
	STAT_SRTP_PASSTHROUGH, /* SRTP packets forwarded unchanged to same-key subscribers */
	/* A sample of the SRTP work timed (1 in 16; each _NS right after its
	 * count): protect = transmit buffer + encrypt, unprotect = the copy
	 * passthrough needs + authenticate + decrypt. */
	STAT_SRTP_PROTECT_TIMED,
	STAT_SRTP_PROTECT_TIMED_NS,
	STAT_SRTP_UNPROTECT_TIMED,
	STAT_SRTP_UNPROTECT_TIMED_NS,
	STAT_SRTP_TIMED_OUTLIERS, /* samples left out: preempted or interrupted (> 20 us) */
	STAT_TURN_TO_PEER,     /* TURN: ChannelData and Send indications relayed to peers */
	STAT_TURN_TO_CLIENT,   /* TURN: peer datagrams relayed to clients (ChannelData or Data indication) */
	STAT_TURN_BINDING,     /* TURN listener: Binding requests answered by spdp itself */
	STAT_TURN_REQ_UP,      /* TURN listener: STUN requests passed to spcp (also in exception_up) */
	STAT_TURN_RESP,        /* TURN: packets from spcp sent to clients (responses) */
	STAT_TURN_EFFECTS,     /* TURN: relay state changes from spcp applied */
	STAT_CONN_ACCEPTED,    /* TCP/TLS connections accepted (TURN over TCP/TLS) */
	STAT_CONN_CLOSED,      /* TCP/TLS connections closed, by either side */
	STAT_TURN_DUMP_RECORDS, /* TURN: records sent answering spcp's dumps (after an attach) */
	STAT_TURN_DUMP_WAITS,  /* TURN: loop turns a dump waited for room in the event ring */
	STAT_TUN_UP,           /* agent tunnels that passed the token check (101 sent) */
	STAT_TUN_DOWN,         /* agent tunnels ended, any reason */
	STAT_TUN_STREAMS,      /* streams opened to agents (forwarded local connections) */
	STAT_TUN_TO_AGENT,     /* tunnel: DATA payload bytes sent to agents */
	STAT_TUN_FROM_AGENT,   /* tunnel: DATA payload bytes handed to local connections */
	STAT_TUN_PAUSED,       /* tunnel: a local connection paused (agent window or TLS room short) */
	STAT_TUN_HELD,         /* tunnel: agent data held because a local connection's queue was full */
	STAT_RTSP_PULL_PLAYING, /* RTSP pulls that reached PLAY */
	STAT_RTSP_PULL_ENDED,  /* RTSP pull attempts that ended (any reason; each retried) */
	STAT_RTSP_IN_PKTS,     /* RTP/RTCP packets received from cameras over RTSP */
	STAT__COUNT
};

enum stat_drop {
	DROP_RING_FULL,        /* an event/exception ring to spcp was full */
	DROP_MSG_BAD_TYPE,     /* unknown message type */
	DROP_MSG_BAD_VERSION,  /* version 0 or newer than we speak */
	DROP_MSG_BAD_LEN,      /* payload length impossible for the type */
	DROP_MSG_WRONG_RING,   /* known type on a ring it does not belong to */
	DROP_MSG_BAD_FIELD,    /* a field out of range */
	DROP_RING_STALE,       /* messages discarded when a new consumer attached */
	DROP_RX_TRUNCATED,     /* datagram larger than a receive buffer */
	DROP_TX_NO_SLOT,       /* no send slot free: that destination missed the packet */
	DROP_TX_ERROR,         /* the kernel refused a send (ICMP unreachable, ENOBUFS...) */
	DROP_UNKNOWN_SOURCE,   /* datagram from an address that is no flow's source or subscriber */
	DROP_RTP_MALFORMED,    /* not RTP v2, or lengths do not add up */
	DROP_RTCP_MALFORMED,   /* RTCP compound that does not parse */
	DROP_SSRC_MISMATCH,    /* RTP from the source with an SSRC the flow does not accept */
	DROP_NACK_MISS,        /* NACKed packet no longer in history */
	DROP_NO_PORT,          /* datagram on a port with no flow (e.g. just deleted) */
	DROP_SRTP_AUTH,        /* SRTP/SRTCP tag did not verify (wrong key, forged, corrupted) */
	DROP_SRTP_REPLAY,      /* SRTP index replayed or older than the replay window */
	DROP_SRTP_KEY_EXPIRED, /* the leg's key lifetime ran out */
	DROP_SRTP_OTHER,       /* too short, malformed header, SSRC limit, crypto failure */
	DROP_TX_NO_BUFFER,     /* no transmit buffer to encrypt into */
	DROP_TURN_NOT_STUN,    /* TURN listener: neither STUN nor ChannelData */
	DROP_TURN_MALFORMED,   /* TURN: STUN that does not parse, Send indication without peer/data */
	DROP_TURN_CHDATA_SHORT, /* ChannelData shorter than its length field */
	DROP_TURN_NOT_REQUEST, /* TURN listener: STUN responses and indications other than Send */
	DROP_TURN_NO_ALLOC,    /* TURN: data from a 5-tuple with no allocation (or expired) */
	DROP_TURN_NO_CHANNEL,  /* ChannelData on a channel not bound (or expired) */
	DROP_TURN_NO_PERM,     /* TURN: peer without a valid permission (never forwarded) */
	DROP_TURN_BANDWIDTH,   /* TURN: over the allocation's bandwidth cap */
	DROP_TURN_RESP_DROPPED, /* TURN: a response from spcp for an allocation not installed, or no listener */
	DROP_TURN_TABLE_FULL,  /* TURN: allocation/permission/channel pool of the worker full */
	DROP_CONN_REFUSED,     /* TCP connection closed at accept: connection table or ports full */
	DROP_CONN_BACKLOG,     /* message not sent: the connection's send queue was full (slow reader) */
	DROP_CONN_OVERSIZE,    /* stream message longer than a buffer: connection closed */
	DROP_CONN_TLS,         /* TLS handshake or record failure: connection closed */
	DROP_CONN_IDLE,        /* connection closed: no allocation, or no TLS handshake, in time */
	DROP_CONN_GONE,        /* a response for a TCP/TLS client whose connection had closed */
	DROP_TX_MSGSIZE,       /* the kernel refused a send as too big (EMSGSIZE: DF set, over the path MTU) */
	DROP_TUN_BAD_REQUEST,  /* tunnel: Upgrade request malformed or too large (400) */
	DROP_TUN_BAD_PROTOCOL, /* tunnel: Upgrade without streampoint-agent/1 (426) */
	DROP_TUN_NO_TOKEN,     /* tunnel: no Authorization bearer token (401) */
	DROP_TUN_TOKEN_BAD,    /* tunnel: token malformed, unknown key id or bad signature (401) */
	DROP_TUN_TOKEN_EXPIRED, /* tunnel: token expired or not yet valid (401) */
	DROP_TUN_TOKEN_WRONG_SP, /* tunnel: token for another streampoint (401) */
	DROP_TUN_HANDSHAKE_TIMEOUT, /* tunnel: TLS + Upgrade not done within handshake_ms (slowloris) */
	DROP_TUN_FULL,         /* tunnel: max_agents connections on the worker: closed at accept */
	DROP_TUN_PROTOCOL,     /* tunnel: frame-level violation by an agent (GOAWAY, closed) */
	DROP_TUN_STREAM_ERROR, /* tunnel: stream-level violation by an agent (CLOSE) */
	DROP_TUN_HEARTBEAT,    /* tunnel: agent silent for 3 heartbeat intervals: closed */
	DROP_TUN_OPEN_FAILED,  /* tunnel: the agent refused an OPEN (local connection closed) */
	DROP_TUN_LOCAL_REFUSED, /* tunnel: local connection refused (no stream slot, tunnel gone) */
	DROP_TUN_BACKLOG,      /* tunnel: agent connection closed, its output backlog over the bound */
	DROP_RTSP_CHANNEL,     /* RTSP pull: interleaved frame on a channel not set up, or before PLAY */
	DROP_RTSP_OVERSIZE,    /* RTSP pull: packet larger than a transmit buffer */
	DROP__COUNT
};

struct stats_block {
	_Alignas(64) _Atomic uint64_t heartbeat_ns; /* CLOCK_MONOTONIC of the last loop */
	_Atomic uint64_t counters[STATS_MAX_COUNTERS];
	_Atomic uint64_t drops[STATS_MAX_DROPS];
};

_Static_assert(STAT__COUNT <= STATS_MAX_COUNTERS, "too many counters");
_Static_assert(DROP__COUNT <= STATS_MAX_DROPS, "too many drop reasons");

extern const char *const stats_counter_names[STAT__COUNT];
extern const char *const stats_drop_names[DROP__COUNT];

static inline void stats_add(struct stats_block *b, enum stat_counter c, uint64_t n)
{
	atomic_store_explicit(&b->counters[c],
			      atomic_load_explicit(&b->counters[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void stats_drop(struct stats_block *b, enum stat_drop d)
{
	atomic_store_explicit(&b->drops[d],
			      atomic_load_explicit(&b->drops[d], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Any single-writer counter in the segment (flow and subscriber slots). */
static inline void stats_inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t stats_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

#endif
