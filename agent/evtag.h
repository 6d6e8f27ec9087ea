/* evtag: what an epoll event's data.ptr points at in spagent and the
 * tunnel test peer: every registered object starts with a struct evtag. */
#ifndef SP_EVTAG_H
#define SP_EVTAG_H

#include <stdint.h>

enum evtag_kind {
	EVTAG_STREAM = 1, /* tun_relay: a camera-local (or test-local) socket */
	EVTAG_CONN,       /* aconn: a TLS connection to an endpoint or streampoint */
	EVTAG_LISTEN,     /* a listening socket (test peer) */
	EVTAG_OTHER,
};

struct evtag {
	uint8_t kind;
};

#endif
