/*
 * bench_turn: `spbench turn`, the side-by-side TURN benchmark of issue 5.
 *
 * Targets, all started here on loopback and measured in the same run:
 *   streampoint  spdp (TURN listener, relay fast path) + spcp (allocations),
 *                relay address 127.0.0.2, peers on 127.0.0.0/8 allowed;
 *   coturn       Debian's turnserver with the equivalent settings: same user,
 *                realm, relay address, relay port range size, relay threads
 *                = spdp workers, loopback peers allowed, UDP only, no CLI,
 *                TLS, DTLS or TCP, logging to /dev/null;
 *   loopback     no server: the clients send to the echo peers themselves,
 *                the tool's own ceiling on this machine.
 * By default every server process is pinned to one CPU and the tool to the
 * other, so each server gets one core (the JSON says what was done).
 *
 * Relayed traffic (turn_load.h): N allocations per server, each with
 * CreatePermission + ChannelBind to an echo peer spbench runs; ChannelData
 * at a paced rate, echoed by the peer, back as ChannelData. Every echo is
 * checked (sequence, allocation, channel, content); RTT from the send time
 * to the kernel's arrival stamp. Each echo is two relayed packets (client
 * -> peer and peer -> client): relayed packets/s = 2 x echoes/s delivered.
 * The offered rate climbs a ladder (start x factor^k), the servers'
 * steps interleaved at every rung so a burst of load elsewhere hits both;
 * a rung that loses is tried again (--retries) before a target stops
 * climbing; then a few bisection steps between its last clean rung and its
 * first lossy one. Lossless rate = the highest step with 0 lost (and no
 * duplicate, no misrouted or damaged echo, the sender on schedule).
 * At every step: the servers' CPU (/proc/<pid>/stat utime + stime, all
 * threads of spdp + spcp, or of turnserver, over the step and its drain),
 * kernel receive drops per socket kind (/proc/net/udp: server listener,
 * server relay ports, the tool's peers and clients), /proc/net/snmp
 * RcvbufErrors, and spdp's own drop counters.
 *
 * Allocations/s (turn_client.h): W cycles in flight of Allocate (401 ->
 * authenticated Allocate) then Refresh LIFETIME=0, for a fixed time, from
 * S loopback source addresses; repeated, interleaved, median reported.
 *
 * Then the common rate (--common-frac, 0.8, of the lower of the two
 * servers' lossless rates: a load both should carry below their knee):
 * --common-reps steps there per target, interleaved, medians reported; if
 * a server loses there, the rate drops by a quarter and the steps run
 * again (twice at most), so the comparison is of loads both carried.
 *
 * Ratios streampoint/coturn: lossless relayed packets/s, CPU s per million
 * relayed packets and RTT p50/p99 at the common rate, allocations/s. JSON
 * on stdout (or --out), one summary line on stderr.
 */
#include "bench_turn.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench.h"
#include "bench_proc.h"
#include "bench_spdp.h"
#include "rtp_traffic.h" /* rtpt_udp_drops, rtpt_snmp_rcvbuf_errors */
#include "turn_client.h"
#include "turn_load.h"

#define REALM "lab.realm"
#define USER "bench"
#define PASSWORD "bench-secret"
#define RELAY_IP "127.0.0.2" /* not the peers' 127.0.0.1: a relay's own address is always denied */
#define MAX_STEPS 128
#define MAX_REPS 9
#define CHANNEL0 0x4000
#define GOAL_RATE 2.0        /* issue 5: >= 2x coturn's lossless relayed rate */

enum tgt { T_SP, T_COTURN, T_LOOP, T__COUNT };
static const char *const tgt_name[T__COUNT] = { "streampoint", "coturn", "loopback" };

struct opts {
	bool full;
	bool on[T__COUNT];
	uint32_t allocs, peers, size;
	double start_rate, factor, max_rate;
	uint32_t step_ms, rungs, retries, bisect, warmup_ms;
	double common_frac;
	uint32_t common_reps;
	uint32_t quiet_ms, drain_max_ms;
	uint32_t alloc_ms, alloc_inflight, alloc_sources, alloc_reps;
	uint32_t workers;
	bool pin;
	int server_cpu, tool_cpu;
	uint32_t port;            /* streampoint's listener; coturn +1, peers +2.. */
	uint32_t sp_relay[2], ct_relay[2];
	int rcvbuf;
	uint32_t batch, tick_us;
	char build_dir[1024];
	const char *turnserver;
	const char *out;
	bool keep, verbose;
};

#define vlog(o, ...) bench_log((o)->verbose, "turn", __VA_ARGS__)

struct step {
	const char *kind;         /* warmup, ramp, retry, bisect, common */
	uint32_t common_try;      /* common steps: which rate (0: the first) */
	struct tl_report r;
	double server_cpu_s, window_s;
	int64_t rcvbuf_errors;
	int64_t drops_listener, drops_relay, drops_peer, drops_client;
	cJSON *spdp_drops;        /* streampoint: spdp's own drops over the step (owned) */
	double spdp_dropped, spdp_to_peer, spdp_to_client;
	char spdp_top[64];
	bool on_time, clean;
	char limit[192];
};

struct target {
	enum tgt kind;
	bool on, up, failed, skipped;
	char why[1200];
	int group;
	struct sockaddr_in listen;
	uint32_t relay_min, relay_max;
	struct tc_session *sess;
	double refreshed_s;
	/* streampoint */
	struct spdp sp;
	/* coturn */
	pid_t ct_pid;
	char ct_dir[64], ct_log[128], ct_status[128], ct_version[64];
	cJSON *argv;              /* the server command line(s) */
	cJSON *info;              /* threads, socket buffers */
	uint64_t *m_listen, *m_relay;
	/* ladder */
	bool climbing;
	double best, fail;        /* highest clean rate; lowest lossy one above it (0: none) */
	struct step steps[MAX_STEPS];
	unsigned nsteps;
	/* allocations/s */
	struct tc_churn_report churn[MAX_REPS];
	double churn_cpu[MAX_REPS];
	int relay_sockets[MAX_REPS];  /* bound in the relay range after each churn */
	unsigned nchurn;
	cJSON *turn_stats;        /* streampoint: spcp's /turn after the run */
	char dead[160];
	uint64_t bad;             /* misrouted + damaged echoes: a broken relay (or tool) */
};

struct ctx {
	const struct opts *o;
	turn_load *tl;
	struct target t[T__COUNT];
	uint64_t *m_peer, *m_client;
	struct tc_creds creds;
	double common;            /* echoes/s of the common steps; 0: none */
	uint32_t common_try;      /* the last common rate tried (the one reported) */
};

/* ------------------------------------------------------------ helpers */

static uint64_t *mask_new(void) { return calloc(65536 / 64, sizeof(uint64_t)); }

static void mask_range(uint64_t *m, uint32_t lo, uint32_t hi)
{
	for (uint32_t p = lo; p <= hi && p < 65536; p++)
		m[p >> 6] |= 1ull << (p & 63);
}

static int64_t drops(const uint64_t *m)
{
	return m ? rtpt_udp_drops(0, m) : 0;
}

/* Some socket is bound to 127.0.0.1:port (/proc/net/udp). */
static bool udp_bound(uint16_t port)
{
	char line[512], want[32], local[64];
	FILE *f = fopen("/proc/net/udp", "re");
	bool found = false;

	if (!f)
		return false;
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %63s", local) == 1 && !strcmp(local, want);
	fclose(f);
	return found;
}

/* UDP sockets bound to RELAY_IP on a port in [lo, hi] (/proc/net/udp): the
 * relay sockets alive, whether or not a process still has their fd. */
static int relay_sockets(uint32_t lo, uint32_t hi)
{
	char line[512], local[64];
	unsigned ip, port;
	FILE *f = fopen("/proc/net/udp", "re");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %63s", local) == 1 && sscanf(local, "%8X:%4X", &ip, &port) == 2 &&
		    ip == 0x0200007Fu && port >= lo && port <= hi)
			n++;
	fclose(f);
	return n;
}

static unsigned threads_of(pid_t pid)
{
	char path[64];
	unsigned n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The receive buffer the kernel gave the first UDP socket `ss` lists for a
 * filter (e.g. "sport = :45478"); -1 if unknown. For the record only. */
static long ss_rcvbuf(const char *filter)
{
	char cmd[256], line[512];
	long rb = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ss -uamnH '%s' 2>/dev/null", filter);
	if (!(p = popen(cmd, "r")))
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, "rb");
		if (rb < 0 && s && (s == line || s[-1] == ',' || s[-1] == '('))
			rb = strtol(s + 2, NULL, 10);
	}
	pclose(p);
	return rb;
}

static double server_cpu(const struct target *t)
{
	double a;

	switch (t->kind) {
	case T_SP:
		a = proc_cpu_s(t->sp.pid);
		return a < 0 ? -1 : a + (t->sp.cp_pid > 0 ? proc_cpu_s(t->sp.cp_pid) : 0);
	case T_COTURN:
		return proc_cpu_s(t->ct_pid);
	default:
		return 0;
	}
}

