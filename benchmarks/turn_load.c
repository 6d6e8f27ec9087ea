/*
 * turn_load.c: paced ChannelData clients, echo peers and the checking
 * receiver of `spbench turn` (see turn_load.h).
 */
#include "turn_load.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "bench.h"
#include "clock.h"
#include "rtp_traffic.h" /* rtpt_set_bufsize */

#define TL_MAGIC 0x5475524Eu /* "TuRN" */
#define TAG_QUIT UINT32_MAX
#define PATTERN_SPAN 256     /* content = pattern[seq % 256 ...] */
#define RX_SLACK 256         /* receive room past the expected datagram (indications, junk) */

/* The first bytes of every payload; the rest is the pattern. */
struct tl_hdr {
	uint32_t magic, epoch, seq;
	uint16_t group, client;
	uint64_t t_ns;            /* CLOCK_MONOTONIC at the send */
};

struct client {
	int fd;
	uint16_t port, channel;
	int group;
	uint32_t idx;             /* in its group */
	struct sockaddr_in dest;
	/* The sender's batch for this client. */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint8_t *bufs;
	uint32_t k;
};

struct group {
	char name[32];
	bool direct;
	uint32_t first, n;
};

struct turn_load {
	struct tl_cfg c;
	struct client *cl;
	uint32_t ncl, capcl;
	struct group grp[TL_MAX_GROUPS];
	int ngrp;
	int *peer_fd;
	uint8_t *pattern;
	uint32_t dgram;           /* 4 + size */
	int rx_ep, peer_ep, quit_fd;
	pthread_t rx_th, peer_th;
	bool rx_started, peer_started;
	_Atomic int quit;

	pthread_mutex_t mu;       /* the receiver works under it; the step state changes under it */
	pthread_cond_t cv;
	bool paused;

	/* The step (under mu). */
	uint32_t epoch;
	int group;                /* -1: none */
	uint64_t planned;
	uint64_t *seen;
	float *rtt;
	uint64_t rtt_n, dup, stale, misrouted, damaged, not_chdata;
	_Atomic uint64_t delivered, arrivals;

	/* The sender (the caller's thread). */
	double rate;
	uint32_t ms;
	uint64_t sent, send_failed;
	double send_s, late_s, drain_s;
	struct bench_cpu cpu0;
	uint64_t peer0, peerf0;
	_Atomic uint64_t peer_echoed, peer_failed;
};

