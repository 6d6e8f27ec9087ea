/*
 * turn_fake_backend: a dp_backend_ops table that does no I/O, for driving
 * dataplane/turn_relay.c from tests/test_turn_relay.c and
 * tests/fuzz/fuzz_turn_relay.c. It records every send (port, destination,
 * header, which buffer and which bytes of it) and counts buffer references,
 * so a test can check that a relayed packet left zero copy (the receive
 * buffer itself, from an offset) and that every reference came back.
 * Header-only (static functions): include it in one file per program.
 */
#ifndef SP_TEST_TURN_FAKE_BACKEND_H
#define SP_TEST_TURN_FAKE_BACKEND_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define FB_PORTS 64
#define FB_BUFS 16    /* receive buffers 0..7, transmit buffers 8..15 */
#define FB_RX_BUFS 8
#define FB_BUF_SIZE 2048
#define FB_SENDS 64

struct fb_send {
	uint32_t port;
	struct sp_addr dst;
	uint8_t hdr[DP_TX_HDR_MAX];
	uint16_t hdr_len;
	uint16_t skip;
	uint32_t len;          /* bytes of the buffer sent, after skip */
	uint32_t buf;          /* buffer referenced; UINT32_MAX: tx_copy */
	bool copy;
	bool stream;           /* on a connection (port = the connection) */
	uint8_t bytes[FB_BUF_SIZE + DP_TX_HDR_MAX + 4]; /* what went on the wire: hdr + data (+ pad) */
	uint32_t wire_len;
};

struct dp_backend {
	bool open[FB_PORTS];
	bool df[FB_PORTS];             /* port_set_df state */
	int fail_df;                   /* next port_set_df returns this (then 0 again) */
	struct sp_addr bound[FB_PORTS];
	int fail_open;                 /* next port_open returns this (then 0 again) */
	uint16_t fail_port;            /* port_open of this port number fails with EADDRINUSE */
	uint8_t bufs[FB_BUFS][FB_BUF_SIZE];
	uint32_t refs[FB_BUFS];
	bool no_tx_buffers;
	struct fb_send sends[FB_SENDS];
	unsigned nsends;
	unsigned opens, closes;
	uint32_t stream_room;          /* bytes a connection takes; 0 means the default (1 MiB) */
	bool full_stream;              /* connections refuse every send (-ENOBUFS) */
};

static int fb_port_open(struct dp_backend *be, const struct sp_addr *a, bool reuse, uint32_t *port)
{
	(void)reuse;
	if (be->fail_open) {
		int rc = be->fail_open;
		be->fail_open = 0;
		return rc;
	}
	if (be->fail_port && ntohs(a->port) == be->fail_port)
		return -EADDRINUSE;
	for (uint32_t p = 0; p < FB_PORTS; p++) {
		if (be->open[p])
			continue;
		be->open[p] = true;
		be->bound[p] = *a;
		be->opens++;
		*port = p;
		return 0;
	}
	return -ENOSPC;
}

static void fb_port_close(struct dp_backend *be, uint32_t p)
{
	if (p < FB_PORTS && be->open[p]) {
		be->open[p] = false;
		be->df[p] = false;
		be->closes++;
	}
}

static int fb_port_addr(struct dp_backend *be, uint32_t p, struct sp_addr *out)
{
	if (p >= FB_PORTS || !be->open[p])
		return -ENOENT;
	*out = be->bound[p];
	return 0;
}

static int fb_port_set_df(struct dp_backend *be, uint32_t p, bool df)
{
	if (be->fail_df) {
		int rc = be->fail_df;
		be->fail_df = 0;
		return rc;
	}
	if (p >= FB_PORTS || !be->open[p])
		return -ENOENT;
	be->df[p] = df;
	return 0;
}

static struct fb_send *fb_record(struct dp_backend *be)
{
	if (be->nsends == FB_SENDS)
		be->nsends = 0; /* a fuzzer sends forever: wrap */
	struct fb_send *s = &be->sends[be->nsends++];
	memset(s, 0, offsetof(struct fb_send, bytes));
	return s;
}

