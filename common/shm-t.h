/*
 * shm-t.h: layout of the shared segment between spdp, spcp and spctl.
 *
 * spdp creates the segment (a memfd) and hands it out over its unix socket
 * with SCM_RIGHTS. All references inside are byte offsets from the start of
 * the segment, never pointers. Readers validate every offset and size
 * against the mapping before they use it (shm_map()).
 *
 *   0            struct shm_header
 *   procinfo_off struct shm_procinfo           who is attached, heartbeats
 *   rings_off    struct ring_desc[n_rings]      where each ring lives
 *   names_off    char[n_counters + n_drops][STATS_NAME_LEN]
 *   stats_off    struct stats_block[n_workers + 1]  (last: spdp main thread)
 *   flow_stats_off  struct flow_stat[n_workers][max_flows]   one slot per flow slot
 *   sub_stats_off   struct sub_stat[n_workers][max_subs]     one slot per subscriber slot
 *   ...          per ring: struct ring_ctrl, then `capacity` data bytes
 *
 * Ring order: 0 main command (spcp -> spdp main), 1 main event (spdp main ->
 * spcp), then per worker w at 2 + 4w: command, event, exception up (spdp ->
 * spcp), exception down (spcp -> spdp).
 */
#ifndef SP_SHM_T_H
#define SP_SHM_T_H

#include <stdatomic.h>
#include <stdint.h>

#include "ring-t.h"
#include "stats.h"

#define SHM_MAGIC 0x31304d4853505351ull /* "QSPSHM01" little-endian */
#define SHM_LAYOUT_VERSION 3u
#define SHM_MAX_WORKERS 128u
#define SHM_INSTANCE_LEN 32

enum ring_kind {
	RING_KIND_MAIN_CMD = 1, /* spcp -> spdp main thread */
	RING_KIND_MAIN_EVT = 2, /* spdp main thread -> spcp */
	RING_KIND_CMD = 3,      /* spcp -> worker */
	RING_KIND_EVT = 4,      /* worker -> spcp */
	RING_KIND_EXC_UP = 5,   /* worker -> spcp: exception packets */
	RING_KIND_EXC_DOWN = 6, /* spcp -> worker: exception packets */
};
#define RING_KIND_BIT(k) (1u << (k))
#define RING_KINDS_TO_DP (RING_KIND_BIT(RING_KIND_MAIN_CMD) | RING_KIND_BIT(RING_KIND_CMD) | \
			  RING_KIND_BIT(RING_KIND_EXC_DOWN))

/* Doorbells: eventfds a consumer sleeps on, handed over with the segment. */
#define SHM_DOORBELL_CP 0u   /* spcp: consumes every spdp -> spcp ring */
#define SHM_DOORBELL_MAIN 1u /* spdp main thread */
#define SHM_DOORBELL_WORKER(w) (2u + (w))

struct ring_desc {
	uint32_t kind;     /* enum ring_kind */
	uint32_t worker;   /* worker index; UINT32_MAX for the main rings */
	uint32_t doorbell; /* index of the consumer's doorbell */
	uint32_t reserved;
	uint64_t ctrl_off; /* struct ring_ctrl */
	uint64_t data_off; /* capacity bytes */
	uint64_t capacity;
};

struct shm_procinfo {
	_Atomic int32_t dp_pid;
	_Atomic int32_t cp_pid;          /* 0 while no spcp is attached */
	_Atomic uint64_t dp_start_real_ns;  /* CLOCK_REALTIME at spdp start */
	_Atomic uint64_t dp_start_mono_ns;
	_Atomic uint64_t dp_heartbeat_ns;   /* CLOCK_MONOTONIC, main thread */
	_Atomic uint64_t cp_attach_mono_ns;
	_Atomic uint64_t cp_attach_count;   /* attaches since spdp started */
	_Atomic uint32_t shutting_down;
	uint32_t reserved;
};

/*
 * Per-flow and per-subscriber counters. Written only by the owning worker
 * (relaxed single-writer stores, like stats_block); `id` is set before
 * `active` becomes 1 and cleared after it becomes 0, so a reader that sees
 * active == 1 reads a consistent id (counters may lag by a packet).
 */
struct flow_stat {
	_Atomic uint32_t active;
	_Atomic uint32_t flow_id;
	_Atomic uint32_t subs;
	_Atomic uint32_t rtp_port;
	_Atomic uint64_t rx_pkts;
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t fanout;      /* sends queued to subscribers */
	_Atomic uint64_t rtcp_in;
	_Atomic uint64_t drops;       /* malformed, SSRC mismatch, unknown source on its ports */
	_Atomic uint64_t keyframes;
	_Atomic uint64_t srtp_auth_fail; /* source packets whose SRTP/SRTCP tag failed */
	_Atomic uint64_t srtp_replay;    /* source packets replayed or too old */
};

struct sub_stat {
	_Atomic uint32_t active;
	_Atomic uint32_t flow_id;
	_Atomic uint32_t sub_id;
	_Atomic uint32_t reserved;
	_Atomic uint64_t tx_pkts;     /* queued, including fast start and NACK answers */
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t send_errors;
	_Atomic uint64_t rtcp_in;
	_Atomic uint64_t nack_resent;
	_Atomic uint64_t fast_start;
	_Atomic uint64_t srtp_auth_fail; /* viewer SRTCP whose tag failed */
	_Atomic uint64_t srtp_protected; /* packets encrypted for this viewer */
};

struct shm_header {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t header_size;
	uint64_t total_size;
	uint32_t n_workers;
	uint32_t n_rings;
	uint32_t n_counters;
	uint32_t n_drops;
	uint32_t n_doorbells;
	uint32_t stats_block_size;
	uint64_t procinfo_off;
	uint64_t rings_off;
	uint64_t names_off;
	uint64_t stats_off;
	uint32_t max_flows;  /* per worker */
	uint32_t max_subs;   /* per worker */
	uint64_t flow_stats_off;
	uint64_t sub_stats_off;
	char instance[SHM_INSTANCE_LEN];
};

static inline uint32_t shm_ring_index(enum ring_kind kind, uint32_t worker)
{
	switch (kind) {
	case RING_KIND_MAIN_CMD: return 0;
	case RING_KIND_MAIN_EVT: return 1;
	case RING_KIND_CMD: return 2 + 4 * worker;
	case RING_KIND_EVT: return 3 + 4 * worker;
	case RING_KIND_EXC_UP: return 4 + 4 * worker;
	case RING_KIND_EXC_DOWN: return 5 + 4 * worker;
	}
	return UINT32_MAX;
}

#endif
