/*
 * bench_srtp: `spbench srtp`, the SRTP fan-out benchmark of issue 4.
 *
 * Synthetic cameras push H.264-shaped RTP (rtp_traffic.h) through spdp to M
 * subscribers each, as `spbench rtp` does, once per forwarding mode:
 *   plain        plain camera, plain subscribers: the baseline;
 *   passthrough  SRTP camera, subscribers with the camera's suite and key:
 *                spdp forwards the ciphertext, no crypto per subscriber;
 *   terminate    SRTP camera, plain subscribers: one unprotect at ingest;
 *   protect      SRTP camera, every subscriber its own key: one unprotect at
 *                ingest and one protect per subscriber per packet;
 * each SRTP mode for every suite asked for (AEAD_AES_128_GCM and
 * AES_CM_128_HMAC_SHA1_80 by default). Every scenario gets a fresh spdp +
 * spcp (--build-dir), flows and subscribers set up through spcp's control
 * socket with the srtp=/srtp_key= parameters; the mode spcp reports for
 * each subscriber must be the one the scenario is about.
 *
 * Measured per scenario, at ONE fixed offered rate for all (the plain mode
 * must deliver it with zero loss; if it does not, the rate backs off 30% up
 * to three times before the SRTP scenarios run): delivered packets/s, loss,
 * spdp's CPU-seconds per million delivered packets (/proc/<pid>/stat, all
 * threads, over the step and its drain). From these: spdp's protect rate
 * per core (protected packets per spdp CPU-second) against the raw libsrtp
 * protect rate per core measured in the same run by `spbench srtp-raw`,
 * and passthrough's CPU per packet against plain's. Then, optionally, a
 * zero-loss rate search per scenario (double, then bisect).
 *
 * The subscribers unprotect with libsrtp (srtp_leg, their own key) and count
 * every refusal by reason; loss, duplicates, order and content are checked
 * as in `spbench rtp`. AES-CM/HMAC-SHA1 costs ~5 us a packet here, too much
 * for the tool on two cores, so a deterministic sample may be decrypted
 * (--verify-every) and the rest counted from the clear RTP header; the JSON
 * says which.
 *
 * Two tool threads, as in bench_rtp: the main thread paces and protects the
 * cameras, one receiver thread drains and checks every subscriber. JSON on
 * stdout (or --out), one summary line on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include "addr.h"
#include "bench.h"
#include "bench_proc.h"
#include "bench_rx.h"
#include "bench_spdp.h"
#include "bench_srtp.h"
#include "bench_step.h"
#include "rtp_traffic.h"
#include "srtp_leg.h"
#include "srtp_raw.h"

enum mode { M_PLAIN, M_PASS, M_TERM, M_PROT, M__COUNT };
static const char *const mode_name[M__COUNT] = { "plain", "passthrough", "terminate", "protect" };

static const char *const suite_name[SRTP_LEG_SUITE__COUNT] = {
	"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"
};

#define MAX_SCEN (1 + 3 * SRTP_LEG_SUITE__COUNT)
#define MAX_SPDP_OPTS 16
#define MAX_REPS 9
#define GOAL_PROTECT_RAW 0.8   /* issue 4: protect rate per core >= 80% of raw libsrtp */
#define GOAL_PASS_PLAIN 1.0    /* issue 4: passthrough costs no more than plain */
#define PREPARE_MAX_BYTES (1536ull << 20) /* camera packets protected ahead of a step */

struct opts {
	bool full, loopback;
	bool mode[M__COUNT];
	enum srtp_leg_suite suites[SRTP_LEG_SUITE__COUNT];
	uint32_t nsuites;
	uint32_t cameras, fanout;
	struct rtpt_stream_cfg stream;
	double rate;               /* fixed offered rate, subscriber packets/s */
	uint32_t fixed_ms, reps, warmup_ms;
	bool search;
	uint32_t step_ms, max_steps, confirm_ms;
	double resolution, max_delivered;
	uint32_t drain_quiet_ms, max_backlog_ms;
	uint32_t verify_every;     /* 0: per suite (1 for GCM, 4 for AES-CM) */
	bool generate_keys, fault_key, live_protect;
	const char *raw;           /* "auto", "none" or a result file of spbench srtp-raw */
	const char *raw_args[16];
	unsigned n_raw_args;
	int rcvbuf;
	uint32_t batch, workers, coalesce_us;
	const char *spdp_opts[MAX_SPDP_OPTS];
	unsigned n_spdp_opts;
	char build_dir[1024];
	const char *out;
	bool keep, verbose;
};

#define vlog(o, ...) bench_log((o)->verbose, "srtp", __VA_ARGS__)

static bool is_gcm(enum srtp_leg_suite s)
{
	return s == SRTP_LEG_AEAD_AES_128_GCM || s == SRTP_LEG_AEAD_AES_256_GCM;
}

/* ------------------------------------------------------------ keys and legs */

struct key {
	uint8_t b[SRTP_LEG_MAX_MASTER_LEN];
	size_t len;
	char b64[4 * ((SRTP_LEG_MAX_MASTER_LEN + 2) / 3) + 1];
};

static int key_random(struct key *k, enum srtp_leg_suite s)
{
	k->len = srtp_leg_master_len(s);
	if (getrandom(k->b, k->len, 0) != (ssize_t)k->len)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)k->b64, k->b, (int)k->len);
	return 0;
}

