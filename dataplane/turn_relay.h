/*
 * turn_relay: a worker's TURN relay fast path (RFC 8656 over UDP).
 *
 * spcp owns allocation state, credentials and policy (controlplane/
 * turn_server.c); it installs what the data plane needs as effects on the
 * worker's command ring: allocations (client 5-tuple <-> relayed address),
 * permissions (allocation, peer IP) and channels (allocation, number <->
 * peer IP:port), each with its expiry on the shared monotonic clock. This
 * module executes them:
 *
 *   listener (steered SO_REUSEPORT group, one socket per worker, so one
 *   client 5-tuple always reaches the same worker):
 *     ChannelData      -> its allocation (client 5-tuple hash) -> channel ->
 *                         peer, permission checked -> sent from the relay
 *                         port, zero copy (the 4-byte header skipped)
 *     Send indication  -> XOR-PEER-ADDRESS + DATA, permission checked ->
 *                         the DATA bytes sent from the relay port, zero copy
 *     Binding request without credentials -> answered here (XOR-MAPPED-
 *                         ADDRESS, FINGERPRINT when the request had one)
 *     any other request -> up to spcp (exception ring); its response comes
 *                         back on the command ring behind the effects it
 *                         caused and leaves from this listener socket
 *     anything else    -> dropped and counted
 *   TCP and TLS listeners (RFC 8656 client transports): each accepted
 *                      connection is framed into the same STUN messages and
 *                      ChannelData (padded to 4 bytes on a stream) and
 *                      handled as above; a message split across reads is
 *                      assembled in a transmit buffer (so it can still be
 *                      relayed by reference); TLS is decrypted by
 *                      tls_stream. Everything towards the client goes on its
 *                      connection, in order; a connection whose send queue
 *                      is full loses whole messages (counted), never bytes.
 *                      A connection closing removes its allocation
 *                      (TURN_EV_CLOSED); one that holds no allocation is
 *                      closed after conn_idle_ns (TLS: tls_handshake_ns
 *                      until the handshake is done).
 *   relay port (one UDP port per allocation, two for a dual one), from a
 *   peer whose IP holds a valid permission:
 *     channel bound to that peer IP:port -> ChannelData to the client (the
 *                         4-byte header per destination, payload zero copy)
 *     otherwise        -> a Data indication (built in a transmit buffer)
 *     no permission    -> dropped and counted, never forwarded
 *
 * Every allocation has a token bucket per direction (bandwidth_bps from
 * spcp). Entries past their expiry are treated as absent at once; a sweep
 * frees them a grace period later (spcp normally removes them first) and
 * reports an allocation it removed itself as TURN_EV_EXPIRED. An
 * allocation whose client sent DONT-FRAGMENT gets its relay ports set not
 * to fragment (backend port_set_df).
 *
 * Dump (spcp re-attached and rebuilds its view): every allocation goes back
 * to spcp as the effects that would rebuild it (MSG_TURN_STATE: the
 * allocation with its owner, then its permissions and channels), then
 * TURN_EV_DUMP_DONE with the counts. A bounded number of records per loop
 * turn, so a big table never stalls the worker; when the event ring is full
 * the dump waits and resumes where it stopped (nothing is skipped; an entry
 * changed meanwhile may be reported twice, which spcp takes as a no-op).
 *
 * All memory is allocated at create (allocations, permissions, channels,
 * hash tables, the port -> owner map); nothing per packet. Time comes in as
 * now_ns. I/O only through the backend ops. Owned by one worker thread.
 */
#ifndef SP_DP_TURN_RELAY_H
#define SP_DP_TURN_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "msg.h"
#include "stats.h"
#include "tls_stream.h"

#define TURN_RELAY_MAX_LISTENERS 12
/* spdp removes what expired only this long after the expiry (spcp's own
 * removal normally arrives first; packets are refused from the expiry on). */
#define TURN_RELAY_GRACE_NS 2000000000ull

