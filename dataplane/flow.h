/*
 * flow: a worker's media flows. A flow has one source (a camera pushing RTP
 * and RTCP to the flow's port pair) and N subscribers. Each received packet
 * is handed to the backend once with N destinations (tx_fanout), so the
 * payload is never copied; the per-subscriber part is only the address.
 *
 * RTCP: the camera's reports go to every subscriber; subscribers' receiver
 * reports are absorbed (they keep the subscriber alive); PLI/FIR go upstream
 * deduplicated and rate-limited; NACKs are answered from the flow's packet
 * history. Unknown sources are dropped and counted.
 *
 * All state is preallocated from flow_cfg at create time; nothing is
 * allocated per packet. Time comes in as an argument (now_ns) so tests can
 * drive timers without sleeping. Owned by one worker thread.
 */
#ifndef SP_DP_FLOW_H
#define SP_DP_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "msg.h"
#include "shm-t.h"
#include "stats.h"

struct flow_cfg {
	uint32_t worker;
	uint32_t workers;          /* port range is split between workers */
	uint32_t max_flows;        /* per worker */
	uint32_t max_subs;         /* per worker, all flows together */
	uint32_t max_subs_per_flow;
	uint32_t history_pkts;     /* packets kept per flow (power of two) */
	uint32_t history_bytes;    /* bytes kept per flow */
	uint32_t pli_interval_ms;  /* at most one PLI/FIR upstream per flow per interval */
	uint32_t rtcp_timeout_ms;  /* remove a subscriber silent this long (0: never) */
	uint32_t send_error_limit; /* consecutive send errors before removal */
	uint32_t srtp_window;      /* default SRTP replay window (packets) */
	uint64_t srtp_key_lifetime; /* packets per SRTP key; 0: the RFC 3711 limit */
	struct sp_addr media_addr; /* address flows bind their ports to */
	uint16_t port_min, port_max;
	uint32_t max_ports;        /* the backend's port indexes; 0: 2 * max_flows + 8 */
	struct flow_stat *flow_stats; /* max_flows slots in the shared segment, or NULL */
	struct sub_stat *sub_stats;   /* max_subs slots, or NULL */
};

typedef struct flow_table flow_table;

/* Emits flow events (results, removals) to spcp. */
typedef void (*flow_event_fn)(void *ctx, const struct msg_flow_event *ev);

flow_table *flow_table_create(const struct flow_cfg *cfg, const struct dp_backend_ops *ops,
			      struct dp_backend *be, struct stats_block *stats,
			      flow_event_fn emit, void *emit_ctx);
void flow_table_destroy(flow_table *ft);

/* Commands from spcp; each emits exactly one result event. */
void flow_cmd_add(flow_table *ft, const struct msg_flow_add *m);
void flow_cmd_del(flow_table *ft, const struct msg_flow_del *m);
void flow_cmd_sub_add(flow_table *ft, const struct msg_sub_add *m);
void flow_cmd_sub_del(flow_table *ft, const struct msg_sub_del *m);
void flow_cmd_rekey(flow_table *ft, const struct msg_srtp_rekey *m);
/* Report every flow and subscriber, then FLOW_EV_DUMP_DONE. */
void flow_cmd_dump(flow_table *ft, const struct msg_flow_dump *m);

/* Packets from rx_burst: demultiplex, forward, release. */
void flow_input(flow_table *ft, struct dp_pkt *pkts, unsigned n, uint64_t now_ns);
/* Send errors, RTCP timeouts. Call every few ms. */
void flow_timers(flow_table *ft, uint64_t now_ns);

/* Packets on this backend port are demultiplexed by source address/port
 * (and SSRC, for flows that filter on it) instead of by port. */
void flow_set_shared_port(flow_table *ft, uint32_t port);

/* Ingest flows (MSG_FLOW_F_INGEST): their source is another module of the
 * worker (an RTSP pull). A packet from it: copied once into a transmit
 * buffer, then the same path as a camera's packet (keyframes, history,
 * fan-out). 0, -ENOENT (no such ingest flow), -EINVAL, -ENOBUFS, -EMSGSIZE
 * (dropped, counted). */
int flow_ingest(flow_table *ft, uint32_t flow_id, bool rtcp, const uint8_t *d, uint32_t len,
		uint64_t now_ns);
bool flow_is_ingest(flow_table *ft, uint32_t flow_id);
/* Where an ingest flow's RTCP for its source (PLI, FIR) goes. */
typedef void (*flow_upstream_fn)(void *ctx, uint32_t flow_id, const uint8_t *rtcp, uint32_t len);
void flow_set_upstream(flow_table *ft, flow_upstream_fn fn, void *ctx);

uint32_t flow_count(const flow_table *ft);
uint32_t flow_sub_count(const flow_table *ft);

#endif
