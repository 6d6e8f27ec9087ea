/*
 * bench_rx.c: the receiver thread of the fan-out benchmarks (see bench_rx.h).
 */
#include "bench_rx.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "bench.h"

enum rx_op { RX_BEGIN = 1, RX_REPORT };

static void *rx_main(void *arg)
{
	struct rxthr *t = arg;
	unsigned seen = 0;
	uint64_t next_rr = 0;

	while (!atomic_load_explicit(&t->quit, memory_order_relaxed)) {
		unsigned r = atomic_load_explicit(&t->req, memory_order_acquire);
		if (r != seen) {
			if (t->op == RX_BEGIN)
				rtpt_receiver_begin(t->rx, t->epoch);
			else
				rtpt_receiver_report(t->rx, t->sent, t->out);
			seen = r;
			atomic_store_explicit(&t->done, r, memory_order_release);
		}
		if (t->send_rr && bench_now_ns() >= next_rr) {
			rtpt_receiver_send_rr(t->rx);
			next_rr = bench_now_ns() + 2000000000ull;
		}
		/* Latency comes from kernel arrival stamps, so the receiver may wait
		 * a little after a short batch: one wakeup per packet would make the
		 * tool steal the CPU the forwarder needs on a 2-core machine. */
		int n = rtpt_receiver_poll(t->rx, 2);
		if (n > 0 && (uint32_t)n < t->batch && t->coalesce_ns) {
			struct timespec ts = { 0, (long)t->coalesce_ns };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Run op on the receiver thread and wait for it. */
static void rx_request(struct rxthr *t, enum rx_op op)
{
	unsigned r = atomic_load_explicit(&t->req, memory_order_relaxed) + 1;

	t->op = op;
	atomic_store_explicit(&t->req, r, memory_order_release);
	while (atomic_load_explicit(&t->done, memory_order_acquire) != r) {
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
}

int rxthr_start(struct rxthr *t, rtpt_receiver *rx, bool send_rr, uint32_t batch, uint32_t coalesce_us,
		int cpu)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->rx = rx;
	t->send_rr = send_rr;
	t->batch = batch;
	t->coalesce_ns = (uint64_t)coalesce_us * 1000u;
	if ((rc = pthread_create(&t->th, NULL, rx_main, t)))
		return -rc;
	t->started = true;
	pthread_getcpuclockid(t->th, &t->clock);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_setaffinity_np(t->th, sizeof(set), &set);
	}
	return 0;
}

void rxthr_begin(struct rxthr *t, uint32_t epoch)
{
	t->epoch = epoch;
	rx_request(t, RX_BEGIN);
}

void rxthr_report(struct rxthr *t, const uint64_t *sent, struct rtpt_rx_report *out)
{
	t->sent = sent;
	t->out = out;
	rx_request(t, RX_REPORT);
}

void rxthr_stop(struct rxthr *t)
{
	if (!t->started)
		return;
	atomic_store(&t->quit, 1);
	pthread_join(t->th, NULL);
	t->started = false;
}