static int fb_tx_fanout(struct dp_backend *be, const struct dp_pkt *pkt, const struct dp_tx *tx,
			const uint8_t *hdrs, unsigned n)
{
	unsigned q = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct dp_tx *t = &tx[i];
		if (t->port >= FB_PORTS || !be->open[t->port] || t->skip > pkt->len ||
		    t->hdr_len > DP_TX_HDR_MAX || pkt->buf >= FB_BUFS || !be->refs[pkt->buf] ||
		    pkt->data < be->bufs[pkt->buf] ||
		    pkt->data + pkt->len > be->bufs[pkt->buf] + FB_BUF_SIZE)
			abort(); /* the caller broke the contract */
		struct fb_send *s = fb_record(be);
		s->port = t->port;
		s->dst = t->dst;
		s->hdr_len = t->hdr_len;
		memcpy(s->hdr, hdrs + (size_t)i * DP_TX_HDR_MAX, t->hdr_len);
		s->skip = t->skip;
		s->len = pkt->len - t->skip;
		s->buf = pkt->buf;
		memcpy(s->bytes, s->hdr, s->hdr_len);
		memcpy(s->bytes + s->hdr_len, pkt->data + t->skip, s->len);
		s->wire_len = s->hdr_len + s->len;
		/* The send completes at once: the reference it took is given back. */
		q++;
	}
	return (int)q;
}

static int fb_tx_copy(struct dp_backend *be, uint32_t port, const struct sp_addr *dst,
		      const void *data, uint32_t len, uint64_t cookie)
{
	(void)cookie;
	if (port >= FB_PORTS || !be->open[port])
		return -ENOENT;
	if (len > FB_BUF_SIZE)
		return -EMSGSIZE;
	struct fb_send *s = fb_record(be);
	s->port = port;
	s->dst = *dst;
	s->copy = true;
	s->buf = UINT32_MAX;
	s->len = len;
	memcpy(s->bytes, data, len);
	s->wire_len = len;
	return 0;
}

static int fb_tx_alloc(struct dp_backend *be, struct dp_pkt *out, uint32_t *cap)
{
	if (be->no_tx_buffers)
		return -ENOBUFS;
	for (uint32_t b = FB_RX_BUFS; b < FB_BUFS; b++) {
		if (be->refs[b])
			continue;
		be->refs[b] = 1;
		*out = (struct dp_pkt){ .data = be->bufs[b], .buf = b };
		*cap = FB_BUF_SIZE;
		return 0;
	}
	return -ENOBUFS;
}

static void fb_release(struct dp_backend *be, const struct dp_pkt *pkt)
{
	if (pkt->buf == UINT32_MAX)
		return; /* a connection event: no buffer */
	if (pkt->buf >= FB_BUFS || be->refs[pkt->buf] == 0)
		abort(); /* released twice, or never taken */
	be->refs[pkt->buf]--;
}

static void fb_flush(struct dp_backend *be) { (void)be; }

static int fb_listen_adopt(struct dp_backend *be, int fd, uint32_t *port)
{
	struct sp_addr a = { 0 };
	(void)fd;
	return fb_port_open(be, &a, true, port);
}

static int fb_stream_send(struct dp_backend *be, uint32_t conn, const uint8_t *hdr,
			  uint16_t hdr_len, const struct dp_pkt *pkt, uint32_t skip, uint32_t len,
			  uint8_t pad)
{
	if (conn >= FB_PORTS || !be->open[conn])
		return -ENOTCONN;
	if (hdr_len > DP_TX_HDR_MAX || pad > 3 || len > FB_BUF_SIZE ||
	    (pkt && (pkt->buf >= FB_BUFS || !be->refs[pkt->buf] || skip + len > pkt->len)))
		abort(); /* the caller broke the contract */
	if (be->full_stream)
		return -ENOBUFS;
	struct fb_send *s = fb_record(be);
	s->port = conn;
	s->stream = true;
	s->hdr_len = hdr_len;
	if (hdr_len) {
		memcpy(s->hdr, hdr, hdr_len);
		memcpy(s->bytes, hdr, hdr_len);
	}
	s->skip = (uint16_t)skip;
	s->len = pkt ? len : 0;
	s->buf = pkt ? pkt->buf : UINT32_MAX;
	if (pkt)
		memcpy(s->bytes + hdr_len, pkt->data + skip, len);
	memset(s->bytes + hdr_len + s->len, 0, pad);
	s->wire_len = hdr_len + s->len + pad;
	return 0;
}

