/*
 * bench_ring: `spbench ring` measures how fast messages move between two
 * processes on two cores through the spcp/spdp shared-memory ring
 * (common/ring.h over a memfd segment made by shm_create), and, in the same
 * run with the same sizes and counts, through the kernel paths it replaces
 * (baselines/: pipe, AF_UNIX SOCK_SEQPACKET, AF_UNIX SOCK_STREAM).
 *
 * Ring variants:
 *   ring                 ring_enqueue per message; the consumer busy-polls,
 *                        dequeues one message and releases it
 *   ring_burst           ring_enqueue_burst / ring_dequeue_burst of --burst
 *   ring_doorbell        as ring, but an empty consumer arms the ring and
 *                        sleeps on its eventfd doorbell (the idle-spcp path)
 *   ring_burst_doorbell  both
 *
 * Each run forks a fresh consumer pinned to its own core (the producer is
 * the parent, pinned to another). The clock runs from the producer's first
 * send to the consumer's check of the last message (CLOCK_MONOTONIC is one
 * clock for both); each side reports its own CPU time (getrusage). Runs are
 * interleaved (rep -> size -> transport) so drift on a noisy machine hits
 * every transport alike; figures are medians over the reps. A consumer that
 * sees a lost, duplicated, reordered or damaged message fails the run and
 * spbench exits non-zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ipc.h"
#include "ring.h"
#include "shm.h"

/* Outside the spcp/spdp message catalogue: only this benchmark sends it. */
#define BENCH_MSG_TYPE 0x7ff0
#define BENCH_MSG_VERSION 1

/* ------------------------------------------------------------ ring transport */

enum { RV_BURST = 1, RV_DOORBELL = 2 };

struct ring_state {
	shm_seg *seg;
	struct ring_ctrl *ctrl;
	uint8_t *data;
	uint64_t cap;
	int doorbell; /* eventfd, -1 when the consumer only polls */
	unsigned variant;
	ring *r;
};

static int ring_setup(void **state, const struct ipc_params *p, unsigned variant)
{
	/* The exception-up ring of worker 0: the spdp -> spcp packet path. */
	struct shm_params sp = { .workers = 1, .main_ring_bytes = RING_MIN_CAPACITY,
				 .cmd_ring_bytes = RING_MIN_CAPACITY,
				 .evt_ring_bytes = RING_MIN_CAPACITY,
				 .exc_ring_bytes = p->ring_bytes, .instance = "spbench" };
	uint32_t idx = shm_ring_index(RING_KIND_EXC_UP, 0);
	struct ring_state *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->variant = variant;
	s->doorbell = -1;
	s->seg = shm_create(&sp);
	if (!s->seg) {
		rc = -errno;
		free(s);
		return rc;
	}
	s->ctrl = shm_ring_ctrl(s->seg, idx);
	s->data = shm_ring_data(s->seg, idx);
	s->cap = shm_ring_desc(s->seg, idx)->capacity;
	if (p->size > ring_max_payload(s->cap)) {
		shm_unmap(s->seg);
		free(s);
		return -EMSGSIZE;
	}
	if (variant & RV_DOORBELL) {
		s->doorbell = eventfd(0, EFD_CLOEXEC);
		if (s->doorbell < 0) {
			rc = -errno;
			shm_unmap(s->seg);
			free(s);
			return rc;
		}
	}
	*state = s;
	return 0;
}

static void ring_after_fork(void *state, bool producer)
{
	struct ring_state *s = state;
	volatile uint8_t sink = 0;

	/* The mapping is inherited, the page tables are not: fault the data
	 * area in now so neither side pays for it on the clock. An empty
	 * ring's data is nobody's yet, so the producer may write it. */
	if (producer)
		memset(s->data, 0, s->cap);
	else
		for (uint64_t off = 0; off < s->cap; off += 4096)
			sink ^= s->data[off];
	(void)sink;
	s->r = ring_open(s->ctrl, s->data, s->cap, s->doorbell,
			 producer ? RING_PRODUCER : RING_CONSUMER);
}

static int ring_full_wait(const struct ipc_params *p, struct ipc_producer_out *out)
{
	out->full_spins++;
	if (p->yield)
		sched_yield();
	else
		ipc_cpu_relax();
	if ((out->full_spins & 1023) == 0 && ipc_should_stop(p)) {
		snprintf(out->why, sizeof(out->why), "ring stayed full: %s",
			 ipc_peer_gone ? "consumer exited" : "timeout");
		return -ETIMEDOUT;
	}
	return 0;
}

