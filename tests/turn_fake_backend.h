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
	uint8_t bytes[FB_BUF_SIZE + DP_TX_HDR_MAX]; /* what went on the wire: hdr + data */
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
	if (pkt->buf >= FB_BUFS || be->refs[pkt->buf] == 0)
		abort(); /* released twice, or never taken */
	be->refs[pkt->buf]--;
}

static void fb_flush(struct dp_backend *be) { (void)be; }

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
	.port_set_df = fb_port_set_df,
};

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

#endif
