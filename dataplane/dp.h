/*
 * dp.h: spdp's internal types, shared by its main thread (main.c), the
 * attach server (attach_server.c) and the workers (worker.c).
 *
 * Ownership: struct dp and everything it points to belong to the main
 * thread; each struct dp_worker's rings and stats block belong to that
 * worker's thread once it started (the main thread only reads stats and
 * signals stop).
 */
#ifndef SP_DP_H
#define SP_DP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"
#include "ring.h"
#include "shm.h"

struct dp_config {
	char instance[SHM_INSTANCE_LEN];
	char runtime_dir[96];
	uint32_t workers;
	int log_level;
	char ctl_group[32];
	uint64_t main_ring_bytes;
	uint64_t cmd_ring_bytes;
	uint64_t evt_ring_bytes;
	uint64_t exc_ring_bytes;
	uint32_t idle_sleep_ms;
	/* [media] */
	char media_address[64];
	uint32_t port_min, port_max;
	uint32_t shared_port;
	/* [flows] */
	uint32_t max_flows, max_subs, max_subs_per_flow;
	uint32_t history_pkts;
	uint64_t history_bytes;
	uint32_t pli_interval_ms, rtcp_timeout_ms, send_error_limit;
	uint32_t srtp_window, srtp_key_lifetime;
	/* [io] */
	uint32_t rx_buffers, rx_buf_size, tx_slots, tx_buffers;
	uint64_t rcvbuf;
	bool zerocopy_send;
	/* [turn] */
	char turn_listen[160];
	char turn_listen_tcp[160], turn_listen_tls[160];
	char turn_tls_cert[256], turn_tls_key[256], turn_tls_min_version[8];
	uint32_t turn_max_allocs, turn_max_perms, turn_max_channels;
	uint32_t turn_max_conns, turn_conn_idle_ms, turn_tls_handshake_ms;
	/* [tunnel] */
	char tunnel_listen[160];
	char tunnel_tls_cert[256], tunnel_tls_key[256], tunnel_tls_min_version[8];
	char tunnel_streampoint_id[72];
	char tunnel_token_key_file[256];
	uint32_t tunnel_max_agents, tunnel_max_streams, tunnel_max_forwards;
	uint64_t tunnel_stream_window;
	uint32_t tunnel_handshake_ms, tunnel_heartbeat_ms;
	/* [rtsp] */
	uint32_t rtsp_max_pulls, rtsp_retry_min_ms, rtsp_retry_max_ms;
	uint32_t rtsp_request_timeout_ms, rtsp_silence_ms;
};

#define DP_TURN_MAX_LISTENERS 4 /* per transport: UDP, TCP, TLS */

extern const struct cfg_key dp_config_keys[];
extern const size_t dp_config_nkeys;

struct dp;

struct dp_worker {
	uint32_t id;
	pthread_t thread;
	struct dp *dp;
	ring *cmd, *evt, *exc_up, *exc_down;
	int doorbell;
	struct stats_block *stats;
	_Atomic bool stop;
	_Atomic int init;          /* 0 starting, 1 running, -errno failed */
	struct dp_backend *be;     /* owned by the worker thread */
	struct flow_table *flows;  /* owned by the worker thread */
	int shared_fd;             /* this worker's shared-port socket, -1: none */
	struct turn_relay *turn;   /* owned by the worker thread; NULL: TURN off */
	int turn_fds[3 * DP_TURN_MAX_LISTENERS]; /* this worker's TURN listener sockets */
	uint8_t turn_fd_tp[3 * DP_TURN_MAX_LISTENERS]; /* their enum msg_turn_transport */
	uint32_t n_turn_fds;
	struct tunnel *tunnel;     /* owned by the worker thread; NULL: tunnels off */
	int tun_fds[DP_TURN_MAX_LISTENERS]; /* this worker's agent listener sockets */
	struct rtsp_pulls *pulls;  /* RTSP pulls over its tunnels; NULL: tunnels off */
	uint32_t n_tun_fds;
};

struct dp {
	struct dp_config cfg;
	struct tls_server *turn_tls; /* [turn] listen_tls: shared by the workers */
	struct tls_server *tunnel_tls; /* [tunnel] listen: shared by the workers */
	struct agent_auth_keyring *tunnel_keys; /* [tunnel] token_key_file (read-only once started) */
	gid_t ctl_gid;
	shm_seg *seg;
	int doorbells[2 + SHM_MAX_WORKERS];
	uint32_t n_doorbells;
	struct dp_worker *workers;
	ring *main_cmd, *main_evt;
	struct stats_block *main_stats;
	char sock_path[108];
};

/* "0.0.0.0:3478, [::]:3478" -> addresses (port required); count or -EINVAL. */
int dp_parse_listen(const char *list, struct sp_addr *out, unsigned max);

int dp_worker_start(struct dp_worker *w);
void dp_worker_stop(struct dp_worker *w);

/* attach_server.c: serves spdp.sock from the main thread's epoll loop. */
struct dp_attach_server;
struct dp_attach_server *dp_attach_server_open(struct dp *dp, int epfd);
/* Called for epoll events whose data.ptr belongs to the server. */
void dp_attach_server_event(struct dp_attach_server *as, void *tag, uint32_t events);
/* Expire pending connections that never sent their request. */
void dp_attach_server_tick(struct dp_attach_server *as);
void dp_attach_server_close(struct dp_attach_server *as);

#endif
