/*
 * turn (spcp): the TURN server of the control plane. Wraps the I/O-free
 * core (turn_server.h) and connects it to spdp:
 *
 *   STUN request up from worker w (MSG_EXC_PACKET on w's exception ring)
 *     -> turn_server_handle() with the 5-tuple (client = remote address,
 *        server = the spdp listener, UDP)
 *     -> its effects as MSG_TURN_EFFECT on w's command ring
 *     -> then its response as MSG_EXC_PACKET on the SAME command ring.
 *   One FIFO: a worker installs an Allocate's relay before the client can
 *   see the success response and start sending. The response names the
 *   allocation it depends on, so a worker that failed to install it sends
 *   nothing (the client retransmits and gets a fresh allocation).
 *
 * Later effects (expiry from a 1 s timer, removals) go to the worker that
 * holds the allocation (alloc_id -> worker, remembered at install).
 * MSG_TURN_EVENT from spdp: a failed install, an effect for an allocation
 * spdp does not have, or spdp expiring one itself -> the allocation is
 * removed here too. On every attach each worker dumps its TURN state
 * (MSG_TURN_DUMP -> MSG_TURN_STATE records -> DUMP_DONE) and the core
 * imports it, so a restarted spcp carries on with the allocations spdp kept
 * relaying; requests wait (dropped, clients retransmit) until that is done.
 * /turn on the control socket shows the counters, /turn/allocs the
 * allocations.
 */
#ifndef SP_CP_TURN_H
#define SP_CP_TURN_H

#include <stdint.h>

#include "cp.h"

typedef struct cp_turn cp_turn;
struct ctlsock;

/* A handle whether TURN is enabled or not (disabled: it answers nothing,
 * /turn says so). NULL with errno EINVAL after logging what is wrong with
 * the [turn] configuration, or ENOMEM. */
cp_turn *cp_turn_create(const struct cp_config *cfg, dp_link *link);
void cp_turn_destroy(cp_turn *t);
/* Expiry sweep (once a second inside). Call every loop turn. */
void cp_turn_tick(cp_turn *t, uint64_t now_ns);
int cp_turn_register_ctl(cp_turn *t, struct ctlsock *cs);

#endif
