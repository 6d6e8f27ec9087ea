/*
 * worker: one spdp data-plane thread, run to completion: receive a burst,
 * hand each packet to the module owning its port (TURN listeners and relay
 * ports: turn_relay.c; agent tunnels and their forwards: tunnel.c;
 * everything else: flow.c), drain the command and
 * exception rings, run timers,
 * submit the sends; when a turn did no work, arm the rings and let the
 * backend sleep on packets, send completions and this worker's doorbell at
 * once (bounded by idle_sleep_ms so the heartbeat keeps moving). Nothing
 * here waits for spcp: a full event ring drops and counts.
 *
 * The backend and the flow table are created on this thread (io_uring's
 * single-issuer mode requires it) and never touched by another.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "dp.h"
#include "flow.h"
#include "log.h"
#include "msg.h"
#include "rtsp_pull.h"
#include "tunnel.h"
#include "turn_relay.h"

#define WORKER_BURST 64

/* A paused connection's chunks still in the burst are held by the tunnel. */
_Static_assert(WORKER_BURST <= TUNNEL_HOLD, "tunnel hold smaller than a burst");

_Static_assert(3 * DP_TURN_MAX_LISTENERS == TURN_RELAY_MAX_LISTENERS, "listener limits differ");

static void worker_emit(struct dp_worker *w, ring *r, uint16_t type, const void *p, uint32_t len)
{
	if (ring_enqueue(r, type, msg_lookup(type)->version, p, len) < 0) {
		stats_drop(w->stats, DROP_RING_FULL);
		log_rl(LOG_LVL_WARNING, 0, "worker %u: ring to spcp full, %s dropped", w->id,
		       msg_type_name(type));
		return;
	}
	stats_add(w->stats, STAT_EVENTS, 1);
}

static void emit_flow_event(void *ctx, const struct msg_flow_event *ev)
{
	struct dp_worker *w = ctx;
	worker_emit(w, w->evt, MSG_FLOW_EVENT, ev, sizeof(*ev));
}

static void emit_turn_event(void *ctx, const struct msg_turn_event *ev)
{
	struct dp_worker *w = ctx;
	worker_emit(w, w->evt, MSG_TURN_EVENT, ev, sizeof(*ev));
}

/* A TURN or tunnel dump record: a full ring is not a drop, the dump waits for room. */
static int turn_dump_out(void *ctx, uint16_t type, const void *msg, uint32_t len)
{
	struct dp_worker *w = ctx;
	void *dst = ring_prepare(w->evt, len);

	if (!dst)
		return -ENOBUFS;
	memcpy(dst, msg, len);
	ring_stage(w->evt, type, msg_lookup(type)->version, 0, len);
	ring_publish(w->evt);
	stats_add(w->stats, STAT_EVENTS, 1);
	return 0;
}

static void emit_tunnel_event(void *ctx, const struct msg_tunnel_event *ev)
{
	struct dp_worker *w = ctx;
	worker_emit(w, w->evt, MSG_TUNNEL_EVENT, ev, sizeof(*ev));
}

static int tunnel_dump_out(void *ctx, const struct msg_tunnel_event *ev)
{
	return turn_dump_out(ctx, MSG_TUNNEL_EVENT, ev, sizeof(*ev));
}

static void emit_rtsp_event(void *ctx, const struct msg_rtsp_event *ev)
{
	struct dp_worker *w = ctx;
	worker_emit(w, w->evt, MSG_RTSP_EVENT, ev, sizeof(*ev));
}

/* A STUN request for spcp: header and datagram written straight into the
 * exception ring. */
static int turn_exc_up(void *ctx, const struct msg_exc_packet *h, const uint8_t *payload)
{
	struct dp_worker *w = ctx;
	uint32_t len = (uint32_t)sizeof(*h) + h->payload_len;
	uint8_t *dst = ring_prepare(w->exc_up, len);

	if (!dst) {
		ring_count_drop(w->exc_up);
		stats_drop(w->stats, DROP_RING_FULL);
		log_rl(LOG_LVL_WARNING, 0, "worker %u: exception ring to spcp full, STUN request dropped",
		       w->id);
		return -ENOBUFS;
	}
	memcpy(dst, h, sizeof(*h));
	memcpy(dst + sizeof(*h), payload, h->payload_len);
	ring_stage(w->exc_up, MSG_EXC_PACKET, 1, 0, len);
	ring_publish(w->exc_up);
	return 0;
}