/* The server died: say so once, and how. */
static bool server_dead(struct target *t)
{
	char st[128];

	if (t->dead[0])
		return true;
	if (t->kind == T_SP && proc_exited(t->sp.pid, st, sizeof(st))) {
		snprintf(t->dead, sizeof(t->dead), "spdp died: %s", st);
		t->sp.pid = 0;
		return true;
	}
	if (t->kind == T_SP && proc_exited(t->sp.cp_pid, st, sizeof(st))) {
		snprintf(t->dead, sizeof(t->dead), "spcp died: %s", st);
		t->sp.cp_pid = 0;
		return true;
	}
	if (t->kind == T_COTURN && proc_exited(t->ct_pid, st, sizeof(st))) {
		snprintf(t->dead, sizeof(t->dead), "turnserver died: %s", st);
		snprintf(t->ct_status, sizeof(t->ct_status), "%s", st);
		t->ct_pid = 0;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------ servers */

static int start_sp(struct ctx *x, struct target *t)
{
	const struct opts *o = x->o;
	static char listen[64], pmin[48], pmax[48], user[96];
	const char *dp[] = { listen };
	const char *cp[] = { "turn.enable=true", "turn.realm=" REALM, user, "turn.relay_address=" RELAY_IP,
			     pmin, pmax, "turn.peer_allow=127.0.0.0/8", "turn.max_allocs_per_user=0" };
	struct spdp_cfg cfg = { .build_dir = o->build_dir, .inst_prefix = "spbench-turn-", .workers = o->workers,
				.opts = dp, .nopts = 1, .cp_opts = cp, .ncp_opts = sizeof(cp) / sizeof(cp[0]),
				.cpu = o->pin ? o->server_cpu : PROC_CPU_INHERIT, .verbose = o->verbose, .who = "turn" };
	cJSON *a;

	snprintf(listen, sizeof(listen), "turn.listen=127.0.0.1:%u", o->port);
	snprintf(pmin, sizeof(pmin), "turn.port_min=%u", o->sp_relay[0]);
	snprintf(pmax, sizeof(pmax), "turn.port_max=%u", o->sp_relay[1]);
	snprintf(user, sizeof(user), "turn.user=%s:%s", USER, PASSWORD);
	if (spdp_init(&t->sp, 1) < 0 || spdp_mkdir(&t->sp, "turn", "spdp") < 0 || spdp_start(&t->sp, &cfg) < 0) {
		snprintf(t->why, sizeof(t->why), "streampoint: %.1000s", t->sp.why);
		t->skipped = t->sp.skipped;
		return -1;
	}
	t->argv = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(t->argv, "spdp_opts");
	cJSON_AddItemToArray(a, cJSON_CreateString("media.address=127.0.0.1"));
	cJSON_AddItemToArray(a, cJSON_CreateString(listen));
	a = cJSON_AddArrayToObject(t->argv, "spcp_opts");
	for (unsigned i = 0; i < sizeof(cp) / sizeof(cp[0]); i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(cp[i]));
	cJSON_AddNumberToObject(t->argv, "spdp_workers", o->workers);
	t->relay_min = o->sp_relay[0];
	t->relay_max = o->sp_relay[1];
	return 0;
}

static int start_coturn(struct ctx *x, struct target *t)
{
	const struct opts *o = x->o;
	char port[32], pmin[32], pmax[32], threads[32], pidf[128], db[128], cmd[PATH_MAX + 64];
	char *argv[40];
	unsigned n = 0;
	double deadline;
	FILE *p;

	if (access(o->turnserver, X_OK)) {
		snprintf(t->why, sizeof(t->why), "coturn: %s not found (Debian package coturn)", o->turnserver);
		t->skipped = true;
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "%s --version 2>/dev/null", o->turnserver);
	if ((p = popen(cmd, "r"))) {
		if (fgets(t->ct_version, sizeof(t->ct_version), p))
			t->ct_version[strcspn(t->ct_version, "\n")] = 0;
		pclose(p);
	}
	snprintf(t->ct_dir, sizeof(t->ct_dir), "/tmp/spbench-turn-coturn-XXXXXX");
	if (!mkdtemp(t->ct_dir)) {
		snprintf(t->why, sizeof(t->why), "coturn: mkdtemp: %s", strerror(errno));
		t->ct_dir[0] = 0;
		return -1;
	}
	snprintf(t->ct_log, sizeof(t->ct_log), "%s/turnserver.out", t->ct_dir);
	snprintf(port, sizeof(port), "--listening-port=%u", o->port + 1);
	snprintf(pmin, sizeof(pmin), "--min-port=%u", o->ct_relay[0]);
	snprintf(pmax, sizeof(pmax), "--max-port=%u", o->ct_relay[1]);
	snprintf(threads, sizeof(threads), "--relay-threads=%u", o->workers);
	snprintf(pidf, sizeof(pidf), "--pidfile=%s/turnserver.pid", t->ct_dir);
	snprintf(db, sizeof(db), "--userdb=%s/turndb", t->ct_dir);
	argv[n++] = (char *)o->turnserver;
	/* What spdp + spcp do, and nothing they do not: UDP listener and
	 * relays, long-term credentials, no CLI/TLS/DTLS/TCP, no logging. */
	argv[n++] = "-n";
	argv[n++] = "--no-cli";
	argv[n++] = "--no-tls";
	argv[n++] = "--no-dtls";
	argv[n++] = "--no-tcp";
	argv[n++] = "--no-tcp-relay";
	argv[n++] = "--listening-ip=127.0.0.1";
	argv[n++] = port;
	argv[n++] = "--relay-ip=" RELAY_IP;
	argv[n++] = pmin;
	argv[n++] = pmax;
	argv[n++] = threads;
	argv[n++] = "-a";
	argv[n++] = "-u";
	argv[n++] = USER ":" PASSWORD;
	argv[n++] = "-r";
	argv[n++] = REALM;
	argv[n++] = "--allow-loopback-peers";
	argv[n++] = "--no-multicast-peers";
	argv[n++] = "--log-file=/dev/null";
	argv[n++] = "--no-stdout-log";
	argv[n++] = "--simple-log";
	argv[n++] = pidf;
	argv[n++] = db;
	argv[n] = NULL;
	t->argv = cJSON_CreateObject();
	{
		cJSON *a = cJSON_AddArrayToObject(t->argv, "turnserver");
		for (unsigned i = 0; i < n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
	}
	cJSON_AddStringToObject(t->argv, "version", t->ct_version);
	if ((t->ct_pid = proc_spawn(argv, -1, t->ct_log, o->pin ? o->server_cpu : PROC_CPU_INHERIT)) < 0) {
		snprintf(t->why, sizeof(t->why), "coturn: fork: %s", strerror(errno));
		t->ct_pid = 0;
		return -1;
	}
	deadline = bench_now_s() + 10;
	while (!udp_bound((uint16_t)(o->port + 1))) {
		if (server_dead(t) || bench_now_s() > deadline || bench_stop) {
			char tail[400];
			proc_log_tail(t->ct_log, tail, sizeof(tail));
			snprintf(t->why, sizeof(t->why), "coturn: %s: %s", t->dead[0] ? t->dead :
				 "no listener on 127.0.0.1 after 10 s", tail);
			return -1;
		}
		bench_sleep_ms(20);
	}
	t->relay_min = o->ct_relay[0];
	t->relay_max = o->ct_relay[1];
	return 0;
}

static void stop_target(struct target *t, bool keep)
{
	if (t->kind == T_SP) {
		if (t->up && !t->turn_stats && t->sp.ctl >= 0)
			t->turn_stats = spdp_call(&t->sp, "/turn");
		spdp_stop(&t->sp, keep || t->failed, "streampoint");
	}
	if (t->kind == T_COTURN) {
		if (t->ct_pid > 0)
			proc_stop(t->ct_pid, 3000, t->ct_status, sizeof(t->ct_status));
		if (t->ct_dir[0]) {
			if (keep || t->failed)
				fprintf(stderr, "coturn logs kept in %s\n", t->ct_dir);
			else
				proc_remove_tree(t->ct_dir);
		}
	}
}

/* Allocate, CreatePermission and ChannelBind for every client of the
 * target, before the receiver thread owns the sockets. */
static int setup_allocs(struct ctx *x, struct target *t)
{
	const struct opts *o = x->o;

	t->sess = calloc(o->allocs, sizeof(*t->sess));
	if (!t->sess) {
		snprintf(t->why, sizeof(t->why), "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < o->allocs; i++) {
		struct tc_session *s = &t->sess[i];
		struct sockaddr_in peer;
		char why[256];
		int rc;

		tl_peer_addr(x->tl, i, &peer);
		tc_session_init(s, tl_client_fd(x->tl, t->group, i), &t->listen, &x->creds);
		if ((rc = tc_allocate(s, 3600, why, sizeof(why))) == 0 && (rc = tc_permit(s, &peer, why, sizeof(why))) == 0)
			rc = tc_channel_bind(s, (uint16_t)(CHANNEL0 + i), &peer, why, sizeof(why));
		if (rc) {
			snprintf(t->why, sizeof(t->why), "%s: allocation %u: %s", tgt_name[t->kind], i, why);
			return -1;
		}
		tl_client_route(x->tl, t->group, i, &t->listen, (uint16_t)(CHANNEL0 + i));
	}
	t->refreshed_s = bench_now_s();
	return 0;
}

/* Permissions last 300 s: a ChannelBind refreshes the channel and its
 * permission. Between steps, with the receiver paused. */
static void refresh_allocs(struct ctx *x, struct target *t)
{
	char why[256];

	if (t->kind == T_LOOP || bench_now_s() - t->refreshed_s < 120)
		return;
	tl_pause(x->tl);
	for (uint32_t i = 0; i < x->o->allocs; i++) {
		struct sockaddr_in peer;
		tl_peer_addr(x->tl, i, &peer);
		if (tc_channel_bind(&t->sess[i], (uint16_t)(CHANNEL0 + i), &peer, why, sizeof(why)))
			fprintf(stderr, "spbench turn: %s: refreshing allocation %u: %s\n", tgt_name[t->kind], i, why);
	}
	tl_resume(x->tl);
	t->refreshed_s = bench_now_s();
}

static void record_info(struct ctx *x, struct target *t)
{
	const struct opts *o = x->o;
	char f[128];

	t->info = cJSON_CreateObject();
	if (t->kind == T_SP) {
		cJSON_AddNumberToObject(t->info, "spdp_threads", threads_of(t->sp.pid));
		cJSON_AddNumberToObject(t->info, "spcp_threads", threads_of(t->sp.cp_pid));
		cJSON_AddNumberToObject(t->info, "spdp_workers", o->workers);
	} else if (t->kind == T_COTURN) {
		cJSON_AddNumberToObject(t->info, "turnserver_threads", threads_of(t->ct_pid));
		cJSON_AddNumberToObject(t->info, "relay_threads", o->workers);
	}
	if (t->kind == T_LOOP)
		return;
	snprintf(f, sizeof(f), "sport = :%u", ntohs(t->listen.sin_port));
	cJSON_AddNumberToObject(t->info, "listener_rcvbuf", (double)ss_rcvbuf(f));
	snprintf(f, sizeof(f), "src %s and sport >= :%u and sport <= :%u", RELAY_IP, t->relay_min, t->relay_max);
	cJSON_AddNumberToObject(t->info, "relay_rcvbuf", (double)ss_rcvbuf(f));
	cJSON_AddNumberToObject(t->info, "relay_ports", t->relay_max - t->relay_min + 1);
}

/* ------------------------------------------------------------ steps */

static bool on_time(const struct opts *o, const struct tl_report *r)
{
	return r->send_failed == 0 && r->late_s <= 0.05 * o->step_ms / 1000.0 + 0.005 && !bench_stop;
}

/* Why a step lost: the largest drop count of a named place. */
static void step_limit(struct step *s, bool server)
{
	struct {
		int64_t n;
		const char *what;
	} c[] = {
		{ s->drops_listener, "server listener socket full" },
		{ s->drops_relay, "server relay sockets full" },
		{ s->drops_peer, "tool echo peer sockets full" },
		{ s->drops_client, "tool client sockets full" },
		{ (int64_t)s->spdp_dropped, NULL },
	};
	int64_t best = 0;
	int bi = -1;

	if (!s->on_time) {
		snprintf(s->limit, sizeof(s->limit), "tool: sender behind schedule (%.1f ms late)", s->r.late_s * 1e3);
		return;
	}
	if (s->r.lost == 0 && s->clean)
		return;
	for (int i = 0; i < (int)(sizeof(c) / sizeof(c[0])); i++)
		if (c[i].n > best) {
			best = c[i].n;
			bi = i;
		}
	if (bi == 4)
		snprintf(s->limit, sizeof(s->limit), "spdp drops (mostly %s)", s->spdp_top);
	else if (bi >= 0)
		snprintf(s->limit, sizeof(s->limit), "%s", c[bi].what);
	else if (s->r.lost)
		snprintf(s->limit, sizeof(s->limit), "%s", server ? "lost in the server (no socket or spdp drop counted)"
							     : "lost (no socket drop counted)");
	else
		snprintf(s->limit, sizeof(s->limit), "duplicated, misrouted or damaged echoes");
}

static const char *const sp_counter_names[] = { "turn_to_peer", "turn_to_client" };

static void run_step(struct ctx *x, struct target *t, const char *kind, double rate, uint32_t ms, struct step *s)
{
	const struct opts *o = x->o;
	double c0, c1, w0, cnt0[2] = { 0, 0 }, cnt1[2] = { 0, 0 };
	int64_t rb0, rb1, dl0, dr0, dp0, dc0;
	cJSON *sd0 = NULL, *sd1 = NULL;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	refresh_allocs(x, t);
	if (tl_step_begin(x->tl, t->group, rate, ms) < 0) {
		snprintf(s->limit, sizeof(s->limit), "tool: out of memory");
		return;
	}
	if (t->kind == T_SP) {
		sd0 = spdp_drops(&t->sp);
		spdp_counters(&t->sp, sp_counter_names, 2, cnt0);
	}
	rb0 = rtpt_snmp_rcvbuf_errors();
	dl0 = drops(t->m_listen);
	dr0 = drops(t->m_relay);
	dp0 = drops(x->m_peer);
	dc0 = drops(x->m_client);
	w0 = bench_now_s();
	c0 = server_cpu(t);

	tl_step_send(x->tl);
	tl_step_drain(x->tl, o->quiet_ms, o->drain_max_ms);

	c1 = server_cpu(t);
	s->window_s = bench_now_s() - w0;
	rb1 = rtpt_snmp_rcvbuf_errors();
	s->drops_listener = drops(t->m_listen) - dl0;
	s->drops_relay = drops(t->m_relay) - dr0;
	s->drops_peer = drops(x->m_peer) - dp0;
	s->drops_client = drops(x->m_client) - dc0;
	s->rcvbuf_errors = rb0 >= 0 && rb1 >= 0 ? rb1 - rb0 : -1;
	s->server_cpu_s = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
	if (t->kind == T_SP) {
		sd1 = spdp_drops(&t->sp);
		spdp_counters(&t->sp, sp_counter_names, 2, cnt1);
		if (sd0 && sd1)
			s->spdp_drops = spdp_drops_delta(sd0, sd1, &s->spdp_dropped, s->spdp_top, sizeof(s->spdp_top));
		s->spdp_to_peer = cnt0[0] >= 0 && cnt1[0] >= 0 ? cnt1[0] - cnt0[0] : -1;
		s->spdp_to_client = cnt0[1] >= 0 && cnt1[1] >= 0 ? cnt1[1] - cnt0[1] : -1;
		cJSON_Delete(sd0);
		cJSON_Delete(sd1);
	}
	tl_step_end(x->tl, &s->r);
	t->bad += s->r.misrouted + s->r.damaged;
	s->on_time = on_time(o, &s->r);
	s->clean = s->on_time && s->r.delivered > 0 && s->r.lost == 0 && s->r.dup == 0 && s->r.misrouted == 0 &&
		   s->r.damaged == 0;
	if (server_dead(t))
		snprintf(s->limit, sizeof(s->limit), "%s", t->dead);
	else
		step_limit(s, t->kind != T_LOOP);
	vlog(o, "%-11s %-6s %7.0f/s: sent %lu delivered %lu lost %lu dup %lu bad %lu, rtt p50 %.0f p99 %.0f us, "
	     "server %.2f s/Mpkt, drops listener %ld relay %ld peer %ld client %ld spdp %.0f%s%s",
	     tgt_name[t->kind], kind, rate, (unsigned long)s->r.sent, (unsigned long)s->r.delivered,
	     (unsigned long)s->r.lost, (unsigned long)s->r.dup, (unsigned long)(s->r.misrouted + s->r.damaged),
	     s->r.rtt_p50_us, s->r.rtt_p99_us,
	     s->r.delivered ? s->server_cpu_s / (2.0 * (double)s->r.delivered / 1e6) : 0, (long)s->drops_listener,
	     (long)s->drops_relay, (long)s->drops_peer, (long)s->drops_client, s->spdp_dropped,
	     s->limit[0] ? ": " : "", s->limit);
}

/* Rung k of the ladder, in whole echoes per second. */
static double rung_rate(const struct opts *o, uint32_t k)
{
	return floor(o->start_rate * pow(o->factor, k) + 0.5);
}

static struct step *new_step(struct target *t)
{
	return t->nsteps < MAX_STEPS ? &t->steps[t->nsteps++] : NULL;
}

/* One rung for one target: a lossy step is tried again (retries) before the
 * target stops climbing. */
static void rung(struct ctx *x, struct target *t, double rate, bool bisecting)
{
	bool clean = false;

	for (uint32_t a = 0; a <= x->o->retries && !bench_stop; a++) {
		struct step *s = new_step(t);
		if (!s)
			break;
		run_step(x, t, a ? "retry" : bisecting ? "bisect" : "ramp", rate, x->o->step_ms, s);
		if ((clean = s->clean) || t->dead[0])
			break;
	}
	if (clean) {
		if (rate > t->best)
			t->best = rate;
	} else {
		if (!t->fail || rate < t->fail)
			t->fail = rate;
		if (!bisecting)
			t->climbing = false;
	}
	if (t->dead[0])
		t->climbing = false;
}

static void ladder(struct ctx *x)
{
	const struct opts *o = x->o;
	enum tgt order[T__COUNT];
	unsigned n = 0;

	for (int k = 0; k < T__COUNT; k++)
		if (x->t[k].up) {
			order[n++] = (enum tgt)k;
			x->t[k].climbing = true;
		}
	/* Warm-up: first packets through fresh sockets and caches. */
	for (unsigned j = 0; j < n && o->warmup_ms && !bench_stop; j++) {
		struct step *s = new_step(&x->t[order[j]]);
		if (s)
			run_step(x, &x->t[order[j]], "warmup", o->start_rate, o->warmup_ms, s);
	}
	for (uint32_t k = 0; k < o->rungs && !bench_stop; k++) {
		double rate = rung_rate(o, k);
		bool any = false;

		if (rate > o->max_rate)
			break;
		/* Rotate who goes first, so neither always follows the other. */
		for (unsigned j = 0; j < n && !bench_stop; j++) {
			struct target *t = &x->t[order[(j + k) % n]];
			if (!t->climbing)
				continue;
			any = true;
			rung(x, t, rate, false);
		}
		if (!any)
			break;
	}
	for (uint32_t i = 0; i < o->bisect && !bench_stop; i++)
		for (unsigned j = 0; j < n && !bench_stop; j++) {
			struct target *t = &x->t[order[(j + i) % n]];
			double mid;
			if (!t->fail || t->dead[0] || (t->best > 0 && t->fail / t->best < 1.03))
				continue;
			mid = floor((t->best > 0 ? sqrt(t->best * t->fail) : t->fail / 2) + 0.5);
			rung(x, t, mid, true);
		}
}

/* The clean step of t at rate (the last one), or NULL. */
static const struct step *clean_at(const struct target *t, double rate)
{
	const struct step *best = NULL;

	for (unsigned i = 0; i < t->nsteps; i++)
		if (t->steps[i].clean && strcmp(t->steps[i].kind, "warmup") && strcmp(t->steps[i].kind, "common") &&
		    fabs(t->steps[i].r.offered_pps - rate) < 0.5)
			best = &t->steps[i];
	return best;
}

static bool common_clean(const struct target *t, uint32_t try)
{
	for (unsigned i = 0; i < t->nsteps; i++)
		if (!strcmp(t->steps[i].kind, "common") && t->steps[i].common_try == try && !t->steps[i].clean)
			return false;
	return true;
}

/* Both servers at one rate below either one's knee, a few times each,
 * interleaved (the loopback target too: the tool's share of the RTT); a
 * quarter lower when a server lost there, twice at most. */
static void common_phase(struct ctx *x)
{
	const struct opts *o = x->o;
	const struct target *sp = &x->t[T_SP], *ct = &x->t[T_COTURN];
	enum tgt order[T__COUNT];
	unsigned n = 0;
	double rate;

	if (!sp->up || !ct->up || sp->dead[0] || ct->dead[0] || sp->best <= 0 || ct->best <= 0 || !o->common_reps)
		return;
	rate = floor((sp->best < ct->best ? sp->best : ct->best) * o->common_frac + 0.5);
	for (int k = 0; k < T__COUNT; k++)
		if (x->t[k].up && !x->t[k].dead[0])
			order[n++] = (enum tgt)k;
	for (uint32_t try = 0; try < 3 && !bench_stop; try++) {
		x->common = rate;
		x->common_try = try;
		for (uint32_t rep = 0; rep < o->common_reps && !bench_stop; rep++)
			for (unsigned j = 0; j < n && !bench_stop; j++) {
				struct target *t = &x->t[order[(j + rep) % n]];
				struct step *s = new_step(t);
				if (!s)
					continue;
				run_step(x, t, "common", rate, o->step_ms, s);
				s->common_try = try;
			}
		if ((common_clean(sp, try) && common_clean(ct, try)) || sp->dead[0] || ct->dead[0])
			break;
		rate = floor(rate * 0.75 + 0.5);
	}
}

/* Medians over a target's common steps. */
struct agg {
	unsigned n, clean;
	double cpu, cores, p50, p99, tool;
};

static double median(double *v, unsigned n)
{
	return bench_percentile(v, n, 50);
}

static bool common_agg(const struct target *t, uint32_t try, struct agg *a)
{
	double cpu[MAX_STEPS], cores[MAX_STEPS], p50[MAX_STEPS], p99[MAX_STEPS], tool[MAX_STEPS];
	unsigned nc = 0;

	memset(a, 0, sizeof(*a));
	for (unsigned i = 0; i < t->nsteps; i++) {
		const struct step *s = &t->steps[i];
		if (strcmp(s->kind, "common") || s->common_try != try || !s->r.delivered)
			continue;
		a->clean += s->clean;
		p50[a->n] = s->r.rtt_p50_us;
		p99[a->n] = s->r.rtt_p99_us;
		tool[a->n++] = s->r.tool_cpu_s / (2.0 * (double)s->r.delivered / 1e6);
		if (s->server_cpu_s >= 0 && s->window_s > 0) {
			cpu[nc] = s->server_cpu_s / (2.0 * (double)s->r.delivered / 1e6);
			cores[nc++] = s->server_cpu_s / s->window_s;
		}
	}
	if (!a->n)
		return false;
	a->p50 = median(p50, a->n);
	a->p99 = median(p99, a->n);
	a->tool = median(tool, a->n);
	a->cpu = nc ? median(cpu, nc) : -1;
	a->cores = nc ? median(cores, nc) : -1;
	return true;
}

/* ------------------------------------------------------------ allocations/s */

static void churn(struct ctx *x)
{
	const struct opts *o = x->o;

	for (uint32_t rep = 0; rep < o->alloc_reps && !bench_stop; rep++)
		for (int j = 0; j < T_LOOP && !bench_stop; j++) {
			struct target *t = &x->t[(j + rep) % T_LOOP];
			struct tc_churn_cfg c = { .server = t->listen, .creds = &x->creds, .sources = o->alloc_sources,
						  .inflight = o->alloc_inflight, .duration_ms = o->alloc_ms,
						  .rto_ms = 500, .tries = 4, .rcvbuf = 1 << 20 };
			struct tc_churn_report *r;
			char why[256];
			double c0, c1;

			if (!t->up || t->dead[0] || t->nchurn == MAX_REPS)
				continue;
			r = &t->churn[t->nchurn];
			c0 = server_cpu(t);
			if (tc_churn(&c, r, why, sizeof(why)) < 0) {
				snprintf(t->why, sizeof(t->why), "%s: allocation churn: %s", tgt_name[t->kind], why);
				t->failed = true;
				continue;
			}
			c1 = server_cpu(t);
			bench_sleep_ms(100); /* the last frees reach the server */
			t->relay_sockets[t->nchurn] = relay_sockets(t->relay_min, t->relay_max);
			t->churn_cpu[t->nchurn++] = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
			vlog(o, "%-11s allocs: %.0f/s (%lu in %.1f s), freed %lu, timeouts %lu, retransmits %lu, "
			     "left %lu, p50 %.2f ms p99 %.2f ms, server %.3f ms CPU/alloc, %d relay sockets after",
			     tgt_name[t->kind], (double)r->allocs / r->window_s, (unsigned long)r->allocs, r->window_s,
			     (unsigned long)r->freed, (unsigned long)r->timeouts, (unsigned long)r->retransmits,
			     (unsigned long)r->left, r->cycle_p50_ms, r->cycle_p99_ms,
			     r->allocs ? t->churn_cpu[t->nchurn - 1] * 1e3 / (double)r->allocs : 0,
			     t->relay_sockets[t->nchurn - 1]);
			if (server_dead(t))
				break;
		}
}

static double allocs_per_s(const struct target *t)
{
	double v[MAX_REPS];

	for (unsigned i = 0; i < t->nchurn; i++)
		v[i] = t->churn[i].window_s > 0 ? (double)t->churn[i].allocs / t->churn[i].window_s : 0;
	return t->nchurn ? median(v, t->nchurn) : 0;
}

/* ------------------------------------------------------------ JSON */

static double cpu_per_mpkt(const struct step *s)
{
	/* Relayed packets: every echo delivered crossed the relay twice. */
	return s->r.delivered && s->server_cpu_s >= 0 ? s->server_cpu_s / (2.0 * (double)s->r.delivered / 1e6) : -1;
}

static void put_num(cJSON *o, const char *k, double v)
{
	if (v >= 0 && isfinite(v))
		cJSON_AddNumberToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static cJSON *step_json(const struct step *s, bool server)
{
	cJSON *o = cJSON_CreateObject();
	double send_s = s->r.send_s > 0 ? s->r.send_s : s->r.ms / 1000.0;

	cJSON_AddStringToObject(o, "kind", s->kind);
	if (!strcmp(s->kind, "common"))
		cJSON_AddNumberToObject(o, "common_try", s->common_try);
	cJSON_AddNumberToObject(o, "offered_echo_pps", s->r.offered_pps);
	cJSON_AddNumberToObject(o, "offered_relayed_pps", 2 * s->r.offered_pps);
	cJSON_AddNumberToObject(o, "duration_ms", s->r.ms);
	cJSON_AddNumberToObject(o, "sent", (double)s->r.sent);
	cJSON_AddNumberToObject(o, "send_failed", (double)s->r.send_failed);
	cJSON_AddNumberToObject(o, "delivered", (double)s->r.delivered);
	cJSON_AddNumberToObject(o, "lost", (double)s->r.lost);
	cJSON_AddNumberToObject(o, "duplicated", (double)s->r.dup);
	cJSON_AddNumberToObject(o, "misrouted", (double)s->r.misrouted);
	cJSON_AddNumberToObject(o, "damaged", (double)s->r.damaged);
	cJSON_AddNumberToObject(o, "stale", (double)s->r.stale);
	cJSON_AddNumberToObject(o, "not_channeldata", (double)s->r.not_chdata);
	cJSON_AddNumberToObject(o, "delivered_echo_pps", (double)s->r.delivered / (send_s + 1.0 / s->r.offered_pps));
	cJSON_AddNumberToObject(o, "relayed_pps", 2.0 * (double)s->r.delivered / (send_s + 1.0 / s->r.offered_pps));
	cJSON_AddNumberToObject(o, "late_ms", s->r.late_s * 1e3);
	cJSON_AddNumberToObject(o, "drain_ms", s->r.drain_s * 1e3);
	{
		cJSON *l = cJSON_AddObjectToObject(o, "rtt_us");
		put_num(l, "p50", s->r.rtt_n ? s->r.rtt_p50_us : -1);
		put_num(l, "p99", s->r.rtt_n ? s->r.rtt_p99_us : -1);
		put_num(l, "max", s->r.rtt_n ? s->r.rtt_max_us : -1);
		cJSON_AddNumberToObject(l, "samples", (double)s->r.rtt_n);
	}
	if (server) {
		put_num(o, "server_cpu_s", s->server_cpu_s);
		put_num(o, "server_cpu_s_per_mpkt", cpu_per_mpkt(s));
		put_num(o, "server_cores", s->window_s > 0 && s->server_cpu_s >= 0 ? s->server_cpu_s / s->window_s : -1);
	}
	cJSON_AddNumberToObject(o, "tool_cpu_s_per_mpkt",
				s->r.delivered ? s->r.tool_cpu_s / (2.0 * (double)s->r.delivered / 1e6) : 0);
	cJSON_AddNumberToObject(o, "peer_echoed", (double)s->r.peer_echoed);
	{
		cJSON *d = cJSON_AddObjectToObject(o, "kernel_drops");
		if (server) {
			cJSON_AddNumberToObject(d, "server_listener", (double)s->drops_listener);
			cJSON_AddNumberToObject(d, "server_relay", (double)s->drops_relay);
		}
		cJSON_AddNumberToObject(d, "tool_peers", (double)s->drops_peer);
		cJSON_AddNumberToObject(d, "tool_clients", (double)s->drops_client);
		cJSON_AddNumberToObject(d, "udp_rcvbuf_errors_system_wide", (double)s->rcvbuf_errors);
	}
	if (s->spdp_drops) {
		cJSON_AddItemToObject(o, "spdp_drops", cJSON_Duplicate(s->spdp_drops, 1));
		put_num(o, "spdp_turn_to_peer", s->spdp_to_peer);
		put_num(o, "spdp_turn_to_client", s->spdp_to_client);
	}
	cJSON_AddBoolToObject(o, "on_time", s->on_time);
	cJSON_AddBoolToObject(o, "clean", s->clean);
	if (s->limit[0])
		cJSON_AddStringToObject(o, "limited_by", s->limit);
	return o;
}

/* The figures a comparison uses, from one clean step. */
static cJSON *at_json(const struct step *s, bool server)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "offered_echo_pps", s->r.offered_pps);
	cJSON_AddNumberToObject(o, "relayed_pps", 2 * s->r.offered_pps);
	if (server) {
		put_num(o, "server_cpu_s_per_mpkt", cpu_per_mpkt(s));
		put_num(o, "server_cores", s->window_s > 0 && s->server_cpu_s >= 0 ? s->server_cpu_s / s->window_s : -1);
	}
	put_num(o, "rtt_p50_us", s->r.rtt_n ? s->r.rtt_p50_us : -1);
	put_num(o, "rtt_p99_us", s->r.rtt_n ? s->r.rtt_p99_us : -1);
	cJSON_AddNumberToObject(o, "tool_cpu_s_per_mpkt",
				s->r.delivered ? s->r.tool_cpu_s / (2.0 * (double)s->r.delivered / 1e6) : 0);
	return o;
}

/* Why the target's first lossy rate was lossy (its last try there). */
static const char *first_limit(const struct target *t)
{
	const char *why = NULL;

	for (unsigned i = 0; t->fail > 0 && i < t->nsteps; i++)
		if (!t->steps[i].clean && strcmp(t->steps[i].kind, "warmup") &&
		    fabs(t->steps[i].r.offered_pps - t->fail) < 0.5 && t->steps[i].limit[0])
			why = t->steps[i].limit;
	return why;
}

static cJSON *churn_json(const struct ctx *x, const struct target *t)
{
	cJSON *o = cJSON_CreateObject(), *reps = cJSON_AddArrayToObject(o, "reps");
	double cpu[MAX_REPS];
	unsigned nc = 0;

	put_num(o, "allocs_per_s", t->nchurn ? allocs_per_s(t) : -1);
	cJSON_AddNumberToObject(o, "traffic_allocations", x->o->allocs);
	for (unsigned i = 0; i < t->nchurn; i++) {
		const struct tc_churn_report *r = &t->churn[i];
		cJSON *e = cJSON_CreateObject(), *codes;
		cJSON_AddNumberToObject(e, "allocs_per_s", r->window_s > 0 ? (double)r->allocs / r->window_s : 0);
		cJSON_AddNumberToObject(e, "allocs", (double)r->allocs);
		cJSON_AddNumberToObject(e, "window_s", r->window_s);
		cJSON_AddNumberToObject(e, "freed", (double)r->freed);
		cJSON_AddNumberToObject(e, "requests", (double)r->requests);
		cJSON_AddNumberToObject(e, "retransmits", (double)r->retransmits);
		cJSON_AddNumberToObject(e, "timeouts", (double)r->timeouts);
		cJSON_AddNumberToObject(e, "stale_nonce", (double)r->stale_nonce);
		cJSON_AddNumberToObject(e, "unverified", (double)r->unverified);
		cJSON_AddNumberToObject(e, "stray", (double)r->stray);
		cJSON_AddNumberToObject(e, "left_allocated", (double)r->left);
		/* The traffic's allocations stay; more sockets than those and the
		 * ones left allocated means relay sockets outlive their allocation. */
		cJSON_AddNumberToObject(e, "relay_sockets_after", t->relay_sockets[i]);
		cJSON_AddNumberToObject(e, "cycle_p50_ms", r->cycle_p50_ms);
		cJSON_AddNumberToObject(e, "cycle_p99_ms", r->cycle_p99_ms);
		put_num(e, "server_cpu_s", t->churn_cpu[i]);
		if (r->allocs && t->churn_cpu[i] >= 0) {
			cpu[nc++] = t->churn_cpu[i] * 1e3 / (double)r->allocs;
			cJSON_AddNumberToObject(e, "server_cpu_ms_per_alloc", cpu[nc - 1]);
		}
		codes = cJSON_AddObjectToObject(e, "error_answers");
		for (int k = 0; k < TC_MAX_CODES && r->code_n[k]; k++) {
			char key[16];
			snprintf(key, sizeof(key), "%u", r->code[k]);
			cJSON_AddNumberToObject(codes, key, (double)r->code_n[k]);
		}
		cJSON_AddItemToArray(reps, e);
	}
	put_num(o, "server_cpu_ms_per_alloc", nc ? median(cpu, nc) : -1);
	return o;
}

static cJSON *target_json(const struct ctx *x, const struct target *t)
{
	cJSON *o = cJSON_CreateObject(), *steps;
	bool server = t->kind != T_LOOP;
	const struct step *s;
	struct agg a;

	cJSON_AddStringToObject(o, "target", tgt_name[t->kind]);
	cJSON_AddStringToObject(o, "kind", t->kind == T_SP ? "streampoint" : t->kind == T_COTURN ? "baseline"
												: "tool ceiling");
	if (t->skipped) {
		cJSON_AddStringToObject(o, "skipped", t->why);
		return o;
	}
	if (t->why[0])
		cJSON_AddStringToObject(o, "error", t->why);
	if (t->argv)
		cJSON_AddItemToObject(o, "server", cJSON_Duplicate(t->argv, 1));
	if (t->info)
		cJSON_AddItemToObject(o, "setup", cJSON_Duplicate(t->info, 1));
	cJSON_AddNumberToObject(o, "allocations", x->o->allocs);
	cJSON_AddNumberToObject(o, "lossless_echo_pps", t->best);
	cJSON_AddNumberToObject(o, "lossless_relayed_pps", 2 * t->best);
	put_num(o, "first_lossy_echo_pps", t->fail > 0 ? t->fail : -1);
	if (first_limit(t))
		cJSON_AddStringToObject(o, "limited_by", first_limit(t));
	else if (!t->fail)
		cJSON_AddStringToObject(o, "limited_by", "not reached: the ladder ended clean (--rungs, --max-rate)");
	if ((s = t->best > 0 ? clean_at(t, t->best) : NULL))
		cJSON_AddItemToObject(o, "at_lossless", at_json(s, server));
	if (common_agg(t, x->common_try, &a)) {
		cJSON *c = cJSON_AddObjectToObject(o, "at_common");
		cJSON_AddNumberToObject(c, "offered_echo_pps", x->common);
		cJSON_AddNumberToObject(c, "relayed_pps", 2 * x->common);
		cJSON_AddNumberToObject(c, "steps", a.n);
		cJSON_AddNumberToObject(c, "clean_steps", a.clean);
		if (server) {
			put_num(c, "server_cpu_s_per_mpkt", a.cpu);
			put_num(c, "server_cores", a.cores);
		}
		cJSON_AddNumberToObject(c, "rtt_p50_us", a.p50);
		cJSON_AddNumberToObject(c, "rtt_p99_us", a.p99);
		cJSON_AddNumberToObject(c, "tool_cpu_s_per_mpkt", a.tool);
		cJSON_AddStringToObject(c, "note", "medians over the common steps");
	}
	if (t->kind != T_LOOP)
		cJSON_AddItemToObject(o, "allocations_churn", churn_json(x, t));
	if (t->turn_stats) {
		cJSON *ts = cJSON_AddObjectToObject(o, "spcp_turn");
		cJSON_AddItemToObject(ts, "counts",
				      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t->turn_stats, "counts"), 1));
		cJSON_AddItemToObject(ts, "link",
				      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t->turn_stats, "link"), 1));
	}
	steps = cJSON_AddArrayToObject(o, "steps");
	for (unsigned i = 0; i < t->nsteps; i++)
		cJSON_AddItemToArray(steps, step_json(&t->steps[i], server));
	if (t->dead[0])
		cJSON_AddStringToObject(o, "died", t->dead);
	if (t->kind == T_SP && t->sp.end_status[0]) {
		cJSON_AddStringToObject(o, "spdp_exit", t->sp.end_status);
		cJSON_AddStringToObject(o, "spcp_exit", t->sp.cp_end_status);
	}
	if (t->kind == T_COTURN && t->ct_status[0])
		cJSON_AddStringToObject(o, "turnserver_exit", t->ct_status);
	return o;
}

