/*
 * worker: one spdp data-plane thread, run to completion: receive a burst,
 * forward it (flow.c), drain the command and exception rings, run timers,
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

#define WORKER_BURST 64

static void worker_emit(struct dp_worker *w, ring *r, uint16_t type, const void *p, uint32_t len)
{
	if (ring_enqueue(r, type, 1, p, len) < 0) {
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

static void handle_cmd(struct dp_worker *w, const struct ring_msg *m)
{
	union {
		struct msg_ping ping;
		struct msg_flow_add fa;
		struct msg_flow_del fd;
		struct msg_sub_add sa;
		struct msg_sub_del sd;
		struct msg_flow_dump dump;
		struct msg_srtp_rekey rk;
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
	default: {
		/* Valid on this ring but not handled by a worker (yet). */
		struct msg_cmd_error e = { .cmd_type = m->type, .error = -EOPNOTSUPP };
		worker_emit(w, w->evt, MSG_CMD_ERROR, &e, sizeof(e));
		break;
	}
	}
	explicit_bzero(&u, sizeof(u)); /* key material */
}

static unsigned drain(struct dp_worker *w, ring *r, enum ring_kind kind)
{
	struct ring_msg msgs[WORKER_BURST];
	unsigned n = ring_dequeue_burst(r, msgs, WORKER_BURST);

	for (unsigned i = 0; i < n; i++) {
		int why = msg_check(&msgs[i], kind);
		if (why) {
			ring_count_reject(r);
			stats_drop(w->stats, (enum stat_drop)why);
			log_rl(LOG_LVL_WARNING, 0, "worker %u: rejected message type %u on %s ring: %s",
			       w->id, msgs[i].type, kind == RING_KIND_CMD ? "command" : "exception",
			       stats_drop_names[why]);
			continue;
		}
		if (kind == RING_KIND_CMD) {
			stats_add(w->stats, STAT_CMDS, 1);
			handle_cmd(w, &msgs[i]);
			/* SRTP keys leave no copy behind in the ring either. */
			if (msgs[i].type == MSG_FLOW_ADD || msgs[i].type == MSG_SUB_ADD ||
			    msgs[i].type == MSG_SRTP_REKEY)
				explicit_bzero((void *)msgs[i].payload, msgs[i].len);
		} else {
			/* Exception packets get sockets to leave from in the TURN issue;
			 * until then they are counted and consumed. */
			stats_add(w->stats, STAT_EXC_DOWN, 1);
		}
	}
	if (n)
		ring_release(r);
	return n;
}

static int worker_init(struct dp_worker *w)
{
	const struct dp_config *c = &w->dp->cfg;
	struct dp_backend_cfg bc = {
		.worker = w->id, .rx_buffers = c->rx_buffers, .rx_buf_size = c->rx_buf_size,
		.tx_slots = c->tx_slots, .tx_buffers = c->tx_buffers, .max_ports = 2 * c->max_flows + 8,
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
		.flow_stats = shm_flow_stats(w->dp->seg, w->id),
		.sub_stats = shm_sub_stats(w->dp->seg, w->id),
	};
	char addr[80];
	int rc;

	snprintf(addr, sizeof(addr), strchr(c->media_address, ':') ? "[%s]:0" : "%s:0",
		 c->media_address);
	if (sp_addr_parse(&fc.media_addr, addr) < 0) {
		log_error(0, "[media] address: '%s' is not an IP address", c->media_address);
		return -EINVAL;
	}
	rc = dp_backend_uring.create(&w->be, &bc);
	if (rc < 0) {
		log_error(-rc, "worker %u: cannot start the io_uring backend", w->id);
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
		return rc;
	}
	return 0;
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
			flow_input(w->flows, pkts, (unsigned)n, now);
		unsigned work = drain(w, w->cmd, RING_KIND_CMD);
		work += drain(w, w->exc_down, RING_KIND_EXC_DOWN);
		flow_timers(w->flows, now);
		ops->flush(w->be);
		idle = n <= 0 && work == 0;
	}
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