static int fb_stream_send_copy(struct dp_backend *be, uint32_t conn, const void *data, uint32_t len)
{
	if (conn >= FB_PORTS || !be->open[conn])
		return -ENOTCONN;
	if (be->full_stream)
		return -ENOBUFS;
	/* Recorded in pieces of at most a buffer, like the real one's slots. */
	const uint8_t *d = data;
	do {
		uint32_t n = len < FB_BUF_SIZE ? len : FB_BUF_SIZE;
		struct fb_send *s = fb_record(be);
		s->port = conn;
		s->stream = true;
		s->copy = true;
		s->buf = UINT32_MAX;
		s->len = n;
		memcpy(s->bytes, d, n);
		s->wire_len = n;
		d += n;
		len -= n;
	} while (len);
	return 0;
}

static uint32_t fb_stream_room(struct dp_backend *be, uint32_t conn)
{
	if (conn >= FB_PORTS || !be->open[conn] || be->full_stream)
		return 0;
	return be->stream_room ? be->stream_room : 1u << 20;
}

static const struct dp_backend_ops fb_ops = {
	.name = "fake",
	.port_open = fb_port_open,
	.port_close = fb_port_close,
	.port_addr = fb_port_addr,
	.tx_fanout = fb_tx_fanout,
	.tx_copy = fb_tx_copy,
	.tx_alloc = fb_tx_alloc,
	.flush = fb_flush,
	.release = fb_release,
	.listen_adopt = fb_listen_adopt,
	.stream_send = fb_stream_send,
	.stream_send_copy = fb_stream_send_copy,
	.stream_room = fb_stream_room,
	.port_set_df = fb_port_set_df,
};

/* A connection accepted on listening port `lport`: DP_PKT_OPEN for a new
 * connection port bound to `local`, from `peer`. */
static struct dp_pkt fb_accept(struct dp_backend *be, uint32_t lport, const struct sp_addr *local,
			       const struct sp_addr *peer)
{
	uint32_t p = UINT32_MAX;
	fb_port_open(be, local, false, &p);
	return (struct dp_pkt){ .port = p, .buf = UINT32_MAX, .kind = DP_PKT_OPEN, .parent = lport,
				.src = *peer };
}

/* Open a port as if a listener socket had been adopted. */
static uint32_t fb_listener(struct dp_backend *be, const struct sp_addr *a)
{
	uint32_t p = UINT32_MAX;
	fb_port_open(be, a, true, &p);
	return p;
}

/* A received datagram in receive buffer `b` (one reference, as rx_burst gives). */
static struct dp_pkt fb_rx(struct dp_backend *be, uint32_t b, uint32_t port,
			   const struct sp_addr *src, const void *data, uint32_t len)
{
	/* Put the datagram at an offset, as the io_uring backend does (the
	 * recvmsg header and address come first). */
	uint32_t off = 144;
	if (len > FB_BUF_SIZE - off)
		len = FB_BUF_SIZE - off;
	memcpy(be->bufs[b] + off, data, len);
	be->refs[b] = 1;
	return (struct dp_pkt){ .data = be->bufs[b] + off, .len = len, .port = port, .buf = b,
				.src = *src };
}

/* Bytes of a connection in receive buffer `b` (one reference). */
static struct dp_pkt fb_stream_rx(struct dp_backend *be, uint32_t b, uint32_t conn,
				  const struct sp_addr *peer, const void *data, uint32_t len)
{
	struct dp_pkt p = fb_rx(be, b, conn, peer, data, len);
	p.kind = DP_PKT_STREAM;
	return p;
}

#endif
