/*
 * bench_rx: the receiver thread of the fan-out benchmarks (`spbench rtp`,
 * `spbench srtp`). While the main thread paces the cameras, this thread
 * drains and checks every subscriber (one rtpt_receiver), sends receiver
 * reports every 2 s when asked (forwarders may drop viewers that stay
 * silent), and runs rtpt_receiver_begin / _report when the main thread asks:
 * a receiver is used by one thread at a time (rtp_traffic.h).
 */
#ifndef SP_BENCH_RX_H
#define SP_BENCH_RX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "rtp_traffic.h"

struct rxthr {
	clockid_t clock;         /* the thread's CPU clock, for proc_thread_cpu_s() */
	/* The rest belongs to bench_rx.c. */
	pthread_t th;
	bool started;
	rtpt_receiver *rx;
	_Atomic unsigned req, done;
	_Atomic int quit;
	int op;
	uint32_t epoch;
	const uint64_t *sent;
	struct rtpt_rx_report *out;
	bool send_rr;
	uint32_t batch;
	uint64_t coalesce_ns;
};

/* Starts the thread on rx (t zeroed first): send_rr for a forwarder that
 * wants reports; after a batch shorter than batch it pauses coalesce_us
 * (0: never) so it does not take a wakeup per packet from the CPUs the
 * forwarder needs (latency uses kernel arrival stamps, so it is not
 * affected); cpu >= 0 pins it. 0, or -errno from pthread_create. */
int rxthr_start(struct rxthr *t, rtpt_receiver *rx, bool send_rr, uint32_t batch, uint32_t coalesce_us,
		int cpu);
/* rtpt_receiver_begin(rx, epoch) on the thread; returns when done. */
void rxthr_begin(struct rxthr *t, uint32_t epoch);
/* rtpt_receiver_report(rx, sent, out) on the thread; returns when done. */
void rxthr_report(struct rxthr *t, const uint64_t *sent, struct rtpt_rx_report *out);
/* Ends and joins the thread; nothing if it never started. */
void rxthr_stop(struct rxthr *t);

#endif