static int ring_produce(void *state, const struct ipc_params *p, struct ipc_producer_out *out)
{
	struct ring_state *s = state;
	unsigned burst = (s->variant & RV_BURST) ? p->burst : 1;
	struct ring_msg_in msgs[IPC_MAX_BURST];
	uint8_t *bufs;
	struct ring_stats st;
	int rc = 0;

	if (!s->r)
		return -ENOMEM;
	bufs = malloc((size_t)burst * p->size);
	if (!bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < burst; i++) {
		ipc_msg_fill(bufs + (size_t)i * p->size, p->size);
		msgs[i] = (struct ring_msg_in){ .type = BENCH_MSG_TYPE, .version = BENCH_MSG_VERSION,
						.payload = bufs + (size_t)i * p->size,
						.len = p->size };
	}
	if (burst == 1) {
		for (uint64_t seq = 0; seq < p->count && rc == 0; seq++) {
			ipc_msg_stamp(bufs, p->size, ipc_wire_seq(p, seq));
			while (ring_enqueue(s->r, BENCH_MSG_TYPE, BENCH_MSG_VERSION, bufs, p->size) < 0)
				if ((rc = ring_full_wait(p, out)) < 0)
					break;
		}
	} else {
		uint64_t sent = 0;
		while (sent < p->count) {
			unsigned n = p->count - sent < burst ? (unsigned)(p->count - sent) : burst;
			for (unsigned i = 0; i < n; i++)
				ipc_msg_stamp(bufs + (size_t)i * p->size, p->size,
					      ipc_wire_seq(p, sent + i));
			/* What did not fit is retried from the first unsent message,
			 * so order is kept. */
			unsigned k = ring_enqueue_burst(s->r, msgs, n);
			sent += k;
			if (k < n && (rc = ring_full_wait(p, out)) < 0)
				break;
		}
	}
	ring_ctrl_stats(s->ctrl, s->cap, &st);
	out->wakeups = st.wakeups;
	out->syscalls = st.wakeups; /* each doorbell ring is one write(2) */
	free(bufs);
	return rc;
}

static int ring_consume(void *state, const struct ipc_params *p, struct ipc_consumer_out *out)
{
	struct ring_state *s = state;
	unsigned max = (s->variant & RV_BURST) ? p->burst : 1;
	struct ring_msg m[IPC_MAX_BURST];
	struct ring_stats st;
	uint64_t idle = 0;

	if (!s->r)
		return -ENOMEM;
	while (out->received < p->count) {
		unsigned n = ring_dequeue_burst(s->r, m, max);

		if (n == 0) {
			if (s->doorbell >= 0) {
				if (ring_arm(s->r)) {
					uint64_t v;
					ssize_t rd = read(s->doorbell, &v, sizeof(v));
					out->syscalls++;
					out->sleeps++;
					if (rd < 0 && errno != EINTR) {
						snprintf(out->why, sizeof(out->why), "doorbell read: %s",
							 strerror(errno));
						return -errno;
					}
				}
				continue;
			}
			if (p->yield)
				sched_yield();
			else
				ipc_cpu_relax();
			if ((++idle & 4095) == 0 && ipc_should_stop(p)) {
				snprintf(out->why, sizeof(out->why), "ring stayed empty after %llu messages",
					 (unsigned long long)out->received);
				return -ETIMEDOUT;
			}
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			if (m[i].type != BENCH_MSG_TYPE || m[i].version != BENCH_MSG_VERSION ||
			    !ipc_msg_ok(m[i].payload, m[i].len, p->size, out->received)) {
				if (m[i].type != BENCH_MSG_TYPE || m[i].version != BENCH_MSG_VERSION)
					snprintf(out->why, sizeof(out->why),
						 "message %llu: type %#x version %u",
						 (unsigned long long)out->received, m[i].type,
						 m[i].version);
				else
					ipc_msg_explain(out, m[i].payload, m[i].len, p->size,
							out->received);
				return -EBADMSG;
			}
			out->received++;
		}
		ring_release(s->r);
	}
	ring_ctrl_stats(s->ctrl, s->cap, &st);
	if (st.corrupt || st.rejected) {
		snprintf(out->why, sizeof(out->why), "ring counted %llu corrupt, %llu rejected",
			 (unsigned long long)st.corrupt, (unsigned long long)st.rejected);
		return -EBADMSG;
	}
	return 0;
}

