/*
 * pulls (spcp): RTSP pulls of cameras behind agents: spctl rtsp pull/stop,
 * the registry of what spdp reported (MSG_RTSP_EVENT). See pulls.c.
 */
#ifndef SP_CP_PULLS_H
#define SP_CP_PULLS_H

#include "cp.h"

#define CP_PULLS_MAX 1024

typedef struct cp_pulls cp_pulls;
struct ctlsock;

cp_pulls *cp_pulls_create(dp_link *link, cp_flows *flows, const cp_tunnels *tunnels);
void cp_pulls_destroy(cp_pulls *p);
int cp_pulls_register_ctl(cp_pulls *p, struct ctlsock *cs);
/* On-demand pulls: start when watched, stop after the linger. Every tick. */
void cp_pulls_tick(cp_pulls *p, uint64_t now_ns);

#endif
