/*
 * turn_client.c: TURN sessions and the allocation churn of `spbench turn`
 * (see turn_client.h).
 */
#include "turn_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "bench.h"
#include "rtp_traffic.h" /* rtpt_set_bufsize */

#define REQ_MAX 1024
#define RESP_MAX 2048

enum req { R_ALLOCATE, R_REFRESH, R_PERMIT, R_BIND };

static const uint16_t req_method[] = {
	[R_ALLOCATE] = STUN_METHOD_ALLOCATE, [R_REFRESH] = STUN_METHOD_REFRESH,
	[R_PERMIT] = STUN_METHOD_CREATE_PERMISSION, [R_BIND] = STUN_METHOD_CHANNEL_BIND,
};
static const char *const req_name[] = {
	[R_ALLOCATE] = "Allocate", [R_REFRESH] = "Refresh",
	[R_PERMIT] = "CreatePermission", [R_BIND] = "ChannelBind",
};

struct req_args {
	bool lifetime_set;
	uint32_t lifetime;
	uint16_t channel;
	struct stun_addr peer;
};

void tc_session_init(struct tc_session *s, int fd, const struct sockaddr_in *server, const struct tc_creds *c)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->server = *server;
	s->creds = c;
	s->rto_ms = 250;
	s->tries = 4;
}

/* Transaction ids only need to be unique here: a random prefix and a counter. */
static void new_tid(uint8_t tid[STUN_TID_LEN])
{
	static uint64_t prefix, ctr;

	if (!prefix && getrandom(&prefix, sizeof(prefix), GRND_NONBLOCK) != sizeof(prefix))
		prefix = bench_now_ns() | 1;
	ctr++;
	memcpy(tid, &prefix, 4);
	memcpy(tid + 4, &ctr, 8);
}

static void to_stun_addr(const struct sockaddr_in *sa, struct stun_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = STUN_AF_IPV4;
	a->port = ntohs(sa->sin_port);
	memcpy(a->ip, &sa->sin_addr, 4);
}

static int build(struct tc_session *s, enum req k, const struct req_args *a, bool auth, uint8_t *buf, size_t cap)
{
	struct stun_builder b;
	const struct tc_creds *c = s->creds;

	new_tid(s->tid);
	stun_build_init(&b, buf, cap, req_method[k], STUN_CLASS_REQUEST, s->tid);
	switch (k) {
	case R_ALLOCATE:
		stun_build_add_requested_transport(&b, STUN_TRANSPORT_UDP);
		if (a->lifetime_set)
			stun_build_add_u32(&b, STUN_ATTR_LIFETIME, a->lifetime);
		break;
	case R_REFRESH:
		stun_build_add_u32(&b, STUN_ATTR_LIFETIME, a->lifetime);
		break;
	case R_PERMIT:
		stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &a->peer);
		break;
	case R_BIND:
		stun_build_add_channel_number(&b, a->channel);
		stun_build_add_addr(&b, STUN_ATTR_XOR_PEER_ADDRESS, &a->peer);
		break;
	}
	if (auth) {
		stun_build_add(&b, STUN_ATTR_USERNAME, c->user, strlen(c->user));
		stun_build_add(&b, STUN_ATTR_REALM, s->realm, s->realm_len);
		stun_build_add(&b, STUN_ATTR_NONCE, s->nonce, s->nonce_len);
		stun_build_add_integrity(&b, s->key, sizeof(s->key));
	}
	return stun_build_finish(&b);
}

/* 401 and 438 carry the realm and a fresh nonce: take them (and the key
 * when the realm is new). */
static void learn(struct tc_session *s, const struct stun_msg *m)
{
	const char *t;
	size_t n;

	if (stun_get_text(m, STUN_ATTR_NONCE, &t, &n) == 0 && n <= STUN_MAX_TEXT) {
		memcpy(s->nonce, t, n);
		s->nonce_len = n;
	}
	if (stun_get_text(m, STUN_ATTR_REALM, &t, &n) == 0 && n <= STUN_MAX_TEXT &&
	    (!s->have_key || n != s->realm_len || memcmp(t, s->realm, n))) {
		const struct tc_creds *c = s->creds;
		memcpy(s->realm, t, n);
		s->realm_len = n;
		s->have_key = stun_key_long_term(c->user, strlen(c->user), s->realm, n, c->password,
						 strlen(c->password), s->key) == 0;
	}
}

