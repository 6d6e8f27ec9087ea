/*
 * srtp_raw: `spbench srtp-raw` measures what SRTP costs one core: packets
 * per second of CPU time to protect and to unprotect an RTP packet (1200
 * bytes by default, header included), per suite, through libsrtp directly
 * (the baseline) and through common/srtp_leg (ratio = wrapper overhead).
 * Run it on builds linked with different libsrtp crypto engines (Debian's
 * NSS, the private OpenSSL one: SP_SRTP_OPENSSL) to compare them; the result
 * names the libsrtp in use (srtp_leg_crypto_backend()).
 *
 * One thread, pinned to one CPU. Rates use that thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so time stolen by other work on a shared
 * machine does not count; wall time is recorded next to it.
 *
 *   protect    libsrtp: copy the packet template into a buffer, set the
 *              sequence number, srtp_protect() in place. srtp_leg: set the
 *              sequence number, srtp_leg_protect_rtp() into a second buffer
 *              (the copy is inside). One copy each.
 *   unprotect  BATCH packets protected once up front (sequence numbers
 *              0..BATCH-1); per batch a fresh inbound session / leg (not
 *              timed: the replay window would refuse a second pass), then
 *              copy + srtp_unprotect() / srtp_leg_unprotect_rtp() of each.
 *
 * Each measurement stops at --count packets or --seconds of CPU time,
 * whichever comes first; --reps runs are interleaved (rep -> suite -> op ->
 * path) and the medians reported. Any protect/unprotect failure fails the
 * run.
 */
#include "srtp_raw.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <srtp2/srtp.h>

#include "bench.h"
#include "srtp_leg.h"

#define BATCH 1024u         /* pre-protected packets per unprotect session */
#define CHUNK 256u          /* protect: packets between clock reads */
#define WARMUP 256u         /* untimed packets before each measurement */
#define SSRC 0x5354524du
#define MAX_REPS 101

enum op { OP_PROTECT, OP_UNPROTECT, OP__COUNT };
enum path { PATH_LIBSRTP, PATH_LEG, PATH__COUNT };

static const char *const op_names[OP__COUNT] = { "protect", "unprotect" };
static const char *const path_names[PATH__COUNT] = { "libsrtp", "srtp_leg" };

struct suite_desc {
	const char *name;
	enum srtp_leg_suite leg;
	srtp_profile_t profile;
};

static const struct suite_desc suite_descs[SRTP_LEG_SUITE__COUNT] = {
	{ "AES_CM_128_HMAC_SHA1_80", SRTP_LEG_AES_CM_128_HMAC_SHA1_80, srtp_profile_aes128_cm_sha1_80 },
	{ "AES_CM_128_HMAC_SHA1_32", SRTP_LEG_AES_CM_128_HMAC_SHA1_32, srtp_profile_aes128_cm_sha1_32 },
	{ "AEAD_AES_128_GCM", SRTP_LEG_AEAD_AES_128_GCM, srtp_profile_aead_aes_128_gcm },
	{ "AEAD_AES_256_GCM", SRTP_LEG_AEAD_AES_256_GCM, srtp_profile_aead_aes_256_gcm },
};

struct params {
	bool suite_on[SRTP_LEG_SUITE__COUNT];
	size_t pkt_len;             /* RTP packet, header included */
	uint64_t count;
	double seconds;
	unsigned reps;
	int cpu;                    /* -1: the CPU we start on */
	bool pinned;
	bool verbose;
	const char *out_path;
};

struct run {
	uint64_t packets;
	double cpu_s, wall_s;
};

/* Everything one suite needs, built once. */
struct bench {
	const struct params *p;
	const struct suite_desc *sd;
	uint8_t master[SRTP_LEG_MAX_MASTER_LEN];
	size_t master_len;
	uint8_t *tmpl;              /* plain RTP packet, pkt_len bytes */
	uint8_t *buf, *out;         /* pkt_len + overhead each */
	uint8_t *store;             /* BATCH protected packets, stride bytes each */
	size_t stride, prot_len;
	uint16_t seq[PATH__COUNT];  /* next protect sequence number, per sender:
	                             * a sender seeing a jump of more than 2^15
	                             * would take it for an old packet */
	srtp_t sess;                /* outbound libsrtp session for protect */
	srtp_leg *leg;              /* outbound leg for protect */
	char why[160];
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	return (double)bench_now_ns() / 1e9;
}

