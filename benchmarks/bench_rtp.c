/*
 * bench_rtp: `spbench rtp`, the RTP fan-out benchmark of issue 3.
 *
 * N synthetic cameras send H.264-shaped RTP over loopback UDP; M subscribers
 * per camera check every packet (sequence, loss, duplicates, reordering,
 * misrouting, content) and its one-way latency. The same load goes through
 * three targets, scenario by scenario, in one run:
 *   loopback  no forwarder: each camera sends its packets M times itself
 *             (what the kernel and this tool manage: the ceiling);
 *   naive     baselines/naive_fwd.c (epoll + recvfrom + one sendto per
 *             subscriber), started as a child with the same flows;
 *   spdp      spdp + spcp from --build-dir, flows and subscribers created
 *             through spcp's control socket (/flow/add, /sub/add).
 * For each fan-out (1:1, 1:4, 1:16 by default) a bounded search finds the
 * highest offered rate delivered with zero loss: double the rate until a
 * step fails, then bisect. A step fails on any lost, duplicated, misrouted
 * or damaged packet, or when the sender could not keep the offered rate
 * (that is the tool's limit, reported as such). Each step records the
 * forwarder's CPU (/proc/<pid>/stat utime+stime), the tool's own CPU
 * (per thread), latency percentiles, and where packets were dropped (the
 * forwarder's ingest sockets, the receiver's socket, /proc/net/snmp
 * RcvbufErrors). The "scale" scenario then runs 2000 cameras x 5 viewers at
 * 25 packets/s each once and checks for zero loss. Forwarder memory (VmRSS)
 * is sampled before flows, after flows, after subscribers and after traffic.
 *
 * The tool uses two threads: the main thread paces the cameras (sendmmsg)
 * and one receiver thread drains every subscriber (recvmmsg on one socket;
 * see rtp_traffic.h for the addressing that allows it). JSON on stdout (or
 * --out) in the spbench envelope, one summary line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench.h"
#include "bench_proc.h"
#include "bench_rx.h"
#include "bench_spdp.h"
#include "bench_step.h"
#include "rtp_traffic.h"

enum tgt { T_LOOPBACK, T_NAIVE, T_SPDP, T__COUNT };
static const char *const tgt_name[T__COUNT] = { "loopback", "naive", "spdp" };

#define MAX_FANOUTS 8
#define MAX_SPDP_OPTS 16

struct opts {
	bool full;
	bool target[T__COUNT];
	uint32_t fanouts[MAX_FANOUTS], nfanouts;
	uint32_t cameras;
	struct rtpt_stream_cfg stream;
	uint32_t step_ms, warmup_ms, max_steps, confirm_ms, drain_quiet_ms, max_backlog_ms;
	double start_delivered, max_delivered, resolution;
	bool scale;
	uint32_t scale_cameras, scale_viewers, scale_ms;
	double scale_pps;
	int rcvbuf, fwd_rcvbuf;
	uint32_t batch, workers;
	uint32_t coalesce_us;
	const char *spdp_opts[MAX_SPDP_OPTS];
	unsigned n_spdp_opts;
	char build_dir[1024], naive_bin[1024];
	const char *out;
	bool pin, keep, verbose;
};

#define vlog(o, ...) bench_log((o)->verbose, "rtp", __VA_ARGS__)

/* ------------------------------------------------------------ forwarders */

struct fwd {
	enum tgt t;
	struct spdp sp;          /* the forwarder (sp_naive_fwd or spdp + spcp), its ports, logs */
	long rss_start, rss_flows, rss_subs, rss_end; /* KiB */
	long rss_flow1, rss_subs1; /* after the first flow, after its subscribers */
	double setup_s;
};

static int naive_start(const struct opts *o, struct fwd *f, rtpt_sender *tx, rtpt_receiver *rx,
		       uint32_t cams, uint32_t m)
{
	struct spdp *sp = &f->sp;
	char cfg[PATH_MAX], rcv[32], text[65536];
	size_t tlen = 0;
	int pfd[2];
	double deadline;
	FILE *fp;

	if (access(o->naive_bin, X_OK)) {
		spdp_why(sp, "sp_naive_fwd not found at %s (--naive-bin): %s", o->naive_bin, strerror(errno));
		return -1;
	}
	snprintf(cfg, sizeof(cfg), "%s/flows.conf", sp->dir);
	if (!(fp = fopen(cfg, "we"))) {
		spdp_why(sp, "%s: %s", cfg, strerror(errno));
		return -1;
	}
	fprintf(fp, "# spbench rtp: ingest port (0: any) and the camera's subscribers\n");
	for (uint32_t c = 0; c < cams; c++) {
		fprintf(fp, "0");
		for (uint32_t j = 0; j < m; j++) {
			struct sockaddr_in a;
			char ip[INET_ADDRSTRLEN];
			rtpt_receiver_sub_addr(rx, c, j, &a);
			fprintf(fp, " %s:%u", inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip)),
				ntohs(a.sin_port));
		}
		fputc('\n', fp);
	}
	if (fclose(fp)) {
		spdp_why(sp, "%s: %s", cfg, strerror(errno));
		return -1;
	}
	snprintf(rcv, sizeof(rcv), "%d", o->fwd_rcvbuf);
	char *argv[] = { (char *)o->naive_bin, "-c", cfg, "--rcvbuf", rcv, NULL };
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		spdp_why(sp, "pipe: %s", strerror(errno));
		return -1;
	}
	sp->pid = proc_spawn(argv, pfd[1], sp->fwd_log, o->pin ? 1 : PROC_CPU_ALL);
	close(pfd[1]);
	if (sp->pid < 0) {
		close(pfd[0]);
		spdp_why(sp, "fork: %s", strerror(errno));
		return -1;
	}
	/* Wait for "port <i> <p>" lines, then "ready". */
	deadline = bench_now_s() + 15;
	text[0] = 0;
	for (bool ready = false; !ready;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char *line, *nl;
		ssize_t n;

		if (bench_now_s() > deadline || bench_stop) {
			close(pfd[0]);
			spdp_why(sp, "sp_naive_fwd did not get ready in 15 s");
			return -1;
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(pfd[0], text + tlen, sizeof(text) - 1 - tlen);
		if (n <= 0) {
			char tail[512];
			close(pfd[0]);
			proc_log_tail(sp->fwd_log, tail, sizeof(tail));
			spdp_why(sp, "sp_naive_fwd (%s) exited before it was ready: %s", o->naive_bin, tail);
			return -1;
		}
		tlen += (size_t)n;
		text[tlen] = 0;
		for (line = text; (nl = strchr(line, '\n')); line = nl + 1) {
			unsigned i, port;
			*nl = 0;
			if (sscanf(line, "port %u %u", &i, &port) == 2 && i < cams && port < 65536)
				sp->ports[i] = (uint16_t)port;
			else if (!strcmp(line, "ready"))
				ready = true;
		}
		tlen = strlen(line); /* keep the unfinished line */
		memmove(text, line, tlen + 1);
	}
	close(pfd[0]);
	for (uint32_t c = 0; c < cams; c++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(sp->ports[c]) };
		if (!sp->ports[c]) {
			spdp_why(sp, "sp_naive_fwd reported no port for flow %u", c);
			return -1;
		}
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rtpt_sender_set_dest(tx, c, 0, &a);
		spdp_mask_port(sp, sp->ports[c]);
	}
	f->rss_start = f->rss_flows = f->rss_subs = proc_rss_kib(sp->pid);
	return 0;
}

