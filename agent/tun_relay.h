/*
 * tun_relay: one tunnel's streams bound to local TCP sockets (the part of
 * docs/agent-protocol.md §3 and §6 that moves bytes). Built on tun_session
 * (states, windows) and tun_parser; owns the local sockets, not the tunnel:
 * the owner feeds the bytes it read from the tunnel in and flushes the
 * frames queued in tun_relay_out() to it. Both roles:
 *  - acceptor (spagent): an OPEN for a target on the allow-list becomes a
 *    non-blocking connect(); OPEN_OK once connected, OPEN_FAIL(refused /
 *    connect_failed / timeout) otherwise;
 *  - opener (the tunnel test peer, later spdp): tun_relay_open() hands an
 *    accepted local connection to a new stream.
 *
 * Memory is bounded: per live stream one receive ring of the stream's
 * window (allocated while it holds data), plus one queue of frames for the
 * tunnel. Bytes from the tunnel wait in their stream's ring, so a slow
 * local service closes only its own window; bytes from local sockets are
 * read only when the stream has credit and the tunnel queue has room, so a
 * slow tunnel stops local reads instead of growing a buffer. Local sockets
 * are served round-robin.
 *
 * Single-threaded; every local socket is registered on the owner's epoll
 * with a struct evtag (EVTAG_STREAM) that tun_relay_event() takes back.
 */
#ifndef SP_TUN_RELAY_H
#define SP_TUN_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "evtag.h"
#include "tun_frame.h"

typedef struct tun_relay tun_relay;

enum tun_relay_note {
	TUN_NOTE_OPEN_OK,    /* stream up (acceptor: connected; opener: accepted) */
	TUN_NOTE_OPEN_FAIL,  /* reason: why (sent by us, or received) */
	TUN_NOTE_CLOSED,     /* stream gone: reason (NONE: both FINs) */
	TUN_NOTE_GOAWAY,     /* peer drains: reason */
	TUN_NOTE_PONG,
	TUN_NOTE_CONN_ERROR, /* GOAWAY queued; flush it and close the tunnel */
};

struct tun_relay_cfg {
	bool opener;
	uint32_t max_streams;        /* 0: TUN_DEFAULT_MAX_STREAMS */
	uint32_t window;             /* receive window = ring per stream; 0: TUN_DEFAULT_WINDOW */
	uint32_t max_payload;        /* largest DATA we send; 0: TUN_MAX_PAYLOAD */
	size_t out_cap;              /* tunnel queue; 0: 256 KiB */
	uint32_t connect_timeout_ms; /* acceptor; 0: 5000 */
	/* acceptor: may this target be opened? NULL: refuse all */
	bool (*allow)(void *ctx, const char *target, size_t len);
	/* optional: what happened, for logs and tests */
	void (*note)(void *ctx, enum tun_relay_note n, uint32_t stream, uint16_t reason);
	void *ctx;
};

struct tun_relay_stats {
	uint64_t opens;                  /* OPEN received (acceptor) / sent (opener) */
	uint64_t open_ok;
	uint64_t open_fail[TUN_R__COUNT]; /* by reason */
	uint64_t closed[TUN_R__COUNT];    /* CLOSE received or sent, by reason */
	uint64_t bytes_to_local, bytes_from_local;
	uint64_t frame_errors[TUN_ERR__COUNT];
	uint32_t live;
};

tun_relay *tun_relay_new(const struct tun_relay_cfg *cfg, int epfd);
/* Closes every local socket (reset) and frees everything. */
void tun_relay_free(tun_relay *r);

/* Bytes from the tunnel. Returns 0 (*used may be < len: the tunnel queue
 * is full, feed the rest later) or -EPROTO (connection error: GOAWAY
 * queued, nothing more is parsed). */
int tun_relay_input(tun_relay *r, const uint8_t *buf, size_t len, size_t *used);
/* Moves bytes between local sockets and the streams; call after every
 * epoll round. Also applies connect timeouts (now: CLOCK_MONOTONIC ns). */
void tun_relay_pump(tun_relay *r, uint64_t now_ns);
/* An epoll event on a tag of this relay. */
void tun_relay_event(struct evtag *tag, uint32_t events);
/* The frames queued for the tunnel (<= 2 segments); after sending n bytes
 * of them, tun_relay_out_done(n). */
int tun_relay_out(tun_relay *r, struct iovec iov[2], size_t max);
void tun_relay_out_done(tun_relay *r, size_t n);
size_t tun_relay_out_len(const tun_relay *r);
/* False after a connection error or when the queue is full: the owner
 * should not read the tunnel. */
bool tun_relay_can_input(const tun_relay *r);

/* Opener: a new stream to target for the connected local socket fd (the
 * relay owns fd from now on, even on failure). 0 or -errno. */
int tun_relay_open(tun_relay *r, int fd, const char *target, uint32_t *stream);
int tun_relay_goaway(tun_relay *r, enum tun_reason reason);
int tun_relay_ping(tun_relay *r, uint64_t seq);
unsigned tun_relay_live(const tun_relay *r);
bool tun_relay_failed(const tun_relay *r);
void tun_relay_get_stats(const tun_relay *r, struct tun_relay_stats *st);
/* Bytes held now (rings, queue, parser): the memory-per-tunnel figure. */
size_t tun_relay_footprint(const tun_relay *r);

#endif