/* Standard base64 of key || salt, as spcp returns for srtp_key=generate. */
static int key_from_b64(struct key *k, enum srtp_leg_suite s, const char *b64)
{
	uint8_t tmp[3 * 64 / 4 + 3];
	size_t n = strlen(b64), pad = 0;
	int got;

	if (n == 0 || n % 4 || n > 64)
		return -EINVAL;
	pad = (b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
	got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got - pad != srtp_leg_master_len(s))
		return -EINVAL;
	k->len = (size_t)got - pad;
	memcpy(k->b, tmp, k->len);
	snprintf(k->b64, sizeof(k->b64), "%s", b64);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

static srtp_leg *leg_new(enum srtp_leg_suite s, enum srtp_leg_dir d, const struct key *k)
{
	struct srtp_leg_cfg c = { .suite = s, .dir = d, .master = k->b, .master_len = k->len };
	srtp_leg *l = NULL;

	return srtp_leg_create(&c, &l) == 0 ? l : NULL;
}

static int suite_parse(const char *s, enum srtp_leg_suite *out)
{
	for (int i = 0; i < SRTP_LEG_SUITE__COUNT; i++)
		if (!strcasecmp(s, suite_name[i])) {
			*out = (enum srtp_leg_suite)i;
			return 0;
		}
	/* Short forms. */
	if (!strcasecmp(s, "gcm") || !strcasecmp(s, "gcm128"))
		*out = SRTP_LEG_AEAD_AES_128_GCM;
	else if (!strcasecmp(s, "gcm256"))
		*out = SRTP_LEG_AEAD_AES_256_GCM;
	else if (!strcasecmp(s, "cm80") || !strcasecmp(s, "aes-cm"))
		*out = SRTP_LEG_AES_CM_128_HMAC_SHA1_80;
	else if (!strcasecmp(s, "cm32"))
		*out = SRTP_LEG_AES_CM_128_HMAC_SHA1_32;
	else
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ scenarios */

struct scen {
	enum mode mode;
	enum srtp_leg_suite suite;   /* unused for plain */
	char name[48];
};

/* Everything SRTP one scenario needs; legs are owned here. */
struct crypto {
	struct key *cam_key, *sub_key;          /* cameras; cameras * fanout */
	srtp_leg **cam_out;                     /* the cameras' protect legs */
	srtp_leg **sub_in, **sub_rtcp;          /* the subscribers' unprotect / SRTCP legs */
	uint32_t cams, subs;
};

static void crypto_free(struct crypto *c)
{
	for (uint32_t i = 0; c->cam_out && i < c->cams; i++)
		srtp_leg_destroy(c->cam_out[i]);
	for (uint32_t i = 0; c->sub_in && i < c->subs; i++) {
		srtp_leg_destroy(c->sub_in[i]);
		srtp_leg_destroy(c->sub_rtcp[i]);
	}
	if (c->cam_key)
		OPENSSL_cleanse(c->cam_key, sizeof(*c->cam_key) * c->cams);
	if (c->sub_key)
		OPENSSL_cleanse(c->sub_key, sizeof(*c->sub_key) * c->subs);
	free(c->cam_out);
	free(c->sub_in);
	free(c->sub_rtcp);
	free(c->cam_key);
	free(c->sub_key);
	memset(c, 0, sizeof(*c));
}

/* Keys for every camera and subscriber; the camera legs. Subscriber legs are
 * made once their key is final (spcp may generate it). */
static int crypto_init(struct crypto *c, const struct scen *sc, uint32_t cams, uint32_t m)
{
	memset(c, 0, sizeof(*c));
	c->cams = cams;
	c->subs = cams * m;
	if (sc->mode == M_PLAIN)
		return 0;
	c->cam_key = calloc(cams, sizeof(*c->cam_key));
	c->sub_key = calloc(c->subs, sizeof(*c->sub_key));
	c->cam_out = calloc(cams, sizeof(*c->cam_out));
	c->sub_in = calloc(c->subs, sizeof(*c->sub_in));
	c->sub_rtcp = calloc(c->subs, sizeof(*c->sub_rtcp));
	if (!c->cam_key || !c->sub_key || !c->cam_out || !c->sub_in || !c->sub_rtcp)
		return -ENOMEM;
	for (uint32_t i = 0; i < cams; i++) {
		if (key_random(&c->cam_key[i], sc->suite) < 0 ||
		    !(c->cam_out[i] = leg_new(sc->suite, SRTP_LEG_OUTBOUND, &c->cam_key[i])))
			return -EIO;
		for (uint32_t j = 0; j < m; j++) {
			struct key *k = &c->sub_key[i * m + j];
			if (sc->mode == M_PASS)
				*k = c->cam_key[i];
			else if (sc->mode == M_PROT && key_random(k, sc->suite) < 0)
				return -EIO;
		}
	}
	return 0;
}

/* The subscriber's legs: unprotect what spdp sends with its key, protect its
 * receiver reports with the same key (srtp_rx_key defaults to srtp_key). */
static int crypto_sub_legs(struct crypto *c, const struct scen *sc, uint32_t s, bool wrong)
{
	struct key k = c->sub_key[s];

	if (wrong)
		k.b[0] ^= 0x01; /* --fault-key: this subscriber must see auth failures */
	c->sub_in[s] = leg_new(sc->suite, SRTP_LEG_INBOUND, &k);
	c->sub_rtcp[s] = leg_new(sc->suite, SRTP_LEG_OUTBOUND, &c->sub_key[s]);
	OPENSSL_cleanse(&k, sizeof(k));
	return c->sub_in[s] && c->sub_rtcp[s] ? 0 : -EIO;
}

/* ------------------------------------------------------------ spdp */

struct fwd {
	struct spdp sp;          /* spdp + spcp (none with --loopback) */
	double setup_s;
	uint32_t modes_seen[M__COUNT + 1]; /* reply "mode" of /sub/add; [M__COUNT]: other */
};

/* Sum of a per-subscriber counter (e.g. "srtp_protected") over every flow's
 * "subs_stats" in /flow; -1 when spcp does not report it. */
static double spdp_sub_counter(struct spdp *sp, uint32_t cams, const char *name)
{
	double sum = 0;
	bool seen = false;

	for (uint32_t c = 0; c < cams && sp->ctl >= 0; c++) {
		cJSON *r = spdp_call(sp, "/flow,id=%u", c + 1);
		const cJSON *s;
		if (!r)
			return -1;
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(r, "subs_stats")) {
			double v = bench_jnum(s, name);
			if (v >= 0) {
				sum += v;
				seen = true;
			}
		}
		cJSON_Delete(r);
	}
	return seen ? sum : -1;
}

static enum mode mode_from_name(const char *s)
{
	for (int i = 0; i < M__COUNT; i++)
		if (!strcmp(s, mode_name[i]))
			return (enum mode)i;
	return M__COUNT;
}

static int spdp_setup(const struct opts *o, struct fwd *f, const struct scen *sc, struct crypto *cr,
		      rtpt_sender *tx, rtpt_receiver *rx, uint32_t cams, uint32_t m)
{
	struct spdp_cfg cfg = { .build_dir = o->build_dir, .inst_prefix = "srtpbench", .workers = o->workers,
				.opts = o->spdp_opts, .nopts = o->n_spdp_opts, .cpu = PROC_CPU_INHERIT,
				.who = "srtp" };
	struct spdp *sp = &f->sp;
	double t = 10 + cams * 0.01;
	cJSON *r;

	if (spdp_start(sp, &cfg) < 0)
		return -1;
	for (uint32_t c = 0; c < cams && !bench_stop; c++) {
		char srtp[160] = "";

		if (sc->mode != M_PLAIN)
			snprintf(srtp, sizeof(srtp), "&srtp=%s&srtp_key=%s", suite_name[sc->suite],
				 cr->cam_key[c].b64);
		r = spdp_flow_add(sp, tx, c, o->stream.ssrc_base + c, srtp);
		OPENSSL_cleanse(srtp, sizeof(srtp));
		if (!r) {
			if (sc->mode != M_PLAIN && strstr(sp->why, "srtp"))
				sp->skipped = true; /* spcp refuses SRTP: not in this build */
			return -1;
		}
		cJSON_Delete(r);
	}
	if (spdp_wait(sp, cams, 0, false, t) < 0)
		return -1;
	for (uint32_t c = 0; c < cams && !bench_stop; c++)
		for (uint32_t j = 0; j < m; j++) {
			uint32_t s = c * m + j;
			char srtp[160] = "";
			const char *mode;
			enum mode got;

			if (sc->mode == M_PASS || (sc->mode == M_PROT && !o->generate_keys))
				snprintf(srtp, sizeof(srtp), "&srtp=%s&srtp_key=%s", suite_name[sc->suite],
					 cr->sub_key[s].b64);
			else if (sc->mode == M_PROT)
				snprintf(srtp, sizeof(srtp), "&srtp=%s&srtp_key=generate", suite_name[sc->suite]);
			r = spdp_sub_add(sp, rx, c, j, srtp);
			OPENSSL_cleanse(srtp, sizeof(srtp));
			if (!r)
				return -1;
			mode = bench_jstr(r, "mode");
			got = mode_from_name(mode);
			f->modes_seen[got]++;
			if (sc->mode != M_PLAIN && !mode[0]) {
				/* An spcp from before issue 4 ignores the srtp parameters. */
				spdp_why(sp, "spcp's /sub/add reply has no \"mode\": this build has no SRTP data plane");
				sp->skipped = true;
				cJSON_Delete(r);
				return -1;
			}
			if (mode[0] && got != sc->mode) {
				spdp_why(sp, "flow %u subscriber %u: spcp chose mode \"%s\", expected \"%s\"", c + 1,
					 j + 1, mode, mode_name[sc->mode]);
				cJSON_Delete(r);
				return -1;
			}
			if (sc->mode == M_PROT && o->generate_keys &&
			    key_from_b64(&cr->sub_key[s], sc->suite, bench_jstr(r, "srtp_key")) < 0) {
				spdp_why(sp, "flow %u subscriber %u: no valid \"srtp_key\" in the reply to "
					 "srtp_key=generate", c + 1, j + 1);
				cJSON_Delete(r);
				return -1;
			}
			cJSON_Delete(r);
			if (sc->mode == M_PASS || sc->mode == M_PROT) {
				if (crypto_sub_legs(cr, sc, s, o->fault_key && s == 0) < 0) {
					spdp_why(sp, "creating the subscribers' SRTP legs failed");
					return -1;
				}
				rtpt_receiver_set_srtp(rx, c, j, cr->sub_in[s], cr->sub_rtcp[s]);
			}
		}
	if (spdp_wait(sp, cams, m, true, t) < 0)
		return -1;
	spdp_route(sp, tx, rx, cams);
	return 0;
}

/* --loopback: no forwarder, the cameras send to their subscribers directly
 * (the tool's own ceiling, and a check of its SRTP path). */
static int loopback_setup(const struct opts *o, struct fwd *f, const struct scen *sc, struct crypto *cr,
			  rtpt_sender *tx, rtpt_receiver *rx, uint32_t cams, uint32_t m)
{
	if (sc->mode == M_TERM || sc->mode == M_PROT) {
		spdp_why(&f->sp, "%s needs a forwarder (not with --loopback)", mode_name[sc->mode]);
		f->sp.skipped = true;
		return -1;
	}
	for (uint32_t c = 0; c < cams; c++)
		for (uint32_t j = 0; j < m; j++) {
			struct sockaddr_in a;
			rtpt_receiver_sub_addr(rx, c, j, &a);
			rtpt_sender_set_dest(tx, c, j, &a);
			if (sc->mode == M_PASS) {
				if (crypto_sub_legs(cr, sc, c * m + j, o->fault_key && c + j == 0) < 0) {
					spdp_why(&f->sp, "creating the subscribers' SRTP legs failed");
					return -1;
				}
				rtpt_receiver_set_srtp(rx, c, j, cr->sub_in[c * m + j], NULL);
			}
		}
	f->modes_seen[sc->mode] = cams * m;
	return 0;
}

/* A camera source port that spreads the cameras evenly over spdp's workers
 * (spcp places a flow on the worker its source hashes to, sp_addr_steer):
 * otherwise the split, and with it every figure, would depend on the port
 * the kernel happens to pick. */
static rtpt_sender *sender_balanced(const struct rtpt_sender_cfg *base, uint32_t workers)
{
	struct rtpt_sender_cfg sc = *base;
	uint32_t cams = base->cameras, start = 20000 + (uint32_t)getpid() % 20000;

	for (uint32_t k = 0; k < 2000; k++) {
		uint32_t load[64] = { 0 }, lo = UINT32_MAX, hi = 0, w = workers < 64 ? workers : 64;
		uint16_t port = (uint16_t)(start + k * 7);
		rtpt_sender *tx;

		for (uint32_t c = 0; c < cams && w > 1; c++) {
			struct sp_addr a = { .family = AF_INET, .port = htons(port) };
			uint32_t ip = htonl(rtpt_camera_ip(c));
			memcpy(a.ip, &ip, 4);
			load[sp_addr_steer(&a, w)]++;
		}
		for (uint32_t i = 0; i < w; i++) {
			lo = load[i] < lo ? load[i] : lo;
			hi = load[i] > hi ? load[i] : hi;
		}
		if (w > 1 && hi - lo > 1)
			continue;
		sc.src_port = port;
		if ((tx = rtpt_sender_create(&sc)))
			return tx;
	}
	sc.src_port = 0;
	return rtpt_sender_create(&sc);
}

/* ------------------------------------------------------------ steps */

struct ctx {
	const struct opts *o;
	const struct scen *sc;
	struct step_env env;
};

/* spdp times 1 in 16 of its SRTP operations (dataplane/flow.c). */
static const char *const timed_counter[5] = { "srtp_protect_timed", "srtp_protect_timed_ns",
					       "srtp_unprotect_timed", "srtp_unprotect_timed_ns",
					       "srtp_timed_outliers" };

static void run_step(struct ctx *c, const char *kind, double rate_in, uint32_t ms, struct step *s)
{
	const struct opts *o = c->o;
	struct step_env *e = &c->env;
	double prot0 = -1;
	bool sender_ok;

	step_begin(e, s, kind, rate_in, ms);
	/* The SRTP checker counts undecrypted packets from the RTP sequence
	 * number: tell it where each camera's epoch starts. */
	for (uint32_t k = 0; k < e->cams; k++)
		rtpt_receiver_set_seq_base(e->rx, k, rtpt_sender_rtp_seq(e->tx, k));
	/* SRTP cameras protect the whole step before it starts: their crypto
	 * must not take the CPU spdp is measured on (AES-CM: ~5 us a packet). */
	if (c->sc->mode != M_PLAIN && !o->live_protect) {
		uint64_t n = (uint64_t)(rate_in * (double)s->duration_ns / 1e9 + 0.5);
		uint64_t cap = PREPARE_MAX_BYTES / (o->stream.pkt_size + SRTP_LEG_RTP_MAX_OVERHEAD + 64);
		if (rtpt_sender_prepare(e->tx, n < cap ? n : cap) < 0)
			fprintf(stderr, "spbench srtp: no memory to prepare %llu packets: protecting live\n",
				(unsigned long long)n);
	}
	/* Read outside the step's CPU window: the /flow queries cost spcp CPU. */
	if (c->sc->mode == M_PROT)
		prot0 = spdp_sub_counter(e->fwd, e->cams, "srtp_protected");
	double t0[5] = { 0 }, t1[5] = { 0 };
	bool timed = c->sc->mode != M_PLAIN && !o->loopback;
	if (timed)
		spdp_counters(e->fwd, timed_counter, 5, t0);
	step_run(e, s);
	if (prot0 >= 0) {
		double v = spdp_sub_counter(e->fwd, e->cams, "srtp_protected");
		if (v >= prot0)
			s->protected_pkts = v - prot0;
	}
	if (timed)
		spdp_counters(e->fwd, timed_counter, 5, t1);
	if (timed && t0[0] >= 0 && t1[0] >= t0[0]) {
		s->prot_timed = t1[0] - t0[0];
		s->prot_timed_ns = t1[1] - t0[1];
		s->unprot_timed = t1[2] - t0[2];
		s->unprot_timed_ns = t1[3] - t0[3];
		s->timed_outliers = t1[4] - t0[4];
	}

	s->sender_on_time = sender_ok = step_sender_on_time(s);
	s->clean_crypto = s->rr.srtp_fail_total == 0 && s->rr.srtcp_fail == 0 && s->sr.srtp_errors == 0;
	s->pass = sender_ok && step_delivered_ok(s) && s->clean_crypto && !s->dead[0] &&
		  s->backlog_s * 1e3 <= o->max_backlog_ms;
	if (s->dead[0])
		s->limit = "forwarder died";
	else if (!s->clean_crypto)
		s->limit = "SRTP failures (authentication, replay or protect)";
	else if (!sender_ok && s->tx_cpu_s < 0.7 * (double)(s->sr.elapsed_ns + 1) / 1e9)
		/* It could not run, rather than ran out of time: spdp and the
		 * tool wanted more than the machine's cores. */
		s->limit = "CPU: the sender was starved (spdp + tool need more than the cores)";
	else if (!(s->limit = step_limit(s, sender_ok, !o->loopback)) && !s->pass)
		s->limit = "backlog: forwarder falling behind";
	vlog(o, "  %-28s %-7s in %8.0f/s deliv %8.0f/s: recv %llu/%llu lost %llu dup %llu srtp fail %llu "
	     "(verified %llu) fwd cpu %.2f s tool %.2f+%.2f s %s%s",
	     c->sc->name, kind, rate_in, rate_in * e->m, (unsigned long long)s->rr.received,
	     (unsigned long long)s->rr.expected, (unsigned long long)s->rr.lost,
	     (unsigned long long)s->rr.dups, (unsigned long long)s->rr.srtp_fail_total,
	     (unsigned long long)s->rr.srtp_verified, s->fwd_cpu_s, s->tx_cpu_s, s->rx_cpu_s,
	     s->pass ? "PASS" : "FAIL: ", s->pass ? "" : (s->limit ? s->limit : "?"));
}

static cJSON *srtp_json(const struct step *s)
{
	cJSON *o = cJSON_CreateObject(), *f = NULL;

	cJSON_AddNumberToObject(o, "verified", (double)s->rr.srtp_verified);
	cJSON_AddNumberToObject(o, "counted_from_header", (double)s->rr.srtp_counted);
	cJSON_AddNumberToObject(o, "unprotect_failures", (double)s->rr.srtp_fail_total);
	for (int e = 1; e < SRTP_LEG_ERR__COUNT; e++)
		if (s->rr.srtp_fail[e]) {
			if (!f)
				f = cJSON_AddObjectToObject(o, "unprotect_failures_by_reason");
			cJSON_AddNumberToObject(f, srtp_leg_err_name((enum srtp_leg_err)e), (double)s->rr.srtp_fail[e]);
		}
	cJSON_AddNumberToObject(o, "srtcp_ok", (double)s->rr.srtcp_ok);
	cJSON_AddNumberToObject(o, "srtcp_failures", (double)s->rr.srtcp_fail);
	cJSON_AddNumberToObject(o, "camera_protect_errors", (double)s->sr.srtp_errors);
	return o;
}

static cJSON *step_json(const struct step *s, bool srtp)
{
	cJSON *o = step_json_begin(s), *cpu;

	cJSON_AddNumberToObject(o, "sender_behind_ms", (double)s->sr.behind_ns / 1e6);
	cJSON_AddBoolToObject(o, "sender_on_time", s->sender_on_time);
	if (srtp)
		cJSON_AddNumberToObject(o, "camera_packets_protected_ahead", (double)s->sr.prepared);
	if (s->protected_pkts >= 0)
		cJSON_AddNumberToObject(o, "spdp_srtp_protected", s->protected_pkts);
	cJSON_AddNumberToObject(o, "expected", (double)s->rr.expected);
	cJSON_AddNumberToObject(o, "received", (double)s->rr.received);
	cJSON_AddNumberToObject(o, "lost", (double)s->rr.lost);
	cJSON_AddNumberToObject(o, "loss_ratio", s->rr.expected ? (double)s->rr.lost / (double)s->rr.expected : 0);
	cJSON_AddNumberToObject(o, "duplicates", (double)s->rr.dups);
	cJSON_AddNumberToObject(o, "reordered", (double)s->rr.late);
	cJSON_AddNumberToObject(o, "misrouted", (double)s->rr.misrouted);
	cJSON_AddNumberToObject(o, "corrupt", (double)s->rr.corrupt);
	cJSON_AddNumberToObject(o, "unknown_destination", (double)s->rr.unknown_dst);
	cJSON_AddNumberToObject(o, "stale", (double)s->rr.stale);
	cJSON_AddNumberToObject(o, "foreign", (double)s->rr.foreign);
	cJSON_AddNumberToObject(o, "rtcp", (double)s->rr.rtcp);
	cJSON_AddNumberToObject(o, "subs_first_not_keyframe", s->rr.subs_first_not_key);
	if (srtp)
		cJSON_AddItemToObject(o, "srtp", srtp_json(s));
	cJSON_AddNumberToObject(o, "receiver_socket_drops", (double)s->rr.socket_drops);
	cJSON_AddNumberToObject(o, "forwarder_ingest_drops", (double)s->fwd_drops);
	if (s->fwd_drops_by_reason)
		cJSON_AddItemToObject(o, "forwarder_drops_by_reason", cJSON_Duplicate(s->fwd_drops_by_reason, 1));
	cJSON_AddNumberToObject(o, "udp_rcvbuf_errors", (double)s->rcvbuf_errors);
	cJSON_AddNumberToObject(o, "backlog_ms", s->backlog_s * 1e3);
	cJSON_AddItemToObject(o, "latency_us", step_latency_json(&s->rr, false));
	cpu = cJSON_AddObjectToObject(o, "cpu_s");
	cJSON_AddNumberToObject(cpu, "forwarder", s->fwd_cpu_s);
	cJSON_AddNumberToObject(cpu, "spcp", s->cp_cpu_s);
	cJSON_AddNumberToObject(cpu, "tool_sender", s->tx_cpu_s);
	cJSON_AddNumberToObject(cpu, "tool_receiver", s->rx_cpu_s);
	cJSON_AddNumberToObject(cpu, "window", s->window_s);
	step_json_end(o, s);
	return o;
}

/* The headline figures of one step. */
static cJSON *figures_json(const struct step *s, bool fwd)
{
	cJSON *o = cJSON_CreateObject(), *tool;
	double mpkt = (double)s->rr.received / 1e6;

	cJSON_AddNumberToObject(o, "offered_delivered_pps", s->offered_in * s->fanout);
	cJSON_AddNumberToObject(o, "delivered_pps", step_delivered_pps(s));
	cJSON_AddNumberToObject(o, "input_pps", s->offered_in);
	cJSON_AddNumberToObject(o, "received", (double)s->rr.received);
	cJSON_AddNumberToObject(o, "lost", (double)s->rr.lost);
	cJSON_AddNumberToObject(o, "loss_ratio", s->rr.expected ? (double)s->rr.lost / (double)s->rr.expected : 0);
	cJSON_AddBoolToObject(o, "zero_loss", s->pass);
	/* Off schedule, the rate spdp saw was lower than offered: its batches
	 * were smaller and its CPU per packet is not comparable. */
	cJSON_AddBoolToObject(o, "sender_on_time", s->sender_on_time);
	if (!s->pass && s->limit)
		cJSON_AddStringToObject(o, "limited_by", s->limit);
	if (fwd && s->protected_pkts >= 0) {
		cJSON_AddNumberToObject(o, "spdp_srtp_protected", s->protected_pkts);
		cJSON_AddNumberToObject(o, "protected_pps_per_spdp_cpu_s",
					s->fwd_cpu_s > 0 ? s->protected_pkts / s->fwd_cpu_s : 0);
	}
	if (fwd && s->prot_timed > 0)
		cJSON_AddNumberToObject(o, "spdp_protect_us_per_op_sampled", s->prot_timed_ns / s->prot_timed / 1e3);
	if (fwd && s->unprot_timed > 0)
		cJSON_AddNumberToObject(o, "spdp_unprotect_us_per_op_sampled",
					s->unprot_timed_ns / s->unprot_timed / 1e3);
	if (fwd && s->prot_timed + s->unprot_timed > 0)
		cJSON_AddNumberToObject(o, "spdp_timed_samples_left_out", s->timed_outliers);
	if (fwd) {
		cJSON_AddNumberToObject(o, "forwarder_cpu_s_per_mpkt", step_cpu_per_mpkt(s));
		cJSON_AddNumberToObject(o, "forwarder_cpu_cores", s->window_s > 0 ? s->fwd_cpu_s / s->window_s : 0);
	}
	tool = cJSON_AddObjectToObject(o, "tool_cpu_s_per_mpkt");
	cJSON_AddNumberToObject(tool, "sender", mpkt > 0 ? s->tx_cpu_s / mpkt : 0);
	cJSON_AddNumberToObject(tool, "receiver", mpkt > 0 ? s->rx_cpu_s / mpkt : 0);
	cJSON_AddItemToObject(o, "latency_us", step_latency_json(&s->rr, false));
	return o;
}

struct outcome {
	bool ran, ok, skipped;
	double rate;               /* offered delivered pps of the fixed steps */
	double delivered, loss_ratio, cpu_per_mpkt, cores;
	double cpu_min, cpu_max;   /* over the repetitions that count: the noise */
	double protect_per_core;   /* protect: protected packets per spdp CPU-second */
	/* spdp's sampled time per protect / unprotect over the fixed steps (us; 0: none) */
	double prot_us, unprot_us;
	bool fixed_pass, on_time;
	double best_delivered, best_cpu_per_mpkt;
	uint64_t srtp_failures, verified, counted;
	cJSON *entry;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One scenario: set up, warm up, the fixed-rate steps (the plain baseline
 * backs its rate off until it delivers it without loss), the optional
 * search, tear down. *rate is the offered delivered rate; the plain
 * scenario may lower it for everyone after it. */
static void run_scenario(const struct opts *o, const struct scen *sc, double *rate, struct outcome *out)
{
	uint32_t cams = o->cameras, m = o->fanout;
	/* Decrypting costs the tool ~1 us (GCM) or ~5 us (AES-CM/HMAC-SHA1) a
	 * packet on the cores spdp is measured on: a sample keeps the tool's
	 * extra CPU per delivered packet to ~0.25-0.6 us whatever the suite. */
	uint32_t every = o->verify_every ? o->verify_every : sc->mode == M_PLAIN ? 1 : is_gcm(sc->suite) ? 4 : 8;
	struct rtpt_receiver_cfg rc = { .stream = o->stream, .cameras = cams, .subs_per_cam = m,
					.rcvbuf = o->rcvbuf, .batch = o->batch, .verify_every = every };
	struct rtpt_sender_cfg tc = { .stream = o->stream, .cameras = cams, .copies = o->loopback ? m : 1,
				      .batch = o->batch, .camera_sources = true, .sndbuf = 4 << 20 };
	struct rxthr thr = { 0 };
	struct ctx c = { .o = o, .sc = sc, .env = { .thr = &thr, .ingest = !o->loopback, .cams = cams, .m = m,
						    .drain_quiet_ms = o->drain_quiet_ms } };
	struct crypto cr = { 0 };
	struct fwd f;
	struct step *steps = NULL;
	unsigned nsteps = 0, backoffs = 0, cap = 1 + 4 * o->reps + o->max_steps + 3 + 2;
	int fixed[MAX_REPS], nfixed = 0, best = -1, med = -1;
	bool failed = false, srtp = sc->mode != M_PLAIN, unconfirmed = false, fwd_mem;
	cJSON *e = cJSON_CreateObject(), *arr;
	char err[1200] = "";
	double t0 = bench_now_s();

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	out->entry = e;
	out->ran = true;
	cJSON_AddStringToObject(e, "scenario", sc->name);
	cJSON_AddStringToObject(e, "kind", sc->mode == M_PLAIN ? "baseline" : "forwarder");
	cJSON_AddStringToObject(e, "target", o->loopback ? "loopback" : "spdp");
	cJSON_AddStringToObject(e, "mode", mode_name[sc->mode]);
	if (srtp)
		cJSON_AddStringToObject(e, "suite", suite_name[sc->suite]);
	cJSON_AddNumberToObject(e, "cameras", cams);
	cJSON_AddNumberToObject(e, "fanout", m);
	fprintf(stderr, "spbench srtp: %s: %u cameras x %u subscribers\n", sc->name, cams, m);

	fwd_mem = spdp_init(&f.sp, cams) == 0;
	c.env.rx = rtpt_receiver_create(&rc);
	c.env.tx = sender_balanced(&tc, o->workers);
	c.env.sent = calloc(cams, sizeof(*c.env.sent));
	steps = calloc(cap, sizeof(*steps));
	if (!fwd_mem || !c.env.rx || !c.env.tx || !c.env.sent || !steps) {
		snprintf(err, sizeof(err), "creating cameras/subscribers: %s", strerror(errno));
		goto teardown;
	}
	if (crypto_init(&cr, sc, cams, m) < 0) {
		snprintf(err, sizeof(err), "creating keys and SRTP legs failed");
		goto teardown;
	}
	for (uint32_t k = 0; srtp && k < cams; k++)
		rtpt_sender_set_srtp(c.env.tx, k, cr.cam_out[k]);
	c.env.fwd = &f.sp;
	if (!o->loopback && spdp_mkdir(&f.sp, "srtp", "spdp") < 0) {
		snprintf(err, sizeof(err), "%s", f.sp.why);
		goto teardown;
	}
	if ((o->loopback ? loopback_setup(o, &f, sc, &cr, c.env.tx, c.env.rx, cams, m) :
			   spdp_setup(o, &f, sc, &cr, c.env.tx, c.env.rx, cams, m)) < 0) {
		snprintf(err, sizeof(err), "%s", f.sp.why);
		failed = !f.sp.skipped;
		goto teardown;
	}
	f.setup_s = bench_now_s() - t0;
	if (rxthr_start(&thr, c.env.rx, !o->loopback, o->batch, o->coalesce_us, -1) < 0) {
		snprintf(err, sizeof(err), "pthread_create failed");
		failed = true;
		goto teardown;
	}

	/* Warm-up: SRTP streams come to life (libsrtp clones a stream per SSRC
	 * on its first packet), fast start, socket buffers. */
	run_step(&c, "warmup", *rate / m / 4, o->warmup_ms, &steps[nsteps]);
	if (!steps[nsteps].rr.received) {
		snprintf(err, sizeof(err), "warm-up delivered nothing (%s)",
			 steps[nsteps].dead[0] ? steps[nsteps].dead :
			 steps[nsteps].rr.srtp_fail_total ? "every packet failed SRTP" : "check the forwarder's log");
		failed = true;
		nsteps++;
		goto teardown;
	}
	nsteps++;
	/* Fixed rate. The plain baseline must be lossless there: back off. */
	for (uint32_t r = 0; r < o->reps && !bench_stop; r++) {
		struct step *s = &steps[nsteps];
		run_step(&c, "fixed", *rate / m, o->fixed_ms, s);
		fixed[nfixed++] = (int)nsteps++;
		if (s->dead[0])
			break;
		if (sc->mode == M_PLAIN && !s->pass && s->clean_crypto && backoffs < 3 && r == 0) {
			fprintf(stderr, "spbench srtp: plain not clean at %.0f/s (%s): fixed rate -30%%\n",
				*rate, s->limit ? s->limit : "?");
			*rate *= 0.7;
			backoffs++;
			nfixed = 0;
			r = (uint32_t)-1; /* the repetitions start again at the lower rate */
		}
	}
	if (nfixed) {
		/* The repetition with the median CPU per packet speaks for all;
		 * only those where the cameras kept the offered rate count, if any
		 * did (the others ran at a lower rate than the other scenarios). */
		double v[MAX_REPS];
		int nv = 0, on_time = 0;
		for (int i = 0; i < nfixed; i++)
			on_time += steps[fixed[i]].sender_on_time;
		for (int i = 0; i < nfixed; i++)
			if (!on_time || steps[fixed[i]].sender_on_time)
				v[nv++] = step_cpu_per_mpkt(&steps[fixed[i]]);
		qsort(v, (size_t)nv, sizeof(v[0]), cmp_double);
		for (int i = 0; i < nfixed && med < 0; i++)
			if ((!on_time || steps[fixed[i]].sender_on_time) &&
			    step_cpu_per_mpkt(&steps[fixed[i]]) == v[nv / 2])
				med = fixed[i];
	}
	/* Zero-loss search: from the fixed rate, double while it passes, then
	 * bisect. */
	if (o->search && med >= 0 && !steps[med].dead[0]) {
		double lo = 0, hi = 0, r, maxin = o->max_delivered / m;
		for (int i = 0; i < nfixed; i++) {
			const struct step *s = &steps[fixed[i]];
			if (s->pass && s->offered_in > lo) {
				lo = s->offered_in;
				best = fixed[i];
			} else if (!s->pass && (!hi || s->offered_in < hi)) {
				hi = s->offered_in;
			}
		}
		if (hi && lo >= hi)
			hi = 0;
		r = hi ? (lo + hi) / 2 : (lo ? lo * 2 : *rate / m / 2);
		for (unsigned i = 0; i < o->max_steps && !bench_stop && nsteps < cap - 5; i++) {
			struct step *s = &steps[nsteps];
			if (hi && (hi - lo) / hi <= o->resolution)
				break;
			if (!hi && lo >= maxin)
				break;
			run_step(&c, "search", r > maxin ? maxin : r, o->step_ms, s);
			if (s->pass) {
				lo = s->offered_in;
				best = (int)nsteps;
			} else {
				hi = s->offered_in;
			}
			nsteps++;
			if (s->dead[0])
				break;
			r = hi ? (lo + hi) / 2 : lo * 2;
		}
		if (o->confirm_ms && best >= 0 && strcmp(steps[best].kind, "fixed")) {
			double rr = steps[best].offered_in;
			int confirmed = -1;
			for (unsigned k = 0; k < 3 && !bench_stop && nsteps < cap; k++) {
				struct step *s = &steps[nsteps++];
				run_step(&c, "confirm", rr, o->confirm_ms, s);
				if (s->pass) {
					confirmed = (int)nsteps - 1;
					break;
				}
				if (s->dead[0])
					break;
				rr *= 0.9;
			}
			if (confirmed >= 0)
				best = confirmed;
			else
				unconfirmed = true; /* the best search step stays, marked */
		}
	}

teardown:
	rxthr_stop(&thr);
	if (f.sp.ctl >= 0) {
		cJSON *st = spdp_call(&f.sp, "/spdp/status"), *fl = spdp_call(&f.sp, "/flow,id=1");
		if (st)
			cJSON_AddItemToObject(e, "spdp_status", st);
		if (fl)
			cJSON_AddItemToObject(e, "spdp_flow_1", fl);
	}
	cJSON_AddNumberToObject(e, "setup_s", f.setup_s);
	{
		cJSON *ms = cJSON_AddObjectToObject(e, "sub_modes_reported");
		for (int i = 0; i < M__COUNT; i++)
			if (f.modes_seen[i])
				cJSON_AddNumberToObject(ms, mode_name[i], f.modes_seen[i]);
		if (f.modes_seen[M__COUNT])
			cJSON_AddNumberToObject(ms, "none", f.modes_seen[M__COUNT]);
	}
	for (unsigned i = 0; i < nsteps; i++)
		if (steps[i].dead[0]) {
			snprintf(err, sizeof(err), "spdp exited during the run: %s", steps[i].dead);
			failed = true;
		}
	spdp_stop(&f.sp, o->keep || failed || (err[0] && !f.sp.skipped), "spbench srtp:");
	if (f.sp.end_status[0]) {
		cJSON_AddStringToObject(e, "forwarder_exit", f.sp.end_status);
		if (!proc_ended_cleanly(f.sp.end_status)) {
			if (!err[0])
				snprintf(err, sizeof(err), "spdp ended badly on SIGTERM: %s", f.sp.end_status);
			failed = true;
		}
	}
	if (err[0]) {
		cJSON_AddStringToObject(e, f.sp.skipped ? "skipped" : "error", err);
		fprintf(stderr, "spbench srtp: %s: %s: %s\n", sc->name, f.sp.skipped ? "skipped" : "ERROR", err);
	}
	for (unsigned i = 0; i < nsteps; i++) {
		out->srtp_failures += steps[i].rr.srtp_fail_total + steps[i].rr.srtcp_fail + steps[i].sr.srtp_errors;
		out->verified += steps[i].rr.srtp_verified;
		out->counted += steps[i].rr.srtp_counted;
	}
	if (out->srtp_failures && !err[0]) {
		snprintf(err, sizeof(err), "SRTP failures: %llu packets did not authenticate or protect "
			 "(see steps[].srtp)", (unsigned long long)out->srtp_failures);
		cJSON_AddStringToObject(e, "error", err);
		fprintf(stderr, "spbench srtp: %s: ERROR: %s\n", sc->name, err);
	}
	out->skipped = f.sp.skipped;
	out->ok = !failed && !err[0];
	out->rate = *rate;
	cJSON_AddStringToObject(e, "status", f.sp.skipped ? "skipped" : out->ok ? "ok" : "error");
	if (srtp) {
		cJSON *v = cJSON_AddObjectToObject(e, "verification");
		cJSON_AddNumberToObject(v, "verify_every", every);
		cJSON_AddStringToObject(v, "how", every <= 1 ?
			"every packet unprotected by the subscriber (libsrtp, its own key) and checked in full" :
			"subscriber s unprotects the packets whose sequence in the step is s modulo verify_every and "
			"checks them in full; the others are counted (loss, duplicates, order, length, SSRC) from "
			"the clear RTP header");
	}
	if (srtp) {
		cJSON *v = cJSON_GetObjectItem(e, "verification");
		cJSON_AddNumberToObject(v, "verified", (double)out->verified);
		cJSON_AddNumberToObject(v, "counted_from_header", (double)out->counted);
		cJSON_AddNumberToObject(v, "failures", (double)out->srtp_failures);
	}
	if (med >= 0) {
		const struct step *s = &steps[med];
		cJSON *fx = figures_json(s, !o->loopback);
		cJSON_AddNumberToObject(fx, "repetitions", nfixed);
		cJSON_AddItemToObject(e, "fixed_rate", fx);
		out->delivered = step_delivered_pps(s);
		out->loss_ratio = s->rr.expected ? (double)s->rr.lost / (double)s->rr.expected : 0;
		out->cpu_per_mpkt = step_cpu_per_mpkt(s);
		out->cores = s->window_s > 0 ? s->fwd_cpu_s / s->window_s : 0;
		out->fixed_pass = s->pass;
		out->on_time = s->sender_on_time;
		/* spdp's own count when it has one, else what arrived. */
		out->protect_per_core = s->fwd_cpu_s > 0 ?
			(s->protected_pkts >= 0 ? s->protected_pkts : (double)s->rr.received) / s->fwd_cpu_s : 0;
		out->cpu_min = out->cpu_max = out->cpu_per_mpkt;
		double pn = 0, pns = 0, un = 0, uns = 0;
		for (int i = 0; i < nfixed; i++) {
			const struct step *x = &steps[fixed[i]];
			pn += x->prot_timed, pns += x->prot_timed_ns;
			un += x->unprot_timed, uns += x->unprot_timed_ns;
		}
		out->prot_us = pn > 0 ? pns / pn / 1e3 : 0;
		out->unprot_us = un > 0 ? uns / un / 1e3 : 0;
		for (int i = 0; i < nfixed; i++) {
			const struct step *x = &steps[fixed[i]];
			double v = step_cpu_per_mpkt(x);
			if (x->sender_on_time != s->sender_on_time)
				continue;
			out->cpu_min = v < out->cpu_min ? v : out->cpu_min;
			out->cpu_max = v > out->cpu_max ? v : out->cpu_max;
		}
		if (nfixed > 1) {
			cJSON *a = cJSON_AddArrayToObject(fx, "cpu_s_per_mpkt_all");
			for (int i = 0; i < nfixed; i++)
				cJSON_AddItemToArray(a, cJSON_CreateNumber(step_cpu_per_mpkt(&steps[fixed[i]])));
			cJSON_AddNumberToObject(fx, "cpu_s_per_mpkt_min", out->cpu_min);
			cJSON_AddNumberToObject(fx, "cpu_s_per_mpkt_max", out->cpu_max);
		}
	}
	if (o->search && med >= 0) {
		if (best >= 0) {
			out->best_delivered = step_delivered_pps(&steps[best]);
			out->best_cpu_per_mpkt = step_cpu_per_mpkt(&steps[best]);
			cJSON *zl = figures_json(&steps[best], !o->loopback);
			if (o->confirm_ms)
				cJSON_AddBoolToObject(zl, "confirmed", !unconfirmed);
			cJSON_AddItemToObject(e, "zero_loss", zl);
		} else {
			cJSON_AddNullToObject(e, "zero_loss");
		}
		const char *lim = steps_first_limit(steps, nsteps);
		if (lim)
			cJSON_AddStringToObject(e, "limited_by", lim);
	}
	arr = cJSON_AddArrayToObject(e, "steps");
	for (unsigned i = 0; i < nsteps; i++)
		cJSON_AddItemToArray(arr, step_json(&steps[i], srtp));
	if (med >= 0)
		fprintf(stderr, "spbench srtp: %s: at %.0f/s offered: delivered %.0f/s, loss %.2f%%, spdp %.2f "
			"CPU-s/Mpkt%s\n", sc->name, *rate, out->delivered, out->loss_ratio * 100, out->cpu_per_mpkt,
			out->best_delivered > 0 ? "" : "");
	steps_free(steps, nsteps);
	free(c.env.sent);
	rtpt_sender_destroy(c.env.tx);
	rtpt_receiver_destroy(c.env.rx);
	crypto_free(&cr); /* after the sender and receiver that used the legs */
}

/* ------------------------------------------------------------ raw libsrtp */

/* Per suite, packets per CPU-second of one core (0: not measured). */
struct raw_rates {
	double protect[SRTP_LEG_SUITE__COUNT], unprotect[SRTP_LEG_SUITE__COUNT];
	double leg_protect[SRTP_LEG_SUITE__COUNT], leg_unprotect[SRTP_LEG_SUITE__COUNT];
	char backend[32];
};

static void raw_collect(const cJSON *arr, struct raw_rates *rr)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr) {
		enum srtp_leg_suite s;
		const char *op = bench_jstr(e, "op"), *path = bench_jstr(e, "path");
		double v = bench_jnum(e, "pkts_per_s");
		bool leg = !strcmp(path, "srtp_leg"), prot = !strcmp(op, "protect");

		if (suite_parse(bench_jstr(e, "suite"), &s) < 0 || v <= 0 || (!leg && strcmp(path, "libsrtp")) ||
		    (!prot && strcmp(op, "unprotect")))
			continue;
		*(leg ? (prot ? &rr->leg_protect[s] : &rr->leg_unprotect[s]) :
			(prot ? &rr->protect[s] : &rr->unprotect[s])) = v;
	}
}

