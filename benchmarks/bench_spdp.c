/*
 * bench_spdp.c: spdp + spcp under a benchmark, through spcp's control
 * socket (see bench_spdp.h).
 */
#include "bench_spdp.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/crypto.h>

#include "bench.h"
#include "bench_proc.h"
#include "ctlsock.h"

#define CTL_TIMEOUT_MS 3000
#define MAX_OPTS 16

int spdp_init(struct spdp *sp, uint32_t flows)
{
	memset(sp, 0, sizeof(*sp));
	sp->ctl = -1;
	sp->ports = calloc(flows, sizeof(*sp->ports));
	sp->mask = calloc(65536 / 64, sizeof(*sp->mask));
	if (!sp->ports || !sp->mask) {
		spdp_why(sp, "out of memory");
		return -1;
	}
	return 0;
}

int spdp_mkdir(struct spdp *sp, const char *bench, const char *fwd_name)
{
	snprintf(sp->dir, sizeof(sp->dir), "/tmp/spbench-%s-XXXXXX", bench);
	if (!mkdtemp(sp->dir)) {
		spdp_why(sp, "mkdtemp: %s", strerror(errno));
		sp->dir[0] = 0;
		return -1;
	}
	snprintf(sp->fwd_log, sizeof(sp->fwd_log), "%s/%s.log", sp->dir, fwd_name);
	snprintf(sp->cp_log, sizeof(sp->cp_log), "%s/spcp.log", sp->dir);
	return 0;
}

void spdp_why(struct spdp *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sp->why, sizeof(sp->why), fmt, ap);
	va_end(ap);
}

cJSON *spdp_call(struct spdp *sp, const char *fmt, ...)
{
	char req[CTLSOCK_MAX_REQ_LEN + 1], shown[CTLSOCK_MAX_REQ_LEN + 1], *k;
	cJSON *reply = NULL, *err;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	/* Error messages end up in the JSON result: never show keys. */
	snprintf(shown, sizeof(shown), "%s", req);
	for (k = strstr(shown, "srtp_key="); k; k = strstr(k, "srtp_key=")) {
		k += 9;
		while (*k && *k != '&' && *k != ' ')
			*k++ = '*';
	}
	rc = ctlsock_call(sp->ctl, req, CTL_TIMEOUT_MS, &reply);
	OPENSSL_cleanse(req, sizeof(req));
	if (rc < 0) {
		spdp_why(sp, "spcp control socket: %s: %s", shown, strerror(-rc));
		return NULL;
	}
	if (!reply || cJSON_IsNull(reply)) {
		spdp_why(sp, "spcp answered null to %s (unknown command or handler error)", shown);
		cJSON_Delete(reply);
		return NULL;
	}
	err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	if (cJSON_IsString(err)) {
		spdp_why(sp, "spcp: %s: %s", shown, err->valuestring);
		cJSON_Delete(reply);
		return NULL;
	}
	return reply;
}

static int connect_ctl(struct spdp *sp, const struct spdp_cfg *cfg)
{
	char sock[PATH_MAX];
	double deadline = bench_now_s() + 10;

	bench_log(cfg->verbose, cfg->who, "  spdp: waiting for %s/%s/spcp.sock", sp->dir, sp->inst);
	snprintf(sock, sizeof(sock), "%s/%s/spcp.sock", sp->dir, sp->inst);
	while (!bench_stop) {
		char st[128];
		sp->ctl = ctlsock_connect(sock, NULL);
		if (sp->ctl >= 0)
			return 0;
		bool dp = proc_exited(sp->pid, st, sizeof(st));
		if (dp || proc_exited(sp->cp_pid, st, sizeof(st))) {
			char tail[600];
			proc_log_tail(dp ? sp->fwd_log : sp->cp_log, tail, sizeof(tail));
			spdp_why(sp, "%s exited during start-up (%s): %s", dp ? "spdp" : "spcp", st, tail);
			*(dp ? &sp->pid : &sp->cp_pid) = 0;
			return -1;
		}
		if (bench_now_s() > deadline) {
			spdp_why(sp, "no control socket at %s after 10 s: %s", sock, strerror(-sp->ctl));
			return -1;
		}
		bench_sleep_ms(20);
	}
	spdp_why(sp, "interrupted");
	return -1;
}