/*
 * What a datagram is to the transaction in flight: 0 success (verified
 * when auth), > 0 its error code (realm/nonce learned from 401/438),
 * -EAGAIN not an answer to it, -EPROTO an answer that does not verify or
 * lacks what it must carry.
 */
static int answer(struct tc_session *s, enum req k, bool auth, const uint8_t *buf, size_t n, struct stun_msg *m)
{
	uint16_t code;

	if (stun_parse(buf, n, m) != STUN_OK || m->method != req_method[k] ||
	    memcmp(stun_msg_tid(m), s->tid, STUN_TID_LEN))
		return -EAGAIN;
	if (m->cls == STUN_CLASS_SUCCESS) {
		if (auth && stun_check_integrity(m, s->key, sizeof(s->key)) != 0)
			return -EPROTO;
		if (k == R_ALLOCATE && stun_get_addr(m, STUN_ATTR_XOR_RELAYED_ADDRESS, &s->relayed) != 0)
			return -EPROTO;
		return 0;
	}
	if (m->cls != STUN_CLASS_ERROR)
		return -EAGAIN;
	if (stun_get_error_code(m, &code, NULL, NULL) != 0)
		return -EPROTO;
	if (code == STUN_CODE_UNAUTHORIZED || code == STUN_CODE_STALE_NONCE)
		learn(s, m);
	return code;
}

static int transact(struct tc_session *s, enum req k, const struct req_args *a, bool auth, char *why, size_t len)
{
	uint8_t req[REQ_MAX], resp[RESP_MAX];
	struct stun_msg m;
	int n = build(s, k, a, auth, req, sizeof(req));

	if (n < 0) {
		snprintf(why, len, "%s: cannot build the request: %s", req_name[k], strerror(-n));
		return n;
	}
	for (uint32_t t = 0; t < s->tries && !bench_stop; t++) {
		uint64_t deadline = bench_now_ns() + (uint64_t)s->rto_ms * 1000000u;

		if (t)
			s->retransmits++;
		if (sendto(s->fd, req, (size_t)n, 0, (const struct sockaddr *)&s->server, sizeof(s->server)) < 0) {
			snprintf(why, len, "%s: sendto: %s", req_name[k], strerror(errno));
			return -errno;
		}
		for (;;) {
			uint64_t now = bench_now_ns();
			struct pollfd p = { .fd = s->fd, .events = POLLIN };
			ssize_t r;
			int rc;

			if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
				break;
			if ((r = recv(s->fd, resp, sizeof(resp), MSG_DONTWAIT)) < 0)
				continue;
			rc = answer(s, k, auth, resp, (size_t)r, &m);
			if (rc == -EAGAIN) {
				s->stray++;
				continue;
			}
			if (rc == -EPROTO)
				snprintf(why, len, "%s: the success answer does not verify or lacks an attribute",
					 req_name[k]);
			else if (rc > 0)
				snprintf(why, len, "%s: error %d", req_name[k], rc);
			return rc;
		}
	}
	snprintf(why, len, "%s: no answer after %u tries of %u ms", req_name[k], s->tries, s->rto_ms);
	return -ETIMEDOUT;
}

/* A request with credentials: unauthenticated first when no realm is known
 * yet (401 gives it), again with a fresh nonce after 438. */
static int request(struct tc_session *s, enum req k, const struct req_args *a, char *why, size_t len)
{
	int rc = 0;

	for (int round = 0; round < 3; round++) {
		bool auth = s->have_key;
		rc = transact(s, k, a, auth, why, len);
		if (rc == STUN_CODE_STALE_NONCE || (rc == STUN_CODE_UNAUTHORIZED && !auth && s->have_key))
			continue;
		break;
	}
	return rc;
}

int tc_allocate(struct tc_session *s, uint32_t lifetime_s, char *why, size_t len)
{
	struct req_args a = { .lifetime_set = lifetime_s > 0, .lifetime = lifetime_s };

	return request(s, R_ALLOCATE, &a, why, len);
}

int tc_permit(struct tc_session *s, const struct sockaddr_in *peer, char *why, size_t len)
{
	struct req_args a = { 0 };

	to_stun_addr(peer, &a.peer);
	return request(s, R_PERMIT, &a, why, len);
}

int tc_channel_bind(struct tc_session *s, uint16_t channel, const struct sockaddr_in *peer, char *why, size_t len)
{
	struct req_args a = { .channel = channel };

	to_stun_addr(peer, &a.peer);
	return request(s, R_BIND, &a, why, len);
}

