/*
 * worker: one spdp data-plane thread. Run-to-completion: drain the command
 * and exception rings in bursts, do the work, publish events; when there is
 * nothing to do, arm the rings and sleep on this worker's doorbell (bounded
 * by idle_sleep_ms so the heartbeat keeps moving). Nothing here blocks on
 * spcp: a full event ring drops and counts.
 *
 * The I/O backends (io_uring, DPDK) plug their receive/send burst into this
 * loop in later issues.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dp.h"
#include "log.h"
#include "msg.h"

#define WORKER_BURST 32

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

static void handle_cmd(struct dp_worker *w, const struct ring_msg *m)
{
	switch (m->type) {
	case MSG_PING: {
		struct msg_ping ping;
		struct msg_pong pong;
		msg_read(m, &ping, sizeof(ping));
		pong = (struct msg_pong){ .seq = ping.seq, .sent_ns = ping.sent_ns,
					  .recv_ns = clock_mono_ns(), .worker = w->id };
		stats_add(w->stats, STAT_PINGS, 1);
		worker_emit(w, w->evt, MSG_PONG, &pong, sizeof(pong));
		break;
	}
	default: {
		/* Valid on this ring but not handled by a worker (yet). */
		struct msg_cmd_error e = { .cmd_type = m->type, .error = -EOPNOTSUPP };
		worker_emit(w, w->evt, MSG_CMD_ERROR, &e, sizeof(e));
		break;
	}
	}
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

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct pollfd pfd = { .fd = w->doorbell, .events = POLLIN };
	int idle_ms = (int)w->dp->cfg.idle_sleep_ms;

	log_info("worker %u: started", w->id);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned work;

		atomic_store_explicit(&w->stats->heartbeat_ns, clock_mono_ns(), memory_order_relaxed);
		stats_add(w->stats, STAT_LOOPS, 1);
		work = drain(w, w->cmd, RING_KIND_CMD);
		work += drain(w, w->exc_down, RING_KIND_EXC_DOWN);
		if (work)
			continue;
		if (!ring_arm(w->cmd))
			continue;
		if (!ring_arm(w->exc_down)) {
			ring_disarm(w->cmd);
			continue;
		}
		stats_add(w->stats, STAT_SLEEPS, 1);
		if (poll(&pfd, 1, idle_ms) > 0) {
			uint64_t v;
			ssize_t r = read(w->doorbell, &v, sizeof(v));
			(void)r;
		}
		ring_disarm(w->cmd);
		ring_disarm(w->exc_down);
	}
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
	return 0;
}

void dp_worker_stop(struct dp_worker *w)
{
	uint64_t one = 1;

	atomic_store(&w->stop, true);
	ssize_t r = write(w->doorbell, &one, sizeof(one));
	(void)r;
	pthread_join(w->thread, NULL);
}