static bool has_flow_api(struct spdp *sp)
{
	cJSON *r = spdp_call(sp, "/");
	bool ok = false;
	const cJSON *c;

	if (!r)
		return false;
	cJSON_ArrayForEach(c, r)
		if (cJSON_IsString(c) && !strcmp(c->valuestring, "/flow/add"))
			ok = true;
	cJSON_Delete(r);
	return ok;
}

int spdp_start(struct spdp *sp, const struct spdp_cfg *cfg)
{
	char dp_bin[PATH_MAX], cp_bin[PATH_MAX], a_dir[PATH_MAX + 32], a_inst[96], a_workers[64];
	char c_dir[PATH_MAX + 32], c_inst[96];
	char *dargv[16 + 2 * MAX_OPTS];
	unsigned n = 0;

	snprintf(dp_bin, sizeof(dp_bin), "%s/dataplane/spdp", cfg->build_dir);
	snprintf(cp_bin, sizeof(cp_bin), "%s/controlplane/spcp", cfg->build_dir);
	if (access(dp_bin, X_OK) || access(cp_bin, X_OK)) {
		spdp_why(sp, "spdp/spcp not found under %s (--build-dir)", cfg->build_dir);
		sp->skipped = true;
		return -1;
	}
	snprintf(sp->inst, sizeof(sp->inst), "%s%d", cfg->inst_prefix, (int)getpid());
	snprintf(a_dir, sizeof(a_dir), "spdp.runtime_dir=%s", sp->dir);
	snprintf(a_inst, sizeof(a_inst), "spdp.instance=%s", sp->inst);
	snprintf(a_workers, sizeof(a_workers), "spdp.workers=%u", cfg->workers);
	dargv[n++] = dp_bin;
	dargv[n++] = "-o"; dargv[n++] = a_dir;
	dargv[n++] = "-o"; dargv[n++] = a_inst;
	dargv[n++] = "-o"; dargv[n++] = a_workers;
	dargv[n++] = "-o"; dargv[n++] = "media.address=127.0.0.1";
	dargv[n++] = "-o"; dargv[n++] = "spdp.log_level=notice";
	for (unsigned i = 0; i < cfg->nopts && i < MAX_OPTS; i++) {
		dargv[n++] = "-o";
		dargv[n++] = (char *)cfg->opts[i];
	}
	dargv[n] = NULL;
	snprintf(c_dir, sizeof(c_dir), "spcp.runtime_dir=%s", sp->dir);
	snprintf(c_inst, sizeof(c_inst), "spcp.instance=%s", sp->inst);
	char *cargv[8 + 2 * MAX_OPTS] = { cp_bin, "-o", c_dir, "-o", c_inst, "-o", "spcp.log_level=notice" };
	unsigned cn = 7;

	for (unsigned i = 0; i < cfg->ncp_opts && i < MAX_OPTS; i++) {
		cargv[cn++] = "-o";
		cargv[cn++] = (char *)cfg->cp_opts[i];
	}
	cargv[cn] = NULL;

	if ((sp->pid = proc_spawn(dargv, -1, sp->fwd_log, cfg->cpu)) < 0 ||
	    (sp->cp_pid = proc_spawn(cargv, -1, sp->cp_log, cfg->cpu)) < 0) {
		spdp_why(sp, "fork: %s", strerror(errno));
		return -1;
	}
	if (connect_ctl(sp, cfg) < 0)
		return -1;
	if (!has_flow_api(sp)) {
		spdp_why(sp, "spcp has no /flow/add command (flow API not available in this build)");
		sp->skipped = true;
		return -1;
	}
	/* Wait for spcp to attach, so what comes next (the starting RSS, the
	 * first flow) meets a settled spdp. */
	sp->start_deadline = bench_now_s() + 10;
	for (;;) {
		cJSON *st = spdp_call(sp, "/spdp/status");
		bool attached = st && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "cp_attached"));
		cJSON_Delete(st);
		if (attached)
			return 0;
		if (bench_now_s() > sp->start_deadline || bench_stop) {
			spdp_why(sp, "spcp did not attach to spdp within 10 s");
			return -1;
		}
		bench_sleep_ms(20);
	}
}

