/*
 * test_ring_2proc: one ring, two processes, ten million messages.
 *
 * The parent creates a segment (shm_create, one worker) and produces on the
 * worker's command ring; a forked child maps the same memfd itself
 * (shm_map, so the ring sits at a different address) and consumes. Message
 * sizes come from a deterministic function of the sequence number (0..512
 * bytes, about one in a thousand close to the ring's maximum), so both sides
 * know what each message must look like without talking.
 *
 * Every message carries its sequence number (23 bits in the record header's
 * type and version fields, all 64 bits in the payload when it has room) and
 * a checksum of its payload (8 bits in the header's flags, 32 in the payload
 * when it has room). The consumer checks no loss, no duplicate, order,
 * exact length and checksum.
 *
 * When the ring is empty the consumer arms it and sleeps on the eventfd
 * doorbell with a 200 ms poll timeout. A timeout with the ring still empty is
 * the producer being slow (counted, harmless). A timeout with data in the
 * ring is either a producer that published just now and is about to ring,
 * or a lost wake-up. We tell them apart without timing: every publish loads
 * the consumer's `waiting` flag after storing head and, when set, clears it
 * and writes the doorbell (ring.c); and the producer here records in shared
 * memory the head of each publish once ring_publish() has returned. So,
 * while the consumer stays armed and has seen head at `seen`:
 *   - waiting == 0: the producer took our flag and will write the doorbell;
 *     we block on it (a hang here would fail the test by its timeout);
 *   - waiting == 1 and the publish of `seen` has returned: that publish
 *     did not see our flag, a lost wake-up, and the test fails at once;
 *   - otherwise the publish is still in flight: look again.
 * No verdict depends on how fast anything runs.
 *
 * A lost wake-up only shows when the producer then stops publishing (the
 * next publish would ring and hide it), so after about one publish in 32
 * the producer holds back until the consumer has drained the ring; and at
 * rarer points it first waits for the consumer to drain and arm, so that
 * burst goes to a consumer known to be asleep.
 *
 * SP_RING_2PROC_MSGS overrides the message count (default 10,000,000).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"
#include "shm.h"

#define DEFAULT_MSGS 10000000ull
#define RING_BYTES (64u * 1024)
#define POLL_MS 200
#define SIZE_SEED 0x5eed5eed12345678ull
#define PAUSE_SEED 0x0a05e0a05e0a05e0ull

/* Written by the consumer child, read by the parent after it exits. */
struct result {
	uint64_t received;
	uint64_t sleeps;         /* times the consumer armed and polled */
	uint64_t doorbell_wakes; /* poll returned readable */
	uint64_t idle_timeouts;  /* poll timed out, ring still empty */
	uint64_t late_timeouts;  /* poll timed out with data queued, doorbell came after */
	uint64_t fail_seq;
	_Atomic uint64_t published; /* producer: head of the last publish that returned */
	int failed;
	char why[200];
};

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t msg_len(uint64_t seq, uint32_t max)
{
	uint64_t h = mix64(seq ^ SIZE_SEED);
	if (h % 997 == 0)
		return max - (uint32_t)((h >> 20) % 64);
	return (uint32_t)((h >> 32) % 513);
}

static uint32_t csum(const uint8_t *p, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	uint32_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, sizeof(w));
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static uint16_t seq_type(uint64_t seq)
{
	return (uint16_t)(0x8000u | (seq & 0x7fffu)); /* never RING_MSG_PAD */
}

static uint8_t seq_version(uint64_t seq)
{
	return (uint8_t)(seq >> 15);
}

#define SEQ_HDR_BITS 23
#define LONG_MSG 12 /* room for [seq:8][csum:4] */