/* A packet spcp wants sent (a STUN response), on the command ring behind
 * the effects of its request, or on the exception-down ring. */
static void handle_exc_down(struct dp_worker *w, const struct ring_msg *m, uint64_t now)
{
	struct msg_exc_packet h;

	msg_read(m, &h, sizeof(h));
	if (!w->turn) {
		stats_add(w->stats, STAT_EXC_DOWN, 1);
		stats_drop(w->stats, DROP_TURN_RESP_DROPPED);
		return;
	}
	turn_relay_send(w->turn, &h, (const uint8_t *)m->payload + sizeof(h), now);
}

static bool secret_bearing(uint16_t type)
{
	return type == MSG_FLOW_ADD || type == MSG_SUB_ADD || type == MSG_SRTP_REKEY ||
	       type == MSG_RTSP_PULL;
}

static void handle_cmd(struct dp_worker *w, const struct ring_msg *m, uint64_t now)
{
	union {
		struct msg_ping ping;
		struct msg_flow_add fa;
		struct msg_flow_del fd;
		struct msg_sub_add sa;
		struct msg_sub_del sd;
		struct msg_flow_dump dump;
		struct msg_srtp_rekey rk;
		struct msg_turn_effect te;
		struct msg_turn_dump td;
		struct msg_tunnel_cmd tc;
		struct msg_rtsp_pull rp;
	} u;

	switch (m->type) {
	case MSG_PING: {
		msg_read(m, &u.ping, sizeof(u.ping));
		struct msg_pong pong = { .seq = u.ping.seq, .sent_ns = u.ping.sent_ns,
					 .recv_ns = clock_mono_ns(), .worker = w->id };
		stats_add(w->stats, STAT_PINGS, 1);
		worker_emit(w, w->evt, MSG_PONG, &pong, sizeof(pong));
		break;
	}
	case MSG_FLOW_ADD:
		msg_read(m, &u.fa, sizeof(u.fa));
		flow_cmd_add(w->flows, &u.fa);
		break;
	case MSG_FLOW_DEL:
		msg_read(m, &u.fd, sizeof(u.fd));
		flow_cmd_del(w->flows, &u.fd);
		break;
	case MSG_SUB_ADD:
		msg_read(m, &u.sa, sizeof(u.sa));
		flow_cmd_sub_add(w->flows, &u.sa);
		break;
	case MSG_SUB_DEL:
		msg_read(m, &u.sd, sizeof(u.sd));
		flow_cmd_sub_del(w->flows, &u.sd);
		break;
	case MSG_FLOW_DUMP:
		msg_read(m, &u.dump, sizeof(u.dump));
		flow_cmd_dump(w->flows, &u.dump);
		break;
	case MSG_SRTP_REKEY:
		msg_read(m, &u.rk, sizeof(u.rk));
		flow_cmd_rekey(w->flows, &u.rk);
		break;
	case MSG_TURN_EFFECT:
		msg_read(m, &u.te, sizeof(u.te));
		if (w->turn) {
			turn_relay_effect(w->turn, &u.te, now);
		} else {
			struct msg_turn_event ev = { .seq = u.te.seq, .kind = TURN_EV_FAILED,
						     .alloc_id = u.te.alloc_id, .worker = w->id,
						     .error = -EOPNOTSUPP, .effect_type = u.te.type };
			worker_emit(w, w->evt, MSG_TURN_EVENT, &ev, sizeof(ev));
		}
		break;
	case MSG_TURN_DUMP:
		msg_read(m, &u.td, sizeof(u.td));
		if (w->turn) {
			turn_relay_dump(w->turn, &u.td);
		} else {
			struct msg_turn_event ev = { .seq = u.td.seq, .kind = TURN_EV_DUMP_DONE,
						     .worker = w->id };
			worker_emit(w, w->evt, MSG_TURN_EVENT, &ev, sizeof(ev));
		}
		break;
	case MSG_EXC_PACKET:
		handle_exc_down(w, m, now);
		break;
	case MSG_RTSP_PULL:
		msg_read(m, &u.rp, sizeof(u.rp));
		if (w->pulls) {
			rtsp_pulls_cmd(w->pulls, &u.rp, now);
		} else {
			struct msg_rtsp_event ev = { .seq = u.rp.seq, .pull_id = u.rp.pull_id,
						     .kind = RTSP_EV_FAILED, .worker = w->id,
						     .error = -EOPNOTSUPP };
			worker_emit(w, w->evt, MSG_RTSP_EVENT, &ev, sizeof(ev));
		}
		memset(&u.rp, 0, sizeof(u.rp)); /* a camera password */
		break;
	case MSG_TUNNEL_CMD:
		msg_read(m, &u.tc, sizeof(u.tc));
		if (w->tunnel) {
			tunnel_cmd(w->tunnel, &u.tc, now);
		} else {
			struct msg_tunnel_event ev = { .seq = u.tc.seq, .kind = TUNNEL_EV_FAILED,
						       .worker = w->id, .fwd_id = u.tc.fwd_id,
						       .tunnel_id = u.tc.tunnel_id, .error = -EOPNOTSUPP };
			if (u.tc.op == MSG_TUNNEL_DUMP)
				ev.kind = TUNNEL_EV_DUMP_DONE, ev.error = 0; /* nothing to report */
			worker_emit(w, w->evt, MSG_TUNNEL_EVENT, &ev, sizeof(ev));
		}
		break;
	default: {
		/* Valid on this ring but not handled by a worker (yet). */
		struct msg_cmd_error e = { .cmd_type = m->type, .error = -EOPNOTSUPP };
		worker_emit(w, w->evt, MSG_CMD_ERROR, &e, sizeof(e));
		break;
	}
	}
	explicit_bzero(&u, sizeof(u)); /* key material */
}