static void put_seq(uint8_t *pkt, uint16_t seq)
{
	pkt[2] = (uint8_t)(seq >> 8);
	pkt[3] = (uint8_t)seq;
}

static int raw_session(const struct bench *b, bool inbound, srtp_t *out)
{
	uint8_t key[SRTP_LEG_MAX_MASTER_LEN];
	srtp_policy_t pol;
	srtp_err_status_t st;

	memset(&pol, 0, sizeof(pol));
	if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, b->sd->profile) ||
	    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, b->sd->profile))
		return -EIO;
	memcpy(key, b->master, b->master_len);
	pol.key = key;
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.window_size = SRTP_LEG_WINDOW_DEFAULT; /* what the leg uses */
	st = srtp_create(out, &pol);
	return st == srtp_err_status_ok ? 0 : -EIO;
}

static int leg_new(const struct bench *b, enum srtp_leg_dir dir, srtp_leg **out)
{
	struct srtp_leg_cfg cfg = { .suite = b->sd->leg, .dir = dir, .master = b->master,
				    .master_len = b->master_len };

	return srtp_leg_create(&cfg, out);
}

/* One protect; 0 or -EIO with b->why set. */
static int protect_one(struct bench *b, enum path path)
{
	int len = (int)b->p->pkt_len;
	size_t out_len;
	enum srtp_leg_err e;
	srtp_err_status_t st;

	if (path == PATH_LIBSRTP) {
		memcpy(b->buf, b->tmpl, b->p->pkt_len);
		put_seq(b->buf, b->seq[PATH_LIBSRTP]++);
		st = srtp_protect(b->sess, b->buf, &len);
		if (st != srtp_err_status_ok) {
			snprintf(b->why, sizeof(b->why), "srtp_protect: status %d", (int)st);
			return -EIO;
		}
		return 0;
	}
	put_seq(b->tmpl, b->seq[PATH_LEG]++);
	e = srtp_leg_protect_rtp(b->leg, b->tmpl, b->p->pkt_len, b->out,
				 b->p->pkt_len + SRTP_LEG_RTP_MAX_OVERHEAD, &out_len);
	if (e != SRTP_LEG_OK) {
		snprintf(b->why, sizeof(b->why), "srtp_leg_protect_rtp: %s", srtp_leg_err_name(e));
		return -EIO;
	}
	return 0;
}

static int measure_protect(struct bench *b, enum path path, struct run *r)
{
	double c0, w0, budget = b->p->seconds;
	uint64_t n = 0;

	for (unsigned i = 0; i < WARMUP; i++)
		if (protect_one(b, path) < 0)
			return -EIO;
	c0 = cpu_now();
	w0 = wall_now();
	while (n < b->p->count) {
		uint64_t k = b->p->count - n < CHUNK ? b->p->count - n : CHUNK;

		for (uint64_t i = 0; i < k; i++)
			if (protect_one(b, path) < 0)
				return -EIO;
		n += k;
		if (cpu_now() - c0 >= budget)
			break;
	}
	r->cpu_s = cpu_now() - c0;
	r->wall_s = wall_now() - w0;
	r->packets = n;
	return 0;
}

/* The unprotect input: BATCH packets protected by a fresh session with
 * sequence numbers 0..BATCH-1, each at b->store + i * stride. */
static int fill_store(struct bench *b)
{
	srtp_t s;

	if (raw_session(b, false, &s) < 0) {
		snprintf(b->why, sizeof(b->why), "srtp_create (outbound) failed");
		return -EIO;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		uint8_t *pkt = b->store + (size_t)i * b->stride;
		int len = (int)b->p->pkt_len;

		memcpy(pkt, b->tmpl, b->p->pkt_len);
		put_seq(pkt, (uint16_t)i);
		if (srtp_protect(s, pkt, &len) != srtp_err_status_ok) {
			srtp_dealloc(s);
			snprintf(b->why, sizeof(b->why), "srtp_protect of the input failed");
			return -EIO;
		}
		b->prot_len = (size_t)len;
	}
	srtp_dealloc(s);
	return 0;
}

/* Unprotect `n` stored packets on a fresh session/leg; CPU and wall time
 * of the loop only are added to r. */
