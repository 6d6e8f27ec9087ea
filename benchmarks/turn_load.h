/*
 * turn_load: the relayed traffic of `spbench turn`.
 *
 * Client sockets, one per TURN allocation and grouped by the server under
 * test, send ChannelData at a paced rate (the caller's thread); echo peers,
 * a thread with UDP sockets on 127.0.0.1, send every datagram back where it
 * came from (the relay port); the server relays the echo back to the client
 * as ChannelData. A receiver thread drains every client socket and checks
 * each echo against the step it belongs to: epoch, sequence number
 * (delivered, lost, duplicated), that it came back on the allocation and
 * channel it left on, its length and its content. Round trip = the kernel's
 * arrival stamp (SO_TIMESTAMPNS) minus the send time in the payload, so the
 * receiver's own scheduling does not count.
 *
 * Each echo crosses the relay twice (client -> peer and peer -> client):
 * the caller reports relayed packets as 2 x delivered echoes.
 *
 * A group may also be "direct": its clients send to the echo peers
 * themselves, without a server (the tool's own ceiling on loopback).
 *
 * One step at a time: tl_step_begin, tl_step_send (paces on the calling
 * thread), tl_step_drain, tl_step_end. Groups are added before tl_start;
 * from then on the client sockets belong to the receiver thread, except
 * between tl_pause and tl_resume, when blocking TURN transactions
 * (turn_client.h) may use them.
 */
#ifndef SP_TURN_LOAD_H
#define SP_TURN_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define TL_MAX_GROUPS 4
#define TL_MIN_SIZE 32 /* payload bytes: the echo's header and some content */

struct tl_cfg {
	uint32_t peers;        /* echo peer sockets on 127.0.0.1 */
	uint16_t peer_port;    /* the first; the others follow */
	uint32_t size;         /* ChannelData payload bytes (>= TL_MIN_SIZE) */
	int rcvbuf;            /* SO_RCVBUF(FORCE) of every tool socket, bytes */
	uint32_t batch;        /* recvmmsg / sendmmsg batch */
	uint32_t tick_us;      /* pacing period of the sender */
};

typedef struct turn_load turn_load;

/* Peers bound, nothing started; NULL with why set. */
turn_load *tl_create(const struct tl_cfg *c, char *why, size_t len);
/* n client sockets on 127.0.0.1 (ephemeral ports); the group's index or
 * -errno. direct: its clients send to the peers (no server). */
int tl_group_add(turn_load *t, const char *name, uint32_t n, bool direct, char *why, size_t len);
int tl_client_fd(const turn_load *t, int g, uint32_t i);
uint16_t tl_client_port(const turn_load *t, int g, uint32_t i);
/* The echo peer client i of any group talks to. */
void tl_peer_addr(const turn_load *t, uint32_t i, struct sockaddr_in *out);
/* Client i of group g sends ChannelData on channel to dest (a server's
 * listener; ignored for a direct group). */
void tl_client_route(turn_load *t, int g, uint32_t i, const struct sockaddr_in *dest, uint16_t channel);
/* Sets the bits of the tool's UDP ports (clients: every group; peers) in a
 * 65536-bit mask, for /proc/net/udp drop counts. */
void tl_ports_mask(const turn_load *t, bool peers, uint64_t *mask);

/* Starts the receiver and peer threads (they inherit the caller's CPU
 * affinity); 0 or -errno. */
int tl_start(turn_load *t);
void tl_pause(turn_load *t);
void tl_resume(turn_load *t);

struct tl_report {
	double offered_pps;        /* asked: ChannelData messages per second from the clients */
	uint32_t ms;
	uint64_t planned, sent, send_failed;
	double send_s;             /* first send to the last */
	double late_s;             /* the last send after its due time */
	double drain_s;
	uint64_t delivered;        /* distinct echoes of this step back on the right allocation */
	uint64_t lost;             /* sent - delivered */
	uint64_t dup, stale;       /* again; from an earlier step */
	uint64_t misrouted;        /* on another allocation or channel than sent */
	uint64_t damaged;          /* length or content not as sent, unknown sequence */
	uint64_t not_chdata;       /* a STUN message (Data indication, ...) or junk on a client socket */
	uint64_t peer_echoed, peer_failed;
	double rtt_p50_us, rtt_p99_us, rtt_max_us;
	uint64_t rtt_n;
	double tool_cpu_s;         /* this process, every thread, over the step */
};

/* Plans a step of group g: rate messages/s for ms; 0 or -ENOMEM. */
int tl_step_begin(turn_load *t, int g, double rate, uint32_t ms);
/* Sends the step's messages on schedule; returns after the last. */
void tl_step_send(turn_load *t);
/* Waits until every sent message came back, nothing arrived for quiet_ms,
 * or max_ms passed. */
void tl_step_drain(turn_load *t, uint32_t quiet_ms, uint32_t max_ms);
void tl_step_end(turn_load *t, struct tl_report *r);

void tl_destroy(turn_load *t);

#endif
