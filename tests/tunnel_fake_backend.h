/*
 * tunnel_fake_backend: a dp_backend_ops table without I/O for driving
 * dataplane/tunnel.c (tests/test_tunnel.c, tests/fuzz/fuzz_tunnel.c).
 * Connections keep what was sent on them in a sink (copies and references
 * alike); sends by reference stay queued (holding their buffer) until
 * tb_drain(), so a test decides when a local reader is slow. Each
 * connection has a queue limit (sends) and an output room (bytes). Pause
 * state is recorded. Header-only: include it in one file per program.
 */
#ifndef SP_TEST_TUNNEL_FAKE_BACKEND_H
#define SP_TEST_TUNNEL_FAKE_BACKEND_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#define TB_PORTS 64
#define TB_RX_BUFS 64
#define TB_TX_BUFS 64
#define TB_BUFS (TB_RX_BUFS + TB_TX_BUFS)
#define TB_BUF_SIZE 2048
#ifndef TB_SINK
#define TB_SINK (1u << 20)
#endif
#define TB_QUEUE 64

struct tb_port {
	bool open, listener, paused;
	struct sp_addr bound;
	uint32_t qcap;            /* sends a connection queues (0: TB_QUEUE) */
	bool room_fixed;          /* room below is the connection's room (used up by copies) */
	uint32_t room;
	uint32_t q[TB_QUEUE];     /* queued sends by reference: buffer ids */
	uint32_t qn;
	uint32_t sends;           /* stream_send calls accepted */
	uint8_t *sink;            /* every byte sent, in order */
	uint32_t sink_len;
	uint32_t pauses;
};

struct dp_backend {
	struct tb_port p[TB_PORTS];
	uint8_t bufs[TB_BUFS][TB_BUF_SIZE];
	uint32_t refs[TB_BUFS];
	bool no_tx;
	unsigned opens, closes;
};

static struct dp_backend *tb_new(void)
{
	return calloc(1, sizeof(struct dp_backend)); /* sinks come with their first byte */
}

static void tb_free(struct dp_backend *be)
{
	for (int i = 0; i < TB_PORTS; i++)
		free(be->p[i].sink);
	free(be);
}

static int tb_open_port(struct dp_backend *be, const struct sp_addr *a, uint32_t *port)
{
	for (uint32_t i = 0; i < TB_PORTS; i++) {
		struct tb_port *p = &be->p[i];
		if (p->open)
			continue;
		uint8_t *sink = p->sink;
		memset(p, 0, sizeof(*p));
		p->sink = sink;
		p->open = true;
		if (a)
			p->bound = *a;
		be->opens++;
		*port = i;
		return 0;
	}
	return -ENOSPC;
}

static void tb_buf_put(struct dp_backend *be, uint32_t b)
{
	if (b >= TB_BUFS || !be->refs[b])
		abort(); /* released twice, or never taken */
	be->refs[b]--;
}

static void tb_port_close(struct dp_backend *be, uint32_t port)
{
	if (port >= TB_PORTS || !be->p[port].open)
		return;
	struct tb_port *p = &be->p[port];
	for (uint32_t i = 0; i < p->qn; i++)
		tb_buf_put(be, p->q[i]);
	p->qn = 0;
	p->open = false;
	be->closes++;
}

static int tb_port_addr(struct dp_backend *be, uint32_t port, struct sp_addr *out)
{
	if (port >= TB_PORTS || !be->p[port].open)
		return -ENOENT;
	*out = be->p[port].bound;
	return 0;
}

static int tb_tx_alloc(struct dp_backend *be, struct dp_pkt *out, uint32_t *cap)
{
	if (be->no_tx)
		return -ENOBUFS;
	for (uint32_t b = TB_RX_BUFS; b < TB_BUFS; b++) {
		if (be->refs[b])
			continue;
		be->refs[b] = 1;
		*out = (struct dp_pkt){ .data = be->bufs[b], .buf = b };
		*cap = TB_BUF_SIZE;
		return 0;
	}
	return -ENOBUFS;
}

static void tb_release(struct dp_backend *be, const struct dp_pkt *pkt)
{
	if (pkt->buf == UINT32_MAX)
		return; /* a connection event */
	tb_buf_put(be, pkt->buf);
}

static void tb_flush(struct dp_backend *be) { (void)be; }

static void tb_sink(struct tb_port *p, const void *d, uint32_t n)
{
	if (!n)
		return;
	if (!p->sink && !(p->sink = malloc(TB_SINK)))
		abort();
	if (p->sink_len + n > TB_SINK)
		abort(); /* a test that sends this much should reset the sink */
	memcpy(p->sink + p->sink_len, d, n);
	p->sink_len += n;
}

static uint32_t tb_qcap(const struct tb_port *p)
{
	return p->qcap ? p->qcap : TB_QUEUE;
}