static unsigned drain(struct dp_worker *w, ring *r, enum ring_kind kind, uint64_t now)
{
	struct ring_msg msgs[WORKER_BURST];
	unsigned n = ring_dequeue_burst(r, msgs, WORKER_BURST);

	for (unsigned i = 0; i < n; i++) {
		int why = msg_check(&msgs[i], kind);
		if (why) {
			/* A refused command may still carry a secret. */
			if (kind == RING_KIND_CMD && secret_bearing(msgs[i].type))
				explicit_bzero((void *)msgs[i].payload, msgs[i].len);
			ring_count_reject(r);
			stats_drop(w->stats, (enum stat_drop)why);
			log_rl(LOG_LVL_WARNING, 0, "worker %u: rejected message type %u on %s ring: %s",
			       w->id, msgs[i].type, kind == RING_KIND_CMD ? "command" : "exception",
			       stats_drop_names[why]);
			continue;
		}
		if (kind == RING_KIND_CMD) {
			stats_add(w->stats, STAT_CMDS, 1);
			handle_cmd(w, &msgs[i], now);
			/* SRTP keys and camera passwords leave no copy in the ring. */
			if (secret_bearing(msgs[i].type))
				explicit_bzero((void *)msgs[i].payload, msgs[i].len);
		} else {
			handle_exc_down(w, &msgs[i], now);
		}
	}
	if (n)
		ring_release(r);
	return n;
}

static void close_turn_fds(struct dp_worker *w, uint32_t from)
{
	for (uint32_t k = from; k < w->n_turn_fds; k++)
		if (w->turn_fds[k] >= 0)
			close(w->turn_fds[k]);
	w->n_turn_fds = 0;
}

/* The TURN relay and its listener sockets (the worker's members of the
 * steered groups main() opened). */
