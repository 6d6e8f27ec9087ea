/*
 * ipc.h: what a two-process message transport looks like to the ring
 * benchmark, and the message every transport carries.
 *
 * A transport is an ops table (like nginx's event actions): `setup` runs
 * before fork and creates what both sides share (a ring segment, a pipe, a
 * socketpair); after fork the parent calls `produce` and the child calls
 * `consume`, each first dropping the other side's descriptors. The ring
 * (bench_ring.c) and the baselines (baselines/) implement the same table,
 * so the driver measures them identically.
 *
 * Every message is `size` bytes: a little-endian 64-bit sequence number,
 * filler, and a last byte equal to the sequence's low byte (so a torn or
 * short copy is caught too). The consumer checks each one: a lost,
 * duplicated, reordered or damaged message fails the run.
 */
#ifndef SP_BENCH_IPC_H
#define SP_BENCH_IPC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#define IPC_MIN_SIZE 16u
#define IPC_MAX_SIZE 65536u
#define IPC_MAX_BURST 256u

struct ipc_params {
	uint32_t size;        /* payload bytes per message */
	uint64_t count;       /* messages per run */
	unsigned burst;       /* messages per enqueue/dequeue call (ring variants) */
	uint64_t ring_bytes;  /* ring capacity; baselines size their pipe to it */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: give up (and fail) after this */
	bool yield;           /* both sides share one CPU: spin loops yield it */
	uint64_t fault_seq;   /* testing: message stamped with the wrong sequence
			       * (UINT64_MAX: none), the consumer must fail */
};

/* What the consumer reports back to the driver. */
struct ipc_consumer_out {
	uint64_t received;
	uint64_t t_end_ns;    /* CLOCK_MONOTONIC after the last message checked */
	uint64_t syscalls;    /* read/recv/eventfd reads the consumer made */
	uint64_t sleeps;      /* doorbell variants: times it slept */
	int err;              /* 0, or negative errno */
	char why[160];        /* first failure, human readable */
};

/* Extra figures the producer side reports (zero when not meaningful). */
struct ipc_producer_out {
	uint64_t syscalls;    /* write/send calls */
	uint64_t full_spins;  /* ring: enqueue attempts that found the ring full */
	uint64_t wakeups;     /* ring: doorbell writes */
	char why[160];
};

struct ipc_ops {
	const char *name;      /* "pipe", "unix", "ring_burst" ... */
	const char *kind;      /* "ring" or "baseline" */
	const char *describe;  /* one line for the JSON */
	unsigned variant;      /* passed to setup: lets one file serve several tables */
	bool batched;          /* uses params.burst */
	/* Before fork; 0 or negative errno. */
	int (*setup)(void **state, const struct ipc_params *p, unsigned variant);
	/* After fork, before timing: drop the other side's descriptors, fault
	 * in shared memory. */
	void (*after_fork)(void *state, bool producer);
	/* 0 or negative errno; the producer explains failures in out->why. */
	int (*produce)(void *state, const struct ipc_params *p, struct ipc_producer_out *out);
	int (*consume)(void *state, const struct ipc_params *p, struct ipc_consumer_out *out);
	/* Facts worth recording (buffer sizes) into obj; may be NULL. */
	void (*describe_params)(void *state, cJSON *obj);
	void (*teardown)(void *state);
};

/* Set by the driver's SIGCHLD handler: the consumer is gone. */
extern volatile sig_atomic_t ipc_peer_gone;

/* Spin loops call this every few thousand idle turns: true = give up. */
bool ipc_should_stop(const struct ipc_params *p);

/* Stamp a message buffer (filler already written once) with its sequence. */
static inline void ipc_msg_stamp(uint8_t *buf, uint32_t size, uint64_t seq)
{
	memcpy(buf, &seq, sizeof(seq));
	buf[size - 1] = (uint8_t)seq;
}

/* The sequence a producer puts on message `seq` (see fault_seq). */
static inline uint64_t ipc_wire_seq(const struct ipc_params *p, uint64_t seq)
{
	return seq == p->fault_seq ? seq + 1 : seq;
}

static inline void ipc_msg_fill(uint8_t *buf, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(0xA5 ^ i);
}

/* True when the message is exactly the one expected. */
static inline bool ipc_msg_ok(const uint8_t *p, uint32_t len, uint32_t size, uint64_t expect)
{
	uint64_t seq;

	if (len != size)
		return false;
	memcpy(&seq, p, sizeof(seq));
	return seq == expect && p[size - 1] == (uint8_t)expect;
}

/* Explain a failed ipc_msg_ok() in out->why. */
void ipc_msg_explain(struct ipc_consumer_out *out, const uint8_t *p, uint32_t len,
		     uint32_t size, uint64_t expect);

/* Busy-wait hint for spin loops (PAUSE on x86). */
static inline void ipc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* The baselines (baselines/baselines.c). */
extern const struct ipc_ops ipc_pipe_ops;
extern const struct ipc_ops ipc_unix_seqpacket_ops;
extern const struct ipc_ops ipc_unix_stream_ops;

#endif