/* Fill a payload in place; returns the 8-bit checksum for the flags. */
static uint8_t fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint32_t start = len >= LONG_MSG ? LONG_MSG : 0, i = start;
	uint64_t x = seq * 0x2545f4914f6cdd1dull + 1;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = mix64(x++);
		memcpy(p + i, &w, sizeof(w));
	}
	for (uint64_t w = mix64(x); i < len; i++, w >>= 8)
		p[i] = (uint8_t)w;
	uint32_t c = csum(p + start, len - start);
	if (len >= LONG_MSG) {
		memcpy(p, &seq, sizeof(seq));
		memcpy(p + 8, &c, sizeof(c));
	}
	return (uint8_t)c;
}

static int fail(struct result *res, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct result *res, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	res->fail_seq = seq;
	res->failed = 1;
	return -1;
}

static int verify(struct result *res, const struct ring_msg *m, uint64_t seq, uint32_t max)
{
	uint64_t hdr_seq = (uint64_t)(m->type & 0x7fffu) | ((uint64_t)m->version << 15);
	uint64_t want = seq & ((1ull << SEQ_HDR_BITS) - 1);

	if (!(m->type & 0x8000u) || hdr_seq != want) {
		uint64_t d = (hdr_seq - want) & ((1ull << SEQ_HDR_BITS) - 1);
		if (d < (1ull << (SEQ_HDR_BITS - 1)))
			return fail(res, seq, "loss: expected %llu, got %llu (%llu missing)",
				    (unsigned long long)seq, (unsigned long long)(seq + d),
				    (unsigned long long)d);
		return fail(res, seq, "duplicate or out of order: expected %llu, header says %llu back",
			    (unsigned long long)seq,
			    (unsigned long long)(((1ull << SEQ_HDR_BITS) - d)));
	}
	uint32_t len = msg_len(seq, max);
	if (m->len != len)
		return fail(res, seq, "message %llu: length %u, sent %u", (unsigned long long)seq,
			    m->len, len);
	if (len >= LONG_MSG) {
		uint64_t s;
		uint32_t c;
		memcpy(&s, m->payload, sizeof(s));
		memcpy(&c, m->payload + 8, sizeof(c));
		if (s != seq)
			return fail(res, seq, "message %llu carries sequence %llu",
				    (unsigned long long)seq, (unsigned long long)s);
		if (c != csum(m->payload + LONG_MSG, len - LONG_MSG) || (uint8_t)c != m->flags)
			return fail(res, seq, "message %llu (%u bytes): checksum mismatch",
				    (unsigned long long)seq, len);
	} else if ((uint8_t)csum(m->payload, len) != m->flags) {
		return fail(res, seq, "message %llu (%u bytes): checksum mismatch",
			    (unsigned long long)seq, len);
	}
	return 0;
}

/*
 * The poll timed out but the ring holds data. Decide, from shared state
 * only, whether the producer is about to ring (fine) or published past our
 * flag (lost wake-up). See the comment at the top.
 */