static void ring_describe(void *state, cJSON *obj)
{
	struct ring_state *s = state;

	cJSON_AddNumberToObject(obj, "ring_bytes", (double)s->cap);
	cJSON_AddStringToObject(obj, "segment", "memfd via shm_create, worker 0 exception-up ring");
	cJSON_AddBoolToObject(obj, "doorbell", s->doorbell >= 0);
}

static void ring_teardown(void *state)
{
	struct ring_state *s = state;

	if (!s)
		return;
	ring_close(s->r);
	if (s->doorbell >= 0)
		close(s->doorbell);
	shm_unmap(s->seg);
	free(s);
}

#define RING_OPS(nm, v, desc)                                                         \
	{ .name = nm, .kind = "ring", .describe = desc, .variant = v,                 \
	  .batched = (v) & RV_BURST, .setup = ring_setup, .after_fork = ring_after_fork, \
	  .produce = ring_produce, .consume = ring_consume,                           \
	  .describe_params = ring_describe, .teardown = ring_teardown }

static const struct ipc_ops ring_ops[] = {
	RING_OPS("ring", 0, "shm ring: ring_enqueue per message, consumer busy-polls one at a time"),
	RING_OPS("ring_burst", RV_BURST,
		 "shm ring: ring_enqueue_burst/ring_dequeue_burst, consumer busy-polls"),
	RING_OPS("ring_doorbell", RV_DOORBELL,
		 "shm ring: per message, empty consumer sleeps on its eventfd doorbell"),
	RING_OPS("ring_burst_doorbell", RV_BURST | RV_DOORBELL,
		 "shm ring: bursts, empty consumer sleeps on its eventfd doorbell"),
};

/* ------------------------------------------------------------------ driver */

#define MAX_SIZES 16
#define MAX_TRANSPORTS 8
#define MAX_REPS 50

struct run_result {
	double elapsed_s, msgs_per_s;
	struct bench_cpu prod, cons;
	struct ipc_producer_out po;
	struct ipc_consumer_out co;
};

struct child_report {
	struct ipc_consumer_out out;
	struct bench_cpu cpu;
};