cJSON *spdp_flow_add(struct spdp *sp, rtpt_sender *tx, uint32_t cam, uint32_t ssrc, const char *extra)
{
	struct sockaddr_in src;
	char ip[INET_ADDRSTRLEN];
	cJSON *r;

	rtpt_sender_source(tx, cam, &src);
	inet_ntop(AF_INET, &src.sin_addr, ip, sizeof(ip));
	/* spcp still answers "spdp not attached" until its side is done. */
	for (;;) {
		r = spdp_call(sp, "/flow/add,id=%u&source=%s:%u&ssrc=%u&rtcp_mux=1&codec=h264%s", cam + 1, ip,
			      ntohs(src.sin_port), ssrc, extra);
		if (r || cam > 0 || !strstr(sp->why, "not attached") || bench_now_s() > sp->start_deadline)
			return r;
		bench_sleep_ms(50);
	}
}

cJSON *spdp_sub_add(struct spdp *sp, rtpt_receiver *rx, uint32_t cam, uint32_t sub, const char *extra)
{
	struct sockaddr_in a;
	char ip[INET_ADDRSTRLEN];

	rtpt_receiver_sub_addr(rx, cam, sub, &a);
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	return spdp_call(sp, "/sub/add,flow=%u&id=%u&rtp=%s:%u&rtcp_mux=1%s", cam + 1, sub + 1, ip,
			 ntohs(a.sin_port), extra);
}

int spdp_wait(struct spdp *sp, uint32_t flows, uint32_t m, bool subs, double timeout_s)
{
	double deadline = bench_now_s() + timeout_s;
	uint32_t done = 0;

	while (done < flows) {
		cJSON *r = spdp_call(sp, "/flow,id=%u", done + 1);
		const char *st;
		bool ok;

		if (!r) {
			char why[sizeof(sp->why)];
			snprintf(why, sizeof(why), "%s", sp->why);
			spdp_why(sp, "waiting for flow %u to become active: %.900s", done + 1, why);
			return -1;
		}
		st = bench_jstr(r, "state");
		if (!strcmp(st, "failed")) {
			spdp_why(sp, "flow %u failed in spdp: %s", done + 1, bench_jstr(r, "error"));
			cJSON_Delete(r);
			return -1;
		}
		ok = !strcmp(st, "active");
		if (ok && subs) {
			const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, "subs"), *s;
			uint32_t active = 0;

			/* spcp lists every subscriber it was given, pending or not:
			 * fewer means spdp removed some (the reason is in spcp's log). */
			if (cJSON_GetArraySize(arr) < (int)m) {
				spdp_why(sp, "flow %u has %d of its %u subscribers: spdp removed some before any "
					 "traffic (see %s)", done + 1, cJSON_GetArraySize(arr), m, sp->cp_log);
				cJSON_Delete(r);
				return -1;
			}
			cJSON_ArrayForEach(s, arr) {
				const char *ss = bench_jstr(s, "state");
				if (!strcmp(ss, "failed")) {
					spdp_why(sp, "flow %u subscriber %d failed in spdp: %s", done + 1,
						 (int)bench_jnum(s, "sub"), bench_jstr(s, "error"));
					cJSON_Delete(r);
					return -1;
				}
				active += !strcmp(ss, "active");
			}
			ok = active == m;
		}
		if (ok) {
			double p = bench_jnum(r, "rtp_port");
			if (p <= 0 || p > 65535) {
				spdp_why(sp, "flow %u is active without an rtp_port", done + 1);
				cJSON_Delete(r);
				return -1;
			}
			sp->ports[done++] = (uint16_t)p;
		}
		if (!ok && (bench_now_s() > deadline || bench_stop)) {
			char *txt = cJSON_PrintUnformatted(r);
			spdp_why(sp, "flow %u not %s after %.0f s: %.400s", done + 1,
				 subs ? "active with all its subscribers" : "active", timeout_s, txt ? txt : "");
			free(txt);
			cJSON_Delete(r);
			return -1;
		}
		cJSON_Delete(r);
		if (!ok) {
			char st2[128];
			if (proc_exited(sp->pid, st2, sizeof(st2))) {
				spdp_why(sp, "spdp died while creating flows: %s", st2);
				sp->pid = 0;
				return -1;
			}
			bench_sleep_ms(5);
		}
	}
	return 0;
}

