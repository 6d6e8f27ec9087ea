/*
 * uring_backend: the default spdp I/O backend, on io_uring (liburing).
 *
 * Receive: every UDP port has one multishot RECVMSG armed with buffer
 * selection from a single provided-buffer ring (buffer group 0), so the
 * kernel writes each datagram, with its source address, straight into a
 * buffer we own; a completion names the buffer. Kernels without multishot
 * recvmsg (< 6.0) get single-shot RECVMSG re-armed after each datagram.
 *
 * Send: one SENDMSG per destination, iovec [per-destination header][shared
 * payload], from a preallocated slot (msghdr, iovec, address, header) that
 * lives until the completion. Each send holds a reference on the receive
 * buffer; the buffer returns to the provided ring when the last one drops.
 * SEND_ZC (sendmsg_zc) is used when configured and supported: the slot then
 * lives until the zero-copy notification.
 *
 * Waiting: a READ on the worker's doorbell eventfd is kept armed, so one
 * io_uring_submit_and_wait_timeout() sleeps on packets, send completions,
 * commands from spcp and the timeout at once.
 *
 * TCP: a listening port has a multishot ACCEPT armed; each connection gets
 * a port index (with a generation, so a completion of a previous owner of
 * the index is recognised), a multishot RECV from the same provided
 * buffers, and a FIFO of send slots of which only the head is in flight
 * (io_uring may reorder independent sends on one socket; a short write is
 * resumed from where it stopped). Opens, bytes and ends go to the caller
 * through the same pending FIFO as datagrams, so they stay in order.
 * Pausing a connection cancels its receive and parks the chunks it had
 * already received (a chain through the buffer ids, so no extra memory);
 * resuming hands them out first, then re-arms.
 *
 * user_data = kind << 56 | index (port for receives, slot for sends).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "../backend.h"
#include "log.h"

#define UD_RECV 1ull
#define UD_SEND 2ull
#define UD_DOORBELL 3ull
#define UD_ACCEPT 4ull
#define UD_KIND(ud) ((ud) >> 56)
#define UD_IDX(ud) ((uint32_t)((ud) & 0xffffffffu))
#define UD_GEN(ud) ((uint32_t)((ud) >> 32) & 0xffffffu)
#define UD(kind, idx) (((uint64_t)(kind) << 56) | (uint64_t)(idx))
/* Receives and accepts carry the port's generation: a completion that
 * arrives after the index went to another socket is recognised. */
#define UD_PORT(kind, up, idx) (UD(kind, idx) | (uint64_t)((up)->gen & 0xffffffu) << 32)

#define BGID 0
#define NO_BUF UINT32_MAX
#define ERRQ 256
#define COPY_MAX 2048

enum { PK_UDP = 0, PK_LISTEN, PK_CONN };

struct uport {
	int fd;
	bool armed;
	uint8_t kind;        /* PK_* */
	bool failed;         /* PK_CONN: EOF, reset or send error seen; CLOSED queued */
	uint32_t gen;        /* bumped at every close: stale completions are ignored */
	bool sending;        /* PK_CONN: the FIFO's head is in flight */
	uint32_t sq_head, sq_tail, sq_len; /* PK_CONN: send FIFO (slot indexes) */
	bool paused;         /* PK_CONN: stream_pause: receive cancelled, chunks parked */
	bool park_closed;    /* PK_CONN: the end arrived while paused */
	uint32_t park_head, park_tail; /* PK_CONN: parked chunks (buffer ids) */
	struct sp_addr bound;
	struct sp_addr peer; /* PK_CONN */
	/* single-shot fallback: the kernel writes the source address here */
	struct msghdr mh;
	struct sockaddr_storage name;
};

struct tx_slot {
	struct msghdr mh;
	struct iovec iov[3];
	struct sockaddr_storage dst;
	uint8_t hdr[DP_TX_HDR_MAX];
	uint32_t buf;        /* receive buffer referenced, or NO_BUF */
	uint32_t next_free;
	uint32_t bytes;
	uint64_t cookie;
	uint8_t *copy;       /* tx_copy: owned bytes (COPY_MAX) */
	bool zc;             /* waiting for the zero-copy notification */
	uint32_t conn, gen;  /* stream sends: the connection (NO_CONN: a datagram) */
	uint32_t next_q;     /* stream sends: next in the connection's FIFO */
};
#define NO_CONN UINT32_MAX
static const uint8_t zero_pad[4];

struct dp_backend {
	struct io_uring ring;
	struct dp_backend_cfg cfg;
	struct stats_block *st;
	/* provided buffers */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	uint16_t *refs;          /* per buffer: rx ids [0, nbufs), tx pool after */
	uint32_t nbufs, buf_size, br_mask;
	/* transmit pool: buffer ids [nbufs, nbufs + ntx), free ones stacked */
	uint32_t ntx, *tx_free, tx_top;
	uint32_t *park_next, *park_len; /* per receive buffer: parked chunk chain */
	struct msghdr rx_tmpl;   /* multishot layout: name length, no control */
	bool multishot, send_zc, single_issuer;
	/* ports */
	struct uport *ports;
	uint32_t nports;
	/* sends */
	struct tx_slot *slots;
	uint8_t *copy_area;
	uint32_t nslots, free_slot, inflight;
	/* doorbell */
	uint64_t doorbell_val;
	bool doorbell_armed;
	/* Received packets reaped beyond what the caller asked for: the whole
	 * CQ is always drained so send completions (and their slots) are never
	 * stuck behind receives. At most one entry per receive buffer. */
	struct dp_pkt *pend;
	uint32_t pend_head, pend_tail, pend_mask;
	/* failed sends for the layer above */
	struct dp_tx_err errq[ERRQ];
	uint32_t errq_head, errq_tail;
};

static void on_stream_send(struct dp_backend *be, uint32_t s, const struct io_uring_cqe *cqe);
static struct tx_slot *slot_get(struct dp_backend *be, uint32_t *idx);
struct uport;
static void sq_drain(struct dp_backend *be, struct uport *up);