static int udp_socket(uint32_t ip, uint16_t port, int rcvbuf, uint16_t *bound, char *why, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		int e = errno;
		snprintf(why, len, "UDP socket on 127.0.0.1:%u: %s", port, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (rcvbuf > 0)
		(void)rtpt_set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
	*bound = ntohs(a.sin_port);
	return fd;
}

turn_load *tl_create(const struct tl_cfg *c, char *why, size_t len)
{
	turn_load *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_QUIT };

	if (!t) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	t->c = *c;
	t->group = -1;
	t->rx_ep = t->peer_ep = t->quit_fd = -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (c->size < TL_MIN_SIZE || c->size > 60000 || !c->peers || !c->batch) {
		snprintf(why, len, "size %u (%u..60000), peers %u, batch %u", c->size, TL_MIN_SIZE, c->peers,
			 c->batch);
		goto fail;
	}
	t->dgram = 4 + c->size;
	t->pattern = malloc(PATTERN_SPAN + c->size);
	t->peer_fd = malloc(c->peers * sizeof(*t->peer_fd));
	if (!t->pattern || !t->peer_fd) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (getrandom(t->pattern, PATTERN_SPAN + c->size, 0) != (ssize_t)(PATTERN_SPAN + c->size))
		for (uint32_t i = 0; i < PATTERN_SPAN + c->size; i++)
			t->pattern[i] = (uint8_t)(i * 131 + 7);
	for (uint32_t i = 0; i < c->peers; i++)
		t->peer_fd[i] = -1;
	if ((t->rx_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (t->peer_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (t->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    epoll_ctl(t->rx_ep, EPOLL_CTL_ADD, t->quit_fd, &ev) < 0 ||
	    epoll_ctl(t->peer_ep, EPOLL_CTL_ADD, t->quit_fd, &ev) < 0) {
		snprintf(why, len, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	for (uint32_t i = 0; i < c->peers; i++) {
		uint16_t p;
		struct epoll_event pe = { .events = EPOLLIN, .data.u32 = i };
		if ((t->peer_fd[i] = udp_socket(INADDR_LOOPBACK, (uint16_t)(c->peer_port + i), c->rcvbuf, &p, why,
						len)) < 0)
			goto fail;
		if (epoll_ctl(t->peer_ep, EPOLL_CTL_ADD, t->peer_fd[i], &pe) < 0) {
			snprintf(why, len, "epoll_ctl: %s", strerror(errno));
			goto fail;
		}
	}
	return t;
fail:
	tl_destroy(t);
	return NULL;
}

int tl_group_add(turn_load *t, const char *name, uint32_t n, bool direct, char *why, size_t len)
{
	struct group *g;
	int one = 1;

	if (t->ngrp == TL_MAX_GROUPS || !n || t->rx_started) {
		snprintf(why, len, "at most %d groups of at least one client, added before tl_start", TL_MAX_GROUPS);
		return -EINVAL;
	}
	if (t->ncl + n > t->capcl) {
		uint32_t cap = t->ncl + n;
		struct client *p = realloc(t->cl, cap * sizeof(*p));
		if (!p) {
			snprintf(why, len, "out of memory");
			return -ENOMEM;
		}
		t->cl = p;
		t->capcl = cap;
	}
	g = &t->grp[t->ngrp];
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->direct = direct;
	g->first = t->ncl;
	g->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct client *c = &t->cl[t->ncl];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = t->ncl };
		uint32_t b = t->c.batch;

		memset(c, 0, sizeof(*c));
		c->group = t->ngrp;
		c->idx = i;
		c->channel = (uint16_t)(0x4000 + i % 0x1000);
		if ((c->fd = udp_socket(INADDR_LOOPBACK, 0, t->c.rcvbuf, &c->port, why, len)) < 0)
			return c->fd;
		t->ncl++;
		g->n++;
		(void)setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
		if (direct)
			tl_peer_addr(t, i, &c->dest);
		c->msgs = calloc(b, sizeof(*c->msgs));
		c->iov = calloc(b, sizeof(*c->iov));
		c->bufs = malloc((size_t)b * t->dgram);
		if (!c->msgs || !c->iov || !c->bufs) {
			snprintf(why, len, "out of memory");
			return -ENOMEM;
		}
		for (uint32_t j = 0; j < b; j++) {
			c->iov[j] = (struct iovec){ c->bufs + (size_t)j * t->dgram, t->dgram };
			c->msgs[j].msg_hdr = (struct msghdr){ .msg_iov = &c->iov[j], .msg_iovlen = 1 };
		}
		if (epoll_ctl(t->rx_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			snprintf(why, len, "epoll_ctl: %s", strerror(errno));
			return -errno;
		}
	}
	return t->ngrp++;
}

int tl_client_fd(const turn_load *t, int g, uint32_t i)
{
	return t->cl[t->grp[g].first + i].fd;
}

uint16_t tl_client_port(const turn_load *t, int g, uint32_t i)
{
	return t->cl[t->grp[g].first + i].port;
}

void tl_peer_addr(const turn_load *t, uint32_t i, struct sockaddr_in *out)
{
	*out = (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons((uint16_t)(t->c.peer_port + i % t->c.peers)),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

void tl_client_route(turn_load *t, int g, uint32_t i, const struct sockaddr_in *dest, uint16_t channel)
{
	struct client *c = &t->cl[t->grp[g].first + i];

	c->channel = channel;
	if (!t->grp[g].direct)
		c->dest = *dest;
}

void tl_ports_mask(const turn_load *t, bool peers, uint64_t *mask)
{
	if (peers) {
		for (uint32_t i = 0; i < t->c.peers; i++) {
			uint16_t p = (uint16_t)(t->c.peer_port + i);
			mask[p >> 6] |= 1ull << (p & 63);
		}
		return;
	}
	for (uint32_t i = 0; i < t->ncl; i++)
		mask[t->cl[i].port >> 6] |= 1ull << (t->cl[i].port & 63);
}

/* ------------------------------------------------------------ threads */

static void wake(turn_load *t)
{
	uint64_t one = 1;

	(void)!write(t->quit_fd, &one, sizeof(one));
}

static void *peer_main(void *arg)
{
	turn_load *t = arg;
	uint32_t b = t->c.batch, cap = t->dgram + RX_SLACK;
	struct mmsghdr *m = calloc(b, sizeof(*m));
	struct iovec *iov = calloc(b, sizeof(*iov));
	struct sockaddr_in *from = calloc(b, sizeof(*from));
	uint8_t *buf = malloc((size_t)b * cap);
	struct epoll_event evs[16];

	if (!m || !iov || !from || !buf)
		goto out;
	while (!atomic_load(&t->quit)) {
		int n = epoll_wait(t->peer_ep, evs, 16, 200);

		for (int e = 0; e < n; e++) {
			int fd;
			if (evs[e].data.u32 == TAG_QUIT)
				continue;
			fd = t->peer_fd[evs[e].data.u32];
			for (;;) {
				int r, s = 0;
				for (uint32_t i = 0; i < b; i++) {
					iov[i] = (struct iovec){ buf + (size_t)i * cap, cap };
					m[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]),
									.msg_iov = &iov[i], .msg_iovlen = 1 };
				}
				if ((r = recvmmsg(fd, m, b, MSG_DONTWAIT, NULL)) <= 0)
					break;
				/* Back where each came from, as it came. */
				for (int i = 0; i < r; i++)
					iov[i].iov_len = m[i].msg_len;
				while (s < r) {
					int w = sendmmsg(fd, m + s, (unsigned)(r - s), 0);
					if (w <= 0) {
						atomic_fetch_add(&t->peer_failed, (uint64_t)(r - s));
						break;
					}
					s += w;
				}
				atomic_fetch_add(&t->peer_echoed, (uint64_t)s);
				if ((uint32_t)r < b)
					break;
			}
		}
	}
out:
	free(m);
	free(iov);
	free(from);
	free(buf);
	return NULL;
}

/* One datagram on client c, under mu. */
static void rx_one(turn_load *t, const struct client *c, const uint8_t *p, size_t n, uint64_t arrival)
{
	struct tl_hdr h;
	uint16_t ch, dl;
	uint32_t size = t->c.size;
	const struct group *g;

	atomic_fetch_add_explicit(&t->arrivals, 1, memory_order_relaxed);
	if (n < 4 || (p[0] & 0xC0) != 0x40) {
		t->not_chdata++;
		return;
	}
	ch = (uint16_t)(p[0] << 8 | p[1]);
	dl = (uint16_t)(p[2] << 8 | p[3]);
	if (dl > n - 4 || dl != size) {
		t->damaged++;
		return;
	}
	memcpy(&h, p + 4, sizeof(h));
	if (h.magic != TL_MAGIC) {
		t->damaged++;
		return;
	}
	if (h.epoch != t->epoch || t->group < 0 || h.group != (uint16_t)t->group) {
		t->stale++;
		return;
	}
	g = &t->grp[t->group];
	if (c->group != t->group || ch != c->channel || h.client != c->idx || h.seq % g->n != c->idx) {
		t->misrouted++;
		return;
	}
	if (h.seq >= t->planned ||
	    memcmp(p + 4 + sizeof(h), t->pattern + h.seq % PATTERN_SPAN, size - sizeof(h))) {
		t->damaged++;
		return;
	}
	if (t->seen[h.seq >> 6] & (1ull << (h.seq & 63))) {
		t->dup++;
		return;
	}
	t->seen[h.seq >> 6] |= 1ull << (h.seq & 63);
	if (arrival > h.t_ns)
		t->rtt[t->rtt_n++] = (float)((double)(arrival - h.t_ns) / 1e3);
	atomic_fetch_add_explicit(&t->delivered, 1, memory_order_relaxed);
}

static void *rx_main(void *arg)
{
	turn_load *t = arg;
	uint32_t b = t->c.batch, cap = t->dgram + RX_SLACK;
	struct mmsghdr *m = calloc(b, sizeof(*m));
	struct iovec *iov = calloc(b, sizeof(*iov));
	uint8_t *buf = malloc((size_t)b * cap);
	char (*ctl)[CMSG_SPACE(sizeof(struct timespec))] = calloc(b, sizeof(*ctl));
	struct epoll_event evs[64];

	if (!m || !iov || !buf || !ctl)
		goto out;
	while (!atomic_load(&t->quit)) {
		int n = epoll_wait(t->rx_ep, evs, 64, 200);

		pthread_mutex_lock(&t->mu);
		while (t->paused && !atomic_load(&t->quit))
			pthread_cond_wait(&t->cv, &t->mu);
		for (int e = 0; e < n; e++) {
			const struct client *c;
			if (evs[e].data.u32 == TAG_QUIT)
				continue;
			c = &t->cl[evs[e].data.u32];
			for (;;) {
				uint64_t mono, off;
				int r;
				for (uint32_t i = 0; i < b; i++) {
					iov[i] = (struct iovec){ buf + (size_t)i * cap, cap };
					m[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1,
									.msg_control = ctl[i],
									.msg_controllen = sizeof(ctl[i]) };
				}
				if ((r = recvmmsg(c->fd, m, b, MSG_DONTWAIT, NULL)) <= 0)
					break;
				/* Kernel stamps are CLOCK_REALTIME; the payload's CLOCK_MONOTONIC. */
				mono = clock_mono_ns();
				off = clock_real_ns() - mono;
				for (int i = 0; i < r; i++) {
					uint64_t arrival = mono;
					struct cmsghdr *cm;
					for (cm = CMSG_FIRSTHDR(&m[i].msg_hdr); cm; cm = CMSG_NXTHDR(&m[i].msg_hdr, cm))
						if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
							struct timespec ts;
							memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
							arrival = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - off;
						}
					if (m[i].msg_hdr.msg_flags & MSG_TRUNC)
						t->not_chdata++;
					else
						rx_one(t, c, iov[i].iov_base, m[i].msg_len, arrival);
				}
				if ((uint32_t)r < b)
					break;
			}
		}
		pthread_mutex_unlock(&t->mu);
	}
out:
	free(m);
	free(iov);
	free(buf);
	free(ctl);
	return NULL;
}

int tl_start(turn_load *t)
{
	int rc;

	if ((rc = pthread_create(&t->peer_th, NULL, peer_main, t)))
		return -rc;
	t->peer_started = true;
	if ((rc = pthread_create(&t->rx_th, NULL, rx_main, t)))
		return -rc;
	t->rx_started = true;
	return 0;
}

void tl_pause(turn_load *t)
{
	pthread_mutex_lock(&t->mu);
	t->paused = true;
	pthread_mutex_unlock(&t->mu);
}

void tl_resume(turn_load *t)
{
	pthread_mutex_lock(&t->mu);
	t->paused = false;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* ------------------------------------------------------------ steps */

int tl_step_begin(turn_load *t, int g, double rate, uint32_t ms)
{
	uint64_t planned = (uint64_t)(rate * ms / 1000.0 + 0.5);
	uint64_t *seen;
	float *rtt;

	if (planned == 0)
		planned = 1;
	if (planned > UINT32_MAX)
		return -EINVAL;
	seen = calloc(planned / 64 + 1, sizeof(*seen));
	rtt = malloc(planned * sizeof(*rtt));
	if (!seen || !rtt) {
		free(seen);
		free(rtt);
		return -ENOMEM;
	}
	pthread_mutex_lock(&t->mu);
	free(t->seen);
	free(t->rtt);
	t->seen = seen;
	t->rtt = rtt;
	t->epoch++;
	t->group = g;
	t->planned = planned;
	t->rtt_n = t->dup = t->stale = t->misrouted = t->damaged = t->not_chdata = 0;
	atomic_store(&t->delivered, 0);
	pthread_mutex_unlock(&t->mu);
	t->rate = rate;
	t->ms = ms;
	t->sent = t->send_failed = 0;
	t->send_s = t->late_s = t->drain_s = 0;
	t->peer0 = atomic_load(&t->peer_echoed);
	t->peerf0 = atomic_load(&t->peer_failed);
	bench_cpu_now(&t->cpu0);
	return 0;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !bench_stop)
		;
}

/* Sends every client's batch; what the kernel refused counts as not sent. */
static void flush(turn_load *t, const struct group *g)
{
	for (uint32_t i = 0; i < g->n; i++) {
		struct client *c = &t->cl[g->first + i];
		uint64_t now;
		uint32_t s = 0;

		if (!c->k)
			continue;
		now = clock_mono_ns();
		for (uint32_t j = 0; j < c->k; j++) {
			/* (t->cl moves while groups are added) */
			c->msgs[j].msg_hdr.msg_name = &c->dest;
			c->msgs[j].msg_hdr.msg_namelen = sizeof(c->dest);
			memcpy(c->bufs + (size_t)j * t->dgram + 4 + offsetof(struct tl_hdr, t_ns), &now, sizeof(now));
		}
		while (s < c->k) {
			int w = sendmmsg(c->fd, c->msgs + s, c->k - s, 0);
			if (w <= 0)
				break;
			s += (uint32_t)w;
		}
		t->sent += s;
		t->send_failed += c->k - s;
		c->k = 0;
	}
}

void tl_step_send(turn_load *t)
{
	const struct group *g = &t->grp[t->group];
	uint64_t t0 = clock_mono_ns(), tick = (uint64_t)t->c.tick_us * 1000u, next = t0, done = 0, last = t0;
	double per_ns = t->rate / 1e9;
	struct tl_hdr h = { .magic = TL_MAGIC, .epoch = t->epoch, .group = (uint16_t)t->group };

	while (done < t->planned && !bench_stop) {
		uint64_t now = clock_mono_ns();
		uint64_t due = (uint64_t)((double)(now - t0) * per_ns) + 1;

		if (due > t->planned)
			due = t->planned;
		while (done < due) {
			uint64_t end = due - done > (uint64_t)g->n * t->c.batch ? done + (uint64_t)g->n * t->c.batch : due;
			for (; done < end; done++) {
				struct client *c = &t->cl[g->first + done % g->n];
				uint8_t *p = c->bufs + (size_t)c->k * t->dgram;

				p[0] = (uint8_t)(c->channel >> 8);
				p[1] = (uint8_t)c->channel;
				p[2] = (uint8_t)(t->c.size >> 8);
				p[3] = (uint8_t)t->c.size;
				h.seq = (uint32_t)done;
				h.client = (uint16_t)c->idx;
				memcpy(p + 4, &h, sizeof(h));
				memcpy(p + 4 + sizeof(h), t->pattern + done % PATTERN_SPAN, t->c.size - sizeof(h));
				c->k++;
			}
			flush(t, g);
		}
		last = clock_mono_ns();
		next += tick;
		if (next > last)
			sleep_until(next);
		else
			next = last;
	}
	t->send_s = (double)(last - t0) / 1e9;
	t->late_s = (double)last / 1e9 - ((double)t0 / 1e9 + (double)t->planned / t->rate);
	if (t->late_s < 0)
		t->late_s = 0;
}

void tl_step_drain(turn_load *t, uint32_t quiet_ms, uint32_t max_ms)
{
	uint64_t t0 = clock_mono_ns(), changed = t0, seen = atomic_load(&t->arrivals);

	for (;;) {
		uint64_t now = clock_mono_ns(), a;

		if (atomic_load(&t->delivered) >= t->sent || now - changed >= (uint64_t)quiet_ms * 1000000u ||
		    now - t0 >= (uint64_t)max_ms * 1000000u || bench_stop)
			break;
		bench_sleep_ms(2);
		if ((a = atomic_load(&t->arrivals)) != seen) {
			seen = a;
			changed = clock_mono_ns();
		}
	}
	t->drain_s = (double)(clock_mono_ns() - t0) / 1e9;
}

void tl_step_end(turn_load *t, struct tl_report *r)
{
	struct bench_cpu c1;
	double *v;

	memset(r, 0, sizeof(*r));
	bench_cpu_now(&c1);
	pthread_mutex_lock(&t->mu);
	r->offered_pps = t->rate;
	r->ms = t->ms;
	r->planned = t->planned;
	r->sent = t->sent;
	r->send_failed = t->send_failed;
	r->send_s = t->send_s;
	r->late_s = t->late_s;
	r->drain_s = t->drain_s;
	r->delivered = atomic_load(&t->delivered);
	r->lost = r->sent > r->delivered ? r->sent - r->delivered : 0;
	r->dup = t->dup;
	r->stale = t->stale;
	r->misrouted = t->misrouted;
	r->damaged = t->damaged;
	r->not_chdata = t->not_chdata;
	r->rtt_n = t->rtt_n;
	if (t->rtt_n && (v = malloc(t->rtt_n * sizeof(*v)))) {
		for (uint64_t i = 0; i < t->rtt_n; i++)
			v[i] = t->rtt[i];
		r->rtt_p50_us = bench_percentile(v, t->rtt_n, 50);
		r->rtt_p99_us = bench_percentile(v, t->rtt_n, 99);
		r->rtt_max_us = v[t->rtt_n - 1];
		free(v);
	}
	/* Later arrivals of this step count as stale. */
	t->group = -1;
	pthread_mutex_unlock(&t->mu);
	r->peer_echoed = atomic_load(&t->peer_echoed) - t->peer0;
	r->peer_failed = atomic_load(&t->peer_failed) - t->peerf0;
	r->tool_cpu_s = c1.user_s + c1.sys_s - t->cpu0.user_s - t->cpu0.sys_s;
}

void tl_destroy(turn_load *t)
{
	if (!t)
		return;
	atomic_store(&t->quit, 1);
	if (t->quit_fd >= 0)
		wake(t);
	tl_resume(t);
	if (t->rx_started)
		pthread_join(t->rx_th, NULL);
	if (t->peer_started)
		pthread_join(t->peer_th, NULL);
	for (uint32_t i = 0; i < t->ncl; i++) {
		close(t->cl[i].fd);
		free(t->cl[i].msgs);
		free(t->cl[i].iov);
		free(t->cl[i].bufs);
	}
	for (uint32_t i = 0; t->peer_fd && i < t->c.peers; i++)
		if (t->peer_fd[i] >= 0)
			close(t->peer_fd[i]);
	if (t->rx_ep >= 0)
		close(t->rx_ep);
	if (t->peer_ep >= 0)
		close(t->peer_ep);
	if (t->quit_fd >= 0)
		close(t->quit_fd);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t->cl);
	free(t->peer_fd);
	free(t->pattern);
	free(t->seen);
	free(t->rtt);
	free(t);
}