static int unprotect_batch(struct bench *b, enum path path, unsigned n, struct run *r)
{
	srtp_t s = NULL;
	srtp_leg *leg = NULL;
	double c0, w0;
	int rc = 0;

	if (path == PATH_LIBSRTP ? raw_session(b, true, &s) < 0
				 : leg_new(b, SRTP_LEG_INBOUND, &leg) < 0) {
		snprintf(b->why, sizeof(b->why), "inbound %s setup failed", path_names[path]);
		return -EIO;
	}
	c0 = cpu_now();
	w0 = wall_now();
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *pkt = b->store + (size_t)i * b->stride;

		memcpy(b->buf, pkt, b->prot_len);
		if (path == PATH_LIBSRTP) {
			int len = (int)b->prot_len;
			srtp_err_status_t st = srtp_unprotect(s, b->buf, &len);

			if (st != srtp_err_status_ok || (size_t)len != b->p->pkt_len) {
				snprintf(b->why, sizeof(b->why), "srtp_unprotect #%u: status %d", i, (int)st);
				rc = -EIO;
				break;
			}
		} else {
			size_t len = b->prot_len;
			enum srtp_leg_err e = srtp_leg_unprotect_rtp(leg, b->buf, &len);

			if (e != SRTP_LEG_OK || len != b->p->pkt_len) {
				snprintf(b->why, sizeof(b->why), "srtp_leg_unprotect_rtp #%u: %s", i,
					 srtp_leg_err_name(e));
				rc = -EIO;
				break;
			}
		}
	}
	r->cpu_s += cpu_now() - c0;
	r->wall_s += wall_now() - w0;
	r->packets += n;
	/* The last packet must decrypt to the template's payload. */
	if (rc == 0 && memcmp(b->buf + 12, b->tmpl + 12, b->p->pkt_len - 12) != 0) {
		snprintf(b->why, sizeof(b->why), "%s unprotect: payload differs", path_names[path]);
		rc = -EIO;
	}
	if (s)
		srtp_dealloc(s);
	srtp_leg_destroy(leg);
	return rc;
}

static int measure_unprotect(struct bench *b, enum path path, struct run *r)
{
	struct run warm = { 0 };

	if (unprotect_batch(b, path, WARMUP, &warm) < 0)
		return -EIO;
	memset(r, 0, sizeof(*r));
	while (r->packets < b->p->count && r->cpu_s < b->p->seconds) {
		uint64_t left = b->p->count - r->packets;

		if (unprotect_batch(b, path, left < BATCH ? (unsigned)left : BATCH, r) < 0)
			return -EIO;
	}
	return 0;
}

static int bench_init(struct bench *b, const struct params *p, const struct suite_desc *sd)
{
	memset(b, 0, sizeof(*b));
	b->p = p;
	b->sd = sd;
	b->master_len = srtp_leg_master_len(sd->leg);
	for (size_t i = 0; i < b->master_len; i++)
		b->master[i] = (uint8_t)(0x11 * (i + 1) + (unsigned)sd->leg);
	b->stride = (p->pkt_len + SRTP_LEG_RTP_MAX_OVERHEAD + 63) & ~(size_t)63;
	b->tmpl = malloc(b->stride);
	b->buf = malloc(b->stride);
	b->out = malloc(b->stride);
	b->store = malloc(b->stride * BATCH);
	if (!b->tmpl || !b->buf || !b->out || !b->store) {
		snprintf(b->why, sizeof(b->why), "out of memory");
		return -ENOMEM;
	}
	/* V=2, PT 96, timestamp, SSRC; payload bytes vary so nothing is all zeros. */
	memset(b->tmpl, 0, b->stride);
	b->tmpl[0] = 0x80;
	b->tmpl[1] = 96;
	b->tmpl[4] = 0x12; b->tmpl[5] = 0x34; b->tmpl[6] = 0x56; b->tmpl[7] = 0x78;
	b->tmpl[8] = (uint8_t)(SSRC >> 24); b->tmpl[9] = (uint8_t)(SSRC >> 16);
	b->tmpl[10] = (uint8_t)(SSRC >> 8); b->tmpl[11] = (uint8_t)SSRC;
	for (size_t i = 12; i < p->pkt_len; i++)
		b->tmpl[i] = (uint8_t)(i * 131u + 7u);
	/* The leg first: it owns the process's srtp_init(). */
	if (leg_new(b, SRTP_LEG_OUTBOUND, &b->leg) < 0 || raw_session(b, false, &b->sess) < 0) {
		snprintf(b->why, sizeof(b->why), "outbound setup failed");
		return -EIO;
	}
	return fill_store(b);
}

static void bench_fini(struct bench *b)
{
	if (b->sess)
		srtp_dealloc(b->sess);
	srtp_leg_destroy(b->leg);
	free(b->tmpl);
	free(b->buf);
	free(b->out);
	free(b->store);
}