static void ratio_put(cJSON *r, const char *k, double a, double b)
{
	if (a > 0 && b > 0)
		cJSON_AddNumberToObject(r, k, a / b);
	else
		cJSON_AddNullToObject(r, k);
}

/* ------------------------------------------------------------ options */

static void usage(FILE *to)
{
	fprintf(to,
"usage: spbench turn [options]\n"
"  TURN relay side by side: streampoint (spdp + spcp) vs coturn (turnserver), both started\n"
"  here on loopback, same load from spbench's TURN client: lossless relayed packets/s, RTT,\n"
"  server CPU per relayed packet, allocations/s; plus the tool's own loopback ceiling.\n"
"  --preset P          quick (CI, ~10 s) or full (real figures, ~4 min); default quick\n"
"  --targets LIST      streampoint,coturn,loopback (default all)\n"
"  --allocs N          TURN allocations per server carrying traffic (quick 8, full 32)\n"
"  --peers N           echo peer sockets (quick 2, full 4)\n"
"  --size BYTES        ChannelData payload (default 200; the datagram is 4 more)\n"
"  --start-rate PPS    first rung, echoes/s offered (quick 5000, full 20000)\n"
"  --factor F          next rung = rung x F (quick 2, full 1.4)\n"
"  --rungs N           rungs at most (quick 3, full 16)\n"
"  --max-rate PPS      highest echoes/s offered (default 2000000)\n"
"  --step-ms MS        one step (quick 500, full 3000)\n"
"  --retries N         a lossy rung is tried again N times before a target stops (quick 0, full 1)\n"
"  --bisect N          steps between the last clean rung and the first lossy one (quick 0, full 3)\n"
"  --warmup-ms MS      warm-up step per target at the first rung (quick 200, full 500)\n"
"  --common-frac F     common rate = F x the lower lossless rate of the two servers (0.8)\n"
"  --common-reps N     steps per target at the common rate, medians reported (quick 1, full 3)\n"
"  --alloc-ms MS       allocation churn window (quick 1000, full 5000)\n"
"  --alloc-inflight W  allocation cycles in flight (quick 16, full 32)\n"
"  --alloc-sources S   client sockets (own 127.1.x.y address each) the churn rotates over\n"
"                      (default 1000)\n"
"  --alloc-reps N      churn runs per server, interleaved, median reported (quick 1, full 3)\n"
"  --workers N         spdp workers = coturn --relay-threads (default 1)\n"
"  --server-cpu C      pin every server process to CPU C (default 0)\n"
"  --tool-cpu C        pin spbench's threads to CPU C (default 1)\n"
"  --no-pin            no pinning (servers and tool share every CPU)\n"
"  --port P            streampoint's listener 127.0.0.1:P; coturn P+1; peers P+2.. (45478)\n"
"  --sp-relay LO-HI    streampoint's relay ports (46000-47999)\n"
"  --coturn-relay LO-HI coturn's relay ports (48000-49999)\n"
"  --turnserver PATH   coturn's server (default /usr/bin/turnserver)\n"
"  --build-dir DIR     where dataplane/spdp and controlplane/spcp are (default: spbench's)\n"
"  --rcvbuf BYTES      the tool's socket receive buffers (default 8M)\n"
"  --batch N           sendmmsg/recvmmsg batch (default 64)\n"
"  --tick-us US        sender pacing period (default 250)\n"
"  --out FILE          JSON there instead of stdout\n"
"  --keep              keep the servers' logs and temp dirs\n"
"  -v, --verbose       one line per step on stderr\n");
}