static void on_sigchld(int sig)
{
	(void)sig;
	ipc_peer_gone = 1;
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static ssize_t read_full(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	size_t got = 0;

	while (got < len) {
		uint64_t now = bench_now_ns();
		int ms = now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000 + 1);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return pr < 0 ? -errno : -ETIMEDOUT;
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int run_once(const struct ipc_ops *ops, const struct ipc_params *p, int cons_cpu,
		    cJSON *describe_into, struct run_result *rr, char *err, size_t errlen)
{
	int ready[2], res[2], status, rc;
	struct child_report rep;
	struct bench_cpu c0, c1;
	uint64_t t0;
	void *st = NULL;
	pid_t pid;

	memset(rr, 0, sizeof(*rr));
	rc = ops->setup(&st, p, ops->variant);
	if (rc < 0) {
		snprintf(err, errlen, "%s: setup: %s", ops->name, strerror(-rc));
		return rc;
	}
	if (describe_into && ops->describe_params)
		ops->describe_params(st, describe_into);
	if (pipe2(ready, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out_teardown;
	}
	if (pipe2(res, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out_ready;
	}
	ipc_peer_gone = 0;
	fflush(NULL);
	pid_t parent = getpid();
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: fork: %s", ops->name, strerror(errno));
		goto out_res;
	}
	if (pid == 0) {
		/* Consumer. Dies with the producer rather than spin forever. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(3);
		close(ready[0]);
		close(res[0]);
		if (cons_cpu >= 0)
			(void)pin_to(cons_cpu);
		ops->after_fork(st, false);
		memset(&rep, 0, sizeof(rep));
		bench_cpu_now(&c0);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		rep.out.err = ops->consume(st, p, &rep.out);
		rep.out.t_end_ns = bench_now_ns();
		bench_cpu_now(&c1);
		rep.cpu.user_s = c1.user_s - c0.user_s;
		rep.cpu.sys_s = c1.sys_s - c0.sys_s;
		/* Smaller than PIPE_BUF: one atomic write. */
		if (write(res[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(3);
		_exit(rep.out.err ? 1 : 0);
	}

	/* Producer. */
	close(ready[1]);
	close(res[1]);
	ready[1] = res[1] = -1;
	ops->after_fork(st, true);
	char go;
	if (read_full(ready[0], &go, 1, p->deadline_ns) != 1) {
		rc = -EPIPE;
		snprintf(err, errlen, "%s: consumer did not start", ops->name);
		kill(pid, SIGKILL);
		goto out_wait;
	}
	bench_cpu_now(&c0);
	t0 = bench_now_ns();
	rc = ops->produce(st, p, &rr->po);
	bench_cpu_now(&c1);
	rr->prod.user_s = c1.user_s - c0.user_s;
	rr->prod.sys_s = c1.sys_s - c0.sys_s;
	ssize_t n = read_full(res[0], &rep, sizeof(rep), p->deadline_ns);
	if (n != (ssize_t)sizeof(rep)) {
		kill(pid, SIGKILL);
		if (rc == 0)
			rc = n < 0 ? (int)n : -EPIPE;
		snprintf(err, errlen, "%s, %u-byte messages: consumer %s%s%s", ops->name, p->size,
			 n == -ETIMEDOUT ? "timed out" : "died without a report",
			 rr->po.why[0] ? "; producer: " : "", rr->po.why);
		goto out_wait;
	}
	rr->co = rep.out;
	rr->cons = rep.cpu;
	if (rep.out.err || rc) {
		snprintf(err, errlen, "%s, %u-byte messages: %s%s%s", ops->name, p->size,
			 rep.out.why[0] ? rep.out.why : "consumer failed",
			 rr->po.why[0] ? "; producer: " : "", rr->po.why);
		rc = rep.out.err ? rep.out.err : rc;
		goto out_wait;
	}
	if (rep.out.received != p->count) {
		snprintf(err, errlen, "%s: consumer got %llu of %llu messages", ops->name,
			 (unsigned long long)rep.out.received, (unsigned long long)p->count);
		rc = -EIO;
		goto out_wait;
	}
	rr->elapsed_s = (double)(rep.out.t_end_ns - t0) / 1e9;
	rr->msgs_per_s = rr->elapsed_s > 0 ? (double)p->count / rr->elapsed_s : 0;
out_wait:
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		snprintf(err, errlen, "%s: consumer exited with status %#x", ops->name, status);
		rc = -EIO;
	}
out_res:
	close(res[0]);
	if (res[1] >= 0)
		close(res[1]);
out_ready:
	close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
out_teardown:
	ops->teardown(st);
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "%s: %s", ops->name, strerror(-rc));
	return rc;
}

static const struct ipc_ops *find_transport(const char *name)
{
	static const struct ipc_ops *const base[] = { &ipc_pipe_ops, &ipc_unix_seqpacket_ops,
						      &ipc_unix_stream_ops };

	for (size_t i = 0; i < sizeof(ring_ops) / sizeof(ring_ops[0]); i++)
		if (strcmp(name, ring_ops[i].name) == 0)
			return &ring_ops[i];
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (strcmp(name, base[i]->name) == 0)
			return base[i];
	return NULL;
}

static const char default_transports[] =
	"ring,ring_burst,ring_doorbell,ring_burst_doorbell,pipe,unix,unix_stream";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spbench ring [options]\n"
		"  --sizes LIST       message sizes in bytes (default 16,64,256,1024; min %u)\n"
		"  --count N          messages per run, the same for every transport (default 1M)\n"
		"  --reps N           runs per transport and size; medians reported (default 3)\n"
		"  --burst N          messages per burst for ring_burst* (default 32, max %u)\n"
		"  --ring-bytes N     ring capacity, power of two (default 1M; the pipe gets the same)\n"
		"  --transports LIST  default %s\n"
		"  --cpus A,B         producer and consumer CPUs (default: first two allowed)\n"
		"  --timeout SEC      per run (default 120)\n"
		"  --out FILE         JSON here instead of stdout\n"
		"  -v, --verbose      one line per run on stderr\n"
		"  --fault-seq N      testing: the producer mislabels message N; every\n"
		"                     transport must then fail the run\n",
		IPC_MIN_SIZE, IPC_MAX_BURST, default_transports);
}

struct series {
	const struct ipc_ops *ops;
	cJSON *describe; /* transport parameters, filled on first setup */
	struct run_result runs[MAX_SIZES][MAX_REPS];
	double median_mps[MAX_SIZES];
};

static double median_of(struct run_result *runs, unsigned reps, double (*get)(const struct run_result *))
{
	double v[MAX_REPS];

	for (unsigned i = 0; i < reps; i++)
		v[i] = get(&runs[i]);
	return bench_percentile(v, reps, 50);
}

static double g_mps(const struct run_result *r) { return r->msgs_per_s; }
static double g_pu(const struct run_result *r) { return r->prod.user_s; }
static double g_ps(const struct run_result *r) { return r->prod.sys_s; }
static double g_cu(const struct run_result *r) { return r->cons.user_s; }
static double g_cs(const struct run_result *r) { return r->cons.sys_s; }
static double g_pcalls(const struct run_result *r) { return (double)r->po.syscalls; }
static double g_ccalls(const struct run_result *r) { return (double)r->co.syscalls; }
static double g_sleeps(const struct run_result *r) { return (double)r->co.sleeps; }
static double g_wake(const struct run_result *r) { return (double)r->po.wakeups; }
static double g_spins(const struct run_result *r) { return (double)r->po.full_spins; }

static cJSON *side_json(double user, double sys)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "user", user);
	cJSON_AddNumberToObject(o, "sys", sys);
	return o;
}