/* ------------------------------------------------------------- results */

static double rate(const struct run *r)
{
	return r->cpu_s > 0 ? (double)r->packets / r->cpu_s : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_rate(const struct run *runs, unsigned n, double *lo, double *hi)
{
	double v[MAX_REPS];

	for (unsigned i = 0; i < n; i++)
		v[i] = rate(&runs[i]);
	qsort(v, n, sizeof(v[0]), cmp_double);
	*lo = v[0];
	*hi = v[n - 1];
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static cJSON *entry_json(const struct params *p, const struct suite_desc *sd, enum op op,
			 enum path path, const struct run *runs, double *med_out)
{
	cJSON *e = cJSON_CreateObject(), *arr;
	double lo, hi, med = median_rate(runs, p->reps, &lo, &hi);
	uint64_t pkts = 0;
	double cpu = 0, wall = 0;

	for (unsigned i = 0; i < p->reps; i++) {
		pkts += runs[i].packets;
		cpu += runs[i].cpu_s;
		wall += runs[i].wall_s;
	}
	cJSON_AddStringToObject(e, "suite", sd->name);
	cJSON_AddStringToObject(e, "op", op_names[op]);
	cJSON_AddStringToObject(e, "path", path_names[path]);
	cJSON_AddNumberToObject(e, "pkts_per_s", med);
	cJSON_AddNumberToObject(e, "pkts_per_s_min", lo);
	cJSON_AddNumberToObject(e, "pkts_per_s_max", hi);
	cJSON_AddNumberToObject(e, "cpu_ns_per_pkt", med > 0 ? 1e9 / med : 0);
	cJSON_AddNumberToObject(e, "mbit_per_s", med * (double)p->pkt_len * 8 / 1e6);
	cJSON_AddNumberToObject(e, "packets", (double)pkts);
	cJSON_AddNumberToObject(e, "cpu_s", cpu);
	cJSON_AddNumberToObject(e, "wall_s", wall);
	/* Below 1: the thread did not get its CPU the whole time. */
	cJSON_AddNumberToObject(e, "cpu_share", wall > 0 ? cpu / wall : 0);
	arr = cJSON_AddArrayToObject(e, "runs");
	for (unsigned i = 0; i < p->reps; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "packets", (double)runs[i].packets);
		cJSON_AddNumberToObject(o, "cpu_s", runs[i].cpu_s);
		cJSON_AddNumberToObject(o, "wall_s", runs[i].wall_s);
		cJSON_AddNumberToObject(o, "pkts_per_s", rate(&runs[i]));
		cJSON_AddItemToArray(arr, o);
	}
	*med_out = med;
	return e;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spbench srtp-raw [options]\n"
		"  SRTP protect/unprotect packets per second of CPU time on one core,\n"
		"  libsrtp directly vs common/srtp_leg, per suite.\n"
		"  --suites LIST   comma-separated, default all: AES_CM_128_HMAC_SHA1_80,\n"
		"                  AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM, AEAD_AES_256_GCM\n"
		"  --size BYTES    RTP packet size, 12-byte header included (default 1200)\n"
		"  --count N       packets per measurement at most (default 100000; K/M ok)\n"
		"  --seconds S     CPU seconds per measurement at most (default 1)\n"
		"  --reps N        interleaved runs, medians reported (default 3)\n"
		"  --cpu N         pin to CPU N (default: the CPU it starts on)\n"
		"  --json FILE     write the JSON result there (default stdout; --out too)\n"
		"  -v              print a table on stderr\n");
}