static int turn_init(struct dp_worker *w, uint32_t max_ports)
{
	const struct dp_config *c = &w->dp->cfg;
	struct turn_relay_cfg tc = { .worker = w->id, .max_allocs = c->turn_max_allocs,
				     .max_perms = c->turn_max_perms,
				     .max_channels = c->turn_max_channels, .max_ports = max_ports,
				     .max_conns = c->turn_max_conns,
				     .conn_idle_ns = (uint64_t)c->turn_conn_idle_ms * 1000000,
				     .tls_handshake_ns = (uint64_t)c->turn_tls_handshake_ms * 1000000,
				     .tls = w->dp->turn_tls };
	struct turn_relay_hooks hooks = { .event = emit_turn_event, .exc_up = turn_exc_up,
					  .dump = turn_dump_out, .ctx = w };
	int rc;

	w->turn = turn_relay_create(&tc, &dp_backend_uring, w->be, w->stats, &hooks);
	if (!w->turn) {
		rc = -errno;
		log_error(errno, "worker %u: TURN relay (%u allocations)", w->id, c->turn_max_allocs);
		close_turn_fds(w, 0);
		return rc;
	}
	for (uint32_t k = 0; k < w->n_turn_fds; k++) {
		uint32_t idx;
		uint8_t tp = w->turn_fd_tp[k];
		rc = tp == MSG_TURN_TP_UDP ? dp_backend_uring.port_adopt(w->be, w->turn_fds[k], &idx)
					   : dp_backend_uring.listen_adopt(w->be, w->turn_fds[k], &idx);
		if (rc < 0) {
			log_error(-rc, "worker %u: TURN listener", w->id);
			close_turn_fds(w, k);
			return rc;
		}
		w->turn_fds[k] = -1; /* the backend owns it now */
		rc = tp == MSG_TURN_TP_UDP ? turn_relay_add_listener(w->turn, idx)
					   : turn_relay_add_stream_listener(w->turn, idx, tp == MSG_TURN_TP_TLS);
		if (rc < 0) {
			log_error(-rc, "worker %u: TURN listener", w->id);
			close_turn_fds(w, k + 1);
			return rc;
		}
	}
	return 0;
}

static void close_tun_fds(struct dp_worker *w, uint32_t from)
{
	for (uint32_t k = from; k < w->n_tun_fds; k++)
		if (w->tun_fds[k] >= 0)
			close(w->tun_fds[k]);
	w->n_tun_fds = 0;
}

/* The agent tunnels and their listener sockets (the worker's members of
 * the SO_REUSEPORT groups main() opened). */
static int tunnel_init(struct dp_worker *w, uint32_t max_ports)
{
	const struct dp_config *c = &w->dp->cfg;
	struct tunnel_cfg tc = { .worker = w->id, .max_ports = max_ports,
				 .max_agents = c->tunnel_max_agents,
				 .max_streams = c->tunnel_max_streams,
				 .max_forwards = c->tunnel_max_forwards,
				 .stream_window = (uint32_t)c->tunnel_stream_window,
				 .buf_size = c->rx_buf_size,
				 .handshake_ns = (uint64_t)c->tunnel_handshake_ms * 1000000,
				 .heartbeat_ns = (uint64_t)c->tunnel_heartbeat_ms * 1000000,
				 .streampoint_id = c->tunnel_streampoint_id,
				 .keys = w->dp->tunnel_keys, .tls = w->dp->tunnel_tls };
	struct tunnel_hooks hooks = { .event = emit_tunnel_event, .dump = tunnel_dump_out, .ctx = w };
	int rc;

	w->tunnel = tunnel_create(&tc, &dp_backend_uring, w->be, w->stats, &hooks);
	if (!w->tunnel) {
		rc = -errno;
		log_error(errno, "worker %u: agent tunnels", w->id);
		close_tun_fds(w, 0);
		return rc;
	}
	for (uint32_t k = 0; k < w->n_tun_fds; k++) {
		uint32_t idx;
		if ((rc = dp_backend_uring.listen_adopt(w->be, w->tun_fds[k], &idx)) < 0 ||
		    (w->tun_fds[k] = -1, rc = tunnel_add_listener(w->tunnel, idx)) < 0) {
			log_error(-rc, "worker %u: tunnel listener", w->id);
			close_tun_fds(w, k);
			return rc;
		}
	}
	w->n_tun_fds = 0;
	/* RTSP pulls ride this worker's tunnels into its flows. */
	struct rtsp_pull_cfg pc = { .worker = w->id, .max_pulls = c->rtsp_max_pulls,
				    .retry_min_ns = (uint64_t)c->rtsp_retry_min_ms * 1000000,
				    .retry_max_ns = (uint64_t)c->rtsp_retry_max_ms * 1000000,
				    .request_timeout_ns = (uint64_t)c->rtsp_request_timeout_ms * 1000000,
				    .silence_ns = (uint64_t)c->rtsp_silence_ms * 1000000 };
	struct rtsp_pull_hooks ph = { .event = emit_rtsp_event, .ctx = w };
	w->pulls = rtsp_pulls_create(&pc, w->tunnel, w->flows, w->stats, &ph);
	if (!w->pulls) {
		rc = -errno;
		log_error(errno, "worker %u: rtsp pulls", w->id);
		return rc;
	}
	flow_set_upstream(w->flows, rtsp_pulls_upstream, w->pulls);
	return 0;
}