static cJSON *result_json(struct series *se, unsigned si, uint64_t size, uint64_t count,
			  unsigned reps)
{
	struct run_result *runs = se->runs[si];
	cJSON *o = cJSON_CreateObject(), *cpu, *per, *calls, *arr;
	double mps = se->median_mps[si], lo = runs[0].msgs_per_s, hi = lo;
	double pu = median_of(runs, reps, g_pu), ps = median_of(runs, reps, g_ps);
	double cu = median_of(runs, reps, g_cu), cs = median_of(runs, reps, g_cs);

	for (unsigned i = 1; i < reps; i++) {
		lo = runs[i].msgs_per_s < lo ? runs[i].msgs_per_s : lo;
		hi = runs[i].msgs_per_s > hi ? runs[i].msgs_per_s : hi;
	}
	cJSON_AddStringToObject(o, "transport", se->ops->name);
	cJSON_AddStringToObject(o, "kind", se->ops->kind);
	cJSON_AddNumberToObject(o, "size", (double)size);
	cJSON_AddNumberToObject(o, "messages", (double)count);
	cJSON_AddNumberToObject(o, "reps", reps);
	cJSON_AddNumberToObject(o, "msgs_per_s", mps);
	cJSON_AddNumberToObject(o, "msgs_per_s_min", lo);
	cJSON_AddNumberToObject(o, "msgs_per_s_max", hi);
	cJSON_AddNumberToObject(o, "ns_per_msg", mps > 0 ? 1e9 / mps : 0);
	cJSON_AddNumberToObject(o, "mbytes_per_s", mps * (double)size / 1e6);
	cpu = cJSON_AddObjectToObject(o, "cpu_s");
	cJSON_AddItemToObject(cpu, "producer", side_json(pu, ps));
	cJSON_AddItemToObject(cpu, "consumer", side_json(cu, cs));
	per = cJSON_AddObjectToObject(o, "cpu_ns_per_msg");
	cJSON_AddNumberToObject(per, "producer", (pu + ps) * 1e9 / (double)count);
	cJSON_AddNumberToObject(per, "consumer", (cu + cs) * 1e9 / (double)count);
	calls = cJSON_AddObjectToObject(o, "syscalls_per_msg");
	cJSON_AddNumberToObject(calls, "producer", median_of(runs, reps, g_pcalls) / (double)count);
	cJSON_AddNumberToObject(calls, "consumer", median_of(runs, reps, g_ccalls) / (double)count);
	if (!strcmp(se->ops->kind, "ring")) {
		cJSON_AddNumberToObject(o, "consumer_sleeps", median_of(runs, reps, g_sleeps));
		cJSON_AddNumberToObject(o, "doorbell_wakeups", median_of(runs, reps, g_wake));
		cJSON_AddNumberToObject(o, "producer_full_spins", median_of(runs, reps, g_spins));
	}
	arr = cJSON_AddArrayToObject(o, "runs");
	for (unsigned i = 0; i < reps; i++) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "msgs_per_s", runs[i].msgs_per_s);
		cJSON_AddNumberToObject(r, "elapsed_s", runs[i].elapsed_s);
		cJSON_AddNumberToObject(r, "cpu_producer_s", runs[i].prod.user_s + runs[i].prod.sys_s);
		cJSON_AddNumberToObject(r, "cpu_consumer_s", runs[i].cons.user_s + runs[i].cons.sys_s);
		cJSON_AddItemToArray(arr, r);
	}
	return o;
}