static int parse_suites(const char *s, struct params *p)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(p->suite_on, 0, sizeof(p->suite_on));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool found = false;

		for (unsigned i = 0; i < SRTP_LEG_SUITE__COUNT; i++) {
			if (strcasecmp(tok, suite_descs[i].name) == 0 || strcasecmp(tok, "all") == 0) {
				p->suite_on[i] = true;
				found = true;
			}
		}
		if (!found)
			return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct params *p)
{
	static const struct option opts[] = {
		{ "suites", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "json", required_argument, NULL, 'o' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	char *end;
	int c;

	for (unsigned i = 0; i < SRTP_LEG_SUITE__COUNT; i++)
		p->suite_on[i] = true;
	p->pkt_len = 1200;
	p->count = 100000;
	p->seconds = 1.0;
	p->reps = 3;
	p->cpu = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_suites(optarg, p) < 0) {
				fprintf(stderr, "spbench srtp-raw: bad --suites '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'z':
			if (bench_parse_size(optarg, &v) < 0 || v < 12 || v > 1500) {
				fprintf(stderr, "spbench srtp-raw: --size must be 12..1500\n");
				return -EINVAL;
			}
			p->pkt_len = (size_t)v;
			break;
		case 'n':
			if (bench_parse_size(optarg, &v) < 0 || v == 0) {
				fprintf(stderr, "spbench srtp-raw: bad --count '%s'\n", optarg);
				return -EINVAL;
			}
			p->count = v;
			break;
		case 't':
			p->seconds = strtod(optarg, &end);
			if (*end || !(p->seconds > 0)) {
				fprintf(stderr, "spbench srtp-raw: bad --seconds '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (bench_parse_size(optarg, &v) < 0 || v == 0 || v > MAX_REPS) {
				fprintf(stderr, "spbench srtp-raw: --reps must be 1..%d\n", MAX_REPS);
				return -EINVAL;
			}
			p->reps = (unsigned)v;
			break;
		case 'c':
			if (bench_parse_size(optarg, &v) < 0 || v >= CPU_SETSIZE) {
				fprintf(stderr, "spbench srtp-raw: bad --cpu '%s'\n", optarg);
				return -EINVAL;
			}
			p->cpu = (int)v;
			break;
		case 'o': p->out_path = optarg; break;
		case 'v': p->verbose = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spbench srtp-raw: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void pin(struct params *p)
{
	cpu_set_t set;

	if (p->cpu < 0)
		p->cpu = sched_getcpu();
	CPU_ZERO(&set);
	if (p->cpu >= 0)
		CPU_SET((unsigned)p->cpu, &set);
	p->pinned = p->cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0;
	if (!p->pinned)
		fprintf(stderr, "spbench srtp-raw: not pinned (cpu %d): %s\n", p->cpu, strerror(errno));
}

int bench_srtp_raw(int argc, char **argv)
{
	struct params p = { 0 };
	struct bench benches[SRTP_LEG_SUITE__COUNT];
	struct run (*runs)[OP__COUNT][PATH__COUNT];
	bool ready[SRTP_LEG_SUITE__COUNT] = { false };
	cJSON *root = NULL, *params, *suites, *results, *baselines, *ratios, *ratio;
	char summary[1024];
	size_t sl = 0;
	int rc = 1, prc;

	prc = parse_args(argc, argv, &p);
	if (prc != 0)
		return prc > 0 ? 0 : 2;
	runs = calloc((size_t)SRTP_LEG_SUITE__COUNT * p.reps, sizeof(*runs));
	if (!runs)
		return 1;
	pin(&p);

	for (unsigned s = 0; s < SRTP_LEG_SUITE__COUNT; s++) {
		if (!p.suite_on[s])
			continue;
		ready[s] = true; /* bench_fini() must run even after a failed init */
		if (bench_init(&benches[s], &p, &suite_descs[s]) < 0) {
			fprintf(stderr, "spbench srtp-raw: %s: %s\n", suite_descs[s].name,
				benches[s].why);
			goto out;
		}
	}
	/* rep -> suite -> op -> path: drift on a noisy machine hits all alike. */
	for (unsigned rep = 0; rep < p.reps; rep++) {
		for (unsigned s = 0; s < SRTP_LEG_SUITE__COUNT; s++) {
			if (!p.suite_on[s])
				continue;
			for (unsigned op = 0; op < OP__COUNT; op++) {
				for (unsigned path = 0; path < PATH__COUNT; path++) {
					struct run *r = &runs[(size_t)s * p.reps + rep][op][path];
					int e = op == OP_PROTECT
						? measure_protect(&benches[s], path, r)
						: measure_unprotect(&benches[s], path, r);

					if (e < 0) {
						fprintf(stderr, "spbench srtp-raw: %s %s %s: %s\n",
							suite_descs[s].name, op_names[op],
							path_names[path], benches[s].why);
						goto out;
					}
				}
			}
		}
	}

	root = bench_envelope("srtp-raw");
	if (!root)
		goto out;
	cJSON_AddNumberToObject(cJSON_GetObjectItem(root, "machine"), "cpu", p.cpu);
	cJSON_AddBoolToObject(cJSON_GetObjectItem(root, "machine"), "pinned", p.pinned);
	params = cJSON_AddObjectToObject(root, "params");
	cJSON_AddStringToObject(params, "srtp_backend", srtp_leg_crypto_backend());
	suites = cJSON_AddArrayToObject(params, "suites");
	for (unsigned s = 0; s < SRTP_LEG_SUITE__COUNT; s++)
		if (p.suite_on[s])
			cJSON_AddItemToArray(suites, cJSON_CreateString(suite_descs[s].name));
	cJSON_AddNumberToObject(params, "packet_bytes", (double)p.pkt_len);
	cJSON_AddNumberToObject(params, "count", (double)p.count);
	cJSON_AddNumberToObject(params, "seconds", p.seconds);
	cJSON_AddNumberToObject(params, "reps", p.reps);
	cJSON_AddNumberToObject(params, "unprotect_batch", BATCH);
	cJSON_AddStringToObject(params, "clock", "CLOCK_THREAD_CPUTIME_ID");
	results = cJSON_AddArrayToObject(root, "results");
	baselines = cJSON_AddArrayToObject(root, "baselines");
	ratios = cJSON_AddObjectToObject(root, "ratios");
	ratio = cJSON_AddObjectToObject(ratios, "srtp_leg/libsrtp");

	sl = (size_t)snprintf(summary, sizeof(summary), "spbench srtp-raw: %s, %zu B, Mpkt/s per core",
			      srtp_leg_crypto_backend(), p.pkt_len);
	if (p.verbose)
		fprintf(stderr, "%-24s %-9s %14s %14s %7s\n", "suite", "op", "libsrtp pkt/s",
			"srtp_leg pkt/s", "leg/raw");
	for (unsigned s = 0; s < SRTP_LEG_SUITE__COUNT; s++) {
		struct run per[OP__COUNT][PATH__COUNT][MAX_REPS];
		double med[OP__COUNT][PATH__COUNT];

		if (!p.suite_on[s])
			continue;
		for (unsigned rep = 0; rep < p.reps; rep++)
			for (unsigned op = 0; op < OP__COUNT; op++)
				for (unsigned path = 0; path < PATH__COUNT; path++)
					per[op][path][rep] = runs[(size_t)s * p.reps + rep][op][path];
		for (unsigned op = 0; op < OP__COUNT; op++) {
			char key[64];

			for (unsigned path = 0; path < PATH__COUNT; path++)
				cJSON_AddItemToArray(path == PATH_LEG ? results : baselines,
						     entry_json(&p, &suite_descs[s], op, path,
								per[op][path], &med[op][path]));
			snprintf(key, sizeof(key), "%s %s", suite_descs[s].name, op_names[op]);
			cJSON_AddNumberToObject(ratio, key, med[op][PATH_LIBSRTP] > 0
						? med[op][PATH_LEG] / med[op][PATH_LIBSRTP] : 0);
			if (p.verbose)
				fprintf(stderr, "%-24s %-9s %14.0f %14.0f %7.3f\n", suite_descs[s].name,
					op_names[op], med[op][PATH_LIBSRTP], med[op][PATH_LEG],
					med[op][PATH_LIBSRTP] > 0
						? med[op][PATH_LEG] / med[op][PATH_LIBSRTP] : 0);
		}
		if (sl < sizeof(summary))
			sl += (size_t)snprintf(summary + sl, sizeof(summary) - sl,
					       "; %s protect %.3f unprotect %.3f (leg %.2fx/%.2fx)",
					       suite_descs[s].name, med[OP_PROTECT][PATH_LIBSRTP] / 1e6,
					       med[OP_UNPROTECT][PATH_LIBSRTP] / 1e6,
					       med[OP_PROTECT][PATH_LIBSRTP] > 0
						       ? med[OP_PROTECT][PATH_LEG] / med[OP_PROTECT][PATH_LIBSRTP] : 0,
					       med[OP_UNPROTECT][PATH_LIBSRTP] > 0
						       ? med[OP_UNPROTECT][PATH_LEG] / med[OP_UNPROTECT][PATH_LIBSRTP] : 0);
	}
	prc = bench_emit(root, p.out_path);
	if (prc < 0) {
		fprintf(stderr, "spbench srtp-raw: writing %s: %s\n",
			p.out_path ? p.out_path : "stdout", strerror(-prc));
		goto out;
	}
	fprintf(stderr, "%s\n", summary);
	rc = 0;
out:
	cJSON_Delete(root);
	for (unsigned s = 0; s < SRTP_LEG_SUITE__COUNT; s++)
		if (ready[s])
			bench_fini(&benches[s]);
	free(runs);
	return rc;
}
