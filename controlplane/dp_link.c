/*
 * dp_link: spcp's attachment to spdp.
 *
 * DETACHED: try attach_connect() on a timer with exponential backoff and
 * jitter (spdp may be starting, restarting or gone). ATTACHED: map the
 * segment read-write, open every ring in the role spcp plays (producer of
 * commands and exceptions down, consumer of events and exceptions up),
 * discard events a previous spcp left unread, say HELLO, then heartbeat the
 * main thread and every worker. The attach socket's EOF and a pidfd on spdp
 * tell us it died; we detach and start over.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "cp.h"
#include "log.h"
#include "msg.h"
#include "ring.h"
#include "shm.h"
#include "status.h"

#define LINK_BURST 64
#define MS 1000000ull
#define MAX_ATTACH_FNS 4

struct hb {
	uint64_t last_pong_ns;
	uint64_t rtt_ns;
	uint64_t pongs;
};

struct dp_link {
	const struct cp_config *cfg;
	int epfd;
	char path[108];
	bool attached;
	struct attach_result ar;
	shm_seg *seg;
	uint32_t n_rings, n_workers;
	ring **rings;            /* by segment ring index */
	enum ring_kind *kinds;
	int pidfd;
	int dp_pid;
	bool hello_acked;
	uint64_t attached_ns;
	uint64_t attach_count;
	uint64_t next_attempt_ns;
	uint64_t backoff_ms;
	int last_err;            /* last attach error, logged once per change */
	uint64_t ping_seq;
	uint64_t next_ping_ns;
	struct hb *hb;           /* n_workers + 1 (last: main) */
	/* counters */
	uint64_t attach_attempts, attaches, detaches, stale_discarded;
	uint64_t events, events_rejected, cmd_drops, cmd_errors, exc_up;
	char tag_sock, tag_pidfd, tag_doorbell;
	struct {
		void (*fn)(void *ctx);
		void *ctx;
	} attach_fns[MAX_ATTACH_FNS];
	unsigned n_attach_fns;
	void (*flow_fn)(void *ctx, uint32_t worker, const struct msg_flow_event *ev);
	void *flow_ctx;
	void (*exc_fn)(void *ctx, uint32_t worker, const struct msg_exc_packet *h,
		       const uint8_t *payload);
	void *exc_ctx;
	void (*turn_fn)(void *ctx, uint32_t worker, const struct msg_turn_event *ev);
	void *turn_ctx;
	void (*state_fn)(void *ctx, uint32_t worker, const struct msg_turn_effect *rec);
	void *state_ctx;
	void (*tunnel_fn)(void *ctx, uint32_t worker, const struct msg_tunnel_event *ev);
	void *tunnel_ctx;
	void (*rtsp_fn)(void *ctx, uint32_t worker, const struct msg_rtsp_event *ev);
	void *rtsp_ctx;
};

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

dp_link *dp_link_create(const struct cp_config *cfg, int epfd)
{
	dp_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->cfg = cfg;
	l->epfd = epfd;
	l->pidfd = -1;
	l->ar.sock = l->ar.shm_fd = -1;
	l->backoff_ms = cfg->reattach_min_ms;
	if (attach_path(l->path, sizeof(l->path), cfg->runtime_dir, cfg->instance,
			ATTACH_SOCKET_NAME) < 0) {
		free(l);
		errno = ENAMETOOLONG;
		return NULL;
	}
	return l;
}

static void detach(dp_link *l, const char *why)
{
	if (!l->attached)
		return;
	log_notice("spdp pid %d lost (%s); control plane detached, will re-attach", l->dp_pid, why);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->ar.sock, NULL);
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->ar.doorbells[SHM_DOORBELL_CP], NULL);
	if (l->pidfd >= 0) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->pidfd, NULL);
		close(l->pidfd);
		l->pidfd = -1;
	}
	for (uint32_t i = 0; i < l->n_rings; i++)
		ring_close(l->rings[i]);
	free(l->rings);
	free(l->kinds);
	free(l->hb);
	l->rings = NULL;
	l->kinds = NULL;
	l->hb = NULL;
	shm_unmap(l->seg);
	l->seg = NULL;
	attach_result_close(&l->ar);
	l->attached = false;
	l->hello_acked = false;
	l->detaches++;
	l->backoff_ms = l->cfg->reattach_min_ms;
	l->next_attempt_ns = clock_mono_ns() + l->backoff_ms * MS;
}

