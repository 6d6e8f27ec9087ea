/*
 * endpoint: spcp's agent endpoint (docs/agent.md, docs/agent-protocol.md
 * §1 and §5). A TLS listener in spcp's one epoll loop (non-blocking
 * OpenSSL, no threads) taking the agents' control connections:
 * HTTP/1.1 Upgrade, the mutual handshake, then AUTH_OK with a signed token
 * for the streampoint picked for the device (rendezvous hash over the
 * configured streampoints not marked down), heartbeats, and SWITCH /
 * GOAWAY on the operator's command (spctl agents, spctl agent ...).
 * An agent that cannot reach its streampoint says so (UNREACHABLE); the
 * endpoint then SWITCHes that device to its next pick and keeps avoiding
 * the reported streampoint for the device while its connection lasts.
 *
 * Nothing about a device is kept before its proof verifies: until then a
 * connection holds its TLS state, its header buffer and the handshake
 * object. Every refusal is counted by reason (agent_auth_err names plus
 * the endpoint's own: tls, deadline, rate_limited, full, frame, ...), and
 * failed handshakes are rate-limited per source address.
 */
#ifndef SP_CP_ENDPOINT_H
#define SP_CP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp.h"
#include "ctlsock.h"
#include "tun_frame.h"

typedef struct cp_endpoint cp_endpoint;

/* NULL with err set when the [endpoint] configuration or its files are
 * unusable. Call only when [endpoint] enable is true. */
cp_endpoint *cp_endpoint_create(const struct cp_config *cfg, char *err, size_t errlen);
void cp_endpoint_destroy(cp_endpoint *ep);
/* One pollable fd (an internal epoll): readable when dispatch has work. */
int cp_endpoint_fd(const cp_endpoint *ep);
void cp_endpoint_dispatch(cp_endpoint *ep, uint64_t now_ns);
/* Deadlines and heartbeats; call at least every 100 ms. */
void cp_endpoint_tick(cp_endpoint *ep, uint64_t now_ns);
/* /agents, /agent/switch, /agent/goaway, /agent/revoke, /streampoint/down|up */
int cp_endpoint_register_ctl(cp_endpoint *ep, ctlsock *cs);

/* ---- pure helpers (tests, fuzzing) ---- */

#define EP_MAX_STREAMPOINTS 64

struct ep_streampoint {
	char id[65];
	char addr[TUN_TARGET_MAX + 1]; /* host:port of its tunnel listener */
	bool down;                     /* spctl streampoint down: not assigned */
	uint32_t agents;
	uint64_t unreachable;          /* UNREACHABLE reports naming it */
};

/* "id@host:port,..." (spaces around items ignored). Returns the count,
 * -EINVAL with err naming the bad item (bad id, bad address, duplicate id),
 * -E2BIG past max. */
int ep_streampoints_parse(const char *csv, struct ep_streampoint *out, size_t max, char *err,
			  size_t errlen);
/* Device ids, comma-separated (the revoked list). Same returns. */
int ep_ids_parse(const char *csv, char (*out)[65], size_t max, char *err, size_t errlen);
/* Rendezvous (highest random weight) score of device on streampoint: a
 * device keeps its streampoint while that one is up, and only the devices
 * of a streampoint that goes down move. */
uint64_t ep_rendezvous(const char *device, const char *streampoint);
/* The up streampoint with the highest score; -1 if none is up. */
int ep_pick(const struct ep_streampoint *sps, size_t n, const char *device);
/* The same, also skipping streampoint i when bit i of avoid is set. */
int ep_pick_avoid(const struct ep_streampoint *sps, size_t n, const char *device, uint64_t avoid);

#endif