static int await_late_doorbell(struct result *res, struct ring_ctrl *ctrl, int efd, uint64_t seq)
{
	uint64_t seen = atomic_load_explicit(&ctrl->head, memory_order_acquire);
	uint64_t v;

	for (;;) {
		if (read(efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			return 0;
		/* `published` first (acquire): once the publish of `seen` has
		 * returned, its clearing of `waiting` is visible to the next load. */
		uint64_t done = atomic_load_explicit(&res->published, memory_order_acquire);
		if (atomic_load_explicit(&ctrl->waiting, memory_order_relaxed) == 0) {
			struct pollfd pfd = { .fd = efd, .events = POLLIN };
			while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
				;
			(void)!read(efd, &v, sizeof(v));
			return 0;
		}
		if (done - seen < (1ull << 63))
			return fail(res, seq,
				    "lost wake-up: publish of head %llu returned without taking the "
				    "consumer's waiting flag",
				    (unsigned long long)seen);
		sched_yield();
	}
}

static int consume(int fd, int efd, uint64_t total, struct result *res)
{
	char err[256];
	shm_seg *s = shm_map(fd, true, err, sizeof(err));
	if (!s)
		return fail(res, 0, "consumer shm_map: %s", err);
	uint32_t idx = shm_ring_index(RING_KIND_CMD, 0);
	struct ring_ctrl *ctrl = shm_ring_ctrl(s, idx);
	uint64_t cap = shm_ring_desc(s, idx)->capacity;
	ring *r = ring_open(ctrl, shm_ring_data(s, idx), cap, efd, RING_CONSUMER);
	uint32_t max = ring_max_payload(cap);
	struct ring_msg m[32];
	uint64_t seq = 0;

	if (!r)
		return fail(res, 0, "consumer ring_open failed");
	while (seq < total) {
		unsigned n = ring_dequeue_burst(r, m, 32);
		if (n) {
			if (seq + n > total)
				return fail(res, total, "%llu messages past the last one",
					    (unsigned long long)(seq + n - total));
			for (unsigned i = 0; i < n; i++, seq++)
				if (verify(res, &m[i], seq, max) < 0)
					return -1;
			ring_release(r);
			continue;
		}
		if (!ring_arm(r))
			continue;
		res->sleeps++;
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		int rc = poll(&pfd, 1, POLL_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return fail(res, seq, "poll: %s", strerror(errno));
		if (rc > 0) {
			uint64_t v;
			(void)!read(efd, &v, sizeof(v));
			res->doorbell_wakes++;
			continue;
		}
		if (ring_empty(r)) {
			res->idle_timeouts++;
			continue;
		}
		res->late_timeouts++;
		if (await_late_doorbell(res, ctrl, efd, seq) < 0)
			return -1;
	}
	res->received = seq;
	if (!ring_empty(r))
		return fail(res, seq, "data after the last message");
	ring_close(r);
	shm_unmap(s);
	return 0;
}

static uint64_t message_count(void)
{
	const char *e = getenv("SP_RING_2PROC_MSGS");
	if (e && *e) {
		char *end;
		unsigned long long v = strtoull(e, &end, 10);
		if (*end == '\0' && v > 0)
			return v;
	}
	return DEFAULT_MSGS;
}

static void publish(ring *r, struct ring_ctrl *ctrl, struct result *res)
{
	ring_publish(r);
	atomic_store_explicit(&res->published, atomic_load_explicit(&ctrl->head, memory_order_relaxed),
			      memory_order_release);
}

/* The consumer died early (it never does when all is well): report why. */
static void check_child(pid_t pid, const struct result *res)
{
	int st;
	pid_t w = waitpid(pid, &st, WNOHANG);
	if (w == pid)
		cr_assert_fail("consumer exited early (status %#x): %s", st,
			 res->failed ? res->why : "no reason recorded");
}

/* Spin (yielding) until the consumer has released everything published,
 * and, with `armed`, has also armed the ring to sleep. */
static void wait_idle(struct ring_ctrl *ctrl, bool armed, pid_t pid, const struct result *res)
{
	for (uint64_t spins = 1;; spins++) {
		uint64_t h = atomic_load_explicit(&ctrl->head, memory_order_relaxed);
		if (atomic_load_explicit(&ctrl->tail, memory_order_acquire) == h &&
		    (!armed || atomic_load_explicit(&ctrl->waiting, memory_order_relaxed)))
			return;
		if ((spins & 1023) == 0)
			check_child(pid, res);
		sched_yield();
	}
}

Test(ring_2proc, ten_million_messages, .timeout = 300)
{
	const uint64_t total = message_count();
	struct shm_params p = {
		.workers = 1,
		.main_ring_bytes = RING_MIN_CAPACITY,
		.cmd_ring_bytes = RING_BYTES,
		.evt_ring_bytes = RING_MIN_CAPACITY,
		.exc_ring_bytes = RING_MIN_CAPACITY,
		.instance = "2proc",
	};
	shm_seg *s = shm_create(&p);
	cr_assert_not_null(s, "shm_create: %s", strerror(errno));
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(efd, 0);
	struct result *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(res, MAP_FAILED);
	memset(res, 0, sizeof(*res));

	uint32_t idx = shm_ring_index(RING_KIND_CMD, 0);
	struct ring_ctrl *ctrl = shm_ring_ctrl(s, idx);
	uint64_t cap = shm_ring_desc(s, idx)->capacity;
	cr_assert_eq(cap, RING_BYTES);
	const uint32_t max = ring_max_payload(cap);
	pid_t parent = getpid();

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Never outlive the test (a timeout kills the parent). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(2);
		_exit(consume(shm_fd(s), efd, total, res) < 0 ? 1 : 0);
	}

	ring *r = ring_open(ctrl, shm_ring_data(s, idx), cap, efd, RING_PRODUCER);
	cr_assert_not_null(r);
	unsigned staged = 0, burst = 1;
	uint64_t full_waits = 0, pauses = 0, holds = 0;
	bool pausing = false;
	for (uint64_t seq = 0; seq < total; seq++) {
		if (!pausing && staged == 0 && mix64(seq ^ PAUSE_SEED) % 4096 == 0) {
			/* Quiet point: the next burst goes to an armed, idle consumer
			 * and nothing follows it until it is consumed. */
			wait_idle(ctrl, true, pid, res);
			pausing = true;
			pauses++;
		}
		uint32_t len = msg_len(seq, max);
		uint8_t *d = ring_prepare(r, len);
		while (!d) {
			/* Full: never wait inside the ring; publish what we hold,
			 * let the consumer run, try again. */
			publish(r, ctrl, res);
			staged = 0;
			if ((++full_waits & 1023) == 0)
				check_child(pid, res);
			sched_yield();
			d = ring_prepare(r, len);
		}
		uint8_t c = fill(d, len, seq);
		ring_stage(r, seq_type(seq), seq_version(seq), c, len);
		if (++staged >= burst) {
			publish(r, ctrl, res);
			staged = 0;
			burst = 1 + (unsigned)(mix64(seq) % 16);
			/* Often, hold back after a publish until it is consumed:
			 * had it raced with the consumer arming and lost the
			 * wake-up, nothing later would hide that. */
			if (pausing || mix64(seq ^ PAUSE_SEED) % 32 == 1) {
				wait_idle(ctrl, false, pid, res);
				pausing = false;
				holds++;
			}
		}
	}
	publish(r, ctrl, res);
	ring_close(r);

	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_log_info("%llu pauses, %llu holds", (unsigned long long)pauses, (unsigned long long)holds);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer failed (status %#x) at %llu: %s",
		  st, (unsigned long long)res->fail_seq, res->failed ? res->why : "?");
	cr_assert_eq(res->received, total);

	struct ring_stats rs;
	ring_ctrl_stats(ctrl, cap, &rs);
	cr_assert_eq(rs.enq_msgs, total);
	cr_assert_eq(rs.deq_msgs, total);
	cr_assert_eq(rs.depth_msgs, 0);
	cr_assert_eq(rs.used_bytes, 0);
	cr_assert_eq(rs.drops_full, 0);
	cr_assert_eq(rs.corrupt, 0);
	cr_assert_eq(rs.rejected, 0);
	/* Every wake the consumer saw was a write some publish made. */
	cr_assert_leq(res->doorbell_wakes, rs.wakeups);
	cr_log_info("%llu messages, %llu ring-full waits, %llu sleeps, %llu doorbells written, "
		    "%llu doorbell wakes, %llu idle timeouts, %llu late doorbells",
		    (unsigned long long)total, (unsigned long long)full_waits,
		    (unsigned long long)res->sleeps, (unsigned long long)rs.wakeups,
		    (unsigned long long)res->doorbell_wakes, (unsigned long long)res->idle_timeouts,
		    (unsigned long long)res->late_timeouts);
	munmap(res, sizeof(*res));
	close(efd);
	shm_unmap(s);
}