static int parse_range(const char *s, uint32_t r[2])
{
	unsigned lo, hi;
	char c;

	if (sscanf(s, "%u-%u%c", &lo, &hi, &c) != 2 || lo < 1024 || hi > 65535 || lo > hi)
		return -1;
	r[0] = lo;
	r[1] = hi;
	return 0;
}

static int parse_cpu(const char *s, int *out)
{
	uint32_t u;

	if (bench_parse_u32(s, 0, CPU_SETSIZE - 1, &u))
		return -1;
	*out = (int)u;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_PRESET = 256, O_TARGETS, O_ALLOCS, O_PEERS, O_SIZE, O_START, O_FACTOR, O_RUNGS, O_MAXRATE,
	       O_STEP, O_RETRIES, O_BISECT, O_WARMUP, O_AMS, O_AINF, O_ASRC, O_AREPS, O_WORKERS, O_SCPU,
	       O_TCPU, O_NOPIN, O_PORT, O_SPRELAY, O_CTRELAY, O_TURNSERVER, O_BUILD, O_RCVBUF, O_BATCH,
	       O_TICK, O_CFRAC, O_CREPS, O_OUT, O_KEEP };
	static const struct option lo[] = {
		{ "preset", required_argument, NULL, O_PRESET }, { "targets", required_argument, NULL, O_TARGETS },
		{ "allocs", required_argument, NULL, O_ALLOCS }, { "peers", required_argument, NULL, O_PEERS },
		{ "size", required_argument, NULL, O_SIZE }, { "start-rate", required_argument, NULL, O_START },
		{ "factor", required_argument, NULL, O_FACTOR }, { "rungs", required_argument, NULL, O_RUNGS },
		{ "max-rate", required_argument, NULL, O_MAXRATE }, { "step-ms", required_argument, NULL, O_STEP },
		{ "retries", required_argument, NULL, O_RETRIES }, { "bisect", required_argument, NULL, O_BISECT },
		{ "warmup-ms", required_argument, NULL, O_WARMUP }, { "alloc-ms", required_argument, NULL, O_AMS },
		{ "alloc-inflight", required_argument, NULL, O_AINF },
		{ "alloc-sources", required_argument, NULL, O_ASRC },
		{ "alloc-reps", required_argument, NULL, O_AREPS }, { "workers", required_argument, NULL, O_WORKERS },
		{ "server-cpu", required_argument, NULL, O_SCPU }, { "tool-cpu", required_argument, NULL, O_TCPU },
		{ "no-pin", no_argument, NULL, O_NOPIN }, { "port", required_argument, NULL, O_PORT },
		{ "sp-relay", required_argument, NULL, O_SPRELAY },
		{ "coturn-relay", required_argument, NULL, O_CTRELAY },
		{ "turnserver", required_argument, NULL, O_TURNSERVER },
		{ "build-dir", required_argument, NULL, O_BUILD }, { "rcvbuf", required_argument, NULL, O_RCVBUF },
		{ "batch", required_argument, NULL, O_BATCH }, { "tick-us", required_argument, NULL, O_TICK },
		{ "common-frac", required_argument, NULL, O_CFRAC },
		{ "common-reps", required_argument, NULL, O_CREPS },
		{ "out", required_argument, NULL, O_OUT }, { "keep", no_argument, NULL, O_KEEP },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Explicit options override the preset, whatever their order. */
	int64_t v[O_KEEP - O_PRESET + 1];
	double start = -1, factor = -1;
	char exe[PATH_MAX], *slash;
	uint64_t v64;
	int opt;

	memset(o, 0, sizeof(*o));
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		v[i] = -1;
	for (int k = 0; k < T__COUNT; k++)
		o->on[k] = true;
	o->size = 200;
	o->max_rate = 2000000;
	o->workers = 1;
	o->pin = true;
	o->server_cpu = 0;
	o->tool_cpu = 1;
	o->port = 45478;
	o->sp_relay[0] = 46000;
	o->sp_relay[1] = 47999;
	o->ct_relay[0] = 48000;
	o->ct_relay[1] = 49999;
	o->turnserver = "/usr/bin/turnserver";
	o->rcvbuf = 8 << 20;
	o->batch = 64;
	o->tick_us = 250;
	o->common_frac = 0.8;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		uint32_t u;
		switch (opt) {
		case O_PRESET:
			if (strcmp(optarg, "quick") && strcmp(optarg, "full"))
				goto bad;
			o->full = !strcmp(optarg, "full");
			break;
		case O_TARGETS: {
			char buf[128], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (int k = 0; k < T__COUNT; k++)
				o->on[k] = false;
			for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int k;
				for (k = 0; k < T__COUNT && strcmp(tok, tgt_name[k]); k++)
					;
				if (k == T__COUNT)
					goto bad;
				o->on[k] = true;
			}
			break;
		}
		case O_START:
			if (bench_parse_u32(optarg, 10, 100000000, &u)) goto bad;
			start = u;
			break;
		case O_FACTOR:
			factor = atof(optarg);
			if (factor <= 1.01 || factor > 10) goto bad;
			break;
		case O_MAXRATE:
			if (bench_parse_u32(optarg, 10, 100000000, &u)) goto bad;
			o->max_rate = u;
			break;
		case O_SIZE:
			if (bench_parse_u32(optarg, TL_MIN_SIZE, 1400, &o->size)) goto bad;
			break;
		case O_WORKERS:
			if (bench_parse_u32(optarg, 1, 64, &o->workers)) goto bad;
			break;
		case O_SCPU:
			if (parse_cpu(optarg, &o->server_cpu)) goto bad;
			break;
		case O_TCPU:
			if (parse_cpu(optarg, &o->tool_cpu)) goto bad;
			break;
		case O_NOPIN: o->pin = false; break;
		case O_PORT:
			if (bench_parse_u32(optarg, 1024, 65000, &o->port)) goto bad;
			break;
		case O_SPRELAY:
			if (parse_range(optarg, o->sp_relay)) goto bad;
			break;
		case O_CTRELAY:
			if (parse_range(optarg, o->ct_relay)) goto bad;
			break;
		case O_TURNSERVER: o->turnserver = optarg; break;
		case O_BUILD:
			snprintf(o->build_dir, sizeof(o->build_dir), "%s", optarg);
			break;
		case O_RCVBUF:
			if (bench_parse_size(optarg, &v64) < 0 || v64 > (1u << 30)) goto bad;
			o->rcvbuf = (int)v64;
			break;
		case O_BATCH:
			if (bench_parse_u32(optarg, 1, 1024, &o->batch)) goto bad;
			break;
		case O_TICK:
			if (bench_parse_u32(optarg, 10, 100000, &o->tick_us)) goto bad;
			break;
		case O_CFRAC:
			o->common_frac = atof(optarg);
			if (o->common_frac < 0.05 || o->common_frac > 1) goto bad;
			break;
		case O_OUT: o->out = optarg; break;
		case O_KEEP: o->keep = true; break;
		case O_ALLOCS: case O_PEERS: case O_RUNGS: case O_STEP: case O_RETRIES: case O_BISECT:
		case O_WARMUP: case O_AMS: case O_AINF: case O_ASRC: case O_AREPS: case O_CREPS: {
			static const uint32_t lim[][2] = {
				[O_ALLOCS - O_PRESET] = { 1, 4096 }, [O_PEERS - O_PRESET] = { 1, 64 },
				[O_RUNGS - O_PRESET] = { 1, 60 }, [O_STEP - O_PRESET] = { 50, 600000 },
				[O_RETRIES - O_PRESET] = { 0, 5 }, [O_BISECT - O_PRESET] = { 0, 10 },
				[O_WARMUP - O_PRESET] = { 0, 60000 }, [O_AMS - O_PRESET] = { 0, 600000 },
				[O_AINF - O_PRESET] = { 1, 4096 }, [O_ASRC - O_PRESET] = { 1, 62500 },
				[O_AREPS - O_PRESET] = { 1, MAX_REPS }, [O_CREPS - O_PRESET] = { 0, 10 },
			};
			if (bench_parse_u32(optarg, lim[opt - O_PRESET][0], lim[opt - O_PRESET][1], &u)) goto bad;
			v[opt - O_PRESET] = u;
			break;
		}
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
		fprintf(stderr, "spbench turn: bad value '%s' for --%s\n", optarg,
			opt >= O_PRESET && opt <= O_KEEP ? lo[opt - O_PRESET].name : "?");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "spbench turn: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
#define PICK(id, q, f) (v[(id) - O_PRESET] >= 0 ? (uint32_t)v[(id) - O_PRESET] : o->full ? (f) : (q))
	o->allocs = PICK(O_ALLOCS, 8, 32);
	o->peers = PICK(O_PEERS, 2, 4);
	o->rungs = PICK(O_RUNGS, 3, 16);
	o->step_ms = PICK(O_STEP, 500, 3000);
	o->retries = PICK(O_RETRIES, 0, 1);
	o->bisect = PICK(O_BISECT, 0, 3);
	o->warmup_ms = PICK(O_WARMUP, 200, 500);
	o->alloc_ms = PICK(O_AMS, 1000, 5000);
	o->alloc_inflight = PICK(O_AINF, 16, 32);
	o->alloc_sources = PICK(O_ASRC, 1000, 1000);
	o->alloc_reps = PICK(O_AREPS, 1, 3);
	o->common_reps = PICK(O_CREPS, 1, 3);
#undef PICK
	o->start_rate = start > 0 ? start : o->full ? 20000 : 5000;
	o->factor = factor > 0 ? factor : o->full ? 1.4 : 2;
	o->quiet_ms = o->full ? 300 : 200;
	o->drain_max_ms = o->full ? 3000 : 1500;
	if (o->alloc_inflight > o->alloc_sources) {
		fprintf(stderr, "spbench turn: --alloc-inflight %u > --alloc-sources %u\n", o->alloc_inflight,
			o->alloc_sources);
		return -1;
	}
	if (o->port + 1 + o->peers > 65535) {
		fprintf(stderr, "spbench turn: --port %u leaves no room for the peers\n", o->port);
		return -1;
	}
	bench_exe_dir(exe, sizeof(exe));
	if (!o->build_dir[0]) {
		if ((slash = strrchr(exe, '/')))
			*slash = 0;
		snprintf(o->build_dir, sizeof(o->build_dir), "%.1000s", exe);
	}
	return 0;
}

