/*
 * bench_step.c: one measurement step of the fan-out benchmarks (see
 * bench_step.h).
 */
#include "bench_step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_proc.h"

void step_begin(struct step_env *e, struct step *s, const char *kind, double rate_in, uint32_t ms)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->offered_in = rate_in;
	s->fanout = e->m;
	s->duration_ns = (uint64_t)ms * 1000000u;
	s->protected_pkts = -1;
	rtpt_sender_begin(e->tx, ++e->epoch);
}

void step_run(struct step_env *e, struct step *s)
{
	struct rtpt_run run = { .rate_pps = s->offered_in, .duration_ns = s->duration_ns, .stop = &bench_stop };
	struct spdp *f = e->fwd;
	double cpu0, cp0, tx0, rx0, t_end, w0, last_change;
	int64_t rb0, fd0, rb1, fd1;
	uint64_t expected = 0, last = 0;
	cJSON *d0, *d1;

	rxthr_begin(e->thr, e->epoch);
	d0 = spdp_drops(f);
	cpu0 = proc_cpu_s(f->pid);
	cp0 = proc_cpu_s(f->cp_pid);
	rb0 = rtpt_snmp_rcvbuf_errors();
	fd0 = e->ingest ? rtpt_udp_drops(0, f->mask) : 0;
	tx0 = proc_thread_cpu_s(CLOCK_THREAD_CPUTIME_ID);
	rx0 = proc_thread_cpu_s(e->thr->clock);
	w0 = bench_now_s();

	rtpt_sender_run(e->tx, &run, &s->sr);
	s->tx_cpu_s = proc_thread_cpu_s(CLOCK_THREAD_CPUTIME_ID) - tx0;

	/* Drain: until everything arrived, or nothing moved for a while. */
	for (uint32_t k = 0; k < e->cams; k++) {
		e->sent[k] = rtpt_sender_sent(e->tx, k);
		expected += e->sent[k] * e->m;
	}
	t_end = last_change = bench_now_s();
	for (;;) {
		uint64_t got = rtpt_receiver_received(e->rx);
		double t = bench_now_s();
		if (got != last) {
			last = got;
			last_change = t;
		}
		if (got >= expected || bench_stop)
			break;
		if (t - last_change > e->drain_quiet_ms / 1e3 || t - t_end > 3)
			break;
		bench_sleep_ms(1);
	}
	s->drain_s = bench_now_s() - t_end;
	s->backlog_s = last_change - t_end;
	if (cpu0 >= 0) {
		double v = proc_cpu_s(f->pid);
		s->fwd_cpu_s = v >= cpu0 ? v - cpu0 : 0;
	}
	if (cp0 >= 0) {
		double v = proc_cpu_s(f->cp_pid);
		s->cp_cpu_s = v >= cp0 ? v - cp0 : 0;
	}
	s->window_s = bench_now_s() - w0;
	s->rx_cpu_s = proc_thread_cpu_s(e->thr->clock) - rx0;
	d1 = d0 ? spdp_drops(f) : NULL;
	if (d0 && d1) {
		char top[64] = "";
		s->fwd_drops_by_reason = spdp_drops_delta(d0, d1, &s->fwd_internal_drops, top, sizeof(top));
		if (s->fwd_internal_drops > 0)
			snprintf(s->limit_buf, sizeof(s->limit_buf), "forwarder drops (mostly %s)", top);
	}
	cJSON_Delete(d0);
	cJSON_Delete(d1);
	rb1 = rtpt_snmp_rcvbuf_errors();
	fd1 = e->ingest ? rtpt_udp_drops(0, f->mask) : 0;
	s->rcvbuf_errors = rb0 >= 0 && rb1 >= 0 ? rb1 - rb0 : -1;
	s->fwd_drops = fd0 >= 0 && fd1 >= 0 ? fd1 - fd0 : -1;
	rxthr_report(e->thr, e->sent, &s->rr);
	if (f->pid > 0 && proc_exited(f->pid, s->dead, sizeof(s->dead)))
		f->pid = 0;
}

