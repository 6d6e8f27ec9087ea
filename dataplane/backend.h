/*
 * backend: the I/O interface of an spdp worker. io_uring (uring/) is the
 * default; DPDK (dpdk/) implements the same ops for bare metal. Everything
 * above it (flows, RTCP, SRTP, TURN relay) is backend-independent and never
 * sees a socket or an mbuf.
 *
 * Burst-oriented like rte_eth_rx_burst/tx_burst. A received packet lives in
 * a backend buffer with a reference count: rx hands the caller one
 * reference; every destination of tx_fanout takes one more, dropped when the
 * send completes; the caller gives its own back with release(). The buffer
 * returns to the receive pool when the last reference goes, so a packet is
 * received once and sent N times from the same memory.
 *
 * One backend instance per worker; none of its functions may be called from
 * another thread.
 */
#ifndef SP_DP_BACKEND_H
#define SP_DP_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "stats.h"

struct dp_backend;

/* What rx_burst delivered. Datagrams on UDP ports; the three others on
 * TCP connections (stream ports). */
enum dp_pkt_kind {
	DP_PKT_DGRAM = 0,    /* a UDP datagram */
	DP_PKT_STREAM,       /* bytes of a connection, in order (any split) */
	DP_PKT_OPEN,         /* a connection accepted on listener `parent`; src: the peer */
	DP_PKT_CLOSED,       /* the connection ended (EOF, reset, send error): port_close it */
	DP_PKT_DEAD,         /* internal: a pending entry of a port closed since */
};

struct dp_pkt {
	uint8_t *data;       /* payload (UDP datagram, stream bytes) */
	uint32_t len;
	uint32_t port;       /* local port index it arrived on (the connection for streams) */
	uint32_t buf;        /* backend buffer id (reference-counted) */
	uint8_t kind;        /* enum dp_pkt_kind */
	uint32_t parent;     /* DP_PKT_OPEN: the listening port */
	struct sp_addr src;
};

/* One destination of a fan-out: [hdr][pkt->data + skip .. end]. */
struct dp_tx {
	struct sp_addr dst;
	uint32_t port;       /* local port index to send from */
	uint16_t hdr_len;    /* bytes of per-destination header, <= DP_TX_HDR_MAX */
	uint16_t skip;       /* bytes of the shared payload to leave out at its front */
	uint64_t cookie;     /* echoed in send errors (e.g. subscriber id) */
};
#define DP_TX_HDR_MAX 32

struct dp_tx_err {
	uint64_t cookie;
	int error;           /* negative errno */
};

struct dp_backend_cfg {
	uint32_t worker;
	uint32_t rx_buffers;     /* receive buffers (power of two) */
	uint32_t rx_buf_size;    /* bytes per buffer, >= largest datagram + headers */
	uint32_t tx_slots;       /* sends in flight */
	uint32_t tx_buffers;     /* buffers for packets built here (SRTP copies), rx_buf_size each */
	uint32_t max_ports;
	bool zerocopy_send;      /* IORING_OP_SEND_ZC where the kernel has it */
	uint32_t rcvbuf;         /* SO_RCVBUF(FORCE) of every port; 0: kernel default */
	int doorbell_fd;         /* the worker's eventfd: wakes a waiting rx_burst */
	struct stats_block *stats; /* the worker's counters (rx/tx, drops) */
};

/* Features found at start, logged once. */
struct dp_backend_info {
	const char *name;
	bool multishot_recv;
	bool buf_ring;
	bool send_zc;
	bool single_issuer;
};

