/*
 * tunnels (spcp): which worker of spdp holds each agent's tunnel, and the
 * operators' forwards through them (`spctl tunnel open`, docs/tunnel.md).
 *
 *   TUNNEL_EV_UP (worker w)   device -> (w, tunnel id); an older tunnel of
 *                             the device on another worker gets
 *                             MSG_TUNNEL_KICK (one live tunnel per device;
 *                             spdp drains an older one on the same worker
 *                             itself)
 *   TUNNEL_EV_DOWN            removed if it is still the device's tunnel
 *   /tunnel/open              MSG_TUNNEL_LISTEN to the device's worker; the
 *                             forward is "pending" until LISTENING (port)
 *                             or FAILED arrives; spctl polls /tunnel/forward
 *   /tunnel/close             MSG_TUNNEL_UNLISTEN
 *
 *   attach                    forget the tunnels (spdp may have restarted),
 *                             MSG_TUNNEL_DUMP to every worker: live tunnels
 *                             come back as UP, forwards as LISTENING (seq:
 *                             the dump's), then DUMP_DONE; so an spcp that
 *                             restarted while tunnels stayed up knows them
 *
 * Bounded tables (CP_TUNNELS_MAX devices, CP_TUNNELS_FWD_MAX forwards; the
 * oldest finished forward makes room).
 */
#ifndef SP_CP_TUNNELS_H
#define SP_CP_TUNNELS_H

#include <stdint.h>

#include "cp.h"

#define CP_TUNNELS_MAX 65536
#define CP_TUNNELS_FWD_MAX 256

typedef struct cp_tunnels cp_tunnels;
struct ctlsock;

/* send: how commands reach worker w (dp_link_send; tests pass their own). */
typedef int (*cp_tunnels_send_fn)(void *ctx, uint32_t worker, uint16_t type, const void *p,
				  uint32_t len);

cp_tunnels *cp_tunnels_create(dp_link *link);
/* Without a link (tests): commands go to send. */
cp_tunnels *cp_tunnels_create_with(cp_tunnels_send_fn send, void *ctx);
void cp_tunnels_destroy(cp_tunnels *t);
int cp_tunnels_register_ctl(cp_tunnels *t, struct ctlsock *cs);
void cp_tunnels_on_event(cp_tunnels *t, uint32_t worker, const struct msg_tunnel_event *ev);
/* spcp attached to spdp (cp_tunnels_create registers it with the link). */
void cp_tunnels_on_attach(cp_tunnels *t, uint32_t workers);
/* The worker holding device's tunnel, or -ENOENT. */
int cp_tunnels_worker(const cp_tunnels *t, const char *device);

#endif
