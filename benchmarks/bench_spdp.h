/*
 * bench_spdp: spdp + spcp as children of a fan-out benchmark (`spbench rtp`,
 * `spbench srtp`), driven through spcp's control socket (ctlsock): start
 * both in a temp runtime dir and wait until spcp has attached, add flows
 * (one per camera) and subscribers, wait until they are active (which gives
 * each flow's RTP ingest port), point the cameras there, read spdp's drop
 * counters, stop both and clean up.
 *
 * struct spdp also serves rtp's naive forwarder (pid, dir, logs, ports,
 * mask, why, spdp_stop), which has no spcp and no control socket.
 *
 * Errors: -1 or NULL with the reason in sp->why; sp->skipped when the build
 * lacks what is needed (no spdp, no flow API), which a benchmark reports
 * as skipped rather than failed. Waits give up on bench_stop.
 */
#ifndef SP_BENCH_SPDP_H
#define SP_BENCH_SPDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "rtp_traffic.h"

struct spdp {
	pid_t pid;               /* the forwarder: spdp (or rtp's sp_naive_fwd); 0: none, or reaped */
	pid_t cp_pid;            /* spcp; 0: none */
	int ctl;                 /* spcp's control socket; -1: none */
	char dir[64];            /* temp dir: runtime dir, configuration, logs */
	char inst[48];           /* spdp/spcp instance name */
	char fwd_log[128], cp_log[128];
	uint16_t *ports;         /* per flow (id = index + 1): the forwarder's RTP ingest port */
	uint64_t *mask;          /* those ports as a 65536-bit set, for rtpt_udp_drops() */
	char end_status[128], cp_end_status[128]; /* how each child ended (spdp_stop) */
	char why[1024];          /* the last error */
	bool skipped;            /* not in this build: skip, do not fail */
	double start_deadline;   /* spdp_start: "not attached" is retried until then */
};

/* How spdp_start runs spdp and spcp. */
struct spdp_cfg {
	const char *build_dir;   /* holds dataplane/spdp and controlplane/spcp */
	const char *inst_prefix; /* instance name: prefix + our pid */
	uint32_t workers;        /* spdp.workers */
	const char *const *opts; /* extra spdp -o K=V */
	unsigned nopts;
	const char *const *cp_opts; /* extra spcp -o K=V */
	unsigned ncp_opts;
	int cpu;                 /* proc_spawn's cpu for both (PROC_CPU_ALL, ...) */
	bool verbose;            /* progress lines as "spbench <who>: ..." */
	const char *who;
};

/* Zeroes sp (ctl -1) and allocates ports and mask for flows flows. */
int spdp_init(struct spdp *sp, uint32_t flows);
/* The temp dir /tmp/spbench-<bench>-XXXXXX, fwd_log <dir>/<fwd_name>.log
 * and cp_log <dir>/spcp.log. */
int spdp_mkdir(struct spdp *sp, const char *bench, const char *fwd_name);
/* Sets sp->why. */
void spdp_why(struct spdp *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts spdp and spcp, connects to the control socket, checks spcp has the
 * flow API and waits (10 s) for spcp to attach to spdp. */
int spdp_start(struct spdp *sp, const struct spdp_cfg *cfg);

/* One control-socket request (printf-style, e.g. "/flow,id=%u"): the reply,
 * or NULL with sp->why set on a socket error, a null reply or {"error"}.
 * srtp_key=... values never reach sp->why, and the request is wiped. */
cJSON *spdp_call(struct spdp *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* /flow/add for camera cam as flow cam + 1 (its source from tx, H.264,
 * rtcp-mux) with extra parameters appended ("" or "&srtp=..."); the first
 * flow is retried while spcp still says "not attached". The reply or NULL. */
cJSON *spdp_flow_add(struct spdp *sp, rtpt_sender *tx, uint32_t cam, uint32_t ssrc, const char *extra);
/* /sub/add for subscriber sub of camera cam (its address from rx) as id
 * sub + 1 of flow cam + 1, rtcp-mux, extra appended. The reply or NULL. */
cJSON *spdp_sub_add(struct spdp *sp, rtpt_receiver *rx, uint32_t cam, uint32_t sub, const char *extra);
/* Polls /flow until flows 1..flows are active (with subs: each with its m
 * subscribers active) and fills sp->ports; gives up after timeout_s, on a
 * failed flow or subscriber, or when spdp dies. */
int spdp_wait(struct spdp *sp, uint32_t flows, uint32_t m, bool subs, double timeout_s);
/* Cameras send to their flow's port on 127.0.0.1 and the subscribers'
 * receiver reports go there too (rtcp-mux); the ports join sp->mask. */
void spdp_route(struct spdp *sp, rtpt_sender *tx, rtpt_receiver *rx, uint32_t cams);
void spdp_mask_port(struct spdp *sp, uint16_t port);

/* spdp's drop counters by reason ("drops" of /spdp/status); NULL without a
 * control socket or on error. */
/* Worker counters of /spdp/status (one request), each summed over spdp's
 * threads into out[i]; < 0 when spdp does not answer or lacks the counter. */
void spdp_counters(struct spdp *sp, const char *const *names, int n, double *out);
cJSON *spdp_drops(struct spdp *sp);
/* after - before, per counter that grew; their sum in *sum and the largest
 * one's name in top. */
cJSON *spdp_drops_delta(const cJSON *before, const cJSON *after, double *sum, char *top, size_t toplen);

/* Closes the control socket, stops spcp (first, so it does not log spdp's
 * departure as a fault) and the forwarder, and removes the temp dir, or
 * keeps it and says "<label> logs kept in <dir>" on stderr; frees ports and
 * mask. end_status / cp_end_status say how they ended. */
void spdp_stop(struct spdp *sp, bool keep_dir, const char *label);

#endif