struct turn_relay_cfg {
	uint32_t worker;
	uint32_t max_allocs;   /* allocations on this worker */
	uint32_t max_perms;    /* permissions, all allocations together */
	uint32_t max_channels; /* channel bindings, all allocations together */
	uint32_t max_ports;    /* the backend's port indexes (size of the owner map) */
	uint32_t max_conns;    /* TCP/TLS client connections on this worker (0: none) */
	uint64_t conn_idle_ns; /* a connection without an allocation is closed after this */
	uint64_t tls_handshake_ns; /* a TLS connection must finish its handshake within this */
	tls_server *tls;       /* for TLS listeners (shared, not owned) */
};

/* What the relay needs from its worker. */
struct turn_relay_hooks {
	/* Results of effects and spontaneous removals, to spcp's event ring. */
	void (*event)(void *ctx, const struct msg_turn_event *ev);
	/* A STUN request for spcp: header (worker filled in) and the datagram.
	 * 0, or a negative errno when the exception ring is full (counted by
	 * the worker). */
	int (*exc_up)(void *ctx, const struct msg_exc_packet *hdr, const uint8_t *payload);
	/* A dump record (MSG_TURN_STATE) or its end (MSG_TURN_EVENT) to spcp's
	 * event ring: 0, or -ENOBUFS when the ring is full (not a drop: the
	 * dump sends it again later). */
	int (*dump)(void *ctx, uint16_t type, const void *msg, uint32_t len);
	void *ctx;
};

typedef struct turn_relay turn_relay;

/* NULL with errno EINVAL (bad cfg) or ENOMEM. */
turn_relay *turn_relay_create(const struct turn_relay_cfg *cfg, const struct dp_backend_ops *ops,
			      struct dp_backend *be, struct stats_block *stats,
			      const struct turn_relay_hooks *hooks);
/* Closes every relay port (listeners belong to the backend). */
void turn_relay_destroy(turn_relay *tr);

/* A listener socket already open on the backend (the worker's member of a
 * steered group). 0, -ENOSPC (TURN_RELAY_MAX_LISTENERS), -EINVAL. */
int turn_relay_add_listener(turn_relay *tr, uint32_t port);
/* A listening TCP socket adopted by the backend (listen_adopt); tls: its
 * connections speak TLS (cfg.tls must be set). Same errors, and -EINVAL
 * with max_conns 0. */
int turn_relay_add_stream_listener(turn_relay *tr, uint32_t port, bool tls);

/* True when packets on backend port `port` are the relay's (a listener, a
 * connection or a relay port): the worker hands those to turn_relay_input
 * (for DP_PKT_OPEN, ask about the packet's parent). */
bool turn_relay_owns(const turn_relay *tr, uint32_t port);

/* One effect from spcp (msg_check passed). Emits TURN_EV_INSTALLED for an
 * allocation, TURN_EV_FAILED for anything it could not apply; removals of
 * what is not there are no-ops. */
void turn_relay_effect(turn_relay *tr, const struct msg_turn_effect *m, uint64_t now_ns);

/* A packet from spcp (MSG_EXC_PACKET down) to send from a listener. */
void turn_relay_send(turn_relay *tr, const struct msg_exc_packet *h, const uint8_t *payload,
		     uint64_t now_ns);

/* Packets from rx_burst on ports the relay owns: relay, answer, pass up,
 * drop; each is released. */
void turn_relay_input(turn_relay *tr, struct dp_pkt *pkts, unsigned n, uint64_t now_ns);

/* Sweep expired entries (cheap when nothing is due). Call every few ms. */
void turn_relay_timers(turn_relay *tr, uint64_t now_ns);

/* MSG_TURN_DUMP from spcp: start reporting everything (a dump in progress
 * starts over with the new seq). */
void turn_relay_dump(turn_relay *tr, const struct msg_turn_dump *m);
/* Continue a dump: at most a few dozen records per call. Returns the
 * records sent (0: no dump, or it waits for room). Call every loop turn. */
unsigned turn_relay_dump_continue(turn_relay *tr);

struct turn_relay_counts {
	uint32_t allocs, perms, channels, listeners, conns;
};
void turn_relay_get_counts(const turn_relay *tr, struct turn_relay_counts *out);

#endif