static int worker_init(struct dp_worker *w)
{
	const struct dp_config *c = &w->dp->cfg;
	/* Port indexes: flows' pairs, the shared port, and with TURN one relay
	 * port per allocation (two when dual-stack) plus the listeners. */
	uint32_t max_ports = 2 * c->max_flows + 8 +
			     (w->n_turn_fds ? 2 * c->turn_max_allocs + w->n_turn_fds + c->turn_max_conns : 0) +
			     (w->n_tun_fds ? w->n_tun_fds + c->tunnel_max_agents + c->tunnel_max_streams +
					     c->tunnel_max_forwards : 0);
	struct dp_backend_cfg bc = {
		.worker = w->id, .rx_buffers = c->rx_buffers, .rx_buf_size = c->rx_buf_size,
		.tx_slots = c->tx_slots, .tx_buffers = c->tx_buffers, .max_ports = max_ports,
		.zerocopy_send = c->zerocopy_send, .doorbell_fd = w->doorbell, .stats = w->stats,
		.rcvbuf = (uint32_t)c->rcvbuf,
	};
	struct flow_cfg fc = {
		.worker = w->id, .workers = c->workers, .max_flows = c->max_flows,
		.max_subs = c->max_subs, .max_subs_per_flow = c->max_subs_per_flow,
		.history_pkts = c->history_pkts, .history_bytes = (uint32_t)c->history_bytes,
		.pli_interval_ms = c->pli_interval_ms, .rtcp_timeout_ms = c->rtcp_timeout_ms,
		.send_error_limit = c->send_error_limit,
		.srtp_window = c->srtp_window, .srtp_key_lifetime = c->srtp_key_lifetime,
		.port_min = (uint16_t)c->port_min, .port_max = (uint16_t)c->port_max,
		.max_ports = max_ports,
		.flow_stats = shm_flow_stats(w->dp->seg, w->id),
		.sub_stats = shm_sub_stats(w->dp->seg, w->id),
	};
	char addr[80];
	int rc;

	snprintf(addr, sizeof(addr), strchr(c->media_address, ':') ? "[%s]:0" : "%s:0",
		 c->media_address);
	if (sp_addr_parse(&fc.media_addr, addr) < 0) {
		log_error(0, "[media] address: '%s' is not an IP address", c->media_address);
		close_turn_fds(w, 0);
		close_tun_fds(w, 0);
		return -EINVAL;
	}
	rc = dp_backend_uring.create(&w->be, &bc);
	if (rc < 0) {
		log_error(-rc, "worker %u: cannot start the io_uring backend", w->id);
		close_turn_fds(w, 0);
		close_tun_fds(w, 0);
		return rc;
	}
	w->flows = flow_table_create(&fc, &dp_backend_uring, w->be, w->stats, emit_flow_event, w);
	if (w->flows && w->shared_fd >= 0) {
		uint32_t idx;
		if ((rc = dp_backend_uring.port_adopt(w->be, w->shared_fd, &idx)) < 0) {
			log_error(-rc, "worker %u: shared port", w->id);
			flow_table_destroy(w->flows);
			dp_backend_uring.destroy(w->be);
			w->be = NULL;
			close_turn_fds(w, 0);
			close_tun_fds(w, 0);
			return rc;
		}
		w->shared_fd = -1; /* the backend owns it now */
		flow_set_shared_port(w->flows, idx);
	}
	if (!w->flows) {
		rc = -errno;
		log_error(errno, "worker %u: flow table (%u flows, %u subscribers)", w->id,
			  c->max_flows, c->max_subs);
		dp_backend_uring.destroy(w->be);
		w->be = NULL;
		close_turn_fds(w, 0);
		close_tun_fds(w, 0);
		return rc;
	}
	if ((w->n_turn_fds && (rc = turn_init(w, max_ports)) < 0) ||
	    (w->n_tun_fds && (rc = tunnel_init(w, max_ports)) < 0)) {
		close_tun_fds(w, 0);
		rtsp_pulls_destroy(w->pulls);
		w->pulls = NULL;
		tunnel_destroy(w->tunnel);
		w->tunnel = NULL;
		turn_relay_destroy(w->turn);
		w->turn = NULL;
		flow_table_destroy(w->flows);
		dp_backend_uring.destroy(w->be);
		w->be = NULL;
		return rc;
	}
	return 0;
}