static int tb_stream_send(struct dp_backend *be, uint32_t conn, const uint8_t *hdr,
			  uint16_t hdr_len, const struct dp_pkt *pkt, uint32_t skip, uint32_t len,
			  uint8_t pad)
{
	if (conn >= TB_PORTS || !be->p[conn].open || be->p[conn].listener)
		return -ENOTCONN;
	struct tb_port *p = &be->p[conn];
	if (hdr_len > DP_TX_HDR_MAX || pad > 3 || len > TB_BUF_SIZE ||
	    (pkt && (pkt->buf >= TB_BUFS || !be->refs[pkt->buf] || skip + len > pkt->len)))
		abort(); /* the caller broke the contract */
	if (p->qn >= tb_qcap(p))
		return -ENOBUFS;
	tb_sink(p, hdr, hdr_len);
	if (pkt) {
		tb_sink(p, pkt->data + skip, len);
		be->refs[pkt->buf]++;
		p->q[p->qn++] = pkt->buf;
	}
	p->sends++;
	return 0;
}

static uint32_t tb_stream_room(struct dp_backend *be, uint32_t conn)
{
	if (conn >= TB_PORTS || !be->p[conn].open)
		return 0;
	struct tb_port *p = &be->p[conn];
	if (p->room_fixed)
		return p->room;
	return (tb_qcap(p) - p->qn) * TB_BUF_SIZE;
}

static int tb_stream_send_copy(struct dp_backend *be, uint32_t conn, const void *data, uint32_t len)
{
	if (conn >= TB_PORTS || !be->p[conn].open)
		return -ENOTCONN;
	if (len > tb_stream_room(be, conn))
		return -ENOBUFS;
	tb_sink(&be->p[conn], data, len);
	if (be->p[conn].room_fixed)
		be->p[conn].room -= len;
	return 0;
}

static int tb_stream_pause(struct dp_backend *be, uint32_t conn, bool pause)
{
	if (conn >= TB_PORTS || !be->p[conn].open || be->p[conn].listener)
		return -EINVAL;
	if (pause && !be->p[conn].paused)
		be->p[conn].pauses++;
	be->p[conn].paused = pause;
	return 0;
}

static int tb_listen_open(struct dp_backend *be, const struct sp_addr *bind, uint32_t *port)
{
	int rc = tb_open_port(be, bind, port);
	if (rc == 0) {
		be->p[*port].listener = true;
		be->p[*port].bound.port = htons((uint16_t)(40000 + *port));
	}
	return rc;
}

static int tb_listen_adopt(struct dp_backend *be, int fd, uint32_t *port)
{
	(void)fd;
	int rc = tb_open_port(be, NULL, port);
	if (rc == 0)
		be->p[*port].listener = true;
	return rc;
}

static const struct dp_backend_ops tb_ops = {
	.name = "tunnel-fake",
	.port_close = tb_port_close,
	.port_addr = tb_port_addr,
	.tx_alloc = tb_tx_alloc,
	.flush = tb_flush,
	.release = tb_release,
	.listen_adopt = tb_listen_adopt,
	.stream_send = tb_stream_send,
	.stream_send_copy = tb_stream_send_copy,
	.stream_room = tb_stream_room,
	.stream_pause = tb_stream_pause,
	.listen_open = tb_listen_open,
};

/* Sends queued on a connection complete: their buffers are given back. */
static void tb_drain(struct dp_backend *be, uint32_t conn)
{
	struct tb_port *p = &be->p[conn];
	for (uint32_t i = 0; i < p->qn; i++)
		tb_buf_put(be, p->q[i]);
	p->qn = 0;
}

/* A connection accepted on listening port `lport`. */
static struct dp_pkt tb_accept(struct dp_backend *be, uint32_t lport)
{
	uint32_t p = UINT32_MAX;
	struct sp_addr peer = { .family = AF_INET, .port = htons(5555), .ip = { 127, 0, 0, 1 } };
	tb_open_port(be, NULL, &p);
	return (struct dp_pkt){ .port = p, .buf = UINT32_MAX, .kind = DP_PKT_OPEN, .parent = lport,
				.src = peer };
}

/* Bytes of a connection in a free receive buffer (one reference). */
static struct dp_pkt tb_rx(struct dp_backend *be, uint32_t conn, const void *data, uint32_t len)
{
	uint32_t b = 0;
	while (b < TB_RX_BUFS && be->refs[b])
		b++;
	if (b == TB_RX_BUFS || len > TB_BUF_SIZE)
		abort(); /* the test leaked receive buffers or chunks too large */
	memcpy(be->bufs[b], data, len);
	be->refs[b] = 1;
	return (struct dp_pkt){ .data = be->bufs[b], .len = len, .port = conn, .buf = b,
				.kind = DP_PKT_STREAM };
}

static struct dp_pkt tb_closed(uint32_t conn)
{
	return (struct dp_pkt){ .port = conn, .buf = UINT32_MAX, .kind = DP_PKT_CLOSED };
}

static unsigned tb_refs_held(const struct dp_backend *be)
{
	unsigned n = 0;
	for (int b = 0; b < TB_BUFS; b++)
		n += be->refs[b];
	return n;
}

#endif