void dp_link_destroy(dp_link *l)
{
	if (!l)
		return;
	if (l->attached) {
		log_notice("detaching from spdp pid %d", l->dp_pid);
		detach(l, "spcp stopping");
	}
	free(l);
}

static int open_rings(dp_link *l)
{
	const struct shm_header *h = shm_header(l->seg);

	l->n_rings = h->n_rings;
	l->n_workers = h->n_workers;
	l->rings = calloc(l->n_rings, sizeof(*l->rings));
	l->kinds = calloc(l->n_rings, sizeof(*l->kinds));
	l->hb = calloc(l->n_workers + 1, sizeof(*l->hb));
	if (!l->rings || !l->kinds || !l->hb)
		return -ENOMEM;
	for (uint32_t i = 0; i < l->n_rings; i++) {
		const struct ring_desc *d = shm_ring_desc(l->seg, i);
		bool to_dp = RING_KIND_BIT(d->kind) & RING_KINDS_TO_DP;
		l->kinds[i] = (enum ring_kind)d->kind;
		l->rings[i] = ring_open(shm_ring_ctrl(l->seg, i), shm_ring_data(l->seg, i), d->capacity,
					l->ar.doorbells[d->doorbell], to_dp ? RING_PRODUCER : RING_CONSUMER);
		if (!l->rings[i])
			return -errno;
		if (!to_dp) {
			uint64_t skipped = ring_discard(l->rings[i]);
			if (skipped)
				l->stale_discarded++;
		}
	}
	return 0;
}

static void try_attach(dp_link *l)
{
	char err[160];
	int rc;

	l->attach_attempts++;
	rc = attach_connect(l->path, ATTACH_CONTROL, 1000, &l->ar);
	if (rc < 0) {
		if (rc != l->last_err) {
			if (rc == -ENOENT || rc == -ECONNREFUSED)
				log_notice("waiting for spdp at %s", l->path);
			else
				log_warn(-rc, "attach to spdp at %s", l->path);
			l->last_err = rc;
		}
		goto retry;
	}
	l->seg = shm_map(l->ar.shm_fd, true, err, sizeof(err));
	if (!l->seg) {
		log_error(0, "spdp pid %d sent a segment we cannot use: %s", l->ar.dp_pid, err);
		attach_result_close(&l->ar);
		l->last_err = -EPROTO;
		goto retry;
	}
	if ((uint32_t)l->ar.n_doorbells != shm_header(l->seg)->n_doorbells) {
		log_error(0, "spdp pid %d sent %d doorbells for %u", l->ar.dp_pid, l->ar.n_doorbells,
			  shm_header(l->seg)->n_doorbells);
		goto fail;
	}
	if ((rc = open_rings(l)) < 0) {
		log_error(-rc, "opening rings");
		goto fail;
	}
	l->dp_pid = l->ar.dp_pid;
	l->attach_count = l->ar.attach_count;
	l->pidfd = pidfd_open_compat(l->dp_pid);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &l->tag_sock };
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->ar.sock, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &l->tag_doorbell };
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->ar.doorbells[SHM_DOORBELL_CP], &ev);
	if (l->pidfd >= 0) {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &l->tag_pidfd };
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->pidfd, &ev);
	}
	l->attached = true;
	l->attaches++;
	l->last_err = 0;
	l->attached_ns = clock_mono_ns();
	l->next_ping_ns = 0;
	struct msg_hello hello = { .cp_pid = (int32_t)getpid(), .proto_version = MSG_PROTO_VERSION,
				   .attach_count = l->attach_count };
	ring_enqueue(l->rings[shm_ring_index(RING_KIND_MAIN_CMD, 0)], MSG_HELLO, 1, &hello,
		     sizeof(hello));
	log_notice("attached to spdp pid %d: %u workers, attach #%llu", l->dp_pid, l->n_workers,
		   (unsigned long long)l->attach_count);
	return;

fail:
	l->attached = true; /* let detach() release what was set up */
	l->dp_pid = l->ar.dp_pid;
	detach(l, "attach failed");
	return;
retry:
	l->next_attempt_ns = clock_mono_ns() + l->backoff_ms * MS;
	/* Double with +-25% jitter so restarting hosts do not retry in step. */
	uint64_t next = l->backoff_ms * 2;
	next = next * (75 + (uint64_t)(rand() % 51)) / 100;
	l->backoff_ms = next < l->cfg->reattach_min_ms ? l->cfg->reattach_min_ms :
			next > l->cfg->reattach_max_ms ? l->cfg->reattach_max_ms : next;
}