/* ------------------------------------------------------------ main */

/* Pins this thread (and the threads it starts) to cpu; false if not
 * possible (one CPU allowed, or no such CPU). */
static bool pin_self(int cpu, int other)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(cpu, &set) || !CPU_ISSET(other, &set) ||
	    cpu == other)
		return false;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

static int setup_targets(struct ctx *x, char *why, size_t len)
{
	const struct opts *o = x->o;
	struct tl_cfg lc = { .peers = o->peers, .peer_port = (uint16_t)(o->port + 2), .size = o->size,
			     .rcvbuf = o->rcvbuf, .batch = o->batch, .tick_us = o->tick_us };

	if (!(x->tl = tl_create(&lc, why, len)))
		return -1;
	for (int k = 0; k < T__COUNT; k++) {
		struct target *t = &x->t[k];
		t->kind = (enum tgt)k;
		t->group = -1;
		t->on = o->on[k];
		if (t->kind == T_SP)
			t->sp.ctl = -1;
		if (!t->on)
			continue;
		t->listen = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
						  .sin_port = htons((uint16_t)(o->port + (k == T_COTURN))) };
		t->group = tl_group_add(x->tl, tgt_name[k], o->allocs, k == T_LOOP, t->why, sizeof(t->why));
		if (t->group < 0) {
			snprintf(why, len, "%s", t->why);
			return -1;
		}
	}
	return 0;
}

