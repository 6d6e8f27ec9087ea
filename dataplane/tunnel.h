/*
 * tunnel: a worker's end of the agent tunnels (docs/tunnel.md, wire
 * protocol docs/agent-protocol.md §1-3, §6).
 *
 *   agent listener (TLS, the worker's member of an SO_REUSEPORT group):
 *     TLS handshake -> HTTP/1.1 Upgrade (<= 8192 B, agent_auth_upgrade_parse)
 *     -> token (agent_auth_token_verify: signature, expiry, streampoint id)
 *     -> 101, or 400 / 401 / 426 and close, each refusal counted by reason;
 *     TLS and Upgrade must be done within handshake_ns (slowloris)
 *     -> frames (tun_parser, tun_session with spdp as the opener). One live
 *     tunnel per device on a worker: a newer one replaces the older (GOAWAY
 *     shutdown); across workers spcp sends MSG_TUNNEL_KICK. PING when the
 *     agent was silent for heartbeat_ns, dead after three intervals.
 *   forward listeners (MSG_TUNNEL_LISTEN, the `ssh -R` of issue 6): a
 *     listener on 127.0.0.1:0 per command; each connection accepted there
 *     becomes a stream OPENed to the command's target on the device's
 *     tunnel, bytes relayed both ways; closed after idle_ns without
 *     connections.
 *
 * Backpressure, never unbounded buffering:
 *   local -> agent: DATA goes out only within the stream's send window and
 *     while the agent connection's send queue takes the TLS output; the
 *     rest of a read stays in its receive buffer (reference kept) and the
 *     local connection is paused (stream_pause) until WINDOW_UPDATE or
 *     room comes back.
 *   agent -> local: DATA payloads are coalesced into transmit buffers and
 *     handed to the local connection by reference (stream_send); credit
 *     goes back to the agent (WINDOW_UPDATE) only for bytes handed over.
 *     A local connection whose queue is full keeps its buffers, at most
 *     stream_window bytes: the agent cannot send more on that stream,
 *     while every other stream and tunnel goes on.
 *
 * All memory is sized at create from the config (agents, streams, forwards,
 * the port -> owner map); an agent in handshake holds an 8 KiB header
 * buffer, a tunnel its tun_session (max_streams slots) and TLS state. Time
 * comes in as now_ns. I/O only through the backend ops. One worker thread.
 */
#ifndef SP_DP_TUNNEL_H
#define SP_DP_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_auth.h"
#include "backend.h"
#include "msg.h"
#include "stats.h"
#include "tls_stream.h"
#include "tun_frame.h"

#define TUNNEL_MAX_LISTENERS 4
/* Chunks of a local connection kept back at most: the rest of one receive
 * burst after the pause (the backend keeps everything later). */
#define TUNNEL_HOLD 64
/* Output not yet taken by the agent connection's send queue (TLS records,
 * control frames) beyond which the agent is dropped: it does not read. */
#define TUNNEL_OUT_MAX (256u * 1024)

struct tunnel_cfg {
	uint32_t worker;
	uint32_t max_ports;      /* the backend's port indexes (size of the owner map) */
	uint32_t max_agents;     /* agent connections on this worker, handshakes included */
	uint32_t max_streams;    /* streams (forwarded local connections) on this worker */
	uint32_t max_forwards;   /* forward listeners on this worker */
	uint32_t stream_window;  /* our receive window per stream (agent -> local), bytes */
	uint32_t buf_size;       /* the backend's transmit buffer size */
	uint64_t handshake_ns;   /* TLS + Upgrade within this, from accept */
	uint64_t heartbeat_ns;   /* PING after this much silence, dead after 3x */
	const char *streampoint_id; /* tokens must name it */
	const agent_auth_keyring *keys; /* token keys (shared, read-only) */
	tls_server *tls;         /* NULL: plaintext agents (unit tests and fuzzing only) */
};

struct tunnel_hooks {
	void (*event)(void *ctx, const struct msg_tunnel_event *ev);
	/* MSG_TUNNEL_DUMP records; < 0: no room, the dump resumes later.
	 * NULL: they go to event. */
	int (*dump)(void *ctx, const struct msg_tunnel_event *ev);
	uint64_t (*unix_now)(void *ctx); /* seconds, for token expiry; NULL: the real clock */
	void *ctx;
};

typedef struct tunnel tunnel;

/* NULL with errno EINVAL (bad cfg) or ENOMEM. */
tunnel *tunnel_create(const struct tunnel_cfg *cfg, const struct dp_backend_ops *ops,
		      struct dp_backend *be, struct stats_block *stats,
		      const struct tunnel_hooks *hooks);
/* Closes every connection and listener the tunnel opened (agent listeners
 * belong to the backend). No events. */
void tunnel_destroy(tunnel *t);

/* A listening TCP socket adopted by the backend (listen_adopt): agents
 * connect there. 0, -ENOSPC, -EINVAL. */
