/* tun_relay: tunnel streams <-> local TCP sockets (see tun_relay.h). */
#include "tun_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytering.h"
#include "hostport.h"

#define DEF_OUT_CAP (256u << 10)
#define DEF_CONNECT_MS 5000u
/* Room kept in the tunnel queue for control frames: local data is read
 * only above it, input is parsed and local writes (WINDOW_UPDATE) happen
 * only while CTL_ROOM is free, and each of those queues at most one small
 * frame, so a control frame always fits. */
#define DATA_RESERVE 4096u
#define CTL_ROOM 64u
#define LOCAL_READS 4

enum { RS_FREE, RS_CONNECTING, RS_OPENING, RS_OPEN };

struct rstream {
	struct evtag tag;
	bool registered;
	uint8_t state;
	bool local_eof;  /* read EOF locally: FIN sent */
	bool peer_fin;   /* FIN received: shut our write side once drained */
	bool wr_shut;
	uint32_t id;
	int fd;
	uint32_t events;
	uint64_t deadline_ns;
	tun_relay *r;
	struct bytering to_local;
};

struct tun_relay {
	struct tun_relay_cfg cfg;
	int epfd;
	tun_session *s;
	tun_parser *p;
	struct bytering out;
	bool failed;
	uint32_t rr;
	struct tun_relay_stats st;
	struct rstream slot[];
};

tun_relay *tun_relay_new(const struct tun_relay_cfg *cfg, int epfd)
{
	struct tun_relay_cfg c = *cfg;
	if (!c.max_streams)
		c.max_streams = TUN_DEFAULT_MAX_STREAMS;
	if (!c.window)
		c.window = TUN_DEFAULT_WINDOW;
	if (!c.max_payload)
		c.max_payload = TUN_MAX_PAYLOAD;
	if (!c.out_cap)
		c.out_cap = DEF_OUT_CAP;
	if (!c.connect_timeout_ms)
		c.connect_timeout_ms = DEF_CONNECT_MS;
	if (c.out_cap < DATA_RESERVE + 2 * (TUN_HEADER_LEN + TUN_MIN_PAYLOAD_CFG))
		return NULL;
	struct tun_session_cfg sc = { .opener = c.opener, .max_streams = c.max_streams,
				      .initial_window = c.window, .max_payload = c.max_payload };
	tun_relay *r = calloc(1, sizeof(*r) + c.max_streams * sizeof(struct rstream));
	if (!r)
		return NULL;
	r->cfg = c;
	r->epfd = epfd;
	r->s = tun_session_new(&sc);
	/* the peer's DATA may be as long as its own max_payload: accept the wire maximum */
	r->p = tun_parser_new(TUN_MAX_PAYLOAD);
	if (!r->s || !r->p) {
		tun_relay_free(r);
		return NULL;
	}
	bytering_init(&r->out, c.out_cap);
	for (uint32_t i = 0; i < c.max_streams; i++) {
		r->slot[i].tag.kind = EVTAG_STREAM;
		r->slot[i].fd = -1;
		r->slot[i].r = r;
	}
	return r;
}

static void set_events(struct rstream *x, uint32_t want)
{
	tun_relay *r = x->r;
	struct epoll_event ev = { .events = want, .data.ptr = &x->tag };

	if (x->registered && want == x->events)
		return;
	/* deregistered while idle: a hung-up socket must not spin the loop */
	if (want == 0) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, x->fd, NULL);
		x->registered = false;
	} else if (epoll_ctl(r->epfd, x->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, x->fd, &ev) == 0) {
		x->registered = true;
	}
	x->events = want;
}