static void start_targets(struct ctx *x)
{
	const struct opts *o = x->o;

	for (int k = 0; k < T__COUNT && !bench_stop; k++) {
		struct target *t = &x->t[k];
		int rc = 0;

		if (!t->on)
			continue;
		vlog(o, "starting %s", tgt_name[k]);
		if (k == T_SP)
			rc = start_sp(x, t);
		else if (k == T_COTURN)
			rc = start_coturn(x, t);
		if (rc == 0 && k != T_LOOP)
			rc = setup_allocs(x, t);
		if (rc) {
			if (!t->skipped)
				t->failed = true;
			fprintf(stderr, "spbench turn: %s%s\n", t->skipped ? "skipped: " : "", t->why);
			continue;
		}
		if (k != T_LOOP) {
			t->m_listen = mask_new();
			t->m_relay = mask_new();
			if (t->m_listen && t->m_relay) {
				mask_range(t->m_listen, ntohs(t->listen.sin_port), ntohs(t->listen.sin_port));
				mask_range(t->m_relay, t->relay_min, t->relay_max);
			}
		}
		record_info(x, t);
		t->up = true;
	}
}

int bench_turn_main(int argc, char **argv)
{
	struct opts o;
	struct ctx x;
	cJSON *root, *params, *results, *baselines, *ratios, *goals;
	char why[512] = "";
	int rc, exit_code = 0;
	double t0 = bench_now_s();
	bool pinned = false;
	struct target *sp, *ct, *lb;
	struct agg sa, ca;
	bool have_sa, have_ca;

	if ((rc = parse_opts(argc, argv, &o)))
		return rc > 0 ? 0 : 2;
	memset(&x, 0, sizeof(x));
	x.o = &o;
	x.creds = (struct tc_creds){ USER, PASSWORD };
	sp = &x.t[T_SP];
	ct = &x.t[T_COTURN];
	lb = &x.t[T_LOOP];
	bench_catch_signals();
	prctl(PR_SET_TIMERSLACK, 1000UL);
	if (o.pin && !(pinned = pin_self(o.tool_cpu, o.server_cpu)))
		fprintf(stderr, "spbench turn: cannot pin to CPUs %d/%d: not pinned\n", o.server_cpu, o.tool_cpu);
	if (!pinned)
		o.pin = false;

	x.m_peer = mask_new();
	x.m_client = mask_new();
	if (!x.m_peer || !x.m_client || setup_targets(&x, why, sizeof(why)) < 0) {
		fprintf(stderr, "spbench turn: %s\n", why[0] ? why : "out of memory");
		tl_destroy(x.tl);
		return 1;
	}
	tl_ports_mask(x.tl, true, x.m_peer);
	tl_ports_mask(x.tl, false, x.m_client);
	start_targets(&x);
	if ((rc = tl_start(x.tl)) < 0) {
		fprintf(stderr, "spbench turn: threads: %s\n", strerror(-rc));
		exit_code = 1;
	} else {
		ladder(&x);
		common_phase(&x);
		churn(&x);
	}
	for (int k = 0; k < T__COUNT; k++)
		if (x.t[k].on && !x.t[k].skipped) {
			server_dead(&x.t[k]);
			if (x.t[k].dead[0] || x.t[k].bad)
				x.t[k].failed = true;
		}
	tl_destroy(x.tl);
	for (int k = 0; k < T__COUNT; k++)
		if (x.t[k].on)
			stop_target(&x.t[k], o.keep);
	/* A sanitizer report at exit is a failure too. */
	if (sp->up && !sp->dead[0] &&
	    (!proc_ended_cleanly(sp->sp.end_status) || !proc_ended_cleanly(sp->sp.cp_end_status))) {
		snprintf(sp->why, sizeof(sp->why), "spdp ended: %s; spcp ended: %s", sp->sp.end_status,
			 sp->sp.cp_end_status);
		sp->failed = true;
	}
	have_sa = common_agg(sp, x.common_try, &sa);
	have_ca = common_agg(ct, x.common_try, &ca);

	/* ---- JSON ---- */
	root = bench_envelope("turn");
	if (!root)
		return 1;
	{
		cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "machine");
		cJSON_AddBoolToObject(m, "pinned", o.pin);
		if (o.pin) {
			cJSON_AddNumberToObject(m, "server_cpu", o.server_cpu);
			cJSON_AddNumberToObject(m, "tool_cpu", o.tool_cpu);
		}
	}
	params = cJSON_AddObjectToObject(root, "params");
	cJSON_AddStringToObject(params, "preset", o.full ? "full" : "quick");
	{
		cJSON *a = cJSON_AddArrayToObject(params, "targets");
		for (int k = 0; k < T__COUNT; k++)
			if (o.on[k])
				cJSON_AddItemToArray(a, cJSON_CreateString(tgt_name[k]));
	}
	cJSON_AddNumberToObject(params, "allocations", o.allocs);
	cJSON_AddNumberToObject(params, "peers", o.peers);
	cJSON_AddNumberToObject(params, "payload_bytes", o.size);
	cJSON_AddNumberToObject(params, "channeldata_bytes", o.size + 4);
	cJSON_AddNumberToObject(params, "start_echo_pps", o.start_rate);
	cJSON_AddNumberToObject(params, "factor", o.factor);
	cJSON_AddNumberToObject(params, "rungs", o.rungs);
	cJSON_AddNumberToObject(params, "max_echo_pps", o.max_rate);
	cJSON_AddNumberToObject(params, "step_ms", o.step_ms);
	cJSON_AddNumberToObject(params, "retries", o.retries);
	cJSON_AddNumberToObject(params, "bisect", o.bisect);
	cJSON_AddNumberToObject(params, "warmup_ms", o.warmup_ms);
	cJSON_AddNumberToObject(params, "drain_quiet_ms", o.quiet_ms);
	cJSON_AddNumberToObject(params, "drain_max_ms", o.drain_max_ms);
	cJSON_AddNumberToObject(params, "tick_us", o.tick_us);
	cJSON_AddNumberToObject(params, "batch", o.batch);
	cJSON_AddNumberToObject(params, "tool_rcvbuf", o.rcvbuf);
	cJSON_AddNumberToObject(params, "alloc_ms", o.alloc_ms);
	cJSON_AddNumberToObject(params, "alloc_inflight", o.alloc_inflight);
	cJSON_AddNumberToObject(params, "alloc_sources", o.alloc_sources);
	cJSON_AddNumberToObject(params, "alloc_reps", o.alloc_reps);
	cJSON_AddNumberToObject(params, "workers", o.workers);
	{
		cJSON *p = cJSON_AddObjectToObject(params, "pinning");
		cJSON_AddBoolToObject(p, "pinned", o.pin);
		if (o.pin) {
			cJSON_AddNumberToObject(p, "server_cpu", o.server_cpu);
			cJSON_AddNumberToObject(p, "tool_cpu", o.tool_cpu);
			cJSON_AddStringToObject(p, "note", "every thread of spdp, spcp and turnserver on server_cpu; "
							   "spbench's sender, receiver, echo peers and churn on tool_cpu");
		} else {
			cJSON_AddStringToObject(p, "note", "servers and tool share every CPU");
		}
	}
	cJSON_AddStringToObject(params, "relayed",
				"relayed packets = 2 x echoes delivered: each echo crosses the relay client -> peer "
				"and peer -> client; *_echo_pps count ChannelData messages the clients sent");
	cJSON_AddStringToObject(params, "lossless",
				"the highest offered step with 0 lost, no duplicate, misrouted or damaged echo, and "
				"the sender on schedule; rungs are interleaved between targets");
	cJSON_AddStringToObject(params, "rtt", "kernel arrival stamp of the echo at the client (SO_TIMESTAMPNS) "
					       "minus the send time in its payload: includes the echo peer's turn");
	cJSON_AddStringToObject(params, "cpu", "utime + stime from /proc/<pid>/stat over the step and its drain, "
					       "all threads: spdp + spcp, or turnserver; per million relayed packets");
	cJSON_AddStringToObject(params, "churn",
				"cycles of Allocate (401, then authenticated Allocate) and Refresh LIFETIME=0, "
				"alloc_inflight at once, over alloc_sources sockets on their own 127.1.x.y address "
				"(spcp limits 401s per source IP, 50/s by default, as many clients would meet it); "
				"allocs_per_s = successful authenticated Allocates / window, median of the reps");
	cJSON_AddStringToObject(params, "realm", REALM);
	cJSON_AddStringToObject(params, "relay_address", RELAY_IP);
	cJSON_AddNumberToObject(params, "common_frac", o.common_frac);
	cJSON_AddNumberToObject(params, "common_reps", o.common_reps);
	cJSON_AddNumberToObject(params, "common_echo_pps", x.common);
	cJSON_AddNumberToObject(params, "common_relayed_pps", 2 * x.common);
	cJSON_AddNumberToObject(params, "common_tries", x.common ? x.common_try + 1 : 0);
	cJSON_AddStringToObject(params, "common",
				"common_frac x the lower of the two servers' lossless rates; common_reps steps there per "
				"target, interleaved; if a server lost there, again 25% lower (twice at most); "
				"at_common holds medians over the steps of the last rate tried");

	results = cJSON_AddArrayToObject(root, "results");
	baselines = cJSON_AddArrayToObject(root, "baselines");
	for (int k = 0; k < T__COUNT; k++)
		if (o.on[k])
			cJSON_AddItemToArray(k == T_SP ? results : baselines, target_json(&x, &x.t[k]));

	ratios = cJSON_AddObjectToObject(root, "ratios");
	goals = cJSON_AddArrayToObject(root, "goals");
	if (sp->up || sp->nsteps) {
		cJSON *r = cJSON_AddObjectToObject(ratios, "streampoint/coturn");
		const struct step *sl = sp->best > 0 ? clean_at(sp, sp->best) : NULL,
				  *cl = ct->best > 0 ? clean_at(ct, ct->best) : NULL;
		double spa = allocs_per_s(sp), cta = allocs_per_s(ct);
		bool tool_bound = lb->best > 0 && sp->best >= lb->best;

		ratio_put(r, "lossless_relayed_pps", sp->best, ct->best);
		ratio_put(r, "server_cpu_s_per_mpkt_at_common", have_sa ? sa.cpu : -1, have_ca ? ca.cpu : -1);
		ratio_put(r, "rtt_p50_at_common", have_sa ? sa.p50 : -1, have_ca ? ca.p50 : -1);
		ratio_put(r, "rtt_p99_at_common", have_sa ? sa.p99 : -1, have_ca ? ca.p99 : -1);
		ratio_put(r, "server_cpu_s_per_mpkt_at_lossless", sl ? cpu_per_mpkt(sl) : -1, cl ? cpu_per_mpkt(cl) : -1);
		ratio_put(r, "allocs_per_s", spa, cta);
		if (lb->best > 0) {
			cJSON *l = cJSON_AddObjectToObject(ratios, "x/loopback");
			ratio_put(l, "streampoint_lossless", sp->best, lb->best);
			ratio_put(l, "coturn_lossless", ct->best, lb->best);
		}
		if (ct->best > 0 && sp->best > 0)
			bench_add_goal(goals, "lossless relayed packets/s >= 2x coturn's", sp->best / ct->best,
				       sp->best / ct->best >= GOAL_RATE,
				       tool_bound ? "streampoint reached the tool's own loopback ceiling: the ratio is a "
						    "lower bound" : NULL);
		if (have_sa && have_ca && sa.cpu > 0 && ca.cpu > 0)
			bench_add_goal(goals, "server CPU per relayed packet below coturn's (ratio < 1, common rate)",
				       sa.cpu / ca.cpu, sa.cpu < ca.cpu,
				       sa.clean < sa.n || ca.clean < ca.n ? "some common steps lost packets" : NULL);
	}
	for (int k = 0; k < T__COUNT; k++) {
		const struct target *t = &x.t[k];
		if (t->on && t->failed && !t->skipped)
			exit_code = 1;
		for (unsigned i = 0; i < t->nchurn; i++)
			if (t->churn[i].unverified || !t->churn[i].allocs)
				exit_code = 1;
		if (t->up && !t->nchurn && o.alloc_ms && !bench_stop && k != T_LOOP)
			exit_code = 1;
	}
	cJSON_AddNumberToObject(root, "duration_s", bench_now_s() - t0);
	if (bench_stop) {
		cJSON_AddBoolToObject(root, "interrupted", true);
		exit_code = 130;
	}
	rc = bench_emit(root, o.out);
	cJSON_Delete(root);

	fprintf(stderr, "spbench turn: lossless relayed/s streampoint %.0f, coturn %.0f (x%.2f), tool ceiling %.0f; "
		"at %.0f/s CPU s/Mpkt %.2f vs %.2f, RTT p50 %.0f vs %.0f us; allocs/s %.0f vs %.0f%s\n",
		2 * sp->best, 2 * ct->best, ct->best > 0 ? sp->best / ct->best : 0, 2 * lb->best, 2 * x.common,
		have_sa ? sa.cpu : 0, have_ca ? ca.cpu : 0, have_sa ? sa.p50 : 0, have_ca ? ca.p50 : 0,
		allocs_per_s(sp), allocs_per_s(ct), exit_code ? " FAILED" : "");
	for (int k = 0; k < T__COUNT; k++) {
		struct target *t = &x.t[k];
		if (t->why[0] && (t->failed || t->skipped))
			fprintf(stderr, "spbench turn: %s: %s\n", tgt_name[k], t->why);
		if (t->dead[0])
			fprintf(stderr, "spbench turn: %s\n", t->dead);
		if (t->bad)
			fprintf(stderr, "spbench turn: %s: %lu misrouted or damaged echoes\n", tgt_name[k],
				(unsigned long)t->bad);
		for (unsigned i = 0; i < t->nsteps; i++)
			cJSON_Delete(t->steps[i].spdp_drops);
		cJSON_Delete(t->argv);
		cJSON_Delete(t->info);
		cJSON_Delete(t->turn_stats);
		free(t->sess);
		free(t->m_listen);
		free(t->m_relay);
	}
	free(x.m_peer);
	free(x.m_client);
	if (rc < 0 && !exit_code)
		exit_code = 1;
	return exit_code;
}
