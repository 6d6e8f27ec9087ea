/*
 * bench_step: one measurement step of the fan-out benchmarks (`spbench rtp`,
 * `spbench srtp`): the cameras send at a rate for a while, then the tool
 * waits until everything arrived or nothing moved for a while (the drain).
 * Around that it reads the forwarder's and spcp's CPU (/proc, all threads,
 * over the step and its drain), the tool's per-thread CPU, where packets
 * were dropped (the forwarder's ingest sockets, spdp's own counters, UDP
 * RcvbufErrors) and the receiver's report (loss, duplicates, order,
 * content, latency).
 *
 * Whether a step passes is each benchmark's call: step_sender_on_time,
 * step_delivered_ok and step_limit are the checks and reasons they share.
 */
#ifndef SP_BENCH_STEP_H
#define SP_BENCH_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bench_rx.h"
#include "bench_spdp.h"
#include "rtp_traffic.h"

struct step {
	const char *kind;        /* "warmup", "search", "confirm", "scale", "fixed" */
	double offered_in;       /* camera packets/s offered, all cameras */
	uint32_t fanout;
	uint64_t duration_ns;
	struct rtpt_send_report sr;
	struct rtpt_rx_report rr;
	double fwd_cpu_s, cp_cpu_s, tx_cpu_s, rx_cpu_s;
	double drain_s, window_s;  /* drain; whole CPU measurement window */
	double backlog_s;          /* last packet's arrival after the cameras stopped */
	int64_t rcvbuf_errors, fwd_drops;
	char dead[160];            /* the forwarder died during the step */
	cJSON *fwd_drops_by_reason; /* spdp: its own drop counters over the step (owned) */
	double fwd_internal_drops;
	char limit_buf[96];        /* "forwarder drops (mostly <counter>)" */
	/* The benchmark's verdict. */
	bool pass;
	const char *limit;
	bool sender_on_time;
	/* srtp only. */
	bool clean_crypto;
	double protected_pkts;     /* spdp's srtp_protected over the step; < 0: unknown */
	/* spdp's timed sample of its own SRTP work over the step (counters
	 * srtp_[un]protect_timed[_ns]): operations and nanoseconds; 0: none. */
	double prot_timed, prot_timed_ns, unprot_timed, unprot_timed_ns;
	double timed_outliers;     /* samples spdp left out (preempted, > 20 us) */
};

/* What the steps of one scenario run on; the caller owns all of it. */
struct step_env {
	rtpt_sender *tx;
	rtpt_receiver *rx;
	struct rxthr *thr;         /* drains rx */
	struct spdp *fwd;          /* the forwarder: pids, control socket, ingest ports */
	bool ingest;               /* count drops at the forwarder's ingest sockets */
	uint32_t cams, m;
	uint32_t epoch;            /* the last step's */
	uint64_t *sent;            /* cams: what each camera sent in the step */
	uint32_t drain_quiet_ms;   /* the drain ends after this long without a packet */
};

/* Resets s for a step of kind at rate_in camera packets/s for ms, starts
 * the next epoch and the cameras' sequences (rtpt_sender_begin): what the
 * cameras send is known from here (rtpt_sender_rtp_seq, _prepare). */
void step_begin(struct step_env *e, struct step *s, const char *kind, double rate_in, uint32_t ms);
/* Runs the step begun and fills in every figure above the verdict; a dead
 * forwarder is reaped (e->fwd->pid = 0, s->dead says how it ended). */
void step_run(struct step_env *e, struct step *s);

/* The cameras sent every packet planned, without errors, at most 5% (+5 ms)
 * late in all: otherwise the rate was the tool's limit, not the target's. */
bool step_sender_on_time(const struct step *s);
/* Something arrived, and nothing was lost, duplicated, misrouted, damaged,
 * truncated or sent to an unknown subscriber. */
bool step_delivered_ok(const struct step *s);
/* Why a step failed, for the causes both benchmarks share, from the tool's
 * sender down to plain loss ("loss in forwarder" with a forwarder, else
 * "loss (kernel)"); NULL if none of them. The caller checks a dead
 * forwarder first and a backlog last. */
const char *step_limit(const struct step *s, bool sender_ok, bool forwarder);

/* Delivered packets/s over the sending time plus one packet interval. */
double step_delivered_pps(const struct step *s);
/* Forwarder CPU-seconds per million delivered packets (= us per packet). */
double step_cpu_per_mpkt(const struct step *s);
/* {"p50", "p99", ["p999"], "max", ["min"], "samples"} in us; tails adds
 * p999 and min. */
cJSON *step_latency_json(const struct rtpt_rx_report *r, bool tails);

/* A step's JSON starts with what was offered ("kind", "offered_input_pps",
 * "offered_delivered_pps", "delivered_pps", "duration_s", "sent_packets"),
 * goes on with the benchmark's own fields and ends with step_json_end:
 * "forwarder_cpu_s_per_mpkt", "tool_cpu_s_per_mpkt", "pass", "limited_by"
 * and "forwarder_exit" (if any). */
cJSON *step_json_begin(const struct step *s);
void step_json_end(cJSON *o, const struct step *s);

/* What limits the target: the first failing step's reason, warm-ups aside;
 * NULL if none. */
const char *steps_first_limit(const struct step *steps, unsigned n);
/* Frees n steps and what they own. */
void steps_free(struct step *steps, unsigned n);

#endif