/* The raw libsrtp rates, from `spbench srtp-raw` (srtp_raw.c) called here,
 * or from a result file it wrote. Returns its JSON result (NULL: none, the
 * reason in why). */
static cJSON *raw_measure(const struct opts *o, struct raw_rates *rr, char *why, size_t whylen)
{
	char path[PATH_MAX] = "", suites[160] = "", size[16], *text = NULL;
	const char *file = o->raw;
	cJSON *res = NULL;
	FILE *fp;
	long n;

	memset(rr, 0, sizeof(*rr));
	if (!strcmp(o->raw, "none")) {
		snprintf(why, whylen, "not measured (--raw none)");
		return NULL;
	}
	if (!strcmp(o->raw, "auto")) {
		char *argv[8 + 16 + 1];
		int argc = 0, fd, rc;
		cpu_set_t saved;
		bool have_aff = sched_getaffinity(0, sizeof(saved), &saved) == 0;

		for (uint32_t i = 0; i < o->nsuites; i++)
			snprintf(suites + strlen(suites), sizeof(suites) - strlen(suites), "%s%s", i ? "," : "",
				 suite_name[o->suites[i]]);
		snprintf(size, sizeof(size), "%u", o->stream.pkt_size);
		snprintf(path, sizeof(path), "/tmp/spbench-srtp-raw-XXXXXX");
		if ((fd = mkstemp(path)) < 0) {
			snprintf(why, whylen, "mkstemp: %s", strerror(errno));
			return NULL;
		}
		close(fd);
		argv[argc++] = "srtp-raw";
		argv[argc++] = "--suites";
		argv[argc++] = suites;
		argv[argc++] = "--size";
		argv[argc++] = size;
		argv[argc++] = "--json";
		argv[argc++] = path;
		for (unsigned i = 0; i < o->n_raw_args; i++)
			argv[argc++] = (char *)o->raw_args[i];
		argv[argc] = NULL;
		fprintf(stderr, "spbench srtp: raw libsrtp rates: spbench srtp-raw --suites %s --size %s ...\n",
			suites, size);
		/* It pins the calling thread to one CPU: undo that afterwards. */
		rc = bench_srtp_raw(argc, argv);
		if (have_aff)
			sched_setaffinity(0, sizeof(saved), &saved);
		optind = 1;
		if (rc != 0) {
			snprintf(why, whylen, "spbench srtp-raw failed (exit %d)", rc);
			unlink(path);
			return NULL;
		}
		file = path;
	}
	if (!(fp = fopen(file, "re"))) {
		snprintf(why, whylen, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && n < (64 << 20) && fseek(fp, 0, SEEK_SET) == 0 &&
	    (text = malloc((size_t)n + 1)) && fread(text, 1, (size_t)n, fp) == (size_t)n) {
		text[n] = 0;
		res = cJSON_Parse(text);
	}
	fclose(fp);
	free(text);
	if (!res) {
		snprintf(why, whylen, "%s: not a JSON result of spbench srtp-raw", file);
		goto out;
	}
	raw_collect(cJSON_GetObjectItem(res, "baselines"), rr);
	raw_collect(cJSON_GetObjectItem(res, "results"), rr);
	snprintf(rr->backend, sizeof(rr->backend), "%s",
		 bench_jstr(cJSON_GetObjectItem(res, "params"), "srtp_backend"));
out:
	if (path[0])
		unlink(path);
	return res;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *to)
{
	fprintf(to,
"usage: spbench srtp [options]\n"
"  SRTP fan-out through spdp: plain vs passthrough vs terminate vs protect, per suite,\n"
"  at one fixed offered rate (and optionally a zero-loss search), with spdp's CPU per\n"
"  packet and its protect rate per core against raw libsrtp (spbench srtp-raw).\n"
"  --preset P          quick (CI, ~30 s) or full (real figures, ~5 min); default quick\n"
"  --modes LIST        plain,passthrough,terminate,protect (default all; plain always runs)\n"
"  --suites LIST       default AEAD_AES_128_GCM,AES_CM_128_HMAC_SHA1_80 (also\n"
"                      AES_CM_128_HMAC_SHA1_32, AEAD_AES_256_GCM; case-insensitive)\n"
"  --cameras N         cameras (default 4)\n"
"  --fanout M          subscribers per camera (default 4)\n"
"  --size BYTES        RTP packet size before SRTP (default 1200)\n"
"  --rate PPS          fixed offered rate, subscriber packets/s (quick 200000, full 300000);\n"
"                      lowered 30%% at a time (3x at most) until plain delivers it losslessly\n"
"  --fixed-ms MS       one fixed-rate step (quick 1000, full 4000)\n"
"  --reps N            fixed-rate steps per scenario, median CPU reported (quick 2, full 3)\n"
"  --search / --no-search  zero-loss rate search per scenario (quick off, full on)\n"
"  --step-ms MS --max-steps N --confirm-ms MS --resolution F   the search (full: 1500, 8, 4000, 0.05)\n"
"  --max-rate PPS      highest delivered packets/s the search tries (2000000)\n"
"  --verify-every N    SRTP subscribers unprotect and fully check 1 packet in N, subscriber\n"
"                      s those whose sequence is s mod N (default 4 for GCM, 8 for AES-CM;\n"
"                      1: all); the others are counted from the clear RTP header\n"
"  --generate-keys     protect mode: srtp_key=generate (spcp makes the subscribers' keys)\n"
"  --raw auto|none|FILE  raw libsrtp rates: run spbench srtp-raw here (auto), or read its\n"
"                      JSON result\n"
"  --raw-arg ARG       extra argument for srtp-raw (repeatable; presets set --count/--reps)\n"
"  --build-dir DIR     where dataplane/spdp and controlplane/spcp are (default: spbench's)\n"
"  --workers N         spdp worker threads (default 2)\n"
"  --spdp-opt K=V      extra spdp -o setting (repeatable)\n"
"  --rcvbuf BYTES      the tool's receive buffer (default 256M)\n"
"  --batch N           datagrams per sendmmsg/recvmmsg (default 64)\n"
"  --rx-coalesce-us US receiver pause after a short batch (default 200)\n"
"  --loopback          no forwarder: cameras send to the subscribers directly (plain and\n"
"                      passthrough only): checks the tool and shows its own cost\n"
"  --fault-key         give subscriber 1 of camera 1 a wrong key: the run must fail\n"
"  --live-protect      cameras protect while sending (default: each step's packets are\n"
"                      protected before it starts, so the tool's crypto does not compete\n"
"                      with spdp for the CPU; those packets give no latency samples)\n"
"  --out FILE          JSON there instead of stdout\n"
"  --keep              keep spdp/spcp logs and temp dirs\n"
"  -v, --verbose       one line per step on stderr\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_PRESET = 256, O_MODES, O_SUITES, O_CAMERAS, O_FANOUT, O_SIZE, O_RATE, O_FIXED, O_REPS,
	       O_SEARCH, O_NOSEARCH, O_STEP, O_MAXSTEPS, O_CONFIRM, O_RES, O_MAXRATE, O_VERIFY, O_GENKEYS,
	       O_RAW, O_RAWARG, O_BUILD, O_WORKERS, O_SPDPOPT, O_RCVBUF, O_BATCH, O_COALESCE, O_LOOPBACK,
	       O_FAULT, O_OUT, O_KEEP, O_LIVE };
	static const struct option lo[] = {
		{ "preset", required_argument, NULL, O_PRESET }, { "modes", required_argument, NULL, O_MODES },
		{ "suites", required_argument, NULL, O_SUITES }, { "cameras", required_argument, NULL, O_CAMERAS },
		{ "fanout", required_argument, NULL, O_FANOUT }, { "size", required_argument, NULL, O_SIZE },
		{ "rate", required_argument, NULL, O_RATE }, { "fixed-ms", required_argument, NULL, O_FIXED },
		{ "reps", required_argument, NULL, O_REPS }, { "search", no_argument, NULL, O_SEARCH },
		{ "no-search", no_argument, NULL, O_NOSEARCH }, { "step-ms", required_argument, NULL, O_STEP },
		{ "max-steps", required_argument, NULL, O_MAXSTEPS },
		{ "confirm-ms", required_argument, NULL, O_CONFIRM },
		{ "resolution", required_argument, NULL, O_RES }, { "max-rate", required_argument, NULL, O_MAXRATE },
		{ "verify-every", required_argument, NULL, O_VERIFY },
		{ "generate-keys", no_argument, NULL, O_GENKEYS }, { "raw", required_argument, NULL, O_RAW },
		{ "raw-arg", required_argument, NULL, O_RAWARG },
		{ "build-dir", required_argument, NULL, O_BUILD }, { "workers", required_argument, NULL, O_WORKERS },
		{ "spdp-opt", required_argument, NULL, O_SPDPOPT }, { "rcvbuf", required_argument, NULL, O_RCVBUF },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "rx-coalesce-us", required_argument, NULL, O_COALESCE },
		{ "loopback", no_argument, NULL, O_LOOPBACK }, { "fault-key", no_argument, NULL, O_FAULT },
		{ "out", required_argument, NULL, O_OUT }, { "keep", no_argument, NULL, O_KEEP },
		{ "live-protect", no_argument, NULL, O_LIVE },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	/* Explicit options override the preset, whatever their order. */
	int32_t fixed = -1, reps = -1, search = -1, step = -1, maxsteps = -1, confirm = -1;
	double rate = -1, res = -1;
	bool raw_args_given = false;
	char exe[PATH_MAX], *slash;
	uint64_t v64;
	int opt;

	memset(o, 0, sizeof(*o));
	for (int m = 0; m < M__COUNT; m++)
		o->mode[m] = true;
	o->suites[0] = SRTP_LEG_AEAD_AES_128_GCM;
	o->suites[1] = SRTP_LEG_AES_CM_128_HMAC_SHA1_80;
	o->nsuites = 2;
	o->cameras = 4;
	o->fanout = 4;
	rtpt_stream_default(&o->stream);
	o->max_delivered = 2000000;
	o->warmup_ms = 300;
	o->drain_quiet_ms = 100;
	o->max_backlog_ms = 100;
	o->raw = "auto";
	o->rcvbuf = 256 << 20;
	o->batch = 64;
	o->workers = 2;
	o->coalesce_us = 200;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		uint32_t u;
		switch (opt) {
		case O_PRESET:
			if (strcmp(optarg, "quick") && strcmp(optarg, "full")) {
				fprintf(stderr, "spbench srtp: --preset quick|full\n");
				return -1;
			}
			o->full = !strcmp(optarg, "full");
			break;
		case O_MODES: {
			char buf[128], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (int m = 0; m < M__COUNT; m++)
				o->mode[m] = false;
			for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				enum mode m = mode_from_name(tok);
				if (m == M__COUNT) {
					fprintf(stderr, "spbench srtp: --modes: unknown '%s' (plain, passthrough, "
						"terminate, protect)\n", tok);
					return -1;
				}
				o->mode[m] = true;
			}
			o->mode[M_PLAIN] = true; /* the baseline */
			break;
		}
		case O_SUITES: {
			char buf[256], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", optarg);
			o->nsuites = 0;
			for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				enum srtp_leg_suite s;
				bool dup = false;
				if (suite_parse(tok, &s) < 0) {
					fprintf(stderr, "spbench srtp: --suites: unknown '%s'\n", tok);
					return -1;
				}
				for (uint32_t i = 0; i < o->nsuites; i++)
					dup |= o->suites[i] == s;
				if (!dup)
					o->suites[o->nsuites++] = s;
			}
			if (!o->nsuites)
				goto bad;
			break;
		}
		case O_CAMERAS:
			if (bench_parse_u32(optarg, 1, 10000, &o->cameras)) goto bad;
			break;
		case O_FANOUT:
			if (bench_parse_u32(optarg, 1, 1024, &o->fanout)) goto bad;
			break;
		case O_SIZE:
			if (bench_parse_u32(optarg, RTPT_MIN_PKT, 1400, &o->stream.pkt_size)) goto bad;
			break;
		case O_RATE:
			if (bench_parse_u32(optarg, 100, 10000000, &u)) goto bad;
			rate = u;
			break;
		case O_FIXED:
			if (bench_parse_u32(optarg, 100, 600000, &u)) goto bad;
			fixed = (int32_t)u;
			break;
		case O_REPS:
			if (bench_parse_u32(optarg, 1, MAX_REPS, &u)) goto bad;
			reps = (int32_t)u;
			break;
		case O_SEARCH: search = 1; break;
		case O_NOSEARCH: search = 0; break;
		case O_STEP:
			if (bench_parse_u32(optarg, 50, 600000, &u)) goto bad;
			step = (int32_t)u;
			break;
		case O_MAXSTEPS:
			if (bench_parse_u32(optarg, 1, 40, &u)) goto bad;
			maxsteps = (int32_t)u;
			break;
		case O_CONFIRM:
			if (bench_parse_u32(optarg, 0, 600000, &u)) goto bad;
			confirm = (int32_t)u;
			break;
		case O_RES:
			res = atof(optarg);
			if (res <= 0 || res >= 1) goto bad;
			break;
		case O_MAXRATE:
			if (bench_parse_u32(optarg, 100, 100000000, &u)) goto bad;
			o->max_delivered = u;
			break;
		case O_VERIFY:
			if (bench_parse_u32(optarg, 1, 1000000, &o->verify_every)) goto bad;
			break;
		case O_GENKEYS: o->generate_keys = true; break;
		case O_RAW: o->raw = optarg; break;
		case O_RAWARG:
			if (o->n_raw_args == sizeof(o->raw_args) / sizeof(o->raw_args[0])) goto bad;
			o->raw_args[o->n_raw_args++] = optarg;
			raw_args_given = true;
			break;
		case O_BUILD:
			snprintf(o->build_dir, sizeof(o->build_dir), "%s", optarg);
			break;
		case O_WORKERS:
			if (bench_parse_u32(optarg, 1, 64, &o->workers)) goto bad;
			break;
		case O_SPDPOPT:
			if (o->n_spdp_opts == MAX_SPDP_OPTS || !strchr(optarg, '=')) goto bad;
			o->spdp_opts[o->n_spdp_opts++] = optarg;
			break;
		case O_RCVBUF:
			if (bench_parse_size(optarg, &v64) < 0 || v64 > (1u << 30)) goto bad;
			o->rcvbuf = (int)v64;
			break;
		case O_BATCH:
			if (bench_parse_u32(optarg, 1, RTPT_MAX_BATCH, &o->batch)) goto bad;
			break;
		case O_COALESCE:
			if (bench_parse_u32(optarg, 0, 10000, &o->coalesce_us)) goto bad;
			break;
		case O_LOOPBACK: o->loopback = true; break;
		case O_FAULT: o->fault_key = true; break;
		case O_OUT: o->out = optarg; break;
		case O_KEEP: o->keep = true; break;
		case O_LIVE: o->live_protect = true; break;
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
		fprintf(stderr, "spbench srtp: bad value '%s' for --%s\n", optarg,
			opt >= O_PRESET && opt <= O_LIVE ? lo[opt - O_PRESET].name : "?");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "spbench srtp: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	o->rate = rate > 0 ? rate : o->full ? 300000 : 200000;
	o->fixed_ms = fixed >= 0 ? (uint32_t)fixed : o->full ? 4000 : 1000;
	o->reps = reps >= 0 ? (uint32_t)reps : o->full ? 3 : 2;
	o->search = search >= 0 ? search : o->full;
	o->step_ms = step >= 0 ? (uint32_t)step : o->full ? 1500 : 300;
	o->max_steps = maxsteps >= 0 ? (uint32_t)maxsteps : o->full ? 8 : 4;
	o->confirm_ms = confirm >= 0 ? (uint32_t)confirm : o->full ? 4000 : 0;
	o->resolution = res > 0 ? res : o->full ? 0.05 : 0.15;
	if (!raw_args_given) {
		/* srtp-raw's own defaults are 100000 packets x 3 runs; quick needs less. */
		static const char *const quick[] = { "--count", "30000", "--reps", "1" };
		static const char *const full[] = { "--count", "100000", "--reps", "5" };
		for (unsigned i = 0; i < 4; i++)
			o->raw_args[o->n_raw_args++] = o->full ? full[i] : quick[i];
	}
	if (o->loopback)
		o->workers = 1; /* nothing to balance */
	bench_exe_dir(exe, sizeof(exe));
	if (!o->build_dir[0]) {
		if ((slash = strrchr(exe, '/')))
			*slash = 0;
		snprintf(o->build_dir, sizeof(o->build_dir), "%.1000s", exe);
	}
	return 0;
}