bool step_sender_on_time(const struct step *s)
{
	uint64_t planned = (uint64_t)(s->offered_in * (double)s->duration_ns / 1e9 + 0.5);

	/* The sender may lose the CPU for a few ms and catch up; more than 5%
	 * late means it could not offer the rate (the tool's limit). */
	return s->sr.packets == planned && s->sr.errors == 0 &&
	       (double)s->sr.behind_ns <= (double)s->duration_ns * 0.05 + 5e6;
}

bool step_delivered_ok(const struct step *s)
{
	return s->rr.lost == 0 && s->rr.dups == 0 && s->rr.misrouted == 0 && s->rr.corrupt == 0 &&
	       s->rr.unknown_dst == 0 && s->rr.truncated == 0 && s->rr.received > 0;
}

const char *step_limit(const struct step *s, bool sender_ok, bool forwarder)
{
	if (!sender_ok)
		return "sender (tool)";
	if (s->rr.socket_drops)
		return "receiver socket (tool)";
	if (s->rr.dups || s->rr.misrouted || s->rr.corrupt || s->rr.unknown_dst || s->rr.truncated)
		return "forwarding errors";
	if (s->fwd_drops > 0)
		return "forwarder ingest socket full";
	if (s->fwd_internal_drops > 0)
		return s->limit_buf;
	if (s->rr.lost)
		return forwarder ? "loss in forwarder" : "loss (kernel)";
	return NULL;
}

double step_delivered_pps(const struct step *s)
{
	double el = (double)(s->sr.elapsed_ns ? s->sr.elapsed_ns : s->duration_ns) / 1e9;

	/* elapsed runs first send to last send: add one packet interval. */
	el += s->offered_in > 0 ? 1.0 / s->offered_in : 0;
	return el > 0 ? (double)s->rr.received / el : 0;
}

double step_cpu_per_mpkt(const struct step *s)
{
	return s->rr.received ? s->fwd_cpu_s / ((double)s->rr.received / 1e6) : 0;
}

cJSON *step_latency_json(const struct rtpt_rx_report *r, bool tails)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "p50", (double)r->lat_p50_ns / 1e3);
	cJSON_AddNumberToObject(o, "p99", (double)r->lat_p99_ns / 1e3);
	if (tails)
		cJSON_AddNumberToObject(o, "p999", (double)r->lat_p999_ns / 1e3);
	cJSON_AddNumberToObject(o, "max", (double)r->lat_max_ns / 1e3);
	if (tails)
		cJSON_AddNumberToObject(o, "min", (double)r->lat_min_ns / 1e3);
	cJSON_AddNumberToObject(o, "samples", (double)r->lat_n);
	return o;
}

cJSON *step_json_begin(const struct step *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "kind", s->kind);
	cJSON_AddNumberToObject(o, "offered_input_pps", s->offered_in);
	cJSON_AddNumberToObject(o, "offered_delivered_pps", s->offered_in * s->fanout);
	cJSON_AddNumberToObject(o, "delivered_pps", step_delivered_pps(s));
	cJSON_AddNumberToObject(o, "duration_s", (double)s->duration_ns / 1e9);
	cJSON_AddNumberToObject(o, "sent_packets", (double)s->sr.packets);
	return o;
}

void step_json_end(cJSON *o, const struct step *s)
{
	double mpkt = (double)s->rr.received / 1e6;

	cJSON_AddNumberToObject(o, "forwarder_cpu_s_per_mpkt", mpkt > 0 ? s->fwd_cpu_s / mpkt : 0);
	cJSON_AddNumberToObject(o, "tool_cpu_s_per_mpkt", mpkt > 0 ? (s->tx_cpu_s + s->rx_cpu_s) / mpkt : 0);
	cJSON_AddBoolToObject(o, "pass", s->pass);
	if (s->limit)
		cJSON_AddStringToObject(o, "limited_by", s->limit);
	if (s->dead[0])
		cJSON_AddStringToObject(o, "forwarder_exit", s->dead);
}

const char *steps_first_limit(const struct step *steps, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!steps[i].pass && steps[i].limit && strcmp(steps[i].kind, "warmup"))
			return steps[i].limit;
	return NULL;
}

void steps_free(struct step *steps, unsigned n)
{
	for (unsigned i = 0; steps && i < n; i++)
		cJSON_Delete(steps[i].fwd_drops_by_reason);
	free(steps);
}