int tc_refresh(struct tc_session *s, uint32_t lifetime_s, char *why, size_t len)
{
	struct req_args a = { .lifetime_set = true, .lifetime = lifetime_s };

	return request(s, R_REFRESH, &a, why, len);
}

/* ------------------------------------------------------------ churn */

/*
 * W slots, each running one cycle at a time on a socket of its own, opened
 * for the cycle and closed after it: every allocation has a fresh 5-tuple,
 * as a new client's would (coturn answers 437 to an Allocate on a 5-tuple
 * whose allocation was just deleted). The sockets' addresses rotate over
 * 127.1.x.y.
 */
enum cyc { C_IDLE, C_ALLOC, C_ALLOC_AUTH, C_FREE };

struct slot {
	struct tc_session s;
	enum cyc st;
	uint8_t req[REQ_MAX];
	int req_len;
	uint32_t tries;
	uint64_t deadline, t_first;
};

struct churn {
	const struct tc_churn_cfg *c;
	struct tc_churn_report *r;
	struct slot *slot;
	int ep;
	uint32_t next_src, active;
	uint64_t end_ns;
	double *lat;
	size_t n_lat, cap_lat;
	char *why;
	size_t why_len;
	int err;                /* the first socket error: the churn stops */
};

static void count_code(struct tc_churn_report *r, int code)
{
	for (int i = 0; i < TC_MAX_CODES; i++)
		if (r->code_n[i] == 0 || r->code[i] == code) {
			r->code[i] = (uint16_t)code;
			r->code_n[i]++;
			return;
		}
}

static void send_req(struct churn *ch, struct slot *x, enum req k, bool auth)
{
	struct req_args a = { .lifetime_set = k == R_REFRESH, .lifetime = 0 };

	x->req_len = build(&x->s, k, &a, auth, x->req, sizeof(x->req));
	x->tries = 1;
	x->deadline = bench_now_ns() + (uint64_t)ch->c->rto_ms * 1000000u;
	ch->r->requests++;
	if (x->req_len > 0)
		(void)sendto(x->s.fd, x->req, (size_t)x->req_len, 0, (const struct sockaddr *)&x->s.server,
			     sizeof(x->s.server));
}

/* A socket on the next source address, in the epoll set as slot i. */
static int cycle_socket(struct churn *ch, uint32_t i)
{
	const struct tc_churn_cfg *c = ch->c;
	uint32_t n = ch->next_src++ % c->sources;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(0x7F010000u | ((n / 250) << 8) | (n % 250 + 1));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ch->err = -errno;
		snprintf(ch->why, ch->why_len, "churn socket on 127.1.%u.%u: %s", n / 250, n % 250 + 1,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (c->rcvbuf > 0)
		(void)rtpt_set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, c->rcvbuf);
	return fd;
}

/* Slot i's next cycle, while the window lasts. */
static void cycle_start(struct churn *ch, uint32_t i)
{
	struct slot *x = &ch->slot[i];
	int fd;

	if (bench_now_ns() >= ch->end_ns || bench_stop || ch->err || (fd = cycle_socket(ch, i)) < 0)
		return;
	tc_session_init(&x->s, fd, &ch->c->server, ch->c->creds);
	x->st = C_ALLOC;
	x->t_first = bench_now_ns();
	ch->active++;
	send_req(ch, x, R_ALLOCATE, false); /* every cycle meets its 401 */
}

/* left: the cycle may leave an allocation behind (it expires on its own). */
static void cycle_end(struct churn *ch, struct slot *x, bool left)
{
	close(x->s.fd); /* also leaves the epoll set */
	x->s.fd = -1;
	x->st = C_IDLE;
	ch->active--;
	ch->r->left += left;
	cycle_start(ch, (uint32_t)(x - ch->slot));
}