static int spdp_setup(const struct opts *o, struct fwd *f, rtpt_sender *tx, rtpt_receiver *rx,
		      uint32_t cams, uint32_t m)
{
	struct spdp_cfg cfg = { .build_dir = o->build_dir, .inst_prefix = "rtpbench", .workers = o->workers,
				.opts = o->spdp_opts, .nopts = o->n_spdp_opts, .cpu = PROC_CPU_ALL,
				.verbose = o->verbose, .who = "rtp" };
	struct spdp *sp = &f->sp;
	double t = 10 + cams * 0.01, t0 = bench_now_s();

	if (spdp_start(sp, &cfg) < 0)
		return -1;
	f->rss_start = proc_rss_kib(sp->pid); /* spcp attached: spdp has settled */
	for (uint32_t c = 0; c < cams && !bench_stop; c++) {
		cJSON *r = spdp_flow_add(sp, tx, c, o->stream.ssrc_base + c, "");
		if (!r)
			return -1;
		cJSON_Delete(r);
		/* The first flow pays for one-time touches; the rest is per flow. */
		if (c == 0) {
			if (spdp_wait(sp, 1, 0, false, 10) < 0)
				return -1;
			f->rss_flow1 = proc_rss_kib(sp->pid);
		}
	}
	vlog(o, "  spdp: %u flows requested in %.2f s", cams, bench_now_s() - t0);
	if (spdp_wait(sp, cams, m, false, t) < 0)
		return -1;
	f->rss_flows = proc_rss_kib(sp->pid);
	for (uint32_t c = 0; c < cams && !bench_stop; c++)
		for (uint32_t j = 0; j < m; j++) {
			cJSON *r = spdp_sub_add(sp, rx, c, j, "");
			if (!r)
				return -1;
			cJSON_Delete(r);
			if (c == 0 && j == m - 1) {
				if (spdp_wait(sp, 1, m, true, t) < 0)
					return -1;
				f->rss_subs1 = proc_rss_kib(sp->pid);
			}
		}
	if (spdp_wait(sp, cams, m, true, t) < 0)
		return -1;
	f->rss_subs = proc_rss_kib(sp->pid);
	spdp_route(sp, tx, rx, cams);
	return 0;
}

static int fwd_setup(const struct opts *o, struct fwd *f, enum tgt t, rtpt_sender *tx, rtpt_receiver *rx,
		     uint32_t cams, uint32_t m)
{
	double t0 = bench_now_s();
	int rc = 0;

	memset(f, 0, sizeof(*f));
	f->t = t;
	f->rss_start = f->rss_flows = f->rss_subs = f->rss_end = -1;
	if (spdp_init(&f->sp, cams) < 0)
		return -1;
	if (t == T_LOOPBACK) {
		for (uint32_t c = 0; c < cams; c++)
			for (uint32_t j = 0; j < m; j++) {
				struct sockaddr_in a;
				rtpt_receiver_sub_addr(rx, c, j, &a);
				rtpt_sender_set_dest(tx, c, j, &a);
			}
		return 0;
	}
	if (spdp_mkdir(&f->sp, "rtp", t == T_NAIVE ? "naive_fwd" : "spdp") < 0)
		return -1;
	rc = t == T_NAIVE ? naive_start(o, f, tx, rx, cams, m) : spdp_setup(o, f, tx, rx, cams, m);
	f->setup_s = bench_now_s() - t0;
	return rc;
}

static void fwd_teardown(const struct opts *o, struct fwd *f, bool failed)
{
	char label[64];

	snprintf(label, sizeof(label), "spbench rtp: %s", tgt_name[f->t]);
	spdp_stop(&f->sp, o->keep || failed, label);
}

/* ------------------------------------------------------------ steps */

struct scen_ctx {
	const struct opts *o;
	struct fwd *f;
	struct step_env env;
};

static void run_step(struct scen_ctx *c, const char *kind, double rate_in, uint32_t ms, struct step *s)
{
	const struct opts *o = c->o;
	bool sender_ok;

	step_begin(&c->env, s, kind, rate_in, ms);
	step_run(&c->env, s);
	s->sender_on_time = sender_ok = step_sender_on_time(s);
	/* Zero loss in a short step can hide a forwarder that is falling
	 * behind: one still delivering long after the cameras stopped is not
	 * keeping up, and a longer run would overflow its queues. */
	s->pass = sender_ok && step_delivered_ok(s) && !s->dead[0] && s->backlog_s * 1e3 <= o->max_backlog_ms;
	if (s->dead[0])
		s->limit = "forwarder died";
	else if (!(s->limit = step_limit(s, sender_ok, c->f->t != T_LOOPBACK)) && !s->pass)
		s->limit = c->f->t == T_LOOPBACK ? "backlog (receiver)" : "backlog: forwarder falling behind";
	vlog(o, "  %-8s %-7s 1:%-3u in %9.0f/s deliv %9.0f/s: recv %llu/%llu lost %llu dup %llu "
	     "p99 %.0f us fwd cpu %.2f s tool %.2f+%.2f s %s%s",
	     tgt_name[c->f->t], kind, c->env.m, rate_in, rate_in * c->env.m, (unsigned long long)s->rr.received,
	     (unsigned long long)s->rr.expected, (unsigned long long)s->rr.lost,
	     (unsigned long long)s->rr.dups, (double)s->rr.lat_p99_ns / 1e3, s->fwd_cpu_s, s->tx_cpu_s,
	     s->rx_cpu_s, s->pass ? "PASS" : "FAIL: ", s->pass ? "" : (s->limit ? s->limit : "?"));
}