static inline void cnt(struct dp_backend *be, enum stat_counter c, uint64_t n)
{
	if (be->st)
		stats_add(be->st, c, n);
}

static inline void drop(struct dp_backend *be, enum stat_drop d)
{
	if (be->st)
		stats_drop(be->st, d);
}

static struct io_uring_sqe *get_sqe(struct dp_backend *be)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);

	if (!sqe) {
		/* Submission queue full: hand it to the kernel and retry once. */
		io_uring_submit(&be->ring);
		sqe = io_uring_get_sqe(&be->ring);
	}
	return sqe;
}

static void buf_recycle(struct dp_backend *be, uint32_t bid)
{
	io_uring_buf_ring_add(be->br, be->bufs + (size_t)bid * be->buf_size, be->buf_size,
			      (unsigned short)bid, (int)be->br_mask, 0);
	io_uring_buf_ring_advance(be->br, 1);
}

static void buf_put(struct dp_backend *be, uint32_t bid)
{
	if (bid == NO_BUF || bid >= be->nbufs + be->ntx || be->refs[bid] == 0)
		return;
	if (--be->refs[bid] == 0) {
		if (bid < be->nbufs)
			buf_recycle(be, bid);
		else
			be->tx_free[be->tx_top++] = bid;
	}
}

static int arm_recv(struct dp_backend *be, uint32_t p)
{
	struct uport *up = &be->ports[p];
	struct io_uring_sqe *sqe = get_sqe(be);

	if (!sqe)
		return -EBUSY;
	if (up->kind == PK_LISTEN) {
		io_uring_prep_multishot_accept(sqe, up->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, UD_PORT(UD_ACCEPT, up, p));
		up->armed = true;
		return 0;
	}
	if (up->kind == PK_CONN) {
		io_uring_prep_recv_multishot(sqe, up->fd, NULL, 0, 0);
	} else if (be->multishot) {
		io_uring_prep_recvmsg_multishot(sqe, up->fd, &be->rx_tmpl, 0);
	} else {
		memset(&up->mh, 0, sizeof(up->mh));
		up->mh.msg_name = &up->name;
		up->mh.msg_namelen = sizeof(up->name);
		io_uring_prep_recvmsg(sqe, up->fd, &up->mh, 0);
	}
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD_PORT(UD_RECV, up, p));
	up->armed = true;
	return 0;
}

static void arm_doorbell(struct dp_backend *be)
{
	struct io_uring_sqe *sqe;

	if (be->doorbell_armed || be->cfg.doorbell_fd < 0)
		return;
	sqe = get_sqe(be);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, be->cfg.doorbell_fd, &be->doorbell_val, sizeof(be->doorbell_val), 0);
	io_uring_sqe_set_data64(sqe, UD(UD_DOORBELL, 0));
	be->doorbell_armed = true;
}

static void probe(struct dp_backend *be)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&be->ring);

	be->send_zc = false;
	if (p) {
#ifdef IORING_OP_SENDMSG_ZC
		be->send_zc = io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);
#endif
		io_uring_free_probe(p);
	}
	/* Multishot recvmsg is assumed; the first completion tells (-EINVAL). */
	be->multishot = true;
}