struct dp_backend_ops {
	const char *name;
	int (*create)(struct dp_backend **out, const struct dp_backend_cfg *cfg);
	void (*destroy)(struct dp_backend *be);
	void (*info)(const struct dp_backend *be, struct dp_backend_info *out);
	/* UDP port bound to `bind`; reuseport: join the worker group of that
	 * address (one socket per worker, kernel-steered). Index in *port. */
	int (*port_open)(struct dp_backend *be, const struct sp_addr *bind, bool reuseport,
			 uint32_t *port);
	/* Take over a bound UDP socket (the worker's member of a shared-port
	 * group); the backend owns and closes it. */
	int (*port_adopt)(struct dp_backend *be, int fd, uint32_t *port);
	void (*port_close)(struct dp_backend *be, uint32_t port);
	/* The address a port is bound to (with the kernel-chosen port). */
	int (*port_addr)(struct dp_backend *be, uint32_t port, struct sp_addr *out);
	/* Up to max packets. wait_ms > 0: sleep until a packet, the doorbell
	 * or the timeout when nothing is ready. Returns count or -errno. */
	int (*rx_burst)(struct dp_backend *be, struct dp_pkt *pkts, unsigned max, int wait_ms);
	/* Queue pkt to n destinations (hdr for tx[i] at hdrs + i*DP_TX_HDR_MAX).
	 * Returns how many were queued; the rest are counted as tx_no_slot. */
	int (*tx_fanout)(struct dp_backend *be, const struct dp_pkt *pkt, const struct dp_tx *tx,
			 const uint8_t *hdrs, unsigned n);
	/* Send a packet built by the caller (RTCP feedback); copied. 0 or -errno. */
	int (*tx_copy)(struct dp_backend *be, uint32_t port, const struct sp_addr *dst,
		       const void *data, uint32_t len, uint64_t cookie);
	/* A buffer from the transmit pool for a packet the caller builds (an
	 * SRTP-protected copy, a decrypted copy): out->data has *cap bytes of
	 * room and one reference; set out->len, send it with tx_fanout like a
	 * received packet, give the reference back with release(). -ENOBUFS
	 * when every buffer is still in flight. */
	int (*tx_alloc)(struct dp_backend *be, struct dp_pkt *out, uint32_t *cap);
	/* Push queued sends to the kernel/NIC. */
	void (*flush)(struct dp_backend *be);
	/* Drop the caller's reference to a received packet. */
	void (*release)(struct dp_backend *be, const struct dp_pkt *pkt);
	/* Completed sends that failed since the last call. */
	unsigned (*tx_errors)(struct dp_backend *be, struct dp_tx_err *errs, unsigned max);

	/*
	 * TCP. A listening socket (the worker's member of an SO_REUSEPORT
	 * group) is adopted like a UDP port; each connection it accepts gets a
	 * port index of its own, announced by DP_PKT_OPEN, its bytes arrive as
	 * DP_PKT_STREAM and its end as DP_PKT_CLOSED (after which the owner
	 * calls port_close; port_close at any time closes it from our side).
	 * Sends on a connection leave in the order they were queued, one in
	 * flight at a time, short writes resumed; a connection queues at most
	 * DP_STREAM_QUEUE sends, so a slow reader costs bounded memory and
	 * the caller drops what does not fit, whole messages at a time.
	 */
	int (*listen_adopt)(struct dp_backend *be, int fd, uint32_t *port);
	/* [hdr][pkt->data + skip, len bytes][pad zero bytes], the payload by
	 * reference (pkt may be NULL: the header alone). 0, -ENOBUFS (queue
	 * full), -ENOTCONN (closed or failed), -EINVAL. */
	int (*stream_send)(struct dp_backend *be, uint32_t conn, const uint8_t *hdr, uint16_t hdr_len,
			   const struct dp_pkt *pkt, uint32_t skip, uint32_t len, uint8_t pad);
	/* Bytes copied, in as many sends as needed (all or nothing). */
	int (*stream_send_copy)(struct dp_backend *be, uint32_t conn, const void *data, uint32_t len);
	/* Bytes stream_send_copy would take now (0 when the queue is full). */
	uint32_t (*stream_room)(struct dp_backend *be, uint32_t conn);
	/* Don't fragment what leaves this port (a TURN relay whose client sent
	 * DONT-FRAGMENT): IPv4 sets DF and never fragments, IPv6 never
	 * fragments locally; a datagram over the path MTU then fails the send
	 * (EMSGSIZE, counted as tx_msgsize). false: the kernel's default.
	 * 0 or -errno. */
	int (*port_set_df)(struct dp_backend *be, uint32_t port, bool df);

	/*
	 * Backpressure on a connection: pause stops receiving (the bytes wait
	 * in the kernel socket, whose window then closes on the peer); what was
	 * already received and not yet handed out is kept back and delivered,
	 * in order and before anything newer, after resume. A CLOSED seen
	 * while paused is delivered after those bytes too. Sends go on.
	 * 0, -EINVAL (not a connection).
	 */
	int (*stream_pause)(struct dp_backend *be, uint32_t conn, bool pause);
	/* A listening TCP socket bound to `bind` (port 0: the kernel picks;
	 * port_addr says which), opened by this worker alone. Its connections
	 * arrive as with listen_adopt. Index in *port, or -errno. */
	int (*listen_open)(struct dp_backend *be, const struct sp_addr *bind, uint32_t *port);
};

#define DP_STREAM_QUEUE 64

extern const struct dp_backend_ops dp_backend_uring;

#endif