int tunnel_add_listener(tunnel *t, uint32_t port);

/* True when packets on backend port `port` are the tunnel's (an agent
 * listener or connection, a forward listener, a local connection); for
 * DP_PKT_OPEN ask about the packet's parent. */
bool tunnel_owns(const tunnel *t, uint32_t port);

/* Packets from rx_burst on ports the tunnel owns. Each is released, or kept
 * (a held chunk) and released later. n <= TUNNEL_HOLD. */
void tunnel_input(tunnel *t, struct dp_pkt *pkts, unsigned n, uint64_t now_ns);

/* One command from spcp (msg_check passed); answered with an event.
 * MSG_TUNNEL_DUMP: every live tunnel as UP and every forward as LISTENING
 * (seq: the dump's), then DUMP_DONE; resumed by tunnel_timers while the
 * event ring is full, never skipped. */
void tunnel_cmd(tunnel *t, const struct msg_tunnel_cmd *m, uint64_t now_ns);

/* Deadlines, heartbeats, and streams waiting for room: call every loop. */
void tunnel_timers(tunnel *t, uint64_t now_ns);

struct tunnel_counts {
	uint32_t handshakes, tunnels, streams, forwards, listeners;
	uint32_t paused, holding;   /* streams paused (local -> agent) / holding buffers (agent -> local) */
};
void tunnel_get_counts(const tunnel *t, struct tunnel_counts *out);
/* Upgrade/token refusals per agent_auth_err, OPEN_FAILs per tun_reason. */
uint64_t tunnel_refusals(const tunnel *t, enum agent_auth_err e);
uint64_t tunnel_open_failures(const tunnel *t, enum tun_reason r);

/* ------------------------------------------------------------ in-process streams
 *
 * A stream on a device's tunnel used by another module of the same worker
 * (the RTSP client's upstream, a snapshot fetch) instead of a forwarded
 * local connection. Same flow control: the agent never has more than
 * stream_window bytes in flight towards the consumer, and a consumer that
 * does not take its bytes holds back that stream only.
 *
 * Callbacks run on the worker thread, from tunnel_input / tunnel_timers /
 * tunnel_cmd. Inside them the consumer may call tunnel_stream_write,
 * _close and _abort; no other tunnel function.
 */
enum tunnel_stream_end {
	TUNNEL_STREAM_EOF = 0,     /* the far side finished (FIN); every byte was delivered */
	TUNNEL_STREAM_REFUSED,     /* OPEN_FAIL from the agent: not allowed, unreachable (counted) */
	TUNNEL_STREAM_RESET,       /* CLOSE or a stream error: bytes may be missing */
	TUNNEL_STREAM_TUNNEL_DOWN, /* the tunnel went away (agent gone, replaced, drained) */
	TUNNEL_STREAM_NO_BUFFER,   /* no transmit buffer for the bytes the consumer left */
	TUNNEL_STREAM__COUNT
};
const char *tunnel_stream_end_name(enum tunnel_stream_end e);

struct tunnel_stream_cb {
	/* OPEN_OK: writing may start. */
	void (*opened)(void *ctx);
	/* Bytes from the far side. Returns how many it took (<= len); the rest
	 * is kept (copied into the stream's buffers) and offered again, first,
	 * at the next call; only taken bytes are credited to the agent. */
	size_t (*data)(void *ctx, const uint8_t *d, size_t len);
	/* After a short tunnel_stream_write: room again (window or queue). */
	void (*writable)(void *ctx);
	/* Exactly once, unless the consumer aborted; the handle is dead after. */
	void (*closed)(void *ctx, enum tunnel_stream_end why);
};

/* OPEN a stream to target ("host:port", from the device's allow-list) on
 * the device's live tunnel on this worker. 0 and *handle (never 0), or
 * -ENOENT (no tunnel), -EINVAL (target), -ENOSPC (streams), -EAGAIN (the
 * session's stream limit). cb must outlive the stream. */
int tunnel_stream_open(tunnel *t, const char *device, const char *target,
		       const struct tunnel_stream_cb *cb, void *ctx, uint64_t *handle);
/* Copies up to len bytes out as DATA within the window and the agent
 * connection's room; returns the count (short: `writable` follows), or
 * -ENOTCONN before `opened`, -EPIPE after close, -EBADF (stale handle). */
ssize_t tunnel_stream_write(tunnel *t, uint64_t handle, const void *d, size_t len);
/* FIN (sent from the next tunnel_timers): no more writes; bytes keep
 * coming until the far side finishes (closed(EOF)). 0 or -EBADF. */
int tunnel_stream_close(tunnel *t, uint64_t handle);
/* CLOSE now, buffers dropped, no callback. 0 or -EBADF. */
int tunnel_stream_abort(tunnel *t, uint64_t handle);

#endif