static int uring_create(struct dp_backend **out, const struct dp_backend_cfg *cfg)
{
	struct io_uring_params params;
	struct io_uring_buf_reg reg;
	struct dp_backend *be;
	uint32_t entries;
	int rc;

	if (!cfg->rx_buffers || (cfg->rx_buffers & (cfg->rx_buffers - 1)) || cfg->rx_buffers > 32768 ||
	    cfg->rx_buf_size < 256 || !cfg->tx_slots || !cfg->max_ports)
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->cfg = *cfg;
	be->st = cfg->stats;
	entries = cfg->tx_slots < 256 ? 256 : cfg->tx_slots;
	if (entries > 4096)
		entries = 4096;

	/* Single issuer + cooperative task running when the kernel has them. */
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	params.cq_entries = entries * 4 + cfg->rx_buffers;
	rc = io_uring_queue_init_params(entries, &be->ring, &params);
	if (rc == -EINVAL) {
		params = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
						   .cq_entries = entries * 4 + cfg->rx_buffers };
		rc = io_uring_queue_init_params(entries, &be->ring, &params);
	} else {
		be->single_issuer = true;
	}
	if (rc < 0)
		goto out_free;
	probe(be);
	if (cfg->zerocopy_send && !be->send_zc)
		log_notice("worker %u: zero-copy send requested but not supported by this kernel; copying",
			   cfg->worker);
	be->send_zc = be->send_zc && cfg->zerocopy_send;

	/* Provided-buffer ring: liburing 2.3 has no io_uring_setup_buf_ring, so
	 * map the ring memory ourselves and register it. */
	be->nbufs = cfg->rx_buffers;
	be->buf_size = cfg->rx_buf_size;
	be->br_mask = (uint32_t)io_uring_buf_ring_mask(be->nbufs);
	be->br_bytes = (sizeof(struct io_uring_buf) * be->nbufs + 4095) & ~(size_t)4095;
	be->br = mmap(NULL, be->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (be->br == MAP_FAILED) {
		rc = -errno;
		be->br = NULL;
		goto out_ring;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)be->br;
	reg.ring_entries = be->nbufs;
	reg.bgid = BGID;
	rc = io_uring_register_buf_ring(&be->ring, &reg, 0);
	if (rc < 0) {
		log_error(-rc, "worker %u: io_uring provided-buffer rings are unavailable (Linux >= 5.19 needed)",
			  cfg->worker);
		goto out_br;
	}
	io_uring_buf_ring_init(be->br);
	be->ntx = cfg->tx_buffers;
	be->bufs = aligned_alloc(64, (size_t)(be->nbufs + be->ntx) * be->buf_size);
	be->refs = calloc(be->nbufs + be->ntx, sizeof(*be->refs));
	be->tx_free = calloc(be->ntx + 1, sizeof(*be->tx_free));
	be->ports = calloc(cfg->max_ports, sizeof(*be->ports));
	be->slots = calloc(cfg->tx_slots, sizeof(*be->slots));
	be->copy_area = malloc((size_t)cfg->tx_slots * COPY_MAX);
	/* Every pending datagram or chunk holds a buffer; every port adds at
	 * most an OPEN and a CLOSED. */
	uint32_t pend_cap = 1;
	while (pend_cap < be->nbufs + 2 * cfg->max_ports)
		pend_cap <<= 1;
	be->pend_mask = pend_cap - 1;
	be->pend = calloc(pend_cap, sizeof(*be->pend));
	be->park_next = calloc(be->nbufs, sizeof(*be->park_next));
	be->park_len = calloc(be->nbufs, sizeof(*be->park_len));
	if (!be->bufs || !be->refs || !be->tx_free || !be->ports || !be->slots || !be->copy_area ||
	    !be->pend || !be->park_next || !be->park_len) {
		rc = -ENOMEM;
		goto out_mem;
	}
	for (uint32_t i = 0; i < be->nbufs; i++)
		io_uring_buf_ring_add(be->br, be->bufs + (size_t)i * be->buf_size, be->buf_size,
				      (unsigned short)i, (int)be->br_mask, (int)i);
	io_uring_buf_ring_advance(be->br, (int)be->nbufs);
	for (uint32_t i = 0; i < be->ntx; i++)
		be->tx_free[be->tx_top++] = be->nbufs + be->ntx - 1 - i;
	for (uint32_t p = 0; p < cfg->max_ports; p++) {
		be->ports[p].fd = -1;
		be->ports[p].park_head = be->ports[p].park_tail = NO_BUF;
	}
	be->nslots = cfg->tx_slots;
	for (uint32_t i = 0; i < be->nslots; i++) {
		be->slots[i].next_free = i + 1 < be->nslots ? i + 1 : UINT32_MAX;
		be->slots[i].copy = be->copy_area + (size_t)i * COPY_MAX;
		be->slots[i].buf = NO_BUF;
		be->slots[i].conn = NO_CONN;
	}
	be->free_slot = 0;
	be->rx_tmpl.msg_namelen = sizeof(struct sockaddr_storage);
	arm_doorbell(be);
	io_uring_submit(&be->ring);
	log_info("worker %u: io_uring backend: multishot recvmsg, provided buffers %u x %u B, "
		 "%u send slots, send %s%s", cfg->worker, be->nbufs, be->buf_size, be->nslots,
		 be->send_zc ? "SENDMSG_ZC" : "SENDMSG (copy)",
		 be->single_issuer ? ", single issuer" : "");
	*out = be;
	return 0;

out_mem:
	free(be->park_next);
	free(be->park_len);
	free(be->pend);
	free(be->bufs);
	free(be->refs);
	free(be->tx_free);
	free(be->ports);
	free(be->slots);
	free(be->copy_area);
	io_uring_unregister_buf_ring(&be->ring, BGID);
out_br:
	munmap(be->br, be->br_bytes);
out_ring:
	io_uring_queue_exit(&be->ring);
out_free:
	free(be);
	return rc;
}

static void uring_destroy(struct dp_backend *be)
{
	if (!be)
		return;
	for (uint32_t p = 0; p < be->cfg.max_ports; p++)
		if (be->ports[p].fd >= 0)
			close(be->ports[p].fd);
	/* Closing the ring cancels everything in flight before the memory goes. */
	io_uring_queue_exit(&be->ring);
	munmap(be->br, be->br_bytes);
	free(be->bufs);
	free(be->refs);
	free(be->tx_free);
	free(be->ports);
	free(be->slots);
	free(be->copy_area);
	free(be->pend);
	free(be->park_next);
	free(be->park_len);
	free(be);
}

static void uring_info(const struct dp_backend *be, struct dp_backend_info *out)
{
	*out = (struct dp_backend_info){ .name = "io_uring", .multishot_recv = be->multishot,
					 .buf_ring = true, .send_zc = be->send_zc,
					 .single_issuer = be->single_issuer };
}