static cJSON *step_json(const struct step *s)
{
	cJSON *o = step_json_begin(s), *cpu;

	cJSON_AddNumberToObject(o, "sent_datagrams", (double)s->sr.datagrams);
	cJSON_AddNumberToObject(o, "send_errors", (double)s->sr.errors);
	cJSON_AddNumberToObject(o, "sender_behind_ms", (double)s->sr.behind_ns / 1e6);
	cJSON_AddNumberToObject(o, "expected", (double)s->rr.expected);
	cJSON_AddNumberToObject(o, "received", (double)s->rr.received);
	cJSON_AddNumberToObject(o, "lost", (double)s->rr.lost);
	cJSON_AddNumberToObject(o, "duplicates", (double)s->rr.dups);
	cJSON_AddNumberToObject(o, "reordered", (double)s->rr.late);
	cJSON_AddNumberToObject(o, "misrouted", (double)s->rr.misrouted);
	cJSON_AddNumberToObject(o, "corrupt", (double)s->rr.corrupt);
	cJSON_AddNumberToObject(o, "unknown_destination", (double)s->rr.unknown_dst);
	cJSON_AddNumberToObject(o, "stale", (double)s->rr.stale);
	cJSON_AddNumberToObject(o, "rtcp", (double)s->rr.rtcp);
	cJSON_AddNumberToObject(o, "ssrc_rewritten", (double)s->rr.ssrc_mismatch);
	cJSON_AddNumberToObject(o, "subs_lossy", s->rr.subs_lossy);
	cJSON_AddNumberToObject(o, "subs_first_not_keyframe", s->rr.subs_first_not_key);
	cJSON_AddNumberToObject(o, "receiver_socket_drops", (double)s->rr.socket_drops);
	cJSON_AddNumberToObject(o, "forwarder_ingest_drops", (double)s->fwd_drops);
	if (s->fwd_drops_by_reason)
		cJSON_AddItemToObject(o, "forwarder_drops_by_reason", cJSON_Duplicate(s->fwd_drops_by_reason, 1));
	cJSON_AddNumberToObject(o, "udp_rcvbuf_errors", (double)s->rcvbuf_errors);
	cJSON_AddNumberToObject(o, "drain_ms", s->drain_s * 1e3);
	cJSON_AddNumberToObject(o, "backlog_ms", s->backlog_s * 1e3);
	cJSON_AddItemToObject(o, "latency_us", step_latency_json(&s->rr, true));
	cJSON_AddBoolToObject(o, "kernel_timestamps", s->rr.kernel_timestamps);
	cpu = cJSON_AddObjectToObject(o, "cpu_s");
	cJSON_AddNumberToObject(cpu, "forwarder", s->fwd_cpu_s);
	cJSON_AddNumberToObject(cpu, "spcp", s->cp_cpu_s);
	cJSON_AddNumberToObject(cpu, "tool_sender", s->tx_cpu_s);
	cJSON_AddNumberToObject(cpu, "tool_receiver", s->rx_cpu_s);
	step_json_end(o, s);
	return o;
}

/* The figures of one passing step, as the scenario's headline. */
static cJSON *figures_json(const struct step *s, const struct fwd *f)
{
	cJSON *o = cJSON_CreateObject(), *tool;
	double mpkt = (double)s->rr.received / 1e6;
	double el = s->window_s;

	cJSON_AddNumberToObject(o, "delivered_pps", step_delivered_pps(s));
	cJSON_AddNumberToObject(o, "input_pps", s->offered_in);
	cJSON_AddNumberToObject(o, "offered_delivered_pps", s->offered_in * s->fanout);
	cJSON_AddNumberToObject(o, "packets_checked", (double)s->rr.received);
	if (f->t != T_LOOPBACK) {
		cJSON_AddNumberToObject(o, "forwarder_cpu_s_per_mpkt", mpkt > 0 ? s->fwd_cpu_s / mpkt : 0);
		cJSON_AddNumberToObject(o, "forwarder_cpu_cores", el > 0 ? s->fwd_cpu_s / el : 0);
	}
	tool = cJSON_AddObjectToObject(o, "tool_cpu_s_per_mpkt");
	cJSON_AddNumberToObject(tool, "sender", mpkt > 0 ? s->tx_cpu_s / mpkt : 0);
	cJSON_AddNumberToObject(tool, "receiver", mpkt > 0 ? s->rx_cpu_s / mpkt : 0);
	cJSON_AddItemToObject(o, "latency_us", step_latency_json(&s->rr, true));
	return o;
}

/* ------------------------------------------------------------ scenarios */

struct outcome {
	bool ran, ok;
	double best_delivered;          /* zero-loss delivered pps (0: none) */
	double cpu_per_mpkt;            /* forwarder, at best */
	double ref_p99_us;              /* p99 at the common reference rate */
	double best_p99_us;
	bool scale_pass;
	double per_flow_kib, per_sub_kib; /* spdp, from set-up (no history yet); < 0: none */
	char scale_limit[96];
	bool unconfirmed;               /* the longer confirmation step never passed */
	cJSON *entry;                   /* owned by the JSON tree once added */
};

static void add_memory(cJSON *e, const struct fwd *f, uint32_t cams, uint32_t m)
{
	cJSON *mem;

	if (f->t == T_LOOPBACK || f->rss_start < 0)
		return;
	mem = cJSON_AddObjectToObject(e, "memory");
	cJSON_AddNumberToObject(mem, "rss_kib_start", (double)f->rss_start);
	cJSON_AddNumberToObject(mem, "rss_kib_after_flows", (double)f->rss_flows);
	cJSON_AddNumberToObject(mem, "rss_kib_after_subscribers", (double)f->rss_subs);
	cJSON_AddNumberToObject(mem, "rss_kib_after_traffic", (double)f->rss_end);
	if (f->rss_flows < 0 || f->rss_subs < 0 || f->rss_end < 0)
		return; /* set-up did not get that far */
	if (f->t == T_SPDP) {
		/* Marginal figures: the first flow and its subscribers also touch
		 * what every flow shares, so they are left out when there are more. */
		double pf = cams > 1 ? (double)(f->rss_flows - f->rss_flow1) / (cams - 1) :
				       (double)(f->rss_flows - f->rss_start);
		double ps = cams > 1 ? (double)(f->rss_subs - f->rss_subs1) / ((double)(cams - 1) * m) :
				       (double)(f->rss_subs - f->rss_flows) / m;
		cJSON_AddNumberToObject(mem, "rss_kib_after_first_flow", (double)f->rss_flow1);
		cJSON_AddNumberToObject(mem, "rss_kib_after_first_subscribers", (double)f->rss_subs1);
		cJSON_AddNumberToObject(mem, "per_flow_kib", pf);
		cJSON_AddNumberToObject(mem, "per_subscriber_kib", ps);
		/* Traffic fills each flow's packet history and the workers' receive
		 * buffers: only meaningful with many flows (the scale scenario). */
		cJSON_AddNumberToObject(mem, "per_flow_after_traffic_kib",
					(double)(f->rss_end - f->rss_start) / cams);
	} else {
		cJSON_AddNumberToObject(mem, "total_per_flow_kib", (double)f->rss_end / cams);
	}
}