bool dp_link_owns(const dp_link *l, const void *tag)
{
	return tag == &l->tag_sock || tag == &l->tag_pidfd || tag == &l->tag_doorbell;
}

void dp_link_event(dp_link *l, const void *tag, uint32_t events)
{
	if (!l->attached)
		return;
	if (tag == &l->tag_pidfd) {
		detach(l, "process exited");
	} else if (tag == &l->tag_sock) {
		char buf[64];
		ssize_t n = recv(l->ar.sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
			detach(l, "attach socket closed");
	} else if (tag == &l->tag_doorbell) {
		uint64_t v;
		ssize_t r = read(l->ar.doorbells[SHM_DOORBELL_CP], &v, sizeof(v));
		(void)r;
	}
}

/* Commands go out at the catalogue's current version of their type. */
static int enqueue(dp_link *l, uint32_t ring_idx, uint16_t type, const void *p, uint32_t len)
{
	const struct msg_info *mi = msg_lookup(type);
	return ring_enqueue(l->rings[ring_idx], type, mi ? mi->version : 1, p, len);
}

static void send_cmd(dp_link *l, uint32_t ring_idx, uint16_t type, const void *p, uint32_t len)
{
	if (enqueue(l, ring_idx, type, p, len) < 0) {
		l->cmd_drops++;
		log_rl(LOG_LVL_WARNING, 0, "command ring %u to spdp full: %s dropped", ring_idx,
		       msg_type_name(type));
	}
}

void dp_link_tick(dp_link *l)
{
	uint64_t now = clock_mono_ns();

	if (!l->attached) {
		if (now >= l->next_attempt_ns)
			try_attach(l);
		return;
	}
	if (now < l->next_ping_ns)
		return;
	l->next_ping_ns = now + l->cfg->heartbeat_ms * MS;
	struct msg_ping ping = { .seq = ++l->ping_seq, .sent_ns = now };
	send_cmd(l, shm_ring_index(RING_KIND_MAIN_CMD, 0), MSG_PING, &ping, sizeof(ping));
	for (uint32_t w = 0; w < l->n_workers; w++)
		send_cmd(l, shm_ring_index(RING_KIND_CMD, w), MSG_PING, &ping, sizeof(ping));
	for (uint32_t w = 0; w <= l->n_workers; w++) {
		uint64_t last = l->hb[w].last_pong_ns ? l->hb[w].last_pong_ns : l->attached_ns;
		if (now - last > l->cfg->dp_timeout_ms * MS)
			log_rl(LOG_LVL_WARNING, 0, "spdp pid %d %s %u has not answered heartbeats for %llu ms",
			       l->dp_pid, w == l->n_workers ? "main thread" : "worker",
			       w == l->n_workers ? 0 : w, (unsigned long long)((now - last) / MS));
	}
}

static void handle_event(dp_link *l, uint32_t ring_idx, const struct ring_msg *m)
{
	const struct ring_desc *d = shm_ring_desc(l->seg, ring_idx);

	switch (m->type) {
	case MSG_FLOW_EVENT: {
		struct msg_flow_event ev;
		msg_read(m, &ev, sizeof(ev));
		if (l->flow_fn && d->worker < l->n_workers)
			l->flow_fn(l->flow_ctx, d->worker, &ev);
		break;
	}
	case MSG_HELLO_ACK: {
		struct msg_hello_ack a;
		msg_read(m, &a, sizeof(a));
		l->hello_acked = true;
		for (unsigned i = 0; i < l->n_attach_fns; i++)
			l->attach_fns[i].fn(l->attach_fns[i].ctx);
		log_info("spdp pid %d acknowledged: protocol %u, %u workers", a.dp_pid, a.proto_version,
			 a.n_workers);
		break;
	}
	case MSG_PONG: {
		struct msg_pong p;
		msg_read(m, &p, sizeof(p));
		uint32_t w = p.worker == UINT32_MAX ? l->n_workers : p.worker;
		if (w > l->n_workers)
			break;
		uint64_t now = clock_mono_ns();
		l->hb[w].last_pong_ns = now;
		l->hb[w].rtt_ns = now >= p.sent_ns ? now - p.sent_ns : 0;
		l->hb[w].pongs++;
		break;
	}
	case MSG_CMD_ERROR: {
		struct msg_cmd_error e;
		msg_read(m, &e, sizeof(e));
		l->cmd_errors++;
		log_rl(LOG_LVL_WARNING, -e.error, "spdp refused %s", msg_type_name((uint16_t)e.cmd_type));
		break;
	}
	case MSG_EXC_PACKET: {
		/* The payload stays in the ring until release: the handler copies
		 * what it parses (spdp could still write it). */
		struct msg_exc_packet h;
		msg_read(m, &h, sizeof(h));
		l->exc_up++;
		if (l->exc_fn && d->worker < l->n_workers)
			l->exc_fn(l->exc_ctx, d->worker, &h, (const uint8_t *)m->payload + sizeof(h));
		break;
	}
	case MSG_TURN_EVENT: {
		struct msg_turn_event ev;
		msg_read(m, &ev, sizeof(ev));
		if (l->turn_fn && d->worker < l->n_workers)
			l->turn_fn(l->turn_ctx, d->worker, &ev);
		break;
	}
	case MSG_TURN_STATE: {
		struct msg_turn_effect rec;
		msg_read(m, &rec, sizeof(rec));
		if (l->state_fn && d->worker < l->n_workers)
			l->state_fn(l->state_ctx, d->worker, &rec);
		break;
	}
	case MSG_TUNNEL_EVENT: {
		struct msg_tunnel_event ev;
		msg_read(m, &ev, sizeof(ev));
		if (l->tunnel_fn && d->worker < l->n_workers)
			l->tunnel_fn(l->tunnel_ctx, d->worker, &ev);
		break;
	}
	case MSG_RTSP_EVENT: {
		struct msg_rtsp_event ev;
		msg_read(m, &ev, sizeof(ev));
		if (l->rtsp_fn && d->worker < l->n_workers)
			l->rtsp_fn(l->rtsp_ctx, d->worker, &ev);
		break;
	}
	}
}

unsigned dp_link_poll(dp_link *l)
{
	struct ring_msg msgs[LINK_BURST];
	unsigned total = 0;

	if (!l->attached)
		return 0;
	for (uint32_t i = 0; i < l->n_rings; i++) {
		if (RING_KIND_BIT(l->kinds[i]) & RING_KINDS_TO_DP)
			continue;
		unsigned n = ring_dequeue_burst(l->rings[i], msgs, LINK_BURST);
		for (unsigned k = 0; k < n; k++) {
			int why = msg_check(&msgs[k], l->kinds[i]);
			if (why) {
				ring_count_reject(l->rings[i]);
				l->events_rejected++;
				log_rl(LOG_LVL_WARNING, 0, "rejected message type %u from spdp: %s",
				       msgs[k].type, stats_drop_names[why]);
				continue;
			}
			l->events++;
			handle_event(l, i, &msgs[k]);
		}
		if (n)
			ring_release(l->rings[i]);
		total += n;
	}
	return total;
}

bool dp_link_arm(dp_link *l)
{
	if (!l->attached)
		return true;
	for (uint32_t i = 0; i < l->n_rings; i++) {
		if (RING_KIND_BIT(l->kinds[i]) & RING_KINDS_TO_DP)
			continue;
		if (!ring_arm(l->rings[i])) {
			for (uint32_t j = 0; j < i; j++)
				if (!(RING_KIND_BIT(l->kinds[j]) & RING_KINDS_TO_DP))
					ring_disarm(l->rings[j]);
			return false;
		}
	}
	return true;
}

bool dp_link_attached(const dp_link *l)
{
	return l->attached;
}

cJSON *dp_link_status_json(const dp_link *l)
{
	cJSON *o = cJSON_CreateObject(), *hb;
	uint64_t now = clock_mono_ns();

	cJSON_AddBoolToObject(o, "attached", l->attached);
	if (l->attached)
		cJSON_AddNumberToObject(o, "dp_pid", l->dp_pid);
	else
		cJSON_AddNullToObject(o, "dp_pid");
	cJSON_AddBoolToObject(o, "hello_acked", l->hello_acked);
	cJSON_AddNumberToObject(o, "attach_count", (double)l->attach_count);
	cJSON_AddNumberToObject(o, "attach_attempts", (double)l->attach_attempts);
	cJSON_AddNumberToObject(o, "attaches", (double)l->attaches);
	cJSON_AddNumberToObject(o, "detaches", (double)l->detaches);
	cJSON_AddNumberToObject(o, "events", (double)l->events);
	cJSON_AddNumberToObject(o, "events_rejected", (double)l->events_rejected);
	cJSON_AddNumberToObject(o, "command_drops", (double)l->cmd_drops);
	cJSON_AddNumberToObject(o, "command_errors", (double)l->cmd_errors);
	cJSON_AddNumberToObject(o, "stale_rings_discarded", (double)l->stale_discarded);
	cJSON_AddNumberToObject(o, "exception_packets_up", (double)l->exc_up);
	cJSON_AddStringToObject(o, "socket", l->path);
	hb = cJSON_AddArrayToObject(o, "heartbeat");
	for (uint32_t w = 0; l->attached && w <= l->n_workers; w++) {
		cJSON *e = cJSON_CreateObject();
		if (w == l->n_workers)
			cJSON_AddStringToObject(e, "worker", "main");
		else
			cJSON_AddNumberToObject(e, "worker", w);
		cJSON_AddNumberToObject(e, "pongs", (double)l->hb[w].pongs);
		cJSON_AddNumberToObject(e, "rtt_us", (double)l->hb[w].rtt_ns / 1e3);
		uint64_t last = l->hb[w].last_pong_ns;
		cJSON_AddNumberToObject(e, "last_pong_age_ms", last ? (double)(now - last) / 1e6 : -1);
		cJSON_AddBoolToObject(e, "responsive",
				      (last ? now - last : now - l->attached_ns) <= l->cfg->dp_timeout_ms * MS);
		cJSON_AddItemToArray(hb, e);
	}
	return o;
}

cJSON *dp_link_spdp_json(const dp_link *l)
{
	if (!l->attached) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "reachable", 0);
		return o;
	}
	return status_spdp_json(l->seg);
}