static int adopt(struct dp_backend *be, int fd, uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t p;
	int rc;

	for (p = 0; p < be->cfg.max_ports; p++)
		if (be->ports[p].fd < 0)
			break;
	if (p == be->cfg.max_ports)
		return -ENOSPC;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (be->cfg.rcvbuf) {
		/* Bursts from many cameras outrun the kernel default (~90 packets);
		 * FORCE lets root exceed net.core.rmem_max. */
		int sz = (int)be->cfg.rcvbuf;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	be->ports[p].fd = fd;
	sp_addr_from_sockaddr(&be->ports[p].bound, (struct sockaddr *)&ss, sl);
	if (p >= be->nports)
		be->nports = p + 1;
	if ((rc = arm_recv(be, p)) < 0) {
		be->ports[p].fd = -1;
		return rc;
	}
	io_uring_submit(&be->ring);
	*port = p;
	return 0;
}

static int uring_port_adopt(struct dp_backend *be, int fd, uint32_t *port)
{
	return adopt(be, fd, port);
}

static int uring_port_open(struct dp_backend *be, const struct sp_addr *bind_addr, bool reuseport,
			   uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sp_addr_to_sockaddr(bind_addr, &ss);
	uint32_t p;
	int fd, one = 1, rc;

	for (p = 0; p < be->cfg.max_ports; p++)
		if (be->ports[p].fd < 0)
			break;
	if (p == be->cfg.max_ports)
		return -ENOSPC;
	if (!sl)
		return -EAFNOSUPPORT;
	fd = socket(bind_addr->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind_addr->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	if ((rc = adopt(be, fd, port)) < 0) {
		close(fd);
		return rc;
	}
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

static void park_drop(struct dp_backend *be, struct uport *up)
{
	for (uint32_t b = up->park_head; b != NO_BUF;) {
		uint32_t next = be->park_next[b];
		buf_put(be, b);
		b = next;
	}
	up->park_head = up->park_tail = NO_BUF;
	up->paused = up->park_closed = false;
}

static void uring_port_close(struct dp_backend *be, uint32_t p)
{
	struct io_uring_sqe *sqe;

	if (p >= be->cfg.max_ports || be->ports[p].fd < 0)
		return;
	struct uport *up = &be->ports[p];
	/* Cancel the receive first: its completion (-ECANCELED) finds the
	 * port closed and does not re-arm. */
	if (up->armed && (sqe = get_sqe(be))) {
		io_uring_prep_cancel64(sqe, UD_PORT(up->kind == PK_LISTEN ? UD_ACCEPT : UD_RECV, up, p), 0);
		io_uring_sqe_set_data64(sqe, 0);
		io_uring_submit(&be->ring);
	}
	if (up->kind != PK_UDP) {
		/* Bytes and events not yet taken must not reach whoever gets
		 * this index next. */
		for (uint32_t i = be->pend_tail; i != be->pend_head; i++) {
			struct dp_pkt *e = &be->pend[i & be->pend_mask];
			if (e->port == p && e->kind != DP_PKT_DEAD) {
				buf_put(be, e->buf);
				e->kind = DP_PKT_DEAD;
			}
		}
	}
	if (up->kind == PK_CONN) {
		park_drop(be, up);
		sq_drain(be, up); /* a send in flight is freed at its (stale) completion */
		cnt(be, STAT_CONN_CLOSED, 1);
	}
	close(up->fd);
	up->fd = -1;
	up->gen++;
	up->kind = PK_UDP;
	up->armed = up->failed = up->sending = false;
	up->sq_head = up->sq_tail = NO_CONN;
	up->sq_len = 0;
}

static int uring_port_addr(struct dp_backend *be, uint32_t p, struct sp_addr *out)
{
	if (p >= be->cfg.max_ports || be->ports[p].fd < 0)
		return -ENOENT;
	*out = be->ports[p].bound;
	return 0;
}

static int uring_port_set_df(struct dp_backend *be, uint32_t p, bool df)
{
	int v;

	if (p >= be->cfg.max_ports || be->ports[p].fd < 0)
		return -ENOENT;
	if (be->ports[p].bound.family == AF_INET6) {
		v = df;
		if (setsockopt(be->ports[p].fd, IPPROTO_IPV6, IPV6_DONTFRAG, &v, sizeof(v)) < 0)
			return -errno;
		return 0;
	}
	v = df ? IP_PMTUDISC_DO : IP_PMTUDISC_WANT;
	if (setsockopt(be->ports[p].fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v)) < 0)
		return -errno;
	return 0;
}

static void push_err(struct dp_backend *be, uint64_t cookie, int error)
{
	if (be->errq_head - be->errq_tail >= ERRQ)
		return; /* the drop counter already has it */
	be->errq[be->errq_head++ % ERRQ] = (struct dp_tx_err){ cookie, error };
}

static void slot_free(struct dp_backend *be, uint32_t s)
{
	struct tx_slot *sl = &be->slots[s];

	buf_put(be, sl->buf);
	sl->buf = NO_BUF;
	sl->zc = false;
	sl->next_free = be->free_slot;
	be->free_slot = s;
	be->inflight--;
}

static void on_send(struct dp_backend *be, uint32_t s, const struct io_uring_cqe *cqe)
{
	struct tx_slot *sl;

	if (s >= be->nslots)
		return;
	sl = &be->slots[s];
	if (sl->conn != NO_CONN) {
		on_stream_send(be, s, cqe);
		return;
	}
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		slot_free(be, s); /* zero-copy: the kernel is done with our memory */
		return;
	}
	if (cqe->res < 0) {
		/* EMSGSIZE: a DF port over the path MTU (port_set_df) */
		drop(be, cqe->res == -EMSGSIZE ? DROP_TX_MSGSIZE : DROP_TX_ERROR);
		push_err(be, sl->cookie, cqe->res);
	} else {
		cnt(be, STAT_TX_PACKETS, 1);
		cnt(be, STAT_TX_BYTES, (uint64_t)cqe->res);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		sl->zc = true; /* a notification follows */
	else
		slot_free(be, s);
}

/* ------------------------------------------------------------ TCP */

static void push_event(struct dp_backend *be, uint32_t p, uint8_t kind, uint32_t parent)
{
	struct dp_pkt *e = &be->pend[be->pend_head++ & be->pend_mask];

	*e = (struct dp_pkt){ .port = p, .buf = NO_BUF, .kind = kind, .parent = parent };
	if (kind == DP_PKT_OPEN)
		e->src = be->ports[p].peer;
}

/* Free the connection's queued sends that are not in flight. */
static void sq_drain(struct dp_backend *be, struct uport *up)
{
	bool keep_head = up->sending;
	uint32_t s = up->sq_head;

	if (keep_head && s != NO_CONN)
		s = be->slots[s].next_q;
	while (s != NO_CONN) {
		uint32_t next = be->slots[s].next_q;
		be->slots[s].conn = NO_CONN;
		slot_free(be, s);
		up->sq_len--;
		s = next;
	}
	if (keep_head && up->sq_head != NO_CONN) {
		be->slots[up->sq_head].next_q = NO_CONN;
		up->sq_tail = up->sq_head;
	} else {
		up->sq_head = up->sq_tail = NO_CONN;
	}
}

/* EOF, reset or a failed send: stop sending, tell the owner once. */
static void conn_fail(struct dp_backend *be, uint32_t p)
{
	struct uport *up = &be->ports[p];

	if (up->failed)
		return;
	up->failed = true;
	sq_drain(be, up); /* a head in flight is freed at its completion */
	if (up->paused)
		up->park_closed = true; /* told after the parked bytes, at resume */
	else
		push_event(be, p, DP_PKT_CLOSED, 0);
}

static int sq_submit_head(struct dp_backend *be, struct uport *up)
{
	struct io_uring_sqe *sqe = get_sqe(be);
	uint32_t s = up->sq_head;

	if (!sqe)
		return -EBUSY;
	/* MSG_NOSIGNAL: a peer that reset gets EPIPE here, not a SIGPIPE. */
	io_uring_prep_sendmsg(sqe, up->fd, &be->slots[s].mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, s));
	up->sending = true;
	return 0;
}

static void on_stream_send(struct dp_backend *be, uint32_t s, const struct io_uring_cqe *cqe)
{
	struct tx_slot *sl = &be->slots[s];
	uint32_t p = sl->conn;
	struct uport *up = &be->ports[p];
	bool ok = cqe->res > 0;

	if (up->kind != PK_CONN || up->gen != sl->gen || up->fd < 0 || up->sq_head != s) {
		sl->conn = NO_CONN; /* the connection is gone: nothing to resume */
		slot_free(be, s);
		return;
	}
	up->sending = false;
	if (ok) {
		cnt(be, STAT_TX_BYTES, (uint64_t)cqe->res);
		/* A short write: advance the iovecs and send the rest first. */
		size_t done = (size_t)cqe->res;
		while (sl->mh.msg_iovlen && done >= sl->mh.msg_iov[0].iov_len) {
			done -= sl->mh.msg_iov[0].iov_len;
			sl->mh.msg_iov++;
			sl->mh.msg_iovlen--;
		}
		if (sl->mh.msg_iovlen) {
			sl->mh.msg_iov[0].iov_base = (uint8_t *)sl->mh.msg_iov[0].iov_base + done;
			sl->mh.msg_iov[0].iov_len -= done;
			if (!up->failed && sq_submit_head(be, up) == 0)
				return;
			ok = false;
		} else {
			cnt(be, STAT_TX_PACKETS, 1);
		}
	} else {
		drop(be, DROP_TX_ERROR);
	}
	/* The head is done: off the FIFO, then the next one. */
	up->sq_head = sl->next_q;
	if (up->sq_head == NO_CONN)
		up->sq_tail = NO_CONN;
	up->sq_len--;
	sl->conn = NO_CONN;
	slot_free(be, s);
	if (!ok || (up->sq_head != NO_CONN && !up->failed && sq_submit_head(be, up) < 0))
		conn_fail(be, p);
}

static uint32_t free_port(struct dp_backend *be)
{
	for (uint32_t p = 0; p < be->cfg.max_ports; p++)
		if (be->ports[p].fd < 0)
			return p;
	return NO_CONN;
}

static void on_accept(struct dp_backend *be, uint32_t lp, const struct io_uring_cqe *cqe)
{
	struct uport *l = lp < be->cfg.max_ports ? &be->ports[lp] : NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;

	if (!l)
		return;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->armed = false;
	if (cqe->res >= 0) {
		int fd = cqe->res;
		uint32_t p = l->fd >= 0 && l->kind == PK_LISTEN ? free_port(be) : NO_CONN;
		struct uport *up = p != NO_CONN ? &be->ports[p] : NULL;
		if (!up || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    sp_addr_from_sockaddr(&up->peer, (struct sockaddr *)&ss, sl) < 0) {
			drop(be, DROP_CONN_REFUSED);
			close(fd);
		} else {
			sl = sizeof(ss);
			getsockname(fd, (struct sockaddr *)&ss, &sl);
			sp_addr_from_sockaddr(&up->bound, (struct sockaddr *)&ss, sl);
			/* Small messages (STUN, ChannelData) must not wait for Nagle. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			up->fd = fd;
			up->kind = PK_CONN;
			up->failed = false;
			up->sq_head = up->sq_tail = NO_CONN;
			up->sq_len = 0;
			if (p >= be->nports)
				be->nports = p + 1;
			cnt(be, STAT_CONN_ACCEPTED, 1);
			push_event(be, p, DP_PKT_OPEN, lp);
			if (arm_recv(be, p) < 0)
				conn_fail(be, p);
		}
	} else if (cqe->res != -ECANCELED) {
		log_rl(LOG_LVL_WARNING, -cqe->res, "worker %u: accept on port %u", be->cfg.worker, lp);
	}
	if (!l->armed && l->fd >= 0 && l->kind == PK_LISTEN && cqe->res != -ECANCELED)
		arm_recv(be, lp);
}

static void park_add(struct dp_backend *be, struct uport *up, uint32_t bid, uint32_t len)
{
	be->park_next[bid] = NO_BUF;
	be->park_len[bid] = len;
	if (up->park_tail == NO_BUF)
		up->park_head = bid;
	else
		be->park_next[up->park_tail] = bid;
	up->park_tail = bid;
}

/* A stream receive completion; 1 when bytes were stored in *pkt. */
static int on_stream_recv(struct dp_backend *be, uint32_t p, const struct io_uring_cqe *cqe,
			  struct dp_pkt *pkt)
{
	struct uport *up = &be->ports[p];
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		up->armed = false;
	if (up->fd < 0 || up->failed) {
		if (cqe->flags & IORING_CQE_F_BUFFER)
			buf_recycle(be, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return 0;
	}
	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid >= be->nbufs)
			return 0;
		be->refs[bid] = 1;
		if (up->paused) {
			/* Received before the cancel took effect: kept for resume. */
			park_add(be, up, bid, (uint32_t)cqe->res);
			cnt(be, STAT_RX_BYTES, (uint32_t)cqe->res);
			return 0;
		}
		*pkt = (struct dp_pkt){ .data = be->bufs + (size_t)bid * be->buf_size,
					.len = (uint32_t)cqe->res, .port = p, .buf = bid,
					.kind = DP_PKT_STREAM, .src = up->peer };
		cnt(be, STAT_RX_BYTES, pkt->len);
		if (!more && arm_recv(be, p) < 0)
			conn_fail(be, p);
		return 1;
	}
	if (cqe->res == -ENOBUFS) {
		/* Bytes wait in the socket; take them once buffers come back. */
		cnt(be, STAT_RX_BUF_EXHAUSTED, 1);
		if (!more && !up->paused && arm_recv(be, p) < 0)
			conn_fail(be, p);
		return 0;
	}
	if (cqe->res == -ECANCELED) {
		/* A pause's cancel; resumed since: receive again. */
		if (!more && !up->paused && !up->armed && arm_recv(be, p) < 0)
			conn_fail(be, p);
		return 0;
	}
	conn_fail(be, p); /* 0: EOF; < 0: reset and the like */
	return 0;
}

static int uring_listen_adopt(struct dp_backend *be, int fd, uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t p = free_port(be);
	int rc;

	if (p == NO_CONN)
		return -ENOSPC;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	be->ports[p].fd = fd;
	be->ports[p].kind = PK_LISTEN;
	sp_addr_from_sockaddr(&be->ports[p].bound, (struct sockaddr *)&ss, sl);
	if (p >= be->nports)
		be->nports = p + 1;
	if ((rc = arm_recv(be, p)) < 0) {
		be->ports[p].fd = -1;
		be->ports[p].kind = PK_UDP;
		return rc;
	}
	io_uring_submit(&be->ring);
	*port = p;
	return 0;
}

static struct tx_slot *stream_slot(struct dp_backend *be, struct uport *up, uint32_t *s)
{
	struct tx_slot *sl = slot_get(be, s);

	if (!sl)
		return NULL;
	memset(&sl->mh, 0, sizeof(sl->mh));
	sl->mh.msg_iov = sl->iov;
	sl->buf = NO_BUF;
	sl->conn = (uint32_t)(up - be->ports);
	sl->gen = up->gen;
	sl->next_q = NO_CONN;
	sl->cookie = 0;
	return sl;
}

static void sq_push(struct dp_backend *be, struct uport *up, uint32_t s)
{
	if (up->sq_tail == NO_CONN) {
		up->sq_head = up->sq_tail = s;
	} else {
		be->slots[up->sq_tail].next_q = s;
		up->sq_tail = s;
	}
	up->sq_len++;
	if (up->sq_head == s && sq_submit_head(be, up) < 0)
		conn_fail(be, (uint32_t)(up - be->ports));
}

static struct uport *live_conn(struct dp_backend *be, uint32_t conn, int *err)
{
	struct uport *up = conn < be->cfg.max_ports ? &be->ports[conn] : NULL;

	if (!up || up->fd < 0 || up->kind != PK_CONN) {
		*err = -EINVAL;
		return NULL;
	}
	if (up->failed) {
		*err = -ENOTCONN;
		return NULL;
	}
	return up;
}

static int uring_stream_send(struct dp_backend *be, uint32_t conn, const uint8_t *hdr,
			     uint16_t hdr_len, const struct dp_pkt *pkt, uint32_t skip, uint32_t len,
			     uint8_t pad)
{
	int err;
	struct uport *up = live_conn(be, conn, &err);
	struct tx_slot *sl;
	uint32_t s;

	if (!up)
		return err;
	if (hdr_len > DP_TX_HDR_MAX || pad > 3 || (pkt && (skip > pkt->len || len > pkt->len - skip)))
		return -EINVAL;
	if (up->sq_len >= DP_STREAM_QUEUE)
		return -ENOBUFS;
	if (!(sl = stream_slot(be, up, &s)))
		return -ENOBUFS;
	int k = 0;
	if (hdr_len) {
		memcpy(sl->hdr, hdr, hdr_len);
		sl->iov[k++] = (struct iovec){ sl->hdr, hdr_len };
	}
	if (pkt && len) {
		sl->iov[k++] = (struct iovec){ pkt->data + skip, len };
		sl->buf = pkt->buf;
		be->refs[pkt->buf]++;
	}
	if (pad)
		sl->iov[k++] = (struct iovec){ (void *)zero_pad, pad };
	sl->mh.msg_iovlen = (size_t)k;
	sq_push(be, up, s);
	return 0;
}

static uint32_t uring_stream_room(struct dp_backend *be, uint32_t conn)
{
	int err;
	struct uport *up = live_conn(be, conn, &err);

	if (!up || up->sq_len >= DP_STREAM_QUEUE)
		return 0;
	return (DP_STREAM_QUEUE - up->sq_len) * COPY_MAX;
}

static int uring_stream_send_copy(struct dp_backend *be, uint32_t conn, const void *data,
				  uint32_t len)
{
	int err;
	struct uport *up = live_conn(be, conn, &err);
	const uint8_t *d = data;

	if (!up)
		return err;
	if (len > (DP_STREAM_QUEUE - up->sq_len) * COPY_MAX)
		return -ENOBUFS;
	while (len) {
		uint32_t n = len < COPY_MAX ? len : COPY_MAX, s;
		struct tx_slot *sl = stream_slot(be, up, &s);
		if (!sl) {
			/* Out of send slots midway: the stream would be torn. */
			conn_fail(be, conn);
			return -ENOBUFS;
		}
		memcpy(sl->copy, d, n);
		sl->iov[0] = (struct iovec){ sl->copy, n };
		sl->mh.msg_iovlen = 1;
		sq_push(be, up, s);
		d += n;
		len -= n;
	}
	return 0;
}

static int uring_stream_pause(struct dp_backend *be, uint32_t conn, bool pause)
{
	struct uport *up = conn < be->cfg.max_ports ? &be->ports[conn] : NULL;
	struct io_uring_sqe *sqe;

	if (!up || up->fd < 0 || up->kind != PK_CONN)
		return -EINVAL;
	if (pause == up->paused)
		return 0;
	if (pause) {
		up->paused = true;
		/* Chunks (and the end) not yet handed out wait with the rest. */
		for (uint32_t i = be->pend_tail; i != be->pend_head; i++) {
			struct dp_pkt *e = &be->pend[i & be->pend_mask];
			if (e->port != conn || (e->kind != DP_PKT_STREAM && e->kind != DP_PKT_CLOSED))
				continue;
			if (e->kind == DP_PKT_STREAM)
				park_add(be, up, e->buf, e->len);
			else
				up->park_closed = true;
			e->kind = DP_PKT_DEAD;
		}
		if (up->armed && !up->failed && (sqe = get_sqe(be))) {
			io_uring_prep_cancel64(sqe, UD_PORT(UD_RECV, up, conn), 0);
			io_uring_sqe_set_data64(sqe, 0);
			io_uring_submit(&be->ring);
		}
		return 0;
	}
	up->paused = false;
	for (uint32_t b = up->park_head; b != NO_BUF; b = be->park_next[b])
		be->pend[be->pend_head++ & be->pend_mask] =
			(struct dp_pkt){ .data = be->bufs + (size_t)b * be->buf_size,
					 .len = be->park_len[b], .port = conn, .buf = b,
					 .kind = DP_PKT_STREAM, .src = up->peer };
	up->park_head = up->park_tail = NO_BUF;
	if (up->park_closed) {
		up->park_closed = false;
		push_event(be, conn, DP_PKT_CLOSED, 0);
	} else if (!up->armed && !up->failed && arm_recv(be, conn) < 0) {
		conn_fail(be, conn);
	}
	return 0;
}

static int uring_listen_open(struct dp_backend *be, const struct sp_addr *bind_addr, uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sp_addr_to_sockaddr(bind_addr, &ss);
	int fd, one = 1, rc;

	if (!sl)
		return -EAFNOSUPPORT;
	fd = socket(bind_addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (bind_addr->family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if ((rc = uring_listen_adopt(be, fd, port)) < 0)
		close(fd);
	return rc;
}

/* Returns 1 when a packet was stored in *pkt. */
static int on_recv(struct dp_backend *be, uint32_t p, const struct io_uring_cqe *cqe,
		   struct dp_pkt *pkt)
{
	struct uport *up = p < be->cfg.max_ports ? &be->ports[p] : NULL;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	uint32_t bid;
	int got = 0;

	if (!up)
		return 0;
	if (up->kind == PK_CONN)
		return on_stream_recv(be, p, cqe, pkt);
	if (!more)
		up->armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			cnt(be, STAT_RX_BUF_EXHAUSTED, 1); /* not a loss: re-armed below */
		else if (cqe->res == -EINVAL && be->multishot) {
			log_notice("worker %u: kernel lacks multishot recvmsg; using single-shot receives",
				   be->cfg.worker);
			be->multishot = false;
		} else if (cqe->res != -ECANCELED) {
			log_rl(LOG_LVL_WARNING, -cqe->res, "worker %u: receive on port %u", be->cfg.worker, p);
		}
		goto rearm;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		goto rearm;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= be->nbufs)
		goto rearm;
	be->refs[bid] = 1;
	uint8_t *buf = be->bufs + (size_t)bid * be->buf_size;
	if (be->multishot) {
		struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &be->rx_tmpl);
		if (!o || (o->flags & MSG_TRUNC)) {
			drop(be, DROP_RX_TRUNCATED);
			buf_put(be, bid);
			goto rearm;
		}
		pkt->data = io_uring_recvmsg_payload(o, &be->rx_tmpl);
		pkt->len = io_uring_recvmsg_payload_length(o, cqe->res, &be->rx_tmpl);
		if (sp_addr_from_sockaddr(&pkt->src, io_uring_recvmsg_name(o), o->namelen) < 0) {
			buf_put(be, bid);
			goto rearm;
		}
	} else {
		if ((uint32_t)cqe->res >= be->buf_size) {
			drop(be, DROP_RX_TRUNCATED);
			buf_put(be, bid);
			goto rearm;
		}
		pkt->data = buf;
		pkt->len = (uint32_t)cqe->res;
		sp_addr_from_sockaddr(&pkt->src, (struct sockaddr *)&up->name, up->mh.msg_namelen);
	}
	pkt->buf = bid;
	pkt->port = p;
	cnt(be, STAT_RX_PACKETS, 1);
	cnt(be, STAT_RX_BYTES, pkt->len);
	got = 1;
rearm:
	if (!more && up->fd >= 0) {
		cnt(be, STAT_RX_REARMS, 1);
		arm_recv(be, p);
	}
	return got;
}

/* Drain the whole completion queue; received packets go to the pending FIFO. */
static void reap_all(struct dp_backend *be)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&be->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		seen++;
		uint32_t kind = (uint32_t)UD_KIND(ud), idx = UD_IDX(ud);
		if ((kind == UD_RECV || kind == UD_ACCEPT) &&
		    (idx >= be->cfg.max_ports || UD_GEN(ud) != (be->ports[idx].gen & 0xffffffu))) {
			/* A previous socket's completion: give back a buffer it took. */
			if (kind == UD_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
				buf_recycle(be, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			if (kind == UD_ACCEPT && cqe->res >= 0)
				close(cqe->res);
			continue;
		}
		switch (kind) {
		case UD_RECV: {
			struct dp_pkt *p = &be->pend[be->pend_head & be->pend_mask];
			/* Cannot overflow: see pend_cap. */
			be->pend_head += (uint32_t)on_recv(be, UD_IDX(ud), cqe, p);
			break;
		}
		case UD_ACCEPT:
			on_accept(be, UD_IDX(ud), cqe);
			break;
		case UD_SEND:
			on_send(be, UD_IDX(ud), cqe);
			break;
		case UD_DOORBELL:
			be->doorbell_armed = false;
			break;
		default:
			break;
		}
	}
	io_uring_cq_advance(&be->ring, seen);
}

static unsigned take_pending(struct dp_backend *be, struct dp_pkt *pkts, unsigned max)
{
	unsigned n = 0;

	while (n < max && be->pend_tail != be->pend_head) {
		struct dp_pkt *p = &be->pend[be->pend_tail++ & be->pend_mask];
		if (p->kind != DP_PKT_DEAD)
			pkts[n++] = *p;
	}
	return n;
}

static int uring_rx_burst(struct dp_backend *be, struct dp_pkt *pkts, unsigned max, int wait_ms)
{
	reap_all(be);
	unsigned n = take_pending(be, pkts, max);

	if (n || wait_ms <= 0) {
		io_uring_submit(&be->ring);
		return (int)n;
	}
	arm_doorbell(be);
	struct __kernel_timespec ts = { .tv_sec = wait_ms / 1000,
					.tv_nsec = (long long)(wait_ms % 1000) * 1000000 };
	struct io_uring_cqe *cqe;
	int rc = io_uring_submit_and_wait_timeout(&be->ring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR)
		return rc;
	reap_all(be);
	n = take_pending(be, pkts, max);
	io_uring_submit(&be->ring);
	return (int)n;
}

static struct tx_slot *slot_get(struct dp_backend *be, uint32_t *idx)
{
	uint32_t s = be->free_slot;

	if (s == UINT32_MAX) {
		/* All slots in flight: push what is queued and collect finished
		 * sends before giving up on this destination. */
		io_uring_submit(&be->ring);
		reap_all(be);
		s = be->free_slot;
		if (s == UINT32_MAX)
			return NULL;
	}
	be->free_slot = be->slots[s].next_free;
	be->inflight++;
	*idx = s;
	return &be->slots[s];
}

static int queue_send(struct dp_backend *be, uint32_t s, int fd)
{
	struct tx_slot *sl = &be->slots[s];
	struct io_uring_sqe *sqe = get_sqe(be);

	if (!sqe)
		return -EBUSY;
	if (be->send_zc)
		io_uring_prep_sendmsg_zc(sqe, fd, &sl->mh, 0);
	else
		io_uring_prep_sendmsg(sqe, fd, &sl->mh, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, s));
	return 0;
}

static int uring_tx_fanout(struct dp_backend *be, const struct dp_pkt *pkt, const struct dp_tx *tx,
			   const uint8_t *hdrs, unsigned n)
{
	unsigned queued = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct dp_tx *t = &tx[i];
		struct tx_slot *sl;
		uint32_t s;
		int fd = t->port < be->cfg.max_ports ? be->ports[t->port].fd : -1;

		if (fd < 0 || t->skip > pkt->len || t->hdr_len > DP_TX_HDR_MAX)
			continue;
		sl = slot_get(be, &s);
		if (!sl) {
			drop(be, DROP_TX_NO_SLOT);
			continue;
		}
		memset(&sl->mh, 0, sizeof(sl->mh));
		sl->mh.msg_name = &sl->dst;
		sl->mh.msg_namelen = sp_addr_to_sockaddr(&t->dst, &sl->dst);
		int k = 0;
		if (t->hdr_len) {
			memcpy(sl->hdr, hdrs + (size_t)i * DP_TX_HDR_MAX, t->hdr_len);
			sl->iov[k++] = (struct iovec){ sl->hdr, t->hdr_len };
		}
		sl->iov[k++] = (struct iovec){ pkt->data + t->skip, pkt->len - t->skip };
		sl->mh.msg_iov = sl->iov;
		sl->mh.msg_iovlen = (size_t)k;
		sl->cookie = t->cookie;
		sl->buf = pkt->buf;
		be->refs[pkt->buf]++;
		if (queue_send(be, s, fd) < 0) {
			slot_free(be, s);
			drop(be, DROP_TX_NO_SLOT);
			continue;
		}
		queued++;
	}
	return (int)queued;
}

static int uring_tx_copy(struct dp_backend *be, uint32_t port, const struct sp_addr *dst,
			 const void *data, uint32_t len, uint64_t cookie)
{
	int fd = port < be->cfg.max_ports ? be->ports[port].fd : -1;
	struct tx_slot *sl;
	uint32_t s;

	if (fd < 0)
		return -ENOENT;
	if (len > COPY_MAX)
		return -EMSGSIZE;
	sl = slot_get(be, &s);
	if (!sl) {
		drop(be, DROP_TX_NO_SLOT);
		return -ENOBUFS;
	}
	memcpy(sl->copy, data, len);
	memset(&sl->mh, 0, sizeof(sl->mh));
	sl->mh.msg_name = &sl->dst;
	sl->mh.msg_namelen = sp_addr_to_sockaddr(dst, &sl->dst);
	sl->iov[0] = (struct iovec){ sl->copy, len };
	sl->mh.msg_iov = sl->iov;
	sl->mh.msg_iovlen = 1;
	sl->cookie = cookie;
	sl->buf = NO_BUF;
	if (queue_send(be, s, fd) < 0) {
		slot_free(be, s);
		return -EBUSY;
	}
	return 0;
}

static int uring_tx_alloc(struct dp_backend *be, struct dp_pkt *out, uint32_t *cap)
{
	if (!be->tx_top) {
		/* Every buffer is in flight: collect finished sends first. */
		io_uring_submit(&be->ring);
		reap_all(be);
		if (!be->tx_top)
			return -ENOBUFS;
	}
	uint32_t bid = be->tx_free[--be->tx_top];
	be->refs[bid] = 1;
	*out = (struct dp_pkt){ .data = be->bufs + (size_t)bid * be->buf_size, .buf = bid };
	*cap = be->buf_size;
	return 0;
}

static void uring_flush(struct dp_backend *be)
{
	io_uring_submit(&be->ring);
}

static void uring_release(struct dp_backend *be, const struct dp_pkt *pkt)
{
	buf_put(be, pkt->buf);
}

static unsigned uring_tx_errors(struct dp_backend *be, struct dp_tx_err *errs, unsigned max)
{
	unsigned n = 0;

	while (n < max && be->errq_tail != be->errq_head)
		errs[n++] = be->errq[be->errq_tail++ % ERRQ];
	return n;
}

const struct dp_backend_ops dp_backend_uring = {
	.name = "io_uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.info = uring_info,
	.port_open = uring_port_open,
	.port_adopt = uring_port_adopt,
	.port_close = uring_port_close,
	.port_addr = uring_port_addr,
	.rx_burst = uring_rx_burst,
	.tx_fanout = uring_tx_fanout,
	.tx_copy = uring_tx_copy,
	.tx_alloc = uring_tx_alloc,
	.flush = uring_flush,
	.release = uring_release,
	.tx_errors = uring_tx_errors,
	.listen_adopt = uring_listen_adopt,
	.stream_send = uring_stream_send,
	.stream_send_copy = uring_stream_send_copy,
	.stream_room = uring_stream_room,
	.port_set_df = uring_port_set_df,
	.stream_pause = uring_stream_pause,
	.listen_open = uring_listen_open,
};
