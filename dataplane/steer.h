/*
 * steer: the shared ingest port. One UDP socket per worker joins an
 * SO_REUSEPORT group; a classic BPF program on the group picks the socket
 * (= the worker) from the datagram's source address and port, computing
 * sp_addr_steer() (common/addr.h). spcp places a flow with a known source
 * on that same worker, so a flow's packets never cross workers and no lock
 * or hand-off is needed on the packet path.
 */
#ifndef SP_DP_STEER_H
#define SP_DP_STEER_H

#include <stdint.h>

#include "addr.h"

/* n sockets bound to `bind` (non-blocking, SO_REUSEPORT, in worker order)
 * with the steering program attached. fds[i] goes to worker i. 0 or -errno. */
int steer_open(const struct sp_addr *bind, uint32_t n, int *fds);

#endif