int dp_link_set_log_level(dp_link *l, int level)
{
	if (!l->attached)
		return -ENOTCONN;
	struct msg_set_log_level m = { .level = (uint32_t)level };
	return enqueue(l, shm_ring_index(RING_KIND_MAIN_CMD, 0), MSG_SET_LOG_LEVEL, &m, sizeof(m));
}

uint64_t dp_link_attaches(const dp_link *l)
{
	return l->attaches;
}

uint32_t dp_link_workers(const dp_link *l)
{
	return l->attached ? l->n_workers : 0;
}

int dp_link_pid(const dp_link *l)
{
	return l->attached ? l->dp_pid : 0;
}

int dp_link_send(dp_link *l, uint32_t worker, uint16_t type, const void *p, uint32_t len)
{
	if (!l->attached || worker >= l->n_workers)
		return -ENOTCONN;
	int rc = enqueue(l, shm_ring_index(RING_KIND_CMD, worker), type, p, len);
	if (rc < 0)
		l->cmd_drops++;
	return rc;
}

void dp_link_on_attach(dp_link *l, void (*fn)(void *ctx), void *ctx)
{
	if (l->n_attach_fns < MAX_ATTACH_FNS) {
		l->attach_fns[l->n_attach_fns].fn = fn;
		l->attach_fns[l->n_attach_fns++].ctx = ctx;
	}
}

void dp_link_on_flow_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_flow_event *ev), void *ctx)
{
	l->flow_fn = fn;
	l->flow_ctx = ctx;
}

void dp_link_on_exc_packet(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						    const struct msg_exc_packet *h,
						    const uint8_t *payload), void *ctx)
{
	l->exc_fn = fn;
	l->exc_ctx = ctx;
}

void dp_link_on_turn_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_turn_event *ev), void *ctx)
{
	l->turn_fn = fn;
	l->turn_ctx = ctx;
}

void dp_link_on_turn_state(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_turn_effect *rec), void *ctx)
{
	l->state_fn = fn;
	l->state_ctx = ctx;
}

void dp_link_on_tunnel_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						     const struct msg_tunnel_event *ev), void *ctx)
{
	l->tunnel_fn = fn;
	l->tunnel_ctx = ctx;
}

const struct shm_seg *dp_link_segment(const dp_link *l)
{
	return l->attached ? l->seg : NULL;
}

void dp_link_on_rtsp_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_rtsp_event *ev), void *ctx)
{
	l->rtsp_fn = fn;
	l->rtsp_ctx = ctx;
}