/* One target, one scenario: set up, search (or one fixed step), tear down. */
static void run_scenario(const struct opts *o, enum tgt t, const char *name, uint32_t cams, uint32_t m,
			 const struct rtpt_stream_cfg *stream, double fixed_in, uint32_t fixed_ms,
			 double ref_in, struct outcome *out)
{
	struct rtpt_receiver_cfg rc = { .stream = *stream, .cameras = cams, .subs_per_cam = m,
					.rcvbuf = o->rcvbuf, .batch = o->batch };
	struct rtpt_sender_cfg sc = { .stream = *stream, .cameras = cams, .copies = t == T_LOOPBACK ? m : 1,
				      .batch = o->batch, .camera_sources = true, .sndbuf = 4 << 20 };
	struct rxthr thr = { 0 };
	struct scen_ctx c = { .o = o, .env = { .thr = &thr, .cams = cams, .m = m,
					       .drain_quiet_ms = o->drain_quiet_ms } };
	struct fwd f;
	struct step *steps = NULL;
	unsigned nsteps = 0, cap = o->max_steps + 8;
	int best = -1, ref = -1;
	bool failed = false, unconfirmed = false;
	cJSON *e = cJSON_CreateObject(), *arr;
	char err[1200] = "";

	memset(out, 0, sizeof(*out));
	out->entry = e;
	out->ran = true;
	cJSON_AddStringToObject(e, "target", tgt_name[t]);
	cJSON_AddStringToObject(e, "kind", t == T_SPDP ? "forwarder" : "baseline");
	cJSON_AddStringToObject(e, "scenario", name);
	cJSON_AddNumberToObject(e, "cameras", cams);
	cJSON_AddNumberToObject(e, "fanout", m);
	cJSON_AddNumberToObject(e, "subscribers", (double)cams * m);
	fprintf(stderr, "spbench rtp: %s %s: %u cameras x %u subscribers\n", tgt_name[t], name, cams, m);

	c.env.rx = rtpt_receiver_create(&rc);
	c.env.tx = rtpt_sender_create(&sc);
	c.env.sent = calloc(cams, sizeof(*c.env.sent));
	steps = calloc(cap, sizeof(*steps));
	if (!c.env.rx || !c.env.tx || !c.env.sent || !steps) {
		snprintf(err, sizeof(err), "creating cameras/subscribers: %s", strerror(errno));
		memset(&f, 0, sizeof(f));
		f.t = t;
		goto done;
	}
	if (fwd_setup(o, &f, t, c.env.tx, c.env.rx, cams, m) < 0) {
		snprintf(err, sizeof(err), "%s", f.sp.why);
		failed = !f.sp.skipped;
		goto teardown;
	}
	c.f = &f;
	c.env.fwd = &f.sp;
	c.env.ingest = t != T_LOOPBACK;
	if (rxthr_start(&thr, c.env.rx, t == T_SPDP, o->batch, o->coalesce_us, o->pin ? 0 : -1) < 0) {
		snprintf(err, sizeof(err), "pthread_create failed");
		failed = true;
		goto teardown;
	}

	if (fixed_in > 0) {
		/* The scale scenario: a warm-up, then one step at the given load. */
		run_step(&c, "warmup", fixed_in, o->warmup_ms, &steps[nsteps++]);
		run_step(&c, "scale", fixed_in, fixed_ms, &steps[nsteps]);
		if (steps[nsteps].pass)
			best = (int)nsteps;
		ref = (int)nsteps;
		nsteps++;
	} else {
		double lo = 0, hi = 0, r = ref_in, maxin = o->max_delivered / m;

		run_step(&c, "warmup", ref_in, o->warmup_ms, &steps[nsteps]);
		if (!steps[nsteps].rr.received) {
			snprintf(err, sizeof(err), "warm-up delivered nothing (%s)",
				 steps[nsteps].dead[0] ? steps[nsteps].dead : "check the forwarder's log");
			failed = true;
			nsteps++;
			goto teardown;
		}
		nsteps++;
		for (unsigned i = 0; i < o->max_steps && !bench_stop; i++) {
			struct step *s = &steps[nsteps];
			run_step(&c, "search", r, o->step_ms, s);
			if (ref < 0)
				ref = (int)nsteps;
			if (s->pass) {
				lo = r;
				best = (int)nsteps;
			} else {
				hi = r;
			}
			nsteps++;
			if (s->dead[0])
				break;
			if (!hi) {
				if (r >= maxin)
					break;
				r = r * 2 < maxin ? r * 2 : maxin;
			} else {
				if ((hi - lo) / hi <= o->resolution)
					break;
				r = (lo + hi) / 2;
			}
		}
		/* Confirm the best rate with a longer step; back off 10% on failure.
		 * With no confirmation the best search step stays, marked as such. */
		if (o->confirm_ms && best >= 0) {
			double rate = steps[best].offered_in;
			int confirmed = -1;
			for (unsigned k = 0; k < 4 && !bench_stop; k++) {
				struct step *s = &steps[nsteps++];
				run_step(&c, "confirm", rate, o->confirm_ms, s);
				if (s->pass) {
					confirmed = (int)nsteps - 1;
					break;
				}
				if (s->dead[0])
					break;
				rate *= 0.9;
			}
			if (confirmed >= 0)
				best = confirmed;
			else
				unconfirmed = true;
		}
	}

teardown:
	rxthr_stop(&thr);
	if (f.t == T_SPDP && f.sp.ctl >= 0) {
		cJSON *st = spdp_call(&f.sp, "/spdp/status");
		if (st)
			cJSON_AddItemToObject(e, "spdp_status", st);
	}
	f.rss_end = proc_rss_kib(f.sp.pid);
	add_memory(e, &f, cams, m);
	out->per_flow_kib = out->per_sub_kib = -1;
	{
		cJSON *mem = cJSON_GetObjectItem(e, "memory");
		if (mem && f.t == T_SPDP) {
			out->per_flow_kib = bench_jnum(mem, "per_flow_kib");
			out->per_sub_kib = bench_jnum(mem, "per_subscriber_kib");
		}
	}
	cJSON_AddNumberToObject(e, "setup_s", f.setup_s);
	for (unsigned i = 0; i < nsteps; i++)
		if (steps[i].dead[0]) {
			snprintf(err, sizeof(err), "%s exited during the run: %s", tgt_name[t], steps[i].dead);
			failed = true;
		}
	fwd_teardown(o, &f, failed || (err[0] && !f.sp.skipped));
	if (f.sp.end_status[0] && t != T_LOOPBACK) {
		cJSON_AddStringToObject(e, "forwarder_exit", f.sp.end_status);
		if (!proc_ended_cleanly(f.sp.end_status)) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s ended badly on SIGTERM: %s", tgt_name[t], f.sp.end_status);
			failed = true;
		}
	}
	if (f.sp.cp_end_status[0])
		cJSON_AddStringToObject(e, "spcp_exit", f.sp.cp_end_status);
