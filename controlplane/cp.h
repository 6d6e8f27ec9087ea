/*
 * cp.h: spcp's internal types. spcp is single-threaded: one epoll loop in
 * main.c drives the link to spdp (dp_link.c) and the control socket (ctl.c).
 * Later issues add the agent endpoint, TURN allocation and MQTT to the same
 * loop; anything that can block (DNS, broker connect) gets its own thread.
 */
#ifndef SP_CP_H
#define SP_CP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "msg.h"
#include "shm-t.h"

struct cp_config {
	char instance[SHM_INSTANCE_LEN];
	char runtime_dir[96];
	int log_level;
	char ctl_group[32];
	uint32_t heartbeat_ms;
	uint32_t dp_timeout_ms;
	uint32_t reattach_min_ms;
	uint32_t reattach_max_ms;
	uint32_t max_flows;
	bool dpdk_link;
	char dpdk_runtime_dir[64];
	/* [turn] (controlplane/turn.c) */
	bool turn_enable;
	char turn_realm[128];
	char turn_software[64];
	char turn_users[2048];        /* "name:password,..." */
	char turn_rest_secrets[1024]; /* "secret,..." */
	char turn_relay_address[64];
	char turn_relay_address6[64];
	uint32_t turn_port_min, turn_port_max;
	uint32_t turn_max_allocs, turn_max_allocs_per_user;
	uint32_t turn_max_perms_per_alloc, turn_max_channels_per_alloc;
	uint32_t turn_bandwidth_bps;
	uint32_t turn_default_lifetime_s, turn_max_lifetime_s;
	uint32_t turn_perm_lifetime_s, turn_channel_lifetime_s, turn_nonce_lifetime_s;
	uint32_t turn_rl_rate, turn_rl_burst, turn_rl_entries;
	char turn_peer_allow[1024];   /* "CIDR,..." */
	bool turn_rfc5766_channels;
	char turn_nonce_secret_file[256]; /* "": a random secret per process */
	/* [endpoint] (controlplane/endpoint.c) */
	bool ep_enable;
	char ep_listen[64];
	char ep_tls_cert[256], ep_tls_key[256];
	char ep_tls_min_version[8];
	char ep_server_id[65];
	char ep_master_key_file[256];
	char ep_key_file[256];
	char ep_revoked[4096];        /* "device,..." */
	char ep_token_key_file[256];
	uint32_t ep_token_lifetime_s;
	char ep_streampoints[4096];   /* "id@host:port,..." */
	uint32_t ep_heartbeat_s;
	uint32_t ep_handshake_timeout_ms;
	uint32_t ep_max_agents;
	uint32_t ep_fail_burst, ep_fail_window_s, ep_rl_entries;
	/* [mqtt] (controlplane/mqtt.c) */
	bool mqtt_enable;
	char mqtt_host[256];
	uint32_t mqtt_port;
	bool mqtt_tls;
	char mqtt_ca_file[256], mqtt_cert_file[256], mqtt_key_file[256];
	char mqtt_username[128];
	char mqtt_password_file[256];
	char mqtt_client_id[128];
	char mqtt_sp_id[65];
	char mqtt_addresses[1024];    /* "kind=address,..." */
	uint32_t mqtt_keepalive_s;
	uint32_t mqtt_reconnect_min_s, mqtt_reconnect_max_s;
	uint32_t mqtt_status_interval_s;
	uint32_t mqtt_max_events;
	uint32_t mqtt_idem_entries;
	char mqtt_acl[2048];          /* "identity:command-pattern,..." */
};

extern const struct cfg_key cp_config_keys[];
extern const size_t cp_config_nkeys;

/* ---- dp_link: the attachment to spdp ---- */
typedef struct dp_link dp_link;

dp_link *dp_link_create(const struct cp_config *cfg, int epfd);
void dp_link_destroy(dp_link *l);
/* True when the epoll tag belongs to the link; handles the event. */
bool dp_link_owns(const dp_link *l, const void *tag);
void dp_link_event(dp_link *l, const void *tag, uint32_t events);
/* Timers: re-attach with backoff, heartbeats. Call at least every 100 ms. */
void dp_link_tick(dp_link *l);
/* Drain every ring from spdp. Returns messages handled. */
unsigned dp_link_poll(dp_link *l);
/* Arm the rings from spdp before sleeping; false: data is waiting. */
bool dp_link_arm(dp_link *l);
bool dp_link_attached(const dp_link *l);
cJSON *dp_link_status_json(const dp_link *l);
/* spdp's segment as status JSON, or {"reachable": false}. */
cJSON *dp_link_spdp_json(const dp_link *l);
int dp_link_set_log_level(dp_link *l, int level);
uint32_t dp_link_workers(const dp_link *l);
/* Successful attaches so far: changes whenever spcp attached anew. */
uint64_t dp_link_attaches(const dp_link *l);
/* The attached segment (NULL when detached); valid until the next tick. */
const struct shm_seg *dp_link_segment(const dp_link *l);
int dp_link_pid(const dp_link *l);
/* Queue a command on worker w's ring. 0, -ENOTCONN, -ENOBUFS (full, counted). */
int dp_link_send(dp_link *l, uint32_t worker, uint16_t type, const void *p, uint32_t len);
/* Callbacks: every attach (after hello; up to 4 of them, called in the
 * order added), and every flow event. */
void dp_link_on_attach(dp_link *l, void (*fn)(void *ctx), void *ctx);
void dp_link_on_flow_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_flow_event *ev), void *ctx);
/* Exception packets up (payload: h->payload_len bytes, valid during the
 * call only) and TURN events, with the worker whose ring they came on. */
void dp_link_on_exc_packet(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						    const struct msg_exc_packet *h,
						    const uint8_t *payload), void *ctx);
void dp_link_on_turn_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_turn_event *ev), void *ctx);
/* Records of a worker's TURN dump (MSG_TURN_STATE). */
void dp_link_on_turn_state(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_turn_effect *rec), void *ctx);
void dp_link_on_tunnel_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						     const struct msg_tunnel_event *ev), void *ctx);
void dp_link_on_rtsp_event(dp_link *l, void (*fn)(void *ctx, uint32_t worker,
						   const struct msg_rtsp_event *ev), void *ctx);

/* ---- flows: spcp's registry of flows and subscribers (flows.c) ---- */
typedef struct cp_flows cp_flows;
struct ctlsock;
struct msg_flow_event;
cp_flows *cp_flows_create(dp_link *link, uint32_t max_flows);
void cp_flows_destroy(cp_flows *f);
int cp_flows_register_ctl(cp_flows *f, struct ctlsock *cs);
typedef struct cp_tunnels cp_tunnels;
void cp_flows_set_tunnels(cp_flows *f, const cp_tunnels *t);
/* Asked before a flow is deleted: true keeps it (an RTSP pull feeds it). */
void cp_flows_set_in_use(cp_flows *f, bool (*fn)(void *ctx, uint32_t flow_id), void *ctx);
/* The worker of an ingest flow (flow add ingest=DEVICE), or -ENOENT. */
int cp_flows_ingest_worker(cp_flows *f, uint32_t id);
/* Subscribers of a flow (pending ones included), or -ENOENT. */
int cp_flows_sub_count(cp_flows *f, uint32_t id);

#endif