static void fmt_rate(char *buf, size_t len, double mps)
{
	if (mps >= 1e6)
		snprintf(buf, len, "%.2fM/s", mps / 1e6);
	else
		snprintf(buf, len, "%.0fk/s", mps / 1e3);
}

int bench_ring_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "reps", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "ring-bytes", required_argument, NULL, 'R' },
		{ "transports", required_argument, NULL, 't' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "out", required_argument, NULL, 'o' },
		{ "fault-seq", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sizes_arg = "16,64,256,1024", *transports_arg = default_transports;
	const char *out_path = NULL;
	uint64_t sizes[MAX_SIZES], count = 1000000, reps = 3, burst = 32, ring_bytes = 1u << 20;
	uint64_t timeout_s = 120, cpu_list[2], fault_seq = UINT64_MAX;
	size_t nsizes = 0, ncpus_arg = 0, nseries = 0;
	struct series *series = NULL;
	bool verbose = false;
	int c, rc = 1, li = -1;

	while ((c = getopt_long(argc, argv, "vh", opts, &li)) != -1) {
		int bad = 0;
		switch (c) {
		case 's': sizes_arg = optarg; break;
		case 'n': bad = bench_parse_size(optarg, &count); break;
		case 'r': bad = bench_parse_size(optarg, &reps); break;
		case 'b': bad = bench_parse_size(optarg, &burst); break;
		case 'R': bad = bench_parse_size(optarg, &ring_bytes); break;
		case 't': transports_arg = optarg; break;
		case 'c': bad = bench_parse_size_list(optarg, cpu_list, 2, &ncpus_arg);
			  if (!bad && ncpus_arg != 2)
				  bad = -EINVAL;
			  break;
		case 'T': bad = bench_parse_size(optarg, &timeout_s); break;
		case 'o': out_path = optarg; break;
		case 'F': bad = bench_parse_size(optarg, &fault_seq); break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "spbench ring: bad value '%s' for --%s\n", optarg,
				li >= 0 ? opts[li].name : "?");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "spbench ring: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (bench_parse_size_list(sizes_arg, sizes, MAX_SIZES, &nsizes) < 0) {
		fprintf(stderr, "spbench ring: --sizes wants up to %d comma-separated sizes\n", MAX_SIZES);
		return 2;
	}
	if (count == 0 || reps == 0 || reps > MAX_REPS || burst == 0 || burst > IPC_MAX_BURST ||
	    ring_bytes < RING_MIN_CAPACITY || ring_bytes > RING_MAX_CAPACITY ||
	    (ring_bytes & (ring_bytes - 1)) || timeout_s == 0) {
		fprintf(stderr, "spbench ring: need count >= 1, 1 <= reps <= %d, 1 <= burst <= %u, "
				"ring-bytes a power of two in [%u, %u], timeout >= 1\n",
			MAX_REPS, IPC_MAX_BURST, RING_MIN_CAPACITY, RING_MAX_CAPACITY);
		return 2;
	}
	for (size_t i = 0; i < nsizes; i++)
		if (sizes[i] < IPC_MIN_SIZE || sizes[i] > IPC_MAX_SIZE ||
		    sizes[i] > ring_max_payload(ring_bytes)) {
			fprintf(stderr, "spbench ring: size %llu outside [%u, %u] (ring of %llu bytes "
					"takes up to %u)\n", (unsigned long long)sizes[i], IPC_MIN_SIZE,
				IPC_MAX_SIZE, (unsigned long long)ring_bytes, ring_max_payload(ring_bytes));
			return 2;
		}

	series = calloc(MAX_TRANSPORTS, sizeof(*series));
	if (!series)
		return 1;
	{
		char buf[256], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", transports_arg);
		for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			const struct ipc_ops *ops = find_transport(tok);
			if (!ops) {
				fprintf(stderr, "spbench ring: unknown transport '%s' (known: %s)\n", tok,
					default_transports);
				goto out;
			}
			if (nseries == MAX_TRANSPORTS) {
				fprintf(stderr, "spbench ring: at most %d transports\n", MAX_TRANSPORTS);
				goto out;
			}
			series[nseries].ops = ops;
			series[nseries].describe = cJSON_CreateObject();
			nseries++;
		}
	}
	if (!nseries)
		goto out;

	/* Two cores: producer on one, consumer on the other. */
	cpu_set_t allowed;
	int prod_cpu = -1, cons_cpu = -1, nallowed = 0;
	bool pinned = false;
	const char *note = NULL;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		nallowed = CPU_COUNT(&allowed);
	if (ncpus_arg == 2) {
		prod_cpu = (int)cpu_list[0];
		cons_cpu = (int)cpu_list[1];
	} else if (nallowed >= 2) {
		for (int i = 0; i < CPU_SETSIZE && cons_cpu < 0; i++)
			if (CPU_ISSET(i, &allowed)) {
				if (prod_cpu < 0)
					prod_cpu = i;
				else
					cons_cpu = i;
			}
	}
	if (prod_cpu >= 0 && cons_cpu >= 0 && prod_cpu != cons_cpu) {
		if (pin_to(prod_cpu) < 0) {
			fprintf(stderr, "spbench ring: cannot pin to CPU %d: %s\n", prod_cpu, strerror(errno));
			goto out;
		}
		pinned = true;
	} else {
		cons_cpu = -1;
		note = "only one CPU available: producer and consumer share it and spin loops yield; "
		       "busy-poll figures do not mean what they mean on two cores";
		fprintf(stderr, "spbench ring: warning: %s\n", note);
	}

	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Interleaved so slow drift on a noisy machine hits every transport. */
	char err[512] = "";
	for (unsigned rep = 0; rep < reps; rep++)
		for (size_t si = 0; si < nsizes; si++)
			for (size_t ti = 0; ti < nseries; ti++) {
				struct series *se = &series[ti];
				struct ipc_params p = {
					.size = (uint32_t)sizes[si], .count = count,
					.burst = (unsigned)burst, .ring_bytes = ring_bytes,
					.deadline_ns = bench_now_ns() + timeout_s * 1000000000ull,
					.yield = !pinned, .fault_seq = fault_seq,
				};
				struct run_result *rr = &se->runs[si][rep];
				if (run_once(se->ops, &p, cons_cpu,
					     rep == 0 && si == 0 ? se->describe : NULL, rr, err,
					     sizeof(err)) < 0) {
					fprintf(stderr, "spbench ring: FAILED: %s\n", err);
					goto out;
				}
				if (verbose)
					fprintf(stderr, "rep %u %-20s %5llu B  %12.0f msgs/s  %8.1f ns/msg\n",
						rep, se->ops->name, (unsigned long long)sizes[si],
						rr->msgs_per_s, 1e9 / rr->msgs_per_s);
			}
	for (size_t ti = 0; ti < nseries; ti++)
		for (size_t si = 0; si < nsizes; si++)
			series[ti].median_mps[si] = median_of(series[ti].runs[si], (unsigned)reps, g_mps);

	/* ---- JSON ---- */
	cJSON *root = bench_envelope("ring"), *m, *params, *arr, *results, *baselines, *ratios;
	if (!root)
		goto out;
	m = cJSON_GetObjectItem(root, "machine");
	cJSON_ReplaceItemInObject(m, "cpus_allowed", cJSON_CreateNumber(nallowed));
	cJSON_AddBoolToObject(m, "pinned", pinned);
	cJSON_AddNumberToObject(m, "producer_cpu", prod_cpu);
	cJSON_AddNumberToObject(m, "consumer_cpu", cons_cpu);
	if (note)
		cJSON_AddStringToObject(m, "note", note);
	params = cJSON_AddObjectToObject(root, "params");
	arr = cJSON_AddArrayToObject(params, "sizes");
	for (size_t si = 0; si < nsizes; si++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)sizes[si]));
	cJSON_AddNumberToObject(params, "count", (double)count);
	cJSON_AddNumberToObject(params, "reps", (double)reps);
	cJSON_AddNumberToObject(params, "burst", (double)burst);
	cJSON_AddNumberToObject(params, "ring_bytes", (double)ring_bytes);
	cJSON_AddNumberToObject(params, "timeout_s", (double)timeout_s);
	cJSON_AddStringToObject(params, "order", "interleaved: rep, then size, then transport");
	cJSON_AddStringToObject(params, "statistic", "median over reps (min and max alongside)");
	cJSON_AddStringToObject(params, "clock",
				"producer's first send to consumer's check of the last message");
	arr = cJSON_AddArrayToObject(params, "transports");
	for (size_t ti = 0; ti < nseries; ti++) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", series[ti].ops->name);
		cJSON_AddStringToObject(t, "kind", series[ti].ops->kind);
		cJSON_AddStringToObject(t, "describe", series[ti].ops->describe);
		if (series[ti].ops->batched)
			cJSON_AddNumberToObject(series[ti].describe, "burst", (double)burst);
		cJSON_AddItemToObject(t, "params", series[ti].describe);
		series[ti].describe = NULL;
		cJSON_AddItemToArray(arr, t);
	}
	results = cJSON_AddArrayToObject(root, "results");
	baselines = cJSON_AddArrayToObject(root, "baselines");
	for (size_t ti = 0; ti < nseries; ti++)
		for (size_t si = 0; si < nsizes; si++)
			cJSON_AddItemToArray(strcmp(series[ti].ops->kind, "ring") ? baselines : results,
					     result_json(&series[ti], (unsigned)si, sizes[si], count,
							 (unsigned)reps));
	/* ratios["ring/pipe"]["64"] = ring msgs/s / pipe msgs/s (> 1: the ring is faster). */
	ratios = cJSON_AddObjectToObject(root, "ratios");
	for (size_t a = 0; a < nseries; a++) {
		if (strcmp(series[a].ops->kind, "ring"))
			continue;
		for (size_t b = 0; b < nseries; b++) {
			char key[96];
			cJSON *r;
			if (!strcmp(series[b].ops->kind, "ring"))
				continue;
			snprintf(key, sizeof(key), "%s/%s", series[a].ops->name, series[b].ops->name);
			r = cJSON_AddObjectToObject(ratios, key);
			for (size_t si = 0; si < nsizes; si++) {
				char sk[24];
				snprintf(sk, sizeof(sk), "%llu", (unsigned long long)sizes[si]);
				cJSON_AddNumberToObject(r, sk, series[b].median_mps[si] > 0 ?
						series[a].median_mps[si] / series[b].median_mps[si] : 0);
			}
		}
	}
	int erc = bench_emit(root, out_path);
	cJSON_Delete(root);
	if (erc < 0) {
		fprintf(stderr, "spbench ring: writing %s: %s\n", out_path ? out_path : "stdout",
			strerror(-erc));
		goto out;
	}

	/* ---- one-line summary: the first ring transport against each baseline ---- */
	{
		char line[2048], rate[32];
		size_t len = 0;
		const struct series *head = NULL;
		for (size_t ti = 0; ti < nseries && !head; ti++)
			if (!strcmp(series[ti].ops->kind, "ring"))
				head = &series[ti];
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					"spbench ring: %llu msgs x %llu reps, cpus %d/%d:",
					(unsigned long long)count, (unsigned long long)reps, prod_cpu,
					cons_cpu);
		for (size_t si = 0; si < nsizes && len < sizeof(line) - 128; si++) {
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %lluB",
						si ? " |" : "", (unsigned long long)sizes[si]);
			for (size_t ti = 0; ti < nseries && len < sizeof(line) - 96; ti++) {
				const struct series *se = &series[ti];
				if (head && se != head && !strcmp(se->ops->kind, "ring"))
					continue;
				fmt_rate(rate, sizeof(rate), se->median_mps[si]);
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %s",
							se->ops->name, rate);
				if (head && se != head && se->median_mps[si] > 0)
					len += (size_t)snprintf(line + len, sizeof(line) - len, " (ring x%.1f)",
								head->median_mps[si] / se->median_mps[si]);
			}
		}
		fprintf(stderr, "%s\n", line);
	}
	rc = 0;
out:
	for (size_t ti = 0; ti < nseries; ti++)
		cJSON_Delete(series[ti].describe);
	free(series);
	return rc;
}