static void on_datagram(struct churn *ch, struct slot *x, const uint8_t *buf, size_t n)
{
	static const enum req kind[] = { [C_ALLOC] = R_ALLOCATE, [C_ALLOC_AUTH] = R_ALLOCATE, [C_FREE] = R_REFRESH };
	struct tc_churn_report *r = ch->r;
	struct stun_msg m;
	bool auth = x->st != C_ALLOC;
	int rc = answer(&x->s, kind[x->st], auth, buf, n, &m);

	if (rc == -EAGAIN) {
		r->stray++;
		return;
	}
	if (rc == -EPROTO) {
		r->unverified++;
		cycle_end(ch, x, x->st != C_ALLOC);
		return;
	}
	if (rc == STUN_CODE_STALE_NONCE && auth) {
		r->stale_nonce++;
		send_req(ch, x, kind[x->st], true);
		return;
	}
	switch (x->st) {
	case C_ALLOC:
		if (rc == STUN_CODE_UNAUTHORIZED && x->s.have_key) {
			x->st = C_ALLOC_AUTH;
			send_req(ch, x, R_ALLOCATE, true);
			return;
		}
		break;
	case C_ALLOC_AUTH:
		if (rc == 0) {
			uint64_t now = bench_now_ns();
			if (now < ch->end_ns) {
				r->allocs++;
				if (ch->n_lat == ch->cap_lat) {
					size_t cap = ch->cap_lat ? 2 * ch->cap_lat : 4096;
					double *p = realloc(ch->lat, cap * sizeof(*p));
					if (p) {
						ch->lat = p;
						ch->cap_lat = cap;
					}
				}
				if (ch->n_lat < ch->cap_lat)
					ch->lat[ch->n_lat++] = (double)(now - x->t_first) / 1e6;
			}
			x->st = C_FREE;
			send_req(ch, x, R_REFRESH, true);
			return;
		}
		break;
	case C_FREE:
		if (rc == 0) {
			r->freed++;
			cycle_end(ch, x, false);
			return;
		}
		break;
	case C_IDLE:
		break;
	}
	/* An error answer the cycle did not expect: no allocation is left
	 * unless a Refresh failed. */
	count_code(r, rc);
	cycle_end(ch, x, x->st == C_FREE);
}

static void check_timeouts(struct churn *ch)
{
	uint64_t now = bench_now_ns();

	for (uint32_t i = 0; i < ch->c->inflight; i++) {
		struct slot *x = &ch->slot[i];
		if (x->st == C_IDLE || now < x->deadline)
			continue;
		if (x->tries >= ch->c->tries) {
			ch->r->timeouts++;
			cycle_end(ch, x, x->st != C_ALLOC);
			continue;
		}
		x->tries++;
		x->deadline = now + (uint64_t)ch->c->rto_ms * 1000000u;
		ch->r->retransmits++;
		(void)sendto(x->s.fd, x->req, (size_t)x->req_len, 0, (const struct sockaddr *)&x->s.server,
			     sizeof(x->s.server));
	}
}

int tc_churn(const struct tc_churn_cfg *c, struct tc_churn_report *r, char *why, size_t len)
{
	struct churn ch = { .c = c, .r = r, .why = why, .why_len = len };
	struct epoll_event evs[64];
	uint64_t t0, wind_down;

	memset(r, 0, sizeof(*r));
	if (!c->sources || c->sources > 250 * 250 || !c->inflight || c->inflight > 65536) {
		snprintf(why, len, "churn: sources %u (1..62500), in flight %u (1..65536)", c->sources, c->inflight);
		return -EINVAL;
	}
	ch.slot = calloc(c->inflight, sizeof(*ch.slot));
	if ((ch.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || !ch.slot) {
		snprintf(why, len, "churn: out of memory or epoll");
		free(ch.slot);
		if (ch.ep >= 0)
			close(ch.ep);
		return -ENOMEM;
	}
	t0 = bench_now_ns();
	ch.end_ns = t0 + (uint64_t)c->duration_ms * 1000000u;
	wind_down = ch.end_ns + 3000000000ull; /* cycles in flight finish (their frees) */
	for (uint32_t i = 0; i < c->inflight; i++)
		cycle_start(&ch, i);
	while (ch.active && !bench_stop && bench_now_ns() < wind_down) {
		int n = epoll_wait(ch.ep, evs, 64, 5);

		for (int e = 0; e < n; e++) {
			struct slot *x = &ch.slot[evs[e].data.u32];
			uint8_t buf[RESP_MAX];
			ssize_t got;

			/* (a cycle ended by this batch may have started the next one) */
			while (x->st != C_IDLE && (got = recv(x->s.fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
				on_datagram(&ch, x, buf, (size_t)got);
		}
		check_timeouts(&ch);
	}
	r->window_s = (double)(ch.end_ns - t0) / 1e9;
	r->left += ch.active; /* still in flight after the wind-down */
	r->cycle_p50_ms = bench_percentile(ch.lat, ch.n_lat, 50);
	r->cycle_p99_ms = bench_percentile(ch.lat, ch.n_lat, 99);
	for (uint32_t i = 0; i < c->inflight; i++)
		if (ch.slot[i].st != C_IDLE)
			close(ch.slot[i].s.fd);
	close(ch.ep);
	free(ch.slot);
	free(ch.lat);
	return ch.err;
}