done:
	if (err[0]) {
		cJSON_AddStringToObject(e, f.sp.skipped ? "skipped" : "error", err);
		fprintf(stderr, "spbench rtp: %s %s: %s: %s\n", tgt_name[t], name,
			f.sp.skipped ? "skipped" : "ERROR", err);
	}
	out->ok = !failed && !err[0];
	cJSON_AddStringToObject(e, "status", f.sp.skipped ? "skipped" : out->ok ? "ok" : "error");
	if (best >= 0) {
		out->best_delivered = step_delivered_pps(&steps[best]);
		out->cpu_per_mpkt = step_cpu_per_mpkt(&steps[best]);
		out->best_p99_us = (double)steps[best].rr.lat_p99_ns / 1e3;
		cJSON_AddItemToObject(e, fixed_in > 0 ? "figures" : "zero_loss", figures_json(&steps[best], &f));
		if (fixed_in <= 0 && o->confirm_ms)
			cJSON_AddBoolToObject(cJSON_GetObjectItem(e, "zero_loss"), "confirmed", !unconfirmed);
		out->unconfirmed = unconfirmed;
	} else if (nsteps && !err[0]) {
		cJSON_AddNullToObject(e, fixed_in > 0 ? "figures" : "zero_loss");
	}
	if (fixed_in > 0 && ref >= 0) {
		out->scale_pass = steps[ref].pass;
		cJSON_AddBoolToObject(e, "zero_loss_pass", steps[ref].pass);
		if (!steps[ref].pass && steps[ref].limit) {
			cJSON_AddStringToObject(e, "limited_by", steps[ref].limit);
			snprintf(out->scale_limit, sizeof(out->scale_limit), "%s", steps[ref].limit);
		}
	}
	if (ref >= 0) {
		cJSON *rj = cJSON_AddObjectToObject(e, "reference");
		out->ref_p99_us = (double)steps[ref].rr.lat_p99_ns / 1e3;
		cJSON_AddNumberToObject(rj, "offered_delivered_pps", steps[ref].offered_in * m);
		cJSON_AddBoolToObject(rj, "pass", steps[ref].pass);
		cJSON_AddItemToObject(rj, "latency_us", step_latency_json(&steps[ref].rr, true));
	}
	if (fixed_in <= 0) {
		/* The first failing step above the best says what limits the target. */
		const char *lim = steps_first_limit(steps, nsteps);
		if (lim)
			cJSON_AddStringToObject(e, "limited_by", lim);
	}
	arr = cJSON_AddArrayToObject(e, "steps");
	for (unsigned i = 0; i < nsteps; i++)
		cJSON_AddItemToArray(arr, step_json(&steps[i]));
	if (best >= 0)
		fprintf(stderr, "spbench rtp: %s %s: zero-loss %.0f delivered/s, p99 %.0f us%s\n", tgt_name[t],
			name, out->best_delivered, out->best_p99_us,
			fixed_in > 0 ? "" : "");
	else if (!err[0])
		fprintf(stderr, "spbench rtp: %s %s: no zero-loss step\n", tgt_name[t], name);
	steps_free(steps, nsteps);
	free(c.env.sent);
	rtpt_sender_destroy(c.env.tx);
	rtpt_receiver_destroy(c.env.rx);
}

/* ------------------------------------------------------------ options */