static void slot_free(struct rstream *x, bool reset)
{
	if (x->fd >= 0) {
		if (reset) {
			struct linger l = { 1, 0 };
			setsockopt(x->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		if (x->registered)
			epoll_ctl(x->r->epfd, EPOLL_CTL_DEL, x->fd, NULL);
		close(x->fd);
	}
	bytering_free(&x->to_local);
	x->fd = -1;
	x->registered = false;
	x->events = 0;
	x->state = RS_FREE;
	x->id = 0;
	x->r->st.live--;
}

static struct rstream *slot_get(tun_relay *r, uint32_t id)
{
	if (!id)
		return NULL;
	for (uint32_t i = 0; i < r->cfg.max_streams; i++)
		if (r->slot[i].state != RS_FREE && r->slot[i].id == id)
			return &r->slot[i];
	return NULL;
}

static struct rstream *slot_new(tun_relay *r, uint32_t id, int fd)
{
	for (uint32_t i = 0; i < r->cfg.max_streams; i++) {
		struct rstream *x = &r->slot[i];
		if (x->state == RS_FREE) {
			memset(&x->local_eof, 0, sizeof(*x) - offsetof(struct rstream, local_eof));
			x->tag.kind = EVTAG_STREAM;
			x->registered = false;
			x->r = r;
			x->id = id;
			x->fd = fd;
			bytering_init(&x->to_local, r->cfg.window);
			r->st.live++;
			return x;
		}
	}
	return NULL;
}

static void note(tun_relay *r, enum tun_relay_note n, uint32_t stream, uint16_t reason)
{
	if (r->cfg.note)
		r->cfg.note(r->cfg.ctx, n, stream, reason);
}

/* Queues a frame; CTL_ROOM guarantees the room (see above). */
static void queue(tun_relay *r, const struct tun_frame *f)
{
	uint8_t buf[TUN_HEADER_LEN + TUN_TARGET_MAX + 8];
	int n = tun_frame_encode(f, buf, sizeof(buf));

	if (n < 0 || bytering_push(&r->out, buf, (size_t)n) != (size_t)n)
		r->failed = true; /* cannot happen within the reserve: give up the tunnel */
}

static void conn_fail(tun_relay *r, enum tun_reason reason)
{
	struct tun_frame f;

	if (r->failed)
		return;
	if (tun_session_goaway(r->s, reason, &f) == 0)
		queue(r, &f);
	r->failed = true;
	note(r, TUN_NOTE_CONN_ERROR, 0, (uint16_t)reason);
}

/* Aborts a live stream from our side: CLOSE(reason), local socket reset. */
static void stream_abort(struct rstream *x, enum tun_reason reason)
{
	struct tun_frame f;
	tun_relay *r = x->r;

	if (tun_session_close(r->s, x->id, reason, &f) == 0)
		queue(r, &f);
	r->st.closed[reason]++;
	note(r, TUN_NOTE_CLOSED, x->id, (uint16_t)reason);
	slot_free(x, true);
}

static void refuse(tun_relay *r, uint32_t id, enum tun_reason reason)
{
	struct tun_frame f;

	if (tun_session_refuse(r->s, id, reason, &f) == 0)
		queue(r, &f);
	r->st.open_fail[reason]++;
	note(r, TUN_NOTE_OPEN_FAIL, id, (uint16_t)reason);
}

static int connect_target(const char *target, size_t len)
{
	struct hostport hp;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST }, *ai = NULL;
	char port[8];
	int fd, rc;

	if (hostport_parse(target, len, &hp) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", (unsigned)hp.port);
	/* literals first; a name (allow-listed, so camera-local: /etc/hosts) next */
	rc = getaddrinfo(hp.host, port, &hints, &ai);
	if (rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(hp.host, port, &hints, &ai);
	}
	if (rc || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(ai);
		return rc;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void on_open(tun_relay *r, const struct tun_event *ev)
{
	r->st.opens++;
	if (!r->cfg.allow || !r->cfg.allow(r->cfg.ctx, ev->target, ev->target_len)) {
		refuse(r, ev->stream, TUN_R_REFUSED);
		return;
	}
	int fd = connect_target(ev->target, ev->target_len);
	if (fd < 0) {
		refuse(r, ev->stream, TUN_R_CONNECT_FAILED);
		return;
	}
	struct rstream *x = slot_new(r, ev->stream, fd);
	if (!x) { /* the session admitted it, so a slot is free; defensive */
		close(fd);
		refuse(r, ev->stream, TUN_R_INTERNAL);
		return;
	}
	x->state = RS_CONNECTING;
	x->deadline_ns = 0; /* set by the next pump, which knows the time */
}

static void connected(struct rstream *x)
{
	tun_relay *r = x->r;
	struct tun_frame f;
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		uint32_t id = x->id;
		slot_free(x, false);
		refuse(r, id, TUN_R_CONNECT_FAILED);
		return;
	}
	if (tun_session_accept(r->s, x->id, &f) < 0) {
		slot_free(x, true);
		return;
	}
	queue(r, &f);
	x->state = RS_OPEN;
	r->st.open_ok++;
	note(r, TUN_NOTE_OPEN_OK, x->id, 0);
}

/* Both directions done: the stream is over. */
static void maybe_finish(struct rstream *x)
{
	if (x->local_eof && x->peer_fin && x->wr_shut) {
		x->r->st.closed[TUN_R_NONE]++;
		note(x->r, TUN_NOTE_CLOSED, x->id, TUN_R_NONE);
		slot_free(x, false);
	}
}

/* Writes what the tunnel sent to the local socket; grants credit back. */
static void flush_local(struct rstream *x)
{
	tun_relay *r = x->r;

	while (bytering_len(&x->to_local) && bytering_room(&r->out) >= CTL_ROOM) {
		struct iovec iov[2];
		int c = bytering_data(&x->to_local, iov, SIZE_MAX);
		ssize_t n = writev(x->fd, iov, c);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			stream_abort(x, TUN_R_RESET);
			return;
		}
		bytering_consume(&x->to_local, (size_t)n);
		r->st.bytes_to_local += (uint64_t)n;
		struct tun_frame f;
		if (tun_session_consumed(r->s, x->id, (size_t)n, &f) == 1)
			queue(r, &f);
	}
	if (!bytering_len(&x->to_local)) {
		bytering_release(&x->to_local);
		if (x->peer_fin && !x->wr_shut) {
			shutdown(x->fd, SHUT_WR);
			x->wr_shut = true;
			maybe_finish(x);
		}
	}
}

/* Copies len bytes to offset off of the ring's free space (two segments). */
static void space_put(const struct iovec *sp, int nsp, size_t off, const uint8_t *p, size_t len)
{
	for (int i = 0; i < nsp && len; i++) {
		if (off >= sp[i].iov_len) {
			off -= sp[i].iov_len;
			continue;
		}
		size_t k = sp[i].iov_len - off < len ? sp[i].iov_len - off : len;
		memcpy((uint8_t *)sp[i].iov_base + off, p, k);
		p += k;
		len -= k;
		off = 0;
	}
}

/* Reads one chunk from the local socket into a DATA frame, within the
 * stream's credit and the tunnel queue's room; the payload is read straight
 * into the queue behind room for the header. Returns the bytes read, 0 at
 * EOF or when nothing was read. */
static size_t read_local(struct rstream *x)
{
	tun_relay *r = x->r;
	int64_t credit = tun_session_send_window(r->s, x->id);
	size_t room = bytering_room(&r->out);
	struct tun_frame f;
	struct iovec sp[2], rd[2];
	size_t allowed, skip = TUN_HEADER_LEN;
	int nsp, nrd = 0;

	if (x->local_eof || credit <= 0 || room <= DATA_RESERVE + TUN_HEADER_LEN)
		return 0;
	size_t want = room - DATA_RESERVE - TUN_HEADER_LEN;
	if (want > (size_t)credit)
		want = (size_t)credit;
	if (want > r->cfg.max_payload)
		want = r->cfg.max_payload;
	nsp = bytering_space(&r->out, sp, TUN_HEADER_LEN + want);
	if (nsp <= 0)
		return 0;
	for (int i = 0; i < nsp; i++) {
		if (skip >= sp[i].iov_len) {
			skip -= sp[i].iov_len;
			continue;
		}
		rd[nrd].iov_base = (uint8_t *)sp[i].iov_base + skip;
		rd[nrd++].iov_len = sp[i].iov_len - skip;
		skip = 0;
	}
	ssize_t n = readv(x->fd, rd, nrd);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			stream_abort(x, TUN_R_RESET);
		return 0;
	}
	if (tun_session_send(r->s, x->id, (size_t)n, n == 0, &allowed, &f) < 0 ||
	    allowed != (size_t)n) {
		stream_abort(x, TUN_R_INTERNAL);
		return 0;
	}
	uint8_t hdr[TUN_HEADER_LEN];
	tun_frame_header(hdr, TUN_DATA, f.flags, x->id, (uint16_t)n);
	space_put(sp, nsp, 0, hdr, sizeof(hdr));
	bytering_commit(&r->out, TUN_HEADER_LEN + (size_t)n);
	r->st.bytes_from_local += (uint64_t)n;
	if (n == 0) {
		x->local_eof = true;
		maybe_finish(x);
		return 0;
	}
	return (size_t)n == want ? (size_t)n : 0;
}

static void on_data(tun_relay *r, const struct tun_event *ev)
{
	struct rstream *x = slot_get(r, ev->stream);

	if (!x) /* stream gone on our side meanwhile: in flight, drop */
		return;
	if (ev->len && bytering_push(&x->to_local, ev->data, ev->len) != ev->len) {
		stream_abort(x, TUN_R_INTERNAL); /* no memory for the ring */
		return;
	}
	if (ev->fin)
		x->peer_fin = true;
	flush_local(x);
}

static void handle(tun_relay *r, const struct tun_event *ev)
{
	struct rstream *x;

	switch (ev->kind) {
	case TUN_EV_OPEN:
		on_open(r, ev);
		return;
	case TUN_EV_OPENED:
		if ((x = slot_get(r, ev->stream)) && x->state == RS_OPENING) {
			x->state = RS_OPEN;
			r->st.open_ok++;
			note(r, TUN_NOTE_OPEN_OK, x->id, 0);
		}
		return;
	case TUN_EV_OPEN_FAILED:
		r->st.open_fail[ev->reason < TUN_R__COUNT ? ev->reason : TUN_R_INTERNAL]++;
		note(r, TUN_NOTE_OPEN_FAIL, ev->stream, ev->reason);
		if ((x = slot_get(r, ev->stream)))
			slot_free(x, false);
		return;
	case TUN_EV_DATA:
		on_data(r, ev);
		return;
	case TUN_EV_CLOSED:
	case TUN_EV_STREAM_ERROR:
		r->st.closed[ev->reason < TUN_R__COUNT ? ev->reason : TUN_R_INTERNAL]++;
		note(r, TUN_NOTE_CLOSED, ev->stream, ev->reason);
		if ((x = slot_get(r, ev->stream)))
			slot_free(x, true);
		return;
	case TUN_EV_GOAWAY:
		note(r, TUN_NOTE_GOAWAY, 0, ev->reason);
		return;
	case TUN_EV_PONG:
		note(r, TUN_NOTE_PONG, 0, 0);
		return;
	case TUN_EV_CONTROL: /* handshake frames belong to the control connection */
		conn_fail(r, TUN_R_PROTOCOL);
		return;
	default:
		return;
	}
}

int tun_relay_input(tun_relay *r, const uint8_t *buf, size_t len, size_t *used)
{
	*used = 0;
	while (*used < len) {
		struct tun_frame f;
		struct tun_event ev;
		size_t u;

		if (r->failed)
			return -EPROTO;
		if (bytering_room(&r->out) < CTL_ROOM)
			return 0;
		int rc = tun_parser_feed(r->p, buf + *used, len - *used, &u, &f);
		*used += u;
		if (rc == 0)
			break;
		if (rc == -ENOMEM)
			return 0;
		if (rc < 0) {
			enum tun_err e = tun_parser_err(r->p);
			r->st.frame_errors[e]++;
			conn_fail(r, e == TUN_ERR_TOO_LONG || e == TUN_ERR_BAD_LENGTH ?
					     TUN_R_FRAME_SIZE : TUN_R_PROTOCOL);
			return -EPROTO;
		}
		rc = tun_session_on_frame(r->s, &f, &ev);
		if (ev.has_reply)
			queue(r, &ev.reply);
		if (rc < 0) {
			r->failed = true;
			note(r, TUN_NOTE_CONN_ERROR, 0, ev.reason);
			return -EPROTO;
		}
		if (ev.kind == TUN_EV_NONE && ev.has_reply && ev.reply.type == TUN_OPEN_FAIL) {
			r->st.opens++;
			r->st.open_fail[ev.reply.reason]++;
			note(r, TUN_NOTE_OPEN_FAIL, ev.stream, ev.reply.reason);
		}
		handle(r, &ev);
	}
	if (tun_parser_idle(r->p))
		tun_parser_trim(r->p);
	return r->failed ? -EPROTO : 0;
}

static uint32_t wanted_events(struct rstream *x)
{
	tun_relay *r = x->r;
	uint32_t e = 0;

	if (x->state == RS_CONNECTING)
		return EPOLLOUT;
	if (x->state != RS_OPEN)
		return 0;
	if (!x->local_eof && tun_session_send_window(r->s, x->id) > 0 &&
	    bytering_room(&r->out) > DATA_RESERVE + TUN_HEADER_LEN)
		e |= EPOLLIN;
	if (bytering_len(&x->to_local) || (x->peer_fin && !x->wr_shut))
		e |= EPOLLOUT;
	return e;
}

void tun_relay_event(struct evtag *tag, uint32_t events)
{
	struct rstream *x = (struct rstream *)tag;

	if (x->state == RS_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connected(x);
		return;
	}
	if (x->state != RS_OPEN)
		return;
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		flush_local(x);
	/* a few full chunks per wakeup: fewer loop rounds per byte, and the
	 * other streams still get their turn */
	for (int i = 0; i < LOCAL_READS && x->state == RS_OPEN &&
			(events & (EPOLLIN | EPOLLERR | EPOLLHUP)); i++)
		if (!read_local(x))
			break;
}

void tun_relay_pump(tun_relay *r, uint64_t now_ns)
{
	uint32_t n = r->cfg.max_streams;

	for (uint32_t k = 0; k < n; k++) {
		struct rstream *x = &r->slot[(r->rr + k) % n];
		if (x->state == RS_FREE)
			continue;
		if (x->state == RS_CONNECTING) {
			if (!x->deadline_ns) {
				x->deadline_ns = now_ns + (uint64_t)r->cfg.connect_timeout_ms * 1000000u;
			} else if (now_ns >= x->deadline_ns) {
				uint32_t id = x->id;
				slot_free(x, true);
				refuse(r, id, TUN_R_TIMEOUT);
				continue;
			}
		}
		if (x->state == RS_OPEN && bytering_len(&x->to_local))
			flush_local(x);
		if (x->state != RS_FREE)
			set_events(x, wanted_events(x));
	}
	r->rr = (r->rr + 1) % n;
}

int tun_relay_out(tun_relay *r, struct iovec iov[2], size_t max)
{
	return bytering_data(&r->out, iov, max);
}

void tun_relay_out_done(tun_relay *r, size_t n)
{
	bytering_consume(&r->out, n);
	bytering_release(&r->out);
}

size_t tun_relay_out_len(const tun_relay *r) { return bytering_len(&r->out); }

bool tun_relay_can_input(const tun_relay *r)
{
	return !r->failed && bytering_room(&r->out) >= CTL_ROOM;
}

int tun_relay_open(tun_relay *r, int fd, const char *target, uint32_t *stream)
{
	struct tun_frame f;
	uint32_t id;
	int rc;

	if (r->failed) {
		close(fd);
		return -ENOTCONN;
	}
	if (bytering_room(&r->out) < CTL_ROOM + TUN_HEADER_LEN + TUN_TARGET_MAX + 4) {
		close(fd);
		return -ENOBUFS;
	}
	rc = tun_session_open(r->s, target, strlen(target), &id, &f);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	struct rstream *x = slot_new(r, id, fd);
	if (!x) { /* cannot happen: the session has a slot for it */
		close(fd);
		return -ENOSPC;
	}
	x->state = RS_OPENING;
	queue(r, &f);
	r->st.opens++;
	*stream = id;
	return 0;
}

int tun_relay_goaway(tun_relay *r, enum tun_reason reason)
{
	struct tun_frame f;
	int rc = tun_session_goaway(r->s, reason, &f);
	if (rc == 0)
		queue(r, &f);
	return rc;
}

int tun_relay_ping(tun_relay *r, uint64_t seq)
{
	struct tun_frame f;
	if (bytering_room(&r->out) < CTL_ROOM)
		return -ENOBUFS;
	tun_session_ping(r->s, seq, &f);
	queue(r, &f);
	return 0;
}

unsigned tun_relay_live(const tun_relay *r) { return r->st.live; }
bool tun_relay_failed(const tun_relay *r) { return r->failed; }

void tun_relay_get_stats(const tun_relay *r, struct tun_relay_stats *st)
{
	*st = r->st;
}

size_t tun_relay_footprint(const tun_relay *r)
{
	size_t n = sizeof(*r) + r->cfg.max_streams * sizeof(struct rstream) +
		   tun_parser_footprint(r->p) + (r->out.buf ? r->out.cap : 0);
	for (uint32_t i = 0; i < r->cfg.max_streams; i++)
		if (r->slot[i].to_local.buf)
			n += r->slot[i].to_local.cap;
	return n;
}

void tun_relay_free(tun_relay *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->cfg.max_streams; i++)
		if (r->slot[i].state != RS_FREE)
			slot_free(&r->slot[i], true);
	bytering_free(&r->out);
	tun_session_free(r->s);
	tun_parser_free(r->p);
	free(r);
}