/* Route a burst by port owner: TURN listener and relay ports to the relay,
 * agent tunnels and forwards to the tunnel, the rest to the flows. Order
 * within each part is kept. */
static void dispatch(struct dp_worker *w, struct dp_pkt *pkts, unsigned n, uint64_t now)
{
	struct dp_pkt turn[WORKER_BURST], tun[WORKER_BURST];
	unsigned nf = 0, nt = 0, nu = 0;

	if (!w->turn && !w->tunnel) {
		flow_input(w->flows, pkts, n, now);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t at = pkts[i].kind == DP_PKT_OPEN ? pkts[i].parent : pkts[i].port;
		if (w->turn && turn_relay_owns(w->turn, at))
			turn[nt++] = pkts[i];
		else if (w->tunnel && tunnel_owns(w->tunnel, at))
			tun[nu++] = pkts[i];
		else
			pkts[nf++] = pkts[i];
	}
	if (nf)
		flow_input(w->flows, pkts, nf, now);
	if (nt)
		turn_relay_input(w->turn, turn, nt, now);
	if (nu)
		tunnel_input(w->tunnel, tun, nu, now);
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	const struct dp_backend_ops *ops = &dp_backend_uring;
	struct dp_pkt pkts[WORKER_BURST];
	int idle_ms = (int)w->dp->cfg.idle_sleep_ms, rc;
	bool idle = false;

	rc = worker_init(w);
	atomic_store(&w->init, rc < 0 ? rc : 1);
	if (rc < 0)
		return NULL;
	log_info("worker %u: started", w->id);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		int wait = 0;

		if (idle && ring_arm(w->cmd)) {
			if (ring_arm(w->exc_down)) {
				wait = idle_ms;
				stats_add(w->stats, STAT_SLEEPS, 1);
			} else {
				ring_disarm(w->cmd);
			}
		}
		int n = ops->rx_burst(w->be, pkts, WORKER_BURST, wait);
		if (wait) {
			ring_disarm(w->cmd);
			ring_disarm(w->exc_down);
		}
		uint64_t now = clock_mono_ns();
		atomic_store_explicit(&w->stats->heartbeat_ns, now, memory_order_relaxed);
		stats_add(w->stats, STAT_LOOPS, 1);
		if (n > 0)
			dispatch(w, pkts, (unsigned)n, now);
		unsigned work = drain(w, w->cmd, RING_KIND_CMD, now);
		work += drain(w, w->exc_down, RING_KIND_EXC_DOWN, now);
		flow_timers(w->flows, now);
		if (w->turn) {
			turn_relay_timers(w->turn, now);
			work += turn_relay_dump_continue(w->turn);
		}
		if (w->tunnel)
			tunnel_timers(w->tunnel, now);
		if (w->pulls)
			rtsp_pulls_timers(w->pulls, now);
		ops->flush(w->be);
		idle = n <= 0 && work == 0;
	}
	rtsp_pulls_destroy(w->pulls);
	tunnel_destroy(w->tunnel);
	turn_relay_destroy(w->turn);
	flow_table_destroy(w->flows);
	ops->destroy(w->be);
	log_info("worker %u: stopped", w->id);
	return NULL;
}

int dp_worker_start(struct dp_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc)
		return -rc;
	char name[16];
	snprintf(name, sizeof(name), "spdp-w%u", w->id);
	pthread_setname_np(w->thread, name);
	/* Wait for the backend: a worker that cannot do I/O must stop spdp. */
	for (int i = 0; i < 1000 && atomic_load(&w->init) == 0; i++)
		usleep(5000);
	rc = atomic_load(&w->init);
	if (rc == 1)
		return 0;
	if (rc == 0)
		rc = -ETIMEDOUT;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	return rc;
}

void dp_worker_stop(struct dp_worker *w)
{
	uint64_t one = 1;

	atomic_store(&w->stop, true);
	ssize_t r = write(w->doorbell, &one, sizeof(one));
	(void)r;
	pthread_join(w->thread, NULL);
}