/* ------------------------------------------------------------ main */

static void ratio_put(cJSON *ratios, const char *key, const char *sub, double a, double b)
{
	cJSON *r = cJSON_GetObjectItemCaseSensitive(ratios, key);

	if (!r)
		r = cJSON_AddObjectToObject(ratios, key);
	if (a > 0 && b > 0)
		cJSON_AddNumberToObject(r, sub, a / b);
	else
		cJSON_AddNullToObject(r, sub);
}

static const struct outcome *find_out(const struct scen *sc, const struct outcome *res, unsigned n,
				      enum mode m, enum srtp_leg_suite s)
{
	for (unsigned i = 0; i < n; i++)
		if (sc[i].mode == m && (m == M_PLAIN || sc[i].suite == s) && res[i].ran && res[i].ok &&
		    res[i].cpu_per_mpkt > 0)
			return &res[i];
	return NULL;
}

int bench_srtp_main(int argc, char **argv)
{
	struct opts o;
	struct scen sc[MAX_SCEN];
	struct outcome res[MAX_SCEN];
	struct raw_rates raw;
	cJSON *root, *params, *results, *baselines, *ratios, *goals, *rawj, *derived;
	char line[2048], raw_why[256] = "";
	size_t len = 0;
	unsigned nsc = 0;
	int rc, exit_code = 0;
	double t0 = bench_now_s(), rate;
	uint64_t failures = 0;

	if ((rc = parse_opts(argc, argv, &o)))
		return rc > 0 ? 0 : 2;
	memset(res, 0, sizeof(res));
	bench_catch_signals();
	prctl(PR_SET_TIMERSLACK, 1000UL);

	/* Scenarios: plain first (it fixes the rate), then per suite. */
	sc[nsc] = (struct scen){ .mode = M_PLAIN };
	snprintf(sc[nsc++].name, sizeof(sc[0].name), "plain");
	for (uint32_t i = 0; i < o.nsuites; i++)
		for (int m = M_PASS; m < M__COUNT; m++)
			if (o.mode[m]) {
				sc[nsc] = (struct scen){ .mode = (enum mode)m, .suite = o.suites[i] };
				snprintf(sc[nsc++].name, sizeof(sc[0].name), "%s/%s", mode_name[m],
					 suite_name[o.suites[i]]);
			}

	/* Raw crypto first, on a quiet machine (it uses thread CPU time anyway). */
	rawj = raw_measure(&o, &raw, raw_why, sizeof(raw_why));
	if (!rawj)
		fprintf(stderr, "spbench srtp: no raw libsrtp rates: %s\n", raw_why);

	rate = o.rate;
	for (unsigned i = 0; i < nsc && !bench_stop; i++)
		run_scenario(&o, &sc[i], &rate, &res[i]);

	/* ---- JSON ---- */
	root = bench_envelope("srtp");
	if (!root) {
		cJSON_Delete(rawj);
		return 1;
	}
	params = cJSON_AddObjectToObject(root, "params");
	cJSON_AddStringToObject(params, "preset", o.full ? "full" : "quick");
	cJSON_AddStringToObject(params, "target", o.loopback ? "loopback (no forwarder)" : "spdp");
	{
		cJSON *a = cJSON_AddArrayToObject(params, "modes");
		for (int m = 0; m < M__COUNT; m++)
			if (o.mode[m])
				cJSON_AddItemToArray(a, cJSON_CreateString(mode_name[m]));
		a = cJSON_AddArrayToObject(params, "suites");
		for (uint32_t i = 0; i < o.nsuites; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(suite_name[o.suites[i]]));
	}
	cJSON_AddStringToObject(params, "srtp_backend", srtp_leg_crypto_backend());
	cJSON_AddNumberToObject(params, "cameras", o.cameras);
	cJSON_AddNumberToObject(params, "fanout", o.fanout);
	cJSON_AddNumberToObject(params, "packet_bytes", o.stream.pkt_size);
	cJSON_AddStringToObject(params, "stream", "H.264 (RFC 6184) as in spbench rtp: SPS, PPS, FU-A IDR "
						  "keyframes, type 1 slices; SRTP adds the suite's tag");
	cJSON_AddNumberToObject(params, "requested_rate_pps", o.rate);
	cJSON_AddNumberToObject(params, "fixed_rate_pps", rate);
	cJSON_AddNumberToObject(params, "fixed_ms", o.fixed_ms);
	cJSON_AddNumberToObject(params, "reps", o.reps);
	cJSON_AddNumberToObject(params, "warmup_ms", o.warmup_ms);
	cJSON_AddBoolToObject(params, "search", o.search);
	if (o.search) {
		cJSON_AddNumberToObject(params, "step_ms", o.step_ms);
		cJSON_AddNumberToObject(params, "max_steps", o.max_steps);
		cJSON_AddNumberToObject(params, "confirm_ms", o.confirm_ms);
		cJSON_AddNumberToObject(params, "resolution", o.resolution);
	}
	cJSON_AddNumberToObject(params, "verify_every", o.verify_every);
	cJSON_AddStringToObject(params, "verification",
				"SRTP subscribers unprotect with libsrtp (srtp_leg) and their own key the packets "
				"whose sequence in the step is their index modulo verify_every (0: 4 for GCM "
				"suites, 8 for AES-CM; see each result's verification) and check them in full; "
				"the others are counted for loss, duplicates and order from the clear RTP header. "
				"Camera packets of SRTP modes are protected before each step starts (no latency "
				"samples from them) unless live_protect");
	cJSON_AddBoolToObject(params, "live_protect", o.live_protect);
	cJSON_AddStringToObject(params, "cpu", "spdp: /proc/<pid>/stat utime+stime over the step and its "
					       "drain, all threads; CPU-s per million delivered packets");
	cJSON_AddStringToObject(params, "protect_per_core",
				"protect mode: delivered (= protected) packets per spdp CPU-second, everything "
				"spdp does included; marginal: 1 / (CPU per packet of protect - terminate), the "
				"per-subscriber protect alone (same suite, same rate, same ingest unprotect)");
	cJSON_AddBoolToObject(params, "sub_keys_generated_by_spcp", o.generate_keys);
	cJSON_AddNumberToObject(params, "spdp_workers", o.workers);
	{
		cJSON *a = cJSON_AddArrayToObject(params, "spdp_opts");
		cJSON_AddItemToArray(a, cJSON_CreateString("media.address=127.0.0.1"));
		for (unsigned i = 0; i < o.n_spdp_opts; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(o.spdp_opts[i]));
	}
	if (o.fault_key)
		cJSON_AddBoolToObject(params, "fault_key", true);

	results = cJSON_AddArrayToObject(root, "results");
	baselines = cJSON_AddArrayToObject(root, "baselines");
	ratios = cJSON_AddObjectToObject(root, "ratios");
	for (unsigned i = 0; i < nsc; i++) {
		if (!res[i].ran)
			continue;
		cJSON_AddItemToArray(sc[i].mode == M_PLAIN ? baselines : results, res[i].entry);
		failures += res[i].srtp_failures;
		if (!res[i].ok && !res[i].skipped)
			exit_code = 1;
	}
	{
		cJSON *r = cJSON_AddObjectToObject(root, "raw_libsrtp");
		if (rawj) {
			cJSON *ps = cJSON_AddObjectToObject(r, "per_core_pps");
			cJSON_AddStringToObject(r, "source", !strcmp(o.raw, "auto") ? "spbench srtp-raw, this run" : o.raw);
			cJSON_AddStringToObject(r, "srtp_backend", raw.backend);
			cJSON_AddItemToObject(r, "command", cJSON_Duplicate(cJSON_GetObjectItem(rawj, "command"), 1));
			cJSON_AddItemToObject(r, "params", cJSON_Duplicate(cJSON_GetObjectItem(rawj, "params"), 1));
			for (uint32_t i = 0; i < o.nsuites; i++) {
				enum srtp_leg_suite s = o.suites[i];
				cJSON *x = cJSON_AddObjectToObject(ps, suite_name[s]);
				cJSON_AddNumberToObject(x, "libsrtp_protect", raw.protect[s]);
				cJSON_AddNumberToObject(x, "libsrtp_unprotect", raw.unprotect[s]);
				cJSON_AddNumberToObject(x, "srtp_leg_protect", raw.leg_protect[s]);
				cJSON_AddNumberToObject(x, "srtp_leg_unprotect", raw.leg_unprotect[s]);
			}
			/* Their entries stand as baselines of this run too. */
			const cJSON *e;
			cJSON_ArrayForEach(e, cJSON_GetObjectItem(rawj, "baselines")) {
				cJSON *d = cJSON_Duplicate(e, 1);
				cJSON_DeleteItemFromObject(d, "runs");
				cJSON_AddStringToObject(d, "kind", "raw");
				cJSON_AddItemToArray(baselines, d);
			}
		} else {
			cJSON_AddStringToObject(r, "unavailable", raw_why);
		}
		cJSON_Delete(rawj);
	}

	/* Derived figures and ratios, per suite, all at the same offered rate. */
	derived = cJSON_AddObjectToObject(root, "derived");
	goals = cJSON_AddArrayToObject(root, "goals");
	{
		const struct outcome *pl = find_out(sc, res, nsc, M_PLAIN, 0);
		for (uint32_t i = 0; i < o.nsuites; i++) {
			enum srtp_leg_suite s = o.suites[i];
			const char *sn = suite_name[s];
			const struct outcome *pa = find_out(sc, res, nsc, M_PASS, s),
					     *te = find_out(sc, res, nsc, M_TERM, s),
					     *pr = find_out(sc, res, nsc, M_PROT, s);
			cJSON *d = cJSON_AddObjectToObject(derived, sn);
			char what[160];

			for (int m = M_PASS; m < M__COUNT; m++) {
				const struct outcome *x = m == M_PASS ? pa : m == M_TERM ? te : pr;
				char key[64];
				if (!x || !pl)
					continue;
				snprintf(key, sizeof(key), "cpu_per_pkt:%s/plain", mode_name[m]);
				ratio_put(ratios, key, sn, x->cpu_per_mpkt, pl->cpu_per_mpkt);
				snprintf(key, sizeof(key), "delivered:%s/plain", mode_name[m]);
				ratio_put(ratios, key, sn, x->delivered, pl->delivered);
				if (o.search) {
					snprintf(key, sizeof(key), "zero_loss:%s/plain", mode_name[m]);
					ratio_put(ratios, key, sn, x->best_delivered, pl->best_delivered);
				}
			}
			if (pa && pl) {
				double r = pa->cpu_per_mpkt / pl->cpu_per_mpkt;
				cJSON_AddNumberToObject(d, "passthrough_cpu_per_pkt_vs_plain", r);
				snprintf(what, sizeof(what), "passthrough CPU per packet <= plain (%s)", sn);
				cJSON_AddBoolToObject(d, "passthrough_and_plain_on_schedule", pa->on_time && pl->on_time);
				bench_add_goal(goals, what, r, r <= GOAL_PASS_PLAIN, pa->on_time && pl->on_time ? NULL :
					       "the cameras did not keep the offered rate in one of them: not the same load");
			}
			if (pr && pr->prot_us > 0 && raw.protect[s] > 0) {
				/* Judged on spdp's own protect step (transmit buffer +
				 * encrypt, timed inside spdp on a sample): the whole packet
				 * also pays the kernel's UDP send, which alone costs more
				 * here than raw libsrtp's protect (see plain). */
				double r = 1e6 / pr->prot_us / raw.protect[s];
				cJSON_AddNumberToObject(d, "spdp_protect_us_per_pkt_sampled", pr->prot_us);
				cJSON_AddNumberToObject(d, "spdp_protect_pps_per_core_sampled", 1e6 / pr->prot_us);
				cJSON_AddNumberToObject(d, "spdp_protect_vs_raw", r);
				ratio_put(ratios, "spdp_protect_per_core/raw_libsrtp", sn, 1e6 / pr->prot_us,
					  raw.protect[s]);
				snprintf(what, sizeof(what), "spdp's per-subscriber protect rate per core "
					 ">= 80%% of raw libsrtp protect (%s)", sn);
				bench_add_goal(goals, what, r, r >= GOAL_PROTECT_RAW, NULL);
			}
			if (te && te->unprot_us > 0 && raw.unprotect[s] > 0) {
				cJSON_AddNumberToObject(d, "spdp_unprotect_us_per_pkt_sampled", te->unprot_us);
				cJSON_AddNumberToObject(d, "spdp_unprotect_vs_raw", 1e6 / te->unprot_us / raw.unprotect[s]);
				ratio_put(ratios, "spdp_unprotect_per_core/raw_libsrtp", sn, 1e6 / te->unprot_us,
					  raw.unprotect[s]);
			}
			if (pr) {
				double per_core = pr->protect_per_core;
				cJSON_AddNumberToObject(d, "protect_pps_per_spdp_cpu_s", per_core);
				if (raw.protect[s] > 0) {
					double r = per_core / raw.protect[s];
					cJSON_AddNumberToObject(d, "protect_per_core_vs_raw", r);
					ratio_put(ratios, "protect_per_core/raw_libsrtp", sn, per_core, raw.protect[s]);
				}
				if (te && pr->cpu_per_mpkt > te->cpu_per_mpkt) {
					double us = pr->cpu_per_mpkt - te->cpu_per_mpkt; /* s/Mpkt = us/pkt */
					/* Half the spread of both over their repetitions. */
					double noise = (pr->cpu_max - pr->cpu_min + te->cpu_max - te->cpu_min) / 2;
					cJSON_AddNumberToObject(d, "protect_marginal_us_per_pkt", us);
					cJSON_AddNumberToObject(d, "protect_marginal_noise_us", noise);
					cJSON_AddBoolToObject(d, "protect_marginal_within_noise", us <= noise);
					cJSON_AddNumberToObject(d, "protect_marginal_pps_per_core", 1e6 / us);
					if (raw.protect[s] > 0) {
						cJSON_AddNumberToObject(d, "raw_protect_us_per_pkt", 1e6 / raw.protect[s]);
						cJSON_AddNumberToObject(d, "protect_marginal_vs_raw", 1e6 / us / raw.protect[s]);
						ratio_put(ratios, "protect_marginal_per_core/raw_libsrtp", sn, 1e6 / us,
							  raw.protect[s]);
					}
				}
			}
			if (te && pl && te->cpu_per_mpkt > pl->cpu_per_mpkt) {
				/* Terminate unprotects once per camera packet, i.e. per fanout
				 * delivered packets. */
				double us = (te->cpu_per_mpkt - pl->cpu_per_mpkt) * o.fanout;
				cJSON_AddNumberToObject(d, "terminate_marginal_us_per_input_pkt", us);
				if (raw.unprotect[s] > 0)
					cJSON_AddNumberToObject(d, "terminate_marginal_vs_raw_unprotect",
								1e6 / us / raw.unprotect[s]);
			}
		}
		if (pl)
			bench_add_goal(goals, "plain delivers the fixed rate with zero loss (the comparison's premise)",
				       pl->loss_ratio, pl->fixed_pass, NULL);
		bench_add_goal(goals, "every SRTP packet the subscribers checked authenticated (failures)",
			       (double)failures, failures == 0, NULL);
	}
	cJSON_AddNumberToObject(root, "duration_s", bench_now_s() - t0);
	if (bench_stop) {
		cJSON_AddBoolToObject(root, "interrupted", true);
		exit_code = 130;
	}
	if (failures && !exit_code)
		exit_code = 1;
	rc = bench_emit(root, o.out);

	/* ---- one line ---- */
	len += (size_t)snprintf(line + len, sizeof(line) - len, "spbench srtp (%s): 1:%u at %.0fk/s offered:",
				o.full ? "full" : "quick", o.fanout, rate / 1e3);
	{
		const struct outcome *pl = find_out(sc, res, nsc, M_PLAIN, 0);
		if (pl)
			len += (size_t)snprintf(line + len, sizeof(line) - len, " plain %.2f s/Mpkt%s", pl->cpu_per_mpkt,
						pl->fixed_pass ? "" : " (NOT CLEAN: the modes are not compared at a lossless rate)");
		for (uint32_t i = 0; i < o.nsuites && len < sizeof(line) - 300; i++) {
			enum srtp_leg_suite s = o.suites[i];
			const cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "derived"), suite_name[s]);
			len += (size_t)snprintf(line + len, sizeof(line) - len, " | %s:", suite_name[s]);
			for (int m = M_PASS; m < M__COUNT; m++) {
				const struct outcome *x = find_out(sc, res, nsc, (enum mode)m, s);
				if (!x)
					continue;
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %.2f s/Mpkt%s", mode_name[m],
							x->cpu_per_mpkt,
							x->loss_ratio > 0 ? " lossy" : "");
			}
			if (cJSON_IsNumber(cJSON_GetObjectItem(d, "spdp_protect_vs_raw")))
				len += (size_t)snprintf(line + len, sizeof(line) - len,
							", spdp's protect step %.0fk/s/core = %.0f%% raw",
							bench_jnum(d, "spdp_protect_pps_per_core_sampled") / 1e3,
							100 * bench_jnum(d, "spdp_protect_vs_raw"));
		}
		len += (size_t)snprintf(line + len, sizeof(line) - len, " | SRTP failures %llu",
					(unsigned long long)failures);
	}
	cJSON_Delete(root);
	if (rc < 0) {
		fprintf(stderr, "spbench srtp: writing %s: %s\n", o.out ? o.out : "stdout", strerror(-rc));
		return 1;
	}
	fprintf(stderr, "%s (%.0f s)\n", line, bench_now_s() - t0);
	return exit_code;
}