static void usage(FILE *to)
{
	fprintf(to,
"usage: spbench rtp [options]\n"
"  RTP fan-out: synthetic H.264 cameras -> forwarder -> checking subscribers, on loopback.\n"
"  --target LIST       loopback,naive,spdp (default: all three)\n"
"  --preset P          quick (CI, < 60 s) or full (real figures); default quick\n"
"  --fanouts LIST      subscribers per camera, e.g. 1,4,16 (default)\n"
"  --cameras N         cameras in the fan-out scenarios (default 8)\n"
"  --size BYTES        datagram size of slice packets (default 1200)\n"
"  --ppf N --key-pkts N --gop N   packets per frame, per keyframe, frames per GOP (4, 12, 50)\n"
"  --step-ms MS        duration of one search step (quick 250, full 2000)\n"
"  --max-steps N       search steps per scenario (quick 7, full 14)\n"
"  --confirm-ms MS     re-run the best rate this long, 10%% lower up to 3 times (quick 0, full 6000)\n"
"  --start-rate PPS    first step, delivered packets/s; also the latency reference (20000)\n"
"  --max-rate PPS      highest delivered packets/s tried (3000000)\n"
"  --resolution F      stop bisecting within this fraction (quick 0.1, full 0.03)\n"
"  --scale CxV@R       scale scenario: cameras x viewers @ packets/s each (2000x5@25)\n"
"  --scale-ms MS       its duration (quick 2000, full 10000); --no-scale skips it\n"
"  --build-dir DIR     where dataplane/spdp and controlplane/spcp are (default: spbench's)\n"
"  --naive-bin PATH    sp_naive_fwd (default: next to spbench)\n"
"  --workers N         spdp worker threads (default 2)\n"
"  --spdp-opt K=V      extra spdp -o setting (repeatable)\n"
"  --rcvbuf BYTES      the tool's receive buffer (default 256M, forced as root): rides out\n"
"                      the receiver losing its CPU for a while on a busy 2-core machine\n"
"  --fwd-rcvbuf BYTES  naive forwarder's ingest buffers (default 0: kernel default, like spdp)\n"
"  --batch N           datagrams per sendmmsg/recvmmsg (default 64)\n"
"  --rx-coalesce-us US receiver pause after a short batch (default 200; latency uses kernel stamps)\n"
"  --pin               pin the tool to CPU 0 and sp_naive_fwd to CPU 1\n"
"  --out FILE          JSON there instead of stdout\n"
"  --max-backlog-ms MS fail a step still delivering this long after the cameras stop (100)\n"
"  --keep              keep the forwarders' logs and temp dirs\n"
"  -v, --verbose       one line per step on stderr\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_TARGET = 256, O_PRESET, O_FANOUTS, O_CAMERAS, O_SIZE, O_PPF, O_KEY, O_GOP, O_STEP,
	       O_MAXSTEPS, O_CONFIRM, O_START, O_MAXRATE, O_RES, O_SCALE, O_SCALEMS, O_NOSCALE,
	       O_BUILD, O_NAIVE, O_WORKERS, O_SPDPOPT, O_RCVBUF, O_FWDRCVBUF, O_BATCH, O_PIN, O_OUT,
	       O_KEEP, O_BACKLOG, O_COALESCE };
	static const struct option lo[] = {
		{ "target", required_argument, NULL, O_TARGET }, { "preset", required_argument, NULL, O_PRESET },
		{ "fanouts", required_argument, NULL, O_FANOUTS }, { "cameras", required_argument, NULL, O_CAMERAS },
		{ "size", required_argument, NULL, O_SIZE }, { "ppf", required_argument, NULL, O_PPF },
		{ "key-pkts", required_argument, NULL, O_KEY }, { "gop", required_argument, NULL, O_GOP },
		{ "step-ms", required_argument, NULL, O_STEP }, { "max-steps", required_argument, NULL, O_MAXSTEPS },
		{ "confirm-ms", required_argument, NULL, O_CONFIRM },
		{ "start-rate", required_argument, NULL, O_START }, { "max-rate", required_argument, NULL, O_MAXRATE },
		{ "resolution", required_argument, NULL, O_RES }, { "scale", required_argument, NULL, O_SCALE },
		{ "scale-ms", required_argument, NULL, O_SCALEMS }, { "no-scale", no_argument, NULL, O_NOSCALE },
		{ "build-dir", required_argument, NULL, O_BUILD }, { "naive-bin", required_argument, NULL, O_NAIVE },
		{ "workers", required_argument, NULL, O_WORKERS }, { "spdp-opt", required_argument, NULL, O_SPDPOPT },
		{ "rcvbuf", required_argument, NULL, O_RCVBUF }, { "fwd-rcvbuf", required_argument, NULL, O_FWDRCVBUF },
		{ "batch", required_argument, NULL, O_BATCH }, { "pin", no_argument, NULL, O_PIN },
		{ "out", required_argument, NULL, O_OUT }, { "keep", no_argument, NULL, O_KEEP },
		{ "max-backlog-ms", required_argument, NULL, O_BACKLOG },
		{ "rx-coalesce-us", required_argument, NULL, O_COALESCE },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Explicit options override the preset, whatever their order. */
	int32_t step = -1, maxsteps = -1, confirm = -1, scalems = -1;
	double res = -1;
	char exe[PATH_MAX], *slash;
	uint64_t v64;
	int opt;

	memset(o, 0, sizeof(*o));
	for (int t = 0; t < T__COUNT; t++)
		o->target[t] = true;
	o->fanouts[0] = 1, o->fanouts[1] = 4, o->fanouts[2] = 16, o->nfanouts = 3;
	o->cameras = 8;
	rtpt_stream_default(&o->stream);
	o->start_delivered = 20000;
	o->max_delivered = 3000000;
	o->scale = true;
	o->scale_cameras = 2000, o->scale_viewers = 5, o->scale_pps = 25;
	o->rcvbuf = 256 << 20;
	o->batch = 64;
	o->workers = 2;
	o->drain_quiet_ms = 100;
	o->max_backlog_ms = 100;
	o->coalesce_us = 200;
	o->warmup_ms = 200;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		uint32_t u;
		switch (opt) {
		case O_TARGET: {
			char buf[128], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (int t = 0; t < T__COUNT; t++)
				o->target[t] = !strcmp(optarg, "all");
			if (!strcmp(optarg, "all"))
				break;
			for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int t;
				for (t = 0; t < T__COUNT && strcmp(tok, tgt_name[t]); t++)
					;
				if (t == T__COUNT) {
					fprintf(stderr, "spbench rtp: --target: unknown '%s' (loopback, naive, spdp)\n", tok);
					return -1;
				}
				o->target[t] = true;
			}
			break;
		}
		case O_PRESET:
			if (strcmp(optarg, "quick") && strcmp(optarg, "full")) {
				fprintf(stderr, "spbench rtp: --preset quick|full\n");
				return -1;
			}
			o->full = !strcmp(optarg, "full");
			break;
		case O_FANOUTS: {
			uint64_t v[MAX_FANOUTS];
			size_t k;
			if (bench_parse_size_list(optarg, v, MAX_FANOUTS, &k) < 0) {
				fprintf(stderr, "spbench rtp: --fanouts: comma-separated counts, at most %d\n",
					MAX_FANOUTS);
				return -1;
			}
			for (size_t i = 0; i < k; i++) {
				if (!v[i] || v[i] > 4096) {
					fprintf(stderr, "spbench rtp: --fanouts: 1..4096\n");
					return -1;
				}
				o->fanouts[i] = (uint32_t)v[i];
			}
			o->nfanouts = (uint32_t)k;
			break;
		}
		case O_CAMERAS:
			if (bench_parse_u32(optarg, 1, 100000, &o->cameras)) goto bad;
			break;
		case O_SIZE:
			if (bench_parse_u32(optarg, RTPT_MIN_PKT, 1472, &o->stream.pkt_size)) goto bad;
			break;
		case O_PPF:
			if (bench_parse_u32(optarg, 1, 1000, &o->stream.ppf)) goto bad;
			break;
		case O_KEY:
			if (bench_parse_u32(optarg, 4, 1000, &o->stream.key_pkts)) goto bad;
			break;
		case O_GOP:
			if (bench_parse_u32(optarg, 1, 10000, &o->stream.gop)) goto bad;
			break;
		case O_STEP:
			if (bench_parse_u32(optarg, 20, 600000, &u)) goto bad;
			step = (int32_t)u;
			break;
		case O_MAXSTEPS:
			if (bench_parse_u32(optarg, 1, 100, &u)) goto bad;
			maxsteps = (int32_t)u;
			break;
		case O_CONFIRM:
			if (bench_parse_u32(optarg, 0, 600000, &u)) goto bad;
			confirm = (int32_t)u;
			break;
		case O_START:
			if (bench_parse_u32(optarg, 1, 100000000, &u)) goto bad;
			o->start_delivered = u;
			break;
		case O_MAXRATE:
			if (bench_parse_u32(optarg, 1, 100000000, &u)) goto bad;
			o->max_delivered = u;
			break;
		case O_RES:
			res = atof(optarg);
			if (res <= 0 || res >= 1) goto bad;
			break;
		case O_SCALE: {
			unsigned cc, vv;
			double rr;
			if (sscanf(optarg, "%ux%u@%lf", &cc, &vv, &rr) != 3 || !cc || !vv || rr <= 0 ||
			    cc > 1000000 || vv > 4096) goto bad;
			o->scale_cameras = cc, o->scale_viewers = vv, o->scale_pps = rr;
			o->scale = true;
			break;
		}
		case O_SCALEMS:
			if (bench_parse_u32(optarg, 100, 3600000, &u)) goto bad;
			scalems = (int32_t)u;
			break;
		case O_NOSCALE:
			o->scale = false;
			break;
		case O_BUILD:
			snprintf(o->build_dir, sizeof(o->build_dir), "%s", optarg);
			break;
		case O_NAIVE:
			snprintf(o->naive_bin, sizeof(o->naive_bin), "%s", optarg);
			break;
		case O_WORKERS:
			if (bench_parse_u32(optarg, 1, 64, &o->workers)) goto bad;
			break;
		case O_SPDPOPT:
			if (o->n_spdp_opts == MAX_SPDP_OPTS || !strchr(optarg, '=')) goto bad;
			o->spdp_opts[o->n_spdp_opts++] = optarg;
			break;
		case O_RCVBUF:
		case O_FWDRCVBUF:
			if (bench_parse_size(optarg, &v64) < 0 || v64 > (1u << 30)) goto bad;
			*(opt == O_RCVBUF ? &o->rcvbuf : &o->fwd_rcvbuf) = (int)v64;
			break;
		case O_BATCH:
			if (bench_parse_u32(optarg, 1, RTPT_MAX_BATCH, &o->batch)) goto bad;
			break;
		case O_PIN: o->pin = true; break;
		case O_OUT: o->out = optarg; break;
		case O_KEEP: o->keep = true; break;
		case O_BACKLOG:
			if (bench_parse_u32(optarg, 1, 60000, &o->max_backlog_ms)) goto bad;
			break;
		case O_COALESCE:
			if (bench_parse_u32(optarg, 0, 10000, &o->coalesce_us)) goto bad;
			break;
		case 'v': o->verbose = true; break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "spbench rtp: bad value '%s' for --%s\n", optarg,
			opt >= O_TARGET && opt <= O_COALESCE ? lo[opt - O_TARGET].name : "?");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "spbench rtp: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	o->step_ms = step >= 0 ? (uint32_t)step : o->full ? 2000 : 250;
	o->max_steps = maxsteps >= 0 ? (uint32_t)maxsteps : o->full ? 14 : 7;
	o->confirm_ms = confirm >= 0 ? (uint32_t)confirm : o->full ? 6000 : 0;
	o->scale_ms = scalems >= 0 ? (uint32_t)scalems : o->full ? 10000 : 2000;
	o->resolution = res > 0 ? res : o->full ? 0.03 : 0.1;
	if (o->full)
		o->drain_quiet_ms = 200;
	/* Binaries next to spbench by default: <build>/benchmarks/spbench. */
	bench_exe_dir(exe, sizeof(exe));
	if (!o->naive_bin[0])
		snprintf(o->naive_bin, sizeof(o->naive_bin), "%.1000s/sp_naive_fwd", exe);
	if (!o->build_dir[0]) {
		if ((slash = strrchr(exe, '/')))
			*slash = 0;
		snprintf(o->build_dir, sizeof(o->build_dir), "%.1000s", exe);
	}
	if (rtpt_stream_check(&o->stream)) {
		fprintf(stderr, "spbench rtp: inconsistent stream parameters\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

static void fmt_rate(char *b, size_t n, double v)
{
	if (v <= 0)
		snprintf(b, n, "none");
	else if (v >= 1e6)
		snprintf(b, n, "%.2fM/s", v / 1e6);
	else
		snprintf(b, n, "%.0fk/s", v / 1e3);
}

int bench_rtp_main(int argc, char **argv)
{
	struct opts o;
	struct outcome res[MAX_FANOUTS + 1][T__COUNT];
	struct rlimit rl;
	cJSON *root, *params, *results, *baselines, *ratios, *m, *stream;
	char line[2048];
	size_t len = 0;
	int rc, exit_code = 0;
	double t0 = bench_now_s();

	if ((rc = parse_opts(argc, argv, &o)))
		return rc > 0 ? 0 : 2;
	memset(res, 0, sizeof(res));
	bench_catch_signals();
	/* Thousands of flows need thousands of descriptors (children inherit). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Short sleeps in the pacer should be short. */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	if (o.pin) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	/* Fan-out scenarios, every target back to back at each fan-out so the
	 * machine's mood affects them alike; then the scale scenario. */
	for (uint32_t i = 0; i < o.nfanouts && !bench_stop; i++) {
		char name[32];
		uint32_t fo = o.fanouts[i];
		snprintf(name, sizeof(name), "fanout_1:%u", fo);
		for (int t = 0; t < T__COUNT && !bench_stop; t++)
			if (o.target[t])
				run_scenario(&o, (enum tgt)t, name, o.cameras, fo, &o.stream, 0, 0,
					     o.start_delivered / fo, &res[i][t]);
	}
	if (o.scale) {
		struct rtpt_stream_cfg ss = o.stream;
		char name[64];
		ss.ppf = 1, ss.key_pkts = 4, ss.gop = 25;
		snprintf(name, sizeof(name), "scale_%ux%u@%g", o.scale_cameras, o.scale_viewers, o.scale_pps);
		for (int t = 0; t < T__COUNT && !bench_stop; t++)
			if (o.target[t])
				run_scenario(&o, (enum tgt)t, name, o.scale_cameras, o.scale_viewers, &ss,
					     o.scale_pps * o.scale_cameras, o.scale_ms, 0,
					     &res[MAX_FANOUTS][t]);
	}

	/* ---- JSON ---- */
	root = bench_envelope("rtp");
	if (!root)
		return 1;
	m = cJSON_GetObjectItem(root, "machine");
	cJSON_AddBoolToObject(m, "pinned", o.pin);
	params = cJSON_AddObjectToObject(root, "params");
	cJSON_AddStringToObject(params, "preset", o.full ? "full" : "quick");
	{
		cJSON *a = cJSON_AddArrayToObject(params, "targets");
		for (int t = 0; t < T__COUNT; t++)
			if (o.target[t])
				cJSON_AddItemToArray(a, cJSON_CreateString(tgt_name[t]));
		a = cJSON_AddArrayToObject(params, "fanouts");
		for (uint32_t i = 0; i < o.nfanouts; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(o.fanouts[i]));
	}
	cJSON_AddNumberToObject(params, "cameras", o.cameras);
	stream = cJSON_AddObjectToObject(params, "stream");
	cJSON_AddStringToObject(stream, "codec", "H.264 (RFC 6184): SPS, PPS, FU-A IDR keyframes; type 1 slices");
	cJSON_AddNumberToObject(stream, "packet_bytes", o.stream.pkt_size);
	cJSON_AddNumberToObject(stream, "param_set_bytes", RTPT_PARAM_SET_LEN);
	cJSON_AddNumberToObject(stream, "packets_per_frame", o.stream.ppf);
	cJSON_AddNumberToObject(stream, "keyframe_packets", o.stream.key_pkts);
	cJSON_AddNumberToObject(stream, "gop_frames", o.stream.gop);
	cJSON_AddNumberToObject(params, "step_ms", o.step_ms);
	cJSON_AddNumberToObject(params, "warmup_ms", o.warmup_ms);
	cJSON_AddNumberToObject(params, "max_steps", o.max_steps);
	cJSON_AddNumberToObject(params, "confirm_ms", o.confirm_ms);
	cJSON_AddNumberToObject(params, "start_delivered_pps", o.start_delivered);
	cJSON_AddNumberToObject(params, "max_delivered_pps", o.max_delivered);
	cJSON_AddNumberToObject(params, "resolution", o.resolution);
	cJSON_AddStringToObject(params, "search",
				"double the offered rate from start until a step fails, then bisect; a step "
				"passes with zero loss, duplicates, misrouted or damaged packets, the sender "
				"on schedule (within 5%) and the last packet delivered within max_backlog_ms "
				"of the cameras stopping");
	cJSON_AddNumberToObject(params, "max_backlog_ms", o.max_backlog_ms);
	if (o.scale) {
		cJSON *s = cJSON_AddObjectToObject(params, "scale");
		cJSON_AddNumberToObject(s, "cameras", o.scale_cameras);
		cJSON_AddNumberToObject(s, "viewers_per_camera", o.scale_viewers);
		cJSON_AddNumberToObject(s, "pps_per_camera", o.scale_pps);
		cJSON_AddNumberToObject(s, "duration_ms", o.scale_ms);
	}
	cJSON_AddNumberToObject(params, "tool_rcvbuf", o.rcvbuf);
	cJSON_AddNumberToObject(params, "naive_ingest_rcvbuf", o.fwd_rcvbuf);
	cJSON_AddNumberToObject(params, "batch", o.batch);
	cJSON_AddNumberToObject(params, "rx_coalesce_us", o.coalesce_us);
	cJSON_AddNumberToObject(params, "spdp_workers", o.workers);
	{
		cJSON *a = cJSON_AddArrayToObject(params, "spdp_opts");
		cJSON_AddItemToArray(a, cJSON_CreateString("media.address=127.0.0.1"));
		for (unsigned i = 0; i < o.n_spdp_opts; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(o.spdp_opts[i]));
	}
	cJSON_AddStringToObject(params, "latency",
				"camera send (CLOCK_MONOTONIC, stamped just before sendmmsg) to kernel arrival "
				"at the subscriber socket (SO_TIMESTAMPNS); reference = first search step, same "
				"offered rate for every target");
	cJSON_AddStringToObject(params, "cpu",
				"forwarder: /proc/<pid>/stat utime+stime over the step and its drain (all "
				"threads; clock ticks); tool: per-thread CPU clocks");
	cJSON_AddStringToObject(params, "memory",
				"VmRSS of the forwarder: at start, after flows, after subscribers, after traffic");

	results = cJSON_AddArrayToObject(root, "results");
	baselines = cJSON_AddArrayToObject(root, "baselines");
	ratios = cJSON_AddObjectToObject(root, "ratios");
	for (uint32_t i = 0; i <= MAX_FANOUTS; i++)
		for (int t = 0; t < T__COUNT; t++) {
			struct outcome *r = &res[i][t];
			if (!r->ran)
				continue;
			/* Added latency: p99 at the reference rate minus loopback's. */
			if (i < MAX_FANOUTS && t != T_LOOPBACK && res[i][T_LOOPBACK].ran &&
			    res[i][T_LOOPBACK].ref_p99_us > 0 && r->ref_p99_us > 0)
				cJSON_AddNumberToObject(r->entry, "added_p99_us_at_reference",
							r->ref_p99_us - res[i][T_LOOPBACK].ref_p99_us);
			cJSON_AddItemToArray(t == T_SPDP ? results : baselines, r->entry);
			if (!r->ok && !cJSON_GetObjectItem(r->entry, "skipped"))
				exit_code = 1;
		}
	/* ratios["spdp/naive"]["16"]: zero-loss delivered packets/s, spdp over naive. */
	{
		static const int pairs[][2] = { { T_SPDP, T_NAIVE }, { T_SPDP, T_LOOPBACK }, { T_NAIVE, T_LOOPBACK } };
		for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
			int a = pairs[p][0], b = pairs[p][1];
			char key[64], ckey[80];
			cJSON *r = NULL, *cr = NULL;
			for (uint32_t i = 0; i < o.nfanouts; i++) {
				char fk[16];
				if (!res[i][a].ran || !res[i][b].ran)
					continue;
				snprintf(key, sizeof(key), "%s/%s", tgt_name[a], tgt_name[b]);
				snprintf(fk, sizeof(fk), "%u", o.fanouts[i]);
				if (!r)
					r = cJSON_AddObjectToObject(ratios, key);
				if (res[i][a].best_delivered > 0 && res[i][b].best_delivered > 0)
					cJSON_AddNumberToObject(r, fk, res[i][a].best_delivered / res[i][b].best_delivered);
				else
					cJSON_AddNullToObject(r, fk);
				if (b == T_LOOPBACK)
					continue;
				snprintf(ckey, sizeof(ckey), "cpu_per_pkt:%s/%s", tgt_name[a], tgt_name[b]);
				if (!cr)
					cr = cJSON_AddObjectToObject(ratios, ckey);
				if (res[i][a].cpu_per_mpkt > 0 && res[i][b].cpu_per_mpkt > 0)
					cJSON_AddNumberToObject(cr, fk, res[i][a].cpu_per_mpkt / res[i][b].cpu_per_mpkt);
				else
					cJSON_AddNullToObject(cr, fk);
			}
		}
	}
	/* The goals, checked against this run's figures. */
	if (o.target[T_SPDP]) {
		cJSON *goals = cJSON_AddArrayToObject(root, "goals");
		for (uint32_t i = 0; i < o.nfanouts; i++) {
			const struct outcome *sp = &res[i][T_SPDP], *nv = &res[i][T_NAIVE], *lb = &res[i][T_LOOPBACK];
			char what[128];
			if (!sp->ran)
				continue;
			if (o.fanouts[i] == 16 && nv->ran) {
				double r = nv->best_delivered > 0 ? sp->best_delivered / nv->best_delivered : 0;
				bench_add_goal(goals, "zero-loss delivered at 1:16 >= 3x naive", r, r >= 3, NULL);
			}
			if (lb->ran) {
				double r = lb->best_delivered > 0 ? sp->best_delivered / lb->best_delivered : 0;
				snprintf(what, sizeof(what), "zero-loss delivered at 1:%u >= 0.5x loopback", o.fanouts[i]);
				bench_add_goal(goals, what, r, r >= 0.5, NULL);
			}
			if (nv->ran) {
				double r = nv->cpu_per_mpkt > 0 && sp->cpu_per_mpkt > 0 ? sp->cpu_per_mpkt / nv->cpu_per_mpkt : 0;
				snprintf(what, sizeof(what), "CPU per packet at 1:%u below naive (ratio < 1)", o.fanouts[i]);
				bench_add_goal(goals, what, r, r > 0 && r < 1, NULL);
			}
		}
		if (res[MAX_FANOUTS][T_SPDP].ran) {
			const struct outcome *sc = &res[MAX_FANOUTS][T_SPDP];
			snprintf(line, sizeof(line), "%ux%u at %g packets/s each with zero loss", o.scale_cameras,
				 o.scale_viewers, o.scale_pps);
			bench_add_goal(goals, line, sc->scale_pass ? 1 : 0, sc->scale_pass, NULL);
			if (sc->per_flow_kib >= 0) {
				bench_add_goal(goals, "RSS per flow < 64 KiB (excluding history)", sc->per_flow_kib,
					       sc->per_flow_kib < 64, NULL);
				bench_add_goal(goals, "RSS per subscriber < 4 KiB", sc->per_sub_kib, sc->per_sub_kib < 4,
					       NULL);
			}
		}
	}
	cJSON_AddNumberToObject(root, "duration_s", bench_now_s() - t0);
	if (bench_stop) {
		cJSON_AddBoolToObject(root, "interrupted", true);
		exit_code = 130;
	}
	rc = bench_emit(root, o.out);
	cJSON_Delete(root);
	if (rc < 0) {
		fprintf(stderr, "spbench rtp: writing %s: %s\n", o.out ? o.out : "stdout", strerror(-rc));
		return 1;
	}

	/* ---- one line ---- */
	len += (size_t)snprintf(line + len, sizeof(line) - len, "spbench rtp (%s): zero-loss delivered",
				o.full ? "full" : "quick");
	for (uint32_t i = 0; i < o.nfanouts && len < sizeof(line) - 200; i++) {
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s 1:%u", i ? " |" : "", o.fanouts[i]);
		for (int t = T__COUNT - 1; t >= 0 && len < sizeof(line) - 100; t--) {
			char b[32];
			if (!res[i][t].ran)
				continue;
			fmt_rate(b, sizeof(b), res[i][t].best_delivered);
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %s%s", tgt_name[t], b,
						res[i][t].unconfirmed ? " (unconfirmed)" : "");
			if (t == T_SPDP && res[i][T_NAIVE].best_delivered > 0 && res[i][t].best_delivered > 0)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " (x%.1f naive)",
							res[i][t].best_delivered / res[i][T_NAIVE].best_delivered);
		}
	}
	if (o.scale && len < sizeof(line) - 200) {
		len += (size_t)snprintf(line + len, sizeof(line) - len, " | scale %ux%u@%g:", o.scale_cameras,
					o.scale_viewers, o.scale_pps);
		for (int t = T__COUNT - 1; t >= 0; t--)
			if (res[MAX_FANOUTS][t].ran)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %s%s%s", tgt_name[t],
							!res[MAX_FANOUTS][t].ok ? "error" :
							res[MAX_FANOUTS][t].scale_pass ? "0 lost" : "FAIL",
							res[MAX_FANOUTS][t].scale_limit[0] ? ": " : "",
							res[MAX_FANOUTS][t].scale_limit);
	}
	fprintf(stderr, "%s (%.0f s)\n", line, bench_now_s() - t0);
	return exit_code;
}