void spdp_mask_port(struct spdp *sp, uint16_t port) { sp->mask[port >> 6] |= 1ull << (port & 63); }

void spdp_route(struct spdp *sp, rtpt_sender *tx, rtpt_receiver *rx, uint32_t cams)
{
	for (uint32_t c = 0; c < cams; c++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(sp->ports[c]) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rtpt_sender_set_dest(tx, c, 0, &a);
		rtpt_receiver_set_rtcp_dest(rx, c, &a); /* rtcp-mux: RRs to the RTP port */
		spdp_mask_port(sp, sp->ports[c]);
	}
}

void spdp_counters(struct spdp *sp, const char *const *names, int n, double *out)
{
	const cJSON *w;
	cJSON *st = sp->ctl >= 0 ? spdp_call(sp, "/spdp/status") : NULL;

	for (int i = 0; i < n; i++)
		out[i] = -1;
	if (!st)
		return;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(st, "workers_stats")) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "counters");
		for (int i = 0; i < n; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, names[i]);
			if (cJSON_IsNumber(v))
				out[i] = (out[i] < 0 ? 0 : out[i]) + v->valuedouble;
		}
	}
	cJSON_Delete(st);
}

cJSON *spdp_drops(struct spdp *sp)
{
	cJSON *st, *d;

	if (sp->ctl < 0 || !(st = spdp_call(sp, "/spdp/status")))
		return NULL;
	d = cJSON_DetachItemFromObjectCaseSensitive(st, "drops");
	cJSON_Delete(st);
	return d;
}

cJSON *spdp_drops_delta(const cJSON *before, const cJSON *after, double *sum, char *top, size_t toplen)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *a;
	double best = 0;

	*sum = 0;
	cJSON_ArrayForEach(a, after) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(before, a->string);
		double d = (cJSON_IsNumber(a) ? a->valuedouble : 0) - (cJSON_IsNumber(b) ? b->valuedouble : 0);
		if (d <= 0)
			continue;
		cJSON_AddNumberToObject(o, a->string, d);
		*sum += d;
		if (d > best) {
			best = d;
			snprintf(top, toplen, "%s", a->string);
		}
	}
	return o;
}

void spdp_stop(struct spdp *sp, bool keep_dir, const char *label)
{
	if (sp->ctl >= 0) {
		close(sp->ctl);
		sp->ctl = -1;
	}
	proc_stop(sp->cp_pid, 3000, sp->cp_end_status, sizeof(sp->cp_end_status));
	proc_stop(sp->pid, 5000, sp->end_status, sizeof(sp->end_status));
	if (sp->dir[0]) {
		if (keep_dir)
			fprintf(stderr, "%s logs kept in %s\n", label, sp->dir);
		else
			proc_remove_tree(sp->dir);
	}
	free(sp->ports);
	free(sp->mask);
	sp->ports = NULL;
	sp->mask = NULL;
}
